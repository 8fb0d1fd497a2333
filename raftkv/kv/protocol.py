"""The messages between clients and members (the "gRPC API" of a raftkv member).

Unary requests travel as :class:`ClientRequest` and are answered with one
:class:`ClientResponse` carrying the same ``req_id``: either ``response`` (a response
value of :mod:`raftkv.kv.types` or of this module) or ``error`` (a
:class:`~raftkv.kv.errors.KVError` *value*).  A member answers a request it cannot
serve because it is not the leader with :class:`ErrNotLeader` (``leader_hint`` names
the leader it knows, if any) *before* doing anything, so such an error always means
"not applied": the client may retry elsewhere.  :class:`~raftkv.kv.errors.ErrTimeout`
means the outcome is unknown.

Watches are streams.  A client opens a stream with :class:`WatchStreamOpen` (its own
``stream_id``, unique per client); the member answers with :class:`WatchStreamMessage`
values numbered ``seq = 0, 1, 2...`` (the network may reorder, duplicate or drop
them: the numbers let the client restore order and notice a gap).  The first one
is the ``created`` response, which carries the member's watch id.
:class:`WatchStreamProgress` asks for a progress notification (it doubles as a
keep-alive probe); :class:`WatchStreamClose` cancels.  A member that does not know a
stream answers :class:`WatchStreamGone`.
"""

from __future__ import annotations

import attrs

from .errors import KVError
from .types import StatusResponse, WatchCreateRequest, WatchResponse

__all__ = [
    "ClientRequest",
    "ClientResponse",
    "ErrNotLeader",
    "Member",
    "MemberListRequest",
    "MemberListResponse",
    "MemberStatus",
    "StatusRequest",
    "WatchStreamClose",
    "WatchStreamGone",
    "WatchStreamMessage",
    "WatchStreamOpen",
    "WatchStreamProgress",
]


class ErrNotLeader(KVError):
    """The member is not the leader; ``details['leader']`` names the one it knows ("" if none).

    Sent before the request was proposed: the request was certainly not applied.
    """

    message = "etcdserver: not leader"

    @property
    def leader(self) -> str:
        return str(self.details.get("leader", ""))


@attrs.frozen(kw_only=True)
class StatusRequest:
    pass


@attrs.frozen(kw_only=True)
class MemberStatus:
    """etcd's StatusResponse: the member's view of Raft plus its store's figures."""

    member: str
    leader: str  # "" when unknown
    raft_term: int
    raft_index: int  # commit index
    raft_applied_index: int
    is_leader: bool
    store: StatusResponse


@attrs.frozen(kw_only=True)
class MemberListRequest:
    """List voters and learners.  ``linearizable`` (the default): after a ReadIndex round,
    so the answer reflects every change applied before the request was sent; else the
    answering member's applied configuration at once (may be stale)."""

    linearizable: bool = True


@attrs.frozen(kw_only=True)
class Member:
    name: str
    is_learner: bool = False


@attrs.frozen(kw_only=True)
class MemberListResponse:
    members: tuple[Member, ...]
    leader: str  # "" when unknown
    responder: str


@attrs.frozen(kw_only=True)
class ClientRequest:
    req_id: int
    request: object


@attrs.frozen(kw_only=True)
class ClientResponse:
    req_id: int
    response: object = None
    error: KVError | None = None
    leader_hint: str = ""

    def __attrs_post_init__(self) -> None:
        assert (self.response is None) or (self.error is None), "both response and error"


@attrs.frozen(kw_only=True)
class WatchStreamOpen:
    stream_id: int
    request: WatchCreateRequest


@attrs.frozen(kw_only=True)
class WatchStreamMessage:
    stream_id: int
    seq: int
    response: WatchResponse


@attrs.frozen(kw_only=True)
class WatchStreamProgress:
    stream_id: int


@attrs.frozen(kw_only=True)
class WatchStreamClose:
    stream_id: int


@attrs.frozen(kw_only=True)
class WatchStreamGone:
    """The member has no such stream (it restarted, or the stream was closed)."""

    stream_id: int
