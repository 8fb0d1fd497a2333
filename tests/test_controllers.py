"""The controller runtime, the ReplicaSet controller, the scheduler and the kubelet, in
one simulated process over a LocalTransport (the control_plane suite runs them apart)."""

from __future__ import annotations

from typing import Any

import attrs

from kube import ApiServer, KubeClient, LocalTransport
from kube.controllers import (
    DeploymentController,
    ReplicaSetController,
    Scheduler,
    SharedInformers,
    WorkQueue,
    fits,
    parse_quantity,
)
from kube.kubelet import Kubelet, NodeConfig, PodSandboxes
from raftkv.sim import TaskHost
from raftkv.sim.kv_system import KVCluster


def _rs(name: str, replicas: int, cpu: str = "500m", **spec: Any) -> dict:
    return {"apiVersion": "apps/v1", "kind": "ReplicaSet", "metadata": {"name": name, "namespace": "default"},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
                     "template": {"metadata": {"labels": {"app": name}},
                                  "spec": {"containers": [{"name": "c", "image": "nginx",
                                                           "resources": {"requests": {"cpu": cpu}}}], **spec}}}}


def run_plane(script: Any, *, nodes: int = 2, seconds: float = 8.0, bugs: frozenset[str] = frozenset(),
              node_cpu: str = "2") -> dict:
    cluster = KVCluster(seed=3, members=3)
    out: dict = {"max_pods": 0, "running": {}}

    def changed(node: str, sandbox: Any, running: bool) -> None:
        if running:
            assert sandbox.uid not in out["running"], "a pod runs on two nodes"
            out["running"][sandbox.uid] = (node, sandbox.ip)
        else:
            out["running"].pop(sandbox.uid, None)

    async def main(rt: Any) -> None:
        server = ApiServer(rt, rt.etcd_client(cluster.members))
        rt.spawn(server.run(), name="apiserver")
        client = KubeClient(LocalTransport(server))
        shared = SharedInformers(rt, client)
        rsc = ReplicaSetController(rt, client, shared, bugs=bugs)
        sched = Scheduler(rt, client, shared)
        dc = DeploymentController(rt, client, shared)
        out["rsc"], out["sched"], out["dc"], out["informers"] = rsc, sched, dc, shared
        rt.spawn(rsc.run(), name="rs")
        rt.spawn(dc.run(), name="deployment")
        rt.spawn(sched.run(), name="scheduler")
        for i in range(1, nodes + 1):
            kubelet = Kubelet(rt, KubeClient(LocalTransport(server)),
                              NodeConfig(name=f"m{i}", pod_cidr=f"10.244.{i}.0/24", cpu=node_cpu),
                              PodSandboxes(f"m{i}", changed))
            rt.spawn(kubelet.run(), name=f"kubelet-m{i}")

        async def watch_count() -> None:
            while True:
                await rt.sleep(0.01)
                out["max_pods"] = max(out["max_pods"], len(shared.get("pods").cache))
        rt.spawn(watch_count(), name="count")
        await script(rt, client, out)

    cluster.wait_leader()
    cluster.world.add_node("app", lambda env: TaskHost(env, main), client=True)
    cluster.world.run_for(round(seconds * 1_000_000))
    actor = cluster.world.actor("app")
    assert isinstance(actor, TaskHost)
    assert not actor.runtime.errors, actor.runtime.errors
    actor.runtime.stop()  # cancel the components' tasks (their finally blocks run)
    return out


def test_work_queue_dedups_and_holds_a_key_while_processed() -> None:
    cluster = KVCluster(seed=1, members=1)
    got: list[str] = []

    async def main(rt: Any) -> None:
        q = WorkQueue(rt)
        q.add("a"), q.add("b"), q.add("a")
        assert len(q) == 2
        key = await q.get()
        q.add(key)            # while held: queued again only when done
        assert len(q) == 1
        q.done(key)
        got.extend([key, await q.get(), await q.get()])
        q.add_rate_limited("c")
        q.add_rate_limited("c")
        assert q.failures("c") == 2 and q.backoff_s("c") == 0.2
        got.append(await q.get())
        q.forget("c")
        assert q.backoff_s("c") == 0.05

    cluster.world.add_node("app", lambda env: TaskHost(env, main), client=True)
    cluster.world.run_for(1_000_000)
    assert got == ["a", "b", "a", "c"]


def test_replicaset_scales_up_and_down_and_pods_run_with_unique_ips() -> None:
    async def script(rt: Any, client: KubeClient, out: dict) -> None:
        await client.create("replicasets", _rs("web", 3))
        await rt.sleep(3)
        out["up"] = await client.get("replicasets", "web", "default")
        out["max_up"] = out["max_pods"]
        await client.patch("replicasets", "web", {"spec": {"replicas": 1}}, "default")
        await rt.sleep(3)
        out["down"] = (await client.list("pods", "default"))["items"]
        out["running_at_end"] = dict(out["running"])

    out = run_plane(script)
    assert out["up"]["status"]["readyReplicas"] == 3
    assert out["max_up"] == 3                      # expectations: never over-created
    assert len(out["down"]) == 1 and out["down"][0]["status"]["phase"] == "Running"
    assert len(out["running_at_end"]) == 1
    assert out["running"] == {}                    # the machines stopped with their kubelets
    ips = [ip for _node, ip in out["running_at_end"].values()]
    assert len(set(ips)) == len(ips)


def test_scheduler_respects_allocatable_selectors_and_reports_unschedulable() -> None:
    async def script(rt: Any, client: KubeClient, out: dict) -> None:
        await client.create("replicasets", _rs("big", 3, cpu="1500m"))       # one fits per 2-cpu node
        await client.create("replicasets", _rs("picky", 1, nodeSelector={"disk": "ssd"}))
        await rt.sleep(4)
        out["pods"] = (await client.list("pods", "default"))["items"]

    out = run_plane(script)
    big = [p for p in out["pods"] if p["metadata"]["labels"]["app"] == "big"]
    assert sorted(p["spec"].get("nodeName", "") for p in big) == ["", "m1", "m2"]
    pending = [p for p in out["pods"] if not p["spec"].get("nodeName")]
    assert len(pending) == 2
    for pod in pending:
        cond = [c for c in pod["status"]["conditions"] if c["type"] == "PodScheduled"]
        assert cond[0]["status"] == "False" and cond[0]["reason"] == "Unschedulable"
    assert out["sched"].unschedulable >= 2


def test_binding_is_once_only() -> None:
    async def script(rt: Any, client: KubeClient, out: dict) -> None:
        pod = await client.create("pods", {"apiVersion": "v1", "kind": "Pod",
                                           "metadata": {"name": "p", "namespace": "default"},
                                           "spec": {"schedulerName": "none",
                                                    "containers": [{"name": "c", "image": "x"}]}})
        await client.bind("default", "p", "m1", uid=pod["metadata"]["uid"])
        try:
            await client.bind("default", "p", "m2")
        except Exception as exc:
            out["second"] = exc.status["reason"]  # type: ignore[attr-defined]
        out["pod"] = await client.get("pods", "p", "default")

    out = run_plane(script, seconds=3)
    assert out["second"] == "Conflict"
    assert out["pod"]["spec"]["nodeName"] == "m1"


def test_taints_need_tolerations_and_quantities_parse() -> None:
    node = {"metadata": {"name": "m1"}, "spec": {"taints": [{"key": "gpu", "value": "yes", "effect": "NoSchedule"}]},
            "status": {"allocatable": {"cpu": "2", "memory": "1Gi", "pods": "5"},
                       "conditions": [{"type": "Ready", "status": "True"}]}}
    pod = {"metadata": {}, "spec": {"containers": [{"resources": {"requests": {"cpu": "1"}}}]}}
    assert "taint" in fits(pod, node, {})
    pod["spec"]["tolerations"] = [{"key": "gpu", "operator": "Exists", "effect": "NoSchedule"}]
    assert fits(pod, node, {}) == ""
    assert fits(pod, node, {"cpu": 1500}) == "Insufficient cpu"
    assert parse_quantity("cpu", "250m") == 250 and parse_quantity("memory", "1Gi") == 2**30


def test_control_plane_system_converges_and_catches_over_creation() -> None:
    from raftkv.sim import Fault, Scenario, WorkloadSpec, run_scenario
    from raftkv.sim.scenario import ControlPlaneSpec

    base = Scenario(seed=3, system="control_plane", workload=WorkloadSpec(clients=0, ops_per_s=0),
                    control_plane=ControlPlaneSpec(nodes=2, replicasets=2, replicas=3, scales=2),
                    # the controller manager's view lags 0.3 s (a stale view: what expectations cover)
                    faults=(Fault(at_us=100_000, kind="lag_watch", node="cm1", delta_us=300_000),
                            Fault(at_us=2_000_000, kind="crash", node="m1"),
                            Fault(at_us=3_500_000, kind="restart", node="m1")),
                    duration_us=6_000_000, settle_us=10_000_000)
    good = run_scenario(base)
    assert good.ok, good.summary()
    assert good.system.starts >= 6  # the pods ran, and ran again after m1 came back
    bad = run_scenario(attrs.evolve(base, bugs=("replicaset_no_expectations",)))
    assert [v.property for v in bad.violations] == ["control_plane.over_replicated"]


def test_control_plane_trace_is_the_same_whatever_the_hash_seed() -> None:
    from hashseeds import assert_same_run_across_hash_seeds

    from raftkv.sim import Fault, Scenario, WorkloadSpec

    assert_same_run_across_hash_seeds(Scenario(
        seed=7, system="control_plane", workload=WorkloadSpec(clients=0, ops_per_s=0),
        faults=(Fault(at_us=1_500_000, kind="crash", node="cm1"), Fault(at_us=3_000_000, kind="restart", node="cm1")),
        duration_us=5_000_000, settle_us=8_000_000))
