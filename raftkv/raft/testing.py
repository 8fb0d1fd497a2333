"""An in-memory network of pure :class:`Raft` cores, for unit tests (no simulator).

Messages are delivered in FIFO order unless a link is cut; each node's "disk" is a
plain record of what its Readys asked to persist, so a node can be restarted from it.
"""

from __future__ import annotations

import random
from collections import deque

import attrs

from .config import RaftConfig
from .core import Raft, Ready, Role
from .log import RaftLog
from .messages import Entry, EntryKind, HardState, Message, MessageType, Snapshot
from .quorum import ClusterConfig

__all__ = ["MemoryStorage", "Network"]


class MemoryStorage:
    """What a node persisted: hard state, snapshot and log (by replaying Ready.entries)."""

    def __init__(self) -> None:
        self.hard_state = HardState()
        self.snapshot: Snapshot | None = None
        self.entries: list[Entry] = []
        self.base_index = 0
        self.base_term = 0

    def persist(self, rd: Ready) -> None:
        if rd.snapshot is not None:
            self.snapshot = rd.snapshot
            self.entries = []
            self.base_index = rd.snapshot.index
            self.base_term = rd.snapshot.term
        for e in rd.entries:
            off = e.index - self.base_index - 1
            assert 0 <= off <= len(self.entries), f"hole persisting entry {e.index}"
            del self.entries[off:]
            self.entries.append(e)
        if rd.hard_state is not None:
            self.hard_state = rd.hard_state

    def build_log(self) -> RaftLog:
        log = RaftLog(base_index=self.base_index, base_term=self.base_term,
                      entries=list(self.entries), snapshot=self.snapshot)
        return log


class Network:
    def __init__(self, ids: tuple[str, ...] = ("a", "b", "c"), *, config: RaftConfig | None = None,
                 seed: int = 1, configs: dict[str, RaftConfig] | None = None) -> None:
        self.ids = ids
        self.cluster = ClusterConfig(voters=ids)
        self.default_config = config or RaftConfig(election_timeout_ticks=10, heartbeat_ticks=1)
        self.configs = configs or {}
        self.seed = seed
        self.storage: dict[str, MemoryStorage] = {i: MemoryStorage() for i in ids}
        self.nodes: dict[str, Raft] = {}
        self.applied: dict[str, list[Entry]] = {i: [] for i in ids}
        self.read_states: dict[str, list[object]] = {i: [] for i in ids}
        self.queue: deque[Message] = deque()
        self.cuts: set[tuple[str, str]] = set()
        self.down: set[str] = set()
        self.sent: list[Message] = []
        self.snapshots_taken: dict[str, int] = {}
        for i in ids:
            self.start(i)

    def config_of(self, node: str) -> RaftConfig:
        return self.configs.get(node, self.default_config)

    def start(self, node: str) -> Raft:
        st = self.storage[node]
        r = Raft(node_id=node, config=self.config_of(node),
                 rng=random.Random(f"{self.seed}-{node}-{len(self.sent)}"),
                 cluster=self.cluster, hard_state=st.hard_state, log=st.build_log())
        self.nodes[node] = r
        self.applied[node] = []
        if st.snapshot is not None:
            r.log.applied = st.snapshot.index
        self.down.discard(node)
        return r

    def crash(self, node: str) -> None:
        self.down.add(node)
        self.queue = deque(m for m in self.queue if m.dst != node and m.src != node)

    def cut(self, a: str, b: str) -> None:
        self.cuts.add((a, b))
        self.cuts.add((b, a))

    def isolate(self, node: str) -> None:
        for other in self.ids:
            if other != node:
                self.cut(node, other)

    def heal(self) -> None:
        self.cuts.clear()

    def process(self, node: str) -> None:
        r = self.nodes[node]
        while r.has_ready():
            rd = r.ready()
            self.storage[node].persist(rd)
            for m in rd.messages:
                self.sent.append(m)
                self.queue.append(m)
            if rd.snapshot is not None:
                self.applied[node] = [e for e in self.applied[node] if e.index <= rd.snapshot.index]
            for e in rd.committed_entries:
                self.applied[node].append(e)
            for rs in rd.read_states:
                self.read_states[node].append(rs.context)
            r.advance(rd)

    def settle(self, max_messages: int = 100_000) -> int:
        """Process readies and deliver messages until nothing moves."""
        delivered = 0
        while True:
            for node in self.ids:
                if node not in self.down:
                    self.process(node)
            if not self.queue:
                return delivered
            while self.queue:
                m = self.queue.popleft()
                if m.dst in self.down or (m.src, m.dst) in self.cuts or m.dst not in self.nodes:
                    continue
                self.nodes[m.dst].step(m)
                self.process(m.dst)
                delivered += 1
                assert delivered < max_messages, "network did not settle"

    def tick(self, node: str, n: int = 1) -> None:
        for _ in range(n):
            self.nodes[node].tick()
            self.settle()

    def tick_all(self, n: int = 1) -> None:
        for _ in range(n):
            for node in self.ids:
                if node not in self.down:
                    self.nodes[node].tick()
            self.settle()

    def elect(self, node: str) -> Raft:
        r = self.nodes[node]
        r.campaign(transfer=False)
        self.settle()
        assert r.role is Role.LEADER, f"{node} failed to become leader: {r!r}"
        return r

    def leaders(self) -> list[str]:
        return [i for i in self.ids if i not in self.down and self.nodes[i].role is Role.LEADER]

    def propose(self, node: str, data: object) -> int:
        idx = self.nodes[node].propose(data)
        self.settle()
        return idx

    def applied_data(self, node: str) -> list[object]:
        return [e.data for e in self.applied[node] if e.kind is EntryKind.NORMAL]

    def sent_of(self, mtype: MessageType) -> list[Message]:
        return [m for m in self.sent if m.type is mtype]


def with_bugs(config: RaftConfig, *bugs: str) -> RaftConfig:
    return attrs.evolve(config, bugs=frozenset(bugs))
