"""Node affinity and inter-pod affinity (kube-scheduler's NodeAffinity and InterPodAffinity
plugins), on the pods' and nodes' JSON.

*Node affinity*: ``spec.nodeSelector`` (every label equal) and
``spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms``
(terms ORed, a term's ``matchExpressions`` on the node's labels and ``matchFields`` on
``metadata.name`` ANDed; operators In, NotIn, Exists, DoesNotExist, Gt, Lt; a term with
no requirement matches no node) filter; the weights of the
``preferredDuringSchedulingIgnoredDuringExecution`` terms a node matches are its score.

*Inter-pod affinity*: a term (``labelSelector``, ``namespaces``, ``namespaceSelector``,
``topologyKey``) matches a pod in one of its namespaces whose labels its selector matches.
The term's namespaces are the union of those listed in ``namespaces`` and those whose
labels its ``namespaceSelector`` matches (``{}``: every namespace; a namespace the
scheduler does not know has no labels); with neither (null or empty ``namespaces`` and no
``namespaceSelector``), the namespace of the term's own pod.  Two nodes are in one domain of a term when
they carry the same value of its ``topologyKey``.  :class:`InterPodAffinity` takes one
pod and the pods placed on nodes (bound, and the scheduler's assumed ones) and filters as
kube-scheduler does: the pod's required affinity needs, in the node's domain of every term,
a placed pod matching all its terms (unless no placed pod matches them anywhere and the
pod matches them itself: the first of a group); its required anti-affinity forbids the
domains holding a pod that matches a term; and a placed pod's required anti-affinity term
that the incoming pod matches forbids that pod's domain too (symmetry).  Its score adds
the weights of preferred affinity terms (and 1 for a placed pod's required affinity)
between the pod and each placed pod in the node's domains, minus those of preferred
anti-affinity terms, either way round.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import attrs

__all__ = ["HOSTNAME_LABEL", "NODE_AFFINITY_REASON", "ZONE_LABEL", "InterPodAffinity", "NamespaceLabels", "PodTerm", "int_field",
           "no_namespace_labels", "node_affinity_matches", "node_affinity_score", "node_selector_term_matches", "pod_terms",
           "selector_matches"]

HOSTNAME_LABEL = "kubernetes.io/hostname"
ZONE_LABEL = "topology.kubernetes.io/zone"
NODE_AFFINITY_REASON = "node(s) didn't match Pod's node affinity/selector"
AFFINITY_REASON = "node(s) didn't match pod affinity rules"
ANTI_AFFINITY_REASON = "node(s) didn't match pod anti-affinity rules"
EXISTING_ANTI_AFFINITY_REASON = "node(s) didn't satisfy existing pods anti-affinity rules"
HARD_AFFINITY_WEIGHT = 1  # kube-scheduler's hardPodAffinityWeight: a placed pod's required affinity as a preference


def _integer(text: object) -> int | None:
    try:
        return int(str(text))
    except ValueError:
        return None


def int_field(value: object, default: int) -> int:
    """An integer field of a spec (``weight``, ``maxSkew``); ``default`` when it is none."""
    number = _integer(value) if isinstance(value, (int, str)) and not isinstance(value, bool) else None
    return default if number is None else number


def _requirement_matches(req: Mapping[str, Any], value_of: Callable[[str], str | None], *, numeric: bool) -> bool:
    """One requirement (key, operator, values); an operator not known (or Gt/Lt where only
    set operators are allowed) matches nothing."""
    op, values = req.get("operator"), [str(v) for v in req.get("values") or ()]
    value = value_of(str(req.get("key", "")))
    if op == "In":
        return value is not None and value in values
    if op == "NotIn":
        return value is None or value not in values
    if op == "Exists":
        return value is not None
    if op == "DoesNotExist":
        return value is None
    if numeric and op in ("Gt", "Lt") and value is not None and len(values) == 1:
        have, bound = _integer(value), _integer(values[0])
        if have is None or bound is None:
            return False
        return have > bound if op == "Gt" else have < bound
    return False


def selector_matches(selector: Mapping[str, Any] | None, labels: Mapping[str, str]) -> bool:
    """A LabelSelector (``matchLabels`` and ``matchExpressions`` ANDed): None matches
    nothing, ``{}`` everything."""
    if selector is None:
        return False
    if any(labels.get(k) != v for k, v in (selector.get("matchLabels") or {}).items()):
        return False
    return all(_requirement_matches(req, labels.get, numeric=False) for req in selector.get("matchExpressions") or ())


def _labels(obj: Mapping[str, Any]) -> Mapping[str, str]:
    return (obj.get("metadata") or {}).get("labels") or {}


def node_selector_term_matches(term: Mapping[str, Any], node: Mapping[str, Any]) -> bool:
    exprs, fields = term.get("matchExpressions") or (), term.get("matchFields") or ()
    if not exprs and not fields:
        return False
    labels, name = _labels(node), (node.get("metadata") or {}).get("name")
    by_field = {"metadata.name": name}
    return (all(_requirement_matches(r, labels.get, numeric=True) for r in exprs)
            and all(_requirement_matches(r, by_field.get, numeric=False) for r in fields))


def _node_affinity(pod: Mapping[str, Any]) -> Mapping[str, Any]:
    return (((pod.get("spec") or {}).get("affinity") or {}).get("nodeAffinity")) or {}


def node_affinity_matches(pod: Mapping[str, Any], node: Mapping[str, Any]) -> bool:
    """``nodeSelector`` and the required node affinity both hold on ``node``."""
    labels = _labels(node)
    if any(labels.get(k) != v for k, v in ((pod.get("spec") or {}).get("nodeSelector") or {}).items()):
        return False
    required = _node_affinity(pod).get("requiredDuringSchedulingIgnoredDuringExecution")
    if required is None:
        return True
    return any(node_selector_term_matches(term, node) for term in required.get("nodeSelectorTerms") or ())


def node_affinity_score(pod: Mapping[str, Any], node: Mapping[str, Any]) -> int:
    """The sum of the weights of the preferred node affinity terms ``node`` matches."""
    return sum(int_field(p.get("weight"), 0) for p in _node_affinity(pod).get("preferredDuringSchedulingIgnoredDuringExecution") or ()
               if node_selector_term_matches(p.get("preference") or {}, node))


NamespaceLabels = Callable[[str], Mapping[str, str]]  # a namespace's name -> its labels ({} when not known)


def no_namespace_labels(namespace: str) -> Mapping[str, str]:
    return {}


@attrs.frozen(kw_only=True)
class PodTerm:
    """A pod (anti-)affinity term: its pod selector, the namespaces it lists (its own pod's
    when it lists none and has no namespace selector) and its namespace selector."""
    selector: Mapping[str, Any] | None
    namespaces: tuple[str, ...]
    namespace_selector: Mapping[str, Any] | None
    topology_key: str
    weight: int = 0

    def matches(self, pod: Mapping[str, Any], namespace_labels: NamespaceLabels = no_namespace_labels) -> bool:
        namespace = (pod.get("metadata") or {}).get("namespace", "")
        if namespace not in self.namespaces and not (
                self.namespace_selector is not None and selector_matches(self.namespace_selector, namespace_labels(namespace))):
            return False
        return selector_matches(self.selector, _labels(pod))


def pod_terms(pod: Mapping[str, Any], kind: str, *, required: bool) -> tuple[PodTerm, ...]:
    """The required (or preferred, with their weights) terms of ``kind`` (``podAffinity``
    or ``podAntiAffinity``) of ``pod``."""
    section = (((pod.get("spec") or {}).get("affinity") or {}).get(kind)) or {}
    own = (pod.get("metadata") or {}).get("namespace", "")
    out = []
    if required:
        entries = [(term, 0) for term in section.get("requiredDuringSchedulingIgnoredDuringExecution") or ()]
    else:
        entries = [(w.get("podAffinityTerm") or {}, int_field(w.get("weight"), 0))
                   for w in section.get("preferredDuringSchedulingIgnoredDuringExecution") or ()]
    for term, weight in entries:
        listed = tuple(str(n) for n in term.get("namespaces") or ())
        ns_selector = term.get("namespaceSelector")
        out.append(PodTerm(selector=term.get("labelSelector"), namespace_selector=ns_selector, weight=weight,
                           namespaces=listed or (() if ns_selector is not None else (own,)),
                           topology_key=str(term.get("topologyKey", ""))))
    return tuple(out)


Placed = Sequence[tuple[Mapping[str, Any], Mapping[str, Any]]]  # (node, pod) of every pod placed on a node


class InterPodAffinity:
    """The InterPodAffinity filter and raw score of ``pod`` among ``placed`` pods;
    ``namespace_labels`` gives the labels of a namespace (for namespace selectors)."""

    def __init__(self, pod: Mapping[str, Any], placed: Placed, namespace_labels: NamespaceLabels = no_namespace_labels) -> None:
        self.required = pod_terms(pod, "podAffinity", required=True)
        self.required_anti = pod_terms(pod, "podAntiAffinity", required=True)
        preferred = pod_terms(pod, "podAffinity", required=False)
        preferred_anti = pod_terms(pod, "podAntiAffinity", required=False)
        # (topology key, value) -> placed pods there that matter to the pod's required terms
        self.affinity_counts: dict[tuple[str, str], int] = {}
        self.anti_counts: dict[tuple[str, str], int] = {}
        self.existing_anti: dict[tuple[str, str], int] = {}  # domains a placed pod's anti-affinity forbids
        self.topology_score: dict[tuple[str, str], int] = {}

        def add(into: dict[tuple[str, str], int], term: PodTerm, node: Mapping[str, Any], n: int) -> None:
            value = _labels(node).get(term.topology_key)
            if value is not None:
                into[(term.topology_key, value)] = into.get((term.topology_key, value), 0) + n
        for node, other in placed:
            if self.required and all(t.matches(other, namespace_labels) for t in self.required):
                for term in self.required:
                    add(self.affinity_counts, term, node, 1)
            for term in self.required_anti:
                if term.matches(other, namespace_labels):
                    add(self.anti_counts, term, node, 1)
            for term in pod_terms(other, "podAntiAffinity", required=True):
                if term.matches(pod, namespace_labels):
                    add(self.existing_anti, term, node, 1)
            for term in preferred:
                if term.matches(other, namespace_labels):
                    add(self.topology_score, term, node, term.weight)
            for term in preferred_anti:
                if term.matches(other, namespace_labels):
                    add(self.topology_score, term, node, -term.weight)
            for term in pod_terms(other, "podAffinity", required=True):
                if term.matches(pod, namespace_labels):
                    add(self.topology_score, term, node, HARD_AFFINITY_WEIGHT)
            for term in pod_terms(other, "podAffinity", required=False):
                if term.matches(pod, namespace_labels):
                    add(self.topology_score, term, node, term.weight)
            for term in pod_terms(other, "podAntiAffinity", required=False):
                if term.matches(pod, namespace_labels):
                    add(self.topology_score, term, node, -term.weight)
        self.first_of_group = not self.affinity_counts and all(t.matches(pod, namespace_labels) for t in self.required)

    def filter(self, node: Mapping[str, Any]) -> str:
        """Why ``node`` is not for the pod ("" when it is)."""
        labels = _labels(node)
        if self.required:
            if any(t.topology_key not in labels for t in self.required):
                return AFFINITY_REASON
            if not all(self.affinity_counts.get((t.topology_key, labels[t.topology_key]), 0) > 0 for t in self.required) \
                    and not self.first_of_group:
                return AFFINITY_REASON
        if any(self.anti_counts.get((t.topology_key, labels[t.topology_key]), 0) > 0
               for t in self.required_anti if t.topology_key in labels):
            return ANTI_AFFINITY_REASON
        if any(self.existing_anti.get((key, labels[key]), 0) > 0 for key in sorted(labels)):
            return EXISTING_ANTI_AFFINITY_REASON
        return ""

    def score(self, node: Mapping[str, Any]) -> int:
        """The raw preference (may be negative) for ``node``."""
        labels = _labels(node)
        return sum(n for (key, value), n in sorted(self.topology_score.items()) if labels.get(key) == value)
