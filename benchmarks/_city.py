"""What the city benchmarks share: where the Brașov extract is, and a clear skip without it."""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# The shared data sit beside the repository: ../shared/data/osm/brasov/brasov.osm.pbf.
DEFAULT_OSM = ROOT.parent / "shared" / "data" / "osm" / "brasov" / "brasov.osm.pbf"


def add_osm_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--osm", type=Path, default=DEFAULT_OSM, help=f"the OSM extract (default {DEFAULT_OSM})"
    )


def osm_or_skip(path: Path) -> Path:
    """The extract, or a skip message and exit status 0 when it is not there."""
    if not path.is_file():
        print(f"SKIP: no OSM extract at {path} (give one with --osm PATH)")
        sys.exit(0)
    return path.resolve()


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def verdict(met: bool, detail: str) -> str:
    return f"{'PASS' if met else 'FAIL'}: {detail}"
