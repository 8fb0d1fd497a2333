"""The scheduler (kube-scheduler, one profile): for each pod of ``schedulerName`` without
a node, *filter* the nodes (Ready, schedulable, ``nodeSelector`` and required node
affinity, taints with effect NoSchedule/NoExecute tolerated, requests within allocatable
minus what is bound there, then, against the pods placed, DoNotSchedule topology spread
and inter-pod affinity and anti-affinity: :mod:`kube.controllers.affinity`,
:mod:`kube.controllers.topology_spread`) then *score* them (least allocated, balanced
allocation, preferred node and pod affinity, ScheduleAnyway spread:
:mod:`kube.controllers.scheduling`; ties to the node name) and bind the pod through
``pods/<name>/binding`` with the pod's uid as a precondition.  The binding runs in a task
of its own (kube-scheduler's binding cycle), so the next pod is scheduled while it is
under way; a pod this scheduler picked a node for counts on that node (*assumed*: for
resources, affinity and spread) until the informer shows the binding, so neither the
bindings under way nor a lagging cache double-book a node.  A binding that fails is
forgotten (404/409) or tried again with backoff.  A pod that
fits nowhere stays Pending with condition PodScheduled=False, reason Unschedulable
(FailedScheduling, saying how many nodes each filter rejected), and is tried again with
backoff and whenever a node changes; if it
has a higher ``spec.priority`` than pods on some node, those are preempted
(:mod:`kube.controllers.preemption`) and the node is its ``status.nominatedNodeName``.

What the informer shows is kept as indexes updated from its events (the pods placed on
each node and what they use, the pending pods, the nominated ones), so a scheduling cycle
does not go over every pod.  A pod that no inter-pod (anti-)affinity, spread constraint or
preferred node affinity concerns (its own, or a placed pod's) and no nomination has a
node's score from the node's allocatable and usage alone: nodes with equal (allocatable,
usage) form a group with one score, and the groups are tried best score first, each for
its first node by name that passes the node's own filters.  A pod whose only other concern
is its default topology spreading (:mod:`kube.controllers.topology_spread`) is picked the
same way, from the matching pods per node kept for its selector
(:mod:`kube.controllers.spread_index`) and the nodes passing its node filters, each group
tried until a node with the best spread score.  That picks what the full
filter-and-score scan picks (:meth:`Scheduler.pick_by_scan`, which every other pod gets).
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Mapping
from typing import Any

from raftkv.tasks import Runtime

from ..client import KubeClient
from ..errors import ApiError
from ..informer import object_key
from .affinity import NODE_AFFINITY_REASON, ZONE_LABEL, node_affinity_matches, selector_matches
from .preemption import pick_preemption, pod_priority
from .replicaset import is_active
from .resources import RESOURCES, node_allocatable, pod_requests
from .runtime import Controller, Listener, Result, SharedInformers
from .scheduling import (
    MAX_NODE_SCORE,
    SCORE_WEIGHTS,
    SchedulingCycle,
    failed_scheduling_message,
    weighted_resource_score,
)
from .spread_index import EligibleNodes, NodeClass, SelectorCounts
from .topology_spread import SYSTEM_DEFAULT_SKEWS, default_spread_selector, round_half_away

__all__ = ["BUG_AFFINITY_NO_ASSUME", "BUG_NO_ASSUME", "Scheduler", "fits", "tolerates"]

#: the catalogued bug (raftkv.bugs): bound pods the cache does not show yet are not counted
BUG_NO_ASSUME = "scheduler_stale_cache_double_book"
#: the catalogued bug: assumed pods count for resources but not for inter-pod affinity and spread
BUG_AFFINITY_NO_ASSUME = "scheduler_affinity_ignores_assumed"


def _node_ready(node: Mapping[str, Any]) -> bool:
    return any(c.get("type") == "Ready" and c.get("status") == "True"
               for c in (node.get("status") or {}).get("conditions") or ())


def tolerates(pod: Mapping[str, Any], taint: Mapping[str, Any]) -> bool:
    if taint.get("effect") not in ("NoSchedule", "NoExecute"):
        return True
    for tol in (pod.get("spec") or {}).get("tolerations") or ():
        if tol.get("effect") not in (None, "", taint.get("effect")):
            continue
        if tol.get("operator") == "Exists" and tol.get("key") in (None, "", taint.get("key")):
            return True
        if tol.get("key") == taint.get("key") and tol.get("value", "") == taint.get("value", ""):
            return True
    return False


#: A node group: its allocatable resources and its usage, each as sorted (resource, amount) pairs.
_GroupKey = tuple[tuple[tuple[str, int], ...], tuple[tuple[str, int], ...]]


def node_filter(pod: Mapping[str, Any], node: Mapping[str, Any]) -> str:
    """Why ``node`` itself keeps ``pod`` off ("" when it does not): the filters that need
    neither the node's usage nor the other pods."""
    if not _node_ready(node):
        return "node not ready"
    if (node.get("spec") or {}).get("unschedulable"):
        return "node unschedulable"
    if not node_affinity_matches(pod, node):
        return NODE_AFFINITY_REASON
    for taint in (node.get("spec") or {}).get("taints") or ():
        if not tolerates(pod, taint):
            return f"node(s) had untolerated taint {{{taint.get('key')}: {taint.get('value', '')}}}"
    return ""


def resources_filter(alloc: dict[str, int], used: dict[str, int], need: dict[str, int]) -> str:
    for res in RESOURCES:
        if res in alloc and used.get(res, 0) + need[res] > alloc[res]:
            return f"Insufficient {res}"
    return ""


def fits(pod: dict[str, Any], node: dict[str, Any], used: dict[str, int]) -> str:
    """Why ``pod`` cannot go to ``node`` ("" when it can)."""
    return node_filter(pod, node) or resources_filter(node_allocatable(node), used, pod_requests(pod))


def _has_pod_terms(pod: dict[str, Any]) -> bool:
    affinity = (pod.get("spec") or {}).get("affinity") or {}
    return bool(affinity.get("podAffinity") or affinity.get("podAntiAffinity"))


def _needs_cycle(pod: dict[str, Any]) -> bool:
    """Whether ``pod``'s own terms make its scores or filters depend on more than each
    node's allocatable, usage and the node itself."""
    spec = pod.get("spec") or {}
    node_affinity = (spec.get("affinity") or {}).get("nodeAffinity") or {}
    return bool(_has_pod_terms(pod) or spec.get("topologySpreadConstraints")
                or node_affinity.get("preferredDuringSchedulingIgnoredDuringExecution"))


_NOTHING: dict[str, int] = {}


class Scheduler:
    def __init__(self, rt: Runtime, client: KubeClient, informers: SharedInformers, *,
                 scheduler_name: str = "default-scheduler", assume_ttl_s: float = 5.0, bugs: frozenset[str] = frozenset()) -> None:
        self.rt = rt
        self.client = client
        self.scheduler_name = scheduler_name
        self.bugs = bugs
        self.controller = Controller(rt, "scheduler", informers, self.reconcile, primary="pods",
                                     base_backoff_s=0.1, max_backoff_s=2.0)
        self.pods = self.controller.primary
        self.nodes = informers.get("nodes")
        # what default topology spreading and namespace selectors read, from informers as
        # kube-scheduler's listers (there is no ReplicationController kind to read)
        self.services = informers.get("services")
        self.replicasets = informers.get("replicasets")
        self.statefulsets = informers.get("statefulsets")
        self.namespaces = informers.get("namespaces")
        self.controller.watch("nodes", lambda node: self._unscheduled())
        self.assumed: dict[str, tuple[str, dict[str, Any], int]] = {}  # pod key -> (node, the pod bound there, since)
        self.assume_ttl_us = round(assume_ttl_s * 1_000_000)
        self.bound = 0
        self.unschedulable = 0
        self.preempted = 0
        # pod key -> the node this scheduler nominated it to (its own word, ahead of the cache)
        self.nominations: dict[str, str] = {}
        self._binding: dict[str, Any] = {}  # pod key -> the task binding it
        # Indexes of the pod cache, kept from the informer's events: the placed pods (bound,
        # not finished) with their requests, what they use on each node, those with pod
        # (anti-)affinity terms, the pending pods of this scheduler, the nominated pods.
        self._placed: dict[str, tuple[str, dict[str, Any], dict[str, int]]] = {}
        self._bound_use: dict[str, dict[str, int]] = {}
        self._with_terms: dict[str, None] = {}
        self._pending: dict[str, None] = {}
        self._nominated: dict[str, None] = {}
        self._selector_counts = SelectorCounts()  # placed pods per node, per default spreading selector
        self._eligible = EligibleNodes(node_filter)  # nodes passing the node's own filters, per pod signature
        informers.listen("pods", Listener(on_add=self._pod_changed, on_update=lambda old, new: self._pod_changed(new),
                                          on_delete=self._pod_gone))
        # Nodes grouped by (allocatable, usage): group key -> its node names, sorted; a
        # node's group key; nodes whose object or usage changed since (_dirty).
        self._groups: dict[_GroupKey, list[str]] = {}
        self._group_of: dict[str, _GroupKey] = {}
        self._dirty: dict[str, None] = {}
        informers.listen("nodes", Listener(on_add=self._node_changed, on_update=lambda old, new: self._node_changed(new),
                                           on_delete=self._node_changed))
        self._allocatable: dict[str, tuple[dict[str, Any], dict[str, int]]] = {}  # name -> (node object, its allocatable)

    async def run(self) -> None:
        try:
            await self.controller.run()
        finally:
            for key in sorted(self._binding):  # (a stopped scheduler binds nothing more)
                self._binding.pop(key).cancel()

    def _unscheduled(self) -> list[str]:
        return sorted(self._pending)

    def _wants(self, pod: dict[str, Any]) -> bool:
        spec = pod.get("spec") or {}
        return (not spec.get("nodeName") and spec.get("schedulerName", "default-scheduler") == self.scheduler_name
                and is_active(pod))

    def _node_changed(self, node: dict[str, Any]) -> None:
        self._dirty[node["metadata"]["name"]] = None
        self._eligible.changed(node["metadata"]["name"])

    def default_selector(self, pod: dict[str, Any]) -> dict[str, Any] | None:
        """``pod``'s default spreading selector (None: no default spreading), from the
        Service, ReplicaSet and StatefulSet informers' caches."""
        if (pod.get("spec") or {}).get("topologySpreadConstraints"):
            return None
        namespace = pod["metadata"].get("namespace", "")
        services = [svc for key, svc in sorted(self.services.cache.items()) if key.startswith(namespace + "/")]
        caches = {"replicasets": self.replicasets.cache, "statefulsets": self.statefulsets.cache}

        def owner(resource: str, ns: str, name: str) -> dict[str, Any] | None:
            cache = caches.get(resource)
            return None if cache is None else cache.get(f"{ns}/{name}")
        return default_spread_selector(pod, services, owner)

    def namespace_labels(self, namespace: str) -> dict[str, str]:
        return ((self.namespaces.cache.get(namespace) or {}).get("metadata") or {}).get("labels") or {}

    def _pod_gone(self, pod: dict[str, Any]) -> None:
        key = object_key(pod)
        self._pending.pop(key, None)
        self._nominated.pop(key, None)
        self._with_terms.pop(key, None)
        self._selector_counts.remove(key)
        placed = self._placed.pop(key, None)
        if placed is not None:
            self._add_use(placed[0], placed[2], -1)

    def _pod_changed(self, pod: dict[str, Any]) -> None:
        self._pod_gone(pod)
        key = object_key(pod)
        if self._wants(pod):
            self._pending[key] = None
        if (pod.get("status") or {}).get("nominatedNodeName"):
            self._nominated[key] = None
        node = (pod.get("spec") or {}).get("nodeName")
        if node and (pod.get("status") or {}).get("phase") not in ("Succeeded", "Failed"):
            need = pod_requests(pod)
            self._placed[key] = (node, pod, need)
            self._add_use(node, need, 1)
            self._selector_counts.add(key, node, pod)
            if _has_pod_terms(pod):
                self._with_terms[key] = None

    def _add_use(self, node: str, need: dict[str, int], sign: int) -> None:
        self._dirty[node] = None
        into = self._bound_use.setdefault(node, {})
        for res, n in need.items():
            into[res] = into.get(res, 0) + sign * n
        if not any(into.values()):
            del self._bound_use[node]

    def _node_allocatable(self, name: str, node: dict[str, Any]) -> dict[str, int]:
        cached = self._allocatable.get(name)
        if cached is None or cached[0] is not node:
            cached = self._allocatable[name] = (node, node_allocatable(node))
        return cached[1]

    def usage(self) -> dict[str, dict[str, int]]:
        """What is placed on each node: the requests of the informer's placed pods (an
        index) plus the assumed ones'."""
        return self._usage(self._assumed_pods())

    def _usage(self, assumed: list[tuple[str, dict[str, Any]]]) -> dict[str, dict[str, int]]:
        used = dict(self._bound_use)  # (an inner dict is copied before it changes)
        if BUG_NO_ASSUME not in self.bugs:
            for node, pod in assumed:
                into = used[node] = dict(used.get(node, _NOTHING))
                for res, n in pod_requests(pod).items():
                    into[res] = into.get(res, 0) + n
        return used

    def _assumed_pods(self) -> list[tuple[str, dict[str, Any]]]:
        """(node, pod) of the assumed pods still pending, by pod key (an assumed pod is
        forgotten once the cache shows it bound or gone, or after ``assume_ttl_s``: a
        binding of unknown outcome that never happened)."""
        out = []
        now = self.rt.monotonic_us()
        for key in sorted(self.assumed):
            node, bound, since_us = self.assumed[key]
            pod = self.pods.cache.get(key)
            if (pod is None or not is_active(pod) or (pod.get("spec") or {}).get("nodeName")
                    or now - since_us > self.assume_ttl_us):
                del self.assumed[key]
                self._dirty[node] = None
            else:
                out.append((node, bound))
        return out

    def placed(self, assumed: list[tuple[str, dict[str, Any]]] | None = None) -> list[tuple[str, dict[str, Any], bool]]:
        """(node, pod, assumed) of every pod on a node: the informer's bound pods not
        finished (being deleted included: a graceful deletion ends when the kubelet stopped
        the pod) plus the assumed ones (by default :meth:`_assumed_pods`)."""
        out = [(self._placed[key][0], self._placed[key][1], False) for key in sorted(self._placed)]
        return out + [(node, pod, True) for node, pod in (self._assumed_pods() if assumed is None else assumed)]

    def _cycle(self, pod: dict[str, Any], placed: list[tuple[str, dict[str, Any], bool]]) -> SchedulingCycle:
        """``pod``'s filters and scores against the pods placed on known nodes."""
        nodes = self.nodes.cache
        counted = [(nodes[node], other) for node, other, assumed in placed
                   if node in nodes and not (assumed and BUG_AFFINITY_NO_ASSUME in self.bugs)]
        return SchedulingCycle(pod, nodes, counted, default_selector=self.default_selector(pod),
                               namespace_labels=self.namespace_labels)

    def _with_nominated(self, pod: dict[str, Any], used: dict[str, dict[str, int]]) -> dict[str, dict[str, int]]:
        """``used`` plus the pending pods nominated to a node (after a preemption) whose
        priority is at least ``pod``'s: the room they preempted is theirs."""
        priority = pod_priority(pod)
        out = used
        for key in sorted({**self._nominated, **dict.fromkeys(self.nominations)}):
            other = self.pods.cache.get(key)
            if other is None:
                continue
            node = (other.get("status") or {}).get("nominatedNodeName") or self.nominations.get(key)
            if (node and other is not pod and self._wants(other) and pod_priority(other) >= priority):
                if out is used:
                    out = {name: dict(amounts) for name, amounts in used.items()}
                into = out.setdefault(node, {})
                for res, n in pod_requests(other).items():
                    into[res] = into.get(res, 0) + n
        return out

    async def _preempt(self, pod: dict[str, Any], used: dict[str, dict[str, int]], cycle: SchedulingCycle) -> None:
        """Evict lower-priority pods from one node so that ``pod`` fits there
        (:mod:`kube.controllers.preemption`), and nominate that node for it.  A pod whose
        nominated node still has a lower-priority pod terminating preempts nothing more: it
        waits for its victims' graceful deletion (kube-scheduler's podEligibleToPreemptOthers)."""
        for stale in [k for k in self.nominations if not self._wants(self.pods.cache.get(k) or {"spec": {"nodeName": "-"}})]:
            del self.nominations[stale]  # bound or gone: its nomination is spent
        pod_key = f"{pod['metadata']['namespace']}/{pod['metadata']['name']}"
        nominated = (pod.get("status") or {}).get("nominatedNodeName") or self.nominations.get(pod_key)
        if nominated and any((other.get("spec") or {}).get("nodeName") == nominated
                             and other["metadata"].get("deletionTimestamp")
                             and pod_priority(other) < pod_priority(pod)
                             for other in self.pods.cache.values()):
            return
        by_node: dict[str, list[dict[str, Any]]] = {}
        for key in sorted(self.pods.cache):
            other = self.pods.cache[key]
            node = (other.get("spec") or {}).get("nodeName")
            if node and is_active(other):
                by_node.setdefault(node, []).append(other)
        choice = pick_preemption(pod, self.nodes.cache, by_node, used,  # (nodes the other pods rule out are no choice)
                                 lambda p, node, u: fits(p, node, u) or cycle.filter(node))
        if choice is None:
            return
        for victim in choice.victims:
            meta = victim["metadata"]
            await self.client.delete_if_present("pods", meta["name"], meta["namespace"], uid=meta["uid"])
            self.preempted += 1
        ns, name = pod["metadata"]["namespace"], pod["metadata"]["name"]
        self.nominations[pod_key] = choice.node
        await self.client.patch("pods", name, {"status": {"nominatedNodeName": choice.node}}, ns, subresource="status")
        self.rt.record("scheduler.preempted", pod=f"{ns}/{name}", node=choice.node,
                       victims=[v["metadata"]["name"] for v in choice.victims])

    def _refresh_groups(self, used: dict[str, dict[str, int]]) -> None:
        """Move the nodes whose object or usage changed to the group of their (allocatable,
        usage)."""
        for name in sorted(self._dirty):
            old = self._group_of.pop(name, None)
            if old is not None:
                names = self._groups[old]
                del names[bisect.bisect_left(names, name)]
                if not names:
                    del self._groups[old]
            node = self.nodes.cache.get(name)
            if node is None:
                continue
            alloc = self._node_allocatable(name, node)
            key = (tuple(sorted(alloc.items())), tuple(sorted((r, n) for r, n in used.get(name, _NOTHING).items() if n)))
            self._group_of[name] = key
            bisect.insort(self._groups.setdefault(key, []), name)
        self._dirty.clear()

    def pick_by_groups(self, pod: dict[str, Any], used: dict[str, dict[str, int]]) -> tuple[int, str] | None:
        """What :meth:`pick_by_scan` picks for a pod that no inter-pod affinity, spread
        constraint or preferred node affinity concerns (None when no node fits), without
        trying every node: the groups of nodes with equal (allocatable, usage), best score
        first, each for its first node by name that passes :func:`node_filter`.  ``used``
        must be what this scheduler's indexes give (:meth:`usage`)."""
        self._refresh_groups(used)
        need = pod_requests(pod)
        ranked = []
        for key in self._groups:
            alloc, on_node = dict(key[0]), dict(key[1])
            if not resources_filter(alloc, on_node, need):
                ranked.append((-weighted_resource_score(alloc, on_node, need), key))
        ranked.sort()
        best: tuple[int, str] | None = None
        for neg_score, key in ranked:
            if best is not None and -neg_score < best[0]:
                break
            for name in self._groups[key]:
                if best is not None and name >= best[1]:
                    break  # (an equal score: only an earlier name wins)
                if not node_filter(pod, self.nodes.cache[name]):
                    best = (-neg_score, name)
                    break
        return best

    def _spread_counts(self, pod: dict[str, Any], selector: dict[str, Any], assumed: list[tuple[str, dict[str, Any]]]) -> dict[str, int]:
        """Node -> the placed pods (assumed ones included) of ``pod``'s namespace, not being
        deleted, that ``selector`` matches."""
        namespace = pod["metadata"].get("namespace", "")
        counts = self._selector_counts.counts(namespace, selector, lambda: [
            (key, self._placed[key][0], self._placed[key][1]) for key in sorted(self._placed)])
        if BUG_AFFINITY_NO_ASSUME in self.bugs:
            return counts
        out = counts
        for node, other in assumed:
            meta = other["metadata"]
            if (meta.get("namespace", "") == namespace and not meta.get("deletionTimestamp")
                    and selector_matches(selector, meta.get("labels") or {})):
                if out is counts:
                    out = dict(counts)
                out[node] = out.get(node, 0) + 1
        return out

    def pick_spread_by_groups(self, pod: dict[str, Any], selector: dict[str, Any], used: dict[str, dict[str, int]],
                              assumed: list[tuple[str, dict[str, Any]]]) -> tuple[int, str] | None:
        """:meth:`pick_by_groups` for a pod whose only concern beyond resources is its
        default topology spreading with ``selector``: the feasible nodes are counted from
        the eligible-node index and the groups, the spread raw scores (which depend on a
        node's matching pods, its zone's and its labels) bounded by their extremes over the
        feasible nodes, and the groups tried best resource score first, each until a node
        with the best spread score."""
        self._refresh_groups(used)
        nodes = self.nodes.cache
        eligible, by_class = self._eligible.of(pod, nodes)
        need = pod_requests(pod)
        ranked = []
        by_class = dict(by_class)  # (then: of the feasible nodes)
        left_out: dict[str, None] = {}
        for key, names in self._groups.items():
            alloc, on_node = dict(key[0]), dict(key[1])
            if not resources_filter(alloc, on_node, need):
                ranked.append((-weighted_resource_score(alloc, on_node, need), key))
                continue
            for name in names:
                cls = eligible.get(name)
                if cls is not None:
                    by_class[cls] -= 1
                    left_out[name] = None
        feasible = sum(by_class.values())
        if not feasible:
            return None
        ranked.sort()
        (_host, host_skew), (_zone, zone_skew) = SYSTEM_DEFAULT_SKEWS
        host_weight = math.log(feasible + 2)
        zone_weight = math.log(len({zone or "" for (_h, zone), n in by_class.items() if n > 0}) + 2)
        on_nodes = self._spread_counts(pod, selector, assumed)
        in_zone: dict[str, int] = {}  # (the zone counts: nodes the pod's required node affinity admits)
        for name, n in on_nodes.items():
            node = nodes.get(name)
            if node is not None and node_affinity_matches(pod, node):
                zone = ((node.get("metadata") or {}).get("labels") or {}).get(ZONE_LABEL, "")
                in_zone[zone] = in_zone.get(zone, 0) + n

        def raw(cls: NodeClass, here: int) -> int:
            has_host, zone = cls
            total = here * host_weight + host_skew - 1 if has_host else 0.0
            if zone is not None:
                total += in_zone.get(zone, 0) * zone_weight + zone_skew - 1
            return round_half_away(total)
        low, high = None, 0
        busy: dict[NodeClass, int] = {}
        for name, n in on_nodes.items():
            cls = eligible.get(name)
            if n > 0 and cls is not None and name not in left_out:
                busy[cls] = busy.get(cls, 0) + 1
                r = raw(cls, n)
                low, high = r if low is None else min(low, r), max(high, r)
        for cls, n in by_class.items():
            if n > busy.get(cls, 0):
                r = raw(cls, 0)
                low, high = r if low is None else min(low, r), max(high, r)
        assert low is not None
        weight = SCORE_WEIGHTS["PodTopologySpread"]
        top = weight * MAX_NODE_SCORE
        best: tuple[int, str] | None = None
        for neg_score, key in ranked:
            score = -neg_score
            if best is not None and score + top < best[0]:
                break
            for name in self._groups[key]:
                if best is not None and (score + top < best[0] or (score + top == best[0] and name >= best[1])):
                    break
                cls = eligible.get(name)
                if cls is None:
                    continue
                r = raw(cls, on_nodes.get(name, 0))
                spread = MAX_NODE_SCORE if high == 0 else MAX_NODE_SCORE * (high + low - r) // high
                total = score + weight * spread
                if best is None or total > best[0] or (total == best[0] and name < best[1]):
                    best = (total, name)
                if spread == MAX_NODE_SCORE:
                    break  # (no later name of the group does better)
        return best

    def pick_by_scan(self, pod: dict[str, Any], used: dict[str, dict[str, int]], placed: list[tuple[str, dict[str, Any], bool]],
                     reasons: dict[str, int]) -> tuple[tuple[int, str] | None, SchedulingCycle]:
        """The best node for ``pod`` ((score, name): the highest score, then the first
        name), filtering and scoring every node against ``used`` and the ``placed`` pods;
        counts why nodes do not fit in ``reasons``.  Also the cycle it used."""
        cycle = self._cycle(pod, placed)
        need = pod_requests(pod)
        feasible: list[str] = []
        for name in sorted(self.nodes.cache):
            node = self.nodes.cache[name]
            why = (node_filter(pod, node) or resources_filter(self._node_allocatable(name, node), used.get(name, _NOTHING), need)
                   or cycle.filter(node))
            if why:
                reasons[why] = reasons.get(why, 0) + 1
            else:
                feasible.append(name)
        scores = cycle.scores([(self.nodes.cache[name], used.get(name, _NOTHING)) for name in feasible])
        best: tuple[int, str] | None = None
        for score, name in zip(scores, feasible, strict=True):
            if best is None or score > best[0]:
                best = (score, name)  # ties to the first name
        return best, cycle

    def _simple(self, pod: dict[str, Any], assumed: list[tuple[str, dict[str, Any]]]) -> bool:
        """Whether :meth:`pick_by_groups` picks for ``pod``: no term of its own, and no
        placed pod with pod (anti-)affinity terms (which may concern it)."""
        return not _needs_cycle(pod) and not self._with_terms and not any(_has_pod_terms(p) for _node, p in assumed)

    def assume(self, key: str, pod: dict[str, Any], node: str) -> None:
        """Count ``pod`` on ``node`` until the informer shows it bound (or ``assume_ttl_s``)."""
        self.assumed[key] = (node, {**pod, "spec": {**pod["spec"], "nodeName": node}}, self.rt.monotonic_us())
        self._dirty[node] = None

    def pick(self, pod: dict[str, Any], assumed: list[tuple[str, dict[str, Any]]] | None = None) -> tuple[
            tuple[int, str] | None, dict[str, dict[str, int]], SchedulingCycle | None, dict[str, int]]:
        """The node for ``pod`` ((score, name), None when none fits), what is used on each
        node, the full scan's cycle (None when :meth:`pick_by_groups` picked) and why nodes
        did not fit (counted by the full scan).  ``assumed``: :meth:`_assumed_pods`."""
        assumed = self._assumed_pods() if assumed is None else assumed
        base = self._usage(assumed)
        used = self._with_nominated(pod, base)
        best: tuple[int, str] | None = None
        if used is base and self._simple(pod, assumed):
            selector = self.default_selector(pod)
            best = (self.pick_by_groups(pod, used) if selector is None
                    else self.pick_spread_by_groups(pod, selector, used, assumed))
        cycle: SchedulingCycle | None = None
        reasons: dict[str, int] = {}
        if best is None:  # the full scan (also for every node's reason when none fits)
            best, cycle = self.pick_by_scan(pod, used, self.placed(assumed), reasons)
        return best, used, cycle, reasons

    async def reconcile(self, key: str) -> Result | None:
        pod = self.pods.cache.get(key)
        if pod is None or not self._wants(pod):
            return None
        assumed = self._assumed_pods()
        if key in self.assumed:
            return Result(requeue_after_s=1.0)  # a binding of ours under way or not seen yet
        best, used, cycle, reasons = self.pick(pod, assumed)
        ns, name = pod["metadata"]["namespace"], pod["metadata"]["name"]
        if best is None:
            self.unschedulable += 1
            message = failed_scheduling_message(len(self.nodes.cache), reasons)
            conditions = [c for c in (pod.get("status") or {}).get("conditions") or () if c.get("type") != "PodScheduled"]
            await self.client.patch("pods", name, {"status": {"conditions": [*conditions, {
                "type": "PodScheduled", "status": "False", "reason": "Unschedulable", "message": message}]}},
                ns, subresource="status")
            self.rt.record("scheduler.failed_scheduling", pod=key, message=message)
            assert cycle is not None
            await self._preempt(pod, used, cycle)
            raise ApiError({"code": 409, "reason": "Unschedulable", "message": message})  # requeue with backoff
        node_name = best[1]
        self.assume(key, pod, node_name)
        # the binding cycle runs on its own, as kube-scheduler's does: the next pod is
        # scheduled meanwhile, with this one counted on its node as assumed
        self._binding[key] = self.rt.spawn(self._bind(key, pod, node_name), name=f"bind:{key}")
        return None

    async def _bind(self, key: str, pod: dict[str, Any], node_name: str) -> None:
        ns, name = pod["metadata"]["namespace"], pod["metadata"]["name"]
        try:
            await self.client.bind(ns, name, node_name, uid=pod["metadata"]["uid"])
        except ApiError as exc:
            self.rt.record("scheduler.bind_failed", pod=key, node=node_name, error=exc.reason)
            if not exc.unknown:
                # certainly not bound by us (409: bound already, or gone)
                if self.assumed.pop(key, None) is not None:
                    self._dirty[node_name] = None
            if exc.code not in (404, 409):
                self.controller.queue.add_rate_limited(key)  # tried again with backoff
            return
        finally:
            self._binding.pop(key, None)
        self.bound += 1
        self.rt.record("scheduler.bound", pod=key, node=node_name)
