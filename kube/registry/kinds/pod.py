"""Pod (v1): at least one container; spec.nodeName and status.phase are selectable; a
bound pod is deleted gracefully (its kubelet stops it, then deletes it with grace 0)."""

from typing import Any

from kube.meta import dns1123_label
from kube.registry.strategy import Cause, Strategy, field

from ._scheduling import validate_scheduling


def _defaults(obj: dict[str, Any]) -> None:
    spec = obj.setdefault("spec", {})
    spec.setdefault("restartPolicy", "Always")
    spec.setdefault("schedulerName", "default-scheduler")
    spec.setdefault("terminationGracePeriodSeconds", 30)


def _validate(obj: dict[str, Any]) -> list[Cause]:
    containers = obj.get("spec", {}).get("containers")
    if not isinstance(containers, list) or not containers:
        return [("spec.containers", "FieldValueRequired", "Required value")]
    out: list[Cause] = []
    for i, c in enumerate(containers):
        name = c.get("name", "") if isinstance(c, dict) else ""
        out.extend((f"spec.containers[{i}].name", "FieldValueInvalid", f'Invalid value: "{name}": {why}')
                   for why in dns1123_label(name))
        if not isinstance(c, dict) or not c.get("image"):
            out.append((f"spec.containers[{i}].image", "FieldValueRequired", "Required value"))
    return out + validate_scheduling(obj.get("spec", {}))


def _grace_s(obj: dict[str, Any]) -> int:
    """A pod bound to a node and not finished is stopped by its kubelet first (graceful
    deletion); one never scheduled, or already finished, goes at once."""
    spec, phase = obj.get("spec") or {}, (obj.get("status") or {}).get("phase")
    if not spec.get("nodeName") or phase in ("Succeeded", "Failed"):
        return 0
    return max(1, int(spec.get("terminationGracePeriodSeconds", 30) or 0))


STRATEGY = Strategy(kind="Pod", resource="pods", generation_fields=("spec",), status_subresource=True,
                    initial_status={"phase": "Pending"}, defaults=_defaults, validate_spec=_validate, default_grace_s=_grace_s,
                    selectable={"spec.nodeName": field("spec", "nodeName"),
                                "status.phase": field("status", "phase")},
                    watch_index="spec.nodeName")
