"""Which local process dialled a loopback TCP connection: the peer proxy's last resort for
attributing a connection whose bytes name no dialler (etcd's lease renewals and version
checks carry no ``X-Server-From``).  Linux only: ``/proc/net/tcp`` gives the dialler's
socket inode, ``/proc/PID/fd`` the process holding it."""

from __future__ import annotations

import os

__all__ = ["dialler_of"]


def _socket_inode(source_port: int, dest_port: int) -> str | None:
    """The inode of the socket bound to ``source_port`` and connected to ``dest_port``."""
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table) as f:
                lines = f.readlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if len(fields) < 10:
                continue
            local, remote = fields[1].rsplit(":", 1), fields[2].rsplit(":", 1)
            if int(local[1], 16) == source_port and int(remote[1], 16) == dest_port:
                return fields[9]
    return None


def dialler_of(source_port: int, dest_port: int, pids: dict[str, int]) -> str | None:
    """The name (a key of ``pids``) of the process holding the socket that dialled from
    ``source_port`` to ``dest_port`` on this host; None when none of them does (or the
    connection is gone, or /proc cannot tell)."""
    inode = _socket_inode(source_port, dest_port)
    if inode is None or inode == "0":
        return None
    target = f"socket:[{inode}]"
    for name, pid in sorted(pids.items()):
        fd_dir = f"/proc/{pid}/fd"
        try:
            fds = os.listdir(fd_dir)
        except OSError:
            continue
        for fd in fds:
            try:
                if os.readlink(f"{fd_dir}/{fd}") == target:
                    return name
            except OSError:
                continue
    return None
