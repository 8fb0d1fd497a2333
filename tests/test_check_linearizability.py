"""Hand-written histories with known verdicts, for every model."""

from __future__ import annotations

import pytest
from history_helpers import hard_history

from raftkv.check import (
    CASRegisterModel,
    EtcdModel,
    HistoryBuilder,
    KVModel,
    ModelError,
    RegisterModel,
    check_linearizable,
)


def verdict(b: HistoryBuilder, model: object, **kw: object) -> str:
    return check_linearizable(b.history(), model, **kw).verdict  # type: ignore[arg-type]


# ------------------------------------------------------------------ register


def test_register_sequential_ok() -> None:
    b = HistoryBuilder()
    b.invoke(0, "write", value=1)
    b.ok(0, "write", value=1)
    b.invoke(1, "read")
    b.ok(1, "read", value=1)
    assert verdict(b, RegisterModel()) == "ok"


def test_register_stale_read_after_completed_write_fails() -> None:
    b = HistoryBuilder()
    b.invoke(0, "write", value=1)
    b.ok(0, "write", value=1)
    b.invoke(0, "write", value=2)
    b.ok(0, "write", value=2)
    b.invoke(1, "read")
    b.ok(1, "read", value=1)
    res = check_linearizable(b.history(), RegisterModel())
    assert res.verdict == "fail"
    (key,) = res.per_key
    assert key.blocked_op == 2
    assert [s.op_id for s in key.linearization] == [0, 1]
    assert key.linearization[-1].state_before == 1 and key.linearization[-1].state_after == 2
    assert "cannot place p1 read 1" in res.explanation
    assert "longest linearizable prefix has 2 of 3" in res.explanation


@pytest.mark.parametrize("seen", [0, 1])
def test_register_concurrent_read_sees_either(seen: int) -> None:
    b = HistoryBuilder()
    b.invoke(0, "write", value=1)
    b.invoke(1, "read")
    b.ok(1, "read", value=seen)
    b.ok(0, "write", value=1)
    assert verdict(b, RegisterModel(initial=0)) == "ok"


def test_register_read_of_never_written_value_fails() -> None:
    b = HistoryBuilder()
    b.invoke(0, "write", value=1)
    b.invoke(1, "read")
    b.ok(1, "read", value=7)
    b.ok(0, "write", value=1)
    assert verdict(b, RegisterModel()) == "fail"


def test_register_initial_value_option() -> None:
    b = HistoryBuilder()
    b.invoke(1, "read")
    b.ok(1, "read", value=0)
    assert verdict(b, RegisterModel(initial=0)) == "ok"
    assert verdict(b, RegisterModel()) == "fail"


def test_register_nil_read_knossos_semantics() -> None:
    b = HistoryBuilder()
    b.invoke(0, "write", value=1)
    b.ok(0, "write", value=1)
    b.invoke(1, "read")
    b.ok(1, "read", value=None)
    assert verdict(b, RegisterModel()) == "fail"
    assert verdict(b, RegisterModel(nil_read_is_unknown=True)) == "ok"


def test_register_failed_write_never_happened() -> None:
    b = HistoryBuilder()
    b.invoke(0, "write", value=1)
    b.fail(0, "write", value=1)
    b.invoke(1, "read")
    b.ok(1, "read", value=1)
    assert verdict(b, RegisterModel(initial=0)) == "fail"


def test_info_write_may_take_effect_later() -> None:
    b = HistoryBuilder()
    b.invoke(0, "write", value=1)
    b.info(0, "write", value=1)
    b.invoke(1, "read")
    b.ok(1, "read", value=0)
    b.invoke(1, "read")
    b.ok(1, "read", value=1)
    assert verdict(b, RegisterModel(initial=0)) == "ok"


def test_info_write_may_never_take_effect() -> None:
    b = HistoryBuilder()
    b.invoke(0, "write", value=1)
    b.info(0, "write", value=1)
    for _ in range(3):
        b.invoke(1, "read")
        b.ok(1, "read", value=0)
    assert verdict(b, RegisterModel(initial=0)) == "ok"


def test_info_write_takes_effect_once() -> None:
    b = HistoryBuilder()
    b.invoke(0, "write", value=1)
    b.info(0, "write", value=1)
    b.invoke(1, "read")
    b.ok(1, "read", value=1)
    b.invoke(1, "read")
    b.ok(1, "read", value=0)
    assert verdict(b, RegisterModel(initial=0)) == "fail"


def test_info_write_cannot_take_effect_before_invocation() -> None:
    b = HistoryBuilder()
    b.invoke(1, "read")
    b.ok(1, "read", value=1)
    b.invoke(0, "write", value=1)
    b.info(0, "write", value=1)
    assert verdict(b, RegisterModel(initial=0)) == "fail"


def test_crash_restarted_client_gets_new_process() -> None:
    # Jepsen style: process 0 crashes (info), its replacement is process 5.
    b = HistoryBuilder()
    b.invoke(0, "write", value=1)
    b.info(0, "write", value=1)
    b.invoke(5, "write", value=2)
    b.ok(5, "write", value=2)
    b.invoke(1, "read")
    b.ok(1, "read", value=1)  # the crashed write landed late
    assert verdict(b, RegisterModel(initial=0)) == "ok"
    b.invoke(1, "read")
    b.ok(1, "read", value=2)  # ... but it cannot land twice
    assert verdict(b, RegisterModel(initial=0)) == "fail"


def test_crash_restarted_client_reusing_its_id() -> None:
    # A client that restarts with the same id: the pending invocation becomes info.
    b = HistoryBuilder()
    b.invoke(0, "write", value=1)
    b.invoke(0, "write", value=2)
    b.ok(0, "write", value=2)
    b.invoke(1, "read")
    b.ok(1, "read", value=1)
    h = b.history()
    assert h.operations[0].outcome == "info"
    assert h.notes and "invoked again" in h.notes[0]
    assert check_linearizable(h, RegisterModel(initial=0)).verdict == "ok"


def test_never_completed_invocation_is_info() -> None:
    b = HistoryBuilder()
    b.invoke(0, "write", value=3)
    b.invoke(1, "read")
    b.ok(1, "read", value=3)
    h = b.history()
    assert h.operations[0].outcome == "info" and h.operations[0].complete_index is None
    assert check_linearizable(h, RegisterModel()).verdict == "ok"


def test_register_unknown_f_is_a_model_error() -> None:
    b = HistoryBuilder()
    b.invoke(0, "frobnicate", value=1)
    b.ok(0, "frobnicate", value=1)
    with pytest.raises(ModelError, match="frobnicate"):
        check_linearizable(b.history(), RegisterModel())


# ------------------------------------------------------------- cas register


def test_concurrent_cas_both_succeeding_fails() -> None:
    b = HistoryBuilder()
    b.invoke(0, "cas", value=[0, 1])
    b.invoke(1, "cas", value=[0, 2])
    b.ok(0, "cas", value=[0, 1])
    b.ok(1, "cas", value=[0, 2])
    assert verdict(b, CASRegisterModel(initial=0)) == "fail"


def test_concurrent_cas_one_fails_ok() -> None:
    b = HistoryBuilder()
    b.invoke(0, "cas", value=[0, 1])
    b.invoke(1, "cas", value=[0, 2])
    b.ok(0, "cas", value=[0, 1])
    b.fail(1, "cas", value=[0, 2])
    b.invoke(2, "read")
    b.ok(2, "read", value=1)
    assert verdict(b, CASRegisterModel(initial=0)) == "ok"


def test_concurrent_cas_chain_orders() -> None:
    b = HistoryBuilder()
    b.invoke(1, "cas", value=[1, 2])
    b.invoke(0, "cas", value=[0, 1])
    b.ok(1, "cas", value=[1, 2])
    b.ok(0, "cas", value=[0, 1])
    b.invoke(2, "read")
    b.ok(2, "read", value=2)
    assert verdict(b, CASRegisterModel(initial=0)) == "ok"
    b.invoke(2, "read")
    b.ok(2, "read", value=1)
    assert verdict(b, CASRegisterModel(initial=0)) == "fail"


def test_cas_reported_unsucceeded_must_mismatch() -> None:
    b = HistoryBuilder()
    b.invoke(0, "cas", value=[0, 1])
    b.ok(0, "cas", value=[0, 1], succeeded=False)
    assert verdict(b, CASRegisterModel(initial=0)) == "fail"
    assert verdict(b, CASRegisterModel(initial=5)) == "ok"


def test_info_cas_may_apply() -> None:
    b = HistoryBuilder()
    b.invoke(0, "cas", value=[0, 1])
    b.info(0, "cas", value=[0, 1])
    b.invoke(1, "read")
    b.ok(1, "read", value=1)
    assert verdict(b, CASRegisterModel(initial=0)) == "ok"
    assert verdict(b, CASRegisterModel(initial=3)) == "fail"


def test_cas_register_independent_keys() -> None:
    b = HistoryBuilder()
    b.invoke(0, "write", "x", 1)
    b.ok(0, "write", "x", 1)
    b.invoke(1, "read", "y")
    b.ok(1, "read", "y", None)
    b.invoke(1, "read", "x")
    b.ok(1, "read", "x", 1)
    res = check_linearizable(b.history(), CASRegisterModel())
    assert res.verdict == "ok" and {k.key for k in res.per_key} == {"x", "y"}


# ------------------------------------------------------------------------ kv


def test_kv_append_strings_order() -> None:
    b = HistoryBuilder()
    b.invoke(0, "append", "k", "a")
    b.invoke(1, "append", "k", "b")
    b.ok(0, "append", "k", "a")
    b.ok(1, "append", "k", "b")
    b.invoke(2, "get", "k")
    b.ok(2, "get", "k", "ba")
    assert verdict(b, KVModel()) == "ok"
    b.invoke(2, "get", "k")
    b.ok(2, "get", "k", "ab")
    assert verdict(b, KVModel()) == "fail"


def test_kv_append_lists() -> None:
    b = HistoryBuilder()
    b.invoke(0, "append", "k", 1)
    b.ok(0, "append", "k", 1)
    b.invoke(0, "append", "k", 2)
    b.ok(0, "append", "k", 2)
    b.invoke(1, "get", "k")
    b.ok(1, "get", "k", [1, 2])
    assert verdict(b, KVModel()) == "ok"
    b.invoke(1, "get", "k")
    b.ok(1, "get", "k", [2])
    assert verdict(b, KVModel()) == "fail"


def test_kv_keys_are_independent_and_failure_names_the_key() -> None:
    b = HistoryBuilder()
    b.invoke(0, "put", "a", 1)
    b.ok(0, "put", "a", 1)
    b.invoke(0, "put", "b", 2)
    b.ok(0, "put", "b", 2)
    b.invoke(1, "get", "a")
    b.ok(1, "get", "a", 1)
    b.invoke(1, "get", "b")
    b.ok(1, "get", "b", None)
    res = check_linearizable(b.history(), KVModel())
    assert res.verdict == "fail"
    assert [k.key for k in res.failed_keys()] == ["b"]
    assert "key 'b'" in res.explanation


def test_kv_cas_and_delete() -> None:
    b = HistoryBuilder()
    b.invoke(0, "put", "k", "x")
    b.ok(0, "put", "k", "x")
    b.invoke(0, "cas", "k", ["x", "y"])
    b.ok(0, "cas", "k", ["x", "y"])
    b.invoke(0, "delete", "k")
    b.ok(0, "delete", "k", deleted=1)
    b.invoke(0, "delete", "k")
    b.ok(0, "delete", "k", deleted=0)
    b.invoke(1, "get", "k")
    b.ok(1, "get", "k", None)
    assert verdict(b, KVModel()) == "ok"
    b.invoke(0, "cas", "k", ["y", "z"])
    b.ok(0, "cas", "k", ["y", "z"])
    assert verdict(b, KVModel()) == "fail"


# ---------------------------------------------------------------------- etcd


def test_etcd_revisions_ok() -> None:
    b = HistoryBuilder()
    b.invoke(0, "put", "k", "a")
    b.ok(0, "put", "k", "a", revision=2)
    b.invoke(1, "get", "k")
    b.invoke(0, "put", "k", "b")
    b.ok(1, "get", "k", "a", revision=2, mod_revision=2)
    b.ok(0, "put", "k", "b", revision=3)
    b.invoke(1, "get", "k")
    b.ok(1, "get", "k", "b", revision=3, mod_revision=3)
    assert verdict(b, EtcdModel()) == "ok"


def test_etcd_mod_revision_distinguishes_equal_values() -> None:
    b = HistoryBuilder()
    b.invoke(0, "put", "k", "a")
    b.ok(0, "put", "k", "a", revision=2)
    b.invoke(0, "put", "k", "a")
    b.ok(0, "put", "k", "a", revision=3)
    b.invoke(1, "get", "k")
    b.ok(1, "get", "k", "a", revision=3, mod_revision=2)
    res = check_linearizable(b.history(), EtcdModel())
    assert res.verdict == "fail"
    assert "mod_revision 2" in res.explanation


def test_etcd_revisions_must_grow_per_key() -> None:
    b = HistoryBuilder()
    b.invoke(0, "put", "k", "a")
    b.ok(0, "put", "k", "a", revision=5)
    b.invoke(1, "put", "k", "b")
    b.ok(1, "put", "k", "b", revision=4)
    assert verdict(b, EtcdModel()) == "fail"


def test_etcd_concurrent_create_if_absent_both_succeed_fails() -> None:
    b = HistoryBuilder()
    b.invoke(0, "cas", "k", [None, "a"])
    b.invoke(1, "cas", "k", [None, "b"])
    b.ok(0, "cas", "k", [None, "a"], succeeded=True, revision=2)
    b.ok(1, "cas", "k", [None, "b"], succeeded=True, revision=3)
    assert verdict(b, EtcdModel()) == "fail"


def test_etcd_cas_failed_and_delete() -> None:
    b = HistoryBuilder()
    b.invoke(0, "put", "k", "a")
    b.ok(0, "put", "k", "a", revision=2)
    b.invoke(1, "cas", "k", [None, "b"])
    b.ok(1, "cas", "k", [None, "b"], succeeded=False, revision=2)
    b.invoke(1, "cas", "k", ["a", "c"])
    b.ok(1, "cas", "k", ["a", "c"], succeeded=True, revision=3)
    b.invoke(0, "delete", "k")
    b.ok(0, "delete", "k", deleted=1, revision=4)
    b.invoke(1, "get", "k")
    b.ok(1, "get", "k", None, revision=4)
    assert verdict(b, EtcdModel()) == "ok"
    b.invoke(0, "delete", "k")
    b.ok(0, "delete", "k", deleted=1, revision=5)
    assert verdict(b, EtcdModel()) == "fail"


def test_etcd_stale_get_is_not_checked() -> None:
    b = HistoryBuilder()
    b.invoke(0, "put", "k", "a")
    b.ok(0, "put", "k", "a", revision=2)
    b.invoke(0, "put", "k", "b")
    b.ok(0, "put", "k", "b", revision=3)
    b.invoke(1, "stale_get", "k")
    b.ok(1, "stale_get", "k", "a", revision=2, mod_revision=2)
    res = check_linearizable(b.history(), EtcdModel())
    assert res.verdict == "ok" and 2 in res.excluded
    b.invoke(1, "get", "k")
    b.ok(1, "get", "k", "a", revision=3, mod_revision=2)
    assert verdict(b, EtcdModel()) == "fail"


def test_etcd_leased_key_may_vanish_plain_key_may_not() -> None:
    for lease, expected in ((7, "ok"), (None, "fail")):
        b = HistoryBuilder()
        b.invoke(0, "put", "k", "a", lease=lease)
        b.ok(0, "put", "k", "a", revision=2, lease=lease)
        b.invoke(1, "get", "k")
        b.ok(1, "get", "k", None, revision=3)
        assert verdict(b, EtcdModel()) == expected


def test_etcd_info_put_revision_unknown() -> None:
    b = HistoryBuilder()
    b.invoke(0, "put", "k", "a")
    b.ok(0, "put", "k", "a", revision=2)
    b.invoke(0, "put", "k", "b")
    b.info(0, "put", "k", "b")
    b.invoke(1, "get", "k")
    b.ok(1, "get", "k", "b", revision=9, mod_revision=9)
    b.invoke(1, "get", "k")
    b.ok(1, "get", "k", "b", revision=9, mod_revision=9)
    assert verdict(b, EtcdModel()) == "ok"
    b.invoke(1, "get", "k")
    b.ok(1, "get", "k", "b", revision=9, mod_revision=8)
    assert verdict(b, EtcdModel()) == "fail"


def test_etcd_reading_never_written_value_fails() -> None:
    b = HistoryBuilder()
    b.invoke(1, "get", "k")
    b.ok(1, "get", "k", "ghost", revision=3, mod_revision=3)
    assert verdict(b, EtcdModel()) == "fail"


def test_etcd_lease_and_compact_ops_ignored() -> None:
    b = HistoryBuilder()
    b.invoke(0, "lease_grant", value=None, ttl_s=5)
    b.ok(0, "lease_grant", lease=1, ttl_s=5)
    b.invoke(0, "compact", value=1)
    b.ok(0, "compact", value=1, revision=2)
    res = check_linearizable(b.history(), EtcdModel())
    assert res.verdict == "ok" and len(res.excluded) == 2


# -------------------------------------------------------------------- budget


def test_budget_gives_unknown_deterministically() -> None:
    b = hard_history()
    r1 = check_linearizable(b.history(), RegisterModel(), max_steps=300)
    r2 = check_linearizable(b.history(), RegisterModel(), max_steps=300)
    assert r1.verdict == r2.verdict == "unknown"
    assert r1.steps == r2.steps
    assert "budget" in r1.explanation
    assert check_linearizable(b.history(), RegisterModel()).verdict == "fail"


def test_timeout_uses_injected_clock() -> None:
    b = hard_history()
    ticks = iter(range(0, 10**9, 1))
    res = check_linearizable(b.history(), RegisterModel(), timeout_s=5, clock=lambda: float(next(ticks)))
    assert res.verdict == "unknown"


# ------------------------------------------------------- info-heavy histories


def _outage(last_value: str, last_mod_revision: int, info_ops: int = 24) -> HistoryBuilder:
    """An outage: every write times out (unknown outcome), then the key reads absent,
    a create succeeds, and a read races a later put."""
    b = HistoryBuilder()
    b.invoke(0, "put", "k", "a")
    b.ok(0, "put", "k", "a", revision=2)
    for p in range(1, info_ops + 1):
        if p % 3 == 0:
            b.invoke(p, "delete", "k")
        else:
            b.invoke(p, "put", "k", f"v{p}")
    for p in range(1, info_ops + 1):
        if p % 3 == 0:
            b.info(p, "delete", "k")
        else:
            b.info(p, "put", "k", f"v{p}")
    b.invoke(100, "get", "k")
    b.ok(100, "get", "k", None, revision=30)
    b.invoke(100, "cas", "k", (None, "b"))
    b.ok(100, "cas", "k", (None, "b"), revision=31, succeeded=True)
    b.invoke(101, "put", "k", "c")
    b.invoke(102, "get", "k")
    b.ok(101, "put", "k", "c", revision=32)
    b.ok(102, "get", "k", last_value, revision=31, mod_revision=last_mod_revision)
    return b


def test_many_info_writes_after_an_outage_are_checked_quickly() -> None:
    # Trying each of the 24 unknown writes at every earlier point is exponential; taking
    # them just in time finds the linearization (a delete, then the create) at once.
    res = check_linearizable(_outage("b", 31).history(), EtcdModel(), max_steps=2_000)
    assert res.verdict == "ok", res.explanation
    assert res.steps < 200


def test_many_info_writes_do_not_hide_an_impossible_read() -> None:
    # The last read names revision 30 for the value written at revision 31.  No one
    # reads the 16 timed-out writes' values, so which of them took effect cannot matter
    # (they are twins): the failure is found without trying every subset of them.
    res = check_linearizable(_outage("b", 30).history(), EtcdModel(), max_steps=20_000)
    assert res.verdict == "fail", res.explanation
    assert res.per_key[0].blocked_reasons


def _late_info_write(info_ops: int = 24) -> HistoryBuilder:
    """Writes time out in an outage; then a put completes, and a read racing another
    put sees one of the timed-out writes: it took effect after the completed put."""
    b = HistoryBuilder()
    for p in range(1, info_ops + 1):
        b.invoke(p, "put", "k", f"v{p}")
    for p in range(1, info_ops + 1):
        b.info(p, "put", "k", f"v{p}")
    b.invoke(100, "put", "k", "p")
    b.ok(100, "put", "k", "p", revision=40)
    b.invoke(101, "put", "k", "q")
    b.invoke(102, "get", "k")
    b.ok(102, "get", "k", "v7", revision=41, mod_revision=41)
    b.ok(101, "put", "k", "q", revision=42)
    return b


def test_info_write_taking_effect_after_an_operation_that_applies_either_way() -> None:
    # Where the racing put applies first and leads nowhere, the timed-out write must
    # still be tried just in time: it unblocks the read.  The complete search would
    # try all 24 timed-out writes at every earlier point.
    res = check_linearizable(_late_info_write().history(), EtcdModel(), max_steps=2_000)
    assert res.verdict == "ok", res.explanation
    order = [s.op_id for s in res.per_key[0].linearization]
    ops = {op.id: op for op in res.operations}
    assert [ops[i].value for i in order if ops[i].outcome == "ok" or ops[i].value == "v7"] == [
        "p", "v7", "v7", "q"]


# ------------------------------------------------------------------------ twins


def _twin_writes(rounds: int, last_read: int) -> HistoryBuilder:
    """Each round, two clients time out: one writing 1, one CAS-ing 1 to 2; a reader
    sees 2, then 1, alternately (the last read sees ``last_read``); a writer resets to 0."""
    b = HistoryBuilder()
    for i in range(rounds):
        b.invoke(f"w{i}", "write", value=1)
        b.invoke(f"c{i}", "cas", value=(1, 2))
        b.invoke("r", "read")
        b.ok("r", "read", value=(1 if i % 2 else 2) if i < rounds - 1 else last_read)
        b.invoke("w", "write", value=0)
        b.ok("w", "write", value=0)
    return b


def test_equal_info_operations_are_tried_in_one_order_only() -> None:
    # The timed-out writes of 1 (and CASes 1 -> 2) are interchangeable: trying every
    # subset of them is exponential, using the earliest unused one first is not.
    ok = check_linearizable(_twin_writes(14, 1).history(), CASRegisterModel(), max_steps=2_000)
    assert ok.verdict == "ok", ok.explanation
    bad = check_linearizable(_twin_writes(14, 3).history(), CASRegisterModel(), max_steps=2_000)
    assert bad.verdict == "fail", bad.explanation
    assert bad.steps < 1_000


def _two_equal_info_writes(second_before_last_read: bool) -> HistoryBuilder:
    """Two timed-out writes of 1; reads of 1 before and after a completed write of 0;
    the second write of 1 is invoked before the last read, or only after it."""
    b = HistoryBuilder()
    b.invoke(1, "write", value=1)
    b.info(1, "write", value=1)
    b.invoke(9, "read")
    b.ok(9, "read", value=1)
    b.invoke(9, "write", value=0)
    b.ok(9, "write", value=0)
    if second_before_last_read:
        b.invoke(2, "write", value=1)
        b.info(2, "write", value=1)
    b.invoke(9, "read")
    b.ok(9, "read", value=1)
    if not second_before_last_read:
        b.invoke(2, "write", value=1)
        b.info(2, "write", value=1)
    return b


def test_twins_still_need_their_own_invocation() -> None:
    # The first write of 1 cannot serve both reads of 1 around the 0: the later twin is
    # needed, and only where it was invoked in time.
    assert verdict(_two_equal_info_writes(second_before_last_read=True), RegisterModel()) == "ok"
    assert verdict(_two_equal_info_writes(second_before_last_read=False), RegisterModel()) == "fail"


def test_a_read_value_breaks_the_twin() -> None:
    # w1 and w2 time out; a read sees w2's value, then a completed write and a read
    # of w1's value: w1 after w2, so both took effect, in that order only.
    b = HistoryBuilder()
    b.invoke(1, "write", value="x")
    b.invoke(2, "write", value="y")
    b.info(1, "write", value="x")
    b.info(2, "write", value="y")
    b.invoke(9, "read")
    b.ok(9, "read", value="y")
    b.invoke(9, "read")
    b.ok(9, "read", value="x")
    assert verdict(b, RegisterModel()) == "ok"
    b.invoke(9, "read")
    b.ok(9, "read", value="y")
    assert verdict(b, RegisterModel()) == "fail"


def test_info_write_that_only_a_chain_of_info_operations_needs() -> None:
    # Timed-out write of 1 and CAS 1 -> 2; a read of 2.  The write unblocks only the
    # CAS, which unblocks the read: just in time must follow the chain, and for a
    # register its "fail" is final (a read of 3 fails without the complete search).
    def history(last: int) -> HistoryBuilder:
        b = HistoryBuilder()
        b.invoke(1, "write", value=1)
        b.invoke(2, "cas", value=(1, 2))
        b.info(1, "write", value=1)
        b.info(2, "cas", value=(1, 2))
        b.invoke(9, "read")
        b.ok(9, "read", value=last)
        return b
    assert verdict(history(2), CASRegisterModel()) == "ok"
    assert verdict(history(3), CASRegisterModel()) == "fail"


def test_kv_appends_are_not_just_in_time_complete() -> None:
    # A timed-out append took effect before a completed one: no operation needs it right
    # after it, so the just-in-time pass misses this order; the complete search finds it.
    b = HistoryBuilder()
    b.invoke(1, "append", "k", "x")
    b.info(1, "append", "k", "x")
    b.invoke(2, "append", "k", "y")
    b.ok(2, "append", "k", "y")
    b.invoke(9, "get", "k")
    b.ok(9, "get", "k", "xy")
    assert verdict(b, KVModel()) == "ok"
