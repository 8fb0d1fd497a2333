"""Service (v1): DNS-1123 label names, ports required unless headless.

ClusterIPs and NodePorts are allocated by the apiserver (:mod:`kube.registry.allocator`)
before a Service is stored; an update keeps the ClusterIP (a body without it gets the
stored one back; it may not change) and may change the type between ClusterIP, NodePort
and LoadBalancer (the apiserver allocates or releases the NodePorts).
"""

from typing import Any

import attrs

from kube import errors
from kube.registry.strategy import Cause, Strategy

_TYPES = ("ClusterIP", "NodePort", "LoadBalancer", "ExternalName")


def _defaults(obj: dict[str, Any]) -> None:
    spec = obj.setdefault("spec", {})
    spec.setdefault("type", "ClusterIP")
    spec.setdefault("sessionAffinity", "None")
    for port in spec.get("ports") or ():
        if isinstance(port, dict):
            port.setdefault("protocol", "TCP")
            port.setdefault("targetPort", port.get("port"))


def _validate(obj: dict[str, Any]) -> list[Cause]:
    spec = obj.get("spec", {})
    out: list[Cause] = []
    for i, port in enumerate(spec.get("ports") or ()):
        p = port.get("port") if isinstance(port, dict) else None
        if not isinstance(p, int) or not 0 < p < 65536:
            out.append((f"spec.ports[{i}].port", "FieldValueInvalid",
                        f"Invalid value: {p!r}: must be between 1 and 65535, inclusive"))
    if spec.get("type") not in _TYPES:
        out.append(("spec.type", "FieldValueNotSupported", f"Unsupported value: {spec.get('type')!r}"))
    if spec.get("clusterIP") == "None" and spec.get("type") != "ClusterIP":
        out.append(("spec.clusterIP", "FieldValueInvalid",
                    "Invalid value: \"None\": may only be set for type ClusterIP (headless)"))
    affinity = spec.get("sessionAffinity")
    if affinity not in ("None", "ClientIP"):
        out.append(("spec.sessionAffinity", "FieldValueNotSupported", f"Unsupported value: {affinity!r}"))
    return out


def _cluster_ip(spec: dict[str, Any]) -> object:
    return spec.get("clusterIP")


@attrs.frozen(kw_only=True)
class ServiceStrategy(Strategy):
    def prepare_for_update(self, new: dict[str, Any], old: dict[str, Any]) -> None:
        super().prepare_for_update(new, old)
        spec, old_spec = new.setdefault("spec", {}), old.get("spec") or {}
        for key in ("clusterIP", "clusterIPs"):
            if key in old_spec and not spec.get(key):
                spec[key] = old_spec[key]
        if spec.get("type") not in ("NodePort", "LoadBalancer"):
            for port in spec.get("ports") or ():
                if isinstance(port, dict):
                    port.pop("nodePort", None)  # released by the apiserver once stored
        if _cluster_ip(spec) != _cluster_ip(old_spec) or (spec.get("type") == "ExternalName") != (
                old_spec.get("type") == "ExternalName"):
            raise errors.invalid("Service", new["metadata"].get("name", ""), [(
                "spec.clusterIP", "FieldValueInvalid", "Invalid value: field is immutable")])


STRATEGY = ServiceStrategy(kind="Service", resource="services", label_names=True, status_subresource=True,
                           defaults=_defaults, validate_spec=_validate)
