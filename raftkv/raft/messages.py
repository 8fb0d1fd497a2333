"""Raft's value types: the one message family, and (from :mod:`raftkv.raft.records`)
log entries, snapshots, hard state and configuration changes.

Everything here is an immutable value, so messages can be handed to the network (and
kept in traces) without copying.
"""

from __future__ import annotations

import enum
from typing import Final, final

from .records import (
    ConfChange,
    ConfChangeType,
    ConfChangeV2,
    Entry,
    EntryKind,
    HardState,
    ReadState,
    Snapshot,
)

__all__ = [
    "ConfChange", "ConfChangeType", "ConfChangeV2", "Entry", "EntryKind", "HardState", "Message",
    "MessageType", "ReadState", "Snapshot", "CAMPAIGN_TRANSFER",
]


class MessageType(enum.Enum):
    PRE_VOTE = "pre_vote"
    PRE_VOTE_RESP = "pre_vote_resp"
    VOTE = "vote"
    VOTE_RESP = "vote_resp"
    APPEND = "append"
    APPEND_RESP = "append_resp"
    HEARTBEAT = "heartbeat"
    HEARTBEAT_RESP = "heartbeat_resp"
    SNAPSHOT = "snapshot"
    # Forwarded by followers (term 0: they carry no term of their own).
    PROPOSE = "propose"
    READ_INDEX = "read_index"
    TRANSFER_LEADER = "transfer_leader"
    # Leader -> requester.
    READ_INDEX_RESP = "read_index_resp"
    # Leader -> transfer target: campaign now.
    TIMEOUT_NOW = "timeout_now"


CAMPAIGN_TRANSFER = "transfer"


_MESSAGE_FIELDS = ("type", "src", "dst", "term", "log_term", "index", "entries", "commit", "reject",
                   "reject_hint", "snapshot", "context")


@final
class Message:
    """One Raft message.  An immutable value like the attrs types above, written out by
    hand because it is the hottest object of a simulation: in the compiled build it is a
    native class (fields read without a dictionary lookup; ``Final`` makes them read-only
    there, and mypy enforces it everywhere).  Equality, hashing and ``repr`` are those of
    an attrs value with these fields."""

    __slots__ = _MESSAGE_FIELDS

    def __init__(self, *, type: MessageType, src: str, dst: str, term: int = 0, log_term: int = 0,
                 index: int = 0, entries: tuple[Entry, ...] = (), commit: int = 0,
                 reject: bool = False, reject_hint: int = 0, snapshot: Snapshot | None = None,
                 context: object = None) -> None:
        self.type: Final = type
        self.src: Final = src
        self.dst: Final = dst
        self.term: Final = term
        self.log_term: Final = log_term
        self.index: Final = index
        self.entries: Final = entries
        self.commit: Final = commit
        self.reject: Final = reject
        self.reject_hint: Final = reject_hint
        self.snapshot: Final = snapshot
        self.context: Final = context

    def _fields(self) -> tuple[object, ...]:
        return (self.type, self.src, self.dst, self.term, self.log_term, self.index, self.entries,
                self.commit, self.reject, self.reject_hint, self.snapshot, self.context)

    def routed(self, *, src: str, dst: str) -> Message:
        """This message from ``src`` to ``dst`` (a follower forwarding a request)."""
        return Message(type=self.type, src=src, dst=dst, term=self.term, log_term=self.log_term,
                       index=self.index, entries=self.entries, commit=self.commit,
                       reject=self.reject, reject_hint=self.reject_hint, snapshot=self.snapshot,
                       context=self.context)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Message):
            return NotImplemented
        return self._fields() == other._fields()

    def __ne__(self, other: object) -> bool:
        if not isinstance(other, Message):
            return NotImplemented
        return self._fields() != other._fields()

    def __hash__(self) -> int:
        return hash(self._fields())

    def __repr__(self) -> str:
        return ("Message(" + ", ".join(f"{name}={value!r}"
                                       for name, value in zip(_MESSAGE_FIELDS, self._fields())) + ")")

    def __reduce__(self) -> tuple[object, ...]:
        return (_message, self._fields())


def _message(*fields: object) -> Message:
    """Unpickles a :class:`Message`."""
    return Message(**dict(zip(_MESSAGE_FIELDS, fields)))  # type: ignore[arg-type]
