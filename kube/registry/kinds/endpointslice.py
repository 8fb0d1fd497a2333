"""EndpointSlice (discovery.k8s.io/v1): an address type, endpoints and ports."""

from typing import Any

from kube.registry.strategy import Cause, Strategy


def _validate(obj: dict[str, Any]) -> list[Cause]:
    out: list[Cause] = []
    if obj.get("addressType") not in ("IPv4", "IPv6", "FQDN"):
        out.append(("addressType", "FieldValueNotSupported", f"Unsupported value: {obj.get('addressType')!r}"))
    for i, ep in enumerate(obj.get("endpoints") or ()):
        if not isinstance(ep, dict) or not ep.get("addresses"):
            out.append((f"endpoints[{i}].addresses", "FieldValueRequired", "Required value"))
    return out


STRATEGY = Strategy(kind="EndpointSlice", resource="endpointslices", api_version="discovery.k8s.io/v1",
                    validate_spec=_validate)
