"""cgroup accounting for a simulated node.

Pods: their *requests* reserve the node's allocatable (:meth:`Cgroups.admit` says which
resource a pod lacks, :meth:`reserve` / :meth:`release` account for it), the kubelet's
admission.  Containers: their *limits* cap them.  A container charged more memory than its
``limits.memory`` is OOM-killed (:meth:`charge_memory` says so; the runtime ends it with
reason ``OOMKilled``, exit code 137); one that wants more CPU than its ``limits.cpu`` is
throttled, and the throttled time is recorded (:meth:`throttled_us`), as the CPU
controller's ``cpu.stat`` ``throttled_usec`` does.
"""

from __future__ import annotations

from typing import Any

import attrs

from ..controllers.resources import RESOURCES, parse_quantity

__all__ = ["BUG_OOM_IGNORES_LIMIT", "Cgroups", "Limits", "limits_of"]

#: Catalogued bug: memory over a container's limit is charged without an OOM kill.
BUG_OOM_IGNORES_LIMIT = "oom_ignores_limit"


@attrs.frozen(kw_only=True)
class Limits:
    memory_bytes: int = 0  # 0: no limit
    cpu_m: int = 0  # 0: no limit


def limits_of(container: dict[str, Any]) -> Limits:
    limits = (container.get("resources") or {}).get("limits") or {}
    return Limits(memory_bytes=parse_quantity("memory", limits["memory"]) if "memory" in limits else 0,
                  cpu_m=parse_quantity("cpu", limits["cpu"]) if "cpu" in limits else 0)


@attrs.define
class _Container:
    limits: Limits
    memory_bytes: int = 0
    cpu_demand_m: int = 0
    throttled_since_us: int | None = None
    throttled_us: int = 0


class Cgroups:
    def __init__(self, allocatable: dict[str, int], *, bugs: frozenset[str] = frozenset()) -> None:
        self.allocatable = dict(allocatable)
        self.bugs = bugs
        self.pods: dict[str, dict[str, int]] = {}  # pod uid -> requests reserved
        self.containers: dict[str, _Container] = {}  # container id -> its cgroup
        self.oom_kills = 0

    # ------------------------------------------------------------------ pods: requests reserve
    def reserved(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for uid in sorted(self.pods):
            for res, n in sorted(self.pods[uid].items()):
                out[res] = out.get(res, 0) + n
        return out

    def admit(self, requests: dict[str, int]) -> str:
        """"" when a pod asking for ``requests`` fits beside the pods reserved, else the
        first resource it lacks."""
        used = self.reserved()
        for res in RESOURCES:
            if res in self.allocatable and used.get(res, 0) + requests.get(res, 0) > self.allocatable[res]:
                return res
        return ""

    def reserve(self, uid: str, requests: dict[str, int]) -> None:
        assert uid not in self.pods, f"pod {uid} reserved twice"
        self.pods[uid] = dict(requests)

    def release(self, uid: str) -> None:
        self.pods.pop(uid, None)

    # ------------------------------------------------------------------ containers: limits cap
    def create(self, container_id: str, limits: Limits) -> None:
        assert container_id not in self.containers, f"cgroup {container_id} exists"
        self.containers[container_id] = _Container(limits)

    def remove(self, container_id: str, now_us: int) -> None:
        if container_id in self.containers:
            self.set_cpu_demand(container_id, 0, now_us)
            del self.containers[container_id]

    def charge_memory(self, container_id: str, memory_bytes: int) -> bool:
        """Set the container's memory use; False when that is over its limit: the kernel's
        OOM killer ends it (the caller stops it, reason OOMKilled)."""
        c = self.containers[container_id]
        c.memory_bytes = memory_bytes
        over = bool(c.limits.memory_bytes) and memory_bytes > c.limits.memory_bytes
        if over and BUG_OOM_IGNORES_LIMIT not in self.bugs:
            self.oom_kills += 1
            return False
        return True

    def memory_bytes(self, container_id: str) -> int:
        return self.containers[container_id].memory_bytes

    def set_cpu_demand(self, container_id: str, cpu_m: int, now_us: int) -> None:
        """The CPU the container wants from now on; over its limit it is throttled."""
        c = self.containers[container_id]
        if c.throttled_since_us is not None:
            c.throttled_us += now_us - c.throttled_since_us
            c.throttled_since_us = None
        c.cpu_demand_m = cpu_m
        if c.limits.cpu_m and cpu_m > c.limits.cpu_m:
            c.throttled_since_us = now_us

    def throttled_us(self, container_id: str, now_us: int) -> int:
        """How long the container has been held to its CPU limit."""
        c = self.containers[container_id]
        return c.throttled_us + (now_us - c.throttled_since_us if c.throttled_since_us is not None else 0)
