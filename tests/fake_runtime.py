"""The few parts of a Runtime that a component's synchronous handlers use, for tests that
drive them without a simulator."""

from __future__ import annotations

from typing import Any


class FakeQueue:
    """Keeps what is put, in order."""

    def __init__(self) -> None:
        self.items: list[Any] = []

    def put_nowait(self, item: Any) -> None:
        self.items.append(item)


class FakeRuntime:
    """A monotonic clock the test sets (``now_us``) and queues that keep what is put."""

    def __init__(self) -> None:
        self.now_us = 0

    def queue(self) -> FakeQueue:
        return FakeQueue()

    def monotonic_us(self) -> int:
        return self.now_us
