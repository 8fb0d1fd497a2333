"""Every catalogued bug is found by its suite, shrunk, and replays from its token.

This is how we know the checkers can fail: with a bug switched on, the suite meant to
catch it (``raftkv.suites.BUG_SUITES``) must find a violation within a bounded hunt; the
shrunk scenario must keep at most ``MAX_SHRUNK_FAULTS`` faults and be no bigger than the
first one found; its token must replay to the same violation; and the same scenario with
the bug off must pass.

The verdict must not depend on the example order of one hypothesis release: the hunt
goes on with one seed after another until the bug is found or the budget (examples and
wall time, over all seeds) is spent.  What is found is then held to the checks above,
strictly.
"""

from __future__ import annotations

import time

import attrs
import pytest

from raftkv.bugs import BUGS
from raftkv.hunt import Finding, HuntResult, hunt, scenario_size
from raftkv.sim import scenario_from_token, scenario_to_token
from raftkv.suites import BUG_SUITES, SUITES, Suite

MAX_EXAMPLES = 3_000  # over all seeds
DEADLINE_S = 240.0  # over all seeds
EXAMPLES_PER_SEED = 500
SHRINK_BUDGET_S = 120.0  # a ceiling; REDUCE_TRIES is what bounds it
REDUCE_TRIES = 300
MAX_SHRUNK_FAULTS = 5


def hunt_until_found(suite: Suite, bug: str) -> tuple[Finding | None, list[HuntResult]]:
    """Hunt with seeds 1, 2, 3, ... until found and shrunk to at most MAX_SHRUNK_FAULTS
    faults, within MAX_EXAMPLES and DEADLINE_S in all; the smallest finding otherwise."""
    start = time.perf_counter()
    results: list[HuntResult] = []
    best: Finding | None = None
    examples = 0
    seed = 1
    while examples < MAX_EXAMPLES:
        left_s = DEADLINE_S - (time.perf_counter() - start)
        if left_s <= 0:
            break
        # Shrinking is bounded by runs, not seconds (a busy machine gets the same result).
        result = hunt(suite, bugs=[bug], seed=seed, deadline_s=left_s, shrink_budget_s=SHRINK_BUDGET_S,
                      min_reduce_s=SHRINK_BUDGET_S, reduce_tries=REDUCE_TRIES,
                      max_examples=min(EXAMPLES_PER_SEED, MAX_EXAMPLES - examples))
        results.append(result)
        examples += result.examples
        found = result.finding
        if found is not None and (best is None or scenario_size(found.scenario) < scenario_size(best.scenario)):
            best = found
        if best is not None and len(best.scenario.faults) <= MAX_SHRUNK_FAULTS:
            break
        seed += 1
    return best, results


@pytest.mark.parametrize("bug", sorted(BUGS))
def test_bug_is_found_shrunk_and_replayed(bug: str) -> None:
    suite = SUITES[BUG_SUITES[bug]]
    finding, results = hunt_until_found(suite, bug)
    assert finding is not None, (
        f"{bug}: suite {suite.name} found nothing with seeds 1-{len(results)} in "
        f"{sum(r.examples for r in results)} examples ({sum(r.seconds for r in results):.0f}s)")
    assert finding.violation.property.startswith(suite.properties)
    assert scenario_size(finding.scenario) <= scenario_size(finding.first_scenario)
    assert len(finding.scenario.faults) <= MAX_SHRUNK_FAULTS, (
        f"{bug}: shrunk to {len(finding.scenario.faults)} faults: {scenario_to_token(finding.scenario)}")
    assert bug in finding.scenario.bugs

    replayed = scenario_from_token(scenario_to_token(finding.scenario))
    assert replayed == finding.scenario
    _result, again = suite.run(replayed)
    assert again is not None and again.property == finding.violation.property, (
        f"{bug}: the token replayed to {again} instead of {finding.violation.property}")

    _result, without = suite.run(attrs.evolve(replayed, bugs=()))
    assert without is None, (
        f"{bug}: the shrunk scenario also fails with the bug off: {without} "
        f"(a bug in raftkv to fix: {scenario_to_token(attrs.evolve(replayed, bugs=()))})")
