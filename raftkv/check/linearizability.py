"""Linearizability checking: Wing & Gong / Lowe depth-first search with memoization.

The search keeps the history's invocations and completions in a doubly linked list
ordered by position.  In a configuration (set of linearized operations as an int
bitset, model state), the candidates are the calls that come before the first
completion still in the list; each is tried in turn (non-``info`` first).  A
configuration seen before is not explored again; one whose linearized ``info``
operations are a superset of a seen configuration with the same other operations and
state is dominated by it and skipped too (an ``info`` operation may also never take
effect).  Twin ``info`` operations (equal :meth:`Model.effects`: the same step
function, or writes of values no operation of the partition observes) are used in
invocation order only: the search never tries a later twin while an earlier one is
unused.  A read-only operation (the model says it never changes the state) that
applies is committed to without trying its siblings: moving it to the front of any
linearization keeps that linearization valid.

The search succeeds once every non-``info`` operation is linearized; ``info``
operations may take effect at any point after their invocation, or never.

A partition with ``info`` operations is first searched *just in time*: an ``info``
operation is tried only where it lets another waiting operation (``info`` or not) apply
that does not apply without it (after the other candidates, so also where one of them
applied but led nowhere).  For models whose operations can always be rearranged that
way (``Model.just_in_time_complete``: the registers) that pass decides.  For the others
it is incomplete (an ``info`` append that took effect before a completed one is needed by
no operation right after it), so only a linearization it finds is final; when it finds
none, the complete search above decides.  After an outage with dozens of timed-out
writes, the complete search alone would try each of them at every earlier point.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Generator, Hashable, Sequence
from typing import Any, Literal

import attrs

from .history import History, Operation
from .models import INCONSISTENT, NO_TARGET, Model

__all__ = [
    "Budget",
    "KeyResult",
    "LinearizabilityResult",
    "Step",
    "check_linearizable",
    "check_operations",
]

Verdict = Literal["ok", "fail", "unknown"]


@attrs.frozen(kw_only=True)
class Step:
    """One operation of a (partial) linearization with the states around it."""

    op_id: int
    state_before: Any
    state_after: Any


@attrs.frozen(kw_only=True)
class KeyResult:
    """The verdict for one partition (key) of the history."""

    key: Hashable
    verdict: Verdict
    op_ids: tuple[int, ...]  # operations of this partition, checked ones
    linearization: tuple[Step, ...]  # the one found, or the longest partial one
    blocked_op: int | None = None  # first operation that cannot be placed
    blocked_reasons: tuple[str, ...] = ()  # why each candidate failed at that point
    steps: int = 0
    configurations: int = 0
    refuted: bool = False  # refuted without search: a read of a value nothing wrote
    unexplained: bool = False  # fail proven, but the budget ran out explaining it
    search_s: float = 0.0  # time spent searching this key

    @property
    def linearized_ops(self) -> int:
        return len(self.linearization)


@attrs.frozen(kw_only=True)
class LinearizabilityResult:
    verdict: Verdict
    model: str
    per_key: tuple[KeyResult, ...]
    explanation: str
    operations: tuple[Operation, ...]  # all operations of the history, by id
    steps: int
    elapsed_s: float
    excluded: tuple[int, ...] = ()  # operations not checked (fail, info reads, not in model)
    keys: int = 0  # keys (partitions) in the history; per_key leaves out those not checked

    @property
    def ok(self) -> bool:
        return self.verdict == "ok"

    def failed_keys(self) -> tuple[KeyResult, ...]:
        return tuple(k for k in self.per_key if k.verdict == "fail")

    def failure_time_us(self) -> int | None:
        """When the first failing key's blocked operation completed: the history up to
        then already shows the failure (None if unknown)."""
        for key in self.failed_keys():
            if key.blocked_op is None:
                continue
            for op in self.operations:
                if op.id == key.blocked_op:
                    return op.complete_time_us
        return None


class Budget:
    """One key's allowance: search steps and/or seconds of search time.

    Each key has its own (searches of other keys running in between do not count).
    With only ``max_steps`` the verdict is deterministic.
    """

    def __init__(self, *, timeout_s: float | None = None, max_steps: int | None = None) -> None:
        assert timeout_s is None or timeout_s >= 0, timeout_s
        assert max_steps is None or max_steps >= 0, max_steps
        self.timeout_s = timeout_s
        self.max_steps = max_steps
        self.steps = 0
        self.used_s = 0.0

    def spend(self, steps: int, seconds: float = 0.0) -> bool:
        """Count ``steps`` and ``seconds``; False when the budget is exhausted."""
        self.steps += steps
        self.used_s += seconds
        if self.max_steps is not None and self.steps > self.max_steps:
            return False
        return not (self.timeout_s is not None and self.used_s > self.timeout_s)


_CHECK_EVERY = 256


def _search(key: Hashable, ops: Sequence[Operation], model: Model,
            explain: bool = False, just_in_time: bool = False) -> Generator[int, None, KeyResult]:
    """Check one partition.  ``ops`` are sorted by invocation position.

    A generator: every :data:`_CHECK_EVERY` steps it yields the steps taken since the
    last yield, so that its driver can stop it (budget, another key failed) or run other
    searches in between; it returns the :class:`KeyResult`.

    With ``explain`` the longest partial linearization is recorded (slower); the
    caller runs the search again with it only when the first run fails.

    With ``just_in_time`` an ``info`` operation is tried only where it unblocks another
    waiting candidate (one that does not apply without it; that one may be an ``info``
    operation too): it takes effect just before the operation that needs it.  That
    avoids trying every ``info`` operation at every earlier point, which is exponential
    when a fault leaves dozens of them in flight.  The search is complete only for models
    that say so (:attr:`Model.just_in_time_complete`); for the others only its "ok" is
    final.
    """
    n = len(ops)
    fns = [model.step_fn(op) for op in ops]
    is_info = [op.outcome == "info" for op in ops]
    pure = [model.read_only(op) and op.outcome != "info" for op in ops]
    required = sum(1 for x in is_info if not x)
    info_mask = 0
    for i, x in enumerate(is_info):
        if x:
            info_mask |= 1 << i
    core_mask = ((1 << n) - 1) & ~info_mask
    # twin[i]: the last info operation invoked before info operation i that does the same
    # (equal Model.effects), else -1.  Twins are used in invocation order: swapping two of
    # them in a linearization changes no state, and the earlier one is a candidate
    # wherever the later one is, so the search never tries i while twin[i] is unused.
    twin = [-1] * n
    last_of: dict[Hashable, int] = {}
    for i, effect in enumerate(model.effects(ops)):
        if is_info[i] and effect is not None:
            twin[i] = last_of.get(effect, -1)
            last_of[effect] = i

    # entries: 1..n calls (entry i+1 is op i's call), n+1..2n returns; 0 is the head.
    positions: list[tuple[float, int]] = []
    for i, op in enumerate(ops):
        positions.append((op.invoke_index, i + 1))
        ret = float("inf") if is_info[i] or op.complete_index is None else op.complete_index
        positions.append((ret, n + i + 1))
    positions.sort()
    size = 2 * n + 1
    nxt = [0] * (size + 1)
    prv = [0] * (size + 1)
    order = [e for _, e in positions]
    last = 0
    for e in order:
        nxt[last] = e
        prv[e] = last
        last = e
    nxt[last] = -1  # end of list
    END = -1

    def lift(i: int) -> None:
        for e in (i + 1, n + i + 1):
            p, q = prv[e], nxt[e]
            nxt[p] = q
            if q != END:
                prv[q] = p

    def unlift(i: int) -> None:
        for e in (n + i + 1, i + 1):
            p, q = prv[e], nxt[e]
            nxt[p] = e
            if q != END:
                prv[q] = e

    # Look-ahead (models with Model.horizon): after a state change, the next completed
    # read that must come later has to stay reachable from the new state by the operations
    # that may come in between.
    horizon = model.horizon(ops)

    def viable(i: int, new: Any) -> bool:
        assert horizon is not None
        resets, targets, reachable = horizon
        e = nxt[0]
        while e != END:
            if e <= n:
                if e - 1 != i and resets[e - 1]:
                    return True
            else:
                j = e - n - 1
                if j != i and targets[j] is not NO_TARGET:
                    return reachable(new, targets[j])
            e = nxt[e]
        return True

    def candidates() -> tuple[list[int], int | None]:
        # applicable read-only operations are always safe to take first
        reads: list[int] = []
        plain: list[int] = []
        infos: list[int] = []
        e = nxt[0]
        while e != END:
            if e <= n:
                i = e - 1
                (infos if is_info[i] else reads if pure[i] else plain).append(i)
            else:
                i = e - n - 1
                if not is_info[i]:
                    return reads + plain + infos, i
                break
            e = nxt[e]
        return reads + plain + infos, None

    state: Any = model.init_state()
    lin = 0
    done_required = 0
    # frame: (candidates, next index, state before, op applied, forced)
    stack: list[tuple[list[int], int, Any, int, bool]] = []
    seen: set[tuple[int, Any]] = set()
    seen_info: dict[tuple[int, Any], list[int]] = {}
    use_dominance = info_mask != 0
    steps = 0
    charged = 0  # steps already charged to the budget
    next_check = _CHECK_EVERY
    best: tuple[tuple[Step, ...], int | None, tuple[str, ...]] | None = None
    best_len = -1

    cands, blocked = candidates()
    idx = 0
    # just in time: the candidates that do not apply in this configuration's state
    # (worked out once per configuration, when an info candidate first applies)
    waiting: list[int] | None = None
    while True:
        if done_required == required:
            return KeyResult(key=key, verdict="ok", op_ids=tuple(op.id for op in ops),
                             linearization=_steps_of(stack, state, ops), steps=steps,
                             configurations=len(seen) + len(seen_info))
        advanced = False
        while idx < len(cands):
            i = cands[idx]
            idx += 1
            steps += 1
            if steps >= next_check:
                yield steps - charged
                charged = steps
                next_check = steps + _CHECK_EVERY
            if twin[i] >= 0 and not lin >> twin[i] & 1:
                continue  # its earlier twin goes first
            new = fns[i](state)
            if new is INCONSISTENT:
                continue
            if horizon is not None and not pure[i] and not viable(i, new):
                continue
            if just_in_time and is_info[i]:
                if waiting is None:
                    waiting = [c for c in cands if fns[c](state) is INCONSISTENT]
                if not any(fns[c](new) is not INCONSISTENT for c in waiting):
                    continue  # just in time means: it lets a blocked operation go next
            bit = 1 << i
            new_lin = lin | bit
            identity = pure[i]
            if use_dominance:
                core = (new_lin & core_mask, new)
                info_bits = new_lin & info_mask
                prior = seen_info.get(core)
                if prior is not None:
                    steps += len(prior) // 8  # the dominance scan is work too: charge it
                if prior is not None and any(p & ~info_bits == 0 for p in prior):
                    if identity:
                        idx = len(cands)
                        break
                    continue
                if prior is None:
                    seen_info[core] = [info_bits]
                else:
                    prior.append(info_bits)
            else:
                memo = (new_lin, new)
                if memo in seen:
                    if identity:
                        idx = len(cands)
                        break
                    continue
                seen.add(memo)
            stack.append((cands, len(cands) if identity else idx, state, i, identity))
            lift(i)
            lin = new_lin
            state = new
            if not is_info[i]:
                done_required += 1
            cands, blocked = candidates()
            idx = 0
            waiting = None
            advanced = True
            break
        if advanced:
            continue
        if len(stack) > best_len and (explain or not stack):
            best_len = len(stack)
            reasons = tuple(model.explain(state, ops[c]) for c in cands
                            if not is_info[c] and fns[c](state) is INCONSISTENT)
            best = (_steps_of(stack, state, ops), blocked, reasons)
        if not stack:
            assert best is not None
            lin_steps_t, blocked_i, reasons = best
            return KeyResult(
                key=key, verdict="fail", op_ids=tuple(op.id for op in ops),
                linearization=lin_steps_t,
                blocked_op=None if blocked_i is None else ops[blocked_i].id,
                blocked_reasons=reasons, steps=steps,
                configurations=len(seen) + len(seen_info))
        cands, idx, state, i, _forced = stack.pop()
        waiting = None
        unlift(i)
        lin &= ~(1 << i)
        if not is_info[i]:
            done_required -= 1


def _steps_of(stack: list[tuple[list[int], int, Any, int, bool]], state: Any,
              ops: Sequence[Operation]) -> tuple[Step, ...]:
    out = []
    for k, (_c, _i, before, op_i, _f) in enumerate(stack):
        after = stack[k + 1][2] if k + 1 < len(stack) else state
        out.append(Step(op_id=ops[op_i].id, state_before=before, state_after=after))
    return tuple(out)


def _partition(ops: Sequence[Operation], model: Model) -> list[tuple[Hashable, list[Operation]]]:
    if not model.partitioned:
        return [(None, list(ops))]
    groups: dict[Hashable, list[Operation]] = {}
    for op in ops:
        groups.setdefault(op.key, []).append(op)
    return sorted(groups.items(), key=lambda kv: (type(kv[0]).__name__, repr(kv[0])))


def _refute_unwritten(key: Hashable, ops: Sequence[Operation], model: Model) -> KeyResult | None:
    """A fail verdict at once if an ``ok`` read returns a value no operation of the
    partition could have produced (:meth:`Model.unproducible`), else None."""
    found = model.unproducible(ops)
    if found is None:
        return None
    op, reason = found
    return KeyResult(key=key, verdict="fail", op_ids=tuple(o.id for o in ops), linearization=(),
                     blocked_op=op.id, blocked_reasons=(reason,), refuted=True)


def _check_key(key: Hashable, group: Sequence[Operation], model: Model,
               proven: list[KeyResult]) -> Generator[int, None, KeyResult]:
    """All searches of one key, as one generator (see :func:`_search`).  A fail verdict
    is appended to ``proven`` before the search that explains it runs."""
    refuted = _refute_unwritten(key, group, model)
    if refuted is not None:
        return refuted
    res = None
    jit = False  # whether res comes from the just-in-time pass
    if any(op.outcome == "info" for op in group):
        # The just-in-time pass first: it finds a linearization where the full search
        # drowns in info ops, and for some models its "fail" is final too.
        quick = yield from _search(key, group, model, just_in_time=True)
        if quick.verdict == "ok" or model.just_in_time_complete:
            res, jit = quick, True
    if res is None:
        res = yield from _search(key, group, model)
    if res.verdict == "fail":
        proven.append(res)
        # the same search again (it ends where the first did), recording the longest
        # partial linearization
        explained = yield from _search(key, group, model, explain=True, just_in_time=jit)
        assert explained.verdict == "fail"
        res = attrs.evolve(explained, steps=res.steps + explained.steps)
    return res


class KeyTask:
    """One key of one history, checked under its own :class:`Budget`."""

    def __init__(self, *, group: int, key: Hashable, ops: Sequence[Operation], model: Model,
                 timeout_s: float | None, max_steps: int | None) -> None:
        self.group = group  # which history: a failing key stops the others of its history
        self.key = key
        self.op_ids = tuple(op.id for op in ops)
        self.budget = Budget(timeout_s=timeout_s, max_steps=max_steps)
        self.proven: list[KeyResult] = []
        self.gen = _check_key(key, ops, model, self.proven)

    def run(self, yields: int, clock: Callable[[], float]) -> KeyResult | None:
        """Search on for up to ``yields`` x :data:`_CHECK_EVERY` steps; the result
        when the key is decided or its budget ran out, else None."""
        t = clock()
        try:
            for _ in range(yields):
                n = next(self.gen)
                now = clock()
                if not self.budget.spend(n, now - t):
                    self.gen.close()
                    return self.exhausted()
                t = now
        except StopIteration as stop:
            self.budget.spend(0, clock() - t)
            res: KeyResult = stop.value
            return attrs.evolve(res, search_s=self.budget.used_s)
        return None

    def exhausted(self) -> KeyResult:
        if self.proven:  # not linearizable; the explaining search ran out
            return attrs.evolve(self.proven[0], steps=self.budget.steps, linearization=(),
                                blocked_op=None, blocked_reasons=(), unexplained=True,
                                search_s=self.budget.used_s)
        return KeyResult(key=self.key, verdict="unknown", op_ids=self.op_ids, linearization=(),
                         steps=self.budget.steps, search_s=self.budget.used_s)


def key_tasks(group: int, operations: Sequence[Operation], model: Model, *,
              timeout_s: float | None = None, max_steps: int | None = None) -> list[KeyTask]:
    """One task per key (partition) of a history's operations that ``model`` checks."""
    checked = sorted((op for op in operations if model.relevant(op)), key=lambda op: op.invoke_index)
    for op in checked:
        model.step_fn(op)  # an operation the model does not understand: ModelError now
    return [KeyTask(group=group, key=key, ops=ops, model=model, timeout_s=timeout_s, max_steps=max_steps)
            for key, ops in _partition(checked, model)]


def result_of(operations: Sequence[Operation], model: Model, results: Sequence[KeyResult],
              elapsed_s: float) -> LinearizabilityResult:
    """The verdict of a history from its keys' results (keys not checked because another
    key failed first are left out)."""
    checked_ids = {op.id for op in operations if model.relevant(op)}
    excluded = tuple(op.id for op in operations if op.id not in checked_ids)
    order = {k: i for i, (k, _) in enumerate(_partition(
        [op for op in operations if op.id in checked_ids], model))}
    per_key = tuple(sorted(results, key=lambda r: order[r.key]))
    verdicts = {r.verdict for r in per_key}
    verdict: Verdict = "fail" if "fail" in verdicts else "unknown" if "unknown" in verdicts else "ok"
    by_id = {op.id: op for op in operations}
    return LinearizabilityResult(verdict=verdict, model=model.name, per_key=per_key,
                                 explanation=_explain(verdict, per_key, model, by_id),
                                 operations=tuple(operations), steps=sum(r.steps for r in per_key),
                                 elapsed_s=elapsed_s, excluded=excluded,
                                 keys=len(order))


def check_operations(operations: Sequence[Operation], model: Model, *,
                     timeout_s: float | None = None, max_steps: int | None = None,
                     clock: Callable[[], float] = time.monotonic, workers: int = 1) -> LinearizabilityResult:
    """Check paired operations against ``model``: each key under its own budget
    (``timeout_s`` seconds of search and/or ``max_steps``), in ``workers`` processes;
    the first key that fails stops the others."""
    from .tasks import run_tasks

    start = clock()
    tasks = key_tasks(0, operations, model, timeout_s=timeout_s, max_steps=max_steps)
    results = [res for _, res in run_tasks(tasks, workers=workers, clock=clock)]
    return result_of(operations, model, results, clock() - start)


def check_linearizable(history: History | Sequence[Operation], model: Model, *,
                       timeout_s: float | None = None, max_steps: int | None = None,
                       clock: Callable[[], float] = time.monotonic, workers: int = 1) -> LinearizabilityResult:
    """Is ``history`` linearizable with respect to ``model``?

    Verdict ``ok``, ``fail`` or ``unknown`` (a key's ``timeout_s`` or ``max_steps`` ran
    out).  ``workers`` > 1 checks keys in that many processes (the verdict is the same).
    """
    ops = history.operations if isinstance(history, History) else tuple(history)
    return check_operations(ops, model, timeout_s=timeout_s, max_steps=max_steps, clock=clock,
                            workers=workers)


def _explain(verdict: Verdict, results: Sequence[KeyResult], model: Model,
             by_id: dict[int, Operation]) -> str:
    if verdict == "ok":
        n = sum(len(r.op_ids) for r in results)
        return f"linearizable: {n} operations on {len(results)} key(s) ({model.name} model)"
    if verdict == "unknown":
        unk = [r for r in results if r.verdict == "unknown"]
        more = f" and {len(unk) - 1} other key(s)" if len(unk) > 1 else ""
        return (f"unknown: the time/step budget ran out while checking key {unk[0].key!r} "
                f"({len(unk[0].op_ids)} operations){more}")
    lines = []
    for r in results:
        if r.verdict != "fail":
            continue
        if r.refuted:
            assert r.blocked_op is not None
            lines.append(f"not linearizable: key {r.key!r} ({model.name} model): "
                         f"{by_id[r.blocked_op].describe()} returns a value no operation could produce")
            lines.extend(f"  - {reason}" for reason in r.blocked_reasons)
            continue
        if r.unexplained:
            lines.append(f"not linearizable: key {r.key!r} ({model.name} model): no linearization "
                         f"of its {len(r.op_ids)} operations exists; the budget ran out while "
                         "searching for the longest linearizable prefix to show")
            continue
        lines.append(f"not linearizable: key {r.key!r} ({model.name} model): "
                     f"longest linearizable prefix has {len(r.linearization)} of "
                     f"{len(r.op_ids)} operations")
        if r.blocked_op is not None:
            lines.append(f"  cannot place {by_id[r.blocked_op].describe()}")
        last = r.linearization[-1].state_after if r.linearization else model.init_state()
        if r.linearization:
            s = r.linearization[-1]
            lines.append(f"  last linearized: {by_id[s.op_id].describe()}: state "
                         f"{model.show_state(s.state_before)!r} -> {model.show_state(s.state_after)!r}")
        lines.append(f"  state at that point: {model.show_state(last)!r}")
        for reason in r.blocked_reasons[:8]:
            lines.append(f"  - {reason}")
    return "\n".join(lines)
