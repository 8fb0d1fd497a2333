"""The lessor: which leases exist, which keys they hold, and when they run out.

Two kinds of state live here:

* replicated state, changed only by applied requests (grant, revoke, attaching and
  detaching keys): lease ids, granted TTLs, attached keys, the next free id;
* leader-local state: each lease's *deadline* in the member's local clock
  (microseconds).  It is set when a grant is applied (if the caller passes ``now_us``),
  refreshed by :meth:`Lessor.keepalive` (which the leader serves without Raft, as
  etcd does), and reset by :meth:`Lessor.promote` when the member becomes leader.

Expiry is decided by the leader: the server calls :meth:`Lessor.expired` with its
local time and proposes a ``LeaseRevokeRequest(expired=True)`` through Raft for each
returned id.  A lease returned by :meth:`expired` is not returned again until
``expired_retry_us`` has passed (the revoke is in flight), like etcd's
``expiredLeaseRetryInterval``.
"""

from __future__ import annotations

from ..bugs import NO_BUGS, BugSet
from .errors import ErrLeaseExist, ErrLeaseNotFound, ErrLeaseTTLTooLarge
from .types import LeaseState

__all__ = ["MAX_LEASE_TTL_S", "Lease", "Lessor"]

MAX_LEASE_TTL_S = 9_000_000_000
_US_PER_S = 1_000_000


class Lease:
    __slots__ = ("deadline_us", "id", "keys", "retry_at_us", "ttl_s")

    def __init__(self, lease_id: int, ttl_s: int) -> None:
        self.id = lease_id
        self.ttl_s = ttl_s
        self.keys: dict[bytes, None] = {}  # an ordered set
        self.deadline_us: int | None = None
        self.retry_at_us: int | None = None

    def state(self) -> LeaseState:
        return LeaseState(id=self.id, ttl_s=self.ttl_s, keys=tuple(sorted(self.keys)))


class Lessor:
    def __init__(
        self,
        *,
        min_ttl_s: int = 1,
        expired_retry_us: int = 3 * _US_PER_S,
        bugs: BugSet = NO_BUGS,
    ) -> None:
        if min_ttl_s < 1:
            raise ValueError(f"min_ttl_s must be >= 1, got {min_ttl_s}")
        if expired_retry_us < 0:
            raise ValueError(f"expired_retry_us must be >= 0, got {expired_retry_us}")
        self.min_ttl_s = min_ttl_s
        self.expired_retry_us = expired_retry_us
        self.bugs = bugs
        self.primary = False
        self.next_id = 1
        self._leases: dict[int, Lease] = {}

    # ------------------------------------------------------------ replicated

    def __contains__(self, lease_id: int) -> bool:
        return lease_id in self._leases

    def __len__(self) -> int:
        return len(self._leases)

    def get(self, lease_id: int) -> Lease:
        lease = self._leases.get(lease_id)
        if lease is None:
            raise ErrLeaseNotFound(id=lease_id)
        return lease

    def ids(self) -> tuple[int, ...]:
        return tuple(sorted(self._leases))

    def check_grant(self, lease_id: int, ttl_s: int) -> None:
        if lease_id < 0:
            raise ErrLeaseNotFound(id=lease_id)
        if lease_id in self._leases:
            raise ErrLeaseExist(id=lease_id)
        if ttl_s > MAX_LEASE_TTL_S:
            raise ErrLeaseTTLTooLarge(ttl_s=ttl_s)

    def grant(self, lease_id: int, ttl_s: int, now_us: int | None) -> Lease:
        """Create a lease (``lease_id == 0``: the next free id); TTL is raised to ``min_ttl_s``."""
        self.check_grant(lease_id, ttl_s)
        if lease_id == 0:
            while self.next_id in self._leases:
                self.next_id += 1
            lease_id = self.next_id
            self.next_id += 1
        lease = Lease(lease_id, max(ttl_s, self.min_ttl_s))
        if now_us is not None:
            lease.deadline_us = now_us + lease.ttl_s * _US_PER_S
        self._leases[lease_id] = lease
        return lease

    def revoke(self, lease_id: int) -> tuple[bytes, ...]:
        """Forget the lease; return its keys (sorted) for the caller to delete."""
        lease = self.get(lease_id)
        del self._leases[lease_id]
        return tuple(sorted(lease.keys))

    def attach(self, lease_id: int, key: bytes) -> None:
        self.get(lease_id).keys[key] = None

    def detach(self, lease_id: int, key: bytes) -> None:
        lease = self._leases.get(lease_id)
        if lease is not None:
            lease.keys.pop(key, None)

    # ------------------------------------------------------------ leader-local

    def promote(self, now_us: int, extend_us: int = 0) -> None:
        """This member became leader: every lease gets a fresh full TTL from now (+ extend).

        With the ``lease_no_extend_on_leader_change`` bug, leases keep the deadlines
        they had on this member, so a lease kept alive through the old leader expires
        early here.
        """
        self.primary = True
        buggy = "lease_no_extend_on_leader_change" in self.bugs
        for lease_id in sorted(self._leases):
            lease = self._leases[lease_id]
            lease.retry_at_us = None
            if buggy and lease.deadline_us is not None:
                continue
            lease.deadline_us = now_us + extend_us + lease.ttl_s * _US_PER_S

    def demote(self) -> None:
        """This member is no longer leader: it stops reporting expired leases."""
        self.primary = False
        for lease in self._leases.values():
            lease.retry_at_us = None

    def keepalive(self, lease_id: int, now_us: int) -> int:
        """Refresh the lease's deadline to now + TTL; return the TTL in seconds."""
        lease = self.get(lease_id)
        if self.primary and lease.deadline_us is not None and lease.deadline_us <= now_us:
            raise ErrLeaseNotFound(id=lease_id, expired=True)
        lease.deadline_us = now_us + lease.ttl_s * _US_PER_S
        lease.retry_at_us = None
        return lease.ttl_s

    def remaining_s(self, lease_id: int, now_us: int) -> int:
        """Seconds left (truncated, as etcd reports them); the full TTL if untracked."""
        lease = self.get(lease_id)
        if lease.deadline_us is None:
            return lease.ttl_s
        return max(0, (lease.deadline_us - now_us) // _US_PER_S)

    def expired(self, now_us: int, limit: int = 1000) -> tuple[int, ...]:
        """Leases past their deadline that the leader should revoke now (empty unless primary).

        A lease whose deadline is unknown (granted without ``now_us``) starts its TTL
        at this call.  A returned lease is held back for ``expired_retry_us``.
        """
        if not self.primary:
            return ()
        out: list[int] = []
        for lease_id in sorted(self._leases):
            lease = self._leases[lease_id]
            if lease.deadline_us is None:
                lease.deadline_us = now_us + lease.ttl_s * _US_PER_S
                continue
            if lease.deadline_us > now_us:
                continue
            if lease.retry_at_us is not None and lease.retry_at_us > now_us:
                continue
            lease.retry_at_us = now_us + self.expired_retry_us
            out.append(lease_id)
            if len(out) >= limit:
                break
        return tuple(out)

    def next_deadline_us(self) -> int | None:
        """The earliest deadline (for the server's timer), or None."""
        deadlines = [lease.deadline_us for lease in self._leases.values()
                     if lease.deadline_us is not None]
        return min(deadlines) if deadlines else None

    # ------------------------------------------------------------ snapshot

    def dump(self) -> tuple[LeaseState, ...]:
        return tuple(self._leases[i].state() for i in sorted(self._leases))

    def load(self, leases: tuple[LeaseState, ...], next_id: int) -> None:
        """Replace the replicated state; deadlines are unknown until :meth:`promote`."""
        self._leases = {}
        for st in leases:
            lease = Lease(st.id, st.ttl_s)
            for key in st.keys:
                lease.keys[key] = None
            self._leases[st.id] = lease
        self.next_id = next_id
