"""etcd's v3 JSON gateway on a member's client port.

Every call goes through a :class:`~raftkv.client.Client` hosted in the member's own
process (actor ``<member>/gw``): writes and lease calls find the leader (following its
hints over the peer transport), linearizable reads take a ReadIndex round, and an answer
whose outcome is unknown is etcd's "request timed out".  Paths, bodies, errors and HTTP
statuses are etcd 3.4's (see :mod:`raftkv.client.etcdjson`):

``/v3/kv/range|put|deleterange|txn|compaction``, ``/v3/lease/grant|revoke|keepalive|
timetolive|leases`` (also under ``/v3/kv/lease/``), ``/v3/watch`` (a stream of
``{"result": ...}`` lines; the request body may carry further ``create_request``,
``cancel_request`` and ``progress_request`` objects), ``/v3/cluster/member/list|add|
remove|promote`` and ``/v3/maintenance/status``.

``member/add`` takes etcd's ``peerURLs`` and ``isLearner`` plus raftkv's ``name`` (raftkv
members are named, and the new member starts with that ``--name``).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any

import trio

from raftkv.client import Client, Result
from raftkv.client import etcdjson as ej
from raftkv.kv import ErrLeaseNotFound, KVError, LeaseLeasesRequest
from raftkv.kv.members import MemberAddRequest, MemberPromoteRequest, MemberRemoveRequest
from raftkv.kv.protocol import MemberListRequest, MemberListResponse, MemberStatus, StatusRequest
from raftkv.kv.server import KVServer
from raftkv.kv.types import (
    LeaseGrantResponse,
    LeaseKeepAliveResponse,
    LeaseLeasesResponse,
    LeaseTimeToLiveResponse,
    RangeRequest,
    ResponseHeader,
    WatchResponse,
)

from .host import ActorHost
from .http import HttpRequest, HttpResponder

__all__ = ["Gateway", "ETCD_VERSION"]

log = logging.getLogger("raftkv.gateway")

ETCD_VERSION = "3.4.0"
WATCH_BUFFER = 10_000


class _GatewayError(Exception):
    def __init__(self, status: int, message: str, code: int) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code


def _kv_error(err: KVError) -> _GatewayError:
    code = ej.grpc_code(err)
    return _GatewayError(ej.http_status(code), str(err), code)


def _bad(message: str) -> _GatewayError:
    return _GatewayError(400, message, 3)


class Gateway:
    def __init__(self, host: ActorHost, client: Client, server: KVServer, *, cluster_id: int,
                 urls: Callable[[], dict[str, tuple[list[str], list[str]]]],
                 add_peer: Callable[[str, str], None]) -> None:
        self.host = host
        self.client = client
        self.server = server
        self.member = server.env.node_id
        self.cluster_id = cluster_id
        self.urls = urls
        self.add_peer = add_peer
        self.requests = 0

    # ------------------------------------------------------------------ plumbing
    def _submit(self, request: object, cb: Callable[[Result], None], target: str | None) -> None:
        # Like etcd, which proposes on the member a request reaches and lets Raft forward
        # it: a write goes first to the leader this member knows (itself, when it leads),
        # not to whichever one the gateway's client last heard of.  Reads go where they
        # went (this member first: a ReadIndex read served here).
        known = self.server.raft_host.leader_id
        if target is None and not isinstance(request, RangeRequest) and known in self.client.members:
            target = known
        self.client.submit(request, cb, target=target)

    async def call(self, request: object, *, target: str | None = None) -> object:
        """Run ``request`` through the gateway client; its response, or _GatewayError."""
        done = trio.Event()
        box: list[Result] = []

        def cb(result: Result) -> None:
            box.append(result)
            done.set()

        self.host.call(lambda: self._submit(request, cb, target))
        await done.wait()
        result = box[0]
        if result.ok:
            return result.response
        assert result.error is not None
        raise _kv_error(result.error)

    def _header(self, revision: int = 0) -> dict[str, Any]:
        host = self.server.raft_host
        return ej.header_json(ResponseHeader(revision=revision, raft_term=host.term,
                                             member_id=self.member), self.cluster_id)

    def _fix_header(self, out: dict[str, Any]) -> dict[str, Any]:
        """Responses from another member carry its name: the header names this one, as etcd's
        gateway (which always talks to its own member) does; the cluster id is the cluster's."""
        if "header" in out:
            header = out["header"]
            header["member_id"] = str(ej.member_id(self.member))
            header["cluster_id"] = str(self.cluster_id)
            out["header"] = {k: header[k] for k in ("cluster_id", "member_id", "revision", "raft_term")
                             if k in header}
        return out

    # ------------------------------------------------------------------ HTTP
    async def handle(self, request: HttpRequest, responder: HttpResponder) -> None:
        self.requests += 1
        path = request.path.rstrip("/")
        try:
            if request.method != "POST":
                raise _GatewayError(405, "Method Not Allowed", 12)
            if path == "/v3/watch":
                await self._watch(request, responder)
                return
            body = _parse(await request.body())
            out = await self._unary(path, body)
        except _GatewayError as e:
            if not responder.started:
                await responder.send(e.status, _dumps(ej.error_body(e.message, e.code)))
            return
        except ej.BadRequest as e:
            await responder.send(400, _dumps(ej.error_body(str(e), 3)))
            return
        except (ValueError, TypeError) as e:  # a request value the store's types refuse
            await responder.send(400, _dumps(ej.error_body(str(e), 3)))
            return
        await responder.send(200, _dumps(out))

    async def _unary(self, path: str, body: Any) -> dict[str, Any]:
        parts = path.split("/")
        if len(parts) == 4 and parts[:3] == ["", "v3", "kv"] and parts[3] in (
                "range", "put", "deleterange", "txn", "compaction"):
            resp = await self.call(ej.request_from_json(parts[3], body))
            return self._fix_header(ej.response_json(resp, self.cluster_id))
        if path.startswith("/v3/kv/lease/"):
            path = "/v3/lease/" + path[len("/v3/kv/lease/"):]
        if path.startswith("/v3/lease/"):
            return await self._lease(path[len("/v3/lease/"):], body)
        if path.startswith("/v3/cluster/member/"):
            return await self._member(path[len("/v3/cluster/member/"):], body)
        if path == "/v3/maintenance/status":
            return await self._status()
        raise _GatewayError(404, "Not Found", 5)

    # ------------------------------------------------------------------ leases
    async def _lease(self, call: str, body: Any) -> dict[str, Any]:
        if call == "leases":
            resp = await self.call(LeaseLeasesRequest())
            assert isinstance(resp, LeaseLeasesResponse)
            out = self._fix_header(ej.response_json(resp, self.cluster_id))
            if resp.leases:
                out["leases"] = [{"ID": str(i)} for i in resp.leases]
            return out
        request = ej.lease_request_from_json(call, body)
        try:
            resp = await self.call(request)
        except _GatewayError as e:
            if call == "timetolive" and e.message == str(ErrLeaseNotFound()):
                # etcd's API layer answers an unknown lease's time-to-live with TTL -1
                return {"header": self._header(self.server.store.revision),
                        "ID": str(getattr(request, "id", 0)), "TTL": "-1"}
            raise
        out = self._fix_header(ej.response_json(resp, self.cluster_id))
        if isinstance(resp, LeaseGrantResponse | LeaseKeepAliveResponse | LeaseTimeToLiveResponse):
            out["ID"] = str(resp.id)
            if resp.ttl_s:
                out["TTL"] = str(resp.ttl_s)
        if isinstance(resp, LeaseTimeToLiveResponse):
            if resp.granted_ttl_s:
                out["grantedTTL"] = str(resp.granted_ttl_s)
            if resp.keys:
                out["keys"] = [ej.b64(k) for k in resp.keys]
        if call == "keepalive":
            return {"result": out}
        return out

    # ------------------------------------------------------------------ cluster
    def _name_of(self, value: Any) -> str:
        wanted = ej.to_int(value, "ID")
        names = set(self.server.configuration.members()) | set(self.urls())
        for name in sorted(names):
            if ej.member_id(name) == wanted:
                return name
        raise _GatewayError(404, "etcdserver: member not found", 5)

    async def _member(self, call: str, body: Any) -> dict[str, Any]:
        if not isinstance(body, dict):
            raise _bad("request: expected a JSON object")
        if call == "list":
            resp = await self.call(MemberListRequest(linearizable=bool(body.get("linearizable", True))))
            assert isinstance(resp, MemberListResponse)
            return {"header": self._header(), "members": ej.members_json(resp.members, self.urls())}
        if call == "add":
            name = body.get("name")
            urls = body.get("peerURLs") or []
            if not isinstance(name, str) or not name:
                raise _bad("member add: raftkv needs the new member's \"name\" (the --name it starts with)")
            if not isinstance(urls, list) or not all(isinstance(u, str) for u in urls):
                raise _bad("member add: peerURLs must be a list of URLs")
            for url in urls[:1]:
                self.add_peer(name, url)
            resp = await self.call(MemberAddRequest(name=name, is_learner=bool(body.get("isLearner"))))
            members = getattr(resp, "members", ())
            added = [m for m in members if m.name == name]
            return {"header": self._header(), "member": ej.members_json(added, self.urls())[0] if added else {},
                    "members": ej.members_json(members, self.urls())}
        if call in ("remove", "promote"):
            name = self._name_of(body.get("ID"))
            req = MemberRemoveRequest(name=name) if call == "remove" else MemberPromoteRequest(name=name)
            resp = await self.call(req)
            return {"header": self._header(), "members": ej.members_json(getattr(resp, "members", ()), self.urls())}
        raise _GatewayError(404, "Not Found", 5)

    async def _status(self) -> dict[str, Any]:
        resp = await self.call(StatusRequest(), target=self.member)
        assert isinstance(resp, MemberStatus)
        out: dict[str, Any] = {"header": self._header(resp.store.revision), "version": ETCD_VERSION}
        ej._put(out, "dbSize", resp.store.key_count)
        if resp.leader:
            out["leader"] = str(ej.member_id(resp.leader))
        ej._put(out, "raftIndex", resp.raft_index)
        ej._put(out, "raftTerm", resp.raft_term)
        ej._put(out, "raftAppliedIndex", resp.raft_applied_index)
        ej._put(out, "dbSizeInUse", resp.store.key_count)
        return out

    # ------------------------------------------------------------------ watch
    async def _watch(self, request: HttpRequest, responder: HttpResponder) -> None:
        send, receive = trio.open_memory_channel[dict[str, Any]](WATCH_BUFFER)
        watches: dict[int, Any] = {}
        next_id = [0]

        # A progress_request, as etcd 3.4 answers it: one response for the whole stream
        # (watch_id -1, no events, the store's revision in its header).  It is sent once
        # every watch of the stream has answered a progress request of its own, which
        # each sends after the events it had to deliver: the stream is synced then.
        # Rounds of watch ids still to answer, with the lowest revision answered so far.
        rounds: list[tuple[set[int], list[int]]] = []

        def push(item: dict[str, Any], watch_id: int) -> None:
            try:
                send.send_nowait(item)
            except trio.WouldBlock:  # the HTTP client does not keep up: end its watch
                w = watches.pop(watch_id, None)
                if w is not None:
                    w.cancel()
                log.warning("watch %d: client too slow, canceled", watch_id)

        def answered(watch_id: int, revision: int | None) -> None:
            """``watch_id`` answered (or left) the progress rounds; send the complete ones."""
            for waiting, lowest in rounds:
                if watch_id in waiting:
                    waiting.discard(watch_id)
                    if revision is not None:
                        lowest[0] = min(lowest[0], revision)
                    break
            while rounds and not rounds[0][0]:
                _, lowest = rounds.pop(0)
                out: dict[str, Any] = {"header": self._header(lowest[0])}
                ej._put(out, "watch_id", -1)
                push({"result": out}, -1)

        def on_response(watch_id: int, notify: bool) -> Callable[[WatchResponse], None]:
            def cb(resp: WatchResponse) -> None:
                if resp.progress_notify and not resp.events:
                    if any(watch_id in waiting for waiting, _ in rounds):
                        answered(watch_id, resp.header_revision)
                        return
                    if not notify:  # the client's own keep-alive probes: not for the user
                        return
                body = ej.watch_response_json(resp, watch_id, self._header(resp.header_revision))
                push({"result": body}, watch_id)
            return cb

        def create(d: dict[str, Any]) -> None:
            req = ej.watch_create_from_json(d)
            watch_id = next_id[0]
            next_id[0] += 1

            def start() -> None:
                watches[watch_id] = self.client.watch(
                    req.key, on_response(watch_id, req.progress_notify), range_end=req.range_end,
                    start_revision=req.start_revision, prev_kv=req.prev_kv, filters=req.filters,
                    progress_notify=req.progress_notify, member=self.member)
            self.host.call(start)

        def cancel(d: dict[str, Any]) -> None:
            watch_id = ej.to_int(d.get("watch_id"), "watch_id")
            w = watches.pop(watch_id, None)
            if w is not None:
                self.host.call(w.cancel)
                self.host.call(lambda: answered(watch_id, None))
            out: dict[str, Any] = {"header": self._header(self.server.store.revision)}
            ej._put(out, "watch_id", watch_id)
            out["canceled"] = True
            send.send_nowait({"result": out})

        def progress() -> None:
            def ask() -> None:  # after the creates before it (the host runs calls in order)
                rounds.append((set(watches), [self.server.store.revision]))
                for w in watches.values():
                    w.request_progress()
                answered(-1, None)  # no watch: answered at once
            self.host.call(ask)

        async def read_requests() -> None:
            decoder = json.JSONDecoder()
            text = ""
            async for chunk in request.chunks():
                text += chunk.decode("utf-8", "replace")
                while True:
                    text = text.lstrip()
                    if not text:
                        break
                    try:
                        obj, end = decoder.raw_decode(text)
                    except json.JSONDecodeError:
                        break  # wait for the rest of this object
                    text = text[end:]
                    if not isinstance(obj, dict):
                        raise ej.BadRequest("watch: each request must be a JSON object")
                    if "create_request" in obj:
                        create(obj["create_request"] or {})
                    elif "cancel_request" in obj:
                        cancel(obj["cancel_request"] or {})
                    elif "progress_request" in obj:
                        progress()
            if text.strip():
                raise ej.BadRequest("watch: the request body is not valid JSON")

        try:
            await responder.start_stream()
            async with trio.open_nursery() as nursery:
                async def reader() -> None:
                    try:
                        await read_requests()
                    except ej.BadRequest as e:
                        send.send_nowait({"error": {"grpc_code": 3, "http_code": 400, "message": str(e),
                                                    "http_status": "Bad Request"}})
                nursery.start_soon(reader)
                async for item in receive:
                    await responder.stream_chunk(_dumps(item) + b"\n")
        finally:
            for w in watches.values():
                self.host.call(w.cancel)


def _parse(body: bytes) -> Any:
    if not body.strip():
        return {}
    try:
        return json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ej.BadRequest(f"invalid JSON: {e}") from None


def _dumps(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":")).encode()
