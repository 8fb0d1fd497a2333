"""Service networking: the Endpoints/EndpointSlice controller, kube-proxy's tables
(iptables and ipvs), cluster DNS, host-gw pod networking, Ingress routing and
LoadBalancer Services.  ClusterIP and NodePort allocation is the apiserver's
(:mod:`kube.registry.allocator`); :mod:`kube.networking_sim` runs it all as the
``networking`` system."""

from .dns import DnsAnswer, DnsServer, answer, search_path
from .endpoints import (
    BUG_PUBLISH_NOT_READY,
    SERVICE_NAME_LABEL,
    EndpointsController,
    desired_endpoints,
    endpoints_object,
    selector_matches,
    slice_name,
    slice_object,
)
from .ingress import Backend, IngressController, match_ingress, prefix_matches
from .loadbalancer import LoadBalancer, LoadBalancerProvider, ServiceController
from .podnet import Delivery, HostGwNetwork, routes_from_nodes
from .proxy import (
    BUG_STALE_RULES,
    BUG_WRONG_PROBABILITY,
    Endpoint,
    IptablesTable,
    IpvsTable,
    KubeProxy,
    Route,
    ServicePort,
    build_table,
    service_ports,
)

__all__ = ["BUG_PUBLISH_NOT_READY", "BUG_STALE_RULES", "BUG_WRONG_PROBABILITY", "SERVICE_NAME_LABEL", "Backend",
           "Delivery", "DnsAnswer", "DnsServer", "Endpoint", "EndpointsController", "HostGwNetwork", "IngressController",
           "IpvsTable", "IptablesTable", "KubeProxy", "LoadBalancer", "LoadBalancerProvider", "Route",
           "ServiceController", "ServicePort", "answer", "build_table", "desired_endpoints", "endpoints_object",
           "match_ingress", "prefix_matches", "routes_from_nodes", "search_path", "selector_matches",
           "service_ports", "slice_name", "slice_object"]
