"""What ReplicaSet, Deployment and StatefulSet share: a selector matching the template."""

from typing import Any

from kube.registry.strategy import Cause

from ._scheduling import validate_scheduling


def defaults(obj: dict[str, Any]) -> None:
    spec = obj.setdefault("spec", {})
    spec.setdefault("replicas", 1)


def validate(obj: dict[str, Any]) -> list[Cause]:
    spec = obj.get("spec", {})
    out: list[Cause] = []
    replicas = spec.get("replicas")
    if not isinstance(replicas, int) or replicas < 0:
        out.append(("spec.replicas", "FieldValueInvalid",
                    f"Invalid value: {replicas!r}: must be greater than or equal to 0"))
    selector = (spec.get("selector") or {}).get("matchLabels")
    if not isinstance(selector, dict) or not selector:
        out.append(("spec.selector", "FieldValueRequired", "Required value"))
        return out
    template_spec = (spec.get("template") or {}).get("spec")
    if isinstance(template_spec, dict):
        out.extend((f"spec.template.{path}", reason, message)
                   for path, reason, message in validate_scheduling(template_spec))
    labels = ((spec.get("template") or {}).get("metadata") or {}).get("labels") or {}
    if any(labels.get(k) != v for k, v in selector.items()):
        out.append(("spec.template.metadata.labels", "FieldValueInvalid",
                    "Invalid value: `selector` does not match template `labels`"))
    return out
