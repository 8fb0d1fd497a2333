"""The apiserver over HTTP: kube-apiserver's REST paths on :mod:`raftkv.runtime.http`
(h11 on trio), for kubectl, client-go and the official Python client.

:class:`KubeHttp` turns an HTTP request into a :class:`kube.apiserver.Request` and its
:class:`~kube.apiserver.Response` into JSON, a ``meta.k8s.io/v1`` Table when the client
asks for one, or a chunked stream of watch events (one JSON object a line).  Besides the
resources: ``/version``, ``/healthz`` (``/livez``, ``/readyz``), discovery and
``/openapi/v3`` (:mod:`kube.apidocs`; ``/openapi/v2`` answers 404).  Bodies are JSON,
protobuf for creates and updates (:mod:`kube.protobuf`), or for server-side apply JSON or
YAML.  Unknown fields (:mod:`kube.fields`) in a created or updated object or a merge
patch are a 400 with ``fieldValidation=Strict`` (kubectl's default), ``Warning`` headers
with ``Warn`` (the default) and ignored with ``Ignore``.  A write without ``fieldManager``
is recorded as the User-Agent's.  Errors are Status objects: 401 without the bearer token
(when one is set), 404 for unknown paths, 405 for unsupported methods, 413 for a body over
:data:`MAX_BODY_BYTES`, 415 for a body type not served, 400 for bad JSON.
"""

from __future__ import annotations

import hmac
import json
import logging
import math
import time
from collections.abc import AsyncIterator, Callable
from typing import Any
from urllib.parse import parse_qsl, unquote

import trio
import yaml

from raftkv.runtime import HttpRequest, HttpResponder

from . import apidocs, errors, protobuf
from .apiserver import ApiServer, Request, Response, close
from .fieldmanager import APPLY_PATCH
from .fields import unknown_fields
from .patch import MERGE_PATCH, PATCH_TYPES
from .registry import STRATEGIES
from .tables import table, wants_table

__all__ = ["MAX_BODY_BYTES", "KubeHttp", "unknown_fields"]

log = logging.getLogger("kube.http")

#: kube-apiserver's limit on a request body (3 MiB)
MAX_BODY_BYTES = 3 << 20

_HEALTH = ("/healthz", "/livez", "/readyz")
FIELD_VALIDATION = ("Strict", "Warn", "Ignore")


class _Route:
    def __init__(self, resource: str, namespace: str, name: str, subresource: str) -> None:
        self.resource, self.namespace, self.name, self.subresource = resource, namespace, name, subresource


def _route(parts: list[str]) -> _Route | None:
    """``parts`` after ``/api/v1`` or ``/apis/<g>/<v>``: ``[namespaces/<ns>/]<resource>[/<name>[/<sub>]]``."""
    if len(parts) >= 3 and parts[0] == "namespaces" and parts[2] in STRATEGIES and STRATEGIES[parts[2]].namespaced:
        ns, rest = parts[1], parts[2:]
    else:
        ns, rest = "", parts
    if not rest or len(rest) > 3 or rest[0] not in STRATEGIES:
        return None
    return _Route(rest[0], ns, rest[1] if len(rest) > 1 else "", rest[2] if len(rest) > 2 else "")


def _yaml_object(raw: bytes) -> Any:
    """An apply patch's body: JSON, or YAML."""
    try:
        return json.loads(raw)
    except ValueError:
        pass
    try:
        return yaml.safe_load(raw)
    except yaml.YAMLError as exc:
        raise errors.bad_request(f"the body of the request is neither JSON nor YAML: {exc}".splitlines()[0]) from None


def _status(code: int, reason: str, message: str) -> dict[str, Any]:
    return errors.status(code, reason, message)


class KubeHttp:
    """An HTTP handler (for :func:`raftkv.runtime.http.serve_http`) in front of ``server``."""

    def __init__(self, server: ApiServer, *, token: str = "", address: str = "",
                 clock_s: Callable[[], float] = time.time) -> None:
        self.server = server
        self.token = token
        self.address = address
        self.clock_s = clock_s

    async def _send(self, responder: HttpResponder, status: int, body: Any,
                    headers: tuple[tuple[str, str], ...] = ()) -> None:
        await responder.send(status, json.dumps(body, separators=(",", ":")).encode(), headers=headers)

    async def handle(self, request: HttpRequest, responder: HttpResponder) -> None:
        try:
            await self._handle(request, responder)
        except errors.ApiError as exc:
            if not responder.started:
                await self._send(responder, exc.code, exc.status)
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            raise  # the connection's end: the HTTP server closes it
        except Exception as exc:  # one request's failure must not stop the server
            log.exception("%s %s failed", request.method, request.target)
            if not responder.started:
                body = errors.internal(f"{type(exc).__name__}: {exc}").status
                await self._send(responder, 500, body)
            else:
                raise trio.BrokenResourceError("response abandoned") from exc

    def _authorized(self, request: HttpRequest) -> bool:
        if not self.token:
            return True
        given = request.headers.get("authorization", "")
        return hmac.compare_digest(given.encode(), f"Bearer {self.token}".encode())

    async def _read_body(self, request: HttpRequest) -> bytes:
        parts, size = [], 0
        async for chunk in request.chunks():
            size += len(chunk)
            if size > MAX_BODY_BYTES:
                async for _ in request.chunks():
                    pass
                raise errors.ApiError(_status(413, "RequestEntityTooLarge",
                                              f"Request entity too large: limit is {MAX_BODY_BYTES}"))
            parts.append(chunk)
        return b"".join(parts)

    async def _handle(self, request: HttpRequest, responder: HttpResponder) -> None:
        path = unquote(request.path).rstrip("/") or "/"
        if path in _HEALTH:
            await responder.send(200, b"ok", "text/plain")
            return
        if not self._authorized(request):
            raise errors.ApiError(_status(401, "Unauthorized", "Unauthorized"))
        if path == "/version":
            await self._send(responder, 200, apidocs.version_info())
            return
        if path == "/api":
            await self._send(responder, 200, apidocs.api_versions(self.address))
            return
        if path == "/apis":
            await self._send(responder, 200, apidocs.api_groups())
            return
        if path.startswith("/openapi/v3"):
            doc = apidocs.openapi_v3_index() if path == "/openapi/v3" else apidocs.openapi_v3(
                path.removeprefix("/openapi/v3/").removeprefix("api/").removeprefix("apis/"))
            if doc is None:
                raise errors.ApiError(_status(404, "NotFound", f"no OpenAPI document at {path}"))
            await self._send(responder, 200, doc)
            return
        parts = path.strip("/").split("/")
        if parts[0] == "api" and len(parts) >= 2:
            group_version, rest = parts[1], parts[2:]
        elif parts[0] == "apis" and len(parts) >= 3:
            group_version, rest = f"{parts[1]}/{parts[2]}", parts[3:]
        else:
            raise errors.ApiError(_status(404, "NotFound", f"the server could not find the requested resource "
                                                           f"(path {path})"))
        if not rest:
            doc = apidocs.api_resources(group_version)
            if doc is None:
                raise errors.ApiError(_status(404, "NotFound", f"the server could not find the requested "
                                                               f"resource (group version {group_version})"))
            await self._send(responder, 200, doc)
            return
        route = _route(rest)
        if route is None or STRATEGIES[route.resource].api_version != group_version:
            raise errors.ApiError(_status(404, "NotFound", f"the server could not find the requested resource "
                                                           f"(path {path})"))
        await self._resource(request, responder, route)

    async def _resource(self, request: HttpRequest, responder: HttpResponder, route: _Route) -> None:
        query = tuple(parse_qsl(request.target.partition("?")[2], keep_blank_values=True))
        params = dict(query)
        method = request.method
        if method == "GET":
            watch = params.get("watch", "").lower() in ("1", "true")
            verb = "get" if route.name else ("watch" if watch else "list")
        elif method == "POST" and not route.name:
            verb = "create"
        else:
            verb = {"PUT": "update", "PATCH": "patch", "DELETE": "delete"}.get(method, "")
            if not verb or not route.name:
                raise errors.ApiError(_status(405, "MethodNotAllowed",
                                              f"the server does not allow this method on the requested "
                                              f"resource ({method} {route.resource})"))
        validation = params.get("fieldValidation", "") or "Warn"  # kube-apiserver's default
        if validation not in FIELD_VALIDATION:
            raise errors.bad_request(f"fieldValidation must be one of {', '.join(FIELD_VALIDATION)}, "
                                     f"got {validation!r}")
        body: Any = None
        patch_type = MERGE_PATCH
        warnings: tuple[tuple[str, str], ...] = ()
        raw = await self._read_body(request)
        if verb in ("create", "update", "patch") or (verb == "delete" and raw):
            ctype = request.headers.get("content-type", "application/json").split(";")[0].strip()
            decoded = False
            if verb == "patch":
                if ctype not in (*PATCH_TYPES, APPLY_PATCH):
                    raise errors.ApiError(_status(415, "UnsupportedMediaType",
                                                  f"the body of the request was in an unknown format - accepted "
                                                  f"media types include: {', '.join(PATCH_TYPES)}, {APPLY_PATCH} "
                                                  f"(not {ctype})"))
                patch_type = ctype
                if ctype == APPLY_PATCH:
                    body, decoded = _yaml_object(raw), True
            elif ctype == protobuf.CONTENT_TYPE and verb in ("create", "update") and not route.subresource:
                try:
                    body, decoded = protobuf.decode_object(raw), True
                except protobuf.ProtobufError as exc:
                    raise errors.ApiError(_status(415, "UnsupportedMediaType",
                                                  f"the protobuf body could not be decoded: {exc}")) from None
            elif ctype not in ("application/json", ""):
                accepted = "application/json" + (f", {protobuf.CONTENT_TYPE}" if verb != "delete" else "")
                raise errors.ApiError(_status(415, "UnsupportedMediaType",
                                              f"the body of the request was in an unknown format - accepted "
                                              f"media types include: {accepted} (not {ctype})"))
            if not decoded:
                try:
                    body = json.loads(raw) if raw else None
                except ValueError as exc:
                    raise errors.bad_request(f"the body of the request is not valid JSON: {exc}") from None
            if verb in ("create", "update", "patch") and validation != "Ignore" and not route.subresource:
                # a JSON patch (a list of operations) is not checked
                applied = patch_type == APPLY_PATCH
                unknown = unknown_fields(body, STRATEGIES[route.resource].kind if verb == "patch" and not applied else "")
                if unknown and validation == "Strict":
                    raise errors.bad_request("strict decoding error: " + ", ".join(
                        f'unknown field "{u}"' for u in unknown))
                warnings = tuple(("Warning", f'299 - "unknown field \\"{u}\\""') for u in unknown)
        timeout_s = 0.0
        if verb == "watch":  # the stream's deadline is kept here (see _stream)
            try:
                timeout_s = float(params.get("timeoutSeconds") or 0)
            except ValueError:
                raise errors.bad_request(f"timeoutSeconds must be a number, got {params['timeoutSeconds']!r}") from None
            query = tuple((k, v) for k, v in query if k != "timeoutSeconds")
        if verb in ("create", "update", "patch") and patch_type != APPLY_PATCH and not params.get("fieldManager"):
            # kube-apiserver's default manager: the client's name (its User-Agent up to "/")
            agent = request.headers.get("user-agent", "").split("/")[0].strip()
            if agent:
                query = (*query, ("fieldManager", agent))
        req = Request(verb=verb, resource=route.resource, namespace=route.namespace, name=route.name,
                      subresource=route.subresource, query=query, body=body, patch_type=patch_type)
        resp = await self.server.handle(req)
        as_table = wants_table(request.headers.get("accept", "")) and not route.subresource
        if resp.watch is not None:
            await self._stream(request, responder, route.resource, resp.watch, as_table, params, timeout_s)
            return
        await self._send(responder, resp.status, self._shape(resp, route.resource, as_table, params),
                         warnings if resp.status < 300 else ())

    def _include(self, obj: dict[str, Any], params: dict[str, str]) -> Any:
        what = params.get("includeObject", "Metadata")
        if what == "None":
            return None
        if what == "Object":
            return obj
        return {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": obj.get("metadata", {})}

    def _table(self, resource: str, objects: list[dict[str, Any]], params: dict[str, str], list_meta: dict[str, Any] | None = None) -> dict[str, Any]:
        out = table(resource, objects, now_s=int(self.clock_s()), list_meta=list_meta)
        for row in out["rows"]:
            row["object"] = self._include(row["object"], params)
        return out

    def _shape(self, resp: Response, resource: str, as_table: bool, params: dict[str, str]) -> Any:
        body = resp.body
        if not as_table or resp.status >= 300 or not isinstance(body, dict):
            return body
        if "items" in body:
            return self._table(resource, body["items"], params, body.get("metadata"))
        if body.get("kind") == "Status":
            return body
        return self._table(resource, [body], params, {"resourceVersion": body.get("metadata", {}).get("resourceVersion", "")})

    async def _stream(self, request: HttpRequest, responder: HttpResponder, resource: str,
                      events: AsyncIterator[dict[str, Any]], as_table: bool, params: dict[str, str],
                      timeout_s: float) -> None:
        """Send ``events`` as chunks until they end, ``timeout_s`` passes (0: never) or the
        client leaves.  The store's event generator runs in a task of its own (it holds
        the etcd watch's task group open across its yields, so no other cancel scope may
        come in between)."""
        await responder.start_stream(200, "application/json")
        send, receive = trio.open_memory_channel[dict[str, Any]](256)

        async def pump() -> None:
            async with send:
                try:
                    async for event in events:
                        await send.send(event)
                finally:
                    await close(events)

        async def forward(cancel: trio.CancelScope) -> None:
            try:
                with trio.move_on_after(timeout_s if timeout_s > 0 else math.inf):
                    async for event in receive:
                        obj = event.get("object")
                        if as_table and event.get("type") in ("ADDED", "MODIFIED", "DELETED") and isinstance(obj, dict):
                            event = {"type": event["type"], "object": self._table(resource, [obj], params)}
                        await responder.stream_chunk(json.dumps(event, separators=(",", ":")).encode() + b"\n")
                await responder.end_stream()
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                pass  # the client went away
            finally:
                cancel.cancel()

        async with trio.open_nursery() as nursery:
            nursery.start_soon(pump)
            nursery.start_soon(forward, nursery.cancel_scope)
            try:
                await request.wait_closed()
            except (trio.BrokenResourceError, trio.ClosedResourceError, OSError):
                pass
            nursery.cancel_scope.cancel()
