"""A :class:`kube.client.Transport` to an :class:`~kube.apiserver.ApiServer` in the same
process, on any :class:`raftkv.tasks.Runtime` (the controllers ``raftkv kube serve
--controllers`` runs use it).

Requests are calls of :meth:`ApiServer.handle`.  A watch's event generator runs in a task
of its own (it holds the etcd watch's task group open across its yields, so the caller's
timeouts and cancel scopes must not come in between) and hands its events over a queue;
the watch's ``timeoutSeconds`` is kept on the caller's side, as the HTTP front does.
"""

from __future__ import annotations

from typing import Any

from raftkv.tasks import Runtime, TaskHandle

from .apiserver import ApiServer, Request, Response, close

__all__ = ["InProcessTransport"]

_END = object()


class _QueuedWatch:
    """The caller's end of a watch pumped by a task (see the module docstring)."""

    def __init__(self, rt: Runtime, events: Any, timeout_s: float) -> None:
        self.rt = rt
        self._queue = rt.queue(256)
        self._deadline_us = rt.monotonic_us() + round(timeout_s * 1e6) if timeout_s > 0 else 0
        self._closed = False
        self._pump: TaskHandle[None] = rt.spawn(self._run(events), name="watch-pump")

    async def _run(self, events: Any) -> None:
        try:
            async for event in events:
                await self._queue.put(event)
        except Exception as exc:  # the stream broke: its reader sees it end, and lists again
            self.rt.record("watch.pump_failed", error=f"{type(exc).__name__}: {exc}")
        finally:
            await close(events)
        await self._queue.put(_END)

    def __aiter__(self) -> _QueuedWatch:
        return self

    async def __anext__(self) -> dict[str, Any]:
        if self._closed:
            raise StopAsyncIteration
        item: Any = _END
        if self._deadline_us:
            left_s = (self._deadline_us - self.rt.monotonic_us()) / 1e6
            if left_s > 0:
                with self.rt.move_on_after(left_s):
                    item = await self._queue.get()
        else:
            item = await self._queue.get()
        if item is _END:
            await self.aclose()
            raise StopAsyncIteration
        event: dict[str, Any] = item
        return event

    async def aclose(self) -> None:
        if not self._closed:
            self._closed = True
            self._pump.cancel()


class InProcessTransport:
    """Serve a client's requests with ``server`` in this process (see the module docstring)."""

    def __init__(self, rt: Runtime, server: ApiServer) -> None:
        self.rt = rt
        self.server = server

    async def request(self, req: Request) -> Response:
        if req.verb != "watch":
            return await self.server.handle(req)
        timeout_text = req.param("timeoutSeconds") or "0"
        req = Request(verb=req.verb, resource=req.resource, namespace=req.namespace, name=req.name,
                      subresource=req.subresource, query=tuple((k, v) for k, v in req.query if k != "timeoutSeconds"),
                      body=req.body, patch_type=req.patch_type)
        resp = await self.server.handle(req)
        if resp.watch is None:
            return resp
        return Response(status=resp.status, watch=_QueuedWatch(self.rt, resp.watch, float(timeout_text)))
