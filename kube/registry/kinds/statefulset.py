"""StatefulSet (apps/v1): OrderedReady pods by default."""

from typing import Any

from kube.registry.kinds import _workload
from kube.registry.strategy import Strategy


def _defaults(obj: dict[str, Any]) -> None:
    _workload.defaults(obj)
    obj["spec"].setdefault("podManagementPolicy", "OrderedReady")


STRATEGY = Strategy(kind="StatefulSet", resource="statefulsets", api_version="apps/v1",
                    generation_fields=("spec",), status_subresource=True, initial_status={"replicas": 0},
                    defaults=_defaults, validate_spec=_workload.validate)
