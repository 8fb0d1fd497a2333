"""The on-disk layout of a Raft member and its recovery.

Three files of records on the node's :class:`~raftkv.env.Disk`:

``raft/hardstate``  HardState records; the last one wins.
``raft/snap``       the latest Snapshot (overwritten whole).
``raft/log``        a write-ahead log: an optional :class:`LogBase` first, then
                    records in write order, each an Entry or a tuple of Entries (a batch).  An entry whose index is at or below the
                    current end replaces everything from there (a conflict truncation),
                    so truncation needs no rewrite of the file.

A trailing :data:`~raftkv.env.TORN` record (a write cut short by a crash) is cut off.
"""

from __future__ import annotations

from typing import Any

import attrs

from raftkv.env import TORN, Disk

from .log import RaftLog
from .messages import Entry, HardState, Snapshot

__all__ = ["HARDSTATE_FILE", "LOG_FILE", "SNAP_FILE", "CorruptRaftStateError", "LogBase",
           "Recovered", "recover"]

HARDSTATE_FILE = "raft/hardstate"
LOG_FILE = "raft/log"
SNAP_FILE = "raft/snap"


class CorruptRaftStateError(RuntimeError):
    pass


@attrs.frozen(kw_only=True)
class LogBase:
    """First record of a compacted log file: entries start after ``index``."""

    index: int
    term: int


@attrs.frozen(kw_only=True)
class Recovered:
    hard_state: HardState
    log: RaftLog
    torn_files: tuple[str, ...]


def _read_clean(disk: Disk, file: str) -> tuple[list[Any], bool]:
    recs = disk.read(file)
    for i, r in enumerate(recs):
        if r is TORN:
            disk.truncate(file, i)
            disk.fsync(file)
            return recs[:i], True
    return recs, False


def recover(disk: Disk) -> Recovered:
    """Rebuild a member's hard state and log from its disk alone."""
    torn: list[str] = []
    hs_recs, t = _read_clean(disk, HARDSTATE_FILE)
    if t:
        torn.append(HARDSTATE_FILE)
    snap_recs, t = _read_clean(disk, SNAP_FILE)
    if t:
        torn.append(SNAP_FILE)
    log_recs, t = _read_clean(disk, LOG_FILE)
    if t:
        torn.append(LOG_FILE)
    hs = hs_recs[-1] if hs_recs else HardState()
    if not isinstance(hs, HardState):
        raise CorruptRaftStateError(f"{HARDSTATE_FILE}: unexpected record {hs!r}")
    snap = snap_recs[-1] if snap_recs else None
    if snap is not None and not isinstance(snap, Snapshot):
        raise CorruptRaftStateError(f"{SNAP_FILE}: unexpected record {snap!r}")

    base_index, base_term = 0, 0
    entries: list[Entry] = []
    flat: list[object] = []
    for rec in log_recs:
        if isinstance(rec, tuple):
            flat.extend(rec)
        else:
            flat.append(rec)
    for r in flat:
        if isinstance(r, LogBase):
            base_index, base_term = r.index, r.term
            entries = []
        elif isinstance(r, Entry):
            if r.index <= base_index:
                continue
            off = r.index - base_index - 1
            if off > len(entries):
                raise CorruptRaftStateError(
                    f"{LOG_FILE}: entry {r.index} after a gap (last {base_index + len(entries)})")
            del entries[off:]
            entries.append(r)
        else:
            raise CorruptRaftStateError(f"{LOG_FILE}: unexpected record {r!r}")

    if snap is not None and snap.index > base_index:
        off = snap.index - base_index - 1
        if off < len(entries) and entries[off].term == snap.term:
            pass  # the log still covers the snapshot point; keep it
        else:
            base_index, base_term, entries = snap.index, snap.term, []
    if snap is None and base_index > 0:
        raise CorruptRaftStateError(f"{LOG_FILE}: compacted to {base_index} but no snapshot")
    log = RaftLog(base_index=base_index, base_term=base_term, entries=entries, snapshot=snap)
    if snap is not None:
        log.committed = log.applied = snap.index
    return Recovered(hard_state=hs, log=log, torn_files=tuple(torn))
