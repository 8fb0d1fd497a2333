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
* lost_write: a ``get`` (linearizable or not) saw a key at header revision ``h`` with
  ``mod_revision`` ``m``, but an acknowledged write of that key took revision ``r`` with
  ``m < r <= h``: the store at ``h`` must show that write or a later one.

The real-time order is the history's record order (``invoke_index``/``complete_index``),
so client clocks do not matter.  One sweep, ``O(n log n)``.
"""

from __future__ import annotations

import bisect

from .history import History, Key, Operation
from .violation import Violation

__all__ = ["check_revision_order"]

_SEEN = frozenset({"get", "stale_get", "put", "delete", "cas", "txn"})
_LINEARIZABLE = frozenset({"get", "put", "delete", "cas", "txn"})


def check_revision_order(history: History, *, limit: int = 10) -> list[Violation]:
    """Revision-order and lost-write violations in ``history`` (at most ``limit`` of
    each; empty: none found)."""
    return _order(history, limit) + _lost_writes(history, limit)


def _order(history: History, limit: int) -> list[Violation]:
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


def _lost_writes(history: History, limit: int) -> list[Violation]:
    writes: dict[Key, list[tuple[int, Operation]]] = {}  # key -> (revision, op), sorted
    for op in history.operations:
        if op.outcome != "ok" or op.revision is None or op.key is None:
            continue
        wrote = (op.f == "put" or (op.f in ("cas", "txn") and op.succeeded)
                 or (op.f == "delete" and bool(op.deleted)))
        if wrote:
            writes.setdefault(op.key, []).append((op.revision, op))
    for revs in writes.values():
        revs.sort(key=lambda rw: rw[0])
    out: list[Violation] = []
    for g in history.operations:
        if (g.outcome != "ok" or g.f not in ("get", "stale_get") or g.key is None or g.value is None
                or g.mod_revision is None or g.revision is None):
            continue
        revs = writes.get(g.key, [])
        i = bisect.bisect_right(revs, g.mod_revision, key=lambda rw: rw[0])
        if i < len(revs) and revs[i][0] <= g.revision:
            w = revs[i][1]
            records = tuple(sorted({w.invoke_index, g.invoke_index,
                                    *(x for x in (w.complete_index, g.complete_index) if x is not None)}))
            out.append(Violation(
                guarantee="lost_write",
                message=(f"op #{g.id} ({g.process} {g.f} {g.key!r}) read the version of revision "
                         f"{g.mod_revision} at revision {g.revision}, but op #{w.id} ({w.process} {w.f}) "
                         f"wrote it at revision {w.revision}"),
                records=records, key=g.key))
            if len(out) >= limit:
                break
    return out
