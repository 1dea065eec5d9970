"""The hub as the domain modules use it in-process: plain NGSI-LD documents (normalized, terms
of the core @context) in, keyValues documents out. The same validation as the API applies."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from cetate.hub import changes
from cetate.hub.model import Entity, RenderOptions, now_iso, parse_entity, render_entity
from cetate.hub.service import BatchResult, Hub
from cetate.hub.store.base import EntityQuery


def upsert_documents(
    hub: Hub, tenant: str, documents: Sequence[dict[str, Any]], replace: bool = True
) -> BatchResult:
    ctx = hub.contexts.core()
    now = now_iso()
    entities = [parse_entity(document, ctx, now) for document in documents]
    return hub.upsert(tenant, entities, replace=replace)


def create_documents(hub: Hub, tenant: str, documents: Sequence[dict[str, Any]]) -> BatchResult:
    """Create the entities that do not exist yet; one that exists is an error in the result
    and is left as it is."""
    ctx = hub.contexts.core()
    now = now_iso()
    entities = [parse_entity(document, ctx, now) for document in documents]
    return hub.batch(tenant, entities, changes.create)


def find_documents(
    hub: Hub, tenant: str, type_name: str, limit: int = 100_000
) -> list[dict[str, Any]]:
    """Every entity of a type, as keyValues documents with core-context terms."""
    ctx = hub.contexts.core()
    query = EntityQuery(types=(frozenset({ctx.expand(type_name)}),), limit=limit)
    entities, _ = hub.store.query(tenant, query)
    options = RenderOptions(key_values=True)
    return [render_entity(entity, ctx, options) for entity in entities]


def get_document(hub: Hub, tenant: str, entity_id: str) -> dict[str, Any] | None:
    """One entity as a keyValues document, or None."""
    entity = hub.store.get(tenant, entity_id)
    if entity is None:
        return None
    return render_entity(entity, hub.contexts.core(), RenderOptions(key_values=True))


def count_documents(hub: Hub, tenant: str, type_name: str) -> int:
    """How many entities of a type there are, counted by the store (none is loaded)."""
    ctx = hub.contexts.core()
    query = EntityQuery(types=(frozenset({ctx.expand(type_name)}),), limit=1, count=True)
    _, total = hub.store.query(tenant, query)
    return total or 0


def delete_documents(hub: Hub, tenant: str, ids: Sequence[str]) -> BatchResult:
    """Delete entities by id; a missing one is an error in the result, not an exception."""
    placeholders: list[Entity] = [{"id": entity_id} for entity_id in ids]
    return hub.batch(tenant, placeholders, lambda old, e: changes.delete(old, e["id"]))
