"""The apiserver's watch cache: every object under ``/registry/``, kept by one list and
one watch, as of ``revision``.

kube-apiserver serves ``resourceVersion="0"`` lists ("any version") from it.  It may lag
the store (its watch is as slow as the member it runs on); lists that must be current
(``resourceVersion`` unset) go to etcd with a quorum read (kubernetes issue #59848 is
what happens otherwise: the catalogued bug ``apiserver_list_from_watch_cache``).
"""

from __future__ import annotations

from raftkv.client import AsyncEtcdClient, ErrCompacted, KVError
from raftkv.tasks import Runtime

from .store import decode, prefix_end

__all__ = ["WatchCache"]


class WatchCache:
    def __init__(self, rt: Runtime, etcd: AsyncEtcdClient, prefix: bytes = b"/registry/", *,
                 retry_s: float = 0.2) -> None:
        self._decode = decode
        self.rt = rt
        self.etcd = etcd
        self.prefix = prefix
        self._end = prefix_end(prefix)
        self.retry_s = retry_s
        self.objects: dict[bytes, tuple[bytes, int]] = {}  # key -> (value, mod_revision)
        self.revision = 0
        self.synced = False

    def list(self, prefix: bytes) -> tuple[list[dict], int]:
        """The cached objects under ``prefix`` (sorted by key) and the cache's revision."""
        items = [self._decode(value, rev) for key, (value, rev) in sorted(self.objects.items())
                 if key.startswith(prefix)]
        return items, self.revision

    async def run(self) -> None:
        while True:
            try:
                resp = await self.etcd.get(self.prefix, range_end=self._end)
                self.objects = {kv.key: (kv.value, kv.mod_revision) for kv in resp.kvs}
                self.revision = resp.header.revision
                self.synced = True
                async with self.etcd.watch(self.prefix, range_end=self._end,
                                           start_revision=self.revision + 1) as stream:
                    async for wresp in stream:
                        for ev in wresp.events:
                            if ev.type.name == "DELETE":
                                self.objects.pop(ev.kv.key, None)
                            else:
                                self.objects[ev.kv.key] = (ev.kv.value, ev.kv.mod_revision)
                        self.revision = max(self.revision, wresp.header_revision)
            except ErrCompacted:
                self.synced = False
            except KVError as exc:
                self.rt.record("apiserver.cache_retry", error=str(exc))
                await self.rt.sleep(self.retry_s)
