"""Each simulator fault does what it says."""

from __future__ import annotations

from collections.abc import Hashable
from typing import Any

import pytest

from raftkv.env import TORN, Env
from raftkv.sim import Latency, World


class Recorder:
    """Remembers what it received; sends when told to."""

    def __init__(self, env: Env) -> None:
        self.env = env
        self.got: list[tuple[str, Any]] = []
        self.fired: list[Hashable] = []

    def on_start(self) -> None:
        pass

    def on_message(self, src: str, msg: Any) -> None:
        self.got.append((src, msg))

    def on_timer(self, tag: Hashable) -> None:
        self.fired.append(tag)


def _world(n: int = 3, seed: int = 1) -> World:
    world = World(seed=seed)
    world.set_network(latency=Latency(min_us=100, max_us=100))
    for i in range(1, n + 1):
        world.add_node(f"n{i}", Recorder)
    return world


def _rec(world: World, name: str) -> Recorder:
    actor = world.actor(name)
    assert isinstance(actor, Recorder)
    return actor


def test_messages_arrive_after_latency() -> None:
    world = _world()
    _rec(world, "n1").env.send("n2", "hello")
    world.run_for(99)
    assert _rec(world, "n2").got == []
    world.run_for(1)
    assert _rec(world, "n2").got == [("n1", "hello")]


def test_one_way_cut_drops_only_one_direction() -> None:
    world = _world()
    world.cut("n1", "n2")
    _rec(world, "n1").env.send("n2", "a")
    _rec(world, "n2").env.send("n1", "b")
    world.run_for(1_000)
    assert _rec(world, "n2").got == []
    assert _rec(world, "n1").got == [("n2", "b")]
    world.heal()
    _rec(world, "n1").env.send("n2", "c")
    world.run_for(1_000)
    assert _rec(world, "n2").got == [("n1", "c")]


def test_partition_groups_cut_both_ways_but_not_within() -> None:
    world = _world(4)
    world.partition([["n1", "n2"], ["n3", "n4"]])
    for dst in ("n2", "n3", "n4"):
        _rec(world, "n1").env.send(dst, "x")
    _rec(world, "n4").env.send("n1", "y")
    world.run_for(1_000)
    assert _rec(world, "n2").got == [("n1", "x")]
    assert _rec(world, "n3").got == [] and _rec(world, "n4").got == []
    assert _rec(world, "n1").got == []


@pytest.mark.parametrize("shape", ["halves", "isolate", "bridge", "majorities_ring", "one_way"])
def test_named_shapes_cut_something_and_heal(shape: str) -> None:
    world = _world(5)
    world.partition_shape(shape)
    assert world.network.cuts
    world.heal()
    assert not world.network.cuts


def test_partitions_cut_members_only_not_clients() -> None:
    world = _world(3)
    world.add_node("c1", Recorder, client=True)
    world.partition_shape("isolate", "n1")
    world.partition([["n1"], ["n2", "n3"]])
    assert world.members == ["n1", "n2", "n3"]
    _rec(world, "c1").env.send("n1", "to-isolated")
    _rec(world, "n1").env.send("c1", "from-isolated")
    _rec(world, "n1").env.send("n2", "blocked")
    world.run_for(1_000)
    assert _rec(world, "n1").got == [("c1", "to-isolated")]
    assert _rec(world, "c1").got == [("n1", "from-isolated")]
    assert _rec(world, "n2").got == []


def test_majorities_ring_every_node_sees_a_majority_but_not_the_same() -> None:
    world = _world(5)
    world.partition_shape("majorities_ring")
    views = []
    for a in world.nodes:
        view = frozenset([a, *(b for b in world.nodes if b != a and (a, b) not in world.network.cuts)])
        assert len(view) == 3
        views.append(view)
    assert len(set(views)) == 5


def test_bridge_only_middle_talks_to_both_sides() -> None:
    world = _world(5)
    world.partition_shape("bridge")
    cuts = world.network.cuts
    assert all("n3" not in link for link in cuts)
    assert ("n1", "n4") in cuts and ("n4", "n1") in cuts and ("n1", "n2") not in cuts


def test_crash_loses_unsynced_but_keeps_fsynced_writes() -> None:
    world = _world(1)
    disk = world.disk("n1")
    disk.append("log", 1)
    disk.fsync("log")
    disk.append("log", 2)
    world.crash("n1")
    assert world.actor("n1") is None
    assert disk.read("log") == [1]
    world.restart("n1")
    assert world.actor("n1") is not None
    assert world.disk("n1").read("log") == [1]


def test_crash_with_torn_write_leaves_a_torn_record() -> None:
    world = _world(1)
    disk = world.disk("n1")
    disk.append("log", 1)
    disk.fsync()
    disk.append("log", 2)
    disk.append("log", 3)
    world.crash("n1", torn=True)
    assert disk.read("log") == [1, TORN]


def test_truncate_and_overwrite_are_lost_unless_synced() -> None:
    world = _world(1)
    disk = world.disk("n1")
    disk.overwrite("f", [1, 2, 3])
    disk.fsync("f")
    disk.truncate("f", 1)
    disk.overwrite("g", ["x"])
    world.crash("n1")
    assert disk.read("f") == [1, 2, 3]
    assert disk.read("g") == []


def test_crash_drops_timers_and_inbound_messages() -> None:
    world = _world(2)
    _rec(world, "n1").env.set_timer(500, "t")
    _rec(world, "n2").env.send("n1", "m")
    world.crash("n1")
    world.run_for(200)  # the message arrives while n1 is down
    world.restart("n1")
    world.run_for(1_000)
    assert _rec(world, "n1").fired == [] and _rec(world, "n1").got == []


def test_paused_node_timers_do_not_fire_and_messages_wait() -> None:
    world = _world(2)
    n1 = _rec(world, "n1")
    n1.env.set_timer(500, "tick")
    world.pause("n1")
    _rec(world, "n2").env.send("n1", "m")
    world.run_for(10_000)
    assert n1.fired == [] and n1.got == []
    world.resume("n1")
    world.run_for(1)
    assert n1.fired == ["tick"] and n1.got == [("n2", "m")]


def test_cancelled_timer_does_not_fire() -> None:
    world = _world(1)
    n1 = _rec(world, "n1")
    timer = n1.env.set_timer(100, "a")
    n1.env.set_timer(200, "b")
    n1.env.cancel_timer(timer)
    world.run_for(1_000)
    assert n1.fired == ["b"]


def test_skew_changes_only_that_nodes_clock() -> None:
    world = _world(2)
    world.run_for(1_000)
    world.set_clock("n1", offset_us=5_000)
    assert _rec(world, "n1").env.now_us() == 6_000
    assert _rec(world, "n2").env.now_us() == 1_000


def test_drift_runs_the_local_clock_fast_and_timers_in_local_time() -> None:
    world = _world(2)
    world.set_clock("n1", drift_ppm=100_000)  # 10% fast
    n1 = _rec(world, "n1")
    n1.env.set_timer(110_000, "t")
    world.run_for(100_000)
    assert n1.env.now_us() == 110_000
    assert n1.fired == ["t"]
    assert _rec(world, "n2").env.now_us() == 100_000


def test_clock_jump_moves_local_time_only() -> None:
    world = _world(2)
    world.jump_clock("n2", -3_000)
    world.run_for(10_000)
    assert _rec(world, "n2").env.now_us() == 7_000
    assert _rec(world, "n1").env.now_us() == 10_000


def test_loss_drops_and_duplication_duplicates() -> None:
    world = _world(2)
    world.set_network(loss=1.0)
    _rec(world, "n1").env.send("n2", "lost")
    world.run_for(1_000)
    assert _rec(world, "n2").got == []
    world.set_network(loss=0.0, duplicate=1.0)
    _rec(world, "n1").env.send("n2", "twice")
    world.run_for(1_000)
    assert _rec(world, "n2").got == [("n1", "twice"), ("n1", "twice")]


def test_jitter_reorders_messages() -> None:
    world = _world(2)
    world.set_network(latency=Latency(min_us=0, max_us=10_000))
    for i in range(50):
        _rec(world, "n1").env.send("n2", i)
    world.run_for(20_000)
    got = [m for _, m in _rec(world, "n2").got]
    assert sorted(got) == list(range(50)) and got != list(range(50))


def test_latency_spikes_add_delay() -> None:
    world = _world(2)
    world.set_network(latency=Latency(min_us=100, max_us=100, spike_prob=1.0, spike_us=9_900))
    _rec(world, "n1").env.send("n2", "slow")
    world.run_for(9_999)
    assert _rec(world, "n2").got == []
    world.run_for(1)
    assert _rec(world, "n2").got == [("n1", "slow")]


def test_stale_env_of_a_crashed_incarnation_is_inert() -> None:
    world = _world(2)
    old = _rec(world, "n1")
    world.crash("n1")
    world.restart("n1")
    old.env.send("n2", "ghost")
    old.env.set_timer(10, "ghost")
    world.run_for(1_000)
    assert _rec(world, "n2").got == [] and old.fired == []


def test_unknown_node_is_a_clear_error() -> None:
    world = _world(2)
    with pytest.raises(ValueError, match="unknown node 'n9'"):
        world.crash("n9")


def test_subscribers_see_records_and_can_stop_the_run() -> None:
    world = _world(1)

    class Stop(Exception):
        pass

    def watch(event: Any) -> None:
        if event.kind == "bad":
            raise Stop(event.fields["why"])

    world.subscribe(watch)
    world.schedule(500, lambda: _rec(world, "n1").env.record("bad", why="test"))
    with pytest.raises(Stop):
        world.run_for(1_000)
    assert world.now_us == 500
