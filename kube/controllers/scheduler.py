"""The scheduler (kube-scheduler, one profile): for each pod of ``schedulerName`` without
a node, *filter* the nodes (Ready, schedulable, ``nodeSelector`` and required node
affinity, taints with effect NoSchedule/NoExecute tolerated, requests within allocatable
minus what is bound there, then, against the pods placed, DoNotSchedule topology spread
and inter-pod affinity and anti-affinity: :mod:`kube.controllers.affinity`,
:mod:`kube.controllers.topology_spread`) then *score* them (least allocated, balanced
allocation, preferred node and pod affinity, ScheduleAnyway spread:
:mod:`kube.controllers.scheduling`; ties to the node name) and bind the pod through
``pods/<name>/binding`` with the pod's uid as a precondition.  A pod bound by this
scheduler counts on its node (*assumed*: for resources, affinity and spread) until the
informer shows the binding, so a lagging cache does not double-book a node.  A pod that
fits nowhere stays Pending with condition PodScheduled=False, reason Unschedulable
(FailedScheduling, saying how many nodes each filter rejected), and is tried again with
backoff and whenever a node changes; if it
has a higher ``spec.priority`` than pods on some node, those are preempted
(:mod:`kube.controllers.preemption`) and the node is its ``status.nominatedNodeName``.
"""

from __future__ import annotations

from raftkv.tasks import Runtime

from ..client import KubeClient
from ..errors import ApiError
from .affinity import NODE_AFFINITY_REASON, node_affinity_matches
from .preemption import pick_preemption, pod_priority
from .replicaset import is_active
from .resources import RESOURCES, node_allocatable, pod_requests
from .runtime import Controller, Result, SharedInformers
from .scheduling import SchedulingCycle, failed_scheduling_message

__all__ = ["BUG_AFFINITY_NO_ASSUME", "BUG_NO_ASSUME", "Scheduler", "fits", "tolerates"]

#: the catalogued bug (raftkv.bugs): bound pods the cache does not show yet are not counted
BUG_NO_ASSUME = "scheduler_stale_cache_double_book"
#: the catalogued bug: assumed pods count for resources but not for inter-pod affinity and spread
BUG_AFFINITY_NO_ASSUME = "scheduler_affinity_ignores_assumed"


def _node_ready(node: dict) -> bool:
    return any(c.get("type") == "Ready" and c.get("status") == "True"
               for c in (node.get("status") or {}).get("conditions") or ())


def tolerates(pod: dict, taint: dict) -> bool:
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


def fits(pod: dict, node: dict, used: dict[str, int]) -> str:
    """Why ``pod`` cannot go to ``node`` ("" when it can)."""
    if not _node_ready(node):
        return "node not ready"
    if (node.get("spec") or {}).get("unschedulable"):
        return "node unschedulable"
    if not node_affinity_matches(pod, node):
        return NODE_AFFINITY_REASON
    for taint in (node.get("spec") or {}).get("taints") or ():
        if not tolerates(pod, taint):
            return f"node(s) had untolerated taint {{{taint.get('key')}: {taint.get('value', '')}}}"
    alloc = node_allocatable(node)
    need = pod_requests(pod)
    for res in RESOURCES:
        if res in alloc and used.get(res, 0) + need[res] > alloc[res]:
            return f"Insufficient {res}"
    return ""


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
        self.controller.watch("nodes", lambda node: self._unscheduled())
        self.assumed: dict[str, tuple[str, dict, int]] = {}  # pod key -> (node, the pod bound there, since)
        self.assume_ttl_us = round(assume_ttl_s * 1_000_000)
        self.bound = 0
        self.unschedulable = 0
        self.preempted = 0
        # pod key -> the node this scheduler nominated it to (its own word, ahead of the cache)
        self.nominations: dict[str, str] = {}

    async def run(self) -> None:
        await self.controller.run()

    def _unscheduled(self) -> list[str]:
        return [key for key in sorted(self.pods.cache) if self._wants(self.pods.cache[key])]

    def _wants(self, pod: dict) -> bool:
        spec = pod.get("spec") or {}
        return (not spec.get("nodeName") and spec.get("schedulerName", "default-scheduler") == self.scheduler_name
                and is_active(pod))

    def usage(self, placed: list[tuple[str, dict, bool]] | None = None) -> dict[str, dict[str, int]]:
        """What is bound to each node (the requests of ``placed``, by default :meth:`placed`)."""
        used: dict[str, dict[str, int]] = {}
        for node, pod, assumed in self.placed() if placed is None else placed:
            if assumed and BUG_NO_ASSUME in self.bugs:
                continue
            into = used.setdefault(node, {})
            for res, n in pod_requests(pod).items():
                into[res] = into.get(res, 0) + n
        return used

    def placed(self) -> list[tuple[str, dict, bool]]:
        """(node, pod, assumed) of every pod on a node: the informer's bound pods not
        finished (being deleted included: a graceful deletion ends when the kubelet stopped
        the pod) plus assumed ones (an assumed pod is forgotten once the cache shows it
        bound or gone, or after ``assume_ttl_s``: a binding of unknown outcome that never
        happened)."""
        out = []
        for key in sorted(self.pods.cache):
            pod = self.pods.cache[key]
            node = (pod.get("spec") or {}).get("nodeName")
            if node and (pod.get("status") or {}).get("phase") not in ("Succeeded", "Failed"):
                out.append((node, pod, False))
        now = self.rt.monotonic_us()
        for key in sorted(self.assumed):
            node, bound, since_us = self.assumed[key]
            pod = self.pods.cache.get(key)
            if (pod is None or not is_active(pod) or (pod.get("spec") or {}).get("nodeName")
                    or now - since_us > self.assume_ttl_us):
                del self.assumed[key]
            else:
                out.append((node, bound, True))
        return out

    def _cycle(self, pod: dict, placed: list[tuple[str, dict, bool]]) -> SchedulingCycle:
        """``pod``'s filters and scores against the pods placed on known nodes."""
        nodes = self.nodes.cache
        counted = [(nodes[node], other) for node, other, assumed in placed
                   if node in nodes and not (assumed and BUG_AFFINITY_NO_ASSUME in self.bugs)]
        return SchedulingCycle(pod, nodes, counted)

    def _with_nominated(self, pod: dict, used: dict[str, dict[str, int]]) -> dict[str, dict[str, int]]:
        """``used`` plus the pending pods nominated to a node (after a preemption) whose
        priority is at least ``pod``'s: the room they preempted is theirs."""
        priority = pod_priority(pod)
        out = used
        for key in sorted(self.pods.cache):
            other = self.pods.cache[key]
            node = (other.get("status") or {}).get("nominatedNodeName") or self.nominations.get(key)
            if (node and other is not pod and self._wants(other) and pod_priority(other) >= priority):
                if out is used:
                    out = {name: dict(amounts) for name, amounts in used.items()}
                into = out.setdefault(node, {})
                for res, n in pod_requests(other).items():
                    into[res] = into.get(res, 0) + n
        return out

    async def _preempt(self, pod: dict, used: dict[str, dict[str, int]], cycle: SchedulingCycle) -> None:
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
        by_node: dict[str, list[dict]] = {}
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

    async def reconcile(self, key: str) -> Result | None:
        pod = self.pods.cache.get(key)
        if pod is None or not self._wants(pod):
            return None
        placed = self.placed()
        used = self._with_nominated(pod, self.usage(placed))
        if key in self.assumed:
            return Result(requeue_after_s=1.0)  # a binding of ours not seen yet
        cycle = self._cycle(pod, placed)
        reasons: dict[str, int] = {}
        feasible: list[str] = []
        for name in sorted(self.nodes.cache):
            node = self.nodes.cache[name]
            why = fits(pod, node, used.get(name, {})) or cycle.filter(node)
            if why:
                reasons[why] = reasons.get(why, 0) + 1
            else:
                feasible.append(name)
        scores = cycle.scores([(self.nodes.cache[name], used.get(name, {})) for name in feasible])
        best: tuple[int, str] | None = None
        for score, name in zip(scores, feasible, strict=True):
            if best is None or score > best[0]:
                best = (score, name)  # ties to the first name
        ns, name = pod["metadata"]["namespace"], pod["metadata"]["name"]
        if best is None:
            self.unschedulable += 1
            message = failed_scheduling_message(len(self.nodes.cache), reasons)
            conditions = [c for c in (pod.get("status") or {}).get("conditions") or () if c.get("type") != "PodScheduled"]
            await self.client.patch("pods", name, {"status": {"conditions": [*conditions, {
                "type": "PodScheduled", "status": "False", "reason": "Unschedulable", "message": message}]}},
                ns, subresource="status")
            self.rt.record("scheduler.failed_scheduling", pod=key, message=message)
            await self._preempt(pod, used, cycle)
            raise ApiError({"code": 409, "reason": "Unschedulable", "message": message})  # requeue with backoff
        node_name = best[1]
        self.assumed[key] = (node_name, {**pod, "spec": {**pod["spec"], "nodeName": node_name}}, self.rt.monotonic_us())
        try:
            await self.client.bind(ns, name, node_name, uid=pod["metadata"]["uid"])
        except ApiError as exc:
            if not exc.unknown:
                self.assumed.pop(key, None)  # certainly not bound by us (409: bound already, or gone)
            if exc.code in (404, 409):
                return None
            raise
        self.bound += 1
        self.rt.record("scheduler.bound", pod=key, node=node_name)
        return None

