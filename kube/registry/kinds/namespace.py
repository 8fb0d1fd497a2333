"""Namespace (v1, cluster-scoped): the ``kubernetes`` finalizer and phase Active; a delete
sets phase Terminating and the namespace stays until the namespace controller has emptied
it and removed ``kubernetes`` from ``spec.finalizers``."""

from typing import Any

from kube.registry.strategy import Strategy, field


def _defaults(obj: dict[str, Any]) -> None:
    spec = obj.setdefault("spec", {})
    spec.setdefault("finalizers", ["kubernetes"])


def _pending(obj: dict[str, Any]) -> bool:
    return bool((obj.get("spec") or {}).get("finalizers"))


def _terminating(obj: dict[str, Any]) -> None:
    obj.setdefault("status", {})["phase"] = "Terminating"


STRATEGY = Strategy(kind="Namespace", resource="namespaces", namespaced=False, label_names=True,
                    status_subresource=True, initial_status={"phase": "Active"}, defaults=_defaults,
                    kind_finalizers_pending=_pending, prepare_for_delete=_terminating,
                    selectable={"status.phase": field("status", "phase")})
