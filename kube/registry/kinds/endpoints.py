"""Endpoints (v1): subsets of addresses and ports, no status."""

from kube.registry.strategy import Strategy

STRATEGY = Strategy(kind="Endpoints", resource="endpoints")
