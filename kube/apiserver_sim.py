"""The ``apiserver`` system: kube-apiservers on a simulated raftkv cluster, with clients
and informers talking to them over the simulated network.

Registered in :data:`raftkv.sim.SYSTEM_BUILDERS` (``Scenario(system="apiserver",
apiserver=ApiserverSpec(...))``).  Beside the members (the kv system's, no etcd workload):

* apiservers ``a1..``: each an :class:`~kube.apiserver.ApiServer` whose etcd client
  starts at its own member (``a1`` at ``n1``...), with a watch cache and the compactor;
* clients ``k1..``: each runs object operations on ConfigMaps ``cm-0..`` in namespace
  ``default`` (create, get, update with the resourceVersion precondition, merge patch,
  delete, quorum lists, paged lists) and read-modify-write increments of ConfigMap
  ``counter`` (retried on 409 Conflict), recording a history;
* informers ``f1..``: ConfigMap informers, whose lists and watches are recorded.

Checked after the run (``apiserver.*``):

* ``apiserver.linearizability``: the object operations (quorum and paged lists
  included, as reads of every object) are linearizable (:class:`raftkv.check.KubeObjectModel`);
* ``apiserver.lost_update``: the counter holds at least the acknowledged increments and at
  most those plus the ones whose outcome is unknown;
* ``apiserver.watch``: each informer's watches, read as etcd watches (ordered, unique,
  reliable, resumable from the last resourceVersion or bookmark): every change of each
  object in order, once, with no gap (a 410 starts a new list and a new watch);
* ``apiserver.paged_list``: each paged list is one snapshot;
* ``apiserver.informer``: once quiet, each informer's cache equals the store;
* ``apiserver.task_error``: a component task died of an exception.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any, Literal

from raftkv.check import (
    History,
    HistoryBuilder,
    KubeObjectModel,
    PagedList,
    WatchEvent,
    check_linearizable,
    check_paged_lists,
    check_watches,
    make_history,
)
from raftkv.sim import (
    SYSTEM_BUILDERS,
    Scenario,
    SimRuntime,
    TaskHost,
    Violation,
    World,
    task_errors,
)
from raftkv.sim.scenario import apiserver_nodes

from .apiserver import ApiServer
from .client import KubeClient
from .errors import ApiError
from .informer import Informer
from .transport import ApiServerEndpoint, SimTransport

__all__ = ["ApiserverSystem"]

NS = "default"
RESOURCE = "configmaps"
COUNTER = "counter"
_PREFIX = b"/registry/configmaps/"
_MIX = (("create", 3), ("get", 3), ("update", 4), ("patch", 2), ("delete", 1), ("list", 2), ("paged_list", 2),
        ("increment", 4))


def _content(obj: dict[str, Any] | None) -> Any:
    return None if obj is None else tuple(sorted((obj.get("data") or {}).items()))


def _hkey(name: str) -> str:
    return f"{RESOURCE}/{NS}/{name}"


class _Recorder:
    """An informer's watch observer writing etcd-style watch records."""

    def __init__(self, system: ApiserverSystem, node: str, incarnation: int) -> None:
        self.s = system
        self.node = node
        self.incarnation = incarnation
        self.watch_id = ""
        self.lists = 0

    def listed(self, resource_version: int, items: list[dict[str, Any]]) -> None:
        self.lists += 1
        self.watch_id = f"{self.node}#{self.incarnation}.{self.lists}"

    def watch_opened(self, resource_version: int, resumed: bool) -> None:
        self.s.watch_rec.watch_open(self.node, self.watch_id, f"{RESOURCE}/{NS}/", range_end=f"{RESOURCE}/{NS}0",
                                    start_revision=resource_version + 1, resumed=resumed,
                                    time_us=self.s.world.now_us)

    def event(self, event: dict[str, Any]) -> None:
        obj = event["object"]
        rv = int(obj["metadata"]["resourceVersion"])
        now = self.s.world.now_us
        if event["type"] == "BOOKMARK":
            self.s.watch_rec.watch_response(self.node, self.watch_id, rv, progress_notify=True, time_us=now)
            return
        typ: Literal["PUT", "DELETE"] = "DELETE" if event["type"] == "DELETED" else "PUT"
        ev = WatchEvent(type=typ, key=_hkey(obj["metadata"]["name"]),
                        value=_content(obj) if typ == "PUT" else None, mod_revision=rv)
        self.s.watch_rec.watch_response(self.node, self.watch_id, rv, (ev,), time_us=now)


class ApiserverSystem:
    def __init__(self, scenario: Scenario, world: World) -> None:
        self.scenario = scenario
        self.world = world
        self.kv: Any = SYSTEM_BUILDERS["kv"](scenario, world)
        self.membership = self.kv.membership
        self.spec = scenario.apiserver
        self.bugs = frozenset(scenario.bugs)
        nodes = apiserver_nodes(scenario)
        self.apiservers = tuple(n for n in nodes if n.startswith("a"))
        self.clients = tuple(n for n in nodes if n.startswith("k"))
        self.informer_nodes = tuple(n for n in nodes if n.startswith("f"))
        self.names = tuple(f"cm-{i}" for i in range(self.spec.objects))
        self.rec = HistoryBuilder()
        self.watch_rec = HistoryBuilder()
        self.paged: list[PagedList] = []
        self.informers: dict[str, Informer] = {}
        self.incarnations: dict[str, int] = {}
        self.busy: dict[str, bool] = {}
        self.acked = 0
        self.unknown = 0
        self.quiet = False

    # ------------------------------------------------------------------ components
    async def _apiserver(self, rt: SimRuntime) -> None:
        members = self.kv.client_members()
        own = members[self.apiservers.index(rt.node_id) % len(members)]
        etcd = rt.etcd_client((own, *(m for m in members if m != own)), config=self.kv.client_config,
                              bugs=self.bugs)
        server = ApiServer(rt, etcd, bugs=self.bugs)
        rt.add_handler(ApiServerEndpoint(rt, server))
        await server.run(compact_interval_s=self.spec.compact_interval_us / 1e6)

    def _transport(self, rt: SimRuntime) -> SimTransport:
        i = int(rt.node_id[1:])
        order = self.apiservers[i % len(self.apiservers):] + self.apiservers[:i % len(self.apiservers)]
        return SimTransport(rt, order)

    async def _informer(self, rt: SimRuntime) -> None:
        node = rt.node_id
        self.incarnations[node] = self.incarnations.get(node, 0) + 1
        informer = Informer(rt, KubeClient(self._transport(rt)), RESOURCE, NS,
                            observer=_Recorder(self, node, self.incarnations[node]))
        self.informers[node] = informer
        await informer.run()

    async def _client(self, rt: SimRuntime) -> None:
        node = rt.node_id
        client = KubeClient(self._transport(rt))
        rng = rt.random()
        ops = [name for name, _w in _MIX]
        weights = [w for _n, w in _MIX]
        self.busy[node] = False
        seq = 0
        while not self.quiet:
            await rt.sleep(rng.expovariate(max(self.spec.ops_per_s, 1e-3)))
            if self.quiet:
                break
            seq += 1
            self.busy[node] = True
            try:
                op = rng.choices(ops, weights)[0]
                name = rng.choice(self.names)
                await getattr(self, f"_op_{op}")(rt, client, name, f"{node}.{seq}")
            finally:
                self.busy[node] = False

    # ------------------------------------------------------------------ operations
    def _start(self, rt: SimRuntime, f: str, name: str, value: Any = None) -> None:
        self.rec.invoke(rt.node_id, f, _hkey(name), value, time_us=self.world.now_us)

    def _end(self, rt: SimRuntime, f: str, name: str, value: Any, err: ApiError | None = None,
             **fields: Any) -> None:
        now = self.world.now_us
        if err is None:
            self.rec.ok(rt.node_id, f, _hkey(name), value, time_us=now, **fields)
        elif err.unknown:
            self.rec.info(rt.node_id, f, _hkey(name), value, time_us=now, error=err.reason)
        elif err.code == 404:
            self.rec.ok(rt.node_id, f, _hkey(name), None if f == "get" else value, time_us=now, deleted=0)
        elif err.code == 409:
            self.rec.ok(rt.node_id, f, _hkey(name), value, time_us=now, succeeded=False, error=err.reason)
        else:  # certainly not applied (400, 410, 503...)
            self.rec.fail(rt.node_id, f, _hkey(name), value, time_us=now, error=err.reason)

    async def _get(self, rt: SimRuntime, client: KubeClient, name: str) -> dict[str, Any] | None:
        self._start(rt, "get", name)
        try:
            obj = await client.get(RESOURCE, name, NS)
        except ApiError as err:
            self._end(rt, "get", name, None, err)
            return None
        self._end(rt, "get", name, _content(obj), mod_revision=int(obj["metadata"]["resourceVersion"]))
        return obj

    async def _op_get(self, rt: SimRuntime, client: KubeClient, name: str, tag: str) -> None:
        await self._get(rt, client, name)

    async def _create(self, rt: SimRuntime, client: KubeClient, name: str, data: dict[str, Any]) -> ApiError | None:
        value = _content({"data": data})
        self._start(rt, "create", name, value)
        try:
            obj = await client.create(RESOURCE, {"apiVersion": "v1", "kind": "ConfigMap",
                                                 "metadata": {"name": name, "namespace": NS}, "data": data})
        except ApiError as err:
            self._end(rt, "create", name, value, err)
            return err
        self._end(rt, "create", name, value, revision=int(obj["metadata"]["resourceVersion"]))
        return None

    async def _op_create(self, rt: SimRuntime, client: KubeClient, name: str, tag: str) -> None:
        await self._create(rt, client, name, {"v": tag})

    async def _update(self, rt: SimRuntime, client: KubeClient, name: str, obj: dict[str, Any], data: dict[str, Any]) -> str:
        """PUT with obj's resourceVersion: "ok", "conflict", "gone", "unknown" or "failed"."""
        rv = int(obj["metadata"]["resourceVersion"])
        value = (rv, _content({"data": data}))
        self._start(rt, "update", name, value)
        try:
            new = await client.update(RESOURCE, {**obj, "data": data})
        except ApiError as err:
            self._end(rt, "update", name, value, err)
            return ("unknown" if err.unknown else "conflict" if err.code == 409 else
                    "gone" if err.code == 404 else "failed")
        self._end(rt, "update", name, value, revision=int(new["metadata"]["resourceVersion"]))
        return "ok"

    async def _op_update(self, rt: SimRuntime, client: KubeClient, name: str, tag: str) -> None:
        obj = await self._get(rt, client, name)
        if obj is not None:
            await self._update(rt, client, name, obj, {**(obj.get("data") or {}), "v": tag})

    async def _op_patch(self, rt: SimRuntime, client: KubeClient, name: str, tag: str) -> None:
        value = (("p", tag),)
        self._start(rt, "patch", name, value)
        try:
            obj = await client.patch(RESOURCE, name, {"data": {"p": tag}}, NS)
        except ApiError as err:
            self._end(rt, "patch", name, value, err)
            return
        self._end(rt, "patch", name, value, revision=int(obj["metadata"]["resourceVersion"]))

    async def _op_delete(self, rt: SimRuntime, client: KubeClient, name: str, tag: str) -> None:
        self._start(rt, "delete", name)
        try:
            obj = await client.delete(RESOURCE, name, NS)
        except ApiError as err:
            self._end(rt, "delete", name, None, err)
            return
        self._end(rt, "delete", name, None, deleted=1, revision=int(obj["metadata"]["resourceVersion"]))

    def _list_started(self, rt: SimRuntime) -> None:
        """A consistent list is a read of every object at one point: one get each."""
        for name in (*self.names, COUNTER):
            self.rec.invoke(f"{rt.node_id}/list/{name}", "get", _hkey(name), time_us=self.world.now_us)

    def _list_ended(self, rt: SimRuntime, items: list[dict[str, Any]] | None) -> None:
        by_name = {obj["metadata"]["name"]: obj for obj in items or ()}
        now = self.world.now_us
        for name in (*self.names, COUNTER):
            obj, proc = by_name.get(name), f"{rt.node_id}/list/{name}"
            if items is None:
                self.rec.fail(proc, "get", _hkey(name), None, time_us=now)
            elif obj is None:
                self.rec.ok(proc, "get", _hkey(name), None, time_us=now)
            else:
                self.rec.ok(proc, "get", _hkey(name), _content(obj), time_us=now,
                            mod_revision=int(obj["metadata"]["resourceVersion"]))

    async def _op_list(self, rt: SimRuntime, client: KubeClient, name: str, tag: str) -> None:
        self._list_started(rt)
        try:
            lst = await client.list(RESOURCE, NS)
        except ApiError:
            self._list_ended(rt, None)
            return
        self._list_ended(rt, lst["items"])

    async def _op_paged_list(self, rt: SimRuntime, client: KubeClient, name: str, tag: str) -> None:
        self._list_started(rt)
        start = self.world.now_us
        pages: list[tuple[int, tuple[tuple[str, int, Any], ...]]] = []
        items: list[dict[str, Any]] = []
        token = ""
        try:
            while True:
                page = await client.list(RESOURCE, NS, limit=self.spec.page_limit, continue_=token)
                items.extend(page["items"])
                pages.append((int(page["metadata"]["resourceVersion"]), tuple(
                    (_hkey(o["metadata"]["name"]), int(o["metadata"]["resourceVersion"]), _content(o))
                    for o in page["items"])))
                token = page["metadata"].get("continue", "")
                if not token:
                    break
        except ApiError:
            self._list_ended(rt, None)
            return
        self.paged.append(PagedList(process=rt.node_id, pages=tuple(pages), time_us=start))
        self._list_ended(rt, items)

    async def _op_increment(self, rt: SimRuntime, client: KubeClient, name: str, tag: str) -> None:
        for _attempt in range(10):
            obj = await self._get(rt, client, COUNTER)
            if obj is None:
                err = await self._create(rt, client, COUNTER, {"n": "0"})
                if err is not None and err.unknown:
                    return
                continue
            n = int((obj.get("data") or {}).get("n", "0"))
            outcome = await self._update(rt, client, COUNTER, obj, {"n": str(n + 1)})
            if outcome == "ok":
                self.acked += 1
                return
            if outcome == "unknown":
                self.unknown += 1
                return
            if outcome != "conflict":
                return

    # ------------------------------------------------------------------ wiring
    def _host(self, main: Any) -> Any:
        return lambda env: TaskHost(env, main)

    def start(self) -> None:
        self.kv.start()
        for name in self.apiservers:
            self.world.add_node(name, self._host(self._apiserver), client=True)
        for name in self.clients:
            self.world.add_node(name, self._host(self._client), client=True)
        for name in self.informer_nodes:
            self.world.add_node(name, self._host(self._informer), client=True)

    def _running(self, node: str) -> bool:
        return self.world.is_up(node) and not self.world.is_paused(node)

    def _task_errors(self) -> list[str]:
        return task_errors(self.world, (*self.apiservers, *self.clients, *self.informer_nodes))

    def _stored(self) -> dict[str, dict[str, Any]] | None:
        end = _PREFIX[:-1] + bytes([_PREFIX[-1] + 1])
        store = self.kv.leader_kvs(_PREFIX, end)
        if store is None:
            return None
        return {key.decode().removeprefix("/registry/configmaps/"): json.loads(value)
                for key, value in store.items()}

    def _informer_problems(self) -> list[str]:
        stored = self._stored()
        if stored is None:
            return ["no leader to read the store from"]
        out = []
        for node in self.informer_nodes:
            informer = self.informers.get(node)
            if informer is None or not self._running(node):
                continue
            cache = {key: _content(obj) for key, obj in informer.cache.items()}
            want = {key: _content(obj) for key, obj in stored.items()}
            if cache != want:
                missing = sorted(set(want) - set(cache))
                extra = sorted(set(cache) - set(want))
                differ = sorted(k for k in set(cache) & set(want) if cache[k] != want[k])
                out.append(f"{node}'s cache differs from the store (missing {missing}, extra {extra}, "
                           f"different {differ}; cache at resourceVersion {informer.resource_version})")
        return out

    # ------------------------------------------------------------------ System
    def leader(self) -> str | None:
        leader: str | None = self.kv.leader()
        return leader

    def quiesce(self) -> None:
        self.kv.quiesce()
        self.quiet = True

    def is_live(self) -> bool:
        return (bool(self.kv.is_live()) and not any(self.busy.get(n) and self._running(n) for n in self.clients)
                and not self._informer_problems())

    def liveness_report(self) -> str:
        busy = [n for n in self.clients if self.busy.get(n)]
        problems = "; ".join(self._informer_problems()[:3])
        return f"{self.kv.liveness_report()}; clients busy: {busy or 'none'}; informers: {problems or 'converged'}"

    def history(self) -> History:
        return self.rec.history()

    def _etcd_form(self) -> Any:
        """The object history as etcd writes plus the informers' watch records, for the
        watch checker: creates, updates and deletes known to have happened."""
        out = HistoryBuilder()
        for op in make_history(self.rec.records).operations:
            if op.outcome != "ok" or op.revision is None or op.succeeded is False:
                continue
            if op.f in ("create", "update") and op.deleted is None:
                value = op.value[1] if op.f == "update" else op.value
                out.invoke(op.process, "put", op.key, value)
                out.ok(op.process, "put", op.key, value, revision=op.revision)
            elif op.f == "delete" and op.deleted == 1:
                out.invoke(op.process, "delete", op.key)
                out.ok(op.process, "delete", op.key, deleted=1, revision=op.revision)
        return make_history([*out.records, *self.watch_rec.records])

    def check(self, properties: Sequence[str] | None = None) -> list[Violation]:
        def wanted(name: str) -> bool:
            return properties is None or any(name.startswith(p) or p.startswith(name) for p in properties)

        out: list[Violation] = []
        errors = self._task_errors()
        if errors and wanted("apiserver.task_error"):
            out.append(Violation(property="apiserver.task_error", message=errors[0]))
        if wanted("apiserver.linearizability"):
            result = check_linearizable(make_history(self.rec.records), KubeObjectModel(),
                                        max_steps=2_000_000)
            if result.verdict == "fail":
                out.append(Violation(property="apiserver.linearizability", message=result.explanation,
                                     time_us=result.failure_time_us()))
        if wanted("apiserver.lost_update"):
            stored = self._stored()
            counter = (stored or {}).get(f"{NS}/{COUNTER}")
            if stored is not None:
                n = int((counter or {}).get("data", {}).get("n", "0"))
                if not self.acked <= n <= self.acked + self.unknown:
                    out.append(Violation(property="apiserver.lost_update", message=(
                        f"the counter is {n} after {self.acked} acknowledged increments "
                        f"(and {self.unknown} of unknown outcome)")))
        if wanted("apiserver.watch"):
            found = check_watches(self._etcd_form())
            if found:
                out.append(Violation(property="apiserver.watch", message="\n".join(str(v) for v in found[:5])))
        if wanted("apiserver.paged_list"):
            found_lists = check_paged_lists(self.paged, self._etcd_form())
            if found_lists:
                out.append(Violation(property="apiserver.paged_list", message="\n".join(found_lists[:5])))
        if wanted("apiserver.informer"):
            problems = self._informer_problems()
            if problems:
                out.append(Violation(property="apiserver.informer", message=problems[0], time_us=self.world.now_us))
        rest = None if properties is None else [p for p in properties if not p.startswith("apiserver")]
        return out + list(self.kv.check(rest))

    def summary(self) -> dict[str, Any]:
        out = dict(self.kv.summary())
        ops = make_history(self.rec.records).operations
        out["apiserver ops"] = (f"{len(ops)} ({sum(op.outcome == 'ok' for op in ops)} ok), "
                                f"{self.acked} increments acknowledged, {self.unknown} unknown, "
                                f"{len(self.paged)} paged lists")
        out["informers"] = ", ".join(f"{node}: {len(inf.cache)} objects @{inf.resource_version} "
                                     f"({inf.lists} lists, {inf.watches} watches)"
                                     for node, inf in sorted(self.informers.items())) or "none"
        return out

    def write_html(self, path: str, headline: str | None = None, headline_detail: str = "") -> bool:
        return False


SYSTEM_BUILDERS["apiserver"] = ApiserverSystem
