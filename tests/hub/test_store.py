"""The Store protocol, test by test, on every store (SQLite, and PostgreSQL where configured).

Each test takes the ``store`` fixture, so behaviour never depends on the store: entities and their
write operations, the type / id / geo indexes, queries (ordering, paging, counting), tenants,
history, subscriptions, atomicity and concurrent writers.
"""

from __future__ import annotations

import re
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pytest

from cetate.errors import AlreadyExists, BadRequestData, CetateError, ConfigError
from cetate.hub import changes
from cetate.hub.changes import Change
from cetate.hub.context import ContextResolver
from cetate.hub.model import Entity, parse_attributes, parse_entity, parse_types, time_us
from cetate.hub.query import map_q_names, parse_geoquery, parse_q
from cetate.hub.store.base import EntityQuery, HistoryQuery, Store, Subscription

CTX = ContextResolver().core()
T0 = "2026-11-22T08:00:00.000Z"
T1 = "2026-11-22T09:00:00.000Z"
T2 = "2026-11-22T10:00:00.000Z"

# Brașov and two other Romanian cities (lon, lat).
SFATULUI = (25.5887, 45.6427)  # Piața Sfatului, the old town square
GARA = (25.6130, 45.6610)  # the railway station, about 2.8 km away
POIANA = (25.5540, 45.5940)  # Poiana Brașov, about 6 km away
BUCURESTI = (26.1025, 44.4268)
CLUJ = (23.5940, 46.7712)
BRASOV_BOX = [[25.50, 45.60], [25.70, 45.60], [25.70, 45.70], [25.50, 45.70], [25.50, 45.60]]
BUCURESTI_BOX = [[25.95, 44.33], [26.25, 44.33], [26.25, 44.54], [25.95, 44.54], [25.95, 44.33]]


def iri(name: str) -> str:
    return CTX.expand(name)


def entity(
    entity_id: str, kind: str | list[str] = "Vehicle", now: str = T0, **attrs: Any
) -> Entity:
    return parse_entity({"id": entity_id, "type": kind, **attrs}, CTX, now)


def fragment(entity_id: str, now: str, kind: str | None = None, **attrs: Any) -> Entity:
    """What the API builds for PATCH / POST .../attrs: attributes, maybe types, a time."""
    out: Entity = {"id": entity_id, "modifiedAt": now, "attrs": parse_attributes(attrs, CTX, now)}
    if kind is not None:
        out["type"] = parse_types(kind, CTX)
    return out


def point(lon_lat: tuple[float, float]) -> dict[str, Any]:
    return {"type": "GeoProperty", "value": {"type": "Point", "coordinates": list(lon_lat)}}


def apply(
    store: Store, op: Callable[[Entity | None], Change], entity_id: str, tenant: str = ""
) -> Change:
    """One operation on one entity through ``mutate``, as the hub does it."""
    return store.mutate(tenant, [entity_id], lambda found: [op(found.get(entity_id))])[0]


def create(store: Store, new: Entity, tenant: str = "") -> None:
    apply(store, lambda old: changes.create(old, new), new["id"], tenant)


def upsert(store: Store, entities: list[Entity], tenant: str = "") -> list[Change]:
    def mutation(found: Mapping[str, Entity]) -> list[Change]:
        return [changes.replace(found.get(e["id"]), e) for e in entities]

    return store.mutate(tenant, [e["id"] for e in entities], mutation)


def ids_of(store: Store, query: EntityQuery, tenant: str = "") -> list[str]:
    found, _ = store.query(tenant, query)
    return [e["id"] for e in found]


def types(*alternatives: str | tuple[str, ...]) -> tuple[frozenset[str], ...]:
    return tuple(
        frozenset(iri(t) for t in ((a,) if isinstance(a, str) else a)) for a in alternatives
    )


def q(text: str) -> Any:
    return map_q_names(parse_q(text), CTX.expand)


def geo(georel: str, geometry: str, coordinates: Any) -> Any:
    return parse_geoquery(georel, geometry, coordinates)


def values(instances: list[dict[str, Any]]) -> list[Any]:
    return [i["value"] for i in instances]


# ---------------------------------------------------------------------------------------------
# Entities


def test_create_then_get_round_trips(store: Store) -> None:
    car = entity("urn:ngsi-ld:Vehicle:B-01-CTT", speed={"value": 42.5, "unitCode": "KMH"})
    create(store, car)
    assert store.get("", car["id"]) == car
    assert store.get("", "urn:ngsi-ld:Vehicle:missing") is None


def test_create_twice_is_already_exists_and_changes_nothing(store: Store) -> None:
    create(store, entity("urn:ngsi-ld:Vehicle:1", speed={"value": 1}))
    with pytest.raises(AlreadyExists):
        create(store, entity("urn:ngsi-ld:Vehicle:1", now=T1, speed={"value": 2}))
    stored = store.get("", "urn:ngsi-ld:Vehicle:1")
    assert stored is not None and values(stored["attrs"][iri("speed")]) == [1]
    history = store.history("", HistoryQuery(("urn:ngsi-ld:Vehicle:1",)))
    assert values(history["urn:ngsi-ld:Vehicle:1"][iri("speed")]) == [1]


def test_upsert_replace_keeps_created_at(store: Store) -> None:
    first = entity("urn:ngsi-ld:Vehicle:1", speed={"value": 10}, name={"value": "bus 4"})
    upsert(store, [first])
    second = entity("urn:ngsi-ld:Vehicle:1", now=T1, speed={"value": 20})
    done = upsert(store, [second])
    assert done[0].before is not None and done[0].deleted == [iri("name")]
    stored = store.get("", "urn:ngsi-ld:Vehicle:1")
    assert stored is not None
    assert stored["createdAt"] == T0 and stored["modifiedAt"] == T1
    assert list(stored["attrs"]) == [iri("speed")]
    speed = stored["attrs"][iri("speed")][0]
    assert speed["value"] == 20 and speed["createdAt"] == T0 and speed["modifiedAt"] == T1


def test_append_update_and_merge(store: Store) -> None:
    entity_id = "urn:ngsi-ld:Vehicle:1"
    create(store, entity(entity_id, speed={"value": 10, "unitCode": "KMH"}))

    appended = fragment(entity_id, T1, kind="Bus", fuel={"value": 0.5})
    apply(store, lambda old: changes.append(old, appended), entity_id)
    stored = store.get("", entity_id)
    assert stored is not None
    assert stored["type"] == [iri("Vehicle"), iri("Bus")]
    assert set(stored["attrs"]) == {iri("speed"), iri("fuel")}

    updated = fragment(entity_id, T2, speed={"value": 30}, colour={"value": "red"})
    change = apply(store, lambda old: changes.update(old, updated), entity_id)
    assert change.not_updated == [(iri("colour"), "attribute does not exist")]
    stored = store.get("", entity_id)
    assert stored is not None
    assert stored["attrs"][iri("speed")][0]["value"] == 30
    assert "unitCode" not in stored["attrs"][iri("speed")][0]  # update replaces the instance
    assert iri("colour") not in stored["attrs"]

    merged = fragment(entity_id, T2, fuel={"value": 0.25}, colour={"value": "blue"})
    apply(store, lambda old: changes.merge(old, merged), entity_id)
    stored = store.get("", entity_id)
    assert stored is not None
    assert stored["attrs"][iri("fuel")][0]["value"] == 0.25
    assert stored["attrs"][iri("colour")][0]["value"] == "blue"
    assert stored["createdAt"] == T0 and stored["modifiedAt"] == T2
    # The new type is indexed.
    assert ids_of(store, EntityQuery(types=types("Bus"))) == [entity_id]


def test_delete_cleans_the_type_and_geo_indexes(store: Store) -> None:
    entity_id = "urn:ngsi-ld:Vehicle:1"
    create(store, entity(entity_id, location=point(SFATULUI)))
    near = EntityQuery(geo=geo("near;maxDistance==500", "Point", list(SFATULUI)))
    assert ids_of(store, near) == [entity_id]
    apply(store, lambda old: changes.delete(old, entity_id), entity_id)
    assert store.get("", entity_id) is None
    assert ids_of(store, EntityQuery(types=types("Vehicle"))) == []
    assert ids_of(store, near) == []
    assert store.types("") == []
    # The same id again, elsewhere and of another type: only the new facts match.
    create(store, entity(entity_id, kind="Bus", location=point(CLUJ)))
    assert ids_of(store, near) == []
    assert ids_of(store, EntityQuery(types=types("Vehicle"))) == []
    assert ids_of(store, EntityQuery(types=types("Bus"))) == [entity_id]
    at_cluj = EntityQuery(geo=geo("near;maxDistance==10", "Point", list(CLUJ)))
    assert ids_of(store, at_cluj) == [entity_id]


def test_replace_without_location_leaves_the_geo_index(store: Store) -> None:
    entity_id = "urn:ngsi-ld:Vehicle:1"
    upsert(store, [entity(entity_id, location=point(SFATULUI))])
    upsert(store, [entity(entity_id, now=T1, speed={"value": 3})])
    near = EntityQuery(geo=geo("near;maxDistance==500", "Point", list(SFATULUI)))
    assert ids_of(store, near) == []
    upsert(store, [entity(entity_id, now=T2, location=point(GARA))])
    assert ids_of(store, near) == []
    near_gara = EntityQuery(geo=geo("near;maxDistance==500", "Point", list(GARA)))
    assert ids_of(store, near_gara) == [entity_id]


def test_a_failing_mutation_writes_nothing(store: Store) -> None:
    create(store, entity("urn:ngsi-ld:Vehicle:1", speed={"value": 1}))
    ids = ["urn:ngsi-ld:Vehicle:1", "urn:ngsi-ld:Vehicle:2"]

    def half_done(found: Mapping[str, Entity]) -> list[Change]:
        done = [changes.replace(found.get(ids[0]), entity(ids[0], now=T1, speed={"value": 9}))]
        done.append(changes.create(None, entity(ids[1], now=T1)))
        raise BadRequestData("something was wrong with the second one")

    with pytest.raises(BadRequestData):
        store.mutate("other", ids, half_done)
    with pytest.raises(BadRequestData):
        store.mutate("", ids, half_done)
    assert store.tenants() == [""]
    stored = store.get("", ids[0])
    assert stored is not None and values(stored["attrs"][iri("speed")]) == [1]
    assert store.get("", ids[1]) is None
    history = store.history("", HistoryQuery(tuple(ids)))
    assert list(history) == [ids[0]] and values(history[ids[0]][iri("speed")]) == [1]


def test_a_failure_while_persisting_writes_nothing(store: Store) -> None:
    """The second entity carries a geometry that cannot be indexed: the first is not kept."""
    good = entity("urn:ngsi-ld:Road:1", kind="Road", location=point(SFATULUI))
    bad = entity("urn:ngsi-ld:Road:2", kind="Road", name={"value": "DN1"})
    bad["attrs"][iri("location")] = [
        {
            "type": "GeoProperty",
            "value": {"type": "Polygon", "coordinates": [[[25.5, 45.6], [25.6, 45.7]]]},
            "createdAt": T0,
            "modifiedAt": T0,
        }
    ]
    with pytest.raises(CetateError):
        upsert(store, [good, bad])
    assert store.get("", good["id"]) is None and store.get("", bad["id"]) is None
    assert ids_of(store, EntityQuery(types=types("Road"))) == []
    assert store.history("", HistoryQuery((good["id"], bad["id"]))) == {}
    assert store.tenants() == []


def test_a_mutation_with_no_change_creates_no_tenant(store: Store) -> None:
    assert store.mutate("ghost", ["urn:ngsi-ld:Vehicle:1"], lambda found: []) == []
    assert not store.tenant_exists("ghost")
    assert store.tenant_exists("")  # the default tenant always exists


def test_batch_of_many_entities(store: Store) -> None:
    batch = [
        entity(f"urn:ngsi-ld:Sensor:{n:05d}", kind="Sensor", level={"value": n})
        for n in range(1500)
    ]
    done = upsert(store, batch)
    assert len(done) == 1500 and all(c.before is None for c in done)
    _, count = store.query("", EntityQuery(types=types("Sensor"), count=True, limit=1))
    assert count == 1500
    again = upsert(
        store, [entity(e["id"], kind="Sensor", now=T1, level={"value": -1}) for e in batch]
    )
    assert all(c.before is not None for c in again)
    found, count = store.query(
        "", EntityQuery(types=types("Sensor"), q=q("level<0"), count=True, limit=2)
    )
    assert count == 1500 and [e["id"] for e in found] == [e["id"] for e in batch[:2]]


def test_values_round_trip_exactly(store: Store) -> None:
    tricky = 'tab\there, "quoted", back\\slash \\n, newline\nȘtefan cel Mare 🚋'
    payload = {
        "text": {"value": tricky},
        "numbers": {"value": [0.1, 42.5, -3, 2**53, 1e-7, True, False]},
        "nested": {"value": {"a": {"b": [1, {"c": None}]}, "": "empty key"}},
        "raw": {"type": "JsonProperty", "json": {"x": [None, "\\"]}},
    }
    created = entity("urn:ngsi-ld:Thing:1", kind="Thing", **payload)
    create(store, created)
    assert store.get("", "urn:ngsi-ld:Thing:1") == created
    history = store.history("", HistoryQuery(("urn:ngsi-ld:Thing:1",)))["urn:ngsi-ld:Thing:1"]
    assert values(history[iri("text")]) == [tricky]
    assert values(history[iri("nested")]) == [payload["nested"]["value"]]
    assert history[iri("raw")][0]["json"] == {"x": [None, "\\"]}


def test_nul_characters_are_kept_or_refused_whole(store: Store) -> None:
    """PostgreSQL text cannot hold U+0000: the write is refused as the client's error."""
    odd = entity("urn:ngsi-ld:Thing:1", kind="Thing", text={"value": "a\x00b"})
    if store.name == "postgresql":
        with pytest.raises(BadRequestData, match="PostgreSQL cannot store"):
            upsert(store, [entity("urn:ngsi-ld:Thing:0", kind="Thing"), odd])
        assert store.get("", "urn:ngsi-ld:Thing:0") is None
    else:
        upsert(store, [odd])
        assert store.get("", "urn:ngsi-ld:Thing:1") == odd


def test_types_summary(store: Store) -> None:
    create(store, entity("urn:ngsi-ld:Vehicle:1", speed={"value": 1}, location=point(GARA)))
    create(store, entity("urn:ngsi-ld:Vehicle:2", kind=["Vehicle", "Bus"], line={"value": "4"}))
    summaries = {s.type: s for s in store.types("")}
    assert set(summaries) == {iri("Vehicle"), iri("Bus")}
    assert summaries[iri("Vehicle")].count == 2 and summaries[iri("Bus")].count == 1
    assert summaries[iri("Vehicle")].attrs == {
        iri("speed"): {"Property"},
        iri("location"): {"GeoProperty"},
        iri("line"): {"Property"},
    }


# ---------------------------------------------------------------------------------------------
# Queries


def test_query_by_type_alternatives(store: Store) -> None:
    for n, kind in enumerate((["Car"], ["Bus"], ["Car", "Bus"], ["Tram"])):
        create(store, entity(f"urn:ngsi-ld:V:{n}", kind=kind))
    assert ids_of(store, EntityQuery(types=types("Car"))) == ["urn:ngsi-ld:V:0", "urn:ngsi-ld:V:2"]
    assert ids_of(store, EntityQuery(types=types(("Car", "Bus")))) == ["urn:ngsi-ld:V:2"]
    assert ids_of(store, EntityQuery(types=types("Car", "Tram"))) == [
        "urn:ngsi-ld:V:0",
        "urn:ngsi-ld:V:2",
        "urn:ngsi-ld:V:3",
    ]
    assert ids_of(store, EntityQuery(types=types(("Bus", "Tram")))) == []
    assert ids_of(store, EntityQuery(types=types("Ship"))) == []


def test_query_orders_by_id_byte_wise(store: Store) -> None:
    ids = ["urn:ngsi-ld:X:b", "urn:ngsi-ld:X:B", "urn:ngsi-ld:X:a-2", "urn:ngsi-ld:X:a", "urn:x:Z"]
    for entity_id in ids:
        create(store, entity(entity_id, kind="X"))
    assert ids_of(store, EntityQuery(types=types("X"), limit=100)) == sorted(ids)
    assert ids_of(store, EntityQuery(limit=100)) == sorted(ids)


def test_query_by_ids_and_id_pattern(store: Store) -> None:
    for n in range(12):
        create(store, entity(f"urn:ngsi-ld:Parking:{n:02d}", kind="Parking"))
    create(store, entity("urn:ngsi-ld:Other:01", kind="Parking"))
    some = ("urn:ngsi-ld:Parking:03", "urn:ngsi-ld:Parking:07", "urn:ngsi-ld:Nope:1")
    assert ids_of(store, EntityQuery(ids=some)) == [
        "urn:ngsi-ld:Parking:03",
        "urn:ngsi-ld:Parking:07",
    ]
    with_prefix = re.compile("urn:ngsi-ld:Parking:1.*")
    assert ids_of(store, EntityQuery(id_pattern=with_prefix)) == [
        "urn:ngsi-ld:Parking:10",
        "urn:ngsi-ld:Parking:11",
    ]
    no_prefix = re.compile(".*:01")
    assert ids_of(store, EntityQuery(id_pattern=no_prefix)) == [
        "urn:ngsi-ld:Other:01",
        "urn:ngsi-ld:Parking:01",
    ]
    alternatives = re.compile("urn:ngsi-ld:(Other|Parking):0[01]")
    assert ids_of(store, EntityQuery(id_pattern=alternatives)) == [
        "urn:ngsi-ld:Other:01",
        "urn:ngsi-ld:Parking:00",
        "urn:ngsi-ld:Parking:01",
    ]
    quantified = re.compile("urn:ngsi-ld:Parking:0?5")  # the prefix stops before "0?"
    assert ids_of(store, EntityQuery(id_pattern=quantified)) == ["urn:ngsi-ld:Parking:05"]


def test_query_by_attrs_and_q(store: Store) -> None:
    for n in range(6):
        extra = {"name": {"value": f"P{n}"}} if n % 2 else {}
        create(
            store, entity(f"urn:ngsi-ld:Parking:{n}", kind="Parking", free={"value": n}, **extra)
        )
    named = EntityQuery(attrs=frozenset({iri("name"), iri("nothing")}))
    assert ids_of(store, named) == [
        "urn:ngsi-ld:Parking:1",
        "urn:ngsi-ld:Parking:3",
        "urn:ngsi-ld:Parking:5",
    ]
    assert ids_of(store, EntityQuery(attrs=frozenset({iri("nothing")}))) == []
    busy = EntityQuery(types=types("Parking"), q=q("free<2"))
    assert ids_of(store, busy) == ["urn:ngsi-ld:Parking:0", "urn:ngsi-ld:Parking:1"]
    both = EntityQuery(q=q('free>=2;name=="P5"'))
    assert ids_of(store, both) == ["urn:ngsi-ld:Parking:5"]
    either = EntityQuery(q=q("free==0|name"), attrs=frozenset({iri("free")}))
    assert ids_of(store, either) == [
        "urn:ngsi-ld:Parking:0",
        "urn:ngsi-ld:Parking:1",
        "urn:ngsi-ld:Parking:3",
        "urn:ngsi-ld:Parking:5",
    ]


def _places(store: Store) -> None:
    for name, where in (
        ("Sfatului", SFATULUI),
        ("Gara", GARA),
        ("Poiana", POIANA),
        ("Bucuresti", BUCURESTI),
        ("Cluj", CLUJ),
    ):
        create(store, entity(f"urn:ngsi-ld:Place:{name}", kind="Place", location=point(where)))
    old_town = [[25.58, 45.635], [25.60, 45.635], [25.60, 45.65], [25.58, 45.65], [25.58, 45.635]]
    create(
        store,
        entity(
            "urn:ngsi-ld:District:OldTown",
            kind="District",
            location={
                "type": "GeoProperty",
                "value": {"type": "Polygon", "coordinates": [old_town]},
            },
        ),
    )
    # A street passing about 930 m east of the old town square.
    street = {"type": "LineString", "coordinates": [[25.60, 45.64], [25.62, 45.64]]}
    create(
        store,
        entity(
            "urn:ngsi-ld:Road:Street",
            kind="Road",
            location={"type": "GeoProperty", "value": street},
        ),
    )


def test_geo_near(store: Store) -> None:
    _places(store)
    center = list(SFATULUI)
    within_1km = EntityQuery(geo=geo("near;maxDistance==1000", "Point", center), limit=100)
    assert ids_of(store, within_1km) == [
        "urn:ngsi-ld:District:OldTown",
        "urn:ngsi-ld:Place:Sfatului",
        "urn:ngsi-ld:Road:Street",
    ]
    places_3km = EntityQuery(
        types=types("Place"), geo=geo("near;maxDistance==3000", "Point", center)
    )
    assert ids_of(store, places_3km) == ["urn:ngsi-ld:Place:Gara", "urn:ngsi-ld:Place:Sfatului"]
    far = EntityQuery(types=types("Place"), geo=geo("near;minDistance==100000", "Point", center))
    assert ids_of(store, far) == ["urn:ngsi-ld:Place:Bucuresti", "urn:ngsi-ld:Place:Cluj"]
    # The edge: Gara is 2.78 km away.
    assert ids_of(
        store, EntityQuery(types=types("Place"), geo=geo("near;maxDistance==2700", "Point", center))
    ) == ["urn:ngsi-ld:Place:Sfatului"]


def test_geo_within_intersects_disjoint(store: Store) -> None:
    _places(store)
    within = EntityQuery(geo=geo("within", "Polygon", [BRASOV_BOX]), limit=100)
    assert ids_of(store, within) == [
        "urn:ngsi-ld:District:OldTown",
        "urn:ngsi-ld:Place:Gara",
        "urn:ngsi-ld:Place:Sfatului",
        "urn:ngsi-ld:Road:Street",
    ]
    crossing = [[25.59, 45.60], [25.59, 45.70]]  # a north-south line through the old town
    intersects = EntityQuery(geo=geo("intersects", "LineString", crossing))
    assert ids_of(store, intersects) == ["urn:ngsi-ld:District:OldTown"]
    disjoint = EntityQuery(geo=geo("disjoint", "Polygon", [BRASOV_BOX]), limit=100)
    assert ids_of(store, disjoint) == [
        "urn:ngsi-ld:Place:Bucuresti",
        "urn:ngsi-ld:Place:Cluj",
        "urn:ngsi-ld:Place:Poiana",
    ]
    in_bucharest = EntityQuery(geo=geo("intersects", "Polygon", [BUCURESTI_BOX]))
    assert ids_of(store, in_bucharest) == ["urn:ngsi-ld:Place:Bucuresti"]
    contains = EntityQuery(geo=geo("contains", "Point", [25.59, 45.64]))
    assert ids_of(store, contains) == ["urn:ngsi-ld:District:OldTown"]
    other_property = EntityQuery(
        geo=geo("within", "Polygon", [BRASOV_BOX]), geoproperty=iri("observationSpace")
    )
    assert ids_of(store, other_property) == []


def test_pagination_and_count(store: Store) -> None:
    for n in reversed(range(25)):
        create(store, entity(f"urn:ngsi-ld:Parking:{n:02d}", kind="Parking", free={"value": n}))
    all_ids = [f"urn:ngsi-ld:Parking:{n:02d}" for n in range(25)]
    found, count = store.query(
        "", EntityQuery(types=types("Parking"), limit=10, offset=20, count=True)
    )
    assert [e["id"] for e in found] == all_ids[20:] and count == 25
    found, count = store.query("", EntityQuery(types=types("Parking"), limit=10, offset=5))
    assert [e["id"] for e in found] == all_ids[5:15] and count is None
    # The same through the exact Python test (q): page and count of the matches.
    generous = q("free>=12")
    found, count = store.query("", EntityQuery(q=generous, limit=5, offset=5, count=True))
    assert [e["id"] for e in found] == all_ids[17:22] and count == 13
    found, count = store.query("", EntityQuery(q=generous, limit=5, offset=5))
    assert [e["id"] for e in found] == all_ids[17:22] and count is None
    found, count = store.query("", EntityQuery(q=generous, limit=0, count=True))
    assert found == [] and count == 13
    found, count = store.query(
        "", EntityQuery(types=types("Parking"), limit=5, offset=30, count=True)
    )
    assert found == [] and count == 25


def test_tenants_are_isolated(store: Store) -> None:
    create(store, entity("urn:ngsi-ld:Vehicle:1", speed={"value": 1}))
    create(
        store, entity("urn:ngsi-ld:Vehicle:1", speed={"value": 2}, location=point(GARA)), "brasov"
    )
    create(store, entity("urn:ngsi-ld:Vehicle:2", kind="Bus"), "brasov")
    default, brasov = (
        store.get("", "urn:ngsi-ld:Vehicle:1"),
        store.get("brasov", "urn:ngsi-ld:Vehicle:1"),
    )
    assert default is not None and brasov is not None
    assert values(default["attrs"][iri("speed")]) == [1]
    assert values(brasov["attrs"][iri("speed")]) == [2]
    assert store.get("", "urn:ngsi-ld:Vehicle:2") is None
    assert ids_of(store, EntityQuery(types=types("Bus"))) == []
    assert ids_of(store, EntityQuery(types=types("Bus")), "brasov") == ["urn:ngsi-ld:Vehicle:2"]
    near = EntityQuery(geo=geo("near;maxDistance==100", "Point", list(GARA)))
    assert ids_of(store, near) == [] and ids_of(store, near, "brasov") == ["urn:ngsi-ld:Vehicle:1"]
    assert [s.type for s in store.types("")] == [iri("Vehicle")]
    assert store.tenants() == ["", "brasov"]
    assert store.tenant_exists("brasov") and not store.tenant_exists("cluj")
    history = store.history("", HistoryQuery(("urn:ngsi-ld:Vehicle:1", "urn:ngsi-ld:Vehicle:2")))
    assert list(history) == ["urn:ngsi-ld:Vehicle:1"]
    assert values(history["urn:ngsi-ld:Vehicle:1"][iri("speed")]) == [1]


# ---------------------------------------------------------------------------------------------
# Concurrent writers


def _in_threads(count: int, work: Callable[[int], None]) -> list[BaseException]:
    errors: list[BaseException] = []
    start = threading.Barrier(count)

    def run(n: int) -> None:
        start.wait()
        try:
            work(n)
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=run, args=(n,)) for n in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return errors


def test_concurrent_creates_of_one_entity_let_one_win(store: Store) -> None:
    entity_id = "urn:ngsi-ld:Vehicle:race"
    errors = _in_threads(6, lambda n: create(store, entity(entity_id, now=T0, speed={"value": n})))
    assert len(errors) == 5 and all(isinstance(e, AlreadyExists) for e in errors)
    history = store.history("", HistoryQuery((entity_id,)))
    assert len(history[entity_id][iri("speed")]) == 1
    assert ids_of(store, EntityQuery(types=types("Vehicle"))) == [entity_id]


def test_concurrent_upserts_of_a_new_entity_all_apply(store: Store) -> None:
    entity_id = "urn:ngsi-ld:Vehicle:race"
    errors = _in_threads(
        6,
        lambda n: upsert(
            store, [entity(entity_id, now=f"2026-11-22T08:00:0{n}.000Z", speed={"value": n})]
        ),
    )
    assert errors == []
    history = store.history("", HistoryQuery((entity_id,)))
    assert sorted(values(history[entity_id][iri("speed")])) == list(range(6))
    stored = store.get("", entity_id)
    assert stored is not None
    first = min(history[entity_id][iri("speed")], key=lambda i: int(i["instanceId"].split(":")[-1]))
    assert stored["createdAt"] == first["createdAt"]  # kept from whichever wrote first
    _, count = store.query("", EntityQuery(types=types("Vehicle"), count=True))
    assert count == 1


def test_concurrent_appends_lose_nothing(store: Store) -> None:
    entity_id = "urn:ngsi-ld:Vehicle:1"
    create(store, entity(entity_id))

    def work(n: int) -> None:
        for k in range(5):
            added = fragment(entity_id, T1, **{f"a{n}x{k}": {"value": k}})
            apply(store, lambda old, added=added: changes.append(old, added), entity_id)

    assert _in_threads(6, work) == []
    stored = store.get("", entity_id)
    assert stored is not None and len(stored["attrs"]) == 30


# ---------------------------------------------------------------------------------------------
# History


def test_history_is_written_on_every_change(store: Store) -> None:
    entity_id = "urn:ngsi-ld:Vehicle:1"
    create(
        store,
        entity(
            entity_id,
            speed={"value": 10, "observedAt": "2026-11-22T07:59:00.000Z"},
            name={"value": "bus 4"},
        ),
    )
    later = fragment(entity_id, T1, speed={"value": 20, "observedAt": "2026-11-22T08:59:00.000Z"})
    apply(store, lambda old: changes.append(old, later), entity_id)
    apply(
        store,
        lambda old: changes.merge(old, fragment(entity_id, T2, name={"value": "bus 5"})),
        entity_id,
    )

    history = store.history("", HistoryQuery((entity_id,)))
    assert list(history[entity_id]) == sorted([iri("name"), iri("speed")])
    speeds = history[entity_id][iri("speed")]
    assert values(speeds) == [10, 20]
    assert [s["observedAt"] for s in speeds] == [
        "2026-11-22T07:59:00.000Z",
        "2026-11-22T08:59:00.000Z",
    ]
    names = history[entity_id][iri("name")]
    assert values(names) == ["bus 4", "bus 5"] and [n["modifiedAt"] for n in names] == [T0, T2]
    instance_ids = [i["instanceId"] for i in speeds + names]
    assert len(set(instance_ids)) == 4
    assert all(re.fullmatch(r"urn:ngsi-ld:attribute:instance:\d+", i) for i in instance_ids)
    # Filed under observedAt when given, else the modification time.
    before_nine = HistoryQuery(
        (entity_id,), timerel="before", time_at_us=time_us("2026-11-22T08:30:00Z")
    )
    assert values(store.history("", before_nine)[entity_id][iri("speed")]) == [10]
    assert values(store.history("", before_nine)[entity_id][iri("name")]) == ["bus 4"]


def test_history_last_n_timerel_attrs_and_timeproperty(store: Store) -> None:
    entity_id = "urn:ngsi-ld:Sensor:1"
    create(
        store,
        entity(entity_id, kind="Sensor", level={"value": 0, "observedAt": "2026-11-22T00:00:00Z"}),
    )
    for hour in range(1, 6):
        observed = f"2026-11-22T0{hour}:00:00Z"
        now = f"2026-11-22T1{hour}:00:00.000Z"
        update = fragment(entity_id, now, level={"value": hour, "observedAt": observed})
        apply(store, lambda old, update=update: changes.update(old, update), entity_id)
    create(store, entity("urn:ngsi-ld:Sensor:2", kind="Sensor", level={"value": 99}))

    def levels(**kwargs: Any) -> list[Any]:
        result = store.history("", HistoryQuery((entity_id,), **kwargs))
        return values(result[entity_id].get(iri("level"), []))

    at = time_us("2026-11-22T03:00:00Z")
    assert levels() == [0, 1, 2, 3, 4, 5]
    assert levels(last_n=2) == [4, 5]
    assert levels(timerel="before", time_at_us=at) == [0, 1, 2]
    assert levels(timerel="after", time_at_us=at) == [3, 4, 5]
    end = time_us("2026-11-22T05:00:00Z")
    assert levels(timerel="between", time_at_us=at, end_time_at_us=end) == [3, 4]
    assert levels(timerel="between", time_at_us=at, end_time_at_us=end, last_n=1) == [4]
    assert levels(timerel="before", time_at_us=at, last_n=2) == [1, 2]
    # modifiedAt: the updates were made at 11:00 ... 15:00.
    modified_after = time_us("2026-11-22T13:30:00Z")
    assert levels(timerel="after", time_at_us=modified_after, timeproperty="modifiedAt") == [4, 5]
    assert levels(attrs=frozenset({iri("other")})) == []
    both = store.history(
        "", HistoryQuery((entity_id, "urn:ngsi-ld:Sensor:2", "urn:ngsi-ld:Sensor:none"), last_n=1)
    )
    assert list(both) == [entity_id, "urn:ngsi-ld:Sensor:2"]
    assert values(both["urn:ngsi-ld:Sensor:2"][iri("level")]) == [99]


def test_add_history_delete_history_and_history_entities(store: Store) -> None:
    create(store, entity("urn:ngsi-ld:Sensor:1", kind="Sensor", level={"value": 1}))
    create(store, entity("urn:ngsi-ld:Bus:1", kind="Bus", speed={"value": 1}))
    imported = [
        {"type": "Property", "value": v, "observedAt": f"2026-11-2{v}T00:00:00Z", "modifiedAt": T0}
        for v in (1, 2)
    ]
    store.add_history("", "urn:ngsi-ld:Sensor:old", [iri("Sensor")], {iri("level"): imported})
    history = store.history("", HistoryQuery(("urn:ngsi-ld:Sensor:old",)))
    assert values(history["urn:ngsi-ld:Sensor:old"][iri("level")]) == [1, 2]
    assert store.get("", "urn:ngsi-ld:Sensor:old") is None  # history only

    found, count = store.history_entities("", EntityQuery(types=types("Sensor"), count=True))
    assert found == [
        ("urn:ngsi-ld:Sensor:1", [iri("Sensor")]),
        ("urn:ngsi-ld:Sensor:old", [iri("Sensor")]),
    ]
    assert count == 2
    found, count = store.history_entities("", EntityQuery(limit=1, offset=1, count=True))
    assert [i for i, _ in found] == ["urn:ngsi-ld:Sensor:1"] and count == 3
    pattern = EntityQuery(id_pattern=re.compile(".*:old"))
    assert [i for i, _ in store.history_entities("", pattern)[0]] == ["urn:ngsi-ld:Sensor:old"]

    assert store.delete_history("", "urn:ngsi-ld:Sensor:old", iri("level"))
    assert not store.delete_history("", "urn:ngsi-ld:Sensor:old", iri("level"))
    assert not store.delete_history("", "urn:ngsi-ld:Sensor:old", iri("never"))
    assert store.history("", HistoryQuery(("urn:ngsi-ld:Sensor:old",))) == {
        "urn:ngsi-ld:Sensor:old": {}
    }
    assert store.delete_history("", "urn:ngsi-ld:Sensor:1")
    assert not store.delete_history("", "urn:ngsi-ld:Sensor:1")
    assert store.history("", HistoryQuery(("urn:ngsi-ld:Sensor:1",))) == {}
    assert [i for i, _ in store.history_entities("", EntityQuery())[0]] == [
        "urn:ngsi-ld:Bus:1",
        "urn:ngsi-ld:Sensor:old",
    ]
    # Retyping an entity retypes its history.
    retyped = fragment("urn:ngsi-ld:Bus:1", T1, kind="Vehicle")
    apply(store, lambda old: changes.merge(old, retyped), "urn:ngsi-ld:Bus:1")
    found, _ = store.history_entities("", EntityQuery(types=types("Vehicle")))
    assert found == [("urn:ngsi-ld:Bus:1", [iri("Bus"), iri("Vehicle")])]


# ---------------------------------------------------------------------------------------------
# Subscriptions


def test_subscriptions_crud_and_status_merge(store: Store) -> None:
    doc = {"type": "Subscription", "entities": [{"type": iri("Vehicle")}], "isActive": True}
    store.put_subscription(Subscription("", "urn:ngsi-ld:Subscription:b", doc), create=True)
    store.put_subscription(Subscription("", "urn:ngsi-ld:Subscription:a", doc), create=True)
    store.put_subscription(Subscription("brasov", "urn:ngsi-ld:Subscription:c", doc), create=True)
    with pytest.raises(AlreadyExists):
        store.put_subscription(Subscription("", "urn:ngsi-ld:Subscription:a", {}), create=True)
    assert store.tenant_exists("brasov")

    got = store.get_subscription("", "urn:ngsi-ld:Subscription:a")
    assert got == Subscription("", "urn:ngsi-ld:Subscription:a", doc, {})
    assert store.get_subscription("brasov", "urn:ngsi-ld:Subscription:a") is None

    changed = {**doc, "isActive": False}
    store.put_subscription(Subscription("", "urn:ngsi-ld:Subscription:a", changed), create=False)
    store.update_subscription_status("", "urn:ngsi-ld:Subscription:a", {"timesSent": 1})
    store.update_subscription_status(
        "", "urn:ngsi-ld:Subscription:a", {"timesSent": 2, "lastNotification": T1}
    )
    store.update_subscription_status("", "urn:ngsi-ld:Subscription:none", {"timesSent": 1})
    got = store.get_subscription("", "urn:ngsi-ld:Subscription:a")
    assert got is not None and got.doc == changed
    assert got.status == {"timesSent": 2, "lastNotification": T1}

    assert [s.id for s in store.list_subscriptions("")] == [
        "urn:ngsi-ld:Subscription:a",
        "urn:ngsi-ld:Subscription:b",
    ]
    everywhere = {(s.tenant, s.id) for s in store.list_subscriptions(None)}
    assert everywhere == {
        ("", "urn:ngsi-ld:Subscription:a"),
        ("", "urn:ngsi-ld:Subscription:b"),
        ("brasov", "urn:ngsi-ld:Subscription:c"),
    }
    assert store.delete_subscription("", "urn:ngsi-ld:Subscription:a")
    assert not store.delete_subscription("", "urn:ngsi-ld:Subscription:a")
    assert store.get_subscription("", "urn:ngsi-ld:Subscription:a") is None


# ---------------------------------------------------------------------------------------------
# SQLite only: several processes open one new file at once.

_OPEN_AT = """
import sys, time
from cetate.hub.store.sqlite import SqliteStore
start = float(sys.argv[2])
time.sleep(max(0.0, start - time.time()))
SqliteStore(sys.argv[1]).close()
"""


def test_sqlite_processes_started_together_on_a_new_file_all_open_it(tmp_path: Path) -> None:
    # Switching a new file to WAL fails at once (no busy wait) while another process does the
    # same: before the store serialised it, about one opening in seven failed here.
    failures: list[str] = []
    for round_ in range(5):
        path = tmp_path / f"hub{round_}.db"
        start = time.time() + 1.5  # every process has imported by then
        processes = [
            subprocess.Popen(
                [sys.executable, "-c", _OPEN_AT, str(path), str(start)],
                stderr=subprocess.PIPE,
                text=True,
            )
            for _ in range(4)
        ]
        for process in processes:
            _, err = process.communicate(timeout=60)
            if process.returncode:
                failures.append(err.strip() or f"exit {process.returncode}")
    assert failures == []


# ---------------------------------------------------------------------------------------------
# PostgreSQL only: several processes (here: several pools) share one database.


def test_postgres_unreachable_is_a_config_error() -> None:
    from cetate.hub.store.postgres import PostgresStore

    with pytest.raises(
        ConfigError, match=re.escape("cannot connect to PostgreSQL at 127.0.0.1:1/cetate")
    ):
        PostgresStore("postgresql://postgres:secret@127.0.0.1:1/cetate")


def test_postgres_writers_in_two_processes_serialize(postgres_url: str) -> None:
    from cetate.hub.store.postgres import PostgresStore

    stores = [PostgresStore(postgres_url, max_size=4) for _ in range(2)]
    try:
        stores[0].reset()
        entity_id = "urn:ngsi-ld:Vehicle:shared"

        def create_or_fail(n: int) -> None:
            create(stores[n % 2], entity(entity_id, speed={"value": n}), "shared")

        errors = _in_threads(8, create_or_fail)
        assert len(errors) == 7 and all(isinstance(e, AlreadyExists) for e in errors)

        def append_some(n: int) -> None:
            for k in range(5):
                added = fragment(entity_id, T1, **{f"a{n}x{k}": {"value": k}})
                apply(
                    stores[n % 2],
                    lambda old, added=added: changes.append(old, added),
                    entity_id,
                    "shared",
                )

        assert _in_threads(8, append_some) == []
        stored = stores[1].get("shared", entity_id)
        assert stored is not None and len(stored["attrs"]) == 41  # speed and 40 appended

        # Batches of new entities that overlap, from both processes: each id created once.
        def batch(n: int) -> None:
            ids = [f"urn:ngsi-ld:Sensor:{k:03d}" for k in range(n * 20, n * 20 + 60)]
            upsert(
                stores[n % 2], [entity(i, kind="Sensor", level={"value": n}) for i in ids], "shared"
            )

        assert _in_threads(6, batch) == []
        _, count = stores[0].query("shared", EntityQuery(types=types("Sensor"), count=True))
        assert count == 20 * 5 + 60
    finally:
        for one in stores:
            one.close()


def test_subscriptions_version_moves_on_every_subscription_write(store: Store) -> None:
    start = store.subscriptions_version()
    sub = Subscription("", "urn:ngsi-ld:Subscription:v", {"type": "Subscription"}, {})
    store.put_subscription(sub, create=True)
    created = store.subscriptions_version()
    assert created != start
    store.update_subscription_status("", sub.id, {"timesSent": 3})
    assert store.subscriptions_version() == created  # delivery figures are not a change
    store.put_subscription(sub, create=False)
    updated = store.subscriptions_version()
    assert updated != created
    store.delete_subscription("", sub.id)
    assert store.subscriptions_version() != updated
