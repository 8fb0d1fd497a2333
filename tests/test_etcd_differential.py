"""Differential test: the same calls against etcd 3.4 and raftkv (one member each, on
loopback) give the same answers -- HTTP statuses, JSON bodies (revisions, versions, errors,
lease TTLs; only ids and terms differ), and watch events through the async gateway client,
which works unchanged against both."""

from __future__ import annotations

import base64
import http.client
import json
import subprocess
import tempfile
import time
from collections.abc import Callable

import pytest
import trio
from runtime_helpers import post_json
from tools import require_tool

from raftkv.client.gateway import GatewayEtcdClient
from raftkv.kv import ErrCompacted
from raftkv.runtime.cluster import LocalCluster, free_port


def b64(s: str) -> str:
    return base64.b64encode(s.encode()).decode()


_post = post_json


def _normalize(obj: object, leases: dict[str, str]) -> object:
    """Drop what legitimately differs: member/cluster ids, terms; name lease ids by order.
    (A txn's op responses keep their headers: each has the revision that op saw.)"""
    if isinstance(obj, dict):
        out = {}
        for k, v in obj.items():
            if k in ("cluster_id", "member_id", "raft_term"):
                continue
            if k in ("ID", "lease") and isinstance(v, str):
                v = leases.setdefault(v, f"lease{len(leases)}")
            out[k] = _normalize(v, leases)
        return out
    if isinstance(obj, list):
        return [_normalize(v, leases) for v in obj]
    return obj


@pytest.fixture(scope="module")
def etcd_url():
    etcd = require_tool("etcd", install="apt-get install -y etcd-server",
                        why="the differential test runs the same calls against etcd 3.4")
    data = tempfile.mkdtemp(prefix="raftkv-etcd-")
    client, peer = free_port(), free_port()
    proc = subprocess.Popen(
        [etcd, "--name", "e1", "--data-dir", data,
         "--listen-client-urls", f"http://127.0.0.1:{client}", "--advertise-client-urls", f"http://127.0.0.1:{client}",
         "--listen-peer-urls", f"http://127.0.0.1:{peer}", "--initial-advertise-peer-urls", f"http://127.0.0.1:{peer}",
         "--initial-cluster", f"e1=http://127.0.0.1:{peer}"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{client}"
    deadline = time.monotonic() + 30
    while True:
        try:
            if _post(url + "/v3/maintenance/status", {})[0] == 200:
                break
        except OSError:
            pass
        assert proc.poll() is None and time.monotonic() < deadline, "etcd did not start"
        time.sleep(0.1)
    yield url
    proc.terminate()
    proc.wait(10)
    subprocess.run(["rm", "-rf", data], check=False)


@pytest.fixture(scope="module")
def raftkv_url():
    with LocalCluster(1) as cluster:
        cluster.start()
        cluster.wait_leader(timeout_s=30)
        yield cluster.client_url("n1")


CALLS = [
    ("/v3/kv/put", {"key": b64("a"), "value": b64("1")}),
    ("/v3/kv/put", {"key": b64("a"), "value": b64("2"), "prev_kv": True}),
    ("/v3/kv/put", {"key": b64("b"), "value": b64("x")}),
    ("/v3/kv/range", {"key": b64("a")}),
    ("/v3/kv/range", {"key": b64("a"), "range_end": b64("c"), "limit": 1}),
    ("/v3/kv/range", {"key": b64("a"), "range_end": b64("c"), "count_only": True}),
    ("/v3/kv/range", {"key": b64("a"), "range_end": b64("c"), "sort_order": "DESCEND", "keys_only": True}),
    ("/v3/kv/range", {"key": b64("zzz")}),
    ("/v3/kv/range", {"key": b64("a"), "revision": 2}),
    ("/v3/kv/range", {"key": b64("a"), "revision": 99}),
    ("/v3/kv/txn", {"compare": [{"target": "VALUE", "key": b64("a"), "value": b64("2")}],
                    "success": [{"request_put": {"key": b64("a"), "value": b64("3")}}],
                    "failure": [{"request_range": {"key": b64("a")}}]}),
    ("/v3/kv/txn", {"compare": [{"target": "VERSION", "key": b64("a"), "result": "LESS", "version": "2"}],
                    "success": [{"request_put": {"key": b64("a"), "value": b64("4")}}],
                    "failure": [{"request_range": {"key": b64("a")}}, {"request_delete_range": {"key": b64("b")}}]}),
    # op headers: reads before the first change see the old revision, a nested txn none
    ("/v3/kv/txn", {"success": [{"request_range": {"key": b64("a")}}, {"request_delete_range": {"key": b64("zz")}},
                                {"request_txn": {"success": [{"request_put": {"key": b64("n"), "value": b64("1")}},
                                                             {"request_range": {"key": b64("n")}}]}},
                                {"request_range": {"key": b64("a")}}]}),
    ("/v3/kv/txn", {"success": [{"request_range": {"key": b64("a")}}, {"request_txn": {}}]}),
    ("/v3/kv/deleterange", {"key": b64("a"), "range_end": b64("c"), "prev_kv": True}),
    ("/v3/kv/deleterange", {"key": b64("nothing")}),
    ("/v3/kv/put", {"key": b64("a"), "value": b64("5"), "ignore_value": True}),
    ("/v3/kv/put", {"key": b64("c"), "value": b64("6")}),
    ("/v3/kv/compaction", {"revision": 4}),
    ("/v3/kv/range", {"key": b64("a"), "revision": 3}),
    ("/v3/kv/compaction", {"revision": 99}),
    ("/v3/kv/put", {"key": "", "value": b64("x")}),
    # a body that does not decode: same status and code; raftkv's message names the field
    # (etcd's is Go's "illegal base64 data at input byte 0")
    ("/v3/kv/put", {"key": "@@@"}, "code only"),
    ("/v3/lease/grant", {"TTL": 30}),
    ("/v3/lease/grant", {"TTL": 30, "ID": "777"}),
    ("/v3/lease/grant", {"TTL": 30, "ID": "777"}),  # exists: FailedPrecondition
    ("/v3/lease/revoke", {"ID": "777"}),
    ("/v3/lease/revoke", {"ID": "424242"}),
    ("/v3/lease/timetolive", {"ID": "424242"}),
]


def test_same_calls_same_answers(etcd_url, raftkv_url):
    etcd_leases: dict[str, str] = {}
    ours_leases: dict[str, str] = {}
    for path, body, *how in CALLS:
        e_status, e_body = _post(etcd_url + path, body)
        r_status, r_body = _post(raftkv_url + path, body)
        assert r_status == e_status, (path, body, e_body, r_body)
        if how == ["code only"]:
            assert r_body["code"] == e_body["code"] and "key" in r_body["message"]
            continue
        assert _normalize(r_body, ours_leases) == _normalize(e_body, etcd_leases), (path, body)


def test_lease_ttls_and_keys(etcd_url, raftkv_url):
    answers = []
    for url in (etcd_url, raftkv_url):
        _, grant = _post(url + "/v3/lease/grant", {"TTL": 20})
        lease = grant["ID"]
        _post(url + "/v3/kv/put", {"key": b64("leased"), "value": b64("v"), "lease": lease})
        _, ttl = _post(url + "/v3/lease/timetolive", {"ID": lease, "keys": True})
        _, keep = _post(url + "/v3/lease/keepalive", {"ID": lease})
        _, revoke = _post(url + "/v3/lease/revoke", {"ID": lease})
        _, after = _post(url + "/v3/kv/range", {"key": b64("leased")})
        answers.append((grant["TTL"], int(ttl["TTL"]) in (19, 20), ttl["grantedTTL"], ttl["keys"],
                        keep["result"]["TTL"], "kvs" in after, set(revoke)))
    assert answers[0] == answers[1]


def test_watch_events_through_the_async_client(etcd_url, raftkv_url):
    async def run(url: str) -> list[tuple]:
        client = GatewayEtcdClient([url])
        out: list[tuple] = []
        start = (await client.put(b"w/start", b"0")).header.revision
        async with client.watch(b"w/", prefix=True, prev_kv=True, start_revision=start) as w:
            await client.put(b"w/x", b"1")
            await client.put(b"w/x", b"2")
            await client.delete(b"w/", prefix=True)
            async for resp in w:
                for ev in resp.events:
                    out.append((ev.type.name, ev.kv.key, ev.kv.value, ev.kv.mod_revision - start,
                                ev.kv.version, None if ev.prev_kv is None else ev.prev_kv.value))
                if len(out) >= 5:
                    break
        rev = (await client.put(b"w/late", b"3")).header.revision
        await client.compact(rev)
        try:
            async with client.watch(b"w/", prefix=True, start_revision=start) as w2:
                async for _ in w2:
                    out.append(("unexpected",))
        except ErrCompacted as e:
            out.append(("compacted", e.details["compact_revision"] - start))
        await client.aclose()
        return out

    ours = trio.run(run, raftkv_url)
    theirs = trio.run(run, etcd_url)
    assert ours == theirs
    assert ours[-1][0] == "compacted" and len(ours) == 6



def _watch_stream(url: str, requests: list[dict], *, done: Callable[[list[dict]], bool]) -> list[dict]:
    """POST ``requests`` as one /v3/watch body; the streamed results until ``done`` says
    so (or 10 s)."""
    host, port = url.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=10)
    try:
        conn.request("POST", "/v3/watch", body="".join(json.dumps(r) for r in requests).encode())
        resp = conn.getresponse()
        assert resp.status == 200, resp.status
        out: list[dict] = []
        while not done(out):
            line = resp.readline()
            if not line:
                break
            if line.strip():
                out.append(json.loads(line)["result"])
        return out
    finally:
        conn.close()


def test_watch_progress_request(etcd_url, raftkv_url):
    # etcd 3.4 answers a progress_request with one response for the whole stream:
    # watch_id -1, no events, the store's revision in the header.  It sends it at once
    # (before a watch from an old revision has caught up); raftkv once every watch of the
    # stream has sent what it had to (the order etcd 3.5 keeps): compared per watch.
    answers = []
    for url in (etcd_url, raftkv_url):
        start = int(_post(url + "/v3/kv/put", {"key": b64("p/a"), "value": b64("1")})[1]["header"]["revision"])
        _post(url + "/v3/kv/put", {"key": b64("p/b"), "value": b64("2")})
        results = _watch_stream(url, [
            {"create_request": {"key": b64("p/"), "range_end": b64("p0"), "start_revision": str(start)}},
            {"create_request": {"key": b64("nothing")}},
            {"progress_request": {}}],
            done=lambda out: sum(len(r.get("events", ())) for r in out) >= 2 and any(
                r.get("watch_id") == "-1" for r in out))
        order = [r.get("watch_id", "0") for r in results]
        by_watch: dict[str, list] = {}
        for r in results:
            header = r.pop("header")
            assert set(header) == {"cluster_id", "member_id", "revision", "raft_term"}, header
            events = [(base64.b64decode(e["kv"]["key"]).decode(), int(e["kv"]["mod_revision"]) - start)
                      for e in r.pop("events", ())]
            by_watch.setdefault(r.pop("watch_id", "0"), []).append((int(header["revision"]) - start, r, events))
        answers.append(by_watch)
        if url == raftkv_url:  # the progress response comes after the catch-up events
            assert order[-1] == "-1", order
    assert answers[1] == answers[0], answers
    assert answers[0]["-1"] == [(1, {}, [])], answers[0]
    assert answers[0]["0"][-1] == (1, {}, [("p/a", 0), ("p/b", 1)]), answers[0]
