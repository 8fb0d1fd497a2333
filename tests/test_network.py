"""kube.network: kube-proxy's tables (iptables chains with equal shares, ipvs round
robin, session affinity, NodePorts, rendering), the Endpoints controller's view of pods,
DNS answers, Ingress matching, host-gw delivery and the load-balancer provider."""

from __future__ import annotations

import math
import random

import pytest

from kube.network import (
    BUG_PUBLISH_NOT_READY,
    BUG_WRONG_PROBABILITY,
    Endpoint,
    HostGwNetwork,
    IptablesTable,
    IpvsTable,
    LoadBalancerProvider,
    ServicePort,
    answer,
    desired_endpoints,
    match_ingress,
    prefix_matches,
    routes_from_nodes,
    service_ports,
)

NODE = ("10.244.1.1",)


def port(n: int, *, affinity_s: int = 0, node_port: int = 0) -> ServicePort:
    return ServicePort(name="default/web:http", cluster_ip="10.96.0.10", port=80, protocol="TCP",
                       node_port=node_port, affinity_timeout_s=affinity_s,
                       endpoints=tuple(Endpoint(ip=f"10.244.{i % 3 + 1}.{i + 2}", port=8080, pod=f"default/web-{i}")
                                       for i in range(n)))


# -- iptables: the random chain gives equal shares ---------------------------------

#: z of the one-sided 1e-4 tail of the standard normal: the false-alarm rate of the
#: chi-square test below is 1 in 10,000 per (n, seed) case (Wilson-Hilferty approximation
#: of the chi-square quantile)
Z_1E4 = 3.719


def chi_square_limit(df: int) -> float:
    return df * (1 - 2 / (9 * df) + Z_1E4 * math.sqrt(2 / (9 * df))) ** 3


def shares(table: IptablesTable | IpvsTable, connections: int, seed: int) -> dict[str, int]:
    rng = random.Random(seed)
    out: dict[str, int] = {}
    for i in range(connections):
        route = table.lookup("10.96.0.10", 80, f"172.16.{i // 250}.{i % 250}", 0, rng)
        key = route.endpoint.address if route.endpoint else route.verdict
        out[key] = out.get(key, 0) + 1
    return out


def equal_shares(counts: dict[str, int], n: int, connections: int) -> bool:
    """Pearson's chi-square test of equal shares over n endpoints (anything else, such
    as a connection falling off the chain, fails it)."""
    if len(counts) != n or not all(k.startswith("10.244.") for k in counts):
        return False
    expected = connections / n
    stat = sum((c - expected) ** 2 / expected for c in counts.values())
    return n == 1 or stat <= chi_square_limit(n - 1)


def test_the_chain_says_one_over_n_then_one_over_n_minus_one() -> None:
    text = IptablesTable([port(4)], NODE).render()
    probs = [line.split("--probability ")[1].split()[0] for line in text.splitlines() if "--probability" in line]
    assert probs == ["0.2500000000", "0.3333333333", "0.5000000000"]
    assert text.count("-j DNAT --to-destination") == 4 and text.startswith("*nat\n") and text.endswith("COMMIT\n")
    bad = IptablesTable([port(4)], NODE, bugs=frozenset({BUG_WRONG_PROBABILITY})).render()
    assert bad.count("--probability 0.2500000000") == 4


@pytest.mark.parametrize("n", range(1, 9))
@pytest.mark.parametrize("seed", range(3))
def test_iptables_gives_each_endpoint_an_equal_share(n: int, seed: int) -> None:
    """24 fixed (n, seed) cases: a correct table fails one with probability 1e-4 each
    (about 0.24% that a seed change would flag one); the seeds are fixed, so the verdict is too."""
    connections = 400 * n
    counts = shares(IptablesTable([port(n)], NODE), connections, seed)
    assert equal_shares(counts, n, connections), counts


@pytest.mark.parametrize("n", [2, 3, 5])
def test_the_equal_share_test_catches_wrong_probabilities(n: int) -> None:
    connections = 400 * n
    table = IptablesTable([port(n)], NODE, bugs=frozenset({BUG_WRONG_PROBABILITY}))
    assert not equal_shares(shares(table, connections, seed=n), n, connections)


def test_ipvs_round_robin_rotates_exactly() -> None:
    table = IpvsTable([port(5)], NODE)
    rng = random.Random(1)
    seen = [table.lookup("10.96.0.10", 80, f"172.16.0.{i}", 0, rng).endpoint for i in range(15)]
    assert [e.address for e in seen[:5]] == [e.address for e in port(5).endpoints]
    assert seen[:5] == seen[5:10] == seen[10:]


@pytest.mark.parametrize("kind", [IptablesTable, IpvsTable])
def test_client_ip_affinity_holds_within_its_timeout(kind: type) -> None:
    table = kind([port(4, affinity_s=10)], NODE)
    rng = random.Random(3)
    first = table.lookup("10.96.0.10", 80, "172.16.0.9", 0, rng).endpoint
    for k in range(1, 40):
        assert table.lookup("10.96.0.10", 80, "172.16.0.9", k * 200_000, rng).endpoint == first
    others = {table.lookup("10.96.0.10", 80, "172.16.0.9", 9_000_000 + k * 11_000_000, rng).endpoint
              for k in range(40)}
    assert len(others) > 1  # past the timeout the choice is free again


@pytest.mark.parametrize("kind", [IptablesTable, IpvsTable])
def test_node_port_answers_on_the_node_address_only(kind: type) -> None:
    table = kind([port(2, node_port=30080)], NODE)
    rng = random.Random(1)
    assert table.lookup("10.244.1.1", 30080, "198.51.100.7", 0, rng).endpoint is not None
    assert table.lookup("10.244.2.1", 30080, "198.51.100.7", 0, rng).endpoint is None
    assert table.lookup("10.244.1.1", 30081, "198.51.100.7", 0, rng).endpoint is None


def test_a_service_without_endpoints_is_rejected() -> None:
    rng = random.Random(1)
    assert IptablesTable([port(0)], NODE).lookup("10.96.0.10", 80, "1.2.3.4", 0, rng).verdict == "REJECT"
    assert IpvsTable([port(0)], NODE).lookup("10.96.0.10", 80, "1.2.3.4", 0, rng).verdict == "REJECT"
    assert IpvsTable([port(1)], NODE).render().count("rr") == 1


# -- Endpoints, service ports, DNS ----------------------------------------------------

def pod(name: str, ip: str, *, ready: bool = True, app: str = "web", deleting: bool = False,
        hostname: str = "") -> dict:
    meta = {"name": name, "namespace": "default", "uid": f"uid-{name}", "labels": {"app": app}}
    if deleting:
        meta["deletionTimestamp"] = "2024-01-01T00:00:00Z"
    spec = {"nodeName": "m1", "containers": [{"name": "app", "image": "x"}]}
    if hostname:
        spec.update(hostname=hostname, subdomain="web-hl")
    return {"metadata": meta, "spec": spec, "status": {"phase": "Running", "podIP": ip, "conditions": [
        {"type": "Ready", "status": "True" if ready else "False"}]}}


def svc(name: str = "web", **spec: object) -> dict:
    return {"metadata": {"name": name, "namespace": "default", "uid": f"uid-{name}"},
            "spec": {"selector": {"app": "web"}, "clusterIP": "10.96.0.10", "type": "ClusterIP",
                     "ports": [{"name": "http", "port": 80, "targetPort": 8080}], **spec}}


PODS = [pod("a", "10.244.1.2"), pod("b", "10.244.1.3", ready=False), pod("c", "10.244.1.4", deleting=True),
        pod("d", "10.244.1.5", app="other")]


def test_endpoints_keep_not_ready_pods_apart_and_drop_terminating_ones() -> None:
    eps = desired_endpoints(svc(), PODS)
    assert [(e["ip"], e["ready"]) for e in eps] == [("10.244.1.2", True), ("10.244.1.3", False)]
    published = desired_endpoints(svc(publishNotReadyAddresses=True), PODS)
    assert [e["ready"] for e in published] == [True, True]
    assert [e["ready"] for e in desired_endpoints(svc(), PODS, frozenset({BUG_PUBLISH_NOT_READY}))] == [True, True]


def slices_of(eps: list[dict], name: str = "web") -> list[dict]:
    return [{"metadata": {"name": f"{name}-slice", "namespace": "default",
                          "labels": {"kubernetes.io/service-name": name}},
             "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}],
             "endpoints": [{"addresses": [e["ip"]], "conditions": {"ready": e["ready"]},
                            "targetRef": {"namespace": "default", "name": e["pod"]},
                            **({"hostname": e["hostname"]} if e["hostname"] else {})} for e in eps]}]


def test_service_ports_take_only_ready_endpoints() -> None:
    sps = service_ports([svc()], slices_of(desired_endpoints(svc(), PODS)))
    assert [(sp.name, [e.address for e in sp.endpoints]) for sp in sps] == [("default/web:http", ["10.244.1.2:8080"])]


def test_dns_answers_cluster_ips_headless_pods_and_hostnames() -> None:
    headless = svc("web-hl", clusterIP="None")
    pods = [*PODS, pod("e", "10.244.1.6", hostname="web-0")]
    services = {"default/web": svc(), "default/web-hl": headless}
    slices = slices_of(desired_endpoints(svc(), pods)) + slices_of(desired_endpoints(headless, pods), "web-hl")
    assert answer("web", "default", services, slices).ips == ("10.96.0.10",)
    assert answer("web.default.svc.cluster.local", "kube-system", services, slices).ips == ("10.96.0.10",)
    assert answer("web-hl", "default", services, slices).ips == ("10.244.1.2", "10.244.1.6")
    got = answer("web-0.web-hl.default.svc.cluster.local", "default", services, slices)
    assert got.ips == ("10.244.1.6",)
    assert answer("nope", "default", services, slices).nxdomain


# -- Ingress, pod network, load balancers -----------------------------------------------

def test_ingress_paths_exact_prefix_host_and_default() -> None:
    assert prefix_matches("/foo", "/foo/bar") and prefix_matches("/foo/", "/foo") and not prefix_matches("/foo", "/foobar")

    def b(name: str) -> dict:
        return {"service": {"name": name, "port": {"number": 80}}}
    ing = {"metadata": {"name": "i", "namespace": "default", "creationTimestamp": "1"},
           "spec": {"defaultBackend": b("default"), "rules": [
               {"host": "shop.example.com", "http": {"paths": [
                   {"path": "/", "pathType": "Prefix", "backend": b("shop")},
                   {"path": "/cart", "pathType": "Exact", "backend": b("cart")},
                   {"path": "/cart", "pathType": "Prefix", "backend": b("cart-prefix")}]}},
               {"http": {"paths": [{"path": "/", "pathType": "Prefix", "backend": b("any-host")}]}}]}}
    pick = lambda host, path: match_ingress([ing], host, path).service  # noqa: E731
    assert pick("shop.example.com", "/cart") == "cart"
    assert pick("shop.example.com", "/cart/items") == "cart-prefix"
    assert pick("shop.example.com", "/cartx") == "shop"
    assert pick("other.example.com", "/x") == "any-host"
    only_default = {**ing, "spec": {"defaultBackend": b("default")}}
    assert match_ingress([only_default], "x", "/").service == "default"


def test_host_gw_routes_to_the_right_node_and_counts_drops() -> None:
    nodes = [{"metadata": {"name": f"m{i}"}, "spec": {"podCIDR": f"10.244.{i}.0/24"},
              "status": {"addresses": [{"type": "InternalIP", "address": f"10.244.{i}.1"}]}} for i in (1, 2)]
    pods = {"m1": {"10.244.1.2": ("u1", "default/a")}, "m2": {"10.244.2.2": ("u2", "default/b")}}
    net = HostGwNetwork(lambda node: routes_from_nodes(nodes), lambda node: pods[node])
    to_b = net.deliver("m1", "10.244.2.2")
    assert (to_b.node, to_b.pod_key, to_b.dropped) == ("m2", "default/b", "")
    assert "via 10.244.2.1 (m2)" in " ".join(to_b.hops)
    assert net.deliver("m1", "10.244.2.9").dropped == "no pod"
    assert net.deliver("m1", "10.9.9.9").dropped == "no route"
    assert net.dropped == {"no pod": 1, "no route": 1}


def test_load_balancer_provider_is_idempotent_and_forwards_round_robin() -> None:
    lb = LoadBalancerProvider()
    lb.nodes = (("m1", "10.244.1.1"), ("m2", "10.244.2.1"))
    a = lb.ensure("uid-a", "default/a", ((80, 30080),))
    assert lb.ensure("uid-a", "default/a", ((80, 30080),)).ip == a.ip
    assert lb.ensure("uid-b", "default/b", ((80, 30081),)).ip != a.ip
    assert [lb.forward(a.ip, 80) for _ in range(3)] == [("m1", "10.244.1.1", 30080), ("m2", "10.244.2.1", 30080),
                                                         ("m1", "10.244.1.1", 30080)]
    lb.delete("uid-a")
    assert lb.forward(a.ip, 80) is None
