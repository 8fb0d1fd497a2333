"""The in-memory Raft log: a compacted prefix (base index/term) plus a list of entries.

``entries[i]`` holds index ``base_index + 1 + i``.  Indices below or at ``base_index``
were compacted (covered by a snapshot).  ``stable_index`` is the last index known to be
durable; entries after it are handed to the host in the next Ready.
"""

from __future__ import annotations

from .messages import Entry, Snapshot

__all__ = ["RaftLog", "LogCompactedError", "entry_size"]


class LogCompactedError(LookupError):
    pass


def entry_size(entry: Entry) -> int:
    """A cheap estimate of an entry's encoded size in bytes (for message batching)."""
    data = entry.data
    if isinstance(data, (bytes, str)):
        return 24 + len(data)
    return 64


class RaftLog:
    __slots__ = ("applied", "base_index", "base_term", "committed", "entries", "snapshot",
                 "stable_index")

    def __init__(self, *, base_index: int = 0, base_term: int = 0,
                 entries: list[Entry] | None = None, snapshot: Snapshot | None = None) -> None:
        self.base_index = base_index
        self.base_term = base_term
        self.entries: list[Entry] = entries if entries is not None else []
        self.snapshot = snapshot
        self.committed = base_index
        self.applied = base_index
        self.stable_index = self.last_index()
        for i, e in enumerate(self.entries):
            assert e.index == base_index + 1 + i, f"log hole at {e.index}"

    # -- queries ---------------------------------------------------------------
    def first_index(self) -> int:
        return self.base_index + 1

    def last_index(self) -> int:
        return self.base_index + len(self.entries)

    def last_term(self) -> int:
        return self.entries[-1].term if self.entries else self.base_term

    def term(self, index: int) -> int | None:
        """The term at ``index``; None if compacted away or beyond the end."""
        off = index - self.base_index
        if off == 0:
            return self.base_term
        if off < 0 or off > len(self.entries):
            return None
        return self.entries[off - 1].term

    def match_term(self, index: int, term: int) -> bool:
        t = self.term(index)
        return t is not None and t == term

    def entry(self, index: int) -> Entry:
        off = index - self.base_index - 1
        assert 0 <= off < len(self.entries), f"no entry {index} (base {self.base_index})"
        return self.entries[off]

    def slice(self, lo: int, hi: int, max_count: int | None = None,
              max_bytes: int | None = None) -> list[Entry]:
        """Entries [lo, hi), at least one if any, bounded by count and bytes."""
        if lo <= self.base_index:
            raise LogCompactedError(f"index {lo} compacted (base {self.base_index})")
        hi = min(hi, self.last_index() + 1)
        if lo >= hi:
            return []
        if max_count is not None:
            hi = min(hi, lo + max_count)
        b = self.base_index + 1
        out = self.entries[lo - b: hi - b]
        if max_bytes is not None and len(out) > 1:
            total = 0
            for i, e in enumerate(out):
                total += entry_size(e)
                if total > max_bytes and i > 0:
                    return out[:i]
        return out

    def is_up_to_date(self, last_index: int, last_term: int) -> bool:
        """Is a candidate's log (last_index, last_term) at least as up to date as ours?"""
        lt = self.last_term()
        return last_term > lt or (last_term == lt and last_index >= self.last_index())

    def find_conflict_by_term(self, index: int, term: int) -> int:
        """Largest index <= ``index`` whose term is <= ``term`` (fast backtracking)."""
        index = min(index, self.last_index())
        while index > self.base_index:
            t = self.entries[index - self.base_index - 1].term
            if t <= term:
                return index
            index -= 1
        return index

    def unstable_entries(self) -> list[Entry]:
        return self.entries[self.stable_index - self.base_index:]

    # -- updates ---------------------------------------------------------------
    def append(self, entries: list[Entry]) -> None:
        if not entries:
            return
        assert entries[0].index == self.last_index() + 1, "append must extend the log"
        self.entries.extend(entries)

    def truncate_after(self, index: int) -> None:
        """Drop every entry after ``index``."""
        assert index >= self.committed, f"truncating committed entries ({index} < {self.committed})"
        assert index >= self.base_index
        del self.entries[index - self.base_index:]
        if self.stable_index > index:
            self.stable_index = index

    def maybe_append(self, index: int, log_term: int, committed: int,
                     entries: tuple[Entry, ...], keep_stale_suffix: bool = False) -> int | None:
        """AppendEntries receiver: returns the last index now known to match, or None."""
        if not self.match_term(index, log_term):
            return None
        last_new = index + len(entries)
        # find the first conflicting entry
        conflict = 0
        for e in entries:
            t = self.term(e.index)
            if t is None or t != e.term:
                conflict = e.index
                break
        if conflict:
            assert conflict > self.committed, (
                f"entry {conflict} conflicts with committed entry (commit {self.committed})")
            new = list(entries[conflict - index - 1:])
            if keep_stale_suffix and conflict <= self.last_index():
                # BUG no_conflict_truncation: overwrite in place, keep what follows.
                b = self.base_index + 1
                end = conflict + len(new)
                stale = self.entries[end - b:] if end <= self.last_index() else []
                del self.entries[conflict - b:]
                self.entries.extend(new)
                self.entries.extend(stale)
                if self.stable_index >= conflict:
                    self.stable_index = conflict - 1
            else:
                if conflict <= self.last_index():
                    self.truncate_after(conflict - 1)
                self.entries.extend(new)
        self.commit_to(min(committed, last_new))
        return last_new

    def commit_to(self, index: int) -> bool:
        if index > self.committed:
            assert index <= self.last_index(), f"commit {index} beyond last index {self.last_index()}"
            self.committed = index
            return True
        return False

    def stable_to(self, index: int) -> None:
        self.stable_index = max(self.stable_index, min(index, self.last_index()))

    def compact(self, index: int) -> None:
        """Forget entries up to ``index`` (which must be applied and covered by a snapshot)."""
        if index <= self.base_index:
            return
        assert index <= self.applied, f"compacting unapplied entries ({index} > {self.applied})"
        t = self.term(index)
        assert t is not None
        del self.entries[: index - self.base_index]
        self.base_index = index
        self.base_term = t

    def restore(self, snapshot: Snapshot) -> None:
        """Replace the log by ``snapshot`` (a follower installing the leader's snapshot)."""
        self.entries = []
        self.base_index = snapshot.index
        self.base_term = snapshot.term
        self.snapshot = snapshot
        self.committed = snapshot.index
        self.stable_index = snapshot.index
