"""Event (v1): involvedObject required; selectable by the involved object and reason."""

from typing import Any

from kube.registry.strategy import Cause, Strategy, field


def _validate(obj: dict[str, Any]) -> list[Cause]:
    if not (obj.get("involvedObject") or {}).get("kind"):
        return [("involvedObject.kind", "FieldValueRequired", "Required value")]
    return []


STRATEGY = Strategy(kind="Event", resource="events", validate_spec=_validate,
                    selectable={"involvedObject.kind": field("involvedObject", "kind"),
                                "involvedObject.name": field("involvedObject", "name"),
                                "reason": field("reason"), "type": field("type")})
