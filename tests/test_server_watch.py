"""Watches through a simulated member: replay, filters, prev_kv, progress, compaction, cancel."""

from __future__ import annotations

from raftkv.check import check_watches
from raftkv.client import Client, ClientConfig
from raftkv.kv import EventType, WatchFilter, WatchResponse, prefix_end
from raftkv.kv.server import ServerConfig
from raftkv.sim.kv_system import KVCluster

QUIET = ClientConfig(watch_probe_interval_us=5_000_000, watch_session_timeout_us=20_000_000)


def setup(server_config: ServerConfig | None = None,
          config: ClientConfig | None = QUIET) -> tuple[KVCluster, Client]:
    cl = KVCluster(seed=11, server_config=server_config)
    c = cl.add_client("c1", config=config)
    leader = cl.wait_leader()
    c.leader = leader
    return cl, c


def events_of(got: list[WatchResponse]) -> list[tuple[str, bytes, bytes, int]]:
    return [(ev.type.name, ev.kv.key, ev.kv.value, ev.kv.mod_revision)
            for r in got for ev in r.events]


def test_replay_from_past_revision_then_live_events() -> None:
    cl, c = setup()
    for i in range(3):
        assert cl.call(c.put, b"k", f"v{i}".encode()).ok  # revisions 2, 3, 4
    got: list[WatchResponse] = []
    c.watch(b"k", got.append, start_revision=3, member=cl.leader())
    cl.world.run_for(100_000)
    assert got[0].created
    assert events_of(got) == [("PUT", b"k", b"v1", 3), ("PUT", b"k", b"v2", 4)]
    assert cl.call(c.delete, b"k").ok
    assert cl.call(c.put, b"other", b"x").ok  # not watched
    cl.world.run_for(100_000)
    assert events_of(got)[2:] == [("DELETE", b"k", b"", 5)]
    assert check_watches(cl.history()) == []


def test_watch_from_now_on_a_follower_sees_later_writes() -> None:
    cl, c = setup()
    assert cl.call(c.put, b"k", b"before").ok
    cl.world.run_for(100_000)  # the follower has applied it: "now" is after it there too
    follower = next(m for m in cl.members if m != cl.leader())
    got: list[WatchResponse] = []
    w = c.watch(b"k", got.append, member=follower)
    cl.world.run_for(100_000)
    assert w.member == follower and got[0].created and events_of(got) == []
    assert cl.call(c.put, b"k", b"after").ok
    cl.world.run_for(100_000)
    assert [e[2] for e in events_of(got)] == [b"after"]


def test_filters_and_prefix_range() -> None:
    cl, c = setup()
    noput: list[WatchResponse] = []
    nodel: list[WatchResponse] = []
    c.watch(b"p/", noput.append, range_end=prefix_end(b"p/"), filters=(WatchFilter.NOPUT,))
    c.watch(b"p/", nodel.append, range_end=prefix_end(b"p/"), filters=(WatchFilter.NODELETE,))
    cl.world.run_for(50_000)
    for key in (b"p/a", b"p/b", b"q"):
        assert cl.call(c.put, key, b"1").ok
    assert cl.call(c.delete, b"p/a").ok
    assert cl.call(c.delete, b"q").ok
    cl.world.run_for(100_000)
    assert [(t, k) for t, k, _, _ in events_of(noput)] == [("DELETE", b"p/a")]
    assert [(t, k) for t, k, _, _ in events_of(nodel)] == [("PUT", b"p/a"), ("PUT", b"p/b")]
    assert check_watches(cl.history()) == []


def test_prev_kv_only_when_asked() -> None:
    cl, c = setup()
    with_prev: list[WatchResponse] = []
    without: list[WatchResponse] = []
    c.watch(b"k", with_prev.append, prev_kv=True)
    c.watch(b"k", without.append)
    cl.world.run_for(50_000)
    assert cl.call(c.put, b"k", b"1").ok
    assert cl.call(c.put, b"k", b"2").ok
    assert cl.call(c.delete, b"k").ok
    cl.world.run_for(100_000)
    prevs = [ev.prev_kv.value if ev.prev_kv else None for r in with_prev for ev in r.events]
    assert prevs == [None, b"1", b"2"]
    assert all(ev.prev_kv is None for r in without for ev in r.events)
    assert [ev.type for r in without for ev in r.events] == [EventType.PUT, EventType.PUT,
                                                              EventType.DELETE]
    assert check_watches(cl.history()) == []


def test_progress_notification_on_request() -> None:
    cl, c = setup()
    got: list[WatchResponse] = []
    w = c.watch(b"k", got.append)
    cl.world.run_for(50_000)
    assert cl.call(c.put, b"other", b"1").ok
    assert cl.call(c.put, b"other", b"2").ok
    cl.world.run_for(50_000)
    w.request_progress()
    cl.world.run_for(50_000)
    progress = [r for r in got if r.progress_notify]
    assert len(progress) == 1 and progress[0].header_revision == 3 and not progress[0].events
    assert w.next_revision == 4


def test_periodic_progress_only_for_watches_that_ask() -> None:
    cl, c = setup(ServerConfig(progress_interval_us=200_000))
    asked: list[WatchResponse] = []
    silent: list[WatchResponse] = []
    c.watch(b"k", asked.append, progress_notify=True)
    c.watch(b"k", silent.append)
    cl.world.run_for(1_100_000)
    assert sum(1 for r in asked if r.progress_notify) >= 4
    assert not any(r.progress_notify for r in silent)


def test_compacted_start_revision_is_canceled_with_compact_revision() -> None:
    cl, c = setup()
    for i in range(5):
        assert cl.call(c.put, b"k", str(i).encode()).ok
    assert cl.call(c.compact, 5).ok
    got: list[WatchResponse] = []
    w = c.watch(b"k", got.append, start_revision=2)
    cl.world.run_for(100_000)
    assert got[-1].canceled and got[-1].compact_revision == 5
    assert w.closed and w.compact_revision == 5
    assert cl.call(c.put, b"k", b"late").ok
    cl.world.run_for(100_000)
    assert not any(r.events for r in got)


def test_cancel_stops_events_and_frees_the_watcher() -> None:
    cl, c = setup()
    got: list[WatchResponse] = []
    w = c.watch(b"k", got.append, member=cl.leader())
    cl.world.run_for(50_000)
    assert len(cl.server(w.member).store.watches) == 1
    assert cl.call(c.put, b"k", b"1").ok
    cl.world.run_for(50_000)
    w.cancel()
    cl.world.run_for(50_000)
    assert len(cl.server(w.member).store.watches) == 0
    assert cl.call(c.put, b"k", b"2").ok
    cl.world.run_for(50_000)
    assert [e[2] for e in events_of(got)] == [b"1"]
