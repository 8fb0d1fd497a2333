"""The errors of the key-value layer, named and worded like etcd's.

Every error is a :class:`KVError` whose ``str()`` is etcd's message text
(``"etcdserver: mvcc: required revision has been compacted"``).  Errors compare
equal by class and arguments, so a store can *return* an error as the result of an
applied Raft entry (``KVStore.apply``) and two members applying the same log produce
equal results.  The server and client raise them (``raise result``) or forward them.
"""

from __future__ import annotations

from typing import Any, ClassVar

__all__ = [
    "ErrCompacted",
    "ErrDuplicateKey",
    "ErrEmptyKey",
    "ErrFutureRev",
    "ErrInvalidRequest",
    "ErrKeyNotFound",
    "ErrLeaseExist",
    "ErrLeaseNotFound",
    "ErrLeaseProvided",
    "ErrLeaseTTLTooLarge",
    "ErrNoLeader",
    "ErrTimeout",
    "ErrTooManyOps",
    "ErrValueProvided",
    "ErrWatchNotFound",
    "KVError",
    "UnknownRequestError",
]


class KVError(Exception):
    """Base class: an etcd error with etcd's message text.

    ``str(err)`` is exactly etcd's message; optional keyword details (for example
    ``compact_revision``) are kept in :attr:`details` and shown by ``repr``.
    """

    message: ClassVar[str] = "etcdserver: unknown error"

    def __init__(self, **details: Any) -> None:
        self.details: dict[str, Any] = dict(sorted(details.items()))
        super().__init__(self.message)

    def __str__(self) -> str:
        return self.message

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.details.items())
        return f"{type(self).__name__}({args})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, KVError):
            return NotImplemented
        return type(self) is type(other) and self.details == other.details

    def __hash__(self) -> int:
        return hash((type(self).__name__, tuple(self.details.items())))

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild, (type(self), self.details))


def _rebuild(cls: type[KVError], details: dict[str, Any]) -> KVError:
    return cls(**details)


class ErrCompacted(KVError):
    """A read or watch asked for a revision below the compact revision."""

    message = "etcdserver: mvcc: required revision has been compacted"


class ErrFutureRev(KVError):
    """A read or compaction asked for a revision above the current revision."""

    message = "etcdserver: mvcc: required revision is a future revision"


class ErrLeaseNotFound(KVError):
    message = "etcdserver: requested lease not found"


class ErrLeaseExist(KVError):
    message = "etcdserver: lease already exists"


class ErrLeaseTTLTooLarge(KVError):
    message = "etcdserver: too large lease TTL"


class ErrKeyNotFound(KVError):
    """``ignore_value``/``ignore_lease`` on a key that does not exist."""

    message = "etcdserver: key not found"


class ErrDuplicateKey(KVError):
    message = "etcdserver: duplicate key given in txn request"


class ErrTooManyOps(KVError):
    message = "etcdserver: too many operations in txn request"


class ErrEmptyKey(KVError):
    message = "etcdserver: key is not provided"


class ErrValueProvided(KVError):
    message = "etcdserver: value is provided"


class ErrLeaseProvided(KVError):
    message = "etcdserver: lease is provided"


class ErrInvalidRequest(KVError):
    """A malformed request (the details say what is wrong)."""

    message = "etcdserver: invalid request"


class ErrWatchNotFound(KVError):
    message = "mvcc: watcher does not exist"


class ErrNoLeader(KVError):
    """Used by the server and client: the member knows no leader."""

    message = "etcdserver: no leader"


class ErrTimeout(KVError):
    """Used by the server and client: the request's outcome is unknown."""

    message = "etcdserver: request timed out"


class UnknownRequestError(TypeError):
    """``KVStore.apply`` was given data that is not a request type of this package."""
