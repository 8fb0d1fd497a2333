"""PersistentVolumeClaim (v1): access modes and a storage request required."""

from typing import Any

from kube.registry.strategy import Cause, Strategy, field


def _validate(obj: dict[str, Any]) -> list[Cause]:
    spec = obj.get("spec", {})
    out: list[Cause] = []
    if not spec.get("accessModes"):
        out.append(("spec.accessModes", "FieldValueRequired", "Required value"))
    if not ((spec.get("resources") or {}).get("requests") or {}).get("storage"):
        out.append(("spec.resources.requests.storage", "FieldValueRequired", "Required value"))
    return out


STRATEGY = Strategy(kind="PersistentVolumeClaim", resource="persistentvolumeclaims", status_subresource=True,
                    initial_status={"phase": "Pending"}, validate_spec=_validate,
                    selectable={"status.phase": field("status", "phase")})
