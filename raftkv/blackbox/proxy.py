"""PeerProxy: the members' peer traffic through TCP proxies on trio, under the nemesis's
control.

Each member is reached by its peers at a proxy port (its *advertised* peer address); the
proxy forwards to the member's real peer port.  The first bytes of a connection name the
member that dialled it (``identify``: raftkv's hello frame, or etcd's ``X-Server-From``
header), so each connection belongs to a link ``src -> dst``: bytes the dialler sends go
``src -> dst``, bytes it receives go ``dst -> src`` (an etcd stream's dialler receives its
peer's messages on it).  etcd's requests without ``X-Server-From`` (lease renewals and
time-to-live lookups a follower forwards to the leader, version checks, probes) name no
dialler: ``owner`` finds the member whose process holds the dialling socket
(:func:`raftkv.blackbox.sockets.dialler_of`).  Until the dialler is known, what the
connection sent is held back, not forwarded; without ``owner``, requests that carry no raft
message (:data:`NO_RAFT`) are forwarded untouched.  A connection that names no dialler in
its first ``_SNIFF_LIMIT`` bytes, or makes a raft request without one (:data:`REFUSE`), is
closed, so nothing of unknown origin carries raft traffic across a cut.  Connections from
outside the cluster (``""``) are forwarded untouched.

Faults, per direction of a link, applied as each chunk goes out:

* cut (:meth:`set_cuts`): a connection carrying a byte in a cut direction is closed (what
  was in flight is lost), as is each connection of a cut link when the cut starts;
* loss (:meth:`set_network`): each chunk is lost with that probability, closing its
  connection (TCP has no lost messages, only lost connections);
* delay: each chunk is held back ``delay_s`` with probability ``delay_prob`` (and lost, its
  connection closed, if its direction was cut meanwhile).
"""

from __future__ import annotations

import logging
import random
import struct
from collections.abc import Awaitable, Callable

import trio

from raftkv.runtime.cluster import free_port

__all__ = ["NO_RAFT", "REFUSE", "Identify", "Owner", "PeerProxy", "identify_etcd", "identify_raftkv"]

log = logging.getLogger("raftkv.blackbox.proxy")

# identify(bytes not forwarded yet) -> the dialler's name, None (need more bytes: held back),
# "" (not a member: forwarded untouched from now on), NO_RAFT or REFUSE
Identify = Callable[[bytes], "str | None"]
NO_RAFT = "-"  # these bytes carry no raft message: forward them, learn the dialler from later ones
REFUSE = "!"  # these bytes would carry raft traffic from no known dialler: close the connection

_SNIFF_LIMIT = 64 << 10


def identify_raftkv(buf: bytes) -> str | None:
    """The ``from`` of a raftkv peer connection's hello frame."""
    from raftkv.runtime.codec import CodecError, decode

    if len(buf) < 4:
        return None
    (n,) = struct.unpack_from(">I", buf)
    if len(buf) < 4 + n:
        return None if n <= _SNIFF_LIMIT else ""
    try:
        hello = decode(buf[4:4 + n])
    except CodecError:
        return ""
    name = hello.get("from") if isinstance(hello, dict) else None
    return name if isinstance(name, str) else ""


# etcd's peer paths that carry raft messages (rafthttp): the pipeline's POST /raft, and these
_ETCD_RAFT_PREFIXES = (b"/raft/snapshot", b"/raft/stream/")


def identify_etcd(names_by_id: dict[str, str]) -> Identify:
    """The member (by etcd's hex member id) an etcd peer request's ``X-Server-From`` names;
    NO_RAFT for complete requests without one that carry no raft message (a kept-alive
    connection may open with probes and version checks); REFUSE for a raft request
    without one."""

    def identify(buf: bytes) -> str | None:
        at = 0
        while True:
            end = buf.find(b"\r\n\r\n", at)
            if end < 0:
                return None if at < len(buf) else NO_RAFT
            head = buf[at:end + 2]
            lower = head.lower()
            found = lower.find(b"\r\nx-server-from:")
            if found >= 0:
                line_end = lower.find(b"\r\n", found + 2)
                return names_by_id.get(lower[found + len(b"\r\nx-server-from:"):line_end].strip().decode("latin-1"), "")
            parts = head.split(b"\r\n", 1)[0].split(b" ")
            path = parts[1].split(b"?", 1)[0] if len(parts) == 3 else b""
            if path == b"/raft" or path.startswith(_ETCD_RAFT_PREFIXES) or b"\r\ntransfer-encoding:" in lower:
                return REFUSE  # a raft request (or a body of unknown length) from no known dialler
            length = lower.find(b"\r\ncontent-length:")
            body = 0
            if length >= 0:
                value = lower[length + len(b"\r\ncontent-length:"):lower.find(b"\r\n", length + 2)].strip()
                if not value.isdigit():
                    return REFUSE
                body = int(value)
            at = end + 4 + body  # e.g. a lease renewal a follower forwards to the leader
            if at > len(buf):
                return None

    return identify


# owner(source port, proxy port) -> the member whose process dialled that connection, if any
Owner = Callable[[int, int], "str | None"]


class _Conn:
    def __init__(self, src: str | None, dst: str, scope: trio.CancelScope, source_port: int) -> None:
        self.src = src  # None: not known yet; "": not a member
        self.sniffed = b""
        self.dst = dst
        self.scope = scope
        self.source_port = source_port


class PeerProxy:
    """One listening port per member in ``targets`` (name -> real peer port).  ``owner``,
    when given, names the member whose process dialled a connection whose bytes name none
    (see :func:`raftkv.blackbox.sockets.dialler_of`)."""

    def __init__(self, targets: dict[str, int], identify: Identify, *, rng: random.Random,
                 owner: Owner | None = None) -> None:
        self.targets = dict(targets)
        self.ports = {name: free_port() for name in sorted(targets)}
        self.identify = identify
        self.owner = owner
        self.rng = rng
        self.cuts: frozenset[tuple[str, str]] = frozenset()
        self.loss = 0.0
        self.delay_prob = 0.0
        self.delay_s = 0.0
        self.conns: set[_Conn] = set()
        self.closed_by_fault = 0  # connections the faults closed
        self.identified = 0  # connections whose dialler was a known member
        self.refused = 0  # connections closed for carrying raft traffic from no known dialler

    # ------------------------------------------------------------------ control
    def set_cuts(self, cuts: set[tuple[str, str]] | frozenset[tuple[str, str]]) -> None:
        """Cut exactly these directed links (src, dst); heal every other one."""
        self.cuts = frozenset(cuts)
        for conn in list(self.conns):
            if (conn.src, conn.dst) in self.cuts:
                self._close(conn)

    def set_network(self, *, loss: float = 0.0, delay_prob: float = 0.0, delay_s: float = 0.0) -> None:
        assert 0.0 <= loss <= 1.0 and 0.0 <= delay_prob <= 1.0 and delay_s >= 0.0
        self.loss, self.delay_prob, self.delay_s = loss, delay_prob, delay_s

    def heal(self) -> None:
        self.set_cuts(frozenset())
        self.set_network()

    def _close(self, conn: _Conn) -> None:
        self.closed_by_fault += 1
        conn.scope.cancel()

    # ------------------------------------------------------------------ forwarding
    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        async with trio.open_nursery() as nursery:
            for name, port in self.ports.items():
                listeners = await trio.open_tcp_listeners(port, host="127.0.0.1")
                nursery.start_soon(trio.serve_listeners, self._handler(name), listeners)
            task_status.started()

    def _handler(self, dst: str) -> Callable[[trio.SocketStream], Awaitable[None]]:
        async def handle(stream: trio.SocketStream) -> None:
            try:
                await self._serve(stream, dst)
            except (OSError, trio.BrokenResourceError, trio.ClosedResourceError):
                pass
        return handle

    async def _serve(self, client: trio.SocketStream, dst: str) -> None:
        async with client:
            upstream = await trio.open_tcp_stream("127.0.0.1", self.targets[dst])
            async with upstream:
                conn = _Conn(None, dst, trio.CancelScope(), int(client.socket.getpeername()[1]))
                try:
                    with conn.scope:
                        async with trio.open_nursery() as nursery:
                            nursery.start_soon(self._pump, client, upstream, conn, True)
                            nursery.start_soon(self._pump, upstream, client, conn, False)
                finally:
                    self.conns.discard(conn)

    async def _sniff(self, conn: _Conn, data: bytes) -> bytes | None:
        """Learn who dialled ``conn`` from what it sent that was not forwarded yet (or, when
        those bytes name nobody, from ``owner``): the bytes to forward now (b"": hold them
        back), or None to close the connection."""
        conn.sniffed += data
        name = self.identify(conn.sniffed)
        if name is None:
            if len(conn.sniffed) < _SNIFF_LIMIT:
                return b""
            name = REFUSE
        if name in (NO_RAFT, REFUSE) and self.owner is not None:
            owner, port = self.owner, self.ports[conn.dst]
            name = await trio.to_thread.run_sync(lambda: owner(conn.source_port, port)) or name
        if name == REFUSE:
            self.refused += 1
            return None
        out, conn.sniffed = conn.sniffed, b""
        if name != NO_RAFT:
            conn.src = name
            if name:
                self.identified += 1
                self.conns.add(conn)
        return out

    async def _pump(self, a: trio.SocketStream, b: trio.SocketStream, conn: _Conn, up: bool) -> None:
        try:
            while True:
                data = await a.receive_some(1 << 16)
                if not data:
                    break
                if up and conn.src is None:
                    forward = await self._sniff(conn, data)
                    if forward is None:
                        break
                    data = forward
                if conn.src:
                    link = (conn.src, conn.dst) if up else (conn.dst, conn.src)
                    if self.delay_prob and self.rng.random() < self.delay_prob:
                        await trio.sleep(self.delay_s)
                    # checked as the chunk goes: a cut that began while it was held back drops it
                    if link in self.cuts or (self.loss and self.rng.random() < self.loss):
                        self._close(conn)
                        return
                if data:
                    await b.send_all(data)
        except (OSError, trio.BrokenResourceError, trio.ClosedResourceError):
            pass
        conn.scope.cancel()  # one side is gone: so is the connection
