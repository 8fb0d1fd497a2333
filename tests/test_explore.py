"""``raftkv explore``'s bookkeeping: the shrinking phase is shown, failures are counted once."""

from __future__ import annotations

import queue
import time

from raftkv.explore import (
    ExploreSummary,
    SuiteStats,
    _doing,
    _worker,
    explore,
    focus_suites,
    next_suite,
)


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


def test_suites_take_turns_and_a_bug_switched_on_gets_every_other_batch_for_its_suite() -> None:
    suites = ["raft_safety", "raft_reads", "watch", "leader_leaving", "lease"]
    assert [next_suite(suites, (), set(), r) for r in range(6)] == [*suites, "raft_safety"]
    focus = focus_suites(suites, ["leaving_leader_appends", "no_such_bug"])
    assert focus == ("leader_leaving",)
    turns = [next_suite(suites, focus, set(), r) for r in range(2 * len(suites))]
    assert turns[0::2] == ["leader_leaving"] * len(suites)
    assert turns[1::2] == suites  # every suite still gets its turn
    # once the suite meant for the bug failed, the others share the time as without a bug
    done = {"leader_leaving"}
    assert [next_suite(suites, focus, done, r) for r in range(4)] == ["raft_safety", "raft_reads", "watch", "lease"]
    assert next_suite(suites, focus, set(suites), 0) is None
    # a bug whose suite was not selected focuses nothing
    assert focus_suites(["watch"], ["leaving_leader_appends"]) == ()


def test_the_steady_rate_leaves_the_start_up_and_wind_down_out(tmp_path) -> None:  # type: ignore[no-untyped-def]
    stats = {"raft_safety": SuiteStats(examples=70)}
    summary = ExploreSummary(seconds=13.0, stats=stats, failures=[], ramp_up=(2.0, 10), last_example_s=12.0)
    assert summary.steady_rate_per_min() == 60 / 10 * 60  # 60 scenarios from 2 s to 12 s
    assert ExploreSummary(seconds=12.0, stats=stats, failures=[], last_example_s=12.0).steady_rate_per_min() is None
    # Two local workers, two scenarios each: ramped up once both counted one.
    ran = explore(suites=["raft_safety"], seconds=None, max_examples=4, workers=2, out_dir=tmp_path,
                  show_progress=False)
    assert ran.examples == 4 and ran.ramp_up is not None, ran
    ramp_s, ramp_examples = ran.ramp_up
    assert 2 <= ramp_examples <= 4 and 0 < ramp_s <= ran.last_example_s <= ran.seconds
