"""raftkv: a consistency-testing framework for Raft/etcd-style systems."""

__version__ = "0.1.0"
