"""``raftkv kube serve``: the apiserver over HTTP for kubectl and Kubernetes clients.

Backed by an embedded single raftkv member (its data in ``--data-dir``), or with
``--etcd URL[,URL...]`` by a running etcd 3.4 or raftkv cluster through its JSON gateway
(:class:`raftkv.client.GatewayEtcdClient`).  ``--kubeconfig PATH`` writes a kubeconfig
for the server's address (and ``--token``), so ``KUBECONFIG=PATH kubectl ...`` works.
``--tls`` (on whenever ``--token`` is given) serves HTTPS with a self-signed certificate
authority generated into the data directory (:mod:`kube.tls`); the kubeconfig carries it.
"""

from __future__ import annotations

import argparse
import base64
import functools
import ipaddress
import json
import logging
import os
import signal
import socket
import sys
import tempfile
from typing import Any

import trio

from raftkv.client import GatewayEtcdClient
from raftkv.runtime import (
    MemberConfig,
    TrioRuntime,
    WALCorruptError,
    first_leaf,
    parse_addr,
    run_member,
    serve_http,
)

from . import errors
from .apiserver import ApiServer
from .controller_manager import ControlPlane, node_configs
from .httpapi import KubeHttp
from .inprocess import InProcessTransport
from .tls import ensure_certificates, server_context

__all__ = ["SYSTEM_NAMESPACES", "add_kube_parser", "cmd_kube", "kubeconfig", "run_kube_server"]

EXIT_OK, EXIT_BAD_INPUT = 0, 3
SYSTEM_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")


def add_kube_parser(sub: argparse._SubParsersAction[Any]) -> None:
    p = sub.add_parser("kube", help="the Kubernetes-like control plane: 'raftkv kube serve'",
                       description="The kube apiserver on raftkv.")
    kube_sub = p.add_subparsers(dest="kube_command", metavar="COMMAND")
    s = kube_sub.add_parser(
        "serve", help="serve the kube apiserver over HTTP (for kubectl and Kubernetes clients)",
        description="Serve the kube apiserver over HTTP on --listen, backed by an embedded raftkv "
                    "member (data in --data-dir) or by a running etcd 3.4 / raftkv cluster (--etcd). "
                    "Stops on SIGTERM or SIGINT.")
    s.add_argument("--listen", default="127.0.0.1:8080", help="host:port to serve on (default 127.0.0.1:8080; "
                                                              "port 0 picks a free one)")
    s.add_argument("--etcd", metavar="URLS", help="a running cluster's client URLs, comma-separated "
                                                  "(default: an embedded raftkv member)")
    s.add_argument("--data-dir", help="the embedded member's data directory and the TLS certificates' "
                                      "(default a temporary one)")
    s.add_argument("--kubeconfig", metavar="PATH", help="write a kubeconfig for this server to PATH")
    s.add_argument("--token", help="require this static bearer token (the kubeconfig carries it; implies --tls)")
    s.add_argument("--tls", action="store_true",
                   help="serve HTTPS with a self-signed certificate authority generated into the data directory's "
                        "'tls' folder (the kubeconfig carries it)")
    s.add_argument("--compact-interval-s", type=float, default=300.0,
                   help="compact the store every this many seconds, as kube-apiserver does (0: never)")
    s.add_argument("--controllers", action="store_true",
                   help="also run the controller manager (ReplicaSet, Deployment), the scheduler and --nodes "
                        "simulated nodes in this process, so workloads get running pods")
    s.add_argument("--nodes", type=int, default=3, metavar="N",
                   help="with --controllers: how many simulated nodes (kubelets) to run (default 3)")
    s.add_argument("--log-level", default="warning", choices=("debug", "info", "warning", "error"))


def kubeconfig(server_url: str, token: str = "", ca_pem: bytes = b"",
               client_pem: tuple[bytes, bytes] | None = None) -> dict[str, Any]:
    """A kubeconfig (JSON is YAML) with one cluster, user and current context ``raftkv``;
    ``ca_pem``: the certificate authority an ``https`` server's certificate is checked with;
    ``client_pem``: a client certificate and key the user presents (when there is no token)."""
    def b64(data: bytes) -> str:
        return base64.b64encode(data).decode("ascii")

    cluster: dict[str, str] = {"server": server_url}
    if ca_pem:
        cluster["certificate-authority-data"] = b64(ca_pem)
    user: dict[str, str] = {}
    if token:
        user["token"] = token
    elif client_pem:
        user["client-certificate-data"], user["client-key-data"] = b64(client_pem[0]), b64(client_pem[1])
    return {"apiVersion": "v1", "kind": "Config", "preferences": {},
            "clusters": [{"name": "raftkv", "cluster": cluster}],
            "users": [{"name": "raftkv", "user": user}],
            "contexts": [{"name": "raftkv", "context": {"cluster": "raftkv", "user": "raftkv",
                                                        "namespace": "default"}}],
            "current-context": "raftkv"}


def _free_port(host: str) -> int:
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def _listen(text: str) -> tuple[str, int]:
    rest = text.split("://", 1)[1] if "://" in text else text
    host, sep, port = rest.rstrip("/").rpartition(":")
    if not sep or not host or not port.isdigit() or int(port) > 65535:
        raise ValueError(f"--listen {text!r} is not host:port")
    return host.strip("[]"), int(port)


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


async def _ensure_namespaces(server: ApiServer) -> None:
    store = server.stores["namespaces"]
    for name in SYSTEM_NAMESPACES:
        try:
            await store.create("", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
        except errors.ApiError as exc:
            if exc.code != 409:
                raise


async def run_kube_server(args: argparse.Namespace, *,
                          task_status: trio.TaskStatus[str] = trio.TASK_STATUS_IGNORED) -> None:
    """Serve until cancelled; ``task_status.started(url)`` once serving."""
    host, port = _listen(args.listen)
    data_dir = args.data_dir or tempfile.mkdtemp(prefix="raftkv-kube-")
    async with trio.open_nursery() as nursery:
        if args.etcd:
            endpoints = [u.strip() for u in args.etcd.split(",") if u.strip()]
            for url in endpoints:
                parse_addr(url)
            backend = "etcd " + ",".join(endpoints)
        else:
            peer = f"http://127.0.0.1:{_free_port('127.0.0.1')}"
            config = MemberConfig(name="kube", data_dir=data_dir, listen_peer=peer,
                                  listen_client=f"127.0.0.1:{_free_port('127.0.0.1')}",
                                  initial_cluster=(("kube", peer),))
            member = await nursery.start(run_member, config)
            endpoints = [member.client_url]
            backend = f"embedded raftkv member at {member.client_url}, data in {data_dir}"
        etcd = GatewayEtcdClient(endpoints)
        rt = TrioRuntime(nursery, node_id="kube-apiserver")
        server = ApiServer(rt, etcd)
        with trio.fail_after(30):
            await _ensure_namespaces(server)
        nursery.start_soon(lambda: server.run(compact_interval_s=args.compact_interval_s or None))
        if args.controllers:
            plane = ControlPlane(rt, lambda: InProcessTransport(rt, server), nodes=node_configs(args.nodes))
            nursery.start_soon(plane.run)
            backend += f", controllers, scheduler and {args.nodes} node(s)"
        shown = f"[{host}]" if ":" in host else host
        front = KubeHttp(server, token=args.token or "", address=f"{shown}:{port}")
        ca_pem, client_pem, ssl_context = b"", None, None
        if args.tls or args.token:
            certs = ensure_certificates(os.path.join(data_dir, "tls"), host, now_us=rt.now_us())
            ca_pem, client_pem, ssl_context = certs.ca_pem(), certs.client_pem(), server_context(certs)
            backend += f", TLS certificate authority {certs.ca_cert}"
        bound = await nursery.start(functools.partial(serve_http, ssl_context=ssl_context), (host, port), front.handle)
        front.address = f"{shown}:{bound}"
        url = f"{'https' if ssl_context else 'http'}://{shown}:{bound}"
        if args.kubeconfig:
            with open(args.kubeconfig, "w") as f:
                json.dump(kubeconfig(url, args.token or "", ca_pem, client_pem), f, indent=2)
            os.chmod(args.kubeconfig, 0o600)
        print(f"kube apiserver at {url} ({backend})", flush=True)
        task_status.started(url)


async def _main(args: argparse.Namespace) -> None:
    with trio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
        async with trio.open_nursery() as nursery:
            await nursery.start(run_kube_server, args)
            async for _ in signals:
                nursery.cancel_scope.cancel()
                break


def cmd_kube(args: argparse.Namespace) -> int:
    if getattr(args, "kube_command", None) != "serve":
        print("raftkv kube: error: say 'raftkv kube serve' (see 'raftkv kube serve --help')", file=sys.stderr)
        return EXIT_BAD_INPUT
    logging.basicConfig(level=args.log_level.upper(), stream=sys.stderr,
                        format="%(asctime)s %(name)s %(levelname)s %(message)s")
    try:
        host, _port = _listen(args.listen)
        node_configs(args.nodes)  # a bad --nodes fails before anything starts
        if not _loopback(host) and not args.token:
            print(f"raftkv kube serve: warning: serving on {host} to anyone who can reach it, with no --token",
                  file=sys.stderr)
        try:
            trio.run(_main, args)
        except BaseExceptionGroup as group:
            raise first_leaf(group) from None
        return EXIT_OK
    except (ValueError, WALCorruptError, errors.ApiError) as e:
        print(f"raftkv kube serve: error: {e}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except trio.TooSlowError:
        print("raftkv kube serve: error: the store did not answer within 30 s", file=sys.stderr)
        return EXIT_BAD_INPUT
    except OSError as e:
        print(f"raftkv kube serve: error: {e.strerror or e}", file=sys.stderr)
        return EXIT_BAD_INPUT

