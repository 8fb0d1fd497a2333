"""Every benchmark runs (briefly, ``--quick``) in the build under test, so none can rot.

Each prints the machine and build first and its headline last, as
``<what>: <number> <unit>``.  (Speed itself is measured by running the benchmarks,
never here.)
"""

from __future__ import annotations

import os
import pathlib
import re
import subprocess
import sys

import pytest
from tools import require_tool

BENCHMARKS = pathlib.Path(__file__).resolve().parent.parent / "benchmarks"
SCRIPTS = sorted(p.name for p in BENCHMARKS.glob("*.py") if not p.name.startswith("_"))
# Benchmarks that compare with an outside program: (program, how to install it).
NEEDS = {"gateway_load.py": ("etcd", "apt-get install -y etcd-server")}
HEADLINE = re.compile(r"^(?P<what>[^:]+(?:\([^)]*\))?[^:]*): (?P<number>-?[0-9][0-9,]*(?:\.[0-9]+)?) (?P<unit>[^0-9 ].*)$")


def test_the_benchmarks_are_found() -> None:
    assert {"kv_cluster.py", "kv_store.py", "raft_sim.py", "checker.py"} <= set(SCRIPTS)


@pytest.mark.parametrize("script", SCRIPTS)
def test_benchmark_runs_quick_and_ends_with_its_headline(script: str) -> None:
    if script in NEEDS:
        require_tool(NEEDS[script][0], install=NEEDS[script][1], why=f"{script} measures it too")
    env = dict(os.environ)
    proc = subprocess.run([sys.executable, str(BENCHMARKS / script), "--quick"], capture_output=True,
                          text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = [line for line in proc.stdout.splitlines() if line.strip()]
    assert lines and lines[0].startswith("machine: ") and "raftkv build: " in lines[0], proc.stdout[:500]
    assert HEADLINE.match(lines[-1]), f"last line is not '<what>: <number> <unit>': {lines[-1]!r}"


def test_headline_pattern() -> None:
    assert HEADLINE.match("puts: 123,456 ops/s")
    assert HEADLINE.match("simulated seconds per wall second (group commit 20 ms): 12.5 x")
    assert not HEADLINE.match("puts: fast")
    assert not HEADLINE.match("done")
    assert HEADLINE.match("client ops: 158 ops per simulated second")
