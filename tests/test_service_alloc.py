"""Service ClusterIP and NodePort allocation (kube.registry.allocator): unique across
apiservers racing on one store, released on delete, leaks taken back by the repair, and
a duplicate when the compare-and-swap is switched off (the catalogued bug)."""

from __future__ import annotations

from typing import Any

from kube import ApiError, ApiServer, KubeClient, LocalTransport
from kube.registry.allocator import LEAK_REPAIRS, Range
from raftkv.sim import TaskHost
from raftkv.sim.kv_system import KVCluster


def svc(name: str, type_: str = "ClusterIP", **spec: Any) -> dict:
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "namespace": "default"},
            "spec": {"type": type_, "selector": {"app": name}, "ports": [{"port": 80, "targetPort": 8080}], **spec}}


def run_two_apiservers(body: Any, *, bugs: frozenset[str] = frozenset(), cidr: str = "10.96.0.0/28",
                       seed: int = 1) -> None:
    cl = KVCluster(seed=seed, members=3)
    done: list[bool] = []

    async def main(rt: Any) -> None:
        etcd = rt.etcd_client(cl.members)  # one client per node; the two apiservers still race
        servers = [ApiServer(rt, etcd, bugs=bugs, service_cidr=cidr) for _ in range(2)]
        await body(rt, [KubeClient(LocalTransport(s)) for s in servers], servers)
        done.append(True)

    cl.wait_leader()
    cl.world.add_node("app", lambda env: TaskHost(env, main), client=True)
    cl.world.run_for(30_000_000)
    errors = cl.world.actor("app").runtime.errors
    if errors:
        raise errors[0][1]
    assert done, "the test body did not finish"


def test_range_of_a_cidr_leaves_out_network_broadcast_and_first_host() -> None:
    r = Range.cidr("10.96.0.0/28")
    assert (r.value(0), r.value(r.size - 1), r.size) == ("10.96.0.2", "10.96.0.14", 13)
    assert r.offset("10.96.0.1") is None and r.offset("10.96.0.15") is None


def test_racing_apiservers_never_hand_out_one_address_twice() -> None:
    async def body(rt: Any, clients: list[KubeClient], _servers: list[ApiServer]) -> None:
        tasks = [rt.spawn(clients[i % 2].create("services", svc(f"s{i}", "NodePort"))) for i in range(10)]
        made = [await t.join() for t in tasks]
        ips = [m["spec"]["clusterIP"] for m in made]
        ports = [m["spec"]["ports"][0]["nodePort"] for m in made]
        assert len(set(ips)) == 10 and len(set(ports)) == 10, (ips, ports)
        assert all(30000 <= p <= 32767 for p in ports)
        # three left of 13: the 14th create fails with a clear error
        for i in range(10, 13):
            await clients[0].create("services", svc(f"s{i}"))
        try:
            await clients[1].create("services", svc("full"))
            raise AssertionError("a full range allocated again")
        except ApiError as exc:
            assert exc.code == 422 and "full" in exc.status["message"]
        # delete frees the address for the next Service
        gone = made[0]["spec"]["clusterIP"]
        await clients[1].delete("services", "s0", "default")
        again = await clients[0].create("services", svc("again"))
        assert again["spec"]["clusterIP"] == gone
        headless = await clients[0].create("services", svc("hl", clusterIP="None"))
        assert headless["spec"]["clusterIP"] == "None"
    run_two_apiservers(body)


def test_an_update_keeps_the_allocation_and_a_type_change_allocates_or_releases() -> None:
    async def body(rt: Any, clients: list[KubeClient], _servers: list[ApiServer]) -> None:
        made = await clients[0].create("services", svc("a", "NodePort"))
        port = made["spec"]["ports"][0]["nodePort"]
        body_ = {**made, "spec": {**made["spec"], "clusterIP": "", "clusterIPs": [],
                                  "ports": [{"port": 80, "targetPort": 8080, "protocol": "TCP"}]}}
        kept = await clients[1].update("services", body_)
        assert kept["spec"]["clusterIP"] == made["spec"]["clusterIP"]
        assert kept["spec"]["ports"][0]["nodePort"] == port
        try:
            await clients[1].patch("services", "a", {"spec": {"clusterIP": "10.96.0.3"}}, "default")
            raise AssertionError("the ClusterIP changed")
        except ApiError as exc:
            assert exc.code == 422
        # NodePort -> ClusterIP gives the port back: another Service may ask for it
        plain = await clients[0].patch("services", "a", {"spec": {"type": "ClusterIP"}}, "default")
        assert "nodePort" not in plain["spec"]["ports"][0]
        asked = svc("b", "NodePort")
        asked["spec"]["ports"][0]["nodePort"] = port
        assert (await clients[1].create("services", asked))["spec"]["ports"][0]["nodePort"] == port
        # ClusterIP -> LoadBalancer allocates a port, not the one b holds
        lb = await clients[1].patch("services", "a", {"spec": {"type": "LoadBalancer"}}, "default")
        assert 30000 <= lb["spec"]["ports"][0]["nodePort"] <= 32767 and lb["spec"]["ports"][0]["nodePort"] != port
        assert lb["spec"]["clusterIP"] == made["spec"]["clusterIP"]
    run_two_apiservers(body)


def test_repair_frees_a_leak_and_marks_a_lost_bit() -> None:
    async def body(rt: Any, clients: list[KubeClient], servers: list[ApiServer]) -> None:
        alloc = servers[0].services
        leaked = await alloc.ips.allocate_next()  # an apiserver crashed before storing its Service
        made = await clients[0].create("services", svc("kept"))
        await alloc.ips.release(made["spec"]["clusterIP"])  # the bitmap lost a bit
        for _ in range(LEAK_REPAIRS):
            listed = await servers[1].stores["services"].list("")
            await alloc.repair(listed.items)
        bits, _rev = await alloc.ips.read()
        held = [alloc.ips.range.value(i) for i in range(alloc.ips.range.size) if bits[i // 8] >> (i % 8) & 1]
        assert held == [made["spec"]["clusterIP"]], (held, leaked)
    run_two_apiservers(body)


def test_without_compare_and_swap_racing_creates_share_an_address() -> None:
    found: list[str] = []

    async def body(rt: Any, clients: list[KubeClient], _servers: list[ApiServer]) -> None:
        tasks = [rt.spawn(clients[i % 2].create("services", svc(f"s{i}"))) for i in range(12)]
        ips = [(await t.join())["spec"]["clusterIP"] for t in tasks]
        found.extend(ip for ip in ips if ips.count(ip) > 1)
    run_two_apiservers(body, bugs=frozenset({"clusterip_duplicate_allocation"}))
    assert found, "no duplicate ClusterIP without the compare-and-swap"
