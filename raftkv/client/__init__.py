"""raftkv.client: the etcd-like client API for actors, the async client interface and its
simulated implementation, and the Jepsen-style workload client."""

from typing import TYPE_CHECKING

from raftkv.kv import ErrCompacted, ErrLeaseNotFound, ErrTimeout, KVError

from .aio import SimEtcdClient, SimWatchStream
from .client import Client, ClientConfig, HistSpec, Result, Watch
from .interface import AsyncEtcdClient, WatchStream, keep_lease_alive
from .txn import Txn
from .workload import WorkloadClient, WorkloadParams

if TYPE_CHECKING:  # the checker sees the class that __getattr__ below loads lazily
    from .gateway import GatewayEtcdClient

# (ErrCompacted, ErrLeaseNotFound, ErrTimeout, KVError: what the async client raises)
__all__ = ["AsyncEtcdClient", "GatewayEtcdClient", "Client", "ClientConfig", "ErrCompacted", "ErrLeaseNotFound",
           "ErrTimeout", "HistSpec", "KVError", "Result", "SimEtcdClient", "SimWatchStream", "Txn",
           "Watch", "WatchStream", "WorkloadClient", "WorkloadParams", "keep_lease_alive"]


def __getattr__(name: str) -> object:
    # The gateway client (httpx, trio) loads on first use: the simulator never needs it.
    if name == "GatewayEtcdClient":
        from .gateway import GatewayEtcdClient

        return GatewayEtcdClient
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
