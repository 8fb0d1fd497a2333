"""Client: an etcd-like API for code running in an actor (callback style).

Every call takes a callback that receives one :class:`Result` when the operation is
over: ``ok`` (with the response), ``fail`` (the operation certainly did not take
effect: an etcd error such as ``ErrCompacted``, or every attempt was refused before
being proposed) or ``unknown`` (a timeout or a member that stopped answering: the
operation may or may not have taken effect, and may still do so later).  An outcome
is never reported as failed unless it certainly failed.

The client finds the leader by following ``ErrNotLeader`` hints, and retries an
attempt that certainly failed (not leader, no leader) until the operation's deadline;
it never retries a write whose outcome is unknown (the catalogued bug
``client_retry_unknown_write`` does).  Reads (which change nothing) are asked again on
another member when one stays silent for a quarter of the timeout.
Concurrent operations of one client are recorded as processes ``<process>``,
``<process>/1``, ``<process>/2``... (one pending operation per history process).

Membership: :meth:`Client.member_add` (as voter or learner), :meth:`~Client.member_promote`,
:meth:`~Client.member_remove` and :meth:`~Client.member_list` (linearizable: voters and
learners) are recorded as ``member_add`` (value ``[name, "voter"|"learner"]``),
``member_promote`` / ``member_remove`` (value: the name) and ``member_list`` (ok
value: ``[[name, "voter"|"learner"], ...]``); the checkers ignore these ``f`` names.
The client talks to the members it was given; it learns of new ones from leader hints
and member lists (and :meth:`Client.set_members`), and a member that was removed
simply stops answering (reads and watches move elsewhere, writes time out).

Watches survive their member: a stream that stops answering its probes (or that the
member no longer knows) is reopened on another member from the last seen revision
+ 1 (with the catalogued bug ``watch_resume_at_last_revision``: at the last seen
revision).  If that revision was compacted, the watch ends with a canceled response
carrying ``compact_revision``, which the callback receives.

When given a :class:`~raftkv.check.HistoryBuilder`, the client records each operation
(invoke, then ok/fail/info) and each watch open and response in the history format
of :mod:`raftkv.check.history` (keys and values decoded as UTF-8 strings).
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import Any, Literal

import attrs

from raftkv.bugs import NO_BUGS, BugSet
from raftkv.check.builder import HistoryBuilder
from raftkv.check.history import KeyValue as HKeyValue
from raftkv.check.history import WatchEvent as HWatchEvent
from raftkv.env import Env
from raftkv.kv import (
    ALL_KEYS,
    CompactionRequest,
    CompactionResponse,
    DeleteRangeRequest,
    DeleteRangeResponse,
    ErrNoLeader,
    ErrTimeout,
    Event,
    EventType,
    KeyValue,
    KVError,
    LeaseGrantRequest,
    LeaseGrantResponse,
    LeaseKeepAliveRequest,
    LeaseKeepAliveResponse,
    LeaseLeasesRequest,
    LeaseRevokeRequest,
    LeaseRevokeResponse,
    LeaseTimeToLiveRequest,
    LeaseTimeToLiveResponse,
    PutRequest,
    PutResponse,
    RangeRequest,
    RangeResponse,
    TxnRequest,
    TxnResponse,
    WatchCreateRequest,
    WatchFilter,
    WatchResponse,
)
from raftkv.kv.members import (
    MEMBER_REQUESTS,
    MemberAddRequest,
    MemberAddResponse,
    MemberPromoteRequest,
    MemberPromoteResponse,
    MemberRemoveRequest,
    MemberRemoveResponse,
)
from raftkv.kv.protocol import (
    ClientRequest,
    ClientResponse,
    ErrNotLeader,
    MemberListRequest,
    MemberListResponse,
    StatusRequest,
    WatchStreamClose,
    WatchStreamGone,
    WatchStreamMessage,
    WatchStreamOpen,
    WatchStreamProgress,
)

from .txn import Txn, put, value, version

__all__ = ["Client", "ClientConfig", "HistSpec", "Result", "Watch"]

Outcome = Literal["ok", "fail", "unknown"]
TAG = "kvc"
# requests without effects: retried on another member when one stays silent
_IDEMPOTENT = (RangeRequest, StatusRequest, MemberListRequest, LeaseTimeToLiveRequest,
               LeaseLeasesRequest)
# what the catalogued bug client_retry_unknown_write re-sends as if idempotent
_KV_WRITES = (PutRequest, DeleteRangeRequest, TxnRequest)
# requests only the leader answers successfully
_LEADER_ONLY = (PutRequest, DeleteRangeRequest, TxnRequest, LeaseGrantRequest, LeaseRevokeRequest,
                LeaseKeepAliveRequest, *MEMBER_REQUESTS)


@attrs.frozen(kw_only=True)
class Result:
    outcome: Outcome
    response: Any = None
    error: KVError | None = None

    @property
    def ok(self) -> bool:
        return self.outcome == "ok"


Callback = Callable[[Result], None]
WatchCallback = Callable[[WatchResponse], None]


@attrs.frozen(kw_only=True)
class ClientConfig:
    op_timeout_us: int = 1_000_000  # an operation not over by then is unknown
    retry_backoff_us: int = 50_000  # before retrying after "no leader"
    watch_probe_interval_us: int = 300_000  # silence after which a watch stream is probed
    watch_session_timeout_us: int = 1_200_000  # silence after which it is reopened elsewhere
    watch_gap_timeout_us: int = 200_000  # a missing stream message not filled in by then

    def __attrs_post_init__(self) -> None:
        for field in attrs.fields(ClientConfig):
            if getattr(self, field.name) <= 0:
                raise ValueError(f"ClientConfig.{field.name} must be positive, "
                                 f"got {getattr(self, field.name)}")


@attrs.frozen(kw_only=True)
class HistSpec:
    """How an operation appears in the history (``f`` name, key, value, lease)."""

    f: str
    key: str | None = None
    value: Any = None
    lease: int | None = None
    read: bool = False  # the completion's value is the value read (a get)


def _s(b: bytes) -> str:
    return b.decode("utf-8", "backslashreplace")


def _range_end_str(range_end: bytes) -> str | None:
    if not range_end:
        return None
    if range_end == ALL_KEYS:
        return "\0"
    return _s(range_end)


def _result_fields(resp: object) -> dict[str, Any]:
    if isinstance(resp, PutResponse | CompactionResponse | LeaseRevokeResponse):
        return {"revision": resp.header.revision}
    if isinstance(resp, RangeResponse):
        out: dict[str, Any] = {"revision": resp.header.revision}
        if len(resp.kvs) == 1:
            kv = resp.kvs[0]
            out.update(mod_revision=kv.mod_revision, create_revision=kv.create_revision,
                       version=kv.version)
            if kv.lease:
                out["lease"] = kv.lease
        return out
    if isinstance(resp, DeleteRangeResponse):
        return {"revision": resp.header.revision, "deleted": resp.deleted}
    if isinstance(resp, TxnResponse):
        return {"revision": resp.header.revision, "succeeded": resp.succeeded}
    if isinstance(resp, LeaseGrantResponse | LeaseKeepAliveResponse | LeaseTimeToLiveResponse):
        return {"lease": resp.id, "ttl_s": resp.ttl_s}
    return {}


def _read_value(resp: object) -> Any:
    if isinstance(resp, RangeResponse) and resp.kvs:
        return _s(resp.kvs[0].value)
    if isinstance(resp, MemberListResponse | MemberAddResponse | MemberPromoteResponse
                  | MemberRemoveResponse):
        return tuple((m.name, "learner" if m.is_learner else "voter") for m in resp.members)
    return None


def _hkv(kv: KeyValue) -> HKeyValue:
    return HKeyValue(key=_s(kv.key), value=_s(kv.value), create_revision=kv.create_revision,
                     mod_revision=kv.mod_revision, version=kv.version, lease=kv.lease)


def _hevent(ev: Event) -> HWatchEvent:
    kv = ev.kv
    put_ = ev.type is EventType.PUT
    return HWatchEvent(type="PUT" if put_ else "DELETE", key=_s(kv.key),
                       value=_s(kv.value) if put_ else None,
                       create_revision=kv.create_revision, mod_revision=kv.mod_revision,
                       version=kv.version, lease=kv.lease,
                       prev_kv=None if ev.prev_kv is None else _hkv(ev.prev_kv))


class _Op:
    __slots__ = ("attempt", "cb", "done", "hist", "id", "in_flight", "last_error", "process",
                 "request", "slot", "target", "timer")

    def __init__(self, op_id: int, request: object, cb: Callback, hist: HistSpec | None) -> None:
        self.id = op_id
        self.request = request
        self.cb = cb
        self.hist = hist
        self.attempt = 0  # req_id of the current attempt
        self.in_flight = False  # the current attempt may have reached a member
        self.done = False
        self.last_error: KVError | None = None
        self.target = ""
        self.timer = 0
        self.slot = -1
        self.process: str | int = ""


class Watch:
    """The handle of one logical watch (stable across reconnections)."""

    def __init__(self, client: Client, watch_id: str, request: WatchCreateRequest,
                 cb: WatchCallback) -> None:
        self._client = client
        self.id = watch_id
        self.request = request
        self.cb = cb
        self.next_revision = 0  # where a resumed stream starts (0: not known yet)
        self.closed = False
        self.compact_revision = 0  # set when the watch ended because of a compaction
        self.resumes = 0
        # the current stream
        self.member = ""
        self.stream_id = 0
        self.expect_seq = 0
        self.buffer: dict[int, WatchResponse] = {}
        self.last_heard_us = 0
        self.gap_since_us = 0
        self.created_seen = False
        self.timer = 0

    def cancel(self) -> None:
        self._client._cancel_watch(self)

    def request_progress(self) -> None:
        if not self.closed:
            self._client.env.send(self.member, WatchStreamProgress(stream_id=self.stream_id))


class Client:
    """See the module docstring.  Feed it the actor's messages and timers:
    ``on_message``/``on_timer`` return True when they consumed the input."""

    def __init__(self, env: Env, members: tuple[str, ...], *, process: str | int | None = None,
                 recorder: HistoryBuilder | None = None, config: ClientConfig | None = None,
                 bugs: BugSet = NO_BUGS) -> None:
        if not members:
            raise ValueError("Client needs at least one member")
        self.env = env
        self.members = tuple(members)
        self.process: str | int = env.node_id if process is None else process
        self.recorder = recorder
        self.config = config or ClientConfig()
        self.bugs = bugs
        self._retry_writes = "client_retry_unknown_write" in bugs
        self.leader = self.members[env.rng.randrange(len(self.members))]
        self._next_id = 0
        self._ops: dict[int, _Op] = {}
        self._attempts: dict[int, _Op] = {}  # req_id -> op
        self._watches: dict[int, Watch] = {}  # stream id -> watch (current streams only)
        self._watch_count = 0
        self._slots: list[bool] = []  # history process slots in use by pending ops
        self.ops_started = 0

    # ------------------------------------------------------------------ plumbing
    @property
    def pending_ops(self) -> int:
        return len(self._ops)

    def _new_id(self) -> int:
        self._next_id += 1
        return self._next_id

    def set_members(self, members: tuple[str, ...]) -> None:
        """The cluster's members changed: talk to these from now on.  Watches on a
        member that is no longer listed move to another one at once."""
        if not members:
            raise ValueError("Client needs at least one member")
        if members == self.members:
            return
        self.members = tuple(members)
        if self.leader not in self.members:
            self.leader = self.members[self.env.rng.randrange(len(self.members))]
        for w in [w for w in self._watches.values() if w.member not in self.members]:
            if not w.closed:
                self._resume(w, switch=True)

    def _learn_member(self, name: str) -> None:
        if name and name not in self.members:
            self.members = (*self.members, name)

    def _other_member(self, than: str) -> str:
        members = self.members
        if len(members) == 1:
            return members[0]
        i = members.index(than) if than in members else -1
        return members[(i + 1) % len(members)]

    def on_message(self, src: str, msg: Any) -> bool:
        if isinstance(msg, ClientResponse):
            self._on_response(src, msg)
        elif isinstance(msg, WatchStreamMessage):
            self._on_stream_message(src, msg)
        elif isinstance(msg, WatchStreamGone):
            w = self._watches.get(msg.stream_id)
            if w is not None and w.member == src:
                self._resume(w, switch=False)
        else:
            return False
        return True

    def on_timer(self, tag: Hashable) -> bool:
        if not (isinstance(tag, tuple) and tag and tag[0] == TAG):
            return False
        kind, ident = tag[1], tag[2]
        if kind == "deadline":
            op = self._ops.get(ident)
            if op is not None:
                self._on_deadline(op)
        elif kind == "retry":
            op = self._ops.get(ident)
            if op is not None and not op.done and not op.in_flight:
                self._send_attempt(op)
        elif kind == "attempt":
            self._on_attempt_timeout(ident)
        elif kind == "watch":
            w = self._watches.get(ident)
            if w is not None and not w.closed:
                self._check_watch(w)
        return True

    # ------------------------------------------------------------------ operations
    def _start(self, request: object, cb: Callback, hist: HistSpec | None,
               target: str | None = None) -> None:
        op = _Op(self._new_id(), request, cb, hist)
        self._ops[op.id] = op
        self.ops_started += 1
        if hist is not None and self.recorder is not None:
            # one pending operation per history process: concurrent ones get their own
            slots = self._slots
            slot = slots.index(False) if False in slots else len(slots)
            if slot == len(slots):
                slots.append(True)
            slots[slot] = True
            op.slot = slot
            op.process = self.process if slot == 0 else f"{self.process}/{slot}"
            self.recorder.invoke(op.process, hist.f, hist.key, hist.value,
                                 time_us=self.env.now_us(), lease=hist.lease)
        op.target = target or self.leader
        op.timer = self.env.set_timer(self.config.op_timeout_us, (TAG, "deadline", op.id))
        self._send_attempt(op)

    def _send_attempt(self, op: _Op) -> None:
        req_id = self._new_id()
        op.attempt = req_id
        op.in_flight = True
        self._attempts[req_id] = op
        self.env.send(op.target, ClientRequest(req_id=req_id, request=op.request))
        if isinstance(op.request, _IDEMPOTENT) or (self._retry_writes and isinstance(op.request, _KV_WRITES)):
            # (BUG client_retry_unknown_write: writes are asked again too)
            # a read may be asked again elsewhere if this member stays silent
            self.env.set_timer(max(1, self.config.op_timeout_us // 4), (TAG, "attempt", req_id))

    def _on_attempt_timeout(self, req_id: int) -> None:
        op = self._attempts.get(req_id)
        if op is None or op.done or op.attempt != req_id or not op.in_flight:
            return
        del self._attempts[req_id]
        if self.leader == op.target:
            self.leader = self._other_member(op.target)
        op.target = self._other_member(op.target)
        self._send_attempt(op)

    def _on_response(self, src: str, msg: ClientResponse) -> None:
        op = self._attempts.pop(msg.req_id, None)
        if op is None or op.done or op.attempt != msg.req_id:
            return
        op.in_flight = False
        err = msg.error
        if err is None:
            if isinstance(op.request, _LEADER_ONLY):
                self.leader = src  # only the leader answers these
            resp = msg.response
            if isinstance(resp, MemberListResponse | MemberAddResponse | MemberPromoteResponse
                          | MemberRemoveResponse) and resp.members:
                names = tuple(m.name for m in resp.members)
                if isinstance(resp, MemberRemoveResponse):
                    self.set_members(names)
                else:
                    for name in names:
                        self._learn_member(name)
            self._finish(op, "ok", resp, None)
            return
        if isinstance(err, ErrNotLeader | ErrNoLeader):
            # refused before proposing: certainly not applied; try again elsewhere
            op.last_error = err
            hint = err.leader if isinstance(err, ErrNotLeader) else ""
            self._learn_member(hint)  # a leader this client did not know of: a new member
            if hint and hint != src:
                self.leader = hint
                op.target = hint
                self._send_attempt(op)
            else:
                op.target = self.leader = self._other_member(src)
                self.env.set_timer(self.config.retry_backoff_us, (TAG, "retry", op.id))
            return
        if isinstance(err, ErrTimeout):
            # The member could not get it committed in time: it is probably cut off from
            # the quorum (a deposed leader, a partitioned follower).  Like etcd's client
            # balancer, go to another member next time.
            if self.leader == src:
                self.leader = self._other_member(src)
            if self._retry_writes and isinstance(op.request, _KV_WRITES):
                # BUG client_retry_unknown_write: the write may still be applied, yet it is
                # sent again elsewhere as if it certainly failed.
                op.target = self._other_member(src)
                self._send_attempt(op)
                return
            self._finish(op, "unknown", None, err)
            return
        self._finish(op, "fail", None, err)

    def _on_deadline(self, op: _Op) -> None:
        if op.done:
            return
        if op.in_flight:
            # the member may be down: look elsewhere next time
            if self.leader == op.target:
                self.leader = self._other_member(op.target)
            self._finish(op, "unknown", None, ErrTimeout())
        else:
            self._finish(op, "fail", None, op.last_error or ErrTimeout())

    def _finish(self, op: _Op, outcome: Outcome, response: object, error: KVError | None) -> None:
        assert not op.done
        op.done = True
        del self._ops[op.id]
        self._attempts.pop(op.attempt, None)
        self.env.cancel_timer(op.timer)
        hist = op.hist
        if hist is not None and self.recorder is not None:
            now = self.env.now_us()
            rec = self.recorder
            proc = op.process
            self._slots[op.slot] = False
            if outcome == "ok":
                val = _read_value(response) if hist.read else hist.value
                rec.ok(proc, hist.f, hist.key, val, time_us=now, **_result_fields(response))
            elif outcome == "fail":
                rec.fail(proc, hist.f, hist.key, hist.value, time_us=now,
                         error=str(error) if error is not None else None)
            else:
                rec.info(proc, hist.f, hist.key, hist.value, time_us=now,
                         error=str(error) if error is not None else None)
        op.cb(Result(outcome=outcome, response=response, error=error))

    # ------------------------------------------------------------------ KV API
    def submit(self, request: object, cb: Callback, *, target: str | None = None) -> None:
        """Any request value (KV, lease, status, member), not recorded: leader-only requests
        follow the leader, reads may move on to another member (the gateway uses this)."""
        self._start(request, cb, None, target)

    def range(self, request: RangeRequest, cb: Callback, *, hist: HistSpec | None = None) -> None:
        """Any range request; recorded only if ``hist`` is given."""
        self._start(request, cb, hist)

    def get(self, key: bytes, cb: Callback, *, serializable: bool = False, revision: int = 0,
            range_end: bytes = b"") -> None:
        """Recorded as ``get`` (``stale_get`` if serializable; ``get_at``/``range`` for
        reads at a revision or of a range, which the linearizability model ignores)."""
        f = "stale_get" if serializable else "get"
        if revision:
            f = "get_at"
        if range_end:
            f = "range"
        self._start(RangeRequest(key=key, range_end=range_end, revision=revision,
                                 serializable=serializable), cb,
                    HistSpec(f=f, key=_s(key), read=f in ("get", "stale_get", "get_at")))

    def put(self, key: bytes, val: bytes, cb: Callback, *, lease: int = 0,
            prev_kv: bool = False) -> None:
        self._start(PutRequest(key=key, value=val, lease=lease, prev_kv=prev_kv), cb,
                    HistSpec(f="put", key=_s(key), value=_s(val), lease=lease or None))

    def delete(self, key: bytes, cb: Callback, *, range_end: bytes = b"",
               prev_kv: bool = False) -> None:
        """Recorded as ``delete`` for one key, ``delete_range`` for a range."""
        self._start(DeleteRangeRequest(key=key, range_end=range_end, prev_kv=prev_kv), cb,
                    HistSpec(f="delete_range" if range_end else "delete", key=_s(key)))

    def txn(self, request: TxnRequest, cb: Callback, *, hist: HistSpec | None = None) -> None:
        """A raw transaction; recorded as ``txn_raw`` (ignored by the checkers) unless
        ``hist`` says otherwise."""
        self._start(request, cb, hist if hist is not None else HistSpec(f="txn_raw"))

    def cas(self, key: bytes, expected: bytes | None, new: bytes, cb: Callback) -> None:
        """Put ``new`` if the key holds ``expected`` (None: the key is absent).
        Recorded as ``cas`` with value ``[expected, new]``."""
        cmp = version(key) == 0 if expected is None else value(key) == expected
        req = Txn().when(cmp).then(put(key, new)).build()
        self._start(req, cb, HistSpec(f="cas", key=_s(key),
                                      value=(None if expected is None else _s(expected), _s(new))))

    def compact(self, revision: int, cb: Callback, *, physical: bool = False) -> None:
        self._start(CompactionRequest(revision=revision, physical=physical), cb,
                    HistSpec(f="compact", value=revision))

    # ------------------------------------------------------------------ leases
    def lease_grant(self, ttl_s: int, cb: Callback, *, lease_id: int = 0) -> None:
        self._start(LeaseGrantRequest(ttl_s=ttl_s, id=lease_id), cb,
                    HistSpec(f="lease_grant", value=ttl_s, lease=lease_id or None))

    def lease_revoke(self, lease_id: int, cb: Callback) -> None:
        self._start(LeaseRevokeRequest(id=lease_id), cb,
                    HistSpec(f="lease_revoke", lease=lease_id))

    def lease_keepalive(self, lease_id: int, cb: Callback) -> None:
        """One keepalive (etcd's KeepAliveOnce)."""
        self._start(LeaseKeepAliveRequest(id=lease_id), cb,
                    HistSpec(f="lease_keepalive", lease=lease_id))

    def lease_time_to_live(self, lease_id: int, cb: Callback, *, keys: bool = False) -> None:
        self._start(LeaseTimeToLiveRequest(id=lease_id, keys=keys), cb,
                    HistSpec(f="lease_ttl", lease=lease_id))

    def lease_leases(self, cb: Callback) -> None:
        self._start(LeaseLeasesRequest(), cb, None)

    # ------------------------------------------------------------------ cluster
    def status(self, cb: Callback, *, member: str | None = None) -> None:
        """The :class:`~raftkv.kv.protocol.MemberStatus` of ``member`` (default: the leader guess)."""
        self._start(StatusRequest(), cb, None, target=member)

    def member_list(self, cb: Callback, *, linearizable: bool = True) -> None:
        """The voters and learners (:class:`~raftkv.kv.protocol.MemberListResponse`);
        recorded as ``member_list``."""
        self._start(MemberListRequest(linearizable=linearizable), cb,
                    HistSpec(f="member_list", read=True))

    def member_add(self, name: str, cb: Callback, *, learner: bool = False) -> None:
        """Add ``name`` (a fresh member started with ``join=True``) as a voter, or as a
        learner (promote it once it has caught up)."""
        self._start(MemberAddRequest(name=name, is_learner=learner), cb,
                    HistSpec(f="member_add", value=(name, "learner" if learner else "voter")))

    def member_promote(self, name: str, cb: Callback) -> None:
        """Make learner ``name`` a voter; fails with ``ErrLearnerNotReady`` while it lags."""
        self._start(MemberPromoteRequest(name=name), cb, HistSpec(f="member_promote", value=name))

    def member_remove(self, name: str, cb: Callback) -> None:
        self._start(MemberRemoveRequest(name=name), cb, HistSpec(f="member_remove", value=name))

    # ------------------------------------------------------------------ watches
    def watch(self, key: bytes, cb: WatchCallback, *, range_end: bytes = b"",
              start_revision: int = 0, prev_kv: bool = False,
              filters: tuple[WatchFilter, ...] = (), progress_notify: bool = False,
              member: str | None = None) -> Watch:
        """Watch a key or range; ``cb`` gets every response (the first ``created`` one,
        events, progress notifications, and a final canceled one on compaction)."""
        req = WatchCreateRequest(key=key, range_end=range_end, start_revision=start_revision,
                                 progress_notify=progress_notify, filters=tuple(filters),
                                 prev_kv=prev_kv)
        self._watch_count += 1
        w = Watch(self, f"{self.process}-w{self._watch_count}", req, cb)
        self._record_open(w, start_revision, resumed=False)
        self._open_stream(w, member or self.leader, start_revision)
        return w

    def _record_open(self, w: Watch, start: int, *, resumed: bool) -> None:
        if self.recorder is None:
            return
        req = w.request
        filters = tuple(sorted("noput" if f is WatchFilter.NOPUT else "nodelete"
                               for f in req.filters))
        self.recorder.watch_open(self.process, w.id, _s(req.key), time_us=self.env.now_us(),
                                 range_end=_range_end_str(req.range_end), start_revision=start,
                                 filters=filters, prev_kv=req.prev_kv, resumed=resumed)

    def _open_stream(self, w: Watch, member: str, start: int) -> None:
        stream_id = self._new_id()
        w.member = member
        w.stream_id = stream_id
        w.expect_seq = 0
        w.buffer = {}
        w.last_heard_us = self.env.now_us()
        self._watches[stream_id] = w
        req = w.request if start == w.request.start_revision else attrs.evolve(
            w.request, start_revision=start)
        self.env.send(member, WatchStreamOpen(stream_id=stream_id, request=req))
        w.timer = self.env.set_timer(self.config.watch_probe_interval_us,
                                     (TAG, "watch", stream_id))

    def _close_stream(self, w: Watch) -> None:
        if self._watches.pop(w.stream_id, None) is not None:
            self.env.send(w.member, WatchStreamClose(stream_id=w.stream_id))
            self.env.cancel_timer(w.timer)

    def _cancel_watch(self, w: Watch) -> None:
        if w.closed:
            return
        w.closed = True
        self._close_stream(w)

    def _resume(self, w: Watch, *, switch: bool) -> None:
        """Reopen the watch on a (by default other) member after the stream broke."""
        self._close_stream(w)
        w.resumes += 1
        start = w.next_revision or w.request.start_revision
        if "watch_resume_at_last_revision" in self.bugs and w.next_revision > 1:
            start = w.next_revision - 1
        self._record_open(w, start, resumed=True)
        self._open_stream(w, self._other_member(w.member) if switch else w.member, start)

    def _check_watch(self, w: Watch) -> None:
        now = self.env.now_us()
        silent = now - w.last_heard_us
        cfg = self.config
        if silent >= cfg.watch_session_timeout_us:
            self._resume(w, switch=True)
            return
        if w.buffer and now - w.gap_since_us >= cfg.watch_gap_timeout_us:
            self._resume(w, switch=False)
            return
        if silent >= cfg.watch_probe_interval_us:
            self.env.send(w.member, WatchStreamProgress(stream_id=w.stream_id))
        w.timer = self.env.set_timer(cfg.watch_probe_interval_us, (TAG, "watch", w.stream_id))

    def _on_stream_message(self, src: str, msg: WatchStreamMessage) -> None:
        w = self._watches.get(msg.stream_id)
        if w is None or w.member != src or w.closed:
            return
        seq = msg.seq
        if seq < w.expect_seq or seq in w.buffer:
            return  # duplicate
        w.last_heard_us = self.env.now_us()
        if seq > w.expect_seq:
            if not w.buffer:
                w.gap_since_us = w.last_heard_us
            w.buffer[seq] = msg.response
            return
        self._deliver(w, msg.response)
        w.expect_seq += 1
        while not w.closed and w.stream_id == msg.stream_id and w.expect_seq in w.buffer:
            resp = w.buffer.pop(w.expect_seq)
            w.expect_seq += 1
            self._deliver(w, resp)
        if w.buffer:
            w.gap_since_us = w.last_heard_us

    def _record_response(self, w: Watch, resp: WatchResponse) -> None:
        if self.recorder is None:
            return
        self.recorder.watch_response(
            self.process, w.id, resp.header_revision, tuple(_hevent(ev) for ev in resp.events),
            time_us=self.env.now_us(), compact_revision=resp.compact_revision,
            canceled=resp.canceled, created=resp.created, progress_notify=resp.progress_notify)

    def _deliver(self, w: Watch, resp: WatchResponse) -> None:
        self._record_response(w, resp)
        if resp.created:
            if w.request.start_revision == 0 and w.next_revision == 0:
                w.next_revision = resp.header_revision + 1
            if not resp.canceled:
                if not w.created_seen:
                    w.created_seen = True
                    w.cb(resp)
                return
        if resp.canceled:
            # compacted (or refused): the watch is over; tell the user why
            w.compact_revision = resp.compact_revision
            w.closed = True
            self._watches.pop(w.stream_id, None)
            self.env.cancel_timer(w.timer)
            w.cb(resp)
            return
        if resp.events:
            w.next_revision = max(w.next_revision, resp.events[-1].kv.mod_revision + 1)
        elif resp.progress_notify:
            w.next_revision = max(w.next_revision, resp.header_revision + 1)
        w.cb(resp)
