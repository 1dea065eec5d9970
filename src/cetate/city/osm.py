"""Read the roads of an OSM extract (PBF or XML): highway ways with their node locations, and
turn restrictions. Nothing here knows about modes or speeds; see ``profiles`` and ``network``."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import osmium

from cetate.errors import BadRequestData

# Tags a road needs later (profiles, entities). Keeping only these makes the extract small.
KEPT_TAGS = frozenset(
    {
        "highway", "name", "ref", "oneway", "junction", "maxspeed", "access", "motor_vehicle",
        "motorcar", "vehicle", "bicycle", "foot", "oneway:bicycle", "cycleway", "cycleway:left",
        "cycleway:right", "cycleway:both", "sidewalk", "lit", "lanes", "area", "tracktype",
        "bridge", "tunnel", "surface",
    }
)  # fmt: skip


@dataclass(frozen=True)
class OsmWay:
    id: int
    tags: dict[str, str]
    nodes: tuple[int, ...]


@dataclass(frozen=True)
class TurnRestriction:
    """A relation type=restriction with a node as its ``via`` (via-way restrictions are counted
    in ``RoadExtract.unsupported_restrictions`` and not applied)."""

    id: int
    kind: str  # no_left_turn, only_straight_on, ...
    from_way: int
    via_node: int
    to_way: int


@dataclass(frozen=True)
class RoadExtract:
    path: Path
    sha256: str
    ways: list[OsmWay]
    locations: dict[int, tuple[float, float]]  # node id -> (lon, lat)
    restrictions: list[TurnRestriction]
    unsupported_restrictions: int


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def read_roads(path: Path) -> RoadExtract:
    """All ``highway=*`` ways of the extract and the drive turn restrictions among them.

    Raises ``BadRequestData`` naming the file for a missing, unreadable or truncated file and
    for an extract without roads.
    """
    if not path.is_file():
        raise BadRequestData(f"{path}: no such OSM extract")
    ways: list[OsmWay] = []
    locations: dict[int, tuple[float, float]] = {}
    restrictions: list[TurnRestriction] = []
    unsupported = 0
    processor = (
        osmium.FileProcessor(str(path))
        .with_locations()
        .with_filter(osmium.filter.KeyFilter("highway", "type"))
    )
    try:
        for obj in processor:
            if isinstance(obj, osmium.osm.Way):
                tags = obj.tags
                if "highway" not in tags or tags.get("area") == "yes":
                    continue
                refs = []
                for node in obj.nodes:
                    if not node.location.valid():
                        continue  # a node outside the cut of the extract
                    locations[node.ref] = (node.lon, node.lat)
                    refs.append(node.ref)
                if len(refs) >= 2:
                    kept = {k: v for k, v in tags if k in KEPT_TAGS}
                    ways.append(OsmWay(obj.id, kept, tuple(refs)))
            elif isinstance(obj, osmium.osm.Relation) and obj.tags.get("type") == "restriction":
                restriction = _restriction(obj)
                if restriction is None:
                    unsupported += 1
                else:
                    restrictions.append(restriction)
    except RuntimeError as error:  # libosmium reports truncated or corrupt files this way
        raise BadRequestData(f"{path}: not a readable OSM extract ({error})") from None
    if not ways:
        raise BadRequestData(f"{path}: the extract has no roads (no highway=* ways)")
    return RoadExtract(path, file_sha256(path), ways, locations, restrictions, unsupported)


def _restriction(relation: osmium.osm.Relation) -> TurnRestriction | None:
    tags = relation.tags
    kind = tags.get("restriction:motorcar") or tags.get("restriction")
    if kind is None or not kind.startswith(("no_", "only_")):
        return None
    if "motorcar" in (tags.get("except") or "").split(";"):
        return None
    from_way = to_way = via_node = None
    for member in relation.members:
        if member.role == "from" and member.type == "w":
            from_way = member.ref
        elif member.role == "to" and member.type == "w":
            to_way = member.ref
        elif member.role == "via":
            if member.type != "n":
                return None  # via a way: not applied (counted by the caller)
            via_node = member.ref
    if from_way is None or to_way is None or via_node is None:
        return None
    return TurnRestriction(relation.id, kind, from_way, via_node, to_way)
