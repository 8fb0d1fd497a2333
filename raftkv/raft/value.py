"""Value: the base of the hand-written immutable values on the simulation's hot path.

Most of raftkv's values are attrs classes.  The few built and read millions of times
per run (messages, log entries, hard states, Ready batches) are written out by hand on
this base instead, so the compiled build makes them native classes: fields read
without a dictionary lookup, and ``Final`` fields that are read-only there (mypy
enforces it everywhere).  A subclass lists its fields in ``FIELDS`` (its ``__slots__``
too) and returns them, in that order, from ``_fields()``; this base gives it the
equality, hashing, ``repr`` and pickling of an attrs value with those fields.
"""

from __future__ import annotations

from typing import Any, ClassVar

__all__ = ["Value"]


class Value:
    __slots__ = ()
    FIELDS: ClassVar[tuple[str, ...]] = ()

    def _fields(self) -> tuple[object, ...]:
        raise NotImplementedError

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        assert isinstance(other, Value)
        return self._fields() == other._fields()

    def __hash__(self) -> int:
        return hash(self._fields())

    def __repr__(self) -> str:
        parts = ", ".join(f"{name}={value!r}" for name, value in zip(self.FIELDS, self._fields()))
        return f"{type(self).__name__}({parts})"

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild, (type(self), self._fields()))


def _rebuild(cls: type[Value], fields: tuple[object, ...]) -> Value:
    """Unpickles a :class:`Value` (its constructor takes keyword arguments only)."""
    return cls(**dict(zip(cls.FIELDS, fields)))
