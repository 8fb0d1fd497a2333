"""Faults of a component's view of the apiservers, in the manner of Sieve (Sun et al.,
OSDI 2022), carried out by a transport between the component and its real one.

:class:`ComponentFaults` is the state a fault sets (it outlives a crash of the
component); :class:`FaultyTransport` applies it to each request:

* ``lag_us``: lists are answered and watch events delivered ``lag_us`` late, in order
  (a stale view, as from an apiserver whose watch cache lags);
* ``coalesce_us``: watch events are gathered over windows of ``coalesce_us`` and only the
  last event of each object in a window is delivered (unobserved intermediate states; the
  latest state still arrives, so a level-triggered controller must cope);
* ``delay_us``: every request leaves ``delay_us`` late (a slow node: its heartbeats come
  late);
* ``crash_after_write``: after the next write that succeeds, ``on_crash()`` is called
  (the simulated system crashes the component in the middle of its reconcile);
* ``pause_after_write_us``: after the next write that succeeds, ``on_pause(us)`` is
  called and the request returns only once the component runs again (the system pauses
  it that long: a leader stopped between two writes of one reconcile, which wakes up
  deposed and goes on with the next write).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import attrs

from raftkv.tasks import Runtime

from .apiserver import Request, Response, close
from .client import Transport
from .fencing import WRITE_VERBS
from .informer import object_key

__all__ = ["ComponentFaults", "FaultyTransport"]


@attrs.define(kw_only=True)
class ComponentFaults:
    lag_us: int = 0
    coalesce_us: int = 0
    delay_us: int = 0
    crash_after_write: bool = False
    on_crash: Callable[[], None] | None = None
    pause_after_write_us: int = 0
    on_pause: Callable[[int], None] | None = None
    coalesced: int = 0  # events left out so far

    def clear(self) -> None:
        self.lag_us = self.coalesce_us = self.delay_us = 0
        self.crash_after_write = False
        self.pause_after_write_us = 0


class FaultyTransport:
    def __init__(self, rt: Runtime, inner: Transport, faults: ComponentFaults) -> None:
        self.rt = rt
        self.inner = inner
        self.faults = faults

    async def request(self, req: Request) -> Response:
        f = self.faults
        if f.delay_us:
            await self.rt.sleep(f.delay_us / 1e6)
        lag_us = f.lag_us
        resp = await self.inner.request(req)
        if req.verb == "list" and lag_us:
            await self.rt.sleep(lag_us / 1e6)
        if req.verb in WRITE_VERBS and resp.status < 300 and f.crash_after_write and f.on_crash is not None:
            f.crash_after_write = False
            f.on_crash()
        if req.verb in WRITE_VERBS and resp.status < 300 and f.pause_after_write_us and f.on_pause is not None:
            pause_us, f.pause_after_write_us = f.pause_after_write_us, 0
            f.on_pause(pause_us)
            await self.rt.sleep(0)  # the pause holds this; the caller goes on once resumed
        if resp.watch is not None and (f.lag_us or f.coalesce_us):
            return attrs.evolve(resp, watch=_FaultyWatch(self.rt, resp.watch, f))
        return resp



_DONE = object()


class _FaultyWatch:
    """A watch stream as the faults say, read ahead by a pump task (so a lag is a delay,
    not a slower reader).  ``aclose`` awaits nothing: it may be called at any time."""

    def __init__(self, rt: Runtime, events: AsyncIterator[dict[str, Any]], faults: ComponentFaults) -> None:
        self.rt = rt
        self.faults = faults
        self.arrived: Any = rt.queue()
        self.ready: list[dict[str, Any]] = []
        self.ended = False
        self.task = rt.spawn(self._pump(events), name="faulty-watch")

    async def _pump(self, events: AsyncIterator[dict[str, Any]]) -> None:
        try:
            async for event in events:
                self.arrived.put_nowait((self.rt.monotonic_us(), event))
        finally:
            self.arrived.put_nowait((self.rt.monotonic_us(), _DONE))
            await close(events)

    def __aiter__(self) -> _FaultyWatch:
        return self

    async def __anext__(self) -> dict[str, Any]:
        if self.ready:
            return self.ready.pop(0)
        if self.ended:
            raise StopAsyncIteration
        at_us, event = await self.arrived.get()
        if event is _DONE:
            self.ended = True
            raise StopAsyncIteration
        f = self.faults
        wait_us = at_us + f.lag_us - self.rt.monotonic_us()
        if wait_us > 0:
            await self.rt.sleep(wait_us / 1e6)
        if not f.coalesce_us:
            out: dict[str, Any] = event
            return out
        window: dict[str, dict[str, Any]] = {_event_key(event): event}
        with self.rt.move_on_after(f.coalesce_us / 1e6):
            while True:
                _at, more = await self.arrived.get()
                if more is _DONE:
                    self.ended = True
                    break
                key = _event_key(more)
                f.coalesced += key in window
                window.pop(key, None)  # its place is the last event's
                window[key] = more
        self.ready = list(window.values())
        return self.ready.pop(0)

    async def aclose(self) -> None:
        self.ended = True
        self.ready = []
        self.task.cancel()


def _event_key(event: dict[str, Any]) -> str:
    obj = event.get("object") or {}
    if event.get("type") in ("BOOKMARK", "ERROR") or "name" not in (obj.get("metadata") or {}):
        return f"~{event.get('type')}"
    return object_key(obj)
