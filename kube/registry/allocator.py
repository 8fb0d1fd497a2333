"""Service ClusterIP and NodePort allocation (kube-apiserver's ``ipallocator`` and
``portallocator`` over a ``RangeAllocation`` object, and their repair loops).

Each range is one bitmap stored in raftkv under ``/registry/ranges/serviceips`` and
``/registry/ranges/servicenodeports`` (the keys kube-apiserver uses): a JSON
``RangeAllocation`` (``range``, ``data`` = the base64 bitmap).  Allocating reads the
bitmap, picks a free bit (a random offset from the runtime's seeded random, then the
next free one, as kube's random-scan strategy does), and writes it back only if the key
is still at the revision read (a compare-and-swap on its resourceVersion); a lost race
reads again.  Several apiservers can therefore allocate at once and never hand out one
address twice.

:class:`ServiceAllocator` allocates before a Service is stored and releases when it is
deleted (or its create failed); a crash in between leaks a bit, which :meth:`repair`
(kube's ``Repair`` controllers, every ``repair_interval_s`` on every apiserver) takes
back after it has been seen unused on ``LEAK_REPAIRS`` passes in a row, and it marks
again the addresses of stored Services the bitmap lost.

``BUG_NO_CAS`` (``clusterip_duplicate_allocation``): the bitmap is written back without
the revision precondition, so a racing allocation overwrites another's bit and a later
Service gets an address already in use.
"""

from __future__ import annotations

import base64
import ipaddress
import json
from typing import Any

import attrs

from raftkv.client import AsyncEtcdClient, KVError, Txn, txn
from raftkv.tasks import Runtime

from .. import errors
from .store import etcd_error

__all__ = ["BUG_NO_CAS", "IP_RANGE_KEY", "LEAK_REPAIRS", "NODE_PORT_RANGE", "PORT_RANGE_KEY", "Range",
           "RangeAllocator", "ServiceAllocator", "service_node_ports", "wants_cluster_ip", "wants_node_ports"]

BUG_NO_CAS = "clusterip_duplicate_allocation"
IP_RANGE_KEY = b"/registry/ranges/serviceips"
PORT_RANGE_KEY = b"/registry/ranges/servicenodeports"
NODE_PORT_RANGE = (30000, 32767)
LEAK_REPAIRS = 3
MAX_CAS_RETRIES = 20


@attrs.frozen(kw_only=True)
class Range:
    """``size`` values; value ``i`` is ``first + i`` (an IP as an int, or a port)."""

    name: str  # "10.96.0.0/12" or "30000-32767"
    first: int
    size: int
    is_ip: bool

    @classmethod
    def cidr(cls, cidr: str) -> Range:
        net = ipaddress.ip_network(cidr)
        assert net.num_addresses >= 4, f"service CIDR {cidr} is too small"
        # network and broadcast addresses are never handed out; the first host is the
        # ``kubernetes`` Service's, reserved as kube-apiserver does
        return cls(name=cidr, first=int(net.network_address) + 2, size=net.num_addresses - 3, is_ip=True)

    @classmethod
    def ports(cls, low: int, high: int) -> Range:
        assert 0 < low <= high < 65536, f"bad port range {low}-{high}"
        return cls(name=f"{low}-{high}", first=low, size=high - low + 1, is_ip=False)

    def offset(self, value: str | int) -> int | None:
        try:
            n = int(ipaddress.ip_address(value)) if self.is_ip else int(value)
        except ValueError:
            return None
        i = n - self.first
        return i if 0 <= i < self.size else None

    def value(self, offset: int) -> str | int:
        assert 0 <= offset < self.size
        return str(ipaddress.ip_address(self.first + offset)) if self.is_ip else self.first + offset


def _decode(raw: bytes, rng: Range) -> bytearray:
    obj = json.loads(raw)
    data = bytearray(base64.b64decode(obj.get("data", "")))
    need = (rng.size + 7) // 8
    return data + bytearray(need - len(data)) if len(data) < need else data


def _encode(bits: bytearray, rng: Range) -> bytes:
    return json.dumps({"apiVersion": "v1", "kind": "RangeAllocation", "range": rng.name,
                       "data": base64.b64encode(bytes(bits)).decode()}, sort_keys=True).encode()


def _has(bits: bytearray, i: int) -> bool:
    return bool(bits[i // 8] >> (i % 8) & 1)


def _set(bits: bytearray, i: int, on: bool) -> None:
    if on:
        bits[i // 8] |= 1 << (i % 8)
    else:
        bits[i // 8] &= ~(1 << (i % 8)) & 0xFF


class RangeAllocator:
    """One bitmap in the store, changed only by compare-and-swap on its revision."""

    def __init__(self, rt: Runtime, etcd: AsyncEtcdClient, key: bytes, rng: Range, *,
                 bugs: frozenset[str] = frozenset()) -> None:
        self.rt = rt
        self.etcd = etcd
        self.key = key
        self.range = rng
        self.bugs = bugs
        self.leaks: dict[int, int] = {}  # offset -> repair passes it was seen unused

    async def read(self) -> tuple[bytearray, int]:
        try:
            resp = await self.etcd.get(self.key)
        except KVError as exc:
            raise etcd_error(exc) from None
        if not resp.kvs:
            return bytearray((self.range.size + 7) // 8), 0
        return _decode(resp.kvs[0].value, self.range), resp.kvs[0].mod_revision

    async def _write(self, bits: bytearray, rev: int) -> bool:
        put = txn.put(self.key, _encode(bits, self.range))
        if BUG_NO_CAS in self.bugs:
            request = Txn().then(put).build()
        else:
            request = Txn().when(txn.mod_revision(self.key) == rev).then(put).build()
        try:
            resp = await self.etcd.txn(request)
        except KVError as exc:
            raise etcd_error(exc) from None
        return bool(resp.succeeded)

    async def _change(self, change: Any) -> Any:
        """Read, ``change(bits)`` (returns (write?, result)), CAS-write; retry on a lost race."""
        for _ in range(MAX_CAS_RETRIES):
            bits, rev = await self.read()
            write, result = change(bits)
            if not write or await self._write(bits, rev):
                return result
        raise errors.ApiError(errors.status(409, "Conflict", f"too many concurrent changes of {self.key.decode()}"))

    async def allocate_next(self) -> str | int:
        rng = self.rt.random()
        start = rng.randrange(self.range.size)

        def take(bits: bytearray) -> tuple[bool, int]:
            for step in range(self.range.size):
                i = (start + step) % self.range.size
                if not _has(bits, i):
                    _set(bits, i, True)
                    return True, i
            raise errors.ApiError(errors.status(
                422, "Invalid",
                f"range {self.range.name} is full: no {'ClusterIP' if self.range.is_ip else 'NodePort'} left"))
        return self.range.value(await self._change(take))

    async def allocate(self, value: str | int) -> None:
        """Take one given value (a Service asking for a specific address or port)."""
        i = self.range.offset(value)
        if i is None:
            raise errors.invalid("Service", "", [("spec", "FieldValueInvalid",
                                                  f"Invalid value: {value!r}: not in the range {self.range.name}")])

        def take(bits: bytearray) -> tuple[bool, None]:
            if _has(bits, i):
                raise errors.invalid("Service", "", [("spec", "FieldValueInvalid",
                                                      f"Invalid value: {value!r}: provided "
                                                      f"{'IP' if self.range.is_ip else 'port'} is already allocated")])
            _set(bits, i, True)
            return True, None
        await self._change(take)

    async def release(self, value: str | int) -> None:
        i = self.range.offset(value)
        if i is None:
            return

        def free(bits: bytearray) -> tuple[bool, None]:
            if not _has(bits, i):
                return False, None
            _set(bits, i, False)
            return True, None
        await self._change(free)

    async def repair(self, used: list[str | int]) -> int:
        """Mark every used value; free a bit unused on ``LEAK_REPAIRS`` passes in a row.
        Returns how many bits it changed."""
        want = sorted({i for i in (self.range.offset(v) for v in used) if i is not None})
        changed = 0

        def fix(bits: bytearray) -> tuple[bool, int]:
            n = 0
            for i in want:
                if not _has(bits, i):
                    _set(bits, i, True)
                    n += 1
            marked = set(want)
            for i in range(self.range.size):
                if _has(bits, i) and i not in marked:
                    self.leaks[i] = self.leaks.get(i, 0) + 1
                    if self.leaks[i] >= LEAK_REPAIRS:
                        _set(bits, i, False)
                        del self.leaks[i]
                        n += 1
                else:
                    self.leaks.pop(i, None)
            return n > 0, n
        changed = await self._change(fix)
        return int(changed)


def wants_cluster_ip(svc: dict[str, Any]) -> bool:
    spec = svc.get("spec") or {}
    return spec.get("type", "ClusterIP") != "ExternalName" and spec.get("clusterIP") != "None"


def wants_node_ports(svc: dict[str, Any]) -> bool:
    return (svc.get("spec") or {}).get("type") in ("NodePort", "LoadBalancer")


def service_node_ports(svc: dict[str, Any]) -> list[int]:
    return [int(p["nodePort"]) for p in (svc.get("spec") or {}).get("ports") or ()
            if isinstance(p, dict) and isinstance(p.get("nodePort"), int)]


class ServiceAllocator:
    """What the Service REST storage adds around create and delete."""

    def __init__(self, rt: Runtime, etcd: AsyncEtcdClient, *, service_cidr: str = "10.96.0.0/12",
                 node_ports: tuple[int, int] = NODE_PORT_RANGE, bugs: frozenset[str] = frozenset()) -> None:
        self.rt = rt
        self.ips = RangeAllocator(rt, etcd, IP_RANGE_KEY, Range.cidr(service_cidr), bugs=bugs)
        self.ports = RangeAllocator(rt, etcd, PORT_RANGE_KEY, Range.ports(*node_ports), bugs=bugs)
        self.repairs = 0

    async def allocate(self, svc: dict[str, Any]) -> list[tuple[RangeAllocator, str | int]]:
        """Fill in ``spec.clusterIP(s)`` and ``nodePort``s (mutates ``svc``); returns what
        it took, for :meth:`release_taken` if the Service is not stored after all."""
        taken: list[tuple[RangeAllocator, str | int]] = []
        spec = svc.setdefault("spec", {})
        if not isinstance(spec, dict):
            raise errors.bad_request("spec must be a JSON object")
        try:
            if wants_cluster_ip(svc):
                asked = spec.get("clusterIP")
                if asked:
                    await self.ips.allocate(asked)
                    ip: str | int = asked
                else:
                    ip = await self.ips.allocate_next()
                taken.append((self.ips, ip))
                spec["clusterIP"] = str(ip)
                spec["clusterIPs"] = [str(ip)]
            if wants_node_ports(svc):
                await self._take_node_ports(spec, taken)
        except errors.ApiError:
            await self.release_taken(taken)
            raise
        return taken

    async def allocate_for_update(self, new: dict[str, Any], old: dict[str, Any]) -> list[tuple[RangeAllocator, str | int]]:
        """The NodePorts an updated Service needs and its stored version does not hold
        (fills them in, as :meth:`allocate` does)."""
        spec = new.get("spec")
        if not isinstance(spec, dict) or not wants_node_ports(new):
            return []
        held = set(service_node_ports(old)) if wants_node_ports(old) else set()
        old_ports = [p for p in (old.get("spec") or {}).get("ports") or () if isinstance(p, dict)]
        taken: list[tuple[RangeAllocator, str | int]] = []
        try:
            await self._take_node_ports(spec, taken, held, old_ports)
        except errors.ApiError:
            await self.release_taken(taken)
            raise
        return taken

    async def _take_node_ports(self, spec: dict[str, Any], taken: list[tuple[RangeAllocator, str | int]],
                               held: set[int] | None = None, old_ports: list[dict[str, Any]] | None = None) -> None:
        """A NodePort for every port of ``spec``: the one asked for, the one the port held
        before (``held``, by position in ``old_ports``), or the next free one."""
        held, old_ports = held or set(), old_ports or []
        for i, port in enumerate(spec.get("ports") or ()):
            if not isinstance(port, dict):
                continue
            if not isinstance(port.get("nodePort"), int) and i < len(old_ports) and old_ports[i].get("nodePort") in held:
                port["nodePort"] = old_ports[i]["nodePort"]
            if isinstance(port.get("nodePort"), int):
                if port["nodePort"] not in held:
                    await self.ports.allocate(port["nodePort"])
                    taken.append((self.ports, port["nodePort"]))
            else:
                got = await self.ports.allocate_next()
                taken.append((self.ports, got))
                port["nodePort"] = got

    async def release_unused(self, old: dict[str, Any], new: dict[str, Any]) -> None:
        """Release the NodePorts ``old`` held that ``new`` (stored instead) does not."""
        keep = set(service_node_ports(new)) if wants_node_ports(new) else set()
        await self.release_taken([(self.ports, p) for p in service_node_ports(old) if p not in keep])

    async def release_taken(self, taken: list[tuple[RangeAllocator, str | int]]) -> None:
        for allocator, value in taken:
            try:
                await allocator.release(value)
            except errors.ApiError as exc:  # the repair loop takes it back later
                self.rt.record("service_allocator.release_failed", value=str(value), error=exc.reason)

    async def release(self, svc: dict[str, Any]) -> None:
        spec = svc.get("spec") or {}
        taken: list[tuple[RangeAllocator, str | int]] = []
        if wants_cluster_ip(svc) and spec.get("clusterIP"):
            taken.append((self.ips, spec["clusterIP"]))
        taken.extend((self.ports, p) for p in service_node_ports(svc))
        await self.release_taken(taken)

    async def repair(self, services: list[dict[str, Any]]) -> None:
        """One pass of both repair loops over the stored Services."""
        ips: list[str | int] = [s["spec"]["clusterIP"] for s in services
                                if wants_cluster_ip(s) and (s.get("spec") or {}).get("clusterIP")]
        ports: list[str | int] = [p for s in services for p in service_node_ports(s)]
        await self.ips.repair(ips)
        await self.ports.repair(ports)
        self.repairs += 1
