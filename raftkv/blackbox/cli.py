"""``raftkv test-cluster``: its options and its handler (see :mod:`raftkv.blackbox.runner`)."""

from __future__ import annotations

import argparse
import sys
from typing import Any

__all__ = ["add_test_cluster_parser", "cmd_test_cluster"]


def add_test_cluster_parser(sub: argparse._SubParsersAction[Any]) -> None:
    p = sub.add_parser(
        "test-cluster", help="test a real cluster (raftkv or etcd 3.4 processes) under faults",
        description="Start a real cluster on loopback (raftkv serve members, or etcd 3.4 members), "
                    "or attach to one someone else runs; route the members' peer traffic through "
                    "proxies; run a recorded workload of async gateway clients under a fault "
                    "schedule drawn from --seed by the simulator's strategies (partitions, shapes, "
                    "one-way cuts, loss and delay, SIGKILL and restart, SIGSTOP/SIGCONT); heal, "
                    "settle, and check the history (linearizability with the etcd model, revision "
                    "order, watch and lease guarantees, liveness after healing). Everything is saved "
                    "in --out.",
        epilog="Exit status as 'raftkv check': 0 every check passed, 1 a violation, 2 bad input or "
               "usage, 3 unknown (the checker's budget ran out).")
    p.add_argument("--target", choices=("raftkv", "etcd"), default="raftkv",
                   help="what to start: raftkv serve members, or etcd 3.4 members (Debian's etcd-server)")
    p.add_argument("--attach", metavar="URL,...",
                   help="test a running cluster at these client URLs instead of starting one (no "
                        "process or peer faults then: only the workload and the checks)")
    p.add_argument("--members", type=int, choices=(3, 5), default=3, help="members to start (3 or 5)")
    p.add_argument("--time", default="30s", metavar="DURATION",
                   help="how long the workload runs under faults, e.g. 20s, 5m (default 30s)")
    p.add_argument("--settle", type=float, default=5.0, metavar="S",
                   help="seconds of healed running at the end; liveness must come back within twice "
                        "that (default 5)")
    p.add_argument("--seed", type=int, default=0, help="seed of the fault schedule and the workload (default 0)")
    p.add_argument("--clients", type=int, default=4, metavar="N", help="key-value clients (default 4)")
    p.add_argument("--out", default="test-cluster-out", metavar="DIR",
                   help="where the schedule, history, member logs and report go (default test-cluster-out)")
    p.add_argument("--bug", action="append", default=[], metavar="NAME",
                   help="--target raftkv: turn on a catalogued bug in the members (see 'raftkv bugs')")
    p.add_argument("--check-timeout", type=float, default=60.0, metavar="S",
                   help="linearizability search budget per key in seconds (default 60)")


def cmd_test_cluster(args: argparse.Namespace, time_s: float) -> int:
    from raftkv.bugs import bug_set
    from raftkv.exit_status import EXIT_BAD_INPUT, EXIT_UNKNOWN

    from .runner import RunSpec, run_test_cluster
    from .workload import WorkloadSpec

    try:
        bug_set(tuple(args.bug))
        if args.clients < 1:
            raise ValueError(f"--clients must be >= 1, got {args.clients}")
        if args.settle < 1:
            raise ValueError(f"--settle must be >= 1 second, got {args.settle}")
        attach = tuple(u.strip() for u in args.attach.split(",") if u.strip()) if args.attach else ()
        if args.attach is not None and not attach:
            raise ValueError("--attach needs at least one client URL")
        for url in attach:
            if not url.startswith(("http://", "https://")):
                raise ValueError(f"--attach: {url!r} is not an http:// URL")
        spec = RunSpec(target="attach" if attach else args.target, out_dir=args.out, time_s=time_s,
                       settle_s=args.settle, members=args.members, seed=args.seed, bugs=tuple(args.bug),
                       attach=attach, workload=WorkloadSpec(clients=args.clients),
                       check_timeout_s=args.check_timeout)
    except ValueError as e:
        print(f"raftkv test-cluster: error: {e}", file=sys.stderr)
        return EXIT_BAD_INPUT
    try:
        outcome = run_test_cluster(spec, say=lambda line: print(line, flush=True))
    except (ValueError, RuntimeError, OSError) as e:
        print(f"raftkv test-cluster: error: {e}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:  # the cluster is stopped and what was recorded saved
        print(f"raftkv test-cluster: interrupted; what ran is saved in {args.out}", file=sys.stderr)
        return EXIT_UNKNOWN
    print(f"saved in {args.out}: schedule.json, history.jsonl, logs/, report.html, verdict.txt")
    return outcome.exit_code
