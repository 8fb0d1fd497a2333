"""kube-proxy's rule tables, built from Services and EndpointSlices, and the lookup a
packet goes through.

* :class:`IptablesTable` (``--proxy-mode=iptables``): the nat table's ``KUBE-SERVICES``
  chain with one rule per Service address and port (ClusterIP, load-balancer ingress
  IPs) jumping to a ``KUBE-SVC-<hash>`` chain, then ``KUBE-NODEPORTS`` for addresses of
  the node; a ``KUBE-SVC`` chain picks one of its n endpoints with ``-m statistic --mode
  random --probability`` 1/n, 1/(n-1), ..., and an unconditional last rule, so each gets
  an equal share; each ``KUBE-SEP-<hash>`` chain DNATs to its endpoint.  With
  ``sessionAffinity: ClientIP`` the ``-m recent`` rules send a client seen within the
  timeout back to its endpoint.  A lookup walks the rules in order (its cost grows with
  the number of Services); :meth:`IptablesTable.render` prints ``iptables-save``.
* :class:`IpvsTable` (``--proxy-mode=ipvs``): a virtual server per Service address and
  port (and per node address for NodePorts) found by hashing, its real servers chosen
  round robin; ``persistence_timeout`` gives ClientIP affinity.

The random choices come from the ``random.Random`` the caller passes (the simulator's).

``BUG_WRONG_PROBABILITY`` (``iptables_wrong_probability``): every statistic rule says 1/n,
the last one too, so some packets fall off the end of the chain and the shares are
unequal.  ``BUG_STALE_RULES`` (``kube_proxy_stale_rules``, see :class:`KubeProxy`).
"""

from __future__ import annotations

import base64
import hashlib
import random
from collections.abc import Callable
from typing import Any

import attrs

from raftkv.tasks import Runtime

from ..client import KubeClient
from ..controllers.runtime import Listener, SharedInformers
from .endpoints import SERVICE_NAME_LABEL

__all__ = ["BUG_STALE_RULES", "BUG_WRONG_PROBABILITY", "Endpoint", "IpvsTable", "IptablesTable", "KubeProxy", "build_table",
           "Route", "ServicePort", "service_ports"]

BUG_WRONG_PROBABILITY = "iptables_wrong_probability"
BUG_STALE_RULES = "kube_proxy_stale_rules"
DEFAULT_AFFINITY_S = 10800


@attrs.frozen(kw_only=True)
class Endpoint:
    ip: str
    port: int
    pod: str = ""  # namespace/name

    @property
    def address(self) -> str:
        return f"{self.ip}:{self.port}"


@attrs.frozen(kw_only=True)
class ServicePort:
    """One port of one Service, as kube-proxy sees it."""

    name: str  # "namespace/service:port-name"
    cluster_ip: str  # "" for a headless Service (no rules)
    port: int
    protocol: str
    node_port: int = 0
    external_ips: tuple[str, ...] = ()  # status.loadBalancer.ingress
    affinity_timeout_s: int = 0  # 0: no session affinity
    endpoints: tuple[Endpoint, ...] = ()


@attrs.frozen(kw_only=True)
class Route:
    """Where a packet went: the endpoint (None: rejected or dropped), the rules it hit and
    the verdict (``DNAT``, ``REJECT``, ``no rule``, ``fell off <chain>``)."""

    endpoint: Endpoint | None
    rules: tuple[str, ...]
    service: str = ""
    verdict: str = "DNAT"


def service_ports(services: list[dict[str, Any]], slices: list[dict[str, Any]]) -> list[ServicePort]:
    """The ServicePorts of ``services`` with the ready endpoints of their slices."""
    by_service: dict[str, list[dict[str, Any]]] = {}
    for sl in slices:
        svc = (sl["metadata"].get("labels") or {}).get(SERVICE_NAME_LABEL)
        if svc:
            by_service.setdefault(f"{sl['metadata']['namespace']}/{svc}", []).append(sl)
    out = []
    for svc in sorted(services, key=lambda s: (s["metadata"]["namespace"], s["metadata"]["name"])):
        spec, meta = svc.get("spec") or {}, svc["metadata"]
        ip = spec.get("clusterIP") or ""
        if ip == "None" or spec.get("type") == "ExternalName" or not ip:
            continue
        key = f"{meta['namespace']}/{meta['name']}"
        affinity = 0
        if spec.get("sessionAffinity") == "ClientIP":
            cfg = ((spec.get("sessionAffinityConfig") or {}).get("clientIP") or {})
            affinity = int(cfg.get("timeoutSeconds", DEFAULT_AFFINITY_S))
        lb = tuple(i["ip"] for i in ((svc.get("status") or {}).get("loadBalancer") or {}).get("ingress") or ()
                   if i.get("ip"))
        for port in spec.get("ports") or ():
            pname = port.get("name", "")
            eps: dict[tuple[str, int], Endpoint] = {}
            for sl in by_service.get(key, ()):
                target = next((p["port"] for p in sl.get("ports") or () if p.get("name", "") == pname), None)
                if target is None:
                    continue
                for ep in sl.get("endpoints") or ():
                    if (ep.get("conditions") or {}).get("ready") is False:
                        continue
                    ref = ep.get("targetRef") or {}
                    for addr in ep.get("addresses") or ():
                        eps[(addr, target)] = Endpoint(ip=addr, port=int(target),
                                                       pod=f"{ref.get('namespace', '')}/{ref.get('name', '')}")
            out.append(ServicePort(name=f"{key}:{pname}", cluster_ip=ip, port=int(port["port"]),
                                   protocol=port.get("protocol", "TCP"), node_port=int(port.get("nodePort") or 0)
                                   if spec.get("type") in ("NodePort", "LoadBalancer") else 0,
                                   external_ips=lb, affinity_timeout_s=affinity,
                                   endpoints=tuple(eps[k] for k in sorted(eps))))
    return out


def _chain(prefix: str, *parts: str) -> str:
    digest = hashlib.sha256("".join(parts).encode()).digest()
    return f"{prefix}-{base64.b32encode(digest[:10]).decode()}"  # 16 characters, as kube-proxy's


@attrs.frozen(kw_only=True)
class _Rule:
    text: str  # the rule as iptables-save prints it, after "-A CHAIN "
    target: str  # a chain, "DNAT", "REJECT" or "KUBE-MARK-MASQ"
    dst: str = ""  # -d
    dport: int = 0
    proto: str = ""
    local_dst: bool = False  # -m addrtype --dst-type LOCAL
    probability: float = 1.0  # -m statistic --mode random
    recent_check: str = ""  # -m recent --rcheck: the name, with seconds
    recent_seconds: int = 0
    recent_set: str = ""
    to: Endpoint | None = None
    src: str = ""  # -s (the masquerade rule for hairpin traffic)


class _Recent:
    """The ``xt_recent`` lists of one node: (list name, source IP) -> last seen, in us."""

    def __init__(self) -> None:
        self.seen: dict[tuple[str, str], int] = {}


class IptablesTable:
    def __init__(self, ports: list[ServicePort], node_ips: tuple[str, ...], *,
                 bugs: frozenset[str] = frozenset()) -> None:
        self.node_ips = node_ips
        self.bugs = bugs
        self.chains: dict[str, list[_Rule]] = {"KUBE-SERVICES": [], "KUBE-NODEPORTS": []}
        self.recent = _Recent()
        self.ports = ports
        for sp in ports:
            self._add(sp)
        self.chains["KUBE-SERVICES"].append(_Rule(
            text='-m comment --comment "kubernetes service nodeports" -m addrtype --dst-type LOCAL -j KUBE-NODEPORTS',
            target="KUBE-NODEPORTS", local_dst=True))

    def _add(self, sp: ServicePort) -> None:
        proto = sp.protocol.lower()
        svc = _chain("KUBE-SVC", sp.name, sp.protocol)
        target = svc if sp.endpoints else "REJECT"
        services = self.chains["KUBE-SERVICES"]
        for ip, what in ((sp.cluster_ip, "cluster IP"), *((e, "loadbalancer IP") for e in sp.external_ips)):
            services.append(_Rule(text=f'-d {ip}/32 -p {proto} -m comment --comment "{sp.name} {what}" '
                                       f'-m {proto} --dport {sp.port} -j {target}',
                                  target=target, dst=ip, dport=sp.port, proto=proto))
        if sp.node_port:
            self.chains["KUBE-NODEPORTS"].append(_Rule(
                text=f'-p {proto} -m comment --comment "{sp.name}" -m {proto} --dport {sp.node_port} -j {target}',
                target=target, dport=sp.node_port, proto=proto))
        if not sp.endpoints:
            return
        rules = self.chains.setdefault(svc, [])
        seps = [_chain("KUBE-SEP", sp.name, sp.protocol, ep.address) for ep in sp.endpoints]
        if sp.affinity_timeout_s:
            for sep in seps:
                rules.append(_Rule(text=f'-m comment --comment "{sp.name}" -m recent --name {sep} --rcheck '
                                        f'--seconds {sp.affinity_timeout_s} --reap -j {sep}',
                                   target=sep, recent_check=sep, recent_seconds=sp.affinity_timeout_s))
        n = len(seps)
        for i, (sep, ep) in enumerate(zip(seps, sp.endpoints, strict=True)):
            p = 1.0 / n if BUG_WRONG_PROBABILITY in self.bugs else 1.0 / (n - i)
            stat = "" if p >= 1.0 else f" -m statistic --mode random --probability {p:0.10f}"
            rules.append(_Rule(text=f'-m comment --comment "{sp.name} -> {ep.address}"{stat} -j {sep}',
                               target=sep, probability=p))
            self.chains[sep] = [
                _Rule(text=f'-s {ep.ip}/32 -m comment --comment "{sp.name}" -j KUBE-MARK-MASQ',
                      target="KUBE-MARK-MASQ", src=ep.ip),
                _Rule(text=f'-p {proto} -m comment --comment "{sp.name}"'
                           + (f" -m recent --name {sep} --set" if sp.affinity_timeout_s else "")
                           + f" -m {proto} -j DNAT --to-destination {ep.address}",
                      target="DNAT", to=ep, recent_set=sep if sp.affinity_timeout_s else "")]

    def render(self) -> str:
        """The nat table in ``iptables-save`` syntax."""
        lines = ["*nat"]
        lines.extend(f":{name} - [0:0]" for name in self.chains)
        lines.append("-A PREROUTING -m comment --comment \"kubernetes service portals\" -j KUBE-SERVICES")
        lines.append("-A OUTPUT -m comment --comment \"kubernetes service portals\" -j KUBE-SERVICES")
        for name, rules in self.chains.items():
            lines.extend(f"-A {name} {r.text}" for r in rules)
        lines.append("COMMIT")
        return "\n".join(lines) + "\n"

    def _matches(self, r: _Rule, dst: str, dport: int, proto: str, src: str, now_us: int,
                 rng: random.Random) -> bool:
        if r.dst and r.dst != dst:
            return False
        if r.dport and r.dport != dport:
            return False
        if r.proto and r.proto != proto:
            return False
        if r.local_dst and dst not in self.node_ips:
            return False
        if r.src and r.src != src:
            return False
        if r.recent_check:
            seen = self.recent.seen.get((r.recent_check, src))
            if seen is None or now_us - seen > r.recent_seconds * 1_000_000:
                return False
        return r.probability >= 1.0 or rng.random() < r.probability

    def lookup(self, dst: str, dport: int, src: str, now_us: int, rng: random.Random, proto: str = "tcp") -> Route:
        """Walk the nat chains from KUBE-SERVICES as the kernel would."""
        hit: list[str] = []
        chain, steps = "KUBE-SERVICES", 0
        service = ""
        while True:
            steps += 1
            assert steps < 16, f"rule walk loops at {chain}"
            for r in self.chains[chain]:
                if r.target == "KUBE-MARK-MASQ" and r.src == src:
                    continue  # marks the packet, does not end the walk
                if not self._matches(r, dst, dport, proto, src, now_us, rng):
                    continue
                hit.append(f"-A {chain} {r.text}")
                if chain in ("KUBE-SERVICES", "KUBE-NODEPORTS") and '--comment "' in r.text:
                    service = r.text.split('--comment "', 1)[1].split(" ", 1)[0].rstrip('"')
                if r.target == "REJECT":
                    return Route(endpoint=None, rules=tuple(hit), service=service, verdict="REJECT")
                if r.target == "DNAT":
                    if r.recent_set:
                        self.recent.seen[(r.recent_set, src)] = now_us
                    return Route(endpoint=r.to, rules=tuple(hit), service=service)
                if r.target in self.chains:
                    chain = r.target
                    break
            else:
                verdict = "no rule" if chain in ("KUBE-SERVICES", "KUBE-NODEPORTS") else f"fell off {chain}"
                return Route(endpoint=None, rules=tuple(hit), service=service, verdict=verdict)

    def endpoints(self) -> dict[str, tuple[str, ...]]:
        """ServicePort name -> the endpoint addresses its rules DNAT to."""
        return {sp.name: tuple(ep.address for ep in sp.endpoints) for sp in self.ports}


@attrs.frozen(kw_only=True)
class VirtualServer:
    address: str  # ip:port
    service: str
    real_servers: tuple[Endpoint, ...]
    persistence_s: int


class IpvsTable:
    def __init__(self, ports: list[ServicePort], node_ips: tuple[str, ...], *,
                 bugs: frozenset[str] = frozenset()) -> None:
        self.ports = ports
        self.virtual: dict[tuple[str, int, str], VirtualServer] = {}
        self.next_rs: dict[tuple[str, int, str], int] = {}
        self.persist: dict[tuple[str, int, str, str], tuple[Endpoint, int]] = {}
        for sp in ports:
            proto = sp.protocol.lower()
            addrs = [(sp.cluster_ip, sp.port), *((e, sp.port) for e in sp.external_ips)]
            if sp.node_port:
                addrs.extend((ip, sp.node_port) for ip in node_ips)
            for ip, port in addrs:
                self.virtual[(ip, port, proto)] = VirtualServer(address=f"{ip}:{port}", service=sp.name,
                                                                real_servers=sp.endpoints,
                                                                persistence_s=sp.affinity_timeout_s)

    def render(self) -> str:
        """The table as ``ipvsadm -Ln`` prints it."""
        lines = ["IP Virtual Server version 1.2.1 (size=4096)", "Prot LocalAddress:Port Scheduler Flags",
                 "  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn"]
        for (_ip, _port, proto), vs in sorted(self.virtual.items()):
            flags = f" persistent {vs.persistence_s}" if vs.persistence_s else ""
            lines.append(f"{proto.upper()}  {vs.address} rr{flags}")
            lines.extend(f"  -> {rs.address:<28}Masq    1      0          0" for rs in vs.real_servers)
        return "\n".join(lines) + "\n"

    def lookup(self, dst: str, dport: int, src: str, now_us: int, rng: random.Random, proto: str = "tcp") -> Route:
        key = (dst, dport, proto)
        vs = self.virtual.get(key)
        if vs is None:
            return Route(endpoint=None, rules=(), verdict="no rule")
        rule = f"{proto.upper()} {vs.address} rr"
        if not vs.real_servers:
            return Route(endpoint=None, rules=(rule,), service=vs.service, verdict="REJECT")
        if vs.persistence_s:
            held = self.persist.get((*key, src))
            if held is not None and now_us - held[1] <= vs.persistence_s * 1_000_000 and held[0] in vs.real_servers:
                self.persist[(*key, src)] = (held[0], now_us)
                return Route(endpoint=held[0], rules=(rule, f"persistent {src}"), service=vs.service)
        i = self.next_rs.get(key, 0) % len(vs.real_servers)
        self.next_rs[key] = i + 1
        rs = vs.real_servers[i]
        if vs.persistence_s:
            self.persist[(*key, src)] = (rs, now_us)
        return Route(endpoint=rs, rules=(rule, f"-> {rs.address}"), service=vs.service)

    def endpoints(self) -> dict[str, tuple[str, ...]]:
        return {sp.name: tuple(ep.address for ep in sp.endpoints) for sp in self.ports}


Table = IptablesTable | IpvsTable


def build_table(mode: str, ports: list[ServicePort], node_ips: tuple[str, ...],
                bugs: frozenset[str] = frozenset()) -> Table:
    assert mode in ("iptables", "ipvs"), f"unknown proxy mode {mode!r}"
    return (IptablesTable if mode == "iptables" else IpvsTable)(ports, node_ips, bugs=bugs)


class KubeProxy:
    """kube-proxy on one node: Services and EndpointSlices from informers; the table is
    rebuilt at most every ``min_sync_period_s`` after a change (so it lags the store, as
    the real one does).  A rebuild keeps the ``recent`` lists and round-robin positions,
    as the kernel keeps them across ``iptables-restore`` and ipvs updates.

    ``BUG_STALE_RULES``: an endpoint that leaves a Service is not removed from its rules
    (kept until the Service goes), so traffic goes on reaching a pod that is gone."""

    def __init__(self, rt: Runtime, client: KubeClient, node: str, node_ips: tuple[str, ...], *,
                 mode: str = "iptables", min_sync_period_s: float = 0.2,
                 bugs: frozenset[str] = frozenset(), on_sync: Callable[[KubeProxy], None] | None = None) -> None:
        self.rt = rt
        self.node = node
        self.node_ips = node_ips
        self.mode = mode
        self.min_sync_period_s = min_sync_period_s
        self.bugs = bugs
        self.on_sync = on_sync
        self.informers = SharedInformers(rt, client)
        listener = Listener(on_add=self._dirty, on_update=lambda old, new: self._dirty(new), on_delete=self._dirty)
        self.services = self.informers.listen("services", listener)
        self.slices = self.informers.listen("endpointslices", listener)
        self.table: Table = build_table(mode, [], node_ips, bugs)
        self.changed = rt.event()
        self.syncs = 0
        self.sync_us = 0  # virtual time of the last sync
        self._kept: dict[str, dict[Endpoint, None]] = {}
        self.changed_at: dict[str, int] = {}  # ServicePort name -> the sync that last changed its endpoints

    def _dirty(self, _obj: Any) -> None:
        self.changed.set()

    def _ports(self) -> list[ServicePort]:
        ports = service_ports(self.services.items(), self.slices.items())
        if BUG_STALE_RULES not in self.bugs:
            return ports
        out = []
        for sp in ports:
            kept = self._kept.setdefault(sp.name, {})
            for ep in sp.endpoints:
                kept[ep] = None
            out.append(attrs.evolve(sp, endpoints=tuple(sorted(kept, key=lambda e: (e.ip, e.port)))))
        names = {sp.name for sp in ports}
        for name in sorted(self._kept):
            if name not in names:
                del self._kept[name]
        return out

    def sync(self) -> None:
        old = self.table
        self.table = build_table(self.mode, self._ports(), self.node_ips, self.bugs)
        before, after = old.endpoints(), self.table.endpoints()
        for name in sorted(set(before) | set(after)):
            if before.get(name) != after.get(name):
                self.changed_at[name] = self.syncs + 1
        if isinstance(old, IptablesTable) and isinstance(self.table, IptablesTable):
            self.table.recent = old.recent
        if isinstance(old, IpvsTable) and isinstance(self.table, IpvsTable):
            self.table.next_rs = old.next_rs
            self.table.persist = old.persist
        self.syncs += 1
        self.sync_us = self.rt.now_us()
        if self.on_sync is not None:
            self.on_sync(self)

    async def run(self) -> None:
        self.informers.start()
        try:
            await self.informers.wait_synced()
            while True:
                self.changed = self.rt.event()
                self.sync()
                await self.rt.sleep(self.min_sync_period_s)
                if not self.changed.is_set():
                    await self.changed.wait()
        finally:
            self.informers.stop()
