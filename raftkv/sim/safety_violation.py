"""SafetyViolation: what the online Raft safety checker raises.

Kept apart from :mod:`raftkv.sim.safety` so the checker can be compiled (see
``setup.py``): an exception class deriving from a builtin one stays interpreted.
"""

from __future__ import annotations

__all__ = ["SafetyViolation"]


class SafetyViolation(AssertionError):
    def __init__(self, prop: str, *, nodes: tuple[str, ...], term: int | None,
                 index: int | None, detail: str, trace_tail: str, time_us: int) -> None:
        self.prop = prop
        self.nodes = nodes
        self.term = term
        self.index = index
        self.detail = detail
        self.trace_tail = trace_tail
        self.time_us = time_us
        # Without the trace tail: run reports print the tail themselves.
        self.summary = "\n".join([
            f"Raft safety violated: {prop}",
            f"  members: {', '.join(nodes)}",
            f"  term: {term}   index: {index}   at: {time_us} us",
            f"  {detail}",
        ])
        tail_lines = ["  trace tail:", *("    " + line for line in trace_tail.splitlines())]
        super().__init__("\n".join([self.summary, *tail_lines]))
