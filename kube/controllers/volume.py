"""Persistent volumes: provisioning and binding (kube-controller-manager's PV controller
with a CSI external-provisioner, in one small controller).

* A claim that is Pending with no ``spec.volumeName`` gets a volume ``pvc-<claim uid>``
  (provisioned by the simulated CSI driver :data:`kube.csi.DRIVER_NAME`: capacity and
  access modes of the claim, ``claimRef`` to it, reclaim policy Delete), then the claim is
  bound to it (``spec.volumeName``, phase Bound) and the volume marked Bound.
* A volume whose claim is gone (a live read: 404, or another uid) is Released and, with
  reclaim policy Delete, deleted once no VolumeAttachment holds it.
"""

from __future__ import annotations

from typing import Any

from raftkv.tasks import Runtime

from ..client import KubeClient
from ..csi import DRIVER_NAME
from ..errors import ApiError
from .runtime import Controller, Result, SharedInformers

__all__ = ["PersistentVolumeController", "volume_name"]


def volume_name(claim: dict[str, Any]) -> str:
    return f"pvc-{claim['metadata']['uid']}"


class PersistentVolumeController:
    def __init__(self, rt: Runtime, client: KubeClient, informers: SharedInformers) -> None:
        self.rt = rt
        self.client = client
        self.controller = Controller(rt, "persistentvolume", informers, self.reconcile,
                                     primary="persistentvolumeclaims")
        self.claims = self.controller.primary
        self.volumes = informers.get("persistentvolumes")
        self.controller.watch("persistentvolumes", self._claim_key)
        self.provisioned = 0
        self.reclaimed = 0

    async def run(self) -> None:
        await self.controller.run()

    def _claim_key(self, pv: dict[str, Any]) -> list[str]:
        ref = (pv.get("spec") or {}).get("claimRef") or {}
        # the volume's own key too: a volume whose claim is gone is reclaimed
        return [f"{ref.get('namespace', '')}/{ref.get('name', '')}", f"pv:{pv['metadata']['name']}"]

    async def reconcile(self, key: str) -> Result | None:
        if key.startswith("pv:"):
            return await self._reclaim(key[3:])
        claim = self.claims.cache.get(key)
        if claim is None or claim["metadata"].get("deletionTimestamp"):
            return None
        if (claim.get("status") or {}).get("phase") == "Bound":
            return None
        ns, name = claim["metadata"]["namespace"], claim["metadata"]["name"]
        pv_name = (claim.get("spec") or {}).get("volumeName") or volume_name(claim)
        if self.volumes.cache.get(pv_name) is None:
            spec = claim.get("spec") or {}
            pv = {"apiVersion": "v1", "kind": "PersistentVolume", "metadata": {"name": pv_name},
                  "spec": {"capacity": {"storage": spec["resources"]["requests"]["storage"]},
                           "accessModes": list(spec.get("accessModes") or ("ReadWriteOnce",)),
                           "persistentVolumeReclaimPolicy": "Delete",
                           "claimRef": {"kind": "PersistentVolumeClaim", "namespace": ns, "name": name,
                                        "uid": claim["metadata"]["uid"]},
                           "csi": {"driver": DRIVER_NAME, "volumeHandle": pv_name}}}
            if await self.client.create_if_absent("persistentvolumes", pv):
                self.provisioned += 1
        await self.client.patch("persistentvolumeclaims", name, {"metadata": {
            "resourceVersion": claim["metadata"]["resourceVersion"]}, "spec": {"volumeName": pv_name}}, ns)
        await self.client.patch("persistentvolumeclaims", name, {"status": {"phase": "Bound"}}, ns,
                                subresource="status")
        await self.client.patch("persistentvolumes", pv_name, {"status": {"phase": "Bound"}}, subresource="status")
        return None

    async def _reclaim(self, pv_name: str) -> Result | None:
        pv = self.volumes.cache.get(pv_name)
        if pv is None or pv["metadata"].get("deletionTimestamp"):
            return None
        ref = (pv.get("spec") or {}).get("claimRef") or {}
        if f"{ref.get('namespace')}/{ref.get('name')}" in self.claims.cache and \
                self.claims.cache[f"{ref.get('namespace')}/{ref.get('name')}"]["metadata"]["uid"] == ref.get("uid"):
            return None
        try:  # the cache may lag: only a live read says the claim is gone
            claim = await self.client.get("persistentvolumeclaims", str(ref.get("name")), str(ref.get("namespace")))
            if claim["metadata"]["uid"] == ref.get("uid"):
                return None
        except ApiError as exc:
            if exc.code != 404:
                raise
        if (pv.get("status") or {}).get("phase") != "Released":
            await self.client.patch("persistentvolumes", pv_name, {"status": {"phase": "Released"}},
                                    subresource="status")
        if pv["spec"].get("persistentVolumeReclaimPolicy") != "Delete":
            return None
        attachments = (await self.client.list("volumeattachments"))["items"]
        if any(va["spec"]["source"].get("persistentVolumeName") == pv_name for va in attachments):
            return Result(requeue_after_s=1.0)  # still attached somewhere: detach first
        if await self.client.delete_if_present("persistentvolumes", pv_name, uid=pv["metadata"]["uid"]):
            self.reclaimed += 1
        return None
