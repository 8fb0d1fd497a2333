"""Field ownership (``metadata.managedFields``) and server-side apply, as kube-apiserver's
field manager does them, over the kinds' description (:mod:`kube.schema`).

A *field set* is the set of paths an object sets, in ``fieldsV1`` notation: ``f:<name>``
for a field or a map key, ``k:{"<key>":<value>}`` for an element of a list merged by key
(which is a member itself, and holds its fields).  Scalars, lists without a merge key and
fields described as ``any`` are leaves: owned as a whole.  The object's identity
(``metadata.name``, ``uid``...) is nobody's; ``status`` belongs to the status subresource.

* :func:`track_update`: a create, update or patch by ``manager`` takes the fields it
  changed (or added) from every other manager and drops the fields it removed (operation
  ``Update``); updates never conflict.
* :func:`apply`: ``manager``'s applied configuration: a field it sets that another manager
  owns with another value is a conflict (409, each one named) unless ``force``; the
  configuration is merged into the live object (lists by their merge key, maps by key,
  the rest replaced) and fields the manager applied before but no longer does, and nobody
  else owns, are removed (operation ``Apply``).
"""

from __future__ import annotations

import copy
import json
from typing import Any

from . import errors
from .schema import MESSAGES, Message, kind_message

__all__ = ["APPLY_PATCH", "Conflict", "apply", "decode_fields", "encode_fields", "field_set", "track_update"]

APPLY_PATCH = "application/apply-patch+yaml"

Path = tuple[str, ...]
_MISSING = object()
_IDENTITY = frozenset({"name", "generateName", "namespace", "uid", "resourceVersion", "generation",
                       "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds", "selfLink",
                       "managedFields"})


def _key_token(field_key: str, value: Any) -> str:
    return "k:" + json.dumps({field_key: value}, separators=(",", ":"), sort_keys=True)


def _walk(value: dict[str, Any], msg: Message | None, prefix: Path, out: set[Path]) -> None:
    for name in sorted(value, key=str):
        child = value[name]
        f = msg.field(str(name)) if msg is not None else None
        path = (*prefix, f"f:{name}")
        if f is not None and f.map and isinstance(child, dict) and child:
            for key in sorted(child, key=str):
                if f.message and isinstance(child[key], dict) and child[key]:
                    _walk(child[key], MESSAGES[f.type], (*path, f"f:{key}"), out)
                else:
                    out.add((*path, f"f:{key}"))
        elif (f is not None and f.repeated and f.merge_key and isinstance(child, list) and child
              and all(isinstance(item, dict) and f.merge_key in item for item in child)):
            for item in child:
                item_path = (*path, _key_token(f.merge_key, item[f.merge_key]))
                out.add(item_path)
                if f.message:
                    _walk(item, MESSAGES[f.type], item_path, out)
        elif f is not None and f.message and not f.repeated and isinstance(child, dict) and child:
            _walk(child, MESSAGES[f.type], path, out)
        else:
            out.add(path)


def field_set(obj: dict[str, Any], kind: str, subresource: str = "") -> set[Path]:
    """The paths ``obj`` sets that can be owned (only ``status`` for the status subresource)."""
    out: set[Path] = set()
    msg = kind_message(kind)
    body = {k: v for k, v in obj.items() if k not in ("apiVersion", "kind")}
    meta = body.get("metadata")
    if isinstance(meta, dict):
        body["metadata"] = {k: v for k, v in meta.items() if k not in _IDENTITY}
        if not body["metadata"]:
            del body["metadata"]
    body = {k: v for k, v in body.items() if (k == "status") == (subresource == "status")}
    _walk(body, msg, (), out)
    return out


def _at(obj: Any, path: Path) -> Any:
    cur = obj
    for token in path:
        if token.startswith("f:") and isinstance(cur, dict):
            cur = cur.get(token[2:], _MISSING)
        elif token.startswith("k:") and isinstance(cur, list):
            [(key, value)] = json.loads(token[2:]).items()
            cur = next((item for item in cur if isinstance(item, dict) and item.get(key) == value), _MISSING)
        else:
            return _MISSING
        if cur is _MISSING:
            return _MISSING
    return cur


def _remove(obj: Any, path: Path) -> None:
    parent = _at(obj, path[:-1])
    token = path[-1]
    if token.startswith("f:") and isinstance(parent, dict):
        parent.pop(token[2:], None)
    elif token.startswith("k:") and isinstance(parent, list):
        [(key, value)] = json.loads(token[2:]).items()
        parent[:] = [item for item in parent if not (isinstance(item, dict) and item.get(key) == value)]


# ---------------------------------------------------------------------- fieldsV1
def encode_fields(paths: set[Path]) -> dict[str, Any]:
    """``fieldsV1``: nested ``{token: {...}}``; ``"."`` marks an element that is owned itself."""
    out: dict[str, Any] = {}
    for path in sorted(paths):
        node = out
        for token in path:
            node = node.setdefault(token, {})
        if path[-1].startswith("k:"):
            node["."] = {}
    return out


def decode_fields(tree: Any, prefix: Path = ()) -> set[Path]:
    out: set[Path] = set()
    if not isinstance(tree, dict):
        return out
    for token, below in tree.items():
        if token == ".":
            out.add(prefix)
        elif isinstance(below, dict) and below:
            out |= decode_fields(below, (*prefix, token))
        else:
            out.add((*prefix, token))
    return out


# ---------------------------------------------------------------------- managers
class _Entries:
    """An object's managedFields as (manager, operation, subresource) -> (apiVersion, paths)."""

    def __init__(self, obj: dict[str, Any]) -> None:
        self.entries: dict[tuple[str, str, str], tuple[str, set[Path], str]] = {}
        for entry in obj.get("metadata", {}).get("managedFields") or ():
            if isinstance(entry, dict) and entry.get("manager") is not None:
                key = (str(entry["manager"]), str(entry.get("operation", "Update")), str(entry.get("subresource", "")))
                self.entries[key] = (str(entry.get("apiVersion", "")), decode_fields(entry.get("fieldsV1")),
                                     str(entry.get("time", "")))

    def write(self, obj: dict[str, Any]) -> None:
        out = []
        for (manager, operation, subresource), (api_version, paths, when) in self.entries.items():
            if not paths:
                continue
            entry: dict[str, Any] = {"manager": manager, "operation": operation, "apiVersion": api_version,
                                     "time": when, "fieldsType": "FieldsV1", "fieldsV1": encode_fields(paths)}
            if subresource:
                entry["subresource"] = subresource
            out.append(entry)
        if out:
            obj["metadata"]["managedFields"] = out
        else:
            obj["metadata"].pop("managedFields", None)


def _changed(old: Any, new: Any, path: Path) -> bool:
    if path[-1].startswith("k:"):  # an element is taken by adding it, not by changing its fields
        return _at(old, path) is _MISSING
    return bool(_at(old, path) != _at(new, path))


def track_update(old: dict[str, Any] | None, new: dict[str, Any], *, manager: str, subresource: str, now: str) -> None:
    """Record in ``new``'s managedFields that ``manager`` wrote it over ``old`` (None: created)."""
    kind = str(new.get("kind", ""))
    entries = _Entries(old if old is not None and "managedFields" not in new.get("metadata", {}) else new)
    new_set = field_set(new, kind, subresource)
    old_set = field_set(old, kind, subresource) if old is not None else set()
    changed = {p for p in new_set if old is None or _changed(old, new, p)}
    removed = old_set - new_set
    for key, (api_version, paths, when) in entries.entries.items():
        entries.entries[key] = (api_version, paths - changed - removed, when)
    if changed:
        key = (manager, "Update", subresource)
        _api, mine, _when = entries.entries.get(key, ("", set(), ""))
        entries.entries[key] = (str(new.get("apiVersion", "")), (mine | changed) - removed, now)
    entries.write(new)


class Conflict(errors.ApiError):
    pass


def _merge(live: Any, config: Any, msg: Message | None) -> Any:
    if not isinstance(live, dict) or not isinstance(config, dict):
        return copy.deepcopy(config)
    out = dict(live)
    for name, value in config.items():
        f = msg.field(str(name)) if msg is not None else None
        below = MESSAGES[f.type] if f is not None and f.message else None
        if f is not None and f.map and isinstance(value, dict) and isinstance(live.get(name), dict):
            merged = dict(live[name])
            for k, v in value.items():
                merged[k] = _merge(merged.get(k), v, below) if below is not None else copy.deepcopy(v)
            out[name] = merged
        elif (f is not None and f.repeated and f.merge_key and isinstance(value, list)
              and isinstance(live.get(name), list)):
            key = f.merge_key
            items = [copy.deepcopy(i) for i in live[name]]
            for item in value:
                at = next((n for n, i in enumerate(items) if isinstance(i, dict) and isinstance(item, dict)
                           and key in item and i.get(key) == item[key]), None)
                if at is None:
                    items.append(copy.deepcopy(item))
                else:
                    items[at] = _merge(items[at], item, below)
            out[name] = items
        elif f is not None and f.message and not f.repeated and not f.map:
            out[name] = _merge(live.get(name), value, below)
        else:
            out[name] = copy.deepcopy(value)
    return out


def _dotted(path: Path) -> str:
    return "".join(f".{t[2:]}" if t.startswith("f:") else f"[{t[2:]}]" for t in path)


def _conflict(conflicts: list[tuple[tuple[str, str, str], str, Path]]) -> Conflict:
    def who(key: tuple[str, str, str], api: str) -> str:
        return f'conflict with "{key[0]}"' + (f' with subresource "{key[2]}"' if key[2] else "") + f" using {api}"
    lines = [f"{who(key, api)}: {_dotted(p)}" for key, api, p in conflicts]
    many = len(lines) > 1
    message = (f"Apply failed with {len(lines)} conflict{'s' if many else ''}: "
               + ("\n" if many else "") + "\n".join(lines))
    return Conflict({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure", "message": message,
                     "reason": "Conflict", "code": 409,
                     "details": {"causes": [{"type": "FieldManagerConflict", "message": who(key, api),
                                             "field": _dotted(p)} for key, api, p in conflicts]}})


def apply(live: dict[str, Any] | None, config: dict[str, Any], *, manager: str, force: bool, now: str,
          subresource: str = "") -> dict[str, Any]:
    """The object after ``manager`` applies ``config`` to ``live`` (None: it does not exist)."""
    kind = str(config.get("kind", ""))
    applied = field_set(config, kind, subresource)
    if live is None:
        out = copy.deepcopy(config)
        out.setdefault("metadata", {})
        entries = _Entries({})
        entries.entries[(manager, "Apply", subresource)] = (str(config.get("apiVersion", "")), applied, now)
        entries.write(out)
        return out
    entries = _Entries(live)
    mine_key = (manager, "Apply", subresource)
    conflicts: list[tuple[tuple[str, str, str], str, Path]] = []
    for key, (api_version, paths, _when) in sorted(entries.entries.items()):
        if key == mine_key:
            continue
        for path in sorted(paths & applied):
            if not path[-1].startswith("k:") and _at(live, path) != _at(config, path):
                conflicts.append((key, api_version, path))
    if conflicts and not force:
        raise _conflict(conflicts)
    taken = {p for _m, _a, p in conflicts}
    for key, (api_version, paths, when) in entries.entries.items():
        if key != mine_key:
            entries.entries[key] = (api_version, paths - taken, when)
    merged: dict[str, Any] = _merge(live, {k: v for k, v in config.items() if k != "status" or subresource == "status"},
                    kind_message(kind))
    merged["metadata"] = {**live.get("metadata", {}), **{k: v for k, v in merged.get("metadata", {}).items()
                                                         if k not in _IDENTITY}}
    previous = entries.entries.get(mine_key, ("", set(), ""))[1]
    others: set[Path] = set()
    for key, (_api, paths, _when) in entries.entries.items():
        if key != mine_key:
            others |= paths
    owned = others | applied
    for path in sorted(previous - applied, key=lambda p: (len(p), p)):  # an element before its fields
        if any(p[:len(path)] == path for p in owned):
            continue
        _remove(merged, path)
        parent = path[:-1]
        while parent and _at(merged, parent) in ({}, []) and not any(p[:len(parent)] == parent for p in owned):
            _remove(merged, parent)  # a map or list left empty by the removal, that nobody owns
            parent = parent[:-1]
    entries.entries[mine_key] = (str(config.get("apiVersion", "")), applied, now)
    entries.write(merged)
    return merged
