"""The trace: every delivered or dropped message, timer, fault and recorded state change.

Events are stored as they happen and rendered only when asked for, so tracing costs
one tuple per event.  :meth:`Trace.hash` is stable across processes and
``PYTHONHASHSEED`` values as long as the recorded values have deterministic ``repr``
(ints, strings, tuples, attrs values; never sets).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from typing import Any, NamedTuple

__all__ = ["Trace", "TraceEvent", "format_time_us"]


class TraceEvent(NamedTuple):
    time_us: int
    node: str
    kind: str
    fields: dict[str, Any]

    def render(self) -> str:
        parts = " ".join(f"{k}={_fmt(v)}" for k, v in sorted(self.fields.items()))
        return f"{format_time_us(self.time_us)}  {self.node:<6} {self.kind:<18} {parts}".rstrip()


def _fmt(value: Any) -> str:
    if isinstance(value, str):
        return value if value and " " not in value else repr(value)
    return repr(value)


def format_time_us(time_us: int) -> str:
    """``12.345678s`` style: seconds with microsecond precision."""
    sign = "-" if time_us < 0 else ""
    t = abs(time_us)
    return f"{sign}{t // 1_000_000:>4}.{t % 1_000_000:06d}s"


class Trace:
    """An append-only list of :class:`TraceEvent`, with subscribers."""

    def __init__(self) -> None:
        self.events: list[TraceEvent] = []
        self._subscribers: list[Callable[[TraceEvent], None]] = []

    def subscribe(self, callback: Callable[[TraceEvent], None]) -> None:
        self._subscribers.append(callback)

    def add(self, time_us: int, node: str, kind: str, fields: dict[str, Any]) -> None:
        event = TraceEvent(time_us, node, kind, fields)
        self.events.append(event)
        for callback in self._subscribers:
            callback(event)

    def __len__(self) -> int:
        return len(self.events)

    def __iter__(self) -> Iterator[TraceEvent]:
        return iter(self.events)

    def lines(self) -> Iterator[str]:
        for event in self.events:
            yield event.render()

    def render(self, tail: int | None = None, kinds: tuple[str, ...] | None = None) -> str:
        """The timeline as text; ``tail`` keeps the last N events, ``kinds`` filters by prefix."""
        events = self.events
        if kinds is not None:
            events = [e for e in events if e.kind.startswith(kinds)]
        if tail is not None:
            events = events[-tail:] if tail > 0 else []
        return "\n".join(e.render() for e in events)

    def hash(self) -> str:
        """A stable hex digest of the whole rendered trace."""
        digest = hashlib.sha256()
        for line in self.lines():
            digest.update(line.encode())
            digest.update(b"\n")
        return digest.hexdigest()
