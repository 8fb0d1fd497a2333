"""The client copes with members appearing and disappearing."""

from __future__ import annotations

import pytest

from raftkv.kv import WatchResponse
from raftkv.sim.kv_system import KVCluster

S = 1_000_000


def test_client_learns_a_new_leader_from_a_hint() -> None:
    cl = KVCluster(seed=12)
    c = cl.add_client("c1")
    cl.wait_leader()
    cl.world.run_for(S // 5)
    cl.start_member("n4")
    assert cl.call(c.member_add, "n4").ok
    cl.world.run_for(S // 2)
    # the client knows only n1 .. n3 and a member list; make n4 the leader
    c.members = ("n1", "n2", "n3")
    leader = cl.server(cl.wait_leader())
    leader.raft_host.transfer_leadership("n4")
    assert cl.world.run_until_pred(lambda: cl.leader() == "n4", S)
    c.leader = "n1" if leader.env.node_id != "n1" else "n2"
    r = cl.call(c.put, b"k", b"v")
    assert r.ok, r
    assert "n4" in c.members and c.leader == "n4"


def test_member_list_answer_teaches_members() -> None:
    cl = KVCluster(seed=13)
    c = cl.add_client("c1", members=("n1",))
    cl.wait_leader()
    r = cl.call(c.member_list)
    assert r.ok and c.members == ("n1", "n2", "n3")


def test_set_members_moves_watches_off_a_removed_member() -> None:
    cl = KVCluster(seed=14)
    c = cl.add_client("c1")
    leader = cl.wait_leader()
    victim = next(m for m in cl.members if m != leader)
    got: list[WatchResponse] = []
    w = c.watch(b"k", got.append, member=victim)
    cl.world.run_for(S // 10)
    assert w.member == victim and got and got[0].created
    assert cl.call(c.member_remove, victim).ok
    assert victim not in c.members and w.member != victim  # moved at once
    cl.world.remove_node(victim)
    assert cl.call(c.put, b"k", b"after").ok
    cl.world.run_for(S // 5)
    values = [ev.kv.value for resp in got for ev in resp.events]
    assert values == [b"after"]
    h = cl.history()
    assert any(getattr(rec, "resumed", False) for rec in h.records)
    with pytest.raises(ValueError, match="at least one member"):
        c.set_members(())
