"""Build: the package metadata lives in pyproject.toml; this file adds the compiled
hot modules.

The modules named in ``raftkv/_native.py`` are compiled with mypyc when it is
available at build time (pyproject's build requirements bring it) and
``RAFTKV_PURE_PYTHON`` is unset.  A module that fails to compile leaves the
installation pure Python: the extensions are optional, and ``raftkv`` only uses them
when all of them are present and built from the sources next to them.
"""

import json
import os
import runpy
import sys
from pathlib import Path

from setuptools import setup

HERE = Path(__file__).resolve().parent
native = runpy.run_path(str(HERE / "raftkv" / "_native.py"))


def compiled_extensions() -> list:
    if native["pure_requested"](os.environ):
        return []
    try:
        from mypyc.build import mypycify
    except ImportError as exc:
        print(f"raftkv: not compiling (mypyc is not available: {exc}); installing pure Python",
              file=sys.stderr)
        return []
    modules = native["COMPILED_MODULES"]
    digests = native["source_digests"](HERE / "raftkv", modules)
    (HERE / "raftkv" / native["SOURCES_FILE"]).write_text(json.dumps(digests, indent=1, sort_keys=True) + "\n")
    paths = [str(native["source_path"](m, Path("raftkv"))) for m in modules]
    try:
        extensions = mypycify(paths, opt_level="3", debug_level="0", group_name=native["GROUP_NAME"])
    except (Exception, SystemExit) as exc:  # mypyc exits on a type error it cannot compile
        print(f"raftkv: not compiling ({exc!r}); installing pure Python", file=sys.stderr)
        return []
    for ext in extensions:
        ext.optional = True
    return extensions


setup(ext_modules=compiled_extensions())
