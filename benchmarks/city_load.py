"""From an OSM extract to a ready drive graph, the first time and from the cache, beside pyrosm.

    python benchmarks/city_load.py [--osm PATH] [--repeat 5]

Each measurement runs in a fresh Python process, so nothing is shared between runs but the
operating system's file cache:

1. first load: ``City.load(path, modes=("drive",), cache_dir=EMPTY)``: read the PBF, split the
   roads into segments, build the drive turn graph, build and customize its CCH, save the cache;
2. from the cache: the same call on the cache the first load wrote;
3. baseline (OSMnx is not installed): pyrosm's ``OSM(path).get_network(network_type="driving")``
   then ``osm.to_graph(nodes, edges, graph_type="networkx")``, an OSMnx-style simplified
   ``MultiDiGraph``.

The figures are the medians of ``--repeat`` rounds (each round runs 1, 2 and 3 in turn); the
imports are timed apart. Targets (issue #3): first load <= 30 s, from the cache <= 2 s.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from _city import add_osm_argument, median, osm_or_skip, verdict

FIRST_TARGET_S = 30.0
CACHED_TARGET_S = 2.0

OURS = """
import json, sys, time
from pathlib import Path
started = time.perf_counter()
from cetate.city.service import City
imported = time.perf_counter()
city = City.load(Path(sys.argv[1]), modes=("drive",), cache_dir=Path(sys.argv[2]))
loaded = time.perf_counter()
print(json.dumps({"imports": imported - started, "load": loaded - imported,
                  "fromCache": city.report.from_cache, "segments": city.report.segments,
                  **city.report.modes["drive"]}))
"""

PYROSM = """
import json, sys, time, warnings
warnings.simplefilter("ignore")
started = time.perf_counter()
from pyrosm import OSM
import networkx
imported = time.perf_counter()
osm = OSM(sys.argv[1])
nodes, edges = osm.get_network(network_type="driving", nodes=True)
read = time.perf_counter()
graph = osm.to_graph(nodes, edges, graph_type="networkx", progress=False)
built = time.perf_counter()
print(json.dumps({"imports": imported - started, "load": built - imported, "read": read - imported,
                  "graph": built - read, "edgesRead": len(edges), "nodes": graph.number_of_nodes(),
                  "edges": graph.number_of_edges()}))
"""


def run(code: str, *args: str) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "-c", code, *args], capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise SystemExit(f"benchmark: a measurement failed:\n{done.stderr[-2000:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    add_osm_argument(parser)
    parser.add_argument("--repeat", type=int, default=5, help="rounds; medians are reported")
    parser.add_argument("--no-baseline", action="store_true", help="skip the pyrosm baseline")
    args = parser.parse_args()
    osm = osm_or_skip(args.osm)

    first: list[dict[str, Any]] = []
    cached: list[dict[str, Any]] = []
    baseline: list[dict[str, Any]] = []
    for _ in range(args.repeat):
        cache_dir = Path(tempfile.mkdtemp(prefix="cetate-bench-graphs-"))
        try:
            first.append(run(OURS, str(osm), str(cache_dir)))
            cached.append(run(OURS, str(osm), str(cache_dir)))
        finally:
            shutil.rmtree(cache_dir, ignore_errors=True)
        if not args.no_baseline:
            baseline.append(run(PYROSM, str(osm)))
    if any(r["fromCache"] for r in first) or not all(r["fromCache"] for r in cached):
        raise SystemExit("benchmark: the cache was not used as expected")

    size = first[0]
    print(
        f"extract: {osm} ({osm.stat().st_size / 1e6:.1f} MB); {size['segments']:,} segments; "
        f"drive turn graph {size['arcs']:,} arcs (vertices), {size['turns']:,} turns (edges); "
        f"{args.repeat} round(s), medians, each in a fresh process"
    )
    first_s = median([r["load"] for r in first])
    cached_s = median([r["load"] for r in cached])
    imports_s = median([r["imports"] for r in first + cached])
    runs = ", ".join(f"{r['load']:.2f}" for r in first)
    print(
        f"1. first load (empty cache): {first_s:.2f} s (runs {runs} s); imports {imports_s:.2f} s"
    )
    runs = ", ".join(f"{r['load']:.3f}" for r in cached)
    print(f"2. from the cache: {cached_s:.3f} s (runs {runs} s)")
    if baseline:
        pyrosm_s = median([r["load"] for r in baseline])
        read_s = median([r["read"] for r in baseline])
        graph_s = median([r["graph"] for r in baseline])
        b = baseline[0]
        print(
            f"3. pyrosm get_network(driving) + to_graph(networkx): {pyrosm_s:.2f} s "
            f"(read {read_s:.2f} s + graph {graph_s:.2f} s; {b['edgesRead']:,} edges read, "
            f"simplified to {b['nodes']:,} nodes / {b['edges']:,} edges; "
            f"lengths only, no travel times, no turn restrictions, no service roads); imports {median([r['imports'] for r in baseline]):.2f} s"
        )
        print(
            f"   ratio pyrosm / ours: first load {pyrosm_s / first_s:.2f}x, "
            f"from the cache {pyrosm_s / cached_s:.1f}x"
        )
    met = first_s <= FIRST_TARGET_S and cached_s <= CACHED_TARGET_S
    print(
        verdict(
            met,
            f"first load {first_s:.2f} s (target <= {FIRST_TARGET_S:.0f} s), "
            f"from the cache {cached_s:.3f} s (target <= {CACHED_TARGET_S:.0f} s)",
        )
    )


if __name__ == "__main__":
    main()
