"""History checkers: linearizability, etcd watch and lease guarantees.

Depends on the history format only (``raftkv.check.history``); usable on histories
of systems other than raftkv.
"""

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

__all__ = [
    "INCONSISTENT",
    "MODELS",
    "Budget",
    "CASRegisterModel",
    "EtcdModel",
    "History",
    "HistoryEvent",
    "HistoryFormatError",
    "KVModel",
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
    "check_linearizable",
    "check_operations",
    "make_history",
    "read_history",
    "write_jsonl",
]
