"""The simulated disk: files of immutable records with an explicit fsync.

Every write lands in the "page cache" at once and is readable; :meth:`SimDisk.fsync`
makes the writes so far durable.  :meth:`SimDisk.crash` throws away everything not
fsynced, optionally leaving a :data:`~raftkv.env.TORN` record where the last
unsynced append was cut short.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from raftkv.env import TORN

__all__ = ["SimDisk"]

_APPEND, _TRUNCATE, _OVERWRITE = 0, 1, 2


class SimDisk:
    def __init__(self) -> None:
        self._current: dict[str, list[Any]] = {}
        self._durable: dict[str, list[Any]] = {}
        # Writes not yet fsynced, per file, in order: (op, argument).
        self._pending: dict[str, list[tuple[int, Any]]] = {}
        self.fsync_count = 0
        self.write_count = 0
        self._last_write: tuple[str, int] | None = None

    # -- writes ---------------------------------------------------------------
    def append(self, file: str, record: Any) -> None:
        self._current.setdefault(file, []).append(record)
        self._pending.setdefault(file, []).append((_APPEND, record))
        self.write_count += 1
        self._last_write = (file, _APPEND)

    def truncate(self, file: str, length: int) -> None:
        current = self._current.setdefault(file, [])
        assert 0 <= length, f"truncate {file} to negative length {length}"
        if length < len(current):
            del current[length:]
            self._pending.setdefault(file, []).append((_TRUNCATE, length))
            self.write_count += 1
            self._last_write = (file, _TRUNCATE)

    def overwrite(self, file: str, records: Sequence[Any]) -> None:
        records = list(records)
        self._current[file] = list(records)
        self._pending.setdefault(file, []).append((_OVERWRITE, records))
        self.write_count += 1
        self._last_write = (file, _OVERWRITE)

    def fsync(self, file: str | None = None) -> None:
        files = sorted(self._pending) if file is None else [file]
        for name in files:
            ops = self._pending.pop(name, None)
            if not ops:
                continue
            durable = self._durable.setdefault(name, [])
            for op, arg in ops:
                if op == _APPEND:
                    durable.append(arg)
                elif op == _TRUNCATE:
                    del durable[arg:]
                else:
                    durable[:] = arg
        self.fsync_count += 1

    # -- reads ------------------------------------------------------------------
    def read(self, file: str) -> list[Any]:
        return list(self._current.get(file, ()))

    def length(self, file: str) -> int:
        return len(self._current.get(file, ()))

    def files(self) -> list[str]:
        return sorted(name for name, recs in self._current.items() if recs or name in self._durable)

    def unsynced(self, file: str | None = None) -> int:
        """How many writes are waiting for an fsync (in ``file``, or in all files)."""
        if file is not None:
            return len(self._pending.get(file, ()))
        return sum(len(ops) for ops in self._pending.values())

    # -- faults -----------------------------------------------------------------
    def crash(self, torn: bool = False) -> int:
        """Lose every write not fsynced; return how many were lost.

        With ``torn``, the last unsynced append (if the last unsynced write of its file
        was an append) survives as a :data:`TORN` record: a half-written block.
        """
        lost = sum(len(ops) for ops in self._pending.values())
        torn_file = None
        last = self._last_write
        if torn and last is not None and last[1] == _APPEND and self._pending.get(last[0]):
            torn_file = last[0]  # the write in progress when the power went
        self._pending.clear()
        self._last_write = None
        self._current = {name: list(recs) for name, recs in self._durable.items()}
        if torn_file is not None:
            self._current.setdefault(torn_file, []).append(TORN)
            # The torn block is on the platter: it survives a second crash too.
            self._durable.setdefault(torn_file, []).append(TORN)
        return lost

    def corrupt(self, file: str, index: int) -> None:
        """Replace a durable record with :data:`TORN` (a failed checksum)."""
        for store in (self._current, self._durable):
            recs = store.get(file)
            if recs is not None and 0 <= index < len(recs):
                recs[index] = TORN
