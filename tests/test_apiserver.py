"""kube.apiserver: the generic store's semantics through the handler and the kube
client, selectors and validation, the informer, the simulated transport, and the
apiserver system (a paged list is one snapshot, a 410 makes informers list again)."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

import pytest

from kube import ApiError, ApiServer, Informer, KubeClient, LocalTransport, Request
from kube.meta import merge_patch, new_uid
from kube.selectors import LabelSelector
from raftkv.check import HistoryBuilder, KubeObjectModel, check_linearizable
from raftkv.sim import Scenario, TaskHost, WorkloadSpec, run_scenario
from raftkv.sim.kv_system import KVCluster
from raftkv.sim.scenario import ApiserverSpec

CM = {"apiVersion": "v1", "kind": "ConfigMap"}


def cm(name: str, **data: str) -> dict:
    return {**CM, "metadata": {"name": name, "namespace": "default"}, "data": data}


def run(body: Callable[[Any, KubeClient, ApiServer], Coroutine[Any, Any, None]], *, seed: int = 1,
        run_us: int = 20_000_000) -> None:
    """Run ``body(rt, client, server)`` on a node with a local apiserver over a 3-member cluster."""
    cl = KVCluster(seed=seed, members=3)
    done: list[bool] = []

    async def main(rt: Any) -> None:
        server = ApiServer(rt, rt.etcd_client(cl.members))
        rt.spawn(server.run())
        await body(rt, KubeClient(LocalTransport(server)), server)
        done.append(True)

    cl.wait_leader()
    cl.world.add_node("app", lambda env: TaskHost(env, main), client=True)
    cl.world.run_for(run_us)
    errors = cl.world.actor("app").runtime.errors
    if errors:
        raise errors[0][1]
    assert done, "the test body did not finish"


async def _code(coro: Coroutine[Any, Any, Any]) -> tuple[int, str]:
    with pytest.raises(ApiError) as info:
        await coro
    return info.value.code, info.value.reason


def test_create_get_update_conflict_and_already_exists() -> None:
    async def body(rt: Any, c: KubeClient, _s: ApiServer) -> None:
        a = await c.create("configmaps", cm("a", n="0"))
        meta = a["metadata"]
        assert meta["uid"] and meta["creationTimestamp"] and int(meta["resourceVersion"]) > 0
        assert await c.get("configmaps", "a", "default") == a
        assert await _code(c.create("configmaps", cm("a"))) == (409, "AlreadyExists")
        b = await c.update("configmaps", {**a, "data": {"n": "1"}})
        assert int(b["metadata"]["resourceVersion"]) > int(meta["resourceVersion"])
        assert b["metadata"]["uid"] == meta["uid"]
        assert await _code(c.update("configmaps", {**a, "data": {"n": "2"}})) == (409, "Conflict")
        # without a resourceVersion: an unconditional (guaranteed) update
        unconditional = {**a, "metadata": {k: v for k, v in meta.items() if k != "resourceVersion"}}
        assert (await c.update("configmaps", {**unconditional, "data": {"n": "3"}}))["data"] == {"n": "3"}
        assert await _code(c.get("configmaps", "zz", "default")) == (404, "NotFound")
        assert await _code(c.update("configmaps", cm("zz"))) == (404, "NotFound")
    run(body)


def test_generation_status_subresource_and_merge_patch() -> None:
    async def body(rt: Any, c: KubeClient, _s: ApiServer) -> None:
        dep = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "namespace": "default"},
               "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "web"}},
                        "template": {"metadata": {"labels": {"app": "web"}}}}}
        d = await c.create("deployments", dep)
        assert d["metadata"]["generation"] == 1 and d["status"] == {}
        d2 = await c.patch("deployments", "web", {"spec": {"replicas": 3}}, "default")
        assert d2["metadata"]["generation"] == 2 and d2["spec"]["replicas"] == 3
        d3 = await c.patch("deployments", "web", {"metadata": {"labels": {"x": "y"}}}, "default")
        assert d3["metadata"]["generation"] == 2  # metadata only: no bump
        s = await c.update("deployments", {**d3, "status": {"replicas": 3}}, subresource="status")
        assert s["status"] == {"replicas": 3} and s["metadata"]["generation"] == 2
        # a main-resource update cannot change status
        m = await c.update("deployments", {**s, "status": {"replicas": 9}})
        assert m["status"] == {"replicas": 3}
        assert await _code(c.patch("deployments", "web", {"metadata": {"resourceVersion": "1"}}, "default")) \
            == (409, "Conflict")
    run(body)


def test_delete_preconditions_and_finalizers() -> None:
    async def body(rt: Any, c: KubeClient, _s: ApiServer) -> None:
        a = await c.create("configmaps", {**cm("a"), "metadata": {"name": "a", "namespace": "default",
                                                                  "finalizers": ["example.com/keep"]}})
        assert await _code(c.delete("configmaps", "a", "default", uid="nope")) == (409, "Conflict")
        gone = await c.delete("configmaps", "a", "default", uid=a["metadata"]["uid"])
        assert gone["metadata"]["deletionTimestamp"]
        still = await c.get("configmaps", "a", "default")
        assert still["metadata"]["finalizers"] == ["example.com/keep"]
        await c.update("configmaps", {**still, "metadata": {**still["metadata"], "finalizers": []}})
        assert await _code(c.get("configmaps", "a", "default")) == (404, "NotFound")
        b = await c.create("configmaps", cm("b"))
        assert await _code(c.delete("configmaps", "b", "default", resource_version="1")) == (409, "Conflict")
        deleted = await c.delete("configmaps", "b", "default", resource_version=b["metadata"]["resourceVersion"])
        assert int(deleted["metadata"]["resourceVersion"]) > int(b["metadata"]["resourceVersion"])
        orphan = await c.create("configmaps", cm("c"))
        kept = await c.delete("configmaps", "c", "default", propagation_policy="Orphan")
        assert kept["metadata"]["finalizers"] == ["orphan"] and orphan["metadata"]["uid"] == kept["metadata"]["uid"]
    run(body)


def test_validation_and_bad_requests_are_statuses() -> None:
    async def body(rt: Any, c: KubeClient, s: ApiServer) -> None:
        with pytest.raises(ApiError) as info:
            await c.create("pods", {"metadata": {"name": "Bad_Name", "namespace": "default",
                                                 "labels": {"a b": "c"}}, "spec": {}})
        st = info.value.status
        assert st["kind"] == "Status" and st["code"] == 422 and st["reason"] == "Invalid"
        fields = [cause["field"] for cause in st["details"]["causes"]]
        assert fields == ["metadata.name", "metadata.labels[a b]", "spec.containers"]
        assert await _code(c.create("services", {"metadata": {"name": "a.b", "namespace": "default"}})) \
            == (422, "Invalid")  # a DNS-1123 label, not a subdomain
        assert await _code(c.list("configmaps", "default", label_selector="a in b")) == (400, "BadRequest")
        assert await _code(c.list("pods", "default", field_selector="spec.foo=x")) == (400, "BadRequest")
        resp = await s.handle(Request(verb="create", resource="configmaps", namespace="default", body=b"{"))
        assert resp.status == 400 and resp.body["reason"] == "BadRequest"
        resp = await s.handle(Request(verb="get", resource="widgets", name="x"))
        assert resp.status == 404
        assert await _code(c.create("configmaps", {**cm("x"), "kind": "Pod"})) == (400, "BadRequest")
    run(body)


def test_lists_pages_selectors_and_resource_versions() -> None:
    async def body(rt: Any, c: KubeClient, _s: ApiServer) -> None:
        for i in range(5):
            await c.create("configmaps", {**cm(f"c{i}"), "metadata": {
                "name": f"c{i}", "namespace": "default", "labels": {"tier": "a" if i % 2 else "b"}}})
        await c.create("configmaps", {**cm("other"), "metadata": {"name": "other", "namespace": "kube-system"}})
        first = await c.list("configmaps", "default", limit=2)
        rv = first["metadata"]["resourceVersion"]
        await c.create("configmaps", cm("c9"))  # after the first page: not in this list
        names = [o["metadata"]["name"] for o in first["items"]]
        token = first["metadata"]["continue"]
        while token:
            page = await c.list("configmaps", "default", limit=2, continue_=token)
            assert page["metadata"]["resourceVersion"] == rv
            names += [o["metadata"]["name"] for o in page["items"]]
            token = page["metadata"].get("continue", "")
        assert names == ["c0", "c1", "c2", "c3", "c4"]
        everything = await c.list("configmaps")
        assert len(everything["items"]) == 7
        sel = await c.list("configmaps", "default", label_selector="tier in (a),tier!=b")
        assert [o["metadata"]["name"] for o in sel["items"]] == ["c1", "c3"]
        by_name = await c.list("configmaps", field_selector="metadata.name=other")
        assert [o["metadata"]["namespace"] for o in by_name["items"]] == ["kube-system"]
        paged_sel = await c.list_all("configmaps", "default", limit=1, label_selector="tier=a")
        assert [o["metadata"]["name"] for o in paged_sel["items"]] == ["c1", "c3"]
        assert await _code(c.list("configmaps", "default", resource_version="999999")) == (504, "Timeout")
    run(body)


def test_compacted_continue_and_watch_are_410() -> None:
    async def body(rt: Any, c: KubeClient, s: ApiServer) -> None:
        for i in range(3):
            await c.create("configmaps", cm(f"c{i}"))
        first = await c.list("configmaps", "default", limit=1)
        old = first["metadata"]["resourceVersion"]
        for i in range(3):
            await c.create("configmaps", cm(f"d{i}"))
        latest = await c.list("configmaps", "default")
        await s.etcd.compact(int(latest["metadata"]["resourceVersion"]))
        assert await _code(c.list("configmaps", "default", limit=1, continue_=first["metadata"]["continue"])) \
            == (410, "Expired")
        assert await _code(c.list("configmaps", "default", resource_version=old, resource_version_match="Exact")) \
            == (410, "Expired")
        events = []
        async with await c.watch("configmaps", "default", resource_version=old) as stream:
            async for ev in stream:
                events.append(ev)
        assert [(e["type"], e["object"]["code"]) for e in events] == [("ERROR", 410)]
    run(body)


def test_watch_from_n_starts_after_n_with_bookmarks_and_initial_events() -> None:
    async def body(rt: Any, c: KubeClient, _s: ApiServer) -> None:
        a = await c.create("configmaps", cm("a", n="0"))
        rv = a["metadata"]["resourceVersion"]
        await c.patch("configmaps", "a", {"data": {"n": "1"}}, "default")
        await c.delete("configmaps", "a", "default")
        got = []
        async with await c.watch("configmaps", "default", resource_version=rv, allow_bookmarks=True,
                                 timeout_s=2) as stream:
            async for ev in stream:
                got.append((ev["type"], ev["object"]["metadata"].get("name")))
        assert got[:2] == [("MODIFIED", "a"), ("DELETED", "a")]
        assert got[2:] and set(got[2:]) == {("BOOKMARK", None)}
        await c.create("configmaps", cm("b"))
        initial = []
        async with await c.watch("configmaps", "default", timeout_s=1) as stream:
            async for ev in stream:
                initial.append((ev["type"], ev["object"]["metadata"]["name"]))
        assert initial == [("ADDED", "b")]
    run(body)


def test_informer_follows_changes_and_matches_a_list() -> None:
    async def body(rt: Any, c: KubeClient, _s: ApiServer) -> None:
        seen: list[tuple[str, str]] = []
        inf = Informer(rt, c, "configmaps", "default",
                       on_add=lambda o: seen.append(("add", o["metadata"]["name"])),
                       on_update=lambda _o, n: seen.append(("update", n["metadata"]["name"])),
                       on_delete=lambda o: seen.append(("delete", o["metadata"]["name"])))
        await c.create("configmaps", cm("a"))
        task = rt.spawn(inf.run())
        await rt.sleep(0.5)
        await c.create("configmaps", cm("b"))
        await c.patch("configmaps", "a", {"data": {"x": "1"}}, "default")
        await c.delete("configmaps", "b", "default")
        await rt.sleep(1.0)
        task.cancel()
        listed = await c.list("configmaps", "default")
        assert inf.items() == listed["items"]
        assert seen == [("add", "a"), ("add", "b"), ("update", "a"), ("delete", "b")]
    run(body)


def test_uids_labels_and_merge_patch_helpers() -> None:
    import random
    uid = new_uid(random.Random(1))
    assert len(uid) == 36 and uid[14] == "4" and uid == new_uid(random.Random(1))
    assert merge_patch({"a": {"b": 1, "c": 2}, "d": 1}, {"a": {"b": None, "e": 3}, "d": [1]}) == \
        {"a": {"c": 2, "e": 3}, "d": [1]}
    sel = LabelSelector.parse("a=1,b!=2,c in (x, y),d notin (z),e,!f")
    assert sel.matches({"a": "1", "c": "y", "e": ""})
    assert not sel.matches({"a": "1", "c": "y", "e": "", "f": "1"})
    assert not sel.matches({"a": "1", "b": "2", "c": "x", "e": ""})


def test_kube_model_rejects_a_lost_update_and_accepts_a_conflict() -> None:
    b = HistoryBuilder()
    k = "configmaps/default/c"
    b.invoke("p1", "create", k, {"n": "0"}); b.ok("p1", "create", k, {"n": "0"}, revision=2)  # noqa: E702
    b.invoke("p1", "update", k, [2, {"n": "1"}]); b.ok("p1", "update", k, [2, {"n": "1"}], revision=3)  # noqa: E702
    b.invoke("p2", "update", k, [2, {"n": "1"}]); b.ok("p2", "update", k, [2, {"n": "1"}], succeeded=False)  # noqa: E702
    assert check_linearizable(b.history(), KubeObjectModel()).verdict == "ok"
    b.invoke("p3", "update", k, [2, {"n": "1"}]); b.ok("p3", "update", k, [2, {"n": "1"}], revision=4)  # noqa: E702
    assert check_linearizable(b.history(), KubeObjectModel()).verdict == "fail"


def _scenario(**kw: Any) -> Scenario:
    return Scenario(seed=3, system="apiserver", workload=WorkloadSpec(clients=0, ops_per_s=0),
                    apiserver=ApiserverSpec(apiservers=2, clients=3, informers=2, objects=4, page_limit=1),
                    duration_us=6_000_000,
                    settle_us=8_000_000, **kw)


def test_the_apiserver_system_passes_its_checks_and_is_deterministic() -> None:
    result = run_scenario(_scenario())
    assert result.ok, result.summary()
    assert run_scenario(_scenario()).trace.hash() == result.trace.hash()
    assert result.system.acked > 0 and result.system.paged


def test_a_catalogued_bug_is_caught_by_the_system() -> None:
    result = run_scenario(_scenario(bugs=("apiserver_continue_at_latest_revision",)))
    assert [v.property for v in result.violations if v.property.startswith("apiserver")] == \
        ["apiserver.paged_list"]


def test_the_benchmark_runs_quick() -> None:
    import os
    import pathlib
    import subprocess
    import sys
    root = pathlib.Path(__file__).resolve().parent.parent
    proc = subprocess.run([sys.executable, str(root / "benchmarks" / "apiserver.py"), "--quick"],
                          capture_output=True, text=True, timeout=300,
                          env={**os.environ, "PYTHONPATH": str(root)})
    assert proc.returncode == 0, proc.stderr
    last = proc.stdout.strip().splitlines()[-1]
    assert last.startswith("apiserver writes: ") and last.endswith(" per wall second"), last


def test_a_watch_inside_a_coroutine_closed_unfinished_closes_quietly() -> None:
    """A task destroyed while it waits for a watch event (a simulation that ends with it
    still running) closes its coroutine: leaving ``async with`` must not await then."""
    import sys

    from kube.client import _Watch

    async def events():  # waits for ever, like a quiet watch
        while True:
            await _Forever()
            yield {}

    class _Forever:
        def __await__(self):
            yield "blocked"

    async def task() -> None:
        async with _Watch(events()) as watch:
            async for _ in watch:
                pass

    ignored: list[object] = []
    hook, sys.unraisablehook = sys.unraisablehook, ignored.append
    try:
        coro = task()
        assert coro.send(None) == "blocked"
        coro.close()
    finally:
        sys.unraisablehook = hook
    assert ignored == []
