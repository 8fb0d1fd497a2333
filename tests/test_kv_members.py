"""The member API (etcd's Cluster service) through a simulated KVServer and the client."""

from __future__ import annotations

from typing import Any

import pytest

from raftkv.check import EtcdModel, check_leases, check_linearizable, check_watches
from raftkv.check.history import HistoryEvent
from raftkv.client import Client
from raftkv.kv.members import (
    ErrLearnerNotReady,
    ErrMemberChangePending,
    ErrMemberChangeRefused,
    ErrMemberExist,
    ErrMemberNotFound,
    ErrMemberNotLearner,
    ErrTooManyLearners,
    MemberAddRequest,
    MemberAddResponse,
    MemberPromoteResponse,
    MemberRemoveRequest,
    MemberRemoveResponse,
)
from raftkv.kv.protocol import ErrNotLeader, Member, MemberListResponse
from raftkv.kv.server import KVServer, ServerConfig
from raftkv.sim.kv_system import KVCluster

S = 1_000_000


def setup(seed: int = 4, members: int = 3, **kw: Any) -> tuple[KVCluster, Client]:
    cl = KVCluster(seed=seed, members=members, **kw)
    c = cl.add_client("c1")
    cl.wait_leader()
    return cl, c


def names(resp: Any) -> list[tuple[str, bool]]:
    return [(m.name, m.is_learner) for m in resp.members]


def write_some(cl: KVCluster, c: Client, n: int, prefix: str = "k") -> None:
    for i in range(n):
        assert cl.call(c.put, f"{prefix}{i}".encode(), b"v").ok


def test_add_learner_promote_refused_while_lagging_then_accepted() -> None:
    cl, c = setup()
    write_some(cl, c, 3)
    cl.start_member("n4")
    # the new member is cut off: it cannot catch up
    cl.world.partition([["n4"], ["n1", "n2", "n3"]])
    r = cl.call(c.member_add, "n4", learner=True)
    assert r.ok and isinstance(r.response, MemberAddResponse), r
    assert r.response.member == Member(name="n4", is_learner=True)
    assert names(r.response) == [("n1", False), ("n2", False), ("n3", False), ("n4", True)]
    write_some(cl, c, 20)
    p = cl.call(c.member_promote, "n4")
    assert p.outcome == "fail" and isinstance(p.error, ErrLearnerNotReady), p
    assert str(p.error) == "etcdserver: can only promote a learner member which is in sync with leader"
    assert p.error.details["lag"] > 16
    # a learner never votes nor blocks commits
    assert cl.call(c.put, b"during", b"partition").ok
    cl.world.heal()
    cl.world.run_for(S)
    p = cl.call(c.member_promote, "n4")
    assert p.ok and isinstance(p.response, MemberPromoteResponse), p
    assert ("n4", False) in names(p.response)
    lst = cl.call(c.member_list)
    assert lst.ok and isinstance(lst.response, MemberListResponse)
    assert names(lst.response) == [("n1", False), ("n2", False), ("n3", False), ("n4", False)]
    # n4 has the data
    assert cl.server("n4").store.revision == cl.server(cl.wait_leader()).store.revision


def test_member_list_reports_learners_and_follows_removals() -> None:
    cl, c = setup(seed=5)
    cl.start_member("n4")
    assert cl.call(c.member_add, "n4", learner=True).ok
    lst = cl.call(c.member_list)
    assert lst.ok and ("n4", True) in names(lst.response)
    # any member answers, after a ReadIndex round: it has applied the change
    follower = next(m for m in ("n1", "n2", "n3") if m != cl.leader())
    got: list[object] = []
    cl.server(follower).list_members(got.append)
    assert cl.world.run_until_pred(lambda: bool(got), S)
    assert isinstance(got[0], MemberListResponse) and ("n4", True) in names(got[0])
    r = cl.call(c.member_remove, "n4")
    assert r.ok and isinstance(r.response, MemberRemoveResponse)
    assert names(r.response) == [("n1", False), ("n2", False), ("n3", False)]
    assert "n4" not in c.members  # the client dropped the removed member
    lst = cl.call(c.member_list)
    assert names(lst.response) == [("n1", False), ("n2", False), ("n3", False)]
    assert cl.server(cl.wait_leader()).configuration.members() == ("n1", "n2", "n3")


def test_member_errors() -> None:
    cl, c = setup(seed=6, server_config=ServerConfig(max_learners=1))
    cases = [
        (c.member_add, ("n2",), {}, ErrMemberExist, "etcdserver: member ID already exist"),
        (c.member_promote, ("n2",), {}, ErrMemberNotLearner, "etcdserver: can only promote a learner member"),
        (c.member_promote, ("zz",), {}, ErrMemberNotFound, "etcdserver: member not found"),
        (c.member_remove, ("zz",), {}, ErrMemberNotFound, "etcdserver: member not found"),
    ]
    for method, args, kw, err, text in cases:
        r = cl.call(method, *args, **kw)
        assert r.outcome == "fail" and isinstance(r.error, err) and str(r.error) == text, (args, r)
    cl.start_member("n4")
    cl.start_member("n5")
    assert cl.call(c.member_add, "n4", learner=True).ok
    r = cl.call(c.member_add, "n5", learner=True)
    assert isinstance(r.error, ErrTooManyLearners), r
    assert str(r.error) == "etcdserver: too many learner members in cluster"
    assert cl.call(c.member_add, "n5").ok  # as a voter: no limit


def test_one_change_at_a_time_and_the_last_voter_stays() -> None:
    cl, c = setup(seed=7)
    cl.world.run_for(S // 5)  # the new leader's own first entry has applied
    leader = cl.server(cl.wait_leader())
    for n in ("n4", "n5"):
        cl.start_member(n)
    got: list[object] = []
    leader.change_members(MemberAddRequest(name="n4"), got.append)
    leader.change_members(MemberAddRequest(name="n5"), got.append)
    assert cl.world.run_until_pred(lambda: len(got) == 2, S)
    assert isinstance(got[0], ErrMemberChangePending), got
    assert str(got[0]) == "etcdserver: membership change still pending"
    assert isinstance(got[1], MemberAddResponse)
    # a follower refuses before proposing, naming the leader
    follower = cl.server(next(m for m in ("n1", "n2", "n3") if m != leader.env.node_id))
    follower.change_members(MemberAddRequest(name="n5"), got.append)
    assert isinstance(got[2], ErrNotLeader) and got[2].leader == leader.env.node_id
    # the client follows that hint
    c.leader = follower.env.node_id
    assert cl.call(c.member_add, "n5").ok
    # a one-member cluster cannot remove its only voter
    one, c1 = setup(seed=8, members=1)
    r = one.call(c1.member_remove, "n1")
    assert isinstance(r.error, ErrMemberChangeRefused) and "last voter" in r.error.reason, r


def test_member_ops_are_recorded_and_ignored_by_the_checkers() -> None:
    cl, c = setup(seed=9)
    cl.start_member("n4")
    assert cl.call(c.put, b"k", b"a").ok
    assert cl.call(c.member_add, "n4", learner=True).ok
    cl.world.run_for(S // 2)
    assert cl.call(c.member_promote, "n4").ok
    assert cl.call(c.member_list).ok
    assert cl.call(c.member_remove, "n1").outcome in ("ok", "unknown")
    assert cl.call(c.member_remove, "zz").outcome == "fail"
    assert cl.call(c.get, b"k").ok
    h = cl.history()
    done = [(e.f, e.type, e.value) for e in cl.recorder.records
            if isinstance(e, HistoryEvent) and e.f.startswith("member") and e.type != "invoke"]
    assert done[0] == ("member_add", "ok", ("n4", "learner"))
    assert done[1] == ("member_promote", "ok", "n4")
    assert done[2] == ("member_list", "ok", (("n1", "voter"), ("n2", "voter"), ("n3", "voter"),
                                             ("n4", "voter")))
    assert done[-1][:2] == ("member_remove", "fail")
    lin = check_linearizable(h, EtcdModel())
    assert lin.verdict == "ok", lin.explanation
    assert check_watches(h) == [] and check_leases(h) == []


def test_join_needs_a_fresh_name() -> None:
    cl = KVCluster(seed=1)
    with pytest.raises(ValueError, match="joins but is a bootstrap peer"):
        KVServer(cl.world._nodes["n1"].env, cl.members, cl.raft_config, cl.tick_us, join=True)
    with pytest.raises(ValueError, match="max_learners"):
        ServerConfig(max_learners=-1)
    with pytest.raises(ValueError, match="name"):
        MemberAddRequest(name="")
    assert MemberRemoveRequest(name="n1") == MemberRemoveRequest(name="n1")
