"""The value types the Raft core hands its host: :class:`Ready` batches, :class:`SoftState`, :class:`Role`.

Kept apart from :mod:`raftkv.raft.core` so the core can be compiled (see ``setup.py``)
while these stay plain attrs values.
"""

from __future__ import annotations

import enum

import attrs

from .messages import Entry, HardState, Message, ReadState, Snapshot

__all__ = ["PendingRead", "Ready", "Role", "SoftState"]


class Role(enum.Enum):
    FOLLOWER = "follower"
    PRE_CANDIDATE = "pre_candidate"
    CANDIDATE = "candidate"
    LEADER = "leader"


@attrs.frozen(kw_only=True)
class SoftState:
    role: Role
    leader: str | None
    term: int


@attrs.frozen(kw_only=True)
class Ready:
    """One batch of work for the host, to be done in this order:

    1. persist ``snapshot`` (if any), then ``entries`` -- they replace the durable log
       from ``entries[0].index`` on (truncating anything after it) -- then
       ``hard_state`` (if not None); fsync when ``must_sync``;
    2. send ``messages``;
    3. restore ``snapshot`` into the state machine and apply ``committed_entries``;
       serve ``read_states`` once applied;
    4. call ``Raft.advance(ready)``.
    """

    soft_state: SoftState | None
    hard_state: HardState | None
    entries: tuple[Entry, ...]
    snapshot: Snapshot | None
    messages: tuple[Message, ...]
    committed_entries: tuple[Entry, ...]
    read_states: tuple[ReadState, ...]
    must_sync: bool


@attrs.frozen(kw_only=True)
class PendingRead:
    seq: int
    index: int
    requester: str
    context: object
