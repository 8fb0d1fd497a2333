"""A small builder for etcd transactions: compares and operations.

>>> txn = (Txn().when(value(b"k") == b"old")
...           .then(put(b"k", b"new")).otherwise(get(b"k")).build())
"""

from __future__ import annotations

from raftkv.kv import (
    Compare,
    CompareResult,
    CompareTarget,
    DeleteRangeRequest,
    PutRequest,
    RangeRequest,
    RequestOp,
    TxnRequest,
)

__all__ = ["Txn", "create_revision", "delete", "get", "lease", "mod_revision", "put", "value",
           "version"]


class _Target:
    """``value(key) == b"x"`` and friends build a :class:`Compare`."""

    __slots__ = ("key", "range_end", "target")

    def __init__(self, target: CompareTarget, key: bytes, range_end: bytes = b"") -> None:
        self.target = target
        self.key = key
        self.range_end = range_end

    def _cmp(self, result: CompareResult, operand: int | bytes) -> Compare:
        return Compare(key=self.key, range_end=self.range_end, target=self.target,
                       result=result, operand=operand)

    def __eq__(self, operand: object) -> Compare:  # type: ignore[override]
        assert isinstance(operand, int | bytes)
        return self._cmp(CompareResult.EQUAL, operand)

    def __ne__(self, operand: object) -> Compare:  # type: ignore[override]
        assert isinstance(operand, int | bytes)
        return self._cmp(CompareResult.NOT_EQUAL, operand)

    def __lt__(self, operand: int | bytes) -> Compare:
        return self._cmp(CompareResult.LESS, operand)

    def __gt__(self, operand: int | bytes) -> Compare:
        return self._cmp(CompareResult.GREATER, operand)

    __hash__ = None  # type: ignore[assignment]


def value(key: bytes, range_end: bytes = b"") -> _Target:
    return _Target(CompareTarget.VALUE, key, range_end)


def version(key: bytes, range_end: bytes = b"") -> _Target:
    return _Target(CompareTarget.VERSION, key, range_end)


def create_revision(key: bytes, range_end: bytes = b"") -> _Target:
    return _Target(CompareTarget.CREATE, key, range_end)


def mod_revision(key: bytes, range_end: bytes = b"") -> _Target:
    return _Target(CompareTarget.MOD, key, range_end)


def lease(key: bytes, range_end: bytes = b"") -> _Target:
    return _Target(CompareTarget.LEASE, key, range_end)


def put(key: bytes, val: bytes = b"", *, lease_id: int = 0, prev_kv: bool = False) -> PutRequest:
    return PutRequest(key=key, value=val, lease=lease_id, prev_kv=prev_kv)


def get(key: bytes, range_end: bytes = b"") -> RangeRequest:
    return RangeRequest(key=key, range_end=range_end)


def delete(key: bytes, range_end: bytes = b"", *, prev_kv: bool = False) -> DeleteRangeRequest:
    return DeleteRangeRequest(key=key, range_end=range_end, prev_kv=prev_kv)


class Txn:
    """``Txn().when(*compares).then(*ops).otherwise(*ops).build()``."""

    def __init__(self) -> None:
        self._compare: list[Compare] = []
        self._success: list[RequestOp] = []
        self._failure: list[RequestOp] = []

    def when(self, *compares: Compare) -> Txn:
        self._compare.extend(compares)
        return self

    def then(self, *ops: RequestOp) -> Txn:
        self._success.extend(ops)
        return self

    def otherwise(self, *ops: RequestOp) -> Txn:
        self._failure.extend(ops)
        return self

    def build(self) -> TxnRequest:
        return TxnRequest(compare=tuple(self._compare), success=tuple(self._success),
                          failure=tuple(self._failure))
