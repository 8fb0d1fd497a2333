"""RaftConfig: the knobs of one Raft member."""

from __future__ import annotations

import attrs

from raftkv.bugs import BUGS

__all__ = ["RaftConfig", "RaftConfigError"]


class RaftConfigError(ValueError):
    pass


@attrs.frozen(kw_only=True)
class RaftConfig:
    election_timeout_ticks: int = 10
    heartbeat_ticks: int = 1
    pre_vote: bool = True
    check_quorum: bool = True
    max_entries_per_msg: int = 64
    max_bytes_per_msg: int = 1 << 20
    max_inflight_msgs: int = 16
    # Take a snapshot every this many applied entries (0: never).
    snapshot_interval_entries: int = 10_000
    # Entries kept in the log below a new snapshot so slightly slow followers need no snapshot.
    compaction_keep_entries: int = 100
    # "safe": ReadIndex (a heartbeat round confirms leadership).  "lease": trust the
    # leader lease; UNSAFE when clocks drift more than ``max_clock_drift_ppm``.
    read_only: str = "safe"
    # The clock drift rate the lease allows for (lease reads only).
    max_clock_drift_ppm: int = 100_000
    # A learner is promoted only if it lacks at most this many committed entries.
    promote_max_lag_entries: int = 16
    bugs: frozenset[str] = frozenset()

    def __attrs_post_init__(self) -> None:
        if self.election_timeout_ticks < 2:
            raise RaftConfigError(f"election_timeout_ticks must be >= 2, got {self.election_timeout_ticks}")
        if not 1 <= self.heartbeat_ticks < self.election_timeout_ticks:
            raise RaftConfigError(
                f"heartbeat_ticks must be in [1, election_timeout_ticks), got {self.heartbeat_ticks}")
        if self.max_entries_per_msg < 1:
            raise RaftConfigError(f"max_entries_per_msg must be >= 1, got {self.max_entries_per_msg}")
        if self.max_bytes_per_msg < 1:
            raise RaftConfigError(f"max_bytes_per_msg must be >= 1, got {self.max_bytes_per_msg}")
        if self.max_inflight_msgs < 1:
            raise RaftConfigError(f"max_inflight_msgs must be >= 1, got {self.max_inflight_msgs}")
        if self.snapshot_interval_entries < 0 or self.compaction_keep_entries < 0:
            raise RaftConfigError("snapshot_interval_entries and compaction_keep_entries must be >= 0")
        if self.promote_max_lag_entries < 0:
            raise RaftConfigError(f"promote_max_lag_entries must be >= 0, got {self.promote_max_lag_entries}")
        if self.read_only not in ("safe", "lease"):
            raise RaftConfigError(f"read_only must be 'safe' or 'lease', got {self.read_only!r}")
        if self.read_only == "lease" and not self.check_quorum:
            # As etcd-io/raft: without CheckQuorum a follower that heard the leader a moment
            # ago still votes for a rival, who can commit while the old lease lasts.
            raise RaftConfigError("read_only='lease' needs check_quorum=True")
        if not 0 <= self.max_clock_drift_ppm < 1_000_000:
            raise RaftConfigError(f"max_clock_drift_ppm out of range: {self.max_clock_drift_ppm}")
        unknown = sorted(b for b in self.bugs if b not in BUGS)
        if unknown:
            raise RaftConfigError(f"unknown bugs {unknown}")

    def lease_ticks(self) -> int:
        """How long after a quorum-acknowledged heartbeat round the leader may serve lease reads."""
        t = self.election_timeout_ticks
        d = self.max_clock_drift_ppm
        return max(0, (t * (1_000_000 - d)) // (1_000_000 + d) - 1)
