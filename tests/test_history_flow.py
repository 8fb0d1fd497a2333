"""One history type flows from recording to writing to checking."""

from __future__ import annotations

import pathlib

from raftkv.check import EtcdModel, History, KVModel, check_linearizable, read_history, write_jsonl
from raftkv.sim import Scenario, WorkloadSpec, run_scenario


def test_a_run_history_is_checked_written_and_read_back(tmp_path: pathlib.Path) -> None:
    for system, model in (("raft", KVModel()), ("kv", EtcdModel())):
        result = run_scenario(Scenario(seed=2, system=system, duration_us=1_000_000, settle_us=1_000_000,
                                       workload=WorkloadSpec(clients=2, ops_per_s=20)))
        history = result.system.history()
        assert isinstance(history, History) and history.operations
        assert check_linearizable(history, model).verdict == "ok"
        path = tmp_path / f"{system}.jsonl"
        write_jsonl(history, path)
        assert len(path.read_text().splitlines()) == len(history.records) > 0
        again = read_history(path)
        assert again.operations == history.operations
        assert list(history) == list(history.records)  # a History iterates its records


def test_the_demo_has_an_empty_history() -> None:
    result = run_scenario(Scenario(seed=1, system="demo", duration_us=200_000, settle_us=0))
    history = result.system.history()
    assert isinstance(history, History) and len(history) == 0
