"""Isochrones: nested, consistent with the matrix (what the matrix reaches in time is inside, what
it reaches much later mostly outside), the street length reached, closures, speed, bad input."""

from __future__ import annotations

import time
from itertools import pairwise
from typing import TYPE_CHECKING

import numpy as np
import pytest
import shapely

from cetate.city.isochrones import MAX_BUDGET_S, Isochrone
from cetate.city.router import Router
from cetate.city.service import City
from cetate.errors import BadRequestData

if TYPE_CHECKING:
    from conftest import PointOn, RandomPoints

BUFFER_M = 50.0
# The polygon is simplified with a tolerance of a fifth of the buffer.
SLACK_M = BUFFER_M / 5 + 0.5


def in_metres(router: Router, geometry: shapely.Geometry) -> shapely.Geometry:
    return shapely.transform(geometry, router.index.projection.to_metres)


def centre_point(router: Router) -> np.ndarray:
    segments = router.network.segments
    (snap,) = router.snap(np.array([[np.median(segments.node_lon), np.median(segments.node_lat)]]))
    return np.array([snap.lon, snap.lat])


@pytest.mark.parametrize(
    ("city_name", "mode", "budgets"),
    [
        ("helsinki", "walk", [300, 600, 900]),
        ("helsinki", "bike", [120, 300]),
        ("brasov", "drive", [300, 900]),
        ("brasov", "walk", [600]),
    ],
)
def test_isochrones_agree_with_the_matrix(
    request: pytest.FixtureRequest,
    city_name: str,
    mode: str,
    budgets: list[int],
    near_roads: RandomPoints,
) -> None:
    city: City = request.getfixturevalue(city_name)
    router = city.routers[mode]
    origin = centre_point(router)
    found = city.isochrones(origin, list(reversed(budgets)), mode, buffer_m=BUFFER_M)
    assert [i.budget_s for i in found] == sorted(budgets)
    polygons = [in_metres(router, i.polygon) for i in found]
    for polygon in polygons:
        assert polygon.is_valid and not polygon.is_empty
    # Nested, up to the simplification.
    for smaller, larger in pairwise(polygons):
        assert smaller.difference(larger.buffer(SLACK_M)).area < 1.0
        assert larger.area > smaller.area
    assert [i.reached_m for i in found] == sorted(i.reached_m for i in found)

    rng = np.random.default_rng(5)
    points = near_roads(router, 300, rng, 50.0)
    durations = city.matrix(origin[None], points, mode)[0]
    snapped = shapely.points(
        router.index.projection.to_metres(np.array([(s.lon, s.lat) for s in router.snap(points)]))
    )
    for isochrone, polygon in zip(found, polygons, strict=True):
        budget = isochrone.budget_s
        inside = durations <= budget
        assert inside.sum() >= 5, "too few points within the budget to test anything"
        distance = shapely.distance(polygon, snapped)
        # Every snapped point the matrix reaches in time is inside.
        assert distance[inside].max() <= SLACK_M, (
            f"{budget} s: a point reached in {durations[inside][distance[inside].argmax()]:.0f} s "
            f"is {distance[inside].max():.0f} m outside"
        )
        # Points reached much later are mostly outside (the polygon widens the streets by the
        # buffer, so a late point next to an early street is inside).
        late = durations > budget * 1.25 + 60
        if late.sum() >= 10:
            outside = (distance[late] > 0).mean()
            print(f"{city_name} {mode} {budget} s: {outside:.0%} of {late.sum()} late points out")
            assert outside > 0.7


def test_reached_length(helsinki: City, near_roads: RandomPoints) -> None:
    """``reached_m`` is the length of street reached: each street counted once, even when both
    its directions are reached, and all of it for a budget that reaches everything."""
    router = helsinki.routers["walk"]
    network = router.network
    kept = np.unique(network.arc_segment)
    total = float(network.segments.length_m[kept].sum())
    rng = np.random.default_rng(9)
    for origin in near_roads(router, 5, rng, 10.0):
        (everything,) = helsinki.isochrones(origin, [MAX_BUDGET_S], "walk")
        assert everything.reached_m == pytest.approx(total, rel=1e-6)
        (some,) = helsinki.isochrones(origin, [300], "walk")
        assert some.reached_m < total
        expected = reached_reference(router, origin, 300.0)
        assert some.reached_m == pytest.approx(expected, rel=1e-3)


def reached_reference(router: Router, origin: np.ndarray, budget_s: float) -> float:
    """The length of the parts of segments within ``budget_s`` of ``origin``, from the matrix:
    points every metre or so along each segment near enough to matter."""
    network = router.network
    (snap,) = router.snap(origin[None])
    durations = router.entry_matrix(
        [router.entry(snap, frozenset())],
        [router.entry(s, frozenset()) for s in _segment_ends(router)],
        frozenset(),
    )[0]
    ends = durations.reshape(-1, 2)  # time to each segment's first and last node
    times_s = np.zeros(len(network.segments))
    np.maximum.at(times_s, network.arc_segment, network.arc_time_ms / 1000.0)
    total = 0.0
    ids = router.index.segment_ids
    for k, segment in enumerate(ids.tolist()):
        to_u, to_v = ends[k]
        if min(to_u, to_v) > budget_s and segment != snap.segment:
            continue
        step = np.linspace(0.0, 1.0, 401)
        # Reached at fraction f: from either end (along the segment) or, on the origin's own
        # segment, straight from the origin.
        reach = np.minimum(to_u + step * times_s[segment], to_v + (1 - step) * times_s[segment])
        if segment == snap.segment:
            reach = np.minimum(reach, np.abs(step - snap.fraction) * times_s[segment])
        covered = (reach <= budget_s).mean()
        total += covered * float(network.segments.length_m[segment])
    return total


def _segment_ends(router: Router):  # type: ignore[no-untyped-def]
    from cetate.city.snap import Snap

    for segment in router.index.segment_ids.tolist():
        for fraction in (0.0, 1.0):
            yield Snap(segment, fraction, 0.0, 0.0, 0.0)


def test_behind_the_origin_on_a_one_way(brasov: City, on_segment: PointOn) -> None:
    """A point behind the origin on a one-way street is reached by going round the block; the
    isochrone that the matrix says reaches it must include it."""
    router = brasov.routers["drive"]
    network = router.network
    arcs_per_segment = np.bincount(network.arc_segment, minlength=len(network.segments))
    checked = 0
    for segment in np.nonzero((arcs_per_segment == 1) & (network.segments.length_m > 300))[0]:
        segment = int(segment)
        (arc,) = np.nonzero(network.arc_segment == segment)[0]
        forward = bool(network.arc_forward[arc])
        # 150 m and more behind: farther than the widening reaches from the street's ends.
        origin = on_segment(router, segment, 0.95 if forward else 0.05)
        behind = on_segment(router, segment, 0.5)
        if {s.segment for s in router.snap(np.array([origin, behind]))} != {segment}:
            continue
        duration = router.matrix(origin[None], behind[None])[0, 0]
        if duration > 1200:
            continue
        checked += 1
        (isochrone,) = brasov.isochrones(origin, [duration + 30], "drive")
        polygon = in_metres(router, isochrone.polygon)
        point = shapely.Point(router.index.projection.to_metres(behind[None])[0])
        assert polygon.distance(point) <= SLACK_M, f"segment {network.segments.segment_id(segment)}"
        if checked == 25:
            break
    assert checked >= 10


def test_isochrones_with_closures(helsinki: City, on_segment: PointOn) -> None:
    router = helsinki.routers["walk"]
    maker = helsinki.isochrone_makers["walk"]
    segments = router.network.segments
    lengths = segments.length_m
    candidates = [int(s) for s in router.index.segment_ids if lengths[s] > 80]
    segment = candidates[len(candidates) // 2]
    ends = [segments.u[segment], segments.v[segment]]
    around = frozenset(
        int(s)
        for s in np.nonzero(np.isin(segments.u, ends) | np.isin(segments.v, ends))[0]
        if s != segment
    )
    origin = on_segment(router, segment, 0.5)
    (open_,) = maker.isochrones(origin, [600])
    (closed,) = maker.isochrones(origin, [600], around)
    # Cut off: only the origin's own segment is reached.
    assert closed.reached_m == pytest.approx(lengths[segment], rel=1e-6)
    assert open_.reached_m > 10 * closed.reached_m
    assert closed.polygon.area < open_.polygon.area
    # Without the closure again: the same as before (no stale graph).
    (again,) = maker.isochrones(origin, [600])
    assert again.reached_m == open_.reached_m
    assert again.polygon.equals(open_.polygon)


def test_isochrones_are_fast(brasov: City) -> None:
    router = brasov.routers["drive"]
    origin = centre_point(router)
    brasov.isochrones(origin, [300], "drive")  # warm-up: the graph is built once
    for mode, budgets in (("drive", [300, 600, 900]), ("walk", [900]), ("bike", [900])):
        started = time.perf_counter()
        found = brasov.isochrones(origin, budgets, mode)
        elapsed = time.perf_counter() - started
        print(f"{mode} {budgets}: {elapsed:.3f} s")
        assert elapsed < 1.0, f"{mode} isochrones took {elapsed:.2f} s"
        assert all(isinstance(i, Isochrone) for i in found)


@pytest.mark.parametrize(
    "budgets",
    [[], [0], [-60], [float("nan")], [float("inf")], [MAX_BUDGET_S + 1], [300, -1], [300, 0]],
)
def test_bad_budgets(helsinki: City, budgets: list[float]) -> None:
    origin = centre_point(helsinki.routers["walk"])
    with pytest.raises(BadRequestData, match="budget"):
        helsinki.isochrones(origin, budgets, "walk")


@pytest.mark.parametrize("buffer_m", [0.0, -5.0, 1001.0, float("nan")])
def test_bad_buffer(helsinki: City, buffer_m: float) -> None:
    origin = centre_point(helsinki.routers["walk"])
    with pytest.raises(BadRequestData, match="buffer_m"):
        helsinki.isochrones(origin, [300], "walk", buffer_m=buffer_m)


def test_unknown_mode(helsinki: City) -> None:
    with pytest.raises(BadRequestData, match="unknown or unloaded mode 'fly'"):
        helsinki.isochrones(np.array([24.94, 60.17]), [300], "fly")
