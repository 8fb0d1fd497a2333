"""The demo system: gossiping counters, enough to watch the simulator at work.

Each member keeps a counter it persists (fsynced) and gossips to a random peer on a
timer; a restarted member reads its counter back from disk.  The check is that no
member's counter ever goes backwards across crashes (what was fsynced survives).
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from typing import Any

import attrs

from raftkv.check import History, make_history
from raftkv.env import TORN, Env

from .faults import MembershipControl
from .run import SYSTEM_BUILDERS, PropertyViolation, Violation
from .scenario import Scenario, member_names
from .trace import TraceEvent
from .world import World

__all__ = ["GossipCounter"]


@attrs.frozen(kw_only=True)
class Gossip:
    counter: int


class GossipCounter:
    def __init__(self, env: Env, peers: tuple[str, ...], period_us: int) -> None:
        self.env = env
        self.peers = tuple(p for p in peers if p != env.node_id)
        self.period_us = period_us
        self.counter = 0

    def on_start(self) -> None:
        saved = [r for r in self.env.disk.read("counter") if r is not TORN]
        self.counter = saved[-1] if saved else 0
        self.env.record("demo.recovered", counter=self.counter)
        self.env.set_timer(self.env.rng.randint(1, self.period_us), "gossip")

    def on_message(self, src: str, msg: Any) -> None:
        if isinstance(msg, Gossip) and msg.counter > self.counter:
            self._set(msg.counter)

    def on_timer(self, tag: Hashable) -> None:
        self._set(self.counter + 1)
        if self.peers:
            self.env.send(self.env.rng.choice(self.peers), Gossip(counter=self.counter))
        self.env.set_timer(self.period_us, "gossip")

    def _set(self, counter: int) -> None:
        self.counter = counter
        self.env.disk.overwrite("counter", [counter])
        self.env.disk.fsync("counter")


class DemoSystem:
    membership: MembershipControl | None = None

    def __init__(self, scenario: Scenario, world: World) -> None:
        self.scenario = scenario
        self.world = world
        self.members = member_names(scenario.cluster.members)
        self.last_seen: dict[str, int] = {}
        world.subscribe(self._watch)

    def _watch(self, event: TraceEvent) -> None:
        if event.kind == "demo.recovered":
            before = self.last_seen.get(event.node, 0)
            if event.fields["counter"] < before:
                raise PropertyViolation("demo.durability",
                                        f"{event.node} restarted with counter {event.fields['counter']} "
                                        f"after fsyncing {before}")

    def start(self) -> None:
        period = self.scenario.cluster.tick_us * 10
        for name in self.members:
            self.world.add_node(name, lambda env: GossipCounter(env, self.members, period))

    def leader(self) -> str | None:
        return None  # gossip has no leader

    def quiesce(self) -> None:
        pass

    def _counters(self) -> dict[str, int]:
        out = {}
        for name in self.members:
            actor = self.world.actor(name)
            if isinstance(actor, GossipCounter):
                out[name] = actor.counter
                self.last_seen[name] = actor.counter
        return out

    def is_live(self) -> bool:
        counters = self._counters()
        return len(counters) == len(self.members) and min(counters.values()) > 0

    def liveness_report(self) -> str:
        return f"counters {self._counters()}"

    def history(self) -> History:
        return make_history(())  # the demo's actors are not clients: no history

    def check(self, properties: Sequence[str] | None = None) -> list[Violation]:
        return []

    def write_html(self, path: str, headline: str | None = None, headline_detail: str = "") -> bool:
        return False  # the demo has no client history

    def summary(self) -> dict[str, Any]:
        return {"counters": " ".join(f"{k}={v}" for k, v in sorted(self._counters().items()))}


SYSTEM_BUILDERS["demo"] = DemoSystem
