"""The peer transport: members talk over TCP in length-prefixed frames.

A frame is ``u32 length | payload``; the payload is a :mod:`raftkv.runtime.codec`
encoding of ``(src, dst, message)``.  A connection opens with a hello frame
``{"raftkv": CODEC_VERSION, "schema": SCHEMA_FINGERPRINT, "from": name, "addr": "host:port"}``;
a peer with another version or schema is refused (logged, connection closed).  A
frame that does not decode is logged and dropped and the connection reset.

Each peer has one outgoing connection with a bounded send queue (``max_queued_frames``):
when it is full new messages are dropped (Raft retransmits, clients retry) rather than
queued without limit.  A broken connection is re-dialled with exponential backoff
(``backoff_min_s`` doubling to ``backoff_max_s``, with jitter).  Peers added after start
(a member that joins) are learnt from their hello.
"""

from __future__ import annotations

import logging
import random
import struct
from collections import deque
from collections.abc import Callable
from typing import Any

import trio

from .codec import CODEC_VERSION, SCHEMA_FINGERPRINT, CodecError, decode, encode

__all__ = ["Transport", "parse_addr"]

log = logging.getLogger("raftkv.transport")

_LEN = struct.Struct(">I")
MAX_FRAME_BYTES = 256 << 20

Deliver = Callable[[str, str, Any], None]


def parse_addr(text: str) -> tuple[str, int]:
    """``http://host:port``, ``host:port`` -> (host, port); ValueError with a clear message."""
    rest = text.split("://", 1)[1] if "://" in text else text
    rest = rest.rstrip("/")
    host, sep, port = rest.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"{text!r} is not an address of the form [http://]host:port")
    return host.strip("[]"), int(port)


class FrameReader:
    """Splits a byte stream into frames."""

    def __init__(self) -> None:
        self._buf = bytearray()

    def feed(self, data: bytes) -> list[bytes]:
        buf = self._buf
        buf += data
        out = []
        pos = 0
        while len(buf) - pos >= 4:
            (n,) = _LEN.unpack_from(buf, pos)
            if n > MAX_FRAME_BYTES:
                raise CodecError(f"frame of {n} bytes exceeds the limit")
            if len(buf) - pos - 4 < n:
                break
            out.append(bytes(buf[pos + 4:pos + 4 + n]))
            pos += 4 + n
        del buf[:pos]
        return out


def _frame(obj: Any) -> bytes:
    payload = encode(obj)
    return _LEN.pack(len(payload)) + payload


class _Peer:
    def __init__(self, name: str, addr: tuple[str, int]) -> None:
        self.name = name
        self.addr = addr
        self.queue: deque[bytes] = deque()
        self.ready = trio.Event()
        self.dropped = 0
        self.connected = False


class Transport:
    def __init__(self, name: str, listen: tuple[str, int], advertise: str,
                 peers: dict[str, tuple[str, int]], deliver: Deliver, *,
                 rng: random.Random, max_queued_frames: int = 4096,
                 backoff_min_s: float = 0.02, backoff_max_s: float = 0.25) -> None:
        self.name = name
        self.listen = listen
        self.advertise = advertise
        self.deliver = deliver
        self.rng = rng
        self.max_queued_frames = max_queued_frames
        self.backoff_min_s = backoff_min_s
        self.backoff_max_s = backoff_max_s
        self.peers: dict[str, _Peer] = {}
        self.decode_errors = 0
        self._nursery: trio.Nursery | None = None
        for peer, addr in sorted(peers.items()):
            if peer != name:
                self.peers[peer] = _Peer(peer, addr)

    # ------------------------------------------------------------------ sending
    def send(self, member: str, src: str, dst: str, msg: Any) -> None:
        peer = self.peers.get(member)
        if peer is None:
            return  # an unknown member: nowhere to send it (like a lost message)
        if len(peer.queue) >= self.max_queued_frames:
            peer.dropped += 1
            return
        peer.queue.append(_frame((src, dst, msg)))
        peer.ready.set()

    def add_peer(self, name: str, addr: tuple[str, int]) -> None:
        if name == self.name or name in self.peers:
            return
        peer = _Peer(name, addr)
        self.peers[name] = peer
        if self._nursery is not None:
            self._nursery.start_soon(self._dial_loop, peer)

    async def _dial_loop(self, peer: _Peer) -> None:
        backoff = self.backoff_min_s
        hello = _frame({"raftkv": CODEC_VERSION, "schema": SCHEMA_FINGERPRINT, "from": self.name,
                        "addr": self.advertise})
        while True:
            try:
                stream = await trio.open_tcp_stream(*peer.addr)
            except OSError:
                await trio.sleep(backoff * (0.5 + self.rng.random()))
                backoff = min(self.backoff_max_s, backoff * 2)
                continue
            backoff = self.backoff_min_s
            peer.connected = True
            try:
                async with stream:
                    stream.socket.setsockopt(6, 1, 1)  # TCP_NODELAY
                    await stream.send_all(hello)
                    while True:
                        if not peer.queue:
                            peer.ready = trio.Event()
                            await peer.ready.wait()
                        chunks = list(peer.queue)
                        peer.queue.clear()
                        await stream.send_all(b"".join(chunks))
            except (OSError, trio.BrokenResourceError, trio.ClosedResourceError):
                log.info("%s: connection to %s lost; redialling", self.name, peer.name)
            finally:
                peer.connected = False
            await trio.sleep(backoff * (0.5 + self.rng.random()))

    # ------------------------------------------------------------------ receiving
    async def _serve_conn(self, stream: trio.SocketStream) -> None:
        reader = FrameReader()
        peer_name = "?"
        hello_seen = False
        async with stream:
            try:
                while True:
                    data = await stream.receive_some(1 << 16)
                    if not data:
                        return
                    for raw in reader.feed(data):
                        obj = decode(raw)
                        if not hello_seen:
                            peer_name = self._check_hello(obj)
                            hello_seen = True
                            continue
                        if not (isinstance(obj, tuple) and len(obj) == 3
                                and isinstance(obj[0], str) and isinstance(obj[1], str)):
                            raise CodecError(f"not a (src, dst, message) frame: {type(obj).__name__}")
                        self.deliver(obj[0], obj[1], obj[2])
            except CodecError as e:
                self.decode_errors += 1
                log.warning("%s: dropping connection from %s: bad frame (%s)", self.name, peer_name, e)
            except (OSError, trio.BrokenResourceError, trio.ClosedResourceError):
                pass

    def _check_hello(self, obj: Any) -> str:
        if not isinstance(obj, dict) or obj.get("raftkv") != CODEC_VERSION:
            raise CodecError(f"not a raftkv v{CODEC_VERSION} hello: {obj!r:.100}")
        if obj.get("schema") != SCHEMA_FINGERPRINT:
            raise CodecError(f"peer speaks schema {obj.get('schema')!r}, this member "
                             f"{SCHEMA_FINGERPRINT!r} (different raftkv versions)")
        name = obj.get("from")
        if not isinstance(name, str) or not name:
            raise CodecError("hello without a member name")
        addr = obj.get("addr")
        if isinstance(addr, str) and name not in self.peers:
            try:
                self.add_peer(name, parse_addr(addr))
            except ValueError:
                log.warning("%s: peer %s advertises a bad address %r", self.name, name, addr)
        return name

    async def run(self, *, task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
        async with trio.open_nursery() as nursery:
            self._nursery = nursery
            listeners = await trio.open_tcp_listeners(self.listen[1], host=self.listen[0])
            nursery.start_soon(trio.serve_listeners, self._serve_conn, listeners)
            for peer in self.peers.values():
                nursery.start_soon(self._dial_loop, peer)
            task_status.started()
