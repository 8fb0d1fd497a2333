"""Linearizability checker throughput on Jepsen-like generated histories.

(a) kv: 50 clients, 4,000 get/put/append operations on 10 keys.
(b) cas-register: 5 concurrent clients, 1,000 operations, ~1% unknown (info)
    outcomes; a client whose operation ends unknown is replaced by a new process.
Then (b)'s time as the share of unknown outcomes grows (1%, 2%, 5%).
Prints ops checked per second, wall time and the process's peak RSS per case.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from typing import Any

from raftkv.check import CASRegisterModel, KVModel, check_linearizable, make_history
from raftkv.check.generate import Kind, simulate

try:
    from _machine import QUICK_HELP, peak_rss_mib, print_machine
except ImportError:  # run from elsewhere
    sys.path.insert(0, __file__.rsplit("/", 1)[0])
    from _machine import QUICK_HELP, peak_rss_mib, print_machine

SEEDS = (1, 2, 3)


def run(kind: Kind, model: Any, seed: int, **kw: Any) -> tuple[int, float, float, str]:
    hist = make_history(simulate(kind, random.Random(seed), **kw))
    t0 = time.perf_counter()
    res = check_linearizable(hist, model, timeout_s=60)
    wall = time.perf_counter() - t0
    peak = peak_rss_mib()
    n = len(hist.operations) - len(res.excluded)
    assert res.verdict == "ok", res.explanation
    return n, wall, peak, res.verdict


def case(label: str, kind: Kind, model: Any, **kw: Any) -> float:
    walls = []
    for seed in SEEDS:
        n, wall, peak, verdict = run(kind, model, seed, **kw)
        walls.append(wall)
        print(f"{label} seed={seed}: {n} ops, {verdict}, {wall:.3f} s, {n / wall:,.0f} ops/s, "
              f"process peak RSS {peak:.0f} MiB")
    worst = max(walls)
    print(f"{label}: worst {worst:.3f} s over seeds {SEEDS}")
    return worst


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help=QUICK_HELP)
    args = parser.parse_args()
    scale = 20 if args.quick else 1  # --quick: a twentieth of the operations
    print_machine()
    a = case(f"(a) kv 50 clients {4000 // scale} ops 10 keys", "kv", KVModel(), clients=50,
             ops=4000 // scale, keys=10)
    b = case(f"(b) cas-register 5 clients {1000 // scale} ops 1% info", "cas-register", CASRegisterModel(),
             clients=5, ops=1000 // scale, info_rate=0.01)
    print("(b) growth with the share of unknown outcomes:")
    for rate in (0.01, 0.02, 0.05):
        case(f"    info {rate:.0%}", "cas-register", CASRegisterModel(), clients=5, ops=1000 // scale,
             info_rate=rate)
    print(f"worst of (a) and (b): {max(a, b):.3f} s")


if __name__ == "__main__":
    main()
