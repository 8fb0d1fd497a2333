"""The property suites: what each one generates and which violations it judges.

A suite pairs a scenario strategy with the properties it checks.  The pytest
suites under ``property_tests/``, ``raftkv explore`` and the bug-catalogue checks
all run the same :data:`SUITES`, so a failure found by one replays in the others.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import attrs
from hypothesis import strategies as st

from raftkv.sim import (
    RUN_STOPPING,
    Fault,
    NetworkSpec,
    RunResult,
    Scenario,
    Violation,
    WorkloadSpec,
    run_scenario,
)
from raftkv.sim.scenario import (
    ApiserverSpec,
    ControlPlaneSpec,
    DiscoverySpec,
    NetworkingSpec,
    instance_names,
    member_names,
    watcher_names,
)
from raftkv.strategies import (
    EPISODE_LENGTHS_US,
    NEMESES,
    SNAPSHOT_INTERVALS,
    leader_leaving_scenarios,
    scenarios,
    workloads,
)

__all__ = ["BUG_SUITES", "SUITES", "Suite", "judge"]

_SECOND = 1_000_000


@attrs.frozen(kw_only=True)
class Suite:
    name: str
    description: str
    # Violations whose property starts with one of these make the suite fail.
    properties: tuple[str, ...]
    strategy: Callable[[Sequence[str]], st.SearchStrategy[Scenario]]
    # Run the scenario twice and compare traces (the determinism suite).
    twice: bool = False

    def scenarios(self, bugs: Sequence[str] = ()) -> st.SearchStrategy[Scenario]:
        return self.strategy(tuple(sorted(bugs)))

    def judge(self, result: RunResult) -> Violation | None:
        return judge(result, self.properties)

    def run(self, scenario: Scenario, *, trace_messages: bool = False) -> tuple[RunResult, Violation | None]:
        # only the checks this suite judges (a replay runs them all)
        result = run_scenario(scenario, trace_messages=trace_messages, properties=self.properties)
        violation = self.judge(result)
        if violation is None and self.twice:
            again = run_scenario(scenario, trace_messages=trace_messages, check=False)
            if again.trace.hash() != result.trace.hash():
                violation = Violation(property="determinism",
                                      message="two runs of the same scenario gave different traces "
                                              f"({result.trace.hash()[:12]} vs {again.trace.hash()[:12]})")
        return result, violation


def judge(result: RunResult, properties: Sequence[str]) -> Violation | None:
    """The first violation of one of ``properties``; a violation that stopped the run (Raft
    safety, a broken invariant) counts whatever the properties: it cut the run short before
    the checks those properties need, so the run can never count as a pass."""
    for violation in result.violations:
        if violation.property.startswith((*properties, *RUN_STOPPING)):
            return violation
    return None


def _kv(members: st.SearchStrategy[int], nemeses: Sequence[str] = NEMESES, *,
        read_only: Sequence[str] = ("safe",), max_episodes: int = 8,
        durations: Sequence[int] = (5, 8)) -> Callable[[Sequence[str]], st.SearchStrategy[Scenario]]:
    def make(bugs: Sequence[str]) -> st.SearchStrategy[Scenario]:
        return scenarios(system="kv", members=members, nemeses=nemeses, bugs=bugs, read_only=read_only,
                         max_episodes=max_episodes, min_episodes=1, settle_us=4 * _SECOND,
                         duration_us=st.sampled_from(tuple(d * _SECOND for d in durations)),
                         workload=workloads(min_clients=2, max_clients=5))
    return make


def _raft(members: st.SearchStrategy[int], nemeses: Sequence[str], *, read_only: Sequence[str] = ("safe",),
          min_episodes: int = 1, max_episodes: int = 8, lengths_us: Sequence[int] = EPISODE_LENGTHS_US,
          durations: Sequence[int] = (5, 10),
          networks: Sequence[NetworkSpec] = (NetworkSpec(),),
          snapshot_intervals: Sequence[int] = SNAPSHOT_INTERVALS) -> Callable[[Sequence[str]], st.SearchStrategy[Scenario]]:
    def make(bugs: Sequence[str]) -> st.SearchStrategy[Scenario]:
        return scenarios(system="raft", members=members, nemeses=nemeses, bugs=bugs, read_only=read_only,
                         min_episodes=min_episodes, max_episodes=max_episodes, lengths_us=lengths_us,
                         settle_us=3 * _SECOND, network=st.sampled_from(tuple(networks)),
                         snapshot_intervals=snapshot_intervals,
                         duration_us=st.sampled_from(tuple(d * _SECOND for d in durations)),
                         workload=workloads(min_clients=2, max_clients=6))
    return make


def _lease_reads(members: st.SearchStrategy[int]) -> Callable[[Sequence[str]], st.SearchStrategy[Scenario]]:
    # CheckQuorum always on: lease reads rely on it (as etcd-io/raft requires for
    # ReadOnlyLeaseBased); without it a follower that heard the leader a moment ago still
    # votes for another candidate, which a majorities_ring partition turns into a stale read.
    def make(bugs: Sequence[str]) -> st.SearchStrategy[Scenario]:
        return scenarios(system="raft", members=members, nemeses=_LEASE_NEMESES, bugs=bugs,
                         read_only=("lease",), min_episodes=1, max_episodes=8, settle_us=3 * _SECOND,
                         duration_us=st.sampled_from((5 * _SECOND, 10 * _SECOND)),
                         check_quorum=st.just(True),
                         workload=workloads(min_clients=3, max_clients=6))
    return make


# The discovery suite: raftkv's nemeses on the members, plus faults of the components:
# instances crash or hang (their leases must run out), watchers crash or are cut off from
# every member (their watches must come back, after a compaction by listing again).
_DISCOVERY_NEMESES = ("partition", "shape", "crash", "pause", "network")
_COMPONENT_FAULTS = ("isolate_watcher", "crash_instance", "pause_instance", "crash_watcher")
_COMPONENT_LENGTHS_US = (3_000_000, 1_500_000, 5_000_000)


@st.composite
def _component_episode(draw: st.DrawFn, spec: DiscoverySpec, members: int,
                       duration_us: int) -> list[Fault]:
    kind = draw(st.sampled_from(_COMPONENT_FAULTS))
    start = draw(st.integers(min(_SECOND, duration_us - 1), duration_us - 1))
    end = min(duration_us, start + draw(st.sampled_from(_COMPONENT_LENGTHS_US)))
    if kind in ("isolate_watcher", "crash_watcher"):
        if not spec.watchers:
            return []
        node = draw(st.sampled_from(watcher_names(spec.watchers)))
    else:
        if not spec.instances:
            return []
        node = draw(st.sampled_from(instance_names(spec.instances)))
    if kind == "isolate_watcher":
        links = tuple(link for m in member_names(members) for link in ((node, m), (m, node)))
        return [Fault(at_us=start, kind="cut", links=links), Fault(at_us=end, kind="heal")]
    if kind == "pause_instance":
        return [Fault(at_us=start, kind="pause", node=node), Fault(at_us=end, kind="resume", node=node)]
    return [Fault(at_us=start, kind="crash", node=node), Fault(at_us=end, kind="restart", node=node)]


def _with_components(system: str, nemeses: Sequence[str], *, settle_s: int, durations: Sequence[int],
                     spec: st.SearchStrategy[Any], field: str, min_episodes: int,
                     episode: Callable[[Any, Scenario], st.SearchStrategy[list[Fault]]],
                     ) -> Callable[[Sequence[str]], st.SearchStrategy[Scenario]]:
    """A suite of a system of components beside the members: raftkv's nemeses, then the
    system's spec (``field`` of the scenario), then episodes of component faults."""
    def strategy(bugs: Sequence[str]) -> st.SearchStrategy[Scenario]:
        @st.composite
        def make(draw: st.DrawFn) -> Scenario:
            base = draw(scenarios(system=system, members=st.integers(3, 5), nemeses=nemeses,
                                  bugs=bugs, min_episodes=0, max_episodes=3, settle_us=settle_s * _SECOND,
                                  duration_us=st.sampled_from(tuple(d * _SECOND for d in durations)),
                                  workload=st.just(WorkloadSpec(clients=0, ops_per_s=0))))
            drawn = draw(spec)
            episodes = draw(st.lists(episode(drawn, base), min_size=min_episodes, max_size=4))
            faults = sorted((*base.faults, *(f for ep in episodes for f in ep)), key=lambda f: f.at_us)
            return attrs.evolve(base, faults=tuple(faults), **{field: drawn})
        return make()
    return strategy


_discovery = _with_components(
    "discovery", _DISCOVERY_NEMESES, settle_s=12, durations=(8, 12), field="discovery", min_episodes=1,
    spec=st.builds(DiscoverySpec, instances=st.integers(1, 3), watchers=st.integers(1, 2),
                   ttl_s=st.sampled_from((2, 3)), compact_interval_us=st.sampled_from((500_000, 1_000_000))),
    episode=lambda spec, base: _component_episode(spec, base.cluster.members, base.duration_us))


# The apiserver suite: raftkv's nemeses on the members, plus apiserver crashes, clients
# and informers cut off from every apiserver (their watches must resume from the last
# resourceVersion, or list again after a 410), and frequent compactions.
_APISERVER_NEMESES = ("partition", "shape", "crash", "pause")
_APISERVER_FAULTS = ("crash_apiserver", "isolate_client", "isolate_informer", "isolate_informer")


@st.composite
def _apiserver_episode(draw: st.DrawFn, spec: ApiserverSpec, duration_us: int) -> list[Fault]:
    kind = draw(st.sampled_from(_APISERVER_FAULTS))
    start = draw(st.integers(min(_SECOND, duration_us - 1), duration_us - 1))
    end = min(duration_us, start + draw(st.sampled_from(_COMPONENT_LENGTHS_US)))
    apiservers = tuple(f"a{i}" for i in range(1, spec.apiservers + 1))
    if kind == "crash_apiserver":
        node = draw(st.sampled_from(apiservers))
        return [Fault(at_us=start, kind="crash", node=node), Fault(at_us=end, kind="restart", node=node)]
    count = spec.clients if kind == "isolate_client" else spec.informers
    if not count:
        return []
    node = f"{'k' if kind == 'isolate_client' else 'f'}{draw(st.integers(1, count))}"
    links = tuple(link for a in apiservers for link in ((node, a), (a, node)))
    return [Fault(at_us=start, kind="cut", links=links), Fault(at_us=end, kind="heal")]


_apiserver = _with_components(
    "apiserver", _APISERVER_NEMESES, settle_s=8, durations=(6, 10), field="apiserver", min_episodes=0,
    spec=st.builds(ApiserverSpec, apiservers=st.integers(1, 3), clients=st.integers(2, 4),
                   informers=st.integers(1, 2), objects=st.integers(2, 4), ops_per_s=st.sampled_from((6, 10)),
                   compact_interval_us=st.sampled_from((500_000, 1_000_000)), page_limit=st.integers(1, 2)),
    episode=lambda spec, base: _apiserver_episode(spec, base.duration_us))


# The control_plane suite: raftkv's nemeses on the members, plus crashes of apiservers,
# the controller manager, the scheduler and kubelets (a crashed machine loses its pods;
# the restarted kubelet runs them again), paused kubelets, and the controller manager or
# the scheduler cut off from every apiserver (their caches go stale, then catch up).
_CONTROL_PLANE_FAULTS = ("crash_apiserver", "crash_controller_manager", "crash_scheduler", "crash_kubelet",
                         "pause_kubelet", "isolate_controller_manager", "isolate_scheduler")


@st.composite
def _control_plane_episode(draw: st.DrawFn, spec: ControlPlaneSpec, duration_us: int) -> list[Fault]:
    kind = draw(st.sampled_from(_CONTROL_PLANE_FAULTS))
    start = draw(st.integers(min(_SECOND, duration_us - 1), duration_us - 1))
    end = min(duration_us, start + draw(st.sampled_from(_COMPONENT_LENGTHS_US)))
    apiservers = tuple(f"a{i}" for i in range(1, spec.apiservers + 1))
    # cm1 and s1 lead until a failover (their standbys start a second later)
    node = {"crash_apiserver": draw(st.sampled_from(apiservers)), "crash_controller_manager": "cm1",
            "crash_scheduler": "s1", "isolate_controller_manager": "cm1", "isolate_scheduler": "s1"}.get(
        kind, f"m{draw(st.integers(1, spec.nodes))}")
    if kind.startswith("isolate"):
        links = tuple(link for a in apiservers for link in ((node, a), (a, node)))
        return [Fault(at_us=start, kind="cut", links=links), Fault(at_us=end, kind="heal")]
    if kind == "pause_kubelet":
        return [Fault(at_us=start, kind="pause", node=node), Fault(at_us=end, kind="resume", node=node)]
    return [Fault(at_us=start, kind="crash", node=node), Fault(at_us=end, kind="restart", node=node)]


@st.composite
def _control_plane_spec(draw: st.DrawFn) -> ControlPlaneSpec:
    """A cluster with room for every ReplicaSet and Deployment at its largest (convergence
    must be possible; a rollout with maxUnavailable 1 never needs room beyond that)."""
    nodes = draw(st.integers(2, 4))
    node_cpu_m, pod_cpu_m = draw(st.sampled_from((1000, 2000))), draw(st.sampled_from((250, 500)))
    replicasets = draw(st.integers(1, 3))
    capacity = nodes * (node_cpu_m // pod_cpu_m)
    deployments = draw(st.integers(0, min(2, capacity - replicasets)))
    statefulsets = draw(st.integers(0, min(2, capacity - replicasets - deployments)))
    max_replicas = max(1, min(5, capacity // (replicasets + deployments + statefulsets)))
    return ControlPlaneSpec(apiservers=draw(st.integers(1, 3)), nodes=nodes, replicasets=replicasets,
                            replicas=draw(st.integers(1, max_replicas)), max_replicas=max_replicas,
                            scales=draw(st.integers(0, 3)), deployments=deployments,
                            rollouts=draw(st.integers(0, 2)) if deployments or statefulsets else 0,
                            node_cpu_m=node_cpu_m, pod_cpu_m=pod_cpu_m,
                            compact_interval_us=draw(st.sampled_from((1_000_000, 2_000_000))),
                            crashloops=draw(st.integers(0, 3)),
                            standbys=1, toleration_s=draw(st.sampled_from((3, 2, 5))),
                            statefulsets=statefulsets,
                            owner_deletes=draw(st.integers(0, 1)) if deployments else 0,
                            # (pods of their own node each: at most one a node; they ask for no CPU)
                            spread_replicas=draw(st.sampled_from((0, nodes, max(2, nodes - 1)))))


# Node failures and controller faults in the manner of Sieve: a leading controller manager
# or scheduler paused past its Lease (a deposed leader that wakes up), kubelets cut off
# from the apiservers, slow heartbeats or lost for good (their pods must be evicted and
# replaced), stale views (watches and lists served late), coalesced watch events, a crash
# right after a controller's write, and clock skew between leader-election candidates.
_SIEVE_FAULTS = ("pause_leader", "lag_watch", "isolate_kubelet", "pause_leader", "lag_watch", "slow_heartbeat",
                 "pause_leader", "lose_node", "coalesce_watch", "crash_mid_reconcile", "clock_skew",
                 "isolate_kubelet", "isolate_kubelet")
_PAUSE_LENGTHS_US = (5_000_000, 4_000_000, 8_000_000)
# A kubelet cut off long enough for its pods to be evicted (3 s grace + 2-5 s toleration) while
# they still run: what StatefulSets must wait out (the pods are not known to be gone).
_ISOLATION_LENGTHS_US = (8_000_000, 3_000_000, 5_000_000)


@st.composite
def _sieve_episode(draw: st.DrawFn, spec: ControlPlaneSpec, duration_us: int) -> list[Fault]:
    kind = draw(st.sampled_from(_SIEVE_FAULTS))
    start = draw(st.integers(min(_SECOND, duration_us - 1), duration_us - 1))
    controllers = (*(f"cm{i}" for i in range(1, spec.standbys + 2)), *(f"s{i}" for i in range(1, spec.standbys + 2)))
    machines = tuple(f"m{i}" for i in range(1, spec.nodes + 1))
    if kind == "pause_leader":  # paused at once, or right after its next write
        node = draw(st.sampled_from(("cm1", "cm1", "s1")))  # the first replicas lead until a failover
        pause_us = draw(st.sampled_from(_PAUSE_LENGTHS_US))
        start = draw(st.integers(_SECOND, max(_SECOND, duration_us - pause_us)))  # a pause the run lets last
        if draw(st.integers(0, 2)):
            return [Fault(at_us=start, kind="pause_mid_reconcile", node=node, delta_us=pause_us)]
        return [Fault(at_us=start, kind="pause", node=node),
                Fault(at_us=min(duration_us, start + pause_us), kind="resume", node=node)]
    if kind == "isolate_kubelet":  # often past the node grace period and its pods' toleration
        length_us = draw(st.sampled_from(_ISOLATION_LENGTHS_US))
        start = draw(st.integers(_SECOND, max(_SECOND, duration_us - length_us)))  # a cut the run lets last
        end = min(duration_us, start + length_us)
        node = draw(st.sampled_from(machines))
        links = tuple(link for a in (f"a{i}" for i in range(1, spec.apiservers + 1)) for link in ((node, a), (a, node)))
        return [Fault(at_us=start, kind="cut", links=links), Fault(at_us=end, kind="heal")]
    end = min(duration_us, start + draw(st.sampled_from(_COMPONENT_LENGTHS_US)))
    if kind == "lose_node":
        return [Fault(at_us=start, kind="lose_node", node=draw(st.sampled_from(machines)))]
    if kind == "crash_mid_reconcile":
        node = draw(st.sampled_from(controllers))
        return [Fault(at_us=start, kind="crash_mid_reconcile", node=node), Fault(at_us=end, kind="restart", node=node)]
    if kind == "clock_skew":
        node = draw(st.sampled_from(controllers))
        return [Fault(at_us=start, kind="clock", node=node,
                      offset_us=draw(st.sampled_from((2_000_000, -2_000_000, 10_000_000))),
                      drift_ppm=draw(st.sampled_from((-200_000, 100_000, 0))))]
    node = draw(st.sampled_from({"slow_heartbeat": machines, "lag_watch": ("cm1", "cm1", "s1")}.get(
        kind, (*controllers, *machines))))
    if kind == "lag_watch":  # a stale view from the start (the first creations) or later
        start = draw(st.integers(0, duration_us - 1))
        end = min(duration_us, start + draw(st.sampled_from(_COMPONENT_LENGTHS_US)))
    delta_us = draw(st.sampled_from({"slow_heartbeat": (2_500_000, 500_000, 4_000_000),
                                     "lag_watch": (1_000_000, 300_000, 2_000_000),
                                     "coalesce_watch": (500_000, 200_000, 1_000_000)}[kind]))
    return [Fault(at_us=start, kind=kind, node=node, delta_us=delta_us), Fault(at_us=end, kind=kind, node=node)]


_control_plane = _with_components(
    "control_plane", _APISERVER_NEMESES, settle_s=15, durations=(6, 10), field="control_plane", min_episodes=0,
    spec=_control_plane_spec(), episode=lambda spec, base: st.one_of(  # 2 in 3 episodes node or controller faults
        _control_plane_episode(spec, base.duration_us), _sieve_episode(spec, base.duration_us),
        _sieve_episode(spec, base.duration_us)))


# The networking suite: the control plane's faults, plus kubelets (with their kube-proxy)
# and the DNS server cut off from every apiserver (their tables and answers lag), and DNS
# and ingress controller crashes.
_NETWORKING_FAULTS = (*_CONTROL_PLANE_FAULTS, "isolate_kubelet", "isolate_dns", "crash_dns", "crash_ingress")


@st.composite
def _networking_episode(draw: st.DrawFn, spec: ControlPlaneSpec, duration_us: int) -> list[Fault]:
    kind = draw(st.sampled_from(_NETWORKING_FAULTS))
    if kind in _CONTROL_PLANE_FAULTS:
        return draw(_control_plane_episode(spec, duration_us))
    start = draw(st.integers(min(_SECOND, duration_us - 1), duration_us - 1))
    end = min(duration_us, start + draw(st.sampled_from(_COMPONENT_LENGTHS_US)))
    apiservers = tuple(f"a{i}" for i in range(1, spec.apiservers + 1))
    node = {"isolate_dns": "dns1", "crash_dns": "dns1", "crash_ingress": "ing1"}.get(
        kind, f"m{draw(st.integers(1, spec.nodes))}")
    if kind.startswith("isolate"):
        links = tuple(link for a in apiservers for link in ((node, a), (a, node)))
        return [Fault(at_us=start, kind="cut", links=links), Fault(at_us=end, kind="heal")]
    return [Fault(at_us=start, kind="crash", node=node), Fault(at_us=end, kind="restart", node=node)]


@st.composite
def _networking_control_plane(draw: st.DrawFn) -> ControlPlaneSpec:
    """Room for every workload at its largest, at least two pods a workload (a random
    chain and a rotation need two endpoints to mean something)."""
    nodes = draw(st.integers(2, 3))
    replicasets = draw(st.integers(1, 2))
    deployments = draw(st.integers(0, 1))
    capacity = nodes * (2000 // 250)
    max_replicas = max(2, min(4, capacity // (replicasets + deployments)))
    return ControlPlaneSpec(apiservers=draw(st.integers(1, 3)), nodes=nodes, replicasets=replicasets,
                            replicas=draw(st.integers(2, max_replicas)), max_replicas=max_replicas,
                            scales=draw(st.integers(0, 3)), deployments=deployments,
                            rollouts=draw(st.integers(0, 2)) if deployments else 0,
                            node_cpu_m=2000, pod_cpu_m=250,
                            compact_interval_us=draw(st.sampled_from((1_000_000, 2_000_000))))


_NETWORKING_SPECS = st.builds(
    NetworkingSpec, proxy_mode=st.sampled_from(("iptables", "ipvs", "mixed")),
    proxy_sync_ms=st.sampled_from((100, 300)), readiness_delay_ms=st.sampled_from((500, 1500)),
    service_cidr_bits=st.sampled_from((27, 28)), churn_services=st.integers(1, 3), churns=st.integers(1, 3),
    requests_per_s=st.sampled_from((20, 40)))


def _networking(bugs: Sequence[str]) -> st.SearchStrategy[Scenario]:
    @st.composite
    def make(draw: st.DrawFn) -> Scenario:
        base = draw(scenarios(system="networking", members=st.integers(3, 5), nemeses=_APISERVER_NEMESES,
                              bugs=bugs, min_episodes=0, max_episodes=2, settle_us=15 * _SECOND,
                              duration_us=st.sampled_from((6 * _SECOND, 8 * _SECOND)),
                              workload=st.just(WorkloadSpec(clients=0, ops_per_s=0))))
        cp = draw(_networking_control_plane())
        net = draw(_NETWORKING_SPECS)
        episodes = draw(st.lists(_networking_episode(cp, base.duration_us), min_size=0, max_size=3))
        faults = sorted((*base.faults, *(f for ep in episodes for f in ep)), key=lambda f: f.at_us)
        return attrs.evolve(base, faults=tuple(faults), control_plane=cp, networking=net)
    return make()


_PLAIN = tuple(n for n in NEMESES if n != "membership")
# Crash-heavy: many short episodes, mostly crashes (often of the leader), so that crashes
# land inside elections and between a write and its fsync.
_CHURN = ("crash", "crash", "crash", "shape", "partition", "network", "pause")
_CHURN_LENGTHS_US = (200_000, 50_000, 100_000, 400_000, 800_000)
# Lease reads break when a leader cut off from the others still trusts its lease: the
# episode that isolates the leader and steps its clock back is weighted up; the others
# drift and jump clocks and partition around it.
_LEASE_NEMESES = ("isolate_clock_back", "isolate_clock_back", "isolate_clock_back", "clock", "clock_jump",
                  "partition", "shape", "pause")
# Snapshots: a member cut off or down for a while falls behind the compacted log within a
# few entries, so the leader sends it snapshots; the links duplicate and delay messages,
# so copies of a snapshot arrive late, after the member has moved past it.
_SNAPSHOT_NEMESES = ("partition", "shape", "crash", "pause")
_SNAPSHOT_NETWORKS = (NetworkSpec(duplicate=0.2, spike_prob=0.2, spike_us=100_000),
                      NetworkSpec(duplicate=0.05, spike_prob=0.05, spike_us=300_000))
# Slow links stretch elections, so more crashes land in the middle of one.
_SLOW_NETWORK = NetworkSpec(min_latency_us=5_000, max_latency_us=30_000)

SUITES: dict[str, Suite] = {s.name: s for s in (
    Suite(name="raft_safety", properties=("raft.",),
          description="Raft safety (election safety, log matching, leader completeness, state machine "
                      "safety, durability) under every fault, on a bare Raft cluster",
          strategy=_raft(st.integers(3, 7), _PLAIN)),
    Suite(name="raft_reads", properties=("raft.", "linearizability"),
          description="reads and writes on a bare Raft cluster are linearizable (ReadIndex, or lease "
                      "reads within the clock drift bound), each client bound to its own member",
          strategy=_raft(st.integers(3, 5), _PLAIN, read_only=("safe", "lease"))),
    Suite(name="raft_lease_reads", properties=("raft.", "linearizability"),
          description="lease-based reads stay linearizable while clock drift stays within the bound "
                      "the cluster declares (leader cut off with its clock stepped back, leader slow "
                      "and followers fast, partitions)",
          strategy=_lease_reads(st.integers(3, 5))),
    Suite(name="raft_churn", properties=("raft.", "linearizability"),
          description="Raft safety under crash churn: frequent short crashes and restarts, leader "
                      "crashes, small append batches",
          strategy=_raft(st.integers(3, 5), _CHURN, min_episodes=4, max_episodes=16,
                         lengths_us=_CHURN_LENGTHS_US, durations=(10,),
                         networks=(NetworkSpec(), _SLOW_NETWORK))),
    Suite(name="raft_snapshots", properties=("raft.", "linearizability"),
          description="Raft safety while snapshots fly: snapshots every few entries, members cut "
                      "off or down long enough to need one, links that duplicate and delay messages",
          strategy=_raft(st.integers(3, 5), _SNAPSHOT_NEMESES, snapshot_intervals=(5, 10),
                         networks=_SNAPSHOT_NETWORKS)),
    Suite(name="linearizability", properties=("raft.", "linearizability"),
          description="the KV client history is linearizable (etcd model, unknown outcomes allowed)",
          strategy=_kv(st.integers(3, 5), _PLAIN, read_only=("safe", "lease"))),
    Suite(name="watch", properties=("watch",),
          description="etcd watch guarantees: ordered, unique, atomic, reliable, resumable, bookmarkable",
          strategy=_kv(st.integers(3, 5), _PLAIN)),
    Suite(name="lease", properties=("lease",),
          description="kept-alive leases keep their keys; expired or revoked leases delete them",
          strategy=_kv(st.integers(3, 5), _PLAIN)),
    Suite(name="liveness", properties=("liveness",),
          description="once faults stop, a leader exists and every pending request finishes",
          strategy=_kv(st.integers(3, 5), _PLAIN)),
    Suite(name="membership", properties=("raft.", "linearizability", "liveness", "watch", "lease"),
          description="adding, promoting and removing members (etcd's member API) under faults keeps "
                      "Raft safety, linearizability, the watch and lease guarantees and liveness",
          strategy=_kv(st.integers(1, 5), NEMESES)),
    Suite(name="leader_leaving", properties=("raft.", "linearizability", "liveness"),
          description="a leader removes or demotes itself (2, 3 or 5 members) while a partition of "
                      "any shape splits the cluster around it: Raft stays safe, clients "
                      "linearizable, and a leader is elected again once it heals",
          strategy=lambda bugs: leader_leaving_scenarios(bugs)),
    Suite(name="discovery", properties=("discovery",),
          description="service discovery (kube.discovery): views never show an instance that was "
                      "never registered, drop a stopped instance within its TTL plus a grace, show every running "
                      "instance and equal the store once faults heal",
          strategy=_discovery),
    Suite(name="apiserver", properties=("apiserver",),
          description="the kube apiserver (kube.apiserver): linearizable object operations, no lost "
                      "update, watches in order with no gap unless 410, consistent paged lists, "
                      "informer caches equal to the store once quiet; under raftkv faults, apiserver "
                      "crashes, clients and informers cut off from the apiservers, and compactions",
          strategy=_apiserver),
    Suite(name="control_plane", properties=("control_plane",),
          description="controllers, scheduler and kubelets on the kube apiserver: no pod on two nodes, "
                      "unique pod IPs, no node running more than its allocatable, no ReplicaSet with more "
                      "pods than asked for, fenced leader writes, no eviction before the grace period plus "
                      "tolerationSeconds, no container restarted sooner than its crash-loop backoff allows and "
                      "none over its memory limit, never two running pods with one StatefulSet identity, never a pod "
                      "started beside one that a required anti-affinity keeps it from, a "
                      "ReadWriteOnce volume attached to one node at most, the garbage collector never deletes "
                      "what has a live owner, and every ReplicaSet converged to its replicas ready (pods of "
                      "lost machines replaced; crash-looping ones running), every Deployment rolled out, every "
                      "StatefulSet running all ordinals on their own claims and garbage collected once faults "
                      "heal; under raftkv faults, crashes, pauses and isolation of components, lost and slow "
                      "nodes, and Sieve-style controller faults (deposed leaders, stale views, coalesced events, "
                      "clock skew)",
          strategy=_control_plane),
    Suite(name="networking", properties=("networking", "control_plane"),
          description="Services, Endpoints, kube-proxy, DNS and Ingress with traced traffic: ClusterIPs and "
                      "NodePorts never duplicated, requests only to pods that were ready endpoints of their "
                      "Service, session affinity kept, and once faults heal Endpoints, every node's "
                      "kube-proxy table and DNS equal the ready pods, requests reach only current endpoints "
                      "and ipvs rotates exactly; under raftkv faults, component crashes, kubelets, kube-proxy "
                      "and DNS cut off from the apiservers, scaling, rollouts and Service churn",
          strategy=_networking),
    Suite(name="determinism", properties=(), twice=True,
          description="replaying a scenario gives a byte-identical trace",
          strategy=_kv(st.integers(3, 5), _PLAIN, durations=(3,))),
)}

#: The suite that is meant to catch each catalogued bug (the bug-catalogue checks use it).
BUG_SUITES: dict[str, str] = {
    "figure8_commit": "raft_churn",
    "vote_not_persisted": "raft_churn",
    "no_conflict_truncation": "raft_safety",
    "read_without_readindex": "raft_reads",
    "follower_local_reads": "linearizability",
    "lease_read_skew": "raft_lease_reads",
    "apply_before_durable": "raft_safety",
    "no_pending_conf_guard": "membership",
    "conf_change_before_term_commit": "membership",
    "leaving_leader_appends": "leader_leaving",
    "lease_no_extend_on_leader_change": "lease",
    "watch_resume_at_last_revision": "watch",
    "heartbeat_commit_unmatched": "raft_safety",
    "restart_skips_apply": "raft_churn",
    "election_timeout_not_randomized": "liveness",
    "stale_snapshot_install": "raft_snapshots",
    "compact_drops_latest": "linearizability",
    "txn_compare_missing_key": "linearizability",
    "client_retry_unknown_write": "linearizability",
    "discovery_no_relist_after_compaction": "discovery",
    "apiserver_list_from_watch_cache": "apiserver",
    "apiserver_watch_starts_at_resource_version": "apiserver",
    "apiserver_continue_at_latest_revision": "apiserver",
    "apiserver_update_ignores_resource_version": "apiserver",
    "apiserver_watch_skips_compacted_revisions": "apiserver",
    "replicaset_no_expectations": "control_plane",
    "restart_without_backoff": "control_plane",
    "oom_ignores_limit": "control_plane",
    "leader_election_no_fencing": "control_plane",
    "scheduler_stale_cache_double_book": "control_plane",
    "node_eviction_without_grace": "control_plane",
    "clusterip_duplicate_allocation": "networking",
    "endpoints_publish_not_ready": "networking",
    "kube_proxy_stale_rules": "networking",
    "iptables_wrong_probability": "networking",
    "statefulset_stale_identity": "control_plane",
    "gc_owner_from_cache": "control_plane",
    "scheduler_affinity_ignores_assumed": "control_plane",
}
