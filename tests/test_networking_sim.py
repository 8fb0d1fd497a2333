"""The ``networking`` system end to end: traffic of every kind reaches ready pods, a crash
of a machine and of the DNS server heals, the trace does not depend on the hash seed, and
its catalogued bugs show as the violations the suite judges."""

from __future__ import annotations

import attrs

from raftkv.sim import Fault, Scenario, WorkloadSpec, run_scenario
from raftkv.sim.scenario import ControlPlaneSpec, NetworkingSpec

BASE = Scenario(seed=11, system="networking", workload=WorkloadSpec(clients=0, ops_per_s=0),
                control_plane=ControlPlaneSpec(apiservers=2, nodes=3, replicasets=2, deployments=1, replicas=2,
                                               max_replicas=3, scales=2, rollouts=1, pod_cpu_m=250),
                networking=NetworkingSpec(proxy_mode="mixed"),
                faults=(Fault(at_us=2_000_000, kind="crash", node="m2"), Fault(at_us=2_500_000, kind="crash", node="dns1"),
                        Fault(at_us=3_500_000, kind="restart", node="m2"),
                        Fault(at_us=4_000_000, kind="restart", node="dns1")),
                duration_us=6_000_000, settle_us=15_000_000)


def test_traffic_of_every_kind_reaches_ready_pods_and_the_system_converges() -> None:
    result = run_scenario(BASE)
    assert result.ok, [v.message for v in result.violations]
    net = result.system
    ok = {t["mode"] for t in net.requests if t["outcome"] == "ok"}
    assert ok == {"dns", "clusterip", "nodeport", "loadbalancer", "ingress"}, net.outcomes
    assert any(t["service"].endswith("-hl") and t["outcome"] == "ok" for t in net.requests)  # headless by DNS
    assert net.provider.balancers and {p.mode for p in net.proxies.values()} == {"iptables", "ipvs"}
    lb = next(t for t in net.requests if t["mode"] == "loadbalancer" and t["outcome"] == "ok")
    assert lb["hops"][0].startswith("lb 203.0.113.") and lb["pod"]


def test_each_networking_bug_shows_as_its_violation() -> None:
    quiet = attrs.evolve(BASE, seed=12, faults=())  # seed 12: a scale-down or rollout takes endpoints away
    expected = {"endpoints_publish_not_ready": "networking.never_ready_endpoint",
                "kube_proxy_stale_rules": "networking.convergence",
                "iptables_wrong_probability": "networking.converged_traffic"}
    for bug, prop in expected.items():
        bad = run_scenario(attrs.evolve(quiet, bugs=(bug,),
                                        networking=NetworkingSpec(proxy_mode="iptables", readiness_delay_ms=1500,
                                                                  requests_per_s=40)))
        assert prop in [v.property for v in bad.violations], (bug, [v.property for v in bad.violations])


def test_networking_trace_is_the_same_whatever_the_hash_seed() -> None:
    from hashseeds import assert_same_run_across_hash_seeds

    assert_same_run_across_hash_seeds(Scenario(
        seed=5, system="networking", workload=WorkloadSpec(clients=0, ops_per_s=0),
        networking=NetworkingSpec(proxy_mode="mixed"),
        faults=(Fault(at_us=1_500_000, kind="crash", node="m1"), Fault(at_us=3_000_000, kind="restart", node="m1")),
        duration_us=5_000_000, settle_us=10_000_000))
