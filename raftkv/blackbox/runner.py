"""One real-cluster run (``raftkv test-cluster``): start the target (or attach), put the
peer proxy in between, run the workload under the fault schedule for the time budget,
heal everything and settle, check liveness, stop what was started, then check the
history and save everything in the output folder:

* ``schedule.json``: the seed, the drawn faults, and what the nemesis did when;
* ``history.jsonl``: the history (``raftkv check DIR`` checks it again as the run did);
* ``logs/NAME.log``: each started member's output;
* ``report.html`` and ``verdict.txt``: the checkers' report and verdict lines.

The exit status is ``raftkv check``'s (:mod:`raftkv.exit_status`).
"""

from __future__ import annotations

import os
import random
from collections.abc import Callable

import attrs
import trio

from raftkv.check import (
    EtcdModel,
    HistoryBuilder,
    check_leases,
    check_linearizable,
    check_revision_order,
    check_watches,
    make_history,
    render_html,
)
from raftkv.check.lease import FAULT_RESET_EXTENSION_US
from raftkv.exit_status import EXIT_OK, EXIT_UNKNOWN, EXIT_VIOLATION
from raftkv.runtime.cluster import LocalCluster
from raftkv.sim.scenario import Fault

from .leaders import LeaderClaims, watch_leaders
from .nemesis import Nemesis, draw_schedule, schedule_json
from .proxy import PeerProxy
from .targets import EtcdCluster, find_etcd, peer_proxy, raftkv_cluster
from .workload import ClientFaults, WorkloadSpec, check_liveness, run_workload

__all__ = ["CLIENT_BUGS", "RunOutcome", "RunSpec", "run_test_cluster"]

# Catalogued bugs of the client (raftkv.client.client.Client): with --bug, the workload's
# own gateway clients have them too (a watch resumes in the client that lost its stream).
CLIENT_BUGS = frozenset({"watch_resume_at_last_revision"})


@attrs.frozen(kw_only=True)
class RunSpec:
    target: str  # "raftkv", "etcd" or "attach"
    out_dir: str
    time_s: float = 30.0
    settle_s: float = 5.0
    members: int = 3
    seed: int = 0
    bugs: tuple[str, ...] = ()
    attach: tuple[str, ...] = ()
    workload: WorkloadSpec = WorkloadSpec()
    check_timeout_s: float = 60.0
    # a saved schedule to apply again (--schedule) instead of drawing one from the seed
    faults: tuple[Fault, ...] | None = None

    def __attrs_post_init__(self) -> None:
        if self.target not in ("raftkv", "etcd", "attach"):
            raise ValueError(f"--target must be raftkv or etcd, got {self.target!r}")
        if self.members not in (3, 5):
            raise ValueError(f"--members must be 3 or 5, got {self.members}")
        if not 2.0 <= self.time_s <= 86_400:
            raise ValueError(f"--time must be 2 s to a day, got {self.time_s} s")
        if self.bugs and self.target != "raftkv":
            raise ValueError("--bug turns on raftkv's catalogued bugs: it needs --target raftkv")
        if (self.target == "attach") != bool(self.attach):
            raise ValueError("--attach needs the cluster's client URLs")
        if self.faults and self.target == "attach":
            raise ValueError("--schedule applies process and peer faults: it needs --target raftkv or etcd")
        late = [f for f in self.faults or () if f.at_us >= self.time_s * 1e6]
        if late:
            raise ValueError(f"--schedule: a fault at {late[0].at_us / 1e6:.3f} s is past --time "
                             f"({self.time_s:g} s)")


@attrs.frozen(kw_only=True)
class RunOutcome:
    exit_code: int
    lines: tuple[str, ...]
    operations: int


def _start_cluster(spec: RunSpec, log_dir: str) -> LocalCluster:
    if spec.target == "etcd":
        return EtcdCluster(spec.members, etcd=find_etcd(), log_dir=log_dir)
    return raftkv_cluster(spec.members, bugs=spec.bugs, log_dir=log_dir)


def _wait_leader(cluster: LocalCluster, timeout_s: float) -> str:
    try:
        return cluster.wait_leader(timeout_s=timeout_s)
    except TimeoutError:
        raise RuntimeError(f"the {type(cluster).__name__} elected no leader within {timeout_s:.0f} s "
                           f"(see the member logs)") from None


def run_test_cluster(spec: RunSpec, *, say: Callable[[str], None] = print) -> RunOutcome:
    """The whole run (see the module docstring); stops whatever it started, also on
    failure and Ctrl-C."""
    os.makedirs(spec.out_dir, exist_ok=True)
    log_dir = os.path.join(spec.out_dir, "logs")
    os.makedirs(log_dir, exist_ok=True)
    duration_us = round(spec.time_s * 1e6)
    attached = spec.target == "attach"
    if spec.faults is not None:
        faults = spec.faults
    else:
        faults = () if attached else draw_schedule(spec.seed, spec.members, duration_us)
    recorder = HistoryBuilder()
    workload = attrs.evolve(spec.workload, bugs=frozenset(spec.bugs) & CLIENT_BUGS,
                            client_faults=spec.workload.client_faults or attached)
    client_faults = ClientFaults(workload)
    cluster: LocalCluster | None = None if attached else _start_cluster(spec, log_dir)
    problems: list[str] = []
    claims = LeaderClaims()
    nemesis: Nemesis | None = None
    try:
        async def main() -> None:
            nonlocal nemesis
            proxy: PeerProxy | None = None
            async with trio.open_nursery() as nursery:
                if cluster is not None:
                    proxy = peer_proxy(cluster, rng=random.Random(spec.seed))
                    await nursery.start(proxy.run)
                    cluster.start()
                    leader = await trio.to_thread.run_sync(_wait_leader, cluster, 30.0)
                    say(f"{spec.target}: {spec.members} members up, leader {leader}")
                urls = list(spec.attach) if attached else cluster.client_urls  # type: ignore[union-attr]
                nursery.start_soon(watch_leaders, urls, claims)
                nemesis = Nemesis(cluster, proxy, torn_tails=spec.target == "raftkv", rng=random.Random(spec.seed),
                                  claims=claims)
                stop, watches_closed = trio.Event(), trio.Event()
                async with trio.open_nursery() as inner:
                    inner.start_soon(lambda: run_workload(urls, recorder, workload, seed=spec.seed,
                                                          until_stopped=stop, watches_closed=watches_closed,
                                                          faults=client_faults))
                    start = trio.current_time()
                    await nemesis.run(faults, start)
                    await trio.sleep_until(start + spec.time_s)
                    await nemesis.heal_all()
                    await trio.sleep(spec.settle_s / 2)  # the workload goes on, healed
                    stop.set()
                    problems.extend(await check_liveness(urls, recorder, timeout_s=spec.settle_s * 2))
                    await trio.sleep(1.0)  # let the watches catch up
                    watches_closed.set()
                if proxy is not None:
                    say(f"peer proxy: {proxy.identified} connections from known members, "
                        f"{proxy.closed_by_fault} closed by faults, {proxy.refused} refused (no known dialler)")
                nursery.cancel_scope.cancel()

        trio.run(main)
    finally:
        if cluster is not None:
            cluster.close()
        with open(os.path.join(spec.out_dir, "schedule.json"), "w") as f:
            f.write(schedule_json(spec.seed, faults, nemesis.applied if nemesis else (), client_faults.applied,
                                  members=spec.members, time_s=spec.time_s))
        recorder.write(os.path.join(spec.out_dir, "history.jsonl"))
    claims.finish()
    say(f"status polls: {claims.polls}, leaders seen in {len(claims.leaders)} term(s)")
    problems.extend(claims.violations)
    return _check(spec, recorder, nemesis, problems, say)


def _check(spec: RunSpec, recorder: HistoryBuilder, nemesis: Nemesis | None, problems: list[str],
           say: Callable[[str], None]) -> RunOutcome:
    history = make_history(recorder.records)
    model = EtcdModel()
    result = check_linearizable(history, model, timeout_s=spec.check_timeout_s)
    # Lease clocks may restart at any fault (a new leader, a resumed member, a healed quorum).
    resets = [a.at_us for a in (nemesis.applied if nemesis else ())]
    violations = [*check_revision_order(history), *check_watches(history),
                  *check_leases(history, lease_resets_us=resets, quorum_regained_us=resets,
                                reset_extension_us=FAULT_RESET_EXTENSION_US)]
    ok_ops = sum(1 for op in history.operations if op.outcome == "ok")
    lines = [f"{result.verdict}: {len(history.operations)} operations ({ok_ops} ok), "
             f"{len(violations)} revision/watch/lease violation(s), {len(problems)} liveness/election problem(s)"]
    if result.verdict != "ok":
        lines.append(result.explanation)
    lines += [str(v) for v in violations] + problems
    render_html(history, result, os.path.join(spec.out_dir, "report.html"), model=model,
                title=f"raftkv test-cluster ({spec.target})")
    with open(os.path.join(spec.out_dir, "verdict.txt"), "w") as f:
        f.write("\n".join(lines) + "\n")
    for line in lines:
        say(line)
    if result.verdict == "fail" or violations or problems:
        code = EXIT_VIOLATION
    elif result.verdict == "unknown":
        code = EXIT_UNKNOWN
    else:
        code = EXIT_OK
    return RunOutcome(exit_code=code, lines=tuple(lines), operations=len(history.operations))
