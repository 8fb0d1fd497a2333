"""Exploration throughput on one core: scenarios per minute of the default suite.

Scenarios of 30 simulated seconds on 3-5 members, with faults and a workload of at
least 20 client operations per simulated second, drawn from the suite's strategy and
run with every check, as ``raftkv explore`` does.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _machine import QUICK_HELP, peak_rss_mib, print_machine
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from raftkv.strategies import scenarios, workloads
from raftkv.suites import SUITES

_SECOND = 1_000_000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--suite", default="linearizability")
    parser.add_argument("--examples", type=int, default=60)
    parser.add_argument("--max-ops", type=int, default=None,
                        help="only workloads of at most this many client ops per simulated second "
                             "(default: the suite's whole range, 20-80)")
    parser.add_argument("--quick", action="store_true", help=QUICK_HELP)
    args = parser.parse_args()
    scenario_s = 30
    if args.quick:
        args.examples, scenario_s = 1, 2
    print_machine()
    suite = SUITES[args.suite]
    system = "raft" if args.suite == "raft_safety" else "kv"
    strategy = scenarios(system=system, members=st.integers(3, 5), duration_us=scenario_s * _SECOND,
                         settle_us=3 * _SECOND, min_episodes=2, max_episodes=8,
                         workload=workloads(min_clients=2, max_clients=5).filter(
                             lambda w: w.ops_per_s >= 20 and (args.max_ops is None or w.ops_per_s <= args.max_ops)))
    stats = {"n": 0, "sim_us": 0, "wall": 0.0, "failed": 0}

    # Derandomized: the same scenarios on every run, so figures compare across changes.
    @settings(max_examples=args.examples, deadline=None, database=None, phases=(Phase.generate,),
              derandomize=True, suppress_health_check=list(HealthCheck))
    @given(strategy)
    def run(scenario):  # type: ignore[no-untyped-def]
        start = time.perf_counter()
        _result, violation = suite.run(scenario)
        stats["wall"] += time.perf_counter() - start
        stats["n"] += 1
        stats["sim_us"] += scenario.duration_us + scenario.settle_us
        stats["failed"] += violation is not None

    run()
    n, wall = stats["n"], stats["wall"]
    print(f"suite {args.suite} ({system} system): {n} scenarios of {scenario_s}+3 simulated s in {wall:.1f} s, "
          f"{stats['failed']} failed, peak memory {peak_rss_mib():.0f} MiB")
    print(f"simulated time: {stats['sim_us'] / 1e6 / wall:.1f} simulated s per wall s")
    print(f"rate: {n / wall * 60:.0f} scenarios/min")


if __name__ == "__main__":
    main()
