"""Running a scenario end to end: build the world, inject faults, heal, check.

A *system* is what runs on the simulated cluster (the etcd-like KV store with its
clients, a bare Raft cluster, or the demo).  Systems register a builder in
:data:`SYSTEM_BUILDERS`; :func:`run_scenario` drives any of them the same way:

1. the fault phase (``duration_us``): the workload runs and faults are injected;
2. the settle phase (``settle_us``): every fault is healed, clients stop starting
   new operations, and the system must become live again (liveness);
3. the checks: what the system's checkers say about the history.

Safety checkers that watch the run continuously raise :class:`PropertyViolation`,
which stops the run at once and is reported like any other violation.
"""

from __future__ import annotations

import contextlib
import gc
import importlib
import traceback
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, Protocol

import attrs

from raftkv.check import History

from .faults import MembershipControl, apply_fault, heal_everything, network_latency
from .safety import SafetyViolation
from .scenario import Fault, Scenario, scenario_to_token, validate
from .trace import Trace, format_time_us
from .world import World

__all__ = ["INVARIANT", "RUN_STOPPING", "SYSTEM_BUILDERS", "PropertyViolation", "RunResult", "System", "Violation", "run_scenario"]


class PropertyViolation(Exception):
    """Raised by a continuous checker: stops the run.  ``property`` names what broke."""

    def __init__(self, property: str, report: str) -> None:
        super().__init__(f"{property}: {report}")
        self.property = property
        self.report = report


@attrs.frozen(kw_only=True)
class Violation:
    property: str  # e.g. "raft.election_safety", "linearizability", "liveness"
    message: str  # multi-line explanation
    time_us: int | None = None
    # For Raft safety violations: the members involved and the log index, if one
    members: tuple[str, ...] = ()
    index: int | None = None


class System(Protocol):
    """What :func:`run_scenario` needs from a hosted system."""

    membership: MembershipControl | None

    def start(self) -> None:
        """Add members and clients to the world (time 0)."""

    def leader(self) -> str | None:
        """The member leading now (for faults aimed at the leader), if any."""

    def quiesce(self) -> None:
        """The fault phase is over: clients stop starting new operations."""

    def is_live(self) -> bool:
        """Liveness: a leader exists and no client request is pending."""

    def liveness_report(self) -> str:
        """Why the system is not live (what is pending, who leads)."""

    def history(self) -> History:
        """The client history so far, as the checkers and ``write_jsonl`` take it."""

    def check(self, properties: Sequence[str] | None = None) -> list[Violation]:
        """Post-run checks (linearizability, watches, leases...); with ``properties``,
        only the checks of properties named by one of those prefixes."""

    def summary(self) -> dict[str, Any]:
        """A few figures for the run summary."""

    def write_html(self, path: str, headline: str | None = None, headline_detail: str = "") -> bool:
        """Write the checker's HTML report of the history to ``path``; False if none.
        ``headline`` (what broke) and ``headline_detail`` lead the page."""


SystemBuilder = Callable[[Scenario, World], System]
#: Modules outside raftkv.sim that register systems when imported (by name, so the
#: simulator does not import the layers above it).
PLUGIN_SYSTEMS: tuple[str, ...] = ("kube.sim", "kube.apiserver_sim", "kube.control_plane_sim", "kube.networking_sim")
SYSTEM_BUILDERS: dict[str, SystemBuilder] = {}


@attrs.define
class RunResult:
    scenario: Scenario
    world: World
    system: System
    violations: list[Violation]
    end_us: int
    # Why the run ended where it did (see :meth:`summary`), e.g. "live again 0.412s into
    # the settle phase" or "cut short by raft.commit_rule".
    end_reason: str = ""

    @property
    def ok(self) -> bool:
        return not self.violations

    @property
    def trace(self) -> Trace:
        return self.world.trace

    @property
    def token(self) -> str:
        return scenario_to_token(self.scenario)

    def first_violation(self) -> Violation | None:
        return self.violations[0] if self.violations else None

    def summary(self) -> str:
        s = self.scenario
        planned = f"{s.duration_us / 1e6:g}s + {s.settle_us / 1e6:g}s settle"
        lines = [
            f"simulated {_seconds(self.end_us)} of the planned {planned}"
            + (f" ({self.end_reason})" if self.end_reason else "") + ": "
            f"{self.world.events_processed} events, {self.world.messages_sent} messages, "
            f"{len(self.trace)} trace events",
        ]
        for key, value in self.system.summary().items():
            lines.append(f"{key}: {value}")
        if self.ok:
            lines.append("result: OK (every check passed)")
        else:
            lines.append(f"result: FAILED ({len(self.violations)} violation(s))")
            for v in self.violations:
                at = f" at {format_time_us(v.time_us).strip()}" if v.time_us is not None else ""
                lines.append(f"  {v.property}{at}: {v.message.splitlines()[0] if v.message else ''}")
        return "\n".join(lines)


def _seconds(time_us: int) -> str:
    return f"{time_us / 1e6:.3f}s"


def _end_reason(scenario: Scenario, end_us: int, stopped_by: str | None) -> str:
    if stopped_by is not None:
        return f"cut short by the {stopped_by} violation at {_seconds(end_us)}"
    if not scenario.settle_us:
        return ""
    into = end_us - scenario.duration_us
    if into >= scenario.settle_us:
        return "the whole settle phase ran"
    return f"live again {_seconds(into)} into the settle phase, which ends the run"


def _load_systems() -> None:
    # Importing the system modules registers their builders.
    for name in ("demo", "raft_system", "kv_system"):
        importlib.import_module(f"{__package__}.{name}")
    # Systems built above raftkv register themselves the same way (kube's discovery).
    for module in PLUGIN_SYSTEMS:
        importlib.import_module(module)


def checks(properties: Sequence[str] | None, name: str) -> bool:
    """Whether a run judged on ``properties`` (prefixes; None: all) needs the check of
    property ``name`` (``"watch."`` covers every watch guarantee)."""
    return properties is None or any(name.startswith(p) for p in properties)


@contextlib.contextmanager
def _fewer_collections() -> Iterator[None]:
    """A run allocates millions of short-lived objects that reference counting frees;
    at the cyclic collector's default thresholds (700, 10, 10) it scans them over and
    over.  Fewer, larger collections cost some memory, change no behaviour (nothing in
    the simulation depends on when a collection happens), and save about 7% of a run."""
    old = gc.get_threshold()
    gc.set_threshold(max(old[0], 20_000), max(old[1], 20), max(old[2], 20))
    try:
        yield
    finally:
        gc.set_threshold(*old)


#: The property of an invariant asserted in the code (``assert``) that broke during a run.
INVARIANT = "invariant"
#: Violations that stop a run where they happen (before the post-run checks): every suite
#: that ran the scenario fails on them, whatever properties it judges.
RUN_STOPPING = ("raft.", "demo.", INVARIANT)


def _assertion_report(exc: AssertionError) -> str:
    frames = traceback.extract_tb(exc.__traceback__)
    where = frames[-1] if frames else None
    place = f" at {Path(where.filename).name}:{where.lineno} ({where.name})" if where else ""
    text = str(exc) or "assertion failed"
    return f"an invariant asserted in the code broke{place}: {text}"


def run_scenario(scenario: Scenario, *, trace_messages: bool = True,
                 check: bool = True, properties: Sequence[str] | None = None) -> RunResult:
    """Run ``scenario`` deterministically and check it; never raises on a violation.

    ``properties`` (prefixes of property names): run only the post-run checks of those
    properties, for a caller that judges nothing else (the Raft safety and liveness
    checks run during the run, always)."""
    validate(scenario)
    _load_systems()
    if scenario.system not in SYSTEM_BUILDERS:
        raise ValueError(f"system {scenario.system!r} is not available in this build")
    world = World(scenario.seed, trace_messages=trace_messages)
    spec = scenario.network
    world.set_network(loss=spec.loss, duplicate=spec.duplicate, latency=network_latency(spec))
    system = SYSTEM_BUILDERS[scenario.system](scenario, world)
    violations: list[Violation] = []
    stopped_by: str | None = None

    def inject(fault: Fault) -> Callable[[], None]:
        return lambda: apply_fault(world, fault, spec, system)

    with _fewer_collections():
        try:
            system.start()
            for fault in scenario.faults:
                world.schedule(fault.at_us, inject(fault))
            world.run_until(scenario.duration_us)
            heal_everything(world, spec)
            system.quiesce()
            world.record("settle", until_us=scenario.duration_us + scenario.settle_us)
            if scenario.settle_us:
                live = world.run_until_pred(system.is_live, scenario.settle_us)
                if not live:
                    violations.append(Violation(
                        property="liveness",
                        message=f"not live {scenario.settle_us / 1e6:g}s after every fault healed: "
                                f"{system.liveness_report()}",
                        time_us=world.now_us))
        except PropertyViolation as exc:
            violations.append(Violation(property=exc.property, message=exc.report, time_us=world.now_us))
            stopped_by = exc.property
        except SafetyViolation as exc:
            prop = "raft." + exc.prop.replace(" ", "_").replace("-", "_")
            violations.append(Violation(property=prop, message=exc.summary, time_us=world.now_us,
                                        members=exc.nodes, index=exc.index))
            stopped_by = prop
        except AssertionError as exc:
            # An invariant asserted in the code broke: a violation like any other, replayable.
            violations.append(Violation(property=INVARIANT, message=_assertion_report(exc),
                                        time_us=world.now_us))
            stopped_by = INVARIANT
        if check and not any(v.property != "liveness" for v in violations):
            violations.extend(system.check(properties))
        return RunResult(scenario=scenario, world=world, system=system, violations=violations,
                         end_us=world.now_us, end_reason=_end_reason(scenario, world.now_us, stopped_by))
