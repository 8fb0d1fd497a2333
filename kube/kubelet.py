"""A simulated node: the kubelet's control-plane side.

:class:`Kubelet` registers its Node (labels, taints, ``podCIDR``, capacity and
allocatable, condition Ready), renews its Lease in ``kube-node-lease`` every
``lease_renew_s``, watches the pods bound to it (field selector ``spec.nodeName``) and
*runs* them: admission (the requests of the pods it runs must fit its allocatable, else
the pod fails with reason ``OutOf<resource>``), an IP from its pod CIDR that no pod it runs
holds (the next free one after the last handed out, as CNI's host-local IPAM does), then
status phase Running, podIP, hostIP, ``containerStatuses`` and condition Ready (from its
containers' probes: :mod:`kube.node`).  A pod deleted or being deleted is stopped (its
containers get ``stop_s`` to exit) and its IP freed; a pod being deleted is then deleted
with grace 0, which ends its graceful deletion.  A pod's claims are attached and mounted
through a :class:`kube.csi.CsiDriver` once bound, after the kubelet holds the volume's
VolumeAttachment (ReadWriteOnce: one node at a time; it waits while another node holds it);
volumes no pod of the node needs are detached and their attachments deleted.  What runs is
kept by a :class:`PodSandboxes`
(the container runtime's view: RunPodSandbox / StopPodSandbox); a crash of the node loses
it, and the restarted kubelet runs its pods again.

The node's parts are small constructor-injected objects (:mod:`kube.node`): the CRI
runtime ``cri`` (containers, with the cgroups that admit pods by their requests and cap
containers by their limits), the CNI IPAM ``cni`` (``host-local`` over the pod CIDR) and
the crash-loop ``backoff``; the kubelet's SyncPod (:class:`kube.node.PodSyncer`) starts
and restarts containers and gives the status (``containerStatuses``, phase, Ready), and
its prober runs their readiness and liveness probes.  A pod all of whose containers ended
for good is Succeeded or Failed, and its sandbox is stopped.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import attrs

from raftkv.tasks import Runtime

from .client import KubeClient
from .controllers.affinity import HOSTNAME_LABEL, ZONE_LABEL
from .controllers.replicaset import is_active
from .controllers.resources import node_allocatable, pod_requests
from .controllers.runtime import Controller, Result, SharedInformers
from .csi import CsiDriver
from .errors import ApiError
from .meta import format_timestamp
from .node import (
    BackoffPolicy,
    Cgroups,
    ContainerRuntime,
    HostLocalIpam,
    PodSyncer,
    Prober,
    pod_shutdown_s,
)

__all__ = ["ZONES", "Kubelet", "NodeConfig", "PodSandboxes", "Sandbox", "zone_labels"]

LEASE_NAMESPACE = "kube-node-lease"
VOLUMES_KEY = "~volumes"  # the work-queue key of the kubelet's volume clean-up


#: The zones simulated nodes are spread over, in turn (node i is in ZONES[(i - 1) % 3]).
ZONES = ("zone-a", "zone-b", "zone-c")


def zone_labels(index: int) -> tuple[tuple[str, str], ...]:
    """The ``topology.kubernetes.io/zone`` label of the ``index``-th node (1-based)."""
    assert index >= 1, index
    return ((ZONE_LABEL, ZONES[(index - 1) % len(ZONES)]),)


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
    volumes: tuple[str, ...] = ()  # the persistent volumes mounted for it
    labels: tuple[tuple[str, str], ...] = ()  # the pod's labels (CRI's PodSandboxConfig.labels)
    shutdown_us: int = 0  # its preStop hooks' time, before its containers get the kubelet's stop_s


class PodSandboxes:
    """The pods a node runs (its container runtime); ``on_change(node, sandbox, running)``
    lets a test watch every start and stop."""

    def __init__(self, node: str, on_change: Callable[[str, Sandbox, bool], None] | None = None, *,
                 on_ready: Callable[[str, Sandbox], None] | None = None) -> None:
        self.node = node
        self.running: dict[str, Sandbox] = {}  # uid -> sandbox
        self.on_change = on_change
        self.on_ready = on_ready  # called when the kubelet first finds a running pod ready
        self.started_us: dict[str, int] = {}  # uid -> when it started
        self.ready: dict[str, None] = {}  # uids found ready

    def run(self, sandbox: Sandbox) -> None:
        assert sandbox.uid not in self.running, f"{self.node} runs pod {sandbox.key} twice"
        self.running[sandbox.uid] = sandbox
        if self.on_change is not None:
            self.on_change(self.node, sandbox, True)

    def mark_ready(self, uid: str) -> None:
        if uid in self.running and uid not in self.ready:
            self.ready[uid] = None
            if self.on_ready is not None:
                self.on_ready(self.node, self.running[uid])

    def stop(self, uid: str) -> None:
        self.started_us.pop(uid, None)
        self.ready.pop(uid, None)
        sandbox = self.running.pop(uid, None)
        if sandbox is not None and self.on_change is not None:
            self.on_change(self.node, sandbox, False)

    def of(self, key: str) -> list[Sandbox]:
        """The sandboxes of pods named ``key`` (more than one while a pod that replaced
        another of its name starts before the old one has stopped), oldest first."""
        return [s for s in self.running.values() if s.key == key]

    def stop_all(self) -> None:
        for uid in sorted(self.running):
            self.stop(uid)

    def used(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for uid in sorted(self.running):
            for res, n in self.running[uid].requests:
                out[res] = out.get(res, 0) + n
        return out


class Kubelet:
    def __init__(self, rt: Runtime, client: KubeClient, config: NodeConfig, sandboxes: PodSandboxes, *,
                 lease_renew_s: float = 1.0, lease_duration_s: int = 4, cri: ContainerRuntime | None = None,
                 cni: HostLocalIpam | None = None, backoff: BackoffPolicy | None = None,
                 bugs: frozenset[str] = frozenset(), status_sync_s: float | None = None,
                 on_lease_renewed: Callable[[str], None] | None = None, csi: CsiDriver | None = None,
                 stop_s: float = 0.0) -> None:
        assert stop_s >= 0, "stop_s must be >= 0"
        self.rt = rt
        self.client = client
        self.config = config
        self.sandboxes = sandboxes
        self.lease_renew_s = lease_renew_s
        self.lease_duration_s = lease_duration_s
        # posting the node's status again every status_sync_s (None: only at registration)
        # sets Ready back to True after the node lifecycle controller marked it Unknown
        self.status_sync_s = status_sync_s
        self.on_lease_renewed = on_lease_renewed
        self.informers = SharedInformers(rt, client)
        self.controller = Controller(rt, f"kubelet-{config.name}", self.informers, self.reconcile, primary="pods",
                                     field_selector=f"spec.nodeName={config.name}", resync_s=5.0)
        self.pods = self.controller.primary
        self.rejected = 0
        self.cni = cni or HostLocalIpam(config.pod_cidr)
        self.cri = cri or ContainerRuntime(rt, Cgroups(node_allocatable({"status": self.node_status()}), bugs=bugs),
                                           node=config.name)
        self.pod_sync = PodSyncer(rt, self.cri, Prober(rt, self.cri, self.controller.queue.add), backoff or BackoffPolicy(),
                                  bugs=bugs)
        self.cri.subscribe(lambda event: self.controller.queue.add(event.pod))  # the PLEG
        self.finished: set[str] = set()  # uids of pods that ended here (never run again)
        self.csi = csi if csi is not None else CsiDriver()
        self.stop_us = round(stop_s * 1_000_000)
        self.stopping: dict[str, int] = {}  # pod uid -> when its containers were told to stop
        self.volumes_of: dict[str, tuple[str, ...]] = {}  # pod uid -> the volumes it needs
        self.volumes_dirty = True  # VolumeAttachments of this node may need cleaning up

    def node_object(self) -> dict[str, Any]:
        c = self.config
        return {"apiVersion": "v1", "kind": "Node",
                "metadata": {"name": c.name, "labels": {HOSTNAME_LABEL: c.name, **dict(c.labels)}},
                "spec": {"podCIDR": c.pod_cidr,
                         **({"taints": [{"key": k, "value": v, "effect": e} for k, v, e in c.taints]}
                            if c.taints else {})}}

    def node_status(self) -> dict[str, Any]:
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
                await self.client.create_if_absent("nodes", self.node_object())
                await self.client.patch("nodes", self.config.name, {"status": self.node_status()},
                                        subresource="status")
                return
            except ApiError as exc:
                self.rt.record("kubelet.register_retry", node=self.config.name, error=exc.reason)
                await self.rt.sleep(0.5)

    async def _renew_lease(self) -> None:
        name = self.config.name
        synced_us = self.rt.monotonic_us()
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
                if self.on_lease_renewed is not None:
                    self.on_lease_renewed(name)
                if self.status_sync_s is not None and self.rt.monotonic_us() - synced_us >= self.status_sync_s * 1e6:
                    await self.client.patch("nodes", name, {"status": self.node_status()}, subresource="status")
                    synced_us = self.rt.monotonic_us()
            except ApiError as exc:
                self.rt.record("kubelet.lease_retry", node=name, error=exc.reason)
            await self.rt.sleep(self.lease_renew_s)

    async def run(self) -> None:
        try:
            await self.register()
            lease = self.rt.spawn(self._renew_lease(), name="node-lease")
            self.controller.queue.add(VOLUMES_KEY)
            try:
                await self.controller.run()
            finally:
                lease.cancel()
        finally:
            for uid in sorted(self.sandboxes.running):  # the machine went down with its kubelet
                self._stop(self.sandboxes.running[uid])
            self.csi.node_reset(self.config.name)

    # ------------------------------------------------------------------ pods
    def _stop(self, sandbox: Sandbox) -> None:
        """Unmount its volumes, StopPodSandbox, CNI DEL, and the pod's reservation released."""
        for volume in sandbox.volumes:
            self.csi.node_unpublish(volume, self.config.name, sandbox.uid)
        uid = sandbox.uid
        self.pod_sync.forget(uid)
        self.cri.stop_pod_sandbox(uid)
        self.cni.delete(uid)
        self.cri.cgroups.release(uid)
        self.sandboxes.stop(uid)
        self.stopping.pop(sandbox.uid, None)
        self.volumes_dirty = self.volumes_dirty or bool(sandbox.volumes)

    async def reconcile(self, key: str) -> Result | None:
        if key == VOLUMES_KEY:
            return await self._clean_up_volumes()
        pod = self.pods.cache.get(key)
        uid_now = pod["metadata"]["uid"] if pod is not None and is_active(pod) else None
        running: Sandbox | None = None
        stopping_s = 0.0
        for sandbox in self.sandboxes.of(key):
            if sandbox.uid == uid_now:
                running = sandbox
                continue
            # Gone, replaced or being deleted: its preStop hooks, SIGTERM and up to stop_s to
            # exit, then the sandbox.  Pods are the kubelet's by uid: a new pod of the same
            # name (a StatefulSet's replacement) starts meanwhile, as the kubelet's pod
            # workers do; never two at once is the controller's job.
            since_us = self.stopping.setdefault(sandbox.uid, self.rt.monotonic_us())
            left_us = since_us + sandbox.shutdown_us + self.stop_us - self.rt.monotonic_us()
            if left_us > 0:
                stopping_s = max(stopping_s, left_us / 1e6)
                continue
            self._stop(sandbox)
        if stopping_s > 0:
            if pod is not None and pod["metadata"].get("deletionTimestamp"):
                return Result(requeue_after_s=stopping_s)  # its graceful deletion ends once it stopped
            self.controller.queue.add_after(key, stopping_s)
        if pod is None or pod["spec"].get("nodeName") != self.config.name:
            return None
        ns, name, uid = pod["metadata"]["namespace"], pod["metadata"]["name"], pod["metadata"]["uid"]
        if pod["metadata"].get("deletionTimestamp"):
            # Stopped: the end of a graceful deletion is the kubelet's delete with grace 0.
            self.volumes_of.pop(uid, None)
            await self.client.delete_if_present("pods", name, ns, uid=uid, grace_period_s=0)
            return None
        if not is_active(pod) or uid in self.finished:
            return None
        status = pod.get("status") or {}
        if running is None:
            volumes = await self._prepare_volumes(pod)
            if volumes is None:
                return Result(requeue_after_s=0.2)  # a claim not bound yet, or a volume still attached elsewhere
            requests = pod_requests(pod)
            lacking = self.cri.cgroups.admit(requests)
            ip = self.cni.add(uid, requested_ip=str(status.get("podIP", ""))) if not lacking else None
            if ip is None:
                self.rejected += 1
                reason = f"OutOf{lacking}" if lacking else "OutOfIPs"
                await self.client.patch("pods", name, {"status": {
                    "phase": "Failed", "reason": reason,
                    "message": f"Pod was rejected: node {self.config.name} lacks {lacking or 'pod IPs'}"}},
                    ns, subresource="status")
                return None
            for volume in volumes:
                self.csi.node_publish(volume, self.config.name, uid)
            running = Sandbox(uid=uid, key=key, ip=ip, requests=tuple(sorted(requests.items())), volumes=volumes,
                              labels=tuple(sorted((pod["metadata"].get("labels") or {}).items())),
                              shutdown_us=round(pod_shutdown_s(pod) * 1_000_000))
            self.cri.cgroups.reserve(uid, requests)
            self.cri.run_pod_sandbox(uid, key)
            self.sandboxes.run(running)
            self.sandboxes.started_us[running.uid] = self.rt.now_us()
        sync = self.pod_sync.sync(pod)
        want: dict[str, Any] = {"phase": sync.phase, "podIP": running.ip, "hostIP": self.host_ip,
                                "containerStatuses": list(sync.container_statuses)}
        ready = {"type": "Ready", "status": "True" if sync.ready else "False"}
        if sync.ready:
            self.sandboxes.mark_ready(running.uid)
        conditions = [c for c in status.get("conditions") or () if c.get("type") != "Ready"]
        if any(status.get(k) != v for k, v in want.items()) or ready not in (status.get("conditions") or ()):
            await self.client.patch("pods", name, {"status": {**want, "conditions": [*conditions, ready]}},
                                    ns, subresource="status")
        if sync.terminal:  # written: the pod ended here for good
            self.finished.add(running.uid)
            self._stop(running)
        return Result(requeue_after_s=sync.requeue_after_s) if sync.requeue_after_s else None

    # ------------------------------------------------------------------ volumes
    async def _prepare_volumes(self, pod: dict[str, Any]) -> tuple[str, ...] | None:
        """The persistent volumes of the pod's claims, attached here; None while a claim is
        not bound or a ReadWriteOnce volume is still attached to another node."""
        claims = [v["persistentVolumeClaim"]["claimName"] for v in pod["spec"].get("volumes") or ()
                  if isinstance(v, dict) and (v.get("persistentVolumeClaim") or {}).get("claimName")]
        if not claims:
            return ()
        ns, uid = pod["metadata"]["namespace"], pod["metadata"]["uid"]
        names: list[str] = []
        exclusive: dict[str, bool] = {}
        for claim in claims:
            try:
                pvc = await self.client.get("persistentvolumeclaims", claim, ns)
            except ApiError as exc:
                if exc.code == 404:
                    return None
                raise
            volume = (pvc.get("spec") or {}).get("volumeName")
            if pvc["metadata"].get("deletionTimestamp") or not volume or \
                    (pvc.get("status") or {}).get("phase") != "Bound":
                return None
            names.append(volume)
            modes = (pvc.get("spec") or {}).get("accessModes") or ("ReadWriteOnce",)
            exclusive[volume] = any(m in ("ReadWriteOnce", "ReadWriteOncePod") for m in modes)
        self.volumes_of[uid] = tuple(names)
        for volume in names:
            if not await self._attach(volume, exclusive=exclusive[volume]):
                return None
        return tuple(names)

    async def _attach(self, volume: str, *, exclusive: bool) -> bool:
        """Attach ``volume`` here once its VolumeAttachment is ours: one per volume for a
        ReadWriteOnce volume (so one node at a time), one per volume and node otherwise."""
        node = self.config.name
        va_name = f"csi-{volume}" if exclusive else f"csi-{volume}-{node}"
        try:
            va = await self.client.get("volumeattachments", va_name)
        except ApiError as exc:
            if exc.code != 404:
                raise
            self.volumes_dirty = True
            try:
                va = await self.client.create("volumeattachments", {
                    "apiVersion": "storage.k8s.io/v1", "kind": "VolumeAttachment", "metadata": {"name": va_name},
                    "spec": {"attacher": self.csi.name, "nodeName": node,
                             "source": {"persistentVolumeName": volume}}})
            except ApiError as exc2:
                if exc2.code == 409:
                    return False  # another node's, just now: try again later
                raise
        if va["spec"]["nodeName"] != node or va["metadata"].get("deletionTimestamp"):
            self.rt.record("kubelet.volume_attached_elsewhere", node=node, volume=volume,
                           at=va["spec"]["nodeName"])
            return False
        self.csi.controller_publish(volume, node, exclusive=exclusive)
        if not (va.get("status") or {}).get("attached"):
            await self.client.patch("volumeattachments", va_name, {"status": {"attached": True}},
                                    subresource="status")
        return True

    async def _clean_up_volumes(self) -> Result:
        """Detach the volumes no pod of this node needs and delete their VolumeAttachments
        (a volume is free for another node only once detached here)."""
        node = self.config.name
        needed: dict[str, None] = {}
        for sandbox in self.sandboxes.running.values():
            needed.update(dict.fromkeys(sandbox.volumes))
        live = {p["metadata"]["uid"] for p in self.pods.items()
                if is_active(p) and p["spec"].get("nodeName") == node}
        for uid in sorted(self.volumes_of):
            if uid in live:
                needed.update(dict.fromkeys(self.volumes_of[uid]))
            elif self.sandboxes.running.get(uid) is None:
                del self.volumes_of[uid]
        for volume in self.csi.attached_to(node):
            if volume not in needed:
                self.csi.controller_unpublish(volume, node)
                self.volumes_dirty = True
        if self.volumes_dirty:
            vas = await self.client.list("volumeattachments", field_selector=f"spec.nodeName={node}")
            self.volumes_dirty = False
            for va in vas["items"]:
                volume = va["spec"]["source"]["persistentVolumeName"]
                if volume in needed or volume in self.csi.attached_to(node):
                    continue
                try:
                    await self.client.delete("volumeattachments", va["metadata"]["name"], uid=va["metadata"]["uid"])
                except ApiError as exc:
                    if exc.code not in (404, 409):
                        self.volumes_dirty = True
                        raise
        return Result(requeue_after_s=1.0)
