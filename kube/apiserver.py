"""The apiserver: a request handler independent of HTTP, over the generic store.

``await server.handle(Request(verb=, resource=, namespace=, name=, query=, body=))``
returns a :class:`Response`: a status and a JSON body (an object, a list, or a
``Status`` for errors), or for ``watch`` a stream of watch events (``{"type",
"object"}`` dicts).  The simulator's transport (:mod:`kube.transport`) and an HTTP
server serve the same handler.

Verbs: ``get``, ``list``, ``watch``, ``create``, ``update``, ``patch`` (JSON merge
patch by default, or the ``patch_type`` of :mod:`kube.patch`, or server-side apply:
:mod:`kube.fieldmanager`, which also records the ``fieldManager`` of every write that
names one), ``delete``; ``subresource="status"`` for get/update/patch; ``create`` of
``pods/<name>/binding`` (a ``Binding``) binds a pod to a node, once.  Query parameters
are kube-apiserver's: ``resourceVersion``, ``resourceVersionMatch``, ``limit``,
``continue``, ``labelSelector``, ``fieldSelector``, ``allowWatchBookmarks``,
``timeoutSeconds``, ``dryRun=All`` (create, update, patch, delete, scale and binding are
checked and answered, not stored); delete reads ``DeleteOptions`` from the body
(preconditions, ``propagationPolicy``, ``gracePeriodSeconds``, ``dryRun``).  A create in a
namespace being deleted is 403 Forbidden.  A write with
``fence=<ns>/<lease>:<holder>:<transitions>`` lands only while that Lease names that holder
and term (:mod:`kube.fencing`; 403 otherwise).

:func:`compact_periodically` is kube-apiserver's compactor: several apiservers agree,
through the version of ``compact_rev_key``, on one compaction per interval, each one at
the revision seen an interval earlier.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any

import attrs

from raftkv.client import AsyncEtcdClient, KVError, Txn, txn
from raftkv.tasks import Runtime, join_all

from . import errors, fieldmanager
from .fencing import FENCE_PARAM, WRITE_VERBS, LeaseGuard, guard_of
from .fieldmanager import APPLY_PATCH
from .meta import format_timestamp
from .patch import MERGE_PATCH, apply_patch
from .registry import STRATEGIES, Store, WatchCache
from .registry.allocator import NODE_PORT_RANGE, ServiceAllocator
from .registry.store import Guard, etcd_error, parse_rv

__all__ = ["SCALABLE", "VERBS", "ApiServer", "Request", "Response", "close", "compact_periodically", "scale_of"]

VERBS = ("get", "list", "watch", "create", "update", "patch", "delete")
#: resources with a ``scale`` subresource (``autoscaling/v1`` Scale over ``spec.replicas``)
SCALABLE = frozenset({"deployments", "replicasets", "statefulsets"})


@attrs.frozen(kw_only=True)
class Request:
    verb: str
    resource: str
    namespace: str = ""
    name: str = ""
    subresource: str = ""
    query: tuple[tuple[str, str], ...] = ()
    body: Any = None  # a JSON value, or its text/bytes
    patch_type: str = MERGE_PATCH  # a PATCH body's content type (kube.patch.PATCH_TYPES)

    def param(self, name: str) -> str | None:
        for key, value in self.query:
            if key == name:
                return value
        return None


@attrs.frozen(kw_only=True)
class Response:
    status: int
    body: Any = None
    watch: AsyncIterator[dict[str, Any]] | None = attrs.field(default=None, eq=False)


def _json_body(body: Any) -> Any:
    if isinstance(body, bytes | str):
        try:
            return json.loads(body)
        except ValueError as exc:
            raise errors.bad_request(f"the body is not JSON: {exc}") from None
    return body


def _int_param(req: Request, name: str, default: int = 0) -> int:
    raw = req.param(name)
    if raw in (None, ""):
        return default
    try:
        return int(raw)
    except ValueError:
        raise errors.bad_request(f"{name} must be an integer, got {raw!r}") from None


def _dry_run(req: Request) -> bool:
    """``dryRun=All``: validate and answer, store nothing (the only value kube-apiserver knows)."""
    values = [v for k, v in req.query if k == "dryRun"]
    for value in values:
        if value != "All":
            raise errors.bad_request(f'unsupported dryRun value {value!r} (supported: "All")')
    return bool(values)


def _bool_param(req: Request, name: str) -> bool:
    return (req.param(name) or "").lower() in ("true", "1")


class ApiServer:
    """One apiserver (any number may share a store, as HA kube-apiservers do)."""

    def __init__(self, rt: Runtime, etcd: AsyncEtcdClient, *, bugs: frozenset[str] = frozenset(),
                 watch_cache: bool = True, bookmark_interval_s: float = 1.0,
                 on_write: Callable[[Request, Response, int], None] | None = None,
                 service_cidr: str = "10.96.0.0/12", node_port_range: tuple[int, int] = NODE_PORT_RANGE) -> None:
        """``on_write(request, response, fenced_revision)`` sees every write that succeeded
        (a test's ground truth of what landed, whether or not its client heard the answer);
        ``fenced_revision``: for a fenced write (:mod:`kube.fencing`), the store revision at
        which its fence was last confirmed (its own revision, or for a write that changed
        nothing the revision its check saw), else 0."""
        self.rt = rt
        self.on_write = on_write
        self.etcd = etcd
        self.cache = WatchCache(rt, etcd) if watch_cache else None
        self.bookmark_interval_s = bookmark_interval_s
        self.stores: dict[str, Store] = {name: Store(rt, etcd, s, bugs=bugs, cache=self.cache)
                                         for name, s in STRATEGIES.items()}
        self.requests = 0
        self.services = ServiceAllocator(rt, etcd, service_cidr=service_cidr, node_ports=node_port_range, bugs=bugs)

    async def run(self, *, compact_interval_s: float | None = None, repair_interval_s: float | None = None) -> None:
        """The apiserver's background work: the watch cache and the compactor."""
        tasks = []
        if self.cache is not None:
            tasks.append(self.rt.spawn(self.cache.run(), name="watch-cache"))
        if compact_interval_s:
            tasks.append(self.rt.spawn(compact_periodically(self.rt, self.etcd, compact_interval_s),
                                       name="compactor"))
        if repair_interval_s:
            tasks.append(self.rt.spawn(self._repair_services(repair_interval_s), name="service-repair"))
        await join_all(tasks)

    async def handle(self, req: Request) -> Response:
        """Serve one request; failures come back as a Status with their code."""
        self.requests += 1
        try:
            store = self._store_for(req)
            guard = guard_of(req.verb, req.param(FENCE_PARAM), self.stores["leases"])
            resp = await self._handle(req, store, guard)
            if self.on_write is not None and resp.status < 300 and req.verb in WRITE_VERBS:
                self.on_write(req, resp, guard.revision if guard is not None else 0)
            return resp
        except errors.ApiError as exc:
            return Response(status=exc.code, body=exc.status)
        except KVError as exc:
            err = etcd_error(exc)
            return Response(status=err.code, body=err.status)

    def _store_for(self, req: Request) -> Store:
        store = self.stores.get(req.resource)
        if store is None:
            raise errors.ApiError(errors.status(404, "NotFound",
                                                f"the server could not find the requested resource ({req.resource})"))
        if req.verb not in VERBS:
            raise errors.ApiError(errors.status(405, "MethodNotAllowed", f"verb {req.verb!r} is not supported"))
        return store

    async def _handle(self, req: Request, store: Store, guard: LeaseGuard | None) -> Response:
        if req.resource == "pods" and req.subresource == "binding" and req.verb == "create":
            return Response(status=201, body=await self._bind(store, req, guard))
        if req.subresource == "scale" and req.resource in SCALABLE and req.verb in ("get", "update", "patch"):
            if not req.name:
                raise errors.bad_request(f"{req.verb} needs the name of the object")
            return Response(status=200, body=await self._scale(store, req, guard))
        if req.subresource and (req.subresource != "status" or not store.strategy.status_subresource
                                or req.verb not in ("get", "update", "patch")):
            raise errors.not_found(f"{req.resource}/{req.subresource}", req.name)
        needs_name = req.verb in ("get", "update", "patch", "delete")
        if needs_name and not req.name:
            raise errors.bad_request(f"{req.verb} needs the name of the object")
        ns = req.namespace
        dry_run = _dry_run(req)
        manager = req.param("fieldManager") or ""
        if req.verb == "patch" and req.patch_type == APPLY_PATCH:
            return await self._apply(store, req, dry_run)
        if req.verb == "get":
            return Response(status=200, body=await store.get(ns, req.name))
        if req.verb == "create":
            await self._refuse_terminating_namespace(store, ns)
        if req.verb == "create" and req.resource == "services" and not dry_run:  # (a dry run allocates nothing)
            return Response(status=201, body=await self._create_service(store, ns, _json_body(req.body),
                                                                        field_manager=manager, guard=guard))
        if req.verb == "create":
            return Response(status=201, body=await store.create(ns, _json_body(req.body), dry_run=dry_run,
                                                                field_manager=manager, guard=guard))
        if (req.verb in ("update", "patch") and req.resource == "services" and not req.subresource
                and not dry_run):
            return Response(status=200, body=await self._update_service(store, req, field_manager=manager,
                                                                         guard=guard))
        if req.verb == "update":
            return Response(status=200, body=await store.update(ns, req.name, _json_body(req.body),
                                                              subresource=req.subresource, dry_run=dry_run,
                                                              field_manager=manager, guard=guard))
        if req.verb == "patch":
            return Response(status=200, body=await store.patch(ns, req.name, _json_body(req.body),
                                                             subresource=req.subresource,
                                                             patch_type=req.patch_type, dry_run=dry_run,
                                                             field_manager=manager, guard=guard))
        if req.verb == "delete":
            deleted = await self._delete(store, req, dry_run, guard)
            if req.resource == "services" and not dry_run and not deleted["metadata"].get("finalizers"):
                await self.services.release(deleted)
            return Response(status=200, body=deleted)
        if req.verb == "list":
            return Response(status=200, body=await self._list(store, req))
        return self._watch(store, req)

    async def _create_service(self, store: Store, namespace: str, body: Any, *, field_manager: str = "",
                              guard: Guard | None = None) -> dict[str, Any]:
        """Allocate the Service's ClusterIP and NodePorts, then store it; a create that
        surely failed gives them back (one of unknown outcome leaves them to the repair)."""
        if not isinstance(body, dict):
            raise errors.bad_request("the body of a Service must be a JSON object")
        body = json.loads(json.dumps(body))
        store.strategy.defaults(body)
        taken = await self.services.allocate(body)
        try:
            return await store.create(namespace, body, field_manager=field_manager, guard=guard)
        except errors.ApiError as exc:
            if not exc.unknown:
                await self.services.release_taken(taken)
            raise

    async def _update_service(self, store: Store, req: Request, *, field_manager: str = "",
                              guard: Guard | None = None) -> dict[str, Any]:
        """An update or patch of a Service, as an update at the revision read: NodePorts a
        new type needs are allocated first (given back if the write fails), the ones it no
        longer needs are released after it succeeded."""
        old = await store.get(req.namespace, req.name)
        body = _json_body(req.body)
        new = body if req.verb == "update" else apply_patch(old, body, req.patch_type)
        if not isinstance(new, dict):
            raise errors.bad_request("the body of a Service must be a JSON object")
        new = json.loads(json.dumps(new))
        meta = new.setdefault("metadata", {})
        if isinstance(meta, dict) and not meta.get("resourceVersion"):
            meta["resourceVersion"] = old["metadata"]["resourceVersion"]
        taken = await self.services.allocate_for_update(new, old)
        try:
            out = await store.update(req.namespace, req.name, new, field_manager=field_manager, guard=guard)
        except errors.ApiError as exc:
            if not exc.unknown:
                await self.services.release_taken(taken)
            raise
        await self.services.release_unused(old, out)
        return out

    async def _repair_services(self, interval_s: float) -> None:
        """kube-apiserver's ClusterIP and NodePort repair loops, one pass per interval."""
        while True:
            await self.rt.sleep(interval_s)
            try:
                listed = await self.stores["services"].list("")
                await self.services.repair(listed.items)
            except (errors.ApiError, KVError) as exc:
                self.rt.record("service_repair.failed", error=str(exc))

    async def _bind(self, store: Store, req: Request, guard: Guard | None = None) -> dict[str, Any]:
        """``POST pods/<name>/binding``: set ``spec.nodeName`` of a pod not yet bound (409
        Conflict when it is, or is being deleted); ``metadata.uid`` and
        ``metadata.resourceVersion`` of the Binding are preconditions."""
        body = _json_body(req.body)
        if not isinstance(body, Mapping):
            raise errors.bad_request("a Binding must be a JSON object")
        target = body.get("target") or {}
        node = target.get("name") if isinstance(target, Mapping) else None
        if not node or not isinstance(node, str) or (target.get("kind") or "Node") != "Node":
            raise errors.invalid("Binding", req.name, [("target.name", "FieldValueRequired", "Required value")])
        meta = body.get("metadata") or {}
        rv = meta.get("resourceVersion")

        def bind(pod: dict[str, Any]) -> dict[str, Any]:
            bound = pod.get("spec", {}).get("nodeName")
            if bound:
                raise errors.conflict("pods/binding", req.name, f"pod {req.name} is already assigned to node {bound!r}")
            if pod["metadata"].get("deletionTimestamp"):
                raise errors.conflict("pods/binding", req.name, f"pod {req.name} is being deleted")
            pod["spec"]["nodeName"] = node
            conditions = [c for c in pod.setdefault("status", {}).get("conditions", ()) if c.get("type") != "PodScheduled"]
            pod["status"]["conditions"] = [*conditions, {"type": "PodScheduled", "status": "True"}]
            return pod
        bound = await store.guaranteed_update(req.namespace, req.name, bind, precondition_uid=str(meta.get("uid") or ""),
                                              precondition_rv=parse_rv(rv) if rv else 0, dry_run=_dry_run(req),
                                              guard=guard)
        return {"apiVersion": "v1", "kind": "Status", "status": "Success", "code": 201,
                "metadata": {"resourceVersion": bound["metadata"]["resourceVersion"]}}

    async def _scale(self, store: Store, req: Request, guard: Guard | None = None) -> dict[str, Any]:
        """The scale subresource: read or set ``spec.replicas`` through a Scale object."""
        if req.verb == "get":
            return scale_of(await store.get(req.namespace, req.name))
        body = _json_body(req.body)
        rv = 0
        if req.verb == "update":
            if not isinstance(body, Mapping):
                raise errors.bad_request("the body of a Scale must be a JSON object")
            meta = body.get("metadata")
            rv_text = meta.get("resourceVersion") if isinstance(meta, Mapping) else None
            rv = parse_rv(rv_text) if rv_text else 0

        def rescale(old: dict[str, Any]) -> dict[str, Any]:
            scale = body if req.verb == "update" else apply_patch(scale_of(old), body, req.patch_type)
            replicas = (scale.get("spec") or {}).get("replicas") if isinstance(scale, Mapping) else None
            if not isinstance(replicas, int) or isinstance(replicas, bool) or replicas < 0:
                raise errors.invalid("Scale", req.name, [("spec.replicas", "FieldValueInvalid",
                                                          f"Invalid value: {replicas!r}: must be greater "
                                                          "than or equal to 0")])
            new = {**old, "spec": {**old.get("spec", {}), "replicas": replicas}}
            return store._updater(new, "", req.param("fieldManager") or "", tracked_as="scale")(old)
        return scale_of(await store.guaranteed_update(req.namespace, req.name, rescale, precondition_rv=rv,
                                                      dry_run=_dry_run(req), guard=guard))

    async def _apply(self, store: Store, req: Request, dry_run: bool) -> Response:
        """Server-side apply (:mod:`kube.fieldmanager`): create the object, or merge the
        configuration into it, as ``fieldManager``'s; ``force=true`` takes conflicting fields."""
        manager = req.param("fieldManager") or ""
        if not manager:
            raise errors.bad_request("fieldManager is required for apply requests")
        if req.subresource:
            raise errors.bad_request(f"server-side apply of the {req.subresource} subresource is not supported")
        config = _json_body(req.body)
        s = store.strategy
        if not isinstance(config, Mapping) or not isinstance(config.get("metadata", {}), Mapping):
            raise errors.bad_request("an applied configuration must be an object")
        if config.get("kind") != s.kind or config.get("apiVersion") != s.api_version:
            raise errors.bad_request(f"an applied configuration of {req.resource} must have apiVersion "
                                     f"{s.api_version!r} and kind {s.kind!r}")
        config = {**config, "metadata": {**config.get("metadata", {}), "name": req.name}}
        if s.namespaced:
            config["metadata"]["namespace"] = req.namespace
        force = _bool_param(req, "force")
        now = format_timestamp(self.rt.now_us())
        for _attempt in range(3):
            try:
                await store.get(req.namespace, req.name)
            except errors.ApiError as exc:
                if exc.code != 404:
                    raise
                created = fieldmanager.apply(None, config, manager=manager, force=force, now=now)
                try:
                    return Response(status=201, body=await store.create(req.namespace, created, dry_run=dry_run))
                except errors.ApiError as again:
                    if again.code != 409 or (again.status.get("reason") != "AlreadyExists"):
                        raise
                    continue  # created meanwhile: apply to it

            def merge(old: dict[str, Any]) -> dict[str, Any]:
                live = {k: v for k, v in old.items() if k != "status"}
                new = fieldmanager.apply(live, config, manager=manager, force=force, now=now)
                if "status" in old:
                    new["status"] = old["status"]
                return store._updater(new, "")(old)
            try:
                return Response(status=200, body=await store.guaranteed_update(req.namespace, req.name, merge,
                                                                                dry_run=dry_run))
            except errors.ApiError as exc:
                if exc.code != 404:
                    raise
        raise errors.conflict(req.resource, req.name, "the object was created and deleted meanwhile; try again")

    async def _delete(self, store: Store, req: Request, dry_run: bool, guard: Guard | None = None) -> dict[str, Any]:
        opts = _json_body(req.body) or {}
        if not isinstance(opts, Mapping):
            raise errors.bad_request("DeleteOptions must be a JSON object")
        pre = opts.get("preconditions") or {}
        rv = pre.get("resourceVersion")
        grace = opts.get("gracePeriodSeconds")
        if grace is None and req.param("gracePeriodSeconds") not in (None, ""):
            grace = _int_param(req, "gracePeriodSeconds")
        if grace is not None and (not isinstance(grace, int) or isinstance(grace, bool)):
            raise errors.bad_request(f"gracePeriodSeconds must be an integer, got {grace!r}")
        policy = opts.get("propagationPolicy") or req.param("propagationPolicy") or ""
        return await store.delete(req.namespace, req.name, precondition_uid=str(pre.get("uid") or ""),
                                  precondition_rv=parse_rv(rv) if rv else 0,
                                  propagation_policy=str(policy), grace_period_s=grace,
                                  dry_run=dry_run or opts.get("dryRun") == ["All"], guard=guard)

    async def _refuse_terminating_namespace(self, store: Store, namespace: str) -> None:
        """kube-apiserver's NamespaceLifecycle admission: no new object in a namespace
        being deleted (403 Forbidden).  The watch cache answers; a namespace it does not
        hold is read from the store (it may be newer than the cache)."""
        if not store.strategy.namespaced or not namespace or store.strategy.resource == "namespaces":
            return
        ns_store = self.stores["namespaces"]
        key = ns_store.key("", namespace)
        cached = self.cache.objects.get(key) if self.cache is not None and self.cache.synced else None
        if cached is not None:
            obj: dict[str, Any] | None = json.loads(cached[0])
        else:
            got = await ns_store._read(key)
            obj = got[0] if got is not None else None
        if obj is not None and obj["metadata"].get("deletionTimestamp"):
            raise errors.forbidden(store.strategy.resource, f"unable to create new content in namespace "
                                                            f"{namespace} because it is being terminated")

    async def _list(self, store: Store, req: Request) -> dict[str, Any]:
        match = req.param("resourceVersionMatch") or ""
        if match not in ("", "Exact", "NotOlderThan"):
            raise errors.bad_request(f"unsupported resourceVersionMatch {match!r}")
        rv = req.param("resourceVersion")
        if match and rv in (None, ""):
            raise errors.bad_request("resourceVersionMatch is forbidden unless resourceVersion is provided")
        result = await store.list(req.namespace, resource_version=rv, limit=_int_param(req, "limit"),
                                  continue_=req.param("continue") or "",
                                  label_selector=req.param("labelSelector") or "",
                                  field_selector=req.param("fieldSelector") or "", exact=match == "Exact")
        s = store.strategy
        meta: dict[str, str] = {"resourceVersion": str(result.resource_version)}
        if result.continue_:
            meta["continue"] = result.continue_
        return {"apiVersion": s.api_version, "kind": f"{s.kind}List", "metadata": meta, "items": result.items}

    def _watch(self, store: Store, req: Request) -> Response:
        timeout_s = _int_param(req, "timeoutSeconds", 0)
        store.selectors(req.param("labelSelector") or "", req.param("fieldSelector") or "")  # 400 now
        rv = req.param("resourceVersion")
        if rv not in (None, "", "0"):
            parse_rv(rv)
        events = store.watch(req.namespace, resource_version=rv,
                             label_selector=req.param("labelSelector") or "",
                             field_selector=req.param("fieldSelector") or "",
                             bookmarks=_bool_param(req, "allowWatchBookmarks"),
                             bookmark_interval_s=self.bookmark_interval_s)
        return Response(status=200, watch=_until(self.rt, events, timeout_s) if timeout_s > 0 else events)


def scale_of(obj: dict[str, Any]) -> dict[str, Any]:
    """The ``autoscaling/v1`` Scale of a Deployment, ReplicaSet or StatefulSet."""
    meta = obj.get("metadata", {})
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    match = (spec.get("selector") or {}).get("matchLabels") or {}
    return {"kind": "Scale", "apiVersion": "autoscaling/v1",
            "metadata": {k: meta[k] for k in ("name", "namespace", "uid", "resourceVersion", "creationTimestamp")
                         if k in meta},
            "spec": {"replicas": spec.get("replicas", 0)},
            "status": {"replicas": status.get("replicas", 0),
                       "selector": ",".join(f"{k}={v}" for k, v in sorted(match.items()))}}


async def _until(rt: Runtime, events: AsyncIterator[dict[str, Any]], timeout_s: int) -> AsyncIterator[dict[str, Any]]:
    """``events`` until ``timeout_s`` passed (the server ends a watch at its timeout)."""
    deadline = rt.monotonic_us() + timeout_s * 1_000_000
    try:
        while True:
            left = deadline - rt.monotonic_us()
            if left <= 0:
                return
            with rt.move_on_after(left / 1e6) as scope:
                event = await events.__anext__()
            if scope.cancelled_caught:
                return
            yield event
    except StopAsyncIteration:
        return
    except GeneratorExit:  # discarded while suspended: nothing may be awaited
        raise
    except BaseException:
        await close(events)
        raise
    else:
        await close(events)


async def close(events: AsyncIterator[dict[str, Any]]) -> None:
    """Close an async generator of events (a no-op once it has ended)."""
    aclose = getattr(events, "aclose", None)
    if aclose is not None:
        await aclose()


COMPACT_KEY = b"compact_rev_key"


async def compact_periodically(rt: Runtime, etcd: AsyncEtcdClient, interval_s: float) -> None:
    """kube-apiserver's compactor (``storage/etcd3/compact.go``), forever.

    Every ``interval_s``: ``txn(version(compact_rev_key) == seen -> put compact_rev_key)``;
    the apiserver whose txn succeeds compacts at the revision it saw one interval ago,
    so a watcher has at least an interval to catch up.  Others learn the key's version.
    """
    seen_version, last_rev = 0, 0
    while True:
        await rt.sleep(interval_s)
        try:
            request = (Txn().when(txn.version(COMPACT_KEY) == seen_version)
                       .then(txn.put(COMPACT_KEY, str(rt.now_us()).encode()))
                       .otherwise(txn.get(COMPACT_KEY)).build())
            resp = await etcd.txn(request)
            current = resp.header.revision
            if not resp.succeeded:
                kvs = getattr(resp.responses[0], "kvs", ())
                seen_version = kvs[0].version if kvs else 0
                last_rev = current
                continue
            seen_version += 1
            if last_rev:
                await etcd.compact(last_rev)
                rt.record("apiserver.compacted", revision=last_rev)
            last_rev = current
        except KVError as exc:
            rt.record("apiserver.compact_retry", error=str(exc))
