"""The bug catalogue: switchable, documented known bugs in raftkv's own code.

Each bug is off by default.  A run switches bugs on by name (``Scenario.bugs``,
``raftkv explore --bug NAME``); the code consults ``name in bugs`` at the place the
bug lives.  The property suites must find every bug here, which is how we know the
checkers can fail.
"""

from __future__ import annotations

from collections.abc import Iterable

import attrs

__all__ = ["BUGS", "Bug", "BugSet", "NO_BUGS", "UnknownBugError", "bug_set"]


@attrs.frozen(kw_only=True)
class Bug:
    name: str
    layer: str  # "raft", "kv", "client" or "kube"
    summary: str
    reference: str


_CATALOGUE = (
    Bug(
        name="figure8_commit",
        layer="raft",
        summary="A leader commits an entry of a previous term by counting replicas.",
        reference="Raft paper, section 5.4.2 and Figure 8",
    ),
    Bug(
        name="vote_not_persisted",
        layer="raft",
        summary="Term and vote are not fsynced before a vote is granted.",
        reference="Raft paper, Figure 2 (persistent state); etcd-io/raft Ready.HardState",
    ),
    Bug(
        name="no_conflict_truncation",
        layer="raft",
        summary="A follower overwrites conflicting entries but keeps the stale suffix after them.",
        reference="Raft paper, Figure 2, AppendEntries receiver rule 3",
    ),
    Bug(
        name="read_without_readindex",
        layer="raft",
        summary="A leader serves linearizable reads from local state without confirming leadership.",
        reference="Raft thesis, section 6.4 (ReadIndex); etcd issue #741",
    ),
    Bug(
        name="follower_local_reads",
        layer="kv",
        summary="A follower answers linearizable gets from its own state, which may lag the "
                "leader's, instead of asking the leader for a read index first.",
        reference="Raft thesis, section 6.4 (reads on followers need the leader's commit index); "
                  "etcd linearizable vs serializable range",
    ),
    Bug(
        name="lease_read_skew",
        layer="raft",
        summary="Lease-based reads time the lease on the local wall clock with no drift margin "
                "(stale when that clock runs slow or jumps back).",
        reference="Raft thesis, section 6.4.1; etcd-io/raft ReadOnlyLeaseBased",
    ),
    Bug(
        name="apply_before_durable",
        layer="raft",
        summary="A leader applies and acknowledges entries once they are in its own log, before a majority has them.",
        reference="Raft paper, section 5.3 (commitment)",
    ),
    Bug(
        name="no_pending_conf_guard",
        layer="raft",
        summary="A second membership change is accepted while one is still pending.",
        reference="Raft thesis, section 4.1; etcd-io/raft pendingConfIndex",
    ),
    Bug(
        name="conf_change_before_term_commit",
        layer="raft",
        summary="A new leader changes membership before committing an entry of its own term.",
        reference="Ongaro, 'bug in single-server membership changes' (raft-dev, 2015)",
    ),
    Bug(
        name="leaving_leader_appends",
        layer="raft",
        summary="A leader keeps appending proposals after proposing its own removal or "
                "demotion; once it has left, its longer log makes it refuse the vote that the "
                "remaining voters, not yet told the change committed, still need: no leader ever.",
        reference="Raft thesis, section 4.2.2 (a removed leader steps down); etcd-io/raft "
                  "switchToConfig's step-down of a removed leader (raft.go)",
    ),
    Bug(
        name="lease_no_extend_on_leader_change",
        layer="kv",
        summary="A new leader does not extend lease TTLs, so leases expire early after an election.",
        reference="etcd lessor Promote(); etcd issue #9880",
    ),
    Bug(
        name="watch_resume_at_last_revision",
        layer="client",
        summary="A reconnecting watch resumes at the last seen revision instead of the next one.",
        reference="etcd clientv3 watcher resume (WithRev(lastRev+1))",
    ),
    Bug(
        name="heartbeat_commit_unmatched",
        layer="raft",
        summary="A leader puts its whole commit index in heartbeats, not min(match, commit): a "
                "follower still holding a deposed leader's stale entries commits and applies them.",
        reference="etcd-io/raft sendHeartbeat (commit = min(pr.Match, committed)); "
                  "atomix/copycat #265; scylladb/scylladb #9965",
    ),
    Bug(
        name="restart_skips_apply",
        layer="raft",
        summary="A restarted member takes the durable commit index as already applied, though its "
                "state machine was only restored from the last snapshot: the entries in between "
                "are never applied there.",
        reference="etcd issue #13766 (v3.5 data inconsistency: consistent index saved ahead of "
                  "the applied state; postmortem etcd PR #13967)",
    ),
    Bug(
        name="election_timeout_not_randomized",
        layer="raft",
        summary="Every member waits the same fixed election timeout, so members that lost the "
                "leader together campaign together and split the vote, round after round.",
        reference="Raft paper, section 5.2 (randomized election timeouts); goraft/raft #13; "
                  "baidu/braft #464",
    ),
    Bug(
        name="stale_snapshot_install",
        layer="raft",
        summary="A follower installs every snapshot it is sent, even a duplicated or delayed "
                "one older than its commit index: its state machine rolls back, yet it goes on "
                "applying after its newer applied index.",
        reference="etcd-io/raft restore() ('ignore old snapshot': index <= committed); Raft "
                  "thesis, section 5.1 (InstallSnapshot receiver)",
    ),
    Bug(
        name="compact_drops_latest",
        layer="kv",
        summary="Compaction also removes the version each key held at the compaction revision, "
                "so a key not written since then reads as absent.",
        reference="etcd issue #17780 and PR #17815 (compaction removed a key's last revision); "
                  "etcd issue #22376",
    ),
    Bug(
        name="txn_compare_missing_key",
        layer="kv",
        summary="A txn compare on a key that does not exist always fails, instead of comparing "
                "version/create/mod revision against zero (so create-if-absent never succeeds).",
        reference="etcd issue #3920 and PR #3921 (compares on non-existent keys use a zero "
                  "KeyValue); etcd issue #13035",
    ),
    Bug(
        name="client_retry_unknown_write",
        layer="client",
        summary="The client re-sends a write (put, delete, txn) to another member when the first "
                "one is slow or answers with a timeout, as if it had not been applied: it may be "
                "applied twice, and the client reports the second outcome.",
        reference="etcd PR #6691 (clientv3: do not retry on mutable operations); etcd issue #18424",
    ),
    Bug(
        name="discovery_no_relist_after_compaction",
        layer="kube",
        summary="A discovery client whose watch was compacted away watches on from the "
                "compaction revision without listing again, so it keeps instances deleted "
                "in between.",
        reference="etcd issue #9386 (resuming past ErrCompacted without a Get); cilium PR #3011",
    ),
)

_KUBE_CATALOGUE = (
    Bug(
        name="apiserver_list_from_watch_cache",
        layer="kube",
        summary="A list without a resourceVersion (which must be current) is served from the "
                "apiserver's watch cache, which lags the store when its member is cut off.",
        reference="kubernetes issue #59848 (stale reads from the watch cache); KEP-2340 consistent reads",
    ),
    Bug(
        name="apiserver_watch_starts_at_resource_version",
        layer="kube",
        summary="A watch from resourceVersion N starts at N instead of after it, so the change "
                "at N is delivered again.",
        reference="kube-apiserver storage/etcd3 watcher (watches from resourceVersion + 1); the same "
                  "off-by-one as etcd clientv3's watch resume (WithRev(lastRev + 1))",
    ),
    Bug(
        name="apiserver_continue_at_latest_revision",
        layer="kube",
        summary="The pages after the first of a paged list are read at the latest revision instead "
                "of the one in the continue token, so the list is not one snapshot.",
        reference="KEP-365 (paginated API lists: every page at the first page's revision)",
    ),
    Bug(
        name="apiserver_update_ignores_resource_version",
        layer="kube",
        summary="An update carrying metadata.resourceVersion is written unconditionally instead of "
                "failing with 409 Conflict when the object changed, losing concurrent updates.",
        reference="Kubernetes API concepts, optimistic concurrency control; kubernetes issue #6288 "
                  "(updates without a resourceVersion made optional concurrency control a trap)",
    ),
    Bug(
        name="apiserver_watch_skips_compacted_revisions",
        layer="kube",
        summary="A watch from a compacted resourceVersion silently goes on from the compaction "
                "revision instead of ending with 410 Gone, so the changes in between are lost.",
        reference="kube-apiserver watch (ERROR event with 410 Expired); kubernetes issue #72187 "
                  "(a watch from a compacted resourceVersion gets 410 Gone, and the client lists again)",
    ),
    Bug(
        name="replicaset_no_expectations",
        layer="kube",
        summary="The ReplicaSet controller acts on its pod cache without waiting for the creations "
                "and deletions it made to show up there, so a cache that lags its own writes makes it "
                "create pods again: more pods than replicas.",
        reference="kube-controller-manager ControllerExpectations (pkg/controller/controller_utils.go); "
                  "Sieve (Sun et al., OSDI 2022): controllers acting on a stale view",
    ),
    Bug(
        name="restart_without_backoff",
        layer="kube",
        summary="The kubelet restarts an exited container at once instead of waiting out its "
                "crash-loop backoff (10 s doubling to 300 s), so a crashing container restarts in "
                "a tight loop.",
        reference="kubernetes issue #4121 (kubelet should back off restarts of crashlooping "
                  "containers); kubernetes issue #133472 (no backoff before the first restart)",
    ),
    Bug(
        name="oom_ignores_limit",
        layer="kube",
        summary="A container's memory use is charged past its memory limit without an OOM kill, "
                "so the limit does not cap it.",
        reference="Kubernetes docs, Resource Management for Pods and Containers (a container "
                  "over its memory limit is OOM-killed); aws/amazon-ecs-agent issue #794 (a container "
                  "kept running past its memory limit, never killed)",
    ),
    Bug(
        name="leader_election_no_fencing",
        layer="kube",
        summary="A leader's writes carry no fence: a controller manager or scheduler that was paused "
                "or cut off past its lease still writes once it runs again, after a newer leader wrote.",
        reference="client-go tools/leaderelection (its documentation: it does not guarantee that only "
                  "one client acts as the leader, a.k.a. fencing); Kleppmann, 'How to do distributed "
                  "locking' (fencing tokens)",
    ),
    Bug(
        name="scheduler_stale_cache_double_book",
        layer="kube",
        summary="The scheduler places pods from its informer cache alone, without counting the pods it "
                "bound (assumed) and does not see bound yet: a lagging cache double-books a node past "
                "its allocatable.",
        reference="kube-scheduler's cache AssumePod/FinishBinding; kubernetes issues #37232 (all pods "
                  "scheduled to one node, then rejected by the kubelet) and #38503 (an assumed pod "
                  "expiring before its binding ended)",
    ),
    Bug(
        name="scheduler_affinity_ignores_assumed",
        layer="kube",
        summary="The scheduler counts the pods it bound moments ago (assumed, not yet seen bound in its "
                "cache) for resources but not for inter-pod affinity and topology spread: two pods "
                "with a required anti-affinity to each other, scheduled back to back, land on one node.",
        reference="kube-scheduler's cache AssumePod feeding the InterPodAffinity and PodTopologySpread "
                  "pre-filter state; kubernetes issues #138546 (two replicas with required anti-affinity "
                  "bound to one node while their bindings were slow) and #65257 (anti-affine pods on one "
                  "node when the scheduler did not know of a pod just bound)",
    ),
    Bug(
        name="node_eviction_without_grace",
        layer="kube",
        summary="The node lifecycle controller evicts the pods of a node as soon as it taints it "
                "unreachable, ignoring their tolerationSeconds: a node whose heartbeats were only late "
                "loses its pods.",
        reference="kube-controller-manager NoExecuteTaintManager and DefaultTolerationSeconds; "
                  "kubernetes issue #101599 (when pods of an unreachable node are deleted, against "
                  "their tolerationSeconds)",
    ),
    Bug(
        name="clusterip_duplicate_allocation",
        layer="kube",
        summary="The apiserver writes the ClusterIP and NodePort allocation bitmaps back without the "
                "revision it read (no compare-and-swap), so racing Service creates overwrite each "
                "other's bits and two Services end up holding one address.",
        reference="kube-apiserver ipallocator/portallocator storage (the RangeAllocation is updated "
                  "with its resourceVersion as a precondition); kubernetes issue #109927 (duplicate "
                  "ClusterIPs handed out by the allocator)",
    ),
    Bug(
        name="endpoints_publish_not_ready",
        layer="kube",
        summary="The Endpoints/EndpointSlice controller publishes pods that are not ready as ready "
                "addresses, so Services send traffic to pods whose readiness probe has not passed.",
        reference="kube-controller-manager endpoints controller (notReadyAddresses unless "
                  "publishNotReadyAddresses); kubernetes issues #75889 and #61223 (unready pods in a "
                  "Service's endpoints)",
    ),
    Bug(
        name="kube_proxy_stale_rules",
        layer="kube",
        summary="kube-proxy never removes an endpoint that left a Service from its rules, so the "
                "node keeps sending connections to a pod that is gone.",
        reference="kubernetes issues #67875 (kube-proxy kept a removed endpoint in iptables) and "
                  "#110301 (the last endpoint leaving not handled)",
    ),
    Bug(
        name="iptables_wrong_probability",
        layer="kube",
        summary="kube-proxy's iptables KUBE-SVC chain gives every endpoint rule probability 1/n "
                "instead of 1/n, 1/(n-1), ..., 1: shares are unequal and some connections fall off "
                "the end of the chain.",
        reference="kube-proxy iptables proxier (the statistic rules of a KUBE-SVC chain); kubernetes "
                  "issues #34321 and #37932 (unequal iptables load balancing)",
    ),
    Bug(
        name="statefulset_stale_identity",
        layer="kube",
        summary="The StatefulSet controller takes a pod it sees being deleted as good as gone: it "
                "force-deletes it (grace 0) and creates the replacement with the same name at once, while "
                "the old pod's containers are still stopping on their node: two pods with one identity run.",
        reference="Kubernetes docs, Force Delete StatefulSet Pods (at most one pod per identity; "
                  "kubernetes/website PR 1731); Sieve (Sun et al., OSDI 2022): controllers acting on a stale view",
    ),
    Bug(
        name="gc_owner_from_cache",
        layer="kube",
        summary="The garbage collector starts before its caches have synced and takes an owner its cache "
                "does not hold as deleted, with no live lookup: after a restart it deletes dependents "
                "whose owners are alive.",
        reference="kubernetes issue #88097 (the garbage collector deleted resources whose owners were alive, "
                  "after a controller-manager restart); kubernetes PR 57503 (owners the graph has not "
                  "observed are looked up, not assumed gone)",
    ),
)

BUGS: dict[str, Bug] = {bug.name: bug for bug in (*_CATALOGUE, *_KUBE_CATALOGUE)}

BugSet = frozenset[str]
NO_BUGS: BugSet = frozenset()


class UnknownBugError(ValueError):
    pass


def bug_set(names: Iterable[str]) -> BugSet:
    """Validate bug names and return them as a :data:`BugSet`."""
    names = tuple(names)
    for name in names:
        if name not in BUGS:
            known = ", ".join(sorted(BUGS))
            raise UnknownBugError(f"unknown bug {name!r}; known bugs: {known}")
    return frozenset(names)
