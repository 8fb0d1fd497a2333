"""The simulated network: latency with spikes, loss, duplication, reordering, cuts.

Reordering comes from latency jitter: two messages on one link each draw their own
delay, so a later message can overtake an earlier one (``Latency.min_us < max_us``).
A cut is a *directed* link ``(src, dst)``; a partition is the set of cuts between
its groups, so one-way and asymmetric partitions are just other sets of cuts.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Sequence

import attrs

__all__ = ["Latency", "NetworkModel", "cuts_for_groups"]


@attrs.frozen(kw_only=True)
class Latency:
    """Uniform delay in ``[min_us, max_us]``; with ``spike_prob`` add ``spike_us`` on top."""

    min_us: int = 1_000
    max_us: int = 5_000
    spike_prob: float = 0.0
    spike_us: int = 50_000

    def __attrs_post_init__(self) -> None:
        if not 0 <= self.min_us <= self.max_us:
            raise ValueError(f"latency: need 0 <= min_us <= max_us, got {self.min_us}, {self.max_us}")
        if not 0.0 <= self.spike_prob <= 1.0:
            raise ValueError(f"latency: spike_prob {self.spike_prob} is not in [0, 1]")
        if self.spike_us < 0:
            raise ValueError(f"latency: spike_us {self.spike_us} is negative")

    def sample(self, rng: random.Random) -> int:
        span = self.max_us - self.min_us
        # random() is one C call; randint() costs several Python-level ones per message
        delay = self.min_us + int(rng.random() * (span + 1)) if span else self.min_us
        if self.spike_prob and rng.random() < self.spike_prob:
            delay += self.spike_us
        return delay


def cuts_for_groups(nodes: Sequence[str], groups: Iterable[Iterable[str]]) -> set[tuple[str, str]]:
    """Directed cuts separating ``groups``; nodes in no group form singleton groups."""
    group_of: dict[str, int] = {}
    for i, group in enumerate(groups):
        for node in group:
            if node in group_of:
                raise ValueError(f"partition: node {node!r} is in two groups")
            group_of[node] = i
    next_id = len(group_of) + 1_000_000
    for node in nodes:
        if node not in group_of:
            group_of[node] = next_id
            next_id += 1
    cuts = set()
    for a in nodes:
        for b in nodes:
            if a != b and group_of[a] != group_of[b]:
                cuts.add((a, b))
    return cuts


class NetworkModel:
    """Decides, per message, whether it is lost, duplicated, and how long it takes.

    Every directed link draws from its own random stream (derived from ``seed``), so a
    change on one link (a fault removed while shrinking, one message more) does not shift
    the delays of every later message on all the others.
    """

    def __init__(self, seed: str) -> None:
        self.seed = seed
        self.link_rngs: dict[tuple[str, str], random.Random] = {}
        self.latency = Latency()
        self.link_latency: dict[tuple[str, str], Latency] = {}
        self.loss = 0.0
        self.duplicate = 0.0
        self.cuts: set[tuple[str, str]] = set()

    def is_cut(self, src: str, dst: str) -> bool:
        return (src, dst) in self.cuts

    def link_rng(self, src: str, dst: str) -> random.Random:
        """The random stream of the directed link ``src -> dst``."""
        rng = self.link_rngs.get((src, dst))
        if rng is None:
            rng = self.link_rngs[(src, dst)] = random.Random(f"{self.seed}:{src}->{dst}")
        return rng

    def plan(self, src: str, dst: str) -> tuple[int, ...]:
        """Delays for each copy to deliver: () when lost, two when duplicated."""
        return self.plan_link((src, dst))

    def plan_link(self, link: tuple[str, str]) -> tuple[int, ...]:
        """:meth:`plan` for the directed link ``(src, dst)``."""
        rng = self.link_rngs.get(link)
        if rng is None:
            rng = self.link_rng(*link)
        if self.loss and rng.random() < self.loss:
            return ()
        latency = self.link_latency.get(link, self.latency) if self.link_latency else self.latency
        first = latency.sample(rng)
        if self.duplicate and rng.random() < self.duplicate:
            return (first, latency.sample(rng))
        return (first,)
