"""Pod topology spread (kube-scheduler's PodTopologySpread plugin) over
``spec.topologySpreadConstraints``.

A constraint (``maxSkew``, ``topologyKey``, ``whenUnsatisfiable``, ``labelSelector``,
``minDomains``) counts, in each domain (a value of ``topologyKey`` among the nodes that
carry it and pass the pod's ``nodeSelector`` and node affinity, as kube's default
``nodeAffinityPolicy: Honor`` / ``nodeTaintsPolicy: Ignore``), the placed pods of the
pod's namespace its selector matches (pods being deleted not counted).  A
``DoNotSchedule`` constraint filters: a node without the key is no candidate, and placing
the pod in the node's domain may not make that domain's count (plus one if the pod
matches its own selector) exceed the smallest domain's count (0 while there are fewer
domains than ``minDomains``) by more than ``maxSkew``.  ``ScheduleAnyway`` constraints
score: the fewer matching pods in the node's domains (weighted by log(domains + 2)), the
better.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import attrs

from .affinity import Placed, int_field, node_affinity_matches, selector_matches

__all__ = ["MISSING_LABEL_REASON", "SKEW_REASON", "SpreadConstraint", "TopologySpread", "spread_constraints"]

SKEW_REASON = "node(s) didn't match pod topology spread constraints"
MISSING_LABEL_REASON = "node(s) didn't match pod topology spread constraints (missing required label)"


@attrs.frozen(kw_only=True)
class SpreadConstraint:
    max_skew: int
    topology_key: str
    hard: bool  # whenUnsatisfiable: DoNotSchedule (a filter) or ScheduleAnyway (a score)
    selector: Mapping | None
    min_domains: int = 1

    def __attrs_post_init__(self) -> None:
        assert self.max_skew >= 1 and self.min_domains >= 1, self


def spread_constraints(pod: Mapping) -> tuple[SpreadConstraint, ...]:
    out = []
    for c in (pod.get("spec") or {}).get("topologySpreadConstraints") or ():
        out.append(SpreadConstraint(max_skew=max(1, int_field(c.get("maxSkew"), 1)), topology_key=str(c.get("topologyKey", "")),
                                    hard=c.get("whenUnsatisfiable", "DoNotSchedule") != "ScheduleAnyway",
                                    selector=c.get("labelSelector"), min_domains=max(1, int_field(c.get("minDomains"), 1))))
    return tuple(out)


def _labels(obj: Mapping) -> Mapping[str, str]:
    return (obj.get("metadata") or {}).get("labels") or {}


class TopologySpread:
    """The PodTopologySpread filter and raw score of ``pod``: ``nodes`` are every node
    known, ``placed`` the (node, pod) pairs of the pods placed on them."""

    def __init__(self, pod: Mapping, nodes: Mapping[str, Mapping], placed: Placed) -> None:
        self.constraints = spread_constraints(pod)
        meta = pod.get("metadata") or {}
        namespace = meta.get("namespace", "")
        keys = [c.topology_key for c in self.constraints]
        # the domains each constraint sees, with their counts (0 for a domain with none)
        self.counts: list[dict[str, int]] = [{} for _ in self.constraints]
        eligible: dict[str, None] = {}
        for name in sorted(nodes):
            labels = _labels(nodes[name])
            if self.constraints and all(k in labels for k in keys) and node_affinity_matches(pod, nodes[name]):
                eligible[name] = None
                for i, c in enumerate(self.constraints):
                    self.counts[i].setdefault(labels[c.topology_key], 0)
        for node, other in placed:
            other_meta = other.get("metadata") or {}
            if (node.get("metadata") or {}).get("name") not in eligible or other_meta.get("deletionTimestamp") \
                    or other_meta.get("namespace", "") != namespace:
                continue
            for i, c in enumerate(self.constraints):
                if selector_matches(c.selector, _labels(other)):
                    value = _labels(node)[c.topology_key]
                    self.counts[i][value] = self.counts[i].get(value, 0) + 1
        self.self_match = [int(selector_matches(c.selector, _labels(pod))) for c in self.constraints]

    def filter(self, node: Mapping) -> str:
        labels = _labels(node)
        for i, c in enumerate(self.constraints):
            if not c.hard:
                continue
            value = labels.get(c.topology_key)
            if value is None:
                return MISSING_LABEL_REASON
            counts = self.counts[i]
            smallest = min(counts.values()) if len(counts) >= c.min_domains else 0
            if counts.get(value, 0) + self.self_match[i] - smallest > c.max_skew:
                return SKEW_REASON
        return ""

    def scored(self) -> bool:
        return any(not c.hard for c in self.constraints)

    def score(self, node: Mapping) -> int | None:
        """The raw ScheduleAnyway score of ``node`` (lower is better; None: a node without
        every key, which gets no spread score)."""
        labels = _labels(node)
        total = 0.0
        for i, c in enumerate(self.constraints):
            if c.hard:
                continue
            value = labels.get(c.topology_key)
            if value is None:
                return None
            weight = math.log(len(self.counts[i]) + 2)
            total += (self.counts[i].get(value, 0) + c.max_skew - 1) * weight
        return round(total)
