"""The wire and disk codec: a versioned schema over raftkv's own value types, in msgpack.

Only the classes registered here can be decoded (never pickle): Raft's messages,
entries, hard states and snapshots, the key-value requests, responses and errors, the
client protocol, and the runtime's own records.  A value is encoded as

* ``None``, ``bool``, ``int``, ``float``, ``str``, ``bytes``: themselves;
* ``tuple``: a msgpack array (decoded as a tuple); ``dict``: a msgpack map;
* a registered value class: an array ``[mark 1, name, field values...]`` in the order
  of its schema (its attrs fields, or a :class:`~raftkv.raft.value.Value`'s ``FIELDS``);
* a registered enum: ``[mark 2, name, value]``;
* a :class:`~raftkv.kv.errors.KVError`: ``[mark 3, name, details]``;

where mark ``n`` is an empty msgpack ext value of type ``n`` (nothing else encodes to one).

:data:`SCHEMA_FINGERPRINT` is a hash of every registered name and field list together
with :data:`CODEC_VERSION`; peers compare it when they connect, so members built from
different schemas refuse each other with a clear message instead of misreading frames.
Anything that does not decode raises :class:`CodecError`.
"""

from __future__ import annotations

import enum
import hashlib
from collections.abc import Callable
from typing import Any

import attrs
import msgpack

from raftkv.kv import errors as kv_errors
from raftkv.kv import members as kv_members
from raftkv.kv import protocol as kv_protocol
from raftkv.kv import types as kv_types
from raftkv.kv.errors import KVError
from raftkv.raft import durable as raft_durable
from raftkv.raft import messages as raft_messages
from raftkv.raft import records as raft_records
from raftkv.raft.cluster import ClusterConfig
from raftkv.raft.value import Value

__all__ = ["CODEC_VERSION", "SCHEMA_FINGERPRINT", "CodecError", "decode", "encode", "register"]

CODEC_VERSION = 1

_EXT_VALUE, _EXT_ENUM, _EXT_ERROR = 1, 2, 3


class CodecError(ValueError):
    """Bytes that are not a valid encoding of a registered value."""


# name -> (class, field names)
_VALUES: dict[str, tuple[type, tuple[str, ...]]] = {}
_VALUE_NAMES: dict[type, tuple[str, tuple[str, ...]]] = {}
_ENUMS: dict[str, type[enum.Enum]] = {}
_ERRORS: dict[str, type[KVError]] = {}


def register(cls: type) -> type:
    """Make ``cls`` (an attrs class, a Value, an Enum or a KVError) encodable."""
    name = cls.__name__
    if issubclass(cls, enum.Enum):
        assert _ENUMS.get(name, cls) is cls, f"two enums named {name}"
        _ENUMS[name] = cls
    elif issubclass(cls, KVError):
        assert _ERRORS.get(name, cls) is cls, f"two errors named {name}"
        _ERRORS[name] = cls
    else:
        if issubclass(cls, Value):
            fields = tuple(cls.FIELDS)
        else:
            assert attrs.has(cls), f"{cls} is not an attrs class, Value, Enum or KVError"
            fields = tuple(f.name for f in attrs.fields(cls) if f.init)
        assert _VALUES.get(name, (cls,))[0] is cls, f"two value classes named {name}"
        _VALUES[name] = (cls, fields)
        _VALUE_NAMES[cls] = (name, fields)
    return cls


def _register_module(module: Any) -> None:
    for attr in sorted(vars(module)):
        obj = getattr(module, attr)
        if not isinstance(obj, type) or obj.__module__ != module.__name__:
            continue
        if issubclass(obj, enum.Enum | KVError | Value) or attrs.has(obj):
            register(obj)


for _m in (raft_messages, raft_records, raft_durable, kv_types, kv_protocol, kv_members, kv_errors):
    _register_module(_m)
register(ClusterConfig)
register(raft_messages.Entry)
register(raft_messages.HardState)
register(raft_messages.Message)


def _fingerprint() -> str:
    parts = [f"v{CODEC_VERSION}"]
    parts += [f"{n}({','.join(f)})" for n, (_, f) in sorted(_VALUES.items())]
    parts += [f"{n}<{','.join(str(m.value) for m in e)}>" for n, e in sorted(_ENUMS.items())]
    parts += [f"!{n}" for n in sorted(_ERRORS)]
    return hashlib.sha256(";".join(parts).encode()).hexdigest()[:16]


_MARKS = {code: msgpack.ExtType(code, b"") for code in (_EXT_VALUE, _EXT_ENUM, _EXT_ERROR)}


class _Mark:
    """What an empty ext value decodes to: the first item of an encoded registered value."""

    __slots__ = ("code",)

    def __init__(self, code: int) -> None:
        self.code = code


_DECODED_MARKS = {code: _Mark(code) for code in _MARKS}


def _default(obj: Any) -> Any:
    if type(obj) is tuple:
        return list(obj)  # strict types: IntEnums must not pass for ints, so tuples come here
    entry = _VALUE_NAMES.get(type(obj))
    if entry is not None:
        name, fields = entry
        return [_MARKS[_EXT_VALUE], name, *[getattr(obj, f) for f in fields]]
    if isinstance(obj, enum.Enum) and _ENUMS.get(type(obj).__name__) is type(obj):
        return [_MARKS[_EXT_ENUM], type(obj).__name__, obj.value]
    if isinstance(obj, KVError) and _ERRORS.get(type(obj).__name__) is type(obj):
        return [_MARKS[_EXT_ERROR], type(obj).__name__, obj.details]
    raise CodecError(f"cannot encode a {type(obj).__name__}: not a registered type")


_packer_options: dict[str, Any] = {"default": _default, "use_bin_type": True, "strict_types": True}


def _pack(obj: Any) -> bytes:
    data: bytes = msgpack.packb(obj, **_packer_options)
    return data


def _ext_hook(code: int, data: bytes) -> Any:
    mark = _DECODED_MARKS.get(code)
    if mark is None or data:
        raise CodecError(f"unknown ext type {code}")
    return mark


def _list_hook(items: tuple[Any, ...]) -> Any:
    if not items or type(items[0]) is not _Mark:
        return items
    code = items[0].code
    if len(items) < 2 or not isinstance(items[1], str):
        raise CodecError(f"malformed value of kind {code}")
    name = items[1]
    if code == _EXT_VALUE:
        entry = _VALUES.get(name)
        if entry is None:
            raise CodecError(f"unknown value type {name!r}")
        cls, fields = entry
        if len(items) != len(fields) + 2:
            raise CodecError(f"{name}: {len(items) - 2} fields, schema has {len(fields)}")
        try:
            return cls(**dict(zip(fields, items[2:])))
        except (TypeError, ValueError, AssertionError) as e:
            raise CodecError(f"{name}: {e}") from None
    if code == _EXT_ENUM:
        ecls = _ENUMS.get(name)
        if ecls is None or len(items) != 3:
            raise CodecError(f"unknown enum {name!r}")
        try:
            return ecls(items[2])
        except ValueError as e:
            raise CodecError(f"{name}: {e}") from None
    err = _ERRORS.get(name)
    if err is None or len(items) != 3 or not isinstance(items[2], dict):
        raise CodecError(f"unknown error {name!r}")
    return err(**items[2])


def _unpack(data: bytes) -> Any:
    return msgpack.unpackb(data, use_list=False, raw=False, ext_hook=_ext_hook, list_hook=_list_hook,
                           strict_map_key=False)


def encode(obj: Any) -> bytes:
    """The bytes of ``obj`` (raises :class:`CodecError` for an unregistered type)."""
    try:
        return _pack(obj)
    except (TypeError, OverflowError) as e:  # msgpack's own refusals
        raise CodecError(str(e)) from None


def decode(data: bytes) -> Any:
    """The value ``data`` encodes, or :class:`CodecError`."""
    try:
        return _unpack(data)
    except CodecError:
        raise
    except (ValueError, TypeError, msgpack.UnpackException, RecursionError) as e:
        raise CodecError(f"undecodable ({type(e).__name__}: {e})") from None


SCHEMA_FINGERPRINT = _fingerprint()

Encoder = Callable[[Any], bytes]
