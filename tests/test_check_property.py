"""Property tests: generated linearizable histories pass; one corrupted read is caught."""

from __future__ import annotations

import random
from typing import Any

import attrs
from hypothesis import given, settings
from hypothesis import strategies as st

from raftkv.check import (
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
