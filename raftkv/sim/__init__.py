"""The deterministic simulator: virtual time, network, disks, clocks, faults, trace.

Also the scenario data model (:class:`Scenario`, JSON and tokens) and
:func:`run_scenario`, which runs one scenario end to end and checks it.
"""

from .clock import NodeClock
from .disk import SimDisk
from .executor import (
    SimCancelScope,
    SimEvent,
    SimQueue,
    SimRuntime,
    SimTask,
    TaskHost,
    cut_off,
    task_errors,
)
from .faults import apply_fault, heal_everything
from .generate import random_scenario
from .network import Latency, NetworkModel, cuts_for_groups
from .run import (
    INVARIANT,
    RUN_STOPPING,
    SYSTEM_BUILDERS,
    PropertyViolation,
    RunResult,
    System,
    Violation,
    run_scenario,
)
from .scenario import (
    FAULT_KINDS,
    ClusterSpec,
    Fault,
    NetworkSpec,
    Scenario,
    ScenarioError,
    WorkloadSpec,
    client_names,
    member_names,
    scenario_from_json,
    scenario_from_token,
    scenario_to_json,
    scenario_to_token,
)
from .shapes import SHAPES, shape_cuts
from .trace import Trace, TraceEvent, format_time_us
from .world import SimEnv, World, derive_rng

__all__ = [
    "FAULT_KINDS", "SHAPES", "SYSTEM_BUILDERS", "ClusterSpec", "Fault", "Latency", "NetworkModel",
    "INVARIANT", "NetworkSpec", "NodeClock", "PropertyViolation", "RUN_STOPPING", "RunResult", "Scenario",
    "ScenarioError", "SimCancelScope", "SimDisk", "SimEnv", "SimEvent", "SimQueue", "SimRuntime", "SimTask",
    "System", "TaskHost", "Trace", "TraceEvent", "Violation", "WorkloadSpec", "World",
    "apply_fault", "client_names", "cut_off", "cuts_for_groups", "derive_rng", "format_time_us",
    "heal_everything", "member_names", "random_scenario", "run_scenario", "scenario_from_json",
    "scenario_from_token", "scenario_to_json", "scenario_to_token", "shape_cuts", "task_errors",
]
