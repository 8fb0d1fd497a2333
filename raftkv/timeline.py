"""The HTML report of a Raft safety violation: what each member was doing, drawn from the trace.

One self-contained page (inline SVG and CSS, no script, no external assets), headed by
the property that broke:

* the whole run: per member, its role (follower, candidate, leader) and term over time,
  when it was down (crashed) or paused, its own faults (clock steps and drift) as bands
  on its lane, the cluster-wide faults (partitions, cuts, network trouble) as bands
  across the lanes, and the moment of the violation;
* the moments before the violation, zoomed in: the same lanes with the Raft messages
  delivered between the members as arrows (hover one for its fields);
* each member's log around the violation's index (one cell per entry, its term written
  in it and coloured by it), its commit index, role and term when the run stopped.

Everything comes from the run's trace (:mod:`raftkv.sim.trace`): the members' own
``raft.*`` records, the world's fault and ``deliver`` records (a run keeps those unless
it was made with ``trace_messages=False``; without them the zoomed view has no arrows).
"""

from __future__ import annotations

import html
import pathlib
from typing import Any

import attrs

from raftkv.raft import Message
from raftkv.sim import RunResult
from raftkv.sim.trace import TraceEvent

__all__ = ["MemberLog", "TimelineData", "render_timeline_html", "timeline_data"]

_ROLE_COLOURS = {"follower": "#c6dbef", "candidate": "#fdae6b", "pre_candidate": "#fdd0a2",
                 "leader": "#31a354"}
_NODE_FAULTS = {"crash": "restart", "pause": "resume"}
_CLUSTER_FAULTS = ("partition", "cut", "shape", "network")
_DETAIL_WINDOW_US = 400_000
_MAX_ARROWS = 400
_LOG_CELLS_BEFORE = 12


@attrs.frozen(kw_only=True)
class Segment:
    start_us: int
    end_us: int
    label: str  # role, "down", "paused", or a fault's description
    term: int | None = None


@attrs.frozen(kw_only=True)
class MemberLog:
    """One member's log, commit index, role and term when the run stopped."""

    member: str
    base_index: int  # entries up to here are in a snapshot
    terms: tuple[int, ...]  # the terms of entries base_index+1, base_index+2, ...
    commit_index: int
    role: str
    term: int

    def term_at(self, index: int) -> int | None:
        off = index - self.base_index - 1
        return self.terms[off] if 0 <= off < len(self.terms) else None

    @property
    def last_index(self) -> int:
        return self.base_index + len(self.terms)


@attrs.frozen(kw_only=True)
class Arrow:
    src: str
    dst: str
    delivered_us: int
    kind: str
    text: str


@attrs.frozen(kw_only=True)
class TimelineData:
    members: tuple[str, ...]
    end_us: int
    violation_us: int
    roles: dict[str, tuple[Segment, ...]]
    member_faults: dict[str, tuple[Segment, ...]]
    cluster_faults: tuple[Segment, ...]
    logs: tuple[MemberLog, ...]
    arrows: tuple[Arrow, ...]
    min_latency_us: int


def _members(result: RunResult) -> tuple[str, ...]:
    seen: list[str] = []
    for ev in result.trace:
        if ev.kind == "raft.start" and ev.node not in seen:
            seen.append(ev.node)
    return tuple(sorted(seen, key=lambda n: (len(n), n)))


def timeline_data(result: RunResult) -> TimelineData:
    """Gather, from ``result``'s trace, what the page draws."""
    members = _members(result)
    end = result.end_us
    violation = result.first_violation()
    violation_us = violation.time_us if violation is not None and violation.time_us is not None else end
    open_role: dict[str, tuple[int, str, int]] = {}
    roles: dict[str, list[Segment]] = {m: [] for m in members}
    open_fault: dict[tuple[str, str], tuple[int, str]] = {}
    member_faults: dict[str, list[Segment]] = {m: [] for m in members}
    cluster: list[Segment] = []
    open_cluster: list[tuple[int, str]] = []
    base: dict[str, int] = {}
    terms: dict[str, list[int]] = {}
    commit: dict[str, int] = {}
    term_now: dict[str, int] = {}
    arrows: list[Arrow] = []
    window_start = max(0, violation_us - _DETAIL_WINDOW_US)
    base_network: dict[str, Any] | None = None

    def close_role(node: str, at: int) -> None:
        if node in open_role:
            start, role, term = open_role.pop(node)
            if at > start:
                roles[node].append(Segment(start_us=start, end_us=at, label=role, term=term))

    def truncate(node: str, first: int) -> None:
        del terms.setdefault(node, [])[max(0, first - base.get(node, 0) - 1):]

    for ev in result.trace:
        node, kind, f = ev.node, ev.kind, ev.fields
        if node in roles:
            if kind == "raft.role":
                close_role(node, ev.time_us)
                open_role[node] = (ev.time_us, str(f["role"]), int(f["term"]))
                term_now[node] = int(f["term"])
            elif kind == "raft.start":
                close_role(node, ev.time_us)
                open_role[node] = (ev.time_us, "follower", int(f["term"]))
                term_now[node] = int(f["term"])
                commit[node] = int(f["commit"])
                snap = int(f.get("snapshot_index", 0))
                if snap > base.get(node, 0) + len(terms.get(node, ())):
                    base[node], terms[node] = snap, []
                else:
                    truncate(node, int(f["last_index"]) + 1)
            elif kind == "raft.append":
                first = int(f["first"])
                if first <= base.get(node, 0):
                    continue
                truncate(node, first)
                if first - base.get(node, 0) - 1 > len(terms[node]):
                    base[node], terms[node] = first - 1, []
                terms[node].extend(f["terms"])
                commit[node] = max(commit.get(node, 0), int(f["commit"]))
            elif kind == "raft.snapshot" and f.get("how") == "installed":
                base[node], terms[node] = int(f["index"]), []
                commit[node] = max(commit.get(node, 0), int(f["index"]))
            elif kind == "raft.apply":
                commit[node] = max(commit.get(node, 0), int(f["commit"]))
            elif kind == "raft.commit":
                commit[node] = max(commit.get(node, 0), int(f["index"]))
            elif kind in _NODE_FAULTS:
                if kind == "crash":
                    close_role(node, ev.time_us)
                open_fault[(node, kind)] = (ev.time_us, "down (crashed)" if kind == "crash" else "paused")
            elif kind in _NODE_FAULTS.values():
                start_kind = "crash" if kind == "restart" else "pause"
                if (node, start_kind) in open_fault:
                    start, label = open_fault.pop((node, start_kind))
                    member_faults[node].append(Segment(start_us=start, end_us=ev.time_us, label=label))
            elif kind in ("clock", "clock_jump"):
                member_faults[node].append(Segment(start_us=ev.time_us, end_us=ev.time_us,
                                                   label=_describe(kind, f)))
            elif kind == "deliver" and ev.time_us >= window_start:
                _arrow(ev, arrows, roles)
        elif kind == "network" and base_network is None:
            base_network = f  # the run's own network, set up at time 0: not a fault
        elif kind in _CLUSTER_FAULTS and not (kind == "network" and f == base_network):
            open_cluster.append((ev.time_us, _describe(kind, f)))
        elif kind in ("heal", "settle"):
            cluster.extend(Segment(start_us=s, end_us=ev.time_us, label=label) for s, label in open_cluster)
            open_cluster.clear()
    for node in list(open_role):
        close_role(node, end)
    for (node, _kind), (start, label) in sorted(open_fault.items()):
        member_faults[node].append(Segment(start_us=start, end_us=end, label=label))
    cluster.extend(Segment(start_us=s, end_us=end, label=label) for s, label in open_cluster)
    logs = tuple(MemberLog(member=m, base_index=base.get(m, 0), terms=tuple(terms.get(m, ())),
                           commit_index=commit.get(m, 0), term=term_now.get(m, 0),
                           role=_role_at_end(roles[m], member_faults[m], end))
                 for m in members)
    return TimelineData(members=members, end_us=end, violation_us=violation_us,
                        roles={m: tuple(v) for m, v in roles.items()},
                        member_faults={m: tuple(v) for m, v in member_faults.items()},
                        cluster_faults=tuple(cluster), logs=logs, arrows=tuple(arrows[-_MAX_ARROWS:]),
                        min_latency_us=result.scenario.network.min_latency_us)


def _role_at_end(roles: list[Segment], faults: list[Segment], end: int) -> str:
    for seg in faults:
        if seg.start_us <= end <= seg.end_us and seg.start_us != seg.end_us:
            return seg.label
    return roles[-1].label if roles and roles[-1].end_us >= end else "down"


def _describe(kind: str, fields: dict[str, Any]) -> str:
    if kind == "partition" and "groups" in fields:
        return "partition " + " | ".join(" ".join(group) for group in fields["groups"])
    parts = " ".join(f"{k}={v}" for k, v in sorted(fields.items()) if k not in ("held", "lost_writes"))
    return f"{kind} {parts}".strip()


def _arrow(ev: TraceEvent, arrows: list[Arrow], members: dict[str, Any]) -> None:
    msg = ev.fields.get("msg")
    src = ev.fields.get("src")
    if not isinstance(msg, Message) or src not in members:
        return
    kind = msg.type.value
    entries = ", ".join(f"({e.index}, {e.term})" for e in msg.entries)
    text = (f"{kind} {src} \u2192 {ev.node}, term {msg.term}; index {msg.index}, log term {msg.log_term}, "
            f"commit {msg.commit}" + (f"; entries (index, term): {entries}" if entries else "")
            + ("; rejected" if msg.reject else "")
            + f"; delivered at {ev.time_us / 1e6:.6f}s")
    arrows.append(Arrow(src=str(src), dst=ev.node, delivered_us=ev.time_us, kind=kind, text=text))


# ---------------------------------------------------------------------------------- drawing

_LABEL_W = 70
_PLOT_W = 1000
_LANE_H = 30


def _x(t: int, t0: int, t1: int) -> float:
    return _LABEL_W + _PLOT_W * (t - t0) / max(1, t1 - t0)


def _lanes_svg(data: TimelineData, t0: int, t1: int, *, arrows: bool, caption: str) -> str:
    members = data.members
    lane = {m: i for i, m in enumerate(members)}
    height = 30 + _LANE_H * len(members) + 24
    out = [f'<svg width="{_LABEL_W + _PLOT_W + 10}" '
           f'height="{height}" class="timeline" role="img" aria-label="{html.escape(caption)}">',
           '<defs><marker id="head" viewBox="0 0 6 6" refX="6" refY="3" markerWidth="6" markerHeight="6" '
           'orient="auto"><path d="M0,0 L6,3 L0,6 z" fill="#555"/></marker></defs>' if arrows else ""]

    def y(m: str) -> int:
        return 24 + _LANE_H * lane[m]

    for seg in data.cluster_faults:
        if seg.end_us < t0 or seg.start_us > t1:
            continue
        a, b = _x(max(seg.start_us, t0), t0, t1), _x(min(seg.end_us, t1), t0, t1)
        out.append(f'<rect class="cluster-fault" x="{a:.1f}" y="18" width="{max(b - a, 2):.1f}" '
                   f'height="{_LANE_H * len(members) + 8}"><title>{html.escape(seg.label)} '
                   f'({seg.start_us / 1e6:.3f}s to {seg.end_us / 1e6:.3f}s)</title></rect>')
        out.append(f'<text class="fault-label" x="{a + 2:.1f}" y="14">{html.escape(seg.label[:48])}</text>')
    for m in members:
        out.append(f'<text class="member" x="4" y="{y(m) + 16}">{html.escape(m)}</text>')
        out.append(f'<line class="lane" x1="{_LABEL_W}" x2="{_LABEL_W + _PLOT_W}" '
                   f'y1="{y(m) + _LANE_H - 4}" y2="{y(m) + _LANE_H - 4}"/>')
        for seg in data.roles[m]:
            if seg.end_us < t0 or seg.start_us > t1:
                continue
            a, b = _x(max(seg.start_us, t0), t0, t1), _x(min(seg.end_us, t1), t0, t1)
            colour = _ROLE_COLOURS.get(seg.label, "#ddd")
            out.append(f'<rect class="role role-{html.escape(seg.label)}" x="{a:.1f}" y="{y(m) + 4}" '
                       f'width="{max(b - a, 0.5):.1f}" height="18" fill="{colour}"><title>{m}: '
                       f'{html.escape(seg.label)} of term {seg.term}, {seg.start_us / 1e6:.3f}s to '
                       f'{seg.end_us / 1e6:.3f}s</title></rect>')
            if b - a > 22:
                out.append(f'<text class="term" x="{a + 2:.1f}" y="{y(m) + 17}">'
                           f'{"L" if seg.label == "leader" else ""}t{seg.term}</text>')
        for seg in data.member_faults[m]:
            if seg.end_us < t0 or seg.start_us > t1:
                continue
            a, b = _x(max(seg.start_us, t0), t0, t1), _x(min(seg.end_us, t1), t0, t1)
            cls = "down" if seg.label.startswith("down") else "paused" if seg.label == "paused" else "clock"
            out.append(f'<rect class="member-fault {cls}" x="{a:.1f}" y="{y(m) + 2}" '
                       f'width="{max(b - a, 2):.1f}" height="22"><title>{m}: {html.escape(seg.label)} '
                       f'({seg.start_us / 1e6:.3f}s to {seg.end_us / 1e6:.3f}s)</title></rect>')
    if arrows:
        for arrow in data.arrows:
            if arrow.delivered_us < t0 or arrow.src not in lane or arrow.dst not in lane:
                continue
            sent = max(t0, arrow.delivered_us - data.min_latency_us)
            x1, x2 = _x(sent, t0, t1), _x(arrow.delivered_us, t0, t1)
            y1, y2 = y(arrow.src) + 13, y(arrow.dst) + 13
            out.append(f'<line class="msg msg-{arrow.kind}" x1="{x1:.1f}" y1="{y1}" x2="{x2:.1f}" '
                       f'y2="{y2}" marker-end="url(#head)"><title>{html.escape(arrow.text)}</title></line>')
    vx = _x(data.violation_us, t0, t1)
    out.append(f'<line class="violation" x1="{vx:.1f}" x2="{vx:.1f}" y1="18" y2="{height - 18}"/>')
    out.append(f'<text class="violation-label" x="{min(vx, _LABEL_W + _PLOT_W - 70) - 2:.1f}" '
               f'y="{height - 6}" text-anchor="end">violation {data.violation_us / 1e6:.6f}s</text>')
    out.append(f'<text class="axis" x="{_LABEL_W}" y="{height - 6}">{t0 / 1e6:.3f}s</text>')
    out.append(f'<text class="axis" x="{_LABEL_W + _PLOT_W}" y="{height - 6}" text-anchor="end">'
               f'{t1 / 1e6:.3f}s</text>')
    out.append("</svg>")
    return "\n".join(out)


def _log_table(data: TimelineData, index: int | None) -> str:
    hi = max((log.last_index for log in data.logs), default=0)
    focus = index if index is not None else max((log.commit_index for log in data.logs), default=0)
    lo = max(1, min(focus, hi) - _LOG_CELLS_BEFORE)
    hi = max(hi, lo)
    head = "".join(f'<th class="{"focus" if i == index else ""}">{i}</th>' for i in range(lo, hi + 1))
    rows = []
    for log in data.logs:
        cells = []
        for i in range(lo, hi + 1):
            term = log.term_at(i)
            cls = ["entry"]
            if i == index:
                cls.append("focus")
            if i <= log.commit_index:
                cls.append("committed")
            if i <= log.base_index:
                cells.append(f'<td class="{" ".join(cls)} snap" title="in a snapshot">s</td>')
            elif term is None:
                cells.append(f'<td class="{" ".join(cls)} empty"></td>')
            else:
                cells.append(f'<td class="{" ".join(cls)}" style="background:{_term_colour(term)}" '
                             f'title="index {i}, term {term}{", committed" if i <= log.commit_index else ""}">'
                             f'{term}</td>')
        rows.append(f'<tr><th class="member">{html.escape(log.member)}</th><td class="state">'
                    f'{html.escape(log.role)}, term {log.term}, commit {log.commit_index}, last '
                    f'{log.last_index}</td>{"".join(cells)}</tr>')
    return (f'<table class="logs"><tr><th>member</th><th>when the run stopped</th>{head}</tr>'
            + "".join(rows) + "</table>")


def _term_colour(term: int) -> str:
    hue = (term * 67) % 360
    return f"hsl({hue},60%,80%)"


_CSS = """
body{font-family:system-ui,sans-serif;margin:1em;color:#222}
h1{font-size:1.3em;color:#b00020} h2{font-size:1.1em;margin-top:1.4em}
pre{background:#f6f6f6;padding:.6em;white-space:pre-wrap;font-size:.85em}
svg.timeline{display:block;margin:.3em 0 1em 0;font-size:11px}
svg .member{font-weight:bold;font-size:12px} svg .lane{stroke:#eee}
svg .term{font-size:10px;fill:#000} svg .axis{fill:#666}
svg .cluster-fault{fill:#fbb4ae;opacity:.35} svg .fault-label{fill:#a50f15;font-size:10px}
svg .member-fault.down{fill:#737373;opacity:.75} svg .member-fault.paused{fill:#bdbdbd;opacity:.8}
svg .member-fault.clock{fill:#756bb1}
svg .violation{stroke:#b00020;stroke-width:2} svg .violation-label{fill:#b00020;font-weight:bold}
svg .msg{stroke:#9e9e9e;stroke-width:1} svg .msg-vote,svg .msg-pre_vote{stroke:#e6550d}
svg .msg-vote_resp,svg .msg-pre_vote_resp{stroke:#fdae6b} svg .msg-append{stroke:#3182bd}
svg .msg-append_resp{stroke:#9ecae1} svg .msg-snapshot{stroke:#756bb1;stroke-width:2}
table.logs{border-collapse:collapse;font-size:12px} table.logs td,table.logs th{border:1px solid #ccc;
 padding:2px 4px;text-align:center;min-width:1.6em} table.logs td.state{text-align:left;white-space:nowrap}
table.logs .focus{outline:2px solid #b00020} table.logs td.committed{font-weight:bold;
 border-bottom:3px solid #222} table.logs td.empty{background:#fafafa}
.legend span{display:inline-block;padding:0 .5em;margin-right:.4em;border-radius:3px}
"""


def render_timeline_html(result: RunResult, path: str | pathlib.Path | None = None) -> str:
    """Write (when ``path`` is given) and return the page for ``result`` (a failed run)."""
    violation = result.first_violation()
    assert violation is not None, "a timeline report is drawn for a failed run"
    data = timeline_data(result)
    scenario = result.scenario
    t1 = max(data.end_us, 1)
    z0 = max(0, data.violation_us - _DETAIL_WINDOW_US)
    others = "".join(f"<li>{html.escape(v.property)}: {html.escape(v.message.splitlines()[0])}</li>"
                     for v in result.violations[1:])
    legend = "".join(f'<span style="background:{c}">{html.escape(role)}</span>'
                     for role, c in _ROLE_COLOURS.items())
    page = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>raftkv: {html.escape(violation.property)} violated</title>
<style>{_CSS}</style></head>
<body>
<h1>{html.escape(violation.property)} violated</h1>
<pre class="violation-message">{html.escape(violation.message)}</pre>
{f"<p>Also violated:</p><ul>{others}</ul>" if others else ""}
<p>{html.escape(_first_line(scenario.describe()))}; {html.escape(result.summary().splitlines()[0])}</p>
<p class="legend">Roles: {legend} <span style="background:#737373;color:#fff">down (crashed)</span>
<span style="background:#bdbdbd">paused</span> <span style="background:#756bb1;color:#fff">clock fault</span>
<span style="background:#fbb4ae">partition, cut or network fault (until healed)</span>.
A band's label <b>tN</b> is the term (<b>LtN</b>: leader of term N); hover anything for details.</p>
<h2>The whole run</h2>
{_lanes_svg(data, 0, t1, arrows=False, caption="roles and terms of every member over the whole run")}
<h2>The last {_DETAIL_WINDOW_US / 1e6:g} s before the violation, with the Raft messages</h2>
<p>Each arrow ends when the message was delivered; the send time is not traced, so arrows start
the network's minimum latency ({data.min_latency_us / 1000:g} ms) earlier.
Blue: append; light blue: append responses; orange: (pre-)votes; purple: snapshots; grey: the rest.
{"" if data.arrows else "<b>No messages in this trace</b> (the run was traced without them)."}</p>
{_lanes_svg(data, z0, t1, arrows=True, caption="the moments before the violation, with messages")}
<h2>Logs when the run stopped</h2>
<p>One cell per entry, showing its term (colour by term); a bold cell with a thick underline is
at or below that member's commit index; <b>s</b>: in a snapshot; outlined: the violation's index.</p>
{_log_table(data, violation.index)}
<h2>Replay</h2>
<pre>raftkv replay {html.escape(result.token)}</pre>
</body></html>
"""
    if path is not None:
        pathlib.Path(path).write_text(page, encoding="utf-8")
    return page


def _first_line(text: str) -> str:
    return text.splitlines()[0] if text else ""
