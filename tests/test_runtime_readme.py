"""The README's async client example runs against a real ``raftkv serve`` cluster."""

from __future__ import annotations

import contextlib
import io
import pathlib
import re
import subprocess
import sys

from tools import require_tool

from raftkv.runtime.cluster import LocalCluster

ROOT = pathlib.Path(__file__).resolve().parent.parent


def _serve_section() -> str:
    text = (ROOT / "README.md").read_text()
    return text[text.index("## A real cluster: `raftkv serve`"):text.index("## Layout")]


def _bounded(main):  # type: ignore[no-untyped-def]
    async def bounded(*args):  # type: ignore[no-untyped-def]
        import trio

        with trio.fail_after(60):
            await main(*args)
    return bounded


def test_readme_async_client_example_runs():
    block = re.findall(r"```python\n(.*?)```", _serve_section(), re.S)[0]
    with LocalCluster(3) as cluster:
        cluster.start()
        cluster.wait_ready(timeout_s=30)
        code = re.sub(r'trio\.run\(main, \[.*?\]\)', f"trio.run(main, {cluster.client_urls!r})", block)
        assert code != block
        out = io.StringIO()
        # a hang (a watch that never delivers) fails here instead of at the suite's timeout
        code = code.replace("trio.run(main, ", "trio.run(_bounded(main), ", 1)
        with contextlib.redirect_stdout(out):
            exec(compile(code, "README.md", "exec"), {"_bounded": _bounded})
    assert out.getvalue().split() == ["b'hello'", "b'bye'", "ok"]


def test_gateway_load_benchmark_runs_briefly():
    require_tool("etcd", install="apt-get install -y etcd-server",
                 why="the gateway benchmark compares raftkv with etcd 3.4")
    proc = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "gateway_load.py"), "--seconds", "0.5",
                           "--connections", "4"], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    last = proc.stdout.strip().splitlines()[-1]
    assert re.fullmatch(r"raftkv/etcd puts: \d+\.\d\d x", last), last
    assert re.search(r"raftkv: [1-9]\d* puts/s", proc.stdout), proc.stdout
