"""The simulated async etcd client: :class:`raftkv.client.interface.AsyncEtcdClient`
over the callback :class:`~raftkv.client.Client`.

Each call starts the callback client's operation and waits on a runtime
:class:`~raftkv.tasks.Event` for its one result, so the callback client does all the
work it already does (leader finding, retries, deadlines, history recording, watch
resumption) and the async caller sees its outcome: the response, or the error raised
(``ErrTimeout`` for an unknown outcome).  Cancelling the awaiting task does not undo
the operation: it goes on, and is recorded, as with a real client.

Build one inside the simulator with :meth:`raftkv.sim.executor.SimRuntime.etcd_client`,
which routes the node's messages and timers to the callback client.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from raftkv.kv import (
    CompactionResponse,
    DeleteRangeResponse,
    ErrCompacted,
    ErrInvalidRequest,
    ErrTimeout,
    LeaseGrantResponse,
    LeaseKeepAliveResponse,
    LeaseLeasesResponse,
    LeaseRevokeResponse,
    LeaseTimeToLiveResponse,
    PutResponse,
    RangeRequest,
    RangeResponse,
    TxnRequest,
    TxnResponse,
    WatchFilter,
    WatchResponse,
    prefix_end,
)
from raftkv.kv.protocol import MemberListResponse, MemberStatus
from raftkv.tasks import Event, Queue, Runtime

from .client import Client, HistSpec, Result, Watch

__all__ = ["SimEtcdClient", "SimWatchStream"]

_CLOSED = object()  # put in a stream's queue when it is cancelled


def _s(b: bytes) -> str:
    return b.decode("utf-8", "backslashreplace")


def _range_end(key: bytes, range_end: bytes, prefix: bool) -> bytes:
    if prefix:
        if range_end:
            raise ValueError("give either prefix=True or range_end, not both")
        return prefix_end(key)
    return range_end


class _Call:
    """Receives the one result of a callback-client operation."""

    __slots__ = ("done", "result")

    def __init__(self, done: Event) -> None:
        self.done = done
        self.result: Result | None = None

    def __call__(self, result: Result) -> None:
        self.result = result
        self.done.set()


class SimWatchStream:
    """A :class:`raftkv.client.interface.WatchStream` over a callback-client :class:`Watch`
    (open as soon as it is created)."""

    def __init__(self, rt: Runtime, open_watch: Callable[[Callable[[WatchResponse], None]], Watch]) -> None:
        self._queue: Queue[Any] = rt.queue()
        self._ended = False
        self._watch = open_watch(self._on_response)

    @property
    def watch_id(self) -> str:
        return self._watch.id

    def _on_response(self, resp: WatchResponse) -> None:
        if resp.created and not resp.canceled:
            return
        self._queue.put_nowait(resp)

    def __aiter__(self) -> SimWatchStream:
        return self

    async def __anext__(self) -> WatchResponse:
        if self._ended:
            raise StopAsyncIteration
        item = await self._queue.get()
        if item is _CLOSED:
            self._ended = True
            raise StopAsyncIteration
        assert isinstance(item, WatchResponse)
        if item.canceled:
            self._ended = True
            if item.compact_revision:
                raise ErrCompacted(compact_revision=item.compact_revision)
            raise ErrInvalidRequest(reason=item.cancel_reason or "watch canceled by the server")
        return item

    def request_progress(self) -> None:
        self._watch.request_progress()

    def cancel(self) -> None:
        if not self._watch.closed:
            self._watch.cancel()
            self._queue.put_nowait(_CLOSED)

    async def __aenter__(self) -> SimWatchStream:
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.cancel()


class SimEtcdClient:
    """:class:`raftkv.client.interface.AsyncEtcdClient` in the simulator (module docstring)."""

    def __init__(self, client: Client, rt: Runtime) -> None:
        self.client = client
        self._rt = rt
        self._streams: list[SimWatchStream] = []

    async def _call(self, start: Callable[[Callable[[Result], None]], None]) -> Any:
        call = _Call(self._rt.event())
        start(call)
        await call.done.wait()
        result = call.result
        assert result is not None
        if result.outcome == "ok":
            return result.response
        if result.outcome == "unknown":
            raise result.error if isinstance(result.error, ErrTimeout) else ErrTimeout()
        raise result.error if result.error is not None else ErrTimeout()

    # ------------------------------------------------------------------ KV
    async def get(self, key: bytes, *, range_end: bytes = b"", prefix: bool = False,
                  revision: int = 0, serializable: bool = False, limit: int = 0,
                  keys_only: bool = False, count_only: bool = False) -> RangeResponse:
        end = _range_end(key, range_end, prefix)
        c = self.client
        if limit or keys_only or count_only:
            req = RangeRequest(key=key, range_end=end, limit=limit, revision=revision,
                               serializable=serializable, keys_only=keys_only,
                               count_only=count_only)
            resp = await self._call(lambda cb: c.range(req, cb, hist=HistSpec(f="range", key=_s(key))))
        else:
            resp = await self._call(lambda cb: c.get(key, cb, serializable=serializable,
                                                     revision=revision, range_end=end))
        assert isinstance(resp, RangeResponse)
        return resp

    async def put(self, key: bytes, value: bytes, *, lease: int = 0,
                  prev_kv: bool = False) -> PutResponse:
        resp = await self._call(lambda cb: self.client.put(key, value, cb, lease=lease, prev_kv=prev_kv))
        assert isinstance(resp, PutResponse)
        return resp

    async def delete(self, key: bytes, *, range_end: bytes = b"", prefix: bool = False,
                     prev_kv: bool = False) -> DeleteRangeResponse:
        end = _range_end(key, range_end, prefix)
        resp = await self._call(lambda cb: self.client.delete(key, cb, range_end=end, prev_kv=prev_kv))
        assert isinstance(resp, DeleteRangeResponse)
        return resp

    async def txn(self, request: TxnRequest) -> TxnResponse:
        resp = await self._call(lambda cb: self.client.txn(request, cb))
        assert isinstance(resp, TxnResponse)
        return resp

    async def cas(self, key: bytes, expected: bytes | None, new: bytes) -> TxnResponse:
        resp = await self._call(lambda cb: self.client.cas(key, expected, new, cb))
        assert isinstance(resp, TxnResponse)
        return resp

    async def compact(self, revision: int, *, physical: bool = False) -> CompactionResponse:
        resp = await self._call(lambda cb: self.client.compact(revision, cb, physical=physical))
        assert isinstance(resp, CompactionResponse)
        return resp

    # ------------------------------------------------------------------ leases
    async def lease_grant(self, ttl_s: int, *, lease_id: int = 0) -> LeaseGrantResponse:
        resp = await self._call(lambda cb: self.client.lease_grant(ttl_s, cb, lease_id=lease_id))
        assert isinstance(resp, LeaseGrantResponse)
        return resp

    async def lease_keepalive_once(self, lease_id: int) -> LeaseKeepAliveResponse:
        resp = await self._call(lambda cb: self.client.lease_keepalive(lease_id, cb))
        assert isinstance(resp, LeaseKeepAliveResponse)
        return resp

    async def lease_revoke(self, lease_id: int) -> LeaseRevokeResponse:
        resp = await self._call(lambda cb: self.client.lease_revoke(lease_id, cb))
        assert isinstance(resp, LeaseRevokeResponse)
        return resp

    async def lease_time_to_live(self, lease_id: int, *,
                                 keys: bool = False) -> LeaseTimeToLiveResponse:
        resp = await self._call(lambda cb: self.client.lease_time_to_live(lease_id, cb, keys=keys))
        assert isinstance(resp, LeaseTimeToLiveResponse)
        return resp

    async def lease_leases(self) -> LeaseLeasesResponse:
        resp = await self._call(self.client.lease_leases)
        assert isinstance(resp, LeaseLeasesResponse)
        return resp

    # ------------------------------------------------------------------ watches
    def watch(self, key: bytes, *, range_end: bytes = b"", prefix: bool = False,
              start_revision: int = 0, prev_kv: bool = False, progress_notify: bool = False,
              filters: tuple[WatchFilter, ...] = ()) -> SimWatchStream:
        end = _range_end(key, range_end, prefix)
        stream = SimWatchStream(self._rt, lambda cb: self.client.watch(
            key, cb, range_end=end, start_revision=start_revision, prev_kv=prev_kv,
            filters=filters, progress_notify=progress_notify))
        self._streams = [s for s in self._streams if not s._ended]
        self._streams.append(stream)
        return stream

    # ------------------------------------------------------------------ cluster
    async def member_list(self, *, linearizable: bool = True) -> MemberListResponse:
        resp = await self._call(lambda cb: self.client.member_list(cb, linearizable=linearizable))
        assert isinstance(resp, MemberListResponse)
        return resp

    async def status(self, *, member: str | None = None) -> MemberStatus:
        resp = await self._call(lambda cb: self.client.status(cb, member=member))
        assert isinstance(resp, MemberStatus)
        return resp

    async def aclose(self) -> None:
        for stream in self._streams:
            stream.cancel()
        self._streams.clear()
