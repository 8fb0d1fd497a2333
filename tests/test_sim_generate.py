"""``random_scenario`` (what ``raftkv sim --seed N`` runs) and how a run says what ran."""

from __future__ import annotations

import re

import attrs
import pytest

from raftkv.sim import Fault, Scenario, random_scenario, run_scenario

RECOVERIES = ("restart", "resume")


@pytest.mark.parametrize("members", [1, 3, 5])
@pytest.mark.parametrize("faults", [0, 1, 8, 30])
def test_the_faults_asked_for_are_the_faults_drawn(members: int, faults: int) -> None:
    for seed in range(12):
        scenario = random_scenario(seed, members=members, faults=faults)
        drawn = [f for f in scenario.faults if f.kind not in RECOVERIES]
        assert len(drawn) == faults, (seed, scenario.describe())
        # every recovery belongs to a crash or pause of the same member
        for kind, back in (("crash", "restart"), ("pause", "resume")):
            assert (sorted(f.node for f in scenario.faults if f.kind == kind)
                    == sorted(f.node for f in scenario.faults if f.kind == back))


@pytest.mark.parametrize("seed", range(40))
def test_no_member_goes_down_while_it_is_down(seed: int) -> None:
    scenario = random_scenario(seed, members=5, faults=8)
    down: dict[str, str] = {}
    for fault in scenario.faults:
        if fault.kind in ("crash", "pause"):
            assert fault.node not in down, f"{fault.describe()} while {down}\n{scenario.describe()}"
            down[fault.node] = fault.kind
        elif fault.kind in RECOVERIES:
            assert down.pop(fault.node) == {"restart": "crash", "resume": "pause"}[fault.kind]
    lines = scenario.describe().splitlines()
    listed = [line for line in lines if re.match(r"\s+\d+\.\d{3}s ", line)]
    assert len(listed) == len(set(listed)) == len(scenario.faults)


def test_the_header_counts_what_it_lists() -> None:
    scenario = random_scenario(7, members=5, faults=8)  # once listed 'resume n2' twice
    header = next(line for line in scenario.describe().splitlines() if line.startswith("faults"))
    back = sum(f.kind in RECOVERIES for f in scenario.faults)
    assert header == f"faults ({len(scenario.faults)} events: 8 faults and {back} restarts or resumes):"
    plain = Scenario(seed=1, faults=(Fault(at_us=5, kind="heal"),))
    assert "faults (1):" in plain.describe()


def test_the_summary_says_why_the_run_ended_where_it_did() -> None:
    scenario = random_scenario(7, system="raft", members=3, faults=2, duration_us=2_000_000,
                               settle_us=3_000_000)
    result = run_scenario(scenario)
    first = result.summary().splitlines()[0]
    assert first.startswith(f"simulated {result.end_us / 1e6:.3f}s of the planned 2s + 3s settle")
    if result.end_us < 5_000_000:
        into = (result.end_us - 2_000_000) / 1e6
        assert f"live again {into:.3f}s into the settle phase" in first
    no_settle = run_scenario(attrs.evolve(scenario, settle_us=0))
    assert no_settle.summary().startswith("simulated 2.000s of the planned 2s + 0s settle: ")


def test_a_run_cut_short_by_a_violation_says_so() -> None:
    from test_report_safety import apply_before_durable_scenario

    result = run_scenario(apply_before_durable_scenario())
    assert not result.ok
    first = result.summary().splitlines()[0]
    planned = result.scenario.duration_us + result.scenario.settle_us
    assert result.end_us < planned
    assert f"(cut short by the {result.violations[0].property} violation at {result.end_us / 1e6:.3f}s)" in first
