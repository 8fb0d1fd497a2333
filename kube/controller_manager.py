"""The rest of a control plane beside an apiserver: kube-controller-manager's controllers,
the scheduler and simulated nodes, each a client of the apiserver (``raftkv kube serve
--controllers`` runs them in its process on real time).

:data:`CONTROLLERS` is the controller set, one line per controller: a name and how to
build it from a runtime, a kube client and the manager's shared informers (each built
controller has ``async run()``).  :func:`build_controllers` builds them;
:class:`ControlPlane` runs the controller manager, the scheduler and ``nodes`` kubelets
(``node-1``.., pod CIDR ``10.244.<i>.0/24``), each with a client and informers of its
own, as separate processes would.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any

import attrs

from raftkv.tasks import Runtime

from .client import KubeClient, Transport
from .controllers import (
    DeploymentController,
    GarbageCollector,
    NamespaceController,
    NodeLifecycleController,
    PersistentVolumeController,
    ReplicaSetController,
    Scheduler,
    SharedInformers,
    StatefulSetController,
)
from .kubelet import Kubelet, NodeConfig, PodSandboxes, zone_labels

__all__ = ["CONTROLLERS", "ControlPlane", "NodeSpec", "build_controllers", "node_configs"]

log = logging.getLogger("kube.controller_manager")

ControllerFactory = Callable[[Runtime, KubeClient, SharedInformers], Any]

#: kube-controller-manager's controllers, in start order
CONTROLLERS: tuple[tuple[str, ControllerFactory], ...] = (
    ("garbagecollector", lambda rt, client, informers: GarbageCollector(rt, client, informers)),
    ("replicaset", lambda rt, client, informers: ReplicaSetController(rt, client, informers)),
    ("deployment", lambda rt, client, informers: DeploymentController(rt, client, informers)),
    ("statefulset", lambda rt, client, informers: StatefulSetController(rt, client, informers)),
    ("persistentvolume-binder", lambda rt, client, informers: PersistentVolumeController(rt, client, informers)),
    ("namespace", lambda rt, client, informers: NamespaceController(rt, client, informers)),
    ("nodelifecycle", lambda rt, client, informers: NodeLifecycleController(rt, client, informers)),
)


def build_controllers(rt: Runtime, client: KubeClient, informers: SharedInformers, *,
                      names: Sequence[str] = ()) -> dict[str, Any]:
    """The controllers of :data:`CONTROLLERS` (only ``names``, when given), by name."""
    known = [name for name, _ in CONTROLLERS]
    unknown = [n for n in names if n not in known]
    if unknown:
        raise ValueError(f"unknown controller(s) {', '.join(unknown)} (known: {', '.join(known)})")
    return {name: make(rt, client, informers) for name, make in CONTROLLERS if not names or name in names}


@attrs.frozen(kw_only=True)
class NodeSpec:
    """What each simulated node offers."""

    cpu: str = "4"
    memory: str = "8Gi"
    pods: int = 110


def node_configs(count: int, spec: NodeSpec = NodeSpec()) -> tuple[NodeConfig, ...]:
    if not 0 <= count <= 250:
        raise ValueError(f"--nodes must be between 0 and 250, got {count}")
    return tuple(NodeConfig(name=f"node-{i}", pod_cidr=f"10.244.{i}.0/24", cpu=spec.cpu, memory=spec.memory,
                            pods=spec.pods, labels=zone_labels(i)) for i in range(1, count + 1))


class ControlPlane:
    """The controller manager, the scheduler and the kubelets of ``nodes``, each over a
    transport of ``transport()`` (see the module docstring)."""

    def __init__(self, rt: Runtime, transport: Callable[[], Transport], *, nodes: Sequence[NodeConfig] = (),
                 controllers: Sequence[str] = ()) -> None:
        self.rt = rt
        cm_client = KubeClient(transport())
        self.controllers = build_controllers(rt, cm_client, SharedInformers(rt, cm_client), names=controllers)
        sched_client = KubeClient(transport())
        self.scheduler = Scheduler(rt, sched_client, SharedInformers(rt, sched_client))
        self.kubelets = [Kubelet(rt, KubeClient(transport()), node, PodSandboxes(node.name)) for node in nodes]

    async def run(self) -> None:
        """Run every component until cancelled; one that fails is logged, the others go on."""
        components = [*((f"controller:{name}", c) for name, c in self.controllers.items()),
                      ("scheduler", self.scheduler), *((f"kubelet:{k.config.name}", k) for k in self.kubelets)]
        tasks = [self.rt.spawn(component.run(), name=name) for name, component in components]
        try:
            for task in tasks:
                try:
                    await task.join()
                except Exception as exc:
                    log.error("%s stopped: %s: %s", task.name, type(exc).__name__, exc)
        finally:
            for task in tasks:
                task.cancel()
