"""Linearizability checker throughput on Jepsen-like generated histories.

(a) kv: 50 clients, 4,000 get/put/append operations on 10 keys.
(b) cas-register: 5 concurrent clients, 1,000 operations, ~1% unknown (info)
    outcomes; a client whose operation ends unknown is replaced by a new process.
Then (b)'s time as the share of unknown outcomes grows (1%, 2%, 5%).
Prints ops checked per second, wall time and the process's peak RSS per case.

With ``--porcupine DIR`` (a checkout of github.com/anishathalye/porcupine) and a Go
toolchain, also side by side with porcupine on porcupine's own test data, each set
checked by one command: its etcd Jepsen logs (test_data/jepsen/etcd_*.log) and its kv
histories (test_data/kv/*.txt).  porcupine runs its own tests for those sets (built
once with ``go test -c``); ``raftkv check`` runs on the same files, and its verdicts are
compared with the ones porcupine's tests expect.  Best of 3 wall times each.
"""

from __future__ import annotations

import argparse
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from raftkv.check import CASRegisterModel, KVModel, check_linearizable, make_history
from raftkv.check.generate import Kind, simulate

try:
    from _machine import QUICK_HELP, peak_rss_mib, print_machine
except ImportError:  # run from elsewhere
    sys.path.insert(0, __file__.rsplit("/", 1)[0])
    from _machine import QUICK_HELP, peak_rss_mib, print_machine

SEEDS = (1, 2, 3)


def run(kind: Kind, model: Any, seed: int, **kw: Any) -> tuple[int, float, float, str]:
    hist = make_history(simulate(kind, random.Random(seed), **kw))
    t0 = time.perf_counter()
    res = check_linearizable(hist, model, timeout_s=60)
    wall = time.perf_counter() - t0
    peak = peak_rss_mib()
    n = len(hist.operations) - len(res.excluded)
    assert res.verdict == "ok", res.explanation
    return n, wall, peak, res.verdict


def case(label: str, kind: Kind, model: Any, **kw: Any) -> float:
    walls = []
    for seed in SEEDS:
        n, wall, peak, verdict = run(kind, model, seed, **kw)
        walls.append(wall)
        print(f"{label} seed={seed}: {n} ops, {verdict}, {wall:.3f} s, {n / wall:,.0f} ops/s, "
              f"process peak RSS {peak:.0f} MiB")
    worst = max(walls)
    print(f"{label}: worst {worst:.3f} s over seeds {SEEDS}")
    return worst


def _best_wall(cmd: list[str], cwd: Path | None = None, runs: int = 3) -> tuple[float, str]:
    best, out = float("inf"), ""
    for _ in range(runs):
        t0 = time.perf_counter()
        proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
        best = min(best, time.perf_counter() - t0)
        out = proc.stdout
    return best, out


def _raftkv(args: list[str]) -> list[str]:
    return [sys.executable, "-m", "raftkv.cli", "check", "-q", *args]


def _verdicts(out: str) -> dict[str, bool]:
    got = {}
    for line in out.splitlines():
        m = re.match(r"(.+?): (ok|fail|unknown): ", line)
        if m:
            got[Path(m.group(1)).name] = m.group(2) == "ok"
    return got


def porcupine_side_by_side(root: Path) -> float:
    """Both sets with both checkers; returns the worst raftkv/porcupine time ratio."""
    go = shutil.which("go")
    if go is None:
        sys.exit("--porcupine needs a Go toolchain (e.g. apt-get install golang-go)")
    tests = (root / "porcupine_test.go").read_text()
    expected = {f"etcd_{int(n):03d}.log": v == "true"
                for n, v in re.findall(r"checkJepsen\(t, (\d+), (true|false)\)", tests)}
    expected.update({f"{n}.txt": v == "true"
                     for n, v in re.findall(r'checkKv\(t, "([\w-]+)", (true|false), true\)', tests)})
    with tempfile.TemporaryDirectory() as tmp:
        binary = Path(tmp) / "porcupine.test"
        subprocess.run([go, "test", "-c", "-o", str(binary), "."], cwd=root, check=True)
        etcd_logs = sorted(str(p) for p in (root / "test_data" / "jepsen").glob("etcd_*.log")
                           if p.name in expected)
        kv_files = sorted(str(p) for p in (root / "test_data" / "kv").glob("*.txt"))
        sets = [
            ("etcd Jepsen logs", len(etcd_logs), [str(binary), "-test.run", "^TestEtcdJepsen", "-test.count=1"],
             _raftkv(etcd_logs)),
            ("kv histories", len(kv_files),
             [str(binary), "-test.run", "^TestKv[0-9]+Clients?(Ok|Bad)$", "-test.count=1"],
             _raftkv(["--initial", '""', *kv_files])),
        ]
        ratios = []
        for label, n, porc_cmd, our_cmd in sets:
            porc_s, _ = _best_wall(porc_cmd, cwd=root)
            ours_s, out = _best_wall(our_cmd)
            got = _verdicts(out)
            wrong = sorted(name for name in got if name in expected and got[name] != expected[name])
            missing = sorted(Path(f).name for f in our_cmd if Path(f).name in expected and Path(f).name not in got)
            print(f"{label} ({n} files): porcupine {porc_s:.3f} s, raftkv check {ours_s:.3f} s "
                  f"(ratio {ours_s / porc_s:.2f}); verdicts differing from porcupine's: "
                  f"{wrong or 'none'}{f', not decided: {missing}' if missing else ''}")
            ratios.append(ours_s / porc_s)
        return max(ratios)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--porcupine", type=Path, metavar="DIR",
                        help="a porcupine checkout: also compare with porcupine on its test data")
    parser.add_argument("--quick", action="store_true", help=QUICK_HELP)
    args = parser.parse_args()
    print_machine()
    if args.quick:
        global SEEDS
        SEEDS = (1,)
    if args.porcupine is None:
        print("no --porcupine DIR given: generated histories only")
    a = case("(a) kv 50 clients 4000 ops 10 keys", "kv", KVModel(), clients=50, ops=4000, keys=10)
    b = case("(b) cas-register 5 clients 1000 ops 1% info", "cas-register", CASRegisterModel(),
             clients=5, ops=1000, info_rate=0.01)
    print("(b) growth with the share of unknown outcomes:")
    for rate in (0.01,) if args.quick else (0.01, 0.02, 0.05):
        case(f"    info {rate:.0%}", "cas-register", CASRegisterModel(), clients=5, ops=1000, info_rate=rate)
    if args.porcupine is None:
        print(f"worst of (a) and (b): {max(a, b):.3f} s")
        return
    print(f"worst of (a) and (b): {max(a, b):.3f} s")
    ratio = porcupine_side_by_side(args.porcupine.resolve())
    print(f"raftkv check / porcupine wall time, worst of the two sets: {ratio:.2f} x")


if __name__ == "__main__":
    main()
