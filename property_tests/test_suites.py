"""The property suites, one hypothesis test each (see raftkv.suites for what each checks).

``test_raft_safety``, ``test_linearizability``, ``test_watch``, ``test_lease``,
``test_liveness``, ``test_membership`` and ``test_determinism`` draw scenarios from
their suite's strategy, run them in the simulator and fail with the full report of
any violation: the property, the shrunk scenario, the ``raftkv replay`` command, the
trace tail, the checker's explanation and the path of the HTML report.
"""

from __future__ import annotations

from collections.abc import Callable

from hypothesis import given

from raftkv.sim import Scenario
from raftkv.suites import SUITES

from ._support import check_suite


def _suite_test(name: str) -> Callable[[], None]:
    @given(SUITES[name].scenarios())
    def test(scenario: Scenario) -> None:
        check_suite(name, scenario)

    test.__name__ = test.__qualname__ = f"test_{name}"
    test.__doc__ = SUITES[name].description
    return test


for _name in SUITES:
    globals()[f"test_{_name}"] = _suite_test(_name)
