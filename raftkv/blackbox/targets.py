"""The clusters ``raftkv test-cluster`` runs against: raftkv members (``raftkv serve``
processes), etcd 3.4 members, or endpoints someone else runs (``--attach``).

Both kinds of started cluster are :class:`~raftkv.runtime.cluster.LocalCluster` s: named
``n1..nN``, data in a temporary folder, each member's output in ``LOG_DIR/NAME.log``, and
the process faults SIGKILL, SIGSTOP/SIGCONT and restart from disk.  Peers reach each other
at ``advertise_ports`` (the peer proxy's, see :mod:`raftkv.blackbox.proxy`).
"""

from __future__ import annotations

import hashlib
import os
import random
import shutil
import struct

from raftkv.runtime.cluster import LocalCluster

from .proxy import Owner, PeerProxy, identify_etcd, identify_raftkv
from .sockets import dialler_of

__all__ = ["ETCD_CLUSTER_TOKEN", "EtcdCluster", "etcd_member_id", "find_etcd", "member_dialling", "peer_proxy",
           "raftkv_cluster", "tear_wal_tail"]

ETCD_CLUSTER_TOKEN = "raftkv-test-cluster"


def find_etcd() -> str:
    """The etcd binary (Debian's ``etcd-server``); ValueError saying how to install it."""
    path = shutil.which("etcd")
    if path is None:
        raise ValueError("etcd is not installed (apt-get install -y etcd-server)")
    return path


def etcd_member_id(peer_urls: list[str], token: str) -> int:
    """The id etcd gives a member of a new cluster: the first 8 bytes (big-endian) of the
    SHA-1 of its sorted peer URLs and the cluster token (etcd's membership.NewMember)."""
    digest = hashlib.sha1(("".join(sorted(peer_urls)) + token).encode()).digest()
    return int(struct.unpack(">Q", digest[:8])[0])


class EtcdCluster(LocalCluster):
    """``members`` etcd processes on loopback, election timeout ``election_timeout_ms``."""

    def __init__(self, members: int = 3, *, etcd: str, data_dir: str | None = None,
                 log_dir: str | None = None, election_timeout_ms: int = 500,
                 heartbeat_interval_ms: int = 50, stderr: int | None = None) -> None:
        super().__init__(members, data_dir=data_dir, log_dir=log_dir, stderr=stderr)
        self.etcd = etcd
        self.election_timeout_ms = election_timeout_ms
        self.heartbeat_interval_ms = heartbeat_interval_ms

    def peer_url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.advertise_ports[name]}"

    def member_id(self, name: str) -> str:
        return str(etcd_member_id([self.peer_url(name)], ETCD_CLUSTER_TOKEN))

    def command(self, name: str) -> list[str]:
        initial = ",".join(f"{n}={self.peer_url(n)}" for n in self.names)
        return [self.etcd, "--name", name, "--data-dir", os.path.join(self.data_dir, name),
                "--listen-client-urls", self.client_url(name),
                "--advertise-client-urls", self.client_url(name),
                "--listen-peer-urls", f"http://127.0.0.1:{self.peer_ports[name]}",
                "--initial-advertise-peer-urls", self.peer_url(name),
                "--initial-cluster", initial, "--initial-cluster-state", "new",
                "--initial-cluster-token", ETCD_CLUSTER_TOKEN,
                "--heartbeat-interval", str(self.heartbeat_interval_ms),
                "--election-timeout", str(self.election_timeout_ms)]


def member_dialling(cluster: LocalCluster) -> Owner:
    """The peer proxy's ``owner``: which of ``cluster`` 's running members dialled a
    connection (by its source port)."""

    def owner(source_port: int, dest_port: int) -> str | None:
        pids = {n: p.pid for n, p in sorted(cluster.procs.items()) if p.poll() is None}
        return dialler_of(source_port, dest_port, pids)

    return owner


def peer_proxy(cluster: LocalCluster, *, rng: random.Random) -> PeerProxy:
    """The peer proxy in front of ``cluster`` 's members (made their advertised peer ports:
    start it before the members).  etcd members' connections are known by ``X-Server-From``
    or, for requests without it, by the process that dialled them."""
    proxy = PeerProxy(cluster.peer_ports, identify_raftkv, rng=rng)
    cluster.advertise_ports = dict(proxy.ports)  # etcd's member ids depend on them
    if isinstance(cluster, EtcdCluster):
        proxy.identify = identify_etcd({format(int(cluster.member_id(n)), "x"): n for n in cluster.names})
        proxy.owner = member_dialling(cluster)
    return proxy


def raftkv_cluster(members: int, *, bugs: tuple[str, ...], log_dir: str | None) -> LocalCluster:
    """``raftkv serve`` members with short timeouts (a run lasts seconds), each losing what
    it had not fsynced when killed (``--lose-unsynced``: a SIGKILL is a power cut)."""
    extra = ("--request-timeout-ms", "1500", "--log-level", "info", "--lose-unsynced")
    return LocalCluster(members, bugs=bugs, extra_args=extra, log_dir=log_dir)


def tear_wal_tail(data_dir: str, rng_bytes: bytes) -> str | None:
    """Leave a torn record at the end of a (killed) raftkv member's newest WAL segment, as
    a crash in the middle of an unsynced write does: a header promising more bytes than
    follow.  The member must cut it off on restart and lose nothing it had synced.  The
    segment's path, or None when the member has no WAL yet."""
    wal_dir = os.path.join(data_dir, "wal")
    try:
        segments = sorted(n for n in os.listdir(wal_dir) if n.endswith(".wal"))
    except FileNotFoundError:
        return None
    if not segments:
        return None
    path = os.path.join(wal_dir, segments[-1])
    assert len(rng_bytes) >= 1
    with open(path, "ab") as f:  # length 1000, some checksum, fewer than 1000 bytes
        f.write(struct.pack(">II", 1000, 0x5EED) + rng_bytes)
    return path
