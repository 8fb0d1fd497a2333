"""The namespace controller (kube-controller-manager's ``namespace`` controller).

A deleted namespace is Terminating (the apiserver set its ``deletionTimestamp`` and phase,
and refuses new objects in it with 403 Forbidden).  The controller deletes every object
of every namespaced resource in it (pods gracefully, through their kubelets) and, once a
fresh list finds none left, removes ``kubernetes`` from ``spec.finalizers``: with no
finalizer left the apiserver removes the namespace.
"""

from __future__ import annotations

from raftkv.tasks import Runtime

from ..client import KubeClient
from ..errors import ApiError
from .runtime import Controller, Result, SharedInformers

__all__ = ["NAMESPACED_RESOURCES", "NamespaceController"]

#: what a namespace holds (the apiserver's namespaced kinds; a test keeps this in step)
NAMESPACED_RESOURCES = ("configmaps", "deployments", "endpoints", "endpointslices", "events", "ingresses", "leases",
                        "persistentvolumeclaims", "pods", "replicasets", "services", "statefulsets")


class NamespaceController:
    def __init__(self, rt: Runtime, client: KubeClient, informers: SharedInformers, *,
                 retry_s: float = 0.5) -> None:
        self.rt = rt
        self.client = client
        self.retry_s = retry_s
        self.controller = Controller(rt, "namespace", informers, self.reconcile, primary="namespaces")
        self.namespaces = self.controller.primary
        self.deletes = 0
        self.finalized = 0

    async def run(self) -> None:
        await self.controller.run()

    async def reconcile(self, key: str) -> Result | None:
        ns = self.namespaces.cache.get(key)
        if ns is None or not ns["metadata"].get("deletionTimestamp"):
            return None
        left = 0
        for resource in NAMESPACED_RESOURCES:
            items = (await self.client.list_all(resource, key))["items"]
            left += len(items)
            for obj in items:
                if obj["metadata"].get("deletionTimestamp"):
                    continue
                if await self.client.delete_if_present(resource, obj["metadata"]["name"], key,
                                                       uid=obj["metadata"]["uid"]):
                    self.deletes += 1
        if left:
            return Result(requeue_after_s=self.retry_s)
        finalizers = [f for f in (ns.get("spec") or {}).get("finalizers") or () if f != "kubernetes"]
        try:
            await self.client.patch("namespaces", key, {"metadata": {"resourceVersion": ns["metadata"]["resourceVersion"]},
                                                        "spec": {"finalizers": finalizers}})
            self.finalized += 1
        except ApiError as exc:
            if exc.code != 404:
                raise
        return None
