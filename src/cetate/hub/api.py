"""The NGSI-LD API of the hub, mounted at /ngsi-ld/v1: entities, batches and discovery.

Temporal and subscription routes live in their own routers (api_temporal, api_subscriptions)
and are included here. Handlers parse with orjson and render with ``cetate.hub.model`` rather
than through pydantic models: the broker answers thousands of requests a second and the entity
shapes are open-ended; OpenAPI still documents every route with examples.
"""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import APIRouter, Request
from fastapi.responses import Response

from cetate.errors import BadRequestData, CetateError, InvalidRequest, ResourceNotFound
from cetate.hub import changes
from cetate.hub.api_subscriptions import router as subscriptions_router
from cetate.hub.api_temporal import router as temporal_router
from cetate.hub.context import Context
from cetate.hub.http import (
    ItemContexts,
    context_of,
    existing_tenant,
    flag_options,
    hub_of,
    json_response,
    location,
    output_format,
    read_body,
    read_json,
    run,
    run_batch,
    tenant_of,
)
from cetate.hub.model import (
    SCOPE,
    Entity,
    RenderOptions,
    check_name,
    check_uri,
    now_iso,
    parse_attributes,
    parse_entity,
    parse_instance,
    parse_scope,
    parse_types,
    render_entity,
)
from cetate.hub.params import (
    body_doc,
    entity_query,
    parse_type_selection,
    path_id,
    query_document,
    render_options,
)
from cetate.hub.service import BatchResult, Hub
from cetate.hub.store.base import LOCATION

router = APIRouter()

PREFIX = "/ngsi-ld/v1"
_MAIN_MEMBERS = frozenset(
    {"value", "object", "languageMap", "json", "valueList", "objectList", "vocab"}
)

_ENTITY_EXAMPLE = {
    "id": "urn:ngsi-ld:TrafficFlowObserved:brasov-calea-bucuresti-1",
    "type": "TrafficFlowObserved",
    "intensity": {"type": "Property", "value": 197, "observedAt": "2026-11-22T08:00:00Z"},
    "averageVehicleSpeed": {"type": "Property", "value": 42.5, "unitCode": "KMH"},
    "location": {"type": "GeoProperty", "value": {"type": "Point", "coordinates": [25.61, 45.65]}},
}


def as_geojson(
    rendered: dict[str, Any], entity: Entity, geoproperty: str, options: RenderOptions
) -> dict[str, Any]:
    instances = entity["attrs"].get(geoproperty) or []
    geometry = next((i["value"] for i in instances if i["type"] == "GeoProperty"), None)
    properties = {k: v for k, v in rendered.items() if k != "id"}
    return {"id": entity["id"], "type": "Feature", "geometry": geometry, "properties": properties}


def entities_response(
    request: Request,
    entities: list[Entity],
    ctx: Context,
    count: int | None,
    geoproperty: str = LOCATION,
) -> Response:
    fmt = output_format(request, geo_allowed=True)
    options = render_options(request, ctx)
    rendered = [render_entity(e, ctx, options) for e in entities]
    headers = {"NGSILD-Results-Count": str(count)} if count is not None else {}
    if fmt == "geo":
        features = [
            as_geojson(r, e, geoproperty, options) for r, e in zip(rendered, entities, strict=True)
        ]
        body: Any = {"type": "FeatureCollection", "features": features}
        return json_response(body, ctx, fmt, headers=headers)
    return json_response(rendered, ctx, fmt, headers=headers)


def batch_response(result: BatchResult, created_status: bool) -> Response:
    if result.errors:
        return json_response_plain(result.body(), 207)
    if created_status and result.created:
        return json_response_plain(result.created, 201)
    return Response(status_code=204)


def json_response_plain(body: Any, status: int) -> Response:
    return Response(orjson.dumps(body), status_code=status, media_type="application/json")


def partial_result(change: changes.Change, ctx: Context) -> Response:
    """204 when every attribute was written, else 207 with what was not (and why)."""
    if not change.not_updated:
        return Response(status_code=204)
    body = {
        "updated": list(change.written),
        "notUpdated": [
            {"attributeName": iri, "reason": reason} for iri, reason in change.not_updated
        ],
    }
    return json_response_plain(body, 207)


# ---------------------------------------------------------------------------------------------
# Entities


@router.post(
    "/entities",
    status_code=201,
    summary="Create an entity",
    description="Creates one entity (normalized or concise). 201 with Location; 409 if it exists.",
    openapi_extra=body_doc(_ENTITY_EXAMPLE, "An NGSI-LD entity"),
)
async def create_entity(request: Request) -> Response:
    hub = hub_of(request)
    tenant = tenant_of(request)
    payload, ctx = await read_body(request, hub)
    if not isinstance(payload, dict):
        raise InvalidRequest("the body must be one entity, a JSON object")
    entity = parse_entity(payload, ctx, now_iso())
    await hub.create_one(tenant, entity)
    return Response(
        status_code=201, headers={"Location": location(f"{PREFIX}/entities/", entity["id"])}
    )


@router.get(
    "/entities",
    summary="Query entities",
    description=(
        "Entities by `type`, `id`, `idPattern`, `attrs`, `q` (NGSI-LD query language), "
        "a geo-query (`georel`, `geometry`, `coordinates`, `geoproperty`), `scopeQ`; "
        "`limit`/`offset` page the result, `count=true` adds NGSILD-Results-Count. "
        "`options=keyValues|sysAttrs`. Accept application/geo+json for a FeatureCollection."
    ),
)
async def query_entities(request: Request) -> Response:
    hub = hub_of(request)
    tenant = await existing_tenant(request, hub)
    ctx = context_of(request, hub)
    query = entity_query(request, ctx)
    entities, count = await run(hub, hub.store.query, tenant, query)
    return entities_response(request, entities, ctx, count, query.geoproperty)


@router.post(
    "/entityOperations/query",
    summary="Query entities (POST)",
    description="The same query as GET /entities, given as an NGSI-LD Query document.",
)
async def post_query(request: Request) -> Response:
    hub = hub_of(request)
    tenant = await existing_tenant(request, hub)
    payload, ctx = await read_body(request, hub)
    if not isinstance(payload, dict) or payload.get("type") != "Query":
        raise BadRequestData("the body must be an NGSI-LD Query document (type Query)")
    query = query_document(request, payload, ctx)
    entities, count = await run(hub, hub.store.query, tenant, query)
    return entities_response(request, entities, ctx, count, query.geoproperty)


@router.patch("/entities", include_in_schema=False)
@router.put("/entities", include_in_schema=False)
async def entity_id_missing(request: Request) -> Response:
    """Merge and replace address one entity: without its id in the path the request is bad."""
    raise BadRequestData(f"{request.method} needs an entity id: /entities/{{entityId}}")


@router.get(
    "/entities/{entity_id}",
    summary="Retrieve an entity",
    description="One entity; `attrs` picks attributes, `options=keyValues|sysAttrs`, `type`.",
)
async def retrieve_entity(request: Request, entity_id: str) -> Response:
    hub = hub_of(request)
    tenant = await existing_tenant(request, hub)
    ctx = context_of(request, hub)
    entity = await run(hub, hub.get, tenant, path_id(entity_id))
    if "type" in request.query_params:
        wanted = parse_type_selection(request.query_params["type"], ctx)
        if not any(group <= set(entity["type"]) for group in wanted):
            raise ResourceNotFound(f"entity {entity_id} has none of the types asked for")
    fmt = output_format(request, geo_allowed=True)
    options = render_options(request, ctx)
    if options.attrs is not None and not any(a in entity["attrs"] for a in options.attrs):
        raise ResourceNotFound(f"entity {entity_id} has none of the attributes asked for")
    rendered = render_entity(entity, ctx, options)
    if fmt == "geo":
        geoproperty = LOCATION
        for key in ("geometryProperty", "geoproperty"):  # the spec's name, then ours
            if key in request.query_params:
                geoproperty = ctx.expand(check_name(request.query_params[key], key))
                break
        return json_response(as_geojson(rendered, entity, geoproperty, options), ctx, fmt)
    return json_response(rendered, ctx, fmt)


@router.delete("/entities/{entity_id}", status_code=204, summary="Delete an entity")
async def delete_entity(request: Request, entity_id: str) -> Response:
    hub = hub_of(request)
    tenant = await existing_tenant(request, hub)
    entity_id = path_id(entity_id)
    await hub.write_one(tenant, entity_id, lambda old: changes.delete(old, entity_id))
    return Response(status_code=204)


@router.put(
    "/entities/{entity_id}",
    status_code=204,
    summary="Replace an entity",
    openapi_extra=body_doc(_ENTITY_EXAMPLE, "The whole entity as it is to become"),
)
async def replace_entity(request: Request, entity_id: str) -> Response:
    hub = hub_of(request)
    tenant = tenant_of(request)
    entity_id = path_id(entity_id)
    payload, ctx = await read_body(request, hub)
    if isinstance(payload, dict):
        if payload.get("id", entity_id) != entity_id:
            raise BadRequestData("the id in the body differs from the id in the path")
        payload = {**payload, "id": entity_id}
    entity = parse_entity(payload, ctx, now_iso())

    def op(old: Entity | None) -> changes.Change:
        if old is None:
            raise ResourceNotFound(f"entity {entity_id} does not exist")
        return changes.replace(old, entity)

    await hub.write_one(tenant, entity_id, op)
    return Response(status_code=204)


@router.patch(
    "/entities/{entity_id}",
    status_code=204,
    summary="Merge an entity",
    description="Adds attributes and merges existing ones member by member.",
    openapi_extra=body_doc({"intensity": {"value": 210}}, "A fragment of the entity"),
)
async def merge_entity(request: Request, entity_id: str) -> Response:
    hub = hub_of(request)
    tenant = tenant_of(request)
    entity_id = path_id(entity_id)
    fragment, _ = await _fragment(request, hub, entity_id, merge_patch=True)
    await hub.write_one(tenant, entity_id, lambda old: changes.merge(old, fragment))
    return Response(status_code=204)


async def _fragment(
    request: Request, hub: Hub, entity_id: str, merge_patch: bool = False
) -> tuple[Entity, Context]:
    payload, ctx = await read_body(request, hub, merge_patch=merge_patch)
    if not isinstance(payload, dict):
        raise BadRequestData("the body must be a JSON object of attributes")
    if "id" in payload and payload["id"] != entity_id:
        raise BadRequestData("the id in the body differs from the id in the path")
    now = now_iso()
    fragment: Entity = {
        "id": entity_id,
        "modifiedAt": now,
        "attrs": parse_attributes(payload, ctx, now),
    }
    if "type" in payload:
        fragment["type"] = parse_types(payload["type"], ctx)
    if "scope" in payload:
        fragment["scope"] = parse_scope(payload["scope"])
    return fragment, ctx


@router.post(
    "/entities/{entity_id}/attrs",
    summary="Append attributes",
    description="Adds attributes, overwriting existing ones unless `options=noOverwrite`. "
    "204, or 207 listing what was not written.",
    openapi_extra=body_doc({"occupancy": {"type": "Property", "value": 0.4}}, "Attributes"),
)
async def append_attrs(request: Request, entity_id: str) -> Response:
    hub = hub_of(request)
    tenant = tenant_of(request)
    entity_id = path_id(entity_id)
    fragment, ctx = await _fragment(request, hub, entity_id)
    changes.check_fragment_has_attributes(fragment)
    no_overwrite = "noOverwrite" in flag_options(request)
    change = await hub.write_one(
        tenant,
        entity_id,
        lambda old: changes.append(old, fragment, no_overwrite),
    )
    return partial_result(change, ctx)


@router.patch(
    "/entities/{entity_id}/attrs",
    summary="Update attributes",
    description="Replaces attributes that exist; 207 lists those that do not.",
    openapi_extra=body_doc({"intensity": {"type": "Property", "value": 180}}, "Attributes"),
)
async def update_attrs(request: Request, entity_id: str) -> Response:
    hub = hub_of(request)
    tenant = tenant_of(request)
    entity_id = path_id(entity_id)
    fragment, ctx = await _fragment(request, hub, entity_id)
    changes.check_fragment_has_attributes(fragment)
    change = await hub.write_one(tenant, entity_id, lambda old: changes.update(old, fragment))
    return partial_result(change, ctx)


@router.patch(
    "/entities/{entity_id}/attrs/{attr}",
    status_code=204,
    summary="Partial attribute update",
    description="Changes the members given of one attribute (value, sub-attributes...).",
    openapi_extra=body_doc({"value": 42}, "Members of the attribute"),
)
async def partial_attr_update(request: Request, entity_id: str, attr: str) -> Response:
    hub = hub_of(request)
    tenant = tenant_of(request)
    entity_id = path_id(entity_id)
    payload, ctx = await read_body(request, hub)
    if not isinstance(payload, dict) or not payload:
        raise BadRequestData("the body must be a non-empty JSON object")
    iri = ctx.expand(check_name(attr, "attribute name"))
    now = now_iso()
    type_given = "type" in payload
    if type_given or _MAIN_MEMBERS & payload.keys():
        instance = parse_instance(iri, payload, ctx, now, attr)
    else:  # only sub-attributes (observedAt, unitCode, providedBy...): keep type and value
        instance = parse_instance(iri, {"type": "Property", "value": 0, **payload}, ctx, now, attr)
        del instance["value"]
    instance.pop("createdAt", None)
    await hub.write_one(
        tenant,
        entity_id,
        lambda old: changes.partial_update(old, iri, instance, attr, type_given),
    )
    return Response(status_code=204)


@router.put(
    "/entities/{entity_id}/attrs/{attr}",
    status_code=204,
    summary="Replace an attribute",
    openapi_extra=body_doc({"type": "Property", "value": 42}, "The attribute"),
)
async def replace_attr(request: Request, entity_id: str, attr: str) -> Response:
    hub = hub_of(request)
    tenant = tenant_of(request)
    entity_id = path_id(entity_id)
    payload, ctx = await read_body(request, hub)
    iri = ctx.expand(check_name(attr, "attribute name"))
    if iri == SCOPE:
        raise BadRequestData("scope is not an attribute: replace it with PATCH /entities/{id}")
    now = now_iso()
    fragment: Entity = {
        "id": entity_id,
        "modifiedAt": now,
        "attrs": {iri: [parse_instance(iri, payload, ctx, now, attr)]},
    }

    def op(old: Entity | None) -> changes.Change:
        if old is not None and iri not in old["attrs"]:
            raise ResourceNotFound(f"attribute {attr} does not exist in entity {entity_id}")
        return changes.update(old, fragment)

    change = await hub.write_one(tenant, entity_id, op)
    if change.not_updated:
        raise ResourceNotFound(f"attribute {attr} has no instance with that datasetId")
    return Response(status_code=204)


@router.delete(
    "/entities/{entity_id}/attrs/{attr}",
    status_code=204,
    summary="Delete an attribute",
    description="`datasetId` picks one instance; `deleteAll=true` removes every instance.",
)
async def delete_attr(request: Request, entity_id: str, attr: str) -> Response:
    hub = hub_of(request)
    tenant = await existing_tenant(request, hub)
    entity_id = path_id(entity_id)
    ctx = context_of(request, hub)
    iri = ctx.expand(check_name(attr, "attribute name"))
    dataset_id = request.query_params.get("datasetId")
    if dataset_id is not None:
        check_uri(dataset_id, "datasetId")
    delete_all = request.query_params.get("deleteAll") == "true"
    now = now_iso()
    await hub.write_one(
        tenant,
        entity_id,
        lambda old: changes.delete_attribute(old, iri, attr, now, dataset_id, delete_all),
    )
    return Response(status_code=204)


# ---------------------------------------------------------------------------------------------
# Batch operations


async def _batch_entities(
    request: Request, hub: Hub, need_type: bool = True
) -> tuple[list[Entity], list[tuple[str, CetateError]]]:
    """Parse each entity on its own: a bad one becomes an error of its own, never of the batch."""
    payload, media = await read_json(request, hub)
    if not isinstance(payload, list):
        raise BadRequestData("the body of a batch operation must be a JSON array of entities")
    if not payload:
        raise BadRequestData("the batch is empty")
    contexts = ItemContexts(request, hub, media)
    now = now_iso()
    entities: list[Entity] = []
    errors: list[tuple[str, CetateError]] = []
    for raw in payload:
        raw_id = raw.get("id") if isinstance(raw, dict) else None
        try:
            ctx = await contexts.of(raw)
            if need_type:
                entities.append(parse_entity(raw, ctx, now))
            else:
                entity_id = check_uri(raw_id, "entity id")
                fragment: Entity = {
                    "id": entity_id,
                    "modifiedAt": now,
                    "attrs": parse_attributes(raw, ctx, now),
                }
                if isinstance(raw, dict) and "type" in raw:
                    fragment["type"] = parse_types(raw["type"], ctx)
                if isinstance(raw, dict) and "scope" in raw:
                    fragment["scope"] = parse_scope(raw["scope"])
                entities.append(fragment)
        except CetateError as error:
            errors.append((str(raw_id), error))
    return entities, errors


@router.post(
    "/entityOperations/create",
    summary="Batch create",
    description="201 with the ids when all were created, else 207 with per-entity errors.",
    openapi_extra=body_doc([_ENTITY_EXAMPLE], "An array of entities"),
)
async def batch_create(request: Request) -> Response:
    hub = hub_of(request)
    tenant = tenant_of(request)
    entities, errors = await _batch_entities(request, hub)
    result = await run_batch(hub.batch, tenant, entities, changes.create, errors)
    return batch_response(result, created_status=True)


@router.post(
    "/entityOperations/upsert",
    summary="Batch upsert",
    description="Creates entities that do not exist; for those that do, `options=replace` "
    "(default) replaces them and `options=update` appends attributes. 201 lists created ids, "
    "204 when all existed, 207 with per-entity errors.",
    openapi_extra=body_doc([_ENTITY_EXAMPLE], "An array of entities"),
)
async def batch_upsert(request: Request) -> Response:
    hub = hub_of(request)
    tenant = tenant_of(request)
    options = flag_options(request)
    entities, errors = await _batch_entities(request, hub)
    replace = "update" not in options
    result = await run_batch(_upsert_with_errors, hub, tenant, entities, replace, errors)
    return batch_response(result, created_status=True)


def _upsert_with_errors(
    hub: Hub,
    tenant: str,
    entities: list[Entity],
    replace: bool,
    errors: list[tuple[str, CetateError]],
) -> BatchResult:
    result = hub.upsert(tenant, entities, replace)
    result.errors = errors + result.errors
    return result


@router.post(
    "/entityOperations/update",
    summary="Batch update",
    description="Appends attributes to existing entities (`options=noOverwrite` keeps existing "
    "ones). 204, or 207 with per-entity errors.",
    openapi_extra=body_doc([{"id": _ENTITY_EXAMPLE["id"], "intensity": 12}], "Fragments"),
)
async def batch_update(request: Request) -> Response:
    hub = hub_of(request)
    tenant = tenant_of(request)
    no_overwrite = "noOverwrite" in flag_options(request)
    entities, errors = await _batch_entities(request, hub, need_type=False)
    kept: dict[str, list[str]] = {}  # entity id -> attributes noOverwrite left as they were

    def op(old: Entity | None, fragment: Entity) -> changes.Change:
        change = changes.append(old, fragment, no_overwrite)
        if change.not_updated:
            kept[change.entity_id] = [iri for iri, _ in change.not_updated]
        return change

    result = await run_batch(hub.batch, tenant, entities, op, errors)
    for entity_id, iris in kept.items():
        # the new attributes were written; the entity is reported for those that were not
        result.success = [i for i in result.success if i != entity_id]
        result.errors.append(
            (entity_id, BadRequestData(f"attributes exist and noOverwrite was asked: {iris}"))
        )
    return batch_response(result, created_status=False)


@router.post(
    "/entityOperations/merge",
    summary="Batch merge",
    description="Merges each fragment into its existing entity, as PATCH /entities/{id} does. "
    "204, or 207 with per-entity errors.",
    openapi_extra=body_doc([{"id": _ENTITY_EXAMPLE["id"], "intensity": 12}], "Fragments"),
)
async def batch_merge(request: Request) -> Response:
    hub = hub_of(request)
    tenant = tenant_of(request)
    entities, errors = await _batch_entities(request, hub, need_type=False)
    result = await run_batch(hub.batch, tenant, entities, changes.merge, errors)
    return batch_response(result, created_status=False)


@router.post(
    "/entityOperations/delete",
    summary="Batch delete",
    description="An array of entity ids. 204, or 207 with per-entity errors.",
    openapi_extra=body_doc([_ENTITY_EXAMPLE["id"]], "An array of entity ids"),
)
async def batch_delete(request: Request) -> Response:
    hub = hub_of(request)
    tenant = tenant_of(request)
    payload, _ = await read_body(request, hub, needs_context=False)
    if not isinstance(payload, list) or not payload:
        raise BadRequestData("the body must be a non-empty JSON array of entity ids")
    ids: list[str] = []
    errors: list[tuple[str, CetateError]] = []
    for raw in payload:
        try:
            ids.append(check_uri(raw, "entity id"))
        except CetateError as error:
            errors.append((str(raw), error))
    placeholders: list[Entity] = [{"id": i} for i in ids]
    result = await run_batch(
        hub.batch, tenant, placeholders, lambda old, e: changes.delete(old, e["id"]), errors
    )
    return batch_response(result, created_status=False)


# ---------------------------------------------------------------------------------------------
# Discovery


@router.get(
    "/types",
    summary="Entity types",
    description="The entity types present; `details=true` adds each type's attributes.",
)
async def list_types(request: Request) -> Response:
    hub = hub_of(request)
    tenant = await existing_tenant(request, hub)
    ctx = context_of(request, hub)
    summaries = await run(hub, hub.store.types, tenant)
    fmt = output_format(request)
    if request.query_params.get("details") == "true":
        body: Any = [
            {
                "id": s.type,
                "type": "EntityType",
                "typeName": ctx.compact(s.type),
                "attributeNames": sorted(ctx.compact(a) for a in s.attrs),
            }
            for s in summaries
        ]
    else:
        body = {
            "id": f"urn:ngsi-ld:EntityTypeList:{tenant or 'default'}",
            "type": "EntityTypeList",
            "typeList": [ctx.compact(s.type) for s in summaries],
        }
    return json_response(body, ctx, fmt)


@router.get("/types/{type_name:path}", summary="One entity type with its attributes")
async def type_info(request: Request, type_name: str) -> Response:
    hub = hub_of(request)
    tenant = await existing_tenant(request, hub)
    ctx = context_of(request, hub)
    iri = ctx.expand(type_name)
    summaries = await run(hub, hub.store.types, tenant)
    found = next((s for s in summaries if s.type == iri), None)
    if found is None:
        raise ResourceNotFound(f"no entity of type {type_name}")
    body = {
        "id": iri,
        "type": "EntityTypeInfo",
        "typeName": ctx.compact(iri),
        "entityCount": found.count,
        "attributeDetails": [
            {
                "id": attr,
                "type": "Attribute",
                "attributeName": ctx.compact(attr),
                "attributeTypes": sorted(kinds),
            }
            for attr, kinds in sorted(found.attrs.items())
        ],
    }
    return json_response(body, ctx, output_format(request))


def _attribute_index(
    summaries: list[Any],
) -> dict[str, tuple[int, set[str], set[str]]]:
    index: dict[str, tuple[int, set[str], set[str]]] = {}
    for summary in summaries:
        for attr, kinds in summary.attrs.items():
            count, types, attr_types = index.get(attr, (0, set(), set()))
            types.add(summary.type)
            attr_types.update(kinds)
            index[attr] = (count + summary.count, types, attr_types)
    return index


@router.get(
    "/attributes",
    summary="Attributes",
    description="The attribute names present; `details=true` adds their types and entity types.",
)
async def list_attributes(request: Request) -> Response:
    hub = hub_of(request)
    tenant = await existing_tenant(request, hub)
    ctx = context_of(request, hub)
    index = _attribute_index(await run(hub, hub.store.types, tenant))
    if request.query_params.get("details") == "true":
        body: Any = [
            {
                "id": attr,
                "type": "Attribute",
                "attributeName": ctx.compact(attr),
                "typeNames": sorted(ctx.compact(t) for t in types),
            }
            for attr, (_, types, _kinds) in sorted(index.items())
        ]
    else:
        body = {
            "id": f"urn:ngsi-ld:AttributeList:{tenant or 'default'}",
            "type": "AttributeList",
            "attributeList": sorted(ctx.compact(a) for a in index),
        }
    return json_response(body, ctx, output_format(request))


@router.get(
    "/attributes/{attr:path}", summary="One attribute: its types and the entity types using it"
)
async def attribute_info(request: Request, attr: str) -> Response:
    hub = hub_of(request)
    tenant = await existing_tenant(request, hub)
    ctx = context_of(request, hub)
    iri = ctx.expand(attr)
    index = _attribute_index(await run(hub, hub.store.types, tenant))
    if iri not in index:
        raise ResourceNotFound(f"no entity has attribute {attr}")
    count, types, kinds = index[iri]
    body = {
        "id": iri,
        "type": "Attribute",
        "attributeName": ctx.compact(iri),
        "attributeCount": count,
        "attributeTypes": sorted(kinds),
        "typeNames": sorted(ctx.compact(t) for t in types),
    }
    return json_response(body, ctx, output_format(request))


# Included last: routes match in order, and the entity routes carry most of the traffic.
router.include_router(temporal_router)
router.include_router(subscriptions_router)
