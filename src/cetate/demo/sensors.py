"""The demo city's sensors, placed on the real city: car-park occupancy at OSM parking amenities,
traffic counters on main roads, street lights along lit roads, air-quality stations spread over
the town. Placement is deterministic (same extract, same sensors), so the CLI that publishes
them and the server that feeds them agree without storing anything else."""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, field
from statistics import NormalDist
from typing import Any

import numpy as np

from cetate.city.places import Place, entity_type
from cetate.city.profiles import DRIVE_SPEEDS_KMH, parse_maxspeed
from cetate.city.service import City

# Road classes that get a traffic counter, and their share of the fitted traffic profile
# (which peaks at 1,200 vehicles/h: a busy urban arterial).
COUNTED_CLASSES = {"trunk": 1.4, "primary": 1.0, "secondary": 0.6, "tertiary": 0.35}
LIT_CLASSES = frozenset(
    {"trunk", "primary", "secondary", "tertiary", "unclassified", "residential", "living_street"}
)
LIGHT_SPACING_M = 35.0  # typical for urban streets (EN 13201 layouts: 3.5-4 x mounting height)
MAX_LIGHTS = 6000
MAX_COUNTERS = 200
AIR_STATIONS = 4
# Car parks without an OSM capacity get one by kind; their entities say it is assumed.
ASSUMED_CAPACITY = {"OffStreetParking": 40, "OnStreetParking": 12}


@dataclass(frozen=True)
class Sensor:
    entity_id: str
    entity_type: str
    lon: float
    lat: float
    scale: float = 1.0  # per-sensor factor on its profile's level
    capacity: int = 0  # parking spaces; vehicles/h for a road
    free_speed_kmh: float = 0.0
    attributes: dict[str, Any] = field(default_factory=dict, hash=False)  # static ones


def demo_sensors(city: City, slug: str) -> list[Sensor]:
    sensors = parking_sensors(city.places, slug)
    sensors += traffic_counters(city, slug)
    sensors += street_lights(city, slug)
    sensors += air_stations(city, slug)
    return sensors


def parking_sensors(places: list[Place], slug: str) -> list[Sensor]:
    sensors = []
    for place in places:
        if place.kind != "parking":
            continue
        etype = entity_type(place)
        capacity_tag = place.tags.get("capacity", "")
        known = capacity_tag.isascii() and capacity_tag.isdigit() and int(capacity_tag) >= 1
        capacity = int(capacity_tag) if known else ASSUMED_CAPACITY[etype]
        entity_id = f"urn:ngsi-ld:{etype}:{slug}:{place.osm_type}-{place.osm_id}"
        attributes = {} if known else {"totalSpotNumber": capacity, "capacitySource": "assumed"}
        sensors.append(
            Sensor(
                entity_id, etype, place.lon, place.lat, _factor(entity_id, 0.35),
                capacity=capacity, attributes=attributes,
            )
        )  # fmt: skip
    return sensors


def traffic_counters(city: City, slug: str) -> list[Sensor]:
    """One counter per named main road, at the middle of its longest drivable segment."""
    if "drive" not in city.routers:
        return []
    network = city.routers["drive"].network
    segments = network.segments
    longest: dict[str, int] = {}
    for index in np.unique(network.arc_segment).tolist():
        tags = segments.tags(index)
        if tags.get("highway") not in COUNTED_CLASSES:
            continue
        road = tags.get("name") or tags.get("ref") or f"way {segments.way_ids[index]}"
        best = longest.get(road)
        if best is None or segments.length_m[index] > segments.length_m[best]:
            longest[road] = index
    chosen = sorted(longest.items(), key=lambda item: -float(segments.length_m[item[1]]))
    sensors = []
    for road, index in chosen[:MAX_COUNTERS]:
        tags = segments.tags(index)
        lon, lat = _middle(segments.geometry(index))
        segment_id = segments.segment_id(index)
        lanes = int(tags["lanes"]) if tags.get("lanes", "").isdigit() else 2
        free = parse_maxspeed(tags.get("maxspeed")) or DRIVE_SPEEDS_KMH[tags["highway"]]
        sensors.append(
            Sensor(
                entity_id=f"urn:ngsi-ld:TrafficFlowObserved:{slug}:{segment_id}",
                entity_type="TrafficFlowObserved",
                lon=lon,
                lat=lat,
                scale=COUNTED_CLASSES[tags["highway"]] * _factor(road, 0.15),
                capacity=900 * max(1, lanes),  # vehicles/h: ~900 per urban lane
                free_speed_kmh=free,
                attributes={
                    "name": road,
                    "refRoadSegment": f"urn:ngsi-ld:RoadSegment:{slug}:{segment_id}",
                    "laneId": 0,
                },
            )
        )
    return sensors


def street_lights(city: City, slug: str) -> list[Sensor]:
    """A light every ``LIGHT_SPACING_M`` along roads tagged ``lit=yes``."""
    segments = city.segments
    points: list[tuple[str, float, float, str]] = []
    for index in range(len(segments)):
        tags = segments.tags(index)
        if tags.get("lit") != "yes" or tags.get("highway") not in LIT_CLASSES:
            continue
        count = int(segments.length_m[index] // LIGHT_SPACING_M)
        if count == 0:
            continue
        coords = segments.geometry(index)
        for k, (lon, lat) in enumerate(_along(coords, count)):
            points.append((f"{segments.segment_id(index)}-{k}", lon, lat, tags.get("name", "")))
    if len(points) > MAX_LIGHTS:  # keep an even spread, not the first streets read
        keep = np.linspace(0, len(points) - 1, MAX_LIGHTS).round().astype(int)
        points = [points[i] for i in keep]
    return [
        Sensor(
            entity_id=f"urn:ngsi-ld:Streetlight:{slug}:{key}",
            entity_type="Streetlight",
            lon=lon,
            lat=lat,
            attributes={"address": {"streetAddress": street}} if street else {},
        )
        for key, lon, lat, street in points
    ]


def air_stations(city: City, slug: str) -> list[Sensor]:
    """Stations at schools, hospitals and the town hall, spread out by farthest-point picking
    (where a city would put a few monitors: where people are sensitive, far apart)."""
    hosts = [p for p in city.places if p.kind in ("school", "hospital", "town_hall")]
    if not hosts:
        return []
    chosen = [next((p for p in hosts if p.kind == "town_hall"), hosts[0])]
    while len(chosen) < min(AIR_STATIONS, len(hosts)):
        chosen.append(max(hosts, key=lambda p: min(_distance_m(p, c) for c in chosen)))
    return [
        Sensor(
            entity_id=f"urn:ngsi-ld:AirQualityObserved:{slug}:station-{n}",
            entity_type="AirQualityObserved",
            lon=place.lon,
            lat=place.lat,
            scale=_factor(place.id, 0.2),
            attributes={"name": f"Air quality station {n} ({place.name or place.kind})"},
        )
        for n, place in enumerate(chosen, start=1)
    ]


def _factor(key: str, spread: float) -> float:
    """A stable per-sensor factor, log-normal around 1: sensors differ, reproducibly."""
    digest = int(hashlib.sha256(key.encode()).hexdigest()[:12], 16) / float(16**12)
    normal = NormalDist().inv_cdf(min(max(digest, 1e-9), 1 - 1e-9))
    return math.exp(spread * normal)


def _middle(coords: np.ndarray[Any, Any]) -> tuple[float, float]:
    (point,) = _along(coords, 1)
    return point


def _along(coords: np.ndarray[Any, Any], count: int) -> list[tuple[float, float]]:
    """``count`` points evenly spaced along a polyline, at the middles of equal parts."""
    steps = np.hypot(np.diff(coords[:, 0]) * math.cos(math.radians(coords[0, 1])),
                     np.diff(coords[:, 1]))  # fmt: skip
    cumulative = np.concatenate(([0.0], np.cumsum(steps)))
    targets = (np.arange(count) + 0.5) / count * cumulative[-1]
    lon = np.interp(targets, cumulative, coords[:, 0])
    lat = np.interp(targets, cumulative, coords[:, 1])
    return [(float(x), float(y)) for x, y in zip(lon, lat, strict=True)]


def _distance_m(a: Place, b: Place) -> float:
    dx = (a.lon - b.lon) * 111_320 * math.cos(math.radians((a.lat + b.lat) / 2))
    dy = (a.lat - b.lat) * 110_540
    return math.hypot(dx, dy)
