"""Validation of a pod spec's scheduling constraints (``affinity``,
``topologySpreadConstraints``), as kube-apiserver's ValidatePodSpec words it: the
scheduler reads only what passed."""

from __future__ import annotations

from typing import Any

from kube.registry.strategy import Cause

__all__ = ["validate_scheduling"]

_SET_OPS = ("In", "NotIn", "Exists", "DoesNotExist")


def _requirements(reqs: Any, where: str, ops: tuple[str, ...], out: list[Cause]) -> None:
    if reqs is None:
        return
    if not isinstance(reqs, list):
        out.append((where, "FieldValueInvalid", "must be a list"))
        return
    for i, req in enumerate(reqs):
        at = f"{where}[{i}]"
        if not isinstance(req, dict) or not req.get("key"):
            out.append((f"{at}.key", "FieldValueRequired", "Required value"))
            continue
        op, values = req.get("operator"), req.get("values") or []
        if op not in ops:
            out.append((f"{at}.operator", "FieldValueNotSupported",
                        f"Unsupported value: {op!r}: supported values: {', '.join(ops)}"))
        elif not isinstance(values, list) or not all(isinstance(v, str) for v in values):
            out.append((f"{at}.values", "FieldValueInvalid", "must be a list of strings"))
        elif op in ("In", "NotIn") and not values:
            out.append((f"{at}.values", "FieldValueRequired", "must be specified when `operator` is 'In' or 'NotIn'"))
        elif op in ("Exists", "DoesNotExist") and values:
            out.append((f"{at}.values", "FieldValueForbidden", "may not be specified when `operator` is 'Exists' or 'DoesNotExist'"))
        elif op in ("Gt", "Lt") and (len(values) != 1 or not values[0].lstrip("-").isdigit()):
            out.append((f"{at}.values", "FieldValueInvalid", "must be one integer for 'Gt' or 'Lt'"))


def _selector(sel: Any, where: str, out: list[Cause]) -> None:
    if sel is None:
        return
    if not isinstance(sel, dict):
        out.append((where, "FieldValueInvalid", "must be a label selector"))
        return
    labels = sel.get("matchLabels") or {}
    if not isinstance(labels, dict) or not all(isinstance(v, str) for v in labels.values()):
        out.append((f"{where}.matchLabels", "FieldValueInvalid", "must be a map of strings"))
    _requirements(sel.get("matchExpressions"), f"{where}.matchExpressions", _SET_OPS, out)


def _weight(entry: dict[str, Any], at: str, out: list[Cause]) -> None:
    weight = entry.get("weight")
    if not isinstance(weight, int) or isinstance(weight, bool) or not 1 <= weight <= 100:
        out.append((f"{at}.weight", "FieldValueInvalid", f"Invalid value: {weight!r}: must be in the range 1-100"))


def _node_term(term: Any, at: str, out: list[Cause]) -> None:
    if not isinstance(term, dict):
        out.append((at, "FieldValueInvalid", "must be a node selector term"))
        return
    _requirements(term.get("matchExpressions"), f"{at}.matchExpressions", (*_SET_OPS, "Gt", "Lt"), out)
    _requirements(term.get("matchFields"), f"{at}.matchFields", ("In", "NotIn"), out)


def _pod_term(term: Any, at: str, out: list[Cause]) -> None:
    if not isinstance(term, dict):
        out.append((at, "FieldValueInvalid", "must be a pod affinity term"))
        return
    if not term.get("topologyKey") or not isinstance(term.get("topologyKey"), str):
        out.append((f"{at}.topologyKey", "FieldValueRequired", "Required value: can not be empty"))
    _selector(term.get("labelSelector"), f"{at}.labelSelector", out)
    _selector(term.get("namespaceSelector"), f"{at}.namespaceSelector", out)
    if not isinstance(term.get("namespaces") or [], list):
        out.append((f"{at}.namespaces", "FieldValueInvalid", "must be a list of strings"))


def _list(value: Any, where: str, out: list[Cause]) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        out.append((where, "FieldValueInvalid", "must be a list"))
        return []
    return value


def _entry(value: Any, at: str, out: list[Cause]) -> dict[str, Any]:
    if not isinstance(value, dict):
        out.append((at, "FieldValueInvalid", "must be an object"))
        return {}
    return value


def _affinity(affinity: Any, out: list[Cause]) -> None:
    where = "spec.affinity"
    if not isinstance(affinity, dict):
        out.append((where, "FieldValueInvalid", "must be an object"))
        return
    node = _entry(affinity.get("nodeAffinity") or {}, f"{where}.nodeAffinity", out)
    required = node.get("requiredDuringSchedulingIgnoredDuringExecution")
    if required is not None:
        at = f"{where}.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms"
        terms = _list(_entry(required, at, out).get("nodeSelectorTerms"), at, out)
        if not terms:
            out.append((at, "FieldValueRequired", "Required value: must have at least one node selector term"))
        for i, term in enumerate(terms):
            _node_term(term, f"{at}[{i}]", out)
    at = f"{where}.nodeAffinity.preferredDuringSchedulingIgnoredDuringExecution"
    for i, pref in enumerate(_list(node.get("preferredDuringSchedulingIgnoredDuringExecution"), at, out)):
        pref = _entry(pref, f"{at}[{i}]", out)
        _weight(pref, f"{at}[{i}]", out)
        _node_term(pref.get("preference") or {}, f"{at}[{i}].preference", out)
    for kind in ("podAffinity", "podAntiAffinity"):
        section = _entry(affinity.get(kind) or {}, f"{where}.{kind}", out)
        at = f"{where}.{kind}.requiredDuringSchedulingIgnoredDuringExecution"
        for i, term in enumerate(_list(section.get("requiredDuringSchedulingIgnoredDuringExecution"), at, out)):
            _pod_term(term, f"{at}[{i}]", out)
        at = f"{where}.{kind}.preferredDuringSchedulingIgnoredDuringExecution"
        for i, pref in enumerate(_list(section.get("preferredDuringSchedulingIgnoredDuringExecution"), at, out)):
            pref = _entry(pref, f"{at}[{i}]", out)
            _weight(pref, f"{at}[{i}]", out)
            _pod_term(pref.get("podAffinityTerm"), f"{at}[{i}].podAffinityTerm", out)


def _spread(constraints: Any, out: list[Cause]) -> None:
    where = "spec.topologySpreadConstraints"
    for i, c in enumerate(_list(constraints, where, out)):
        at = f"{where}[{i}]"
        c = _entry(c, at, out)
        if not c:
            continue
        skew = c.get("maxSkew")
        if not isinstance(skew, int) or isinstance(skew, bool) or skew < 1:
            out.append((f"{at}.maxSkew", "FieldValueInvalid", f"Invalid value: {skew!r}: must be greater than zero"))
        if not c.get("topologyKey") or not isinstance(c.get("topologyKey"), str):
            out.append((f"{at}.topologyKey", "FieldValueRequired", "Required value: can not be empty"))
        if c.get("whenUnsatisfiable") not in ("DoNotSchedule", "ScheduleAnyway"):
            out.append((f"{at}.whenUnsatisfiable", "FieldValueNotSupported",
                        f"Unsupported value: {c.get('whenUnsatisfiable')!r}: supported values: "
                        "\"DoNotSchedule\", \"ScheduleAnyway\""))
        domains = c.get("minDomains")
        if domains is not None and (not isinstance(domains, int) or isinstance(domains, bool) or domains < 1):
            out.append((f"{at}.minDomains", "FieldValueInvalid", f"Invalid value: {domains!r}: must be greater than zero"))
        _selector(c.get("labelSelector"), f"{at}.labelSelector", out)


def validate_scheduling(spec: dict[str, Any]) -> list[Cause]:
    """The causes (field path, reason, message) of what is wrong in ``spec``'s affinity
    and topology spread constraints (none: they are fine)."""
    out: list[Cause] = []
    if spec.get("affinity") is not None:
        _affinity(spec["affinity"], out)
    _spread(spec.get("topologySpreadConstraints"), out)
    return out
