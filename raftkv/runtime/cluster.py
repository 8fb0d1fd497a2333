"""LocalCluster: N raftkv member processes on loopback (``raftkv serve --cluster N``, tests,
benchmarks), with the process faults of a real machine: SIGKILL, SIGSTOP/SIGCONT,
SIGTERM, and restart from the member's data directory.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

__all__ = ["LocalCluster", "free_port"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class LocalCluster:
    """``members`` processes named ``n1..nN``; data under ``data_dir`` (a temporary folder,
    removed on :meth:`close`, unless given)."""

    def __init__(self, members: int = 3, *, data_dir: str | None = None, bugs: tuple[str, ...] = (),
                 extra_args: tuple[str, ...] = (), stderr: int | None = None,
                 log_dir: str | None = None) -> None:
        if not 1 <= members <= 9:
            raise ValueError(f"--cluster takes 1 to 9 members, got {members}")
        self.own_dir = data_dir is None
        self.data_dir = data_dir or tempfile.mkdtemp(prefix="raftkv-cluster-")
        self.names = tuple(f"n{i + 1}" for i in range(members))
        self.peer_ports = {n: free_port() for n in self.names}
        self.client_ports = {n: free_port() for n in self.names}
        self.bugs = bugs
        self.extra_args = extra_args
        self.stderr = stderr
        self.log_dir = log_dir  # when given: each member's output goes to LOG_DIR/NAME.log
        # the peer port each member is reached at (a proxy's, when one sits in between)
        self.advertise_ports = dict(self.peer_ports)
        self.procs: dict[str, subprocess.Popen[bytes]] = {}

    def client_url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.client_ports[name]}"

    @property
    def client_urls(self) -> list[str]:
        return [self.client_url(n) for n in self.names]

    def command(self, name: str) -> list[str]:
        initial = ",".join(f"{n}=http://127.0.0.1:{self.advertise_ports[n]}" for n in self.names)
        cmd = [sys.executable, "-m", "raftkv", "serve", "--name", name,
               "--data-dir", os.path.join(self.data_dir, name),
               "--listen-peer", f"http://127.0.0.1:{self.peer_ports[name]}",
               "--listen-client", self.client_url(name), "--initial-cluster", initial]
        for bug in self.bugs:
            cmd += ["--bug", bug]
        return cmd + list(self.extra_args)

    # ------------------------------------------------------------------ processes
    def start(self, name: str | None = None) -> None:
        for n in [name] if name else self.names:
            proc = self.procs.get(n)
            assert proc is None or proc.poll() is not None, f"{n} is running"
            if self.log_dir is not None:
                with open(os.path.join(self.log_dir, f"{n}.log"), "ab") as log:
                    self.procs[n] = subprocess.Popen(self.command(n), stdin=subprocess.DEVNULL,
                                                     stdout=log, stderr=log)
            else:
                self.procs[n] = subprocess.Popen(self.command(n), stdin=subprocess.DEVNULL,
                                                 stdout=subprocess.DEVNULL, stderr=self.stderr)

    def signal(self, name: str, sig: int) -> None:
        proc = self.procs[name]
        if proc.poll() is None:
            proc.send_signal(sig)

    def kill(self, name: str) -> None:
        """SIGKILL: the process dies at once; what it had not written out is gone (what it
        wrote without fsync is in the page cache and survives, as it would not a power cut)."""
        self.signal(name, signal.SIGKILL)
        self.procs[name].wait()

    def pause(self, name: str) -> None:
        self.signal(name, signal.SIGSTOP)

    def resume(self, name: str) -> None:
        self.signal(name, signal.SIGCONT)

    def stop(self, name: str, timeout_s: float = 10.0) -> int:
        """SIGTERM (a clean shutdown); SIGKILL if it takes longer than ``timeout_s``."""
        proc = self.procs[name]
        self.signal(name, signal.SIGCONT)
        self.signal(name, signal.SIGTERM)
        try:
            return proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            proc.kill()
            return proc.wait()

    def running(self, name: str) -> bool:
        proc = self.procs.get(name)
        return proc is not None and proc.poll() is None

    # ------------------------------------------------------------------ state
    def status(self, name: str, timeout_s: float = 0.5) -> dict[str, object] | None:
        try:
            req = urllib.request.Request(self.client_url(name) + "/v3/maintenance/status",
                                         data=b"{}", method="POST")
            with urllib.request.urlopen(req, timeout=timeout_s) as resp:
                return json.loads(resp.read())  # type: ignore[no-any-return]
        except (OSError, urllib.error.URLError, ValueError):
            return None

    def member_id(self, name: str) -> str:
        """The id a member's status answer names it by."""
        from raftkv.client.etcdjson import member_id

        return str(member_id(name))

    def leader(self) -> str | None:
        """The member a running member names as leader (None if none does)."""
        for name in self.names:
            if not self.running(name):
                continue
            st = self.status(name)
            if st and st.get("leader"):
                leader_id = str(st["leader"])
                for n in self.names:
                    if self.member_id(n) == leader_id:
                        return n
        return None

    def wait_ready(self, timeout_s: float = 15.0) -> str:
        """Wait until every running member answers on its client URL and one of them names
        a leader (a member may elect with its peers before its own client port is open)."""
        deadline = time.monotonic() + timeout_s
        for name in self.names:
            while self.running(name) and self.status(name) is None:
                if time.monotonic() >= deadline:
                    raise TimeoutError(f"{name} did not answer within {timeout_s} s")
                time.sleep(0.02)
        return self.wait_leader(max(0.0, deadline - time.monotonic()))

    def wait_leader(self, timeout_s: float = 15.0) -> str:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            leader = self.leader()
            if leader is not None:
                return leader
            time.sleep(0.02)
        raise TimeoutError(f"no leader within {timeout_s} s")

    def close(self) -> None:
        for name in self.names:
            if self.running(name):
                self.stop(name)
        if self.own_dir:
            shutil.rmtree(self.data_dir, ignore_errors=True)

    def __enter__(self) -> LocalCluster:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
