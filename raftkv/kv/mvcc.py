"""The revisioned key index: every key's history, the revision counter and compaction.

:class:`MVCC` knows nothing of leases, transactions or watches.  Writes happen inside
a write section (:meth:`MVCC.begin_write` ... :meth:`MVCC.end_write`): every change in
the section carries the same revision, ``revision + 1``, and the section advances the
revision only if it changed something.  The events of each revision are kept in a
history log (for watch replay) until compaction drops them.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Iterator

from sortedcontainers import SortedList

from ..bugs import NO_BUGS, BugSet
from .errors import ErrCompacted, ErrFutureRev
from .types import ALL_KEYS, Event, EventType, KeyValue

__all__ = ["MVCC", "KeyHistory", "in_range"]


def in_range(key: bytes, start: bytes, end: bytes) -> bool:
    """Whether ``key`` is selected by ``(start, end)`` with etcd's range conventions."""
    if not end:
        return key == start
    if end == ALL_KEYS:
        return key >= start
    return start <= key < end


class KeyHistory:
    """One key's retained revisions, oldest first; ``None`` marks a deletion."""

    __slots__ = ("kvs", "revs")

    def __init__(self) -> None:
        self.revs: list[int] = []
        self.kvs: list[KeyValue | None] = []

    def at(self, revision: int) -> KeyValue | None:
        i = bisect_right(self.revs, revision) - 1
        return self.kvs[i] if i >= 0 else None


class MVCC:
    def __init__(self, *, bugs: BugSet = NO_BUGS) -> None:
        self._drop_latest = "compact_drops_latest" in bugs
        self.revision = 1
        self.compact_revision = 0
        self._index: dict[bytes, KeyHistory] = {}
        self._sorted: SortedList = SortedList()
        # the watch history: parallel lists, one entry per revision that changed something
        self._log_revs: list[int] = []
        self._log_events: list[tuple[Event, ...]] = []
        self._pending: list[Event] | None = None

    # ------------------------------------------------------------ reading

    def check_revision(self, revision: int) -> None:
        """Raise unless ``revision`` (0 = latest) can be read."""
        if revision > self.revision:
            raise ErrFutureRev(revision=revision, current_revision=self.revision)
        if 0 < revision < self.compact_revision:
            raise ErrCompacted(revision=revision, compact_revision=self.compact_revision)

    def get(self, key: bytes) -> KeyValue | None:
        """The latest value of ``key`` (including writes of an open write section)."""
        h = self._index.get(key)
        return h.kvs[-1] if h is not None else None

    def _keys(self, start: bytes, end: bytes) -> Iterator[bytes]:
        if end == ALL_KEYS:
            return iter(self._sorted.irange(start, None))
        if end <= start:
            return iter(())
        return iter(self._sorted.irange(start, end, inclusive=(True, False)))

    def range(self, start: bytes, end: bytes, revision: int = 0) -> list[KeyValue]:
        """The live key-values in the range at ``revision`` (0 = latest), in key order.

        The caller has checked ``revision`` with :meth:`check_revision`.
        """
        index = self._index
        if not end:
            h = index.get(start)
            if h is None:
                return []
            kv = h.kvs[-1] if revision <= 0 or revision >= self.revision else h.at(revision)
            return [kv] if kv is not None else []
        out: list[KeyValue] = []
        if revision <= 0 or revision >= self.revision:
            for key in self._keys(start, end):
                kv = index[key].kvs[-1]
                if kv is not None:
                    out.append(kv)
        else:
            for key in self._keys(start, end):
                kv = index[key].at(revision)
                if kv is not None:
                    out.append(kv)
        return out

    def key_count(self) -> int:
        return sum(1 for h in self._index.values() if h.kvs[-1] is not None)

    # ------------------------------------------------------------ writing

    @property
    def writing(self) -> bool:
        return self._pending is not None

    def pending_revision(self) -> int:
        """The revision as a write section sees it so far: the next one once it has
        changed something, the current one before (what etcd's write txn calls Rev())."""
        return self.revision + 1 if self._pending else self.revision

    def begin_write(self) -> None:
        assert self._pending is None, "write section already open"
        self._pending = []

    def end_write(self) -> tuple[int, tuple[Event, ...]]:
        """Close the write section; return ``(revision, events)`` (no events: no new revision)."""
        pending = self._pending
        assert pending is not None, "no write section open"
        self._pending = None
        if not pending:
            return self.revision, ()
        self.revision += 1
        events = tuple(pending)
        self._log_revs.append(self.revision)
        self._log_events.append(events)
        return self.revision, events

    def put(self, key: bytes, value: bytes, lease: int) -> tuple[KeyValue, KeyValue | None]:
        """Write ``key`` at the pending revision; return ``(new, previous)``."""
        pending = self._pending
        assert pending is not None, "put outside a write section"
        rev = self.revision + 1
        h = self._index.get(key)
        if h is None:
            h = self._index[key] = KeyHistory()
            self._sorted.add(key)
            prev = None
        else:
            prev = h.kvs[-1]
            assert h.revs[-1] < rev, f"key {key!r} written twice in revision {rev}"
        if prev is None:
            kv = KeyValue(key=key, create_revision=rev, mod_revision=rev, version=1,
                          value=value, lease=lease)
        else:
            kv = KeyValue(key=key, create_revision=prev.create_revision, mod_revision=rev,
                          version=prev.version + 1, value=value, lease=lease)
        h.revs.append(rev)
        h.kvs.append(kv)
        pending.append(Event(type=EventType.PUT, kv=kv, prev_kv=prev))
        return kv, prev

    def delete(self, key: bytes) -> KeyValue | None:
        """Delete ``key`` at the pending revision; return what was deleted (None: nothing)."""
        pending = self._pending
        assert pending is not None, "delete outside a write section"
        h = self._index.get(key)
        if h is None or h.kvs[-1] is None:
            return None
        prev = h.kvs[-1]
        assert prev is not None
        rev = self.revision + 1
        assert h.revs[-1] < rev, f"key {key!r} written twice in revision {rev}"
        h.revs.append(rev)
        h.kvs.append(None)
        tomb = KeyValue(key=key, create_revision=0, mod_revision=rev, version=0)
        pending.append(Event(type=EventType.DELETE, kv=tomb, prev_kv=prev))
        return prev

    # ------------------------------------------------------------ history

    def events_since(self, revision: int) -> list[tuple[int, tuple[Event, ...]]]:
        """The retained ``(revision, events)`` pairs from ``revision`` on, oldest first."""
        if revision < self.compact_revision:
            raise ErrCompacted(revision=revision, compact_revision=self.compact_revision)
        i = bisect_left(self._log_revs, revision)
        return list(zip(self._log_revs[i:], self._log_events[i:]))

    def compact(self, revision: int) -> None:
        """Forget every revision below ``revision``; reads at or above it still work."""
        assert self._pending is None, "compact inside a write section"
        if revision <= self.compact_revision:
            raise ErrCompacted(revision=revision, compact_revision=self.compact_revision)
        if revision > self.revision:
            raise ErrFutureRev(revision=revision, current_revision=self.revision)
        self.compact_revision = revision
        dead: list[bytes] = []
        for key, h in self._index.items():
            # keep the newest entry at or below `revision` (if it is a value) and all later ones
            i = bisect_right(h.revs, revision) - 1
            if i < 0:
                continue
            if h.kvs[i] is None or self._drop_latest:
                # (BUG compact_drops_latest: the newest version goes too when it is a value)
                i += 1
            if i > 0:
                del h.revs[:i]
                del h.kvs[:i]
            if not h.revs:
                dead.append(key)
        for key in dead:
            del self._index[key]
            self._sorted.remove(key)
        j = bisect_left(self._log_revs, revision)
        del self._log_revs[:j]
        del self._log_events[:j]

    # ------------------------------------------------------------ snapshot

    def dump_keys(self) -> tuple[tuple[bytes, tuple[tuple[int, KeyValue | None], ...]], ...]:
        index = self._index
        return tuple((k, tuple(zip(index[k].revs, index[k].kvs))) for k in self._sorted)

    def dump_events(self) -> tuple[tuple[int, tuple[Event, ...]], ...]:
        return tuple(zip(self._log_revs, self._log_events))

    def load(
        self,
        *,
        revision: int,
        compact_revision: int,
        keys: tuple[tuple[bytes, tuple[tuple[int, KeyValue | None], ...]], ...],
        events: tuple[tuple[int, tuple[Event, ...]], ...],
    ) -> None:
        assert self._pending is None
        self.revision = revision
        self.compact_revision = compact_revision
        self._index = {}
        for key, hist in keys:
            h = KeyHistory()
            for rev, kv in hist:
                h.revs.append(rev)
                h.kvs.append(kv)
            assert h.revs, f"empty history for {key!r} in snapshot"
            self._index[key] = h
        self._sorted = SortedList(self._index)
        self._log_revs = [rev for rev, _ in events]
        self._log_events = [evs for _, evs in events]
