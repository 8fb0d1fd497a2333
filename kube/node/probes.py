"""The kubelet's prober: readiness and liveness probes of running containers.

Each probe of a started container is a task: it waits ``initialDelaySeconds``, then every
``periodSeconds`` asks the probe (:func:`kube.node.behaviour.probe_succeeds`) while the
container runs.  Readiness turns True after ``successThreshold`` successes in a row and
False after ``failureThreshold`` failures in a row (it starts False); a container with no
readiness probe is ready while it runs.  ``failureThreshold`` liveness failures in a row
kill the container (StopContainer, exit code 137); the kubelet then restarts it per the
pod's ``restartPolicy``, with its crash-loop backoff.  ``on_change(pod)`` is called
whenever a container's readiness changes or it is killed, so the kubelet syncs the pod.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from raftkv.tasks import Runtime

from .behaviour import Probe, probe_of, probe_succeeds
from .cri import ContainerRuntime

__all__ = ["Prober"]


class Prober:
    def __init__(self, rt: Runtime, cri: ContainerRuntime, on_change: Callable[[str], None]) -> None:
        self.rt = rt
        self.cri = cri
        self.on_change = on_change
        self.ready: dict[str, bool] = {}  # container id -> readiness (containers with a readiness probe)
        self.liveness_kills = 0
        self._tasks: dict[str, list[Any]] = {}

    def start(self, cid: str, spec: dict[str, Any]) -> None:
        """Probe the (just started) container ``cid`` as ``spec`` says."""
        tasks = []
        readiness = probe_of(spec, "readinessProbe")
        if readiness is not None:
            self.ready[cid] = False
            tasks.append(self.rt.spawn(self._readiness(cid, readiness), name=f"readiness:{cid}"))
        liveness = probe_of(spec, "livenessProbe")
        if liveness is not None:
            tasks.append(self.rt.spawn(self._liveness(cid, liveness), name=f"liveness:{cid}"))
        if tasks:
            self._tasks[cid] = tasks

    def stop(self, cid: str) -> None:
        for task in self._tasks.pop(cid, ()):
            task.cancel()
        self.ready.pop(cid, None)

    def is_ready(self, cid: str) -> bool:
        status = self.cri.container_status(cid)
        return status.state == "running" and self.ready.get(cid, True)

    def _running_s(self, cid: str) -> float | None:
        if cid not in self.cri.containers:
            return None
        status = self.cri.container_status(cid)
        if status.state != "running":
            return None
        return (self.rt.monotonic_us() - status.started_us) / 1e6

    async def _readiness(self, cid: str, probe: Probe) -> None:
        await self.rt.sleep(probe.initial_delay_s)
        successes = failures = 0
        while (running_s := self._running_s(cid)) is not None:
            if probe_succeeds(probe, running_s):
                successes, failures = successes + 1, 0
            else:
                successes, failures = 0, failures + 1
            was = self.ready.get(cid, False)
            now = True if successes >= probe.success_threshold else False if failures >= probe.failure_threshold else was
            if now != was:
                self.ready[cid] = now
                self.rt.record("kubelet.readiness", container=cid, ready=now)
                self.on_change(self.cri.containers[cid].pod)
            await self.rt.sleep(probe.period_s)

    async def _liveness(self, cid: str, probe: Probe) -> None:
        await self.rt.sleep(probe.initial_delay_s)
        failures = 0
        while (running_s := self._running_s(cid)) is not None:
            failures = 0 if probe_succeeds(probe, running_s) else failures + 1
            if failures >= probe.failure_threshold:
                self.liveness_kills += 1
                self.rt.record("kubelet.liveness_failed", container=cid)
                self.cri.stop_container(cid, reason="Error")
                self.on_change(self.cri.containers[cid].pod)
                return
            await self.rt.sleep(probe.period_s)
