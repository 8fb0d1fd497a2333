"""Shared by the membership tests of both systems (raft and kv)."""

from __future__ import annotations

from typing import Any

from raftkv.sim import RunResult, run_scenario
from raftkv.sim.scenario import ClusterSpec, Fault, Scenario, WorkloadSpec

S = 1_000_000


def run_membership(system: str, members: int, faults: tuple[Fault, ...], *, bugs: tuple[str, ...] = (),
                   seed: int = 3, duration_us: int = 8 * S, snapshot_interval_entries: int = 200,
                   clients: int = 3) -> RunResult:
    sc = Scenario(seed=seed, system=system,
                  cluster=ClusterSpec(members=members, snapshot_interval_entries=snapshot_interval_entries),
                  faults=faults, workload=WorkloadSpec(clients=clients, ops_per_s=60),
                  duration_us=duration_us, settle_us=3 * S, bugs=bugs)
    return run_scenario(sc, trace_messages=False)


# Grow 1 -> 3 -> 5 (learners promoted, voters added at once), then shrink to 3.
GROW_SHRINK = (
    Fault(at_us=1 * S, kind="add_member", node="n2", learner=True),
    Fault(at_us=1 * S + 500, kind="add_member", node="n3"),
    Fault(at_us=2 * S, kind="promote", node="n2"),
    Fault(at_us=3 * S, kind="add_member", node="n4", learner=True),
    Fault(at_us=3 * S, kind="add_member", node="n5"),
    Fault(at_us=4 * S, kind="promote", node="n4"),
    Fault(at_us=5 * S, kind="remove_member", node="n1"),
    Fault(at_us=6 * S, kind="remove_member", node="n2"),
)


def voters(r: RunResult) -> tuple[str, ...]:
    """The voters once the run settled (never a joint configuration)."""
    conf = r.system.configuration()  # type: ignore[attr-defined]
    assert conf is not None and not conf.joint
    return tuple(conf.voters)


def events(r: RunResult, kind: str) -> list[Any]:
    return [ev for ev in r.trace.events if ev.kind == kind]
