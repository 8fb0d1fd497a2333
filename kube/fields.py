"""The field names the apiserver knows, for ``fieldValidation=Strict``: the top level and
``metadata`` of every kind, Pod specs and their containers (also inside a workload's pod
template), and the ``spec`` of Deployments, ReplicaSets and StatefulSets (Kubernetes 1.32).

:func:`unknown_fields` names each field of an object (or of a merge patch's body) that
its kind does not have, as kube-apiserver's strict decoding does: ``spec.foo``,
``spec.template.spec.containers[0].imagee``.  Below the described levels (a container's
``resources``, a selector, a Service's spec...) fields are not checked.
"""

from __future__ import annotations

from typing import Any

__all__ = ["unknown_fields"]

#: a level's known fields; a field's value is the schema of its object (or of each element
#: of its list), or None where its contents are not checked
Schema = dict[str, Any]


def _opaque(*names: str) -> Schema:
    return dict.fromkeys(names)


META = _opaque("name", "generateName", "namespace", "selfLink", "uid", "resourceVersion", "generation",
               "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds", "labels", "annotations",
               "ownerReferences", "finalizers", "managedFields")
CONTAINER = _opaque("name", "image", "command", "args", "workingDir", "ports", "envFrom", "env", "resources",
                    "resizePolicy", "restartPolicy", "volumeMounts", "volumeDevices", "livenessProbe",
                    "readinessProbe", "startupProbe", "lifecycle", "terminationMessagePath",
                    "terminationMessagePolicy", "imagePullPolicy", "securityContext", "stdin", "stdinOnce", "tty")
EPHEMERAL_CONTAINER = {**CONTAINER, "targetContainerName": None}
POD_SPEC: Schema = {
    **_opaque("volumes", "restartPolicy", "terminationGracePeriodSeconds", "activeDeadlineSeconds", "dnsPolicy",
              "nodeSelector", "serviceAccountName", "serviceAccount", "automountServiceAccountToken", "nodeName",
              "hostNetwork", "hostPID", "hostIPC", "shareProcessNamespace", "securityContext", "imagePullSecrets",
              "hostname", "subdomain", "affinity", "schedulerName", "tolerations", "hostAliases",
              "priorityClassName", "priority", "dnsConfig", "readinessGates", "runtimeClassName",
              "enableServiceLinks", "preemptionPolicy", "overhead", "topologySpreadConstraints",
              "setHostnameAsFQDN", "os", "hostUsers", "schedulingGates", "resourceClaims", "resources"),
    "containers": CONTAINER, "initContainers": CONTAINER, "ephemeralContainers": EPHEMERAL_CONTAINER}
POD_TEMPLATE: Schema = {"metadata": META, "spec": POD_SPEC}
SPECS: dict[str, Schema] = {
    "Pod": POD_SPEC,
    "Deployment": {**_opaque("replicas", "selector", "strategy", "minReadySeconds", "revisionHistoryLimit", "paused",
                             "progressDeadlineSeconds"), "template": POD_TEMPLATE},
    "ReplicaSet": {**_opaque("replicas", "minReadySeconds", "selector"), "template": POD_TEMPLATE},
    "StatefulSet": {**_opaque("replicas", "selector", "volumeClaimTemplates", "serviceName", "podManagementPolicy",
                              "updateStrategy", "revisionHistoryLimit", "minReadySeconds",
                              "persistentVolumeClaimRetentionPolicy", "ordinals"), "template": POD_TEMPLATE},
}
#: the top-level fields of kinds without spec and status
TOP_FIELDS: dict[str, tuple[str, ...]] = {
    "ConfigMap": ("data", "binaryData", "immutable"),
    "Endpoints": ("subsets",),
    "Event": ("involvedObject", "reason", "message", "source", "firstTimestamp", "lastTimestamp", "count", "type",
              "eventTime", "series", "action", "related", "reportingComponent", "reportingInstance"),
}


def schema(kind: str) -> Schema:
    """The known fields of a ``kind`` object, from its top level down."""
    return {"apiVersion": None, "kind": None, "metadata": META, "spec": SPECS.get(kind), "status": None,
            **_opaque(*TOP_FIELDS.get(kind, ()))}


def _walk(value: Any, known: Schema, path: str, out: list[str]) -> None:
    if not isinstance(value, dict):
        return
    for name in sorted(value, key=str):
        if name not in known:
            if not str(name).startswith("$"):  # a strategic merge patch's directives
                out.append(f"{path}{name}")
            continue
        below, child = known[name], value[name]
        if below is None:
            continue
        if isinstance(child, list):
            for i, item in enumerate(child):
                _walk(item, below, f"{path}{name}[{i}].", out)
        else:
            _walk(child, below, f"{path}{name}.", out)


def unknown_fields(obj: Any, kind: str = "") -> list[str]:
    """The fields of ``obj`` (an object, or a merge patch of one) that a ``kind`` object
    (default: ``obj["kind"]``) does not have, by path."""
    out: list[str] = []
    if isinstance(obj, dict):
        _walk(obj, schema(kind or str(obj.get("kind", ""))), "", out)
    return out
