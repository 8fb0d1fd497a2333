"""Service registration and discovery, the etcd way.

An instance registers itself under ``/services/<name>/<id>`` with a JSON value
(address, port, metadata) attached to a lease with a TTL, keeps the lease alive, and
revokes it on shutdown; if it stops keeping the lease alive (it crashed, hung or was cut
off), etcd deletes the key when the TTL runs out.  A discovery client lists the
prefix, then watches it from the next revision, keeping a local view and calling
back on every change; when the revision it needs was compacted it lists again, and the
etcd client underneath moves its watch to another member when one is lost.

Both are ``async`` components written against :class:`raftkv.tasks.Runtime` and
:class:`raftkv.client.AsyncEtcdClient`, so they run in the simulator and on trio.
"""

from __future__ import annotations

import json
from collections.abc import Callable

import attrs

from raftkv.client import AsyncEtcdClient, ErrCompacted, KVError, keep_lease_alive
from raftkv.tasks import Runtime

__all__ = ["BUG_NO_RELIST", "SERVICES_PREFIX", "DiscoveryClient", "Instance", "InstanceError", "Registration",
           "compact_periodically"]

SERVICES_PREFIX = "/services/"
#: The catalogued bug of this module (see raftkv.bugs).
BUG_NO_RELIST = "discovery_no_relist_after_compaction"


class InstanceError(ValueError):
    """A registration value that is not an instance's JSON."""


@attrs.frozen(kw_only=True)
class Instance:
    """One registered instance of a service (the stored value is its JSON)."""

    service: str
    id: str
    address: str
    port: int
    metadata: tuple[tuple[str, str], ...] = ()

    def __attrs_post_init__(self) -> None:
        for field in ("service", "id"):
            value = getattr(self, field)
            if not value or "/" in value:
                raise InstanceError(f"instance {field} must be non-empty without '/', got {value!r}")
        if not 0 < self.port < 65536:
            raise InstanceError(f"instance port must be 1..65535, got {self.port}")

    @property
    def key(self) -> str:
        return f"{SERVICES_PREFIX}{self.service}/{self.id}"

    def to_json(self) -> bytes:
        return json.dumps({"address": self.address, "port": self.port,
                           "metadata": dict(self.metadata)}, sort_keys=True).encode()

    @classmethod
    def from_kv(cls, key: str, value: bytes) -> Instance:
        """Parse a stored registration (``InstanceError`` says what is wrong)."""
        parts = key[len(SERVICES_PREFIX):].split("/") if key.startswith(SERVICES_PREFIX) else []
        if len(parts) != 2:
            raise InstanceError(f"{key!r} is not {SERVICES_PREFIX}<service>/<id>")
        try:
            data = json.loads(value)
            metadata = tuple(sorted((str(k), str(v)) for k, v in data.get("metadata", {}).items()))
            return cls(service=parts[0], id=parts[1], address=str(data["address"]),
                       port=int(data["port"]), metadata=metadata)
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise InstanceError(f"{key!r}: not an instance's JSON ({exc})") from None


class Registration:
    """Keeps ``instance`` registered with a lease of ``ttl_s`` while :meth:`run` runs.

    A lost lease (expired while the instance was cut off or paused) is replaced by a new
    one and the key written again; a write whose outcome is unknown is simply written
    again with the next lease.  :meth:`deregister` revokes the lease (clean shutdown).
    """

    def __init__(self, rt: Runtime, client: AsyncEtcdClient, instance: Instance, *, ttl_s: int,
                 retry_s: float = 0.2) -> None:
        if ttl_s < 1:
            raise ValueError(f"registration ttl_s must be >= 1, got {ttl_s}")
        self.rt = rt
        self.client = client
        self.instance = instance
        self.ttl_s = ttl_s
        self.retry_s = retry_s
        self.lease_id = 0
        self.registrations = 0  # how many times the key was written and acknowledged

    async def run(self) -> None:
        key, value = self.instance.key.encode(), self.instance.to_json()
        while True:
            try:
                lease = await self.client.lease_grant(self.ttl_s)
                self.lease_id = lease.id
                await self.client.put(key, value, lease=lease.id)
            except KVError as exc:
                self.rt.record("discovery.register_failed", key=self.instance.key, error=str(exc))
                await self.rt.sleep(self.retry_s)
                continue
            self.registrations += 1
            self.rt.record("discovery.registered", key=self.instance.key, lease=lease.id)
            await keep_lease_alive(self.rt, self.client, lease.id, self.ttl_s)
            self.rt.record("discovery.lease_lost", key=self.instance.key, lease=lease.id)

    async def deregister(self) -> None:
        """Revoke the lease (its key goes with it); an unknown outcome is left to the TTL."""
        if self.lease_id:
            try:
                await self.client.lease_revoke(self.lease_id)
            except KVError:
                pass
            self.lease_id = 0


ChangeCallback = Callable[[str, "Instance | None"], None]


class DiscoveryClient:
    """A local view of ``/services/`` (or one service's prefix), kept by list + watch.

    ``view`` maps keys to instances as of ``revision``; ``on_change(key, instance)`` is
    called for every change (``None``: removed).  Values that are not instances' JSON are
    left out of the view (and recorded).
    """

    def __init__(self, rt: Runtime, client: AsyncEtcdClient, *, prefix: str = SERVICES_PREFIX,
                 on_change: ChangeCallback | None = None, retry_s: float = 0.2,
                 bugs: frozenset[str] = frozenset()) -> None:
        self.rt = rt
        self.client = client
        self.prefix = prefix
        self.on_change = on_change
        self.retry_s = retry_s
        self.bugs = bugs
        self.view: dict[str, Instance] = {}
        self.revision = 0
        self.lists = 0

    def instances(self, service: str) -> list[Instance]:
        return [inst for key, inst in sorted(self.view.items()) if inst.service == service]

    def _set(self, key: str, value: bytes | None) -> None:
        if value is None:
            if self.view.pop(key, None) is not None and self.on_change is not None:
                self.on_change(key, None)
            return
        try:
            inst = Instance.from_kv(key, value)
        except InstanceError as exc:
            self.rt.record("discovery.bad_value", key=key, error=str(exc))
            self._set(key, None)
            return
        if self.view.get(key) != inst:
            self.view[key] = inst
            if self.on_change is not None:
                self.on_change(key, inst)

    async def _list(self) -> None:
        resp = await self.client.get(self.prefix.encode(), prefix=True)
        listed = {kv.key.decode(): kv.value for kv in resp.kvs}
        for key in sorted(self.view):
            if key not in listed:
                self._set(key, None)
        for key, value in sorted(listed.items()):
            self._set(key, value)
        self.revision = resp.header.revision
        self.lists += 1

    async def run(self) -> None:
        """List, then watch from the next revision; again after a compaction; forever."""
        resume_at = 0  # only with the catalogued bug: watch on from here without listing
        while True:
            try:
                if not resume_at:
                    await self._list()
                start, resume_at = resume_at or self.revision + 1, 0
                async with self.client.watch(self.prefix.encode(), prefix=True,
                                             start_revision=start) as stream:
                    async for resp in stream:
                        for ev in resp.events:
                            key = ev.kv.key.decode()
                            self._set(key, ev.kv.value if ev.type.name == "PUT" else None)
                        self.revision = max(self.revision, resp.header_revision)
            except ErrCompacted as exc:
                self.rt.record("discovery.compacted", revision=self.revision,
                               compact_revision=exc.details.get("compact_revision", 0))
                if BUG_NO_RELIST in self.bugs:
                    resume_at = int(exc.details.get("compact_revision", 0)) + 1
            except KVError as exc:
                self.rt.record("discovery.retry", error=str(exc))
                await self.rt.sleep(self.retry_s)


COMPACT_KEY = b"compact_rev_key"


async def compact_periodically(rt: Runtime, client: AsyncEtcdClient, interval_s: float) -> None:
    """Every ``interval_s``, note the time under ``compact_rev_key`` and compact the store
    at that write's revision, forever (kube-apiserver's compactor does the same, only
    every five minutes)."""
    while True:
        await rt.sleep(interval_s)
        try:
            resp = await client.put(COMPACT_KEY, str(rt.now_us()).encode())
            await client.compact(resp.header.revision)
        except KVError as exc:
            rt.record("compactor.retry", error=str(exc))
