"""The nemesis of a real cluster: fault schedules drawn by the simulator's hypothesis
strategy (:func:`raftkv.strategies.fault_schedules`) from a seed, applied to member
processes (SIGKILL and restart, a torn WAL tail in between for raftkv; SIGSTOP/SIGCONT)
and to the peer proxy (partitions, the simulator's shapes, one-way cuts, loss and delay).

Clock faults have no counterpart on real processes and are not drawn; the schedule is
saved as plain data (``schedule.json``) with every fault as it was applied.
"""

from __future__ import annotations

import json
import math
import random
import time
from collections.abc import Sequence

import attrs
import trio
from hypothesis.internal.conjecture.data import ConjectureData

from raftkv.runtime.cluster import LocalCluster
from raftkv.sim.network import cuts_for_groups
from raftkv.sim.scenario import Fault, ScenarioError, _from_dict
from raftkv.sim.shapes import shape_cuts
from raftkv.strategies import fault_schedules

from .leaders import LeaderClaims
from .proxy import PeerProxy
from .targets import tear_wal_tail

__all__ = ["CHECKED_AFTER_S", "PROBE_CUT_US", "PROBE_EPISODES", "PROBE_HEAL_US", "REAL_NEMESES", "VOTE_DELAY_US",
           "AppliedFault", "Nemesis", "SavedSchedule", "draw_schedule", "load_schedule", "probe_episode", "probe_faults",
           "schedule_json"]

# The simulator's nemeses that real processes and the peer proxy can play.
REAL_NEMESES = ("partition", "shape", "cut", "crash", "pause", "network")


# The last part of a run probes the faults that make violations visible from outside, in
# turn (PROBE_EPISODES): isolating a follower (a lagging member that answers its clients),
# isolating the leader just after a quorum check (a deposed leader that still answers its
# clients), each PROBE_CUT_US long, and a lost vote (VOTE_EPISODE_US); each is healed for
# PROBE_HEAL_US after.
#
# The lost vote makes Raft's classic window for an unsynced vote: the leader is cut off
# and every other link is slowed by VOTE_DELAY_US, so that a follower that votes for a new
# candidate hears from the new leader only a delay later; the nemesis watches the members'
# status and SIGKILLs that voter (``@voter``: a member in the new leader's term that knows
# no leader yet) before the new leader's first append reaches it, then cuts the new
# leader off and restarts the voter next to the old leader.  A member that fsynced its vote
# (and raftkv members run with --lose-unsynced, so a SIGKILL is a power cut) refuses a
# second vote in that term; one that lost it elects a second leader in the new leader's
# term, which the election safety check sees.  (etcd's status reports the term of the last
# entry applied, so there a new leader's term shows late and @voter seldom fires.)
PROBE_CUT_US = {"@checked-leader": 2_000_000, "@follower": 1_500_000}
PROBE_HEAL_US = 500_000
# "@checked-leader" is the leader just after one of its quorum checks (CheckQuorum: one every
# election timeout from its election; the nemesis waits for that moment, reckoned from when
# the status polls first saw it lead): cut off then, it passes its next check on the
# heartbeat answers that came in since, and is deposed only at the one after, about two
# election timeouts after the cut, while the others elect one to two election timeouts
# after their last heartbeat.  The cut lands CHECKED_AFTER_S after the reckoned check.
CHECKED_AFTER_S = 0.03
# long enough for the status polls to see the voter between the new leader's win and its
# first append; short enough that an election (four delayed messages with pre-vote) seldom
# splits the vote (at 0.2 s most elections did, and many runs saw no vote to catch)
VOTE_DELAY_US = 100_000
VOTE_WAIT_S = 5.0  # how long @voter waits for a vote to catch
VOTE_EPISODE_US = 7_000_000
PROBE_EPISODES = ("@follower", "@checked-leader", "lost-vote", "@checked-leader")


def probe_episode(kind: str, at: int) -> tuple[list[Fault], int]:
    """The faults of one episode starting at ``at``, and when it has ended (healed)."""
    if kind != "lost-vote":
        cut_us = PROBE_CUT_US[kind]
        return [Fault(at_us=at, kind="shape", shape="isolate", node=kind),
                Fault(at_us=at + cut_us, kind="heal")], at + cut_us
    return [Fault(at_us=at, kind="shape", shape="isolate", node="@leader"),
            Fault(at_us=at, kind="network", spike_prob=1.0, spike_us=VOTE_DELAY_US),
            Fault(at_us=at + 1, kind="crash", node="@voter"),
            Fault(at_us=at + 2, kind="network"),
            Fault(at_us=at + 2, kind="shape", shape="isolate", node="@leader"),
            Fault(at_us=at + 3, kind="restart", node="@crashed"),
            Fault(at_us=at + VOTE_EPISODE_US, kind="heal")], at + VOTE_EPISODE_US


def probe_faults(start_us: int, end_us: int) -> list[Fault]:
    """The probe episodes (PROBE_EPISODES in turn) that fit in [start_us, end_us)."""
    out: list[Fault] = []
    at = start_us
    n = 0
    while True:
        faults, ends = probe_episode(PROBE_EPISODES[n % len(PROBE_EPISODES)], at)
        if ends > end_us:
            return out
        out += faults
        at = ends + PROBE_HEAL_US
        n += 1


def draw_schedule(seed: int, members: int, duration_us: int, *,
                  nemeses: Sequence[str] = REAL_NEMESES, probes: bool = True) -> tuple[Fault, ...]:
    """A fault schedule drawn by the simulator's strategy, from ``seed`` alone (a seeded
    hypothesis ConjectureData: the same seed and hypothesis release draw the same one).
    With ``probes``, the drawn faults take the first half of ``duration_us`` (all but
    its last 6 s at most), and after a healed second the rest is :func:`probe_faults`."""
    assert duration_us > 1_000_000, "faults start after the first second"
    drawn_us = duration_us
    if probes:
        drawn_us = duration_us - max(duration_us // 2, 6_000_000)
    faults: list[Fault] = []
    probes_from_us = 0
    if drawn_us > 1_000_000:
        strategy = fault_schedules(members, drawn_us, nemeses=nemeses, min_episodes=1, max_episodes=6)
        data = ConjectureData(random=random.Random(seed))
        faults += data.draw(strategy)
        probes_from_us = drawn_us + 1_000_000  # a healed second first: a leader to find
    if probes:
        faults += probe_faults(max(probes_from_us, 1_000_000), duration_us)
    return tuple(faults)


@attrs.frozen(kw_only=True)
class AppliedFault:
    """What the nemesis did for one fault, and when (wall clock, microseconds)."""

    at_us: int
    fault: Fault
    did: str


def schedule_json(seed: int, faults: Sequence[Fault], applied: Sequence[AppliedFault],
                  client_faults: Sequence[tuple[int, str]] = (), *, members: int = 3,
                  time_s: float | None = None) -> str:
    return json.dumps({
        "seed": seed,
        "members": members,
        "time_s": time_s,
        "faults": [attrs.asdict(f) for f in faults],
        "applied": [{"time_us": a.at_us, "fault": a.fault.describe().strip(), "did": a.did} for a in applied],
        "client_faults": [{"time_us": t, "did": what} for t, what in client_faults],
    }, indent=2)


@attrs.frozen(kw_only=True)
class SavedSchedule:
    """A run's ``schedule.json`` read back: what to apply again (``--schedule``)."""

    seed: int
    members: int
    time_s: float | None
    faults: tuple[Fault, ...]


def load_schedule(path: str) -> SavedSchedule:
    """``schedule.json`` of an earlier run; ValueError naming what is wrong."""
    try:
        with open(path) as f:
            data = json.load(f)
    except OSError as e:
        raise ValueError(f"--schedule: cannot read {path}: {e.strerror or e}") from None
    except json.JSONDecodeError as e:
        raise ValueError(f"--schedule: {path} is not JSON ({e.msg} at line {e.lineno})") from None
    if not isinstance(data, dict) or not isinstance(data.get("faults"), list):
        raise ValueError(f"--schedule: {path} has no \"faults\" list (is it a test-cluster schedule.json?)")
    seed, members, time_s = data.get("seed", 0), data.get("members", 3), data.get("time_s")
    if not isinstance(seed, int) or members not in (3, 5) or not (time_s is None or isinstance(time_s, int | float)):
        raise ValueError(f"--schedule: {path}: seed, members (3 or 5) or time_s is not valid")
    try:
        faults = tuple(_from_dict(Fault, d, f"faults[{i}]") for i, d in enumerate(data["faults"]))
    except ScenarioError as e:
        raise ValueError(f"--schedule: {path}: {e}") from None
    names = {f"n{i + 1}" for i in range(members)}
    for i, fault in enumerate(faults):
        if fault.at_us < 0 or (fault.node and not fault.node.startswith("@") and fault.node not in names):
            raise ValueError(f"--schedule: {path}: faults[{i}] ({fault.describe().strip()}) does not fit "
                             f"{members} members n1..n{members}")
    return SavedSchedule(seed=seed, members=members, time_s=time_s, faults=faults)


def _now_us() -> int:
    return time.time_ns() // 1000


class Nemesis:
    """Applies faults to ``cluster`` (None: attached, no process faults) and ``proxy``
    (None: no peer faults).  ``leader``: who leads now (blocking; run in a thread)."""

    def __init__(self, cluster: LocalCluster | None, proxy: PeerProxy | None, *,
                 torn_tails: bool, rng: random.Random, claims: LeaderClaims | None = None,
                 election_timeout_s: float = 0.5) -> None:
        self.cluster = cluster
        self.claims = claims
        self.election_timeout_s = election_timeout_s
        self.proxy = proxy
        self.torn_tails = torn_tails
        self.rng = rng
        self.crashed: list[str] = []
        self.paused: list[str] = []
        self.cuts: set[tuple[str, str]] = set()
        self.applied: list[AppliedFault] = []

    @property
    def names(self) -> tuple[str, ...]:
        return self.cluster.names if self.cluster is not None else ()

    async def _statuses(self) -> dict[str, tuple[int, str | None]]:
        """Each running member's term and the member it names as leader (None: none),
        asked of all at once."""
        cluster = self.cluster
        out: dict[str, tuple[int, str | None]] = {}
        if cluster is None:
            return out
        ids = {cluster.member_id(n): n for n in self.names}

        async def one(name: str) -> None:
            st = await trio.to_thread.run_sync(cluster.status, name)
            if st is not None:
                try:
                    term = int(str(st.get("raftTerm", 0)))
                except ValueError:
                    return
                out[name] = (term, ids.get(str(st.get("leader", ""))))

        async with trio.open_nursery() as nursery:
            for name in self.names:
                if cluster.running(name) and name not in self.paused:
                    nursery.start_soon(one, name)
        return out

    async def _leader(self, wait_s: float = 2.0) -> str | None:
        """Who leads, asking for up to ``wait_s`` while an election is under way: the leader
        named in the highest term any member reports (not a deposed leader that has not heard
        yet), and of those named in that term, the one most members name.  etcd reports the
        term of its last applied entry, so a new leader and the one it deposed report the same
        term until the new one applies an entry of its own; the majority follows the new one."""
        if self.cluster is None:
            return None
        deadline = trio.current_time() + wait_s
        while True:
            named = [(term, leader) for term, leader in (await self._statuses()).values() if leader]
            if named:
                top = max(term for term, _ in named)
                votes: dict[str, int] = {}
                for term, leader in named:
                    if term == top:
                        votes[leader] = votes.get(leader, 0) + 1
                return max(sorted(votes), key=lambda name: votes[name])
            if trio.current_time() >= deadline:
                return None
            await trio.sleep(0.05)

    async def _voter(self, wait_s: float = VOTE_WAIT_S) -> list[str]:
        """A member that has just voted for a new leader and not heard from it yet: in the
        term of a member that leads, a term newer than any when the watch began, naming no
        leader (a pre-candidate names none either, but in the old term).  Watched for up to
        ``wait_s``."""
        deadline = trio.current_time() + wait_s
        old_term = max((term for term, _ in (await self._statuses()).values()), default=0)
        while trio.current_time() < deadline:
            statuses = await self._statuses()
            leading = {term for name, (term, leader) in statuses.items() if leader == name and term > old_term}
            for name, (term, leader) in sorted(statuses.items()):
                if leader is None and term in leading:
                    return [name]
            await trio.sleep(0.005)
        return []

    async def _checked_leader(self) -> list[str]:
        """The leader, once it is CHECKED_AFTER_S past one of its quorum checks (reckoned
        from when the status polls first saw it lead; at once when they have not)."""
        leader = await self._leader()
        if leader is None or self.cluster is None:
            return []
        since = self.claims.leading_since.get(self.cluster.member_id(leader)) if self.claims else None
        if since is not None:
            period_s, now = self.election_timeout_s, trio.current_time()
            checks = math.ceil((now - since - CHECKED_AFTER_S) / period_s)
            await trio.sleep_until(since + CHECKED_AFTER_S + max(checks, 1) * period_s)
        return [leader]

    async def _resolve(self, node: str) -> list[str]:
        if node == "@leader":
            leader = await self._leader()
            return [leader] if leader else []
        if node == "@checked-leader":
            return await self._checked_leader()
        if node == "@follower":  # a running member that does not lead
            leader = await self._leader()
            if leader is None:
                return []
            followers = [n for n in self.names if n != leader and n not in self.crashed and n not in self.paused]
            return [self.rng.choice(followers)] if followers else []
        if node == "@crashed":
            return list(self.crashed)
        if node == "@paused":
            return list(self.paused)
        if node == "@voter":
            return await self._voter()
        return [node] if node in self.names else []

    async def apply(self, fault: Fault) -> None:
        did = await self._apply(fault)
        self.applied.append(AppliedFault(at_us=_now_us(), fault=fault, did=did))

    async def _apply(self, fault: Fault) -> str:
        kind = fault.kind
        if kind in ("partition", "shape", "cut", "heal"):
            if self.proxy is None:
                return "skipped: no peer proxy"
            if kind == "heal":
                self.cuts = set()
            elif kind == "partition":
                self.cuts = cuts_for_groups(list(self.names), [list(g) for g in fault.groups])
            elif kind == "cut":
                self.cuts |= set(fault.links)
            else:
                targets = await self._resolve(fault.node) if fault.node.startswith("@") else [fault.node]
                if not targets:
                    return "skipped: no leader"
                self.cuts = shape_cuts(fault.shape, list(self.names), targets[0])
                if fault.node.startswith("@"):
                    self.proxy.set_cuts(self.cuts)
                    return f"{fault.shape} {targets[0]} ({fault.node}): cut " + " ".join(
                        f"{a}->{b}" for a, b in sorted(self.cuts))
            self.proxy.set_cuts(self.cuts)
            return "cut " + " ".join(f"{a}->{b}" for a, b in sorted(self.cuts)) if self.cuts else "healed"
        if kind == "network":
            if self.proxy is None:
                return "skipped: no peer proxy"
            self.proxy.set_network(loss=fault.loss, delay_prob=fault.spike_prob, delay_s=fault.spike_us / 1e6)
            return f"loss {fault.loss}, delay {fault.spike_us / 1e6:.3f} s with p {fault.spike_prob}"
        if self.cluster is None:
            return "skipped: no process faults on an attached cluster"
        cluster = self.cluster
        targets = await self._resolve(fault.node)
        done = []
        for name in targets:
            if kind == "crash" and name not in self.crashed:
                if name in self.paused:
                    self.paused.remove(name)
                await trio.to_thread.run_sync(cluster.kill, name)
                self.crashed.append(name)
                torn = ""
                if fault.torn and self.torn_tails:
                    path = tear_wal_tail(f"{cluster.data_dir}/{name}", self.rng.randbytes(1 + self.rng.randrange(40)))
                    torn = " (torn WAL tail)" if path else ""
                done.append(f"SIGKILL {name}{torn}")
            elif kind == "restart" and name in self.crashed:
                cluster.start(name)
                self.crashed.remove(name)
                done.append(f"restart {name}")
            elif kind == "pause" and name not in self.paused and name not in self.crashed:
                cluster.pause(name)
                self.paused.append(name)
                done.append(f"SIGSTOP {name}")
            elif kind == "resume" and name in self.paused:
                cluster.resume(name)
                self.paused.remove(name)
                done.append(f"SIGCONT {name}")
        if kind not in ("crash", "restart", "pause", "resume"):
            return f"skipped: {kind} has no counterpart on real processes"
        return ", ".join(done) or "skipped: nothing to do"

    async def heal_all(self) -> None:
        """The settle phase: every link healed, every member running."""
        await self.apply(Fault(at_us=0, kind="heal"))
        if self.proxy is not None:
            await self.apply(Fault(at_us=0, kind="network"))
        for name in list(self.paused):
            await self.apply(Fault(at_us=0, kind="resume", node=name))
        for name in list(self.crashed):
            await self.apply(Fault(at_us=0, kind="restart", node=name))

    async def run(self, faults: Sequence[Fault], start_s: float) -> None:
        """Apply ``faults`` at their times after ``start_s`` (trio's clock)."""
        for fault in faults:
            await trio.sleep_until(start_s + fault.at_us / 1e6)
            await self.apply(fault)
