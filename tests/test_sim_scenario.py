"""Scenarios round-trip through JSON and tokens; bad input gets one clear line."""

from __future__ import annotations

import json

import attrs
import pytest
from hashseeds import outputs_across_hash_seeds

from raftkv.sim import (
    ClusterSpec,
    Fault,
    Scenario,
    ScenarioError,
    random_scenario,
    run_scenario,
    scenario_from_json,
    scenario_from_token,
    scenario_to_json,
    scenario_to_token,
)

SCENARIO = Scenario(
    seed=42, system="demo", cluster=ClusterSpec(members=5),
    faults=(
        Fault(at_us=1_000_000, kind="crash", node="n2", torn=True),
        Fault(at_us=1_500_000, kind="partition", groups=(("n1", "n3"), ("n4", "n5"))),
        Fault(at_us=2_000_000, kind="cut", links=(("n1", "n4"),)),
        Fault(at_us=2_500_000, kind="clock", node="n3", offset_us=-20_000, drift_ppm=3_000),
        Fault(at_us=3_000_000, kind="restart", node="n2"),
    ),
    duration_us=4_000_000, settle_us=1_000_000,
)


def test_json_round_trip() -> None:
    assert scenario_from_json(scenario_to_json(SCENARIO)) == SCENARIO


def test_token_round_trip_and_is_short_and_url_safe() -> None:
    token = scenario_to_token(SCENARIO)
    assert scenario_from_token(token) == SCENARIO
    assert token.startswith("rk1_") and len(token) < 400
    assert all(ch.isalnum() or ch in "_-" for ch in token)


def test_generated_scenarios_round_trip() -> None:
    for seed in range(30):
        scenario = random_scenario(seed, members=1 + seed % 7)
        assert scenario_from_token(scenario_to_token(scenario)) == scenario


@pytest.mark.parametrize(("text", "message"), [
    ("{", "scenario: not valid JSON"),
    ("[]", "scenario: expected a JSON object"),
    ('{"system": "kv"}', "scenario: missing field 'seed'"),
    ('{"seed": "7"}', 'scenario.seed: expected an integer, got "7"'),
    ('{"seed": 7, "colour": 1}', "scenario: unknown field 'colour'"),
    ('{"seed": 7, "cluster": {"members": 0}}', "scenario.cluster.members: must be 1..7, got 0"),
    ('{"seed": 7, "cluster": {"members": true}}', "scenario.cluster.members: expected an integer, got true"),
    ('{"seed": 7, "faults": {}}', "scenario.faults: expected a list"),
    ('{"seed": 7, "faults": [{"kind": "crash", "node": "n1"}]}', "scenario.faults[0]: missing field 'at_us'"),
    ('{"seed": 7, "faults": [{"at_us": 1, "kind": "melt"}]}', "scenario.faults[0].kind: unknown fault 'melt'"),
    ('{"seed": 7, "faults": [{"at_us": 1, "kind": "crash", "node": "n9"}]}',
     "scenario.faults[0].node: unknown node 'n9'"),
    ('{"seed": 7, "faults": [{"at_us": 1, "kind": "crash"}]}', "scenario.faults[0].node: crash needs a node"),
    ('{"seed": 7, "faults": [{"at_us": 99999999999, "kind": "heal"}]}', "scenario.faults[0].at_us: must be within"),
    ('{"seed": 7, "faults": [{"at_us": 1, "kind": "cut", "links": [["n1"]]}]}',
     "scenario.faults[0].links[0]: expected a list of 2 items"),
    ('{"seed": 7, "network": {"loss": 1.5}}', "scenario.network.loss: must be a probability"),
    ('{"seed": 7, "bugs": ["nope"]}', "scenario.bugs[0]: unknown bug 'nope'"),
    ('{"seed": 7, "raftkv_scenario": 9}', "unsupported version 9"),
])
def test_bad_json_names_the_field(text: str, message: str) -> None:
    with pytest.raises(ScenarioError) as info:
        scenario_from_json(text)
    assert message in str(info.value)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize(("token", "message"), [
    ("hello", "does not start with 'rk1_'"),
    ("rk1_!!!!", "corrupted"),
    ("rk1_" + "A" * 12, "corrupted"),
])
def test_bad_tokens_are_refused_clearly(token: str, message: str) -> None:
    with pytest.raises(ScenarioError, match=message):
        scenario_from_token(token)


def test_truncated_token_is_refused() -> None:
    token = scenario_to_token(SCENARIO)
    with pytest.raises(ScenarioError, match="corrupted"):
        scenario_from_token(token[:-10])


def test_token_of_valid_base64_but_bad_scenario_names_the_field() -> None:
    import base64
    import zlib

    raw = json.dumps({"seed": 1, "cluster": {"members": 12}}).encode()
    token = "rk1_" + base64.urlsafe_b64encode(zlib.compress(raw)).decode().rstrip("=")
    with pytest.raises(ScenarioError, match=r"cluster\.members"):
        scenario_from_token(token)


_HASH_SCRIPT = """
import sys
from raftkv.sim import scenario_from_token, run_scenario
r = run_scenario(scenario_from_token(sys.argv[1]))
print(r.trace.hash(), len(r.trace))
"""


def test_same_scenario_same_trace_across_hash_seeds() -> None:
    first, second = outputs_across_hash_seeds(_HASH_SCRIPT, scenario_to_token(SCENARIO), seeds=("1", "12345"))
    assert first == second
    assert first.split()[0] == run_scenario(SCENARIO).trace.hash()


def test_different_seeds_give_different_traces() -> None:
    other = attrs.evolve(SCENARIO, seed=43)
    assert run_scenario(other).trace.hash() != run_scenario(SCENARIO).trace.hash()
