"""Human-readable reports of a scenario run (used by ``raftkv sim``, ``replay``, ``explore``)."""

from __future__ import annotations

from raftkv.sim import RunResult

__all__ = ["failure_report", "run_report", "write_run_html"]


def write_run_html(result: RunResult, path: str) -> bool:
    """Write the HTML report of a run to ``path``, led by the property that broke, if one did.

    A Raft safety violation gets the members' timeline (roles, terms, logs, messages,
    faults: :mod:`raftkv.timeline`); any other run gets the client history report, headed
    by the broken property when it is not linearizability itself.  False when there is
    nothing to draw (a passing run of a system with no client history)."""
    first = result.first_violation()
    if first is not None and first.property.startswith("raft."):
        from raftkv.timeline import render_timeline_html

        render_timeline_html(result, path)
        return True
    if first is None or first.property == "linearizability":
        return result.system.write_html(path)
    detail = "\n".join(f"{v.property}: {v.message}" for v in result.violations)
    return result.system.write_html(path, headline=f"{first.property} violated", headline_detail=detail)


def run_report(result: RunResult, *, tail: int = 0, full_trace: bool = False) -> str:
    lines = ["scenario:", _indent(result.scenario.describe()), "", result.summary()]
    lines.append(f"trace: {len(result.trace)} events, hash {result.trace.hash()[:16]}")
    if not result.ok:
        lines += ["", failure_report(result)]
    if full_trace:
        lines += ["", "trace:", result.trace.render()]
    elif tail:
        lines += ["", f"trace tail (last {tail} events):", result.trace.render(tail=tail)]
    lines += ["", f"replay: raftkv replay {result.token}"]
    return "\n".join(lines)


def failure_report(result: RunResult) -> str:
    first = result.first_violation()
    assert first is not None, "failure_report of a passing run"
    lines = [f"property violated: {first.property}", _indent(first.message)]
    for other in result.violations[1:]:
        lines.append(f"also violated: {other.property}: {other.message.splitlines()[0] if other.message else ''}")
    return "\n".join(lines)


def _indent(text: str, prefix: str = "  ") -> str:
    return "\n".join(prefix + line if line else line for line in text.splitlines())
