"""Lease guarantees, checked on the client operations of a history.

Times are the history's ``time_us`` (one client clock).  A lease is *surely alive*
until ``invoke time + ttl`` of its last ``ok`` grant or keepalive (the server
started the TTL after the request was sent), unless a revoke was invoked before.
A lease is *surely gone* after ``completion time + ttl + expiry_grace_us`` of its
last grant/keepalive that may have taken effect (the server started the TTL before
the reply arrived; the grace covers the server's expiry sweep and the extension a
new leader grants), or after its revoke completed.

* lease_kept_alive: a key put with a surely-alive lease is not gone: no get
  completing before that time returns it absent (unless some other client write on
  the key could explain it), no DELETE watch event for it is received before that
  time without a delete from a client, and no keepalive before that time answers
  that the lease is not found.
* lease_expired: a linearizable get invoked after the lease is surely gone does not
  return a key still attached to it (``lease`` field of the get result).

Lease clocks restart.  Only the leader expires leases; while there is none (the leader
crashed, no quorum) no lease expires, and every new leader grants each lease a full TTL
again (etcd's lessor ``Promote``, which adds an extension such as an election timeout);
a leader whose lessor clock stops while it is paused does not count the pause (etcd's,
and raftkv's, count it; a system on a clock that stops may not).  The history does not show these
moments, so ``lease_resets_us`` gives them: the times (history clock) at which the
lease clocks may have restarted (a member became leader, a paused member resumed).
Since the history does not show either when a leader *stopped* (a crash, a partition),
a lease not revoked by a client may have survived until any later reset: a key read by
an operation completing at ``c`` is not surely gone before ``p + ttl +
reset_extension_us + expiry_grace_us``, where ``p`` is the last reset before ``c`` (and
after the lease was first granted).  With no reset times given (the default, and what
``raftkv check`` assumes for a plain history) the checker assumes one leader that never
stopped: either pass them, or choose an ``expiry_grace_us`` that covers the leader
changes of the history.

A leader that keeps leading without a quorum (no CheckQuorum) runs its leases out but
cannot commit their revocation: the keys stay until a quorum is back, and a read that
waited for that quorum may still see them.  ``quorum_regained_us`` gives the times at
which a lost quorum may have come back (a member restarted or resumed, a partition
healed or changed, the network or the configuration changed): a key read by an
operation completing at ``c`` is not surely gone before ``q + expiry_grace_us``, where
``q`` is the last such time before ``c`` (and after the lease was first granted).

A lease runs on the leader's clock.  With ``clock_drift_ppm`` (how fast or slow a
leader's clock may run, in parts per million) a TTL lasts at least ``TTL / (1 + d)`` and
at most ``TTL / (1 - d)`` of history time, and the checker uses those bounds; with 0
(the default) clocks keep time.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Sequence

from .history import History, Key, Operation, WatchEvent, WatchResponse
from .violation import Violation

__all__ = ["FAULT_RESET_EXTENSION_US", "check_leases"]

# What a new leader of a real cluster (etcd's, raftkv serve's) may add to each lease's TTL on
# taking over, as ``reset_extension_us`` when the resets are a test-cluster run's faults.
FAULT_RESET_EXTENSION_US = 1_000_000

_PPM = 1_000_000
_NOT_FOUND = ("lease_not_found", "not found", "notfound", "requested lease not found")


def _last_between(times: Sequence[int], lo: int, hi: int | None) -> int | None:
    """The last of the sorted ``times`` in ``[lo, hi]`` (no upper bound for None)."""
    if not times:
        return None
    i = bisect.bisect_right(times, hi if hi is not None else times[-1]) - 1
    return times[i] if i >= 0 and times[i] >= lo else None


def _not_found(op: Operation) -> bool:
    if op.outcome == "ok":
        return op.ttl_s is not None and op.ttl_s <= 0
    return op.outcome == "fail" and op.error is not None and any(s in op.error.lower() for s in _NOT_FOUND)


def check_leases(history: History, *, expiry_grace_us: int = 2_000_000,
                 lease_resets_us: Sequence[int] = (), reset_extension_us: int = 0,
                 quorum_regained_us: Sequence[int] = (), clock_drift_ppm: int = 0) -> list[Violation]:
    """All lease-guarantee violations in ``history`` (empty: none found).

    ``lease_resets_us``: times at which lease clocks may have restarted (leader changes,
    resumed leaders; see the module docstring), in any order; ``reset_extension_us``:
    what a new leader adds to each lease's TTL on taking over; ``quorum_regained_us``:
    times at which a lost quorum may have come back, so that revocations held up until
    then could commit (see the module docstring), in any order; ``clock_drift_ppm``: how
    fast or slow the leader's clock may run (the TTLs stretch or shrink by that much).
    """
    if expiry_grace_us < 0 or reset_extension_us < 0:
        raise ValueError(f"check_leases: expiry_grace_us ({expiry_grace_us}) and reset_extension_us "
                         f"({reset_extension_us}) must be >= 0")
    if not 0 <= clock_drift_ppm < _PPM:
        raise ValueError(f"check_leases: clock_drift_ppm must be in [0, {_PPM}), got {clock_drift_ppm}")

    def shortest_us(local_us: int) -> int:
        """History time a leader's clock running fast takes to count ``local_us``."""
        return local_us * _PPM // (_PPM + clock_drift_ppm)

    def longest_us(local_us: int) -> int:
        """History time a leader's clock running slow takes to count ``local_us``."""
        return -(-local_us * _PPM // (_PPM - clock_drift_ppm))

    resets = sorted(int(t) for t in lease_resets_us)
    regains = sorted(int(t) for t in quorum_regained_us)
    ops = history.operations
    out: list[Violation] = []
    grants: dict[int, list[Operation]] = {}  # lease -> ok grants/keepalives
    maybe: dict[int, list[Operation]] = {}  # lease -> grants/keepalives not failed
    revokes: dict[int, list[Operation]] = {}
    for op in ops:
        if op.f in ("lease_grant", "lease_keepalive") and op.lease is not None:
            if op.outcome == "ok" and not _not_found(op) and op.ttl_s:
                grants.setdefault(op.lease, []).append(op)
            if op.outcome != "fail" and not _not_found(op):
                maybe.setdefault(op.lease, []).append(op)
        elif op.f == "lease_revoke" and op.lease is not None and op.outcome != "fail":
            revokes.setdefault(op.lease, []).append(op)

    def revoke_invoked_before(lease: int, t: int) -> bool:
        return any(r.invoke_time_us is not None and r.invoke_time_us <= t for r in revokes.get(lease, ()))

    def alive_until(lease: int, before: int | None = None) -> int | None:
        best = None
        for g in grants.get(lease, ()):
            if g.invoke_time_us is None or g.ttl_s is None:
                continue
            if before is not None and (g.complete_time_us is None or g.complete_time_us > before):
                continue
            t = g.invoke_time_us + shortest_us(g.ttl_s * 1_000_000)
            best = t if best is None else max(best, t)
        return best

    def gone_after(lease: int, seen_us: int | None = None) -> int | None:
        """Time after which the lease is surely gone (None: may still be alive), for an
        observation completing at ``seen_us`` (later resets are not counted)."""
        ends = []
        for r in revokes.get(lease, ()):
            if r.outcome == "ok" and r.complete_time_us is not None:
                ends.append(r.complete_time_us)
        last = None
        first_invoke = None
        ttl_us = 0
        for g in maybe.get(lease, ()):
            if g.complete_time_us is None or g.ttl_s is None:
                return min(ends) if ends else None  # an unfinished keepalive may extend it
            t = g.complete_time_us + longest_us(g.ttl_s * 1_000_000) + expiry_grace_us
            if last is None or t > last:
                ttl_us = g.ttl_s * 1_000_000
            last = t if last is None else max(last, t)
            if g.invoke_time_us is not None:
                first_invoke = g.invoke_time_us if first_invoke is None else min(first_invoke, g.invoke_time_us)
        if last is not None:
            if first_invoke is not None:
                # the last lease clock restart the observation may have followed
                reset = _last_between(resets, first_invoke, seen_us)
                if reset is not None:
                    last = max(last, reset + longest_us(ttl_us + reset_extension_us) + expiry_grace_us)
                # the last moment a held-up revocation may have become possible
                regain = _last_between(regains, first_invoke, seen_us)
                if regain is not None:
                    last = max(last, regain + expiry_grace_us)
            ends.append(last)
        return min(ends) if ends else None

    # keys -> the writes on them
    writes: dict[Key, list[Operation]] = {}
    for op in ops:
        if op.key is not None and op.f in ("put", "delete", "cas", "txn") and op.outcome != "fail":
            writes.setdefault(op.key, []).append(op)

    # lease_kept_alive: keepalives answering "not found" too early
    for op in ops:
        if op.f != "lease_keepalive" or op.lease is None:
            continue
        lease = op.lease
        if not _not_found(op) or op.complete_time_us is None:
            continue
        until = alive_until(lease, before=op.invoke_time_us)
        if until is not None and op.complete_time_us < until and not revoke_invoked_before(
                lease, op.complete_time_us):
            out.append(Violation(
                guarantee="lease_kept_alive",
                message=(f"lease {lease}: keepalive answered 'not found' at {op.complete_time_us} us, "
                         f"but the lease was kept alive until {until} us"),
                records=tuple(i for i in (op.invoke_index, op.complete_index) if i is not None)))

    # keys -> their gets, and the watch responses with a DELETE of them (in history order)
    gets: dict[Key, list[Operation]] = {}
    for op in ops:
        if op.key is not None and op.f == "get" and op.outcome == "ok":
            gets.setdefault(op.key, []).append(op)
    deletes: dict[Key, list[tuple[int, WatchResponse, WatchEvent]]] = {}
    for idx, resp in history.watch_responses:
        for ev in resp.events:
            if ev.type == "DELETE":
                deletes.setdefault(ev.key, []).append((idx, resp, ev))

    for key in sorted(writes, key=repr):
        out.extend(_check_key(key, writes[key], gets.get(key, ()), deletes.get(key, ()),
                              alive_until, gone_after, revoke_invoked_before))
    return out


def _check_key(key: Key, key_writes: Sequence[Operation], ops: Sequence[Operation],
               deletes: Sequence[tuple[int, WatchResponse, WatchEvent]],
               alive: Callable[..., int | None], gone: Callable[[int, int | None], int | None],
               revoked: Callable[[int, int], bool]) -> list[Violation]:
    """The violations on ``key``: ``ops`` are its ok gets, ``deletes`` the DELETE
    events of it that watches received."""
    out: list[Violation] = []
    leased_puts = [w for w in key_writes if w.f == "put" and w.lease and w.outcome == "ok"
                   and w.complete_time_us is not None]
    for put in leased_puts:
        lease = put.lease
        assert lease is not None and put.complete_time_us is not None
        until = alive(lease)
        # any other write on the key invoked before the observation may explain an absence
        others = [w for w in key_writes if w is not put and w.lease != lease]
        if until is not None:
            for op in ops:
                if (op.key != key or op.f != "get" or op.outcome != "ok" or op.value is not None
                        or op.invoke_time_us is None or op.complete_time_us is None):
                    continue
                if op.invoke_time_us <= put.complete_time_us or op.complete_time_us >= until:
                    continue
                if revoked(lease, op.complete_time_us):
                    continue
                if any(w.invoke_time_us is None or w.invoke_time_us <= op.complete_time_us for w in others):
                    continue
                out.append(Violation(
                    guarantee="lease_kept_alive",
                    message=(f"key {key!r} (lease {lease}, alive until {until} us) read as absent by "
                             f"{op.describe()} completing at {op.complete_time_us} us"),
                    records=tuple(i for i in (put.complete_index, op.complete_index) if i is not None),
                    key=key))
            for idx, resp, ev in deletes:
                if resp.time_us is None or resp.time_us >= until or resp.time_us <= put.complete_time_us:
                    continue
                if revoked(lease, resp.time_us):
                    continue
                if any(w.invoke_time_us is None or w.invoke_time_us <= resp.time_us for w in others):
                    continue
                out.append(Violation(
                    guarantee="lease_kept_alive",
                    message=(f"key {key!r} (lease {lease}, alive until {until} us) deleted at revision "
                             f"{ev.mod_revision}, seen at {resp.time_us} us"),
                    records=tuple(i for i in (put.complete_index, idx) if i is not None), key=key))
    # lease_expired: a get after the lease is surely gone still returns a key attached to it
    for op in ops:
        if (op.key != key or op.f != "get" or op.outcome != "ok" or op.value is None
                or not op.lease or op.invoke_time_us is None):
            continue
        end = gone(op.lease, op.complete_time_us)
        if end is not None and op.invoke_time_us > end:
            out.append(Violation(
                guarantee="lease_expired",
                message=(f"key {key!r} still attached to lease {op.lease}, gone since {end} us, "
                         f"read by {op.describe()} invoked at {op.invoke_time_us} us"),
                records=tuple(i for i in (op.invoke_index, op.complete_index) if i is not None), key=key))
    return out
