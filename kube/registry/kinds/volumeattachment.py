"""VolumeAttachment (storage.k8s.io/v1, cluster-scoped): a persistent volume attached to a
node by a CSI driver (``spec.attacher``, ``spec.nodeName``,
``spec.source.persistentVolumeName``; ``status.attached``).  The simulated kubelets name
it after the volume (``csi-<pv>``), so one volume has one attachment at a time."""

from typing import Any

from kube.registry.strategy import Cause, Strategy, field


def _validate(obj: dict[str, Any]) -> list[Cause]:
    spec = obj.get("spec") or {}
    out: list[Cause] = [(f"spec.{name}", "FieldValueRequired", "Required value")
                        for name in ("attacher", "nodeName") if not spec.get(name)]
    if not (spec.get("source") or {}).get("persistentVolumeName"):
        out.append(("spec.source.persistentVolumeName", "FieldValueRequired", "Required value"))
    return out


STRATEGY = Strategy(kind="VolumeAttachment", resource="volumeattachments", api_version="storage.k8s.io/v1",
                    namespaced=False, status_subresource=True, initial_status={"attached": False},
                    validate_spec=_validate, selectable={"spec.nodeName": field("spec", "nodeName")})
