"""The finding type shared by the watch and lease checkers."""

from __future__ import annotations

import attrs

__all__ = ["Violation"]


@attrs.frozen(kw_only=True)
class Violation:
    """A broken guarantee, with the history records that show it."""

    guarantee: str  # e.g. "ordered", "reliable", "lease_kept_alive"
    message: str
    records: tuple[int, ...] = ()  # indexes in History.records
    watch_id: str | None = None
    key: str | int | None = None

    def __str__(self) -> str:
        where = f" (records {', '.join(map(str, self.records))})" if self.records else ""
        return f"[{self.guarantee}] {self.message}{where}"
