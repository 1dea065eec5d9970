"""Times and driven distances between many points: the times are the CCH matrix's, the metres
those of the route the router gives for the same pair (the fastest path, not the shortest), on
a made-up town where the two differ, on Helsinki and on Brașov, with closures and cut-off
points."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pytest
import shapely

from cetate.city.closures import Closure
from cetate.city.router import Router
from cetate.city.service import City

if TYPE_CHECKING:
    from conftest import OsmXml, PointOn, RandomPoints

CASES = [
    ("helsinki", "drive"),
    ("helsinki", "bike"),
    ("helsinki", "walk"),
    ("brasov", "drive"),
    ("brasov", "bike"),
]
MS = 1e-3  # seconds


def check_square(times: np.ndarray, metres: np.ndarray, count: int) -> None:
    assert times.shape == metres.shape == (count, count)
    assert times.dtype == metres.dtype == np.float64
    assert np.array_equal(np.isinf(times), np.isinf(metres))
    assert not np.isnan(times).any() and not np.isnan(metres).any()
    np.testing.assert_array_equal(np.diag(times), 0.0)
    np.testing.assert_array_equal(np.diag(metres), 0.0)
    assert (times >= 0).all() and (metres >= -1e-6).all()


def closure(segment_ids: list[str], **kw: datetime) -> Closure:
    return Closure(
        id="urn:ngsi-ld:cetate:RoadClosure:works",
        area=None,
        segment_ids=frozenset(segment_ids),
        valid_from=kw.get("valid_from"),
        valid_to=kw.get("valid_to"),
        modes=frozenset({"drive", "bike", "walk"}),
        reason="works",
    )


def disc(router: Router, centre: tuple[float, float], radius_m: float) -> shapely.Geometry:
    xy = router.index.projection.to_metres(np.array([centre]))[0]
    return router.index.projection.to_lonlat(shapely.Point(xy).buffer(radius_m))


def centre_of(router: Router) -> tuple[float, float]:
    segments = router.network.segments
    return float(np.median(segments.node_lon)), float(np.median(segments.node_lat))


def long_segments(router: Router, arcs: int, minimum_m: float) -> list[int]:
    """Segments of at least ``minimum_m`` with one arc (one-way) or two (two-way)."""
    network = router.network
    count = np.bincount(network.arc_segment, minlength=len(network.segments))
    return np.nonzero((count == arcs) & (network.segments.length_m >= minimum_m))[0].tolist()


# --- a made-up town ------------------------------------------------------------------------------


def test_fastest_not_shortest(tmp_path: Path, osm_xml: type[OsmXml]) -> None:
    """A slow one-way living street (10 km/h) runs east from (0, 0) to (6, 0); a primary road
    (50 km/h) goes round, up to y = 2 and down again, split at (3, 2) by a dead-end spur; short
    dead ends at both ends let a car turn (no U-turn but at a dead end). Grid steps are ~111 m.
    Between the primary's two sides the fastest way is the long one."""
    osm = osm_xml()
    osm.way([(0, 0), (6, 0)], highway="living_street", oneway="yes")
    primary = osm.way([(0, 0), (0, 2), (3, 2), (6, 2), (6, 0)], highway="primary")
    osm.way([(3, 2), (3, 3)], highway="residential")
    osm.way([(-1, 0), (0, 0)], highway="residential")
    osm.way([(6, 0), (7, 0)], highway="residential")
    city = City.load(osm.write(tmp_path / "town.osm"), ["drive"], cache_dir=tmp_path / "cache")
    step = float(city.segments.length_m[0] / 6)  # the living street is segment 0
    fast, slow = 50 / 3.6, 10 / 3.6  # m/s
    a, b = osm.lonlat(0, 0.5), osm.lonlat(6, 0.5)  # on the primary's west and east sides
    c, d = osm.lonlat(2, 0), osm.lonlat(1, 0)  # on the living street, d behind c
    points = np.array([a, b, c, d])
    times, metres = city.travel_matrices(points, "drive")
    check_square(times, metres, 4)
    np.testing.assert_allclose(times, city.matrix(points, points, "drive"), atol=MS)
    # a to b over the top: 4.5 + 4.5 steps fast, not 0.5 + 6 + 0.5 along the living street.
    assert metres[0, 1] == pytest.approx(9 * step, rel=1e-3)
    assert times[0, 1] == pytest.approx(9 * step / fast, rel=1e-3)
    assert metres[1, 0] == pytest.approx(9 * step, rel=1e-3)  # the living street is one-way
    # d ahead of c: along the street. c to d, behind: on to its end, all round, and back in.
    assert metres[3, 2] == pytest.approx(step, rel=1e-3)
    assert times[3, 2] == pytest.approx(step / slow, rel=1e-3)
    assert metres[2, 3] == pytest.approx((4 + 10 + 1) * step, rel=1e-3)
    assert times[2, 3] == pytest.approx(5 * step / slow + 10 * step / fast, rel=1e-3)
    for i in range(4):
        for j in range(4):
            route = city.route(points[i], points[j], "drive")
            assert route.duration_s == pytest.approx(times[i, j], abs=MS)
            assert route.distance_m == pytest.approx(metres[i, j], abs=0.5)
    # The primary's west side closed: a moves to (0, 0), which nothing reaches any more, and c
    # cannot come round to d.
    city.attach_closures(lambda: [closure([f"{primary}-0"])])
    times, metres = city.travel_matrices(points, "drive")
    check_square(times, metres, 4)
    assert metres[0, 1] == pytest.approx(6.5 * step, rel=1e-3)
    assert times[0, 1] == pytest.approx(6 * step / slow + 0.5 * step / fast, rel=1e-3)
    assert np.isinf(times[1, 0]) and np.isinf(metres[1, 0])
    assert np.isinf(times[2, 3]) and np.isinf(metres[2, 3])
    assert metres[3, 2] == pytest.approx(step, rel=1e-3)
    np.testing.assert_allclose(times, city.matrix(points, points, "drive"), atol=MS)


# --- real cities ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("city_name", "mode"), CASES)
def test_times_and_metres_are_the_routers(
    request: pytest.FixtureRequest, city_name: str, mode: str, near_roads: RandomPoints
) -> None:
    """120 random points: the times are the CCH matrix's to the millisecond; for 200 random
    pairs the metres are those of ``route`` (the same fastest path), ties between equally fast
    paths aside."""
    city: City = request.getfixturevalue(city_name)
    router = city.routers[mode]
    rng = np.random.default_rng(sum(map(ord, city_name + mode)))
    points = near_roads(router, 120, rng, 40.0)
    times, metres = city.travel_matrices(points, mode)
    check_square(times, metres, len(points))
    expected = city.matrix(points, points, mode)
    assert np.array_equal(np.isinf(times), np.isinf(expected))
    finite = np.isfinite(expected)
    assert np.abs(times[finite] - expected[finite]).max() <= MS
    assert (metres[finite & ~np.eye(len(points), dtype=bool)] > 0).mean() > 0.95
    same = 0
    pairs = rng.integers(0, len(points), size=(200, 2))
    for i, j in pairs.tolist():
        route = city.route(points[i], points[j], mode)
        # The route's time is the matrix's: a distance that differs is an equally fast path.
        assert route.duration_s == pytest.approx(times[i, j], abs=MS)
        same += abs(route.distance_m - metres[i, j]) <= 0.5
    assert same >= 0.95 * len(pairs), f"only {same} of {len(pairs)} distances agree"


def test_behind_on_a_one_way(helsinki: City, on_segment: PointOn) -> None:
    """A destination behind the origin on a one-way segment: out, round the block and back, as
    the route goes; ahead of it, the piece of the segment between the two."""
    router = helsinki.routers["drive"]
    checked = 0
    for segment in long_segments(router, arcs=1, minimum_m=80.0):
        if checked == 5:
            break
        (arc,) = np.nonzero(router.network.arc_segment == segment)[0].tolist()
        early, late = (0.3, 0.7) if router.network.arc_forward[arc] else (0.7, 0.3)
        a, b = on_segment(router, segment, early), on_segment(router, segment, late)
        points = np.array([a, b])
        if {s.segment for s in router.snap(points)} != {segment}:
            continue  # another road on top of this one
        checked += 1
        times, metres = router.travel_matrices(points)
        check_square(times, metres, 2)
        length = router.network.segments.length_m[segment]
        assert metres[0, 1] == pytest.approx(0.4 * length, rel=1e-6)
        behind = router.route(b, a)
        assert times[1, 0] == pytest.approx(behind.duration_s, abs=MS)
        assert metres[1, 0] == pytest.approx(behind.distance_m, abs=0.5)
        assert metres[1, 0] > 0.6 * length
    assert checked == 5


def test_cut_off(helsinki: City, on_segment: PointOn) -> None:
    """Every road at both ends of a segment closed: points on it reach each other only."""
    router = helsinki.routers["walk"]
    segments = router.network.segments
    candidates = long_segments(router, arcs=2, minimum_m=60.0)
    segment = candidates[3]
    ends = [segments.u[segment], segments.v[segment]]
    touching = np.nonzero(np.isin(segments.u, ends) | np.isin(segments.v, ends))[0].tolist()
    around = frozenset(s for s in touching if s != segment)
    assert not {candidates[-1], candidates[-2]} & around
    points = np.array(
        [
            on_segment(router, segment, 0.3),
            on_segment(router, segment, 0.8),
            on_segment(router, candidates[-1], 0.5),
            on_segment(router, candidates[-2], 0.5),
        ]
    )
    times, metres = router.travel_matrices(points, around)
    check_square(times, metres, 4)
    inside = np.array([True, True, False, False])
    cut = inside[:, None] != inside[None, :]
    assert np.isinf(times[cut]).all() and np.isinf(metres[cut]).all()
    assert np.isfinite(times[~cut]).all() and np.isfinite(metres[~cut]).all()
    length = segments.length_m[segment]
    assert metres[0, 1] == pytest.approx(0.5 * length, rel=1e-6)
    assert metres[1, 0] == pytest.approx(0.5 * length, rel=1e-6)
    np.testing.assert_allclose(times, router.matrix(points, points, around), atol=MS)


@pytest.mark.parametrize(
    ("city_name", "radius_m", "away_m"), [("helsinki", 150.0, 350.0), ("brasov", 400.0, 900.0)]
)
def test_closed_roads(
    request: pytest.FixtureRequest,
    city_name: str,
    radius_m: float,
    away_m: float,
    near_roads: RandomPoints,
) -> None:
    """Roads in a disc closed: times are the matrix's with the closure, metres the routes'
    round it, and some pairs are slower than with the roads open."""
    router: Router = request.getfixturevalue(city_name).routers["drive"]
    centre = centre_of(router)
    blocked = frozenset(router.index.segments_in(disc(router, centre, radius_m)).tolist())
    assert len(blocked) > 10
    rng = np.random.default_rng(81)
    points = near_roads(router, 300, rng, 30.0)
    middle = router.index.projection.to_metres(np.array([centre]))[0]
    away = np.hypot(*(router.index.projection.to_metres(points) - middle).T) > away_m
    points = points[away][:40]
    assert len(points) == 40
    open_times, _ = router.travel_matrices(points)
    times, metres = router.travel_matrices(points, blocked)
    check_square(times, metres, len(points))
    expected = router.matrix(points, points, blocked)
    assert np.array_equal(np.isinf(times), np.isinf(expected))
    finite = np.isfinite(expected)
    assert np.abs(times[finite] - expected[finite]).max() <= MS
    assert (times >= open_times - MS).all()
    assert (times > open_times + 1).any(), "the closure changes no route: a useless test"
    same = 0
    pairs = rng.integers(0, len(points), size=(40, 2)).tolist()
    for i, j in pairs:
        route = router.route(points[i], points[j], blocked)
        assert not set(route.segments) & blocked
        assert route.duration_s == pytest.approx(times[i, j], abs=MS)
        same += abs(route.distance_m - metres[i, j]) <= 0.5
    assert same >= 0.95 * len(pairs)


def test_city_applies_its_closures(
    helsinki_pbf: Path, city_cache: Path, near_roads: RandomPoints
) -> None:
    """``City.travel_matrices`` closes what the city's closures close at the time asked for."""
    city = City.load(helsinki_pbf, ["drive"], cache_dir=city_cache)  # its own: closures attached
    router = city.routers["drive"]
    blocked = frozenset(router.index.segments_in(disc(router, centre_of(router), 150.0)).tolist())
    start = datetime(2030, 5, 1, 8, tzinfo=UTC)
    works = closure(
        [city.segments.segment_id(s) for s in sorted(blocked)],
        valid_from=start,
        valid_to=start + timedelta(hours=2),
    )
    city.attach_closures(lambda: [works])
    points = near_roads(router, 30, np.random.default_rng(91), 30.0)
    during = city.travel_matrices(points, "drive", at=start + timedelta(hours=1))
    after = city.travel_matrices(points, "drive", at=start + timedelta(hours=3))
    for got, want in zip(during, router.travel_matrices(points, blocked), strict=True):
        np.testing.assert_array_equal(got, want)
    for got, want in zip(after, router.travel_matrices(points), strict=True):
        np.testing.assert_array_equal(got, want)
    assert not np.array_equal(during[0], after[0])
