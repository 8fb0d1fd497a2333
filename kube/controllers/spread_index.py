"""Indexes for the scheduler's pick of pods with default topology spreading
(:mod:`kube.controllers.topology_spread`'s system default constraints), kept from
informer events:

* :class:`SelectorCounts`: for each (namespace, selector) asked for, how many placed pods
  (not being deleted) of that namespace it matches on each node.  A selector is found
  from a pod's labels through one of its ``key=value`` requirements (its anchor), so a
  pod event costs the selectors anchored at its labels, not every selector;
* :class:`EligibleNodes`: for each set of the pod fields the node's own filters read
  (``nodeSelector``, required node affinity, tolerations), the nodes that pass them, with
  how many of each spread class (has the hostname label, zone label value).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from .affinity import HOSTNAME_LABEL, ZONE_LABEL, selector_matches

__all__ = ["EligibleNodes", "NodeClass", "SelectorCounts", "node_class"]

NodeClass = tuple[bool, str | None]  # (carries the hostname label, its zone label value or None)
_MAX_SIGNATURES = 16


def node_class(node: Mapping[str, Any]) -> NodeClass:
    labels = (node.get("metadata") or {}).get("labels") or {}
    return HOSTNAME_LABEL in labels, labels.get(ZONE_LABEL)


def _anchor(selector: Mapping[str, Any]) -> tuple[str, str] | None:
    """A ``key=value`` that every pod the selector matches carries, if it has one."""
    for key, value in sorted((selector.get("matchLabels") or {}).items()):
        return str(key), str(value)
    for req in selector.get("matchExpressions") or ():
        values: Sequence[Any] = req.get("values") or ()
        if req.get("operator") == "In" and len(values) == 1:
            return str(req.get("key")), str(values[0])
    return None


def selector_key(namespace: str, selector: Mapping[str, Any]) -> str:
    return json.dumps([namespace, selector], sort_keys=True)


class SelectorCounts:
    """Matching placed pods per node, for each (namespace, selector) asked for."""

    def __init__(self) -> None:
        self._selectors: dict[str, tuple[str, Mapping[str, Any]]] = {}
        self._counts: dict[str, dict[str, int]] = {}  # selector key -> node -> pods
        self._anchored: dict[tuple[str, str, str], list[str]] = {}  # (namespace, key, value) -> selector keys
        self._unanchored: dict[str, list[str]] = {}  # namespace -> selector keys
        self._pods: dict[str, tuple[str, list[str]]] = {}  # pod key -> (its node, the selectors counting it)

    def _matching(self, pod: Mapping[str, Any]) -> list[str]:
        meta = pod.get("metadata") or {}
        namespace, labels = meta.get("namespace", ""), meta.get("labels") or {}
        candidates = list(self._unanchored.get(namespace, ()))
        for key, value in labels.items():
            candidates += self._anchored.get((namespace, key, value), ())
        return [k for k in candidates if selector_matches(self._selectors[k][1], labels)]

    def add(self, key: str, node: str, pod: Mapping[str, Any]) -> None:
        """``pod`` (key ``key``) is placed on ``node``."""
        self.remove(key)
        if (pod.get("metadata") or {}).get("deletionTimestamp"):
            return
        matching = self._matching(pod)
        for sel in matching:
            into = self._counts[sel]
            into[node] = into.get(node, 0) + 1
        self._pods[key] = (node, matching)

    def remove(self, key: str) -> None:
        node, matching = self._pods.pop(key, ("", []))
        for sel in matching:
            into = self._counts[sel]
            into[node] -= 1
            if not into[node]:
                del into[node]

    def counts(self, namespace: str, selector: Mapping[str, Any], placed: Callable[[], list[tuple[str, str, Mapping[str, Any]]]]) -> dict[str, int]:
        """Node -> matching placed pods; a selector not asked for before is counted over
        ``placed()`` ((pod key, node, pod) of every placed pod) and kept from then on."""
        sel = selector_key(namespace, selector)
        if sel not in self._counts:
            self._selectors[sel] = (namespace, selector)
            self._counts[sel] = {}
            anchor = _anchor(selector)
            if anchor is None:
                self._unanchored.setdefault(namespace, []).append(sel)
            else:
                self._anchored.setdefault((namespace, *anchor), []).append(sel)

            def labels_ok(pod: Mapping[str, Any]) -> bool:
                meta = pod.get("metadata") or {}
                return bool(meta.get("namespace", "") == namespace and not meta.get("deletionTimestamp")
                            and selector_matches(selector, meta.get("labels") or {}))

            for key, node, pod in placed():
                if key in self._pods and labels_ok(pod):
                    self._pods[key][1].append(sel)
                    self._counts[sel][node] = self._counts[sel].get(node, 0) + 1
        return self._counts[sel]


def filter_signature(pod: Mapping[str, Any]) -> str:
    """The pod fields the node's own filters read."""
    spec = pod.get("spec") or {}
    required = ((spec.get("affinity") or {}).get("nodeAffinity") or {}).get("requiredDuringSchedulingIgnoredDuringExecution")
    return json.dumps([spec.get("nodeSelector"), required, spec.get("tolerations")], sort_keys=True)


class _Eligible:
    def __init__(self, stale: dict[str, None]) -> None:
        self.nodes: dict[str, NodeClass] = {}  # the nodes passing, with their class
        self.by_class: dict[NodeClass, int] = {}
        self.stale = stale


class EligibleNodes:
    """The nodes that pass the node's own filters (``node_filter(pod, node) == ""``), for
    the last few filter signatures asked for."""

    def __init__(self, node_filter: Callable[[Mapping[str, Any], Mapping[str, Any]], str]) -> None:
        self.node_filter = node_filter
        self._by_signature: dict[str, _Eligible] = {}

    def changed(self, name: str) -> None:
        for entry in self._by_signature.values():
            entry.stale[name] = None

    def of(self, pod: Mapping[str, Any], nodes: Mapping[str, Mapping[str, Any]]) -> tuple[dict[str, NodeClass], dict[NodeClass, int]]:
        sig = filter_signature(pod)
        entry = self._by_signature.pop(sig, None)
        if entry is None:
            entry = _Eligible(dict.fromkeys(sorted(nodes)))
            while len(self._by_signature) >= _MAX_SIGNATURES:
                del self._by_signature[next(iter(self._by_signature))]
        self._by_signature[sig] = entry  # (most recently used last)
        for name in sorted(entry.stale):
            old = entry.nodes.pop(name, None)
            if old is not None:
                entry.by_class[old] -= 1
                if not entry.by_class[old]:
                    del entry.by_class[old]
            node = nodes.get(name)
            if node is not None and not self.node_filter(pod, node):
                cls = entry.nodes[name] = node_class(node)
                entry.by_class[cls] = entry.by_class.get(cls, 0) + 1
        entry.stale.clear()
        return entry.nodes, entry.by_class
