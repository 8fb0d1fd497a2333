"""Run Python code in fresh interpreters under different ``PYTHONHASHSEED`` values."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Sequence


def outputs_across_hash_seeds(code: str, *args: str, seeds: Sequence[str] = ("1", "2")) -> list[str]:
    """What ``python -c code args...`` prints (stripped), once per hash seed."""
    outs = []
    for seed in seeds:
        env = dict(os.environ, PYTHONHASHSEED=seed)
        proc = subprocess.run([sys.executable, "-c", code, *args], env=env, capture_output=True,
                              text=True, check=True)
        outs.append(proc.stdout.strip())
    return outs
