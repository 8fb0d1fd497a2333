"""The command line: help on every command, exit codes, one-line errors."""

from __future__ import annotations

import subprocess
import sys

import pytest

from raftkv.cli import main
from raftkv.exit_status import EXIT_BAD_INPUT, EXIT_OK, EXIT_UNKNOWN, EXIT_VIOLATION
from raftkv.sim import Scenario, scenario_to_json, scenario_to_token


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "raftkv.cli", *args], capture_output=True, text=True)


@pytest.mark.parametrize("command", ["sim", "replay", "bugs", "check"])
def test_every_command_explains_itself(command: str) -> None:
    proc = _run(command, "--help")
    assert proc.returncode == 0, proc.stderr
    assert "usage:" in proc.stdout and len(proc.stdout) > 100


def test_sim_demo_prints_summary_and_replay_token(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["sim", "--demo", "--seed", "3", "--duration", "3", "--settle", "1"]) == 0
    out = capsys.readouterr().out
    assert "result: OK" in out and "raftkv replay rk1_" in out


def test_replay_reproduces_the_same_trace(capsys: pytest.CaptureFixture[str]) -> None:
    main(["sim", "--demo", "--seed", "9", "--duration", "2", "--settle", "1"])
    first = capsys.readouterr().out
    token = first.rsplit("raftkv replay ", 1)[1].strip()
    assert main(["replay", token]) == 0
    second = capsys.readouterr().out
    hash_line = [line for line in first.splitlines() if line.startswith("trace:")]
    assert hash_line and hash_line == [line for line in second.splitlines() if line.startswith("trace:")]


def test_replay_from_file_and_save(tmp_path, capsys: pytest.CaptureFixture[str]) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "s.json"
    assert main(["sim", "--demo", "--seed", "2", "--duration", "1", "--settle", "0", "--save", str(path)]) == 0
    assert main(["replay", str(path)]) == 0
    assert "result: OK" in capsys.readouterr().out


def test_bad_token_is_one_line_bad_input() -> None:
    proc = _run("replay", "rk1_garbage!")
    assert proc.returncode == EXIT_BAD_INPUT
    assert proc.stderr.strip().count("\n") == 0 and "corrupted" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_missing_file_is_one_line_bad_input() -> None:
    proc = _run("replay", "/nonexistent/scenario.json")
    assert proc.returncode == EXIT_BAD_INPUT and "no such file" in proc.stderr and "Traceback" not in proc.stderr


def test_bad_scenario_file_names_the_field(tmp_path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "bad.json"
    path.write_text('{"seed": 1, "cluster": {"members": "three"}}')
    proc = _run("replay", str(path))
    assert proc.returncode == EXIT_BAD_INPUT
    assert "scenario.cluster.members: expected an integer" in proc.stderr


def test_unknown_bug_is_refused() -> None:
    proc = _run("sim", "--demo", "--bug", "nope")
    assert proc.returncode == EXIT_BAD_INPUT and "unknown bug 'nope'" in proc.stderr


def test_bugs_lists_the_catalogue(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bugs"]) == 0
    out = capsys.readouterr().out
    assert "figure8_commit" in out and "watch_resume_at_last_revision" in out


def test_token_and_json_are_accepted_interchangeably(tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    scenario = Scenario(seed=5, system="demo", duration_us=500_000, settle_us=0)
    path = tmp_path / "x.json"
    path.write_text(scenario_to_json(scenario))
    assert main(["replay", str(path)]) == 0
    a = capsys.readouterr().out
    assert main(["replay", scenario_to_token(scenario)]) == 0
    assert a == capsys.readouterr().out


def test_explore_finds_saves_and_replays_a_catalogued_bug(tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "out"
    code = main(["explore", "--suite", "raft_reads", "--bug", "read_without_readindex",
                 "--workers", "1", "--time", "40s", "--seed", "3", "--out", str(out), "--quiet"])
    printed = capsys.readouterr().out
    assert code == 1, printed
    assert "raft_reads" in printed and "distinct failure" in printed
    folders = sorted(out.iterdir())
    assert [f.name.split("-", 2)[1] for f in folders] == ["raft_reads"], folders
    saved = folders[0]
    for name in ("token.txt", "scenario.json", "trace.txt", "report.txt", "report.html"):
        assert (saved / name).stat().st_size > 0, name
    token = (saved / "token.txt").read_text().strip()
    assert f"raftkv replay {token}" in printed
    assert main(["replay", token]) == 1
    assert main(["replay", str(saved)]) == 1


def test_explore_with_no_bug_counts_its_examples(tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    code = main(["explore", "--suite", "raft_safety", "--workers", "2", "--examples", "4",
                 "--out", str(tmp_path), "--quiet"])
    printed = capsys.readouterr().out
    assert code == 0, printed
    assert "no property failed" in printed
    line = next(ln for ln in printed.splitlines() if ln.strip().startswith("raft_safety"))
    assert int(line.split()[1]) >= 4, line
    assert not any(tmp_path.iterdir())


def test_one_exit_status_scheme() -> None:
    # 2 is argparse's own usage-error status: bad input and bad usage share it.
    assert (EXIT_OK, EXIT_VIOLATION, EXIT_BAD_INPUT, EXIT_UNKNOWN) == (0, 1, 2, 3)


@pytest.mark.parametrize(("args", "named", "allowed"), [
    (("sim", "--members", "0"), "--members", "1..7"),
    (("sim", "--members", "-1"), "--members", "1..7"),
    (("sim", "--members", "8"), "--members", "1..7"),
    (("sim", "--duration", "0"), "--duration", "> 0"),
    (("sim", "--duration", "nan"), "--duration", "> 0"),
    (("sim", "--settle", "-1"), "--settle", ">= 0"),
    (("sim", "--faults", "-3"), "--faults", "0..1000"),
    (("sim", "--clients", "-1"), "--clients", "0..100"),
    (("sim", "--rate", "-5"), "--rate", "0..100000"),
    (("sim", "--seed", "x"), "--seed", "int"),
    (("replay", "x", "--tail", "-2"), "--tail", ">= 0"),
    (("explore", "--workers", "0"), "--workers", "1..256"),
    (("explore", "--examples", "0"), "--examples", ">= 1"),
    (("explore", "--time", "0"), "--time", "positive"),
    (("explore", "--time", "soon"), "--time", "duration"),
    (("explore", "--suite", "nosuch", "--examples", "1"), "nosuch", "suites:"),
    (("check", "--model", "nosuch", "h.jsonl"), "--model", "choose from"),
    (("sim", "--nosuch"), "--nosuch", "unrecognized"),
    (("nosuch",), "nosuch", "invalid choice"),
])
def test_bad_argument_is_one_line_naming_it(args: tuple[str, ...], named: str, allowed: str) -> None:
    proc = _run(*args)
    assert proc.returncode == EXIT_BAD_INPUT, proc.stderr
    assert "Traceback" not in proc.stderr and proc.stderr.strip().count("\n") == 0, proc.stderr
    assert named in proc.stderr and allowed in proc.stderr, proc.stderr
    assert proc.stdout == ""


def test_main_returns_usage_errors_instead_of_exiting(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["sim", "--members", "0"]) == EXIT_BAD_INPUT
    assert "--members" in capsys.readouterr().err


def test_help_texts_are_true() -> None:
    top = " ".join(_run("--help").stdout.split())
    # 'bugs' takes no --bug: its help points to the commands that do, and they take it
    assert "bugs --bug" not in top and "'sim --bug NAME'" in top and "'explore --bug NAME'" in top
    assert _run("bugs", "--bug", "figure8_commit").returncode == EXIT_BAD_INPUT
    for command in ("sim", "explore"):
        assert "--bug NAME" in _run(command, "--help").stdout
