"""Pod networking, host-gw style (flannel's ``host-gw`` backend): every node has a pod
CIDR; each node routes the other nodes' pod CIDRs to their node address and its own to
its bridge, where the pod with that IP is, or is not.  A packet for an address no route
covers, or for a pod IP no pod on that node holds, is dropped and counted.

The routes come from the Node objects (``spec.podCIDR``, the ``InternalIP`` address), as
flannel reads them; a node whose informer has not seen a Node yet has no route to it.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from typing import Any

import attrs

__all__ = ["Delivery", "HostGwNetwork", "routes_from_nodes"]


@attrs.frozen(kw_only=True)
class Delivery:
    """A packet's way to a pod IP: the node it reached and the pod there (uid, key), or
    why it was dropped."""

    hops: tuple[str, ...]
    node: str = ""
    pod_uid: str = ""
    pod_key: str = ""
    dropped: str = ""  # "" when delivered


def routes_from_nodes(nodes: list[dict[str, Any]]) -> list[tuple[str, str, str]]:
    """(pod CIDR, node name, node address) of every Node with both."""
    out = []
    for node in nodes:
        cidr = (node.get("spec") or {}).get("podCIDR")
        addr = next((a["address"] for a in (node.get("status") or {}).get("addresses") or ()
                     if a.get("type") == "InternalIP"), "")
        if cidr and addr:
            out.append((cidr, node["metadata"]["name"], addr))
    return sorted(out)


class HostGwNetwork:
    """``routes(node)`` gives a node's view of the others; ``pods(node)`` the IP -> (uid,
    key) of the pods its runtime runs."""

    def __init__(self, routes: Callable[[str], list[tuple[str, str, str]]],
                 pods: Callable[[str], dict[str, tuple[str, str]]]) -> None:
        self.routes = routes
        self.pods = pods
        self.dropped: dict[str, int] = {}  # reason -> packets

    def _drop(self, hops: list[str], why: str) -> Delivery:
        self.dropped[why] = self.dropped.get(why, 0) + 1
        return Delivery(hops=tuple(hops), dropped=why)

    def deliver(self, src_node: str, dst_ip: str) -> Delivery:
        """From ``src_node`` to ``dst_ip``: the route, then the bridge on the right node."""
        hops = [f"{src_node}: dst {dst_ip}"]
        ip = ipaddress.ip_address(dst_ip)
        target = ""
        own = next((r for r in self.routes(src_node) if r[1] == src_node), None)
        if own is not None and ip in ipaddress.ip_network(own[0]):
            target = src_node
            hops.append(f"{src_node}: {own[0]} dev cni0 (local)")
        else:
            for cidr, node, addr in self.routes(src_node):
                if node != src_node and ip in ipaddress.ip_network(cidr):
                    target = node
                    hops.append(f"{src_node}: {cidr} via {addr} ({node})")
                    break
        if not target:
            return self._drop(hops, "no route")
        held = self.pods(target).get(dst_ip)
        if held is None:
            hops.append(f"{target}: no pod holds {dst_ip}")
            return self._drop(hops, "no pod")
        hops.append(f"{target}: pod {held[1]}")
        return Delivery(hops=tuple(hops), node=target, pod_uid=held[0], pod_key=held[1])
