"""Node clocks: the wall clock drifts, is offset and jumps; the monotonic clock only drifts."""

from __future__ import annotations

from raftkv.sim.clock import NodeClock

S = 1_000_000


def test_wall_clock_offset_drift_and_jump() -> None:
    c = NodeClock()
    assert c.local_us(5 * S) == 5 * S
    c.set(5 * S, offset_us=2 * S, drift_ppm=100_000)  # 2 s ahead, 10% fast
    assert c.local_us(5 * S) == 7 * S
    assert c.local_us(15 * S) == 7 * S + 11 * S
    c.jump(15 * S, -3 * S)
    assert c.local_us(15 * S) == 15 * S


def test_monotonic_clock_ignores_offsets_and_jumps_but_drifts() -> None:
    c = NodeClock()
    c.set(5 * S, offset_us=2 * S, drift_ppm=100_000)
    assert c.monotonic_us(5 * S) == 5 * S  # the offset does not move it
    assert c.monotonic_us(15 * S) == 5 * S + 11 * S  # the drift does
    c.jump(15 * S, -3 * S)
    assert c.monotonic_us(15 * S) == 16 * S  # nor does a jump
    c.set(15 * S, offset_us=0, drift_ppm=0)  # drift off: it goes on from where it was
    assert c.monotonic_us(25 * S) == 26 * S


def test_timers_run_on_the_monotonic_clock() -> None:
    c = NodeClock()
    c.set(0, offset_us=0, drift_ppm=250_000)
    # 1.25 s of local time pass in 1 s of global time, on both clocks
    assert c.global_delay_us(1_250_000) == S
    assert c.monotonic_us(S) == 1_250_000
