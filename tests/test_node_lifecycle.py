"""The node lifecycle controller, leader election and the Sieve-style faults in the
``control_plane`` system (kube.control_plane_sim), and the bugs its checks catch."""

from __future__ import annotations

import attrs
import pytest

from kube.controllers.node_lifecycle import UNREACHABLE_TAINT, toleration_for
from raftkv.sim import Fault, Scenario, WorkloadSpec, run_scenario
from raftkv.sim.scenario import ControlPlaneSpec, ScenarioError, validate

BASE = Scenario(seed=5, system="control_plane", workload=WorkloadSpec(clients=0, ops_per_s=0),
                control_plane=ControlPlaneSpec(nodes=3, replicasets=2, replicas=2, max_replicas=2, scales=2,
                                               deployments=1, rollouts=1, standbys=1),
                duration_us=8_000_000, settle_us=15_000_000)
CUT_M1 = tuple(link for a in ("a1", "a2") for link in (("m1", a), (a, "m1")))


def _run(*faults: Fault, bugs: tuple[str, ...] = (), **spec: int) -> tuple[list[str], object]:
    result = run_scenario(attrs.evolve(BASE, faults=faults, bugs=bugs,
                                       control_plane=attrs.evolve(BASE.control_plane, **spec)))
    return [v.property for v in result.violations], result


def test_toleration_for_matches_key_and_effect() -> None:
    pod = {"spec": {"tolerations": [{"key": UNREACHABLE_TAINT, "operator": "Exists", "effect": "NoExecute",
                                     "tolerationSeconds": 7}]}}
    assert toleration_for(pod, UNREACHABLE_TAINT, "NoExecute") == pod["spec"]["tolerations"][0]
    assert toleration_for(pod, "node.kubernetes.io/not-ready", "NoExecute") is None
    assert toleration_for({"spec": {"tolerations": [{"operator": "Exists"}]}}, UNREACHABLE_TAINT, "NoExecute")
    assert toleration_for({"spec": {}}, UNREACHABLE_TAINT, "NoExecute") is None


def test_a_lost_machine_has_its_pods_evicted_and_replaced() -> None:
    props, result = _run(Fault(at_us=2_000_000, kind="lose_node", node="m1"))
    assert props == [], result.summary()
    nlc = result.system.controllers["cm/node-lifecycle"]
    podgc = result.system.controllers["cm/podgc"]
    # evicted once their toleration ran out, or collected once the cloud deleted the Node
    assert nlc.marked_lost == 1 and nlc.evicted + podgc.pods_deleted >= 1
    assert all(node != "m1" for node, _sandbox in result.system.running.values())
    assert any(e.kind in ("node_lifecycle.evicted", "podgc.pod_deleted") and e.fields["node"] == "m1"
               for e in result.trace.events)
    assert any(e.kind == "cloud_node.deleted" and e.fields["node"] == "m1" for e in result.trace.events)
    assert any(e.kind == "fault" and e.fields.get("fault") == "lose_node" for e in result.trace.events)


def test_a_node_cut_off_is_tainted_evicted_then_untainted_when_it_comes_back() -> None:
    props, result = _run(Fault(at_us=1_000_000, kind="cut", links=CUT_M1), Fault(at_us=8_000_000, kind="heal"))
    assert props == [], result.summary()
    kinds = [e.kind for e in result.trace.events if e.kind.startswith("node_lifecycle.")]
    assert kinds.index("node_lifecycle.lost") < kinds.index("node_lifecycle.evicted")
    # converged: m1 is Ready again and its unreachable taints are gone
    m1 = next(n for n in result.system._stored("nodes") if n["metadata"]["name"] == "m1")
    assert not m1["spec"].get("taints") and m1["status"]["conditions"][-1]["status"] == "True"


def test_slow_heartbeats_are_not_a_lost_node_unless_eviction_ignores_tolerations() -> None:
    slow = (Fault(at_us=1_000_000, kind="slow_heartbeat", node="m1", delta_us=2_500_000),
            Fault(at_us=8_000_000, kind="slow_heartbeat", node="m1"))
    props, result = _run(*slow)
    assert props == [], result.summary()
    assert result.system.controllers["cm/node-lifecycle"].evicted == 0
    props, _result = _run(*slow, bugs=("node_eviction_without_grace",))
    assert props == ["control_plane.early_eviction"]


def test_a_scheduler_with_a_stale_view_needs_its_assumed_pods() -> None:
    lag = tuple(Fault(at_us=100_000, kind="lag_watch", node=s, delta_us=500_000) for s in ("s1", "s2"))
    props, result = _run(*lag, max_replicas=3, replicas=3)
    assert props == [], result.summary()
    props, _result = _run(*lag, bugs=("scheduler_stale_cache_double_book",), max_replicas=3, replicas=3)
    assert props == ["control_plane.scheduler_overcommit"]


def test_coalesced_events_and_a_crash_in_the_middle_of_a_reconcile_still_converge() -> None:
    props, result = _run(Fault(at_us=500_000, kind="coalesce_watch", node="cm1", delta_us=1_000_000),
                         Fault(at_us=2_000_000, kind="crash_mid_reconcile", node="cm1"),
                         Fault(at_us=4_000_000, kind="restart", node="cm1"),
                         Fault(at_us=6_000_000, kind="coalesce_watch", node="cm1"))
    assert props == [], result.summary()
    assert any(e.kind == "fault" and e.fields.get("what") == "crashed after a write" for e in result.trace.events)
    assert any(e.kind == "crash" and e.node == "cm1" for e in result.trace.events)


def test_a_paused_leader_is_replaced_and_its_writes_are_fenced() -> None:
    props, result = _run(Fault(at_us=2_000_000, kind="pause", node="cm1"),
                         Fault(at_us=6_000_000, kind="resume", node="cm1"))
    assert props == [], result.summary()
    holders = [(lease, holder, term) for _t, lease, holder, term in result.system.elected]
    assert ("kube-controller-manager", "cm1", 0) in holders and ("kube-controller-manager", "cm2", 1) in holders


def test_system_faults_are_validated() -> None:
    with pytest.raises(ScenarioError, match="unknown node 'zz'"):
        validate(attrs.evolve(BASE, faults=(Fault(at_us=1, kind="lag_watch", node="zz", delta_us=5),)))
    with pytest.raises(ScenarioError, match="delta_us: must be >= 0"):
        validate(attrs.evolve(BASE, faults=(Fault(at_us=1, kind="lag_watch", node="s1", delta_us=-5),)))
    with pytest.raises(ScenarioError, match="lose_node needs a node"):
        validate(attrs.evolve(BASE, faults=(Fault(at_us=1, kind="lose_node"),)))


def test_a_node_back_for_a_moment_keeps_its_pods_for_their_toleration() -> None:
    # Found by the control_plane suite (no bug on): m2 came back and renewed its Lease
    # while still tainted, went silent again, and the controller evicted its pods counting
    # the toleration from the first taint: 3.2 s after the renewal instead of 6 s.
    from raftkv.sim import scenario_from_token
    from raftkv.suites import SUITES

    scenario = scenario_from_token(
        "rk1_eNpdUc1uwyAMfhefc2jSRtryKtOEXOJsKCZGQNJVVd99JjSHjRP-zPdj8wDLa8oUYXiAxx9jWexsxuimbELwMJxP5TR7k5YcHSUTKBqfv"
        "mBoGwiRzCaZYJiQEz0bsKLPhE1gXKjoWvEBbTZuUaMN2axJqaeX8EiB5e5VO-2CxSgq5iwqcGlgkZGMDavxlVWR2gsyHq2u184f4lFQUT5rLcy"
        "yvmySRS4iJ0084coF_ngA5j3dpXtv-7Yt6ThjhY7As1tGGCCx3Mw3YcxXwgw1leK-g-enmuGU580kSwtGJ9WTSJl991auOTPVTfSHcrrrV-go_"
        "1bYwE3izILjvk12dVdKkFA_Y5_j-Qtx75j_")
    assert scenario.bugs == ()
    result, violation = SUITES["control_plane"].run(scenario)
    assert violation is None, violation
    assert result.system.controllers["cm/node-lifecycle"].marked_lost >= 1


def test_a_deposed_leaders_no_op_write_is_not_a_landed_write() -> None:
    # Found by the control_plane suite: cm1, paused through a failover, sent a patch that
    # changed nothing; the apiserver answered with the object's current resourceVersion
    # (written by cm2) without checking the fence, which looked like a deposed write.
    from raftkv.sim import scenario_from_token
    from raftkv.suites import SUITES

    scenario = attrs.evolve(scenario_from_token(
        "rk1_eNqNk0lu6zAMhu-itRce4sT1VYJCUGQmFawJEtU2CHL3Uh5aO8ADnjcGp08_KfHBLukWWX9mAbxWUkRAbh2Hbw8SBSpnI3svmNQpIgTWPxhoi"
        "pCfozLgEtJfjoSo6oIZ8c2ldnLkQ1BX5N4b1jdl_uYgWAwKIvcQuIk31h_ID-YCgQjtkw5ylOE091pYyMdJZ7yQyJWl8z-F5imfVS7MgVS7uyEse"
        "RcBayeTw7oBuPSJm7mqYN4Nq6Nuyf5Lr4rNFMhuyHZaU48zK6Kww-U-Z6LTEKYB8UX6kBY7KzyuCq8i6Vx_fjCBU-itPJ2yco1i38yo7MB6psWN"
        "fwmUH2yWTy5pKvYsfgmb9ldI9wLxIkXgRg00DpqpVBr-jWu7tjl1v7UyIeVqZfO1ns9TesFERQ_hnH_F5MnGEqnnSL1G3rfwY9NWDQm7BZf8DLSH"
        "rKWdqmwm2FxqG6rcNBBQ5XHulL4tsCXpA4TexumpzdP971E25b73V-KhK6u6-iPKIOKGFnew48slBKAnE3CfTi0GccXxk0cJVgTlpvcUAaika-r6"
        "VHaHbCNqWO5n5cY7baHJMnZrUrAvF0btxDBtjFbzPlCB8_OuZev5_AGBtjye"), bugs=())
    assert any(f.kind == "pause_mid_reconcile" for f in scenario.faults)
    result, violation = SUITES["control_plane"].run(scenario)
    assert violation is None, violation
    assert [holder for _t, lease, holder, _n in result.system.elected if lease == "kube-controller-manager"] == [
        "cm1", "cm2"]


def test_system_faults_give_the_same_trace_whatever_the_hash_seed() -> None:
    from hashseeds import assert_same_run_across_hash_seeds

    faults = (Fault(at_us=100_000, kind="coalesce_watch", node="cm1", delta_us=500_000),
              Fault(at_us=200_000, kind="lag_watch", node="s1", delta_us=300_000),
              Fault(at_us=1_000_000, kind="pause_mid_reconcile", node="cm1", delta_us=4_000_000),
              Fault(at_us=1_500_000, kind="lose_node", node="m2"),
              Fault(at_us=2_000_000, kind="slow_heartbeat", node="m1", delta_us=1_000_000))
    assert_same_run_across_hash_seeds(Scenario(
        seed=3, system="control_plane", workload=WorkloadSpec(clients=0, ops_per_s=0),
        control_plane=ControlPlaneSpec(nodes=3, replicasets=1, replicas=2, max_replicas=2, standbys=1),
        faults=faults, duration_us=6_000_000, settle_us=12_000_000))
