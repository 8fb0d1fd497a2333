"""One pod's scheduling cycle beyond the node's own filters (kube.controllers.scheduler's
``fits``): the filters that need the other pods (topology spread, inter-pod affinity) and
the scores, each 0..100 and combined with kube-scheduler's default weights:

* least allocated (weight 1): the mean share of cpu and memory left free once the pod is in;
* balanced allocation (1): 100 x (1 - the standard deviation of the cpu and memory shares
  used once the pod is in): a node whose resources would be used evenly is preferred;
* node affinity (2): the preferred node affinity weights matched, over the best node's;
* inter-pod affinity (2): the preference (:class:`kube.controllers.affinity.InterPodAffinity`),
  scaled from the least preferred node (0) to the most (100);
* topology spread (2): the ScheduleAnyway constraints' raw scores (the pod's own, or the
  system defaults: :mod:`kube.controllers.topology_spread`), inverted: the node whose
  domains hold the fewest matching pods gets 100.

Scores are integers, so equal nodes tie exactly; the scheduler breaks ties by node name.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from .affinity import (
    InterPodAffinity,
    NamespaceLabels,
    Placed,
    no_namespace_labels,
    node_affinity_score,
)
from .resources import node_allocatable, pod_requests
from .topology_spread import TopologySpread

__all__ = ["MAX_NODE_SCORE", "SCORE_WEIGHTS", "SchedulingCycle", "balanced_allocation", "failed_scheduling_message",
           "least_allocated", "resource_score", "weighted_resource_score"]

MAX_NODE_SCORE = 100
SCORE_WEIGHTS = {"NodeResourcesLeastAllocated": 1, "NodeResourcesBalancedAllocation": 1, "NodeAffinity": 2,
                 "InterPodAffinity": 2, "PodTopologySpread": 2}
_SCORED = ("cpu", "memory")


def least_allocated(node: Mapping[str, Any], used: Mapping[str, int], need: Mapping[str, int]) -> int:
    return resource_score(node_allocatable(dict(node)), used, need)[0]


def balanced_allocation(node: Mapping[str, Any], used: Mapping[str, int], need: Mapping[str, int]) -> int:
    return resource_score(node_allocatable(dict(node)), used, need)[1]


def resource_score(alloc: Mapping[str, int], used: Mapping[str, int], need: Mapping[str, int]) -> tuple[int, int]:
    """(least allocated, balanced allocation) of a node with allocatable ``alloc`` (parsed)
    and ``used`` on it, once ``need`` is in."""
    scored = [r for r in _SCORED if alloc.get(r)]
    if not scored:
        return 0, 0
    least = sum(max(0, alloc[r] - used.get(r, 0) - need.get(r, 0)) * MAX_NODE_SCORE // alloc[r]
                for r in scored) // len(scored)
    fractions = [min(1.0, (used.get(r, 0) + need.get(r, 0)) / alloc[r]) for r in scored]
    mean = sum(fractions) / len(fractions)
    std = (sum((f - mean) ** 2 for f in fractions) / len(fractions)) ** 0.5
    return least, int((1 - std) * MAX_NODE_SCORE)


def failed_scheduling_message(nodes: int, reasons: Mapping[str, int]) -> str:
    """kube-scheduler's FitError text: how many nodes each filter rejected."""
    parts = sorted(f"{n} {why}" for why, n in reasons.items())
    return f"0/{nodes} nodes are available: {', '.join(parts)}."


def weighted_resource_score(alloc: Mapping[str, int], used: Mapping[str, int], need: Mapping[str, int]) -> int:
    """The resource scores' part of a node's weighted score (all of it for a pod that no
    affinity, preference or spread constraint concerns)."""
    least, balanced = resource_score(alloc, used, need)
    return SCORE_WEIGHTS["NodeResourcesLeastAllocated"] * least + SCORE_WEIGHTS["NodeResourcesBalancedAllocation"] * balanced


class SchedulingCycle:
    """``pod`` against ``nodes`` (name -> Node) with ``placed`` pods (node, pod);
    ``default_selector``: the pod's default spreading selector
    (:func:`kube.controllers.topology_spread.default_spread_selector`), ``namespace_labels``:
    each namespace's labels (for the affinity terms' namespace selectors)."""

    def __init__(self, pod: Mapping[str, Any], nodes: Mapping[str, Mapping[str, Any]], placed: Placed, *,
                 default_selector: Mapping[str, Any] | None = None, namespace_labels: NamespaceLabels = no_namespace_labels) -> None:
        self.pod = pod
        self.need = pod_requests(dict(pod))
        self.spread = TopologySpread(pod, nodes, placed, default_selector)
        self.affinity = InterPodAffinity(pod, placed, namespace_labels)

    def filter(self, node: Mapping[str, Any]) -> str:
        """Why the other pods keep ``pod`` off ``node`` ("" when they do not)."""
        return self.spread.filter(node) or self.affinity.filter(node)

    def scores(self, feasible: Sequence[tuple[Mapping[str, Any], Mapping[str, int]]]) -> list[int]:
        """The weighted score of each feasible (node, what is used on it)."""
        w = SCORE_WEIGHTS
        totals = [weighted_resource_score(node_allocatable(dict(node)), used, self.need) for node, used in feasible]
        for weight, plugin in ((w["NodeAffinity"], self._node_affinity), (w["InterPodAffinity"], self._inter_pod),
                               (w["PodTopologySpread"], self._spread)):
            for i, score in enumerate(plugin([node for node, _used in feasible])):
                totals[i] += weight * score
        return totals

    def _node_affinity(self, nodes: list[Mapping[str, Any]]) -> list[int]:
        raw = [node_affinity_score(self.pod, node) for node in nodes]
        top = max(raw, default=0)
        return [r * MAX_NODE_SCORE // top if top > 0 else 0 for r in raw]

    def _inter_pod(self, nodes: list[Mapping[str, Any]]) -> list[int]:
        raw = [self.affinity.score(node) for node in nodes]
        low, high = min(raw, default=0), max(raw, default=0)
        return [(r - low) * MAX_NODE_SCORE // (high - low) if high > low else 0 for r in raw]

    def _spread(self, nodes: list[Mapping[str, Any]]) -> list[int]:
        if not self.spread.scored():
            return [0] * len(nodes)
        raw = self.spread.scores(nodes)
        known = [r for r in raw if r is not None]
        low, high = min(known, default=0), max(known, default=0)
        return [0 if r is None else MAX_NODE_SCORE if high == 0 else MAX_NODE_SCORE * (high + low - r) // high
                for r in raw]
