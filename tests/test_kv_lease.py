"""Leases: grant, attach, keepalive, expiry decided by the leader, promote, and the bug."""

from __future__ import annotations

from raftkv.bugs import bug_set
from raftkv.kv import (
    ErrLeaseNotFound,
    KVStore,
    LeaseGrantRequest,
    LeaseGrantResponse,
    LeaseKeepAliveRequest,
    LeaseLeasesRequest,
    LeaseRevokeRequest,
    LeaseTimeToLiveRequest,
    PutRequest,
    RangeRequest,
)

S = 1_000_000


class Member:
    def __init__(self, **kwargs: object) -> None:
        self.store = KVStore(**kwargs)  # type: ignore[arg-type]
        self.index = 0

    def apply(self, req: object, now_us: int | None = None) -> object:
        self.index += 1
        return self.store.apply(self.index, 1, req, now_us=now_us)


def test_grant_ids_min_ttl_and_leases_list() -> None:
    m = Member(min_ttl_s=3)
    a = m.apply(LeaseGrantRequest(ttl_s=1), now_us=0)
    b = m.apply(LeaseGrantRequest(ttl_s=10, id=2), now_us=0)
    c = m.apply(LeaseGrantRequest(ttl_s=10), now_us=0)
    assert isinstance(a, LeaseGrantResponse) and isinstance(c, LeaseGrantResponse)
    assert (a.id, a.ttl_s) == (1, 3)  # raised to the minimum
    assert isinstance(b, LeaseGrantResponse) and b.id == 2
    assert c.id == 3  # the auto id skips taken ones
    assert m.store.lease_leases().leases == (1, 2, 3)
    assert m.apply(LeaseLeasesRequest()).leases == (1, 2, 3)  # type: ignore[attr-defined]
    assert m.store.revision == 1  # granting writes no key


def test_attach_detach_and_time_to_live_keys() -> None:
    m = Member()
    m.apply(LeaseGrantRequest(ttl_s=10, id=1), now_us=0)
    m.apply(LeaseGrantRequest(ttl_s=10, id=2), now_us=0)
    m.apply(PutRequest(key=b"a", lease=1))
    m.apply(PutRequest(key=b"b", lease=1))
    m.apply(PutRequest(key=b"b", lease=2))  # moves b to lease 2
    m.apply(PutRequest(key=b"a", value=b"x", ignore_lease=True))  # keeps lease 1
    ttl = m.store.lease_time_to_live(LeaseTimeToLiveRequest(id=1, keys=True), now_us=2 * S + 1)
    assert (ttl.keys, ttl.granted_ttl_s, ttl.ttl_s) == ((b"a",), 10, 7)
    assert m.store.lease_time_to_live(LeaseTimeToLiveRequest(id=1), now_us=0).keys == ()
    m.apply(PutRequest(key=b"a"))  # lease 0: detached
    ttl = m.store.lease_time_to_live(LeaseTimeToLiveRequest(id=1, keys=True), now_us=0)
    assert ttl.keys == ()
    revoked = m.apply(LeaseRevokeRequest(id=1))
    assert revoked.deleted == 0  # type: ignore[attr-defined]
    assert m.store.revision == 6  # five puts; nothing deleted: no new revision
    m.apply(LeaseRevokeRequest(id=2))
    assert m.store.range(RangeRequest(key=b"b")).kvs == ()
    assert m.store.revision == 7


def test_expiry_is_decided_by_the_leader() -> None:
    m = Member(expired_retry_us=2 * S)
    m.apply(LeaseGrantRequest(ttl_s=5, id=1), now_us=0)
    m.apply(LeaseGrantRequest(ttl_s=10, id=2), now_us=0)
    lessor = m.store.lessor
    assert lessor.expired(100 * S) == ()  # a follower reports nothing
    lessor.promote(now_us=1 * S)
    assert lessor.expired(5 * S) == ()
    assert lessor.next_deadline_us() == 6 * S
    assert lessor.expired(6 * S) == (1,)
    assert lessor.expired(7 * S) == ()  # the revoke is in flight
    assert lessor.expired(8 * S) == (1,)  # retried
    m.store.lease_keepalive(LeaseKeepAliveRequest(id=2), now_us=8 * S)
    assert lessor.expired(17 * S) == (1,)
    assert lessor.expired(18 * S) == (2,)
    m.apply(LeaseRevokeRequest(id=1, expired=True))
    assert lessor.ids() == (2,)
    lessor.demote()
    assert lessor.expired(100 * S) == ()


def test_keepalive_refreshes_and_fails_after_expiry() -> None:
    m = Member()
    m.apply(LeaseGrantRequest(ttl_s=5, id=1), now_us=0)
    m.store.lessor.promote(now_us=0)
    for t in range(1, 20):
        resp = m.store.lease_keepalive(LeaseKeepAliveRequest(id=1), now_us=t * S)
        assert resp.ttl_s == 5
        assert m.store.lessor.expired(t * S + 4 * S) == ()
    try:
        m.store.lease_keepalive(LeaseKeepAliveRequest(id=1), now_us=30 * S)
    except ErrLeaseNotFound as err:
        assert err.details.get("expired") is True
    else:
        raise AssertionError("keepalive of an expired lease succeeded")


def test_promote_gives_a_fresh_ttl_after_election() -> None:
    """The old leader kept the lease alive; the new leader restarts its TTL from now."""
    m = Member()
    m.apply(LeaseGrantRequest(ttl_s=10, id=1), now_us=0)  # follower: deadline 10s
    m.store.lessor.promote(now_us=9 * S, extend_us=1 * S)
    assert m.store.lessor.expired(19 * S) == ()
    assert m.store.lessor.expired(20 * S) == (1,)


def test_bug_lease_no_extend_on_leader_change() -> None:
    m = Member(bugs=bug_set(["lease_no_extend_on_leader_change"]))
    m.apply(LeaseGrantRequest(ttl_s=10, id=1), now_us=0)
    m.store.lessor.promote(now_us=9 * S, extend_us=1 * S)
    assert m.store.lessor.expired(10 * S) == (1,)  # expires at its old deadline: early


def test_grant_without_time_starts_ttl_at_first_expiry_check() -> None:
    m = Member()
    m.store.lessor.promote(now_us=0)
    m.apply(LeaseGrantRequest(ttl_s=4, id=1))
    assert m.store.lessor.expired(10 * S) == ()
    assert m.store.lessor.expired(13 * S) == ()
    assert m.store.lessor.expired(14 * S) == (1,)


def test_snapshot_keeps_leases_not_deadlines() -> None:
    m = Member()
    m.apply(LeaseGrantRequest(ttl_s=7, id=4), now_us=0)
    m.apply(PutRequest(key=b"k", lease=4))
    other = KVStore()
    other.restore(m.store.snapshot())
    assert other.lessor.ids() == (4,)
    assert tuple(other.lessor.get(4).keys) == (b"k",)
    assert other.lessor.get(4).deadline_us is None
    granted = other.apply(m.index + 1, 2, LeaseGrantRequest(ttl_s=7))
    assert isinstance(granted, LeaseGrantResponse) and granted.id == 1
    assert other.lessor.ids() == (1, 4)
