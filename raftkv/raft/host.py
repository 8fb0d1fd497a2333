"""RaftHost: drives a pure :class:`Raft` core for an actor, through an :class:`Env`.

The ready cycle, per input (message, tick, proposal), is: persist (disk append, then
fsync) -> send -> apply -> advance.  Each step is a separate method, and every step runs
to completion inside one actor event, so a crash between events finds the disk in one
of the states the cycle allows.  On start the host rebuilds everything from
``env.disk`` alone (see :mod:`raftkv.raft.durable`).

Membership: every member starts from the same *bootstrap* configuration (``peers``, the
voters at index 0) and re-applies the committed changes in its log (or takes the
configuration of its snapshot), so a restarted member recovers its configuration.  A
member added later starts with ``join=True`` and an empty disk: it is not in the
bootstrap configuration, so it never campaigns until the leader's log makes it a voter.
The member API (:meth:`RaftHost.add_member`, :meth:`~RaftHost.promote_member`,
:meth:`~RaftHost.remove_member`, :meth:`~RaftHost.change_membership`,
:meth:`~RaftHost.list_members`) runs on the leader.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import Any, Protocol

from raftkv.env import Env

from .config import RaftConfig
from .core import (
    MESSAGES_READY,
    NOTHING_READY,
    ConfChangeRefused,
    ProposalDropped,
    Raft,
    Ready,
    Role,
)
from .durable import HARDSTATE_FILE, LOG_FILE, SNAP_FILE, LogBase, recover
from .messages import ConfChange, ConfChangeType, ConfChangeV2, EntryKind, Message
from .outcomes import Dropped, NotLeader, OutcomeUnknown, ProposalError, Refused
from .quorum import ClusterConfig

__all__ = ["Dropped", "NotLeader", "OutcomeUnknown", "ProposalError", "RaftHost", "Refused",
           "StateMachine", "TICK_TAG"]

TICK_TAG = "raft.tick"
FLUSH_TAG = "raft.flush"
_HARDSTATE_REWRITE_AT = 512


class StateMachine(Protocol):
    """What a replicated state machine offers the host (the KV layer implements it)."""

    def apply(self, index: int, term: int, data: object) -> object: ...

    def snapshot(self) -> object: ...

    def restore(self, snapshot: object) -> None: ...


Callback = Callable[[Any], None]


class RaftHost:
    """Composed into a member actor; see the module docstring."""

    def __init__(self, env: Env, peers: tuple[str, ...], config: RaftConfig,
                 state_machine: StateMachine, tick_us: int, *,
                 request_timeout_ticks: int | None = None, batch_us: int = 0,
                 join: bool = False) -> None:
        if tick_us <= 0:
            raise ValueError(f"tick_us must be positive, got {tick_us}")
        if not peers:
            raise ValueError("peers (the bootstrap voters) must not be empty")
        if env.node_id not in peers and not join:
            raise ValueError(f"node {env.node_id!r} is not among peers {peers} (use join=True "
                             f"for a member added to a running cluster)")
        if env.node_id in peers and join:
            raise ValueError(f"node {env.node_id!r} joins but is a bootstrap peer {peers}")
        self.env = env
        self.peers = tuple(sorted(peers))
        self.config = config
        self.sm = state_machine
        self.tick_us = tick_us
        self.request_timeout_ticks = (request_timeout_ticks if request_timeout_ticks is not None
                                      else 5 * config.election_timeout_ticks)
        # Group commit: with batch_us > 0, proposals wait up to batch_us for company
        # before the leader replicates them (fewer, larger appends; more latency).
        self.batch_us = batch_us
        self._flush_timer: int | None = None
        self._batch: list[tuple[object, Callback]] = []
        self.raft: Raft | None = None
        self._nonce = 0
        self._seq = 0
        # (origin seq) -> (callback, deadline tick)
        self._proposals: dict[int, tuple[Callback, int]] = {}
        self._reads: dict[int, tuple[Callback, int]] = {}
        self._reads_waiting_apply: list[tuple[int, int]] = []  # (index, ctx)
        self._deferred: list[tuple[Callback, Any]] = []
        self._processing = False
        self._hs_records = 0
        self._snap_index = 0
        # Ticks are applied lazily: before every input, the ticks the monotonic clock says
        # are due; the tick timer is set only for the next tick that does something.
        self._timer: int | None = None
        self._timer_at_mono_us = 0
        self._timer_key: tuple[object, ...] = ()
        self._last_tick_mono_us = 0  # on the monotonic clock
        self._next_expiry_tick: int | None = None
        self._stopped = False
        self._recorded_commit = 0

    # ------------------------------------------------------------------ state
    @property
    def node_id(self) -> str:
        return self.env.node_id

    def _core(self) -> Raft:
        assert self.raft is not None, "RaftHost.start() was not called"
        return self.raft

    @property
    def is_leader(self) -> bool:
        return self.raft is not None and self.raft.role is Role.LEADER

    @property
    def leader_id(self) -> str | None:
        return self.raft.lead if self.raft is not None else None

    @property
    def term(self) -> int:
        return self._core().term

    @property
    def role(self) -> Role:
        return self._core().role

    @property
    def applied_index(self) -> int:
        return self._core().log.applied

    @property
    def commit_index(self) -> int:
        return self._core().log.committed

    @property
    def last_index(self) -> int:
        return self._core().log.last_index()

    @property
    def cluster(self) -> ClusterConfig:
        return self._core().conf

    # ------------------------------------------------------------------ start
    def start(self) -> None:
        """Rebuild from disk, restore the state machine, start ticking."""
        env = self.env
        rec = recover(env.disk)
        log = rec.log
        if log.snapshot is not None:
            self.sm.restore(log.snapshot.data)
            self._snap_index = log.snapshot.index
        self._hs_records = env.disk.length(HARDSTATE_FILE)
        self.raft = Raft(node_id=env.node_id, config=self.config, rng=env.rng,
                         cluster=ClusterConfig(voters=self.peers), hard_state=rec.hard_state,
                         log=log)
        self.raft.wall_lease_us = self.config.election_timeout_ticks * self.tick_us
        self.raft.clock_us = env.now_us()
        self._nonce = env.rng.getrandbits(30) << 32
        r = self.raft
        env.record("raft.start", term=r.term, vote=r.vote, commit=r.log.committed,
                   last_index=r.log.last_index(), last_term=r.log.last_term(),
                   snapshot_index=self._snap_index, torn=rec.torn_files,
                   voters=r.conf.voters, outgoing=r.conf.voters_outgoing)
        self._last_tick_mono_us = env.monotonic_us()
        self._process()

    def fast_forward_election(self) -> int:
        """On a fresh member (term 0, empty log), once a peer is reachable: advance the
        election clock by all but two ticks of the election timeout, as etcd does when a
        new cluster starts, so the first election comes sooner.  The randomized timeout
        still decides who campaigns first (2 to ``election_timeout_ticks + 1`` ticks from
        now), and only timing changes: Raft's safety does not depend on it.  The ticks
        advanced (0 when the member is not fresh)."""
        r = self.raft
        assert r is not None, "RaftHost.start() was not called"
        if r.term != 0 or r.log.last_index() != 0 or r.role is not Role.FOLLOWER:
            return 0
        ticks = max(0, self.config.election_timeout_ticks - 2)
        self._catch_up()
        r.tick_many(ticks)
        self._timer_key = ()  # the next due tick moved earlier: set the timer again
        self._process()
        return ticks

    # ------------------------------------------------------------------ inputs
    def on_message(self, src: str, msg: object) -> bool:
        if not isinstance(msg, Message):
            return False
        r = self.raft
        if r is None:
            return True
        self._catch_up()
        r.step(msg)
        self._process()
        return True

    def _catch_up(self) -> None:
        """Apply the ticks the monotonic clock says are due since the last one.

        A process that was paused (or starved) gets the ticks it missed, up to two
        election timeouts, so a leader that slept through its lease does not go on
        serving lease reads, and CheckQuorum sees the silence.  Ticks run on the
        monotonic clock: a wall clock stepped back or forward moves no tick.
        """
        r = self.raft
        assert r is not None, "RaftHost.start() was not called"
        env = self.env
        r.clock_us = env.now_us()
        elapsed = env.monotonic_us() - self._last_tick_mono_us
        if elapsed < self.tick_us:
            return
        due = elapsed // self.tick_us
        self._last_tick_mono_us += due * self.tick_us
        r.tick_many(min(due, 2 * self.config.election_timeout_ticks))
        if self._next_expiry_tick is not None and r.ticks >= self._next_expiry_tick:
            self._expire_requests(r.ticks)

    def _schedule_tick(self) -> None:
        """Set the tick timer for the next tick that does something (or an expiry)."""
        r = self.raft
        if r is None:
            return
        # Only these move the next due tick earlier (inputs other than a role, term,
        # configuration or expiry change only reset counters, which moves it later).
        key = (r.role, r.term, r.randomized_election_timeout, r.stepping_down, r.conf,
               self._next_expiry_tick)
        if self._timer is not None and key == self._timer_key:
            return
        self._timer_key = key
        ticks = r.ticks_until_due()
        if self._next_expiry_tick is not None:
            expiry = max(1, self._next_expiry_tick - r.ticks)
            ticks = expiry if ticks is None else min(ticks, expiry)
        if ticks is None:
            ticks = 4 * self.config.election_timeout_ticks  # nothing due: wake now and then
        at_mono_us = self._last_tick_mono_us + ticks * self.tick_us
        if self._timer is not None:
            if self._timer_at_mono_us <= at_mono_us:
                return
            self.env.cancel_timer(self._timer)
        delay_us = max(0, at_mono_us - self.env.monotonic_us())
        self._timer = self.env.set_timer(delay_us, TICK_TAG)
        self._timer_at_mono_us = at_mono_us

    def on_timer(self, tag: Hashable) -> bool:
        if tag == FLUSH_TAG:
            self._flush_timer = None
            self._catch_up()
            batch, self._batch = self._batch, []
            for data, on_done in batch:
                self._propose_now(data, on_done)
            self._process()
            return True
        if tag != TICK_TAG:
            return False
        self._timer = None
        self._catch_up()
        self._process()
        return True

    def _next_seq(self) -> int:
        self._seq += 1
        return self._nonce | self._seq

    def propose(self, data: object, on_done: Callback) -> None:
        """Replicate ``data``; ``on_done`` gets the state machine's result once it is
        applied here, or a :class:`ProposalError`."""
        r = self._core()
        self._catch_up()
        if self.batch_us > 0 and r.role is Role.LEADER:
            self._batch.append((data, on_done))
            if self._flush_timer is None:
                self._flush_timer = self.env.set_timer(self.batch_us, FLUSH_TAG)
            return
        self._propose_now(data, on_done)
        self._process()

    def _propose_now(self, data: object, on_done: Callback) -> None:
        r = self._core()
        seq = self._next_seq()
        try:
            r.propose(data, origin=self.node_id, seq=seq)
        except ProposalDropped as e:
            if e.reason == "no leader":
                self._defer(on_done, NotLeader(leader_hint=e.leader_hint))
            else:
                self._defer(on_done, Dropped(reason=e.reason))
            return
        self._track(self._proposals, seq, on_done)

    def propose_conf_change(self, cc: ConfChange | ConfChangeV2, on_done: Callback) -> None:
        """Propose a membership change (on the leader); ``on_done(None)`` once applied here,
        else :class:`NotLeader`, :class:`Refused` or :class:`OutcomeUnknown`."""
        r = self._core()
        self._catch_up()
        seq = self._next_seq()
        try:
            r.propose_conf_change(cc, origin=self.node_id, seq=seq)
        except ConfChangeRefused as e:
            self._defer(on_done, NotLeader(leader_hint=e.leader_hint) if r.role is not Role.LEADER
                        else Refused(reason=e.reason))
            self._process()
            return
        except ProposalDropped as dropped:  # its own name: mypyc types ``e`` by the clause above
            self._defer(on_done, Dropped(reason=dropped.reason))
            self._process()
            return
        self._track(self._proposals, seq, on_done)
        self._process()

    # ------------------------------------------------------------ member API
    def add_member(self, node: str, *, learner: bool, on_done: Callback) -> None:
        """Add ``node`` (a fresh member started with ``join=True``) as a learner or voter."""
        kind = ConfChangeType.ADD_LEARNER if learner else ConfChangeType.ADD_VOTER
        r = self._core()
        if r.role is Role.LEADER and node in r.conf.members():
            self._refuse(on_done, f"{node} is already a member")
            return
        self.propose_conf_change(ConfChange(type=kind, node_id=node), on_done)

    def promote_member(self, node: str, on_done: Callback) -> None:
        """Make learner ``node`` a voter; refused unless it has caught up with the log."""
        self._change_role(node, ConfChangeType.ADD_VOTER, on_done)

    def demote_member(self, node: str, on_done: Callback) -> None:
        """Make voter ``node`` a learner; the leader may demote itself: as when removed, it
        leads until the change commits, then hands over."""
        self._change_role(node, ConfChangeType.ADD_LEARNER, on_done)

    def _change_role(self, node: str, kind: ConfChangeType, on_done: Callback) -> None:
        """Promote (``ADD_VOTER``) a learner or demote (``ADD_LEARNER``) a voter."""
        r = self._core()
        promote = kind is ConfChangeType.ADD_VOTER
        if r.role is Role.LEADER and not (r.conf.is_learner(node) if promote else r.conf.is_voter(node)):
            role = "a learner" if promote else "a voter"
            what = ("a voter" if r.conf.is_voter(node) else "a learner" if r.conf.is_learner(node)
                    else "not a member")
            self._refuse(on_done, f"{node} is not {role} ({what})")
            return
        self.propose_conf_change(ConfChange(type=kind, node_id=node), on_done)

    def remove_member(self, node: str, on_done: Callback) -> None:
        """Remove ``node`` (voter or learner); the leader may remove itself: it leads
        until the change commits, then steps down."""
        self.propose_conf_change(ConfChange(type=ConfChangeType.REMOVE, node_id=node), on_done)

    def change_membership(self, changes: tuple[ConfChange, ...], on_done: Callback, *,
                          auto_leave: bool = True) -> None:
        """Several changes at once, through a joint configuration if more than one voter
        changes; ``on_done(None)`` once the joint configuration is applied (the leader
        leaves it on its own when ``auto_leave``)."""
        self.propose_conf_change(ConfChangeV2(changes=tuple(changes), auto_leave=auto_leave), on_done)

    def list_members(self, on_done: Callback) -> None:
        """``on_done(ClusterConfig)``: the configuration as of a linearizable read point
        (a ReadIndex round), or ``on_done(ProposalError)``."""
        def ready(err: object) -> None:
            on_done(err if err is not None else self._core().conf)

        self.read_index(ready)

    def learner_lag(self, node: str) -> int | None:
        """Committed entries learner ``node`` lacks (leader only, else None)."""
        r = self._core()
        return r.learner_lag(node) if r.role is Role.LEADER else None

    def _refuse(self, on_done: Callback, reason: str) -> None:
        self._defer(on_done, Refused(reason=reason))
        self._process()

    def read_index(self, on_ready: Callback) -> None:
        """``on_ready(None)`` once a linearizable read may be served from the local state
        machine, or ``on_ready(error)``."""
        r = self._core()
        ctx = self._next_seq()
        self._catch_up()
        try:
            r.read_index(ctx)
        except ProposalDropped as e:
            self._defer(on_ready, NotLeader(leader_hint=e.leader_hint))
            self._process()
            return
        self._track(self._reads, ctx, on_ready)
        self._process()

    def transfer_leadership(self, to: str) -> None:
        self._catch_up()
        self._core().transfer_leadership(to)
        self._process()

    def campaign(self) -> None:
        """Start an election now (as if the election timeout fired)."""
        self._catch_up()
        self._core().campaign(transfer=False)
        self._process()

    # ------------------------------------------------------------ ready cycle
    def _defer(self, cb: Callback, value: Any) -> None:
        self._deferred.append((cb, value))

    def _process(self) -> None:
        if self._processing:
            return
        self._processing = True
        try:
            r = self.raft
            assert r is not None, "RaftHost.start() was not called"
            send = self.env.send
            while True:
                pending = r.pending()
                if pending == NOTHING_READY:
                    break
                if pending == MESSAGES_READY:
                    # The common round (heartbeats, their answers, acks): nothing to
                    # persist or apply, so no Ready is built.
                    for m in r.take_messages():
                        send(m.dst, m)
                    continue
                rd = r.ready()
                self._on_soft_state(rd)
                self._persist(rd)
                if r.role is Role.LEADER and r.log.committed > max(self._recorded_commit,
                                                                  r.commit_at_election):
                    self._record_commit(r)
                self._send(rd)
                self._apply(rd)
                r.advance(rd)
                self._after_advance(rd)
        finally:
            self._processing = False
        while self._deferred:
            cbs, self._deferred = self._deferred, []
            for cb, value in cbs:
                cb(value)
        self._schedule_tick()

    def _record_commit(self, r: Raft) -> None:
        """The leader advanced its commit index, counting the quorums of ``r.conf``."""
        c = r.log.committed
        self._recorded_commit = c
        self.env.record("raft.commit", index=c, entry_term=r.log.term(c), term=r.term,
                        voters=r.conf.voters, outgoing=r.conf.voters_outgoing)

    def _on_soft_state(self, rd: Ready) -> None:
        ss = rd.soft_state
        if ss is None:
            return
        self.env.record("raft.role", role=ss.role.value, term=ss.term, leader=ss.leader)
        if self._reads:
            # Outstanding reads were tied to the old leader: fail them (reads are safe to retry).
            hint = NotLeader(leader_hint=ss.leader)
            for cb, _ in self._reads.values():
                self._defer(cb, hint)
            self._reads.clear()
            self._reads_waiting_apply.clear()

    def _persist(self, rd: Ready) -> None:
        disk = self.env.disk
        bugs = self.config.bugs
        if rd.snapshot is not None:
            snap = rd.snapshot
            disk.overwrite(SNAP_FILE, [snap])
            disk.fsync(SNAP_FILE)
            disk.overwrite(LOG_FILE, [LogBase(index=snap.index, term=snap.term)])
        if rd.entries:
            first = rd.entries[0]
            r = self._core()
            prev_term = r.log.term(first.index - 1)
            disk.append(LOG_FILE, rd.entries)  # one record per batch
            conf = tuple(e.index for e in rd.entries if e.kind is EntryKind.CONF)
            self.env.record("raft.append", first=first.index, prev_term=prev_term,
                            terms=tuple(e.term for e in rd.entries), role=r.role.value,
                            term=r.term, commit=r.log.committed, conf=conf)
        if rd.snapshot is not None or rd.entries:
            disk.fsync(LOG_FILE)
        hs = rd.hard_state
        if hs is not None:
            if self._hs_records >= _HARDSTATE_REWRITE_AT:
                disk.overwrite(HARDSTATE_FILE, [hs])
                self._hs_records = 1
            else:
                disk.append(HARDSTATE_FILE, hs)
                self._hs_records += 1
            if rd.must_sync and "vote_not_persisted" not in bugs:
                disk.fsync(HARDSTATE_FILE)

    def _send(self, rd: Ready) -> None:
        send = self.env.send
        for m in rd.messages:
            send(m.dst, m)

    def _apply(self, rd: Ready) -> None:
        env = self.env
        if rd.snapshot is not None:
            snap = rd.snapshot
            self.sm.restore(snap.data)
            self._snap_index = snap.index
            env.record("raft.snapshot", how="installed", index=snap.index, term=snap.term)
        ents = rd.committed_entries
        if ents:
            sm = self.sm
            me = self.node_id
            proposals = self._proposals
            for e in ents:
                if e.kind is EntryKind.NORMAL:
                    result = sm.apply(e.index, e.term, e.data)
                elif e.kind is EntryKind.CONF:
                    result = None
                    env.record("raft.conf", index=e.index, change=e.data)
                else:
                    continue
                if e.origin == me:
                    waiting = proposals.pop(e.seq, None)
                    if waiting is not None:
                        self._defer(waiting[0], result)
            r = self._core()
            env.record("raft.apply", first=ents[0].index, terms=tuple(e.term for e in ents),
                       commit=r.log.committed, term=r.term)
        for rs in rd.read_states:
            ctx = rs.context
            if isinstance(ctx, int) and ctx in self._reads:
                self._reads_waiting_apply.append((rs.index, ctx))

    def _after_advance(self, rd: Ready) -> None:
        r = self._core()
        applied = r.log.applied
        if self._reads_waiting_apply:
            keep = []
            for index, ctx in self._reads_waiting_apply:
                if index <= applied:
                    waiting = self._reads.pop(ctx, None)
                    if waiting is not None:
                        self._defer(waiting[0], None)
                else:
                    keep.append((index, ctx))
            self._reads_waiting_apply = keep
        if rd.committed_entries and any(e.kind is EntryKind.CONF for e in rd.committed_entries):
            self.env.record("raft.conf_applied", voters=r.conf.voters, learners=r.conf.learners,
                            outgoing=r.conf.voters_outgoing, index=applied)

        interval = self.config.snapshot_interval_entries
        if interval and applied - self._snap_index >= interval and applied <= r.log.committed:
            self._take_snapshot()

    def _take_snapshot(self) -> None:
        r = self._core()
        disk = self.env.disk
        snap = r.create_snapshot(r.log.applied, self.sm.snapshot())
        self._snap_index = snap.index
        disk.overwrite(SNAP_FILE, [snap])
        disk.fsync(SNAP_FILE)
        log = r.log
        assert log.stable_index == log.last_index(), "snapshot with unpersisted entries"
        disk.overwrite(LOG_FILE, [LogBase(index=log.base_index, term=log.base_term), *log.entries])
        disk.fsync(LOG_FILE)
        self.env.record("raft.snapshot", how="created", index=snap.index, term=snap.term)

    def _track(self, table: dict[int, tuple[Callback, int]], key: int, cb: Callback) -> None:
        deadline = self._core().ticks + self.request_timeout_ticks
        table[key] = (cb, deadline)
        if self._next_expiry_tick is None or deadline < self._next_expiry_tick:
            self._next_expiry_tick = deadline

    def _expire_requests(self, now_tick: int) -> None:
        for table, err in ((self._proposals, OutcomeUnknown(reason="timeout")),
                           (self._reads, Dropped(reason="timeout"))):
            if not table:
                continue
            expired = [k for k, (_, deadline) in table.items() if deadline <= now_tick]
            for k in expired:
                cb, _ = table.pop(k)
                self._defer(cb, err)
        deadlines = [d for table in (self._proposals, self._reads) for _, d in table.values()]
        self._next_expiry_tick = min(deadlines) if deadlines else None
