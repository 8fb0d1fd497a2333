"""Lease (coordination.k8s.io/v1): leader election and node heartbeats."""

from typing import Any

from kube.registry.strategy import Cause, Strategy


def _validate(obj: dict[str, Any]) -> list[Cause]:
    spec = obj.get("spec") or {}
    d = spec.get("leaseDurationSeconds")
    if d is not None and (not isinstance(d, int) or d <= 0):
        return [("spec.leaseDurationSeconds", "FieldValueInvalid", f"Invalid value: {d!r}: must be greater than 0")]
    return []


STRATEGY = Strategy(kind="Lease", resource="leases", api_version="coordination.k8s.io/v1",
                    validate_spec=_validate)
