"""Every error of the key-value API, through a simulated member and the client."""

from __future__ import annotations

import pytest

from raftkv.client import ClientConfig, Txn
from raftkv.client.txn import get, put, value
from raftkv.env import Env
from raftkv.kv import (
    CompactionResponse,
    ErrCompacted,
    ErrDuplicateKey,
    ErrFutureRev,
    ErrKeyNotFound,
    ErrLeaseNotFound,
    ErrNoLeader,
    ErrTimeout,
    ErrTooManyOps,
    LeaseGrantResponse,
    PutRequest,
    PutResponse,
    RangeRequest,
    RangeResponse,
    TxnRequest,
)
from raftkv.kv.protocol import ClientRequest, ClientResponse, ErrNotLeader, MemberStatus
from raftkv.kv.server import ServerConfig
from raftkv.sim.kv_system import KVCluster


@pytest.fixture
def cluster() -> KVCluster:
    cl = KVCluster(seed=3, server_config=ServerConfig(max_txn_ops=4))
    cl.add_client("c1")
    cl.wait_leader()
    cl.world.run_for(100_000)  # every follower has heard from the leader
    return cl


def client(cl: KVCluster):
    actor = cl.world.actor("c1")
    return actor.client  # type: ignore[union-attr]


def test_put_get_roundtrip(cluster: KVCluster) -> None:
    c = client(cluster)
    r = cluster.call(c.put, b"a", b"1")
    assert r.ok and isinstance(r.response, PutResponse)
    rev = r.response.header.revision
    g = cluster.call(c.get, b"a")
    assert g.ok and isinstance(g.response, RangeResponse)
    assert [kv.value for kv in g.response.kvs] == [b"1"]
    assert g.response.kvs[0].mod_revision == rev
    s = cluster.call(c.get, b"a", serializable=True)
    assert s.ok


def test_compacted_and_future_revision(cluster: KVCluster) -> None:
    c = client(cluster)
    for i in range(5):
        assert cluster.call(c.put, b"k", str(i).encode()).ok
    r = cluster.call(c.compact, 4)
    assert r.ok and isinstance(r.response, CompactionResponse)
    old = cluster.call(c.get, b"k", revision=2)
    assert old.outcome == "fail" and isinstance(old.error, ErrCompacted)
    again = cluster.call(c.compact, 3)
    assert again.outcome == "fail" and isinstance(again.error, ErrCompacted)
    future = cluster.call(c.get, b"k", revision=1000)
    assert future.outcome == "fail" and isinstance(future.error, ErrFutureRev)
    ok = cluster.call(c.get, b"k", revision=5)
    assert ok.ok and ok.response.kvs[0].value == b"3"


def test_lease_not_found(cluster: KVCluster) -> None:
    c = client(cluster)
    r = cluster.call(c.put, b"k", b"v", lease=12345)
    assert r.outcome == "fail" and isinstance(r.error, ErrLeaseNotFound)
    k = cluster.call(c.lease_keepalive, 777)
    assert k.outcome == "fail" and isinstance(k.error, ErrLeaseNotFound)
    v = cluster.call(c.lease_revoke, 777)
    assert v.outcome == "fail" and isinstance(v.error, ErrLeaseNotFound)
    t = cluster.call(c.lease_time_to_live, 777)
    assert t.outcome == "fail" and isinstance(t.error, ErrLeaseNotFound)


def test_key_not_found_for_ignore_value(cluster: KVCluster) -> None:
    c = client(cluster)
    r = cluster.call(c.range, RangeRequest(key=b"x"))  # warm-up: leader known
    assert r.ok
    req = PutRequest(key=b"missing", ignore_value=True)
    got: list = []
    c._start(req, got.append, None)
    cluster.world.run_until_pred(lambda: bool(got), 2_000_000)
    assert got[0].outcome == "fail" and isinstance(got[0].error, ErrKeyNotFound)


def test_duplicate_key_and_too_many_ops(cluster: KVCluster) -> None:
    c = client(cluster)
    dup = Txn().then(put(b"a", b"1"), put(b"a", b"2")).build()
    r = cluster.call(c.txn, dup)
    assert r.outcome == "fail" and isinstance(r.error, ErrDuplicateKey)
    many = Txn().then(*(put(f"k{i}".encode(), b"v") for i in range(5))).build()
    r = cluster.call(c.txn, many)
    assert r.outcome == "fail" and isinstance(r.error, ErrTooManyOps)
    fine = Txn().when(value(b"a") == b"").then(put(b"a", b"1")).otherwise(get(b"a")).build()
    r = cluster.call(c.txn, fine)
    assert r.ok and r.response.succeeded is False  # absent key: value compare fails


class Probe:
    """A bare actor that sends raw protocol messages and keeps what comes back."""

    def __init__(self, env: Env) -> None:
        self.env = env
        self.got: list[object] = []

    def on_start(self) -> None: ...

    def on_message(self, src: str, msg: object) -> None:
        self.got.append(msg)

    def on_timer(self, tag: object) -> None: ...


def test_not_leader_answer_names_the_leader(cluster: KVCluster) -> None:
    cluster.world.run_for(200_000)  # every follower learns the leader
    leader = cluster.leader()
    follower = next(m for m in cluster.members if m != leader)
    cluster.world.add_node("probe", Probe, client=True)
    probe = cluster.world.actor("probe")
    assert isinstance(probe, Probe)
    before = cluster.server(leader).store.revision  # type: ignore[arg-type]
    probe.env.send(follower, ClientRequest(req_id=1, request=PutRequest(key=b"k", value=b"v")))
    cluster.world.run_for(100_000)
    assert len(probe.got) == 1 and isinstance(probe.got[0], ClientResponse)
    assert isinstance(probe.got[0].error, ErrNotLeader) and probe.got[0].leader_hint == leader
    assert cluster.server(leader).store.revision == before  # nothing was proposed


def test_client_follows_leader_hints(cluster: KVCluster) -> None:
    c = client(cluster)
    leader = cluster.leader()
    c.leader = next(m for m in cluster.members if m != leader)
    r = cluster.call(c.put, b"k", b"v")
    assert r.ok and c.leader == leader


def test_no_leader_fails_definitely() -> None:
    cl = KVCluster(seed=5)
    # a client that knows only n1, which is alone: every attempt is refused before proposing
    c = cl.add_client("c1", config=ClientConfig(op_timeout_us=400_000, retry_backoff_us=50_000),
                      members=("n1",))
    cl.wait_leader()
    for m in cl.members[1:]:
        cl.world.crash(m)
    cl.world.run_for(1_000_000)  # n1 alone: no leader (check quorum)
    assert cl.leader() is None
    r = cl.call(c.put, b"k", b"v")
    assert r.outcome == "fail" and isinstance(r.error, ErrNoLeader)
    events = [e for e in cl.history().events if e.f == "put"]
    assert [e.type for e in events] == ["invoke", "fail"]
    assert events[-1].error == "etcdserver: no leader"


def test_timeout_is_unknown_not_failed() -> None:
    cl = KVCluster(seed=6)
    c = cl.add_client("c1", config=ClientConfig(op_timeout_us=300_000))
    leader = cl.wait_leader()
    c.leader = leader
    cl.world.crash(leader)  # the request goes nowhere
    r = cl.call(c.put, b"k", b"v")
    assert r.outcome == "unknown" and isinstance(r.error, ErrTimeout)
    events = [e for e in cl.history().events if e.f == "put"]
    assert [e.type for e in events] == ["invoke", "info"]
    assert c.leader != leader  # looks elsewhere next time


def test_server_timeout_answers_err_timeout() -> None:
    # a leader cut off from its followers cannot commit: its own timeout answers ErrTimeout
    cl = KVCluster(seed=7, server_config=ServerConfig(request_timeout_us=200_000))
    c = cl.add_client("c1", config=ClientConfig(op_timeout_us=2_000_000))
    leader = cl.wait_leader()
    cl.world.run_for(300_000)
    c.leader = leader
    others = [m for m in cl.members if m != leader]
    cl.world.partition([[leader], others])
    r = cl.call(c.put, b"k", b"v")
    assert r.outcome == "unknown" and isinstance(r.error, ErrTimeout)


def test_status_member_list_and_lease_roundtrip(cluster: KVCluster) -> None:
    c = client(cluster)
    s = cluster.call(c.status)
    assert s.ok and isinstance(s.response, MemberStatus)
    assert s.response.leader == cluster.leader()
    m = cluster.call(c.member_list)
    assert m.ok and [x.name for x in m.response.members] == list(cluster.members)
    g = cluster.call(c.lease_grant, 5)
    assert g.ok and isinstance(g.response, LeaseGrantResponse) and g.response.ttl_s == 5
    lid = g.response.id
    assert cluster.call(c.put, b"lk", b"v", lease=lid).ok
    t = cluster.call(c.lease_time_to_live, lid, keys=True)
    assert t.ok and t.response.keys == (b"lk",) and 0 < t.response.ttl_s <= 5
    k = cluster.call(c.lease_keepalive, lid)
    assert k.ok and k.response.ttl_s == 5
    ls = cluster.call(c.lease_leases)
    assert ls.ok and ls.response.leases == (lid,)
    v = cluster.call(c.lease_revoke, lid)
    assert v.ok
    g2 = cluster.call(c.get, b"lk")
    assert g2.ok and g2.response.kvs == ()


def test_duplicate_request_delivery_applies_once() -> None:
    cl = KVCluster(seed=8)
    cl.world.set_network(duplicate=1.0)
    c = cl.add_client("c1")
    cl.wait_leader()
    for i in range(5):
        assert cl.call(c.put, b"k", str(i).encode()).ok
    cl.world.run_for(200_000)
    srv = cl.server(cl.leader())  # type: ignore[arg-type]
    assert srv.store.revision == 6  # 5 puts, no duplicate applied
    req = TxnRequest()
    assert cl.call(c.txn, req).ok
