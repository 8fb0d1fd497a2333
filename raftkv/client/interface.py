"""The async etcd client interface that ``async`` components are written against.

Two implementations return the same values: :class:`raftkv.client.aio.SimEtcdClient`
(in the simulator, over the callback :class:`~raftkv.client.Client`) and a gateway
client speaking etcd's v3 JSON API to a real cluster.  Results are the response
values of :mod:`raftkv.kv` (``RangeResponse``, ``PutResponse``...); failures raise the
etcd-named errors of :mod:`raftkv.kv.errors`:

* :class:`~raftkv.kv.ErrTimeout`: the outcome is **unknown** (the request may have
  taken effect, and may still do so later); never retried blindly by the client;
* any other :class:`~raftkv.kv.KVError` (``ErrCompacted``, ``ErrLeaseNotFound``,
  ``ErrNoLeader``...): the request certainly did not take effect.

Keys and values are ``bytes``.  ``prefix=True`` selects every key starting with
``key`` (etcd's ``WithPrefix``); ``range_end`` gives an explicit ``[key, range_end)``.

A watch is an async iterator of :class:`~raftkv.kv.WatchResponse` (events and
progress notifications, never the ``created`` response), usable as an async context
manager that cancels it on exit.  The client keeps it going across member failures
(resuming after the last revision it delivered); when the revision it needs was
compacted, iteration raises :class:`~raftkv.kv.ErrCompacted` with
``details["compact_revision"]``: list again and watch from the new revision.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Protocol

from raftkv.kv import (
    CompactionResponse,
    DeleteRangeResponse,
    ErrLeaseNotFound,
    KVError,
    LeaseGrantResponse,
    LeaseKeepAliveResponse,
    LeaseLeasesResponse,
    LeaseRevokeResponse,
    LeaseTimeToLiveResponse,
    PutResponse,
    RangeResponse,
    TxnRequest,
    TxnResponse,
    WatchFilter,
    WatchResponse,
)
from raftkv.kv.protocol import MemberListResponse, MemberStatus
from raftkv.tasks import Runtime

__all__ = ["AsyncEtcdClient", "WatchStream", "keep_lease_alive"]


class WatchStream(Protocol):
    """One logical watch (see the module docstring)."""

    @property
    def watch_id(self) -> str: ...

    def __aiter__(self) -> AsyncIterator[WatchResponse]: ...

    async def __anext__(self) -> WatchResponse:
        """The next response; raises ``ErrCompacted`` when the watch was compacted away,
        ``StopAsyncIteration`` once cancelled."""
        ...

    def request_progress(self) -> None:
        """Ask for a progress notification (etcd's RequestProgress)."""
        ...

    def cancel(self) -> None: ...

    async def __aenter__(self) -> WatchStream: ...

    async def __aexit__(self, *exc: object) -> None: ...


class AsyncEtcdClient(Protocol):
    """etcd's KV, Lease, Watch, Cluster and Maintenance calls, ``async``."""

    async def get(self, key: bytes, *, range_end: bytes = b"", prefix: bool = False,
                  revision: int = 0, serializable: bool = False, limit: int = 0,
                  keys_only: bool = False, count_only: bool = False) -> RangeResponse: ...

    async def put(self, key: bytes, value: bytes, *, lease: int = 0,
                  prev_kv: bool = False) -> PutResponse: ...

    async def delete(self, key: bytes, *, range_end: bytes = b"", prefix: bool = False,
                     prev_kv: bool = False) -> DeleteRangeResponse: ...

    async def txn(self, request: TxnRequest) -> TxnResponse:
        """Build ``request`` with :class:`raftkv.client.Txn`."""
        ...

    async def cas(self, key: bytes, expected: bytes | None, new: bytes) -> TxnResponse:
        """Put ``new`` if ``key`` holds ``expected`` (None: absent); ``succeeded`` says."""
        ...

    async def compact(self, revision: int, *, physical: bool = False) -> CompactionResponse: ...

    async def lease_grant(self, ttl_s: int, *, lease_id: int = 0) -> LeaseGrantResponse: ...

    async def lease_keepalive_once(self, lease_id: int) -> LeaseKeepAliveResponse:
        """One keep-alive; raises ``ErrLeaseNotFound`` when the lease is gone."""
        ...

    async def lease_revoke(self, lease_id: int) -> LeaseRevokeResponse: ...

    async def lease_time_to_live(self, lease_id: int, *,
                                 keys: bool = False) -> LeaseTimeToLiveResponse: ...

    async def lease_leases(self) -> LeaseLeasesResponse: ...

    def watch(self, key: bytes, *, range_end: bytes = b"", prefix: bool = False,
              start_revision: int = 0, prev_kv: bool = False, progress_notify: bool = False,
              filters: tuple[WatchFilter, ...] = ()) -> WatchStream:
        """Open a watch (``start_revision == 0``: from the next revision)."""
        ...

    async def member_list(self, *, linearizable: bool = True) -> MemberListResponse: ...

    async def status(self, *, member: str | None = None) -> MemberStatus: ...

    async def aclose(self) -> None:
        """Cancel the client's watches and release what it holds."""
        ...


async def keep_lease_alive(rt: Runtime, client: AsyncEtcdClient, lease_id: int, ttl_s: int, *,
                           interval_s: float | None = None) -> None:
    """Keep ``lease_id`` alive until cancelled (etcd's KeepAlive loop).

    Sends a keep-alive every ``interval_s`` (default a third of the TTL); after a failed
    or unknown one it tries again sooner (a tenth of the TTL).  Returns when the lease
    is gone (expired or revoked): the caller must then treat what it attached as lost.
    """
    every_s = ttl_s / 3 if interval_s is None else interval_s
    assert every_s > 0, f"keep-alive interval must be positive, got {every_s}"
    while True:
        try:
            resp = await client.lease_keepalive_once(lease_id)
        except ErrLeaseNotFound:
            return
        except KVError:
            await rt.sleep(min(every_s, ttl_s / 10))
            continue
        if resp.ttl_s <= 0:
            return
        await rt.sleep(every_s)
