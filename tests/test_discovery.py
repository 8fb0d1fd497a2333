"""kube.discovery: instances, registration with a lease, discovery by list + watch, and
the discovery system (a compacted watch must be followed by a new list)."""

from __future__ import annotations

from typing import Any

import pytest

from kube import DiscoveryClient, Instance, InstanceError, Registration
from raftkv.sim import (
    Fault,
    Scenario,
    TaskHost,
    WorkloadSpec,
    run_scenario,
    scenario_from_token,
    scenario_to_token,
)
from raftkv.sim.kv_system import KVCluster
from raftkv.sim.scenario import DiscoverySpec


def test_instance_round_trips_and_bad_values_are_named() -> None:
    inst = Instance(service="web", id="a1", address="10.0.0.1", port=80, metadata=(("zone", "b"),))
    assert inst.key == "/services/web/a1"
    assert Instance.from_kv(inst.key, inst.to_json()) == inst
    with pytest.raises(InstanceError, match="not an instance's JSON"):
        Instance.from_kv(inst.key, b"{")
    with pytest.raises(InstanceError, match="is not /services/<service>/<id>"):
        Instance.from_kv("/services/web", inst.to_json())
    with pytest.raises(InstanceError, match=r"port must be 1\.\.65535"):
        Instance(service="web", id="a", address="x", port=0)


def test_register_discover_deregister_and_expire_in_a_cluster() -> None:
    cl = KVCluster(seed=5)
    changes: list[tuple[str, bool]] = []
    views: list[Any] = []

    async def watcher(rt: Any) -> None:
        client = DiscoveryClient(rt, rt.etcd_client(cl.members),
                                 on_change=lambda key, inst: changes.append((key, inst is not None)))
        views.append(client)
        await client.run()

    async def instance(rt: Any, ident: str, leave_after_s: float | None) -> None:
        reg = Registration(rt, rt.etcd_client(cl.members),
                           Instance(service="web", id=ident, address="10.0.0.9", port=80), ttl_s=2)
        task = rt.spawn(reg.run())
        if leave_after_s is None:
            await task.join()
        await rt.sleep(leave_after_s)
        task.cancel()
        await reg.deregister()

    cl.wait_leader()
    cl.world.add_node("w", lambda env: TaskHost(env, watcher), client=True)
    cl.world.add_node("a", lambda env: TaskHost(env, lambda rt: instance(rt, "a", 1.0)), client=True)
    cl.world.add_node("b", lambda env: TaskHost(env, lambda rt: instance(rt, "b", None)), client=True)
    cl.world.run_for(500_000)
    assert sorted(views[0].view) == ["/services/web/a", "/services/web/b"]
    cl.world.run_for(800_000)  # a deregistered (revoke): gone at once
    assert sorted(views[0].view) == ["/services/web/b"]
    cl.world.crash("b")  # stops keeping its lease alive: gone within TTL + grace
    cl.world.run_for(1_500_000)
    assert sorted(views[0].view) == ["/services/web/b"]
    cl.world.run_for(2_000_000)
    assert views[0].view == {}
    assert sorted(changes[:2]) == [("/services/web/a", True), ("/services/web/b", True)]
    assert changes[2:] == [("/services/web/a", False), ("/services/web/b", False)]


def _compaction_scenario(bugs: tuple[str, ...] = ()) -> Scenario:
    # w1 is cut off while i1 dies and its lease runs out; the compactor compacts past the
    # deletion, so w1's watch comes back compacted: it must list again
    members = ("n1", "n2", "n3")
    cut = tuple(link for m in members for link in (("w1", m), (m, "w1")))
    return Scenario(seed=1, system="discovery", workload=WorkloadSpec(clients=0, ops_per_s=0),
                    discovery=DiscoverySpec(instances=2, watchers=2, ttl_s=2),
                    duration_us=10_000_000, settle_us=10_000_000, bugs=bugs,
                    faults=(Fault(at_us=2_000_000, kind="cut", links=cut),
                            Fault(at_us=2_500_000, kind="crash", node="i1"),
                            Fault(at_us=7_500_000, kind="heal")))


def test_discovery_relists_after_compaction() -> None:
    scenario = _compaction_scenario()
    assert scenario_from_token(scenario_to_token(scenario)) == scenario
    result = run_scenario(scenario)
    assert result.ok, result.summary()
    assert result.trace.render(kinds=("discovery.compacted",)).count("w1") == 1
    assert "w1: 2 instances" in result.summary() and "(2 lists)" in result.summary()


def test_discovery_without_relist_keeps_a_stale_instance() -> None:
    result = run_scenario(_compaction_scenario(("discovery_no_relist_after_compaction",)))
    props = [v.property for v in result.violations]
    assert "discovery.stale" in props, result.summary()
    stale = next(v for v in result.violations if v.property == "discovery.stale")
    assert "w1's view shows /services/web/i1-" in stale.message


def test_discovery_scenarios_name_unknown_component_nodes() -> None:
    from raftkv.sim import ScenarioError
    bad = Scenario(seed=1, system="discovery", discovery=DiscoverySpec(instances=1),
                   faults=(Fault(at_us=1, kind="crash", node="i2"),))
    with pytest.raises(ScenarioError, match=r"scenario.faults\[0\].node: unknown node 'i2'"):
        run_scenario(bad)


class _IgnoresDeletes(DiscoveryClient):
    """A discovery client that never drops an instance from its view."""

    def _set(self, key: str, value: bytes | None) -> None:
        if value is not None:
            super()._set(key, value)


def _crash_scenario() -> Scenario:
    # i1 crashes at 2 s and stays down; with TTL 2 s every view must drop it well
    # before the run's 20 s are over
    return Scenario(seed=3, system="discovery", workload=WorkloadSpec(clients=0, ops_per_s=0),
                    discovery=DiscoverySpec(instances=2, watchers=2, ttl_s=2),
                    duration_us=20_000_000, settle_us=10_000_000,
                    faults=(Fault(at_us=2_000_000, kind="crash", node="i1"),))


def test_a_crashed_instance_leaves_every_view_within_ttl_and_grace() -> None:
    result = run_scenario(_crash_scenario())
    assert result.ok, result.summary()


def test_a_view_that_ignores_deletes_breaks_the_expiry_bound_during_the_run(
        monkeypatch: pytest.MonkeyPatch) -> None:
    import kube.sim
    monkeypatch.setattr(kube.sim, "DiscoveryClient", _IgnoresDeletes)
    result = run_scenario(_crash_scenario())
    late = [v for v in result.violations if v.property == "discovery.stale_after_ttl"]
    assert late, result.summary()
    assert "still shows /services/web/i1-" in late[0].message
    # found during the run, TTL + grace after the crash, not only at the end
    assert late[0].time_us is not None and late[0].time_us < 20_000_000
