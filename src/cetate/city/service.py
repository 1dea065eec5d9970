"""The city as every module uses it: load an extract once (or from the cache), then route,
matrix, isochrones and nearest place by travel time, with the hub's active closures applied."""

from __future__ import annotations

import logging
import threading
import time
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from cetate.city import cache
from cetate.city.closures import CLOSURE_TYPE, Closure, active_closures, parse_closure
from cetate.city.isochrones import DEFAULT_BUFFER_M, Isochrone, IsochroneMaker
from cetate.city.network import Floats, Network, Segments, build_network, split_segments
from cetate.city.osm import RoadExtract, file_sha256, read_roads
from cetate.city.places import Place, read_places
from cetate.city.profiles import MODES, Profile, default_profile
from cetate.city.router import Route, Router
from cetate.city.snap import Snap
from cetate.config import Settings
from cetate.errors import BadRequestData, CetateError, ResourceNotFound
from cetate.hub.documents import find_documents
from cetate.hub.service import Hub
from cetate.logs import log_event

log = logging.getLogger("cetate.city")

Progress = Callable[[str], None]
CLOSURE_REFRESH_S = 1.0


@dataclass(frozen=True)
class LoadReport:
    extract: str
    sha256: str
    from_cache: bool
    seconds: float
    segments: int
    modes: dict[str, dict[str, int]]

    def as_dict(self) -> dict[str, Any]:
        return {
            "extract": self.extract,
            "sha256": self.sha256,
            "fromCache": self.from_cache,
            "seconds": round(self.seconds, 3),
            "segments": self.segments,
            "modes": self.modes,
        }


class City:
    def __init__(
        self,
        segments: Segments,
        routers: dict[str, Router],
        report: LoadReport,
        closure_source: Callable[[], list[Closure]] | None = None,
    ) -> None:
        self.segments = segments
        self.routers = routers
        self.isochrone_makers = {mode: IsochroneMaker(r) for mode, r in routers.items()}
        self.report = report
        self.places: list[Place] = []
        self._closure_source = closure_source
        self._closures: list[Closure] = []
        self._closures_read = -np.inf
        self._lock = threading.Lock()
        self._blocked_cache: dict[tuple[str, frozenset[Any]], frozenset[int]] = {}
        self._segment_index: dict[str, int] | None = None

    # -- loading -----------------------------------------------------------------------------

    @classmethod
    def load(
        cls,
        path: Path,
        modes: Sequence[str] = MODES,
        cache_dir: Path | None = None,
        speeds: dict[str, dict[str, float]] | None = None,
        progress: Progress | None = None,
    ) -> City:
        """Build (or read from the cache) the networks of ``modes`` from an OSM extract."""
        started = time.perf_counter()
        say = progress or (lambda _message: None)
        profiles = [_profile(mode, (speeds or {}).get(mode)) for mode in modes]
        if not path.is_file():
            raise BadRequestData(f"{path}: no such OSM extract")
        cache_dir = cache_dir or cache.default_cache_dir()
        sha256 = file_sha256(path)
        home = cache.extract_dir(cache_dir, sha256)
        segments = cache.load_segments(home)
        from_cache = segments is not None
        extract: RoadExtract | None = None
        if segments is None:
            say(f"reading {path.name}")
            extract = read_roads(path)
            segments = split_segments(extract)
            cache.save_segments(home, segments)
        routers: dict[str, Router] = {}
        counts: dict[str, dict[str, int]] = {}
        for profile in profiles:
            folder = cache.network_dir(cache_dir, sha256, profile)
            network = cache.load_network(folder, segments, profile)
            if network is None:
                from_cache = False
                if extract is None:
                    extract = read_roads(path)
                say(f"building the {profile.mode} network")
                network = build_network(extract, segments, profile)
                router = Router(network)
                _save(folder, network, router)
            else:
                router = Router(network, topology_dir=folder / "cch")
                if not router.topology_loaded:  # damaged or missing: keep the rebuilt one
                    _save(folder, network, router)
            routers[profile.mode] = router
            counts[profile.mode] = _counts(network)
        report = LoadReport(
            extract=str(path),
            sha256=sha256,
            from_cache=from_cache,
            seconds=time.perf_counter() - started,
            segments=len(segments),
            modes=counts,
        )
        log_event(log, "city.loaded", **{k: v for k, v in report.as_dict().items() if k != "modes"})
        return cls(segments, routers, report)

    def attach_closures(self, source: Callable[[], list[Closure]]) -> None:
        """Where active closures come from (the hub, normally); read at most once a second."""
        self._closure_source = source
        self._closures_read = -np.inf

    # -- closures ----------------------------------------------------------------------------

    def closures(self, refresh: bool = False) -> list[Closure]:
        with self._lock:
            if self._closure_source is not None:
                now = time.monotonic()
                if refresh or now - self._closures_read >= CLOSURE_REFRESH_S:
                    self._closures = self._closure_source()
                    self._closures_read = now
            return list(self._closures)

    def closures_changed(self) -> None:
        """Force the next query to read closures again (after this process wrote one)."""
        with self._lock:
            self._closures_read = -np.inf

    def blocked(self, mode: str, at: datetime | None = None) -> frozenset[int]:
        """Segment indices closed for ``mode`` at ``at`` (default: now)."""
        router = self.router(mode)
        active = active_closures(self.closures(), at or datetime.now(UTC), mode)
        # What a closure closes, not just its id: a closure edited in place closes new roads.
        key = (
            mode,
            frozenset((c.id, c.segment_ids, c.area.wkb if c.area else None) for c in active),
        )
        found = self._blocked_cache.get(key)
        if found is None:
            blocked: set[int] = set()
            for closure in active:
                blocked.update(self._closure_segments(router, closure))
            found = frozenset(blocked)
            if len(self._blocked_cache) > 64:
                self._blocked_cache.clear()
            self._blocked_cache[key] = found
        return found

    def _closure_segments(self, router: Router, closure: Closure) -> set[int]:
        by_id = self._segments_by_id()
        found = {by_id[s] for s in closure.segment_ids if s in by_id}
        if closure.area is not None:
            found.update(int(i) for i in router.index.segments_in(closure.area))
        return found

    def _segments_by_id(self) -> dict[str, int]:
        if self._segment_index is None:
            ids = [self.segments.segment_id(i) for i in range(len(self.segments))]
            self._segment_index = {segment_id: i for i, segment_id in enumerate(ids)}
        return self._segment_index

    def segment_index(self, segment_id: str) -> int:
        index = self._segments_by_id().get(segment_id)
        if index is None:
            raise ResourceNotFound(f"no road segment {segment_id}")
        return index

    # -- queries -----------------------------------------------------------------------------

    def router(self, mode: str) -> Router:
        router = self.routers.get(mode)
        if router is None:
            loaded = ", ".join(self.routers)
            raise BadRequestData(f"unknown or unloaded mode {mode!r}: this city has {loaded}")
        return router

    def snap(self, points: Floats, mode: str) -> list[Snap]:
        return self.router(mode).snap(points, self.blocked(mode))

    def route(
        self, origin: Floats, destination: Floats, mode: str, at: datetime | None = None
    ) -> Route:
        return self.router(mode).route(origin, destination, self.blocked(mode, at))

    def matrix(
        self, origins: Floats, destinations: Floats, mode: str, at: datetime | None = None
    ) -> Floats:
        return self.router(mode).matrix(origins, destinations, self.blocked(mode, at))

    def travel_matrices(
        self, points: Floats, mode: str, at: datetime | None = None
    ) -> tuple[Floats, Floats]:
        """Seconds and metres (of the fastest way) between every two points, N x N."""
        return self.router(mode).travel_matrices(points, self.blocked(mode, at))

    def isochrones(
        self,
        origin: Floats,
        budgets_s: list[float],
        mode: str,
        at: datetime | None = None,
        buffer_m: float = DEFAULT_BUFFER_M,
    ) -> list[Isochrone]:
        self.router(mode)
        maker = self.isochrone_makers[mode]
        return maker.isochrones(origin, budgets_s, self.blocked(mode, at), buffer_m)

    def nearest(
        self,
        origin: Floats,
        candidates: Floats,
        k: int,
        mode: str,
        at: datetime | None = None,
    ) -> list[tuple[int, float]]:
        return self.router(mode).nearest(origin, candidates, k, self.blocked(mode, at))


def load_city(settings: Settings, progress: Progress | None = None) -> City:
    """The city a server runs with: the extract of ``settings.city_osm``, its places too."""
    if settings.city_osm is None:
        raise BadRequestData("no OSM extract given (--osm PATH or CETATE_CITY_OSM)")
    modes = [m.strip() for m in settings.city_modes.split(",") if m.strip()]
    city = City.load(settings.city_osm, modes, settings.city_cache, progress=progress)
    city.places = read_places(settings.city_osm)
    return city


def city_slug(path: Path) -> str:
    """The city's short name for entity ids, from its extract: ``Brașov.osm.pbf`` -> ``brasov``."""
    stem = path.name.split(".")[0]
    ascii_stem = unicodedata.normalize("NFKD", stem).encode("ascii", "ignore").decode().lower()
    slug = "".join(c if c.isalnum() else "-" for c in ascii_stem).strip("-")
    return slug or "city"


def hub_closures(hub: Hub, tenant: str = "") -> Callable[[], list[Closure]]:
    """A closure source reading ``cetate:RoadClosure`` entities from the hub."""
    return lambda: closures_from_documents(find_documents(hub, tenant, CLOSURE_TYPE))


def closures_from_documents(documents: list[dict[str, Any]]) -> list[Closure]:
    """Closures read back from the hub; one that is not valid is logged and left out, so a
    bad entity written over NGSI-LD cannot stop routing."""
    closures = []
    for document in documents:
        try:
            closures.append(parse_closure(document))
        except CetateError as error:
            log_event(log, "city.closure_ignored", id=document.get("id"), reason=error.detail)
    return closures


def _profile(mode: str, speeds: dict[str, float] | None) -> Profile:
    profile = default_profile(mode)
    return profile.with_speeds(speeds) if speeds else profile


def _save(folder: Path, network: Network, router: Router) -> None:
    cache.save_network(folder, network, lambda staging: router.save_topology(staging / "cch"))


def _counts(network: Network) -> dict[str, int]:
    return {
        "arcs": network.arc_count,
        "turns": len(network.turn_from),
        "droppedArcs": network.dropped_arcs,
        "restrictionsApplied": network.restrictions_applied,
        "restrictionsSkipped": network.restrictions_skipped,
    }
