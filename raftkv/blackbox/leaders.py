"""Election safety seen from outside: every member's status (``/v3/maintenance/status``:
its term and the leader it knows) is polled through the run; a member that names itself
leader in term T has led in T, and Raft allows one leader per term.  Two members that
each claim term T (each seen claiming it in two polls in a row, so that a status answer
read across a term change does not count) break election safety, as a vote granted twice
in one term does (a vote lost in a crash)."""

from __future__ import annotations

import trio

from raftkv.client.gateway import GatewayEtcdClient
from raftkv.kv import KVError

__all__ = ["LeaderClaims", "watch_leaders"]


class LeaderClaims:
    """Who claimed to lead in which term (two polls in a row), and the terms two members
    claimed."""

    def __init__(self) -> None:
        self.leaders: dict[int, str] = {}  # term -> the first member seen leading in it
        self.violations: list[str] = []
        self.polls = 0
        self._last: dict[str, tuple[int, bool]] = {}

    def saw(self, url: str, member: str, term: int, is_leader: bool) -> None:
        """One status answer from ``url``: ``member`` is at ``term``, leading or not."""
        self.polls += 1
        before = self._last.get(url)
        self._last[url] = (term, is_leader)
        if not is_leader or before != (term, True):
            return
        first = self.leaders.setdefault(term, member)
        if first != member:
            line = (f"election safety: two leaders in term {term}: members {first} and {member} "
                    f"each named themselves leader (status polls)")
            if line not in self.violations:
                self.violations.append(line)


async def watch_leaders(urls: list[str], claims: LeaderClaims, *, interval_s: float = 0.05) -> None:
    """Poll every endpoint's status until cancelled."""
    async def one(url: str) -> None:
        async with GatewayEtcdClient([url], op_timeout_s=0.5) as client:
            while True:
                try:
                    st = await client.status()
                except KVError:
                    pass
                else:
                    claims.saw(url, st.member, st.raft_term, st.is_leader)
                await trio.sleep(interval_s)

    async with trio.open_nursery() as nursery:
        for url in urls:
            nursery.start_soon(one, url)
