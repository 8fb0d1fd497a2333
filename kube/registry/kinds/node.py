"""Node (v1, cluster-scoped)."""

from kube.registry.strategy import Strategy, field

STRATEGY = Strategy(kind="Node", resource="nodes", namespaced=False, status_subresource=True,
                    selectable={"spec.unschedulable": field("spec", "unschedulable")})
