"""After hypothesis shrinks a failure, hunt cuts the run short and drops lone faults."""

from __future__ import annotations

from raftkv.reduce import reduce_scenario
from raftkv.sim.scenario import ClusterSpec, Fault, Scenario, WorkloadSpec
from raftkv.suites import SUITES

S = 1_000_000

# The leader applies entries before a majority has them and is then cut off: only the
# isolation matters; the clock offset, the pause and the late crash are noise.
NOISY = Scenario(
    seed=0, system="raft", cluster=ClusterSpec(members=3), bugs=("apply_before_durable",),
    faults=(Fault(at_us=200_000, kind="clock", node="n3", offset_us=300_000),
            Fault(at_us=1 * S, kind="shape", shape="isolate", node="@leader"),
            Fault(at_us=2 * S, kind="pause", node="n2"), Fault(at_us=2_200_000, kind="resume", node="n2"),
            Fault(at_us=3 * S, kind="heal"),
            Fault(at_us=7 * S, kind="crash", node="n1"), Fault(at_us=8 * S, kind="restart", node="n1")),
    workload=WorkloadSpec(clients=3, ops_per_s=40, keys=1), duration_us=10 * S, settle_us=2 * S)


def test_reduce_keeps_only_what_the_failure_needs() -> None:
    suite = SUITES["raft_safety"]
    _result, violation = suite.run(NOISY)
    assert violation is not None and violation.time_us is not None
    reduction = reduce_scenario(suite, NOISY, violation, budget_s=120)
    reduced, again = reduction.scenario, reduction.violation
    assert again.property == violation.property
    assert (reduction.faults_before, reduction.faults_after) == (7, 1)
    assert "from 7 to 1 faults" in reduction.describe()
    assert [f.kind for f in reduced.faults] == ["shape"]
    assert reduced.duration_us < violation.time_us + S
    # the reduced scenario replays to the same failure
    _result, replayed = suite.run(reduced)
    assert replayed is not None and replayed.property == violation.property


def test_reduce_without_budget_changes_nothing() -> None:
    suite = SUITES["raft_safety"]
    _result, violation = suite.run(NOISY)
    assert violation is not None
    reduction = reduce_scenario(suite, NOISY, violation, budget_s=0)
    assert reduction.scenario == NOISY and reduction.violation == violation and reduction.tries == 0
