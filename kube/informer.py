"""An informer (client-go's reflector + store): list, then watch from the list's
resourceVersion, keeping a local cache and calling event handlers; a watch that ends
is resumed from the last resourceVersion seen (event or bookmark); a 410 lists again.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol, TypedDict

from raftkv.tasks import Runtime

from .client import KubeClient
from .errors import ApiError

__all__ = ["Informer", "WatchObserver", "object_key"]


def object_key(obj: dict[str, Any]) -> str:
    """``namespace/name`` (``name`` for cluster-scoped objects), as client-go's cache keys."""
    meta = obj.get("metadata", {})
    ns = meta.get("namespace", "")
    return f"{ns}/{meta['name']}" if ns else str(meta["name"])


class WatchObserver(Protocol):
    """What a test or checker may see of an informer's lists and watches."""

    def listed(self, resource_version: int, items: list[dict[str, Any]]) -> None: ...

    def watch_opened(self, resource_version: int, resumed: bool) -> None: ...

    def event(self, event: dict[str, Any]) -> None: ...


Handler = Callable[[dict[str, Any]], None]


class _Selectors(TypedDict):
    """The list and watch filters of an informer (keyword arguments of both calls)."""

    label_selector: str
    field_selector: str


class Informer:
    def __init__(self, rt: Runtime, client: KubeClient, resource: str, namespace: str = "", *,
                 label_selector: str = "", field_selector: str = "",
                 on_add: Handler | None = None, on_update: Callable[[dict[str, Any], dict[str, Any]], None] | None = None,
                 on_delete: Handler | None = None, observer: WatchObserver | None = None,
                 watch_timeout_s: tuple[int, int] = (5, 10), retry_s: float = 0.2) -> None:
        self.rt = rt
        self.client = client
        self.resource = resource
        self.namespace = namespace
        self.selectors = _Selectors(label_selector=label_selector, field_selector=field_selector)
        self.on_add, self.on_update, self.on_delete = on_add, on_update, on_delete
        self.observer = observer
        self.watch_timeout_s = watch_timeout_s
        self.retry_s = retry_s
        self.cache: dict[str, dict[str, Any]] = {}
        self.resource_version = 0
        self.synced = False
        self.lists = 0
        self.watches = 0

    def _put(self, obj: dict[str, Any]) -> None:
        key = object_key(obj)
        old = self.cache.get(key)
        self.cache[key] = obj
        if old is None:
            if self.on_add is not None:
                self.on_add(obj)
        elif self.on_update is not None:
            self.on_update(old, obj)

    def _remove(self, key: str) -> None:
        old = self.cache.pop(key, None)
        if old is not None and self.on_delete is not None:
            self.on_delete(old)

    async def _list(self) -> None:
        lst = await self.client.list(self.resource, self.namespace, **self.selectors)
        rv = int(lst["metadata"]["resourceVersion"])
        items = list(lst["items"])
        fresh = {object_key(obj): obj for obj in items}
        for key in sorted(self.cache):
            if key not in fresh:
                self._remove(key)
        for key in sorted(fresh):
            if self.cache.get(key) != fresh[key]:
                self._put(fresh[key])
        self.resource_version = rv
        self.synced = True
        self.lists += 1
        if self.observer is not None:
            self.observer.listed(rv, items)

    async def _watch(self, resumed: bool) -> bool:
        """One watch from ``resource_version``; True when it must list again (410)."""
        lo, hi = self.watch_timeout_s
        timeout_s = self.rt.random().randint(lo, hi)
        events = await self.client.watch(self.resource, self.namespace,
                                         resource_version=str(self.resource_version),
                                         allow_bookmarks=True, timeout_s=timeout_s, **self.selectors)
        self.watches += 1
        if self.observer is not None:
            self.observer.watch_opened(self.resource_version, resumed)
        async with events:
            async for event in events:
                kind, obj = event.get("type"), event.get("object") or {}
                if kind == "ERROR":
                    code = obj.get("code")
                    self.rt.record("informer.watch_error", resource=self.resource, code=code)
                    return code == 410
                if self.observer is not None:
                    self.observer.event(event)
                rv = int(obj.get("metadata", {}).get("resourceVersion", 0) or 0)
                if kind == "BOOKMARK":
                    self.resource_version = max(self.resource_version, rv)
                    continue
                if kind == "DELETED":
                    self._remove(object_key(obj))
                elif kind in ("ADDED", "MODIFIED"):
                    self._put(obj)
                self.resource_version = max(self.resource_version, rv)
        return False

    async def run(self) -> None:
        """List and watch, forever."""
        relist = True
        resumed = False
        while True:
            try:
                if relist:
                    await self._list()
                    relist, resumed = False, False
                relist = await self._watch(resumed)
                resumed = not relist
            except ApiError as exc:
                self.rt.record("informer.retry", resource=self.resource, error=str(exc))
                relist = relist or exc.code == 410
                resumed = not relist and self.watches > 0
                await self.rt.sleep(self.retry_s)

    def items(self) -> list[Any]:
        return [self.cache[key] for key in sorted(self.cache)]
