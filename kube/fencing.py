"""Fenced writes: a leader's writes land only while its Lease still names it.

A leader (:mod:`kube.leaderelection`) holds a ``coordination.k8s.io/v1`` Lease; its term
is (``holderIdentity``, ``leaseTransitions``), which every change of holder increments.
A :class:`kube.leaderelection.FencedClient` sends each write with the query parameter ``fence`` =
``<namespace>/<lease>:<holder>:<transitions>`` (a raftkv extension: kube-apiserver has
no such check, and trusts leaders to step down in time).  The apiserver turns it into a
:class:`LeaseGuard`: before each attempt of the write it reads the Lease, fails with 403
Forbidden unless the Lease still names that holder and term, and adds
``mod_revision(lease) == <what it read>`` to the write's etcd transaction.  The write
and the check are one transaction, so a deposed leader's write fails whatever the
timing: a pause, a slow network or a skewed clock cannot make it land after the Lease
moved on (a renewal by the holder itself only makes the apiserver check again).
"""

from __future__ import annotations

from typing import Any

import attrs

from raftkv.client import txn

from . import errors
from .registry import Store

__all__ = ["FENCE_PARAM", "WRITE_VERBS", "Fence", "LeaseGuard", "guard_of"]

FENCE_PARAM = "fence"
WRITE_VERBS = ("create", "update", "patch", "delete")


@attrs.frozen(kw_only=True)
class Fence:
    """A leader's term: the Lease it holds, its identity and the Lease's transitions
    when it acquired it."""

    lease_namespace: str
    lease_name: str
    holder: str
    transitions: int

    def __attrs_post_init__(self) -> None:
        assert self.transitions >= 0, f"leaseTransitions must be >= 0, got {self.transitions}"
        assert ":" not in self.holder and "/" not in self.lease_namespace, "fence parts must not hold separators"

    def to_param(self) -> str:
        return f"{self.lease_namespace}/{self.lease_name}:{self.holder}:{self.transitions}"

    @classmethod
    def parse(cls, text: str) -> Fence:
        """The fence of a ``fence`` query parameter (400 Bad Request when malformed)."""
        parts = text.split(":")
        lease = parts[0].split("/") if parts else []
        if len(parts) != 3 or len(lease) != 2 or not all(lease) or not parts[1] or not parts[2].isdigit():
            raise errors.bad_request(f"fence must be <namespace>/<lease>:<holder>:<transitions>, got {text!r}")
        return cls(lease_namespace=lease[0], lease_name=lease[1], holder=parts[1], transitions=int(parts[2]))


class LeaseGuard:
    """The apiserver's side of a fence (a :class:`kube.registry.store.Guard`)."""

    def __init__(self, leases: Store, fence: Fence) -> None:
        self.leases = leases
        self.fence = fence
        self.key = leases.key(fence.lease_namespace, fence.lease_name)
        # the store revision at which the request's last fenced transaction succeeded (0: none)
        self.revision = 0

    def confirmed(self, revision: int) -> None:
        assert revision > 0, f"a transaction's revision is positive, got {revision}"
        self.revision = max(self.revision, revision)

    async def compares(self) -> tuple[Any, ...]:
        got = await self.leases._read(self.key)
        f = self.fence
        if got is None:
            raise errors.ApiError(errors.status(403, "Forbidden", f"fenced: lease {f.lease_namespace}/{f.lease_name} "
                                                                  "does not exist"))
        lease, revision = got
        spec = lease.get("spec") or {}
        holder, transitions = spec.get("holderIdentity"), spec.get("leaseTransitions", 0)
        if holder != f.holder or transitions != f.transitions:
            raise errors.ApiError(errors.status(
                403, "Forbidden", f"fenced: lease {f.lease_namespace}/{f.lease_name} is held by {holder!r} "
                                  f"(transitions {transitions}), not by {f.holder!r} (transitions {f.transitions})"))
        return (txn.mod_revision(self.key) == revision,)


def guard_of(verb: str, fence_param: str | None, leases: Store) -> LeaseGuard | None:
    """The guard a request's ``fence`` parameter asks for (None without one)."""
    if not fence_param or verb not in WRITE_VERBS:
        return None
    return LeaseGuard(leases, Fence.parse(fence_param))
