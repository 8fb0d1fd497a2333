"""``raftkv test-cluster``: its options and its handler (see :mod:`raftkv.blackbox.runner`)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
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
    p.add_argument("--members", type=int, choices=(3, 5), default=None,
                   help="members to start (3 or 5; default 3, or the --schedule's)")
    p.add_argument("--time", default=None, metavar="DURATION",
                   help="how long the workload runs under faults, e.g. 20s, 5m (default 30s, or the "
                        "--schedule's)")
    p.add_argument("--settle", type=float, default=5.0, metavar="S",
                   help="seconds of healed running at the end; liveness must come back within twice "
                        "that (default 5)")
    p.add_argument("--seed", type=int, default=None,
                   help="seed of the fault schedule and the workload (default 0, or the --schedule's)")
    p.add_argument("--clients", type=int, default=4, metavar="N", help="key-value clients (default 4)")
    p.add_argument("--out", default="test-cluster-out", metavar="DIR",
                   help="where the schedule, history, member logs and report go (default test-cluster-out)")
    p.add_argument("--bug", action="append", default=[], metavar="NAME",
                   help="--target raftkv: turn on a catalogued bug in the members (see 'raftkv bugs')")
    p.add_argument("--schedule", metavar="FILE",
                   help="apply the faults of an earlier run's schedule.json again (its seed, members and "
                        "time too, unless given) instead of drawing them: the same faults at the same "
                        "times, though real processes do not replay exactly")
    p.add_argument("--client-faults", action="store_true",
                   help="also fail the clients on their side (abandoned requests, pauses, endpoint switches, "
                        "killed watch connections); always on with --attach")
    p.add_argument("--check-timeout", type=float, default=60.0, metavar="S",
                   help="linearizability search budget per key in seconds (default 60)")


def cmd_test_cluster(args: argparse.Namespace, parse_duration: Callable[[str], float]) -> int:
    from raftkv.bugs import bug_set
    from raftkv.exit_status import EXIT_BAD_INPUT, EXIT_UNKNOWN

    from .nemesis import load_schedule
    from .runner import RunSpec, run_test_cluster
    from .workload import WorkloadSpec

    try:
        saved = load_schedule(args.schedule) if args.schedule else None
        if args.time is not None:
            time_s = parse_duration(args.time)
        else:
            time_s = saved.time_s if saved is not None and saved.time_s else 30.0
        seed, members = args.seed, args.members
        if saved is not None:
            seed = saved.seed if args.seed is None else args.seed
            members = saved.members if args.members is None else args.members
        seed, members = seed or 0, members or 3
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
                       settle_s=args.settle, members=members, seed=seed, bugs=tuple(args.bug),
                       attach=attach, workload=WorkloadSpec(clients=args.clients, client_faults=args.client_faults),
                       check_timeout_s=args.check_timeout, faults=saved.faults if saved is not None else None)
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
