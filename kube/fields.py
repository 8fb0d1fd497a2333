"""The field names the apiserver knows, for ``fieldValidation=Strict`` and ``Warn``: the
fields of every kind as :mod:`kube.schema` describes them (Kubernetes 1.32).

:func:`unknown_fields` names each field of an object (or of a merge patch's body) that
its kind does not have, as kube-apiserver's strict decoding does: ``spec.foo``,
``spec.template.spec.containers[0].imagee``.  Inside a field described as ``any`` (a
probe, an affinity, a status...) fields are not checked.
"""

from __future__ import annotations

from typing import Any

from .schema import MESSAGES, Message, kind_message

__all__ = ["unknown_fields"]

_TYPE_META = ("apiVersion", "kind")


def _walk(value: Any, msg: Message, path: str, out: list[str], top: bool) -> None:
    if not isinstance(value, dict):
        return
    for name in sorted(value, key=str):
        field = msg.field(str(name))
        if field is None:
            if not (top and name in _TYPE_META) and not str(name).startswith("$"):  # $: patch directives
                out.append(f"{path}{name}")
            continue
        if not field.message:
            continue
        below, child = MESSAGES[field.type], value[name]
        if field.repeated and isinstance(child, list):
            for i, item in enumerate(child):
                _walk(item, below, f"{path}{name}[{i}].", out, False)
        elif field.map and isinstance(child, dict):
            for key in sorted(child, key=str):
                _walk(child[key], below, f"{path}{name}.{key}.", out, False)
        elif not field.repeated and not field.map:
            _walk(child, below, f"{path}{name}.", out, False)


def unknown_fields(obj: Any, kind: str = "") -> list[str]:
    """The fields of ``obj`` (an object, or a merge patch of one) that a ``kind`` object
    (default: ``obj["kind"]``) does not have, by path; for a kind not described, its
    top level is checked (type meta, ``metadata``, ``spec``, ``status``)."""
    out: list[str] = []
    if not isinstance(obj, dict):
        return out
    msg = kind_message(kind or str(obj.get("kind", "")))
    if msg is None:
        out.extend(str(k) for k in sorted(obj, key=str)
                   if k not in (*_TYPE_META, "metadata", "spec", "status") and not str(k).startswith("$"))
        _walk(obj.get("metadata"), MESSAGES["ObjectMeta"], "metadata.", out, False)
        return sorted(out)
    _walk(obj, msg, "", out, True)
    return out
