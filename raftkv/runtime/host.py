"""ActorHost: runs one process's actors (a member, its gateway's client) on trio.

The same actors as in the simulator, with real time and a real disk:

* inputs -- messages from the transport, calls from HTTP handlers, due timers -- queue
  up while the actors work; the host takes them in *batches*: every queued input is
  handled, then the disk is synced once (one fsync, :meth:`FileDisk.sync`, in a worker
  thread so the network keeps reading), and only then are the batch's outgoing messages
  sent.  So whatever a ``Ready`` made durable is on disk before any message that depends
  on it leaves, and many requests share one fsync (group commit).  Messages that depend on
  nothing unsynced may go before the sync (``send_early``: the member passes the leader's
  appends and heartbeats, which Raft lets a leader send while it writes its own log; an
  acknowledgement is only read in a later batch, after this batch's sync finished);
* a message to an actor of this process is queued as an input; any other destination
  ``name`` or ``name/actor`` goes to the transport for member ``name``;
* timers run on ``time.monotonic_ns``; ``now_us`` is the wall clock.
"""

from __future__ import annotations

import heapq
import logging
import random
import time
from collections import deque
from collections.abc import Callable, Hashable
from typing import Any

import trio

from raftkv.env import Actor, Disk, TimerId

from .disk import FileDisk

__all__ = ["ActorHost", "RuntimeEnv"]

log = logging.getLogger("raftkv.runtime")

RemoteSend = Callable[[str, str, str, Any], None]  # (member, src, dst, msg)


def _mono_us() -> int:
    return time.monotonic_ns() // 1000


class RuntimeEnv:
    """What an actor sees of the real world (see :class:`raftkv.env.Env`)."""

    def __init__(self, host: ActorHost, name: str, rng: random.Random) -> None:
        self._host = host
        self._name = name
        self._rng = rng

    @property
    def node_id(self) -> str:
        return self._name

    @property
    def rng(self) -> random.Random:
        return self._rng

    @property
    def disk(self) -> Disk:
        return self._host.disk

    def now_us(self) -> int:
        return time.time_ns() // 1000

    def monotonic_us(self) -> int:
        return _mono_us()

    def send(self, dst: str, msg: Any) -> None:
        self._host.outbox.append((self._name, dst, msg))

    def set_timer(self, delay_us: int, tag: Hashable) -> TimerId:
        assert delay_us >= 0, f"timer delay {delay_us} us is negative"
        return self._host.add_timer(self._name, delay_us, tag)

    def cancel_timer(self, timer_id: TimerId) -> None:
        self._host.timers.pop(timer_id, None)

    def record(self, kind: str, **fields: Any) -> None:
        if log.isEnabledFor(logging.DEBUG):
            log.debug("%s %s %s", self._name, kind, fields)
        hook = self._host.on_record
        if hook is not None:
            hook(self._name, kind, fields)


class ActorHost:
    def __init__(self, disk: FileDisk, remote_send: RemoteSend, *,
                 on_record: Callable[[str, str, dict[str, Any]], None] | None = None,
                 send_early: Callable[[Any], bool] | None = None) -> None:
        self.disk = disk
        self.send_early = send_early
        self.remote_send = remote_send
        self.on_record = on_record
        self.actors: dict[str, Actor] = {}
        self.envs: dict[str, RuntimeEnv] = {}
        self.outbox: list[tuple[str, str, Any]] = []
        self.timers: dict[TimerId, tuple[str, Hashable]] = {}
        self._heap: list[tuple[int, int, TimerId]] = []
        self._timer_seq = 0
        self._inbox: deque[tuple[str, str, Any] | Callable[[], None]] = deque()
        self._wake = trio.Event()
        self.batches = 0

    # ------------------------------------------------------------------ set-up
    def add_actor(self, name: str, factory: Callable[[RuntimeEnv], Actor], rng: random.Random) -> Actor:
        assert name not in self.actors, f"actor {name} exists"
        env = RuntimeEnv(self, name, rng)
        actor = factory(env)
        self.actors[name] = actor
        self.envs[name] = env
        actor.on_start()
        return actor

    def add_timer(self, actor: str, delay_us: int, tag: Hashable) -> TimerId:
        self._timer_seq += 1
        tid = self._timer_seq
        self.timers[tid] = (actor, tag)
        heapq.heappush(self._heap, (_mono_us() + delay_us, tid, tid))
        return tid

    # ------------------------------------------------------------------ inputs
    def deliver(self, src: str, dst: str, msg: Any) -> None:
        """A message for an actor of this process (from the transport)."""
        self._inbox.append((src, dst, msg))
        self._wake.set()

    def call(self, fn: Callable[[], None]) -> None:
        """Run ``fn`` on the actors' side, in the next batch (HTTP handlers use this)."""
        self._inbox.append(fn)
        self._wake.set()

    # ------------------------------------------------------------------ loop
    async def run(self) -> None:
        try:
            while True:
                await self._wait()
                self._handle_batch()
                if self.disk.dirty:
                    if self.send_early is not None:
                        self._flush(self.send_early)
                    await trio.to_thread.run_sync(self.disk.sync)
                self._flush(None)
        finally:
            self.disk.close()

    async def _wait(self) -> None:
        if self._inbox:
            return
        heap = self._heap
        while heap and heap[0][2] not in self.timers:
            heapq.heappop(heap)
        if heap:
            delay_us = heap[0][0] - _mono_us()
            if delay_us <= 0:
                return
            with trio.move_on_after(delay_us / 1e6):
                await self._wake.wait()
        else:
            await self._wake.wait()
        self._wake = trio.Event()

    def _fire_timers(self) -> None:
        now = _mono_us()
        heap, timers, actors = self._heap, self.timers, self.actors
        while heap and heap[0][0] <= now:
            _, _, tid = heapq.heappop(heap)
            entry = timers.pop(tid, None)
            if entry is not None:
                actor = actors.get(entry[0])
                if actor is not None:
                    actor.on_timer(entry[1])

    def _handle_batch(self) -> None:
        self.batches += 1
        self._fire_timers()
        inbox, actors = self._inbox, self.actors
        for _ in range(len(inbox)):
            item = inbox.popleft()
            if callable(item):
                item()
            else:
                src, dst, msg = item
                actor = actors.get(dst)
                if actor is not None:
                    actor.on_message(src, msg)
        # timers the batch set to fire at once (a group of proposals to replicate) join it
        self._fire_timers()

    def _flush(self, only: Callable[[Any], bool] | None) -> None:
        out, self.outbox = self.outbox, []
        if only is not None:
            self.outbox = [item for item in out if not only(item[2])]
            out = [item for item in out if only(item[2])]
        actors = self.actors
        for src, dst, msg in out:
            if dst in actors:
                self._inbox.append((src, dst, msg))
            else:
                self.remote_send(dst.split("/", 1)[0], src, dst, msg)
        if self._inbox:
            self._wake.set()
