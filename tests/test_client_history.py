"""What the client records: f names, values and result fields the checkers read."""

from __future__ import annotations

import pytest

from raftkv.check import EtcdModel, check_leases, check_linearizable, check_watches
from raftkv.client import ClientConfig, Txn, WorkloadParams
from raftkv.client.txn import delete, get, put, value, version
from raftkv.kv import CompareResult, CompareTarget, DeleteRangeRequest, PutRequest, RangeRequest
from raftkv.sim.kv_system import KVCluster


def ops_by_f(cl: KVCluster) -> dict[str, list]:
    out: dict[str, list] = {}
    for op in cl.history().operations:
        out.setdefault(op.f, []).append(op)
    return out


def test_recorded_fields_for_each_operation() -> None:
    cl = KVCluster(seed=31)
    c = cl.add_client("c1")
    cl.wait_leader()
    put_r = cl.call(c.put, b"k", b"v1")
    assert cl.call(c.get, b"k").ok
    assert cl.call(c.get, b"k", serializable=True).ok
    assert cl.call(c.cas, b"k", b"v1", b"v2").ok
    assert cl.call(c.cas, b"k", b"nope", b"v3").ok
    assert cl.call(c.cas, b"new", None, b"n1").ok
    assert cl.call(c.delete, b"k").ok
    assert cl.call(c.delete, b"k").ok
    g = cl.call(c.lease_grant, 4)
    lease = g.response.id
    assert cl.call(c.put, b"lk", b"lv", lease=lease).ok
    assert cl.call(c.get, b"lk").ok
    assert cl.call(c.lease_keepalive, lease).ok
    assert cl.call(c.lease_revoke, lease).ok
    assert cl.call(c.compact, 3).ok
    ops = ops_by_f(cl)
    assert all(op.outcome == "ok" for f in ops for op in ops[f])
    (p,) = [o for o in ops["put"] if o.key == "k"]
    assert p.value == "v1" and p.revision == put_r.response.header.revision
    get_k, get_lk = ops["get"]
    assert (get_k.key, get_k.value, get_k.mod_revision, get_k.version) == ("k", "v1", p.revision, 1)
    assert get_k.lease is None and get_lk.lease == lease and get_lk.value == "lv"
    assert ops["stale_get"][0].value == "v1"
    cas_ok, cas_no, cas_new = ops["cas"]
    assert (cas_ok.value, cas_ok.succeeded) == (("v1", "v2"), True)
    assert (cas_no.value, cas_no.succeeded) == (("nope", "v3"), False)
    assert (cas_new.key, cas_new.value, cas_new.succeeded) == ("new", (None, "n1"), True)
    assert [d.deleted for d in ops["delete"]] == [1, 0]
    (leased,) = [o for o in ops["put"] if o.key == "lk"]
    assert leased.lease == lease
    assert ops["lease_grant"][0].lease == lease and ops["lease_grant"][0].ttl_s == 4
    assert ops["lease_keepalive"][0].ttl_s == 4 and ops["lease_keepalive"][0].lease == lease
    assert ops["lease_revoke"][0].lease == lease
    assert ops["compact"][0].value == 3
    history = cl.history()
    assert check_linearizable(history, EtcdModel()).verdict == "ok"
    assert check_watches(history) == [] and check_leases(history) == []


def test_concurrent_operations_get_their_own_process() -> None:
    cl = KVCluster(seed=32)
    c = cl.add_client("c1")
    cl.wait_leader()
    done: list = []
    for i in range(3):
        c.put(f"k{i}".encode(), b"v", done.append)
    cl.world.run_until_pred(lambda: len(done) == 3, 2_000_000)
    procs = sorted({op.process for op in cl.history().operations}, key=str)
    assert procs == ["c1", "c1/1", "c1/2"]


def test_error_fail_records_etcd_message() -> None:
    cl = KVCluster(seed=33)
    c = cl.add_client("c1")
    cl.wait_leader()
    assert cl.call(c.lease_keepalive, 99).outcome == "fail"
    (op,) = cl.history().operations
    assert op.outcome == "fail" and op.error == "etcdserver: requested lease not found"


def test_txn_builder() -> None:
    t = (Txn().when(value(b"a") == b"x", version(b"b") > 2)
         .then(put(b"a", b"y", lease_id=5), delete(b"c"))
         .otherwise(get(b"a")).build())
    assert [(c.target, c.result, c.operand) for c in t.compare] == [
        (CompareTarget.VALUE, CompareResult.EQUAL, b"x"),
        (CompareTarget.VERSION, CompareResult.GREATER, 2)]
    assert t.success == (PutRequest(key=b"a", value=b"y", lease=5), DeleteRangeRequest(key=b"c"))
    assert t.failure == (RangeRequest(key=b"a"),)
    assert (version(b"a") != 1).result is CompareResult.NOT_EQUAL
    assert (version(b"a") < 1).result is CompareResult.LESS


def test_bad_parameters_are_refused() -> None:
    with pytest.raises(ValueError, match="op_timeout_us"):
        ClientConfig(op_timeout_us=0)
    with pytest.raises(ValueError, match="unknown operation 'frob'"):
        WorkloadParams(mix=(("frob", 1),))
    with pytest.raises(ValueError, match="ops_per_s"):
        WorkloadParams(ops_per_s=0)
