"""Real clusters under test (``raftkv test-cluster``): raftkv or etcd 3.4 member
processes on loopback (or a cluster someone else runs), their peer traffic through
proxies the nemesis controls, fault schedules drawn by the simulator's strategies, a
recorded workload, and raftkv's checkers on the history.

Loaded lazily: ``import raftkv.blackbox`` does not start trio or hypothesis.
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = ["EtcdCluster", "Nemesis", "PeerProxy", "RunOutcome", "RunSpec", "WorkloadSpec", "draw_schedule",
           "peer_proxy", "run_test_cluster"]

_WHERE = {"EtcdCluster": "targets", "Nemesis": "nemesis", "PeerProxy": "proxy", "RunOutcome": "runner",
          "RunSpec": "runner", "WorkloadSpec": "workload", "draw_schedule": "nemesis",
          "peer_proxy": "targets", "run_test_cluster": "runner"}


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module 'raftkv.blackbox' has no attribute {name!r}")
    return getattr(importlib.import_module(f"raftkv.blackbox.{_WHERE[name]}"), name)
