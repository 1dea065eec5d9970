"""``/city``: routes, matrices, isochrones, nearest places by travel time, snapping and road
closures over the loaded city. Geometry in and out is GeoJSON, lon/lat (WGS84)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

import numpy as np
import shapely.geometry
from fastapi import APIRouter, Query, Request, Response
from pydantic import BaseModel, Field

from cetate.city.closures import Closure, parse_closure
from cetate.city.places import Place
from cetate.city.profiles import MODES
from cetate.city.service import City
from cetate.errors import BadRequestData, CetateError, ResourceNotFound
from cetate.hub.documents import delete_documents, upsert_documents
from cetate.hub.model import parse_time
from cetate.hub.service import Hub

router = APIRouter()

ModeQuery = Annotated[str, Query(description=f"travel mode: {', '.join(MODES)}")]
AtQuery = Annotated[
    str | None, Query(description="closures active at this time (ISO 8601); default now")
]
MAX_MATRIX_CELLS = 4_000_000


class CityNotLoaded(CetateError):
    type_uri = "https://cetate.city/errors/CityNotLoaded"
    title = "No city loaded"
    status = 409


class MatrixRequest(BaseModel):
    origins: list[tuple[float, float]] = Field(description="[lon, lat] pairs", min_length=1)
    destinations: list[tuple[float, float]] | None = Field(
        default=None, description="[lon, lat] pairs; the origins when left out"
    )
    mode: str = "drive"
    at: str | None = None


class SnapRequest(BaseModel):
    points: list[tuple[float, float]] = Field(min_length=1)
    mode: str = "drive"


def the_city(request: Request) -> City:
    city: City | None = getattr(request.app.state, "city", None)
    if city is None:
        raise CityNotLoaded("no city is loaded: start with --osm PATH or CETATE_CITY_OSM")
    return city


def the_places(request: Request) -> list[Place]:
    return the_city(request).places


def parse_point(text: str, name: str) -> np.ndarray[Any, np.dtype[np.float64]]:
    try:
        lon, lat = (float(part) for part in text.split(","))
    except ValueError:
        raise BadRequestData(f"{name} must be 'longitude,latitude', got {text!r}") from None
    return np.array([lon, lat], dtype=np.float64)


def parse_at(text: str | None) -> datetime | None:
    return parse_time(text, "at") if text else None


@router.get("", summary="The loaded city: extract, networks per mode, places")
def city_summary(request: Request) -> dict[str, Any]:
    city = the_city(request)
    places = the_places(request)
    kinds: dict[str, int] = {}
    for place in places:
        kinds[place.kind] = kinds.get(place.kind, 0) + 1
    return {**city.report.as_dict(), "places": kinds}


@router.get("/route", summary="Fastest route between two points, as a GeoJSON Feature")
def route(
    request: Request,
    origin: Annotated[str, Query(alias="from", description="lon,lat")],
    destination: Annotated[str, Query(alias="to", description="lon,lat")],
    mode: ModeQuery = "drive",
    at: AtQuery = None,
) -> dict[str, Any]:
    city = the_city(request)
    found = city.route(
        parse_point(origin, "from"), parse_point(destination, "to"), mode, parse_at(at)
    )
    segment_ids = [city.segments.segment_id(s) for s in found.segments]
    return {
        "type": "Feature",
        "geometry": {"type": "LineString", "coordinates": [list(c) for c in found.coordinates]},
        "properties": {
            "mode": mode,
            "duration_s": round(found.duration_s, 3),
            "distance_m": round(found.distance_m, 1),
            "segments": list(dict.fromkeys(segment_ids)),
            "snappedFrom": [found.origin.lon, found.origin.lat],
            "snappedTo": [found.destination.lon, found.destination.lat],
        },
    }


@router.post("/matrix", summary="Travel times (s) from every origin to every destination")
def matrix(request: Request, body: MatrixRequest) -> dict[str, Any]:
    city = the_city(request)
    destinations = body.destinations if body.destinations is not None else body.origins
    if len(body.origins) * len(destinations) > MAX_MATRIX_CELLS:
        raise BadRequestData(f"at most {MAX_MATRIX_CELLS:,} cells per matrix; split the request")
    durations = city.matrix(
        np.array(body.origins, dtype=np.float64),
        np.array(destinations, dtype=np.float64),
        body.mode,
        parse_at(body.at),
    )
    rounded = np.round(durations, 3)
    rows = [[None if not np.isfinite(v) else float(v) for v in row] for row in rounded]
    return {"mode": body.mode, "durations_s": rows}


@router.get("/isochrones", summary="Areas reachable within each time budget (GeoJSON)")
def isochrones(
    request: Request,
    origin: Annotated[str, Query(description="lon,lat")],
    budgets: Annotated[str, Query(description="seconds, comma-separated: 300,600,900")],
    mode: ModeQuery = "drive",
    at: AtQuery = None,
    buffer_m: Annotated[float, Query(description="how far from a street counts")] = 50.0,
) -> dict[str, Any]:
    city = the_city(request)
    try:
        budgets_s = [float(b) for b in budgets.split(",")]
    except ValueError:
        raise BadRequestData(f"budgets must be seconds separated by commas: {budgets!r}") from None
    found = city.isochrones(parse_point(origin, "origin"), budgets_s, mode, parse_at(at), buffer_m)
    return {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "geometry": shapely.geometry.mapping(iso.polygon),
                "properties": {
                    "budget_s": iso.budget_s,
                    "mode": mode,
                    "reachedStreet_m": round(iso.reached_m),
                },
            }
            for iso in found
        ],
    }


@router.get("/nearest", summary="The k places of a kind reached soonest from a point")
def nearest(
    request: Request,
    point: Annotated[str, Query(description="lon,lat")],
    kind: Annotated[str, Query(description="hospital, fire_station, pharmacy, parking, ...")],
    k: Annotated[int, Query(ge=1, le=100)] = 3,
    mode: ModeQuery = "drive",
    at: AtQuery = None,
) -> dict[str, Any]:
    city = the_city(request)
    candidates = [p for p in the_places(request) if p.kind == kind]
    if not candidates:
        raise ResourceNotFound(f"no place of kind {kind!r} in this city")
    coordinates = np.array([(p.lon, p.lat) for p in candidates], dtype=np.float64)
    found = city.nearest(parse_point(point, "point"), coordinates, k, mode, parse_at(at))
    return {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "geometry": {"type": "Point", "coordinates": [place.lon, place.lat]},
                "properties": {
                    "osm": place.id,
                    "kind": place.kind,
                    "name": place.name,
                    "duration_s": round(duration, 3),
                },
            }
            for index, duration in found
            for place in (candidates[index],)
        ],
    }


@router.post("/snap", summary="Where points meet the network of a mode")
def snap(request: Request, body: SnapRequest) -> dict[str, Any]:
    city = the_city(request)
    snaps = city.snap(np.array(body.points, dtype=np.float64), body.mode)
    return {
        "mode": body.mode,
        "snapped": [
            {
                "segment": city.segments.segment_id(s.segment),
                "fraction": round(s.fraction, 6),
                "distance_m": round(s.distance_m, 2),
                "point": [s.lon, s.lat],
            }
            for s in snaps
        ],
    }


@router.get("/closures", summary="Road closures (active and scheduled)")
def list_closures(request: Request) -> list[dict[str, Any]]:
    city = the_city(request)
    return [_closure_view(c) for c in city.closures()]


@router.post("/closures", status_code=201, summary="Close roads: an area or segment ids")
def create_closure(request: Request, body: dict[str, Any], response: Response) -> dict[str, Any]:
    """Validates the closure (GeoJSON, interval, modes, known segments) before anything is
    written, then stores it in the hub as a ``cetate:RoadClosure`` entity."""
    city = the_city(request)
    closure = parse_closure(body)
    for segment_id in closure.segment_ids:
        city.segment_index(segment_id)  # unknown ids are an error, not a silent no-op
    hub: Hub = request.app.state.hub
    result = upsert_documents(hub, "", [closure.document()], replace=True)
    if result.errors:
        raise result.errors[0][1]
    city.closures_changed()
    response.headers["Location"] = f"/city/closures/{closure.id}"
    return _closure_view(closure)


@router.delete("/closures/{closure_id:path}", status_code=204, summary="Reopen the roads")
def delete_closure(request: Request, closure_id: str) -> Response:
    city = the_city(request)
    hub: Hub = request.app.state.hub
    if closure_id not in {c.id for c in city.closures(refresh=True)}:
        raise ResourceNotFound(f"no closure {closure_id}")
    result = delete_documents(hub, "", [closure_id])
    if result.errors:
        raise result.errors[0][1]
    city.closures_changed()
    return Response(status_code=204)


def _closure_view(closure: Closure) -> dict[str, Any]:
    view: dict[str, Any] = {
        "id": closure.id,
        "segments": sorted(closure.segment_ids),
        "modes": sorted(closure.modes),
        "validFrom": closure.valid_from.isoformat() if closure.valid_from else None,
        "validTo": closure.valid_to.isoformat() if closure.valid_to else None,
        "reason": closure.reason,
    }
    if closure.area is not None:
        view["location"] = shapely.geometry.mapping(closure.area)
    return view
