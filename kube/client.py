"""The kube client (async): get/list/watch/create/update/patch/delete of objects in their
wire shape, over a transport to one or more apiservers (client-go's typed clients, in
one generic class).

Failures raise :class:`kube.errors.ApiError` with the server's Status; ``err.unknown``
(504, or no answer from any apiserver) means the request may have taken effect.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any, Protocol

from .apiserver import ApiServer, Request, Response
from .errors import ApiError

__all__ = ["KubeClient", "LocalTransport", "Transport", "WatchEvents"]


class WatchEvents(Protocol):
    """An open watch: an async iterator of ``{"type", "object"}``; ``aclose()`` ends it."""

    def __aiter__(self) -> AsyncIterator[dict[str, Any]]: ...

    async def __anext__(self) -> dict[str, Any]: ...

    async def aclose(self) -> None: ...


class Transport(Protocol):
    async def request(self, req: Request) -> Response:
        """One request's response (a watch's carries an open :class:`WatchEvents`)."""
        ...


class LocalTransport:
    """Calls an :class:`ApiServer` in the same process (tests, embedding)."""

    def __init__(self, server: ApiServer) -> None:
        self.server = server

    async def request(self, req: Request) -> Response:
        return await self.server.handle(req)


class _Watch:
    """A watch over a transport's response: ``async with`` closes it."""

    def __init__(self, events: Any) -> None:
        self._events = events

    def __aiter__(self) -> _Watch:
        return self

    async def __anext__(self) -> dict[str, Any]:
        event: dict[str, Any] = await self._events.__anext__()
        return event

    async def aclose(self) -> None:
        await self._events.aclose()

    async def __aenter__(self) -> _Watch:
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, *exc: object) -> None:
        if exc_type is GeneratorExit:
            return  # the task's coroutine is being closed unfinished: it may not await, and its events go with it
        await self.aclose()


def _query(**params: Any) -> tuple[tuple[str, str], ...]:
    out = []
    for key, value in params.items():
        if value is None or value == "" or value is False:
            continue
        out.append((key, "true" if value is True else str(value)))
    return tuple(out)


class KubeClient:
    def __init__(self, transport: Transport) -> None:
        self.transport = transport

    async def _call(self, req: Request) -> Any:
        resp = await self.transport.request(req)
        if resp.status >= 300:
            raise ApiError(resp.body if isinstance(resp.body, dict) else
                           {"code": resp.status, "reason": "Unknown", "message": str(resp.body)})
        return resp.body

    async def get(self, resource: str, name: str, namespace: str = "", *, subresource: str = "") -> dict[str, Any]:
        out: dict[str, Any] = await self._call(Request(verb="get", resource=resource, namespace=namespace, name=name,
                                             subresource=subresource))
        return out

    async def list(self, resource: str, namespace: str = "", *, resource_version: str | None = None,
                   resource_version_match: str = "", limit: int = 0, continue_: str = "",
                   label_selector: str = "", field_selector: str = "") -> dict[str, Any]:
        """One page (``limit``) or the whole list; ``metadata.continue`` asks for the next."""
        out: dict[str, Any] = await self._call(Request(verb="list", resource=resource, namespace=namespace, query=_query(
            resourceVersion=resource_version, resourceVersionMatch=resource_version_match, limit=limit or None,
            labelSelector=label_selector, fieldSelector=field_selector, **{"continue": continue_})))
        return out

    async def list_all(self, resource: str, namespace: str = "", *, limit: int = 500,
                       label_selector: str = "", field_selector: str = "") -> dict[str, Any]:
        """Every page of a paged list, joined (one snapshot: the first page's revision)."""
        first = await self.list(resource, namespace, limit=limit, label_selector=label_selector,
                                field_selector=field_selector)
        items, token = list(first["items"]), first["metadata"].get("continue", "")
        while token:
            page = await self.list(resource, namespace, limit=limit, continue_=token,
                                   label_selector=label_selector, field_selector=field_selector)
            items.extend(page["items"])
            token = page["metadata"].get("continue", "")
        return {**first, "metadata": {"resourceVersion": first["metadata"]["resourceVersion"]}, "items": items}

    async def watch(self, resource: str, namespace: str = "", *, resource_version: str | None = None,
                    allow_bookmarks: bool = False, timeout_s: int = 0, label_selector: str = "",
                    field_selector: str = "") -> _Watch:
        """Open a watch (``async with await client.watch(...) as events``)."""
        resp = await self.transport.request(Request(
            verb="watch", resource=resource, namespace=namespace, query=_query(
                resourceVersion=resource_version, allowWatchBookmarks=allow_bookmarks,
                timeoutSeconds=timeout_s or None, labelSelector=label_selector, fieldSelector=field_selector)))
        if resp.status >= 300 or resp.watch is None:
            raise ApiError(resp.body if isinstance(resp.body, dict) else
                           {"code": resp.status, "reason": "Unknown", "message": "no watch stream"})
        return _Watch(resp.watch)

    async def create(self, resource: str, obj: dict[str, Any], namespace: str = "", *, name: str = "",
                     subresource: str = "") -> dict[str, Any]:
        """Create ``obj``; with ``subresource``, POST it to ``name``'s subresource (``binding``)."""
        ns = namespace or obj.get("metadata", {}).get("namespace", "")
        out: dict[str, Any] = await self._call(Request(verb="create", resource=resource, namespace=ns, name=name,
                                             subresource=subresource, body=obj))
        return out

    async def bind(self, namespace: str, pod: str, node: str, *, uid: str = "") -> dict[str, Any]:
        """Bind ``pod`` to ``node`` (``pods/<pod>/binding``; ``uid`` a precondition)."""
        meta = {"name": pod, "namespace": namespace, **({"uid": uid} if uid else {})}
        return await self.create("pods", {"apiVersion": "v1", "kind": "Binding", "metadata": meta,
                                          "target": {"apiVersion": "v1", "kind": "Node", "name": node}},
                                 namespace, name=pod, subresource="binding")

    async def update(self, resource: str, obj: dict[str, Any], *, subresource: str = "") -> dict[str, Any]:
        """PUT ``obj``; its ``metadata.resourceVersion``, when set, is a precondition."""
        meta = obj.get("metadata", {})
        out: dict[str, Any] = await self._call(Request(verb="update", resource=resource, namespace=meta.get("namespace", ""),
                                             name=meta.get("name", ""), subresource=subresource, body=obj))
        return out

    async def patch(self, resource: str, name: str, patch: dict[str, Any], namespace: str = "", *,
                    subresource: str = "") -> dict[str, Any]:
        """A JSON merge patch (``application/merge-patch+json``)."""
        out: dict[str, Any] = await self._call(Request(verb="patch", resource=resource, namespace=namespace, name=name,
                                             subresource=subresource, body=patch))
        return out

    async def delete(self, resource: str, name: str, namespace: str = "", *, uid: str = "",
                     resource_version: str = "", propagation_policy: str = "",
                     grace_period_s: int | None = None) -> dict[str, Any]:
        """Delete (``DeleteOptions``: preconditions, ``propagationPolicy``,
        ``gracePeriodSeconds``); returns the object as of the deletion (with its
        ``deletionTimestamp`` when it stays for finalizers or a grace period)."""
        opts: dict[str, Any] = {"apiVersion": "v1", "kind": "DeleteOptions"}
        if grace_period_s is not None:
            opts["gracePeriodSeconds"] = grace_period_s
        pre = {k: v for k, v in (("uid", uid), ("resourceVersion", resource_version)) if v}
        if pre:
            opts["preconditions"] = pre
        if propagation_policy:
            opts["propagationPolicy"] = propagation_policy
        out: dict[str, Any] = await self._call(Request(verb="delete", resource=resource, namespace=namespace, name=name,
                                             body=opts))
        return out

    async def create_if_absent(self, resource: str, obj: dict[str, Any], namespace: str = "") -> bool:
        """Create ``obj``; False (nothing done) when its name is taken (409)."""
        try:
            await self.create(resource, obj, namespace)
        except ApiError as exc:
            if exc.code != 409:
                raise
            return False
        return True

    async def delete_if_present(self, resource: str, name: str, namespace: str = "", *, uid: str = "",
                                grace_period_s: int | None = None) -> bool:
        """Delete ``name``; False when it is gone already (404) or, with ``uid``, the name
        now holds another object (409: the precondition failed)."""
        try:
            await self.delete(resource, name, namespace, uid=uid, grace_period_s=grace_period_s)
        except ApiError as exc:
            if exc.code not in (404, 409):
                raise
            return False
        return True
