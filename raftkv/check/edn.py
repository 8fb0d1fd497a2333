"""Reading Jepsen-style EDN histories.

Accepted: one operation map per line, or all maps in one vector (or list), e.g.
``{:process 0, :type :invoke, :f :write, :value 3, :time 1200}``; ``;`` comments and
``#_`` discards anywhere.  Keywords become strings (``:write`` -> ``"write"``), vectors
and lists become tuples, maps nested in values become sorted ``(key, value)`` tuples,
``:time`` (nanoseconds) becomes ``time_us``.  Tags (``#jepsen.history.Op{...}``,
``#inst "..."``) are dropped and the tagged form kept.  Operations of non-integer
processes (``:nemesis``) are skipped.  Keys come from ``:key`` or from Jepsen's
``independent`` tuples (``:value [k v]``), which are detected when every client
operation's value is such a pair (see docs/history-format.md).

The reader is iterative (no recursion, so no depth a file can overflow; values nested
deeper than :data:`MAX_DEPTH` are refused) and reports errors by line and column.
"""

from __future__ import annotations

import pathlib
import re
from typing import Any

from .history import EVENT_TYPES, History, HistoryEvent, HistoryFormatError, make_history

__all__ = ["MAX_DEPTH", "looks_like_edn", "parse_edn", "read_edn", "read_forms"]

MAX_DEPTH = 100  # nesting of collections; Jepsen operations use a handful

_TOKEN = re.compile(r"""
  (?P<ws>(?:[\s,]+|;[^\n]*)+)
| (?P<str>"(?:[^"\\]|\\.)*")
| (?P<open>\#\{|[\[({])
| (?P<close>[\])}])
| (?P<discard>\#_)
| (?P<tag>\#[A-Za-z][^\s,;"\[\](){}\\#]*)
| (?P<char>\\(?:newline|space|tab|return|backspace|formfeed|u[0-9a-fA-F]{4}|[^\s,]))
| (?P<atom>[^\s,;"\[\](){}\\\#][^\s,;"\[\](){}\\]*)
""", re.X | re.S)
_INT = re.compile(r"[+-]?\d+N?")
_FLOAT = re.compile(r"[+-]?\d+(?:\.\d*)?(?:[eE][+-]?\d+)?M?")
_RATIO = re.compile(r"([+-]?\d+)/(\d+)")
_CHARS = {"newline": "\n", "space": " ", "tab": "\t", "return": "\r", "backspace": "\b", "formfeed": "\f"}
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "b": "\b", "f": "\f", '"': '"', "\\": "\\", "/": "/"}
_ESCAPE = re.compile(r"\\(u[0-9a-fA-F]{4}|.)", re.S)
_CLOSER = {"(": ")", "[": "]", "{": "}", "#{": "}"}
# One flat operation map on a line (simple values, or vectors of them): the common
# case, read by regular expressions without the general parser.
_SIMPLE = r'(?:nil|true|false|-?\d+|"[^"\\]*"|:[A-Za-z][\w.\-/?!*+]*)(?=[\s,}\]])'
_SIMPLE_RE = re.compile(_SIMPLE)
_FLAT_VALUE = r"(?:" + _SIMPLE + r"|\[[\s,]*(?:" + _SIMPLE + r"[\s,]*)*\](?=[\s,}]))"
_FLAT_MAP = re.compile(r"\{[\s,]*(?::[a-z][\w\-]*\s+" + _FLAT_VALUE + r"[\s,]*)*\}")
_FLAT_PAIR = re.compile(r":([a-z][\w\-]*)\s+(" + _FLAT_VALUE + r")")


class EdnMap(tuple):  # type: ignore[type-arg]
    """An EDN map as a value: its ``(key, value)`` pairs sorted by key (hashable)."""

    __slots__ = ()


def _where(text: str, pos: int) -> str:
    line = text.count("\n", 0, pos) + 1
    col = pos - (text.rfind("\n", 0, pos) + 1) + 1
    return f"line {line}, column {col}"


def _unescape(body: str) -> str:
    def sub(m: re.Match[str]) -> str:
        e = m.group(1)
        if len(e) == 5:
            return chr(int(e[1:], 16))
        return _ESCAPES.get(e, e)
    return _ESCAPE.sub(sub, body) if "\\" in body else body


def _atom(tok: str) -> Any:
    if tok[0] == ":":
        return tok[1:]
    if tok == "nil":
        return None
    if tok == "true":
        return True
    if tok == "false":
        return False
    if tok[0].isdigit() or (len(tok) > 1 and tok[0] in "+-" and tok[1].isdigit()):
        if _INT.fullmatch(tok):
            return int(tok.rstrip("N"))
        if _FLOAT.fullmatch(tok):
            return float(tok.rstrip("M"))
        m = _RATIO.fullmatch(tok)
        if m and int(m.group(2)) != 0:
            return int(m.group(1)) / int(m.group(2))
        raise ValueError(f"not a number: {tok!r}")
    return tok  # a symbol


def _map_key(k: Any) -> Any:
    return (type(k).__name__, repr(k))


def _build(opener: str, items: list[Any]) -> Any:
    if opener == "{":
        return EdnMap(sorted(zip(items[::2], items[1::2], strict=True), key=lambda kv: _map_key(kv[0])))
    if opener == "#{":
        return tuple(sorted(items, key=repr))
    return tuple(items)


def read_forms(text: str, name: str = "history") -> list[tuple[int, Any]]:
    """All top-level forms of ``text`` with their start offsets.  Raises
    :class:`HistoryFormatError` naming the line and column of what is wrong."""
    # frames: [opener, items, start offset]; pending prefixes: ("#_" | "#tag", offset)
    top: list[Any] = []
    starts: list[int] = []
    stack: list[tuple[str, list[Any], int]] = []
    prefixes: list[list[tuple[str, int]]] = [[]]
    pos, end = 0, len(text)
    match = _TOKEN.match

    def emit(value: Any, at: int) -> None:
        pending = prefixes[-1]
        while pending:
            kind, _ = pending.pop()
            if kind == "#_":
                return
        if stack:
            stack[-1][1].append(value)
        else:
            top.append(value)
            starts.append(at)

    while pos < end:
        m = match(text, pos)
        if m is None:
            if text[pos] == '"':
                raise HistoryFormatError(f"{name}: invalid EDN at {_where(text, pos)}: unterminated string")
            raise HistoryFormatError(f"{name}: invalid EDN at {_where(text, pos)}: unexpected {text[pos]!r}")
        kind = m.lastgroup
        tok = m.group()
        start = pos
        pos = m.end()
        if kind == "ws":
            continue
        if kind == "open":
            if len(stack) >= MAX_DEPTH:
                raise HistoryFormatError(f"{name}: invalid EDN at {_where(text, start)}: "
                                         f"values nested deeper than {MAX_DEPTH} levels")
            stack.append((tok, [], start))
            prefixes.append([])
        elif kind == "close":
            if not stack:
                raise HistoryFormatError(f"{name}: invalid EDN at {_where(text, start)}: unexpected {tok!r}")
            opener, items, at = stack[-1]
            if _CLOSER[opener] != tok:
                raise HistoryFormatError(f"{name}: invalid EDN at {_where(text, start)}: {tok!r} closes "
                                         f"{opener!r} opened at {_where(text, at)}")
            if prefixes[-1]:
                raise HistoryFormatError(f"{name}: invalid EDN at {_where(text, start)}: "
                                         f"{prefixes[-1][-1][0]} is not followed by a value")
            if opener == "{" and len(items) % 2:
                raise HistoryFormatError(f"{name}: invalid EDN at {_where(text, at)}: "
                                         "a map needs an even number of forms (a key without a value)")
            stack.pop()
            prefixes.pop()
            emit(_build(opener, items), at)
        elif kind in ("discard", "tag"):
            prefixes[-1].append((tok if kind == "discard" else "#tag", start))
        elif kind == "str":
            emit(_unescape(tok[1:-1]), start)
        elif kind == "char":
            body = tok[1:]
            emit(_CHARS.get(body, chr(int(body[1:], 16)) if len(body) == 5 and body[0] == "u" else body), start)
        else:
            try:
                emit(_atom(tok), start)
            except ValueError as exc:
                raise HistoryFormatError(f"{name}: invalid EDN at {_where(text, start)}: {exc}") from None
    if stack:
        opener, _, at = stack[-1]
        raise HistoryFormatError(f"{name}: invalid EDN at {_where(text, at)}: {opener!r} is never closed")
    if prefixes[-1]:
        kind, at = prefixes[-1][-1]
        raise HistoryFormatError(f"{name}: invalid EDN at {_where(text, at)}: {kind} is not followed by a value")
    return list(zip(starts, top, strict=True))


def _simple(tok: str) -> Any:
    return tok[1:-1] if tok[0] == '"' else _atom(tok)


_MISS = object()


def _flat_line(line: str, cache: dict[str, Any]) -> dict[str, Any] | None:
    """A line holding one flat map of simple values (the usual Jepsen history line),
    read by two regular expressions; None: anything else (the general reader decides).
    ``cache`` maps value texts already read to their values."""
    if _FLAT_MAP.fullmatch(line) is None:
        return None
    out = {}
    for k, v in _FLAT_PAIR.findall(line):
        x = cache.get(v, _MISS)
        if x is _MISS:
            x = tuple(_simple(t) for t in _SIMPLE_RE.findall(v)) if v[0] == "[" else _simple(v)
            cache[v] = x
        out[k] = x
    return out


def _forms(text: str, name: str) -> list[tuple[str, Any]]:
    """(where, form) for each top-level form (a flat line's map as a dict of plain
    values); a single top-level collection of maps is unwrapped."""
    out: list[tuple[str, Any]] = []
    fast = True
    cache: dict[str, Any] = {}
    for lineno, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line[0] == ";":
            continue
        m = _flat_line(line, cache)
        if m is None:
            fast = False
            break
        out.append((f"{name}:{lineno}", m))
    if fast:
        return out
    forms = read_forms(text, name)
    if len(forms) == 1 and isinstance(forms[0][1], tuple) and not isinstance(forms[0][1], EdnMap):
        at = forms[0][0]
        return [(f"{name}: form {i + 1} of the collection at {_where(text, at)}", f)
                for i, f in enumerate(forms[0][1])]
    return [(f"{name}: {_where(text, at)}", f) for at, f in forms]


def _is_pair(v: Any) -> bool:
    return isinstance(v, tuple) and not isinstance(v, EdnMap) and len(v) == 2


def _plain(v: Any) -> Any:
    """Maps become plain sorted pair tuples (iteratively: values may nest)."""
    if not isinstance(v, tuple):
        return v
    if isinstance(v, EdnMap):
        return tuple((str(k), _plain(x)) for k, x in v)
    return tuple(_plain(x) for x in v)


def parse_edn(text: str, name: str = "history", *, independent: bool | None = None) -> History:
    """Parse an EDN history; ``independent`` None detects ``[k v]`` values."""
    converted = []
    for where, form in _forms(text, name):
        if isinstance(form, dict):
            m = form
        elif isinstance(form, EdnMap):
            m = {str(k): v for k, v in form}
        else:
            raise HistoryFormatError(f"{where}: not an operation map: {str(form)[:60]}")
        proc = m.get("process")
        if isinstance(proc, bool) or not isinstance(proc, int):
            continue  # nemesis and other non-client processes
        typ = m.get("type")
        if typ not in EVENT_TYPES:
            raise HistoryFormatError(f"{where}: :type must be :invoke/:ok/:fail/:info, got {typ!r}")
        f = m.get("f")
        if not isinstance(f, str) or not f:
            raise HistoryFormatError(f"{where}: :f must be a keyword, got {f!r}")
        t = m.get("time")
        if t is not None and (isinstance(t, bool) or not isinstance(t, int)):
            raise HistoryFormatError(f"{where}: :time must be an integer (nanoseconds), got {t!r}")
        key = _plain(m.get("key"))
        if key is not None and not isinstance(key, str | int):
            key = repr(key)
        err = m.get("error")
        converted.append(dict(type=typ, process=proc, f=f, key=key, value=_plain(m.get("value")),
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
    """Format sniffing on the first significant line (``;`` comment lines skipped):
    EDN starts with ``{:``, ``[``, ``(``, or a ``#`` tag/set/discard; a JSON-lines file
    with ``{"`` (or a ``# comment`` line)."""
    for raw in text.splitlines():
        s = raw.strip()
        if not s or s[0] == ";":
            continue
        if s[0] in "[(":
            return True
        if s[0] == "{":
            return s[1:].lstrip()[:1] in (":", "}", "")
        if s[0] == "#":
            return s[1:2].isalpha() or s[1:2] in ("{", "_")
        return False
    return False
