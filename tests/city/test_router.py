"""The router against references it does not share code with: networkx's and scipy's Dijkstra on
the same turn graph (arc to arc, then point to point with the entry costs written out again
here), routes against matrices, geometry against the snapped points, closures, bad points, and
the Brașov bridge over the railway closed by a closure."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from typing import TYPE_CHECKING

import networkx as nx
import numpy as np
import osmium
import pyproj
import pytest
import scipy.sparse
import scipy.sparse.csgraph
import shapely

from cetate.city.closures import Closure
from cetate.city.network import Network
from cetate.city.router import Entry, Router
from cetate.city.service import City
from cetate.city.snap import Snap
from cetate.errors import BadRequestData

if TYPE_CHECKING:
    from conftest import PointOn, RandomPoints

GEOD = pyproj.Geod(ellps="WGS84")
MODES = ("drive", "bike", "walk")


# --- references ----------------------------------------------------------------------------------


def entries(network: Network, snap: Snap, blocked: frozenset[int]) -> list[tuple[int, float]]:
    """(arc, fraction of the arc behind the point) for each arc of the snapped segment."""
    if snap.segment in blocked:
        return []
    arcs = np.nonzero(network.arc_segment == snap.segment)[0].tolist()
    return [(a, snap.fraction if network.arc_forward[a] else 1.0 - snap.fraction) for a in arcs]


class Dijkstra:
    """Arc-to-arc times (ms) on the turn graph without the turns into blocked segments, by
    networkx (``engine="networkx"``) or scipy."""

    def __init__(
        self, network: Network, blocked: frozenset[int] = frozenset(), engine: str = "scipy"
    ) -> None:
        self.network = network
        weights = network.turn_weights()
        open_turn = ~np.isin(network.arc_segment[network.turn_to], list(blocked))
        self.sources = network.turn_from[open_turn]
        self.targets = network.turn_to[open_turn]
        self.weights = weights[open_turn]
        self.engine = engine
        if engine == "networkx":
            self.graph = nx.DiGraph()
            self.graph.add_nodes_from(range(network.arc_count))
            self.graph.add_weighted_edges_from(
                zip(
                    self.sources.tolist(), self.targets.tolist(), self.weights.tolist(), strict=True
                )
            )
            self.reverse = self.graph.reverse(copy=False)
        else:
            n = network.arc_count
            values = self.weights.astype(np.float64)
            values[values == 0] = 1e-12
            self.matrix = scipy.sparse.csr_matrix((values, (self.sources, self.targets)), (n, n))
        self._from: dict[int, np.ndarray] = {}
        self._to: dict[int, np.ndarray] = {}

    def _run(self, arc: int, reverse: bool) -> np.ndarray:
        if self.engine == "networkx":
            graph = self.reverse if reverse else self.graph
            found = nx.single_source_dijkstra_path_length(graph, arc, weight="weight")
            result = np.full(self.network.arc_count, np.inf)
            result[list(found)] = list(found.values())
            return result
        matrix = self.matrix.T.tocsr() if reverse else self.matrix
        result = scipy.sparse.csgraph.dijkstra(matrix, indices=arc)
        return np.where(result < 1e-6, 0.0, np.rint(result))  # undo the 1e-12 stand-ins

    def from_arc(self, arc: int) -> np.ndarray:
        if arc not in self._from:
            self._from[arc] = self._run(arc, reverse=False)
        return self._from[arc]

    def to_arc(self, arc: int) -> np.ndarray:
        if arc not in self._to:
            self._to[arc] = self._run(arc, reverse=True)
        return self._to[arc]

    def loop(self, arc: int) -> float:
        """Shortest way from the end of ``arc`` back round to its end, with at least one turn."""
        back = self.to_arc(arc)
        leaving = self.sources == arc
        if not leaving.any():
            return np.inf
        return float((self.weights[leaving] + back[self.targets[leaving]]).min())

    def point_to_point(self, origin: Snap, destination: Snap, blocked: frozenset[int]) -> float:
        """Seconds from a snapped point to another: the best pair of entry arcs."""
        times = self.network.arc_time_ms.astype(np.float64)
        best = np.inf
        for s, sp in entries(self.network, origin, blocked):
            for t, tp in entries(self.network, destination, blocked):
                if s == t and tp >= sp:
                    total = (tp - sp) * times[s]
                elif s == t:
                    total = (1 - sp) * times[s] + self.loop(s) - (1 - tp) * times[t]
                else:
                    total = (1 - sp) * times[s] + self.from_arc(s)[t] - (1 - tp) * times[t]
                best = min(best, total)
        return best / 1000.0


def reference_matrix(
    router: Router,
    origins: np.ndarray,
    destinations: np.ndarray,
    blocked: frozenset[int] = frozenset(),
    engine: str = "scipy",
) -> np.ndarray:
    dijkstra = Dijkstra(router.network, blocked, engine)
    start = router.snap(origins, blocked)
    end = router.snap(destinations, blocked)
    return np.array([[dijkstra.point_to_point(o, d, blocked) for d in end] for o in start])


def metres(a: tuple[float, float], b: tuple[float, float]) -> float:
    return float(GEOD.inv(a[0], a[1], b[0], b[1])[2])


# --- arc to arc ----------------------------------------------------------------------------------


def arc_to_arc(router: Router, sources: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """Seconds between arcs: an entry at the very end of each source arc and each target left
    at its end, so only whole arc times add up."""
    return router.entry_matrix(
        [Entry(np.array([s]), np.array([1.0])) for s in sources],
        [Entry(np.array([t]), np.array([1.0])) for t in targets],
        frozenset(),
    )


@pytest.mark.parametrize("mode", MODES)
def test_cch_equals_networkx(helsinki: City, mode: str) -> None:
    """200 arc pairs (20 sources x 10 targets): CCH distances are networkx's, to the ms."""
    router = helsinki.routers[mode]
    network = router.network
    rng = np.random.default_rng(11)
    sources = rng.choice(network.arc_count, size=20, replace=False)
    targets = rng.choice(network.arc_count, size=10, replace=False)
    got = arc_to_arc(router, sources, targets)
    reference = Dijkstra(network, engine="networkx")
    expected = np.array([[reference.from_arc(int(s))[t] for t in targets] for s in sources])
    assert np.isfinite(expected).all()  # one strongly connected component
    # Whole milliseconds on both sides: equal but for the division by 1000.
    np.testing.assert_array_equal(np.rint(got * 1000.0), expected)
    assert np.abs(got - expected / 1000.0).max() < 1e-9
    # The point-to-point query gives the same distance along a path of real turns.
    weights = {
        (a, b): w
        for a, b, w in zip(
            network.turn_from.tolist(),
            network.turn_to.tolist(),
            network.turn_weights().tolist(),
            strict=True,
        )
    }
    for k in range(10):
        s, t = int(sources[k]), int(targets[k])
        found, path = router._cch.query(s, t)
        assert found == expected[k, k]
        assert path[0] == s and path[-1] == t
        assert sum(weights[(a, b)] for a, b in pairwise(path)) == found


def test_cch_equals_scipy_in_brasov(brasov: City) -> None:
    router = brasov.routers["drive"]
    network = router.network
    rng = np.random.default_rng(12)
    sources = rng.choice(network.arc_count, size=20, replace=False)
    targets = rng.choice(network.arc_count, size=10, replace=False)
    got = arc_to_arc(router, sources, targets)
    reference = Dijkstra(network)
    expected = np.array([[reference.from_arc(int(s))[t] for t in targets] for s in sources])
    assert np.isfinite(expected).all()
    np.testing.assert_array_equal(np.rint(got * 1000.0), expected)
    assert np.abs(got - expected / 1000.0).max() < 1e-9


# --- point to point ------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
def test_matrix_equals_networkx_point_to_point(
    helsinki: City, mode: str, near_roads: RandomPoints
) -> None:
    router = helsinki.routers[mode]
    rng = np.random.default_rng(21)
    origins = near_roads(router, 12, rng, 60.0)
    destinations = near_roads(router, 12, rng, 60.0)
    got = router.matrix(origins, destinations)
    expected = reference_matrix(router, origins, destinations, engine="networkx")
    assert np.isfinite(expected).all()
    difference = float(np.abs(got - expected).max())
    print(f"{mode}: max |CCH - networkx| = {difference:.3g} s over {got.size} pairs")
    assert difference < 1e-6
    # The matrix of the origins with themselves has a zero diagonal.
    assert np.abs(np.diag(router.matrix(origins, origins))).max() < 1e-9


def test_matrix_equals_scipy_in_brasov(brasov: City, near_roads: RandomPoints) -> None:
    router = brasov.routers["drive"]
    rng = np.random.default_rng(22)
    origins = near_roads(router, 15, rng, 80.0)
    destinations = near_roads(router, 15, rng, 80.0)
    got = router.matrix(origins, destinations)
    expected = reference_matrix(router, origins, destinations)
    assert np.abs(got - expected).max() < 1e-6


@pytest.mark.parametrize(
    ("city_name", "mode"), [*(("helsinki", m) for m in MODES), ("brasov", "drive")]
)
def test_route_agrees_with_matrix(
    request: pytest.FixtureRequest, city_name: str, mode: str, near_roads: RandomPoints
) -> None:
    router: Router = request.getfixturevalue(city_name).routers[mode]
    rng = np.random.default_rng(31)
    origins = near_roads(router, 7, rng, 40.0)
    destinations = near_roads(router, 7, rng, 40.0)
    table = router.matrix(origins, destinations)
    worst_end = worst_length = 0.0
    for i, origin in enumerate(origins):
        for j, destination in enumerate(destinations):
            route = router.route(origin, destination)
            assert route.duration_s == pytest.approx(table[i, j], abs=1e-6)
            check_route(router, route)
            worst_end = max(
                worst_end,
                metres(route.coordinates[0], (route.origin.lon, route.origin.lat)),
                metres(route.coordinates[-1], (route.destination.lon, route.destination.lat)),
            )
            if route.distance_m > 50:
                drawn = geodesic_length(route.coordinates)
                worst_length = max(worst_length, abs(drawn - route.distance_m) / route.distance_m)
    print(
        f"{city_name} {mode}: ends {worst_end:.2g} m from the snaps, length off {worst_length:.2%}"
    )


def geodesic_length(coordinates: list[tuple[float, float]]) -> float:
    lon, lat = np.array(coordinates).T
    return float(GEOD.line_length(lon, lat))


def check_route(router: Router, route) -> None:  # type: ignore[no-untyped-def]
    """The route's geometry starts and ends at the snapped points, is as long as its distance,
    and its segments follow each other."""
    network = router.network
    assert route.duration_s >= 0 and route.distance_m >= 0
    start, end = route.coordinates[0], route.coordinates[-1]
    assert metres(start, (route.origin.lon, route.origin.lat)) < 0.05
    assert metres(end, (route.destination.lon, route.destination.lat)) < 0.05
    drawn = geodesic_length(route.coordinates)
    # Haversine (the router) against the ellipsoid (here): well within 1 %; 0.5 m slack for
    # routes of a few metres.
    assert drawn == pytest.approx(route.distance_m, rel=0.01, abs=0.5)
    assert route.segments[0] == route.origin.segment
    assert route.segments[-1] == route.destination.segment
    segments = network.segments
    for a, b in pairwise(route.segments):
        assert {segments.u[a], segments.v[a]} & {segments.u[b], segments.v[b]}, (a, b)
    # Time and distance are consistent: no faster than the fastest arc allows.
    speed = (network.segments.length_m[network.arc_segment] / network.arc_time_ms.clip(1)).max()
    assert route.distance_m <= route.duration_s * 1000 * speed + 1e-6


# --- same segment --------------------------------------------------------------------------------


def long_segments(router: Router, one_way: bool, minimum_m: float = 150.0) -> list[int]:
    network = router.network
    arcs_per_segment = np.bincount(network.arc_segment, minlength=len(network.segments))
    wanted = 1 if one_way else 2
    return [
        int(s)
        for s in np.nonzero(
            (arcs_per_segment == wanted) & (network.segments.length_m >= minimum_m)
        )[0]
    ]


def test_same_segment_one_way(helsinki: City, on_segment: PointOn) -> None:
    router = helsinki.routers["drive"]
    network = router.network
    reference = Dijkstra(network)
    checked = 0
    for segment in long_segments(router, one_way=True, minimum_m=80.0):
        if checked == 8:
            break
        (arc,) = np.nonzero(network.arc_segment == segment)[0].tolist()
        forward = bool(network.arc_forward[arc])
        time_s = network.arc_time_ms[arc] / 1000.0
        length = network.segments.length_m[segment]
        early, late = (0.3, 0.7) if forward else (0.7, 0.3)  # in node order
        a, b = on_segment(router, segment, early), on_segment(router, segment, late)
        if {s.segment for s in router.snap(np.array([a, b]))} != {segment}:
            continue  # another road on top of this one
        checked += 1
        ahead = router.route(a, b)
        assert ahead.segments == [segment]
        assert ahead.duration_s == pytest.approx(0.4 * time_s, abs=1e-6)
        assert ahead.distance_m == pytest.approx(0.4 * length, rel=1e-6)
        check_route(router, ahead)
        # Behind on a one-way: round the block and back.
        behind = router.route(b, a)
        assert behind.segments[0] == segment and behind.segments[-1] == segment
        assert len(behind.segments) > 2
        expected = (
            (1 - 0.7) * network.arc_time_ms[arc]
            + reference.loop(arc)
            - (1 - 0.3) * network.arc_time_ms[arc]
        ) / 1000.0
        assert behind.duration_s == pytest.approx(expected, abs=1e-6)
        assert behind.duration_s > 0.6 * time_s
        check_route(router, behind)
        table = router.matrix(np.array([a, b]), np.array([a, b]))
        np.testing.assert_allclose(
            table, [[0, ahead.duration_s], [behind.duration_s, 0]], atol=1e-6
        )
        same = router.route(a, a)
        assert same.duration_s == 0 and same.distance_m == 0
    assert checked >= 5


def test_same_segment_two_way(helsinki: City, on_segment: PointOn) -> None:
    router = helsinki.routers["walk"]
    network = router.network
    checked = 0
    for segment in long_segments(router, one_way=False)[:10]:
        a, b = on_segment(router, segment, 0.2), on_segment(router, segment, 0.8)
        if {s.segment for s in router.snap(np.array([a, b]))} != {segment}:
            continue
        checked += 1
        time_s = network.arc_time_ms[network.arc_segment == segment] / 1000.0
        for start, end in ((a, b), (b, a)):
            route = router.route(start, end)
            assert route.segments == [segment]
            assert route.duration_s == pytest.approx(0.6 * time_s[0], abs=1e-6)
            check_route(router, route)
    assert checked >= 5


# --- bad points ----------------------------------------------------------------------------------


def test_point_far_away(helsinki: City) -> None:
    router = helsinki.routers["drive"]
    inside = router.snap(np.array([[24.94, 60.17]]))[0]
    here = np.array([inside.lon, inside.lat])
    far = np.array([24.94, 60.17 + 50_000 / 111_200])  # 50 km north, in the sea or the woods
    for call in (
        lambda: router.route(here, far),
        lambda: router.route(far, here),
        lambda: router.matrix(np.array([here, far]), here[None]),
        lambda: router.matrix(here[None], np.array([here, far])),
        lambda: router.nearest(far, here[None], 1),
        lambda: helsinki.isochrones(far, [300], "drive"),
    ):
        with pytest.raises(BadRequestData) as raised:
            call()
        assert f"({far[0]:.6f}, {far[1]:.6f})" in raised.value.detail
        assert "'drive'" in raised.value.detail


@pytest.mark.parametrize(
    "bad",
    [
        [np.nan, 60.17],
        [24.94, np.nan],
        [np.inf, 60.17],
        [24.94, 91.0],
        [24.94, -90.5],
        [181.0, 60.17],
    ],
)
def test_not_a_point(helsinki: City, bad: list[float]) -> None:
    router = helsinki.routers["walk"]
    good = np.array([24.94, 60.17])
    with pytest.raises(BadRequestData, match="not a longitude, latitude pair"):
        router.route(good, np.array(bad))
    with pytest.raises(BadRequestData, match="not a longitude, latitude pair"):
        router.matrix(np.array([good, bad]), good[None])
    with pytest.raises(BadRequestData, match="not a longitude, latitude pair"):
        helsinki.isochrones(np.array(bad), [300], "walk")


def test_points_must_be_pairs(helsinki: City) -> None:
    router = helsinki.routers["walk"]
    good = np.array([24.94, 60.17])
    # [lon, lat, altitude] triples (GeoJSON allows them) are refused, not read as other pairs.
    with pytest.raises(BadRequestData, match="pairs"):
        router.matrix(np.array([[24.94, 60.17, 10.0], [24.95, 60.18, 12.0]]), good[None])
    with pytest.raises(BadRequestData, match="pairs"):
        router.route(np.array([24.94, 60.17, 10.0]), np.array([24.95, 60.18, 12.0]))
    with pytest.raises(BadRequestData, match="pairs"):
        router.nearest(np.array([24.94, 60.17, 10.0]), good[None], 1)
    with pytest.raises(BadRequestData, match="pairs"):
        helsinki.isochrones(np.array([24.94, 60.17, 10.0]), [300], "walk")


# --- nearest -------------------------------------------------------------------------------------


def test_nearest(helsinki: City, near_roads: RandomPoints) -> None:
    router = helsinki.routers["bike"]
    rng = np.random.default_rng(41)
    origin = near_roads(router, 1, rng, 20.0)[0]
    candidates = near_roads(router, 30, rng, 20.0)
    durations = router.matrix(origin[None], candidates)[0]
    found = router.nearest(origin, candidates, 5)
    assert [i for i, _ in found] == np.argsort(durations, kind="stable")[:5].tolist()
    assert [d for _, d in found] == pytest.approx(np.sort(durations)[:5].tolist())
    assert len(router.nearest(origin, candidates, 100)) == 30
    with pytest.raises(BadRequestData, match="k must be at least 1"):
        router.nearest(origin, candidates, 0)


# --- closures ------------------------------------------------------------------------------------


def disc(router: Router, centre: tuple[float, float], radius_m: float) -> shapely.Geometry:
    """A circle in lon/lat around a point (drawn in the router's metric projection)."""
    xy = router.index.projection.to_metres(np.array([centre]))[0]
    return router.index.projection.to_lonlat(shapely.Point(xy).buffer(radius_m))


@pytest.mark.parametrize(
    ("city_name", "mode", "radius_m", "away_m"),
    [
        ("helsinki", "drive", 150.0, 350.0),
        ("helsinki", "walk", 100.0, 300.0),
        ("brasov", "drive", 400.0, 900.0),
    ],
)
def test_closures_against_scipy(
    request: pytest.FixtureRequest,
    city_name: str,
    mode: str,
    radius_m: float,
    away_m: float,
    near_roads: RandomPoints,
) -> None:
    """Segments in a disc closed: the matrix is scipy's Dijkstra on the turn graph without the
    turns into them, and the routes keep out."""
    router: Router = request.getfixturevalue(city_name).routers[mode]
    network = router.network
    centre = (
        float(np.median(network.segments.node_lon)),
        float(np.median(network.segments.node_lat)),
    )
    blocked = frozenset(router.index.segments_in(disc(router, centre, radius_m)).tolist())
    assert 10 < len(blocked) < 0.3 * len(np.unique(network.arc_segment))
    rng = np.random.default_rng(51)
    points = near_roads(router, 200, rng, 30.0)
    # Points away from the closed area, whose snaps do not change.
    area = router.index.projection.to_metres(np.array([centre]))[0]
    away = np.hypot(*(router.index.projection.to_metres(points) - area).T) > away_m
    points = points[away][:16]
    assert len(points) == 16
    origins, destinations = points[:8], points[8:]
    before = router.matrix(origins, destinations)
    after = router.matrix(origins, destinations, blocked)
    expected = reference_matrix(router, origins, destinations, blocked)
    assert np.array_equal(np.isinf(after), np.isinf(expected))
    finite = np.isfinite(expected)
    assert np.abs(after[finite] - expected[finite]).max() < 1e-6
    assert (after >= before - 1e-9).all()
    assert (after > before + 1).any(), "the closure changes no route: a useless test"
    # Opening the roads again gives the first answers back (the hierarchy is re-customized).
    np.testing.assert_array_equal(router.matrix(origins, destinations), before)
    # Routes avoid the closed segments.
    for origin, destination in zip(origins, destinations, strict=True):
        route = router.route(origin, destination, blocked)
        assert not set(route.segments) & blocked
        assert route.duration_s == pytest.approx(
            router.matrix(origin[None], destination[None], blocked)[0, 0], abs=1e-6
        )


def test_blocked_origin_snaps_elsewhere(helsinki: City, on_segment: PointOn) -> None:
    router = helsinki.routers["walk"]
    segment = long_segments(router, one_way=False)[0]
    point = on_segment(router, segment, 0.5)
    (snap,) = router.snap(point[None])
    assert snap.segment == segment and snap.distance_m < 0.01
    (moved,) = router.snap(point[None], frozenset({segment}))
    assert moved.segment != segment and moved.distance_m > 0.01
    other = on_segment(router, long_segments(router, one_way=False)[5], 0.5)
    route = router.route(point, other, frozenset({segment}))
    assert segment not in route.segments
    assert route.origin.segment == moved.segment


def test_unreachable(helsinki: City, on_segment: PointOn) -> None:
    router = helsinki.routers["walk"]
    segments = router.network.segments
    candidates = long_segments(router, one_way=False, minimum_m=60.0)
    segment = candidates[3]
    ends = {segments.u[segment], segments.v[segment]}
    # Close every other road at both ends of the segment: a point on it is cut off.
    around = frozenset(
        int(s)
        for s in np.nonzero(np.isin(segments.u, list(ends)) | np.isin(segments.v, list(ends)))[0]
        if s != segment
    )
    inside = on_segment(router, segment, 0.3)
    also_inside = on_segment(router, segment, 0.8)
    outside = on_segment(router, candidates[-1], 0.5)
    table = router.matrix(np.array([inside, outside]), np.array([also_inside, outside]), around)
    assert np.isfinite(table[0, 0]) and np.isfinite(table[1, 1])
    assert np.isinf(table[0, 1]) and np.isinf(table[1, 0])
    with pytest.raises(BadRequestData, match="no route"):
        router.route(inside, outside, around)
    with pytest.raises(BadRequestData, match="no route"):
        router.route(outside, inside, around)
    assert router.route(inside, also_inside, around).segments == [segment]
    assert router.nearest(inside, np.array([outside, also_inside]), 2, around) == [
        (1, pytest.approx(table[0, 0]))
    ]


def test_closures_from_threads(helsinki: City, near_roads: RandomPoints) -> None:
    """Queries with and without a closure, from several threads at once, each get their own
    answer (the shared hierarchy is customized under the lock)."""
    router = helsinki.routers["drive"]
    rng = np.random.default_rng(61)
    points = near_roads(router, 10, rng, 20.0)
    network = router.network
    centre = (
        float(np.median(network.segments.node_lon)),
        float(np.median(network.segments.node_lat)),
    )
    blocked = frozenset(router.index.segments_in(disc(router, centre, 500.0)).tolist())
    expected = {
        False: router.matrix(points, points),
        True: router.matrix(points, points, blocked),
    }
    assert not np.array_equal(expected[False], expected[True])
    errors: list[str] = []

    def work(closed: bool) -> None:
        for _ in range(6):
            got = router.matrix(points, points, blocked if closed else frozenset())
            if not np.array_equal(got, expected[closed]):
                errors.append(f"closed={closed}: wrong answer")

    threads = [threading.Thread(target=work, args=(k % 2 == 0,)) for k in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors


# --- the Brașov bridge ---------------------------------------------------------------------------


def closure_of(segment_ids: list[str] | None = None, area: shapely.Geometry | None = None, **kw):  # type: ignore[no-untyped-def]
    return Closure(
        id="urn:ngsi-ld:cetate:RoadClosure:test",
        area=area,
        segment_ids=frozenset(segment_ids or []),
        valid_from=kw.get("valid_from"),
        valid_to=kw.get("valid_to"),
        modes=frozenset(kw.get("modes", MODES)),
        reason="works on the bridge",
    )


def test_brasov_bridge_closed(
    brasov_pbf,
    city_cache,
    on_segment: PointOn,  # type: ignore[no-untyped-def]
) -> None:
    """Strada Independenței crosses the railway next to the station on a bridge (secondary,
    bridge=viaduct, ~340 m). Closing it sends a route between the streets at its two ends round
    another way."""
    city = City.load(brasov_pbf, cache_dir=city_cache)  # its own, closures are attached to it
    router = city.routers["drive"]
    segments = city.segments
    candidates = [
        i
        for i in range(len(segments))
        if segments.tags(i).get("bridge", "no") != "no"
        and segments.tags(i).get("highway") in ("primary", "secondary", "tertiary")
    ]
    for i in candidates:
        tags = segments.tags(i)
        print(
            segments.segment_id(i), tags["highway"], tags.get("name"), round(segments.length_m[i])
        )
    bridge = [i for i in candidates if segments.tags(i).get("name") == "Strada Independenței"]
    assert bridge, "the bridge of Strada Independenței is not in the extract"
    assert sum(segments.length_m[bridge]) > 250
    assert segments.tags(bridge[0])["highway"] == "secondary"
    # It does cross the railway (read from the file here: the road extract has no railways).
    rails = [
        shapely.LineString([(n.lon, n.lat) for n in way.nodes if n.location.valid()])
        for way in osmium.FileProcessor(str(brasov_pbf))
        .with_locations()
        .with_filter(osmium.filter.TagFilter(("railway", "rail")))
        if isinstance(way, osmium.osm.Way) and sum(n.location.valid() for n in way.nodes) >= 2
    ]
    deck = shapely.union_all([shapely.LineString(segments.geometry(i)) for i in bridge])
    assert deck.intersects(shapely.union_all(rails))
    # The roads at each end of the bridge (not bridges themselves), a point on each.
    network = router.network
    bridge_nodes = {int(n) for i in bridge for n in (segments.u[i], segments.v[i])}
    inner = {
        int(n)
        for i in bridge
        for n in (segments.u[i], segments.v[i])
        if sum(n in (segments.u[j], segments.v[j]) for j in bridge) > 1
    }
    ends = sorted(bridge_nodes - inner)
    assert len(ends) == 2
    used = set(network.arc_segment.tolist())

    def approach(node: int) -> np.ndarray:
        around = [
            int(s)
            for s in np.nonzero((segments.u == node) | (segments.v == node))[0]
            if s not in bridge and s in used and segments.tags(int(s)).get("bridge") != "yes"
        ]
        best = max(around, key=lambda s: segments.length_m[s])
        return on_segment(router, best, 0.5)

    west, east = approach(ends[0]), approach(ends[1])
    open_route = city.route(west, east, "drive")
    print(f"bridge {[segments.segment_id(i) for i in bridge]}, open {open_route.duration_s:.0f} s")
    assert set(bridge) <= set(open_route.segments), "the open route does not use the bridge"
    back = city.route(east, west, "drive")
    assert set(bridge) & set(back.segments)

    # Closed by segment ids, as a RoadClosure entity lists them.
    closure = closure_of([segments.segment_id(i) for i in bridge], modes=["drive", "bike"])
    city.attach_closures(lambda: [closure])
    assert city.blocked("drive") == frozenset(bridge)
    assert city.blocked("walk") == frozenset()
    detour = city.route(west, east, "drive")
    print(f"detour {detour.duration_s:.0f} s, {detour.distance_m:.0f} m")
    assert not set(bridge) & set(detour.segments)
    assert detour.duration_s > open_route.duration_s + 10
    assert detour.distance_m > open_route.distance_m
    check_route(router, detour)
    table = city.matrix(np.array([west, east]), np.array([west, east]), "drive")
    assert table[0, 1] == pytest.approx(detour.duration_s, abs=1e-6)
    assert table[1, 0] > back.duration_s
    # Pedestrians still cross.
    assert set(bridge) & set(city.route(west, east, "walk").segments)

    # Closed by an area: a small polygon round the middle of the bridge.
    middle = shapely.LineString(segments.geometry(bridge[0])).interpolate(0.5, normalized=True)
    polygon = disc(router, (middle.x, middle.y), 15.0)
    city.attach_closures(lambda: [closure_of(area=polygon)])
    by_area = city.blocked("drive")
    assert by_area & set(bridge)
    area_detour = city.route(west, east, "drive")
    assert not by_area & set(area_detour.segments)
    assert area_detour.duration_s > open_route.duration_s + 10

    # A closure that starts tomorrow closes nothing today, and everything then.
    tomorrow = datetime.now(UTC) + timedelta(days=1)
    city.attach_closures(
        lambda: [closure_of([segments.segment_id(i) for i in bridge], valid_from=tomorrow)]
    )
    assert city.route(west, east, "drive").duration_s == pytest.approx(open_route.duration_s)
    later = city.route(west, east, "drive", at=tomorrow + timedelta(hours=1))
    assert later.duration_s == pytest.approx(detour.duration_s)
    # And with no closures, the bridge again.
    city.attach_closures(lambda: [])
    assert city.route(west, east, "drive").duration_s == pytest.approx(open_route.duration_s)


def test_an_edited_closure_is_applied(helsinki_pbf, city_cache) -> None:  # type: ignore[no-untyped-def]
    city = City.load(helsinki_pbf, cache_dir=city_cache)
    segments = city.routers["drive"].index.segment_ids[:2].tolist()
    closed = [city.segments.segment_id(segments[0])]
    city.attach_closures(lambda: [closure_of(list(closed))])
    assert city.blocked("drive") == {segments[0]}
    closed[0] = city.segments.segment_id(segments[1])  # the operator moves the closure
    city.closures_changed()
    assert city.blocked("drive") == {segments[1]}


def test_reload_is_fast(brasov: City) -> None:
    """Re-customizing for a new closure takes milliseconds, not a rebuild."""
    router = brasov.routers["drive"]
    rng = np.random.default_rng(71)
    chosen = frozenset(rng.choice(np.unique(router.network.arc_segment), 50).tolist())
    point = np.array([[25.59, 45.65]])
    router.matrix(point, point)
    started = time.perf_counter()
    router.matrix(point, point, chosen)
    router.matrix(point, point)
    elapsed = time.perf_counter() - started
    assert elapsed < 0.5, f"two re-customizations took {elapsed:.2f} s"
