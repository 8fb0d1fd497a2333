"""A small HTTP/1.1 server on trio, with h11 doing all the protocol work.

Keep-alive connections; a handler gets a :class:`HttpRequest` whose body it may read
whole (:meth:`HttpRequest.body`) or piece by piece as it arrives
(:meth:`HttpRequest.chunks`, for streamed request bodies such as etcd's watch), and
answers through :class:`HttpResponder`: one whole response, or a stream of chunks.
With an ``ssl_context`` the server speaks HTTPS (trio's :class:`trio.SSLStream` around
each connection).
"""

from __future__ import annotations

import logging
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable

import h11
import trio

__all__ = ["HttpRequest", "HttpResponder", "serve_http"]

log = logging.getLogger("raftkv.http")

MAX_BODY_BYTES = 16 << 20
_SERVER = b"raftkv"


class _Conn:
    def __init__(self, stream: trio.abc.Stream) -> None:
        self.stream = stream
        self.h11 = h11.Connection(h11.SERVER, max_incomplete_event_size=64 << 10)
        self.send_lock = trio.Lock()

    async def next_event(self) -> object:
        while True:
            event = self.h11.next_event()
            if event is h11.NEED_DATA:
                data = bytes(await self.stream.receive_some(1 << 16))
                self.h11.receive_data(data)
                continue
            return event

    async def send(self, event: h11.Event) -> None:
        async with self.send_lock:
            data = self.h11.send(event)
            if data:
                await self.stream.send_all(data)


class HttpRequest:
    def __init__(self, conn: _Conn, event: h11.Request) -> None:
        self._conn = conn
        self.method = event.method.decode("ascii", "replace")
        self.target = event.target.decode("ascii", "replace")
        self.path = self.target.split("?", 1)[0]
        self.headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in event.headers}
        self.done = False

    async def chunks(self) -> AsyncIterator[bytes]:
        """The body as it arrives."""
        while not self.done:
            event = await self._conn.next_event()
            if isinstance(event, h11.Data):
                yield bytes(event.data)
            elif isinstance(event, h11.EndOfMessage):
                self.done = True
            elif isinstance(event, h11.ConnectionClosed):
                self.done = True
                raise trio.BrokenResourceError("client closed the connection mid-body")

    async def wait_closed(self) -> None:
        """Return once the client closes the connection (after the whole request was read;
        for a streamed response, which otherwise notices only at its next write)."""
        assert self.done, "read the request body first"
        while True:
            data = bytes(await self._conn.stream.receive_some(1 << 16))
            self._conn.h11.receive_data(data)  # a next request waits in h11's buffer
            if not data:
                return

    async def body(self) -> bytes:
        parts = []
        size = 0
        async for chunk in self.chunks():
            size += len(chunk)
            if size > MAX_BODY_BYTES:
                raise ValueError(f"request body larger than {MAX_BODY_BYTES} bytes")
            parts.append(chunk)
        return b"".join(parts)


class HttpResponder:
    def __init__(self, conn: _Conn) -> None:
        self._conn = conn
        self.started = False

    async def send(self, status: int, body: bytes, content_type: str = "application/json",
                   headers: tuple[tuple[str, str], ...] = ()) -> None:
        """One whole response; ``headers`` are sent besides the usual ones."""
        self.started = True
        sent = [(b"content-type", content_type.encode()), (b"content-length", str(len(body)).encode()),
                (b"server", _SERVER), *((k.encode(), v.encode()) for k, v in headers)]
        await self._conn.send(h11.Response(status_code=status, headers=sent))
        await self._conn.send(h11.Data(data=body))
        await self._conn.send(h11.EndOfMessage())

    async def start_stream(self, status: int = 200, content_type: str = "application/json") -> None:
        self.started = True
        headers = [(b"content-type", content_type.encode()), (b"server", _SERVER)]
        await self._conn.send(h11.Response(status_code=status, headers=headers))

    async def stream_chunk(self, data: bytes) -> None:
        await self._conn.send(h11.Data(data=data))

    async def end_stream(self) -> None:
        await self._conn.send(h11.EndOfMessage())


_CONNECTION_ERRORS = (trio.BrokenResourceError, trio.ClosedResourceError, OSError)

Handler = Callable[[HttpRequest, HttpResponder], Awaitable[None]]


async def _serve_conn(stream: trio.abc.Stream, handler: Handler) -> None:
    conn = _Conn(stream)
    async with stream:
        try:
            while True:
                event = await conn.next_event()
                if isinstance(event, h11.ConnectionClosed):
                    return
                assert isinstance(event, h11.Request), event
                request = HttpRequest(conn, event)
                responder = HttpResponder(conn)
                try:
                    await handler(request, responder)
                except BaseExceptionGroup as group:  # a handler's nursery: the client went away?
                    _gone, rest = group.split(_CONNECTION_ERRORS)
                    if rest is not None:
                        raise rest from None
                    return
                if not request.done:
                    async for _ in request.chunks():
                        pass
                if conn.h11.our_state is not h11.DONE or conn.h11.their_state is not h11.DONE:
                    return
                conn.h11.start_next_cycle()
        except h11.RemoteProtocolError as e:
            log.info("bad HTTP from a client: %s", e)
            if conn.h11.our_state in (h11.IDLE, h11.SEND_RESPONSE):
                try:
                    await conn.send(h11.Response(status_code=e.error_status_hint,
                                                 headers=[(b"content-length", b"0")]))
                except (h11.LocalProtocolError, trio.BrokenResourceError, trio.ClosedResourceError):
                    pass
        except (trio.BrokenResourceError, trio.ClosedResourceError, OSError, h11.LocalProtocolError):
            pass


async def serve_http(listen: tuple[str, int], handler: Handler, *, ssl_context: ssl.SSLContext | None = None,
                     task_status: trio.TaskStatus[int] = trio.TASK_STATUS_IGNORED) -> None:
    """Serve ``handler`` on ``listen`` (HTTPS with ``ssl_context``); ``task_status.started(port)``
    once listening."""
    listeners = await trio.open_tcp_listeners(listen[1], host=listen[0])
    port = listeners[0].socket.getsockname()[1]

    async def conn(stream: trio.SocketStream) -> None:
        if ssl_context is None:
            await _serve_conn(stream, handler)
        else:  # a failed handshake is a BrokenResourceError, which _serve_conn ends quietly on
            await _serve_conn(trio.SSLStream(stream, ssl_context, server_side=True, https_compatible=True), handler)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(trio.serve_listeners, conn, listeners)
        task_status.started(port)
