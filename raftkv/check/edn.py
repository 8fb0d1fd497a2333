"""Reading Jepsen-style EDN histories.

Accepted: one operation map per line, or all maps in one vector (or list), e.g.
``{:process 0, :type :invoke, :f :write, :value 3, :time 1200}``.  Keywords become
strings (``:write`` -> ``"write"``), vectors become tuples, ``:time`` (nanoseconds)
becomes ``time_us``.  Operations of non-integer processes (``:nemesis``) are
skipped.  Keys come from ``:key`` or from Jepsen's ``independent`` tuples
(``:value [k v]``), which are detected when every client operation's value is such a
pair (see docs/history-format.md).
"""

from __future__ import annotations

import pathlib
import re
from typing import Any

import edn_format

from .history import EVENT_TYPES, History, HistoryEvent, HistoryFormatError, make_history

__all__ = ["looks_like_edn", "parse_edn", "read_edn"]

def _plain(v: Any) -> Any:
    if isinstance(v, edn_format.Keyword):
        return v.name
    if isinstance(v, edn_format.Symbol):
        return str(v)
    if isinstance(v, list | tuple | edn_format.ImmutableList):
        return tuple(_plain(x) for x in v)
    if isinstance(v, dict | edn_format.ImmutableDict):
        return tuple(sorted((str(_plain(k)), _plain(x)) for k, x in v.items()))
    if isinstance(v, frozenset | set):
        return tuple(sorted((_plain(x) for x in v), key=repr))
    return v


def _maps(text: str, name: str) -> list[tuple[int, dict[str, Any]]]:
    # Jepsen records print as #jepsen.history.Op{...}: strip the tag, keep the map.
    text = re.sub(r"#[A-Za-z_][\w.\-]*(?=\{)", "", text)
    try:
        forms = edn_format.loads_all(text)
    except (edn_format.EDNDecodeError, NotImplementedError) as exc:
        raise HistoryFormatError(f"{name}: invalid EDN ({exc})") from None
    if len(forms) == 1 and isinstance(forms[0], list | tuple | edn_format.ImmutableList):
        forms = list(forms[0])
    out = []
    for i, form in enumerate(forms):
        if not isinstance(form, dict | edn_format.ImmutableDict):
            raise HistoryFormatError(f"{name}: form {i + 1} is not an operation map: {str(form)[:60]}")
        m = {}
        for k, v in form.items():
            key = k.name if isinstance(k, edn_format.Keyword) else str(k)
            m[key] = v
        out.append((i + 1, m))
    return out


def _is_pair(v: Any) -> bool:
    return isinstance(v, tuple) and len(v) == 2


def parse_edn(text: str, name: str = "history", *, independent: bool | None = None) -> History:
    """Parse an EDN history; ``independent`` None detects ``[k v]`` values."""
    raw: list[tuple[int, dict[str, Any]]] = []
    for i, m in _maps(text, name):
        proc = m.get("process")
        if isinstance(proc, bool) or not isinstance(proc, int):
            continue  # nemesis and other non-client processes
        raw.append((i, m))
    converted = []
    for i, m in raw:
        where = f"{name}: form {i}"
        typ = _plain(m.get("type"))
        if typ not in EVENT_TYPES:
            raise HistoryFormatError(f"{where}: :type must be :invoke/:ok/:fail/:info, got {typ!r}")
        f = _plain(m.get("f"))
        if not isinstance(f, str) or not f:
            raise HistoryFormatError(f"{where}: :f must be a keyword, got {f!r}")
        t = m.get("time")
        if t is not None and (isinstance(t, bool) or not isinstance(t, int)):
            raise HistoryFormatError(f"{where}: :time must be an integer (nanoseconds), got {t!r}")
        key = _plain(m.get("key"))
        if key is not None and not isinstance(key, str | int):
            key = repr(key)
        err = m.get("error")
        converted.append(dict(type=typ, process=m["process"], f=f, key=key,
                              value=_plain(m.get("value")),
                              time_us=None if t is None else t // 1000,
                              error=None if err is None else str(_plain(err))))
    if independent is None:
        client = [c for c in converted if c["key"] is None]
        considered = [c for c in client if c["value"] is not None or c["type"] == "invoke"]
        independent = bool(considered) and all(
            _is_pair(c["value"]) and (c["f"] != "cas" or c["type"] != "invoke" or _is_pair(c["value"][1]))
            for c in considered)
    if independent:
        for c in converted:
            if c["key"] is None and _is_pair(c["value"]):
                k, v = c["value"]
                c["key"] = k if isinstance(k, str | int) else repr(k)
                c["value"] = v
    return make_history(HistoryEvent(**c) for c in converted)


def read_edn(path: str | pathlib.Path, *, independent: bool | None = None) -> History:
    p = pathlib.Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise HistoryFormatError(f"{p}: cannot read ({exc.strerror})") from None
    except UnicodeDecodeError:
        raise HistoryFormatError(f"{p}: not UTF-8 text") from None
    return parse_edn(text, p.name, independent=independent)


def looks_like_edn(text: str) -> bool:
    """Format sniffing: EDN maps start with ``{:`` (or a vector ``[{:``)."""
    s = text.lstrip()
    return s.startswith("{:") or (s.startswith("[") and s[1:].lstrip().startswith("{:")) or s.startswith("#")
