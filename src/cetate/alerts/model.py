"""The ``Alert`` entity (FIWARE Smart Data Models, dataModel.Alert) and its handling.

Smart Data Models gives an alert its ``category``, ``subCategory``, ``severity``
(informational, low, medium, high, critical), ``description``, ``dateIssued``, ``alertSource``
and ``location``. It says nothing of what an operations room does with it, so Cetate adds,
as documented in docs/dashboard.md:

- ``status``: open -> acknowledged -> resolved (an alert without one is open);
- ``acknowledgedBy`` / ``acknowledgedAt`` / ``acknowledgementNote`` and
  ``resolvedBy`` / ``resolvedAt`` / ``resolutionNote``: who did it and when, taken from the
  signed-in account, never from the request body.

Every change is a write to the hub, so the alert's history keeps the whole sequence.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from cetate.errors import BadRequestData, Conflict

ALERT_TYPE = "Alert"
SEVERITIES = ("informational", "low", "medium", "high", "critical")
MAX_NOTE = 2000  # characters of a note an operator writes


class Status(StrEnum):
    OPEN = "open"
    ACKNOWLEDGED = "acknowledged"
    RESOLVED = "resolved"


@dataclass(frozen=True)
class Action:
    name: str
    allowed_from: frozenset[Status]
    to: Status
    by: str  # the attributes that keep who, when and why
    at: str
    note: str


ACTIONS = {
    "acknowledge": Action(
        "acknowledge",
        frozenset({Status.OPEN}),
        Status.ACKNOWLEDGED,
        "acknowledgedBy",
        "acknowledgedAt",
        "acknowledgementNote",
    ),
    "resolve": Action(
        "resolve",
        frozenset({Status.OPEN, Status.ACKNOWLEDGED}),
        Status.RESOLVED,
        "resolvedBy",
        "resolvedAt",
        "resolutionNote",
    ),
}


def status_of(alert: Mapping[str, Any]) -> Status:
    """The status of an alert given as keyValues; open when it has none (a new alert)."""
    value = alert.get("status")
    try:
        return Status(value) if value is not None else Status.OPEN
    except ValueError:
        return Status.OPEN  # a status written by someone else's convention: still to handle


def severity_rank(alert: Mapping[str, Any]) -> int:
    """0 (informational) to 4 (critical); an unknown or missing severity ranks as medium, so
    it is not buried under the minor ones."""
    severity = alert.get("severity")
    return SEVERITIES.index(severity) if severity in SEVERITIES else SEVERITIES.index("medium")


def ordered(alerts: Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """Open first, then acknowledged, then resolved; the most severe first; newest first."""
    newest = sorted(alerts, key=lambda a: (str(a.get("dateIssued") or ""), str(a.get("id"))))
    newest.reverse()
    statuses = (Status.OPEN, Status.ACKNOWLEDGED, Status.RESOLVED)
    return sorted(newest, key=lambda a: (statuses.index(status_of(a)), -severity_rank(a)))


def parse_action(name: str) -> Action:
    action = ACTIONS.get(name)
    if action is None:
        raise BadRequestData(f"no alert action {name!r}: acknowledge or resolve")
    return action


def parse_note(body: Any) -> str | None:
    """The optional note of an action's body: ``{"note": "..."}``, or no body at all."""
    if body is None:
        return None
    if not isinstance(body, dict) or set(body) - {"note"}:
        raise BadRequestData('the body of an alert action is {"note": "..."} or nothing')
    note = body.get("note")
    if note is None:
        return None
    if not isinstance(note, str):
        raise BadRequestData("note must be a string")
    if len(note) > MAX_NOTE:
        raise BadRequestData(f"note is longer than {MAX_NOTE} characters")
    return note.strip() or None


def transition(
    alert: Mapping[str, Any], action: Action, who: str, at: str, note: str | None
) -> dict[str, Any]:
    """The attributes (normalized NGSI-LD) that ``action`` by ``who`` at ``at`` writes on
    ``alert`` (keyValues); a Conflict when the alert's status does not allow it."""
    current = status_of(alert)
    if current not in action.allowed_from:
        done_by = (
            alert.get("resolvedBy") if current == Status.RESOLVED else alert.get("acknowledgedBy")
        )
        done_at = (
            alert.get("resolvedAt") if current == Status.RESOLVED else alert.get("acknowledgedAt")
        )
        detail = f"alert {alert.get('id')} is already {current.value}"
        if done_by:
            detail += f" (by {done_by} at {done_at})"
        raise Conflict(detail)
    written = {"status": action.to.value, action.by: who, action.at: at}
    if note is not None:
        written[action.note] = note
    # observedAt on each: the history (and the map at a past time) places them all at ``at``.
    return {name: _property(value, at) for name, value in written.items()}


def _property(value: Any, observed_at: str) -> dict[str, Any]:
    return {"type": "Property", "value": value, "observedAt": observed_at}


def alert_document(
    alert_id: str,
    *,
    category: str,
    sub_category: str,
    severity: str,
    description: str,
    issued: str,
    source: str,
    lon_lat: tuple[float, float] | None = None,
    name: str | None = None,
) -> dict[str, Any]:
    """A new, open alert as a normalized NGSI-LD document. Every attribute is observed at
    ``issued``, so that the map at a past time shows the alert as it was issued, not as it was
    written (the demo and connectors may write an alert some time after it arose)."""
    if severity not in SEVERITIES:
        raise ValueError(f"severity {severity!r} is not one of {SEVERITIES}")
    values: dict[str, Any] = {
        "category": category,
        "subCategory": sub_category,
        "severity": severity,
        "description": description,
        "dateIssued": issued,
        "alertSource": source,
        "status": Status.OPEN.value,
    }
    if name is not None:
        values["name"] = name
    doc: dict[str, Any] = {"id": alert_id, "type": ALERT_TYPE}
    doc.update((key, _property(value, issued)) for key, value in values.items())
    if lon_lat is not None:
        doc["location"] = {
            "type": "GeoProperty",
            "value": {"type": "Point", "coordinates": [lon_lat[0], lon_lat[1]]},
            "observedAt": issued,
        }
    return doc
