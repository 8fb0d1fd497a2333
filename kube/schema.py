"""The fields of the kinds the apiserver serves (Kubernetes 1.32), in one compact
description that three things are made from: strict field validation
(:mod:`kube.fields`), the OpenAPI v3 schemas kubectl explains and validates with
(:mod:`kube.openapi`), and the decoding of protobuf request bodies (:mod:`kube.protobuf`,
which kubectl's typed commands such as ``kubectl create deployment`` send).

Each message is a line ``Name: field number type, ...`` (continued on indented lines);
``@ package`` names the OpenAPI package of the messages after it.  A type is a scalar
(``s`` string, ``i32``, ``i64``, ``b`` bool, ``bytes``, ``time``, ``microtime``, ``qty``
a resource quantity, ``ios`` an int-or-string), ``any`` (an object whose contents are
not described: not checked, kept as they come in JSON) or a message name; ``[T]`` is a
list, ``[T/key]`` a list that strategic merge patches merge by ``key``, ``{T}`` a map
from strings; a ``?`` suffix marks a pointer field, whose zero value is a value (protobuf
sends every scalar, and a zero that is not a pointer means "unset").  Each kind served
(:data:`kube.registry.STRATEGIES`) is a message of its name; ``apiVersion`` and ``kind``
are implied.
"""

from __future__ import annotations

import re

import attrs

__all__ = ["FIELD_DESCRIPTIONS", "KIND_DESCRIPTIONS", "MESSAGES", "SCALARS", "Field", "Message", "kind_message"]

SCALARS = frozenset({"s", "i32", "i64", "b", "bytes", "time", "microtime", "qty", "ios", "any"})

_DESCRIPTION = """
@ io.k8s.apimachinery.pkg.apis.meta.v1
ObjectMeta: name 1 s, generateName 2 s, namespace 3 s, selfLink 4 s, uid 5 s, resourceVersion 6 s,
    generation 7 i64, creationTimestamp 8 time, deletionTimestamp 9 time, deletionGracePeriodSeconds 10 i64?,
    labels 11 {s}, annotations 12 {s}, ownerReferences 13 [OwnerReference/uid], finalizers 14 [s],
    managedFields 17 [any]
OwnerReference: apiVersion 5 s, kind 1 s, name 3 s, uid 4 s, controller 6 b?, blockOwnerDeletion 7 b?
LabelSelector: matchLabels 1 {s}, matchExpressions 2 [LabelSelectorRequirement]
LabelSelectorRequirement: key 1 s, operator 2 s, values 3 [s]

@ io.k8s.api.core.v1
Namespace: metadata 1 ObjectMeta, spec 2 NamespaceSpec, status 3 any
NamespaceSpec: finalizers 1 [s]
ConfigMap: metadata 1 ObjectMeta, data 2 {s}, binaryData 3 {bytes}, immutable 4 b?
Endpoints: metadata 1 ObjectMeta, subsets 2 [any]
Event: metadata 1 ObjectMeta, involvedObject 2 ObjectReference, reason 3 s, message 4 s, source 5 EventSource,
    firstTimestamp 6 time, lastTimestamp 7 time, count 8 i32, type 9 s, eventTime 10 microtime, series 11 any,
    action 12 s, related 13 ObjectReference, reportingComponent 14 s, reportingInstance 15 s
EventSource: component 1 s, host 2 s
ObjectReference: kind 1 s, namespace 2 s, name 3 s, uid 4 s, apiVersion 5 s, resourceVersion 6 s, fieldPath 7 s
LocalObjectReference: name 1 s
Node: metadata 1 ObjectMeta, spec 2 NodeSpec, status 3 any
NodeSpec: podCIDR 1 s, podCIDRs 7 [s], providerID 3 s, unschedulable 4 b, taints 5 [Taint], configSource 6 any,
    externalID 2 s
Taint: key 1 s, value 2 s, effect 3 s, timeAdded 4 time
PersistentVolume: metadata 1 ObjectMeta, spec 2 any, status 3 any
PersistentVolumeClaim: metadata 1 ObjectMeta, spec 2 PersistentVolumeClaimSpec, status 3 any
PersistentVolumeClaimSpec: accessModes 1 [s], selector 4 LabelSelector, resources 2 VolumeResourceRequirements,
    volumeName 3 s, storageClassName 5 s?, volumeMode 6 s?, dataSource 7 any, dataSourceRef 8 any,
    volumeAttributesClassName 9 s?
VolumeResourceRequirements: limits 1 {qty}, requests 2 {qty}
Service: metadata 1 ObjectMeta, spec 2 ServiceSpec, status 3 any
ServiceSpec: ports 1 [ServicePort/port], selector 2 {s}, clusterIP 3 s, clusterIPs 18 [s], type 4 s,
    externalIPs 5 [s], sessionAffinity 7 s, loadBalancerIP 8 s, loadBalancerSourceRanges 9 [s], externalName 10 s,
    externalTrafficPolicy 11 s, healthCheckNodePort 12 i32, publishNotReadyAddresses 13 b,
    sessionAffinityConfig 14 any, ipFamilies 19 [s], ipFamilyPolicy 17 s?, allocateLoadBalancerNodePorts 20 b?,
    loadBalancerClass 21 s?, internalTrafficPolicy 22 s?, trafficDistribution 23 s?
ServicePort: name 1 s, protocol 2 s, appProtocol 6 s?, port 3 i32, targetPort 4 ios, nodePort 5 i32
Pod: metadata 1 ObjectMeta, spec 2 PodSpec, status 3 any
PodTemplateSpec: metadata 1 ObjectMeta, spec 2 PodSpec
PodSpec: volumes 1 [any/name], initContainers 20 [Container/name], containers 2 [Container/name],
    ephemeralContainers 34 [any/name], restartPolicy 3 s, terminationGracePeriodSeconds 4 i64?,
    activeDeadlineSeconds 5 i64?, dnsPolicy 6 s, nodeSelector 7 {s}, serviceAccountName 8 s, serviceAccount 9 s,
    automountServiceAccountToken 21 b?, nodeName 10 s, hostNetwork 11 b, hostPID 12 b, hostIPC 13 b,
    shareProcessNamespace 27 b?, securityContext 14 any, imagePullSecrets 15 [LocalObjectReference/name],
    hostname 16 s, subdomain 17 s, affinity 18 any, schedulerName 19 s, tolerations 22 [Toleration],
    hostAliases 23 [any/ip], priorityClassName 24 s, priority 25 i32?, dnsConfig 26 any,
    readinessGates 28 [any], runtimeClassName 29 s?, enableServiceLinks 30 b?, preemptionPolicy 31 s?,
    overhead 32 {qty}, topologySpreadConstraints 33 [any/topologyKey], setHostnameAsFQDN 35 b?, os 36 any,
    hostUsers 37 b?, schedulingGates 38 [any/name], resourceClaims 39 [any/name], resources 40 ResourceRequirements
Container: name 1 s, image 2 s, command 3 [s], args 4 [s], workingDir 5 s, ports 6 [ContainerPort/containerPort],
    envFrom 19 [any], env 7 [EnvVar/name], resources 8 ResourceRequirements, resizePolicy 23 [any],
    restartPolicy 24 s?, volumeMounts 9 [VolumeMount/mountPath], volumeDevices 21 [any/devicePath],
    livenessProbe 10 any, readinessProbe 11 any, startupProbe 22 any, lifecycle 12 any,
    terminationMessagePath 13 s, terminationMessagePolicy 20 s, imagePullPolicy 14 s, securityContext 15 any,
    stdin 16 b, stdinOnce 17 b, tty 18 b
ContainerPort: name 1 s, hostPort 2 i32, containerPort 3 i32, protocol 4 s, hostIP 5 s
EnvVar: name 1 s, value 2 s, valueFrom 3 any
ResourceRequirements: limits 1 {qty}, requests 2 {qty}, claims 3 [any/name]
VolumeMount: name 1 s, readOnly 2 b, recursiveReadOnly 7 s?, mountPath 3 s, subPath 4 s, mountPropagation 5 s?,
    subPathExpr 6 s
Toleration: key 1 s, operator 2 s, value 3 s, effect 4 s, tolerationSeconds 5 i64?

@ io.k8s.api.apps.v1
Deployment: metadata 1 ObjectMeta, spec 2 DeploymentSpec, status 3 any
DeploymentSpec: replicas 1 i32?, selector 2 LabelSelector, template 3 PodTemplateSpec, strategy 4 DeploymentStrategy,
    minReadySeconds 5 i32, revisionHistoryLimit 6 i32?, paused 7 b, progressDeadlineSeconds 9 i32?
DeploymentStrategy: type 1 s, rollingUpdate 2 RollingUpdateDeployment
RollingUpdateDeployment: maxUnavailable 1 ios, maxSurge 2 ios
ReplicaSet: metadata 1 ObjectMeta, spec 2 ReplicaSetSpec, status 3 any
ReplicaSetSpec: replicas 1 i32?, minReadySeconds 4 i32, selector 2 LabelSelector, template 3 PodTemplateSpec
StatefulSet: metadata 1 ObjectMeta, spec 2 StatefulSetSpec, status 3 any
StatefulSetSpec: replicas 1 i32?, selector 2 LabelSelector, template 3 PodTemplateSpec, volumeClaimTemplates 4 [any],
    serviceName 5 s, podManagementPolicy 6 s, updateStrategy 7 StatefulSetUpdateStrategy, revisionHistoryLimit 8 i32?,
    minReadySeconds 9 i32, persistentVolumeClaimRetentionPolicy 10 any, ordinals 11 any
StatefulSetUpdateStrategy: type 1 s, rollingUpdate 2 RollingUpdateStatefulSetStrategy
RollingUpdateStatefulSetStrategy: partition 1 i32?, maxUnavailable 2 ios

@ io.k8s.api.coordination.v1
Lease: metadata 1 ObjectMeta, spec 2 LeaseSpec
LeaseSpec: holderIdentity 1 s?, leaseDurationSeconds 2 i32?, acquireTime 3 microtime, renewTime 4 microtime,
    leaseTransitions 5 i32?, strategy 6 s?, preferredHolder 7 s?

@ io.k8s.api.discovery.v1
EndpointSlice: metadata 1 ObjectMeta, endpoints 2 [any], ports 3 [any], addressType 4 s

@ io.k8s.api.networking.v1
Ingress: metadata 1 ObjectMeta, spec 2 any, status 3 any

@ io.k8s.api.storage.v1
VolumeAttachment: metadata 1 ObjectMeta, spec 2 any, status 3 any
"""

#: what ``kubectl explain`` says of each kind
KIND_DESCRIPTIONS = {
    "Namespace": "Namespace provides a scope for Names.",
    "Pod": "Pod is a collection of containers that can run on a host.",
    "Node": "Node is a worker node; the scheduler binds pods to nodes.",
    "Service": "Service is a named abstraction of a software service: a port proxied to the pods its selector picks.",
    "Endpoints": "Endpoints is the set of endpoints that implement a service.",
    "ConfigMap": "ConfigMap holds configuration data for pods to consume.",
    "Event": "Event is a report of an event somewhere in the cluster.",
    "PersistentVolume": "PersistentVolume is a storage resource provisioned by an administrator.",
    "PersistentVolumeClaim": "PersistentVolumeClaim is a user's request for and claim to a persistent volume.",
    "Deployment": "Deployment enables declarative updates for Pods and ReplicaSets.",
    "ReplicaSet": "ReplicaSet ensures that a specified number of pod replicas are running at any given time.",
    "StatefulSet": "StatefulSet represents a set of pods with consistent identities.",
    "Lease": "Lease defines a lease concept.",
    "EndpointSlice": "EndpointSlice represents a subset of the endpoints that implement a service.",
    "Ingress": "Ingress is a collection of rules that allow inbound connections to reach the endpoints of services.",
    "VolumeAttachment": "VolumeAttachment captures the intent to attach or detach a volume to or from a node.",
}

#: what ``kubectl explain`` says of some fields (``Message.field``)
FIELD_DESCRIPTIONS = {
    "ObjectMeta.name": "The object's name, unique in its namespace.",
    "ObjectMeta.namespace": "The namespace the object lives in (empty for cluster-scoped kinds).",
    "ObjectMeta.labels": "Key/value pairs that selectors match.",
    "ObjectMeta.resourceVersion": "The store revision of the object's last change (optimistic concurrency).",
    "ObjectMeta.ownerReferences": "The objects this one belongs to (the garbage collector follows them).",
    "DeploymentSpec.replicas": "How many pods are wanted (default 1).",
    "DeploymentSpec.selector": "The label selector of the pods this Deployment manages (immutable).",
    "DeploymentSpec.template": "The pods to create; a change starts a rollout.",
    "DeploymentSpec.strategy": "How old pods are replaced by new ones (RollingUpdate or Recreate).",
    "DeploymentSpec.paused": "A paused Deployment does not roll out template changes.",
    "DeploymentSpec.revisionHistoryLimit": "How many old ReplicaSets to keep for rollbacks (default 10).",
    "ReplicaSetSpec.replicas": "How many pods are wanted (default 1).",
    "ReplicaSetSpec.template": "The pods to create when there are too few.",
    "StatefulSetSpec.serviceName": "The headless Service that gives the pods their network identity.",
    "StatefulSetSpec.replicas": "How many pods are wanted (default 1).",
    "PodSpec.containers": "The containers of the pod (at least one).",
    "PodSpec.nodeName": "The node the pod is bound to (set by the scheduler).",
    "PodSpec.nodeSelector": "Labels a node must have to run the pod.",
    "PodSpec.tolerations": "The node taints the pod tolerates.",
    "Container.name": "The container's name, unique in the pod.",
    "Container.image": "The container image to run.",
    "Container.ports": "The ports the container listens on.",
    "Container.env": "Environment variables of the container.",
    "Container.resources": "Compute resources the container requests and is limited to.",
    "ResourceRequirements.requests": "What the scheduler reserves for the container (cpu, memory).",
    "ResourceRequirements.limits": "The most the container may use.",
    "ServiceSpec.selector": "The labels of the pods that receive the Service's traffic.",
    "ServiceSpec.ports": "The ports the Service exposes.",
    "ServiceSpec.type": "ClusterIP (default), NodePort, LoadBalancer or ExternalName.",
}


@attrs.frozen(kw_only=True)
class Field:
    name: str  # the JSON name
    number: int  # the protobuf field number
    type: str  # a scalar of SCALARS or a message name
    repeated: bool = False
    map: bool = False
    merge_key: str = ""  # a list's strategic merge key
    pointer: bool = False

    @property
    def message(self) -> bool:
        return self.type not in SCALARS


@attrs.frozen(kw_only=True)
class Message:
    name: str
    package: str
    fields: tuple[Field, ...]

    @property
    def qualified(self) -> str:
        return f"{self.package}.{self.name}"

    def field(self, name: str) -> Field | None:
        return next((f for f in self.fields if f.name == name), None)

    def by_number(self, number: int) -> Field | None:
        return next((f for f in self.fields if f.number == number), None)


_FIELD = re.compile(r"^(\w+) (\d+) (\[(\w+)(?:/(\w+))?\]|\{(\w+)\}|(\w+))(\?)?$")


def _parse(text: str) -> dict[str, Message]:
    out: dict[str, Message] = {}
    package = ""
    lines: list[str] = []
    for raw in text.splitlines():
        if raw.startswith((" ", "\t")) and lines:
            lines[-1] += " " + raw.strip()
        elif raw.strip():
            lines.append(raw.strip())
    for line in lines:
        if line.startswith("@"):
            package = line[1:].strip()
            continue
        name, _, rest = line.partition(":")
        fields = []
        for item in rest.split(","):
            m = _FIELD.match(item.strip())
            assert m, f"schema: bad field {item.strip()!r} of {name}"
            fname, number, _t, list_of, key, map_of, plain, pointer = m.groups()
            fields.append(Field(name=fname, number=int(number), type=list_of or map_of or plain,
                                repeated=bool(list_of), map=bool(map_of), merge_key=key or "", pointer=bool(pointer)))
        assert len({f.number for f in fields}) == len(fields), f"schema: {name} repeats a field number"
        assert name not in out, f"schema: {name} described twice"
        out[name] = Message(name=name, package=package, fields=tuple(fields))
    for msg in out.values():
        for f in msg.fields:
            assert f.type in SCALARS or f.type in out, f"schema: {msg.name}.{f.name} has unknown type {f.type}"
    return out


MESSAGES: dict[str, Message] = _parse(_DESCRIPTION)
assert all(MESSAGES[m].field(f) is not None for m, _, f in (k.partition(".") for k in FIELD_DESCRIPTIONS)), \
    "schema: a described field is not in the description"


def kind_message(kind: str) -> Message | None:
    """The message of a kind served (None: not described)."""
    return MESSAGES.get(kind) if kind in KIND_DESCRIPTIONS else None
