"""The Store protocol: the only owner of persistence, implemented for SQLite and PostgreSQL.

A store keeps entities (current state), their history (one row per attribute instance written)
and subscriptions, per tenant. Write semantics are not the store's business: ``mutate`` loads the
entities named, lets a pure function from ``cetate.hub.changes`` decide what they become, and
persists the result and its history in one transaction. Queries are filtered in two steps: the
store narrows candidates with its indexes (type, id, geometry bounding box), then
``matches`` applies the exact NGSI-LD semantics in Python, the same for every store.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from cetate.hub.changes import Change
from cetate.hub.model import Entity, Instance
from cetate.hub.query import GeoQuery, QExpr, match_geo, match_q

LOCATION = "https://uri.etsi.org/ngsi-ld/location"

Mutation = Callable[[Mapping[str, Entity]], list[Change]]


@dataclass(frozen=True, slots=True)
class EntityQuery:
    """Which entities a query selects. Names are expanded IRIs."""

    # Alternatives of type sets: an entity matches when it has every type of one alternative.
    types: tuple[frozenset[str], ...] = ()
    ids: tuple[str, ...] = ()
    id_pattern: re.Pattern[str] | None = None
    attrs: frozenset[str] | None = None  # the entity has at least one of them
    q: QExpr | None = None
    geo: GeoQuery | None = None
    geoproperty: str = LOCATION
    scopes: tuple[str, ...] = ()  # scope prefixes (scopeQ); any matches
    limit: int = 20
    offset: int = 0
    count: bool = False

    @property
    def type_candidates(self) -> tuple[str, ...]:
        """One type per alternative, enough for an index lookup of candidates."""
        return tuple(sorted({min(group) for group in self.types}))


def matches(entity: Entity, query: EntityQuery) -> bool:
    """The exact NGSI-LD semantics of a query, applied to candidates a store's index found."""
    if query.types:
        entity_types = set(entity["type"])
        if not any(group <= entity_types for group in query.types):
            return False
    if query.ids and entity["id"] not in query.ids:
        return False
    if query.id_pattern is not None and query.id_pattern.fullmatch(entity["id"]) is None:
        return False
    attrs = entity["attrs"]
    if query.attrs is not None and not any(a in attrs for a in query.attrs):
        return False
    if query.scopes and not in_scope(entity.get("scope") or [], query.scopes):
        return False
    if query.q is not None and not match_q(query.q, entity):
        return False
    if query.geo is not None:
        instances = attrs.get(query.geoproperty) or []
        if not any(
            i["type"] == "GeoProperty" and match_geo(query.geo, i["value"]) for i in instances
        ):
            return False
    return True


def collapse(changes: Sequence[Change]) -> list[Change]:
    """One change per entity: the state before the first and after the last, with everything
    written in between (in order), so a store decides its index rows from one pair."""
    merged: dict[str, Change] = {}
    for change in changes:
        prior = merged.get(change.entity_id)
        if prior is None:
            merged[change.entity_id] = Change(
                change.entity_id,
                change.before,
                change.after,
                {iri: list(instances) for iri, instances in change.written.items()},
                list(change.deleted),
            )
            continue
        prior.after = change.after
        for iri, instances in change.written.items():
            prior.written.setdefault(iri, []).extend(instances)
        prior.deleted.extend(change.deleted)
    return list(merged.values())


def literal_prefix(pattern: str) -> str:
    """The fixed start of a regular expression, for an index range (``urn:ngsi-ld:Car:.*``)."""
    if "|" in pattern:  # alternatives have no common fixed start worth looking for
        return ""
    prefix = re.match(r"\^?([A-Za-z0-9:_\-/]*)", pattern)
    text = prefix.group(1) if prefix else ""
    # A quantifier right after the prefix applies to its last character: drop that character.
    rest = pattern[len(prefix.group(0)) :] if prefix else pattern
    if rest[:1] in ("*", "?", "{"):
        text = text[:-1]
    return text


def in_scope(scopes: Sequence[str], wanted: Sequence[str]) -> bool:
    """Whether an entity's scopes match a scopeQ's alternatives (``/City/#`` takes a subtree,
    ``/#`` everything with a scope)."""
    for scope in scopes:
        for prefix in wanted:
            if prefix == "/#":
                return True
            if prefix.endswith("/#"):
                base = prefix[:-2]
                if scope == base or scope.startswith(base + "/"):
                    return True
            elif scope == prefix:
                return True
    return False


@dataclass(frozen=True, slots=True)
class HistoryQuery:
    """Which history rows a temporal query wants, for a set of entity ids."""

    entity_ids: tuple[str, ...]
    attrs: frozenset[str] | None = None
    timerel: str | None = None  # before | after | between
    time_at_us: int | None = None
    end_time_at_us: int | None = None
    last_n: int | None = None
    timeproperty: str = "observedAt"  # observedAt | modifiedAt | createdAt


@dataclass(slots=True)
class TypeSummary:
    type: str
    count: int
    attrs: dict[str, set[str]] = field(default_factory=dict)  # attribute IRI -> attribute types


@dataclass(slots=True)
class AttributeSummary:
    name: str
    count: int  # entities having it
    types: set[str] = field(default_factory=set)  # entity types
    attr_types: set[str] = field(default_factory=set)


@dataclass(slots=True)
class Subscription:
    tenant: str
    id: str
    doc: dict[str, Any]  # the subscription as the client sent it, expanded names inside
    status: dict[str, Any] = field(default_factory=dict)  # timesSent, lastNotification...


class Store(Protocol):
    """What every store provides. Calls are synchronous; the API runs them off the event loop
    where they may block on the network (PostgreSQL)."""

    name: str
    blocking: bool  # True when calls wait on the network and belong in a worker thread

    def close(self) -> None: ...

    # entities
    def mutate(self, tenant: str, ids: Sequence[str], fn: Mutation) -> list[Change]: ...
    def get(self, tenant: str, entity_id: str) -> Entity | None: ...
    def query(self, tenant: str, query: EntityQuery) -> tuple[list[Entity], int | None]: ...
    def types(self, tenant: str) -> list[TypeSummary]: ...
    def tenant_exists(self, tenant: str) -> bool: ...
    def tenants(self) -> list[str]: ...

    # history
    def history(self, tenant: str, query: HistoryQuery) -> dict[str, dict[str, list[Instance]]]: ...
    def history_entities(
        self, tenant: str, query: EntityQuery
    ) -> tuple[list[tuple[str, list[str]]], int | None]: ...
    def add_history(
        self, tenant: str, entity_id: str, types: list[str], rows: Mapping[str, list[Instance]]
    ) -> None: ...
    def delete_history(self, tenant: str, entity_id: str, attr: str | None = None) -> bool: ...

    # subscriptions
    def put_subscription(self, subscription: Subscription, create: bool) -> None: ...
    def get_subscription(self, tenant: str, sub_id: str) -> Subscription | None: ...
    def list_subscriptions(self, tenant: str | None) -> list[Subscription]: ...
    def delete_subscription(self, tenant: str, sub_id: str) -> bool: ...
    def update_subscription_status(
        self, tenant: str, sub_id: str, status: Mapping[str, Any]
    ) -> None: ...
    def subscriptions_version(self) -> int:
        """A number that changes whenever any process creates, changes or deletes a
        subscription, so each process's notifier knows when to reload them."""
        ...
