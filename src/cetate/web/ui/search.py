"""Search for the operations room: entities by id, name or address, and the city's street
addresses from its OSM extract.

Reading every entity per keystroke would cost seconds at city scale (100,000 entities take
about 4 s to read from SQLite), so each tenant's entities are kept as one line of text each
(id, name, address, folded like ``city.addresses.normalise``) in memory. The lines are read
once, on the first search or when the page opens, and then kept current from the hub's changes
(the index is a hub listener, like the live map); the writes of other processes are picked up
when the lines are read again, ``REFRESH_S`` after they were. A query matches a line when
every word of it is in the line, so "lunga 12" finds "Strada Lungă 12".
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from cetate.city.addresses import Address, normalise
from cetate.hub.changes import Change
from cetate.hub.model import Entity
from cetate.hub.service import Hub
from cetate.hub.store.base import EntityQuery
from cetate.logs import log_event
from cetate.web.ui.points import PAGE, LayerIndex, position_of

log = logging.getLogger("cetate.web.ui")

# The IRIs ``name`` and ``address`` take under the core context, the Smart Data Models
# context and schema.org: whichever the data was written with.
NAME = tuple(
    f"{base}name"
    for base in (
        "https://uri.etsi.org/ngsi-ld/default-context/",
        "https://smartdatamodels.org/",
        "https://uri.etsi.org/ngsi-ld/",
        "https://schema.org/",
    )
)
ADDRESS = tuple(iri.removesuffix("name") + "address" for iri in NAME)
REFRESH_S = 120.0
MAX_QUERY = 200  # characters of a search
MIN_QUERY = 2


@dataclass(frozen=True)
class Hit:
    kind: str  # entity | address
    id: str  # the entity id, or the OSM object of an address (node/123)
    label: str  # what the person reads: the name, else the id
    detail: str  # the type and address of an entity; the city of an address
    lon: float | None
    lat: float | None
    layer: str | None = None  # the map layer of a located entity

    def describe(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "id": self.id,
            "label": self.label,
            "detail": self.detail,
            "lon": self.lon,
            "lat": self.lat,
            "layer": self.layer,
        }


@dataclass
class _Build:
    """A read of a tenant's lines under way: the changes written meanwhile, and when it ends."""

    changes: list[Change] = field(default_factory=list)
    done: threading.Event = field(default_factory=threading.Event)


@dataclass
class _Lines:
    lines: dict[str, tuple[str, Hit]]  # entity id -> (folded text, hit)
    made: float


def words(text: str) -> list[str]:
    return normalise(text[:MAX_QUERY]).split()


def matches(folded: str, wanted: Sequence[str]) -> bool:
    return all(word in folded for word in wanted)


Score = tuple[int, int, int, str]


def rank(
    hits: Iterable[tuple[str, Hit]], wanted: Sequence[str], limit: int
) -> list[tuple[Score, Hit]]:
    """The hits whose text has every word, best first, with their scores (``merge`` puts
    lists of them together). Best: the id or label is what was typed (an id may be typed
    without its ``urn:ngsi-ld:Type:`` start); then labels that have every word ("Kaivokatu 1"
    before the road segments named Kaivokatu whose ids hold a 1); then labels that begin with
    the first word; then the shorter texts."""
    phrase = " ".join(wanted)
    found: list[tuple[Score, Hit]] = []
    for text, hit in hits:
        if not matches(text, wanted):
            continue
        label = normalise(hit.label)
        entity_id = normalise(hit.id)
        if phrase in (label, entity_id) or entity_id.endswith(":" + phrase):
            closeness = 0
        elif matches(label, wanted):
            closeness = 1
        else:
            closeness = 2
        starts = 0 if label.startswith(wanted[0]) else 1
        found.append(((closeness, starts, len(text), hit.id), hit))
    found.sort(key=lambda item: item[0])
    return found[:limit]


def merge(lists: Iterable[list[tuple[Score, Hit]]], limit: int) -> list[Hit]:
    """Ranked lists as one, best first."""
    everything = [item for ranked in lists for item in ranked]
    everything.sort(key=lambda item: item[0])
    return [hit for _, hit in everything[:limit]]


class EntitySearch:
    """The entities of each tenant searched, as lines of text kept current."""

    def __init__(self, hub: Hub, index: LayerIndex) -> None:
        self.hub = hub
        self.index = index
        self._ctx = hub.contexts.core()
        self._tenants: dict[str, _Lines] = {}
        self._building: dict[str, _Build] = {}  # tenants being read
        self._lock = threading.Lock()

    def search(self, tenant: str, wanted: Sequence[str], limit: int) -> list[tuple[Score, Hit]]:
        lines = self._lines(tenant)
        with self._lock:
            items = list(lines.lines.values())
        return rank(items, wanted, limit)

    def needs_reading(self, tenant: str) -> bool:
        """Whether the tenant's lines are neither kept and fresh nor being read."""
        with self._lock:
            lines = self._tenants.get(tenant)
            if tenant in self._building:
                return False
            return lines is None or time.monotonic() - lines.made >= REFRESH_S

    def warm(self, tenant: str) -> None:
        """Read the tenant's lines now (from a thread), so the first search is quick."""
        self._lines(tenant)

    def _lines(self, tenant: str) -> _Lines:
        with self._lock:
            lines = self._tenants.get(tenant)
            building = self._building.get(tenant)
            fresh = lines is not None and time.monotonic() - lines.made < REFRESH_S
            if lines is not None and (fresh or building is not None):
                return lines  # a stale one serves while a thread reads the lines again
            if building is None:
                self._building[tenant] = _Build()
        if lines is not None:
            threading.Thread(target=self._read_lines, args=(tenant,), daemon=True).start()
            return lines
        if building is not None:  # the first read of this tenant is under way: wait for it
            building.done.wait()
            return self._lines(tenant)
        return self._read_lines(tenant)

    def _read_lines(self, tenant: str) -> _Lines:
        """Read the tenant's lines (its ``_Build`` made by the caller), listening to the hub
        meanwhile so that no write of this process is missed."""
        self.hub.add_listener(self)
        started = time.monotonic()
        try:
            read = {entity["id"]: self._line(entity) for entity in self._read(tenant)}
            with self._lock:
                for change in self._building[tenant].changes:
                    _apply(read, change, self._line)
                made = _Lines(read, started)
                if read or tenant in self._tenants:
                    # An empty tenant (or a name nobody uses) is read again next time rather
                    # than kept: any name can be asked for, and memory is kept for real ones.
                    self._tenants[tenant] = made
        finally:
            with self._lock:
                self._building.pop(tenant).done.set()
        log_event(log, "ui.search_indexed", tenant=tenant, entities=len(read),
                  seconds=round(time.monotonic() - started, 2))  # fmt: skip
        return made

    def _read(self, tenant: str) -> Iterable[Entity]:
        if tenant and not self.hub.store.tenant_exists(tenant):
            return
        offset = 0
        while True:
            entities, _ = self.hub.store.query(tenant, EntityQuery(limit=PAGE, offset=offset))
            yield from entities
            if len(entities) < PAGE:
                return
            offset += PAGE

    def publish(self, tenant: str, changes: Sequence[Change]) -> None:
        """Called by the hub's writer thread after a commit."""
        with self._lock:
            watched = tenant in self._building or tenant in self._tenants
        if not watched:
            return
        # The hub publishes one commit at a time, in commit order (hub.ordering), so lines made
        # outside the lock cannot overtake newer ones; the dictionaries change only under it,
        # so a search never iterates a dictionary that changes.
        made = [(c.entity_id, None if c.after is None else self._line(c.after)) for c in changes]
        with self._lock:
            if tenant in self._building:
                self._building[tenant].changes.extend(changes)
            lines = self._tenants.get(tenant)
            if lines is not None:
                for entity_id, line in made:
                    if line is None:
                        lines.lines.pop(entity_id, None)
                    else:
                        lines.lines[entity_id] = line

    def _line(self, entity: Entity) -> tuple[str, Hit]:
        type_name = self._ctx.compact(entity["type"][0])
        name = _text(_first(entity, NAME))
        address = _address(entity)
        position = position_of(entity)
        layer = self.index.layer_of(entity["type"][0]).id if position else None
        hit = Hit(
            "entity",
            entity["id"],
            name or entity["id"],
            " · ".join(part for part in (type_name, address) if part),
            position[0] if position else None,
            position[1] if position else None,
            layer,
        )
        return normalise(f"{entity['id']} {name} {address}"), hit


def _apply(
    lines: dict[str, tuple[str, Hit]],
    change: Change,
    line: Callable[[Entity], tuple[str, Hit]],
) -> None:
    if change.after is None:
        lines.pop(change.entity_id, None)
    else:
        lines[change.entity_id] = line(change.after)


def _first(entity: Entity, iris: Sequence[str]) -> Sequence[dict[str, Any]] | None:
    for iri in iris:
        instances = entity["attrs"].get(iri)
        if instances:
            return instances  # type: ignore[no-any-return]
    return None


def _text(instances: Sequence[dict[str, Any]] | None) -> str:
    if not instances:
        return ""
    value = instances[0].get("value")
    return value if isinstance(value, str) else ""


def _address(entity: Entity) -> str:
    """An address (Smart Data Models ``address``: streetAddress, postalCode, addressLocality
    ...) as one line; a plain string as it is."""
    instances = _first(entity, ADDRESS)
    if not instances:
        return ""
    value = instances[0].get("value")
    if isinstance(value, str):
        return value
    if isinstance(value, dict):
        order = ("streetAddress", "postalCode", "addressLocality", "addressRegion")
        parts = [str(value[k]) for k in order if isinstance(value.get(k), str | int)]
        return ", ".join(parts)
    return ""


class AddressSearch:
    """The street addresses of the city's OSM extract, read on first use."""

    def __init__(self, read: Callable[[], list[Address]]) -> None:
        self._read = read
        self._lines: list[tuple[str, Hit]] | None = None
        self._lock = threading.Lock()

    def search(self, wanted: Sequence[str], limit: int) -> list[tuple[Score, Hit]]:
        with self._lock:
            if self._lines is None:
                # OSM often has an address twice (on the entrance node and on the building):
                # one of each is enough to find it.
                unique: dict[tuple[str, float, float], Address] = {}
                for a in self._read():
                    unique.setdefault((a.label, round(a.lon, 3), round(a.lat, 3)), a)
                self._lines = [_address_line(a) for a in unique.values()]
            lines = self._lines
        return rank(lines, wanted, limit)


def _address_line(address: Address) -> tuple[str, Hit]:
    street = f"{address.street} {address.housenumber}"
    place = " ".join(p for p in (address.postcode, address.city) if p)
    hit = Hit("address", address.id, street, place, address.lon, address.lat)
    return normalise(address.label), hit
