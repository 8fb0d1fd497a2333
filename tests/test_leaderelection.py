"""Leader election through a Lease and fenced writes (kube.leaderelection, kube.fencing),
in one simulated process over a LocalTransport."""

from __future__ import annotations

from typing import Any

import pytest

from kube import ApiServer, KubeClient, LocalTransport
from kube.apiserver import Request
from kube.errors import ApiError
from kube.fencing import Fence
from kube.leaderelection import FencedClient, LeaderElectionConfig, LeaderElector
from raftkv.sim import TaskHost
from raftkv.sim.kv_system import KVCluster


def run_app(script: Any, seconds: float = 10.0) -> dict:
    cluster = KVCluster(seed=4, members=3)
    out: dict = {}

    async def main(rt: Any) -> None:
        server = ApiServer(rt, rt.etcd_client(cluster.members))
        rt.spawn(server.run(), name="apiserver")
        await script(rt, LocalTransport(server), out)
        out["done"] = True

    cluster.wait_leader()
    cluster.world.add_node("app", lambda env: TaskHost(env, main), client=True)
    cluster.world.run_for(round(seconds * 1_000_000))
    actor = cluster.world.actor("app")
    assert isinstance(actor, TaskHost)
    assert not actor.runtime.errors, actor.runtime.errors
    actor.runtime.stop()
    return out


def _cm(name: str, ns: str = "default") -> dict:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": ns}, "data": {"k": "v"}}


def test_fence_parses_its_own_text_and_rejects_garbage() -> None:
    fence = Fence(lease_namespace="kube-system", lease_name="kube-scheduler", holder="s1", transitions=3)
    assert Fence.parse(fence.to_param()) == fence
    for bad in ("", "kube-system/x", "kube-system/x:s1", "x:s1:3", "kube-system/x:s1:three", "/x:s1:1"):
        with pytest.raises(ApiError) as info:
            Fence.parse(bad)
        assert info.value.code == 400 and "fence must be" in str(info.value)


def test_a_deposed_leaders_writes_fail_and_a_renewal_does_not_fence_the_holder() -> None:
    async def script(rt: Any, transport: Any, out: dict) -> None:
        plain = KubeClient(transport)
        one = LeaderElector(rt, plain, LeaderElectionConfig(lease_name="ctl", identity="one"))
        fence = await one.try_acquire_or_renew()
        assert fence == Fence(lease_namespace="kube-system", lease_name="ctl", holder="one", transitions=0)
        writes: list[tuple[str, int]] = []
        client = FencedClient(transport, fence, on_write=lambda f, req, rv: writes.append((req.verb, rv)))
        await client.create("configmaps", _cm("a"))
        assert await one.try_acquire_or_renew() == fence  # renewed: same term
        await client.patch("configmaps", "a", {"data": {"k": "w"}}, "default")
        # another candidate cannot take a lease it saw renewed less than a lease duration ago
        two = LeaderElector(rt, plain, LeaderElectionConfig(lease_name="ctl", identity="two"))
        assert await two.try_acquire_or_renew() is None
        await rt.sleep(3.5)  # "one" stops renewing (paused): the lease expires as "two" sees it
        taken = await two.try_acquire_or_renew()
        assert taken == Fence(lease_namespace="kube-system", lease_name="ctl", holder="two", transitions=1)
        with pytest.raises(ApiError) as info:
            await client.patch("configmaps", "a", {"data": {"k": "stale"}}, "default")
        out["fenced"] = (info.value.code, str(info.value))
        with pytest.raises(ApiError):
            await client.create("configmaps", _cm("b"))
        with pytest.raises(ApiError):
            await client.delete("configmaps", "a", "default")
        with pytest.raises(ApiError):  # even a write that would change nothing
            await client.patch("configmaps", "a", {"data": {"k": "w"}}, "default")
        assert await one.try_acquire_or_renew() is None  # and "one" learns it lost
        out["value"] = (await plain.get("configmaps", "a", "default"))["data"]["k"]
        out["writes"] = writes
        lease = await plain.get("leases", "ctl", "kube-system")
        out["lease"] = lease["spec"]

    out = run_app(script)
    assert out["fenced"][0] == 403 and "held by 'two' (transitions 1), not by 'one' (transitions 0)" in out["fenced"][1]
    assert out["value"] == "w"  # the deposed leader's writes did not land
    assert [verb for verb, _rv in out["writes"]] == ["create", "patch"]
    assert out["lease"]["holderIdentity"] == "two" and out["lease"]["leaseTransitions"] == 1


def test_without_fencing_the_deposed_leaders_write_lands() -> None:
    async def script(rt: Any, transport: Any, out: dict) -> None:
        plain = KubeClient(transport)
        one = LeaderElector(rt, plain, LeaderElectionConfig(lease_name="ctl", identity="one"))
        fence = await one.try_acquire_or_renew()
        assert fence is not None
        client = FencedClient(transport, fence, bugs=frozenset({"leader_election_no_fencing"}))
        await client.create("configmaps", _cm("a"))
        two = LeaderElector(rt, plain, LeaderElectionConfig(lease_name="ctl", identity="two"))
        assert await two.try_acquire_or_renew() is None  # its first look: the lease counts from now
        await rt.sleep(3.5)
        assert await two.try_acquire_or_renew() is not None
        await client.patch("configmaps", "a", {"data": {"k": "stale"}}, "default")
        out["value"] = (await plain.get("configmaps", "a", "default"))["data"]["k"]

    assert run_app(script)["value"] == "stale"


def test_a_write_without_a_fence_is_not_checked_and_a_bad_fence_is_a_clear_400() -> None:
    async def script(rt: Any, transport: Any, out: dict) -> None:
        resp = await transport.request(Request(verb="create", resource="configmaps", namespace="default",
                                               body=_cm("x"), query=(("fence", "nonsense"),)))
        out["bad"] = (resp.status, resp.body["message"])
        resp = await transport.request(Request(verb="create", resource="configmaps", namespace="default",
                                               body=_cm("x"), query=(("fence", "kube-system/none:me:0"),)))
        out["missing"] = (resp.status, resp.body["message"])

    out = run_app(script, seconds=2.0)
    assert out["bad"][0] == 400 and "fence must be" in out["bad"][1]
    assert out["missing"] == (403, "fenced: lease kube-system/none does not exist")


def test_leader_election_config_must_order_its_periods() -> None:
    with pytest.raises(AssertionError):
        LeaderElectionConfig(lease_name="x", identity="a", lease_duration_s=2, renew_deadline_s=2.5)


def test_the_apiserver_tells_when_a_fenced_write_was_confirmed_also_when_it_changed_nothing() -> None:
    # The control_plane suite's fencing check orders a leader's writes by when their fence
    # held: a write that changes nothing answers with the object's old resourceVersion, which
    # may predate an older leader's last writes, so the revision of its check is what counts.
    cluster = KVCluster(seed=4, members=3)
    seen: list[tuple[str, int, int]] = []
    out: dict = {}

    def on_write(req: Any, resp: Any, fenced_revision: int) -> None:
        if req.resource == "configmaps":
            seen.append((req.verb, int(resp.body["metadata"]["resourceVersion"]), fenced_revision))

    async def main(rt: Any) -> None:
        server = ApiServer(rt, rt.etcd_client(cluster.members), on_write=on_write)
        rt.spawn(server.run(), name="apiserver")
        plain = KubeClient(LocalTransport(server))
        fence = await LeaderElector(rt, plain, LeaderElectionConfig(lease_name="ctl", identity="one")).try_acquire_or_renew()
        assert fence is not None
        client = FencedClient(LocalTransport(server), fence)
        await client.create("configmaps", _cm("a"))
        await plain.create("configmaps", _cm("b"))  # the store moves on
        await client.patch("configmaps", "a", {"data": {"k": "v"}}, "default")  # changes nothing
        await plain.create("configmaps", _cm("c"))  # unfenced: no revision of a fence
        out["done"] = True

    cluster.wait_leader()
    cluster.world.add_node("app", lambda env: TaskHost(env, main), client=True)
    cluster.world.run_for(5_000_000)
    assert out.get("done")
    (create, created_rv, create_fenced), (_, b_rv, b_fenced), (patch, patch_rv, patch_fenced), (_, _, c_fenced) = seen
    assert (create, patch) == ("create", "patch")
    assert create_fenced == created_rv and b_fenced == 0 and c_fenced == 0
    assert patch_rv == created_rv and patch_fenced >= b_rv > created_rv
