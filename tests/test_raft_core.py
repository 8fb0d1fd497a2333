"""Unit tests of the pure Raft core: the paper's rules and each feature, no simulator."""

from __future__ import annotations

import random

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from raftkv.raft import (
    ClusterConfig,
    ConfChange,
    ConfChangeRefused,
    ConfChangeType,
    Entry,
    HardState,
    Message,
    MessageType,
    ProposalDropped,
    Raft,
    RaftConfig,
    RaftConfigError,
    RaftLog,
    Role,
    VoteResult,
    committed_index,
    vote_result,
)
from raftkv.raft.testing import Network

MT = MessageType
CFG = RaftConfig(election_timeout_ticks=10, heartbeat_ticks=1)


def make(node: str = "a", voters: tuple[str, ...] = ("a", "b", "c"), *, term: int = 0,
         vote: str | None = None, terms: tuple[int, ...] = (), config: RaftConfig = CFG) -> Raft:
    log = RaftLog(entries=[Entry(term=t, index=i + 1) for i, t in enumerate(terms)])
    return Raft(node_id=node, config=config, rng=random.Random(0),
                cluster=ClusterConfig(voters=voters),
                hard_state=HardState(term=term, vote=vote), log=log)


def drain(r: Raft) -> list[Message]:
    msgs = []
    while r.has_ready():
        rd = r.ready()
        msgs.extend(rd.messages)
        r.advance(rd)
    return msgs


def vote_req(src: str, term: int, last_index: int = 0, last_term: int = 0,
             pre: bool = False) -> Message:
    return Message(type=MT.PRE_VOTE if pre else MT.VOTE, src=src, dst="a", term=term,
                   index=last_index, log_term=last_term)


# ----------------------------------------------------------------------- quorum
def test_quorum_majority_and_joint() -> None:
    c = ClusterConfig(voters=("a", "b", "c"))
    assert committed_index(c, {"a": 5, "b": 3, "c": 1}) == 3
    assert committed_index(c, {"a": 5}) == 0
    j = ClusterConfig(voters=("a", "b", "c"), voters_outgoing=("c", "d", "e"))
    assert committed_index(j, {"a": 5, "b": 5, "c": 1, "d": 1, "e": 0}) == 1
    assert vote_result(c, {"a": True, "b": True}) is VoteResult.WON
    assert vote_result(c, {"a": True, "b": False, "c": False}) is VoteResult.LOST
    assert vote_result(c, {"a": True, "b": False}) is VoteResult.PENDING
    assert vote_result(j, {"a": True, "b": True}) is VoteResult.PENDING
    assert vote_result(j, {"a": True, "b": True, "d": True, "e": True}) is VoteResult.WON


def test_config_rejects_bad_values() -> None:
    with pytest.raises(RaftConfigError, match="heartbeat_ticks"):
        RaftConfig(election_timeout_ticks=5, heartbeat_ticks=5)
    with pytest.raises(RaftConfigError, match="read_only"):
        RaftConfig(read_only="fast")
    with pytest.raises(RaftConfigError, match="unknown bugs"):
        RaftConfig(bugs=frozenset({"nope"}))


# ------------------------------------------------------------------- elections
def test_vote_once_per_term() -> None:
    r = make(config=attrs.evolve(CFG, pre_vote=False, check_quorum=False))
    r.step(vote_req("b", 2))
    r.step(vote_req("c", 2))
    resps = [m for m in drain(r) if m.type is MT.VOTE_RESP]
    assert [(m.dst, m.reject) for m in resps] == [("b", False), ("c", True)]
    assert r.vote == "b" and r.term == 2
    # the vote must be persisted before the response is sent: it is in the same Ready
    r2 = make(config=attrs.evolve(CFG, pre_vote=False, check_quorum=False))
    r2.step(vote_req("b", 2))
    rd = r2.ready()
    assert rd.hard_state == HardState(term=2, vote="b", commit=0) and rd.must_sync
    assert rd.messages[0].type is MT.VOTE_RESP


def test_repeated_vote_for_same_candidate_is_granted() -> None:
    r = make(config=attrs.evolve(CFG, pre_vote=False, check_quorum=False))
    r.step(vote_req("b", 2))
    r.step(vote_req("b", 2))
    assert [m.reject for m in drain(r) if m.type is MT.VOTE_RESP] == [False, False]


def test_reject_stale_terms() -> None:
    r = make(term=5, terms=(1, 5))
    r.step(Message(type=MT.APPEND, src="b", dst="a", term=3, index=2, log_term=5,
                   entries=(Entry(term=3, index=3),)))
    r.step(vote_req("c", 4, 10, 4))
    msgs = drain(r)
    assert r.term == 5 and r.log.last_index() == 2 and r.vote is None
    assert [(m.type, m.term) for m in msgs] == [(MT.APPEND_RESP, 5)]


@pytest.mark.parametrize(("last_index", "last_term", "granted"), [
    (3, 2, True), (2, 2, False), (9, 1, False), (1, 3, True), (4, 2, True),
])
def test_log_up_to_dateness(last_index: int, last_term: int, granted: bool) -> None:
    r = make(terms=(1, 1, 2), term=2, config=attrs.evolve(CFG, pre_vote=False, check_quorum=False))
    r.step(vote_req("b", 3, last_index, last_term))
    (resp,) = [m for m in drain(r) if m.type is MT.VOTE_RESP]
    assert resp.reject is (not granted)


def test_election_single_leader_and_term() -> None:
    net = Network(("a", "b", "c", "d", "e"))
    net.tick_all(40)
    leaders = net.leaders()
    assert len(leaders) == 1
    terms = {net.nodes[i].term for i in net.ids}
    assert len(terms) == 1
    assert all(net.nodes[i].lead == leaders[0] for i in net.ids)


def test_randomized_election_timeouts_come_from_injected_rng() -> None:
    a = make(config=CFG)
    b = make(config=CFG)
    assert a.randomized_election_timeout == b.randomized_election_timeout
    seen = set()
    for seed in range(20):
        r = Raft(node_id="a", config=CFG, rng=random.Random(seed),
                 cluster=ClusterConfig(voters=("a", "b", "c")))
        assert 10 <= r.randomized_election_timeout < 20
        seen.add(r.randomized_election_timeout)
    assert len(seen) > 3


def test_prevote_stops_term_inflation_of_partitioned_node() -> None:
    net = Network(("a", "b", "c"))
    net.elect("a")
    net.isolate("c")
    net.tick("c", 100)
    assert net.nodes["c"].term == 1 and net.nodes["c"].role is Role.PRE_CANDIDATE
    net.heal()
    net.tick_all(3)
    assert net.leaders() == ["a"] and net.nodes["a"].term == 1


def test_without_prevote_partitioned_node_disrupts() -> None:
    cfg = attrs.evolve(CFG, pre_vote=False, check_quorum=False)
    net = Network(("a", "b", "c"), config=cfg)
    net.elect("a")
    net.isolate("c")
    net.tick("c", 100)
    assert net.nodes["c"].term > 3


def test_check_quorum_leader_steps_down_when_isolated() -> None:
    net = Network(("a", "b", "c"))
    net.elect("a")
    net.isolate("a")
    net.tick("a", 25)
    assert net.nodes["a"].role is Role.FOLLOWER


def test_check_quorum_ignores_vote_while_leader_is_alive() -> None:
    r = make(node="b", config=CFG)
    r.step(Message(type=MT.HEARTBEAT, src="a", dst="b", term=1))
    r.step(vote_req("c", 2, 5, 1))
    assert r.term == 1 and r.vote is None


# ----------------------------------------------------------------- replication
def test_replication_converges_and_applies_in_order() -> None:
    net = Network(("a", "b", "c"))
    net.elect("a")
    for i in range(30):
        net.propose("a", f"v{i}")
    net.tick_all(2)
    want = [f"v{i}" for i in range(30)]
    for node in net.ids:
        assert net.applied_data(node) == want


def test_conflict_truncation() -> None:
    r = make(node="b", terms=(1, 1, 2, 2), term=2)
    r.step(Message(type=MT.APPEND, src="a", dst="b", term=3, index=2, log_term=1,
                   entries=(Entry(term=3, index=3),), commit=1))
    assert [e.term for e in r.log.entries] == [1, 1, 3]
    rd = r.ready()
    assert [e.index for e in rd.entries] == [3]
    (resp,) = rd.messages
    assert resp.type is MT.APPEND_RESP and not resp.reject and resp.index == 3


def test_no_conflict_truncation_bug_keeps_stale_suffix() -> None:
    cfg = attrs.evolve(CFG, bugs=frozenset({"no_conflict_truncation"}))
    r = make(node="b", terms=(1, 1, 2, 2), term=2, config=cfg)
    r.step(Message(type=MT.APPEND, src="a", dst="b", term=3, index=2, log_term=1,
                   entries=(Entry(term=3, index=3),), commit=1))
    assert [e.term for e in r.log.entries] == [1, 1, 3, 2]


def test_append_rejected_on_mismatch_with_hint() -> None:
    r = make(node="b", terms=(1, 1, 1, 1, 1, 1), term=3)
    r.step(Message(type=MT.APPEND, src="a", dst="b", term=3, index=9, log_term=3))
    (resp,) = drain(r)
    assert resp.reject and resp.reject_hint == 6 and resp.log_term == 1


def test_fast_backtracking_needs_few_round_trips() -> None:
    net = Network(("a", "b", "c"))
    net.elect("a")
    net.isolate("c")
    for i in range(200):
        net.nodes["a"].propose(f"x{i}")
    net.settle()
    net.heal()
    net.sent.clear()
    net.tick_all(2)
    rejects = [m for m in net.sent if m.type is MT.APPEND_RESP and m.reject and m.src == "c"]
    assert len(rejects) <= 2
    assert net.nodes["c"].log.last_index() == net.nodes["a"].log.last_index()


def test_divergent_follower_is_repaired() -> None:
    net = Network(("a", "b", "c", "d", "e"))
    net.elect("a")
    net.propose("a", "base")
    net.isolate("a")
    for i in range(20):  # uncommitted entries on the old leader
        net.nodes["a"].propose(f"lost{i}")
    net.settle()
    for n in ("c", "d", "e"):
        net.nodes[n].election_elapsed = 10  # their leader lease ran out
    net.elect("b")
    for i in range(5):
        net.propose("b", f"won{i}")
    net.heal()
    net.tick_all(25)
    assert net.leaders() == ["b"]
    for node in net.ids:
        assert net.applied_data(node) == ["base"] + [f"won{i}" for i in range(5)], node


def test_batching_bounds_entries_and_bytes() -> None:
    cfg = attrs.evolve(CFG, max_entries_per_msg=3, max_bytes_per_msg=200)
    net = Network(("a", "b", "c"), config=cfg)
    net.elect("a")
    net.isolate("b")
    for i in range(20):
        net.nodes["a"].propose("y" * 60 if i % 2 else f"s{i}")
    net.settle()
    net.heal()
    net.sent.clear()
    net.tick_all(3)
    apps = [m for m in net.sent if m.type is MT.APPEND and m.dst == "b" and m.entries]
    assert apps and all(len(m.entries) <= 3 for m in apps)
    assert any(len(m.entries) == 3 for m in apps)
    assert all(sum(24 + len(str(e.data)) for e in m.entries) <= 200 or len(m.entries) == 1
               for m in apps)
    assert net.applied_data("b") == net.applied_data("a")


def test_pipelining_bounded_inflight() -> None:
    cfg = attrs.evolve(CFG, max_entries_per_msg=1, max_inflight_msgs=4)
    net = Network(("a", "b", "c"), config=cfg)
    net.elect("a")
    a = net.nodes["a"]
    for i in range(10):
        a.propose(f"p{i}")
    rd = a.ready()
    to_b = [m for m in rd.messages if m.dst == "b" and m.type is MT.APPEND]
    assert len(to_b) == 4  # replicate state: 4 in flight, then paused
    assert a.prs["b"].is_paused()
    net.storage["a"].persist(rd)
    a.advance(rd)
    net.queue.extend(rd.messages)
    net.settle()
    net.tick_all(1)  # followers learn the final commit index from the next heartbeat
    assert net.applied_data("b") == [f"p{i}" for i in range(10)]


# ---------------------------------------------------------------- commit rule
def _figure8(bugs: frozenset[str]) -> Raft:
    """Leader s1 of term 4 has entry (2, term 2) on a majority; it must not commit it."""
    cfg = attrs.evolve(CFG, pre_vote=False, check_quorum=False, bugs=bugs)
    r = make(node="a", voters=("a", "b", "c", "d", "e"), terms=(1, 2), term=3, config=cfg)
    r.campaign(transfer=False)
    for v in ("b", "c"):
        r.step(Message(type=MT.VOTE_RESP, src=v, dst="a", term=4))
    assert r.role is Role.LEADER
    drain(r)
    # b and c have index 2 (term 2) but not the new no-op at 3
    for v in ("b", "c"):
        r.step(Message(type=MT.APPEND_RESP, src=v, dst="a", term=4, index=2))
    return r


def test_commit_rule_only_current_term_by_counting() -> None:
    r = _figure8(frozenset())
    assert r.log.committed == 0
    for v in ("b", "c"):
        r.step(Message(type=MT.APPEND_RESP, src=v, dst="a", term=4, index=3))
    assert r.log.committed == 3  # own-term entry commits everything before it


def test_figure8_bug_commits_previous_term_entry() -> None:
    r = _figure8(frozenset({"figure8_commit"}))
    assert r.log.committed == 2


def test_new_leader_appends_noop() -> None:
    net = Network(("a", "b", "c"))
    net.elect("b")
    e = net.nodes["b"].log.entry(1)
    assert e.term == 1 and e.kind.value == "noop"
    assert net.applied_data("a") == []  # no-ops are not application data


# ----------------------------------------------------------------- proposals
def test_follower_forwards_proposal_to_leader() -> None:
    net = Network(("a", "b", "c"))
    net.elect("a")
    assert net.nodes["b"].propose("fwd", origin="b", seq=7) == 0
    net.settle()
    net.tick_all(1)
    (e,) = [e for e in net.applied["b"] if e.data == "fwd"]
    assert (e.origin, e.seq) == ("b", 7)


def test_duplicated_forwarded_proposal_is_appended_once() -> None:
    net = Network(("a", "b", "c"))
    net.elect("a")
    prop = Message(type=MT.PROPOSE, src="b", dst="a",
                   entries=(Entry(term=0, index=0, data="once", origin="b", seq=9),))
    net.nodes["a"].step(prop)
    net.nodes["a"].step(prop)  # the network delivered it twice
    net.settle()
    net.tick_all(1)
    net.settle()
    assert [e.data for e in net.applied["a"]].count("once") == 1


def test_proposal_without_leader_is_refused() -> None:
    net = Network(("a", "b", "c"))
    with pytest.raises(ProposalDropped, match="no leader"):
        net.nodes["b"].propose("x")


# ------------------------------------------------------------------ snapshots
def test_compaction_and_snapshot_catch_up() -> None:
    cfg = attrs.evolve(CFG, compaction_keep_entries=5)
    net = Network(("a", "b", "c"), config=cfg)
    net.elect("a")
    net.isolate("c")
    for i in range(50):
        net.propose("a", i)
    a = net.nodes["a"]
    snap = a.create_snapshot(a.log.applied, tuple(net.applied_data("a")))
    assert a.log.base_index == snap.index - 5
    net.heal()
    net.sent.clear()
    net.tick_all(3)
    assert len(net.sent_of(MT.SNAPSHOT)) == 1
    c = net.nodes["c"]
    assert c.log.base_index == snap.index and c.log.applied >= snap.index
    assert net.storage["c"].snapshot == snap
    net.propose("a", "after")
    net.tick_all(2)
    assert net.applied_data("c")[-1] == "after"


def test_restart_from_storage_keeps_term_vote_log() -> None:
    net = Network(("a", "b", "c"))
    net.elect("a")
    for i in range(5):
        net.propose("a", i)
    net.crash("b")
    r = net.start("b")
    assert r.term == 1 and r.log.last_index() == 6 and r.vote == "a"
    net.tick_all(2)
    assert net.applied_data("b") == [0, 1, 2, 3, 4]


# ---------------------------------------------------------------------- reads
def test_read_index_needs_quorum_heartbeat() -> None:
    net = Network(("a", "b", "c"))
    net.elect("a")
    net.propose("a", "w")
    net.isolate("a")
    net.nodes["a"].read_index("r1")
    net.settle()
    assert net.read_states["a"] == []
    net.heal()
    net.nodes["a"].read_index("r2")
    net.settle()
    assert net.read_states["a"] == ["r1", "r2"]


def test_read_without_readindex_bug_serves_isolated_leader() -> None:
    cfg = attrs.evolve(CFG, bugs=frozenset({"read_without_readindex"}))
    net = Network(("a", "b", "c"), config=cfg)
    net.elect("a")
    net.isolate("a")
    net.nodes["a"].read_index("r1")
    net.settle()
    assert net.read_states["a"] == ["r1"]


def test_follower_read_index_forwarded() -> None:
    net = Network(("a", "b", "c"))
    net.elect("a")
    net.propose("a", "w")
    net.nodes["c"].read_index("rc")
    net.settle()
    assert net.read_states["c"] == ["rc"]
    assert net.nodes["c"].log.committed >= 2


def test_lease_reads_need_check_quorum() -> None:
    with pytest.raises(RaftConfigError, match="check_quorum"):
        attrs.evolve(CFG, read_only="lease", check_quorum=False)


def test_lease_read_serves_without_round_trip_and_expires() -> None:
    cfg = attrs.evolve(CFG, read_only="lease")
    net = Network(("a", "b", "c"), config=cfg)
    net.elect("a")
    net.tick_all(1)  # one acknowledged heartbeat round starts the lease
    net.isolate("a")
    net.sent.clear()
    net.nodes["a"].read_index("fast")
    net.settle()
    assert net.read_states["a"] == ["fast"]
    assert not net.sent_of(MT.HEARTBEAT)
    net.tick("a", cfg.lease_ticks())
    net.nodes["a"].read_index("late")
    net.settle()
    assert net.read_states["a"] == ["fast"]


def _lease_after_clock_jump(bugs: frozenset[str]) -> list[object]:
    cfg = attrs.evolve(CFG, read_only="lease", bugs=bugs)
    net = Network(("a", "b", "c"), config=cfg)
    for node in net.nodes.values():
        node.wall_lease_us = cfg.election_timeout_ticks * 10_000
        node.clock_us = 1_000_000
    net.elect("a")
    net.tick_all(1)  # one acknowledged heartbeat round starts the lease
    net.isolate("a")
    net.nodes["a"].clock_us = 0  # the leader's wall clock jumps back a second
    # past the lease, before CheckQuorum would make it step down
    assert cfg.lease_ticks() + 1 < cfg.election_timeout_ticks
    net.tick("a", cfg.lease_ticks() + 1)
    net.nodes["a"].read_index("late")
    net.settle()
    return net.read_states["a"]


def test_lease_is_timed_in_ticks_not_by_the_wall_clock() -> None:
    assert _lease_after_clock_jump(frozenset()) == []


def test_lease_skew_bug_trusts_the_wall_clock() -> None:
    assert _lease_after_clock_jump(frozenset({"lease_read_skew"})) == ["late"]


# ------------------------------------------------------------- transfer
def test_leadership_transfer_catches_up_target_first() -> None:
    net = Network(("a", "b", "c"))
    net.elect("a")
    net.isolate("c")
    for i in range(10):
        net.propose("a", i)
    net.heal()
    net.nodes["a"].transfer_leadership("c")
    net.settle()
    assert net.leaders() == ["c"] and net.nodes["c"].term == 2
    assert net.nodes["c"].log.last_index() >= 11


def test_proposals_dropped_during_transfer() -> None:
    net = Network(("a", "b", "c"))
    net.elect("a")
    net.isolate("c")
    net.nodes["a"].transfer_leadership("c")
    with pytest.raises(ProposalDropped, match="transfer"):
        net.nodes["a"].propose("x")


# ------------------------------------------------------------- membership
def test_add_and_remove_voter() -> None:
    net = Network(("a", "b", "c", "d"))
    net.cluster = ClusterConfig(voters=("a", "b", "c"))
    for n in net.ids:
        net.start(n)
    net.elect("a")
    net.nodes["a"].propose_conf_change(ConfChange(type=ConfChangeType.ADD_VOTER, node_id="d"))
    net.settle()
    net.tick_all(2)
    assert net.nodes["a"].conf.voters == ("a", "b", "c", "d")
    net.propose("a", "x")
    net.tick_all(2)
    assert net.applied_data("d") == ["x"]
    net.nodes["a"].propose_conf_change(ConfChange(type=ConfChangeType.REMOVE, node_id="b"))
    net.settle()
    net.tick_all(2)
    assert net.nodes["c"].conf.voters == ("a", "c", "d")


def test_pending_conf_guard_and_bug() -> None:
    for bugs, refused in ((frozenset(), True), (frozenset({"no_pending_conf_guard"}), False)):
        net = Network(("a", "b", "c"), config=attrs.evolve(CFG, bugs=bugs))
        net.elect("a")
        a = net.nodes["a"]
        a.propose_conf_change(ConfChange(type=ConfChangeType.ADD_LEARNER, node_id="x"))
        second = ConfChange(type=ConfChangeType.ADD_LEARNER, node_id="y")
        if refused:
            with pytest.raises(ConfChangeRefused, match="pending"):
                a.propose_conf_change(second)
        else:
            a.propose_conf_change(second)


def test_conf_change_waits_for_term_commit_unless_bug() -> None:
    for bugs, refused in ((frozenset(), True), (frozenset({"conf_change_before_term_commit"}), False)):
        net = Network(("a", "b", "c"), config=attrs.evolve(CFG, bugs=bugs))
        net.isolate("a")
        a = net.nodes["a"]
        a.campaign(transfer=False)
        a.step(Message(type=MT.PRE_VOTE_RESP, src="b", dst="a", term=1))
        a.step(Message(type=MT.VOTE_RESP, src="b", dst="a", term=1))
        assert a.role is Role.LEADER
        cc = ConfChange(type=ConfChangeType.REMOVE, node_id="c")
        if refused:
            with pytest.raises(ConfChangeRefused):
                a.propose_conf_change(cc)
        else:
            a.propose_conf_change(cc)


# ---------------------------------------------------------------- apply bug
def test_apply_before_durable_bug_applies_uncommitted() -> None:
    cfg = attrs.evolve(CFG, bugs=frozenset({"apply_before_durable"}))
    net = Network(("a", "b", "c"), config=cfg)
    net.elect("a")
    net.isolate("a")
    net.propose("a", "early")
    assert net.applied_data("a") == ["early"] and net.nodes["a"].log.committed < 2
    net2 = Network(("a", "b", "c"))
    net2.elect("a")
    net2.isolate("a")
    net2.propose("a", "early")
    assert net2.applied_data("a") == []


# ------------------------------------------------------------ random schedules
@settings(max_examples=25, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["tick", "propose", "isolate", "heal", "crash"]),
                          st.sampled_from(["a", "b", "c", "d", "e"])), max_size=60),
       st.integers(0, 1000))
def test_random_schedules_keep_safety(ops: list[tuple[str, str]], seed: int) -> None:
    net = Network(("a", "b", "c", "d", "e"), seed=seed)
    leaders_by_term: dict[int, str] = {}
    for op, node in ops:
        if op == "tick":
            net.tick_all(3)
        elif op == "propose":
            r = net.nodes[node]
            if node not in net.down and r.role is Role.LEADER:
                r.propose(f"{node}{len(net.sent)}")
                net.settle()
        elif op == "isolate":
            net.isolate(node)
        elif op == "heal":
            net.heal()
        elif op == "crash" and node not in net.down:
            net.crash(node)
            net.start(node)
        for n in net.leaders():
            t = net.nodes[n].term
            assert leaders_by_term.setdefault(t, n) == n, "two leaders in one term"
    net.heal()
    net.tick_all(40)
    # state machine safety: applied sequences are prefixes of one another
    seqs = sorted((net.applied[n] for n in net.ids), key=len)
    longest = [(e.index, e.term) for e in seqs[-1]]
    for s in seqs:
        got = [(e.index, e.term) for e in s]
        assert got == longest[: len(got)]
    assert len(net.leaders()) == 1
