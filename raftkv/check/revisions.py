"""etcd's revision order, across keys: a cheap check the per-key linearizability search
cannot make.

Every etcd response carries the store's revision in its header, and revisions are
global: one counter for the whole store.  So whatever an operation A saw (its header
revision ``a``, on any key; a serializable ``stale_get`` too, since a member only applies
committed entries) existed before A completed, and any *linearizable* operation B invoked
after that (``get``, ``put``, ``delete``, ``cas``/``txn``, on any key) must answer with a
revision of at least ``a``.

* revision_order: a linearizable operation answered with a header revision below one an
  operation that completed before it began had already seen (a stale read, or a write
  acknowledged on a stale store).

The real-time order is the history's record order (``invoke_index``/``complete_index``),
so client clocks do not matter.  One sweep, ``O(n log n)``.
"""

from __future__ import annotations

from .history import History, Operation
from .violation import Violation

__all__ = ["check_revision_order"]

_SEEN = frozenset({"get", "stale_get", "put", "delete", "cas", "txn"})
_LINEARIZABLE = frozenset({"get", "put", "delete", "cas", "txn"})


def check_revision_order(history: History, *, limit: int = 10) -> list[Violation]:
    """Revision-order violations in ``history`` (at most ``limit``; empty: none found)."""
    done = sorted((op for op in history.operations
                   if op.outcome == "ok" and op.f in _SEEN and op.revision is not None
                   and op.complete_index is not None),
                  key=lambda op: op.complete_index or 0)
    later = sorted((op for op in history.operations
                    if op.outcome == "ok" and op.f in _LINEARIZABLE and op.revision is not None),
                   key=lambda op: op.invoke_index)
    out: list[Violation] = []
    highest: Operation | None = None  # the highest revision seen by what completed so far
    i = 0
    for b in later:
        while i < len(done) and (done[i].complete_index or 0) < b.invoke_index:
            a = done[i]
            if highest is None or (a.revision or 0) > (highest.revision or 0):
                highest = a
            i += 1
        if highest is None or b.revision is None or highest.revision is None:
            continue
        if b.revision < highest.revision:
            out.append(_violation(highest, b))
            if len(out) >= limit:
                break
    return out


def _violation(a: Operation, b: Operation) -> Violation:
    assert a.complete_index is not None and b.revision is not None
    records = tuple(sorted({a.invoke_index, a.complete_index, b.invoke_index,
                            *([b.complete_index] if b.complete_index is not None else [])}))
    return Violation(
        guarantee="revision_order",
        message=(f"op #{b.id} ({b.process} {b.f} {b.key!r}) answered at revision {b.revision}, but op #{a.id} "
                 f"({a.process} {a.f} {a.key!r}) had seen revision {a.revision} before it began"),
        records=records, key=b.key)
