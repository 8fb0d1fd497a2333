"""Raft's value types: the one message family, log entries and hard state (hand-written
:class:`~raftkv.raft.value.Value` classes), and (from :mod:`raftkv.raft.records`)
snapshots, read states and configuration changes.

Everything here is an immutable value, so messages can be handed to the network (and
kept in traces) without copying.
"""

from __future__ import annotations

import enum
from typing import Final, final

from .records import ConfChange, ConfChangeType, ConfChangeV2, ReadState, Snapshot
from .value import Value

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


class EntryKind(enum.Enum):
    NORMAL = "normal"
    NOOP = "noop"  # appended by every new leader; never passed to the state machine
    CONF = "conf"  # data is a ConfChange


@final
class Entry(Value):
    """One log entry.  ``origin`` and ``seq``: who proposed it (node id) and that node's
    proposal number, so the proposing member can match the applied entry to its caller."""

    FIELDS = ("term", "index", "kind", "data", "origin", "seq")
    __slots__ = FIELDS

    def __init__(self, *, term: int, index: int, kind: EntryKind = EntryKind.NORMAL,
                 data: object = None, origin: str = "", seq: int = 0) -> None:
        self.term: Final = term
        self.index: Final = index
        self.kind: Final = kind
        self.data: Final = data
        self.origin: Final = origin
        self.seq: Final = seq

    def _fields(self) -> tuple[object, ...]:
        return (self.term, self.index, self.kind, self.data, self.origin, self.seq)


@final
class HardState(Value):
    """What a member must persist before it answers: its term, its vote, its commit index."""

    FIELDS = ("term", "vote", "commit")
    __slots__ = FIELDS

    def __init__(self, *, term: int = 0, vote: str | None = None, commit: int = 0) -> None:
        self.term: Final = term
        self.vote: Final = vote
        self.commit: Final = commit

    def _fields(self) -> tuple[object, ...]:
        return (self.term, self.vote, self.commit)


CAMPAIGN_TRANSFER = "transfer"


@final
class Message(Value):
    """One Raft message (the hottest object of a simulation)."""

    FIELDS = ("type", "src", "dst", "term", "log_term", "index", "entries", "commit", "reject",
              "reject_hint", "snapshot", "context")
    __slots__ = FIELDS

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
