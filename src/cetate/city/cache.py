"""The on-disk graph cache: segments and each mode's network, keyed by the extract's SHA-256,
the mode's profile and the cache format, so a changed file or speed table never reuses a stale
graph. Arrays go to .npz, tags to JSON: nothing is unpickled from disk."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from cetate.city.network import Network, Segments
from cetate.city.profiles import Profile

FORMAT = "city-graph-1"

SEGMENT_ARRAYS = (
    "node_ids", "node_lon", "node_lat", "way_ids", "piece", "way_index", "u", "v", "length_m",
    "coord_offsets", "coords",
)  # fmt: skip
NETWORK_ARRAYS = (
    "arc_segment", "arc_forward", "arc_tail", "arc_head", "arc_time_ms", "turn_from", "turn_to",
)  # fmt: skip
NETWORK_COUNTS = ("dropped_arcs", "restrictions_applied", "restrictions_skipped")
# What reading a damaged entry raises (a missing, emptied, truncated or garbled file).
DAMAGED = (OSError, ValueError, KeyError, TypeError, EOFError, zipfile.BadZipFile)


def default_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "cetate" / "graphs"


def extract_dir(cache_dir: Path, extract_sha256: str) -> Path:
    return cache_dir / f"{extract_sha256[:24]}-{FORMAT}"


def network_dir(cache_dir: Path, extract_sha256: str, profile: Profile) -> Path:
    return extract_dir(cache_dir, extract_sha256) / f"{profile.mode}-{profile.fingerprint()}"


def save_segments(directory: Path, segments: Segments) -> None:
    def write(target: Path) -> None:
        np.savez(target / "segments.npz", **{k: getattr(segments, k) for k in SEGMENT_ARRAYS})
        (target / "tags.json").write_text(json.dumps(segments.ways_tags))

    _atomically(directory / "segments", write)


def load_segments(directory: Path) -> Segments | None:
    folder = directory / "segments"
    if not (folder / "tags.json").exists():
        return None
    try:
        with np.load(folder / "segments.npz") as arrays:
            values: dict[str, Any] = {k: arrays[k] for k in SEGMENT_ARRAYS}
        values["ways_tags"] = json.loads((folder / "tags.json").read_text())
    except DAMAGED:
        return None  # damaged (or being replaced right now): a miss, built and written again
    return Segments(**values)


def save_network(
    directory: Path, network: Network, also: Callable[[Path], None] | None = None
) -> None:
    """Save a network; ``also`` writes more files (the CCH topology) into the same entry."""

    def write(target: Path) -> None:
        np.savez(target / "network.npz", **{k: getattr(network, k) for k in NETWORK_ARRAYS})
        if also is not None:
            also(target)
        counts = {k: getattr(network, k) for k in NETWORK_COUNTS}
        (target / "counts.json").write_text(json.dumps(counts))

    _atomically(directory, write)


def load_network(directory: Path, segments: Segments, profile: Profile) -> Network | None:
    if not (directory / "counts.json").exists():
        return None
    try:
        with np.load(directory / "network.npz") as arrays:
            values: dict[str, Any] = {k: arrays[k] for k in NETWORK_ARRAYS}
        values.update(json.loads((directory / "counts.json").read_text()))
        network = Network(profile=profile, segments=segments, **values)
    except DAMAGED:
        return None  # damaged (or being replaced right now): a miss, built and written again
    arcs = network.arc_count
    whole = (
        all(len(getattr(network, k)) == arcs for k in NETWORK_ARRAYS[:5])
        and len(network.turn_from) == len(network.turn_to)
        and (arcs == 0 or int(network.arc_segment.max()) < len(segments))
        and (len(network.turn_from) == 0 or int(network.turn_from.max()) < arcs)
        and (len(network.turn_to) == 0 or int(network.turn_to.max()) < arcs)
    )
    return network if whole else None


def _atomically(target: Path, write: Callable[[Path], None]) -> None:
    """Write into a temporary sibling and rename it into place, so a reader never sees half a
    cache entry. A damaged entry already there is renamed aside first (a reader holding its
    files keeps them); if another process puts its own copy in place meanwhile, ours is dropped:
    both were built from the same extract and profile."""
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
    try:
        write(staging)
        if target.exists():
            aside = Path(tempfile.mkdtemp(prefix=f".{target.name}-old-", dir=target.parent))
            with contextlib.suppress(OSError):  # another process moved it first
                os.replace(target, aside / "entry")
            shutil.rmtree(aside, ignore_errors=True)
        try:
            os.replace(staging, target)
        except OSError:
            if not target.exists():
                raise
            shutil.rmtree(staging, ignore_errors=True)  # another process won the race
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
