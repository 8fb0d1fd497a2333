"""The scheduler (kube-scheduler, one profile): for each pod of ``schedulerName`` without
a node, *filter* the nodes (Ready, schedulable, ``nodeSelector`` labels, taints with
effect NoSchedule/NoExecute tolerated, requests within allocatable minus what is bound
there) then *score* them (least allocated: the mean free share of cpu and memory, ties to
the node name) and bind the pod through ``pods/<name>/binding`` with the pod's uid as a
precondition.  A pod bound by this scheduler counts on its node (*assumed*) until the
informer shows the binding, so a lagging cache does not double-book a node.  A pod that
fits nowhere stays Pending with condition PodScheduled=False, reason Unschedulable
(FailedScheduling), and is tried again with backoff and whenever a node changes.
"""

from __future__ import annotations

import heapq

from raftkv.tasks import Runtime

from ..client import KubeClient
from ..errors import ApiError
from ..informer import object_key
from .replicaset import is_active
from .resources import RESOURCES, node_allocatable, pod_requests
from .runtime import Controller, Listener, Result, SharedInformers

__all__ = ["Scheduler", "fits", "tolerates"]


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


def fits(pod: dict, node: dict, used: dict[str, int], *, alloc: dict[str, int] | None = None,
         need: dict[str, int] | None = None) -> str:
    """Why ``pod`` cannot go to ``node`` ("" when it can); ``alloc`` and ``need`` are the
    node's allocatable and the pod's requests when the caller has them already."""
    if not _node_ready(node):
        return "node not ready"
    if (node.get("spec") or {}).get("unschedulable"):
        return "node unschedulable"
    labels = node["metadata"].get("labels") or {}
    for k, v in ((pod.get("spec") or {}).get("nodeSelector") or {}).items():
        if labels.get(k) != v:
            return "node(s) didn't match Pod's node affinity/selector"
    for taint in (node.get("spec") or {}).get("taints") or ():
        if not tolerates(pod, taint):
            return f"node(s) had untolerated taint {{{taint.get('key')}: {taint.get('value', '')}}}"
    alloc = node_allocatable(node) if alloc is None else alloc
    need = pod_requests(pod) if need is None else need
    for res in RESOURCES:
        if res in alloc and used.get(res, 0) + need[res] > alloc[res]:
            return f"Insufficient {res}"
    return ""


_NO_NEED = {res: 0 for res in RESOURCES}
_ROUNDING = 1e-9  # far above the rounding error of a score, far below a real difference


def _need_share(alloc: dict[str, int], need: dict[str, int]) -> float:
    """What ``need`` takes off :func:`_score` on a node with allocatable ``alloc``."""
    shares = [need[r] / alloc[r] for r in ("cpu", "memory") if alloc.get(r)]
    return sum(shares) / len(shares) if shares else 0.0


def _score(node: dict, used: dict[str, int], need: dict[str, int], *, alloc: dict[str, int] | None = None) -> float:
    alloc = node_allocatable(node) if alloc is None else alloc
    shares = [(alloc[r] - used.get(r, 0) - need[r]) / alloc[r] for r in ("cpu", "memory") if alloc.get(r)]
    return sum(shares) / len(shares) if shares else 0.0


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
        # What the informer's bound active pods use, kept up to date from its events (an
        # index, so a reconcile does not sum every pod): pod key -> (node, requests), and
        # node -> summed requests.
        self._counted: dict[str, tuple[str, dict[str, int]]] = {}
        self._bound_use: dict[str, dict[str, int]] = {}
        informers.listen("pods", Listener(on_add=self._count, on_update=lambda old, new: self._count(new),
                                          on_delete=self._uncount))
        # Nodes grouped by (allocatable, usage): group key -> {name: None} and a heap of its
        # names; the groups in a heap of (-score bound, key) (the score for a pod asking for
        # nothing); nodes whose object or usage changed (_dirty) move at the next pick.
        self._group_of: dict[str, tuple] = {}
        self._groups: dict[tuple, dict[str, None]] = {}
        self._group_names: dict[tuple, list[str]] = {}
        self._bounds: list[tuple[float, tuple]] = []
        self._dirty: dict[str, None] = {}
        informers.listen("nodes", Listener(on_add=self._node_changed, on_update=lambda old, new: self._node_changed(new),
                                           on_delete=self._node_changed))
        # node name -> (the node object it was computed from, its allocatable)
        self._allocatable: dict[str, tuple[dict, dict[str, int]]] = {}
        self.assumed: dict[str, tuple[str, dict[str, int], int]] = {}  # pod key -> (node, requests, since)
        self.assume_ttl_us = round(assume_ttl_s * 1_000_000)
        self.bound = 0
        self.unschedulable = 0

    async def run(self) -> None:
        await self.controller.run()

    def _unscheduled(self) -> list[str]:
        return [key for key in sorted(self.pods.cache) if self._wants(self.pods.cache[key])]

    def _wants(self, pod: dict) -> bool:
        spec = pod.get("spec") or {}
        return (not spec.get("nodeName") and spec.get("schedulerName", "default-scheduler") == self.scheduler_name
                and is_active(pod))

    def _node_changed(self, node: dict) -> None:
        self._dirty[node["metadata"]["name"]] = None

    def _add_use(self, node: str, need: dict[str, int], sign: int) -> None:
        self._dirty[node] = None
        into = self._bound_use.setdefault(node, {})
        for res, n in need.items():
            into[res] = into.get(res, 0) + sign * n
        if not any(into.values()):
            del self._bound_use[node]

    def _uncount(self, pod: dict) -> None:
        counted = self._counted.pop(object_key(pod), None)
        if counted is not None:
            self._add_use(counted[0], counted[1], -1)

    def _count(self, pod: dict) -> None:
        self._uncount(pod)
        node = (pod.get("spec") or {}).get("nodeName")
        if node and is_active(pod):
            need = pod_requests(pod)
            self._counted[object_key(pod)] = (node, need)
            self._add_use(node, need, 1)

    def _node_allocatable(self, name: str, node: dict) -> dict[str, int]:
        cached = self._allocatable.get(name)
        if cached is None or cached[0] is not node:
            cached = self._allocatable[name] = (node, node_allocatable(node))
        return cached[1]

    def usage(self) -> dict[str, dict[str, int]]:
        """What is bound to each node: the informer's bound active pods plus assumed ones
        (an assumed pod is forgotten once the cache shows it bound or gone, or after
        ``assume_ttl_s``: a binding of unknown outcome that never happened)."""
        used: dict[str, dict[str, int]] = dict(self._bound_use)  # (inner dicts copied before a change)

        def add(node: str, need: dict[str, int]) -> None:
            into = used[node] = dict(used.get(node, {}))
            for res, n in need.items():
                into[res] = into.get(res, 0) + n
        now = self.rt.monotonic_us()
        for key in sorted(self.assumed):
            node, need, since_us = self.assumed[key]
            pod = self.pods.cache.get(key)
            if (pod is None or not is_active(pod) or (pod.get("spec") or {}).get("nodeName")
                    or now - since_us > self.assume_ttl_us):
                del self.assumed[key]
                self._dirty[node] = None
            else:
                add(node, need)
        return used

    def pick_by_scan(self, pod: dict, need: dict[str, int], used: dict[str, dict[str, int]],
                     reasons: dict[str, int]) -> tuple[float, str] | None:
        """The best node for ``pod`` ((score, name): the highest score, then the first name),
        filtering and scoring every node; counts why nodes do not fit in ``reasons``."""
        best: tuple[float, str] | None = None
        nothing: dict[str, int] = {}
        for name in sorted(self.nodes.cache):
            node = self.nodes.cache[name]
            alloc = self._node_allocatable(name, node)
            on_node = used.get(name, nothing)
            why = fits(pod, node, on_node, alloc=alloc, need=need)
            if why:
                reasons[why] = reasons.get(why, 0) + 1
                continue
            score = _score(node, on_node, need, alloc=alloc)
            if best is None or score > best[0]:
                best = (score, name)
        return best

    def _refresh_groups(self, used: dict[str, dict[str, int]]) -> None:
        """Move the nodes whose object or usage changed to the group of their (allocatable,
        usage); a new group goes on the heap of groups by its score bound."""
        nothing: dict[str, int] = {}
        for name in sorted(self._dirty):
            old = self._group_of.pop(name, None)
            if old is not None:
                members = self._groups[old]
                del members[name]
                if not members:
                    del self._groups[old], self._group_names[old]
            node = self.nodes.cache.get(name)
            if node is None:
                continue
            alloc = self._node_allocatable(name, node)
            on_node = used.get(name, nothing)
            key = (tuple(sorted(alloc.items())), tuple(sorted((r, n) for r, n in on_node.items() if n)))
            self._group_of[name] = key
            if key not in self._groups:
                self._groups[key] = {}
                self._group_names[key] = []
                bound = _score(node, on_node, _NO_NEED, alloc=alloc)
                heapq.heappush(self._bounds, (-bound, key))
            self._groups[key][name] = None
            heapq.heappush(self._group_names[key], name)
        self._dirty.clear()
        if len(self._bounds) > 4 * len(self._groups) + 64:  # drop the entries of groups gone
            self._bounds = [e for e in self._bounds if e[1] in self._groups]
            heapq.heapify(self._bounds)

    def pick_by_bound(self, pod: dict, need: dict[str, int],
                      used: dict[str, dict[str, int]]) -> tuple[float, str] | None:
        """What :meth:`pick_by_scan` picks, or None when no node fits, without trying every
        node.  Nodes with the same allocatable and usage form a group: their scores are
        equal, so a group's candidate is its first node (by name) that fits.  Groups are
        tried in the order of an upper bound of their score (the score for a pod asking for
        nothing), lowered by the least share the pod's requests take of any node's
        allocatable, stopping once that is below the best score found (with a margin for
        rounding, so ties are tried too)."""
        self._refresh_groups(used)
        shapes = sorted({key[0] for key in self._groups})
        least_share = min((_need_share(dict(shape), need) for shape in shapes), default=0.0)
        best: tuple[float, str] | None = None
        popped = []
        seen: dict[tuple, None] = {}
        nothing: dict[str, int] = {}
        heap = self._bounds
        while heap:
            entry = heapq.heappop(heap)
            neg_bound, key = entry
            if key not in self._groups or key in seen:
                continue  # a group gone, or a duplicate entry
            seen[key] = None
            popped.append(entry)
            if best is not None and -neg_bound - least_share + _ROUNDING < best[0]:
                break
            members, names = self._groups[key], self._group_names[key]
            tried = []
            found = None
            while names:
                name = heapq.heappop(names)
                if name not in members or (tried and tried[-1] == name):
                    continue  # left the group, or pushed twice
                tried.append(name)
                node = self.nodes.cache[name]
                alloc = self._node_allocatable(name, node)
                on_node = used.get(name, nothing)
                if not fits(pod, node, on_node, alloc=alloc, need=need):
                    found = (_score(node, on_node, need, alloc=alloc), name)
                    assert found[0] <= -neg_bound - least_share + _ROUNDING, (
                        f"the score bound of {name} is not an upper bound: {found[0]} > {-neg_bound} - {least_share}")
                    break
            for name in tried:
                heapq.heappush(names, name)
            if found is not None and (best is None or found[0] > best[0]
                                      or (found[0] == best[0] and found[1] < best[1])):
                best = found
        for entry in popped:
            heapq.heappush(heap, entry)
        return best

    async def reconcile(self, key: str) -> Result | None:
        pod = self.pods.cache.get(key)
        if pod is None or not self._wants(pod):
            return None
        used = self.usage()
        if key in self.assumed:
            return Result(requeue_after_s=1.0)  # a binding of ours not seen yet
        need = pod_requests(pod)
        reasons: dict[str, int] = {}
        best = self.pick_by_bound(pod, need, used)
        if best is None:  # no node fits: every node's reason, for the message
            best = self.pick_by_scan(pod, need, used, reasons)
        ns, name = pod["metadata"]["namespace"], pod["metadata"]["name"]
        if best is None:
            self.unschedulable += 1
            message = (f"0/{len(self.nodes.cache)} nodes are available: "
                       + ", ".join(f"{n} {why}" for why, n in sorted(reasons.items())))
            conditions = [c for c in (pod.get("status") or {}).get("conditions") or () if c.get("type") != "PodScheduled"]
            await self.client.patch("pods", name, {"status": {"conditions": [*conditions, {
                "type": "PodScheduled", "status": "False", "reason": "Unschedulable", "message": message}]}},
                ns, subresource="status")
            self.rt.record("scheduler.failed_scheduling", pod=key, message=message)
            raise ApiError({"code": 409, "reason": "Unschedulable", "message": message})  # requeue with backoff
        node_name = best[1]
        self.assumed[key] = (node_name, need, self.rt.monotonic_us())
        self._dirty[node_name] = None
        try:
            await self.client.bind(ns, name, node_name, uid=pod["metadata"]["uid"])
        except ApiError as exc:
            if not exc.unknown:
                self.assumed.pop(key, None)  # certainly not bound by us (409: bound already, or gone)
                self._dirty[node_name] = None
            if exc.code in (404, 409):
                return None
            raise
        self.bound += 1
        self.rt.record("scheduler.bound", pod=key, node=node_name)
        return None

