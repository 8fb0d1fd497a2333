"""``raftkv explore --dask``: the same campaign on a Dask cluster (LocalCluster, processes)."""

from __future__ import annotations

import logging
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from tools import tools_required

from raftkv.cli import main
from raftkv.exit_status import EXIT_BAD_INPUT
from raftkv.explore import explore

try:
    import distributed
except ImportError:
    distributed = None

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"


@pytest.fixture
def dask_installed() -> None:
    if distributed is None:
        message = "Dask distributed is not installed: pip install 'raftkv[distributed]' (the test extra has it)"
        if tools_required():
            pytest.fail(message, pytrace=False)
        pytest.skip(message)


def test_explore_on_dask_finds_shrinks_saves_and_replays_a_bug(dask_installed, tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "out"
    code = main(["explore", "--dask", "local:2", "--suite", "raft_safety", "--bug", "apply_before_durable",
                 "--time", "60s", "--out", str(out), "--quiet"])
    printed = capsys.readouterr().out
    assert code == 1, printed
    folders = sorted(out.iterdir())
    assert [f.name.split("-", 2)[1] for f in folders] == ["raft_safety"], folders  # saved once
    saved = folders[0]
    for name in ("token.txt", "scenario.json", "trace.txt", "report.txt", "report.html"):
        assert (saved / name).stat().st_size > 0, name
    assert "shrunk: from " in (saved / "report.txt").read_text()
    token = (saved / "token.txt").read_text().strip()
    assert f"raftkv replay {token}" in printed
    assert main(["replay", token]) == 1


def test_explore_on_dask_with_no_bug_passes_and_counts(dask_installed, tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    shared = tmp_path / "examples"  # a shared example database: Dask workers only read it
    shared.mkdir()
    out = tmp_path / "out"
    code = main(["explore", "--dask", "local:2", "--suite", "raft_safety", "--examples", "4",
                 "--out", str(out), "--quiet", "--database", str(shared)])
    printed = capsys.readouterr().out
    assert code == 0, printed
    assert not any(shared.iterdir())
    assert "no property failed" in printed
    line = next(ln for ln in printed.splitlines() if ln.strip().startswith("raft_safety"))
    assert int(line.split()[1]) == 4, line
    assert not out.exists() or not any(out.iterdir())


def test_a_lost_workers_batch_runs_again_and_counts_once(dask_installed, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from distributed import LocalCluster

    killed: list[str] = []
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
                      silence_logs=logging.CRITICAL) as cluster:
        [(address, nanny), *_] = [(n.worker_address, n) for n in cluster.workers.values()]

        def kill_when_busy() -> None:
            # Once one batch has run on the victim for half a second (some of its examples already
            # reported), the victim's process dies; its nanny starts a new one, which joins.
            seen: dict[str, float] = {}
            deadline = time.time() + 60
            while not killed and time.time() < deadline:
                state = cluster.scheduler.workers.get(address)
                for task in list(state.processing) if state is not None else []:
                    if time.time() - seen.setdefault(task.key, time.time()) > 0.5:
                        os.kill(nanny.process.process.pid, signal.SIGKILL)
                        killed.append(task.key)
                        break
                time.sleep(0.05)

        killer = threading.Thread(target=kill_when_busy, daemon=True)
        killer.start()
        # raft_churn's scenarios are long (10 s simulated, many crashes): a batch of 10 runs
        # for seconds even in the compiled build, long enough to be killed halfway.
        summary = explore(suites=["raft_churn"], max_examples=20, seconds=None, dask=cluster.scheduler_address,
                          out_dir=tmp_path, show_progress=False)
        killer.join()
    assert killed, "no batch was running on the worker to kill"
    assert not summary.failures
    # Two batches of 10: the lost one ran again elsewhere, its examples counted once.
    assert summary.examples == 20, summary.examples


def test_workers_with_another_raftkv_are_refused_and_failures_claimed_once(dask_installed) -> None:  # type: ignore[no-untyped-def]
    from distributed import Client, LocalCluster

    from raftkv.explore_dask import (
        _CLAIMS,
        Fingerprint,
        VersionSkewError,
        _claim,
        check_versions,
        fingerprint,
    )
    from raftkv.sim import Violation

    with LocalCluster(n_workers=1, threads_per_worker=1, processes=False, dashboard_address=None,
                      silence_logs=logging.ERROR) as cluster, Client(cluster) as client:
        assert check_versions(client, fingerprint()) == 1
        [address] = client.scheduler_info()["workers"]
        other = Fingerprint(version="0.0.9", sources="0" * 64)
        with pytest.raises(VersionSkewError) as info:
            check_versions(client, other)
        # A failure (suite, property) is claimed once per campaign, across processes.
        broken = Violation(property="raft.election_safety", message="two leaders")
        assert _claim("c1", "raft_safety", broken)
        assert not _claim("c1", "raft_safety", broken)  # this process has it
        [held] = [_CLAIMS.pop(n) for n in list(_CLAIMS) if n.startswith("raftkv-explore-c1-")]
        assert not _claim("c1", "raft_safety", broken)  # the lock on the scheduler: another process has it
        assert _claim("c1", "raft_leader", broken) and _claim("c2", "raft_safety", broken)
        held.release()
        assert _claim("c1", "raft_safety", broken)  # released (its holder left): claimable again
    message = str(info.value)
    assert "another raftkv" in message and "0.0.9" in message and fingerprint().sources[:12] in message
    assert f"{address} runs raftkv 0.1.0" in message or f"{address} runs raftkv " in message, message


def test_a_local_cluster_runs_lean(dask_installed) -> None:  # type: ignore[no-untyped-def]
    from distributed import Client

    from raftkv.explore_dask import local_cluster

    def settings(dask_worker) -> tuple[bool, bool, float]:  # type: ignore[no-untyped-def]
        import dask

        return (bool(dask.config.get("distributed.worker.profile.enabled")), "profile" in dask_worker.periodic_callbacks,
                dask_worker.periodic_callbacks["tick"].callback_time)

    with local_cluster(2) as cluster, Client(cluster) as client:
        answers = client.run(settings)
        assert len(answers) == 2
        # No stack sampling every 10 ms in the worker processes, no event-loop check every 20 ms.
        assert all(answer == (False, False, 1000.0) for answer in answers.values()), answers
        assert cluster.scheduler.periodic_callbacks["tick"].callback_time == 1000.0
        assert "stealing" not in cluster.scheduler.extensions  # no balancing pass each 100 ms


def test_the_readme_gives_dask_workers_the_lean_settings() -> None:
    from raftkv.explore_dask import LEAN_DASK_CONFIG

    readme = (BENCHMARKS.parent / "README.md").read_text()
    given = dict(re.findall(r"\bDASK_([A-Z_]+)=(\S+)", readme))
    # Dask reads DASK_A__B_C=v as the setting a.b-c (or a.b_c): v.
    expected = {key.upper().replace(".", "__").replace("-", "_"): str(value)
                for key, value in LEAN_DASK_CONFIG.items()}
    assert given == expected


def test_dask_errors_are_one_line(tmp_path) -> None:  # type: ignore[no-untyped-def]
    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "raftkv.cli", "explore", "--suite", "raft_safety",
                               "--time", "5s", "--out", str(tmp_path), "--quiet", *args],
                              capture_output=True, text=True, timeout=120)

    proc = run("--dask", "local:zero")
    assert proc.returncode == EXIT_BAD_INPUT and proc.stderr.count("\n") == 1, proc.stderr
    assert "local:N needs a positive number" in proc.stderr
    proc = run("--dask", "local:2", "--workers", "2")
    assert proc.returncode == EXIT_BAD_INPUT and proc.stderr.count("\n") == 1, proc.stderr
    assert "--workers" in proc.stderr


def test_dask_not_installed_names_the_extra(tmp_path, capsys, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setitem(sys.modules, "distributed", None)  # import distributed raises ImportError
    code = main(["explore", "--dask", "local:2", "--suite", "raft_safety", "--time", "5s",
                 "--out", str(tmp_path), "--quiet"])
    err = capsys.readouterr().err
    assert code == EXIT_BAD_INPUT, err
    assert err.count("\n") == 1 and "pip install 'raftkv[distributed]'" in err, err


def test_explore_scaling_benchmark_runs(dask_installed) -> None:  # type: ignore[no-untyped-def]
    proc = subprocess.run([sys.executable, str(BENCHMARKS / "explore_scaling.py"), "--quick"],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    lines = proc.stdout.strip().splitlines()
    assert lines[0].startswith("machine: ") and "load average" in proc.stdout
    # A quick run gives no figure worth a verdict: the format only.
    assert re.fullmatch(r"dask scaling: \d+\.\d\d x", lines[-1]), lines[-1]  # each campaign runs 2 scenarios
    assert sum(ln.startswith(("local pool, ", "dask, ")) for ln in lines) == 4, lines


def test_hunt_gives_up_a_failure_claimed_elsewhere() -> None:
    from raftkv.hunt import hunt

    asked: list[str] = []

    def taken(violation) -> bool:  # type: ignore[no-untyped-def]
        asked.append(violation.property)
        return False

    result = hunt("raft_safety", bugs=("apply_before_durable",), max_examples=40, seed=1, claim=taken)
    assert len(asked) == 1, asked  # asked once, at the first failure, then the batch stops
    assert result.finding is None and result.examples < 40, result
    mine = hunt("raft_safety", bugs=("apply_before_durable",), max_examples=40, seed=1, shrink=False,
                claim=lambda violation: True)
    assert mine.finding is not None and mine.finding.violation.property == asked[0]
    assert mine.finding.examples_to_first == result.examples  # same seed: the same first failure
