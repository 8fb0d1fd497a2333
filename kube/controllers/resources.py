"""Resource quantities (``cpu: "500m"``, ``memory: "128Mi"``) as integers: millicores, bytes."""

from __future__ import annotations

from typing import Any

__all__ = ["ResourceError", "node_allocatable", "parse_quantity", "pod_requests"]

_SUFFIXES = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "k": 10**3, "M": 10**6, "G": 10**9, "T": 10**12}
RESOURCES = ("cpu", "memory", "pods")


class ResourceError(ValueError):
    """A quantity that cannot be read; the message names it."""


def parse_quantity(resource: str, value: object) -> int:
    """cpu in millicores, anything else in units (bytes for memory)."""
    text = str(value).strip()
    scale = 1000 if resource == "cpu" else 1
    try:
        if text.endswith("m"):
            return int(text[:-1]) * scale // 1000
        for suffix, mult in _SUFFIXES.items():
            if text.endswith(suffix):
                return round(float(text[:-len(suffix)]) * mult * scale)
        return round(float(text) * scale)
    except ValueError:
        raise ResourceError(f"{resource}: {value!r} is not a quantity") from None


def pod_requests(pod: dict[str, Any]) -> dict[str, int]:
    """The sum of the containers' requests, plus one ``pods`` slot."""
    out = {"cpu": 0, "memory": 0, "pods": 1}
    for c in (pod.get("spec") or {}).get("containers") or ():
        for res, value in ((c.get("resources") or {}).get("requests") or {}).items():
            if res in out:
                out[res] += parse_quantity(res, value)
    return out


def node_allocatable(node: dict[str, Any]) -> dict[str, int]:
    alloc = (node.get("status") or {}).get("allocatable") or {}
    return {res: parse_quantity(res, alloc[res]) for res in RESOURCES if res in alloc}
