"""The interface between an actor and the world that hosts it.

Members, clients and controllers are *actors*: objects that react to messages and
timers and touch the outside only through an :class:`Env`.  The deterministic
simulator (:mod:`raftkv.sim`) and the trio runtime both implement :class:`Env`, so
the same actor code runs in either world without knowing which one it is in.

Rules for actors (they keep simulation deterministic):

* all randomness comes from ``env.rng``; never the global :mod:`random`;
* time comes from ``env.now_us()`` (the node's *local* clock, which the simulator
  may skew, drift or jump);
* persistent state goes through ``env.disk``; anything not ``fsync``-ed may be lost
  on a crash, and the last unsynced append may come back torn;
* never iterate a ``set`` where the order can change what is sent or written.
"""

from __future__ import annotations

import random
from collections.abc import Hashable, Sequence
from typing import Any, Protocol, runtime_checkable

import attrs

__all__ = ["Actor", "ActorFactory", "Disk", "Env", "TORN", "TornRecord", "TimerId"]

TimerId = int


@attrs.frozen
class TornRecord:
    """What a reader finds where a write was torn by a crash (a failed checksum)."""


TORN = TornRecord()


class Disk(Protocol):
    """A node's disk: named files holding lists of immutable records.

    Writes land in the page cache; ``fsync`` makes them durable.  A crash keeps
    exactly what was fsynced (and, if the fault asks for it, a :data:`TORN`
    record where the last unsynced append was cut short).
    """

    def append(self, file: str, record: Any) -> None: ...

    def truncate(self, file: str, length: int) -> None: ...

    def overwrite(self, file: str, records: Sequence[Any]) -> None: ...

    def fsync(self, file: str | None = None) -> None: ...

    def read(self, file: str) -> list[Any]: ...

    def length(self, file: str) -> int: ...

    def files(self) -> list[str]: ...


class Env(Protocol):
    """What the world gives an actor."""

    @property
    def node_id(self) -> str: ...

    @property
    def rng(self) -> random.Random: ...

    @property
    def disk(self) -> Disk: ...

    def now_us(self) -> int:
        """The node's local clock in microseconds (skew, drift and jumps included)."""
        ...

    def monotonic_us(self) -> int:
        """The node's monotonic clock (like CLOCK_MONOTONIC): it drifts with the local
        clock and keeps running while the process is paused, but steps of the wall clock
        (offsets, jumps) do not move it.  Timers run on it."""
        ...

    def send(self, dst: str, msg: Any) -> None:
        """Send ``msg`` to the actor ``dst``.  Delivery is not guaranteed."""
        ...

    def set_timer(self, delay_us: int, tag: Hashable) -> TimerId:
        """Call ``actor.on_timer(tag)`` after ``delay_us`` of local time."""
        ...

    def cancel_timer(self, timer_id: TimerId) -> None: ...

    def record(self, kind: str, **fields: Any) -> None:
        """Add a structured event to the trace (state changes worth seeing)."""
        ...


@runtime_checkable
class Actor(Protocol):
    """Code hosted by a world.  Built by an :data:`ActorFactory` on start and restart."""

    def on_start(self) -> None:
        """Called once after construction (and after every restart)."""
        ...

    def on_message(self, src: str, msg: Any) -> None: ...

    def on_timer(self, tag: Hashable) -> None: ...


class ActorFactory(Protocol):
    def __call__(self, env: Env) -> Actor: ...
