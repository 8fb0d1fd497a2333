"""``raftkv kube serve`` over HTTP, as kubectl and the official Python client ask.

Starts ``raftkv kube serve`` (an embedded raftkv member) in a child process, creates
``--pods`` Pods, then from one keep-alive connection measures: GETs of one Pod and LISTs
of all of them (requests per wall second) as kubectl asks (``Accept`` a
``meta.k8s.io/v1`` Table) and as the Python client asks (plain JSON), and a watch from
before the creations replaying every ADDED event (events per wall second).
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable

import httpx

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))

from _machine import QUICK_HELP, print_machine

ROOT = pathlib.Path(__file__).resolve().parent.parent
KUBECTL_ACCEPT = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json"
CLIENT_ACCEPT = "application/json"
PODS = "/api/v1/namespaces/default/pods"


def pod(i: int) -> dict:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": f"pod-{i:05d}", "labels": {"app": "bench"}},
            "spec": {"containers": [{"name": "app", "image": "nginx:1.27", "ports": [{"containerPort": 80}]}]}}


def rate(what: str, count: int, call: Callable[[], None]) -> float:
    t0 = time.perf_counter()
    for _ in range(count):
        call()
    per_s = count / (time.perf_counter() - t0)
    print(f"  {what}: {per_s:,.0f} per second ({count} requests)")
    return per_s


def run(pods: int, requests: int) -> float:
    tmp = tempfile.mkdtemp(prefix="raftkv-kube-bench-")
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    proc = subprocess.Popen([sys.executable, "-m", "raftkv", "kube", "serve", "--listen", "127.0.0.1:0",
                             "--data-dir", os.path.join(tmp, "data"), "--compact-interval-s", "0"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line.startswith("kube apiserver at "), f"kube serve did not start: {line}"
        with httpx.Client(base_url=line.split()[3], timeout=60) as http:
            start_rv = http.get(PODS).json()["metadata"]["resourceVersion"]
            t0 = time.perf_counter()
            for i in range(pods):
                resp = http.post(PODS + "?fieldValidation=Strict", json=pod(i))
                assert resp.status_code == 201, resp.text
            print(f"  creates (kubectl create -f): {pods / (time.perf_counter() - t0):,.0f} per second ({pods} pods)")

            def get(accept: str) -> Callable[[], None]:
                def call() -> None:
                    resp = http.get(f"{PODS}/pod-00000", headers={"Accept": accept})
                    assert resp.status_code == 200 and resp.content
                return call

            def list_all(accept: str, query: str) -> Callable[[], None]:
                def call() -> None:
                    resp = http.get(PODS + query, headers={"Accept": accept})
                    body = resp.json()
                    assert resp.status_code == 200 and len(body.get("rows", body.get("items", []))) == pods
                return call

            gets = rate("GET, as kubectl get pod (Table)", requests, get(KUBECTL_ACCEPT))
            rate("GET, as the Python client (JSON)", requests, get(CLIENT_ACCEPT))
            lists = max(3, requests // 20)
            rate(f"LIST of {pods} pods, as kubectl get pods (Table, limit=500)", lists,
                 list_all(KUBECTL_ACCEPT, "?limit=500"))
            rate(f"LIST of {pods} pods, as the Python client (JSON)", lists, list_all(CLIENT_ACCEPT, ""))
            for what, accept in (("kubectl get pods -w (Table)", KUBECTL_ACCEPT), ("the Python client", CLIENT_ACCEPT)):
                seen = 0
                t0 = time.perf_counter()
                with http.stream("GET", f"{PODS}?watch=true&resourceVersion={start_rv}&timeoutSeconds=60",
                                 headers={"Accept": accept}) as stream:
                    for event_line in stream.iter_lines():
                        if event_line and json.loads(event_line)["type"] == "ADDED":
                            seen += 1
                            if seen == pods:
                                break
                assert seen == pods, f"the watch replayed {seen} of {pods} events"
                print(f"  watch events, as {what}: {pods / (time.perf_counter() - t0):,.0f} per second")
        assert proc.poll() is None, "kube serve exited"
        return gets
    finally:
        proc.terminate()
        proc.wait(20)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--pods", type=int, default=500)
    ap.add_argument("--requests", type=int, default=2000, help="GETs of each request shape")
    ap.add_argument("--quick", action="store_true", help=QUICK_HELP)
    args = ap.parse_args()
    print_machine()
    pods, requests = (30, 60) if args.quick else (args.pods, args.requests)
    gets = run(pods, requests)
    print(f"kube http gets: {gets:,.0f} per second")


if __name__ == "__main__":
    main()
