"""etcd watch and lease guarantees."""

from __future__ import annotations

import pytest

from raftkv.check import HistoryBuilder, KeyValue, WatchEvent, check_leases, check_watches


def put(key: str, value: str, rev: int, version: int = 1, create: int | None = None,
        prev: KeyValue | None = None, lease: int = 0) -> WatchEvent:
    return WatchEvent(type="PUT", key=key, value=value, mod_revision=rev, version=version,
                      create_revision=create or rev, prev_kv=prev, lease=lease)


def delete(key: str, rev: int, prev: KeyValue | None = None) -> WatchEvent:
    return WatchEvent(type="DELETE", key=key, mod_revision=rev, prev_kv=prev)


def writes() -> HistoryBuilder:
    """k: a@2, b@3, c@4; other@5."""
    b = HistoryBuilder()
    for value, rev in (("a", 2), ("b", 3), ("c", 4)):
        b.invoke(0, "put", "k", value)
        b.ok(0, "put", "k", value, revision=rev)
    b.invoke(0, "put", "other", "x")
    b.ok(0, "put", "other", "x", revision=5)
    return b


def guarantees(b: HistoryBuilder) -> list[str]:
    return sorted({v.guarantee for v in check_watches(b.history())})


def test_good_watch_with_resume_and_progress() -> None:
    b = writes()
    b.watch_open(1, "w", "k", start_revision=2)
    b.watch_response(1, "w", 2, created=True)
    b.watch_response(1, "w", 3, [put("k", "a", 2), put("k", "b", 3, 2, 2)])
    b.watch_open(1, "w", "k", start_revision=4, resumed=True)
    b.watch_response(1, "w", 4, [put("k", "c", 4, 3, 2)])
    b.watch_response(1, "w", 5, progress_notify=True)
    assert check_watches(b.history()) == []


def test_gap_is_unreliable() -> None:
    b = writes()
    b.watch_open(1, "w", "k", start_revision=2)
    b.watch_response(1, "w", 2, [put("k", "a", 2)])
    b.watch_response(1, "w", 4, [put("k", "c", 4, 3, 2)])
    assert guarantees(b) == ["reliable"]


def test_resume_at_last_revision_duplicates() -> None:
    b = writes()
    b.watch_open(1, "w", "k", start_revision=2)
    b.watch_response(1, "w", 3, [put("k", "a", 2), put("k", "b", 3, 2, 2)])
    b.watch_open(1, "w", "k", start_revision=3, resumed=True)
    b.watch_response(1, "w", 4, [put("k", "b", 3, 2, 2), put("k", "c", 4, 3, 2)])
    assert guarantees(b) == ["resumable", "unique"]


def test_resumed_watch_must_start_at_its_start_revision() -> None:
    b = writes()
    b.watch_open(1, "w", "k", start_revision=3)
    b.watch_response(1, "w", 4, [put("k", "c", 4, 3, 2)])
    assert guarantees(b) == ["resumable"]
    b2 = writes()
    b2.watch_open(1, "w", "k", start_revision=3)
    b2.watch_response(1, "w", 4, [put("k", "a", 2), put("k", "b", 3, 2, 2), put("k", "c", 4, 3, 2)])
    assert "resumable" in guarantees(b2)


def test_out_of_order_and_split_revision() -> None:
    b = writes()
    b.watch_open(1, "w", "k", start_revision=2)
    b.watch_response(1, "w", 3, [put("k", "b", 3, 2, 2)])
    b.watch_response(1, "w", 3, [put("k", "a", 2)])
    assert "ordered" in guarantees(b)
    b2 = HistoryBuilder()
    b2.watch_open(1, "w", "a", range_end="z")
    b2.watch_response(1, "w", 2, [put("a", "1", 2)])
    b2.watch_response(1, "w", 2, [put("b", "1", 2)])
    b2.watch_open(2, "v", "a", range_end="z")
    b2.watch_response(2, "v", 2, [put("a", "1", 2), put("b", "1", 2)])
    assert guarantees(b2) == ["atomic"]


def test_bookmark_promises_everything_below() -> None:
    b = writes()
    b.watch_open(1, "w", "k", start_revision=2)
    b.watch_response(1, "w", 2, [put("k", "a", 2)])
    b.watch_response(1, "w", 4, progress_notify=True)
    assert guarantees(b) == ["bookmarkable"]


def test_prev_kv_and_filters() -> None:
    good_prev = KeyValue(key="k", value="a", mod_revision=2, create_revision=2, version=1)
    bad_prev = KeyValue(key="k", value="zzz", mod_revision=2, create_revision=2, version=1)
    for prev, expected in ((good_prev, []), (bad_prev, ["prev_kv"]), (None, ["prev_kv"])):
        b = writes()
        b.watch_open(1, "w", "k", start_revision=3, prev_kv=True)
        b.watch_response(1, "w", 3, [put("k", "b", 3, 2, 2, prev=prev)])
        assert guarantees(b) == expected, prev
    b = writes()
    b.watch_open(1, "w", "k", start_revision=3)
    b.watch_response(1, "w", 3, [put("k", "b", 3, 2, 2, prev=good_prev)])
    assert guarantees(b) == ["prev_kv"]
    b = writes()
    b.invoke(0, "delete", "k")
    b.ok(0, "delete", "k", deleted=1, revision=6)
    b.watch_open(1, "w", "k", start_revision=6, filters=("noput",))
    b.watch_response(1, "w", 6, [delete("k", 6)])
    assert guarantees(b) == []
    b.watch_open(2, "v", "k", start_revision=6, filters=("nodelete",))
    b.watch_response(2, "v", 6, [delete("k", 6)])
    b.watch_open(3, "u", "a", range_end="c", start_revision=5)
    b.watch_response(3, "u", 5, [put("other", "x", 5)])
    assert guarantees(b) == ["filters"]


def test_watchers_must_agree_with_writes() -> None:
    b = writes()
    b.watch_open(1, "w", "k", start_revision=2)
    b.watch_response(1, "w", 2, [put("k", "not-a", 2)])
    assert "agreement" in guarantees(b)


# -------------------------------------------------------------------- leases


def leased(ttl_s: int = 5) -> HistoryBuilder:
    b = HistoryBuilder()
    b.invoke(0, "lease_grant", ttl_s=ttl_s, time_us=0)
    b.ok(0, "lease_grant", lease=9, ttl_s=ttl_s, time_us=1000)
    b.invoke(0, "put", "k", "v", lease=9, time_us=2000)
    b.ok(0, "put", "k", "v", lease=9, revision=2, time_us=3000)
    return b


def test_lease_key_deleted_while_kept_alive() -> None:
    b = leased()
    b.invoke(0, "lease_keepalive", lease=9, time_us=3_000_000)
    b.ok(0, "lease_keepalive", lease=9, ttl_s=5, time_us=3_001_000)
    b.invoke(1, "get", "k", time_us=6_000_000)
    b.ok(1, "get", "k", None, revision=3, time_us=6_001_000)  # alive until 8 s
    vs = check_leases(b.history())
    assert [v.guarantee for v in vs] == ["lease_kept_alive"]
    # the same read after the TTL ran out is fine
    b2 = leased()
    b2.invoke(1, "get", "k", time_us=6_000_000)
    b2.ok(1, "get", "k", None, revision=3, time_us=6_001_000)
    assert check_leases(b2.history()) == []


def test_lease_revoked_keys_must_go() -> None:
    b = leased()
    b.invoke(0, "lease_revoke", lease=9, time_us=10_000)
    b.ok(0, "lease_revoke", lease=9, time_us=11_000)
    b.invoke(1, "get", "k", time_us=20_000)
    b.ok(1, "get", "k", "v", lease=9, mod_revision=2, revision=2, time_us=21_000)
    assert [v.guarantee for v in check_leases(b.history())] == ["lease_expired"]


def test_lease_expired_keys_must_go_and_early_not_found() -> None:
    b = leased(ttl_s=1)
    b.invoke(1, "get", "k", time_us=4_000_000)  # 1 s TTL + 2 s grace after 1000 us
    b.ok(1, "get", "k", "v", lease=9, revision=2, mod_revision=2, time_us=4_001_000)
    assert [v.guarantee for v in check_leases(b.history())] == ["lease_expired"]
    assert check_leases(b.history(), expiry_grace_us=5_000_000) == []
    b2 = leased(ttl_s=10)
    b2.invoke(0, "lease_keepalive", lease=9, time_us=100_000)
    b2.fail(0, "lease_keepalive", lease=9, error="lease_not_found", time_us=200_000)
    assert [v.guarantee for v in check_leases(b2.history())] == ["lease_kept_alive"]


def test_lease_watch_delete_before_ttl() -> None:
    b = leased(ttl_s=10)
    b.watch_open(2, "w", "k", start_revision=3)
    b.watch_response(2, "w", 3, [delete("k", 3)], time_us=5_000_000)
    assert [v.guarantee for v in check_leases(b.history())] == ["lease_kept_alive"]
    b.invoke(0, "delete", "k", time_us=4_000_000)  # a client delete explains it
    b.ok(0, "delete", "k", deleted=1, revision=3, time_us=4_500_000)
    assert check_leases(b.history()) == []


def expired_read(at_us: int) -> HistoryBuilder:
    """A 1 s lease granted at 0..1 ms; a get invoked at ``at_us`` still sees its key."""
    b = leased(ttl_s=1)
    b.invoke(1, "get", "k", time_us=at_us)
    b.ok(1, "get", "k", "v", lease=9, revision=2, mod_revision=2, time_us=at_us + 1000)
    return b


def test_lease_clock_reset_extends_the_expiry_bound() -> None:
    # surely gone after 1 ms + 1 s TTL + 2 s grace = 3.001 s
    h = expired_read(4_000_000).history()
    assert [v.guarantee for v in check_leases(h)] == ["lease_expired"]
    # a new leader at 2 s (the lease still alive) grants a new TTL: gone after 2+1+2 s
    assert check_leases(h, lease_resets_us=[2_000_000]) == []
    # ... plus its extension, when the read comes later still
    late = expired_read(5_300_000).history()
    assert [v.guarantee for v in check_leases(late, lease_resets_us=[2_000_000])] == ["lease_expired"]
    assert check_leases(late, lease_resets_us=[2_000_000], reset_extension_us=500_000) == []
    # resets chain: each one while the lease may exist pushes the bound on
    chained = expired_read(7_500_000).history()
    assert check_leases(chained, lease_resets_us=[5_000_000, 2_000_000]) == []
    assert [v.guarantee for v in check_leases(chained, lease_resets_us=[2_000_000])] == ["lease_expired"]


def test_lease_clock_reset_after_a_leaderless_gap_and_outside_the_lease_life() -> None:
    h = expired_read(6_000_000).history()
    # a new leader at 3.5 s: the old one may have stopped before expiring the lease
    # (no leader, no expiry), and the new one granted it a new TTL
    assert check_leases(h, lease_resets_us=[3_500_000]) == []
    # a reset after the read completed explains nothing
    assert [v.guarantee for v in check_leases(h, lease_resets_us=[6_500_000])] == ["lease_expired"]
    # before the lease was granted: nothing to extend
    b = HistoryBuilder()
    b.invoke(0, "lease_grant", ttl_s=1, time_us=1_000_000)
    b.ok(0, "lease_grant", lease=9, ttl_s=1, time_us=1_001_000)
    b.invoke(0, "put", "k", "v", lease=9, time_us=1_002_000)
    b.ok(0, "put", "k", "v", lease=9, revision=2, time_us=1_003_000)
    b.invoke(1, "get", "k", time_us=4_500_000)
    b.ok(1, "get", "k", "v", lease=9, revision=2, mod_revision=2, time_us=4_501_000)
    assert [v.guarantee for v in check_leases(b.history(), lease_resets_us=[500_000],
                                              reset_extension_us=3_000_000)] == ["lease_expired"]


def test_quorum_regained_holds_up_the_expiry_bound_by_the_grace_only() -> None:
    # surely gone after 3.001 s by the TTL; a quorum back at 3.5 s lets the revocation
    # that was held up commit: gone after 3.5 + 2 s
    h = expired_read(4_000_000).history()
    assert check_leases(h, quorum_regained_us=[3_500_000]) == []
    # no new TTL, unlike a leader change: a read after the grace still fails
    late = expired_read(5_600_000).history()
    assert [v.guarantee for v in check_leases(late, quorum_regained_us=[3_500_000])] == ["lease_expired"]
    assert check_leases(late, lease_resets_us=[3_500_000]) == []
    # a quorum back before the lease ran out, or after the read completed, explains nothing
    assert [v.guarantee for v in check_leases(h, quorum_regained_us=[500_000])] == ["lease_expired"]
    assert [v.guarantee for v in check_leases(h, quorum_regained_us=[4_500_000])] == ["lease_expired"]


def test_clock_drift_shrinks_and_stretches_the_ttl() -> None:
    # a 5 s lease granted at 0 ms: gone at 4 s as seen by a read completing then
    b = leased()
    b.invoke(1, "get", "k", time_us=3_999_000)
    b.ok(1, "get", "k", None, revision=3, time_us=4_000_000)
    assert [v.guarantee for v in check_leases(b.history())] == ["lease_kept_alive"]
    # a leader clock 25% fast counts 5 s in 4 s of history time
    assert check_leases(b.history(), clock_drift_ppm=250_000) == []
    assert [v.guarantee for v in check_leases(b.history(), clock_drift_ppm=200_000)] == ["lease_kept_alive"]
    # a 1 s lease, surely gone after 1.001 + 2 s; read at 3.5 s: a clock 20% slow counts
    # 1 s in 1.25 s, so not surely gone before 3.251 s; 10% slow: 3.113 s
    late = expired_read(3_500_000).history()
    assert [v.guarantee for v in check_leases(late)] == ["lease_expired"]
    assert [v.guarantee for v in check_leases(late, clock_drift_ppm=200_000)] == ["lease_expired"]
    assert check_leases(expired_read(3_200_000).history(), clock_drift_ppm=200_000) == []
    assert [v.guarantee for v in check_leases(expired_read(3_200_000).history(),
                                              clock_drift_ppm=100_000)] == ["lease_expired"]
    with pytest.raises(ValueError, match="clock_drift_ppm"):
        check_leases(late, clock_drift_ppm=1_000_000)


@pytest.mark.parametrize("moments", ["lease_resets_us", "quorum_regained_us"])
def test_lease_clock_reset_or_quorum_back_does_not_excuse_a_revoke(moments: str) -> None:
    b = leased()
    b.invoke(0, "lease_revoke", lease=9, time_us=10_000)
    b.ok(0, "lease_revoke", lease=9, time_us=11_000)
    b.invoke(1, "get", "k", time_us=20_000)
    b.ok(1, "get", "k", "v", lease=9, mod_revision=2, revision=2, time_us=21_000)
    assert [v.guarantee for v in check_leases(b.history(), **{moments: [15_000]})] == ["lease_expired"]


def test_lease_check_refuses_negative_bounds() -> None:
    with pytest.raises(ValueError, match="expiry_grace_us"):
        check_leases(leased().history(), expiry_grace_us=-1)
    with pytest.raises(ValueError, match="reset_extension_us"):
        check_leases(leased().history(), reset_extension_us=-5)


def test_check_of_a_run_folder_restarts_lease_clocks_at_its_faults(tmp_path, capsys) -> None:
    import json

    from raftkv.check.cli import main
    from raftkv.exit_status import EXIT_BAD_INPUT, EXIT_OK, EXIT_VIOLATION

    # read at 4 s of a 1 s lease granted at 0: gone by 3.001 s unless a leader change at 2 s
    expired_read(4_000_000).write(str(tmp_path / "history.jsonl"))
    fault = {"time_us": 2_000_000, "fault": "2.000s kill node='@leader'", "did": "SIGKILL n1"}
    (tmp_path / "schedule.json").write_text(json.dumps({"seed": 1, "applied": [fault]}))
    assert main([str(tmp_path / "history.jsonl"), "-q"]) == EXIT_VIOLATION
    assert main([str(tmp_path), "-q"]) == EXIT_OK
    (tmp_path / "schedule.json").write_text(json.dumps({"seed": 1, "applied": []}))
    assert main([str(tmp_path), "-q"]) == EXIT_VIOLATION
    capsys.readouterr()
    (tmp_path / "schedule.json").write_text('{"applied": [{"when": 1}]}')
    assert main([str(tmp_path), "-q"]) == EXIT_BAD_INPUT
    err = capsys.readouterr().err
    assert "schedule.json: not a test-cluster schedule" in err and len(err.strip().splitlines()) == 1, err
    (tmp_path / "schedule.json").unlink()
    assert main([str(tmp_path), "-q"]) == EXIT_BAD_INPUT
    assert "cannot read the run's schedule" in capsys.readouterr().err
