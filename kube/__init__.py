"""kube: a Kubernetes-like control plane on raftkv, through raftkv's public API only.

:mod:`kube.discovery`: service registration (a key under a lease, kept alive) and
discovery (list + watch with a local view).  :mod:`kube.sim` hosts them in the simulator
as the ``discovery`` system of :func:`raftkv.sim.run_scenario`.

The apiserver (:mod:`kube.apiserver`, over the generic store of :mod:`kube.registry`),
its client and informer (:mod:`kube.client`, :mod:`kube.informer`) and its simulated
transport (:mod:`kube.transport`); :mod:`kube.apiserver_sim` is the ``apiserver`` system.

Controllers and the scheduler (:mod:`kube.controllers`, on its controller runtime) and the
simulated node (:mod:`kube.kubelet`); :mod:`kube.control_plane_sim` is the
``control_plane`` system.

Service networking (:mod:`kube.network`: Endpoints, kube-proxy, DNS, pod network,
Ingress, load balancers; ClusterIP and NodePort allocation in
:mod:`kube.registry.allocator`); :mod:`kube.networking_sim` is the ``networking`` system.
"""

from .apiserver import ApiServer, Request, Response
from .apiserver import compact_periodically as compact_apiserver_store
from .client import KubeClient, LocalTransport
from .discovery import (
    BUG_NO_RELIST,
    SERVICES_PREFIX,
    DiscoveryClient,
    Instance,
    InstanceError,
    Registration,
    compact_periodically,
)
from .errors import ApiError
from .informer import Informer, object_key

__all__ = ["ApiError", "ApiServer", "Informer", "KubeClient", "LocalTransport", "Request", "Response",
           "compact_apiserver_store", "object_key", "BUG_NO_RELIST", "SERVICES_PREFIX", "DiscoveryClient", "Instance", "InstanceError",
           "Registration", "compact_periodically"]
