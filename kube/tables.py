"""``meta.k8s.io/v1`` Table responses, what ``kubectl get`` asks for
(``Accept: application/json;as=Table;v=v1;g=meta.k8s.io``): columns per kind as
kube-apiserver's printers have them (``-o wide`` shows the columns of priority 1), one
row per object, the object itself in each row.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable
from typing import Any

__all__ = ["age", "table", "wants_table"]

Column = tuple[str, str, int, Callable[[dict[str, Any], int], Any]]  # name, type, priority, cell(obj, now_s)


def wants_table(accept: str) -> bool:
    return any("as=Table" in part for part in accept.split(","))


def age(created: str, now_s: int) -> str:
    """kubectl's short duration since ``created`` (RFC 3339): ``42s``, ``5m``, ``3h``, ``2d``."""
    if not created:
        return "<unknown>"
    try:
        then = datetime.datetime.strptime(created, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=datetime.UTC)
    except ValueError:
        return "<invalid>"
    secs = max(0, now_s - int(then.timestamp()))
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if secs >= size * 2 or (unit == "m" and secs >= 120):
            return f"{secs // size}{unit}"
    return f"{secs}s"


def _get(obj: dict[str, Any], *path: str, default: Any = "") -> Any:
    cur: Any = obj
    for p in path:
        cur = cur.get(p) if isinstance(cur, dict) else None
    return default if cur is None else cur


def _name(obj: dict[str, Any], now_s: int) -> str:
    return str(_get(obj, "metadata", "name"))


def _age(obj: dict[str, Any], now_s: int) -> str:
    return age(str(_get(obj, "metadata", "creationTimestamp")), now_s)


def _ready_pods(obj: dict[str, Any], now_s: int) -> str:
    """Ready containers of all; a pod with no ``containerStatuses`` (the simulated
    kubelet reports only the pod's Ready condition) counts all or none by that condition."""
    statuses = _get(obj, "status", "containerStatuses", default=[])
    total = len(_get(obj, "spec", "containers", default=[]))
    if not statuses:
        conditions = _get(obj, "status", "conditions", default=[])
        ready = any(isinstance(c, dict) and c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)
        return f"{total if ready else 0}/{total}"
    return f"{sum(1 for c in statuses if isinstance(c, dict) and c.get('ready'))}/{total}"


def _restarts(obj: dict[str, Any], now_s: int) -> int:
    return sum(int(c.get("restartCount", 0)) for c in _get(obj, "status", "containerStatuses", default=[])
               if isinstance(c, dict))


def _ports(obj: dict[str, Any], now_s: int) -> str:
    ports = _get(obj, "spec", "ports", default=[])
    return ",".join(f"{p.get('port')}/{p.get('protocol', 'TCP')}" for p in ports if isinstance(p, dict)) or "<none>"


def _selector(obj: dict[str, Any], now_s: int) -> str:
    sel = _get(obj, "spec", "selector", default={})
    labels = sel.get("matchLabels", sel) if isinstance(sel, dict) else {}
    return ",".join(f"{k}={v}" for k, v in sorted(labels.items()) if isinstance(v, str)) or "<none>"


def _images(obj: dict[str, Any], now_s: int) -> str:
    containers = _get(obj, "spec", "template", "spec", "containers", default=[])
    return ",".join(str(c.get("image", "")) for c in containers if isinstance(c, dict))


def _field(*path: str, default: Any = "<none>") -> Callable[[dict[str, Any], int], Any]:
    return lambda obj, now_s: _get(obj, *path, default=default)


def _ready_of(obj: dict[str, Any], now_s: int) -> str:
    return f"{_get(obj, 'status', 'readyReplicas', default=0)}/{_get(obj, 'spec', 'replicas', default=0)}"


_NAME: Column = ("Name", "string", 0, _name)
_AGE: Column = ("Age", "string", 0, _age)
COLUMNS: dict[str, list[Column]] = {
    "pods": [_NAME, ("Ready", "string", 0, _ready_pods), ("Status", "string", 0, _field("status", "phase")),
             ("Restarts", "integer", 0, _restarts), _AGE, ("IP", "string", 1, _field("status", "podIP")),
             ("Node", "string", 1, _field("spec", "nodeName"))],
    "services": [_NAME, ("Type", "string", 0, _field("spec", "type")),
                 ("Cluster-IP", "string", 0, _field("spec", "clusterIP")),
                 ("External-IP", "string", 0, lambda o, n: "<none>"), ("Port(s)", "string", 0, _ports), _AGE,
                 ("Selector", "string", 1, _selector)],
    "deployments": [_NAME, ("Ready", "string", 0, _ready_of),
                    ("Up-to-date", "integer", 0, _field("status", "updatedReplicas", default=0)),
                    ("Available", "integer", 0, _field("status", "availableReplicas", default=0)), _AGE,
                    ("Images", "string", 1, _images), ("Selector", "string", 1, _selector)],
    "statefulsets": [_NAME, ("Ready", "string", 0, _ready_of), _AGE, ("Images", "string", 1, _images)],
    "replicasets": [_NAME, ("Desired", "integer", 0, _field("spec", "replicas", default=0)),
                    ("Current", "integer", 0, _field("status", "replicas", default=0)),
                    ("Ready", "integer", 0, _field("status", "readyReplicas", default=0)), _AGE,
                    ("Images", "string", 1, _images), ("Selector", "string", 1, _selector)],
    "namespaces": [_NAME, ("Status", "string", 0, _field("status", "phase", default="Active")), _AGE],
    "nodes": [_NAME, ("Status", "string", 0, lambda o, n: "Ready" if any(
        c.get("type") == "Ready" and c.get("status") == "True"
        for c in _get(o, "status", "conditions", default=[]) if isinstance(c, dict)) else "NotReady"), _AGE],
    "configmaps": [_NAME, ("Data", "integer", 0, lambda o, n: len(o.get("data") or {}) + len(o.get("binaryData") or {})),
                   _AGE],
}


def table(resource: str, objects: list[dict[str, Any]], *, now_s: int, list_meta: dict[str, Any] | None = None) -> dict[str, Any]:
    """A Table of ``objects`` (all of ``resource``)."""
    columns = COLUMNS.get(resource, [_NAME, _AGE])
    return {"kind": "Table", "apiVersion": "meta.k8s.io/v1", "metadata": dict(list_meta or {}),
            "columnDefinitions": [{"name": name, "type": kind, "format": "name" if name == "Name" else "",
                                   "description": "", "priority": priority}
                                  for name, kind, priority, _cell in columns],
            "rows": [{"cells": [cell(obj, now_s) for _n, _k, _p, cell in columns], "object": obj}
                     for obj in objects]}
