"""How fast the property suites find each catalogued bug, and how small what is saved is.

For every bug in the catalogue, two measurements over several seeds:

* **hunt**: :func:`raftkv.hunt.hunt` with the suite meant to catch the bug
  (``raftkv.suites.BUG_SUITES``), one core: time and examples to the first failure;
* **explore**, as a user runs it: ``raftkv explore --bug NAME`` over all default suites
  with a time budget, then the saved finding is read back: the time until it was saved
  (finding and shrinking), its fault count, and whether its token replays to the same
  property.

Prints one line per bug and, last, ``median shrunk faults: N faults`` (the median over bugs of
the median fault count of what explore saved).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _machine import QUICK_HELP, print_machine

from raftkv.bugs import BUGS
from raftkv.explore import explore
from raftkv.hunt import hunt
from raftkv.sim import scenario_from_token
from raftkv.suites import BUG_SUITES, SUITES


def _hunt_line(name: str, seeds: int, max_examples: int, deadline_s: float) -> str:
    suite = BUG_SUITES[name]
    times, examples, misses = [], [], 0
    for seed in range(seeds):
        result = hunt(suite, bugs=[name], max_examples=max_examples, seed=seed, deadline_s=deadline_s,
                      shrink=False)
        f = result.finding
        if f is None:
            misses += 1
            times.append(result.seconds)  # counts as at least this long
            continue
        times.append(f.seconds_to_first)
        examples.append(f.examples_to_first)
    ex = statistics.median(examples) if examples else float("nan")
    return (f"hunt {statistics.median(times):6.1f}s median, {ex:5.0f} examples, "
            f"found {seeds - misses}/{seeds}")


def _explore_once(name: str, seed: int, seconds: float, workers: int,
                  suites: list[str]) -> tuple[float, int, bool] | None:
    """(seconds until saved, faults saved, replays) of the first finding, or None."""
    with tempfile.TemporaryDirectory() as out:
        summary = explore(suites=suites, bugs=[name], seconds=seconds, workers=workers, seed=seed,
                          out_dir=Path(out), show_progress=False)
        if not summary.failures:
            return None
        suite, prop, folder = min(summary.failures, key=lambda f: summary.found_after_s[f[2]])
        scenario = scenario_from_token((Path(folder) / "token.txt").read_text().strip())
        faults = len(scenario.faults)  # (scenario.json leaves out an empty fault list)
        _result, again = SUITES[suite].run(scenario)
        replays = again is not None and again.property == prop
        return summary.found_after_s[folder], faults, replays


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, default=3, help="seeds per bug and measurement (default 3)")
    parser.add_argument("--max-examples", type=int, default=2_000, help="examples per hunt (default 2000)")
    parser.add_argument("--deadline", type=float, default=120.0, help="seconds per hunt before giving up")
    parser.add_argument("--explore-time", type=float, default=90.0,
                        help="explore's time budget per run, in seconds (default 90)")
    parser.add_argument("--workers", type=int, default=1, help="explore's worker processes (default 1)")
    parser.add_argument("--bug", action="append", help="only these bugs")
    parser.add_argument("--no-hunt", action="store_true", help="measure explore only")
    parser.add_argument("--quick", action="store_true", help=QUICK_HELP)
    args = parser.parse_args()
    if args.quick:  # one bug, one seed, its own suite only
        args.seeds, args.max_examples, args.deadline, args.explore_time = 1, 20, 10.0, 10.0
        args.bug = args.bug or ["election_timeout_not_randomized"]  # found with no fault at all
    print_machine()
    medians: list[float] = []
    for name in args.bug or sorted(BUGS):
        hunt_part = "" if args.no_hunt else _hunt_line(name, args.seeds, args.max_examples, args.deadline) + "; "
        times, faults, replays, misses = [], [], 0, 0
        for seed in range(args.seeds):
            suites = [BUG_SUITES[name]] if args.quick else list(SUITES)
            got = _explore_once(name, seed, args.explore_time, args.workers, suites)
            if got is None:
                misses += 1
                times.append(args.explore_time)
                continue
            seconds, n, ok = got
            times.append(seconds)
            faults.append(n)
            replays += ok
        median_faults = statistics.median(faults) if faults else float("nan")
        if faults:
            medians.append(median_faults)
        print(f"{name:<34} {hunt_part}explore {statistics.median(times):6.1f}s median to saved, "
              f"found {args.seeds - misses}/{args.seeds}, shrunk faults {faults} (median {median_faults:g}), "
              f"replays {replays}/{len(faults)}", flush=True)
    overall = statistics.median(medians) if medians else float("nan")
    print(f"median shrunk faults: {overall:g} faults")


if __name__ == "__main__":
    main()
