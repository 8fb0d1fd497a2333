"""A Raft safety violation's run report: the property, the members, one trace tail."""

from __future__ import annotations

from raftkv.report import run_report
from raftkv.sim import run_scenario
from raftkv.sim.scenario import ClusterSpec, Fault, Scenario, WorkloadSpec

S = 1_000_000


def apply_before_durable_scenario() -> Scenario:
    """The leader applies entries before a majority has them, then is cut off."""
    return Scenario(seed=0, system="raft", cluster=ClusterSpec(members=3), bugs=("apply_before_durable",),
                  faults=(Fault(at_us=1 * S, kind="shape", shape="isolate", node="@leader"),
                          Fault(at_us=3 * S, kind="heal")),
                  workload=WorkloadSpec(clients=3, ops_per_s=40, keys=1), duration_us=5 * S, settle_us=2 * S)


def test_safety_violation_report_has_one_trace_tail() -> None:
    result = run_scenario(apply_before_durable_scenario())
    first = result.first_violation()
    assert first is not None and first.property.startswith("raft.")
    assert "Raft safety violated" in first.message and "trace tail" not in first.message
    report = run_report(result, tail=10)
    assert report.count("trace tail") == 1
    assert f"raftkv replay {result.token}" in report
