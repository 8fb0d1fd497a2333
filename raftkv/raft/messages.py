"""Raft's value types: log entries, snapshots, hard state and the one message family.

Everything here is an immutable attrs value, so messages can be handed to the network
(and kept in traces) without copying.
"""

from __future__ import annotations

import enum

import attrs

from .quorum import ClusterConfig

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


class ConfChangeType(enum.Enum):
    ADD_VOTER = "add_voter"
    ADD_LEARNER = "add_learner"
    REMOVE = "remove"


@attrs.frozen(kw_only=True)
class ConfChange:
    """One single-member change: the common case (at most one voter changes)."""

    type: ConfChangeType
    node_id: str


@attrs.frozen(kw_only=True)
class ConfChangeV2:
    """Several changes at once, through a joint configuration when more than one voter
    changes (etcd's ConfChangeV2).  With ``auto_leave`` the leader leaves the joint
    configuration by itself once it is applied; ``changes=()`` is the explicit leave."""

    changes: tuple[ConfChange, ...] = ()
    auto_leave: bool = True


@attrs.frozen(kw_only=True)
class Entry:
    term: int
    index: int
    kind: EntryKind = EntryKind.NORMAL
    data: object = None
    # Who proposed it (node id) and that node's proposal number: lets the proposing
    # member match the applied entry to its waiting caller.
    origin: str = ""
    seq: int = 0


@attrs.frozen(kw_only=True)
class Snapshot:
    index: int
    term: int
    conf: ClusterConfig
    data: object = None


@attrs.frozen(kw_only=True)
class HardState:
    term: int = 0
    vote: str | None = None
    commit: int = 0


@attrs.frozen(kw_only=True)
class ReadState:
    """A linearizable read may be served once ``applied_index >= index``."""

    index: int
    context: object


CAMPAIGN_TRANSFER = "transfer"


@attrs.frozen(kw_only=True)
class Message:
    type: MessageType
    src: str
    dst: str
    term: int = 0
    log_term: int = 0
    index: int = 0
    entries: tuple[Entry, ...] = ()
    commit: int = 0
    reject: bool = False
    reject_hint: int = 0
    snapshot: Snapshot | None = None
    context: object = None
