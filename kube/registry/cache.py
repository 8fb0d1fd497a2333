"""The apiserver's watch cache (kube-apiserver's ``Cacher``): every object under
``/registry/``, kept by one list and one watch, as of ``revision``, and a window of the
latest events, from which it serves watches.

kube-apiserver serves ``resourceVersion="0"`` lists ("any version") from it.  It may lag
the store (its watch is as slow as the member it runs on); lists that must be current
(``resourceVersion`` unset) go to etcd with a quorum read (kubernetes issue #59848 is
what happens otherwise: the catalogued bug ``apiserver_list_from_watch_cache``).

Watches: a watch from revision ``S`` is served from the cache when its window holds
every event from ``S`` on (:meth:`WatchCache.serves`): the window's events from ``S``
are replayed, then each new event is handed to the watchers it may concern, in revision
order, so one etcd watch feeds every watcher of the apiserver instead of one etcd watch
each.  Watchers are indexed by resource, and for a resource with an indexed field (a
pod's ``spec.nodeName``: each kubelet watches its own pods) by that field's value in
their field selector: an event goes to the unindexed watchers of its resource and to the
watchers of the field's old and new values only, as kube-apiserver's cacher does with
its trigger functions.  A watcher gets raw events ``(revision, key, value, prev_value)``
(``value`` None for a delete) and filters and decodes them itself (the store's watch).
When the cache must list again (its watch was compacted away), it ends its watchers'
streams; their clients resume from the last resourceVersion they saw.
"""

from __future__ import annotations

import bisect
import builtins
import json
from collections.abc import Callable
from typing import Any

from raftkv.client import AsyncEtcdClient, ErrCompacted, KVError
from raftkv.tasks import Runtime

from .store import decode, prefix_end

__all__ = ["CacheWatcher", "WatchCache"]

RawEvent = tuple[int, bytes, "bytes | None", "bytes | None"]  # (revision, key, value, prev_value)
END = None  # put in a watcher's queue: the stream ends
BOOKMARK = "bookmark"  # (BOOKMARK, revision) in a watcher's queue: every event up to it was queued


def _revision(event: RawEvent) -> int:
    return event[0]


def resource_prefix(key: bytes) -> bytes:
    """``/registry/<resource>/`` of a key under ``/registry/``."""
    end = key.find(b"/", 10)
    return key[:end + 1] if end > 0 else key


class CacheWatcher:
    """One watch served from the cache: its events arrive in ``queue``."""

    __slots__ = ("ident", "index_value", "prefix", "queue", "resource", "start")

    def __init__(self, ident: int, queue: Any, resource: bytes, prefix: bytes, start: int,
                 index_value: str | None) -> None:
        self.ident = ident
        self.queue = queue
        self.resource = resource
        self.prefix = prefix
        self.start = start
        self.index_value = index_value


class _ResourceWatchers:
    """The watchers of one resource: unindexed, and by the value of its indexed field."""

    __slots__ = ("by_value", "getter", "unindexed", "values")

    def __init__(self, getter: Callable[[dict[str, Any]], str] | None) -> None:
        self.getter = getter
        self.unindexed: dict[int, CacheWatcher] = {}
        self.by_value: dict[str, dict[int, CacheWatcher]] = {}
        self.values: dict[bytes, str] = {}  # key -> indexed field value of its current object


class WatchCache:
    def __init__(self, rt: Runtime, etcd: AsyncEtcdClient, prefix: bytes = b"/registry/", *,
                 retry_s: float = 0.2, window_events: int = 50_000, progress_interval_s: float = 1.0) -> None:
        assert window_events > 0, "the window must hold events"
        self._decode = decode
        self.rt = rt
        self.etcd = etcd
        self.prefix = prefix
        self._end = prefix_end(prefix)
        self.retry_s = retry_s
        self.window_events = window_events
        self.progress_interval_s = progress_interval_s
        self.objects: dict[bytes, tuple[bytes, int]] = {}  # key -> (value, mod_revision)
        self.revision = 0
        self.synced = False
        self.window: list[RawEvent] = []  # in revision order, from index _head on
        # the index values (before, after) of each window event (None, None when unindexed)
        self.window_values: list[tuple[str | None, str | None]] = []
        self._head = 0
        self.window_start = 0  # every event from this revision on is in the window
        self._resources: dict[bytes, _ResourceWatchers] = {}
        self._next_watcher = 0
        self.watches_served = 0

    def list(self, prefix: bytes) -> tuple[list[dict[str, Any]], int]:
        """The cached objects under ``prefix`` (sorted by key) and the cache's revision."""
        items = [self._decode(value, rev) for key, (value, rev) in sorted(self.objects.items())
                 if key.startswith(prefix)]
        return items, self.revision

    # ------------------------------------------------------------------ watchers
    def index(self, resource: bytes, getter: Callable[[dict[str, Any]], str]) -> None:
        """Index the watchers of ``resource`` (``/registry/<resource>/``) by ``getter(obj)``."""
        assert resource not in self._resources or self._resources[resource].getter is getter, resource
        self._resources.setdefault(resource, _ResourceWatchers(getter))

    def serves(self, start: int) -> bool:
        """Whether a watch from revision ``start`` can be served from the window."""
        return self.synced and 0 < self.window_start <= start

    def watch(self, resource: bytes, prefix: bytes, start: int, index_value: str | None = None) -> CacheWatcher:
        """Register a watcher of the keys under ``prefix`` (within ``resource``) from revision
        ``start``, with the window's events from ``start`` already queued."""
        assert self.serves(start), f"the cache cannot serve a watch from {start} (window from {self.window_start})"
        assert prefix.startswith(resource), (prefix, resource)
        self._next_watcher += 1
        self.watches_served += 1
        group = self._resources.setdefault(resource, _ResourceWatchers(None))
        if group.getter is None:
            index_value = None
        w = CacheWatcher(self._next_watcher, self.rt.queue(), resource, prefix, start, index_value)
        if index_value is None:
            group.unindexed[w.ident] = w
        else:
            group.by_value.setdefault(index_value, {})[w.ident] = w
        window, values = self.window, self.window_values
        if window and window[-1][0] >= start:
            first = bisect.bisect_left(window, start, lo=self._head, key=_revision)
            for i in range(first, len(window)):
                event = window[i]
                if event[1].startswith(prefix) and (index_value is None or index_value in values[i]):
                    w.queue.put_nowait(event)  # (an indexed watcher: the events _dispatch gives it)
        return w

    def unwatch(self, w: CacheWatcher) -> None:
        group = self._resources.get(w.resource)
        if group is None:
            return
        if w.index_value is None:
            group.unindexed.pop(w.ident, None)
        else:
            table = group.by_value.get(w.index_value, {})
            table.pop(w.ident, None)
            if not table:
                group.by_value.pop(w.index_value, None)

    def _watchers(self) -> builtins.list[CacheWatcher]:  # ``list`` here is the method above
        out: builtins.list[CacheWatcher] = []
        for group in self._resources.values():
            out.extend(group.unindexed.values())
            for table in group.by_value.values():
                out.extend(table.values())
        return sorted(out, key=lambda w: w.ident)

    def _index_value(self, group: _ResourceWatchers, key: bytes, value: bytes | None) -> str | None:
        if value is None or group.getter is None:
            return None
        obj = json.loads(value)
        return group.getter(obj) if isinstance(obj, dict) else None

    def _dispatch(self, event: RawEvent) -> tuple[str | None, str | None]:
        """Queue ``event`` to the watchers it concerns; its index values (before, after)."""
        rev, key, value, prev = event
        group = self._resources.get(resource_prefix(key))
        if group is None:
            return None, None
        old = new = None
        targets: list[CacheWatcher] = list(group.unindexed.values())
        if group.getter is not None:
            old = group.values.pop(key, None) if value is None else group.values.get(key)
            if old is None and prev is not None:
                old = self._index_value(group, key, prev)
            new = self._index_value(group, key, value)
            if new is not None:
                group.values[key] = new
            for v in sorted({x for x in (old, new) if x is not None}):
                targets.extend(group.by_value.get(v, {}).values())
            if len(targets) > 1:
                targets.sort(key=lambda w: w.ident)
        for w in targets:
            if rev >= w.start and key.startswith(w.prefix):
                w.queue.put_nowait(event)
        return old, new

    def _apply(self, ev: Any) -> None:
        key, rev = ev.kv.key, ev.kv.mod_revision
        old = self.objects.get(key)
        prev = old[0] if old is not None else None
        if ev.type.name == "DELETE":
            self.objects.pop(key, None)
            event: RawEvent = (rev, key, None, prev)
        else:
            self.objects[key] = (ev.kv.value, rev)
            event = (rev, key, ev.kv.value, prev)
        values = self._dispatch(event)
        window = self.window
        window.append(event)
        self.window_values.append(values)
        if len(window) - self._head > self.window_events:
            dropped = window[self._head]
            self._head += 1
            self.window_start = max(self.window_start, dropped[0] + 1)
            if self._head >= self.window_events:  # drop the dead half at once
                del window[:self._head]
                del self.window_values[:self._head]
                self._head = 0

    def _restart(self, revision: int) -> None:
        """A new list at ``revision``: the window starts after it; watchers' streams end."""
        self.window.clear()
        self.window_values.clear()
        self._head = 0
        self.window_start = revision + 1
        for group in self._resources.values():
            group.values.clear()
        for w in self._watchers():
            w.queue.put_nowait(END)
            self.unwatch(w)

    def bookmark(self, w: CacheWatcher) -> None:
        """Queue a bookmark at the cache's revision (every event up to it is queued before)."""
        w.queue.put_nowait((BOOKMARK, self.revision))

    async def _progress(self, stream: Any) -> None:
        while True:
            await self.rt.sleep(self.progress_interval_s)
            stream.request_progress()

    async def run(self) -> None:
        listed = False
        while True:
            try:
                if not listed:
                    resp = await self.etcd.get(self.prefix, range_end=self._end)
                    self.objects = {kv.key: (kv.value, kv.mod_revision) for kv in resp.kvs}
                    self.revision = resp.header.revision
                    self._restart(self.revision)
                    self.synced = listed = True
                async with self.etcd.watch(self.prefix, range_end=self._end,
                                           start_revision=self.revision + 1) as stream:
                    ticker = self.rt.spawn(self._progress(stream), name="watch-cache-progress")
                    try:
                        async for wresp in stream:
                            for ev in wresp.events:
                                self._apply(ev)
                            self.revision = max(self.revision, wresp.header_revision)
                    finally:
                        ticker.cancel()
            except ErrCompacted:
                self.synced = listed = False
            except KVError as exc:  # resume the watch from the cache's revision
                self.rt.record("apiserver.cache_retry", error=str(exc))
                await self.rt.sleep(self.retry_s)
