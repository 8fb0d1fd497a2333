"""Hand-built histories shared by the checker's tests."""

from __future__ import annotations

from raftkv.check import HistoryBuilder


def hard_history(n: int = 10) -> HistoryBuilder:
    """Timed-out writes of distinct values, every one of them read by someone (so no
    two are twins), and a read order no linearization allows: deciding it takes many
    thousand search steps."""
    b = HistoryBuilder()
    for p in range(n):
        b.invoke(p, "write", value=p)
    for p in range(n):
        b.info(p, "write", value=p)
    for p in range(n):
        b.invoke(200 + p, "read")
    for v in (3, 5, 3):
        b.invoke(99, "read")
        b.ok(99, "read", value=v)
    for p in range(n):
        b.ok(200 + p, "read", value=p)
    return b
