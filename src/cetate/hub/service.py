"""The hub's operations, shared by the API, the CLI and the city modules.

A ``Hub`` joins a store, the @context resolver and the notifier. Its methods take already parsed
entities (``cetate.hub.model``) and return plain results; they run in one store transaction each
and hand what changed to the notifier after the commit, off the write path.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from cetate.config import Settings
from cetate.errors import BadRequestData, CetateError, ResourceNotFound
from cetate.hub import changes
from cetate.hub.changes import Change
from cetate.hub.context import ContextResolver
from cetate.hub.model import Entity
from cetate.hub.store.base import Store


class ChangeListener(Protocol):
    def publish(self, tenant: str, changes: Sequence[Change]) -> None: ...


@dataclass(slots=True)
class BatchResult:
    """Per-entity outcome of a batch: ids that succeeded, and an error for each that did not."""

    success: list[str] = field(default_factory=list)
    created: list[str] = field(default_factory=list)
    errors: list[tuple[str, CetateError]] = field(default_factory=list)

    def body(self) -> dict[str, Any]:
        return {
            "success": self.success,
            "errors": [
                {"entityId": entity_id, "error": error.problem()}
                for entity_id, error in self.errors
            ],
        }


EntityOp = Callable[[Entity | None, Entity], Change]


class Hub:
    def __init__(self, store: Store, contexts: ContextResolver, settings: Settings) -> None:
        self.store = store
        self.contexts = contexts
        self.settings = settings
        self.listeners: list[ChangeListener] = []

    def close(self) -> None:
        self.store.close()

    def _publish(self, tenant: str, done: list[Change]) -> None:
        if done:
            for listener in self.listeners:
                listener.publish(tenant, done)

    def mutate_one(
        self, tenant: str, entity_id: str, op: Callable[[Entity | None], Change]
    ) -> Change:
        """Apply one operation to one entity, atomically; errors propagate unchanged."""

        def mutation(existing: Mapping[str, Entity]) -> list[Change]:
            return [op(existing.get(entity_id))]

        done = self.store.mutate(tenant, [entity_id], mutation)
        self._publish(tenant, done)
        return done[0]

    def create(self, tenant: str, entity: Entity) -> None:
        self.mutate_one(tenant, entity["id"], lambda old: changes.create(old, entity))

    def batch(
        self,
        tenant: str,
        entities: Sequence[Entity],
        op: EntityOp,
        errors: Sequence[tuple[str, CetateError]] = (),
    ) -> BatchResult:
        """Apply ``op`` to each entity in one transaction; one entity's error spoils no other."""
        result = BatchResult(errors=list(errors))

        def mutation(existing: Mapping[str, Entity]) -> list[Change]:
            current: dict[str, Entity | None] = dict(existing)
            done: list[Change] = []
            for entity in entities:
                entity_id = entity["id"]
                try:
                    change = op(current.get(entity_id), entity)
                except CetateError as error:
                    result.errors.append((entity_id, error))
                    continue
                if change.before is None and change.after is not None:
                    result.created.append(entity_id)
                current[entity_id] = change.after
                result.success.append(entity_id)
                done.append(change)
            return done

        done = self.store.mutate(tenant, [e["id"] for e in entities], mutation)
        self._publish(tenant, done)
        return result

    def batch_delete(self, tenant: str, ids: Sequence[str]) -> BatchResult:
        placeholders = [{"id": entity_id} for entity_id in ids]
        return self.batch(tenant, placeholders, lambda old, e: changes.delete(old, e["id"]))

    def upsert(self, tenant: str, entities: Sequence[Entity], replace: bool) -> BatchResult:
        def op(old: Entity | None, new: Entity) -> Change:
            if old is None or replace:
                return changes.replace(old, new)
            return changes.append(old, new)

        return self.batch(tenant, entities, op)

    def get(self, tenant: str, entity_id: str) -> Entity:
        entity = self.store.get(tenant, entity_id)
        if entity is None:
            raise ResourceNotFound(f"entity {entity_id} does not exist")
        return entity


def unique_ids(entities: Sequence[Entity]) -> None:
    seen: set[str] = set()
    for entity in entities:
        if entity["id"] in seen:
            raise BadRequestData(f"entity {entity['id']} appears twice in the request")
        seen.add(entity["id"])
