"""``raftkv kube serve`` with the real tools: kubectl and the official kubernetes Python
client, on the embedded raftkv member and (a subset) on a real etcd 3.4."""

from __future__ import annotations

import base64
import contextlib
import json
import os
import pathlib
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator

import pytest
import yaml
from tools import require_tool

from raftkv.runtime.cluster import free_port

pytestmark = pytest.mark.timeout(300)

ROOT = pathlib.Path(__file__).resolve().parents[1]

MANIFESTS = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  labels: {app: web}
spec:
  replicas: 2
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: nginx
        image: nginx:1.27
        ports:
        - containerPort: 80
        env:
        - {name: MODE, value: blue}
---
apiVersion: v1
kind: Service
metadata:
  name: web
spec:
  selector: {app: web}
  ports:
  - {port: 80, targetPort: 80}
---
apiVersion: apps/v1
kind: StatefulSet
metadata:
  name: db
spec:
  serviceName: db
  replicas: 1
  selector:
    matchLabels: {app: db}
  template:
    metadata:
      labels: {app: db}
    spec:
      containers:
      - {name: pg, image: postgres:16}
"""


class Kube:
    def __init__(self, proc: subprocess.Popen, url: str, etcd_url: str, kubeconfig: str, token: str) -> None:
        self.proc, self.url, self.etcd_url, self.kubeconfig, self.token = proc, url, etcd_url, kubeconfig, token

    def kubectl(self, *args: str, check: bool = True, timeout: float = 60) -> subprocess.CompletedProcess:
        out = subprocess.run(["kubectl", *args], capture_output=True, text=True, timeout=timeout,
                             env={**os.environ, "KUBECONFIG": self.kubeconfig})
        if check:
            assert out.returncode == 0, f"kubectl {' '.join(args)}: {out.stderr}"
        return out

    def http(self, method: str, path: str, body: bytes | None = None, *, token: str | None = None,
             content_type: str = "application/json") -> tuple[int, dict]:
        code, body_out, _headers = self.http_headers(method, path, body, token=token, content_type=content_type)
        return code, body_out

    def http_headers(self, method: str, path: str, body: bytes | None = None, *, token: str | None = None,
                     content_type: str = "application/json") -> tuple[int, dict, list[tuple[str, str]]]:
        headers = {"Content-Type": content_type}
        token = self.token if token is None else token
        if token:
            headers["Authorization"] = f"Bearer {token}"
        req = urllib.request.Request(self.url + path, data=body, method=method, headers=headers)
        try:
            with urllib.request.urlopen(req, timeout=30, context=self.ssl_context()) as resp:
                return resp.status, json.loads(resp.read()), resp.getheaders()
        except urllib.error.HTTPError as err:
            return err.code, json.loads(err.read()), list(err.headers.items())

    def ssl_context(self) -> ssl.SSLContext | None:
        """A client context trusting the kubeconfig's certificate authority (None: plain HTTP)."""
        cluster = json.loads(pathlib.Path(self.kubeconfig).read_text())["clusters"][0]["cluster"]
        if "certificate-authority-data" not in cluster:
            return None
        return ssl.create_default_context(cadata=base64.b64decode(cluster["certificate-authority-data"]).decode())

    def compact(self) -> None:
        """Compact the store at its current revision (through etcd's JSON gateway)."""
        def post(path: str, body: dict) -> dict:
            req = urllib.request.Request(self.etcd_url + path, data=json.dumps(body).encode(), method="POST")
            with urllib.request.urlopen(req, timeout=30) as resp:
                return json.loads(resp.read())
        rev = int(post("/v3/kv/range", {"key": "AA=="})["header"]["revision"])
        post("/v3/kv/compaction", {"revision": str(rev), "physical": True})


@contextlib.contextmanager
def kube_server(*, etcd: str = "", token: str = "", tls: bool = False, data_dir: str = "",
                extra: tuple[str, ...] = ()) -> Iterator[Kube]:
    require_tool("kubectl", install="apt-get install -y kubectl (Google's apt repository) or kubernetes-client",
                 why="the kube serve tests drive the apiserver with the real kubectl")
    tmp = tempfile.mkdtemp(prefix="raftkv-kube-test-")
    kubeconfig = os.path.join(tmp, "kubeconfig")
    cmd = [sys.executable, "-m", "raftkv", "kube", "serve", "--listen", "127.0.0.1:0", "--kubeconfig", kubeconfig,
           "--data-dir", data_dir or os.path.join(tmp, "data")]
    if tls:
        cmd.append("--tls")
    if etcd:
        cmd += ["--etcd", etcd]
    if token:
        cmd += ["--token", token]
    cmd += extra
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line.startswith("kube apiserver at "), f"kube serve did not start: {line}{proc.stderr.read() if proc.stderr else ''}"
        url = line.split()[3]
        etcd_url = etcd.split(",")[0] if etcd else line.split("embedded raftkv member at ")[1].split(",")[0]
        yield Kube(proc, url, etcd_url, kubeconfig, token)
        assert proc.poll() is None, f"kube serve exited: {proc.stderr.read() if proc.stderr else ''}"
    finally:
        proc.terminate()
        proc.wait(20)


@contextlib.contextmanager
def etcd_server() -> Iterator[str]:
    etcd = require_tool("etcd", install="apt-get install -y etcd-server", why="kube serve runs on etcd 3.4 too")
    data = tempfile.mkdtemp(prefix="raftkv-kube-etcd-")
    client, peer = free_port(), free_port()
    url = f"http://127.0.0.1:{client}"
    proc = subprocess.Popen(
        [etcd, "--name", "e1", "--data-dir", data, "--listen-client-urls", url, "--advertise-client-urls", url,
         "--listen-peer-urls", f"http://127.0.0.1:{peer}", "--initial-advertise-peer-urls", f"http://127.0.0.1:{peer}",
         "--initial-cluster", f"e1=http://127.0.0.1:{peer}"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(urllib.request.Request(url + "/v3/maintenance/status", data=b"{}"),
                                            timeout=5):
                    break
            except OSError:
                assert proc.poll() is None and time.monotonic() < deadline, "etcd did not start"
                time.sleep(0.1)
        yield url
    finally:
        proc.terminate()
        proc.wait(10)


@pytest.fixture(scope="module", params=["raftkv", "etcd"])
def kube(request: pytest.FixtureRequest) -> Iterator[Kube]:
    if request.param == "etcd":
        with etcd_server() as url, kube_server(etcd=url) as k:
            yield k
    else:
        with kube_server() as k:
            yield k


def test_kubectl_version_and_api_resources(kube: Kube) -> None:
    out = kube.kubectl("version").stdout
    assert "Server Version: v1.32" in out
    resources = kube.kubectl("api-resources").stdout
    assert any(line.split()[:2] == ["deployments", "deploy"] and "apps/v1" in line for line in resources.splitlines())
    assert "statefulsets" in resources and "configmaps" in resources
    namespaces = kube.kubectl("get", "namespaces").stdout
    assert "default" in namespaces and "kube-system" in namespaces


def test_kubectl_session(kube: Kube, tmp_path: pathlib.Path) -> None:
    manifest = tmp_path / "app.yaml"
    manifest.write_text(MANIFESTS)
    assert "No resources found" in kube.kubectl("get", "pods", "-A").stdout + kube.kubectl("get", "pods", "-A").stderr
    out = kube.kubectl("apply", "-f", str(manifest)).stdout
    assert "deployment.apps/web created" in out and "service/web created" in out and "statefulset.apps/db created" in out
    assert "unchanged" in kube.kubectl("apply", "-f", str(manifest)).stdout
    # a changed image goes through kubectl's strategic merge patch: the container list merges by name
    manifest.write_text(MANIFESTS.replace("nginx:1.27", "nginx:1.28"))
    assert "deployment.apps/web configured" in kube.kubectl("apply", "-f", str(manifest)).stdout
    dep = json.loads(kube.kubectl("get", "deployment", "web", "-o", "json").stdout)
    containers = dep["spec"]["template"]["spec"]["containers"]
    assert [(c["name"], c["image"], c["env"]) for c in containers] == [("nginx", "nginx:1.28",
                                                                        [{"name": "MODE", "value": "blue"}])]
    assert dep["metadata"]["generation"] == 2
    assert "image: nginx:1.28" in kube.kubectl("get", "deploy", "web", "-o", "yaml").stdout
    wide = kube.kubectl("get", "deploy", "-o", "wide").stdout.splitlines()
    assert wide[0].split()[:6] == ["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE", "IMAGES"]
    assert wide[1].split()[0] == "web" and "nginx:1.28" in wide[1]
    svc = kube.kubectl("get", "svc", "web").stdout
    assert "80/TCP" in svc and "ClusterIP" in svc
    described = kube.kubectl("describe", "deployment", "web").stdout
    assert "Name:" in described and "web" in described and "2 desired" in described
    # get -w sees a scale made meanwhile
    watcher = subprocess.Popen(["kubectl", "get", "deployment", "web", "-w", "--no-headers"], stdout=subprocess.PIPE,
                               text=True, env={**os.environ, "KUBECONFIG": kube.kubeconfig})
    try:
        assert watcher.stdout is not None
        first = watcher.stdout.readline()
        assert first.split()[:2] == ["web", "0/2"], first
        assert "scaled" in kube.kubectl("scale", "deployment", "web", "--replicas=5").stdout
        second = watcher.stdout.readline()
        assert second.split()[:2] == ["web", "0/5"], second
    finally:
        watcher.terminate()
        watcher.wait(10)
    assert kube.kubectl("get", "deploy", "web", "-o", "jsonpath={.spec.replicas}").stdout == "5"
    assert "deleted" in kube.kubectl("delete", "-f", str(manifest)).stdout
    gone = kube.kubectl("get", "deployment", "web", check=False)
    assert gone.returncode != 0 and "NotFound" in gone.stderr


def test_errors_are_status_objects(kube: Kube) -> None:
    base = "/api/v1/namespaces/default/configmaps"
    code, body = kube.http("POST", base, b"{not json")
    assert (code, body["kind"], body["reason"]) == (400, "Status", "BadRequest") and "JSON" in body["message"]
    code, body = kube.http("GET", "/api/v1/namespaces/default/widgets")
    assert (code, body["reason"]) == (404, "NotFound") and "widgets" in body["message"]
    cm = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}, "dta": {"a": "b"}}
    code, body = kube.http("POST", base + "?fieldValidation=Strict", json.dumps(cm).encode())
    assert code == 400 and 'unknown field "dta"' in body["message"]
    dep = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "strict"},
           "spec": {"replicas": 1, "foo": 1, "selector": {"matchLabels": {"app": "s"}},
                    "template": {"metadata": {"labels": {"app": "s"}},
                                 "spec": {"containers": [{"name": "a", "image": "busybox", "imagee": "x"}]}}}}
    deployments = "/apis/apps/v1/namespaces/default/deployments"
    code, body = kube.http("POST", deployments + "?fieldValidation=Strict", json.dumps(dep).encode())
    assert (code, body["reason"]) == (400, "BadRequest")
    assert body["message"] == ('strict decoding error: unknown field "spec.foo", '
                               'unknown field "spec.template.spec.containers[0].imagee"')
    del dep["spec"]["foo"], dep["spec"]["template"]["spec"]["containers"][0]["imagee"]
    code, body = kube.http("POST", deployments + "?fieldValidation=Strict", json.dumps(dep).encode())
    assert code == 201, body
    patch = {"spec": {"paused": True, "template": {"spec": {"containers": [{"name": "a", "imagePullPolice": "Always"}]}}}}
    code, body = kube.http("PATCH", deployments + "/strict?fieldValidation=Strict", json.dumps(patch).encode(),
                           content_type="application/strategic-merge-patch+json")
    assert code == 400 and body["message"] == ('strict decoding error: unknown field '
                                               '"spec.template.spec.containers[0].imagePullPolice"')
    code, body = kube.http("PATCH", deployments + "/strict", json.dumps(patch).encode(),
                           content_type="application/merge-patch+json")
    assert code == 200, body  # not strict: the patch applies
    code, body = kube.http("DELETE", deployments + "/strict")
    assert code == 200, body
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
           "spec": {"containers": [{"name": "a", "image": "busybox"}], "nodeSelectr": {}}}
    code, body = kube.http("POST", "/api/v1/namespaces/default/pods?fieldValidation=Strict", json.dumps(pod).encode())
    assert code == 400 and body["message"] == 'strict decoding error: unknown field "spec.nodeSelectr"'
    big = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "big"}, "data": {"a": "x" * (4 << 20)}}
    code, body = kube.http("POST", base, json.dumps(big).encode())
    assert (code, body["reason"]) == (413, "RequestEntityTooLarge")
    code, body = kube.http("PATCH", base + "/x", b"{}", content_type="application/apply-patch+yaml")
    assert code == 400 and "fieldManager is required" in body["message"]
    code, body = kube.http("PATCH", base + "/x", b"{}", content_type="application/yaml")
    assert code == 415 and "application/yaml" in body["message"]


def test_kubectl_apply_reports_unknown_spec_fields(kube: Kube, tmp_path: pathlib.Path) -> None:
    manifest = tmp_path / "typo.yaml"
    manifest.write_text(MANIFESTS.replace("        image: nginx:1.27\n", "        image: nginx:1.27\n        imag: x\n")
                        .replace("  serviceName: db\n", "  serviceNam: db\n"))
    out = kube.kubectl("apply", "-f", str(manifest), check=False)
    assert out.returncode != 0
    assert 'unknown field "spec.template.spec.containers[0].imag"' in out.stderr, out.stderr
    assert 'unknown field "spec.serviceNam"' in out.stderr, out.stderr
    assert kube.kubectl("get", "deploy,sts", "-o", "name").stdout.strip() == ""  # neither was created
    assert "deleted" in kube.kubectl("delete", "service", "web").stdout  # the manifest's valid object was


def test_bearer_token_over_tls(tmp_path: pathlib.Path) -> None:
    with kube_server(token="s3cret", data_dir=str(tmp_path / "data")) as kube:
        assert kube.url.startswith("https://127.0.0.1:")  # --token implies TLS
        for token in ("wrong", ""):  # a wrong token, and none
            code, body = kube.http("GET", "/api/v1/namespaces", token=token)
            assert (code, body["kind"], body["reason"]) == (401, "Status", "Unauthorized")
        code, body = kube.http("GET", "/api/v1/namespaces")
        assert code == 200 and body["kind"] == "NamespaceList"
        config_doc = json.loads(pathlib.Path(kube.kubeconfig).read_text())
        assert config_doc["users"][0]["user"] == {"token": "s3cret"}  # the kubeconfig carries the token
        ca_pem = base64.b64decode(config_doc["clusters"][0]["cluster"]["certificate-authority-data"])
        assert ca_pem == (tmp_path / "data" / "tls" / "ca.crt").read_bytes()
        # kubectl checks the server's certificate against the kubeconfig's CA and sends the token
        assert "kube-system" in kube.kubectl("get", "ns").stdout
        assert "No resources found" in kube.kubectl("get", "pods").stderr
        # with another token: 401, which kubectl reports as Unauthorized
        config_doc["users"][0]["user"] = {"token": "guess"}
        anonymous = tmp_path / "anonymous"
        anonymous.write_text(json.dumps(config_doc))
        out = subprocess.run(["kubectl", "get", "pods"], capture_output=True, text=True, timeout=60,
                             stdin=subprocess.DEVNULL, env={**os.environ, "KUBECONFIG": str(anonymous)})
        assert out.returncode != 0 and "Unauthorized" in out.stderr, out.stderr
        # a client that does not trust the CA does not get through the handshake
        with pytest.raises(urllib.error.URLError) as refused:
            urllib.request.urlopen(kube.url + "/version", timeout=30, context=ssl.create_default_context())
        assert isinstance(refused.value.reason, ssl.SSLCertVerificationError)
        pytest.importorskip("kubernetes")
        from kubernetes import client, config
        from kubernetes.client.rest import ApiException

        core = client.CoreV1Api(config.new_client_from_config(config_file=kube.kubeconfig))
        assert "default" in [ns.metadata.name for ns in core.list_namespace().items]
        with pytest.raises(ApiException) as err:
            client.CoreV1Api(config.new_client_from_config(config_file=str(anonymous))).list_namespace()
        assert err.value.status == 401
    # a restart on the same data directory serves the same certificate authority
    with kube_server(tls=True, data_dir=str(tmp_path / "data")) as again:
        assert again.url.startswith("https://")
        cluster = json.loads(pathlib.Path(again.kubeconfig).read_text())["clusters"][0]["cluster"]
        assert base64.b64decode(cluster["certificate-authority-data"]) == ca_pem
        assert "kube-system" in again.kubectl("get", "ns").stdout


def test_python_client(kube: Kube) -> None:
    pytest.importorskip("kubernetes")
    from kubernetes import client, config, watch
    from kubernetes.client.rest import ApiException

    api_client = config.new_client_from_config(config_file=kube.kubeconfig)
    core, apps = client.CoreV1Api(api_client), client.AppsV1Api(api_client)
    for i, tier in enumerate(["front", "back", "front"]):
        core.create_namespaced_config_map("default", client.V1ConfigMap(
            metadata=client.V1ObjectMeta(name=f"py-{i}", labels={"tier": tier}), data={"n": str(i)}))
    assert core.read_namespaced_config_map("py-1", "default").data == {"n": "1"}
    front = core.list_namespaced_config_map("default", label_selector="tier=front")
    assert sorted(cm.metadata.name for cm in front.items) == ["py-0", "py-2"]
    page = core.list_namespaced_config_map("default", limit=2)
    assert len(page.items) == 2 and page.metadata._continue
    rest = core.list_namespaced_config_map("default", limit=2, _continue=page.metadata._continue)
    assert {cm.metadata.name for cm in page.items + rest.items} >= {"py-0", "py-1", "py-2"}
    only = core.list_namespaced_config_map("default", field_selector="metadata.name=py-1")
    assert [cm.metadata.name for cm in only.items] == ["py-1"]
    with pytest.raises(ApiException) as err:
        core.read_namespaced_config_map("nope", "default")
    assert err.value.status == 404
    patched = core.patch_namespaced_config_map("py-1", "default", {"data": {"m": "x"}})
    assert patched.data == {"n": "1", "m": "x"}
    dep = apps.create_namespaced_deployment("default", {
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "py-dep"},
        "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "py"}},
                 "template": {"metadata": {"labels": {"app": "py"}},
                              "spec": {"containers": [{"name": "a", "image": "busybox"}]}}}})
    assert dep.spec.replicas == 1
    scale = apps.patch_namespaced_deployment_scale("py-dep", "default", {"spec": {"replicas": 3}})
    assert scale.spec.replicas == 3 and apps.read_namespaced_deployment("py-dep", "default").spec.replicas == 3

    listed = core.list_namespaced_config_map("default", label_selector="tier=front")
    rv = listed.metadata.resource_version
    core.patch_namespaced_config_map("py-0", "default", {"data": {"n": "changed"}})
    seen = []
    for event in watch.Watch().stream(core.list_namespaced_config_map, "default", label_selector="tier=front",
                                      resource_version=rv, timeout_seconds=10):
        seen.append((event["type"], event["object"].metadata.name, event["object"].data["n"]))
        break
    assert seen == [("MODIFIED", "py-0", "changed")]

    # a watch from a compacted resourceVersion gets 410 Gone; the client lists again
    core.delete_namespaced_config_map("py-2", "default")
    kube.compact()
    with pytest.raises(ApiException) as gone:
        for _event in watch.Watch().stream(core.list_namespaced_config_map, "default", resource_version=rv,
                                           timeout_seconds=10):
            pass
    assert gone.value.status == 410
    relisted = core.list_namespaced_config_map("default", label_selector="tier=front")
    assert [cm.metadata.name for cm in relisted.items] == ["py-0"]
    core.delete_namespaced_config_map("py-0", "default", body=client.V1DeleteOptions(propagation_policy="Background"))
    core.delete_namespaced_config_map("py-1", "default")
    apps.delete_namespaced_deployment("py-dep", "default")
    assert [cm.metadata.name for cm in core.list_namespaced_config_map("default").items
            if cm.metadata.name.startswith("py-")] == []


def test_explain_and_openapi_v3(kube: Kube) -> None:
    spec = kube.kubectl("explain", "deployment.spec").stdout
    assert "KIND:       Deployment" in spec and "FIELD: spec <DeploymentSpec>" in spec, spec
    assert "replicas\t<integer>" in spec and "How many pods are wanted" in spec
    assert "template\t<PodTemplateSpec>" in spec
    image = kube.kubectl("explain", "pod.spec.containers.image").stdout
    assert "FIELD: image <string>" in image and "The container image to run." in image
    missing = kube.kubectl("explain", "deployment.spec.replicaz", check=False)
    assert missing.returncode != 0 and "replicaz" in missing.stderr
    code, index = kube.http("GET", "/openapi/v3")
    assert code == 200 and "apis/apps/v1" in index["paths"]
    code, doc = kube.http("GET", index["paths"]["apis/apps/v1"]["serverRelativeURL"])
    assert code == 200
    assert doc["components"]["schemas"]["io.k8s.api.apps.v1.Deployment"]["x-kubernetes-group-version-kind"] == [
        {"group": "apps", "version": "v1", "kind": "Deployment"}]


def test_dry_run(kube: Kube, tmp_path: pathlib.Path) -> None:
    manifest = tmp_path / "app.yaml"
    manifest.write_text(MANIFESTS)
    out = kube.kubectl("apply", "--dry-run=server", "-f", str(manifest)).stdout
    assert "deployment.apps/web created (server dry run)" in out and "service/web created (server dry run)" in out
    assert kube.kubectl("get", "deploy,svc,sts", "-o", "name").stdout.strip() == ""  # nothing stored
    # validation and defaulting happen in a dry run too
    dep, _end = json.JSONDecoder().raw_decode(
        kube.kubectl("create", "--dry-run=server", "-o", "json", "-f", str(manifest)).stdout)  # the first object
    assert dep["kind"] == "Deployment"
    assert dep["spec"]["strategy"]["type"] == "RollingUpdate" and dep["metadata"]["uid"]
    bad = tmp_path / "bad.yaml"
    bad.write_text(MANIFESTS.split("---")[0].replace("name: web\n  labels", "name: Web_1\n  labels", 1))
    out = kube.kubectl("apply", "--dry-run=server", "-f", str(bad), check=False)
    assert out.returncode != 0 and "Invalid" in out.stderr, out.stderr
    kube.kubectl("apply", "-f", str(manifest))
    assert "(server dry run)" in kube.kubectl("scale", "deployment", "web", "--replicas=7", "--dry-run=server").stdout
    assert "(server dry run)" in kube.kubectl("delete", "deployment", "web", "--dry-run=server").stdout
    assert kube.kubectl("get", "deploy", "web", "-o", "jsonpath={.spec.replicas}").stdout == "2"
    patched = kube.kubectl("patch", "deployment", "web", "--dry-run=server", "-o", "json", "-p",
                           '{"spec":{"replicas":9}}')
    assert json.loads(patched.stdout)["spec"]["replicas"] == 9
    assert kube.kubectl("get", "deploy", "web", "-o", "jsonpath={.spec.replicas}").stdout == "2"
    code, body = kube.http("DELETE", "/apis/apps/v1/namespaces/default/deployments/web?dryRun=Some")
    assert code == 400 and "dryRun" in body["message"]
    kube.kubectl("delete", "-f", str(manifest))


def test_field_validation_modes(kube: Kube) -> None:
    base = "/api/v1/namespaces/default/configmaps"
    cm = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "fv"}, "data": {"a": "b"}, "dta": {}}
    code, _body, headers = kube.http_headers("POST", base + "?fieldValidation=Warn", json.dumps(cm).encode())
    assert code == 201 and ("Warning", '299 - "unknown field \\"dta\\""') in headers
    code, _body, headers = kube.http_headers("PUT", base + "/fv?fieldValidation=Ignore", json.dumps(cm).encode())
    assert code == 200 and not [h for h in headers if h[0] == "Warning"]
    code, _body, headers = kube.http_headers("PUT", base + "/fv", json.dumps(cm).encode())  # Warn by default
    assert code == 200 and [h for h in headers if h[0] == "Warning"]
    code, body = kube.http("PUT", base + "/fv?fieldValidation=Loose", json.dumps(cm).encode())
    assert code == 400 and "fieldValidation" in body["message"]
    kube.http("DELETE", base + "/fv")


def test_kubectl_create_sends_protobuf(kube: Kube) -> None:
    """kubectl's typed generators send protobuf bodies."""
    assert "configmap/pb created" in kube.kubectl("create", "configmap", "pb", "--from-literal=k=v").stdout
    cm = json.loads(kube.kubectl("get", "cm", "pb", "-o", "json").stdout)
    assert cm["data"] == {"k": "v"}
    assert "service/pbsvc created" in kube.kubectl("create", "service", "clusterip", "pbsvc", "--tcp=80:8080").stdout
    svc = json.loads(kube.kubectl("get", "svc", "pbsvc", "-o", "json").stdout)
    assert svc["spec"]["ports"][0]["port"] == 80 and svc["spec"]["ports"][0]["targetPort"] == 8080
    out = kube.kubectl("create", "deployment", "pbdep", "--image=nginx:1.27", "--replicas=2", "--port=80")
    assert "deployment.apps/pbdep created" in out.stdout
    dep = json.loads(kube.kubectl("get", "deploy", "pbdep", "-o", "json").stdout)
    assert dep["spec"]["replicas"] == 2
    assert dep["spec"]["template"]["spec"]["containers"][0]["ports"][0]["containerPort"] == 80
    kube.kubectl("delete", "deploy/pbdep", "svc/pbsvc", "cm/pb")


@pytest.fixture(scope="module")
def control_plane() -> Iterator[Kube]:
    with kube_server(extra=("--controllers", "--nodes", "3")) as k:
        yield k


def _pods(kube: Kube, selector: str) -> list[dict]:
    items: list[dict] = json.loads(kube.kubectl("get", "pods", "-l", selector, "-o", "json").stdout)["items"]
    return items


def _wait(what: str, check: object, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():  # type: ignore[operator]
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.3)


def test_controllers_run_kubectl_deployments(control_plane: Kube) -> None:
    kube = control_plane
    def nodes_ready() -> list[str]:  # a kubelet creates its Node, then writes its status
        nodes = json.loads(kube.kubectl("get", "nodes", "-o", "json").stdout)["items"]
        return sorted(n["metadata"]["name"] for n in nodes if {"type": "Ready", "status": "True", "reason": "KubeletReady"}
                      in (n.get("status") or {}).get("conditions", ()))
    _wait("three Ready nodes", lambda: nodes_ready() == ["node-1", "node-2", "node-3"])
    assert "deployment.apps/web created" in kube.kubectl("create", "deployment", "web", "--image=nginx",
                                                         "--replicas=3").stdout
    out = kube.kubectl("rollout", "status", "deployment/web", "--timeout=90s", timeout=120).stdout
    assert 'deployment "web" successfully rolled out' in out
    pods = _pods(kube, "app=web")
    assert len(pods) == 3 and all(p["status"]["phase"] == "Running" for p in pods)
    assert {p["spec"]["nodeName"] for p in pods} <= {"node-1", "node-2", "node-3"}
    assert len({p["status"]["podIP"] for p in pods}) == 3
    rows = kube.kubectl("get", "pods", "-l", "app=web", "--no-headers").stdout.splitlines()
    assert len(rows) == 3 and all(r.split()[1:3] == ["1/1", "Running"] for r in rows), rows
    assert kube.kubectl("get", "deploy", "web", "--no-headers").stdout.split()[1] == "3/3"
    # a new image rolls out: new pods replace the old ones
    kube.kubectl("set", "image", "deployment/web", "nginx=nginx:1.27")
    assert "successfully rolled out" in kube.kubectl("rollout", "status", "deployment/web", "--timeout=90s",
                                                     timeout=120).stdout
    _wait("three pods of the new image", lambda: sorted(
        (p["spec"]["containers"][0]["image"], p["status"].get("phase")) for p in _pods(kube, "app=web")
        if not p["metadata"].get("deletionTimestamp")) == [("nginx:1.27", "Running")] * 3)
    history = kube.kubectl("rollout", "history", "deployment/web").stdout
    assert "1 " in history and "2 " in history
    kube.kubectl("scale", "deployment", "web", "--replicas=1")
    _wait("one pod", lambda: len(_pods(kube, "app=web")) == 1)
    assert "successfully rolled out" in kube.kubectl("rollout", "status", "deployment/web", "--timeout=60s",
                                                     timeout=90).stdout
    # deleted: the garbage collector takes its ReplicaSets and their pods
    kube.kubectl("delete", "deployment", "web", timeout=90)
    _wait("the Deployment's pods and ReplicaSets collected", lambda: not _pods(kube, "app=web") and not json.loads(
        kube.kubectl("get", "replicasets", "-l", "app=web", "-o", "json").stdout)["items"])


def test_controllers_with_the_python_client(control_plane: Kube) -> None:
    pytest.importorskip("kubernetes")
    from kubernetes import client, config

    api_client = config.new_client_from_config(config_file=control_plane.kubeconfig)
    core, apps = client.CoreV1Api(api_client), client.AppsV1Api(api_client)
    apps.create_namespaced_deployment("default", client.V1Deployment(
        metadata=client.V1ObjectMeta(name="api"),
        spec=client.V1DeploymentSpec(
            replicas=2, selector=client.V1LabelSelector(match_labels={"app": "api"}),
            template=client.V1PodTemplateSpec(
                metadata=client.V1ObjectMeta(labels={"app": "api"}),
                spec=client.V1PodSpec(containers=[client.V1Container(name="api", image="busybox")])))))

    def ready() -> bool:
        status = apps.read_namespaced_deployment_status("api", "default").status
        return status.available_replicas == 2 and status.updated_replicas == 2
    _wait("the Deployment's two available replicas", ready)
    pods = core.list_namespaced_pod("default", label_selector="app=api").items
    assert len(pods) == 2 and all(p.status.phase == "Running" and p.spec.node_name for p in pods)
    replicasets = apps.list_namespaced_replica_set("default", label_selector="app=api").items
    assert len(replicasets) == 1 and replicasets[0].metadata.owner_references[0].kind == "Deployment"


def test_server_side_apply(kube: Kube, tmp_path: pathlib.Path) -> None:
    manifest = tmp_path / "web.yaml"
    first = MANIFESTS.split("---")[0]
    manifest.write_text(first)
    assert "deployment.apps/web serverside-applied" in kube.kubectl("apply", "--server-side", "-f", str(manifest)).stdout
    dep = json.loads(kube.kubectl("get", "deploy", "web", "-o", "json", "--show-managed-fields").stdout)
    [entry] = dep["metadata"]["managedFields"]
    assert (entry["manager"], entry["operation"], entry["apiVersion"]) == ("kubectl", "Apply", "apps/v1")
    containers = entry["fieldsV1"]["f:spec"]["f:template"]["f:spec"]["f:containers"]
    assert set(containers['k:{"name":"nginx"}']) == {".", "f:name", "f:image", "f:ports", "f:env"}
    # a scale through the scale subresource takes spec.replicas: re-applying another count conflicts
    kube.kubectl("scale", "deployment", "web", "--replicas=4")
    out = kube.kubectl("apply", "--server-side", "-f", str(manifest), check=False)
    assert out.returncode != 0, out.stdout
    assert 'Apply failed with 1 conflict: conflict with "kubectl" with subresource "scale" using apps/v1: ' \
           ".spec.replicas" in out.stderr, out.stderr
    assert kube.kubectl("get", "deploy", "web", "-o", "jsonpath={.spec.replicas}").stdout == "4"
    kube.kubectl("apply", "--server-side", "--force-conflicts", "-f", str(manifest))
    assert kube.kubectl("get", "deploy", "web", "-o", "jsonpath={.spec.replicas}").stdout == "2"
    # a label applied once and then left out of the manifest is removed; a field another manager set stays
    manifest.write_text(first.replace("labels: {app: web}\nspec", "labels: {app: web, tier: front}\nspec", 1))
    kube.kubectl("apply", "--server-side", "-f", str(manifest))
    kube.kubectl("patch", "deployment", "web", "-p", '{"spec":{"minReadySeconds":5}}')
    manifest.write_text(first)
    kube.kubectl("apply", "--server-side", "-f", str(manifest))
    dep = json.loads(kube.kubectl("get", "deploy", "web", "-o", "json").stdout)
    assert dep["metadata"]["labels"] == {"app": "web"} and dep["spec"]["minReadySeconds"] == 5
    # an apply body in YAML
    code, body = kube.http("PATCH", "/apis/apps/v1/namespaces/default/deployments/web?fieldManager=ci&force=true",
                           first.replace("replicas: 2", "replicas: 3").encode(),
                           content_type="application/apply-patch+yaml")
    assert code == 200 and body["spec"]["replicas"] == 3, body
    # the official client's apply
    pytest.importorskip("kubernetes")
    from kubernetes import client, config

    apps = client.AppsV1Api(config.new_client_from_config(config_file=kube.kubeconfig))
    config_obj = yaml.safe_load(first.replace("replicas: 2", "replicas: 1"))
    applied = apps.patch_namespaced_deployment("web", "default", config_obj, field_manager="py", force=True,
                                               _content_type="application/apply-patch+yaml")
    assert applied.spec.replicas == 1
    managers = {(e.manager, e.operation) for e in apps.read_namespaced_deployment("web", "default").metadata.managed_fields}
    assert {("py", "Apply"), ("ci", "Apply"), ("kubectl", "Apply")} <= managers
    kube.kubectl("delete", "deployment", "web")


def test_certificates_are_valid_from_an_hour_before_the_given_time(tmp_path: pathlib.Path) -> None:
    import datetime

    from cryptography import x509

    from kube.tls import VALID_DAYS, ensure_certificates

    now_us = 1_800_000_000 * 1_000_000
    certs = ensure_certificates(str(tmp_path), now_us=now_us)
    for path in (certs.ca_cert, certs.server_cert, certs.client_cert):
        cert = x509.load_pem_x509_certificate(pathlib.Path(path).read_bytes())
        start = cert.not_valid_before_utc
        assert start == datetime.datetime.fromtimestamp(now_us // 1_000_000 - 3600, datetime.UTC)
        assert cert.not_valid_after_utc - start == datetime.timedelta(days=VALID_DAYS)
