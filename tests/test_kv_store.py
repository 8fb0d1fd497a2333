"""KVStore: range options, txn details, revisions, compaction, status and snapshots."""

from __future__ import annotations

import pickle

from raftkv.kv import (
    ALL_KEYS,
    CompactionRequest,
    Compare,
    CompareResult,
    CompareTarget,
    DeleteRangeRequest,
    DeleteRangeResponse,
    KVStore,
    LeaseGrantRequest,
    PutRequest,
    PutResponse,
    RangeRequest,
    RangeResponse,
    SortOrder,
    SortTarget,
    TxnRequest,
    TxnResponse,
    prefix_end,
)


class Member:
    def __init__(self) -> None:
        self.store = KVStore()
        self.index = 0

    def apply(self, req: object) -> object:
        self.index += 1
        return self.store.apply(self.index, 2, req, now_us=0)

    def keys(self, req: RangeRequest) -> list[bytes]:
        return [kv.key for kv in self.store.range(req).kvs]


def seeded() -> Member:
    m = Member()
    for key, value in [(b"b", b"3"), (b"a", b"2"), (b"c", b"1"), (b"a", b"9"), (b"ab", b"5")]:
        m.apply(PutRequest(key=key, value=value))
    return m  # revision 6; a: v2 mod5 create3, b: mod2, c: mod4, ab: mod6


def test_prefix_end() -> None:
    assert prefix_end(b"a") == b"b"
    assert prefix_end(b"a\xff") == b"b"
    assert prefix_end(b"\xff\xff") == ALL_KEYS
    assert prefix_end(b"") == ALL_KEYS


def test_range_forms() -> None:
    m = seeded()
    assert m.keys(RangeRequest(key=b"a")) == [b"a"]
    assert m.keys(RangeRequest(key=b"a", range_end=prefix_end(b"a"))) == [b"a", b"ab"]
    assert m.keys(RangeRequest(key=b"ab", range_end=ALL_KEYS)) == [b"ab", b"b", b"c"]
    assert m.keys(RangeRequest(key=b"\0", range_end=ALL_KEYS)) == [b"a", b"ab", b"b", b"c"]
    assert m.keys(RangeRequest(key=b"c", range_end=b"a")) == []
    past = m.store.range(RangeRequest(key=b"a", range_end=ALL_KEYS, revision=3))
    assert [(kv.key, kv.value) for kv in past.kvs] == [(b"a", b"2"), (b"b", b"3")]
    assert past.header.revision == 6


def test_limit_more_count_keys_only_count_only() -> None:
    m = seeded()
    r = m.store.range(RangeRequest(key=b"\0", range_end=ALL_KEYS, limit=2))
    assert ([kv.key for kv in r.kvs], r.more, r.count) == ([b"a", b"ab"], True, 4)
    r = m.store.range(RangeRequest(key=b"\0", range_end=ALL_KEYS, limit=4))
    assert (len(r.kvs), r.more, r.count) == (4, False, 4)
    r = m.store.range(RangeRequest(key=b"\0", range_end=ALL_KEYS, count_only=True))
    assert (r.kvs, r.count) == ((), 4)
    r = m.store.range(RangeRequest(key=b"a", keys_only=True))
    assert (r.kvs[0].value, r.kvs[0].version, r.kvs[0].mod_revision) == (b"", 2, 5)


def test_sort() -> None:
    m = seeded()
    base = {"key": b"\0", "range_end": ALL_KEYS}
    assert m.keys(RangeRequest(**base, sort_order=SortOrder.DESCEND)) == [b"c", b"b", b"ab", b"a"]
    assert m.keys(RangeRequest(**base, sort_target=SortTarget.VALUE)) == [b"c", b"b", b"ab", b"a"]
    assert m.keys(RangeRequest(**base, sort_target=SortTarget.MOD,
                               sort_order=SortOrder.DESCEND)) == [b"ab", b"a", b"c", b"b"]
    assert m.keys(RangeRequest(**base, sort_target=SortTarget.CREATE)) == [b"b", b"a", b"c", b"ab"]
    assert m.keys(RangeRequest(**base, sort_target=SortTarget.VERSION,
                               sort_order=SortOrder.DESCEND))[0] == b"a"
    top = m.store.range(RangeRequest(**base, sort_target=SortTarget.MOD,
                                     sort_order=SortOrder.DESCEND, limit=1))
    assert ([kv.key for kv in top.kvs], top.more) == ([b"ab"], True)


def test_mod_and_create_revision_filters() -> None:
    m = seeded()
    assert m.keys(RangeRequest(key=b"\0", range_end=ALL_KEYS, min_mod_revision=5)) == [b"a", b"ab"]
    assert m.keys(RangeRequest(key=b"\0", range_end=ALL_KEYS, max_create_revision=3)) == [b"a",
                                                                                          b"b"]


def test_versions_and_revisions() -> None:
    m = Member()
    m.apply(PutRequest(key=b"k", value=b"1"))
    m.apply(PutRequest(key=b"k", value=b"2"))
    resp = m.apply(DeleteRangeRequest(key=b"k", prev_kv=True))
    assert isinstance(resp, DeleteRangeResponse)
    assert (resp.deleted, resp.prev_kvs[0].version, resp.header.revision) == (1, 2, 4)
    nothing = m.apply(DeleteRangeRequest(key=b"k"))
    assert isinstance(nothing, DeleteRangeResponse)
    assert (nothing.deleted, nothing.header.revision, m.store.revision) == (0, 4, 4)
    m.apply(PutRequest(key=b"k", value=b"3"))
    (kv,) = m.store.range(RangeRequest(key=b"k")).kvs
    assert (kv.create_revision, kv.mod_revision, kv.version) == (5, 5, 1)
    resp2 = m.apply(PutRequest(key=b"k", ignore_value=True, prev_kv=True))
    assert isinstance(resp2, PutResponse) and resp2.prev_kv == kv
    (kv2,) = m.store.range(RangeRequest(key=b"k")).kvs
    assert (kv2.value, kv2.version, kv2.create_revision) == (b"3", 2, 5)
    # a read-only txn does not advance the revision; headers carry the raft term
    ro = m.apply(TxnRequest(success=(RangeRequest(key=b"k"),)))
    assert isinstance(ro, TxnResponse)
    assert (ro.header.revision, ro.header.raft_term, m.store.revision) == (6, 2, 6)


def cmp(key: bytes, target: CompareTarget, result: CompareResult, operand: int | bytes,
        range_end: bytes = b"") -> Compare:
    return Compare(key=key, target=target, result=result, operand=operand, range_end=range_end)


def test_txn_compares() -> None:
    m = seeded()
    m.apply(LeaseGrantRequest(ttl_s=9, id=3))
    m.apply(PutRequest(key=b"l", lease=3))

    def holds(*cmps: Compare) -> bool:
        resp = m.apply(TxnRequest(compare=cmps))
        assert isinstance(resp, TxnResponse)
        return resp.succeeded

    V, C, M, VAL, L = (CompareTarget.VERSION, CompareTarget.CREATE, CompareTarget.MOD,
                       CompareTarget.VALUE, CompareTarget.LEASE)
    EQ, NE, GT, LT = (CompareResult.EQUAL, CompareResult.NOT_EQUAL, CompareResult.GREATER,
                      CompareResult.LESS)
    assert holds(cmp(b"a", V, EQ, 2), cmp(b"a", C, EQ, 3), cmp(b"a", M, EQ, 5))
    assert holds(cmp(b"a", VAL, EQ, b"9"), cmp(b"a", VAL, GT, b"8"), cmp(b"a", VAL, LT, b"91"))
    assert not holds(cmp(b"a", VAL, NE, b"9"))
    assert holds(cmp(b"l", L, EQ, 3), cmp(b"a", L, EQ, 0))
    # a missing key: zero values, and VALUE compares always fail
    assert holds(cmp(b"zz", V, EQ, 0), cmp(b"zz", C, LT, 1), cmp(b"zz", M, EQ, 0))
    assert not holds(cmp(b"zz", VAL, EQ, b""))
    assert not holds(cmp(b"zz", VAL, NE, b"x"))
    # a range holds only if every key holds
    assert holds(cmp(b"a", M, GT, 1, range_end=b"c"))
    assert not holds(cmp(b"a", M, GT, 4, range_end=b"c"))  # b has mod 2
    assert holds(cmp(b"a", V, LT, 3, range_end=prefix_end(b"a")))
    assert not holds(cmp(b"a", C, GT, 1), cmp(b"a", C, GT, 100))  # all compares must hold


def test_txn_branches_nesting_and_reads_of_own_writes() -> None:
    m = seeded()
    txn = TxnRequest(
        compare=(cmp(b"a", CompareTarget.VALUE, CompareResult.EQUAL, b"nope"),),
        success=(PutRequest(key=b"s"),),
        failure=(
            PutRequest(key=b"x", value=b"1", prev_kv=True),
            RangeRequest(key=b"x"),
            DeleteRangeRequest(key=b"b", prev_kv=True),
            TxnRequest(
                # nested compares see the state before the txn: x does not exist yet
                compare=(cmp(b"x", CompareTarget.VERSION, CompareResult.EQUAL, 0),),
                success=(PutRequest(key=b"y", value=b"nested"),),
            ),
        ),
    )
    resp = m.apply(txn)
    assert isinstance(resp, TxnResponse)
    assert not resp.succeeded
    assert resp.header.revision == 7
    put, rng, dele, nested = resp.responses
    assert isinstance(put, PutResponse) and put.prev_kv is None
    assert isinstance(rng, RangeResponse) and rng.kvs[0].value == b"1"
    assert rng.kvs[0].mod_revision == 7
    assert isinstance(dele, DeleteRangeResponse) and dele.prev_kvs[0].key == b"b"
    assert isinstance(nested, TxnResponse) and nested.succeeded
    # each op's header has the revision as it saw the store (here all after the first
    # change: the txn's); a nested txn's header has none, its ops' headers do (as etcd 3.4)
    assert [r.header.revision for r in resp.responses] == [7, 7, 7, 0]
    assert [r.header.revision for r in nested.responses] == [7]
    assert m.keys(RangeRequest(key=b"\0", range_end=ALL_KEYS)) == [b"a", b"ab", b"c", b"x", b"y"]
    assert m.store.range(RangeRequest(key=b"s")).kvs == ()


def test_txn_op_headers_have_the_revision_each_op_saw() -> None:
    m = seeded()  # revision 6
    txn = TxnRequest(success=(RangeRequest(key=b"a"), DeleteRangeRequest(key=b"nothing"), PutRequest(key=b"x"),
                              RangeRequest(key=b"x")))
    resp = m.apply(txn)
    assert isinstance(resp, TxnResponse) and resp.header.revision == 7
    # reads and a delete of nothing before the first change: the revision before the txn
    assert [r.header.revision for r in resp.responses] == [6, 6, 7, 7]
    # a txn that changes nothing: every header has the current revision
    resp = m.apply(TxnRequest(success=(RangeRequest(key=b"a"), DeleteRangeRequest(key=b"nothing"))))
    assert [r.header.revision for r in (resp, *resp.responses)] == [7, 7, 7]


def test_compaction_drops_history() -> None:
    m = Member()
    for i in range(50):
        m.apply(PutRequest(key=b"k", value=b"%d" % i))
        m.apply(PutRequest(key=b"gone%d" % i))
        m.apply(DeleteRangeRequest(key=b"gone%d" % i))
    rev = m.store.revision
    m.apply(CompactionRequest(revision=rev))
    snap = m.store.snapshot()
    assert [(k, len(h)) for k, h in snap.keys] == [(b"k", 1)]
    assert [r for r, _ in snap.events] == [rev]  # the deletion at the compact revision
    assert m.store.range(RangeRequest(key=b"k", revision=rev)).kvs[0].value == b"49"
    status = m.store.status()
    assert (status.revision, status.compact_revision, status.applied_index, status.key_count) == (
        rev, rev, m.index, 1)


def test_snapshot_roundtrip_and_determinism() -> None:
    a, b = seeded(), seeded()
    a.apply(LeaseGrantRequest(ttl_s=5))
    b.apply(LeaseGrantRequest(ttl_s=5))
    a.apply(PutRequest(key=b"l", lease=1))
    b.apply(PutRequest(key=b"l", lease=1))
    a.apply(CompactionRequest(revision=3))
    b.apply(CompactionRequest(revision=3))
    snap = a.store.snapshot()
    assert snap == b.store.snapshot()
    assert pickle.loads(pickle.dumps(snap)) == snap
    c = KVStore()
    c.restore(snap)
    assert c.snapshot() == snap
    assert c.status() == a.store.status()
    for req in [PutRequest(key=b"a", value=b"z"), DeleteRangeRequest(key=b"l"),
                RangeRequest(key=b"a", revision=4)]:
        a.index += 1
        assert c.apply(a.index, 2, req) == a.store.apply(a.index, 2, req)
    assert c.snapshot() == a.store.snapshot()
    # the snapshot is a value: later writes do not change it
    assert snap.revision == 7 and snap != c.snapshot()
