"""The deterministic simulator: virtual time, network, disks, clocks, faults, trace."""

from .clock import NodeClock
from .disk import SimDisk
from .network import Latency, NetworkModel, cuts_for_groups
from .shapes import SHAPES, shape_cuts
from .trace import Trace, TraceEvent, format_time_us
from .world import SimEnv, World, derive_rng

__all__ = [
    "SHAPES", "Latency", "NetworkModel", "NodeClock", "SimDisk", "SimEnv", "Trace", "TraceEvent",
    "World", "cuts_for_groups", "derive_rng", "format_time_us", "shape_cuts",
]
