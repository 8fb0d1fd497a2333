"""One real raftkv member: a :class:`~raftkv.kv.server.KVServer` on trio, with its WAL, peer
transport and etcd JSON gateway.

:func:`run_member` is what ``raftkv serve`` runs; embed it in your own trio program::

    config = MemberConfig(name="n1", data_dir="/var/lib/raftkv/n1",
                          listen_peer="127.0.0.1:2380", listen_client="127.0.0.1:2379",
                          initial_cluster=(("n1", "http://127.0.0.1:2380"),))
    async with trio.open_nursery() as nursery:
        member = await nursery.start(run_member, config)
        print(member.client_url)
"""

from __future__ import annotations

import logging
import os
import random
from collections.abc import Hashable
from typing import Any

import attrs
import trio

from raftkv.bugs import bug_set
from raftkv.client import Client, ClientConfig
from raftkv.client.etcdjson import member_id
from raftkv.env import Env
from raftkv.kv.server import KVServer, ServerConfig
from raftkv.raft import RaftConfig
from raftkv.raft.durable import LOG_FILE, SNAP_FILE
from raftkv.raft.messages import Message, MessageType

from .disk import FileDisk
from .gateway import Gateway
from .host import ActorHost
from .http import serve_http
from .transport import Transport, parse_addr

__all__ = ["MemberConfig", "RunningMember", "run_member"]

log = logging.getLogger("raftkv.member")


@attrs.frozen(kw_only=True)
class MemberConfig:
    """A member's settings (``raftkv serve``'s flags)."""

    name: str
    data_dir: str
    listen_peer: str  # [http://]host:port
    listen_client: str
    initial_cluster: tuple[tuple[str, str], ...]  # (name, peer URL) of every member
    join: bool = False
    bugs: tuple[str, ...] = ()
    tick_us: int = 10_000
    election_timeout_ticks: int = 50
    heartbeat_ticks: int = 5
    snapshot_interval_entries: int = 10_000
    request_timeout_us: int = 5_000_000
    seed: int | None = None
    # a power cut at every crash: writes not fsynced are lost by SIGKILL (FileDisk lose_unsynced)
    lose_unsynced: bool = False

    def __attrs_post_init__(self) -> None:
        names = [n for n, _ in self.initial_cluster]
        if self.name not in names:
            raise ValueError(f"--initial-cluster must list this member ({self.name})")
        if len(set(names)) != len(names):
            raise ValueError("--initial-cluster names a member twice")
        for name, url in self.initial_cluster:
            if not name or "/" in name:
                raise ValueError(f"member name {name!r} must be non-empty and have no '/'")
            parse_addr(url)
        parse_addr(self.listen_peer)
        parse_addr(self.listen_client)
        bug_set(self.bugs)

    def raft_config(self) -> RaftConfig:
        return RaftConfig(election_timeout_ticks=self.election_timeout_ticks,
                          heartbeat_ticks=self.heartbeat_ticks,
                          snapshot_interval_entries=self.snapshot_interval_entries,
                          compaction_keep_entries=min(1000, self.snapshot_interval_entries),
                          max_inflight_msgs=256, max_entries_per_msg=512,
                          bugs=frozenset(self.bugs))


class GatewayClientActor:
    """Hosts the gateway's :class:`Client` (actor ``<member>/gw``)."""

    def __init__(self, env: Env, members: tuple[str, ...], config: ClientConfig, bugs: frozenset[str]) -> None:
        self.client = Client(env, members, config=config, bugs=bugs)

    def on_start(self) -> None:
        pass

    def on_message(self, src: str, msg: Any) -> None:
        self.client.on_message(src, msg)

    def on_timer(self, tag: Hashable) -> None:
        self.client.on_timer(tag)


@attrs.define
class RunningMember:
    config: MemberConfig
    server: KVServer
    gateway: Gateway
    transport: Transport
    host: ActorHost
    disk: FileDisk
    client_port: int
    peer_port: int

    @property
    def client_url(self) -> str:
        host, _ = parse_addr(self.config.listen_client)
        return f"http://{host}:{self.client_port}"


_EARLY = (MessageType.APPEND, MessageType.HEARTBEAT)


def _leader_replication(msg: object) -> bool:
    """A leader's appends and heartbeats may leave before its own log is synced (Raft
    thesis 10.2.1): followers' acknowledgements are read only after the sync."""
    return isinstance(msg, Message) and msg.type in _EARLY


def cluster_id_of(names: tuple[str, ...]) -> int:
    return member_id(",".join(sorted(names)))


def log_fast_forward(ticks: int) -> None:
    if ticks:
        log.info("a fresh cluster: the election clock advanced %d ticks", ticks)


async def _fast_forward_election(server: KVServer, host: ActorHost, transport: Transport,
                                 election_timeout_us: int) -> None:
    """A new cluster's first election, sooner (etcd's start-up fast-forward): once a
    peer is reachable (waiting up to a few election timeouts for one), a fresh member
    advances its election clock (:meth:`RaftHost.fast_forward_election`); a member that
    restarts from disk, or has heard from a leader, is left alone."""
    with trio.move_on_after(3 * election_timeout_us / 1e6):
        while transport.peers and not any(p.connected for p in transport.peers.values()):
            await trio.sleep(0.005)
        host.call(lambda: log_fast_forward(server.raft_host.fast_forward_election()))


async def run_member(config: MemberConfig, *,
                     task_status: trio.TaskStatus[RunningMember] = trio.TASK_STATUS_IGNORED) -> None:
    """Run the member until cancelled; ``task_status.started(RunningMember)`` once it serves."""
    seed = config.seed if config.seed is not None else int.from_bytes(os.urandom(8), "big")
    disk = FileDisk(config.data_dir, atomic_files=(SNAP_FILE,), compact_on=(LOG_FILE,),
                    lose_unsynced=config.lose_unsynced)
    for what in disk.torn:
        log.warning("%s: cut off a torn write at the end of %s", config.name, what)
    peers = dict(config.initial_cluster)
    names = tuple(sorted(peers))
    bugs = frozenset(config.bugs)
    listen_peer = parse_addr(config.listen_peer)
    transport = Transport(config.name, listen_peer, peers[config.name],
                          {n: parse_addr(u) for n, u in peers.items()},
                          lambda src, dst, msg: host.deliver(src, dst, msg),
                          rng=random.Random(seed ^ 1))
    host = ActorHost(disk, transport.send, send_early=_leader_replication)
    bootstrap = tuple(n for n in names if not (config.join and n == config.name))
    server_config = ServerConfig(request_timeout_us=max(config.tick_us, config.request_timeout_us * 4 // 5))
    client_config = ClientConfig(op_timeout_us=config.request_timeout_us,
                                 retry_backoff_us=config.tick_us * config.election_timeout_ticks // 4,
                                 watch_probe_interval_us=1_000_000, watch_session_timeout_us=4_000_000,
                                 watch_gap_timeout_us=500_000)
    async with trio.open_nursery() as nursery:
        await nursery.start(transport.run)
        server = host.add_actor(config.name, lambda env: KVServer(
            env, bootstrap, config.raft_config(), config.tick_us, config=server_config, bugs=bugs,
            join=config.join), random.Random(seed))
        assert isinstance(server, KVServer)
        # Proposals arriving in one batch of inputs are replicated together (one append,
        # one message per follower): the flush timer fires in the host's next batch.
        server.raft_host.batch_us = 1
        gw_actor = host.add_actor(f"{config.name}/gw", lambda env: GatewayClientActor(
            env, names, client_config, bugs), random.Random(seed ^ 2))
        assert isinstance(gw_actor, GatewayClientActor)
        gw_actor.client.leader = config.name

        def urls() -> dict[str, tuple[list[str], list[str]]]:
            out: dict[str, tuple[list[str], list[str]]] = {n: ([f"http://{p.addr[0]}:{p.addr[1]}"], []) for n, p in transport.peers.items()}
            out[config.name] = ([peers[config.name]], [running.client_url])
            return out

        def add_peer(name: str, url: str) -> None:
            transport.add_peer(name, parse_addr(url))

        gateway = Gateway(host, gw_actor.client, server, cluster_id=cluster_id_of(bootstrap), urls=urls,
                          add_peer=add_peer)
        client_port = await nursery.start(serve_http, parse_addr(config.listen_client), gateway.handle)
        nursery.start_soon(host.run)
        running = RunningMember(config=config, server=server, gateway=gateway, transport=transport,
                                host=host, disk=disk, client_port=client_port, peer_port=listen_peer[1])
        if not config.join:
            nursery.start_soon(_fast_forward_election, server, host, transport,
                               config.tick_us * config.election_timeout_ticks)
        task_status.started(running)
