"""Election safety seen from outside: every member's status (``/v3/maintenance/status``:
its term and the leader it knows) is polled through the run; a member that names itself
leader in term T has led in T, and Raft allows one leader per term.  Two members that
each claimed term T break election safety, as a vote granted twice in one term does (a
vote lost in a crash).

A claim is one *stint*: the polls in a row in which a member names itself leader.  A stint
has one term, its last one seen, and counts when that term was seen in two polls in a
row (a status answer read across a term change does not count).  Earlier terms of a stint
are not claims: etcd's ``raftTerm`` is the term of the last entry the member applied, so
a new leader reports its predecessor's term until it commits an entry of its own (for
a while when its peer links are slow)."""

from __future__ import annotations

import trio

from raftkv.client.gateway import GatewayEtcdClient
from raftkv.kv import KVError

__all__ = ["LeaderClaims", "watch_leaders"]


class LeaderClaims:
    """Who claimed to lead in which term, and the terms two members claimed; call
    :meth:`finish` after the last poll (it counts the stints still going on)."""

    def __init__(self) -> None:
        self.leaders: dict[int, str] = {}  # term -> the first member seen leading in it
        self.violations: list[str] = []
        self.polls = 0
        self._stints: dict[str, tuple[str, int, int]] = {}  # url -> (member, last term, polls in it)
        # member -> when (trio's clock) its current stint was first seen: about when it was
        # elected, so when its quorum checks come (one every election timeout from then)
        self.leading_since: dict[str, float] = {}

    def saw(self, url: str, member: str, term: int, is_leader: bool, at_s: float | None = None) -> None:
        """One status answer from ``url`` (at ``at_s``): ``member`` is at ``term``, leading or not."""
        self.polls += 1
        stint = self._stints.get(url)
        if not is_leader:
            self.leading_since.pop(member, None)
            self._end(url)
            return
        if stint is not None and stint[0] == member and stint[1] == term:
            self._stints[url] = (member, term, stint[2] + 1)
        elif stint is not None and stint[0] == member and term > stint[1]:
            self._stints[url] = (member, term, 1)  # the reported term caught up
        else:  # a new stint
            self._end(url)
            self._stints[url] = (member, term, 1)
            if at_s is not None:
                self.leading_since[member] = at_s

    def finish(self) -> None:
        for url in sorted(self._stints):
            self._end(url)

    def _end(self, url: str) -> None:
        stint = self._stints.pop(url, None)
        if stint is None or stint[2] < 2:
            return
        member, term, _ = stint
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
                    claims.saw(url, st.member, st.raft_term, st.is_leader, trio.current_time())
                await trio.sleep(interval_s)

    async with trio.open_nursery() as nursery:
        for url in urls:
            nursery.start_soon(one, url)
