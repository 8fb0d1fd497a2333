"""The runtime that ``async`` components are written against.

Code above the client (discovery, the apiserver, controllers, kubelets) is ``async
def`` and touches the outside world only through a :class:`Runtime` and an async
etcd client (:mod:`raftkv.client.interface`).  The simulator implements
:class:`Runtime` with its own deterministic executor (:mod:`raftkv.sim.executor`:
same seed, same interleaving); a trio runtime implements it on trio.  Nothing in a
component knows which one it runs on.

Semantics every implementation keeps (trio's, simplified):

* **Time**: :meth:`Runtime.now_us` is the node's wall clock in integer microseconds
  (it may be skewed, drift or jump); :meth:`Runtime.monotonic_us` never steps (use it
  for deadlines and intervals); :meth:`Runtime.sleep` takes seconds as a float.
* **Cancellation** is delivered as :class:`Cancelled` (a ``BaseException``, so
  ``except Exception`` does not swallow it) raised at the task's current ``await``.
  It is level-triggered: once a task or an enclosing scope is cancelled, every later
  ``await`` inside it raises :class:`Cancelled` again, so cleanup in ``finally`` that
  awaits is cut short.  A crash of the node cancels every task of the node this way.
* **Timeouts**: ``with rt.move_on_after(s) as scope:`` cancels the block's awaits after
  ``s`` seconds and carries on after the block (``scope.cancelled_caught`` says whether
  it fired); ``with rt.fail_after(s):`` does the same but raises :class:`TimeoutError`.
* **Randomness**: :meth:`Runtime.random` is a ``random.Random`` seeded from the run's
  seed (the simulator's) or from the OS (trio's); never the global :mod:`random`.
"""

from __future__ import annotations

import random
from collections.abc import Coroutine
from typing import Any, Generic, Protocol, TypeVar

__all__ = ["CancelScope", "Cancelled", "Event", "Queue", "Runtime", "TaskHandle", "WouldBlock", "join_all"]

T = TypeVar("T")
T_co = TypeVar("T_co", covariant=True)


class Cancelled(BaseException):
    """Raised at an ``await`` of a cancelled task or scope.  Do not swallow it: let it
    propagate (``finally`` blocks run)."""


class WouldBlock(Exception):
    """A ``*_nowait`` call that would have had to wait (queue empty or full)."""


class TaskHandle(Protocol[T_co]):
    """A spawned task.  Its coroutine runs concurrently with the spawner's."""

    @property
    def name(self) -> str: ...

    @property
    def done(self) -> bool:
        """The coroutine returned, raised, or was cancelled."""
        ...

    @property
    def cancelled(self) -> bool:
        """It ended with :class:`Cancelled`."""
        ...

    def cancel(self) -> None:
        """Cancel the task at its current (or next) ``await``; no effect once done."""
        ...

    def result(self) -> T_co:
        """The return value; raises the task's exception (or :class:`Cancelled`), or
        ``RuntimeError`` if it is not done yet."""
        ...

    async def join(self) -> T_co:
        """Wait for the task to end, then as :meth:`result`."""
        ...


class Event(Protocol):
    """A one-shot flag (trio.Event): once set, stays set."""

    def set(self) -> None: ...

    def is_set(self) -> bool: ...

    async def wait(self) -> None: ...


class Queue(Protocol, Generic[T]):
    """A FIFO channel between tasks; ``maxsize == 0`` means unbounded."""

    @property
    def maxsize(self) -> int: ...

    def __len__(self) -> int: ...

    def put_nowait(self, item: T) -> None:
        """Raises :class:`WouldBlock` when full."""
        ...

    async def put(self, item: T) -> None:
        """Waits while full."""
        ...

    def get_nowait(self) -> T:
        """Raises :class:`WouldBlock` when empty."""
        ...

    async def get(self) -> T:
        """Waits while empty."""
        ...


class CancelScope(Protocol):
    """What ``move_on_after``/``fail_after`` return (a sync context manager)."""

    @property
    def cancel_called(self) -> bool: ...

    @property
    def cancelled_caught(self) -> bool:
        """The block was left because this scope cancelled it."""
        ...

    def cancel(self) -> None: ...

    def __enter__(self) -> CancelScope: ...

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> bool: ...


class Runtime(Protocol):
    """What a component gets from the world it runs in (see the module docstring)."""

    @property
    def node_id(self) -> str:
        """The name of the node (process) the component runs in."""
        ...

    def now_us(self) -> int:
        """Wall clock of this node, microseconds since the epoch of its world."""
        ...

    def monotonic_us(self) -> int:
        """Monotonic clock of this node, microseconds (never steps)."""
        ...

    async def sleep(self, seconds: float) -> None:
        """Wait ``seconds`` of this node's monotonic time (0: just yield)."""
        ...

    def spawn(self, coro: Coroutine[Any, Any, T], *, name: str = "") -> TaskHandle[T]:
        """Run ``coro`` as a task of this node (cancelled when the node crashes)."""
        ...

    def event(self) -> Event: ...

    def queue(self, maxsize: int = 0) -> Queue[Any]: ...

    def move_on_after(self, seconds: float) -> CancelScope: ...

    def fail_after(self, seconds: float) -> CancelScope:
        """As :meth:`move_on_after`, but leaving by the deadline raises :class:`TimeoutError`."""
        ...

    def random(self) -> random.Random:
        """This component's seeded random stream (the same object on every call)."""
        ...

    def record(self, kind: str, **fields: Any) -> None:
        """Note a structured event (the simulator's trace; a log line elsewhere)."""
        ...


async def join_all(tasks: list[TaskHandle[Any]]) -> None:
    """Wait for every task; cancel them all when this one ends (or is cancelled)."""
    try:
        for task in tasks:
            await task.join()
    finally:
        for task in tasks:
            task.cancel()
