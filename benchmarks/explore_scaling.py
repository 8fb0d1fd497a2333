"""Scaling of ``raftkv explore``: scenarios per minute with 1 and 2 workers, local and Dask.

Runs the same campaign (one suite, no bug, a time budget) four ways: the local worker
pool with ``--workers 1`` and ``2``, and a Dask cluster of 1 and 2 worker processes made as
``--dask local:N`` makes it (one thread each), started before the clock runs, as an existing
cluster would be.

Two rates per campaign: over the campaign's whole wall time, and steady, once every worker
has counted a scenario (start-up left out alike in both modes: the local pool starts its
processes inside the campaign, a Dask cluster's workers import and warm up in their first
batch).  The goals are on the steady rates: Dask with 2 workers at least 1.8 times its
1-worker rate, and at least 0.9 times the local pool's 2-worker rate.  On a machine shared
with other work the figures move with its load (and Linux shares the cores between sessions
before it shares them between a session's processes, so while other sessions are busy two
workers get little more CPU than one): ``--repeat R`` runs the four campaigns R times in turn
and keeps each one's best, and every figure is printed with the CPU the rest of the machine
used meanwhile and the load average.
"""

from __future__ import annotations

import argparse
import importlib
import math
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _machine import print_machine

from raftkv.explore import explore


def _campaign(seconds: float | None, suite: str, *, workers: int | None = None, dask: str | None = None,
              max_examples: int | None = None) -> tuple[float, float | None, int]:
    """(scenarios per minute over the whole campaign, steady rate or None, scenarios)."""
    with tempfile.TemporaryDirectory() as out:
        summary = explore(suites=[suite], seconds=seconds, workers=workers, dask=dask, max_examples=max_examples,
                          out_dir=Path(out), show_progress=False)
    assert not summary.failures, summary.failures  # no bug is on: every suite must pass
    return summary.examples / summary.seconds * 60, summary.steady_rate_per_min(), summary.examples


class _OtherWork:
    """The CPU the rest of the machine used while a campaign ran, in cores: the machine's busy
    time (``/proc/stat``) less this process's and its ended children's.  Near 0 on an idle
    machine; a figure taken while other work ran for a core or more says little of scaling."""

    def __enter__(self) -> _OtherWork:
        self.start = (time.monotonic(), _machine_busy_s(), _own_cpu_s())
        return self

    def __exit__(self, *exc: object) -> None:
        wall, busy, own = (b - a for a, b in zip(self.start, (time.monotonic(), _machine_busy_s(), _own_cpu_s()),
                                                 strict=True))
        self.cores = max(0.0, busy - own) / wall if wall > 0 else 0.0


def _machine_busy_s() -> float:
    import psutil  # a dependency of Dask distributed

    times = psutil.cpu_times()
    return float(sum(times) - times.idle - getattr(times, "iowait", 0.0))


def _own_cpu_s() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)  # worker processes, once ended
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def _load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.2f} {five:.2f} {fifteen:.2f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--suite", default="raft_safety")
    parser.add_argument("--seconds", type=float, default=40.0, help="budget of each campaign")
    parser.add_argument("--repeat", type=int, default=1, help="run the four campaigns this many times in turn")
    parser.add_argument("--quick", action="store_true",
                        help="a few scenarios each (a count, so a busy machine still runs some): checks it runs, "
                             "not a figure")
    args = parser.parse_args()
    try:
        importlib.import_module("distributed")
    except ImportError:
        sys.exit("explore_scaling needs Dask distributed: pip install 'raftkv[distributed]'")
    from raftkv.explore_dask import local_cluster

    seconds = None if args.quick else args.seconds
    examples = 2 if args.quick else None
    print_machine()
    budget = "2 scenarios" if args.quick else f"{args.seconds:.0f}s"
    print(f"suite {args.suite}, {budget} per campaign, {max(1, args.repeat)} round(s); "
          f"{os.cpu_count()} cores, before: {_load()}")
    best: dict[tuple[str, int], tuple[float, float | None]] = {}
    campaigns = [(mode, workers) for mode in ("local", "dask") for workers in (1, 2)]
    for round_ in range(max(1, args.repeat)):
        # Every other round in the reverse order: a machine whose speed drifts during the
        # rounds favours no campaign for running first.
        for mode, workers in (campaigns if round_ % 2 == 0 else campaigns[::-1]):
            with _OtherWork() as other:
                if mode == "local":
                    rate, steady, n = _campaign(seconds, args.suite, workers=workers, max_examples=examples)
                else:
                    with local_cluster(workers) as cluster:
                        rate, steady, n = _campaign(seconds, args.suite, dask=cluster.scheduler_address,
                                                    max_examples=examples)
            label = "local pool," if mode == "local" else "dask,      "
            shown = "n/a" if steady is None else f"{steady:.0f}"
            print(f"{label} {workers} worker(s): {rate:6.0f} scenarios/min, steady {shown} ({n} scenarios; "
                  f"other work {other.cores:.2f} cores, {_load()})")
            old = best.get((mode, workers))
            if old is None or (steady or rate) > (old[1] or old[0]):
                best[mode, workers] = (rate, steady)
    print(f"after: {_load()}")
    # Steady rates, unless a campaign had none (a worker that never ran a scenario, as in --quick).
    steady_all = all(s is not None for _, s in best.values())
    rates = {k: (s if steady_all and s is not None else r) for k, (r, s) in best.items()}
    kind = "steady rates" if steady_all else "whole-campaign rates"
    if args.repeat > 1:
        kind += f", best of {args.repeat}"
    print(f"{kind}: local {rates['local', 1]:.0f} / {rates['local', 2]:.0f}, "
          f"dask {rates['dask', 1]:.0f} / {rates['dask', 2]:.0f} scenarios/min with 1 / 2 workers")
    print(f"dask 2 workers against local pool 2 workers: {_ratio(rates['dask', 2], rates['local', 2]):.2f} x "
          "(goal >= 0.9)")
    print(f"local scaling: {_ratio(rates['local', 2], rates['local', 1]):.2f} x")
    print(f"dask scaling: {_ratio(rates['dask', 2], rates['dask', 1]):.2f} x")


def _ratio(rate: float, base: float) -> float:
    return rate / base if base > 0 else math.nan  # nan: the base campaign ran no scenario


if __name__ == "__main__":
    main()
