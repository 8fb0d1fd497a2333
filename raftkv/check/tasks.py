"""Running key searches: interleaved in one process, then spread over processes.

Every key (of every history being checked) is a :class:`~raftkv.check.linearizability.KeyTask`.
They run round-robin, a slice of steps each, smallest key first, so that an easy
violation on one key is found even while another key's search is hard; a key that fails
stops the other keys of its history (P-compositionality: one failing key decides).
When keys are still open after :data:`SPREAD_AFTER_STEPS` steps and more than one
worker is allowed, the open keys are shared out among forked processes, each going on
from where the search stood (nothing is redone); a failure found in one is passed on to
the others.  Each key's verdict depends only on its own search and budget, so the
verdicts are the same whatever the number of workers.
"""

from __future__ import annotations

import os
import time
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from .linearizability import KeyResult, KeyTask

__all__ = ["SLICE_YIELDS", "SPREAD_AFTER_STEPS", "default_workers", "run_tasks"]

SLICE_YIELDS = 16  # a slice: 16 x 256 search steps
SPREAD_AFTER_STEPS = 20_000

Clock = Callable[[], float]


def default_workers() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def _round_robin(tasks: Iterable[KeyTask], clock: Clock, failed: set[int],
                 report: Callable[[KeyTask, KeyResult], None], poll: Callable[[], None],
                 spread: Callable[[list[KeyTask]], bool] | None = None) -> None:
    active = deque(tasks)
    spent = 0
    while active:
        if spread is not None and spent >= SPREAD_AFTER_STEPS and len(active) > 1:
            live = [t for t in active if t.group not in failed]
            if spread(live):
                return
            spread = None
        task = active.popleft()
        if task.group in failed:
            continue
        before = task.budget.steps
        res = task.run(SLICE_YIELDS, clock)
        spent += task.budget.steps - before
        if res is None:
            active.append(task)
        else:
            report(task, res)
        poll()


def run_tasks(tasks: Sequence[KeyTask], *, workers: int = 1,
              clock: Clock = time.monotonic) -> list[tuple[int, KeyResult]]:
    """Run the tasks; (group, result) for every key checked (keys left unchecked
    because another key of their group failed are not in the list)."""
    assert workers >= 1, workers
    results: list[tuple[int, KeyResult]] = []
    failed: set[int] = set()
    children: list[_Child] = []

    def report(task: KeyTask, res: KeyResult) -> None:
        results.append((task.group, res))
        if res.verdict == "fail" and task.group not in failed:
            failed.add(task.group)
            for c in children:
                c.stop(task.group)

    def poll() -> None:
        for c in children:
            c.receive(report, block=False)

    def spread(open_tasks: list[KeyTask]) -> bool:
        n = min(workers, len(open_tasks))
        shares = [open_tasks[i::n] for i in range(n)]
        for share in shares[1:]:
            children.append(_Child.start(share, clock, failed))
        _round_robin(shares[0], clock, failed, report, poll)
        while any(not c.done for c in children):
            _wait(children)
            poll()
        for c in children:
            c.reap(report, failed)
        return True

    order = sorted(tasks, key=lambda t: len(t.op_ids))
    can_fork = workers > 1 and hasattr(os, "fork")
    _round_robin(order, clock, failed, report, poll, spread if can_fork else None)
    return results


def _wait(children: list[_Child]) -> None:
    from multiprocessing.connection import wait

    wait([c.conn for c in children if not c.done])


class _Child:
    """A forked process running a share of the tasks; it sends ("result", task index,
    KeyResult) as keys are decided and ("done",) at the end, and takes ("stop", group)."""

    def __init__(self, pid: int, conn: Any, tasks: list[KeyTask]) -> None:
        self.pid = pid
        self.conn = conn
        self.tasks = tasks
        self.finished: set[int] = set()
        self.done = False

    @classmethod
    def start(cls, share: list[KeyTask], clock: Clock, failed: set[int]) -> _Child:
        from multiprocessing import Pipe

        mine, theirs = Pipe()
        pid = os.fork()
        if pid == 0:  # the child
            code = 0
            try:
                mine.close()
                _child_main(share, theirs, clock, set(failed))
            except BaseException:
                code = 1
            finally:
                os._exit(code)
        theirs.close()
        return cls(pid, mine, share)

    def stop(self, group: int) -> None:
        if not self.done:
            try:
                self.conn.send(("stop", group))
            except OSError:
                pass

    def receive(self, report: Callable[[KeyTask, KeyResult], None], *, block: bool) -> None:
        while not self.done and (block or self.conn.poll()):
            try:
                msg = self.conn.recv()
            except (EOFError, OSError):
                self.done = True
                return
            if msg[0] == "done":
                self.done = True
            else:
                _, index, res = msg
                self.finished.add(index)
                report(self.tasks[index], res)

    def reap(self, report: Callable[[KeyTask, KeyResult], None], failed: set[int]) -> None:
        os.waitpid(self.pid, 0)
        self.conn.close()
        for i, task in enumerate(self.tasks):  # the child died early: those keys are unknown
            if i not in self.finished and task.group not in failed:
                report(task, task.exhausted())


def _child_main(share: list[KeyTask], conn: Any, clock: Clock, failed: set[int]) -> None:
    index = {id(t): i for i, t in enumerate(share)}

    def report(task: KeyTask, res: KeyResult) -> None:
        conn.send(("result", index[id(task)], res))
        if res.verdict == "fail":
            failed.add(task.group)

    def poll() -> None:
        while conn.poll():
            msg = conn.recv()
            if msg[0] == "stop":
                failed.add(msg[1])

    _round_robin(share, clock, failed, report, poll)
    conn.send(("done",))
    conn.close()
