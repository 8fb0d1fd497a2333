"""``explore --database``: failing examples kept per suite and bugs, replayed first, shareable read-only."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import pytest
from hypothesis.database import ExampleDatabase

from raftkv.cli import main
from raftkv.exampledb import ExampleDatabaseError, open_example_database, suite_database
from raftkv.hunt import hunt
from raftkv.sim import Scenario


def _files(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


class _Spy(ExampleDatabase):
    """An example database that remembers which keys were read."""

    def __init__(self, inner: ExampleDatabase) -> None:
        super().__init__()
        self.inner = inner
        self.fetched: list[bytes] = []

    def save(self, key: bytes, value: bytes) -> None:
        self.inner.save(key, value)

    def fetch(self, key: bytes) -> Iterable[bytes]:
        self.fetched.append(key)
        return self.inner.fetch(key)

    def delete(self, key: bytes, value: bytes) -> None:
        self.inner.delete(key, value)

    def move(self, src: bytes, dest: bytes, value: bytes) -> None:
        self.inner.move(src, dest, value)


def test_a_failure_kept_in_the_database_is_the_first_example_of_the_next_campaign(tmp_path: Path) -> None:
    folder = tmp_path / "db"
    bugs = ["read_without_readindex"]
    shrunk: list[Scenario] = []  # hypothesis' shrunk example, before raftkv's own reduction
    first = hunt("raft_reads", bugs=bugs, max_examples=200, seed=3,
                 database=open_example_database(folder, read_only=False), shrink_budget_s=20,
                 on_shrink=lambda scenario, _violation: shrunk.append(scenario))
    assert first.finding is not None and len(shrunk) == 1
    saved = _files(folder)
    assert saved, "the failing example was not saved"
    # Another seed, the database only read: the kept (shrunk) example comes first and fails again.
    seen: list[Scenario] = []
    again = hunt("raft_reads", bugs=bugs, max_examples=200, seed=77, shrink_budget_s=20,
                 database=open_example_database(folder, read_only=True),
                 on_example=lambda scenario, _violation: seen.append(scenario))
    assert seen[0] == shrunk[0]
    assert again.finding is not None and again.finding.examples_to_first == 1
    assert again.finding.violation.property == first.finding.violation.property
    assert _files(folder) == saved  # read-only: nothing written


def test_suites_and_bug_sets_have_their_own_share_of_a_database(tmp_path: Path) -> None:
    db = open_example_database(tmp_path, read_only=False)
    suite_database(db, "watch", ["b", "a"]).save(b"k", b"v1")
    assert list(suite_database(db, "watch", ["a", "b"]).fetch(b"k")) == [b"v1"]
    assert list(suite_database(db, "watch", []).fetch(b"k")) == []
    assert list(suite_database(db, "lease", ["a", "b"]).fetch(b"k")) == []
    assert list(db.fetch(b"k")) == []


def test_a_batch_that_does_not_replay_reads_nothing_and_others_read_once(tmp_path: Path) -> None:
    spy = _Spy(open_example_database(tmp_path, read_only=False))
    hunt("raft_reads", max_examples=4, batch=2, seed=1, database=spy, replay_saved=False, shrink=False)
    assert spy.fetched == []
    hunt("raft_reads", max_examples=4, batch=2, seed=1, database=spy, shrink=False)
    assert spy.fetched and all(k.startswith(b"raftkv:raft_reads::") for k in spy.fetched)
    primary = [k for k in spy.fetched if not k.endswith((b".secondary", b".pareto"))]
    assert len(primary) == 1  # replayed by the first hypothesis run of the hunt, not by each


def test_bad_database_folders_get_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(ExampleDatabaseError, match="no such folder"):
        open_example_database(tmp_path / "missing", read_only=True)
    (tmp_path / "file").write_text("x")
    with pytest.raises(ExampleDatabaseError, match="is not a folder"):
        open_example_database(tmp_path / "file", read_only=False)
    assert main(["explore", "--database", str(tmp_path / "missing"), "--database-readonly",
                 "--examples", "1", "--quiet"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no such folder" in err[0], err
    assert main(["explore", "--database-readonly", "--examples", "1", "--quiet"]) == 2
    assert "needs --database" in capsys.readouterr().err
