"""Human-readable reports of a scenario run (used by ``raftkv sim``, ``replay``, ``explore``)."""

from __future__ import annotations

from raftkv.sim import RunResult

__all__ = ["failure_report", "run_report"]


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
