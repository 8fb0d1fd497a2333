"""Throughput of the key-value state machine alone (no Raft, no network).

Measures ``KVStore.apply`` of puts (requests built beforehand, as a member receives
them from the Raft log) and ``KVStore.range`` of single keys.
"""

from __future__ import annotations

import argparse
import pathlib
import sys
import time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))

from _machine import QUICK_HELP, peak_rss_mib, print_machine
from kv_cluster import closed_loop

from raftkv.kv import (
    CompactionRequest,
    KVStore,
    PutRequest,
    RangeRequest,
    WatchCreateRequest,
    prefix_end,
)


def bench_puts(n: int, keyspace: int, watchers: int = 0) -> tuple[float, KVStore]:
    store = KVStore()
    for i in range(watchers):
        store.watches.create(WatchCreateRequest(key=f"other/{i}".encode()))
    keys = [f"key/{i:08d}".encode() for i in range(keyspace)]
    reqs = [PutRequest(key=keys[i % keyspace], value=b"v%d" % i) for i in range(n)]
    apply = store.apply
    start = time.perf_counter()
    for index, req in enumerate(reqs, 1):
        apply(index, 1, req)
    wall = time.perf_counter() - start
    store.watches.drain()
    return n / wall, store


def bench_ranges(store: KVStore, n: int, keyspace: int) -> float:
    keys = [f"key/{i:08d}".encode() for i in range(keyspace)]
    reqs = [RangeRequest(key=keys[(i * 7919) % keyspace]) for i in range(n)]
    rng = store.range
    start = time.perf_counter()
    for req in reqs:
        rng(req)
    return n / (time.perf_counter() - start)


def bench_prefix(store: KVStore, n: int) -> float:
    req = RangeRequest(key=b"key/0000001", range_end=prefix_end(b"key/0000001"))
    start = time.perf_counter()
    for _ in range(n):
        store.range(req)
    return n / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--puts", type=int, default=200_000)
    parser.add_argument("--keys", type=int, default=10_000)
    parser.add_argument("--quick", action="store_true", help=QUICK_HELP)
    args = parser.parse_args()
    cluster_s = 10.0
    if args.quick:
        args.puts, args.keys, cluster_s = 2_000, 200, 0.5
    print_machine()
    fresh, _ = bench_puts(args.keys, args.keys)
    print(f"puts creating {args.keys} new keys: {fresh:,.0f} ops/s")
    rate, store = bench_puts(args.puts, args.keys, watchers=100)
    print(f"puts over {args.keys} keys, 100 idle watchers: {rate:,.0f} ops/s")
    ranges = bench_ranges(store, args.puts, args.keys)
    print(f"single-key ranges: {ranges:,.0f} ops/s")
    print(f"prefix ranges (10 keys each): {bench_prefix(store, args.puts // 10):,.0f} ops/s")
    start = time.perf_counter()
    store.apply(store.applied_index + 1, 1, CompactionRequest(revision=store.revision))
    print(f"compaction of {args.puts} revisions: {time.perf_counter() - start:.3f} s, "
          f"peak memory {peak_rss_mib():.0f} MiB")
    ops, sim_s, wall_s = closed_loop(clients=8, sim_s=cluster_s)
    print(f"end to end, 3-member simulated cluster, 8 clients: {ops / sim_s:.0f} client ops per "
          f"simulated second ({ops} ops, {wall_s:.1f} s wall; see kv_cluster.py)")
    rate, _ = bench_puts(args.puts, args.keys)
    print(f"puts: {rate:.0f} ops/s")


if __name__ == "__main__":
    main()
