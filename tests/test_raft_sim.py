"""Raft scenarios in the deterministic simulator, with the safety checker always on."""

from __future__ import annotations

from typing import Any

import attrs
import pytest

from raftkv.raft import (
    HardState,
    NotLeader,
    ProposalError,
    RaftConfig,
    RaftHost,
    RaftMember,
    Role,
)
from raftkv.raft.durable import HARDSTATE_FILE
from raftkv.sim import World
from raftkv.sim.safety import SafetyChecker, SafetyViolation

SEC = 1_000_000
TICK_US = 100_000  # election timeout 10 ticks = 1 s (randomized to [1 s, 2 s))
CFG = RaftConfig(election_timeout_ticks=10, heartbeat_ticks=1)


class Cluster:
    def __init__(self, n: int = 3, *, seed: int = 1, config: RaftConfig = CFG) -> None:
        self.world = World(seed=seed, trace_messages=False)
        self.checker = SafetyChecker(self.world)
        self.names = tuple(f"n{i}" for i in range(1, n + 1))
        self.results: list[Any] = []
        for name in self.names:
            self.world.add_node(name, self._factory(config))

    def _factory(self, config: RaftConfig) -> Any:
        names = self.names
        return lambda env: RaftMember(env, names, config, tick_us=TICK_US)

    def host(self, name: str) -> RaftHost:
        actor: Any = self.world.actor(name)
        assert actor is not None, f"{name} is down"
        h = actor.raft_host
        assert isinstance(h, RaftHost)
        return h

    def up(self) -> list[str]:
        return [n for n in self.names if self.world.is_up(n)]

    def leader(self, among: list[str] | None = None) -> str | None:
        cands = [n for n in (among or self.up()) if self.world.is_up(n) and self.host(n).is_leader]
        if not cands:
            return None
        return max(cands, key=lambda n: self.host(n).term)

    def wait_leader(self, limit_us: int = 10 * SEC, among: list[str] | None = None) -> str:
        ok = self.world.run_until_pred(lambda: self.leader(among) is not None, limit_us)
        assert ok, "no leader elected"
        name = self.leader(among)
        assert name is not None
        return name

    def propose(self, name: str, key: str, value: object) -> None:
        self.host(name).propose((key, value), self.results.append)

    def applied(self, name: str) -> dict[str, object]:
        actor: Any = self.world.actor(name)
        return dict(actor.sm.data)

    def converged(self) -> bool:
        hosts = [self.host(n) for n in self.up()]
        commit = {h.commit_index for h in hosts}
        applied = {h.applied_index for h in hosts}
        return len(commit) == 1 and applied == commit


def test_election_and_replication() -> None:
    c = Cluster(3)
    leader = c.wait_leader()
    for i in range(20):
        c.propose(leader, f"k{i}", i)
    c.world.run_for(2 * SEC)
    assert len(c.results) == 20 and not any(isinstance(r, ProposalError) for r in c.results)
    assert all(c.applied(n) == {f"k{i}": i for i in range(20)} for n in c.names)
    assert c.checker.events_checked > 0


def test_leader_crash_new_leader_within_few_election_timeouts() -> None:
    c = Cluster(5, seed=2)
    old = c.wait_leader()
    c.propose(old, "a", 1)
    c.world.run_for(SEC)
    c.world.crash(old)
    t0 = c.world.now_us
    new = c.wait_leader(limit_us=6 * SEC)
    assert new != old
    assert c.world.now_us - t0 <= 4 * SEC  # election timeout is 1-2 s
    c.propose(new, "b", 2)
    c.world.run_for(SEC)
    assert c.applied(new) == {"a": 1, "b": 2}


def test_minority_partition_cannot_commit_and_logs_converge_after_heal() -> None:
    c = Cluster(5, seed=3)
    leader = c.wait_leader()
    c.propose(leader, "x", 0)
    c.world.run_for(SEC)
    others = [n for n in c.names if n != leader]
    minority = [leader, others[0]]
    majority = others[1:]
    c.world.partition([minority, majority])
    commit_before = c.host(leader).commit_index
    for i in range(5):
        c.propose(leader, f"lost{i}", i)
    c.world.run_for(5 * SEC)
    assert c.host(leader).commit_index == commit_before
    assert c.host(others[0]).commit_index == commit_before
    new = c.wait_leader(among=majority)
    for i in range(5):
        c.propose(new, f"won{i}", i)
    c.world.run_for(2 * SEC)
    c.world.heal()
    assert c.world.run_until_pred(c.converged, 10 * SEC)
    c.world.run_for(2 * SEC)
    want = c.applied(new)
    assert "won4" in want and "lost0" not in want
    for n in c.names:
        assert c.applied(n) == want
    # the old leader's proposals got no success (timed out or were told of the new leader)
    assert all(isinstance(r, int) or isinstance(r, ProposalError) for r in c.results)


def test_restart_after_losing_unsynced_writes_rejoins_safely() -> None:
    c = Cluster(3, seed=4)
    leader = c.wait_leader()
    follower = next(n for n in c.names if n != leader)
    for round_ in range(4):
        for i in range(10):
            c.propose(leader, f"r{round_}k{i}", i)
        c.world.run_for(30_000)  # crash while writes are in flight
        c.world.crash(follower, torn=True)
        c.world.run_for(SEC)
        c.world.restart(follower)
        c.world.run_for(2 * SEC)
        leader = c.wait_leader()
    assert c.world.run_until_pred(c.converged, 10 * SEC)
    c.world.run_for(SEC)
    assert c.applied(follower) == c.applied(leader)
    assert len(c.applied(leader)) == 40


def test_whole_cluster_restart_keeps_committed_entries() -> None:
    c = Cluster(3, seed=5)
    leader = c.wait_leader()
    for i in range(10):
        c.propose(leader, f"k{i}", i)
    c.world.run_for(SEC)
    done = [r for r in c.results if not isinstance(r, ProposalError)]
    assert len(done) == 10
    for n in c.names:
        c.world.crash(n)
    for n in c.names:
        c.world.restart(n)
    leader = c.wait_leader()
    c.propose(leader, "after", 1)
    c.world.run_for(2 * SEC)
    for n in c.names:
        assert c.applied(n) == {**{f"k{i}": i for i in range(10)}, "after": 1}


def test_far_behind_member_is_caught_up_by_snapshot() -> None:
    cfg = attrs.evolve(CFG, snapshot_interval_entries=40, compaction_keep_entries=5)
    c = Cluster(3, seed=6, config=cfg)
    leader = c.wait_leader()
    lagger = next(n for n in c.names if n != leader)
    c.world.crash(lagger)
    for i in range(150):
        c.propose(leader, f"k{i}", i)
        if i % 10 == 0:
            c.world.run_for(50_000)
    c.world.run_for(SEC)
    base = c.host(leader).raft
    assert base is not None and base.log.base_index > 0
    c.world.restart(lagger)
    assert c.world.run_until_pred(c.converged, 10 * SEC)
    installed = [e for e in c.world.trace.events
                 if e.node == lagger and e.kind == "raft.snapshot" and e.fields["how"] == "installed"]
    assert installed
    assert c.applied(lagger) == c.applied(leader) and len(c.applied(leader)) == 150
    # and it recovers from its own disk (snapshot + log) after another crash
    c.world.crash(lagger)
    c.world.restart(lagger)
    c.world.run_for(2 * SEC)
    assert c.applied(lagger) == c.applied(leader)


@pytest.mark.parametrize("drift_ppm", [-300_000, 250_000])
def test_skewed_clock_does_not_break_safety(drift_ppm: int) -> None:
    c = Cluster(3, seed=7)
    leader = c.wait_leader()
    c.world.set_clock(leader, offset_us=5 * SEC, drift_ppm=drift_ppm)
    reads: list[Any] = []
    for step in range(30):
        ldr = c.leader() or leader
        c.propose(ldr, f"k{step}", step)
        c.host(ldr).read_index(reads.append)
        if step % 10 == 5:
            c.world.partition([[ldr], [n for n in c.names if n != ldr]])
        if step % 10 == 8:
            c.world.heal()
        c.world.run_for(400_000)
    c.world.heal()
    c.world.run_for(5 * SEC)
    assert c.world.run_until_pred(c.converged, 10 * SEC)
    assert any(r is None for r in reads)


def test_proposal_on_follower_is_forwarded_and_read_index_works() -> None:
    c = Cluster(3, seed=8)
    leader = c.wait_leader()
    follower = next(n for n in c.names if n != leader)
    c.world.run_for(SEC)  # followers learn who leads from the first heartbeat
    c.propose(follower, "f", 1)
    got: list[Any] = []
    c.world.run_for(SEC)
    c.host(follower).read_index(got.append)
    c.world.run_for(SEC)
    assert got == [None] and c.applied(follower)["f"] == 1
    assert isinstance(c.results[0], int)


def test_proposal_without_leader_gets_not_leader() -> None:
    c = Cluster(3, seed=9)
    c.propose("n1", "k", 1)  # before any election
    c.world.run_for(1000)
    assert c.results == [NotLeader(leader_hint=None)]


def test_leadership_transfer_in_sim() -> None:
    c = Cluster(3, seed=10)
    leader = c.wait_leader()
    target = next(n for n in c.names if n != leader)
    c.host(leader).transfer_leadership(target)
    assert c.world.run_until_pred(lambda: c.host(target).is_leader, 2 * SEC)
    assert c.host(leader).role is Role.FOLLOWER


def test_vote_not_persisted_bug_loses_vote_on_crash() -> None:
    for bugs, vote_kept in ((frozenset(), True), (frozenset({"vote_not_persisted"}), False)):
        cfg = attrs.evolve(CFG, bugs=bugs)
        c = Cluster(3, seed=11, config=cfg)
        leader = c.wait_leader()
        voter = next(n for n in c.names if n != leader and c.host(n).raft.vote == leader)  # type: ignore[union-attr]
        c.world.crash(voter)
        durable = [r for r in c.world.disk(voter).read(HARDSTATE_FILE) if isinstance(r, HardState)]
        assert (bool(durable) and durable[-1].vote == leader) is vote_kept


def test_apply_before_durable_bug_is_caught_by_checker() -> None:
    cfg = attrs.evolve(CFG, bugs=frozenset({"apply_before_durable"}))
    c = Cluster(3, seed=12, config=cfg)
    leader = c.wait_leader()
    c.world.run_for(SEC)
    c.world.partition([[leader], [n for n in c.names if n != leader]])
    c.propose(leader, "ghost", 1)
    with pytest.raises(SafetyViolation) as exc:
        c.world.run_for(20 * SEC)
        c.world.heal()
        c.world.run_for(20 * SEC)
    msg = str(exc.value)
    assert "leader completeness" in msg or "state machine safety" in msg
    assert "trace tail" in msg


def test_same_seed_same_trace() -> None:
    def run() -> str:
        c = Cluster(3, seed=13)
        leader = c.wait_leader()
        for i in range(10):
            c.propose(leader, f"k{i}", i)
        c.world.crash(leader)
        c.world.run_for(5 * SEC)
        return c.world.trace.hash()

    assert run() == run()


def test_paused_leader_catches_up_ticks_though_its_clock_stepped_back() -> None:
    # Ticks run on the monotonic clock: a wall clock stepped back while the leader was
    # paused must not hide the time that passed (its lease must be over on resume).
    cfg = attrs.evolve(CFG, read_only="lease")
    c = Cluster(3, seed=5, config=cfg)
    leader = c.wait_leader()
    c.world.run_for(SEC)
    before = c.host(leader).raft
    assert before is not None
    ticks_before = before.ticks
    c.world.pause(leader)
    c.world.jump_clock(leader, -5 * SEC)
    c.world.run_for(3 * SEC)
    c.world.resume(leader)
    c.world.run_for(TICK_US // 10)
    r = c.host(leader).raft
    assert r is not None
    assert r.ticks - ticks_before >= 2 * cfg.election_timeout_ticks  # the lease is over
