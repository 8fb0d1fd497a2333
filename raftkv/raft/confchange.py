"""Configuration arithmetic: what a membership change does to a :class:`ClusterConfig`.

Pure functions, shared by the leader (to refuse a change before it enters the log) and
by every member (to apply it once committed).  A change is *simple* when at most one
voter changes; otherwise it enters a *joint* configuration (C_old,new) that every
decision must satisfy with majorities of both voter sets, left later by an empty
:class:`ConfChangeV2` (proposed by the leader itself when ``auto_leave``).
"""

from __future__ import annotations

from .messages import ConfChange, ConfChangeType, ConfChangeV2
from .quorum import ClusterConfig

__all__ = ["ConfChangeError", "apply_conf_change", "describe_change"]


class ConfChangeError(ValueError):
    """The change makes no sense in the configuration it would apply to."""


def describe_change(cc: object) -> str:
    if isinstance(cc, ConfChange):
        return f"{cc.type.value} {cc.node_id}"
    if isinstance(cc, ConfChangeV2):
        if not cc.changes:
            return "leave joint"
        return "; ".join(describe_change(c) for c in cc.changes)
    return repr(cc)


def _changes(cc: object) -> tuple[ConfChange, ...]:
    if isinstance(cc, ConfChange):
        return (cc,)
    if isinstance(cc, ConfChangeV2):
        return cc.changes
    raise ConfChangeError(f"not a configuration change: {cc!r}")


def _step(voters: set[str], learners: set[str], cc: ConfChange) -> None:
    node = cc.node_id
    if not node:
        raise ConfChangeError("a configuration change needs a node id")
    if cc.type is ConfChangeType.ADD_VOTER:
        if node in voters:
            raise ConfChangeError(f"{node} is already a voter")
        learners.discard(node)
        voters.add(node)
    elif cc.type is ConfChangeType.ADD_LEARNER:
        if node in learners:
            raise ConfChangeError(f"{node} is already a learner")
        voters.discard(node)  # a voter becomes a learner (a demotion)
        learners.add(node)
    else:
        if node not in voters and node not in learners:
            raise ConfChangeError(f"{node} is not a member")
        voters.discard(node)
        learners.discard(node)


def apply_conf_change(conf: ClusterConfig, cc: object) -> ClusterConfig:
    """The configuration after ``cc``; raises :class:`ConfChangeError` if ``cc`` is refused."""
    changes = _changes(cc)
    if isinstance(cc, ConfChangeV2) and not changes:
        if not conf.joint:
            raise ConfChangeError("not in a joint configuration: nothing to leave")
        learners = set(conf.learners) | set(conf.learners_next)
        return ClusterConfig(voters=conf.voters, learners=tuple(learners))
    if conf.joint:
        raise ConfChangeError("in a joint configuration: it must be left before another change")
    voters = set(conf.voters)
    learners = set(conf.learners)
    for c in changes:
        _step(voters, learners, c)
    if not voters:
        raise ConfChangeError("the change would remove the last voter")
    old = set(conf.voters)
    if len(voters ^ old) <= 1:
        return ClusterConfig(voters=tuple(voters), learners=tuple(learners))
    # Joint: old voters stay as the outgoing set; demoted voters wait in learners_next.
    learners_next = learners & old
    auto_leave = cc.auto_leave if isinstance(cc, ConfChangeV2) else True
    return ClusterConfig(voters=tuple(voters), voters_outgoing=tuple(old),
                         learners=tuple(learners - old), learners_next=tuple(learners_next),
                         auto_leave=auto_leave)
