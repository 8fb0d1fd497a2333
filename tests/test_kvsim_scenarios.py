"""The "kv" system in the simulator: whole scenarios, faults, leases across leader changes."""

from __future__ import annotations

import attrs
import pytest
from hashseeds import outputs_across_hash_seeds

from raftkv.check import EtcdModel, check_leases, check_linearizable, check_watches, make_history
from raftkv.check.history import HistoryEvent
from raftkv.client import ClientConfig
from raftkv.kv import EventType, WatchResponse, prefix_end
from raftkv.sim import (
    ClusterSpec,
    Fault,
    Scenario,
    WorkloadSpec,
    random_scenario,
    run_scenario,
)
from raftkv.sim.kv_system import KVCluster


def outcomes(result) -> dict[str, int]:
    counts = {"ok": 0, "fail": 0, "info": 0}
    for rec in result.system.history():
        if isinstance(rec, HistoryEvent) and rec.type != "invoke":
            counts[rec.type] += 1
    return counts


def test_no_fault_scenario_passes_every_check() -> None:
    result = run_scenario(Scenario(seed=1, system="kv", duration_us=6_000_000,
                                   settle_us=2_000_000))
    assert result.ok, result.summary()
    counts = outcomes(result)
    assert counts["ok"] > 100 and counts["info"] == 0
    fs = {r.f for r in result.system.history() if isinstance(r, HistoryEvent)}
    assert {"get", "put", "cas", "delete"} <= fs
    assert result.system.summary()["revision"] > 20


def test_crash_and_partition_scenarios_pass() -> None:
    faults = (
        Fault(at_us=1_000_000, kind="crash", node="@leader"),
        Fault(at_us=2_000_000, kind="restart", node="@crashed"),
        Fault(at_us=3_000_000, kind="shape", shape="isolate", node="@leader"),
        Fault(at_us=4_500_000, kind="heal"),
        Fault(at_us=5_000_000, kind="partition", groups=(("n1",), ("n2", "n3"))),
        Fault(at_us=6_000_000, kind="network", loss=0.1, duplicate=0.05),
        Fault(at_us=7_000_000, kind="heal"),
    )
    result = run_scenario(Scenario(seed=2, system="kv", faults=faults, duration_us=8_000_000,
                                   settle_us=3_000_000,
                                   workload=WorkloadSpec(ops_per_s=60)))
    assert result.ok, result.summary()
    assert outcomes(result)["ok"] > 150


@pytest.mark.parametrize("seed", [3, 18, 26, 41])
def test_random_fault_scenarios_pass(seed: int) -> None:
    result = run_scenario(random_scenario(seed, system="kv", faults=10, ops_per_s=60))
    assert result.ok, result.summary()


def test_five_members_without_check_quorum_pass() -> None:
    sc = random_scenario(5, system="kv", members=5, faults=10, ops_per_s=60)
    sc = attrs.evolve(sc, cluster=ClusterSpec(members=5, check_quorum=False, pre_vote=False))
    result = run_scenario(sc)
    assert result.ok, result.summary()


def test_resume_bug_is_caught_by_the_watch_checker() -> None:
    found = set()
    for seed in range(6):
        result = run_scenario(random_scenario(seed, system="kv", faults=10, ops_per_s=60,
                                              bugs=("watch_resume_at_last_revision",)))
        found |= {v.property for v in result.violations}
    assert "watch.unique" in found or "watch.resumable" in found


def test_client_keeps_working_through_a_leader_crash() -> None:
    cl = KVCluster(seed=41)
    c = cl.add_client("c1", config=ClientConfig(op_timeout_us=500_000))
    leader = cl.wait_leader()
    c.leader = leader
    results = []
    for i in range(5):
        results.append(cl.call(c.put, b"k", f"a{i}".encode()).outcome)
    cl.world.crash(leader)
    for i in range(15):
        results.append(cl.call(c.put, b"k", f"b{i}".encode()).outcome)
        cl.world.run_for(20_000)
    assert results[:5] == ["ok"] * 5
    assert results[-10:] == ["ok"] * 10  # a new leader took over and the client found it
    assert "fail" not in results  # nothing reported failed that may have happened
    assert c.leader != leader
    history = cl.history()
    assert check_linearizable(history, EtcdModel()).verdict == "ok"


def lease_run(bugs: tuple[str, ...]) -> tuple[KVCluster, list[WatchResponse], list[str]]:
    """A lease kept alive every second while the leader crashes twice."""
    cl = KVCluster(seed=51, bugs=bugs)
    c = cl.add_client("c1", config=ClientConfig(op_timeout_us=500_000))
    cl.wait_leader()
    lease = cl.call(c.lease_grant, 3).response.id
    assert cl.call(c.put, b"lk", b"v", lease=lease).ok
    got: list[WatchResponse] = []
    c.watch(b"lk", got.append)
    crashed: list[str] = []
    for second in range(8):
        r = cl.call(c.lease_keepalive, lease)
        if r.outcome == "ok":
            assert r.response.ttl_s == 3
        if second in (2, 5):
            leader = cl.leader()
            assert leader is not None
            crashed.append(leader)
            cl.world.crash(leader)
            cl.world.run_for(300_000)
            cl.world.restart(leader)
        cl.world.run_until(cl.world.now_us + 1_000_000 - 300_000 * (second in (2, 5)))
    return cl, got, crashed


def test_lease_kept_alive_survives_leader_changes() -> None:
    cl, got, crashed = lease_run(())
    assert len(crashed) == 2
    c = cl.world.actor("c1").client  # type: ignore[union-attr]
    g = cl.call(c.get, b"lk")
    assert g.ok and [kv.value for kv in g.response.kvs] == [b"v"]
    assert not any(ev.type is EventType.DELETE for r in got for ev in r.events)
    assert check_leases(cl.history()) == []


def test_lease_no_extend_bug_loses_a_kept_alive_lease() -> None:
    cl, got, _ = lease_run(("lease_no_extend_on_leader_change",))
    c = cl.world.actor("c1").client  # type: ignore[union-attr]
    g = cl.call(c.get, b"lk")
    assert g.ok and g.response.kvs == ()
    assert any(ev.type is EventType.DELETE for r in got for ev in r.events)
    assert {v.guarantee for v in check_leases(cl.history())} == {"lease_kept_alive"}


def test_lease_not_kept_alive_expires_and_deletes_its_keys() -> None:
    cl = KVCluster(seed=61)
    c = cl.add_client("c1")
    cl.wait_leader()
    lease = cl.call(c.lease_grant, 2).response.id
    for key in (b"p/a", b"p/b"):
        assert cl.call(c.put, key, b"v", lease=lease).ok
    assert cl.call(c.put, b"p/c", b"no lease").ok
    got: list[WatchResponse] = []
    c.watch(b"p/", got.append, range_end=prefix_end(b"p/"))
    cl.world.run_for(1_000_000)
    g = cl.call(c.get, b"p/a")
    assert g.ok and g.response.kvs[0].lease == lease  # not yet
    cl.world.run_for(2_500_000)
    deletes = [(ev.kv.key, ev.kv.mod_revision) for r in got for ev in r.events
               if ev.type is EventType.DELETE]
    assert [k for k, _ in deletes] == [b"p/a", b"p/b"]
    assert deletes[0][1] == deletes[1][1]  # one revision: the revoke
    assert cl.call(c.get, b"p/a").response.kvs == ()
    assert cl.call(c.get, b"p/c").response.kvs[0].value == b"no lease"
    k = cl.call(c.lease_keepalive, lease)
    assert k.outcome == "fail"
    history = cl.history()
    assert check_leases(history) == [] and check_watches(history) == []


def test_same_seed_same_trace_across_hash_seeds() -> None:
    code = ("from raftkv.sim import run_scenario, random_scenario;"
            "r = run_scenario(random_scenario(7, system='kv', faults=6, duration_us=3_000_000,"
            " settle_us=1_000_000)); print(r.trace.hash(), r.ok)")
    outs = outputs_across_hash_seeds(code)
    assert outs[0] == outs[1] and outs[0].endswith("True")


def test_leases_run_out_under_a_leader_without_quorum_go_once_the_quorum_is_back() -> None:
    # No CheckQuorum: n1 leads on without a quorum (n4 crashed, n2 cut off) and runs its
    # leases out at ~5 s, but their revocation commits only once n4 is back at 7.7 s; a
    # read that waited for that quorum still sees a leased key.
    faults = (Fault(at_us=1_733_346, kind="crash", node="@leader"),
              Fault(at_us=1_943_704, kind="shape", shape="isolate", node="n2"),
              Fault(at_us=7_733_346, kind="restart", node="@crashed"))
    scenario = Scenario(seed=0, system="kv", faults=faults, duration_us=8_000_000, settle_us=4_000_000,
                        cluster=ClusterSpec(members=4, check_quorum=False, pre_vote=False,
                                            max_entries_per_msg=1, max_clock_drift_ppm=300_000),
                        workload=WorkloadSpec(clients=4, keys=1, ops_per_s=35, op_timeout_us=300_000))
    result = run_scenario(scenario)
    assert result.ok, result.summary()
    system = result.system
    c = scenario.cluster
    plain = check_leases(make_history(system.history()), expiry_grace_us=system.lease_grace_us(),
                         lease_resets_us=system.lease_resets_us,
                         reset_extension_us=c.election_timeout_ticks * c.tick_us)
    # the premise: by lease clocks alone, that read came after the lease was surely gone
    assert [v.guarantee for v in plain] == ["lease_expired"]
    assert 7_733_346 in system.quorum_regained_us


def test_a_leader_clock_running_fast_runs_leases_out_early_within_the_drift() -> None:
    # The leader's clock runs 6% fast from 1 s: lease 3 (3 s, granted at 2.12 s) runs out
    # at 4.97 s of simulated time, and a keepalive then gets "not found", before the
    # 5.12 s a true clock would give.  The lease checker is told the run's drift.
    faults = (Fault(at_us=1_000_000, kind="partition", groups=(("n1",), ("n2", "n3"))),
              Fault(at_us=1_000_000, kind="clock", node="@leader", drift_ppm=60_001))
    scenario = Scenario(seed=2, system="kv", faults=faults, duration_us=5_000_000, settle_us=4_000_000,
                        cluster=ClusterSpec(check_quorum=False, max_clock_drift_ppm=300_000),
                        workload=WorkloadSpec(clients=2, keys=1, ops_per_s=20))
    result = run_scenario(scenario)
    assert result.ok, result.summary()
    system = result.system
    assert system.clock_drift_ppm() == 60_001
    c = scenario.cluster
    true_clocks = check_leases(make_history(system.history()), expiry_grace_us=system.lease_grace_us(),
                               lease_resets_us=system.lease_resets_us,
                               reset_extension_us=c.election_timeout_ticks * c.tick_us,
                               quorum_regained_us=system.quorum_regained_us)
    # the premise: by a true clock, the lease ended early
    assert [v.guarantee for v in true_clocks] == ["lease_kept_alive"]
