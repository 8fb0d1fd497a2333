"""StatefulSets, persistent volumes through the simulated CSI driver, the garbage
collector and namespace deletion, in one simulated process over a LocalTransport."""

from __future__ import annotations

from typing import Any

from kube import ApiServer, KubeClient, LocalTransport
from kube.controllers import (
    NAMESPACED_RESOURCES,
    DeploymentController,
    GarbageCollector,
    NamespaceController,
    PersistentVolumeController,
    ReplicaSetController,
    Scheduler,
    SharedInformers,
    StatefulSetController,
    ordinal_of,
)
from kube.csi import CsiDriver
from kube.errors import ApiError
from kube.kubelet import Kubelet, NodeConfig, PodSandboxes
from kube.registry import STRATEGIES
from raftkv.sim import TaskHost
from raftkv.sim.kv_system import KVCluster


def sts_object(name: str, replicas: int, *, policy: str = "OrderedReady", image: str = "nginx:1",
               retention: dict | None = None) -> dict:
    return {"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": name, "namespace": "default"},
            "spec": {"replicas": replicas, "serviceName": name, "podManagementPolicy": policy,
                     "selector": {"matchLabels": {"app": name}},
                     **({"persistentVolumeClaimRetentionPolicy": retention} if retention else {}),
                     "template": {"metadata": {"labels": {"app": name}},
                                  "spec": {"containers": [{"name": "c", "image": image}]}},
                     "volumeClaimTemplates": [{"metadata": {"name": "data"}, "spec": {
                         "accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}}]}}


def run_plane(script: Any, *, seconds: float = 20.0, nodes: int = 2) -> dict:
    cluster = KVCluster(seed=4, members=3)
    out: dict = {"running": {}, "identity": [], "attached": {}, "rwo": [], "starts": []}

    def changed(node: str, sandbox: Any, running: bool) -> None:
        if running:
            if any(s.key == sandbox.key for _n, s in out["running"].values()):
                out["identity"].append(sandbox.key)
            out["running"][sandbox.uid] = (node, sandbox)
            out["starts"].append((sandbox.key, node))
        else:
            out["running"].pop(sandbox.uid, None)

    def attached(node: str, volume: str, on: bool) -> None:
        nodes_of = out["attached"].setdefault(volume, set())
        if on:
            if nodes_of:
                out["rwo"].append(volume)
            nodes_of.add(node)
        else:
            nodes_of.discard(node)

    async def main(rt: Any) -> None:
        server = ApiServer(rt, rt.etcd_client(cluster.members))
        rt.spawn(server.run(), name="apiserver")
        client = KubeClient(LocalTransport(server))
        shared = SharedInformers(rt, client)
        csi = CsiDriver(on_change=attached)
        for component in (StatefulSetController(rt, client, shared), ReplicaSetController(rt, client, shared),
                          DeploymentController(rt, client, shared), PersistentVolumeController(rt, client, shared),
                          NamespaceController(rt, client, shared), Scheduler(rt, client, shared),
                          GarbageCollector(rt, client)):
            rt.spawn(component.run())
        for i in range(1, nodes + 1):
            rt.spawn(Kubelet(rt, KubeClient(LocalTransport(server)), NodeConfig(name=f"m{i}", pod_cidr=f"10.244.{i}.0/24"),
                             PodSandboxes(f"m{i}", changed), csi=csi, stop_s=0.2).run())
        await script(rt, client, out)

    cluster.wait_leader()
    cluster.world.add_node("app", lambda env: TaskHost(env, main), client=True)
    cluster.world.run_for(round(seconds * 1_000_000))
    assert not cluster.world.actor("app").runtime.errors, cluster.world.actor("app").runtime.errors
    cluster.world.actor("app").runtime.stop()
    return out


async def _pods(client: KubeClient, ns: str = "default") -> dict[str, dict]:
    return {p["metadata"]["name"]: p for p in (await client.list("pods", ns))["items"]}


def test_ordinals_claims_scale_down_and_back_reuse_the_same_volume() -> None:
    async def script(rt: Any, client: KubeClient, out: dict) -> None:
        await client.create("statefulsets", sts_object("web", 3))
        await rt.sleep(5)
        pods = await _pods(client)
        out["names"] = sorted(pods)
        out["hostnames"] = sorted((p["spec"]["hostname"], p["spec"]["subdomain"]) for p in pods.values())
        out["claims"] = {c["metadata"]["name"]: c["metadata"]["uid"]
                         for c in (await client.list("persistentvolumeclaims", "default"))["items"]}
        out["status"] = (await client.get("statefulsets", "web", "default"))["status"]
        order = [key for key, _node in out["starts"]]
        out["order"] = order
        await client.patch("statefulsets", "web", {"spec": {"replicas": 1}}, "default")
        await rt.sleep(4)
        out["after_down"] = sorted(await _pods(client))
        out["claims_down"] = sorted(c["metadata"]["name"]
                                    for c in (await client.list("persistentvolumeclaims", "default"))["items"])
        await client.patch("statefulsets", "web", {"spec": {"replicas": 3}}, "default")
        await rt.sleep(5)
        out["claims_up"] = {c["metadata"]["name"]: c["metadata"]["uid"]
                            for c in (await client.list("persistentvolumeclaims", "default"))["items"]}
        out["mounted"] = sorted(s.volumes[0] for _n, s in out["running"].values())
        out["pvs"] = sorted(pv["metadata"]["name"] for pv in (await client.list("persistentvolumes"))["items"])

    out = run_plane(script)
    assert out["names"] == ["web-0", "web-1", "web-2"]
    assert out["hostnames"] == [("web-0", "web"), ("web-1", "web"), ("web-2", "web")]
    assert out["order"][:3] == ["default/web-0", "default/web-1", "default/web-2"]  # OrderedReady
    assert sorted(out["claims"]) == ["data-web-0", "data-web-1", "data-web-2"]
    assert out["status"]["readyReplicas"] == 3 and out["status"]["updatedReplicas"] == 3
    assert out["after_down"] == ["web-0"]
    assert out["claims_down"] == ["data-web-0", "data-web-1", "data-web-2"]  # whenScaled: Retain
    assert out["claims_up"] == out["claims"]  # the same claims (uids) came back
    assert out["mounted"] == out["pvs"] and len(out["pvs"]) == 3
    assert out["identity"] == [] and out["rwo"] == []


def test_rolling_update_goes_from_the_highest_ordinal_and_never_runs_one_identity_twice() -> None:
    async def script(rt: Any, client: KubeClient, out: dict) -> None:
        await client.create("statefulsets", sts_object("db", 3, policy="Parallel"))
        await rt.sleep(4)
        out["parallel_ready"] = (await client.get("statefulsets", "db", "default"))["status"]["readyReplicas"]
        out["starts"].clear()
        await client.patch("statefulsets", "db", {"spec": {"template": {"spec": {"containers": [
            {"name": "c", "image": "nginx:2"}]}}}}, "default")
        await rt.sleep(8)
        out["images"] = sorted(p["spec"]["containers"][0]["image"] for p in (await _pods(client)).values())
        out["status"] = (await client.get("statefulsets", "db", "default"))["status"]

    out = run_plane(script)
    assert out["parallel_ready"] == 3
    assert [key for key, _ in out["starts"]] == ["default/db-2", "default/db-1", "default/db-0"]
    assert out["images"] == ["nginx:2"] * 3
    assert out["status"]["currentRevision"] == out["status"]["updateRevision"]
    assert out["identity"] == [] and out["rwo"] == []


def test_garbage_collector_background_foreground_orphan_and_claim_retention() -> None:
    async def script(rt: Any, client: KubeClient, out: dict) -> None:
        for name in ("bg", "fg", "orphan"):
            await client.create("deployments", {
                "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name, "namespace": "default"},
                "spec": {"replicas": 1, "selector": {"matchLabels": {"app": name}},
                         "template": {"metadata": {"labels": {"app": name}},
                                      "spec": {"containers": [{"name": "c", "image": "nginx"}]}}}})
        await client.create("statefulsets", sts_object("keep", 2, retention={"whenDeleted": "Delete",
                                                                             "whenScaled": "Delete"}))
        await rt.sleep(5)
        await client.patch("statefulsets", "keep", {"spec": {"replicas": 1}}, "default")
        await client.delete("deployments", "bg", "default", propagation_policy="Background")
        fg = await client.delete("deployments", "fg", "default", propagation_policy="Foreground")
        out["fg_finalizers"] = fg["metadata"]["finalizers"]
        await client.delete("deployments", "orphan", "default", propagation_policy="Orphan")
        await rt.sleep(5)
        out["claims_scaled"] = sorted(c["metadata"]["name"]
                                      for c in (await client.list("persistentvolumeclaims", "default"))["items"])
        await client.delete("statefulsets", "keep", "default")
        await rt.sleep(5)
        out["deployments"] = sorted(d["metadata"]["name"] for d in (await client.list("deployments", "default"))["items"])
        rss = (await client.list("replicasets", "default"))["items"]
        out["rss"] = sorted((rs["metadata"]["name"].split("-")[0], bool(rs["metadata"].get("ownerReferences")))
                            for rs in rss)
        out["pods"] = sorted(p["metadata"]["name"].split("-")[0] for p in (await _pods(client)).values())
        out["claims"] = (await client.list("persistentvolumeclaims", "default"))["items"]

    out = run_plane(script, seconds=25)
    assert out["fg_finalizers"] == ["foregroundDeletion"]
    assert out["claims_scaled"] == ["data-keep-0"]  # whenScaled: Delete
    assert out["deployments"] == []
    assert out["rss"] == [("orphan", False)]  # orphaned: kept, without its owner
    assert out["pods"] == ["orphan"]
    assert out["claims"] == []  # whenDeleted: Delete


def test_a_terminating_namespace_refuses_new_objects_and_goes_once_empty() -> None:
    async def script(rt: Any, client: KubeClient, out: dict) -> None:
        await client.create("namespaces", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "team"}})
        sts = sts_object("web", 2)
        sts["metadata"]["namespace"] = "team"
        await client.create("statefulsets", sts)
        await rt.sleep(4)
        ns = await client.delete("namespaces", "team")
        out["phase"] = ns["status"]["phase"]
        await rt.sleep(0.5)  # admission reads the apiserver's watch cache, as kube-apiserver's does
        try:
            await client.create("configmaps", {"apiVersion": "v1", "kind": "ConfigMap",
                                               "metadata": {"name": "late", "namespace": "team"}})
        except ApiError as exc:
            out["refused"] = (exc.code, exc.reason)
        await rt.sleep(6)
        try:
            await client.get("namespaces", "team")
        except ApiError as exc:
            out["gone"] = exc.code
        out["left"] = 0
        for resource in NAMESPACED_RESOURCES:
            out["left"] += len((await client.list(resource, "team"))["items"])

    out = run_plane(script)
    assert out["phase"] == "Terminating"
    assert out["refused"] == (403, "Forbidden")
    assert out["gone"] == 404 and out["left"] == 0


def test_namespaced_resources_are_every_namespaced_kind() -> None:
    assert sorted(NAMESPACED_RESOURCES) == sorted(r for r, s in STRATEGIES.items() if s.namespaced)
    assert ordinal_of("web", "web-12") == 12 and ordinal_of("web", "web-01") == -1 and ordinal_of("web", "db-1") == -1


def test_control_plane_system_with_statefulsets_converges_and_catches_both_bugs() -> None:
    import attrs

    from raftkv.sim import Fault, Scenario, WorkloadSpec, run_scenario
    from raftkv.sim.scenario import ControlPlaneSpec

    sts = Scenario(seed=1, system="control_plane", workload=WorkloadSpec(clients=0, ops_per_s=0),
                   control_plane=ControlPlaneSpec(nodes=3, replicasets=0, replicas=3, max_replicas=3, scales=1,
                                                  rollouts=2, statefulsets=2),
                   duration_us=5_000_000, settle_us=12_000_000)
    good = run_scenario(sts)
    assert good.ok, good.system.liveness_report()
    assert good.system.csi.attaches >= 3
    # Found by the control_plane suite: a leading controller manager paused in the middle of
    # a reconcile, a new leader, a rolling update; the forced replacement starts on another
    # node while the old pod still stops.
    from raftkv.sim import scenario_from_token
    from raftkv.suites import SUITES

    found = scenario_from_token("rk1_eNqdUsmu2zAM_BeedYjtxPXzqf_x8CAoEtMIoRZoaRsE-fdSdtLEh17qkzVDDre5wbH-yDB_Qi6q4KlSxiL5n1Bag77YcoUvAZpqLphgvoFTv6WmoC_SJHsqMkYH87BrnwCH7oiJBfd3Tgq-pEAykvLYUnVS-UwhRA4YBBiMFK6Oq_C7E4tyYsxq1RQE-GBQ6lglV-gW_YasXAzmSfUHZl6JrMRVKdQm24s2mTfH68q8jbkCJRAmVWzwkoEDt23q410ZGHePyU6qUkv5vIEqC9U9KYNU1AIdntDFegMzRFUzSmcNz8Xb0JYQ1iGY1K6Du3jJHfppnPZ_c_NZxbfo74TK8AXEg5jB5kA8zEZj2mqcUdE73--moe-HbX-vGn7YBA_b4IS5un9G77tpHIfxP9pneyV1KpefMmv0KtmwXgqRdbqPj_3Qjd23BpTCtlx39Vx0vrIvXdvmxmwCfoV0oaDM4juyq8naZfDhBHahjJja1Xf3-x-Z9Pl9")
    assert found.bugs == ("statefulset_stale_identity",)
    _result, violation = SUITES["control_plane"].run(found)
    assert violation is not None and violation.property == "control_plane.statefulset_identity"
    _result, violation = SUITES["control_plane"].run(attrs.evolve(found, bugs=()))
    assert violation is None, violation

    gc = Scenario(seed=2, system="control_plane", workload=WorkloadSpec(clients=0, ops_per_s=0),
                  control_plane=ControlPlaneSpec(nodes=3, replicasets=1, replicas=2, max_replicas=3, scales=3,
                                                 deployments=1, rollouts=2, statefulsets=2, owner_deletes=1),
                  faults=(Fault(at_us=2_000_000, kind="crash", node="cm1"),
                          Fault(at_us=3_500_000, kind="restart", node="cm1")),
                  duration_us=6_000_000, settle_us=15_000_000)
    good = run_scenario(gc)
    assert good.ok, good.system.liveness_report()
    assert good.system.gc_deletes >= 1 and good.system.deleted
    bad = run_scenario(attrs.evolve(gc, bugs=("gc_owner_from_cache",)))
    assert "control_plane.gc_live_owner" in [v.property for v in bad.violations]


def test_control_plane_with_statefulsets_trace_is_the_same_whatever_the_hash_seed() -> None:
    from hashseeds import assert_same_run_across_hash_seeds

    from raftkv.sim import Fault, Scenario, WorkloadSpec
    from raftkv.sim.scenario import ControlPlaneSpec

    assert_same_run_across_hash_seeds(Scenario(
        seed=3, system="control_plane", workload=WorkloadSpec(clients=0, ops_per_s=0),
        control_plane=ControlPlaneSpec(nodes=3, replicasets=1, replicas=2, max_replicas=3, scales=2, deployments=1,
                                       rollouts=2, statefulsets=2, owner_deletes=1),
        faults=(Fault(at_us=1_500_000, kind="crash", node="m1"), Fault(at_us=3_000_000, kind="restart", node="m1")),
        duration_us=5_000_000, settle_us=12_000_000))


def test_a_statefulset_pod_on_a_machine_lost_for_good_is_replaced() -> None:
    """Its graceful deletion can never end (no kubelet is left): the cloud's node controller
    deletes the Node, the pod GC force-deletes the pod and the volume attachment, and the
    ReadWriteOnce claim moves with the new pod (found by the control_plane suite)."""
    from raftkv.sim import Fault, Scenario, WorkloadSpec, run_scenario
    from raftkv.sim.scenario import ClusterSpec, ControlPlaneSpec

    lost = Scenario(seed=0, system="control_plane", cluster=ClusterSpec(members=1),
                    workload=WorkloadSpec(clients=0, ops_per_s=0, keys=1),
                    control_plane=ControlPlaneSpec(apiservers=1, compact_interval_us=1_000_000, pod_cpu_m=250,
                                                   replicas=1, replicasets=1, scales=0, standbys=1, statefulsets=2),
                    faults=(Fault(at_us=750_000, kind="lose_node", node="m3"),),
                    duration_us=5_750_000, settle_us=15_000_000)
    result = run_scenario(lost)
    assert result.ok, result.violations
    assert result.system.lost and "m3" in result.system.lost
