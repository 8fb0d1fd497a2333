"""PUT throughput through etcd's JSON gateway: raftkv against etcd 3.4, the same load.

Starts a 3-member raftkv cluster (``raftkv serve`` processes) and a 3-member etcd 3.4
cluster, both on loopback and both fsyncing their logs, and drives each with the same
load generator: N keep-alive HTTP/1.1 connections (h11 on trio), each sending PUTs of
256-byte values to random keys back to back, for some seconds, spread over the members.
Prints puts/s and p50/p99 latency for each, the cold start of ``raftkv serve --cluster 3``
to an elected leader, and last the ratio ``raftkv/etcd puts: R x``.
"""

from __future__ import annotations

import argparse
import base64
import json
import pathlib
import random
import shutil
import signal
import statistics
import subprocess
import sys
import time
import urllib.request

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))

import h11
import trio
from _machine import QUICK_HELP, print_machine

from raftkv.blackbox.targets import EtcdCluster
from raftkv.runtime.cluster import LocalCluster

VALUE = base64.b64encode(bytes(random.Random(7).randrange(256) for _ in range(256))).decode()


async def _connection(url: str, deadline: float, rng: random.Random, latencies: list[float],
                      errors: list[int]) -> None:
    host, port = url.split("://")[1].split(":")
    stream = await trio.open_tcp_stream(host, int(port))
    conn = h11.Connection(h11.CLIENT)
    async with stream:
        while trio.current_time() < deadline:
            body = json.dumps({"key": base64.b64encode(b"key%d" % rng.randrange(1000)).decode(),
                               "value": VALUE}).encode()
            start = trio.current_time()
            data = conn.send(h11.Request(method="POST", target="/v3/kv/put", headers=[
                ("host", host), ("content-type", "application/json"), ("content-length", str(len(body)))]))
            data += conn.send(h11.Data(data=body)) + conn.send(h11.EndOfMessage())
            await stream.send_all(data)
            status = 0
            while True:
                event = conn.next_event()
                if event is h11.NEED_DATA:
                    chunk = await stream.receive_some(65536)
                    if not chunk:
                        return
                    conn.receive_data(chunk)
                elif isinstance(event, h11.Response):
                    status = event.status_code
                elif isinstance(event, h11.EndOfMessage):
                    break
            if status == 200:
                latencies.append(trio.current_time() - start)
            else:
                errors.append(status)
            conn.start_next_cycle()


def load(urls: list[str], connections: int, seconds: float) -> tuple[float, float, float, int]:
    """(puts/s, p50 ms, p99 ms, errors)."""
    latencies: list[float] = []
    errors: list[int] = []

    async def main() -> float:
        start = trio.current_time()
        deadline = start + seconds
        async with trio.open_nursery() as nursery:
            for i in range(connections):
                nursery.start_soon(_connection, urls[i % len(urls)], deadline, random.Random(i),
                                   latencies, errors)
        return trio.current_time() - start

    elapsed = trio.run(main)
    lat = sorted(latencies)
    if not lat:
        return 0.0, 0.0, 0.0, len(errors)
    return (len(lat) / elapsed, lat[len(lat) // 2] * 1000, lat[min(len(lat) - 1, len(lat) * 99 // 100)] * 1000,
            len(errors))


def _wait_put(url: str, timeout_s: float) -> None:
    import urllib.request

    deadline = time.monotonic() + timeout_s
    while True:
        try:
            req = urllib.request.Request(url + "/v3/kv/put", data=b'{"key":"d2FybQ==","value":"MQ=="}',
                                         method="POST")
            with urllib.request.urlopen(req, timeout=2) as resp:
                if resp.status == 200:
                    return
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise TimeoutError(f"{url} took no put within {timeout_s} s")
        time.sleep(0.05)


def cold_start() -> float:
    """Seconds from running ``raftkv serve --cluster 3`` to a member naming a leader."""
    start = time.monotonic()
    proc = subprocess.Popen([sys.executable, "-m", "raftkv", "serve", "--cluster", "3"], stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, text=True)
    try:
        assert proc.stdout is not None
        urls = [proc.stdout.readline().split()[1] for _ in range(3)]
        deadline = start + 60
        while time.monotonic() < deadline:
            for url in urls:
                try:
                    req = urllib.request.Request(url + "/v3/maintenance/status", data=b"{}", method="POST")
                    with urllib.request.urlopen(req, timeout=0.5) as resp:
                        if json.loads(resp.read()).get("leader"):
                            return time.monotonic() - start
                except OSError:
                    pass
            time.sleep(0.005)
        raise SystemExit("gateway_load: raftkv serve --cluster 3 elected no leader within 60 s")
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--cold-starts", type=int, default=5, help="cold starts measured (the median is shown)")
    parser.add_argument("--quick", action="store_true", help=QUICK_HELP)
    args = parser.parse_args()
    if args.quick:
        args.connections, args.seconds, args.cold_starts = 4, 0.5, 1
    print_machine()
    etcd = shutil.which("etcd")
    if etcd is None:
        sys.exit("gateway_load: etcd is not installed (apt-get install -y etcd-server)")
    print(f"load: {args.connections} connections, PUTs of 256-byte values to 1000 keys, "
          f"{args.seconds:g} s per system; 3 members each on loopback, both fsyncing")

    colds = [cold_start() for _ in range(args.cold_starts)]
    cold_s = statistics.median(colds)
    cluster = LocalCluster(3)
    try:
        cluster.start()
        cluster.wait_leader(timeout_s=60)
        for url in cluster.client_urls:
            _wait_put(url, 30)
        r_puts, r_p50, r_p99, r_err = load(cluster.client_urls, args.connections, args.seconds)
    finally:
        cluster.close()
    print(f"raftkv cold start (serve --cluster 3 to a leader): median {cold_s:.2f} s of "
          + ", ".join(f"{c:.2f}" for c in colds))
    print(f"raftkv: {r_puts:.0f} puts/s, p50 {r_p50:.1f} ms, p99 {r_p99:.1f} ms, {r_err} errors")

    # etcd's own default timing (the test-cluster target shortens it)
    ec = EtcdCluster(3, etcd=etcd, election_timeout_ms=1000, heartbeat_interval_ms=100,
                     stderr=subprocess.DEVNULL)
    try:
        ec.start()
        for url in ec.client_urls:
            _wait_put(url, 60)
        e_puts, e_p50, e_p99, e_err = load(ec.client_urls, args.connections, args.seconds)
    finally:
        ec.close()
    print(f"etcd 3.4: {e_puts:.0f} puts/s, p50 {e_p50:.1f} ms, p99 {e_p99:.1f} ms, {e_err} errors")
    print(f"raftkv/etcd puts: {r_puts / e_puts if e_puts else 0.0:.2f} x")


if __name__ == "__main__":
    main()
