"""The watch hub: one member's watchers and the responses they are owed.

Watchers are member-local (not replicated, not in snapshots).  The hub is fed by the
store: after every applied revision it appends one :class:`WatchResponse` per matching
watcher to its *outbox*; creating, canceling and progress requests append to the same
outbox, so the outbox is in the order a client must see.  The server takes the
responses with :meth:`WatchHub.drain` (after each apply, and after each watch call)
and routes them by ``watch_id``.

Guarantees: responses of one watcher are in revision order; the events of one
revision are never split across responses; a watcher starting at a past revision
first gets the retained history (batched, at most ``max_events_per_response`` events
per response unless one revision alone is larger); a start revision below the
compact revision gets a ``created`` response followed by a ``canceled`` one with
``compact_revision`` set.
"""

from __future__ import annotations

from collections.abc import Iterable

from .errors import ErrEmptyKey, ErrInvalidRequest, ErrWatchNotFound
from .mvcc import MVCC, in_range
from .types import Event, EventType, WatchCreateRequest, WatchFilter, WatchResponse

__all__ = ["WatchHub", "Watcher"]


class Watcher:
    __slots__ = ("id", "key", "no_delete", "no_put", "prev_kv", "progress_notify", "range_end",
                 "start_revision")

    def __init__(self, watch_id: int, req: WatchCreateRequest, start_revision: int) -> None:
        self.id = watch_id
        self.key = req.key
        self.range_end = req.range_end
        self.prev_kv = req.prev_kv
        self.no_put = WatchFilter.NOPUT in req.filters
        self.no_delete = WatchFilter.NODELETE in req.filters
        self.progress_notify = req.progress_notify
        self.start_revision = start_revision

    def wants(self, ev: Event) -> bool:
        if ev.type is EventType.PUT:
            if self.no_put:
                return False
        elif self.no_delete:
            return False
        return in_range(ev.kv.key, self.key, self.range_end)

    def shape(self, ev: Event) -> Event:
        if self.prev_kv or ev.prev_kv is None:
            return ev
        return Event(type=ev.type, kv=ev.kv)


class WatchHub:
    def __init__(self, mvcc: MVCC, *, max_events_per_response: int = 1000) -> None:
        if max_events_per_response < 1:
            raise ValueError(f"max_events_per_response must be >= 1, got {max_events_per_response}")
        self._mvcc = mvcc
        self.max_events_per_response = max_events_per_response
        self._watchers: dict[int, Watcher] = {}
        self._by_key: dict[bytes, dict[int, Watcher]] = {}
        self._ranged: dict[int, Watcher] = {}
        self._next_id = 1
        self._outbox: list[WatchResponse] = []
        self._delivered_revision = mvcc.revision

    def __len__(self) -> int:
        return len(self._watchers)

    def __contains__(self, watch_id: int) -> bool:
        return watch_id in self._watchers

    def watch_ids(self) -> tuple[int, ...]:
        return tuple(sorted(self._watchers))

    # ------------------------------------------------------------ requests

    def create(self, req: WatchCreateRequest) -> int:
        """Register a watcher; return its id.  Responses go to the outbox."""
        if not req.key:
            raise ErrEmptyKey()
        if req.start_revision < 0:
            raise ErrInvalidRequest(reason=f"negative start_revision {req.start_revision}")
        mvcc = self._mvcc
        watch_id = self._next_id
        self._next_id += 1
        current = mvcc.revision
        start = req.start_revision if req.start_revision > 0 else current + 1
        self._outbox.append(WatchResponse(watch_id=watch_id, header_revision=current,
                                          created=True))
        if start < mvcc.compact_revision:
            self._outbox.append(WatchResponse(
                watch_id=watch_id, header_revision=current, canceled=True,
                compact_revision=mvcc.compact_revision,
                cancel_reason="mvcc: required revision has been compacted"))
            return watch_id
        w = Watcher(watch_id, req, start)
        self._add(w)
        if start <= current:
            self._replay(w, start)
        return watch_id

    def cancel(self, watch_id: int) -> None:
        w = self._watchers.get(watch_id)
        if w is None:
            raise ErrWatchNotFound(watch_id=watch_id)
        self._remove(w)
        self._outbox.append(WatchResponse(watch_id=watch_id, header_revision=self._mvcc.revision,
                                          canceled=True))

    def request_progress(self, watch_ids: Iterable[int] | None = None) -> None:
        """Progress notifications (no events, the current revision) on request.

        ``None``: every watcher.  Unknown ids are skipped.
        """
        ids = self.watch_ids() if watch_ids is None else tuple(watch_ids)
        rev = self._mvcc.revision
        for watch_id in ids:
            if watch_id in self._watchers:
                self._outbox.append(WatchResponse(watch_id=watch_id, header_revision=rev,
                                                  progress_notify=True))

    def progress_all(self) -> None:
        """The periodic notification: to every watcher created with ``progress_notify``."""
        rev = self._mvcc.revision
        for watch_id in self.watch_ids():
            if self._watchers[watch_id].progress_notify:
                self._outbox.append(WatchResponse(watch_id=watch_id, header_revision=rev,
                                                  progress_notify=True))

    def drain(self) -> tuple[WatchResponse, ...]:
        """Take every response produced so far, in order."""
        if not self._outbox:
            return ()
        out = tuple(self._outbox)
        self._outbox.clear()
        return out

    # ------------------------------------------------------------ fed by the store

    def on_revision(self, revision: int, events: tuple[Event, ...]) -> None:
        assert revision == self._delivered_revision + 1, (revision, self._delivered_revision)
        self._delivered_revision = revision
        if not self._watchers:
            return
        matched: dict[int, list[Event]] = {}
        for ev in events:
            key = ev.kv.key
            singles = self._by_key.get(key)
            if singles is not None:
                for w in singles.values():
                    if w.start_revision <= revision and w.wants(ev):
                        matched.setdefault(w.id, []).append(w.shape(ev))
            for w in self._ranged.values():
                if w.start_revision <= revision and w.wants(ev):
                    matched.setdefault(w.id, []).append(w.shape(ev))
        for watch_id in sorted(matched):
            self._outbox.append(WatchResponse(watch_id=watch_id, header_revision=revision,
                                              events=tuple(matched[watch_id])))

    def resync(self) -> None:
        """After the store was restored from a snapshot: catch every watcher up (or cancel it)."""
        mvcc = self._mvcc
        delivered = self._delivered_revision
        for watch_id in self.watch_ids():
            w = self._watchers[watch_id]
            need = max(w.start_revision, delivered + 1)
            if need < mvcc.compact_revision:
                self._remove(w)
                self._outbox.append(WatchResponse(
                    watch_id=watch_id, header_revision=mvcc.revision, canceled=True,
                    compact_revision=mvcc.compact_revision,
                    cancel_reason="mvcc: required revision has been compacted"))
            elif need <= mvcc.revision:
                self._replay(w, need)
        self._delivered_revision = mvcc.revision

    # ------------------------------------------------------------ internals

    def _add(self, w: Watcher) -> None:
        self._watchers[w.id] = w
        if w.range_end:
            self._ranged[w.id] = w
        else:
            self._by_key.setdefault(w.key, {})[w.id] = w

    def _remove(self, w: Watcher) -> None:
        del self._watchers[w.id]
        if w.range_end:
            del self._ranged[w.id]
        else:
            singles = self._by_key[w.key]
            del singles[w.id]
            if not singles:
                del self._by_key[w.key]

    def _replay(self, w: Watcher, start: int) -> None:
        current = self._mvcc.revision
        batch: list[Event] = []
        for _rev, events in self._mvcc.events_since(start):
            mine = [w.shape(ev) for ev in events if w.wants(ev)]
            if not mine:
                continue
            if batch and len(batch) + len(mine) > self.max_events_per_response:
                self._outbox.append(WatchResponse(watch_id=w.id, header_revision=current,
                                                  events=tuple(batch)))
                batch = []
            batch.extend(mine)
        if batch:
            self._outbox.append(WatchResponse(watch_id=w.id, header_revision=current,
                                              events=tuple(batch)))
