"""Hunting for a failure with hypothesis: generate, run, judge, shrink.

:func:`hunt` runs one suite for a bounded number of examples (or until a deadline),
and when a scenario fails, lets hypothesis shrink it to a minimal one.  It returns
what was found: the shrunk scenario, the violation it shows, how many examples it
took to find the first failure, and how long.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

import attrs
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import seed as hypothesis_seed

from raftkv.sim import Scenario, ScenarioError, Violation
from raftkv.sim.scenario import validate
from raftkv.suites import SUITES, Suite

__all__ = ["Finding", "HuntResult", "hunt", "reduce_scenario", "scenario_size"]


@attrs.frozen(kw_only=True)
class Finding:
    suite: str
    scenario: Scenario  # shrunk
    violation: Violation
    first_scenario: Scenario  # as first found, before shrinking
    examples_to_first: int
    seconds_to_first: float
    shrink_seconds: float


@attrs.frozen(kw_only=True)
class HuntResult:
    suite: str
    examples: int
    simulated_us: int
    seconds: float
    finding: Finding | None


class _Found(AssertionError):
    pass


@attrs.define
class _State:
    examples: int = 0
    simulated_us: int = 0
    first: Scenario | None = None
    first_at: float = 0.0
    first_n: int = 0
    best: tuple[Scenario, Violation] | None = None


def hunt(suite: str | Suite, *, bugs: Sequence[str] = (), max_examples: int = 100, seed: int = 0,
         deadline_s: float | None = None, shrink: bool = True, shrink_budget_s: float = 120.0,
         on_example: Callable[[Scenario, Violation | None], None] | None = None,
         batch: int = 50) -> HuntResult:
    """Run ``suite`` until a failure is found and shrunk, or the budget is spent.

    Examples are generated in batches of ``batch`` (each a hypothesis run with its own
    seed derived from ``seed``), so a deadline is honoured between examples without
    disturbing hypothesis.  ``on_example`` is called after every generated example
    (not during shrinking).
    """
    suite = SUITES[suite] if isinstance(suite, str) else suite
    start = time.perf_counter()
    state = _State()
    strategy = suite.scenarios(bugs)

    def out_of_time() -> bool:
        return deadline_s is not None and time.perf_counter() - start > deadline_s

    def prop(scenario: Scenario) -> None:
        if state.best is None:
            if out_of_time():
                return  # the rest of this batch passes at once
        elif time.perf_counter() - state.first_at > shrink_budget_s * _HYPOTHESIS_SHARE:
            # Shrinking has had its time: only the best failure so far keeps failing.
            if scenario == state.best[0]:
                raise _Found(state.best[1].property)
            return
        state.examples += 1
        state.simulated_us += scenario.duration_us + scenario.settle_us
        _result, violation = suite.run(scenario)
        if on_example is not None and state.first is None:
            on_example(scenario, violation)
        if violation is None:
            return
        if state.first is None:
            state.first = scenario
            state.first_at = time.perf_counter()
            state.first_n = state.examples
        if state.best is None or scenario_size(scenario) <= scenario_size(state.best[0]):
            state.best = (scenario, violation)
        raise _Found(violation.property)

    round_ = 0
    while state.examples < max_examples and state.best is None and not out_of_time():
        size = min(batch, max_examples - state.examples)
        test = settings(max_examples=size, deadline=None, database=None, derandomize=False,
                        suppress_health_check=list(HealthCheck), report_multiple_bugs=False,
                        phases=(Phase.generate, Phase.shrink) if shrink else (Phase.generate,),
                        print_blob=False)(given(strategy)(prop))
        test = hypothesis_seed(seed * 100_003 + round_)(test)
        round_ += 1
        before = state.examples
        try:
            test()
        except Exception as exc:
            # A failure that stops reproducing while shrinking comes back wrapped (Flaky).
            if not _is_finding(exc):
                raise
        if state.examples == before:
            break  # nothing ran (the strategy is exhausted or time is up)
    finding = None
    if state.best is not None and state.first is not None and shrink:
        left_s = shrink_budget_s - (time.perf_counter() - state.first_at)
        state.best = reduce_scenario(suite, *state.best, budget_s=max(left_s, 0.0))
    if state.best is not None and state.first is not None:
        finding = Finding(suite=suite.name, scenario=state.best[0], violation=state.best[1],
                          first_scenario=state.first, examples_to_first=state.first_n,
                          seconds_to_first=state.first_at - start,
                          shrink_seconds=time.perf_counter() - state.first_at)
    return HuntResult(suite=suite.name, examples=state.examples, simulated_us=state.simulated_us,
                      seconds=time.perf_counter() - start, finding=finding)


def reduce_scenario(suite: Suite, scenario: Scenario, violation: Violation, *,
                    budget_s: float) -> tuple[Scenario, Violation]:
    """After hypothesis: cut the run short after the violation, then drop single faults
    (last first), keeping each change only if the same property still breaks.

    Hypothesis deletes whole episodes; this also drops a lone heal, restart or clock
    step, and stops the run where the failure already shows.  Every try is a full run,
    so it stops when ``budget_s`` is spent.
    """
    start = time.perf_counter()
    best, best_violation = scenario, violation

    def attempt(candidate: Scenario) -> bool:
        nonlocal best, best_violation
        try:
            validate(candidate)
        except ScenarioError:
            return False
        _result, again = suite.run(candidate)
        if again is None or again.property != violation.property:
            return False
        best, best_violation = candidate, again
        return True

    def time_left() -> bool:
        return time.perf_counter() - start < budget_s

    at = violation.time_us
    if at is not None and at + _CUT_MARGIN_US < best.duration_us and time_left():
        cut = at + _CUT_MARGIN_US
        attempt(attrs.evolve(best, duration_us=cut, faults=tuple(f for f in best.faults if f.at_us <= cut)))
    i = len(best.faults) - 1
    while i >= 0 and time_left():
        faults = best.faults
        attempt(attrs.evolve(best, faults=faults[:i] + faults[i + 1:]))
        i = min(i - 1, len(best.faults) - 1)
    return best, best_violation


# The share of the shrink budget hypothesis gets; reduce_scenario gets the rest (at least).
_HYPOTHESIS_SHARE = 0.6

# How long a cut-short run goes on after the violation was seen (a clean end).
_CUT_MARGIN_US = 500_000


def _is_finding(exc: BaseException) -> bool:
    if isinstance(exc, _Found):
        return True
    if isinstance(exc, BaseExceptionGroup):
        return all(_is_finding(e) for e in exc.exceptions)
    return False


def scenario_size(scenario: Scenario) -> tuple[int, int, int, int]:
    """Smaller is simpler: fewer faults, members, clients, shorter."""
    return (len(scenario.faults), scenario.cluster.members, scenario.workload.clients, scenario.duration_us)
