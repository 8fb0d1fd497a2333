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
from hypothesis.database import ExampleDatabase

from raftkv.exampledb import suite_database
from raftkv.reduce import reduce_scenario, scenario_size
from raftkv.sim import Scenario, Violation
from raftkv.suites import SUITES, Suite

__all__ = ["Finding", "HuntResult", "hunt", "scenario_size"]


@attrs.frozen(kw_only=True)
class Finding:
    suite: str
    scenario: Scenario  # shrunk
    violation: Violation
    first_scenario: Scenario  # as first found, before shrinking
    examples_to_first: int
    seconds_to_first: float
    shrink_seconds: float
    # faults in the scenario hypothesis shrank, before the reduction that followed
    faults_after_hypothesis: int


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
    given_up: bool = False


def hunt(suite: str | Suite, *, bugs: Sequence[str] = (), max_examples: int = 100, seed: int = 0,
         deadline_s: float | None = None, shrink: bool = True, shrink_budget_s: float = 120.0,
         on_example: Callable[[Scenario, Violation | None], None] | None = None,
         on_shrink: Callable[[Scenario, Violation], None] | None = None,
         batch: int = 50, min_reduce_s: float = 5.0, reduce_tries: int = 400,
         claim: Callable[[Violation], bool] | None = None,
         database: ExampleDatabase | None = None, replay_saved: bool = True) -> HuntResult:
    """Run ``suite`` until a failure is found and shrunk, or the budget is spent.

    Examples are generated in batches of ``batch`` (each a hypothesis run with its own
    seed derived from ``seed``), so a deadline is honoured between examples without
    disturbing hypothesis.  ``on_example`` is called after every generated example
    (not during shrinking); ``on_shrink`` once hypothesis has shrunk a failure, before the
    reduction (:mod:`raftkv.reduce`) that follows, which gets what is left of
    ``shrink_budget_s`` but at least ``min_reduce_s``, and at most ``reduce_tries`` runs.
    ``claim`` is asked about the first failure found: when it answers False (someone else
    already has that failure), the hunt stops there, with no shrinking and no finding.
    ``database`` (:mod:`raftkv.exampledb`): hypothesis replays the failing examples it keeps
    for this suite and these bugs first (unless ``replay_saved`` is False), and saves the
    ones found (unless it is read-only).
    """
    suite = SUITES[suite] if isinstance(suite, str) else suite
    start = time.perf_counter()
    state = _State()
    strategy = suite.scenarios(bugs)

    def out_of_time() -> bool:
        return deadline_s is not None and time.perf_counter() - start > deadline_s

    def prop(scenario: Scenario) -> None:
        if state.best is None:
            if out_of_time() or state.given_up:
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
        if state.first is None and claim is not None and not claim(violation):
            state.given_up = True
            return
        if state.first is None:
            state.first = scenario
            state.first_at = time.perf_counter()
            state.first_n = state.examples
        if state.best is None or scenario_size(scenario) <= scenario_size(state.best[0]):
            state.best = (scenario, violation)
        raise _Found(violation.property)

    db = None if database is None else suite_database(database, suite.name, bugs)
    round_ = 0
    while (state.examples < max_examples and state.best is None and not state.given_up
           and not out_of_time()):
        size = min(batch, max_examples - state.examples)
        phases: tuple[Phase, ...] = (Phase.generate, Phase.shrink) if shrink else (Phase.generate,)
        if db is not None:  # replayed once per hunt, saved into by every batch
            phases = ((Phase.reuse,) if round_ == 0 and replay_saved else ()) + phases
        # The seed goes on first: @seed switches the database off, settings applied after it
        # switch it back on (a seeded run that still reads and keeps examples).
        test = hypothesis_seed(seed * 100_003 + round_)(given(strategy)(prop))
        test = settings(max_examples=size, deadline=None, database=db, derandomize=False,
                        suppress_health_check=list(HealthCheck), report_multiple_bugs=False,
                        phases=phases, print_blob=False)(test)
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
    if state.best is not None and state.first is not None:
        after_hypothesis = len(state.best[0].faults)
        if shrink:
            if on_shrink is not None:
                on_shrink(state.best[0], state.best[1])
            left_s = shrink_budget_s - (time.perf_counter() - state.first_at)
            reduction = reduce_scenario(suite, *state.best, budget_s=max(left_s, min_reduce_s),
                                        max_tries=reduce_tries)
            state.best = (reduction.scenario, reduction.violation)
        finding = Finding(suite=suite.name, scenario=state.best[0], violation=state.best[1],
                          first_scenario=state.first, examples_to_first=state.first_n,
                          seconds_to_first=state.first_at - start,
                          shrink_seconds=time.perf_counter() - state.first_at,
                          faults_after_hypothesis=after_hypothesis)
    return HuntResult(suite=suite.name, examples=state.examples, simulated_us=state.simulated_us,
                      seconds=time.perf_counter() - start, finding=finding)


def _is_finding(exc: BaseException) -> bool:
    if isinstance(exc, _Found):
        return True
    if isinstance(exc, BaseExceptionGroup):
        return all(_is_finding(e) for e in exc.exceptions)
    return False



# The share of the shrink budget hypothesis gets; the reduction gets the rest (at least
# ``min_reduce_s``).
_HYPOTHESIS_SHARE = 0.4
