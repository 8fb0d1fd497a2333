"""Transaction checks that need no state, and compare evaluation.

:func:`check_txn` mirrors etcd's ``checkTxnReq``/``checkIntervals``: at most
``max_txn_ops`` operations per branch (nested txns included), and no key written
twice in one txn (two puts of a key, or a put inside a deleted range), where the two
branches of a nested txn may put the same key because only one of them runs.
The server may call it before proposing; the store calls it again when applying.
"""

from __future__ import annotations

from ..bugs import NO_BUGS, BugSet
from .errors import ErrDuplicateKey, ErrEmptyKey, ErrInvalidRequest, ErrTooManyOps
from .mvcc import in_range
from .types import (
    Compare,
    CompareResult,
    CompareTarget,
    DeleteRangeRequest,
    KeyValue,
    PutRequest,
    RangeRequest,
    RequestOp,
    TxnRequest,
)

__all__ = ["DEFAULT_MAX_TXN_OPS", "check_request_op", "check_txn", "compare_holds"]

DEFAULT_MAX_TXN_OPS = 128

_Interval = tuple[bytes, bytes]


def check_request_op(op: object) -> None:
    """Stateless checks of one request (empty key, bad numbers)."""
    if isinstance(op, RangeRequest):
        if not op.key:
            raise ErrEmptyKey()
        if op.limit < 0 or op.revision < 0:
            raise ErrInvalidRequest(reason="negative limit or revision")
    elif isinstance(op, PutRequest):
        if not op.key:
            raise ErrEmptyKey()
        if op.lease < 0:
            raise ErrInvalidRequest(reason="negative lease id")
    elif isinstance(op, DeleteRangeRequest):
        if not op.key:
            raise ErrEmptyKey()
    elif isinstance(op, TxnRequest):
        for cmp in op.compare:
            if not isinstance(cmp, Compare):
                raise ErrInvalidRequest(reason=f"compare of type {type(cmp).__name__}")
            if not cmp.key:
                raise ErrEmptyKey()
    else:
        raise ErrInvalidRequest(reason=f"txn operation of type {type(op).__name__}")


def check_txn(txn: TxnRequest, max_txn_ops: int = DEFAULT_MAX_TXN_OPS) -> None:
    """Raise ErrTooManyOps / ErrDuplicateKey / ErrEmptyKey if ``txn`` is malformed."""
    _check_shape(txn, max_txn_ops)
    _check_intervals(txn.success)
    _check_intervals(txn.failure)


def _check_shape(txn: TxnRequest, max_txn_ops: int) -> None:
    check_request_op(txn)
    if len(txn.success) > max_txn_ops or len(txn.failure) > max_txn_ops:
        raise ErrTooManyOps(max_txn_ops=max_txn_ops)
    for op in (*txn.success, *txn.failure):
        check_request_op(op)
        if isinstance(op, TxnRequest):
            _check_shape(op, max_txn_ops)


def _intersects(dels: list[_Interval], key: bytes) -> bool:
    return any(in_range(key, start, end) for start, end in dels)


def _check_intervals(ops: tuple[RequestOp, ...]) -> tuple[set[bytes], list[_Interval]]:
    dels: list[_Interval] = [
        (op.key, op.range_end) for op in ops if isinstance(op, DeleteRangeRequest)
    ]
    puts: set[bytes] = set()
    for op in ops:
        if not isinstance(op, TxnRequest):
            continue
        puts_then, dels_then = _check_intervals(op.success)
        puts_else, dels_else = _check_intervals(op.failure)
        for key in sorted(puts_then):
            if key in puts or _intersects(dels, key):
                raise ErrDuplicateKey(key=key)
            puts.add(key)
        for key in sorted(puts_else):
            if (key in puts and key not in puts_then) or _intersects(dels, key):
                raise ErrDuplicateKey(key=key)
            puts.add(key)
        dels.extend(dels_then)
        dels.extend(dels_else)
    for op in ops:
        if not isinstance(op, PutRequest):
            continue
        if op.key in puts or _intersects(dels, op.key):
            raise ErrDuplicateKey(key=op.key)
        puts.add(op.key)
    return puts, dels


_ZERO = KeyValue(key=b"", create_revision=0, mod_revision=0, version=0)


def _one_holds(cmp: Compare, kv: KeyValue) -> bool:
    target = cmp.target
    actual: int | bytes
    if target is CompareTarget.VERSION:
        actual = kv.version
    elif target is CompareTarget.CREATE:
        actual = kv.create_revision
    elif target is CompareTarget.MOD:
        actual = kv.mod_revision
    elif target is CompareTarget.VALUE:
        actual = kv.value
    else:
        actual = kv.lease
    operand = cmp.operand
    result = cmp.result
    if result is CompareResult.EQUAL:
        return actual == operand
    if result is CompareResult.NOT_EQUAL:
        return actual != operand
    if type(actual) is not type(operand):  # guarded by Compare's own check
        raise ErrInvalidRequest(reason="compare operand type does not match its target")
    if result is CompareResult.GREATER:
        return actual > operand  # type: ignore[operator]
    return actual < operand  # type: ignore[operator]


def compare_holds(cmp: Compare, kvs: list[KeyValue], bugs: BugSet = NO_BUGS) -> bool:
    """etcd's applyCompare: ``kvs`` are the live keys the compare selects.

    No key: a VALUE compare fails; other targets compare against zeros.  A range
    holds only if the compare holds for every key in it.
    """
    if not kvs:
        if cmp.target is CompareTarget.VALUE or "txn_compare_missing_key" in bugs:
            # (BUG txn_compare_missing_key: every compare on a missing key fails)
            return False
        return _one_holds(cmp, _ZERO)
    return all(_one_holds(cmp, kv) for kv in kvs)
