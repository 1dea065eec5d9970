"""The operations room's HTTP face: the page at ``/``, its static files, and the few endpoints
the page needs beside the NGSI-LD API (configuration, map points, basemap tiles, live updates).

Everything the browser loads comes from this process: the page's own files from
``static/`` beside this module, Leaflet and its clustering plugin from their XStatic packages.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar, cast

import orjson
import xstatic.pkg.leaflet as leaflet_package
import xstatic.pkg.leaflet_markercluster as markercluster_package
from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import FileResponse, Response, StreamingResponse
from fastapi.staticfiles import StaticFiles

from cetate.city.addresses import read_addresses
from cetate.city.service import City
from cetate.errors import BadRequestData, ResourceNotFound
from cetate.hub.http import hub_of, run, run_batch
from cetate.hub.model import parse_time
from cetate.hub.service import Hub
from cetate.web.auth.accounts import ACCOUNTS_TENANT
from cetate.web.auth.middleware import signed_in
from cetate.web.ui.basemap import MAX_ZOOM, Basemap, build_basemap
from cetate.web.ui.live import LiveFeed
from cetate.web.ui.modules import default_registry
from cetate.web.ui.past import layer_points_at
from cetate.web.ui.points import LOCATION, LayerIndex
from cetate.web.ui.registry import LayerSpec, Registry
from cetate.web.ui.search import MIN_QUERY, AddressSearch, EntitySearch, merge, words

STATIC = Path(__file__).parent / "static"
# Points sent for one layer; beyond it the response says it was cut (``truncated``).
MAX_POINTS = 100_000
MAX_HITS = 50
# Tenant names as the hub accepts them (NGSILD-Tenant); EventSource cannot send headers, so
# the live stream takes the tenant as a query parameter.
_TENANT = re.compile(r"^[A-Za-z0-9_\-.:/]{1,256}$")

router = APIRouter()
T = TypeVar("T")


def install_ui(app: FastAPI, registry: Registry | None = None) -> None:
    """Serve the operations room from ``app``, with the core modules unless told otherwise."""
    app.state.ui_registry = registry or default_registry()
    app.state.ui_lock = threading.Lock()
    app.state.ui_basemap_lock = threading.Lock()  # held while a basemap is built: seconds
    app.include_router(router, tags=["dashboard"])
    app.mount("/static/ui", StaticFiles(directory=STATIC), name="ui-static")
    app.mount(
        "/static/vendor/leaflet",
        StaticFiles(directory=leaflet_package.BASE_DIR),
        name="vendor-leaflet",
    )
    app.mount(
        "/static/vendor/leaflet.markercluster",
        StaticFiles(directory=markercluster_package.BASE_DIR),
        name="vendor-markercluster",
    )


@router.get("/", include_in_schema=False)
async def index() -> FileResponse:
    # Revalidated on each visit, so an upgraded server never runs with an old page.
    return FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-cache"})


@router.get("/ui/config", summary="The dashboard's modules, map layers and city")
async def config(request: Request) -> Response:
    """Every registered module and layer, and the city's bounds when one is loaded. It reads
    nothing from the store, so the page can start drawing at once (``/ui/layers`` counts)."""
    registry = _registry(request)
    body = {
        "modules": [module.describe() for module in registry.ordered()],
        "layers": [layer.describe() for layer in registry.layers()],
        "languages": ["en", "ro"],
        "tenant": _tenant(request),
        "city": _city_view(request),
        # Whether accounts are on: the page then shows who is signed in (GET /auth/me).
        "auth": bool(getattr(request.app.state, "auth_enabled", False)),
    }
    return Response(orjson.dumps(body), media_type="application/json")


@router.get("/ui/layers", summary="Every map layer with the number of its entities")
async def layers(request: Request) -> Response:
    """The registered layers, then a layer for each other entity type in the hub that has a
    location (switched off at first), each with ``count``: its entities in the hub."""
    hub = hub_of(request)
    tenant = _tenant(request)
    registry = _registry(request)
    index = _index(request)
    exists = await _exists(hub, tenant)
    searcher = _search(request)
    if exists and searcher.needs_reading(tenant):
        # The page asks for this once it has drawn: the moment to read the search lines too.
        threading.Thread(target=searcher.warm, args=(tenant,), daemon=True).start()
    summaries = await run(hub, hub.store.types, tenant) if exists else []
    counts = {s.type: s.count for s in summaries}
    ctx = hub.contexts.core()
    found: list[dict[str, Any]] = []
    for layer in registry.layers():
        described = layer.describe()
        described["count"] = sum(counts.get(ctx.expand(t), 0) for t in layer.entity_types)
        found.append(described)
    claimed = {ctx.expand(t) for layer in registry.layers() for t in layer.entity_types}
    for summary in summaries:
        if summary.type not in claimed and LOCATION in summary.attrs:
            described = index.layer_of(summary.type).describe()
            described["count"] = summary.count
            found.append(described)
    return Response(orjson.dumps(found), media_type="application/json")


@router.get("/ui/layers/{layer_id}/points", summary="A map layer's entities as compact points")
async def points(request: Request, layer_id: str, at: str | None = None) -> Response:
    """``{"layer": id, "points": [[layer, entity id, lon, lat, state], ...], "truncated": bool}``:
    what the map draws of each located entity of the layer's types; with ``at`` (an ISO 8601
    time), as they were then, from the hub's history (``cetate.web.ui.past``)."""
    hub = hub_of(request)
    tenant = _tenant(request)
    layer = await _layer(request, layer_id, tenant)
    at_us = _past_time(at)
    found: list[list[Any]] = []
    cut = False
    if not await _exists(hub, tenant):
        pass
    elif at_us is None:
        found, cut = await run_batch(_feed(request).points, tenant, layer, MAX_POINTS)
    else:
        ctx = hub.contexts.core()
        index = _index(request)
        found, cut = await run_batch(
            layer_points_at, hub.store, tenant, ctx, index, layer, at_us, MAX_POINTS
        )
    body = {"layer": layer.id, "points": found, "truncated": cut, "at": at}
    return Response(orjson.dumps(body), media_type="application/json")


@router.get(
    "/ui/basemap/{z}/{x}/{y}.json",
    summary="A basemap tile drawn from the city's OSM extract",
    responses={404: {"description": "no city is loaded"}},
)
def basemap_tile(request: Request, z: int, x: int, y: int) -> Response:
    """Roads by class, buildings, water, green areas, rivers and the coast of the tile, as flat
    coordinate arrays in quarter pixels (see ``cetate.web.ui.basemap``)."""
    tile = _basemap(request).tile(z, x, y)
    # Tiles change only with the extract, i.e. with a restart: let the browser keep them.
    headers = {"Cache-Control": "max-age=3600"}
    return Response(orjson.dumps(tile), media_type="application/json", headers=headers)


@router.get("/ui/events", summary="Live map updates (Server-Sent Events)")
async def events(request: Request) -> StreamingResponse:
    """Each event is ``data: [[layer, entity id, lon, lat, state], ...]``: the newest point of
    every entity written since the last event (lon, lat and state null: it left the map)."""
    tenant = _tenant(request)
    feed = _feed(request)
    headers = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
    return StreamingResponse(feed.stream(tenant), media_type="text/event-stream", headers=headers)


@router.get("/ui/search", summary="Entities by id, name or address; the city's addresses")
async def search(request: Request, q: str = "", limit: int = 20) -> Response:
    """``{"query": q, "results": [{kind, id, label, detail, lon, lat, layer}, ...]}``: entities
    of the tenant whose id, name or address has every word of ``q`` (case and accents aside),
    and street addresses of the city's OSM extract, the closest matches first."""
    wanted = words(q)
    if len("".join(wanted)) < MIN_QUERY:
        raise BadRequestData(f"a search needs at least {MIN_QUERY} letters or digits")
    if not 1 <= limit <= MAX_HITS:
        raise BadRequestData(f"limit must be between 1 and {MAX_HITS}")
    tenant = _tenant(request)
    ranked = [await run_batch(_search(request).search, tenant, wanted, limit)]
    addresses = _addresses(request)
    if addresses is not None:
        ranked.append(await run_batch(addresses.search, wanted, limit))
    body = {"query": q, "results": [hit.describe() for hit in merge(ranked, limit)]}
    return Response(orjson.dumps(body), media_type="application/json")


@router.get("/ui/tenants", summary="The tenants the hub holds")
async def tenants(request: Request) -> Response:
    """The default tenant (``""``) and every tenant with data, for the dashboard's switch; with
    accounts on, only those the account has a role on."""
    hub = hub_of(request)
    names = await run(hub, hub.store.tenants)
    found = ["", *sorted(n for n in names if n and n != ACCOUNTS_TENANT)]
    principal = signed_in(request)
    if principal is not None:  # with accounts on, no tenant's name is shown to outsiders
        found = [name for name in found if principal.role_on(name) is not None]
    return Response(orjson.dumps(found), media_type="application/json")


# ---------------------------------------------------------------------------------------------


def _registry(request: Request) -> Registry:
    registry: Registry = request.app.state.ui_registry
    return registry


def _tenant(request: Request) -> str:
    tenant = request.query_params.get("tenant") or request.headers.get("ngsild-tenant", "")
    if tenant and not _TENANT.match(tenant):
        raise BadRequestData(f"tenant name {tenant!r} is not valid")
    return tenant


async def _exists(hub: Hub, tenant: str) -> bool:
    return not tenant or await run(hub, hub.store.tenant_exists, tenant)


async def _layer(request: Request, layer_id: str, tenant: str) -> LayerSpec:
    """A registered layer, or the layer of a type in the hub no module claims."""
    layer = _registry(request).layer(layer_id)
    if layer is None and layer_id.startswith("type-") and await _exists(hub_of(request), tenant):
        hub = hub_of(request)
        index = _index(request)
        for summary in await run(hub, hub.store.types, tenant):
            if LOCATION in summary.attrs and index.layer_of(summary.type).id == layer_id:
                layer = index.layer_of(summary.type)
    if layer is None:
        raise ResourceNotFound(f"no map layer {layer_id}")
    return layer


def _once(request: Request, name: str, make: Callable[[], T]) -> T:
    """The app's one ``name``, made on first use (``make`` must not call ``_once``: the lock
    is held while it runs)."""
    state = request.app.state
    with state.ui_lock:
        found = getattr(state, name, None)
        if found is None:
            found = make()
            setattr(state, name, found)
    return cast(T, found)


def _index(request: Request) -> LayerIndex:
    ctx = hub_of(request).contexts.core()
    return _once(request, "ui_index", lambda: LayerIndex(_registry(request), ctx))


def _feed(request: Request) -> LiveFeed:
    index = _index(request)
    return _once(request, "ui_feed", lambda: LiveFeed(hub_of(request), index))


def _past_time(text: str | None) -> int | None:
    if text is None or text == "":
        return None
    moment = parse_time(text, "at")  # a BadRequestData that says what is wrong
    return round(moment.timestamp() * 1_000_000)


def _search(request: Request) -> EntitySearch:
    index = _index(request)
    return _once(request, "ui_search", lambda: EntitySearch(hub_of(request), index))


def _addresses(request: Request) -> AddressSearch | None:
    """The city's addresses, or None when no city is loaded."""
    state = request.app.state
    city: City | None = getattr(state, "city", None)
    if city is None:
        return None
    extract = Path(city.report.extract)
    return _once(request, "ui_addresses", lambda: AddressSearch(lambda: read_addresses(extract)))


def _basemap(request: Request) -> Basemap:
    """The city's basemap, built on first use (a fraction of a second for a district, a few
    seconds for a whole city) and kept for the life of the app."""
    state = request.app.state
    city: City | None = getattr(state, "city", None)
    if city is None:
        raise ResourceNotFound("no city is loaded: start the server with an OSM extract")
    with state.ui_basemap_lock:
        if getattr(state, "ui_basemap", None) is None:
            state.ui_basemap = build_basemap(city.segments, Path(city.report.extract))
        basemap: Basemap = state.ui_basemap
    return basemap


def _city_view(request: Request) -> dict[str, Any] | None:
    city: City | None = getattr(request.app.state, "city", None)
    if city is None or len(city.segments) == 0:
        return None
    lon, lat = city.segments.node_lon, city.segments.node_lat
    return {
        "bounds": [float(lon.min()), float(lat.min()), float(lon.max()), float(lat.max())],
        "maxZoom": MAX_ZOOM,
    }
