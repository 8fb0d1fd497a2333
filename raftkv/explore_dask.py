"""``raftkv explore --dask ADDRESS``: the campaign's batches on a Dask distributed cluster.

The client (the ``raftkv explore`` process) cuts the campaign into batches of scenarios
of one suite (:class:`raftkv.explore.Batch`, each with its own seed) and keeps two batches
per Dask worker thread in flight (one running, one queued behind it), sending the next as
soon as one ends; each batch runs :func:`raftkv.explore.run_batch` on a worker, exactly as
a local worker process does.  Workers send shrinks and findings at once, and a long batch's
examples every ``_FLUSH_S``, through a Dask queue on the scheduler; the rest of a batch's
events come back with its result.  A driver thread forwards them all to
:func:`raftkv.explore.explore`, which shows and saves them as in a local run.

- A failure is shrunk on the worker that found it and reported through the queue before
  its batch ends: once reported it is on the scheduler and survives that worker.
- A worker claims a failure (suite and property) when it first sees it, with a Dask lock
  per campaign; another worker meeting the same failure gives up its batch instead of
  shrinking it again.  The client stops sending batches of a suite once a failure of it
  is reported, as a local worker stops a suite it found failing.
- Workers may join and leave: Dask runs a lost worker's batch again elsewhere (same seed,
  same scenarios; examples are counted once per batch), and new workers get batches.
- Every worker must run the client's raftkv: same version, same sources (a SHA-256 over
  the installed package's ``.py`` files).  Checked at start (refused with the list of
  workers that differ) and again by every batch, for workers that join later: those are
  retired and their batch sent elsewhere.
"""

from __future__ import annotations

import functools
import gc
import hashlib
import importlib
import logging
import queue
import sys
import threading
import time
import uuid
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import attrs
from hypothesis.errors import HypothesisDeprecationWarning

from raftkv.explore import (
    BATCH_EXAMPLES,
    Batch,
    BatchResult,
    batch_seed,
    focus_suites,
    next_suite,
    run_batch,
)
from raftkv.sim import Violation

__all__ = ["DASK_EXTRA", "LEAN_DASK_CONFIG", "DaskError", "Fingerprint", "VersionSkewError", "check_versions",
           "connect", "fingerprint", "local_cluster", "start_dask"]

DASK_EXTRA = "pip install 'raftkv[distributed]'"
# Batches in flight per worker thread: one running and one queued behind it, so a thread that
# ends a batch starts the next without waiting for the client to hear of it.
_BATCHES_PER_THREAD = 2
# A worker sends the example events of a long batch this often (a shrink or finding at once;
# a short batch's come back with its result).
_FLUSH_S = 0.5
# The client reads the event queue at least this often while batches run.
_POLL_S = 0.5
# ... and asks the scheduler how many worker threads there are this often.
_WORKERS_POLL_S = 1.0
# Seconds to wait for a first worker on a scheduler that has none.
_FIRST_WORKER_S = 30.0


class DaskError(Exception):
    """The Dask cluster cannot run the campaign: printed as one line by the command line."""


class VersionSkewError(DaskError):
    """A worker runs another raftkv than the client."""

    def __init__(self, message: str, worker: str = "") -> None:
        super().__init__(message, worker)
        self.worker = worker

    def __str__(self) -> str:
        return str(self.args[0])


@attrs.frozen(kw_only=True)
class Fingerprint:
    version: str
    sources: str  # SHA-256 over the installed raftkv package's .py files (paths and contents)

    def describe(self) -> str:
        return f"raftkv {self.version}, sources {self.sources[:12]}"


@functools.cache
def fingerprint() -> Fingerprint:
    """This process's raftkv: version and a hash of its sources (suites included)."""
    import raftkv

    root = Path(raftkv.__file__).resolve().parent
    digest = hashlib.sha256()
    for path in sorted(root.rglob("*.py")):
        digest.update(path.relative_to(root).as_posix().encode() + b"\0")
        digest.update(path.read_bytes() + b"\0")
    return Fingerprint(version=raftkv.__version__, sources=digest.hexdigest())


def _worker_fingerprint() -> tuple[str, str]:
    # Plain data, so a client with another raftkv can still read the answer.
    mine = fingerprint()
    return (mine.version, mine.sources)


def check_versions(client: Any, expected: Fingerprint) -> int:
    """Refuse (:class:`VersionSkewError`) if a connected worker runs another raftkv; return their threads."""
    answers = client.run(_worker_fingerprint, on_error="return")
    wrong = []
    for address, answer in sorted(answers.items()):
        if isinstance(answer, BaseException):
            wrong.append(f"{address} cannot check its raftkv ({type(answer).__name__}: {answer})")
        elif tuple(answer) != (expected.version, expected.sources):
            found = Fingerprint(version=str(answer[0]), sources=str(answer[1]))
            wrong.append(f"{address} runs {found.describe()}")
        assert len(wrong) <= len(answers)
    if wrong:
        raise VersionSkewError(f"Dask workers with another raftkv than this one ({expected.describe()}): "
                               f"{'; '.join(wrong)}; install the same raftkv on every worker")
    return sum(client.nthreads().values())


def _distributed() -> Any:
    """The ``distributed`` module (imported only here, as it is an optional extra)."""
    try:
        return importlib.import_module("distributed")
    except ImportError:
        raise DaskError(f"--dask needs Dask distributed, which is not installed: {DASK_EXTRA}") from None


# Dask's own periodic work, made rarer on the clusters ``local:N`` starts: on a machine whose
# cores all run scenarios, every millisecond of it is taken from them.  On other clusters the
# same settings can be given to ``dask worker`` (see the README).
LEAN_DASK_CONFIG: dict[str, Any] = {
    "distributed.worker.profile.enabled": False,  # a sample of every thread's stack each 10 ms
    "distributed.admin.tick.interval": "1s",  # event-loop latency checks, each 20 ms
    "distributed.admin.system-monitor.interval": "2s",  # CPU, memory and network figures, each 0.5 s
    "distributed.worker.memory.monitor-interval": "1s",  # each nanny's, 0.1 s
    # Batches are alike and each worker thread holds two at most: nothing to balance, and
    # the scheduler's stealing pass runs each 100 ms.
    "distributed.scheduler.work-stealing": False,
}


def local_cluster(workers: int) -> Any:
    """A Dask cluster of ``workers`` single-threaded worker processes on this machine (``--dask
    local:N``): a scenario is pure Python and holds the GIL, so one thread per process.  Each
    worker process has a nanny, which starts a new one if it dies."""
    assert workers >= 1, workers
    dd = _distributed()
    dask = importlib.import_module("dask")
    # The scheduler and nannies read their settings when made; a nanny hands its own to the
    # worker process it starts.
    with dask.config.set(LEAN_DASK_CONFIG):
        return dd.LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                               dashboard_address=None, silence_logs=logging.ERROR)


def connect(address: str) -> tuple[Any, Any]:
    """A Dask client for ``address`` (a scheduler, or ``local:N``) and the local cluster it started, if any."""
    dd = _distributed()
    cluster = None
    if address.startswith("local:"):
        count = address.removeprefix("local:")
        if not count.isdigit() or int(count) < 1:
            raise DaskError(f"--dask {address}: local:N needs a positive number of worker processes")
        cluster = local_cluster(int(count))
        address = cluster.scheduler_address
    try:
        client = dd.Client(address, timeout="10s", set_as_default=False)
    except (OSError, TimeoutError, ValueError) as exc:
        if cluster is not None:
            cluster.close()
        raise DaskError(f"cannot reach the Dask scheduler at {address}: {exc}") from None
    return client, cluster


# Claims this worker process holds, by lock name: kept so the lease stays refreshed while
# the process lives (a dead worker's claims expire and the failure can be claimed again).
_CLAIMS: dict[str, Any] = {}


def _claim_name(campaign: str, suite: str, prop: str) -> str:
    return f"raftkv-explore-{campaign}-{suite}-{prop}"


def _claim(campaign: str, suite: str, violation: Violation) -> bool:
    name = _claim_name(campaign, suite, violation.property)
    if name in _CLAIMS:
        return False  # this process found it before and reported it
    lock = _distributed().Lock(name)
    if not lock.acquire(blocking=False):
        return False
    _CLAIMS[name] = lock
    return True


async def _release_claims(campaign: str) -> int:
    # Run by Client.run in the worker's event loop, where the lock's calls are coroutines.
    prefix = _claim_name(campaign, "", "")[:-2]
    names = [n for n in _CLAIMS if n.startswith(prefix)]
    for name in names:
        lock = _CLAIMS.pop(name)
        await lock.release()
        await lock.close()
    return len(names)


_PREPARED: list[bool] = []  # whether this worker process is ready for batches


def _prepare_process() -> None:
    """Once per worker process, before its first batch.

    - Move what Dask and the imports allocated out of the cyclic collector's sight
      (``gc.freeze``): a Dask worker's heap is many times a local worker's, and every full
      collection a scenario run triggers would walk all of it.
    - Hypothesis warns when the global random state changes while it draws a scenario; on a
      Dask worker the worker's own event loop thread changes it (scenarios never use it).
    """
    if not _PREPARED:
        warnings.filterwarnings("ignore", message="Do not use the `random` module inside strategies",
                                category=HypothesisDeprecationWarning)
        gc.collect()
        gc.freeze()
        _PREPARED.append(True)


def _batch_task(batch: Batch, key: int, campaign: str,
                expected: Fingerprint) -> tuple[BatchResult, list[tuple[Any, ...]], int]:
    """What a Dask worker runs: one batch.  Shrinks and findings go to the campaign's queue at
    once, examples every ``_FLUSH_S`` of a long batch; what is left comes back with the result,
    with the number of puts made to the queue (the client reads the queue before the events of
    a result whose batch put some)."""
    dd = _distributed()
    _prepare_process()
    worker = dd.get_worker().address
    if fingerprint() != expected:
        raise VersionSkewError(f"Dask worker {worker} runs {fingerprint().describe()}, this client "
                               f"{expected.describe()}", worker)
    events: list[Any] = []  # the campaign's queue, opened (a scheduler round trip) when first needed
    pending: list[tuple[Any, ...]] = []
    examples = 0
    puts = 0
    last_flush = time.time()

    def flush() -> None:
        nonlocal last_flush, puts
        if pending:
            if not events:
                events.append(dd.Queue(f"raftkv-explore-{campaign}"))
            events[0].put(list(pending))
            puts += 1
            pending.clear()
        last_flush = time.time()

    def emit(event: tuple[Any, ...]) -> None:
        nonlocal examples
        if event[0] == "example":
            examples += 1
            pending.append((*event, key, examples))  # (key, n): counted once if the batch runs again
            if time.time() - last_flush >= _FLUSH_S:
                flush()
        elif event[0] == "not_found":
            pending.append(event)  # the batch's last event: it comes with the result
        else:
            pending.append(event)
            flush()

    result = run_batch(batch, worker, emit, claim=lambda violation: _claim(campaign, batch.suite, violation))
    return result, pending, puts


class _Driver(threading.Thread):
    """Sends batches to the cluster while the budget lasts and forwards the workers' events."""

    def __init__(self, *, client: Any, cluster: Any, events: queue.Queue[tuple[Any, ...]], suites: Sequence[str],
                 bugs: Sequence[str], deadline: float, max_examples: int | None, seed: int,
                 database: str | None = None) -> None:
        super().__init__(name="raftkv-explore-dask", daemon=True)
        self.client = client
        self.cluster = cluster
        self.events = events
        self.suites = list(suites)
        self.bugs = tuple(bugs)
        self.deadline = deadline
        self.max_examples = max_examples
        self.seed = seed
        self.database = database
        self.campaign = uuid.uuid4().hex[:12]
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            self._campaign()
        except OSError as exc:  # the comm to the scheduler closed
            self.error = DaskError(f"lost the Dask scheduler: {exc}")
        except BaseException as exc:
            self.error = exc
        finally:
            self._close()
            self.events.put(("done", "dask"))

    def join(self, timeout: float | None = None) -> None:
        threading.Thread.join(self, timeout)
        if self.error is not None:
            error, self.error = self.error, None
            raise error

    def _campaign(self) -> None:
        dd = _distributed()
        expected = fingerprint()
        inbox = dd.Queue(f"raftkv-explore-{self.campaign}", client=self.client)
        in_flight: dict[Any, tuple[int, Batch]] = {}
        counted: dict[int, int] = {}  # batch key -> examples counted
        done_suites: set[str] = set()
        focus = focus_suites(self.suites, self.bugs)
        replayed: set[str] = set()  # suites whose saved examples a batch replays (the first of each)
        next_key = 0
        submitted = 0
        threads = 0
        threads_checked_at = 0.0
        inbox_read_at = time.time()
        while True:
            if time.time() - threads_checked_at >= _WORKERS_POLL_S:  # workers join and leave
                threads = max(1, sum(self.client.nthreads().values()))
                threads_checked_at = time.time()
            while (next_suite(self.suites, focus, done_suites, next_key) is not None
                   and time.time() < self.deadline and len(in_flight) < _BATCHES_PER_THREAD * threads
                   and (self.max_examples is None or submitted < self.max_examples)):
                size = BATCH_EXAMPLES if self.max_examples is None else min(
                    BATCH_EXAMPLES, self.max_examples - submitted)
                suite = next_suite(self.suites, focus, done_suites, next_key)
                assert suite is not None
                batch = Batch(suite=suite, bugs=self.bugs, examples=size,
                              seed=batch_seed(self.seed, 0, next_key), deadline=self.deadline,
                              database=self.database, database_read_only=True,
                              replay_saved=self.database is not None and suite not in replayed)
                replayed.add(suite)
                in_flight[self._submit(next_key, batch, expected)] = (next_key, batch)
                next_key += 1
                submitted += size
            if not in_flight:
                self._forward(inbox.get(batch=True), counted, done_suites)
                return
            try:  # woken by the first batch to end, so its worker gets the next one at once
                with self.client.as_current():
                    dd.wait(list(in_flight), timeout=_POLL_S, return_when="FIRST_COMPLETED")
            except TimeoutError:
                pass
            ended = [f for f in in_flight if f.done()]
            results = {f: f.result() for f in ended if f.status == "finished"}
            # What the ended batches put in the queue is there by now: forwarded before the
            # events that came back with their results.  A short batch puts nothing, and its
            # end costs no read of the queue (a scheduler round trip).
            if any(puts for _, _, puts in results.values()) or time.time() - inbox_read_at >= _POLL_S:
                self._forward(inbox.get(batch=True), counted, done_suites)
                inbox_read_at = time.time()
            for future in ended:
                key, batch = in_flight.pop(future)
                if future.status == "error":
                    exc = future.exception()
                    if not isinstance(exc, VersionSkewError):
                        self._raise_for(exc, batch)
                    print(f"raftkv: {exc}: retired it", file=sys.stderr)
                    self.client.retire_workers(workers=[exc.worker], close_workers=True)
                    in_flight[self._submit(key, batch, expected)] = (key, batch)
                elif future.status != "finished":
                    raise DaskError(f"the Dask scheduler dropped a batch of suite {batch.suite} "
                                    f"({future.status})")
                else:
                    result, events, _ = results[future]
                    self._forward([events], counted, done_suites)
                    if result.found:
                        done_suites.add(batch.suite)

    def _submit(self, key: int, batch: Batch, expected: Fingerprint) -> Any:
        return self.client.submit(_batch_task, batch, key, self.campaign, expected, pure=False,
                                  key=f"raftkv-explore-{self.campaign}-{key}-{uuid.uuid4().hex[:6]}")

    def _raise_for(self, exc: BaseException | None, batch: Batch) -> None:
        if isinstance(exc, _distributed().KilledWorker):
            raise DaskError(f"a batch of suite {batch.suite} (seed {batch.seed}) lost every worker "
                            f"that ran it: {exc}") from None
        assert exc is not None
        raise exc

    def _forward(self, items: Sequence[Sequence[Any]], counted: dict[int, int], done_suites: set[str]) -> None:
        """Pass the workers' events (lists of them, from the queue or a batch's result) on to ``explore``."""
        for item in items:
            for raw in item:
                # The queue's wire format may turn tuples into lists: back to the events' tuples.
                event: tuple[Any, ...] = tuple(tuple(x) if isinstance(x, list) else x for x in raw)
                if event[0] == "example":
                    key: int = event[-2]
                    n: int = event[-1]
                    if n <= counted.get(key, 0):
                        continue  # this batch is being run again after its worker left
                    counted[key] = n
                    self.events.put(event[:-2])
                    continue
                if event[0] == "finding":
                    done_suites.add(event[2])
                self.events.put(event)

    def _close(self) -> None:
        try:
            self.client.run(_release_claims, self.campaign, on_error="return")
        except OSError:
            pass  # no scheduler left to hold the claims
        finally:
            self.client.close()
            if self.cluster is not None:
                self.cluster.close()


def start_dask(address: str, *, suites: Sequence[str], bugs: Sequence[str], deadline: float,
               max_examples: int | None, seed: int,
               database: str | None = None) -> tuple[queue.Queue[tuple[Any, ...]], list[_Driver], int]:
    """Connect, check every worker's raftkv, and start sending batches.

    ``database``: a hypothesis example database folder the workers read (never write: it may
    be one folder shared by many machines), e.g. on a network mount at the same path on each.

    Returns the queue of events for :func:`raftkv.explore.explore`, the driver thread (in
    a list, like the local worker processes: ``join`` re-raises what stopped it) and the
    number of worker threads at the start.
    """
    client, cluster = connect(address)
    try:
        try:
            client.wait_for_workers(1, timeout=min(_FIRST_WORKER_S, max(1.0, deadline - time.time())))
        except TimeoutError:
            raise DaskError(f"no Dask worker joined the scheduler at {address}: start some with "
                            f"`dask worker {address}`") from None
        threads = check_versions(client, fingerprint())
    except BaseException:
        client.close()
        if cluster is not None:
            cluster.close()
        raise
    events: queue.Queue[tuple[Any, ...]] = queue.Queue()
    driver = _Driver(client=client, cluster=cluster, events=events, suites=suites, bugs=bugs,
                     deadline=deadline, max_examples=max_examples, seed=seed, database=database)
    driver.start()
    return events, [driver], threads
