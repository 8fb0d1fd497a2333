"""A simulated node: the kubelet's control-plane side.

:class:`Kubelet` registers its Node (labels, taints, ``podCIDR``, capacity and
allocatable, condition Ready), renews its Lease in ``kube-node-lease`` every
``lease_renew_s`` (Kubernetes' defaults: every 10 s, a lease of 40 s), watches the pods bound to it (field selector ``spec.nodeName``) and
*runs* them: admission (the requests of the pods it runs must fit its allocatable, else
the pod fails with reason ``OutOf<resource>``), an IP from its pod CIDR that no pod it runs
holds, then status phase Running, podIP, hostIP and condition Ready.  A pod deleted or
being deleted is stopped and its IP freed.  What runs is kept by a :class:`PodSandboxes`
(the container runtime's view: RunPodSandbox / StopPodSandbox); a crash of the node loses
it, and the restarted kubelet runs its pods again.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import attrs

from raftkv.tasks import Runtime

from .client import KubeClient
from .controllers.replicaset import is_active
from .controllers.resources import RESOURCES, node_allocatable, pod_requests
from .controllers.runtime import Controller, Result, SharedInformers
from .errors import ApiError
from .meta import format_timestamp

__all__ = ["Kubelet", "NodeConfig", "PodSandboxes", "Sandbox"]

LEASE_NAMESPACE = "kube-node-lease"


@attrs.frozen(kw_only=True)
class NodeConfig:
    name: str
    pod_cidr: str  # "10.244.<i>.0/24": the node hands out .2 to .254
    cpu: str = "4"
    memory: str = "8Gi"
    pods: int = 10
    labels: tuple[tuple[str, str], ...] = ()
    taints: tuple[tuple[str, str, str], ...] = ()  # (key, value, effect)


@attrs.frozen(kw_only=True)
class Sandbox:
    uid: str
    key: str  # namespace/name
    ip: str
    requests: tuple[tuple[str, int], ...]


class PodSandboxes:
    """The pods a node runs (its container runtime); ``on_change(node, sandbox, running)``
    lets a test watch every start and stop."""

    def __init__(self, node: str, on_change: Callable[[str, Sandbox, bool], None] | None = None) -> None:
        self.node = node
        self.running: dict[str, Sandbox] = {}  # uid -> sandbox
        self.on_change = on_change

    def run(self, sandbox: Sandbox) -> None:
        assert sandbox.uid not in self.running, f"{self.node} runs pod {sandbox.key} twice"
        self.running[sandbox.uid] = sandbox
        if self.on_change is not None:
            self.on_change(self.node, sandbox, True)

    def stop(self, uid: str) -> None:
        sandbox = self.running.pop(uid, None)
        if sandbox is not None and self.on_change is not None:
            self.on_change(self.node, sandbox, False)

    def stop_all(self) -> None:
        for uid in sorted(self.running):
            self.stop(uid)

    def used(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for uid in sorted(self.running):
            for res, n in self.running[uid].requests:
                out[res] = out.get(res, 0) + n
        return out


def _ip_pool(cidr: str) -> list[str]:
    base, bits = cidr.split("/")
    assert bits == "24", f"pod CIDR {cidr} must be a /24"
    prefix = base.rsplit(".", 1)[0]
    return [f"{prefix}.{host}" for host in range(2, 255)]


class Kubelet:
    def __init__(self, rt: Runtime, client: KubeClient, config: NodeConfig, sandboxes: PodSandboxes, *,
                 lease_renew_s: float = 10.0, lease_duration_s: int = 40) -> None:
        self.rt = rt
        self.client = client
        self.config = config
        self.sandboxes = sandboxes
        self.lease_renew_s = lease_renew_s
        self.lease_duration_s = lease_duration_s
        self.informers = SharedInformers(rt, client)
        self.controller = Controller(rt, f"kubelet-{config.name}", self.informers, self.reconcile, primary="pods",
                                     field_selector=f"spec.nodeName={config.name}", resync_s=5.0)
        self.pods = self.controller.primary
        self.pool = _ip_pool(config.pod_cidr)
        self.rejected = 0

    def node_object(self) -> dict:
        c = self.config
        return {"apiVersion": "v1", "kind": "Node",
                "metadata": {"name": c.name, "labels": {"kubernetes.io/hostname": c.name, **dict(c.labels)}},
                "spec": {"podCIDR": c.pod_cidr,
                         **({"taints": [{"key": k, "value": v, "effect": e} for k, v, e in c.taints]}
                            if c.taints else {})}}

    def node_status(self) -> dict:
        c = self.config
        resources = {"cpu": c.cpu, "memory": c.memory, "pods": str(c.pods)}
        return {"capacity": resources, "allocatable": resources,
                "conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady"}],
                "addresses": [{"type": "InternalIP", "address": self.host_ip}]}

    @property
    def host_ip(self) -> str:
        return self.config.pod_cidr.split("/")[0].rsplit(".", 1)[0] + ".1"

    async def register(self) -> None:
        """Create the Node (or find it there) and write its status, retrying until done."""
        while True:
            try:
                try:
                    await self.client.create("nodes", self.node_object())
                except ApiError as exc:
                    if exc.code != 409:
                        raise
                await self.client.patch("nodes", self.config.name, {"status": self.node_status()},
                                        subresource="status")
                return
            except ApiError as exc:
                self.rt.record("kubelet.register_retry", node=self.config.name, error=exc.reason)
                await self.rt.sleep(0.5)

    async def _renew_lease(self) -> None:
        name = self.config.name
        while True:
            spec = {"holderIdentity": name, "leaseDurationSeconds": self.lease_duration_s,
                    "renewTime": format_timestamp(self.rt.now_us())}
            try:
                try:
                    await self.client.patch("leases", name, {"spec": spec}, LEASE_NAMESPACE)
                except ApiError as exc:
                    if exc.code != 404:
                        raise
                    await self.client.create("leases", {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
                                                        "metadata": {"name": name, "namespace": LEASE_NAMESPACE},
                                                        "spec": spec})
            except ApiError as exc:
                self.rt.record("kubelet.lease_retry", node=name, error=exc.reason)
            await self.rt.sleep(self.lease_renew_s)

    async def run(self) -> None:
        try:
            await self.register()
            lease = self.rt.spawn(self._renew_lease(), name="node-lease")
            try:
                await self.controller.run()
            finally:
                lease.cancel()
        finally:
            self.sandboxes.stop_all()  # the machine went down with its kubelet

    # ------------------------------------------------------------------ pods
    def _free_ip(self, wanted: str) -> str | None:
        taken = {s.ip for s in self.sandboxes.running.values()}
        if wanted in self.pool and wanted not in taken:
            return wanted
        for ip in self.pool:
            if ip not in taken:
                return ip
        return None

    def _admit(self, pod: dict) -> str:
        """"" when the pod fits beside what runs, else the resource it lacks."""
        alloc = node_allocatable({"status": self.node_status()})
        used = self.sandboxes.used()
        need = pod_requests(pod)
        for res in RESOURCES:
            if res in alloc and used.get(res, 0) + need[res] > alloc[res]:
                return res
        return ""

    async def reconcile(self, key: str) -> Result | None:
        pod = self.pods.cache.get(key)
        running = next((s for s in self.sandboxes.running.values() if s.key == key), None)
        if running is not None and (pod is None or pod["metadata"]["uid"] != running.uid or not is_active(pod)):
            self.sandboxes.stop(running.uid)
            running = None
        if pod is None or not is_active(pod) or pod["spec"].get("nodeName") != self.config.name:
            return None
        ns, name = pod["metadata"]["namespace"], pod["metadata"]["name"]
        status = pod.get("status") or {}
        if running is None:
            lacking = self._admit(pod)
            ip = self._free_ip(str(status.get("podIP", ""))) if not lacking else None
            if ip is None:
                self.rejected += 1
                reason = f"OutOf{lacking}" if lacking else "OutOfIPs"
                await self.client.patch("pods", name, {"status": {
                    "phase": "Failed", "reason": reason,
                    "message": f"Pod was rejected: node {self.config.name} lacks {lacking or 'pod IPs'}"}},
                    ns, subresource="status")
                return None
            running = Sandbox(uid=pod["metadata"]["uid"], key=key, ip=ip,
                              requests=tuple(sorted(pod_requests(pod).items())))
            self.sandboxes.run(running)
        want: dict[str, Any] = {"phase": "Running", "podIP": running.ip, "hostIP": self.host_ip}
        ready = {"type": "Ready", "status": "True"}
        conditions = [c for c in status.get("conditions") or () if c.get("type") != "Ready"]
        if any(status.get(k) != v for k, v in want.items()) or ready not in (status.get("conditions") or ()):
            await self.client.patch("pods", name, {"status": {**want, "conditions": [*conditions, ready]}},
                                    ns, subresource="status")
        return None
