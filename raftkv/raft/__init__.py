"""raftkv.raft: Raft consensus, sans-IO (pure core), plus a host that drives it for an actor."""

from .confchange import ConfChangeError, apply_conf_change
from .config import RaftConfig, RaftConfigError
from .core import ConfChangeRefused, ProposalDropped, Raft, Ready, Role, SoftState
from .durable import CorruptRaftStateError, LogBase, recover
from .host import (
    FLUSH_TAG,
    TICK_TAG,
    Dropped,
    NotLeader,
    OutcomeUnknown,
    ProposalError,
    RaftHost,
    Refused,
    StateMachine,
)
from .log import LogCompactedError, RaftLog, entry_size
from .member import KVStateMachine, Propose, ProposeReply, RaftMember, Read, ReadReply
from .messages import (
    CAMPAIGN_TRANSFER,
    ConfChange,
    ConfChangeType,
    ConfChangeV2,
    Entry,
    EntryKind,
    HardState,
    Message,
    MessageType,
    ReadState,
    Snapshot,
)
from .progress import Progress, ProgressState
from .quorum import ClusterConfig, VoteResult, committed_index, vote_result

__all__ = [
    "FLUSH_TAG", "TICK_TAG", "CorruptRaftStateError", "Dropped", "KVStateMachine", "LogBase", "NotLeader",
    "OutcomeUnknown", "Propose", "ProposeReply", "ProposalError", "RaftHost", "RaftMember",
    "Read", "ReadReply", "Refused", "StateMachine", "recover",
    "ConfChangeError", "ConfChangeV2", "apply_conf_change",
    "CAMPAIGN_TRANSFER", "ClusterConfig", "ConfChange", "ConfChangeRefused", "ConfChangeType",
    "Entry", "EntryKind", "HardState", "LogCompactedError", "Message", "MessageType",
    "Progress", "ProgressState", "ProposalDropped", "Raft", "RaftConfig", "RaftConfigError",
    "RaftLog", "ReadState", "Ready", "Role", "Snapshot", "SoftState", "VoteResult", "committed_index",
    "entry_size", "vote_result",
]
