"""The scheduler's indexes pick what a scan of every node picks: its usage kept from pod
events equals the sum over the pod cache, and trying nodes in the order of their score
bound picks the node a full filter-and-score scan picks."""

from __future__ import annotations

import random
from typing import Any

from kube.controllers import Scheduler, SharedInformers
from kube.controllers.replicaset import is_active
from kube.controllers.resources import pod_requests


class _Queue:
    def put_nowait(self, item: Any) -> None:
        pass


class _Rt:
    def queue(self) -> _Queue:
        return _Queue()

    def monotonic_us(self) -> int:
        return 0


def _node(name: str, rng: random.Random) -> dict:
    ready = rng.random() > 0.15
    spec: dict = {}
    if rng.random() < 0.15:
        spec["taints"] = [{"key": "dedicated", "value": "db", "effect": "NoSchedule"}]
    if rng.random() < 0.05:
        spec["unschedulable"] = True
    alloc = {"cpu": rng.choice(("1", "2", "4", "3500m")), "memory": rng.choice(("2Gi", "4Gi", "8Gi")),
             "pods": str(rng.choice((3, 10, 110)))}
    return {"metadata": {"name": name, "resourceVersion": "1", "labels": {"zone": rng.choice("ab")}},
            "spec": spec,
            "status": {"allocatable": alloc,
                       "conditions": [{"type": "Ready", "status": "True" if ready else "False"}]}}


def _pod(i: int, rng: random.Random, node: str = "") -> dict:
    spec: dict = {"containers": [{"name": "c", "image": "pause", "resources": {"requests": {
        "cpu": f"{rng.choice((0, 100, 250, 500, 1000))}m", "memory": rng.choice(("0", "64Mi", "512Mi", "1Gi"))}}}]}
    if node:
        spec["nodeName"] = node
    if rng.random() < 0.1:
        spec["nodeSelector"] = {"zone": "a"}
    if rng.random() < 0.1:
        spec["tolerations"] = [{"key": "dedicated", "operator": "Exists"}]
    return {"metadata": {"name": f"p{i}", "namespace": "default", "uid": f"u{i}", "resourceVersion": str(i)},
            "spec": spec, "status": {"phase": rng.choice(("Pending", "Running", "Running", "Failed"))}}


def _scanned_usage(sched: Scheduler) -> dict[str, dict[str, int]]:
    used: dict[str, dict[str, int]] = {}
    for pod in sched.pods.cache.values():
        node = pod["spec"].get("nodeName")
        if node and is_active(pod):
            into = used.setdefault(node, {})
            for res, n in pod_requests(pod).items():
                into[res] = into.get(res, 0) + n
    return used


def test_the_bound_ordered_pick_equals_the_full_scan() -> None:
    picked = unschedulable = 0
    for seed in range(12):
        rng = random.Random(seed)
        sched = Scheduler(_Rt(), None, SharedInformers(_Rt(), None))  # type: ignore[arg-type]
        names = [f"n{i:02d}" for i in range(rng.randint(1, 30))]
        for name in names:
            sched.nodes._put(_node(name, rng))
        for i in range(200):
            action = rng.random()
            if action < 0.1:  # a node changes (readiness, taints, allocatable)
                sched.nodes._put(_node(rng.choice(names), rng))
                continue
            if action < 0.2 and sched.pods.cache:  # a pod goes
                sched.pods._remove(rng.choice(sorted(sched.pods.cache)))
                continue
            pod = _pod(i, rng)
            need = pod_requests(pod)
            used = sched.usage()
            assert {n: {r: v for r, v in u.items() if v} for n, u in used.items()} == {
                n: {r: v for r, v in u.items() if v} for n, u in _scanned_usage(sched).items()}
            reasons: dict[str, int] = {}
            want = sched.pick_by_scan(pod, need, used, reasons)
            assert sched.pick_by_bound(pod, need, used) == want, (seed, i)
            if want is None:
                unschedulable += 1
            else:
                picked += 1
                sched.pods._put(_pod(i, random.Random(i), want[1]) | {"spec": {**pod["spec"], "nodeName": want[1]}})
    assert picked > 500 and unschedulable > 20  # both ways were exercised
