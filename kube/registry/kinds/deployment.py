"""Deployment (apps/v1): strategy RollingUpdate by default."""

from typing import Any

from kube.registry.kinds import _workload
from kube.registry.strategy import Strategy


def _defaults(obj: dict[str, Any]) -> None:
    _workload.defaults(obj)
    obj["spec"].setdefault("strategy", {"type": "RollingUpdate",
                                        "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"}})
    obj["spec"].setdefault("revisionHistoryLimit", 10)


STRATEGY = Strategy(kind="Deployment", resource="deployments", api_version="apps/v1",
                    generation_fields=("spec",), status_subresource=True, defaults=_defaults,
                    validate_spec=_workload.validate)
