"""The part of membership faults every system shares: validating a requested change,
starting a fresh member, and handing the change to the system's retrying proposer."""

from __future__ import annotations

from collections.abc import Sequence

from .world import World

__all__ = ["MEMBERSHIP_RETRY_US", "MembershipFrontend"]

# How long a refused or unanswered membership change is retried before it is skipped.
MEMBERSHIP_RETRY_US = 3_000_000


class MembershipFrontend:
    """Implements :class:`~raftkv.sim.faults.MembershipControl` on top of three hooks:
    ``_members()`` (the current member names), ``_start_member(node)`` (host a fresh,
    joining member) and ``_attempt(op, node, deadline_us)`` (propose with retries)."""

    world: World

    def _members(self) -> Sequence[str]:
        raise NotImplementedError

    def _start_member(self, node: str) -> None:
        raise NotImplementedError

    def _attempt(self, op: str, node: str, deadline_us: int) -> None:
        raise NotImplementedError

    def add_member(self, node: str, learner: bool) -> None:
        if node in self.world.nodes:
            self.world.record("membership_skipped", op="add", node=node, why="node exists")
            return
        self._start_member(node)
        self._attempt("add_learner" if learner else "add_voter", node,
                      self.world.now_us + MEMBERSHIP_RETRY_US)

    def remove_member(self, node: str) -> None:
        self._change("remove", node)

    def promote(self, node: str) -> None:
        self._change("promote", node)

    def demote(self, node: str) -> None:
        self._change("demote", node)

    def _change(self, op: str, node: str) -> None:
        if node not in self._members():
            self.world.record("membership_skipped", op=op, node=node, why="not a member")
            return
        self._attempt(op, node, self.world.now_us + MEMBERSHIP_RETRY_US)
