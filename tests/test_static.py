"""ruff and mypy run as part of the test command."""

from __future__ import annotations

import pathlib
import shutil
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent


def test_ruff() -> None:
    exe = shutil.which("ruff")
    assert exe, "ruff is not installed (pip install -e '.[test]')"
    proc = subprocess.run([exe, "check", "raftkv", "tests", "property_tests", "benchmarks"],
                          cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_mypy() -> None:
    proc = subprocess.run([sys.executable, "-m", "mypy", "raftkv"], cwd=ROOT,
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
