"""The README's examples are true: its ``python`` blocks run, its cheap ``raftkv`` lines give
the exit code they are documented to give (``(exit N)`` in the line's comment)."""

from __future__ import annotations

import contextlib
import gc
import io
import os
import pathlib
import re
import shlex
import subprocess
import sys

import pytest

from raftkv.sim import Scenario, scenario_to_token

ROOT = pathlib.Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()


def _blocks(lang: str) -> list[str]:
    return re.findall(rf"^```{lang}\n(.*?)^```", README, flags=re.S | re.M)


def _raftkv_lines() -> list[str]:
    return [line.strip() for block in _blocks("sh") for line in block.splitlines()
            if line.strip().startswith("raftkv ")]


# README lines not run here, and why (every other `raftkv` line must say its exit code).
NOT_RUN = {
    "raftkv explore --time 5m": "five minutes on every core",
    "raftkv explore --suite linearizability --examples 500 --workers 2": "minutes",
    "raftkv explore --bug figure8_commit --suite raft_churn --time 60s":
        "a minute or two; tests/test_cli.py runs explore on a catalogued bug",
    "raftkv replay rk1_eNp1j91qwz...": "a placeholder for a printed token",
    "raftkv replay explore-out/001-raft_churn-raft_commit_rule --trace": "needs an explore run's folder",
    "raftkv check history.jsonl": "your own history file",
    "raftkv check history.edn --model cas-register --initial 0 --html report.html": "your own history file",
    "raftkv check etcd-run.jsonl --model etcd --timeout 30": "your own history file",
    "raftkv check runs/*.edn": "your own history files (tests/test_check_public.py checks several)",
    "raftkv check jepsen.log": "your own Jepsen log (tests/test_check_public.py reads one)",
    "raftkv explore --dask tcp://SCHEDULER_HOST:8786 --time 1h": "needs a Dask scheduler of yours",
    "raftkv explore --dask local:4 --time 5m": "five minutes (tests/test_explore_dask.py runs --dask local:2)",
    "raftkv explore --database .raftkv-examples --time 5m": "five minutes (tests/test_exampledb.py keeps and replays)",
    "raftkv explore --dask tcp://SCHEDULER_HOST:8786 --database /mnt/shared/raftkv-examples --time 1h":
        "needs a Dask scheduler of yours (tests/test_explore_dask.py passes --database)",
    "raftkv serve --cluster 3": "runs until stopped (tests/test_runtime_serve.py starts it and makes the curl calls)",
    "raftkv serve --name n1 --data-dir /var/lib/raftkv/n1 \\": "a member of a cluster on three machines",
    "raftkv test-cluster --target raftkv --time 30s --out run1": "half a minute (tests/test_blackbox.py runs 24 s ones)",
    "raftkv test-cluster --target etcd --members 5 --time 60s --out run2": "a minute, needs etcd (tests/test_blackbox.py)",
    "raftkv test-cluster --target raftkv --bug follower_local_reads --time 10s --seed 1 --out run3":
        "ten seconds (tests/test_blackbox.py runs a 24 s one that must find it)",
    "raftkv test-cluster --attach http://10.0.0.1:2379,http://10.0.0.2:2379,http://10.0.0.3:2379 --time 60s --out run4":
        "needs your own cluster",
    "raftkv test-cluster --target raftkv --schedule run3/schedule.json --out run5":
        "needs run3's folder (tests/test_blackbox.py loads saved schedules)",
    "raftkv check run1 --model etcd": "needs a test-cluster run's folder",
}


def _command(line: str) -> str:
    return line.split("#", 1)[0].strip()


def test_every_raftkv_line_is_run_or_says_why_not() -> None:
    lines = _raftkv_lines()
    assert len(lines) >= 8
    for line in lines:
        documented = re.search(r"\(exit (\d)", line)
        assert documented or _command(line) in NOT_RUN, f"README line gives no '(exit N)': {line}"
    commands = {_command(line) for line in lines}
    assert set(NOT_RUN) <= commands, set(NOT_RUN) - commands  # the list follows the README


def test_the_readme_commands_give_their_documented_exit_codes(tmp_path: pathlib.Path) -> None:
    (tmp_path / "docs").symlink_to(ROOT / "docs")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
    ran = 0
    for line in _raftkv_lines():
        documented = re.search(r"\(exit (\d)", line)
        command = _command(line)
        if command in NOT_RUN:
            continue
        assert documented is not None
        args = shlex.split(command)[1:]
        proc = subprocess.run([sys.executable, "-m", "raftkv.cli", *args], cwd=tmp_path, env=env,
                              capture_output=True, text=True, timeout=300)
        assert proc.returncode == int(documented.group(1)), (line, proc.stdout[-2000:], proc.stderr[-2000:])
        assert "Traceback" not in proc.stderr, proc.stderr
        ran += 1
    assert ran >= 5
    for written in ("scenario.json", "copy.json", "report.html", "stale-read.html"):
        assert (tmp_path / written).stat().st_size > 0, written
    stale = (tmp_path / "stale-read.html").read_text()
    assert 'class="verdict-fail"' in stale and "cannot place" in stale  # the stale read, drawn


def _expected_prints(block: str) -> list[str]:
    """``print(...)  # X`` documents that the line prints X."""
    return [m.group(1).strip() for m in re.finditer(r"^print\(.*\)\s+#\s*(.+)$", block, flags=re.M)]


def _runnable(block: str) -> str:
    # The README's placeholders, made concrete: a real token for "rk1_...", and a small
    # example budget for the property test (which the block only defines).
    token = scenario_to_token(Scenario(seed=3, system="raft", duration_us=1_000_000, settle_us=1_000_000))
    block = block.replace('"rk1_..."', repr(token))
    block = block.replace("@settings(max_examples=50, deadline=None)",
                          "@settings(max_examples=2, deadline=None, derandomize=True, database=None)")
    if "def test_my_property" in block:
        block += "\ntest_my_property()\n"
    return block


# Blocks that talk to a real cluster: tests/test_runtime_readme.py starts one and runs them.
REAL_CLUSTER = "trio.run(main, ["


def _simulated_blocks() -> list[str]:
    return [b for b in _blocks("python") if REAL_CLUSTER not in b]


def test_the_real_cluster_blocks_are_run_elsewhere() -> None:
    real = [b for b in _blocks("python") if REAL_CLUSTER in b]
    assert len(real) == 1 and "GatewayEtcdClient" in real[0], real


@pytest.mark.parametrize("index", range(len(_simulated_blocks())))
def test_the_readme_python_blocks_run(index: int, tmp_path: pathlib.Path,
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    block = _simulated_blocks()[index]
    monkeypatch.chdir(tmp_path)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(_runnable(block), f"README.md python block {index + 1}", "exec"), {"__name__": "readme"})
    # Finalize the block's simulated tasks now, not in the middle of the next block's
    # imports (CPython 3.11 can fail an AST compile that a finalizer interrupts).
    gc.collect()
    printed = [line.strip() for line in out.getvalue().splitlines()]
    expected = _expected_prints(block)
    assert printed[:len(expected)] == expected


def test_there_are_python_blocks() -> None:
    blocks = _blocks("python")
    assert len(blocks) >= 4 and any("KVCluster" in b for b in blocks)
    assert _expected_prints("print(x)  # ok\nprint(y)\n") == ["ok"]
