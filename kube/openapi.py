"""OpenAPI v3 schemas of the kinds served, made from :mod:`kube.schema`, for the
``/openapi/v3/...`` documents (:mod:`kube.apidocs`): what ``kubectl explain`` reads, and
the list merge keys (``x-kubernetes-patch-merge-key``) kubectl computes strategic merge
patches with.  A kind's schema carries ``x-kubernetes-group-version-kind``; a field
described as ``any`` is an object that keeps unknown fields.
"""

from __future__ import annotations

from typing import Any

from .registry.strategy import Strategy
from .schema import FIELD_DESCRIPTIONS, KIND_DESCRIPTIONS, MESSAGES, Field, Message

__all__ = ["component_schemas"]

_SCALAR_SCHEMAS: dict[str, dict[str, Any]] = {
    "s": {"type": "string"},
    "i32": {"type": "integer", "format": "int32"},
    "i64": {"type": "integer", "format": "int64"},
    "b": {"type": "boolean"},
    "bytes": {"type": "string", "format": "byte"},
    "time": {"type": "string", "format": "date-time"},
    "microtime": {"type": "string", "format": "date-time"},
    "qty": {"type": "string", "x-kubernetes-int-or-string": True,
            "description": "A quantity: an integer or a decimal with a suffix (100m, 1.5, 2Gi)."},
    "ios": {"type": "string", "format": "int-or-string", "x-kubernetes-int-or-string": True,
            "description": "An integer or a string (a port name, a percentage)."},
    "any": {"type": "object", "x-kubernetes-preserve-unknown-fields": True,
            "description": "Not described by this apiserver: any fields are kept."},
}


def _ref(name: str) -> dict[str, Any]:
    return {"$ref": f"#/components/schemas/{MESSAGES[name].qualified}"}


def _item(field: Field) -> dict[str, Any]:
    return _ref(field.type) if field.message else dict(_SCALAR_SCHEMAS[field.type])


def _field(field: Field) -> dict[str, Any]:
    if field.repeated:
        out: dict[str, Any] = {"type": "array", "items": _item(field)}
        if field.merge_key:
            out.update({"x-kubernetes-patch-merge-key": field.merge_key, "x-kubernetes-patch-strategy": "merge",
                        "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": [field.merge_key]})
        return out
    if field.map:
        return {"type": "object", "additionalProperties": _item(field)}
    if field.message:
        return {"allOf": [_ref(field.type)]}
    return _item(field)


def _message_schema(msg: Message, strategy: Strategy | None) -> dict[str, Any]:
    props: dict[str, Any] = {}
    if strategy is not None:
        props["apiVersion"] = {"type": "string", "description": "The versioned schema of this object."}
        props["kind"] = {"type": "string", "description": "The REST resource this object represents."}
    for f in msg.fields:
        props[f.name] = _field(f)
        description = FIELD_DESCRIPTIONS.get(f"{msg.name}.{f.name}")
        if description:
            props[f.name] = {**props[f.name], "description": description}
    out: dict[str, Any] = {"type": "object", "properties": props}
    if strategy is not None:
        group, _, version = strategy.api_version.rpartition("/")
        out["description"] = KIND_DESCRIPTIONS.get(msg.name, "")
        out["x-kubernetes-group-version-kind"] = [{"group": group, "version": version, "kind": strategy.kind}]
    return out


def component_schemas(kinds: list[Strategy]) -> dict[str, Any]:
    """``components.schemas``: the messages of ``kinds`` and every message they use."""
    out: dict[str, Any] = {}
    pending: list[tuple[Message, Strategy | None]] = [(MESSAGES[s.kind], s) for s in kinds if s.kind in MESSAGES]
    while pending:
        msg, strategy = pending.pop(0)
        if msg.qualified in out:
            continue
        out[msg.qualified] = _message_schema(msg, strategy)
        pending.extend((MESSAGES[f.type], None) for f in msg.fields if f.message)
    return dict(sorted(out.items()))
