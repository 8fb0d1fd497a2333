"""The apiserver's registry: the generic :class:`Store`, the kinds' strategies, the watch cache."""

from .cache import WatchCache
from .kinds import STRATEGIES
from .store import ListResult, Store
from .strategy import Strategy

__all__ = ["STRATEGIES", "ListResult", "Store", "Strategy", "WatchCache"]
