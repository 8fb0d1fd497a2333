"""The deterministic world: virtual time, an event queue, and the actors it hosts.

Events are ordered by ``(time_us, sequence)``: ties always break the same way.  One
seed feeds every source of randomness through its own ``random.Random`` (the network,
each node), so a run is a pure function of its inputs.
"""

from __future__ import annotations

import heapq
import random
from collections.abc import Callable, Hashable, Iterable
from typing import Any

from raftkv.env import Actor, Disk, TimerId

from .clock import NodeClock
from .disk import SimDisk
from .network import Latency, NetworkModel, cuts_for_groups
from .shapes import shape_cuts
from .trace import Trace, TraceEvent

__all__ = ["World", "derive_rng"]

ActorFactory = Callable[[Any], Actor]

# Event kinds in the queue.
_DELIVER, _TIMER, _CALL = 0, 1, 2


def derive_rng(seed: int, component: str) -> random.Random:
    """An independent, reproducible stream for one component (str seeds hash with SHA-512)."""
    return random.Random(f"raftkv:{seed}:{component}")


class _Node:
    __slots__ = ("actor", "client", "clock", "disk", "env", "factory", "incarnation", "name", "parked",
                 "paused", "rng", "timers", "up")

    def __init__(self, name: str, factory: ActorFactory, rng: random.Random, client: bool) -> None:
        self.name = name
        self.client = client
        self.factory = factory
        self.rng = rng
        self.clock = NodeClock()
        self.disk = SimDisk()
        self.actor: Actor | None = None
        self.env: SimEnv | None = None
        self.up = False
        self.paused = False
        self.incarnation = 0
        self.timers: dict[TimerId, Hashable] = {}
        # Events held while paused: (kind, a, b) in arrival order.
        self.parked: list[tuple[int, Any, Any]] = []


class SimEnv:
    """What one incarnation of an actor sees of the world (see :class:`raftkv.env.Env`)."""

    __slots__ = ("_incarnation", "_node", "_world")

    def __init__(self, world: World, node: _Node) -> None:
        self._world = world
        self._node = node
        self._incarnation = node.incarnation

    def _live(self) -> bool:
        node = self._node
        return node.up and node.incarnation == self._incarnation

    @property
    def node_id(self) -> str:
        return self._node.name

    @property
    def rng(self) -> random.Random:
        return self._node.rng

    @property
    def disk(self) -> Disk:
        return self._node.disk

    def now_us(self) -> int:
        return self._node.clock.local_us(self._world.now_us)

    def monotonic_us(self) -> int:
        return self._node.clock.monotonic_us(self._world.now_us)

    def send(self, dst: str, msg: Any) -> None:
        node = self._node
        if node.up and node.incarnation == self._incarnation:
            self._world._send(node.name, dst, msg)

    def set_timer(self, delay_us: int, tag: Hashable) -> TimerId:
        assert delay_us >= 0, f"timer delay {delay_us} us is negative"
        world = self._world
        node = self._node
        world._timer_seq += 1
        timer_id = world._timer_seq
        if not self._live():
            return timer_id
        node.timers[timer_id] = tag
        world._seq += 1
        at = world.now_us + node.clock.global_delay_us(delay_us)
        heapq.heappush(world._queue, (at, world._seq, _TIMER, node, timer_id, node.incarnation))
        return timer_id

    def cancel_timer(self, timer_id: TimerId) -> None:
        self._node.timers.pop(timer_id, None)

    def record(self, kind: str, **fields: Any) -> None:
        if self._live():
            self._world.trace.add(self._world.now_us, self._node.name, kind, fields)


class World:
    """Hosts actors in virtual time and injects faults.  See docs of each method."""

    def __init__(self, seed: int, *, trace_messages: bool = True) -> None:
        self.seed = seed
        self.now_us = 0
        self.trace = Trace()
        self.trace_messages = trace_messages
        self.network = NetworkModel(f"raftkv:{seed}:network")
        self.events_processed = 0
        self.messages_sent = 0
        self._queue: list[tuple[Any, ...]] = []
        self._seq = 0
        self._timer_seq = 0
        self._nodes: dict[str, _Node] = {}

    # -- set-up -------------------------------------------------------------------
    def add_node(self, name: str, factory: ActorFactory, *, start: bool = True,
                 client: bool = False) -> None:
        """Host a new actor.  ``client`` nodes stand outside the cluster: partitions and
        shapes cut links between members only, as in Jepsen (cut() still reaches them)."""
        if name in self._nodes:
            raise ValueError(f"node {name!r} already exists")
        self._nodes[name] = _Node(name, factory, derive_rng(self.seed, f"node:{name}"), client)
        if start:
            self._start(self._nodes[name], "start")

    def remove_node(self, name: str) -> None:
        """Take a node out of the world for good (its disk goes with it)."""
        node = self._node(name)
        self._stop(node, torn=False, kind="remove")
        del self._nodes[name]

    @property
    def nodes(self) -> list[str]:
        return sorted(self._nodes)

    @property
    def members(self) -> list[str]:
        """The nodes partitions apply to (every node not added as a client)."""
        return sorted(name for name, node in self._nodes.items() if not node.client)

    def actor(self, name: str) -> Actor | None:
        node = self._nodes.get(name)
        return node.actor if node is not None and node.up else None

    def is_up(self, name: str) -> bool:
        return self._node(name).up

    def is_paused(self, name: str) -> bool:
        return self._node(name).paused

    def disk(self, name: str) -> SimDisk:
        return self._node(name).disk

    def local_time_us(self, name: str) -> int:
        return self._node(name).clock.local_us(self.now_us)

    def subscribe(self, callback: Callable[[TraceEvent], None]) -> None:
        self.trace.subscribe(callback)

    def schedule(self, at_us: int, fn: Callable[[], None]) -> None:
        """Call ``fn()`` at global time ``at_us`` (not before now)."""
        self._seq += 1
        heapq.heappush(self._queue, (max(at_us, self.now_us), self._seq, _CALL, fn, None, None))

    def record(self, kind: str, node: str = "-", **fields: Any) -> None:
        self.trace.add(self.now_us, node, kind, fields)

    # -- running ------------------------------------------------------------------
    def run_until(self, time_us: int) -> None:
        self._run(time_us, None)
        self.now_us = max(self.now_us, time_us)

    def run_for(self, duration_us: int) -> None:
        self.run_until(self.now_us + duration_us)

    def run_until_pred(self, pred: Callable[[], bool], limit_us: int) -> bool:
        """Run until ``pred()`` holds (checked after every event) or ``limit_us`` passes."""
        if pred():
            return True
        deadline = self.now_us + limit_us
        done = self._run(deadline, pred)
        if not done:
            self.now_us = max(self.now_us, deadline)
        return done

    def _run(self, until_us: int, pred: Callable[[], bool] | None) -> bool:
        queue = self._queue
        pop = heapq.heappop
        trace_messages = self.trace_messages
        add = self.trace.add
        while queue and queue[0][0] <= until_us:
            at, _seq, kind, a, b, c = pop(queue)
            self.now_us = at
            self.events_processed += 1
            if kind == _DELIVER:
                node = self._nodes.get(a)
                if node is None or not node.up:
                    if trace_messages:
                        add(at, a, "drop", {"src": b, "msg": c, "why": "down"})
                elif node.paused:
                    node.parked.append((_DELIVER, b, c))
                else:
                    if trace_messages:
                        add(at, a, "deliver", {"src": b, "msg": c})
                    node.actor.on_message(b, c)  # type: ignore[union-attr]
            elif kind == _TIMER:
                node = a
                if node.incarnation != c or b not in node.timers:
                    continue
                if node.paused:
                    node.parked.append((_TIMER, b, None))
                    continue
                tag = node.timers.pop(b)
                node.actor.on_timer(tag)
            else:
                a()
            if pred is not None and pred():
                return True
        return False

    def _send(self, src: str, dst: str, msg: Any) -> None:
        self.messages_sent += 1
        network = self.network
        link = (src, dst)
        if network.cuts and link in network.cuts:
            if self.trace_messages:
                self.trace.add(self.now_us, src, "drop", {"dst": dst, "msg": msg, "why": "cut"})
            return
        delays = network.plan_link(link)
        if not delays:
            if self.trace_messages:
                self.trace.add(self.now_us, src, "drop", {"dst": dst, "msg": msg, "why": "loss"})
            return
        queue = self._queue
        for delay in delays:
            self._seq += 1
            heapq.heappush(queue, (self.now_us + delay, self._seq, _DELIVER, dst, src, msg))

    # -- process faults -------------------------------------------------------------
    def _node(self, name: str) -> _Node:
        try:
            return self._nodes[name]
        except KeyError:
            raise ValueError(f"unknown node {name!r}; nodes: {', '.join(self.nodes)}") from None

    def _start(self, node: _Node, kind: str) -> None:
        assert not node.up
        node.incarnation += 1
        node.up = True
        node.paused = False
        node.env = SimEnv(self, node)
        self.trace.add(self.now_us, node.name, kind, {})
        node.actor = node.factory(node.env)
        node.actor.on_start()

    def _stop(self, node: _Node, *, torn: bool, kind: str) -> None:
        if not node.up:
            return
        actor = node.actor
        node.up = False
        node.paused = False
        node.actor = None
        node.env = None
        node.timers.clear()
        node.parked.clear()
        lost = node.disk.crash(torn=torn)
        self.trace.add(self.now_us, node.name, kind, {"lost_writes": lost, "torn": torn})
        # An actor may ask to hear of its end (async hosts cancel their tasks); it is down
        # already, so nothing it sends or records then leaves the node.
        on_stop = getattr(actor, "on_stop", None)
        if on_stop is not None:
            on_stop()

    def crash(self, name: str, torn: bool = False) -> None:
        """Kill the process: volatile state, timers and unsynced disk writes are gone
        (an actor with an ``on_stop()`` method is told, after it is down)."""
        self._stop(self._node(name), torn=torn, kind="crash")

    def restart(self, name: str) -> None:
        """Start a crashed node again: a fresh actor rebuilt from its disk."""
        node = self._node(name)
        if not node.up:
            self._start(node, "restart")

    def pause(self, name: str) -> None:
        """Stop the process (SIGSTOP): no timers fire, inbound messages wait."""
        node = self._node(name)
        if node.up and not node.paused:
            node.paused = True
            self.trace.add(self.now_us, name, "pause", {})

    def resume(self, name: str) -> None:
        """Continue a paused process: held messages and due timers are handled in order."""
        node = self._node(name)
        if not (node.up and node.paused):
            return
        node.paused = False
        self.trace.add(self.now_us, name, "resume", {"held": len(node.parked)})
        parked, node.parked = node.parked, []
        for kind, b, c in parked:
            self._seq += 1
            if kind == _DELIVER:
                heapq.heappush(self._queue, (self.now_us, self._seq, _DELIVER, name, b, c))
            else:
                heapq.heappush(self._queue, (self.now_us, self._seq, _TIMER, node, b, node.incarnation))

    # -- network faults -------------------------------------------------------------
    def partition(self, groups: Iterable[Iterable[str]]) -> None:
        """Cut every link between groups of members, both ways; replaces the current cuts.

        Members in no group form groups of their own; clients are not cut off."""
        groups = [sorted(g) for g in groups]
        for group in groups:
            for name in group:
                self._node(name)
        self.network.cuts = cuts_for_groups(self.members, groups)
        self.record("partition", groups=tuple(tuple(g) for g in groups))

    def partition_shape(self, shape: str, node: str | None = None) -> None:
        """Apply a named shape (see :mod:`raftkv.sim.shapes`); replaces the current cuts."""
        self.network.cuts = shape_cuts(shape, self.members, node)
        self.record("partition", shape=shape, node=node or "", cuts=tuple(sorted(self.network.cuts)))

    def cut(self, src: str, dst: str) -> None:
        """Cut one direction of one link: ``src`` can no longer reach ``dst``."""
        self._node(src)
        self._node(dst)
        self.network.cuts.add((src, dst))
        self.record("cut", src=src, dst=dst)

    def heal(self) -> None:
        self.network.cuts = set()
        self.record("heal")

    def set_network(self, *, loss: float | None = None, duplicate: float | None = None,
                    latency: Latency | None = None) -> None:
        net = self.network
        if loss is not None:
            assert 0.0 <= loss <= 1.0, f"loss {loss} is not a probability"
            net.loss = loss
        if duplicate is not None:
            assert 0.0 <= duplicate <= 1.0, f"duplicate {duplicate} is not a probability"
            net.duplicate = duplicate
        if latency is not None:
            net.latency = latency
        self.record("network", loss=net.loss, duplicate=net.duplicate, latency=net.latency)

    def set_link_latency(self, src: str, dst: str, latency: Latency | None) -> None:
        if latency is None:
            self.network.link_latency.pop((src, dst), None)
        else:
            self.network.link_latency[(src, dst)] = latency
        self.record("link_latency", src=src, dst=dst, latency=latency)

    # -- clock faults ----------------------------------------------------------------
    def set_clock(self, name: str, offset_us: int = 0, drift_ppm: int = 0) -> None:
        """Set a node's local clock to ``global + offset_us``, drifting by ``drift_ppm``."""
        self._node(name).clock.set(self.now_us, offset_us, drift_ppm)
        self.trace.add(self.now_us, name, "clock", {"offset_us": offset_us, "drift_ppm": drift_ppm})

    def jump_clock(self, name: str, delta_us: int) -> None:
        self._node(name).clock.jump(self.now_us, delta_us)
        self.trace.add(self.now_us, name, "clock_jump", {"delta_us": delta_us})
