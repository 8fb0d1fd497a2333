"""ruff and mypy run as part of the test command."""

from __future__ import annotations

import pathlib
import shutil
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent


def test_ruff() -> None:
    # The ruff installed with the test extra sits next to this interpreter (a virtual
    # environment that is not activated has its scripts off PATH).
    beside = pathlib.Path(sys.executable).with_name("ruff")
    exe = str(beside) if beside.exists() else shutil.which("ruff")
    assert exe, "ruff is not installed (pip install -e '.[test]')"
    proc = subprocess.run([exe, "check", "raftkv", "kube", "tests", "property_tests", "benchmarks"],
                          cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_mypy() -> None:
    proc = subprocess.run([sys.executable, "-m", "mypy", "raftkv", "kube"], cwd=ROOT,
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
