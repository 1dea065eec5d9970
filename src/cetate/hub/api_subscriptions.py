"""The subscription routes of the NGSI-LD API (ETSI GS CIM 009 v1.6 clause 5.8), mounted under
/ngsi-ld/v1 with the rest of the hub.

Validation, rendering and PATCH semantics live in :mod:`cetate.hub.subscriptions` (pure); the
store keeps the documents; the notifier (``app.state.notifier``) is told after every write so a
change is matched against the new subscription as soon as the response has left.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import Response

from cetate.errors import BadRequestData, ResourceNotFound
from cetate.hub.http import (
    context_of,
    existing_tenant,
    flag_options,
    hub_of,
    int_param,
    json_response,
    output_format,
    read_body,
    run,
    tenant_of,
)
from cetate.hub.model import check_uri
from cetate.hub.notify import Notifier
from cetate.hub.params import body_doc
from cetate.hub.service import Hub
from cetate.hub.store.base import Subscription
from cetate.hub.subscriptions import (
    parse_subscription,
    patch_subscription,
    render_subscription,
)

router = APIRouter()

PREFIX = "/ngsi-ld/v1"

_SUBSCRIPTION_EXAMPLE: dict[str, Any] = {
    "id": "urn:ngsi-ld:Subscription:speeding-brasov",
    "type": "Subscription",
    "description": "Slow traffic on Calea Bucuresti",
    "entities": [{"type": "TrafficFlowObserved", "idPattern": "urn:ngsi-ld:.*:brasov-.*"}],
    "watchedAttributes": ["averageVehicleSpeed"],
    "q": "averageVehicleSpeed<20",
    "notification": {
        "attributes": ["averageVehicleSpeed", "intensity"],
        "format": "keyValues",
        "endpoint": {
            "uri": "https://ops.example.org/ngsi-ld/notify",
            "accept": "application/json",
            "receiverInfo": [{"key": "Authorization", "value": "Bearer <token>"}],
        },
    },
    "throttling": 5,
}

_PATCH_EXAMPLE: dict[str, Any] = {"isActive": False, "throttling": 30}


def _notifier(request: Request) -> Notifier:
    notifier: Notifier = request.app.state.notifier
    return notifier


def _path_id(sub_id: str) -> str:
    return check_uri(sub_id, "subscription id")


async def _existing(hub: Hub, tenant: str, sub_id: str) -> Subscription:
    sub = await run(hub, hub.store.get_subscription, tenant, sub_id)
    if sub is None:
        raise ResourceNotFound(f"subscription {sub_id} does not exist")
    return sub


@router.post("/subscriptions/", status_code=201, include_in_schema=False)
@router.post(
    "/subscriptions",
    status_code=201,
    summary="Create a subscription",
    description=(
        "Creates a subscription (clause 5.8.1): which entities (`entities`, "
        "`watchedAttributes`, `q`, `geoQ`, `scopeQ`), how to notify (`notification`: "
        "`attributes`, `format` normalized | keyValues | concise, `endpoint` http(s):// or "
        "mqtt(s)://, `showChanges`, `sysAttrs`) and when (`notificationTrigger`, `throttling`, "
        "`timeInterval`, `expiresAt`, `isActive`). Names "
        "are read with the request's @context, which is also the context of the "
        "notifications. Without an `id` one is generated. 201 with Location; 409 if the id "
        "exists; 400 BadRequestData naming the member at fault."
    ),
    responses={201: {"description": "Created; the Location header names it"}},
    openapi_extra=body_doc(_SUBSCRIPTION_EXAMPLE, "An NGSI-LD Subscription"),
)
async def create_subscription(request: Request) -> Response:
    hub = hub_of(request)
    tenant = tenant_of(request)
    payload, ctx = await read_body(request, hub)
    doc = parse_subscription(payload, ctx, datetime.now(UTC))
    await run(hub, hub.store.put_subscription, Subscription(tenant, doc["id"], doc, {}), True)
    await _notifier(request).subscription_changed(tenant, doc["id"])
    return Response(status_code=201, headers={"Location": f"{PREFIX}/subscriptions/{doc['id']}"})


@router.get("/subscriptions/", include_in_schema=False)
@router.get(
    "/subscriptions",
    summary="Query subscriptions",
    description=(
        "The tenant's subscriptions, by id, names compacted with the request's @context (Link "
        "header). `limit`/`offset` page them; `count=true` adds NGSILD-Results-Count. Each "
        "shows its `status` (active | paused | expired) and delivery figures "
        "(`notification.timesSent`, `lastNotification`, `lastSuccess`, `lastFailure`, "
        "`status` ok | failed). `options=sysAttrs` adds createdAt and modifiedAt. The Link "
        'header points to the previous and next pages (`rel="prev"`, `rel="next"`).'
    ),
)
async def query_subscriptions(request: Request) -> Response:
    hub = hub_of(request)
    tenant = await existing_tenant(request, hub)
    ctx = context_of(request, hub)
    fmt = output_format(request)
    limit = int_param(request, "limit", hub.settings.default_limit) or 0
    if limit > hub.settings.max_limit:
        raise BadRequestData(f"limit {limit} is above the maximum of {hub.settings.max_limit}")
    offset = int_param(request, "offset", 0) or 0
    subs = await run(hub, hub.store.list_subscriptions, tenant)
    subs.sort(key=lambda s: s.id)
    notifier = _notifier(request)
    now = datetime.now(UTC)
    sys_attrs = "sysAttrs" in flag_options(request)
    body = [
        render_subscription(s, notifier.live_status(tenant, s.id), ctx, now, sys_attrs)
        for s in subs[offset : offset + limit]
    ]
    headers = {}
    if request.query_params.get("count") == "true":
        headers["NGSILD-Results-Count"] = str(len(subs))
    response = json_response(body, ctx, fmt, headers=headers)
    pages = _page_links(request, limit, offset, len(subs), fmt)
    if pages:
        context_link = response.headers.get("link")
        response.headers["Link"] = ", ".join([*pages, *([context_link] if context_link else [])])
    return response


def _page_links(request: Request, limit: int, offset: int, total: int, fmt: str) -> list[str]:
    """Link header entries to the previous and next pages (clause 6.3.13), relative URLs."""
    if limit <= 0:
        return []
    media = "application/ld+json" if fmt == "ld" else "application/json"
    links = []
    if offset > 0:
        links.append(_page_link(request, limit, max(0, offset - limit), "prev", media))
    if offset + limit < total:
        links.append(_page_link(request, limit, offset + limit, "next", media))
    return links


def _page_link(request: Request, limit: int, offset: int, rel: str, media: str) -> str:
    params = [(k, v) for k, v in request.query_params.multi_items() if k not in ("limit", "offset")]
    query = urlencode([*params, ("limit", str(limit)), ("offset", str(offset))])
    return f'<{PREFIX}/subscriptions?{query}>;rel="{rel}";type="{media}"'


@router.get(
    "/subscriptions/{sub_id}",
    summary="Retrieve a subscription",
    description=(
        "One subscription, names compacted with the request's @context, with its `status` "
        "and live delivery figures. 404 ResourceNotFound if it does not exist."
    ),
)
async def retrieve_subscription(request: Request, sub_id: str) -> Response:
    hub = hub_of(request)
    sub_id = _path_id(sub_id)
    tenant = await existing_tenant(request, hub)
    ctx = context_of(request, hub)
    fmt = output_format(request)
    sub = await _existing(hub, tenant, sub_id)
    notifier = _notifier(request)
    await notifier.settled(tenant, sub_id)
    live = notifier.live_status(tenant, sub_id)
    sys_attrs = "sysAttrs" in flag_options(request)
    return json_response(render_subscription(sub, live, ctx, None, sys_attrs), ctx, fmt)


@router.patch(
    "/subscriptions/{sub_id}",
    status_code=204,
    summary="Update a subscription",
    description=(
        "Members of the fragment replace those of the subscription (`null` removes one), "
        "then the whole is validated again (clause 5.8.2). `isActive` pauses and resumes it; "
        "a new `expiresAt` (in the future) revives an expired one. Names are read with the "
        "request's @context. 204; 404 if it does not exist; 400 if the result is invalid."
    ),
    openapi_extra=body_doc(_PATCH_EXAMPLE, "The members to change", patch=True),
)
async def update_subscription(request: Request, sub_id: str) -> Response:
    hub = hub_of(request)
    sub_id = _path_id(sub_id)
    tenant = await existing_tenant(request, hub)
    fragment, ctx = await read_body(request, hub, merge_patch=True)
    sub = await _existing(hub, tenant, sub_id)
    doc = patch_subscription(sub.doc, fragment, ctx, datetime.now(UTC))
    notifier = _notifier(request)
    status = {**sub.status, **notifier.live_status(tenant, sub_id)}
    await run(hub, hub.store.put_subscription, Subscription(tenant, sub_id, doc, status), False)
    await notifier.subscription_changed(tenant, sub_id)
    return Response(status_code=204)


@router.delete(
    "/subscriptions/{sub_id}",
    status_code=204,
    summary="Delete a subscription",
    description="Deletes it; no notification leaves after the 204. 404 if it does not exist.",
)
async def delete_subscription(request: Request, sub_id: str) -> Response:
    hub = hub_of(request)
    sub_id = _path_id(sub_id)
    tenant = await existing_tenant(request, hub)
    if not await run(hub, hub.store.delete_subscription, tenant, sub_id):
        raise ResourceNotFound(f"subscription {sub_id} does not exist")
    await _notifier(request).subscription_changed(tenant, sub_id)
    return Response(status_code=204)
