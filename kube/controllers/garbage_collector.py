"""The garbage collector (kube-controller-manager's ``garbagecollector``): ownerReferences.

It watches the kinds it collects (:data:`GC_RESOURCES`) through the process's shared
informers (its own when none are given), as Kubernetes' collector builds its monitors on
the shared informer factory, keeps an index owner uid -> dependents, and works on items
``<resource>|<namespace>/<name>``:

* **dependents**: an object whose owners are all gone is deleted (background), one whose
  owners are partly gone loses the dangling references.  An owner missing from the cache
  is looked up live before it is believed gone (the cache may lag, or not have synced
  after a restart: kubernetes issue #88097); the dependent is read live too, and deleted
  with its uid and resourceVersion as preconditions, so one changed meanwhile (re-owned)
  is left alone;
* **foreground deletion**: an owner being deleted with the ``foregroundDeletion``
  finalizer has its dependents deleted (foreground too, so a chain waits all the way
  down), and loses the finalizer once no dependent that blocks it
  (``blockOwnerDeletion``) remains; the store then removes it;
* **orphan deletion**: an owner being deleted with the ``orphan`` finalizer has its
  reference removed from every dependent, then loses the finalizer.

``on_delete(resource, obj)`` sees every object the collector deleted (as of the
deletion), so a checker can judge the decision against the store.

The catalogued bug ``gc_owner_from_cache`` starts collecting before the caches synced
and believes an owner gone when its cache does not hold it, with no live lookup.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from raftkv.tasks import Runtime

from ..client import KubeClient
from ..errors import ApiError
from ..informer import object_key
from .queue import WorkQueue
from .runtime import Listener, SharedInformers, join_all

__all__ = ["BUG_OWNER_FROM_CACHE", "GC_RESOURCES", "GarbageCollector"]

BUG_OWNER_FROM_CACHE = "gc_owner_from_cache"
#: kind -> resource of what the collector watches (owners and dependents), in discovery
#: order (the core group first), the order its informers start in
GC_RESOURCES = {"Pod": "pods", "PersistentVolumeClaim": "persistentvolumeclaims", "Deployment": "deployments",
                "ReplicaSet": "replicasets", "StatefulSet": "statefulsets"}


def _item(resource: str, obj: dict[str, Any]) -> str:
    return f"{resource}|{object_key(obj)}"


class GarbageCollector:
    def __init__(self, rt: Runtime, client: KubeClient, informers: SharedInformers | None = None, *,
                 workers: int = 1, resync_s: float = 10.0, bugs: frozenset[str] = frozenset(),
                 on_delete: Callable[[str, dict[str, Any]], None] | None = None) -> None:
        assert workers >= 1
        self.rt = rt
        self.client = client
        self.bugs = bugs
        self.on_delete = on_delete
        self.workers = workers
        self.resync_s = resync_s
        self.informers = informers if informers is not None else SharedInformers(rt, client)
        self.queue = WorkQueue(rt, base_backoff_s=0.05, max_backoff_s=2.0)
        self.dependents: dict[str, dict[str, None]] = {}  # owner uid -> items of its dependents
        self.uids: dict[str, str] = {}  # uid -> item, of what the caches hold
        for resource in GC_RESOURCES.values():
            self.informers.listen(resource, self._listener(resource))
        self.deleted = 0
        self.orphaned = 0

    # ------------------------------------------------------------------ the graph
    def _listener(self, resource: str) -> Listener:
        return Listener(on_add=lambda obj: self._observed(resource, obj),
                        on_update=lambda old, new: self._updated(resource, old, new),
                        on_delete=lambda obj: self._gone(resource, obj))

    def _observed(self, resource: str, obj: dict[str, Any]) -> None:
        item = _item(resource, obj)
        self.uids[obj["metadata"]["uid"]] = item
        refs = obj["metadata"].get("ownerReferences") or ()
        for ref in refs:
            self.dependents.setdefault(str(ref.get("uid")), {})[item] = None
        finalizers = obj["metadata"].get("finalizers") or ()
        if refs or (obj["metadata"].get("deletionTimestamp") and
                    ("foregroundDeletion" in finalizers or "orphan" in finalizers)):
            self.queue.add(item)

    def _updated(self, resource: str, old: dict[str, Any], new: dict[str, Any]) -> None:
        self._unindex(resource, old)
        self._observed(resource, new)

    def _unindex(self, resource: str, obj: dict[str, Any]) -> None:
        item = _item(resource, obj)
        for ref in obj["metadata"].get("ownerReferences") or ():
            deps = self.dependents.get(str(ref.get("uid")), {})
            deps.pop(item, None)
            if not deps:
                self.dependents.pop(str(ref.get("uid")), None)

    def _gone(self, resource: str, obj: dict[str, Any]) -> None:
        self._unindex(resource, obj)
        uid = obj["metadata"]["uid"]
        self.uids.pop(uid, None)
        for dep in sorted(self.dependents.get(uid, {})):
            self.queue.add(dep)  # their owner is gone
        for ref in obj["metadata"].get("ownerReferences") or ():
            owner = self.uids.get(str(ref.get("uid")))
            if owner is not None:
                self.queue.add(owner)  # a foreground owner may be waiting for this one

    def _cached(self, item: str) -> dict[str, Any] | None:
        resource, key = item.split("|", 1)
        return self.informers.get(resource).cache.get(key)

    # ------------------------------------------------------------------ running
    async def run(self) -> None:
        self.informers.start()
        if BUG_OWNER_FROM_CACHE not in self.bugs:
            await self.informers.wait_synced()
        tasks = [self.rt.spawn(self._worker(), name=f"gc:worker{i}") for i in range(self.workers)]
        tasks.append(self.rt.spawn(self._resync(), name="gc:resync"))
        await join_all(tasks)

    async def _resync(self) -> None:
        while True:
            await self.rt.sleep(self.resync_s)
            for resource in GC_RESOURCES.values():
                for obj in self.informers.get(resource).items():
                    if obj["metadata"].get("ownerReferences") or obj["metadata"].get("deletionTimestamp"):
                        self.queue.add(_item(resource, obj))

    async def _worker(self) -> None:
        while True:
            item = await self.queue.get()
            try:
                try:
                    await self.process(item)
                except ApiError as exc:
                    self.rt.record("gc.retry", item=item, error=exc.reason)
                    self.queue.add_rate_limited(item)
                    continue
                self.queue.forget(item)
            finally:
                self.queue.done(item)

    async def process(self, item: str) -> None:
        obj = self._cached(item)
        if obj is None:
            return
        meta = obj["metadata"]
        finalizers = meta.get("finalizers") or ()
        if meta.get("deletionTimestamp") and "orphan" in finalizers:
            await self._orphan_dependents(item, obj)
        elif meta.get("deletionTimestamp") and "foregroundDeletion" in finalizers:
            await self._delete_dependents(item, obj)
        if meta.get("ownerReferences"):
            await self._collect_if_dangling(item, obj)

    # ------------------------------------------------------------------ owners
    async def _owner_state(self, namespace: str, ref: dict[str, Any]) -> str:
        """"solid", "waiting" (being deleted in the foreground) or "absent"."""
        resource = GC_RESOURCES.get(str(ref.get("kind")))
        if resource is None:
            return "solid"  # a kind it does not know: never collected for it
        key = f"{namespace}/{ref.get('name')}"
        owner = self.informers.get(resource).cache.get(key)
        if (owner is None or owner["metadata"]["uid"] != ref.get("uid")) and BUG_OWNER_FROM_CACHE not in self.bugs:
            try:
                owner = await self.client.get(resource, str(ref.get("name")), namespace)
            except ApiError as exc:
                if exc.code != 404:
                    raise
                owner = None
        if owner is None or owner["metadata"]["uid"] != ref.get("uid"):
            return "absent"
        if owner["metadata"].get("deletionTimestamp") and "foregroundDeletion" in (
                owner["metadata"].get("finalizers") or ()):
            return "waiting"
        return "solid"

    async def _collect_if_dangling(self, item: str, obj: dict[str, Any]) -> None:
        resource = item.split("|", 1)[0]
        meta = obj["metadata"]
        ns = meta.get("namespace", "")
        if BUG_OWNER_FROM_CACHE not in self.bugs:
            try:  # the latest version decides (it may have been re-owned since the cache saw it)
                obj = await self.client.get(resource, meta["name"], ns)
            except ApiError as exc:
                if exc.code == 404:
                    return
                raise
            if obj["metadata"]["uid"] != meta["uid"]:
                return
            meta = obj["metadata"]
        refs = list(meta.get("ownerReferences") or ())
        if not refs:
            return
        states = [await self._owner_state(ns, ref) for ref in refs]
        if "solid" in states:
            dangling = [ref for ref, state in zip(refs, states, strict=True) if state == "absent"]
            if dangling:
                kept = [ref for ref, state in zip(refs, states, strict=True) if state != "absent"]
                await self.client.patch(resource, meta["name"], {"metadata": {
                    "ownerReferences": kept, "resourceVersion": meta["resourceVersion"]}}, ns)
            return
        # Foreground all the way down when an owner waits and this one has dependents itself.
        chain = "waiting" in states and bool(self.dependents.get(meta["uid"]))
        if meta.get("deletionTimestamp") and not (chain and "foregroundDeletion" not in (meta.get("finalizers") or ())):
            return  # already on its way
        policy = "Foreground" if chain else "Background"
        await self._delete(resource, obj, policy)

    async def _delete(self, resource: str, obj: dict[str, Any], policy: str) -> None:
        meta = obj["metadata"]
        rv = "" if BUG_OWNER_FROM_CACHE in self.bugs else meta.get("resourceVersion", "")
        try:
            gone = await self.client.delete(resource, meta["name"], meta.get("namespace", ""), uid=meta["uid"],
                                            resource_version=rv, propagation_policy=policy)
        except ApiError as exc:
            if exc.code == 404:
                return
            raise  # 409: changed meanwhile; looked at again
        self.deleted += 1
        self.rt.record("gc.deleted", resource=resource, name=meta["name"], policy=policy)
        if self.on_delete is not None:
            self.on_delete(resource, gone)

    # ------------------------------------------------------------------ finalizers
    def _dependents_of(self, obj: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
        out = []
        for dep in sorted(self.dependents.get(obj["metadata"]["uid"], {})):
            cached = self._cached(dep)
            if cached is not None:
                out.append((dep.split("|", 1)[0], cached))
        return out

    async def _remove_finalizer(self, resource: str, obj: dict[str, Any], finalizer: str) -> None:
        meta = obj["metadata"]
        latest = await self.client.get(resource, meta["name"], meta.get("namespace", ""))
        if latest["metadata"]["uid"] != meta["uid"]:
            return
        left = [f for f in latest["metadata"].get("finalizers") or () if f != finalizer]
        await self.client.patch(resource, meta["name"], {"metadata": {
            "finalizers": left or None, "resourceVersion": latest["metadata"]["resourceVersion"]}},
            meta.get("namespace", ""))

    async def _delete_dependents(self, item: str, owner: dict[str, Any]) -> None:
        uid = owner["metadata"]["uid"]
        blocking = 0
        for resource, dep in self._dependents_of(owner):
            ref: dict[str, Any] = next((r for r in dep["metadata"].get("ownerReferences") or () if r.get("uid") == uid), {})
            if ref.get("blockOwnerDeletion"):
                blocking += 1
            if not dep["metadata"].get("deletionTimestamp"):
                await self._collect_if_dangling(_item(resource, dep), dep)
        if blocking == 0:
            await self._remove_finalizer(item.split("|", 1)[0], owner, "foregroundDeletion")

    async def _orphan_dependents(self, item: str, owner: dict[str, Any]) -> None:
        uid = owner["metadata"]["uid"]
        for resource, dep in self._dependents_of(owner):
            meta = dep["metadata"]
            kept = [r for r in meta.get("ownerReferences") or () if r.get("uid") != uid]
            try:
                await self.client.patch(resource, meta["name"], {"metadata": {
                    "ownerReferences": kept or None, "resourceVersion": meta["resourceVersion"]}},
                    meta.get("namespace", ""))
                self.orphaned += 1
            except ApiError as exc:
                if exc.code != 404:
                    raise
        await self._remove_finalizer(item.split("|", 1)[0], owner, "orphan")

    def summary(self) -> dict[str, Any]:
        return {"deleted": self.deleted, "orphaned": self.orphaned}
