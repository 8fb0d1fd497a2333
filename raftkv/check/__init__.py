"""History checkers: linearizability, etcd watch and lease guarantees.

Depends on the history format only (``raftkv.check.history``); usable on histories
of systems other than raftkv.
"""

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
