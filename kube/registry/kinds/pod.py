"""Pod (v1): at least one container; spec.nodeName and status.phase are selectable."""

from kube.meta import dns1123_label
from kube.registry.strategy import Cause, Strategy, field


def _defaults(obj: dict) -> None:
    spec = obj.setdefault("spec", {})
    spec.setdefault("restartPolicy", "Always")
    spec.setdefault("schedulerName", "default-scheduler")
    spec.setdefault("terminationGracePeriodSeconds", 30)


def _validate(obj: dict) -> list[Cause]:
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
    return out


STRATEGY = Strategy(kind="Pod", resource="pods", generation_fields=("spec",), status_subresource=True,
                    initial_status={"phase": "Pending"}, defaults=_defaults, validate_spec=_validate,
                    selectable={"spec.nodeName": field("spec", "nodeName"),
                                "status.phase": field("status", "phase")},
                    watch_index="spec.nodeName")
