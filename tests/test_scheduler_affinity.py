"""Node affinity, inter-pod affinity, topology spread and the scores of the scheduler
(kube.controllers.affinity, .topology_spread, .scheduling)."""

from __future__ import annotations

from typing import Any

import pytest

from kube.controllers import (
    SchedulingCycle,
    balanced_allocation,
    failed_scheduling_message,
    fits,
    least_allocated,
    node_affinity_matches,
    selector_matches,
)
from kube.errors import ApiError

ZONES = ("a", "b", "c")


def _node(i: int, *, cpu: str = "2", memory: str = "4Gi", **labels: str) -> dict:
    return {"metadata": {"name": f"m{i}", "labels": {"kubernetes.io/hostname": f"m{i}",
                                                     "topology.kubernetes.io/zone": ZONES[(i - 1) % 3], **labels}},
            "status": {"allocatable": {"cpu": cpu, "memory": memory, "pods": "10"},
                       "conditions": [{"type": "Ready", "status": "True"}]}}


def _pod(name: str, app: str = "web", *, namespace: str = "default", cpu: str = "0", memory: str = "0",
         **spec: Any) -> dict:
    return {"metadata": {"name": name, "namespace": namespace, "labels": {"app": app}},
            "spec": {"containers": [{"name": "c", "image": "x",
                                     "resources": {"requests": {"cpu": cpu, "memory": memory}}}], **spec}}


def _required_nodes(*exprs: dict, fields: tuple[dict, ...] = ()) -> dict:
    term: dict = {"matchExpressions": list(exprs)}
    if fields:
        term["matchFields"] = list(fields)
    return {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [term]}}}


def _anti(app: str, key: str = "kubernetes.io/hostname", **term: Any) -> dict:
    return {"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
        {"labelSelector": {"matchLabels": {"app": app}}, "topologyKey": key, **term}]}}


@pytest.mark.parametrize(("op", "values", "label", "matches"), [
    ("In", ["ssd", "nvme"], "ssd", True), ("In", ["ssd"], "hdd", False), ("In", ["ssd"], None, False),
    ("NotIn", ["ssd"], "hdd", True), ("NotIn", ["ssd"], "ssd", False), ("NotIn", ["ssd"], None, True),
    ("Exists", [], "hdd", True), ("Exists", [], None, False),
    ("DoesNotExist", [], None, True), ("DoesNotExist", [], "ssd", False),
    ("Gt", ["4"], "8", True), ("Gt", ["8"], "8", False), ("Gt", ["4"], "many", False), ("Gt", ["4"], None, False),
    ("Lt", ["4"], "2", True), ("Lt", ["4"], "4", False), ("Bogus", ["ssd"], "ssd", False),
])
def test_node_affinity_operators(op: str, values: list[str], label: str | None, matches: bool) -> None:
    node = _node(1, **({} if label is None else {"disk": label}))
    pod = _pod("p", affinity=_required_nodes({"key": "disk", "operator": op, "values": values}))
    assert node_affinity_matches(pod, node) is matches
    assert (fits(pod, node, {}) == "") is matches
    if not matches:
        assert fits(pod, node, {}) == "node(s) didn't match Pod's node affinity/selector"


def test_node_affinity_terms_or_expressions_and_fields() -> None:
    ssd, big = {"key": "disk", "operator": "In", "values": ["ssd"]}, {"key": "cpus", "operator": "Gt", "values": ["8"]}
    pod = _pod("p", affinity=_required_nodes(ssd, big))  # one term: both must hold
    assert not node_affinity_matches(pod, _node(1, disk="ssd", cpus="4"))
    assert node_affinity_matches(pod, _node(1, disk="ssd", cpus="16"))
    ored = _pod("p", affinity={"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
        "nodeSelectorTerms": [{"matchExpressions": [ssd]}, {"matchExpressions": [big]}]}}})
    assert node_affinity_matches(ored, _node(1, cpus="16")) and node_affinity_matches(ored, _node(1, disk="ssd"))
    assert not node_affinity_matches(ored, _node(1, disk="hdd"))
    by_name = _pod("p", affinity=_required_nodes(fields=({"key": "metadata.name", "operator": "In", "values": ["m2"]},)))
    assert not node_affinity_matches(by_name, _node(1)) and node_affinity_matches(by_name, _node(2))
    empty = _pod("p", affinity={"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
        "nodeSelectorTerms": [{}]}}})
    assert not node_affinity_matches(empty, _node(1))  # a term with no requirement matches no node
    selected = _pod("p", nodeSelector={"disk": "ssd"}, affinity=_required_nodes(big))
    assert not node_affinity_matches(selected, _node(1, cpus="16"))  # nodeSelector and affinity both


def test_label_selector() -> None:
    labels = {"app": "web", "tier": "front"}
    assert selector_matches({}, labels) and not selector_matches(None, labels)
    assert selector_matches({"matchLabels": {"app": "web"},
                             "matchExpressions": [{"key": "tier", "operator": "In", "values": ["front", "back"]}]}, labels)
    assert not selector_matches({"matchExpressions": [{"key": "tier", "operator": "NotIn", "values": ["front"]}]}, labels)
    assert not selector_matches({"matchExpressions": [{"key": "tier", "operator": "Gt", "values": ["1"]}]}, labels)


def _pick(pod: dict, nodes: list[dict], placed: list[tuple[int, dict]], used: dict[str, dict] | None = None,
          ) -> tuple[str | None, str]:
    """What the scheduler decides: (node or None, FailedScheduling message)."""
    by_name = {n["metadata"]["name"]: n for n in nodes}
    cycle = SchedulingCycle(pod, by_name, [(by_name[f"m{i}"], p) for i, p in placed])
    reasons: dict[str, int] = {}
    feasible = []
    for name in sorted(by_name):
        why = fits(pod, by_name[name], (used or {}).get(name, {})) or cycle.filter(by_name[name])
        if why:
            reasons[why] = reasons.get(why, 0) + 1
        else:
            feasible.append(name)
    scores = cycle.scores([(by_name[n], (used or {}).get(n, {})) for n in feasible])
    best = None
    for score, name in zip(scores, feasible, strict=True):
        if best is None or score > best[0]:
            best = (score, name)
    return (best[1] if best else None), failed_scheduling_message(len(nodes), reasons)


def test_required_anti_affinity_is_symmetric() -> None:
    nodes = [_node(1), _node(2), _node(3)]
    # the incoming pod's own anti-affinity keeps it off m1 and m2
    node, _ = _pick(_pod("new", affinity=_anti("web")), nodes, [(1, _pod("a")), (2, _pod("b"))])
    assert node == "m3"
    # a placed pod's anti-affinity keeps the incoming pod (which it matches) off its node, though
    # the incoming pod says nothing
    node, message = _pick(_pod("new", "db"), nodes, [(1, _pod("a", affinity=_anti("db")))])
    assert node == "m2"
    node, message = _pick(_pod("new", "db"), nodes[:1], [(1, _pod("a", affinity=_anti("db")))])
    assert node is None
    assert message == "0/1 nodes are available: 1 node(s) didn't satisfy existing pods anti-affinity rules."
    # another namespace is not matched unless the term names it
    other = _pod("new", "db", namespace="prod")
    assert _pick(other, nodes[:1], [(1, _pod("a", affinity=_anti("db")))])[0] == "m1"
    assert _pick(other, nodes[:1], [(1, _pod("a", affinity=_anti("db", namespaces=["prod"])))])[0] is None
    # zone topology: m4 shares zone a with m1
    four = [*nodes, _node(4)]
    assert _pick(_pod("new", affinity=_anti("web", "topology.kubernetes.io/zone")), four,
                 [(1, _pod("a")), (2, _pod("b"))]) == (
        "m3", "0/4 nodes are available: 3 node(s) didn't match pod anti-affinity rules.")


def test_required_pod_affinity_and_first_of_group() -> None:
    nodes = [_node(1), _node(2), _node(3)]
    together = {"podAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
        {"labelSelector": {"matchLabels": {"app": "cache"}}, "topologyKey": "kubernetes.io/hostname"}]}}
    assert _pick(_pod("web", affinity=together), nodes, [(2, _pod("c", "cache"))])[0] == "m2"
    node, message = _pick(_pod("web", affinity=together), nodes, [])
    assert node is None and message == "0/3 nodes are available: 3 node(s) didn't match pod affinity rules."
    # the first pod of a group that is affine to itself goes anywhere
    assert _pick(_pod("c0", "cache", affinity=together), nodes, [])[0] == "m1"


def _spread(max_skew: int, key: str = "topology.kubernetes.io/zone", when: str = "DoNotSchedule") -> list[dict]:
    return [{"maxSkew": max_skew, "topologyKey": key, "whenUnsatisfiable": when,
             "labelSelector": {"matchLabels": {"app": "web"}}}]


def test_topology_spread_skew_filter() -> None:
    nodes = [_node(1), _node(2), _node(3), _node(4)]  # zones a, b, c, a
    placed = [(1, _pod("a")), (4, _pod("b")), (2, _pod("c"))]  # a: 2, b: 1, c: 0
    node, _ = _pick(_pod("new", topologySpreadConstraints=_spread(1)), nodes, placed)
    assert node == "m3"  # zone c: 0 + 1 - 0 = 1; zone b: 1 + 1 - 0 = 2 > 1
    node, message = _pick(_pod("new", topologySpreadConstraints=_spread(1)), nodes[:2] + nodes[3:], placed)
    assert node == "m2"  # without zone c the smallest domain is b (1): a is at 2 + 1 - 1 = 2
    assert message == "0/3 nodes are available: 2 node(s) didn't match pod topology spread constraints."
    # skew 2 lets zone b in too; the least allocated node breaks the tie by name
    assert _pick(_pod("new", topologySpreadConstraints=_spread(2)), nodes, placed)[0] == "m2"
    # a node without the key is no candidate
    bare = {"metadata": {"name": "m9", "labels": {}}, "status": nodes[0]["status"]}
    node, message = _pick(_pod("new", topologySpreadConstraints=_spread(1)), [bare], [])
    assert node is None and "missing required label" in message
    # pods being deleted and other namespaces do not count
    going = _pod("d")
    going["metadata"]["deletionTimestamp"] = "2024-01-01T00:00:00Z"
    assert _pick(_pod("new", topologySpreadConstraints=_spread(1)), nodes[:2],
                 [(1, going), (1, _pod("e", namespace="prod"))])[0] == "m1"


def test_schedule_anyway_spread_and_preferred_affinity_score() -> None:
    nodes = [_node(1), _node(2), _node(3)]
    placed = [(1, _pod("a")), (2, _pod("b"))]
    assert _pick(_pod("new", topologySpreadConstraints=_spread(1, when="ScheduleAnyway")), nodes, placed)[0] == "m3"
    prefer = {"nodeAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [
        {"weight": 10, "preference": {"matchExpressions": [{"key": "disk", "operator": "Exists"}]}}]}}
    assert _pick(_pod("new", affinity=prefer), [_node(1), _node(2, disk="ssd")], [])[0] == "m2"
    near = {"podAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [{"weight": 50, "podAffinityTerm": {
        "labelSelector": {"matchLabels": {"app": "cache"}}, "topologyKey": "kubernetes.io/hostname"}}]}}
    assert _pick(_pod("new", affinity=near), nodes, [(3, _pod("c", "cache"))])[0] == "m3"
    far = {"podAntiAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [{"weight": 50, "podAffinityTerm": {
        "labelSelector": {"matchLabels": {"app": "web"}}, "topologyKey": "kubernetes.io/hostname"}}]}}
    assert _pick(_pod("new", affinity=far), nodes[:2], [(1, _pod("a"))])[0] == "m2"


def test_balanced_and_least_allocated() -> None:
    node = _node(1, cpu="4", memory="4Gi")
    even = {"cpu": 1000, "memory": 2**30}
    assert balanced_allocation(node, {}, even) == 100  # a quarter of each
    assert balanced_allocation(node, {}, {"cpu": 2000, "memory": 0}) == 75  # |0.5 - 0| / 2 = 0.25
    assert least_allocated(node, {}, even) == 75
    assert least_allocated(node, {"cpu": 4000}, {"cpu": 1000}) == 50  # cpu none left (not below 0), memory all
    # a quarter used on either node (equally free), but the cpu-only pod keeps m2's shares even
    pod = _pod("p", cpu="1", memory="0")
    nodes = [_node(1, cpu="4", memory="4Gi"), _node(2, cpu="4", memory="4Gi")]
    assert _pick(pod, nodes, [], used={"m1": {"cpu": 1000}, "m2": {"memory": 2**30}})[0] == "m2"
    assert _pick(pod, nodes, [], used={"m2": {"cpu": 1000}, "m1": {"memory": 2**30}})[0] == "m1"


def test_failed_scheduling_message_counts_each_filter() -> None:
    nodes = [_node(1, cpu="1"), _node(2), _node(3)]
    pod = _pod("new", cpu="1500m", affinity=_anti("web"))
    node, message = _pick(pod, nodes, [(2, _pod("a")), (3, _pod("b"))])
    assert node is None
    assert message == ("0/3 nodes are available: 1 Insufficient cpu, "
                       "2 node(s) didn't match pod anti-affinity rules.")


def test_the_pick_is_deterministic() -> None:
    nodes = [_node(i) for i in (3, 1, 2)]
    pod = _pod("new", topologySpreadConstraints=_spread(1, when="ScheduleAnyway"))
    picks = {_pick(pod, nodes, [])[0] for _ in range(5)}
    assert picks == {"m1"}  # equal nodes: the first name, whatever the order they came in
    assert _pick(pod, list(reversed(nodes)), [(1, _pod("a"))])[0] == "m2"


def test_control_plane_spread_pods_each_on_a_node_of_their_own() -> None:
    import attrs

    from raftkv.sim import Scenario, WorkloadSpec, run_scenario
    from raftkv.sim.scenario import ControlPlaneSpec

    base = Scenario(seed=3, system="control_plane", workload=WorkloadSpec(clients=0, ops_per_s=0),
                    control_plane=ControlPlaneSpec(nodes=3, replicasets=1, replicas=2, scales=1, spread_replicas=3),
                    duration_us=4_000_000, settle_us=8_000_000)
    good = run_scenario(base)
    assert good.ok, good.summary()
    spread = sorted(node for node, sandbox in good.system.running.values() if sandbox.key.startswith("default/spread-0-"))
    assert spread == ["m1", "m2", "m3"]
    # assumed pods left out of the anti-affinity: two of them bound back to back share a node
    bad = run_scenario(attrs.evolve(base, bugs=("scheduler_affinity_ignores_assumed",)))
    assert [v.property for v in bad.violations] == ["control_plane.anti_affinity"]


def test_preemption_picks_no_node_the_other_pods_rule_out() -> None:
    from kube.controllers.preemption import pick_preemption

    nodes = {"m1": _node(1, cpu="1"), "m2": _node(2, cpu="1")}
    web, db = _pod("web", cpu="1", priority=0), _pod("db", "db", cpu="1", priority=0)
    high = _pod("high", "api", cpu="1", priority=10, affinity=_anti("web"))
    on = {"m1": [web], "m2": [db]}
    used = {"m1": {"cpu": 1000, "pods": 1}, "m2": {"cpu": 1000, "pods": 1}}
    assert pick_preemption(high, nodes, on, used, fits).node == "m1"  # resources alone: the first name
    cycle = SchedulingCycle(high, nodes, [(nodes["m1"], web), (nodes["m2"], db)])
    choice = pick_preemption(high, nodes, on, used, lambda p, n, u: fits(p, n, u) or cycle.filter(n))
    assert choice is not None and choice.node == "m2" and [v["metadata"]["name"] for v in choice.victims] == ["db"]


def test_bad_scheduling_constraints_are_rejected_with_the_field_named() -> None:
    from kube.registry.kinds.pod import STRATEGY as PODS
    from kube.registry.kinds.replicaset import STRATEGY as REPLICASETS

    def causes(**spec: Any) -> list[tuple[str, str]]:
        return [(path, reason) for path, reason, _message in PODS.validate(_pod("p", **spec))
                if path.startswith(("spec.affinity", "spec.topologySpreadConstraints"))]

    assert causes(affinity=_anti("web"), topologySpreadConstraints=_spread(1)) == []
    assert causes(affinity=_required_nodes({"key": "disk", "operator": "Bogus", "values": ["x"]})) == [(
        "spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0]"
        ".matchExpressions[0].operator", "FieldValueNotSupported")]
    assert causes(affinity=_required_nodes({"key": "cpus", "operator": "Gt", "values": ["many"]}))[0][0].endswith(
        ".values")
    assert causes(affinity=_anti("web", "")) == [(
        "spec.affinity.podAntiAffinity.requiredDuringSchedulingIgnoredDuringExecution[0].topologyKey",
        "FieldValueRequired")]
    assert causes(affinity="near") == [("spec.affinity", "FieldValueInvalid")]
    assert causes(topologySpreadConstraints=[{"maxSkew": 0, "topologyKey": "zone", "whenUnsatisfiable": "Maybe"}]) == [
        ("spec.topologySpreadConstraints[0].maxSkew", "FieldValueInvalid"),
        ("spec.topologySpreadConstraints[0].whenUnsatisfiable", "FieldValueNotSupported")]
    rs = {"metadata": {"name": "r", "namespace": "default"},
          "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "web"}},
                   "template": {"metadata": {"labels": {"app": "web"}},
                                "spec": {**_pod("p")["spec"], "topologySpreadConstraints": [{"maxSkew": 1}]}}}}
    assert [c[0] for c in REPLICASETS.validate(rs)] == [
        "spec.template.spec.topologySpreadConstraints[0].topologyKey",
        "spec.template.spec.topologySpreadConstraints[0].whenUnsatisfiable"]


def _cycle_pick(pod: dict, nodes: list[dict], placed: list[tuple[int, dict]], namespaces: dict[str, dict]) -> str | None:
    """The node picked for ``pod`` with namespaces (name -> labels) known."""
    by_name = {n["metadata"]["name"]: n for n in nodes}
    cycle = SchedulingCycle(pod, by_name, [(by_name[f"m{i}"], p) for i, p in placed],
                            namespace_labels=lambda ns: namespaces.get(ns, {}))
    feasible = [name for name in sorted(by_name) if not (fits(pod, by_name[name], {}) or cycle.filter(by_name[name]))]
    best = None
    for score, name in zip(cycle.scores([(by_name[n], {}) for n in feasible]), feasible, strict=True):
        if best is None or score > best[0]:
            best = (score, name)
    return best[1] if best else None


def test_affinity_terms_namespace_selector_and_namespaces() -> None:
    nodes = [_node(1), _node(2)]
    namespaces = {"prod": {"team": "x"}, "dev": {"team": "y"}, "default": {}}
    in_prod, in_dev = _pod("a", "db", namespace="prod"), _pod("b", "db", namespace="dev")
    team_x = {"matchLabels": {"team": "x"}}
    # a namespace selector: the namespaces whose labels it matches (not the pod's own)
    assert _cycle_pick(_pod("new", affinity=_anti("db", namespaceSelector=team_x)), nodes, [(1, in_prod)], namespaces) == "m2"
    assert _cycle_pick(_pod("new", affinity=_anti("db", namespaceSelector=team_x)), nodes, [(1, in_dev)], namespaces) == "m1"
    assert _cycle_pick(_pod("new", affinity=_anti("db", namespaceSelector=team_x)), nodes,
                       [(1, _pod("c", "db"))], namespaces) == "m1"
    # {}: every namespace; a namespace not known has no labels
    assert _cycle_pick(_pod("new", affinity=_anti("db", namespaceSelector={})), nodes, [(1, in_dev)], namespaces) == "m2"
    assert _cycle_pick(_pod("new", affinity=_anti("db", namespaceSelector=team_x)), nodes,
                       [(1, _pod("d", "db", namespace="gone"))], namespaces) == "m1"
    # the union of namespaces and the selector's
    both = _anti("db", namespaceSelector=team_x, namespaces=["dev"])
    assert _cycle_pick(_pod("new", affinity=both), nodes, [(1, in_dev)], namespaces) == "m2"
    assert _cycle_pick(_pod("new", affinity=both), nodes, [(2, in_prod)], namespaces) == "m1"
    # null and empty namespaces without a selector: the pod's own namespace only
    assert _cycle_pick(_pod("new", affinity=_anti("db", namespaces=[])), nodes, [(1, in_prod)], namespaces) == "m1"
    assert _cycle_pick(_pod("new", affinity=_anti("db", namespaces=[])), nodes,
                       [(1, _pod("e", "db"))], namespaces) == "m2"
    # required affinity with a selector: next to the pods of the matching namespaces
    near = {"podAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
        {"labelSelector": {"matchLabels": {"app": "db"}}, "namespaceSelector": team_x,
         "topologyKey": "kubernetes.io/hostname"}]}}
    assert _cycle_pick(_pod("new", affinity=near), nodes, [(2, in_prod), (1, in_dev)], namespaces) == "m2"
    # a placed pod's term with a selector, against the incoming pod's namespace labels (symmetry)
    guard = _pod("g", "guard", affinity=_anti("web", namespaceSelector=team_x))
    assert _cycle_pick(_pod("new", namespace="prod"), nodes, [(1, guard)], namespaces) == "m2"
    assert _cycle_pick(_pod("new", namespace="dev"), nodes, [(1, guard)], namespaces) == "m1"
    # preferred terms score with a selector too
    prefer = {"podAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [{"weight": 50, "podAffinityTerm": {
        "labelSelector": {"matchLabels": {"app": "db"}}, "namespaceSelector": team_x,
        "topologyKey": "kubernetes.io/hostname"}}]}}
    assert _cycle_pick(_pod("new", affinity=prefer), nodes, [(2, in_prod), (1, in_dev)], namespaces) == "m2"
    assert _cycle_pick(_pod("new", affinity=prefer), nodes, [(2, in_dev)], namespaces) == "m1"


def test_a_malformed_namespace_selector_is_rejected_by_the_apiserver() -> None:
    from test_apiserver import _code, run

    bad = {"matchExpressions": [{"key": "team", "operator": "Near", "values": ["x"]}]}

    async def body(rt: Any, c: Any, _s: Any) -> None:
        pod = _pod("p", affinity=_anti("db", namespaceSelector=bad))
        assert await _code(c.create("pods", pod)) == (422, "Invalid")
        with pytest.raises(ApiError) as info:
            await c.create("pods", pod)
        fields = [cause["field"] for cause in info.value.status["details"]["causes"]]
        assert fields == ["spec.affinity.podAntiAffinity.requiredDuringSchedulingIgnoredDuringExecution[0]"
                          ".namespaceSelector.matchExpressions[0].operator"]
        good = await c.create("pods", _pod("q", affinity=_anti("db", namespaceSelector={"matchLabels": {"team": "x"}})))
        assert good["metadata"]["uid"]
    run(body)


def test_default_spreading_of_a_replicasets_pods() -> None:
    """kube-scheduler's system default spreading: a ReplicaSet's (or a Service's) pods
    without constraints of their own spread over nodes and zones when resources tie; a
    pod with neither is not spread (ties go to the first name)."""
    from fake_runtime import FakeRuntime

    from kube.controllers import Scheduler, SharedInformers

    rt = FakeRuntime()
    sched = Scheduler(rt, None, SharedInformers(rt, None))  # type: ignore[arg-type]
    for i in range(1, 7):  # m1..m6: zones a, b, c, a, b, c
        sched.nodes._put({**_node(i), "metadata": {**_node(i)["metadata"], "resourceVersion": "1"}})
    sched.replicasets._put({"metadata": {"name": "web-1", "namespace": "default", "resourceVersion": "1"},
                            "spec": {"selector": {"matchLabels": {"app": "web"}}}})
    sched.services._put({"metadata": {"name": "api", "namespace": "default", "resourceVersion": "1"},
                         "spec": {"selector": {"app": "api"}}})
    owned = {"ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "web-1", "uid": "u",
                                  "controller": True}]}

    def place(app: str, i: int, **meta: Any) -> str:
        pod = _pod(f"{app}-{i}", app)
        pod["metadata"] |= {"uid": f"{app}-{i}", "resourceVersion": "1", **meta}
        best, _used, _cycle, _reasons = sched.pick(pod)
        assert best is not None
        sched.pods._put(pod | {"spec": {**pod["spec"], "nodeName": best[1]}, "status": {"phase": "Running"}})
        return best[1]
    web = [place("web", i, **owned) for i in range(6)]
    assert sorted(web) == ["m1", "m2", "m3", "m4", "m5", "m6"]  # one on each node
    assert sorted(int(n[1:]) % 3 for n in web[:3]) == [0, 1, 2]  # the first three in three zones
    api = [place("api", i) for i in range(3)]  # a Service's pods: spread too
    assert sorted(int(n[1:]) % 3 for n in api) == [0, 1, 2]
    assert [place("lone", i) for i in range(3)] == ["m1", "m1", "m1"]  # no owner, no Service: not spread
    # a pod with a spread constraint of its own does not get the defaults
    assert sched.default_selector(_pod("x", "web") | {"metadata": {"namespace": "default", "labels": {"app": "web"},
                                                                   **owned}}) is not None
    mine = _pod("y", "web", topologySpreadConstraints=_spread(1, when="ScheduleAnyway"))
    mine["metadata"] |= owned
    assert sched.default_selector(mine) is None
