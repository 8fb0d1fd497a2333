"""The HTML report renders its operation bars in headless Chromium.

Without Chromium the test skips, saying how to install it; ``.ci/run`` installs it and sets
``RAFTKV_REQUIRE_TOOLS=1``, which turns that skip into a failure (see ``tests/tools.py``).
"""

from __future__ import annotations

import pathlib
import re
import subprocess
import tempfile

from tools import require_tool

from raftkv.check import CASRegisterModel, HistoryBuilder, check_linearizable, render_html


def _chromium() -> str:
    return require_tool(("chromium", "chromium-browser", "google-chrome"),
                        install="apt-get install -y chromium",
                        why="the HTML report test renders the report in headless Chromium")


def _dump_dom(path: pathlib.Path) -> str:
    with tempfile.TemporaryDirectory() as profile:
        proc = subprocess.run(
            [_chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
             "--no-first-run", "--disable-background-networking", "--disable-component-update",
             "--disable-sync", f"--user-data-dir={profile}", "--dump-dom", path.resolve().as_uri()],
            capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc.stdout


def test_report_renders_bars_and_highlights_blocked_op(tmp_path: pathlib.Path) -> None:
    b = HistoryBuilder()
    b.invoke(0, "write", "x", 1)
    b.ok(0, "write", "x", 1)
    b.invoke(1, "cas", "x", [1, 2])
    b.invoke(2, "read", "x")
    b.ok(1, "cas", "x", [1, 2])
    b.ok(2, "read", "x", 2)
    b.invoke(3, "write", "y", 5)
    b.info(3, "write", "y", 5)
    b.invoke(2, "read", "x")
    b.ok(2, "read", "x", 1)  # stale: cannot be placed
    hist = b.history()
    model = CASRegisterModel()
    result = check_linearizable(hist, model)
    assert result.verdict == "fail"
    out = tmp_path / "report.html"
    page = render_html(hist, result, out, model=model)
    assert "http://" not in page and "https://" not in page  # self-contained
    assert 'class="op' not in page  # the bars are made by the page's script

    dom = _dump_dom(out)
    assert 'data-rendered="yes"' in dom
    bars = re.findall(r'<div class="op ([^"]*)"[^>]*data-op-id="(\d+)"', dom)
    assert sorted(int(i) for _, i in bars) == [op.id for op in hist.operations]
    classes = {int(i): c for c, i in bars}
    blocked = result.failed_keys()[0].blocked_op
    assert blocked == 4 and "blocked" in classes[4]
    assert "linearized" in classes[0] and "info" in classes[3]
    assert "cannot place" in dom and "Longest linearizable prefix" in dom
    assert dom.count('class="lane"') == 4  # x: p0, p1, p2; y: p3
