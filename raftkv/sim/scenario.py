"""Scenarios: a whole simulated run as plain data.

A :class:`Scenario` holds the seed, the cluster shape, the network, a schedule of
timed :class:`Fault` events, the workload and the run length.  It round-trips
through JSON (:func:`scenario_to_json` / :func:`scenario_from_json`) and through a
short URL-safe token (:func:`scenario_to_token` / :func:`scenario_from_token`).

Malformed input raises :class:`ScenarioError` whose message names the field and
what is wrong with it, e.g. ``scenario.faults[2].node: unknown node 'n9'``.
"""

from __future__ import annotations

import base64
import binascii
import json
import types
import typing
import zlib
from typing import Any

import attrs

from raftkv.bugs import BUGS

from .shapes import SHAPES

__all__ = [
    "FAULT_KINDS", "SYSTEM_FAULT_KINDS", "SYSTEMS", "ApiserverSpec", "ControlPlaneSpec", "control_plane_nodes", "NetworkingSpec", "networking_nodes", "ClusterSpec", "DiscoverySpec", "Fault", "NetworkSpec", "Scenario", "ScenarioError",
    "WorkloadSpec", "DEFAULT_MIX", "client_names", "discovery_nodes", "instance_names", "member_names",
    "watcher_names", "apiserver_nodes",
    "scenario_from_json", "scenario_from_token", "scenario_to_json", "scenario_to_token",
]

TOKEN_PREFIX = "rk1_"
SYSTEMS = ("kv", "raft", "demo", "discovery", "apiserver", "control_plane", "networking")
MAX_MEMBERS = 7


class ScenarioError(ValueError):
    """A scenario (file, token or value) that cannot be run; the message says why."""


@attrs.frozen(kw_only=True)
class ClusterSpec:
    members: int = 3
    tick_us: int = 10_000
    election_timeout_ticks: int = 10
    heartbeat_ticks: int = 3
    pre_vote: bool = True
    check_quorum: bool = True
    read_only: str = "safe"  # "safe" (ReadIndex) or "lease" (unsafe under clock skew)
    # The clock drift rate lease reads allow for; drift beyond it makes them unsafe.
    max_clock_drift_ppm: int = 100_000
    snapshot_interval_entries: int = 200
    max_entries_per_msg: int = 64


@attrs.frozen(kw_only=True)
class NetworkSpec:
    min_latency_us: int = 1_000
    max_latency_us: int = 5_000
    spike_prob: float = 0.0
    spike_us: int = 50_000
    loss: float = 0.0
    duplicate: float = 0.0


DEFAULT_MIX: tuple[tuple[str, int], ...] = (
    ("get", 20), ("stale_get", 5), ("put", 25), ("delete", 5), ("cas", 15),
    ("put_lease", 5), ("lease_keepalive", 5), ("lease_revoke", 2), ("watch", 3), ("compact", 1),
)
OPS = tuple(name for name, _ in DEFAULT_MIX)


@attrs.frozen(kw_only=True)
class WorkloadSpec:
    clients: int = 3
    ops_per_s: int = 30  # for the whole workload, in simulated time
    keys: int = 3
    mix: tuple[tuple[str, int], ...] = DEFAULT_MIX
    op_timeout_us: int = 1_000_000
    lease_ttl_s: int = 3


@attrs.frozen(kw_only=True)
class DiscoverySpec:
    """The ``discovery`` system (kube.sim): service instances ``i1..`` registering with a
    lease of ``ttl_s``, discovery clients ``w1..`` watching, a compactor compacting the
    store every ``compact_interval_us``."""

    instances: int = 2
    watchers: int = 2
    ttl_s: int = 2
    compact_interval_us: int = 500_000


@attrs.frozen(kw_only=True)
class ApiserverSpec:
    """The ``apiserver`` system (kube.apiserver_sim): apiservers ``a1..`` (each on its own
    member), kube clients ``k1..`` running ``ops_per_s`` object operations each on
    ``objects`` ConfigMaps and a counter, informers ``f1..``; the apiservers compact the
    store every ``compact_interval_us``; paged lists use pages of ``page_limit``."""

    apiservers: int = 2
    clients: int = 3
    informers: int = 2
    objects: int = 3
    ops_per_s: int = 8
    compact_interval_us: int = 1_000_000
    page_limit: int = 2


@attrs.frozen(kw_only=True)
class ControlPlaneSpec:
    """The ``control_plane`` system (kube.control_plane_sim): apiservers ``a1..``, a
    controller manager ``cm1`` (the ReplicaSet, Deployment and node lifecycle controllers)
    and a scheduler ``s1``, each with ``standbys`` more replicas (``cm2..``, ``s2..``) that
    take over through leader election, kubelets ``m1..`` (``node_cpu_m`` millicores each) and a user ``u1`` who creates
    ``replicasets`` ReplicaSets and ``deployments`` Deployments of ``replicas`` pods
    (``pod_cpu_m`` each), then during the fault phase scales one of them ``scales`` times
    (to 1..``max_replicas``) and changes a Deployment's image ``rollouts`` times.
    ``crashloops`` more ReplicaSets ``crash-0..`` (of ``crashloop_replicas`` pods asking for
    no CPU) have containers that never stay up: they exit with an error, are OOM-killed or
    exit after a long run, in turn, and the kubelets restart them with crash-loop backoff."""
    # (and ``statefulsets`` StatefulSets, scaled and rolled out too; ``owner_deletes``
    # deletions of a Deployment with a propagation policy)

    apiservers: int = 2
    nodes: int = 3
    replicasets: int = 2
    replicas: int = 3
    max_replicas: int = 5
    scales: int = 2
    deployments: int = 0
    rollouts: int = 0
    node_cpu_m: int = 2000
    pod_cpu_m: int = 500
    compact_interval_us: int = 2_000_000
    crashloops: int = 0
    crashloop_replicas: int = 2
    # more replicas of the controller manager and the scheduler (cm2.., s2..): candidates
    # for their leader-election Leases
    standbys: int = 0
    # the pods' tolerationSeconds for node.kubernetes.io/unreachable and not-ready
    # (DefaultTolerationSeconds gives 300 s in Kubernetes)
    toleration_s: int = 3
    # StatefulSets sts-0.. (``replicas`` pods each, a claim per pod; scaled and rolled out
    # like the others) and deletions of a Deployment (background, foreground or orphan)
    statefulsets: int = 0
    owner_deletes: int = 0
    # pods of a ReplicaSet ``spread-0`` (asking for no CPU), each with a required pod
    # anti-affinity to the others on kubernetes.io/hostname and a DoNotSchedule spread over
    # topology.kubernetes.io/zone (maxSkew 1): at most ``nodes``
    spread_replicas: int = 0


@attrs.frozen(kw_only=True)
class NetworkingSpec:
    """The ``networking`` system (kube.networking_sim), on the control plane that
    ``Scenario.control_plane`` shapes: a Service per ReplicaSet and Deployment (ClusterIP
    with ClientIP affinity, NodePort, LoadBalancer in turn) and a headless one, an Ingress,
    ``churn_services`` Services created and deleted ``churns`` times at once through every
    apiserver; kube-proxy in ``proxy_mode`` (``iptables``, ``ipvs`` or ``mixed``: odd
    nodes iptables) syncing at most every ``proxy_sync_ms``; a DNS server ``dns1`` and an
    ingress controller ``ing1``; pods ready ``readiness_delay_ms`` after they start; a
    service CIDR of ``/service_cidr_bits``; ``requests_per_s`` requests by DNS name,
    ClusterIP, NodePort, load balancer and Ingress from pods and from outside."""

    proxy_mode: str = "iptables"
    proxy_sync_ms: int = 200
    readiness_delay_ms: int = 500
    service_cidr_bits: int = 27
    churn_services: int = 2
    churns: int = 2
    requests_per_s: int = 20
    affinity_timeout_s: int = 10


FAULT_KINDS: dict[str, tuple[str, ...]] = {
    # kind -> fields it uses (besides at_us and kind)
    "partition": ("groups",),
    "cut": ("links",),
    "shape": ("shape", "node"),
    "heal": (),
    "crash": ("node", "torn"),
    "restart": ("node",),
    "pause": ("node",),
    "resume": ("node",),
    "clock": ("node", "offset_us", "drift_ppm"),
    "clock_jump": ("node", "delta_us"),
    "network": ("loss", "duplicate", "spike_prob", "spike_us"),
    "add_member": ("node", "learner"),
    "remove_member": ("node",),
    "promote": ("node",),
    "demote": ("node",),
    # faults a hosted system carries out itself (its ``system_fault``), on its components
    "lose_node": ("node",),
    "lag_watch": ("node", "delta_us"),
    "coalesce_watch": ("node", "delta_us"),
    "slow_heartbeat": ("node", "delta_us"),
    "crash_mid_reconcile": ("node",),
    "pause_mid_reconcile": ("node", "delta_us"),
}
#: fault kinds the hosted system applies (kube.control_plane_sim): a machine lost for
#: good; a component's watches and lists served ``delta_us`` late (a lagging apiserver);
#: its watch events coalesced over windows of ``delta_us`` (unobserved states); its
#: requests sent ``delta_us`` late (slow heartbeats); a crash right after its next write;
#: a pause of ``delta_us`` right after its next write.  ``delta_us=0`` ends a lag, a
#: coalescing or a slowness.
SYSTEM_FAULT_KINDS = ("lose_node", "lag_watch", "coalesce_watch", "slow_heartbeat", "crash_mid_reconcile",
                      "pause_mid_reconcile")
_NODE_REQUIRED = ("crash", "restart", "pause", "resume", "clock", "clock_jump", "add_member",
                  "remove_member", "promote", "demote", *SYSTEM_FAULT_KINDS)


@attrs.frozen(kw_only=True)
class Fault:
    """One timed fault; ``kind`` says which of the other fields matter (see FAULT_KINDS).

    ``node`` names a member, or is resolved when the fault fires: ``@leader`` (the current
    leader; crash, pause, clock, clock_jump, shape, remove_member), ``@crashed`` (every crashed member;
    restart), ``@paused`` (every paused member; resume) or ``@followers`` (every running
    member but the leader; clock, clock_jump).
    """

    at_us: int
    kind: str
    node: str = ""
    groups: tuple[tuple[str, ...], ...] = ()
    links: tuple[tuple[str, str], ...] = ()
    shape: str = ""
    torn: bool = False
    offset_us: int = 0
    drift_ppm: int = 0
    delta_us: int = 0
    loss: float = 0.0
    duplicate: float = 0.0
    spike_prob: float = 0.0
    spike_us: int = 0
    learner: bool = False

    def describe(self) -> str:
        used = FAULT_KINDS.get(self.kind, ())
        parts = [f"{name}={getattr(self, name)!r}" for name in used
                 if getattr(self, name) != attrs.fields_dict(Fault)[name].default]
        return f"{self.at_us / 1e6:8.3f}s {self.kind} {' '.join(parts)}".rstrip()


@attrs.frozen(kw_only=True)
class Scenario:
    seed: int
    system: str = "kv"
    cluster: ClusterSpec = ClusterSpec()
    network: NetworkSpec = NetworkSpec()
    faults: tuple[Fault, ...] = ()
    workload: WorkloadSpec = WorkloadSpec()
    discovery: DiscoverySpec = DiscoverySpec()
    apiserver: ApiserverSpec = ApiserverSpec()
    control_plane: ControlPlaneSpec = ControlPlaneSpec()
    networking: NetworkingSpec = NetworkingSpec()
    duration_us: int = 10_000_000
    settle_us: int = 5_000_000
    bugs: tuple[str, ...] = ()

    def describe(self) -> str:
        """A few lines a person can read: the shape of the run and its faults."""
        c, w = self.cluster, self.workload
        lines = [
            f"seed {self.seed}, {self.system} system, {c.members} members, "
            f"{self.duration_us / 1e6:g}s + {self.settle_us / 1e6:g}s settle",
            f"workload: {w.clients} clients, {w.ops_per_s} ops/s on {w.keys} keys",
        ]
        if self.bugs:
            lines.append(f"bugs on: {', '.join(self.bugs)}")
        back = sum(1 for fault in self.faults if fault.kind in ("restart", "resume"))
        if not self.faults:
            lines.append("faults: none")
        elif back:
            lines.append(f"faults ({len(self.faults)} events: {len(self.faults) - back} faults and "
                         f"{back} restarts or resumes):")
        else:
            lines.append(f"faults ({len(self.faults)}):")
        lines.extend("  " + fault.describe() for fault in self.faults)
        return "\n".join(lines)


def member_names(count: int) -> tuple[str, ...]:
    return tuple(f"n{i}" for i in range(1, count + 1))


def client_names(count: int) -> tuple[str, ...]:
    return tuple(f"c{i}" for i in range(1, count + 1))


def instance_names(count: int) -> tuple[str, ...]:
    return tuple(f"i{i}" for i in range(1, count + 1))


def watcher_names(count: int) -> tuple[str, ...]:
    return tuple(f"w{i}" for i in range(1, count + 1))


def discovery_nodes(scenario: Scenario) -> tuple[str, ...]:
    """The component nodes of a ``discovery`` scenario (faults may name them)."""
    if scenario.system != "discovery":
        return ()
    d = scenario.discovery
    return instance_names(d.instances) + watcher_names(d.watchers)


def apiserver_nodes(scenario: Scenario) -> tuple[str, ...]:
    """The component nodes of an ``apiserver`` scenario: apiservers, clients, informers."""
    if scenario.system != "apiserver":
        return ()
    a = scenario.apiserver
    return (tuple(f"a{i}" for i in range(1, a.apiservers + 1)) + tuple(f"k{i}" for i in range(1, a.clients + 1))
            + tuple(f"f{i}" for i in range(1, a.informers + 1)))


def control_plane_nodes(scenario: Scenario) -> tuple[str, ...]:
    """The component nodes of a ``control_plane`` scenario: apiservers, the controller
    manager, the scheduler, kubelets and the user."""
    if scenario.system not in ("control_plane", "networking"):
        return ()
    c = scenario.control_plane
    return (*(f"a{i}" for i in range(1, c.apiservers + 1)),
            *(f"cm{i}" for i in range(1, c.standbys + 2)), *(f"s{i}" for i in range(1, c.standbys + 2)),
            *(f"m{i}" for i in range(1, c.nodes + 1)), "u1")


def networking_nodes(scenario: Scenario) -> tuple[str, ...]:
    """The component nodes a ``networking`` scenario adds: the DNS server and the
    ingress controller."""
    return ("dns1", "ing1") if scenario.system == "networking" else ()


# -- validation -------------------------------------------------------------------


def validate(scenario: Scenario) -> Scenario:
    """Check the meaning of a well-typed scenario; raise :class:`ScenarioError` if off."""
    c, n, w = scenario.cluster, scenario.network, scenario.workload

    def need(ok: bool, path: str, why: str) -> None:
        if not ok:
            raise ScenarioError(f"scenario.{path}: {why}")

    need(scenario.system in SYSTEMS, "system", f"unknown system {scenario.system!r}; one of {', '.join(SYSTEMS)}")
    need(1 <= c.members <= MAX_MEMBERS, "cluster.members", f"must be 1..{MAX_MEMBERS}, got {c.members}")
    need(c.tick_us > 0, "cluster.tick_us", f"must be positive, got {c.tick_us}")
    need(c.heartbeat_ticks >= 1, "cluster.heartbeat_ticks", f"must be >= 1, got {c.heartbeat_ticks}")
    need(c.election_timeout_ticks > c.heartbeat_ticks, "cluster.election_timeout_ticks",
         f"must exceed heartbeat_ticks ({c.heartbeat_ticks}), got {c.election_timeout_ticks}")
    need(c.read_only in ("safe", "lease"), "cluster.read_only", f"must be 'safe' or 'lease', got {c.read_only!r}")
    need(c.read_only != "lease" or c.check_quorum, "cluster.read_only",
         "lease reads need cluster.check_quorum (as in etcd-io/raft)")
    need(c.snapshot_interval_entries >= 1, "cluster.snapshot_interval_entries", "must be >= 1")
    need(0 <= c.max_clock_drift_ppm < 1_000_000, "cluster.max_clock_drift_ppm", "must be in [0, 1000000)")
    need(c.max_entries_per_msg >= 1, "cluster.max_entries_per_msg", "must be >= 1")
    need(0 <= n.min_latency_us <= n.max_latency_us, "network",
         f"need 0 <= min_latency_us <= max_latency_us, got {n.min_latency_us}, {n.max_latency_us}")
    for name in ("spike_prob", "loss", "duplicate"):
        value = getattr(n, name)
        need(0.0 <= value <= 1.0, f"network.{name}", f"must be a probability in [0, 1], got {value}")
    need(n.spike_us >= 0, "network.spike_us", "must be >= 0")
    need(w.clients >= 0, "workload.clients", f"must be >= 0, got {w.clients}")
    need(w.ops_per_s >= 0, "workload.ops_per_s", f"must be >= 0, got {w.ops_per_s}")
    need(w.keys >= 1, "workload.keys", f"must be >= 1, got {w.keys}")
    need(w.op_timeout_us > 0, "workload.op_timeout_us", "must be positive")
    need(w.lease_ttl_s >= 1, "workload.lease_ttl_s", "must be >= 1")
    for i, (op, weight) in enumerate(w.mix):
        need(op in OPS, f"workload.mix[{i}]", f"unknown operation {op!r}; known: {', '.join(OPS)}")
        need(weight >= 0, f"workload.mix[{i}]", f"weight must be >= 0, got {weight}")
    need(scenario.duration_us > 0, "duration_us", f"must be positive, got {scenario.duration_us}")
    need(scenario.settle_us >= 0, "settle_us", f"must be >= 0, got {scenario.settle_us}")
    for i, bug in enumerate(scenario.bugs):
        need(bug in BUGS, f"bugs[{i}]", f"unknown bug {bug!r}; known: {', '.join(sorted(BUGS))}")

    d = scenario.discovery
    need(0 <= d.instances <= 9, "discovery.instances", f"must be 0..9, got {d.instances}")
    need(0 <= d.watchers <= 9, "discovery.watchers", f"must be 0..9, got {d.watchers}")
    need(d.ttl_s >= 1, "discovery.ttl_s", f"must be >= 1, got {d.ttl_s}")
    need(d.compact_interval_us > 0, "discovery.compact_interval_us", "must be positive")
    a = scenario.apiserver
    need(1 <= a.apiservers <= 9, "apiserver.apiservers", f"must be 1..9, got {a.apiservers}")
    need(0 <= a.clients <= 9, "apiserver.clients", f"must be 0..9, got {a.clients}")
    need(0 <= a.informers <= 9, "apiserver.informers", f"must be 0..9, got {a.informers}")
    need(1 <= a.objects <= 100, "apiserver.objects", f"must be 1..100, got {a.objects}")
    need(a.ops_per_s >= 0, "apiserver.ops_per_s", f"must be >= 0, got {a.ops_per_s}")
    need(a.compact_interval_us > 0, "apiserver.compact_interval_us", "must be positive")
    need(a.page_limit >= 1, "apiserver.page_limit", f"must be >= 1, got {a.page_limit}")
    p = scenario.control_plane
    need(1 <= p.apiservers <= 9, "control_plane.apiservers", f"must be 1..9, got {p.apiservers}")
    need(1 <= p.nodes <= 200, "control_plane.nodes", f"must be 1..200, got {p.nodes}")
    need(0 <= p.replicasets <= 50, "control_plane.replicasets", f"must be 0..50, got {p.replicasets}")
    need(1 <= p.max_replicas, "control_plane.max_replicas", f"must be >= 1, got {p.max_replicas}")
    need(0 <= p.replicas <= p.max_replicas, "control_plane.replicas",
         f"must be 0..max_replicas ({p.max_replicas}), got {p.replicas}")
    need(p.scales >= 0, "control_plane.scales", f"must be >= 0, got {p.scales}")
    need(0 <= p.deployments <= 50, "control_plane.deployments", f"must be 0..50, got {p.deployments}")
    need(p.rollouts >= 0, "control_plane.rollouts", f"must be >= 0, got {p.rollouts}")
    need(p.node_cpu_m > 0 and p.pod_cpu_m > 0, "control_plane", "node_cpu_m and pod_cpu_m must be positive")
    need(p.compact_interval_us > 0, "control_plane.compact_interval_us", "must be positive")
    need(0 <= p.crashloops <= 10, "control_plane.crashloops", f"must be 0..10, got {p.crashloops}")
    need(1 <= p.crashloop_replicas <= 10, "control_plane.crashloop_replicas",
         f"must be 1..10, got {p.crashloop_replicas}")
    need(0 <= p.standbys <= 3, "control_plane.standbys", f"must be 0..3, got {p.standbys}")
    need(p.toleration_s >= 0, "control_plane.toleration_s", f"must be >= 0, got {p.toleration_s}")
    q = scenario.networking
    need(q.proxy_mode in ("iptables", "ipvs", "mixed"), "networking.proxy_mode",
         f"must be iptables, ipvs or mixed, got {q.proxy_mode!r}")
    need(q.proxy_sync_ms >= 0, "networking.proxy_sync_ms", "must be >= 0")
    need(q.readiness_delay_ms >= 0, "networking.readiness_delay_ms", "must be >= 0")
    need(20 <= q.service_cidr_bits <= 28, "networking.service_cidr_bits", f"must be 20..28, got {q.service_cidr_bits}")
    need(q.churn_services >= 0 and q.churns >= 0, "networking", "churn_services and churns must be >= 0")
    need(q.requests_per_s >= 0, "networking.requests_per_s", "must be >= 0")
    need(q.affinity_timeout_s >= 1, "networking.affinity_timeout_s", "must be >= 1")
    need(0 <= p.statefulsets <= 50, "control_plane.statefulsets", f"must be 0..50, got {p.statefulsets}")
    need(0 <= p.owner_deletes <= p.deployments, "control_plane.owner_deletes",
         f"must be 0..deployments ({p.deployments}), got {p.owner_deletes}")
    need(0 <= p.spread_replicas <= p.nodes, "control_plane.spread_replicas",
         f"must be 0..nodes ({p.nodes}): each pod needs a node of its own, got {p.spread_replicas}")
    known = (set(member_names(c.members)) | set(discovery_nodes(scenario)) | set(apiserver_nodes(scenario))
             | set(control_plane_nodes(scenario)) | set(networking_nodes(scenario)))
    aliases = {"@leader": ("crash", "pause", "clock", "clock_jump", "shape", "remove_member", "demote"),
               "@crashed": ("restart",), "@paused": ("resume",),
               "@followers": ("clock", "clock_jump")}
    for i, fault in enumerate(scenario.faults):
        path = f"faults[{i}]"
        need(fault.kind in FAULT_KINDS, f"{path}.kind",
             f"unknown fault {fault.kind!r}; known: {', '.join(FAULT_KINDS)}")
        need(0 <= fault.at_us <= scenario.duration_us, f"{path}.at_us",
             f"must be within the run (0..{scenario.duration_us}), got {fault.at_us}")
        if i:
            need(fault.at_us >= scenario.faults[i - 1].at_us, f"{path}.at_us", "faults must be in time order")
        if fault.kind == "add_member":
            need(bool(fault.node), f"{path}.node", "add_member needs a node name")
            need(fault.node not in known, f"{path}.node", f"node {fault.node!r} already exists")
            known.add(fault.node)
            continue
        if fault.kind in _NODE_REQUIRED:
            need(bool(fault.node), f"{path}.node", f"{fault.kind} needs a node")
        if fault.node in aliases:
            need(fault.kind in aliases[fault.node], f"{path}.node",
                 f"{fault.node} cannot be the node of a {fault.kind} fault")
        elif fault.node:
            need(fault.node in known, f"{path}.node", f"unknown node {fault.node!r}")
        for g, group in enumerate(fault.groups):
            for node in group:
                need(node in known, f"{path}.groups[{g}]", f"unknown node {node!r}")
        for link in fault.links:
            need(link[0] in known and link[1] in known, f"{path}.links", f"unknown node in link {link!r}")
        if fault.kind == "shape":
            need(fault.shape in SHAPES, f"{path}.shape", f"unknown shape {fault.shape!r}; known: {', '.join(SHAPES)}")
        if fault.kind == "network":
            for name in ("loss", "duplicate", "spike_prob"):
                value = getattr(fault, name)
                need(0.0 <= value <= 1.0, f"{path}.{name}", f"must be a probability in [0, 1], got {value}")
        if fault.kind in SYSTEM_FAULT_KINDS:
            need(fault.delta_us >= 0, f"{path}.delta_us", f"must be >= 0, got {fault.delta_us}")
        if fault.kind == "clock":
            need(fault.drift_ppm > -500_000, f"{path}.drift_ppm", "must be > -500000")
    return scenario


# -- JSON ---------------------------------------------------------------------------


def _to_plain(value: Any) -> Any:
    if attrs.has(type(value)):
        out = {}
        for field in attrs.fields(type(value)):
            item = getattr(value, field.name)
            if field.default is not attrs.NOTHING and item == field.default and field.name != "kind":
                continue
            out[field.name] = _to_plain(item)
        return out
    if isinstance(value, tuple):
        return [_to_plain(v) for v in value]
    return value


def scenario_to_dict(scenario: Scenario) -> dict[str, Any]:
    return {"raftkv_scenario": 1, **_to_plain(scenario)}


def scenario_to_json(scenario: Scenario, indent: int | None = 2) -> str:
    separators = (",", ":") if indent is None else None
    return json.dumps(scenario_to_dict(scenario), indent=indent, sort_keys=True, separators=separators)


_TYPE_NAMES = {int: "an integer", float: "a number", str: "a string", bool: "true or false"}


def _convert(tp: Any, value: Any, path: str) -> Any:
    origin = typing.get_origin(tp)
    if attrs.has(tp):
        return _from_dict(tp, value, path)
    if origin is tuple:
        args = typing.get_args(tp)
        if not isinstance(value, list):
            raise ScenarioError(f"{path}: expected a list, got {json.dumps(value)}")
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_convert(args[0], v, f"{path}[{i}]") for i, v in enumerate(value))
        if len(value) != len(args):
            raise ScenarioError(f"{path}: expected a list of {len(args)} items, got {len(value)}")
        return tuple(_convert(a, v, f"{path}[{i}]") for i, (a, v) in enumerate(zip(args, value)))
    if origin in (typing.Union, types.UnionType):
        raise AssertionError("unions are not used in scenarios")
    if tp is bool:
        ok = isinstance(value, bool)
    elif tp is int:
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif tp is float:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        value = float(value) if ok else value
    elif tp is str:
        ok = isinstance(value, str)
    else:  # pragma: no cover - a field type this converter does not know
        raise AssertionError(f"no converter for {tp!r}")
    if not ok:
        raise ScenarioError(f"{path}: expected {_TYPE_NAMES[tp]}, got {json.dumps(value)}")
    return value


def _from_dict(cls: Any, data: Any, path: str) -> Any:
    if not isinstance(data, dict):
        raise ScenarioError(f"{path}: expected an object, got {json.dumps(data)}")
    hints = typing.get_type_hints(cls)
    fields = attrs.fields_dict(cls)
    for name in sorted(data):
        if name not in fields:
            raise ScenarioError(f"{path}: unknown field {name!r}")
    kwargs = {}
    for name, field in fields.items():
        if name in data:
            kwargs[name] = _convert(hints[name], data[name], f"{path}.{name}")
        elif field.default is attrs.NOTHING:
            raise ScenarioError(f"{path}: missing field {name!r}")
    try:
        return cls(**kwargs)
    except (TypeError, ValueError) as exc:
        raise ScenarioError(f"{path}: {exc}") from None


def scenario_from_dict(data: Any) -> Scenario:
    if not isinstance(data, dict):
        raise ScenarioError(f"scenario: expected a JSON object, got {json.dumps(data)[:40]}")
    data = dict(data)
    version = data.pop("raftkv_scenario", 1)
    if version != 1:
        raise ScenarioError(f"scenario.raftkv_scenario: unsupported version {version!r} (this raftkv reads 1)")
    scenario = _from_dict(Scenario, data, "scenario")
    assert isinstance(scenario, Scenario)
    return validate(scenario)


def scenario_from_json(text: str) -> Scenario:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ScenarioError(f"scenario: not valid JSON ({exc.msg} at line {exc.lineno} column {exc.colno})") from None
    return scenario_from_dict(data)


# -- tokens -------------------------------------------------------------------------


def scenario_to_token(scenario: Scenario) -> str:
    """A short URL-safe string: ``rk1_`` + base64url(zlib(compact JSON))."""
    raw = scenario_to_json(scenario, indent=None).encode()
    packed = base64.urlsafe_b64encode(zlib.compress(raw, 9)).decode().rstrip("=")
    return TOKEN_PREFIX + packed


def scenario_from_token(token: str) -> Scenario:
    token = token.strip()
    if not token.startswith(TOKEN_PREFIX):
        raise ScenarioError(f"token: does not start with {TOKEN_PREFIX!r} (is it a raftkv scenario token?)")
    body = token[len(TOKEN_PREFIX):]
    try:
        packed = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
        raw = zlib.decompress(packed)
    except (binascii.Error, ValueError, zlib.error):
        raise ScenarioError("token: corrupted (it does not decode; was it cut short when copied?)") from None
    try:
        text = raw.decode()
    except UnicodeDecodeError:
        raise ScenarioError("token: corrupted (the decoded scenario is not text)") from None
    return scenario_from_json(text)
