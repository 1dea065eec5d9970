"""The map's background drawn from the city's own OSM extract, as small JSON tiles.

Roads come from the loaded city (``City.segments`` with their way tags); buildings, water, green
areas, rivers and the coastline are read once from the extract with osmium. Geometries are kept
in Web Mercator world units (0-1 on both axes) in one STRtree per layer, so a tile is: query the
tree, clip to the tile (with a margin, so strokes meet across tile edges), scale to tile units,
simplify by half a pixel and send the rings or lines as flat integer arrays. The browser draws
them on a canvas per tile. Small objects appear only from the zoom where they are visible
(buildings from 14, paths from 15), so a tile of the whole city stays small.

A tile is ``{"layers": {name: [[x0, y0, x1, y1, ...], ...]}}`` in units of 1/4 pixel
(``EXTENT`` per tile side); polygon rings are oriented so that the non-zero fill rule draws
holes (exteriors counter-clockwise, holes clockwise, in tile coordinates with y down).
"""

from __future__ import annotations

import math
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import osmium
import shapely
from osmium.filter import KeyFilter

from cetate.city.network import Segments
from cetate.errors import BadRequestData

TILE_PX = 256
EXTENT = 1024  # tile units per side: a quarter pixel
MARGIN_PX = 8  # drawn beyond the tile's edge, so wide roads join their neighbours
SIMPLIFY_PX = 0.5
MAX_ZOOM = 20
CACHED_TILES = 4096

# highway=* -> (road class, the zoom it appears at). Drawn in CLASS order, thinnest first.
ROAD_CLASSES: dict[str, tuple[str, int]] = {
    "motorway": ("major", 0), "motorway_link": ("major", 10),
    "trunk": ("major", 0), "trunk_link": ("major", 10),
    "primary": ("main", 8), "primary_link": ("main", 12),
    "secondary": ("main", 10), "secondary_link": ("main", 12),
    "tertiary": ("tertiary", 11), "tertiary_link": ("tertiary", 13),
    "residential": ("minor", 13), "unclassified": ("minor", 13), "living_street": ("minor", 13),
    "road": ("minor", 13), "service": ("service", 15),
    "pedestrian": ("path", 14), "footway": ("path", 15), "cycleway": ("path", 14),
    "path": ("path", 15), "steps": ("path", 16), "track": ("path", 15), "bridleway": ("path", 15),
}  # fmt: skip

WATER = {
    "natural": {"water", "bay"},
    "waterway": {"riverbank", "dock", "canal"},
    "landuse": {"reservoir", "basin"},
}
GREEN = {
    "leisure": {"park", "garden", "nature_reserve", "pitch", "playground", "golf_course"},
    "landuse": {"grass", "forest", "meadow", "recreation_ground", "cemetery", "village_green",
                "allotments", "orchard", "vineyard"},
    "natural": {"wood", "scrub", "grassland", "heath", "wetland"},
}  # fmt: skip
RIVERS = {"river", "stream", "canal", "drain", "ditch"}

# Layer -> the zoom it appears at; the order is the drawing order (the browser keeps it).
AREA_LAYERS = {"water": 0, "green": 10, "buildings": 14}
LINE_LAYERS = {"coast": 0, "rivers": 12}

Floats = npt.NDArray[np.float64]


@dataclass(frozen=True)
class _Layer:
    geometries: npt.NDArray[np.object_]  # shapely geometries in world units
    min_zoom: npt.NDArray[np.int64]  # per geometry
    tree: shapely.STRtree
    areas: bool


class Basemap:
    """The tiles of one city, made on demand and kept (the newest ``CACHED_TILES``)."""

    def __init__(self, layers: dict[str, tuple[list[Any], list[int], bool]]) -> None:
        self._layers: dict[str, _Layer] = {}
        for name, (geometries, zooms, areas) in layers.items():
            array = np.asarray(geometries, dtype=object)
            self._layers[name] = _Layer(
                array, np.asarray(zooms, dtype=np.int64), shapely.STRtree(array), areas
            )
        self._cache: OrderedDict[tuple[int, int, int], dict[str, Any]] = OrderedDict()
        self._lock = threading.Lock()

    @property
    def layer_names(self) -> list[str]:
        return list(self._layers)

    def tile(self, z: int, x: int, y: int) -> dict[str, Any]:
        if not (0 <= z <= MAX_ZOOM and 0 <= x < 2**z and 0 <= y < 2**z):
            raise BadRequestData(f"no tile {z}/{x}/{y}")
        key = (z, x, y)
        with self._lock:
            found = self._cache.get(key)
            if found is not None:
                self._cache.move_to_end(key)
                return found
        made = {"layers": self._make(z, x, y)}
        with self._lock:
            self._cache[key] = made
            if len(self._cache) > CACHED_TILES:
                self._cache.popitem(last=False)
        return made

    def _make(self, z: int, x: int, y: int) -> dict[str, list[list[int]]]:
        size = 1.0 / 2**z  # a tile's side in world units
        margin = size * MARGIN_PX / TILE_PX
        west, north = x * size, y * size
        box = (west - margin, north - margin, west + size + margin, north + size + margin)
        units = EXTENT / size
        out: dict[str, list[list[int]]] = {}
        for name, layer in self._layers.items():
            hits = layer.tree.query(shapely.box(*box))
            hits = hits[layer.min_zoom[hits] <= z]
            if len(hits) == 0:
                continue
            hits.sort()  # the same order on every tile: areas overlap the same way everywhere
            clipped = shapely.clip_by_rect(layer.geometries[hits], *box)
            local = shapely.transform(clipped, _to_tile(west, north, units))
            tolerance = SIMPLIFY_PX * EXTENT / TILE_PX
            simple = shapely.simplify(local, tolerance, preserve_topology=layer.areas)
            parts = _flat(simple, layer.areas)
            if parts:
                out[name] = parts
        return out


def _to_tile(west: float, north: float, units: float) -> Callable[[Floats], Floats]:
    offset = np.array([west, north])

    def transform(coords: Floats) -> Floats:
        moved: Floats = (coords - offset) * units
        return moved

    return transform


def _flat(geometries: npt.NDArray[np.object_], areas: bool) -> list[list[int]]:
    """Rings (areas) or lines as flat [x0, y0, x1, y1, ...] integer lists."""
    parts = shapely.get_parts(geometries[~shapely.is_empty(geometries)])
    if areas:
        parts = parts[shapely.get_type_id(parts) == 3]  # clipping may leave lines and points
        parts = parts[shapely.area(parts) >= 1.0]  # under a pixel's sixteenth: invisible
        if len(parts) == 0:
            return []
        # Tile y grows downwards: a ring counter-clockwise on the screen is clockwise in y-up
        # terms, so orienting exteriors "counter-clockwise" here gives non-zero fill its holes.
        parts = shapely.get_rings(shapely.orient_polygons(parts, exterior_cw=True))
    else:
        parts = parts[shapely.get_type_id(parts) == 1]
    if len(parts) == 0:
        return []
    coords, index = shapely.get_coordinates(parts, return_index=True)
    rounded = np.rint(coords).astype(np.int64)
    bounds = np.flatnonzero(np.diff(index)) + 1
    return [piece.ravel().tolist() for piece in np.split(rounded, bounds) if len(piece) >= 2]


# ---------------------------------------------------------------------------------------------
# Building a basemap


def world(lon: Floats, lat: Floats) -> tuple[Floats, Floats]:
    """Web Mercator world units (0-1, y down) of WGS84 degrees."""
    lat = np.clip(lat, -85.05112878, 85.05112878)
    x = (lon + 180.0) / 360.0
    y = (1.0 - np.arcsinh(np.tan(np.radians(lat))) / math.pi) / 2.0
    return x, y


def build_basemap(segments: Segments, extract: Path) -> Basemap:
    """The city's basemap: its roads from ``segments``, its areas and waters from ``extract``."""
    layers: dict[str, tuple[list[Any], list[int], bool]] = {}
    areas, lines = read_features(extract)
    for name in AREA_LAYERS:
        geometries = areas.get(name, [])
        layers[name] = (geometries, [AREA_LAYERS[name]] * len(geometries), True)
    for name in LINE_LAYERS:
        geometries = lines.get(name, [])
        layers[name] = (geometries, [LINE_LAYERS[name]] * len(geometries), False)
    for name, (geometries, zooms) in road_layers(segments).items():
        layers[f"road-{name}"] = (geometries, zooms, False)
    return Basemap(layers)


ROAD_ORDER = ("path", "service", "minor", "tertiary", "main", "major")


def road_layers(segments: Segments) -> dict[str, tuple[list[Any], list[int]]]:
    """Road segments in world units by class (``ROAD_ORDER``), each with its first zoom."""
    count = len(segments)
    if count == 0:
        return {}
    x, y = world(segments.coords[:, 0], segments.coords[:, 1])
    owner = np.repeat(np.arange(count), np.diff(segments.coord_offsets))
    lines = shapely.linestrings(np.column_stack([x, y]), indices=owner)
    found: dict[str, tuple[list[Any], list[int]]] = {name: ([], []) for name in ROAD_ORDER}
    for index in range(count):
        road = ROAD_CLASSES.get(segments.tags(index).get("highway", ""))
        if road is not None:
            found[road[0]][0].append(lines[index])
            found[road[0]][1].append(road[1])
    return found


def read_features(extract: Path) -> tuple[dict[str, list[Any]], dict[str, list[Any]]]:
    """Areas (water, green, buildings) and lines (coast, rivers) of an extract, world units."""
    if not extract.is_file():
        raise BadRequestData(f"{extract}: no such OSM extract")
    keys = ("building", "natural", "landuse", "leisure", "waterway", "water")
    processor = (
        osmium.FileProcessor(str(extract))
        .with_locations()
        .with_areas(KeyFilter(*keys))
        .with_filter(KeyFilter(*keys))
    )
    wkb = osmium.geom.WKBFactory()
    area_wkb: dict[str, list[str]] = {name: [] for name in AREA_LAYERS}
    line_coords: dict[str, list[list[tuple[float, float]]]] = {name: [] for name in LINE_LAYERS}
    try:
        for obj in processor:
            tags = obj.tags
            if isinstance(obj, osmium.osm.Area):
                kind = area_kind(tags)
                if kind is not None:
                    try:
                        area_wkb[kind].append(wkb.create_multipolygon(obj))
                    except RuntimeError:
                        continue  # an area without a usable ring
            elif isinstance(obj, osmium.osm.Way):
                kind = line_kind(tags)
                if kind is not None:
                    points = [(n.lon, n.lat) for n in obj.nodes if n.location.valid()]
                    if len(points) >= 2:
                        line_coords[kind].append(points)
    except RuntimeError as error:  # libosmium reports truncated or corrupt files this way
        raise BadRequestData(f"{extract}: not a readable OSM extract ({error})") from None
    areas = {name: _to_world(shapely.from_wkb(found, on_invalid="ignore"))
             for name, found in area_wkb.items()}  # fmt: skip
    lines = {
        name: _to_world(np.asarray([shapely.LineString(c) for c in found], dtype=object))
        for name, found in line_coords.items()
    }
    return areas, lines


def area_kind(tags: Any) -> str | None:
    if tags.get("building", "no") != "no":
        return "buildings"
    for kind, rules in (("water", WATER), ("green", GREEN)):
        if any(tags.get(key) in values for key, values in rules.items()):
            return kind
    if "water" in tags and tags.get("natural") != "wetland":
        return "water"
    return None


def line_kind(tags: Any) -> str | None:
    if tags.get("natural") == "coastline":
        return "coast"
    if tags.get("waterway") in RIVERS:
        return "rivers"
    return None


def _to_world(geometries: npt.NDArray[np.object_]) -> list[Any]:
    kept = geometries[~(shapely.is_missing(geometries) | shapely.is_empty(geometries))]
    if len(kept) == 0:
        return []

    def transform(coords: Floats) -> Floats:
        x, y = world(coords[:, 0], coords[:, 1])
        return np.column_stack([x, y])

    return list(shapely.transform(kept, transform))
