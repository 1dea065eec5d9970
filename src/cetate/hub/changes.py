"""What each NGSI-LD write operation does to an entity, as pure functions.

Both stores run these inside their transaction (``Store.mutate``), so the semantics of append,
update, merge, replace and delete live in one place and cannot drift between SQLite and
PostgreSQL. Every function takes the entity as it is (or ``None``) and returns a ``Change``: the
entity as it becomes and the attribute instances written, which become history rows and trigger
subscriptions.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from cetate.errors import AlreadyExists, BadRequestData, ResourceNotFound
from cetate.hub.model import NGSI_LD_NULL, SCOPE, Entity, Instance, copy_entity


@dataclass(slots=True)
class Change:
    """One entity's write: before and after (``None`` when absent) and what was written."""

    entity_id: str
    before: Entity | None
    after: Entity | None
    written: dict[str, list[Instance]] = field(default_factory=dict)
    deleted: list[str] = field(default_factory=list)  # attribute IRIs removed
    not_updated: list[tuple[str, str]] = field(default_factory=list)  # (attribute IRI, reason)

    @property
    def changed_attrs(self) -> set[str]:
        return set(self.written) | set(self.deleted)


def create(existing: Entity | None, new: Entity) -> Change:
    if existing is not None:
        raise AlreadyExists(f"entity {new['id']} already exists")
    return Change(new["id"], None, new, written=dict(new["attrs"]))


def replace(existing: Entity | None, new: Entity) -> Change:
    """Upsert with replace, or PUT: the entity becomes exactly ``new`` (createdAt is kept)."""
    if existing is None:
        return create(None, new)
    after = dict(new)
    after["createdAt"] = existing["createdAt"]
    removed = [iri for iri in existing["attrs"] if iri not in new["attrs"]]
    for iri, instances in new["attrs"].items():
        after["attrs"][iri] = [_keep_created(existing, iri, i) for i in instances]
    return Change(new["id"], existing, after, written=dict(after["attrs"]), deleted=removed)


def append(existing: Entity | None, fragment: Entity, no_overwrite: bool = False) -> Change:
    """Append attributes (POST .../attrs, batch update, upsert ``update``): add or overwrite."""
    if existing is None:
        raise ResourceNotFound(f"entity {fragment['id']} does not exist")
    # Appending only replaces or adds whole instances, never edits one in place, so the lists
    # are copied and the instances shared: the hot path of sensor ingest (a deep copy of every
    # instance cost a tenth of it).
    after = dict(existing)
    after["attrs"] = {iri: list(instances) for iri, instances in existing["attrs"].items()}
    change = Change(existing["id"], existing, after)
    _merge_types(after, fragment)
    if "scope" in fragment:
        if no_overwrite:  # scopes are added to those the entity has
            old_scope = existing.get("scope") or []
            after["scope"] = old_scope + [s for s in fragment["scope"] if s not in old_scope]
        else:
            after["scope"] = fragment["scope"]
    for iri, instances in fragment["attrs"].items():
        current = after["attrs"].setdefault(iri, [])
        for instance in instances:
            position = _find_dataset(current, instance.get("datasetId"))
            if position is None:
                current.append(instance)
            elif no_overwrite:
                change.not_updated.append((iri, "attribute exists and noOverwrite was asked"))
                continue
            else:
                instance = _keep_created_instance(current[position], instance)
                current[position] = instance
            change.written.setdefault(iri, []).append(instance)
        if not current:
            del after["attrs"][iri]
    _touch(after, fragment, change)
    return change


def update(existing: Entity | None, fragment: Entity) -> Change:
    """Update attributes (PATCH .../attrs): only attributes that exist are replaced."""
    if existing is None:
        raise ResourceNotFound(f"entity {fragment['id']} does not exist")
    after = copy_entity(existing)
    change = Change(existing["id"], existing, after)
    _merge_types(after, fragment)
    if "scope" in fragment:
        if "scope" in existing:
            after["scope"] = fragment["scope"]
            after["modifiedAt"] = fragment["modifiedAt"]
        else:
            change.not_updated.append((SCOPE, "the entity has no scope to update"))
    for iri, instances in fragment["attrs"].items():
        current = after["attrs"].get(iri)
        for instance in instances:
            position = (
                None if current is None else _find_dataset(current, instance.get("datasetId"))
            )
            if current is None or position is None:
                change.not_updated.append((iri, "attribute does not exist"))
                continue
            if is_null(instance):
                _drop_instance(after, iri, position, change)
                continue
            instance = _keep_created_instance(current[position], instance)
            current[position] = instance
            change.written.setdefault(iri, []).append(instance)
    _touch(after, fragment, change)
    return change


def merge(existing: Entity | None, fragment: Entity) -> Change:
    """Merge entity (PATCH /entities/{id}): new attributes added, existing ones merged member by
    member, so sub-attributes the fragment does not mention stay."""
    if existing is None:
        raise ResourceNotFound(f"entity {fragment['id']} does not exist")
    after = copy_entity(existing)
    change = Change(existing["id"], existing, after)
    _merge_types(after, fragment)
    if "scope" in fragment:
        after["scope"] = fragment["scope"]
    for iri, instances in fragment["attrs"].items():
        current = after["attrs"].setdefault(iri, [])
        for instance in instances:
            position = _find_dataset(current, instance.get("datasetId"))
            if is_null(instance):
                # NGSI-LD Null deletes the instance (nothing to do when there is none)
                if position is not None:
                    _drop_instance(after, iri, position, change)
                    current = after["attrs"].setdefault(iri, [])
                continue
            if position is None:
                current.append(instance)
            else:
                instance = _merge_instance(current[position], instance)
                current[position] = instance
            change.written.setdefault(iri, []).append(instance)
        if not after["attrs"].get(iri):
            after["attrs"].pop(iri, None)
    _touch(after, fragment, change)
    return change


def partial_update(
    existing: Entity | None, iri: str, fragment: Instance, name: str, type_given: bool = True
) -> Change:
    """Partial attribute update (PATCH .../attrs/{attrId}): members given replace those stored.

    ``type_given`` is False when the client sent no ``type``: the stored type is kept then."""
    if existing is None:
        raise ResourceNotFound("entity does not exist")
    current = existing["attrs"].get(iri)
    position = None if current is None else _find_dataset(current, fragment.get("datasetId"))
    if current is None or position is None:
        raise ResourceNotFound(f"attribute {name} does not exist in entity {existing['id']}")
    if type_given and fragment["type"] != current[position]["type"] and not is_null(fragment):
        raise BadRequestData(
            f"attribute {name} is a {current[position]['type']}, not a {fragment['type']}"
        )
    after = copy_entity(existing)
    if is_null(fragment):
        change = Change(existing["id"], existing, after)
        _drop_instance(after, iri, position, change)
        after["modifiedAt"] = fragment["modifiedAt"]
        return change
    if not type_given:
        fragment = {**fragment, "type": current[position]["type"]}
    instance = _merge_instance(current[position], fragment)
    after["attrs"][iri][position] = instance
    after["modifiedAt"] = fragment["modifiedAt"]
    return Change(existing["id"], existing, after, written={iri: [instance]})


def delete_attribute(
    existing: Entity | None,
    iri: str,
    name: str,
    now: str,
    dataset_id: str | None = None,
    delete_all: bool = False,
) -> Change:
    if existing is None:
        raise ResourceNotFound("entity does not exist")
    current = existing["attrs"].get(iri)
    if current is None and iri == SCOPE and "scope" in existing:
        after = copy_entity(existing)
        del after["scope"]
        after["modifiedAt"] = now
        return Change(existing["id"], existing, after)
    if current is None:
        raise ResourceNotFound(f"attribute {name} does not exist in entity {existing['id']}")
    after = copy_entity(existing)
    if delete_all:
        remaining: list[Instance] = []
    else:
        position = _find_dataset(current, dataset_id)
        if position is None:
            raise ResourceNotFound(f"attribute {name} has no instance with datasetId {dataset_id}")
        remaining = [i for k, i in enumerate(current) if k != position]
    if remaining:
        after["attrs"][iri] = remaining
    else:
        del after["attrs"][iri]
    after["modifiedAt"] = now
    return Change(existing["id"], existing, after, deleted=[iri])


def delete(existing: Entity | None, entity_id: str) -> Change:
    if existing is None:
        raise ResourceNotFound(f"entity {entity_id} does not exist")
    return Change(entity_id, existing, None, deleted=list(existing["attrs"]))


# ---------------------------------------------------------------------------------------------


def is_null(instance: Instance) -> bool:
    """An instance whose main value is NGSI-LD Null (``urn:ngsi-ld:null``): a deletion."""
    for member in ("value", "object", "json", "vocab"):
        if member in instance:
            return bool(instance[member] == NGSI_LD_NULL)
    language_map = instance.get("languageMap")
    if language_map is not None:
        return bool(language_map == {"@none": NGSI_LD_NULL})
    for member in ("valueList", "objectList"):
        if member in instance:
            return bool(instance[member] in ([NGSI_LD_NULL], [{"object": NGSI_LD_NULL}]))
    return False


def _drop_instance(after: Entity, iri: str, position: int, change: Change) -> None:
    current = after["attrs"][iri]
    del current[position]
    if not current:
        del after["attrs"][iri]
    if iri not in change.deleted:
        change.deleted.append(iri)


def _find_dataset(instances: list[Instance], dataset_id: str | None) -> int | None:
    for position, instance in enumerate(instances):
        if instance.get("datasetId") == dataset_id:
            return position
    return None


def _keep_created_instance(old: Instance, new: Instance) -> Instance:
    instance = dict(new)
    instance["createdAt"] = old.get("createdAt", new["createdAt"])
    return instance


def _keep_created(existing: Entity, iri: str, instance: Instance) -> Instance:
    old = existing["attrs"].get(iri)
    if old:
        position = _find_dataset(old, instance.get("datasetId"))
        if position is not None:
            return _keep_created_instance(old[position], instance)
    return instance


def _merge_instance(old: Instance, fragment: Instance) -> Instance:
    if fragment["type"] != old["type"]:
        # Changing an attribute's type through a partial update is allowed by the spec, but
        # the main value member must change with it.
        merged: dict[str, Any] = {
            k: v for k, v in old.items() if ":" in k or k in ("createdAt", "datasetId")
        }
    else:
        merged = dict(old)
    for member, value in fragment.items():
        if member == "createdAt":
            continue
        merged[member] = value
    return merged


def _merge_types(after: Entity, fragment: Entity) -> None:
    for type_iri in fragment.get("type") or []:
        if type_iri not in after["type"]:
            after["type"] = [*after["type"], type_iri]


def _touch(after: Entity, fragment: Entity, change: Change) -> None:
    if change.written or change.deleted or fragment.get("type"):
        after["modifiedAt"] = fragment["modifiedAt"]


def check_fragment_has_attributes(fragment: Entity) -> None:
    if not fragment["attrs"] and "type" not in fragment and "scope" not in fragment:
        raise BadRequestData("the request has no attribute to write")
