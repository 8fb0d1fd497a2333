"""Kubernetes objects: a model for the linearizability search, and the check that a
paged list is one snapshot.

**The model** (``kube``), one object per key (``<resource>/<namespace>/<name>``);
state ``(content, resourceVersion, exact)``, content None when absent, ``exact`` False
making the resourceVersion a strict lower bound (after an ``info`` write).  Operations:

* ``create`` (value: content): ``ok`` with ``revision`` (the new resourceVersion), or
  ``ok`` with ``succeeded: false`` (409 AlreadyExists: the object exists);
* ``get`` (value: content or null for 404, ``mod_revision``: its resourceVersion);
* ``update`` (value ``[resourceVersion precondition, content]``): ``ok`` with
  ``revision``; ``succeeded: false`` is a 409 Conflict (the object's resourceVersion
  differs) and ``deleted: 0`` a 404;
* ``patch`` (value: a JSON merge patch of the content, as sorted pairs): ``ok`` with
  ``revision``, or ``deleted: 0`` for a 404;
* ``delete``: ``deleted: 1`` with ``revision``, or ``deleted: 0`` (404).

Contents are JSON objects frozen to sorted ``(key, value)`` pairs.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import attrs

from .history import Operation, to_json
from .models import INCONSISTENT, Model, ModelError, StepFn
from .watch import known_events

__all__ = ["KubeObjectModel", "PagedList", "check_paged_lists"]

KubeState = tuple[Any, int, bool]


def _merge(content: Any, patch: Any) -> Any:
    out = dict(content or ())
    for key, value in patch or ():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = value
    return tuple(sorted(out.items()))


def _at(s: KubeState, r: int | None, content: Any) -> Any:
    """The state after a write of ``content`` at revision ``r`` (None: unknown)."""
    if r is None:
        return (content, s[1], False)
    return (content, r, True) if r > s[1] else INCONSISTENT


def _rv_is(s: KubeState, rv: int) -> bool:
    return s[1] == rv if s[2] else rv > s[1]


class KubeObjectModel(Model):
    name = "kube"
    partitioned = True

    def init_state(self) -> KubeState:
        return (None, 0, False)

    def relevant(self, op: Operation) -> bool:
        return op.f in ("create", "get", "update", "patch", "delete") and super().relevant(op)

    def is_read(self, op: Operation) -> bool:
        return op.f == "get"

    def read_only(self, op: Operation) -> bool:
        return op.f == "get" or (op.outcome == "ok" and (op.succeeded is False or op.deleted == 0))

    def step_fn(self, op: Operation) -> StepFn:
        if op.key is None:
            raise ModelError(f"operation #{op.id} ({op.f}): the kube model needs a key")
        ok, r = op.outcome == "ok", op.revision
        if ok and op.f != "delete" and op.deleted == 0:  # 404 NotFound
            return lambda s: s if s[0] is None else INCONSISTENT
        if op.f == "get":
            return self._get(op)
        if op.f == "create":
            v = op.value
            if ok and op.succeeded is False:
                return lambda s: s if s[0] is not None else INCONSISTENT
            return lambda s: _at(s, r if ok else None, v) if s[0] is None else (INCONSISTENT if ok else s)
        if op.f == "update":
            if not isinstance(op.value, tuple) or len(op.value) != 2:
                raise ModelError(f"operation #{op.id} (update): value must be [resourceVersion, content]")
            rv, v = op.value
            if ok and op.succeeded is False:
                return lambda s: s if s[0] is not None and not (s[2] and s[1] == rv) else INCONSISTENT

            def update(s: KubeState) -> Any:
                if s[0] is None or not _rv_is(s, rv):
                    return INCONSISTENT if ok else s
                return _at((s[0], rv, True), r if ok else None, v)
            return update
        if op.f == "patch":
            p = op.value

            def patch(s: KubeState) -> Any:
                if s[0] is None:
                    return INCONSISTENT if ok else s
                return _at(s, r if ok else None, _merge(s[0], p))
            return patch
        if op.f == "delete":
            if ok and op.deleted == 0:
                return lambda s: s if s[0] is None else INCONSISTENT
            return lambda s: (_at(s, r if ok else None, None) if s[0] is not None
                              else (INCONSISTENT if ok else s))
        raise ModelError(f"operation #{op.id}: model kube has no operation f={op.f!r}")

    def _get(self, op: Operation) -> StepFn:
        v, m = op.value, op.mod_revision
        if v is None:
            return lambda s: s if s[0] is None else INCONSISTENT

        def get(s: KubeState) -> Any:
            if s[0] != v or m is None:
                return s if s[0] == v else INCONSISTENT
            if s[2]:
                return s if s[1] == m else INCONSISTENT
            return (v, m, True) if m > s[1] else INCONSISTENT
        return get

    def show_state(self, state: Any) -> Any:
        content, rv, exact = state
        return {"object": to_json(content), "resourceVersion": rv if exact else f">{rv}"}


@attrs.frozen(kw_only=True)
class PagedList:
    """One paged list: each page's resourceVersion and its items ``(key, rv, content)``."""

    process: str | int
    pages: tuple[tuple[int, tuple[tuple[str, int, Any], ...]], ...]
    time_us: int | None = None


def check_paged_lists(lists: Sequence[PagedList], history: Any) -> list[str]:
    """Why a paged list is not one snapshot (empty: each is).

    Every page must carry the first page's resourceVersion R; every item's
    resourceVersion r must be at most R; and no write of the item's key known to have
    happened (from ``history``'s ok writes and watch events: see
    :func:`raftkv.check.watch.known_events`) may fall in ``(r, R]``.
    """
    truth, _bad = known_events(history)
    by_key: dict[Any, list[int]] = {}
    for rev in sorted(truth):
        for key in truth[rev]:
            by_key.setdefault(key, []).append(rev)
    out = []
    for lst in lists:
        if not lst.pages:
            continue
        first = lst.pages[0][0]
        for i, (rv, _items) in enumerate(lst.pages):
            if rv != first:
                out.append(f"{lst.process}: page {i + 1} of a paged list is at resourceVersion {rv}, "
                           f"the first page at {first}")
        for _rv, items in lst.pages:
            for key, r, _content in items:
                if r > first:
                    out.append(f"{lst.process}: {key} at resourceVersion {r} in a list at {first}")
                    continue
                later = [w for w in by_key.get(key, ()) if r < w <= first]
                if later:
                    out.append(f"{lst.process}: a list at resourceVersion {first} shows {key} as of {r}, "
                               f"but it changed at {later[0]}")
    return out
