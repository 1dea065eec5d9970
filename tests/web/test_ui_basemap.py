"""The basemap drawn from the city's OSM extract: what a tile holds at each zoom, and its API."""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import shapely
from fastapi.testclient import TestClient

from cetate.city.service import City
from cetate.hub.service import Hub
from cetate.web.app import create_app
from cetate.web.ui.basemap import EXTENT, Basemap, area_kind, build_basemap, read_features, world

STATION = (24.9414, 60.1710)  # Helsinki central station, inside the extract


def tile_at(lon: float, lat: float, z: int) -> tuple[int, int, int]:
    x, y = world(np.array([lon]), np.array([lat]))
    return z, int(x[0] * 2**z), int(y[0] * 2**z)


@pytest.fixture(scope="module")
def basemap(helsinki: City, helsinki_pbf: Path) -> Basemap:
    return build_basemap(helsinki.segments, helsinki_pbf)


def test_the_extract_gives_buildings_water_and_green(helsinki_pbf: Path) -> None:
    areas, lines = read_features(helsinki_pbf)
    assert len(areas["buildings"]) > 300
    assert len(areas["green"]) > 50  # parks, grass, scrub
    assert len(areas["water"]) >= 5
    assert len(lines["coast"]) >= 1  # central Helsinki is on the sea
    for geometry in areas["buildings"][:50]:  # world units: inside the unit square
        west, south, east, north = geometry.bounds
        assert 0 < west <= east < 1 and 0 < south <= north < 1


@pytest.mark.parametrize(
    ("tags", "kind"),
    [
        ({"building": "yes"}, "buildings"),
        ({"building": "no", "leisure": "park"}, "green"),
        ({"natural": "water", "water": "pond"}, "water"),
        ({"landuse": "basin"}, "water"),
        ({"natural": "wetland", "water": "marsh"}, "green"),  # wet, but land
        ({"landuse": "commercial"}, None),
    ],
)
def test_area_kinds(tags: dict[str, str], kind: str | None) -> None:
    assert area_kind(tags) == kind


def test_a_street_tile_has_roads_by_class_and_buildings(basemap: Basemap) -> None:
    layers = basemap.tile(*tile_at(*STATION, 16))["layers"]
    assert {"buildings", "road-minor", "road-main", "road-path"} <= set(layers)
    margin = EXTENT * 8 // 256
    for name, parts in layers.items():
        for flat in parts:
            assert len(flat) >= 4 and len(flat) % 2 == 0, name
            assert all(-margin - 1 <= v <= EXTENT + margin + 1 for v in flat), name


def shoelace(flat: list[int]) -> float:
    x, y = np.array(flat[0::2], float), np.array(flat[1::2], float)
    return float(np.sum(x[:-1] * y[1:] - x[1:] * y[:-1]))


def test_rings_are_oriented_for_the_nonzero_fill() -> None:
    """Exteriors one way, holes the other, whatever way the source drew them."""
    outer = [(0.2, 0.2), (0.2, 0.8), (0.8, 0.8), (0.8, 0.2)]  # clockwise in y-up terms
    inner = [(0.4, 0.4), (0.6, 0.4), (0.6, 0.6), (0.4, 0.6)]  # counter-clockwise
    courtyard = shapely.Polygon(outer, [inner])
    basemap = Basemap({"buildings": ([courtyard], [0], True)})
    rings = basemap.tile(0, 0, 0)["layers"]["buildings"]
    assert len(rings) == 2
    exterior, hole = (shoelace(flat) for flat in rings)
    # y grows downwards: counter-clockwise on the screen is a negative shoelace sum
    assert exterior < 0 < hole
    assert abs(exterior) / 2 == pytest.approx(0.36 * EXTENT**2, rel=0.01)  # its area


def test_small_things_wait_for_their_zoom(basemap: Basemap) -> None:
    near = basemap.tile(*tile_at(*STATION, 16))["layers"]
    city = basemap.tile(*tile_at(*STATION, 12))["layers"]
    assert "buildings" in near and "buildings" not in city
    assert "road-path" in near and "road-path" not in city
    assert "road-main" in city
    far = basemap.tile(*tile_at(*STATION, 9))["layers"]
    points = sum(len(flat) for parts in far.values() for flat in parts)
    detail = sum(len(flat) for parts in near.values() for flat in parts)
    assert points < detail  # simplified: a whole district in fewer points than one street


def test_a_tile_outside_the_city_is_empty_and_bad_tiles_are_refused(basemap: Basemap) -> None:
    assert basemap.tile(*tile_at(-70.0, -30.0, 14)) == {"layers": {}}
    for z, x, y in ((-1, 0, 0), (3, 8, 0), (3, 0, -1), (21, 0, 0)):
        with pytest.raises(Exception, match="no tile"):
            basemap.tile(z, x, y)
    assert basemap.tile(*tile_at(*STATION, 15)) is basemap.tile(*tile_at(*STATION, 15))


def test_world_units_are_web_mercator() -> None:
    x, y = world(np.array([0.0, -180.0, 180.0]), np.array([0.0, 0.0, 0.0]))
    assert list(x) == [0.5, 0.0, 1.0] and list(y) == [0.5, 0.5, 0.5]
    _, y = world(np.array([0.0]), np.array([85.05112878]))
    assert y[0] == pytest.approx(0.0, abs=1e-9)
    assert math.isclose(world(np.array([0.0]), np.array([-60.0]))[1][0],
                        1 - world(np.array([0.0]), np.array([60.0]))[1][0])  # fmt: skip


@pytest.fixture
def client(hub: Hub, helsinki: City) -> Iterator[TestClient]:
    with TestClient(create_app(hub.settings, hub, helsinki)) as test_client:
        yield test_client


def test_tiles_over_http(client: TestClient) -> None:
    z, x, y = tile_at(*STATION, 15)
    response = client.get(f"/ui/basemap/{z}/{x}/{y}.json")
    assert response.status_code == 200
    assert "max-age" in response.headers["cache-control"]
    assert "buildings" in response.json()["layers"]
    assert client.get("/ui/basemap/3/9/0.json").status_code == 400
    city = client.get("/ui/config").json()["city"]
    west, south, east, north = city["bounds"]
    assert west < STATION[0] < east and south < STATION[1] < north
