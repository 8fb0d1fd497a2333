"""Scaling of ``raftkv explore``: scenarios per minute with 1 and 2 workers, local and Dask.

Runs the same campaign (one suite, no bug, a time budget) four ways: the local worker
pool with ``--workers 1`` and ``2``, and a Dask ``LocalCluster`` of 1 and 2 worker
processes (one thread each), started before the clock runs, as an existing cluster would
be.  The rate is scenarios explored over the campaign's wall time.  Goals: Dask with 2
workers at least 1.8 times its 1-worker rate, and at least 0.9 times the local pool's
2-worker rate.  On a machine shared with other work the figures move with its load, so
the load average is printed before and after.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import math
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _machine import print_machine

from raftkv.explore import explore


def _rate(seconds: float | None, suite: str, *, workers: int | None = None, dask: str | None = None,
          max_examples: int | None = None) -> tuple[float, int]:
    with tempfile.TemporaryDirectory() as out:
        summary = explore(suites=[suite], seconds=seconds, workers=workers, dask=dask, max_examples=max_examples,
                          out_dir=Path(out), show_progress=False)
    assert not summary.failures, summary.failures  # no bug is on: every suite must pass
    return summary.examples / summary.seconds * 60, summary.examples


def _load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.2f} {five:.2f} {fifteen:.2f} ({os.cpu_count()} cores)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--suite", default="raft_safety")
    parser.add_argument("--seconds", type=float, default=40.0, help="budget of each of the four campaigns")
    parser.add_argument("--quick", action="store_true",
                        help="a few scenarios each (a count, so a busy machine still runs some): checks it runs, "
                             "not a figure")
    args = parser.parse_args()
    try:
        dd: Any = importlib.import_module("distributed")
    except ImportError:
        sys.exit("explore_scaling needs Dask distributed: pip install 'raftkv[distributed]'")
    seconds = None if args.quick else args.seconds
    examples = 2 if args.quick else None
    print_machine()
    budget = "2 scenarios" if args.quick else f"{args.seconds:.0f}s"
    print(f"suite {args.suite}, {budget} per campaign; before: {_load()}")
    rates: dict[tuple[str, int], float] = {}
    for workers in (1, 2):
        rates["local", workers], n = _rate(seconds, args.suite, workers=workers, max_examples=examples)
        print(f"local pool, {workers} worker(s): {rates['local', workers]:6.0f} scenarios/min ({n} scenarios)")
    for workers in (1, 2):
        with dd.LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None,
                          silence_logs=logging.ERROR) as cluster:
            rates["dask", workers], n = _rate(seconds, args.suite, dask=cluster.scheduler_address,
                                              max_examples=examples)
        print(f"dask,       {workers} worker(s): {rates['dask', workers]:6.0f} scenarios/min ({n} scenarios)")
    print(f"after: {_load()}")
    print(f"dask 2 workers against local pool 2 workers: {_ratio(rates['dask', 2], rates['local', 2]):.2f} x "
          "(goal >= 0.9)")
    print(f"local scaling: {_ratio(rates['local', 2], rates['local', 1]):.2f} x")
    print(f"dask scaling: {_ratio(rates['dask', 2], rates['dask', 1]):.2f} x")


def _ratio(rate: float, base: float) -> float:
    return rate / base if base > 0 else math.nan  # nan: the base campaign ran no scenario


if __name__ == "__main__":
    main()
