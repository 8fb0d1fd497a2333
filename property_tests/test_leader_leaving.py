"""A leader that removes or demotes itself while the network splits around it.

The regression scenario was found by the membership suite: two members, the leader n1
proposes its own removal (index 17) and is cut off just after.  n1 learnt that 17
committed and left, but had appended index 18 meanwhile; n2 had 17 without knowing it
was committed, so it still needed n1's vote, which n1 refused (its log was longer).  A
leaving leader now appends nothing after the change that removes it.
"""

from __future__ import annotations

import attrs
import pytest

from raftkv.sim import ClusterSpec, Fault, Scenario, WorkloadSpec, scenario_from_token
from raftkv.sim.shapes import SHAPES
from raftkv.suites import SUITES

from ._support import check_suite

REMOVED_LEADER_2_MEMBERS = (
    "rk1_eNplkMFOxSAQRf9l1iyq9WkeK__DGDLCNCVQwAGqpuHfpX19bmRF7p1zJrCB9jUXYpAb6Jm0U581cl1ATugzCVjwW2kfe2HYTkWl1"
    "Ltx2E8vafkgziAfBSQmtcZCJ9kEmMpYbAyq9onLcDITVl968LYBlqO6Xp_Hl1GAs8GABKYlrqRubhAQoulSePWEpgdN_IEPd-dJ5hkT_SfE"
    "WUiY0a-Uob0LYJyKW1XWFJBt7LI-RtQ1w34pxdOx4-m-4yuy8xHN8VPeUii3dzv6yQcdU1aJWO3x0NovTv1xKA")


def test_removed_leader_of_two_members_lets_the_other_lead() -> None:
    scenario = scenario_from_token(REMOVED_LEADER_2_MEMBERS)
    result, violation = SUITES["membership"].run(scenario)
    assert violation is None, violation
    assert result.system.leader() == "n2"


def test_the_same_scenario_fails_with_the_leaving_leader_appending() -> None:
    scenario = attrs.evolve(scenario_from_token(REMOVED_LEADER_2_MEMBERS), bugs=("leaving_leader_appends",))
    _result, violation = SUITES["membership"].run(scenario)
    assert violation is not None and violation.property == "liveness", violation


# Every size, way of leaving and partition shape; the partition lands with the change and
# while it commits.  (The leader_leaving suite in test_suites.py draws the rest at random.)
_WAYS = (("kv", "remove_member"), ("raft", "remove_member"), ("raft", "demote"))


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize(("system", "op"), _WAYS)
@pytest.mark.parametrize("members", (2, 3, 5))
def test_leader_leaves_under_every_partition_shape(members: int, system: str, op: str, shape: str) -> None:
    for offset_us in (0, 20_000):
        leave_at = 1_000_000
        scenario = Scenario(
            seed=members * 100 + offset_us, system=system, cluster=ClusterSpec(members=members),
            faults=(Fault(at_us=leave_at, kind=op, node="@leader"),
                    Fault(at_us=leave_at + offset_us, kind="shape", shape=shape, node="@leader"),
                    Fault(at_us=leave_at + 1_500_000, kind="heal")),
            workload=WorkloadSpec(clients=2, ops_per_s=40), duration_us=3_000_000, settle_us=4_000_000)
        check_suite("leader_leaving", scenario)
