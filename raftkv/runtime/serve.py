"""``raftkv serve``: one member, or a local cluster of member processes."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import time
from typing import TYPE_CHECKING, Any

from raftkv.bugs import UnknownBugError

from .cluster import LocalCluster
from .wal import WALCorruptError

if TYPE_CHECKING:
    from .member import MemberConfig

# trio and the member's modules load only to run a member: ``serve --cluster N`` only
# starts processes, and its members start sooner for it.

__all__ = ["add_serve_parser", "cmd_serve"]

EXIT_OK, EXIT_BAD_INPUT = 0, 3


def add_serve_parser(sub: argparse._SubParsersAction[Any]) -> None:
    p = sub.add_parser(
        "serve", help="run a real raftkv member (or --cluster N local members) with etcd's JSON API",
        description="Run one raftkv member over TCP with a write-ahead log on disk and etcd's v3 "
                    "JSON gateway on its client port; or, with --cluster N, N member processes on "
                    "loopback. Stops cleanly on SIGTERM or SIGINT; restarts from its data directory.")
    p.add_argument("--cluster", type=int, metavar="N", help="run N local members on loopback")
    p.add_argument("--name", help="this member's name (as listed in --initial-cluster)")
    p.add_argument("--data-dir", help="where the member keeps its WAL and snapshots "
                                      "(--cluster: a folder per member under it; default a temporary one)")
    p.add_argument("--listen-peer", "--listen-peer-urls", dest="listen_peer",
                   default="http://127.0.0.1:2380", help="address for the other members (host:port)")
    p.add_argument("--listen-client", "--listen-client-urls", dest="listen_client",
                   default="http://127.0.0.1:2379", help="address of the etcd JSON gateway")
    p.add_argument("--initial-cluster", help="every member: name=http://host:peerport,...")
    p.add_argument("--join", action="store_true",
                   help="join a running cluster (after 'member add'); the data directory starts empty")
    p.add_argument("--bug", action="append", default=[], metavar="NAME",
                   help="turn on a catalogued bug (see 'raftkv bugs')")
    p.add_argument("--election-timeout-ms", type=int, default=500)
    p.add_argument("--heartbeat-interval-ms", type=int, default=50)
    p.add_argument("--snapshot-count", type=int, default=10_000,
                   help="applied entries between snapshots (old WAL segments go after each)")
    p.add_argument("--request-timeout-ms", type=int, default=5_000)
    p.add_argument("--lose-unsynced", action="store_true",
                   help="emulate a power cut at every crash: keep writes that were not fsynced in "
                        "the member's own memory (not the OS page cache), so that a SIGKILL loses "
                        "them, as a power cut would (for fault testing)")
    p.add_argument("--log-level", default="warning", choices=("debug", "info", "warning", "error"))


def _parse_cluster(text: str) -> tuple[tuple[str, str], ...]:
    out = []
    for part in text.split(","):
        name, sep, url = part.strip().partition("=")
        if not sep or not name or not url:
            raise ValueError(f"--initial-cluster: {part!r} is not name=http://host:port")
        out.append((name, url))
    return tuple(out)


def _member_config(args: argparse.Namespace) -> MemberConfig:
    from .member import MemberConfig

    if not args.name or not args.data_dir or not args.initial_cluster:
        raise ValueError("serve needs --name, --data-dir and --initial-cluster (or --cluster N)")
    tick_ms = 10
    if args.heartbeat_interval_ms < tick_ms or args.election_timeout_ms < 5 * args.heartbeat_interval_ms:
        raise ValueError("--heartbeat-interval-ms must be >= 10 and --election-timeout-ms at least "
                         "5 heartbeats")
    return MemberConfig(
        name=args.name, data_dir=args.data_dir, listen_peer=args.listen_peer,
        listen_client=args.listen_client, initial_cluster=_parse_cluster(args.initial_cluster),
        join=args.join, bugs=tuple(args.bug), tick_us=tick_ms * 1000,
        election_timeout_ticks=args.election_timeout_ms // tick_ms,
        heartbeat_ticks=args.heartbeat_interval_ms // tick_ms,
        snapshot_interval_entries=args.snapshot_count,
        request_timeout_us=args.request_timeout_ms * 1000, lose_unsynced=args.lose_unsynced)


async def _serve_member(config: MemberConfig) -> None:
    import trio

    from .member import run_member

    with trio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
        async with trio.open_nursery() as nursery:
            member = await nursery.start(run_member, config)
            print(f"raftkv member {config.name}: clients {member.client_url}, "
                  f"peers {config.listen_peer}", flush=True)
            async for _ in signals:
                nursery.cancel_scope.cancel()
                break


def _serve_cluster(args: argparse.Namespace) -> int:
    extra = ("--election-timeout-ms", str(args.election_timeout_ms),
             "--heartbeat-interval-ms", str(args.heartbeat_interval_ms),
             "--snapshot-count", str(args.snapshot_count),
             "--request-timeout-ms", str(args.request_timeout_ms), "--log-level", args.log_level,
             *(("--lose-unsynced",) if args.lose_unsynced else ()))
    cluster = LocalCluster(args.cluster, data_dir=args.data_dir, bugs=tuple(args.bug), extra_args=extra)
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    signal.signal(signal.SIGINT, lambda *_: stop.append(1))
    try:
        cluster.start()
        for name in cluster.names:
            print(f"{name} {cluster.client_url(name)}", flush=True)
        print(f"data in {cluster.data_dir}", flush=True)
        while not stop:
            dead = [n for n in cluster.names if not cluster.running(n)]
            if dead:
                print(f"raftkv serve: member {dead[0]} exited with code "
                      f"{cluster.procs[dead[0]].returncode}; stopping the cluster", file=sys.stderr)
                return 1
            time.sleep(0.1)
        return EXIT_OK
    finally:
        cluster.close()


def cmd_serve(args: argparse.Namespace) -> int:
    logging.basicConfig(level=args.log_level.upper(), stream=sys.stderr,
                        format="%(asctime)s %(name)s %(levelname)s %(message)s")
    try:
        if args.cluster is not None:
            return _serve_cluster(args)
        config = _member_config(args)
        import trio

        try:
            trio.run(_serve_member, config)
        except BaseExceptionGroup as group:
            raise first_leaf(group) from None
        return EXIT_OK
    except (ValueError, UnknownBugError, WALCorruptError) as e:
        print(f"raftkv serve: error: {e}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except OSError as e:
        print(f"raftkv serve: error: {e.strerror or e}", file=sys.stderr)
        return EXIT_BAD_INPUT


def first_leaf(group: BaseExceptionGroup[BaseException]) -> BaseException:
    """The first real exception inside (nested) exception groups."""
    exc: BaseException = group
    while isinstance(exc, BaseExceptionGroup):
        exc = exc.exceptions[0]
    return exc
