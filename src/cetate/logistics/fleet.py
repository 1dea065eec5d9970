"""The fleet file: where vehicles are based, what they are, and where they may not go (YAML).

.. code-block:: yaml

    name: Brașov, green plan            # optional; the file's name without .yaml otherwise
    sites:                              # at least one
      - id: depot                       # unique among sites
        kind: depot                     # depot | consolidation | microhub
        at: [25.5886, 45.6427]          # lon, lat (or lon: and lat: keys)
        name: Depozit Bartolomeu        # optional
        hours: "06:00-20:00"            # optional, opening hours; all day otherwise
        loading_min: 5                  # optional, loading a vehicle before each trip
        capacity: {kg: 2000, m3: 20, parcels: 400}  # optional; a dimension left out: no limit
        ready_by: "08:30"               # micro-hubs only: when the feeders must have been
    vehicles:                           # at least one
      - id: bike                        # unique among vehicles
        kind: e_cargo_bike              # cargo_bike | e_cargo_bike | e_van | diesel_van | car
        count: 10                       # optional, 1 by default
        depot: hub-centre               # the site where its shifts start and end
        capacity: {kg: 150, m3: 0.8, parcels: 40}   # required; a dimension left out: no limit
        name: Bullitt electric          # optional
        reload_at: [hub-centre]         # optional, sites where it reloads between trips
        max_trips: 6                    # optional
        shift: "08:30-17:00"            # optional, 08:00-16:30 by default
        max_work_h: 8                   # optional, working time without breaks, 8 by default
        break: {at: "12:30"}            # optional, or {after_h: 6, short_min: 30,
                                        #   long_after_h: 9, long_min: 45} (the defaults)
        cost: {fixed: 10, per_km: 0.05, per_hour: 15}   # optional, euros; 0 when left out
        emission_class: zero            # for low-emission zones; "zero" by default for
                                        #   bikes and e-vans, none for diesel vans and cars
        emission_factor: e_cargo_bike   # optional key in the emission table
        range_km: 60                    # optional, on one charge or tank
        max_distance_km: 80             # optional, in one day
        feeds: [hub-centre]             # optional, micro-hubs it supplies before ready_by
    zones:                              # optional
      - id: centru                      # unique among zones
        kind: pedestrian                # pedestrian (bikes only) | low_emission
        name: Centrul istoric           # optional
        allowed: [zero, euro6]          # low_emission only (required there): classes let in
        hours: "07:00-20:00"            # optional; always otherwise
        area: {type: Polygon, coordinates: [[[25.58, 45.64], ...]]}
        # area: a GeoJSON Polygon or MultiPolygon (or a Feature of one), or the path of a
        # GeoJSON file relative to this file (a FeatureCollection: the union of its polygons)
    emission_factors: {...}             # optional, read by cetate.logistics.emissions

Times are ``HH:MM`` or ``HH:MM:SS`` (see ``cetate.logistics.clock``); write them in quotes or
not, ``12:30`` is read as a time either way (plain YAML 1.1 would make it the number 750).
A key the schema does not know is an error, not ignored: a typo such as ``reload_on`` would
otherwise plan with no reloads and nobody would know why. Every mistake names the file and
the path to the value (``fleet.yaml: vehicles[2].depot: 'hub-x' is not a site``); all of a
file's mistakes (the first ``MAX_ERRORS``) come in one error.
"""

from __future__ import annotations

import difflib
import json
import math
import re
from collections.abc import Callable, Collection, Hashable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, TypeVar

import shapely
import shapely.errors
import shapely.geometry
import yaml
import yaml.constructor
import yaml.nodes

from cetate.errors import BadRequestData
from cetate.logistics.clock import parse_clock, parse_window
from cetate.logistics.model import (
    ALL_DAY,
    NO_LIMIT,
    UNLIMITED,
    Break,
    Problem,
    Site,
    SiteKind,
    Size,
    VehicleKind,
    VehicleType,
    Window,
    Zone,
    ZoneKind,
)
from cetate.logistics.orders import ErrorList, read_orders, read_text

SITE_KINDS: tuple[SiteKind, ...] = ("depot", "consolidation", "microhub")
VEHICLE_KINDS: tuple[VehicleKind, ...] = (
    "cargo_bike", "e_cargo_bike", "e_van", "diesel_van", "car",
)  # fmt: skip
ZONE_KINDS: tuple[ZoneKind, ...] = ("pedestrian", "low_emission")
ZERO_EMISSION_KINDS = frozenset({"cargo_bike", "e_cargo_bike", "e_van"})

FLEET_KEYS = ("name", "sites", "vehicles", "zones", "emission_factors")
SITE_KEYS = ("id", "kind", "at", "lon", "lat", "name", "hours", "loading_min", "capacity",
             "ready_by")  # fmt: skip
VEHICLE_KEYS = (
    "id", "kind", "count", "depot", "capacity", "name", "reload_at", "max_trips", "shift",
    "max_work_h", "break", "cost", "emission_class", "emission_factor", "range_km",
    "max_distance_km", "feeds",
)  # fmt: skip
ZONE_KEYS = ("id", "kind", "name", "allowed", "hours", "area")
CAPACITY_KEYS = ("kg", "m3", "parcels")
BREAK_KEYS = ("at", "after_h", "short_min", "long_after_h", "long_min")
COST_KEYS = ("fixed", "per_km", "per_hour")

C = TypeVar("C", bound=str)


class _Identified(Protocol):
    @property
    def id(self) -> str: ...


Part = TypeVar("Part", bound=_Identified)


@dataclass(frozen=True)
class FleetFile:
    name: str
    sites: tuple[Site, ...]
    vehicles: tuple[VehicleType, ...]
    zones: tuple[Zone, ...]
    emission_factors: dict[str, Any]  # as written; cetate.logistics.emissions reads it


def read_fleet(path: Path) -> FleetFile:
    """The fleet file at ``path``; raises ``BadRequestData`` listing every mistake."""
    document = _load_yaml(path.name, read_text(path))
    return fleet_from_data(document, path.name, path.stem, path.parent)


def read_problem(orders_path: Path, fleet_path: Path) -> tuple[Problem, dict[str, Any]]:
    """The problem of an orders file and a fleet file, and the fleet file's emission factors
    as written. The mistakes of both files come in one error."""
    failures: list[BadRequestData] = []
    fleet: FleetFile | None = None
    orders = None
    try:
        fleet = read_fleet(fleet_path)
    except BadRequestData as error:
        failures.append(error)
    try:
        orders = read_orders(orders_path)
    except BadRequestData as error:
        failures.append(error)
    if fleet is None or orders is None:
        if len(failures) == 1:
            raise failures[0]
        messages = [m for f in failures for m in f.extra.get("errors", [f.detail])]
        count = sum(int(f.extra.get("errorCount", 1)) for f in failures)
        raise BadRequestData(
            "\n".join(f.detail for f in failures), errors=messages, errorCount=count
        )
    problem = Problem(
        sites=fleet.sites,
        fleet=fleet.vehicles,
        orders=orders,
        zones=fleet.zones,
        name=fleet.name,
    )
    return problem, fleet.emission_factors


def fleet_from_data(
    document: Any, label: str, default_name: str = "", folder: Path | None = None
) -> FleetFile:
    """A fleet from its document (the YAML file's, or JSON sent to the API); ``label`` (the
    file's name) starts every message. Zone areas given as file paths are read relative to
    ``folder``; without one (a document from the network) they are refused."""
    if document is None:
        raise BadRequestData(f"{label} is empty")
    if not isinstance(document, Mapping):
        raise BadRequestData(f"{label}: must be a mapping with sites: and vehicles:")
    read = _Reader(label, ErrorList(label))
    top = read.mapping(document, "", FLEET_KEYS) or {}
    name = read.text(top.get("name"), "name") or default_name
    sites = _all(read, top, "sites", _site, required=True)
    site_kinds = _declared_sites(top.get("sites"))
    vehicles = _all(
        read, top, "vehicles", lambda r, v, p: _vehicle(r, v, p, site_kinds), required=True
    )
    zones = _all(read, top, "zones", lambda r, v, p: _zone(r, v, p, folder), required=False)
    factors = top.get("emission_factors")
    if factors is not None and not isinstance(factors, Mapping):
        read.fail("emission_factors", "must be a mapping (key: value lines)")
    read.errors.raise_if_any()
    return FleetFile(
        name=name,
        sites=tuple(sites),
        vehicles=tuple(vehicles),
        zones=tuple(zones),
        emission_factors=dict(factors or {}),
    )


# -- YAML -------------------------------------------------------------------------------------


class _FleetLoader(yaml.SafeLoader):
    """YAML as people write fleet files: ``12:30`` stays the text "12:30" (YAML 1.1 reads the
    base-60 number 750, ``0730`` the octal 472), and a key given twice is an error rather than
    the last one silently winning."""

    def construct_mapping(
        self, node: yaml.nodes.MappingNode, deep: bool = False
    ) -> dict[Hashable, Any]:
        seen: set[str] = set()
        for key_node, _ in node.value:
            if isinstance(key_node, yaml.nodes.ScalarNode):
                if key_node.value in seen:
                    raise yaml.constructor.ConstructorError(
                        None,
                        None,
                        f"the key {key_node.value!r} is given twice",
                        key_node.start_mark,
                    )
                seen.add(key_node.value)
        return super().construct_mapping(node, deep)


_INT = "tag:yaml.org,2002:int"
_FLOAT = "tag:yaml.org,2002:float"
_FleetLoader.yaml_implicit_resolvers = {
    first: [(tag, pattern) for tag, pattern in resolvers if tag not in (_INT, _FLOAT)]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_FleetLoader.add_implicit_resolver(
    _INT, re.compile(r"^[-+]?(?:0|[1-9][0-9_]*)$"), list("-+0123456789")
)
_FleetLoader.add_implicit_resolver(
    _FLOAT,
    re.compile(
        r"^(?:[-+]?[0-9][0-9_]*\.[0-9_]*(?:[eE][-+]?[0-9]+)?"
        r"|[-+]?\.[0-9][0-9_]*(?:[eE][-+]?[0-9]+)?"
        r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$"
    ),
    list("-+0123456789."),
)


def _load_yaml(name: str, text: str) -> Any:
    try:
        return yaml.load(text, Loader=_FleetLoader)  # a SafeLoader: no arbitrary objects
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark
        where = f"{name} line {mark.line + 1}, column {mark.column + 1}" if mark else name
        raise BadRequestData(f"{where}: not valid YAML ({error.problem})") from None
    except yaml.YAMLError as error:
        raise BadRequestData(f"{name}: not valid YAML ({error})") from None


# -- the parts --------------------------------------------------------------------------------


def _all(
    read: _Reader,
    top: Mapping[str, Any],
    key: str,
    parse: Callable[[_Reader, Any, str], Part | None],
    required: bool,
) -> list[Part]:
    """Each item of a top-level list, parsed; ids unique."""
    items = top.get(key)
    if items is None and not required:
        return []
    if not isinstance(items, list) or (required and not items):
        read.fail(key, "must be a list" + (" with at least one item" if required else ""))
        return []
    parsed: list[Part] = []
    first_index: dict[str, int] = {}
    for index, item in enumerate(items):
        result = parse(read, item, f"{key}[{index}]")
        if result is None:
            continue
        if result.id in first_index:
            read.fail(
                f"{key}[{index}].id",
                f"{result.id!r} is already the id of {key}[{first_index[result.id]}]",
            )
            continue
        first_index[result.id] = index
        parsed.append(result)
    return parsed


def _site(read: _Reader, raw: Any, path: str) -> Site | None:
    site = read.mapping(raw, path, SITE_KEYS)
    if site is None:
        return None
    mistakes = read.errors.count
    site_id = read.identifier(site.get("id"), f"{path}.id")
    kind = read.choice(site.get("kind"), f"{path}.kind", SITE_KINDS)
    place = _place(read, site, path)
    hours = read.window(site.get("hours"), f"{path}.hours")
    loading_min = read.number(site.get("loading_min"), f"{path}.loading_min", minimum=0.0)
    capacity = _capacity(read, site.get("capacity"), f"{path}.capacity")
    ready_by = read.clock(site.get("ready_by"), f"{path}.ready_by")
    name = read.text(site.get("name"), f"{path}.name")
    if ready_by is not None and kind is not None and kind != "microhub":
        read.fail(f"{path}.ready_by", f"only micro-hubs have one (this site is a {kind})")
    if read.errors.count != mistakes or kind is None or place is None:
        return None
    return Site(
        id=site_id,
        kind=kind,
        lon=place[0],
        lat=place[1],
        name=name,
        hours=hours or ALL_DAY,
        capacity=capacity or NO_LIMIT,
        loading_s=round((loading_min or 0.0) * 60),
        ready_by=ready_by,
    )


def _declared_sites(raw: Any) -> dict[str, str]:
    """Each site id written in the file and its kind as written, mistakes or not: a site with
    a wrong value is reported for that, not again by every vehicle based there."""
    declared: dict[str, str] = {}
    for site in raw if isinstance(raw, list) else []:
        if isinstance(site, Mapping) and isinstance(site.get("id"), str | int):
            declared.setdefault(str(site["id"]).strip(), str(site.get("kind")))
    return declared


def _place(read: _Reader, site: Mapping[str, Any], path: str) -> tuple[float, float] | None:
    if "at" in site and ("lon" in site or "lat" in site):
        read.fail(f"{path}.at", "give either at: [lon, lat] or lon: and lat:, not both")
        return None
    if "at" in site:
        at = site["at"]
        if not isinstance(at, list) or len(at) != 2:
            read.fail(f"{path}.at", f"{at!r} is not [lon, lat]")
            return None
        lon, lat = at
        lon_path, lat_path = f"{path}.at[0]", f"{path}.at[1]"
    elif "lon" in site or "lat" in site:
        lon, lat = site.get("lon"), site.get("lat")
        lon_path, lat_path = f"{path}.lon", f"{path}.lat"
    else:
        read.fail(path, "needs a place: at: [lon, lat], or lon: and lat:")
        return None
    lon_value = read.coordinate(lon, lon_path, 180.0, "longitude")
    lat_value = read.coordinate(lat, lat_path, 90.0, "latitude")
    if lon_value is None or lat_value is None:
        return None
    return lon_value, lat_value


def _capacity(read: _Reader, raw: Any, path: str) -> Size | None:
    """A capacity, a dimension left out being unlimited; None when left out (or wrong)."""
    if raw is None:
        return None
    capacity = read.mapping(raw, path, CAPACITY_KEYS)
    if capacity is None:
        return None
    if not capacity:
        read.fail(path, "give at least one of kg, m3, parcels")
        return None
    dims = {
        key: read.number(capacity.get(key), f"{path}.{key}", above=0.0) for key in CAPACITY_KEYS
    }
    return Size(
        kg=dims["kg"] or UNLIMITED,
        m3=dims["m3"] or UNLIMITED,
        parcels=dims["parcels"] or UNLIMITED,
    )


def _vehicle(
    read: _Reader, raw: Any, path: str, site_kinds: Mapping[str, str]
) -> VehicleType | None:
    vehicle = read.mapping(raw, path, VEHICLE_KEYS)
    if vehicle is None:
        return None
    mistakes = read.errors.count
    vehicle_id = read.identifier(vehicle.get("id"), f"{path}.id")
    kind = read.choice(vehicle.get("kind"), f"{path}.kind", VEHICLE_KINDS)
    count = read.integer(vehicle.get("count"), f"{path}.count", minimum=1)
    depot = read.identifier(vehicle.get("depot"), f"{path}.depot")
    if depot and depot not in site_kinds:
        read.fail(f"{path}.depot", f"{depot!r} is not a site")
    if vehicle.get("capacity") is None:
        read.fail(f"{path}.capacity", "a value is required (kg, m3 and/or parcels)")
    capacity = _capacity(read, vehicle.get("capacity"), f"{path}.capacity")
    reload_at = _site_ids(read, vehicle.get("reload_at"), f"{path}.reload_at", site_kinds)
    feeds = _site_ids(read, vehicle.get("feeds"), f"{path}.feeds", site_kinds)
    for index, hub in enumerate(feeds):
        if site_kinds.get(hub, "microhub") in SITE_KINDS and site_kinds[hub] != "microhub":
            read.fail(f"{path}.feeds[{index}]", f"{hub!r} is a {site_kinds[hub]}, not a microhub")
    shift = read.window(vehicle.get("shift"), f"{path}.shift")
    max_work_h = read.number(vehicle.get("max_work_h"), f"{path}.max_work_h", above=0.0)
    breaks = _break(read, vehicle.get("break"), f"{path}.break", shift or VehicleType.shift)
    costs = _costs(read, vehicle.get("cost"), f"{path}.cost")
    emission_class = read.text(vehicle.get("emission_class"), f"{path}.emission_class")
    emission_factor = read.text(vehicle.get("emission_factor"), f"{path}.emission_factor")
    range_km = read.number(vehicle.get("range_km"), f"{path}.range_km", above=0.0)
    max_distance_km = read.number(
        vehicle.get("max_distance_km"), f"{path}.max_distance_km", above=0.0
    )
    max_trips = read.integer(vehicle.get("max_trips"), f"{path}.max_trips", minimum=1)
    name = read.text(vehicle.get("name"), f"{path}.name")
    if read.errors.count != mistakes or kind is None or capacity is None or breaks is None:
        return None
    if not emission_class and kind in ZERO_EMISSION_KINDS:
        emission_class = "zero"
    return VehicleType(
        id=vehicle_id,
        kind=kind,
        count=count or 1,
        depot=depot,
        capacity=capacity,
        name=name,
        reload_at=reload_at,
        max_trips=max_trips,
        shift=shift or VehicleType.shift,
        max_work_s=(round(max_work_h * 3600) if max_work_h is not None else VehicleType.max_work_s),
        breaks=breaks,
        max_distance_km=max_distance_km,
        range_km=range_km,
        fixed_cost=costs.get("fixed") or 0.0,
        cost_per_km=costs.get("per_km") or 0.0,
        cost_per_hour=costs.get("per_hour") or 0.0,
        emission_class=emission_class,
        feeds=feeds,
        emission_factor=emission_factor or None,
    )


def _site_ids(read: _Reader, raw: Any, path: str, site_kinds: Mapping[str, str]) -> tuple[str, ...]:
    if raw is None:
        return ()
    items = [raw] if isinstance(raw, str) else raw
    if not isinstance(items, list):
        read.fail(path, f"{raw!r} is not a list of site ids")
        return ()
    ids = []
    for index, item in enumerate(items):
        item_path = f"{path}[{index}]" if isinstance(raw, list) else path
        site_id = read.identifier(item, item_path)
        if site_id and site_id not in site_kinds:
            read.fail(item_path, f"{site_id!r} is not a site")
        elif site_id:
            ids.append(site_id)
    return tuple(ids)


def _break(read: _Reader, raw: Any, path: str, shift: Window) -> Break | None:
    """The driver's break; the model's defaults (Directive 2002/15/EC) for what is left out."""
    if raw is None:
        return Break()
    rules = read.mapping(raw, path, BREAK_KEYS)
    if rules is None:
        return None
    default = Break()
    at = read.clock(rules.get("at"), f"{path}.at")
    if at is not None and not shift.start < at < shift.end:
        read.fail(f"{path}.at", f"{rules['at']!r} is not inside the shift")
    after_h = read.number(rules.get("after_h"), f"{path}.after_h", above=0.0)
    short_min = read.number(rules.get("short_min"), f"{path}.short_min", minimum=0.0)
    long_after_h = read.number(rules.get("long_after_h"), f"{path}.long_after_h", above=0.0)
    long_min = read.number(rules.get("long_min"), f"{path}.long_min", minimum=0.0)
    rule = Break(
        after_s=round(after_h * 3600) if after_h is not None else default.after_s,
        short_s=round(short_min * 60) if short_min is not None else default.short_s,
        long_after_s=(
            round(long_after_h * 3600) if long_after_h is not None else default.long_after_s
        ),
        long_s=round(long_min * 60) if long_min is not None else default.long_s,
        at=at,
    )
    if rule.long_after_s < rule.after_s:
        read.fail(f"{path}.long_after_h", "must not be less than after_h")
    return rule


def _costs(read: _Reader, raw: Any, path: str) -> dict[str, float]:
    if raw is None:
        return {}
    costs = read.mapping(raw, path, COST_KEYS)
    if costs is None:
        return {}
    found = {key: read.number(costs.get(key), f"{path}.{key}", minimum=0.0) for key in COST_KEYS}
    return {key: value for key, value in found.items() if value is not None}


def _zone(read: _Reader, raw: Any, path: str, folder: Path | None) -> Zone | None:
    zone = read.mapping(raw, path, ZONE_KEYS)
    if zone is None:
        return None
    mistakes = read.errors.count
    zone_id = read.identifier(zone.get("id"), f"{path}.id")
    kind = read.choice(zone.get("kind"), f"{path}.kind", ZONE_KINDS)
    allowed: tuple[str, ...] = ()
    if kind == "low_emission":
        allowed = _classes(read, zone.get("allowed"), f"{path}.allowed")
    elif kind == "pedestrian" and zone.get("allowed") is not None:
        read.fail(f"{path}.allowed", "a pedestrian zone lets in bikes only; leave it out")
    hours = read.window(zone.get("hours"), f"{path}.hours")
    area = _area(read, zone.get("area"), f"{path}.area", folder)
    name = read.text(zone.get("name"), f"{path}.name")
    if read.errors.count != mistakes or kind is None or area is None:
        return None
    return Zone(
        id=zone_id,
        kind=kind,
        area=area,
        name=name,
        allowed=allowed,
        hours=hours,
    )


def _classes(read: _Reader, raw: Any, path: str) -> tuple[str, ...]:
    if not isinstance(raw, list):
        read.fail(path, "a list of the emission classes let in is required, e.g. [zero, euro6]")
        return ()
    return tuple(read.identifier(item, f"{path}[{i}]") for i, item in enumerate(raw))


def _area(
    read: _Reader, raw: Any, path: str, folder: Path | None
) -> shapely.Polygon | shapely.MultiPolygon | None:
    """A zone's area: GeoJSON written in the fleet file, or read from a file beside it."""
    if raw is None:
        read.fail(path, "a value is required (a GeoJSON Polygon, or a GeoJSON file's path)")
        return None
    where = path
    if isinstance(raw, str):
        if folder is None:  # not the server's files for whoever posts a fleet
            read.fail(path, "give the GeoJSON polygon itself here, not a file's path")
            return None
        file = folder / raw
        where = f"{path} ({raw})"
        try:
            raw = json.loads(read_text(file))
        except BadRequestData as error:
            read.fail(path, error.detail)
            return None
        except json.JSONDecodeError as error:
            read.fail(where, f"line {error.lineno}: not valid JSON ({error.msg})")
            return None
    polygons = []
    for part_where, geojson in _geometries(read, raw, where):
        polygon = _polygon(read, geojson, part_where)
        if polygon is not None:
            polygons.append(polygon)
    if not polygons:
        return None
    area = shapely.union_all(polygons)
    if not isinstance(area, shapely.Polygon | shapely.MultiPolygon) or area.is_empty:
        read.fail(where, "its polygons do not make an area")
        return None
    return area


def _geometries(read: _Reader, raw: Any, where: str) -> list[tuple[str, Any]]:
    """The polygon geometries of a GeoJSON geometry, Feature or FeatureCollection."""
    if not isinstance(raw, Mapping):
        read.fail(where, "must be a GeoJSON Polygon, Feature or FeatureCollection")
        return []
    if raw.get("type") == "FeatureCollection":
        features = raw.get("features")
        if not isinstance(features, list) or not features:
            read.fail(f"{where}.features", "a FeatureCollection needs a list of features")
            return []
        found = []
        for index, feature in enumerate(features):
            found.extend(_geometries(read, feature, f"{where}.features[{index}]"))
        return found
    if raw.get("type") == "Feature":
        return [(f"{where}.geometry", raw.get("geometry"))]
    return [(where, raw)]


def _polygon(
    read: _Reader, geojson: Any, where: str
) -> shapely.Polygon | shapely.MultiPolygon | None:
    if not isinstance(geojson, Mapping) or geojson.get("type") not in ("Polygon", "MultiPolygon"):
        kind = geojson.get("type") if isinstance(geojson, Mapping) else geojson
        read.fail(where, f"must be a GeoJSON Polygon or MultiPolygon, not {kind!r}")
        return None
    try:
        shape = shapely.geometry.shape(geojson)
    except (ValueError, TypeError, AttributeError, LookupError, shapely.errors.ShapelyError):
        read.fail(where, "is not valid GeoJSON (coordinates: rings of [lon, lat] points)")
        return None
    if not isinstance(shape, shapely.Polygon | shapely.MultiPolygon) or shape.is_empty:
        read.fail(where, "is an empty polygon")
        return None
    if not shape.is_valid:
        read.fail(where, f"is not a valid polygon ({shapely.is_valid_reason(shape)})")
        return None
    west, south, east, north = shape.bounds
    if west < -180 or east > 180 or south < -90 or north > 90:
        read.fail(where, "has points that are not [lon, lat] in degrees")
        return None
    return shape


# -- values -----------------------------------------------------------------------------------


class _Reader:
    """Reads values of the fleet document at a path; a wrong one is added to the file's errors
    as ``"<file>: <path>: <what is wrong>"`` and read as None, so reading goes on."""

    def __init__(self, file_name: str, errors: ErrorList) -> None:
        self.file_name = file_name
        self.errors = errors

    def fail(self, path: str, message: str) -> None:
        self.errors.add(f"{self.file_name}: {path or 'the file'}: {message}")

    def mapping(self, raw: Any, path: str, keys: Collection[str]) -> Mapping[str, Any] | None:
        """A mapping whose keys are all known ones; None when it is not a mapping."""
        if not isinstance(raw, Mapping):
            self.fail(path, f"must be a mapping (key: value lines), not {raw!r}")
            return None
        for key in raw:
            if key not in keys:
                close = difflib.get_close_matches(str(key), keys, n=1)
                hint = f"did you mean {close[0]!r}?" if close else f"known: {', '.join(keys)}"
                self.fail(f"{path}.{key}" if path else str(key), f"unknown key ({hint})")
        return raw

    def text(self, raw: Any, path: str) -> str:
        if raw is None:
            return ""
        if isinstance(raw, str | int | float) and not isinstance(raw, bool):
            return str(raw).strip()
        self.fail(path, f"{raw!r} is not text")
        return ""

    def identifier(self, raw: Any, path: str) -> str:
        """A required id: text, or a whole number written without quotes."""
        if raw is None or (isinstance(raw, str) and not raw.strip()):
            self.fail(path, "a value is required")
            return ""
        if not isinstance(raw, str | int) or isinstance(raw, bool):
            self.fail(path, f"{raw!r} is not an id (text)")
            return ""
        return str(raw).strip()

    def choice(self, raw: Any, path: str, choices: tuple[C, ...]) -> C | None:
        """One of ``choices`` (required)."""
        for choice in choices:
            if raw == choice:
                return choice
        listed = " | ".join(choices)
        if raw is None:
            self.fail(path, f"a value is required: {listed}")
        else:
            self.fail(path, f"{raw!r} is not one of {listed}")
        return None

    def number(
        self, raw: Any, path: str, minimum: float | None = None, above: float | None = None
    ) -> float | None:
        """A finite number (``minimum`` <= it, ``above`` < it); None when left out or wrong."""
        if raw is None:
            return None
        if isinstance(raw, bool) or not isinstance(raw, int | float):
            self.fail(path, f"{raw!r} is not a number")
            return None
        number = float(raw)
        if not math.isfinite(number):
            self.fail(path, f"{raw!r} is not a finite number")
            return None
        if minimum is not None and number < minimum:
            self.fail(path, f"{raw!r} cannot be less than {minimum:g}")
            return None
        if above is not None and number <= above:
            self.fail(path, f"{raw!r} must be more than {above:g}")
            return None
        return number

    def integer(self, raw: Any, path: str, minimum: int) -> int | None:
        if raw is None:
            return None
        if isinstance(raw, bool) or not isinstance(raw, int):
            self.fail(path, f"{raw!r} is not a whole number")
            return None
        if raw < minimum:
            self.fail(path, f"{raw!r} cannot be less than {minimum}")
            return None
        return raw

    def coordinate(self, raw: Any, path: str, limit: float, what: str) -> float | None:
        if raw is None:
            self.fail(path, "a value is required")
            return None
        number = self.number(raw, path)
        if number is not None and not -limit <= number <= limit:
            self.fail(path, f"{raw!r} is not a {what} (-{limit:g} to {limit:g})")
            return None
        return number

    def clock(self, raw: Any, path: str) -> int | None:
        if raw is None:
            return None
        if not isinstance(raw, str):
            self.fail(path, f"{raw!r} is not a time (HH:MM)")
            return None
        try:
            return parse_clock(raw)
        except BadRequestData as error:
            self.fail(path, error.detail)
            return None

    def window(self, raw: Any, path: str) -> Window | None:
        """``"08:30-17:00"``: opening hours, a shift; it must last more than an instant."""
        if raw is None:
            return None
        if not isinstance(raw, str):
            self.fail(path, f"{raw!r} is not a time window (HH:MM-HH:MM)")
            return None
        try:
            window = parse_window(raw)
        except BadRequestData as error:
            self.fail(path, error.detail)
            return None
        if window.end == window.start:
            self.fail(path, f"{raw!r} ends when it starts")
            return None
        return window
