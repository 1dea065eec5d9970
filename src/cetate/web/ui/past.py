"""The map as it was: each entity of a layer with the location and state it had at a past time,
rebuilt from the hub's history (the temporal store).

For every entity of the layer's types that has history, the last instance at or before the
time of its location and of each attribute the layer's rules read makes a point, exactly as
the live map would have drawn it then.

An entity whose readings go back further than its location (a device registered after its
past readings were imported, a replayed CSV, the demo's backfill) is drawn where it was first
recorded to be; an entity with neither a location nor a reading by then was not on the map.
The history does not record deletions, so an entity deleted since is drawn as it last was: the
time slider shows what was known of it, not that it was gone.
"""

from __future__ import annotations

from collections.abc import Iterator

from cetate.hub.model import Entity, Instance, TermMap
from cetate.hub.store.base import EntityQuery, HistoryQuery, Store
from cetate.web.ui.points import LOCATION, LayerIndex, Point
from cetate.web.ui.registry import LayerSpec

# Entities whose history is read per store call.
CHUNK = 500


def layer_points_at(
    store: Store,
    tenant: str,
    ctx: TermMap,
    index: LayerIndex,
    layer: LayerSpec,
    at_us: int,
    limit: int,
) -> tuple[list[Point], bool]:
    """The layer's points at ``at_us`` (µs since the epoch), at most ``limit``; the flag says
    whether some were left out."""
    points: list[Point] = []
    for chunk in _chunks(_entities_with_history(store, tenant, ctx, layer), CHUNK):
        query = HistoryQuery(
            entity_ids=tuple(entity_id for entity_id, _ in chunk),
            attrs=None,  # any attribute written by then says the entity was there
            timerel="before",
            time_at_us=at_us + 1,  # "before" is strict; an instance at the instant counts
            last_n=1,
        )
        history = store.history(tenant, query)
        _locate_from_later(store, tenant, history, at_us)
        for entity_id, types in chunk:
            rows = history.get(entity_id)
            if not rows or LOCATION not in rows:
                continue
            entity: Entity = {"id": entity_id, "type": types, "attrs": rows}
            point = index.point(entity)
            if point is None:
                continue
            if len(points) == limit:
                return points, True
            points.append(point)
    return points, False


def _locate_from_later(
    store: Store, tenant: str, history: dict[str, dict[str, list[Instance]]], at_us: int
) -> None:
    """Give the entities that had readings but no location by ``at_us`` the first location
    recorded after it."""
    unlocated = tuple(
        entity_id for entity_id, rows in history.items() if rows and LOCATION not in rows
    )
    if not unlocated:
        return
    query = HistoryQuery(
        entity_ids=unlocated, attrs=frozenset({LOCATION}), timerel="after", time_at_us=at_us
    )
    for entity_id, rows in store.history(tenant, query).items():
        if rows.get(LOCATION):
            history[entity_id][LOCATION] = rows[LOCATION][:1]


def _entities_with_history(
    store: Store, tenant: str, ctx: TermMap, layer: LayerSpec
) -> list[tuple[str, list[str]]]:
    types = tuple(frozenset({ctx.expand(name)}) for name in layer.entity_types)
    found, _ = store.history_entities(tenant, EntityQuery(types=types, limit=10**9))
    return found


def _chunks(items: list[tuple[str, list[str]]], size: int) -> Iterator[list[tuple[str, list[str]]]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
