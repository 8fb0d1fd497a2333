"""Clean-up after machines that are gone for good.

* :class:`CloudNodeLifecycleController` (the cloud-controller-manager's node lifecycle
  controller): a Node that is not Ready and whose machine the cloud says no longer exists
  (``instance_exists(name)`` is False) is deleted.
* :class:`PodGC` (kube-controller-manager's pod garbage collector, with the attach-detach
  controller's part for deleted nodes): a pod bound to a Node that does not exist is
  deleted at once (grace 0: no kubelet is left to stop it, so a graceful deletion would
  never end and a StatefulSet could never replace it), and the VolumeAttachments of such a
  node are deleted, so a ReadWriteOnce volume can be attached elsewhere.

Both look every ``period_s`` with quorum LISTs (never a cache that may lag: a Node missing
from a lagging cache is not a deleted Node), and delete with the uid as a precondition.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from raftkv.tasks import Runtime

from ..client import KubeClient
from ..errors import ApiError

__all__ = ["CloudNodeLifecycleController", "PodGC"]


def _ready(node: dict[str, Any]) -> bool:
    return any(c.get("type") == "Ready" and c.get("status") == "True"
               for c in (node.get("status") or {}).get("conditions") or ())


async def _delete(client: KubeClient, resource: str, obj: dict[str, Any], *, grace_period_s: int | None = None) -> bool:
    meta = obj["metadata"]
    try:
        await client.delete(resource, meta["name"], meta.get("namespace", ""), uid=meta.get("uid", ""),
                            grace_period_s=grace_period_s)
    except ApiError as exc:
        if exc.code in (404, 409):  # gone already, or another object of that name now
            return False
        raise
    return True


class CloudNodeLifecycleController:
    def __init__(self, rt: Runtime, client: KubeClient, instance_exists: Callable[[str], bool], *,
                 period_s: float = 1.0) -> None:
        assert period_s > 0, "period_s must be positive"
        self.rt = rt
        self.client = client
        self.instance_exists = instance_exists
        self.period_s = period_s
        self.deleted = 0

    async def run(self) -> None:
        while True:
            await self.rt.sleep(self.period_s)
            try:
                nodes = (await self.client.list("nodes"))["items"]
                for node in nodes:
                    name = node["metadata"]["name"]
                    if not _ready(node) and not self.instance_exists(name):
                        if await _delete(self.client, "nodes", node):
                            self.deleted += 1
                            self.rt.record("cloud_node.deleted", node=name)
            except ApiError as exc:
                self.rt.record("cloud_node.retry", error=exc.reason)


class PodGC:
    def __init__(self, rt: Runtime, client: KubeClient, *, period_s: float = 1.0) -> None:
        assert period_s > 0, "period_s must be positive"
        self.rt = rt
        self.client = client
        self.period_s = period_s
        self.pods_deleted = 0
        self.attachments_deleted = 0

    async def run(self) -> None:
        while True:
            await self.rt.sleep(self.period_s)
            try:
                await self._collect()
            except ApiError as exc:
                self.rt.record("podgc.retry", error=exc.reason)

    async def _node_gone(self, name: str) -> bool:
        """Asked again just before a deletion (a Node may have registered since the list)."""
        try:
            await self.client.get("nodes", name)
        except ApiError as exc:
            if exc.code == 404:
                return True
            raise
        return False

    async def _collect(self) -> None:
        nodes = {n["metadata"]["name"] for n in (await self.client.list("nodes"))["items"]}
        for pod in (await self.client.list("pods"))["items"]:
            node = (pod.get("spec") or {}).get("nodeName")
            if node and node not in nodes and await self._node_gone(node) \
                    and await _delete(self.client, "pods", pod, grace_period_s=0):
                self.pods_deleted += 1
                self.rt.record("podgc.pod_deleted", pod=pod["metadata"]["name"], node=node)
        for va in (await self.client.list("volumeattachments"))["items"]:
            node = (va.get("spec") or {}).get("nodeName")
            if node and node not in nodes and await self._node_gone(node) \
                    and await _delete(self.client, "volumeattachments", va):
                self.attachments_deleted += 1
                self.rt.record("podgc.attachment_deleted", attachment=va["metadata"]["name"], node=node)
