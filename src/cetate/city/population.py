"""Where people live: population grids read from files or estimated from OSM buildings.

A population is a list of ``PopulationCell``: a point (the cell's centre), a population and,
when known, the cell's polygon in WGS84.

Reading (``read_population_grid``): CSV with columns ``lon,lat,<population>`` or
``wkt,<population>`` (comma, semicolon or tab separated; column names in any case), or GeoJSON
(a FeatureCollection of Point, Polygon or MultiPolygon features with a numeric
``<population>`` property). The population column/property is ``population`` unless told
otherwise. A bad row stops the whole read with ``BadRequestData`` naming the file and the line
(CSV) or feature (GeoJSON): a file is used whole or not at all.

Estimating (``estimate_from_buildings``), a dasymetric estimate from OSM alone:

    residents of a building = footprint area x levels / floor area per person

* Residential buildings (``RESIDENTIAL_BUILDINGS``): the closed ways and multipolygons tagged
  ``building=`` residential, apartments, house, detached, semidetached_house, terrace,
  dormitory or bungalow; and ``building=yes`` whose footprint centroid lies inside a
  ``landuse=residential`` area and that carries none of the tags of ``NON_RESIDENTIAL_KEYS``
  (``amenity``, ``shop``, ``office``, ...: a school or a shop in a housing estate). The
  ``building`` value is matched exactly (``yes;apartments`` is not matched). Nodes tagged as
  buildings have no footprint and are not counted; neither are footprints below
  ``min_footprint_m2`` (20 m2 by default: sheds and garages mapped as ``building=yes``).
* Levels: ``building:levels`` when it is a number in (0, 100] (for a list such as ``4;5``, the
  largest); otherwise ``DEFAULT_LEVELS`` by building type. ``roof:levels`` and underground
  levels are not counted.
* Floor area per person: ``DEFAULT_FLOOR_AREA_PER_PERSON_M2`` = 35 m2 of gross floor area
  (footprint x levels, walls and stairs included) per resident. This is an assumption, not a
  measured constant: dwelling floor area per person varies widely between countries, so pass
  the figure of your city, or keep the default and calibrate the total with
  ``scale_to_total`` (the grid then only contributes the spatial distribution).
* Areas are computed in the UTM zone (WGS84) of the centre of the residential buildings' extent,
  and each building is counted whole in the square cell of ``cell_size_m`` (aligned on that
  zone's metre grid) holding its footprint's centroid. Only cells with residents are returned.

NGSI-LD: we found no population-grid type among the Smart Data Models subjects (PointOfInterest,
Building, Environment and the like describe places and sensors, not residents), so
``population_to_entities`` makes entities of type ``PopulationCell``, Cetate's own type:
attributes ``population`` (Property, number of residents) and ``location`` (GeoProperty, the
cell polygon, or its centre point).
"""

from __future__ import annotations

import csv
import io
import math
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Final

import numpy as np
import orjson
import osmium
import pyproj
import shapely
from osmium.filter import TagFilter

from cetate.city.places import representative_point
from cetate.errors import BadRequestData

RESIDENTIAL_BUILDINGS: Final = frozenset(
    {
        "residential",
        "apartments",
        "house",
        "detached",
        "semidetached_house",
        "terrace",
        "dormitory",
        "bungalow",
    }
)
# building=yes with any of these keys is not counted as housing, even in a residential area.
NON_RESIDENTIAL_KEYS: Final = frozenset(
    {
        "amenity",
        "shop",
        "office",
        "craft",
        "tourism",
        "leisure",
        "healthcare",
        "industrial",
        "man_made",
        "military",
        "power",
        "public_transport",
        "railway",
        "aeroway",
    }
)
# Levels above ground when building:levels is absent or unusable (assumptions; configurable).
DEFAULT_LEVELS: Final[Mapping[str, float]] = {
    "apartments": 4.0,  # blocks of flats
    "dormitory": 4.0,
    "residential": 2.0,  # the generic tag: used for houses and small blocks alike
    "terrace": 2.0,
    "semidetached_house": 2.0,
    "house": 1.5,  # one storey plus an attic
    "detached": 1.5,
    "bungalow": 1.0,
    "yes": 1.5,  # building=yes inside landuse=residential: mostly houses
}
DEFAULT_FLOOR_AREA_PER_PERSON_M2: Final = 35.0
DEFAULT_MIN_FOOTPRINT_M2: Final = 20.0
MAX_LEVELS: Final = 100.0

_SLUG = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
_NUMBER = re.compile(r"^\d+(?:[.,]\d+)?$")


@dataclass(frozen=True)
class PopulationCell:
    """Residents of one cell: its centre (WGS84 degrees), the number of residents (a float:
    estimates and scaled counts are fractional) and its polygon in WGS84 when known."""

    lon: float
    lat: float
    population: float
    polygon: Any = None  # shapely Polygon or MultiPolygon, lon/lat


# --- reading grids -------------------------------------------------------------------------------


def read_population_grid(
    path: str | os.PathLike[str], *, population_field: str = "population"
) -> list[PopulationCell]:
    """The cells of a CSV (``.csv``, ``.tsv``, ``.txt``) or GeoJSON (``.geojson``, ``.json``)
    population file; formats in the module docstring.

    Raises ``BadRequestData`` naming the file (and the line or feature) when the file is
    missing, of an unknown kind, empty, or has a row without a usable location or population.
    """
    source = Path(path)
    try:
        raw = source.read_bytes()
    except OSError as error:
        raise BadRequestData(f"{source}: cannot read: {error.strerror}") from None
    suffix = source.suffix.lower()
    if suffix in {".csv", ".tsv", ".txt"}:
        cells = _read_csv(source, raw, population_field)
    elif suffix in {".geojson", ".json"}:
        cells = _read_geojson(source, raw, population_field)
    else:
        raise BadRequestData(
            f"{source}: unknown population file kind {suffix or '(no extension)'}; "
            "use .csv (lon,lat or wkt columns) or .geojson"
        )
    if not cells:
        raise BadRequestData(f"{source}: no population cells in the file")
    return cells


def _read_csv(source: Path, raw: bytes, field_name: str) -> list[PopulationCell]:
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise BadRequestData(f"{source}: not UTF-8 text ({error.reason})") from None
    header_line = text.split("\n", 1)[0]
    delimiter = max(",;\t", key=header_line.count)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    header = next(reader, None)
    if header is None:
        raise BadRequestData(f"{source}: empty file")
    columns = {name.strip().lower(): k for k, name in enumerate(header)}
    wanted = field_name.lower()
    if wanted not in columns:
        raise BadRequestData(
            f"{source}: line 1: no {field_name!r} column (columns: {', '.join(header)})"
        )
    use_wkt = "wkt" in columns
    if not use_wkt and not {"lon", "lat"} <= columns.keys():
        raise BadRequestData(
            f"{source}: line 1: need lon and lat columns or a wkt column (columns: "
            f"{', '.join(header)})"
        )
    width = max(columns.values()) + 1
    cells: list[PopulationCell] = []
    for row in reader:
        where = f"{source}: line {reader.line_num}"
        if not any(value.strip() for value in row):
            continue  # blank line
        if len(row) < width:
            raise BadRequestData(f"{where}: {len(row)} fields, the header has {len(header)}")
        population = _population(row[columns[wanted]], where, field_name)
        if use_wkt:
            geometry = _wkt(row[columns["wkt"]], where)
            cells.append(_cell_from_geometry(geometry, population, where))
        else:
            lon = _coordinate(row[columns["lon"]], where, "lon", 180.0)
            lat = _coordinate(row[columns["lat"]], where, "lat", 90.0)
            cells.append(PopulationCell(lon, lat, population))
    return cells


def _population(value: Any, where: str, field_name: str) -> float:
    if isinstance(value, str):
        text = value.strip()
        try:
            number = float(text)
        except ValueError:
            raise BadRequestData(f"{where}: {field_name} {text!r} is not a number") from None
    elif isinstance(value, int | float) and not isinstance(value, bool):
        number = float(value)
    else:
        raise BadRequestData(f"{where}: {field_name} must be a number, got {value!r}")
    if not math.isfinite(number) or number < 0:
        raise BadRequestData(f"{where}: {field_name} {number} is not a count (finite, >= 0)")
    return number


def _coordinate(text: str, where: str, name: str, limit: float) -> float:
    try:
        value = float(text.strip())
    except ValueError:
        raise BadRequestData(f"{where}: {name} {text.strip()!r} is not a number") from None
    if not -limit <= value <= limit:
        raise BadRequestData(f"{where}: {name} {value} is outside [-{limit:g}, {limit:g}]")
    return value


def _wkt(text: str, where: str) -> Any:
    try:
        return shapely.from_wkt(text.strip())
    except shapely.errors.GEOSException as error:
        raise BadRequestData(f"{where}: wkt is not valid WKT ({error})") from None


def _cell_from_geometry(geometry: Any, population: float, where: str) -> PopulationCell:
    kind = geometry.geom_type if geometry is not None else "nothing"
    if kind not in {"Point", "Polygon", "MultiPolygon"} or geometry.is_empty:
        raise BadRequestData(f"{where}: geometry must be a Point, Polygon or MultiPolygon")
    min_lon, min_lat, max_lon, max_lat = geometry.bounds
    if not (-180 <= min_lon <= max_lon <= 180 and -90 <= min_lat <= max_lat <= 90):
        raise BadRequestData(f"{where}: coordinates are not WGS84 lon/lat degrees")
    if kind == "Point":
        return PopulationCell(float(geometry.x), float(geometry.y), population)
    if not geometry.is_valid:
        raise BadRequestData(f"{where}: invalid polygon ({shapely.is_valid_reason(geometry)})")
    lon, lat = representative_point(geometry)
    return PopulationCell(lon, lat, population, geometry)


def _read_geojson(source: Path, raw: bytes, field_name: str) -> list[PopulationCell]:
    try:
        document = orjson.loads(raw)
    except orjson.JSONDecodeError as error:
        raise BadRequestData(f"{source}: not valid JSON: {error}") from None
    if not isinstance(document, dict) or document.get("type") != "FeatureCollection":
        raise BadRequestData(f"{source}: expected a GeoJSON FeatureCollection")
    features = document.get("features")
    if not isinstance(features, list):
        raise BadRequestData(f"{source}: a FeatureCollection needs a features array")
    cells: list[PopulationCell] = []
    for position, feature in enumerate(features, start=1):
        where = f"{source}: feature #{position}"
        if isinstance(feature, dict) and feature.get("id") is not None:
            where += f" (id {feature['id']})"
        if not isinstance(feature, dict) or feature.get("type") != "Feature":
            raise BadRequestData(f"{where}: not a GeoJSON Feature")
        properties = feature.get("properties") or {}
        if not isinstance(properties, dict) or field_name not in properties:
            raise BadRequestData(f"{where}: no {field_name!r} property")
        value = properties[field_name]
        if isinstance(value, str):  # "123" in JSON is text; say so rather than guess
            raise BadRequestData(f"{where}: {field_name} must be a JSON number, got {value!r}")
        population = _population(value, where, field_name)
        raw_geometry = feature.get("geometry")
        if not isinstance(raw_geometry, dict):
            raise BadRequestData(f"{where}: no geometry")
        try:
            geometry = shapely.geometry.shape(raw_geometry)
        except (KeyError, TypeError, ValueError, AttributeError, IndexError) as error:
            raise BadRequestData(f"{where}: bad geometry ({error})") from None
        except shapely.errors.GEOSException as error:
            raise BadRequestData(f"{where}: bad geometry ({error})") from None
        cells.append(_cell_from_geometry(geometry, population, where))
    return cells


# --- estimating from buildings -------------------------------------------------------------------


def building_levels(value: str | None, default: float) -> float:
    """The levels of a ``building:levels`` value when it is a usable number (for a list, the
    largest), else ``default``."""
    values: list[float] = []
    for part in (value or "").split(";"):
        text = part.strip()
        if not _NUMBER.match(text):
            return default
        values.append(float(text.replace(",", ".")))
    level = max(values, default=0.0)
    return level if 0.0 < level <= MAX_LEVELS else default


def estimate_from_buildings(
    path: str | os.PathLike[str],
    cell_size_m: float = 250.0,
    *,
    floor_area_per_person_m2: float = DEFAULT_FLOOR_AREA_PER_PERSON_M2,
    default_levels: Mapping[str, float] | None = None,
    min_footprint_m2: float = DEFAULT_MIN_FOOTPRINT_M2,
) -> list[PopulationCell]:
    """Residents per square cell estimated from the residential buildings of an OSM extract.

    The rules are in the module docstring; ``default_levels`` overrides entries of
    ``DEFAULT_LEVELS``. Cells are ordered south to north, then west to east. An extract without
    residential buildings gives an empty list. Raises ``BadRequestData`` naming the file when it
    is missing or not a readable OSM extract, and for parameters out of range.
    """
    if not (math.isfinite(cell_size_m) and cell_size_m > 0):
        raise BadRequestData(f"cell_size_m must be a positive number of metres, not {cell_size_m}")
    if not (math.isfinite(floor_area_per_person_m2) and floor_area_per_person_m2 > 0):
        raise BadRequestData(
            f"floor_area_per_person_m2 must be positive, not {floor_area_per_person_m2}"
        )
    if not (math.isfinite(min_footprint_m2) and min_footprint_m2 >= 0):
        raise BadRequestData(f"min_footprint_m2 must be >= 0, not {min_footprint_m2}")
    levels_by_type = dict(DEFAULT_LEVELS)
    levels_by_type.update(default_levels or {})
    for name, value in levels_by_type.items():
        if not (math.isfinite(value) and 0 < value <= MAX_LEVELS):
            raise BadRequestData(f"default levels for building={name} must be in (0, 100]")
    footprints, levels = _residential_footprints(Path(path), levels_by_type)
    if not footprints:
        return []
    min_lon, min_lat, max_lon, max_lat = shapely.total_bounds(footprints)
    to_metres, to_degrees = _utm_transformers((min_lon + max_lon) / 2, (min_lat + max_lat) / 2)
    projected = shapely.transform(np.asarray(footprints, dtype=object), _apply(to_metres))
    areas = shapely.area(projected)
    centres = shapely.get_coordinates(shapely.centroid(projected))
    keep = areas >= min_footprint_m2
    residents = areas[keep] * np.asarray(levels)[keep] / floor_area_per_person_m2
    cells_xy = np.floor(centres[keep] / cell_size_m).astype(np.int64)
    totals: dict[tuple[int, int], float] = {}
    for (ix, iy), value in zip(cells_xy.tolist(), residents.tolist(), strict=True):
        totals[(ix, iy)] = totals.get((ix, iy), 0.0) + value
    return [
        _grid_cell(ix, iy, cell_size_m, population, to_degrees)
        for (ix, iy), population in sorted(totals.items(), key=lambda item: item[0][::-1])
        if population > 0
    ]


def _residential_footprints(
    source: Path, levels_by_type: Mapping[str, float]
) -> tuple[list[Any], list[float]]:
    """WGS84 footprints of the residential buildings and their levels (rules: module doc)."""
    if not source.is_file():
        raise BadRequestData(f"{source}: no such OSM extract")
    pairs = sorted({("building", b) for b in RESIDENTIAL_BUILDINGS | {"yes"}})
    pairs.append(("landuse", "residential"))
    processor = (
        osmium.FileProcessor(str(source))
        .with_areas(TagFilter(*pairs))
        .with_filter(osmium.filter.EntityFilter(osmium.osm.AREA))
        .with_filter(TagFilter(*pairs))
    )
    wkb = osmium.geom.WKBFactory()
    found: list[tuple[str, float, str | None]] = []  # (role, levels, WKB in hex) per area
    try:
        for area in processor:
            if not isinstance(area, osmium.osm.Area):
                continue
            tags = area.tags
            building = tags.get("building")
            levels_text = tags.get("building:levels")
            if tags.get("landuse") == "residential":
                found.append(("land", 0.0, _wkb(wkb, area)))
            if building in RESIDENTIAL_BUILDINGS:
                level = building_levels(levels_text, levels_by_type[building])
                found.append(("typed", level, _wkb(wkb, area)))
            elif building == "yes" and not any(key in tags for key in NON_RESIDENTIAL_KEYS):
                level = building_levels(levels_text, levels_by_type["yes"])
                found.append(("unsure", level, _wkb(wkb, area)))
    except RuntimeError as error:  # libosmium reports truncated or corrupt files so
        raise BadRequestData(f"{source}: not a readable OSM extract ({error})") from None
    polygons = shapely.from_wkb([hex_wkb for _, _, hex_wkb in found], on_invalid="ignore")
    typed: list[tuple[Any, float]] = []  # residential by their building tag
    unsure: list[tuple[Any, float]] = []  # building=yes: residential inside landuse=residential
    residential_land: list[Any] = []
    for (role, level, _), polygon in zip(found, polygons.tolist(), strict=True):
        if polygon is None or polygon.is_empty:
            continue
        if role == "land":
            residential_land.append(polygon)
        else:
            (typed if role == "typed" else unsure).append((polygon, level))
    footprints = [polygon for polygon, _ in typed]
    levels = [level for _, level in typed]
    if unsure and residential_land:
        tree = shapely.STRtree(residential_land)
        centroids = shapely.centroid(np.asarray([polygon for polygon, _ in unsure], dtype=object))
        inside = np.unique(tree.query(centroids, predicate="within")[0])
        for k in inside.tolist():
            footprints.append(unsure[k][0])
            levels.append(unsure[k][1])
    return footprints, levels


def _wkb(factory: osmium.geom.WKBFactory, area: osmium.osm.Area) -> str | None:
    try:
        return factory.create_multipolygon(area)
    except RuntimeError:
        return None  # an area without a usable ring: skipped


def _utm_transformers(lon: float, lat: float) -> tuple[pyproj.Transformer, pyproj.Transformer]:
    zone = min(int((lon + 180.0) // 6.0) + 1, 60)
    epsg = (32600 if lat >= 0 else 32700) + zone
    to_metres = pyproj.Transformer.from_crs(4326, epsg, always_xy=True)
    to_degrees = pyproj.Transformer.from_crs(epsg, 4326, always_xy=True)
    return to_metres, to_degrees


def _apply(transformer: pyproj.Transformer) -> Any:
    def transform(coords: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
        x, y = transformer.transform(coords[:, 0], coords[:, 1])
        return np.column_stack([x, y])

    return transform


def _grid_cell(
    ix: int, iy: int, size: float, population: float, to_degrees: pyproj.Transformer
) -> PopulationCell:
    x0, y0 = ix * size, iy * size
    square = shapely.box(x0, y0, x0 + size, y0 + size)
    polygon = shapely.transform(square, _apply(to_degrees))
    lon, lat = to_degrees.transform(x0 + size / 2, y0 + size / 2)
    return PopulationCell(float(lon), float(lat), population, polygon)


# --- calibration and entities -------------------------------------------------------------------


def scale_to_total(cells: Iterable[PopulationCell], total: float) -> list[PopulationCell]:
    """The cells with every population multiplied by one factor so that they sum to ``total``
    (a known city population): keeps the distribution, fixes the level."""
    cells = list(cells)
    if not (math.isfinite(total) and total >= 0):
        raise BadRequestData(f"total population must be a finite number >= 0, not {total}")
    current = math.fsum(cell.population for cell in cells)
    if current <= 0:
        if total == 0:
            return cells
        raise BadRequestData(f"cannot scale to {total}: the cells hold no population")
    factor = total / current
    return [replace(cell, population=cell.population * factor) for cell in cells]


def population_to_entities(cells: Iterable[PopulationCell], city_slug: str) -> list[dict[str, Any]]:
    """NGSI-LD entities (normalized) of type ``PopulationCell`` (Cetate's own type: see the
    module docstring), ids ``urn:ngsi-ld:PopulationCell:{city_slug}:{lon}_{lat}`` from the
    cell centre at 5 decimals (about 1 m), so re-estimating the same grid updates the same
    entities. ``population`` is rounded to 0.1."""
    if not _SLUG.match(city_slug):
        raise BadRequestData(
            f"city slug {city_slug!r} must be letters, digits, '.', '_' or '-' (e.g. 'brasov')"
        )
    entities: list[dict[str, Any]] = []
    seen: set[str] = set()
    for cell in cells:
        entity_id = f"urn:ngsi-ld:PopulationCell:{city_slug}:{cell.lon:.5f}_{cell.lat:.5f}"
        if entity_id in seen:
            raise BadRequestData(f"two cells are centred at lon {cell.lon}, lat {cell.lat}")
        seen.add(entity_id)
        if cell.polygon is not None:
            rounded = shapely.transform(cell.polygon, lambda xy: np.round(xy, 7))
            geometry = orjson.loads(orjson.dumps(shapely.geometry.mapping(rounded)))
        else:
            geometry = {"type": "Point", "coordinates": [round(cell.lon, 7), round(cell.lat, 7)]}
        entities.append(
            {
                "id": entity_id,
                "type": "PopulationCell",
                "population": {"type": "Property", "value": round(cell.population, 1)},
                "location": {"type": "GeoProperty", "value": geometry},
            }
        )
    return entities
