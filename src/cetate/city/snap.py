"""Snapping arbitrary points to a network's segments, in a local metric projection."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pyproj
import shapely

from cetate.city.network import Floats, Ints, Network, Segments
from cetate.errors import BadRequestData

DEFAULT_MAX_SNAP_M = 1000.0


class Projection:
    """A transverse Mercator centred on the city: metres, distortion < 0.01 % across 20 km."""

    def __init__(self, lon: float, lat: float) -> None:
        local = pyproj.CRS.from_proj4(
            f"+proj=tmerc +lat_0={lat:.6f} +lon_0={lon:.6f} +k=1 +x_0=0 +y_0=0 "
            "+ellps=WGS84 +units=m"
        )
        self.forward = pyproj.Transformer.from_crs("EPSG:4326", local, always_xy=True)
        self.inverse = pyproj.Transformer.from_crs(local, "EPSG:4326", always_xy=True)

    def to_metres(self, lonlat: Floats) -> Floats:
        x, y = self.forward.transform(lonlat[:, 0], lonlat[:, 1])
        return np.column_stack((x, y))

    def to_lonlat(self, geometry: shapely.Geometry) -> shapely.Geometry:
        return shapely.transform(geometry, self._inverse_xy)

    def _inverse_xy(self, xy: Floats) -> Floats:
        lon, lat = self.inverse.transform(xy[:, 0], xy[:, 1])
        return np.column_stack((lon, lat))


@dataclass(frozen=True)
class Snap:
    """Where a point meets the network: a segment and the fraction along it (node order)."""

    segment: int
    fraction: float
    distance_m: float
    lon: float
    lat: float


class SnapIndex:
    """An R-tree of the segments a network uses, in metres."""

    def __init__(self, network: Network, max_snap_m: float = DEFAULT_MAX_SNAP_M) -> None:
        segments = network.segments
        self.mode = network.profile.mode
        self.max_snap_m = max_snap_m
        self.projection = Projection(
            float(np.median(segments.node_lon)), float(np.median(segments.node_lat))
        )
        self.segment_ids: Ints = np.unique(network.arc_segment)
        self.lines = segment_lines(segments, self.segment_ids, self.projection)
        self.tree = shapely.STRtree(self.lines)

    def snap(self, lonlat: Floats, blocked: frozenset[int] = frozenset()) -> list[Snap]:
        """The nearest usable segment of each point; a point farther than ``max_snap_m`` from
        every road of the mode is a ``BadRequestData`` naming it."""
        check_points(lonlat)
        points = shapely.points(self.projection.to_metres(lonlat))
        (which, found), distances = self.tree.query_nearest(points, return_distance=True)
        nearest = np.full(len(points), -1, dtype=np.int64)
        distance = np.full(len(points), np.inf)
        # Ties give several rows per point; any of them will do.
        nearest[which] = found
        distance[which] = distances
        snaps = []
        for i, point in enumerate(points):
            line_index = int(nearest[i])
            if blocked and int(self.segment_ids[line_index]) in blocked:
                line_index, distance[i] = self._nearest_open(point, blocked)
            if distance[i] > self.max_snap_m:
                lon, lat = lonlat[i]
                raise BadRequestData(
                    f"point ({lon:.6f}, {lat:.6f}) is {distance[i]:.0f} m from the nearest road "
                    f"usable by mode {self.mode!r} (the limit is {self.max_snap_m:.0f} m)"
                )
            line = self.lines[line_index]
            fraction = float(shapely.line_locate_point(line, point, normalized=True))
            on_line = shapely.line_interpolate_point(line, fraction, normalized=True)
            lonlat_on = self.projection.to_lonlat(on_line)
            snaps.append(
                Snap(
                    segment=int(self.segment_ids[line_index]),
                    fraction=fraction,
                    distance_m=float(distance[i]),
                    lon=float(shapely.get_x(lonlat_on)),
                    lat=float(shapely.get_y(lonlat_on)),
                )
            )
        return snaps

    def _nearest_open(self, point: shapely.Point, blocked: frozenset[int]) -> tuple[int, float]:
        candidates = self.tree.query(point, predicate="dwithin", distance=self.max_snap_m)
        best, best_distance = -1, np.inf
        for candidate in candidates:
            if int(self.segment_ids[candidate]) in blocked:
                continue
            distance = float(shapely.distance(self.lines[candidate], point))
            if distance < best_distance:
                best, best_distance = int(candidate), distance
        return best, best_distance

    def segments_in(self, area_lonlat: shapely.Geometry) -> Ints:
        """Indices of the segments that touch an area (a closure polygon, a flood zone)."""
        area = shapely.transform(area_lonlat, self.projection.to_metres)
        return np.asarray(self.segment_ids[self.tree.query(area, predicate="intersects")])


def segment_lines(
    segments: Segments, indices: Ints, projection: Projection
) -> npt.NDArray[np.object_]:
    starts = segments.coord_offsets[indices]
    ends = segments.coord_offsets[indices + 1]
    counts = ends - starts
    rows = np.concatenate([np.arange(s, e) for s, e in zip(starts, ends, strict=True)])
    metres = projection.to_metres(segments.coords[rows])
    return np.asarray(
        shapely.linestrings(metres, indices=np.repeat(np.arange(len(indices)), counts))
    )


def check_points(lonlat: Floats) -> None:
    if lonlat.ndim != 2 or lonlat.shape[1] != 2:
        raise BadRequestData("points must be [longitude, latitude] pairs")
    bad = (
        ~np.isfinite(lonlat).all(axis=1)
        | (np.abs(lonlat[:, 0]) > 180)
        | (np.abs(lonlat[:, 1]) > 90)
    )
    if bad.any():
        lon, lat = lonlat[int(np.argmax(bad))]
        raise BadRequestData(f"({lon}, {lat}) is not a longitude, latitude pair")
