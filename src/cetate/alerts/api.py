"""``/alerts``: the alerts of a tenant for the operations room, and their handling.

Reading needs the viewer role, acknowledging and resolving the operator role (the app's one
policy table, ``cetate.web.auth.policy``); who did it comes from the account signed in."""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import APIRouter, Request, Response

from cetate.alerts.model import Status, parse_action, parse_note
from cetate.alerts.service import act_on_alert, list_alerts
from cetate.errors import BadRequestData, InvalidRequest, PayloadTooLarge
from cetate.hub.http import hub_of, run, tenant_of
from cetate.web.auth.middleware import acting_name

router = APIRouter()
MAX_BODY = 8192


@router.get("", summary="The alerts, the most urgent first, with counts per status")
async def alerts(request: Request, status: str | None = None, limit: int = 500) -> Response:
    """``status``: a comma-separated list of open, acknowledged, resolved (all by default).
    Returns ``{"alerts": [keyValues...], "counts": {status: n}, "truncated": bool}``."""
    wanted = _statuses(status)
    if not 1 <= limit <= 10_000:
        raise BadRequestData("limit must be between 1 and 10000")
    hub = hub_of(request)
    found = await run(hub, list_alerts, hub, tenant_of(request), wanted, limit)
    body = {"alerts": found.alerts, "counts": found.counts, "truncated": found.truncated}
    return Response(orjson.dumps(body), media_type="application/json")


@router.get("/badge", summary="How many alerts are open, and the worst severity among them")
async def badge(request: Request) -> Response:
    """``{"count": n, "severity": "high"}``: what the dashboard shows beside "Alerts"."""
    hub = hub_of(request)
    found = await run(hub, list_alerts, hub, tenant_of(request), {Status.OPEN}, 1)
    worst = found.alerts[0].get("severity") if found.alerts else None
    body = {"count": found.counts[Status.OPEN.value], "severity": worst}
    return Response(orjson.dumps(body), media_type="application/json")


@router.post(
    "/{alert_id:path}/{action}",
    summary="Acknowledge or resolve an alert; who and when are recorded",
    responses={409: {"description": "the alert's status does not allow it"}},
)
async def act(request: Request, alert_id: str, action: str) -> Response:
    """``action`` is ``acknowledge`` (an open alert) or ``resolve`` (an open or acknowledged
    one). The optional body ``{"note": "..."}`` is kept with it. Returns the alert."""
    chosen = parse_action(action)
    note = parse_note(await _body(request))
    hub = hub_of(request)
    alert = await act_on_alert(
        hub, tenant_of(request), alert_id, chosen, acting_name(request), note
    )
    return Response(orjson.dumps(alert), media_type="application/json")


def _statuses(text: str | None) -> set[Status] | None:
    if not text:
        return None
    try:
        return {Status(part.strip()) for part in text.split(",") if part.strip()}
    except ValueError:
        raise BadRequestData(f"status {text!r}: open, acknowledged or resolved") from None


async def _body(request: Request) -> Any:
    raw = await request.body()
    if not raw.strip():
        return None
    if len(raw) > MAX_BODY:
        raise PayloadTooLarge(f"the body of an alert action is at most {MAX_BODY} bytes")
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise InvalidRequest("the body is not valid JSON") from None
