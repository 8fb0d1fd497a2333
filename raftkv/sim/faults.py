"""Applying a scenario's :class:`~raftkv.sim.scenario.Fault` events to a :class:`World`."""

from __future__ import annotations

from typing import Protocol

import attrs

from .network import Latency
from .scenario import SYSTEM_FAULT_KINDS, Fault, NetworkSpec
from .world import World

__all__ = ["CRASHED", "FOLLOWERS", "LEADER", "PAUSED", "FaultTarget", "MembershipControl", "apply_fault", "heal_everything", "network_latency"]


LEADER, CRASHED, PAUSED, FOLLOWERS = "@leader", "@crashed", "@paused", "@followers"


class FaultTarget(Protocol):
    """What :func:`apply_fault` needs from the hosted system."""

    membership: MembershipControl | None

    def leader(self) -> str | None:
        """The member that currently leads (as far as the world can see), if any."""


class MembershipControl(Protocol):
    """What a hosted system offers for membership faults."""

    def add_member(self, node: str, learner: bool) -> None: ...

    def remove_member(self, node: str) -> None: ...

    def promote(self, node: str) -> None: ...

    def demote(self, node: str) -> None: ...


def network_latency(spec: NetworkSpec, spike_prob: float | None = None,
                    spike_us: int | None = None) -> Latency:
    return Latency(
        min_us=spec.min_latency_us, max_us=spec.max_latency_us,
        spike_prob=spec.spike_prob if spike_prob is None else spike_prob,
        spike_us=spec.spike_us if spike_us is None else spike_us,
    )


def _resolve(world: World, fault: Fault, target: FaultTarget | None) -> tuple[str, ...] | None:
    """The nodes a fault's ``node`` names now: itself, the leader, every crashed/paused node."""
    if fault.node == LEADER:
        leader = target.leader() if target is not None else None
        return (leader,) if leader is not None else None
    if fault.node == FOLLOWERS:
        leader = target.leader() if target is not None else None
        return tuple(n for n in world.members if n != leader and world.is_up(n))
    if fault.node == CRASHED:
        return tuple(n for n in world.nodes if not world.is_up(n))
    if fault.node == PAUSED:
        return tuple(n for n in world.nodes if world.is_paused(n))
    if fault.node and fault.node not in world.nodes and fault.kind != "add_member":
        return None
    return (fault.node,)


def apply_fault(world: World, fault: Fault, spec: NetworkSpec, target: FaultTarget | None) -> None:
    kind = fault.kind
    nodes = _resolve(world, fault, target)
    if nodes is None:
        world.record("fault_skipped", node=fault.node, fault=kind, why="no such node now")
        return
    if fault.node in (LEADER, CRASHED, PAUSED, FOLLOWERS):
        for node in nodes:
            apply_fault(world, attrs.evolve(fault, node=node), spec, target)
        return
    membership = target.membership if target is not None else None
    if kind == "partition":
        world.partition([[n for n in group if n in world.nodes] for group in fault.groups])
    elif kind == "cut":
        for src, dst in fault.links:
            if src in world.nodes and dst in world.nodes:
                world.cut(src, dst)
    elif kind == "shape":
        world.partition_shape(fault.shape, fault.node or None)
    elif kind == "heal":
        world.heal()
    elif kind == "crash":
        world.crash(fault.node, torn=fault.torn)
    elif kind == "restart":
        world.restart(fault.node)
    elif kind == "pause":
        world.pause(fault.node)
    elif kind == "resume":
        world.resume(fault.node)
    elif kind == "clock":
        world.set_clock(fault.node, offset_us=fault.offset_us, drift_ppm=fault.drift_ppm)
    elif kind == "clock_jump":
        world.jump_clock(fault.node, fault.delta_us)
    elif kind == "network":
        world.set_network(loss=fault.loss, duplicate=fault.duplicate,
                          latency=network_latency(spec, fault.spike_prob, fault.spike_us))
    elif kind in ("add_member", "remove_member", "promote", "demote"):
        if membership is None:
            world.record("fault_skipped", node=fault.node, fault=kind, why="system has no membership")
        elif kind == "add_member":
            membership.add_member(fault.node, fault.learner)
        elif kind == "remove_member":
            membership.remove_member(fault.node)
        elif kind == "demote":
            membership.demote(fault.node)
        else:
            membership.promote(fault.node)
    elif kind in SYSTEM_FAULT_KINDS:
        handler = getattr(target, "system_fault", None)
        if handler is None:
            world.record("fault_skipped", node=fault.node, fault=kind, why="system has no such fault")
        else:
            handler(fault)
    else:  # validated scenarios never get here
        raise AssertionError(f"unknown fault kind {kind!r}")


def heal_everything(world: World, spec: NetworkSpec) -> None:
    """End of the fault phase: heal the network, resume and restart every process.

    Clock offsets stay (a real clock does not jump back), but drift stops.
    """
    world.heal()
    world.set_network(loss=spec.loss, duplicate=spec.duplicate, latency=network_latency(spec))
    for name in world.nodes:
        if world.is_paused(name):
            world.resume(name)
        if not world.is_up(name):
            world.restart(name)
        offset = world.local_time_us(name) - world.now_us
        world.set_clock(name, offset_us=offset, drift_ppm=0)
