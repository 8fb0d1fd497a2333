"""The "kv" system: an etcd-like cluster (KVServer members) with workload clients.

Members ``n1..nN`` run :class:`raftkv.kv.server.KVServer` (Raft settings from the
scenario's :class:`ClusterSpec`, the scenario's bugs passed to Raft, store and
clients); clients ``c1..cM`` run :class:`raftkv.client.WorkloadClient`, all recording
into one shared history (the simulator runs in one process, so recording order is
real-time order).  Checked after the run: linearizability (etcd model, with a step
budget: an ``unknown`` verdict is not a violation), etcd's watch guarantees and the
lease guarantees (told when lease clocks restarted: leader changes, resumed members);
the continuous Raft safety checker runs during the run.

Membership faults go through :class:`KVMembership`, the way an operator uses etcd's
member API: a fresh member starts with ``join=True`` and an empty disk, the change is
sent to the current leader's member API (retried briefly on no leader, a pending
change or a learner still catching up; other refusals are recorded as
``membership_skipped``), a removed member is stopped once it knows it was removed, and
the clients are told the new member list.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from typing import Any

from raftkv.check import (
    EtcdModel,
    HistoryBuilder,
    LinearizabilityResult,
    check_leases,
    check_linearizable,
    check_revision_order,
    check_watches,
    make_history,
    render_html,
)
from raftkv.check.history import History, HistoryEvent
from raftkv.client import WorkloadClient, WorkloadParams
from raftkv.client.client import Client, ClientConfig, Result
from raftkv.env import Env
from raftkv.kv import ErrNoLeader, ErrTimeout, KVError, RangeRequest
from raftkv.kv.members import (
    ErrLearnerNotReady,
    ErrMemberChangePending,
    ErrMemberChangeRefused,
    ErrMemberExist,
    ErrMemberNotFound,
    ErrMemberNotLearner,
    MemberAddRequest,
    MemberPromoteRequest,
    MemberRemoveRequest,
)
from raftkv.kv.protocol import ErrNotLeader
from raftkv.kv.server import KVServer, ServerConfig
from raftkv.raft import ClusterConfig, RaftConfig

from .faults import MembershipControl
from .membership import MembershipFrontend
from .network import Latency
from .run import SYSTEM_BUILDERS, Violation, checks
from .safety import SafetyChecker
from .scenario import Scenario, client_names, member_names
from .trace import TraceEvent
from .world import World

__all__ = ["ClientActor", "KVCluster", "KVMembership", "KVSystem", "LINEARIZABILITY_BUDGET_STEPS"]

LINEARIZABILITY_BUDGET_STEPS = 2_000_000
# How long a membership change is retried (no leader, another change pending, a learner
# still catching up) before it is given up and recorded as skipped.
MEMBERSHIP_RETRY_PERIOD_US = 2_000
# A removed member is stopped when it has applied its own removal, or after this long.
REMOVAL_GRACE_US = 1_000_000
# Trace events after which a quorum lost to faults may be back (a member restarted or
# resumed, cuts removed or changed, the network or the configuration changed).
_QUORUM_MAY_RETURN = frozenset({"restart", "resume", "heal", "partition", "network", "raft.conf_applied"})


def raft_config_for(scenario: Scenario) -> RaftConfig:
    c = scenario.cluster
    return RaftConfig(
        election_timeout_ticks=c.election_timeout_ticks, heartbeat_ticks=c.heartbeat_ticks,
        pre_vote=c.pre_vote, check_quorum=c.check_quorum, read_only=c.read_only,
        snapshot_interval_entries=c.snapshot_interval_entries,
        compaction_keep_entries=min(100, c.snapshot_interval_entries),
        max_entries_per_msg=c.max_entries_per_msg,
        max_clock_drift_ppm=c.max_clock_drift_ppm,
        bugs=frozenset(scenario.bugs))


class KVMembership(MembershipFrontend):
    """:class:`~raftkv.sim.faults.MembershipControl` for the kv system (see the module
    docstring); ``done`` lists the changes that applied, in order."""

    def __init__(self, system: KVSystem) -> None:
        self.system = system
        self.world = system.world
        self.done: list[tuple[str, str]] = []  # (op, node)
        self._last_refusal: dict[tuple[str, str], str] = {}
        # (op, node) -> an attempt's outcome was unknown (it may have applied)
        self._unknown: dict[tuple[str, str], bool] = {}

    def _members(self) -> tuple[str, ...]:
        return self.system.members

    def _start_member(self, node: str) -> None:
        self.system.start_member(node)

    # -- proposing with retries ---------------------------------------------------
    def _attempt(self, op: str, node: str, deadline_us: int) -> None:
        if node not in self.system.members:
            self.world.record("membership_skipped", op=op, node=node, why="no longer a member")
            return
        leader = self.system.leader()
        if leader is None:
            self._retry(op, node, deadline_us, "no leader")
            return
        if op == "demote":
            self.world.record("membership_skipped", op=op, node=node,
                              why="etcd's member API cannot demote a voter")
            return
        server = self.system.server(leader)
        if op in ("add_learner", "add_voter"):
            req: object = MemberAddRequest(name=node, is_learner=op == "add_learner")
        elif op == "promote":
            req = MemberPromoteRequest(name=node)
        else:
            req = MemberRemoveRequest(name=node)
        server.change_members(req, lambda result: self._done(op, node, deadline_us, result))

    def _retry(self, op: str, node: str, deadline_us: int, why: str) -> None:
        world = self.world
        if world.now_us + MEMBERSHIP_RETRY_PERIOD_US > deadline_us:
            self._unknown.pop((op, node), None)
            world.record("membership_skipped", op=op, node=node, why=why)
            return
        world.schedule(world.now_us + MEMBERSHIP_RETRY_PERIOD_US,
                       lambda: self._attempt(op, node, deadline_us))

    def _already(self, op: str, node: str, err: KVError) -> bool:
        """A refusal saying the change is in place already: an earlier attempt whose
        outcome was unknown did apply."""
        conf = self.system.configuration()
        if conf is None or not self._unknown.get((op, node)):
            return False
        if op == "add_learner":
            return isinstance(err, ErrMemberExist) and conf.is_learner(node)
        if op == "add_voter" or op == "promote":
            return isinstance(err, ErrMemberExist | ErrMemberNotLearner) and node in conf.voters \
                and not conf.joint
        return isinstance(err, ErrMemberNotFound) and node not in conf.members()

    def _done(self, op: str, node: str, deadline_us: int, result: object) -> None:
        world = self.world
        if not isinstance(result, KVError) or self._already(op, node, result):
            self._unknown.pop((op, node), None)
            world.record("membership_done", op=op, node=node)
            self.done.append((op, node))
            if op == "remove":
                self._stop_removed(node, world.now_us + REMOVAL_GRACE_US)
            else:
                self.system.update_clients()
            return
        if isinstance(result, ErrMemberChangePending | ErrLearnerNotReady) or (
                isinstance(result, ErrMemberChangeRefused) and "joint" in result.reason):
            why = f"{result} {result.details}" if result.details else str(result)
            if self._last_refusal.get((op, node)) != why:
                self._last_refusal[(op, node)] = why
                world.record("membership_refused", op=op, node=node, why=why)
            self._retry(op, node, deadline_us, why)
            return
        if isinstance(result, ErrNotLeader | ErrNoLeader | ErrTimeout):
            # not applied (or unknown): try again; a duplicate is refused as "already"
            if isinstance(result, ErrTimeout):
                self._unknown[(op, node)] = True
            self._retry(op, node, deadline_us, type(result).__name__)
            return
        self._unknown.pop((op, node), None)
        why = f"{result} {result.details}" if result.details else str(result)
        world.record("membership_skipped", op=op, node=node, why=why)

    def _stop_removed(self, node: str, grace_until_us: int) -> None:
        world = self.world
        if node not in world.nodes:
            return
        actor = world.actor(node)
        knows = isinstance(actor, KVServer) and node not in actor.configuration.members() \
            and not actor.is_leader
        # Until a remaining voter has applied the removal, the remaining voters may still
        # need the removed member's vote (the leader committed the removal, then was cut
        # off before telling anyone): stopping it then would leave them without a quorum.
        others_know = any(s.env.node_id != node and s.configuration.is_voter(s.env.node_id)
                          and node not in s.configuration.members() for s in self.system.servers())
        if not others_know or (actor is not None and not knows and world.now_us < grace_until_us):
            world.schedule(world.now_us + 10_000, lambda: self._stop_removed(node, grace_until_us))
            return
        self.system.stop_member(node)


class KVSystem:
    membership: MembershipControl | None = None

    def __init__(self, scenario: Scenario, world: World) -> None:
        self.scenario = scenario
        self.world = world
        # ``bootstrap``: the voters at index 0, passed to every member; ``members``: the
        # member processes running now (fresh ones join, removed ones leave)
        self.bootstrap = member_names(scenario.cluster.members)
        self.members = self.bootstrap
        self._joining: list[str] = []  # started, but their addition has not applied yet
        self.clients = client_names(scenario.workload.clients)
        self.bugs = frozenset(scenario.bugs)
        self.raft_config = raft_config_for(scenario)
        c, w = scenario.cluster, scenario.workload
        election_us = c.election_timeout_ticks * c.tick_us
        self.server_config = ServerConfig(
            request_timeout_us=max(c.tick_us, w.op_timeout_us * 4 // 5),
            lease_check_interval_us=max(c.tick_us, min(100_000, election_us)))
        self.client_config = ClientConfig(
            op_timeout_us=w.op_timeout_us, retry_backoff_us=max(1_000, election_us // 2),
            watch_session_timeout_us=max(w.op_timeout_us, 4 * election_us))
        per_client = w.ops_per_s / max(1, w.clients)
        self.params = WorkloadParams(ops_per_s=max(per_client, 1e-3), keys=w.keys, mix=w.mix,
                                     op_timeout_us=w.op_timeout_us, lease_ttl_s=w.lease_ttl_s)
        self.recorder = HistoryBuilder()
        self.safety: SafetyChecker | None = None
        self._history: History | None = None
        self._lin: LinearizabilityResult | None = None
        self.lease_resets_us: list[int] = []
        self.quorum_regained_us: list[int] = []
        world.subscribe(self._on_trace)
        self.membership = KVMembership(self)

    # ------------------------------------------------------------------ building
    def _server(self, env: Env, *, join: bool = False) -> KVServer:
        return KVServer(env, self.bootstrap, self.raft_config, self.scenario.cluster.tick_us,
                        config=self.server_config, bugs=self.bugs, join=join)

    def _client(self, env: Env) -> WorkloadClient:
        return WorkloadClient(env, self.client_members(), self.params, self.recorder, bugs=self.bugs,
                              client_config=self.client_config)

    def start_member(self, name: str) -> None:
        """Start a fresh member (empty disk, ``join=True``); it serves once added."""
        self.world.add_node(name, lambda env: self._server(env, join=True))
        self.members = (*self.members, name)
        self._joining.append(name)

    def stop_member(self, name: str) -> None:
        """Take a removed member out of the world for good, and out of the clients' lists."""
        self.world.remove_node(name)
        self.members = tuple(m for m in self.members if m != name)
        self._joining = [m for m in self._joining if m != name]
        self.update_clients()

    def client_members(self) -> tuple[str, ...]:
        """The members clients talk to: every running member whose addition applied."""
        return tuple(m for m in self.members if m not in self._joining)

    def update_clients(self) -> None:
        """Tell every client the current member list (after a change applied)."""
        conf = self.configuration()
        if conf is not None:
            self._joining = [m for m in self._joining if m not in conf.members()]
        members = self.client_members()
        if not members:
            return
        for c in self.workload_clients():
            c.client.set_members(members)

    def start(self) -> None:
        self.safety = SafetyChecker(self.world)
        for name in self.members:
            self.world.add_node(name, self._server)
        if self.scenario.workload.ops_per_s > 0:
            for name in self.clients:
                self.world.add_node(name, self._client, client=True)

    # ------------------------------------------------------------------ inspection
    def servers(self) -> list[KVServer]:
        out = []
        for name in self.members:
            actor = self.world.actor(name)
            if isinstance(actor, KVServer):
                out.append(actor)
        return out

    def workload_clients(self) -> list[WorkloadClient]:
        out = []
        for name in self.clients:
            actor = self.world.actor(name)
            if isinstance(actor, WorkloadClient):
                out.append(actor)
        return out

    def leaders(self) -> list[str]:
        return [s.env.node_id for s in self.servers() if s.is_leader]

    def leader(self) -> str | None:
        """The leader of the newest term (an old leader may not know it was deposed yet)
        among members that lead and are voters of the configuration they lead."""
        leaders = [s for s in self.servers() if s.is_leader and s.configuration.is_voter(s.env.node_id)]
        if not leaders:
            return None
        return max(leaders, key=lambda s: (s.raft_host.term, s.env.node_id)).env.node_id

    def server(self, name: str) -> KVServer:
        actor = self.world.actor(name)
        assert isinstance(actor, KVServer), f"{name} is not a running member"
        return actor

    def leader_kvs(self, key: bytes, range_end: bytes) -> dict[bytes, bytes] | None:
        """What the leader has applied in ``[key, range_end)`` (None without a leader):
        for checks of systems built on the store."""
        leader = self.leader()
        if leader is None:
            return None
        resp = self.server(leader).store.range(RangeRequest(key=key, range_end=range_end))
        return {kv.key: kv.value for kv in resp.kvs}

    def configuration(self) -> ClusterConfig | None:
        """The configuration the current leader has applied, if there is a leader."""
        leader = self.leader()
        return self.server(leader).configuration if leader is not None else None

    def membership_done(self) -> list[tuple[str, str]]:
        return list(self.membership.done) if isinstance(self.membership, KVMembership) else []

    # ------------------------------------------------------------------ System
    def quiesce(self) -> None:
        for c in self.workload_clients():
            c.quiesce()

    def is_live(self) -> bool:
        """A leader that is a voter of its configuration, and no client waiting."""
        if self.leader() is None:
            return False
        return all(not c.pending for c in self.workload_clients())

    def liveness_report(self) -> str:
        pending = [f"{c.env.node_id}({c.client.pending_ops} op)" for c in self.workload_clients()
                   if c.pending]
        roles = ", ".join(f"{s.env.node_id}:term {s.raft_host.term} "
                          f"{'leader' if s.is_leader else 'leader=' + str(s.leader_id)}"
                          for s in self.servers())
        return f"members [{roles}]; leaders {self.leaders() or 'none'}; pending {pending or 'none'}"

    def history(self) -> History:
        """The client history so far (the checks use the one of the finished run)."""
        return make_history(self.recorder.records)

    def _hist(self) -> History:
        if self._history is None:
            self._history = make_history(self.recorder.records)
        return self._history

    def _check_lin(self) -> LinearizabilityResult:
        if self._lin is None:
            self._lin = check_linearizable(self._hist(), EtcdModel(),
                                           max_steps=LINEARIZABILITY_BUDGET_STEPS)
        return self._lin

    def lease_grace_us(self) -> int:
        """How long after a lease surely ran out (by the history alone) its keys may still
        be seen: the leader's expiry sweep, two election timeouts for the revoke to
        commit, and scheduling slack.  (Clock drift is the checker's ``clock_drift_ppm``.)"""
        c = self.scenario.cluster
        election_us = c.election_timeout_ticks * c.tick_us
        return 2 * election_us + self.server_config.lease_check_interval_us + 200_000

    def clock_drift_ppm(self) -> int:
        """The fastest or slowest any member's clock ran in this run (its clock faults):
        leases, timed on the leader's clock, stretch or shrink by that much."""
        return max((abs(f.drift_ppm) for f in self.scenario.faults if f.kind == "clock"), default=0)

    def _on_trace(self, ev: TraceEvent) -> None:
        # lease clock resets: a new leader extends every lease (etcd Promote); a resumed
        # member's lease clock did not run while it was paused
        if (ev.kind == "kv.lessor" and ev.fields.get("primary")) or ev.kind == "resume":
            self.lease_resets_us.append(ev.time_us)
        # moments a lost quorum may come back: revocations held up until then can commit
        if ev.kind in _QUORUM_MAY_RETURN:
            self.quorum_regained_us.append(ev.time_us)

    def check(self, properties: Sequence[str] | None = None) -> list[Violation]:
        out: list[Violation] = []
        history = self._hist()
        if checks(properties, "linearizability"):
            lin = self._check_lin()
            if lin.verdict == "fail":
                out.append(Violation(property="linearizability", message=lin.explanation,
                                     time_us=lin.failure_time_us()))
            for v in check_revision_order(history):
                out.append(Violation(property=f"linearizability.{v.guarantee}", message=str(v)))
        if checks(properties, "watch."):
            for v in check_watches(history):
                out.append(Violation(property=f"watch.{v.guarantee}", message=str(v)))
        if checks(properties, "lease."):
            c = self.scenario.cluster
            for v in check_leases(history, expiry_grace_us=self.lease_grace_us(),
                                  lease_resets_us=self.lease_resets_us,
                                  reset_extension_us=c.election_timeout_ticks * c.tick_us,
                                  quorum_regained_us=self.quorum_regained_us,
                                  clock_drift_ppm=self.clock_drift_ppm()):
                out.append(Violation(property=f"lease.{v.guarantee}", message=str(v)))
        return out

    def write_html(self, path: str, headline: str | None = None, headline_detail: str = "") -> bool:
        render_html(self._hist(), self._check_lin(), path, model=EtcdModel(), headline=headline,
                    headline_detail=headline_detail)
        return True

    def summary(self) -> dict[str, Any]:
        counts = {"ok": 0, "fail": 0, "info": 0}
        for r in self.recorder.records:
            if isinstance(r, HistoryEvent) and r.type != "invoke":
                counts[r.type] += 1
        revisions = [s.store.revision for s in self.servers()]
        conf = self.configuration()
        return {"client ops": " ".join(f"{k}={v}" for k, v in counts.items()),
                "leaders now": ", ".join(self.leaders()) or "none",
                "revision": max(revisions) if revisions else 0,
                "configuration": conf.describe() if conf is not None else "unknown",
                "membership changes": ", ".join(f"{op} {n}" for op, n in self.membership_done()) or "none"}


SYSTEM_BUILDERS["kv"] = KVSystem


# ---------------------------------------------------------------------- test harness


class ClientActor:
    """An actor hosting a bare :class:`~raftkv.client.Client` that code outside the world
    (tests, benchmarks) drives directly."""

    def __init__(self, env: Env, members: tuple[str, ...], recorder: HistoryBuilder | None,
                 config: ClientConfig | None, bugs: frozenset[str]) -> None:
        self.env = env
        self.client = Client(env, members, recorder=recorder, config=config, bugs=bugs)

    def on_start(self) -> None:
        pass

    def on_message(self, src: str, msg: Any) -> None:
        self.client.on_message(src, msg)

    def on_timer(self, tag: Hashable) -> None:
        self.client.on_timer(tag)


class KVCluster:
    """A small simulated cluster of KVServer members plus directly driven clients.

    >>> cl = KVCluster(seed=1)
    >>> c = cl.add_client()
    >>> cl.wait_leader()
    >>> r = cl.call(c.put, b"k", b"v")
    """

    def __init__(self, seed: int = 1, members: int = 3, *, tick_us: int = 10_000,
                 election_timeout_ticks: int = 10, bugs: tuple[str, ...] = (),
                 server_config: ServerConfig | None = None, latency_us: tuple[int, int] = (1_000, 5_000),
                 snapshot_interval_entries: int = 10_000) -> None:
        self.world = World(seed)
        self.world.set_network(latency=Latency(min_us=latency_us[0], max_us=latency_us[1]))
        self.members = member_names(members)
        self.bootstrap = self.members  # the voters at index 0, passed to every member
        self.bugs = frozenset(bugs)
        self.tick_us = tick_us
        self.raft_config = RaftConfig(election_timeout_ticks=election_timeout_ticks,
                                      snapshot_interval_entries=snapshot_interval_entries,
                                      compaction_keep_entries=min(100, snapshot_interval_entries),
                                      bugs=self.bugs)
        self.server_config = server_config or ServerConfig()
        self.recorder = HistoryBuilder()
        self.safety = SafetyChecker(self.world)
        for name in self.members:
            self.world.add_node(name, self._server)

    def _server(self, env: Env, *, join: bool = False) -> KVServer:
        return KVServer(env, self.bootstrap, self.raft_config, self.tick_us,
                        config=self.server_config, bugs=self.bugs, join=join)

    def start_member(self, name: str) -> KVServer:
        """Start a fresh member (``join=True``, empty disk) to be added with the member API."""
        self.world.add_node(name, lambda env: self._server(env, join=True))
        self.members = (*self.members, name)
        return self.server(name)

    def add_client(self, name: str = "c1", config: ClientConfig | None = None,
                   members: tuple[str, ...] | None = None) -> Client:
        self.world.add_node(name, lambda env: ClientActor(env, members or self.members, self.recorder,
                                                          config, self.bugs), client=True)
        actor = self.world.actor(name)
        assert isinstance(actor, ClientActor)
        return actor.client

    def server(self, name: str) -> KVServer:
        actor = self.world.actor(name)
        assert isinstance(actor, KVServer), f"{name} is not up"
        return actor

    def leader(self) -> str | None:
        best: KVServer | None = None
        for name in self.members:
            actor = self.world.actor(name)
            if isinstance(actor, KVServer) and actor.is_leader and (
                    best is None or actor.raft_host.term > best.raft_host.term):
                best = actor
        return best.env.node_id if best is not None else None

    def wait_leader(self, limit_us: int = 3_000_000) -> str:
        if not self.world.run_until_pred(lambda: self.leader() is not None, limit_us):
            raise AssertionError("no leader elected")
        leader = self.leader()
        assert leader is not None
        return leader

    def call(self, method: Callable[..., Any], *args: Any, limit_us: int = 5_000_000,
             **kwargs: Any) -> Result:
        """Call a client method and run the world until its callback fires."""
        got: list[Result] = []
        method(*args, got.append, **kwargs)
        if not self.world.run_until_pred(lambda: bool(got), limit_us):
            raise AssertionError(f"{getattr(method, '__name__', method)} did not complete")
        return got[0]

    def history(self) -> History:
        return make_history(self.recorder.records)
