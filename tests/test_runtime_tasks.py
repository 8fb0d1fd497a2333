"""TrioRuntime keeps the semantics of :class:`raftkv.tasks.Runtime` on trio."""

from __future__ import annotations

import pytest
import trio

from raftkv.runtime.tasks import TrioRuntime
from raftkv.tasks import Cancelled, WouldBlock


def test_spawn_join_cancel_queues_and_timeouts():
    async def main() -> list[object]:
        out: list[object] = []
        async with trio.open_nursery() as nursery:
            rt = TrioRuntime(nursery, node_id="x", seed=1)
            q = rt.queue(1)
            q.put_nowait(1)
            with pytest.raises(WouldBlock):
                q.put_nowait(2)
            out.append((len(q), q.get_nowait(), q.maxsize))
            with pytest.raises(WouldBlock):
                q.get_nowait()

            async def produce() -> int:
                for i in range(3):
                    await q.put(i)
                return 7

            task = rt.spawn(produce(), name="p")
            out.append([await q.get() for _ in range(3)])
            out.append((await task.join(), task.done, task.cancelled, task.name))

            async def forever() -> None:
                await rt.sleep(1000)

            sleeper = rt.spawn(forever())
            await rt.sleep(0)
            sleeper.cancel()
            await trio.sleep(0.01)
            out.append((sleeper.done, sleeper.cancelled))
            with pytest.raises(Cancelled):
                sleeper.result()
            with rt.move_on_after(0.01) as scope:
                await rt.sleep(1)
            out.append(scope.cancelled_caught)
            with pytest.raises(TimeoutError):
                with rt.fail_after(0.01):
                    await rt.sleep(1)
            ev = rt.event()
            rt.spawn(_set_later(rt, ev))
            await ev.wait()
            out.append(ev.is_set())
            out.append(rt.random().random() == TrioRuntime(nursery, seed=1).random().random())
            out.append(rt.monotonic_us() > 0 and rt.now_us() > 1_600_000_000_000_000)
        return out

    assert trio.run(main) == [(1, 1, 1), [0, 1, 2], (7, True, False, "p"), (True, True), True, True,
                              True, True]


async def _set_later(rt: TrioRuntime, ev: trio.Event) -> None:
    await rt.sleep(0.001)
    ev.set()
