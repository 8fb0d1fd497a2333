"""``raftkv check FILE...``: check histories from the command line.

A FILE may be the folder of a saved ``raftkv test-cluster`` run: its ``history.jsonl`` is
checked as the run checked it, lease clocks allowed to restart at the faults its
``schedule.json`` says were applied.

One verdict line per file (and, with several files, a summary); the exit status is the
worst verdict: a violation, then bad input, then unknown, then ok.  Start-up is kept
small: the watch/lease/revision checkers and the HTML report load only when needed.
Exit status (raftkv.exit_status): 0 linearizable (and no revision-order, watch or lease
violation), 1 not linearizable or a violation, 2 bad input or usage (one-line reason),
3 unknown (the time budget ran out).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any, TextIO

from raftkv.exit_status import (
    EXIT_BAD_INPUT,
    EXIT_OK,
    EXIT_UNKNOWN,
    EXIT_VIOLATION,
    OneLineArgumentParser,
)

from .formats import FORMATS, load_history
from .history import History, HistoryFormatError
from .linearizability import LinearizabilityResult, key_tasks, result_of
from .models import MODELS, CASRegisterModel, EtcdModel, KVModel, Model, ModelError, RegisterModel

__all__ = ["EXIT_BAD_INPUT", "EXIT_OK", "EXIT_UNKNOWN", "EXIT_VIOLATION", "build_parser", "load_history",
           "main", "pick_model", "worst_exit"]

_ETCD_F = frozenset({"stale_get", "delete", "txn", "lease_grant", "lease_keepalive", "lease_revoke",
                     "compact"})
# worst first: what `raftkv check` exits with when files differ
_SEVERITY = (EXIT_VIOLATION, EXIT_BAD_INPUT, EXIT_UNKNOWN, EXIT_OK)


def worst_exit(codes: list[int]) -> int:
    """The exit status of several files: the worst of their statuses."""
    return min(codes, key=_SEVERITY.index, default=EXIT_OK)


def build_parser() -> argparse.ArgumentParser:
    p = OneLineArgumentParser(
        prog="raftkv check",
        description="Check histories for linearizability (and etcd revision order, watch and lease "
                    "guarantees). Keys are checked in parallel, each under its own budget; the first "
                    "key that fails decides its history.",
        epilog=f"Exit status: {EXIT_OK} linearizable, {EXIT_VIOLATION} not linearizable (or a "
               f"watch/lease violation), {EXIT_BAD_INPUT} bad input or usage, {EXIT_UNKNOWN} unknown "
               "(budget exhausted). With several files: the worst of these (violation, bad input, "
               "unknown, ok).")
    p.add_argument("files", nargs="+", metavar="FILE",
                   help="history files (raftkv JSON lines, Jepsen EDN, or Jepsen log lines), or the "
                        "folder of a saved test-cluster run")
    p.add_argument("--model", choices=[*sorted(MODELS), "auto"], default="auto",
                   help="model to check against (default: guessed from each file's operations)")
    p.add_argument("--format", choices=FORMATS, default="auto", dest="fmt",
                   help="input format (default: detected from the content)")
    p.add_argument("--html", metavar="OUT", help="also write a self-contained HTML report (one FILE only)")
    p.add_argument("--timeout", type=float, metavar="S", default=None,
                   help="search time per key in seconds (every search, the one explaining a failure "
                        "too); when it runs out the key's verdict is 'unknown'")
    p.add_argument("--max-steps", type=int, metavar="N", default=None,
                   help="search steps per key (deterministic alternative to --timeout)")
    p.add_argument("--workers", type=int, metavar="N", default=None,
                   help="processes to check keys in (default: all cores); verdicts do not depend on it")
    p.add_argument("--initial", metavar="VALUE", default=None,
                   help="initial value of the register/kv models, as JSON (e.g. 0, \"a\", '\"\"', null); "
                        "text that is not JSON is taken as a string")
    p.add_argument("--nil-reads", choices=["value", "unknown"], default=None,
                   help="a read returning null/nil: a real value, or 'unknown' (knossos); "
                        "default: unknown for EDN input, value for JSON lines and Jepsen logs")
    p.add_argument("--independent", choices=["auto", "yes", "no"], default="auto",
                   help="EDN: values are Jepsen independent [key value] tuples (default: detect)")
    p.add_argument("--no-watch", action="store_true", help="skip the watch guarantees")
    p.add_argument("--no-lease", action="store_true", help="skip the lease guarantees")
    p.add_argument("--lease-grace-ms", type=int, default=2000,
                   help="slack after a lease's TTL before it must be gone (default 2000)")
    p.add_argument("--lease-drift-ppm", type=int, default=0,
                   help="how fast or slow the leader's clock may run, in parts per million: "
                        "lease TTLs stretch or shrink by that much (default 0)")
    p.add_argument("--quiet", "-q", action="store_true", help="print only the verdict lines")
    return p


def _initial(text: str | None) -> Any:
    if text is None:
        return None
    try:
        from .history import freeze
        return freeze(json.loads(text))
    except (json.JSONDecodeError, RecursionError):
        return text


def pick_model(history: History, name: str, *, initial: Any = None, nil_unknown: bool = False) -> Model:
    fs = {op.f for op in history.operations}
    if name == "auto":
        if fs & _ETCD_F or history.watch_responses or any(
                op.revision is not None or op.mod_revision is not None for op in history.operations):
            name = "etcd"
        elif "append" in fs or ("get" in fs or "put" in fs):
            name = "kv"
        elif "cas" in fs:
            name = "cas-register"
        else:
            name = "register"
    if name == "register":
        return RegisterModel(initial, nil_read_is_unknown=nil_unknown)
    if name == "cas-register":
        return CASRegisterModel(initial, nil_read_is_unknown=nil_unknown)
    if name == "kv":
        return KVModel(initial)
    return EtcdModel()


def _usage_problem(args: argparse.Namespace) -> str | None:
    if args.lease_grace_ms < 0:
        return f"--lease-grace-ms must be >= 0 (got {args.lease_grace_ms})"
    if not 0 <= args.lease_drift_ppm < 1_000_000:
        return f"--lease-drift-ppm must be in [0, 1000000) (got {args.lease_drift_ppm})"
    if args.timeout is not None and not args.timeout >= 0:
        return f"--timeout must be a number of seconds >= 0 (got {args.timeout})"
    if args.max_steps is not None and args.max_steps < 1:
        return f"--max-steps must be >= 1 (got {args.max_steps})"
    if args.workers is not None and args.workers < 1:
        return f"--workers must be >= 1 (got {args.workers})"
    if args.html and len(args.files) > 1:
        return f"--html writes the report of one FILE (got {len(args.files)} files)"
    return None


class _Loaded:
    def __init__(self, path: str, history: History, model: Model,
                 fault_times_us: tuple[int, ...] | None = None) -> None:
        self.path = path
        self.history = history
        self.model = model
        self.fault_times_us = fault_times_us  # a test-cluster run's applied faults


def _fault_times_us(run_dir: str) -> tuple[int, ...]:
    """When the faults of a saved test-cluster run were applied (its ``schedule.json``)."""
    path = os.path.join(run_dir, "schedule.json")
    try:
        with open(path) as f:
            applied = json.load(f)["applied"]
        return tuple(int(a["time_us"]) for a in applied)
    except OSError as exc:
        raise HistoryFormatError(f"{path}: cannot read the run's schedule ({exc.strerror})") from None
    except (ValueError, KeyError, TypeError) as exc:
        raise HistoryFormatError(f"{path}: not a test-cluster schedule ({type(exc).__name__}: {exc})") from None


def _load(path: str, args: argparse.Namespace, independent: bool | None) -> _Loaded:
    fault_times_us: tuple[int, ...] | None = None
    history_path = path
    if os.path.isdir(path):
        history_path = os.path.join(path, "history.jsonl")
        fault_times_us = _fault_times_us(path)
    history, fmt = load_history(history_path, args.fmt, independent)
    nil_unknown = (args.nil_reads or ("unknown" if fmt == "edn" else "value")) == "unknown"
    model = pick_model(history, args.model, initial=_initial(args.initial), nil_unknown=nil_unknown)
    return _Loaded(path, history, model, fault_times_us)


def _other_violations(loaded: _Loaded, args: argparse.Namespace) -> list[Any]:
    if not isinstance(loaded.model, EtcdModel):
        return []
    from .revisions import check_revision_order

    violations: list[Any] = list(check_revision_order(loaded.history))
    if not args.no_watch:
        from .watch import check_watches

        violations.extend(check_watches(loaded.history))
    if not args.no_lease:
        from .lease import FAULT_RESET_EXTENSION_US, check_leases

        resets = loaded.fault_times_us or ()
        violations.extend(check_leases(loaded.history, expiry_grace_us=args.lease_grace_ms * 1000,
                                       clock_drift_ppm=args.lease_drift_ppm,
                                       lease_resets_us=resets, quorum_regained_us=resets,
                                       reset_extension_us=FAULT_RESET_EXTENSION_US if resets else 0))
    return violations


def _report(loaded: _Loaded, result: LinearizabilityResult, args: argparse.Namespace, prefix: str,
            out: TextIO) -> int:
    violations = _other_violations(loaded, args)
    n_ops = len(result.operations) - len(result.excluded)
    checked = "" if len(result.per_key) == result.keys else f" ({len(result.per_key)} checked)"
    print(f"{prefix}{result.verdict}: {n_ops} operations, {result.keys} key(s){checked}, model "
          f"{loaded.model.name}, {result.steps} steps, {result.elapsed_s:.3f} s"
          + (f"; {len(violations)} revision/watch/lease violation(s)" if violations else ""), file=out)
    if not args.quiet:
        if result.verdict != "ok":
            print(result.explanation, file=out)
        for v in violations:
            print(str(v), file=out)
        for note in loaded.history.notes[:20]:
            print(f"note: {note}", file=out)
    if args.html:
        from .report import render_html

        render_html(loaded.history, result, args.html, model=loaded.model)
    if result.verdict == "fail" or violations:
        return EXIT_VIOLATION
    if result.verdict == "unknown":
        return EXIT_UNKNOWN
    return EXIT_OK


def main(argv: list[str], *, stdout: TextIO | None = None, stderr: TextIO | None = None) -> int:
    out = stdout or sys.stdout
    err = stderr or sys.stderr
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exc:  # --help (0) or a usage error
        return EXIT_OK if exc.code in (0, None) else EXIT_BAD_INPUT
    problem = _usage_problem(args)
    if problem:
        print(f"raftkv check: {problem}", file=err)
        return EXIT_BAD_INPUT
    from .tasks import default_workers, run_tasks

    independent = {"auto": None, "yes": True, "no": False}[args.independent]
    many = len(args.files) > 1
    codes: dict[int, int] = {}
    loaded: dict[int, _Loaded] = {}
    errors: dict[int, str] = {}
    tasks = []
    for i, path in enumerate(args.files):
        try:
            item = _load(path, args, independent)
            tasks.extend(key_tasks(i, item.history.operations, item.model,
                                   timeout_s=args.timeout, max_steps=args.max_steps))
        except (HistoryFormatError, ModelError) as exc:
            errors[i] = str(exc)
            continue
        loaded[i] = item
    results = run_tasks(tasks, workers=args.workers or default_workers())
    by_file: dict[int, list[Any]] = {i: [] for i in loaded}
    for group, res in results:
        by_file[group].append(res)
    for i, path in enumerate(args.files):
        if i in errors:
            print(f"raftkv check: bad input: {errors[i]}", file=err)
            if many:
                print(f"{path}: bad input", file=out)
            codes[i] = EXIT_BAD_INPUT
            continue
        item = loaded[i]
        res_list = by_file[i]
        result = result_of(item.history.operations, item.model, res_list,
                           sum(r.search_s for r in res_list))
        codes[i] = _report(item, result, args, f"{item.path}: " if many else "", out)
    if many:
        counts = {name: sum(1 for c in codes.values() if c == code) for name, code in (
            ("ok", EXIT_OK), ("violated", EXIT_VIOLATION), ("unknown", EXIT_UNKNOWN),
            ("bad input", EXIT_BAD_INPUT))}
        print(f"{len(args.files)} files: " + ", ".join(f"{n} {name}" for name, n in counts.items()), file=out)
    return worst_exit(list(codes.values()))
