"""Kubernetes' protobuf encoding of a request body (``application/vnd.kubernetes.protobuf``),
decoded into the object's JSON shape by the field numbers of :mod:`kube.schema`.

client-go's typed clients send protobuf for built-in kinds (``kubectl create deployment``,
``kubectl create configmap``...).  The body is ``k8s\\x00`` then a ``runtime.Unknown``
(type meta ``apiVersion``/``kind``, the raw object, its encoding).  Every non-pointer
scalar is on the wire even when unset: a zero that is not a pointer field's is left out,
as ``omitempty`` JSON would.  A kind's ``status`` is not read (the server sets it on
create, and keeps it on an update of the main resource).  What cannot be decoded faithfully
(a field number not described, or a non-empty field described as ``any``) is a
:class:`ProtobufError` naming the field, never a silent loss.
"""

from __future__ import annotations

import base64
import time
from collections.abc import Iterator
from typing import Any

from .schema import MESSAGES, Field, Message, kind_message

__all__ = ["CONTENT_TYPE", "MAGIC", "ProtobufError", "decode_object"]

CONTENT_TYPE = "application/vnd.kubernetes.protobuf"
MAGIC = b"k8s\x00"

_VARINT, _FIXED64, _BYTES, _FIXED32 = 0, 1, 2, 5
_INTS = ("i32", "i64", "b")


class ProtobufError(ValueError):
    """A protobuf body this apiserver cannot decode (the message says where)."""


def _varint(buf: bytes, pos: int) -> tuple[int, int]:
    out, shift = 0, 0
    while True:
        if pos >= len(buf) or shift > 63:
            raise ProtobufError("truncated or malformed varint")
        byte = buf[pos]
        pos += 1
        out |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return out, pos
        shift += 7


def _fields(buf: bytes, where: str) -> Iterator[tuple[int, int, Any]]:
    pos = 0
    while pos < len(buf):
        key, pos = _varint(buf, pos)
        number, wire = key >> 3, key & 7
        if wire == _VARINT:
            value, pos = _varint(buf, pos)
            yield number, wire, value
        elif wire == _BYTES:
            size, pos = _varint(buf, pos)
            if pos + size > len(buf):
                raise ProtobufError(f"{where}: field {number} runs past the end of the body")
            yield number, wire, buf[pos:pos + size]
            pos += size
        elif wire in (_FIXED64, _FIXED32):
            size = 8 if wire == _FIXED64 else 4
            yield number, wire, int.from_bytes(buf[pos:pos + size], "little")
            pos += size
        else:
            raise ProtobufError(f"{where}: field {number} has wire type {wire}, which Kubernetes does not use")


def _signed(value: int) -> int:
    return value - (1 << 64) if value >= 1 << 63 else value


def _timestamp(buf: bytes, micro: bool) -> str | None:
    seconds, nanos = 0, 0
    for number, _wire, value in _fields(buf, "time"):
        if number == 1:
            seconds = _signed(value)
        elif number == 2:
            nanos = value
    if not seconds and not nanos:
        return None
    text = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds))
    return f"{text}.{nanos // 1000:06d}Z" if micro else f"{text}Z"


def _scalar(kind: str, wire: int, value: Any, where: str) -> Any:
    if kind in _INTS:
        if wire != _VARINT:
            raise ProtobufError(f"{where}: expected a varint")
        return bool(value) if kind == "b" else _signed(value)
    if wire != _BYTES:
        raise ProtobufError(f"{where}: expected a length-delimited value")
    if kind == "s":
        try:
            return value.decode("utf-8")
        except UnicodeDecodeError:
            raise ProtobufError(f"{where}: not UTF-8") from None
    if kind == "bytes":
        return base64.b64encode(value).decode("ascii")
    if kind in ("time", "microtime"):
        return _timestamp(value, kind == "microtime")
    if kind == "qty":
        parts = {n: v for n, _w, v in _fields(value, where)}
        return _scalar("s", _BYTES, parts.get(1, b""), where)
    if kind == "ios":
        parts = {n: v for n, _w, v in _fields(value, where)}
        if parts.get(1, 0) == 1:
            return _scalar("s", _BYTES, parts.get(3, b""), where)
        return _signed(parts.get(2, 0))
    assert kind == "any", kind
    if value:
        raise ProtobufError(f"{where} is not decoded from protobuf by this apiserver; send the object as JSON "
                            "(kubectl apply -f or create -f do)")
    return None


def _value(field: Field, wire: int, value: Any, where: str) -> Any:
    if field.message:
        if wire != _BYTES:
            raise ProtobufError(f"{where}: expected a message")
        return _message(value, MESSAGES[field.type], where, top=False)
    return _scalar(field.type, wire, value, where)


def _empty(value: Any) -> bool:
    return value is None or value == "" or value == {} or (value is False) or (isinstance(value, int) and value == 0)


def _message(buf: bytes, msg: Message, where: str, *, top: bool) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for number, wire, value in _fields(buf, where):
        field = msg.by_number(number)
        if field is None:
            raise ProtobufError(f"{where}: protobuf field {number} of {msg.name} is not one this apiserver knows")
        if top and field.name == "status":
            continue
        path = f"{where}.{field.name}"
        if field.map:
            if wire != _BYTES:
                raise ProtobufError(f"{path}: expected a map entry")
            entry = {n: (w, v) for n, w, v in _fields(value, path)}
            key = _scalar("s", _BYTES, entry.get(1, (_BYTES, b""))[1], path)
            w, v = entry.get(2, (_VARINT if field.type in _INTS else _BYTES, 0 if field.type in _INTS else b""))
            out.setdefault(field.name, {})[key] = _value(field, w, v, f"{path}[{key}]")
        elif field.repeated:
            items = out.setdefault(field.name, [])
            if field.type in _INTS and wire == _BYTES:  # packed
                pos = 0
                while pos < len(value):
                    item, pos = _varint(value, pos)
                    items.append(_scalar(field.type, _VARINT, item, path))
            else:
                items.append(_value(field, wire, value, f"{path}[{len(items)}]"))
        else:
            decoded = _value(field, wire, value, path)
            if _empty(decoded) and not (field.pointer and decoded is not None):
                out.pop(field.name, None)
            else:
                out[field.name] = decoded
    return out


def decode_object(body: bytes) -> dict[str, Any]:
    """The JSON shape of a protobuf-encoded object (``k8s\\x00`` + ``runtime.Unknown``)."""
    if not body.startswith(MAGIC):
        raise ProtobufError("a protobuf body must start with the bytes k8s\\x00")
    api_version, kind, raw, encoding = "", "", b"", ""
    for number, wire, value in _fields(body[len(MAGIC):], "runtime.Unknown"):
        if wire != _BYTES:
            continue
        if number == 1:
            for n, _w, v in _fields(value, "typeMeta"):
                if n == 1:
                    api_version = _scalar("s", _BYTES, v, "apiVersion")
                elif n == 2:
                    kind = _scalar("s", _BYTES, v, "kind")
        elif number == 2:
            raw = value
        elif number == 3:
            encoding = _scalar("s", _BYTES, value, "contentEncoding")
    if encoding:
        raise ProtobufError(f"protobuf content encoding {encoding!r} is not supported")
    msg = kind_message(kind)
    if msg is None:
        raise ProtobufError(f"kind {kind!r} is not decoded from protobuf by this apiserver; send it as JSON")
    return {"apiVersion": api_version, "kind": kind, **_message(raw, msg, kind, top=True)}
