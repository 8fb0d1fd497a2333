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
score as kube-scheduler's PreScore/Score do: over the feasible nodes (those that passed the
filters) that carry every key, a constraint's weight is log(domains + 2) (for the hostname
key, the number of such nodes), and a node's raw score is the sum, over the constraints
whose key it carries, of (matching pods in its domain (on the node itself, for the
hostname key) x weight + maxSkew - 1), rounded; fewer is better.

*System default constraints* (``defaultingType: System``): a pod with no
``topologySpreadConstraints`` of its own that a Service, ReplicaSet or StatefulSet
selects is scored with ``{maxSkew: 3, topologyKey: kubernetes.io/hostname}`` and
``{maxSkew: 5, topologyKey: topology.kubernetes.io/zone}``, both ScheduleAnyway (score
only), with the selector kube's ``DefaultSelector`` builds (:func:`default_spread_selector`);
for these, nodes lacking a key are not left out: they are scored on the keys they carry,
and their pods count in the domain of the empty value.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import attrs

from .affinity import (
    HOSTNAME_LABEL,
    ZONE_LABEL,
    Placed,
    int_field,
    node_affinity_matches,
    selector_matches,
)

__all__ = ["MISSING_LABEL_REASON", "SKEW_REASON", "SYSTEM_DEFAULT_SKEWS", "SpreadConstraint", "TopologySpread",
           "default_spread_selector", "round_half_away", "spread_constraints", "system_default_constraints"]

SKEW_REASON = "node(s) didn't match pod topology spread constraints"
MISSING_LABEL_REASON = "node(s) didn't match pod topology spread constraints (missing required label)"


@attrs.frozen(kw_only=True)
class SpreadConstraint:
    max_skew: int
    topology_key: str
    hard: bool  # whenUnsatisfiable: DoNotSchedule (a filter) or ScheduleAnyway (a score)
    selector: Mapping[str, Any] | None
    min_domains: int = 1

    def __attrs_post_init__(self) -> None:
        assert self.max_skew >= 1 and self.min_domains >= 1, self


#: kube-scheduler's system default constraints: (topology key, maxSkew), ScheduleAnyway
SYSTEM_DEFAULT_SKEWS = ((HOSTNAME_LABEL, 3), (ZONE_LABEL, 5))
#: the owners whose selector DefaultSelector adds: (apiVersion, kind) -> resource
_SELECTING_OWNERS = {("apps/v1", "ReplicaSet"): "replicasets", ("apps/v1", "StatefulSet"): "statefulsets",
                     ("v1", "ReplicationController"): "replicationcontrollers"}

OwnerLookup = Callable[[str, str, str], Mapping[str, Any] | None]  # (resource, namespace, name) -> the object, if known


def default_spread_selector(pod: Mapping[str, Any], services: Iterable[Mapping[str, Any]], owner: OwnerLookup) -> dict[str, Any] | None:
    """kube-scheduler's ``DefaultSelector`` as a LabelSelector (None when it is empty): the
    selectors of the ``services`` of the pod's namespace that select the pod (a Service
    with no selector selects nothing), merged, and the selector of the pod's controller
    when that is a ReplicationController (its labels merged too), a ReplicaSet or a
    StatefulSet (its requirements added) that ``owner`` knows."""
    meta = pod.get("metadata") or {}
    namespace, labels = meta.get("namespace", ""), _labels(pod)
    merged: dict[str, str] = {}
    for service in services:
        selector = (service.get("spec") or {}).get("selector")
        if ((service.get("metadata") or {}).get("namespace", "") == namespace and isinstance(selector, dict)
                and all(labels.get(k) == v for k, v in selector.items())):
            merged.update(selector)
    expressions: list[dict[str, Any]] = []
    controller = next((ref for ref in meta.get("ownerReferences") or () if ref.get("controller")), None)
    resource = _SELECTING_OWNERS.get((controller.get("apiVersion"), controller.get("kind"))) if controller else None
    obj = owner(resource, namespace, str(controller.get("name"))) if controller and resource else None
    if obj is not None:
        selector = (obj.get("spec") or {}).get("selector")
        if resource == "replicationcontrollers" and isinstance(selector, dict):
            merged.update(selector)
        elif isinstance(selector, dict):
            expressions += [{"key": k, "operator": "In", "values": [v]}
                            for k, v in sorted((selector.get("matchLabels") or {}).items())]
            expressions += list(selector.get("matchExpressions") or ())
    if not merged and not expressions:
        return None
    out: dict[str, Any] = {"matchLabels": dict(sorted(merged.items()))}
    if expressions:
        out["matchExpressions"] = expressions
    return out


def system_default_constraints(selector: Mapping[str, Any]) -> tuple[SpreadConstraint, ...]:
    return tuple(SpreadConstraint(max_skew=skew, topology_key=key, hard=False, selector=selector)
                 for key, skew in SYSTEM_DEFAULT_SKEWS)


def round_half_away(x: float) -> int:
    """Go's math.Round of a score (halves away from zero)."""
    return math.floor(x + 0.5) if x >= 0 else -math.floor(-x + 0.5)


def spread_constraints(pod: Mapping[str, Any]) -> tuple[SpreadConstraint, ...]:
    out = []
    for c in (pod.get("spec") or {}).get("topologySpreadConstraints") or ():
        out.append(SpreadConstraint(max_skew=max(1, int_field(c.get("maxSkew"), 1)), topology_key=str(c.get("topologyKey", "")),
                                    hard=c.get("whenUnsatisfiable", "DoNotSchedule") != "ScheduleAnyway",
                                    selector=c.get("labelSelector"), min_domains=max(1, int_field(c.get("minDomains"), 1))))
    return tuple(out)


def _labels(obj: Mapping[str, Any]) -> Mapping[str, str]:
    return (obj.get("metadata") or {}).get("labels") or {}


class TopologySpread:
    """The PodTopologySpread filter and raw score of ``pod``: ``nodes`` are every node
    known, ``placed`` the (node, pod) pairs of the pods placed on them;
    ``default_selector``: the pod's :func:`default_spread_selector` (used when it has no
    constraints of its own)."""

    def __init__(self, pod: Mapping[str, Any], nodes: Mapping[str, Mapping[str, Any]], placed: Placed,
                 default_selector: Mapping[str, Any] | None = None) -> None:
        self.constraints = spread_constraints(pod)
        self.system_defaulted = not self.constraints and default_selector is not None
        if self.system_defaulted:
            assert default_selector is not None
            self.constraints = system_default_constraints(default_selector)
        meta = pod.get("metadata") or {}
        namespace = meta.get("namespace", "")
        keys = [c.topology_key for c in self.constraints]
        # the domains each constraint sees, with their counts (0 for a domain with none),
        # and the matching pods on each node (for the hostname key's score)
        self.counts: list[dict[str, int]] = [{} for _ in self.constraints]
        self.on_node: list[dict[str, int]] = [{} for _ in self.constraints]
        counted: dict[str, None] = {}
        for name in sorted(nodes):
            labels = _labels(nodes[name])
            if not self.constraints or not node_affinity_matches(pod, nodes[name]):
                continue
            if self.system_defaulted:
                counted[name] = None  # (the empty value is the domain of nodes without the key)
            elif all(k in labels for k in keys):
                counted[name] = None
                for i, c in enumerate(self.constraints):
                    self.counts[i].setdefault(labels[c.topology_key], 0)
        for node, other in placed:
            other_meta = other.get("metadata") or {}
            if other_meta.get("deletionTimestamp") or other_meta.get("namespace", "") != namespace:
                continue
            node_name = (node.get("metadata") or {}).get("name", "")
            for i, c in enumerate(self.constraints):
                if not selector_matches(c.selector, _labels(other)):
                    continue
                if c.topology_key == HOSTNAME_LABEL:  # (scored by the pods on the node itself)
                    self.on_node[i][node_name] = self.on_node[i].get(node_name, 0) + 1
                if node_name in counted:
                    value = _labels(node).get(c.topology_key, "")
                    self.counts[i][value] = self.counts[i].get(value, 0) + 1
        self.self_match = [int(selector_matches(c.selector, _labels(pod))) for c in self.constraints]

    def filter(self, node: Mapping[str, Any]) -> str:
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

    def scores(self, feasible: Sequence[Mapping[str, Any]]) -> list[int | None]:
        """The raw ScheduleAnyway score of each feasible node (lower is better; None: a
        node left out, without every key, which gets no spread score)."""
        soft = [i for i, c in enumerate(self.constraints) if not c.hard]
        keys = [self.constraints[i].topology_key for i in soft]
        scored = [self.system_defaulted or all(k in _labels(node) for k in keys) for node in feasible]
        weights: dict[int, float] = {}
        for i in soft:
            key = self.constraints[i].topology_key
            if key == HOSTNAME_LABEL:
                size = sum(scored)
            else:
                size = len({_labels(node).get(key, "") for node, ok in zip(feasible, scored, strict=True) if ok})
            weights[i] = math.log(size + 2)
        out: list[int | None] = []
        for node, ok in zip(feasible, scored, strict=True):
            if not ok:
                out.append(None)
                continue
            labels = _labels(node)
            total = 0.0
            for i in soft:
                c = self.constraints[i]
                value = labels.get(c.topology_key)
                if value is None:
                    continue
                if c.topology_key == HOSTNAME_LABEL:
                    count = self.on_node[i].get((node.get("metadata") or {}).get("name", ""), 0)
                else:
                    count = self.counts[i].get(value, 0)
                total += count * weights[i] + c.max_skew - 1
            out.append(round_half_away(total))
        return out
