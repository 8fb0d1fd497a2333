"""The "raft" system: a bare Raft cluster (RaftMember actors) with register clients.

Members run :class:`raftkv.raft.RaftMember` (a tiny key -> value state machine on
:class:`raftkv.raft.host.RaftHost`).  Each client is a Jepsen-style process with one
operation at a time: it writes unique values or reads keys, follows leader hints,
and records its operations; a timed-out write is recorded as ``info`` (it may yet
apply).  Membership faults go through :class:`RaftMembership`: fresh members join with
an empty disk, changes are proposed on the leader (retried briefly, as an operator
would), removed members are stopped once the removal is applied.  Besides the continuous Raft safety checks, the history is checked for
linearizability against the multi-key register model.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from typing import Any

from raftkv.check import (
    History,
    HistoryBuilder,
    HistoryEvent,
    KVModel,
    check_linearizable,
    render_html,
)
from raftkv.env import Env
from raftkv.raft import ClusterConfig, RaftConfig, RaftHost
from raftkv.raft.host import NotLeader, ProposalError, Refused
from raftkv.raft.member import Propose, ProposeReply, RaftMember, Read, ReadReply

from .faults import MembershipControl
from .membership import MembershipFrontend
from .run import SYSTEM_BUILDERS, Violation, checks
from .safety import SafetyChecker
from .scenario import Scenario, client_names, member_names
from .world import World

__all__ = ["RaftClient", "RaftMembership", "RaftSystem"]

LINEARIZABILITY_BUDGET_STEPS = 2_000_000
# How long a membership change is retried (no leader, another change pending, a learner
# still catching up) before it is given up and recorded as skipped.
MEMBERSHIP_RETRY_PERIOD_US = 2_000
# A removed member is stopped when it applies its own removal, or after this long.
REMOVAL_GRACE_US = 1_000_000
# Refusals worth retrying: they go away by themselves.
_RETRYABLE_REFUSALS = ("pending", "not caught up", "joint")


class RaftClient:
    """One process: a read or a write at a time, with a timeout.

    Like a Jepsen client, each process talks to its own member (``home``), which
    forwards proposals and ReadIndex requests to the leader; so a client next to a
    deposed or isolated leader keeps asking it, which is where stale reads show.
    """

    def __init__(self, env: Env, members: tuple[str, ...], home: str, keys: int, period_us: int,
                 timeout_us: int, history: HistoryBuilder, write_share: float = 0.5) -> None:
        assert 0.0 <= write_share <= 1.0, write_share
        self.env = env
        self.members = members
        self.write_share = write_share
        self.home = home
        self.keys = tuple(f"k{i}" for i in range(keys))
        self.period_us = period_us
        self.timeout_us = timeout_us
        self.history = history
        self.req_id = 0
        self.pending: tuple[int, str, str, Any] | None = None  # (req_id, f, key, value)
        self.pending_since_us = 0
        self.quiesced = False
        self.writes = 0

    def on_start(self) -> None:
        self.env.set_timer(self.env.rng.randint(1, self.period_us), "next")

    def _target(self) -> str:
        return self.home

    def _invoke(self) -> None:
        rng = self.env.rng
        self.req_id += 1
        key = rng.choice(self.keys)
        if rng.random() < self.write_share:
            self.writes += 1
            value = f"{self.env.node_id}.{self.writes}"
            self.pending = (self.req_id, "put", key, value)
            self.history.invoke(self.env.node_id, "put", key, value, time_us=self.env.now_us())
            self.env.send(self._target(), Propose(req_id=self.req_id, key=key, value=value))
        else:
            self.pending = (self.req_id, "get", key, None)
            self.history.invoke(self.env.node_id, "get", key, None, time_us=self.env.now_us())
            self.env.send(self._target(), Read(req_id=self.req_id, key=key))
        self.pending_since_us = self.env.now_us()
        self.env.set_timer(self.timeout_us, ("timeout", self.req_id))

    def _complete(self, outcome: str, value: Any = None) -> None:
        assert self.pending is not None
        _req, f, key, sent = self.pending
        now = self.env.now_us()
        if outcome == "ok":
            self.history.ok(self.env.node_id, f, key, value if f == "get" else sent, time_us=now)
        elif outcome == "fail":
            self.history.fail(self.env.node_id, f, key, sent, time_us=now)
        else:
            self.history.info(self.env.node_id, f, key, sent, time_us=now)
        self.pending = None
        if not self.quiesced:
            self.env.set_timer(self.env.rng.randint(1, self.period_us), "next")

    def on_timer(self, tag: Hashable) -> None:
        if tag == "next":
            if self.pending is None and not self.quiesced:
                self._invoke()
        elif isinstance(tag, tuple) and self.pending is not None and tag[1] == self.pending[0]:
            # A read that timed out changed nothing: it failed.  A write may yet apply.
            self._complete("fail" if self.pending[1] == "get" else "info")

    def on_message(self, src: str, msg: Any) -> None:
        if not isinstance(msg, ProposeReply | ReadReply) or self.pending is None \
                or msg.req_id != self.pending[0]:
            return
        if msg.ok:
            self._complete("ok", msg.value if isinstance(msg, ReadReply) else None)
            return
        if isinstance(msg.error, NotLeader):
            self._complete("fail")  # definitely not applied: there was no leader to take it
        else:
            self._complete("fail" if isinstance(msg, ReadReply) else "info")


class RaftMembership(MembershipFrontend):
    """:class:`~raftkv.sim.faults.MembershipControl` for the bare Raft cluster."""

    def __init__(self, system: RaftSystem) -> None:
        self.system = system
        self.world = system.world
        self.done: list[tuple[str, str]] = []  # (op, node) in the order they applied
        self._last_refusal: dict[tuple[str, str], str] = {}

    def _members(self) -> tuple[str, ...]:
        return self.system.members

    def _start_member(self, node: str) -> None:
        sys_ = self.system
        self.world.add_node(node, sys_.member_factory(join=True))
        sys_.members = (*sys_.members, node)

    # -- proposing with retries ---------------------------------------------------
    def _attempt(self, op: str, node: str, deadline_us: int) -> None:
        world = self.world
        if op != "add_learner" and op != "add_voter" and node not in self.system.members:
            world.record("membership_skipped", op=op, node=node, why="no longer a member")
            return
        leader = self.system.leader()
        if leader is None:
            self._retry(op, node, deadline_us, "no leader")
            return
        host = self.system.host(leader)

        def done(result: object) -> None:
            self._done(op, node, deadline_us, result)

        if op == "add_learner" or op == "add_voter":
            host.add_member(node, learner=op == "add_learner", on_done=done)
        elif op == "promote":
            host.promote_member(node, done)
        elif op == "demote":
            host.demote_member(node, done)
        else:
            host.remove_member(node, done)

    def _retry(self, op: str, node: str, deadline_us: int, why: str) -> None:
        world = self.world
        if world.now_us + MEMBERSHIP_RETRY_PERIOD_US > deadline_us:
            world.record("membership_skipped", op=op, node=node, why=why)
            return
        world.schedule(world.now_us + MEMBERSHIP_RETRY_PERIOD_US,
                       lambda: self._attempt(op, node, deadline_us))

    def _done(self, op: str, node: str, deadline_us: int, result: object) -> None:
        world = self.world
        if not isinstance(result, ProposalError):
            world.record("membership_done", op=op, node=node)
            self.done.append((op, node))
            if op == "remove":
                self._stop_removed(node, world.now_us + REMOVAL_GRACE_US)
            return
        if isinstance(result, Refused):
            if not any(why in result.reason for why in _RETRYABLE_REFUSALS):
                world.record("membership_skipped", op=op, node=node, why=result.reason)
                return
            if self._last_refusal.get((op, node)) != result.reason:
                self._last_refusal[(op, node)] = result.reason
                world.record("membership_refused", op=op, node=node, why=result.reason)
            self._retry(op, node, deadline_us, result.reason)
            return
        # NotLeader, Dropped, OutcomeUnknown: try again (a duplicate is refused as "already").
        self._retry(op, node, deadline_us, type(result).__name__)

    def _host_of(self, name: str) -> RaftHost | None:
        actor = self.world.actor(name)
        if isinstance(actor, RaftMember) and actor.raft_host.raft is not None:
            return actor.raft_host
        return None

    def _stop_removed(self, node: str, grace_until_us: int) -> None:
        world = self.world
        sys_ = self.system
        if node not in world.nodes:
            return
        actor = world.actor(node)
        knows = isinstance(actor, RaftMember) and actor.raft_host.raft is not None and \
            node not in actor.raft_host.cluster.members() and not actor.raft_host.is_leader
        # Until a remaining voter has applied the removal, the remaining voters may still
        # need the removed member's vote (the leader committed the removal, then was cut
        # off before telling anyone): stopping it then would leave them without a quorum.
        others_know = False
        for other in sys_.members:
            host = self._host_of(other) if other != node else None
            if host is not None and host.cluster.is_voter(other) and node not in host.cluster.members():
                others_know = True
                break
        if not others_know or (actor is not None and not knows and world.now_us < grace_until_us):
            world.schedule(world.now_us + 10_000, lambda: self._stop_removed(node, grace_until_us))
            return
        world.remove_node(node)
        sys_.members = tuple(m for m in sys_.members if m != node)
        sys_.rehome_clients()


class RaftSystem:
    membership: MembershipControl | None = None

    def __init__(self, scenario: Scenario, world: World) -> None:
        self.scenario = scenario
        self.world = world
        c = scenario.cluster
        self.members = member_names(c.members)
        self.clients = client_names(scenario.workload.clients)
        self.config = RaftConfig(
            election_timeout_ticks=c.election_timeout_ticks, heartbeat_ticks=c.heartbeat_ticks,
            pre_vote=c.pre_vote, check_quorum=c.check_quorum, read_only=c.read_only,
            snapshot_interval_entries=c.snapshot_interval_entries,
            max_entries_per_msg=c.max_entries_per_msg,
        max_clock_drift_ppm=c.max_clock_drift_ppm,
            compaction_keep_entries=min(100, c.snapshot_interval_entries),
            bugs=frozenset(scenario.bugs))
        self.recorder = HistoryBuilder()
        self.safety: SafetyChecker | None = None
        self._lin: Any = None
        # The voters at index 0; ``members`` is who runs now (fresh members join, removed leave).
        self.bootstrap = self.members
        self.membership = RaftMembership(self)

    def member_factory(self, join: bool = False) -> Any:
        bootstrap, config, tick_us = self.bootstrap, self.config, self.scenario.cluster.tick_us
        return lambda env: RaftMember(env, bootstrap, config, tick_us, join=join)

    def start(self) -> None:
        self.safety = SafetyChecker(self.world)
        for name in self.members:
            self.world.add_node(name, self.member_factory())
        w = self.scenario.workload
        clients = max(1, len(self.clients))
        period_us = max(1_000, 2 * clients * 1_000_000 // max(1, w.ops_per_s))
        n = len(self.members)
        for i, name in enumerate(self.clients):
            home = self.members[i % n]
            # Each member gets writers first, then readers: a reader next to a deposed
            # leader is free to read whenever the leader is cut off.
            share = 0.8 if (i // n) % 2 == 0 else 0.2
            self.world.add_node(name, lambda env, home=home, share=share: RaftClient(  # type: ignore[misc]
                env, self.members, home, w.keys, period_us, w.op_timeout_us, self.recorder, share),
                client=True)

    def rehome_clients(self) -> None:
        """A client whose home member was removed picks another member."""
        members = self.members
        for i, client in enumerate(self._clients()):
            if client.home not in members and members:
                client.home = members[i % len(members)]

    def _clients(self) -> list[RaftClient]:
        out = []
        for name in self.clients:
            actor = self.world.actor(name)
            if isinstance(actor, RaftClient):
                out.append(actor)
        return out

    def _leaders(self) -> list[str]:
        """Members that lead and are voters of the configuration they lead."""
        out = []
        for name in self.members:
            actor = self.world.actor(name)
            if isinstance(actor, RaftMember) and actor.raft_host.is_leader \
                    and actor.raft_host.cluster.is_voter(name):
                out.append(name)
        return out

    def configuration(self) -> ClusterConfig | None:
        """The configuration the current leader has applied, if there is a leader."""
        leader = self.leader()
        return self.host(leader).cluster if leader is not None else None

    def leader(self) -> str | None:
        leaders = self._leaders()
        if not leaders:
            return None
        # Several members may think they lead (an old leader not yet deposed): the newest term wins.
        return max(leaders, key=lambda n: (self._host(n).term, n))

    def host(self, name: str) -> RaftHost:
        return self._host(name)

    def _host(self, name: str) -> RaftHost:
        actor = self.world.actor(name)
        assert isinstance(actor, RaftMember)
        return actor.raft_host

    def quiesce(self) -> None:
        for client in self._clients():
            client.quiesced = True

    def is_live(self) -> bool:
        return bool(self._leaders()) and all(c.pending is None for c in self._clients())

    def liveness_report(self) -> str:
        pending = [f"{c.env.node_id}:{c.pending[1]}" for c in self._clients() if c.pending is not None]
        return f"leaders {self._leaders() or 'none'}, pending {pending or 'none'}"

    def history(self) -> History:
        return self.recorder.history()

    def _check_lin(self) -> Any:
        if self._lin is None:
            self._lin = check_linearizable(self.recorder.history(), KVModel(),
                                           max_steps=LINEARIZABILITY_BUDGET_STEPS)
        return self._lin

    def check(self, properties: Sequence[str] | None = None) -> list[Violation]:
        if not checks(properties, "linearizability"):
            return []
        result = self._check_lin()
        if result.verdict == "fail":
            return [Violation(property="linearizability", message=result.explanation,
                              time_us=result.failure_time_us())]
        return []

    def write_html(self, path: str, headline: str | None = None, headline_detail: str = "") -> bool:
        render_html(self.recorder.history(), self._check_lin(), path, model=KVModel(), headline=headline,
                    headline_detail=headline_detail)
        return True

    def summary(self) -> dict[str, Any]:
        counts = {t: 0 for t in ("ok", "fail", "info")}
        for record in self.recorder.records:
            if isinstance(record, HistoryEvent) and record.type in counts:
                counts[record.type] += 1
        conf = self.configuration()
        return {"client ops": " ".join(f"{k}={v}" for k, v in counts.items()),
                "leaders now": ", ".join(self._leaders()) or "none",
                "configuration": conf.describe() if conf is not None else "unknown",
                "membership changes": ", ".join(f"{op} {n}" for op, n in self.membership_done()) or "none"}

    def membership_done(self) -> list[tuple[str, str]]:
        return list(self.membership.done) if isinstance(self.membership, RaftMembership) else []


SYSTEM_BUILDERS["raft"] = RaftSystem
