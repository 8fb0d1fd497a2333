"""The StatefulSet controller (kube-controller-manager's ``stateful_set_control.go``).

A StatefulSet ``web`` of ``replicas: n`` owns pods ``web-0`` .. ``web-(n-1)``: the pod's
name is its identity (hostname ``web-i``, subdomain ``spec.serviceName``, label
``statefulset.kubernetes.io/pod-name``).  For each ``volumeClaimTemplates`` entry
``data`` the ordinal has its own claim ``data-web-i``, created before the pod and kept
when the pod goes, so a pod that comes back mounts the same volume.

``reconcile(key)``:

* ordinals ``0..n-1``: a missing pod is created (its claims first); with
  ``podManagementPolicy: OrderedReady`` one at a time, each only once every lower ordinal
  is Running and Ready; ``Parallel`` creates them all.  A pod that Failed or Succeeded is
  deleted and made again.  A pod being deleted is waited for: **a replacement is never
  created while the old pod object exists** (the kubelet deletes it only once its
  containers stopped), which is how a StatefulSet runs at most one pod per identity;
* ordinals ``>= n`` are condemned, highest first (OrderedReady: one at a time, and only
  once every pod is Running and Ready);
* ``updateStrategy: RollingUpdate``: once every pod is Running and Ready, the highest
  ordinal whose ``controller-revision-hash`` is not the template's is deleted (and made
  again with the new template);
* ``persistentVolumeClaimRetentionPolicy`` (``whenDeleted``, ``whenScaled``: Retain or
  Delete) as Kubernetes does it, through ownerReferences the garbage collector acts on:
  ``whenDeleted: Delete`` makes the StatefulSet the owner of its claims; ``whenScaled:
  Delete`` makes a condemned pod their only owner just before it is deleted (a scale up
  before it is gone takes them back);
* status: replicas, readyReplicas, currentReplicas, updatedReplicas, currentRevision,
  updateRevision, observedGeneration.

The catalogued bug ``statefulset_stale_identity`` force-deletes (grace 0) a pod it sees
being deleted and creates the replacement at once, while the old pod may still run.
"""

from __future__ import annotations

from typing import Any

from raftkv.tasks import Runtime

from ..client import KubeClient
from ..errors import ApiError
from .deployment import pod_template_hash
from .replicaset import controller_of, is_ready
from .runtime import Controller, Result, SharedInformers

__all__ = ["BUG_STALE_IDENTITY", "POD_NAME_LABEL", "REVISION_LABEL", "StatefulSetController", "claim_name",
           "ordinal_of"]

BUG_STALE_IDENTITY = "statefulset_stale_identity"
POD_NAME_LABEL = "statefulset.kubernetes.io/pod-name"
REVISION_LABEL = "controller-revision-hash"


def claim_name(template: str, sts: str, ordinal: int) -> str:
    return f"{template}-{sts}-{ordinal}"


def ordinal_of(sts_name: str, pod_name: str) -> int:
    """The ordinal of ``<sts>-<i>``, -1 for a name that is not one."""
    prefix = f"{sts_name}-"
    tail = pod_name[len(prefix):] if pod_name.startswith(prefix) else ""
    return int(tail) if tail.isdigit() and str(int(tail)) == tail else -1


def _running_ready(pod: dict[str, Any]) -> bool:
    return (not pod["metadata"].get("deletionTimestamp") and (pod.get("status") or {}).get("phase") == "Running"
            and is_ready(pod))


def _owner_ref(obj: dict[str, Any], kind: str, api_version: str, *, controller: bool) -> dict[str, Any]:
    meta = obj["metadata"]
    ref: dict[str, Any] = {"apiVersion": api_version, "kind": kind, "name": meta["name"], "uid": meta["uid"]}
    if controller:
        ref["controller"] = True
    ref["blockOwnerDeletion"] = True
    return ref


class StatefulSetController:
    def __init__(self, rt: Runtime, client: KubeClient, informers: SharedInformers, *, namespace: str = "",
                 workers: int = 1, bugs: frozenset[str] = frozenset()) -> None:
        self.rt = rt
        self.client = client
        self.bugs = bugs
        self.controller = Controller(rt, "statefulset", informers, self.reconcile, primary="statefulsets",
                                     namespace=namespace, workers=workers)
        self.statefulsets = self.controller.primary
        self.controller.watch("pods", self._owner_keys, namespace)
        self.controller.watch("persistentvolumeclaims", self._claim_keys, namespace)
        self.pods = informers.get("pods", namespace)
        self.claims = informers.get("persistentvolumeclaims", namespace)
        self.creates = 0
        self.deletes = 0
        self.claims_created = 0

    async def run(self) -> None:
        await self.controller.run()

    def _owner_keys(self, obj: dict[str, Any]) -> list[str]:
        ref = controller_of(obj)
        if ref is None or ref.get("kind") != "StatefulSet":
            return []
        return [f"{obj['metadata']['namespace']}/{ref['name']}"]

    def _claim_keys(self, claim: dict[str, Any]) -> list[str]:
        sts = (claim["metadata"].get("labels") or {}).get("statefulset.kubernetes.io/name")
        return [f"{claim['metadata']['namespace']}/{sts}"] if sts else []

    # ------------------------------------------------------------------ reconcile
    def _pods_by_ordinal(self, sts: dict[str, Any]) -> tuple[dict[int, dict[str, Any]], list[dict[str, Any]]]:
        meta = sts["metadata"]
        by_ordinal: dict[int, dict[str, Any]] = {}
        strays: list[dict[str, Any]] = []
        for pod in self.pods.items():
            ref = controller_of(pod)
            if pod["metadata"]["namespace"] != meta["namespace"] or ref is None or ref.get("uid") != meta["uid"]:
                continue
            i = ordinal_of(meta["name"], pod["metadata"]["name"])
            if i < 0:
                strays.append(pod)
            else:
                by_ordinal[i] = pod
        return by_ordinal, strays

    async def reconcile(self, key: str) -> Result | None:
        sts = self.statefulsets.cache.get(key)
        if sts is None or sts["metadata"].get("deletionTimestamp"):
            return None
        spec = sts["spec"]
        replicas = int(spec.get("replicas", 1))
        ordered = spec.get("podManagementPolicy", "OrderedReady") == "OrderedReady"
        revision = f"{sts['metadata']['name']}-{pod_template_hash(spec.get('template') or {})}"
        pods, strays = self._pods_by_ordinal(sts)
        try:
            wait = await self._manage(sts, pods, strays, replicas, ordered, revision)
        except ApiError:
            await self._write_status(sts, pods, revision)  # what is, even when a step failed
            raise
        await self._write_status(sts, pods, revision)
        return Result(requeue_after_s=wait) if wait else None

    async def _manage(self, sts: dict[str, Any], pods: dict[int, dict[str, Any]], strays: list[dict[str, Any]], replicas: int, ordered: bool,
                      revision: str) -> float:
        """Create, replace and condemn pods; the seconds to look again (0: on events only)."""
        for stray in strays:
            await self._delete_pod(stray)
        for i in range(replicas):
            pod = pods.get(i)
            if pod is not None and pod["metadata"].get("deletionTimestamp"):
                if BUG_STALE_IDENTITY not in self.bugs:
                    if ordered:
                        return 0.5  # wait until it is gone (never two pods with one identity)
                    continue
                await self._delete_pod(pod, grace_period_s=0)  # the bug: forced, the old one may still run
                pod = None
            if pod is not None and (pod.get("status") or {}).get("phase") in ("Failed", "Succeeded"):
                await self._delete_pod(pod)
                if ordered:
                    return 0.5
                continue
            if pod is None:
                if not await self._ensure_claims(sts, i, condemned=None):
                    return 0.5
                await self._create_pod(sts, i, revision)
                if ordered:
                    return 0.0  # the next ordinal once this one is Running and Ready
                continue
            await self._ensure_claims(sts, i, condemned=None)
            if ordered and not _running_ready(pod):
                return 0.0
        condemned = sorted((i for i in pods if i >= replicas), reverse=True)
        all_ready = all(i in pods and _running_ready(pods[i]) for i in range(replicas))
        for i in condemned:
            pod = pods[i]
            if pod["metadata"].get("deletionTimestamp"):
                if ordered:
                    return 0.5
                continue
            if ordered and not all_ready:
                return 0.0
            await self._ensure_claims(sts, i, condemned=pod)
            await self._delete_pod(pod)
            if ordered:
                return 0.5
        if condemned or not all_ready:
            return 0.0
        if (sts["spec"].get("updateStrategy") or {}).get("type", "RollingUpdate") != "RollingUpdate":
            return 0.0
        for i in range(replicas - 1, -1, -1):
            if (pods[i]["metadata"].get("labels") or {}).get(REVISION_LABEL) != revision:
                await self._delete_pod(pods[i])
                return 0.5
        return 0.0

    # ------------------------------------------------------------------ claims
    def _wanted_claim_owners(self, sts: dict[str, Any], condemned: dict[str, Any] | None) -> list[dict[str, Any]]:
        policy = sts["spec"].get("persistentVolumeClaimRetentionPolicy") or {}
        if condemned is not None and policy.get("whenScaled", "Retain") == "Delete":
            return [_owner_ref(condemned, "Pod", "v1", controller=False)]  # goes with the pod
        if policy.get("whenDeleted", "Retain") == "Delete":
            return [_owner_ref(sts, "StatefulSet", "apps/v1", controller=False)]
        return []

    async def _ensure_claims(self, sts: dict[str, Any], ordinal: int, *, condemned: dict[str, Any] | None) -> bool:
        """Every claim of the ordinal exists with the owners the retention policy wants;
        False while one is being deleted (the pod waits for a fresh one)."""
        meta = sts["metadata"]
        owners = self._wanted_claim_owners(sts, condemned)
        ok = True
        for template in sts["spec"].get("volumeClaimTemplates") or ():
            name = claim_name(template["metadata"]["name"], meta["name"], ordinal)
            claim = self.claims.cache.get(f"{meta['namespace']}/{name}")
            if claim is None:
                body = {"apiVersion": "v1", "kind": "PersistentVolumeClaim",
                        "metadata": {"name": name, "namespace": meta["namespace"],
                                     "labels": {**((sts["spec"].get("selector") or {}).get("matchLabels") or {}),
                                                "statefulset.kubernetes.io/name": meta["name"]},
                                     **({"ownerReferences": owners} if owners else {})},
                        "spec": dict(template.get("spec") or {})}
                if await self.client.create_if_absent("persistentvolumeclaims", body):
                    self.claims_created += 1
                continue
            if claim["metadata"].get("deletionTimestamp"):
                ok = False
                continue
            if (claim["metadata"].get("ownerReferences") or []) != owners:
                # resourceVersion: a precondition, so a claim changed meanwhile is not overwritten
                await self.client.patch("persistentvolumeclaims", name, {"metadata": {
                    "ownerReferences": owners or None, "resourceVersion": claim["metadata"]["resourceVersion"]}},
                    meta["namespace"])
        return ok

    # ------------------------------------------------------------------ pods
    async def _create_pod(self, sts: dict[str, Any], ordinal: int, revision: str) -> None:
        meta, spec = sts["metadata"], sts["spec"]
        template = spec.get("template") or {}
        name = f"{meta['name']}-{ordinal}"
        pod_spec = dict(template.get("spec") or {})
        pod_spec["hostname"] = name
        if spec.get("serviceName"):
            pod_spec["subdomain"] = spec["serviceName"]
        volumes = [v for v in pod_spec.get("volumes") or ()]
        for t in spec.get("volumeClaimTemplates") or ():
            volumes = [v for v in volumes if v.get("name") != t["metadata"]["name"]]
            volumes.append({"name": t["metadata"]["name"],
                            "persistentVolumeClaim": {"claimName": claim_name(t["metadata"]["name"], meta["name"],
                                                                              ordinal)}})
        if volumes:
            pod_spec["volumes"] = volumes
        pod = {"apiVersion": "v1", "kind": "Pod",
               "metadata": {"name": name, "namespace": meta["namespace"],
                            "labels": {**((template.get("metadata") or {}).get("labels") or {}),
                                       POD_NAME_LABEL: name, REVISION_LABEL: revision},
                            "ownerReferences": [_owner_ref(sts, "StatefulSet", "apps/v1", controller=True)]},
               "spec": pod_spec}
        if await self.client.create_if_absent("pods", pod):  # else the old pod is still there
            self.creates += 1

    async def _delete_pod(self, pod: dict[str, Any], *, grace_period_s: int | None = None) -> None:
        if await self.client.delete_if_present("pods", pod["metadata"]["name"], pod["metadata"]["namespace"],
                                               uid=pod["metadata"]["uid"], grace_period_s=grace_period_s):
            self.deletes += 1

    async def _write_status(self, sts: dict[str, Any], pods: dict[int, dict[str, Any]], revision: str) -> None:
        active = [p for p in pods.values() if not p["metadata"].get("deletionTimestamp")]
        current = sts.get("status") or {}
        updated = sum((p["metadata"].get("labels") or {}).get(REVISION_LABEL) == revision for p in active)
        replicas = int(sts["spec"].get("replicas", 1))
        current_revision = current.get("currentRevision") or revision
        if updated == replicas == len(active):
            current_revision = revision
        status = {"replicas": len(active), "readyReplicas": sum(_running_ready(p) for p in active),
                  "currentReplicas": sum((p["metadata"].get("labels") or {}).get(REVISION_LABEL) == current_revision
                                         for p in active),
                  "updatedReplicas": updated, "currentRevision": current_revision, "updateRevision": revision,
                  "observedGeneration": sts["metadata"].get("generation", 1)}
        if all(current.get(k) == v for k, v in status.items()):
            return
        await self.client.patch("statefulsets", sts["metadata"]["name"], {"status": status},
                                sts["metadata"]["namespace"], subresource="status")
