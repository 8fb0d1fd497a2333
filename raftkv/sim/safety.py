"""Continuous Raft safety checking over a simulated run.

:class:`SafetyChecker` subscribes to a :class:`~raftkv.sim.World`'s trace and checks,
incrementally, on every ``raft.*`` record the members emit:

* election safety      -- at most one leader per term;
* leader append-only   -- a leader never overwrites or truncates its own log;
* log matching         -- an (index, term) pair always follows the same predecessor term
                          (by induction: two logs agreeing on an entry agree on the prefix);
* state machine safety -- no two members apply different entries at one index;
* apply order          -- each member applies every entry once, in index order, after its
  snapshot (the one it restarted from or installed): no committed entry is skipped, and
  an installed snapshot never takes a member's state machine back;
* leader completeness  -- every entry seen applied (so committed) is in the log of every
  later leader, at its index; since a restarted member rebuilds from its disk alone,
  this is also the check that committed entries survive crashes;
* commit quorum        -- whenever a leader advances its commit index, the entry there is
  in the logs of a quorum of the configuration the leader counted (majorities of both
  voter sets in a joint configuration), as the members' own append records show;
* commit rule          -- a leader advances its commit index only to an entry of its own
  term; earlier entries are committed indirectly (Raft paper section 5.4.2, Figure 8);
* configuration change safety -- a leader appends a membership change only once every
  earlier change in its log is committed and it has committed an entry of its own term
  (Raft thesis section 4.1 and its single-server-change erratum); with one-leader-per-term
  and commit quorum this keeps the quorums of successive configurations overlapping.

The first violation raises :class:`SafetyViolation` out of ``world.run_*`` with a report
naming the property, the members, the term and index, and the tail of the trace.
Members are found as ``world.actor(name).raft_host`` (a :class:`~raftkv.raft.RaftHost`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from raftkv.raft import RaftHost

from .safety_violation import SafetyViolation
from .trace import TraceEvent
from .world import World

__all__ = ["SafetyChecker", "SafetyViolation"]


class SafetyChecker:
    def __init__(self, world: World, *, tail: int = 40) -> None:
        self.world = world
        self.tail = tail
        self.leaders: dict[int, str] = {}
        self.node_last: dict[str, int] = {}
        self.node_leader_term: dict[str, int] = {}
        self.pred_term: dict[tuple[int, int], int] = {}
        self.applied_term: dict[int, int] = {}
        self.applied_by: dict[int, str] = {}
        # index -> a term T such that the entry was committed in a term <= T: every leader
        # of a term > T must have it (the smallest current term of any member applying it)
        self.commit_term_bound: dict[int, int] = {}
        self.max_applied = 0
        self.events_checked = 0
        # What each member's log holds, from its own records: base index (a snapshot) and
        # the terms after it; and the indexes of its membership-change entries.
        self.log_base: dict[str, int] = {}
        self.log_terms: dict[str, list[int]] = {}
        self.conf_indexes: dict[str, list[int]] = {}
        self.commits_checked = 0
        # The last index each member applied (or restored from a snapshot).
        self.node_applied: dict[str, int] = {}
        self._handlers: dict[str, Callable[[TraceEvent], None]] = {
            "raft.start": self._on_start,
            "raft.role": self._on_role,
            "raft.append": self._on_append,
            "raft.apply": self._on_apply,
            "raft.snapshot": self._on_snapshot,
            "raft.commit": self._on_commit,
        }
        world.subscribe(self._on_event)

    # --------------------------------------------------------------- plumbing
    def _on_event(self, ev: TraceEvent) -> None:
        handler = self._handlers.get(ev.kind)
        if handler is not None:
            self.events_checked += 1
            handler(ev)

    def _fail(self, prop: str, nodes: tuple[str, ...], term: int | None, index: int | None,
              detail: str) -> None:
        raise SafetyViolation(prop, nodes=nodes, term=term, index=index, detail=detail,
                              trace_tail=self.world.trace.render(tail=self.tail),
                              time_us=self.world.now_us)

    def _host(self, node: str) -> RaftHost | None:
        actor: Any = self.world.actor(node)
        host = getattr(actor, "raft_host", None)
        return host if isinstance(host, RaftHost) else None

    # --------------------------------------------------------------- handlers
    def _on_start(self, ev: TraceEvent) -> None:
        node = ev.node
        last = ev.fields["last_index"]
        self.node_last[node] = last
        self.node_leader_term.pop(node, None)
        base = self.log_base.get(node, 0)
        snap = ev.fields.get("snapshot_index", 0)
        self.node_applied[node] = snap
        if snap > base + len(self.log_terms.get(node, ())):
            self._reset_log(node, snap)
        else:
            self._truncate_log(node, last + 1)

    # ------------------------------------------------------- member log tracking
    def _reset_log(self, node: str, base: int) -> None:
        self.log_base[node] = base
        self.log_terms[node] = []
        self.conf_indexes[node] = [i for i in self.conf_indexes.get(node, []) if i <= base]

    def _truncate_log(self, node: str, first: int) -> None:
        """Forget ``node``'s entries from index ``first`` on."""
        base = self.log_base.get(node, 0)
        terms = self.log_terms.setdefault(node, [])
        del terms[max(0, first - base - 1):]
        confs = self.conf_indexes.setdefault(node, [])
        while confs and confs[-1] >= first:
            confs.pop()

    def _has_entry(self, node: str, index: int, term: int) -> bool:
        base = self.log_base.get(node, 0)
        if index <= base:
            return True  # covered by an installed snapshot (committed state)
        terms = self.log_terms.get(node, ())
        off = index - base - 1
        return off < len(terms) and terms[off] == term

    def _term_at(self, node: str, index: int) -> int | None:
        base = self.log_base.get(node, 0)
        terms = self.log_terms.get(node, ())
        off = index - base - 1
        return terms[off] if 0 <= off < len(terms) else None

    def _on_role(self, ev: TraceEvent) -> None:
        f = ev.fields
        node = ev.node
        if f["role"] != "leader":
            self.node_leader_term.pop(node, None)
            return
        term = f["term"]
        other = self.leaders.setdefault(term, node)
        if other != node:
            self._fail("election safety", (other, node), term, None,
                       f"{other} and {node} are both leader of term {term}")
        self.node_leader_term[node] = term
        self._check_leader_completeness(node, term)

    def _check_leader_completeness(self, node: str, term: int) -> None:
        host = self._host(node)
        if host is None or host.raft is None:
            return
        log = host.raft.log
        last = log.last_index()
        base = log.base_index
        applied_term = self.applied_term
        bound = self.commit_term_bound
        for i in range(base + 1, self.max_applied + 1):
            want = applied_term.get(i)
            if want is None or bound[i] >= term:
                continue
            if i > last:
                self._fail("leader completeness", (node, self.applied_by[i]), term, i,
                           f"new leader {node} (term {term}) has log up to {last}, but entry "
                           f"{i} (term {want}) was applied by {self.applied_by[i]}")
            got = log.entries[i - base - 1].term
            if got != want:
                self._fail("leader completeness", (node, self.applied_by[i]), term, i,
                           f"new leader {node} (term {term}) has term {got} at index {i}, but "
                           f"{self.applied_by[i]} applied the entry of term {want} there")

    def _on_append(self, ev: TraceEvent) -> None:
        f = ev.fields
        node = ev.node
        first: int = f["first"]
        terms: tuple[int, ...] = f["terms"]
        if f["role"] == "leader" and first <= self.node_last.get(node, 0):
            self._fail("leader append-only", (node,), f["term"], first,
                       f"leader {node} rewrote its log from index {first} "
                       f"(its log ended at {self.node_last.get(node, 0)})")
        self._track_append(ev)
        prev = f["prev_term"]
        pred = self.pred_term
        idx = first
        for t in terms:
            if prev is not None:
                seen = pred.setdefault((idx, t), prev)
                if seen != prev:
                    self._fail("log matching", (node,), t, idx,
                               f"{node} stores entry (index {idx}, term {t}) after an entry of "
                               f"term {prev}; another log has it after term {seen}")
            prev = t
            idx += 1
        self.node_last[node] = idx - 1

    def _on_apply(self, ev: TraceEvent) -> None:
        f = ev.fields
        node = ev.node
        idx = f["first"]
        before = self.node_applied.get(node)
        if before is not None and idx != before + 1:
            self._fail("apply order", (node,), f["term"], idx,
                       f"{node} applied index {idx} next, but its state machine holds the entries "
                       f"up to {before} only" + (f": entries {before + 1}..{idx - 1} were skipped"
                                                 if idx > before + 1 else ": applied twice"))
        self.node_applied[node] = idx + len(f["terms"]) - 1
        applied_term = self.applied_term
        bound = self.commit_term_bound
        term = f["term"]
        for t in f["terms"]:
            seen = applied_term.get(idx)
            if seen is None:
                applied_term[idx] = t
                self.applied_by[idx] = node
                bound[idx] = term
            elif seen != t:
                self._fail("state machine safety", (self.applied_by[idx], node), t, idx,
                           f"{self.applied_by[idx]} applied the entry of term {seen} at index "
                           f"{idx}; {node} applied one of term {t}")
            elif term < bound[idx]:
                bound[idx] = term
            idx += 1
        if idx - 1 > self.max_applied:
            self.max_applied = idx - 1

    def _on_snapshot(self, ev: TraceEvent) -> None:
        if ev.fields["how"] == "installed":
            index = ev.fields["index"]
            before = self.node_applied.get(ev.node, 0)
            if index < before:
                self._fail("apply order", (ev.node,), None, index,
                           f"{ev.node} installed a snapshot at index {index} after applying up to "
                           f"{before}: its state machine went back")
            self.node_applied[ev.node] = index
            self.node_last[ev.node] = ev.fields["index"]
            self._reset_log(ev.node, ev.fields["index"])

    def _track_append(self, ev: TraceEvent) -> None:
        f = ev.fields
        node = ev.node
        first: int = f["first"]
        base = self.log_base.get(node, 0)
        if first <= base:
            return  # below an installed snapshot (cannot happen for a healthy member)
        self._truncate_log(node, first)
        terms = self.log_terms[node]
        if first - base - 1 > len(terms):
            # A gap we did not see (the member was rebuilt from a snapshot): start over there.
            self._reset_log(node, first - 1)
            terms = self.log_terms[node]
        terms.extend(f["terms"])
        confs: tuple[int, ...] = f.get("conf", ())
        if not confs:
            return
        if f["role"] == "leader":
            self._check_conf_append(node, f["term"], f["commit"], confs)
        self.conf_indexes[node].extend(confs)

    def _check_conf_append(self, node: str, term: int, commit: int, confs: tuple[int, ...]) -> None:
        earlier = self.conf_indexes.get(node, [])
        for j in confs:
            prev = max((i for i in (*earlier, *confs) if i < j), default=0)
            if prev > commit:
                self._fail("configuration change safety", (node,), term, j,
                           f"leader {node} appended a membership change at index {j} while the "
                           f"change at index {prev} was not committed (commit index {commit}): "
                           f"two changes in flight")
            if commit > self.log_base.get(node, 0) and self._term_at(node, commit) != term:
                self._fail("configuration change safety", (node,), term, j,
                           f"leader {node} appended a membership change at index {j} before "
                           f"committing an entry of its own term {term} (commit index {commit}, "
                           f"of term {self._term_at(node, commit)})")

    def _on_commit(self, ev: TraceEvent) -> None:
        f = ev.fields
        node = ev.node
        index: int = f["index"]
        term: int = f["entry_term"]
        self.commits_checked += 1
        if term != f["term"]:
            self._fail("commit rule", (node,), f["term"], index,
                       f"leader {node} of term {f['term']} advanced its commit index to {index}, an "
                       f"entry of term {term}: only entries of the leader's own term may be committed "
                       f"by counting replicas (Raft paper 5.4.2, Figure 8)")
        for voters in (f["voters"], f["outgoing"]):
            if not voters:
                continue
            holders = tuple(v for v in voters if self._has_entry(v, index, term))
            if 2 * len(holders) <= len(voters):
                self._fail("commit quorum", (node, *holders), f["term"], index,
                           f"leader {node} committed index {index} (term {term}) but only "
                           f"{', '.join(holders) or 'nobody'} of voters {', '.join(voters)} "
                           f"have it")
