"""The ``raftkv`` command line."""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Callable
from pathlib import Path

import raftkv
from raftkv.bugs import BUGS, UnknownBugError, bug_set
from raftkv.exit_status import (
    EXIT_BAD_INPUT,
    EXIT_OK,
    EXIT_UNKNOWN,
    EXIT_VIOLATION,
    OneLineArgumentParser,
)

__all__ = ["EXIT_BAD_INPUT", "EXIT_OK", "EXIT_UNKNOWN", "EXIT_VIOLATION", "build_parser", "main"]


class InputError(Exception):
    """Bad input from the user: printed as one line, exit code 2 (EXIT_BAD_INPUT)."""


def _seconds_to_us(value: float) -> int:
    return round(value * 1_000_000)


def _int_in(low: int, high: int | None = None) -> Callable[[str], int]:
    """An argparse type: an integer in ``low..high`` (no upper bound when ``high`` is None);
    out of range, argparse prints one line naming the option and the range."""
    allowed = f"{low}..{high}" if high is not None else f">= {low}"

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer {allowed}, got {text!r}") from None
        if value < low or (high is not None and value > high):
            raise argparse.ArgumentTypeError(f"must be {allowed}, got {value}")
        return value

    parse.__name__ = "integer"
    return parse


def _seconds(*, positive: bool) -> Callable[[str], float]:
    """An argparse type: simulated seconds, > 0 (``positive``) or >= 0, at most a day."""
    allowed = ("> 0" if positive else ">= 0") + " and <= 86400"

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected seconds {allowed}, got {text!r}") from None
        if not (value > 0 if positive else value >= 0) or not value <= 86_400:
            raise argparse.ArgumentTypeError(f"must be {allowed} seconds, got {text}")
        return value

    parse.__name__ = "seconds"
    return parse


def _add_sim(sub: argparse._SubParsersAction[OneLineArgumentParser]) -> None:
    from raftkv.sim.scenario import MAX_MEMBERS  # here, not at the top: `raftkv check` starts fast

    p = sub.add_parser(
        "sim", help="run one simulated scenario and print its summary",
        description="Run one scenario in the deterministic simulator: from a seed (a random fault "
                    "schedule is drawn from it) or from a scenario JSON file. Prints the scenario, "
                    "what happened, the checks' verdict and the token that replays it exactly.")
    p.add_argument("--demo", action="store_true", help="run the built-in demo (gossiping counters under faults)")
    p.add_argument("--file", type=Path, help="scenario JSON file to run (overrides the generator options)")
    p.add_argument("--seed", type=int, default=1, help="the seed of the run (default 1)")
    p.add_argument("--system", default="kv", choices=("kv", "raft", "demo"),
                   help="what runs on the cluster: the etcd-like store with clients (kv), bare Raft, or the demo")
    p.add_argument("--members", type=_int_in(1, MAX_MEMBERS), default=3,
                   help=f"cluster size, 1..{MAX_MEMBERS} (default 3)")
    p.add_argument("--duration", type=_seconds(positive=True), default=10.0,
                   help="simulated seconds of faults and workload, > 0 (default 10)")
    p.add_argument("--settle", type=_seconds(positive=False), default=5.0,
                   help="at most this many simulated seconds to recover after every fault is healed; the "
                        "run ends as soon as the system is live again, >= 0 (default 5)")
    p.add_argument("--faults", type=_int_in(0, 1000), default=6,
                   help="number of random faults to draw, 0..1000 (default 6); a crash or pause comes "
                        "with its restart or resume, listed as well")
    p.add_argument("--clients", type=_int_in(0, 100), default=3, help="number of clients, 0..100 (default 3)")
    p.add_argument("--rate", type=_int_in(0, 100_000), default=30,
                   help="client operations per simulated second, 0..100000 (default 30)")
    p.add_argument("--bug", action="append", default=[], metavar="NAME",
                   help="turn on a catalogued bug (repeatable); see 'raftkv bugs'")
    p.add_argument("--save", type=Path, help="also write the scenario as JSON to this file")
    _add_output_options(p)


def _add_output_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--trace", action="store_true", help="print the whole trace timeline")
    p.add_argument("--tail", type=_int_in(0), default=None, metavar="N",
                   help="print the last N trace events (default: 30 when a check fails, else 0)")
    p.add_argument("--html", type=Path, metavar="OUT", help="write the checker's HTML report of the history here")


def _add_replay(sub: argparse._SubParsersAction[OneLineArgumentParser]) -> None:
    p = sub.add_parser(
        "replay", help="re-run a scenario exactly from its token or JSON file",
        description="Re-run a scenario exactly (same seed, same faults, same trace), re-check it "
                    "and print the report. TOKEN is what a failing run printed (starts with rk1_); "
                    "FILE is a scenario JSON file (e.g. scenario.json in an explore output folder).")
    p.add_argument("scenario", metavar="TOKEN|FILE")
    _add_output_options(p)


def _load_scenario_arg(text: str):  # type: ignore[no-untyped-def]
    from raftkv.sim import scenario_from_json, scenario_from_token

    if text.startswith("rk1_"):
        return scenario_from_token(text)
    path = Path(text)
    if path.is_dir() and (path / "scenario.json").exists():
        path = path / "scenario.json"
    if not path.exists():
        raise InputError(f"{text}: no such file, and not a scenario token (tokens start with rk1_)")
    try:
        content = path.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: cannot read: {exc}") from None
    return scenario_from_json(content)


def _run_and_report(scenario, args: argparse.Namespace) -> int:  # type: ignore[no-untyped-def]
    from raftkv.report import run_report
    from raftkv.sim import run_scenario

    result = run_scenario(scenario)
    tail = args.tail if args.tail is not None else (0 if result.ok else 30)
    print(run_report(result, tail=tail, full_trace=args.trace))
    if args.html:
        _write_html(result, args.html)
    return EXIT_OK if result.ok else EXIT_VIOLATION


def _write_html(result, path: Path) -> None:  # type: ignore[no-untyped-def]
    from raftkv.report import write_run_html

    if write_run_html(result, str(path)):
        print(f"html report: {path}")
    else:
        print(f"no html report: the {result.scenario.system} system records no client history")


def _cmd_sim(args: argparse.Namespace) -> int:
    from raftkv.sim import random_scenario, scenario_to_json

    if args.file:
        scenario = _load_scenario_arg(str(args.file))
    else:
        system = "demo" if args.demo else args.system
        bugs = tuple(sorted(bug_set(args.bug)))
        scenario = random_scenario(
            args.seed, system=system, members=args.members, duration_us=_seconds_to_us(args.duration),
            settle_us=_seconds_to_us(args.settle), faults=args.faults, clients=args.clients,
            ops_per_s=args.rate, bugs=bugs)
        from raftkv.sim.scenario import validate

        validate(scenario)
    if args.save:
        args.save.write_text(scenario_to_json(scenario) + "\n")
    return _run_and_report(scenario, args)


def _cmd_replay(args: argparse.Namespace) -> int:
    return _run_and_report(_load_scenario_arg(args.scenario), args)


def _parse_duration(text: str) -> float:
    units = {"s": 1.0, "m": 60.0, "h": 3600.0}
    try:
        if text and text[-1] in units:
            seconds = float(text[:-1]) * units[text[-1]]
        else:
            seconds = float(text)
    except ValueError:
        raise InputError(f"--time: {text!r} is not a duration (e.g. 90, 90s, 5m, 1h)") from None
    if not 0 < seconds < float("inf"):
        raise InputError(f"--time: must be a positive duration (e.g. 90, 90s, 5m, 1h), got {text!r}")
    return seconds


def _cmd_explore(args: argparse.Namespace) -> int:
    from raftkv.explore import explore
    from raftkv.suites import SUITES

    suites = args.suite or list(SUITES)
    for name in suites:
        if name not in SUITES:
            raise InputError(f"unknown suite {name!r}; suites: {', '.join(SUITES)}")
    bugs = sorted(bug_set(args.bug))
    seconds = None if args.examples and not args.time else _parse_duration(args.time or "60s")
    if args.dask is not None and args.workers is not None:
        raise InputError("--workers sizes the local pool; with --dask the cluster's workers run the "
                         "batches (local:N starts N)")
    from raftkv.exampledb import ExampleDatabaseError, open_example_database
    from raftkv.explore_dask import DaskError

    if args.database_readonly and args.database is None:
        raise InputError("--database-readonly needs --database DIR")
    database = None if args.database is None else str(args.database)
    try:
        if database is not None:  # here too, so a wrong folder is told before the campaign starts
            open_example_database(database, read_only=args.database_readonly or args.dask is not None)
        summary = explore(suites=suites, bugs=bugs, seconds=seconds, max_examples=args.examples,
                          workers=args.workers, seed=args.seed, out_dir=args.out,
                          show_progress=not args.quiet, dask=args.dask, database=database,
                          database_read_only=args.database_readonly)
    except (DaskError, ExampleDatabaseError) as exc:
        raise InputError(str(exc)) from None
    print(f"explored {summary.examples} scenarios in {summary.seconds:.0f}s "
          f"({summary.examples / max(summary.seconds, 1e-9) * 60:.0f} scenarios/min; "
          f"{raftkv.build_info()})")
    print(f"  {'suite':<16} {'scenarios':>9} {'simulated':>12} {'shrinking':>10} {'failures':>8}")
    for name, stats in summary.stats.items():
        print(f"  {name:<16} {stats.examples:>9} {stats.simulated_us / 1e6:>11,.0f}s "
              f"{stats.shrink_seconds:>9.1f}s {stats.failures:>8}")
    if not summary.failures:
        print("no property failed" + (f" (bugs on: {', '.join(bugs)})" if bugs else ""))
        return EXIT_OK
    print(f"{len(summary.failures)} distinct failure(s) (suite and property; the failures column), "
          "each shrunk and saved with its token, scenario, trace and reports:")
    for suite, prop, folder in summary.failures:
        token = (Path(folder) / "token.txt").read_text().strip()
        print(f"  {suite}: {prop}\n    {folder}/report.txt\n    raftkv replay {token}")
    return EXIT_VIOLATION


def _cmd_bugs(args: argparse.Namespace) -> int:
    for bug in BUGS.values():
        print(f"{bug.name:<34} [{bug.layer}] {bug.summary}  ({bug.reference})")
    return EXIT_OK


def _cmd_serve(args: argparse.Namespace) -> int:
    from raftkv.runtime.serve import cmd_serve

    return cmd_serve(args)


def _cmd_test_cluster(args: argparse.Namespace) -> int:
    from raftkv.blackbox.cli import cmd_test_cluster

    return cmd_test_cluster(args, _parse_duration)


def build_serve_parser() -> argparse.ArgumentParser:
    """The parser of ``raftkv serve`` alone (as :func:`build_parser` has it)."""
    from raftkv.runtime.serve import add_serve_parser

    parser = OneLineArgumentParser(prog="raftkv")
    add_serve_parser(parser.add_subparsers(dest="command", metavar="COMMAND"))
    return parser


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineArgumentParser(
        prog="raftkv",
        description="A consistency-testing framework for Raft/etcd-style systems: a deterministic "
                    "simulated Raft key-value store with etcd v3 semantics, fault injection, history "
                    "checkers and property-based exploration.")
    parser.add_argument("--version", action="version",
                        version=f"raftkv {raftkv.__version__} ({raftkv.build_info()})")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    _add_sim(sub)
    _add_replay(sub)
    p = sub.add_parser(
        "explore", help="the main job: run the property suites for a budget on all cores",
        description="Run the property suites (Raft safety, linearizability, watch and lease "
                    "guarantees, liveness, membership, determinism) against the simulated cluster for "
                    "a time or example budget, in parallel worker processes. Every failure is shrunk "
                    "and saved (token, scenario JSON, trace, text and HTML reports) in the output folder.")
    p.add_argument("--time", metavar="DURATION", help="wall-clock budget, e.g. 90s, 5m, 1h (default 60s)")
    p.add_argument("--examples", type=_int_in(1), metavar="N", help="stop after about N scenarios in all (N >= 1)")
    p.add_argument("--workers", type=_int_in(1, 256), metavar="N",
                   help="worker processes, 1..256 (default: all cores)")
    p.add_argument("--suite", action="append", metavar="NAME", help="run only this suite (repeatable)")
    p.add_argument("--bug", action="append", default=[], metavar="NAME", help="turn on a catalogued bug")
    p.add_argument("--seed", type=int, default=0, help="base seed of the exploration (default 0)")
    p.add_argument("--out", type=Path, default=Path("explore-out"), help="where failures are saved")
    p.add_argument("--quiet", action="store_true", help="no live progress display")
    p.add_argument("--dask", metavar="ADDRESS",
                   help="run the batches on a Dask cluster: its scheduler (tcp://HOST:8786), or local:N "
                        "for N local worker processes (needs pip install 'raftkv[distributed]')")
    p.add_argument("--database", type=Path, metavar="DIR",
                   help="a hypothesis example database folder: failing examples kept there are replayed "
                        "first, new ones are saved (Dask workers only read it: the same path on each)")
    p.add_argument("--database-readonly", action="store_true",
                   help="only read the --database folder (one folder shared by many machines)")
    from raftkv.runtime.serve import add_serve_parser

    add_serve_parser(sub)
    from raftkv.blackbox.cli import add_test_cluster_parser

    add_test_cluster_parser(sub)
    # kube is built on raftkv, not the other way round: its command is found by name.
    add_kube_parser = importlib.import_module("kube.serve").add_kube_parser

    add_kube_parser(sub)
    sub.add_parser("bugs", help="list the bug catalogue: the NAMEs 'sim --bug NAME' and 'explore --bug NAME' "
                               "switch on",
                   description="List the catalogued, switchable known bugs of raftkv's own code.")
    p = sub.add_parser("check", help="check a history file for linearizability (see 'raftkv check --help')",
                       add_help=False)
    p.add_argument("rest", nargs=argparse.REMAINDER)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "check":  # before importing the simulator: check starts fast
        from raftkv.check.cli import main as check_main

        return check_main(argv[1:])
    # a real member loads none of the other commands' modules: `raftkv serve` starts fast
    parser = build_serve_parser() if argv and argv[0] == "serve" else build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help or --version (0), or a one-line usage error (2)
        return exc.code if isinstance(exc.code, int) else EXIT_BAD_INPUT
    if args.command == "serve":  # a real member: no need to load the simulator
        return _cmd_serve(args)
    if args.command == "kube":
        cmd_kube = importlib.import_module("kube.serve").cmd_kube
        code: int = cmd_kube(args)
        return code
    handlers = {"sim": _cmd_sim, "replay": _cmd_replay, "bugs": _cmd_bugs, "explore": _cmd_explore,
                "test-cluster": _cmd_test_cluster}
    if args.command not in handlers:
        parser.print_help()
        return EXIT_BAD_INPUT
    from raftkv.sim import ScenarioError

    try:
        return handlers[args.command](args)
    except (ScenarioError, InputError, UnknownBugError) as exc:
        print(f"raftkv: error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except BrokenPipeError:  # e.g. piped into head
        return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
