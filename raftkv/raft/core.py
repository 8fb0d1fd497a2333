"""The pure Raft state machine (no I/O): feed it ticks, messages and proposals; take
``Ready`` batches out; persist, send, apply; then ``advance``.

Modelled on etcd-io/raft: PreVote and CheckQuorum, probe/replicate flow control with
bounded pipelining, fast log backtracking, ReadIndex and lease reads, leadership
transfer, snapshots, and membership changes through the log: single-member changes
and joint consensus (etcd's ConfChangeV2), applied when committed (see
:mod:`raftkv.raft.confchange`), with the invariants that make apply-time changes safe:
a leader appends a change only once every earlier one is applied and it has committed
an entry of its own term; a member never campaigns with a committed change unapplied.
"""

from __future__ import annotations

import random
from collections import deque

from .confchange import ConfChangeError, apply_conf_change
from .config import RaftConfig
from .log import LogCompactedError, RaftLog
from .messages import (
    CAMPAIGN_TRANSFER,
    ConfChange,
    ConfChangeType,
    ConfChangeV2,
    Entry,
    EntryKind,
    HardState,
    Message,
    MessageType,
    ReadState,
    Snapshot,
)
from .progress import Progress, ProgressState
from .quorum import ClusterConfig, VoteResult, committed_index, vote_result
from .ready import PendingRead, Ready, Role, SoftState

__all__ = ["ConfChangeRefused", "ProposalDropped", "Raft", "Ready", "Role", "SoftState"]

MT = MessageType


# How many recent proposals a leader remembers to drop duplicated deliveries.
MAX_RECENT_PROPOSALS = 4096


# What Raft.pending() reports.
NOTHING_READY, MESSAGES_READY, FULL_READY = 0, 1, 2


class ProposalDropped(Exception):
    """The proposal (or read) was not accepted; ``leader_hint`` names the leader if known."""

    def __init__(self, reason: str, leader_hint: str | None = None) -> None:
        super().__init__(f"{reason} (leader hint: {leader_hint})")
        self.reason = reason
        self.leader_hint = leader_hint


class ConfChangeRefused(ProposalDropped):
    pass


class Raft:
    """One member's Raft state machine."""

    def __init__(self, *, node_id: str, config: RaftConfig, rng: random.Random,
                 cluster: ClusterConfig, hard_state: HardState | None = None,
                 log: RaftLog | None = None) -> None:
        self.id = node_id
        self.config = config
        self.bugs = config.bugs
        self._apply_before_durable = "apply_before_durable" in config.bugs
        self.rng = rng
        self.log = log if log is not None else RaftLog()
        snap = self.log.snapshot
        self.conf = snap.conf if snap is not None else cluster
        hs = hard_state if hard_state is not None else HardState()
        self.term = hs.term
        self.vote: str | None = hs.vote
        if hs.commit > self.log.committed:
            self.log.commit_to(min(hs.commit, self.log.last_index()))
            if "restart_skips_apply" in config.bugs:
                # BUG: the durable commit index taken as applied, though the state machine
                # was restored from the snapshot only.
                self.log.applied = self.log.committed
        self.lead: str | None = None
        self.role = Role.FOLLOWER
        self.msgs: list[Message] = []
        self.read_states: list[ReadState] = []
        self.prs: dict[str, Progress] = {}
        self.votes: dict[str, bool] = {}
        self.election_elapsed = 0
        self.heartbeat_elapsed = 0
        self.ticks = 0
        self.randomized_election_timeout = config.election_timeout_ticks
        self.lead_transferee: str | None = None
        # A leader that applied its own removal keeps leading until a voter of the new
        # configuration knows the change is committed, then hands over (see _apply_conf_change).
        self.stepping_down = False
        self.step_down_index = 0
        self.step_down_ticks = 0
        self.step_down_sent: dict[str, int] = {}
        self.pending_conf_index = 0
        # The index of an appended, not yet applied change that removes or demotes this
        # leader (0: none).  From then on the leader appends nothing: its log must not get
        # ahead of the voters that stay, or, once it has left, it would refuse them the vote
        # they still need from it while they have not learnt the change is committed.
        self.leaving_index = 0
        self.commit_at_election = 0
        # Nodes an applied change removed: their vote requests are ignored, so a removed
        # member that never learnt of its removal cannot disrupt the cluster.
        self.removed: set[str] = set()
        # Changes that were committed but made no sense when applied (only bugs cause them).
        self.conf_changes_ignored = 0
        # (origin, seq) of proposals this member appended as leader, most recent last: a
        # forwarded proposal the network duplicated must not be appended twice.
        self.recent_proposals: dict[tuple[str, int], None] = {}
        self.pending_snapshot: Snapshot | None = None
        # ReadIndex / lease state (leader only)
        self.hb_seq = 0
        self.hb_sent_tick: deque[tuple[int, int, int]] = deque()  # (seq, tick, clock_us)
        # The member's local wall clock as the host last read it, and the lease length on
        # that clock.  Only the ``lease_read_skew`` bug times leases with them.
        self.clock_us = 0
        self.wall_lease_us = 0
        self.lease_start_clock_us = 0
        self.hb_acks: dict[str, int] = {}
        self.hb_quorum_seq = 0
        self.lease_start_tick: int | None = None
        self.pending_reads: deque[PendingRead] = deque()
        self.reads_waiting_commit: list[tuple[str, object]] = []
        self.read_hb_needed = False
        self.bcast_pending = False
        self._prev_hs = HardState(term=self.term, vote=self.vote, commit=self.log.committed)
        self._prev_soft = SoftState(role=self.role, leader=None, term=self.term)
        self._ready_in_flight = False
        self.become_follower(self.term, None)

    def __repr__(self) -> str:
        return (f"Raft({self.id} {self.role.value} term={self.term} lead={self.lead} "
                f"last={self.log.last_index()} commit={self.log.committed})")

    # ------------------------------------------------------------------ helpers
    def promotable(self) -> bool:
        return self.conf.is_voter(self.id)

    def _send(self, msg: Message) -> None:
        self.msgs.append(msg)

    def _reset(self, term: int) -> None:
        if term != self.term:
            self.term = term
            self.vote = None
        self.lead = None
        self.election_elapsed = 0
        self.heartbeat_elapsed = 0
        if "election_timeout_not_randomized" in self.bugs:
            self.randomized_election_timeout = self.config.election_timeout_ticks
        else:
            self.randomized_election_timeout = self.config.election_timeout_ticks + self.rng.randrange(
                self.config.election_timeout_ticks)
        self.votes = {}
        self.lead_transferee = None
        self.stepping_down = False
        self.step_down_index = 0
        self.step_down_ticks = 0
        self.step_down_sent = {}
        self.leaving_index = 0
        self.prs = {}
        self.pending_reads.clear()
        self.reads_waiting_commit.clear()
        self.read_hb_needed = False
        self.lease_start_tick = None
        self.hb_sent_tick.clear()
        self.hb_acks = {}
        self.hb_quorum_seq = 0

    # -------------------------------------------------------------- transitions
    def become_follower(self, term: int, lead: str | None) -> None:
        self._reset(term)
        self.role = Role.FOLLOWER
        self.lead = lead

    def become_pre_candidate(self) -> None:
        assert self.role is not Role.LEADER, "leader cannot become pre-candidate"
        # A pre-candidate keeps its term and vote.
        self.votes = {}
        self.role = Role.PRE_CANDIDATE
        self.lead = None
        self.prs = {}

    def become_candidate(self) -> None:
        assert self.role is not Role.LEADER, "leader cannot become candidate"
        self._reset(self.term + 1)
        self.vote = self.id
        self.role = Role.CANDIDATE

    def become_leader(self) -> None:
        assert self.role is Role.CANDIDATE, f"{self.id}: only a candidate becomes leader"
        term = self.term
        self._reset(term)
        self.vote = self.id  # unchanged: we voted for ourselves in this term
        self.role = Role.LEADER
        self.lead = self.id
        self.commit_at_election = self.log.committed
        last = self.log.last_index()
        mi = self.config.max_inflight_msgs
        for node in self.conf.members():
            pr = Progress(next_index=last + 1, max_inflight=mi)
            pr.recent_active = True
            if node == self.id:
                pr.match = last
                pr.become_replicate()
            self.prs[node] = pr
        if "conf_change_before_term_commit" in self.bugs:
            self.pending_conf_index = 0
        else:
            # No membership change until our no-op (an entry of our term) is applied.
            self.pending_conf_index = last + 1
        self.leaving_index = self._pending_self_removal()
        # The no-op is appended even when leaving: a change of an earlier term commits only
        # with an entry of ours, and the voters that acknowledge it then have it too.
        self._append_entries([Entry(term=term, index=last + 1, kind=EntryKind.NOOP)])

    def _pending_self_removal(self) -> int:
        """The first unapplied change in the log that leaves us out of the voters, or 0."""
        log = self.log
        conf = self.conf
        for e in log.slice(log.applied + 1, log.last_index() + 1):
            if e.kind is not EntryKind.CONF:
                continue
            try:
                conf = apply_conf_change(conf, e.data)
            except ConfChangeError:
                continue  # every member will ignore it when applied
            if not conf.is_voter(self.id):
                return e.index
        return 0

    # --------------------------------------------------------------------- tick
    def tick(self) -> None:
        self.ticks += 1
        if self.role is Role.LEADER:
            self._tick_heartbeat()
        else:
            self._tick_election()

    def tick_many(self, count: int) -> None:
        """``count`` ticks, as ``count`` calls of :meth:`tick`; the ticks that only count
        (see :meth:`ticks_until_due`) are added in one step."""
        while count > 0:
            due = self.ticks_until_due()
            quiet = count if due is None or due > count else due - 1
            if quiet:
                self._count_ticks(quiet)
                count -= quiet
            if count:
                self.tick()
                count -= 1

    def _count_ticks(self, count: int) -> None:
        """What ``count`` ticks that act on nothing do: advance the counters."""
        self.ticks += count
        if self.role is Role.LEADER:
            self.heartbeat_elapsed += count
            self.election_elapsed += count
            if self.stepping_down:
                self.step_down_ticks += count
            assert self.heartbeat_elapsed < self.config.heartbeat_ticks
            assert self.election_elapsed < self.config.election_timeout_ticks
        else:
            self.election_elapsed += count
            assert not self.promotable() or self.election_elapsed < self.randomized_election_timeout

    def ticks_until_due(self) -> int | None:
        """How many more ticks may pass before one of them does something (campaign,
        heartbeat, quorum check, step-down); None if no tick ever will (a learner).

        Ticks before that only count, so a host may apply them late, in a batch, as long as
        it applies them before feeding the core any other input.  Inputs only push the
        answer later, except those that change the role (recompute after every input).
        """
        cfg = self.config
        if self.role is Role.LEADER:
            due = min(cfg.heartbeat_ticks - self.heartbeat_elapsed,
                      cfg.election_timeout_ticks - self.election_elapsed)
            if self.stepping_down:
                due = min(due, cfg.election_timeout_ticks - self.step_down_ticks)
            return max(1, due)
        if not self.promotable():
            return None
        return max(1, self.randomized_election_timeout - self.election_elapsed)

    def _tick_election(self) -> None:
        self.election_elapsed += 1
        if self.promotable() and self.election_elapsed >= self.randomized_election_timeout:
            self.election_elapsed = 0
            self.campaign(transfer=False)

    def _tick_heartbeat(self) -> None:
        self.heartbeat_elapsed += 1
        self.election_elapsed += 1
        if self.stepping_down:
            self.step_down_ticks += 1
            if self.step_down_ticks >= self.config.election_timeout_ticks:
                self.become_follower(self.term, None)  # nobody confirmed in time: just leave
                return
        if self.election_elapsed >= self.config.election_timeout_ticks:
            self.election_elapsed = 0
            if self.config.check_quorum and not self._quorum_active():
                self.become_follower(self.term, None)
                return
            self.lead_transferee = None  # a transfer that did not finish in time is abandoned
        if self.heartbeat_elapsed >= self.config.heartbeat_ticks:
            self.heartbeat_elapsed = 0
            self._bcast_heartbeat()

    def _quorum_active(self) -> bool:
        votes: dict[str, bool] = {}
        for node, pr in self.prs.items():
            if node == self.id:
                votes[node] = True
                continue
            if pr.recent_active:
                votes[node] = True
            pr.recent_active = False
        return vote_result(self.conf, votes) is VoteResult.WON

    # ----------------------------------------------------------------- election
    def _conf_pending_apply(self) -> bool:
        """A committed configuration change is not yet applied here."""
        log = self.log
        if log.applied >= log.committed:
            return False
        return any(e.kind is EntryKind.CONF for e in log.slice(log.applied + 1, log.committed + 1))

    def campaign(self, *, transfer: bool) -> None:
        if self.role is Role.LEADER or not self.promotable():
            return
        if self._conf_pending_apply():
            return  # campaign only in the configuration our commit index implies
        if self.config.pre_vote and not transfer:
            self.become_pre_candidate()
            mtype, term = MT.PRE_VOTE, self.term + 1
        else:
            self.become_candidate()
            mtype, term = MT.VOTE, self.term
        self.votes[self.id] = True
        if self._tally() is not VoteResult.PENDING:
            return
        ctx = CAMPAIGN_TRANSFER if transfer else None
        li, lt = self.log.last_index(), self.log.last_term()
        for node in self.conf.all_voters():
            if node != self.id:
                self._send(Message(type=mtype, src=self.id, dst=node, term=term, index=li,
                                   log_term=lt, context=ctx))

    def _tally(self) -> VoteResult:
        res = vote_result(self.conf, self.votes)
        if res is VoteResult.WON:
            if self.role is Role.PRE_CANDIDATE:
                self._real_campaign()
            else:
                self.become_leader()
        elif res is VoteResult.LOST:
            self.become_follower(self.term, None)
        return res

    def _real_campaign(self) -> None:
        self.become_candidate()
        self.votes[self.id] = True
        if self._tally() is not VoteResult.PENDING:
            return
        li, lt = self.log.last_index(), self.log.last_term()
        for node in self.conf.all_voters():
            if node != self.id:
                self._send(Message(type=MT.VOTE, src=self.id, dst=node, term=self.term,
                                   index=li, log_term=lt))

    # --------------------------------------------------------------------- step
    def step(self, m: Message) -> None:
        """Process one message from a peer."""
        t = m.type
        if (t is MT.VOTE or t is MT.PRE_VOTE) and m.src in self.removed:
            return  # a removed member campaigning (it never learnt of its removal): ignore it
        if m.term == 0:
            pass  # forwarded request: carries no term
        elif m.term > self.term:
            if t is MT.VOTE or t is MT.PRE_VOTE:
                force = m.context == CAMPAIGN_TRANSFER
                in_lease = (self.config.check_quorum and self.lead is not None
                            and self.election_elapsed < self.config.election_timeout_ticks)
                if not force and in_lease:
                    return  # we heard from a live leader recently: ignore the disruption
            if t is MT.PRE_VOTE:
                pass
            elif t is MT.PRE_VOTE_RESP and not m.reject:
                pass  # the term we will campaign for, if we win
            elif t is MT.APPEND or t is MT.HEARTBEAT or t is MT.SNAPSHOT:
                self.become_follower(m.term, m.src)
            else:
                self.become_follower(m.term, None)
        elif m.term < self.term:
            if (self.config.check_quorum or self.config.pre_vote) and (
                    t is MT.HEARTBEAT or t is MT.APPEND):
                # Tell a stale leader about the newer term so it steps down.
                self._send(Message(type=MT.APPEND_RESP, src=self.id, dst=m.src, term=self.term))
            elif t is MT.PRE_VOTE:
                self._send(Message(type=MT.PRE_VOTE_RESP, src=self.id, dst=m.src,
                                   term=self.term, reject=True))
            return

        if t is MT.VOTE or t is MT.PRE_VOTE:
            self._handle_vote_request(m)
        elif self.role is Role.LEADER:
            self._step_leader(m)
        elif self.role is Role.FOLLOWER:
            self._step_follower(m)
        else:
            self._step_candidate(m)

    def _handle_vote_request(self, m: Message) -> None:
        pre = m.type is MT.PRE_VOTE
        can_vote = (self.vote == m.src or (self.vote is None and self.lead is None)
                    or (pre and m.term > self.term))
        resp_type = MT.PRE_VOTE_RESP if pre else MT.VOTE_RESP
        if can_vote and self.log.is_up_to_date(m.index, m.log_term):
            self._send(Message(type=resp_type, src=self.id, dst=m.src, term=m.term))
            if not pre:
                self.election_elapsed = 0
                self.vote = m.src
        else:
            self._send(Message(type=resp_type, src=self.id, dst=m.src, term=self.term,
                               reject=True))

    # ------------------------------------------------------------------- leader
    def _step_leader(self, m: Message) -> None:
        t = m.type
        if t is MT.APPEND_RESP:
            pr = self.prs.get(m.src)
            if pr is None:
                return
            pr.recent_active = True
            self._handle_append_resp(m, pr)
        elif t is MT.HEARTBEAT_RESP:
            pr = self.prs.get(m.src)
            if pr is None:
                return
            pr.recent_active = True
            pr.probe_sent = False
            if (pr.state is ProgressState.SNAPSHOT
                    and self.ticks - pr.snapshot_sent_tick >= 2 * self.config.heartbeat_ticks + 2):
                pr.become_probe()  # the snapshot may have been lost: probe again
            elif pr.state is ProgressState.REPLICATE and pr.is_paused():
                pr.become_probe()  # a full window with no acks: appends were probably lost
            if isinstance(m.context, int) and self.conf.is_voter(m.src):
                self._read_ack(m.src, m.context)
                sent = self.step_down_sent.get(m.src)
                if self.stepping_down and sent is not None and m.context >= sent:
                    self._finish_step_down(m.src)
                    return
            if pr.match < self.log.last_index() or pr.match < self.log.committed:
                self._send_append(m.src, pr)
        elif t is MT.PROPOSE:
            try:
                self._leader_append_proposal(list(m.entries), forwarded=True)
            except ProposalDropped:
                pass  # the proposer times out
        elif t is MT.READ_INDEX:
            self._leader_read_index(m.src, m.context)
        elif t is MT.TRANSFER_LEADER:
            self.transfer_leadership(m.context if isinstance(m.context, str) else "")
        # anything else (stale vote responses, ...) is ignored

    def _handle_append_resp(self, m: Message, pr: Progress) -> None:
        if m.reject:
            hint = m.reject_hint
            if m.log_term > 0:
                hint = self.log.find_conflict_by_term(hint, m.log_term)
            if pr.maybe_decr_to(m.index, hint):
                if pr.state is ProgressState.REPLICATE:
                    pr.become_probe()
                    pr.next = max(min(m.index, hint + 1), pr.match + 1)
                self._send_append(m.src, pr)
            return
        old_paused = pr.is_paused()
        if pr.maybe_update(m.index):
            if pr.state is ProgressState.PROBE:
                pr.become_replicate()
            elif pr.state is ProgressState.SNAPSHOT and pr.match >= pr.pending_snapshot:
                pr.become_probe()
                pr.become_replicate()
            if self._maybe_commit():
                pass  # followers learn the new commit index with the next append or heartbeat
            if m.src == self.lead_transferee and pr.match == self.log.last_index():
                self._send(Message(type=MT.TIMEOUT_NOW, src=self.id, dst=m.src, term=self.term))
            while self._send_append(m.src, pr, send_if_empty=False):
                pass
        elif old_paused:
            self._send_append(m.src, pr, send_if_empty=False)

    def _maybe_commit(self) -> bool:
        match = {node: pr.match for node, pr in self.prs.items()}
        idx = committed_index(self.conf, match)
        if idx <= self.log.committed:
            return False
        if "figure8_commit" not in self.bugs and self.log.term(idx) != self.term:
            return False  # only entries of our own term are committed by counting
        first_in_term = self.log.term(self.log.committed) != self.term
        self.log.commit_to(idx)
        if first_in_term and self.log.term(idx) == self.term and self.reads_waiting_commit:
            waiting, self.reads_waiting_commit = self.reads_waiting_commit, []
            for requester, ctx in waiting:
                self._leader_read_index(requester, ctx)
        return True

    def _send_append(self, to: str, pr: Progress, send_if_empty: bool = True) -> bool:
        """Send one append (or the snapshot) to ``to``; returns True if entries were sent."""
        if pr.is_paused() or to == self.id:
            return False
        log = self.log
        prev = pr.next - 1
        prev_term = log.term(prev)
        last = log.last_index()
        if prev_term is None or prev < log.base_index:
            return self._send_snapshot(to, pr)
        try:
            ents = log.slice(pr.next, last + 1, self.config.max_entries_per_msg,
                             self.config.max_bytes_per_msg)
        except LogCompactedError:
            return self._send_snapshot(to, pr)
        if not ents and not send_if_empty:
            return False
        self._send(Message(type=MT.APPEND, src=self.id, dst=to, term=self.term, index=prev,
                           log_term=prev_term, entries=tuple(ents), commit=log.committed))
        pr.sent_entries(prev + len(ents), len(ents))
        return bool(ents)

    def _send_snapshot(self, to: str, pr: Progress) -> bool:
        snap = self.log.snapshot
        assert snap is not None, f"{self.id}: log compacted to {self.log.base_index} but no snapshot"
        if not pr.recent_active:
            return False
        self._send(Message(type=MT.SNAPSHOT, src=self.id, dst=to, term=self.term, snapshot=snap))
        pr.become_snapshot(snap.index, self.ticks)
        return False

    def _bcast_append(self) -> None:
        for node, pr in self.prs.items():
            if node != self.id:
                while self._send_append(node, pr, send_if_empty=False):
                    pass

    def _bcast_heartbeat(self) -> None:
        self.hb_seq += 1
        seq = self.hb_seq
        self.hb_sent_tick.append((seq, self.ticks, self.clock_us))
        self.hb_acks[self.id] = seq
        self.read_hb_needed = False
        commit = self.log.committed
        unmatched = "heartbeat_commit_unmatched" in self.bugs
        for node, pr in self.prs.items():
            if node != self.id:
                hb_commit = min(pr.match, commit)
                # BUG heartbeat_commit_unmatched: the whole commit index, which the follower
                # applies to whatever its log holds up to there.
                self._send(Message(type=MT.HEARTBEAT, src=self.id, dst=node, term=self.term,
                                   commit=commit if unmatched else hb_commit, context=seq))
                if (self.stepping_down and hb_commit >= self.step_down_index
                        and node not in self.step_down_sent and self.conf.is_voter(node)):
                    self.step_down_sent[node] = seq
        self._read_ack(self.id, seq)

    def _read_ack(self, node: str, seq: int) -> None:
        if self.hb_acks.get(node, 0) < seq:
            self.hb_acks[node] = seq
        q = committed_index(self.conf, self.hb_acks)
        if q <= self.hb_quorum_seq:
            return
        self.hb_quorum_seq = q
        sent = self.hb_sent_tick
        while sent and sent[0][0] < q:
            sent.popleft()
        if sent and sent[0][0] == q:
            self.lease_start_tick = sent[0][1]
            self.lease_start_clock_us = sent[0][2]
        reads = self.pending_reads
        while reads and reads[0].seq <= q:
            r = reads.popleft()
            self._deliver_read(r.requester, r.index, r.context)

    def _deliver_read(self, requester: str, index: int, ctx: object) -> None:
        if requester == self.id:
            self.read_states.append(ReadState(index=index, context=ctx))
        else:
            self._send(Message(type=MT.READ_INDEX_RESP, src=self.id, dst=requester,
                               term=self.term, index=index, context=ctx))
            pr = self.prs.get(requester)
            if pr is not None:
                self._send_append(requester, pr)  # carries the commit index it must apply

    def _lease_valid(self) -> bool:
        if self.lead_transferee is not None or self.lease_start_tick is None:
            return False
        if "lease_read_skew" in self.bugs:
            # BUG: the lease is timed on the wall clock, with no drift margin: a clock that
            # runs slow or jumps back stretches it past the followers' election timeout.
            return self.clock_us < self.lease_start_clock_us + self.wall_lease_us
        return self.ticks < self.lease_start_tick + self.config.lease_ticks()

    def _leader_read_index(self, requester: str, ctx: object) -> None:
        commit = self.log.committed
        if "read_without_readindex" in self.bugs:
            self._deliver_read(requester, commit, ctx)
            return
        if self.log.term(commit) != self.term:
            # Not yet committed an entry of our term: our commit index may be stale.
            self.reads_waiting_commit.append((requester, ctx))
            return
        if self.config.read_only == "lease":
            if self._lease_valid():
                self._deliver_read(requester, commit, ctx)
                return
        if len(self.conf.all_voters()) == 1 and self.conf.is_voter(self.id):
            self._deliver_read(requester, commit, ctx)
            return
        self.pending_reads.append(PendingRead(seq=self.hb_seq + 1, index=commit,
                                              requester=requester, context=ctx))
        self.read_hb_needed = True

    def _leader_append_proposal(self, entries: list[Entry], forwarded: bool) -> int:
        if self.stepping_down or (self.leaving_index > self.log.applied
                                  and "leaving_leader_appends" not in self.bugs):
            raise ProposalDropped("the leader is leaving the configuration", None)
        if self.lead_transferee is not None:
            raise ProposalDropped("leadership transfer in progress", self.lead_transferee)
        last = self.log.last_index()
        out: list[Entry] = []
        recent = self.recent_proposals
        for e in entries:
            if e.seq:
                if (e.origin, e.seq) in recent:
                    continue  # a duplicate delivery of a proposal already appended
                recent[(e.origin, e.seq)] = None
                if len(recent) > MAX_RECENT_PROPOSALS:
                    del recent[next(iter(recent))]
            if e.kind is EntryKind.CONF:
                if (self.pending_conf_index > self.log.applied
                        and "no_pending_conf_guard" not in self.bugs):
                    if forwarded:
                        continue
                    raise ConfChangeRefused("a membership change is still pending", self.id)
                self._check_conf_change(e.data)
            last += 1
            out.append(Entry(term=self.term, index=last, kind=e.kind, data=e.data,
                             origin=e.origin, seq=e.seq))
            if e.kind is EntryKind.CONF:
                self.pending_conf_index = last
                if not self.leaving_index and not apply_conf_change(self.conf, e.data).is_voter(self.id):
                    self.leaving_index = last
                    if "leaving_leader_appends" not in self.bugs:
                        break  # the rest of a forwarded batch is dropped; its proposers time out
        self._append_entries(out)
        return last

    def _check_conf_change(self, cc: object) -> None:
        """Refuse a change that is invalid now, or promotes a learner that lags behind."""
        try:
            apply_conf_change(self.conf, cc)
        except ConfChangeError as e:
            raise ConfChangeRefused(str(e), self.id) from None
        changes = cc.changes if isinstance(cc, ConfChangeV2) else (cc,)
        for c in changes:
            assert isinstance(c, ConfChange)
            if c.type is ConfChangeType.ADD_VOTER and self.conf.is_learner(c.node_id):
                lag = self.learner_lag(c.node_id)
                if lag > self.config.promote_max_lag_entries:
                    raise ConfChangeRefused(
                        f"learner {c.node_id} has not caught up: {lag} entries behind the commit "
                        f"index (at most {self.config.promote_max_lag_entries} allowed)", self.id)

    def learner_lag(self, node: str) -> int:
        """How many committed entries ``node`` lacks, as the leader knows (leader only)."""
        pr = self.prs.get(node)
        match = pr.match if pr is not None else 0
        return max(0, self.log.committed - match)

    def _append_entries(self, entries: list[Entry]) -> None:
        if not entries:
            return
        self.log.append(entries)
        pr = self.prs[self.id]
        pr.maybe_update(self.log.last_index())
        self._maybe_commit()
        self.bcast_pending = True  # sent at the next ready(): proposals batch per cycle

    # ---------------------------------------------------------------- follower
    def _step_follower(self, m: Message) -> None:
        t = m.type
        if t is MT.APPEND:
            self.election_elapsed = 0
            self.lead = m.src
            self._handle_append(m)
        elif t is MT.HEARTBEAT:
            self.election_elapsed = 0
            self.lead = m.src
            self.log.commit_to(min(m.commit, self.log.last_index()))
            self._send(Message(type=MT.HEARTBEAT_RESP, src=self.id, dst=m.src, term=self.term,
                               context=m.context))
        elif t is MT.SNAPSHOT:
            self.election_elapsed = 0
            self.lead = m.src
            self._handle_snapshot(m)
        elif t is MT.PROPOSE:
            if self.lead is None:
                return  # dropped
            self._send(m.routed(src=self.id, dst=self.lead))
        elif t is MT.READ_INDEX:
            if self.lead is not None:
                self._send(m.routed(src=self.id, dst=self.lead))
        elif t is MT.READ_INDEX_RESP:
            self.read_states.append(ReadState(index=m.index, context=m.context))
        elif t is MT.TIMEOUT_NOW:
            self.campaign(transfer=True)
        elif t is MT.TRANSFER_LEADER:
            if self.lead is not None:
                self._send(m.routed(src=self.id, dst=self.lead))

    def _handle_append(self, m: Message) -> None:
        log = self.log
        if m.index < log.committed:
            self._send(Message(type=MT.APPEND_RESP, src=self.id, dst=m.src, term=self.term,
                               index=log.committed))
            return
        last_new = log.maybe_append(m.index, m.log_term, m.commit, m.entries,
                                    keep_stale_suffix="no_conflict_truncation" in self.bugs)
        if last_new is not None:
            self._send(Message(type=MT.APPEND_RESP, src=self.id, dst=m.src, term=self.term,
                               index=last_new))
            return
        hint = min(m.index, log.last_index())
        hint = log.find_conflict_by_term(hint, m.log_term)
        hint_term = log.term(hint) or 0
        self._send(Message(type=MT.APPEND_RESP, src=self.id, dst=m.src, term=self.term,
                           index=m.index, reject=True, reject_hint=hint, log_term=hint_term))

    def _handle_snapshot(self, m: Message) -> None:
        snap = m.snapshot
        assert snap is not None
        log = self.log
        # BUG stale_snapshot_install: every snapshot is installed, even a duplicated or
        # delayed one older than what we have (the first two cases).
        unchecked = "stale_snapshot_install" in self.bugs
        if snap.index <= log.committed and not unchecked:
            pass  # older than what we have (a duplicate or delayed snapshot): ignore it
        elif log.match_term(snap.index, snap.term) and not unchecked:
            log.commit_to(snap.index)
        else:
            log.restore(snap)
            self.conf = snap.conf
            self.pending_snapshot = snap
        self._send(Message(type=MT.APPEND_RESP, src=self.id, dst=m.src, term=self.term,
                           index=log.committed))

    # --------------------------------------------------------------- candidate
    def _step_candidate(self, m: Message) -> None:
        t = m.type
        if t is MT.APPEND or t is MT.HEARTBEAT or t is MT.SNAPSHOT:
            self.become_follower(m.term, m.src)  # m.term >= our term: a leader exists
            self._step_follower(m)
        elif (t is MT.PRE_VOTE_RESP and self.role is Role.PRE_CANDIDATE) or (
                t is MT.VOTE_RESP and self.role is Role.CANDIDATE):
            self.votes[m.src] = not m.reject
            self._tally()
        elif t is MT.TIMEOUT_NOW:
            pass
        # PROPOSE / READ_INDEX without a leader: dropped

    # ----------------------------------------------------------------- client API
    def propose(self, data: object, *, origin: str = "", seq: int = 0,
                kind: EntryKind = EntryKind.NORMAL) -> int:
        """Propose ``data``; returns its index if we are the leader, 0 if forwarded.

        Raises :class:`ProposalDropped` if there is no leader to take it.
        """
        entry = Entry(term=0, index=0, kind=kind, data=data, origin=origin, seq=seq)
        if self.role is Role.LEADER:
            return self._leader_append_proposal([entry], forwarded=False)
        if self.lead is None:
            raise ProposalDropped("no leader", None)
        self._send(Message(type=MT.PROPOSE, src=self.id, dst=self.lead, entries=(entry,)))
        return 0

    def propose_conf_change(self, cc: ConfChange | ConfChangeV2, *, origin: str = "", seq: int = 0) -> int:
        if self.role is not Role.LEADER:
            raise ConfChangeRefused("membership changes must be proposed on the leader", self.lead)
        return self.propose(cc, origin=origin, seq=seq, kind=EntryKind.CONF)

    def read_index(self, ctx: object) -> None:
        """Ask for a linearizable read point; the answer comes as a ReadState in a Ready."""
        if self.role is Role.LEADER:
            self._leader_read_index(self.id, ctx)
            return
        if self.lead is None:
            raise ProposalDropped("no leader", None)
        self._send(Message(type=MT.READ_INDEX, src=self.id, dst=self.lead, context=ctx))

    def transfer_leadership(self, to: str) -> None:
        if self.role is not Role.LEADER:
            if self.lead is not None:
                self._send(Message(type=MT.TRANSFER_LEADER, src=self.id, dst=self.lead,
                                   context=to))
            return
        if to == self.id or not self.conf.is_voter(to) or to not in self.prs:
            return
        if self.lead_transferee == to:
            return
        self.lead_transferee = to
        self.election_elapsed = 0
        self.lease_start_tick = None  # the target will ignore our lease
        pr = self.prs[to]
        if pr.match == self.log.last_index():
            self._send(Message(type=MT.TIMEOUT_NOW, src=self.id, dst=to, term=self.term))
        else:
            self._send_append(to, pr)

    def create_snapshot(self, index: int, data: object) -> Snapshot:
        """Record a snapshot of the state machine at ``index`` (== applied) and compact."""
        assert index == self.log.applied, f"snapshot at {index} but applied is {self.log.applied}"
        term = self.log.term(index)
        assert term is not None
        snap = Snapshot(index=index, term=term, conf=self.conf, data=data)
        self.log.snapshot = snap
        self.log.compact(max(self.log.base_index, index - self.config.compaction_keep_entries))
        return snap

    # ------------------------------------------------------------- ready cycle
    def _flush(self) -> None:
        if self.role is not Role.LEADER:
            self.bcast_pending = False
            return
        if self.bcast_pending:
            self.bcast_pending = False
            self._bcast_append()
        if self.read_hb_needed:
            self._bcast_heartbeat()

    def _hard_state(self) -> HardState:
        return HardState(term=self.term, vote=self.vote, commit=self.log.committed)

    def _apply_upper(self) -> int:
        if self._apply_before_durable and self.role is Role.LEADER:
            return self.log.last_index()
        return self.log.committed

    def has_ready(self) -> bool:
        return self.pending() != NOTHING_READY

    def pending(self) -> int:
        """What a ready round would hand out: ``NOTHING_READY``; ``MESSAGES_READY`` when
        it is only outgoing messages (nothing to persist, apply, broadcast or report: the
        host takes them with :meth:`take_messages`, with no :class:`Ready`); else
        ``FULL_READY`` (call :meth:`ready`)."""
        log = self.log
        if self.read_states or self.pending_snapshot is not None or log.stable_index < log.last_index():
            return FULL_READY
        if self._apply_upper() > log.applied:
            return FULL_READY
        if (self.read_hb_needed or self.bcast_pending) and self.role is Role.LEADER:
            return FULL_READY
        p = self._prev_hs
        if p.term != self.term or p.vote != self.vote or p.commit != log.committed:
            return FULL_READY
        s = self._prev_soft
        if s.role is not self.role or s.leader != self.lead or s.term != self.term:
            return FULL_READY
        return MESSAGES_READY if self.msgs else NOTHING_READY

    def take_messages(self) -> list[Message]:
        """The outgoing messages, when :meth:`pending` says ``MESSAGES_READY``: a ready
        round with nothing but messages, advanced at once."""
        assert not self._ready_in_flight, "take_messages() during a ready round"
        self._flush()  # sends nothing here: pending() saw no broadcast due
        msgs, self.msgs = self.msgs, []
        self._maybe_auto_leave()
        return msgs

    def ready(self) -> Ready:
        assert not self._ready_in_flight, "ready() called twice without advance()"
        self._flush()
        log = self.log
        ps = self._prev_soft
        soft_out = None
        if ps.role is not self.role or ps.leader != self.lead or ps.term != self.term:
            soft_out = SoftState(role=self.role, leader=self.lead, term=self.term)
        p = self._prev_hs
        hs_out = None
        if p.term != self.term or p.vote != self.vote or p.commit != log.committed:
            hs_out = self._hard_state()
        entries = tuple(log.unstable_entries()) if log.stable_index < log.last_index() else ()
        must_sync = bool(entries) or p.term != self.term or p.vote != self.vote
        committed: tuple[Entry, ...] = ()
        if self.pending_snapshot is None:
            upper = self._apply_upper()
            if upper > log.applied:
                committed = tuple(log.slice(log.applied + 1, upper + 1))
        if committed and any(e.kind is EntryKind.CONF for e in committed):
            # A configuration is applied only once the commit index covering it is durable:
            # a restarted member comes back in the configuration it last used.
            must_sync = True
        msgs = tuple(self.msgs)
        self.msgs = []
        reads = tuple(self.read_states)
        self.read_states = []
        self._ready_in_flight = True
        return Ready(soft_state=soft_out, hard_state=hs_out, entries=entries,
                     snapshot=self.pending_snapshot, messages=msgs, committed_entries=committed,
                     read_states=reads, must_sync=must_sync)

    def advance(self, rd: Ready) -> None:
        """The host has done everything ``rd`` asked for."""
        assert self._ready_in_flight, "advance() without ready()"
        self._ready_in_flight = False
        log = self.log
        if rd.soft_state is not None:
            self._prev_soft = rd.soft_state
        if rd.hard_state is not None:
            self._prev_hs = rd.hard_state
        if rd.snapshot is not None:
            if self.pending_snapshot is rd.snapshot:
                self.pending_snapshot = None
            log.applied = max(log.applied, rd.snapshot.index)
        if rd.entries:
            log.stable_to(rd.entries[-1].index)
        if rd.committed_entries:
            for e in rd.committed_entries:
                if e.kind is EntryKind.CONF:
                    self._apply_conf_change(e.data)
            log.applied = max(log.applied, rd.committed_entries[-1].index)
        self._maybe_auto_leave()

    # -------------------------------------------------------------- membership
    def _apply_conf_change(self, cc: object) -> None:
        old = self.conf
        try:
            new = apply_conf_change(old, cc)
        except ConfChangeError:
            # Every member applies the same prefix to the same configuration, so every
            # member ignores the same change: configurations never diverge.
            self.conf_changes_ignored += 1
            return
        self.conf = new
        members = new.members()
        for n in old.members():
            if n not in members:
                self.removed.add(n)
        self.removed.difference_update(members)
        if self.role is not Role.LEADER:
            return
        if not new.is_voter(self.id) and not self.stepping_down:
            # Removed (or demoted): we led until the change committed.  Keep leading (no
            # new proposals) until a voter of the new configuration has heard the commit
            # index that covers the change, then hand over to it; otherwise the others
            # could be left campaigning in the old configuration, needing us.
            self.stepping_down = True
            self.step_down_index = self.log.committed
            self.step_down_ticks = 0
            self.read_hb_needed = True
        for n in list(self.prs):
            if n not in members and n != self.id:
                del self.prs[n]
                self.hb_acks.pop(n, None)
        for n in members:
            if n not in self.prs:
                pr = Progress(next_index=self.log.last_index() + 1,
                              max_inflight=self.config.max_inflight_msgs)
                pr.recent_active = True
                self.prs[n] = pr
                self._send_append(n, pr)
        if self.lead_transferee is not None and self.lead_transferee not in members:
            self.lead_transferee = None
        if self._maybe_commit():
            self._bcast_append()

    def _finish_step_down(self, target: str) -> None:
        """``target`` (a voter of the new configuration) knows the change is committed."""
        term = self.term
        pr = self.prs.get(target)
        caught_up = pr is not None and pr.match == self.log.last_index()
        self.become_follower(term, None)
        if caught_up:
            self._send(Message(type=MT.TIMEOUT_NOW, src=self.id, dst=target, term=term))

    def _maybe_auto_leave(self) -> None:
        """A leader in an auto-leave joint configuration leaves it once nothing is pending."""
        if (self.role is Role.LEADER and self.conf.joint and self.conf.auto_leave
                and self.pending_conf_index <= self.log.applied and self.lead_transferee is None):
            self._leader_append_proposal(
                [Entry(term=0, index=0, kind=EntryKind.CONF, data=ConfChangeV2())], forwarded=False)
