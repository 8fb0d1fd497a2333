"""etcd v3's JSON gateway format (as etcd 3.4 serves it) for raftkv's request and response values.

The rules of grpc-gateway's ``jsonpb`` with etcd's options: proto field names
(``range_end``, ``TTL``, ``ID``, ``isLearner``), ``bytes`` in standard base64, 64-bit
integers as decimal strings, enums by name, and fields holding their zero value left
out (an event of type PUT has no ``type``; a range with no match has no ``kvs``).
Readers accept what jsonpb accepts: integers as strings or numbers, enums as names or
numbers, base64 with or without padding (standard or URL alphabet).

Errors travel as etcd's gateway sends them: ``{"error": msg, "message": msg, "code": N}``
(gRPC status code ``N``) with the HTTP status grpc-gateway derives from it
(:func:`error_body`, :func:`error_from_body`).

Member ids: raftkv names its members; the JSON API speaks etcd's numeric ids, derived
from the name (:func:`member_id`: the first 8 bytes of its SHA-256, as an unsigned
integer), so any member can map an id back to a name it knows.
"""

from __future__ import annotations

import base64
import binascii
import enum
import hashlib
from collections.abc import Iterable
from typing import Any

from raftkv.kv import errors as kv_errors
from raftkv.kv import members as kv_members
from raftkv.kv.errors import KVError
from raftkv.kv.protocol import ErrNotLeader, Member
from raftkv.kv.types import (
    CompactionRequest,
    Compare,
    CompareResult,
    CompareTarget,
    DeleteRangeRequest,
    DeleteRangeResponse,
    Event,
    EventType,
    KeyValue,
    LeaseGrantRequest,
    LeaseKeepAliveRequest,
    LeaseRevokeRequest,
    LeaseTimeToLiveRequest,
    PutRequest,
    PutResponse,
    RangeRequest,
    RangeResponse,
    ResponseHeader,
    SortOrder,
    SortTarget,
    TxnRequest,
    TxnResponse,
    WatchCreateRequest,
    WatchFilter,
    WatchResponse,
)

__all__ = [
    "BadRequest", "b64", "compare_from_json", "error_body", "error_from_body", "event_json",
    "header_json", "http_status", "kv_from_json", "kv_json", "member_id", "members_json",
    "request_from_json", "request_json", "response_from_json", "response_json", "unb64",
]


class BadRequest(ValueError):
    """A JSON request raftkv cannot read (answered 400 with etcd's InvalidArgument code)."""


# -------------------------------------------------------------------- scalars

def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def unb64(text: Any, field: str) -> bytes:
    if text is None:
        return b""
    if not isinstance(text, str):
        raise BadRequest(f"{field}: expected a base64 string, got {type(text).__name__}")
    s = text.replace("-", "+").replace("_", "/")
    s += "=" * (-len(s) % 4)
    try:
        return base64.b64decode(s, validate=True)
    except (binascii.Error, ValueError):
        raise BadRequest(f"{field}: {text!r} is not base64") from None


def to_int(value: Any, field: str) -> int:
    if value is None:
        return 0
    if isinstance(value, bool):
        raise BadRequest(f"{field}: expected an integer, got a boolean")
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        try:
            return int(value)
        except ValueError:
            pass
    raise BadRequest(f"{field}: {value!r} is not an integer")


def to_bool(value: Any, field: str) -> bool:
    if value is None:
        return False
    if not isinstance(value, bool):
        raise BadRequest(f"{field}: {value!r} is not a boolean")
    return value


def to_enum(cls: type[enum.IntEnum], value: Any, field: str) -> Any:
    if value is None:
        return cls(0)
    try:
        if isinstance(value, str) and not value.lstrip("-").isdigit():
            return cls[value]
        return cls(int(value))
    except (KeyError, ValueError):
        names = ", ".join(m.name for m in cls)
        raise BadRequest(f"{field}: {value!r} is not one of {names}") from None


def _put(out: dict[str, Any], name: str, value: Any) -> None:
    """Set ``name`` unless ``value`` is its type's zero value (ints as strings)."""
    if value is None or value is False or value == 0 or value == b"" or value == "" \
            or value == () or value == []:
        if not isinstance(value, enum.Enum) or value.value == 0:
            return
    if isinstance(value, enum.Enum):
        out[name] = value.name
    elif isinstance(value, bool):
        out[name] = value
    elif isinstance(value, int):
        out[name] = str(value)
    elif isinstance(value, bytes):
        out[name] = b64(value)
    else:
        out[name] = value


def member_id(name: str) -> int:
    """The etcd-style numeric id of member ``name``."""
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big")


def _obj(body: Any, field: str) -> dict[str, Any]:
    if body is None:
        return {}
    if not isinstance(body, dict):
        raise BadRequest(f"{field}: expected a JSON object")
    return body


# -------------------------------------------------------------------- responses

def header_json(h: ResponseHeader, cluster_id: int) -> dict[str, Any]:
    out: dict[str, Any] = {}
    _put(out, "cluster_id", cluster_id)
    _put(out, "member_id", member_id(h.member_id) if h.member_id else 0)
    _put(out, "revision", h.revision)
    _put(out, "raft_term", h.raft_term)
    return out


def kv_json(kv: KeyValue) -> dict[str, Any]:
    out: dict[str, Any] = {}
    _put(out, "key", kv.key)
    _put(out, "create_revision", kv.create_revision)
    _put(out, "mod_revision", kv.mod_revision)
    _put(out, "version", kv.version)
    _put(out, "value", kv.value)
    _put(out, "lease", kv.lease)
    return out


def kv_from_json(d: dict[str, Any]) -> KeyValue:
    return KeyValue(key=unb64(d.get("key"), "key"), create_revision=to_int(d.get("create_revision"), "create_revision"),
                    mod_revision=to_int(d.get("mod_revision"), "mod_revision"),
                    version=to_int(d.get("version"), "version"), value=unb64(d.get("value"), "value"),
                    lease=to_int(d.get("lease"), "lease"))


def event_json(ev: Event) -> dict[str, Any]:
    out: dict[str, Any] = {}
    _put(out, "type", ev.type)
    out["kv"] = kv_json(ev.kv)
    if ev.prev_kv is not None:
        out["prev_kv"] = kv_json(ev.prev_kv)
    return out


def response_json(resp: object, cluster_id: int) -> dict[str, Any]:
    """A KV response value as etcd's gateway renders it."""
    out: dict[str, Any] = {}
    if isinstance(resp, RangeResponse):
        out["header"] = header_json(resp.header, cluster_id)
        if resp.kvs:
            out["kvs"] = [kv_json(kv) for kv in resp.kvs]
        _put(out, "more", resp.more)
        _put(out, "count", resp.count)
    elif isinstance(resp, PutResponse):
        out["header"] = header_json(resp.header, cluster_id)
        if resp.prev_kv is not None:
            out["prev_kv"] = kv_json(resp.prev_kv)
    elif isinstance(resp, DeleteRangeResponse):
        out["header"] = header_json(resp.header, cluster_id)
        _put(out, "deleted", resp.deleted)
        if resp.prev_kvs:
            out["prev_kvs"] = [kv_json(kv) for kv in resp.prev_kvs]
    elif isinstance(resp, TxnResponse):
        out["header"] = header_json(resp.header, cluster_id)
        _put(out, "succeeded", resp.succeeded)
        if resp.responses:
            out["responses"] = [_op_response_json(r, cluster_id) for r in resp.responses]
    else:
        header = getattr(resp, "header", None)
        if isinstance(header, ResponseHeader):
            out["header"] = header_json(header, cluster_id)
    return out


def _op_response_json(resp: object, cluster_id: int) -> dict[str, Any]:
    name = {RangeResponse: "response_range", PutResponse: "response_put",
            DeleteRangeResponse: "response_delete_range", TxnResponse: "response_txn"}[type(resp)]
    out = response_json(resp, cluster_id)
    # etcd's nested responses carry only the revision in their header
    out["header"] = {k: v for k, v in out["header"].items() if k == "revision"}
    return {name: out}


def watch_response_json(resp: WatchResponse, watch_id: int, header: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {"header": header}
    _put(out, "watch_id", watch_id)
    _put(out, "created", resp.created)
    _put(out, "canceled", resp.canceled)
    _put(out, "compact_revision", resp.compact_revision)
    _put(out, "cancel_reason", resp.cancel_reason)
    if resp.events:
        out["events"] = [event_json(ev) for ev in resp.events]
    return out


def members_json(members: Iterable[Member], urls: dict[str, tuple[list[str], list[str]]]) -> list[dict[str, Any]]:
    out = []
    for m in members:
        peer_urls, client_urls = urls.get(m.name, ([], []))
        d: dict[str, Any] = {"ID": str(member_id(m.name)), "name": m.name}
        if peer_urls:
            d["peerURLs"] = list(peer_urls)
        if client_urls:
            d["clientURLs"] = list(client_urls)
        if m.is_learner:
            d["isLearner"] = True
        out.append(d)
    return out


# -------------------------------------------------------------------- requests

def request_from_json(path: str, body: Any) -> object:
    """The request value for a POST of ``body`` to ``/v3/kv/<path>`` (range, put,
    deleterange, txn, compaction)."""
    d = _obj(body, "request")
    if path == "range":
        return RangeRequest(
            key=unb64(d.get("key"), "key"), range_end=unb64(d.get("range_end"), "range_end"),
            limit=to_int(d.get("limit"), "limit"), revision=to_int(d.get("revision"), "revision"),
            sort_order=to_enum(SortOrder, d.get("sort_order"), "sort_order"),
            sort_target=to_enum(SortTarget, d.get("sort_target"), "sort_target"),
            serializable=to_bool(d.get("serializable"), "serializable"),
            keys_only=to_bool(d.get("keys_only"), "keys_only"),
            count_only=to_bool(d.get("count_only"), "count_only"),
            min_mod_revision=to_int(d.get("min_mod_revision"), "min_mod_revision"),
            max_mod_revision=to_int(d.get("max_mod_revision"), "max_mod_revision"),
            min_create_revision=to_int(d.get("min_create_revision"), "min_create_revision"),
            max_create_revision=to_int(d.get("max_create_revision"), "max_create_revision"))
    if path == "put":
        return PutRequest(key=unb64(d.get("key"), "key"), value=unb64(d.get("value"), "value"),
                          lease=to_int(d.get("lease"), "lease"), prev_kv=to_bool(d.get("prev_kv"), "prev_kv"),
                          ignore_value=to_bool(d.get("ignore_value"), "ignore_value"),
                          ignore_lease=to_bool(d.get("ignore_lease"), "ignore_lease"))
    if path == "deleterange":
        return DeleteRangeRequest(key=unb64(d.get("key"), "key"),
                                  range_end=unb64(d.get("range_end"), "range_end"),
                                  prev_kv=to_bool(d.get("prev_kv"), "prev_kv"))
    if path == "txn":
        return TxnRequest(
            compare=tuple(compare_from_json(_obj(c, "compare")) for c in _list(d.get("compare"), "compare")),
            success=tuple(_op_from_json(_obj(o, "success")) for o in _list(d.get("success"), "success")),
            failure=tuple(_op_from_json(_obj(o, "failure")) for o in _list(d.get("failure"), "failure")))
    if path == "compaction":
        return CompactionRequest(revision=to_int(d.get("revision"), "revision"),
                                 physical=to_bool(d.get("physical"), "physical"))
    raise BadRequest(f"unknown kv call {path!r}")


def _list(value: Any, field: str) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise BadRequest(f"{field}: expected a list")
    return value


_OPS = {"request_range": "range", "request_put": "put", "request_delete_range": "deleterange",
        "request_txn": "txn"}


def _op_from_json(d: dict[str, Any]) -> Any:
    for name, path in _OPS.items():
        if name in d:
            return request_from_json(path, d[name])
    raise BadRequest("a txn operation needs one of " + ", ".join(_OPS))


_COMPARE_FIELDS = {CompareTarget.VERSION: "version", CompareTarget.CREATE: "create_revision",
                   CompareTarget.MOD: "mod_revision", CompareTarget.VALUE: "value",
                   CompareTarget.LEASE: "lease"}


def compare_from_json(d: dict[str, Any]) -> Compare:
    target = to_enum(CompareTarget, d.get("target"), "compare.target")
    field = _COMPARE_FIELDS[target]
    operand: int | bytes = (unb64(d.get(field), f"compare.{field}") if target is CompareTarget.VALUE
                            else to_int(d.get(field), f"compare.{field}"))
    return Compare(key=unb64(d.get("key"), "compare.key"), range_end=unb64(d.get("range_end"), "compare.range_end"),
                   target=target, result=to_enum(CompareResult, d.get("result"), "compare.result"),
                   operand=operand)


def watch_create_from_json(d: dict[str, Any]) -> WatchCreateRequest:
    filters = tuple(to_enum(WatchFilter, f, "filters") for f in _list(d.get("filters"), "filters"))
    return WatchCreateRequest(key=unb64(d.get("key"), "key"), range_end=unb64(d.get("range_end"), "range_end"),
                              start_revision=to_int(d.get("start_revision"), "start_revision"),
                              progress_notify=to_bool(d.get("progress_notify"), "progress_notify"),
                              filters=filters, prev_kv=to_bool(d.get("prev_kv"), "prev_kv"))


def lease_request_from_json(path: str, body: Any) -> object:
    d = _obj(body, "request")
    if path == "grant":
        return LeaseGrantRequest(ttl_s=to_int(d.get("TTL"), "TTL"), id=to_int(d.get("ID"), "ID"))
    if path == "revoke":
        return LeaseRevokeRequest(id=to_int(d.get("ID"), "ID"))
    if path == "keepalive":
        return LeaseKeepAliveRequest(id=to_int(d.get("ID"), "ID"))
    if path == "timetolive":
        return LeaseTimeToLiveRequest(id=to_int(d.get("ID"), "ID"), keys=to_bool(d.get("keys"), "keys"))
    raise BadRequest(f"unknown lease call {path!r}")


# -------------------------------------------------------------------- request values -> JSON (client side)

def request_json(req: object) -> dict[str, Any]:
    """The JSON body etcd's gateway expects for a KV request value."""
    out: dict[str, Any] = {}
    if isinstance(req, RangeRequest):
        for f in ("key", "range_end", "limit", "revision", "sort_order", "sort_target", "serializable",
                  "keys_only", "count_only", "min_mod_revision", "max_mod_revision",
                  "min_create_revision", "max_create_revision"):
            _put(out, f, getattr(req, f))
    elif isinstance(req, PutRequest):
        for f in ("key", "value", "lease", "prev_kv", "ignore_value", "ignore_lease"):
            _put(out, f, getattr(req, f))
    elif isinstance(req, DeleteRangeRequest):
        for f in ("key", "range_end", "prev_kv"):
            _put(out, f, getattr(req, f))
    elif isinstance(req, TxnRequest):
        if req.compare:
            out["compare"] = [_compare_json(c) for c in req.compare]
        for branch in ("success", "failure"):
            ops = getattr(req, branch)
            if ops:
                out[branch] = [{_OP_NAMES[type(o)]: request_json(o)} for o in ops]
    elif isinstance(req, CompactionRequest):
        _put(out, "revision", req.revision)
        _put(out, "physical", req.physical)
    else:
        raise TypeError(f"not a KV request: {type(req).__name__}")
    return out


_OP_NAMES = {RangeRequest: "request_range", PutRequest: "request_put",
             DeleteRangeRequest: "request_delete_range", TxnRequest: "request_txn"}


def _compare_json(c: Compare) -> dict[str, Any]:
    out: dict[str, Any] = {}
    _put(out, "result", c.result)
    _put(out, "target", c.target)
    _put(out, "key", c.key)
    field = _COMPARE_FIELDS[c.target]
    # the operand is a oneof: present even at its zero value
    out[field] = b64(c.operand) if isinstance(c.operand, bytes) else str(c.operand)
    _put(out, "range_end", c.range_end)
    return out


def header_from_json(d: Any) -> ResponseHeader:
    d = _obj(d, "header")
    return ResponseHeader(revision=to_int(d.get("revision"), "revision"),
                          raft_term=to_int(d.get("raft_term"), "raft_term"),
                          member_id=str(d.get("member_id", "")), cluster_id=str(d.get("cluster_id", "")))


def response_from_json(req: object, d: dict[str, Any]) -> object:
    """The response value a JSON answer to ``req`` stands for (client side)."""
    header = header_from_json(d.get("header"))
    if isinstance(req, RangeRequest):
        return RangeResponse(header=header, kvs=tuple(kv_from_json(k) for k in d.get("kvs", ())),
                             more=bool(d.get("more", False)), count=to_int(d.get("count"), "count"))
    if isinstance(req, PutRequest):
        prev = d.get("prev_kv")
        return PutResponse(header=header, prev_kv=kv_from_json(prev) if prev else None)
    if isinstance(req, DeleteRangeRequest):
        return DeleteRangeResponse(header=header, deleted=to_int(d.get("deleted"), "deleted"),
                                   prev_kvs=tuple(kv_from_json(k) for k in d.get("prev_kvs", ())))
    if isinstance(req, TxnRequest):
        responses: list[Any] = []
        for r in d.get("responses", ()):
            (name, body), = r.items()
            sub = {"response_range": RangeRequest(key=b""), "response_put": PutRequest(key=b"k"),
                   "response_delete_range": DeleteRangeRequest(key=b"k"),
                   "response_txn": TxnRequest()}[name]
            responses.append(response_from_json(sub, body))
        return TxnResponse(header=header, succeeded=bool(d.get("succeeded", False)),
                           responses=tuple(responses))
    raise TypeError(f"not a KV request: {type(req).__name__}")


def event_from_json(d: dict[str, Any]) -> Event:
    prev = d.get("prev_kv")
    return Event(type=to_enum(EventType, d.get("type"), "type"), kv=kv_from_json(d.get("kv", {})),
                 prev_kv=kv_from_json(prev) if prev else None)


# -------------------------------------------------------------------- errors

# gRPC status codes etcd gives its errors (etcd's api/v3rpc/rpctypes)
_CODES: dict[str, int] = {
    "ErrCompacted": 11, "ErrFutureRev": 11, "ErrLeaseTTLTooLarge": 11,
    "ErrLeaseNotFound": 5, "ErrMemberNotFound": 5,
    "ErrLeaseExist": 9, "ErrMemberExist": 9, "ErrMemberNotLearner": 9, "ErrLearnerNotReady": 9,
    "ErrTooManyLearners": 9, "ErrMemberChangePending": 9, "ErrMemberChangeRefused": 9,
    "ErrKeyNotFound": 3, "ErrDuplicateKey": 3, "ErrTooManyOps": 3, "ErrEmptyKey": 3,
    "ErrValueProvided": 3, "ErrLeaseProvided": 3, "ErrInvalidRequest": 3,
    "ErrWatchNotFound": 5,
    "ErrNoLeader": 14, "ErrTimeout": 14, "ErrNotLeader": 14,
}
# grpc-gateway's HTTP status for each gRPC code
_HTTP = {0: 200, 1: 408, 2: 500, 3: 400, 4: 504, 5: 404, 6: 409, 7: 403, 8: 429, 9: 412, 10: 409,
         11: 400, 12: 501, 13: 500, 14: 503, 15: 500, 16: 401}

_ERRORS_BY_MESSAGE: dict[str, type[KVError]] = {}
for _module in (kv_errors, kv_members):
    for _name in sorted(vars(_module)):
        _cls = getattr(_module, _name)
        if isinstance(_cls, type) and issubclass(_cls, KVError) and _cls is not KVError:
            _ERRORS_BY_MESSAGE.setdefault(_cls.message, _cls)
_ERRORS_BY_MESSAGE.setdefault(ErrNotLeader.message, ErrNotLeader)


def grpc_code(err: KVError) -> int:
    return _CODES.get(type(err).__name__, 2)


def http_status(code: int) -> int:
    return _HTTP.get(code, 500)


def error_body(message: str, code: int) -> dict[str, Any]:
    return {"error": message, "message": message, "code": code}


def error_from_body(status: int, body: Any) -> KVError:
    """The KVError an error answer stands for (an unknown message: a plain KVError)."""
    message = body.get("message") or body.get("error") if isinstance(body, dict) else None
    if not isinstance(message, str):
        message = f"HTTP {status}"
    cls = _ERRORS_BY_MESSAGE.get(message)
    if cls is not None:
        return cls()
    err = KVError(message=message, http_status=status)
    return err
