"""Hypothesis strategies for scenarios: the public way to write your own property tests.

Fault schedules are drawn as *episodes* (a crash and its restart, a pause and its
resume, a partition and its heal), so when hypothesis shrinks a failing schedule it
drops or shortens whole episodes and a counterexample ends as the few faults that
matter.  Times shrink towards the start of the run, sizes towards the smallest
cluster, workloads towards fewer clients and operations.

Example::

    from hypothesis import given
    from raftkv.strategies import scenarios
    from raftkv.sim import run_scenario

    @given(scenarios(members=3))
    def test_my_property(scenario):
        result = run_scenario(scenario)
        assert result.ok, result.summary()
"""

from __future__ import annotations

from collections.abc import Sequence

import attrs
from hypothesis import strategies as st

from raftkv.sim.scenario import (
    DEFAULT_MIX,
    ClusterSpec,
    Fault,
    NetworkSpec,
    Scenario,
    WorkloadSpec,
    member_names,
)
from raftkv.sim.shapes import SHAPES

__all__ = ["EPISODE_LENGTHS_US", "EXTRA_NEMESES", "MAX_DRIFT_PPM", "NEMESES", "SNAPSHOT_INTERVALS", "cluster_specs",
           "fault_schedules", "leader_leaving_scenarios",
           "scenarios", "workloads"]

NEMESES = ("partition", "shape", "cut", "crash", "pause", "clock", "clock_jump", "network", "membership")
# Nemeses a suite asks for by name (not in NEMESES, so the general suites do not draw them):
# ``isolate_clock_back`` cuts the leader off, then steps its clock far back, and keeps it cut
# off while the others elect a new leader (aimed at lease reads).
EXTRA_NEMESES = ("isolate_clock_back",)

_SECOND = 1_000_000
_ANY_SIZE = st.integers(1, 7)
_DURATIONS = st.sampled_from((5, 10, 20)).map(lambda s: s * _SECOND)


# Clock drift the strategies draw stays within this bound, which the clusters they
# draw declare (ClusterSpec.max_clock_drift_ppm), so lease reads are safe unless a bug
# drops the drift margin.
MAX_DRIFT_PPM = 300_000

# Snapshot intervals (entries) clusters are drawn with unless a suite asks for others.
SNAPSHOT_INTERVALS = (200, 50, 20)


def cluster_specs(members: int | st.SearchStrategy[int] = _ANY_SIZE,
                  read_only: Sequence[str] = ("safe",),
                  check_quorum: st.SearchStrategy[bool] | None = None,
                  snapshot_intervals: Sequence[int] = SNAPSHOT_INTERVALS) -> st.SearchStrategy[ClusterSpec]:
    """Cluster shapes and Raft options; ``check_quorum`` is drawn half on, half off unless
    a suite gives its own strategy for it (lease reads always get it: they need it);
    ``snapshot_intervals``: the snapshot intervals (entries) drawn from, the first preferred."""
    sizes = st.just(members) if isinstance(members, int) else members
    return _builds_cluster(sizes, read_only, check_quorum, snapshot_intervals).map(
        lambda c: attrs.evolve(c, check_quorum=True) if c.read_only == "lease" else c)


def _builds_cluster(sizes: st.SearchStrategy[int], read_only: Sequence[str],
                    check_quorum: st.SearchStrategy[bool] | None,
                    snapshot_intervals: Sequence[int]) -> st.SearchStrategy[ClusterSpec]:
    return st.builds(
        ClusterSpec,
        members=sizes,
        max_clock_drift_ppm=st.just(MAX_DRIFT_PPM),
        election_timeout_ticks=st.sampled_from((10, 12, 15)),
        check_quorum=st.booleans() if check_quorum is None else check_quorum,
        pre_vote=st.booleans(),
        read_only=st.sampled_from(tuple(read_only)),
        snapshot_interval_entries=st.sampled_from(tuple(snapshot_intervals)),
        max_entries_per_msg=st.sampled_from((64, 1, 4)),
    )


def workloads(max_clients: int = 4, min_clients: int = 1) -> st.SearchStrategy[WorkloadSpec]:
    return st.builds(
        WorkloadSpec,
        op_timeout_us=st.sampled_from((1_000_000, 300_000)),
        clients=st.integers(min_clients, max_clients),
        ops_per_s=st.integers(20, 80),
        keys=st.integers(1, 3),
        mix=st.just(DEFAULT_MIX),
    )


# How often each nemesis is drawn: partitions of every kind find the most bugs.
_WEIGHTS = {"partition": 3, "shape": 3, "cut": 1, "crash": 2, "pause": 2, "clock": 1, "clock_jump": 1,
            "network": 1, "membership": 1}


# How far ``isolate_clock_back`` steps the leader's clock back (the first is what a
# shrunk counterexample keeps), and the shortest isolation it draws.
_STEPS_BACK_US = (5 * _SECOND, 1 * _SECOND, 2 * _SECOND)
_ISOLATE_MIN_US = 1_500_000


def _weighted(nemeses: Sequence[str]) -> tuple[str, ...]:
    return tuple(n for n in nemeses for _ in range(_WEIGHTS.get(n, 1)))


@st.composite
def _episode(draw: st.DrawFn, nodes: Sequence[str], duration_us: int,
             nemeses: Sequence[str], lengths_us: Sequence[int]) -> list[Fault]:
    kind = draw(st.sampled_from(_weighted(nemeses)))
    # Faults start once a first leader is likely elected (hypothesis shrinks towards that).
    start = draw(st.integers(min(_SECOND, duration_us - 1), duration_us - 1))
    # Lengths around the election timeout and well beyond it (shorter ones rarely matter).
    length = draw(st.sampled_from(tuple(lengths_us)))
    end = min(duration_us, start + length)
    # Faults aimed at whoever leads when they fire find far more bugs than random ones.
    node = draw(st.one_of(st.just("@leader"), st.sampled_from(tuple(nodes))))
    if kind == "partition":
        if len(nodes) < 2:
            return []
        order = draw(st.permutations(tuple(nodes)))
        cut = draw(st.integers(1, len(nodes) // 2))  # the first group is the minority (or a half)
        groups = (tuple(sorted(order[:cut])), tuple(sorted(order[cut:])))
        return [Fault(at_us=start, kind="partition", groups=groups), Fault(at_us=end, kind="heal")]
    if kind == "shape":
        shape = draw(st.sampled_from(SHAPES))
        return [Fault(at_us=start, kind="shape", shape=shape, node=node), Fault(at_us=end, kind="heal")]
    if kind == "cut":
        if node == "@leader":
            node = nodes[0]
        others = [n for n in nodes if n != node]
        if not others:
            return []
        dst = draw(st.sampled_from(others))
        return [Fault(at_us=start, kind="cut", links=((node, dst),)), Fault(at_us=end, kind="heal")]
    if kind == "crash":
        torn = draw(st.booleans())
        faults = [Fault(at_us=start, kind="crash", node=node, torn=torn),
                  Fault(at_us=end, kind="restart", node="@crashed" if node == "@leader" else node)]
        if node == "@leader" and draw(st.booleans()):
            # Kill a voter in the middle of the election that follows, and bring it straight
            # back: what it promised before the crash must survive it.
            victim = draw(st.sampled_from(tuple(nodes)))
            at = min(duration_us, start + draw(st.sampled_from((120_000, 150_000, 100_000, 180_000))))
            back = min(duration_us, at + draw(st.sampled_from((20_000, 5_000, 50_000))))
            faults += [Fault(at_us=at, kind="crash", node=victim),
                       Fault(at_us=back, kind="restart", node=victim)]
        return faults
    if kind == "pause":
        return [Fault(at_us=start, kind="pause", node=node),
                Fault(at_us=end, kind="resume", node="@paused" if node == "@leader" else node)]
    if kind == "clock":
        offset = draw(st.integers(-2 * _SECOND, 2 * _SECOND))
        # Within the drift the drawn clusters allow for (see MAX_DRIFT_PPM).
        drift = draw(st.integers(-MAX_DRIFT_PPM * 9 // 10, MAX_DRIFT_PPM * 9 // 10))
        faults = [Fault(at_us=start, kind="clock", node=node, offset_us=offset, drift_ppm=drift)]
        if node == "@leader" and draw(st.booleans()):
            # The classic lease breaker: the leader's clock slow, everyone else's fast (or back).
            faults.append(Fault(at_us=start, kind="clock", node="@followers", drift_ppm=-drift))
        return faults
    if kind == "clock_jump":
        delta = draw(st.integers(-5 * _SECOND, 5 * _SECOND))
        if node == "@leader" and draw(st.booleans()):
            # The leader is cut off, then its clock steps (an NTP correction on a
            # partitioned node): only a lease timed on that clock notices.
            at = min(duration_us, start + 50_000)
            return [Fault(at_us=start, kind="shape", shape="isolate", node="@leader"),
                    Fault(at_us=at, kind="clock_jump", node="@leader", delta_us=delta),
                    Fault(at_us=end, kind="heal")]
        return [Fault(at_us=start, kind="clock_jump", node=node, delta_us=delta)]
    if kind == "isolate_clock_back":
        # The lease breaker: the leader is cut off from the other members (its clients
        # still reach it), then its clock steps back by seconds (an NTP correction on a
        # partitioned node), and it stays cut off long enough for the others to elect a
        # new leader and take writes.  Only a lease timed on that clock still looks valid.
        # With CheckQuorum the leader steps down after an election timeout by its ticks;
        # its clock running slow and the others' fast (within the declared bound) gives
        # the others time to elect a successor before it does.
        end = min(duration_us, start + max(length, _ISOLATE_MIN_US))
        back = draw(st.sampled_from(_STEPS_BACK_US))
        drift = draw(st.sampled_from((MAX_DRIFT_PPM * 9 // 10, 0, MAX_DRIFT_PPM // 2)))
        faults = [Fault(at_us=start, kind="shape", shape="isolate", node="@leader")]
        if drift:
            faults += [Fault(at_us=start, kind="clock", node="@leader", drift_ppm=-drift),
                       Fault(at_us=start, kind="clock", node="@followers", drift_ppm=drift)]
        return [*faults, Fault(at_us=start, kind="clock_jump", node="@leader", delta_us=-back),
                Fault(at_us=end, kind="heal")]
    if kind == "network":
        loss = draw(st.sampled_from((0.0, 0.05, 0.2, 0.5)))
        dup = draw(st.sampled_from((0.0, 0.05, 0.2)))
        spike = draw(st.sampled_from((0.0, 0.05, 0.3)))
        return [Fault(at_us=start, kind="network", loss=loss, duplicate=dup, spike_prob=spike,
                      spike_us=draw(st.integers(10_000, 300_000))),
                Fault(at_us=end, kind="network")]
    assert kind == "membership", kind
    return []  # membership episodes are drawn by fault_schedules, which knows the member names


EPISODE_LENGTHS_US = (1_500_000, 300_000, 700_000, 3_000_000, 6_000_000)


def fault_schedules(members: int, duration_us: int, *, max_episodes: int = 6, min_episodes: int = 0,
                    nemeses: Sequence[str] = NEMESES,
                    lengths_us: Sequence[int] = EPISODE_LENGTHS_US) -> st.SearchStrategy[tuple[Fault, ...]]:
    """Time-ordered faults for a cluster of ``members`` over ``duration_us``."""
    nodes = member_names(members)
    plain = [n for n in nemeses if n != "membership"]
    assert plain, "need at least one nemesis besides membership"
    episodes = st.lists(_episode(nodes, duration_us, plain, lengths_us), min_size=min_episodes,
                        max_size=max_episodes)

    @st.composite
    def build(draw: st.DrawFn) -> tuple[Fault, ...]:
        faults = [f for ep in draw(episodes) for f in ep]
        if "membership" in nemeses:
            faults += draw(_membership(nodes, duration_us))
        faults.sort(key=lambda f: f.at_us)
        return tuple(faults)

    return build()


@st.composite
def _membership(draw: st.DrawFn, nodes: Sequence[str], duration_us: int) -> list[Fault]:
    """Add fresh members (as learners, later promoted, or as voters) and remove members
    (the leader too); changes often come in bursts, so they meet each other and meet
    elections (a change is retried on whichever leader appears)."""
    out: list[Fault] = []
    changes = draw(st.integers(0, 3))
    fresh = [f"n{len(nodes) + i}" for i in range(1, changes + 1)]
    at = draw(st.integers(0, duration_us - 1))
    added_at: dict[str, int] = {}
    for name in fresh:
        # The next change comes at once (a burst) or later.
        at = min(duration_us - 1, at + draw(st.sampled_from((0, 1_000, 2 * _SECOND))))
        added_at[name] = at
        learner = draw(st.booleans())
        out.append(Fault(at_us=at, kind="add_member", node=name, learner=learner))
        if learner and draw(st.booleans()):
            out.append(Fault(at_us=min(duration_us, at + draw(st.integers(0, 3 * _SECOND))),
                             kind="promote", node=name))
    current = [*nodes, *fresh]
    if len(current) > 1 and draw(st.booleans()):
        victim = draw(st.sampled_from(("@leader", *current)))
        at = max(draw(st.integers(0, duration_us - 1)), added_at.get(victim, 0))
        out.append(Fault(at_us=at, kind="remove_member", node=victim))
    return out


@st.composite
def scenarios(draw: st.DrawFn, *, system: str = "kv",
              members: int | st.SearchStrategy[int] = _ANY_SIZE,
              duration_us: int | st.SearchStrategy[int] = _DURATIONS,
              settle_us: int = 5 * _SECOND, max_episodes: int = 6, min_episodes: int = 0,
              nemeses: Sequence[str] = NEMESES, lengths_us: Sequence[int] = EPISODE_LENGTHS_US,
              bugs: Sequence[str] = (), read_only: Sequence[str] = ("safe",),
              workload: st.SearchStrategy[WorkloadSpec] | None = None,
              network: st.SearchStrategy[NetworkSpec] | None = None,
              check_quorum: st.SearchStrategy[bool] | None = None,
              snapshot_intervals: Sequence[int] = SNAPSHOT_INTERVALS) -> Scenario:
    """A whole scenario: seed, cluster, faults, workload, run length."""
    cluster = draw(cluster_specs(members, read_only, check_quorum, snapshot_intervals))
    duration = duration_us if isinstance(duration_us, int) else draw(duration_us)
    faults = draw(fault_schedules(cluster.members, duration, max_episodes=max_episodes,
                                  min_episodes=min_episodes, nemeses=nemeses, lengths_us=lengths_us))
    return Scenario(
        seed=draw(st.integers(0, 2**32 - 1)),
        system=system,
        cluster=cluster,
        network=draw(network) if network is not None else NetworkSpec(),
        faults=faults,
        workload=draw(workload if workload is not None else workloads()),
        duration_us=duration,
        settle_us=settle_us,
        bugs=tuple(sorted(bugs)),
    )


_LEAVE_SIZES = (2, 2, 3, 5)  # two members the most often: the narrowest quorum
# How far from the change a partition lands: before it, with it, or while it commits.
_LEAVE_OFFSETS_US = (0, -5_000, 20_000, 60_000, 200_000)
_LEAVE_IN_FLIGHT_US = (1_000, 12_000)
# Cuts that leave the leader hearing the others while they no longer hear it come first:
# it learns the change committed, they do not.
_LEAVE_SHAPES = ("one_way", "one_way", "isolate", *SHAPES)
# A busy leader: the more proposals arrive while the change is in flight, the more a
# leader that wrongly goes on appending shows it.
_LEAVE_MIN_OPS_PER_S = 60


@st.composite
def leader_leaving_scenarios(draw: st.DrawFn, bugs: Sequence[str] = ()) -> Scenario:
    """The leader removes or demotes itself while the network splits around it.

    2, 3 or 5 members; the leader proposes its own removal (kv and raft systems) or
    demotion (raft system: etcd's member API has none), and a partition of any shape
    centred on it lands just before, with, or while the change commits; it heals after an
    episode, sometimes a second one follows.  What must hold: Raft safety, linearizable
    clients, and a leader again once it heals (the liveness check).
    """
    system = draw(st.sampled_from(("kv", "raft")))
    op = "remove_member" if system == "kv" else draw(st.sampled_from(("remove_member", "demote")))
    cluster = draw(cluster_specs(st.sampled_from(_LEAVE_SIZES)))
    duration = 5 * _SECOND
    leave_at = draw(st.integers(300_000, 2 * _SECOND))
    faults = [Fault(at_us=leave_at, kind=op, node="@leader")]
    # Most often the cut lands while the change is in flight: proposed, acknowledged,
    # committed, and the news of it on its way to the others (a few network latencies).
    in_flight = st.integers(*_LEAVE_IN_FLIGHT_US)
    offset_us = draw(st.one_of(in_flight, in_flight, in_flight, st.sampled_from(_LEAVE_OFFSETS_US)))
    at = max(0, leave_at + offset_us)
    for _ in range(draw(st.integers(1, 2))):
        if at >= duration:
            break
        shape = draw(st.sampled_from(_LEAVE_SHAPES))
        faults.append(Fault(at_us=at, kind="shape", shape=shape, node="@leader"))
        at = min(duration, at + draw(st.sampled_from(EPISODE_LENGTHS_US)))
        faults.append(Fault(at_us=at, kind="heal"))
        at += draw(st.sampled_from((0, 100_000, 500_000)))
    faults.sort(key=lambda f: f.at_us)
    return Scenario(
        seed=draw(st.integers(0, 2**32 - 1)),
        system=system,
        cluster=cluster,
        faults=tuple(faults),
        workload=draw(workloads(min_clients=2, max_clients=4).map(
            lambda w: attrs.evolve(w, ops_per_s=max(w.ops_per_s, _LEAVE_MIN_OPS_PER_S)))),
        duration_us=duration,
        settle_us=4 * _SECOND,
        bugs=tuple(sorted(bugs)),
    )
