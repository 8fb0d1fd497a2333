"""``raftkv explore``: the property suites for a time or example budget, on every core.

Each worker process runs :func:`raftkv.hunt.hunt` on the suites in turn with fresh
seeds; the parent shows live progress (per suite: scenarios run, simulated time,
distinct failures, and what it is doing now, shrinking included) and, at the end, a
summary.  Every distinct failure (suite and property) is counted once and saved in the
output folder as ``token.txt``, ``scenario.json``, ``trace.txt``, ``report.txt`` and
``report.html``.  With ``dask``, the same batches (:func:`run_batch`) run
on a Dask cluster instead (:mod:`raftkv.explore_dask`).
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import queue
import time
from collections.abc import Callable, Collection, Sequence
from pathlib import Path
from typing import Any

import attrs

from raftkv.sim import Scenario, Violation, run_scenario, scenario_to_json, scenario_to_token

__all__ = ["BATCH_EXAMPLES", "Batch", "BatchResult", "ExploreSummary", "batch_seed", "explore", "run_batch", "save_finding"]


@attrs.define
class SuiteStats:
    examples: int = 0  # scenarios run (not counting shrinking's runs)
    simulated_us: int = 0  # simulated time those scenarios covered
    failures: int = 0  # distinct failures (one per property broken), as saved
    shrink_seconds: float = 0.0  # wall time workers spent shrinking this suite's failures
    # worker -> (wall time shrinking started, property) while one shrinks
    shrinking: dict[int, tuple[float, str]] = attrs.Factory(dict)


@attrs.define
class ExploreSummary:
    seconds: float
    stats: dict[str, SuiteStats]
    failures: list[tuple[str, str, str]]  # (suite, property, folder)
    # folder -> seconds from the start of the campaign until that finding was saved
    found_after_s: dict[str, float] = attrs.Factory(dict)
    # (seconds from the start until every worker had counted a scenario, scenarios counted by
    # then): the start-up to leave out of a steady rate; None if some worker never counted one
    ramp_up: tuple[float, int] | None = None
    # seconds from the start until the last scenario was counted (what follows is winding
    # down: workers and their connections closing)
    last_example_s: float = 0.0

    def steady_rate_per_min(self) -> float | None:
        """Scenarios per minute from when every worker was running until the last scenario was
        counted (start-up and wind-down left out), or None."""
        if self.ramp_up is None or self.last_example_s <= self.ramp_up[0]:
            return None
        return (self.examples - self.ramp_up[1]) / (self.last_example_s - self.ramp_up[0]) * 60

    @property
    def examples(self) -> int:
        return sum(s.examples for s in self.stats.values())


# Wall-clock seconds a worker spends shrinking one finding (hypothesis, then the reduction),
# also past the campaign's deadline: what a person reads is the reduced scenario.
SHRINK_BUDGET_S = 60.0


def save_finding(out_dir: Path, suite: str, scenario: Scenario, violation: Violation, index: int, *,
                 shrunk: tuple[int, int, float] | None = None) -> Path:
    """Replay the (shrunk) scenario with a full trace and write everything about it;
    ``shrunk`` is (faults as first found, faults saved, seconds spent shrinking)."""
    from raftkv.report import run_report, write_run_html

    folder = out_dir / f"{index:03d}-{suite}-{violation.property.replace('.', '_')}"
    folder.mkdir(parents=True, exist_ok=True)
    result = run_scenario(scenario, trace_messages=True)
    token = scenario_to_token(scenario)
    (folder / "token.txt").write_text(token + "\n")
    (folder / "scenario.json").write_text(scenario_to_json(scenario) + "\n")
    (folder / "trace.txt").write_text(result.trace.render() + "\n")
    html: Path | None = folder / "report.html"
    if not write_run_html(result, str(html)):
        html = None
    report = run_report(result, tail=40)
    if result.ok:
        report += ("\n\nnote: this replay passed; the failure was seen in exploration as "
                   f"{violation.property}: {violation.message.splitlines()[0] if violation.message else ''}")
    if shrunk is not None:
        first, last, seconds = shrunk
        report += f"\nshrunk: from {first} faults (as first found) to {last}, in {seconds:.1f}s"
    if html is not None:
        report += f"\nhtml report: {html}"
    (folder / "report.txt").write_text(report + "\n")
    return folder


# Scenarios per batch: small, so suites take turns and a lost batch costs little.  Hypothesis
# starts each batch afresh (its first scenarios are the simplest), so the local pool and Dask
# batches are the same size, to explore alike.
BATCH_EXAMPLES = 10


@attrs.frozen(kw_only=True)
class Batch:
    """One unit of exploration work: up to ``examples`` scenarios of one suite from one seed.

    The local worker processes and the Dask workers (:mod:`raftkv.explore_dask`) both run
    batches with :func:`run_batch`; a batch's seed is its own, so no two batches of a
    campaign repeat a scenario sequence, and a batch run again gives the same scenarios.
    """

    suite: str
    bugs: tuple[str, ...]
    seed: int
    examples: int
    deadline: float  # wall clock (time.time()) after which no new scenario starts
    database: str | None = None  # a hypothesis example database folder (raftkv.exampledb)
    database_read_only: bool = False
    replay_saved: bool = False  # replay the database's examples first (a worker's first batch of a suite)

    def __attrs_post_init__(self) -> None:
        assert self.examples >= 1, self.examples
        assert self.database is not None or not self.replay_saved


@attrs.frozen(kw_only=True)
class BatchResult:
    examples: int
    found: bool  # a finding was emitted (the suite is done for whoever ran the batch)


def batch_seed(seed: int, stream: int, round_: int) -> int:
    """The seed of the ``round_``-th batch of seed stream ``stream`` (a worker) in a campaign."""
    return seed * 1_000_003 + stream * 10_007 + round_


def run_batch(batch: Batch, worker: int | str, emit: Callable[[tuple[Any, ...]], None], *,
              claim: Callable[[Violation], bool] | None = None) -> BatchResult:
    """Run one batch with :func:`raftkv.hunt.hunt`, telling ``emit`` of every example, shrink and finding.

    Events: ``("example", worker, suite, simulated_us)``, ``("shrinking", worker, suite,
    property, faults)`` and ``("finding", worker, suite, scenario_json, property, message,
    (faults_first, faults_shrunk, shrink_seconds))``.  ``claim`` is passed on to ``hunt``.
    """
    from raftkv.hunt import hunt

    name = batch.suite

    def on_example(scenario: Scenario, violation: Violation | None) -> None:
        emit(("example", worker, name, scenario.duration_us + scenario.settle_us))

    def on_shrink(scenario: Scenario, violation: Violation) -> None:
        emit(("shrinking", worker, name, violation.property, len(scenario.faults)))

    # Shrinking a finding gets its own budget, also past the campaign's deadline: what
    # a person reads is the reduced scenario, so it is worth the wait.
    database = None
    if batch.database is not None:
        from raftkv.exampledb import open_example_database

        database = open_example_database(batch.database, read_only=batch.database_read_only)
    result = hunt(name, bugs=batch.bugs, max_examples=batch.examples, seed=batch.seed,
                  deadline_s=max(0.0, batch.deadline - time.time()), on_example=on_example,
                  on_shrink=on_shrink, shrink_budget_s=SHRINK_BUDGET_S, min_reduce_s=SHRINK_BUDGET_S / 2,
                  claim=claim, database=database, replay_saved=batch.replay_saved)
    if result.finding is not None:
        f = result.finding
        emit(("finding", worker, name, scenario_to_json(f.scenario, indent=None),
              f.violation.property, f.violation.message,
              (len(f.first_scenario.faults), len(f.scenario.faults), f.shrink_seconds)))
    else:
        emit(("not_found", worker, name))  # also ends a shrink whose failure did not hold up
    return BatchResult(examples=result.examples, found=result.finding is not None)


def focus_suites(suites: Sequence[str], bugs: Sequence[str]) -> tuple[str, ...]:
    """The suites among ``suites`` that the catalogue names for catching ``bugs``
    (:data:`raftkv.suites.BUG_SUITES`), in ``suites``' order."""
    from raftkv.suites import BUG_SUITES

    meant = {BUG_SUITES[b] for b in bugs if b in BUG_SUITES}
    return tuple(s for s in suites if s in meant)


def next_suite(suites: Sequence[str], focus: Sequence[str], done: Collection[str], round_: int) -> str | None:
    """The suite of a worker's ``round_``-th batch: suites take turns; with bugs switched on,
    every other batch goes to the suites meant to catch them (:func:`focus_suites`) while
    they have not failed yet, so a bug is not starved by the suites that cannot see it.
    None when every suite is done."""
    active = [s for s in suites if s not in done]
    if not active:
        return None
    focused = [s for s in focus if s not in done]
    if focused and round_ % 2 == 0:
        return focused[(round_ // 2) % len(focused)]
    return active[(round_ // 2 if focused else round_) % len(active)]


def _worker(worker: int, suites: Sequence[str], bugs: Sequence[str], deadline: float,
            max_examples: int | None, seed: int, events: Any, database: str | None = None,
            database_read_only: bool = False) -> None:
    done_suites: set[str] = set()
    replayed: set[str] = set()  # suites whose saved examples this worker replayed
    focus = focus_suites(suites, bugs)
    examples_left = max_examples
    round_ = 0
    while time.time() < deadline and (examples_left is None or examples_left > 0):
        name = next_suite(suites, focus, done_suites, round_ + worker)
        if name is None:
            break
        round_ += 1
        batch = Batch(suite=name, bugs=tuple(bugs), seed=batch_seed(seed, worker, round_), deadline=deadline,
                      examples=BATCH_EXAMPLES if examples_left is None else min(BATCH_EXAMPLES, examples_left),
                      database=database, database_read_only=database_read_only,
                      replay_saved=database is not None and name not in replayed)
        replayed.add(name)
        result = run_batch(batch, worker, events.put)
        if examples_left is not None:
            examples_left -= max(1, result.examples)
        if result.found:
            done_suites.add(name)
    events.put(("done", worker))


def _doing(stats: SuiteStats, now: float) -> str:
    """What a suite's workers are doing, for the live table."""
    if stats.shrinking:
        since, prop = min(stats.shrinking.values())
        return f"[yellow]shrinking {prop} for {now - since:.0f}s[/yellow]"
    return "saved" if stats.failures else ""


def explore(*, suites: Sequence[str], bugs: Sequence[str] = (), seconds: float | None = 60.0,
            max_examples: int | None = None, workers: int | None = None, seed: int = 0,
            out_dir: Path = Path("explore-out"), show_progress: bool = True,
            dask: str | None = None, database: str | None = None,
            database_read_only: bool = False) -> ExploreSummary:
    """Run the campaign in local worker processes, or on the Dask cluster at ``dask`` (see
    :mod:`raftkv.explore_dask`; ``local:N`` starts one), with the same display and output.

    ``database``: a hypothesis example database folder (:mod:`raftkv.exampledb`) whose failing
    examples are replayed first and which keeps those found, unless ``database_read_only``
    (Dask workers, possibly on other machines, only read it)."""
    from rich.console import Console
    from rich.live import Live
    from rich.table import Table

    from raftkv.sim import scenario_from_json

    workers = workers or os.cpu_count() or 1
    start = time.time()
    deadline = start + (seconds if seconds is not None else 10**9)
    events: Any
    procs: Sequence[Any]
    if dask is not None:
        from raftkv.explore_dask import start_dask

        events, procs, workers = start_dask(dask, suites=suites, bugs=bugs, deadline=deadline,
                                            max_examples=max_examples, seed=seed, database=database)
    else:
        per_worker = None if max_examples is None else max(1, -(-max_examples // workers))
        ctx = multiprocessing.get_context("spawn")
        events = ctx.Queue()
        procs = [ctx.Process(target=_worker, args=(w, list(suites), list(bugs), deadline, per_worker, seed, events,
                                                   database, database_read_only),
                             daemon=True) for w in range(workers)]
        for p in procs:
            p.start()
    stats = {name: SuiteStats() for name in suites}
    failures: list[tuple[str, str, str]] = []
    reported: set[tuple[str, str]] = set()
    found_after_s: dict[str, float] = {}
    started: set[int | str] = set()  # workers that counted a scenario
    ramp_up: tuple[float, int] | None = None
    last_example_s = 0.0
    console = Console(stderr=True)

    def table() -> Table:
        now = time.time()
        t = Table(title=f"raftkv explore: {now - start:5.0f}s elapsed, {workers} workers")
        for col in ("suite", "scenarios", "simulated", "failures", "now"):
            t.add_column(col, justify="left" if col in ("suite", "now") else "right")
        for name, s in stats.items():
            t.add_row(name, str(s.examples), f"{s.simulated_us / 1e6:,.0f}s",
                      f"[red]{s.failures}[/red]" if s.failures else "0", _doing(s, now))
        return t

    running = len(procs)  # each sends "done" when it stops
    live_display = (Live(table(), console=console, refresh_per_second=2, transient=False)
                    if show_progress else contextlib.nullcontext())
    with live_display as live:
        while running:
            try:
                event = events.get(timeout=0.5)
            except queue.Empty:
                if not any(p.is_alive() for p in procs):
                    break
                if live is not None:
                    live.update(table())
                continue
            if event[0] == "example":
                _, w, name, sim_us = event
                stats[name].examples += 1
                stats[name].simulated_us += sim_us
                last_example_s = time.time() - start
                if ramp_up is None:
                    started.add(w)
                    if len(started) >= workers:
                        ramp_up = (time.time() - start, sum(s.examples for s in stats.values()))
            elif event[0] == "shrinking":
                _, w, name, prop = event[:4]
                stats[name].shrinking[w] = (time.time(), prop)
            elif event[0] == "not_found":
                _, w, name = event
                stats[name].shrinking.pop(w, None)  # a failure that did not hold up
            elif event[0] == "finding":
                _, w, name, scenario_json, prop, message, shrunk = event
                stats[name].shrinking.pop(w, None)
                stats[name].shrink_seconds += shrunk[2]
                if (name, prop) in reported:
                    continue  # another worker found the same property broken: counted and saved once
                reported.add((name, prop))
                stats[name].failures += 1
                scenario = scenario_from_json(scenario_json)
                folder = save_finding(out_dir, name, scenario, Violation(property=prop, message=message),
                                      len(failures) + 1, shrunk=shrunk)
                failures.append((name, prop, str(folder)))
                found_after_s[str(folder)] = time.time() - start
            elif event[0] == "done":
                running -= 1
            if live is not None:
                live.update(table())
    for p in procs:
        p.join(timeout=5)
    for s in stats.values():
        s.shrinking.clear()
    return ExploreSummary(seconds=time.time() - start, stats=stats, failures=failures,
                          found_after_s=found_after_s, ramp_up=ramp_up, last_example_s=last_example_s)
