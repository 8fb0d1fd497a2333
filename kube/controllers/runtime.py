"""The controller runtime (controller-runtime's Manager, Controller and Reconciler).

* :class:`SharedInformers`: one :class:`kube.informer.Informer` per (resource,
  namespace), shared by every controller of a process, each with any number of event
  listeners;
* :class:`Controller`: a :class:`kube.controllers.queue.WorkQueue` fed by informer events
  (mapped to keys), ``workers`` tasks calling ``reconcile(key)`` once the informers have
  synced, and a resync that queues every key of the primary informer every ``resync_s``.
  A reconcile reads the caches (level-triggered: what is, not the event that woke it);
  it returns a :class:`Result` (``requeue_after_s``) or None; an exception requeues the
  key with exponential backoff (an :class:`kube.errors.ApiError`, the usual failure, is
  recorded; anything else is a bug and kills the worker task, so a run reports it).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import attrs

from raftkv.tasks import Runtime, join_all

from ..client import KubeClient
from ..errors import ApiError
from ..informer import Informer, object_key
from .queue import WorkQueue

__all__ = ["Controller", "Listener", "Result", "SharedInformers", "join_all"]


@attrs.frozen(kw_only=True)
class Result:
    requeue_after_s: float = 0.0


@attrs.frozen(kw_only=True)
class Listener:
    on_add: Callable[[dict[str, Any]], None] | None = None
    on_update: Callable[[dict[str, Any], dict[str, Any]], None] | None = None
    on_delete: Callable[[dict[str, Any]], None] | None = None


class SharedInformers:
    """The informers of one process, created on first use and run by :meth:`run`."""

    def __init__(self, rt: Runtime, client: KubeClient) -> None:
        self.rt = rt
        self.client = client
        self.informers: dict[tuple[str, str, str], Informer] = {}
        self._listeners: dict[tuple[str, str, str], list[Listener]] = {}
        self._started: dict[tuple[str, str, str], Any] = {}

    def get(self, resource: str, namespace: str = "", *, field_selector: str = "") -> Informer:
        key = (resource, namespace, field_selector)
        if key not in self.informers:
            listeners: list[Listener] = []
            self._listeners[key] = listeners

            def add(obj: dict[str, Any]) -> None:
                for li in listeners:
                    if li.on_add is not None:
                        li.on_add(obj)

            def update(old: dict[str, Any], new: dict[str, Any]) -> None:
                for li in listeners:
                    if li.on_update is not None:
                        li.on_update(old, new)

            def delete(obj: dict[str, Any]) -> None:
                for li in listeners:
                    if li.on_delete is not None:
                        li.on_delete(obj)
            self.informers[key] = Informer(self.rt, self.client, resource, namespace, field_selector=field_selector,
                                           on_add=add, on_update=update, on_delete=delete)
        return self.informers[key]

    def listen(self, resource: str, listener: Listener, namespace: str = "", *,
               field_selector: str = "") -> Informer:
        informer = self.get(resource, namespace, field_selector=field_selector)
        self._listeners[(resource, namespace, field_selector)].append(listener)
        return informer

    def start(self) -> None:
        """Run every informer not yet running (in the order they were asked for)."""
        for key, informer in self.informers.items():
            if key not in self._started:
                self._started[key] = self.rt.spawn(informer.run(), name=f"informer:{key[0]}")

    @property
    def synced(self) -> bool:
        return all(inf.synced for inf in self.informers.values())

    async def wait_synced(self, poll_s: float = 0.05) -> None:
        while not self.synced:
            await self.rt.sleep(poll_s)

    def stop(self) -> None:
        for task in self._started.values():
            task.cancel()
        self._started.clear()


Reconcile = Callable[[str], Awaitable[Result | None]]


class Controller:
    def __init__(self, rt: Runtime, name: str, informers: SharedInformers, reconcile: Reconcile, *,
                 primary: str, namespace: str = "", field_selector: str = "", workers: int = 1, resync_s: float | None = 10.0,
                 base_backoff_s: float = 0.05, max_backoff_s: float = 2.0) -> None:
        assert workers >= 1, "a controller needs at least one worker"
        self.rt = rt
        self.name = name
        self.informers = informers
        self.reconcile = reconcile
        self.workers = workers
        self.resync_s = resync_s
        self.queue = WorkQueue(rt, base_backoff_s=base_backoff_s, max_backoff_s=max_backoff_s)
        self.primary = informers.get(primary, namespace, field_selector=field_selector)
        self.reconciles = 0
        self.errors = 0
        self.watch(primary, lambda obj: [object_key(obj)], namespace, field_selector=field_selector)

    def watch(self, resource: str, keys: Callable[[dict[str, Any]], list[str]], namespace: str = "", *,
              field_selector: str = "") -> None:
        """Queue ``keys(obj)`` on every add, update and delete of ``resource``."""
        def enqueue(obj: dict[str, Any]) -> None:
            for key in keys(obj):
                self.queue.add(key)

        def enqueue_both(old: dict[str, Any], new: dict[str, Any]) -> None:
            enqueue(old)
            enqueue(new)
        self.informers.listen(resource, Listener(on_add=enqueue, on_update=enqueue_both, on_delete=enqueue),
                              namespace, field_selector=field_selector)

    async def _worker(self) -> None:
        while True:
            key = await self.queue.get()
            try:
                self.reconciles += 1
                try:
                    result = await self.reconcile(key)
                except ApiError as exc:
                    self.errors += 1
                    self.rt.record("controller.retry", controller=self.name, key=key, error=exc.reason)
                    self.queue.add_rate_limited(key)
                    continue
                self.queue.forget(key)
                if result is not None and result.requeue_after_s > 0:
                    self.queue.add_after(key, result.requeue_after_s)
            finally:
                self.queue.done(key)

    async def _resync(self, resync_s: float) -> None:
        while True:
            await self.rt.sleep(resync_s)
            for key in sorted(self.primary.cache):
                self.queue.add(key)

    async def run(self) -> None:
        """Start the informers, wait for their first lists, then reconcile forever."""
        self.informers.start()
        await self.informers.wait_synced()
        tasks = [self.rt.spawn(self._worker(), name=f"{self.name}:worker{i}") for i in range(self.workers)]
        if self.resync_s:
            tasks.append(self.rt.spawn(self._resync(self.resync_s), name=f"{self.name}:resync"))
        await join_all(tasks)
