"""The ``control_plane`` system: controllers, a scheduler and simulated nodes on the kube
apiserver, on a simulated raftkv cluster.

Registered in :data:`raftkv.sim.SYSTEM_BUILDERS` (``Scenario(system="control_plane",
control_plane=ControlPlaneSpec(...))``).  Beside the members (the kv system's, no etcd
workload), every component a node of its own, talking to the apiservers over the
simulated network through the kube client only:

* apiservers ``a1..`` (each with its etcd client on its own member, a watch cache and the
  compactor); a controller manager ``cm1`` (the ReplicaSet and Deployment controllers); a
  scheduler ``s1``; kubelets ``m1..`` (node ``m<i>``, pod CIDR ``10.244.<i>.0/24``); a user
  ``u1`` who creates the ReplicaSets ``rs-0..`` and Deployments ``deploy-0..`` (rolling
  update, maxSurge 1, maxUnavailable 1), and while faults run scales them and changes the
  Deployments' image (sometimes back to an earlier one: a rollback).

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
* ``control_plane.task_error``: a component task died of an exception.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from raftkv.sim import SYSTEM_BUILDERS, Scenario, SimRuntime, TaskHost, Violation, World
from raftkv.sim.scenario import control_plane_nodes

from .apiserver import ApiServer
from .client import KubeClient
from .controllers import (
    DeploymentController,
    ReplicaSetController,
    Scheduler,
    SharedInformers,
    controller_of,
    is_active,
    rollout_status,
)
from .controllers.deployment import HASH_LABEL
from .errors import ApiError
from .kubelet import Kubelet, NodeConfig, PodSandboxes, Sandbox
from .transport import ApiServerEndpoint, SimTransport

__all__ = ["ControlPlaneSystem", "deployment_object", "replicaset_object"]

NS = "default"
SAMPLE_US = 20_000


def replicaset_object(name: str, replicas: int, cpu_m: int) -> dict:
    return {"apiVersion": "apps/v1", "kind": "ReplicaSet", "metadata": {"name": name, "namespace": NS},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
                     "template": {"metadata": {"labels": {"app": name}},
                                  "spec": {"containers": [{"name": "app", "image": "registry.k8s.io/pause:3.9",
                                                           "resources": {"requests": {"cpu": f"{cpu_m}m"}}}]}}}}


def deployment_object(name: str, replicas: int, cpu_m: int, image: str = "registry.k8s.io/pause:3.9") -> dict:
    obj = replicaset_object(name, replicas, cpu_m)
    obj["kind"] = "Deployment"
    obj["spec"]["template"]["spec"]["containers"][0]["image"] = image
    obj["spec"]["strategy"] = {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 1}}
    return obj


IMAGES = ("registry.k8s.io/pause:3.8", "registry.k8s.io/pause:3.9", "registry.k8s.io/pause:3.10")


def _without_hash(template: dict) -> dict:
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

    # ------------------------------------------------------------------ components
    def _transport(self, rt: SimRuntime, index: int) -> SimTransport:
        k = index % len(self.apiservers)
        return SimTransport(rt, self.apiservers[k:] + self.apiservers[:k])

    async def _apiserver(self, rt: SimRuntime) -> None:
        members = self.kv.client_members()
        own = members[self.apiservers.index(rt.node_id) % len(members)]
        etcd = rt.etcd_client((own, *(m for m in members if m != own)), config=self.kv.client_config,
                              bugs=self.bugs)
        server = ApiServer(rt, etcd, bugs=self.bugs)
        rt.add_handler(ApiServerEndpoint(rt, server))
        await server.run(compact_interval_s=self.spec.compact_interval_us / 1e6)

    async def _controller_manager(self, rt: SimRuntime) -> None:
        client = KubeClient(self._transport(rt, 0))
        rsc = ReplicaSetController(rt, client, SharedInformers(rt, client), bugs=self.bugs)
        rsc.unknown_creates = self.unknown_creates  # kept across restarts, for the check
        self.controllers["cm1"] = rsc
        if self.deployment_names:  # (scenarios without Deployments run as they did before it)
            dc = DeploymentController(rt, client, rsc.controller.informers)
            self.controllers["cm1/deployment"] = dc
            rt.spawn(dc.run(), name="deployment-controller")
        await rsc.run()

    async def _scheduler(self, rt: SimRuntime) -> None:
        client = KubeClient(self._transport(rt, 1))
        sched = Scheduler(rt, client, SharedInformers(rt, client), bugs=self.bugs)
        self.controllers["s1"] = sched
        await sched.run()

    def _node_config(self, node: str) -> NodeConfig:
        i = int(node[1:])
        return NodeConfig(name=node, pod_cidr=f"10.244.{i}.0/24", cpu=f"{self.spec.node_cpu_m}m", memory="8Gi", pods=20)

    async def _kubelet(self, rt: SimRuntime) -> None:
        node = rt.node_id
        kubelet = Kubelet(rt, KubeClient(self._transport(rt, int(node[1:]))), self._node_config(node),
                          PodSandboxes(node, self._sandbox_changed), lease_renew_s=1.0, lease_duration_s=4)
        self.controllers[node] = kubelet
        await kubelet.run()

    async def _create(self, rt: SimRuntime, client: KubeClient, resource: str, obj: dict) -> None:
        name = obj["metadata"]["name"]
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
            await self._create(rt, client, "replicasets", replicaset_object(name, self.spec.replicas, self.spec.pod_cpu_m))
        for name in self.deployment_names:
            await self._create(rt, client, "deployments", deployment_object(name, self.spec.replicas, self.spec.pod_cpu_m))
        workloads = [("replicasets", name) for name in self.names] + [("deployments", n) for n in self.deployment_names]
        if not workloads:
            return
        actions = ["scale"] * self.spec.scales + ["rollout"] * (self.spec.rollouts if self.deployment_names else 0)
        if self.deployment_names:
            rng.shuffle(actions)
        fault_phase_s = self.scenario.duration_us / 1e6
        for action in actions:
            await rt.sleep(rng.uniform(0.5, max(0.6, fault_phase_s / max(len(actions), 1))))
            if self.quiet:
                return
            if action == "rollout":
                name, image = rng.choice(self.deployment_names), rng.choice(IMAGES)
                patch: dict = {"spec": {"template": {"spec": {"containers": [
                    {"name": "app", "image": image, "resources": {"requests": {"cpu": f"{self.spec.pod_cpu_m}m"}}}]}}}}
                try:
                    await client.patch("deployments", name, patch, NS)
                except ApiError as exc:
                    rt.record("user.rollout_failed", deployment=name, error=exc.reason)
                continue
            resource, name = rng.choice(workloads)
            replicas = rng.randint(1, self.spec.max_replicas)
            if resource == "replicasets":
                self.max_replicas[name] = max(self.max_replicas[name], replicas)
            try:
                await client.patch(resource, name, {"spec": {"replicas": replicas}}, NS)
            except ApiError as exc:
                rt.record("user.scale_failed", rs=name, error=exc.reason)

    # ------------------------------------------------------------------ ground truth
    def _violate(self, prop: str, message: str) -> None:
        if not any(v.property == prop for v in self.found):
            self.found.append(Violation(property=prop, message=message, time_us=self.world.now_us))

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
            if s.ip == sandbox.ip and uid != sandbox.uid:
                self._violate("control_plane.pod_ip", f"pod {sandbox.key} on {node} got IP {sandbox.ip}, "
                                                      f"which pod {s.key} on {n} holds")
        self.running[sandbox.uid] = (node, sandbox)
        used: dict[str, int] = {}
        for n, s in self.running.values():
            if n == node:
                for res, amount in s.requests:
                    used[res] = used.get(res, 0) + amount
        if used.get("cpu", 0) > self.spec.node_cpu_m:
            self._violate("control_plane.node_overcommit",
                          f"{node} runs pods asking for {used['cpu']}m cpu, allocatable {self.spec.node_cpu_m}m")

    def _stored(self, resource: str) -> list[dict] | None:
        prefix = f"/registry/{resource}/".encode()
        kvs = self.kv.leader_kvs(prefix, _prefix_end(prefix))
        if kvs is None:
            return None
        return [json.loads(kvs[key]) for key in sorted(kvs)]

    def _active_by_rs(self, pods: list[dict], rss: list[dict]) -> dict[str, list[dict]]:
        uids = {rs["metadata"]["uid"]: rs["metadata"]["name"] for rs in rss}
        out: dict[str, list[dict]] = {rs["metadata"]["name"]: [] for rs in rss}
        for pod in pods:
            ref = controller_of(pod)
            if ref is not None and ref.get("uid") in uids and is_active(pod):
                out[uids[ref["uid"]]].append(pod)
        return out

    def _sample(self) -> None:
        self.samples += 1
        pods, rss = self._stored("pods"), self._stored("replicasets")
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
        self.world.add_node("cm1", host(self._controller_manager), client=True)
        self.world.add_node("s1", host(self._scheduler), client=True)
        for name in self.machines:
            self.world.add_node(name, host(self._kubelet), client=True)
        self.world.add_node("u1", host(self._user), client=True)
        self.world.schedule(SAMPLE_US, self._sample)

    def _components(self) -> tuple[str, ...]:
        return (*self.apiservers, "cm1", "s1", *self.machines, "u1")

    def _task_errors(self) -> list[str]:
        out = []
        for node in self._components():
            actor = self.world.actor(node)
            if isinstance(actor, TaskHost):
                out.extend(f"{node}: task {name} died: {type(e).__name__}: {e}" for name, e in actor.runtime.errors)
        return out

    def _convergence_problems(self) -> list[str]:
        pods, rss = self._stored("pods"), self._stored("replicasets")
        if pods is None or rss is None:
            return ["no leader to read the store from"]
        out = [f"ReplicaSet {name} not created yet" for name in self.names if not self.created.get(name)]
        for rs in rss:
            name, want = rs["metadata"]["name"], int(rs["spec"]["replicas"])
            active = self._active_by_rs(pods, [rs])[name]
            if len(active) != want:
                out.append(f"{name}: {len(active)} active pods, wants {want}")
                continue
            for pod in active:
                node, uid = pod["spec"].get("nodeName", ""), pod["metadata"]["uid"]
                if self.running.get(uid, ("",))[0] != node or not node:
                    out.append(f"{name}: pod {pod['metadata']['name']} not running (node {node or 'none'})")
            if (rs.get("status") or {}).get("readyReplicas", 0) != want:
                out.append(f"{name}: status says {(rs.get('status') or {}).get('readyReplicas', 0)} ready, wants {want}")
        return out + self._rollout_problems(rss)

    def _rollout_problems(self, rss: list[dict]) -> list[str]:
        deployments = self._stored("deployments")
        if deployments is None:
            return ["no leader to read the store from"]
        out = [f"Deployment {name} not created yet" for name in self.deployment_names if not self.created.get(name)]
        for d in deployments:
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

    def is_live(self) -> bool:
        return bool(self.kv.is_live()) and not self._convergence_problems()

    def liveness_report(self) -> str:
        problems = "; ".join(self._convergence_problems()[:4])
        return f"{self.kv.liveness_report()}; control plane: {problems or 'converged'}"

    def history(self) -> list[Any]:
        return []

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
        rsc = self.controllers.get("cm1")
        sched = self.controllers.get("s1")
        dc = self.controllers.get("cm1/deployment")
        out["control plane"] = (f"{len(self.running)} pods running, {self.starts} pod starts, peak {self.peak_pods} "
                                f"pods stored, {self.samples} samples; "
                                f"replicaset controller: {getattr(rsc, 'creates', 0)} creates, "
                                f"{getattr(rsc, 'deletes', 0)} deletes, unknown creates {self.unknown_creates or 0}; "
                                f"deployment controller: {getattr(dc, 'created', 0)} ReplicaSets created, "
                                f"{getattr(dc, 'scaled', 0)} scaled; "
                                f"scheduler: {getattr(sched, 'bound', 0)} bound, "
                                f"{getattr(sched, 'unschedulable', 0)} unschedulable")
        return out

    def write_html(self, path: str, headline: str | None = None, headline_detail: str = "") -> bool:
        return False


SYSTEM_BUILDERS["control_plane"] = ControlPlaneSystem
