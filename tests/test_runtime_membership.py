"""Membership through the gateway on real processes: add a learner, start it with
``--join``, watch it catch up, promote it, remove it."""

from __future__ import annotations

import os
import subprocess
import sys
import time

from runtime_helpers import post_json

from raftkv.runtime.cluster import LocalCluster, free_port

_post = post_json


def _names(url: str) -> list[tuple[str, bool]]:
    status, out = _post(url + "/v3/cluster/member/list", {})
    assert status == 200, out
    return [(m["name"], bool(m.get("isLearner"))) for m in out["members"]]


def test_add_join_promote_remove():
    with LocalCluster(3) as cluster:
        cluster.start()
        cluster.wait_ready(timeout_s=30)
        url = cluster.client_url("n1")
        assert _post(url + "/v3/kv/put", {"key": "Zm9v", "value": "YmFy"})[0] == 200
        peer, client = free_port(), free_port()
        status, out = _post(url + "/v3/cluster/member/add",
                            {"name": "n4", "peerURLs": [f"http://127.0.0.1:{peer}"], "isLearner": True})
        assert status == 200 and out["member"]["name"] == "n4" and out["member"]["isLearner"], out
        assert _post(url + "/v3/cluster/member/add", {"peerURLs": ["http://127.0.0.1:1"]})[0] == 400
        initial = ",".join(f"{n}=http://127.0.0.1:{cluster.peer_ports[n]}" for n in cluster.names)
        proc = subprocess.Popen(
            [sys.executable, "-m", "raftkv", "serve", "--name", "n4", "--join",
             "--data-dir", os.path.join(cluster.data_dir, "n4"), "--listen-peer", f"http://127.0.0.1:{peer}",
             "--listen-client", f"http://127.0.0.1:{client}",
             "--initial-cluster", f"{initial},n4=http://127.0.0.1:{peer}"], stdout=subprocess.DEVNULL)
        try:
            n4 = f"http://127.0.0.1:{client}"
            deadline = time.monotonic() + 30
            while True:  # the learner catches up: a serializable read on it sees the key
                try:
                    status, out = _post(n4 + "/v3/kv/range", {"key": "Zm9v", "serializable": True})
                except OSError:  # not listening yet
                    status, out = 0, {}
                if status == 200 and out.get("kvs"):
                    break
                assert time.monotonic() < deadline, "n4 never caught up"
                time.sleep(0.1)
            assert out["header"]["cluster_id"] == _post(url + "/v3/kv/range", {"key": "Zm9v"})[1]["header"]["cluster_id"]
            assert ("n4", True) in _names(url)
            n4_id = next(m["ID"] for m in _post(url + "/v3/cluster/member/list", {})[1]["members"]
                         if m["name"] == "n4")
            assert _post(url + "/v3/cluster/member/promote", {"ID": n4_id})[0] == 200
            assert ("n4", False) in _names(url)
            status, out = _post(url + "/v3/cluster/member/promote", {"ID": n4_id})
            assert status == 412 and out["message"] == "etcdserver: can only promote a learner member"
            assert _post(url + "/v3/cluster/member/remove", {"ID": n4_id})[0] == 200
            assert [n for n, _ in _names(url)] == ["n1", "n2", "n3"]
            status, out = _post(url + "/v3/cluster/member/remove", {"ID": "1"})
            assert status == 404 and out["message"] == "etcdserver: member not found"
        finally:
            proc.terminate()
            proc.wait(10)
