"""The store against a simple model: a list of whole-keyspace states, one per revision."""

from __future__ import annotations

from typing import Any

import hypothesis.strategies as st
from hypothesis import HealthCheck, settings
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from raftkv.kv import (
    ALL_KEYS,
    CompactionRequest,
    Compare,
    CompareResult,
    CompareTarget,
    DeleteRangeRequest,
    DeleteRangeResponse,
    ErrCompacted,
    ErrDuplicateKey,
    ErrFutureRev,
    ErrKeyNotFound,
    ErrLeaseNotFound,
    Event,
    EventType,
    KeyValue,
    KVError,
    KVStore,
    LeaseGrantRequest,
    LeaseGrantResponse,
    LeaseRevokeRequest,
    PutRequest,
    PutResponse,
    RangeRequest,
    RangeResponse,
    SortOrder,
    SortTarget,
    TxnRequest,
    TxnResponse,
    WatchCreateRequest,
    in_range,
)

KEYS = [b"a", b"ab", b"b", b"c", b"d"]
keys = st.sampled_from(KEYS)
values = st.sampled_from([b"", b"x", b"y", b"zz"])
ends = st.sampled_from([b"", b"", b"b", b"c", b"e", ALL_KEYS])

State = dict[bytes, KeyValue]


class Model:
    def __init__(self) -> None:
        self.states: list[State] = [{}, {}]  # states[r] is the keyspace at revision r
        self.compact = 0
        self.leases: dict[int, int] = {}
        self.next_lease = 1

    @property
    def rev(self) -> int:
        return len(self.states) - 1

    def check_read_rev(self, revision: int) -> None:
        if revision > self.rev:
            raise ErrFutureRev()
        if 0 < revision < self.compact:
            raise ErrCompacted()

    def select(self, state: State, key: bytes, end: bytes) -> list[KeyValue]:
        return [state[k] for k in sorted(state) if in_range(k, key, end)]

    # each op works on a scratch state `cur` at pending revision `rev`; returns (changed, result)
    def put(self, cur: State, rev: int, req: PutRequest) -> tuple[bool, Any]:
        prev = cur.get(req.key)
        value = prev.value if req.ignore_value and prev else req.value
        lease = prev.lease if req.ignore_lease and prev else req.lease
        cur[req.key] = KeyValue(
            key=req.key, create_revision=prev.create_revision if prev else rev,
            mod_revision=rev, version=prev.version + 1 if prev else 1, value=value, lease=lease)
        return True, prev if req.prev_kv else None

    def check_put(self, cur: State, req: PutRequest) -> None:
        if req.lease and req.lease not in self.leases:
            raise ErrLeaseNotFound()
        if (req.ignore_value or req.ignore_lease) and req.key not in cur:
            raise ErrKeyNotFound()

    def delete(self, cur: State, req: DeleteRangeRequest) -> tuple[bool, Any]:
        gone = self.select(cur, req.key, req.range_end)
        for kv in gone:
            del cur[kv.key]
        return bool(gone), (len(gone), tuple(gone) if req.prev_kv else ())

    def range(self, state: State, req: RangeRequest) -> tuple[tuple[KeyValue, ...], bool, int]:
        kvs = self.select(state, req.key, req.range_end)
        count = len(kvs)
        if req.sort_target is not SortTarget.KEY or req.sort_order is not SortOrder.NONE:
            field = {SortTarget.KEY: "key", SortTarget.VERSION: "version",
                     SortTarget.CREATE: "create_revision", SortTarget.MOD: "mod_revision",
                     SortTarget.VALUE: "value"}[req.sort_target]
            kvs = sorted(kvs, key=lambda kv: getattr(kv, field),
                         reverse=req.sort_order is SortOrder.DESCEND)
        more = bool(req.limit) and len(kvs) > req.limit
        if req.limit:
            kvs = kvs[: req.limit]
        return tuple(kvs), more, count

    def compare(self, state: State, cmp: Compare) -> bool:
        kvs = self.select(state, cmp.key, cmp.range_end)
        if not kvs:
            if cmp.target is CompareTarget.VALUE:
                return False
            kvs = [KeyValue(key=cmp.key, create_revision=0, mod_revision=0, version=0)]
        field = {CompareTarget.VERSION: "version", CompareTarget.CREATE: "create_revision",
                 CompareTarget.MOD: "mod_revision", CompareTarget.VALUE: "value",
                 CompareTarget.LEASE: "lease"}[cmp.target]
        ops = {CompareResult.EQUAL: lambda a, b: a == b,
               CompareResult.NOT_EQUAL: lambda a, b: a != b,
               CompareResult.GREATER: lambda a, b: a > b,
               CompareResult.LESS: lambda a, b: a < b}
        return all(ops[cmp.result](getattr(kv, field), cmp.operand) for kv in kvs)

    @staticmethod
    def has_duplicates(ops: tuple[Any, ...]) -> bool:
        puts = [op.key for op in ops if isinstance(op, PutRequest)]
        dels = [op for op in ops if isinstance(op, DeleteRangeRequest)]
        if len(puts) != len(set(puts)):
            return True
        return any(in_range(k, d.key, d.range_end) for k in puts for d in dels)


def put_requests() -> st.SearchStrategy[PutRequest]:
    return st.builds(
        lambda key, value, lease, prev, ig_v, ig_l: PutRequest(
            key=key, value=b"" if ig_v else value, lease=0 if ig_l else lease, prev_kv=prev,
            ignore_value=ig_v, ignore_lease=ig_l),
        keys, values, st.sampled_from([0, 0, 1, 2, 3]), st.booleans(),
        st.booleans() | st.just(False), st.booleans() | st.just(False))


def delete_requests() -> st.SearchStrategy[DeleteRangeRequest]:
    return st.builds(lambda k, e, p: DeleteRangeRequest(key=k, range_end=e, prev_kv=p),
                     keys, ends, st.booleans())


def range_requests(max_rev: int = 0) -> st.SearchStrategy[RangeRequest]:
    return st.builds(
        lambda k, e, limit, rev, order, target: RangeRequest(
            key=k, range_end=e, limit=limit, revision=rev, sort_order=order, sort_target=target),
        keys, ends, st.integers(0, 3), st.integers(0, max_rev),
        st.sampled_from(list(SortOrder)), st.sampled_from(list(SortTarget)))


def compares() -> st.SearchStrategy[Compare]:
    def build(key: bytes, end: bytes, target: CompareTarget, result: CompareResult,
              n: int, value: bytes) -> Compare:
        operand: int | bytes = value if target is CompareTarget.VALUE else n
        return Compare(key=key, range_end=end, target=target, result=result, operand=operand)
    return st.builds(build, keys, st.sampled_from([b"", b"", b"c"]),
                     st.sampled_from(list(CompareTarget)), st.sampled_from(list(CompareResult)),
                     st.integers(0, 6), values)


txn_ops = st.one_of(put_requests(), delete_requests(), range_requests())


class KVModelMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.store = KVStore()
        self.model = Model()
        self.index = 0
        self.watch_id = self.store.watches.create(
            WatchCreateRequest(key=b"\0", range_end=ALL_KEYS, start_revision=1, prev_kv=True))
        self.seen: list[Event] = []

    def apply(self, req: object) -> object:
        self.index += 1
        return self.store.apply(self.index, 3, req)

    def expect(self, req: object, model_fn: Any) -> object:
        """Apply to the store; run the model; compare outcomes (errors by class)."""
        got = self.apply(req)
        try:
            want = model_fn()
        except KVError as err:
            assert type(got) is type(err), (req, got, err)
            return None
        assert not isinstance(got, KVError), (req, got)
        return want, got

    def write(self, fn: Any) -> tuple[int, Any]:
        cur = dict(self.model.states[-1])
        changed, result = fn(cur, self.model.rev + 1)
        if changed:
            self.model.states.append(cur)
        return self.model.rev, result

    @rule(req=put_requests())
    def put(self, req: PutRequest) -> None:
        def run() -> Any:
            self.model.check_put(self.model.states[-1], req)
            return self.write(lambda cur, rev: self.model.put(cur, rev, req))
        out = self.expect(req, run)
        if out:
            (rev, prev), got = out
            assert isinstance(got, PutResponse)
            assert got.header.revision == rev
            assert got.prev_kv == prev

    @rule(req=delete_requests())
    def delete(self, req: DeleteRangeRequest) -> None:
        out = self.expect(req, lambda: self.write(lambda cur, rev: self.model.delete(cur, req)))
        assert out
        (rev, (deleted, prev_kvs)), got = out
        assert isinstance(got, DeleteRangeResponse)
        assert (got.header.revision, got.deleted, got.prev_kvs) == (rev, deleted, prev_kvs)

    @rule(data=st.data())
    def range(self, data: st.DataObject) -> None:
        req = data.draw(range_requests(self.model.rev + 1))
        through_raft = data.draw(st.booleans())

        def run() -> Any:
            self.model.check_read_rev(req.revision)
            return self.model.range(self.model.states[req.revision or -1], req)
        if through_raft:
            out = self.expect(req, run)
            if not out:
                return
            want, got = out
        else:
            try:
                got = self.store.range(req)
            except KVError as err:
                try:
                    run()
                except KVError as merr:
                    assert type(err) is type(merr)
                    return
                raise
            want = run()
        assert isinstance(got, RangeResponse)
        assert (got.kvs, got.more, got.count) == want, req
        assert got.header.revision == self.model.rev

    @rule(cmps=st.lists(compares(), max_size=2), success=st.lists(txn_ops, max_size=3),
          failure=st.lists(txn_ops, max_size=3))
    def txn(self, cmps: list[Compare], success: list[Any], failure: list[Any]) -> None:
        req = TxnRequest(compare=tuple(cmps), success=tuple(success), failure=tuple(failure))
        model = self.model

        def run() -> Any:
            if model.has_duplicates(req.success) or model.has_duplicates(req.failure):
                raise ErrDuplicateKey()
            pre = model.states[-1]
            ok = all(model.compare(pre, c) for c in req.compare)
            ops = req.success if ok else req.failure
            for op in ops:
                if isinstance(op, PutRequest):
                    model.check_put(pre, op)
                elif isinstance(op, RangeRequest):
                    model.check_read_rev(op.revision)

            def body(cur: State, rev: int) -> tuple[bool, Any]:
                changed = False
                results = []
                for op in ops:
                    if isinstance(op, PutRequest):
                        c, r = model.put(cur, rev, op)
                    elif isinstance(op, DeleteRangeRequest):
                        c, r = model.delete(cur, op)
                    else:
                        c, r = False, model.range(cur, op)
                    changed |= c
                    # each op's header: the revision as that op saw the store
                    results.append((rev if changed else rev - 1, r))
                return changed, (ok, results)
            return self.write(body)
        out = self.expect(req, run)
        if not out:
            return
        (rev, (ok, results)), got = out
        assert isinstance(got, TxnResponse)
        assert got.header.revision == rev
        assert got.succeeded == ok
        assert len(got.responses) == len(results)
        for resp, (op_rev, want) in zip(got.responses, results):
            assert resp.header.revision == op_rev
            if isinstance(resp, PutResponse):
                assert resp.prev_kv == want
            elif isinstance(resp, DeleteRangeResponse):
                assert (resp.deleted, resp.prev_kvs) == want
            else:
                assert isinstance(resp, RangeResponse)
                assert (resp.kvs, resp.more, resp.count) == want

    @rule(data=st.data())
    def compact(self, data: st.DataObject) -> None:
        revision = data.draw(st.integers(max(0, self.model.compact - 1), self.model.rev + 1))

        def run() -> None:
            if revision <= self.model.compact:
                raise ErrCompacted()
            if revision > self.model.rev:
                raise ErrFutureRev()
            self.model.compact = revision
        self.expect(CompactionRequest(revision=revision), run)

    @precondition(lambda self: len(self.model.leases) < 3)
    @rule(ttl=st.integers(1, 30))
    def grant(self, ttl: int) -> None:
        got = self.apply(LeaseGrantRequest(ttl_s=ttl))
        assert isinstance(got, LeaseGrantResponse)
        assert got.id == self.model.next_lease
        self.model.leases[got.id] = ttl
        self.model.next_lease += 1

    @rule(lease=st.integers(1, 4))
    def revoke(self, lease: int) -> None:
        def run() -> Any:
            if lease not in self.model.leases:
                raise ErrLeaseNotFound()
            del self.model.leases[lease]

            def body(cur: State, rev: int) -> tuple[bool, Any]:
                doomed = [k for k, kv in cur.items() if kv.lease == lease]
                for k in doomed:
                    del cur[k]
                return bool(doomed), None
            return self.write(body)
        out = self.expect(LeaseRevokeRequest(id=lease), run)
        if out:
            (rev, _), got = out
            assert got.header.revision == rev  # type: ignore[attr-defined]

    @rule()
    def snapshot_roundtrip(self) -> None:
        snap = self.store.snapshot()
        fresh = KVStore()
        fresh.restore(snap)
        assert fresh.snapshot() == snap
        self.store.restore(snap)  # in place: the watcher has nothing to catch up on
        assert self.store.snapshot() == snap

    @invariant()
    def matches_model(self) -> None:
        store, model = self.store, self.model
        assert store.revision == model.rev
        assert store.compact_revision == model.compact
        got = store.range(RangeRequest(key=b"\0", range_end=ALL_KEYS))
        assert got.kvs == tuple(model.select(model.states[-1], b"\0", ALL_KEYS))
        assert store.lessor.ids() == tuple(sorted(model.leases))
        for lease_id in model.leases:
            attached = tuple(sorted(k for k, kv in model.states[-1].items()
                                    if kv.lease == lease_id))
            assert tuple(sorted(store.lessor.get(lease_id).keys)) == attached

    @invariant()
    def watch_sees_every_change(self) -> None:
        for resp in self.store.watches.drain():
            assert resp.watch_id == self.watch_id
            self.seen.extend(resp.events)
        by_rev: dict[int, list[Event]] = {}
        for ev in self.seen:
            by_rev.setdefault(ev.kv.mod_revision, []).append(ev)
        assert sorted(by_rev) == [r for r in range(2, self.model.rev + 1)]
        revs = [ev.kv.mod_revision for ev in self.seen]
        assert revs == sorted(revs)
        # the newest revision's events are exactly the model's diff
        r = self.model.rev
        if r >= 2:
            before, after = self.model.states[r - 1], self.model.states[r]
            want = []
            for k in sorted(set(before) | set(after)):
                if k in after and after[k] != before.get(k):
                    want.append((k, EventType.PUT, after[k], before.get(k)))
                elif k not in after:
                    want.append((k, EventType.DELETE, None, before[k]))
            got = sorted(((ev.kv.key, ev.type, ev.kv if ev.type is EventType.PUT else None,
                           ev.prev_kv) for ev in by_rev[r]), key=lambda t: t[0])
            assert got == want
            for ev in by_rev[r]:
                if ev.type is EventType.DELETE:
                    assert (ev.kv.mod_revision, ev.kv.version, ev.kv.create_revision) == (r, 0, 0)


KVModelMachine.TestCase.settings = settings(
    max_examples=60, stateful_step_count=40, deadline=None,
    suppress_health_check=[HealthCheck.too_slow])
TestKVModel = KVModelMachine.TestCase
