"""etcd's watch guarantees, checked on a history's watch records.

The *truth* is what is known to have happened at each revision: the events that any
watcher received (watchers must agree with each other) and the writes that completed
``ok`` with a revision (put, delete, successful cas).  Each logical watch
(``watch_id``) is a sequence of sessions, one per ``watch_open`` record; each session
delivers responses.  Checked, per etcd's documented guarantees:

* ordered: revisions strictly increase along a logical watch (also across resumes);
* unique: no (revision, key) event is delivered twice on a logical watch;
* atomic: the events of one revision arrive in a single response, all of them;
* reliable: no known event matching the watch is missing between the session's
  start and its last delivered revision;
* resumable: a session delivers nothing below its start revision, and a resumed
  session starts right after what the watch already delivered (or bookmarked);
* bookmarkable: after a progress notification at R, every matching event <= R was
  delivered and none <= R comes later;
* prev_kv: with ``prev_kv`` asked, an event's prev_kv is the key's previous version;
  without it, no prev_kv is sent;
* filters: only keys in the watched range, no PUT with ``noput``, no DELETE with
  ``nodelete``;
* agreement: two watchers, or a watcher and a write's result, agree on what happened
  at a revision.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from typing import Any

import attrs

from .history import History, Key, WatchEvent, WatchOpen, WatchResponse, to_json
from .violation import Violation

__all__ = ["check_watches", "in_range", "known_events"]


@attrs.frozen(kw_only=True)
class _Fact:
    type: str
    value: Any
    record: int
    source: str  # "watch" or "write"


def in_range(key: Key, start: Key, range_end: Key | None) -> bool:
    """etcd key ranges: single key, ``[start, range_end)``, or ``range_end`` "\\0"."""
    if range_end is None or range_end == "":
        return key == start
    if type(key) is not type(start):
        return False
    if range_end == "\0":
        return key >= start  # type: ignore[operator]
    if type(range_end) is not type(key):
        return False
    return start <= key < range_end  # type: ignore[operator]


def known_events(history: History) -> tuple[dict[int, dict[Key, _Fact]], list[Violation]]:
    """revision -> key -> what happened, from watch events and ok writes."""
    truth: dict[int, dict[Key, _Fact]] = {}
    bad: list[Violation] = []

    def add(rev: int, key: Key, fact: _Fact) -> None:
        at = truth.setdefault(rev, {})
        old = at.get(key)
        if old is None:
            at[key] = fact
        elif (old.type, old.value) != (fact.type, fact.value):
            bad.append(Violation(
                guarantee="agreement",
                message=(f"revision {rev} key {key!r}: {old.source} says {old.type} "
                         f"{to_json(old.value)!r}, {fact.source} says {fact.type} {to_json(fact.value)!r}"),
                records=(old.record, fact.record), key=key))

    for op in history.operations:
        if op.outcome != "ok" or op.revision is None or op.key is None:
            continue
        rec = op.complete_index if op.complete_index is not None else op.invoke_index
        if op.f == "put":
            add(op.revision, op.key, _Fact(type="PUT", value=op.value, record=rec, source="write"))
        elif op.f == "delete" and op.deleted == 1:
            add(op.revision, op.key, _Fact(type="DELETE", value=None, record=rec, source="write"))
        elif op.f in ("cas", "txn") and op.succeeded and isinstance(op.value, tuple) and len(op.value) == 2:
            add(op.revision, op.key, _Fact(type="PUT", value=op.value[1], record=rec, source="write"))
    for idx, resp in history.watch_responses:
        for ev in resp.events:
            add(ev.mod_revision, ev.key, _Fact(type=ev.type, value=ev.value if ev.type == "PUT" else None,
                                              record=idx, source="watch"))
    return truth, bad


@attrs.define
class _Session:
    open_index: int
    open: WatchOpen
    responses: list[tuple[int, WatchResponse]] = attrs.Factory(list)


def _matches(open_: WatchOpen, key: Key, typ: str) -> bool:
    if not in_range(key, open_.key, open_.range_end):
        return False
    if typ == "PUT" and "noput" in open_.filters:
        return False
    return not (typ == "DELETE" and "nodelete" in open_.filters)


def _sessions(history: History) -> tuple[dict[str, list[_Session]], list[Violation]]:
    by_watch: dict[str, list[_Session]] = {}
    bad: list[Violation] = []
    items: list[tuple[int, WatchOpen | WatchResponse]] = [*history.watch_opens, *history.watch_responses]
    items.sort(key=lambda t: t[0])
    for idx, rec in items:
        if isinstance(rec, WatchOpen):
            by_watch.setdefault(rec.watch_id, []).append(_Session(open_index=idx, open=rec))
        else:
            sessions = by_watch.get(rec.watch_id)
            if not sessions:
                bad.append(Violation(guarantee="format", message=(
                    f"watch {rec.watch_id!r}: response before any watch_open; ignored"),
                    records=(idx,), watch_id=rec.watch_id))
                continue
            sessions[-1].responses.append((idx, rec))
    return by_watch, bad


def check_watches(history: History) -> list[Violation]:
    """All watch-guarantee violations in ``history`` (empty: none found)."""
    truth, out = known_events(history)
    by_watch, bad = _sessions(history)
    out.extend(bad)
    revs = sorted(truth)
    key_revs: dict[Key, list[int]] = {}  # the revisions at which each key is known to change
    for rev in revs:
        for key in truth[rev]:
            key_revs.setdefault(key, []).append(rev)
    for wid in sorted(by_watch):
        out.extend(_check_watch(wid, by_watch[wid], truth, revs, key_revs))
    return out


def _check_watch(wid: str, sessions: Sequence[_Session], truth: dict[int, dict[Key, _Fact]],
                 revs: Sequence[int], key_revs: dict[Key, list[int]]) -> list[Violation]:
    """``revs``: the revisions of ``truth``, sorted."""
    out: list[Violation] = []

    def v(guarantee: str, message: str, *records: int, key: Key | None = None) -> None:
        out.append(Violation(guarantee=guarantee, message=f"watch {wid!r}: {message}",
                             records=tuple(records), watch_id=wid, key=key))

    last_rev = 0  # highest revision delivered on the logical watch
    bookmark = 0  # highest progress-notified revision
    delivered: dict[tuple[int, Key], int] = {}  # (rev, key) -> record
    for s in sessions:
        op = s.open
        start = op.start_revision
        if op.resumed and start:
            if start <= last_rev:
                v("resumable", f"resumed at revision {start}, but revision {last_rev} was already delivered "
                  f"(expected {last_rev + 1})", s.open_index)
            elif start > max(last_rev, bookmark) + 1 and last_rev:
                v("resumable", f"resumed at revision {start}, skipping revisions "
                  f"{max(last_rev, bookmark) + 1}..{start - 1}", s.open_index)
        session_revs: dict[int, int] = {}  # rev -> record of the response that delivered it
        first_rev: int | None = None
        session_last = 0
        session_bookmark = 0
        for idx, resp in s.responses:
            if resp.progress_notify and not resp.events:
                r = resp.revision
                lo = start or first_rev
                for rev in () if lo is None else revs[bisect.bisect_left(revs, lo):bisect.bisect_right(revs, r)]:
                    for key, fact in sorted(truth[rev].items(), key=lambda kv: repr(kv[0])):
                        if _matches(op, key, fact.type) and (rev, key) not in delivered:
                            v("bookmarkable", f"progress notification at revision {r}, but the {fact.type} "
                              f"of {key!r} at revision {rev} was not delivered", idx, fact.record, key=key)
                session_bookmark = max(session_bookmark, r)
                bookmark = max(bookmark, r)
                continue
            prev_ev_rev = 0
            for ev in resp.events:
                rev = ev.mod_revision
                if rev < prev_ev_rev:
                    v("ordered", f"events out of order within a response ({rev} after {prev_ev_rev})", idx)
                prev_ev_rev = rev
                if rev > resp.revision:
                    v("ordered", f"event at revision {rev} in a response whose header revision is "
                      f"{resp.revision}", idx)
                if start and rev < start:
                    v("resumable", f"event at revision {rev} delivered below the start revision {start}",
                      idx, s.open_index, key=ev.key)
                if rev < last_rev:
                    v("ordered", f"event at revision {rev} delivered after revision {last_rev}", idx, key=ev.key)
                if (rev, ev.key) in delivered:
                    v("unique", f"event at revision {rev} for {ev.key!r} delivered twice",
                      delivered[(rev, ev.key)], idx, key=ev.key)
                if rev <= session_bookmark:
                    v("bookmarkable", f"event at revision {rev} arrived after a progress notification "
                      f"at {session_bookmark}", idx, key=ev.key)
                if rev in session_revs and session_revs[rev] != idx:
                    v("atomic", f"revision {rev} split across two responses", session_revs[rev], idx, key=ev.key)
                session_revs.setdefault(rev, idx)
                delivered.setdefault((rev, ev.key), idx)
                if not in_range(ev.key, op.key, op.range_end):
                    v("filters", f"event for {ev.key!r} outside the watched range", idx, key=ev.key)
                elif not _matches(op, ev.key, ev.type):
                    v("filters", f"{ev.type} event for {ev.key!r} despite filter {list(op.filters)}",
                      idx, key=ev.key)
                _check_prev_kv(op, ev, idx, truth, key_revs, v)
                last_rev = max(last_rev, rev)
                session_last = max(session_last, rev)
                if first_rev is None:
                    first_rev = rev
            # atomic: all known matching events of each revision in this response
            for rev in sorted({ev.mod_revision for ev in resp.events}):
                got = {ev.key for ev in resp.events if ev.mod_revision == rev}
                for key, fact in sorted(truth.get(rev, {}).items(), key=lambda kv: repr(kv[0])):
                    if _matches(op, key, fact.type) and key not in got:
                        v("atomic", f"revision {rev} delivered without its {fact.type} of {key!r}",
                          idx, fact.record, key=key)
        # reliable / resumable: no known matching event missing in [start, last]
        hi = max(session_last, session_bookmark)
        lo = start or first_rev
        if lo is None or not hi:
            continue
        for rev in revs[bisect.bisect_left(revs, lo):bisect.bisect_right(revs, session_last)]:
            if rev in session_revs:
                continue  # partially delivered revisions are reported as atomic
            for key, fact in sorted(truth[rev].items(), key=lambda kv: repr(kv[0])):
                if not _matches(op, key, fact.type) or (rev, key) in delivered:
                    continue
                if first_rev is not None and rev < first_rev and start:
                    v("resumable", f"session starting at revision {start} missed the {fact.type} of "
                      f"{key!r} at revision {rev} (first delivered: {first_rev})",
                      s.open_index, fact.record, key=key)
                else:
                    v("reliable", f"gap: the {fact.type} of {key!r} at revision {rev} was not delivered "
                      f"(delivered up to {session_last})", fact.record, key=key)
    return out


def _check_prev_kv(op: WatchOpen, ev: WatchEvent, idx: int, truth: dict[int, dict[Key, _Fact]],
                   key_revs: dict[Key, list[int]], v: Any) -> None:
    rev = ev.mod_revision
    if not op.prev_kv:
        if ev.prev_kv is not None:
            v("prev_kv", f"event at revision {rev} carries prev_kv, which was not asked for", idx, key=ev.key)
        return
    prev = ev.prev_kv
    created = ev.type == "PUT" and ev.version == 1
    if prev is None:
        if not created:
            earlier = _last_known_before(truth, key_revs, ev.key, rev)
            if ev.type == "DELETE" or (earlier is not None and earlier[1].type == "PUT"):
                v("prev_kv", f"{ev.type} of {ev.key!r} at revision {rev} has no prev_kv", idx, key=ev.key)
        return
    if created:
        v("prev_kv", f"PUT creating {ev.key!r} at revision {rev} has a prev_kv", idx, key=ev.key)
        return
    if prev.key != ev.key or prev.mod_revision >= rev:
        v("prev_kv", f"{ev.type} of {ev.key!r} at revision {rev}: prev_kv is {prev.key!r} at "
          f"{prev.mod_revision}", idx, key=ev.key)
        return
    fact = truth.get(prev.mod_revision, {}).get(ev.key)
    if fact is not None and (fact.type != "PUT" or fact.value != prev.value):
        v("prev_kv", f"{ev.type} of {ev.key!r} at revision {rev}: prev_kv value {to_json(prev.value)!r} "
          f"differs from the write at {prev.mod_revision}", idx, fact.record, key=ev.key)
    revs = key_revs.get(ev.key, [])
    i = bisect.bisect_right(revs, prev.mod_revision)
    if i < len(revs) and revs[i] < rev:
        r = revs[i]
        v("prev_kv", f"{ev.type} of {ev.key!r} at revision {rev}: prev_kv is the version at "
          f"{prev.mod_revision}, but the key changed at {r}", idx, truth[r][ev.key].record, key=ev.key)


def _last_known_before(truth: dict[int, dict[Key, _Fact]], key_revs: dict[Key, list[int]], key: Key,
                       rev: int) -> tuple[int, _Fact] | None:
    revs = key_revs.get(key, [])
    i = bisect.bisect_left(revs, rev) - 1
    return (revs[i], truth[revs[i]][key]) if i >= 0 else None
