"""The simulator's coroutine executor: ordering, primitives, timeouts, crash and pause."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

import pytest

from raftkv.sim import SimRuntime, TaskHost, World, task_errors
from raftkv.tasks import Cancelled, WouldBlock

Main = Callable[[SimRuntime], Coroutine[Any, Any, Any]]


def host(main: Main, *, seed: int = 1, run_us: int = 5_000_000) -> World:
    world = World(seed)
    world.add_node("app", lambda env: TaskHost(env, main))
    world.run_for(run_us)
    return world


def test_sleeps_wake_in_time_order_and_ties_in_spawn_order() -> None:
    log: list[tuple[str, int]] = []

    async def main(rt: SimRuntime) -> None:
        async def sleeper(name: str, seconds: float) -> None:
            await rt.sleep(seconds)
            log.append((name, rt.monotonic_us()))

        for name, seconds in (("c", 0.3), ("a", 0.1), ("b", 0.2), ("a2", 0.1), ("z", 0)):
            rt.spawn(sleeper(name, seconds), name=name)

    host(main)
    assert log == [("z", 0), ("a", 100_000), ("a2", 100_000), ("b", 200_000), ("c", 300_000)]


def test_queue_and_event_semantics() -> None:
    log: list[Any] = []

    async def main(rt: SimRuntime) -> None:
        q = rt.queue(2)
        q.put_nowait(1)
        q.put_nowait(2)
        with pytest.raises(WouldBlock):
            q.put_nowait(3)

        async def producer() -> None:
            await q.put(3)  # waits until a get makes room
            log.append(("put3", rt.monotonic_us()))

        rt.spawn(producer())
        await rt.sleep(0.05)
        assert len(q) == 2 and not log
        assert q.get_nowait() == 1
        await rt.sleep(0)
        log.append(("items", [q.get_nowait(), q.get_nowait()]))
        with pytest.raises(WouldBlock):
            q.get_nowait()

        ev = rt.event()
        woken: list[str] = []

        async def waiter(name: str) -> None:
            await ev.wait()
            woken.append(name)

        for name in ("w1", "w2"):
            rt.spawn(waiter(name))
        await rt.sleep(0.1)
        assert woken == [] and not ev.is_set()
        ev.set()
        await rt.sleep(0)
        await rt.sleep(0)
        log.append(("woken", woken))
        await ev.wait()  # set: returns at once
        # an unbounded queue hands items to waiting getters in FIFO order
        u = rt.queue()
        got: list[tuple[str, int]] = []

        async def getter(name: str) -> None:
            got.append((name, await u.get()))

        rt.spawn(getter("g1"))
        rt.spawn(getter("g2"))
        await rt.sleep(0.01)
        u.put_nowait(10)
        u.put_nowait(20)
        await rt.sleep(0.01)
        log.append(("got", got))

    host(main)
    assert log == [("put3", 50_000), ("items", [2, 3]), ("woken", ["w1", "w2"]),
                   ("got", [("g1", 10), ("g2", 20)])]


def test_timeouts_cancel_and_join() -> None:
    log: list[Any] = []

    async def main(rt: SimRuntime) -> None:
        with rt.move_on_after(0.25) as scope:
            await rt.sleep(10)
            log.append("not reached")
        log.append(("moved on", scope.cancelled_caught, rt.monotonic_us()))
        with rt.move_on_after(1) as scope:
            await rt.sleep(0.1)
        log.append(("in time", scope.cancelled_caught))
        with pytest.raises(TimeoutError):
            with rt.fail_after(0.1):
                await rt.sleep(1)
        log.append(("failed after", rt.monotonic_us()))

        async def forever() -> None:
            try:
                await rt.sleep(100)
            finally:
                log.append("forever cleaned up")

        task = rt.spawn(forever(), name="forever")
        await rt.sleep(0.1)
        task.cancel()
        with pytest.raises(Cancelled):
            await task.join()
        log.append(("cancelled", task.done, task.cancelled))

        async def answer() -> int:
            await rt.sleep(0.1)
            return 42

        async def broken() -> None:
            await rt.sleep(0.1)
            raise ValueError("boom")

        log.append(("joined", await rt.spawn(answer()).join()))
        bad = rt.spawn(broken(), name="broken")
        with pytest.raises(ValueError, match="boom"):
            await bad.join()
        log.append(("errors", [(name, str(e)) for name, e in rt.errors]))

    host(main)
    assert log == [("moved on", True, 250_000), ("in time", False), ("failed after", 450_000),
                   "forever cleaned up", ("cancelled", True, True), ("joined", 42),
                   ("errors", [("broken", "boom")])]


def test_crash_cancels_tasks_at_their_await_and_restart_runs_main_again() -> None:
    log: list[Any] = []

    async def main(rt: SimRuntime) -> None:
        async def worker(n: int) -> None:
            try:
                while True:
                    await rt.sleep(0.1)
                    log.append(("tick", n, rt.monotonic_us()))
            finally:
                log.append(("finally", n))
                await rt.sleep(1)  # cancelled again at once: the node is gone
                log.append("not reached")

        log.append(("start", rt.now_us()))
        rt.spawn(worker(1))
        await rt.event().wait()

    world = World(1)
    world.add_node("app", lambda env: TaskHost(env, main))
    world.run_for(250_000)
    actor = world.actor("app")
    assert isinstance(actor, TaskHost)
    rt = actor.runtime
    assert [t.name for t in rt.tasks] == ["main", "task2"]
    world.crash("app")
    assert not rt.tasks and rt.stopped
    assert log == [("start", 0), ("tick", 1, 100_000), ("tick", 1, 200_000), ("finally", 1)]
    world.run_for(1_000_000)  # nothing runs while down
    assert log[-1] == ("finally", 1)
    world.restart("app")
    world.run_for(150_000)
    assert log[-2:] == [("start", 1_250_000), ("tick", 1, 1_350_000)]
    world.crash("app")
    assert log[-1] == ("finally", 1)


def test_pause_freezes_tasks_until_resume() -> None:
    ticks: list[int] = []

    async def main(rt: SimRuntime) -> None:
        while True:
            await rt.sleep(0.1)
            ticks.append(rt.monotonic_us())

    world = World(1)
    world.add_node("app", lambda env: TaskHost(env, main))
    world.run_for(250_000)
    world.pause("app")
    world.run_for(1_000_000)
    assert ticks == [100_000, 200_000]  # nothing while paused
    world.resume("app")
    world.run_for(0)
    assert ticks == [100_000, 200_000, 1_250_000]  # the due sleep ends on resume
    world.run_for(100_000)
    assert ticks[-1] == 1_350_000


def test_awaiting_a_foreign_awaitable_is_an_error() -> None:
    import asyncio

    async def main(rt: SimRuntime) -> None:
        await asyncio.sleep(0)

    world = host(main, run_us=10_000)
    actor = world.actor("app")
    assert isinstance(actor, TaskHost)
    [(name, error)] = actor.runtime.errors
    assert name == "main" and "not of this runtime" in str(error)


def test_task_errors_name_each_dead_task_of_the_nodes_asked_about() -> None:
    async def main(rt: SimRuntime) -> None:
        async def failing() -> None:
            await rt.sleep(0.1)
            raise ValueError("bad object")

        rt.spawn(failing(), name="sync")
        await rt.event().wait()

    async def quiet(rt: SimRuntime) -> None:
        await rt.event().wait()

    world = World(1)
    world.add_node("app", lambda env: TaskHost(env, main))
    world.add_node("other", lambda env: TaskHost(env, quiet))
    world.run_for(50_000)
    assert task_errors(world, ["app", "other"]) == []  # nothing has died yet
    world.run_for(100_000)
    assert task_errors(world, ["other", "app"]) == ["app: task sync died: ValueError: bad object"]
    assert task_errors(world, ["other"]) == []
    world.crash("app")  # a node that is down has no tasks to report
    assert task_errors(world, ["app"]) == []
