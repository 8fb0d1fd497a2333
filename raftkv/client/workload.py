"""WorkloadClient: a Jepsen-style process issuing a random etcd mix.

One operation at a time (the next starts a random pause after the last one ended),
on a small key set ``k0 .. k{keys-1}``, drawn from ``env.rng`` with the weights of
``mix``.  Operation names (also the history's ``f`` names unless noted):

* ``get`` / ``stale_get`` (serializable) of one key;
* ``put`` of a unique value ``<client>-<n>``;  ``delete`` of one key;
* ``cas``: a txn putting a unique value if the key holds the value this client last
  saw there (or is absent), recorded with value ``[expected, new]``;
* ``put_lease``: ``put`` with the client's lease (granting one first, as a
  ``lease_grant`` operation, when it has none);
* ``lease_keepalive`` / ``lease_revoke`` of the client's lease (a grant when it has none);
* ``watch``: opens a watch (one key or the whole ``k`` prefix, sometimes from a past
  revision, with prev_kv, filters or progress notifications), or cancels the oldest
  once ``max_watches`` are open; watches are not operations but stream records;
* ``compact``: compaction to a revision a little behind the newest one seen.

After :meth:`WorkloadClient.quiesce` no new operation starts.
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import Any

import attrs

from raftkv.bugs import NO_BUGS, BugSet
from raftkv.check.builder import HistoryBuilder
from raftkv.env import Env
from raftkv.kv import (
    CompactionResponse,
    DeleteRangeResponse,
    ErrLeaseNotFound,
    LeaseGrantResponse,
    PutResponse,
    RangeResponse,
    TxnResponse,
    WatchFilter,
    WatchResponse,
    prefix_end,
)

from .client import Client, ClientConfig, Result, Watch

__all__ = ["OPERATIONS", "WorkloadClient", "WorkloadParams"]

OPERATIONS = ("get", "stale_get", "put", "delete", "cas", "put_lease", "lease_keepalive",
              "lease_revoke", "watch", "compact")
_TAG_NEXT = "workload.next"


@attrs.frozen(kw_only=True)
class WorkloadParams:
    ops_per_s: float = 10.0  # this client's rate (simulated time)
    keys: int = 3
    mix: tuple[tuple[str, int], ...] = (("get", 1), ("put", 1))
    op_timeout_us: int = 1_000_000
    lease_ttl_s: int = 3
    max_watches: int = 2

    def __attrs_post_init__(self) -> None:
        if self.ops_per_s <= 0:
            raise ValueError(f"WorkloadParams.ops_per_s must be positive, got {self.ops_per_s}")
        if self.keys < 1:
            raise ValueError(f"WorkloadParams.keys must be >= 1, got {self.keys}")
        for name, weight in self.mix:
            if name not in OPERATIONS:
                raise ValueError(f"WorkloadParams.mix: unknown operation {name!r}; "
                                 f"known: {', '.join(OPERATIONS)}")
            if weight < 0:
                raise ValueError(f"WorkloadParams.mix: weight of {name!r} is negative")
        if not any(w > 0 for _, w in self.mix):
            raise ValueError("WorkloadParams.mix: no operation has a positive weight")


class WorkloadClient:
    """An actor; ``client`` is its :class:`Client`, ``pending`` whether an op is running."""

    def __init__(self, env: Env, members: tuple[str, ...], params: WorkloadParams,
                 recorder: HistoryBuilder | None, *, bugs: BugSet = NO_BUGS,
                 client_config: ClientConfig | None = None) -> None:
        self.env = env
        self.params = params
        cfg = client_config or ClientConfig(op_timeout_us=params.op_timeout_us)
        self.client = Client(env, members, recorder=recorder, config=cfg, bugs=bugs)
        self.keys = tuple(f"k{i}".encode() for i in range(params.keys))
        self._names = tuple(name for name, w in params.mix if w > 0)
        self._weights = tuple(w for _, w in params.mix if w > 0)
        self.period_us = max(1, int(1_000_000 / params.ops_per_s))
        self.pending = False
        self.quiesced = False
        self.lease = 0
        self.writes = 0
        self.max_revision = 0
        self.last_seen: dict[bytes, bytes | None] = {}
        self.watches: list[Watch] = []
        self.counts: dict[str, int] = {}

    # ------------------------------------------------------------------ actor
    def on_start(self) -> None:
        self._schedule()

    def on_message(self, src: str, msg: Any) -> None:
        self.client.on_message(src, msg)

    def on_timer(self, tag: Hashable) -> None:
        if tag == _TAG_NEXT:
            if not self.quiesced and not self.pending:
                self._issue()
        else:
            self.client.on_timer(tag)

    def quiesce(self) -> None:
        self.quiesced = True

    def _schedule(self) -> None:
        if not self.quiesced:
            self.env.set_timer(self.env.rng.randint(1, 2 * self.period_us), _TAG_NEXT)

    # ------------------------------------------------------------------ operations
    def _value(self) -> bytes:
        self.writes += 1
        return f"{self.env.node_id}-{self.writes}".encode()

    def _issue(self) -> None:
        rng = self.env.rng
        name = rng.choices(self._names, self._weights)[0]
        key = rng.choice(self.keys)
        c = self.client
        if name == "lease_revoke" and not self.lease:
            name = "get"
        if name == "compact" and self.max_revision < 2:
            name = "get"
        if name == "watch":
            self._watch_op(key)
            self._schedule()
            return
        self.counts[name] = self.counts.get(name, 0) + 1
        self.pending = True
        if name in ("get", "stale_get"):
            c.get(key, lambda r: self._done_read(key, r), serializable=name == "stale_get")
        elif name == "put":
            val = self._value()
            c.put(key, val, lambda r: self._done_write(key, val, r))
        elif name == "delete":
            c.delete(key, lambda r: self._done_write(key, None, r))
        elif name == "cas":
            expected = self.last_seen.get(key)
            val = self._value()
            c.cas(key, expected, val, lambda r: self._done_cas(key, val, r))
        elif name in ("put_lease", "lease_keepalive") and not self.lease:
            c.lease_grant(self.params.lease_ttl_s, self._done_grant)
        elif name == "put_lease":
            val = self._value()
            c.put(key, val, lambda r: self._done_write(key, val, r), lease=self.lease)
        elif name == "lease_keepalive":
            c.lease_keepalive(self.lease, self._done_keepalive)
        elif name == "lease_revoke":
            c.lease_revoke(self.lease, self._done_revoke)
        else:
            assert name == "compact", name
            rev = max(1, self.max_revision - rng.randint(0, 10))
            c.compact(rev, self._done_other)

    def _seen_revision(self, r: Result) -> None:
        resp = r.response
        header = getattr(resp, "header", None)
        if header is not None:
            self.max_revision = max(self.max_revision, header.revision)

    def _end(self) -> None:
        self.pending = False
        self._schedule()

    def _done_read(self, key: bytes, r: Result) -> None:
        if r.ok and isinstance(r.response, RangeResponse):
            self._seen_revision(r)
            kvs = r.response.kvs
            self.last_seen[key] = kvs[0].value if kvs else None
        self._end()

    def _done_write(self, key: bytes, val: bytes | None, r: Result) -> None:
        if r.ok:
            assert isinstance(r.response, PutResponse | DeleteRangeResponse), r.response
            self._seen_revision(r)
            self.last_seen[key] = val
        elif isinstance(r.error, ErrLeaseNotFound):
            self.lease = 0
        self._end()

    def _done_cas(self, key: bytes, val: bytes, r: Result) -> None:
        if r.ok:
            assert isinstance(r.response, TxnResponse)
            self._seen_revision(r)
            if r.response.succeeded:
                self.last_seen[key] = val
            else:
                self.last_seen.pop(key, None)  # unknown now: expect absent next time
        self._end()

    def _done_grant(self, r: Result) -> None:
        if r.ok:
            assert isinstance(r.response, LeaseGrantResponse)
            self.lease = r.response.id
        self._end()

    def _done_keepalive(self, r: Result) -> None:
        if r.outcome == "fail" and isinstance(r.error, ErrLeaseNotFound):
            self.lease = 0
        self._end()

    def _done_revoke(self, r: Result) -> None:
        if r.outcome != "fail" or isinstance(r.error, ErrLeaseNotFound):
            self.lease = 0
        self._end()

    def _done_other(self, r: Result) -> None:
        if r.ok and isinstance(r.response, CompactionResponse):
            self._seen_revision(r)
        self._end()

    # ------------------------------------------------------------------ watches
    def _watch_op(self, key: bytes) -> None:
        self.watches = [w for w in self.watches if not w.closed]
        if len(self.watches) >= self.params.max_watches:
            self.watches.pop(0).cancel()
            return
        rng = self.env.rng
        if rng.random() < 0.5:
            wkey, range_end = b"k", prefix_end(b"k")
        else:
            wkey, range_end = key, b""
        start = 0
        if self.max_revision > 1 and rng.random() < 0.4:
            start = max(1, self.max_revision - rng.randint(0, 5))
        filters: tuple[WatchFilter, ...] = ()
        roll = rng.random()
        if roll < 0.1:
            filters = (WatchFilter.NOPUT,)
        elif roll < 0.2:
            filters = (WatchFilter.NODELETE,)
        self.counts["watch"] = self.counts.get("watch", 0) + 1
        w = self.client.watch(wkey, self._on_watch, range_end=range_end, start_revision=start,
                              prev_kv=rng.random() < 0.5, filters=filters,
                              progress_notify=rng.random() < 0.5)
        self.watches.append(w)

    def _on_watch(self, resp: WatchResponse) -> None:
        if resp.header_revision > self.max_revision and not resp.canceled:
            self.max_revision = resp.header_revision
