"""The apiserver over the simulated network: requests, responses and watch streams as
messages between a client node and apiserver nodes, so partitions, loss, crashes and
pauses between clients and apiservers are faults like any other.

* :class:`ApiServerEndpoint` (on an apiserver node) serves each request with
  :meth:`ApiServer.handle` in its own task; a request seen twice (a duplicated
  message) is served once; a watch streams its events numbered from 1, then an end.
* :class:`SimTransport` (on a client node) sends a request to one apiserver and waits
  ``timeout_s``; reads are tried on the next apiserver when one stays silent, a write
  without an answer fails as unknown (504).  A watch ends when a numbered event is
  missing (the stream cannot be trusted past a gap; with ``reorder_window_s`` > 0, events
  that arrive out of order are put back in order, as a stream socket would, and the gap
  ends the watch only when the missing event is still missing that long after a later
  one arrived: it was lost), when the server ends it, or
  after ``idle_s`` without a message; the caller resumes it from the last
  resourceVersion it saw, as client-go does.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Hashable
from typing import Any

import attrs

from raftkv.sim import SimRuntime

from .apiserver import ApiServer, Request, Response, close
from .errors import timeout

__all__ = ["ApiServerEndpoint", "SimTransport"]

_SEEN_LIMIT = 4096
_END = object()


@attrs.frozen(kw_only=True)
class ApiRequestMsg:
    req_id: int
    request: Request


@attrs.frozen(kw_only=True, eq=False)
class ApiResponseMsg:
    req_id: int
    status: int
    body: Any = None


@attrs.frozen(kw_only=True, eq=False)
class ApiWatchEventMsg:
    req_id: int
    seq: int
    event: Any


@attrs.frozen(kw_only=True)
class ApiWatchEndMsg:
    req_id: int
    seq: int


@attrs.frozen(kw_only=True)
class ApiWatchCancelMsg:
    req_id: int


class ApiServerEndpoint:
    """Routes a node's request messages to ``server`` (add with ``rt.add_handler``)."""

    def __init__(self, rt: SimRuntime, server: ApiServer) -> None:
        self.rt = rt
        self.server = server
        self._seen: OrderedDict[tuple[str, int], None] = OrderedDict()
        self._watches: dict[tuple[str, int], Any] = {}

    def on_message(self, src: str, msg: Any) -> bool:
        if isinstance(msg, ApiRequestMsg):
            key = (src, msg.req_id)
            if key not in self._seen:
                self._seen[key] = None
                if len(self._seen) > _SEEN_LIMIT:
                    self._seen.popitem(last=False)
                self.rt.spawn(self._serve(src, msg), name=f"{msg.request.verb}:{src}:{msg.req_id}")
            return True
        if isinstance(msg, ApiWatchCancelMsg):
            task = self._watches.pop((src, msg.req_id), None)
            if task is not None:
                task.cancel()
            return True
        return False

    def on_timer(self, tag: Hashable) -> bool:
        return False

    async def _serve(self, src: str, msg: ApiRequestMsg) -> None:
        send = self.rt.env.send
        resp = await self.server.handle(msg.request)
        if resp.watch is None:
            send(src, ApiResponseMsg(req_id=msg.req_id, status=resp.status, body=resp.body))
            return
        key = (src, msg.req_id)
        self._watches[key] = self.rt.current
        send(src, ApiResponseMsg(req_id=msg.req_id, status=resp.status))
        seq = 0
        try:
            async for event in resp.watch:
                seq += 1
                send(src, ApiWatchEventMsg(req_id=msg.req_id, seq=seq, event=event))
            send(src, ApiWatchEndMsg(req_id=msg.req_id, seq=seq + 1))
        except GeneratorExit:  # this coroutine is being discarded: nothing may be awaited
            raise
        except BaseException:
            await close(resp.watch)
            raise
        else:
            await close(resp.watch)
        finally:
            self._watches.pop(key, None)


class _SimWatch:
    """The client's end of a watch stream (see the module docstring)."""

    def __init__(self, transport: SimTransport, req_id: int, target: str, idle_s: float,
                 reorder_window_s: float) -> None:
        self._t = transport
        self.req_id = req_id
        self.target = target
        self.idle_s = idle_s
        self.reorder_window_us = round(reorder_window_s * 1_000_000)
        self._queue = transport.rt.queue()
        self._next_seq = 1
        self._early: dict[int, Any] = {}  # seq -> item that came before the ones ahead of it
        self._gap_since_us = 0
        self.closed = False

    def deliver(self, seq: int, item: Any) -> None:
        if self.closed or seq < self._next_seq or seq in self._early:
            return  # a duplicate
        now_us = self._t.rt.monotonic_us()
        if seq > self._next_seq:
            if not self._early:
                self._gap_since_us = now_us
            self._early[seq] = item
            if now_us - self._gap_since_us >= self.reorder_window_us:
                self._early.clear()
                self._next_seq = seq + 1
                self._queue.put_nowait(_END)  # a gap that stayed: nothing after it can be trusted
            return
        self._next_seq = seq + 1
        self._queue.put_nowait(item)
        while self._next_seq in self._early:
            self._queue.put_nowait(self._early.pop(self._next_seq))
            self._next_seq += 1
        if self._early:
            self._gap_since_us = now_us  # the next gap, from now

    def __aiter__(self) -> _SimWatch:
        return self

    async def __anext__(self) -> dict[str, Any]:
        if self.closed:
            raise StopAsyncIteration
        item: Any = _END
        with self._t.rt.move_on_after(self.idle_s) as scope:
            item = await self._queue.get()
        if scope.cancelled_caught or item is _END:
            await self.aclose()
            raise StopAsyncIteration
        event: dict[str, Any] = item
        return event

    async def aclose(self) -> None:
        if not self.closed:
            self.closed = True
            self._t.watches.pop(self.req_id, None)
            self._t.rt.env.send(self.target, ApiWatchCancelMsg(req_id=self.req_id))


class SimTransport:
    """A :class:`kube.client.Transport` from a simulated node to apiserver nodes."""

    def __init__(self, rt: SimRuntime, apiservers: tuple[str, ...], *, timeout_s: float = 1.0,
                 read_attempts: int = 3, reorder_window_s: float = 0.0) -> None:
        if not apiservers:
            raise ValueError("SimTransport needs at least one apiserver")
        self.rt = rt
        self.apiservers = apiservers
        self.timeout_s = timeout_s
        self.read_attempts = read_attempts
        self.reorder_window_s = reorder_window_s
        self.current = 0
        # Request ids start from the node's monotonic clock (x 1024), so a restarted node
        # never reuses the ids of its previous life: apiservers drop a (node, id) they
        # have seen as a duplicate, which would leave a restarted client unanswered.
        # Several transports on one node (a kubelet beside kube-proxy) draw from
        # disjoint id ranges, and each takes only the answers to its own requests.
        nth = getattr(rt, "_kube_transports", 0)
        rt._kube_transports = nth + 1  # type: ignore[attr-defined]
        self._next_id = rt.monotonic_us() * 1024 + (nth << 56)
        self._pending: dict[int, list[Any]] = {}  # req_id -> [event, response message]
        self.watches: dict[int, _SimWatch] = {}
        rt.add_handler(self)

    def on_message(self, src: str, msg: Any) -> bool:
        if isinstance(msg, ApiResponseMsg):
            slot = self._pending.get(msg.req_id)
            if slot is None:
                return False  # another transport's, or a late answer
            if slot[1] is None:
                slot[1] = msg
                slot[0].set()
            return True
        if isinstance(msg, ApiWatchEventMsg | ApiWatchEndMsg):
            watch = self.watches.get(msg.req_id)
            if watch is None:
                return False
            if src == watch.target:
                watch.deliver(msg.seq, msg.event if isinstance(msg, ApiWatchEventMsg) else _END)
            return True
        return False

    def on_timer(self, tag: Hashable) -> bool:
        return False

    def _rotate(self) -> None:
        self.current = (self.current + 1) % len(self.apiservers)

    async def request(self, req: Request) -> Response:
        reads = req.verb in ("get", "list", "watch")
        for _attempt in range(self.read_attempts if reads else 1):
            target = self.apiservers[self.current]
            self._next_id += 1
            req_id = self._next_id
            slot: list[Any] = [self.rt.event(), None]
            self._pending[req_id] = slot
            watch = None
            if req.verb == "watch":
                bookmarks = req.param("allowWatchBookmarks") == "true"
                idle_s = 3.0 if bookmarks else float(req.param("timeoutSeconds") or 30) + 1.0
                watch = self.watches[req_id] = _SimWatch(self, req_id, target, idle_s, self.reorder_window_s)
            self.rt.env.send(target, ApiRequestMsg(req_id=req_id, request=req))
            try:
                with self.rt.move_on_after(self.timeout_s):
                    await slot[0].wait()
            finally:
                self._pending.pop(req_id, None)
            msg = slot[1]
            if msg is None:
                self._rotate()
                if watch is not None:
                    await watch.aclose()
                continue
            if msg.status in (503, 504):
                self._rotate()  # its store is unreachable: try another apiserver next time
            if watch is not None:
                if msg.status == 200:
                    return Response(status=200, watch=watch)
                await watch.aclose()
            return Response(status=msg.status, body=msg.body)
        return Response(status=504, body=timeout(f"no answer from apiserver(s) {', '.join(self.apiservers)} "
                                                  f"within {self.timeout_s:g}s").status)
