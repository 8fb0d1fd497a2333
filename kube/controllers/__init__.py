"""Controllers over the apiserver (kube-controller-manager and kube-scheduler), on a small
controller runtime: shared informers, a rate-limited deduplicating work queue and
level-triggered ``reconcile(key)`` loops (:mod:`kube.controllers.runtime`)."""

from .affinity import (
           HOSTNAME_LABEL,
           ZONE_LABEL,
           InterPodAffinity,
           node_affinity_matches,
           node_affinity_score,
           pod_terms,
           selector_matches,
)
from .deployment import (
           HASH_LABEL,
           REVISION_ANNOTATION,
           DeploymentController,
           pod_template_hash,
           resolve_fenceposts,
           rollback_template,
           rollout_status,
)
from .garbage_collector import BUG_OWNER_FROM_CACHE, GC_RESOURCES, GarbageCollector
from .namespace import NAMESPACED_RESOURCES, NamespaceController
from .node_lifecycle import NodeLifecycleController, toleration_for
from .podgc import CloudNodeLifecycleController, PodGC
from .queue import WorkQueue
from .replicaset import (
           BUG_NO_EXPECTATIONS,
           Expectations,
           ReplicaSetController,
           controller_of,
           is_active,
           is_ready,
)
from .resources import ResourceError, node_allocatable, parse_quantity, pod_requests
from .runtime import Controller, Listener, Result, SharedInformers
from .scheduler import BUG_AFFINITY_NO_ASSUME, Scheduler, fits, tolerates
from .scheduling import (
           SchedulingCycle,
           balanced_allocation,
           failed_scheduling_message,
           least_allocated,
)
from .statefulset import (
           BUG_STALE_IDENTITY,
           POD_NAME_LABEL,
           StatefulSetController,
           claim_name,
           ordinal_of,
)
from .topology_spread import SpreadConstraint, TopologySpread, spread_constraints
from .volume import PersistentVolumeController, volume_name

__all__ = ["BUG_NO_EXPECTATIONS", "BUG_OWNER_FROM_CACHE", "BUG_STALE_IDENTITY", "GC_RESOURCES",
           "NAMESPACED_RESOURCES", "POD_NAME_LABEL", "GarbageCollector", "NamespaceController",
           "PersistentVolumeController", "StatefulSetController", "claim_name", "ordinal_of", "volume_name", "HASH_LABEL", "REVISION_ANNOTATION", "Controller", "DeploymentController", "Expectations", "Listener", "ReplicaSetController", "ResourceError",
           "Result", "Scheduler", "SharedInformers", "WorkQueue", "controller_of", "fits", "is_active", "is_ready",
           "node_allocatable", "parse_quantity", "pod_requests", "pod_template_hash", "resolve_fenceposts",
           "rollback_template", "rollout_status", "tolerates", "NodeLifecycleController", "toleration_for",
           "CloudNodeLifecycleController", "PodGC", "BUG_AFFINITY_NO_ASSUME", "HOSTNAME_LABEL", "ZONE_LABEL",
           "InterPodAffinity", "SchedulingCycle", "SpreadConstraint", "TopologySpread", "balanced_allocation",
           "failed_scheduling_message", "least_allocated", "node_affinity_matches", "node_affinity_score",
           "pod_terms", "selector_matches", "spread_constraints"]
