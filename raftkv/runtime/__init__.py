"""raftkv.runtime: the real cluster on trio (TCP transport, on-disk WAL, etcd's v3 JSON
gateway, ``raftkv serve``), and what programs built on raftkv reuse of it: the HTTP
server, a member to embed, the trio Runtime."""

from .http import HttpRequest, HttpResponder, serve_http
from .member import MemberConfig, run_member
from .serve import first_leaf
from .tasks import TrioRuntime
from .transport import parse_addr
from .wal import WALCorruptError

__all__ = ["HttpRequest", "HttpResponder", "MemberConfig", "TrioRuntime", "WALCorruptError", "first_leaf",
           "parse_addr", "run_member", "serve_http"]
