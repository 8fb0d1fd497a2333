"""A gateway watch whose connection drops resumes after the last revision it delivered
(the watch checker finds no gap and no repeat); with the catalogued client bug
``watch_resume_at_last_revision`` it resumes at that revision, and the checker finds the
repeated events.  Against one raftkv member on loopback."""

from __future__ import annotations

import pytest
import trio

from raftkv.check import HistoryBuilder, check_watches, make_history
from raftkv.check.history import WatchOpen
from raftkv.client.gateway import GatewayEtcdClient
from raftkv.runtime.cluster import LocalCluster


@pytest.fixture(scope="module")
def url():
    with LocalCluster(1) as cluster:
        cluster.start()
        cluster.wait_leader(timeout_s=30)
        yield cluster.client_url("n1")


def _dropped_watch_history(url: str, bugs: frozenset[str]) -> tuple[list, int]:
    recorder = HistoryBuilder()

    async def main() -> int:
        async with GatewayEtcdClient([url], recorder=recorder, process="w", bugs=bugs) as client, \
                client.watch(b"r/", prefix=True,
                             start_revision=(await client.put(b"s", b"")).header.revision + 1) as w:
            seen = 0
            for i in range(6):
                await client.put(b"r/" + str(i % 2).encode(), str(i).encode())
                with trio.fail_after(10):
                    async for resp in w:
                        seen += len(resp.events)
                        break
                w.reconnect()  # the connection drops after each event
            await trio.sleep(0.5)  # the last resume's answers (repeats, with the bug) arrive
            return seen

    assert trio.run(main) >= 6
    history = make_history(recorder.records)
    opens = [r for r in recorder.records if isinstance(r, WatchOpen)]
    return check_watches(history), len(opens)


def test_a_dropped_watch_resumes_after_its_last_revision(url):
    violations, opens = _dropped_watch_history(url, frozenset())
    assert opens >= 6, opens  # it did resume
    assert violations == [], violations


def test_resuming_at_the_last_revision_is_found(url):
    violations, _ = _dropped_watch_history(url, frozenset({"watch_resume_at_last_revision"}))
    text = "\n".join(map(str, violations))
    assert "delivered twice" in text and "[resumable]" in text, text
