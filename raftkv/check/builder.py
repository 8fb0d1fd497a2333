"""Building histories in code (clients recording a run, tests)."""

from __future__ import annotations

import pathlib
from typing import IO, Any

from .history import (
    History,
    HistoryEvent,
    Key,
    Process,
    Record,
    WatchEvent,
    WatchOpen,
    WatchResponse,
    freeze,
    make_history,
    write_jsonl,
)

__all__ = ["HistoryBuilder"]


class HistoryBuilder:
    """Append records in real-time order; ``time_us`` defaults to a counter.

    Example: ``b.invoke(0, "put", "k", "v")`` then ``b.ok(0, "put", "k", "v", revision=2)``.
    """

    def __init__(self) -> None:
        self.records: list[Record] = []
        self._clock_us = 0

    def _time(self, time_us: int | None) -> int:
        if time_us is None:
            self._clock_us += 1
            return self._clock_us
        self._clock_us = max(self._clock_us, time_us)
        return time_us

    def event(self, type: str, process: Process, f: str, key: Key | None = None, value: Any = None,
              *, time_us: int | None = None, **results: Any) -> HistoryEvent:
        ev = HistoryEvent(type=type, process=process, f=f, key=key,  # type: ignore[arg-type]
                          value=freeze(value), time_us=self._time(time_us), **results)
        self.records.append(ev)
        return ev

    def invoke(self, process: Process, f: str, key: Key | None = None, value: Any = None,
               **kw: Any) -> HistoryEvent:
        return self.event("invoke", process, f, key, value, **kw)

    def ok(self, process: Process, f: str, key: Key | None = None, value: Any = None,
           **kw: Any) -> HistoryEvent:
        return self.event("ok", process, f, key, value, **kw)

    def fail(self, process: Process, f: str, key: Key | None = None, value: Any = None,
             **kw: Any) -> HistoryEvent:
        return self.event("fail", process, f, key, value, **kw)

    def info(self, process: Process, f: str, key: Key | None = None, value: Any = None,
             **kw: Any) -> HistoryEvent:
        return self.event("info", process, f, key, value, **kw)

    def watch_open(self, process: Process, watch_id: str, key: Key, *, time_us: int | None = None,
                   **kw: Any) -> WatchOpen:
        rec = WatchOpen(process=process, watch_id=watch_id, key=key, time_us=self._time(time_us), **kw)
        self.records.append(rec)
        return rec

    def watch_response(self, process: Process, watch_id: str, revision: int,
                       events: tuple[WatchEvent, ...] | list[WatchEvent] = (), *,
                       time_us: int | None = None, **kw: Any) -> WatchResponse:
        rec = WatchResponse(process=process, watch_id=watch_id, revision=revision, events=tuple(events),
                            time_us=self._time(time_us), **kw)
        self.records.append(rec)
        return rec

    def history(self) -> History:
        return make_history(self.records)

    def write(self, dest: str | pathlib.Path | IO[str]) -> None:
        write_jsonl(self.records, dest)
