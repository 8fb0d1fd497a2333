"""raftkv.runtime: the real cluster on trio (TCP transport, on-disk WAL, etcd's v3 JSON
gateway, ``raftkv serve``), and what programs built on raftkv reuse of it: the HTTP
server, a member to embed, the trio Runtime.

Loaded lazily: ``import raftkv.runtime`` loads nothing else, so ``raftkv serve --cluster N``
(which only starts member processes) starts fast; each name loads its module when used.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .http import HttpRequest, HttpResponder, serve_http
    from .member import MemberConfig, run_member
    from .serve import first_leaf
    from .tasks import TrioRuntime
    from .transport import parse_addr
    from .wal import WALCorruptError

__all__ = ["HttpRequest", "HttpResponder", "MemberConfig", "TrioRuntime", "WALCorruptError", "first_leaf",
           "parse_addr", "run_member", "serve_http"]

_WHERE = {"HttpRequest": "http", "HttpResponder": "http", "serve_http": "http", "MemberConfig": "member",
          "run_member": "member", "first_leaf": "serve", "TrioRuntime": "tasks", "parse_addr": "transport",
          "WALCorruptError": "wal"}


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module 'raftkv.runtime' has no attribute {name!r}")
    return getattr(importlib.import_module(f"raftkv.runtime.{_WHERE[name]}"), name)
