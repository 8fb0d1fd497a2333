"""The scheduler's indexes pick what kube-scheduler's full filter-and-score pass picks: a
reference scan over the whole pod cache (every node filtered with ``fits`` and the
scheduling cycle, every feasible node scored, ties to the first name) is compared with
:meth:`Scheduler.pick` (its usage and placed pods kept from informer events, nodes grouped
by allocatable and usage for pods no affinity or spread concerns), over random nodes,
pods with and without inter-pod (anti-)affinity, spread constraints and preferred node
affinity, pods with default topology spreading (owned by a ReplicaSet or selected by a
Service) and without, assumed pods and nominations."""

from __future__ import annotations

import random

from fake_runtime import FakeRuntime

from kube.controllers import Scheduler, SchedulingCycle, SharedInformers
from kube.controllers.affinity import HOSTNAME_LABEL, ZONE_LABEL
from kube.controllers.preemption import pod_priority
from kube.controllers.resources import pod_requests
from kube.controllers.scheduler import fits


def _node(name: str, rng: random.Random) -> dict:
    ready = rng.random() > 0.15
    spec: dict = {}
    if rng.random() < 0.15:
        spec["taints"] = [{"key": "dedicated", "value": "db", "effect": "NoSchedule"}]
    if rng.random() < 0.05:
        spec["unschedulable"] = True
    alloc = {"cpu": rng.choice(("1", "2", "4", "3500m")), "memory": rng.choice(("2Gi", "4Gi", "8Gi")),
             "pods": str(rng.choice((3, 10, 110)))}
    labels = {"disk": rng.choice(("ssd", "hdd"))}
    if rng.random() < 0.95:
        labels[HOSTNAME_LABEL] = name
    if rng.random() < 0.9:
        labels[ZONE_LABEL] = rng.choice(("zone-a", "zone-b", "zone-c"))
    return {"metadata": {"name": name, "resourceVersion": "1", "labels": labels}, "spec": spec,
            "status": {"allocatable": alloc, "conditions": [{"type": "Ready", "status": "True" if ready else "False"}]}}


def _selector(rng: random.Random) -> dict:
    return {"matchLabels": {"app": rng.choice("ab")}}


def _terms(rng: random.Random) -> dict:
    """Some scheduling terms of a pod: pod (anti-)affinity, spread, preferred node affinity."""
    spec: dict = {}
    affinity: dict = {}
    key = rng.choice((HOSTNAME_LABEL, ZONE_LABEL))
    roll = rng.random()
    if roll < 0.25:
        affinity["podAntiAffinity"] = {"requiredDuringSchedulingIgnoredDuringExecution": [
            {"labelSelector": _selector(rng), "topologyKey": key}]}
    elif roll < 0.4:
        affinity["podAffinity"] = {"requiredDuringSchedulingIgnoredDuringExecution": [
            {"labelSelector": _selector(rng), "topologyKey": key}]}
    elif roll < 0.6:
        kind = rng.choice(("podAffinity", "podAntiAffinity"))
        affinity[kind] = {"preferredDuringSchedulingIgnoredDuringExecution": [
            {"weight": rng.randint(1, 100), "podAffinityTerm": {"labelSelector": _selector(rng), "topologyKey": key}}]}
    elif roll < 0.8:
        spec["topologySpreadConstraints"] = [{"maxSkew": rng.randint(1, 2), "topologyKey": key,
                                              "whenUnsatisfiable": rng.choice(("DoNotSchedule", "ScheduleAnyway")),
                                              "labelSelector": _selector(rng)}]
    else:
        affinity["nodeAffinity"] = {"preferredDuringSchedulingIgnoredDuringExecution": [
            {"weight": rng.randint(1, 100), "preference": {"matchExpressions": [
                {"key": "disk", "operator": "In", "values": ["ssd"]}]}}]}
    if affinity:
        spec["affinity"] = affinity
    return spec


def _pod(i: int, rng: random.Random, *, terms: float) -> dict:
    spec: dict = {"containers": [{"name": "c", "image": "pause", "resources": {"requests": {
        "cpu": f"{rng.choice((0, 100, 250, 500, 1000))}m", "memory": rng.choice(("0", "64Mi", "512Mi", "1Gi"))}}}]}
    if rng.random() < 0.1:
        spec["nodeSelector"] = {"disk": "ssd"}
    if rng.random() < 0.1:
        spec["tolerations"] = [{"key": "dedicated", "operator": "Exists"}]
    if rng.random() < 0.1:
        spec["priority"] = rng.choice((0, 10))
    if rng.random() < terms:
        spec |= _terms(rng)
    meta = {"name": f"p{i}", "namespace": "default", "uid": f"u{i}", "resourceVersion": str(i),
            "labels": {"app": rng.choice("ab")}}
    if rng.random() < 0.05:
        meta["deletionTimestamp"] = "2024-01-01T00:00:00Z"
    if rng.random() < 0.6:  # a ReplicaSet's pod (default topology spreading)
        meta["ownerReferences"] = [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": f"rs-{meta['labels']['app']}",
                                    "uid": "rs", "controller": True}]
    return {"metadata": meta, "spec": spec, "status": {"phase": rng.choice(("Pending", "Running", "Running", "Failed"))}}


def _reference(sched: Scheduler, pod: dict) -> tuple[int, str] | None:
    """kube-scheduler's pass over everything the caches hold, with no index."""
    cache = sched.pods.cache
    placed: list[tuple[str, dict, bool]] = []
    for key in sorted(cache):
        other = cache[key]
        node = other["spec"].get("nodeName")
        if node and other["status"].get("phase") not in ("Succeeded", "Failed"):
            placed.append((node, other, False))
    for key in sorted(sched.assumed):
        node, bound, _since = sched.assumed[key]
        assert not cache[key]["spec"].get("nodeName")  # (pick pruned the assumed pods already)
        placed.append((node, bound, True))
    used: dict[str, dict[str, int]] = {}
    for node, other, _assumed in placed:
        into = used.setdefault(node, {})
        for res, n in pod_requests(other).items():
            into[res] = into.get(res, 0) + n
    for key in sorted(cache):  # the room of nominated pods of no lower priority
        other = cache[key]
        node = other["status"].get("nominatedNodeName")
        if node and other is not pod and sched._wants(other) and pod_priority(other) >= pod_priority(pod):
            into = used.setdefault(node, {})
            for res, n in pod_requests(other).items():
                into[res] = into.get(res, 0) + n
    nodes = sched.nodes.cache
    cycle = SchedulingCycle(pod, nodes, [(nodes[node], other) for node, other, _a in placed if node in nodes],
                            default_selector=sched.default_selector(pod))
    feasible = [name for name in sorted(nodes) if not (fits(pod, nodes[name], used.get(name, {})) or cycle.filter(nodes[name]))]
    best = None
    for score, name in zip(cycle.scores([(nodes[n], used.get(n, {})) for n in feasible]), feasible, strict=True):
        if best is None or score > best[0]:
            best = (score, name)
    return best


def test_the_indexed_pick_equals_the_full_scan() -> None:
    grouped = spread_grouped = scanned = unschedulable = 0
    for seed in range(16):
        rng = random.Random(seed)
        rt = FakeRuntime()
        sched = Scheduler(rt, None, SharedInformers(rt, None))  # type: ignore[arg-type]
        names = [f"n{i:02d}" for i in range(rng.randint(1, 30))]
        terms = rng.choice((0.0, 0.0, 0.1, 0.5))  # some runs with no terms at all: the grouped pick
        for name in names:
            sched.nodes._put(_node(name, rng))
        for app in "ab":  # the ReplicaSets owning pods, and a Service selecting some
            selector: dict = rng.choice(({"matchLabels": {"app": app}}, {"matchExpressions": [
                {"key": "app", "operator": "In", "values": [app]}]}, {"matchExpressions": [
                {"key": "app", "operator": "NotIn", "values": ["x"]}]}))
            sched.replicasets._put({"metadata": {"name": f"rs-{app}", "namespace": "default", "uid": "rs",
                                                 "resourceVersion": "1"}, "spec": {"selector": selector}})
        if rng.random() < 0.5:
            sched.services._put({"metadata": {"name": "web", "namespace": "default", "resourceVersion": "1"},
                                 "spec": {"selector": {"app": "a"}}})
        for i in range(200):
            rt.now_us += rng.randint(0, 2_000_000)  # assumed pods expire after 5 s
            action = rng.random()
            if action < 0.08:  # a node changes (readiness, taints, allocatable, labels)
                sched.nodes._put(_node(rng.choice(names), rng))
                continue
            if action < 0.16 and sched.pods.cache:  # a pod goes
                sched.pods._remove(rng.choice(sorted(sched.pods.cache)))
                continue
            if action < 0.2 and sched.assumed:  # the cache shows an assumed pod bound
                key = rng.choice(sorted(sched.assumed))
                _n, bound, _since = sched.assumed[key]
                sched.pods._put(bound | {"status": {"phase": "Running"}})
                continue
            pod = _pod(i, rng, terms=terms)
            if action < 0.21 and names:  # a pending pod nominated to a node (after a preemption)
                sched.pods._put(pod | {"status": {"phase": "Pending", "nominatedNodeName": rng.choice(names)}})
                continue
            best, _used, cycle, _reasons = sched.pick(pod)
            want = _reference(sched, pod)
            assert best == want, (seed, i)
            if cycle is None:
                grouped += 1
                spread_grouped += sched.default_selector(pod) is not None
            else:
                scanned += 1
            if want is None:
                unschedulable += 1
                continue
            placed = pod | {"spec": {**pod["spec"], "nodeName": want[1]}}
            if rng.random() < 0.5:  # bound, and the cache shows it
                sched.pods._put(placed)
            else:  # bound by the scheduler, not in the cache yet
                sched.pods._put(pod | {"status": {"phase": "Pending"}})
                sched.assume(f"default/{pod['metadata']['name']}", pod, want[1])
    # every way was exercised
    assert grouped > 500 and spread_grouped > 300 and scanned > 500 and unschedulable > 100, (
        grouped, spread_grouped, scanned, unschedulable)
