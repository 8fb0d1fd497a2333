"""ReplicaSet (apps/v1)."""

from kube.registry.kinds import _workload
from kube.registry.strategy import Strategy

STRATEGY = Strategy(kind="ReplicaSet", resource="replicasets", api_version="apps/v1",
                    generation_fields=("spec",), status_subresource=True, initial_status={"replicas": 0},
                    defaults=_workload.defaults, validate_spec=_workload.validate)
