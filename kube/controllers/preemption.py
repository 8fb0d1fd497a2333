"""Pod priority and preemption (kube-scheduler's DefaultPreemption, one pod at a time).

A pod's priority is ``spec.priority`` (what kube-apiserver's Priority admission resolves
from a PriorityClass; 0 when unset).  When a pod fits on no node, :func:`pick_preemption`
looks for the node where evicting pods of *lower* priority makes it fit: on each node
that fails only for resources, every lower-priority pod is a candidate victim; victims
are then reprieved from the highest priority down while the pod still fits without
them.  The node chosen has the lowest highest-victim priority, then the fewest victims,
then the smallest name.  The scheduler deletes the victims and records the node in the
pod's ``status.nominatedNodeName``; the pod is scheduled again once they are gone.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import attrs

from .resources import pod_requests

__all__ = ["Preemption", "pick_preemption", "pod_priority"]


def pod_priority(pod: dict[str, Any]) -> int:
    value = (pod.get("spec") or {}).get("priority")
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


@attrs.frozen(kw_only=True)
class Preemption:
    node: str
    victims: tuple[dict[str, Any], ...]


def _shift(used: dict[str, int], pods: Sequence[dict[str, Any]], sign: int) -> dict[str, int]:
    """``used`` with the requests of ``pods`` added (sign 1) or taken away (sign -1)."""
    out = dict(used)
    for pod in pods:
        for res, n in pod_requests(pod).items():
            out[res] = out.get(res, 0) + sign * n
    return out


def _victims(pod: dict[str, Any], node: dict[str, Any], on_node: Sequence[dict[str, Any]], used: dict[str, int],
             fits: Callable[[dict[str, Any], dict[str, Any], dict[str, int]], str]) -> list[dict[str, Any]] | None:
    priority = pod_priority(pod)
    lower = sorted((p for p in on_node if pod_priority(p) < priority),
                   key=lambda p: (-pod_priority(p), p["metadata"]["name"]))
    if not lower:
        return None
    free = _shift(used, lower, -1)
    if fits(pod, node, free):
        return None  # evicting every lower-priority pod is not enough, or it fails for another reason
    victims = []
    for candidate in lower:  # reprieve the most important first
        back = _shift(free, [candidate], 1)
        if fits(pod, node, back):
            victims.append(candidate)
        else:
            free = back
    return victims


def pick_preemption(pod: dict[str, Any], nodes: dict[str, dict[str, Any]], pods_by_node: dict[str, list[dict[str, Any]]],
                    used: dict[str, dict[str, int]],
                    fits: Callable[[dict[str, Any], dict[str, Any], dict[str, int]], str]) -> Preemption | None:
    """Where evicting lower-priority pods lets ``pod`` in (None: nowhere)."""
    best: tuple[tuple[int, int, str], Preemption] | None = None
    for name in sorted(nodes):
        victims = _victims(pod, nodes[name], pods_by_node.get(name, []), used.get(name, {}), fits)
        if not victims:
            continue
        rank = (max(pod_priority(v) for v in victims), len(victims), name)
        if best is None or rank < best[0]:
            best = (rank, Preemption(node=name, victims=tuple(victims)))
    return None if best is None else best[1]
