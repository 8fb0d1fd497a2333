"""The import layers of DESIGN.md, enforced.

Each package may import only the packages listed for it (and the standard library
and third-party packages allowed for it).  The deterministic core (raft, kv, sim)
must not import I/O or concurrency modules.
"""

from __future__ import annotations

import ast
import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent / "raftkv"

# package -> raftkv packages/modules it may import (besides itself)
ALLOWED: dict[str, set[str]] = {
    "raftkv.raft": {"raftkv.env", "raftkv.bugs"},
    "raftkv.kv": {"raftkv.env", "raftkv.bugs", "raftkv.raft"},
    "raftkv.check": {"raftkv.bugs", "raftkv.exit_status"},
    "raftkv.tasks": set(),
    "raftkv.client": {"raftkv.env", "raftkv.bugs", "raftkv.raft", "raftkv.kv", "raftkv.check",
                      "raftkv.tasks"},
    "raftkv.sim": {
        "raftkv.env", "raftkv.bugs", "raftkv.raft", "raftkv.kv", "raftkv.check", "raftkv.client",
        "raftkv.tasks",
    },
    "raftkv.runtime": {
        "raftkv.env", "raftkv.bugs", "raftkv.raft", "raftkv.kv", "raftkv.check", "raftkv.client",
        "raftkv.tasks",
    },
}

FORBIDDEN_IN_CORE = {"trio", "socket", "threading", "asyncio", "subprocess", "time", "datetime",
                     "multiprocessing", "os", "select", "selectors"}
CORE = ("raftkv.raft", "raftkv.kv", "raftkv.sim")


def _modules() -> list[tuple[str, pathlib.Path]]:
    out = []
    for path in sorted(ROOT.rglob("*.py")):
        rel = path.relative_to(ROOT.parent).with_suffix("")
        parts = list(rel.parts)
        if parts[-1] == "__init__":
            parts.pop()
        out.append((".".join(parts), path))
    return out


def _imports(path: pathlib.Path, modname: str) -> list[str]:
    tree = ast.parse(path.read_text(), str(path))
    names: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = modname.split(".")
                if path.name != "__init__.py":
                    base = base[:-1]
                base = base[: len(base) - (node.level - 1)]
                names.append(".".join([*base, node.module] if node.module else base))
            elif node.module:
                names.append(node.module)
    return names


def _package_of(modname: str) -> str | None:
    for pkg in ALLOWED:
        if modname == pkg or modname.startswith(pkg + "."):
            return pkg
    return None


@pytest.mark.parametrize(("modname", "path"), _modules(), ids=lambda v: str(v))
def test_import_layers(modname: str, path: pathlib.Path) -> None:
    pkg = _package_of(modname)
    if pkg is None:
        return
    for name in _imports(path, modname):
        top = name.split(".")[0]
        if pkg in CORE:
            assert top not in FORBIDDEN_IN_CORE, f"{modname} imports {name}: no I/O in {pkg}"
        if top != "raftkv" or name == pkg or name.startswith(pkg + "."):
            continue
        ok = any(name == a or name.startswith(a + ".") for a in ALLOWED[pkg])
        assert ok, f"{modname} imports {name}, which is above {pkg} in the layers"


# kube talks to raftkv through its public API only: these modules' public names, never
# raftkv.raft, raftkv.kv or other internals (raftkv.sim.scenario for the scenario's names).
KUBE = ROOT.parent / "kube"
KUBE_MAY_IMPORT = ("raftkv", "raftkv.client", "raftkv.tasks", "raftkv.sim", "raftkv.sim.scenario",
                   "raftkv.check", "raftkv.runtime")


@pytest.mark.parametrize("path", sorted(KUBE.rglob("*.py")), ids=lambda p: p.name)
def test_kube_uses_only_the_public_api(path: pathlib.Path) -> None:
    modname = ".".join(path.relative_to(ROOT.parent).with_suffix("").parts).removesuffix(".__init__")
    for name in _imports(path, modname):
        if name.split(".")[0] == "raftkv":
            assert name in KUBE_MAY_IMPORT, f"{modname} imports {name}: kube may import only {KUBE_MAY_IMPORT}"
            assert not name.startswith(("raftkv.raft", "raftkv.kv")), name


def test_layer_table_covers_the_packages() -> None:
    for sub in ("raft", "kv", "check", "client", "sim", "runtime"):
        assert (ROOT / sub).is_dir()
