"""The kinds the apiserver serves: one strategy per module, collected in :data:`STRATEGIES`."""

from kube.registry.strategy import Strategy

from . import (
    configmap,
    deployment,
    endpoints,
    endpointslice,
    event,
    ingress,
    lease,
    namespace,
    node,
    persistentvolume,
    persistentvolumeclaim,
    pod,
    replicaset,
    service,
    statefulset,
    volumeattachment,
)

__all__ = ["STRATEGIES"]

#: resource (plural) -> strategy
STRATEGIES: dict[str, Strategy] = {m.STRATEGY.resource: m.STRATEGY for m in (
    namespace, pod, node, service, endpoints, replicaset, deployment, statefulset, persistentvolume,
    persistentvolumeclaim, configmap, lease, event, endpointslice, ingress, volumeattachment)}
