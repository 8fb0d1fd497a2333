"""A simulated CSI driver: the storage back end the kubelets attach and mount volumes
through, with CSI's calls (``ControllerPublishVolume`` / ``ControllerUnpublishVolume``
attach and detach a volume to a node; ``NodePublishVolume`` / ``NodeUnpublishVolume``
mount and unmount it for a pod).

Like a cloud disk service, the back end itself does not refuse a second attachment of a
ReadWriteOnce volume: keeping it to one node is the control plane's job (the kubelet
waits until the volume's VolumeAttachment is free).  ``on_change(node, volume, attached)``
lets a checker see every attach and detach.  Attachments outlive a node crash (the disk
stays attached to the machine); mounts do not (:meth:`CsiDriver.node_reset`).
"""

from __future__ import annotations

from collections.abc import Callable

__all__ = ["DRIVER_NAME", "CsiDriver"]

DRIVER_NAME = "csi.raftkv.sim"


class CsiDriver:
    def __init__(self, name: str = DRIVER_NAME, *,
                 on_change: Callable[[str, str, bool], None] | None = None) -> None:
        self.name = name
        self.on_change = on_change
        self.attachments: dict[str, dict[str, None]] = {}  # volume -> nodes it is attached to
        self.mounts: dict[tuple[str, str], dict[str, None]] = {}  # (node, volume) -> pod uids
        self.attaches = 0
        self.exclusive: dict[str, bool] = {}  # volume -> ReadWriteOnce (as the kubelet attached it)

    # ------------------------------------------------------------ controller service
    def controller_publish(self, volume: str, node: str, *, exclusive: bool = True) -> None:
        """Attach ``volume`` to ``node`` (idempotent); ``exclusive``: a ReadWriteOnce volume."""
        self.exclusive[volume] = exclusive
        nodes = self.attachments.setdefault(volume, {})
        if node in nodes:
            return
        nodes[node] = None
        self.attaches += 1
        if self.on_change is not None:
            self.on_change(node, volume, True)

    def controller_unpublish(self, volume: str, node: str) -> None:
        """Detach ``volume`` from ``node`` (idempotent); it must not be mounted there."""
        assert not self.mounts.get((node, volume)), f"detach of {volume} from {node} while mounted"
        nodes = self.attachments.get(volume, {})
        if node not in nodes:
            return
        del nodes[node]
        if not nodes:
            del self.attachments[volume]
        if self.on_change is not None:
            self.on_change(node, volume, False)

    def attached_to(self, node: str) -> list[str]:
        return sorted(v for v, nodes in self.attachments.items() if node in nodes)

    # ------------------------------------------------------------ node service
    def node_publish(self, volume: str, node: str, pod_uid: str) -> None:
        """Mount ``volume`` for a pod on ``node``: it must be attached there."""
        assert node in self.attachments.get(volume, {}), f"mount of {volume} on {node}, where it is not attached"
        self.mounts.setdefault((node, volume), {})[pod_uid] = None

    def node_unpublish(self, volume: str, node: str, pod_uid: str) -> None:
        pods = self.mounts.get((node, volume), {})
        pods.pop(pod_uid, None)
        if not pods:
            self.mounts.pop((node, volume), None)

    def machine_gone(self, node: str) -> None:
        """The machine was terminated for good: the cloud detaches its volumes (as a
        terminated instance's disks are released), and its mounts are gone."""
        for volume in self.attached_to(node):
            self.controller_unpublish(volume, node)
        self.node_reset(node)

    def node_reset(self, node: str) -> None:
        """The node went down: its mounts are gone (its attachments are not)."""
        for key in sorted(k for k in self.mounts if k[0] == node):
            del self.mounts[key]
