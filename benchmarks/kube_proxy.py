"""kube-proxy's rule tables at scale: sync time and per-packet lookup cost, iptables
against ipvs.

For 1,000 to 20,000 Services of 10 endpoints each (one port, a ClusterIP each): the time
to build the whole table from the ServicePorts (a full sync, as kube-proxy's
``syncProxyRules`` does; iptables also renders its ``iptables-save`` text, which
``iptables-restore`` would read), and the mean cost of one packet's lookup to a random
Service's ClusterIP (iptables walks KUBE-SERVICES rule by rule, so its cost grows with
the number of Services; ipvs finds the virtual server by hashing).  Prints a table, and
writes a PNG plot when matplotlib is installed (``pip install 'raftkv[plot]'``; skipped
with a note otherwise).  The headline is the ipvs lookup at the largest size.
"""

from __future__ import annotations

import argparse
import random
import sys
import time

from kube.network import Endpoint, IptablesTable, IpvsTable, ServicePort

try:
    from _machine import QUICK_HELP, print_machine
except ImportError:  # run from elsewhere
    sys.path.insert(0, __file__.rsplit("/", 1)[0])
    from _machine import QUICK_HELP, print_machine

SIZES = (1_000, 2_000, 5_000, 10_000, 20_000)
QUICK_SIZES = (20, 50)
ENDPOINTS = 10


def ports(services: int) -> list[ServicePort]:
    out = []
    for s in range(services):
        ip = f"10.{96 + s // 65536}.{s // 256 % 256}.{s % 256}"
        eps = tuple(Endpoint(ip=f"10.244.{(s * ENDPOINTS + e) // 250 % 256}.{(s * ENDPOINTS + e) % 250 + 2}",
                             port=8080, pod=f"default/svc{s}-{e}") for e in range(ENDPOINTS))
        out.append(ServicePort(name=f"default/svc{s}:http", cluster_ip=ip, port=80, protocol="TCP", endpoints=eps))
    return out


def measure(mode: str, sps: list[ServicePort], packets: int, rng: random.Random) -> tuple[float, float]:
    """(sync seconds, lookup microseconds per packet)."""
    t0 = time.perf_counter()
    if mode == "iptables":
        table: IptablesTable | IpvsTable = IptablesTable(sps, ("10.0.0.1",))
        table.render()
    else:
        table = IpvsTable(sps, ("10.0.0.1",))
    sync_s = time.perf_counter() - t0
    targets = [rng.choice(sps).cluster_ip for _ in range(packets)]
    t0 = time.perf_counter()
    for i, ip in enumerate(targets):
        route = table.lookup(ip, 80, f"172.16.{i // 250 % 256}.{i % 250}", 0, rng)
        assert route.endpoint is not None, f"{mode}: no endpoint for {ip}"
    lookup_us = (time.perf_counter() - t0) / packets * 1e6
    return sync_s, lookup_us


def plot(rows: list[tuple[int, str, float, float]], path: str) -> str:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return "plot skipped: matplotlib is not installed (pip install 'raftkv[plot]')"
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    for mode in ("iptables", "ipvs"):
        xs = [r[0] for r in rows if r[1] == mode]
        left.plot(xs, [r[2] * 1000 for r in rows if r[1] == mode], marker="o", label=mode)
        right.plot(xs, [r[3] for r in rows if r[1] == mode], marker="o", label=mode)
    left.set(xlabel="Services (10 endpoints each)", ylabel="full sync (ms)", title="rule sync time")
    right.set(xlabel="Services (10 endpoints each)", ylabel="lookup per packet (us)", title="packet lookup",
              yscale="log")
    for ax in (left, right):
        ax.legend()
        ax.grid(True, alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    return f"plot: {path}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help=QUICK_HELP)
    parser.add_argument("--png", default="kube_proxy.png", help="where the plot goes (default kube_proxy.png)")
    parser.add_argument("--packets", type=int, default=2000, help="lookups measured per size and mode")
    args = parser.parse_args()
    print_machine()
    sizes = QUICK_SIZES if args.quick else SIZES
    packets = 50 if args.quick else args.packets
    rng = random.Random(1)
    rows = []
    print(f"{'services':>9} {'mode':>9} {'sync ms':>10} {'lookup us':>10}")
    for n in sizes:
        sps = ports(n)
        for mode in ("iptables", "ipvs"):
            # an iptables walk is long at scale: fewer packets, the same per-packet figure
            count = max(20, packets * 1000 // n) if mode == "iptables" and not args.quick else packets
            sync_s, lookup_us = measure(mode, sps, count, rng)
            rows.append((n, mode, sync_s, lookup_us))
            print(f"{n:>9,} {mode:>9} {sync_s * 1000:>10.1f} {lookup_us:>10.2f}", flush=True)
    if not args.quick:
        print(plot(rows, args.png))
    last = [r for r in rows if r[1] == "ipvs"][-1]
    print(f"ipvs lookup at {last[0]} services: {last[3]:.2f} us")


if __name__ == "__main__":
    main()
