"""Generating linearizable histories (for tests and benchmarks).

Clients run against one atomic store: each operation is invoked, takes effect at a
random instant (its linearization point) and completes later, so the history is
linearizable by construction.  With ``info_rate`` some operations end ``info``
(taking effect or not, at random) and, as in Jepsen, the client is replaced by a
new process (id + ``clients``).  All randomness comes from the given ``random.Random``.
"""

from __future__ import annotations

import heapq
import random
from typing import Any, Literal

from .history import HistoryEvent, Record, freeze

__all__ = ["Kind", "simulate"]

Kind = Literal["register", "cas-register", "kv", "etcd"]


def _choose_op(kind: Kind, rng: random.Random, keys: int, counter: int,
               state: dict[Any, Any]) -> tuple[str, Any, Any]:
    """(f, key, invoke value)."""
    key: Any = None if kind in ("register", "cas-register") and keys <= 1 else f"k{rng.randrange(keys)}"
    x = rng.random()
    if kind == "register":
        return ("read", key, None) if x < 0.5 else ("write", key, counter)
    if kind == "cas-register":
        if x < 0.4:
            return "read", key, None
        if x < 0.7:
            return "write", key, rng.randrange(5)
        cur = state.get(key)
        exp = cur if rng.random() < 0.5 else rng.randrange(5)
        return "cas", key, (exp, rng.randrange(5))
    if kind == "kv":
        if x < 0.4:
            return "get", key, None
        if x < 0.7:
            return "put", key, f"v{counter}"
        return "append", key, f"{counter},"
    # etcd
    if x < 0.4:
        return "get", key, None
    if x < 0.7:
        return "put", key, f"v{counter}"
    if x < 0.8:
        return "delete", key, None
    cur = state.get(key)
    exp = cur if rng.random() < 0.6 else None
    return "cas", key, (exp, f"v{counter}")


def _apply(kind: Kind, f: str, key: Any, value: Any, state: dict[Any, Any], rev: list[int],
           mods: dict[Any, int]) -> dict[str, Any]:
    """Apply at the linearization point; return the completion's fields."""
    cur = state.get(key)
    if f in ("read", "get"):
        out: dict[str, Any] = {"value": cur}
        if kind == "etcd":
            out.update(revision=rev[0], mod_revision=mods.get(key) if cur is not None else None)
        return out
    if f in ("write", "put"):
        state[key] = value
        if kind == "etcd":
            rev[0] += 1
            mods[key] = rev[0]
            return {"value": value, "revision": rev[0]}
        return {"value": value}
    if f == "append":
        state[key] = (cur or "") + value
        return {"value": value}
    if f == "delete":
        if cur is None:
            return {"deleted": 0, "revision": rev[0]}
        del state[key]
        rev[0] += 1
        return {"deleted": 1, "revision": rev[0]}
    assert f == "cas", f
    exp, new = value
    if cur == exp:
        state[key] = new
        if kind == "etcd":
            rev[0] += 1
            mods[key] = rev[0]
            return {"value": value, "succeeded": True, "revision": rev[0]}
        return {"value": value, "succeeded": True}
    return {"value": value, "succeeded": False, "revision": rev[0]} if kind == "etcd" else {
        "value": value, "succeeded": False}


def simulate(kind: Kind, rng: random.Random, *, clients: int, ops: int, keys: int = 1,
             info_rate: float = 0.0, mean_latency_us: int = 100, mean_think_us: int = 50,
             initial: Any = None) -> list[Record]:
    """A linearizable history of ``ops`` operations by ``clients`` concurrent clients.

    A ``cas-register``/``register`` cas whose compare fails completes ``fail``
    (Jepsen's convention); in ``kv``/``etcd`` it completes ``ok`` with
    ``succeeded: false``.
    """
    state: dict[Any, Any] = {}
    if initial is not None:
        for k in [None, *[f"k{i}" for i in range(keys)]]:
            state[k] = initial
    rev = [1]
    mods: dict[Any, int] = {}
    records: list[Record] = []
    queue: list[tuple[int, int, str, int]] = []  # (time, seq, what, slot)
    seq = 0
    proc = list(range(clients))
    current: dict[int, dict[str, Any]] = {}
    started = 0
    for slot in range(clients):
        heapq.heappush(queue, (rng.randrange(mean_think_us + 1), seq, "invoke", slot))
        seq += 1
    while queue:
        t, _s, what, slot = heapq.heappop(queue)
        if what == "invoke":
            if started >= ops:
                continue
            started += 1
            f, key, value = _choose_op(kind, rng, keys, started, state)
            info = rng.random() < info_rate
            current[slot] = {"f": f, "key": key, "value": value, "info": info,
                             "applies": not info or rng.random() < 0.5, "out": None}
            records.append(HistoryEvent(type="invoke", process=proc[slot], f=f, key=key,
                                        value=freeze(value), time_us=t))
            d1 = 1 + int(rng.expovariate(1.0 / mean_latency_us))
            heapq.heappush(queue, (t + d1, seq, "apply", slot))
            seq += 1
        elif what == "apply":
            op = current[slot]
            if op["applies"]:
                op["out"] = _apply(kind, op["f"], op["key"], op["value"], state, rev, mods)
            d2 = 1 + int(rng.expovariate(1.0 / mean_latency_us))
            heapq.heappush(queue, (t + d2, seq, "complete", slot))
            seq += 1
        else:
            op = current.pop(slot)
            f, key = op["f"], op["key"]
            if op["info"]:
                records.append(HistoryEvent(type="info", process=proc[slot], f=f, key=key,
                                            value=freeze(op["value"]), time_us=t, error="timeout"))
                proc[slot] += clients  # a new client takes over, as in Jepsen
            else:
                out = dict(op["out"])
                typ = "ok"
                if f == "cas" and kind in ("register", "cas-register") and not out.get("succeeded"):
                    typ = "fail"
                if kind in ("register", "cas-register"):
                    out.pop("succeeded", None)
                v = out.pop("value", None)
                records.append(HistoryEvent(type=typ, process=proc[slot], f=f, key=key,  # type: ignore[arg-type]
                                            value=freeze(v), time_us=t, **out))
            think = int(rng.expovariate(1.0 / mean_think_us)) if mean_think_us else 0
            heapq.heappush(queue, (t + think, seq, "invoke", slot))
            seq += 1
    return records
