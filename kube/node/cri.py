"""A CRI-shaped container runtime for a simulated node.

:class:`ContainerRuntime` has the verbs of the Container Runtime Interface that the
kubelet drives: :meth:`~ContainerRuntime.run_pod_sandbox` / :meth:`stop_pod_sandbox`,
:meth:`create_container` / :meth:`start_container` / :meth:`stop_container` /
:meth:`remove_container` and :meth:`container_status`.  A container is a simulated
process whose behaviour comes from its spec (:mod:`kube.node.behaviour`): it runs, may
grow its memory (charged to its cgroup, :mod:`kube.node.cgroups`: over the limit it is
OOM-killed, exit code 137, reason ``OOMKilled``) and may exit on its own (reason
``Completed`` for 0, else ``Error``).  It never restarts a container itself: that is the
kubelet's job (:mod:`kube.node.pods`).

Every start, exit and memory charge is a :class:`ContainerEvent` (times on the node's
monotonic clock) given to each subscriber (the kubelet's pod lifecycle event generator,
and a test or a simulated system's checks).  All timing is on the component's runtime.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import attrs

from raftkv.tasks import Runtime

from ..meta import format_timestamp
from .behaviour import Behaviour, BehaviourError, behaviour_of
from .cgroups import Cgroups, limits_of

__all__ = ["ContainerEvent", "ContainerRuntime", "ContainerStatus", "CriError"]

SIGKILL_EXIT_CODE = 137


class CriError(Exception):
    """A CRI call that failed (a container that cannot be created); the message says why."""


@attrs.frozen(kw_only=True)
class ContainerEvent:
    kind: str  # "started", "exited", "memory"
    node: str
    pod_uid: str
    pod: str  # namespace/name
    container: str
    attempt: int
    time_us: int  # the node's monotonic clock
    exit_code: int = 0
    reason: str = ""
    memory_bytes: int = 0
    limit_bytes: int = 0


@attrs.frozen(kw_only=True)
class ContainerStatus:
    id: str
    name: str
    attempt: int
    state: str  # "created", "running", "exited"
    started_us: int = 0  # monotonic
    finished_us: int = 0  # monotonic
    started_at: str = ""  # wall clock, RFC 3339
    finished_at: str = ""
    exit_code: int = 0
    reason: str = ""


@attrs.define
class _Container:
    id: str
    uid: str
    pod: str
    name: str
    attempt: int
    behaviour: Behaviour
    status: ContainerStatus
    task: Any = None


class ContainerRuntime:
    def __init__(self, rt: Runtime, cgroups: Cgroups, *, node: str = "") -> None:
        self.rt = rt
        self.cgroups = cgroups
        self.node = node or rt.node_id
        self.sandboxes: dict[str, str] = {}  # pod uid -> namespace/name
        self.containers: dict[str, _Container] = {}  # container id -> container, in creation order
        self._subscribers: list[Callable[[ContainerEvent], None]] = []

    def subscribe(self, listener: Callable[[ContainerEvent], None]) -> None:
        self._subscribers.append(listener)

    def _emit(self, c: _Container, kind: str, **fields: Any) -> None:
        event = ContainerEvent(kind=kind, node=self.node, pod_uid=c.uid, pod=c.pod, container=c.name,
                               attempt=c.attempt, time_us=self.rt.monotonic_us(), **fields)
        self.rt.record(f"cri.{kind}", pod=c.pod, container=c.name, attempt=c.attempt,
                       **{k: v for k, v in fields.items() if v})
        for listener in list(self._subscribers):
            listener(event)

    # ------------------------------------------------------------------ sandboxes
    def run_pod_sandbox(self, uid: str, pod: str) -> str:
        """RunPodSandbox: the pod's sandbox id (its uid)."""
        assert uid not in self.sandboxes, f"{self.node}: sandbox of {pod} runs twice"
        self.sandboxes[uid] = pod
        return uid

    def stop_pod_sandbox(self, uid: str) -> None:
        """StopPodSandbox (and RemovePodSandbox): stop and remove every container of the pod."""
        for cid in [cid for cid, c in self.containers.items() if c.uid == uid]:
            self.remove_container(cid)
        self.sandboxes.pop(uid, None)

    def stop_all(self) -> None:
        for uid in sorted(self.sandboxes):
            self.stop_pod_sandbox(uid)

    # ------------------------------------------------------------------ containers
    def create_container(self, uid: str, spec: dict[str, Any], attempt: int) -> str:
        """CreateContainer: the new container's id (``<pod uid>/<name>/<attempt>``)."""
        if uid not in self.sandboxes:
            raise CriError(f"no sandbox {uid}")
        name = str(spec.get("name", ""))
        cid = f"{uid}/{name}/{attempt}"
        assert cid not in self.containers, f"container {cid} created twice"
        try:
            behaviour, limits = behaviour_of(spec), limits_of(spec)
        except (BehaviourError, ValueError) as exc:
            raise CriError(str(exc)) from None
        self.cgroups.create(cid, limits)
        self.containers[cid] = _Container(id=cid, uid=uid, pod=self.sandboxes[uid], name=name, attempt=attempt,
                                          behaviour=behaviour,
                                          status=ContainerStatus(id=cid, name=name, attempt=attempt, state="created"))
        return cid

    def start_container(self, cid: str) -> None:
        """StartContainer: the process runs from now on."""
        c = self.containers[cid]
        assert c.status.state == "created", f"container {cid} started twice"
        now = self.rt.monotonic_us()
        c.status = attrs.evolve(c.status, state="running", started_us=now,
                                started_at=format_timestamp(self.rt.now_us()))
        self._emit(c, "started")
        if c.behaviour.cpu_m:
            self.cgroups.set_cpu_demand(cid, c.behaviour.cpu_m, now)
            limit_m = self.cgroups.containers[cid].limits.cpu_m
            if limit_m and c.behaviour.cpu_m > limit_m:
                self.rt.record("cgroup.throttled", pod=c.pod, container=c.name, wants_m=c.behaviour.cpu_m,
                               limit_m=limit_m)
        if c.behaviour.exit_after_s is not None or c.behaviour.memory_bytes:
            c.task = self.rt.spawn(self._process(c), name=f"container:{cid}")

    async def _process(self, c: _Container) -> None:
        b = c.behaviour
        ran_s = 0.0
        if b.memory_bytes and (b.exit_after_s is None or b.memory_after_s < b.exit_after_s):
            await self.rt.sleep(b.memory_after_s)
            ran_s = b.memory_after_s
            if not self.cgroups.charge_memory(c.id, b.memory_bytes):
                self._exited(c, SIGKILL_EXIT_CODE, "OOMKilled")
                return
            self._emit(c, "memory", memory_bytes=b.memory_bytes,
                       limit_bytes=self.cgroups.containers[c.id].limits.memory_bytes)
        if b.exit_after_s is not None:
            await self.rt.sleep(b.exit_after_s - ran_s)
            self._exited(c, b.exit_code, "Completed" if b.exit_code == 0 else "Error")

    def _exited(self, c: _Container, exit_code: int, reason: str) -> None:
        now = self.rt.monotonic_us()
        c.status = attrs.evolve(c.status, state="exited", finished_us=now, exit_code=exit_code, reason=reason,
                                finished_at=format_timestamp(self.rt.now_us()))
        c.task = None
        self.cgroups.set_cpu_demand(c.id, 0, now)
        self._emit(c, "exited", exit_code=exit_code, reason=reason)

    def stop_container(self, cid: str, *, exit_code: int = SIGKILL_EXIT_CODE, reason: str = "Error") -> None:
        """StopContainer: kill the process (SIGKILL: exit code 137) if it runs."""
        c = self.containers[cid]
        if c.status.state != "running":
            return
        if c.task is not None:
            c.task.cancel()
        self._exited(c, exit_code, reason)

    def remove_container(self, cid: str) -> None:
        """RemoveContainer: stopped first if it runs (no exit event: the pod is going)."""
        c = self.containers.pop(cid)
        if c.task is not None:
            c.task.cancel()
        self.cgroups.remove(cid, self.rt.monotonic_us())

    def container_status(self, cid: str) -> ContainerStatus:
        return self.containers[cid].status

    def list_containers(self, uid: str) -> list[ContainerStatus]:
        """The pod's containers, oldest first."""
        return [c.status for c in self.containers.values() if c.uid == uid]
