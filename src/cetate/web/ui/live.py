"""Live map updates: the hub's changes, as map points, streamed to browsers over SSE, and the
layers' points kept in memory between page loads.

``LiveFeed`` is a hub change listener (``Hub.listeners``) while a browser is connected or a
layer's points are cached, and no listener otherwise, so a server nobody watches does no work
for the map. The hub calls it from its writer thread after each commit; it turns the changes
into points, applies them to the cached layers and hands them to each connection's ``Watcher``
on the event loop. A watcher keeps only the latest
point per entity until the browser takes them, so a slow browser gets fewer, newer updates
rather than a growing backlog.

The listener sees the writes of this process. With several API processes (``--workers``) a
browser sees the writes of the process it is connected to; the hub's cross-process notification
(PostgreSQL LISTEN/NOTIFY) is the way to widen that, left for when the dashboard needs it.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass

import orjson

from cetate.hub.changes import Change
from cetate.hub.service import Hub
from cetate.logs import log_event
from cetate.web.ui.points import LayerIndex, Point, layer_points
from cetate.web.ui.registry import LayerSpec

log = logging.getLogger("cetate.web.ui")

# Updates gathered into one SSE event: a browser at 500 updates/s gets ~20 events a second.
GATHER_S = 0.05
# A comment line now and then, so proxies keep the connection and a dead one is noticed.
KEEPALIVE_S = 15.0
# How long a layer's points are served from memory before the store is read again.
CACHE_TTL_S = 30.0


class Watcher:
    """One browser's pending updates, newest per entity."""

    def __init__(self, tenant: str, loop: asyncio.AbstractEventLoop) -> None:
        self.tenant = tenant
        self.loop = loop
        self.pending: dict[str, Point] = {}
        self.ready = asyncio.Event()

    def add(self, points: Sequence[Point]) -> None:
        """On the event loop."""
        for point in points:
            self.pending[point[1]] = point
        self.ready.set()

    def take(self) -> list[Point]:
        points = list(self.pending.values())
        self.pending.clear()
        self.ready.clear()
        return points


@dataclass
class _Cached:
    points: dict[str, Point]  # entity id -> its point
    made: float  # time.monotonic() when read from the store


class LiveFeed:
    """The map's view of the hub: live updates for browsers, and each layer's points kept
    current from the same changes, so a page load costs no store scan."""

    def __init__(self, hub: Hub, index: LayerIndex) -> None:
        self.hub = hub
        self.index = index
        self._watchers: list[Watcher] = []
        self._cached: dict[tuple[str, str], _Cached] = {}  # (tenant, layer id) -> points
        self._building: dict[tuple[str, str], list[Point]] = {}  # changes during a read
        self._lock = threading.Lock()

    def publish(self, tenant: str, changes: Sequence[Change]) -> None:
        """Called by the hub's writer thread after a commit."""
        with self._lock:
            watchers = [w for w in self._watchers if w.tenant == tenant]
            wanted = watchers or any(key[0] == tenant for key in (*self._cached, *self._building))
        if not wanted:
            return
        points = [p for p in (self.index.change(c) for c in changes) if p is not None]
        if not points:
            return
        with self._lock:
            for point in points:
                key = (tenant, point[0])
                if key in self._building:
                    self._building[key].append(point)
                if key in self._cached:
                    _apply(self._cached[key].points, point)
        for watcher in watchers:
            try:
                watcher.loop.call_soon_threadsafe(watcher.add, points)
            except RuntimeError:  # its loop has closed: the server is stopping
                log_event(log, "ui.live_dropped", tenant=tenant)

    def points(self, tenant: str, layer: LayerSpec, limit: int) -> tuple[list[Point], bool]:
        """A layer's points, from the cache when it is fresh. The listener is attached before
        the store is read, and what is written meanwhile is applied over what was read, so
        the cache misses no write of this process. Writes of other processes (another API
        worker, a CLI load into the same database) are seen when the cache is read again,
        ``CACHE_TTL_S`` after it was made."""
        key = (tenant, layer.id)
        with self._lock:
            cached = self._cached.get(key)
            if cached is not None and time.monotonic() - cached.made < CACHE_TTL_S:
                return list(cached.points.values()), False
            self._building.setdefault(key, [])
            self._listen()
        made = time.monotonic()
        try:
            found, cut = layer_points(
                self.hub.store, tenant, self.hub.contexts.core(), self.index, layer, limit
            )
        finally:
            with self._lock:
                meanwhile = self._building.pop(key, [])
        by_id = {point[1]: point for point in found}
        for point in meanwhile:
            _apply(by_id, point)
        with self._lock:
            if not cut:  # a truncated layer is not kept: it would grow without bound
                self._cached[key] = _Cached(by_id, made)
            elif not self._watchers and not self._cached and not self._building:
                self._unlisten()
        return list(by_id.values()), cut

    def _listen(self) -> None:
        self.hub.add_listener(self)

    def _unlisten(self) -> None:
        self.hub.remove_listener(self)

    def attach(self, watcher: Watcher) -> None:
        with self._lock:
            self._watchers.append(watcher)
            self._listen()

    def detach(self, watcher: Watcher) -> None:
        with self._lock:
            self._watchers.remove(watcher)
            if not self._watchers and not self._cached and not self._building:
                self._unlisten()

    @property
    def watching(self) -> int:
        with self._lock:
            return len(self._watchers)

    async def stream(self, tenant: str) -> AsyncIterator[bytes]:
        """The SSE body of one connection: ``data: [[layer, id, lon, lat, state], ...]``."""
        watcher = Watcher(tenant, asyncio.get_running_loop())
        self.attach(watcher)
        try:
            yield b"retry: 2000\n: connected\n\n"
            while True:
                try:
                    await asyncio.wait_for(watcher.ready.wait(), KEEPALIVE_S)
                except TimeoutError:
                    yield b": keepalive\n\n"
                    continue
                await asyncio.sleep(GATHER_S)
                yield b"data: " + orjson.dumps(watcher.take()) + b"\n\n"
        finally:
            self.detach(watcher)


def _apply(points: dict[str, Point], point: Point) -> None:
    if point[2] is None:
        points.pop(point[1], None)
    else:
        points[point[1]] = point
