"""The raftkv JSON-lines history format: types, writer and reader.

One JSON object per line.  Three kinds of record, told apart by ``type``:

* client operation events: ``type`` is ``invoke``, ``ok``, ``fail`` or ``info``
  (Jepsen's names), with ``process``, ``f``, ``key``, ``value``, ``time_us`` and the
  optional result fields of etcd (``revision``, ``mod_revision``, ...);
* ``watch_open``: a watch was created or resumed at ``start_revision``;
* ``watch_response``: one response delivered on a watch.

The order of the lines is the real-time order of the history: an operation whose
completion line comes before another's invocation line precedes it.  ``time_us`` is
only used for display.  See docs/history-format.md for the full description.
"""

from __future__ import annotations

import json
import pathlib
from collections.abc import Iterable, Iterator, Mapping
from typing import IO, Any, Literal

import attrs

__all__ = [
    "EVENT_TYPES",
    "History",
    "HistoryEvent",
    "HistoryFormatError",
    "KeyValue",
    "Operation",
    "WatchEvent",
    "WatchOpen",
    "WatchResponse",
    "freeze",
    "history_from_records",
    "make_history",
    "read_history",
    "read_jsonl",
    "to_json",
    "write_jsonl",
]

EventType = Literal["invoke", "ok", "fail", "info"]
EVENT_TYPES: tuple[str, ...] = ("invoke", "ok", "fail", "info")
Key = str | int
Process = int | str


class HistoryFormatError(ValueError):
    """A history file or record cannot be understood (one-line reason)."""


def freeze(value: Any) -> Any:
    """JSON value -> hashable value: lists become tuples, objects sorted item tuples."""
    if isinstance(value, list | tuple):
        return tuple(freeze(v) for v in value)
    if isinstance(value, dict):
        return tuple(sorted((str(k), freeze(v)) for k, v in value.items()))
    return value


def to_json(value: Any) -> Any:
    """Inverse of :func:`freeze` for lists (tuples become lists)."""
    if isinstance(value, tuple):
        return [to_json(v) for v in value]
    return value


@attrs.frozen(kw_only=True)
class HistoryEvent:
    """One invocation or completion of a client operation (one line of the history)."""

    type: EventType
    process: Process
    f: str
    key: Key | None = None
    value: Any = None
    time_us: int | None = None
    # results, etcd names; None when absent
    revision: int | None = None  # header revision (get/txn/delete), new revision (put)
    mod_revision: int | None = None  # of the key read by a get
    create_revision: int | None = None
    version: int | None = None
    lease: int | None = None  # lease attached (put/get) or the lease id (lease_*)
    succeeded: bool | None = None  # txn (cas)
    deleted: int | None = None  # delete: number of keys deleted
    ttl_s: int | None = None  # lease_grant/lease_keepalive
    error: str | None = None

    def __attrs_post_init__(self) -> None:
        assert self.type in EVENT_TYPES, self.type


@attrs.frozen(kw_only=True)
class KeyValue:
    """etcd's mvccpb.KeyValue."""

    key: Key
    value: Any = None
    create_revision: int = 0
    mod_revision: int = 0
    version: int = 0
    lease: int = 0


@attrs.frozen(kw_only=True)
class WatchEvent:
    """One event of a watch response (etcd's mvccpb.Event)."""

    type: Literal["PUT", "DELETE"]
    key: Key
    value: Any = None
    create_revision: int = 0
    mod_revision: int = 0
    version: int = 0
    lease: int = 0
    prev_kv: KeyValue | None = None


@attrs.frozen(kw_only=True)
class WatchOpen:
    """A watch was created (``resumed`` false) or re-created after a failure (true)."""

    process: Process
    watch_id: str  # the client's logical watch, stable across resumes
    key: Key
    range_end: Key | None = None  # None: the single key; "\\0": every key >= key
    start_revision: int = 0  # 0: from the current revision on
    filters: tuple[str, ...] = ()  # "noput", "nodelete"
    prev_kv: bool = False
    resumed: bool = False
    time_us: int | None = None


@attrs.frozen(kw_only=True)
class WatchResponse:
    """One response delivered on a watch."""

    process: Process
    watch_id: str
    revision: int  # header revision
    events: tuple[WatchEvent, ...] = ()
    compact_revision: int = 0
    canceled: bool = False
    created: bool = False
    progress_notify: bool = False
    time_us: int | None = None


Record = HistoryEvent | WatchOpen | WatchResponse


@attrs.frozen(kw_only=True)
class Operation:
    """An invocation paired with its completion.

    ``value`` is the completion's value for ``ok`` operations when it has one (a
    read's result), else the invocation's value.  ``outcome`` ``info`` means the
    operation may or may not have taken effect (including invocations that never
    completed).  Positions are indexes in ``History.records``.
    """

    id: int
    process: Process
    f: str
    key: Key | None
    value: Any
    outcome: Literal["ok", "fail", "info"]
    invoke_index: int
    complete_index: int | None  # None: never completed
    invoke_time_us: int | None = None
    complete_time_us: int | None = None
    revision: int | None = None
    mod_revision: int | None = None
    create_revision: int | None = None
    version: int | None = None
    lease: int | None = None
    succeeded: bool | None = None
    deleted: int | None = None
    ttl_s: int | None = None
    error: str | None = None

    def describe(self) -> str:
        key = "" if self.key is None else f" {self.key!r}"
        return f"p{self.process} {self.f}{key} {to_json(self.value)!r} ({self.outcome}) #{self.id}"


@attrs.frozen(kw_only=True)
class History:
    records: tuple[Record, ...]
    operations: tuple[Operation, ...]
    watch_opens: tuple[tuple[int, WatchOpen], ...]
    watch_responses: tuple[tuple[int, WatchResponse], ...]
    notes: tuple[str, ...] = ()  # oddities repaired while pairing

    @property
    def events(self) -> tuple[HistoryEvent, ...]:
        return tuple(r for r in self.records if isinstance(r, HistoryEvent))

    def __iter__(self) -> Iterator[Record]:
        """The records, in history order (what :func:`write_jsonl` writes, one a line)."""
        return iter(self.records)

    def __len__(self) -> int:
        return len(self.records)


_RESULT_FIELDS = ("revision", "mod_revision", "create_revision", "version", "lease",
                  "succeeded", "deleted", "ttl_s", "error")


def make_history(records: Iterable[Record]) -> History:
    """Pair invocations with completions (per process, in order).

    A process that invokes while it still has an operation pending, or never
    completes one, gets that operation as ``info`` (a crashed client reusing its id).
    A completion with no pending invocation is an error.
    """
    recs = tuple(records)
    pending: dict[Process, tuple[int, HistoryEvent]] = {}
    ops: list[Operation | None] = []
    op_slot: dict[Process, int] = {}
    notes: list[str] = []
    opens: list[tuple[int, WatchOpen]] = []
    responses: list[tuple[int, WatchResponse]] = []

    def close(proc: Process, idx: int | None, done: HistoryEvent | None) -> None:
        inv_idx, inv = pending.pop(proc)
        slot = op_slot.pop(proc)
        outcome: Literal["ok", "fail", "info"] = "info" if done is None else done.type  # type: ignore[assignment]
        value = inv.value
        results: dict[str, Any] = {name: getattr(inv, name) for name in _RESULT_FIELDS}
        if done is not None:
            if done.f != inv.f:
                raise HistoryFormatError(
                    f"record {idx}: process {proc!r} completes f={done.f!r} "
                    f"but invoked f={inv.f!r} (record {inv_idx})")
            if outcome == "ok" and done.value is not None:
                value = done.value
            for name in _RESULT_FIELDS:
                got = getattr(done, name)
                if got is not None:
                    results[name] = got
        ops[slot] = Operation(
            id=slot, process=proc, f=inv.f,
            key=inv.key if inv.key is not None else (done.key if done else None),
            value=value, outcome=outcome, invoke_index=inv_idx,
            complete_index=idx if done is not None else None,
            invoke_time_us=inv.time_us, complete_time_us=done.time_us if done else None,
            **results)

    for idx, rec in enumerate(recs):
        if isinstance(rec, WatchOpen):
            opens.append((idx, rec))
            continue
        if isinstance(rec, WatchResponse):
            responses.append((idx, rec))
            continue
        proc = rec.process
        if rec.type == "invoke":
            if proc in pending:
                notes.append(f"record {idx}: process {proc!r} invoked again with an operation "
                             f"pending since record {pending[proc][0]}; the earlier one counts as info")
                close(proc, None, None)
            pending[proc] = (idx, rec)
            op_slot[proc] = len(ops)
            ops.append(None)
        else:
            if proc not in pending:
                if rec.type == "info":  # e.g. a nemesis note or a bare crash marker
                    notes.append(f"record {idx}: info for process {proc!r} with nothing pending; ignored")
                    continue
                raise HistoryFormatError(
                    f"record {idx}: {rec.type} completion for process {proc!r} with no pending invocation")
            close(proc, idx, rec)
    for proc in sorted(pending, key=repr):
        notes.append(f"process {proc!r}: invocation at record {pending[proc][0]} never completed; counts as info")
        close(proc, None, None)
    final = tuple(op for op in ops if op is not None)
    assert len(final) == len(ops)
    return History(records=recs, operations=final, watch_opens=tuple(opens),
                   watch_responses=tuple(responses), notes=tuple(notes))


# ---------------------------------------------------------------------------- JSON


def _opt_int(obj: Mapping[str, Any], name: str, where: str) -> int | None:
    v = obj.get(name)
    if v is None:
        return None
    if isinstance(v, bool) or not isinstance(v, int):
        raise HistoryFormatError(f"{where}: field {name!r} must be an integer, got {v!r}")
    return v


def _opt_bool(obj: Mapping[str, Any], name: str, where: str) -> bool | None:
    v = obj.get(name)
    if v is None or isinstance(v, bool):
        return v
    raise HistoryFormatError(f"{where}: field {name!r} must be true/false, got {v!r}")


def _key(v: Any, where: str, name: str = "key") -> Key | None:
    if v is None or isinstance(v, str) or (isinstance(v, int) and not isinstance(v, bool)):
        return v
    raise HistoryFormatError(f"{where}: field {name!r} must be a string or integer, got {v!r}")


def _process(v: Any, where: str) -> Process:
    if isinstance(v, str) or (isinstance(v, int) and not isinstance(v, bool)):
        return v
    raise HistoryFormatError(f"{where}: field 'process' must be an integer or string, got {v!r}")


def _kv(obj: Any, where: str) -> KeyValue:
    if not isinstance(obj, dict):
        raise HistoryFormatError(f"{where}: prev_kv must be an object, got {obj!r}")
    key = _key(obj.get("key"), where)
    if key is None:
        raise HistoryFormatError(f"{where}: prev_kv has no key")
    return KeyValue(key=key, value=freeze(obj.get("value")),
                    create_revision=_opt_int(obj, "create_revision", where) or 0,
                    mod_revision=_opt_int(obj, "mod_revision", where) or 0,
                    version=_opt_int(obj, "version", where) or 0,
                    lease=_opt_int(obj, "lease", where) or 0)


def _watch_event(obj: Any, where: str) -> WatchEvent:
    if not isinstance(obj, dict):
        raise HistoryFormatError(f"{where}: a watch event must be an object, got {obj!r}")
    typ = obj.get("type")
    if typ not in ("PUT", "DELETE"):
        raise HistoryFormatError(f"{where}: watch event type must be PUT or DELETE, got {typ!r}")
    key = _key(obj.get("key"), where)
    if key is None:
        raise HistoryFormatError(f"{where}: watch event has no key")
    prev = obj.get("prev_kv")
    return WatchEvent(type=typ, key=key, value=freeze(obj.get("value")),
                      create_revision=_opt_int(obj, "create_revision", where) or 0,
                      mod_revision=_opt_int(obj, "mod_revision", where) or 0,
                      version=_opt_int(obj, "version", where) or 0,
                      lease=_opt_int(obj, "lease", where) or 0,
                      prev_kv=None if prev is None else _kv(prev, where))


def record_from_json(obj: Any, where: str = "record") -> Record:
    """Decode one JSON object of the history format."""
    if not isinstance(obj, dict):
        raise HistoryFormatError(f"{where}: expected a JSON object, got {type(obj).__name__}")
    typ = obj.get("type")
    if typ in EVENT_TYPES:
        f = obj.get("f")
        if not isinstance(f, str) or not f:
            raise HistoryFormatError(f"{where}: field 'f' must be a non-empty string, got {f!r}")
        if "process" not in obj:
            raise HistoryFormatError(f"{where}: missing field 'process'")
        err = obj.get("error")
        return HistoryEvent(
            type=typ, process=_process(obj["process"], where), f=f,
            key=_key(obj.get("key"), where), value=freeze(obj.get("value")),
            time_us=_opt_int(obj, "time_us", where),
            revision=_opt_int(obj, "revision", where),
            mod_revision=_opt_int(obj, "mod_revision", where),
            create_revision=_opt_int(obj, "create_revision", where),
            version=_opt_int(obj, "version", where),
            lease=_opt_int(obj, "lease", where),
            succeeded=_opt_bool(obj, "succeeded", where),
            deleted=_opt_int(obj, "deleted", where),
            ttl_s=_opt_int(obj, "ttl_s", where),
            error=None if err is None else str(err))
    if typ in ("watch_open", "watch_response"):
        if "process" not in obj or "watch_id" not in obj:
            raise HistoryFormatError(f"{where}: {typ} needs 'process' and 'watch_id'")
        proc = _process(obj["process"], where)
        wid = str(obj["watch_id"])
        if typ == "watch_open":
            key = _key(obj.get("key"), where)
            if key is None:
                raise HistoryFormatError(f"{where}: watch_open has no key")
            filters = obj.get("filters") or ()
            if not isinstance(filters, list | tuple) or any(x not in ("noput", "nodelete") for x in filters):
                raise HistoryFormatError(f"{where}: filters must be a list of 'noput'/'nodelete', got {filters!r}")
            return WatchOpen(process=proc, watch_id=wid, key=key,
                             range_end=_key(obj.get("range_end"), where, "range_end"),
                             start_revision=_opt_int(obj, "start_revision", where) or 0,
                             filters=tuple(sorted(filters)),
                             prev_kv=bool(_opt_bool(obj, "prev_kv", where)),
                             resumed=bool(_opt_bool(obj, "resumed", where)),
                             time_us=_opt_int(obj, "time_us", where))
        rev = _opt_int(obj, "revision", where)
        if rev is None:
            raise HistoryFormatError(f"{where}: watch_response needs the header 'revision'")
        events = obj.get("events") or []
        if not isinstance(events, list):
            raise HistoryFormatError(f"{where}: events must be a list")
        return WatchResponse(process=proc, watch_id=wid, revision=rev,
                             events=tuple(_watch_event(e, where) for e in events),
                             compact_revision=_opt_int(obj, "compact_revision", where) or 0,
                             canceled=bool(_opt_bool(obj, "canceled", where)),
                             created=bool(_opt_bool(obj, "created", where)),
                             progress_notify=bool(_opt_bool(obj, "progress_notify", where)),
                             time_us=_opt_int(obj, "time_us", where))
    raise HistoryFormatError(
        f"{where}: field 'type' must be one of invoke/ok/fail/info/watch_open/watch_response, got {typ!r}")


def _drop_none(d: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in d.items() if v is not None}


def record_to_json(rec: Record) -> dict[str, Any]:
    """Encode one record as a JSON-ready dict (absent optional fields omitted)."""
    if isinstance(rec, HistoryEvent):
        d = {"type": rec.type, "process": rec.process, "f": rec.f, "key": rec.key,
             "value": to_json(rec.value), "time_us": rec.time_us}
        d.update({name: getattr(rec, name) for name in _RESULT_FIELDS})
        out = _drop_none(d)
        out.setdefault("value", None)
        return out
    if isinstance(rec, WatchOpen):
        return _drop_none({"type": "watch_open", "process": rec.process, "watch_id": rec.watch_id,
                           "key": rec.key, "range_end": rec.range_end,
                           "start_revision": rec.start_revision, "filters": list(rec.filters),
                           "prev_kv": rec.prev_kv, "resumed": rec.resumed, "time_us": rec.time_us})

    def kv(k: KeyValue) -> dict[str, Any]:
        return {"key": k.key, "value": to_json(k.value), "create_revision": k.create_revision,
                "mod_revision": k.mod_revision, "version": k.version, "lease": k.lease}

    events = []
    for e in rec.events:
        ed = {"type": e.type, "key": e.key, "value": to_json(e.value),
              "create_revision": e.create_revision, "mod_revision": e.mod_revision,
              "version": e.version, "lease": e.lease,
              "prev_kv": None if e.prev_kv is None else kv(e.prev_kv)}
        events.append(ed)
    return _drop_none({"type": "watch_response", "process": rec.process, "watch_id": rec.watch_id,
                       "revision": rec.revision, "events": events,
                       "compact_revision": rec.compact_revision, "canceled": rec.canceled,
                       "created": rec.created, "progress_notify": rec.progress_notify,
                       "time_us": rec.time_us})


def write_jsonl(records: History | Iterable[Record], dest: str | pathlib.Path | IO[str]) -> None:
    """Write a history (or its records), one JSON object per line."""
    if isinstance(records, History):
        records = records.records
    if isinstance(dest, str | pathlib.Path):
        with open(dest, "w", encoding="utf-8") as fh:
            write_jsonl(records, fh)
        return
    for rec in records:
        dest.write(json.dumps(record_to_json(rec), separators=(",", ":"), sort_keys=False) + "\n")


def read_jsonl(lines: Iterable[str], name: str = "history") -> Iterator[Record]:
    for lineno, line in enumerate(lines, 1):
        text = line.strip()
        if not text or text.startswith("#"):
            continue
        where = f"{name}:{lineno}"
        deep = False
        try:
            obj = json.loads(text)
        except json.JSONDecodeError as exc:
            raise HistoryFormatError(f"{where}: invalid JSON ({exc.msg}, column {exc.colno})") from None
        except RecursionError:
            deep = True
        if deep or _too_deep(obj):
            raise HistoryFormatError(f"{where}: values nested deeper than {MAX_DEPTH} levels")
        yield record_from_json(obj, where)


MAX_DEPTH = 100  # nesting of lists and objects in a record


def _too_deep(obj: Any) -> bool:
    level: list[Any] = [obj]
    for _ in range(MAX_DEPTH + 1):
        level = [x for v in level if isinstance(v, list | dict)
                 for x in (v.values() if isinstance(v, dict) else v)]
        if not level:
            return False
    return True


def history_from_records(records: Iterable[Record]) -> History:
    return make_history(records)


def read_history(path: str | pathlib.Path) -> History:
    """Read a JSON-lines history file."""
    p = pathlib.Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise HistoryFormatError(f"{p}: cannot read ({exc.strerror})") from None
    except UnicodeDecodeError:
        raise HistoryFormatError(f"{p}: not UTF-8 text") from None
    return make_history(read_jsonl(text.splitlines(), p.name))
