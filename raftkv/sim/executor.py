"""A deterministic executor for ``async`` components, hosted as a node of the World.

:class:`TaskHost` is an actor whose work is done by coroutines: it builds a
:class:`SimRuntime` (the :class:`raftkv.tasks.Runtime` of the simulator) for each
incarnation of its node and spawns the component's main coroutine on it.  The
runtime drives coroutines itself (``coro.send``/``coro.throw``); every ``await`` ends
in a small waiter object that the runtime parks until a timer of the node, a message
to the node, or another task wakes it.  Ready tasks run in FIFO order of their
wake-ups, so one seed gives one interleaving, whatever ``PYTHONHASHSEED``.

Faults apply as to any actor, because every wake-up goes through the node:

* **crash**: every task of the node is cancelled at its current ``await``
  (:class:`~raftkv.tasks.Cancelled` is thrown in; ``finally`` blocks run, but the node
  is already down, so nothing they send leaves it); a restart runs ``main`` afresh;
* **pause**: timers and messages of the node are held, so its tasks freeze where they
  are and go on, in order, once it resumes;
* **network**: the node's links (to the members its clients talk to) can be cut with
  :meth:`World.cut <raftkv.sim.World.cut>` or :func:`cut_off` like any other link.

Sim-only extras: :meth:`SimRuntime.etcd_client` builds an async etcd client
(:class:`raftkv.client.aio.SimEtcdClient`) whose messages and timers this node routes.
"""

from __future__ import annotations

import random
import types
from collections import deque
from collections.abc import Callable, Coroutine, Generator, Hashable, Iterable
from typing import Any, Generic, Protocol, TypeVar

from raftkv.bugs import NO_BUGS, BugSet
from raftkv.check import HistoryBuilder
from raftkv.client.aio import SimEtcdClient
from raftkv.client.client import Client, ClientConfig
from raftkv.env import Env
from raftkv.tasks import Cancelled, WouldBlock

from .world import World

__all__ = ["SimCancelScope", "SimEvent", "SimQueue", "SimRuntime", "SimTask", "TaskHost", "cut_off", "task_errors"]

T = TypeVar("T")
TAG = "task"  # timer tags of the runtime: (TAG, kind, ident)
# A task that keeps awaiting after being cancelled this many times in a row is closed.
MAX_CANCEL_THROWS = 100


class MessageHandler(Protocol):
    """Something that consumes the node's messages and timers (a callback client)."""

    def on_message(self, src: str, msg: Any) -> bool: ...

    def on_timer(self, tag: Hashable) -> bool: ...


class _Waiter:
    """One suspension of one task: woken at most once, with a value or an exception."""

    __slots__ = ("done", "ident", "task", "timer")

    def __init__(self) -> None:
        self.task: SimTask[Any] | None = None
        self.done = False
        self.ident = 0
        self.timer = 0


@types.coroutine
def _suspend(waiter: _Waiter) -> Generator[_Waiter, Any, Any]:
    return (yield waiter)


class SimTask(Generic[T]):
    """A task of a :class:`SimRuntime` (see :class:`raftkv.tasks.TaskHandle`)."""

    def __init__(self, rt: SimRuntime, coro: Coroutine[Any, Any, T], name: str) -> None:
        self._rt = rt
        self.coro = coro
        self._name = name
        self.waiter: _Waiter | None = None
        self.scopes: list[SimCancelScope] = []
        self.cancel_called = False
        self._done = False
        self._cancelled = False
        self._result: Any = None
        self._error: BaseException | None = None
        self.joiners: list[_Waiter] = []
        self.cancel_throws = 0

    @property
    def name(self) -> str:
        return self._name

    @property
    def done(self) -> bool:
        return self._done

    @property
    def cancelled(self) -> bool:
        return self._cancelled

    def cancel(self) -> None:
        if self._done or self.cancel_called:
            return
        self.cancel_called = True
        self._rt._interrupt(self)

    def cancel_pending(self) -> bool:
        return self.cancel_called or any(s.cancel_called for s in self.scopes)

    def result(self) -> T:
        if not self._done:
            raise RuntimeError(f"task {self._name!r} is not done")
        if self._error is not None:
            raise self._error
        result: T = self._result
        return result

    async def join(self) -> T:
        if not self._done:
            waiter = _Waiter()
            self.joiners.append(waiter)
            await _suspend(waiter)
        return self.result()

    def _finish(self, result: Any, error: BaseException | None) -> None:
        self._done = True
        self._result = result
        self._error = error
        self._cancelled = isinstance(error, Cancelled)
        for waiter in self.joiners:
            self._rt._wake(waiter, None)
        self.joiners.clear()

    def __repr__(self) -> str:
        state = "done" if self._done else "waiting" if self.waiter is not None else "ready"
        return f"<SimTask {self._name} {state}>"


class SimEvent:
    """:class:`raftkv.tasks.Event` of the simulator."""

    def __init__(self, rt: SimRuntime) -> None:
        self._rt = rt
        self._set = False
        self._waiters: list[_Waiter] = []

    def set(self) -> None:
        if self._set:
            return
        self._set = True
        waiters, self._waiters = self._waiters, []
        for waiter in waiters:
            self._rt._wake(waiter, None)

    def is_set(self) -> bool:
        return self._set

    async def wait(self) -> None:
        if self._set:
            await self._rt.sleep(0)  # a checkpoint, as in trio
            return
        waiter = _Waiter()
        self._waiters.append(waiter)
        await _suspend(waiter)


class SimQueue(Generic[T]):
    """:class:`raftkv.tasks.Queue` of the simulator (FIFO; ``maxsize == 0``: unbounded)."""

    def __init__(self, rt: SimRuntime, maxsize: int = 0) -> None:
        if maxsize < 0:
            raise ValueError(f"queue maxsize must be >= 0, got {maxsize}")
        self._rt = rt
        self._maxsize = maxsize
        self._items: deque[T] = deque()
        self._getters: deque[_Waiter] = deque()
        self._putters: deque[tuple[_Waiter, T]] = deque()

    @property
    def maxsize(self) -> int:
        return self._maxsize

    def __len__(self) -> int:
        return len(self._items)

    def _full(self) -> bool:
        return self._maxsize > 0 and len(self._items) >= self._maxsize

    def put_nowait(self, item: T) -> None:
        while self._getters:
            waiter = self._getters.popleft()
            if not waiter.done:
                assert not self._items, "a getter waits while items are queued"
                self._rt._wake(waiter, item)
                return
        if self._full():
            raise WouldBlock("queue is full")
        self._items.append(item)

    async def put(self, item: T) -> None:
        try:
            self.put_nowait(item)
        except WouldBlock:
            waiter = _Waiter()
            self._putters.append((waiter, item))
            await _suspend(waiter)
        else:
            await self._rt.sleep(0)

    def get_nowait(self) -> T:
        if not self._items:
            raise WouldBlock("queue is empty")
        item = self._items.popleft()
        while self._putters:
            waiter, pending = self._putters.popleft()
            if not waiter.done:
                self._items.append(pending)
                self._rt._wake(waiter, None)
                break
        return item

    async def get(self) -> T:
        try:
            item = self.get_nowait()
        except WouldBlock:
            waiter = _Waiter()
            self._getters.append(waiter)
            got: T = await _suspend(waiter)
            return got
        await self._rt.sleep(0)
        return item


class SimCancelScope:
    """``move_on_after``/``fail_after`` of the simulator (see :mod:`raftkv.tasks`)."""

    def __init__(self, rt: SimRuntime, delay_us: int | None, *, fail: bool) -> None:
        self._rt = rt
        self._delay_us = delay_us
        self._fail = fail
        self._task: SimTask[Any] | None = None
        self._timer = 0
        self._cancel_called = False
        self._caught = False
        self._exited = False

    @property
    def cancel_called(self) -> bool:
        return self._cancel_called

    @property
    def cancelled_caught(self) -> bool:
        return self._caught

    def cancel(self) -> None:
        if self._cancel_called or self._exited:
            return
        self._cancel_called = True
        if self._task is not None:
            self._rt._interrupt(self._task)

    def __enter__(self) -> SimCancelScope:
        task = self._rt.current
        if task is None:
            raise RuntimeError("a cancel scope is entered outside of a task")
        assert self._task is None, "a cancel scope is entered twice"
        self._task = task
        task.scopes.append(self)
        if self._delay_us is not None:
            if self._delay_us <= 0:
                self._cancel_called = True
            else:
                self._timer = self._rt._call_later(self._delay_us, self.cancel)
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> bool:
        task = self._task
        assert task is not None and task.scopes and task.scopes[-1] is self, "cancel scopes exit out of order"
        task.scopes.pop()
        self._exited = True
        self._rt._cancel_call(self._timer)
        if isinstance(exc, Cancelled) and self._cancel_called:
            self._caught = True
            if self._fail:
                raise TimeoutError(f"deadline of {self._delay_us} us passed") from None
            return True
        return False


class SimRuntime:
    """The :class:`raftkv.tasks.Runtime` of one incarnation of a :class:`TaskHost` node."""

    def __init__(self, env: Env) -> None:
        self.env = env
        self._random = random.Random(env.rng.getrandbits(64))
        self._ready: deque[tuple[SimTask[Any], Any, BaseException | None]] = deque()
        self.tasks: dict[SimTask[Any], None] = {}  # live tasks, in spawn order (a dict: O(1) removal)
        self.errors: list[tuple[str, BaseException]] = []  # tasks that died of an exception
        self.current: SimTask[Any] | None = None
        self._count = 0
        self._calls: dict[int, Callable[[], None]] = {}  # timer ident -> what to run
        self._handlers: list[MessageHandler] = []
        self._draining = False
        self._kicked = False
        self.stopped = False

    # ------------------------------------------------------------------ Runtime
    @property
    def node_id(self) -> str:
        return self.env.node_id

    def now_us(self) -> int:
        return self.env.now_us()

    def monotonic_us(self) -> int:
        return self.env.monotonic_us()

    async def sleep(self, seconds: float) -> None:
        waiter = _Waiter()
        delay_us = max(0, round(seconds * 1_000_000))
        if delay_us == 0:
            self._wake(waiter, None)
        else:
            waiter.timer = self._call_later(delay_us, lambda: self._wake(waiter, None))
        await _suspend(waiter)

    def spawn(self, coro: Coroutine[Any, Any, T], *, name: str = "") -> SimTask[T]:
        self._count += 1
        task = SimTask(self, coro, name or f"task{self._count}")
        if self.stopped:
            coro.close()
            task._finish(None, Cancelled())
            return task
        self.tasks[task] = None
        self._ready.append((task, None, None))
        self._kick()
        return task

    def event(self) -> SimEvent:
        return SimEvent(self)

    def queue(self, maxsize: int = 0) -> SimQueue[Any]:
        return SimQueue(self, maxsize)

    def move_on_after(self, seconds: float) -> SimCancelScope:
        return SimCancelScope(self, round(seconds * 1_000_000), fail=False)

    def fail_after(self, seconds: float) -> SimCancelScope:
        return SimCancelScope(self, round(seconds * 1_000_000), fail=True)

    def random(self) -> random.Random:
        return self._random

    def record(self, kind: str, **fields: Any) -> None:
        self.env.record(kind, **fields)

    # ------------------------------------------------------------------ sim extras
    def add_handler(self, handler: MessageHandler) -> None:
        """Route the node's messages and timers to ``handler`` (tried in order added)."""
        self._handlers.append(handler)

    def etcd_client(self, members: Iterable[str], *, recorder: HistoryBuilder | None = None,
                    config: ClientConfig | None = None, bugs: BugSet = NO_BUGS,
                    process: str | None = None) -> SimEtcdClient:
        """An async etcd client on this node (a :class:`raftkv.client.Client` underneath,
        recording into ``recorder`` as process ``process``, default the node's name)."""
        client = Client(self.env, tuple(members), process=process, recorder=recorder,
                        config=config, bugs=bugs)
        self.add_handler(client)
        return SimEtcdClient(client, self)

    # ------------------------------------------------------------------ driving
    def _call_later(self, delay_us: int, fn: Callable[[], None]) -> int:
        self._count += 1
        ident = self._count
        self._calls[ident] = fn
        self.env.set_timer(delay_us, (TAG, ident))
        return ident

    def _cancel_call(self, ident: int) -> None:
        self._calls.pop(ident, None)

    def _kick(self) -> None:
        """Make sure ready tasks run soon: now if inside a node callback, else on a timer."""
        if self._draining or self._kicked or self.stopped:
            return
        self._kicked = True
        self.env.set_timer(0, (TAG, 0))

    def _wake(self, waiter: _Waiter, value: Any, error: BaseException | None = None) -> None:
        if waiter.done:
            return
        waiter.done = True
        self._cancel_call(waiter.timer)
        task = waiter.task
        if task is None:  # woken before it was parked (sleep(0)): _step sees done
            return
        task.waiter = None
        self._ready.append((task, value, error))
        self._kick()

    def _interrupt(self, task: SimTask[Any]) -> None:
        """A cancellation reached ``task``: if it is parked, throw Cancelled in now."""
        waiter = task.waiter
        if waiter is not None:
            self._wake(waiter, None, Cancelled())

    def _step(self, task: SimTask[Any], value: Any, error: BaseException | None) -> None:
        if task.done:
            return
        self.current = task
        try:
            if error is not None:
                yielded = task.coro.throw(error)
            else:
                yielded = task.coro.send(value)
        except StopIteration as stop:
            self._end(task, stop.value, None)
            return
        except Cancelled as exc:
            self._end(task, None, exc)
            return
        except Exception as exc:  # the task died: kept for the system's checks
            self.errors.append((task.name, exc))
            self.env.record("task.error", task=task.name, error=f"{type(exc).__name__}: {exc}")
            self._end(task, None, exc)
            return
        finally:
            self.current = None
        if not isinstance(yielded, _Waiter):
            self._ready.append((task, None, RuntimeError(
                f"task {task.name!r} awaited {yielded!r}, which is not of this runtime "
                "(asyncio or trio awaitables cannot run in the simulator)")))
        elif yielded.done:  # woken at once (sleep(0))
            yielded.done = True
            self._ready.append((task, None, None))
        elif task.cancel_pending():
            yielded.done = True
            self._cancel_call(yielded.timer)
            task.cancel_throws += 1
            if task.cancel_throws > MAX_CANCEL_THROWS:
                task.coro.close()
                self._end(task, None, Cancelled())
                return
            self._ready.append((task, None, Cancelled()))
        else:
            task.cancel_throws = 0
            yielded.task = task
            task.waiter = yielded

    def _end(self, task: SimTask[Any], result: Any, error: BaseException | None) -> None:
        task._finish(result, error)
        del self.tasks[task]

    def drain(self) -> None:
        """Run ready tasks until none is (called inside the node's callbacks)."""
        if self._draining:
            return
        self._draining = True
        try:
            ready = self._ready
            while ready:
                task, value, error = ready.popleft()
                self._step(task, value, error)
        finally:
            self._draining = False

    def on_timer(self, tag: Hashable) -> bool:
        if not (isinstance(tag, tuple) and len(tag) == 2 and tag[0] == TAG):
            return False
        ident = tag[1]
        if ident == 0:
            self._kicked = False
        else:
            fn = self._calls.pop(ident, None)
            if fn is not None:
                fn()
        return True

    def on_message(self, src: str, msg: Any) -> bool:
        for handler in self._handlers:
            if handler.on_message(src, msg):
                return True
        return False

    def stop(self) -> None:
        """The node crashed (or was removed): cancel every task at its current await."""
        if self.stopped:
            return
        self.stopped = True
        self._calls.clear()
        # tasks about to run get Cancelled instead of what woke them; parked ones get it now
        self._ready = deque((task, None, Cancelled()) for task, _v, _e in self._ready)
        for task in list(self.tasks):
            task.cancel()
        self.drain()
        assert not self.tasks, f"tasks outlived their node's crash: {self.tasks}"


class TaskHost:
    """An actor running an ``async`` component: ``main(rt)`` is spawned on every start."""

    def __init__(self, env: Env, main: Callable[[SimRuntime], Coroutine[Any, Any, Any]]) -> None:
        self.env = env
        self.runtime = SimRuntime(env)
        self._main = main

    def on_start(self) -> None:
        self.runtime.spawn(self._main(self.runtime), name="main")
        self.runtime.drain()

    def on_message(self, src: str, msg: Any) -> None:
        rt = self.runtime
        rt._draining = True
        try:
            rt.on_message(src, msg)
        finally:
            rt._draining = False
        rt.drain()

    def on_timer(self, tag: Hashable) -> None:
        rt = self.runtime
        rt._draining = True
        try:
            if not rt.on_timer(tag):
                for handler in rt._handlers:
                    if handler.on_timer(tag):
                        break
        finally:
            rt._draining = False
        rt.drain()

    def on_stop(self) -> None:
        self.runtime.stop()


def cut_off(world: World, node: str, others: Iterable[str]) -> None:
    """Cut every link between ``node`` and each of ``others``, both ways."""
    for other in others:
        world.cut(node, other)
        world.cut(other, node)


def task_errors(world: World, nodes: Iterable[str]) -> list[str]:
    """The tasks that died on these nodes' :class:`TaskHost` actors (nodes that are up), a line
    each, ``node: task NAME died: Error: message``: what a system's ``task_error`` property reports."""
    out: list[str] = []
    for node in nodes:
        actor = world.actor(node)
        if isinstance(actor, TaskHost):
            out.extend(f"{node}: task {name} died: {type(e).__name__}: {e}" for name, e in actor.runtime.errors)
    return out
