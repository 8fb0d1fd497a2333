"""Every kube system's ``history()`` is a :class:`raftkv.check.History`, as the ``System``
protocol and the README promise (``result.system.history()``): the checkers and
``write_jsonl`` take it.  The kube systems used to return plain lists (of records, or of
traffic traces for networking), which a caller could not pass to a checker."""

from __future__ import annotations

import io

from raftkv.check import History, write_jsonl
from raftkv.sim import Scenario, WorkloadSpec, run_scenario
from raftkv.sim.scenario import ApiserverSpec, ControlPlaneSpec, DiscoverySpec, NetworkingSpec

QUIET = WorkloadSpec(clients=0, ops_per_s=0)


def _history(scenario: Scenario) -> History:
    result = run_scenario(scenario)
    assert result.ok, result.summary()
    history = result.system.history()
    assert isinstance(history, History), type(history)
    out = io.StringIO()
    write_jsonl(history, out)
    assert out.getvalue().count("\n") == len(history)
    return history


def test_the_apiserver_system_history_holds_its_clients_operations() -> None:
    history = _history(Scenario(seed=3, system="apiserver", workload=QUIET,
                                apiserver=ApiserverSpec(apiservers=1, clients=2, informers=1, objects=2),
                                duration_us=2_000_000, settle_us=4_000_000))
    assert history.operations and all(op.outcome in ("ok", "fail", "info") for op in history.operations)


def test_the_discovery_system_history_is_its_kv_history() -> None:
    history = _history(Scenario(seed=1, system="discovery", workload=WorkloadSpec(clients=1, ops_per_s=20),
                                discovery=DiscoverySpec(instances=1, watchers=1),
                                duration_us=2_000_000, settle_us=4_000_000))
    assert history.operations  # the kv workload client's puts and gets


def test_the_control_plane_and_networking_systems_have_an_empty_client_history() -> None:
    spec = ControlPlaneSpec(apiservers=1, nodes=2, replicasets=1, deployments=0, replicas=1, max_replicas=1,
                            scales=0, rollouts=0)
    for scenario in (Scenario(seed=5, system="control_plane", workload=QUIET, control_plane=spec,
                              duration_us=1_000_000, settle_us=10_000_000),
                     Scenario(seed=11, system="networking", workload=QUIET, control_plane=spec,
                              networking=NetworkingSpec(), duration_us=1_000_000, settle_us=10_000_000)):
        assert len(_history(scenario)) == 0
