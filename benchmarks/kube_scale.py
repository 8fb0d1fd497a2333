"""The control plane at scale: nodes, Deployments and their pods on a replicated raftkv
cluster, all in simulation.

A simulated 3-member raftkv cluster; apiservers ``a1..`` (each with its etcd client on
its own member, a watch cache and the compactor); a controller manager ``cm1`` (the
Deployment and ReplicaSet controllers); a scheduler ``s1``; one kubelet per node
``n0001..`` (registers its Node, renews its Lease, runs the pods bound to it); a user
``u1`` who creates the Deployments and polls their status.  Every component talks to the
apiservers over the simulated network (``kube.transport``), as in the ``control_plane``
suite, without faults.

Reported: wall time until every pod runs (its sandbox started on its node) and then
until every Deployment reports all replicas available; the simulated time of both;
peak memory; and the share of wall time per component (the time spent in each
component's host: its message, timer and start handlers, which run its tasks' steps;
the rest is the raftkv members, the simulated network and the event loop).  Message
tracing is off (the trace would keep every message in memory); ``--trace`` turns it on.
"""

from __future__ import annotations

import argparse
import pathlib
import sys
import time
from collections.abc import Callable, Coroutine, Hashable
from typing import Any

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))

from _machine import QUICK_HELP, peak_rss_mib, print_machine

from kube import ApiServer, KubeClient
from kube.control_plane_sim import deployment_object
from kube.controllers import DeploymentController, ReplicaSetController, Scheduler, SharedInformers
from kube.errors import ApiError
from kube.kubelet import Kubelet, NodeConfig, PodSandboxes, Sandbox
from kube.transport import ApiServerEndpoint, SimTransport
from raftkv.sim import SimRuntime, TaskHost
from raftkv.sim.kv_system import KVCluster

NS = "default"


class TimedTaskHost(TaskHost):
    """A :class:`TaskHost` that adds the wall time of its handlers to ``spent[component]``."""

    def __init__(self, env: Any, main: Callable[[SimRuntime], Coroutine[Any, Any, Any]], spent: dict[str, float],
                 component: str) -> None:
        super().__init__(env, main)
        self.spent = spent
        self.component = component

    def on_start(self) -> None:
        t0 = time.perf_counter()
        try:
            super().on_start()
        finally:
            self.spent[self.component] += time.perf_counter() - t0

    def on_message(self, src: str, msg: Any) -> None:
        t0 = time.perf_counter()
        try:
            super().on_message(src, msg)
        finally:
            self.spent[self.component] += time.perf_counter() - t0

    def on_timer(self, tag: Hashable) -> None:
        t0 = time.perf_counter()
        try:
            super().on_timer(tag)
        finally:
            self.spent[self.component] += time.perf_counter() - t0


class ScaleRun:
    def __init__(self, *, nodes: int, deployments: int, replicas: int, apiservers: int, seed: int,
                 trace: bool) -> None:
        assert nodes >= 1 and deployments >= 1 and replicas >= 1 and apiservers >= 1
        assert nodes <= 65_536, "pod CIDRs are 10.<i / 256>.<i % 256>.0/24"
        self.nodes = tuple(f"n{i:04d}" for i in range(1, nodes + 1))
        self.deployments = tuple(f"web-{i:03d}" for i in range(deployments))
        self.replicas = replicas
        self.pods = deployments * replicas
        self.cluster = KVCluster(seed=seed, members=3)
        self.cluster.world.trace_messages = trace
        self.apiservers = tuple(f"a{i}" for i in range(1, apiservers + 1))
        self.spent: dict[str, float] = {c: 0.0 for c in ("apiservers", "controller manager", "scheduler",
                                                          "kubelets", "user")}
        self.running: dict[str, str] = {}  # pod uid -> node
        self.all_running_us: int | None = None
        self.available_us: int | None = None
        self.components: dict[str, Any] = {}

    # ------------------------------------------------------------------ components
    def _transport(self, rt: SimRuntime, index: int) -> SimTransport:
        k = index % len(self.apiservers)
        return SimTransport(rt, self.apiservers[k:] + self.apiservers[:k], reorder_window_s=0.2)

    async def _apiserver(self, rt: SimRuntime) -> None:
        members = self.cluster.members
        own = members[self.apiservers.index(rt.node_id) % len(members)]
        server = ApiServer(rt, rt.etcd_client((own, *(m for m in members if m != own))))
        rt.add_handler(ApiServerEndpoint(rt, server))
        await server.run(compact_interval_s=300)

    async def _controller_manager(self, rt: SimRuntime) -> None:
        client = KubeClient(self._transport(rt, 0))
        informers = SharedInformers(rt, client)
        self.components["replicaset"] = rsc = ReplicaSetController(rt, client, informers)
        self.components["deployment"] = dc = DeploymentController(rt, client, informers)
        rt.spawn(dc.run(), name="deployment-controller")
        await rsc.run()

    async def _scheduler(self, rt: SimRuntime) -> None:
        client = KubeClient(self._transport(rt, 1))
        self.components["scheduler"] = sched = Scheduler(rt, client, SharedInformers(rt, client))
        await sched.run()

    def _sandbox_changed(self, node: str, sandbox: Sandbox, running: bool) -> None:
        if not running:
            self.running.pop(sandbox.uid, None)
            return
        assert sandbox.uid not in self.running, f"pod {sandbox.key} runs on two nodes"
        self.running[sandbox.uid] = node
        if len(self.running) == self.pods and self.all_running_us is None:
            self.all_running_us = self.cluster.world.now_us

    async def _kubelet(self, rt: SimRuntime) -> None:
        node = rt.node_id
        i = int(node[1:])
        config = NodeConfig(name=node, pod_cidr=f"10.{i // 256}.{i % 256}.0/24", cpu="4", memory="16Gi", pods=110)
        kubelet = Kubelet(rt, KubeClient(self._transport(rt, i)), config, PodSandboxes(node, self._sandbox_changed),
                          lease_renew_s=10.0, lease_duration_s=40)  # (Kubernetes' defaults)
        await kubelet.run()

    async def _user(self, rt: SimRuntime) -> None:
        client = KubeClient(self._transport(rt, 0))
        for name in self.deployments:
            while True:
                try:
                    await client.create("deployments", deployment_object(name, self.replicas, 100))
                    break
                except ApiError as exc:
                    if exc.code == 409:
                        break
                    await rt.sleep(0.2)
        while self.available_us is None:
            await rt.sleep(1.0)
            if self.all_running_us is None:
                continue
            try:
                listed = await client.list("deployments", NS, resource_version="0")
            except ApiError:
                continue
            available = sum(int((d.get("status") or {}).get("availableReplicas", 0)) for d in listed["items"])
            if len(listed["items"]) == len(self.deployments) and available == self.pods:
                self.available_us = rt.now_us()

    # ------------------------------------------------------------------ running
    def _host(self, main: Callable[[SimRuntime], Coroutine[Any, Any, Any]], component: str) -> Any:
        return lambda env: TimedTaskHost(env, main, self.spent, component)

    def run(self, limit_s: float) -> dict[str, Any]:
        world = self.cluster.world
        t0 = time.perf_counter()
        cpu0 = time.process_time()
        self.cluster.wait_leader()
        for name in self.apiservers:
            world.add_node(name, self._host(self._apiserver, "apiservers"), client=True)
        world.add_node("cm1", self._host(self._controller_manager, "controller manager"), client=True)
        world.add_node("s1", self._host(self._scheduler, "scheduler"), client=True)
        for name in self.nodes:
            world.add_node(name, self._host(self._kubelet, "kubelets"), client=True)
        world.add_node("u1", self._host(self._user, "user"), client=True)
        start_us = world.now_us
        limit_us = round(limit_s * 1e6)
        running_wall = None
        while self.available_us is None and world.now_us - start_us < limit_us:
            world.run_for(1_000_000)
            if running_wall is None and self.all_running_us is not None:
                running_wall = time.perf_counter() - t0
            errors = [e for n in world.nodes if isinstance(world.actor(n), TaskHost)
                      for _task, e in world.actor(n).runtime.errors]  # type: ignore[union-attr]
            if errors:
                raise errors[0]
        wall = time.perf_counter() - t0
        cpu = time.process_time() - cpu0
        if self.all_running_us is None or self.available_us is None:
            raise SystemExit(f"not done within {limit_s:g} simulated seconds: {len(self.running)} of "
                             f"{self.pods} pods running")
        return {"wall_s": wall, "cpu_s": cpu, "running_wall_s": running_wall, "running_sim_s": (self.all_running_us - start_us) / 1e6,
                "available_sim_s": (self.available_us - start_us) / 1e6,
                "events": world.events_processed, "messages": world.messages_sent}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--nodes", type=int, default=1000, help="simulated nodes (kubelets), default 1000")
    ap.add_argument("--deployments", type=int, default=100, help="Deployments, default 100")
    ap.add_argument("--replicas", type=int, default=100, help="replicas of each Deployment, default 100")
    ap.add_argument("--apiservers", type=int, default=1, help="apiservers, default 1")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--limit-s", type=float, default=600.0, help="give up after this many simulated seconds")
    ap.add_argument("--trace", action="store_true", help="keep the message trace (memory grows with it)")
    ap.add_argument("--profile", metavar="FILE", help="write a cProfile of the run to FILE")
    ap.add_argument("--quick", action="store_true", help=QUICK_HELP)
    args = ap.parse_args()
    if args.quick:
        args.nodes, args.deployments, args.replicas = 5, 2, 5
    for name in ("nodes", "deployments", "replicas", "apiservers"):
        if getattr(args, name) < 1:
            ap.error(f"--{name} must be at least 1")
    if args.nodes > 65_536:
        ap.error("--nodes must be at most 65536")
    print_machine()
    run = ScaleRun(nodes=args.nodes, deployments=args.deployments, replicas=args.replicas,
                   apiservers=args.apiservers, seed=args.seed, trace=args.trace)
    print(f"{args.nodes} nodes, {args.deployments} Deployments x {args.replicas} replicas = {run.pods} pods, "
          f"{len(run.apiservers)} apiserver(s), 3 raftkv members")
    if args.profile:
        import cProfile

        profiler = cProfile.Profile()
        out = profiler.runcall(run.run, args.limit_s)
        profiler.dump_stats(args.profile)
    else:
        out = run.run(args.limit_s)
    wall = out["wall_s"]
    print(f"all {run.pods} pods running: {out['running_sim_s']:.1f} s simulated, {out['running_wall_s']:.1f} s wall "
          "(the loop checks once per simulated second)")
    print(f"every Deployment available: {out['available_sim_s']:.1f} s simulated, {wall:.1f} s wall")
    print(f"simulated events: {out['events']:,}, messages: {out['messages']:,}")
    print(f"CPU time of this process: {out['cpu_s']:.1f} s (below the wall time when other processes share the cores)")
    print(f"peak memory (max RSS): {peak_rss_mib():.0f} MiB")
    accounted = sum(run.spent.values())
    for component, spent in [*sorted(run.spent.items(), key=lambda kv: -kv[1]),
                             ("raftkv members, network, event loop", max(0.0, wall - accounted))]:
        print(f"  {component:<38} {spent:8.1f} s wall  {100 * spent / wall:5.1f} %")
    print(f"kube scale: {wall:.1f} s wall for {run.pods} pods")


if __name__ == "__main__":
    main()
