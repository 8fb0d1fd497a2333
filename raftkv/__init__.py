"""raftkv: a consistency-testing framework for Raft/etcd-style systems."""

from raftkv._native import build_info, is_compiled, select

# Before any other raftkv module loads: compiled hot modules, or their Python sources.
select()

__version__ = "0.1.0"
__all__ = ["__version__", "build_info", "is_compiled"]
