"""Street networks: splitting ways into segments, lengths, arcs and turns, the largest strongly
connected component, U-turns and turn restrictions (on small made-up junctions whose answer is
known, and on Brașov's real restrictions, read here independently with osmium)."""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from itertools import pairwise
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import osmium
import pyproj
import pytest
import scipy.sparse.csgraph

from cetate.city.network import Network, Segments, build_network, split_segments
from cetate.city.osm import RoadExtract, read_roads
from cetate.city.profiles import default_profile
from cetate.city.router import INF, Router
from cetate.city.service import City
from cetate.errors import BadRequestData

if TYPE_CHECKING:
    from conftest import OsmXml, PointOn

DRIVE = default_profile("drive")
FREE_DRIVE = replace(DRIVE, turn_restrictions=False)


def haversine_m(lon1: float, lat1: float, lon2: float, lat2: float) -> float:
    """The textbook formula, written out independently of network.polyline_lengths."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    a = (
        math.sin((p2 - p1) / 2) ** 2
        + math.cos(p1) * math.cos(p2) * math.sin(math.radians(lon2 - lon1) / 2) ** 2
    )
    return 2 * 6_371_008.8 * math.asin(math.sqrt(a))


def turn_set(network: Network) -> set[tuple[int, int]]:
    return set(zip(network.turn_from.tolist(), network.turn_to.tolist(), strict=True))


def arcs_of(network: Network, way: int, *, into: int | None = None, out_of: int | None = None):
    """Arcs of an OSM way ending at (``into``) or starting at (``out_of``) a junction index."""
    on_way = network.segments.way_ids[network.arc_segment] == way
    if into is not None:
        on_way &= network.arc_head == into
    if out_of is not None:
        on_way &= network.arc_tail == out_of
    return np.nonzero(on_way)[0].tolist()


# --- segments ------------------------------------------------------------------------------------


def test_split_at_junctions(tmp_path: Path, osm_xml: type[OsmXml]) -> None:
    osm = osm_xml()
    main = osm.way([(0, 0), (1, 0), (2, 0), (3, 0), (4, 0)], highway="residential")
    side = osm.way([(2, 0), (2, 1), (2, 2)], highway="residential")
    # A way touching nothing; a repeated node; a closed ring joined by a spur.
    lone = osm.way([(0, 5), (1, 5), (2, 5)], highway="service")
    stutter = osm.way([(0, 8), (1, 8), (1, 8), (2, 8)], highway="service")
    ring = osm.way([(5, 0), (6, 0), (6, 1), (5, 1), (5, 0)], highway="residential")
    spur = osm.way([(4, 0), (5, 0)], highway="residential")
    extract = read_roads(osm.write(tmp_path / "town.osm"))
    segments = split_segments(extract)

    by_way: dict[int, list[int]] = {}
    for i in range(len(segments)):
        by_way.setdefault(int(segments.way_ids[i]), []).append(i)
    # main is cut at the side street (2, 0) and nowhere else; its pieces are numbered in order.
    assert [segments.segment_id(i) for i in by_way[main]] == [f"{main}-0", f"{main}-1"]
    assert [len(segments.geometry(i)) for i in by_way[main]] == [3, 3]
    assert len(by_way[side]) == 1
    assert len(by_way[lone]) == 1 and len(segments.geometry(by_way[lone][0])) == 3
    # A node repeated within a way is a cut, but never a zero-length segment.
    assert [len(segments.geometry(i)) for i in by_way[stutter]] == [2, 2]
    assert (segments.length_m[by_way[stutter]] > 100).all()
    assert len(by_way[spur]) == 1
    # The ring starts and ends at (5, 0), where the spur joins: one segment from and to it.
    (ring_segment,) = by_way[ring]
    assert segments.u[ring_segment] == segments.v[ring_segment]
    # Each segment's ends are its junctions, at their nodes' locations.
    for i in range(len(segments)):
        line = segments.geometry(i)
        u, v = segments.u[i], segments.v[i]
        assert tuple(line[0]) == (segments.node_lon[u], segments.node_lat[u])
        assert tuple(line[-1]) == (segments.node_lon[v], segments.node_lat[v])
        assert segments.tags(i)["highway"] in ("residential", "service")
    # One ~100 m grid step is 111 m north-south.
    assert segments.length_m[by_way[side][0]] == pytest.approx(2 * 111.2, rel=0.01)


def test_lengths_against_references(helsinki: City) -> None:
    segments = helsinki.segments
    geod = pyproj.Geod(ellps="WGS84")
    rng = np.random.default_rng(7)
    worst_haversine = worst_geod = 0.0
    for i in rng.choice(len(segments), size=400, replace=False).tolist():
        line = segments.geometry(i)
        reference = sum(haversine_m(*line[k], *line[k + 1]) for k in range(len(line) - 1))
        ellipsoid = geod.line_length(line[:, 0], line[:, 1])
        length = segments.length_m[i]
        assert length == pytest.approx(reference, rel=1e-9, abs=1e-6)
        worst_haversine = max(worst_haversine, abs(length - reference))
        # The sphere against the ellipsoid: within 0.5 % (more north-south, less east-west).
        assert length == pytest.approx(ellipsoid, rel=5e-3, abs=1e-3)
        worst_geod = max(worst_geod, abs(length - ellipsoid) / max(ellipsoid, 1e-9))
    assert (segments.length_m >= 0).all()
    print(
        f"max |length - haversine| {worst_haversine:.2e} m; max rel diff vs Geod {worst_geod:.2e}"
    )


def test_segments_cover_every_way(helsinki_extract: RoadExtract, helsinki: City) -> None:
    """The pieces of a way put back together are the way: same nodes, same length."""
    segments = helsinki.segments
    way_length: dict[int, float] = {}
    way_points: dict[int, list[tuple[float, float]]] = {}
    for i in range(len(segments)):
        way = int(segments.way_ids[i])
        way_length[way] = way_length.get(way, 0.0) + float(segments.length_m[i])
        points = [tuple(p) for p in segments.geometry(i).tolist()]
        known = way_points.setdefault(way, [])
        if known:
            assert known[-1] == points[0], f"way {way}: pieces are not contiguous"
            points = points[1:]
        known.extend(points)
    locations = helsinki_extract.locations
    for way in helsinki_extract.ways:
        expected = [locations[ref] for ref in way.nodes]
        # Consecutive repeated nodes are not segments.
        expected = [p for k, p in enumerate(expected) if k == 0 or p != expected[k - 1]]
        assert way_points[way.id] == expected, f"way {way.id}"


def test_segments_of_the_cache_match_a_fresh_split(
    brasov_extract: RoadExtract, brasov: City
) -> None:
    fresh = split_segments(brasov_extract)
    for name in Segments.__dataclass_fields__:
        if name == "ways_tags":
            assert fresh.ways_tags == brasov.segments.ways_tags
        else:
            np.testing.assert_array_equal(getattr(fresh, name), getattr(brasov.segments, name))


# --- arcs and turns ------------------------------------------------------------------------------


@pytest.mark.parametrize("city_name", ["helsinki", "brasov"])
@pytest.mark.parametrize("mode", ["drive", "bike", "walk"])
def test_network_invariants(request: pytest.FixtureRequest, city_name: str, mode: str) -> None:
    city: City = request.getfixturevalue(city_name)
    network = city.routers[mode].network
    segments = network.segments
    profile = network.profile
    n = network.arc_count
    assert n > 0 and network.dropped_arcs >= 0
    # Every kept arc reaches every other one.
    count, _ = scipy.sparse.csgraph.connected_components(
        network.turn_matrix(), directed=True, connection="strong"
    )
    assert count == 1
    # The largest component is most of the network (a broken splitter shows here first).
    assert network.dropped_arcs < 0.2 * (n + network.dropped_arcs)
    # Arcs: the right ends, the allowed direction, the time of their length at their speed.
    seg = network.arc_segment
    np.testing.assert_array_equal(
        network.arc_tail, np.where(network.arc_forward, segments.u[seg], segments.v[seg])
    )
    np.testing.assert_array_equal(
        network.arc_head, np.where(network.arc_forward, segments.v[seg], segments.u[seg])
    )
    pairs = set(zip(seg.tolist(), network.arc_forward.tolist(), strict=True))
    assert len(pairs) == n, "an arc is duplicated"
    rng = np.random.default_rng(3)
    for arc in rng.choice(n, size=min(n, 500), replace=False).tolist():
        tags = segments.tags(int(seg[arc]))
        forward, backward = profile.directions(tags)
        assert forward if network.arc_forward[arc] else backward
        expected_ms = segments.length_m[seg[arc]] / (profile.speed_kmh(tags) / 3.6) * 1000
        assert network.arc_time_ms[arc] == round(expected_ms)
    assert (network.arc_time_ms >= 0).all() and (network.arc_time_ms < INF).all()
    # Turns join the arc's head to the next arc's tail; weights are the entered arc's time.
    np.testing.assert_array_equal(
        network.arc_head[network.turn_from], network.arc_tail[network.turn_to]
    )
    np.testing.assert_array_equal(network.turn_weights(), network.arc_time_ms[network.turn_to])
    assert len(turn_set(network)) == len(network.turn_from), "a turn is duplicated"


@pytest.mark.parametrize("city_name", ["helsinki", "brasov"])
@pytest.mark.parametrize("mode", ["drive", "bike", "walk"])
def test_u_turns_only_at_dead_ends(
    request: pytest.FixtureRequest, city_name: str, mode: str
) -> None:
    city: City = request.getfixturevalue(city_name)
    network = city.routers[mode].network
    seg = network.arc_segment
    out_degree = np.bincount(network.turn_from, minlength=network.arc_count)
    u_turns = seg[network.turn_from] == seg[network.turn_to]
    assert u_turns.any(), "no dead ends at all in a real city?"
    # A U-turn is the only way on from the arc it leaves: its head is a dead end.
    assert (out_degree[network.turn_from[u_turns]] == 1).all()
    # Conversely, at a dead end (the only arc out is the way back) the U-turn is there, except
    # where a turn restriction (no_u_turn) removed it.
    leaving = np.bincount(network.arc_tail, minlength=len(network.segments.node_ids))
    has_u_turn = np.zeros(network.arc_count, dtype=bool)
    has_u_turn[network.turn_from[u_turns]] = True
    two_way = np.zeros((len(network.segments), 2), dtype=bool)
    two_way[seg, (~network.arc_forward).astype(int)] = True
    dead_end = (leaving[network.arc_head] == 1) & two_way[seg].all(axis=1)
    if network.profile.turn_restrictions:
        assert has_u_turn[dead_end].mean() > 0.95
    else:
        assert has_u_turn[dead_end].all()


def test_unusable_extract(tmp_path: Path, osm_xml: type[OsmXml]) -> None:
    osm = osm_xml()
    osm.way([(0, 0), (1, 0)], highway="footway")
    extract = read_roads(osm.write(tmp_path / "paths.osm"))
    segments = split_segments(extract)
    with pytest.raises(BadRequestData, match="no road usable by mode 'drive'") as raised:
        build_network(extract, segments, DRIVE)
    assert "paths.osm" in raised.value.detail
    assert build_network(extract, segments, default_profile("walk")).arc_count == 2


# --- turn restrictions on a made-up crossing -----------------------------------------------------


@dataclass
class Crossing:
    extract: RoadExtract
    segments: Segments
    ways: dict[str, int]
    osm: OsmXml


@pytest.fixture
def crossing(tmp_path: Path, osm_xml: type[OsmXml]) -> Crossing:
    """A four-way crossing at (0, 0) with arms 300 m long (dead ends, so U-turns exist there)
    and a ring road joining the arms' ends, so a forbidden turn has a detour."""
    osm = osm_xml()
    ways = {
        "west": osm.way([(-3, 0), (0, 0)], highway="residential"),
        "east": osm.way([(0, 0), (3, 0)], highway="residential"),
        "south": osm.way([(0, -3), (0, 0)], highway="residential"),
        "north": osm.way([(0, 0), (0, 3)], highway="residential"),
        "ring": osm.way(
            [(-3, 0), (-3, 3), (0, 3), (3, 3), (3, 0), (3, -3), (0, -3), (-3, -3), (-3, 0)],
            highway="residential",
        ),
    }
    # From the south going north, left is west.
    osm.restriction("no_left_turn", ways["south"], (0, 0), ways["west"])
    # From the west going east: straight on only.
    osm.restriction("only_straight_on", ways["west"], (0, 0), ways["east"])
    extract = read_roads(osm.write(tmp_path / "crossing.osm"))
    return Crossing(extract, split_segments(extract), ways, osm)


def test_restrictions_on_a_crossing(crossing: Crossing) -> None:
    restricted = build_network(crossing.extract, crossing.segments, DRIVE)
    free = build_network(crossing.extract, crossing.segments, FREE_DRIVE)
    assert restricted.restrictions_applied == 2 and restricted.restrictions_skipped == 0
    assert free.restrictions_applied == 0
    centre = int(np.nonzero(crossing.segments.node_ids == crossing.osm.at(0, 0))[0][0])
    w = crossing.ways

    def turns(network: Network, a: str, b: str) -> set[tuple[int, int]]:
        (into,) = arcs_of(network, w[a], into=centre)
        (out,) = arcs_of(network, w[b], out_of=centre)
        return {(into, out)} & turn_set(network)

    assert turns(free, "south", "west")
    assert not turns(restricted, "south", "west")
    assert turns(restricted, "south", "north") and turns(restricted, "south", "east")
    assert turns(restricted, "west", "east")
    assert not turns(restricted, "west", "north") and not turns(restricted, "west", "south")
    assert turns(free, "west", "north") and turns(free, "west", "south")
    # No U-turn at the crossing itself (not a dead end), with or without restrictions.
    assert not turns(free, "south", "south") and not turns(free, "west", "west")
    # Everything else is the same.
    assert turn_set(free) - turn_set(restricted) == {
        *turns(free, "south", "west"),
        *turns(free, "west", "north"),
        *turns(free, "west", "south"),
    }


def test_restricted_route_takes_the_detour(crossing: Crossing) -> None:
    restricted = Router(build_network(crossing.extract, crossing.segments, DRIVE))
    free = Router(build_network(crossing.extract, crossing.segments, FREE_DRIVE))
    origin = crossing.osm.lonlat(0, -1)  # on the south arm
    destination = crossing.osm.lonlat(-1, 0)  # on the west arm
    direct = free.route(origin, destination)
    detour = restricted.route(origin, destination)
    assert direct.distance_m == pytest.approx(2 * 111.2, rel=0.02)
    # Back down the south arm, round the ring, in along the west arm: 2 + 3 + 3 + 2 steps.
    assert detour.distance_m == pytest.approx(10 * 111.2, rel=0.02)
    assert detour.duration_s > direct.duration_s
    assert free.matrix(origin[None], destination[None])[0, 0] == pytest.approx(direct.duration_s)
    assert restricted.matrix(origin[None], destination[None])[0, 0] == pytest.approx(
        detour.duration_s
    )


def test_restriction_variants(tmp_path: Path, osm_xml: type[OsmXml]) -> None:
    osm = osm_xml()
    a = osm.way([(-2, 0), (0, 0)], highway="residential")
    b = osm.way([(0, 0), (2, 0)], highway="residential")
    c = osm.way([(0, 0), (0, 2)], highway="residential")
    osm.restriction("no_right_turn", a, (0, 0), c)
    path = osm.write(tmp_path / "variants.osm")
    text = path.read_text()
    # restriction:motorcar wins; except=motorcar and via-way restrictions are not applied.
    extra = (
        f'<relation id="10" version="1"><member type="way" ref="{b}" role="from"/>'
        f'<member type="node" ref="{osm.at(0, 0)}" role="via"/>'
        f'<member type="way" ref="{c}" role="to"/><tag k="type" v="restriction"/>'
        f'<tag k="restriction:motorcar" v="no_left_turn"/></relation>\n'
        f'<relation id="11" version="1"><member type="way" ref="{c}" role="from"/>'
        f'<member type="node" ref="{osm.at(0, 0)}" role="via"/>'
        f'<member type="way" ref="{a}" role="to"/><tag k="type" v="restriction"/>'
        f'<tag k="restriction" v="no_right_turn"/><tag k="except" v="bicycle;motorcar"/>'
        f"</relation>\n"
        f'<relation id="12" version="1"><member type="way" ref="{a}" role="from"/>'
        f'<member type="way" ref="{b}" role="via"/>'
        f'<member type="way" ref="{c}" role="to"/><tag k="type" v="restriction"/>'
        f'<tag k="restriction" v="no_u_turn"/></relation>\n'
    )
    path.write_text(text.replace("</osm>", extra + "</osm>"))
    extract = read_roads(path)
    kinds = {r.id: r.kind for r in extract.restrictions}
    assert kinds == {1: "no_right_turn", 10: "no_left_turn"}
    assert extract.unsupported_restrictions == 2
    network = build_network(extract, split_segments(extract), DRIVE)
    assert network.restrictions_applied == 2
    assert network.restrictions_skipped == 2  # the two not read count as skipped


# --- Brașov's real restrictions ------------------------------------------------------------------


@dataclass(frozen=True)
class RealRestriction:
    id: int
    kind: str
    from_way: int
    via_node: int
    to_way: int


@pytest.fixture(scope="module")
def brasov_restrictions(brasov_pbf: Path) -> list[RealRestriction]:
    """no_left_turn and only_straight_on restrictions via a node, read straight from the file."""
    found = []
    relations = osmium.FileProcessor(str(brasov_pbf), osmium.osm.RELATION).with_filter(
        osmium.filter.TagFilter(("type", "restriction"))
    )
    for relation in relations:
        kind = relation.tags.get("restriction")
        if kind not in ("no_left_turn", "only_straight_on") or "except" in relation.tags:
            continue
        roles: dict[str, list[tuple[str, int]]] = {}
        for member in relation.members:
            roles.setdefault(member.role, []).append((member.type, member.ref))
        if [t for t, _ in roles.get("via", [])] != ["n"]:
            continue
        if len(roles.get("from", [])) != 1 or len(roles.get("to", [])) != 1:
            continue
        found.append(
            RealRestriction(
                relation.id, kind, roles["from"][0][1], roles["via"][0][1], roles["to"][0][1]
            )
        )
    assert {r.kind for r in found} == {"no_left_turn", "only_straight_on"}
    return found


def test_brasov_restrictions_are_read(
    brasov_extract: RoadExtract, brasov_restrictions: list[RealRestriction]
) -> None:
    read = {r.id: r for r in brasov_extract.restrictions}
    for expected in brasov_restrictions:
        got = read[expected.id]
        assert (got.kind, got.from_way, got.via_node, got.to_way) == (
            expected.kind,
            expected.from_way,
            expected.via_node,
            expected.to_way,
        )


def successors(network: Network) -> dict[int, list[int]]:
    found: dict[int, list[int]] = {}
    for a, b in zip(network.turn_from.tolist(), network.turn_to.tolist(), strict=True):
        found.setdefault(a, []).append(b)
    return found


def forbidden_pairs(
    network: Network, after: dict[int, list[int]], restriction: RealRestriction
) -> set[tuple[int, int]]:
    """The (from arc, to arc) turns a restriction forbids, among the turns of ``network``
    (``after``: its turns by the arc they leave)."""
    junctions = np.nonzero(network.segments.node_ids == restriction.via_node)[0]
    if len(junctions) == 0:
        return set()
    arc_way = network.segments.way_ids[network.arc_segment]
    pairs = set()
    for a in arcs_of(network, restriction.from_way, into=int(junctions[0])):
        for b in after.get(a, []):
            on_to_way = arc_way[b] == restriction.to_way
            if on_to_way == (restriction.kind == "no_left_turn"):
                pairs.add((a, b))
    return pairs


@pytest.fixture(scope="module")
def free_brasov(brasov_extract: RoadExtract, brasov: City) -> Router:
    """Brașov's drive network without turn restrictions (same segments, so same arc ids as far
    as both components agree)."""
    return Router(build_network(brasov_extract, brasov.segments, FREE_DRIVE))


def test_brasov_forbidden_turns_are_absent(
    brasov: City, free_brasov: Router, brasov_restrictions: list[RealRestriction]
) -> None:
    restricted = brasov.routers["drive"].network
    free = free_brasov.network
    restricted_after, free_after = successors(restricted), successors(free)
    checked = 0
    for restriction in brasov_restrictions:
        if not forbidden_pairs(free, free_after, restriction):
            # Forbids nothing: only_straight_on where straight on is the only way (64 of them),
            # no_left_turn into a one-way coming the other way (3), from ways cut off at the
            # extract's edge (5).
            continue
        checked += 1
        assert not forbidden_pairs(restricted, restricted_after, restriction), restriction
    print(f"{checked} of {len(brasov_restrictions)} restrictions checked")
    assert checked >= 200
    assert restricted.restrictions_applied > 700


def test_brasov_routes_obey_restrictions(
    brasov: City,
    free_brasov: Router,
    brasov_restrictions: list[RealRestriction],
    on_segment: PointOn,
) -> None:
    """From just before the junction on the from way to just after it on the to way: without
    restrictions the route makes the forbidden turn; with them it goes another, longer way."""
    router = brasov.routers["drive"]
    network = free_brasov.network
    after = successors(network)
    used = 0
    for restriction in brasov_restrictions:
        pairs = forbidden_pairs(network, after, restriction)
        if not pairs:
            continue
        a, b = min(pairs)
        seg_a, seg_b = int(network.arc_segment[a]), int(network.arc_segment[b])
        if seg_a == seg_b or network.segments.length_m[[seg_a, seg_b]].min() < 20:
            continue
        start = on_segment(router, seg_a, 0.7 if network.arc_forward[a] else 0.3)
        end = on_segment(router, seg_b, 0.3 if network.arc_forward[b] else 0.7)
        free_route = free_brasov.route(start, end)
        if free_route.origin.segment != seg_a or free_route.destination.segment != seg_b:
            continue  # snapped to a road lying on top (a dual carriageway, a bridge)
        free_path = list(pairwise(free_route.segments))
        if (seg_a, seg_b) not in free_path:
            continue  # even unrestricted, another way is quicker
        route = router.route(start, end)
        path = list(pairwise(route.segments))
        assert (seg_a, seg_b) not in path, restriction
        assert route.duration_s > free_route.duration_s, restriction
        assert router.matrix(start[None], end[None])[0, 0] == pytest.approx(route.duration_s)
        used += 1
    print(f"{used} restricted routes compared")
    assert used >= 10
