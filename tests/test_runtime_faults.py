"""Faults on real processes: a 3-process raftkv cluster on loopback under a workload from
several async gateway clients, with members (the leader too) SIGKILLed, SIGSTOPped and
restarted from disk; the recorded history must pass raftkv's checkers (linearizability with
the etcd model, revision order, watch guarantees), so no acknowledged write was lost."""

from __future__ import annotations

import random

import trio

from raftkv.check import (
    EtcdModel,
    HistoryBuilder,
    check_linearizable,
    check_revision_order,
    check_watches,
    make_history,
)
from raftkv.client.gateway import GatewayEtcdClient
from raftkv.kv import KVError
from raftkv.runtime.cluster import LocalCluster

KEYS = (b"k1", b"k2", b"k3")


async def _worker(client: GatewayEtcdClient, rng: random.Random, stop: trio.Event, tag: str) -> int:
    done = 0
    n = 0
    while not stop.is_set():
        n += 1
        key = rng.choice(KEYS)
        value = f"{tag}-{n}".encode()
        try:
            roll = rng.random()
            if roll < 0.45:
                await client.put(key, value)
            elif roll < 0.8:
                await client.get(key)
            else:
                current = await client.get(key)
                expected = current.kvs[0].value if current.kvs else None
                await client.cas(key, expected, value)
            done += 1
        except KVError:
            await trio.sleep(0.02)
    return done


async def _watcher(client: GatewayEtcdClient, seen: list[int]) -> None:
    async with client.watch(b"k", prefix=True, prev_kv=True) as w:
        async for resp in w:
            seen.extend(ev.kv.mod_revision for ev in resp.events)


async def _nemesis(cluster: LocalCluster) -> list[str]:
    log = []
    await trio.sleep(0.8)
    leader = await trio.to_thread.run_sync(cluster.wait_leader)
    cluster.kill(leader)  # the leader dies mid-workload
    log.append(f"kill {leader}")
    await trio.sleep(1.0)
    cluster.start(leader)  # and comes back from its disk
    log.append(f"restart {leader}")
    await trio.sleep(1.5)
    other = next(n for n in cluster.names if n != leader)
    cluster.pause(other)  # SIGSTOP
    log.append(f"pause {other}")
    await trio.sleep(1.0)
    cluster.resume(other)
    log.append(f"resume {other}")
    await trio.sleep(0.5)
    leader = await trio.to_thread.run_sync(cluster.wait_leader)
    cluster.pause(leader)  # a frozen leader: the others must elect a new one
    log.append(f"pause {leader}")
    await trio.sleep(1.2)
    cluster.resume(leader)
    log.append(f"resume {leader}")
    victim = next(n for n in cluster.names if n != leader)
    cluster.kill(victim)
    log.append(f"kill {victim}")
    await trio.sleep(0.5)
    cluster.start(victim)
    log.append(f"restart {victim}")
    await trio.sleep(1.5)
    return log


def test_kill_pause_restart_keeps_history_linearizable():
    with LocalCluster(3, extra_args=("--request-timeout-ms", "1500")) as cluster:
        cluster.start()
        cluster.wait_ready(timeout_s=30)
        recorder = HistoryBuilder()
        urls = cluster.client_urls

        async def main() -> tuple[list[str], list[int], list[int]]:
            stop = trio.Event()
            clients = [GatewayEtcdClient(urls[i:] + urls[:i], recorder=recorder, process=f"c{i}",
                                         op_timeout_s=2.0) for i in range(4)]
            watch_client = GatewayEtcdClient(urls, recorder=recorder, process="w", op_timeout_s=2.0)
            counts: list[int] = []
            seen: list[int] = []
            async with trio.open_nursery() as watching:
                watching.start_soon(_watcher, watch_client, seen)
                async with trio.open_nursery() as nursery:
                    async def work(i: int) -> None:
                        counts.append(await _worker(clients[i], random.Random(i), stop, f"c{i}"))
                    for i in range(len(clients)):
                        nursery.start_soon(work, i)
                    log = await _nemesis(cluster)
                    stop.set()
                await trio.sleep(1.0)  # let the watch catch up
                watching.cancel_scope.cancel()
            # every member back: the final reads see every acknowledged write
            final = GatewayEtcdClient(urls, recorder=recorder, process="final", op_timeout_s=5.0)
            for key in KEYS:
                await final.get(key)
            for c in [*clients, watch_client, final]:
                await c.aclose()
            return log, counts, seen

        log, counts, seen = trio.run(main)
        history = make_history(recorder.records)
        ok_writes = [op for op in history.operations if op.outcome == "ok" and op.f in ("put", "cas")]
        assert len(ok_writes) >= 20, f"too little got done to judge ({len(ok_writes)} writes; {log})"
        result = check_linearizable(history, EtcdModel(), timeout_s=60)
        assert result.verdict == "ok", f"{log}\n{result.explanation}"
        assert check_revision_order(history) == []
        assert check_watches(history) == [], log
        assert seen, "the watch saw no event"
        assert all(c > 0 for c in counts), f"a client got nothing done: {counts}"
