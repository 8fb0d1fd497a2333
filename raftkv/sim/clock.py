"""Per-node clocks: offset, drift and jumps over the global virtual time."""

from __future__ import annotations

__all__ = ["NodeClock"]

PPM = 1_000_000


class NodeClock:
    """``local(t) = base_local_us + (t - base_global_us) * (1 + drift_ppm / 1e6)``.

    Changing the drift or jumping re-bases the clock, so local time stays continuous
    except at a jump.  Timers measure elapsed *local* time (like a monotonic clock that
    drifts); a jump moves what :meth:`local_us` reads but not when timers fire.
    """

    __slots__ = ("base_global_us", "base_local_us", "drift_ppm", "mono_base_global_us", "mono_base_us")

    def __init__(self) -> None:
        self.base_global_us = 0
        self.base_local_us = 0
        self.drift_ppm = 0
        # The monotonic clock: drifts with the wall clock, but offsets and jumps leave it be.
        self.mono_base_global_us = 0
        self.mono_base_us = 0

    def local_us(self, global_us: int) -> int:
        elapsed = global_us - self.base_global_us
        if self.drift_ppm:
            return self.base_local_us + elapsed + elapsed * self.drift_ppm // PPM
        return self.base_local_us + elapsed

    def monotonic_us(self, global_us: int) -> int:
        """Elapsed local time (drift included) that wall-clock steps do not move."""
        elapsed = global_us - self.mono_base_global_us
        if self.drift_ppm:
            return self.mono_base_us + elapsed + elapsed * self.drift_ppm // PPM
        return self.mono_base_us + elapsed

    def set(self, global_us: int, offset_us: int, drift_ppm: int) -> None:
        assert drift_ppm > -PPM, f"drift {drift_ppm} ppm would stop or reverse the clock"
        self.mono_base_us = self.monotonic_us(global_us)
        self.mono_base_global_us = global_us
        self.base_global_us = global_us
        self.base_local_us = global_us + offset_us
        self.drift_ppm = drift_ppm

    def jump(self, global_us: int, delta_us: int) -> None:
        self.base_local_us = self.local_us(global_us) + delta_us
        self.base_global_us = global_us

    def offset_us(self, global_us: int) -> int:
        return self.local_us(global_us) - global_us

    def global_delay_us(self, local_delay_us: int) -> int:
        """How much global time passes while this clock advances ``local_delay_us``."""
        if not self.drift_ppm:
            return local_delay_us
        return -(-local_delay_us * PPM // (PPM + self.drift_ppm))
