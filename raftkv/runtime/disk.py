"""FileDisk: the :class:`raftkv.env.Disk` of a real member, on real files.

Record files (the Raft log and hard state) live in one write-ahead log of segment files
under ``DIR/wal``: every write is a WAL record ``(op, file, argument)`` -- append a
record, truncate to a length, overwrite with records -- replayed in order on start.
Writes are buffered; :meth:`FileDisk.sync` writes the buffer and fsyncs once, however
many files the batch touched (group commit: the host calls it once per batch of events,
before it sends any message of that batch).  ``fsync(file)`` only asks for that sync.

Segments are named ``<seq>.wal``; a new one starts when the current one passes
``segment_bytes``.  A *base* segment (``<seq>.base.wal``, written whole with
:func:`~raftkv.runtime.wal.write_atomically`) holds the complete state of every record
file: on start, the newest base segment is read and everything older is deleted.  An
overwrite of a file in ``compact_on`` (the Raft log, rewritten after a snapshot) writes
a new base segment and removes the old segments.

Files in ``atomic_files`` (the Raft snapshot) are kept apart, under ``DIR/snap``, each
replaced whole by an atomic rewrite (temporary file, fsync, rename, directory fsync).

With ``lose_unsynced`` (``raftkv serve --lose-unsynced``) the disk emulates a power cut
at every crash, as lazyfs does: what was written but not fsynced stays in this object's
own buffer, not in the OS page cache, and reaches the file only with the next
:meth:`FileDisk.sync` that fsyncs; so a SIGKILL loses exactly what a power cut would
(every write since the last fsync), where on a plain file it would survive in the page
cache.  A clean :meth:`FileDisk.close` still writes it out, as a clean shutdown does.

On start a torn tail of the last segment is truncated (logged in :attr:`torn`); a
corrupt record anywhere else raises :class:`~raftkv.runtime.wal.WALCorruptError`.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Sequence
from typing import Any

from .codec import CodecError, decode, encode
from .wal import WALCorruptError, frame, fsync_dir, read_records, truncate_file, write_atomically

__all__ = ["FileDisk"]

_APPEND, _TRUNCATE, _OVERWRITE = 0, 1, 2
_SEGMENT = re.compile(r"^(\d{16})(\.base)?\.wal$")


class FileDisk:
    def __init__(self, directory: str, *, atomic_files: Iterable[str] = (),
                 compact_on: Iterable[str] = (), segment_bytes: int = 64 << 20,
                 lose_unsynced: bool = False) -> None:
        assert segment_bytes > 0, f"segment_bytes {segment_bytes} must be positive"
        self.directory = directory
        self.wal_dir = os.path.join(directory, "wal")
        self.snap_dir = os.path.join(directory, "snap")
        self.atomic_files = frozenset(atomic_files)
        self.compact_on = frozenset(compact_on)
        self.segment_bytes = segment_bytes
        self.lose_unsynced = lose_unsynced
        self._current: dict[str, list[Any]] = {}
        self._buffer = bytearray()
        self._sync_wanted = False
        self._fd = -1
        self._seq = 0
        self._segment_size = 0
        self.torn: list[str] = []  # what start-up cut off: "path at byte N"
        self.fsync_count = 0
        for d in (directory, self.wal_dir, self.snap_dir):
            os.makedirs(d, exist_ok=True)
        self._load_atomic()
        self._load_wal()

    # ------------------------------------------------------------------ start-up
    def _snap_path(self, file: str) -> str:
        return os.path.join(self.snap_dir, file.replace("/", "_"))

    def _load_atomic(self) -> None:
        for file in sorted(self.atomic_files):
            path = self._snap_path(file)
            if os.path.exists(path + ".tmp"):
                os.remove(path + ".tmp")  # an atomic rewrite that never finished
            if os.path.exists(path):
                recs = read_records(path, last=False)
                self._current[file] = [self._decode(path, p) for p in recs.payloads]

    @staticmethod
    def _decode(path: str, payload: bytes) -> Any:
        try:
            return decode(payload)
        except CodecError as e:
            raise WALCorruptError(f"{path}: a record with a valid checksum does not decode "
                                  f"({e}); written by an incompatible version?") from None

    def _segments(self) -> list[tuple[int, bool, str]]:
        out = []
        for name in os.listdir(self.wal_dir):
            m = _SEGMENT.match(name)
            if m is not None:
                out.append((int(m.group(1)), m.group(2) is not None, name))
            elif name.endswith(".tmp"):
                os.remove(os.path.join(self.wal_dir, name))
        return sorted(out)

    def _load_wal(self) -> None:
        segments = self._segments()
        bases = [i for i, (_, base, _) in enumerate(segments) if base]
        if bases:
            for _, _, name in segments[:bases[-1]]:
                os.remove(os.path.join(self.wal_dir, name))  # older than the newest base
            segments = segments[bases[-1]:]
        for i, (seq, _, name) in enumerate(segments):
            path = os.path.join(self.wal_dir, name)
            last = i == len(segments) - 1
            recs = read_records(path, last=last)
            for payload in recs.payloads:
                op = self._decode(path, payload)
                if not (isinstance(op, tuple) and len(op) == 3 and op[0] in (0, 1, 2)):
                    raise WALCorruptError(f"{path}: unexpected record {op!r}")
                self._apply(op[0], op[1], op[2])
            if recs.torn_at is not None:
                truncate_file(path, recs.torn_at)
                self.torn.append(f"{path} at byte {recs.torn_at} (of {recs.size})")
            self._seq = seq
            self._segment_size = recs.torn_at if recs.torn_at is not None else recs.size
        if not segments:
            self._new_segment()
        else:
            self._fd = os.open(os.path.join(self.wal_dir, segments[-1][2]),
                               os.O_WRONLY | os.O_APPEND)

    def _apply(self, op: int, file: str, arg: Any) -> None:
        if op == _APPEND:
            self._current.setdefault(file, []).append(arg)
        elif op == _TRUNCATE:
            del self._current.setdefault(file, [])[arg:]
        else:
            self._current[file] = list(arg)

    # ------------------------------------------------------------------ segments
    def _new_segment(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
        self._seq += 1
        path = os.path.join(self.wal_dir, f"{self._seq:016d}.wal")
        self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_EXCL, 0o644)
        fsync_dir(self.wal_dir)
        self._segment_size = 0

    def _compact(self) -> None:
        """A new base segment with every record file's contents; older segments go."""
        self._buffer.clear()
        old = self._segments()
        self._seq += 1
        path = os.path.join(self.wal_dir, f"{self._seq:016d}.base.wal")
        payloads = [encode((_OVERWRITE, f, tuple(recs))) for f, recs in sorted(self._current.items())
                    if f not in self.atomic_files]
        write_atomically(path, payloads)
        if self._fd >= 0:
            os.close(self._fd)
        for _, _, name in old:
            os.remove(os.path.join(self.wal_dir, name))
        fsync_dir(self.wal_dir)
        self._fd = os.open(path, os.O_WRONLY | os.O_APPEND)
        self._segment_size = os.path.getsize(path)
        self._sync_wanted = False
        self.fsync_count += 1

    def _log(self, op: int, file: str, arg: Any) -> None:
        self._buffer += frame(encode((op, file, arg)))

    # ------------------------------------------------------------------ Disk
    def append(self, file: str, record: Any) -> None:
        if file in self.atomic_files:
            self.overwrite(file, [*self._current.get(file, ()), record])
            return
        self._current.setdefault(file, []).append(record)
        self._log(_APPEND, file, record)

    def truncate(self, file: str, length: int) -> None:
        assert length >= 0, f"truncate {file} to negative length {length}"
        current = self._current.setdefault(file, [])
        if length >= len(current):
            return
        if file in self.atomic_files:
            self.overwrite(file, current[:length])
            return
        del current[length:]
        self._log(_TRUNCATE, file, length)

    def overwrite(self, file: str, records: Sequence[Any]) -> None:
        records = list(records)
        self._current[file] = records
        if file in self.atomic_files:
            write_atomically(self._snap_path(file), [encode(r) for r in records])
            self.fsync_count += 1
        elif file in self.compact_on:
            self._compact()
        else:
            self._log(_OVERWRITE, file, tuple(records))

    def fsync(self, file: str | None = None) -> None:
        self._sync_wanted = True

    def read(self, file: str) -> list[Any]:
        return list(self._current.get(file, ()))

    def length(self, file: str) -> int:
        return len(self._current.get(file, ()))

    def files(self) -> list[str]:
        return sorted(name for name, recs in self._current.items() if recs)

    # ------------------------------------------------------------------ group commit
    @property
    def dirty(self) -> bool:
        """:meth:`sync` has something to do (with ``lose_unsynced``: only an fsync asked for)."""
        return self._sync_wanted or (bool(self._buffer) and not self.lose_unsynced)

    def sync(self) -> None:
        """Write what the batch buffered and fsync once (if anything asked for it).  With
        ``lose_unsynced``, nothing is written unless an fsync was asked for."""
        if self.lose_unsynced and not self._sync_wanted:
            return
        self._write_buffer()
        if self._sync_wanted:
            os.fsync(self._fd)
            self._sync_wanted = False
            self.fsync_count += 1
        if self._segment_size >= self.segment_bytes:
            os.fsync(self._fd)
            self._new_segment()

    def _write_buffer(self) -> None:
        if self._buffer:
            data = bytes(self._buffer)
            self._buffer.clear()
            view = memoryview(data)
            while view:
                n = os.write(self._fd, view)
                view = view[n:]
            self._segment_size += len(data)

    def close(self) -> None:
        if self._fd >= 0:
            self._write_buffer()  # a clean shutdown: the page cache reaches the disk
            self.sync()
            os.close(self._fd)
            self._fd = -1
