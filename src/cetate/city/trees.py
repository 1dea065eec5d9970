"""Travel times and the distance actually driven, between many points, from shortest-path trees.

The CCH gives times but not paths in bulk, and a planner needs the length of the *fastest*
path as well (what a vehicle drives, for fuel and emissions). So each source gets one Dijkstra
(scipy) over the turn graph, keeping the tree of predecessors; the metres along the tree to the
target arcs then come from pointer jumping over those arcs and their ancestors (each adds its
parent's total and jumps to its grandparent: log2(depth) vectorised rounds, not one Python step
per arc). The times are the CCH's to far below a millisecond (the same whole-millisecond arc
times, summed in another order). 503 points of Brașov by car: 2 to 2.6 s, most of it
Dijkstra, against 0.3 s for the CCH's times alone.

A source enters the graph through a virtual node of its own, joined to its entry arcs by the
part of each arc still ahead of the point, so one Dijkstra covers both directions of its segment.
A target arc that is also one of the source's entry arcs is settled by hand: the part of it
between the two points when the target lies ahead, else the way round the block back into it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt
import scipy.sparse
import scipy.sparse.csgraph

from cetate.city.network import Floats, Ints, Network

if TYPE_CHECKING:
    from cetate.city.router import Entry

# Sources per Dijkstra batch: the batch's arrays are a few of (batch x arcs) numbers, about
# 50 MB for 64 sources on a 50,000-arc network, whatever the number of points.
BATCH = 64
# scipy's sparse graphs cannot hold an explicit zero edge (a zero-time arc, a point at the very
# end of its arc): such an edge weighs this instead, nanoseconds over a whole path.
EPSILON_MS = 1e-9


def travel_matrices(
    network: Network,
    weights: Floats,
    length_m: Floats,
    sources: list[Entry],
    targets: list[Entry],
) -> tuple[Floats, Floats]:
    """Seconds and metres of the fastest path from each source to each target (``inf`` where
    unreachable). ``weights`` are the turn weights in ms, ``inf`` for a closed turn;
    ``length_m`` is the length of each arc."""
    n = network.arc_count
    times = network.arc_time_ms.astype(np.float64)
    source_arcs, source_position, source_of = _flatten(sources)
    target_arcs, target_position, target_of = _flatten(targets)
    graph = _graph_with_sources(network, weights, times, source_arcs, source_position, source_of)
    into = graph.tocsc()  # column a: the turns into arc a (for the way round the block)
    left_ms = (1.0 - target_position) * times[target_arcs]
    left_m = (1.0 - target_position) * length_m[target_arcs]
    # Target entries by arc, for the targets on a source's own arcs.
    on_arc: dict[int, list[int]] = {}
    for column, arc in enumerate(target_arcs.tolist()):
        on_arc.setdefault(arc, []).append(column)
    seconds = np.full((len(sources), len(targets)), np.inf)
    metres = np.full((len(sources), len(targets)), np.inf)
    for first in range(0, len(sources), BATCH):
        last = min(first + BATCH, len(sources))
        dist, pred = scipy.sparse.csgraph.dijkstra(
            graph, indices=n + np.arange(first, last), return_predecessors=True
        )
        dist, pred = dist[:, :n], pred[:, :n]
        mine = (source_of >= first) & (source_of < last)
        entry_row, entry_arc = source_of[mine] - first, source_arcs[mine]
        entry_position = source_position[mine]
        # Each (source, target entry) is reached at the end of the arc ``via`` of the tree, then
        # ``add_m`` metres on; at first that is the target arc itself, less the part not needed.
        ms = dist[:, target_arcs] - left_ms
        via = np.broadcast_to(target_arcs, ms.shape).copy()
        add_m = np.broadcast_to(-left_m, ms.shape).copy()
        for row, arc, position in zip(
            entry_row.tolist(), entry_arc.tolist(), entry_position.tolist(), strict=True
        ):
            for column in on_arc.get(arc, []):
                end = float(target_position[column])
                ms[row, column], via[row, column], add_m[row, column] = _on_own_arc(
                    into, dist[row], arc, position, end, times[arc], length_m[arc]
                )
        entry_m = (1.0 - entry_position) * length_m[entry_arc]
        reach_m = _tree_metres(pred, length_m, entry_row, entry_arc, entry_m, via)
        seconds[first:last], metres[first:last] = _best_entries(
            ms, reach_m + add_m, target_of, len(targets)
        )
    seconds /= 1000.0
    metres[~np.isfinite(seconds)] = np.inf
    return seconds, metres


def _graph_with_sources(
    network: Network,
    weights: Floats,
    times: Floats,
    source_arcs: Ints,
    source_position: Floats,
    source_of: Ints,
) -> scipy.sparse.csr_matrix:
    """The turn graph (open turns only) plus one virtual node per source after the arcs."""
    n = network.arc_count
    open_turns = np.isfinite(weights)
    source_count = int(source_of.max()) + 1 if len(source_of) else 0
    values = np.concatenate(
        (weights[open_turns], (1.0 - source_position) * times[source_arcs])
    ).astype(np.float64)
    values[values <= 0] = EPSILON_MS
    tails = np.concatenate((network.turn_from[open_turns], n + source_of))
    heads = np.concatenate((network.turn_to[open_turns], source_arcs))
    size = n + source_count
    return scipy.sparse.csr_matrix((values, (tails, heads)), shape=(size, size))


def _on_own_arc(
    into: scipy.sparse.csc_matrix,
    dist: Floats,
    arc: int,
    start: float,
    end: float,
    time_ms: float,
    length_m: float,
) -> tuple[float, int, float]:
    """A target on the arc through which the source entered the graph, from ``start`` to
    ``end`` (fractions of the arc): (milliseconds, the tree arc it is reached from or -1, metres
    after that arc). The tree reaches the arc straight from the source, so a target behind the
    source is reached round the block instead: through the best turn back into the arc
    (``into``: the graph by columns; ``dist``: the tree's times)."""
    if end >= start:
        return (end - start) * time_ms, -1, (end - start) * length_m
    turns = slice(into.indptr[arc], into.indptr[arc + 1])
    before, weight = into.indices[turns], into.data[turns]
    real = before < len(dist)  # the source's virtual node is no way back in
    before, weight = before[real], weight[real]
    if not len(before):  # no turn into the arc at all: no way round
        return np.inf, -1, np.inf
    arrive = dist[before] + weight
    best = int(np.argmin(arrive))
    return float(arrive[best] - (1.0 - end) * time_ms), int(before[best]), end * length_m


def _tree_metres(
    pred: npt.NDArray[np.int32],
    length_m: Floats,
    entry_row: Ints,
    entry_arc: Ints,
    entry_m: Floats,
    wanted: Ints,
) -> Floats:
    """Metres from each row's source to the end of each ``wanted`` arc of the row (0 where
    ``wanted`` is -1), along the row's shortest-path tree. An arc entered straight from the
    source counts only ``entry_m``, the part of it ahead of the point.

    Only the wanted arcs and their ancestors are summed (about a quarter of the tree for a
    thousand targets): found by walking up from the wanted arcs until a walk meets an arc
    already seen, then summed by pointer jumping over them alone."""
    rows, n = pred.shape
    offset = n * np.arange(rows)[:, None]
    # Parents as flat indices into (rows x n); -1 where the path starts (or nothing arrives).
    parent = np.where((pred >= 0) & (pred < n), pred + offset, -1).ravel()
    seen = np.zeros(rows * n, dtype=np.bool_)
    claim = np.zeros(rows * n, dtype=np.int64)
    front = (wanted + offset)[wanted >= 0]
    while len(front):
        seen[front] = True
        up = parent[front]
        up = up[up >= 0]
        up = up[~seen[up]]
        # Several walks reach the same parent at once: the one that writes last claims it.
        claim[up] = np.arange(len(up))
        front = up[claim[up] == np.arange(len(up))]
    nodes = np.flatnonzero(seen)
    index = np.full(rows * n, -1, dtype=np.int64)
    index[nodes] = np.arange(len(nodes))
    up = parent[nodes]
    link = np.where(up >= 0, index[up], -1)  # every ancestor of a node is among the nodes
    total = length_m[nodes % n]
    entered = index[entry_row * n + entry_arc]
    straight = (entered >= 0) & (pred[entry_row, entry_arc] >= n)
    total[entered[straight]] = entry_m[straight]
    total[pred.ravel()[nodes] < 0] = np.inf  # not reached
    live = np.flatnonzero(link >= 0)
    while len(live):
        above = link[live]
        # Both right-hand sides are read before either write: every node jumps at once.
        total[live] += total[above]
        link[live] = link[above]
        live = live[link[live] >= 0]
    found = index[(wanted + offset)[wanted >= 0]]
    result = np.zeros(wanted.shape)
    result[wanted >= 0] = total[found]
    return result


def _best_entries(
    ms: Floats, m: Floats, target_of: Ints, target_count: int
) -> tuple[Floats, Floats]:
    """Per target, the time through its fastest entry arc and the metres of that same way."""
    best_ms = np.full((len(ms), target_count), np.inf)
    best_m = np.full((len(ms), target_count), np.inf)
    # A target's entries are consecutive: its first, then (on a two-way segment) its second.
    # One pass per rank touches each target at most once, so plain fancy assignment is safe.
    first_of = np.searchsorted(target_of, target_of)
    rank = np.arange(len(target_of)) - first_of
    for r in range(int(rank.max()) + 1 if len(rank) else 0):
        columns = np.flatnonzero(rank == r)
        owners = target_of[columns]
        better = ms[:, columns] < best_ms[:, owners]
        best_ms[:, owners] = np.where(better, ms[:, columns], best_ms[:, owners])
        best_m[:, owners] = np.where(better, m[:, columns], best_m[:, owners])
    return best_ms, best_m


def _flatten(entries: list[Entry]) -> tuple[Ints, Floats, Ints]:
    arcs = np.concatenate([e.arcs for e in entries] or [np.zeros(0, dtype=np.int64)])
    position = np.concatenate([e.position for e in entries] or [np.zeros(0)])
    owner = np.repeat(np.arange(len(entries)), [len(e.arcs) for e in entries])
    return arcs.astype(np.int64), position.astype(np.float64), owner.astype(np.int64)
