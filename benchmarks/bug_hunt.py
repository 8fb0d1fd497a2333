"""How fast the property suites find each catalogued bug.

For every bug in the catalogue, hunts with the suite that is meant to catch it
(``raftkv.suites.BUG_SUITES``) over several seeds, one core, and prints the median
wall time and number of examples to the first failure, and the size of the shrunk
scenario (faults, members, clients).
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _machine import QUICK_HELP, print_machine

from raftkv.bugs import BUGS
from raftkv.hunt import hunt
from raftkv.suites import BUG_SUITES


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seeds", type=int, default=5, help="seeds per bug (default 5)")
    parser.add_argument("--max-examples", type=int, default=2_000)
    parser.add_argument("--deadline", type=float, default=120.0, help="seconds per hunt before giving up")
    parser.add_argument("--bug", action="append", help="only these bugs")
    parser.add_argument("--quick", action="store_true", help=QUICK_HELP)
    args = parser.parse_args()
    if args.quick:
        args.seeds, args.max_examples, args.deadline = 1, 3, 10.0
        args.bug = args.bug or ["read_without_readindex"]
    print_machine()
    worst_median = 0.0
    for name in args.bug or sorted(BUGS):
        suite = BUG_SUITES[name]
        times, examples, sizes, misses = [], [], [], 0
        for seed in range(args.seeds):
            result = hunt(suite, bugs=[name], max_examples=args.max_examples, seed=seed,
                          deadline_s=args.deadline, shrink_budget_s=2.0 if args.quick else 30.0)
            f = result.finding
            if f is None:
                misses += 1
                times.append(result.seconds)  # counts as at least this long
                continue
            times.append(f.seconds_to_first)
            examples.append(f.examples_to_first)
            s = f.scenario
            sizes.append(f"{len(s.faults)}f/{s.cluster.members}m/{s.workload.clients}c")
        median = statistics.median(times)
        worst_median = max(worst_median, median)
        ex = statistics.median(examples) if examples else float("nan")
        print(f"{name:<34} suite {suite:<16} median {median:6.1f}s  median examples {ex:6.0f}  "
              f"found {args.seeds - misses}/{args.seeds}  shrunk {' '.join(sizes)}", flush=True)
    print(f"slowest median time to find a bug: {worst_median:.1f} s")


if __name__ == "__main__":
    main()
