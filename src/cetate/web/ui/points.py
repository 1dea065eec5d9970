"""Located entities as the map draws them: one compact point per entity, with its state.

The map needs four things of an entity: its id, a position, the layer it is in and the state
that colours it. A full NGSI-LD document is ~1 kB; this is ~80 bytes, so ten thousand entities
arrive in one small response and live updates stay small too. The position of a non-point
geometry is a point on it: the middle vertex of a line, the centre of anything else's bounds.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from cetate.hub.changes import Change
from cetate.hub.model import Entity, TermMap, geometry_bounds, point_position
from cetate.hub.store.base import EntityQuery, Store
from cetate.web.ui.registry import LayerSpec, Registry, type_layer

LOCATION = "https://uri.etsi.org/ngsi-ld/location"
# Entities read from the store per call while a layer is loaded.
PAGE = 20_000

# [layer id, entity id, lon, lat, state]; lon/lat/state are None for an entity that left the map.
Point = list[Any]


@dataclass(frozen=True)
class _Compiled:
    spec: LayerSpec
    attributes: dict[str, str]  # expanded IRI -> the name the rules use


class LayerIndex:
    """Which layer an entity type is in, with the rules' attribute names expanded once.

    Types no module claims get a layer of their own (``type_layer``), made when first seen."""

    def __init__(self, registry: Registry, ctx: TermMap) -> None:
        self._ctx = ctx
        self._by_type: dict[str, _Compiled] = {}
        for layer in registry.layers():
            compiled = self._compile(layer)
            for type_name in layer.entity_types:
                self._by_type[ctx.expand(type_name)] = compiled

    def _compile(self, layer: LayerSpec) -> _Compiled:
        return _Compiled(layer, {self._ctx.expand(name): name for name in layer.attributes})

    def layer_of(self, type_iri: str) -> LayerSpec:
        return self._for_type(type_iri).spec

    def _for_type(self, type_iri: str) -> _Compiled:
        compiled = self._by_type.get(type_iri)
        if compiled is None:
            compiled = self._compile(type_layer(self._ctx.compact(type_iri)))
            self._by_type[type_iri] = compiled
        return compiled

    def point(self, entity: Entity) -> Point | None:
        """The entity on the map, or None when it has no usable location."""
        position = position_of(entity)
        if position is None:
            return None
        compiled = self._for_type(entity["type"][0])
        values = {
            name: _key_value(entity["attrs"][iri][0])
            for iri, name in compiled.attributes.items()
            if entity["attrs"].get(iri)
        }
        lon, lat = position
        return [compiled.spec.id, entity["id"], round(lon, 6), round(lat, 6),
                compiled.spec.state(values)]  # fmt: skip

    def change(self, change: Change) -> Point | None:
        """What a write means for the map: the entity's new point, a removal, or None for an
        entity that was not on the map and is not now."""
        if change.after is not None:
            point = self.point(change.after)
            if point is not None:
                return point
        if change.before is not None and position_of(change.before) is not None:
            layer = self.layer_of(change.before["type"][0])
            return [layer.id, change.entity_id, None, None, None]
        return None


def layer_points(
    store: Store, tenant: str, ctx: TermMap, index: LayerIndex, layer: LayerSpec, limit: int
) -> tuple[list[Point], bool]:
    """The points of a layer, at most ``limit``; the flag says whether some were left out."""
    types = tuple(frozenset({ctx.expand(name)}) for name in layer.entity_types)
    points: list[Point] = []
    for entity in _entities(store, tenant, types, limit + 1):
        point = index.point(entity)
        if point is not None:
            if len(points) == limit:
                return points, True
            points.append(point)
    return points, False


def _entities(
    store: Store, tenant: str, types: tuple[frozenset[str], ...], most: int
) -> Iterator[Entity]:
    """Entities having a location, page by page (``most`` of them at most)."""
    offset = 0
    while offset < most:
        size = min(PAGE, most - offset)
        query = EntityQuery(types=types, limit=size, offset=offset)
        entities, _ = store.query(tenant, query)
        yield from entities
        if len(entities) < size:
            return
        offset += size


def position_of(entity: Entity) -> tuple[float, float] | None:
    instances: Sequence[dict[str, Any]] = entity["attrs"].get(LOCATION) or ()
    if not instances or instances[0].get("type") != "GeoProperty":
        return None
    geometry = instances[0]["value"]
    point = point_position(geometry)
    if point is not None:
        return point
    if geometry.get("type") == "LineString":
        lon, lat = geometry["coordinates"][len(geometry["coordinates"]) // 2][:2]
        return float(lon), float(lat)
    west, south, east, north = geometry_bounds(geometry)
    return (west + east) / 2, (south + north) / 2


def _key_value(instance: dict[str, Any]) -> Any:
    """An instance's value as keyValues gives it, for the kinds of attribute rules read."""
    for member in ("value", "object", "vocab", "json"):
        if member in instance:
            return instance[member]
    return None
