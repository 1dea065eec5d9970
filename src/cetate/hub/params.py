"""Request parameters shared by the hub's routers: entity selections, paging, rendering."""

from __future__ import annotations

import re
from typing import Any

from fastapi import Request

from cetate.errors import BadRequestData
from cetate.hub.context import Context
from cetate.hub.http import flag_options, hub_of, int_param, names_param
from cetate.hub.model import RenderOptions, check_entity_id, check_name, check_uri
from cetate.hub.query import map_q_names, parse_geoquery, parse_q
from cetate.hub.store.base import LOCATION, EntityQuery


def body_doc(example: Any, description: str, patch: bool = False) -> dict[str, Any]:
    """The OpenAPI request body of a route: JSON (with an example) or JSON-LD."""
    content: dict[str, Any] = {
        "application/json": {"schema": {"type": "object"}, "example": example},
        "application/ld+json": {"schema": {"type": "object"}},
    }
    if patch:
        content["application/merge-patch+json"] = {"schema": {"type": "object"}}
    return {"requestBody": {"required": True, "description": description, "content": content}}


def render_options(request: Request, ctx: Context) -> RenderOptions:
    options = flag_options(request)
    return RenderOptions(
        attrs=names_param(request, "attrs", ctx),
        key_values="keyValues" in options,
        sys_attrs="sysAttrs" in options,
        lang=request.query_params.get("lang"),
    )


def parse_type_selection(text: str, ctx: Context) -> tuple[frozenset[str], ...]:
    """``A,B`` or ``A|B`` (either) and ``A;B`` (both), with parentheses: NGSI-LD type selection.

    Returned as alternatives, each a set of types an entity must all have."""
    if not text or not re.fullmatch(r"[^<>\"'=\s]+", text):
        raise BadRequestData(f"type selection {text!r} is not valid")
    alternatives: list[frozenset[str]] = []
    for alternative in re.split(r"[|,]", text.replace("(", "").replace(")", "")):
        names = [n for n in alternative.split(";") if n]
        if not names:
            raise BadRequestData(f"type selection {text!r} has an empty alternative")
        alternatives.append(frozenset(ctx.expand(check_name(n, "entity type")) for n in names))
    return tuple(alternatives)


def compile_id_pattern(pattern: Any) -> re.Pattern[str]:
    try:
        return re.compile(str(pattern))
    except re.error as error:
        raise BadRequestData(f"idPattern is not a valid regular expression: {error}") from None


def entity_query(request: Request, ctx: Context, require_filter: bool = True) -> EntityQuery:
    params = request.query_params
    types = parse_type_selection(params["type"], ctx) if "type" in params else ()
    ids: tuple[str, ...] = ()
    if "id" in params:
        ids = tuple(check_uri(i.strip(), "id") for i in params["id"].split(",") if i.strip())
    id_pattern = compile_id_pattern(params["idPattern"]) if "idPattern" in params else None
    q = map_q_names(parse_q(params["q"]), ctx.expand) if "q" in params else None
    geo = None
    geoproperty = LOCATION
    geo_keys = [k for k in ("georel", "geometry", "coordinates") if k in params]
    if geo_keys:
        if len(geo_keys) < 3:
            raise BadRequestData("a geo-query needs georel, geometry and coordinates together")
        geo = parse_geoquery(params["georel"], params["geometry"], params["coordinates"])
        if "geoproperty" in params:
            geoproperty = ctx.expand(check_name(params["geoproperty"], "geoproperty"))
    attrs = names_param(request, "attrs", ctx)
    scopes: tuple[str, ...] = ()
    if "scopeQ" in params:
        scopes = tuple(s for s in re.split(r"[,|]", params["scopeQ"]) if s)
    local = params.get("local") == "true"
    if require_filter and not (local or types or id_pattern or q or geo or attrs or scopes):
        # an id list alone is no query (NGSI-LD 5.7.2): it needs a type, attrs, q, scopeQ, a
        # geo-query or local=true beside it
        raise BadRequestData(
            "a query needs at least one of type, idPattern, attrs, q, scopeQ, a geo-query or "
            "local=true"
        )
    limit, offset = page(request)
    return EntityQuery(
        types=types,
        ids=ids,
        id_pattern=id_pattern,
        attrs=attrs,
        q=q,
        geo=geo,
        geoproperty=geoproperty,
        scopes=scopes,
        limit=limit,
        offset=offset,
        count=params.get("count") == "true",
    )


def query_document(
    request: Request, payload: dict[str, Any], ctx: Context, what: str = "a query"
) -> EntityQuery:
    """The entity selection of an NGSI-LD Query document (clause 5.2.23)."""
    types: list[frozenset[str]] = []
    ids: list[str] = []
    id_pattern = None
    selectors = payload.get("entities") or []
    if not isinstance(selectors, list):
        raise BadRequestData("entities must be a list of entity selectors")
    for selector in selectors:
        if not isinstance(selector, dict):
            raise BadRequestData("entities must be a list of entity selectors")
        if "type" in selector:
            types += parse_type_selection(str(selector["type"]), ctx)
        if "id" in selector:
            ids.append(check_uri(selector["id"], "id"))
        if "idPattern" in selector:
            id_pattern = compile_id_pattern(selector["idPattern"])
    raw_attrs = payload.get("attrs")
    attrs = None
    if raw_attrs is not None:
        if isinstance(raw_attrs, str):
            raw_attrs = [a for a in raw_attrs.split(",") if a]
        if not isinstance(raw_attrs, list) or not raw_attrs:
            raise BadRequestData("attrs must be a non-empty list of attribute names")
        attrs = frozenset(ctx.expand(check_name(a, "attribute name")) for a in raw_attrs)
    q = None
    if "q" in payload:
        if not isinstance(payload["q"], str):
            raise BadRequestData("q must be a string in the NGSI-LD query language")
        q = map_q_names(parse_q(payload["q"]), ctx.expand)
    geo = None
    geoproperty = LOCATION
    if "geoQ" in payload:
        geo_q = payload["geoQ"]
        if not isinstance(geo_q, dict):
            raise BadRequestData("geoQ must be an object")
        geo = parse_geoquery(
            str(geo_q.get("georel", "")),
            str(geo_q.get("geometry", "")),
            geo_q.get("coordinates", ""),
        )
        if "geoproperty" in geo_q:
            geoproperty = ctx.expand(check_name(geo_q["geoproperty"], "geoproperty"))
    scopes: tuple[str, ...] = ()
    if "scopeQ" in payload:
        if not isinstance(payload["scopeQ"], str):
            raise BadRequestData("scopeQ must be a string")
        scopes = tuple(s for s in payload["scopeQ"].replace("|", ",").split(",") if s)
    if not (types or ids or id_pattern or attrs or q or geo or scopes):
        raise BadRequestData(f"{what} needs at least one of entities, attrs, q, geoQ or scopeQ")
    limit, offset = page(request)
    return EntityQuery(
        types=tuple(types),
        ids=tuple(ids),
        id_pattern=id_pattern,
        attrs=attrs,
        q=q,
        geo=geo,
        geoproperty=geoproperty,
        scopes=scopes,
        limit=limit,
        offset=offset,
        count=request.query_params.get("count") == "true",
    )


def page(request: Request) -> tuple[int, int]:
    hub = hub_of(request)
    limit = int_param(request, "limit", hub.settings.default_limit) or 0
    if limit > hub.settings.max_limit:
        raise BadRequestData(f"limit {limit} is above the maximum of {hub.settings.max_limit}")
    offset = int_param(request, "offset", 0) or 0
    return limit, offset


def path_id(entity_id: str) -> str:
    return check_entity_id(entity_id)
