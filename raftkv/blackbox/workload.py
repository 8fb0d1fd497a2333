"""The workload of a real-cluster run: async gateway clients doing gets, puts, deletes and
compare-and-set txns on a few keys, one writer bound to each endpoint (puts with a short
timeout, no failover), a lease client (grant, put with the lease, keepalives,
revoke or let it expire), watches from revision 1 and from "now", and one reader bound to
each endpoint (no failover) doing linearizable gets in a loop, so that a member that
answers reads from stale state (an isolated follower, a deposed leader) is asked while
the others take writes; every operation and watch event is recorded in one raftkv
history.

A third watch drops its HTTP stream every 0.2-1 s and resumes after the last revision it
delivered, on the next endpoint (a client that loses its connection mid-watch), so the
watch checker sees many resumes.  With ``client_faults`` (on for ``--attach``, where no
process or peer fault is possible) the clients also fail on their own side: a request
abandoned mid-flight after a few milliseconds (its connection closed: the outcome is
unknown), a client pausing for 0.3-2 s (a lease keepalive may come too late), a client
switching to another endpoint, a watch's connection killed; each is listed in
``schedule.json``."""

from __future__ import annotations

import random
import time

import attrs
import trio

from raftkv.check import HistoryBuilder
from raftkv.client.gateway import GatewayEtcdClient
from raftkv.kv import KVError

__all__ = ["KEYS", "LEASE_KEY", "ClientFaults", "WorkloadSpec", "check_liveness", "run_workload"]

KEYS = (b"k1", b"k2", b"k3")
LEASE_KEY = b"kl"


@attrs.frozen(kw_only=True)
class WorkloadSpec:
    clients: int = 4
    op_timeout_s: float = 2.0
    lease_ttl_s: int = 5
    read_pause_s: float = 0.02  # between a bound reader's gets
    write_pause_s: float = 0.02  # between a bound writer's puts
    bound_write_timeout_s: float = 0.12  # a bound writer gives up (outcome unknown) and writes again
    client_faults: bool = False  # faults on the clients' side (see the module docstring)
    fault_rate: float = 0.03  # with client_faults: the share of operations that meet one
    # catalogued client bugs the workload's clients have (watch_resume_at_last_revision)
    bugs: frozenset[str] = frozenset()

    def __attrs_post_init__(self) -> None:
        assert self.clients >= 1 and self.op_timeout_s > 0 and self.lease_ttl_s >= 2 and self.read_pause_s >= 0
        assert self.write_pause_s >= 0 and self.bound_write_timeout_s > 0
        assert 0 <= self.fault_rate <= 1


class ClientFaults:
    """The client-side faults of a run: whether to inject them, and what was done when
    (``(time_us, what)``, for ``schedule.json``)."""

    def __init__(self, spec: WorkloadSpec) -> None:
        self.on = spec.client_faults
        self.rate = spec.fault_rate
        self.applied: list[tuple[int, str]] = []

    def note(self, what: str) -> None:
        self.applied.append((time.time_ns() // 1000, what))

    async def maybe(self, client: GatewayEtcdClient, rng: random.Random) -> float | None:
        """Before an operation: perhaps pause or switch endpoints now; the seconds after
        which to abandon the operation, or None to let it run."""
        if not self.on or rng.random() >= self.rate:
            return None
        roll = rng.random()
        if roll < 0.4:
            after_s = rng.uniform(0.001, 0.03)
            self.note(f"{client.process}: abandons its next request after {after_s * 1000:.0f} ms")
            return after_s
        if roll < 0.7:
            pause_s = rng.uniform(0.3, 2.0)
            self.note(f"{client.process}: pauses {pause_s:.1f} s")
            await trio.sleep(pause_s)
        else:
            client._current = rng.randrange(len(client.endpoints))
            self.note(f"{client.process}: switches to {client.endpoints[client._current]}")
        return None


def _client(urls: list[str], i: int, recorder: HistoryBuilder, process: str, spec: WorkloadSpec) -> GatewayEtcdClient:
    rotated = urls[i % len(urls):] + urls[:i % len(urls)]
    return GatewayEtcdClient(rotated, recorder=recorder, process=process, op_timeout_s=spec.op_timeout_s,
                             bugs=spec.bugs)


async def _kv_worker(client: GatewayEtcdClient, rng: random.Random, stop: trio.Event, tag: str,
                     faults: ClientFaults) -> None:
    n = 0
    while not stop.is_set():
        n += 1
        abandon_s = await faults.maybe(client, rng)
        with trio.move_on_after(abandon_s if abandon_s is not None else float("inf")):
            await _kv_op(client, rng, tag, n)


async def _kv_op(client: GatewayEtcdClient, rng: random.Random, tag: str, n: int) -> None:
    key = rng.choice(KEYS)
    value = f"{tag}-{n}".encode()
    try:
        roll = rng.random()
        if roll < 0.35:
            await client.put(key, value)
        elif roll < 0.7:
            await client.get(key)
        elif roll < 0.8:
            await client.delete(key)
        else:
            current = await client.get(key)
            expected = current.kvs[0].value if current.kvs else None
            await client.cas(key, expected, value)
    except KVError:
        await trio.sleep(0.02)


async def _reader(client: GatewayEtcdClient, rng: random.Random, stop: trio.Event, pause_s: float) -> None:
    while not stop.is_set():
        try:
            await client.get(rng.choice(KEYS))
        except KVError:
            pass
        await trio.sleep(pause_s)


async def _writer(client: GatewayEtcdClient, tag: str, rng: random.Random, stop: trio.Event,
                  pause_s: float) -> None:
    """Puts through one endpoint (no failover), each given up after a short timeout: as
    soon as a new leader is elected, writes through it are acknowledged (while a deposed
    leader may still answer reads)."""
    n = 0
    while not stop.is_set():
        n += 1
        try:
            await client.put(rng.choice(KEYS), f"{tag}-{n}".encode())
        except KVError:
            pass
        await trio.sleep(pause_s)


async def _lease_worker(client: GatewayEtcdClient, rng: random.Random, stop: trio.Event, ttl_s: int,
                        faults: ClientFaults) -> None:
    n = 0
    while not stop.is_set():
        n += 1
        try:
            lease = (await client.lease_grant(ttl_s)).id
            await client.put(LEASE_KEY, f"lease-{n}".encode(), lease=lease)
            for _ in range(rng.randrange(1, 4)):
                await trio.sleep(ttl_s / 3)
                await faults.maybe(client, rng)  # a pause may let the lease expire
                await client.lease_keepalive_once(lease)
                await client.get(LEASE_KEY)
            if rng.random() < 0.5:
                await client.lease_revoke(lease)
            else:  # let it expire, reading the key on the way
                with trio.move_on_after(ttl_s + 3):
                    while not stop.is_set():
                        await trio.sleep(0.5)
                        await client.get(LEASE_KEY)
        except KVError:
            await trio.sleep(0.1)


async def _watcher(client: GatewayEtcdClient, start_revision: int) -> None:
    async with client.watch(b"k", prefix=True, prev_kv=True, start_revision=start_revision) as w:
        async for _ in w:
            pass


async def _dropping_watcher(client: GatewayEtcdClient, rng: random.Random, faults: ClientFaults) -> None:
    """A watch from now whose connection drops every 0.2-1 s: it resumes each time."""
    async with client.watch(b"k", prefix=True, start_revision=0) as w, trio.open_nursery() as nursery:
        async def drop() -> None:
            while True:
                await trio.sleep(rng.uniform(0.2, 1.0))
                w.reconnect()
                if faults.on:
                    faults.note(f"{client.process}: watch connection killed")
        nursery.start_soon(drop)
        async for _ in w:
            pass


async def run_workload(urls: list[str], recorder: HistoryBuilder, spec: WorkloadSpec, *, seed: int,
                       until_stopped: trio.Event, watches_closed: trio.Event,
                       faults: ClientFaults | None = None) -> None:
    """Run until ``until_stopped`` is set; watches run on until ``watches_closed``."""
    faults = faults or ClientFaults(spec)
    clients = [_client(urls, i, recorder, f"c{i + 1}", spec) for i in range(spec.clients)]
    lease_client = _client(urls, spec.clients, recorder, "lease", spec)
    watch_clients = [_client(urls, spec.clients + 1 + i, recorder, f"w{i + 1}", spec) for i in range(3)]
    writers = [GatewayEtcdClient([url], recorder=recorder, process=f"bw{i + 1}", op_timeout_s=spec.bound_write_timeout_s)
               for i, url in enumerate(urls)]
    readers = [GatewayEtcdClient([url], recorder=recorder, process=f"r{i + 1}", op_timeout_s=spec.op_timeout_s)
               for i, url in enumerate(urls)]
    try:
        async with trio.open_nursery() as watching:
            watching.start_soon(_watcher, watch_clients[0], 1)
            watching.start_soon(_watcher, watch_clients[1], 0)
            watching.start_soon(_dropping_watcher, watch_clients[2], random.Random(seed * 1000 + 998), faults)
            async with trio.open_nursery() as nursery:
                for i, c in enumerate(clients):
                    nursery.start_soon(_kv_worker, c, random.Random(seed * 1000 + i), until_stopped, c.process,
                                       faults)
                for i, r in enumerate(readers):
                    nursery.start_soon(_writer, writers[i], f"bw{i + 1}", random.Random(seed * 1000 + 700 + i),
                                       until_stopped, spec.write_pause_s)
                    nursery.start_soon(_reader, r, random.Random(seed * 1000 + 500 + i), until_stopped,
                                       spec.read_pause_s)
                nursery.start_soon(_lease_worker, lease_client, random.Random(seed * 1000 + 999), until_stopped,
                                   spec.lease_ttl_s, faults)
            await watches_closed.wait()
            watching.cancel_scope.cancel()
    finally:
        for c in [*clients, lease_client, *watch_clients, *readers, *writers]:
            await c.aclose()


async def _live_through(url: str, i: int, recorder: HistoryBuilder, deadline: float) -> str | None:
    """Puts then gets every key through ``url`` alone, each retried while ``deadline``
    (trio's clock) is not past; None when all went through, else the last error."""
    client = GatewayEtcdClient([url], recorder=recorder, process=f"live{i + 1}", op_timeout_s=_LIVE_ATTEMPT_S)
    try:
        for key in KEYS:
            for write in (True, False):
                while True:
                    try:
                        if write:
                            await client.put(key, f"live-{i}".encode())
                        else:
                            await client.get(key)
                        break
                    except KVError as e:  # an attempt timed out or found no leader yet: again
                        if trio.current_time() >= deadline:
                            return f"{type(e).__name__}: {e}"
                        await trio.sleep(0.1)
        return None
    finally:
        await client.aclose()


_LIVE_ATTEMPT_S = 2.0


async def check_liveness(urls: list[str], recorder: HistoryBuilder, *, timeout_s: float) -> list[str]:
    """After healing: through each endpoint (alone, no failover), a write and a read of
    every key, each retried (attempts of at most 2 s) until ``timeout_s`` has passed (an
    attempt begun before then may end up to 2 s later); what failed (empty: live)."""
    assert timeout_s >= 2 * _LIVE_ATTEMPT_S
    deadline = trio.current_time() + timeout_s
    errors: dict[str, str | None] = {}

    async def one(i: int, url: str) -> None:
        errors[url] = await _live_through(url, i, recorder, deadline)

    async with trio.open_nursery() as nursery:
        for i, url in enumerate(urls):
            nursery.start_soon(one, i, url)
    return [f"liveness: {url} took no write/read within {timeout_s:.0f} s after healing ({errors[url]})"
            for url in urls if errors[url] is not None]
