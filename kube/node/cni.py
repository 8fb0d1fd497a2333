"""CNI-shaped IP address management for a simulated node (the ``host-local`` plugin).

:class:`HostLocalIpam` hands out the addresses of the node's pod CIDR (a /24: ``.2`` to
``.254``; ``.1`` is the node's own) with the plugin's two verbs: :meth:`add` (CNI ADD:
one address for a sandbox, the requested one if it is free, else the next free one after
the last handed out, round-robin as host-local does, so an address just released is not
handed out again at once) and :meth:`delete` (CNI DEL: release it; deleting what holds
nothing is not an error, as the CNI spec asks).  No two sandboxes ever hold one address.
"""

from __future__ import annotations

__all__ = ["HostLocalIpam", "IpamError"]


class IpamError(ValueError):
    """A pod CIDR the plugin cannot use; the message names it."""


def _pool(cidr: str) -> list[str]:
    base, _, bits = cidr.partition("/")
    octets = base.split(".")
    if bits != "24" or len(octets) != 4 or not all(o.isdigit() and int(o) < 256 for o in octets):
        raise IpamError(f"pod CIDR {cidr!r} must be an IPv4 /24 such as 10.244.1.0/24")
    prefix = ".".join(octets[:3])
    return [f"{prefix}.{host}" for host in range(2, 255)]


class HostLocalIpam:
    def __init__(self, cidr: str) -> None:
        self.cidr = cidr
        self.pool = _pool(cidr)
        self.allocated: dict[str, str] = {}  # sandbox id -> ip
        self._holder: dict[str, str] = {}  # ip -> sandbox id
        self._last = len(self.pool) - 1  # index of the last address handed out

    def add(self, sandbox_id: str, *, requested_ip: str = "") -> str | None:
        """CNI ADD: the sandbox's address (the same again if it has one); None when the
        range is exhausted."""
        if sandbox_id in self.allocated:
            return self.allocated[sandbox_id]
        if requested_ip in self.pool and requested_ip not in self._holder:
            return self._take(sandbox_id, self.pool.index(requested_ip))
        n = len(self.pool)
        for step in range(1, n + 1):
            i = (self._last + step) % n
            if self.pool[i] not in self._holder:
                return self._take(sandbox_id, i)
        return None

    def _take(self, sandbox_id: str, i: int) -> str:
        ip = self.pool[i]
        assert ip not in self._holder, f"{ip} handed out twice"
        self._last = i
        self.allocated[sandbox_id] = ip
        self._holder[ip] = sandbox_id
        return ip

    def delete(self, sandbox_id: str) -> None:
        """CNI DEL: release the sandbox's address (idempotent)."""
        ip = self.allocated.pop(sandbox_id, None)
        if ip is not None:
            del self._holder[ip]

    def __len__(self) -> int:
        return len(self.allocated)
