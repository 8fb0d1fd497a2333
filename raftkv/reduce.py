"""Reducing a failing scenario to what the failure needs, after hypothesis has shrunk it.

Hypothesis shrinks the choices a strategy made (whole episodes, smaller numbers); what a
person debugging wants is the two or three faults that matter.  :func:`reduce_scenario`
takes a failing scenario and tries, in rounds, cheaper variants, keeping a change only
while the *same property* still breaks:

1. cut the run short just after the violation (and drop the faults after it);
2. delta-debug the fault list (Zeller's ddmin: drop halves, quarters, ... single faults),
   and drop whole episodes (a pause with its resume, a partition with its heal);
3. shorten episodes: move the fault that ends one (heal, resume, restart) earlier;
4. move faults earlier (a failure that needs a fault at 7 s often needs it at 1 s);
5. cut members, clients, keys and the request rate.

Every try is a full deterministic run, so the reduction is bounded by a wall-clock budget
and by the number of tries.  The result replays exactly like any scenario.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import attrs

from raftkv.sim import Fault, Scenario, ScenarioError, Violation
from raftkv.sim.scenario import validate
from raftkv.suites import Suite

__all__ = ["Reduction", "reduce_scenario", "scenario_size"]

# How long a cut-short run goes on after the violation was seen (a clean end).
CUT_MARGIN_US = 500_000
# Faults that end an episode: moving them earlier shortens it.
_ENDING_KINDS = ("heal", "resume", "restart")
# How far a moved fault may come: never closer than this to the one before it.
_MIN_GAP_US = 1_000
MIN_OPS_PER_S = 5


def scenario_size(scenario: Scenario) -> tuple[int, int, int, int, int, int]:
    """Smaller is simpler: fewer faults, members, clients, keys, a lower rate, shorter."""
    w = scenario.workload
    return (len(scenario.faults), scenario.cluster.members, w.clients, w.keys, w.ops_per_s,
            scenario.duration_us)


@attrs.frozen(kw_only=True)
class Reduction:
    """What :func:`reduce_scenario` did: from which scenario to which, in how long."""

    scenario: Scenario
    violation: Violation
    faults_before: int
    faults_after: int
    tries: int
    seconds: float

    def describe(self) -> str:
        return (f"reduced from {self.faults_before} to {self.faults_after} faults "
                f"in {self.seconds:.1f}s ({self.tries} runs)")


class _Reducer:
    def __init__(self, suite: Suite, scenario: Scenario, violation: Violation, budget_s: float,
                 max_tries: int) -> None:
        self.suite = suite
        self.property = violation.property
        self.best = scenario
        self.violation = violation
        self.start = time.perf_counter()
        self.budget_s = budget_s
        self.max_tries = max_tries
        self.tries = 0

    def time_left(self) -> bool:
        return time.perf_counter() - self.start < self.budget_s and self.tries < self.max_tries

    def attempt(self, candidate: Scenario) -> bool:
        """Run ``candidate``; keep it when it breaks the same property."""
        if candidate == self.best or not self.time_left():
            return False
        try:
            validate(candidate)
        except ScenarioError:
            return False
        self.tries += 1
        _result, again = self.suite.run(candidate)
        if again is None or again.property != self.property:
            return False
        self.best, self.violation = candidate, again
        return True

    # ------------------------------------------------------------------ steps
    def cut_after_violation(self) -> bool:
        at = self.violation.time_us
        best = self.best
        if at is None or at + CUT_MARGIN_US >= best.duration_us:
            return False
        cut = at + CUT_MARGIN_US
        return self.attempt(attrs.evolve(best, duration_us=cut,
                                         faults=tuple(f for f in best.faults if f.at_us <= cut)))

    def ddmin_faults(self) -> bool:
        """Drop ever smaller chunks of the fault list while the failure stays."""
        changed = False
        if self.best.faults and self.attempt(attrs.evolve(self.best, faults=())):
            return True
        chunks = 2
        while len(self.best.faults) >= 2 and self.time_left():
            faults = self.best.faults
            chunks = min(chunks, len(faults))
            dropped = False
            for part in _split(len(faults), chunks):
                # the complement of one chunk, later chunks first (later faults matter less)
                keep = tuple(f for i, f in enumerate(faults) if i not in part)
                if self.attempt(attrs.evolve(self.best, faults=keep)):
                    changed = dropped = True
                    chunks = max(chunks - 1, 2)
                    break
            if not dropped:
                if chunks >= len(faults):
                    break
                chunks = min(len(faults), chunks * 2)
        if len(self.best.faults) == 1:
            changed |= self.attempt(attrs.evolve(self.best, faults=()))
        return changed

    def drop_episodes(self) -> bool:
        """Drop an episode whole: a fault that ends one with the fault that began it
        (resume and pause, restart and crash, heal and the partition before it), which
        need not be next to each other in the list."""
        changed = False
        i = len(self.best.faults) - 1
        while i > 0 and self.time_left():
            faults = self.best.faults
            start = _episode_start(faults, i)
            if start is not None:
                keep = tuple(f for j, f in enumerate(faults) if j not in (start, i))
                if self.attempt(attrs.evolve(self.best, faults=keep)):
                    changed = True
                    i = min(i, len(self.best.faults))
            i -= 1
        return changed

    def shorten_episodes(self) -> bool:
        """Bring each episode's end (heal, resume, restart) closer to its start."""
        changed = False
        i = 0
        while i < len(self.best.faults) and self.time_left():
            faults = self.best.faults
            f = faults[i]
            earliest = faults[i - 1].at_us + _MIN_GAP_US if i else 0
            if f.kind in _ENDING_KINDS and f.at_us > earliest:
                for at in _earlier_times(earliest, f.at_us):
                    if self.attempt(attrs.evolve(self.best, faults=_moved(faults, i, at))):
                        changed = True
                        break
            i += 1
        return changed

    def move_earlier(self) -> bool:
        """Move the first fault (and everything after it, keeping the gaps) earlier."""
        faults = self.best.faults
        if not faults or faults[0].at_us <= _MIN_GAP_US:
            return False
        for at in _earlier_times(0, faults[0].at_us):
            shift = faults[0].at_us - at
            moved = tuple(attrs.evolve(f, at_us=f.at_us - shift) for f in faults)
            if self.attempt(attrs.evolve(self.best, faults=moved,
                                         duration_us=max(1, self.best.duration_us - shift))):
                return True
        return False

    def cut_sizes(self) -> bool:
        """Fewer members, clients and keys, and a lower rate."""
        changed = False
        for make in self._smaller_variants():
            if not self.time_left():
                break
            candidate = make(self.best)
            if scenario_size(candidate) < scenario_size(self.best):
                changed |= self.attempt(candidate)
        return changed

    def _smaller_variants(self) -> Iterator[Callable[[Scenario], Scenario]]:
        best = self.best

        def members(m: int) -> Callable[[Scenario], Scenario]:
            return lambda s: attrs.evolve(s, cluster=attrs.evolve(s.cluster, members=m))

        def workload(field: str, value: int) -> Callable[[Scenario], Scenario]:
            changes: dict[str, Any] = {field: value}
            return lambda s: attrs.evolve(s, workload=attrs.evolve(s.workload, **changes))

        for m in range(1, best.cluster.members):
            yield members(m)
        for c in range(1, best.workload.clients):
            yield workload("clients", c)
        if best.workload.keys > 1:
            yield workload("keys", 1)
        rate = best.workload.ops_per_s // 2
        if rate >= MIN_OPS_PER_S:
            yield workload("ops_per_s", rate)


def _split(n: int, chunks: int) -> list[frozenset[int]]:
    """Indices 0..n-1 in ``chunks`` contiguous parts, the last part first."""
    size, extra = divmod(n, chunks)
    parts, start = [], 0
    for c in range(chunks):
        end = start + size + (1 if c < extra else 0)
        parts.append(frozenset(range(start, end)))
        start = end
    return parts[::-1]


_STARTS = {"resume": ("pause",), "restart": ("crash",), "heal": ("partition", "cut", "shape")}


def _episode_start(faults: tuple[Fault, ...], end: int) -> int | None:
    """The index of the fault that began the episode ``faults[end]`` ends, if any."""
    f = faults[end]
    kinds = _STARTS.get(f.kind)
    if kinds is None:
        return None
    for j in range(end - 1, -1, -1):
        g = faults[j]
        if g.kind in kinds and (f.kind == "heal" or f.node in (g.node, "@paused", "@crashed")):
            return j
    return None


def _earlier_times(earliest_us: int, at_us: int) -> list[int]:
    """Candidate times between ``earliest_us`` and ``at_us``, earliest first."""
    span = at_us - earliest_us
    out = [earliest_us + span * k // 8 for k in (0, 2, 4, 6)]
    return [t for t in dict.fromkeys(out) if t < at_us]


def _moved(faults: tuple[Fault, ...], i: int, at_us: int) -> tuple[Fault, ...]:
    moved = [*faults[:i], attrs.evolve(faults[i], at_us=at_us), *faults[i + 1:]]
    return tuple(sorted(moved, key=lambda f: f.at_us))


def reduce_scenario(suite: Suite, scenario: Scenario, violation: Violation, *, budget_s: float,
                    max_tries: int = 400) -> Reduction:
    """Reduce a failing ``scenario`` (which breaks ``violation.property``) within ``budget_s``
    seconds of wall time and ``max_tries`` runs; see the module's docstring for the steps."""
    r = _Reducer(suite, scenario, violation, budget_s, max_tries)
    r.cut_after_violation()
    while r.time_left():
        before = scenario_size(r.best)
        progress = r.ddmin_faults()
        progress |= r.drop_episodes()
        progress |= r.shorten_episodes()
        progress |= r.move_earlier()
        progress |= r.cut_sizes()
        progress |= r.cut_after_violation()
        if not progress or scenario_size(r.best) >= before:
            break
    assert r.violation.property == violation.property
    return Reduction(scenario=r.best, violation=r.violation, faults_before=len(scenario.faults),
                     faults_after=len(r.best.faults), tries=r.tries,
                     seconds=time.perf_counter() - r.start)
