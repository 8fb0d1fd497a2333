"""The member API of a raftkv cluster (etcd's Cluster service): requests, responses, errors.

* :class:`MemberAddRequest` adds a fresh member (started with ``join=True`` and an empty
  disk) as a voter or, with ``is_learner``, as a learner that receives the log but does
  not vote;
* :class:`MemberPromoteRequest` makes a learner a voter: refused with
  :class:`ErrLearnerNotReady` until the learner has caught up with the leader's log;
* :class:`MemberRemoveRequest` removes a voter or a learner (the leader too: it leads
  until the removal commits, then hands over);
* :class:`~raftkv.kv.protocol.MemberListRequest` lists voters and learners, by default
  linearizably (after a ReadIndex round).

Changes run on the leader, one at a time: a change proposed while another one has not
been applied yet is refused with :class:`ErrMemberChangePending` (etcd-io/raft's
``pendingConfIndex``).  Every error here is sent *before* the change was proposed, so
it means "certainly not applied".  Successful changes answer once the leader has
applied the configuration entry, with the configuration it has then.
"""

from __future__ import annotations

import attrs

from .errors import KVError
from .protocol import Member

__all__ = [
    "MEMBER_REQUESTS",
    "ErrLearnerNotReady",
    "ErrMemberChangePending",
    "ErrMemberChangeRefused",
    "ErrMemberExist",
    "ErrMemberNotFound",
    "ErrMemberNotLearner",
    "ErrTooManyLearners",
    "MemberAddRequest",
    "MemberAddResponse",
    "MemberPromoteRequest",
    "MemberPromoteResponse",
    "MemberRemoveRequest",
    "MemberRemoveResponse",
]


class ErrMemberExist(KVError):
    """MemberAdd of a name that is already a voter or learner."""

    message = "etcdserver: member ID already exist"


class ErrMemberNotFound(KVError):
    """MemberRemove or MemberPromote of a name that is not a member."""

    message = "etcdserver: member not found"


class ErrMemberNotLearner(KVError):
    """MemberPromote of a voter."""

    message = "etcdserver: can only promote a learner member"


class ErrLearnerNotReady(KVError):
    """MemberPromote of a learner that lags behind the leader (``details['lag']`` entries)."""

    message = "etcdserver: can only promote a learner member which is in sync with leader"


class ErrTooManyLearners(KVError):
    """MemberAdd of a learner when the cluster already has ``ServerConfig.max_learners``."""

    message = "etcdserver: too many learner members in cluster"


class ErrMemberChangePending(KVError):
    """Another membership change has not been applied yet: one change at a time."""

    message = "etcdserver: membership change still pending"


class ErrMemberChangeRefused(KVError):
    """Any other change Raft refuses (``details['reason']``: removing the last voter, a
    joint configuration not yet left...)."""

    message = "etcdserver: membership change refused"

    @property
    def reason(self) -> str:
        return str(self.details.get("reason", ""))


@attrs.frozen(kw_only=True)
class MemberAddRequest:
    name: str
    is_learner: bool = False

    def __attrs_post_init__(self) -> None:
        if not self.name:
            raise ValueError("MemberAddRequest.name must not be empty")


@attrs.frozen(kw_only=True)
class MemberPromoteRequest:
    name: str


@attrs.frozen(kw_only=True)
class MemberRemoveRequest:
    name: str


@attrs.frozen(kw_only=True)
class MemberAddResponse:
    member: Member
    members: tuple[Member, ...]  # the configuration after the change


@attrs.frozen(kw_only=True)
class MemberPromoteResponse:
    members: tuple[Member, ...]


@attrs.frozen(kw_only=True)
class MemberRemoveResponse:
    members: tuple[Member, ...]


MEMBER_REQUESTS = (MemberAddRequest, MemberPromoteRequest, MemberRemoveRequest)
