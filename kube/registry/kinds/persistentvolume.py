"""PersistentVolume (v1, cluster-scoped): capacity and access modes required."""

from typing import Any

from kube.registry.strategy import Cause, Strategy, field

_MODES = ("ReadWriteOnce", "ReadOnlyMany", "ReadWriteMany", "ReadWriteOncePod")


def _validate(obj: dict[str, Any]) -> list[Cause]:
    spec = obj.get("spec", {})
    out: list[Cause] = []
    if not (spec.get("capacity") or {}).get("storage"):
        out.append(("spec.capacity", "FieldValueRequired", "Required value"))
    modes = spec.get("accessModes")
    if not modes:
        out.append(("spec.accessModes", "FieldValueRequired", "Required value"))
    for i, mode in enumerate(modes or ()):
        if mode not in _MODES:
            out.append((f"spec.accessModes[{i}]", "FieldValueNotSupported", f"Unsupported value: {mode!r}"))
    return out


STRATEGY = Strategy(kind="PersistentVolume", resource="persistentvolumes", namespaced=False,
                    status_subresource=True, initial_status={"phase": "Pending"}, validate_spec=_validate,
                    selectable={"status.phase": field("status", "phase")})
