"""Namespace (v1, cluster-scoped): the ``kubernetes`` finalizer and phase Active."""

from kube.registry.strategy import Strategy, field


def _defaults(obj: dict) -> None:
    spec = obj.setdefault("spec", {})
    spec.setdefault("finalizers", ["kubernetes"])


STRATEGY = Strategy(kind="Namespace", resource="namespaces", namespaced=False, label_names=True,
                    status_subresource=True, initial_status={"phase": "Active"}, defaults=_defaults,
                    selectable={"status.phase": field("status", "phase")})
