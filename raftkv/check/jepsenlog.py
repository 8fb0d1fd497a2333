"""Reading the operation lines of a Jepsen test log (``jepsen.util`` lines).

Older Jepsen tests (the etcd and Raft tests of 2014-2015, whose logs serve as public
test data for linearizability checkers) log each operation as a line such as::

    INFO  jepsen.util - 3	:invoke	:cas	[1 4]
    INFO  jepsen.util - 3	:fail	:cas	[1 4]
    INFO  jepsen.util - 4	:info	:write	:timed-out

that is: anything (a timestamp, a level), ``jepsen.util -``, the process, the type,
``:f`` and the value as EDN.  Other lines of the log are skipped.  Conventions of these
logs, which the reader follows: a ``:fail`` ``:cas`` is a compare that did not hold (it
happened and changed nothing: ``ok`` with ``succeeded: false``); a keyword value on a
``:fail``/``:info`` completion (``:timed-out``) is the error, not a value; ``:fail``
reads did not happen; processes that are not integers (``:nemesis``) are skipped.
"""

from __future__ import annotations

import re
from typing import Any

from .edn import read_forms
from .history import EVENT_TYPES, History, HistoryEvent, HistoryFormatError, make_history

__all__ = ["looks_like_jepsen_log", "parse_jepsen_log"]

_LINE = re.compile(r"jepsen\.util\s+-\s+(\S+)\s+:(\S+)\s+:(\S+)\s*(.*?)\s*$")
_INT = re.compile(r"-?\d+")
_PAIR = re.compile(r"\[\s*(-?\d+)[\s,]+(-?\d+)\s*\]")


def looks_like_jepsen_log(text: str) -> bool:
    """Whether one of the first 50 non-blank lines is a ``jepsen.util`` operation line."""
    seen = 0
    for line in text.splitlines():
        if not line.strip():
            continue
        if _LINE.search(line) and ":invoke" in line:
            return True
        seen += 1
        if seen >= 50:
            break
    return False


def _value(text: str, where: str) -> Any:
    if text in ("", "nil"):
        return None
    if _INT.fullmatch(text):
        return int(text)
    m = _PAIR.fullmatch(text)
    if m:
        return (int(m.group(1)), int(m.group(2)))
    forms = read_forms(text, where)
    if len(forms) != 1:
        raise HistoryFormatError(f"{where}: expected one EDN value after :f, got {text[:40]!r}")
    from .edn import _plain

    return _plain(forms[0][1])


def parse_jepsen_log(text: str, name: str = "history") -> History:
    """The client operations of a Jepsen log as a history."""
    events: list[HistoryEvent] = []
    for lineno, line in enumerate(text.splitlines(), 1):
        m = _LINE.search(line)
        if m is None:
            continue
        where = f"{name}:{lineno}"
        proc_text, typ, f, rest = m.groups()
        if not _INT.fullmatch(proc_text):
            continue  # :nemesis and other non-client processes
        if typ not in EVENT_TYPES:
            raise HistoryFormatError(f"{where}: type must be :invoke/:ok/:fail/:info, got :{typ}")
        raw = rest.strip()
        error = None
        if typ in ("fail", "info") and raw.startswith(":"):
            error, value = raw[1:], None
        else:
            value = _value(raw, where)
        succeeded = None
        if f == "cas" and typ == "fail" and error is None:
            typ, succeeded = "ok", False  # the compare did not hold
        events.append(HistoryEvent(type=typ, process=int(proc_text), f=f, value=value,  # type: ignore[arg-type]
                                   succeeded=succeeded, error=error))
    return make_history(events)
