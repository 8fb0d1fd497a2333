"""Machine facts every benchmark prints before its figures."""

from __future__ import annotations

import os
import platform
import sys

import raftkv


def machine_facts() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return (f"machine: {platform.system()} {platform.release()} {platform.machine()}, "
            f"cpu: {cpu}, cores: {os.cpu_count()}, python: {sys.version.split()[0]} "
            f"({platform.python_implementation()}), raftkv build: {raftkv.build_info()}")


def print_machine() -> None:
    print(machine_facts())


QUICK_HELP = ("a few seconds' run with small budgets, to check that the benchmark works "
              "(the test suite runs every benchmark this way); its figures mean nothing")


def peak_rss_mib() -> float:
    """Peak resident memory of this process so far, in MiB."""
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
