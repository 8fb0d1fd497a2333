"""The kinds' field description (kube.schema) and what is made from it: strict field
validation, the OpenAPI v3 schemas, protobuf request bodies; and the controller set."""

from __future__ import annotations

import json

import pytest

from kube import apidocs, fieldmanager
from kube.controller_manager import CONTROLLERS, build_controllers, node_configs
from kube.fieldmanager import decode_fields, encode_fields, field_set, track_update
from kube.fields import unknown_fields
from kube.protobuf import ProtobufError, decode_object
from kube.registry import STRATEGIES
from kube.schema import MESSAGES, kind_message

# what kubectl 1.32 sends for `kubectl create deployment web --image=nginx --replicas=3`
KUBECTL_CREATE_DEPLOYMENT = bytes.fromhex(
    "6b3873000a150a07617070732f7631120a4465706c6f796d656e7412ab010a1f0a0377656212001a0022002a00320038"
    "0042005a0a0a036170701203776562127a0803120c0a0a0a0361707012037765621a600a1c0a0012001a0022002a0032"
    "00380042005a0a0a0361707012037765621240122"
    "20a056e67696e7812056e67696e782a0042006a0072008001008801009001"
    "00a201001a00320042004a005200580060006800820100"
    "8a01009a0100c20100220"
    "20a00280038001a0c080010001800200028003800"
    "1a002200")


def test_every_kind_served_is_described() -> None:
    for strategy in STRATEGIES.values():
        msg = kind_message(strategy.kind)
        assert msg is not None, strategy.kind
        assert msg.field("metadata") is not None and msg.field("metadata").type == "ObjectMeta"


def test_unknown_fields_by_path() -> None:
    dep = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d", "lables": {}},
           "spec": {"replicas": 1, "selector": {"matchLabels": {"a": "b"}, "matchLabel": {}},
                    "template": {"spec": {"containers": [{"name": "a", "image": "x"},
                                                         {"name": "b", "resources": {"limts": {}}}],
                                          "affinity": {"anything": {"goes": 1}}}}}}
    assert unknown_fields(dep) == ["metadata.lables", "spec.selector.matchLabel",
                                   "spec.template.spec.containers[1].resources.limts"]
    # a strategic merge patch's directives are not fields
    assert unknown_fields({"spec": {"$setElementOrder/containers": [], "replicas": 2}}, "Deployment") == []
    assert unknown_fields({"data": {"k": "v"}, "dta": 1}, "ConfigMap") == ["dta"]
    svc = {"kind": "Service", "spec": {"ports": [{"port": 80, "targetPort": "http", "nodeport": 1}]}}
    assert unknown_fields(svc) == ["spec.ports[0].nodeport"]


def test_openapi_v3_schemas_resolve_and_name_their_kinds() -> None:
    index = apidocs.openapi_v3_index()
    assert set(index["paths"]) == {"api/v1", "apis/apps/v1", "apis/coordination.k8s.io/v1", "apis/discovery.k8s.io/v1",
                                   "apis/networking.k8s.io/v1", "apis/storage.k8s.io/v1"}
    for path in index["paths"]:
        doc = apidocs.openapi_v3(path.split("/", 1)[1])
        assert doc is not None
        schemas = doc["components"]["schemas"]
        refs = [r for r in json.dumps(doc).split('"$ref": "#/components/schemas/')[1:]]
        for ref in refs:
            assert ref.split('"')[0] in schemas, ref.split('"')[0]
        kinds = {gvk["kind"] for s in schemas.values() for gvk in s.get("x-kubernetes-group-version-kind", ())}
        assert kinds == {s.kind for s in STRATEGIES.values()
                         if s.api_version == path.split("/", 1)[1]}
    apps = apidocs.openapi_v3("apps/v1")
    assert apps is not None
    pod_spec = apidocs.openapi_v3("v1")["components"]["schemas"]["io.k8s.api.core.v1.PodSpec"]  # type: ignore[index]
    containers = pod_spec["properties"]["containers"]
    assert containers["x-kubernetes-patch-merge-key"] == "name" and containers["items"] == {
        "$ref": "#/components/schemas/io.k8s.api.core.v1.Container"}
    spec = apps["components"]["schemas"]["io.k8s.api.apps.v1.DeploymentSpec"]
    assert spec["properties"]["replicas"]["type"] == "integer"
    patch = apps["paths"]["/apis/apps/v1/namespaces/{namespace}/deployments/{name}"]["patch"]
    assert {p["name"] for p in patch["parameters"]} == {"fieldValidation", "dryRun"}


def test_protobuf_body_of_kubectl_create_deployment() -> None:
    assert decode_object(KUBECTL_CREATE_DEPLOYMENT) == {
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "labels": {"app": "web"}},
        "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "web"}},
                 "template": {"metadata": {"labels": {"app": "web"}},
                              "spec": {"containers": [{"name": "nginx", "image": "nginx"}]}}}}


def _pb(number: int, payload: bytes) -> bytes:
    return bytes([number << 3 | 2, len(payload)]) + payload


def _unknown(api_version: str, kind: str, raw: bytes) -> bytes:
    type_meta = _pb(1, api_version.encode()) + _pb(2, kind.encode())
    return b"k8s\x00" + _pb(1, type_meta) + _pb(2, raw)


def test_protobuf_zero_replicas_is_kept_and_what_is_not_decoded_is_an_error() -> None:
    spec = bytes([0x08, 0x00])  # replicas 0: a pointer field's zero is a value
    obj = decode_object(_unknown("apps/v1", "ReplicaSet", _pb(1, _pb(1, b"r")) + _pb(2, spec)))
    assert obj["spec"] == {"replicas": 0} and obj["metadata"] == {"name": "r"}
    container = _pb(1, b"c") + _pb(10, b"\x0a\x00")  # a livenessProbe: described as any
    pod = _pb(1, _pb(1, b"p")) + _pb(2, _pb(2, container))
    with pytest.raises(ProtobufError, match=r"Pod\.spec\.containers\[0\]\.livenessProbe is not decoded"):
        decode_object(_unknown("v1", "Pod", pod))
    with pytest.raises(ProtobufError, match="field 99 of ObjectMeta"):
        decode_object(_unknown("v1", "ConfigMap", _pb(1, bytes([99 << 3 & 0x7F | 0x80, 99 >> 4]) + b"\x00")))
    with pytest.raises(ProtobufError, match="k8s"):
        decode_object(b"\x0a\x00")
    with pytest.raises(ProtobufError, match="Widget"):
        decode_object(_unknown("v1", "Widget", b""))
    cm = decode_object(_unknown("v1", "ConfigMap", _pb(1, _pb(1, b"c")) + _pb(2, _pb(1, b"k") + _pb(2, b""))))
    assert cm["data"] == {"k": ""}  # a map's empty value is a value


def test_controller_set_and_nodes() -> None:
    assert [name for name, _ in CONTROLLERS] == ["garbagecollector", "replicaset", "deployment", "statefulset",
                                                 "persistentvolume-binder", "namespace", "nodelifecycle"]
    with pytest.raises(ValueError, match="unknown controller"):
        build_controllers(None, None, None, names=["nope"])  # type: ignore[arg-type]
    nodes = node_configs(3)
    assert [(n.name, n.pod_cidr) for n in nodes] == [("node-1", "10.244.1.0/24"), ("node-2", "10.244.2.0/24"),
                                                     ("node-3", "10.244.3.0/24")]
    with pytest.raises(ValueError, match="--nodes"):
        node_configs(-1)
    assert all(m.package for m in MESSAGES.values())


def _deployment(replicas: int, image: str = "nginx", labels: dict | None = None) -> dict:
    return {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "namespace": "default", **({"labels": labels} if labels else {})},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": "web"}},
                     "template": {"metadata": {"labels": {"app": "web"}},
                                  "spec": {"containers": [{"name": "nginx", "image": image}]}}}}


def test_field_sets_and_fields_v1() -> None:
    paths = field_set(_deployment(3, labels={"tier": "x"}), "Deployment")
    item = ("f:spec", "f:template", "f:spec", "f:containers", 'k:{"name":"nginx"}')
    assert paths == {("f:metadata", "f:labels", "f:tier"), ("f:spec", "f:replicas"),
                     ("f:spec", "f:selector", "f:matchLabels", "f:app"),
                     ("f:spec", "f:template", "f:metadata", "f:labels", "f:app"),
                     item, (*item, "f:name"), (*item, "f:image")}
    encoded = encode_fields(paths)
    assert encoded["f:spec"]["f:template"]["f:spec"]["f:containers"]['k:{"name":"nginx"}'] == {
        ".": {}, "f:image": {}, "f:name": {}}
    assert decode_fields(encoded) == paths


def test_server_side_apply_owns_conflicts_and_removes() -> None:
    obj = fieldmanager.apply(None, _deployment(3, labels={"tier": "x"}), manager="ops", force=False, now="t0")
    assert [(e["manager"], e["operation"]) for e in obj["metadata"]["managedFields"]] == [("ops", "Apply")]
    # another client scales through an update: it takes spec.replicas
    scaled = {**obj, "spec": {**obj["spec"], "replicas": 5}}
    track_update(obj, scaled, manager="hpa", subresource="", now="t1")
    owners = {e["manager"]: decode_fields(e["fieldsV1"]) for e in scaled["metadata"]["managedFields"]}
    assert owners["hpa"] == {("f:spec", "f:replicas")} and ("f:spec", "f:replicas") not in owners["ops"]
    # applying another replicas value conflicts, naming the field and its manager
    with pytest.raises(fieldmanager.Conflict) as err:
        fieldmanager.apply(scaled, _deployment(3, labels={"tier": "x"}), manager="ops", force=False, now="t2")
    assert err.value.code == 409 and 'conflict with "hpa" using apps/v1: .spec.replicas' in err.value.status["message"]
    assert err.value.status["details"]["causes"][0]["field"] == ".spec.replicas"
    # the same value is no conflict (shared ownership); a new image is the applier's own field
    same = fieldmanager.apply(scaled, _deployment(5, "nginx:2", labels={"tier": "x"}), manager="ops", force=False,
                              now="t2")
    assert same["spec"]["template"]["spec"]["containers"] == [{"name": "nginx", "image": "nginx:2"}]
    # force takes the field; a label no longer applied, owned by nobody else, is removed
    forced = fieldmanager.apply(same, _deployment(2, "nginx:2"), manager="ops", force=True, now="t3")
    assert forced["spec"]["replicas"] == 2 and "labels" not in forced["metadata"]
    assert [e["manager"] for e in forced["metadata"]["managedFields"]] == ["ops"]  # hpa owns nothing now
    # a field set by an update stays when the applier stops applying it, as a list element merged by key
    extra = {**forced, "spec": {**forced["spec"], "paused": True}}
    track_update(forced, extra, manager="kubectl-edit", subresource="", now="t4")
    config = _deployment(2, "nginx:2")
    config["spec"]["template"]["spec"]["containers"].append({"name": "sidecar", "image": "envoy"})
    both = fieldmanager.apply(extra, config, manager="ops", force=False, now="t5")
    assert both["spec"]["paused"] is True
    assert [c["name"] for c in both["spec"]["template"]["spec"]["containers"]] == ["nginx", "sidecar"]
    back = fieldmanager.apply(both, _deployment(2, "nginx:2"), manager="ops", force=False, now="t6")
    assert [c["name"] for c in back["spec"]["template"]["spec"]["containers"]] == ["nginx"]
