"""Cluster DNS (CoreDNS's ``kubernetes`` plugin) answered from informer caches, so its
answers lag the store as CoreDNS's do.

* ``<svc>.<ns>.svc.<domain>``: the ClusterIP; for a headless Service
  (``clusterIP: None``) the addresses of its ready endpoints (all of them with
  ``publishNotReadyAddresses``, which the EndpointSlices already say);
* ``<hostname>.<svc>.<ns>.svc.<domain>``: the endpoint of the Service whose
  ``hostname`` it is (pods with ``spec.hostname`` and ``spec.subdomain``, as StatefulSet
  pods have);
* a short name (``<svc>``, ``<svc>.<ns>``) is tried with the asking pod's search path
  (``<ns>.svc.<domain>``, ``svc.<domain>``, ``<domain>``), as its resolv.conf says.
"""

from __future__ import annotations

from typing import Any

import attrs

from raftkv.tasks import Runtime

from ..client import KubeClient
from ..controllers.runtime import SharedInformers
from .endpoints import SERVICE_NAME_LABEL

__all__ = ["DnsAnswer", "DnsServer", "answer", "search_path"]

CLUSTER_DOMAIN = "cluster.local"


@attrs.frozen(kw_only=True)
class DnsAnswer:
    name: str  # the fully qualified name that answered (or the last one tried)
    ips: tuple[str, ...]  # () is NXDOMAIN

    @property
    def nxdomain(self) -> bool:
        return not self.ips


def search_path(namespace: str, domain: str = CLUSTER_DOMAIN) -> tuple[str, ...]:
    return (f"{namespace}.svc.{domain}", f"svc.{domain}", domain)


def _lookup_fqdn(fqdn: str, services: dict[str, dict[str, Any]], slices: list[dict[str, Any]], domain: str) -> tuple[str, ...]:
    suffix = f".svc.{domain}"
    if not fqdn.endswith(suffix):
        return ()
    parts = fqdn[: -len(suffix)].split(".")
    if len(parts) not in (2, 3):
        return ()
    host, (svc_name, ns) = (parts[0] if len(parts) == 3 else ""), parts[-2:]
    svc = services.get(f"{ns}/{svc_name}")
    if svc is None:
        return ()
    spec = svc.get("spec") or {}
    headless = spec.get("clusterIP") == "None"
    if not host and not headless:
        return (spec["clusterIP"],) if spec.get("clusterIP") else ()
    ips: dict[str, None] = {}
    for sl in slices:
        labels = sl["metadata"].get("labels") or {}
        if sl["metadata"]["namespace"] != ns or labels.get(SERVICE_NAME_LABEL) != svc_name:
            continue
        for ep in sl.get("endpoints") or ():
            ready = (ep.get("conditions") or {}).get("ready") is not False
            if ready and (not host or ep.get("hostname") == host):
                for ip in ep.get("addresses") or ():
                    ips[ip] = None
    return tuple(sorted(ips))


def answer(name: str, namespace: str, services: dict[str, dict[str, Any]], slices: list[dict[str, Any]],
           domain: str = CLUSTER_DOMAIN) -> DnsAnswer:
    """The A records for ``name`` asked from a pod of ``namespace``."""
    name = name.rstrip(".")
    candidates = [name] if name.endswith(domain) else [f"{name}.{s}" for s in search_path(namespace, domain)]
    for fqdn in candidates:
        ips = _lookup_fqdn(fqdn, services, slices, domain)
        if ips:
            return DnsAnswer(name=fqdn, ips=ips)
    return DnsAnswer(name=candidates[-1] if not name.endswith(domain) else name, ips=())


class DnsServer:
    """One CoreDNS replica: informers on Services and EndpointSlices; :meth:`query`
    answers from what they hold now."""

    def __init__(self, rt: Runtime, client: KubeClient, *, domain: str = CLUSTER_DOMAIN) -> None:
        self.rt = rt
        self.domain = domain
        self.informers = SharedInformers(rt, client)
        self.services = self.informers.get("services")
        self.slices = self.informers.get("endpointslices")
        self.queries = 0

    @property
    def ready(self) -> bool:
        return self.informers.synced

    def pod_of(self, ip: str) -> str:
        """``namespace/name`` of the pod the EndpointSlices seen give ``ip`` ("" if none)."""
        for sl in self.slices.items():
            for ep in sl.get("endpoints") or ():
                if ip in (ep.get("addresses") or ()):
                    ref = ep.get("targetRef") or {}
                    return f"{ref.get('namespace', '')}/{ref.get('name', '')}"
        return ""

    def query(self, name: str, namespace: str) -> DnsAnswer:
        self.queries += 1
        return answer(name, namespace, self.services.cache, self.slices.items(), self.domain)

    async def run(self) -> None:
        self.informers.start()
        try:
            while True:
                await self.rt.sleep(3600)
        finally:
            self.informers.stop()
