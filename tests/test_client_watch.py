"""A client watch survives its member: resume from last revision + 1, no gaps, no duplicates."""

from __future__ import annotations

from raftkv.check import check_watches
from raftkv.client import Client, ClientConfig
from raftkv.kv import WatchResponse
from raftkv.sim.kv_system import KVCluster

FAST = ClientConfig(watch_probe_interval_us=100_000, watch_session_timeout_us=300_000)


def run_crash_resume(bugs: tuple[str, ...] = (), seed: int = 21
                     ) -> tuple[KVCluster, Client, list[WatchResponse], list[int]]:
    cl = KVCluster(seed=seed, bugs=bugs)
    c = cl.add_client("c1", config=FAST)
    leader = cl.wait_leader()
    c.leader = leader
    watched_member = next(m for m in cl.members if m != leader)
    got: list[WatchResponse] = []
    w = c.watch(b"k", got.append, member=watched_member)
    written: list[int] = []
    for i in range(4):
        r = cl.call(c.put, b"k", f"a{i}".encode())
        assert r.ok
        written.append(r.response.header.revision)
    cl.world.run_for(100_000)
    cl.world.crash(watched_member)
    for i in range(4):
        r = cl.call(c.put, b"k", f"b{i}".encode())
        assert r.ok
        written.append(r.response.header.revision)
    cl.world.run_for(1_000_000)
    assert w.resumes >= 1 and w.member != watched_member
    return cl, c, got, written


def test_resume_after_member_crash_has_no_gap_and_no_duplicate() -> None:
    cl, _c, got, written = run_crash_resume()
    revs = [ev.kv.mod_revision for r in got for ev in r.events]
    assert revs == written
    history = cl.history()
    opens = [o for _, o in history.watch_opens]
    assert [o.resumed for o in opens][:2] == [False, True]
    assert opens[1].start_revision == written[3] + 1
    assert check_watches(history) == []


def test_resume_at_last_revision_bug_duplicates_an_event() -> None:
    cl, _c, got, written = run_crash_resume(bugs=("watch_resume_at_last_revision",))
    revs = [ev.kv.mod_revision for r in got for ev in r.events]
    assert revs != written and sorted(set(revs)) == written  # one revision delivered twice
    found = {v.guarantee for v in check_watches(cl.history())}
    assert {"unique", "resumable"} <= found


def test_resume_into_compacted_revision_reports_the_compaction() -> None:
    cl = KVCluster(seed=22)
    c = cl.add_client("c1", config=FAST)
    leader = cl.wait_leader()
    c.leader = leader
    member = next(m for m in cl.members if m != leader)
    got: list[WatchResponse] = []
    w = c.watch(b"k", got.append, member=member)
    assert cl.call(c.put, b"k", b"1").ok
    cl.world.run_for(100_000)
    cl.world.crash(member)
    for i in range(3):
        assert cl.call(c.put, b"k", f"x{i}".encode()).ok
    assert cl.call(c.compact, 5).ok  # the watch's next revision (3) is gone
    cl.world.run_for(1_000_000)
    assert w.closed and w.compact_revision == 5
    assert got[-1].canceled and got[-1].compact_revision == 5
    assert check_watches(cl.history()) == []


def test_restarted_member_forgets_streams_and_the_watch_resumes() -> None:
    cl = KVCluster(seed=23)
    c = cl.add_client("c1", config=FAST)
    leader = cl.wait_leader()
    c.leader = leader
    member = next(m for m in cl.members if m != leader)
    got: list[WatchResponse] = []
    w = c.watch(b"k", got.append, member=member)
    assert cl.call(c.put, b"k", b"1").ok
    cl.world.run_for(50_000)
    cl.world.crash(member)
    cl.world.restart(member)  # back at once: its probe answer is "gone"
    assert cl.call(c.put, b"k", b"2").ok
    cl.world.run_for(1_000_000)
    assert w.resumes >= 1
    assert [ev.kv.value for r in got for ev in r.events] == [b"1", b"2"]
    assert check_watches(cl.history()) == []


def test_watch_survives_lossy_reordering_network() -> None:
    cl = KVCluster(seed=24, latency_us=(1_000, 40_000))
    c = cl.add_client("c1", config=FAST)
    cl.wait_leader()
    got: list[WatchResponse] = []
    c.watch(b"k", got.append, member=cl.leader())
    cl.world.run_for(50_000)
    cl.world.set_network(loss=0.1, duplicate=0.1)
    for i in range(30):
        c.put(b"k", f"v{i}".encode(), lambda r: None)
        cl.world.run_for(20_000)
    cl.world.set_network(loss=0.0, duplicate=0.0)
    cl.world.run_for(2_000_000)
    revs = [ev.kv.mod_revision for r in got for ev in r.events]
    assert revs == sorted(set(revs))  # ordered, unique
    assert check_watches(cl.history()) == []
