"""The kube apiserver on a simulated 3-member cluster, with one apiserver.

Writers (each keeps one create outstanding) create ConfigMaps through the kube client
and the apiserver's handler into raftkv: object writes per *wall* second.  Then a paged
list of every object (pages of 500, one snapshot) through the same path: its wall time.
"""

from __future__ import annotations

import argparse
import pathlib
import sys
import time
from typing import Any

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))

from _machine import print_machine

from kube import ApiServer, KubeClient, LocalTransport
from raftkv.sim import TaskHost
from raftkv.sim.kv_system import KVCluster


def run(objects: int, writers: int, seed: int = 1) -> tuple[int, float, int, float]:
    """(objects written, wall seconds, objects listed, list wall seconds)."""
    cl = KVCluster(seed=seed, members=3)
    out: dict[str, Any] = {}

    async def main(rt: Any) -> None:
        client = KubeClient(LocalTransport(ApiServer(rt, rt.etcd_client(cl.members), watch_cache=False)))
        left = list(range(objects))

        async def writer() -> None:
            while left:
                i = left.pop()
                await client.create("configmaps", {"metadata": {"name": f"cm-{i:05d}", "namespace": "default"},
                                                   "data": {"i": str(i)}})
        t0 = time.perf_counter()
        tasks = [rt.spawn(writer()) for _ in range(writers)]
        for task in tasks:
            await task.join()
        out["write_s"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        listed = await client.list_all("configmaps", "default", limit=500)
        out["list_s"] = time.perf_counter() - t0
        out["listed"] = len(listed["items"])

    cl.wait_leader()
    cl.world.add_node("app", lambda env: TaskHost(env, main), client=True)
    while "listed" not in out:
        cl.world.run_for(1_000_000)
        errors = cl.world.actor("app").runtime.errors
        if errors:
            raise errors[0][1]
    return objects, out["write_s"], out["listed"], out["list_s"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--objects", type=int, default=10_000)
    ap.add_argument("--writers", type=int, default=64)
    ap.add_argument("--quick", action="store_true", help="a few hundred objects (a smoke run)")
    args = ap.parse_args()
    objects = 300 if args.quick else args.objects
    print_machine()
    written, write_s, listed, list_s = run(objects, args.writers)
    assert listed == written, f"listed {listed} of {written} objects"
    print(f"paged list of {listed} objects (pages of 500): {list_s:.3f} s wall")
    print(f"apiserver writes: {written / write_s:.0f} per wall second")


if __name__ == "__main__":
    main()
