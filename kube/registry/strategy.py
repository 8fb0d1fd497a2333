"""A kind's strategy: what the generic store asks each kind (as kube-apiserver's
``rest.RESTCreateStrategy`` / ``RESTUpdateStrategy`` do).

A kind module defines one :class:`Strategy` value; everything else (keys, preconditions,
resourceVersion, uid, generation, finalizers, lists, watches) is the store's.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
from typing import Any

import attrs

from kube.meta import dns1123_label, dns1123_subdomain, json_copy, validate_labels

__all__ = ["Cause", "Strategy", "field", "meta_fields"]

Cause = tuple[str, str, str]  # (field path, reason type, message)
Getter = Callable[[dict[str, Any]], str]


def field(*path: str) -> Getter:
    """A getter of a nested string field (``""`` when absent)."""
    def get(obj: dict[str, Any]) -> str:
        cur: Any = obj
        for part in path:
            cur = cur.get(part) if isinstance(cur, dict) else None
        return "" if cur is None else str(cur)
    return get


def meta_fields(namespaced: bool) -> dict[str, Getter]:
    out = {"metadata.name": field("metadata", "name")}
    if namespaced:
        out["metadata.namespace"] = field("metadata", "namespace")
    return out


def _no_causes(obj: dict[str, Any]) -> list[Cause]:
    return []


def _keep(obj: dict[str, Any]) -> None:
    return None


def _no_grace(obj: dict[str, Any]) -> int:
    return 0


def _nothing_pending(obj: dict[str, Any]) -> bool:
    return False


@attrs.frozen(kw_only=True)
class Strategy:
    kind: str
    resource: str  # the plural, as in URLs and etcd keys
    api_version: str = "v1"
    namespaced: bool = True
    # DNS-1123 label names (Namespace, Service) instead of subdomains
    label_names: bool = False
    # top-level fields whose changes bump metadata.generation (() : no generation)
    generation_fields: tuple[str, ...] = ()
    # status is written only through the status subresource
    status_subresource: bool = False
    initial_status: Mapping[str, Any] = attrs.field(factory=dict)
    # fields of field selectors besides metadata.name (and metadata.namespace)
    selectable: Mapping[str, Getter] = attrs.field(factory=dict)
    # a selectable field by whose value the watch cache indexes watchers ("" for none)
    watch_index: str = ""
    # defaults filled in on create and update (mutates the object)
    defaults: Callable[[dict[str, Any]], None] = _keep
    validate_spec: Callable[[dict[str, Any]], list[Cause]] = _no_causes
    # graceful deletion: the grace period (seconds) of a delete that names none (0: at once)
    default_grace_s: Callable[[dict[str, Any]], int] = _no_grace
    # finalizers of the kind's own beside metadata.finalizers (a Namespace's spec.finalizers)
    kind_finalizers_pending: Callable[[dict[str, Any]], bool] = _nothing_pending
    # what a delete that leaves the object in place (deletionTimestamp set) changes besides
    prepare_for_delete: Callable[[dict[str, Any]], None] = _keep

    @property
    def fields(self) -> dict[str, Getter]:
        return {**meta_fields(self.namespaced), **self.selectable}

    def prepare_for_create(self, obj: dict[str, Any]) -> None:
        if self.status_subresource:
            obj["status"] = copy.deepcopy(dict(self.initial_status))
        self.defaults(obj)
        if self.generation_fields:
            obj["metadata"]["generation"] = 1

    def prepare_for_update(self, new: dict[str, Any], old: dict[str, Any]) -> None:
        """Main resource update: status stays as it was; generation bumps on spec changes."""
        if self.status_subresource:
            if "status" in old:
                new["status"] = json_copy(old["status"])
            else:
                new.pop("status", None)
        self.defaults(new)
        if self.generation_fields:
            gen = int(old["metadata"].get("generation", 1))
            changed = any(new.get(f) != old.get(f) for f in self.generation_fields)
            new["metadata"]["generation"] = gen + 1 if changed else gen

    def prepare_for_status_update(self, new: dict[str, Any], old: dict[str, Any]) -> dict[str, Any]:
        """Status subresource update: only status changes."""
        status = json_copy(new.get("status", {}))
        out = {k: status if k == "status" else json_copy(v) for k, v in old.items()}
        out["status"] = status
        return out

    def validate(self, obj: dict[str, Any]) -> list[Cause]:
        meta = obj.get("metadata", {})
        out: list[Cause] = []
        name = meta.get("name", "")
        check = dns1123_label if self.label_names else dns1123_subdomain
        if not name:
            out.append(("metadata.name", "FieldValueRequired", "Required value: name or generateName is required"))
        else:
            out.extend(("metadata.name", "FieldValueInvalid", f'Invalid value: "{name}": {why}')
                       for why in check(name))
        if self.namespaced and not meta.get("namespace"):
            out.append(("metadata.namespace", "FieldValueRequired", "Required value"))
        out.extend(validate_labels(meta.get("labels"), "metadata.labels"))
        out.extend(c for c in validate_labels(meta.get("annotations"), "metadata.annotations"))
        for i, ref in enumerate(meta.get("ownerReferences") or ()):
            for key in ("apiVersion", "kind", "name", "uid"):
                if not isinstance(ref, dict) or not ref.get(key):
                    out.append((f"metadata.ownerReferences[{i}].{key}", "FieldValueRequired", "Required value"))
        out.extend(self.validate_spec(obj))
        return out
