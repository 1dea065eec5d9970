"""The road network summarised as hub entities (Smart Data Models, dataModel.Transportation):
one ``RoadSegment`` per drivable segment of the main classes, and one ``Road`` per named road
(or ``ref``) joining them. Minor streets stay in the routing graph only: tens of thousands of
service roads as entities would drown the operations map and tell an operator nothing."""

from __future__ import annotations

import unicodedata
from typing import Any

import numpy as np

from cetate.city.network import Network
from cetate.city.profiles import parse_maxspeed

MAIN_CLASSES = frozenset(
    {
        "motorway", "motorway_link", "trunk", "trunk_link", "primary", "primary_link",
        "secondary", "secondary_link", "tertiary", "tertiary_link",
    }
)  # fmt: skip


def road_entities(network: Network, city_slug: str) -> list[dict[str, Any]]:
    """``RoadSegment`` and ``Road`` documents (normalized NGSI-LD) for the main roads that
    ``network`` (normally the drive network) uses."""
    segments = network.segments
    used = np.unique(network.arc_segment)
    oneway = np.bincount(network.arc_segment, minlength=len(segments)) == 1
    roads: dict[str, dict[str, Any]] = {}
    documents: list[dict[str, Any]] = []
    for index in used.tolist():
        tags = segments.tags(index)
        road_class = tags.get("highway", "")
        if road_class not in MAIN_CLASSES:
            continue
        segment_id = segments.segment_id(index)
        name = tags.get("name") or tags.get("ref") or f"{road_class} {segments.way_ids[index]}"
        road_key = _slug(tags.get("ref") or name)
        road_id = f"urn:ngsi-ld:Road:{city_slug}:{road_key}"
        length_m = round(float(segments.length_m[index]), 1)
        coordinates = [[round(x, 7), round(y, 7)] for x, y in segments.geometry(index).tolist()]
        document: dict[str, Any] = {
            "id": f"urn:ngsi-ld:RoadSegment:{city_slug}:{segment_id}",
            "type": "RoadSegment",
            "name": _property(name),
            "refRoad": {"type": "Relationship", "object": road_id},
            "length": _property(length_m),
            "category": _property(_categories(tags, bool(oneway[index]))),
            "segmentId": _property(segment_id),
            "source": _property(f"https://www.openstreetmap.org/way/{segments.way_ids[index]}"),
            "location": {
                "type": "GeoProperty",
                "value": {"type": "LineString", "coordinates": coordinates},
            },
        }
        speed = parse_maxspeed(tags.get("maxspeed"))
        if speed is not None:
            document["maximumAllowedSpeed"] = _property(speed)
        lanes = tags.get("lanes", "")
        if lanes.isdigit():
            document["totalLaneNumber"] = _property(int(lanes))
        documents.append(document)
        road = roads.setdefault(
            road_id,
            {"id": road_id, "type": "Road", "name": name, "roadClass": road_class, "length": 0.0},
        )
        road["length"] += length_m
    for road in roads.values():
        documents.append(
            {
                "id": road["id"],
                "type": "Road",
                "name": _property(road["name"]),
                "roadClass": _property(road["roadClass"]),
                "length": _property(round(road["length"], 1)),
            }
        )
    return documents


def _categories(tags: dict[str, str], oneway: bool) -> list[str]:
    found = ["oneway" if oneway else "twoway"]
    if tags.get("highway", "").endswith("_link"):
        found.append("link")
    for flag in ("bridge", "tunnel", "lit"):
        if tags.get(flag, "no") not in ("no", "none"):
            found.append(flag)
    return found


def _property(value: Any) -> dict[str, Any]:
    return {"type": "Property", "value": value}


def _slug(text: str) -> str:
    """ASCII, lower case, dashes: ``Bulevardul Gării`` -> ``bulevardul-garii``."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    kept = "".join(c if c.isalnum() else "-" for c in ascii_text.strip().lower())
    return "-".join(part for part in kept.split("-") if part) or "unnamed"
