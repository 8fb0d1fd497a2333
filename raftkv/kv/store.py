"""KVStore: the replicated state machine (MVCC + leases), and its member-local watch hub.

Everything that changes replicated state goes through :meth:`KVStore.apply`, with the
Raft entry's index and term; the result of an entry is a response value or, for a
request etcd would reject, the :class:`~raftkv.kv.errors.KVError` *instance* (``apply``
returns errors, it does not raise them, so a bad request never breaks the apply
loop and every member computes an equal result).  A rejected request changes
nothing.  ``apply`` reads no clock: ``now_us`` (the member's local time) only sets the
local deadline of granted leases.

Reads that do not go through Raft (after ReadIndex, or serializable) use
:meth:`KVStore.range`.  Lease keepalive and time-to-live are served by the leader
locally, as in etcd (:meth:`KVStore.lease_keepalive`, :meth:`KVStore.lease_time_to_live`).
"""

from __future__ import annotations

from typing import Any

from ..bugs import NO_BUGS, BugSet
from .errors import (
    ErrEmptyKey,
    ErrInvalidRequest,
    ErrKeyNotFound,
    ErrLeaseNotFound,
    ErrLeaseProvided,
    ErrValueProvided,
    KVError,
    UnknownRequestError,
)
from .lease import Lessor
from .mvcc import MVCC
from .txn import DEFAULT_MAX_TXN_OPS, check_request_op, check_txn, compare_holds
from .types import (
    CompactionRequest,
    CompactionResponse,
    DeleteRangeRequest,
    DeleteRangeResponse,
    KeyValue,
    KVSnapshot,
    LeaseGrantRequest,
    LeaseGrantResponse,
    LeaseKeepAliveRequest,
    LeaseKeepAliveResponse,
    LeaseLeasesRequest,
    LeaseLeasesResponse,
    LeaseRevokeRequest,
    LeaseRevokeResponse,
    LeaseTimeToLiveRequest,
    LeaseTimeToLiveResponse,
    PutRequest,
    PutResponse,
    RangeRequest,
    RangeResponse,
    RequestOp,
    ResponseHeader,
    ResponseOp,
    SortOrder,
    SortTarget,
    StatusResponse,
    TxnRequest,
    TxnResponse,
)
from .watch import WatchHub

__all__ = ["KVStore"]

_SORT_KEYS = {
    SortTarget.KEY: lambda kv: kv.key,
    SortTarget.VERSION: lambda kv: kv.version,
    SortTarget.CREATE: lambda kv: kv.create_revision,
    SortTarget.MOD: lambda kv: kv.mod_revision,
    SortTarget.VALUE: lambda kv: kv.value,
}


class _Plan:
    """A txn with its branch chosen (compares evaluated before any write)."""

    __slots__ = ("nested", "ops", "succeeded")

    def __init__(self, succeeded: bool, ops: tuple[RequestOp, ...]) -> None:
        self.succeeded = succeeded
        self.ops = ops
        self.nested: dict[int, _Plan] = {}


class KVStore:
    """The etcd v3 state machine.

    ``min_ttl_s``: granted TTLs are raised to this (etcd ties it to the election
    timeout).  ``max_txn_ops``: operations per txn branch.  ``bugs``: switched-on bugs
    of the catalogue (``lease_no_extend_on_leader_change`` lives in the lessor).
    """

    def __init__(
        self,
        *,
        min_ttl_s: int = 1,
        max_txn_ops: int = DEFAULT_MAX_TXN_OPS,
        expired_retry_us: int = 3_000_000,
        max_events_per_response: int = 1000,
        bugs: BugSet = NO_BUGS,
    ) -> None:
        if max_txn_ops < 1:
            raise ValueError(f"max_txn_ops must be >= 1, got {max_txn_ops}")
        self.max_txn_ops = max_txn_ops
        self.bugs = bugs
        self.mvcc = MVCC(bugs=bugs)
        self.lessor = Lessor(min_ttl_s=min_ttl_s, expired_retry_us=expired_retry_us, bugs=bugs)
        self.watches = WatchHub(self.mvcc, max_events_per_response=max_events_per_response)
        self.applied_index = 0
        self.applied_term = 0
        self._term = 0
        self._now_us: int | None = None
        self._dispatch: dict[type, Any] = {
            PutRequest: self._apply_put,
            DeleteRangeRequest: self._apply_delete,
            TxnRequest: self._apply_txn,
            RangeRequest: self._apply_range,
            CompactionRequest: self._apply_compact,
            LeaseGrantRequest: self._apply_lease_grant,
            LeaseRevokeRequest: self._apply_lease_revoke,
            LeaseLeasesRequest: self._apply_lease_leases,
        }

    # ------------------------------------------------------------ properties

    @property
    def revision(self) -> int:
        return self.mvcc.revision

    @property
    def compact_revision(self) -> int:
        return self.mvcc.compact_revision

    def status(self) -> StatusResponse:
        return StatusResponse(
            revision=self.mvcc.revision,
            compact_revision=self.mvcc.compact_revision,
            applied_index=self.applied_index,
            applied_term=self.applied_term,
            key_count=self.mvcc.key_count(),
            lease_count=len(self.lessor),
        )

    def _header(self, revision: int) -> ResponseHeader:
        return ResponseHeader(revision=revision, raft_term=self._term)

    # ------------------------------------------------------------ the state machine

    def apply(self, index: int, term: int, data: object, now_us: int | None = None) -> object:
        """Apply the Raft entry ``(index, term)`` carrying request ``data``.

        Returns the response, or the KVError the request was rejected with.  ``data``
        ``None`` (an empty entry) only advances the applied index.
        """
        if index <= self.applied_index:
            raise ValueError(f"entry {index} applied out of order (applied {self.applied_index})")
        handler = self._dispatch.get(type(data)) if data is not None else None
        if handler is None and data is not None:
            raise UnknownRequestError(
                f"cannot apply data of type {type(data).__name__} at index {index}")
        self.applied_index = index
        self.applied_term = term
        if handler is None:
            return None
        self._term = term
        self._now_us = now_us
        try:
            result: object = handler(data)
        except KVError as err:
            assert not self.mvcc.writing, "a rejected request left a write section open"
            return err
        return result

    def _commit(self) -> int:
        rev, events = self.mvcc.end_write()
        if events:
            self.watches.on_revision(rev, events)
        return rev

    # ------------------------------------------------------------ put / delete

    def _check_put(self, req: PutRequest) -> KeyValue | None:
        """Validate against the current state; return the key's current value."""
        if not req.key:
            raise ErrEmptyKey()
        if req.lease:
            if req.ignore_lease:
                raise ErrLeaseProvided()
            if req.lease not in self.lessor:
                raise ErrLeaseNotFound(id=req.lease)
        if req.ignore_value and req.value:
            raise ErrValueProvided()
        prev = self.mvcc.get(req.key)
        if (req.ignore_value or req.ignore_lease) and prev is None:
            raise ErrKeyNotFound(key=req.key)
        if req.lease < 0:
            raise ErrInvalidRequest(reason="negative lease id")
        return prev

    def _do_put(self, req: PutRequest) -> KeyValue | None:
        prev = self.mvcc.get(req.key)
        value = req.value
        lease = req.lease
        if prev is not None:
            if req.ignore_value:
                value = prev.value
            if req.ignore_lease:
                lease = prev.lease
        _, prev = self.mvcc.put(req.key, value, lease)
        if prev is not None and prev.lease and prev.lease != lease:
            self.lessor.detach(prev.lease, req.key)
        if lease:
            self.lessor.attach(lease, req.key)
        return prev

    def _apply_put(self, req: PutRequest) -> PutResponse:
        self._check_put(req)
        self.mvcc.begin_write()
        prev = self._do_put(req)
        rev = self._commit()
        return PutResponse(header=self._header(rev), prev_kv=prev if req.prev_kv else None)

    def _do_delete(self, req: DeleteRangeRequest) -> list[KeyValue]:
        mvcc = self.mvcc
        deleted: list[KeyValue] = []
        for kv in mvcc.range(req.key, req.range_end):
            prev = mvcc.delete(kv.key)
            assert prev is kv
            if prev.lease:
                self.lessor.detach(prev.lease, prev.key)
            deleted.append(prev)
        return deleted

    def _apply_delete(self, req: DeleteRangeRequest) -> DeleteRangeResponse:
        if not req.key:
            raise ErrEmptyKey()
        self.mvcc.begin_write()
        deleted = self._do_delete(req)
        rev = self._commit()
        return DeleteRangeResponse(header=self._header(rev), deleted=len(deleted),
                                   prev_kvs=tuple(deleted) if req.prev_kv else ())

    # ------------------------------------------------------------ range

    def _check_range(self, req: RangeRequest) -> None:
        check_request_op(req)
        self.mvcc.check_revision(req.revision)

    def _do_range(self, req: RangeRequest) -> tuple[tuple[KeyValue, ...], bool, int]:
        kvs = self.mvcc.range(req.key, req.range_end, req.revision)
        if req.min_mod_revision or req.max_mod_revision or req.min_create_revision \
                or req.max_create_revision:
            kvs = [kv for kv in kvs
                   if (not req.min_mod_revision or kv.mod_revision >= req.min_mod_revision)
                   and (not req.max_mod_revision or kv.mod_revision <= req.max_mod_revision)
                   and (not req.min_create_revision
                        or kv.create_revision >= req.min_create_revision)
                   and (not req.max_create_revision
                        or kv.create_revision <= req.max_create_revision)]
        count = len(kvs)
        if req.count_only:
            return (), False, count
        order = req.sort_order
        target = req.sort_target
        if order is SortOrder.NONE and target is not SortTarget.KEY:
            order = SortOrder.ASCEND  # etcd: a sort target without an order sorts ascending
        if target is SortTarget.KEY:
            if order is SortOrder.DESCEND:
                kvs.reverse()
        elif order is not SortOrder.NONE:
            kvs.sort(key=_SORT_KEYS[target], reverse=order is SortOrder.DESCEND)
        more = False
        if req.limit and len(kvs) > req.limit:
            kvs = kvs[: req.limit]
            more = True
        if req.keys_only:
            kvs = [KeyValue(key=kv.key, create_revision=kv.create_revision,
                            mod_revision=kv.mod_revision, version=kv.version, lease=kv.lease)
                   for kv in kvs]
        return tuple(kvs), more, count

    def range(self, req: RangeRequest) -> RangeResponse:
        """Read (raises ErrCompacted, ErrFutureRev, ErrEmptyKey)."""
        self._check_range(req)
        kvs, more, count = self._do_range(req)
        return RangeResponse(header=ResponseHeader(revision=self.mvcc.revision,
                                                   raft_term=self.applied_term),
                             kvs=kvs, more=more, count=count)

    def _apply_range(self, req: RangeRequest) -> RangeResponse:
        self._check_range(req)
        kvs, more, count = self._do_range(req)
        return RangeResponse(header=self._header(self.mvcc.revision), kvs=kvs, more=more,
                             count=count)

    # ------------------------------------------------------------ txn

    def _plan(self, txn: TxnRequest) -> _Plan:
        mvcc = self.mvcc
        bugs = self.bugs
        ok = all(compare_holds(cmp, mvcc.range(cmp.key, cmp.range_end), bugs) for cmp in txn.compare)
        plan = _Plan(ok, txn.success if ok else txn.failure)
        for i, op in enumerate(plan.ops):
            if isinstance(op, TxnRequest):
                plan.nested[i] = self._plan(op)
        return plan

    def _check_plan(self, plan: _Plan) -> None:
        for i, op in enumerate(plan.ops):
            if isinstance(op, PutRequest):
                self._check_put(op)
            elif isinstance(op, RangeRequest):
                self._check_range(op)
            elif isinstance(op, TxnRequest):
                self._check_plan(plan.nested[i])

    def _exec_plan(self, plan: _Plan) -> list[Any]:
        """Each op's raw result, with the revision the write section had right after it
        (its response header's, as etcd 3.4 gives them)."""
        raw: list[Any] = []
        mvcc = self.mvcc
        for i, op in enumerate(plan.ops):
            if isinstance(op, PutRequest):
                prev = self._do_put(op)
                raw.append((op, prev if op.prev_kv else None, mvcc.pending_revision()))
            elif isinstance(op, DeleteRangeRequest):
                raw.append((op, self._do_delete(op), mvcc.pending_revision()))
            elif isinstance(op, RangeRequest):
                raw.append((op, self._do_range(op), mvcc.pending_revision()))
            else:
                sub = plan.nested[i]
                raw.append((op, (sub.succeeded, self._exec_plan(sub)), 0))
        return raw

    def _build(self, raw: list[Any]) -> tuple[ResponseOp, ...]:
        """The responses of a txn's ops.  Their headers carry the revision of the store as
        each op saw it (a read before the txn's first change: the revision before the
        txn; a change or what follows it: the txn's revision); a nested txn's header
        carries none (etcd 3.4 leaves it empty)."""
        out: list[ResponseOp] = []
        term = self._term
        for op, res, rev in raw:
            header = ResponseHeader(revision=rev, raft_term=term if rev else 0)
            if isinstance(op, PutRequest):
                out.append(PutResponse(header=header, prev_kv=res))
            elif isinstance(op, DeleteRangeRequest):
                out.append(DeleteRangeResponse(header=header, deleted=len(res),
                                               prev_kvs=tuple(res) if op.prev_kv else ()))
            elif isinstance(op, RangeRequest):
                kvs, more, count = res
                out.append(RangeResponse(header=header, kvs=kvs, more=more, count=count))
            else:
                succeeded, sub_raw = res
                out.append(TxnResponse(header=header, succeeded=succeeded, responses=self._build(sub_raw)))
        return tuple(out)

    def _apply_txn(self, txn: TxnRequest) -> TxnResponse:
        check_txn(txn, self.max_txn_ops)
        plan = self._plan(txn)
        self._check_plan(plan)
        self.mvcc.begin_write()
        raw = self._exec_plan(plan)
        rev = self._commit()
        return TxnResponse(header=self._header(rev), succeeded=plan.succeeded, responses=self._build(raw))

    # ------------------------------------------------------------ compaction

    def _apply_compact(self, req: CompactionRequest) -> CompactionResponse:
        self.mvcc.compact(req.revision)
        return CompactionResponse(header=self._header(self.mvcc.revision))

    # ------------------------------------------------------------ leases

    def _apply_lease_grant(self, req: LeaseGrantRequest) -> LeaseGrantResponse:
        lease = self.lessor.grant(req.id, req.ttl_s, self._now_us)
        return LeaseGrantResponse(header=self._header(self.mvcc.revision), id=lease.id,
                                  ttl_s=lease.ttl_s)

    def _apply_lease_revoke(self, req: LeaseRevokeRequest) -> LeaseRevokeResponse:
        keys = self.lessor.revoke(req.id)
        self.mvcc.begin_write()
        deleted = 0
        for key in keys:
            if self.mvcc.delete(key) is not None:
                deleted += 1
        rev = self._commit()
        return LeaseRevokeResponse(header=self._header(rev), deleted=deleted)

    def lease_keepalive(self, req: LeaseKeepAliveRequest, now_us: int) -> LeaseKeepAliveResponse:
        """Leader-local: refresh the lease's deadline (raises ErrLeaseNotFound)."""
        ttl_s = self.lessor.keepalive(req.id, now_us)
        return LeaseKeepAliveResponse(header=self._read_header(), id=req.id, ttl_s=ttl_s)

    def lease_time_to_live(self, req: LeaseTimeToLiveRequest,
                           now_us: int) -> LeaseTimeToLiveResponse:
        """Leader-local: the lease's remaining TTL (raises ErrLeaseNotFound)."""
        lease = self.lessor.get(req.id)
        return LeaseTimeToLiveResponse(
            header=self._read_header(), id=req.id,
            ttl_s=self.lessor.remaining_s(req.id, now_us), granted_ttl_s=lease.ttl_s,
            keys=tuple(sorted(lease.keys)) if req.keys else ())

    def _apply_lease_leases(self, req: LeaseLeasesRequest) -> LeaseLeasesResponse:
        return LeaseLeasesResponse(header=self._header(self.mvcc.revision), leases=self.lessor.ids())

    def lease_leases(self) -> LeaseLeasesResponse:
        return LeaseLeasesResponse(header=self._read_header(), leases=self.lessor.ids())

    def _read_header(self) -> ResponseHeader:
        return ResponseHeader(revision=self.mvcc.revision, raft_term=self.applied_term)

    # ------------------------------------------------------------ snapshot

    def snapshot(self) -> KVSnapshot:
        """The replicated state as one immutable value (watchers and deadlines excluded)."""
        assert not self.mvcc.writing
        return KVSnapshot(
            revision=self.mvcc.revision,
            compact_revision=self.mvcc.compact_revision,
            applied_index=self.applied_index,
            applied_term=self.applied_term,
            keys=self.mvcc.dump_keys(),
            events=self.mvcc.dump_events(),
            leases=self.lessor.dump(),
            next_lease_id=self.lessor.next_id,
        )

    def restore(self, snapshot: object) -> None:
        """Replace the replicated state; live watchers are caught up or canceled."""
        if not isinstance(snapshot, KVSnapshot):
            raise TypeError(f"cannot restore from {type(snapshot).__name__}, need KVSnapshot")
        self.mvcc.load(revision=snapshot.revision, compact_revision=snapshot.compact_revision,
                       keys=snapshot.keys, events=snapshot.events)
        self.lessor.load(snapshot.leases, snapshot.next_lease_id)
        self.applied_index = snapshot.applied_index
        self.applied_term = snapshot.applied_term
        self.watches.resync()
