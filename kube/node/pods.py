"""The kubelet's SyncPod for a running sandbox: containers started, restarted per the
pod's ``restartPolicy`` with crash-loop backoff, and the status that follows.

* ``restartPolicy``: ``Always`` (the default) restarts a container whatever its exit
  code, ``OnFailure`` only after a non-zero exit, ``Never`` never;
* crash-loop backoff (:class:`BackoffPolicy`): the n-th restart in a row waits
  ``min(initial_s * 2**(n-1), max_s)`` after the exit (10 s, 20 s, 40 s ... 300 s, the
  kubelet's), in the meantime the container is waiting with reason
  ``CrashLoopBackOff``; a container that ran ``reset_after_s`` (10 minutes) before it
  exited starts the count again;
* status: ``containerStatuses`` (state running / waiting / terminated with exitCode and
  reason, ``lastState``, ``restartCount``, ``ready``), phase ``Running`` while any
  container runs or will restart, ``Succeeded`` once every container exited 0 for good,
  ``Failed`` once every container is done and one of them failed, ``Pending`` while no
  container could be created; the pod is ready when every container runs and passes its
  readiness probe (:mod:`kube.node.probes`).
"""

from __future__ import annotations

import hashlib
from typing import Any

import attrs

from raftkv.tasks import Runtime

from .cri import ContainerRuntime, ContainerStatus, CriError
from .probes import Prober

__all__ = ["BUG_RESTART_WITHOUT_BACKOFF", "BackoffPolicy", "PodSync", "PodSyncer", "should_restart"]

#: Catalogued bug: an exited container is restarted at once, with no crash-loop backoff.
BUG_RESTART_WITHOUT_BACKOFF = "restart_without_backoff"


@attrs.frozen(kw_only=True)
class BackoffPolicy:
    initial_s: float = 10.0
    max_s: float = 300.0
    reset_after_s: float = 600.0

    def __attrs_post_init__(self) -> None:
        assert 0 < self.initial_s <= self.max_s and self.reset_after_s > 0, self

    def delay_s(self, restarts_in_a_row: int) -> float:
        """The wait before a restart that follows ``restarts_in_a_row`` restarts."""
        assert restarts_in_a_row >= 0
        factor: int = 2 ** min(restarts_in_a_row, 62)
        return min(self.initial_s * factor, self.max_s)


@attrs.frozen(kw_only=True)
class PodSync:
    phase: str
    ready: bool
    container_statuses: tuple[dict[str, Any], ...]
    requeue_after_s: float = 0.0

    @property
    def terminal(self) -> bool:
        return self.phase in ("Succeeded", "Failed")


def should_restart(policy: str, exit_code: int) -> bool:
    return policy == "Always" or (policy == "OnFailure" and exit_code != 0)


def _terminated(s: ContainerStatus) -> dict[str, Any]:
    return {"terminated": {"exitCode": s.exit_code, "reason": s.reason, "startedAt": s.started_at,
                           "finishedAt": s.finished_at, "containerID": f"sim://{s.id}"}}


class PodSyncer:
    def __init__(self, rt: Runtime, cri: ContainerRuntime, prober: Prober, backoff: BackoffPolicy, *,
                 bugs: frozenset[str] = frozenset()) -> None:
        self.rt = rt
        self.cri = cri
        self.prober = prober
        self.backoff = backoff
        self.bugs = bugs
        self.in_a_row: dict[str, int] = {}  # "<pod uid>/<container>" -> restarts in a row
        self.restarts = 0

    def forget(self, uid: str) -> None:
        """The pod's sandbox is gone: stop probing its containers, drop its backoff."""
        for s in self.cri.list_containers(uid):
            self.prober.stop(s.id)
        for key in [k for k in self.in_a_row if k.startswith(f"{uid}/")]:
            del self.in_a_row[key]

    def _start(self, uid: str, spec: dict[str, Any], attempt: int) -> None:
        cid = self.cri.create_container(uid, spec, attempt)
        self.cri.start_container(cid)
        self.prober.start(cid, spec)

    def _gc(self, uid: str, name: str) -> None:
        """Keep the newest two containers of ``name`` (the current one and its lastState)."""
        history = [s for s in self.cri.list_containers(uid) if s.name == name]
        for s in history[:-2]:
            self.prober.stop(s.id)
            self.cri.remove_container(s.id)

    def sync(self, pod: dict[str, Any]) -> PodSync:
        """Start what has not started, restart what may restart now; the pod's status."""
        uid, spec = pod["metadata"]["uid"], pod["spec"]
        policy = spec.get("restartPolicy") or "Always"
        now_us = self.rt.monotonic_us()
        requeue_us = 0
        statuses: list[dict[str, Any]] = []
        done = failed = ran = 0
        ready = True
        containers = spec.get("containers") or ()
        for c in containers:
            name = str(c.get("name", ""))
            history = [s for s in self.cri.list_containers(uid) if s.name == name]
            waiting: dict[str, Any] | None = None
            if not history:
                try:
                    self._start(uid, c, 0)
                except CriError as exc:
                    waiting = {"reason": "CreateContainerError", "message": str(exc)}
            elif history[-1].state == "exited" and should_restart(policy, history[-1].exit_code):
                last = history[-1]
                key = f"{uid}/{name}"
                in_a_row = self.in_a_row.get(key, 0)
                if last.finished_us - last.started_us >= round(self.backoff.reset_after_s * 1e6):
                    in_a_row = 0
                delay_s = self.backoff.delay_s(in_a_row)
                due_us = last.finished_us + (0 if BUG_RESTART_WITHOUT_BACKOFF in self.bugs else round(delay_s * 1e6))
                if now_us >= due_us:
                    self.in_a_row[key] = in_a_row + 1
                    self.restarts += 1
                    try:
                        self._start(uid, c, last.attempt + 1)
                    except CriError as exc:
                        waiting = {"reason": "CreateContainerError", "message": str(exc)}
                    self._gc(uid, name)
                else:
                    waiting = {"reason": "CrashLoopBackOff",
                               "message": f"back-off {delay_s:g}s restarting failed container={name} "
                                          f"pod={pod['metadata']['name']}"}
                    requeue_us = min(requeue_us or due_us - now_us, due_us - now_us)
            history = [s for s in self.cri.list_containers(uid) if s.name == name]
            image = str(c.get("image", ""))
            status: dict[str, Any] = {"name": name, "image": image, "imageID": _image_id(image) if history else "",
                                      "ready": False, "restartCount": history[-1].attempt if history else 0,
                                      "started": False}
            if history:
                status["containerID"] = f"sim://{history[-1].id}"
            current = history[-1] if history and waiting is None else None
            previous = history[-1] if waiting is not None and history else history[-2] if len(history) > 1 else None
            if current is not None and current.state == "running":
                status["state"] = {"running": {"startedAt": current.started_at}}
                status["started"] = True
                status["ready"] = self.prober.is_ready(current.id)
            elif current is not None:  # exited for good
                status["state"] = _terminated(current)
                done += 1
                failed += current.exit_code != 0
            else:
                status["state"] = {"waiting": waiting or {"reason": "ContainerCreating"}}
            if previous is not None:
                status["lastState"] = _terminated(previous)
            ran += bool(history)
            ready = ready and status["ready"]
            statuses.append(status)
        if containers and done == len(containers):
            phase = "Failed" if failed else "Succeeded"
        else:
            phase = "Running" if ran or not containers else "Pending"
        return PodSync(phase=phase, ready=ready and phase == "Running", container_statuses=tuple(statuses),
                       requeue_after_s=requeue_us / 1e6)


def _image_id(image: str) -> str:
    """The image's digest reference once pulled, as the kubelet reports it (a simulated
    digest: the same image always has the same one)."""
    name = image.split("@", 1)[0]
    return f"{name}@sha256:{hashlib.sha256(name.encode()).hexdigest()}"
