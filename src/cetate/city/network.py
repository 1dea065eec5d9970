"""Street networks as arrays: the roads split into segments at junctions (shared by all modes),
and per mode the directed arcs over those segments and the allowed turns between arcs.

The turn graph is "edge-based": its vertices are the directed arcs and its edges the allowed
turns, weighted by the travel time of the arc turned into. This is what makes turn
restrictions exact (a forbidden turn is a missing edge) and lets a query start or end anywhere
along a segment. Times are whole milliseconds, so every algorithm that sums them (CCH, Dijkstra,
networkx) gets exactly the same totals.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import scipy.sparse
import scipy.sparse.csgraph

from cetate.city.osm import RoadExtract
from cetate.city.profiles import Profile
from cetate.errors import BadRequestData

Ints = npt.NDArray[np.int64]
Floats = npt.NDArray[np.float64]
Bools = npt.NDArray[np.bool_]

EARTH_RADIUS_M = 6_371_008.8


@dataclass(frozen=True)
class Segments:
    """Undirected pieces of OSM ways between junctions; index i is segment i everywhere."""

    node_ids: Ints  # OSM id of each junction node
    node_lon: Floats
    node_lat: Floats
    way_ids: Ints  # OSM way of each segment
    piece: Ints  # position of the segment along its way (0, 1, ...)
    way_index: Ints  # index into ``ways_tags``
    u: Ints  # junction index of the first node (way order)
    v: Ints  # junction index of the last node
    length_m: Floats
    coord_offsets: Ints  # segment i's points are coords[offsets[i]:offsets[i+1]]
    coords: Floats  # (n, 2) lon, lat
    ways_tags: list[dict[str, str]]

    def __len__(self) -> int:
        return len(self.way_ids)

    def segment_id(self, index: int) -> str:
        return f"{self.way_ids[index]}-{self.piece[index]}"

    def geometry(self, index: int) -> Floats:
        return self.coords[self.coord_offsets[index] : self.coord_offsets[index + 1]]

    def tags(self, index: int) -> dict[str, str]:
        return self.ways_tags[int(self.way_index[index])]


@dataclass(frozen=True)
class Network:
    """One mode's routable graph: arcs (directed segments) and turns between arcs."""

    profile: Profile
    segments: Segments
    arc_segment: Ints
    arc_forward: Bools  # True if the arc runs in the way's node order
    arc_tail: Ints  # junction index
    arc_head: Ints
    arc_time_ms: Ints
    turn_from: Ints  # arc index
    turn_to: Ints
    dropped_arcs: int  # outside the largest strongly connected component
    restrictions_applied: int
    restrictions_skipped: int

    @property
    def arc_count(self) -> int:
        return len(self.arc_segment)

    def turn_weights(self) -> Ints:
        """Weight of each turn: the time of the arc it enters."""
        return self.arc_time_ms[self.turn_to]

    def turn_matrix(self, weights: Ints | None = None) -> scipy.sparse.csr_matrix:
        """The turn graph as a CSR matrix for scipy's Dijkstra. Zero weights are stored as a
        tiny epsilon because a sparse matrix cannot hold an explicit zero edge."""
        values = (self.turn_weights() if weights is None else weights).astype(np.float64)
        values[values == 0] = 1e-9
        n = self.arc_count
        return scipy.sparse.csr_matrix((values, (self.turn_from, self.turn_to)), shape=(n, n))


def split_segments(extract: RoadExtract) -> Segments:
    """Cut every way at nodes shared with another way (or repeated within it) and at its ends."""
    uses: dict[int, int] = {}
    for way in extract.ways:
        for index, ref in enumerate(way.nodes):
            # Ends count twice so that they are junctions even on a way nobody else touches.
            uses[ref] = uses.get(ref, 0) + (2 if index in (0, len(way.nodes) - 1) else 1)
    junction_index: dict[int, int] = {}
    way_ids: list[int] = []
    pieces: list[int] = []
    way_index: list[int] = []
    us: list[int] = []
    vs: list[int] = []
    offsets = [0]
    points: list[tuple[float, float]] = []
    locations = extract.locations

    def junction(ref: int) -> int:
        found = junction_index.get(ref)
        if found is None:
            found = junction_index[ref] = len(junction_index)
        return found

    for w, way in enumerate(extract.ways):
        start = 0
        piece = 0
        nodes = way.nodes
        for i in range(1, len(nodes)):
            if uses[nodes[i]] < 2 and i != len(nodes) - 1:
                continue
            if nodes[i] == nodes[start] and i - start == 1:
                start = i  # a repeated node, not a segment
                continue
            points.extend(locations[ref] for ref in nodes[start : i + 1])
            offsets.append(len(points))
            way_ids.append(way.id)
            pieces.append(piece)
            way_index.append(w)
            us.append(junction(nodes[start]))
            vs.append(junction(nodes[i]))
            piece += 1
            start = i
    node_ids = np.empty(len(junction_index), dtype=np.int64)
    for ref, index in junction_index.items():
        node_ids[index] = ref
    node_lon = np.array([locations[int(r)][0] for r in node_ids], dtype=np.float64)
    node_lat = np.array([locations[int(r)][1] for r in node_ids], dtype=np.float64)
    coords = np.array(points, dtype=np.float64).reshape(-1, 2)
    offsets_array = np.array(offsets, dtype=np.int64)
    return Segments(
        node_ids=node_ids,
        node_lon=node_lon,
        node_lat=node_lat,
        way_ids=np.array(way_ids, dtype=np.int64),
        piece=np.array(pieces, dtype=np.int64),
        way_index=np.array(way_index, dtype=np.int64),
        u=np.array(us, dtype=np.int64),
        v=np.array(vs, dtype=np.int64),
        length_m=polyline_lengths(coords, offsets_array),
        coord_offsets=offsets_array,
        coords=coords,
        ways_tags=[way.tags for way in extract.ways],
    )


def polyline_lengths(coords: Floats, offsets: Ints) -> Floats:
    """Haversine length of each polyline ``coords[offsets[i]:offsets[i+1]]``, in metres."""
    lon = np.radians(coords[:, 0])
    lat = np.radians(coords[:, 1])
    step = np.zeros(len(coords))
    if len(coords) > 1:
        dlat = lat[1:] - lat[:-1]
        dlon = lon[1:] - lon[:-1]
        a = np.sin(dlat / 2) ** 2 + np.cos(lat[1:]) * np.cos(lat[:-1]) * np.sin(dlon / 2) ** 2
        step[1:] = 2 * EARTH_RADIUS_M * np.arcsin(np.sqrt(np.minimum(a, 1.0)))
    cumulative = np.cumsum(step)
    starts = offsets[:-1]
    ends = offsets[1:] - 1
    return np.asarray(cumulative[ends] - cumulative[starts], dtype=np.float64)


def build_network(extract: RoadExtract, segments: Segments, profile: Profile) -> Network:
    """The mode's arcs and turns, turn restrictions applied, reduced to the largest strongly
    connected component (so every kept arc can reach every other one)."""
    arc_segment: list[int] = []
    arc_forward: list[bool] = []
    speeds: list[float] = []
    for index in range(len(segments)):
        tags = segments.tags(index)
        forward, backward = profile.directions(tags)
        if not (forward or backward):
            continue
        speed = profile.speed_kmh(tags)
        for allowed, direction in ((forward, True), (backward, False)):
            if allowed:
                arc_segment.append(index)
                arc_forward.append(direction)
                speeds.append(speed)
    if not arc_segment:
        raise BadRequestData(f"{extract.path}: no road usable by mode {profile.mode!r}")
    seg = np.array(arc_segment, dtype=np.int64)
    fwd = np.array(arc_forward, dtype=np.bool_)
    tail = np.where(fwd, segments.u[seg], segments.v[seg])
    head = np.where(fwd, segments.v[seg], segments.u[seg])
    time_ms = np.rint(segments.length_m[seg] / (np.array(speeds) / 3.6) * 1000).astype(np.int64)
    turn_from, turn_to = _all_turns(seg, tail, head, len(segments.node_ids))
    applied = skipped = 0
    if profile.turn_restrictions:
        keep, applied, skipped = _apply_restrictions(
            extract, segments, seg, tail, head, turn_from, turn_to
        )
        turn_from, turn_to = turn_from[keep], turn_to[keep]
    return _largest_component(
        Network(
            profile=profile,
            segments=segments,
            arc_segment=seg,
            arc_forward=fwd,
            arc_tail=tail,
            arc_head=head,
            arc_time_ms=time_ms,
            turn_from=turn_from,
            turn_to=turn_to,
            dropped_arcs=0,
            restrictions_applied=applied,
            restrictions_skipped=skipped
            + (extract.unsupported_restrictions if profile.turn_restrictions else 0),
        )
    )


def _all_turns(seg: Ints, tail: Ints, head: Ints, node_count: int) -> tuple[Ints, Ints]:
    """Every pair (arc into a junction, arc out of it), without U-turns onto the same segment
    except at dead ends, where turning back is the only way on."""
    by_tail = np.argsort(tail, kind="stable")
    out_count = np.bincount(tail, minlength=node_count)
    out_start = np.concatenate(([0], np.cumsum(out_count)[:-1]))
    counts = out_count[head]
    turn_from = np.repeat(np.arange(len(seg)), counts)
    # Position of each turn within its from-arc's block, added to the block start.
    block_start = np.repeat(np.cumsum(counts) - counts, counts)
    within = np.arange(len(turn_from)) - block_start
    turn_to = by_tail[np.repeat(out_start[head], counts) + within]
    u_turn = seg[turn_from] == seg[turn_to]
    dead_end = out_count[head[turn_from]] == 1
    keep = ~u_turn | dead_end
    return turn_from[keep], turn_to[keep]


def _apply_restrictions(
    extract: RoadExtract,
    segments: Segments,
    seg: Ints,
    tail: Ints,
    head: Ints,
    turn_from: Ints,
    turn_to: Ints,
) -> tuple[Bools, int, int]:
    junction_of = {int(ref): i for i, ref in enumerate(segments.node_ids)}
    arc_way = segments.way_ids[seg]
    forbidden: set[tuple[int, int]] = set()
    into: dict[tuple[int, int], list[int]] = {}  # (way, junction) -> arcs of the way into it
    out_of: dict[int, list[int]] = {}  # junction -> arcs out of it
    for arc in range(len(seg)):
        into.setdefault((int(arc_way[arc]), int(head[arc])), []).append(arc)
        out_of.setdefault(int(tail[arc]), []).append(arc)
    applied = skipped = 0
    for restriction in extract.restrictions:
        via = junction_of.get(restriction.via_node)
        from_arcs = into.get((restriction.from_way, via), []) if via is not None else []
        if via is None or not from_arcs:
            skipped += 1  # the via node or the from way is not on this mode's network
            continue
        only = restriction.kind.startswith("only_")
        hits = 0
        for arc_out in out_of.get(via, []):
            on_to_way = int(arc_way[arc_out]) == restriction.to_way
            if on_to_way != only:
                hits += 1
                forbidden.update((arc_in, arc_out) for arc_in in from_arcs)
        applied += 1 if hits or only else 0
        skipped += 0 if hits or only else 1
    if not forbidden:
        return np.ones(len(turn_from), dtype=np.bool_), applied, skipped
    n = len(seg)
    keys = turn_from * n + turn_to
    banned = np.array([a * n + b for a, b in forbidden], dtype=np.int64)
    return ~np.isin(keys, banned), applied, skipped


def _largest_component(network: Network) -> Network:
    n = network.arc_count
    graph = scipy.sparse.csr_matrix(
        (np.ones(len(network.turn_from)), (network.turn_from, network.turn_to)), shape=(n, n)
    )
    _, labels = scipy.sparse.csgraph.connected_components(graph, directed=True, connection="strong")
    largest = np.bincount(labels).argmax()
    keep = labels == largest
    new_index = np.full(n, -1, dtype=np.int64)
    new_index[keep] = np.arange(int(keep.sum()))
    turn_keep = keep[network.turn_from] & keep[network.turn_to]
    return Network(
        profile=network.profile,
        segments=network.segments,
        arc_segment=network.arc_segment[keep],
        arc_forward=network.arc_forward[keep],
        arc_tail=network.arc_tail[keep],
        arc_head=network.arc_head[keep],
        arc_time_ms=network.arc_time_ms[keep],
        turn_from=new_index[network.turn_from[turn_keep]],
        turn_to=new_index[network.turn_to[turn_keep]],
        dropped_arcs=int(n - keep.sum()),
        restrictions_applied=network.restrictions_applied,
        restrictions_skipped=network.restrictions_skipped,
    )
