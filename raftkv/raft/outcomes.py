"""What a proposal or read handed to :class:`~raftkv.raft.host.RaftHost` can end in,
other than success: the error values passed to ``on_done`` / ``on_ready`` callbacks.

Kept apart from :mod:`raftkv.raft.host` so the host can be compiled (see ``setup.py``)
while these stay plain attrs values.
"""

from __future__ import annotations

import attrs

__all__ = ["Dropped", "NotLeader", "OutcomeUnknown", "ProposalError", "Refused"]


class ProposalError:
    """Base of the error values handed to ``on_done`` / ``on_ready`` callbacks."""


@attrs.frozen(kw_only=True)
class NotLeader(ProposalError):
    """Definitely not applied: there was no leader to take it (``leader_hint`` if known)."""

    leader_hint: str | None


@attrs.frozen(kw_only=True)
class Dropped(ProposalError):
    """Definitely not applied (e.g. refused during a leadership transfer)."""

    reason: str


@attrs.frozen(kw_only=True)
class Refused(ProposalError):
    """Definitely not applied: the leader refused the membership change (``reason`` says why:
    another change pending, a learner not caught up, the last voter, not a member...)."""

    reason: str


@attrs.frozen(kw_only=True)
class OutcomeUnknown(ProposalError):
    """Timed out: the entry may or may not be (or become) applied."""

    reason: str
