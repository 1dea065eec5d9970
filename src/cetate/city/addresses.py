"""The street addresses of an OSM extract: every node or building outline with a house number.

A logistics planner's orders come with addresses; these are the points the city knows them
at. An outline's point is a point on its surface (inside the building even when it is
U-shaped), computed from the way's node locations. Relations (multipolygon buildings) are rare
carriers of addresses and are not read.
"""

from __future__ import annotations

import os
import unicodedata
from dataclasses import dataclass
from pathlib import Path

import osmium
import shapely
from osmium.filter import KeyFilter

from cetate.errors import BadRequestData


@dataclass(frozen=True)
class Address:
    id: str  # node/123 or way/45
    street: str
    housenumber: str
    lon: float
    lat: float
    city: str = ""
    postcode: str = ""

    @property
    def label(self) -> str:
        place = " ".join(p for p in (self.postcode, self.city) if p)
        return f"{self.street} {self.housenumber}" + (f", {place}" if place else "")


def read_addresses(path: str | os.PathLike[str]) -> list[Address]:
    """Addresses with a street and a house number (``addr:place`` counts as the street in
    villages without street names), sorted by OSM type and id."""
    source = Path(path)
    if not source.is_file():
        raise BadRequestData(f"{source}: no such OSM extract")
    found: list[Address] = []
    try:
        processor = (
            osmium.FileProcessor(str(source))
            .with_locations()
            .with_filter(KeyFilter("addr:housenumber"))
        )
        for obj in processor:
            if not isinstance(obj, osmium.osm.Node | osmium.osm.Way):
                continue
            tags = obj.tags
            street = tags.get("addr:street") or tags.get("addr:place")
            number = tags.get("addr:housenumber")
            if not street or not number:
                continue
            if isinstance(obj, osmium.osm.Node):
                lon, lat = obj.location.lon, obj.location.lat
                kind = "node"
            else:
                point = _way_point(obj)
                if point is None:
                    continue
                lon, lat = point
                kind = "way"
            found.append(
                Address(
                    f"{kind}/{obj.id}",
                    street.strip(),
                    number.strip(),
                    float(lon),
                    float(lat),
                    (tags.get("addr:city") or "").strip(),
                    (tags.get("addr:postcode") or "").strip(),
                )
            )
    except RuntimeError as error:
        raise BadRequestData(f"{source}: not a readable OSM extract ({error})") from None
    found.sort(key=lambda a: (a.id.split("/")[0], int(a.id.split("/")[1])))
    return found


def _way_point(way: osmium.osm.Way) -> tuple[float, float] | None:
    coords = [(n.lon, n.lat) for n in way.nodes if n.location.valid()]
    if len(coords) < 3 or coords[0] != coords[-1]:
        return None  # an open way with a house number is a mapping slip, not a building
    polygon = shapely.Polygon(coords)
    point = polygon.point_on_surface() if polygon.is_valid else polygon.centroid
    return float(point.x), float(point.y)


def normalise(text: str) -> str:
    """For matching an address typed by a person: no diacritics, case or extra spaces
    ("Str. Republicii" and "strada republicii" still differ: abbreviations are the caller's)."""
    plain = unicodedata.normalize("NFKD", text)
    plain = "".join(c for c in plain if not unicodedata.combining(c))
    return " ".join(plain.casefold().split())
