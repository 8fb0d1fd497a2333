"""Pod priority and preemption (kube.controllers.preemption) and the scheduler using it."""

from __future__ import annotations

from typing import Any

from test_controllers import _rs, run_plane

from kube import KubeClient
from kube.controllers import fits
from kube.controllers.preemption import pick_preemption, pod_priority


def _node(name: str, cpu: str = "2") -> dict:
    return {"metadata": {"name": name, "labels": {}}, "spec": {},
            "status": {"allocatable": {"cpu": cpu, "memory": "8Gi", "pods": "10"},
                       "conditions": [{"type": "Ready", "status": "True"}]}}


def _pod(name: str, cpu_m: int, priority: int | None = None) -> dict:
    spec: dict = {"containers": [{"name": "c", "resources": {"requests": {"cpu": f"{cpu_m}m"}}}]}
    if priority is not None:
        spec["priority"] = priority
    return {"metadata": {"name": name, "namespace": "default", "uid": name}, "spec": spec}


def _used(pods: list[dict]) -> dict[str, int]:
    return {"cpu": sum(int(p["spec"]["containers"][0]["resources"]["requests"]["cpu"][:-1]) for p in pods),
            "pods": len(pods)}


def test_priority_is_spec_priority_or_zero() -> None:
    assert pod_priority(_pod("a", 1, 7)) == 7 and pod_priority(_pod("a", 1)) == 0
    assert pod_priority({"spec": {"priority": True}}) == 0


def test_victims_are_lower_priority_and_the_most_important_are_reprieved() -> None:
    a, b, c = _pod("a", 500, 1), _pod("b", 500, 2), _pod("c", 1000, 3)
    high = _pod("high", 1000, 10)
    nodes = {"m1": _node("m1")}
    choice = pick_preemption(high, nodes, {"m1": [a, b, c]}, {"m1": _used([a, b, c])}, fits)
    assert choice is not None and choice.node == "m1"
    assert [v["metadata"]["name"] for v in choice.victims] == ["b", "a"]  # c reprieved first
    # equal or higher priority is never a victim; a pod too big for any node preempts nothing
    peer = _pod("peer", 2000, 10)
    assert pick_preemption(high, nodes, {"m1": [peer]}, {"m1": _used([peer])}, fits) is None
    assert pick_preemption(_pod("huge", 3000, 10), nodes, {"m1": [a]}, {"m1": _used([a])}, fits) is None


def test_the_node_with_the_least_important_victims_is_chosen() -> None:
    on = {"m1": [_pod("x", 2000, 5)], "m2": [_pod("y", 2000, 1)], "m3": [_pod("z1", 1000, 1), _pod("z2", 1000, 1)]}
    nodes = {name: _node(name) for name in on}
    choice = pick_preemption(_pod("high", 1500, 10), nodes, on, {n: _used(p) for n, p in on.items()}, fits)
    assert choice is not None and choice.node == "m2" and [v["metadata"]["name"] for v in choice.victims] == ["y"]


def test_a_high_priority_pod_preempts_lower_ones_and_is_scheduled() -> None:
    async def script(rt: Any, client: KubeClient, out: dict) -> None:
        await client.create("replicasets", _rs("low", 4, cpu="1000m"))  # fills both 2-cpu nodes
        await rt.sleep(3)
        await client.create("replicasets", _rs("high", 1, cpu="1500m", priority=100))
        await rt.sleep(5)
        out["pods"] = (await client.list("pods", "default"))["items"]

    out = run_plane(script, seconds=12.0)
    pods = out["pods"]
    high = [p for p in pods if p["metadata"]["labels"]["app"] == "high"]
    assert len(high) == 1 and high[0]["spec"].get("nodeName") and high[0]["status"]["phase"] == "Running"
    assert high[0]["status"]["nominatedNodeName"] == high[0]["spec"]["nodeName"]
    low = [p for p in pods if p["metadata"]["labels"]["app"] == "low"]
    assert sum(1 for p in low if p["spec"].get("nodeName")) == 2  # the other two wait: no room, no priority
    assert out["sched"].preempted == 2
