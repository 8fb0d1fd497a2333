"""Outside programs a test needs (Chromium, etcd, kubectl, Go...).

A test that needs one calls :func:`require_tool`: where the program is missing, the test
is skipped with the reason and how to install it, unless ``RAFTKV_REQUIRE_TOOLS=1`` is set
(``.ci/run`` sets it after installing them), in which case the missing program is a
failure, so a skip can never pass for a run in CI.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Sequence

import pytest

__all__ = ["REQUIRE_TOOLS_ENV", "require_tool", "tools_required"]

REQUIRE_TOOLS_ENV = "RAFTKV_REQUIRE_TOOLS"


def tools_required() -> bool:
    """True when missing outside programs must fail tests instead of skipping them."""
    return os.environ.get(REQUIRE_TOOLS_ENV, "") not in ("", "0")


def require_tool(names: str | Sequence[str], *, install: str, why: str) -> str:
    """The path of the first of ``names`` found on PATH, or skip (fail under CI) saying why.

    ``install`` is the command that installs it (e.g. ``apt-get install -y chromium``);
    ``why`` says what the test needs it for.
    """
    candidates = (names,) if isinstance(names, str) else tuple(names)
    for name in candidates:
        path = shutil.which(name)
        if path:
            return path
    message = (f"{candidates[0]} is not installed ({why}); install it with `{install}` "
               f"to run this test")
    if tools_required():
        pytest.fail(f"{message} [{REQUIRE_TOOLS_ENV}=1 makes this a failure]", pytrace=False)
    pytest.skip(message)
    raise AssertionError("unreachable")
