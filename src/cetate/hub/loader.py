"""Entities from files: NGSI-LD JSON, JSON-LD (with @context) or GeoJSON FeatureCollections.

Everything in a file is validated before anything is written, so a bad file loads nothing and
the error names the file, the entity's position and what is wrong.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson

from cetate.errors import BadRequestData, CetateError
from cetate.hub.context import Context, ContextResolver
from cetate.hub.model import Entity, now_iso, parse_entity


def read_entities(path: Path, resolver: ContextResolver, context_url: str | None) -> list[Entity]:
    try:
        raw = path.read_bytes()
    except OSError as error:
        raise BadRequestData(f"{path}: cannot read: {error.strerror}") from None
    try:
        document = orjson.loads(raw)
    except orjson.JSONDecodeError as error:
        raise BadRequestData(f"{path}: not valid JSON: {error}") from None
    items = _items(document, path)
    default_ctx = resolver.resolve(context_url) if context_url else resolver.core()
    now = now_iso()
    entities: list[Entity] = []
    seen: set[str] = set()
    for position, item in enumerate(items, start=1):
        try:
            ctx = _context_of(item, resolver, default_ctx)
            entity = parse_entity(item, ctx, now)
        except CetateError as error:
            raise BadRequestData(f"{path}: entity #{position}: {error.detail}") from None
        if entity["id"] in seen:
            raise BadRequestData(f"{path}: entity #{position}: id {entity['id']} appears twice")
        seen.add(entity["id"])
        entities.append(entity)
    return entities


def _items(document: Any, path: Path) -> list[Any]:
    if isinstance(document, dict) and document.get("type") == "FeatureCollection":
        features = document.get("features")
        if not isinstance(features, list):
            raise BadRequestData(f"{path}: a FeatureCollection needs a features array")
        return [_from_feature(f, path, k) for k, f in enumerate(features, start=1)]
    if isinstance(document, dict) and document.get("type") == "Feature":
        return [_from_feature(document, path, 1)]
    if isinstance(document, dict):
        return [document]
    if isinstance(document, list):
        return document
    raise BadRequestData(f"{path}: expected an entity, an array of entities or GeoJSON")


def _from_feature(feature: Any, path: Path, position: int) -> dict[str, Any]:
    """A GeoJSON Feature as an NGSI-LD entity: properties become attributes, the geometry
    becomes ``location``; ``id`` and ``type`` come from the feature or its properties."""
    if not isinstance(feature, dict) or feature.get("type") != "Feature":
        raise BadRequestData(f"{path}: feature #{position} is not a GeoJSON Feature")
    properties = dict(feature.get("properties") or {})
    entity_id = feature.get("id", properties.pop("id", None))
    entity_type = properties.pop("type", None)
    if entity_id is None or entity_type is None:
        raise BadRequestData(f"{path}: feature #{position} needs an id and a properties.type")
    entity: dict[str, Any] = {"id": entity_id, "type": entity_type, **properties}
    if feature.get("geometry") is not None:
        entity["location"] = {"type": "GeoProperty", "value": feature["geometry"]}
    return entity


def _context_of(item: Any, resolver: ContextResolver, default: Context) -> Context:
    if isinstance(item, dict) and "@context" in item:
        return resolver.resolve(item["@context"])
    return default
