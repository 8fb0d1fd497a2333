"""``raftkv check FILE``: check a history from the command line.

Exit status (raftkv.exit_status): 0 linearizable (and no revision-order, watch or lease
violation), 1 not linearizable or a violation, 2 bad input or usage (one-line reason),
3 unknown (the time budget ran out).
"""

from __future__ import annotations

import argparse
import json
import pathlib
import sys
from typing import Any, TextIO

from raftkv.exit_status import (
    EXIT_BAD_INPUT,
    EXIT_OK,
    EXIT_UNKNOWN,
    EXIT_VIOLATION,
    OneLineArgumentParser,
)

from .edn import looks_like_edn, parse_edn
from .history import History, HistoryFormatError, make_history, read_jsonl
from .lease import check_leases
from .linearizability import check_linearizable
from .models import MODELS, CASRegisterModel, EtcdModel, KVModel, Model, ModelError, RegisterModel
from .report import render_html
from .revisions import check_revision_order
from .watch import check_watches

__all__ = ["build_parser", "load_history", "main", "pick_model"]

_ETCD_F = frozenset({"stale_get", "delete", "txn", "lease_grant", "lease_keepalive", "lease_revoke",
                     "compact"})


def build_parser() -> argparse.ArgumentParser:
    p = OneLineArgumentParser(
        prog="raftkv check",
        description="Check a history for linearizability (and etcd watch/lease guarantees).",
        epilog="Exit status: 0 linearizable, 1 not linearizable (or a watch/lease violation), "
               "2 bad input or usage, 3 unknown (budget exhausted).")
    p.add_argument("file", help="history file (raftkv JSON lines or Jepsen EDN)")
    p.add_argument("--model", choices=[*sorted(MODELS), "auto"], default="auto",
                   help="model to check against (default: guessed from the operations)")
    p.add_argument("--format", choices=["auto", "jsonl", "edn"], default="auto", dest="fmt",
                   help="input format (default: detected from the content)")
    p.add_argument("--html", metavar="OUT", help="also write a self-contained HTML report")
    p.add_argument("--timeout", type=float, metavar="S", default=None,
                   help="time budget in seconds; when it runs out the verdict is 'unknown'")
    p.add_argument("--max-steps", type=int, metavar="N", default=None,
                   help="search-step budget (deterministic alternative to --timeout)")
    p.add_argument("--initial", metavar="VALUE", default=None,
                   help="initial value of the register/kv models, as JSON (e.g. 0, \"a\", null); "
                        "text that is not JSON is taken as a string")
    p.add_argument("--nil-reads", choices=["value", "unknown"], default=None,
                   help="a read returning null/nil: a real value, or 'unknown' (knossos); "
                        "default: unknown for EDN input, value for JSON lines")
    p.add_argument("--independent", choices=["auto", "yes", "no"], default="auto",
                   help="EDN: values are Jepsen independent [key value] tuples (default: detect)")
    p.add_argument("--no-watch", action="store_true", help="skip the watch guarantees")
    p.add_argument("--no-lease", action="store_true", help="skip the lease guarantees")
    p.add_argument("--lease-grace-ms", type=int, default=2000,
                   help="slack after a lease's TTL before it must be gone (default 2000)")
    p.add_argument("--lease-drift-ppm", type=int, default=0,
                   help="how fast or slow the leader's clock may run, in parts per million: "
                        "lease TTLs stretch or shrink by that much (default 0)")
    p.add_argument("--quiet", "-q", action="store_true", help="print only the verdict line")
    return p


def load_history(path: str, fmt: str = "auto", independent: bool | None = None) -> tuple[History, str]:
    """Read ``path``; return the history and the format used."""
    p = pathlib.Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise HistoryFormatError(f"{p}: cannot read ({exc.strerror})") from None
    except UnicodeDecodeError:
        raise HistoryFormatError(f"{p}: not UTF-8 text") from None
    if fmt == "auto":
        fmt = "edn" if looks_like_edn(text) else "jsonl"
    if fmt == "edn":
        hist = parse_edn(text, p.name, independent=independent)
    else:
        hist = make_history(read_jsonl(text.splitlines(), p.name))
    if not hist.records:
        raise HistoryFormatError(f"{p}: no history records")
    return hist, fmt


def _initial(text: str | None) -> Any:
    if text is None:
        return None
    try:
        from .history import freeze
        return freeze(json.loads(text))
    except json.JSONDecodeError:
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


def main(argv: list[str], *, stdout: TextIO | None = None, stderr: TextIO | None = None) -> int:
    out = stdout or sys.stdout
    err = stderr or sys.stderr
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exc:  # --help (0) or a one-line usage error
        return EXIT_OK if exc.code in (0, None) else EXIT_BAD_INPUT
    if args.lease_grace_ms < 0 or not 0 <= args.lease_drift_ppm < 1_000_000:
        print(f"raftkv check: --lease-grace-ms must be >= 0 (got {args.lease_grace_ms}) and "
              f"--lease-drift-ppm in [0, 1000000) (got {args.lease_drift_ppm})", file=err)
        return EXIT_BAD_INPUT
    independent = {"auto": None, "yes": True, "no": False}[args.independent]
    try:
        history, fmt = load_history(args.file, args.fmt, independent)
        nil_unknown = (args.nil_reads or ("unknown" if fmt == "edn" else "value")) == "unknown"
        model = pick_model(history, args.model, initial=_initial(args.initial), nil_unknown=nil_unknown)
        result = check_linearizable(history, model, timeout_s=args.timeout, max_steps=args.max_steps)
    except (HistoryFormatError, ModelError) as exc:
        print(f"raftkv check: unreadable input: {exc}", file=err)
        return EXIT_BAD_INPUT
    violations = []
    if isinstance(model, EtcdModel):
        violations.extend(check_revision_order(history))
        if not args.no_watch:
            violations.extend(check_watches(history))
        if not args.no_lease:
            violations.extend(check_leases(history, expiry_grace_us=args.lease_grace_ms * 1000,
                                           clock_drift_ppm=args.lease_drift_ppm))
    n_ops = len(result.operations) - len(result.excluded)
    print(f"{result.verdict}: {n_ops} operations, {len(result.per_key)} key(s), model {model.name}, "
          f"{result.steps} steps, {result.elapsed_s:.3f} s"
          + (f"; {len(violations)} revision/watch/lease violation(s)" if violations else ""), file=out)
    if not args.quiet:
        if result.verdict != "ok":
            print(result.explanation, file=out)
        for v in violations:
            print(str(v), file=out)
        for note in history.notes[:20]:
            print(f"note: {note}", file=out)
    if args.html:
        render_html(history, result, args.html, model=model)
    if result.verdict == "fail" or violations:
        return EXIT_VIOLATION
    if result.verdict == "unknown":
        return EXIT_UNKNOWN
    return EXIT_OK
