"""What a simulated container does, read from its spec.

A container's ``command`` followed by its ``args`` says how its simulated process
behaves (times in seconds of the node's monotonic clock, quantities as Kubernetes
writes them):

* ``["sleep", S]``: runs S seconds, then exits 0;
* ``["true"]`` / ``["false"]``: exits 0 / 1 at once;
* ``["exit", CODE]`` or ``["exit", CODE, S]``: exits with CODE after S seconds (default 0);
* ``["oom", SIZE]`` or ``["oom", SIZE, S]``: its memory use grows to SIZE (``"300Mi"``)
  after S seconds (default 1), then it runs on; over its memory limit it is OOMKilled;
* ``["burn", CPU]``: runs forever wanting CPU (``"1500m"``); a lower CPU limit throttles it;
* anything else (no command, ``pause``, ``nginx`` ...): runs until stopped.

Probes (``readinessProbe``, ``livenessProbe``) with an ``exec.command``:

* ``["true"]`` succeeds and ``["false"]`` fails, every time;
* ``["ready-after", S]`` fails until the container has run S seconds, then succeeds;
* ``["fail-after", S]`` succeeds until the container has run S seconds, then fails;
* any other command fails (as an exec of a missing binary does);

A ``lifecycle.preStop`` hook runs before the container is told to stop: ``exec`` with
``["sleep", S]`` takes S seconds (a server draining its connections, a database flushing),
any other handler none; the pod's shutdown (its slowest hook) is cut short at its
``terminationGracePeriodSeconds`` (default 30), as the kubelet kills what is left then.

``httpGet``, ``tcpSocket`` and ``grpc`` probes succeed while the container runs.  A
command that cannot be read (``["sleep", "soon"]``) is a :class:`BehaviourError` whose
message names the container: the runtime reports it as ``CreateContainerError``.
"""

from __future__ import annotations

from typing import Any

import attrs

from ..controllers.resources import ResourceError, parse_quantity

__all__ = ["Behaviour", "BehaviourError", "Probe", "behaviour_of", "pod_shutdown_s", "probe_of", "probe_succeeds"]

DEFAULT_GRACE_S = 30  # a pod's terminationGracePeriodSeconds when it gives none


class BehaviourError(ValueError):
    """A container command the simulator cannot read; the message names it."""


@attrs.frozen(kw_only=True)
class Behaviour:
    exit_after_s: float | None = None  # None: runs until stopped
    exit_code: int = 0
    memory_bytes: int = 0  # memory use it grows to
    memory_after_s: float = 0.0
    cpu_m: int = 0  # CPU it wants

    def __attrs_post_init__(self) -> None:
        assert self.exit_after_s is None or self.exit_after_s >= 0, self
        assert self.memory_bytes >= 0 and self.memory_after_s >= 0 and self.cpu_m >= 0, self


@attrs.frozen(kw_only=True)
class Probe:
    kind: str  # "exec", "httpGet", "tcpSocket", "grpc"
    command: tuple[str, ...] = ()
    initial_delay_s: float = 0.0
    period_s: float = 10.0
    failure_threshold: int = 3
    success_threshold: int = 1

    def __attrs_post_init__(self) -> None:
        assert self.period_s > 0 and self.failure_threshold >= 1 and self.success_threshold >= 1, self


def _seconds(name: str, argv: list[str], i: int, default: float) -> float:
    if len(argv) <= i:
        return default
    try:
        value = float(argv[i])
    except ValueError:
        raise BehaviourError(f"container {name}: {argv[0]} wants seconds, got {argv[i]!r}") from None
    if value < 0 or value != value:
        raise BehaviourError(f"container {name}: {argv[0]} wants seconds >= 0, got {argv[i]!r}")
    return value


def _argv(container: dict[str, Any]) -> list[str]:
    return [str(a) for a in (*(container.get("command") or ()), *(container.get("args") or ()))]


def behaviour_of(container: dict[str, Any]) -> Behaviour:
    """The behaviour of ``container`` (a pod spec's container object)."""
    name, argv = str(container.get("name", "?")), _argv(container)
    verb = argv[0] if argv else ""
    try:
        if verb == "sleep":
            if len(argv) != 2:
                raise BehaviourError(f"container {name}: sleep wants one argument, got {argv[1:]}")
            return Behaviour(exit_after_s=_seconds(name, argv, 1, 0.0))
        if verb in ("true", "false") and len(argv) == 1:
            return Behaviour(exit_after_s=0.0, exit_code=0 if verb == "true" else 1)
        if verb == "exit":
            if not 2 <= len(argv) <= 3:
                raise BehaviourError(f"container {name}: exit wants CODE [SECONDS], got {argv[1:]}")
            try:
                code = int(argv[1])
            except ValueError:
                raise BehaviourError(f"container {name}: exit code {argv[1]!r} is not an integer") from None
            if not 0 <= code <= 255:
                raise BehaviourError(f"container {name}: exit code {code} is not in 0..255")
            return Behaviour(exit_after_s=_seconds(name, argv, 2, 0.0), exit_code=code)
        if verb == "oom":
            if not 2 <= len(argv) <= 3:
                raise BehaviourError(f"container {name}: oom wants SIZE [SECONDS], got {argv[1:]}")
            return Behaviour(memory_bytes=parse_quantity("memory", argv[1]),
                             memory_after_s=_seconds(name, argv, 2, 1.0))
        if verb == "burn":
            if len(argv) != 2:
                raise BehaviourError(f"container {name}: burn wants CPU, got {argv[1:]}")
            return Behaviour(cpu_m=parse_quantity("cpu", argv[1]))
    except ResourceError as exc:
        raise BehaviourError(f"container {name}: {exc}") from None
    return Behaviour()


def _pre_stop_s(container: dict[str, Any]) -> float:
    hook = ((container.get("lifecycle") or {}).get("preStop") or {}).get("exec") or {}
    argv = [str(a) for a in hook.get("command") or ()]
    if len(argv) == 2 and argv[0] == "sleep":
        try:
            return _seconds(str(container.get("name", "?")), argv, 1, 0.0)
        except BehaviourError:
            return 0.0  # fails at once, as an exec that cannot run does
    return 0.0


def pod_shutdown_s(pod: dict[str, Any]) -> float:
    """How long ``pod``'s preStop hooks hold up its stop (they run side by side), at most
    its ``terminationGracePeriodSeconds`` (a hook that cannot be read takes no time)."""
    spec = pod.get("spec") or {}
    hooks = [_pre_stop_s(c) for c in spec.get("containers") or ()]
    grace = spec.get("terminationGracePeriodSeconds", DEFAULT_GRACE_S)
    limit_s = float(grace) if isinstance(grace, (int, float)) and grace >= 0 else float(DEFAULT_GRACE_S)
    return min(max(hooks, default=0.0), limit_s)


def probe_of(container: dict[str, Any], field: str) -> Probe | None:
    """``container[field]`` (``readinessProbe`` or ``livenessProbe``) as a :class:`Probe`."""
    spec = container.get(field)
    if not spec:
        return None
    kind = next((k for k in ("exec", "httpGet", "tcpSocket", "grpc") if k in spec), "")
    if not kind:
        raise BehaviourError(f"container {container.get('name', '?')}: {field} has no exec, httpGet, "
                             "tcpSocket or grpc handler")
    try:
        return Probe(kind=kind, command=tuple(str(a) for a in (spec.get("exec") or {}).get("command") or ()),
                     initial_delay_s=float(spec.get("initialDelaySeconds", 0)),
                     period_s=float(spec.get("periodSeconds", 10)),
                     failure_threshold=int(spec.get("failureThreshold", 3)),
                     success_threshold=int(spec.get("successThreshold", 1)))
    except (TypeError, ValueError, AssertionError):
        raise BehaviourError(f"container {container.get('name', '?')}: {field} has a bad number") from None


def probe_succeeds(probe: Probe, running_s: float) -> bool:
    """The outcome of ``probe`` against a container that has run ``running_s`` seconds."""
    if probe.kind != "exec":
        return True
    cmd = probe.command
    if cmd == ("true",):
        return True
    if len(cmd) == 2 and cmd[0] in ("ready-after", "fail-after"):
        try:
            after_s = float(cmd[1])
        except ValueError:
            return False
        return (running_s >= after_s) == (cmd[0] == "ready-after")
    return False
