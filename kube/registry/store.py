"""The generic store: every kind's create/get/update/delete/list/watch over the async
etcd client, with kube-apiserver's semantics (``k8s.io/apiserver``'s ``registry/generic``
and ``storage/etcd3``).

* Objects live at ``/registry/<resource>/<namespace>/<name>`` (cluster-scoped:
  ``/registry/<resource>/<name>``) as JSON without ``resourceVersion``; an object's
  ``resourceVersion`` is its key's ``mod_revision``, a list's the header revision.
* create: ``txn(mod_revision == 0 -> put)``, else 409 AlreadyExists; uid and
  creationTimestamp set, generation 1 for kinds with a spec.
* update: ``txn(mod_revision == rv -> put)``, else 409 Conflict; without a
  resourceVersion (and for patches) a GuaranteedUpdate: read, apply, write
  conditionally, and read again and retry when another write came first.
* delete: preconditions (uid, resourceVersion); with finalizers (or a grace period: a
  bound pod waits for its kubelet) it sets ``deletionTimestamp`` and the object goes when
  an update removes the last finalizer, or a delete with grace 0 finds none.
* list: ``resourceVersion`` unset: a quorum read; ``"0"``: any (the watch cache when it
  has synced); ``N``: not older than N.  ``limit``/``continue`` page at the first page's
  revision; a compacted one is 410 Expired.
* watch: from N starts right after N; unset or ``"0"`` first sends the current objects as
  ADDED; bookmarks on request; a compacted N ends the stream with an ERROR event (410).
"""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator, Callable
from typing import Any, Protocol

from kube import errors
from kube.fieldmanager import track_update
from kube.meta import format_timestamp, json_copy, new_uid
from kube.patch import JSON_PATCH, MERGE_PATCH, apply_patch
from kube.selectors import FieldSelector, LabelSelector
from raftkv.client import AsyncEtcdClient, ErrCompacted, ErrTimeout, KVError, Txn, txn
from raftkv.tasks import Runtime

from .strategy import Strategy

__all__ = ["BUG_CONTINUE_AT_LATEST", "BUG_LIST_FROM_CACHE", "BUG_UPDATE_NO_PRECONDITION",
           "BUG_WATCH_AT_N", "BUG_WATCH_SKIPS_COMPACTED", "Guard", "ListResult", "Store", "prefix_end"]

# The catalogued bugs of the store (raftkv.bugs).
BUG_UPDATE_NO_PRECONDITION = "apiserver_update_ignores_resource_version"
BUG_CONTINUE_AT_LATEST = "apiserver_continue_at_latest_revision"
BUG_WATCH_AT_N = "apiserver_watch_starts_at_resource_version"
BUG_WATCH_SKIPS_COMPACTED = "apiserver_watch_skips_compacted_revisions"
BUG_LIST_FROM_CACHE = "apiserver_list_from_watch_cache"

MAX_UPDATE_RETRIES = 16


class Guard(Protocol):
    """Extra compares every write of a request must pass (a leader's fence,
    :mod:`kube.fencing`); raises an :class:`kube.errors.ApiError` when it cannot hold."""

    async def compares(self) -> tuple[Any, ...]: ...

    def confirmed(self, revision: int) -> None:
        """A transaction with its compares succeeded, at store revision ``revision`` (a
        write's own revision; for a write that changed nothing, its check's)."""
REGISTRY = "/registry/"


def prefix_end(prefix: bytes) -> bytes:
    return prefix[:-1] + bytes([prefix[-1] + 1])


def encode(obj: dict[str, Any]) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":")).encode()


def decode(value: bytes, mod_revision: int) -> dict[str, Any]:
    obj: dict[str, Any] = json.loads(value)
    obj.setdefault("metadata", {})["resourceVersion"] = str(mod_revision)
    return obj


def parse_rv(value: Any, what: str = "resourceVersion") -> int:
    try:
        rv = int(str(value))
    except ValueError:
        raise errors.bad_request(f"invalid {what}: {value!r} is not a resource version") from None
    if rv < 0:
        raise errors.bad_request(f"invalid {what}: {value!r} is negative")
    return rv


def etcd_error(exc: KVError) -> errors.ApiError:
    """An etcd failure as the apiserver reports it: unknown outcome -> 504, else 503."""
    if isinstance(exc, ErrTimeout):
        return errors.timeout("The request did not complete in time: the storage did not answer "
                              "(it may still be processed)")
    if isinstance(exc, ErrCompacted):
        return errors.expired(f"too old resource version: {exc.details.get('compact_revision', '')}")
    return errors.unavailable(f"storage unavailable: {exc}")


def _continue_token(rv: int, start: str) -> str:
    raw = json.dumps({"v": "meta.k8s.io/v1", "rv": rv, "start": start}, separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode()


def _parse_continue(token: str) -> tuple[int, str]:
    try:
        data = json.loads(base64.urlsafe_b64decode(token.encode() + b"=" * (-len(token) % 4)))
        rv, start = int(data["rv"]), str(data["start"])
        if data.get("v") != "meta.k8s.io/v1" or rv <= 0:
            raise ValueError
    except (ValueError, KeyError, TypeError):
        raise errors.bad_request("continue key is not valid: the continue token is malformed") from None
    return rv, start


class ListResult:
    __slots__ = ("continue_", "items", "resource_version")

    def __init__(self, items: list[dict[str, Any]], resource_version: int, continue_: str = "") -> None:
        self.items = items
        self.resource_version = resource_version
        self.continue_ = continue_


class Store:
    """One kind's storage (see the module docstring).  ``cache`` is the apiserver's watch
    cache (for ``resourceVersion="0"`` lists)."""

    def __init__(self, rt: Runtime, etcd: AsyncEtcdClient, strategy: Strategy, *,
                 bugs: frozenset[str] = frozenset(), cache: Any = None) -> None:
        self.rt = rt
        self.etcd = etcd
        self.strategy = strategy
        self.bugs = bugs
        self.cache = cache
        self.prefix = f"{REGISTRY}{strategy.resource}/"
        assert not strategy.watch_index or strategy.watch_index in strategy.fields, strategy.watch_index
        if cache is not None and strategy.watch_index:
            cache.index(self.prefix.encode(), strategy.fields[strategy.watch_index])

    # ------------------------------------------------------------------ keys
    def key(self, namespace: str, name: str) -> bytes:
        if self.strategy.namespaced:
            return f"{self.prefix}{namespace}/{name}".encode()
        return f"{self.prefix}{name}".encode()

    def list_prefix(self, namespace: str) -> bytes:
        if self.strategy.namespaced and namespace:
            return f"{self.prefix}{namespace}/".encode()
        return self.prefix.encode()

    def _scope(self, namespace: str) -> str:
        if self.strategy.namespaced and not namespace:
            raise errors.bad_request(f"{self.strategy.resource} is namespaced: a namespace is required")
        return namespace if self.strategy.namespaced else ""

    # ------------------------------------------------------------------ reads
    async def _read(self, key: bytes) -> tuple[dict[str, Any], int] | None:
        try:
            resp = await self.etcd.get(key)
        except KVError as exc:
            raise etcd_error(exc) from None
        if not resp.kvs:
            return None
        kv = resp.kvs[0]
        return decode(kv.value, kv.mod_revision), kv.mod_revision

    async def _check_guard(self, guard: Guard) -> None:
        """A write that changes nothing still answers to its guard, through the log: its
        compares in a transaction of their own (a read alone may be served by a member that
        lags, and let a deposed writer's no-op pass as a write of its term)."""
        try:
            resp = await self.etcd.txn(Txn().when(*await guard.compares()).build())
        except KVError as exc:
            raise etcd_error(exc) from None
        if not resp.succeeded:
            raise errors.ApiError(errors.status(403, "Forbidden", "fenced: the writer's lease moved on"))
        guard.confirmed(resp.header.revision)

    async def get(self, namespace: str, name: str) -> dict[str, Any]:
        got = await self._read(self.key(self._scope(namespace), name))
        if got is None:
            raise errors.not_found(self.strategy.resource, name)
        return got[0]

    # ------------------------------------------------------------------ writes
    def _check_body(self, obj: Any, namespace: str, name: str | None) -> dict[str, Any]:
        s = self.strategy
        if not isinstance(obj, dict):
            raise errors.bad_request(f"the body of a {s.kind} must be a JSON object")
        if obj.get("kind", s.kind) != s.kind or obj.get("apiVersion", s.api_version) != s.api_version:
            raise errors.bad_request(f"the body is a {obj.get('apiVersion')}/{obj.get('kind')}, "
                                     f"not a {s.api_version}/{s.kind}")
        body: dict[str, Any] = json_copy(obj)
        body["kind"], body["apiVersion"] = s.kind, s.api_version
        meta = body.setdefault("metadata", {})
        if not isinstance(meta, dict):
            raise errors.bad_request("metadata must be a JSON object")
        if s.namespaced:
            if meta.get("namespace", namespace) != namespace:
                raise errors.bad_request("the namespace of the provided object does not match the namespace "
                                         "sent on the request")
            meta["namespace"] = namespace
        else:
            meta.pop("namespace", None)
        if name is not None and meta.get("name", name) != name:
            raise errors.bad_request("the name of the object does not match the name on the URL")
        if name is not None:
            meta["name"] = name
        return body

    def _validate(self, obj: dict[str, Any]) -> None:
        causes = self.strategy.validate(obj)
        if causes:
            raise errors.invalid(self.strategy.kind, obj["metadata"].get("name", ""), causes)

    async def create(self, namespace: str, body: Any, *, dry_run: bool = False, field_manager: str = "",
                     guard: Guard | None = None) -> dict[str, Any]:
        """Create ``body``; with ``dry_run``, everything but the write (defaults,
        validation, a name taken is 409): the object as it would be stored;
        ``field_manager``: who owns the fields it sets (``metadata.managedFields``);
        ``guard``: compares the write's transaction must also pass (a fence)."""
        namespace = self._scope(namespace)
        obj = self._check_body(body, namespace, None)
        meta = obj["metadata"]
        if not meta.get("name") and meta.get("generateName"):
            rng = self.rt.random()
            meta["name"] = meta["generateName"] + "".join(rng.choice("bcdfghjklmnpqrstvwxz2456789")
                                                          for _ in range(5))
        if meta.get("resourceVersion"):
            raise errors.bad_request("resourceVersion should not be set on objects to be created")
        for dropped in ("deletionTimestamp", "deletionGracePeriodSeconds"):
            meta.pop(dropped, None)
        meta["uid"] = new_uid(self.rt.random())
        meta["creationTimestamp"] = format_timestamp(self.rt.now_us())
        self.strategy.prepare_for_create(obj)
        self._validate(obj)
        if field_manager:
            track_update(None, obj, manager=field_manager, subresource="", now=meta["creationTimestamp"])
        key = self.key(namespace, meta["name"])
        if dry_run:
            if await self._read(key) is not None:
                raise errors.already_exists(self.strategy.resource, meta["name"])
            return obj
        for _attempt in range(MAX_UPDATE_RETRIES):
            extra = await guard.compares() if guard is not None else ()
            request = (Txn().when(txn.mod_revision(key) == 0, *extra).then(txn.put(key, encode(obj)))
                       .otherwise(txn.get(key)).build())
            try:
                resp = await self.etcd.txn(request)
            except KVError as exc:
                raise etcd_error(exc) from None
            if resp.succeeded:
                if guard is not None:
                    guard.confirmed(resp.header.revision)
                break
            if getattr(resp.responses[0], "kvs", ()) or guard is None:
                raise errors.already_exists(self.strategy.resource, meta["name"])
            # the guard's compare failed: check it again (the lease moved on, or was renewed)
        else:
            raise errors.conflict(self.strategy.resource, meta["name"], "too many concurrent updates, try again")
        meta["resourceVersion"] = str(resp.header.revision)
        return obj

    async def _write(self, key: bytes, obj: dict[str, Any], rv: int,
                     guard: Guard | None = None) -> tuple[bool, int, tuple[dict[str, Any], int] | None]:
        """Put ``obj`` (None: delete) if ``key`` is still at ``rv`` (and ``guard``'s
        compares hold): (done, revision, current)."""
        stored = {**obj, "metadata": {k: v for k, v in obj["metadata"].items() if k != "resourceVersion"}}
        meta = obj["metadata"]
        final = (bool(meta.get("deletionTimestamp")) and not meta.get("finalizers")
                 and not int(meta.get("deletionGracePeriodSeconds") or 0)
                 and not self.strategy.kind_finalizers_pending(obj))
        op = txn.delete(key) if final else txn.put(key, encode(stored))
        extra = await guard.compares() if guard is not None else ()
        request = Txn().when(txn.mod_revision(key) == rv, *extra).then(op).otherwise(txn.get(key)).build()
        try:
            resp = await self.etcd.txn(request)
        except KVError as exc:
            raise etcd_error(exc) from None
        if resp.succeeded:
            if guard is not None:
                guard.confirmed(resp.header.revision)
            return True, resp.header.revision, None
        got = resp.responses[0]
        kvs = getattr(got, "kvs", ())
        return False, 0, ((decode(kvs[0].value, kvs[0].mod_revision), kvs[0].mod_revision) if kvs else None)

    async def guaranteed_update(self, namespace: str, name: str, try_update: Callable[[dict[str, Any]], dict[str, Any]], *,
                                precondition_rv: int = 0, precondition_uid: str = "", dry_run: bool = False,
                                guard: Guard | None = None) -> dict[str, Any]:
        """Read, ``try_update(current)``, write if nobody wrote since; else retry with what
        the failed write read (``storage.Interface.GuaranteedUpdate``).  ``dry_run``: the
        updated object, not written."""
        key = self.key(self._scope(namespace), name)
        current = await self._read(key)
        for _attempt in range(MAX_UPDATE_RETRIES):
            if current is None:
                raise errors.not_found(self.strategy.resource, name)
            old, rv = current
            if precondition_uid and old["metadata"].get("uid") != precondition_uid:
                raise errors.conflict(self.strategy.resource, name,
                                      f"Precondition failed: UID in precondition: {precondition_uid}, "
                                      f"UID in object meta: {old['metadata'].get('uid')}")
            if precondition_rv and precondition_rv != rv:
                raise errors.conflict(self.strategy.resource, name,
                                      "the object has been modified; please apply your changes to the "
                                      "latest version and try again")
            new = try_update(json_copy(old))
            if new == old:
                if guard is not None:
                    await self._check_guard(guard)  # a fenced no-op still fails for a deposed writer
                return old  # nothing to write (kube-apiserver skips no-op updates too)
            if dry_run:
                return new
            done, revision, current = await self._write(key, new, rv, guard)
            if done:
                new["metadata"]["resourceVersion"] = str(revision)
                return new
        raise errors.conflict(self.strategy.resource, name, "too many concurrent updates, try again")

    def _updater(self, body: dict[str, Any], subresource: str, field_manager: str = "",
                 tracked_as: str | None = None) -> Callable[[dict[str, Any]], dict[str, Any]]:
        """The update of an object to ``body`` (a GuaranteedUpdate's ``try_update``);
        ``field_manager`` takes the fields it changes, recorded for ``tracked_as``
        (default ``subresource``)."""
        s = self.strategy

        def update(old: dict[str, Any]) -> dict[str, Any]:
            if subresource == "status":
                new = s.prepare_for_status_update(body, old)
            else:
                new = json_copy(body)
                meta, old_meta = new["metadata"], old["metadata"]
                for kept in ("uid", "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds"):
                    if kept in old_meta:
                        meta[kept] = old_meta[kept]
                    else:
                        meta.pop(kept, None)
                if "managedFields" not in meta and "managedFields" in old_meta:
                    meta["managedFields"] = json_copy(old_meta["managedFields"])  # unset keeps them
                s.prepare_for_update(new, old)
            new["metadata"]["resourceVersion"] = old["metadata"]["resourceVersion"]
            self._validate(new)
            if field_manager:
                track_update(old, new, manager=field_manager,
                             subresource=subresource if tracked_as is None else tracked_as,
                             now=format_timestamp(self.rt.now_us()))
            return new
        return update

    async def update(self, namespace: str, name: str, body: Any, *, subresource: str = "",
                     dry_run: bool = False, field_manager: str = "", guard: Guard | None = None) -> dict[str, Any]:
        """PUT: a precondition on ``metadata.resourceVersion`` when set (409 Conflict when
        it is not the current one), else an unconditional GuaranteedUpdate."""
        namespace = self._scope(namespace)
        obj = self._check_body(body, namespace, name)
        if subresource not in ("", "status") or (subresource and not self.strategy.status_subresource):
            raise errors.not_found(f"{self.strategy.resource}/{subresource}", name)
        rv_text = obj["metadata"].get("resourceVersion")
        rv = parse_rv(rv_text) if rv_text else 0
        if BUG_UPDATE_NO_PRECONDITION in self.bugs:
            rv = 0
        return await self.guaranteed_update(namespace, name, self._updater(obj, subresource, field_manager),
                                            precondition_rv=rv, dry_run=dry_run, guard=guard)

    async def patch(self, namespace: str, name: str, patch: Any, *, subresource: str = "",
                    patch_type: str = MERGE_PATCH, dry_run: bool = False, field_manager: str = "",
                    guard: Guard | None = None) -> dict[str, Any]:
        """A patch of the current object (JSON merge patch by default, RFC 7386; or a
        JSON patch or strategic merge patch, :mod:`kube.patch`) in a GuaranteedUpdate; a
        ``metadata.resourceVersion`` in a merge patch is a precondition."""
        namespace = self._scope(namespace)
        if patch_type != JSON_PATCH and not isinstance(patch, dict):
            raise errors.bad_request("a merge patch must be a JSON object")
        meta = patch.get("metadata") if isinstance(patch, dict) else None
        rv_text = meta.get("resourceVersion") if isinstance(meta, dict) else None
        rv = parse_rv(rv_text) if rv_text else 0

        def apply(old: dict[str, Any]) -> dict[str, Any]:
            merged = apply_patch(old, patch, patch_type)
            merged = self._check_body(merged, namespace, name)
            merged["metadata"]["resourceVersion"] = old["metadata"]["resourceVersion"]
            return self._updater(merged, subresource, field_manager)(old)
        return await self.guaranteed_update(namespace, name, apply, precondition_rv=rv, dry_run=dry_run,
                                            guard=guard)

    async def delete(self, namespace: str, name: str, *, precondition_uid: str = "",
                     precondition_rv: int = 0, propagation_policy: str = "", dry_run: bool = False,
                     guard: Guard | None = None, grace_period_s: int | None = None) -> dict[str, Any]:
        """Delete (returns the object as of the deletion).  With finalizers (the
        policy's own included), the kind's own (a Namespace's ``spec.finalizers``) or a
        grace period (a bound pod: ``grace_period_s``, else the kind's default) the object
        only gets its deletionTimestamp (and ``deletionGracePeriodSeconds``); it goes when
        the last finalizer is removed with no grace period left, or when a delete with
        grace 0 finds no finalizer.  ``dry_run``: the checks and the answer, no write."""
        key = self.key(self._scope(namespace), name)
        policy_finalizer = {"Orphan": "orphan", "Foreground": "foregroundDeletion"}.get(propagation_policy, "")
        if propagation_policy not in ("", "Orphan", "Foreground", "Background"):
            raise errors.bad_request(f"unsupported propagationPolicy {propagation_policy!r}")
        if grace_period_s is not None and grace_period_s < 0:
            raise errors.bad_request(f"gracePeriodSeconds must be >= 0, got {grace_period_s}")
        current = await self._read(key)
        for _attempt in range(MAX_UPDATE_RETRIES):
            if current is None:
                raise errors.not_found(self.strategy.resource, name)
            old, rv = current
            meta = old["metadata"]
            if precondition_uid and meta.get("uid") != precondition_uid:
                raise errors.conflict(self.strategy.resource, name,
                                      f"Precondition failed: UID in precondition: {precondition_uid}, "
                                      f"UID in object meta: {meta.get('uid')}")
            if precondition_rv and precondition_rv != rv:
                raise errors.conflict(self.strategy.resource, name,
                                      f"Precondition failed: ResourceVersion in precondition: {precondition_rv}, "
                                      f"ResourceVersion in object meta: {rv}")
            new = json_copy(old)
            finalizers = list(meta.get("finalizers") or ())
            if policy_finalizer and policy_finalizer not in finalizers:
                finalizers.append(policy_finalizer)
            grace = self.strategy.default_grace_s(old) if grace_period_s is None else grace_period_s
            if meta.get("deletionTimestamp"):
                grace = min(grace, int(meta.get("deletionGracePeriodSeconds") or 0))
            kept = bool(finalizers) or self.strategy.kind_finalizers_pending(old) or grace > 0
            if kept:
                unchanged = (meta.get("deletionTimestamp") and finalizers == list(meta.get("finalizers") or ())
                             and grace == int(meta.get("deletionGracePeriodSeconds") or 0))
                if unchanged:
                    if guard is not None:
                        await self._check_guard(guard)
                    return old  # already being deleted
                if finalizers:
                    new["metadata"]["finalizers"] = finalizers
                new["metadata"].setdefault("deletionTimestamp", format_timestamp(self.rt.now_us()))
                new["metadata"]["deletionGracePeriodSeconds"] = grace
                self.strategy.prepare_for_delete(new)
            else:
                new["metadata"]["deletionTimestamp"] = meta.get("deletionTimestamp") or format_timestamp(
                    self.rt.now_us())
                new["metadata"]["deletionGracePeriodSeconds"] = 0
                new["metadata"]["finalizers"] = []
            if dry_run:
                return new if kept else old
            done, revision, current = await self._write(key, new, rv, guard)
            if done:
                out = new if kept else old
                out["metadata"]["resourceVersion"] = str(revision)
                return out
        raise errors.conflict(self.strategy.resource, name, "too many concurrent updates, try again")

    # ------------------------------------------------------------------ lists
    def selectors(self, label_selector: str, field_selector: str) -> tuple[LabelSelector, FieldSelector]:
        return (LabelSelector.parse(label_selector),
                FieldSelector.parse(field_selector, self.strategy.fields, self.strategy.kind))

    def matcher(self, label_selector: str, field_selector: str) -> Callable[[dict[str, Any]], bool]:
        labels, fields = self.selectors(label_selector, field_selector)
        getters = self.strategy.fields
        if labels.empty and fields.empty:
            return lambda obj: True
        return lambda obj: (labels.matches(obj.get("metadata", {}).get("labels"))
                            and fields.matches(obj, getters))

    async def list(self, namespace: str = "", *, resource_version: str | None = None, limit: int = 0,
                   continue_: str = "", label_selector: str = "", field_selector: str = "",
                   exact: bool = False) -> ListResult:
        matches = self.matcher(label_selector, field_selector)
        if limit < 0:
            raise errors.bad_request(f"limit must be >= 0, got {limit}")
        prefix = self.list_prefix(namespace)
        end = prefix_end(prefix)
        if continue_:
            if resource_version not in (None, ""):
                raise errors.bad_request("specifying resource version is not allowed when using continue")
            rv, start = _parse_continue(continue_)
            if not start.startswith(prefix.decode()):
                raise errors.bad_request("continue key is not valid: it is for another list")
            if BUG_CONTINUE_AT_LATEST in self.bugs:
                rv = 0
            return await self._range(start.encode(), end, rv, limit, matches, continued=True)
        min_rv = 0 if resource_version in (None, "") else parse_rv(resource_version)
        from_cache = resource_version == "0" or (resource_version in (None, "") and BUG_LIST_FROM_CACHE in self.bugs)
        if from_cache and not limit and self.cache is not None and self.cache.synced:
            items, rv = self.cache.list(prefix)
            return ListResult([obj for obj in items if matches(obj)], rv)
        at = min_rv if exact else 0
        result = await self._range(prefix, end, at, limit, matches, continued=False)
        if min_rv and result.resource_version < min_rv:
            raise errors.timeout(f"Too large resource version: {min_rv}, current: {result.resource_version}")
        return result

    async def _range(self, start: bytes, end: bytes, rv: int, limit: int, matches: Callable[[dict[str, Any]], bool], *,
                     continued: bool) -> ListResult:
        items: list[tuple[bytes, dict[str, Any]]] = []
        more = False
        while True:
            try:
                resp = await self.etcd.get(start, range_end=end, revision=rv, limit=limit)
            except ErrCompacted:
                if continued:
                    raise errors.expired(
                        "The provided continue parameter is too old to display a consistent list result. "
                        "You can start a new list without the continue parameter, or use the continue value "
                        "from the response of a list at a newer resourceVersion.") from None
                raise errors.expired(f"too old resource version: {rv}") from None
            except KVError as exc:
                raise etcd_error(exc) from None
            if not rv:
                rv = resp.header.revision
            for kv in resp.kvs:
                obj = decode(kv.value, kv.mod_revision)
                if matches(obj):
                    items.append((kv.key, obj))
            more = resp.more
            if not limit or not more or len(items) >= limit or not resp.kvs:
                break
            start = resp.kvs[-1].key + b"\x00"
        token = ""
        if limit and (more or len(items) > limit):
            items = items[:limit]
            token = _continue_token(rv, (items[-1][0] + b"\x00").decode())
        return ListResult([obj for _k, obj in items], rv, token)

    # ------------------------------------------------------------------ watches
    async def watch(self, namespace: str = "", *, resource_version: str | None = None,
                    label_selector: str = "", field_selector: str = "", bookmarks: bool = False,
                    bookmark_interval_s: float = 1.0) -> AsyncIterator[dict[str, Any]]:
        """Watch events (``{"type", "object"}``) until cancelled or an ERROR event."""
        matches = self.matcher(label_selector, field_selector)
        prefix = self.list_prefix(namespace)
        if resource_version in (None, "", "0"):
            listed = await self.list(namespace, label_selector=label_selector, field_selector=field_selector)
            for obj in listed.items:
                yield {"type": "ADDED", "object": obj}
            start = listed.resource_version + 1
        else:
            start = parse_rv(resource_version) + (0 if BUG_WATCH_AT_N in self.bugs else 1)
        if self.cache is not None and self.cache.serves(start) and await self._cache_may_serve(start):
            async for out in self._watch_cached(prefix, start, matches, field_selector, bookmarks,
                                                bookmark_interval_s):
                yield out
            return
        ticker = None
        while True:
            try:
                async with self.etcd.watch(prefix, prefix=True, start_revision=start, prev_kv=True) as stream:
                    if bookmarks:
                        ticker = self.rt.spawn(self._ask_progress(stream, bookmark_interval_s), name="bookmarks")
                    async for resp in stream:
                        if not resp.events:
                            if bookmarks and resp.progress_notify:
                                yield {"type": "BOOKMARK", "object": self._bookmark(resp.header_revision)}
                            continue
                        for ev in resp.events:
                            event = self._event(ev, matches)
                            if event is not None:
                                yield event
                            start = ev.kv.mod_revision + 1
                return
            except ErrCompacted as exc:
                compacted = int(exc.details.get("compact_revision", 0))
                if BUG_WATCH_SKIPS_COMPACTED in self.bugs and compacted:
                    start = compacted
                    continue
                yield {"type": "ERROR", "object": errors.status(
                    410, "Expired", f"too old resource version: {start - 1} ({compacted})")}
                return
            except KVError as exc:
                yield {"type": "ERROR", "object": etcd_error(exc).status}
                return
            finally:
                if ticker is not None:
                    ticker.cancel()

    async def _cache_may_serve(self, start: int) -> bool:
        """Whether the watch cache may serve a watch from ``start``: it holds the events, and
        etcd has not compacted them away (a watch that etcd would end with 410 Expired goes
        to etcd; so does one whose member does not answer), which a read of the member at
        ``start`` tells (no read for a watch from after the cache's revision)."""
        cache = self.cache
        if start > cache.revision:
            return True
        try:
            await self.etcd.get(self.prefix.encode(), revision=start, limit=1, serializable=True, keys_only=True)
        except KVError:
            return False
        return bool(cache.serves(start))

    async def _watch_cached(self, prefix: bytes, start: int, matches: Callable[[dict[str, Any]], bool], field_selector: str,
                            bookmarks: bool, bookmark_interval_s: float) -> AsyncIterator[dict[str, Any]]:
        """A watch served from the apiserver's watch cache (indexed by the strategy's
        ``watch_index`` field when the field selector asks for one value of it)."""
        cache = self.cache
        index_value = None
        if self.strategy.watch_index:
            _labels, fields = self.selectors("", field_selector)
            index_value = next((v for f, op, v in fields.requirements
                                if f == self.strategy.watch_index and op == "="), None)
        watcher = cache.watch(self.prefix.encode(), prefix, start, index_value)
        ticker = None
        try:
            if bookmarks:
                ticker = self.rt.spawn(self._cache_bookmarks(watcher, bookmark_interval_s), name="bookmarks")
            while True:
                item = await watcher.queue.get()
                if item is None:  # the cache listed again: the client resumes from what it saw
                    return
                if item[0] == "bookmark":  # (a cache behind this watch's start: at the start)
                    yield {"type": "BOOKMARK", "object": self._bookmark(max(item[1], start - 1))}
                    continue
                rev, _key, value, prev_value = item
                out = self._change(rev, value, prev_value, matches)
                if out is not None:
                    yield out
        finally:
            if ticker is not None:
                ticker.cancel()
            cache.unwatch(watcher)

    async def _cache_bookmarks(self, watcher: Any, interval_s: float) -> None:
        while True:
            await self.rt.sleep(interval_s)
            self.cache.bookmark(watcher)

    async def _ask_progress(self, stream: Any, interval_s: float) -> None:
        while True:
            await self.rt.sleep(interval_s)
            stream.request_progress()

    def _bookmark(self, revision: int) -> dict[str, Any]:
        s = self.strategy
        return {"kind": s.kind, "apiVersion": s.api_version, "metadata": {"resourceVersion": str(revision)}}

    def _event(self, ev: Any, matches: Callable[[dict[str, Any]], bool]) -> dict[str, Any] | None:
        return self._change(ev.kv.mod_revision, None if ev.type.name == "DELETE" else ev.kv.value,
                            ev.prev_kv.value if ev.prev_kv is not None else None, matches)

    def _change(self, rev: int, value: bytes | None, prev_value: bytes | None,
                matches: Callable[[dict[str, Any]], bool]) -> dict[str, Any] | None:
        """The watch event of a change at ``rev`` (``value`` None: a delete), if it concerns
        the watcher: ADDED/MODIFIED/DELETED as the object enters, stays in or leaves its
        selection."""
        prev = decode(prev_value, rev) if prev_value is not None else None
        if value is None:
            if prev is None or not matches(prev):
                return None
            return {"type": "DELETED", "object": prev}
        obj = decode(value, rev)
        now, before = matches(obj), prev is not None and matches(prev)
        if now:
            return {"type": "MODIFIED" if before else "ADDED", "object": obj}
        if before:
            return {"type": "DELETED", "object": obj}
        return None
