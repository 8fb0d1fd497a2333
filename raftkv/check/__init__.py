"""History checkers: linearizability, etcd watch and lease guarantees.

Depends on the history format only (``raftkv.check.history``); usable on histories
of systems other than raftkv.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .builder import HistoryBuilder
    from .history import (
        History,
        HistoryEvent,
        HistoryFormatError,
        KeyValue,
        Operation,
        WatchEvent,
        WatchOpen,
        WatchResponse,
        make_history,
        read_history,
        write_jsonl,
    )
    from .kube import KubeObjectModel, PagedList, check_paged_lists
    from .lease import check_leases
    from .linearizability import (
        Budget,
        KeyResult,
        LinearizabilityResult,
        Step,
        check_linearizable,
        check_operations,
    )
    from .models import (
        INCONSISTENT,
        MODELS,
        CASRegisterModel,
        EtcdModel,
        KVModel,
        Model,
        ModelError,
        RegisterModel,
    )
    from .report import render_html
    from .revisions import check_revision_order
    from .violation import Violation
    from .watch import check_watches

# Names load on first use (PEP 562), so that ``raftkv check`` imports only what it needs.
_WHERE = {
    "Budget": "linearizability",
    "CASRegisterModel": "models",
    "EtcdModel": "models",
    "History": "history",
    "HistoryBuilder": "builder",
    "HistoryEvent": "history",
    "HistoryFormatError": "history",
    "INCONSISTENT": "models",
    "KVModel": "models",
    "KeyResult": "linearizability",
    "KeyValue": "history",
    "KubeObjectModel": "kube",
    "LinearizabilityResult": "linearizability",
    "MODELS": "models",
    "Model": "models",
    "ModelError": "models",
    "Operation": "history",
    "PagedList": "kube",
    "RegisterModel": "models",
    "Step": "linearizability",
    "Violation": "violation",
    "WatchEvent": "history",
    "WatchOpen": "history",
    "WatchResponse": "history",
    "check_leases": "lease",
    "check_linearizable": "linearizability",
    "check_operations": "linearizability",
    "check_paged_lists": "kube",
    "check_revision_order": "revisions",
    "check_watches": "watch",
    "make_history": "history",
    "read_history": "history",
    "render_html": "report",
    "write_jsonl": "history",
}


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


__all__ = [
    "INCONSISTENT",
    "MODELS",
    "Budget",
    "CASRegisterModel",
    "EtcdModel",
    "History",
    "HistoryBuilder",
    "HistoryEvent",
    "HistoryFormatError",
    "KVModel",
    "KubeObjectModel",
    "PagedList",
    "KeyResult",
    "KeyValue",
    "LinearizabilityResult",
    "Model",
    "ModelError",
    "Operation",
    "RegisterModel",
    "Step",
    "WatchEvent",
    "WatchOpen",
    "WatchResponse",
    "Violation",
    "check_leases",
    "check_paged_lists",
    "check_linearizable",
    "check_revision_order",
    "check_operations",
    "check_watches",
    "make_history",
    "read_history",
    "render_html",
    "write_jsonl",
]
