"""RaftMember: a minimal member actor (a tiny key-value state machine on RaftHost).

Used by the raft scenario tests and the benchmark.  Real servers build on RaftHost
directly.  Clients send :class:`Propose` / :class:`Read`; replies go back to the sender.
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import Any

import attrs

from raftkv.env import Env

from .config import RaftConfig
from .host import ProposalError, RaftHost

__all__ = ["KVStateMachine", "Propose", "ProposeReply", "RaftMember", "Read", "ReadReply"]


@attrs.frozen(kw_only=True)
class Propose:
    req_id: int
    key: str
    value: object


@attrs.frozen(kw_only=True)
class ProposeReply:
    req_id: int
    ok: bool
    index: int = 0  # the log index the write was applied at
    error: object = None


@attrs.frozen(kw_only=True)
class Read:
    req_id: int
    key: str


@attrs.frozen(kw_only=True)
class ReadReply:
    req_id: int
    ok: bool
    value: object = None
    error: object = None


class KVStateMachine:
    """``data`` is ``(key, value)``; apply stores it and returns the index it was applied at."""

    def __init__(self) -> None:
        self.data: dict[str, object] = {}
        self.last_applied = 0

    def apply(self, index: int, term: int, data: object) -> object:
        assert index > self.last_applied, f"apply {index} after {self.last_applied}"
        self.last_applied = index
        assert isinstance(data, tuple) and len(data) == 2, f"bad command {data!r}"
        key, value = data
        self.data[key] = value
        return index

    def snapshot(self) -> object:
        return (self.last_applied, tuple(sorted(self.data.items())))

    def restore(self, snapshot: object) -> None:
        assert isinstance(snapshot, tuple)
        last, items = snapshot
        self.last_applied = last
        self.data = dict(items)


class RaftMember:
    def __init__(self, env: Env, peers: tuple[str, ...], config: RaftConfig,
                 tick_us: int = 100_000, batch_us: int = 0, join: bool = False) -> None:
        """``peers``: the bootstrap voters; ``join``: a member added to a running cluster
        (not among ``peers``; starts with an empty disk and waits for the leader)."""
        self.env = env
        self.sm = KVStateMachine()
        self.raft_host = RaftHost(env, peers, config, self.sm, tick_us, batch_us=batch_us,
                                  join=join)
        # The newest request id seen from each client: a duplicated or late copy of a
        # request (ids only grow, one outstanding request per client) is ignored.
        self.last_req: dict[str, int] = {}

    def on_start(self) -> None:
        self.raft_host.start()

    def on_timer(self, tag: Hashable) -> None:
        self.raft_host.on_timer(tag)

    def on_message(self, src: str, msg: Any) -> None:
        if self.raft_host.on_message(src, msg):
            return
        if isinstance(msg, Propose | Read):
            if msg.req_id <= self.last_req.get(src, 0):
                return
            self.last_req[src] = msg.req_id
        if isinstance(msg, Propose):
            self._propose(src, msg)
        elif isinstance(msg, Read):
            self._read(src, msg)

    def _propose(self, src: str, msg: Propose) -> None:
        def done(result: object) -> None:
            if isinstance(result, ProposalError):
                self.env.send(src, ProposeReply(req_id=msg.req_id, ok=False, error=result))
            else:
                assert isinstance(result, int)
                self.env.send(src, ProposeReply(req_id=msg.req_id, ok=True, index=result))

        self.raft_host.propose((msg.key, msg.value), done)

    def _read(self, src: str, msg: Read) -> None:
        def ready(err: object) -> None:
            if err is not None:
                self.env.send(src, ReadReply(req_id=msg.req_id, ok=False, error=err))
            else:
                self.env.send(src, ReadReply(req_id=msg.req_id, ok=True,
                                             value=self.sm.data.get(msg.key)))

        self.raft_host.read_index(ready)
