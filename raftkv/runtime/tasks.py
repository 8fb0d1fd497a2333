"""TrioRuntime: :class:`raftkv.tasks.Runtime` on trio, for async components run for real.

The same components the simulator drives with its deterministic executor run here on
trio's scheduler, next to a :class:`~raftkv.client.gateway.GatewayEtcdClient`::

    async with trio.open_nursery() as nursery:
        rt = TrioRuntime(nursery, node_id="controller-1")
        client = GatewayEtcdClient(["http://127.0.0.1:2379"])
        task = rt.spawn(my_component(rt, client), name="reconcile")

Differences a component never sees: cancellation arrives as trio's ``Cancelled`` (a
``BaseException`` too; :meth:`TrioTask.result` of a cancelled task raises
:class:`raftkv.tasks.Cancelled`); :meth:`TrioRuntime.fail_after` raises ``TimeoutError``
(not trio's ``TooSlowError``).  Randomness is seeded from the OS unless a seed is given.
"""

from __future__ import annotations

import logging
import math
import os
import random
import time
from collections.abc import Coroutine
from typing import Any, Generic, TypeVar

import trio

from raftkv.tasks import Cancelled, WouldBlock

__all__ = ["TrioQueue", "TrioRuntime", "TrioTask"]

T = TypeVar("T")
log = logging.getLogger("raftkv.tasks")


class TrioTask(Generic[T]):
    def __init__(self, name: str) -> None:
        self._name = name
        self._scope = trio.CancelScope()
        self._done = trio.Event()
        self._cancelled = False
        self._result: Any = None
        self._error: BaseException | None = None

    @property
    def name(self) -> str:
        return self._name

    @property
    def done(self) -> bool:
        return self._done.is_set()

    @property
    def cancelled(self) -> bool:
        return self._cancelled

    def cancel(self) -> None:
        self._scope.cancel()

    def result(self) -> T:
        if not self.done:
            raise RuntimeError(f"task {self._name!r} is not done yet")
        if self._cancelled:
            raise Cancelled()
        if self._error is not None:
            raise self._error
        return self._result  # type: ignore[no-any-return]

    async def join(self) -> T:
        await self._done.wait()
        return self.result()

    async def _run(self, coro: Coroutine[Any, Any, T]) -> None:
        ended = False
        try:
            with self._scope:
                self._result = await coro
                ended = True
        except Exception as e:  # kept for result(); the runtime goes on
            self._error = e
            ended = True
            log.warning("task %s failed: %r", self._name, e)
        finally:
            self._cancelled = not ended  # cancelled here, or by an enclosing scope
            self._done.set()


class TrioQueue(Generic[T]):
    def __init__(self, maxsize: int = 0) -> None:
        assert maxsize >= 0, f"queue maxsize {maxsize} must be >= 0"
        self._maxsize = maxsize
        self._send, self._receive = trio.open_memory_channel[T](maxsize or math.inf)

    @property
    def maxsize(self) -> int:
        return self._maxsize

    def __len__(self) -> int:
        return self._send.statistics().current_buffer_used

    def put_nowait(self, item: T) -> None:
        try:
            self._send.send_nowait(item)
        except trio.WouldBlock:
            raise WouldBlock() from None

    async def put(self, item: T) -> None:
        await self._send.send(item)

    def get_nowait(self) -> T:
        try:
            return self._receive.receive_nowait()
        except trio.WouldBlock:
            raise WouldBlock() from None

    async def get(self) -> T:
        return await self._receive.receive()


class _FailAfter:
    """``trio.move_on_after`` whose expiry raises ``TimeoutError`` after the block."""

    def __init__(self, seconds: float) -> None:
        self._scope = trio.move_on_after(seconds)

    @property
    def cancel_called(self) -> bool:
        return self._scope.cancel_called

    @property
    def cancelled_caught(self) -> bool:
        return self._scope.cancelled_caught

    def cancel(self) -> None:
        self._scope.cancel()

    def __enter__(self) -> _FailAfter:
        self._scope.__enter__()
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> bool:
        handled = self._scope.__exit__(exc_type, exc, tb)
        if self._scope.cancelled_caught:
            raise TimeoutError("deadline passed")
        return bool(handled)


class TrioRuntime:
    """See the module docstring; tasks run in ``nursery``."""

    def __init__(self, nursery: trio.Nursery, *, node_id: str = "local", seed: int | None = None) -> None:
        self._nursery = nursery
        self._node_id = node_id
        self._rng = random.Random(seed if seed is not None else int.from_bytes(os.urandom(8), "big"))
        self._count = 0

    @property
    def node_id(self) -> str:
        return self._node_id

    def now_us(self) -> int:
        return time.time_ns() // 1000

    def monotonic_us(self) -> int:
        return time.monotonic_ns() // 1000

    async def sleep(self, seconds: float) -> None:
        await trio.sleep(max(0.0, seconds))

    def spawn(self, coro: Coroutine[Any, Any, T], *, name: str = "") -> TrioTask[T]:
        self._count += 1
        task: TrioTask[T] = TrioTask(name or f"task-{self._count}")
        self._nursery.start_soon(task._run, coro, name=task.name)
        return task

    def event(self) -> trio.Event:
        return trio.Event()

    def queue(self, maxsize: int = 0) -> TrioQueue[Any]:
        return TrioQueue(maxsize)

    def move_on_after(self, seconds: float) -> trio.CancelScope:
        return trio.move_on_after(seconds)

    def fail_after(self, seconds: float) -> _FailAfter:
        return _FailAfter(seconds)

    def random(self) -> random.Random:
        return self._rng

    def record(self, kind: str, **fields: Any) -> None:
        log.info("%s %s %s", self._node_id, kind, fields)
