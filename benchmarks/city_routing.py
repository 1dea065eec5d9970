"""Drive routing in Brașov: one route, a 1,000 x 1,000 matrix and a 15-minute isochrone, each
beside networkx's Dijkstra over the same turn graph, measured in the same run.

    python benchmarks/city_routing.py [--osm PATH] [--nx-sources 1000] [--parts route,matrix,isochrone]

The drive network is loaded with ``City.load`` (into a temporary cache unless ``--cache-dir``).
networkx gets the very same graph: a ``DiGraph`` whose vertices are the arcs and whose edges are
the turns, weighted by ``network.turn_weights()`` (whole milliseconds, so both sides sum the
same integers). Random points are drawn uniformly over the bounding box of the drive network's
junctions and kept when within ``--near-m`` of a drive road (the city, not the forest on the
mountains). Fixed seed; every timing of ours is repeated (``--repeat``) and the median kept.

1. route: ``Router.route(a, b)`` between random point pairs (snapping, up to four CCH queries
   between the arcs the points lie on, geometry); p50 and p95 over the pairs. Baseline:
   ``nx.shortest_path_length(G, s, t, weight="weight")`` between the first arc of each point
   (one query where ours may run four), the CCH query alone on the same arcs beside it.
2. matrix: the CCH many-to-many on 1,000 random arcs x 1,000 random arcs, and the public
   ``Router.matrix`` on 1,000 x 1,000 random points (snapping included). Baseline:
   ``nx.single_source_dijkstra_path_length`` from each source arc (``--nx-sources`` of them;
   below 1,000 the total is extrapolated and says so). Checked: the travel times of 1,000 random
   pairs equal networkx's, for arcs and for points (positions along the arcs included).
3. isochrone: ``IsochroneMaker.isochrones(origin, [900])`` from ``--isochrones`` random points:
   p50 and p95 of each origin's median. Baseline: the Dijkstra alone in networkx,
   ``single_source_dijkstra_path_length(G, arc, cutoff=...)`` from the origin's arcs.

Targets (issue #3): route p50 <= 5 ms; matrix <= 5 s and >= 30x faster than networkx, travel
times within 0.01 s of networkx's; 15-minute isochrone <= 200 ms.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import networkx as nx
import numpy as np
import scipy.sparse.csgraph
import shapely
from _city import add_osm_argument, median, osm_or_skip, verdict
from _harness import percentile

from cetate.city.router import INF, Router
from cetate.city.service import City

ROUTE_TARGET_MS = 5.0
MATRIX_TARGET_S = 5.0
MATRIX_TARGET_RATIO = 30.0
MATRIX_TOLERANCE_S = 0.01
ISOCHRONE_TARGET_MS = 200.0
ISOCHRONE_BUDGET_S = 900.0


def turn_graph(router: Router) -> nx.DiGraph:
    network = router.network
    graph = nx.DiGraph()
    graph.add_nodes_from(range(network.arc_count))
    graph.add_weighted_edges_from(
        zip(
            network.turn_from.tolist(),
            network.turn_to.tolist(),
            network.turn_weights().tolist(),
            strict=True,
        )
    )
    return graph


def random_points(router: Router, count: int, near_m: float, rng: np.random.Generator) -> Any:
    """``count`` lon/lat points uniform over the drive network's box, each within ``near_m`` of
    a drive road."""
    segments = router.network.segments
    heads = router.network.arc_head
    lon, lat = segments.node_lon[heads], segments.node_lat[heads]
    kept: list[Any] = []
    while sum(len(k) for k in kept) < count:
        batch = np.column_stack(
            (
                rng.uniform(lon.min(), lon.max(), 4 * count),
                rng.uniform(lat.min(), lat.max(), 4 * count),
            )
        )
        points = shapely.points(router.index.projection.to_metres(batch))
        (which, _), distances = router.index.tree.query_nearest(points, return_distance=True)
        distance = np.full(len(batch), np.inf)
        distance[which] = distances
        kept.append(batch[distance <= near_m])
    return np.vstack(kept)[:count]


def first_arc(router: Router, point: Any) -> int:
    (snap,) = router.snap(np.asarray(point).reshape(1, 2))
    return int(router.entry(snap, frozenset()).arcs[0])


# -- 1. route ----------------------------------------------------------------------------------


def bench_route(router: Router, graph: nx.DiGraph, args: argparse.Namespace, rng: Any) -> bool:
    points = random_points(router, 2 * args.routes, args.near_m, rng)
    pairs = list(zip(points[0::2], points[1::2], strict=True))
    for a, b in pairs[:20]:  # warm-up
        router.route(a, b)
    per_pair: list[list[float]] = [[] for _ in pairs]
    for _ in range(args.repeat):
        for k, (a, b) in enumerate(pairs):
            started = time.perf_counter()
            router.route(a, b)
            per_pair[k].append((time.perf_counter() - started) * 1000)
    ours = [median(t) for t in per_pair]

    arcs = [(first_arc(router, a), first_arc(router, b)) for a, b in pairs]
    cch_ms: list[float] = []
    cch_distance: list[int] = []
    for s, t in arcs:
        timings = []
        for _ in range(args.repeat):
            started = time.perf_counter()
            distance, _path = router._cch.query(s, t)
            timings.append((time.perf_counter() - started) * 1000)
        cch_ms.append(median(timings))
        cch_distance.append(int(distance))
    nx_ms: list[float] = []
    worst_s = 0.0
    for (s, t), expected in zip(arcs, cch_distance, strict=True):
        started = time.perf_counter()
        distance = nx.shortest_path_length(graph, s, t, weight="weight")
        nx_ms.append((time.perf_counter() - started) * 1000)
        worst_s = max(worst_s, abs(distance - expected) / 1000)

    p50, p95 = percentile(ours, 0.5), percentile(ours, 0.95)
    nx50 = percentile(nx_ms, 0.5)
    print(
        f"1. route, {len(pairs):,} random point pairs: Router.route p50 {p50:.2f} ms, p95 {p95:.2f} ms; "
        f"CCH query alone (first arcs) p50 {percentile(cch_ms, 0.5):.3f} ms, p95 {percentile(cch_ms, 0.95):.3f} ms"
    )
    print(
        f"   networkx shortest_path_length (Dijkstra) on the same arcs: p50 {nx50:.1f} ms, "
        f"p95 {percentile(nx_ms, 0.95):.1f} ms; ratio networkx / Router.route {nx50 / p50:.0f}x at p50, "
        f"networkx / CCH query {nx50 / percentile(cch_ms, 0.5):.0f}x; max |CCH - networkx| {worst_s:.6f} s"
    )
    met = p50 <= ROUTE_TARGET_MS
    print(
        verdict(
            met, f"route p50 {p50:.2f} ms (target <= {ROUTE_TARGET_MS:.0f} ms), p95 {p95:.2f} ms"
        )
    )
    return met


# -- 2. matrix ---------------------------------------------------------------------------------


def check_points_matrix(
    router: Router, graph: nx.DiGraph, origins: Any, destinations: Any, rows: int, columns: int
) -> tuple[float, int]:
    """Router.matrix on ``rows`` x ``columns`` points against travel times assembled from
    networkx's Dijkstra from each origin's arcs (the part of the arc still to travel at the
    start, minus the part not travelled at the end). Pairs on one segment are left out."""
    found = router.matrix(origins[:rows], destinations[:columns])
    times = router.network.arc_time_ms.astype(np.float64)
    sources = [router.entry(s, frozenset()) for s in router.snap(origins[:rows])]
    target_snaps = router.snap(destinations[:columns])
    targets = [router.entry(s, frozenset()) for s in target_snaps]
    worst, compared = 0.0, 0
    for i, (origin, snap) in enumerate(zip(sources, router.snap(origins[:rows]), strict=True)):
        reach = {
            int(arc): nx.single_source_dijkstra_path_length(graph, int(arc), weight="weight")
            for arc in origin.arcs
        }
        for j, target in enumerate(targets):
            if target_snaps[j].segment == snap.segment:
                continue
            best = np.inf
            for s, s_pos in zip(origin.arcs.tolist(), origin.position.tolist(), strict=True):
                for t, t_pos in zip(target.arcs.tolist(), target.position.tolist(), strict=True):
                    if t in reach[s]:
                        total = (1 - s_pos) * times[s] + reach[s][t] - (1 - t_pos) * times[t]
                        best = min(best, total)
            worst = max(worst, abs(best / 1000 - found[i, j]))
            compared += 1
    return worst, compared


def bench_matrix(router: Router, graph: nx.DiGraph, args: argparse.Namespace, rng: Any) -> bool:
    n = args.matrix
    arc_count = router.network.arc_count
    sources = rng.choice(arc_count, n, replace=False).astype(np.uint32)
    targets = rng.choice(arc_count, n, replace=False).astype(np.uint32)
    router._cch.distances_many_to_many(sources[:10], targets[:10])  # warm-up
    cch_s: list[float] = []
    for _ in range(args.repeat):
        started = time.perf_counter()
        distances = router._cch.distances_many_to_many(sources, targets)
        cch_s.append(time.perf_counter() - started)
    cch = median(cch_s)

    points = random_points(router, 2 * n, args.near_m, rng)
    origins, destinations = points[:n], points[n:]
    router.matrix(origins[:10], destinations[:10])  # warm-up
    public_s: list[float] = []
    for _ in range(args.repeat):
        started = time.perf_counter()
        router.matrix(origins, destinations)
        public_s.append(time.perf_counter() - started)
    public = median(public_s)

    nx_sources = min(args.nx_sources, n)
    reached: list[dict[int, int]] = []
    started = time.perf_counter()
    for s in sources[:nx_sources].tolist():
        reached.append(nx.single_source_dijkstra_path_length(graph, s, weight="weight"))
    nx_run = time.perf_counter() - started
    nx_total = nx_run * n / nx_sources
    label = "measured" if nx_sources == n else f"EXTRAPOLATED from {nx_sources} sources"

    worst_s = 0.0
    for _ in range(1000):
        i, j = int(rng.integers(nx_sources)), int(rng.integers(n))
        expected = reached[i].get(int(targets[j]))
        ours = int(distances[i, j])
        if expected is None or ours >= INF:
            if (expected is None) != (ours >= INF):
                worst_s = np.inf  # one side reaches where the other does not
            continue
        worst_s = max(worst_s, abs(ours - expected) / 1000)
    point_worst_s, point_pairs = check_points_matrix(
        router, graph, origins, destinations, rows=10, columns=100
    )

    print(
        f"2. matrix {n:,} x {n:,}: CCH many-to-many on random arcs {cch:.3f} s "
        f"(runs {', '.join(f'{t:.3f}' for t in cch_s)}); Router.matrix on random points (snapping "
        f"included) {public:.3f} s (runs {', '.join(f'{t:.3f}' for t in public_s)})"
    )
    print(
        f"   networkx single_source_dijkstra_path_length x {n:,}: {nx_total:.1f} s ({label}; "
        f"{nx_sources} sources ran in {nx_run:.1f} s, {nx_run / nx_sources * 1000:.1f} ms each); "
        f"ratio networkx / CCH {nx_total / cch:.0f}x, networkx / Router.matrix {nx_total / public:.0f}x"
    )
    print(
        f"   max |ours - networkx| over 1,000 random arc pairs: {worst_s:.6f} s; over {point_pairs} "
        f"point pairs (Router.matrix, 10 x 100): {point_worst_s:.6f} s"
    )
    slowest = max(cch, public)
    ratio = nx_total / slowest
    met = (
        slowest <= MATRIX_TARGET_S
        and ratio >= MATRIX_TARGET_RATIO
        and max(worst_s, point_worst_s) <= MATRIX_TOLERANCE_S
    )
    print(
        verdict(
            met,
            f"matrix {slowest:.3f} s, the slower of the two (target <= {MATRIX_TARGET_S:.0f} s); "
            f"{ratio:.0f}x networkx (target >= {MATRIX_TARGET_RATIO:.0f}x, {label}); "
            f"max difference {max(worst_s, point_worst_s):.6f} s (target <= {MATRIX_TOLERANCE_S} s)",
        )
    )
    return met


# -- 3. isochrone ------------------------------------------------------------------------------


def bench_isochrone(
    city: City, router: Router, graph: nx.DiGraph, args: argparse.Namespace, rng: Any
) -> bool:
    maker = city.isochrone_makers["drive"]
    origins = random_points(router, args.isochrones, args.near_m, rng)
    maker.isochrones(origins[0], [ISOCHRONE_BUDGET_S])  # warm-up: builds the scipy graph once
    limit_ms = ISOCHRONE_BUDGET_S * 1000
    times = router.network.arc_time_ms.astype(np.float64)
    csr = maker._graph(frozenset())
    ours: list[float] = []
    dijkstra: list[float] = []
    baseline: list[float] = []
    reached_ours: list[int] = []
    same = 0
    for origin in origins:
        (snap,) = router.snap(origin.reshape(1, 2))
        entry = router.entry(snap, frozenset())
        starts = [
            (int(a), (1 - p) * times[a]) for a, p in zip(entry.arcs, entry.position, strict=True)
        ]
        full, alone, theirs = [], [], []
        for _ in range(args.repeat):
            started = time.perf_counter()
            maker.isochrones(origin, [ISOCHRONE_BUDGET_S])
            full.append((time.perf_counter() - started) * 1000)

            started = time.perf_counter()
            arrive = np.full(router.network.arc_count, np.inf)
            for arc, start in starts:
                found = scipy.sparse.csgraph.dijkstra(csr, indices=arc, limit=limit_ms - start)
                np.minimum(arrive, found + start, out=arrive)
            alone.append((time.perf_counter() - started) * 1000)

            started = time.perf_counter()
            best: dict[int, float] = {}
            for arc, start in starts:
                found_nx = nx.single_source_dijkstra_path_length(
                    graph, arc, cutoff=limit_ms - start, weight="weight"
                )
                for reached_arc, distance in found_nx.items():
                    if distance + start < best.get(reached_arc, np.inf):
                        best[reached_arc] = distance + start
            theirs.append((time.perf_counter() - started) * 1000)
        ours.append(median(full))
        dijkstra.append(median(alone))
        baseline.append(median(theirs))
        within = np.nonzero(arrive <= limit_ms)[0]
        reached_ours.append(len(within))
        same += set(within.tolist()) == set(best)

    p50, p95 = percentile(ours, 0.5), percentile(ours, 0.95)
    nx50 = percentile(baseline, 0.5)
    print(
        f"3. 15-minute drive isochrone, {len(origins)} random origins: p50 {p50:.1f} ms, p95 {p95:.1f} ms "
        f"(of which scipy's Dijkstra p50 {percentile(dijkstra, 0.5):.1f} ms; the rest is the polygon); "
        f"arcs reached p50 {percentile([float(r) for r in reached_ours], 0.5):,.0f} of {router.network.arc_count:,}"
    )
    print(
        f"   networkx single_source_dijkstra_path_length with cutoff (Dijkstra alone): p50 {nx50:.1f} ms, "
        f"p95 {percentile(baseline, 0.95):.1f} ms; ratio networkx Dijkstra / our whole isochrone "
        f"{nx50 / p50:.1f}x at p50; the same set of arcs reached for {same} of {len(origins)} origins"
    )
    met = p50 <= ISOCHRONE_TARGET_MS
    print(
        verdict(
            met,
            f"isochrone p50 {p50:.1f} ms (target <= {ISOCHRONE_TARGET_MS:.0f} ms), p95 {p95:.1f} ms "
            f"({'also' if p95 <= ISOCHRONE_TARGET_MS else 'NOT'} within the target)",
        )
    )
    return met


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    add_osm_argument(parser)
    parser.add_argument("--cache-dir", type=Path, help="graph cache (default: a temporary one)")
    parser.add_argument("--parts", default="route,matrix,isochrone")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--repeat", type=int, default=5, help="timings of ours per measurement")
    parser.add_argument("--routes", type=int, default=1000, help="random point pairs")
    parser.add_argument("--matrix", type=int, default=1000, help="sources and targets")
    parser.add_argument("--nx-sources", type=int, default=1000, help="networkx Dijkstra runs")
    parser.add_argument("--isochrones", type=int, default=20, help="random origins")
    parser.add_argument("--near-m", type=float, default=250.0, help="random points near a road")
    args = parser.parse_args()
    osm = osm_or_skip(args.osm)
    parts = {p.strip() for p in args.parts.split(",")}

    cache_dir = args.cache_dir or Path(tempfile.mkdtemp(prefix="cetate-bench-graphs-"))
    try:
        city = City.load(osm, modes=("drive",), cache_dir=cache_dir)
    finally:
        if args.cache_dir is None:
            shutil.rmtree(cache_dir, ignore_errors=True)
    router = city.routers["drive"]
    graph = turn_graph(router)
    print(
        f"extract: {osm}; drive turn graph {router.network.arc_count:,} arcs (vertices), "
        f"{len(router.network.turn_from):,} turns (edges); seed {args.seed}; ours repeated "
        f"{args.repeat}x, medians"
    )
    results = []
    if "route" in parts:
        results.append(bench_route(router, graph, args, np.random.default_rng(args.seed)))
    if "matrix" in parts:
        results.append(bench_matrix(router, graph, args, np.random.default_rng(args.seed + 1)))
    if "isochrone" in parts:
        results.append(
            bench_isochrone(city, router, graph, args, np.random.default_rng(args.seed + 2))
        )
    print(f"{'PASS' if all(results) else 'FAIL'}: {sum(results)} of {len(results)} targets met")


if __name__ == "__main__":
    main()
