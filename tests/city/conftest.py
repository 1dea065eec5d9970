"""Fixtures of the street-network tests: the real extracts, the cities loaded from them once per
session (into a temporary graph cache), and small helpers to place points on the network and to
write tiny OSM XML files whose answer is known."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from xml.sax.saxutils import quoteattr

import numpy as np
import pytest
import shapely

from cetate.city.osm import RoadExtract, read_roads
from cetate.city.router import Router


@pytest.fixture(scope="session")
def brasov_extract(brasov_pbf: Path) -> RoadExtract:
    return read_roads(brasov_pbf)


@pytest.fixture(scope="session")
def helsinki_extract(helsinki_pbf: Path) -> RoadExtract:
    return read_roads(helsinki_pbf)


# --- points on the network -----------------------------------------------------------------------

PointOn = Callable[[Router, int, float], np.ndarray]


def point_on(router: Router, segment: int, fraction: float) -> np.ndarray:
    """(lon, lat) of the point ``fraction`` of the way along ``segment`` (node order, metres)."""
    line = router.index.lines[int(np.searchsorted(router.index.segment_ids, segment))]
    point = router.index.projection.to_lonlat(
        shapely.line_interpolate_point(line, fraction, normalized=True)
    )
    return np.array([shapely.get_x(point), shapely.get_y(point)])


@pytest.fixture(scope="session")
def on_segment() -> PointOn:
    return point_on


RandomPoints = Callable[[Router, int, np.random.Generator, float], np.ndarray]


def random_points(
    router: Router, count: int, rng: np.random.Generator, offset_m: float = 60.0
) -> np.ndarray:
    """``count`` (lon, lat) points near the mode's roads: a random segment (long ones more
    often), a random place along it, then up to ``offset_m`` off in a random direction."""
    ids = router.index.segment_ids
    lengths = router.network.segments.length_m[ids]
    chosen = rng.choice(len(ids), size=count, p=lengths / lengths.sum())
    lines = router.index.lines[chosen]
    on = shapely.line_interpolate_point(lines, rng.random(count), normalized=True)
    angle = rng.random(count) * 2 * np.pi
    radius = rng.random(count) * offset_m
    xy = (
        shapely.get_coordinates(on)
        + np.column_stack((np.cos(angle), np.sin(angle))) * radius[:, None]
    )
    lonlat = router.index.projection.to_lonlat(shapely.points(xy))
    return np.column_stack((shapely.get_x(lonlat), shapely.get_y(lonlat)))


@pytest.fixture(scope="session")
def near_roads() -> RandomPoints:
    return random_points


# --- a tiny OSM XML writer -----------------------------------------------------------------------


class OsmXml:
    """Builds an OSM XML file. Nodes are placed on a grid of about 100 m (``at(x, y)``), ways
    and relations refer to them by id; ids are given in creation order from 1."""

    STEP = 0.001  # degrees of latitude (~111 m); longitude steps are scaled to match

    def __init__(self, lon: float = 25.60, lat: float = 45.65) -> None:
        self.lon, self.lat = lon, lat
        self.nodes: dict[tuple[int, int], int] = {}
        self.lines: list[str] = []
        self.way_count = 0
        self.relation_count = 0

    def at(self, x: int, y: int) -> int:
        """The node at grid position (x, y), created on first use."""
        if (x, y) not in self.nodes:
            ident = len(self.nodes) + 1
            lon = self.lon + x * self.STEP / np.cos(np.radians(self.lat))
            lat = self.lat + y * self.STEP
            self.nodes[(x, y)] = ident
            self.lines.append(f'<node id="{ident}" version="1" lon="{lon:.7f}" lat="{lat:.7f}"/>')
        return self.nodes[(x, y)]

    def lonlat(self, x: float, y: float) -> np.ndarray:
        return np.array(
            [self.lon + x * self.STEP / np.cos(np.radians(self.lat)), self.lat + y * self.STEP]
        )

    @staticmethod
    def _tags(tags: dict[str, str]) -> str:
        return "".join(f"<tag k={quoteattr(k)} v={quoteattr(v)}/>" for k, v in tags.items())

    def way(self, points: list[tuple[int, int]], **tags: str) -> int:
        self.way_count += 1
        refs = "".join(f'<nd ref="{self.at(x, y)}"/>' for x, y in points)
        self.lines.append(f'<way id="{self.way_count}" version="1">{refs}{self._tags(tags)}</way>')
        return self.way_count

    def restriction(self, kind: str, from_way: int, via: tuple[int, int], to_way: int) -> int:
        self.relation_count += 1
        members = (
            f'<member type="way" ref="{from_way}" role="from"/>'
            f'<member type="node" ref="{self.at(*via)}" role="via"/>'
            f'<member type="way" ref="{to_way}" role="to"/>'
        )
        tags = self._tags({"type": "restriction", "restriction": kind})
        self.lines.append(
            f'<relation id="{self.relation_count}" version="1">{members}{tags}</relation>'
        )
        return self.relation_count

    def write(self, path: Path) -> Path:
        # Nodes first, then ways, then relations, as OSM files are sorted.
        nodes = [line for line in self.lines if line.startswith("<node")]
        ways = [line for line in self.lines if line.startswith("<way")]
        relations = [line for line in self.lines if line.startswith("<relation")]
        body = "\n".join(nodes + ways + relations)
        path.write_text(
            f'<?xml version="1.0" encoding="UTF-8"?>\n<osm version="0.6" generator="test">\n'
            f"{body}\n</osm>\n",
            encoding="utf-8",
        )
        return path


@pytest.fixture
def osm_xml() -> type[OsmXml]:
    return OsmXml
