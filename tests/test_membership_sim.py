"""Membership changes in the simulator, on the bare Raft system, with every check on."""

from __future__ import annotations

import pytest
from membership_helpers import GROW_SHRINK, S, events, run_membership, voters

from raftkv.raft import RaftConfig, RaftHost, RaftMember, Refused
from raftkv.sim import RunResult, World
from raftkv.sim.raft_system import RaftSystem
from raftkv.sim.safety import SafetyChecker
from raftkv.sim.scenario import Fault


def run(members: int, faults: tuple[Fault, ...], *, bugs: tuple[str, ...] = (), seed: int = 3,
        duration_us: int = 8 * S, snapshot_interval_entries: int = 200) -> RunResult:
    return run_membership("raft", members, faults, bugs=bugs, seed=seed, duration_us=duration_us,
                          snapshot_interval_entries=snapshot_interval_entries)


def system(r: RunResult) -> RaftSystem:
    assert isinstance(r.system, RaftSystem)
    return r.system


def client_oks(r: RunResult) -> int:
    return sum(1 for rec in system(r).recorder.records if getattr(rec, "type", "") == "ok")


def test_grow_1_3_5_and_shrink_5_3_under_load() -> None:
    r = run(1, GROW_SHRINK)
    assert r.ok, r.summary()
    assert voters(r) == ("n3", "n4", "n5")
    done = system(r).membership_done()
    assert [op for op, _ in done] == ["add_learner", "add_voter", "promote", "add_learner", "add_voter",
                                      "promote", "remove", "remove"], done
    # the second of two simultaneous adds waited for the first ("one change at a time")
    assert any(ev.fields["why"].startswith("a membership change is still pending")
               for ev in events(r, "membership_refused"))
    assert "n1" not in r.world.nodes and "n2" not in r.world.nodes
    assert client_oks(r) > 200
    commits = events(r, "raft.commit")
    assert any(len(ev.fields["voters"]) == 5 for ev in commits)


def test_replace_a_crashed_member_with_a_fresh_one() -> None:
    faults = (Fault(at_us=1 * S, kind="crash", node="n3"),
              Fault(at_us=4 * S, kind="add_member", node="n4", learner=True),
              Fault(at_us=5 * S, kind="promote", node="n4"),
              Fault(at_us=6 * S, kind="remove_member", node="n3"))
    r = run(3, faults, snapshot_interval_entries=20, duration_us=9 * S)
    assert r.ok, r.summary()
    assert voters(r) == ("n1", "n2", "n4")
    actor = r.world.actor("n4")
    assert isinstance(actor, RaftMember)
    leader = system(r).leader()
    assert leader is not None
    assert actor.raft_host.applied_index >= system(r).host(leader).commit_index - 1
    # n4 joined far behind a compacted log: it caught up by a snapshot
    assert any(ev.node == "n4" and ev.fields["how"] == "installed" for ev in events(r, "raft.snapshot"))


def test_remove_the_leader() -> None:
    faults = (Fault(at_us=2 * S, kind="remove_member", node="@leader"),)
    r = run(3, faults)
    assert r.ok, r.summary()
    removed = [n for op, n in system(r).membership_done() if op == "remove"]
    assert len(removed) == 1 and removed[0] not in voters(r) and len(voters(r)) == 2
    roles = [ev for ev in events(r, "raft.role") if ev.time_us > 2 * S and ev.fields["role"] == "leader"]
    assert roles and roles[0].node != removed[0]
    # the cluster kept serving writes after the handover
    assert any(ev.time_us > 3 * S for ev in events(r, "raft.commit"))


def test_partitioned_learner_never_blocks_commits() -> None:
    faults = (Fault(at_us=1 * S, kind="add_member", node="n4", learner=True),
              Fault(at_us=2 * S, kind="partition", groups=(("n4",), ("n1", "n2", "n3"))),
              Fault(at_us=6 * S, kind="heal"))
    r = run(3, faults)
    assert r.ok, r.summary()
    during = [ev for ev in events(r, "raft.commit") if 2 * S + 200_000 < ev.time_us < 6 * S]
    assert len(during) > 50
    campaigns = [ev for ev in events(r, "raft.role") if ev.node == "n4" and ev.fields["role"] != "follower"]
    assert campaigns == []  # a learner never campaigns


def test_no_pending_conf_guard_bug_is_caught() -> None:
    r = run(1, GROW_SHRINK, bugs=("no_pending_conf_guard",))
    assert [v.property for v in r.violations] == ["raft.configuration_change_safety"]
    assert "two changes in flight" in r.violations[0].message


def test_conf_change_before_term_commit_bug_is_caught() -> None:
    # The change arrives while the leader is down: it is retried on the next leader the
    # moment it is elected, before that leader has committed its no-op.
    faults = (Fault(at_us=1 * S, kind="crash", node="@leader"),
              Fault(at_us=1 * S + 1_000, kind="add_member", node="n4"),
              Fault(at_us=3 * S, kind="restart", node="@crashed"))
    clean = run(3, faults)
    assert clean.ok, clean.summary()
    assert any("pending" in ev.fields["why"] for ev in events(clean, "membership_refused"))
    buggy = run(3, faults, bugs=("conf_change_before_term_commit",))
    assert [v.property for v in buggy.violations] == ["raft.configuration_change_safety"]
    assert "before committing an entry of its own term" in buggy.violations[0].message


# ------------------------------------------------------------- recovery (World)
TICK_US = 10_000
CFG = RaftConfig(election_timeout_ticks=10, heartbeat_ticks=1)


def host(world: World, name: str) -> RaftHost:
    actor = world.actor(name)
    assert isinstance(actor, RaftMember)
    return actor.raft_host


@pytest.mark.parametrize("snapshot_every", [10_000, 5])
def test_restarted_members_recover_the_configuration(snapshot_every: int) -> None:
    world = World(seed=5, trace_messages=False)
    SafetyChecker(world)
    boot = ("n1", "n2", "n3")
    cfg = RaftConfig(election_timeout_ticks=10, heartbeat_ticks=1, snapshot_interval_entries=snapshot_every,
                     compaction_keep_entries=2)
    for n in boot:
        world.add_node(n, lambda env: RaftMember(env, boot, cfg, TICK_US))
    world.run_until_pred(lambda: any(world.actor(n) and host(world, n).is_leader for n in boot), 2 * S)
    world.run_for(S // 5)
    world.add_node("n4", lambda env: RaftMember(env, boot, cfg, TICK_US, join=True))
    results: list[object] = []

    def leader() -> RaftHost:
        hs = [host(world, n) for n in world.nodes if world.actor(n) is not None and host(world, n).is_leader]
        assert hs
        return max(hs, key=lambda h: h.term)

    leader().add_member("n4", learner=False, on_done=results.append)
    world.run_for(S // 2)
    for i in range(12):
        leader().propose((f"k{i}", i), results.append)
        world.run_for(20_000)
    leader().remove_member("n1", on_done=results.append)
    world.run_for(S // 2)
    assert results[0] is None and results[-1] is None, results
    world.remove_node("n1")
    for n in ("n2", "n3", "n4"):
        world.crash(n)
    for n in ("n2", "n3", "n4"):
        world.restart(n)
        assert host(world, n).cluster.voters == ("n2", "n3", "n4"), n
    assert world.run_until_pred(lambda: any(host(world, n).is_leader for n in ("n2", "n3", "n4")), 3 * S)


def test_member_api_refusals_and_list() -> None:
    world = World(seed=2, trace_messages=False)
    boot = ("n1", "n2", "n3")
    for n in boot:
        world.add_node(n, lambda env: RaftMember(env, boot, CFG, TICK_US))
    world.run_until_pred(lambda: any(host(world, n).is_leader for n in boot), 2 * S)
    lead = next(host(world, n) for n in boot if host(world, n).is_leader)
    got: list[object] = []
    lead.promote_member("n2", got.append)  # a voter
    lead.promote_member("zz", got.append)  # nobody
    lead.add_member("n3", learner=True, on_done=got.append)  # already a member
    lead.list_members(got.append)
    world.run_for(S // 10)
    assert [type(x) for x in got[:3]] == [Refused, Refused, Refused]
    assert [x.reason for x in got[:3] if isinstance(x, Refused)] == [
        "n2 is not a learner (a voter)", "zz is not a learner (not a member)", "n3 is already a member"]
    assert getattr(got[3], "voters", None) == boot
    follower = host(world, next(n for n in boot if not host(world, n).is_leader))
    follower.remove_member("n1", got.append)
    world.run_for(S // 10)
    assert type(got[4]).__name__ == "NotLeader"
    with pytest.raises(ValueError, match="join=True"):
        RaftHost(world._nodes["n1"].env, ("n2",), CFG, lead.sm, TICK_US)  # type: ignore[union-attr]


def _first_leader_us(fast_forward: bool) -> tuple[int, list[int]]:
    world = World(seed=5, trace_messages=False)
    boot = ("n1", "n2", "n3")
    for n in boot:
        world.add_node(n, lambda env: RaftMember(env, boot, CFG, TICK_US))
    advanced: list[int] = []
    if fast_forward:
        for n in boot:
            world.schedule(1, lambda n=n: advanced.append(host(world, n).fast_forward_election()))
    assert world.run_until_pred(lambda: any(host(world, n).is_leader for n in boot), 2 * S)
    elected_us = world.now_us
    # a member that is no longer fresh is left alone; one leader, in one term
    assert [host(world, n).fast_forward_election() for n in boot] == [0, 0, 0]
    world.run_for(S // 2)
    assert sum(host(world, n).is_leader for n in boot) == 1
    return elected_us, advanced


def test_a_fresh_clusters_first_election_is_fast_forwarded() -> None:
    # etcd's start-up fast-forward: all but two ticks of the election timeout are counted
    # at once, so the first campaign comes 2+ ticks later, not 10+
    slow_us, _ = _first_leader_us(False)
    fast_us, advanced = _first_leader_us(True)
    assert advanced == [8, 8, 8]
    assert slow_us >= CFG.election_timeout_ticks * TICK_US > fast_us, (slow_us, fast_us)
