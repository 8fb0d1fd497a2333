"""GatewayEtcdClient: :class:`raftkv.client.interface.AsyncEtcdClient` over etcd's v3 JSON
gateway, for real clusters -- raftkv's own (``raftkv serve``) or etcd 3.4 itself.

It runs on trio or asyncio (httpx through anyio).  Endpoint failover: a call goes to the
current endpoint; a refused connection or an answer "not leader"/"no leader" (certainly
not applied) moves to the next endpoint and tries again until the call's deadline; a
call whose request may have reached a member and got no answer is *unknown* and raises
:class:`~raftkv.kv.ErrTimeout` (reads, which change nothing, are asked again elsewhere
instead).  Watches reconnect to the next endpoint and resume after the last revision
they delivered.

With a :class:`~raftkv.check.HistoryBuilder` it records every operation and watch in the
same format as the simulated client (:mod:`raftkv.client.client`), so a real cluster's
history goes through the same checkers.
"""

from __future__ import annotations

import json
import time
from collections.abc import Awaitable, Callable
from typing import Any

import anyio
import httpx

from raftkv.check.builder import HistoryBuilder
from raftkv.kv import (
    CompactionRequest,
    CompactionResponse,
    DeleteRangeRequest,
    DeleteRangeResponse,
    ErrCompacted,
    ErrInvalidRequest,
    ErrLeaseNotFound,
    ErrNoLeader,
    ErrTimeout,
    KVError,
    LeaseGrantResponse,
    LeaseKeepAliveResponse,
    LeaseLeasesResponse,
    LeaseRevokeResponse,
    LeaseTimeToLiveResponse,
    PutRequest,
    PutResponse,
    RangeRequest,
    RangeResponse,
    TxnRequest,
    TxnResponse,
    WatchFilter,
    WatchResponse,
    prefix_end,
)
from raftkv.kv.protocol import ErrNotLeader, Member, MemberListResponse, MemberStatus
from raftkv.kv.types import StatusResponse

from . import etcdjson as ej
from .client import HistSpec, _hevent, _range_end_str, _read_value, _result_fields, _s
from .txn import Txn, put, value, version

__all__ = ["GatewayEtcdClient", "GatewayWatchStream"]

_RETRY_ELSEWHERE = (ErrNotLeader, ErrNoLeader)
_CLOSED = object()


def _now_us() -> int:
    return time.time_ns() // 1000


def _end(key: bytes, range_end: bytes, prefix: bool) -> bytes:
    if prefix:
        if range_end:
            raise ValueError("give either prefix=True or range_end, not both")
        return prefix_end(key)
    return range_end


class GatewayEtcdClient:
    """See the module docstring.  ``endpoints``: client URLs (``http://host:port``)."""

    def __init__(self, endpoints: list[str] | tuple[str, ...], *, recorder: HistoryBuilder | None = None,
                 process: str = "c1", op_timeout_s: float = 5.0, retry_backoff_s: float = 0.05,
                 attempt_timeout_s: float | None = None, bugs: frozenset[str] = frozenset()) -> None:
        if not endpoints:
            raise ValueError("GatewayEtcdClient needs at least one endpoint")
        self.endpoints = [e.rstrip("/") for e in endpoints]
        self.recorder = recorder
        self.process = process
        self.op_timeout_s = op_timeout_s
        self.retry_backoff_s = retry_backoff_s
        self.attempt_timeout_s = attempt_timeout_s or op_timeout_s
        # catalogued client bugs (``raftkv bugs``) this client has: watch_resume_at_last_revision
        self.bugs = bugs
        self._current = 0
        self._slots: list[bool] = []
        self._watch_count = 0
        self._streams: list[GatewayWatchStream] = []
        self._http = httpx.AsyncClient(timeout=httpx.Timeout(self.attempt_timeout_s),
                                       limits=httpx.Limits(max_connections=1000,
                                                           max_keepalive_connections=1000))

    # ------------------------------------------------------------------ plumbing
    def _next_endpoint(self, than: int) -> None:
        if self._current == than:
            self._current = (than + 1) % len(self.endpoints)

    async def _post(self, path: str, body: dict[str, Any], *, idempotent: bool) -> dict[str, Any]:
        """POST to the current endpoint, failing over; the JSON answer, or a KVError."""
        deadline = anyio.current_time() + self.op_timeout_s
        last: KVError = ErrNoLeader()
        while True:
            index = self._current
            url = self.endpoints[index] + path
            remaining = deadline - anyio.current_time()
            if remaining <= 0:
                raise last
            try:
                with anyio.fail_after(min(remaining, self.attempt_timeout_s)):
                    resp = await self._http.post(url, content=json.dumps(body).encode(),
                                                 headers={"content-type": "application/json"})
            except (httpx.ConnectError, httpx.ConnectTimeout):
                last = ErrNoLeader(reason=f"{self.endpoints[index]} refused the connection")
                self._next_endpoint(index)
                await anyio.sleep(self.retry_backoff_s / len(self.endpoints))
                continue
            except (httpx.TransportError, TimeoutError):
                self._next_endpoint(index)
                if idempotent:
                    last = ErrTimeout()
                    continue
                raise ErrTimeout() from None
            try:
                data = resp.json()
            except ValueError:
                data = {}
            if resp.status_code == 200:
                return data if isinstance(data, dict) else {}
            err = ej.error_from_body(resp.status_code, data)
            if type(err) is KVError and resp.status_code >= 500:
                # a server-side error raftkv does not know (etcd's "leader changed"...):
                # it may have been applied
                err = ErrTimeout(reason=str(err))
            if isinstance(err, _RETRY_ELSEWHERE):
                last = err
                self._next_endpoint(index)
                await anyio.sleep(self.retry_backoff_s)
                continue
            if isinstance(err, ErrTimeout):
                self._next_endpoint(index)
                if idempotent:
                    last = err
                    continue
            raise err

    async def _op(self, hist: HistSpec | None, run: Callable[[], Awaitable[Any]]) -> Any:
        """Run one operation, recording invoke and ok/fail/info."""
        rec = self.recorder
        proc: str | int = self.process
        slot = -1
        if hist is not None and rec is not None:
            slots = self._slots
            slot = slots.index(False) if False in slots else len(slots)
            if slot == len(slots):
                slots.append(True)
            slots[slot] = True
            proc = self.process if slot == 0 else f"{self.process}/{slot}"
            rec.invoke(proc, hist.f, hist.key, hist.value, time_us=_now_us(), lease=hist.lease)
        outcome, response = "unknown", None
        error: KVError = ErrTimeout()
        try:
            response = await run()
            outcome = "ok"
            return response
        except ErrTimeout as e:
            error = e
            raise
        except KVError as e:
            outcome, error = "fail", e
            raise
        finally:
            if hist is not None and rec is not None:
                self._slots[slot] = False
                now = _now_us()
                if outcome == "ok":
                    val = _read_value(response) if hist.read else hist.value
                    rec.ok(proc, hist.f, hist.key, val, time_us=now, **_result_fields(response))
                elif outcome == "fail":
                    rec.fail(proc, hist.f, hist.key, hist.value, time_us=now, error=str(error))
                else:  # unknown, or the caller was cancelled while waiting
                    rec.info(proc, hist.f, hist.key, hist.value, time_us=now, error=str(error))

    async def _kv(self, path: str, request: object, hist: HistSpec | None) -> Any:
        async def run() -> Any:
            data = await self._post(f"/v3/kv/{path}", ej.request_json(request),
                                    idempotent=isinstance(request, RangeRequest))
            if isinstance(request, CompactionRequest):
                return CompactionResponse(header=ej.header_from_json(data.get("header")))
            return ej.response_from_json(request, data)
        return await self._op(hist, run)

    # ------------------------------------------------------------------ KV
    async def get(self, key: bytes, *, range_end: bytes = b"", prefix: bool = False,
                  revision: int = 0, serializable: bool = False, limit: int = 0,
                  keys_only: bool = False, count_only: bool = False) -> RangeResponse:
        end = _end(key, range_end, prefix)
        req = RangeRequest(key=key, range_end=end, limit=limit, revision=revision,
                           serializable=serializable, keys_only=keys_only, count_only=count_only)
        f = "stale_get" if serializable else "get"
        if revision:
            f = "get_at"
        if end or limit or keys_only or count_only:
            f = "range"
        resp = await self._kv("range", req, HistSpec(f=f, key=_s(key), read=f != "range"))
        assert isinstance(resp, RangeResponse)
        return resp

    async def put(self, key: bytes, value: bytes, *, lease: int = 0,
                  prev_kv: bool = False) -> PutResponse:
        req = PutRequest(key=key, value=value, lease=lease, prev_kv=prev_kv)
        resp = await self._kv("put", req, HistSpec(f="put", key=_s(key), value=_s(value),
                                                   lease=lease or None))
        assert isinstance(resp, PutResponse)
        return resp

    async def delete(self, key: bytes, *, range_end: bytes = b"", prefix: bool = False,
                     prev_kv: bool = False) -> DeleteRangeResponse:
        end = _end(key, range_end, prefix)
        req = DeleteRangeRequest(key=key, range_end=end, prev_kv=prev_kv)
        resp = await self._kv("deleterange", req,
                              HistSpec(f="delete_range" if end else "delete", key=_s(key)))
        assert isinstance(resp, DeleteRangeResponse)
        return resp

    async def txn(self, request: TxnRequest) -> TxnResponse:
        resp = await self._kv("txn", request, HistSpec(f="txn_raw"))
        assert isinstance(resp, TxnResponse)
        return resp

    async def cas(self, key: bytes, expected: bytes | None, new: bytes) -> TxnResponse:
        cmp = version(key) == 0 if expected is None else value(key) == expected
        req = Txn().when(cmp).then(put(key, new)).build()
        hist = HistSpec(f="cas", key=_s(key), value=(None if expected is None else _s(expected), _s(new)))
        resp = await self._kv("txn", req, hist)
        assert isinstance(resp, TxnResponse)
        return resp

    async def compact(self, revision: int, *, physical: bool = False) -> CompactionResponse:
        resp = await self._kv("compaction", CompactionRequest(revision=revision, physical=physical),
                              HistSpec(f="compact", value=revision))
        assert isinstance(resp, CompactionResponse)
        return resp

    # ------------------------------------------------------------------ leases
    async def lease_grant(self, ttl_s: int, *, lease_id: int = 0) -> LeaseGrantResponse:
        hist = HistSpec(f="lease_grant", value=ttl_s, lease=lease_id or None)
        resp: list[LeaseGrantResponse] = []

        async def run() -> LeaseGrantResponse:
            d = await self._post("/v3/lease/grant", {"TTL": str(ttl_s), "ID": str(lease_id)}, idempotent=False)
            resp.append(LeaseGrantResponse(header=ej.header_from_json(d.get("header")),
                                           id=ej.to_int(d.get("ID"), "ID"), ttl_s=ej.to_int(d.get("TTL"), "TTL")))
            return resp[0]
        out: LeaseGrantResponse = await self._op(hist, run)
        return out

    async def lease_keepalive_once(self, lease_id: int) -> LeaseKeepAliveResponse:
        async def run() -> LeaseKeepAliveResponse:
            d = await self._post("/v3/lease/keepalive", {"ID": str(lease_id)}, idempotent=False)
            if isinstance(d.get("error"), dict):
                raise ej.error_from_body(int(d["error"].get("http_code", 500)), d["error"])
            d = d.get("result", {})
            return LeaseKeepAliveResponse(header=ej.header_from_json(d.get("header")),
                                          id=ej.to_int(d.get("ID"), "ID"), ttl_s=ej.to_int(d.get("TTL"), "TTL"))
        out: LeaseKeepAliveResponse = await self._op(HistSpec(f="lease_keepalive", lease=lease_id), run)
        return out

    async def lease_revoke(self, lease_id: int) -> LeaseRevokeResponse:
        async def run() -> LeaseRevokeResponse:
            d = await self._post("/v3/lease/revoke", {"ID": str(lease_id)}, idempotent=False)
            return LeaseRevokeResponse(header=ej.header_from_json(d.get("header")))
        out: LeaseRevokeResponse = await self._op(HistSpec(f="lease_revoke", lease=lease_id), run)
        return out

    async def lease_time_to_live(self, lease_id: int, *, keys: bool = False) -> LeaseTimeToLiveResponse:
        async def run() -> LeaseTimeToLiveResponse:
            d = await self._post("/v3/lease/timetolive", {"ID": str(lease_id), "keys": keys}, idempotent=True)
            if ej.to_int(d.get("TTL"), "TTL") == -1:
                raise ErrLeaseNotFound()  # etcd's way of saying so; as the simulated client does
            return LeaseTimeToLiveResponse(
                header=ej.header_from_json(d.get("header")), id=ej.to_int(d.get("ID"), "ID"),
                ttl_s=ej.to_int(d.get("TTL"), "TTL"), granted_ttl_s=ej.to_int(d.get("grantedTTL"), "grantedTTL"),
                keys=tuple(ej.unb64(k, "keys") for k in d.get("keys", ())))
        out: LeaseTimeToLiveResponse = await self._op(HistSpec(f="lease_ttl", lease=lease_id), run)
        return out

    async def lease_leases(self) -> LeaseLeasesResponse:
        d = await self._post("/v3/lease/leases", {}, idempotent=True)
        return LeaseLeasesResponse(header=ej.header_from_json(d.get("header")),
                                   leases=tuple(ej.to_int(x.get("ID"), "ID") for x in d.get("leases", ())))

    # ------------------------------------------------------------------ cluster
    async def member_list(self, *, linearizable: bool = True) -> MemberListResponse:
        async def run() -> MemberListResponse:
            d = await self._post("/v3/cluster/member/list", {"linearizable": linearizable} if not linearizable else {},
                                 idempotent=True)
            members = tuple(Member(name=m.get("name") or str(m.get("ID", "")), is_learner=bool(m.get("isLearner")))
                            for m in d.get("members", ()))
            return MemberListResponse(members=tuple(sorted(members, key=lambda m: m.name)), leader="",
                                      responder=str(d.get("header", {}).get("member_id", "")))
        out: MemberListResponse = await self._op(HistSpec(f="member_list", read=True), run)
        return out

    async def status(self, *, member: str | None = None) -> MemberStatus:
        d = await self._post("/v3/maintenance/status", {}, idempotent=True)
        header = d.get("header", {})
        revision = ej.to_int(header.get("revision"), "revision")
        mid = str(header.get("member_id", ""))
        leader = str(d.get("leader", ""))
        applied = ej.to_int(d.get("raftAppliedIndex"), "raftAppliedIndex")
        term = ej.to_int(d.get("raftTerm"), "raftTerm")
        return MemberStatus(member=mid, leader=leader, raft_term=term,
                            raft_index=ej.to_int(d.get("raftIndex"), "raftIndex"),
                            raft_applied_index=applied, is_leader=bool(mid) and mid == leader,
                            store=StatusResponse(revision=revision, compact_revision=0, applied_index=applied,
                                                 applied_term=term, key_count=0, lease_count=0))

    # ------------------------------------------------------------------ watches
    def watch(self, key: bytes, *, range_end: bytes = b"", prefix: bool = False,
              start_revision: int = 0, prev_kv: bool = False, progress_notify: bool = False,
              filters: tuple[WatchFilter, ...] = ()) -> GatewayWatchStream:
        end = _end(key, range_end, prefix)
        self._watch_count += 1
        body: dict[str, Any] = {}
        ej._put(body, "key", key)
        ej._put(body, "range_end", end)
        ej._put(body, "prev_kv", prev_kv)
        ej._put(body, "progress_notify", progress_notify)
        if filters:
            body["filters"] = [f.name for f in filters]
        stream = GatewayWatchStream(self, f"{self.process}-w{self._watch_count}", key, end, body,
                                    start_revision)
        self._streams = [s for s in self._streams if not s.ended]
        self._streams.append(stream)
        return stream

    async def aclose(self) -> None:
        for stream in self._streams:
            stream.cancel()
        self._streams.clear()
        await self._http.aclose()

    async def __aenter__(self) -> GatewayEtcdClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()


class GatewayWatchStream:
    """One logical watch over ``/v3/watch`` streams (see the module docstring).  The HTTP
    stream runs in a task of the caller's: iterate it (``async for``) to drive it."""

    def __init__(self, client: GatewayEtcdClient, watch_id: str, key: bytes, range_end: bytes,
                 body: dict[str, Any], start_revision: int) -> None:
        self._client = client
        self._id = watch_id
        self._key = key
        self._range_end = range_end
        self._body = body
        self._filters = tuple(sorted(str(f).lower() for f in body.get("filters", ())))
        self.next_revision = start_revision  # 0: from "now", decided by the first created response
        self._send, self._receive = anyio.create_memory_object_stream[Any](10_000)
        self._task_started = False
        self._cancel = anyio.CancelScope()
        self.ended = False
        self._opened_once = False
        self._attempt = anyio.CancelScope()
        self.reconnects = 0  # streams dropped by :meth:`reconnect`

    @property
    def watch_id(self) -> str:
        return self._id

    def _record_open(self, start: int) -> None:
        rec = self._client.recorder
        if rec is None:
            return
        rec.watch_open(self._client.process, self._id, _s(self._key), time_us=_now_us(),
                       range_end=_range_end_str(self._range_end), start_revision=start,
                       filters=self._filters, prev_kv=bool(self._body.get("prev_kv")), resumed=self._opened_once)
        self._opened_once = True

    def _record(self, resp: WatchResponse) -> None:
        rec = self._client.recorder
        if rec is None:
            return
        rec.watch_response(self._client.process, self._id, resp.header_revision,
                           tuple(_hevent(ev) for ev in resp.events), time_us=_now_us(),
                           compact_revision=resp.compact_revision, canceled=resp.canceled,
                           created=resp.created, progress_notify=resp.progress_notify)

    async def _run(self) -> None:
        client = self._client
        with self._cancel:
            while not self.ended:
                index = client._current
                body = dict(self._body)
                start = self.next_revision
                if (self._opened_once and start > 1 and "watch_resume_at_last_revision" in client.bugs):
                    start -= 1  # BUG watch_resume_at_last_revision: the last seen revision comes again
                if start:
                    body["start_revision"] = str(start)
                self._record_open(start)
                with anyio.CancelScope() as self._attempt:
                    try:
                        async with client._http.stream(
                                "POST", client.endpoints[index] + "/v3/watch",
                                content=json.dumps({"create_request": body}).encode(),
                                timeout=httpx.Timeout(None, connect=client.attempt_timeout_s)) as resp:
                            if resp.status_code != 200:
                                raise httpx.TransportError(f"watch answered HTTP {resp.status_code}")
                            async for line in resp.aiter_lines():
                                if line.strip() and await self._on_line(line):
                                    return
                    except (httpx.TransportError, httpx.StreamError, ValueError):
                        pass
                client._next_endpoint(index)
                await anyio.sleep(client.retry_backoff_s)

    def reconnect(self) -> None:
        """Drop the current HTTP stream, as a lost connection does: the watch resumes on
        the next endpoint after the last revision it delivered."""
        self.reconnects += 1
        self._attempt.cancel()

    async def _on_line(self, line: str) -> bool:
        """Handle one streamed message; True when the watch is over."""
        data = json.loads(line)
        if "error" in data:
            raise ValueError(f"watch error: {data['error']}")
        r = data.get("result", {})
        events = tuple(ej.event_from_json(e) for e in r.get("events", ()))
        created, canceled = bool(r.get("created")), bool(r.get("canceled"))
        resp = WatchResponse(watch_id=ej.to_int(r.get("watch_id"), "watch_id"),
                             header_revision=ej.to_int(r.get("header", {}).get("revision"), "revision"),
                             events=events, compact_revision=ej.to_int(r.get("compact_revision"), "compact_revision"),
                             created=created, canceled=canceled,
                             progress_notify=not events and not created and not canceled,
                             cancel_reason=str(r.get("cancel_reason", "")))
        self._record(resp)
        if created and not canceled:
            if not self.next_revision:
                self.next_revision = resp.header_revision + 1
            return False
        if canceled:
            self.ended = True
            await self._deliver(resp)
            return True
        if events:
            self.next_revision = max(self.next_revision, events[-1].kv.mod_revision + 1)
        await self._deliver(resp)
        return False

    async def _deliver(self, resp: WatchResponse) -> None:
        try:  # no checkpoint when there is room: a reconnect cannot lose a recorded response
            self._send.send_nowait(resp)
        except anyio.WouldBlock:
            await self._send.send(resp)

    def __aiter__(self) -> GatewayWatchStream:
        return self

    async def __anext__(self) -> WatchResponse:
        if not self._task_started:
            raise RuntimeError("use the watch as 'async with client.watch(...) as w:'")
        if self.ended and self._receive.statistics().current_buffer_used == 0:
            raise StopAsyncIteration
        try:
            item = await self._receive.receive()
        except (anyio.EndOfStream, anyio.ClosedResourceError):
            raise StopAsyncIteration from None
        if item is _CLOSED:
            raise StopAsyncIteration
        assert isinstance(item, WatchResponse)
        if item.canceled:
            if item.compact_revision:
                raise ErrCompacted(compact_revision=item.compact_revision)
            raise ErrInvalidRequest(reason=item.cancel_reason or "watch canceled by the server")
        return item

    def request_progress(self) -> None:
        """Not available over the JSON gateway's one-shot request body (the stream's
        progress_notify option asks for periodic ones)."""

    def cancel(self) -> None:
        if not self.ended:
            self.ended = True
            self._cancel.cancel()
            try:
                self._send.send_nowait(_CLOSED)
            except (anyio.WouldBlock, anyio.ClosedResourceError, anyio.BrokenResourceError):
                pass

    async def __aenter__(self) -> GatewayWatchStream:
        self._tg = anyio.create_task_group()
        await self._tg.__aenter__()
        self._task_started = True
        self._tg.start_soon(self._run)
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.cancel()
        await self._tg.__aexit__(None, None, None)
