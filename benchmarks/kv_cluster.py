"""End-to-end client throughput of a simulated 3-member cluster.

Closed-loop clients (each keeps one operation outstanding, as a Jepsen process) drive
puts and linearizable gets through :class:`raftkv.client.Client` into KVServer
members on Raft, in the deterministic simulator with 1-5 ms network latency.
Reports client operations per *simulated* second and the wall time it took, plus a
whole ``kv`` scenario (workload mix with watches and leases, then the checkers).
"""

from __future__ import annotations

import argparse
import pathlib
import sys
import time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))

from _machine import QUICK_HELP, peak_rss_mib, print_machine

from raftkv.client import Client, Result
from raftkv.sim import Scenario, WorkloadSpec, run_scenario
from raftkv.sim.kv_system import KVCluster


def closed_loop(clients: int, sim_s: float, seed: int = 1) -> tuple[int, float, float]:
    cl = KVCluster(seed=seed, members=3)
    handles = [cl.add_client(f"c{i + 1}") for i in range(clients)]
    cl.wait_leader()
    for c in handles:  # the clients stop recording: only their throughput counts here
        c.recorder = None
    done = [0]
    start_us = cl.world.now_us
    end_us = start_us + int(sim_s * 1_000_000)

    def loop(c: Client, i: int) -> None:
        def next_op(_r: Result | None = None) -> None:
            if _r is not None:
                done[0] += 1
            if cl.world.now_us >= end_us:
                return
            n = done[0]
            key = f"k{n % 16}".encode()
            if n % 2:
                c.put(key, f"v{n}".encode(), next_op)
            else:
                c.get(key, next_op)
        next_op()

    for i, c in enumerate(handles):
        loop(c, i)
    t0 = time.perf_counter()
    cl.world.run_until(end_us)
    wall = time.perf_counter() - t0
    return done[0], (end_us - start_us) / 1e6, wall


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--seconds", type=float, default=20.0, help="simulated seconds")
    ap.add_argument("--quick", action="store_true", help=QUICK_HELP)
    args = ap.parse_args()
    scenario_s = 10
    if args.quick:
        args.clients, args.seconds, scenario_s = 2, 0.5, 1
    print_machine()
    ops, sim_s, wall = closed_loop(args.clients, args.seconds)
    print(f"closed loop: {args.clients} clients, {ops} ops in {sim_s:g} simulated s, "
          f"wall {wall:.2f} s ({ops / wall:,.0f} ops per wall second, "
          f"{sim_s / wall:.1f}x real time)")
    t0 = time.perf_counter()
    result = run_scenario(Scenario(seed=1, system="kv", duration_us=scenario_s * 1_000_000,
                                   settle_us=2_000_000, workload=WorkloadSpec(ops_per_s=100)))
    scen_wall = time.perf_counter() - t0
    print(f"kv scenario ({scenario_s} s + settle, 100 ops/s mix, checks included): wall {scen_wall:.2f} s, "
          f"ok={result.ok}, {result.system.summary()['client ops']}")
    print(f"peak RSS: {peak_rss_mib():.0f} MiB")
    print(f"client ops: {ops / sim_s:.0f} ops per simulated second")


if __name__ == "__main__":
    main()
