"""Leader election through a ``coordination.k8s.io/v1`` Lease (client-go's
``leaderelection`` with a ``LeaseLock``), with fenced writes.

Candidates share one Lease (``spec.holderIdentity``, ``leaseDurationSeconds``,
``acquireTime``, ``renewTime``, ``leaseTransitions``).  Every ``retry_period_s`` a
candidate reads it: a holder whose record it has not seen change for
``lease_duration_s`` (timed on the candidate's own monotonic clock from when it saw the
record change, never by comparing clocks) may be replaced; the take-over is an update
with the Lease's resourceVersion as a precondition, and increments ``leaseTransitions``.
The leader renews every ``retry_period_s`` and gives up when no renewal succeeded for
``renew_deadline_s``; its work (``lead(client)``) is cancelled, and it is a candidate
again.  A new leader first records a ``LeaderElection`` Event ("<identity> became
leader"), as client-go's elector does.

Timing alone cannot stop a paused or slow leader from writing after it was deposed, so
``lead`` gets a :class:`FencedClient`: each of its writes carries the leader's term
(:class:`kube.fencing.Fence`) and fails once the Lease has moved on.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

import attrs

from raftkv.tasks import Runtime

from .apiserver import Request
from .client import KubeClient, Transport
from .errors import ApiError
from .fencing import FENCE_PARAM, WRITE_VERBS, Fence
from .meta import format_timestamp

__all__ = ["BUG_NO_FENCING", "FencedClient", "LeaderElectionConfig", "LeaderElector", "WriteObserver"]

#: the catalogued bug (raftkv.bugs): a leader's writes carry no fence
BUG_NO_FENCING = "leader_election_no_fencing"

#: ``on_write(fence, request, resource_version)`` for each write that succeeded
WriteObserver = Callable[[Fence, Request, int], None]


class FencedClient(KubeClient):
    """A kube client whose writes carry ``fence`` (:mod:`kube.fencing`) and name the
    term as their ``fieldManager``; ``on_write`` sees each write that succeeded, with the
    resourceVersion it landed at."""

    def __init__(self, transport: Transport, fence: Fence, *, on_write: WriteObserver | None = None,
                 bugs: frozenset[str] = frozenset()) -> None:
        super().__init__(transport)
        self.fence = fence
        self.on_write = on_write
        self.send_fence = BUG_NO_FENCING not in bugs

    async def _call(self, req: Request) -> Any:
        write = req.verb in WRITE_VERBS
        if write:
            extra = ((FENCE_PARAM, self.fence.to_param()),) if self.send_fence else ()
            req = attrs.evolve(req, query=(*req.query, *extra, ("fieldManager", self.fence.to_param())))
        body = await super()._call(req)
        if write and self.on_write is not None and isinstance(body, dict):
            rv = (body.get("metadata") or {}).get("resourceVersion")
            if rv:
                self.on_write(self.fence, req, int(rv))
        return body


@attrs.frozen(kw_only=True)
class LeaderElectionConfig:
    """client-go's defaults are 15 s, 10 s and 2 s; the simulation's are shorter."""

    lease_name: str
    identity: str
    lease_namespace: str = "kube-system"
    lease_duration_s: int = 3
    renew_deadline_s: float = 2.0
    retry_period_s: float = 0.5

    def __attrs_post_init__(self) -> None:
        assert self.lease_duration_s > self.renew_deadline_s > self.retry_period_s > 0, (
            "need lease_duration_s > renew_deadline_s > retry_period_s > 0")
        assert self.identity and ":" not in self.identity, f"bad identity {self.identity!r}"


Lead = Callable[[KubeClient], Coroutine[Any, Any, None]]


class LeaderElector:
    def __init__(self, rt: Runtime, client: KubeClient, config: LeaderElectionConfig, *,
                 on_write: WriteObserver | None = None, bugs: frozenset[str] = frozenset()) -> None:
        self.rt = rt
        self.client = client
        self.config = config
        self.on_write = on_write
        self.bugs = bugs
        self._observed: tuple[Any, ...] | None = None  # (holder, renewTime, transitions) last seen
        self._observed_us = 0  # local monotonic time it was seen
        self.fence: Fence | None = None  # the term while leading
        self.terms = 0

    @property
    def leading(self) -> bool:
        return self.fence is not None

    def _lease(self, spec: dict[str, Any]) -> dict[str, Any]:
        c = self.config
        return {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
                "metadata": {"name": c.lease_name, "namespace": c.lease_namespace}, "spec": spec}

    async def try_acquire_or_renew(self) -> Fence | None:
        """One round (client-go's ``tryAcquireOrRenew``): the term held, or None."""
        c = self.config
        now_us = self.rt.monotonic_us()
        stamp = format_timestamp(self.rt.now_us())
        try:
            lease = await self.client.get("leases", c.lease_name, c.lease_namespace)
        except ApiError as exc:
            if exc.code != 404:
                raise
            spec: dict[str, Any] = {"holderIdentity": c.identity, "leaseDurationSeconds": c.lease_duration_s,
                    "acquireTime": stamp, "renewTime": stamp, "leaseTransitions": 0}
            await self.client.create("leases", self._lease(spec))
            self._observe((c.identity, stamp, 0), now_us)
            return Fence(lease_namespace=c.lease_namespace, lease_name=c.lease_name, holder=c.identity, transitions=0)
        spec = dict(lease.get("spec") or {})
        holder, transitions = spec.get("holderIdentity") or "", int(spec.get("leaseTransitions", 0))
        record = (holder, spec.get("renewTime"), transitions)
        if record != self._observed:
            self._observe(record, now_us)
        duration_us = int(spec.get("leaseDurationSeconds") or c.lease_duration_s) * 1_000_000
        if holder and holder != c.identity and self._observed_us + duration_us > now_us:
            return None  # held by another, and not expired as far as we have seen
        if holder != c.identity:
            transitions += 1
            spec["acquireTime"] = stamp
        spec.update(holderIdentity=c.identity, leaseDurationSeconds=c.lease_duration_s, renewTime=stamp,
                    leaseTransitions=transitions)
        lease["spec"] = spec  # metadata.resourceVersion stays: an optimistic lock
        await self.client.update("leases", lease)
        self._observe((c.identity, stamp, transitions), now_us)
        return Fence(lease_namespace=c.lease_namespace, lease_name=c.lease_name, holder=c.identity,
                     transitions=transitions)

    def _observe(self, record: tuple[Any, ...], now_us: int) -> None:
        self._observed, self._observed_us = record, now_us

    async def _round(self) -> Fence | None:
        try:
            return await self.try_acquire_or_renew()
        except ApiError as exc:
            self.rt.record("leader.retry", lease=self.config.lease_name, identity=self.config.identity,
                           error=exc.reason)
            return None

    async def run(self, lead: Lead, transport: Transport) -> None:
        """Campaign, lead while the Lease is ours, and campaign again, forever."""
        c = self.config
        rng = self.rt.random()
        while True:
            fence = await self._round()
            if fence is None:
                await self.rt.sleep(c.retry_period_s * (1 + 0.2 * rng.random()))
                continue
            self.fence = fence
            self.terms += 1
            self.rt.record("leader.elected", lease=c.lease_name, identity=c.identity, term=fence.transitions)
            client = FencedClient(transport, fence, on_write=self.on_write, bugs=self.bugs)
            await self._announce(client, fence)
            work = self.rt.spawn(lead(client), name=f"lead:{c.lease_name}")
            try:
                await self._renew(fence)
            finally:
                work.cancel()
                self.fence = None
            self.rt.record("leader.lost", lease=c.lease_name, identity=c.identity, term=fence.transitions)

    async def _announce(self, client: KubeClient, fence: Fence) -> None:
        """The ``LeaderElection`` Event client-go records on the lock ("<id> became
        leader"), written as the new term's first fenced write."""
        c = self.config
        try:
            await client.create("events", {
                "apiVersion": "v1", "kind": "Event",
                "metadata": {"name": f"{c.lease_name}.{c.identity}.{fence.transitions}", "namespace": c.lease_namespace},
                "involvedObject": {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "name": c.lease_name,
                                   "namespace": c.lease_namespace},
                "reason": "LeaderElection", "type": "Normal", "message": f"{c.identity} became leader",
                "source": {"component": c.lease_name}})
        except ApiError as exc:
            self.rt.record("leader.event_failed", lease=c.lease_name, identity=c.identity, error=exc.reason)

    async def _renew(self, fence: Fence) -> None:
        """Renew until no renewal succeeded for ``renew_deadline_s`` or another holds the Lease."""
        c = self.config
        last_us = self.rt.monotonic_us()
        while True:
            await self.rt.sleep(c.retry_period_s)
            got = await self._round()
            if got == fence:
                last_us = self.rt.monotonic_us()
            elif got is not None or self.rt.monotonic_us() - last_us > c.renew_deadline_s * 1_000_000:
                return
            elif self._observed is not None and self._observed[0] not in ("", c.identity):
                return  # another holds it now
