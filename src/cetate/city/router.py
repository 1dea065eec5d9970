"""Routes, travel-time matrices and nearest-by-time over one mode's network.

Queries run on a Customizable Contraction Hierarchy (RoutingKit through pyroutingkit) of the
turn graph. Closures only change weights, so they cost a re-customization (milliseconds), not a
rebuild. A point may lie anywhere along a segment: it enters the turn graph through the arcs of
its segment, with the part of the arc still to travel as the starting cost.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyroutingkit
import shapely
import shapely.ops

from cetate.city import trees
from cetate.city.network import Floats, Ints, Network
from cetate.city.snap import DEFAULT_MAX_SNAP_M, Snap, SnapIndex
from cetate.errors import BadRequestData

INF = pyroutingkit.INF_WEIGHT


@dataclass(frozen=True)
class Route:
    duration_s: float
    distance_m: float
    coordinates: list[tuple[float, float]]  # lon, lat along the route
    segments: list[int]  # segment index of each arc travelled, in order
    origin: Snap
    destination: Snap


@dataclass(frozen=True)
class Entry:
    """The ways a snapped point enters (as origin) or leaves (as destination) the turn graph."""

    arcs: Ints
    position: Floats  # fraction of each arc already behind the point (in the arc's direction)


class Router:
    def __init__(
        self, network: Network, topology_dir: Path | None = None, max_snap_m: float | None = None
    ) -> None:
        self.network = network
        self.index = SnapIndex(network, max_snap_m or DEFAULT_MAX_SNAP_M)
        self._lock = threading.Lock()
        self._cch = pyroutingkit.CCH()
        # False when a topology was built here (none given, or the saved one did not fit).
        self.topology_loaded = topology_dir is not None and topology_fits(topology_dir, network)
        if self.topology_loaded:
            self._cch.load_topology(str(topology_dir))
        else:
            lon = network.segments.node_lon[network.arc_head].astype(np.float32)
            lat = network.segments.node_lat[network.arc_head].astype(np.float32)
            self._cch.build_topology(
                network.turn_from.astype(np.uint32),
                network.turn_to.astype(np.uint32),
                lat,
                lon,
                node_count=network.arc_count,
            )
        self._base_weights = network.turn_weights()
        self._blocked: frozenset[int] = frozenset()
        self._cch.customize_weights(self._base_weights.astype(np.uint32))
        # Arcs of each segment: column 0 runs in node order, column 1 against it; -1 if none.
        self.segment_arcs = np.full((len(network.segments), 2), -1, dtype=np.int64)
        self.segment_arcs[network.arc_segment, (~network.arc_forward).astype(np.int64)] = np.arange(
            network.arc_count
        )
        self.arc_length_m = network.segments.length_m[network.arc_segment]

    def save_topology(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self._cch.save_topology(str(directory))

    # -- closures ----------------------------------------------------------------------------

    def blocked_arcs(self, blocked_segments: frozenset[int]) -> Ints:
        rows = self.segment_arcs[sorted(blocked_segments)].ravel()
        return rows[rows >= 0]

    def turn_weights(self, blocked_segments: frozenset[int]) -> Ints:
        weights = self._base_weights.copy()
        if blocked_segments:
            closed = np.zeros(self.network.arc_count, dtype=np.bool_)
            closed[self.blocked_arcs(blocked_segments)] = True
            weights[closed[self.network.turn_to]] = INF
        return weights

    def _use(self, blocked: frozenset[int]) -> None:
        """Customize the hierarchy for this set of closed segments (caller holds the lock)."""
        if blocked != self._blocked:
            self._cch.customize_weights(self.turn_weights(blocked).astype(np.uint32))
            self._blocked = blocked

    # -- points ------------------------------------------------------------------------------

    def snap(self, lonlat: Floats, blocked: frozenset[int] = frozenset()) -> list[Snap]:
        points = np.asarray(lonlat, dtype=np.float64)
        # One point may come flat; anything else must already be pairs (check_points says so):
        # reshape(-1, 2) would read two [lon, lat, alt] triples as three made-up points.
        return self.index.snap(points.reshape(1, -1) if points.ndim == 1 else points, blocked)

    def entry(self, snap: Snap, blocked: frozenset[int]) -> Entry:
        arcs = []
        positions = []
        for column, position in ((0, snap.fraction), (1, 1.0 - snap.fraction)):
            arc = int(self.segment_arcs[snap.segment, column])
            if arc >= 0 and snap.segment not in blocked:
                arcs.append(arc)
                positions.append(position)
        return Entry(np.array(arcs, dtype=np.int64), np.array(positions, dtype=np.float64))

    # -- queries -----------------------------------------------------------------------------

    def matrix(
        self,
        origins: Floats,
        destinations: Floats,
        blocked: frozenset[int] = frozenset(),
    ) -> Floats:
        """Travel times in seconds, origins x destinations; ``inf`` where unreachable."""
        sources = [self.entry(s, blocked) for s in self.snap(origins, blocked)]
        targets = [self.entry(s, blocked) for s in self.snap(destinations, blocked)]
        return self.entry_matrix(sources, targets, blocked)

    def entry_matrix(
        self, sources: list[Entry], targets: list[Entry], blocked: frozenset[int]
    ) -> Floats:
        source_arcs, source_of = _flatten(sources)
        target_arcs, target_of = _flatten(targets)
        source_position = np.concatenate([e.position for e in sources] or [np.zeros(0)])
        target_position = np.concatenate([e.position for e in targets] or [np.zeros(0)])
        times = self.network.arc_time_ms.astype(np.float64)
        with self._lock:
            self._use(blocked)
            unique_sources, source_row = np.unique(source_arcs, return_inverse=True)
            unique_targets, target_col = np.unique(target_arcs, return_inverse=True)
            raw = self._cch.distances_many_to_many(
                unique_sources.astype(np.uint32), unique_targets.astype(np.uint32)
            ).astype(np.float64)
            raw[raw >= INF] = np.inf
            between = raw[np.ix_(source_row, target_col)]
            start = (1.0 - source_position) * times[source_arcs]
            left = (1.0 - target_position) * times[target_arcs]
            total = start[:, None] + between - left[None, :]
            # A destination behind the origin on the same arc: leave the arc and come back.
            behind = (source_arcs[:, None] == target_arcs[None, :]) & (total < 0)
            loops: dict[int, float] = {}  # one way round per arc, however many pairs need it
            for i, j in zip(*np.nonzero(behind), strict=True):
                arc = int(source_arcs[i])
                if arc not in loops:
                    loops[arc] = self._loop_path(arc)[0]
                total[i, j] = start[i] + loops[arc] - left[j]
        result = np.full((len(sources), len(targets)), np.inf)
        if len(source_arcs) and len(target_arcs):
            np.minimum.at(result, (source_of[:, None], target_of[None, :]), total)
        return np.asarray(result / 1000.0, dtype=np.float64)

    def travel_matrices(
        self, points: Floats, blocked: frozenset[int] = frozenset()
    ) -> tuple[Floats, Floats]:
        """Seconds and metres between every two of ``points`` (N x N, ``inf`` where
        unreachable): the metres are those of the fastest way, the distance actually travelled.
        The times are ``matrix(points, points, blocked)``'s to the millisecond."""
        entries = [self.entry(s, blocked) for s in self.snap(points, blocked)]
        # Dijkstra on a graph of its own: the shared hierarchy is not used, so no lock is taken.
        weights = self.turn_weights(blocked).astype(np.float64)
        weights[weights >= INF] = np.inf
        return trees.travel_matrices(self.network, weights, self.arc_length_m, entries, entries)

    def route(
        self, origin: Floats, destination: Floats, blocked: frozenset[int] = frozenset()
    ) -> Route:
        start_snap, end_snap = self.snap(np.vstack([origin, destination]), blocked)
        source = self.entry(start_snap, blocked)
        target = self.entry(end_snap, blocked)
        times = self.network.arc_time_ms.astype(np.float64)
        best: tuple[float, list[int], float, float] | None = None
        with self._lock:
            self._use(blocked)
            for s_arc, s_pos in zip(source.arcs.tolist(), source.position.tolist(), strict=True):
                for t_arc, t_pos in zip(
                    target.arcs.tolist(), target.position.tolist(), strict=True
                ):
                    if s_arc == t_arc and t_pos >= s_pos:
                        total, path = (t_pos - s_pos) * times[s_arc], [s_arc]
                    else:
                        if s_arc == t_arc:
                            distance, path = self._loop_path(s_arc)
                        else:
                            distance, path = self._cch.query(s_arc, t_arc)
                        if distance >= INF:
                            continue
                        total = (1 - s_pos) * times[s_arc] + distance - (1 - t_pos) * times[t_arc]
                    if best is None or total < best[0]:
                        best = (total, list(path), s_pos, t_pos)
        if best is None:
            raise BadRequestData("no route: the destination cannot be reached (closed roads?)")
        total, path, s_pos, t_pos = best
        return Route(
            duration_s=total / 1000.0,
            distance_m=self._path_length(path, s_pos, t_pos),
            coordinates=self._path_coordinates(path, s_pos, t_pos),
            segments=[int(self.network.arc_segment[a]) for a in path],
            origin=start_snap,
            destination=end_snap,
        )

    def _loop_path(self, arc: int) -> tuple[float, list[int]]:
        """Shortest way from the end of ``arc`` round and back to its end (caller holds the
        lock): for a destination behind the origin on the same one-way arc."""
        best: tuple[float, list[int]] = (np.inf, [])
        turns = np.nonzero(self.network.turn_from == arc)[0]
        weights = self._base_weights[turns].copy()
        if self._blocked:
            closed = np.isin(self.network.turn_to[turns], self.blocked_arcs(self._blocked))
            weights[closed] = INF
        for turn, weight in zip(turns.tolist(), weights.tolist(), strict=True):
            if weight >= INF:
                continue
            distance, path = self._cch.query(int(self.network.turn_to[turn]), arc)
            if distance < INF and weight + distance < best[0]:
                best = (float(weight + distance), [arc, *path])
        return best

    def _path_length(self, path: list[int], s_pos: float, t_pos: float) -> float:
        lengths = self.arc_length_m[path]
        if len(path) == 1:
            return float((t_pos - s_pos) * lengths[0])
        return float((1 - s_pos) * lengths[0] + lengths[1:-1].sum() + t_pos * lengths[-1])

    def _path_coordinates(
        self, path: list[int], s_pos: float, t_pos: float
    ) -> list[tuple[float, float]]:
        pieces = []
        for k, arc in enumerate(path):
            start = s_pos if k == 0 else 0.0
            end = t_pos if k == len(path) - 1 else 1.0
            pieces.append(self.arc_coordinates(arc, start, end))
        coordinates: list[tuple[float, float]] = []
        for piece in pieces:
            for point in piece:
                if not coordinates or coordinates[-1] != point:
                    coordinates.append(point)
        return coordinates

    def arc_coordinates(self, arc: int, start: float, end: float) -> list[tuple[float, float]]:
        """The arc's geometry (lon, lat) between two fractions of its length. Fractions are of
        the metric length (as snapping measures them), so a part is cut in metres."""
        segment = int(self.network.arc_segment[arc])
        if start > 0.0 or end < 1.0:
            if not self.network.arc_forward[arc]:
                start, end = 1.0 - end, 1.0 - start
            line = self.index.lines[int(np.searchsorted(self.index.segment_ids, segment))]
            piece = shapely.ops.substring(line, start, end, normalized=True)
            coords = np.asarray(shapely.get_coordinates(self.index.projection.to_lonlat(piece)))
            if not self.network.arc_forward[arc]:
                coords = coords[::-1]
        else:
            coords = self.network.segments.geometry(segment)
            if not self.network.arc_forward[arc]:
                coords = coords[::-1]
        return [(float(x), float(y)) for x, y in coords]

    def nearest(
        self, origin: Floats, candidates: Floats, k: int, blocked: frozenset[int] = frozenset()
    ) -> list[tuple[int, float]]:
        """The ``k`` candidates reached soonest from ``origin``: (candidate index, seconds)."""
        if k < 1:
            raise BadRequestData("k must be at least 1")
        durations = self.matrix(np.asarray(origin).reshape(1, -1), candidates, blocked)[0]
        order = np.argsort(durations, kind="stable")[:k]
        return [(int(i), float(durations[i])) for i in order if np.isfinite(durations[i])]


def topology_fits(directory: Path, network: Network) -> bool:
    """Whether a saved CCH topology is whole and of this network. RoutingKit trusts the files it
    reads: an emptied one (a crash before the data reached the disk) crashes the process and a
    foreign one answers wrongly, so a topology that does not fit is built again instead."""
    try:
        saved = {
            name: np.fromfile(directory / name, dtype=np.uint32)
            for name in ("node_count", "order", "rank", "tail", "head")
        }
    except (OSError, ValueError):
        return False
    n = network.arc_count
    order, rank = saved["order"], saved["rank"]
    return bool(
        np.array_equal(saved["node_count"], [n])
        and np.array_equal(saved["tail"], network.turn_from)
        and np.array_equal(saved["head"], network.turn_to)
        and len(order) == n
        and len(rank) == n
        and np.array_equal(np.sort(order), np.arange(n))
        and np.array_equal(rank[order], np.arange(n))
    )


def _flatten(entries: list[Entry]) -> tuple[Ints, Ints]:
    arcs = np.concatenate([e.arcs for e in entries] or [np.zeros(0, dtype=np.int64)])
    owner = np.repeat(np.arange(len(entries)), [len(e.arcs) for e in entries])
    return arcs.astype(np.int64), owner.astype(np.int64)
