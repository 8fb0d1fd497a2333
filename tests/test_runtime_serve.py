"""``raftkv serve`` as a user runs it: the README's curl call, clean shutdown, restart from
disk, a WAL tail cut between runs, a corrupt WAL refused, garbage on the peer port."""

from __future__ import annotations

import base64
import os
import signal
import socket
import struct
import subprocess
import sys
import time

from runtime_helpers import post_json

from raftkv.runtime.cluster import LocalCluster
from raftkv.runtime.wal import HEADER

_post = post_json


def _put(url: str, key: bytes, value: bytes) -> dict:
    status, out = _post(url + "/v3/kv/put", {"key": base64.b64encode(key).decode(),
                                             "value": base64.b64encode(value).decode()})
    assert status == 200, out
    return out


def _get(url: str, key: bytes) -> bytes | None:
    status, out = _post(url + "/v3/kv/range", {"key": base64.b64encode(key).decode()})
    assert status == 200, out
    kvs = out.get("kvs", [])
    return base64.b64decode(kvs[0]["value"]) if kvs else None


def _wait_member(cluster: LocalCluster, name: str, timeout_s: float = 30) -> None:
    deadline = time.monotonic() + timeout_s
    while cluster.status(name) is None:
        assert time.monotonic() < deadline, f"{name} did not come up"
        assert cluster.running(name), f"{name} exited"
        time.sleep(0.05)


def test_serve_cluster_answers_the_readme_curl_call_and_stops_cleanly():
    env = dict(os.environ)
    proc = subprocess.Popen([sys.executable, "-m", "raftkv", "serve", "--cluster", "3"],
                            stdout=subprocess.PIPE, text=True, env=env)
    try:
        lines = [proc.stdout.readline().split() for _ in range(4)]
        urls = [parts[1] for parts in lines[:3]]
        assert [parts[0] for parts in lines[:3]] == ["n1", "n2", "n3"]
        assert all(u.startswith("http://127.0.0.1:") for u in urls)
        data_dir = lines[3][-1]
        deadline = time.monotonic() + 30
        while True:
            try:
                status, out = _post(urls[0] + "/v3/kv/put", {"key": "Zm9v", "value": "YmFy"})
                if status == 200:
                    break
            except OSError:
                pass
            assert time.monotonic() < deadline, "the cluster never took the put"
            time.sleep(0.1)
        assert set(out["header"]) == {"cluster_id", "member_id", "revision", "raft_term"}
        assert _get(urls[2], b"foo") == b"bar"
    finally:
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(30)
    assert code == 0
    assert not os.path.exists(data_dir), "the temporary data folder is removed"


def _start_with_twenty_keys(cluster: LocalCluster) -> None:
    """Start ``cluster`` and put key0..key19 through n1 once every member answers."""
    cluster.start()
    cluster.wait_ready(timeout_s=30)
    url = cluster.client_url("n1")
    for i in range(20):
        _put(url, b"key%d" % i, b"value%d" % i)


def test_restart_from_disk_and_a_wal_tail_cut_between_runs(tmp_path):
    with LocalCluster(3, data_dir=str(tmp_path)) as cluster:
        _start_with_twenty_keys(cluster)
        for name in cluster.names:
            assert cluster.stop(name) == 0  # SIGTERM: a clean shutdown
        # n3's last WAL record is cut short, as by a crash in the middle of a write
        wal = tmp_path / "n3" / "wal"
        segment = wal / sorted(os.listdir(wal))[-1]
        size = segment.stat().st_size
        os.truncate(segment, size - 5)
        cluster.start()
        for name in cluster.names:
            _wait_member(cluster, name)
        cluster.wait_ready(timeout_s=30)
        for i in range(20):  # every acknowledged write is still there, on every member
            for name in cluster.names:
                assert _get(cluster.client_url(name), b"key%d" % i) == b"value%d" % i
        assert segment.stat().st_size >= size - 5


def test_a_corrupt_wal_record_stops_the_member_with_a_clear_error(tmp_path):
    with LocalCluster(3, data_dir=str(tmp_path), stderr=subprocess.PIPE) as cluster:
        cluster.start()
        cluster.wait_ready(timeout_s=30)
        for i in range(5):
            _put(cluster.client_url("n1"), b"k%d" % i, b"v")
        # n2 has the writes in its log (two members could elect and commit without it)
        _wait_member(cluster, "n2")
        assert _get(cluster.client_url("n2"), b"k4") == b"v"
        assert cluster.stop("n2") == 0
        wal = tmp_path / "n2" / "wal"
        # the newest segment with records (a segment just started may still be empty)
        segment = [wal / name for name in sorted(os.listdir(wal)) if (wal / name).stat().st_size][-1]
        data = bytearray(segment.read_bytes())
        (first_len, _) = HEADER.unpack_from(data, 0)
        data[HEADER.size + first_len // 2] ^= 0x55  # inside the first record, records follow
        segment.write_bytes(bytes(data))
        cluster.start("n2")
        code = cluster.procs["n2"].wait(30)
        err = cluster.procs["n2"].stderr.read().decode()
        assert code == 3, err
        assert "corrupt record at byte 0 (checksum mismatch)" in err
        assert err.strip().count("\n") == 0, f"one line, no traceback: {err}"
        assert _get(cluster.client_url("n1"), b"k4") == b"v"  # the others serve on


def test_garbage_on_the_peer_port_is_dropped_and_the_cluster_serves_on():
    with LocalCluster(3) as cluster:
        cluster.start()
        cluster.wait_ready(timeout_s=30)
        for payload in (b"\x00\x00\x00\x05hello", struct.pack(">I", 3) + b"\xc1\xc1\xc1",
                        b"GET / HTTP/1.1\r\n\r\n"):
            with socket.create_connection(("127.0.0.1", cluster.peer_ports["n1"])) as s:
                s.sendall(payload)
                s.settimeout(5)
                assert s.recv(100) == b"", "the member resets the connection"
        _put(cluster.client_url("n1"), b"after", b"garbage")
        assert _get(cluster.client_url("n2"), b"after") == b"garbage"


def test_gateway_errors_are_etcds():
    with LocalCluster(1) as cluster:
        cluster.start()
        cluster.wait_ready(timeout_s=30)
        url = cluster.client_url("n1")
        status, out = _post(url + "/v3/kv/range", {"key": "Zm9v", "revision": "99"})
        assert status == 400 and out == {"error": "etcdserver: mvcc: required revision is a future revision",
                                         "message": "etcdserver: mvcc: required revision is a future revision",
                                         "code": 11}
        status, out = _post(url + "/v3/kv/put", {"key": "!!"})
        assert status == 400 and out["code"] == 3
        status, out = _post(url + "/v3/lease/revoke", {"ID": "12345"})
        assert status == 404 and out["message"] == "etcdserver: requested lease not found"
        status, out = _post(url + "/v3/nope", {})
        assert status == 404


def test_with_lose_unsynced_a_sigkill_of_every_member_loses_no_acknowledged_write(tmp_path):
    # --lose-unsynced: a SIGKILL is a power cut (what was not fsynced is gone); members
    # fsync before they acknowledge, so every acknowledged write survives all of them dying
    with LocalCluster(3, data_dir=str(tmp_path), extra_args=("--lose-unsynced",)) as cluster:
        assert "--lose-unsynced" in cluster.command("n1")
        _start_with_twenty_keys(cluster)
        for name in cluster.names:
            cluster.kill(name)
        cluster.start()
        for name in cluster.names:
            _wait_member(cluster, name)
        cluster.wait_ready(timeout_s=30)
        for i in range(20):
            assert _get(cluster.client_url("n2"), b"key%d" % i) == b"value%d" % i
