"""The HTML report of a Raft safety violation leads with the property and draws the members."""

from __future__ import annotations

import pathlib
import re

import attrs
import pytest

from raftkv.report import write_run_html
from raftkv.sim import RunResult, run_scenario, scenario_from_json
from raftkv.timeline import render_timeline_html, timeline_data

DATA = pathlib.Path(__file__).resolve().parent / "data"


@pytest.fixture(scope="module")
def commit_rule() -> RunResult:
    # Found and shrunk by `raftkv explore --bug figure8_commit --suite raft_churn`.
    result = run_scenario(scenario_from_json((DATA / "commit_rule.json").read_text()), trace_messages=True)
    assert [v.property for v in result.violations] == ["raft.commit_rule"]
    return result


def test_the_page_leads_with_the_broken_property(commit_rule: RunResult, tmp_path: pathlib.Path) -> None:
    path = tmp_path / "report.html"
    assert write_run_html(commit_rule, str(path))
    page = path.read_text()
    assert re.search(r"<h1>(.*?)</h1>", page).group(1) == "raft.commit_rule violated"  # type: ignore[union-attr]
    assert "linearizability report" not in page and "verdict-ok" not in page
    assert "http://" not in page and "https://" not in page and "<script" not in page  # self-contained
    assert f"raftkv replay {commit_rule.token}" in page


def test_the_logs_are_the_members_logs(commit_rule: RunResult) -> None:
    data = timeline_data(commit_rule)
    assert data.members == ("n1", "n2", "n3", "n4")
    for log in data.logs:
        host = commit_rule.world.actor(log.member).raft_host  # type: ignore[union-attr]
        raft = host.raft
        assert log.base_index == raft.log.base_index
        assert log.terms == tuple(e.term for e in raft.log.entries), log.member
        assert log.term == raft.term


def test_roles_terms_faults_and_messages_are_drawn(commit_rule: RunResult) -> None:
    data = timeline_data(commit_rule)
    violation = commit_rule.violations[0]
    (culprit,) = violation.members
    last = data.roles[culprit][-1]
    assert last.label == "leader" and last.end_us == commit_rule.end_us
    assert str(last.term) in violation.message  # the term the page shows is the report's
    # faults as bands: every crash is a down band on its member's lane, the partition across lanes
    crashes = [ev for ev in commit_rule.trace if ev.kind == "crash"]
    downs = [(m, s.start_us) for m, segs in data.member_faults.items() for s in segs if s.label.startswith("down")]
    assert sorted(downs) == sorted((ev.node, ev.time_us) for ev in crashes)
    assert [s.label for s in data.cluster_faults] == ["partition n1 n2 | n3 n4"]  # not the run's own network
    # messages before the violation, between members
    assert data.arrows and all(a.delivered_us <= data.violation_us for a in data.arrows)
    assert {a.kind for a in data.arrows} & {"append", "append_resp", "heartbeat"}
    page = render_timeline_html(commit_rule)
    assert page.count('<line class="msg') == len(data.arrows)
    assert 'class="role role-leader"' in page and 'class="member-fault down"' in page
    assert 'class="cluster-fault"' in page
    # the log table outlines the violation's index in every member's row
    assert violation.index is not None
    assert f'<th class="focus">{violation.index}</th>' in page
    assert page.count('class="entry') >= len(data.members)


def test_other_violations_head_the_history_report(tmp_path: pathlib.Path) -> None:
    result = run_scenario(scenario_from_json((DATA / "commit_rule.json").read_text()))
    path = tmp_path / "plain.html"
    result.violations[:] = [attrs.evolve(result.violations[0], property="watch.ordered")]
    assert write_run_html(result, str(path))
    page = path.read_text()
    assert re.search(r"<h1[^>]*>(.*?)</h1>", page).group(1) == "watch.ordered violated"  # type: ignore[union-attr]
    assert "<h2>linearizability check:" in page
