"""The ReplicaSet controller (kube-controller-manager's ``replica_set.go``).

``reconcile(key)`` compares the active pods a ReplicaSet controls (its controller
ownerReference, not being deleted, not Succeeded/Failed) with ``spec.replicas`` and
creates (in slow-start batches of 1, 2, 4..., a batch's creates at once) or deletes (unscheduled, then pending, then
not ready, then newest first) the difference, then writes ``status`` (replicas,
readyReplicas, availableReplicas, observedGeneration).

**Expectations**: after creating or deleting pods the controller waits until its pod
informer has seen those creations and deletions (or ``expectations_ttl_s`` passed) before
it acts on that ReplicaSet again; a cache that lags its own writes would otherwise make it
create or delete again (``ControllerExpectations``).  A failed create or delete lowers the
expectation at once, as kube-controller-manager does.
"""

from __future__ import annotations

from typing import Any

from raftkv.tasks import Runtime

from ..client import KubeClient
from ..errors import ApiError
from ..informer import object_key
from .runtime import Controller, Listener, Result, SharedInformers

__all__ = ["BUG_NO_EXPECTATIONS", "Expectations", "ReplicaSetController", "controller_of", "is_active", "is_ready"]

BUG_NO_EXPECTATIONS = "replicaset_no_expectations"
_PHASE_RANK = {"Pending": 0, "Unknown": 1, "Running": 2}


def controller_of(obj: dict[str, Any]) -> dict[str, Any] | None:
    for ref in obj.get("metadata", {}).get("ownerReferences") or ():
        if ref.get("controller"):
            return dict(ref)
    return None


def is_active(pod: dict[str, Any]) -> bool:
    return (not pod["metadata"].get("deletionTimestamp")
            and (pod.get("status") or {}).get("phase") not in ("Succeeded", "Failed"))


def is_ready(pod: dict[str, Any]) -> bool:
    return any(c.get("type") == "Ready" and c.get("status") == "True"
               for c in (pod.get("status") or {}).get("conditions") or ())


class Expectations:
    """Per controller key: creations and deletions (pod keys) not yet seen by the informer."""

    def __init__(self, rt: Runtime, ttl_s: float) -> None:
        self.rt = rt
        self.ttl_us = round(ttl_s * 1_000_000)
        self._adds: dict[str, int] = {}
        self._dels: dict[str, dict[str, None]] = {}
        self._since_us: dict[str, int] = {}

    def satisfied(self, key: str) -> bool:
        if key not in self._since_us:
            return True
        if self._adds.get(key, 0) <= 0 and not self._dels.get(key):
            return True
        return self.rt.monotonic_us() - self._since_us[key] > self.ttl_us

    def expect(self, key: str, *, adds: int = 0, dels: tuple[str, ...] = ()) -> None:
        self._adds[key] = adds
        self._dels[key] = dict.fromkeys(dels)
        self._since_us[key] = self.rt.monotonic_us()

    def creation_observed(self, key: str) -> None:
        if key in self._adds:
            self._adds[key] -= 1

    def deletion_observed(self, key: str, pod_key: str) -> None:
        self._dels.get(key, {}).pop(pod_key, None)

    def forget(self, key: str) -> None:
        for table in (self._adds, self._dels, self._since_us):
            table.pop(key, None)


def _selector_matches(rs: dict[str, Any], pod: dict[str, Any]) -> bool:
    want = ((rs.get("spec") or {}).get("selector") or {}).get("matchLabels") or {}
    labels = pod["metadata"].get("labels") or {}
    return bool(want) and all(labels.get(k) == v for k, v in want.items())


def _deletion_rank(pod: dict[str, Any]) -> tuple[Any, ...]:
    """Pods to delete first sort first (kube's ActivePodsWithRanks, simplified)."""
    status = pod.get("status") or {}
    return (bool(pod["spec"].get("nodeName")), _PHASE_RANK.get(status.get("phase", "Pending"), 0), is_ready(pod),
            "".join(chr(0x10FFFF - ord(ch)) for ch in pod["metadata"].get("creationTimestamp", "")),
            pod["metadata"]["name"])


class ReplicaSetController:
    def __init__(self, rt: Runtime, client: KubeClient, informers: SharedInformers, *, namespace: str = "",
                 workers: int = 1, expectations_ttl_s: float = 15.0, burst: int = 100,
                 bugs: frozenset[str] = frozenset()) -> None:
        self.rt = rt
        self.client = client
        self.burst = burst
        self.bugs = bugs
        self.expectations = Expectations(rt, expectations_ttl_s)
        self.controller = Controller(rt, "replicaset", informers, self.reconcile, primary="replicasets",
                                     namespace=namespace, workers=workers)
        self.replicasets = self.controller.primary
        self.pods = informers.listen("pods", Listener(on_add=self.pod_added, on_update=self.pod_updated,
                                                      on_delete=self.pod_deleted), namespace)
        # pods by the uid of their controller (an index, so a reconcile reads its own pods
        # only): owner uid -> {pod key: None}
        self._by_owner: dict[str, dict[str, None]] = {}
        self.creates = 0
        self.deletes = 0
        self.unknown_creates: dict[str, int] = {}  # ReplicaSet key -> creates of unknown outcome

    async def run(self) -> None:
        await self.controller.run()

    # -------------------------------------------------------------- pod events
    def _owner_key(self, pod: dict[str, Any]) -> str | None:
        ref = controller_of(pod)
        if ref is None or ref.get("kind") != "ReplicaSet":
            return None
        key = f"{pod['metadata']['namespace']}/{ref['name']}"
        rs = self.replicasets.cache.get(key)
        return key if rs is not None and rs["metadata"].get("uid") == ref.get("uid") else None

    def _index(self, pod: dict[str, Any], present: bool) -> None:
        ref = controller_of(pod)
        uid = ref.get("uid") if ref is not None else None
        if not uid:
            return
        pods = self._by_owner.setdefault(uid, {})
        if present:
            pods[object_key(pod)] = None
        else:
            pods.pop(object_key(pod), None)
            if not pods:
                del self._by_owner[uid]

    def pod_added(self, pod: dict[str, Any]) -> None:
        self._index(pod, True)
        key = self._owner_key(pod)
        if key is not None:
            if pod["metadata"].get("deletionTimestamp"):
                self.expectations.deletion_observed(key, object_key(pod))
            else:
                self.expectations.creation_observed(key)
            self.controller.queue.add(key)

    def pod_updated(self, old: dict[str, Any], new: dict[str, Any]) -> None:
        self._index(old, False)
        self._index(new, True)
        key = self._owner_key(new)
        if key is not None:
            if new["metadata"].get("deletionTimestamp"):
                self.expectations.deletion_observed(key, object_key(new))
            self.controller.queue.add(key)

    def pod_deleted(self, pod: dict[str, Any]) -> None:
        self._index(pod, False)
        key = self._owner_key(pod)
        if key is not None:
            self.expectations.deletion_observed(key, object_key(pod))
            self.controller.queue.add(key)

    # -------------------------------------------------------------- reconcile
    def owned_pods(self, rs: dict[str, Any]) -> list[dict[str, Any]]:
        ns, uid = rs["metadata"]["namespace"], rs["metadata"]["uid"]
        out = []
        cache = self.pods.cache
        for pod in (cache[k] for k in sorted(self._by_owner.get(uid, ())) if k in cache):
            ref = controller_of(pod)
            if (pod["metadata"]["namespace"] == ns and ref is not None and ref.get("uid") == uid
                    and _selector_matches(rs, pod)):
                out.append(pod)
        return out

    async def reconcile(self, key: str) -> Result | None:
        rs = self.replicasets.cache.get(key)
        if rs is None:
            self.expectations.forget(key)
            return None
        active = [p for p in self.owned_pods(rs) if is_active(p)]
        synced = self.expectations.satisfied(key) or BUG_NO_EXPECTATIONS in self.bugs
        if synced and not rs["metadata"].get("deletionTimestamp"):
            await self._manage(key, rs, active)
        await self._write_status(rs, active)
        return None

    async def _manage(self, key: str, rs: dict[str, Any], active: list[dict[str, Any]]) -> None:
        diff = len(active) - int(rs["spec"].get("replicas", 1))
        if diff < 0:
            want = min(-diff, self.burst)
            self.expectations.expect(key, adds=want)
            left = want
            batch = 1
            while left > 0:
                size = min(batch, left)
                # a batch's creates are made at once, as the real controller's goroutines do
                tasks = [self.rt.spawn(self._create_pod(key, rs), name=f"create:{key}") for _ in range(size)]
                try:
                    failed = sum([not await task.join() for task in tasks])
                finally:
                    for task in tasks:
                        task.cancel()
                left -= size
                if failed:
                    for _ in range(failed + left):
                        self.expectations.creation_observed(key)
                    raise ApiError({"code": 500, "reason": "InternalError",
                                    "message": f"{failed} of {size} pod creations for {key} failed"})
                batch *= 2
        elif diff > 0:
            doomed = sorted(active, key=_deletion_rank)[:min(diff, self.burst)]
            self.expectations.expect(key, dels=tuple(object_key(p) for p in doomed))
            errors = 0
            for pod in doomed:
                try:
                    await self.client.delete("pods", pod["metadata"]["name"], pod["metadata"]["namespace"],
                                             uid=pod["metadata"]["uid"])
                    self.deletes += 1
                except ApiError as exc:
                    if exc.code != 404:
                        errors += 1
                        self.expectations.deletion_observed(key, object_key(pod))
            if errors:
                raise ApiError({"code": 500, "reason": "InternalError",
                                "message": f"{errors} pod deletions for {key} failed"})

    async def _create_pod(self, key: str, rs: dict[str, Any]) -> bool:
        meta, template = rs["metadata"], (rs["spec"].get("template") or {})
        pod = {"apiVersion": "v1", "kind": "Pod",
               "metadata": {"generateName": f"{meta['name']}-", "namespace": meta["namespace"],
                            "labels": dict((template.get("metadata") or {}).get("labels") or {}),
                            "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": meta["name"],
                                                 "uid": meta["uid"], "controller": True,
                                                 "blockOwnerDeletion": True}]},
               "spec": dict(template.get("spec") or {})}
        try:
            await self.client.create("pods", pod)
        except ApiError as exc:
            if exc.unknown:
                self.unknown_creates[key] = self.unknown_creates.get(key, 0) + 1
            self.rt.record("replicaset.create_failed", rs=key, error=exc.reason)
            return False
        self.creates += 1
        return True

    async def _write_status(self, rs: dict[str, Any], active: list[dict[str, Any]]) -> None:
        ready = sum(is_ready(p) for p in active)
        status = {"replicas": len(active), "readyReplicas": ready, "availableReplicas": ready,
                  "observedGeneration": rs["metadata"].get("generation", 1)}
        current = rs.get("status") or {}
        if all(current.get(k, 0) == v for k, v in status.items()):
            return
        await self.client.patch("replicasets", rs["metadata"]["name"], {"status": status},
                                rs["metadata"]["namespace"], subresource="status")

