"""``raftkv test-cluster``: real clusters on loopback under faults from a drawn schedule.

The CI campaign (marked ``campaign``): three runs of about 30 s each (``--time 24s
--settle 3``: drawn faults, then the probe episodes, healed, liveness): raftkv members with
no bug pass, etcd 3.4 members pass, and raftkv members with a catalogued bug visible from
outside fail with exit status 1; each saved history re-checks with ``raftkv check``; and
raftkv members with ``vote_not_persisted`` fail under two lost-vote episodes alone (about
25 s).  The proxy, schedule and nemesis parts are tested without processes."""

from __future__ import annotations

import json
import random

import pytest
import trio
import trio.testing
from tools import require_tool

from raftkv.blackbox.leaders import LeaderClaims
from raftkv.blackbox.nemesis import (
    CHECKED_AFTER_S,
    PROBE_HEAL_US,
    REAL_NEMESES,
    VOTE_DELAY_US,
    Nemesis,
    draw_schedule,
    load_schedule,
    probe_episode,
    schedule_json,
)
from raftkv.blackbox.proxy import NO_RAFT, REFUSE, PeerProxy, identify_etcd, identify_raftkv
from raftkv.blackbox.sockets import dialler_of
from raftkv.blackbox.targets import EtcdCluster, etcd_member_id, find_etcd, peer_proxy
from raftkv.blackbox.workload import ClientFaults, WorkloadSpec
from raftkv.check.cli import main as check_main
from raftkv.cli import main
from raftkv.client.gateway import GatewayEtcdClient
from raftkv.exit_status import EXIT_BAD_INPUT, EXIT_OK, EXIT_VIOLATION
from raftkv.runtime.cluster import LocalCluster
from raftkv.runtime.transport import _frame

CAMPAIGN_TIME = ["--time", "24s", "--settle", "3"]  # about 30 s a run, start to verdict
def campaign(test):  # marked, with a budget: a ~30 s run, its start and its check
    return pytest.mark.campaign(pytest.mark.timeout(150)(test))


def _run(tmp_path, *args: str) -> int:
    return main(["test-cluster", *CAMPAIGN_TIME, "--out", str(tmp_path), *args])


def _saved(tmp_path) -> dict:
    assert (tmp_path / "history.jsonl").stat().st_size > 0
    assert (tmp_path / "report.html").read_text().startswith("<!")
    assert sorted(p.name for p in (tmp_path / "logs").iterdir()) == ["n1.log", "n2.log", "n3.log"]
    return json.loads((tmp_path / "schedule.json").read_text())


@campaign
def test_raftkv_without_bugs_passes(tmp_path, capsys):
    assert _run(tmp_path, "--target", "raftkv", "--seed", "1") == EXIT_OK
    out = capsys.readouterr().out
    schedule = _saved(tmp_path)
    assert schedule["faults"], "the drawn schedule has faults"
    assert any(a["did"].startswith(("SIGKILL", "SIGSTOP", "cut")) for a in schedule["applied"]), schedule
    assert " 0 closed by faults" not in out, out
    # the saved run re-checks as the run checked it (lease clocks restart at its faults)
    assert check_main([str(tmp_path), "--model", "etcd", "-q"]) == EXIT_OK


@campaign
def test_etcd_passes(tmp_path, capsys):
    require_tool("etcd", install="apt-get install -y etcd-server",
                 why="test-cluster --target etcd starts etcd 3.4 members")
    assert _run(tmp_path, "--target", "etcd", "--seed", "3") == EXIT_OK
    out = capsys.readouterr().out
    _saved(tmp_path)
    # the proxy knew etcd's peer connections and the faults reached them
    assert " 0 connections from known members" not in out and " 0 closed by faults" not in out, out


@campaign
def test_a_follower_answering_reads_locally_is_found(tmp_path, capsys):
    # The run ends with probe episodes isolating a follower for 2 s while the reader bound
    # to it reads every 20 ms and the others write: hundreds of stale reads, not a lucky one.
    out_dir = tmp_path / "run"
    code = main(["test-cluster", *CAMPAIGN_TIME, "--out", str(out_dir),
                 "--target", "raftkv", "--bug", "follower_local_reads", "--seed", "1"])
    out = capsys.readouterr().out
    assert code == EXIT_VIOLATION, out
    assert "(@follower)" in (out_dir / "schedule.json").read_text()
    # a bound reader was answered a revision older than one already seen
    assert "[revision_order]" in out and " (r" in out, out
    # the saved history re-checks as violated
    assert check_main([str(out_dir), "--model", "etcd", "-q"]) == EXIT_VIOLATION


@campaign
def test_a_vote_lost_in_a_power_cut_is_found(tmp_path, capsys):
    # Two lost-vote episodes alone: the voter is SIGKILLed between its vote and the new
    # leader's first append; members run with --lose-unsynced, so with the bug its vote is
    # gone and it helps elect a second leader in the same term.
    schedule = tmp_path / "schedule.json"
    faults, end_us = probe_episode("lost-vote", 1_500_000)
    more, end_us = probe_episode("lost-vote", end_us + PROBE_HEAL_US)
    schedule.write_text(schedule_json(2, faults + more, (), time_s=end_us / 1e6 + 0.5))
    out_dir = tmp_path / "run"
    code = main(["test-cluster", "--schedule", str(schedule), "--settle", "3", "--out", str(out_dir),
                 "--target", "raftkv", "--bug", "vote_not_persisted"])
    out = capsys.readouterr().out
    assert code == EXIT_VIOLATION, out
    assert "election safety: two leaders in term" in out, out
    assert "SIGKILL" in (out_dir / "schedule.json").read_text()


def test_bad_input_is_one_line(tmp_path, capsys):
    assert _run(tmp_path, "--target", "etcd", "--bug", "vote_not_persisted") == EXIT_BAD_INPUT
    assert _run(tmp_path, "--bug", "no_such_bug") == EXIT_BAD_INPUT
    assert _run(tmp_path, "--attach", "localhost:2379") == EXIT_BAD_INPUT
    assert main(["test-cluster", "--time", "soon"]) == EXIT_BAD_INPUT
    (tmp_path / "bad.json").write_text('{"faults": [{"at_us": 1, "kind": "crash", "node": "n9"}]}')
    (tmp_path / "late.json").write_text(schedule_json(1, draw_schedule(1, 3, 20_000_000), (), time_s=20))
    for bad in ("missing.json", "bad.json"):
        assert main(["test-cluster", "--schedule", str(tmp_path / bad)]) == EXIT_BAD_INPUT
    assert main(["test-cluster", "--schedule", str(tmp_path / "late.json"), "--time", "10s"]) == EXIT_BAD_INPUT
    err = capsys.readouterr().err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 7, err
    assert "n9" in err and "missing.json" in err and "past --time" in err, err


def test_a_saved_schedule_loads_back(tmp_path):
    faults = draw_schedule(7, 5, 24_000_000)
    path = tmp_path / "schedule.json"
    path.write_text(schedule_json(7, faults, (), [(1, "c1: pauses 1.0 s")], members=5, time_s=24.0))
    saved = load_schedule(str(path))
    assert (saved.seed, saved.members, saved.time_s, saved.faults) == (7, 5, 24.0, faults)
    assert any(f.kind == "partition" and f.groups for f in faults) or any(f.kind == "cut" for f in faults) \
        or any(f.kind == "shape" for f in faults)


def test_client_faults_pause_abandon_and_switch():
    async def main_() -> tuple[list[str], list[float | None], int]:
        faults = ClientFaults(WorkloadSpec(client_faults=True, fault_rate=1.0))
        client = GatewayEtcdClient(["http://127.0.0.1:1", "http://127.0.0.1:2"], process="c1")
        rng = random.Random(3)
        abandon = [await faults.maybe(client, rng) for _ in range(40)]
        await client.aclose()
        off = ClientFaults(WorkloadSpec())
        none = [await off.maybe(client, rng) for _ in range(10)]
        return [what for _, what in faults.applied], abandon, none.count(None)

    done, abandon, untouched = trio.run(main_, clock=trio.testing.MockClock(autojump_threshold=0))
    assert len(done) == 40 and untouched == 10
    assert any("abandons" in d for d in done) and any("pauses" in d for d in done) \
        and any("switches to http://127.0.0.1:" in d for d in done), done
    assert all(a is None or 0.001 <= a <= 0.03 for a in abandon)
    assert sum(a is not None for a in abandon) == sum("abandons" in d for d in done)


@campaign
def test_an_attached_cluster_gets_client_faults(tmp_path, capsys):
    # someone else's cluster: no process or peer faults, the clients fail on their side
    with LocalCluster(3) as cluster:
        cluster.start()
        cluster.wait_leader(timeout_s=30)
        code = main(["test-cluster", "--attach", ",".join(cluster.client_urls), "--time", "10s", "--settle", "3",
                     "--out", str(tmp_path)])
    assert code == EXIT_OK, capsys.readouterr().out
    schedule = json.loads((tmp_path / "schedule.json").read_text())
    assert schedule["faults"] == [] and all(a["did"].startswith("skipped") for a in schedule["applied"])
    did = " ".join(c["did"] for c in schedule["client_faults"])
    assert "watch connection killed" in did and ("abandons" in did or "pauses" in did), did


def test_schedules_are_drawn_from_the_seed_by_the_simulators_strategy():
    a = draw_schedule(7, 3, 10_000_000)
    assert a == draw_schedule(7, 3, 10_000_000)
    assert a, "at least one episode"
    kinds = {f.kind for seed in range(20) for f in draw_schedule(seed, 3, 10_000_000, probes=False)}
    assert kinds <= {*REAL_NEMESES, "heal", "restart", "resume"}, kinds
    assert {"crash", "pause"} <= kinds and kinds & {"partition", "shape", "cut"}, kinds


def test_schedules_end_withprobe_episodes():
    faults = draw_schedule(7, 3, 30_000_000)
    first = next(i for i, f in enumerate(faults) if f.at_us >= 16_000_000)
    drawn, probes = faults[:first], faults[first:]
    # the drawn faults come first, in the first half, then a healed second
    assert drawn and max(f.at_us for f in drawn) <= 15_000_000
    assert probes[0].at_us == 16_000_000
    described = [(f.kind, f.node, f.shape) for f in probes]
    isolate_follower = [("shape", "@follower", "isolate"), ("heal", "", "")]
    isolate_leader = [("shape", "@checked-leader", "isolate"), ("heal", "", "")]
    lost_vote = [("shape", "@leader", "isolate"), ("network", "", ""), ("crash", "@voter", ""), ("network", "", ""),
                 ("shape", "@leader", "isolate"), ("restart", "@crashed", ""), ("heal", "", "")]
    assert described == isolate_follower + isolate_leader + lost_vote + isolate_leader, described
    # the lost vote: every link slowed while the leader is cut off, back to speed once the
    # voter is killed, the voter restarted next to the old leader
    cut, slow, kill, fast, cut_new, restart, heal = probes[4:11]
    assert slow.spike_prob == 1.0 and slow.spike_us == VOTE_DELAY_US and fast.spike_prob == 0.0
    assert cut.at_us == slow.at_us < kill.at_us < fast.at_us == cut_new.at_us < restart.at_us < heal.at_us
    assert heal.at_us - cut.at_us == 7_000_000 and not kill.torn
    # every episode heals before the next begins, and the last before the end
    heals = [f.at_us for f in probes if f.kind == "heal"]
    starts = [probes[0].at_us, probes[2].at_us, cut.at_us, probes[11].at_us]
    assert all(h < s for h, s in zip(heals, starts[1:], strict=False)) and heals[-1] <= 30_000_000
    # a short run is probes only: a follower, then the leader
    assert [f.node for f in draw_schedule(7, 3, 6_000_000) if f.kind == "shape"] == ["@follower", "@checked-leader"]


def test_etcd_member_ids_and_identification():
    # etcd 3.4 logs "added member 1cacb0613f6ddeba [http://127.0.0.1:46837]" for this token
    assert format(etcd_member_id(["http://127.0.0.1:46837"], "raftkv-test-cluster"), "x") == "1cacb0613f6ddeba"
    ident = identify_etcd({"1cacb0613f6ddeba": "n1"})
    probe = b"GET /raft/probing HTTP/1.1\r\nHost: x\r\n\r\n"
    assert ident(probe) == NO_RAFT  # a probe first: forward it, keep looking
    assert ident(probe + b"POST /raft HTTP/1.1\r\nX-Server-From: 1cacb0613f6ddeba\r\n\r\n") == "n1"
    assert ident(probe + b"POST /raft HTTP/1.1\r\nHost: x\r\n") is None  # held until its head is whole
    assert ident(b"GET / HTTP/1.1\r\nX-Server-From: 99\r\n\r\n") == ""
    # raft requests that name no dialler are refused, whatever comes first
    assert ident(probe + b"POST /raft HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc") == REFUSE
    assert ident(b"GET /raft/stream/message/1cacb0613f6ddeba HTTP/1.1\r\n\r\n") == REFUSE
    assert ident(b"POST /raft/snapshot HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n") == REFUSE
    # a lease renewal a follower forwards: forwarded once its body is whole
    renew = b"POST /leases HTTP/1.1\r\nContent-Length: 4\r\n\r\n"
    assert ident(renew + b"ab") is None and ident(renew + b"abcd") == NO_RAFT
    hello = _frame({"from": "n2", "raftkv": 1})
    assert identify_raftkv(hello[:3]) is None and identify_raftkv(hello) == "n2"


def test_proxy_cuts_one_direction_of_a_link():
    async def main_() -> tuple[bytes, bool]:
        got: list[bytes] = []

        async def echo_server(stream: trio.SocketStream) -> None:
            async for data in stream:
                got.append(data)
                await stream.send_all(data)

        async with trio.open_nursery() as nursery:
            listeners = await nursery.start(trio.serve_tcp, echo_server, 0)
            port = listeners[0].socket.getsockname()[1]
            proxy = PeerProxy({"n2": port}, identify_raftkv, rng=random.Random(1))
            await nursery.start(proxy.run)
            s = await trio.open_tcp_stream("127.0.0.1", proxy.ports["n2"])
            await s.send_all(_frame({"from": "n1", "raftkv": 1}))
            echoed = await s.receive_some(1 << 16)
            proxy.set_cuts({("n2", "n1")})  # the answers cut, n1 -> n2 still open
            await s.send_all(b"more")
            with trio.move_on_after(2):
                rest = await s.receive_some(1 << 16)  # closed: b"" rather than the echo
            nursery.cancel_scope.cancel()
        return echoed + b"|" + rest, b"more" in got

    echoed, delivered = trio.run(main_)
    assert echoed.endswith(b"|") and delivered
    assert len(echoed) > 1


async def _through_proxy(identify, script):
    """Run ``script(proxy, port_of_n2, got)`` against a PeerProxy in front of an echo server
    standing for n2 (``got``: what reached it)."""
    got: list[bytes] = []

    async def echo_server(stream: trio.SocketStream) -> None:
        try:
            async for data in stream:
                got.append(data)
                await stream.send_all(data)
        except trio.BrokenResourceError:
            pass

    async with trio.open_nursery() as nursery:
        listeners = await nursery.start(trio.serve_tcp, echo_server, 0)
        proxy = PeerProxy({"n2": listeners[0].socket.getsockname()[1]}, identify, rng=random.Random(1))
        await nursery.start(proxy.run)
        result = await script(proxy, proxy.ports["n2"], got)
        nursery.cancel_scope.cancel()
    return result


async def _receive_or_closed(stream: trio.SocketStream, timeout_s: float = 2.0) -> bytes:
    with trio.move_on_after(timeout_s):
        try:
            return await stream.receive_some(1 << 16)
        except trio.BrokenResourceError:
            return b""
    return b"(nothing)"


def test_a_chunk_held_back_by_delay_is_lost_when_its_direction_is_cut():
    # n1 dialled n2 (as an etcd stream's reader does): what n2 sends goes back on n1's own
    # connection.  The answer is held back 0.5 s; n2 -> n1 is cut meanwhile: it must not arrive.
    async def script(proxy, port, got):
        s = await trio.open_tcp_stream("127.0.0.1", port)
        hello = _frame({"from": "n1", "raftkv": 1})
        await s.send_all(hello)
        assert await _receive_or_closed(s) == hello
        proxy.set_network(delay_prob=1.0, delay_s=0.5)
        t0 = trio.current_time()
        await s.send_all(b"ping")  # reaches n2 at t0 + 0.5, its answer is due back at t0 + 1.0
        await trio.sleep_until(t0 + 0.75)
        reached = b"ping" in got
        proxy.set_cuts({("n2", "n1")})
        return reached, await _receive_or_closed(s)

    reached, answer = trio.run(_through_proxy, identify_raftkv, script)
    assert reached, "n1 -> n2 stays open"
    assert answer == b"", f"n2 -> n1 was cut, yet n1 received {answer!r}"


ETCD_N1 = "1cacb0613f6ddeba"


def test_etcd_traffic_from_no_known_dialler_does_not_cross_a_cut():
    ident = identify_etcd({ETCD_N1: "n1"})
    vote = b"POST /raft HTTP/1.1\r\nContent-Length: 4\r\n\r\nvote"

    async def script(proxy, port, got):
        proxy.set_cuts({("n1", "n2"), ("n2", "n1")})
        # a probe on a kept-alive connection goes through and is answered...
        s = await trio.open_tcp_stream("127.0.0.1", port)
        probe = b"GET /raft/probing HTTP/1.1\r\nHost: x\r\n\r\n"
        await s.send_all(probe)
        answered = await _receive_or_closed(s) == probe
        # ... a raft request on it that names no dialler does not
        await s.send_all(vote)
        refused = await _receive_or_closed(s)
        # nor does one whose X-Server-From comes after the first bytes of its head
        t = await trio.open_tcp_stream("127.0.0.1", port)
        await t.send_all(b"POST /raft HTTP/1.1\r\nHost: x\r\n")
        await trio.sleep(0.2)
        await t.send_all(b"X-Server-From: " + ETCD_N1.encode() + b"\r\nContent-Length: 4\r\n\r\nvote")
        cut = await _receive_or_closed(t)
        await trio.sleep(0.2)
        return answered, refused, cut, b"".join(got), proxy.refused

    answered, refused, cut, got, n_refused = trio.run(_through_proxy, ident, script)
    assert answered
    assert refused == b"" and cut == b"" and n_refused == 1
    assert b"vote" not in got and b"POST" not in got, got


def _post_json(url: str, body: dict, timeout_s: float) -> dict | None:
    """The answer of an etcd gateway POST, None when it failed or took over ``timeout_s``."""
    import urllib.error
    import urllib.request

    req = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST")
    try:
        with urllib.request.urlopen(req, timeout=timeout_s) as resp:
            return json.loads(resp.read())
    except (OSError, urllib.error.URLError, ValueError):
        return None


@pytest.mark.timeout(90)
def test_an_isolated_etcd_member_reaches_no_peer(tmp_path):
    # 3 etcd members through the peer proxy as test-cluster sets it up; a follower cut off
    # both ways must reach no peer: no lease renewal it forwards gets to the leader (etcd's
    # /leases requests carry no X-Server-From), and no raft message from a peer reaches it.
    require_tool("etcd", install="apt-get install -y etcd-server",
                 why="the peer proxy is tested against etcd 3.4's own peer connections")
    cluster = EtcdCluster(3, etcd=find_etcd(), log_dir=str(tmp_path))

    async def main_() -> tuple[dict | None, dict | None, str, str, dict[str, str]]:
        async with trio.open_nursery() as nursery:
            proxy = peer_proxy(cluster, rng=random.Random(1))
            await nursery.start(proxy.run)
            cluster.start()
            leader = await trio.to_thread.run_sync(cluster.wait_ready, 30.0)
            follower = next(n for n in cluster.names if n != leader)
            url = cluster.client_url(follower)
            grant = await trio.to_thread.run_sync(_post_json, url + "/v3/lease/grant", {"TTL": 30}, 10.0)
            assert grant is not None, "a lease granted through the follower"
            before = await trio.to_thread.run_sync(_post_json, url + "/v3/lease/keepalive", {"ID": grant["ID"]}, 5.0)
            proxy.set_cuts({(follower, n) for n in cluster.names if n != follower}
                           | {(n, follower) for n in cluster.names if n != follower})
            # the follower still takes the leader for leader (until its election timeout):
            # it forwards the renewal to the leader's peer URL, through the proxy
            await trio.sleep(0.1)
            during = await trio.to_thread.run_sync(_post_json, url + "/v3/lease/keepalive", {"ID": grant["ID"]}, 1.0)
            await trio.sleep(0.3)  # what was in flight at the cut has landed by now
            log_from = (tmp_path / f"{follower}.log").stat().st_size
            await trio.sleep(2.0)  # the follower campaigns, the others keep their leader
            nursery.cancel_scope.cancel()
        with open(tmp_path / f"{follower}.log", "rb") as f:
            f.seek(log_from)
            cut_log = f.read().decode(errors="replace")
        ids = {format(int(cluster.member_id(n)), "x"): n for n in cluster.names if n != follower}
        return before, during, follower, cut_log, ids

    try:
        before, during, follower, cut_log, peer_ids = trio.run(main_)
    finally:
        cluster.close()
    assert before is not None and "result" in before, before
    assert during is None or "result" not in during, (
        f"{follower}, cut off, renewed a lease at the leader: {during}")
    # etcd's raft log names the sender of every message it acts on ("... from ID ...")
    heard = [line for line in cut_log.splitlines() if "raft" in line and any(f"from {i}" in line for i in peer_ids)]
    assert not heard, f"{follower}, cut off, heard from {peer_ids}: {heard}"
    assert "became candidate" in cut_log, "the cut-off follower campaigned (the log covers the cut)"


def test_the_process_that_dialled_a_loopback_connection():
    import os
    import socket

    with socket.create_server(("127.0.0.1", 0)) as server, \
            socket.create_connection(server.getsockname()) as dialled:
        source_port, dest_port = dialled.getsockname()[1], server.getsockname()[1]
        assert dialler_of(source_port, dest_port, {"other": os.getppid(), "me": os.getpid()}) == "me"
        assert dialler_of(source_port, dest_port, {"other": os.getppid()}) is None
        assert dialler_of(dest_port, source_port, {"me": os.getpid()}) is None  # the accepted end dialled nothing


def test_two_leaders_in_one_term_break_election_safety():
    claims = LeaderClaims()
    for url, member, term, leads in [("u1", "a", 2, True), ("u1", "a", 2, True),  # a leads term 2
                                     ("u2", "b", 2, True), ("u2", "b", 3, True),  # b once in 2: not counted
                                     ("u2", "b", 3, True), ("u1", "a", 3, False),  # b leads term 3
                                     # c's reported term lags (etcd: the last applied entry's):
                                     # one stint, its last term counts
                                     ("u3", "c", 2, True), ("u3", "c", 2, True), ("u3", "c", 4, True),
                                     ("u3", "c", 4, True), ("u3", "c", 4, False)]:
        claims.saw(url, member, term, leads)
    claims.finish()
    assert claims.violations == [] and claims.leaders == {2: "a", 3: "b", 4: "c"}
    claims.saw("u3", "c", 3, True)
    claims.saw("u3", "c", 3, True)
    claims.saw("u3", "c", 3, True)
    assert claims.violations == []  # counted when the stint ends
    claims.finish()
    assert claims.violations == ["election safety: two leaders in term 3: members b and c each named "
                                 "themselves leader (status polls)"]


class _StatusCluster:
    """A cluster whose members' statuses follow a script (no processes): the nemesis's
    look at who leads and who has just voted."""

    names = ("n1", "n2", "n3")

    def __init__(self, script: list[dict[str, tuple[int, str]]]) -> None:
        self.script = script
        self.asked = 0

    def member_id(self, name: str) -> str:
        return f"id-{name}"

    def running(self, name: str) -> bool:
        return True

    def status(self, name: str) -> dict[str, object]:
        step = self.script[min(self.asked // 3, len(self.script) - 1)]
        self.asked += 1
        term, leader = step[name]
        return {"raftTerm": str(term), "leader": self.member_id(leader) if leader else "0"}


def test_the_voter_is_a_member_in_a_new_leaders_term_that_names_no_leader():
    script = [
        {"n1": (2, "n1"), "n2": (2, "n1"), "n3": (2, "n1")},  # when the watch begins: term 2
        {"n1": (2, "n1"), "n2": (2, ""), "n3": (2, "")},  # pre-candidates: no leader, old term
        {"n1": (2, "n1"), "n2": (3, ""), "n3": (3, "")},  # n2 campaigns in 3, n3 voted
        {"n1": (2, "n1"), "n2": (3, "n2"), "n3": (3, "")},  # n2 leads; n3 has not heard yet
    ]

    async def main_() -> tuple[list[str], list[str], str | None]:
        nemesis = Nemesis(_StatusCluster(script), None, torn_tails=False, rng=random.Random(1))  # type: ignore[arg-type]
        voter = await nemesis._resolve("@voter")
        leader = await nemesis._leader()  # the highest term's leader, not the deposed n1
        quiet = Nemesis(_StatusCluster(script[:2]), None, torn_tails=False, rng=random.Random(1))  # type: ignore[arg-type]
        return voter, await quiet._voter(wait_s=0.3), leader

    voter, none, leader = trio.run(main_)
    assert voter == ["n3"] and none == [] and leader == "n2"


def test_the_checked_leader_is_cut_just_after_a_quorum_check():
    period_s = 0.2
    claims = LeaderClaims()

    async def main_() -> list[float]:
        cluster = _StatusCluster([{"n1": (4, "n2"), "n2": (4, "n2"), "n3": (4, "n2")}])
        nemesis = Nemesis(cluster, None, torn_tails=False, rng=random.Random(1), claims=claims,  # type: ignore[arg-type]
                          election_timeout_s=period_s)
        since = trio.current_time() - 0.05
        claims.saw("u2", "id-n2", 4, True, since)
        phases = []
        for _ in range(3):
            assert await nemesis._resolve("@checked-leader") == ["n2"]
            phases.append((trio.current_time() - since - CHECKED_AFTER_S) % period_s)
            await trio.sleep(0.07)
        return phases

    for phase in trio.run(main_):
        assert min(phase, period_s - phase) < 0.03, phase


def test_the_leader_is_the_one_most_members_name_in_the_highest_term():
    # etcd reports the term of its last applied entry: the deposed n3 and the new leader n1
    # report the same term until n1 applies an entry of its own.
    tied = [{"n1": (3, "n1"), "n2": (3, "n1"), "n3": (3, "n3")}]
    newer = [{"n1": (4, "n1"), "n2": (3, "n3"), "n3": (3, "n3")}]  # a higher term wins over a count
    none = [{"n1": (3, ""), "n2": (3, ""), "n3": (3, "")}]

    async def leader(script: list[dict[str, tuple[int, str]]]) -> str | None:
        nemesis = Nemesis(_StatusCluster(script), None, torn_tails=False, rng=random.Random(1))  # type: ignore[arg-type]
        return await nemesis._leader(wait_s=0.2)

    assert trio.run(leader, tied) == "n1"
    assert trio.run(leader, newer) == "n1"
    assert trio.run(leader, none) is None
