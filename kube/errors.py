"""Kubernetes API errors as ``Status`` objects (the wire shape kubectl and client-go read).

:class:`ApiError` carries one Status; the apiserver's handler turns it into the response
body, the kube client raises it again from a non-2xx response.  ``unknown`` says whether
the request may still have taken effect (a 504 Timeout: the store did not answer in time).
"""

from __future__ import annotations

from typing import Any

__all__ = ["ApiError", "already_exists", "bad_request", "conflict", "expired", "forbidden", "internal",
           "invalid", "not_found", "status", "timeout", "unavailable"]

_REASONS = {400: "BadRequest", 403: "Forbidden", 404: "NotFound", 409: "Conflict", 410: "Expired", 422: "Invalid",
            500: "InternalError", 503: "ServiceUnavailable", 504: "Timeout"}


def status(code: int, reason: str, message: str, *, details: dict[str, Any] | None = None) -> dict[str, Any]:
    """A ``meta.k8s.io/v1`` Status of a failure."""
    out: dict[str, Any] = {"apiVersion": "v1", "kind": "Status", "metadata": {}, "status": "Failure",
                           "message": message, "reason": reason, "code": code}
    if details:
        out["details"] = details
    return out


class ApiError(Exception):
    """A failed request; ``status`` is the Status object sent on the wire."""

    def __init__(self, body: dict[str, Any]) -> None:
        self.status = body
        super().__init__(f"{body.get('code')} {body.get('reason')}: {body.get('message')}")

    @property
    def code(self) -> int:
        return int(self.status.get("code", 500))

    @property
    def reason(self) -> str:
        return str(self.status.get("reason", ""))

    @property
    def unknown(self) -> bool:
        """The request may have taken effect (and may still): a timeout."""
        return self.code == 504


def _details(resource: str, name: str, **extra: Any) -> dict[str, Any]:
    group, _, kind = resource.rpartition("/")
    out: dict[str, Any] = {"name": name, "kind": kind}
    if group:
        out["group"] = group
    out.update(extra)
    return out


def not_found(resource: str, name: str) -> ApiError:
    return ApiError(status(404, "NotFound", f'{resource} "{name}" not found',
                           details=_details(resource, name)))


def already_exists(resource: str, name: str) -> ApiError:
    return ApiError(status(409, "AlreadyExists", f'{resource} "{name}" already exists',
                           details=_details(resource, name)))


def conflict(resource: str, name: str, why: str) -> ApiError:
    return ApiError(status(409, "Conflict", f'Operation cannot be fulfilled on {resource} "{name}": {why}',
                           details=_details(resource, name)))


def forbidden(resource: str, message: str) -> ApiError:
    return ApiError(status(403, "Forbidden", message, details={"kind": resource}))


def expired(message: str) -> ApiError:
    return ApiError(status(410, "Expired", message))


def invalid(kind: str, name: str, causes: list[tuple[str, str, str]]) -> ApiError:
    """422 with one cause per ``(field, reason type, message)``."""
    text = "; ".join(f"{field}: {msg}" for field, _t, msg in causes)
    return ApiError(status(422, "Invalid", f'{kind} "{name}" is invalid: {text}',
                           details={"name": name, "kind": kind, "causes": [
                               {"reason": t, "message": msg, "field": field} for field, t, msg in causes]}))


def bad_request(message: str) -> ApiError:
    return ApiError(status(400, "BadRequest", message))


def timeout(message: str) -> ApiError:
    return ApiError(status(504, "Timeout", message))


def unavailable(message: str) -> ApiError:
    return ApiError(status(503, "ServiceUnavailable", message))


def internal(message: str) -> ApiError:
    return ApiError(status(500, "InternalError", message))
