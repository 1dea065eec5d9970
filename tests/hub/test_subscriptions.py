"""Subscriptions without I/O: validation, rendering, PATCH, compilation and matching."""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cetate.errors import BadRequestData
from cetate.hub import changes
from cetate.hub.changes import Change
from cetate.hub.context import Context, ContextResolver
from cetate.hub.model import Entity, parse_attributes, parse_entity
from cetate.hub.store.base import Subscription
from cetate.hub.subscriptions import (
    CompiledSubscription,
    compile_subscription,
    entity_query,
    notification_body,
    notification_entity,
    parse_subscription,
    patch_subscription,
    render_subscription,
    triggers,
)

EX = "https://example.org/"
NOW = datetime(2026, 11, 22, 8, 0, tzinfo=UTC)
STAMP = "2026-11-22T08:00:00.000Z"
CREATOR = {"Vehicle": EX + "Vehicle", "speed": EX + "speed", "name": EX + "name"}
READER = {"Auto": EX + "Vehicle", "viteza": EX + "speed"}


@pytest.fixture(scope="module")
def resolver() -> ContextResolver:
    return ContextResolver(allow_remote=False)


@pytest.fixture(scope="module")
def ctx(resolver: ContextResolver) -> Context:
    return resolver.resolve(CREATOR)


def base(**members: Any) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "id": "urn:ngsi-ld:Subscription:s1",
        "type": "Subscription",
        "entities": [{"type": "Vehicle"}],
        "notification": {"endpoint": {"uri": "http://127.0.0.1:9/notify"}},
    }
    payload.update(members)
    return payload


def without(payload: dict[str, Any], member: str) -> dict[str, Any]:
    return {k: v for k, v in payload.items() if k != member}


def endpoint(**members: Any) -> dict[str, Any]:
    return {"endpoint": {"uri": "http://127.0.0.1:9/notify", **members}}


# ---------------------------------------------------------------------------------------------
# Validation

INVALID: list[tuple[str, Any, str]] = [
    ("not an object", ["Subscription"], "a subscription must be a JSON object"),
    ("id not a URI", base(id="invalidId"), "subscription id must be a URI, got 'invalidId'"),
    ("empty id", base(id=""), "subscription id must be a URI, got ''"),
    ("no type", without(base(), "type"), "subscription type must be 'Subscription', got None"),
    ("wrong type", base(type="Entity"), "subscription type must be 'Subscription', got 'Entity'"),
    ("entities not a list", base(entities={"type": "Vehicle"}), "entities must be a non-empty"),
    ("entities empty", base(entities=[]), "entities must be a non-empty array"),
    ("selector not an object", base(entities=["Vehicle"]), "entities[0] must be an object"),
    ("selector without type", base(entities=[{"id": "urn:a:b"}]), "entities[0] needs a type"),
    ("selector bad type", base(entities=[{"type": "a b"}]), "entities[0].type 'a b' contains"),
    ("selector id", base(entities=[{"type": "Vehicle", "id": "x y"}]), "entities[0].id must be"),
    (
        "idPattern",
        base(entities=[{"type": "V"}, {"type": "Vehicle", "idPattern": "(unclosed"}]),
        "entities[1].idPattern is not a valid regular expression",
    ),
    ("watched empty", base(watchedAttributes=[]), "watchedAttributes must be a non-empty array"),
    ("watched bad", base(watchedAttributes=["a=b"]), "watchedAttributes item 'a=b' contains"),
    (
        "no selection",
        without(base(), "entities"),
        "a subscription needs entities, watchedAttributes or both",
    ),
    ("q syntax", base(q="speed>>3"), "q: Invalid q at offset"),
    ("q type", base(q=5), "q must be a string, got 5"),
    ("geoQ type", base(geoQ="near"), "geoQ must be an object"),
    ("geoQ missing", base(geoQ={"geometry": "Point"}), "geoQ needs coordinates, georel"),
    (
        "geoQ near polygon",
        base(geoQ={"geometry": "Polygon", "coordinates": [], "georel": "near;maxDistance==5"}),
        "Invalid geo-query: georel 'near' needs geometry Point",
    ),
    ("no notification", without(base(), "notification"), "a subscription needs a notification"),
    ("null notification", base(notification=None), "a subscription needs a notification"),
    ("no endpoint", base(notification={"format": "keyValues"}), "notification needs an endpoint"),
    (
        "relative uri",
        base(notification={"endpoint": {"uri": "/notify"}}),
        "notification.endpoint.uri must be an absolute URI, got '/notify'",
    ),
    (
        "ftp uri",
        base(notification={"endpoint": {"uri": "ftp://host/x"}}),
        "notification.endpoint.uri must use http, https, mqtt, mqtts, not 'ftp'",
    ),
    (
        "bad port",
        base(notification={"endpoint": {"uri": "http://host:port/x"}}),
        "notification.endpoint.uri has an invalid port",
    ),
    (
        "accept",
        base(notification=endpoint(accept="text/plain")),
        "notification.endpoint.accept must be one of application/json, application/ld+json",
    ),
    (
        "receiverInfo value",
        base(notification=endpoint(receiverInfo=[{"key": "K", "value": 42}])),
        "notification.endpoint.receiverInfo[0].value must be a single-line string, got 42",
    ),
    (
        "receiverInfo key",
        base(notification=endpoint(receiverInfo=[{"key": "a b", "value": "v"}])),
        "notification.endpoint.receiverInfo[0].key must be a header name",
    ),
    (
        "notifierInfo pair",
        base(notification=endpoint(notifierInfo=[{"key": "K"}])),
        "notification.endpoint.notifierInfo[0] must be an object with a key and a value",
    ),
    (
        "MQTT-QoS",
        base(notification=endpoint(notifierInfo=[{"key": "MQTT-QoS", "value": "3"}])),
        "notifierInfo MQTT-QoS must be 0, 1 or 2, got '3'",
    ),
    (
        "format",
        base(notification={**endpoint(), "format": "simplified"}),
        "notification.format must be one of normalized, keyValues, concise, got 'simplified'",
    ),
    (
        "attributes empty",
        base(notification={**endpoint(), "attributes": []}),
        "notification.attributes must be a non-empty array of attribute names",
    ),
    ("throttling < 0", base(throttling=-1), "throttling must be a number of seconds >= 0, got -1"),
    ("throttling text", base(throttling="5"), "throttling must be a number of seconds >= 0"),
    ("timeInterval 0", base(timeInterval=0), "timeInterval must be a number of seconds > 0, got 0"),
    ("timeInterval bool", base(timeInterval=True), "timeInterval must be a number of seconds > 0"),
    (
        "timeInterval and watchedAttributes",
        base(timeInterval=5, watchedAttributes=["speed"]),
        "timeInterval cannot be used together with watchedAttributes",
    ),
    (
        "timeInterval and throttling",
        base(timeInterval=10, throttling=30),
        "timeInterval cannot be used together with throttling",
    ),
    (
        "expiresAt past",
        base(expiresAt="2000-01-01T00:00:00Z"),
        "expiresAt 2000-01-01T00:00:00Z is in the past",
    ),
    ("expiresAt text", base(expiresAt="tomorrow"), "expiresAt is not an ISO 8601 date-time"),
    ("isActive", base(isActive="yes"), "isActive must be true or false, got 'yes'"),
    ("description", base(description=["x"]), "description must be a string"),
    ("scopeQ", base(scopeQ="Madrid"), "scopeQ 'Madrid' is not a list of scopes"),
]


@pytest.mark.parametrize(
    ("payload", "message"), [(p, m) for _, p, m in INVALID], ids=[i for i, _, _ in INVALID]
)
def test_invalid_subscriptions_are_refused_with_a_precise_message(
    payload: Any, message: str, ctx: Context
) -> None:
    with pytest.raises(BadRequestData) as caught:
        parse_subscription(payload, ctx, NOW)
    assert message in caught.value.detail


def test_a_valid_subscription_is_stored_with_expanded_names_and_its_context(ctx: Context) -> None:
    payload = base(
        watchedAttributes=["speed"],
        q="speed>50",
        geoQ={"geometry": "Point", "coordinates": [25.6, 45.6], "georel": "near;maxDistance==500"},
        notification={
            "attributes": ["speed", "name"],
            "format": "keyValues",
            "endpoint": {
                "uri": "http://127.0.0.1:9/notify",
                "accept": "application/ld+json",
                "receiverInfo": [{"key": "X-Key", "value": "v"}],
            },
        },
        throttling=2,
        expiresAt="2030-01-01T00:00:00+02:00",
        isActive=False,
        description="fast cars",
        subscriptionName="fast",
    )
    payload["@context"] = CREATOR
    doc = parse_subscription(payload, ctx, NOW)
    assert doc["entities"] == [{"type": EX + "Vehicle"}]
    assert doc["watchedAttributes"] == [EX + "speed"]
    assert doc["notification"]["attributes"] == [EX + "speed", EX + "name"]
    assert doc["q"] == "speed>50"
    assert doc["expiresAt"] == "2029-12-31T22:00:00.000Z"
    assert doc["@context"] == CREATOR
    assert doc["createdAt"] == STAMP
    assert doc["isActive"] is False and doc["throttling"] == 2


def test_id_is_generated_and_read_only_members_are_ignored(ctx: Context) -> None:
    payload = without(base(status="expired", __context="http://x/hijack.jsonld"), "id")
    payload["notification"] = {**endpoint(), "timesSent": 42, "status": "failed"}
    doc = parse_subscription(payload, ctx, NOW)
    assert doc["id"].startswith("urn:ngsi-ld:Subscription:") and len(doc["id"]) > 30
    assert "status" not in doc and "__context" not in doc
    assert doc["notification"] == endpoint()
    # the context of a Link header is kept by its URL
    assert parse_subscription(base(), ctx, NOW)["@context"] == CREATOR


def test_the_context_of_a_link_header_is_kept_as_its_url() -> None:
    class LinkContext:
        urls = ("https://example.org/ctx.jsonld",)
        key = "https://example.org/ctx.jsonld"

        def expand(self, term: str) -> str:
            return EX + term

    doc = parse_subscription(base(), LinkContext(), NOW)  # type: ignore[arg-type]
    assert doc["@context"] == "https://example.org/ctx.jsonld"


# ---------------------------------------------------------------------------------------------
# Rendering and PATCH


def stored(ctx: Context, **members: Any) -> Subscription:
    doc = parse_subscription(base(**members), ctx, NOW)
    return Subscription("", doc["id"], doc, {})


def test_rendering_in_another_context_compacts_every_name(
    ctx: Context, resolver: ContextResolver
) -> None:
    sub = stored(
        ctx,
        watchedAttributes=["speed"],
        notification={"attributes": ["speed"], **endpoint()},
        geoQ={
            "geometry": "Point",
            "coordinates": [25.6, 45.6],
            "georel": "near;maxDistance==500",
            "geoproperty": "name",
        },
    )
    reader = resolver.resolve(READER)
    out = render_subscription(sub, {}, reader, NOW)
    assert out["entities"] == [{"type": "Auto"}]
    assert out["watchedAttributes"] == ["viteza"]
    assert out["notification"]["attributes"] == ["viteza"]
    assert out["geoQ"]["geoproperty"] == EX + "name"
    assert out["status"] == "active"
    assert "@context" not in out and "createdAt" not in out
    # the core context alone: full IRIs
    core = render_subscription(sub, {}, resolver.core(), NOW)
    assert core["entities"] == [{"type": EX + "Vehicle"}]
    # and back in the creator's context: what was sent
    again = render_subscription(sub, {}, ctx, NOW, sys_attrs=True)
    assert again["entities"] == [{"type": "Vehicle"}]
    assert again["createdAt"] == STAMP


def test_rendering_shows_status_and_delivery_figures(ctx: Context) -> None:
    sub = stored(ctx, isActive=False)
    sub.status = {"timesSent": 3, "lastSuccess": STAMP}
    out = render_subscription(sub, {"timesSent": 4, "status": "ok"}, ctx, NOW)
    assert out["status"] == "paused"
    assert out["notification"]["timesSent"] == 4
    assert out["notification"]["lastSuccess"] == STAMP
    assert out["notification"]["status"] == "ok"
    expiring = stored(ctx, expiresAt="2026-11-22T09:00:00Z")
    later = NOW + timedelta(hours=2)
    assert render_subscription(expiring, {}, ctx, later)["status"] == "expired"


def test_patch_replaces_members_and_validates_the_whole(
    ctx: Context, resolver: ContextResolver
) -> None:
    doc = stored(ctx, throttling=5, description="d").doc
    fragment = {
        "notification": {"format": "keyValues", "endpoint": {"uri": "http://h/second"}},
        "description": None,
        "watchedAttributes": ["viteza"],
    }
    new = patch_subscription(doc, fragment, resolver.resolve(READER), NOW + timedelta(seconds=1))
    assert new["notification"] == {"format": "keyValues", "endpoint": {"uri": "http://h/second"}}
    assert "description" not in new
    assert new["throttling"] == 5
    assert new["watchedAttributes"] == [EX + "speed"]  # written in the reader's context
    assert new["entities"] == [{"type": EX + "Vehicle"}]
    assert new["@context"] == CREATOR and new["createdAt"] == STAMP
    assert new["modifiedAt"] == "2026-11-22T08:00:01.000Z"


@pytest.mark.parametrize(
    ("fragment", "message"),
    [
        ({"notification": {"format": "keyValues"}}, "notification needs an endpoint"),
        ({"notification": {"endpoint": None}}, "notification needs an endpoint"),
        ({"notification": None}, "a subscription needs a notification"),
        ({"entities": None}, "a subscription needs entities, watchedAttributes or both"),
        ({"expiresAt": "2001-01-01T00:00:00Z"}, "expiresAt 2001-01-01T00:00:00Z is in the past"),
        ({"type": "Thing"}, "subscription type must be 'Subscription', got 'Thing'"),
        ({"id": "urn:other:id"}, "the update's id 'urn:other:id' is not"),
        ({}, "the update must be a JSON object with the members to change"),
        ({"timeInterval": 3}, "timeInterval cannot be used together with throttling"),
    ],
)
def test_invalid_patches_are_refused(fragment: dict[str, Any], message: str, ctx: Context) -> None:
    doc = stored(ctx, throttling=5).doc
    with pytest.raises(BadRequestData) as caught:
        patch_subscription(doc, fragment, ctx, NOW)
    assert message in caught.value.detail


def test_an_expired_subscription_can_be_paused_and_revived(ctx: Context) -> None:
    doc = stored(ctx, expiresAt="2026-11-22T08:00:05Z").doc
    later = NOW + timedelta(minutes=1)
    paused = patch_subscription(doc, {"isActive": False}, ctx, later)
    sub = Subscription("", doc["id"], paused, {})
    assert render_subscription(sub, {}, ctx, later)["status"] == "expired"
    revived = patch_subscription(paused, {"expiresAt": "2027-01-01T00:00:00Z"}, ctx, later)
    revived = patch_subscription(revived, {"isActive": True}, ctx, later)
    assert (
        render_subscription(Subscription("", doc["id"], revived, {}), {}, ctx, later)["status"]
        == "active"
    )


def test_a_q_patched_in_another_context_keeps_its_names(
    ctx: Context, resolver: ContextResolver
) -> None:
    doc = stored(ctx, q="speed>50").doc
    reader = resolver.resolve(READER)
    new = patch_subscription(doc, {"q": "viteza>80"}, reader, NOW)
    compiled = compile_subscription(Subscription("", doc["id"], new, {}), resolver)
    assert triggers(compiled, created(ctx, speed=90), NOW)
    assert not triggers(compiled, created(ctx, speed=60), NOW)


# ---------------------------------------------------------------------------------------------
# Matching


def entity(ctx: Context, entity_id: str = "urn:ngsi-ld:Vehicle:1", **attrs: Any) -> Entity:
    payload = {"id": entity_id, "type": "Vehicle", **attrs}
    return parse_entity(payload, ctx, STAMP)


def created(ctx: Context, entity_id: str = "urn:ngsi-ld:Vehicle:1", **attrs: Any) -> Change:
    return changes.create(None, entity(ctx, entity_id, **attrs))


def appended(ctx: Context, old: Entity, **attrs: Any) -> Change:
    fragment = {"id": old["id"], "type": [], "modifiedAt": STAMP}
    fragment["attrs"] = parse_attributes(attrs, ctx, STAMP)
    return changes.append(old, fragment)


def compiled_of(ctx: Context, resolver: ContextResolver, **members: Any) -> CompiledSubscription:
    sub = stored(ctx, **members)
    sub.doc["@context"] = CREATOR
    return compile_subscription(sub, resolver)


def test_triggers_on_watched_attributes(ctx: Context, resolver: ContextResolver) -> None:
    compiled = compiled_of(ctx, resolver, watchedAttributes=["speed"])
    car = entity(ctx, speed=10, name="a")
    assert triggers(compiled, appended(ctx, car, speed=20), NOW)
    assert not triggers(compiled, appended(ctx, car, name="b"), NOW)
    assert triggers(compiled, created(ctx, speed=1), NOW)
    assert not triggers(compiled, created(ctx, name="only"), NOW)
    # watchedAttributes alone (no entities): any type
    only_watched = compiled_of(ctx, resolver, watchedAttributes=["name"])
    assert triggers(only_watched, appended(ctx, car, name="c"), NOW)


def test_triggers_on_any_change_without_watched_attributes(
    ctx: Context, resolver: ContextResolver
) -> None:
    compiled = compiled_of(ctx, resolver)
    car = entity(ctx, speed=10)
    assert triggers(compiled, appended(ctx, car, name="x"), NOW)
    nothing = Change(car["id"], car, car)
    assert not triggers(compiled, nothing, NOW)
    assert not triggers(compiled, changes.delete(car, car["id"]), NOW)  # not a default trigger


def test_triggers_on_q(ctx: Context, resolver: ContextResolver) -> None:
    compiled = compiled_of(ctx, resolver, q='speed>50;name=="fast"')
    assert triggers(compiled, created(ctx, speed=60, name="fast"), NOW)
    assert not triggers(compiled, created(ctx, speed=40, name="fast"), NOW)
    assert not triggers(compiled, created(ctx, speed=60), NOW)


def test_triggers_on_geo_q(ctx: Context, resolver: ContextResolver) -> None:
    geo_q = {"geometry": "Point", "coordinates": [25.6, 45.6], "georel": "near;maxDistance==1000"}
    compiled = compiled_of(ctx, resolver, geoQ=geo_q)
    near = {"type": "Point", "coordinates": [25.601, 45.601]}
    far = {"type": "Point", "coordinates": [26.1, 44.4]}
    assert triggers(compiled, created(ctx, location=near), NOW)
    assert not triggers(compiled, created(ctx, location=far), NOW)
    assert not triggers(compiled, created(ctx, speed=3), NOW)


def test_triggers_on_entity_type_id_and_id_pattern(ctx: Context, resolver: ContextResolver) -> None:
    by_type = compiled_of(ctx, resolver)
    other = parse_entity({"id": "urn:ngsi-ld:Bus:1", "type": "Bus", "speed": 1}, ctx, STAMP)
    assert not triggers(by_type, changes.create(None, other), NOW)
    by_pattern = compiled_of(
        ctx, resolver, entities=[{"type": "Vehicle", "idPattern": "urn:ngsi-ld:Vehicle:B.*"}]
    )
    assert triggers(by_pattern, created(ctx, "urn:ngsi-ld:Vehicle:B7", speed=1), NOW)
    assert not triggers(by_pattern, created(ctx, "urn:ngsi-ld:Vehicle:A7", speed=1), NOW)
    by_id = compiled_of(ctx, resolver, entities=[{"type": "Vehicle", "id": "urn:ngsi-ld:V:9"}])
    assert triggers(by_id, created(ctx, "urn:ngsi-ld:V:9", speed=1), NOW)
    assert not triggers(by_id, created(ctx, "urn:ngsi-ld:V:8", speed=1), NOW)


def test_expired_paused_and_periodic_subscriptions_do_not_trigger(
    ctx: Context, resolver: ContextResolver
) -> None:
    change = created(ctx, speed=1)
    expiring = compiled_of(ctx, resolver, expiresAt="2026-11-22T09:00:00Z")
    assert triggers(expiring, change, NOW)
    assert not triggers(expiring, change, NOW + timedelta(hours=1))
    assert not triggers(compiled_of(ctx, resolver, isActive=False), change, NOW)
    assert not triggers(compiled_of(ctx, resolver, timeInterval=5), change, NOW)


def test_periodic_queries_follow_the_selectors(ctx: Context, resolver: ContextResolver) -> None:
    compiled = compiled_of(
        ctx,
        resolver,
        entities=[{"type": "Vehicle"}, {"type": "Vehicle", "idPattern": "urn:x:.*"}],
        q="speed>1",
        timeInterval=5,
    )
    queries = entity_query(compiled, 100)
    assert [q.types for q in queries] == [(frozenset({EX + "Vehicle"}),)] * 2
    assert queries[1].id_pattern is not None and queries[0].q is compiled.q


# ---------------------------------------------------------------------------------------------
# Notification bodies


def test_notification_entities_follow_format_attributes_and_context(
    ctx: Context, resolver: ContextResolver
) -> None:
    change = created(ctx, speed={"type": "Property", "value": 80, "unitCode": "KMH"}, name="fast")
    normalized = notification_entity(compiled_of(ctx, resolver), change, STAMP)
    assert normalized["type"] == "Vehicle"
    assert normalized["speed"] == {"type": "Property", "value": 80, "unitCode": "KMH"}
    key_values = compiled_of(
        ctx, resolver, notification={"format": "keyValues", "attributes": ["speed"], **endpoint()}
    )
    assert notification_entity(key_values, change, STAMP) == {
        "id": "urn:ngsi-ld:Vehicle:1",
        "type": "Vehicle",
        "speed": 80,
    }
    concise = compiled_of(ctx, resolver, notification={"format": "concise", **endpoint()})
    rendered = notification_entity(concise, change, STAMP)
    assert rendered["speed"] == {"value": 80, "unitCode": "KMH"}
    assert rendered["name"] == "fast"
    ld = compiled_of(ctx, resolver, notification=endpoint(accept="application/ld+json"))
    assert notification_entity(ld, change, STAMP)["@context"] == CREATOR
    with_sys = compiled_of(ctx, resolver, notification={"sysAttrs": True, **endpoint()})
    assert notification_entity(with_sys, change, STAMP)["createdAt"] == STAMP
    body = notification_body(key_values, [normalized], NOW)
    assert body["type"] == "Notification"
    assert body["id"].startswith("urn:ngsi-ld:Notification:")
    assert body["subscriptionId"] == "urn:ngsi-ld:Subscription:s1"
    assert body["notifiedAt"] == STAMP and body["data"] == [normalized]


def test_notification_triggers(ctx: Context, resolver: ContextResolver) -> None:
    car = entity(ctx, speed=10)
    events = {
        "create": changes.create(None, car),
        "update": appended(ctx, car, speed=20),
        "add": appended(ctx, car, name="new"),
        "drop": changes.delete_attribute(car, EX + "speed", "speed", STAMP),
        "gone": changes.delete(car, car["id"]),
    }
    cases = {
        None: {"create", "update", "add"},  # attributeCreated, attributeUpdated
        "entityCreated": {"create"},
        "entityUpdated": {"update", "add", "drop"},
        "entityDeleted": {"gone"},
        "attributeCreated": {"create", "add"},
        "attributeUpdated": {"update"},
        "attributeDeleted": {"drop", "gone"},
    }
    for wanted, expected in cases.items():
        members = {} if wanted is None else {"notificationTrigger": [wanted]}
        compiled = compiled_of(ctx, resolver, **members)
        fired = {name for name, change in events.items() if triggers(compiled, change, NOW)}
        assert fired == expected, wanted
    with pytest.raises(BadRequestData, match="notificationTrigger must be"):
        parse_subscription(base(notificationTrigger=["entityChanged"]), ctx, NOW)


def test_deleted_attributes_and_entities_show_ngsi_ld_null(
    ctx: Context, resolver: ContextResolver
) -> None:
    car = entity(ctx, speed=10, name="a", owner={"type": "Relationship", "object": "urn:x:1"})
    compiled = compiled_of(ctx, resolver, notificationTrigger=["attributeDeleted"])
    drop = changes.delete_attribute(car, EX + "speed", "speed", STAMP)
    rendered = notification_entity(compiled, drop, STAMP)
    assert rendered["speed"] == {"type": "Property", "value": "urn:ngsi-ld:null"}
    assert rendered["name"] == {"type": "Property", "value": "a"}
    watched = compiled_of(
        ctx, resolver, notificationTrigger=["attributeDeleted"], watchedAttributes=["owner"]
    )
    gone = notification_entity(watched, changes.delete(car, car["id"]), STAMP)
    owner = {"type": "Relationship", "object": "urn:ngsi-ld:null"}
    assert gone == {"id": car["id"], "type": "Vehicle", "deletedAt": STAMP, "owner": owner}
    deleted = compiled_of(ctx, resolver, notificationTrigger=["entityDeleted"])
    assert notification_entity(deleted, changes.delete(car, car["id"]), STAMP) == {
        "id": car["id"],
        "type": "Vehicle",
        "deletedAt": STAMP,
    }


def test_show_changes_adds_previous_values(ctx: Context, resolver: ContextResolver) -> None:
    car = entity(ctx, speed=10, owner={"type": "Relationship", "object": "urn:x:1"})
    compiled = compiled_of(ctx, resolver, notification={"showChanges": True, **endpoint()})
    update_ = appended(ctx, car, speed=20, owner={"type": "Relationship", "object": "urn:x:2"})
    rendered = notification_entity(compiled, update_, STAMP)
    assert rendered["speed"] == {"type": "Property", "value": 20, "previousValue": 10}
    assert rendered["owner"]["previousObject"] == "urn:x:1"
    created_ = notification_entity(compiled, changes.create(None, car), STAMP)
    assert "previousValue" not in created_["speed"]
    with pytest.raises(BadRequestData, match="showChanges needs the normalized"):
        parse_subscription(
            base(notification={"showChanges": True, "format": "keyValues", **endpoint()}),
            ctx,
            NOW,
        )


def test_type_selections_and_url_encoded_q(ctx: Context, resolver: ContextResolver) -> None:
    compiled = compiled_of(ctx, resolver, entities=[{"type": "(Vehicle|Bus)"}])
    bus = parse_entity({"id": "urn:ngsi-ld:Bus:1", "type": "Bus", "speed": 1}, ctx, STAMP)
    tram = parse_entity({"id": "urn:ngsi-ld:Tram:1", "type": "Tram", "speed": 1}, ctx, STAMP)
    assert triggers(compiled, changes.create(None, bus), NOW)
    assert not triggers(compiled, changes.create(None, tram), NOW)
    sub = stored(ctx, entities=[{"type": "(Vehicle|Bus)"}])
    reader = render_subscription(sub, {}, resolver.resolve(READER), NOW)
    assert reader["entities"] == [{"type": "(Auto|Bus)"}]
    assert render_subscription(sub, {}, ctx, NOW)["entities"] == [{"type": "(Vehicle|Bus)"}]
    encoded = compiled_of(ctx, resolver, q='name=="Eiffel%20Tower"')
    assert triggers(encoded, created(ctx, name="Eiffel Tower"), NOW)
    with pytest.raises(BadRequestData, match="unbalanced parentheses"):
        parse_subscription(base(entities=[{"type": "(Vehicle|Bus"}]), ctx, NOW)


# ---------------------------------------------------------------------------------------------
# Outside input never breaks the parser

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3)
    ),
    max_leaves=12,
)
MEMBERS = st.sampled_from(
    [
        "id",
        "type",
        "entities",
        "watchedAttributes",
        "q",
        "geoQ",
        "notification",
        "throttling",
        "timeInterval",
        "expiresAt",
        "isActive",
    ]
)


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(MEMBERS, JSON, max_size=6))
def test_any_json_is_either_a_subscription_or_bad_request_data(changes_: dict[str, Any]) -> None:
    ctx = ContextResolver(allow_remote=False).core()
    payload = copy.deepcopy(base())
    payload.update(changes_)
    try:
        doc = parse_subscription(payload, ctx, NOW)
    except BadRequestData:
        return
    assert doc["type"] == "Subscription" and "endpoint" in doc["notification"]
