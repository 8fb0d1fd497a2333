"""KVServer: one etcd member, an actor composing a :class:`RaftHost` with a :class:`KVStore`.

Requests arrive as :class:`~raftkv.kv.protocol.ClientRequest` and are answered with one
:class:`~raftkv.kv.protocol.ClientResponse`:

* writes (put, delete, txn, compaction, lease grant and revoke) are proposed through
  Raft *on the leader only* and answered with the store's result once applied here.
  A member that is not the leader answers :class:`~raftkv.kv.protocol.ErrNotLeader`
  (with the leader it knows as ``leader_hint``) or :class:`ErrNoLeader` *without
  proposing*: those errors mean "certainly not applied", and the client redirects.
  A proposal whose outcome the host cannot tell (its request timeout) is answered
  :class:`ErrTimeout`: the outcome is unknown;
* linearizable ranges go through ReadIndex (any member; followers forward it) and
  then read the local store; ``serializable`` ranges read the local store at once;
* lease keepalive, time-to-live and listing are leader-local, after a ReadIndex
  round confirms the leadership (so a deposed leader never extends a lease);
* watches are served by any member from its applied state (see the stream messages
  in :mod:`raftkv.kv.protocol`), with periodic progress notifications;
* status is answered at once from local state; the member list (voters and
  learners) after a ReadIndex round (or at once when not ``linearizable``);
* membership changes (:mod:`raftkv.kv.members`: add as voter or learner, promote,
  remove) run on the leader only, one at a time, and are answered once the leader
  has applied the new configuration.  Refusals are etcd's errors (member exists, not
  found, not a learner, learner not in sync, too many learners, change pending), all
  sent before anything was proposed.

A member added to a running cluster is started with ``join=True`` and an empty disk;
it passes the same bootstrap ``peers`` as every other member (see
:class:`~raftkv.raft.host.RaftHost`).

Only the leader expires leases: every ``lease_check_interval_us`` it asks the lessor
for expired leases (by its monotonic clock, ``Env.monotonic_us``: clock jumps do not move
it, a pause does, as Go's monotonic clock that etcd's lessor reads) and proposes
``LeaseRevokeRequest(expired=True)``; followers run no sweep.
On becoming leader it extends every lease by a full TTL plus an election timeout
(etcd's ``Promote``); the lessor's minimum TTL is 1.5 election timeouts, as etcd's.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import Any

import attrs

from raftkv.bugs import NO_BUGS, BugSet
from raftkv.env import Env
from raftkv.raft.config import RaftConfig
from raftkv.raft.host import Dropped, NotLeader, OutcomeUnknown, ProposalError, RaftHost, Refused
from raftkv.raft.quorum import ClusterConfig

from .errors import ErrInvalidRequest, ErrNoLeader, ErrTimeout, KVError
from .members import (
    MEMBER_REQUESTS,
    ErrLearnerNotReady,
    ErrMemberChangePending,
    ErrMemberChangeRefused,
    ErrMemberExist,
    ErrMemberNotFound,
    ErrMemberNotLearner,
    ErrTooManyLearners,
    MemberAddRequest,
    MemberAddResponse,
    MemberPromoteRequest,
    MemberPromoteResponse,
    MemberRemoveRequest,
    MemberRemoveResponse,
)
from .protocol import (
    ClientRequest,
    ClientResponse,
    ErrNotLeader,
    Member,
    MemberListRequest,
    MemberListResponse,
    MemberStatus,
    StatusRequest,
    WatchStreamClose,
    WatchStreamGone,
    WatchStreamMessage,
    WatchStreamOpen,
    WatchStreamProgress,
)
from .store import KVStore
from .types import (
    CompactionRequest,
    DeleteRangeRequest,
    KVSnapshot,
    LeaseGrantRequest,
    LeaseKeepAliveRequest,
    LeaseLeasesRequest,
    LeaseRevokeRequest,
    LeaseTimeToLiveRequest,
    PutRequest,
    RangeRequest,
    TxnRequest,
    WatchResponse,
)

__all__ = ["KVServer", "ServerConfig", "members_of", "min_lease_ttl_s"]

_WRITES = (PutRequest, DeleteRangeRequest, TxnRequest, CompactionRequest, LeaseGrantRequest,
           LeaseRevokeRequest)
_LEADER_READS = (LeaseKeepAliveRequest, LeaseTimeToLiveRequest, LeaseLeasesRequest)

_TAG_LEASES = "kv.leases"
_TAG_PROGRESS = "kv.progress"
_TAG_HOUSEKEEPING = "kv.housekeeping"


@attrs.frozen(kw_only=True)
class ServerConfig:
    """The member's knobs besides Raft's (times are member-local microseconds)."""

    request_timeout_us: int = 800_000  # a proposal/read not answered by then: ErrTimeout
    lease_check_interval_us: int = 100_000  # the leader's expiry sweep
    progress_interval_us: int = 1_000_000  # periodic watch progress notifications
    dedup_window_us: int = 10_000_000  # how long a request id is remembered
    max_txn_ops: int = 128
    max_events_per_response: int = 1000
    # MemberAdd of a learner is refused (ErrTooManyLearners) when the cluster has this
    # many learners already (etcd's --max-learners, default 1); None: no limit.
    max_learners: int | None = None

    def __attrs_post_init__(self) -> None:
        for name in ("request_timeout_us", "lease_check_interval_us", "progress_interval_us",
                     "dedup_window_us", "max_txn_ops", "max_events_per_response"):
            if getattr(self, name) <= 0:
                raise ValueError(f"ServerConfig.{name} must be positive, got {getattr(self, name)}")
        if self.max_learners is not None and self.max_learners < 0:
            raise ValueError(f"ServerConfig.max_learners must be >= 0 or None, got {self.max_learners}")


class _StoreMachine:
    """The host's StateMachine: the store, fed the member's monotonic time for lease deadlines."""

    __slots__ = ("env", "store")

    def __init__(self, env: Env, store: KVStore) -> None:
        self.env = env
        self.store = store

    def apply(self, index: int, term: int, data: object) -> object:
        return self.store.apply(index, term, data, now_us=self.env.monotonic_us())

    def snapshot(self) -> object:
        return self.store.snapshot()

    def restore(self, snapshot: object) -> None:
        assert isinstance(snapshot, KVSnapshot), type(snapshot)
        self.store.restore(snapshot)


class _Stream:
    __slots__ = ("client", "seq", "stream_id", "watch_id")

    def __init__(self, client: str, stream_id: int, watch_id: int) -> None:
        self.client = client
        self.stream_id = stream_id
        self.watch_id = watch_id
        self.seq = 0


def members_of(conf: ClusterConfig) -> tuple[Member, ...]:
    """Every voter (incoming and outgoing) and learner of ``conf``, sorted by name."""
    return tuple(Member(name=n, is_learner=conf.is_learner(n)) for n in conf.members())


def min_lease_ttl_s(raft_config: RaftConfig, tick_us: int) -> int:
    """etcd's minimum lease TTL: 1.5 election timeouts, rounded up to whole seconds."""
    election_us = raft_config.election_timeout_ticks * tick_us
    return max(1, -(-3 * election_us // 2_000_000))


class KVServer:
    """One member (an :class:`~raftkv.env.Actor`).  ``raft_host`` and ``store`` are public
    for inspection (the simulator's safety checker reads ``raft_host``)."""

    def __init__(self, env: Env, peers: tuple[str, ...], raft_config: RaftConfig, tick_us: int,
                 *, config: ServerConfig | None = None, bugs: BugSet = NO_BUGS,
                 join: bool = False) -> None:
        self.env = env
        self.peers = tuple(sorted(peers))
        self.raft_config = raft_config
        self.join = join
        self.config = config or ServerConfig()
        self.tick_us = tick_us
        self.bugs = bugs
        self.store = KVStore(min_ttl_s=min_lease_ttl_s(raft_config, tick_us),
                             max_txn_ops=self.config.max_txn_ops,
                             max_events_per_response=self.config.max_events_per_response,
                             bugs=bugs)
        timeout_ticks = max(1, self.config.request_timeout_us // tick_us)
        self._lease_sweep_armed = False
        self.raft_host = RaftHost(env, self.peers, raft_config, _StoreMachine(env, self.store),
                                  tick_us, request_timeout_ticks=timeout_ticks, join=join)
        self.lease_extend_us = raft_config.election_timeout_ticks * tick_us
        self._was_leader = False
        self._seen: dict[tuple[str, int], int] = {}  # (client, req_id) -> forget at (local us)
        self._streams: dict[int, _Stream] = {}  # watch id -> stream
        self._stream_keys: dict[tuple[str, int], _Stream] = {}  # (client, stream id) -> stream
        self.requests_served = 0

    # ------------------------------------------------------------------ actor
    def on_start(self) -> None:
        env = self.env
        self.raft_host.start()
        env.set_timer(self.config.progress_interval_us, _TAG_PROGRESS)
        env.set_timer(self.config.dedup_window_us, _TAG_HOUSEKEEPING)
        self._after()

    def on_message(self, src: str, msg: Any) -> None:
        if not self.raft_host.on_message(src, msg):
            if isinstance(msg, ClientRequest):
                self._on_request(src, msg)
            elif isinstance(msg, WatchStreamOpen):
                self._on_watch_open(src, msg)
            elif isinstance(msg, WatchStreamProgress):
                self._on_watch_progress(src, msg)
            elif isinstance(msg, WatchStreamClose):
                self._on_watch_close(src, msg)
        self._after()

    def on_timer(self, tag: Hashable) -> None:
        if not self.raft_host.on_timer(tag):
            if tag == _TAG_LEASES:
                self._lease_sweep_armed = False
                if self.raft_host.is_leader:
                    self._expire_leases()
                    self._arm_lease_sweep()
            elif tag == _TAG_PROGRESS:
                self.store.watches.progress_all()
                self.env.set_timer(self.config.progress_interval_us, _TAG_PROGRESS)
            elif tag == _TAG_HOUSEKEEPING:
                self._forget_old_requests()
                self.env.set_timer(self.config.dedup_window_us, _TAG_HOUSEKEEPING)
        self._after()

    # ------------------------------------------------------------------ state
    @property
    def is_leader(self) -> bool:
        return self.raft_host.is_leader

    @property
    def leader_id(self) -> str | None:
        return self.raft_host.leader_id

    def _after(self) -> None:
        """After every event: follow leadership changes, route watch responses."""
        leader = self.raft_host.is_leader
        if leader != self._was_leader:
            self._was_leader = leader
            lessor = self.store.lessor
            if leader:
                lessor.promote(self.env.monotonic_us(), self.lease_extend_us)
                self._arm_lease_sweep()
                self.env.record("kv.lessor", primary=True, leases=len(lessor))
            else:
                lessor.demote()
                self.env.record("kv.lessor", primary=False, leases=len(lessor))
        self._route_watch_responses()

    # ------------------------------------------------------------------ requests
    def _reply(self, src: str, req_id: int, result: object) -> None:
        if isinstance(result, KVError):
            hint = result.leader if isinstance(result, ErrNotLeader) else ""
            self.env.send(src, ClientResponse(req_id=req_id, error=result, leader_hint=hint))
        else:
            self.env.send(src, ClientResponse(req_id=req_id, response=result))

    def _not_leader(self) -> KVError:
        hint = self.raft_host.leader_id
        if hint and hint != self.env.node_id:
            return ErrNotLeader(leader=hint)
        return ErrNoLeader()

    @staticmethod
    def _host_error(err: ProposalError, *, read: bool) -> KVError:
        if isinstance(err, NotLeader):
            return ErrNotLeader(leader=err.leader_hint) if err.leader_hint else ErrNoLeader()
        if isinstance(err, OutcomeUnknown):
            return ErrTimeout()
        assert isinstance(err, Dropped), err
        if read or err.reason == "timeout":
            return ErrTimeout()
        return ErrNoLeader(reason=err.reason)

    def _on_request(self, src: str, msg: ClientRequest) -> None:
        key = (src, msg.req_id)
        if key in self._seen:
            return  # a duplicate delivery: the first copy is (being) answered
        self._seen[key] = self.env.monotonic_us() + self.config.dedup_window_us
        self.requests_served += 1
        req = msg.request
        req_id = msg.req_id
        if isinstance(req, RangeRequest):
            local = "follower_local_reads" in self.bugs and not self.raft_host.is_leader
            if req.serializable or local:  # BUG when local: a lagging follower answers
                self._reply(src, req_id, self._range(req))
            else:
                self._read_index(lambda: self._reply(src, req_id, self._range(req)),
                                 lambda err: self._reply(src, req_id, err))
        elif isinstance(req, _WRITES):
            if not self.raft_host.is_leader:
                self._reply(src, req_id, self._not_leader())
                return
            self.raft_host.propose(req, self._write_done(src, req_id))
        elif isinstance(req, _LEADER_READS):
            if not self.raft_host.is_leader:
                self._reply(src, req_id, self._not_leader())
                return
            self._read_index(lambda: self._reply(src, req_id, self._leader_read(req)),
                             lambda err: self._reply(src, req_id, err))
        elif isinstance(req, StatusRequest):
            self._reply(src, req_id, self.status())
        elif isinstance(req, MemberListRequest):
            self.list_members(lambda result: self._reply(src, req_id, result),
                              linearizable=req.linearizable)
        elif isinstance(req, MEMBER_REQUESTS):
            self.change_members(req, lambda result: self._reply(src, req_id, result))
        else:
            self._reply(src, req_id, ErrInvalidRequest(
                reason=f"unknown request type {type(req).__name__}"))

    def _write_done(self, src: str, req_id: int) -> Callable[[object], None]:
        def done(result: object) -> None:
            if isinstance(result, ProposalError):
                result = self._host_error(result, read=False)
            self._reply(src, req_id, result)
        return done

    def _read_index(self, ready: Callable[[], None], fail: Callable[[KVError], None]) -> None:
        def on_ready(err: object) -> None:
            if err is None:
                ready()
            else:
                assert isinstance(err, ProposalError), err
                fail(self._host_error(err, read=True))
        self.raft_host.read_index(on_ready)

    def _range(self, req: RangeRequest) -> object:
        try:
            return self.store.range(req)
        except KVError as err:
            return err

    def _leader_read(self, req: object) -> object:
        if not self.raft_host.is_leader:
            return self._not_leader()
        try:
            if isinstance(req, LeaseKeepAliveRequest):
                return self.store.lease_keepalive(req, self.env.monotonic_us())
            if isinstance(req, LeaseTimeToLiveRequest):
                return self.store.lease_time_to_live(req, self.env.monotonic_us())
            return self.store.lease_leases()
        except KVError as err:
            return err

    def status(self) -> MemberStatus:
        host = self.raft_host
        return MemberStatus(member=self.env.node_id, leader=host.leader_id or "",
                            raft_term=host.term, raft_index=host.commit_index,
                            raft_applied_index=host.applied_index, is_leader=host.is_leader,
                            store=self.store.status())

    # ------------------------------------------------------------------ members
    @property
    def configuration(self) -> ClusterConfig:
        """The configuration this member has applied."""
        return self.raft_host.cluster

    def _member_list(self) -> MemberListResponse:
        return MemberListResponse(members=members_of(self.raft_host.cluster),
                                  leader=self.raft_host.leader_id or "", responder=self.env.node_id)

    def list_members(self, on_done: Callable[[object], None], *, linearizable: bool = True) -> None:
        """``on_done(MemberListResponse)`` (after a ReadIndex round when ``linearizable``),
        or ``on_done(KVError)``."""
        if not linearizable:
            on_done(self._member_list())
            return

        def ready(result: object) -> None:
            if isinstance(result, ProposalError):
                on_done(self._host_error(result, read=True))
            else:
                on_done(self._member_list())

        self.raft_host.list_members(ready)

    def change_members(self, req: object, on_done: Callable[[object], None]) -> None:
        """Run a :class:`~raftkv.kv.members.MemberAddRequest`, ``MemberPromoteRequest``
        or ``MemberRemoveRequest`` on this member, which must lead.  ``on_done`` gets the
        response once the new configuration is applied here, or a :class:`KVError`
        (``ErrNotLeader``/``ErrNoLeader`` and the member errors: certainly not applied;
        ``ErrTimeout``: unknown)."""
        host = self.raft_host
        if not host.is_leader:
            on_done(self._not_leader())
            return
        refusal = self._member_precheck(req)
        if refusal is not None:
            self.env.record("kv.member_refused", request=req, error=type(refusal).__name__)
            on_done(refusal)
            return

        def done(result: object) -> None:
            if isinstance(result, ProposalError):
                err = self._member_error(result)
                if isinstance(result, Refused):
                    self.env.record("kv.member_refused", request=req, error=type(err).__name__)
                on_done(err)
                return
            members = members_of(host.cluster)
            if isinstance(req, MemberAddRequest):
                on_done(MemberAddResponse(member=Member(name=req.name, is_learner=req.is_learner),
                                          members=members))
            elif isinstance(req, MemberPromoteRequest):
                on_done(MemberPromoteResponse(members=members))
            else:
                on_done(MemberRemoveResponse(members=members))

        self.env.record("kv.member_change", request=req)
        if isinstance(req, MemberAddRequest):
            host.add_member(req.name, learner=req.is_learner, on_done=done)
        elif isinstance(req, MemberPromoteRequest):
            host.promote_member(req.name, done)
        else:
            assert isinstance(req, MemberRemoveRequest), req
            host.remove_member(req.name, done)

    def _member_precheck(self, req: object) -> KVError | None:
        """etcd's checks against the leader's configuration, before proposing."""
        conf = self.raft_host.cluster
        if isinstance(req, MemberAddRequest):
            if req.name in conf.members():
                return ErrMemberExist(name=req.name)
            limit = self.config.max_learners
            if req.is_learner and limit is not None and len(conf.learners) >= limit:
                return ErrTooManyLearners(max_learners=limit)
            return None
        if isinstance(req, MemberPromoteRequest):
            if req.name not in conf.members():
                return ErrMemberNotFound(name=req.name)
            if not conf.is_learner(req.name):
                return ErrMemberNotLearner(name=req.name)
            lag = self.raft_host.learner_lag(req.name)
            if lag is not None and lag > self.raft_config.promote_max_lag_entries:
                return ErrLearnerNotReady(name=req.name, lag=lag)
            return None
        if isinstance(req, MemberRemoveRequest):
            if req.name not in conf.members():
                return ErrMemberNotFound(name=req.name)
            return None
        return ErrInvalidRequest(reason=f"not a member request: {type(req).__name__}")

    def _member_error(self, err: ProposalError) -> KVError:
        if not isinstance(err, Refused):
            return self._host_error(err, read=False)
        reason = err.reason
        if "still pending" in reason:
            return ErrMemberChangePending()
        if "has not caught up" in reason:
            return ErrLearnerNotReady(reason=reason)
        if "is already a" in reason:
            return ErrMemberExist(reason=reason)
        if "not a member" in reason:
            return ErrMemberNotFound(reason=reason)
        if "is not a learner" in reason:
            return ErrMemberNotLearner(reason=reason)
        return ErrMemberChangeRefused(reason=reason)

    def _forget_old_requests(self) -> None:
        now = self.env.monotonic_us()
        old = []
        for key, until in self._seen.items():
            if until > now:
                break
            old.append(key)
        for key in old:
            del self._seen[key]

    # ------------------------------------------------------------------ leases
    def _arm_lease_sweep(self) -> None:
        if not self._lease_sweep_armed:
            self._lease_sweep_armed = True
            self.env.set_timer(self.config.lease_check_interval_us, _TAG_LEASES)

    def _expire_leases(self) -> None:
        assert self.raft_host.is_leader, "only the leader expires leases"
        for lease_id in self.store.lessor.expired(self.env.monotonic_us()):
            self.env.record("kv.lease_expired", lease=lease_id)
            self.raft_host.propose(LeaseRevokeRequest(id=lease_id, expired=True), _ignore)

    # ------------------------------------------------------------------ watches
    def _on_watch_open(self, src: str, msg: WatchStreamOpen) -> None:
        key = (src, msg.stream_id)
        if key in self._stream_keys:
            return  # duplicate delivery
        hub = self.store.watches
        try:
            watch_id = hub.create(msg.request)
        except KVError as err:
            self.env.send(src, WatchStreamMessage(stream_id=msg.stream_id, seq=0, response=WatchResponse(
                watch_id=-1, header_revision=self.store.revision, canceled=True,
                cancel_reason=str(err))))
            return
        stream = _Stream(src, msg.stream_id, watch_id)
        self._streams[watch_id] = stream
        self._stream_keys[key] = stream

    def _on_watch_progress(self, src: str, msg: WatchStreamProgress) -> None:
        stream = self._stream_keys.get((src, msg.stream_id))
        if stream is None:
            self.env.send(src, WatchStreamGone(stream_id=msg.stream_id))
            return
        self.store.watches.request_progress((stream.watch_id,))

    def _on_watch_close(self, src: str, msg: WatchStreamClose) -> None:
        stream = self._stream_keys.pop((src, msg.stream_id), None)
        if stream is None:
            return
        del self._streams[stream.watch_id]
        if stream.watch_id in self.store.watches:
            self.store.watches.cancel(stream.watch_id)

    def _route_watch_responses(self) -> None:
        out = self.store.watches.drain()
        if not out:
            return
        send = self.env.send
        streams = self._streams
        for resp in out:
            stream = streams.get(resp.watch_id)
            if stream is None:
                continue
            send(stream.client, WatchStreamMessage(stream_id=stream.stream_id, seq=stream.seq,
                                                   response=resp))
            stream.seq += 1
            if resp.canceled:
                del streams[resp.watch_id]
                self._stream_keys.pop((stream.client, stream.stream_id), None)


def _ignore(_result: object) -> None:
    pass
