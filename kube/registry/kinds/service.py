"""Service (v1): DNS-1123 label names, ports required unless headless."""

from kube.registry.strategy import Cause, Strategy


def _defaults(obj: dict) -> None:
    spec = obj.setdefault("spec", {})
    spec.setdefault("type", "ClusterIP")
    spec.setdefault("sessionAffinity", "None")
    for port in spec.get("ports") or ():
        if isinstance(port, dict):
            port.setdefault("protocol", "TCP")
            port.setdefault("targetPort", port.get("port"))


def _validate(obj: dict) -> list[Cause]:
    spec = obj.get("spec", {})
    out: list[Cause] = []
    for i, port in enumerate(spec.get("ports") or ()):
        p = port.get("port") if isinstance(port, dict) else None
        if not isinstance(p, int) or not 0 < p < 65536:
            out.append((f"spec.ports[{i}].port", "FieldValueInvalid",
                        f"Invalid value: {p!r}: must be between 1 and 65535, inclusive"))
    if spec.get("type") not in ("ClusterIP", "NodePort", "LoadBalancer", "ExternalName"):
        out.append(("spec.type", "FieldValueNotSupported", f"Unsupported value: {spec.get('type')!r}"))
    return out


STRATEGY = Strategy(kind="Service", resource="services", label_names=True, status_subresource=True,
                    defaults=_defaults, validate_spec=_validate)
