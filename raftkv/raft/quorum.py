"""Quorum arithmetic over a cluster configuration (plain majority or joint)."""

from __future__ import annotations

import enum
from collections.abc import Mapping

from .cluster import ClusterConfig

__all__ = ["ClusterConfig", "VoteResult", "committed_index", "vote_result", "majority_committed"]


class VoteResult(enum.Enum):
    PENDING = "pending"
    WON = "won"
    LOST = "lost"


def majority_committed(voters: tuple[str, ...], match: Mapping[str, int]) -> int:
    """The largest index that a majority of ``voters`` has (0 for no voters: no constraint)."""
    n = len(voters)
    if n == 0:
        return 1 << 62
    acked = sorted((match.get(v, 0) for v in voters), reverse=True)
    return acked[n // 2]


def committed_index(config: ClusterConfig, match: Mapping[str, int]) -> int:
    idx = majority_committed(config.voters, match)
    if config.voters_outgoing:
        idx = min(idx, majority_committed(config.voters_outgoing, match))
    return idx


def _majority_vote(voters: tuple[str, ...], votes: Mapping[str, bool]) -> VoteResult:
    if not voters:
        return VoteResult.WON
    granted = rejected = 0
    for v in voters:
        got = votes.get(v)
        if got is True:
            granted += 1
        elif got is False:
            rejected += 1
    need = len(voters) // 2 + 1
    if granted >= need:
        return VoteResult.WON
    if rejected > len(voters) - need:
        return VoteResult.LOST
    return VoteResult.PENDING


def vote_result(config: ClusterConfig, votes: Mapping[str, bool]) -> VoteResult:
    a = _majority_vote(config.voters, votes)
    if not config.voters_outgoing:
        return a
    b = _majority_vote(config.voters_outgoing, votes)
    if a is VoteResult.LOST or b is VoteResult.LOST:
        return VoteResult.LOST
    if a is VoteResult.WON and b is VoteResult.WON:
        return VoteResult.WON
    return VoteResult.PENDING
