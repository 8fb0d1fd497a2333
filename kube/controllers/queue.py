"""A rate-limited, deduplicating work queue (client-go's ``workqueue``).

* a key added while it waits is queued once (``dirty``);
* a key added while a worker holds it is queued again only when that worker calls
  :meth:`WorkQueue.done` (one worker per key at a time);
* :meth:`WorkQueue.add_after` queues a key later; :meth:`WorkQueue.add_rate_limited`
  queues it after a per-key exponential backoff (``base_backoff_s * 2**failures``, at
  most ``max_backoff_s``) that :meth:`WorkQueue.forget` resets, as client-go's
  ``ItemExponentialFailureRateLimiter`` does.

Keys are served in the order they became ready; nothing depends on hash order.
"""

from __future__ import annotations

from typing import Any

from raftkv.tasks import Runtime

__all__ = ["WorkQueue"]


class WorkQueue:
    def __init__(self, rt: Runtime, *, base_backoff_s: float = 0.05, max_backoff_s: float = 5.0) -> None:
        assert 0 < base_backoff_s <= max_backoff_s, "backoffs must be positive, base <= max"
        self.rt = rt
        self.base_backoff_s = base_backoff_s
        self.max_backoff_s = max_backoff_s
        self._ready: list[str] = []
        self._dirty: dict[str, None] = {}
        self._processing: dict[str, None] = {}
        self._failures: dict[str, int] = {}
        self._signal: Any = rt.queue()  # one token per key appended to _ready
        self.adds = 0

    def __len__(self) -> int:
        return len(self._ready)

    def add(self, key: str) -> None:
        self.adds += 1
        if key in self._dirty:
            return
        self._dirty[key] = None
        if key in self._processing:
            return  # queued again by done()
        self._ready.append(key)
        self._signal.put_nowait(None)

    async def get(self) -> str:
        """The next key; the caller owns it until :meth:`done`."""
        await self._signal.get()
        key = self._ready.pop(0)
        del self._dirty[key]
        self._processing[key] = None
        return key

    def done(self, key: str) -> None:
        assert key in self._processing, f"done({key!r}) for a key no worker holds"
        del self._processing[key]
        if key in self._dirty:
            self._ready.append(key)
            self._signal.put_nowait(None)

    def add_after(self, key: str, delay_s: float) -> None:
        if delay_s <= 0:
            self.add(key)
            return

        async def later() -> None:
            await self.rt.sleep(delay_s)
            self.add(key)
        self.rt.spawn(later(), name=f"requeue:{key}")

    def backoff_s(self, key: str) -> float:
        factor: int = 2 ** self._failures.get(key, 0)
        return min(self.max_backoff_s, self.base_backoff_s * factor)

    def add_rate_limited(self, key: str) -> None:
        delay_s = self.backoff_s(key)
        self._failures[key] = self._failures.get(key, 0) + 1
        self.add_after(key, delay_s)

    def forget(self, key: str) -> None:
        self._failures.pop(key, None)

    def failures(self, key: str) -> int:
        return self._failures.get(key, 0)
