"""The ``networking`` system: Services, Endpoints, kube-proxy, DNS, Ingress and traffic
on the ``control_plane`` system (:class:`kube.control_plane_sim.ControlPlaneSystem`,
which this one extends).

Registered in :data:`raftkv.sim.SYSTEM_BUILDERS` (``Scenario(system="networking",
control_plane=ControlPlaneSpec(...), networking=NetworkingSpec(...))``).  Beside the
control plane's components:

* the apiservers allocate ClusterIPs from ``10.96.0.0/<service_cidr_bits>`` and NodePorts
  and run the repair loops every 2 s; the controller manager ``cm1`` also runs the
  Endpoints/EndpointSlice controller and the service controller (with a simulated cloud
  load-balancer provider, outside the cluster);
* every machine ``m<i>`` runs kube-proxy beside its kubelet (``proxy_mode``; node address
  ``10.244.<i>.1``; host-gw routes from the Node objects); ``dns1`` is the cluster DNS and
  ``ing1`` the ingress controller (its data path is on ``m1``);
* the user ``u1`` creates a Service ``<name>-svc`` per workload (``app=<name>``; port 80 to 8080; types
  ClusterIP with ClientIP affinity, LoadBalancer, NodePort in turn), a headless Service
  ``<first>-hl`` and an Ingress ``web`` (host ``web.example.com``: ``Exact /healthz`` to
  the second Service, ``Prefix /`` and the default backend to the first), all at once
  through every apiserver; during the fault phase it deletes and creates the
  ``churn-<i>`` NodePort Services ``churns`` times, all at once;
* ``requests_per_s`` requests: from a running pod by DNS name or ClusterIP, or from
  outside by NodePort, load-balancer address or Ingress host and path; each one traced
  hop by hop (DNS answer, the rules it matched, the endpoint, the node, the pod) into
  :attr:`NetworkingSystem.requests`.

Checked (``networking.*``) besides ``control_plane.*``:

* ``networking.duplicate_cluster_ip`` / ``networking.duplicate_node_port``: sampled every
  20 ms from the store, no two Services hold one ClusterIP or one NodePort;
* ``networking.never_ready_endpoint``: a request never reaches a pod that was never a
  ready endpoint of its Service (one its kubelet never found ready, or one the Service
  does not select);
* ``networking.session_affinity``: a client's requests to a ``ClientIP`` Service through
  one node reach the same endpoint while it stays in that node's table and within the
  timeout;
* ``networking.convergence`` (the run's liveness, with the control plane's): once faults
  heal, Endpoints and EndpointSlices equal the ready pods each Service selects, every
  running node's kube-proxy table equals them, DNS answers equal the store's, and every
  LoadBalancer Service has its address;
* ``networking.converged_traffic``: after convergence, requests from every node to every
  Service with endpoints reach current ready endpoints only, and never fail;
* ``networking.ipvs_rotation``: after convergence, n requests to an ipvs virtual server
  with n real servers reach each exactly once.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any

from raftkv.check import History, make_history
from raftkv.sim import SYSTEM_BUILDERS, Scenario, SimRuntime, TaskHost, Violation, World, derive_rng

from .client import KubeClient
from .control_plane_sim import NS, ControlPlaneSystem
from .controllers import SharedInformers
from .errors import ApiError
from .kubelet import Sandbox
from .network.dns import DnsServer, answer
from .network.endpoints import (
    EndpointsController,
    desired_endpoints,
    endpoints_object,
    selector_matches,
    slice_name,
)
from .network.ingress import IngressController
from .network.loadbalancer import LoadBalancerProvider, ServiceController
from .network.podnet import HostGwNetwork, routes_from_nodes
from .network.proxy import IpvsTable, KubeProxy, Route, service_ports

__all__ = ["NetworkingSystem", "ingress_object", "service_object"]

INGRESS_HOST = "web.example.com"
EXTERNAL_IPS = ("198.51.100.7", "198.51.100.8", "198.51.100.9")
TYPES = ("ClusterIP", "LoadBalancer", "NodePort")
NETWORK_CHECK_US = 50_000
CONVERGED_ROUNDS = 3  # requests per endpoint per node once converged


def service_object(name: str, type_: str, *, selector: str | None = None, affinity_timeout_s: int = 0,
                   headless: bool = False) -> dict[str, Any]:
    spec: dict[str, Any] = {"type": type_, "selector": {"app": selector or name},
                            "ports": [{"name": "http", "port": 80, "targetPort": 8080}]}
    if affinity_timeout_s:
        spec["sessionAffinity"] = "ClientIP"
        spec["sessionAffinityConfig"] = {"clientIP": {"timeoutSeconds": affinity_timeout_s}}
    if headless:
        spec["clusterIP"] = "None"
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "namespace": NS}, "spec": spec}


def ingress_object(default: str, exact: str) -> dict[str, Any]:
    def backend(svc: str) -> dict[str, Any]:
        return {"service": {"name": svc, "port": {"number": 80}}}
    return {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "metadata": {"name": "web", "namespace": NS},
            "spec": {"defaultBackend": backend(default),
                     "rules": [{"host": INGRESS_HOST, "http": {"paths": [
                         {"path": "/healthz", "pathType": "Exact", "backend": backend(exact)},
                         {"path": "/", "pathType": "Prefix", "backend": backend(default)}]}}]}}


class NetworkingSystem(ControlPlaneSystem):
    def __init__(self, scenario: Scenario, world: World) -> None:
        super().__init__(scenario, world)
        self.net = scenario.networking
        self.proxies: dict[str, KubeProxy] = {}
        self.dns: DnsServer | None = None
        self.ingress: IngressController | None = None
        self.provider = LoadBalancerProvider()
        self.provider.nodes = tuple((m, self.node_ip(m)) for m in self.machines)
        self.podnet = HostGwNetwork(self._routes, self._pods_on)
        self.rng = derive_rng(scenario.seed, "traffic")
        self.ever_ready: dict[str, dict[str, str]] = {}  # pod uid -> labels, once its kubelet found it ready
        self.ever_ready_keys: dict[str, dict[str, str]] = {}  # the same by namespace/name
        self.requests: list[dict[str, Any]] = []  # the traffic history, one trace per request
        # (node, client, svc) -> (endpoint, at, which kube-proxy, its sync count)
        self.affinity: dict[tuple[str, str, str], tuple[str, int, int, int]] = {}
        workloads = (*self.names, *self.deployment_names)
        self.service_objects: dict[str, dict[str, Any]] = {}
        for i, name in enumerate(workloads):
            t = TYPES[i % len(TYPES)]
            self.service_objects[f"{name}-svc"] = service_object(
                f"{name}-svc", t, selector=name, affinity_timeout_s=self.net.affinity_timeout_s if t == "ClusterIP" else 0)
        if workloads:
            self.service_objects[f"{workloads[0]}-hl"] = service_object(f"{workloads[0]}-hl", "ClusterIP",
                                                                         selector=workloads[0], headless=True)
        self.churn_names = tuple(f"churn-{i}" for i in range(self.net.churn_services))
        self.ingress_backends: tuple[str, ...] = ((f"{workloads[0]}-svc", f"{workloads[min(1, len(workloads) - 1)]}-svc")
                                 if workloads else ())
        self.outcomes: dict[str, int] = {}
        self._network_ok_at = -1
        self._network_problems: list[str] = []

    # ------------------------------------------------------------------ components
    @staticmethod
    def node_ip(node: str) -> str:
        return f"10.244.{int(node[1:])}.1"

    def _apiserver_options(self) -> dict[str, Any]:
        return {"service_cidr": f"10.96.0.0/{self.net.service_cidr_bits}"}

    def _apiserver_run_options(self) -> dict[str, Any]:
        return {"repair_interval_s": 2.0}

    def _proxy_mode(self, node: str) -> str:
        if self.net.proxy_mode == "mixed":
            return "iptables" if int(node[1:]) % 2 else "ipvs"
        return self.net.proxy_mode

    async def _controller_manager(self, rt: SimRuntime) -> None:
        client = KubeClient(self._transport(rt, 0))
        informers = SharedInformers(rt, client)
        endpoints = EndpointsController(rt, client, informers, bugs=self.bugs)
        services = ServiceController(rt, client, informers, self.provider)
        self.controllers["cm1/endpoints"] = endpoints
        rt.spawn(endpoints.run(), name="endpoints-controller")
        rt.spawn(services.run(), name="service-controller")
        await super()._controller_manager(rt)

    async def _kubelet(self, rt: SimRuntime) -> None:
        node = rt.node_id
        proxy = KubeProxy(rt, KubeClient(self._transport(rt, int(node[1:]) + 1)), node, (self.node_ip(node),),
                          mode=self._proxy_mode(node), min_sync_period_s=self.net.proxy_sync_ms / 1000,
                          bugs=self.bugs)
        proxy.informers.get("nodes")  # host-gw routes
        self.proxies[node] = proxy
        for key in [k for k in self.affinity if k[0] == node]:
            del self.affinity[key]  # the machine's conntrack and recent lists went down with it
        rt.spawn(proxy.run(), name="kube-proxy")
        await super()._kubelet(rt)

    async def _dns(self, rt: SimRuntime) -> None:
        self.dns = DnsServer(rt, KubeClient(self._transport(rt, 1)))
        await self.dns.run()

    async def _ingress(self, rt: SimRuntime) -> None:
        self.ingress = IngressController(rt, KubeClient(self._transport(rt, 2)))
        await self.ingress.run()

    async def _create(self, rt: SimRuntime, client: KubeClient, resource: str, obj: dict[str, Any]) -> None:
        if resource in ("replicasets", "deployments") and self.net.readiness_delay_ms:
            obj = copy.deepcopy(obj)
            for c in obj["spec"]["template"]["spec"]["containers"]:
                c["ports"] = [{"name": "http", "containerPort": 8080}]
                c["readinessProbe"] = {"tcpSocket": {"port": 8080},
                                       "initialDelaySeconds": self.net.readiness_delay_ms / 1000}
        await super()._create(rt, client, resource, obj)

    async def _all_at_once(self, rt: SimRuntime, calls: list[tuple[str, str, dict[str, Any] | None]]) -> None:
        """Create (obj) or delete (None) at once, each through another apiserver."""
        tasks = []
        for i, (resource, name, obj) in enumerate(calls):
            client = KubeClient(self._transport(rt, i))
            if obj is not None:
                tasks.append(rt.spawn(self._create(rt, client, resource, obj), name=f"create:{name}"))
            else:
                tasks.append(rt.spawn(self._delete(rt, client, resource, name), name=f"delete:{name}"))
        for task in tasks:
            await task.join()

    async def _delete(self, rt: SimRuntime, client: KubeClient, resource: str, name: str) -> None:
        while True:
            try:
                await client.delete(resource, name, NS)
                break
            except ApiError as exc:
                if exc.code == 404:
                    break
                await rt.sleep(0.3)
        self.created[f"services/{name}" if resource == "services" else name] = False

    async def _user(self, rt: SimRuntime) -> None:
        calls: list[tuple[str, str, dict[str, Any] | None]] = [("services", n, o) for n, o in self.service_objects.items()]
        calls.extend(("services", n, service_object(n, "NodePort")) for n in self.churn_names)
        if self.ingress_backends:
            calls.append(("ingresses", "web", ingress_object(*self.ingress_backends)))
        await self._all_at_once(rt, calls)
        rt.spawn(self._churn(rt), name="churn")
        await super()._user(rt)

    async def _churn(self, rt: SimRuntime) -> None:
        rng = rt.random()
        for _ in range(self.net.churns if self.churn_names else 0):
            await rt.sleep(rng.uniform(0.5, max(0.6, self.scenario.duration_us / 1e6 / (self.net.churns + 1))))
            if self.quiet:
                return
            await self._all_at_once(rt, [("services", n, None) for n in self.churn_names])
            await self._all_at_once(rt, [("services", n, service_object(n, "NodePort")) for n in self.churn_names])

    def _sandbox_ready(self, node: str, sandbox: Sandbox) -> None:
        kubelet = self.controllers.get(node)
        pod = kubelet.pods.cache.get(sandbox.key) if kubelet is not None else None
        if pod is not None and pod["metadata"]["uid"] == sandbox.uid:
            self.ever_ready.setdefault(sandbox.uid, dict(pod["metadata"].get("labels") or {}))
            self.ever_ready_keys.setdefault(sandbox.key, self.ever_ready[sandbox.uid])

    def start(self) -> None:
        super().start()

        def host(main: Any) -> Any:
            return lambda env: TaskHost(env, main)
        self.world.add_node("dns1", host(self._dns), client=True)
        self.world.add_node("ing1", host(self._ingress), client=True)
        if self.net.requests_per_s:
            self.world.schedule(1_000_000, self._traffic)

    def _components(self) -> tuple[str, ...]:
        return (*super()._components(), "dns1", "ing1")

    # ------------------------------------------------------------------ the data path
    def _running(self, node: str) -> bool:
        return self.world.is_up(node) and not self.world.is_paused(node)

    def _routes(self, node: str) -> list[tuple[str, str, str]]:
        proxy = self.proxies.get(node)
        return routes_from_nodes(proxy.informers.get("nodes").items()) if proxy is not None else []

    def _pods_on(self, node: str) -> dict[str, tuple[str, str]]:
        kubelet = self.controllers.get(node)
        if kubelet is None or not self._running(node):
            return {}
        return {s.ip: (s.uid, s.key) for s in kubelet.sandboxes.running.values()}

    def _synced_proxy(self, node: str) -> KubeProxy | None:
        proxy = self.proxies.get(node)
        return proxy if proxy is not None and proxy.syncs and self._running(node) else None

    def _forward(self, trace: dict[str, Any], node: str, dst: str, port: int, src: str, *,
                 pod: str = "") -> None:
        """Through ``node``'s kube-proxy (a Service address) and the pod network; ``pod``:
        ``dst`` is that pod's IP (a headless Service's answer), no Service rule applies."""
        proxy = self._synced_proxy(node)
        if proxy is None:
            trace["outcome"] = "node down"
            return
        route: Route | None = None
        expected = pod
        if pod:
            target = dst
        else:
            route = proxy.table.lookup(dst, port, src, self.world.now_us, self.rng)
            trace["hops"].extend(f"{node} {proxy.mode}: {r}" for r in route.rules)
            if route.endpoint is None:
                trace["outcome"] = route.verdict
                return
            target = route.endpoint.ip
            expected = route.endpoint.pod
            trace["endpoint"] = route.endpoint.address
        trace["table_node"] = node
        delivery = self.podnet.deliver(node, target)
        trace["hops"].extend(delivery.hops)
        if delivery.dropped:
            trace["outcome"] = f"dropped: {delivery.dropped}"
            return
        if expected != delivery.pod_key:
            # the rule or answer names a pod that left; its IP now belongs to another pod
            trace.update(outcome="another pod holds the endpoint's IP", node=delivery.node, pod=delivery.pod_key)
            return
        trace.update(outcome="ok", node=delivery.node, pod=delivery.pod_key, uid=delivery.pod_uid)

    def request(self, service: str, mode: str, *, client_node: str = "", src: str = "", path: str = "/") -> dict[str, Any]:
        """Send one request and judge it; returns its trace."""
        trace: dict[str, Any] = {"t_us": self.world.now_us, "service": service, "mode": mode, "src": src,
                                 "client_node": client_node, "hops": [], "outcome": ""}
        stored = self._stored_service(service)
        spec = (stored or {}).get("spec") or {}
        if mode == "dns":
            if self.dns is None or not self._running("dns1") or not self.dns.ready:
                trace["outcome"] = "dns down"
            else:
                got = self.dns.query(service, NS)
                trace["hops"].append(f"dns1: {got.name} -> {', '.join(got.ips) or 'NXDOMAIN'}")
                if got.nxdomain:
                    trace["outcome"] = "nxdomain"
                else:
                    headless = spec.get("clusterIP") == "None"
                    ip = self.rng.choice(got.ips)
                    self._forward(trace, client_node, ip, 8080 if headless else 80, src,
                                  pod=self.dns.pod_of(ip) if headless else "")
        elif mode == "clusterip":
            trace["hops"].append(f"{client_node}: to {spec.get('clusterIP')}:80")
            self._forward(trace, client_node, str(spec.get("clusterIP")), 80, src)
        elif mode in ("nodeport", "loadbalancer"):
            node_port = int((spec.get("ports") or [{}])[0].get("nodePort") or 0)
            if mode == "loadbalancer":
                lb_ip = next((i["ip"] for i in ((stored or {}).get("status") or {}).get("loadBalancer", {})
                              .get("ingress") or ()), "")
                fwd = self.provider.forward(lb_ip, 80)
                if fwd is None:
                    trace["outcome"] = "no load balancer"
                    return self._judge(trace)
                node, addr, node_port = fwd
                trace["hops"].append(f"lb {lb_ip}:80 -> {node} {addr}:{node_port}")
            else:
                node = client_node
                addr = self.node_ip(node)
                trace["hops"].append(f"to {node} {addr}:{node_port}")
            self._forward(trace, node, addr, node_port, src)
        elif mode == "ingress":
            ing_node = self.machines[0]
            if self.ingress is None or not self._running("ing1") or not self._running(ing_node):
                trace["outcome"] = "ingress down"
            else:
                backend, ip, port = self.ingress.route(INGRESS_HOST, path)
                trace["hops"].append(f"ing1: {INGRESS_HOST}{path} -> {backend.rule if backend else 'no rule'}")
                if backend is None or not ip:
                    trace["outcome"] = "no backend"
                else:
                    trace["service"] = backend.service
                    self._forward(trace, ing_node, ip, port, src)
        return self._judge(trace)

    def _stored_service(self, name: str) -> dict[str, Any] | None:
        stored = self._stored_objects if self._stored_objects is not None else self._services_by_name()
        return (stored or {}).get(name)

    _stored_objects: dict[str, dict[str, Any]] | None = None

    # ------------------------------------------------------------------ judging requests
    def _judge(self, trace: dict[str, Any]) -> dict[str, Any]:
        self.requests.append(trace)
        self.outcomes[trace["outcome"]] = self.outcomes.get(trace["outcome"], 0) + 1
        if trace["outcome"] != "ok":
            return trace
        svc = self.service_objects.get(trace["service"])
        if svc is None:
            return trace
        labels = self.ever_ready.get(trace["uid"], self.ever_ready_keys.get(trace["pod"]))
        selector = svc["spec"]["selector"]
        why = ""
        if labels is None and not svc["spec"].get("publishNotReadyAddresses"):
            why = "which its kubelet never found ready"
        elif labels is not None and not selector_matches(selector, labels):
            why = f"whose labels {labels} the Service's selector {selector} does not match"
        if why:
            self._violate("networking.never_ready_endpoint",
                          f"a {trace['mode']} request to Service {trace['service']} at "
                          f"{trace['t_us'] / 1e6:.3f}s reached pod {trace['pod']} on {trace['node']}, {why}; "
                          f"trace: {' | '.join(trace['hops'])}")
        self._check_affinity(trace, svc)
        return trace

    def _check_affinity(self, trace: dict[str, Any], svc: dict[str, Any]) -> None:
        """Within the timeout, a client's requests through one node's table reach the
        endpoint they reached before, unless that Service's endpoints changed since."""
        timeout_s = ((svc["spec"].get("sessionAffinityConfig") or {}).get("clientIP") or {}).get("timeoutSeconds")
        node = trace.get("table_node", "")
        proxy = self.proxies.get(node)
        if not timeout_s or not trace.get("endpoint") or proxy is None:
            return
        port_name = f"{NS}/{trace['service']}:http"
        key = (node, trace["src"], trace["service"])
        held = self.affinity.get(key)
        self.affinity[key] = (trace["endpoint"], trace["t_us"], id(proxy), proxy.syncs)
        if held is None or held[0] == trace["endpoint"] or held[2] != id(proxy):
            return
        if trace["t_us"] - held[1] > timeout_s * 1_000_000 or proxy.changed_at.get(port_name, 0) > held[3]:
            return
        self._violate("networking.session_affinity",
                      f"client {trace['src']} reached {trace['endpoint']} of Service {trace['service']} through "
                      f"{node} at {trace['t_us'] / 1e6:.3f}s, {(trace['t_us'] - held[1]) / 1e6:.3f}s after it "
                      f"reached {held[0]}, and the Service's endpoints in that table did not change in between "
                      f"(affinity timeout {timeout_s}s)")

    def _clients(self) -> list[tuple[str, str]]:
        """(node, pod IP) of the pods running on running machines."""
        out: list[tuple[str, str]] = []
        for node in self.machines:
            if self._synced_proxy(node) is not None:
                out.extend((node, ip) for ip in sorted(self._pods_on(node)))
        return out

    def _traffic(self) -> None:
        self._stored_objects = self._services_by_name()
        if self._stored_objects is not None:
            names = sorted(n for n in self.service_objects if n in self._stored_objects)
            if names:
                self._one_request(self.rng.choice(names))
        self._stored_objects = None
        self.world.schedule(self.world.now_us + 1_000_000 // self.net.requests_per_s, self._traffic)

    def _one_request(self, name: str) -> None:
        spec = self.service_objects[name]["spec"]
        modes = ["dns"] if spec.get("clusterIP") == "None" else ["dns", "clusterip"]
        if spec["type"] in ("NodePort", "LoadBalancer"):
            modes.append("nodeport")
        if spec["type"] == "LoadBalancer":
            modes.append("loadbalancer")
        if name in self.ingress_backends:
            modes.append("ingress")
        mode = self.rng.choice(modes)
        if mode in ("dns", "clusterip"):
            clients = self._clients()
            if not clients:
                return
            node, ip = self.rng.choice(clients)
            self.request(name, mode, client_node=node, src=ip)
        elif mode == "ingress":
            path = "/healthz" if name == self.ingress_backends[1] and self.rng.random() < 0.5 else "/shop/cart"
            if name == self.ingress_backends[1] and name != self.ingress_backends[0]:
                path = "/healthz"
            self.request(name, mode, src=self.rng.choice(EXTERNAL_IPS), path=path)
        else:
            self.request(name, mode, client_node=self.rng.choice(self.machines), src=self.rng.choice(EXTERNAL_IPS))

    # ------------------------------------------------------------------ ground truth
    def _services_by_name(self) -> dict[str, dict[str, Any]] | None:
        services = self._stored("services")
        return None if services is None else {s["metadata"]["name"]: s for s in services}

    def _sample(self) -> None:
        services = self._stored("services")
        if services is not None:
            for field, prop in (("ip", "networking.duplicate_cluster_ip"), ("port", "networking.duplicate_node_port")):
                holders: dict[str, str] = {}
                for svc in services:
                    spec = svc.get("spec") or {}
                    values = ([spec["clusterIP"]] if spec.get("clusterIP") not in (None, "", "None") else []) \
                        if field == "ip" else [str(p["nodePort"]) for p in spec.get("ports") or () if p.get("nodePort")]
                    for v in values:
                        other = holders.get(v)
                        if other is not None:
                            self._violate(prop, f"Services {other} and {svc['metadata']['name']} both hold "
                                                f"{'ClusterIP' if field == 'ip' else 'NodePort'} {v}")
                        holders[v] = svc["metadata"]["name"]
        super()._sample()

    def _network_problems_now(self) -> list[str]:
        services, pods = self._stored("services"), self._stored("pods")
        endpoints, slices = self._stored("endpoints"), self._stored("endpointslices")
        if services is None or pods is None or endpoints is None or slices is None:
            return ["no leader to read the store from"]
        out = [f"Service {n} not created yet" for n in (*self.service_objects, *self.churn_names)
               if not self.created.get(f"services/{n}")]
        eps = {e["metadata"]["name"]: e for e in endpoints}
        sls = {s["metadata"]["name"]: s for s in slices}
        for svc in services:
            name = svc["metadata"]["name"]
            if not (svc.get("spec") or {}).get("selector"):
                continue
            want = desired_endpoints(svc, pods)
            if (eps.get(name) or {}).get("subsets") != endpoints_object(svc, want)["subsets"]:
                out.append(f"Endpoints {name} differ from the ready pods it selects")
            got = sorted((e["addresses"][0], bool(e["conditions"]["ready"]))
                         for e in (sls.get(slice_name(name)) or {}).get("endpoints") or ())
            if got != sorted((e["ip"], e["ready"]) for e in want):
                out.append(f"EndpointSlice of {name} differs from the ready pods it selects")
            for e in want:
                if e["ready"] and self._pods_on(e["node"]).get(e["ip"], ("", ""))[1] != f"{NS}/{e['pod']}":
                    out.append(f"pod {e['pod']} of {name} is ready in the store but does not run on {e['node']}")
            if svc["spec"].get("type") == "LoadBalancer" and not (svc.get("status") or {}).get("loadBalancer"):
                out.append(f"LoadBalancer Service {name} has no address")
        truth = {sp.name: tuple(ep.address for ep in sp.endpoints) for sp in service_ports(services, slices)}
        for node in self.machines:
            proxy = self._synced_proxy(node)
            if proxy is None:
                out.append(f"kube-proxy on {node} not running or not synced")
            elif proxy.table.endpoints() != truth:
                out.append(f"kube-proxy on {node} ({proxy.mode}) differs from the EndpointSlices")
        by_name = {f"{NS}/{s['metadata']['name']}": s for s in services}
        if self.dns is None or not self._running("dns1"):
            out.append("dns1 not running")
        else:
            for name in self.service_objects:
                if self.dns.query(name, NS) != answer(name, NS, by_name, slices):
                    out.append(f"DNS answer for {name} differs from the store")
        return out

    def _network_problems_cached(self) -> list[str]:
        if self.world.now_us - self._network_ok_at >= NETWORK_CHECK_US:
            self._network_ok_at = self.world.now_us
            self._network_problems = self._network_problems_now()
        return self._network_problems

    def is_live(self) -> bool:
        return super().is_live() and not self._network_problems_cached()

    def liveness_report(self) -> str:
        problems = "; ".join(self._network_problems_now()[:4])
        return f"{super().liveness_report()}; networking: {problems or 'converged'}"

    def _converged_traffic(self) -> list[Violation]:
        """Requests from every node to every Service with endpoints, once converged."""
        out: list[Violation] = []
        services, pods = self._stored("services"), self._stored("pods")
        if services is None or pods is None:
            return out
        self._stored_objects = {s["metadata"]["name"]: s for s in services}
        current = {(e["ip"], e["uid"]) for s in services if (s.get("spec") or {}).get("selector")
                   for e in desired_endpoints(s, pods) if e["ready"]}
        for svc in services:
            name, spec = svc["metadata"]["name"], svc.get("spec") or {}
            if name not in self.service_objects or spec.get("clusterIP") in (None, "", "None"):
                continue
            n = sum(1 for e in desired_endpoints(svc, pods) if e["ready"])
            for node in self.machines:
                for i in range(CONVERGED_ROUNDS * max(n, 1)):
                    src = f"172.16.{int(node[1:])}.{i % 250 + 1}"
                    trace = self.request(name, "clusterip", client_node=node, src=src)
                    if n and (trace["outcome"] != "ok" or (trace.get("endpoint", ":").split(":")[0], trace["uid"])
                              not in current):
                        out.append(Violation(property="networking.converged_traffic", time_us=self.world.now_us,
                                             message=f"once converged, a request from {node} to Service {name} "
                                                     f"({n} ready endpoints) ended {trace['outcome']!r} at "
                                                     f"{trace.get('pod') or 'no pod'}: {' | '.join(trace['hops'])}"))
                        return out
                proxy = self.proxies[node]
                if isinstance(proxy.table, IpvsTable) and n and not spec.get("sessionAffinity") == "ClientIP":
                    seen = [self.request(name, "clusterip", client_node=node, src=f"172.17.0.{k + 1}").get("endpoint")
                            for k in range(n)]
                    if len(set(seen)) != n:
                        out.append(Violation(property="networking.ipvs_rotation", time_us=self.world.now_us,
                                             message=f"{n} requests to {name} through {node}'s ipvs table reached "
                                                     f"{seen}, not each of its {n} real servers once"))
                        return out
        self._stored_objects = None
        return out

    # ------------------------------------------------------------------ System
    def check(self, properties: Sequence[str] | None = None) -> list[Violation]:
        def wanted(name: str) -> bool:
            return properties is None or any(name.startswith(p) or p.startswith(name) for p in properties)

        cp = None if properties is None else [p for p in properties if not p.startswith("networking")]
        out = [v for v in super().check(cp) if not v.property.startswith("networking")] if cp is None or cp else []
        late: list[Violation] = []
        if wanted("networking.convergence"):
            self._network_ok_at = -1
            problems = [] if self._convergence_problems() else self._network_problems_now()
            if problems:
                late.append(Violation(property="networking.convergence", time_us=self.world.now_us,
                                      message="not converged once faults healed: " + "; ".join(problems[:4])))
            elif not self._convergence_problems() and wanted("networking.converged_traffic"):
                late.extend(self._converged_traffic())
        out.extend(v for v in self.found if v.property.startswith("networking") and wanted(v.property))
        return out + late

    def history(self) -> History:
        return make_history(())  # no etcd client history: the traffic traces are ``self.requests``

    def summary(self) -> dict[str, Any]:
        out = super().summary()
        proxies = ", ".join(f"{n} {p.mode} {p.syncs} syncs" for n, p in sorted(self.proxies.items()))
        outcomes = ", ".join(f"{k} {v}" for k, v in sorted(self.outcomes.items()))
        out["networking"] = (f"{len(self.requests)} requests ({outcomes}); "
                             f"kube-proxy: {proxies}; dropped packets {self.podnet.dropped or 0}; "
                             f"{len(self.provider.balancers)} load balancers")
        return out


SYSTEM_BUILDERS["networking"] = NetworkingSystem
