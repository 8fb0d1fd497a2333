"""The three patch types of PATCH requests: JSON merge patch (RFC 7386, in
:mod:`kube.meta`), JSON patch (RFC 6902) and Kubernetes' strategic merge patch.

:func:`apply_patch` dispatches on the request's content type.  The strategic merge patch
knows the list merge keys of the built-in kinds by field name (``containers``, ``env``,
``volumes``... by ``name``; ``ports`` by ``containerPort`` or, for a Service, ``port``)
and the directives kubectl sends: ``$patch: replace|delete|merge``,
``$setElementOrder/<field>``, ``$deleteFromPrimitiveList/<field>``, ``$retainKeys``.
A list without a merge key is replaced, as for a field without ``patchStrategy: merge``.
"""

from __future__ import annotations

import copy
from typing import Any

from . import errors
from .meta import merge_patch

__all__ = ["JSON_PATCH", "MERGE_PATCH", "PATCH_TYPES", "STRATEGIC_MERGE_PATCH", "apply_patch",
           "json_patch", "strategic_merge_patch"]

JSON_PATCH = "application/json-patch+json"
MERGE_PATCH = "application/merge-patch+json"
STRATEGIC_MERGE_PATCH = "application/strategic-merge-patch+json"
PATCH_TYPES = (JSON_PATCH, MERGE_PATCH, STRATEGIC_MERGE_PATCH)

#: list field -> the keys its elements merge by (the first one the patch's elements carry)
MERGE_KEYS: dict[str, tuple[str, ...]] = {
    "containers": ("name",), "initContainers": ("name",), "ephemeralContainers": ("name",),
    "env": ("name",), "volumes": ("name",), "volumeMounts": ("mountPath",),
    "volumeDevices": ("devicePath",), "imagePullSecrets": ("name",), "ports": ("containerPort", "port"),
    "conditions": ("type",), "ownerReferences": ("uid",), "hostAliases": ("ip",),
    "topologySpreadConstraints": ("topologyKey",), "addresses": ("ip",), "taints": ("key",),
    "resourceClaims": ("name",), "schedulingGates": ("name",),
}
#: lists of scalars merged as sets
PRIMITIVE_MERGE = frozenset({"finalizers"})

_ORDER, _DELETE_FROM = "$setElementOrder/", "$deleteFromPrimitiveList/"


def apply_patch(current: dict[str, Any], patch: Any, content_type: str) -> Any:
    """``current`` with ``patch`` applied, by the patch type ``content_type`` names."""
    if content_type == JSON_PATCH:
        return json_patch(current, patch)
    if not isinstance(patch, dict):
        raise errors.bad_request("a merge patch must be a JSON object")
    if content_type == MERGE_PATCH:
        return merge_patch(current, patch)
    if content_type == STRATEGIC_MERGE_PATCH:
        return strategic_merge_patch(current, patch)
    raise errors.ApiError(errors.status(
        415, "UnsupportedMediaType", f"the body of the request was in an unknown format - accepted media "
        f"types include: {', '.join(PATCH_TYPES)}"))


# ---------------------------------------------------------------------- strategic merge
def strategic_merge_patch(current: Any, patch: dict[str, Any]) -> Any:
    return _merge_map(current if isinstance(current, dict) else {}, patch)


def _merge_map(current: dict[str, Any], patch: dict[str, Any]) -> Any:
    directive = patch.get("$patch")
    if directive == "replace":
        return {k: copy.deepcopy(v) for k, v in patch.items() if k != "$patch"}
    if directive == "delete":
        return None
    if directive not in (None, "merge"):
        raise errors.bad_request(f"unknown patch directive {directive!r}")
    out = dict(current)
    retain = patch.get("$retainKeys")
    for key, value in patch.items():
        if key in ("$patch", "$retainKeys") or key.startswith(_ORDER):
            continue
        if key.startswith(_DELETE_FROM):
            field = key[len(_DELETE_FROM):]
            if isinstance(out.get(field), list) and isinstance(value, list):
                out[field] = [x for x in out[field] if x not in value]
            continue
        if value is None:
            out.pop(key, None)
        elif isinstance(value, dict):
            merged = _merge_map(out[key] if isinstance(out.get(key), dict) else {}, value)
            if merged is None:
                out.pop(key, None)
            else:
                out[key] = merged
        elif isinstance(value, list):
            out[key] = _merge_list(key, out.get(key), value)
        else:
            out[key] = copy.deepcopy(value)
    for key, order in patch.items():
        if key.startswith(_ORDER) and isinstance(order, list):
            field = key[len(_ORDER):]
            if isinstance(out.get(field), list):
                out[field] = _reorder(field, out[field], order)
    if isinstance(retain, list):
        out = {k: v for k, v in out.items() if k in retain}
    return out


def _merge_key(field: str, elements: list[Any]) -> str | None:
    for key in MERGE_KEYS.get(field, ()):
        if any(isinstance(e, dict) and key in e for e in elements):
            return key
    return None


def _merge_list(field: str, live: Any, patch: list[Any]) -> list[Any]:
    current: list[Any] = live if isinstance(live, list) else []
    if field in PRIMITIVE_MERGE:
        return current + [copy.deepcopy(x) for x in patch if x not in current]
    if any(isinstance(e, dict) and e.get("$patch") == "replace" for e in patch):
        return [copy.deepcopy(e) for e in patch if not (isinstance(e, dict) and "$patch" in e)]
    key = _merge_key(field, patch) or _merge_key(field, current)
    if key is None:
        return copy.deepcopy(patch)
    out = list(current)
    for element in patch:
        if not isinstance(element, dict) or key not in element:
            raise errors.bad_request(f"a strategic merge patch element of {field} has no merge key {key!r}")
        at = next((i for i, e in enumerate(out) if isinstance(e, dict) and e.get(key) == element[key]), None)
        if element.get("$patch") == "delete":
            if at is not None:
                del out[at]
            continue
        if at is None:
            out.append(_merge_map({}, element))
        else:
            out[at] = _merge_map(out[at], element)
    return out


def _reorder(field: str, items: list[Any], order: list[Any]) -> list[Any]:
    """Elements named in ``order`` first in that order, the rest after (as they were)."""
    key = _merge_key(field, order) if order and isinstance(order[0], dict) else None

    def ident(x: Any) -> Any:
        return x.get(key) if key is not None and isinstance(x, dict) else x

    wanted = [ident(o) for o in order]
    ranked = sorted(range(len(items)), key=lambda i: (wanted.index(ident(items[i])) if ident(items[i]) in wanted
                                                      else len(wanted), i))
    return [items[i] for i in ranked]


# ---------------------------------------------------------------------- JSON patch
def _pointer(path: Any) -> list[str]:
    if not isinstance(path, str) or (path and not path.startswith("/")):
        raise errors.bad_request(f"json patch: {path!r} is not a JSON pointer")
    return [p.replace("~1", "/").replace("~0", "~") for p in path.split("/")[1:]]


def _parent(doc: Any, parts: list[str], path: str) -> tuple[Any, str]:
    cur = doc
    for part in parts[:-1]:
        if isinstance(cur, dict) and part in cur:
            cur = cur[part]
        elif isinstance(cur, list) and part.isdigit() and int(part) < len(cur):
            cur = cur[int(part)]
        else:
            raise errors.ApiError(errors.status(422, "Invalid", f"json patch: path {path} does not exist"))
    return cur, parts[-1]


def _get(doc: Any, path: str) -> Any:
    parts = _pointer(path)
    if not parts:
        return doc
    parent, last = _parent(doc, parts, path)
    if isinstance(parent, dict) and last in parent:
        return parent[last]
    if isinstance(parent, list) and last.isdigit() and int(last) < len(parent):
        return parent[int(last)]
    raise errors.ApiError(errors.status(422, "Invalid", f"json patch: path {path} does not exist"))


def _remove(doc: Any, path: str) -> Any:
    value = _get(doc, path)
    parent, last = _parent(doc, _pointer(path), path)
    if isinstance(parent, dict):
        del parent[last]
    else:
        del parent[int(last)]
    return value


def _add(doc: Any, path: str, value: Any) -> Any:
    parts = _pointer(path)
    if not parts:
        return value
    parent, last = _parent(doc, parts, path)
    if isinstance(parent, dict):
        parent[last] = value
    elif isinstance(parent, list) and (last == "-" or (last.isdigit() and int(last) <= len(parent))):
        parent.insert(len(parent) if last == "-" else int(last), value)
    else:
        raise errors.ApiError(errors.status(422, "Invalid", f"json patch: cannot add at {path}"))
    return doc


def json_patch(current: Any, ops: Any) -> Any:
    """RFC 6902: ``add``, ``remove``, ``replace``, ``move``, ``copy``, ``test``."""
    if not isinstance(ops, list):
        raise errors.bad_request("a json patch must be a JSON array of operations")
    doc = copy.deepcopy(current)
    for op in ops:
        if not isinstance(op, dict) or "path" not in op:
            raise errors.bad_request(f"json patch: {op!r} is not an operation with a path")
        name, path = op.get("op"), op["path"]
        if name in ("add", "replace", "test") and "value" not in op:
            raise errors.bad_request(f"json patch: {name} at {path} needs a value")
        if name == "add":
            doc = _add(doc, path, copy.deepcopy(op["value"]))
        elif name == "remove":
            _remove(doc, path)
        elif name == "replace":
            _remove(doc, path) if _pointer(path) else None
            doc = _add(doc, path, copy.deepcopy(op["value"]))
        elif name in ("move", "copy"):
            value = _remove(doc, op.get("from", "")) if name == "move" else copy.deepcopy(_get(doc, op.get("from", "")))
            doc = _add(doc, path, value)
        elif name == "test":
            if _get(doc, path) != op["value"]:
                raise errors.ApiError(errors.status(422, "Invalid", f"json patch: test at {path} failed"))
        else:
            raise errors.bad_request(f"json patch: unknown operation {name!r}")
    return doc
