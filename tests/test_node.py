"""The simulated node's parts (kube.node): container behaviour from the spec, host-local
IPAM, cgroups, and the kubelet driving them in simulation: restart policies, crash-loop
backoff, OOMKilled, readiness and liveness probes, IPs released on deletion."""

from __future__ import annotations

from typing import Any

import pytest

from kube import ApiServer, KubeClient, LocalTransport
from kube.kubelet import Kubelet, NodeConfig, PodSandboxes
from kube.node import (
    BackoffPolicy,
    Behaviour,
    BehaviourError,
    Cgroups,
    ContainerEvent,
    HostLocalIpam,
    IpamError,
    Limits,
    behaviour_of,
    pod_shutdown_s,
    probe_of,
    probe_succeeds,
    should_restart,
)
from raftkv.sim import TaskHost
from raftkv.sim.kv_system import KVCluster

FAST = BackoffPolicy(initial_s=1.0, max_s=8.0, reset_after_s=20.0)


def _pod(name: str, *args: str, policy: str = "", limits: dict | None = None, **container: Any) -> dict:
    c: dict = {"name": "c", "image": "busybox", **container}
    if args:
        c["command"] = list(args)
    if limits:
        c["resources"] = {"limits": limits}
    spec: dict = {"nodeName": "m1", "containers": [c]}
    if policy:
        spec["restartPolicy"] = policy
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": "default"}, "spec": spec}


def run_node(pods: list[dict], seconds: float, *, backoff: BackoffPolicy = FAST, bugs: frozenset[str] = frozenset(),
             script: Any = None) -> dict:
    """One kubelet (m1) on one apiserver; ``pods`` created bound to m1; the pods as stored
    after ``seconds``, with every container event."""
    cluster = KVCluster(seed=4, members=1)
    out: dict = {"events": [], "pods": {}}

    async def main(rt: Any) -> None:
        server = ApiServer(rt, rt.etcd_client(cluster.members))
        rt.spawn(server.run(), name="apiserver")
        client = KubeClient(LocalTransport(server))
        kubelet = Kubelet(rt, client, NodeConfig(name="m1", pod_cidr="10.244.1.0/24"), PodSandboxes("m1"),
                          backoff=backoff, bugs=bugs)
        kubelet.cri.subscribe(out["events"].append)
        out["kubelet"] = kubelet
        rt.spawn(kubelet.run(), name="kubelet")
        for pod in pods:
            await client.create("pods", pod)
        if script is not None:
            await script(rt, client, out)
        await rt.sleep(seconds - rt.monotonic_us() / 1e6)
        for pod in (await client.list("pods", "default"))["items"]:
            out["pods"][pod["metadata"]["name"]] = pod
        out["done"] = True

    cluster.wait_leader()
    start_us = cluster.world.now_us
    cluster.world.add_node("app", lambda env: TaskHost(env, main), client=True)
    cluster.world.run_for(round(seconds * 1_000_000) + 500_000)
    actor = cluster.world.actor("app")
    assert isinstance(actor, TaskHost)
    assert not actor.runtime.errors, actor.runtime.errors
    assert out.get("done"), f"the script did not finish ({start_us})"
    actor.runtime.stop()
    return out


def _events(out: dict, pod: str, kind: str) -> list[ContainerEvent]:
    return [e for e in out["events"] if e.pod == f"default/{pod}" and e.kind == kind]


def _status(out: dict, pod: str) -> dict:
    status: dict = out["pods"][pod]["status"]["containerStatuses"][0]
    return status


# ---------------------------------------------------------------------- pure parts
def test_backoff_doubles_from_10s_to_300s() -> None:
    policy = BackoffPolicy()
    assert [policy.delay_s(n) for n in range(8)] == [10, 20, 40, 80, 160, 300, 300, 300]
    assert policy.reset_after_s == 600
    assert [should_restart(p, code) for p in ("Always", "OnFailure", "Never") for code in (0, 1)] == [
        True, True, False, True, False, False]


def test_container_behaviour_comes_from_command_and_args() -> None:
    assert behaviour_of({"name": "c", "command": ["sleep"], "args": ["5"]}) == Behaviour(exit_after_s=5.0)
    assert behaviour_of({"name": "c", "command": ["false"]}) == Behaviour(exit_after_s=0.0, exit_code=1)
    assert behaviour_of({"name": "c", "command": ["exit", "3", "2.5"]}) == Behaviour(exit_after_s=2.5, exit_code=3)
    assert behaviour_of({"name": "c", "command": ["oom", "300Mi"]}) == Behaviour(memory_bytes=300 * 2**20,
                                                                                 memory_after_s=1.0)
    assert behaviour_of({"name": "c", "command": ["burn", "1500m"]}) == Behaviour(cpu_m=1500)
    assert behaviour_of({"name": "c", "image": "registry.k8s.io/pause:3.9"}) == Behaviour()  # runs forever
    for bad, what in ((["sleep", "soon"], "wants seconds"), (["exit", "x"], "not an integer"),
                      (["exit", "300"], "0..255"), (["oom", "lots"], "not a quantity"), (["sleep"], "one argument")):
        with pytest.raises(BehaviourError, match=what):
            behaviour_of({"name": "web", "command": bad})


def test_probes_from_the_spec() -> None:
    probe = probe_of({"readinessProbe": {"exec": {"command": ["ready-after", "2"]}, "periodSeconds": 1}},
                     "readinessProbe")
    assert probe is not None and probe.period_s == 1 and probe.failure_threshold == 3
    assert [probe_succeeds(probe, s) for s in (0, 1.9, 2, 5)] == [False, False, True, True]
    live = probe_of({"livenessProbe": {"exec": {"command": ["fail-after", "3"]}}}, "livenessProbe")
    assert live is not None and [probe_succeeds(live, s) for s in (0, 3)] == [True, False]
    http = probe_of({"livenessProbe": {"httpGet": {"path": "/", "port": 80}}}, "livenessProbe")
    assert http is not None and probe_succeeds(http, 0)
    assert probe_of({}, "livenessProbe") is None
    with pytest.raises(BehaviourError, match="no exec, httpGet"):
        probe_of({"name": "c", "readinessProbe": {"initialDelaySeconds": 1}}, "readinessProbe")


def test_host_local_ipam_allocates_round_robin_releases_and_honours_a_requested_ip() -> None:
    ipam = HostLocalIpam("10.244.3.0/24")
    assert [ipam.add(f"p{i}") for i in range(3)] == ["10.244.3.2", "10.244.3.3", "10.244.3.4"]
    assert ipam.add("p1") == "10.244.3.3"  # ADD again: the same address
    ipam.delete("p1")
    ipam.delete("p1")  # DEL is idempotent
    assert ipam.add("p3") == "10.244.3.5"  # not the address just released
    assert ipam.add("p4", requested_ip="10.244.3.3") == "10.244.3.3"
    assert ipam.add("p5", requested_ip="10.244.3.2") == "10.244.3.6"  # taken: the next one
    for i in range(5, 253):
        assert ipam.add(f"q{i}") is not None
    assert len(ipam) == 253 and ipam.add("one-too-many") is None
    assert len(set(ipam.allocated.values())) == 253
    ipam.delete("p0")
    assert ipam.add("one-too-many") == "10.244.3.2"  # released, so reused
    with pytest.raises(IpamError, match="must be an IPv4 /24"):
        HostLocalIpam("10.244.0.0/16")


def test_cgroups_reserve_requests_cap_memory_and_record_throttling() -> None:
    cg = Cgroups({"cpu": 1000, "memory": 2**30, "pods": 2})
    assert cg.admit({"cpu": 600, "memory": 0, "pods": 1}) == ""
    cg.reserve("a", {"cpu": 600, "memory": 0, "pods": 1})
    assert cg.admit({"cpu": 600, "memory": 0, "pods": 1}) == "cpu"
    cg.release("a")
    assert cg.admit({"cpu": 600, "memory": 0, "pods": 1}) == ""
    cg.create("c1", Limits(memory_bytes=100, cpu_m=500))
    assert cg.charge_memory("c1", 100) and not cg.charge_memory("c1", 101) and cg.oom_kills == 1
    cg.set_cpu_demand("c1", 1500, now_us=1_000)
    assert cg.throttled_us("c1", now_us=5_000) == 4_000
    cg.set_cpu_demand("c1", 400, now_us=6_000)
    assert cg.throttled_us("c1", now_us=9_000) == 5_000
    buggy = Cgroups({}, bugs=frozenset({"oom_ignores_limit"}))
    buggy.create("c", Limits(memory_bytes=100))
    assert buggy.charge_memory("c", 500) and buggy.oom_kills == 0


# ---------------------------------------------------------------------- the kubelet drives them
def test_crash_loop_backs_off_doubling_to_the_cap() -> None:
    out = run_node([_pod("crash", "false")], seconds=30)
    starts, exits = _events(out, "crash", "started"), _events(out, "crash", "exited")
    waits = [round((s.time_us - e.time_us) / 1e6, 1) for e, s in zip(exits, starts[1:], strict=False)]
    assert waits[:5] == [1.0, 2.0, 4.0, 8.0, 8.0], waits  # within the kubelet's sync latency
    assert all(e.exit_code == 1 and e.reason == "Error" for e in exits)
    status = _status(out, "crash")
    assert status["restartCount"] == len(starts) - 1 >= 5
    assert out["pods"]["crash"]["status"]["phase"] == "Running"
    waiting = status["state"]["waiting"]  # at 30 s: started at 0, 1, 3, 7, 15, 23; the next at 31
    assert waiting["reason"] == "CrashLoopBackOff" and "back-off 8s" in waiting["message"]
    assert not status["ready"] and {"type": "Ready", "status": "False"} in out["pods"]["crash"]["status"]["conditions"]
    assert status["lastState"]["terminated"]["exitCode"] == 1


def test_restart_without_backoff_bug_restarts_at_once() -> None:
    out = run_node([_pod("crash", "false")], seconds=3, bugs=frozenset({"restart_without_backoff"}))
    assert len(_events(out, "crash", "started")) > 20


def test_backoff_resets_after_a_long_enough_run() -> None:
    policy = BackoffPolicy(initial_s=1.0, max_s=8.0, reset_after_s=5.0)
    out = run_node([_pod("slow", "exit", "1", "6")], seconds=30, backoff=policy)
    starts, exits = _events(out, "slow", "started"), _events(out, "slow", "exited")
    waits = [round((s.time_us - e.time_us) / 1e6, 1) for e, s in zip(exits, starts[1:], strict=False)]
    assert len(waits) >= 3 and all(w == 1.0 for w in waits), waits  # every run was 6 s: never doubles


def test_restart_policies_and_terminal_phases() -> None:
    out = run_node([_pod("never", "exit", "3", "0.5", policy="Never"),
                    _pod("done", "sleep", "0.5", policy="OnFailure"),
                    _pod("retry", "exit", "2", "0.5", policy="OnFailure"),
                    _pod("always", "sleep", "0.5"),
                    _pod("pause")], seconds=6)
    never = out["pods"]["never"]["status"]
    assert never["phase"] == "Failed" and not never.get("reason")
    assert never["containerStatuses"][0]["state"]["terminated"]["exitCode"] == 3
    assert out["pods"]["done"]["status"]["phase"] == "Succeeded"
    assert _status(out, "done")["state"]["terminated"]["reason"] == "Completed"
    assert out["pods"]["retry"]["status"]["phase"] == "Running" and _status(out, "retry")["restartCount"] >= 2
    assert _status(out, "always")["restartCount"] >= 2  # Always restarts after exit 0 too
    pause = out["pods"]["pause"]["status"]
    assert pause["phase"] == "Running" and _status(out, "pause")["ready"] and _status(out, "pause")["restartCount"] == 0
    assert {"type": "Ready", "status": "True"} in pause["conditions"]
    kubelet = out["kubelet"]
    ended = {out["pods"][n]["metadata"]["uid"] for n in ("never", "done")}
    assert not ended & set(kubelet.cni.allocated) and not ended & set(kubelet.cri.cgroups.pods)  # released
    assert len(_events(out, "never", "started")) == 1


def test_a_container_over_its_memory_limit_is_oom_killed_and_restarted() -> None:
    out = run_node([_pod("oom", "oom", "300Mi", "0.5", limits={"memory": "128Mi"}),
                    _pod("fits", "oom", "100Mi", "0.5", limits={"memory": "128Mi"}),
                    _pod("nolimit", "oom", "300Mi", "0.5")], seconds=5)
    exits = _events(out, "oom", "exited")
    assert exits and all(e.exit_code == 137 and e.reason == "OOMKilled" for e in exits)
    assert len(_events(out, "oom", "started")) >= 2  # restarted per restartPolicy Always
    status = _status(out, "oom")
    assert status["lastState"]["terminated"]["reason"] == "OOMKilled" and status["restartCount"] >= 1
    for name in ("fits", "nolimit"):
        assert not _events(out, name, "exited") and _status(out, name)["state"].get("running")
    assert _events(out, "fits", "memory")[0].memory_bytes == 100 * 2**20
    buggy = run_node([_pod("oom", "oom", "300Mi", "0.5", limits={"memory": "128Mi"})], seconds=2,
                     bugs=frozenset({"oom_ignores_limit"}))
    over = _events(buggy, "oom", "memory")
    assert over and over[0].memory_bytes > over[0].limit_bytes and not _events(buggy, "oom", "exited")


def test_cpu_limit_throttles_a_busy_container() -> None:
    async def measure(rt: Any, client: KubeClient, out: dict) -> None:
        await rt.sleep(3)
        cri = out["kubelet"].cri
        out["throttled_us"] = {cri.containers[cid].pod: cri.cgroups.throttled_us(cid, rt.monotonic_us())
                               for cid in cri.containers}

    out = run_node([_pod("busy", "burn", "1500m", limits={"cpu": "500m"}), _pod("calm", "burn", "400m",
                                                                                 limits={"cpu": "500m"})],
                   seconds=4, script=measure)
    assert out["throttled_us"]["default/busy"] >= 2_500_000
    assert out["throttled_us"]["default/calm"] == 0


def test_readiness_probe_delays_ready_and_liveness_failure_restarts() -> None:
    ready_probe = {"exec": {"command": ["ready-after", "2"]}, "initialDelaySeconds": 1, "periodSeconds": 1}
    live_probe = {"exec": {"command": ["fail-after", "2"]}, "periodSeconds": 1, "failureThreshold": 2}

    async def early(rt: Any, client: KubeClient, out: dict) -> None:
        await rt.sleep(1.5)
        out["early"] = await client.get("pods", "slow", "default")

    out = run_node([_pod("slow", readinessProbe=ready_probe), _pod("sick", livenessProbe=live_probe)],
                   seconds=6, script=early)
    assert {"type": "Ready", "status": "False"} in out["early"]["status"]["conditions"]
    assert not out["early"]["status"]["containerStatuses"][0]["ready"]
    assert {"type": "Ready", "status": "True"} in out["pods"]["slow"]["status"]["conditions"]
    exits = _events(out, "sick", "exited")
    assert exits and exits[0].exit_code == 137  # killed after two failures: at 3 s
    assert 2.9 <= (exits[0].time_us - _events(out, "sick", "started")[0].time_us) / 1e6 <= 3.2
    assert _status(out, "sick")["restartCount"] >= 1 and out["kubelet"].pod_sync.prober.liveness_kills >= 1


def test_a_deleted_pod_releases_its_ip_for_reuse() -> None:
    async def delete(rt: Any, client: KubeClient, out: dict) -> None:
        await rt.sleep(1)
        out["ip"] = (await client.get("pods", "a", "default"))["status"]["podIP"]
        await client.delete("pods", "a", "default")
        await rt.sleep(1)
        out["after_delete"] = dict(out["kubelet"].cni.allocated)

    out = run_node([_pod("a"), _pod("b")], seconds=3, script=delete)
    assert out["ip"] and out["ip"] not in out["after_delete"].values()
    assert len(out["after_delete"]) == 1


def test_a_pre_stop_hook_delays_the_stop_and_a_replacement_of_the_same_name_starts_meanwhile() -> None:
    slow = {"preStop": {"exec": {"command": ["sleep", "2"]}}}

    async def replace(rt: Any, client: KubeClient, out: dict) -> None:
        await rt.sleep(1)
        old = await client.get("pods", "db-0", "default")
        await client.delete("pods", "db-0", "default", grace_period_s=0)  # forced: the object goes at once
        await client.create("pods", _pod("db-0", lifecycle=slow))
        await rt.sleep(1)
        kubelet = out["kubelet"]
        out["both"] = sorted(s.uid for s in kubelet.sandboxes.of("default/db-0"))
        out["old_uid"] = old["metadata"]["uid"]
        await rt.sleep(1.5)
        out["after"] = [s.uid for s in kubelet.sandboxes.of("default/db-0")]

    out = run_node([_pod("db-0", lifecycle=slow)], seconds=4, script=replace)
    assert len(out["both"]) == 2 and out["old_uid"] in out["both"]  # the old one still in its preStop hook
    assert out["after"] and out["old_uid"] not in out["after"]  # stopped after 2 s + stop_s
    assert pod_shutdown_s({"spec": {"containers": [{"lifecycle": slow}], "terminationGracePeriodSeconds": 1}}) == 1.0
    assert pod_shutdown_s({"spec": {"containers": [{"lifecycle": {"preStop": {"exec": {"command": ["sleep", "x"]}}}}]}}) == 0.0


def test_a_command_that_cannot_be_read_is_a_create_container_error() -> None:
    out = run_node([_pod("bad", "sleep", "soon")], seconds=2)
    status = out["pods"]["bad"]["status"]
    assert status["phase"] == "Pending"
    waiting = status["containerStatuses"][0]["state"]["waiting"]
    assert waiting["reason"] == "CreateContainerError" and "wants seconds" in waiting["message"]


# ---------------------------------------------------------------------- in the control_plane system
def _crashloop_scenario(**bugs: Any) -> Any:
    from raftkv.sim import Fault, Scenario, WorkloadSpec
    from raftkv.sim.scenario import ControlPlaneSpec

    return Scenario(seed=5, system="control_plane", workload=WorkloadSpec(clients=0, ops_per_s=0),
                    control_plane=ControlPlaneSpec(nodes=2, replicasets=1, replicas=2, scales=1, crashloops=3),
                    faults=(Fault(at_us=2_000_000, kind="crash", node="m1"),
                            Fault(at_us=3_500_000, kind="restart", node="m1")),
                    duration_us=6_000_000, settle_us=10_000_000, **bugs)


def test_control_plane_with_crash_looping_pods_converges_and_catches_missing_backoff() -> None:
    from raftkv.sim import run_scenario

    good = run_scenario(_crashloop_scenario())
    assert good.ok, good.summary()
    assert good.system.container_restarts >= 5 and good.system.oom_kills >= 2
    no_backoff = run_scenario(_crashloop_scenario(bugs=("restart_without_backoff",)))
    assert [v.property for v in no_backoff.violations] == ["control_plane.restart_backoff"]
    no_oom = run_scenario(_crashloop_scenario(bugs=("oom_ignores_limit",)))
    assert [v.property for v in no_oom.violations] == ["control_plane.memory_limit"]


def test_crash_looping_control_plane_trace_is_the_same_whatever_the_hash_seed() -> None:
    from hashseeds import assert_same_run_across_hash_seeds

    from raftkv.sim import Fault, Scenario, WorkloadSpec
    from raftkv.sim.scenario import ControlPlaneSpec

    assert_same_run_across_hash_seeds(Scenario(
        seed=9, system="control_plane", workload=WorkloadSpec(clients=0, ops_per_s=0),
        control_plane=ControlPlaneSpec(nodes=2, replicasets=1, replicas=1, crashloops=3),
        faults=(Fault(at_us=1_500_000, kind="crash", node="m2"), Fault(at_us=3_000_000, kind="restart", node="m2")),
        duration_us=5_000_000, settle_us=8_000_000))
