"""What a leader knows about each follower's log (etcd-io/raft's tracker.Progress)."""

from __future__ import annotations

import enum
from collections import deque

__all__ = ["Progress", "ProgressState"]


class ProgressState(enum.Enum):
    PROBE = "probe"  # one append at a time until we find where the logs match
    REPLICATE = "replicate"  # optimistic pipelining, bounded by the in-flight window
    SNAPSHOT = "snapshot"  # a snapshot is on its way; send nothing else


class Progress:
    __slots__ = ("inflight", "match", "max_inflight", "next", "pending_snapshot", "probe_sent",
                 "recent_active", "snapshot_sent_tick", "state")

    def __init__(self, *, next_index: int, max_inflight: int) -> None:
        self.match = 0
        self.next = next_index
        self.state = ProgressState.PROBE
        self.probe_sent = False
        self.recent_active = False
        self.pending_snapshot = 0
        self.snapshot_sent_tick = 0
        self.max_inflight = max_inflight
        # last index of each in-flight append, oldest first
        self.inflight: deque[int] = deque()

    def __repr__(self) -> str:
        return (f"Progress({self.state.value} match={self.match} next={self.next} "
                f"inflight={len(self.inflight)})")

    def is_paused(self) -> bool:
        if self.state is ProgressState.PROBE:
            return self.probe_sent
        if self.state is ProgressState.REPLICATE:
            return len(self.inflight) >= self.max_inflight
        return True

    def become_probe(self) -> None:
        if self.state is ProgressState.SNAPSHOT:
            self.next = max(self.match + 1, self.pending_snapshot + 1)
        else:
            self.next = self.match + 1
        self.state = ProgressState.PROBE
        self.probe_sent = False
        self.pending_snapshot = 0
        self.inflight.clear()

    def become_replicate(self) -> None:
        self.state = ProgressState.REPLICATE
        self.next = self.match + 1
        self.probe_sent = False
        self.inflight.clear()

    def become_snapshot(self, index: int, tick: int) -> None:
        self.state = ProgressState.SNAPSHOT
        self.pending_snapshot = index
        self.snapshot_sent_tick = tick
        self.probe_sent = False
        self.inflight.clear()

    def sent_entries(self, last_index: int, count: int) -> None:
        """Book-keeping after sending an append whose last entry is ``last_index``."""
        if self.state is ProgressState.REPLICATE:
            if count:
                self.next = last_index + 1
            self.inflight.append(last_index)
        elif self.state is ProgressState.PROBE:
            self.probe_sent = True

    def maybe_update(self, index: int) -> bool:
        """A follower acknowledged ``index``: returns True if match advanced."""
        updated = False
        if index > self.match:
            self.match = index
            updated = True
            self.probe_sent = False
        self.next = max(self.next, index + 1)
        inflight = self.inflight
        while inflight and inflight[0] <= index:
            inflight.popleft()
        return updated

    def maybe_decr_to(self, rejected: int, hint: int) -> bool:
        """A follower rejected an append at ``rejected``; ``hint`` is where to probe next."""
        if self.state is ProgressState.REPLICATE:
            if rejected <= self.match:
                return False  # stale
            self.next = self.match + 1
            return True
        if self.next - 1 != rejected:
            return False  # stale
        self.next = max(min(rejected, hint + 1), self.match + 1)
        self.probe_sent = False
        return True
