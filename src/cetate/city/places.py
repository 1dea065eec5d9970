"""Places of interest of a city from an OSM extract (PBF or XML), and their NGSI-LD entities.

A *place* is one point per real-world facility: a node as mapped, the centroid of a closed way or
multipolygon (or a point on its surface when the centroid falls outside, as for a U-shaped
building), or the middle of an open way (a linear bus platform). Relations other than
multipolygons (``type=site`` and the like) have no geometry without resolving their members and
are not read.

Which OSM tags make which kind (``PLACE_RULES``; all tags of a rule must match). An OSM object is
one place: the first matching rule in this order wins, so an object tagged both
``amenity=hospital`` and ``emergency=ambulance_station`` is a hospital, and a bus stop node that
also carries the (private) charger of electric buses is a bus stop:

| kind              | OSM tags                                                         |
|-------------------|------------------------------------------------------------------|
| hospital          | ``amenity=hospital`` or ``healthcare=hospital``                  |
| ambulance_station | ``emergency=ambulance_station``                                  |
| fire_station      | ``amenity=fire_station``                                         |
| police            | ``amenity=police``                                               |
| town_hall         | ``amenity=townhall`` (any ``townhall:type``)                     |
| school            | ``amenity=school``                                               |
| pharmacy          | ``amenity=pharmacy`` or ``healthcare=pharmacy``                  |
| bus_stop          | ``highway=bus_stop``, or ``public_transport=platform`` with      |
|                   | ``bus=yes`` (tram and train platforms are not bus stops);        |
|                   | ``public_transport=stop_position`` (the spot on the road) is not |
|                   | read, so a stop mapped as platform + stop position counts once   |
| charging_station  | ``amenity=charging_station`` (*)                                 |
| fuel              | ``amenity=fuel`` (*)                                             |
| parking           | ``amenity=parking`` (*); ``amenity=parking_space`` (one bay) is  |
|                   | not a parking                                                    |

(*) The facilities whose point is public use: those tagged ``access=private`` or ``access=no``
are left out unless ``include_private=True`` (a residents' car park is not a car park for the
city; a school with ``access=private`` grounds is still a school, so other kinds keep them).

Duplicates. A facility is often mapped twice: a node with the name plus the building or site
outline carrying the same tags, or a hospital site with tagged pavilions inside it. Within one
kind, a place whose point lies inside the polygon of a *larger* place of that kind is merged
into it (larger = greater polygon area, ties broken by OSM type then id,
so the rule is deterministic). The outermost place is kept with its own point, id and tags; if it
has no name it takes the name of what was merged into it. One exception keeps distinct places
apart: when an unnamed outline contains places with two or more different names (a campus of
named hospitals), the named places are kept (one per name) and the unnamed outline is dropped.
Places that merely lie close to each other (two bus stops of one name on either side of a road)
are never merged.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import osmium
import shapely
from osmium.filter import TagFilter

from cetate.errors import BadRequestData

PLACE_KINDS: Final = (
    "hospital",
    "ambulance_station",
    "fire_station",
    "police",
    "town_hall",
    "school",
    "pharmacy",
    "bus_stop",
    "charging_station",
    "fuel",
    "parking",
)


@dataclass(frozen=True)
class PlaceRule:
    """``kind`` applies to an object carrying every tag of ``tags``."""

    kind: str
    tags: tuple[tuple[str, str], ...]

    def matches(self, tags: Mapping[str, str]) -> bool:
        return all(tags.get(key) == value for key, value in self.tags)


PLACE_RULES: Final = (
    PlaceRule("hospital", (("amenity", "hospital"),)),
    PlaceRule("hospital", (("healthcare", "hospital"),)),
    PlaceRule("ambulance_station", (("emergency", "ambulance_station"),)),
    PlaceRule("fire_station", (("amenity", "fire_station"),)),
    PlaceRule("police", (("amenity", "police"),)),
    PlaceRule("town_hall", (("amenity", "townhall"),)),
    PlaceRule("school", (("amenity", "school"),)),
    PlaceRule("pharmacy", (("amenity", "pharmacy"),)),
    PlaceRule("pharmacy", (("healthcare", "pharmacy"),)),
    PlaceRule("bus_stop", (("highway", "bus_stop"),)),
    PlaceRule("bus_stop", (("public_transport", "platform"), ("bus", "yes"))),
    PlaceRule("charging_station", (("amenity", "charging_station"),)),
    PlaceRule("fuel", (("amenity", "fuel"),)),
    PlaceRule("parking", (("amenity", "parking"),)),
)

# Kinds left out when tagged access=private|no (see the module docstring).
PUBLIC_USE_KINDS: Final = frozenset({"parking", "fuel", "charging_station"})
PRIVATE_ACCESS: Final = frozenset({"private", "no"})

# amenity=parking with one of these parking=* values is beside or on the carriageway.
ON_STREET_PARKING: Final = frozenset({"street_side", "lane", "on_kerb", "half_on_kerb", "shoulder"})

_TYPE_RANK: Final = {"node": 0, "way": 1, "relation": 2}
_SLUG = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


@dataclass(frozen=True)
class Place:
    """One facility. ``id`` is the OSM object it comes from (``node/123``, ``way/45``,
    ``relation/6``); ``lon``/``lat`` in WGS84 degrees; ``tags`` are the object's OSM tags."""

    id: str
    kind: str
    name: str | None
    lon: float
    lat: float
    tags: dict[str, str] = field(default_factory=dict, hash=False)

    @property
    def osm_type(self) -> str:
        return self.id.split("/", 1)[0]

    @property
    def osm_id(self) -> int:
        return int(self.id.split("/", 1)[1])


@dataclass
class _Candidate:
    """A place before duplicates are merged: with its polygon (None for nodes and open ways)."""

    osm_type: str
    osm_id: int
    kind: str
    tags: dict[str, str]
    lon: float
    lat: float
    polygon: Any = None  # shapely (Multi)Polygon in lon/lat
    area: float = 0.0  # square degrees: only compared within one city

    @property
    def name(self) -> str | None:
        name = self.tags.get("name", "").strip()
        return name or None

    def size_key(self) -> tuple[float, int, int]:
        """Larger first: area, then node < way < relation, then the lower id."""
        return (self.area, -_TYPE_RANK[self.osm_type], -self.osm_id)

    def place(self, name: str | None) -> Place:
        return Place(
            f"{self.osm_type}/{self.osm_id}", self.kind, name, self.lon, self.lat, self.tags
        )


def place_kind(tags: Mapping[str, str], *, include_private: bool = False) -> str | None:
    """The kind of an object with these OSM tags, or None (rules in ``PLACE_RULES``)."""
    private = not include_private and tags.get("access") in PRIVATE_ACCESS
    for rule in PLACE_RULES:
        if rule.matches(tags) and not (private and rule.kind in PUBLIC_USE_KINDS):
            return rule.kind
    return None


def read_places(
    path: str | os.PathLike[str],
    *,
    kinds: Iterable[str] | None = None,
    include_private: bool = False,
) -> list[Place]:
    """The places of an OSM extract, duplicates merged, sorted by kind then OSM type and id.

    ``kinds`` restricts the result (default: every kind of ``PLACE_KINDS``). Raises
    ``BadRequestData`` naming the file when it is missing, truncated or not OSM data; nothing is
    returned from a file that fails part way.
    """
    source = Path(path)
    wanted = _check_kinds(kinds)
    if not source.is_file():
        raise BadRequestData(f"{source}: no such OSM extract")
    first_tags = {rule.tags[0] for rule in PLACE_RULES if rule.kind in wanted}
    prefilter = TagFilter(*sorted(first_tags))
    processor = (
        osmium.FileProcessor(str(source))
        .with_areas(TagFilter(*sorted(first_tags)))
        .with_filter(prefilter)
    )
    wkb = osmium.geom.WKBFactory()
    nodes: list[_Candidate] = []
    ways: dict[int, _Candidate] = {}  # from the way's nodes: used when no area is built
    areas: dict[tuple[str, int], _Candidate] = {}
    try:
        for obj in processor:
            tags = {tag.k: tag.v for tag in obj.tags}
            kind = place_kind(tags, include_private=include_private)
            if kind is None or kind not in wanted:
                continue
            if isinstance(obj, osmium.osm.Node):
                if obj.location.valid():
                    nodes.append(_Candidate("node", obj.id, kind, tags, obj.lon, obj.lat))
            elif isinstance(obj, osmium.osm.Way):
                candidate = _way_candidate(obj, kind, tags)
                if candidate is not None:
                    ways[obj.id] = candidate
            elif isinstance(obj, osmium.osm.Area):
                candidate = _area_candidate(obj, kind, tags, wkb)
                if candidate is not None:
                    areas[(candidate.osm_type, candidate.osm_id)] = candidate
    except RuntimeError as error:  # libosmium reports missing, truncated or corrupt files so
        raise BadRequestData(f"{source}: not a readable OSM extract ({error})") from None
    candidates = nodes + list(areas.values())
    candidates += [c for way_id, c in ways.items() if ("way", way_id) not in areas]
    places = _merge_duplicates(candidates)
    places.sort(key=lambda p: (PLACE_KINDS.index(p.kind), _TYPE_RANK[p.osm_type], p.osm_id))
    return places


def _check_kinds(kinds: Iterable[str] | None) -> frozenset[str]:
    if kinds is None:
        return frozenset(PLACE_KINDS)
    wanted = frozenset(kinds)
    unknown = sorted(wanted - set(PLACE_KINDS))
    if unknown:
        raise BadRequestData(
            f"unknown place kind(s) {', '.join(unknown)}; known: {', '.join(PLACE_KINDS)}"
        )
    return wanted


def representative_point(geometry: Any) -> tuple[float, float]:
    """The centroid, or a point on the surface when the centroid falls outside."""
    point = shapely.centroid(geometry)
    if not shapely.contains(geometry, point):
        point = shapely.point_on_surface(geometry)
    return float(point.x), float(point.y)


def _way_candidate(way: osmium.osm.Way, kind: str, tags: dict[str, str]) -> _Candidate | None:
    """An open way's middle point; for a closed way the centroid of its ring (only used when the
    area assembler builds no polygon for it, e.g. a ring cut by the extract boundary)."""
    coords = [(n.lon, n.lat) for n in way.nodes if n.location.valid()]
    if not coords:
        return None
    if len(coords) == 1:
        lon, lat = coords[0]
    elif way.is_closed() and len(coords) >= 4:
        ring = shapely.Polygon(coords)
        if ring.is_valid and ring.area > 0:
            lon, lat = representative_point(ring)
        else:
            lon, lat = _middle(coords)
    else:
        lon, lat = _middle(coords)
    return _Candidate("way", way.id, kind, tags, lon, lat)


def _middle(coords: Sequence[tuple[float, float]]) -> tuple[float, float]:
    point = shapely.LineString(coords).interpolate(0.5, normalized=True)
    return float(point.x), float(point.y)


def _area_candidate(
    area: osmium.osm.Area, kind: str, tags: dict[str, str], wkb: osmium.geom.WKBFactory
) -> _Candidate | None:
    osm_type = "way" if area.from_way() else "relation"
    try:
        polygon = shapely.from_wkb(wkb.create_multipolygon(area))
    except (RuntimeError, shapely.errors.GEOSException):
        return None  # no valid ring: the way's own fallback point is used
    if polygon.is_empty:
        return None
    if len(polygon.geoms) == 1:
        polygon = polygon.geoms[0]
    lon, lat = representative_point(polygon)
    return _Candidate(osm_type, area.orig_id(), kind, tags, lon, lat, polygon, polygon.area)


def _merge_duplicates(candidates: Sequence[_Candidate]) -> list[Place]:
    """Merge places lying inside a larger place of the same kind (rules: module docstring)."""
    places: list[Place] = []
    by_kind: dict[str, list[_Candidate]] = {}
    for candidate in candidates:
        by_kind.setdefault(candidate.kind, []).append(candidate)
    for group in by_kind.values():
        places.extend(_merge_kind(group))
    return places


def _merge_kind(group: list[_Candidate]) -> list[Place]:
    outlines = [i for i, c in enumerate(group) if c.polygon is not None]
    if not outlines:
        return [c.place(c.name) for c in group]
    tree = shapely.STRtree([group[i].polygon for i in outlines])
    points = shapely.points([(c.lon, c.lat) for c in group])
    inside, container = tree.query(points, predicate="within")
    parent: dict[int, int] = {}  # place -> the largest larger outline holding its point
    for i, t in zip(inside.tolist(), container.tolist(), strict=True):
        j = outlines[t]
        if i == j or group[j].size_key() <= group[i].size_key():
            continue
        if i not in parent or group[j].size_key() > group[parent[i]].size_key():
            parent[i] = j
    members: dict[int, list[int]] = {}
    for i in range(len(group)):
        root = i
        while root in parent:  # sizes strictly grow along the chain: no cycle
            root = parent[root]
        if root != i:
            members.setdefault(root, []).append(i)
    result: list[Place] = []
    for i, candidate in enumerate(group):
        if i in parent:
            continue
        inner = sorted(members.get(i, []), key=lambda m: group[m].size_key(), reverse=True)
        if candidate.name is not None or not inner:
            result.append(candidate.place(candidate.name))
            continue
        named: dict[str, _Candidate] = {}
        for m in inner:
            name = group[m].name
            if name is not None:
                named.setdefault(name.casefold(), group[m])
        if len(named) <= 1:
            name = next(iter(named.values())).name if named else None
            result.append(candidate.place(name))
        else:  # an unnamed outline around distinct named places: keep those instead
            result.extend(c.place(c.name) for c in named.values())
    return result


# --- NGSI-LD ------------------------------------------------------------------------------------


def entity_type(place: Place) -> str:
    """The Smart Data Models type of a place's entity."""
    if place.kind == "parking":
        if place.tags.get("parking") in ON_STREET_PARKING:
            return "OnStreetParking"
        return "OffStreetParking"
    return "PointOfInterest"


def places_to_entities(places: Iterable[Place], city_slug: str) -> list[dict[str, Any]]:
    """NGSI-LD entities (normalized, no @context: use the Smart Data Models one) for places.

    * ``PointOfInterest`` (dataModel.PointOfInterest) for every kind but parking, with
      ``category`` = [kind]: Cetate's kind names, not the Factual codes the model suggests.
      Bus stops are PointOfInterest too: ``GtfsStop`` describes a stop of a GTFS feed (with
      ``stop_code``, zone and an agency's id), which an OSM bus stop is not.
    * ``OffStreetParking`` (dataModel.Parking), or ``OnStreetParking`` for ``parking=``
      street_side|lane|on_kerb|half_on_kerb|shoulder, with ``totalSpotNumber`` from OSM
      ``capacity`` when it is a whole number >= 1 and ``category``/``layout`` from the
      ``parking``, ``access`` and ``fee`` tags where the model's enumerations have a match.

    Every entity has ``location`` (GeoProperty Point), ``source`` (the OSM object's URL) and
    ``dataProvider`` (OSM data are © OpenStreetMap contributors, ODbL); ``name`` only when the
    OSM object has one (nothing is made up, although PointOfInterest lists ``name`` as required).
    Ids are ``urn:ngsi-ld:{Type}:{city_slug}:{osm_type}-{osm_id}``.
    """
    if not _SLUG.match(city_slug):
        raise BadRequestData(
            f"city slug {city_slug!r} must be letters, digits, '.', '_' or '-' (e.g. 'brasov')"
        )
    entities: list[dict[str, Any]] = []
    seen: set[str] = set()
    for place in places:
        etype = entity_type(place)
        entity_id = f"urn:ngsi-ld:{etype}:{city_slug}:{place.osm_type}-{place.osm_id}"
        if entity_id in seen:
            raise BadRequestData(f"place {place.id} appears twice")
        seen.add(entity_id)
        entity: dict[str, Any] = {"id": entity_id, "type": etype}
        if place.name is not None:
            entity["name"] = _property(place.name)
        if etype == "PointOfInterest":
            entity["category"] = _property([place.kind])
        else:
            _parking_attributes(entity, place.tags, etype)
        entity["location"] = {
            "type": "GeoProperty",
            "value": {"type": "Point", "coordinates": [round(place.lon, 7), round(place.lat, 7)]},
        }
        entity["source"] = _property(f"https://www.openstreetmap.org/{place.id}")
        entity["dataProvider"] = _property("OpenStreetMap contributors")
        entities.append(entity)
    return entities


def _property(value: Any) -> dict[str, Any]:
    return {"type": "Property", "value": value}


def _parking_attributes(entity: dict[str, Any], tags: Mapping[str, str], etype: str) -> None:
    capacity = tags.get("capacity", "").strip()
    if capacity.isascii() and capacity.isdigit() and int(capacity) >= 1:
        entity["totalSpotNumber"] = _property(int(capacity))
    category: list[str] = []
    layout: list[str] = []
    if etype == "OffStreetParking":
        category += {
            "underground": ["underground"],
            "multi-storey": ["parkingGarage"],
            "surface": ["parkingLot"],
        }.get(tags.get("parking", ""), [])
        layout += {
            "surface": ["surface"],
            "multi-storey": ["multiStorey"],
            "carports": ["carports"],
            "garage_boxes": ["garageBoxes"],
            "rooftop": ["rooftop"],
        }.get(tags.get("parking", ""), [])
        category += {
            "yes": ["public"],
            "permissive": ["public"],
            "customers": ["forCustomers"],
            "private": ["private"],
        }.get(tags.get("access", ""), [])
    category += {"yes": ["feeCharged"], "no": ["free"]}.get(tags.get("fee", ""), [])
    if category:
        entity["category"] = _property(category)
    if layout:
        entity["layout"] = _property(layout)
