"""kube: a Kubernetes-like control plane on raftkv, through raftkv's public API only.

:mod:`kube.discovery`: service registration (a key under a lease, kept alive) and
discovery (list + watch with a local view).  :mod:`kube.sim` hosts them in the simulator
as the ``discovery`` system of :func:`raftkv.sim.run_scenario`.
"""

from .discovery import (
    BUG_NO_RELIST,
    SERVICES_PREFIX,
    DiscoveryClient,
    Instance,
    InstanceError,
    Registration,
    compact_periodically,
)

__all__ = ["BUG_NO_RELIST", "SERVICES_PREFIX", "DiscoveryClient", "Instance", "InstanceError",
           "Registration", "compact_periodically"]
