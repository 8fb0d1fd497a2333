"""The node lifecycle controller (kube-controller-manager's ``nodelifecycle`` with its
taint-based eviction).

Heartbeats are the kubelets' Leases in ``kube-node-lease``.  For each node the
controller remembers the last ``renewTime`` it saw and *when it saw it change* (on its
own monotonic clock: clocks are never compared, as kube-controller-manager's
``probeTimestamp``).  Every ``monitor_period_s``:

* a node whose Lease has not changed for ``grace_period_s`` (node-monitor-grace-period) is
  marked lost: condition Ready ``Unknown`` (reason ``NodeStatusUnknown``) and the taints
  ``node.kubernetes.io/unreachable`` with effects NoSchedule and NoExecute;
* a node whose Ready condition is ``True`` again (its kubelet posts it) loses those taints;
* a pod on a node tainted NoExecute is evicted (deleted, its uid a precondition) when it
  does not tolerate the taint, or once its toleration's ``tolerationSeconds`` have passed
  since the controller saw the taint; a toleration without ``tolerationSeconds`` keeps it.

Before marking a node lost or evicting from it, the controller reads the Lease from the
apiserver (a quorum read): a Lease renewed meanwhile only had its news late (a lagging
cache, a slow heartbeat), and nothing is done.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from raftkv.tasks import Runtime

from ..client import KubeClient
from ..errors import ApiError
from ..meta import format_timestamp
from .replicaset import is_active
from .runtime import Controller, Result, SharedInformers

__all__ = ["BUG_EVICT_WITHOUT_GRACE", "LEASE_NAMESPACE", "NOT_READY_TAINT", "UNREACHABLE_TAINT",
           "NodeLifecycleController", "toleration_for"]

LEASE_NAMESPACE = "kube-node-lease"
UNREACHABLE_TAINT = "node.kubernetes.io/unreachable"
NOT_READY_TAINT = "node.kubernetes.io/not-ready"
#: the catalogued bug (raftkv.bugs): pods are evicted as soon as the node is tainted
BUG_EVICT_WITHOUT_GRACE = "node_eviction_without_grace"

#: ``on_evict(pod, node)`` once the controller decided to evict ``pod`` (before the delete)
EvictObserver = Callable[[dict[str, Any], str], None]


def _ready(node: dict[str, Any]) -> str:
    for c in (node.get("status") or {}).get("conditions") or ():
        if c.get("type") == "Ready":
            return str(c.get("status"))
    return "Unknown"


def toleration_for(pod: dict[str, Any], key: str, effect: str) -> dict[str, Any] | None:
    """The pod's toleration of taint ``key`` (any value) with ``effect``, if any."""
    for tol in (pod.get("spec") or {}).get("tolerations") or ():
        if tol.get("effect") not in (None, "", effect):
            continue
        if tol.get("key") in (None, "") and tol.get("operator") == "Exists":
            return dict(tol)
        if tol.get("key") == key:
            return dict(tol)
    return None


class NodeLifecycleController:
    def __init__(self, rt: Runtime, client: KubeClient, informers: SharedInformers, *,
                 grace_period_s: float = 3.0, monitor_period_s: float = 0.5,
                 on_evict: EvictObserver | None = None, bugs: frozenset[str] = frozenset()) -> None:
        assert grace_period_s > monitor_period_s > 0, "need grace_period_s > monitor_period_s > 0"
        self.rt = rt
        self.client = client
        self.grace_us = round(grace_period_s * 1_000_000)
        self.monitor_period_s = monitor_period_s
        self.on_evict = on_evict
        self.bugs = bugs
        self.controller = Controller(rt, "node-lifecycle", informers, self.reconcile, primary="nodes",
                                     resync_s=None)
        self.nodes = self.controller.primary
        self.leases = informers.get("leases", LEASE_NAMESPACE)
        self.pods = informers.get("pods")
        self.controller.watch("leases", lambda lease: [lease["metadata"]["name"]], LEASE_NAMESPACE)
        self.controller.watch("pods", lambda pod: [n] if (n := (pod.get("spec") or {}).get("nodeName")) else [])
        self.probes: dict[str, tuple[object, int]] = {}  # node -> (renewTime seen, when it changed)
        self.tainted_us: dict[str, int] = {}  # node -> when this controller first saw it NoExecute-tainted
        self.marked_lost = 0
        self.evicted = 0

    async def run(self) -> None:
        await self.controller.run()

    # ------------------------------------------------------------------ heartbeats
    def _probe(self, name: str, renew: object) -> int:
        """When the node's Lease was last seen to change (now, for news or a first look)."""
        seen = self.probes.get(name)
        if seen is None or seen[0] != renew:
            seen = self.probes[name] = (renew, self.rt.monotonic_us())
        return seen[1]

    def _cached_renew(self, name: str) -> object:
        lease = self.leases.cache.get(f"{LEASE_NAMESPACE}/{name}")
        return ((lease or {}).get("spec") or {}).get("renewTime")

    async def _still_lost(self, name: str) -> bool:
        """A quorum read of the Lease agrees it has not changed for the grace period."""
        try:
            lease = await self.client.get("leases", name, LEASE_NAMESPACE)
            renew = (lease.get("spec") or {}).get("renewTime")
        except ApiError as exc:
            if exc.code != 404:
                raise
            renew = None
        return self.rt.monotonic_us() - self._probe(name, renew) > self.grace_us

    # ------------------------------------------------------------------ reconcile
    async def reconcile(self, name: str) -> Result | None:
        node = self.nodes.cache.get(name)
        if node is None:
            self.probes.pop(name, None)
            self.tainted_us.pop(name, None)
            return None
        now = self.rt.monotonic_us()
        stale = now - self._probe(name, self._cached_renew(name)) > self.grace_us
        taints = list((node.get("spec") or {}).get("taints") or ())
        ours = [t for t in taints if t.get("key") == UNREACHABLE_TAINT]
        if stale and (_ready(node) != "Unknown" or len(ours) < 2) and await self._still_lost(name):
            await self._mark_lost(node, taints)
            return Result(requeue_after_s=self.monitor_period_s)
        if _ready(node) == "True" and ours:
            await self.client.patch("nodes", name, {"metadata": {"resourceVersion": node["metadata"]["resourceVersion"]},
                                                    "spec": {"taints": [t for t in taints if t not in ours]}})
            self.rt.record("node_lifecycle.untainted", node=name)
            self.tainted_us.pop(name, None)
            return None
        if any(t.get("effect") == "NoExecute" for t in ours):
            since = self.tainted_us.setdefault(name, now)
            return await self._evict(name, since)
        self.tainted_us.pop(name, None)
        return Result(requeue_after_s=self.monitor_period_s)

    async def _mark_lost(self, node: dict[str, Any], taints: list[dict[str, Any]]) -> None:
        name = node["metadata"]["name"]
        stamp = format_timestamp(self.rt.now_us())
        status = dict(node.get("status") or {})
        conditions = [c for c in status.get("conditions") or () if c.get("type") != "Ready"]
        await self.client.patch("nodes", name, {"status": {"conditions": [*conditions, {
            "type": "Ready", "status": "Unknown", "reason": "NodeStatusUnknown",
            "message": "Kubelet stopped posting node status.", "lastTransitionTime": stamp}]}},
            subresource="status")
        kept = [t for t in taints if t.get("key") != UNREACHABLE_TAINT]
        added = [{"key": UNREACHABLE_TAINT, "effect": effect, "timeAdded": stamp} for effect in ("NoSchedule", "NoExecute")]
        await self.client.patch("nodes", name, {"metadata": {"resourceVersion": node["metadata"]["resourceVersion"]},
                                                "spec": {"taints": [*kept, *added]}})
        self.marked_lost += 1
        self.rt.record("node_lifecycle.lost", node=name)

    def _due(self, name: str, since_us: int) -> tuple[list[dict[str, Any]], int | None]:
        """The pods of ``name`` to evict now, and when the next toleration runs out.  A
        toleration counts from when the taint was seen, but never from before the node
        had been silent for the grace period (a node that came back for a moment and was
        not untainted yet starts again)."""
        now = self.rt.monotonic_us()
        start_us = max(since_us, self.probes[name][1] + self.grace_us) if name in self.probes else now
        due: list[dict[str, Any]] = []
        next_us: int | None = None
        for key in sorted(self.pods.cache):
            pod = self.pods.cache[key]
            if (pod.get("spec") or {}).get("nodeName") != name or not is_active(pod):
                continue
            tol = toleration_for(pod, UNREACHABLE_TAINT, "NoExecute")
            if tol is not None and tol.get("tolerationSeconds") is None:
                continue  # tolerated for ever
            seconds = 0 if tol is None or BUG_EVICT_WITHOUT_GRACE in self.bugs else max(0, int(tol["tolerationSeconds"]))
            at_us = start_us + seconds * 1_000_000
            if at_us <= now:
                due.append(pod)
            elif next_us is None or at_us < next_us:
                next_us = at_us
        return due, next_us

    async def _evict(self, name: str, since_us: int) -> Result:
        """Evict what no longer tolerates the node's NoExecute taint; come back when the
        next toleration runs out."""
        due, next_us = self._due(name, since_us)
        if due and await self._still_lost(name):
            due, next_us = self._due(name, since_us)  # with what the read saw
            for pod in due:
                meta = pod["metadata"]
                if self.on_evict is not None:
                    self.on_evict(pod, name)
                if not await self.client.delete_if_present("pods", meta["name"], meta["namespace"], uid=meta["uid"]):
                    continue
                self.evicted += 1
                self.rt.record("node_lifecycle.evicted", node=name, pod=f"{meta['namespace']}/{meta['name']}")
        now = self.rt.monotonic_us()
        wait_us = self.monitor_period_s * 1e6 if next_us is None else min(next_us - now, self.monitor_period_s * 1e6)
        return Result(requeue_after_s=max(wait_us, 1_000) / 1e6)
