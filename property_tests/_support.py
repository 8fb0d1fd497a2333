"""What every property test does with a scenario: run it, judge it, report a failure."""

from __future__ import annotations

import tempfile
from pathlib import Path

from hypothesis import note

from raftkv.report import run_report
from raftkv.sim import Scenario, run_scenario
from raftkv.suites import SUITES


def check_suite(name: str, scenario: Scenario) -> None:
    """Fail with a full report (property, scenario, replay command, trace tail, html)."""
    suite = SUITES[name]
    _result, violation = suite.run(scenario)
    if violation is None:
        return
    # Replay with the full trace for the report; the verdict must not change.
    full = run_scenario(scenario, trace_messages=True)
    html = Path(tempfile.mkdtemp(prefix=f"raftkv-{name}-")) / "report.html"
    has_html = full.system.write_html(str(html))
    text = run_report(full, tail=30)
    if has_html:
        text += f"\nhtml report: {html}"
    note(text)
    raise AssertionError(f"{violation.property}: {violation.message}\n\n{text}")
