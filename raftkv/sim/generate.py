"""Random scenarios from a seed alone (``raftkv sim --seed N``).

The property suites generate scenarios with hypothesis (:mod:`raftkv.strategies`),
which also shrinks them; this module is the quick way to get a varied, reproducible
scenario from one number, using only a seeded ``random.Random``.
"""

from __future__ import annotations

from .scenario import ClusterSpec, Fault, Scenario, WorkloadSpec, member_names
from .shapes import SHAPES
from .world import derive_rng

__all__ = ["random_scenario"]


def random_scenario(seed: int, *, system: str = "kv", members: int = 3, duration_us: int = 10_000_000,
                    settle_us: int = 5_000_000, faults: int = 6, clients: int = 3, ops_per_s: int = 30,
                    bugs: tuple[str, ...] = ()) -> Scenario:
    assert 1 <= members and duration_us > 0 and settle_us >= 0 and faults >= 0, "see validate()"
    rng = derive_rng(seed, "scenario")
    nodes = member_names(members)
    schedule: list[Fault] = []
    # Exactly ``faults`` faults are drawn; a crash or pause brings its restart or resume
    # with it.  A member that is down (crashed or paused) is not crashed or paused again
    # before it is back, so no fault in the schedule is a no-op.
    down_until: dict[str, int] = {}
    kinds: tuple[str, ...] = ("crash", "pause", "shape", "partition", "cut", "clock", "clock_jump", "network", "heal")
    if members == 1:  # nothing to partition or cut
        kinds = tuple(k for k in kinds if k not in ("shape", "partition", "cut"))
    times = sorted(rng.randrange(duration_us // 10, duration_us) for _ in range(faults))
    for at_us in times:
        node = rng.choice(nodes)
        kind = rng.choice(kinds)
        if kind in ("crash", "pause"):
            up = [n for n in nodes if down_until.get(n, -1) < at_us]
            if not up:
                kind = "heal"
            elif node not in up:
                node = rng.choice(up)
        if kind in ("crash", "pause"):
            if kind == "crash":
                schedule.append(Fault(at_us=at_us, kind="crash", node=node, torn=rng.random() < 0.3))
            else:
                schedule.append(Fault(at_us=at_us, kind="pause", node=node))
            back = min(duration_us, at_us + rng.randrange(100_000, 2_000_000))
            down_until[node] = back
            schedule.append(Fault(at_us=back, kind="restart" if kind == "crash" else "resume", node=node))
        elif kind == "shape":
            schedule.append(Fault(at_us=at_us, kind="shape", shape=rng.choice(SHAPES), node=node))
        elif kind == "partition":
            shuffled = list(nodes)
            rng.shuffle(shuffled)
            cut = rng.randint(1, max(1, len(shuffled) - 1))
            groups = (tuple(sorted(shuffled[:cut])), tuple(sorted(shuffled[cut:])))
            schedule.append(Fault(at_us=at_us, kind="partition", groups=tuple(g for g in groups if g)))
        elif kind == "cut":
            other = rng.choice([n for n in nodes if n != node])
            schedule.append(Fault(at_us=at_us, kind="cut", links=((node, other),)))
        elif kind == "clock":
            schedule.append(Fault(at_us=at_us, kind="clock", node=node,
                                  offset_us=rng.randrange(-500_000, 500_000),
                                  drift_ppm=rng.randrange(-50_000, 50_000)))
        elif kind == "clock_jump":
            schedule.append(Fault(at_us=at_us, kind="clock_jump", node=node,
                                  delta_us=rng.randrange(-2_000_000, 2_000_000)))
        elif kind == "network":
            schedule.append(Fault(at_us=at_us, kind="network", loss=round(rng.random() * 0.2, 3),
                                  duplicate=round(rng.random() * 0.1, 3),
                                  spike_prob=round(rng.random() * 0.1, 3), spike_us=rng.randrange(0, 200_000)))
        else:
            schedule.append(Fault(at_us=at_us, kind="heal"))
    schedule.sort(key=lambda f: f.at_us)
    return Scenario(
        seed=seed, system=system, cluster=ClusterSpec(members=members),
        faults=tuple(schedule), workload=WorkloadSpec(clients=clients, ops_per_s=ops_per_s),
        duration_us=duration_us, settle_us=settle_us, bugs=bugs,
    )
