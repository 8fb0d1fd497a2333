"""Watches: live events, history replay, filters, prev_kv, progress, cancelation, restore."""

from __future__ import annotations

import hypothesis.strategies as st
from hypothesis import given, settings

from raftkv.kv import (
    ALL_KEYS,
    CompactionRequest,
    DeleteRangeRequest,
    EventType,
    KVStore,
    LeaseGrantRequest,
    LeaseRevokeRequest,
    PutRequest,
    TxnRequest,
    WatchCreateRequest,
    WatchFilter,
    WatchResponse,
    prefix_end,
)


class Member:
    def __init__(self, **kwargs: object) -> None:
        self.store = KVStore(**kwargs)  # type: ignore[arg-type]
        self.index = 0

    def apply(self, req: object) -> object:
        self.index += 1
        return self.store.apply(self.index, 1, req, now_us=0)

    def put(self, key: bytes, value: bytes = b"v", lease: int = 0) -> None:
        self.apply(PutRequest(key=key, value=value, lease=lease))

    def drain(self) -> tuple[WatchResponse, ...]:
        return self.store.watches.drain()


def events_of(resps: tuple[WatchResponse, ...], watch_id: int) -> list[tuple[str, bytes, int]]:
    return [(ev.type.name, ev.kv.key, ev.kv.mod_revision)
            for r in resps if r.watch_id == watch_id for ev in r.events]


def test_live_events_key_prefix_and_created_response() -> None:
    m = Member()
    w_key = m.store.watches.create(WatchCreateRequest(key=b"a"))
    w_pre = m.store.watches.create(WatchCreateRequest(key=b"a", range_end=prefix_end(b"a")))
    w_all = m.store.watches.create(WatchCreateRequest(key=b"\0", range_end=ALL_KEYS))
    created = m.drain()
    assert [(r.watch_id, r.created, r.header_revision) for r in created] == [
        (w_key, True, 1), (w_pre, True, 1), (w_all, True, 1)]
    m.put(b"a")
    m.put(b"ab")
    m.put(b"b")
    m.apply(DeleteRangeRequest(key=b"a", range_end=b"b"))
    resps = m.drain()
    assert events_of(resps, w_key) == [("PUT", b"a", 2), ("DELETE", b"a", 5)]
    assert events_of(resps, w_pre) == [("PUT", b"a", 2), ("PUT", b"ab", 3),
                                       ("DELETE", b"a", 5), ("DELETE", b"ab", 5)]
    assert events_of(resps, w_all) == [("PUT", b"a", 2), ("PUT", b"ab", 3), ("PUT", b"b", 4),
                                       ("DELETE", b"a", 5), ("DELETE", b"ab", 5)]
    # one response per revision, never split, header = that revision
    for r in resps:
        assert len({ev.kv.mod_revision for ev in r.events}) == 1
        assert r.header_revision == r.events[0].kv.mod_revision
    assert [len(r.events) for r in resps if r.watch_id == w_pre] == [1, 1, 2]


def test_txn_events_share_one_response_in_op_order() -> None:
    m = Member()
    w = m.store.watches.create(WatchCreateRequest(key=b"\0", range_end=ALL_KEYS))
    m.drain()
    m.apply(TxnRequest(success=(PutRequest(key=b"z"), PutRequest(key=b"a"))))
    (resp,) = m.drain()
    assert resp.watch_id == w
    assert [ev.kv.key for ev in resp.events] == [b"z", b"a"]


def test_replay_from_history_and_prev_kv() -> None:
    m = Member()
    for i in range(5):
        m.put(b"k", b"%d" % i)
    m.apply(DeleteRangeRequest(key=b"k"))
    w = m.store.watches.create(WatchCreateRequest(key=b"k", start_revision=3, prev_kv=True))
    resps = m.drain()
    assert resps[0].created
    evs = [ev for r in resps for ev in r.events]
    assert [(ev.type, ev.kv.mod_revision) for ev in evs] == [
        (EventType.PUT, 3), (EventType.PUT, 4), (EventType.PUT, 5), (EventType.PUT, 6),
        (EventType.DELETE, 7)]
    assert [ev.prev_kv.value if ev.prev_kv else None for ev in evs] == [
        b"0", b"1", b"2", b"3", b"4"]
    assert all(r.header_revision == 7 for r in resps)
    m.put(b"k", b"new")
    (live,) = m.drain()
    assert live.watch_id == w
    assert live.events[0].prev_kv is None  # deleted before: a fresh generation
    assert (live.events[0].kv.version, live.events[0].kv.create_revision) == (1, 8)


def test_without_prev_kv_events_carry_none() -> None:
    m = Member()
    m.put(b"k", b"1")
    m.store.watches.create(WatchCreateRequest(key=b"k", start_revision=1))
    m.put(b"k", b"2")
    evs = [ev for r in m.drain() for ev in r.events]
    assert len(evs) == 2
    assert all(ev.prev_kv is None for ev in evs)


def test_filters() -> None:
    m = Member()
    no_put = m.store.watches.create(WatchCreateRequest(key=b"k", filters=(WatchFilter.NOPUT,)))
    no_del = m.store.watches.create(WatchCreateRequest(key=b"k",
                                                       filters=(WatchFilter.NODELETE,)))
    m.drain()
    m.put(b"k")
    m.apply(DeleteRangeRequest(key=b"k"))
    resps = m.drain()
    assert events_of(resps, no_put) == [("DELETE", b"k", 3)]
    assert events_of(resps, no_del) == [("PUT", b"k", 2)]
    # filters apply to replay too
    replay = m.store.watches.create(
        WatchCreateRequest(key=b"k", start_revision=1, filters=(WatchFilter.NOPUT,)))
    assert events_of(m.drain(), replay) == [("DELETE", b"k", 3)]


def test_progress_notifications() -> None:
    m = Member()
    w1 = m.store.watches.create(WatchCreateRequest(key=b"a", progress_notify=True))
    w2 = m.store.watches.create(WatchCreateRequest(key=b"b"))
    m.drain()
    m.put(b"zzz")  # matches neither
    assert m.drain() == ()
    m.store.watches.progress_all()
    (p,) = m.drain()
    assert (p.watch_id, p.progress_notify, p.events, p.header_revision) == (w1, True, (), 2)
    m.store.watches.request_progress()
    assert [(r.watch_id, r.header_revision, r.progress_notify) for r in m.drain()] == [
        (w1, 2, True), (w2, 2, True)]
    m.store.watches.request_progress([w2, 99])
    assert [r.watch_id for r in m.drain()] == [w2]


def test_cancel() -> None:
    m = Member()
    w = m.store.watches.create(WatchCreateRequest(key=b"k"))
    m.drain()
    m.store.watches.cancel(w)
    (c,) = m.drain()
    assert (c.watch_id, c.canceled, c.compact_revision) == (w, True, 0)
    m.put(b"k")
    assert m.drain() == ()
    assert len(m.store.watches) == 0


def test_compacted_start_revision_cancels() -> None:
    m = Member()
    for _ in range(5):
        m.put(b"k")
    m.apply(CompactionRequest(revision=4))
    w = m.store.watches.create(WatchCreateRequest(key=b"k", start_revision=3))
    created, canceled = m.drain()
    assert created.created and created.watch_id == w
    assert (canceled.watch_id, canceled.canceled, canceled.compact_revision) == (w, True, 4)
    assert w not in m.store.watches
    # at the compact revision itself the history is still there
    w2 = m.store.watches.create(WatchCreateRequest(key=b"k", start_revision=4))
    assert [ev.kv.mod_revision for r in m.drain() for ev in r.events] == [4, 5, 6]
    assert w2 in m.store.watches


def test_future_start_revision_waits() -> None:
    m = Member()
    w = m.store.watches.create(WatchCreateRequest(key=b"k", start_revision=4))
    m.drain()
    for _ in range(4):
        m.put(b"k")
    assert [ev.kv.mod_revision for r in m.drain() if r.watch_id == w for ev in r.events] == [4, 5]


def test_lease_revoke_produces_delete_events_in_one_revision() -> None:
    m = Member()
    m.apply(LeaseGrantRequest(ttl_s=10, id=5))
    m.put(b"a", lease=5)
    m.put(b"b", lease=5)
    m.put(b"c")
    w = m.store.watches.create(WatchCreateRequest(key=b"\0", range_end=ALL_KEYS, prev_kv=True))
    m.drain()
    m.apply(LeaseRevokeRequest(id=5, expired=True))
    (resp,) = m.drain()
    assert resp.watch_id == w
    assert [(ev.type, ev.kv.key, ev.kv.mod_revision) for ev in resp.events] == [
        (EventType.DELETE, b"a", 5), (EventType.DELETE, b"b", 5)]
    assert all(ev.prev_kv is not None and ev.prev_kv.lease == 5 for ev in resp.events)


def test_replay_batches_never_split_a_revision() -> None:
    m = Member(max_events_per_response=3)
    for i in range(4):
        m.apply(TxnRequest(success=tuple(PutRequest(key=b"k%d" % j, value=b"%d" % i)
                                         for j in range(2))))
    w = m.store.watches.create(WatchCreateRequest(key=b"k", range_end=prefix_end(b"k"),
                                                  start_revision=1))
    resps = [r for r in m.drain() if r.events]
    assert [len(r.events) for r in resps] == [2, 2, 2, 2]
    assert all(r.watch_id == w for r in resps)
    big = Member(max_events_per_response=3)
    big.apply(TxnRequest(success=tuple(PutRequest(key=b"k%d" % j) for j in range(5))))
    big.store.watches.create(WatchCreateRequest(key=b"k", range_end=prefix_end(b"k"),
                                                start_revision=1))
    assert [len(r.events) for r in big.drain() if r.events] == [5]


def test_restore_catches_watchers_up_or_cancels_them() -> None:
    leader = Member()
    follower = Member()
    w = follower.store.watches.create(WatchCreateRequest(key=b"k", prev_kv=True))
    follower.drain()
    for i in range(4):
        leader.put(b"k", b"%d" % i)
    follower.store.restore(leader.store.snapshot())
    evs = [ev for r in follower.drain() if r.watch_id == w for ev in r.events]
    assert [ev.kv.mod_revision for ev in evs] == [2, 3, 4, 5]
    assert [ev.prev_kv.value if ev.prev_kv else None for ev in evs] == [None, b"0", b"1", b"2"]
    # the hub keeps following the restored store
    follower.index = leader.index
    follower.put(b"k", b"x")
    assert [ev.kv.mod_revision for r in follower.drain() for ev in r.events] == [6]
    # behind a compaction: canceled with compact_revision
    lagging = Member()
    w2 = lagging.store.watches.create(WatchCreateRequest(key=b"k"))
    lagging.drain()
    leader.apply(CompactionRequest(revision=4))
    lagging.store.restore(leader.store.snapshot())
    (resp,) = lagging.drain()
    assert (resp.watch_id, resp.canceled, resp.compact_revision) == (w2, True, 4)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.sampled_from([b"a", b"b", b"c"]), st.booleans()), max_size=25),
       st.integers(1, 30))
def test_replay_equals_live(ops: list[tuple[bytes, bool]], start: int) -> None:
    """A watcher created late from revision `start` sees what a live watcher saw from there."""
    m = Member()
    live = m.store.watches.create(WatchCreateRequest(key=b"a", range_end=b"c", prev_kv=True))
    for key, is_put in ops:
        m.apply(PutRequest(key=key) if is_put else DeleteRangeRequest(key=key))
    start = min(start, m.store.revision + 1)
    late = m.store.watches.create(WatchCreateRequest(key=b"a", range_end=b"c", prev_kv=True,
                                                     start_revision=start))
    resps = m.drain()
    live_evs = [ev for r in resps if r.watch_id == live for ev in r.events
                if ev.kv.mod_revision >= start]
    late_evs = [ev for r in resps if r.watch_id == late for ev in r.events]
    assert late_evs == live_evs
