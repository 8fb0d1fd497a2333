"""The safety checker reports each property it watches (fed hand-made records)."""

from __future__ import annotations

import pytest

from raftkv.sim import World
from raftkv.sim.safety import SafetyChecker, SafetyViolation


def checker() -> tuple[World, SafetyChecker]:
    w = World(seed=1)
    return w, SafetyChecker(w)


def test_election_safety() -> None:
    w, _ = checker()
    w.record("raft.role", "n1", role="leader", term=3, leader="n1")
    with pytest.raises(SafetyViolation, match="election safety") as exc:
        w.record("raft.role", "n2", role="leader", term=3, leader="n2")
    assert exc.value.nodes == ("n1", "n2") and exc.value.term == 3
    assert "trace tail" in str(exc.value)


def test_leader_append_only() -> None:
    w, _ = checker()
    w.record("raft.append", "n1", first=1, prev_term=0, terms=(1, 1, 1), role="leader", term=1)
    with pytest.raises(SafetyViolation, match="leader append-only"):
        w.record("raft.append", "n1", first=2, prev_term=1, terms=(1,), role="leader", term=1)


def test_follower_may_truncate() -> None:
    w, c = checker()
    w.record("raft.append", "n1", first=1, prev_term=0, terms=(1, 1, 1), role="follower", term=1)
    w.record("raft.append", "n1", first=2, prev_term=1, terms=(2,), role="follower", term=2)
    assert c.node_last["n1"] == 2


def test_log_matching() -> None:
    w, _ = checker()
    w.record("raft.append", "n1", first=1, prev_term=0, terms=(1, 2), role="follower", term=2)
    with pytest.raises(SafetyViolation, match="log matching") as exc:
        w.record("raft.append", "n2", first=1, prev_term=0, terms=(3, 2), role="follower", term=3)
    assert exc.value.index == 2


def test_state_machine_safety() -> None:
    w, _ = checker()
    w.record("raft.apply", "n1", first=1, terms=(1, 1), commit=2, term=1)
    w.record("raft.apply", "n2", first=1, terms=(1,), commit=1, term=1)
    with pytest.raises(SafetyViolation, match="state machine safety") as exc:
        w.record("raft.apply", "n3", first=2, terms=(2,), commit=2, term=2)
    assert exc.value.index == 2 and exc.value.nodes == ("n1", "n3")


def test_commit_rule() -> None:
    w, _ = checker()
    for node in ("n1", "n2"):
        w.record("raft.append", node, first=1, prev_term=0, terms=(2, 4), role="follower", term=4)
    # Committing the term-4 entry of a term-4 leader is fine...
    w.record("raft.commit", "n1", index=2, entry_term=4, term=4, voters=("n1", "n2", "n3"), outgoing=())
    # ...but a term-5 leader counting replicas of the term-4 entry is the Figure 8 bug.
    with pytest.raises(SafetyViolation, match="commit rule") as exc:
        w.record("raft.commit", "n2", index=2, entry_term=4, term=5, voters=("n1", "n2", "n3"),
                 outgoing=())
    assert exc.value.index == 2 and exc.value.term == 5
