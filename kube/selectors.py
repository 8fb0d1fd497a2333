"""Label selectors (``=``, ``==``, ``!=``, ``in``, ``notin``, exists, ``!``exists) and field
selectors (``=``, ``==``, ``!=`` on the fields a kind makes selectable), parsed as the
apiserver parses the ``labelSelector`` and ``fieldSelector`` query parameters."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

import attrs

from .errors import bad_request
from .meta import label_key, label_value

__all__ = ["FieldSelector", "LabelSelector", "Requirement"]

_SET_RE = re.compile(r"^\s*([^\s!=(),]+)\s+(in|notin)\s+\(([^()]*)\)\s*$")


@attrs.frozen(kw_only=True)
class Requirement:
    key: str
    op: str  # "=", "!=", "in", "notin", "exists", "!exists"
    values: tuple[str, ...] = ()

    def matches(self, labels: Mapping[str, str]) -> bool:
        has = self.key in labels
        if self.op == "exists":
            return has
        if self.op == "!exists":
            return not has
        if self.op in ("=", "in"):
            return has and labels[self.key] in self.values
        return not has or labels[self.key] not in self.values  # "!=", "notin"


def _split(text: str) -> list[str]:
    """Split on commas outside parentheses."""
    parts, depth, cur = [], 0, ""
    for ch in text:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append(cur)
            cur = ""
        else:
            cur += ch
    parts.append(cur)
    return [p.strip() for p in parts if p.strip()]


def _check_key(key: str, text: str) -> None:
    if label_key(key):
        raise bad_request(f"unable to parse requirement: invalid label key {key!r} in selector {text!r}")


def _check_value(value: str, text: str) -> None:
    if label_value(value):
        raise bad_request(f"unable to parse requirement: invalid label value {value!r} in selector {text!r}")


@attrs.frozen(kw_only=True)
class LabelSelector:
    requirements: tuple[Requirement, ...] = ()

    @classmethod
    def parse(cls, text: str) -> LabelSelector:
        reqs = []
        for part in _split(text or ""):
            m = _SET_RE.match(part)
            if m:
                key, op, raw = m.group(1), m.group(2), m.group(3)
                values = tuple(v.strip() for v in raw.split(",") if v.strip())
                _check_key(key, text)
                for v in values:
                    _check_value(v, text)
                if not values:
                    raise bad_request(f"unable to parse requirement: {op} needs values in selector {text!r}")
                reqs.append(Requirement(key=key, op=op, values=values))
                continue
            for sym, op in (("!=", "!="), ("==", "="), ("=", "=")):
                if sym in part:
                    key, value = (s.strip() for s in part.split(sym, 1))
                    _check_key(key, text)
                    _check_value(value, text)
                    reqs.append(Requirement(key=key, op=op, values=(value,)))
                    break
            else:
                if part.startswith("!"):
                    _check_key(part[1:].strip(), text)
                    reqs.append(Requirement(key=part[1:].strip(), op="!exists"))
                else:
                    _check_key(part, text)
                    reqs.append(Requirement(key=part, op="exists"))
        return cls(requirements=tuple(reqs))

    def matches(self, labels: Mapping[str, str] | None) -> bool:
        labels = labels or {}
        return all(r.matches(labels) for r in self.requirements)

    @property
    def empty(self) -> bool:
        return not self.requirements


FieldGetter = Callable[[dict[str, Any]], str]


@attrs.frozen(kw_only=True)
class FieldSelector:
    requirements: tuple[tuple[str, str, str], ...] = ()  # (field, "=" or "!=", value)

    @classmethod
    def parse(cls, text: str, fields: Mapping[str, FieldGetter], kind: str) -> FieldSelector:
        reqs = []
        for part in _split(text or ""):
            sym = next((s for s in ("!=", "==", "=") if s in part), "")
            if not sym:
                raise bad_request(f"invalid selector: {part!r}; can't understand {part!r}")
            field, value = (s.strip() for s in part.split(sym, 1))
            op = "!=" if sym == "!=" else "="
            if field not in fields:
                raise bad_request(f'field label not supported: "{field}" (kind {kind}; supported: '
                                  f"{', '.join(sorted(fields))})")
            reqs.append((field, op, value))
        return cls(requirements=tuple(reqs))

    def matches(self, obj: dict[str, Any], fields: Mapping[str, FieldGetter]) -> bool:
        for field, op, value in self.requirements:
            got = fields[field](obj)
            if (got == value) != (op == "="):
                return False
        return True

    @property
    def empty(self) -> bool:
        return not self.requirements
