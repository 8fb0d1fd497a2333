"""Raft's snapshots, read states and configuration changes, each an immutable attrs
value.

Kept apart from :mod:`raftkv.raft.messages` (which re-exports them) so that module can be
compiled (see ``setup.py``) while these stay attrs values.
"""

from __future__ import annotations

import enum

import attrs

from .quorum import ClusterConfig

__all__ = ["ConfChange", "ConfChangeType", "ConfChangeV2", "ReadState", "Snapshot"]


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
class Snapshot:
    index: int
    term: int
    conf: ClusterConfig
    data: object = None


@attrs.frozen(kw_only=True)
class ReadState:
    """A linearizable read may be served once ``applied_index >= index``."""

    index: int
    context: object
