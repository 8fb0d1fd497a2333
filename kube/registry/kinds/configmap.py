"""ConfigMap (v1): data and binaryData, no spec and no status."""

from typing import Any

from kube.registry.strategy import Cause, Strategy


def _validate(obj: dict[str, Any]) -> list[Cause]:
    out: list[Cause] = []
    for name in ("data", "binaryData"):
        value = obj.get(name)
        if value is not None and not (isinstance(value, dict) and all(isinstance(v, str) for v in value.values())):
            out.append((name, "FieldValueInvalid", "must be a map of strings"))
    return out


STRATEGY = Strategy(kind="ConfigMap", resource="configmaps", validate_spec=_validate)
