"""Ingress (networking.k8s.io/v1): rules by host and path (Exact, Prefix or
ImplementationSpecific) to Service backends, and a default backend."""

from typing import Any

from kube.registry.strategy import Cause, Strategy

PATH_TYPES = ("Exact", "Prefix", "ImplementationSpecific")


def _validate(obj: dict[str, Any]) -> list[Cause]:
    spec = obj.get("spec") or {}
    out: list[Cause] = []
    if not spec.get("rules") and not spec.get("defaultBackend"):
        out.append(("spec", "FieldValueRequired", "Required value: either `defaultBackend` or `rules` must be specified"))
    for i, rule in enumerate(spec.get("rules") or ()):
        paths = ((rule or {}).get("http") or {}).get("paths") or ()
        for j, path in enumerate(paths):
            where = f"spec.rules[{i}].http.paths[{j}]"
            if not isinstance(path, dict) or path.get("pathType") not in PATH_TYPES:
                out.append((f"{where}.pathType", "FieldValueNotSupported",
                            f"Unsupported value: {(path or {}).get('pathType')!r}"))
            elif not str(path.get("path", "")).startswith("/"):
                out.append((f"{where}.path", "FieldValueInvalid", "Invalid value: must be an absolute path"))
            if not ((path or {}).get("backend") or {}).get("service", {}).get("name"):
                out.append((f"{where}.backend.service.name", "FieldValueRequired", "Required value"))
    return out


STRATEGY = Strategy(kind="Ingress", resource="ingresses", api_version="networking.k8s.io/v1",
                    status_subresource=True, generation_fields=("spec",), validate_spec=_validate)
