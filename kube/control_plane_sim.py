"""The ``control_plane`` system: controllers, a scheduler and simulated nodes on the kube
apiserver, on a simulated raftkv cluster.

Registered in :data:`raftkv.sim.SYSTEM_BUILDERS` (``Scenario(system="control_plane",
control_plane=ControlPlaneSpec(...))``).  Beside the members (the kv system's, no etcd
workload), every component a node of its own, talking to the apiservers over the
simulated network through the kube client only:

* apiservers ``a1..`` (each with its etcd client on its own member, a watch cache and the
  compactor); controller managers ``cm1..`` (the ReplicaSet, Deployment and node lifecycle
  controllers) and schedulers ``s1..`` (``standbys + 1`` of each; one of each leads, elected
  through a Lease, with fenced writes: kube.leaderelection); kubelets ``m1..`` (node
  ``m<i>``, pod CIDR ``10.244.<i>.0/24``, posting their status every 2 s); a user
  ``u1`` who creates the ReplicaSets ``rs-0..`` and Deployments ``deploy-0..`` (rolling
  update, maxSurge 1, maxUnavailable 1), and while faults run scales them and changes the
  Deployments' image (sometimes back to an earlier one: a rollback); and, with
  ``crashloops``, ReplicaSets ``crash-0..`` whose containers exit with code 1 after 0.3 s,
  grow to 64Mi over a 32Mi memory limit (OOMKilled), or exit 0 after 6 s, in turn (the
  kubelets restart them with the crash-loop backoff :data:`SIM_BACKOFF`).  With
  ``statefulsets``, StatefulSets ``sts-0..`` too (a headless Service each, a claim per pod;
  scaled and rolled out like the rest; the controller manager then runs the StatefulSet and
  volume controllers), and with ``owner_deletes`` the user deletes a Deployment with a
  random propagation policy.  With ``spread_replicas``, a ReplicaSet ``spread-0`` of pods
  asking for no CPU that must each run on a node of their own (a required pod
  anti-affinity on ``kubernetes.io/hostname``) and spread over the zones (DoNotSchedule,
  maxSkew 1; kubelet ``m<i>`` is in zone ``zone-a``, ``zone-b``, ``zone-c`` in turn).
  The controller manager always runs the garbage collector.

Checked (``control_plane.*``):

* ``control_plane.pod_on_two_nodes``: no pod ever runs on two nodes at once;
* ``control_plane.pod_ip``: no two running pods share an IP;
* ``control_plane.node_overcommit``: the pods a node runs never ask for more than its
  allocatable;
* ``control_plane.over_replicated``: sampled every 20 ms from the store, a ReplicaSet
  the user made (not one a Deployment owns: it asks for no fixed count) never has more active pods than the most replicas it was ever asked for, plus the pod
  creations of unknown outcome (an unanswered create may have happened);
* ``control_plane.convergence`` (the run's liveness): once faults heal, every ReplicaSet
  has exactly ``spec.replicas`` active pods, each running on its node, and reports them
  ready in its status; every Deployment completed its rollout: status observed its
  generation, its new ReplicaSet (the one with its template) has all replicas updated
  and available, its old ReplicaSets are scaled to 0 (``rollout_status`` says done).
  Availability during a rollout is not judged: faults may take any pod down;
* ``control_plane.restart_backoff``: from the container runtimes' event record, a
  container restarted sooner after its exit than its crash-loop backoff allows (the n-th
  restart in a row waits ``SIM_BACKOFF.delay_s(n - 1)``; a run of
  ``SIM_BACKOFF.reset_after_s`` starts the count again; a new sandbox starts afresh);
* ``control_plane.memory_limit``: a container's memory use was charged over its limit
  (it must be OOM-killed instead);
* ``control_plane.task_error``: a component task died of an exception;
* ``control_plane.fencing``: no write of a deposed leader (an older term of its Lease)
  lands, by resourceVersion, after a write of a newer leader;
* ``control_plane.scheduler_overcommit``: sampled from the store, the active pods bound
  to a node never ask for more than its allocatable;
* ``control_plane.early_eviction``: no pod is evicted from a node that renewed its Lease
  less than (grace period + tolerationSeconds) x 0.75 before;
* ``control_plane.statefulset_identity``: a pod never starts while another pod with its
  name (a StatefulSet identity ``<sts>-<i>``) still runs on some node;
* ``control_plane.anti_affinity``: from the kubelets' sandboxes, a pod never starts in a
  topology domain (its node's value of the term's ``topologyKey``) where a running pod
  runs that its required anti-affinity terms match, or whose terms match it;
* ``control_plane.volume_rwo``: a ReadWriteOnce volume is attached to one node at most
  (seen at the CSI driver);
* ``control_plane.gc_live_owner``: the garbage collector never deletes an object one of
  whose owners (by uid) is in the store and not being deleted;
* convergence also: every StatefulSet has ordinals ``0..n-1`` running and ready, each on
  its own bound claim, none beyond, status updated; no object whose owners are all gone,
  none waiting on a ``foregroundDeletion`` or ``orphan`` finalizer;
* convergence also wants every machine not lost Ready and untainted, the pods of lost
  machines replaced, and no sandbox left of a pod that is gone.

Convergence asks of a ``crash-*`` ReplicaSet its replicas active and their sandboxes
running, not ready: its pods crash-loop by design.

Its own fault kinds (``system_fault``): ``lose_node``, ``lag_watch``, ``coalesce_watch``,
``slow_heartbeat``, ``crash_mid_reconcile``, ``pause_mid_reconcile``
(:mod:`kube.component_faults`); each is recorded in the trace as a ``fault`` event.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from raftkv.check import History, make_history
from raftkv.sim import (
    SYSTEM_BUILDERS,
    Fault,
    Scenario,
    SimRuntime,
    TaskHost,
    Violation,
    World,
    task_errors,
)
from raftkv.sim.scenario import control_plane_nodes

from .apiserver import ApiServer
from .client import KubeClient
from .component_faults import ComponentFaults, FaultyTransport
from .controllers import (
    DeploymentController,
    GarbageCollector,
    PersistentVolumeController,
    ReplicaSetController,
    Scheduler,
    SharedInformers,
    StatefulSetController,
    claim_name,
    controller_of,
    is_active,
    is_ready,
    pod_requests,
    rollout_status,
)
from .controllers.affinity import HOSTNAME_LABEL, ZONE_LABEL, PodTerm, pod_terms
from .controllers.deployment import HASH_LABEL
from .controllers.garbage_collector import GC_RESOURCES
from .controllers.node_lifecycle import NOT_READY_TAINT, UNREACHABLE_TAINT, NodeLifecycleController
from .controllers.podgc import CloudNodeLifecycleController, PodGC
from .csi import CsiDriver
from .errors import ApiError
from .fencing import Fence
from .kubelet import Kubelet, NodeConfig, PodSandboxes, Sandbox, zone_labels
from .leaderelection import LeaderElectionConfig, LeaderElector
from .node import BackoffPolicy, ContainerEvent
from .transport import ApiServerEndpoint, SimTransport

__all__ = ["ControlPlaneSystem", "deployment_object", "replicaset_object", "statefulset_object"]

NS = "default"
SAMPLE_US = 20_000
#: The kubelets' crash-loop backoff in the simulation (the kubelet's own, 10 s to 300 s
#: and 10 minutes, would not show within a run).
SIM_BACKOFF = BackoffPolicy(initial_s=0.4, max_s=3.2, reset_after_s=5.0)
#: The commands of the ``crash-<i>`` ReplicaSets' containers, in turn, with their limits.
CRASHLOOP_CONTAINERS: tuple[tuple[tuple[str, ...], dict[str, str]], ...] = (
    (("exit", "1", "0.3"), {}),
    (("oom", "64Mi", "0.3"), {"memory": "32Mi"}),
    (("exit", "0", "6"), {}),
)


def crashloop_object(name: str, replicas: int, index: int, *, toleration_s: int | None = None) -> dict[str, Any]:
    """A ReplicaSet whose pods (no CPU asked) never stay up, the ``index``-th way of
    :data:`CRASHLOOP_CONTAINERS` (``toleration_s``: as :func:`replicaset_object`'s)."""
    command, limits = CRASHLOOP_CONTAINERS[index % len(CRASHLOOP_CONTAINERS)]
    container: dict[str, Any] = {"name": "app", "image": "busybox", "command": list(command)}
    if limits:
        container["resources"] = {"limits": dict(limits)}
    pod_spec: dict[str, Any] = {"containers": [container]}
    if toleration_s is not None:
        pod_spec["tolerations"] = unreachable_tolerations(toleration_s)
    return {"apiVersion": "apps/v1", "kind": "ReplicaSet", "metadata": {"name": name, "namespace": NS},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
                     "template": {"metadata": {"labels": {"app": name}}, "spec": pod_spec}}}


def spread_object(name: str, replicas: int, *, toleration_s: int | None = None) -> dict[str, Any]:
    """A ReplicaSet whose pods (no CPU asked) keep off each other's node (a required pod
    anti-affinity on ``kubernetes.io/hostname``) and spread over zones (DoNotSchedule,
    maxSkew 1 on ``topology.kubernetes.io/zone``)."""
    obj = replicaset_object(name, replicas, 0, toleration_s=toleration_s)
    selector = {"matchLabels": {"app": name}}
    obj["spec"]["template"]["spec"].update({
        "affinity": {"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
            {"labelSelector": selector, "topologyKey": HOSTNAME_LABEL}]}},
        "topologySpreadConstraints": [{"maxSkew": 1, "topologyKey": ZONE_LABEL,
                                       "whenUnsatisfiable": "DoNotSchedule", "labelSelector": selector}]})
    return obj


def unreachable_tolerations(toleration_s: int) -> list[dict[str, Any]]:
    """Tolerating an unreachable or not-ready node for ``toleration_s`` (what
    kube-apiserver's DefaultTolerationSeconds admission adds, with 300 s)."""
    return [{"key": key, "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": toleration_s}
            for key in (NOT_READY_TAINT, UNREACHABLE_TAINT)]


NODE_GRACE_S = 3.0  # the node lifecycle controller's node-monitor-grace-period (40 s in Kubernetes)
NODE_STATUS_SYNC_S = 2.0  # how often a kubelet posts its node status again
STANDBY_START_US = 1_000_000  # standby controller managers and schedulers start later
# An eviction decided earlier than this share of (grace period + tolerationSeconds) after
# the node's last heartbeat is too early (the rest allows for clock drift of the
# controller manager); heartbeats answered in the last EVICTION_SLACK_US before the
# decision may have landed after the controller's read.
EVICTION_TIMING_SHARE = 0.75
EVICTION_SLACK_US = 300_000


def replicaset_object(name: str, replicas: int, cpu_m: int, *, toleration_s: int | None = None) -> dict[str, Any]:
    """``toleration_s``: the pods tolerate an unreachable or not-ready node that long
    (what kube-apiserver's DefaultTolerationSeconds admission adds, with 300 s)."""
    obj: dict[str, Any] = {"apiVersion": "apps/v1", "kind": "ReplicaSet", "metadata": {"name": name, "namespace": NS},
           "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
                    "template": {"metadata": {"labels": {"app": name}},
                                 "spec": {"containers": [{"name": "app", "image": "registry.k8s.io/pause:3.9",
                                                          "resources": {"requests": {"cpu": f"{cpu_m}m"}}}]}}}}
    if toleration_s is not None:
        obj["spec"]["template"]["spec"]["tolerations"] = unreachable_tolerations(toleration_s)
    return obj


def deployment_object(name: str, replicas: int, cpu_m: int, image: str = "registry.k8s.io/pause:3.9", *,
                      toleration_s: int | None = None) -> dict[str, Any]:
    obj = replicaset_object(name, replicas, cpu_m, toleration_s=toleration_s)
    obj["kind"] = "Deployment"
    obj["spec"]["template"]["spec"]["containers"][0]["image"] = image
    obj["spec"]["strategy"] = {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 1}}
    return obj


def statefulset_object(name: str, replicas: int, cpu_m: int, *, when_scaled: str = "Retain",
                       policy: str = "OrderedReady", access_mode: str = "ReadWriteOnce",
                       toleration_s: int | None = None) -> dict[str, Any]:
    """A StatefulSet with a headless Service of its name and one claim ``data`` per pod
    (``toleration_s``: as :func:`replicaset_object`'s)."""
    obj = replicaset_object(name, replicas, cpu_m, toleration_s=toleration_s)
    obj["kind"] = "StatefulSet"
    # A database-like server: it takes a while to stop (its preStop hook flushes), while its
    # replacement must wait (never two pods with one identity).
    pod_spec = obj["spec"]["template"]["spec"]
    pod_spec["terminationGracePeriodSeconds"] = STATEFUL_GRACE_S
    for container in pod_spec["containers"]:
        container["lifecycle"] = {"preStop": {"exec": {"command": ["sleep", str(STATEFUL_SHUTDOWN_S)]}}}
    obj["spec"].update({"serviceName": name, "podManagementPolicy": policy,
                        "persistentVolumeClaimRetentionPolicy": {"whenDeleted": "Retain", "whenScaled": when_scaled},
                        "volumeClaimTemplates": [{"metadata": {"name": "data"}, "spec": {
                            "accessModes": [access_mode], "resources": {"requests": {"storage": "1Gi"}}}}]})
    return obj


def headless_service(name: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "namespace": NS},
            "spec": {"clusterIP": "None", "selector": {"app": name}, "ports": [{"port": 80}]}}


STOP_S = 0.2  # how long a pod's containers take to stop (SIGTERM to exit)
STATEFUL_SHUTDOWN_S = 1.5  # a StatefulSet pod's preStop hook (before SIGTERM)
STATEFUL_GRACE_S = 5  # its terminationGracePeriodSeconds
DELETE_POLICIES = ("Background", "Foreground", "Orphan")
IMAGES = ("registry.k8s.io/pause:3.8", "registry.k8s.io/pause:3.9", "registry.k8s.io/pause:3.10")


def _without_hash(template: dict[str, Any]) -> dict[str, Any]:
    labels = {k: v for k, v in template["metadata"]["labels"].items() if k != HASH_LABEL}
    return {**template, "metadata": {**template["metadata"], "labels": labels}}


def _prefix_end(prefix: bytes) -> bytes:
    return prefix[:-1] + bytes([prefix[-1] + 1])


class ControlPlaneSystem:
    def __init__(self, scenario: Scenario, world: World) -> None:
        self.scenario = scenario
        self.world = world
        self.kv: Any = SYSTEM_BUILDERS["kv"](scenario, world)
        self.membership = self.kv.membership
        self.spec = scenario.control_plane
        self.bugs = frozenset(scenario.bugs)
        nodes = control_plane_nodes(scenario)
        self.apiservers = tuple(n for n in nodes if n.startswith("a"))
        self.machines = tuple(n for n in nodes if n.startswith("m"))
        self.names = tuple(f"rs-{i}" for i in range(self.spec.replicasets))
        self.deployment_names = tuple(f"deploy-{i}" for i in range(self.spec.deployments))
        self.crashloop_names = tuple(f"crash-{i}" for i in range(self.spec.crashloops))
        self.spread_names = ("spread-0",) if self.spec.spread_replicas else ()
        self.anti_terms: dict[str, tuple[PodTerm, ...]] = {}  # app label -> its pods' required anti-affinity
        # (node, pod uid, container) -> (restarts in a row, last start, last exit or None), monotonic us
        self.container_runs: dict[tuple[str, str, str], tuple[int, int, int | None]] = {}
        self.container_restarts = 0
        self.oom_kills = 0
        self.statefulset_names = tuple(f"sts-{i}" for i in range(self.spec.statefulsets))
        self.deleted: dict[str, str] = {}  # Deployment -> the propagation policy it was deleted with
        self.csi = CsiDriver(on_change=self._volume_changed)
        self.attached: dict[str, dict[str, None]] = {}  # volume -> nodes it is attached to
        self.gc_deletes = 0
        self._stored_cache: dict[str, tuple[tuple[str, int], list[dict[str, Any]]]] = {}
        self.max_replicas: dict[str, int] = {}
        self.unknown_creates: dict[str, int] = {}  # "default/rs-0" -> creates of unknown outcome
        self.running: dict[str, tuple[str, Sandbox]] = {}  # pod uid -> (node, sandbox)
        self.found: list[Violation] = []
        self.created: dict[str, bool] = {}
        self.starts = 0
        self.samples = 0
        self.peak_pods = 0
        self.controllers: dict[str, Any] = {}
        self.quiet = False
        self.controller_managers = tuple(n for n in nodes if n.startswith("cm"))
        self.schedulers = tuple(n for n in nodes if n.startswith("s"))
        self.faults: dict[str, ComponentFaults] = {}  # component node -> its Sieve-style faults
        self.lost: dict[str, int] = {}  # machine lost for good -> when
        self.renewals: dict[str, list[int]] = {}  # node -> times its kubelet's Lease renewals succeeded
        self.evictions: list[tuple[int, str, str]] = []  # (time, pod, node) of each eviction decided
        self.writes: dict[str, list[tuple[int, str, int, str]]] = {}  # lease -> (term, holder, rv, what)
        self.elected: list[tuple[int, str, str, int]] = []  # (time, lease, holder, term)

    # ------------------------------------------------------------------ components
    def _transport(self, rt: SimRuntime, index: int) -> Any:
        k = index % len(self.apiservers)
        inner = SimTransport(rt, self.apiservers[k:] + self.apiservers[:k])
        return FaultyTransport(rt, inner, self._faults_of(rt.node_id))

    def _faults_of(self, node: str) -> ComponentFaults:
        if node not in self.faults:
            def crash() -> None:
                self.world.record("fault", node=node, fault="crash_mid_reconcile", what="crashed after a write")
                self.world.schedule(self.world.now_us, lambda: self.world.crash(node))
            def pause(pause_us: int) -> None:
                self.world.record("fault", node=node, fault="pause_mid_reconcile", what="paused after a write",
                                  pause_us=pause_us)
                self.world.pause(node)
                self.world.schedule(self.world.now_us + pause_us, lambda: self.world.resume(node))
            self.faults[node] = ComponentFaults(on_crash=crash, on_pause=pause)
        return self.faults[node]

    async def _apiserver(self, rt: SimRuntime) -> None:
        members = self.kv.client_members()
        own = members[self.apiservers.index(rt.node_id) % len(members)]
        etcd = rt.etcd_client((own, *(m for m in members if m != own)), config=self.kv.client_config,
                              bugs=self.bugs)
        server = ApiServer(rt, etcd, bugs=self.bugs, on_write=self._landed, **self._apiserver_options())
        rt.add_handler(ApiServerEndpoint(rt, server))
        await server.run(compact_interval_s=self.spec.compact_interval_us / 1e6, **self._apiserver_run_options())

    def _apiserver_options(self) -> dict[str, Any]:
        """Keyword arguments of the apiservers (a hook for systems built on this one)."""
        return {}

    def _apiserver_run_options(self) -> dict[str, Any]:
        return {}

    async def _elect(self, rt: SimRuntime, lease: str, index: int, lead: Any) -> None:
        """Run ``lead(client)`` while this replica holds ``lease`` (kube.leaderelection);
        the standbys (``cm2``, ``s2``, ...) come up a second after the first replica."""
        if rt.node_id not in ("cm1", "s1") and self.world.now_us < STANDBY_START_US:
            await rt.sleep((STANDBY_START_US - self.world.now_us) / 1e6)
        transport = self._transport(rt, index)
        elector = LeaderElector(rt, KubeClient(transport), LeaderElectionConfig(lease_name=lease, identity=rt.node_id),
                                bugs=self.bugs)
        self.controllers[f"{rt.node_id}/elector"] = elector

        async def leading(client: KubeClient) -> None:
            assert elector.fence is not None
            self.elected.append((self.world.now_us, lease, rt.node_id, elector.fence.transitions))
            await lead(client)
        await elector.run(leading, transport)

    async def _controller_manager(self, rt: SimRuntime) -> None:
        async def lead(client: KubeClient) -> None:
            informers = SharedInformers(rt, client)
            # The collector first: its informers (core kinds first, as discovery lists them) start first.
            gc = GarbageCollector(rt, client, informers, bugs=self.bugs, on_delete=self._gc_deleted)
            self.controllers["cm/gc"] = gc
            rsc = ReplicaSetController(rt, client, informers, bugs=self.bugs)
            rsc.unknown_creates = self.unknown_creates  # kept across restarts, for the check
            self.controllers["cm"] = rsc
            tasks = []
            if self.deployment_names:  # (scenarios without Deployments run as they did before it)
                dc = DeploymentController(rt, client, informers)
                self.controllers["cm/deployment"] = dc
                tasks.append(rt.spawn(dc.run(), name="deployment-controller"))
            if self.statefulset_names:
                stsc = StatefulSetController(rt, client, informers, bugs=self.bugs)
                pvc = PersistentVolumeController(rt, client, informers)
                self.controllers["cm/statefulset"], self.controllers["cm/volume"] = stsc, pvc
                tasks.append(rt.spawn(stsc.run(), name="statefulset-controller"))
                tasks.append(rt.spawn(pvc.run(), name="persistentvolume-controller"))
            nlc = NodeLifecycleController(rt, client, informers, grace_period_s=NODE_GRACE_S,
                                          on_evict=self._evicting, bugs=self.bugs)
            self.controllers["cm/node-lifecycle"] = nlc
            tasks.append(rt.spawn(nlc.run(), name="node-lifecycle-controller"))
            tasks.append(rt.spawn(gc.run(), name="garbage-collector"))
            # A machine lost for good: the cloud's node controller deletes its Node, then
            # the pod GC force-deletes its pods and volume attachments (kube.controllers.podgc).
            cloud = CloudNodeLifecycleController(rt, client, lambda name: name not in self.lost)
            podgc = PodGC(rt, client)
            self.controllers["cm/cloud-node"], self.controllers["cm/podgc"] = cloud, podgc
            tasks.append(rt.spawn(cloud.run(), name="cloud-node-lifecycle"))
            tasks.append(rt.spawn(podgc.run(), name="pod-gc"))
            try:
                await rsc.run()
            finally:
                for task in tasks:
                    task.cancel()
                informers.stop()
        await self._elect(rt, "kube-controller-manager", 0, lead)

    async def _scheduler(self, rt: SimRuntime) -> None:
        async def lead(client: KubeClient) -> None:
            informers = SharedInformers(rt, client)
            sched = Scheduler(rt, client, informers, bugs=self.bugs)
            self.controllers["s"] = sched
            try:
                await sched.run()
            finally:
                informers.stop()
        await self._elect(rt, "kube-scheduler", 1, lead)

    def _node_config(self, node: str) -> NodeConfig:
        i = int(node[1:])
        return NodeConfig(name=node, pod_cidr=f"10.244.{i}.0/24", cpu=f"{self.spec.node_cpu_m}m", memory="8Gi", pods=20,
                          labels=zone_labels(i))

    async def _kubelet(self, rt: SimRuntime) -> None:
        node = rt.node_id
        if node in self.lost:
            return  # the machine is gone for good
        kubelet = Kubelet(rt, KubeClient(self._transport(rt, int(node[1:]))), self._node_config(node),
                          PodSandboxes(node, self._sandbox_changed, on_ready=self._sandbox_ready),
                          backoff=SIM_BACKOFF, bugs=self.bugs, status_sync_s=NODE_STATUS_SYNC_S,
                          on_lease_renewed=self._renewed, csi=self.csi, stop_s=STOP_S)
        kubelet.cri.subscribe(self._container_event)
        self.controllers[node] = kubelet
        await kubelet.run()

    async def _create(self, rt: SimRuntime, client: KubeClient, resource: str, obj: dict[str, Any]) -> None:
        name = obj["metadata"]["name"] if resource != "services" else f"services/{obj['metadata']['name']}"
        while not self.created.get(name):
            try:
                await client.create(resource, obj)
                self.created[name] = True
            except ApiError as exc:
                self.created[name] = exc.code == 409
                if not self.created[name]:
                    await rt.sleep(0.3)

    async def _user(self, rt: SimRuntime) -> None:
        client = KubeClient(self._transport(rt, 0))
        rng = rt.random()
        for name in self.names:
            self.max_replicas[name] = max(self.max_replicas.get(name, 0), self.spec.replicas)
            await self._create(rt, client, "replicasets", replicaset_object(
                name, self.spec.replicas, self.spec.pod_cpu_m, toleration_s=self.spec.toleration_s))
        for name in self.deployment_names:
            await self._create(rt, client, "deployments", deployment_object(
                name, self.spec.replicas, self.spec.pod_cpu_m, toleration_s=self.spec.toleration_s))
        for name in self.spread_names:
            obj = spread_object(name, self.spec.spread_replicas, toleration_s=self.spec.toleration_s)
            template = obj["spec"]["template"]
            self.anti_terms[name] = pod_terms({**template, "metadata": {**template["metadata"], "namespace": NS}},
                                              "podAntiAffinity", required=True)
            self.max_replicas[name] = self.spec.spread_replicas
            await self._create(rt, client, "replicasets", obj)
        for i, name in enumerate(self.crashloop_names):
            self.max_replicas[name] = self.spec.crashloop_replicas
            await self._create(rt, client, "replicasets", crashloop_object(
                name, self.spec.crashloop_replicas, i, toleration_s=self.spec.toleration_s))
        for i, name in enumerate(self.statefulset_names):
            await self._create(rt, client, "services", headless_service(name))
            await self._create(rt, client, "statefulsets", statefulset_object(
                name, self.spec.replicas, self.spec.pod_cpu_m, when_scaled=("Retain", "Delete")[i % 2],
                policy=("OrderedReady", "Parallel")[i % 2], access_mode=("ReadWriteMany", "ReadWriteOnce")[i % 2],
                toleration_s=self.spec.toleration_s))
        workloads = ([("replicasets", name) for name in self.names] + [("deployments", n) for n in self.deployment_names]
                     + [("statefulsets", n) for n in self.statefulset_names])
        if not workloads:
            return
        rolled = [("deployments", n) for n in self.deployment_names] + [("statefulsets", n) for n in self.statefulset_names]
        actions = ["scale"] * self.spec.scales + ["rollout"] * (self.spec.rollouts if rolled else 0)
        actions += ["delete"] * self.spec.owner_deletes
        if rolled:
            rng.shuffle(actions)
        fault_phase_s = self.scenario.duration_us / 1e6
        for action in actions:
            await rt.sleep(rng.uniform(0.5, max(0.6, fault_phase_s / max(len(actions), 1))))
            if self.quiet:
                return
            if action == "delete":
                await self._delete_deployment(rt, client, rng)
                continue
            if action == "rollout":
                (kind, name), image = rng.choice(rolled), rng.choice(IMAGES)
                patch: dict[str, Any] = {"spec": {"template": {"spec": {"containers": [
                    {"name": "app", "image": image, "resources": {"requests": {"cpu": f"{self.spec.pod_cpu_m}m"}}}]}}}}
                if name in self.deleted:
                    continue
                try:
                    await client.patch(kind, name, patch, NS)
                except ApiError as exc:
                    rt.record("user.rollout_failed", deployment=name, error=exc.reason)
                continue
            resource, name = rng.choice(workloads)
            if name in self.deleted:
                continue
            replicas = rng.randint(1, self.spec.max_replicas)
            if resource == "replicasets":
                self.max_replicas[name] = max(self.max_replicas[name], replicas)
            try:
                await client.patch(resource, name, {"spec": {"replicas": replicas}}, NS)
            except ApiError as exc:
                rt.record("user.scale_failed", rs=name, error=exc.reason)

    # ------------------------------------------------------------------ faults
    def system_fault(self, fault: Fault) -> None:
        """The control plane's own fault kinds (raftkv.sim.scenario.SYSTEM_FAULT_KINDS)."""
        node = fault.node
        self.world.record("fault", node=node, fault=fault.kind, delta_us=fault.delta_us)
        if fault.kind == "lose_node":
            c = self.spec
            demand = ((len(self.names) + len(self.deployment_names) + len(self.statefulset_names)) * c.max_replicas
                      + len(self.deployment_names))  # (crash-looping pods ask for no CPU)
            left = len(self.machines) - len(self.lost) - 1
            if (node not in self.machines or node in self.lost or left * (c.node_cpu_m // c.pod_cpu_m) < demand
                    or left < c.spread_replicas):  # (each spread pod needs a node of its own)
                self.world.record("fault_skipped", node=node, fault=fault.kind,
                                  why="already lost, or the other machines could not hold every pod")
                return
            self.lost[node] = self.world.now_us
            self.world.crash(node)
            self.csi.machine_gone(node)
            return
        f = self._faults_of(node)
        if fault.kind == "lag_watch":
            f.lag_us = fault.delta_us
        elif fault.kind == "coalesce_watch":
            f.coalesce_us = fault.delta_us
        elif fault.kind == "slow_heartbeat":
            f.delay_us = fault.delta_us
        elif fault.kind == "crash_mid_reconcile":
            f.crash_after_write = True
        elif fault.kind == "pause_mid_reconcile":
            f.pause_after_write_us = fault.delta_us

    def _landed(self, req: Any, resp: Any, fenced_revision: int) -> None:
        """A write an apiserver made: a leader's (its fieldManager names the term) is
        checked by :meth:`_fenced_write`, at the revision its fence was confirmed (a write
        that changed nothing answers with the object's old resourceVersion, which is not
        when it happened)."""
        manager = req.param("fieldManager") or ""
        rv = ((resp.body if isinstance(resp.body, dict) else {}).get("metadata") or {}).get("resourceVersion")
        if manager.count(":") == 2 and rv:
            self._fenced_write(Fence.parse(manager), req, fenced_revision or int(rv))

    def _fenced_write(self, fence: Fence, req: Any, rv: int) -> None:
        """``control_plane.fencing``: no write of a leader lands (by resourceVersion) after
        a write of a later term of its Lease (seen by the apiservers: a write lands whether
        or not its client lives to hear the answer)."""
        lease = f"{fence.lease_namespace}/{fence.lease_name}"
        what = f"{req.verb} {req.resource}{'/' + req.subresource if req.subresource else ''} {req.name}".rstrip()
        writes = self.writes.setdefault(lease, [])
        for term, holder, other_rv, other in writes:
            if term > fence.transitions and other_rv < rv:
                self._violate("control_plane.fencing", (
                    f"{fence.holder} (term {fence.transitions} of {lease}) wrote {what} at revision {rv}, after "
                    f"{holder} (term {term}) had written {other} at revision {other_rv}: a deposed leader's write landed"))
            elif term < fence.transitions and other_rv > rv:
                self._violate("control_plane.fencing", (
                    f"{holder} (term {term} of {lease}) wrote {other} at revision {other_rv}, after "
                    f"{fence.holder} (term {fence.transitions}) had written {what} at revision {rv}: "
                    "a deposed leader's write landed"))
        writes.append((fence.transitions, fence.holder, rv, what))

    def _renewed(self, node: str) -> None:
        self.renewals.setdefault(node, []).append(self.world.now_us)

    def _evicting(self, pod: dict[str, Any], node: str) -> None:
        """``control_plane.early_eviction``: a pod is evicted from its node only once the
        node missed heartbeats for the grace period plus the pod's tolerationSeconds."""
        now = self.world.now_us
        key = f"{pod['metadata']['namespace']}/{pod['metadata']['name']}"
        self.evictions.append((now, key, node))
        tolerations = [t for t in (pod.get("spec") or {}).get("tolerations") or ()
                       if t.get("key") == UNREACHABLE_TAINT and t.get("tolerationSeconds") is not None]
        seconds = int(tolerations[0]["tolerationSeconds"]) if tolerations else 0
        bound_us = round((NODE_GRACE_S + seconds) * EVICTION_TIMING_SHARE * 1_000_000)
        recent = [t for t in self.renewals.get(node, ()) if now - bound_us < t <= now - EVICTION_SLACK_US]
        if recent:
            self._violate("control_plane.early_eviction", (
                f"pod {key} evicted from {node} at {now / 1e6:.3f}s, but {node} renewed its Lease at "
                f"{recent[-1] / 1e6:.3f}s: less than the grace period ({NODE_GRACE_S:g}s) plus its "
                f"tolerationSeconds ({seconds}s) before"))
    async def _delete_deployment(self, rt: SimRuntime, client: KubeClient, rng: Any) -> None:
        """Delete a Deployment with a propagation policy; the collector does the rest."""
        left = [n for n in self.deployment_names if n not in self.deleted]
        if not left:
            return
        name, policy = rng.choice(left), rng.choice(DELETE_POLICIES)
        self.deleted[name] = policy
        while True:
            try:
                await client.delete("deployments", name, NS, propagation_policy=policy)
                return
            except ApiError as exc:
                if exc.code == 404:
                    return
                rt.record("user.delete_failed", deployment=name, error=exc.reason)
                await rt.sleep(0.3)

    # ------------------------------------------------------------------ ground truth
    def _violate(self, prop: str, message: str) -> None:
        if not any(v.property == prop for v in self.found):
            self.found.append(Violation(property=prop, message=message, time_us=self.world.now_us))

    def _sandbox_ready(self, node: str, sandbox: Sandbox) -> None:
        """A kubelet found a pod it runs ready (a hook for systems built on this one)."""

    def _sandbox_changed(self, node: str, sandbox: Sandbox, running: bool) -> None:
        if not running:
            self.running.pop(sandbox.uid, None)
            return
        self.starts += 1
        other = self.running.get(sandbox.uid)
        if other is not None:
            self._violate("control_plane.pod_on_two_nodes",
                          f"pod {sandbox.key} (uid {sandbox.uid}) started on {node} while running on {other[0]}")
        for uid, (n, s) in sorted(self.running.items()):
            if s.key == sandbox.key and uid != sandbox.uid:
                self._violate("control_plane.statefulset_identity",
                              f"pod {sandbox.key} (uid {sandbox.uid}) started on {node} while another pod with "
                              f"that identity (uid {uid}) still runs on {n}")
        for uid, (n, s) in sorted(self.running.items()):
            if s.ip == sandbox.ip and uid != sandbox.uid:
                self._violate("control_plane.pod_ip", f"pod {sandbox.key} on {node} got IP {sandbox.ip}, "
                                                      f"which pod {s.key} on {n} holds")
        self._check_anti_affinity(node, sandbox)
        self.running[sandbox.uid] = (node, sandbox)
        used: dict[str, int] = {}
        for n, s in self.running.values():
            if n == node:
                for res, amount in s.requests:
                    used[res] = used.get(res, 0) + amount
        if used.get("cpu", 0) > self.spec.node_cpu_m:
            self._violate("control_plane.node_overcommit",
                          f"{node} runs pods asking for {used['cpu']}m cpu, allocatable {self.spec.node_cpu_m}m")

    def _node_labels(self, node: str) -> dict[str, str]:
        return {HOSTNAME_LABEL: node, **dict(self._node_config(node).labels)}

    def _check_anti_affinity(self, node: str, sandbox: Sandbox) -> None:
        """``control_plane.anti_affinity``: a pod never starts in a topology domain where a
        running pod that its required anti-affinity terms match runs, nor where one runs
        whose terms match it (the terms of the workloads the user made)."""
        def as_pod(s: Sandbox) -> dict[str, Any]:
            return {"metadata": {"namespace": s.key.split("/")[0], "labels": dict(s.labels)}}

        def terms(s: Sandbox) -> tuple[PodTerm, ...]:
            return self.anti_terms.get(dict(s.labels).get("app", ""), ())
        mine, here = as_pod(sandbox), self._node_labels(node)
        for uid, (n, s) in sorted(self.running.items()):
            if uid == sandbox.uid:
                continue
            there = self._node_labels(n)
            for term, subject, holder in ([(t, as_pod(s), sandbox) for t in terms(sandbox)]
                                          + [(t, mine, s) for t in terms(s)]):
                key = term.topology_key
                if key in here and here.get(key) == there.get(key) and term.matches(subject):
                    self._violate("control_plane.anti_affinity", (
                        f"pod {sandbox.key} started on {node} while pod {s.key} runs on {n} ({key}={here[key]}): "
                        f"the required anti-affinity of {holder.key} forbids it"))

    def _container_event(self, ev: ContainerEvent) -> None:
        key = (ev.node, ev.pod_uid, ev.container)
        if ev.kind == "memory" and ev.limit_bytes and ev.memory_bytes > ev.limit_bytes:
            self._violate("control_plane.memory_limit",
                          f"container {ev.container} of pod {ev.pod} on {ev.node} uses {ev.memory_bytes} bytes of "
                          f"memory, over its limit of {ev.limit_bytes}, and was not OOM-killed")
        if ev.kind == "exited":
            in_a_row, started_us, _ = self.container_runs.get(key, (0, ev.time_us, None))
            self.container_runs[key] = (in_a_row, started_us, ev.time_us)
            self.oom_kills += ev.reason == "OOMKilled"
        if ev.kind != "started":
            return
        if ev.attempt == 0:  # the first start in a new sandbox
            self.container_runs[key] = (0, ev.time_us, None)
            return
        self.container_restarts += 1
        in_a_row, started_us, exited_us = self.container_runs.get(key, (0, ev.time_us, None))
        if exited_us is None:
            self._violate("control_plane.restart_backoff", f"container {ev.container} of pod {ev.pod} on {ev.node} "
                                                           f"started again (attempt {ev.attempt}) while running")
            return
        if exited_us - started_us >= round(SIM_BACKOFF.reset_after_s * 1e6):
            in_a_row = 0
        wait_us = ev.time_us - exited_us
        allowed_us = round(SIM_BACKOFF.delay_s(in_a_row) * 1e6)
        if wait_us < allowed_us:
            self._violate("control_plane.restart_backoff",
                          f"container {ev.container} of pod {ev.pod} on {ev.node} restarted (attempt {ev.attempt}, "
                          f"restart {in_a_row + 1} in a row) {wait_us / 1e6:.3f}s after it exited; its backoff "
                          f"allows {allowed_us / 1e6:g}s")
        self.container_runs[key] = (in_a_row + 1, ev.time_us, None)
    def _volume_changed(self, node: str, volume: str, attached: bool) -> None:
        nodes = self.attached.setdefault(volume, {})
        if not attached:
            nodes.pop(node, None)
            return
        if nodes and self.csi.exclusive.get(volume, True):
            self._violate("control_plane.volume_rwo", f"ReadWriteOnce volume {volume} attached to {node} while "
                                                      f"attached to {', '.join(sorted(nodes))}")
        nodes[node] = None

    def _gc_deleted(self, resource: str, obj: dict[str, Any], tries: int = 0) -> None:
        """The collector deleted ``obj`` (as of the deletion): none of its owners may be
        alive then (absent, or being deleted in the foreground, is what allows it)."""
        self.gc_deletes += tries == 0
        leader = self.kv.leader()
        rv = int(obj["metadata"].get("resourceVersion", 0) or 0)
        if leader is None or self.kv.server(leader).store.revision < rv:
            if tries < 50:  # the leader has not applied the deletion yet: look again shortly
                self.world.schedule(self.world.now_us + SAMPLE_US, lambda: self._gc_deleted(resource, obj, tries + 1))
            return
        for ref in obj["metadata"].get("ownerReferences") or ():
            owner_resource = GC_RESOURCES.get(str(ref.get("kind")))
            owners = self._stored(owner_resource) if owner_resource else None
            live = [o for o in owners or () if o["metadata"]["uid"] == ref.get("uid")
                    and not o["metadata"].get("deletionTimestamp")]
            if live:
                self._violate("control_plane.gc_live_owner", (
                    f"the garbage collector deleted {resource} {obj['metadata']['name']} while its owner "
                    f"{ref.get('kind')} {ref.get('name')} (uid {ref.get('uid')}) exists and is not being deleted"))

    def _stored(self, resource: str) -> list[dict[str, Any]] | None:
        """The objects the leader holds (decoded again only when its revision moved)."""
        leader = self.kv.leader()
        if leader is None:
            return None
        revision = self.kv.server(leader).store.revision
        cached = self._stored_cache.get(resource)
        if cached is not None and cached[0] == (leader, revision):
            return cached[1]
        prefix = f"/registry/{resource}/".encode()
        kvs = self.kv.leader_kvs(prefix, _prefix_end(prefix))
        if kvs is None:
            return None
        items = [json.loads(kvs[key]) for key in sorted(kvs)]
        self._stored_cache[resource] = ((leader, revision), items)
        return items

    def _active_by_rs(self, pods: list[dict[str, Any]], rss: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
        uids = {rs["metadata"]["uid"]: rs["metadata"]["name"] for rs in rss}
        out: dict[str, list[dict[str, Any]]] = {rs["metadata"]["name"]: [] for rs in rss}
        for pod in pods:
            ref = controller_of(pod)
            if ref is not None and ref.get("uid") in uids and is_active(pod):
                out[uids[ref["uid"]]].append(pod)
        return out

    def _check_bound(self, pods: list[dict[str, Any]]) -> None:
        """``control_plane.scheduler_overcommit``: the active pods bound to a node in the
        store never ask for more than its allocatable (the scheduler never overcommits)."""
        used: dict[str, list[dict[str, Any]]] = {}
        for pod in pods:
            node = (pod.get("spec") or {}).get("nodeName")
            if node and is_active(pod):
                used.setdefault(node, []).append(pod)
        for node, bound in sorted(used.items()):
            cpu = sum(pod_requests(p)["cpu"] for p in bound)
            if cpu > self.spec.node_cpu_m:
                self._violate("control_plane.scheduler_overcommit", (
                    f"{node} has pods bound asking for {cpu}m cpu, allocatable {self.spec.node_cpu_m}m: "
                    f"{', '.join(sorted(p['metadata']['name'] for p in bound))}"))

    def _sample(self) -> None:
        self.samples += 1
        pods, rss = self._stored("pods"), self._stored("replicasets")
        if pods is not None:
            self._check_bound(pods)
        if pods is not None and rss is not None:
            rss = [rs for rs in rss if rs["metadata"]["name"] in self.max_replicas]
            self.peak_pods = max(self.peak_pods, len(pods))
            for name, active in sorted(self._active_by_rs(pods, rss).items()):
                bound = self.max_replicas.get(name, 0) + self.unknown_creates.get(f"{NS}/{name}", 0)
                if len(active) > bound:
                    self._violate("control_plane.over_replicated", (
                        f"ReplicaSet {name} has {len(active)} active pods "
                        f"({', '.join(sorted(p['metadata']['name'] for p in active))}); it was never asked for "
                        f"more than {self.max_replicas.get(name, 0)} and "
                        f"{self.unknown_creates.get(f'{NS}/{name}', 0)} creates had an unknown outcome"))
        self.world.schedule(self.world.now_us + SAMPLE_US, self._sample)

    # ------------------------------------------------------------------ wiring
    def start(self) -> None:
        self.kv.start()

        def host(main: Any) -> Any:
            return lambda env: TaskHost(env, main)
        for name in self.apiservers:
            self.world.add_node(name, host(self._apiserver), client=True)
        for name in self.controller_managers:
            self.world.add_node(name, host(self._controller_manager), client=True)
        for name in self.schedulers:
            self.world.add_node(name, host(self._scheduler), client=True)
        for name in self.machines:
            self.world.add_node(name, host(self._kubelet), client=True)
        self.world.add_node("u1", host(self._user), client=True)
        self.world.schedule(SAMPLE_US, self._sample)

    def _components(self) -> tuple[str, ...]:
        return (*self.apiservers, *self.controller_managers, *self.schedulers, *self.machines, "u1")

    def _task_errors(self) -> list[str]:
        return task_errors(self.world, self._components())

    def _convergence_problems(self) -> list[str]:
        pods, rss = self._stored("pods"), self._stored("replicasets")
        if pods is None or rss is None:
            return ["no leader to read the store from"]
        out = [f"ReplicaSet {name} not created yet" for name in (*self.names, *self.crashloop_names, *self.spread_names)
               if not self.created.get(name)]
        out.extend(self._node_problems())
        bound = {p["metadata"]["uid"]: p["spec"].get("nodeName") for p in pods if is_active(p)}
        out.extend(f"{node} still runs pod {sandbox.key} (uid {uid}), which is gone or not bound there"
                   for uid, (node, sandbox) in sorted(self.running.items()) if bound.get(uid) != node)
        for rs in rss:
            name, want = rs["metadata"]["name"], int(rs["spec"]["replicas"])
            active = self._active_by_rs(pods, [rs])[name]
            if len(active) != want:
                out.append(f"{name}: {len(active)} active pods, wants {want}")
                continue
            for pod in active:
                node, uid = pod["spec"].get("nodeName", ""), pod["metadata"]["uid"]
                if node in self.lost:
                    out.append(f"{name}: pod {pod['metadata']['name']} still on lost node {node}")
                elif self.running.get(uid, ("",))[0] != node or not node:
                    out.append(f"{name}: pod {pod['metadata']['name']} not running (node {node or 'none'})")
            if name not in self.crashloop_names and (rs.get("status") or {}).get("readyReplicas", 0) != want:
                out.append(f"{name}: status says {(rs.get('status') or {}).get('readyReplicas', 0)} ready, wants {want}")
        return out + self._rollout_problems(rss) + self._statefulset_problems(pods) + self._garbage_problems()

    def _statefulset_problems(self, pods: list[dict[str, Any]]) -> list[str]:
        """Every StatefulSet has ordinals 0..n-1 running, each on its own bound claim (the
        volume its sandbox mounted), no pod beyond, and its status says all ready and updated."""
        stss, claims = self._stored("statefulsets"), self._stored("persistentvolumeclaims")
        if stss is None or claims is None:
            return ["no leader to read the store from"]
        out = [f"StatefulSet {name} not created yet" for name in self.statefulset_names if not self.created.get(name)]
        claim_of = {c["metadata"]["name"]: c for c in claims}
        for sts in stss:
            name, want, uid = sts["metadata"]["name"], int(sts["spec"]["replicas"]), sts["metadata"]["uid"]
            owned = {p["metadata"]["name"]: p for p in pods if (controller_of(p) or {}).get("uid") == uid}
            for i in range(want):
                pod = owned.pop(f"{name}-{i}", None)
                if pod is None or not is_active(pod) or not is_ready(pod):
                    out.append(f"StatefulSet {name}: ordinal {i} has no ready pod")
                    continue
                node, sandbox = pod["spec"].get("nodeName", ""), self.running.get(pod["metadata"]["uid"])
                if sandbox is None or sandbox[0] != node:
                    out.append(f"StatefulSet {name}: pod {name}-{i} not running (node {node or 'none'})")
                    continue
                claim = claim_of.get(claim_name("data", name, i))
                volume = ((claim or {}).get("spec") or {}).get("volumeName")
                if claim is None or ((claim.get("status") or {}).get("phase") != "Bound") or \
                        sandbox[1].volumes != (volume,):
                    out.append(f"StatefulSet {name}: pod {name}-{i} does not run on its claim "
                               f"{claim_name('data', name, i)} (mounted {sandbox[1].volumes}, claim's volume {volume})")
            out.extend(f"StatefulSet {name}: pod {extra} beyond its {want} replicas" for extra in sorted(owned))
            status = sts.get("status") or {}
            if (status.get("readyReplicas"), status.get("updatedReplicas")) != (want, want) or \
                    status.get("currentRevision") != status.get("updateRevision"):
                out.append(f"StatefulSet {name}: status says {status.get('readyReplicas')} ready, "
                           f"{status.get('updatedReplicas')} updated of {want}")
        return out

    def _garbage_problems(self) -> list[str]:
        """No object whose owners are all gone, none still waiting on a deletion finalizer."""
        stored = {resource: self._stored(resource) for resource in sorted(GC_RESOURCES.values())}
        uids = {o["metadata"]["uid"] for objs in stored.values() for o in objs or ()}
        out = []
        for resource, objs in stored.items():
            for obj in objs or ():
                meta = obj["metadata"]
                refs = meta.get("ownerReferences") or ()
                if refs and not any(ref.get("uid") in uids for ref in refs):
                    out.append(f"{resource} {meta['name']}: its owners are gone, it was not collected")
                pending = [f for f in meta.get("finalizers") or () if f in ("foregroundDeletion", "orphan")]
                if pending:
                    out.append(f"{resource} {meta['name']}: still being deleted ({', '.join(pending)})")
        return out

    def _node_problems(self) -> list[str]:
        """Every machine not lost is Ready again, without the unreachable taints."""
        nodes = self._stored("nodes") or []
        out = []
        for node in nodes:
            name = node["metadata"]["name"]
            if name in self.lost:
                continue
            ready = [c.get("status") for c in (node.get("status") or {}).get("conditions") or () if c.get("type") == "Ready"]
            taints = [t["key"] for t in (node.get("spec") or {}).get("taints") or () if t.get("key") == UNREACHABLE_TAINT]
            if ready != ["True"] or taints:
                out.append(f"node {name} not Ready again (Ready {ready}, {len(taints)} unreachable taints)")
        return out

    def _rollout_problems(self, rss: list[dict[str, Any]]) -> list[str]:
        deployments = self._stored("deployments")
        if deployments is None:
            return ["no leader to read the store from"]
        out = [f"Deployment {name} not created yet" for name in self.deployment_names if not self.created.get(name)]
        for d in deployments:
            if d["metadata"].get("deletionTimestamp"):
                continue  # being deleted: the garbage check judges it
            name, want = d["metadata"]["name"], int(d["spec"]["replicas"])
            owned = [rs for rs in rss if (controller_of(rs) or {}).get("uid") == d["metadata"]["uid"]]
            template = d["spec"]["template"]
            new = [rs for rs in owned if _without_hash(rs["spec"]["template"]) == template]
            if len(new) != 1:
                out.append(f"Deployment {name}: {len(new)} ReplicaSets with its template")
                continue
            status = new[0].get("status") or {}
            if new[0]["spec"]["replicas"] != want or status.get("availableReplicas", 0) != want:
                out.append(f"Deployment {name}: new ReplicaSet {new[0]['metadata']['name']} has "
                           f"{status.get('availableReplicas', 0)} of {want} replicas available")
            out.extend(f"Deployment {name}: old ReplicaSet {rs['metadata']['name']} not scaled to 0"
                       for rs in owned if rs is not new[0] and rs["spec"]["replicas"] != 0)
            try:
                message, done = rollout_status(d)
            except ValueError as exc:
                message, done = str(exc), False
            if not done:
                out.append(f"Deployment {name}: {message}")
        return out

    # ------------------------------------------------------------------ System
    def leader(self) -> str | None:
        leader: str | None = self.kv.leader()
        return leader

    def quiesce(self) -> None:
        self.kv.quiesce()
        self.quiet = True
        for name in sorted(self.faults):
            self.faults[name].clear()

    def is_live(self) -> bool:
        return bool(self.kv.is_live()) and not self._convergence_problems()

    def liveness_report(self) -> str:
        problems = "; ".join(self._convergence_problems()[:4])
        return f"{self.kv.liveness_report()}; control plane: {problems or 'converged'}"

    def history(self) -> History:
        return make_history(())  # no client history: the checks read the object store and the traces

    def check(self, properties: Sequence[str] | None = None) -> list[Violation]:
        def wanted(name: str) -> bool:
            return properties is None or any(name.startswith(p) or p.startswith(name) for p in properties)

        out = [v for v in self.found if wanted(v.property)]
        errors = self._task_errors()
        if errors and wanted("control_plane.task_error"):
            out.append(Violation(property="control_plane.task_error", message=errors[0]))
        if wanted("control_plane.convergence"):
            problems = self._convergence_problems()
            if problems:
                out.append(Violation(property="control_plane.convergence", time_us=self.world.now_us,
                                     message="not converged once faults healed: " + "; ".join(problems[:4])))
        rest = None if properties is None else [p for p in properties if not p.startswith("control_plane")]
        return out + list(self.kv.check(rest))

    def summary(self) -> dict[str, Any]:
        out = dict(self.kv.summary())
        rsc = self.controllers.get("cm")
        sched = self.controllers.get("s")
        dc = self.controllers.get("cm/deployment")
        nlc = self.controllers.get("cm/node-lifecycle")
        stsc = self.controllers.get("cm/statefulset")
        out["control plane"] = (f"{len(self.running)} pods running, {self.starts} pod starts, peak {self.peak_pods} "
                                f"pods stored, {self.samples} samples; "
                                f"replicaset controller: {getattr(rsc, 'creates', 0)} creates, "
                                f"{getattr(rsc, 'deletes', 0)} deletes, unknown creates {self.unknown_creates or 0}; "
                                f"deployment controller: {getattr(dc, 'created', 0)} ReplicaSets created, "
                                f"{getattr(dc, 'scaled', 0)} scaled; "
                                f"scheduler: {getattr(sched, 'bound', 0)} bound, "
                                f"{getattr(sched, 'unschedulable', 0)} unschedulable; "
                                f"kubelets: {self.container_restarts} container restarts, {self.oom_kills} OOM kills; "
                                f"node lifecycle: {getattr(nlc, 'marked_lost', 0)} nodes marked lost, "
                                f"{getattr(nlc, 'evicted', 0)} pods evicted, lost machines {sorted(self.lost)}; "
                                f"leaders: {len(self.elected)} terms "
                                f"({', '.join(f'{lease}:{holder}' for _t, lease, holder, _n in self.elected[-4:])})")
        if self.statefulset_names or self.deployment_names:
            out["control plane"] += (f"; statefulset controller: {getattr(stsc, 'creates', 0)} pods created, "
                                     f"{getattr(stsc, 'deletes', 0)} deleted; {self.csi.attaches} volume attaches; "
                                     f"garbage collector: {self.gc_deletes} deletes; deleted {self.deleted or 'none'}")
        return out

    def write_html(self, path: str, headline: str | None = None, headline_detail: str = "") -> bool:
        return False


SYSTEM_BUILDERS["control_plane"] = ControlPlaneSystem
