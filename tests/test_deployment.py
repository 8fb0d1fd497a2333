"""The Deployment controller: ReplicaSets per pod template, rolling updates within
maxSurge / maxUnavailable, revisions, rollback, history limit and status, run with the
ReplicaSet controller, the scheduler and kubelets in one simulated process."""

from __future__ import annotations

from typing import Any

import pytest
from test_controllers import run_plane

from kube import KubeClient
from kube.controllers import (
    HASH_LABEL,
    REVISION_ANNOTATION,
    is_active,
    is_ready,
    pod_template_hash,
    resolve_fenceposts,
    rollback_template,
    rollout_status,
)


def _deploy(name: str, replicas: int, image: str = "nginx:1", **strategy: Any) -> dict:
    spec: dict = {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
                  "template": {"metadata": {"labels": {"app": name}},
                               "spec": {"containers": [{"name": "c", "image": image,
                                                        "resources": {"requests": {"cpu": "250m"}}}]}}}
    if strategy:
        spec["strategy"] = {"type": "RollingUpdate", "rollingUpdate": strategy}
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name, "namespace": "default"},
            "spec": spec}


def test_fenceposts_round_surge_up_and_unavailable_down() -> None:
    assert resolve_fenceposts(_deploy("d", 10)) == (3, 2)                     # 25% of 10: 2.5
    assert resolve_fenceposts(_deploy("d", 3, maxSurge=2, maxUnavailable="50%")) == (2, 1)
    assert resolve_fenceposts(_deploy("d", 3, maxSurge=0, maxUnavailable="10%")) == (0, 1)  # never both 0
    assert resolve_fenceposts(_deploy("d", 1)) == (1, 0)
    with pytest.raises(ValueError, match="maxSurge"):
        resolve_fenceposts(_deploy("d", 3, maxSurge="lots"))


def test_pod_template_hash_is_stable_and_follows_the_template() -> None:
    a = {"metadata": {"labels": {"app": "x", "tier": "web"}}, "spec": {"containers": [{"image": "nginx:1"}]}}
    b = {"spec": {"containers": [{"image": "nginx:1"}]}, "metadata": {"labels": {"tier": "web", "app": "x"}}}
    assert pod_template_hash(a) == pod_template_hash(b)
    assert pod_template_hash(a) != pod_template_hash({**a, "spec": {"containers": [{"image": "nginx:2"}]}})
    assert pod_template_hash(a) != pod_template_hash(a, 1)
    assert set(pod_template_hash(a)) <= set("bcdfghjklmnpqrstvwxz2456789")
    assert pod_template_hash({}) == "cgchmhdgdc"   # FNV-1a of "{}" is 1415952421, digit by digit


def test_rollout_status_reads_as_kubectl_does() -> None:
    d = _deploy("web", 3)
    d["metadata"]["generation"] = 2
    d["status"] = {"observedGeneration": 1}
    assert rollout_status(d) == ("Waiting for deployment spec update to be observed...", False)
    d["status"] = {"observedGeneration": 2, "replicas": 4, "updatedReplicas": 2, "availableReplicas": 3}
    assert "2 out of 3 new replicas have been updated" in rollout_status(d)[0]
    d["status"].update(updatedReplicas=3)
    assert "1 old replicas are pending termination" in rollout_status(d)[0]
    d["status"].update(replicas=3, availableReplicas=2)
    assert "2 of 3 updated replicas are available" in rollout_status(d)[0]
    d["status"].update(availableReplicas=3)
    assert rollout_status(d) == ('deployment "web" successfully rolled out', True)
    d["status"]["conditions"] = [{"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded"}]
    with pytest.raises(ValueError, match="exceeded its progress deadline"):
        rollout_status(d)


def _web_pods(informers: Any) -> list[dict]:
    return [p for p in informers.get("pods").items() if (p["metadata"].get("labels") or {}).get("app") == "web"]


def test_rolling_update_keeps_within_surge_and_unavailable_then_rolls_back() -> None:
    async def script(rt: Any, client: KubeClient, out: dict) -> None:
        informers = out["informers"]
        out["most_active"], out["fewest_ready"], out["sampling"] = 0, 99, False

        async def sample() -> None:
            while True:
                await rt.sleep(0.005)
                pods = [p for p in _web_pods(informers) if is_active(p)]
                if out["sampling"]:
                    out["most_active"] = max(out["most_active"], len(pods))
                    out["fewest_ready"] = min(out["fewest_ready"], sum(is_ready(p) for p in pods))
        rt.spawn(sample(), name="sample")
        await client.create("deployments", _deploy("web", 4, maxSurge=1, maxUnavailable=1))
        await rt.sleep(4)
        out["v1"] = await client.get("deployments", "web", "default")
        out["rs_v1"] = (await client.list("replicasets", "default"))["items"]
        out["sampling"] = True
        await client.patch("deployments", "web", {"spec": {"template": {"spec": {"containers": [
            {"name": "c", "image": "nginx:2", "resources": {"requests": {"cpu": "250m"}}}]}}}}, "default")
        await rt.sleep(6)
        out["sampling"] = False
        out["v2"] = await client.get("deployments", "web", "default")
        out["rs_v2"] = (await client.list("replicasets", "default"))["items"]
        out["pods_v2"] = [p for p in (await client.list("pods", "default"))["items"] if is_active(p)]
        await client.patch("deployments", "web", {"spec": {"replicas": 6}}, "default")
        await rt.sleep(4)
        out["scaled"] = await client.get("deployments", "web", "default")
        back = rollback_template(out["scaled"], (await client.list("replicasets", "default"))["items"])
        await client.patch("deployments", "web", {"spec": {"template": back}}, "default")
        await rt.sleep(8)
        out["v3"] = await client.get("deployments", "web", "default")
        out["rs_v3"] = (await client.list("replicasets", "default"))["items"]

    out = run_plane(script, nodes=3, seconds=25)
    (rs1,) = out["rs_v1"]
    template_hash = rs1["metadata"]["labels"][HASH_LABEL]
    assert rs1["metadata"]["name"] == f"web-{template_hash}"
    assert rs1["spec"]["selector"]["matchLabels"] == {"app": "web", HASH_LABEL: template_hash}
    assert rs1["metadata"]["annotations"][REVISION_ANNOTATION] == "1"
    assert rollout_status(out["v1"])[1]
    # the update: a second ReplicaSet at revision 2 took every replica, the first is at 0
    by_rev = {rs["metadata"]["annotations"][REVISION_ANNOTATION]: rs for rs in out["rs_v2"]}
    assert sorted(by_rev) == ["1", "2"]
    assert by_rev["1"]["spec"]["replicas"] == 0 and by_rev["2"]["spec"]["replicas"] == 4
    assert {p["spec"]["containers"][0]["image"] for p in out["pods_v2"]} == {"nginx:2"}
    assert len(out["pods_v2"]) == 4
    assert out["most_active"] <= 4 + 1           # never more than replicas + maxSurge pods
    assert out["fewest_ready"] >= 4 - 1          # never fewer than replicas - maxUnavailable ready
    status = out["v2"]["status"]
    assert (status["replicas"], status["updatedReplicas"], status["readyReplicas"], status["availableReplicas"]) == \
        (4, 4, 4, 4)
    assert status["observedGeneration"] == out["v2"]["metadata"]["generation"] == 2
    conds = {c["type"]: c for c in status["conditions"]}
    assert conds["Available"]["status"] == "True" and conds["Available"]["reason"] == "MinimumReplicasAvailable"
    assert conds["Progressing"]["reason"] == "NewReplicaSetAvailable"
    assert out["v2"]["metadata"]["annotations"][REVISION_ANNOTATION] == "2"
    assert rollout_status(out["scaled"]) == ('deployment "web" successfully rolled out', True)
    assert out["scaled"]["status"]["availableReplicas"] == 6
    # the rollback: the first ReplicaSet (same name, same hash) is new again, at revision 3
    by_name = {rs["metadata"]["name"]: rs for rs in out["rs_v3"]}
    assert len(by_name) == 2
    assert by_name[rs1["metadata"]["name"]]["metadata"]["annotations"][REVISION_ANNOTATION] == "3"
    assert by_name[rs1["metadata"]["name"]]["spec"]["replicas"] == 6
    assert rollout_status(out["v3"])[1]
    assert out["v3"]["metadata"]["annotations"][REVISION_ANNOTATION] == "3"


def test_revision_history_limit_deletes_the_oldest_idle_replicasets() -> None:
    async def script(rt: Any, client: KubeClient, out: dict) -> None:
        d = _deploy("web", 1)
        d["spec"]["revisionHistoryLimit"] = 1
        await client.create("deployments", d)
        for image in ("nginx:2", "nginx:3"):
            await rt.sleep(3)
            await client.patch("deployments", "web", {"spec": {"template": {"spec": {"containers": [
                {"name": "c", "image": image}]}}}}, "default")
        await rt.sleep(4)
        out["rss"] = (await client.list("replicasets", "default"))["items"]
        out["d"] = await client.get("deployments", "web", "default")

    out = run_plane(script, seconds=12)
    revisions = sorted(rs["metadata"]["annotations"][REVISION_ANNOTATION] for rs in out["rss"])
    assert revisions == ["2", "3"]               # revision 1 went: one idle ReplicaSet is kept
    assert rollout_status(out["d"])[1]
    assert out["dc"].deleted == 1


def test_recreate_stops_every_old_pod_before_starting_new_ones() -> None:
    async def script(rt: Any, client: KubeClient, out: dict) -> None:
        informers = out["informers"]
        out["mixed"] = False

        async def sample() -> None:
            while True:
                await rt.sleep(0.005)
                images = {p["spec"]["containers"][0]["image"] for p in _web_pods(informers) if is_active(p)}
                out["mixed"] = out["mixed"] or len(images) > 1
        rt.spawn(sample(), name="sample")
        d = _deploy("web", 3)
        d["spec"]["strategy"] = {"type": "Recreate"}
        await client.create("deployments", d)
        await rt.sleep(3)
        await client.patch("deployments", "web", {"spec": {"template": {"spec": {"containers": [
            {"name": "c", "image": "nginx:2"}]}}}}, "default")
        await rt.sleep(5)
        out["d"] = await client.get("deployments", "web", "default")
        out["pods"] = [p for p in (await client.list("pods", "default"))["items"] if is_active(p)]

    out = run_plane(script, seconds=10)
    assert not out["mixed"]
    assert rollout_status(out["d"])[1]
    assert sorted(p["spec"]["containers"][0]["image"] for p in out["pods"]) == ["nginx:2"] * 3


def test_control_plane_rolls_deployments_out_through_faults() -> None:
    from raftkv.sim import Fault, Scenario, WorkloadSpec, run_scenario
    from raftkv.sim.scenario import ControlPlaneSpec

    scenario = Scenario(seed=7, system="control_plane", workload=WorkloadSpec(clients=0, ops_per_s=0),
                        control_plane=ControlPlaneSpec(nodes=3, replicasets=1, deployments=2, replicas=3,
                                                       scales=2, rollouts=3),
                        faults=(Fault(at_us=1_500_000, kind="crash", node="cm1"),
                                Fault(at_us=2_500_000, kind="restart", node="cm1"),
                                Fault(at_us=3_000_000, kind="crash", node="m2"),
                                Fault(at_us=4_500_000, kind="restart", node="m2")),
                        duration_us=6_000_000, settle_us=12_000_000)
    result = run_scenario(scenario)
    assert result.ok, result.summary()
    system = result.system
    assert not system._rollout_problems(system._stored("replicasets"))
    deployments = system._stored("deployments")
    assert [d["metadata"]["name"] for d in deployments] == ["deploy-0", "deploy-1"]
    revisions = [int(d["metadata"]["annotations"]["deployment.kubernetes.io/revision"]) for d in deployments]
    assert max(revisions) >= 2                   # at least one image change rolled out
    assert system.controllers["cm/deployment"].created >= 1


def test_a_restarted_controller_manager_is_answered_by_its_only_apiserver() -> None:
    # Found by the control_plane suite: cm1 crashed at 1.6 s and restarted at 6 s with one
    # apiserver, which dropped the restarted node's requests as duplicates of its old
    # request ids, so its informers never synced again and nothing converged.
    from raftkv.sim import run_scenario
    from raftkv.sim.scenario import scenario_from_token

    scenario = scenario_from_token(TOKEN_RESTARTED_CM1)
    assert scenario.control_plane.apiservers == 1
    assert [(f.kind, f.node) for f in scenario.faults if f.node == "cm1"] == [("crash", "cm1"), ("restart", "cm1")]
    result = run_scenario(scenario)
    assert result.ok, result.summary()


TOKEN_RESTARTED_CM1 = (
    "rk1_eNp9UstygzAM_BefOQAphHLqf3Q6HtUoxYNf40fSTIZ_rwwkTTptuRhJu6uVrQsTKoWInvUXhgpFlNbwKDXaFOkUU2B9"
    "1RRMwycXyoqJD14eIndOs35X5m8tooleYuAOPdfhg1iUR_2OnhRIIBhwYbSRS0PtjqCuDKqWc8GEpdAq7hQYzG7AyUDAhU9a"
    "Azplz5pIFNdrT085KYASTwVzduDCJU6-6oZMPRSvAWb2jmKrFE24SgUBKvuoyMaQPCx3kCjRltuAB0gqg1_JVlxKVdN1bdMV"
    "bJJmYD0THsLICmbsgDnUFZuLG7pp26Zsn29oByngN1rXD-CurauyvoHDCO4O_KIQBnqwYiv0zBrkJzjfa9ycbxojgvqv7jFE"
    "8PHPAX7BJ_1jgje6VjjE6ciDQANe2uXhAiIxqqf9Pv_HqHC7wKtkONMC6tzzYQUKdrJ-UhaGvA1CyfXpiWDdumY5mucvh5fk"
    "lA"
)
