"""Named partition shapes, as lists of directed cuts over sorted node names.

* ``halves``: split the cluster in two (the first half is the smaller side).
* ``isolate``: one node cut off from everyone, both ways.
* ``bridge``: two halves that can only talk through one bridge node in the middle.
* ``majorities_ring``: every node sees a majority, but no two nodes see the same one
  (each node talks only to its ring neighbours within distance n//2).
* ``one_way``: ``node`` can no longer send to anyone, but still receives.
"""

from __future__ import annotations

from collections.abc import Sequence

from .network import cuts_for_groups

__all__ = ["SHAPES", "shape_cuts"]

SHAPES = ("halves", "isolate", "bridge", "majorities_ring", "one_way")


def shape_cuts(shape: str, nodes: Sequence[str], node: str | None = None) -> set[tuple[str, str]]:
    nodes = sorted(nodes)
    n = len(nodes)
    if shape == "halves":
        half = n // 2
        return cuts_for_groups(nodes, [nodes[:half], nodes[half:]])
    if shape == "isolate":
        target = node if node is not None else nodes[0]
        _require(target, nodes, shape)
        return cuts_for_groups(nodes, [[target], [x for x in nodes if x != target]])
    if shape == "bridge":
        if n < 3:
            return set()
        middle = node if node is not None else nodes[n // 2]
        _require(middle, nodes, shape)
        rest = [x for x in nodes if x != middle]
        left, right = rest[: len(rest) // 2], rest[len(rest) // 2:]
        cuts = set()
        for a in left:
            for b in right:
                cuts.add((a, b))
                cuts.add((b, a))
        return cuts
    if shape == "majorities_ring":
        cuts = set()
        reach = n // 2
        for i, a in enumerate(nodes):
            for j, b in enumerate(nodes):
                distance = min((i - j) % n, (j - i) % n)
                if a != b and distance > reach // 2 + (reach % 2):
                    cuts.add((a, b))
        return cuts
    if shape == "one_way":
        target = node if node is not None else nodes[0]
        _require(target, nodes, shape)
        return {(target, x) for x in nodes if x != target}
    raise ValueError(f"unknown partition shape {shape!r}; known shapes: {', '.join(SHAPES)}")


def _require(node: str, nodes: Sequence[str], shape: str) -> None:
    if node not in nodes:
        raise ValueError(f"{shape}: unknown node {node!r}")
