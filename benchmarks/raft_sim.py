"""Raft in the simulator: a 5-member cluster, 200 proposals per simulated second for
60 simulated seconds, safety checker on.  Prints simulated seconds per wall second,
events per second and peak memory.  Goal: >= 50x faster than real time.
"""

from __future__ import annotations

import argparse
import sys
import time
import tracemalloc
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _machine import QUICK_HELP, print_machine

from raftkv.raft import ProposalError, RaftConfig, RaftMember
from raftkv.sim import World
from raftkv.sim.safety import SafetyChecker

SEC = 1_000_000
MEMBERS = 5
RATE_PER_SEC = 200
DURATION_SEC = 60
BATCH_US = 20_000


def run(*, measure_memory: bool, batch_us: int, duration_s: int = DURATION_SEC) -> dict[str, Any]:
    world = World(seed=42, trace_messages=False)
    checker = SafetyChecker(world)
    names = tuple(f"n{i}" for i in range(1, MEMBERS + 1))
    config = RaftConfig(election_timeout_ticks=10, heartbeat_ticks=1,
                        snapshot_interval_entries=2000)
    for name in names:
        world.add_node(name, lambda env: RaftMember(env, names, config, tick_us=100_000,
                                                          batch_us=batch_us))
    ok: list[int] = []
    failed: list[Any] = []

    def done(result: object) -> None:
        (failed if isinstance(result, ProposalError) else ok).append(1)

    interval_us = SEC // RATE_PER_SEC
    counter = [0]

    def propose() -> None:
        counter[0] += 1
        for name in names:
            actor: Any = world.actor(name)
            if actor is not None and actor.raft_host.is_leader:
                actor.raft_host.propose((f"k{counter[0] % 1000}", counter[0]), done)
                break
        else:
            failed.append(1)
        world.schedule(world.now_us + interval_us, propose)

    world.schedule(0, propose)
    if measure_memory:
        tracemalloc.start()
    t0 = time.perf_counter()
    world.run_for(duration_s * SEC)
    wall = time.perf_counter() - t0
    peak = tracemalloc.get_traced_memory()[1] if measure_memory else 0
    if measure_memory:
        tracemalloc.stop()
    return {"wall": wall, "events": world.events_processed, "ok": len(ok),
            "failed": len(failed), "peak": peak, "checked": checker.events_checked,
            "trace": len(world.trace)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help=QUICK_HELP)
    duration_s = 2 if parser.parse_args().quick else DURATION_SEC
    print_machine()
    print(f"members={MEMBERS} proposals/s={RATE_PER_SEC} simulated={duration_s}s "
          f"(safety checker on, message tracing off)")
    last = 0.0
    for batch_us in (0, BATCH_US):
        mem = run(measure_memory=True, batch_us=batch_us, duration_s=duration_s)
        r = run(measure_memory=False, batch_us=batch_us, duration_s=duration_s)
        label = f"group commit window {batch_us // 1000} ms" if batch_us else "no group commit"
        print(f"[{label}] applied={r['ok']} failed/no-leader={r['failed']} "
              f"trace events={r['trace']} wall={r['wall']:.2f}s "
              f"events={r['events']} ({r['events'] / r['wall']:.0f} events/s) "
              f"peak memory={mem['peak'] / 1e6:.1f} MB "
              f"speed={duration_s / r['wall']:.1f}x")
        last = duration_s / r["wall"]
    print(f"simulated seconds per wall second (group commit {BATCH_US // 1000} ms): {last:.1f} x")


if __name__ == "__main__":
    main()
