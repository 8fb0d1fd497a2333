"""How well ``raftkv test-cluster`` finds catalogued bugs on real processes.

For each bug that can show from outside a real raftkv cluster (stale reads on a follower
or a deposed leader, lost votes, watches resumed at the wrong revision), runs
``test-cluster --target raftkv --bug NAME`` with seeds 1..R (a schedule drawn from each),
and prints the share of runs that found it (exit 1) and the median wall time of those runs
(start to verdict).  raftkv members run with ``--lose-unsynced`` (a SIGKILL is a power
cut).  Last line: ``real-mode bugs found: N of M``.  ``--quick`` runs one
short run of the first bug only.
"""

from __future__ import annotations

import argparse
import pathlib
import statistics
import sys
import tempfile
import time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent))

from _machine import QUICK_HELP, print_machine

from raftkv.blackbox.runner import RunSpec, run_test_cluster
from raftkv.exit_status import EXIT_VIOLATION

REAL_MODE_BUGS = ("follower_local_reads", "read_without_readindex", "watch_resume_at_last_revision",
                  "vote_not_persisted")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=4, help="runs (seeds) per bug")
    parser.add_argument("--time", type=float, default=60.0,
                        help="seconds of faults per run (60: 30 s of drawn faults, then the probe episodes twice)")
    parser.add_argument("--bug", action="append", choices=REAL_MODE_BUGS, help="only this bug (repeatable)")
    parser.add_argument("--quick", action="store_true", help=QUICK_HELP)
    args = parser.parse_args()
    bugs, settle_s = tuple(args.bug or REAL_MODE_BUGS), 3.0
    if args.quick:
        args.runs, args.time, settle_s, bugs = 1, 6.0, 2.0, REAL_MODE_BUGS[:1]
    print_machine()
    print(f"{args.runs} run(s) per bug, {args.time:.0f} s of faults + {settle_s:.0f} s settle each")
    found_bugs = 0
    with tempfile.TemporaryDirectory(prefix="raftkv-blackbox-bench-") as tmp:
        for bug in bugs:
            times = []
            for seed in range(1, args.runs + 1):
                t0 = time.monotonic()
                outcome = run_test_cluster(RunSpec(target="raftkv", out_dir=f"{tmp}/{bug}-{seed}", time_s=args.time,
                                                   settle_s=settle_s, seed=seed, bugs=(bug,)), say=lambda _: None)
                if outcome.exit_code == EXIT_VIOLATION:
                    times.append(time.monotonic() - t0)
            median = f"median {statistics.median(times):.1f} s" if times else "not found"
            print(f"{bug}: found in {len(times)} of {args.runs} runs, {median}", flush=True)
            found_bugs += bool(times)
    print(f"real-mode bugs found: {found_bugs} of {len(bugs)}")


if __name__ == "__main__":
    main()
