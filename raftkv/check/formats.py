"""Reading a history file in any of the formats ``raftkv check`` knows.

``jsonl`` (raftkv's JSON lines), ``edn`` (Jepsen/knossos EDN, also porcupine's kv
histories) and ``jepsen-log`` (the ``jepsen.util`` operation lines of a Jepsen log, as in
porcupine's etcd test data); ``auto`` tells them apart by the content.
"""

from __future__ import annotations

import pathlib

from .history import History, HistoryFormatError, make_history, read_jsonl

__all__ = ["FORMATS", "detect_format", "load_history", "parse_history"]

FORMATS = ("auto", "jsonl", "edn", "jepsen-log")


def detect_format(text: str) -> str:
    from .edn import looks_like_edn

    if looks_like_edn(text):
        return "edn"
    from .jepsenlog import looks_like_jepsen_log

    return "jepsen-log" if looks_like_jepsen_log(text) else "jsonl"


def parse_history(text: str, name: str, fmt: str = "auto", independent: bool | None = None) -> tuple[History, str]:
    """Parse ``text``; return the history and the format used."""
    assert fmt in FORMATS, fmt
    if fmt == "auto":
        fmt = detect_format(text)
    if fmt == "edn":
        from .edn import parse_edn

        return parse_edn(text, name, independent=independent), fmt
    if fmt == "jepsen-log":
        from .jepsenlog import parse_jepsen_log

        return parse_jepsen_log(text, name), fmt
    return make_history(read_jsonl(text.splitlines(), name)), fmt


def load_history(path: str, fmt: str = "auto", independent: bool | None = None) -> tuple[History, str]:
    """Read the file at ``path``; return the history and the format used.  Every
    problem is a :class:`HistoryFormatError` with a one-line reason."""
    p = pathlib.Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise HistoryFormatError(f"{p}: cannot read ({exc.strerror})") from None
    except UnicodeDecodeError:
        raise HistoryFormatError(f"{p}: not UTF-8 text") from None
    return parse_history(text, p.name, fmt, independent)
