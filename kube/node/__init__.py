"""The simulated parts of a node, shaped like the real plug-in interfaces the kubelet
drives: a CRI container runtime (:mod:`kube.node.cri`, containers whose behaviour comes
from their spec, :mod:`kube.node.behaviour`), CNI host-local IPAM (:mod:`kube.node.cni`),
cgroup accounting (:mod:`kube.node.cgroups`), and the kubelet's own prober
(:mod:`kube.node.probes`) and SyncPod with restart policy and crash-loop backoff
(:mod:`kube.node.pods`)."""

from .behaviour import (
           Behaviour,
           BehaviourError,
           Probe,
           behaviour_of,
           pod_shutdown_s,
           probe_of,
           probe_succeeds,
)
from .cgroups import BUG_OOM_IGNORES_LIMIT, Cgroups, Limits, limits_of
from .cni import HostLocalIpam, IpamError
from .cri import ContainerEvent, ContainerRuntime, ContainerStatus, CriError
from .pods import BUG_RESTART_WITHOUT_BACKOFF, BackoffPolicy, PodSync, PodSyncer, should_restart
from .probes import Prober

__all__ = ["BUG_OOM_IGNORES_LIMIT", "BUG_RESTART_WITHOUT_BACKOFF", "BackoffPolicy", "Behaviour", "BehaviourError",
           "Cgroups", "ContainerEvent", "ContainerRuntime", "ContainerStatus", "CriError", "HostLocalIpam",
           "IpamError", "Limits", "PodSync", "PodSyncer", "Probe", "Prober", "behaviour_of", "limits_of", "pod_shutdown_s",
           "probe_of", "probe_succeeds", "should_restart"]
