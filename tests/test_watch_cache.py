"""The apiserver's watch cache serves watches (indexed by a pod's spec.nodeName) with the
same events as watches on etcd; a watch older than its window goes to etcd; and the
simulated transport puts reordered watch events back in order when asked to."""

from __future__ import annotations

from typing import Any

from fake_runtime import FakeRuntime

from kube import ApiServer, KubeClient, LocalTransport
from kube.transport import _END, _SimWatch
from raftkv.sim import TaskHost
from raftkv.sim.kv_system import KVCluster


def pod(name: str) -> dict:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": "default"},
            "spec": {"containers": [{"name": "c", "image": "pause"}]}}


async def _events(client: KubeClient, rv: str, field_selector: str) -> list[tuple[str, str, str]]:
    out = []
    async with await client.watch("pods", "default", resource_version=rv, timeout_s=2,
                                   field_selector=field_selector) as stream:
        async for ev in stream:
            meta = ev["object"]["metadata"]
            out.append((ev["type"], meta.get("name", ""), meta["resourceVersion"]))
    return out


def _run(cl: KVCluster, main: Any, run_us: int) -> None:
    cl.wait_leader()
    cl.world.add_node("app", lambda env: TaskHost(env, main), client=True)
    cl.world.run_for(run_us)
    errors = cl.world.actor("app").runtime.errors  # type: ignore[union-attr]
    if errors:
        raise errors[0][1]


def _compare_cached_and_direct(window_events: int) -> tuple[dict[str, list[Any]], int]:
    cl = KVCluster(seed=3, members=3)
    got: dict[str, list[Any]] = {}
    served: list[int] = []

    async def main(rt: Any) -> None:
        etcd = rt.etcd_client(cl.members)
        cached, direct = ApiServer(rt, etcd), ApiServer(rt, etcd, watch_cache=False)
        assert cached.cache is not None
        cached.cache.window_events = window_events
        rt.spawn(cached.run())
        c_cached, c_direct = KubeClient(LocalTransport(cached)), KubeClient(LocalTransport(direct))
        first = await c_direct.create("pods", pod("p0"))
        while not cached.cache.synced:
            await rt.sleep(0.05)
        pods = {name: await c_direct.create("pods", pod(name)) for name in ("p1", "p2", "p3")}
        for name, node in (("p1", "n-a"), ("p2", "n-a"), ("p3", "n-b")):
            await c_direct.bind("default", name, node, uid=pods[name]["metadata"]["uid"])
        await c_direct.patch("pods", "p1", {"status": {"phase": "Running"}}, "default", subresource="status")
        await c_direct.delete("pods", "p2", "default")  # a graceful deletion (it is bound) ...
        await c_direct.delete("pods", "p2", "default", grace_period_s=0)  # ... ended, as a kubelet does
        await c_direct.patch("pods", "p3", {"metadata": {"labels": {"x": "1"}}}, "default")
        await rt.sleep(0.5)
        rv = first["metadata"]["resourceVersion"]
        for selector in ("spec.nodeName=n-a", "spec.nodeName=n-b", "spec.nodeName=", ""):
            got[f"cached {selector}"] = await _events(c_cached, rv, selector)
            got[f"direct {selector}"] = await _events(c_direct, rv, selector)
        served.append(cached.cache.watches_served)

    _run(cl, main, 30_000_000)
    assert served, "the test body did not finish"
    return got, served[0]


def test_watches_from_the_cache_see_what_watches_on_etcd_see() -> None:
    got, served = _compare_cached_and_direct(window_events=1000)
    assert served == 4  # every watch of the cached apiserver was served from its cache
    for selector in ("spec.nodeName=n-a", "spec.nodeName=n-b", "spec.nodeName=", ""):
        assert got[f"cached {selector}"] == got[f"direct {selector}"], selector
    on_a = [(kind, name) for kind, name, _rv in got["cached spec.nodeName=n-a"]]
    assert on_a == [("ADDED", "p1"), ("ADDED", "p2"), ("MODIFIED", "p1"), ("MODIFIED", "p2"), ("DELETED", "p2")]
    unbound = [(kind, name) for kind, name, _rv in got["cached spec.nodeName="]]
    assert unbound == [("ADDED", "p1"), ("ADDED", "p2"), ("ADDED", "p3"),
                       ("DELETED", "p1"), ("DELETED", "p2"), ("DELETED", "p3")]
    everything = got["cached "]
    assert [name for _kind, name, _rv in everything].count("p3") == 3  # created, bound, labelled
    assert [int(rv) for _kind, _name, rv in everything] == sorted(int(rv) for _k, _n, rv in everything)


def test_a_watch_older_than_the_window_goes_to_etcd() -> None:
    got, served = _compare_cached_and_direct(window_events=3)
    assert served == 0
    for selector in ("spec.nodeName=n-a", ""):
        assert got[f"cached {selector}"] == got[f"direct {selector}"], selector
    assert len(got["cached "]) == 10


class _Transport:
    def __init__(self) -> None:
        self.rt = FakeRuntime()


def test_reordered_watch_events_are_put_back_in_order_within_the_window() -> None:
    t = _Transport()
    w = _SimWatch(t, 1, "a1", idle_s=3.0, reorder_window_s=0.2)  # type: ignore[arg-type]
    for seq in (2, 1, 1, 4):
        w.deliver(seq, f"e{seq}")
    assert w._queue.items == ["e1", "e2"]
    t.rt.now_us = 100_000
    w.deliver(3, "e3")
    assert w._queue.items == ["e1", "e2", "e3", "e4"]
    w.deliver(6, "e6")  # 5 is lost: once a later event comes past the window, the stream ends
    t.rt.now_us = 350_000
    w.deliver(7, "e7")
    assert w._queue.items == ["e1", "e2", "e3", "e4", _END]


def test_without_a_window_a_reordered_event_ends_the_watch() -> None:
    t = _Transport()
    w = _SimWatch(t, 1, "a1", idle_s=3.0, reorder_window_s=0.0)  # type: ignore[arg-type]
    w.deliver(1, "e1")
    w.deliver(3, "e3")
    w.deliver(2, "e2")
    assert w._queue.items == ["e1", _END]


def test_a_watch_from_a_compacted_revision_is_410_though_the_cache_holds_its_events() -> None:
    cl = KVCluster(seed=4, members=3)
    got: list[Any] = []

    async def main(rt: Any) -> None:
        etcd = rt.etcd_client(cl.members)
        server = ApiServer(rt, etcd)
        rt.spawn(server.run())
        client = KubeClient(LocalTransport(server))
        assert server.cache is not None
        while not server.cache.synced:
            await rt.sleep(0.05)
        first = await client.create("pods", pod("p0"))
        await client.create("pods", pod("p1"))
        last = await client.create("pods", pod("p2"))
        await rt.sleep(0.5)
        await etcd.compact(int(last["metadata"]["resourceVersion"]))
        async with await client.watch("pods", "default", resource_version=first["metadata"]["resourceVersion"],
                                      timeout_s=1) as stream:
            async for ev in stream:
                got.append((ev["type"], ev["object"].get("code")))
        async with await client.watch("pods", "default", resource_version=last["metadata"]["resourceVersion"],
                                      timeout_s=1) as stream:
            async for ev in stream:
                got.append((ev["type"], ev["object"].get("code")))
        got.append(server.cache.watches_served)

    _run(cl, main, 10_000_000)
    assert got == [("ERROR", 410), 1]  # the second watch (from the compaction on) came from the cache
