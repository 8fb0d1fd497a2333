"""``raftkv kube serve``: the apiserver over HTTP for kubectl and Kubernetes clients.

Backed by an embedded single raftkv member (its data in ``--data-dir``), or with
``--etcd URL[,URL...]`` by a running etcd 3.4 or raftkv cluster through its JSON gateway
(:class:`raftkv.client.GatewayEtcdClient`).  ``--kubeconfig PATH`` writes a kubeconfig
for the server's address (and ``--token``), so ``KUBECONFIG=PATH kubectl ...`` works.
"""

from __future__ import annotations

import argparse
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
from .httpapi import KubeHttp

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
    s.add_argument("--data-dir", help="the embedded member's data directory (default a temporary one)")
    s.add_argument("--kubeconfig", metavar="PATH", help="write a kubeconfig for this server to PATH")
    s.add_argument("--token", help="require this static bearer token (the kubeconfig carries it)")
    s.add_argument("--compact-interval-s", type=float, default=300.0,
                   help="compact the store every this many seconds, as kube-apiserver does (0: never)")
    s.add_argument("--log-level", default="warning", choices=("debug", "info", "warning", "error"))


def kubeconfig(server_url: str, token: str = "") -> dict[str, Any]:
    """A kubeconfig (JSON is YAML) with one cluster, user and current context ``raftkv``."""
    return {"apiVersion": "v1", "kind": "Config", "preferences": {},
            "clusters": [{"name": "raftkv", "cluster": {"server": server_url}}],
            "users": [{"name": "raftkv", "user": {"token": token} if token else {}}],
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
    async with trio.open_nursery() as nursery:
        if args.etcd:
            endpoints = [u.strip() for u in args.etcd.split(",") if u.strip()]
            for url in endpoints:
                parse_addr(url)
            backend = "etcd " + ",".join(endpoints)
        else:
            data_dir = args.data_dir or tempfile.mkdtemp(prefix="raftkv-kube-")
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
        shown = f"[{host}]" if ":" in host else host
        front = KubeHttp(server, token=args.token or "", address=f"{shown}:{port}")
        bound = await nursery.start(serve_http, (host, port), front.handle)
        front.address = f"{shown}:{bound}"
        url = f"http://{shown}:{bound}"
        if args.kubeconfig:
            with open(args.kubeconfig, "w") as f:
                json.dump(kubeconfig(url, args.token or ""), f, indent=2)
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

