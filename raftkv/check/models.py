"""Sequential specifications (models) for the linearizability checker.

A model turns each operation into a *step function* ``state -> state`` that returns
:data:`INCONSISTENT` when the operation, with the outcome it reported, cannot happen
in that state.  States are hashable (they go into the search's memo table).  For an
``info`` operation the step function returns the state *if it took effect*; the
checker itself covers the "never took effect" case.

Models with ``partitioned = True`` are checked one key at a time (P-compositionality):
every operation they accept touches exactly one key.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from typing import Any, Final

import attrs

from .history import Operation, to_json

__all__ = [
    "INCONSISTENT",
    "NO_TARGET",
    "CASRegisterModel",
    "EtcdModel",
    "KVModel",
    "MODELS",
    "Model",
    "ModelError",
    "RegisterModel",
    "StepFn",
]


class _Inconsistent:
    __slots__ = ()

    def __repr__(self) -> str:
        return "INCONSISTENT"


INCONSISTENT: Final = _Inconsistent()

StepFn = Callable[[Any], Any]


class _NoTarget:
    __slots__ = ()

    def __repr__(self) -> str:
        return "NO_TARGET"


NO_TARGET: Final = _NoTarget()
# Model.horizon: (resets[i], target[i] or NO_TARGET, reachable(state, target))
Horizon = tuple[list[bool], list[Any], Callable[[Any, Any], bool]]


class ModelError(ValueError):
    """An operation the model does not understand (one-line reason)."""


READ_F = frozenset({"read", "get", "r"})
WRITE_F = frozenset({"write", "put", "w"})
CAS_F = frozenset({"cas", "txn"})

# Who ran an operation and when: not part of what it does (see ``Model.effect``).
_NOT_EFFECT = frozenset({"id", "process", "invoke_index", "complete_index", "invoke_time_us",
                         "complete_time_us", "error"})


def _effect_field(a: attrs.Attribute, _value: Any) -> bool:  # type: ignore[type-arg]
    return a.name not in _NOT_EFFECT


class _Unobserved:
    __slots__ = ()

    def __repr__(self) -> str:
        return "UNOBSERVED"


_UNOBSERVED: Final = _Unobserved()


def effects_hiding_unobserved_values(model: Model, ops: Sequence[Operation],
                                     observed: Callable[[Operation], tuple[Any, ...]],
                                     written: Callable[[Operation], Any]) -> list[Hashable | None]:
    """:meth:`Model.effects` for models whose state is a value that operations read or
    compare (``observed(op)``: the values ``op`` reads or compares against) and write
    (``written(op)``: the value ``op`` writes, or None).

    Two ``info`` writes that differ only in a value no operation of the partition
    observes are twins: swapping them in a linearization changes only which unobserved
    value the state holds in between, and no operation tells those apart.  After an
    outage with dozens of timed-out writes of distinct values, this is what keeps a
    failing history from trying every subset of them.
    """
    seen: set[Any] = set()
    try:
        for op in ops:
            seen.update(observed(op))
    except TypeError:  # an unhashable value: no twins beyond equal effects
        return Model.effects(model, ops)
    out: list[Hashable | None] = []
    for op in ops:
        if op.outcome != "info":
            out.append(None)
            continue
        value = written(op)
        try:
            hidden = value is not None and value not in seen
        except TypeError:
            hidden = False
        if hidden:
            old = op.value
            op = attrs.evolve(op, value=(old[0], _UNOBSERVED) if op.f in CAS_F else _UNOBSERVED)
        out.append(model.effect(op))
    return out


def _first_unwritten(ops: Sequence[Operation], producible: set[Any], initial: Any,
                     is_read: Callable[[Operation], bool],
                     skip: Callable[[Any], bool] = lambda v: False) -> tuple[Operation, str] | None:
    try:
        for op in ops:
            if op.outcome == "ok" and is_read(op) and not skip(op.value) and op.value not in producible:
                return op, (f"{op.describe()}: no operation on this key writes "
                            f"{to_json(op.value)!r}, and the initial value is {to_json(initial)!r}")
    except TypeError:  # an unhashable value: leave it to the search
        return None
    return None


class Model:
    """Base class.  Subclasses define ``step_fn``."""

    name: str = "model"
    partitioned: bool = False
    # True if every linearization can be rearranged so that each info operation that
    # took effect comes right before an operation that does not apply without it: then
    # the search that only tries info operations there is complete, and its "fail" final.
    just_in_time_complete: bool = False

    def init_state(self) -> Any:
        return None

    def relevant(self, op: Operation) -> bool:
        """Whether the linearizability check includes ``op`` (fail ops never are)."""
        return op.outcome != "fail" and not (op.outcome == "info" and self.is_read(op))

    def is_read(self, op: Operation) -> bool:
        return op.f in READ_F

    def read_only(self, op: Operation) -> bool:
        """True if ``op``'s step function, wherever it applies, returns the state unchanged.

        The search commits to such an operation as soon as it applies (a sound
        partial-order reduction); an operation that merely happens to leave one state
        unchanged (a write of the current value) must answer False.
        """
        return False

    def step_fn(self, op: Operation) -> StepFn:
        raise NotImplementedError

    def effect(self, op: Operation) -> Hashable | None:
        """What ``op`` does, as a value: two ``info`` operations with equal effects have
        the same step function, so the search uses the earlier-invoked one first and never
        tries both orders.  None: ``op`` has no twin.

        The default is everything the operation carries but who ran it and when.  A model
        whose step function also reads ``process`` (or positions) must override this.
        """
        parts = attrs.astuple(op, recurse=False, filter=_effect_field)
        try:
            hash(parts)
        except TypeError:
            return None
        return parts

    def effects(self, ops: Sequence[Operation]) -> list[Hashable | None]:
        """:meth:`effect` of each of one partition's operations (None for all but
        ``info`` ones).  A model may make more of them twins by knowing the partition:
        see :func:`effects_hiding_unobserved_values`."""
        return [self.effect(op) if op.outcome == "info" else None for op in ops]

    def step(self, state: Any, op: Operation) -> Any:
        return self.step_fn(op)(state)

    def horizon(self, ops: Sequence[Operation]) -> Horizon | None:
        """Look-ahead for the search over one partition's ``ops`` (sorted by invocation),
        or None.  ``resets[i]``: operation i may take the state anywhere;
        ``target[i]``: for a completed read, the state it read; ``reachable(s, v)``: False
        only if no sequence of operations that do not reset leads from ``s`` to ``v``.
        The search drops a state from which the next read to complete, with no reset
        that could come before it, is not reachable."""
        return None

    def unproducible(self, ops: Sequence[Operation]) -> tuple[Operation, str] | None:
        """A completed read among one partition's ``ops`` returning a value that no
        operation of the partition could have produced (nor the initial state holds),
        with the reason; None if there is none or the model cannot tell.  Such a
        history is refuted without search."""
        return None

    def show_state(self, state: Any) -> Any:
        """A JSON-ready rendering of a state."""
        return to_json(state)

    def explain(self, state: Any, op: Operation) -> str:
        return f"{op.describe()} is not possible in state {self.show_state(state)!r}"


def _pair(op: Operation) -> tuple[Any, Any]:
    v = op.value
    if not isinstance(v, tuple) or len(v) != 2:
        raise ModelError(f"operation #{op.id} ({op.f}): value must be a pair [expected, new], got {to_json(v)!r}")
    return v[0], v[1]


def _register_observed(op: Operation) -> tuple[Any, ...]:
    if op.f in READ_F:
        return (op.value,)
    return (_pair(op)[0],) if op.f in CAS_F else ()


def _register_written(op: Operation) -> Any:
    if op.f in WRITE_F:
        return op.value
    return _pair(op)[1] if op.f in CAS_F else None


class RegisterModel(Model):
    """A single read/write register (Jepsen's ``register`` / knossos ``register``).

    ``nil_read_is_unknown``: a read that returns null is taken as "value unknown" and
    matches any state, as knossos does.  Off by default: null is a real value.
    Operations with a key are checked one key at a time (Jepsen's ``independent``).
    """

    name = "register"
    partitioned = True
    # Take the operation o right after an info write or CAS w (state s before w, v after).
    # If o does not apply in s, o needs w.  If it does: a read or a successful CAS that
    # applies in both s and v means s == v, so w changed nothing and can go; a write
    # (known or not) overwrites w, so w can go; a failed CAS or a read of null (with
    # nil_read_is_unknown) changes nothing and applies in s, so w can move after it.
    # Moving or dropping info operations this way ends with each one needed where it is.
    just_in_time_complete = True

    def __init__(self, initial: Any = None, *, nil_read_is_unknown: bool = False) -> None:
        self.initial = initial
        self.nil_read_is_unknown = nil_read_is_unknown

    def init_state(self) -> Any:
        return self.initial

    def read_only(self, op: Operation) -> bool:
        return op.f in READ_F or (op.f == "cas" and op.outcome == "ok" and op.succeeded is False)

    def effects(self, ops: Sequence[Operation]) -> list[Hashable | None]:
        return effects_hiding_unobserved_values(self, ops, _register_observed, _register_written)

    def unproducible(self, ops: Sequence[Operation]) -> tuple[Operation, str] | None:
        try:
            producible = {self.initial} | {_register_written(op) for op in ops if op.f not in READ_F}
        except TypeError:
            return None
        return _first_unwritten(ops, producible, self.initial, lambda op: op.f in READ_F,
                                lambda v: v is None and self.nil_read_is_unknown)

    def _read(self, op: Operation) -> StepFn:
        v = op.value
        if v is None and self.nil_read_is_unknown:
            return lambda s: s
        return lambda s: s if s == v else INCONSISTENT

    def step_fn(self, op: Operation) -> StepFn:
        if op.f in READ_F:
            return self._read(op)
        if op.f in WRITE_F:
            v = op.value
            return lambda s: v
        raise ModelError(f"operation #{op.id}: model {self.name} has no operation f={op.f!r}")

    def explain(self, state: Any, op: Operation) -> str:
        if op.f in READ_F:
            return f"{op.describe()}: cannot read {to_json(op.value)!r} from register holding {to_json(state)!r}"
        return super().explain(state, op)


class CASRegisterModel(RegisterModel):
    """A register with compare-and-set (knossos ``cas-register``).

    ``cas`` takes ``[expected, new]``.  An ``ok`` cas succeeded unless it carries
    ``succeeded: false`` (then the state must differ from ``expected``); a ``fail``
    cas did not happen (Jepsen's convention) and is not checked.
    """

    name = "cas-register"

    def step_fn(self, op: Operation) -> StepFn:
        if op.f == "cas":
            exp, new = _pair(op)
            if op.outcome == "ok" and op.succeeded is False:
                return lambda s: s if s != exp else INCONSISTENT
            return lambda s: new if s == exp else INCONSISTENT
        return super().step_fn(op)

    def explain(self, state: Any, op: Operation) -> str:
        if op.f == "cas":
            exp, new = _pair(op)
            if op.outcome == "ok" and op.succeeded is False:
                return f"{op.describe()}: compare failed, but register holds the expected {to_json(exp)!r}"
            return f"{op.describe()}: can't CAS {to_json(state)!r} from {to_json(exp)!r} to {to_json(new)!r}"
        return super().explain(state, op)


def _append(s: Any, x: Any) -> Any:
    if isinstance(x, str) and (s is None or isinstance(s, str)):
        return (s or "") + x
    if s is None:
        return (x,)
    if isinstance(s, tuple):
        return (*s, x)
    return INCONSISTENT


def _extends(state: Any, value: Any) -> bool:
    """Whether appends can turn ``state`` into ``value`` (see :func:`_append`)."""
    if state == value or state is None:
        return state == value or isinstance(value, str | tuple)
    if isinstance(state, str) and isinstance(value, str):
        return value.startswith(state)
    if isinstance(state, tuple) and isinstance(value, tuple):
        return value[:len(state)] == state
    return False


class KVModel(Model):
    """A map of independent keys: get/read, put/write, append, cas, delete.

    ``append x``: strings concatenate (absent counts as ""); any other ``x`` is
    added to a list (absent counts as []).  ``initial`` is every key's value before
    the history (default: absent, null).  Checked one key at a time.
    """

    name = "kv"
    partitioned = True

    def __init__(self, initial: Any = None) -> None:
        self.initial = initial

    def init_state(self) -> Any:
        return self.initial

    def read_only(self, op: Operation) -> bool:
        return (op.f in READ_F or (op.f == "cas" and op.outcome == "ok" and op.succeeded is False)
                or (op.f == "delete" and op.outcome == "ok" and op.deleted == 0))

    def horizon(self, ops: Sequence[Operation]) -> Horizon | None:
        # Appends only extend the value: a later read must start with the current one.
        if not any(op.f == "append" for op in ops):
            return None
        resets = [op.f not in READ_F and op.f != "append" and not self.read_only(op) for op in ops]
        targets = [op.value if op.f in READ_F and op.outcome == "ok" else NO_TARGET for op in ops]
        return resets, targets, _extends

    def unproducible(self, ops: Sequence[Operation]) -> tuple[Operation, str] | None:
        # Values built by appends are left to the search unless no append touches the key.
        if any(op.f == "append" for op in ops):
            return None
        try:
            producible = {self.initial, None} | {
                _pair(op)[1] if op.f == "cas" else op.value for op in ops if op.f in WRITE_F | {"cas"}}
        except TypeError:
            return None
        return _first_unwritten(ops, producible, self.initial, lambda op: op.f in READ_F)

    def step_fn(self, op: Operation) -> StepFn:
        if op.key is None:
            raise ModelError(f"operation #{op.id} ({op.f}): the kv model needs a key")
        f = op.f
        if f in READ_F:
            v = op.value
            return lambda s: s if s == v else INCONSISTENT
        if f in WRITE_F:
            w = op.value
            return lambda s: w
        if f == "append":
            x = op.value
            return lambda s: _append(s, x)
        if f == "delete":
            if op.outcome == "ok" and op.deleted is not None:
                if op.deleted:
                    return lambda s: None if s is not None else INCONSISTENT
                return lambda s: s if s is None else INCONSISTENT
            return lambda s: None
        if f == "cas":
            exp, new = _pair(op)
            if op.outcome == "ok" and op.succeeded is False:
                return lambda s: s if s != exp else INCONSISTENT
            return lambda s: new if s == exp else INCONSISTENT
        raise ModelError(f"operation #{op.id}: model {self.name} has no operation f={f!r}")

    def explain(self, state: Any, op: Operation) -> str:
        if op.f in READ_F:
            return f"{op.describe()}: cannot read {to_json(op.value)!r}; key holds {to_json(state)!r}"
        if op.f == "cas":
            exp, _new = _pair(op)
            if op.outcome == "ok" and op.succeeded is False:
                return f"{op.describe()}: compare failed, but the key holds the expected {to_json(exp)!r}"
            return f"{op.describe()}: compare needs {to_json(exp)!r}; key holds {to_json(state)!r}"
        return super().explain(state, op)


# ------------------------------------------------------------------------- etcd
#
# Per-key state: (value, mod_revision, exact, lease).  value None = key absent.
# ``exact`` False makes mod_revision a strict lower bound (after an info write, or a
# key vanishing with its lease).  A key with a lease may vanish at any point (its
# lease may expire); lease timing is the lease checker's job.

EtcdState = tuple[Any, int, bool, int]
ETCD_KEY_OPS = frozenset({"get", "put", "delete", "cas", "txn"})


def _vanish(s: EtcdState) -> EtcdState | None:
    """The state after the key's lease expired, if it has one."""
    if s[0] is not None and s[3]:
        return (None, s[1], False, 0)
    return None


def _rev_after(s: EtcdState, r: int | None) -> bool:
    return r is None or r > s[1]


def _etcd_observed(op: Operation) -> tuple[Any, ...]:
    if op.f == "get":
        return (op.value,)
    return (_pair(op)[0],) if op.f in CAS_F else ()


class EtcdModel(Model):
    """etcd's KV for single-key operations, with revisions.

    Checked ops: ``get`` (value or null, ``mod_revision``), ``put`` (new ``revision``,
    optional ``lease``), ``delete`` (``deleted`` count, ``revision``) and ``cas`` /
    ``txn`` (value ``[expected, new]``, expected null = key absent; ``succeeded`` and
    ``revision``).  Ignored: ``stale_get`` (serializable reads are not linearizable),
    lease operations, ``compact`` and watches (see the other checkers).
    Revisions prune the search: per key, every write must return a revision above
    the key's last one, and a get's ``mod_revision`` must name the last write.
    """

    name = "etcd"
    partitioned = True

    def init_state(self) -> EtcdState:
        return (None, 0, False, 0)

    def relevant(self, op: Operation) -> bool:
        return op.f in ETCD_KEY_OPS and super().relevant(op)

    def is_read(self, op: Operation) -> bool:
        return op.f == "get"

    def effects(self, ops: Sequence[Operation]) -> list[Hashable | None]:
        return effects_hiding_unobserved_values(self, ops, _etcd_observed, _register_written)

    def unproducible(self, ops: Sequence[Operation]) -> tuple[Operation, str] | None:
        try:
            producible = {None} | {_register_written(op) for op in ops if op.f != "get"}
        except TypeError:
            return None
        return _first_unwritten(ops, producible, None, lambda op: op.f == "get")

    def step_fn(self, op: Operation) -> StepFn:
        if op.key is None:
            raise ModelError(f"operation #{op.id} ({op.f}): the etcd model needs a key")
        f = op.f
        ok = op.outcome == "ok"
        if f == "get":
            return self._get(op)
        if f == "put":
            v, lease = op.value, op.lease or 0
            if ok and op.revision is not None:
                r = op.revision
                return lambda s: (v, r, True, lease) if r > s[1] else INCONSISTENT
            return lambda s: (v, s[1], False, lease)
        if f == "delete":
            return self._delete(op)
        if f in ("cas", "txn"):
            return self._cas(op)
        raise ModelError(f"operation #{op.id}: model {self.name} has no operation f={f!r}")

    def _get(self, op: Operation) -> StepFn:
        v, m = op.value, op.mod_revision
        if v is None:
            def get_absent(s: EtcdState) -> Any:
                if s[0] is None:
                    return s
                gone = _vanish(s)
                return gone if gone is not None else INCONSISTENT
            return get_absent
        if m is None:
            return lambda s: s if s[0] == v else INCONSISTENT

        def get_present(s: EtcdState) -> Any:
            if s[0] != v:
                return INCONSISTENT
            if s[2]:
                return s if m == s[1] else INCONSISTENT
            return (v, m, True, s[3]) if m > s[1] else INCONSISTENT
        return get_present

    def _delete(self, op: Operation) -> StepFn:
        r = op.revision
        if op.outcome == "ok" and op.deleted is not None:
            if op.deleted:
                def delete_one(s: EtcdState) -> Any:
                    if s[0] is None or not _rev_after(s, r):
                        return INCONSISTENT
                    return (None, r, True, 0) if r is not None else (None, s[1], False, 0)
                return delete_one

            def delete_none(s: EtcdState) -> Any:
                if s[0] is None:
                    return s
                gone = _vanish(s)
                return gone if gone is not None else INCONSISTENT
            return delete_none
        # unknown outcome: if it took effect on a present key, the key is gone
        return lambda s: (None, s[1], False, 0) if s[0] is not None else s

    def _cas(self, op: Operation) -> StepFn:
        exp, new = _pair(op)
        r = op.revision
        if op.outcome == "ok" and op.succeeded is False:
            def cas_failed(s: EtcdState) -> Any:
                if s[0] != exp:
                    return s
                if exp is not None:
                    gone = _vanish(s)
                    if gone is not None:
                        return gone
                return INCONSISTENT
            return cas_failed
        exact = op.outcome == "ok" and r is not None

        def cas_succeeded(s: EtcdState) -> Any:
            if s[0] != exp:
                if exp is None and _vanish(s) is not None:
                    s = _vanish(s)  # type: ignore[assignment]
                else:
                    return INCONSISTENT
            if exact:
                return (new, r, True, 0) if r > s[1] else INCONSISTENT  # type: ignore[operator]
            return (new, s[1], False, 0)
        return cas_succeeded

    def show_state(self, state: Any) -> Any:
        value, rev, exact, lease = state
        out: dict[str, Any] = {"value": to_json(value), "mod_revision": rev if exact else f">{rev}"}
        if lease:
            out["lease"] = lease
        return out

    def explain(self, state: Any, op: Operation) -> str:
        shown = self.show_state(state)
        if op.f == "get" and op.value is not None and op.mod_revision is not None and state[0] == op.value:
            return (f"{op.describe()}: read mod_revision {op.mod_revision}, "
                    f"but the key's last write is at {shown['mod_revision']}")
        if op.f in ("put", "delete", "cas", "txn") and op.revision is not None and op.revision <= state[1]:
            return (f"{op.describe()}: returned revision {op.revision}, "
                    f"not above the key's mod_revision {state[1]}")
        return f"{op.describe()} is not possible in state {shown!r}"


MODELS: dict[str, Callable[..., Model]] = {
    "register": RegisterModel,
    "cas-register": CASRegisterModel,
    "kv": KVModel,
    "etcd": EtcdModel,
}
