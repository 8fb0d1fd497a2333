"""The value types the Raft core hands its host: :class:`Ready` batches,
:class:`SoftState`, :class:`Role`.

Hand-written :class:`~raftkv.raft.value.Value` classes (native in the compiled build).
"""

from __future__ import annotations

import enum
from typing import Final, final

from .messages import Entry, HardState, Message, ReadState, Snapshot
from .value import Value

__all__ = ["PendingRead", "Ready", "Role", "SoftState"]


class Role(enum.Enum):
    FOLLOWER = "follower"
    PRE_CANDIDATE = "pre_candidate"
    CANDIDATE = "candidate"
    LEADER = "leader"


@final
class SoftState(Value):
    """Volatile state a host may want to report: the role, the leader, the term."""

    FIELDS = ("role", "leader", "term")
    __slots__ = FIELDS

    def __init__(self, *, role: Role, leader: str | None, term: int) -> None:
        self.role: Final = role
        self.leader: Final = leader
        self.term: Final = term

    def _fields(self) -> tuple[object, ...]:
        return (self.role, self.leader, self.term)


@final
class Ready(Value):
    """One batch of work for the host, to be done in this order:

    1. persist ``snapshot`` (if any), then ``entries`` -- they replace the durable log
       from ``entries[0].index`` on (truncating anything after it) -- then
       ``hard_state`` (if not None); fsync when ``must_sync``;
    2. send ``messages``;
    3. restore ``snapshot`` into the state machine and apply ``committed_entries``;
       serve ``read_states`` once applied;
    4. call ``Raft.advance(ready)``.
    """

    FIELDS = ("soft_state", "hard_state", "entries", "snapshot", "messages", "committed_entries",
              "read_states", "must_sync")
    __slots__ = FIELDS

    def __init__(self, *, soft_state: SoftState | None, hard_state: HardState | None,
                 entries: tuple[Entry, ...], snapshot: Snapshot | None, messages: tuple[Message, ...],
                 committed_entries: tuple[Entry, ...], read_states: tuple[ReadState, ...],
                 must_sync: bool) -> None:
        self.soft_state: Final = soft_state
        self.hard_state: Final = hard_state
        self.entries: Final = entries
        self.snapshot: Final = snapshot
        self.messages: Final = messages
        self.committed_entries: Final = committed_entries
        self.read_states: Final = read_states
        self.must_sync: Final = must_sync

    def _fields(self) -> tuple[object, ...]:
        return (self.soft_state, self.hard_state, self.entries, self.snapshot, self.messages,
                self.committed_entries, self.read_states, self.must_sync)


@final
class PendingRead(Value):
    """A ReadIndex request waiting for its heartbeat round (leader side)."""

    FIELDS = ("seq", "index", "requester", "context")
    __slots__ = FIELDS

    def __init__(self, *, seq: int, index: int, requester: str, context: object) -> None:
        self.seq: Final = seq
        self.index: Final = index
        self.requester: Final = requester
        self.context: Final = context

    def _fields(self) -> tuple[object, ...]:
        return (self.seq, self.index, self.requester, self.context)
