"""The compiled build: chosen only when complete and current; identical to the sources."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import raftkv
from raftkv import _native
from raftkv._native import PURE_ENV, SOURCES_FILE, decide, source_digests

MODULES = ("raftkv.raft.core", "raftkv.sim.world")
SUFFIX = ".cpython-311-x86_64-linux-gnu.so"


def _package(tmp_path: Path, *, compiled: tuple[str, ...] = MODULES, record: bool = True) -> Path:
    pkg = tmp_path / "raftkv"
    for module in MODULES:
        source = pkg.joinpath(*module.split(".")[1:]).with_suffix(".py")
        source.parent.mkdir(parents=True, exist_ok=True)
        source.write_text(f"# {module}\n")
        if module in compiled:
            source.with_name(source.stem + SUFFIX).write_bytes(b"")
    if compiled:
        (pkg / f"compiled__mypyc{SUFFIX}").write_bytes(b"")
    if record:
        (pkg / SOURCES_FILE).write_text(json.dumps(source_digests(pkg, MODULES)))
    return pkg


@pytest.fixture(autouse=True)
def _linux_suffix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_native.importlib.machinery, "EXTENSION_SUFFIXES", [SUFFIX])


def test_complete_current_build_is_used(tmp_path: Path) -> None:
    compiled, why, warn = decide(_package(tmp_path), {}, MODULES)
    assert compiled and not warn
    assert why == "compiled (mypyc, 2 modules)"


def test_no_extensions_means_pure_python_quietly(tmp_path: Path) -> None:
    assert decide(_package(tmp_path, compiled=()), {}, MODULES) == (
        False, "pure Python (not compiled)", False)


def test_environment_forces_pure_python(tmp_path: Path) -> None:
    pkg = _package(tmp_path)
    assert decide(pkg, {PURE_ENV: "1"}, MODULES)[0] is False
    assert decide(pkg, {PURE_ENV: "0"}, MODULES)[0] is True


def test_edited_source_falls_back_with_a_warning(tmp_path: Path) -> None:
    pkg = _package(tmp_path)
    (pkg / "sim" / "world.py").write_text("# edited after the build\n")
    compiled, why, warn = decide(pkg, {}, MODULES)
    assert not compiled and warn
    assert "raftkv.sim.world" in why and "raftkv.raft.core" not in why


def test_incomplete_or_unrecorded_build_falls_back(tmp_path: Path) -> None:
    compiled, why, warn = decide(_package(tmp_path, compiled=("raftkv.raft.core",)), {}, MODULES)
    assert (compiled, warn) == (False, True) and "raftkv.sim.world missing" in why
    pkg = _package(tmp_path / "a")
    (pkg / f"compiled__mypyc{SUFFIX}").unlink()
    compiled, why, warn = decide(pkg, {}, MODULES)
    assert (compiled, warn) == (False, True) and "raftkv.compiled__mypyc missing" in why
    compiled, why, warn = decide(_package(tmp_path / "b", record=False), {}, MODULES)
    assert (compiled, warn) == (False, True) and SOURCES_FILE in why


def test_pure_python_switch_loads_the_sources() -> None:
    code = ("import raftkv, raftkv.raft.core as c, raftkv.sim.world as w; "
            "print(raftkv.build_info()); print(c.__file__.endswith('.py'), w.__file__.endswith('.py'))")
    env = dict(os.environ, **{PURE_ENV: "1"})
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         check=True).stdout.splitlines()
    assert out == [f"pure Python ({PURE_ENV} is set)", "True True"]


def test_build_is_compiled_where_required() -> None:
    """CI sets RAFTKV_REQUIRE_COMPILED=1: the installation there must run compiled."""
    if os.environ.get("RAFTKV_REQUIRE_COMPILED") != "1":
        pytest.skip(f"compiled build not required here; running {raftkv.build_info()}")
    assert raftkv.is_compiled(), raftkv.build_info()
    import raftkv.raft.core as core

    assert not core.__file__.endswith(".py"), core.__file__


_TRACE_HASHES = """
import sys
import raftkv
from raftkv.sim.run import run_scenario
from raftkv.strategies import scenarios
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

out = [raftkv.build_info()]

@settings(max_examples=6, derandomize=True, database=None, deadline=None,
          phases=(Phase.generate,), suppress_health_check=list(HealthCheck))
@given(scenarios(system="kv", members=st.integers(3, 5), duration_us=4_000_000))
def run(scenario):
    result = run_scenario(scenario, trace_messages=True)
    out.append(result.trace.hash() + " " + str(len(result.trace)))

run()
print("\\n".join(out))
"""


def test_compiled_and_pure_builds_give_identical_traces() -> None:
    """Byte-identical traces, message by message, whichever build runs."""
    runs = []
    for pure in ("0", "1"):
        env = dict(os.environ, **{PURE_ENV: pure})
        runs.append(subprocess.run([sys.executable, "-c", _TRACE_HASHES], env=env, capture_output=True,
                                   text=True, check=True).stdout.splitlines())
    (first_build, *first), (second_build, *second) = runs
    assert second_build.startswith("pure Python")
    assert len(first) == 6 and len(set(first)) == 6
    assert first == second, (first_build, second_build)
