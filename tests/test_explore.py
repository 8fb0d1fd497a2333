"""``raftkv explore``'s bookkeeping: the shrinking phase is shown, failures are counted once."""

from __future__ import annotations

import queue
import time

from raftkv.explore import SuiteStats, _doing, _worker


def test_a_worker_says_when_it_starts_shrinking_and_how_long_it_took() -> None:
    events: queue.Queue[tuple[object, ...]] = queue.Queue()
    _worker(0, ["raft_reads"], ["read_without_readindex"], time.time() + 60, 30, 3, events)
    got = []
    while not events.empty():
        got.append(events.get())
    kinds = [e[0] for e in got]
    assert "shrinking" in kinds and "finding" in kinds, kinds
    assert kinds.index("shrinking") < kinds.index("finding") and kinds[-1] == "done"
    shrinking = got[kinds.index("shrinking")]
    finding = got[kinds.index("finding")]
    assert shrinking[2] == finding[2] == "raft_reads"
    assert shrinking[3] == finding[4]  # the property being shrunk is the one saved
    first_faults, saved_faults, shrink_s = finding[6]  # the reduction, and wall seconds spent shrinking
    assert 0 <= saved_faults <= first_faults and isinstance(shrink_s, float) and shrink_s >= 0.0
    # the failing example itself counts as a scenario run, once
    assert kinds.count("example") >= 1


def test_the_live_table_shows_which_suite_shrinks_and_for_how_long() -> None:
    stats = SuiteStats(examples=12)
    assert _doing(stats, 100.0) == ""
    stats.shrinking[1] = (70.0, "linearizability")
    stats.shrinking[0] = (88.0, "linearizability")
    assert "shrinking linearizability for 30s" in _doing(stats, 100.0)
    stats.shrinking.clear()
    stats.failures = 1
    assert _doing(stats, 100.0) == "saved"
