"""The NGSI-LD temporal API (clauses 6.18-6.22): the history of entities, read and written.

Every attribute instance the hub writes (entity create, update, append, merge, batch...) becomes
a history row; these routes query those rows and let clients add or delete history directly:

- ``GET /temporal/entities`` and ``POST /temporal/entityOperations/query``: temporal entities
  selected like ``GET /entities`` (``type``, ``id``, ``idPattern``, ``attrs``, ``q``, geo-query,
  ``scopeQ``), and a time selection (``timerel``, ``timeAt``, ``endTimeAt``, ``lastN``,
  ``timeproperty``). ``type``, ``id`` and ``idPattern`` match the history; ``q``, the geo-query
  and ``scopeQ`` match the entity's *current* state, so an entity that no longer exists is
  found by them no more. ``attrs`` keeps the attributes named. An entity is listed when it has
  at least one instance in the selection; ``limit``/``offset`` page over entities.
- ``GET /temporal/entities/{id}``: one temporal entity (404 when it has no history).
- ``POST /temporal/entities``, ``POST /temporal/entities/{id}/attrs``: write history.
- ``DELETE /temporal/entities/{id}``, ``DELETE /temporal/entities/{id}/attrs/{attr}``.

Representations (``options`` or ``format``; ``format`` wins): normalized (every instance with
its ``instanceId``), ``temporalValues`` and ``aggregatedValues`` (``aggrMethods``,
``aggrPeriodDuration``); see ``cetate.hub.temporal`` for their exact semantics.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from cetate.errors import BadRequestData, ResourceNotFound
from cetate.hub.context import Context
from cetate.hub.http import (
    context_of,
    existing_tenant,
    hub_of,
    json_response,
    location,
    names_param,
    output_format,
    read_body,
    run,
    tenant_of,
)
from cetate.hub.model import Instance, check_entity_id, check_name, now_iso, parse_types
from cetate.hub.params import body_doc, entity_query, query_document
from cetate.hub.store.base import EntityQuery, Store
from cetate.hub.temporal import (
    AGGREGATED_VALUES,
    TemporalQuery,
    TemporalView,
    empty_attribute,
    paginate,
    parse_temporal_attributes,
    parse_temporal_entity,
    parse_temporal_query,
    parse_view,
    render_temporal_entity,
)

router = APIRouter()

PREFIX = "/ngsi-ld/v1"
# Entities whose history is read in one store call while looking for a page.
_CHUNK = 200
_EVERYTHING = sys.maxsize

Found = tuple[str, list[str], dict[str, list[Instance]]]

_TEMPORAL_EXAMPLE = {
    "id": "urn:ngsi-ld:TrafficFlowObserved:brasov-calea-bucuresti-1",
    "type": "TrafficFlowObserved",
    "intensity": [
        {"type": "Property", "value": 197, "observedAt": "2026-11-22T08:00:00Z"},
        {"type": "Property", "value": 214, "observedAt": "2026-11-22T08:15:00Z"},
    ],
}
_QUERY_EXAMPLE = {
    "type": "Query",
    "entities": [{"type": "TrafficFlowObserved"}],
    "attrs": ["intensity"],
    "temporalQ": {
        "timerel": "between",
        "timeAt": "2026-11-22T00:00:00Z",
        "endTimeAt": "2026-11-23T00:00:00Z",
        "aggrMethods": ["avg", "max"],
        "aggrPeriodDuration": "PT1H",
    },
}
_QUERY_PARAMS_DOC = (
    "Time selection: `timerel` (before | after | between), `timeAt`, `endTimeAt` (for "
    "between), `timeproperty` (observedAt, default; modifiedAt; createdAt), `lastN` (the last "
    "N instances per attribute). before is exclusive, after inclusive, between includes timeAt "
    "and excludes endTimeAt. Representation: `options=temporalValues` ([[value, time], ...]), "
    "`options=aggregatedValues` with `aggrMethods` (totalCount, distinctCount, sum, avg, min, "
    "max, stddev, sumsq) and `aggrPeriodDuration` (ISO 8601, e.g. PT1H, P1D; default the whole "
    "interval), `options=sysAttrs`; `format` wins over `options`."
)


# ---------------------------------------------------------------------------------------------
# Parameters


def _temporal_query(request: Request) -> TemporalQuery:
    params = request.query_params
    return parse_temporal_query(
        timerel=params.get("timerel"),
        time_at=params.get("timeAt"),
        end_time_at=params.get("endTimeAt"),
        last_n=params.get("lastN"),
        timeproperty=params.get("timeproperty"),
    )


def _options(request: Request) -> list[str]:
    words: list[str] = []
    for value in request.query_params.getlist("options"):
        words += [w.strip() for w in value.split(",") if w.strip()]
    return words


def _view(request: Request, methods: Any = None, period: Any = None) -> TemporalView:
    params = request.query_params
    return parse_view(
        params.get("format") or None,
        _options(request),
        params.get("aggrMethods") if methods is None else methods,
        params.get("aggrPeriodDuration") if period is None else period,
    )


def _path_id(entity_id: str) -> str:
    return check_entity_id(entity_id)


# ---------------------------------------------------------------------------------------------
# Reading the store (synchronous: run inline for SQLite, in a thread for PostgreSQL)


def _history_types(store: Store, tenant: str, entity_id: str) -> list[str] | None:
    rows, _ = store.history_entities(tenant, EntityQuery(ids=(entity_id,), limit=1))
    return rows[0][1] if rows else None


def _collect_one(
    store: Store,
    tenant: str,
    entity_id: str,
    attrs: frozenset[str] | None,
    temporal: TemporalQuery,
) -> Found | None:
    types = _history_types(store, tenant, entity_id)
    if types is None:
        return None
    history = store.history(tenant, temporal.history((entity_id,), attrs))
    return entity_id, types, history.get(entity_id, {})


def _collect(
    store: Store, tenant: str, selection: EntityQuery, temporal: TemporalQuery
) -> tuple[list[Found], int | None]:
    """The page of temporal entities a query selects, and their total when asked for.

    An entity counts when it has at least one instance in the selection. Entities that may
    fall in the page are read whole, a page's worth at a time; the others (before the offset,
    or after the page when counting) only through a probe of their last instance."""
    everything = replace(selection, limit=_EVERYTHING, offset=0, count=False)
    candidates, _ = store.history_entities(tenant, everything)
    if selection.q is not None or selection.geo is not None or selection.scopes:
        # These filter on the current state of the entities.
        current, _ = store.query(tenant, replace(everything, attrs=None))
        alive = {entity["id"] for entity in current}
        candidates = [c for c in candidates if c[0] in alive]
    start, stop = selection.offset, selection.offset + selection.limit
    found: list[Found] = []
    probed: list[tuple[int, str, list[str]]] = []  # (position in found, id, types)
    total = 0
    position = 0
    while position < len(candidates) and (selection.count or total < stop):
        in_page = start <= total < stop
        size = stop - total if in_page else _CHUNK
        chunk = candidates[position : position + size]
        position += len(chunk)
        ids = [c[0] for c in chunk]
        history = store.history(
            tenant, temporal.history(ids, selection.attrs, last_n=0 if in_page else 1)
        )
        for entity_id, types in chunk:
            attrs = history.get(entity_id)
            if not attrs:
                continue
            if start <= total < stop:
                if in_page:
                    found.append((entity_id, types, attrs))
                else:  # a probe crossed into the page: read this one whole below
                    probed.append((len(found), entity_id, types))
                    found.append((entity_id, types, {}))
            total += 1
    if probed:
        history = store.history(tenant, temporal.history([p[1] for p in probed], selection.attrs))
        for index, entity_id, types in probed:
            found[index] = (entity_id, types, history.get(entity_id, {}))
    return found, (total if selection.count else None)


def _temporal_response(
    request: Request,
    found: Sequence[Found],
    ctx: Context,
    view: TemporalView,
    temporal: TemporalQuery,
    count: int | None,
) -> Response:
    fmt = output_format(request)
    kinds = _kinds(found)
    found, content_range = _page(found, view, temporal, hub_of(request).settings.temporal_page)
    body = [_render(entity, ctx, view, temporal, kinds) for entity in found]
    headers = {"NGSILD-Results-Count": str(count)} if count is not None else {}
    if content_range is None:
        return json_response(body, ctx, fmt, headers=headers)
    headers["Content-Range"] = content_range
    return json_response(body, ctx, fmt, status=206, headers=headers)


def _page(
    found: Sequence[Found], view: TemporalView, temporal: TemporalQuery, limit: int
) -> tuple[list[Found], str | None]:
    """Instances beyond one page are cut (aggregations are computed over everything)."""
    if view.representation == AGGREGATED_VALUES:
        return list(found), None
    return paginate(found, temporal, limit)


def _kinds(found: Sequence[Found]) -> dict[tuple[str, str], str]:
    """The attribute type of each (entity, attribute), for those a page may leave empty."""
    return {
        (entity_id, iri): instances[0]["type"]
        for entity_id, _, attrs in found
        for iri, instances in attrs.items()
        if instances
    }


def _render(
    found: Found,
    ctx: Context,
    view: TemporalView,
    temporal: TemporalQuery,
    kinds: dict[tuple[str, str], str],
) -> dict[str, Any]:
    entity_id, types, attrs = found
    out = render_temporal_entity(entity_id, types, attrs, ctx, view, temporal)
    for iri, instances in attrs.items():
        if not instances and (entity_id, iri) in kinds:
            # cut away by the page: present, with nothing in this range
            out[ctx.compact(iri)] = empty_attribute(kinds[entity_id, iri], view)
    return out


# ---------------------------------------------------------------------------------------------
# Queries


@router.get(
    "/temporal/entities",
    summary="Query the temporal evolution of entities",
    description=(
        "Temporal entities selected by `type`, `id`, `idPattern`, `attrs`, `q`, a geo-query or "
        "`scopeQ` (at least one). `q`, the geo-query and `scopeQ` match the entity's current "
        "state. An entity is listed when it has an instance in the time selection; "
        "`limit`/`offset` page over entities, `count=true` adds NGSILD-Results-Count. "
        + _QUERY_PARAMS_DOC
    ),
)
async def query_temporal(request: Request) -> Response:
    hub = hub_of(request)
    tenant = await existing_tenant(request, hub)
    ctx = context_of(request, hub)
    selection = entity_query(request, ctx, require_filter=True)
    temporal = _temporal_query(request)
    view = _view(request)
    output_format(request)  # refuse an unacceptable Accept before reading anything
    found, count = await run(hub, _collect, hub.store, tenant, selection, temporal)
    return _temporal_response(request, found, ctx, view, temporal, count)


@router.get(
    "/temporal/entities/{entity_id}",
    summary="Retrieve the temporal evolution of an entity",
    description="One temporal entity; `attrs` picks attributes. 404 when the entity has no "
    "history. " + _QUERY_PARAMS_DOC,
)
async def retrieve_temporal(request: Request, entity_id: str) -> Response:
    hub = hub_of(request)
    tenant = await existing_tenant(request, hub)
    ctx = context_of(request, hub)
    entity_id = _path_id(entity_id)
    attrs = names_param(request, "attrs", ctx)
    temporal = _temporal_query(request)
    view = _view(request)
    fmt = output_format(request)
    found = await run(hub, _collect_one, hub.store, tenant, entity_id, attrs, temporal)
    if found is None:
        raise ResourceNotFound(f"entity {entity_id} has no temporal representation")
    if attrs is not None and temporal.timerel is None and not any(found[2].get(a) for a in attrs):
        # no time selection: none of the attributes has any history at all
        raise ResourceNotFound(f"entity {entity_id} has no history of the attributes asked for")
    kinds = _kinds([found])
    page, content_range = _page([found], view, temporal, hub.settings.temporal_page)
    body = _render(page[0], ctx, view, temporal, kinds)
    if content_range is None:
        return json_response(body, ctx, fmt)
    return json_response(body, ctx, fmt, status=206, headers={"Content-Range": content_range})


@router.post(
    "/temporal/entityOperations/query",
    summary="Query the temporal evolution of entities (POST)",
    description=(
        "The query of GET /temporal/entities as an NGSI-LD Query document: `entities`, "
        "`attrs`, `q`, `geoQ`, `scopeQ` and `temporalQ` {timerel, timeAt, endTimeAt, lastN, "
        "timeproperty, aggrMethods, aggrPeriodDuration}. `options`, `format`, `limit`, "
        "`offset` and `count` stay query parameters."
    ),
    openapi_extra=body_doc(_QUERY_EXAMPLE, "An NGSI-LD Query document with temporalQ"),
)
async def post_temporal_query(request: Request) -> Response:
    hub = hub_of(request)
    tenant = await existing_tenant(request, hub)
    payload, ctx = await read_body(request, hub)
    if not isinstance(payload, dict) or payload.get("type") != "Query":
        raise BadRequestData("the body must be an NGSI-LD Query document (type Query)")
    selection = query_document(request, payload, ctx)
    temporal_q = payload.get("temporalQ", {})
    if not isinstance(temporal_q, dict):
        raise BadRequestData("temporalQ must be an object")
    temporal = parse_temporal_query(
        timerel=temporal_q.get("timerel"),
        time_at=temporal_q.get("timeAt"),
        end_time_at=temporal_q.get("endTimeAt"),
        last_n=temporal_q.get("lastN"),
        timeproperty=temporal_q.get("timeproperty"),
    )
    view = _view(request, temporal_q.get("aggrMethods"), temporal_q.get("aggrPeriodDuration"))
    output_format(request)
    found, count = await run(hub, _collect, hub.store, tenant, selection, temporal)
    return _temporal_response(request, found, ctx, view, temporal, count)


# ---------------------------------------------------------------------------------------------
# Writes


def _upsert_history(
    store: Store,
    tenant: str,
    entity_id: str,
    types: list[str],
    rows: dict[str, list[Instance]],
) -> bool:
    """Add instances, merging the types with those already recorded; True when it is new."""
    existing = _history_types(store, tenant, entity_id)
    merged = list(existing or []) + [t for t in types if t not in (existing or [])]
    store.add_history(tenant, entity_id, merged, rows)
    return existing is None


def _append_history(
    store: Store,
    tenant: str,
    entity_id: str,
    types: list[str],
    rows: dict[str, list[Instance]],
) -> None:
    existing = _history_types(store, tenant, entity_id)
    if existing is None:
        raise ResourceNotFound(f"entity {entity_id} has no temporal representation")
    merged = existing + [t for t in types if t not in existing]
    store.add_history(tenant, entity_id, merged, rows)


@router.post(
    "/temporal/entities",
    status_code=201,
    summary="Create or update the temporal evolution of an entity",
    description="An entity whose attributes are arrays of instances (each with observedAt; "
    "without it the instance is filed at the time of the request). 201 with Location when the "
    "entity had no history, else 204 (the instances are added, the types merged).",
    openapi_extra=body_doc(_TEMPORAL_EXAMPLE, "A temporal entity"),
)
async def create_temporal(request: Request) -> Response:
    hub = hub_of(request)
    tenant = tenant_of(request)
    payload, ctx = await read_body(request, hub)
    entity_id, types, rows = parse_temporal_entity(payload, ctx, now_iso())
    created = await run(hub, _upsert_history, hub.store, tenant, entity_id, types, rows)
    if created:
        headers = {"Location": location(f"{PREFIX}/temporal/entities/", entity_id)}
        return Response(status_code=201, headers=headers)
    return Response(status_code=204)


@router.post(
    "/temporal/entities/{entity_id}/attrs",
    status_code=204,
    summary="Add attribute instances to the temporal evolution of an entity",
    description="Attributes as arrays of instances; 404 when the entity has no history.",
    openapi_extra=body_doc(
        {"intensity": [{"type": "Property", "value": 230, "observedAt": "2026-11-22T08:30:00Z"}]},
        "Attributes with their instances",
    ),
)
async def add_temporal_attrs(request: Request, entity_id: str) -> Response:
    hub = hub_of(request)
    tenant = tenant_of(request)
    entity_id = _path_id(entity_id)
    payload, ctx = await read_body(request, hub)
    if not isinstance(payload, dict):
        raise BadRequestData("the body must be a JSON object of attributes")
    if "id" in payload and payload["id"] != entity_id:
        raise BadRequestData("the id in the body differs from the id in the path")
    types = parse_types(payload["type"], ctx) if "type" in payload else []
    rows = parse_temporal_attributes(payload, ctx, now_iso())
    if not rows:
        raise BadRequestData("the body has no attributes")
    await run(hub, _append_history, hub.store, tenant, entity_id, types, rows)
    return Response(status_code=204)


@router.delete(
    "/temporal/entities/{entity_id}",
    status_code=204,
    summary="Delete the temporal evolution of an entity",
    description="Deletes the whole history of the entity (its current state stays). 404 when "
    "it has none.",
)
async def delete_temporal(request: Request, entity_id: str) -> Response:
    hub = hub_of(request)
    tenant = await existing_tenant(request, hub)
    entity_id = _path_id(entity_id)
    if not await run(hub, hub.store.delete_history, tenant, entity_id):
        raise ResourceNotFound(f"entity {entity_id} has no temporal representation")
    return Response(status_code=204)


@router.delete(
    "/temporal/entities/{entity_id}/attrs/{attr}",
    status_code=204,
    summary="Delete the temporal evolution of an attribute",
    description="Deletes every instance of the attribute from the entity's history. 404 when "
    "there is none.",
)
async def delete_temporal_attr(request: Request, entity_id: str, attr: str) -> Response:
    hub = hub_of(request)
    tenant = await existing_tenant(request, hub)
    entity_id = _path_id(entity_id)
    ctx = context_of(request, hub)
    iri = ctx.expand(check_name(attr, "attribute name"))
    if not await run(hub, hub.store.delete_history, tenant, entity_id, iri):
        raise ResourceNotFound(f"entity {entity_id} has no history of attribute {attr}")
    return Response(status_code=204)


__all__ = ["router"]
