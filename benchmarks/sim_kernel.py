"""The bare event loop: two actors ping-ponging messages with random latency.

Prints events per second of the simulator kernel (message deliveries and timers,
with the full trace recorded, as in a property run).
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Hashable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _machine import QUICK_HELP, peak_rss_mib, print_machine

from raftkv.env import Env
from raftkv.sim import Latency, World


class Pinger:
    def __init__(self, env: Env, peer: str, serve: bool) -> None:
        self.env = env
        self.peer = peer
        self.serve = serve

    def on_start(self) -> None:
        if self.serve:
            for i in range(8):  # a few balls in the air
                self.env.send(self.peer, i)
        self.env.set_timer(1_000, "tick")

    def on_message(self, src: str, msg: Any) -> None:
        self.env.send(src, msg + 1)

    def on_timer(self, tag: Hashable) -> None:
        self.env.set_timer(1_000, "tick")


def run(events: int, trace: bool) -> tuple[int, float]:
    world = World(seed=1, trace_messages=trace)
    world.set_network(latency=Latency(min_us=100, max_us=2_000))
    world.add_node("a", lambda env: Pinger(env, "b", True))
    world.add_node("b", lambda env: Pinger(env, "a", False))
    start = time.perf_counter()
    while world.events_processed < events:
        world.run_for(100_000)
    return world.events_processed, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--quick", action="store_true", help=QUICK_HELP)
    args = parser.parse_args()
    if args.quick:
        args.events = 20_000
    print_machine()
    n, wall = run(args.events // 4, trace=False)
    print(f"without trace: {n} events in {wall:.2f}s = {n / wall:,.0f} events/s")
    n, wall = run(args.events, trace=True)
    print(f"with full trace: {n} events in {wall:.2f}s, peak memory {peak_rss_mib():.0f} MiB")
    print(f"kernel: {n / wall:.0f} events/s")


if __name__ == "__main__":
    main()
