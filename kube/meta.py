"""Object metadata: name and label validation as Kubernetes does it, JSON merge patch,
and the deterministic uid and timestamp helpers of the apiserver."""

from __future__ import annotations

import copy
import datetime
import random
import re
from typing import Any

__all__ = ["dns1123_label", "dns1123_subdomain", "format_timestamp", "json_copy", "label_key", "label_value",
           "merge_patch", "new_uid", "validate_labels"]

_LABEL = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?"
_LABEL_RE = re.compile(rf"^{_LABEL}$")
_SUBDOMAIN_RE = re.compile(rf"^{_LABEL}(\.{_LABEL})*$")
_QUALIFIED_RE = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")


def dns1123_label(value: str) -> list[str]:
    """Why ``value`` is not an RFC 1123 label (empty: it is one)."""
    errs = []
    if len(value) > 63:
        errs.append("must be no more than 63 characters")
    if not _LABEL_RE.match(value):
        errs.append("a lowercase RFC 1123 label must consist of lower case alphanumeric characters "
                    "or '-', and must start and end with an alphanumeric character")
    return errs


def dns1123_subdomain(value: str) -> list[str]:
    errs = []
    if len(value) > 253:
        errs.append("must be no more than 253 characters")
    if not _SUBDOMAIN_RE.match(value):
        errs.append("a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, "
                    "'-' or '.', and must start and end with an alphanumeric character")
    return errs


def label_key(key: str) -> list[str]:
    """A qualified name: ``[prefix/]name`` (prefix a DNS subdomain, name <= 63)."""
    prefix, sep, name = key.rpartition("/")
    errs = []
    if sep and (not prefix or dns1123_subdomain(prefix)):
        errs.append("prefix part must be a lowercase RFC 1123 subdomain")
    if not name or len(name) > 63 or not _QUALIFIED_RE.match(name):
        errs.append("name part must consist of alphanumeric characters, '-', '_' or '.', must start and "
                    "end with an alphanumeric character, and be at most 63 characters")
    return errs


def label_value(value: str) -> list[str]:
    if value == "":
        return []
    if len(value) > 63 or not _QUALIFIED_RE.match(value):
        return ["a valid label must be an empty string or consist of alphanumeric characters, '-', '_' "
                "or '.', and must start and end with an alphanumeric character (at most 63 characters)"]
    return []


def validate_labels(labels: Any, path: str) -> list[tuple[str, str, str]]:
    """Causes ``(field, reason type, message)`` for bad labels (or annotations' keys)."""
    if labels is None:
        return []
    if not isinstance(labels, dict):
        return [(path, "FieldValueInvalid", "must be a map of strings")]
    out = []
    for key in sorted(labels):
        value = labels[key]
        for why in label_key(str(key)):
            out.append((f"{path}[{key}]", "FieldValueInvalid", f"Invalid value: {key!r}: {why}"))
        if not isinstance(value, str):
            out.append((f"{path}[{key}]", "FieldValueInvalid", "must be a string"))
        elif path.endswith("labels"):
            for why in label_value(value):
                out.append((f"{path}[{key}]", "FieldValueInvalid", f"Invalid value: {value!r}: {why}"))
    return out


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386 JSON merge patch: objects merge, ``null`` deletes, anything else replaces."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    out = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = merge_patch(out.get(key), value)
    return out


def new_uid(rng: random.Random) -> str:
    """A version-4 UUID drawn from ``rng`` (the runtime's seeded stream)."""
    bits = rng.getrandbits(128)
    bits = (bits & ~(0xF000 << 64)) | (0x4000 << 64)  # version 4
    bits = (bits & ~(0xC << 60)) | (0x8 << 60)  # RFC 4122 variant
    h = f"{bits:032x}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def format_timestamp(now_us: int) -> str:
    """RFC 3339 in seconds, as metadata timestamps are (from the runtime's clock)."""
    when = datetime.datetime.fromtimestamp(now_us // 1_000_000, datetime.UTC)
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


def json_copy(value: Any) -> Any:
    """A deep copy of a JSON value: plain dicts and lists copied, strings, numbers, booleans
    and None shared (immutable); anything else through ``copy.deepcopy``.  Several times
    faster than ``copy.deepcopy`` on objects, which keeps a memo for shared references
    that JSON trees do not have."""
    kind = type(value)
    if kind is dict:
        return {k: json_copy(v) for k, v in value.items()}
    if kind is list:
        return [json_copy(v) for v in value]
    if kind is str or kind is int or kind is float or kind is bool or value is None:
        return value
    return copy.deepcopy(value)
