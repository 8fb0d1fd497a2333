"""Membership: quorum arithmetic, configuration changes and every refusal (pure core)."""

from __future__ import annotations

import attrs
import pytest

from raftkv.raft import (
    ClusterConfig,
    ConfChange,
    ConfChangeError,
    ConfChangeRefused,
    ConfChangeType,
    ConfChangeV2,
    EntryKind,
    MessageType,
    ProposalDropped,
    RaftConfig,
    Role,
    VoteResult,
    apply_conf_change,
    committed_index,
    vote_result,
)
from raftkv.raft.testing import Network

CFG = RaftConfig(election_timeout_ticks=10, heartbeat_ticks=1)
ADD_V, ADD_L, REMOVE = ConfChangeType.ADD_VOTER, ConfChangeType.ADD_LEARNER, ConfChangeType.REMOVE


def cc(t: ConfChangeType, node: str) -> ConfChange:
    return ConfChange(type=t, node_id=node)


# ------------------------------------------------------------------ quorum math
def test_committed_index_simple_majority() -> None:
    conf = ClusterConfig(voters=("a", "b", "c"), learners=("l",))
    assert committed_index(conf, {"a": 5, "b": 3, "c": 1, "l": 9}) == 3
    assert committed_index(conf, {"a": 5}) == 0
    assert committed_index(ClusterConfig(voters=("a", "b", "c", "d")), {"a": 4, "b": 4, "c": 2, "d": 1}) == 2


def test_committed_index_joint_needs_both_majorities() -> None:
    conf = ClusterConfig(voters=("c", "d", "e"), voters_outgoing=("a", "b", "c"))
    # a majority of the old voters has 7, but of the new ones only 2
    assert committed_index(conf, {"a": 7, "b": 7, "c": 2, "d": 2, "e": 0}) == 2
    assert committed_index(conf, {"a": 7, "b": 7, "c": 5, "d": 6, "e": 0}) == 5


def test_vote_result_joint() -> None:
    conf = ClusterConfig(voters=("c", "d", "e"), voters_outgoing=("a", "b", "c"))
    assert vote_result(conf, {"a": True, "b": True}) is VoteResult.PENDING
    assert vote_result(conf, {"a": True, "b": True, "d": True, "e": True}) is VoteResult.WON
    assert vote_result(conf, {"a": True, "b": True, "d": False, "e": False}) is VoteResult.LOST
    assert vote_result(ClusterConfig(voters=("a", "b", "c"), learners=("l",)),
                       {"a": True, "l": True}) is VoteResult.PENDING


# ---------------------------------------------------------- configuration steps
def test_simple_changes() -> None:
    c = ClusterConfig(voters=("a", "b", "c"))
    assert apply_conf_change(c, cc(ADD_L, "d")) == ClusterConfig(voters=("a", "b", "c"), learners=("d",))
    promoted = apply_conf_change(ClusterConfig(voters=("a", "b", "c"), learners=("d",)), cc(ADD_V, "d"))
    assert promoted == ClusterConfig(voters=("a", "b", "c", "d"))
    assert apply_conf_change(c, cc(REMOVE, "b")).voters == ("a", "c")
    demoted = apply_conf_change(c, cc(ADD_L, "c"))
    assert demoted.voters == ("a", "b") and demoted.learners == ("c",) and not demoted.joint


def test_joint_enter_and_leave() -> None:
    c = ClusterConfig(voters=("a", "b", "c"))
    joint = apply_conf_change(c, ConfChangeV2(changes=(cc(ADD_V, "d"), cc(ADD_V, "e"), cc(ADD_L, "a"))))
    assert joint.joint and joint.auto_leave
    assert joint.voters == ("b", "c", "d", "e") and joint.voters_outgoing == ("a", "b", "c")
    assert joint.learners_next == ("a",) and joint.learners == ()
    left = apply_conf_change(joint, ConfChangeV2())
    assert left == ClusterConfig(voters=("b", "c", "d", "e"), learners=("a",))
    # one voter changing through V2 needs no joint configuration
    assert not apply_conf_change(c, ConfChangeV2(changes=(cc(ADD_V, "d"),))).joint


@pytest.mark.parametrize(("conf", "change", "why"), [
    (ClusterConfig(voters=("a",)), cc(REMOVE, "a"), "last voter"),
    (ClusterConfig(voters=("a", "b")), ConfChangeV2(changes=(cc(REMOVE, "a"), cc(REMOVE, "b"))), "last voter"),
    (ClusterConfig(voters=("a", "b")), cc(REMOVE, "x"), "not a member"),
    (ClusterConfig(voters=("a", "b")), cc(ADD_V, "a"), "already a voter"),
    (ClusterConfig(voters=("a",), learners=("l",)), cc(ADD_L, "l"), "already a learner"),
    (ClusterConfig(voters=("a",)), ConfChangeV2(), "not in a joint"),
    (ClusterConfig(voters=("b", "c"), voters_outgoing=("a",)), cc(ADD_V, "d"), "joint"),
    (ClusterConfig(voters=("a",)), "garbage", "not a configuration change"),
])
def test_refused_steps(conf: ClusterConfig, change: object, why: str) -> None:
    with pytest.raises(ConfChangeError, match=why):
        apply_conf_change(conf, change)


# ------------------------------------------------------------------ in the core
def joined_net(ids: tuple[str, ...], voters: tuple[str, ...], config: RaftConfig = CFG) -> Network:
    """A network where ``ids`` beyond ``voters`` are fresh members not yet in the configuration."""
    net = Network(ids, config=config)
    net.cluster = ClusterConfig(voters=voters)
    for n in ids:
        net.start(n)
    return net


def test_second_pending_change_refused() -> None:
    net = joined_net(("a", "b", "c", "d", "e"), ("a", "b", "c"))
    a = net.elect("a")
    a.propose_conf_change(cc(ADD_L, "d"))
    with pytest.raises(ConfChangeRefused, match="still pending"):
        a.propose_conf_change(cc(ADD_L, "e"))
    net.settle()
    a.propose_conf_change(cc(ADD_L, "e"))  # accepted once the first is applied
    net.settle()
    assert a.conf.learners == ("d", "e")


def test_promoting_a_lagging_learner_refused_until_caught_up() -> None:
    net = joined_net(("a", "b", "c", "d"), ("a", "b", "c"))
    a = net.elect("a")
    net.isolate("d")
    a.propose_conf_change(cc(ADD_L, "d"))
    net.settle()
    for i in range(30):
        net.propose("a", f"x{i}")
    with pytest.raises(ConfChangeRefused, match="not caught up") as exc:
        a.propose_conf_change(cc(ADD_V, "d"))
    assert "d" in str(exc.value)
    assert a.conf.learners == ("d",)
    net.heal()
    net.tick_all(3)
    assert a.learner_lag("d") == 0
    a.propose_conf_change(cc(ADD_V, "d"))
    net.settle()
    net.tick_all(2)
    assert net.nodes["d"].conf.voters == ("a", "b", "c", "d")


def test_removing_the_last_voter_refused() -> None:
    net = Network(("a",), config=CFG)
    a = net.elect("a")
    net.settle()
    with pytest.raises(ConfChangeRefused, match="last voter"):
        a.propose_conf_change(cc(REMOVE, "a"))


def test_partitioned_learner_never_blocks_commits() -> None:
    net = joined_net(("a", "b", "c", "l"), ("a", "b", "c"))
    a = net.elect("a")
    a.propose_conf_change(cc(ADD_L, "l"))
    net.settle()
    net.isolate("l")
    before = a.log.committed
    net.propose("a", "v")
    assert a.log.committed == before + 1
    net.tick("a")
    assert net.applied_data("b")[-1] == "v"
    net.tick("l", 50)  # a learner never campaigns
    assert net.nodes["l"].term == a.term
    assert not [m for m in net.sent if m.src == "l" and m.type is MessageType.PRE_VOTE]


def test_joint_consensus_commits_need_both_majorities_and_auto_leave() -> None:
    net = joined_net(("a", "b", "c", "d", "e"), ("a", "b", "c"))
    a = net.elect("a")
    change = ConfChangeV2(changes=(cc(ADD_V, "d"), cc(ADD_V, "e"), cc(REMOVE, "b")), auto_leave=False)
    a.propose_conf_change(change)
    net.settle()
    assert a.conf.joint and a.conf.voters == ("a", "c", "d", "e")
    net.isolate("d")
    net.isolate("e")
    committed = a.log.committed
    net.propose("a", "stuck")  # old majority a,b,c has it; new majority needs d or e
    assert a.log.committed == committed
    net.heal()
    net.tick_all(3)
    assert a.log.committed > committed
    with pytest.raises(ConfChangeRefused, match="joint"):
        a.propose_conf_change(cc(ADD_L, "b"))
    a.propose_conf_change(ConfChangeV2())
    net.settle()
    assert not a.conf.joint and a.conf.voters == ("a", "c", "d", "e")


def test_auto_leave_joint() -> None:
    net = joined_net(("a", "b", "c", "d", "e"), ("a", "b", "c"))
    a = net.elect("a")
    a.propose_conf_change(ConfChangeV2(changes=(cc(ADD_V, "d"), cc(ADD_V, "e"))))
    net.settle()
    net.tick_all(2)
    assert a.conf == ClusterConfig(voters=("a", "b", "c", "d", "e"))
    confs = [e.data for e in net.applied["c"] if e.kind is EntryKind.CONF]
    assert confs[-1] == ConfChangeV2() and len(confs) == 2


def test_removed_leader_leads_until_committed_then_hands_over() -> None:
    net = Network(("a", "b", "c"), config=CFG)
    a = net.elect("a")
    a.propose_conf_change(cc(REMOVE, "a"))
    net.settle()
    net.tick_all(3)
    assert net.nodes["b"].conf.voters == ("b", "c") and net.nodes["c"].conf.voters == ("b", "c")
    assert net.sent_of(MessageType.TIMEOUT_NOW), "the removed leader handed over"
    leaders = net.leaders()
    assert len(leaders) == 1 and leaders[0] in ("b", "c")
    net.propose(leaders[0], "after")
    net.tick(leaders[0])
    assert net.applied_data("b")[-1] == "after" and net.applied_data("c")[-1] == "after"


def test_removed_member_does_not_disrupt() -> None:
    cfg = attrs.evolve(CFG, pre_vote=False, check_quorum=False)
    net = Network(("a", "b", "c"), config=cfg)
    a = net.elect("a")
    net.isolate("c")  # c never learns it was removed
    a.propose_conf_change(cc(REMOVE, "c"))
    net.settle()
    net.tick_all(2)
    assert a.conf.voters == ("a", "b")
    term = a.term
    net.heal()
    c = net.nodes["c"]
    for _ in range(5):
        c.campaign(transfer=False)
        net.settle()
    assert a.role.value == "leader" and a.term == term and net.nodes["b"].term == term


@pytest.mark.parametrize("leave", [REMOVE, ADD_L])  # removal, demotion
def test_a_leaving_leader_appends_nothing_after_the_change(leave: ConfChangeType) -> None:
    net = joined_net(("a", "b", "c"), ("a", "b", "c"))
    a = net.elect("a")
    net.settle()
    index = a.propose_conf_change(cc(leave, "a"))
    with pytest.raises(ProposalDropped, match="leaving"):
        a.propose("after")
    assert a.log.last_index() == index
    net.settle()
    assert not a.conf.is_voter("a") and a.role is not Role.LEADER


def test_a_leaving_leader_appends_with_the_bug_on() -> None:
    net = joined_net(("a", "b", "c"), ("a", "b", "c"), attrs.evolve(CFG, bugs=frozenset({"leaving_leader_appends"})))
    a = net.elect("a")
    net.settle()
    index = a.propose_conf_change(cc(REMOVE, "a"))
    assert a.propose("after") == index + 1
