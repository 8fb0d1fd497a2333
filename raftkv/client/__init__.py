"""raftkv.client: the etcd-like client API for actors, and the Jepsen-style workload client."""

from .client import Client, ClientConfig, HistSpec, Result, Watch
from .txn import Txn
from .workload import WorkloadClient, WorkloadParams

__all__ = ["Client", "ClientConfig", "HistSpec", "Result", "Txn", "Watch", "WorkloadClient",
           "WorkloadParams"]
