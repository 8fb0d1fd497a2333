"""Helpers of the real-cluster tests: a JSON POST to a gateway."""

from __future__ import annotations

import json
import urllib.error
import urllib.request


def post_json(url: str, body: object, timeout_s: float = 10.0) -> tuple[int, dict]:
    """POST ``body`` as JSON; (HTTP status, decoded answer), error answers included."""
    req = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST")
    try:
        with urllib.request.urlopen(req, timeout=timeout_s) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"{}")
