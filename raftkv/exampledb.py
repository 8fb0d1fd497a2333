"""Hypothesis example databases for campaigns: failing examples kept per suite and bugs.

``raftkv explore --database DIR`` keeps hypothesis' failing examples in ``DIR`` (a
:class:`hypothesis.database.DirectoryBasedExampleDatabase`) and replays them first when a
campaign runs a suite again, so a failure found once is found again at once.  With
``--database-readonly`` (and always on Dask workers) the folder is only read: several
machines can share one folder (a network mount) without writing to it.

Hypothesis keys a database entry by the test function; every suite runs through the same
function in :func:`raftkv.hunt.hunt`, so :class:`SuiteDatabase` puts the suite and the bugs
switched on in front of every key.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

from hypothesis.database import DirectoryBasedExampleDatabase, ExampleDatabase, ReadOnlyDatabase

__all__ = ["ExampleDatabaseError", "SuiteDatabase", "open_example_database", "suite_database"]


class ExampleDatabaseError(ValueError):
    """The example database folder cannot be used (one line, for the command line)."""


class SuiteDatabase(ExampleDatabase):
    """``inner`` with every key prefixed by ``prefix`` (one suite and bug set's share)."""

    def __init__(self, inner: ExampleDatabase, prefix: bytes) -> None:
        super().__init__()
        assert prefix, "a suite database needs a prefix"
        self.inner = inner
        self.prefix = prefix

    def __repr__(self) -> str:
        return f"SuiteDatabase({self.inner!r}, {self.prefix!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, SuiteDatabase) and (self.inner, self.prefix) == (other.inner, other.prefix)

    def __hash__(self) -> int:
        return hash((self.prefix, id(self.inner)))

    def save(self, key: bytes, value: bytes) -> None:
        self.inner.save(self.prefix + key, value)

    def fetch(self, key: bytes) -> Iterable[bytes]:
        return self.inner.fetch(self.prefix + key)

    def delete(self, key: bytes, value: bytes) -> None:
        self.inner.delete(self.prefix + key, value)

    def move(self, src: bytes, dest: bytes, value: bytes) -> None:
        self.inner.move(self.prefix + src, self.prefix + dest, value)


def open_example_database(path: str | Path, *, read_only: bool) -> ExampleDatabase:
    """The example database in folder ``path``; a read-only one must exist already."""
    folder = Path(path)
    if folder.exists() and not folder.is_dir():
        raise ExampleDatabaseError(f"example database {str(folder)!r} is not a folder")
    if read_only:
        if not folder.is_dir():
            raise ExampleDatabaseError(f"example database {str(folder)!r}: no such folder (a read-only "
                                       "database is only read, never created)")
        return ReadOnlyDatabase(DirectoryBasedExampleDatabase(str(folder)))
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ExampleDatabaseError(f"example database {str(folder)!r}: cannot create it ({exc.strerror})") from None
    return DirectoryBasedExampleDatabase(str(folder))


def suite_database(database: ExampleDatabase, suite: str, bugs: Sequence[str]) -> SuiteDatabase:
    """The share of ``database`` for ``suite`` run with ``bugs`` switched on."""
    return SuiteDatabase(database, f"raftkv:{suite}:{','.join(sorted(bugs))}:".encode())
