"""ClusterConfig: who votes and who only listens.

Kept apart from the quorum arithmetic in :mod:`raftkv.raft.quorum` so that module can
be compiled (see ``setup.py``) while this stays a plain attrs value.
"""

from __future__ import annotations

import attrs

__all__ = ["ClusterConfig"]


def _sorted_unique(values: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(sorted(set(values)))


@attrs.frozen(kw_only=True)
class ClusterConfig:
    """Who votes and who only listens.

    ``voters_outgoing`` is non-empty only in a joint configuration (C_old,new), where
    every decision needs a majority of *both* voter sets.  ``learners_next`` (joint only)
    are outgoing voters being demoted: they become learners when the joint configuration
    is left.  ``auto_leave`` (joint only): the leader leaves the joint configuration on
    its own once it has applied it (etcd's ConfChangeTransitionAuto).
    """

    voters: tuple[str, ...] = attrs.field(converter=_sorted_unique)
    voters_outgoing: tuple[str, ...] = attrs.field(default=(), converter=_sorted_unique)
    learners: tuple[str, ...] = attrs.field(default=(), converter=_sorted_unique)
    learners_next: tuple[str, ...] = attrs.field(default=(), converter=_sorted_unique)
    auto_leave: bool = False

    def __attrs_post_init__(self) -> None:
        both = set(self.learners) & (set(self.voters) | set(self.voters_outgoing))
        assert not both, f"nodes {sorted(both)} are both voter and learner"
        nxt = set(self.learners_next)
        assert nxt <= set(self.voters_outgoing) and not nxt & set(self.voters), (
            f"learners_next {sorted(nxt)} must be outgoing voters only")
        assert self.joint or not (nxt or self.auto_leave), "learners_next/auto_leave outside a joint config"

    @property
    def joint(self) -> bool:
        return bool(self.voters_outgoing)

    def all_voters(self) -> tuple[str, ...]:
        return tuple(sorted(set(self.voters) | set(self.voters_outgoing)))

    def members(self) -> tuple[str, ...]:
        return tuple(sorted(set(self.voters) | set(self.voters_outgoing) | set(self.learners)))

    def is_learner(self, node: str) -> bool:
        return node in self.learners

    def describe(self) -> str:
        out = f"voters={','.join(self.voters) or '-'}"
        if self.joint:
            out += f" outgoing={','.join(self.voters_outgoing)}"
        if self.learners:
            out += f" learners={','.join(self.learners)}"
        if self.learners_next:
            out += f" learners_next={','.join(self.learners_next)}"
        return out

    def is_voter(self, node: str) -> bool:
        return node in self.voters or node in self.voters_outgoing
