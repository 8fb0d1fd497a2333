"""The Deployment controller (kube-controller-manager's ``deployment_controller.go``).

A Deployment owns ReplicaSets named ``<deployment>-<pod-template-hash>``, the hash of its
pod template (:func:`pod_template_hash`: FNV-1a of the template's canonical JSON, its
decimal digits spelled in Kubernetes' "safe" alphabet; stable whatever the process or
hash seed).  The ReplicaSet whose template equals the Deployment's (ignoring the
``pod-template-hash`` label) is the *new* one; the others are *old*.

``reconcile(key)``, level-triggered from the Deployment and ReplicaSet caches:

* creates the new ReplicaSet when none matches (the pod-template-hash label added to its
  selector and template, so the ReplicaSets of one Deployment never share pods), or makes
  an old one new again when the template is set back to it (a rollback is a new rollout to
  the old ReplicaSet), and gives it the next ``deployment.kubernetes.io/revision``;
* **RollingUpdate**: scales the new ReplicaSet up while all ReplicaSets together ask for at
  most ``replicas + maxSurge`` pods, and old ones down while at least ``replicas -
  maxUnavailable`` pods stay available (:func:`resolve_fenceposts`: percentages of
  ``replicas``, surge rounded up, unavailable down; both 0 makes unavailable 1), old
  ReplicaSets' unavailable pods first; **Recreate**: old ReplicaSets to 0, and once none
  has pods left, the new one up;
* deletes old ReplicaSets scaled to 0 beyond ``revisionHistoryLimit`` (oldest revision
  first);
* writes status (replicas, updatedReplicas, readyReplicas, availableReplicas,
  unavailableReplicas, observedGeneration) and the conditions ``Available`` and
  ``Progressing`` (reasons NewReplicaSetCreated, FoundNewReplicaSet, ReplicaSetUpdated,
  NewReplicaSetAvailable, ProgressDeadlineExceeded), which :func:`rollout_status` reads as
  ``kubectl rollout status`` does.

A scale of the Deployment in the middle of a rollout is taken by the same rolling step
(the new ReplicaSet grows or shrinks toward ``replicas``), not spread over the old
ReplicaSets in proportion as kube's controller does.  Every write of a ReplicaSet is an
update with the cached ``resourceVersion`` as precondition: a stale cache gets 409 and
the key is retried.
"""

from __future__ import annotations

import copy
import json
import math
from typing import Any

from raftkv.tasks import Runtime

from ..client import KubeClient
from ..errors import ApiError
from ..meta import format_timestamp
from .runtime import Controller, Result, SharedInformers

__all__ = ["HASH_LABEL", "REVISION_ANNOTATION", "DeploymentController", "pod_template_hash", "resolve_fenceposts",
           "rollback_template", "rollout_status"]

HASH_LABEL = "pod-template-hash"
REVISION_ANNOTATION = "deployment.kubernetes.io/revision"
DESIRED_ANNOTATION = "deployment.kubernetes.io/desired-replicas"
MAX_ANNOTATION = "deployment.kubernetes.io/max-replicas"
_SAFE_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"


def pod_template_hash(template: dict[str, Any], collision_count: int = 0) -> str:
    """A short name-safe hash of a pod template (the same for equal templates, anywhere)."""
    data = json.dumps(template, sort_keys=True, separators=(",", ":")).encode()
    if collision_count:
        data += str(collision_count).encode()
    h = 0x811C9DC5
    for byte in data:
        h = ((h ^ byte) * 0x01000193) & 0xFFFFFFFF
    return "".join(_SAFE_ALPHABET[int(d) % len(_SAFE_ALPHABET)] for d in str(h))


def _int_or_percent(value: object, total: int, *, round_up: bool, field: str) -> int:
    if isinstance(value, bool):
        raise ValueError(f"{field}: {value!r} is not an int or a percentage")
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.endswith("%") and value[:-1].isdigit():
        scaled = int(value[:-1]) * total / 100
        return math.ceil(scaled) if round_up else math.floor(scaled)
    raise ValueError(f"{field}: {value!r} is not an int or a percentage")


def resolve_fenceposts(deployment: dict[str, Any]) -> tuple[int, int]:
    """(maxSurge, maxUnavailable) in pods for the Deployment's ``replicas``."""
    spec = deployment.get("spec") or {}
    replicas = int(spec.get("replicas", 1))
    rolling = (spec.get("strategy") or {}).get("rollingUpdate") or {}
    surge = _int_or_percent(rolling.get("maxSurge", "25%"), replicas, round_up=True, field="maxSurge")
    unavailable = _int_or_percent(rolling.get("maxUnavailable", "25%"), replicas, round_up=False,
                                  field="maxUnavailable")
    if surge == 0 and unavailable == 0:
        unavailable = 1
    return surge, unavailable


def _strip_hash(template: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(template)
    labels = (out.get("metadata") or {}).get("labels")
    if labels:
        labels.pop(HASH_LABEL, None)
    return out


def _revision(rs: dict[str, Any]) -> int:
    text = (rs["metadata"].get("annotations") or {}).get(REVISION_ANNOTATION, "0")
    return int(text) if text.isdigit() else 0


def _spec_replicas(rs: dict[str, Any]) -> int:
    return int((rs.get("spec") or {}).get("replicas", 1))


def _status(rs: dict[str, Any], field: str) -> int:
    return int((rs.get("status") or {}).get(field, 0))


def rollback_template(deployment: dict[str, Any], replicasets: list[dict[str, Any]], to_revision: int = 0) -> dict[str, Any]:
    """The pod template of the ReplicaSet at ``to_revision`` (0: the one before the current
    revision) of those the Deployment owns, without its pod-template-hash label: set it as
    the Deployment's template to roll back (``kubectl rollout undo``)."""
    uid = deployment["metadata"]["uid"]
    owned = sorted((rs for rs in replicasets if _owner_uid(rs) == uid), key=_revision)
    if not owned:
        raise ValueError(f"deployment {deployment['metadata']['name']}: no rollout history")
    if to_revision == 0:
        current = int((deployment["metadata"].get("annotations") or {}).get(REVISION_ANNOTATION, "0") or 0)
        older = [rs for rs in owned if _revision(rs) < current]
        if not older:
            raise ValueError(f"deployment {deployment['metadata']['name']}: no revision before {current}")
        return _strip_hash(older[-1]["spec"]["template"])
    for rs in owned:
        if _revision(rs) == to_revision:
            return _strip_hash(rs["spec"]["template"])
    raise ValueError(f"deployment {deployment['metadata']['name']}: no revision {to_revision}")


def rollout_status(deployment: dict[str, Any]) -> tuple[str, bool]:
    """What ``kubectl rollout status`` says of the Deployment, and whether it is done.
    A rollout past its progress deadline raises ValueError (kubectl exits 1)."""
    name = deployment["metadata"]["name"]
    status = deployment.get("status") or {}
    if deployment["metadata"].get("generation", 1) > status.get("observedGeneration", 0):
        return "Waiting for deployment spec update to be observed...", False
    for cond in status.get("conditions") or ():
        if cond.get("type") == "Progressing" and cond.get("reason") == "ProgressDeadlineExceeded":
            raise ValueError(f'deployment "{name}" exceeded its progress deadline')
    want = int(deployment["spec"].get("replicas", 1))
    updated, replicas = status.get("updatedReplicas", 0), status.get("replicas", 0)
    available = status.get("availableReplicas", 0)
    if updated < want:
        return (f'Waiting for deployment "{name}" rollout to finish: {updated} out of {want} new replicas have '
                "been updated..."), False
    if replicas > updated:
        return (f'Waiting for deployment "{name}" rollout to finish: {replicas - updated} old replicas are '
                "pending termination..."), False
    if available < updated:
        return (f'Waiting for deployment "{name}" rollout to finish: {available} of {updated} updated replicas '
                "are available..."), False
    return f'deployment "{name}" successfully rolled out', True


def _owner_uid(obj: dict[str, Any]) -> str | None:
    for ref in obj["metadata"].get("ownerReferences") or ():
        if ref.get("controller") and ref.get("kind") == "Deployment":
            return str(ref.get("uid"))
    return None


class DeploymentController:
    def __init__(self, rt: Runtime, client: KubeClient, informers: SharedInformers, *, namespace: str = "",
                 workers: int = 1) -> None:
        self.rt = rt
        self.client = client
        self.controller = Controller(rt, "deployment", informers, self.reconcile, primary="deployments",
                                     namespace=namespace, workers=workers)
        self.deployments = self.controller.primary
        self.replicasets = informers.get("replicasets", namespace)
        self.controller.watch("replicasets", self._owner_keys, namespace)
        self.created = 0
        self.scaled = 0
        self.deleted = 0

    async def run(self) -> None:
        await self.controller.run()

    def _owner_keys(self, rs: dict[str, Any]) -> list[str]:
        for ref in rs["metadata"].get("ownerReferences") or ():
            if ref.get("controller") and ref.get("kind") == "Deployment":
                return [f"{rs['metadata']['namespace']}/{ref['name']}"]
        return []

    def owned(self, d: dict[str, Any]) -> list[dict[str, Any]]:
        uid, ns = d["metadata"]["uid"], d["metadata"]["namespace"]
        return [rs for rs in self.replicasets.items()
                if rs["metadata"]["namespace"] == ns and _owner_uid(rs) == uid]

    # -------------------------------------------------------------- reconcile
    async def reconcile(self, key: str) -> Result | None:
        d = self.deployments.cache.get(key)
        if d is None or d["metadata"].get("deletionTimestamp"):
            return None
        try:
            surge, unavailable = resolve_fenceposts(d)
        except ValueError as exc:
            self.rt.record("deployment.invalid", deployment=key, error=str(exc))
            return None
        rss = self.owned(d)
        template = d["spec"].get("template") or {}
        new = next((rs for rs in rss if _strip_hash(rs["spec"].get("template") or {}) == _strip_hash(template)), None)
        old = sorted((rs for rs in rss if rs is not new), key=lambda rs: (_revision(rs), rs["metadata"]["name"]))
        if new is None:
            new = await self._create_new(d, old, surge)
            if new is None:
                return Result(requeue_after_s=0.5)
        else:
            new = await self._promote(d, new, old, surge)
        recreate = ((d["spec"].get("strategy") or {}).get("type") == "Recreate")
        if not d["spec"].get("paused"):
            if recreate:
                await self._recreate(d, new, old)
            else:
                await self._rolling(d, new, old, surge, unavailable)
            await self._cleanup(d, old)
        await self._write_status(d, new, old, unavailable)
        return None

    async def _create_new(self, d: dict[str, Any], old: list[dict[str, Any]], surge: int) -> dict[str, Any] | None:
        meta = d["metadata"]
        template = copy.deepcopy(d["spec"].get("template") or {})
        collisions = int((d.get("status") or {}).get("collisionCount", 0))
        hash_ = pod_template_hash(_strip_hash(template), collisions)
        template.setdefault("metadata", {}).setdefault("labels", {})[HASH_LABEL] = hash_
        selector = copy.deepcopy(d["spec"]["selector"])
        selector.setdefault("matchLabels", {})[HASH_LABEL] = hash_
        revision = max((_revision(rs) for rs in old), default=0) + 1
        replicas = self._new_replicas(d, 0, old, surge)
        rs: dict[str, Any] = {"apiVersion": "apps/v1", "kind": "ReplicaSet",
              "metadata": {"name": f"{meta['name']}-{hash_}", "namespace": meta["namespace"],
                           "labels": dict(template["metadata"]["labels"]),
                           "annotations": self._annotations(d, revision, surge),
                           "ownerReferences": [{"apiVersion": "apps/v1", "kind": "Deployment", "name": meta["name"],
                                                "uid": meta["uid"], "controller": True, "blockOwnerDeletion": True}]},
              "spec": {"replicas": replicas, "selector": selector, "template": template}}
        try:
            created = await self.client.create("replicasets", rs)
        except ApiError as exc:
            if exc.code != 409:
                raise
            # Ours but not in the cache yet (wait for it), or a hash collision: another
            # object holds the name, so the next name is tried.
            try:
                existing = await self.client.get("replicasets", rs["metadata"]["name"], meta["namespace"])
            except ApiError as get_exc:
                if get_exc.code == 404:
                    return None
                raise
            if _owner_uid(existing) != meta["uid"] or _strip_hash(existing["spec"]["template"]) != _strip_hash(template):
                await self.client.patch("deployments", meta["name"], {"status": {"collisionCount": collisions + 1}},
                                        meta["namespace"], subresource="status")
            return None
        self.created += 1
        self.rt.record("deployment.new_replicaset", deployment=f"{meta['namespace']}/{meta['name']}",
                       rs=rs["metadata"]["name"], revision=revision)
        await self._set_deployment_revision(d, revision)
        return created

    def _annotations(self, d: dict[str, Any], revision: int, surge: int) -> dict[str, str]:
        replicas = int(d["spec"].get("replicas", 1))
        return {REVISION_ANNOTATION: str(revision), DESIRED_ANNOTATION: str(replicas),
                MAX_ANNOTATION: str(replicas + surge)}

    async def _promote(self, d: dict[str, Any], new: dict[str, Any], old: list[dict[str, Any]], surge: int) -> dict[str, Any]:
        """Give the new ReplicaSet the newest revision (a rollback makes an old one new)."""
        revision = max((_revision(rs) for rs in old), default=0) + 1
        if _revision(new) >= revision:
            revision = _revision(new)
        else:
            new = await self._update_rs(new, annotations=self._annotations(d, revision, surge))
        await self._set_deployment_revision(d, revision)
        return new

    async def _set_deployment_revision(self, d: dict[str, Any], revision: int) -> None:
        if (d["metadata"].get("annotations") or {}).get(REVISION_ANNOTATION) != str(revision):
            await self.client.patch("deployments", d["metadata"]["name"],
                                    {"metadata": {"annotations": {REVISION_ANNOTATION: str(revision)}}},
                                    d["metadata"]["namespace"])

    async def _update_rs(self, rs: dict[str, Any], *, replicas: int | None = None,
                         annotations: dict[str, str] | None = None) -> dict[str, Any]:
        body = copy.deepcopy(rs)
        if replicas is not None:
            body["spec"]["replicas"] = replicas
        if annotations:
            body["metadata"].setdefault("annotations", {}).update(annotations)
        out: dict[str, Any] = await self.client.update("replicasets", body)
        self.scaled += replicas is not None
        return out

    def _new_replicas(self, d: dict[str, Any], new_replicas: int, old: list[dict[str, Any]], surge: int) -> int:
        want = int(d["spec"].get("replicas", 1))
        if (d["spec"].get("strategy") or {}).get("type") == "Recreate":
            return 0 if any(_spec_replicas(rs) > 0 or _status(rs, "replicas") > 0 for rs in old) else want
        current = new_replicas + sum(_spec_replicas(rs) for rs in old)
        room = want + surge - current
        if room <= 0:
            return new_replicas
        return new_replicas + min(room, max(0, want - new_replicas))

    async def _rolling(self, d: dict[str, Any], new: dict[str, Any], old: list[dict[str, Any]], surge: int, unavailable: int) -> None:
        want = int(d["spec"].get("replicas", 1))
        new_replicas = _spec_replicas(new)
        if new_replicas > want:
            target = want
        else:
            target = self._new_replicas(d, new_replicas, old, surge)
        if target != new_replicas:
            new = await self._update_rs(new, replicas=target,
                                        annotations=self._annotations(d, _revision(new), surge))
            new_replicas = target
        live_old = [rs for rs in old if _spec_replicas(rs) > 0]
        if not live_old:
            return
        # Old ReplicaSets lose their unavailable pods first (no availability is lost), then as
        # many available ones as keep replicas - maxUnavailable available in all.
        all_pods = new_replicas + sum(_spec_replicas(rs) for rs in live_old)
        min_available = want - unavailable
        new_unavailable = max(0, new_replicas - _status(new, "availableReplicas"))
        budget = all_pods - min_available - new_unavailable
        if budget <= 0:
            return
        plan: dict[str, int] = {rs["metadata"]["name"]: _spec_replicas(rs) for rs in live_old}
        for rs in live_old:  # oldest revision first
            if budget <= 0:
                break
            unhealthy = max(0, _spec_replicas(rs) - _status(rs, "availableReplicas"))
            cut = min(unhealthy, budget, plan[rs["metadata"]["name"]])
            plan[rs["metadata"]["name"]] -= cut
            budget -= cut
        budget = sum(_status(rs, "availableReplicas") for rs in [new, *live_old]) - min_available
        for rs in live_old:
            if budget <= 0:
                break
            cut = min(budget, plan[rs["metadata"]["name"]])
            plan[rs["metadata"]["name"]] -= cut
            budget -= cut
        for rs in live_old:
            if plan[rs["metadata"]["name"]] != _spec_replicas(rs):
                await self._update_rs(rs, replicas=plan[rs["metadata"]["name"]])

    async def _recreate(self, d: dict[str, Any], new: dict[str, Any], old: list[dict[str, Any]]) -> None:
        for rs in old:
            if _spec_replicas(rs) > 0:
                await self._update_rs(rs, replicas=0)
        if any(_spec_replicas(rs) > 0 or _status(rs, "replicas") > 0 for rs in old):
            return
        want = int(d["spec"].get("replicas", 1))
        if _spec_replicas(new) != want:
            await self._update_rs(new, replicas=want)

    async def _cleanup(self, d: dict[str, Any], old: list[dict[str, Any]]) -> None:
        limit = int(d["spec"].get("revisionHistoryLimit", 10))
        idle = [rs for rs in old if _spec_replicas(rs) == 0 and _status(rs, "replicas") == 0
                and not rs["metadata"].get("deletionTimestamp")]
        for rs in idle[:max(0, len(idle) - limit)]:  # oldest revision first
            try:
                await self.client.delete("replicasets", rs["metadata"]["name"], rs["metadata"]["namespace"],
                                         uid=rs["metadata"]["uid"])
                self.deleted += 1
            except ApiError as exc:
                if exc.code != 404:
                    raise

    # -------------------------------------------------------------- status
    async def _write_status(self, d: dict[str, Any], new: dict[str, Any], old: list[dict[str, Any]], unavailable: int) -> None:
        meta, want = d["metadata"], int(d["spec"].get("replicas", 1))
        every = [new, *old]
        current = d.get("status") or {}
        status: dict[str, Any] = {
            "observedGeneration": meta.get("generation", 1),
            "replicas": sum(_status(rs, "replicas") for rs in every),
            "updatedReplicas": _status(new, "replicas"),
            "readyReplicas": sum(_status(rs, "readyReplicas") for rs in every),
            "availableReplicas": sum(_status(rs, "availableReplicas") for rs in every),
        }
        status["unavailableReplicas"] = max(0, want - status["availableReplicas"])
        if "collisionCount" in current:
            status["collisionCount"] = current["collisionCount"]
        now = format_timestamp(self.rt.now_us())
        conditions = {c["type"]: c for c in current.get("conditions") or ()}
        min_available = status["availableReplicas"] >= want - unavailable
        conditions["Available"] = self._condition(
            conditions.get("Available"), "Available", min_available, now,
            "MinimumReplicasAvailable" if min_available else "MinimumReplicasUnavailable",
            "Deployment has minimum availability." if min_available
            else "Deployment does not have minimum availability.")
        complete = (status["updatedReplicas"] == want and status["replicas"] == want
                    and status["availableReplicas"] >= want and _spec_replicas(new) == want
                    and all(_spec_replicas(rs) == 0 for rs in old))
        name = new["metadata"]["name"]
        prev = conditions.get("Progressing")
        progressed = any(status[f] != current.get(f, 0) for f in ("updatedReplicas", "readyReplicas",
                                                                    "availableReplicas"))
        if complete:
            reason, message, ok = "NewReplicaSetAvailable", f'ReplicaSet "{name}" has successfully progressed.', True
        elif prev is not None and prev.get("reason") == "ProgressDeadlineExceeded" and not progressed:
            reason, message, ok = prev["reason"], prev["message"], False
        elif (prev is not None and not progressed and prev.get("status") == "True"
              and self._past_deadline(d, prev)):
            reason, message, ok = ("ProgressDeadlineExceeded", f'ReplicaSet "{name}" has timed out progressing.',
                                   False)
        elif prev is None or name not in prev.get("message", ""):
            reason, message, ok = "NewReplicaSetCreated", f'Created new replica set "{name}"', True
        else:
            reason, message, ok = "ReplicaSetUpdated", f'ReplicaSet "{name}" is progressing.', True
        cond = self._condition(prev, "Progressing", ok, now, reason, message)
        if progressed and not complete:
            cond["lastUpdateTime"] = now
        conditions["Progressing"] = cond
        status["conditions"] = [conditions["Available"], conditions["Progressing"]]
        if all(current.get(k) == v for k, v in status.items()):
            return
        await self.client.patch("deployments", meta["name"], {"status": status}, meta["namespace"],
                                subresource="status")

    def _past_deadline(self, d: dict[str, Any], prev: dict[str, Any]) -> bool:
        deadline_s = int(d["spec"].get("progressDeadlineSeconds", 600))
        last_update: str = prev.get("lastUpdateTime", "")
        return format_timestamp(self.rt.now_us() - deadline_s * 1_000_000) > last_update

    @staticmethod
    def _condition(prev: dict[str, Any] | None, type_: str, ok: bool, now: str, reason: str, message: str) -> dict[str, Any]:
        status = "True" if ok else "False"
        if prev is not None and prev.get("status") == status and prev.get("reason") == reason \
                and prev.get("message") == message:
            return dict(prev)
        transition = prev["lastTransitionTime"] if prev is not None and prev.get("status") == status else now
        return {"type": type_, "status": status, "lastUpdateTime": now, "lastTransitionTime": transition,
                "reason": reason, "message": message}
