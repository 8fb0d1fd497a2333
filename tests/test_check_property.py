"""Property tests: generated linearizable histories pass; one corrupted read is caught."""

from __future__ import annotations

import itertools
import random
from typing import Any

import attrs
from hypothesis import given, settings
from hypothesis import strategies as st

from raftkv.check import (
    INCONSISTENT,
    CASRegisterModel,
    EtcdModel,
    HistoryEvent,
    KVModel,
    RegisterModel,
    check_linearizable,
    make_history,
)
from raftkv.check.generate import Kind, simulate

MODELS: dict[str, Any] = {
    "register": RegisterModel, "cas-register": CASRegisterModel, "kv": KVModel, "etcd": EtcdModel,
}
kinds = st.sampled_from(sorted(MODELS))


def _history(kind: str, seed: int, clients: int, info_rate: float) -> list[Any]:
    return simulate(kind, random.Random(seed), clients=clients, ops=150, keys=3,  # type: ignore[arg-type]
                    info_rate=info_rate)


@settings(max_examples=40, deadline=None)
@given(kind=kinds, seed=st.integers(0, 2**32), clients=st.integers(1, 6),
       info_rate=st.sampled_from([0.0, 0.05]))
def test_generated_histories_are_linearizable(kind: Kind, seed: int, clients: int, info_rate: float) -> None:
    hist = make_history(_history(kind, seed, clients, info_rate))
    res = check_linearizable(hist, MODELS[kind]())
    assert res.verdict == "ok", res.explanation


@settings(max_examples=40, deadline=None)
@given(kind=kinds, seed=st.integers(0, 2**32), pick=st.integers(0, 10**6))
def test_sequential_history_with_one_corrupted_read_fails(kind: Kind, seed: int, pick: int) -> None:
    # one client: a sequential run of the model; corrupt one read to a stale or unseen value
    records = _history(kind, seed, 1, 0.0)
    assert check_linearizable(make_history(records), MODELS[kind]()).verdict == "ok"
    reads = [i for i, r in enumerate(records)
             if isinstance(r, HistoryEvent) and r.type == "ok" and r.f in ("read", "get")]
    if not reads:
        return
    i = reads[pick % len(reads)]
    rec = records[i]
    assert isinstance(rec, HistoryEvent)
    earlier = [r.value for r in records[:i] if isinstance(r, HistoryEvent) and r.type == "ok"
               and r.key == rec.key and r.f in ("read", "get") and r.value != rec.value]
    corrupt = earlier[pick % len(earlier)] if earlier and pick % 2 else "corrupted!"
    records[i] = attrs.evolve(rec, value=corrupt)
    res = check_linearizable(make_history(records), MODELS[kind]())
    assert res.verdict == "fail", (kind, rec, corrupt)
    assert any(kr.blocked_op is not None for kr in res.failed_keys())


@settings(max_examples=30, deadline=None)
@given(kind=kinds, seed=st.integers(0, 2**32), clients=st.integers(2, 6), pick=st.integers(0, 10**6))
def test_concurrent_history_with_one_unseen_read_value_fails(kind: Kind, seed: int, clients: int,
                                                              pick: int) -> None:
    records = _history(kind, seed, clients, 0.05)
    reads = [i for i, r in enumerate(records)
             if isinstance(r, HistoryEvent) and r.type == "ok" and r.f in ("read", "get")]
    if not reads:
        return
    i = reads[pick % len(reads)]
    records[i] = attrs.evolve(records[i], value="never-written")
    assert check_linearizable(make_history(records), MODELS[kind]()).verdict == "fail"


# ----------------------------------------------- against an exhaustive oracle

_SMALL_OPS = {
    "register": ("read", "write"),
    "cas-register": ("read", "write", "cas"),
    "kv": ("get", "put", "append", "cas", "delete"),
    "etcd": ("get", "put", "cas", "delete"),
}


@st.composite
def _small_histories(draw: st.DrawFn) -> tuple[str, list[HistoryEvent]]:
    """Up to 7 operations on one key, each by its own process, with random results and
    outcomes (many timed out), over 3 values: linearizable or not, with equal and with
    never-read timed-out writes."""
    kind = draw(st.sampled_from(sorted(_SMALL_OPS)))
    key = "k" if kind in ("kv", "etcd") else None
    values = st.integers(0, 2)
    revisions = st.integers(1, 6)
    ops = []
    for p in range(draw(st.integers(1, 7))):
        f = draw(st.sampled_from(_SMALL_OPS[kind]))
        # reads that time out are not checked: only writes do
        outcome = "ok" if f in ("read", "get") else draw(st.sampled_from(("ok", "info")))
        etcd = kind == "etcd"
        arg: Any = (draw(st.tuples(st.one_of(st.none(), values) if etcd else values, values)) if f == "cas"
                    else draw(values) if f in ("write", "put", "append") else None)
        extra: dict[str, Any] = {}
        result = arg
        if f == "get" and etcd:
            result = draw(st.one_of(st.none(), values))
            extra["mod_revision"] = None if result is None else draw(st.one_of(st.none(), revisions))
        elif f == "get":  # what appends of 0-2 to 0-2 can give, too
            result = draw(st.one_of(st.none(), values, st.tuples(values), st.tuples(values, values)))
        elif f == "read":
            result = draw(st.one_of(st.none(), values))
        elif f == "cas" and outcome == "ok":
            extra["succeeded"] = draw(st.booleans())
        elif f == "delete" and outcome == "ok":
            extra["deleted"] = draw(st.integers(0, 1))
        if etcd and f == "put":
            extra["lease"] = draw(st.sampled_from((None, None, 7)))
        if etcd and outcome == "ok" and f != "get" and (f == "put" or extra.get("succeeded") or extra.get("deleted")):
            extra["revision"] = draw(revisions)
        ops.append((p, f, arg, outcome, result, extra))
    # an interleaving: each operation's invocation comes before its completion
    tokens = draw(st.permutations([(p, end) for p in range(len(ops)) for end in (0, 1)]))
    seen: set[int] = set()
    records = []
    for p, _end in tokens:
        first = p not in seen
        seen.add(p)
        _p, f, arg, outcome, result, extra = ops[p]
        if first:
            records.append(HistoryEvent(type="invoke", process=p, f=f, key=key, value=arg))
        else:
            records.append(HistoryEvent(type=outcome, process=p, f=f, key=key,  # type: ignore[arg-type]
                                        value=result if outcome == "ok" else arg, **extra))
    return kind, records


def _exhaustive(ops: list[Any], model: Any) -> bool:
    """Some order of all ok operations and some of the info ones, keeping real-time
    order, that the model accepts."""
    ops = [op for op in ops if model.relevant(op)]
    required = [op for op in ops if op.outcome != "info"]
    infos = [op for op in ops if op.outcome == "info"]
    for k in range(len(infos) + 1):
        for subset in itertools.combinations(infos, k):
            for order in itertools.permutations(required + list(subset)):
                if any(b.outcome != "info" and b.complete_index is not None
                       and b.complete_index < a.invoke_index
                       for i, a in enumerate(order) for b in order[i + 1:]):
                    continue
                state = model.init_state()
                for op in order:
                    state = model.step_fn(op)(state)
                    if state is INCONSISTENT:
                        break
                else:
                    return True
    return False


@settings(max_examples=2000, deadline=None)
@given(_small_histories())
def test_verdict_matches_an_exhaustive_search(case: tuple[str, list[HistoryEvent]]) -> None:
    # Every pruning of the search (memo, dominance, read-only commits, twins, the
    # just-in-time pass) must keep its verdict that of trying every order.
    kind, records = case
    model = MODELS[kind]()
    hist = make_history(records)
    res = check_linearizable(hist, model)
    assert res.verdict == ("ok" if _exhaustive(list(hist.operations), model) else "fail"), res.explanation
