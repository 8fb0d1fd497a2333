"""The apiserver's self-description for HTTP clients (kubectl, client-go, the Python
client): ``/version``, and the legacy discovery documents ``/api``, ``/apis``,
``/api/v1`` and ``/apis/<group>/<version>`` for the kinds of :data:`kube.registry.STRATEGIES`.

Aggregated discovery (``apidiscovery.k8s.io/v2``) is not served: clients that ask for it
get the legacy document as ``application/json`` and fall back, as they do with an older
kube-apiserver.
"""

from __future__ import annotations

from typing import Any

from .apiserver import SCALABLE
from .openapi import component_schemas
from .registry import STRATEGIES
from .registry.strategy import Strategy
from .schema import MESSAGES

__all__ = ["KUBE_VERSION", "api_groups", "api_resources", "api_versions", "group_versions", "openapi_v3",
           "openapi_v3_index", "version_info"]

#: the Kubernetes release whose API this apiserver speaks (kubectl accepts one minor either side)
KUBE_VERSION = (1, 32, 0)

SHORT_NAMES = {"pods": ["po"], "services": ["svc"], "deployments": ["deploy"], "statefulsets": ["sts"],
               "replicasets": ["rs"], "namespaces": ["ns"], "nodes": ["no"], "configmaps": ["cm"],
               "endpoints": ["ep"], "persistentvolumes": ["pv"], "persistentvolumeclaims": ["pvc"],
               "events": ["ev"]}
IN_ALL = frozenset({"pods", "services", "deployments", "replicasets", "statefulsets"})
VERBS = ["create", "delete", "get", "list", "patch", "update", "watch"]


def version_info() -> dict[str, str]:
    major, minor, patch = KUBE_VERSION
    return {"major": str(major), "minor": str(minor), "gitVersion": f"v{major}.{minor}.{patch}-raftkv",
            "gitCommit": "", "gitTreeState": "clean", "buildDate": "1970-01-01T00:00:00Z",
            "goVersion": "", "compiler": "", "platform": "linux/amd64"}


def group_versions() -> dict[str, list[Strategy]]:
    """``apiVersion`` -> its kinds, in a fixed order (core ``v1`` first)."""
    out: dict[str, list[Strategy]] = {}
    for s in sorted(STRATEGIES.values(), key=lambda s: ("/" in s.api_version, s.api_version, s.resource)):
        out.setdefault(s.api_version, []).append(s)
    return out


def api_versions(server_address: str) -> dict[str, Any]:
    return {"kind": "APIVersions", "versions": ["v1"],
            "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": server_address}]}


def api_groups() -> dict[str, Any]:
    groups = []
    for gv in group_versions():
        if "/" not in gv:
            continue
        group, version = gv.split("/")
        entry = {"groupVersion": gv, "version": version}
        groups.append({"name": group, "versions": [entry], "preferredVersion": entry})
    return {"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}


def _resource(s: Strategy) -> list[dict[str, Any]]:
    main: dict[str, Any] = {"name": s.resource, "singularName": s.kind.lower(), "namespaced": s.namespaced,
                            "kind": s.kind, "verbs": VERBS, "storageVersionHash": ""}
    if s.resource in SHORT_NAMES:
        main["shortNames"] = SHORT_NAMES[s.resource]
    if s.resource in IN_ALL:
        main["categories"] = ["all"]
    out = [main]
    if s.status_subresource:
        out.append({"name": f"{s.resource}/status", "singularName": "", "namespaced": s.namespaced,
                    "kind": s.kind, "verbs": ["get", "patch", "update"]})
    if s.resource in SCALABLE:
        out.append({"name": f"{s.resource}/scale", "singularName": "", "namespaced": s.namespaced,
                    "group": "autoscaling", "version": "v1", "kind": "Scale", "verbs": ["get", "patch", "update"]})
    return out


def api_resources(group_version: str) -> dict[str, Any] | None:
    """The APIResourceList of ``group_version`` (None: not served)."""
    kinds = group_versions().get(group_version)
    if kinds is None:
        return None
    return {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": group_version,
            "resources": [r for s in kinds for r in _resource(s)]}


def _path(s: Strategy) -> str:
    base = "/api/v1" if "/" not in s.api_version else f"/apis/{s.api_version}"
    scope = "/namespaces/{namespace}" if s.namespaced else ""
    return f"{base}{scope}/{s.resource}/{{name}}"


def openapi_v3_index() -> dict[str, Any]:
    """``/openapi/v3``: where each group version's document is."""
    return {"paths": {(f"api/{gv}" if "/" not in gv else f"apis/{gv}"):
                      {"serverRelativeURL": f"/openapi/v3/{'api/' + gv if '/' not in gv else 'apis/' + gv}"
                                            f"?hash={KUBE_VERSION[1]}"}
                      for gv in group_versions()}}


def openapi_v3(group_version: str) -> dict[str, Any] | None:
    """The OpenAPI v3 document of ``group_version``: its kinds' schemas
    (:mod:`kube.openapi`) and operations by name; each PUT and PATCH names its kind
    (``x-kubernetes-group-version-kind``) and takes ``fieldValidation`` and ``dryRun``, so
    kubectl leaves field validation to the server (which checks the kinds' fields)."""
    kinds = group_versions().get(group_version)
    if kinds is None:
        return None
    paths: dict[str, Any] = {}
    for s in kinds:
        group, _, version = s.api_version.rpartition("/")
        gvk = {"group": group, "version": version, "kind": s.kind}
        params = [{"name": name, "in": "query", "schema": {"type": "string", "uniqueItems": True}}
                  for name in ("dryRun", "fieldValidation")]
        ref = {"$ref": f"#/components/schemas/{MESSAGES[s.kind].qualified}"} if s.kind in MESSAGES else {}
        ok = {"200": {"description": "OK", **({"content": {"application/json": {"schema": ref}}} if ref else {})}}
        paths[_path(s)] = {
            "get": {"x-kubernetes-group-version-kind": gvk, "x-kubernetes-action": "get", "responses": ok},
            "put": {"x-kubernetes-group-version-kind": gvk, "x-kubernetes-action": "put", "parameters": params,
                    "responses": ok},
            "patch": {"x-kubernetes-group-version-kind": gvk, "x-kubernetes-action": "patch", "parameters": params,
                      "responses": ok}}
    major, minor, patch = KUBE_VERSION
    return {"openapi": "3.0.0", "info": {"title": "Kubernetes", "version": f"v{major}.{minor}.{patch}"},
            "paths": paths, "components": {"schemas": component_schemas(kinds)}}
