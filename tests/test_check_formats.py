"""The JSON-lines and EDN history formats, and the CLI."""

from __future__ import annotations

import io
import json
import pathlib

import pytest
from history_helpers import hard_history

from raftkv.check import (
    HistoryBuilder,
    HistoryFormatError,
    KeyValue,
    WatchEvent,
    read_history,
)
from raftkv.check.cli import EXIT_BAD_INPUT, EXIT_OK, EXIT_UNKNOWN, EXIT_VIOLATION, main
from raftkv.check.edn import parse_edn


def _sample() -> HistoryBuilder:
    b = HistoryBuilder()
    b.invoke(0, "put", "k", "a", lease=7)
    b.ok(0, "put", "k", "a", revision=2, lease=7)
    b.invoke(1, "get", "k")
    b.ok(1, "get", "k", "a", revision=2, mod_revision=2, create_revision=2, version=1, lease=7)
    b.invoke(1, "cas", "k", ["a", "b"])
    b.ok(1, "cas", "k", ["a", "b"], succeeded=True, revision=3)
    b.watch_open(2, "w1", "k", start_revision=2, prev_kv=True, filters=("nodelete",))
    b.watch_response(2, "w1", 3, [
        WatchEvent(type="PUT", key="k", value="a", create_revision=2, mod_revision=2, version=1, lease=7),
        WatchEvent(type="PUT", key="k", value="b", create_revision=2, mod_revision=3, version=2,
                   prev_kv=KeyValue(key="k", value="a", create_revision=2, mod_revision=2, version=1, lease=7)),
    ])
    return b


def test_jsonl_round_trip(tmp_path: pathlib.Path) -> None:
    b = _sample()
    path = tmp_path / "h.jsonl"
    b.write(path)
    lines = path.read_text().splitlines()
    assert json.loads(lines[0]) == {"type": "invoke", "process": 0, "f": "put", "key": "k",
                                    "value": "a", "time_us": 1, "lease": 7}
    assert json.loads(lines[4])["value"] == ["a", "b"]
    h = read_history(path)
    assert h.records == tuple(b.records)
    assert [op.f for op in h.operations] == ["put", "get", "cas"]
    assert h.operations[1].mod_revision == 2 and h.operations[1].value == "a"
    assert h.operations[2].value == ("a", "b") and h.operations[2].succeeded is True
    assert len(h.watch_opens) == 1 and h.watch_responses[0][1].events[1].prev_kv is not None


@pytest.mark.parametrize(("line", "needle"), [
    ('{"type": "ok", "process": 0, "f": "get"}', "no pending invocation"),
    ('{"type": "begin", "process": 0, "f": "get"}', "field 'type'"),
    ('{"type": "invoke", "f": "get"}', "missing field 'process'"),
    ('{"type": "invoke", "process": 0, "f": "get", "revision": "x"}', "'revision' must be an integer"),
    ('not json', "invalid JSON"),
    ('[1, 2]', "expected a JSON object"),
    ('{"type": "watch_response", "process": 0, "watch_id": 1}', "header 'revision'"),
])
def test_jsonl_errors_name_the_problem(tmp_path: pathlib.Path, line: str, needle: str) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text(line + "\n")
    with pytest.raises(HistoryFormatError, match=needle) as exc:
        read_history(path)
    assert "bad.jsonl:1" in str(exc.value) or "record 0" in str(exc.value)


def test_completion_f_must_match_invocation(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "h.jsonl"
    path.write_text('{"type":"invoke","process":0,"f":"put","key":"k","value":1}\n'
                    '{"type":"ok","process":0,"f":"get","key":"k","value":1}\n')
    with pytest.raises(HistoryFormatError, match="completes f='get'"):
        read_history(path)


EDN_LINES = """\
{:process 0, :type :invoke, :f :write, :value 3, :time 1000}
{:process 1, :type :invoke, :f :read, :value nil, :time 2000}
{:process 0, :type :ok, :f :write, :value 3, :time 3000}
{:process :nemesis, :type :info, :f :start-partition, :value nil}
{:process 1, :type :ok, :f :read, :value 3, :time 4000}
{:process 2, :type :invoke, :f :cas, :value [3 4], :time 5000}
{:process 2, :type :info, :f :cas, :value [3 4], :time 6000, :error :timeout}
{:process 7, :type :invoke, :f :read, :value nil, :time 7000}
{:process 7, :type :ok, :f :read, :value 4, :time 8000}
"""


def test_edn_one_map_per_line() -> None:
    h = parse_edn(EDN_LINES)
    assert [(op.process, op.f, op.value, op.outcome) for op in h.operations] == [
        (0, "write", 3, "ok"), (1, "read", 3, "ok"), (2, "cas", (3, 4), "info"), (7, "read", 4, "ok")]
    assert h.operations[0].invoke_time_us == 1 and h.operations[2].error == "timeout"


def test_edn_vector_and_tagged_records() -> None:
    text = ("[#jepsen.history.Op{:index 0 :process 0 :type :invoke :f :write :value 1}\n"
            " {:index 1 :process 0 :type :ok :f :write :value 1}]")
    h = parse_edn(text)
    assert [(op.f, op.value) for op in h.operations] == [("write", 1)]


def test_edn_independent_tuples_and_key_field() -> None:
    text = """\
{:process 0 :type :invoke :f :write :value [:x 1]}
{:process 0 :type :ok :f :write :value [:x 1]}
{:process 1 :type :invoke :f :read :value [:y nil]}
{:process 1 :type :ok :f :read :value [:y nil]}
{:process 1 :type :invoke :f :cas :value [:x [1 2]]}
{:process 1 :type :fail :f :cas :value [:x [1 2]]}
"""
    h = parse_edn(text)
    assert [(op.key, op.value) for op in h.operations] == [("x", 1), ("y", None), ("x", (1, 2))]
    h2 = parse_edn("{:process 0 :type :invoke :f :write :key 5 :value 1}\n"
                   "{:process 0 :type :ok :f :write :key 5 :value 1}")
    assert h2.operations[0].key == 5
    # a cas-register history without keys is not mistaken for independent tuples
    h3 = parse_edn("{:process 0 :type :invoke :f :cas :value [1 2]}\n{:process 0 :type :ok :f :cas :value [1 2]}")
    assert h3.operations[0].key is None and h3.operations[0].value == (1, 2)


def test_edn_errors() -> None:
    with pytest.raises(HistoryFormatError, match="invalid EDN"):
        parse_edn("{:process 0 :type")
    with pytest.raises(HistoryFormatError, match="not an operation map"):
        parse_edn("{:process 0 :type :invoke :f :read} 42")
    with pytest.raises(HistoryFormatError, match=":type"):
        parse_edn("{:process 0 :type :begin :f :read}")


# ------------------------------------------------------------------------ CLI


def run(argv: list[str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(argv, stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


def test_cli_exit_codes(tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]) -> None:
    good = tmp_path / "good.edn"
    good.write_text(EDN_LINES)
    code, out, _ = run([str(good)])
    assert code == EXIT_OK and out.startswith("ok:") and "cas-register" in out

    bad = tmp_path / "bad.edn"
    bad.write_text(EDN_LINES + "{:process 9 :type :invoke :f :read :value nil}\n"
                   "{:process 9 :type :ok :f :read :value 3}\n")
    code, out, _ = run([str(bad), "--model", "cas-register"])
    assert code == EXIT_VIOLATION and out.startswith("fail:") and "cannot place" in out

    code, _, err = run([str(tmp_path / "missing.jsonl")])
    assert code == EXIT_BAD_INPUT and err.count("\n") == 1 and "cannot read" in err

    junk = tmp_path / "junk.jsonl"
    junk.write_text('{"type": "ok", "process": 1, "f": "read"}\n')
    code, _, err = run([str(junk)])
    assert code == EXIT_BAD_INPUT and "no pending invocation" in err

    capsys.readouterr()
    code, _, _ = run([str(good), "--model", "nonsense"])  # argparse's usage error, on sys.stderr
    err = capsys.readouterr().err
    assert code == EXIT_BAD_INPUT and err.count("\n") == 1 and "--model" in err and "nonsense" in err

    code, _, err = run([str(good), "--lease-drift-ppm", "1000000"])
    assert code == EXIT_BAD_INPUT and err.count("\n") == 1 and "--lease-drift-ppm" in err
    code, _, err = run([str(good), "--lease-grace-ms", "-1"])
    assert code == EXIT_BAD_INPUT and "--lease-grace-ms" in err


def test_cli_unknown_on_budget(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "hard.jsonl"
    hard_history().write(path)
    assert run([str(path), "--max-steps", "200"])[0] == EXIT_UNKNOWN
    assert run([str(path), "--timeout", "0"])[0] == EXIT_UNKNOWN
    assert run([str(path)])[0] == EXIT_VIOLATION


def test_cli_initial_and_nil_reads(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "h.edn"
    path.write_text("{:process 0 :type :invoke :f :read :value nil}\n{:process 0 :type :ok :f :read :value 0}\n"
                    "{:process 0 :type :invoke :f :read :value nil}\n{:process 0 :type :ok :f :read :value nil}\n")
    assert run([str(path), "--model", "register"])[0] == EXIT_VIOLATION  # 0 was never written
    assert run([str(path), "--model", "register", "--initial", "0"])[0] == EXIT_OK  # nil read = unknown (knossos)
    assert run([str(path), "--model", "register", "--initial", "0", "--nil-reads", "value"])[0] == EXIT_VIOLATION
    assert run([str(path), "--model", "register", "--initial", "0", "--format", "jsonl"])[0] == EXIT_BAD_INPUT


def test_cli_etcd_runs_watch_checks(tmp_path: pathlib.Path) -> None:
    b = _sample()
    path = tmp_path / "h.jsonl"
    b.write(path)
    code, out, _ = run([str(path)])
    assert code == EXIT_OK, out
    assert "model etcd" in out
    b.watch_response(2, "w1", 3, [WatchEvent(type="PUT", key="k", value="b", create_revision=2,
                                             mod_revision=3, version=2)])
    b.write(path)
    code, out, _ = run([str(path)])
    assert code == EXIT_VIOLATION and "[unique]" in out
    assert run([str(path), "--no-watch"])[0] == EXIT_OK


def test_documented_examples_check(tmp_path: pathlib.Path) -> None:
    doc = (pathlib.Path(__file__).resolve().parent.parent / "docs" / "history-format.md").read_text()
    jsonl = doc.split("```json\n")[1].split("```")[0]
    edn = doc.split("```clojure\n")[1].split("```")[0]
    (tmp_path / "a.jsonl").write_text(jsonl)
    (tmp_path / "b.edn").write_text(edn)
    code, out, _ = run([str(tmp_path / "a.jsonl")])
    assert code == EXIT_OK and "model etcd" in out
    code, out, _ = run([str(tmp_path / "b.edn")])
    assert code == EXIT_OK and "model cas-register" in out
