"""LoadBalancer Services: a simulated cloud provider and the service controller
(kube-controller-manager's ``service`` controller with a cloud provider's
``LoadBalancer`` interface).

:class:`LoadBalancerProvider` holds the cloud's state: an address per load balancer
(``EnsureLoadBalancer`` is idempotent by Service uid, ``EnsureLoadBalancerDeleted``
releases it) and which nodes it forwards to; a packet to its address and a Service port
goes to one of those nodes' NodePort, round robin.  The provider lives outside the
cluster: a controller crash does not lose it.

:class:`ServiceController` ensures a load balancer for every ``type: LoadBalancer``
Service and writes ``status.loadBalancer.ingress``; load balancers whose Service is gone
(or no longer a LoadBalancer) are deleted on its resync.
"""

from __future__ import annotations

import attrs

from raftkv.tasks import Runtime

from ..client import KubeClient
from ..controllers.runtime import Controller, Result, SharedInformers

__all__ = ["LoadBalancer", "LoadBalancerProvider", "ServiceController"]


@attrs.frozen(kw_only=True)
class LoadBalancer:
    uid: str
    service: str  # namespace/name
    ip: str
    ports: tuple[tuple[int, int], ...]  # (service port, node port)


class LoadBalancerProvider:
    def __init__(self, pool_prefix: str = "203.0.113.", size: int = 200) -> None:
        self.pool = [f"{pool_prefix}{i}" for i in range(10, 10 + size)]
        self.balancers: dict[str, LoadBalancer] = {}  # uid -> balancer
        self.nodes: tuple[tuple[str, str], ...] = ()  # (node, address)
        self.next_node = 0
        self.ensures = 0

    def ensure(self, uid: str, service: str, ports: tuple[tuple[int, int], ...]) -> LoadBalancer:
        self.ensures += 1
        lb = self.balancers.get(uid)
        if lb is None:
            taken = {b.ip for b in self.balancers.values()}
            ip = next(a for a in self.pool if a not in taken)
            lb = LoadBalancer(uid=uid, service=service, ip=ip, ports=ports)
        lb = attrs.evolve(lb, ports=ports)
        self.balancers[uid] = lb
        return lb

    def delete(self, uid: str) -> None:
        self.balancers.pop(uid, None)

    def forward(self, ip: str, port: int) -> tuple[str, str, int] | None:
        """(node, node address, node port) the balancer sends a packet for ip:port to."""
        for uid in sorted(self.balancers):
            lb = self.balancers[uid]
            if lb.ip == ip and self.nodes:
                for svc_port, node_port in lb.ports:
                    if svc_port == port:
                        node, addr = self.nodes[self.next_node % len(self.nodes)]
                        self.next_node += 1
                        return node, addr, node_port
        return None


class ServiceController:
    def __init__(self, rt: Runtime, client: KubeClient, informers: SharedInformers,
                 provider: LoadBalancerProvider) -> None:
        self.rt = rt
        self.client = client
        self.provider = provider
        self.controller = Controller(rt, "service", informers, self.reconcile, primary="services", resync_s=3.0)
        self.services = self.controller.primary

    async def run(self) -> None:
        await self.controller.run()

    def _sweep(self) -> None:
        live = {s["metadata"]["uid"] for s in self.services.items() if (s.get("spec") or {}).get("type") == "LoadBalancer"}
        for uid in sorted(self.provider.balancers):
            if uid not in live:
                self.provider.delete(uid)

    async def reconcile(self, key: str) -> Result | None:
        self._sweep()
        svc = self.services.cache.get(key)
        if svc is None or (svc.get("spec") or {}).get("type") != "LoadBalancer":
            return None
        ports = tuple((int(p["port"]), int(p["nodePort"])) for p in svc["spec"].get("ports") or ()
                      if p.get("nodePort"))
        lb = self.provider.ensure(svc["metadata"]["uid"], key, ports)
        want = {"loadBalancer": {"ingress": [{"ip": lb.ip}]}}
        if (svc.get("status") or {}).get("loadBalancer") != want["loadBalancer"]:
            await self.client.patch("services", svc["metadata"]["name"], {"status": want},
                                    svc["metadata"]["namespace"], subresource="status")
        return None
