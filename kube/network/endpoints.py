"""The Endpoints and EndpointSlice controllers (kube-controller-manager's ``endpoint``
and ``endpointslice`` controllers), as one reconcile per Service.

For a Service with a selector, the pods of its namespace whose labels match, that have an
IP and are not being deleted nor finished, become its endpoints: the ready ones in
``subsets[].addresses`` (EndpointSlice condition ``ready: true``), the others in
``notReadyAddresses`` (``ready: false``) unless ``spec.publishNotReadyAddresses``
publishes them as ready.  Ports are the Service's, each ``targetPort`` resolved on the
pod (a number, or a container port's name).  A pod with ``spec.hostname`` and
``spec.subdomain`` equal to the Service's name keeps its hostname (for DNS).  Both objects
are named after the Service (one slice per Service: the simulated clusters stay far below
the 100 endpoints a slice holds) and deleted with it.

``BUG_PUBLISH_NOT_READY`` (``endpoints_publish_not_ready``): not-ready pods are published
as ready addresses, so traffic reaches pods that cannot serve it yet.
"""

from __future__ import annotations

from typing import Any

from raftkv.tasks import Runtime

from ..client import KubeClient
from ..controllers.replicaset import is_active, is_ready
from ..controllers.runtime import Controller, Result, SharedInformers
from ..errors import ApiError
from ..informer import object_key

__all__ = ["BUG_PUBLISH_NOT_READY", "SERVICE_NAME_LABEL", "EndpointsController", "desired_endpoints", "endpoints_object", "slice_object",
           "selector_matches", "slice_name"]

BUG_PUBLISH_NOT_READY = "endpoints_publish_not_ready"
SERVICE_NAME_LABEL = "kubernetes.io/service-name"


def selector_matches(selector: dict[str, Any], labels: dict[str, Any]) -> bool:
    return bool(selector) and all(labels.get(k) == v for k, v in selector.items())


def slice_name(service: str) -> str:
    return f"{service}-slice"


def _target_port(port: dict[str, Any], pod: dict[str, Any]) -> int | None:
    target = port.get("targetPort", port.get("port"))
    if isinstance(target, int):
        return target
    for c in pod["spec"].get("containers") or ():
        for cp in c.get("ports") or ():
            if cp.get("name") == target and isinstance(cp.get("containerPort"), int):
                return int(cp["containerPort"])
    return None


def desired_endpoints(svc: dict[str, Any], pods: list[dict[str, Any]], bugs: frozenset[str] = frozenset()) -> list[dict[str, Any]]:
    """One entry per pod endpoint, sorted by IP: ip, ready, node, pod, uid, hostname, ports."""
    spec, ns, name = svc.get("spec") or {}, svc["metadata"]["namespace"], svc["metadata"]["name"]
    selector = spec.get("selector") or {}
    publish = bool(spec.get("publishNotReadyAddresses")) or BUG_PUBLISH_NOT_READY in bugs
    out = []
    for pod in pods:
        meta, status = pod["metadata"], pod.get("status") or {}
        if meta.get("namespace") != ns or not selector_matches(selector, meta.get("labels") or {}):
            continue
        if not status.get("podIP") or not is_active(pod):
            continue
        ports = []
        for port in spec.get("ports") or ():
            target = _target_port(port, pod)
            if target is not None:
                ports.append({"name": port.get("name", ""), "port": target, "protocol": port.get("protocol", "TCP")})
        hostname = pod["spec"].get("hostname") if pod["spec"].get("subdomain") == name else None
        out.append({"ip": status["podIP"], "ready": is_ready(pod) or publish, "node": pod["spec"].get("nodeName", ""),
                    "pod": meta["name"], "uid": meta["uid"], "hostname": hostname, "ports": ports})
    return sorted(out, key=lambda e: (e["ip"], e["pod"]))


def _address(ep: dict[str, Any], ns: str) -> dict[str, Any]:
    out: dict[str, Any] = {"ip": ep["ip"], "nodeName": ep["node"],
                           "targetRef": {"kind": "Pod", "namespace": ns, "name": ep["pod"], "uid": ep["uid"]}}
    if ep["hostname"]:
        out["hostname"] = ep["hostname"]
    return out


def _ports(eps: list[dict[str, Any]], svc: dict[str, Any]) -> list[dict[str, Any]]:
    seen: dict[tuple[str, int, str], None] = {}
    for ep in eps:
        for p in ep["ports"]:
            seen[(p["name"], p["port"], p["protocol"])] = None
    return [{"name": n, "port": p, "protocol": proto} for n, p, proto in seen]


def endpoints_object(svc: dict[str, Any], eps: list[dict[str, Any]]) -> dict[str, Any]:
    ns, name = svc["metadata"]["namespace"], svc["metadata"]["name"]
    subsets = []
    if eps:
        subset: dict[str, Any] = {"ports": _ports(eps, svc)}
        ready = [_address(e, ns) for e in eps if e["ready"]]
        not_ready = [_address(e, ns) for e in eps if not e["ready"]]
        if ready:
            subset["addresses"] = ready
        if not_ready:
            subset["notReadyAddresses"] = not_ready
        subsets.append(subset)
    return {"apiVersion": "v1", "kind": "Endpoints",
            "metadata": {"name": name, "namespace": ns, "labels": {SERVICE_NAME_LABEL: name}}, "subsets": subsets}


def slice_object(svc: dict[str, Any], eps: list[dict[str, Any]]) -> dict[str, Any]:
    ns, name = svc["metadata"]["namespace"], svc["metadata"]["name"]
    endpoints = []
    for e in eps:
        item: dict[str, Any] = {"addresses": [e["ip"]],
                                "conditions": {"ready": e["ready"], "serving": e["ready"], "terminating": False},
                                "nodeName": e["node"],
                                "targetRef": {"kind": "Pod", "namespace": ns, "name": e["pod"], "uid": e["uid"]}}
        if e["hostname"]:
            item["hostname"] = e["hostname"]
        endpoints.append(item)
    return {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
            "metadata": {"name": slice_name(name), "namespace": ns,
                         "labels": {SERVICE_NAME_LABEL: name, "endpointslice.kubernetes.io/managed-by":
                                    "endpointslice-controller.k8s.io"},
                         "ownerReferences": [{"apiVersion": "v1", "kind": "Service", "name": name,
                                              "uid": svc["metadata"]["uid"], "controller": True}]},
            "addressType": "IPv4", "endpoints": endpoints, "ports": _ports(eps, svc)}


def _same(current: dict[str, Any] | None, want: dict[str, Any], fields: tuple[str, ...]) -> bool:
    if current is None:
        return False
    labels = current["metadata"].get("labels") or {}
    return (all(current.get(f) == want.get(f) for f in fields)
            and all(labels.get(k) == v for k, v in want["metadata"]["labels"].items()))


class EndpointsController:
    def __init__(self, rt: Runtime, client: KubeClient, informers: SharedInformers, *,
                 bugs: frozenset[str] = frozenset()) -> None:
        self.rt = rt
        self.client = client
        self.bugs = bugs
        self.controller = Controller(rt, "endpoints", informers, self.reconcile, primary="services", resync_s=5.0)
        self.services = self.controller.primary
        self.pods = informers.get("pods")
        self.endpoints = informers.get("endpoints")
        self.slices = informers.get("endpointslices")
        self.controller.watch("pods", self._services_of)
        self.controller.watch("endpoints", lambda obj: [object_key(obj)])
        self.controller.watch("endpointslices", lambda obj: [
            f"{obj['metadata']['namespace']}/{(obj['metadata'].get('labels') or {}).get(SERVICE_NAME_LABEL, '')}"])
        self.writes = 0

    def _services_of(self, pod: dict[str, Any]) -> list[str]:
        ns, labels = pod["metadata"].get("namespace"), pod["metadata"].get("labels") or {}
        return sorted(key for key, svc in self.services.cache.items()
                      if svc["metadata"]["namespace"] == ns
                      and selector_matches((svc.get("spec") or {}).get("selector") or {}, labels))

    async def run(self) -> None:
        await self.controller.run()

    async def _delete(self, resource: str, name: str, ns: str) -> None:
        try:
            await self.client.delete(resource, name, ns)
            self.writes += 1
        except ApiError as exc:
            if exc.code != 404:
                raise

    async def _put(self, resource: str, current: dict[str, Any] | None, want: dict[str, Any]) -> None:
        ns = want["metadata"]["namespace"]
        if current is None:
            try:
                await self.client.create(resource, want, ns)
            except ApiError as exc:
                if exc.code != 409:
                    raise
                raise ApiError({"code": 409, "reason": "Conflict", "message": f"{resource} {ns}/"
                                f"{want['metadata']['name']} exists but is not in the cache yet"}) from None
        else:
            body = {**want, "metadata": {**current["metadata"], "labels": want["metadata"]["labels"],
                                         **({"ownerReferences": want["metadata"]["ownerReferences"]}
                                            if "ownerReferences" in want["metadata"] else {})}}
            await self.client.update(resource, body)  # resourceVersion from the cache: 409 if stale
        self.writes += 1

    async def reconcile(self, key: str) -> Result | None:
        ns, _, name = key.partition("/")
        svc = self.services.cache.get(key)
        ep_current = self.endpoints.cache.get(key)
        slice_current = self.slices.cache.get(f"{ns}/{slice_name(name)}")
        if svc is None or svc["metadata"].get("deletionTimestamp"):
            if ep_current is not None:
                await self._delete("endpoints", name, ns)
            if slice_current is not None:
                await self._delete("endpointslices", slice_name(name), ns)
            return None
        if not (svc.get("spec") or {}).get("selector"):
            return None  # Endpoints of a Service without a selector are the user's
        eps = desired_endpoints(svc, self.pods.items(), self.bugs)
        want_ep = endpoints_object(svc, eps)
        if not _same(ep_current, want_ep, ("subsets",)):
            await self._put("endpoints", ep_current, want_ep)
        want_slice = slice_object(svc, eps)
        if not _same(slice_current, want_slice, ("endpoints", "ports", "addressType")):
            await self._put("endpointslices", slice_current, want_slice)
        return None
