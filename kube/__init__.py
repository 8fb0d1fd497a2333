"""kube: a Kubernetes-like control plane on raftkv, through raftkv's public API only.

:mod:`kube.discovery`: service registration (a key under a lease, kept alive) and
discovery (list + watch with a local view).  :mod:`kube.sim` hosts them in the simulator
as the ``discovery`` system of :func:`raftkv.sim.run_scenario`.

The apiserver (:mod:`kube.apiserver`, over the generic store of :mod:`kube.registry`),
its client and informer (:mod:`kube.client`, :mod:`kube.informer`) and its simulated
transport (:mod:`kube.transport`); :mod:`kube.apiserver_sim` is the ``apiserver`` system.

Controllers and the scheduler (:mod:`kube.controllers`, on its controller runtime) and the
simulated node (:mod:`kube.kubelet`, its CRI, CNI and cgroup parts in :mod:`kube.node`);
:mod:`kube.control_plane_sim` is the ``control_plane`` system; :mod:`kube.controller_manager`
runs them beside a served apiserver (``raftkv kube serve --controllers``).  Leader election
through a Lease with fenced writes (:mod:`kube.leaderelection`, :mod:`kube.fencing`);
Sieve-style faults of a component's view of the apiservers (:mod:`kube.component_faults`).

Service networking (:mod:`kube.network`: Endpoints, kube-proxy, DNS, pod network,
Ingress, load balancers; ClusterIP and NodePort allocation in
:mod:`kube.registry.allocator`); :mod:`kube.networking_sim` is the ``networking`` system.
"""

from .apiserver import ApiServer, Request, Response
from .apiserver import compact_periodically as compact_apiserver_store
from .client import KubeClient, LocalTransport
from .controller_manager import CONTROLLERS, ControlPlane, NodeSpec, build_controllers, node_configs
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
from .fencing import Fence
from .informer import Informer, object_key
from .inprocess import InProcessTransport
from .leaderelection import FencedClient, LeaderElectionConfig, LeaderElector

__all__ = ["CONTROLLERS", "ApiError", "ApiServer", "ControlPlane", "Informer", "InProcessTransport", "KubeClient",
           "LocalTransport", "NodeSpec", "Request", "Response", "build_controllers", "node_configs",
           "compact_apiserver_store", "object_key", "BUG_NO_RELIST", "SERVICES_PREFIX", "DiscoveryClient", "Instance", "InstanceError",
           "Registration", "compact_periodically", "Fence", "FencedClient", "LeaderElectionConfig", "LeaderElector"]
