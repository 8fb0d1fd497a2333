"""Request and response values of the key-value layer, mirroring etcd's v3 protobufs.

Keys and values are ``bytes``, as in etcd: byte order is the key order, and the
range conventions (``range_end == b"\\0"`` means "every key >= key"; a prefix's
range end is the prefix with its last byte incremented, see :func:`prefix_end`)
work on bytes directly.  Everything here is an immutable ``attrs`` value with
tuples inside, so requests can travel through Raft and the simulated network and
responses can be compared and recorded.

Differences from the protobufs, for Python's sake:

* ``RequestOp``/``ResponseOp`` are not wrappers: a txn branch is a tuple of the
  request values themselves (:data:`RequestOp` is their union).
* A :class:`Compare` has one ``operand`` field (``int`` for VERSION, CREATE, MOD and
  LEASE, ``bytes`` for VALUE) instead of a ``target_union``.
* TTLs carry their unit: ``ttl_s``.
* :class:`WatchResponse` has ``header_revision`` instead of a full header.
"""

from __future__ import annotations

import enum
from typing import Any

import attrs

__all__ = [
    "ALL_KEYS",
    "Compare",
    "CompareResult",
    "CompareTarget",
    "CompactionRequest",
    "CompactionResponse",
    "DeleteRangeRequest",
    "DeleteRangeResponse",
    "Event",
    "EventType",
    "KVSnapshot",
    "KeyValue",
    "LeaseGrantRequest",
    "LeaseGrantResponse",
    "LeaseKeepAliveRequest",
    "LeaseKeepAliveResponse",
    "LeaseLeasesRequest",
    "LeaseLeasesResponse",
    "LeaseRevokeRequest",
    "LeaseRevokeResponse",
    "LeaseState",
    "LeaseTimeToLiveRequest",
    "LeaseTimeToLiveResponse",
    "PutRequest",
    "PutResponse",
    "RangeRequest",
    "RangeResponse",
    "RequestOp",
    "ResponseHeader",
    "ResponseOp",
    "SortOrder",
    "SortTarget",
    "StatusResponse",
    "TxnRequest",
    "TxnResponse",
    "WatchCancelRequest",
    "WatchCreateRequest",
    "WatchFilter",
    "WatchProgressRequest",
    "WatchResponse",
    "WriteRequest",
    "prefix_end",
]

#: ``range_end`` meaning "every key >= key" (etcd's convention).
ALL_KEYS = b"\0"


def prefix_end(prefix: bytes) -> bytes:
    """The ``range_end`` selecting every key that starts with ``prefix`` (etcd GetPrefixRangeEnd)."""
    if not isinstance(prefix, bytes):
        raise TypeError(f"prefix must be bytes, got {type(prefix).__name__}")
    end = bytearray(prefix)
    for i in range(len(end) - 1, -1, -1):
        if end[i] < 0xFF:
            end[i] += 1
            return bytes(end[: i + 1])
    # empty prefix or all 0xff: every key
    return ALL_KEYS


def _bytes(inst: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    if not isinstance(value, bytes):
        raise TypeError(
            f"{type(inst).__name__}.{attribute.name} must be bytes, got {type(value).__name__}"
        )


def _tuple(inst: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    if not isinstance(value, tuple):
        raise TypeError(
            f"{type(inst).__name__}.{attribute.name} must be a tuple, got {type(value).__name__}"
        )


class SortOrder(enum.IntEnum):
    NONE = 0
    ASCEND = 1
    DESCEND = 2


class SortTarget(enum.IntEnum):
    KEY = 0
    VERSION = 1
    CREATE = 2
    MOD = 3
    VALUE = 4


class CompareResult(enum.IntEnum):
    EQUAL = 0
    GREATER = 1
    LESS = 2
    NOT_EQUAL = 3


class CompareTarget(enum.IntEnum):
    VERSION = 0
    CREATE = 1
    MOD = 2
    VALUE = 3
    LEASE = 4


class EventType(enum.IntEnum):
    PUT = 0
    DELETE = 1


class WatchFilter(enum.IntEnum):
    NOPUT = 0
    NODELETE = 1


@attrs.frozen(kw_only=True)
class ResponseHeader:
    revision: int
    raft_term: int = 0
    member_id: str = ""
    cluster_id: str = ""


@attrs.frozen(kw_only=True)
class KeyValue:
    key: bytes
    create_revision: int
    mod_revision: int
    version: int
    value: bytes = b""
    lease: int = 0


@attrs.frozen(kw_only=True)
class Event:
    """A change at ``kv.mod_revision``; for a DELETE, ``kv`` holds only key and mod_revision."""

    type: EventType
    kv: KeyValue
    prev_kv: KeyValue | None = None


# ---------------------------------------------------------------- KV requests


@attrs.frozen(kw_only=True)
class RangeRequest:
    key: bytes = attrs.field(validator=_bytes)
    range_end: bytes = attrs.field(default=b"", validator=_bytes)
    limit: int = 0
    revision: int = 0
    sort_order: SortOrder = SortOrder.NONE
    sort_target: SortTarget = SortTarget.KEY
    serializable: bool = False
    keys_only: bool = False
    count_only: bool = False
    min_mod_revision: int = 0
    max_mod_revision: int = 0
    min_create_revision: int = 0
    max_create_revision: int = 0


@attrs.frozen(kw_only=True)
class RangeResponse:
    header: ResponseHeader
    kvs: tuple[KeyValue, ...] = ()
    more: bool = False
    count: int = 0


@attrs.frozen(kw_only=True)
class PutRequest:
    key: bytes = attrs.field(validator=_bytes)
    value: bytes = attrs.field(default=b"", validator=_bytes)
    lease: int = 0
    prev_kv: bool = False
    ignore_value: bool = False
    ignore_lease: bool = False


@attrs.frozen(kw_only=True)
class PutResponse:
    header: ResponseHeader
    prev_kv: KeyValue | None = None


@attrs.frozen(kw_only=True)
class DeleteRangeRequest:
    key: bytes = attrs.field(validator=_bytes)
    range_end: bytes = attrs.field(default=b"", validator=_bytes)
    prev_kv: bool = False


@attrs.frozen(kw_only=True)
class DeleteRangeResponse:
    header: ResponseHeader
    deleted: int = 0
    prev_kvs: tuple[KeyValue, ...] = ()


@attrs.frozen(kw_only=True)
class Compare:
    """``<target of key(s)> <result> operand``; over a range it must hold for every key."""

    key: bytes = attrs.field(validator=_bytes)
    target: CompareTarget
    result: CompareResult
    operand: int | bytes
    range_end: bytes = attrs.field(default=b"", validator=_bytes)

    def __attrs_post_init__(self) -> None:
        if self.target is CompareTarget.VALUE:
            if not isinstance(self.operand, bytes):
                raise TypeError("Compare on VALUE needs a bytes operand")
        elif not isinstance(self.operand, int) or isinstance(self.operand, bool):
            raise TypeError(f"Compare on {self.target.name} needs an int operand")


@attrs.frozen(kw_only=True)
class TxnRequest:
    compare: tuple[Compare, ...] = attrs.field(default=(), validator=_tuple)
    success: tuple[RequestOp, ...] = attrs.field(default=(), validator=_tuple)
    failure: tuple[RequestOp, ...] = attrs.field(default=(), validator=_tuple)


@attrs.frozen(kw_only=True)
class TxnResponse:
    header: ResponseHeader
    succeeded: bool
    responses: tuple[ResponseOp, ...] = ()


RequestOp = RangeRequest | PutRequest | DeleteRangeRequest | TxnRequest
ResponseOp = RangeResponse | PutResponse | DeleteRangeResponse | TxnResponse


@attrs.frozen(kw_only=True)
class CompactionRequest:
    revision: int
    physical: bool = False


@attrs.frozen(kw_only=True)
class CompactionResponse:
    header: ResponseHeader


# ---------------------------------------------------------------- leases


@attrs.frozen(kw_only=True)
class LeaseGrantRequest:
    """``id == 0``: the store picks the next free id (deterministically)."""

    ttl_s: int
    id: int = 0


@attrs.frozen(kw_only=True)
class LeaseGrantResponse:
    header: ResponseHeader
    id: int
    ttl_s: int


@attrs.frozen(kw_only=True)
class LeaseRevokeRequest:
    """Revoke a lease, deleting its keys in one revision.  ``expired`` marks a revoke the
    leader proposed because the lease ran out (it changes nothing in the outcome)."""

    id: int
    expired: bool = False


@attrs.frozen(kw_only=True)
class LeaseRevokeResponse:
    header: ResponseHeader
    deleted: int = 0


@attrs.frozen(kw_only=True)
class LeaseKeepAliveRequest:
    id: int


@attrs.frozen(kw_only=True)
class LeaseKeepAliveResponse:
    header: ResponseHeader
    id: int
    ttl_s: int


@attrs.frozen(kw_only=True)
class LeaseTimeToLiveRequest:
    id: int
    keys: bool = False


@attrs.frozen(kw_only=True)
class LeaseTimeToLiveResponse:
    header: ResponseHeader
    id: int
    ttl_s: int
    granted_ttl_s: int
    keys: tuple[bytes, ...] = ()


@attrs.frozen(kw_only=True)
class LeaseLeasesRequest:
    pass


@attrs.frozen(kw_only=True)
class LeaseLeasesResponse:
    header: ResponseHeader
    leases: tuple[int, ...] = ()


#: Requests ``KVStore.apply`` accepts (what the server proposes through Raft).
WriteRequest = (
    RangeRequest
    | PutRequest
    | DeleteRangeRequest
    | TxnRequest
    | CompactionRequest
    | LeaseGrantRequest
    | LeaseRevokeRequest
    | LeaseLeasesRequest
)


# ---------------------------------------------------------------- watches


@attrs.frozen(kw_only=True)
class WatchCreateRequest:
    """``start_revision == 0``: from the next revision on."""

    key: bytes = attrs.field(validator=_bytes)
    range_end: bytes = attrs.field(default=b"", validator=_bytes)
    start_revision: int = 0
    progress_notify: bool = False
    filters: tuple[WatchFilter, ...] = attrs.field(default=(), validator=_tuple)
    prev_kv: bool = False


@attrs.frozen(kw_only=True)
class WatchCancelRequest:
    watch_id: int


@attrs.frozen(kw_only=True)
class WatchProgressRequest:
    pass


@attrs.frozen(kw_only=True)
class WatchResponse:
    watch_id: int
    header_revision: int
    events: tuple[Event, ...] = ()
    compact_revision: int = 0
    created: bool = False
    canceled: bool = False
    progress_notify: bool = False
    cancel_reason: str = ""


# ---------------------------------------------------------------- status, snapshot


@attrs.frozen(kw_only=True)
class StatusResponse:
    revision: int
    compact_revision: int
    applied_index: int
    applied_term: int
    key_count: int
    lease_count: int


@attrs.frozen(kw_only=True)
class LeaseState:
    """The replicated part of a lease (deadlines are leader-local and not in snapshots)."""

    id: int
    ttl_s: int
    keys: tuple[bytes, ...] = ()


@attrs.frozen(kw_only=True)
class KVSnapshot:
    """The whole replicated state of a :class:`~raftkv.kv.store.KVStore`, as one value.

    ``keys`` holds each key's retained history: ``(key, ((revision, KeyValue | None), ...))``
    with ``None`` for a deletion (tombstone).  ``events`` holds the retained watch history,
    one ``(revision, events)`` pair per revision.  Two members that applied the same log
    have equal snapshots.
    """

    revision: int
    compact_revision: int
    applied_index: int
    applied_term: int
    keys: tuple[tuple[bytes, tuple[tuple[int, KeyValue | None], ...]], ...]
    events: tuple[tuple[int, tuple[Event, ...]], ...]
    leases: tuple[LeaseState, ...]
    next_lease_id: int
