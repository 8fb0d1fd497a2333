"""What checking public histories showed: EDN with comments or lists, nemesis-only
histories, one budget per key, bounded explanations, reads of values nothing wrote,
deep nesting, several files per command, Jepsen logs, light start-up."""

from __future__ import annotations

import io
import pathlib
import subprocess
import sys

import attrs
import pytest
from history_helpers import hard_history

from raftkv.check import HistoryEvent, RegisterModel, check_linearizable, make_history
from raftkv.check.cli import EXIT_BAD_INPUT, EXIT_OK, EXIT_UNKNOWN, EXIT_VIOLATION, main, worst_exit
from raftkv.check.edn import parse_edn
from raftkv.check.jepsenlog import parse_jepsen_log

ROOT = pathlib.Path(__file__).resolve().parent.parent


def run(argv: list[str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(argv, stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


def write(tmp_path: pathlib.Path, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def test_edn_with_leading_comment_or_list_is_edn(tmp_path: pathlib.Path) -> None:
    text = ("; a Jepsen history\n({:process 0, :type :invoke, :f :write, :value 1}\n"
            " {:process 0, :type :ok, :f :write, :value 1} ; done\n"
            " #_{:process 5 :type :ok} {:process 1, :type :invoke, :f :read, :value nil}\n"
            " {:process 1, :type :ok, :f :read, :value 1})\n")
    code, out, err = run([write(tmp_path, "h.edn", text)])
    assert code == EXIT_OK, err
    assert out.startswith("ok: 2 operations")


def test_nemesis_only_history_is_ok_with_zero_operations(tmp_path: pathlib.Path) -> None:
    text = ("{:process :nemesis, :type :info, :f :start, :value nil}\n"
            "{:process :nemesis, :type :info, :f :start, :value [:isolated {\"n1\" #{\"n2\"}}]}\n")
    code, out, _ = run([write(tmp_path, "n.edn", text)])
    assert code == EXIT_OK and out.startswith("ok: 0 operations")


def _keyed(b_events: list[object], key: str) -> list[HistoryEvent]:
    return [attrs.evolve(e, key=key, process=f"{key}{e.process}") for e in b_events]  # type: ignore[misc]


def test_each_key_has_its_own_budget_and_a_failing_key_decides() -> None:
    hard = _keyed(list(hard_history().history().events), "a")  # sorts first
    easy = [HistoryEvent(type="invoke", process="z", f="write", key="z", value=1),
            HistoryEvent(type="ok", process="z", f="write", key="z", value=1),
            HistoryEvent(type="invoke", process="z", f="write", key="z", value=2),
            HistoryEvent(type="ok", process="z", f="write", key="z", value=2),
            HistoryEvent(type="invoke", process="y", f="read", key="z"),
            HistoryEvent(type="ok", process="y", f="read", key="z", value=1)]
    history = make_history(hard + easy)
    for workers in (1, 2):
        res = check_linearizable(history, RegisterModel(), max_steps=300, workers=workers)
        assert res.verdict == "fail", res.explanation
        assert [k.key for k in res.failed_keys()] == ["z"]
    # the hard key alone, under the same budget, is unknown
    assert check_linearizable(make_history(hard), RegisterModel(), max_steps=300).verdict == "unknown"


def test_search_explaining_a_failure_stays_within_the_budget() -> None:
    history = hard_history().history()
    full = check_linearizable(history, RegisterModel())
    assert full.verdict == "fail" and not full.per_key[0].unexplained
    first_search = full.steps // 2  # the explaining search repeats the first one
    assert first_search > 1000
    res = check_linearizable(history, RegisterModel(), max_steps=first_search + 10)
    assert res.verdict == "fail" and res.per_key[0].unexplained
    assert res.steps <= first_search + 10 + 256
    assert "budget ran out while searching for the longest" in res.explanation


def test_read_of_a_value_nothing_wrote_is_refuted_without_search(tmp_path: pathlib.Path) -> None:
    events = []
    for p in range(40):  # 40 pending writes: a search would drown
        events.append(HistoryEvent(type="invoke", process=p, f="write", value=p))
    events.append(HistoryEvent(type="invoke", process=99, f="read"))
    events.append(HistoryEvent(type="ok", process=99, f="read", value=1234))
    res = check_linearizable(make_history(events), RegisterModel(), max_steps=1000)
    assert res.verdict == "fail" and res.steps == 0 and res.per_key[0].refuted
    assert "no operation on this key writes 1234" in res.explanation
    # the initial value and written values are fine
    ok = make_history([HistoryEvent(type="invoke", process=1, f="read"),
                       HistoryEvent(type="ok", process=1, f="read", value=7)])
    assert check_linearizable(ok, RegisterModel(7)).verdict == "ok"


@pytest.mark.parametrize(("name", "text"), [
    ("deep.edn", "{:process 0 :type :invoke :f :write :value " + "[" * 100_000 + "\n"),
    ("deep.jsonl", '{"type":"invoke","process":0,"f":"write","value":' + "[" * 100_000 + "]" * 100_000 + "}\n"),
])
def test_deep_nesting_is_one_line_of_bad_input(tmp_path: pathlib.Path, name: str, text: str) -> None:
    code, _, err = run([write(tmp_path, name, text)])
    assert code == EXIT_BAD_INPUT
    assert err.count("\n") == 1 and "nested deeper" in err and "Traceback" not in err


def test_edn_errors_give_line_and_column(tmp_path: pathlib.Path) -> None:
    text = "{:process 0, :type :invoke, :f :read, :value nil}\n{:process 0, :type :ok, :f :read :value [1 2}\n"
    code, _, err = run([write(tmp_path, "bad.edn", text)])
    assert code == EXIT_BAD_INPUT
    assert "line 2, column 45" in err and "'}' closes '['" in err
    assert "Token" not in err and "LexToken" not in err


def test_several_files_one_verdict_each_and_the_worst_exit(tmp_path: pathlib.Path) -> None:
    ok = write(tmp_path, "ok.edn", "{:process 0 :type :invoke :f :write :value 1}\n"
                                   "{:process 0 :type :ok :f :write :value 1}\n")
    bad = write(tmp_path, "bad.edn", "{:process 0 :type :invoke :f :write :value 1}\n"
                                     "{:process 0 :type :ok :f :write :value 1}\n"
                                     "{:process 1 :type :invoke :f :read :value nil}\n"
                                     "{:process 1 :type :ok :f :read :value 2}\n")
    junk = write(tmp_path, "junk.jsonl", "not json\n")
    hard = str(tmp_path / "hard.jsonl")
    hard_history().write(hard)
    code, out, err = run([ok, bad, junk, hard, "--max-steps", "300"])
    lines = out.splitlines()
    assert code == EXIT_VIOLATION
    assert lines[0].startswith(f"{ok}: ok:")
    assert any(line.startswith(f"{bad}: fail:") for line in lines)
    assert f"{junk}: bad input" in lines and "junk.jsonl:1: invalid JSON" in err
    assert any(line.startswith(f"{hard}: unknown:") for line in lines)
    assert lines[-1] == "4 files: 1 ok, 1 violated, 1 unknown, 1 bad input"
    assert run([ok, junk])[0] == EXIT_BAD_INPUT
    assert run([ok, hard, "--max-steps", "300"])[0] == EXIT_UNKNOWN
    assert worst_exit([EXIT_OK, EXIT_UNKNOWN, EXIT_BAD_INPUT, EXIT_VIOLATION]) == EXIT_VIOLATION
    assert run([ok, bad, "--html", str(tmp_path / "r.html")])[0] == EXIT_BAD_INPUT


JEPSEN_LOG = """\
2015-04-10 12:00:00,001{GMT}\tINFO\t[main] jepsen.core - Running test
INFO  jepsen.util - 0\t:invoke\t:write\t4
INFO  jepsen.util - 1\t:invoke\t:read\tnil
INFO  jepsen.util - 0\t:ok\t:write\t4
INFO  jepsen.util - 1\t:ok\t:read\t4
INFO  jepsen.util - :nemesis\t:info\t:start\tnil
INFO  jepsen.util - 2\t:invoke\t:cas\t[1 3]
INFO  jepsen.util - 2\t:fail\t:cas\t[1 3]
INFO  jepsen.util - 3\t:invoke\t:write\t1
INFO  jepsen.util - 3\t:info\t:write\t:timed-out
INFO  jepsen.util - 4\t:invoke\t:read\tnil
INFO  jepsen.util - 4\t:fail\t:read\t:timed-out
"""


def test_jepsen_log_lines(tmp_path: pathlib.Path) -> None:
    h = parse_jepsen_log(JEPSEN_LOG)
    assert [(op.process, op.f, op.value, op.outcome, op.succeeded, op.error) for op in h.operations] == [
        (0, "write", 4, "ok", None, None), (1, "read", 4, "ok", None, None),
        (2, "cas", (1, 3), "ok", False, None), (3, "write", 1, "info", None, "timed-out"),
        (4, "read", None, "fail", None, "timed-out")]
    code, out, _ = run([write(tmp_path, "etcd_000.log", JEPSEN_LOG)])
    assert code == EXIT_OK and "model cas-register" in out
    # a failed compare needs the register to differ from the expected value
    bad = JEPSEN_LOG.replace("[1 3]", "[4 3]")
    assert run([write(tmp_path, "etcd_001.log", bad)])[0] == EXIT_VIOLATION


def test_porcupine_style_kv_lines_need_initial_empty_string(tmp_path: pathlib.Path) -> None:
    text = ('{:process 0, :type :invoke, :f :append, :key "1", :value "x 0 0 y"}\n'
            '{:process 1, :type :invoke, :f :get, :key "1", :value nil}\n'
            '{:process 0, :type :ok, :f :append, :key "1", :value "x 0 0 y"}\n'
            '{:process 1, :type :ok, :f :get, :key "1", :value ""}\n'
            '{:process 1, :type :invoke, :f :get, :key "1", :value nil}\n'
            '{:process 1, :type :ok, :f :get, :key "1", :value "x 0 0 y"}\n')
    path = write(tmp_path, "c01.txt", text)
    assert run([path, "--initial", '""'])[0] == EXIT_OK
    assert run([path, "--initial", '"x"'])[0] == EXIT_VIOLATION


def test_flat_line_fast_path_reads_like_the_general_reader() -> None:
    lines = ('{:process 3, :type :invoke, :f :cas, :key "k", :value [1 "a b"], :time -5000}\n'
             '{:process 3, :type :info, :f :cas, :key "k", :value [1 "a b"], :time 5000, :error :x-y}\n'
             '{:process 4, :type :invoke, :f :read, :value nil}\n')
    fast = parse_edn(lines)
    general = parse_edn("[" + lines + "]")
    assert fast.records == general.records


def test_check_starts_without_the_simulator_or_other_checkers(tmp_path: pathlib.Path) -> None:
    path = write(tmp_path, "ok.edn", "{:process 0 :type :invoke :f :write :value 1}\n"
                                     "{:process 0 :type :ok :f :write :value 1}\n")
    code = ("import sys; from raftkv.cli import main; main(['check', '-q', sys.argv[1]]); "
            "heavy = ('hypothesis', 'rich', 'trio', 'raftkv.sim', 'raftkv.raft', 'raftkv.kv', "
            "'raftkv.check.report', 'raftkv.check.watch', 'raftkv.check.lease', 'edn_format'); "
            "print(sorted(m for m in sys.modules if m.startswith(heavy)))")
    proc = subprocess.run([sys.executable, "-c", code, path], capture_output=True, text=True, cwd=ROOT,
                          check=True)
    assert proc.stdout.splitlines()[-1] == "[]", proc.stdout


def test_checker_benchmark_runs(tmp_path: pathlib.Path) -> None:
    proc = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "checker.py"), "--quick"],
                          capture_output=True, text=True, cwd=tmp_path, timeout=600)
    assert proc.returncode == 0, proc.stderr
    assert "generated histories only" in proc.stdout
    assert proc.stdout.splitlines()[-1].startswith("worst of (a) and (b): ")
