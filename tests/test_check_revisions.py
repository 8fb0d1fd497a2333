"""etcd's revision order across keys (raftkv.check.revisions)."""

from __future__ import annotations

import attrs

from raftkv.check import (
    EtcdModel,
    HistoryBuilder,
    check_linearizable,
    check_revision_order,
    make_history,
)
from raftkv.sim import run_scenario, scenario_from_token


def test_read_of_another_key_must_not_go_back_in_revisions() -> None:
    # k1 is written at revision 5; a later get of k2 answers from revision 3: a stale
    # store, though k2 itself was never written (the per-key search cannot see it).
    b = HistoryBuilder()
    b.invoke(0, "put", "k1", "a")
    b.ok(0, "put", "k1", "a", revision=5)
    b.invoke(1, "get", "k2")
    b.ok(1, "get", "k2", None, revision=3)
    h = b.history()
    assert check_linearizable(h, EtcdModel()).verdict == "ok"
    found = check_revision_order(h)
    assert len(found) == 1 and found[0].guarantee == "revision_order"
    assert "revision 3" in found[0].message and "revision 5" in found[0].message


def test_concurrent_operations_may_answer_in_any_revision_order() -> None:
    b = HistoryBuilder()
    b.invoke(0, "put", "k1", "a")
    b.invoke(1, "get", "k2")
    b.ok(0, "put", "k1", "a", revision=5)
    b.ok(1, "get", "k2", None, revision=3)  # began before the put completed
    b.invoke(1, "get", "k2")
    b.ok(1, "get", "k2", None, revision=5)
    assert check_revision_order(b.history()) == []


def test_serializable_reads_may_lag_but_bound_what_follows() -> None:
    b = HistoryBuilder()
    b.invoke(0, "put", "k1", "a")
    b.ok(0, "put", "k1", "a", revision=5)
    b.invoke(1, "stale_get", "k1")
    b.ok(1, "stale_get", "k1", None, revision=2)  # a lagging member: allowed
    assert check_revision_order(b.history()) == []
    b.invoke(2, "stale_get", "k1")
    b.ok(2, "stale_get", "k1", "b", revision=7, mod_revision=7)
    b.invoke(3, "cas", "k1", ("b", "c"))
    b.ok(3, "cas", "k1", ("b", "c"), revision=6, succeeded=False)  # after revision 7 was seen
    found = check_revision_order(b.history())
    assert [v.guarantee for v in found] == ["revision_order"]


def test_failed_and_unknown_operations_bound_nothing() -> None:
    b = HistoryBuilder()
    b.invoke(0, "put", "k1", "a")
    b.info(0, "put", "k1", "a")
    b.invoke(1, "put", "k1", "b")
    b.fail(1, "put", "k1", "b")
    b.invoke(2, "get", "k1")
    b.ok(2, "get", "k1", None, revision=1)
    assert check_revision_order(b.history()) == []


# A kv run with the follower_local_reads bug: a follower answers a get from its own,
# lagging, state (found by the linearizability suite, then reduced).
FOLLOWER_READS = (
    "rk1_eNp1UUuOwjAMvYvXWfTHAL0KQpGndSFqGkdJWgah3n2cwiA2k40j2-9j-wHf8yVCe4KBreUbBW25Q6sDYR_hrKCzc0wUoH0AWeqSYaeTmYjnJLEbB"
    "VxWCib80Z1AR90HMyTt_QRtXeT3LJJLwVDUXiSmeIG2UeAD6YUTQTugjaQgq2p29g4tWMJIoCA69PHKSRsnPhbx9qKCtipWBf0ccHM1S2ZXvCQHnG3Kgz0A01Yqv8"
    "piX0tpNK4X_nhFn_kd92IAXJ21tlwL7Ejf8A6resPrfVlUx-pfePUBv6JdxN8n-lgfdsVRwSXw7LOvU4aclYQys9RwPr-5PYZk8kywSjLgkMZFx44cBsMyiSgRSWPdH"
    "PI3JUubSvM3_Y3DaBn7fLXOGllY3o0C9u_bba5e7eyfd8lNzbr-ApJkrqM")


def test_revision_order_catches_follower_reads_end_to_end() -> None:
    scenario = scenario_from_token(FOLLOWER_READS)
    assert scenario.bugs == ("follower_local_reads",)
    buggy = run_scenario(scenario)
    assert check_revision_order(make_history(buggy.system.history()))
    assert buggy.first_violation() is not None
    assert buggy.first_violation().property == "linearizability.revision_order"  # type: ignore[union-attr]
    fixed = run_scenario(attrs.evolve(scenario, bugs=()))
    assert fixed.ok and not check_revision_order(make_history(fixed.system.history()))


def test_a_run_judged_on_some_properties_skips_the_other_checks() -> None:
    scenario = scenario_from_token(FOLLOWER_READS)
    assert [v.property for v in run_scenario(scenario, properties=("watch", "lease")).violations] == []
    judged = run_scenario(scenario, properties=("raft.", "linearizability")).violations
    assert judged and all(v.property.startswith("linearizability") for v in judged)


def test_raftkv_check_reports_revision_order(tmp_path) -> None:  # type: ignore[no-untyped-def]
    import io

    from raftkv.check import write_jsonl
    from raftkv.check.cli import EXIT_VIOLATION as EXIT_FAIL
    from raftkv.check.cli import main

    b = HistoryBuilder()
    b.invoke(0, "put", "k1", "a")
    b.ok(0, "put", "k1", "a", revision=5)
    b.invoke(1, "get", "k2")
    b.ok(1, "get", "k2", None, revision=3)
    path = tmp_path / "h.jsonl"
    write_jsonl(b.history().records, path)
    out = io.StringIO()
    assert main([str(path)], stdout=out, stderr=io.StringIO()) == EXIT_FAIL
    text = out.getvalue()
    assert text.startswith("ok:") and "[revision_order]" in text


def test_a_read_must_show_every_acknowledged_write_up_to_its_revision() -> None:
    b = HistoryBuilder()
    b.invoke(0, "put", "k", "a")
    b.ok(0, "put", "k", "a", revision=2)
    b.invoke(0, "put", "k", "b")
    b.ok(0, "put", "k", "b", revision=4)
    # at revision 5 the key must be b (revision 4) or newer: a is a lost write's shadow
    b.invoke(1, "stale_get", "k")
    b.ok(1, "stale_get", "k", "a", revision=5, mod_revision=2)
    found = check_revision_order(b.history())
    assert [v.guarantee for v in found] == ["lost_write"]
    assert "revision 4" in found[0].message


def test_a_read_at_an_older_revision_may_show_the_older_version() -> None:
    b = HistoryBuilder()
    b.invoke(0, "put", "k", "a")
    b.ok(0, "put", "k", "a", revision=2)
    b.invoke(1, "stale_get", "k")  # a lagging member, at revision 3: b came later
    b.invoke(0, "put", "k", "b")
    b.ok(0, "put", "k", "b", revision=4)
    b.ok(1, "stale_get", "k", "a", revision=3, mod_revision=2)
    b.invoke(2, "cas", "k", ("a", "c"))  # a failed cas wrote nothing
    b.ok(2, "cas", "k", ("a", "c"), revision=4, succeeded=False)
    b.invoke(1, "get", "k")
    b.ok(1, "get", "k", "b", revision=4, mod_revision=4)
    assert check_revision_order(b.history()) == []
