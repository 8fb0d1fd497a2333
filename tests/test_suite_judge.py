"""A violation that stops a run fails every suite that ran it, whatever it judges."""

from __future__ import annotations

import pytest

import raftkv.sim.run as run_module
from raftkv.sim import INVARIANT, ClusterSpec, Fault, Scenario, WorkloadSpec, run_scenario
from raftkv.suites import SUITES, judge

S = 1_000_000

# The leader applies entries before a majority has them and is then cut off.
UNSAFE = Scenario(
    seed=0, system="raft", cluster=ClusterSpec(members=3), bugs=("apply_before_durable",),
    faults=(Fault(at_us=1 * S, kind="shape", shape="isolate", node="@leader"),
            Fault(at_us=3 * S, kind="heal")),
    workload=WorkloadSpec(clients=3, ops_per_s=40, keys=1), duration_us=5 * S, settle_us=2 * S)


def test_a_raft_safety_violation_fails_suites_that_judge_other_properties() -> None:
    result = run_scenario(UNSAFE)
    assert result.violations and result.violations[0].property.startswith("raft.")
    for properties in (("watch",), ("lease",), ("liveness",), ()):
        v = judge(result, properties)
        assert v is not None and v.property.startswith("raft."), properties


@pytest.mark.parametrize("suite", ["watch", "lease", "liveness", "determinism"])
def test_every_suite_fails_a_run_stopped_by_a_broken_invariant(suite: str, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(world: object, fault: Fault, spec: object, target: object) -> None:
        raise AssertionError("the fault found the world in a state it must never be in")

    monkeypatch.setattr(run_module, "apply_fault", broken)
    scenario = Scenario(seed=1, system="kv", cluster=ClusterSpec(members=3),
                        faults=(Fault(at_us=S, kind="heal"),), duration_us=2 * S, settle_us=S)
    _result, violation = SUITES[suite].run(scenario)
    assert violation is not None and violation.property == INVARIANT
    assert "test_suite_judge.py" in violation.message and "never be in" in violation.message


def test_a_clean_run_passes_every_judge() -> None:
    result = run_scenario(Scenario(seed=1, system="kv", duration_us=2 * S, settle_us=S))
    assert result.ok
    for suite in SUITES.values():
        assert suite.judge(result) is None
