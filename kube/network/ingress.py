"""Ingress routing (an ingress controller such as ingress-nginx): an HTTP-like request's
host and path pick a Service backend, which is then reached through the node's
kube-proxy like any other client's traffic.

Matching follows the Ingress API: rules whose ``host`` equals the request's (or has no
host) are considered; among their paths an ``Exact`` path must equal the request path, a
``Prefix`` path matches element-wise (``/foo`` matches ``/foo`` and ``/foo/bar``, not
``/foobar``); the longest matching path wins, ``Exact`` before ``Prefix`` at equal length;
a rule with a host beats one without; with no match the ``defaultBackend`` serves, else
404.  Across Ingresses, the oldest wins a tie (by creation, then name).
"""

from __future__ import annotations

from typing import Any

import attrs

from raftkv.tasks import Runtime

from ..client import KubeClient
from ..controllers.runtime import SharedInformers

__all__ = ["Backend", "IngressController", "match_ingress", "prefix_matches"]


@attrs.frozen(kw_only=True)
class Backend:
    namespace: str
    service: str
    port: int | str  # port number or port name
    rule: str  # what matched, for the trace


def prefix_matches(prefix: str, path: str) -> bool:
    want = [p for p in prefix.split("/") if p]
    have = [p for p in path.split("/") if p]
    return have[: len(want)] == want


def _port(backend: dict[str, Any]) -> int | str:
    port = (backend.get("service") or {}).get("port") or {}
    return port["number"] if "number" in port else str(port.get("name", ""))


def match_ingress(ingresses: list[dict[str, Any]], host: str, path: str) -> Backend | None:
    best: tuple[tuple[int, int, int], Backend] | None = None
    ordered = sorted(ingresses, key=lambda i: (i["metadata"].get("creationTimestamp", ""), i["metadata"]["name"]))
    for rank, ing in enumerate(ordered):
        ns, spec = ing["metadata"]["namespace"], ing.get("spec") or {}
        for rule in spec.get("rules") or ():
            rule_host = rule.get("host", "")
            if rule_host and rule_host != host:
                continue
            for p in (rule.get("http") or {}).get("paths") or ():
                kind, want = p.get("pathType", "Prefix"), p.get("path", "/")
                ok = want == path if kind == "Exact" else prefix_matches(want, path)
                if not ok:
                    continue
                score = (1 if rule_host else 0, len(want), 1 if kind == "Exact" else 0)
                key = (score[0], score[1] * 2 + score[2], -rank)
                backend = Backend(namespace=ns, service=p["backend"]["service"]["name"], port=_port(p["backend"]),
                                  rule=f"ingress {ns}/{ing['metadata']['name']} host {rule_host or '*'} "
                                       f"{kind} {want}")
                if best is None or key > best[0]:
                    best = (key, backend)
    if best is not None:
        return best[1]
    for ing in ordered:
        default = (ing.get("spec") or {}).get("defaultBackend")
        if default:
            ns = ing["metadata"]["namespace"]
            return Backend(namespace=ns, service=default["service"]["name"], port=_port(default),
                           rule=f"ingress {ns}/{ing['metadata']['name']} defaultBackend")
    return None


class IngressController:
    """Its informers on Ingresses and Services; :meth:`route` resolves a request to the
    Service address (ClusterIP and port) to send it on to, from what they hold now."""

    def __init__(self, rt: Runtime, client: KubeClient) -> None:
        self.rt = rt
        self.informers = SharedInformers(rt, client)
        self.ingresses = self.informers.get("ingresses")
        self.services = self.informers.get("services")

    def route(self, host: str, path: str) -> tuple[Backend | None, str, int]:
        """(backend, ClusterIP, port); ("", 0) when the backend's Service is not known."""
        backend = match_ingress(self.ingresses.items(), host, path)
        if backend is None:
            return None, "", 0
        svc = self.services.cache.get(f"{backend.namespace}/{backend.service}")
        if svc is None:
            return backend, "", 0
        for port in (svc.get("spec") or {}).get("ports") or ():
            if backend.port in (port.get("port"), port.get("name")):
                return backend, str(svc["spec"].get("clusterIP", "")), int(port["port"])
        return backend, "", 0

    async def run(self) -> None:
        self.informers.start()
        try:
            while True:
                await self.rt.sleep(3600)
        finally:
            self.informers.stop()
