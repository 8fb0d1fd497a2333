"""Run Python code in fresh interpreters under different ``PYTHONHASHSEED`` values."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Sequence

from raftkv.sim import Scenario, scenario_to_token


def outputs_across_hash_seeds(code: str, *args: str, seeds: Sequence[str] = ("1", "2")) -> list[str]:
    """What ``python -c code args...`` prints (stripped), once per hash seed."""
    outs = []
    for seed in seeds:
        env = dict(os.environ, PYTHONHASHSEED=seed)
        proc = subprocess.run([sys.executable, "-c", code, *args], env=env, capture_output=True,
                              text=True, check=True)
        outs.append(proc.stdout.strip())
    return outs


_RUN_TOKEN = """
import sys
from raftkv.sim import run_scenario, scenario_from_token
r = run_scenario(scenario_from_token(sys.argv[1]))
print(r.ok, r.trace.hash(), len(r.trace))
"""


def assert_same_run_across_hash_seeds(scenario: Scenario, *, seeds: Sequence[str] = ("1", "2")) -> None:
    """``scenario`` (run from its token in fresh interpreters, once per hash seed) passes
    its checks and leaves a byte-identical trace under every seed."""
    outs = outputs_across_hash_seeds(_RUN_TOKEN, scenario_to_token(scenario), seeds=seeds)
    assert len(set(outs)) == 1, outs
    assert outs[0].startswith("True "), outs[0]
