"""Every error of raftkv.kv.errors, raised or returned where etcd would."""

from __future__ import annotations

import pickle

import pytest

from raftkv.kv import (
    CompactionRequest,
    Compare,
    CompareResult,
    CompareTarget,
    DeleteRangeRequest,
    ErrCompacted,
    ErrDuplicateKey,
    ErrEmptyKey,
    ErrFutureRev,
    ErrKeyNotFound,
    ErrLeaseExist,
    ErrLeaseNotFound,
    ErrLeaseProvided,
    ErrLeaseTTLTooLarge,
    ErrNoLeader,
    ErrTimeout,
    ErrTooManyOps,
    ErrValueProvided,
    ErrWatchNotFound,
    KVError,
    KVStore,
    LeaseGrantRequest,
    LeaseKeepAliveRequest,
    LeaseRevokeRequest,
    LeaseTimeToLiveRequest,
    PutRequest,
    RangeRequest,
    TxnRequest,
    UnknownRequestError,
    WatchCreateRequest,
    prefix_end,
)


class Applier:
    def __init__(self, **kwargs: object) -> None:
        self.store = KVStore(**kwargs)  # type: ignore[arg-type]
        self.index = 0

    def __call__(self, req: object, now_us: int | None = None) -> object:
        self.index += 1
        return self.store.apply(self.index, 1, req, now_us=now_us)


def rejected(result: object, cls: type[KVError]) -> KVError:
    assert isinstance(result, cls), result
    return result


def test_messages_are_etcds() -> None:
    assert str(ErrCompacted(revision=1)) == "etcdserver: mvcc: required revision has been compacted"
    assert str(ErrFutureRev()) == "etcdserver: mvcc: required revision is a future revision"
    assert str(ErrLeaseNotFound()) == "etcdserver: requested lease not found"
    assert str(ErrKeyNotFound()) == "etcdserver: key not found"
    assert str(ErrDuplicateKey()) == "etcdserver: duplicate key given in txn request"
    assert str(ErrTooManyOps()) == "etcdserver: too many operations in txn request"
    assert str(ErrLeaseExist()) == "etcdserver: lease already exists"
    assert str(ErrNoLeader()) == "etcdserver: no leader"
    assert str(ErrTimeout()) == "etcdserver: request timed out"
    assert str(ErrEmptyKey()) == "etcdserver: key is not provided"


def test_errors_are_values() -> None:
    assert ErrCompacted(revision=2, compact_revision=3) == ErrCompacted(revision=2,
                                                                       compact_revision=3)
    assert ErrCompacted(revision=2) != ErrCompacted(revision=3)
    assert ErrCompacted() != ErrFutureRev()
    err = ErrCompacted(revision=2, compact_revision=3)
    assert pickle.loads(pickle.dumps(err)) == err
    assert "compact_revision=3" in repr(err)
    assert hash(err) == hash(ErrCompacted(compact_revision=3, revision=2))


def test_compacted_and_future_reads() -> None:
    apply = Applier()
    for i in range(4):
        apply(PutRequest(key=b"k", value=b"%d" % i))
    assert apply.store.revision == 5
    apply(CompactionRequest(revision=3))
    err = rejected(apply(RangeRequest(key=b"k", revision=2)), ErrCompacted)
    assert err.details["compact_revision"] == 3
    with pytest.raises(ErrCompacted):
        apply.store.range(RangeRequest(key=b"k", revision=2))
    assert apply.store.range(RangeRequest(key=b"k", revision=3)).kvs[0].value == b"1"
    with pytest.raises(ErrFutureRev):
        apply.store.range(RangeRequest(key=b"k", revision=6))
    rejected(apply(CompactionRequest(revision=6)), ErrFutureRev)
    rejected(apply(CompactionRequest(revision=3)), ErrCompacted)
    rejected(apply(CompactionRequest(revision=2)), ErrCompacted)
    # a txn reading a compacted revision fails whole, before writing anything
    txn = TxnRequest(success=(PutRequest(key=b"x"), RangeRequest(key=b"k", revision=1)))
    rejected(apply(txn), ErrCompacted)
    assert apply.store.revision == 5


def test_lease_errors() -> None:
    apply = Applier()
    rejected(apply(PutRequest(key=b"k", lease=7)), ErrLeaseNotFound)
    rejected(apply(LeaseRevokeRequest(id=7)), ErrLeaseNotFound)
    apply(LeaseGrantRequest(ttl_s=10, id=7))
    rejected(apply(LeaseGrantRequest(ttl_s=10, id=7)), ErrLeaseExist)
    rejected(apply(LeaseGrantRequest(ttl_s=10**10)), ErrLeaseTTLTooLarge)
    with pytest.raises(ErrLeaseNotFound):
        apply.store.lease_keepalive(LeaseKeepAliveRequest(id=8), now_us=0)
    with pytest.raises(ErrLeaseNotFound):
        apply.store.lease_time_to_live(LeaseTimeToLiveRequest(id=8), now_us=0)
    assert apply.store.revision == 1


def test_key_not_found_for_ignore_flags() -> None:
    apply = Applier()
    rejected(apply(PutRequest(key=b"k", ignore_value=True)), ErrKeyNotFound)
    rejected(apply(PutRequest(key=b"k", ignore_lease=True)), ErrKeyNotFound)
    rejected(apply(PutRequest(key=b"k", value=b"v", ignore_value=True)), ErrValueProvided)
    apply(LeaseGrantRequest(ttl_s=5, id=1))
    rejected(apply(PutRequest(key=b"k", lease=1, ignore_lease=True)), ErrLeaseProvided)
    assert apply.store.revision == 1


def test_empty_key() -> None:
    apply = Applier()
    rejected(apply(PutRequest(key=b"")), ErrEmptyKey)
    rejected(apply(DeleteRangeRequest(key=b"")), ErrEmptyKey)
    rejected(apply(RangeRequest(key=b"")), ErrEmptyKey)
    with pytest.raises(ErrEmptyKey):
        apply.store.watches.create(WatchCreateRequest(key=b""))


def test_duplicate_keys_in_txn() -> None:
    apply = Applier()
    dup = [
        TxnRequest(success=(PutRequest(key=b"a"), PutRequest(key=b"a"))),
        TxnRequest(failure=(PutRequest(key=b"a"), PutRequest(key=b"a"))),
        TxnRequest(success=(DeleteRangeRequest(key=b"a", range_end=b"c"), PutRequest(key=b"b"))),
        TxnRequest(success=(PutRequest(key=b"ab"),
                            DeleteRangeRequest(key=b"a", range_end=prefix_end(b"a")))),
        TxnRequest(success=(PutRequest(key=b"a"), TxnRequest(success=(PutRequest(key=b"a"),)))),
        TxnRequest(success=(DeleteRangeRequest(key=b"a"),
                            TxnRequest(failure=(PutRequest(key=b"a"),)))),
    ]
    for txn in dup:
        rejected(apply(txn), ErrDuplicateKey)
    assert apply.store.revision == 1
    ok = [
        # the two branches of a nested txn are exclusive
        TxnRequest(success=(TxnRequest(success=(PutRequest(key=b"a"),),
                                       failure=(PutRequest(key=b"a"),)),)),
        # deletes may overlap each other
        TxnRequest(success=(DeleteRangeRequest(key=b"a", range_end=b"z"),
                            DeleteRangeRequest(key=b"b"))),
        # the same key in the success and the failure branch
        TxnRequest(success=(PutRequest(key=b"a"),), failure=(PutRequest(key=b"a"),)),
    ]
    for txn in ok:
        assert not isinstance(apply(txn), KVError)


def test_too_many_ops() -> None:
    apply = Applier(max_txn_ops=3)
    ops = tuple(PutRequest(key=b"k%d" % i) for i in range(4))
    rejected(apply(TxnRequest(success=ops)), ErrTooManyOps)
    rejected(apply(TxnRequest(failure=ops)), ErrTooManyOps)
    rejected(apply(TxnRequest(success=(TxnRequest(success=ops),))), ErrTooManyOps)
    assert apply.store.revision == 1
    assert not isinstance(apply(TxnRequest(success=ops[:3], failure=ops[:3])), KVError)
    assert apply.store.revision == 2
    default = Applier()
    many = tuple(PutRequest(key=b"k%d" % i) for i in range(129))
    rejected(default(TxnRequest(success=many)), ErrTooManyOps)
    assert not isinstance(default(TxnRequest(success=many[:128])), KVError)


def test_rejected_txn_changes_nothing() -> None:
    apply = Applier()
    apply(PutRequest(key=b"a", value=b"1"))
    before = apply.store.snapshot()
    txn = TxnRequest(
        compare=(Compare(key=b"a", target=CompareTarget.VALUE, result=CompareResult.EQUAL,
                         operand=b"1"),),
        success=(PutRequest(key=b"b"), DeleteRangeRequest(key=b"a"),
                 PutRequest(key=b"c", lease=99)))
    rejected(apply(txn), ErrLeaseNotFound)
    after = apply.store.snapshot()
    assert (after.keys, after.events, after.revision) == (before.keys, before.events,
                                                           before.revision)


def test_watch_not_found_and_unknown_request() -> None:
    store = KVStore()
    with pytest.raises(ErrWatchNotFound):
        store.watches.cancel(42)
    with pytest.raises(UnknownRequestError, match="cannot apply data of type str"):
        store.apply(1, 1, "put k v")
    assert store.applied_index == 0
    with pytest.raises(ValueError, match="out of order"):
        store.apply(1, 1, None)
        store.apply(1, 1, None)


def test_bad_values_are_rejected_at_construction() -> None:
    with pytest.raises(TypeError, match=r"PutRequest\.key must be bytes"):
        PutRequest(key="k")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="VALUE needs a bytes operand"):
        Compare(key=b"k", target=CompareTarget.VALUE, result=CompareResult.EQUAL, operand=1)
    with pytest.raises(TypeError, match="VERSION needs an int operand"):
        Compare(key=b"k", target=CompareTarget.VERSION, result=CompareResult.EQUAL, operand=b"1")
    with pytest.raises(TypeError, match="must be a tuple"):
        TxnRequest(success=[PutRequest(key=b"k")])  # type: ignore[arg-type]
