"""Which build of the hot modules runs: compiled (mypyc) or pure Python.

``pip install`` compiles the modules in :data:`COMPILED_MODULES` with mypyc when it can
(see ``setup.py``); the Python sources stay the reference and behave identically,
trace for trace.  This module decides, once, at ``import raftkv``:

* ``RAFTKV_PURE_PYTHON=1`` in the environment: run the Python sources;
* every compiled module present and built from the sources next to it (their SHA-256
  matches the one recorded at build time): run the compiled modules;
* otherwise (no compiled modules, some missing, or a source edited since the build):
  run the Python sources, with a warning when compiled modules are there but stale.

The Python sources are chosen by a finder placed first on ``sys.meta_path`` that loads
those modules from their ``.py`` files; it is all or nothing, because compiled modules
call each other directly.  Standard library only: ``setup.py`` reads this file too.
"""

from __future__ import annotations

import hashlib
import importlib.abc
import importlib.machinery
import importlib.util
import json
import os
import sys
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import ModuleType

__all__ = ["COMPILED_MODULES", "GROUP_NAME", "PURE_ENV", "SHARED_LIBRARY", "SOURCES_FILE", "build_info",
           "decide", "is_compiled", "pure_requested", "select", "source_digests", "source_path"]

# The simulation's hot path: Raft core and host, the simulated world, the KV server and
# store, the client and the online checkers fed by the trace.
COMPILED_MODULES: tuple[str, ...] = (
    "raftkv.raft.core",
    "raftkv.raft.host",
    "raftkv.raft.log",
    "raftkv.raft.messages",
    "raftkv.raft.progress",
    "raftkv.raft.quorum",
    "raftkv.raft.ready",
    "raftkv.raft.value",
    "raftkv.sim.clock",
    "raftkv.sim.disk",
    "raftkv.sim.kv_system",
    "raftkv.sim.network",
    "raftkv.sim.safety",
    "raftkv.sim.trace",
    "raftkv.sim.world",
    "raftkv.kv.lease",
    "raftkv.kv.mvcc",
    "raftkv.kv.server",
    "raftkv.kv.store",
    "raftkv.kv.txn",
    "raftkv.kv.watch",
    "raftkv.client.client",
    "raftkv.client.workload",
    "raftkv.check.builder",
)

# mypyc's group name for the build: its support library, which every compiled module
# imports, is the module GROUP_NAME + "__mypyc" (inside the package).
GROUP_NAME = "raftkv.compiled"
SHARED_LIBRARY = f"{GROUP_NAME}__mypyc"

PURE_ENV = "RAFTKV_PURE_PYTHON"
# Written by setup.py next to this file: {module: sha256 of the source it compiled}.
SOURCES_FILE = "_native_sources.json"

_PACKAGE_DIR = Path(__file__).resolve().parent
# select()'s decision: (compiled?, why).
_state: list[tuple[bool, str]] = []


def pure_requested(environ: Mapping[str, str]) -> bool:
    """Whether ``RAFTKV_PURE_PYTHON`` asks for the Python sources (at build or run time)."""
    return environ.get(PURE_ENV, "") not in ("", "0")


def source_path(module: str, package_dir: Path) -> Path:
    """The ``.py`` file of ``module`` (``raftkv.x.y``) in the package at ``package_dir``."""
    parts = module.split(".")
    assert parts[0] == "raftkv", module
    return package_dir.joinpath(*parts[1:]).with_suffix(".py")


def source_digests(package_dir: Path = _PACKAGE_DIR,
                   modules: Sequence[str] = COMPILED_MODULES) -> dict[str, str]:
    """SHA-256 of each module's Python source, as recorded at build time."""
    return {m: hashlib.sha256(source_path(m, package_dir).read_bytes()).hexdigest()
            for m in modules}


def _has_extension(module: str, package_dir: Path) -> bool:
    source = source_path(module, package_dir)
    stem = source.with_suffix("")
    return any(Path(f"{stem}{suffix}").exists()
               for suffix in importlib.machinery.EXTENSION_SUFFIXES)


def decide(package_dir: Path, environ: Mapping[str, str],
           modules: Sequence[str] = COMPILED_MODULES) -> tuple[bool, str, bool]:
    """(use the compiled modules?, why, warn?) for the installation in ``package_dir``."""
    if pure_requested(environ):
        return False, f"pure Python ({PURE_ENV} is set)", False
    expected = (*modules, SHARED_LIBRARY)
    missing = [m for m in expected if not _has_extension(m, package_dir)]
    if len(missing) == len(expected):
        return False, "pure Python (not compiled)", False
    if missing:
        return False, f"pure Python (compiled build incomplete: {', '.join(missing)} missing)", True
    try:
        recorded = json.loads((package_dir / SOURCES_FILE).read_text())
    except (OSError, ValueError):
        return False, f"pure Python (compiled build has no readable {SOURCES_FILE})", True
    current = source_digests(package_dir, modules)
    changed = [m for m in modules if recorded.get(m) != current[m]]
    if changed:
        return False, (f"pure Python (sources changed since the compiled build: "
                       f"{', '.join(changed)}; reinstall to recompile)"), True
    return True, f"compiled (mypyc, {len(modules)} modules)", False


class _PythonSourceFinder(importlib.abc.MetaPathFinder):
    """Loads the listed modules from their ``.py`` files, never from an extension."""

    def __init__(self, sources: dict[str, Path]) -> None:
        self.sources = sources

    def find_spec(self, fullname: str, path: Sequence[str] | None,
                  target: ModuleType | None = None) -> importlib.machinery.ModuleSpec | None:
        source = self.sources.get(fullname)
        if source is None:
            return None
        return importlib.util.spec_from_file_location(fullname, source)


def select() -> None:
    """Decide once per process which build runs (called by ``raftkv/__init__.py``)."""
    if _state:
        return
    compiled, why, warn = decide(_PACKAGE_DIR, os.environ)
    _state.append((compiled, why))
    if compiled:
        return
    if warn:
        warnings.warn(f"raftkv: running {why}", RuntimeWarning, stacklevel=3)
    # Where there are no extensions this finds what the standard finders would.
    sys.meta_path.insert(0, _PythonSourceFinder(
        {m: source_path(m, _PACKAGE_DIR) for m in COMPILED_MODULES}))


def is_compiled() -> bool:
    """True when the compiled modules run (after ``import raftkv``)."""
    select()
    return _state[0][0]


def build_info() -> str:
    """One line saying which build runs and why, e.g. ``compiled (mypyc, 24 modules)``."""
    select()
    return _state[0][1]
