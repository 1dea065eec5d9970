"""NGSI-LD subscriptions (ETSI GS CIM 009 v1.6, clauses 5.2.12 and 5.8): validation, rendering,
PATCH semantics, compilation into a matcher, and the matching of entity changes. Pure: no I/O.

What a store keeps (``Subscription.doc``) is the subscription as the client sent it, validated,
with the names it used expanded to IRIs (entity types, ``watchedAttributes``,
``notification.attributes``, ``geoQ.geoproperty``), so it renders in any reader's @context.
``q`` stays as written, and ``@context`` holds the context it was written in (URLs or an inline
value): q names are expanded and notifications compacted with it. Read-only members (``status``,
``notification.timesSent``...) are never taken from clients: the notifier keeps them apart in
``Subscription.status``::

    {
      "id": "urn:ngsi-ld:Subscription:1", "type": "Subscription",
      "entities": [{"type": "https://example.org/Vehicle", "idPattern": ".*"}],
      "watchedAttributes": ["https://example.org/speed"],
      "q": "speed>50",
      "notification": {"format": "keyValues", "endpoint": {"uri": "http://host/notify"}},
      "@context": "https://example.org/context.jsonld",
      "createdAt": "...", "modifiedAt": "..."
    }

Matching follows clause 5.8.6 with the v1.6.1 ``notificationTrigger`` events (default
attributeCreated + attributeUpdated; entityCreated / entityUpdated / entityDeleted /
attributeDeleted on request). Notifications render the whole entity after the change in the
subscription's format and @context, with deleted attributes as NGSI-LD Null
(``urn:ngsi-ld:null``), ``showChanges`` previous values and ``sysAttrs`` when asked.
"""

from __future__ import annotations

import math
import re
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any, Final
from urllib.parse import unquote, urlsplit

import orjson

from cetate.errors import BadRequestData
from cetate.hub.changes import Change
from cetate.hub.context import Context, ContextResolver
from cetate.hub.core_context import CORE_CONTEXT_URL
from cetate.hub.model import (
    ATTRIBUTE_TYPES,
    INSTANCE_MEMBERS,
    Entity,
    RenderOptions,
    check_name,
    format_time,
    is_uri,
    parse_time,
    render_entity,
)
from cetate.hub.query import (
    GeoQuery,
    QExpr,
    map_q_names,
    match_geo,
    match_q,
    parse_geoquery,
    parse_q,
)
from cetate.hub.store.base import LOCATION, EntityQuery, Subscription, in_scope

__all__ = [
    "ACCEPTS",
    "FORMATS",
    "SCHEMES",
    "CompiledSubscription",
    "Selector",
    "compile_subscription",
    "context_value",
    "entity_query",
    "new_subscription_id",
    "notification_body",
    "notification_entity",
    "parse_subscription",
    "patch_subscription",
    "render_subscription",
    "selects",
    "subscription_state",
    "triggers",
]

SUBSCRIPTION_PREFIX: Final = "urn:ngsi-ld:Subscription:"
NOTIFICATION_PREFIX: Final = "urn:ngsi-ld:Notification:"
FORMATS: Final = ("normalized", "keyValues", "concise")
ACCEPTS: Final = ("application/json", "application/ld+json")
SCHEMES: Final = ("http", "https", "mqtt", "mqtts")
MQTT_VERSIONS: Final = ("mqtt3.1.1", "mqtt5.0")
TRIGGERS: Final = (
    "entityCreated",
    "entityUpdated",
    "entityDeleted",
    "attributeCreated",
    "attributeUpdated",
    "attributeDeleted",
)
DEFAULT_TRIGGERS: Final = frozenset({"attributeCreated", "attributeUpdated"})
#: The value a deleted attribute shows in notifications (NGSI-LD Null).
NGSI_LD_NULL: Final = "urn:ngsi-ld:null"
# Members of the stored document that are the broker's business, never shown to clients.
_INTERNAL: Final = frozenset({"@context", "qContext", "createdAt", "modifiedAt"})
# Members a client may send that the broker sets itself: ignored on input (clause 5.2.12).
_STATUS_MEMBERS: Final = (
    "timesSent",
    "timesFailed",
    "lastNotification",
    "lastSuccess",
    "lastFailure",
    "status",
)
_SCOPE: Final = re.compile(r"(/[^/#+\s,;|]+)+(/#)?|/#")
# An entity type selection (``A,B``, ``A|B``, ``A;B``, parentheses) split into names and operators.
_TYPE_TOKENS: Final = re.compile(r"([(),;|])")


def new_subscription_id() -> str:
    return SUBSCRIPTION_PREFIX + str(uuid.uuid4())


# ---------------------------------------------------------------------------------------------
# Validation


def context_value(payload: Mapping[str, Any], ctx: Context) -> Any:
    """The @context a document was written in, in a form ``ContextResolver.resolve`` takes:
    the body's ``@context``, else the context the request's Link header (or the caller) gave."""
    if "@context" in payload:
        return payload["@context"]
    key = ctx.key
    if isinstance(key, bytes) and key:
        return orjson.loads(key)
    if ctx.urls:
        return ctx.urls[0] if len(ctx.urls) == 1 else list(ctx.urls)
    if isinstance(key, str) and key and key != "core":
        return key
    return CORE_CONTEXT_URL


def parse_subscription(
    payload: Any, ctx: Context, now: datetime, sub_id: str | None = None
) -> dict[str, Any]:
    """Validate a subscription a client sent and return the document to store.

    ``sub_id`` names a subscription whose payload has no ``id`` (else a new URN is made).
    Raises ``BadRequestData`` naming the member at fault.
    """
    if not isinstance(payload, dict):
        raise BadRequestData("a subscription must be a JSON object")
    doc = _parse(payload, ctx, now, sub_id, check_expiry=True)
    doc["@context"] = context_value(payload, ctx)
    stamp = format_time(now)
    doc["createdAt"] = stamp
    doc["modifiedAt"] = stamp
    return doc


def _parse(
    payload: Mapping[str, Any],
    ctx: Context,
    now: datetime,
    sub_id: str | None,
    check_expiry: bool,
) -> dict[str, Any]:
    doc: dict[str, Any] = {}
    if "id" in payload:
        if not is_uri(payload["id"]):
            raise BadRequestData(f"subscription id must be a URI, got {payload['id']!r}")
        doc["id"] = payload["id"]
    else:
        doc["id"] = sub_id or new_subscription_id()
    if payload.get("type") != "Subscription":
        raise BadRequestData(
            f"subscription type must be 'Subscription', got {payload.get('type')!r}"
        )
    doc["type"] = "Subscription"
    for member in ("subscriptionName", "description", "lang", "csf"):
        if member in payload:
            doc[member] = _string(payload[member], member)
    if "csf" in doc:
        _parse_q(doc["csf"], "csf")
    if "entities" in payload:
        doc["entities"] = _parse_selectors(payload["entities"], ctx)
    if "watchedAttributes" in payload:
        doc["watchedAttributes"] = _names(payload["watchedAttributes"], "watchedAttributes", ctx)
    if "entities" not in doc and "watchedAttributes" not in doc:
        raise BadRequestData("a subscription needs entities, watchedAttributes or both")
    if "q" in payload:
        doc["q"] = _string(payload["q"], "q")
        _parse_q(doc["q"], "q")
    if "notificationTrigger" in payload:
        doc["notificationTrigger"] = _parse_triggers(payload["notificationTrigger"])
    if "geoQ" in payload:
        doc["geoQ"] = _parse_geo_q(payload["geoQ"], ctx)
    if "scopeQ" in payload:
        scope_q = _string(payload["scopeQ"], "scopeQ")
        if not all(_SCOPE.fullmatch(s) for s in re.split(r"[,|;]", scope_q)):
            raise BadRequestData(f"scopeQ {scope_q!r} is not a list of scopes like /City/#")
        doc["scopeQ"] = scope_q
    if "notification" not in payload or payload["notification"] is None:
        raise BadRequestData("a subscription needs a notification member")
    doc["notification"] = _parse_notification(payload["notification"], ctx)
    if "throttling" in payload:
        doc["throttling"] = _number(payload["throttling"], "throttling", strict=False)
    if "timeInterval" in payload:
        doc["timeInterval"] = _number(payload["timeInterval"], "timeInterval", strict=True)
        if "watchedAttributes" in doc:
            raise BadRequestData("timeInterval cannot be used together with watchedAttributes")
        if "throttling" in doc:
            raise BadRequestData("timeInterval cannot be used together with throttling")
    if "expiresAt" in payload:
        moment = parse_time(payload["expiresAt"], "expiresAt")
        if check_expiry and moment <= now:
            raise BadRequestData(f"expiresAt {payload['expiresAt']} is in the past")
        doc["expiresAt"] = format_time(moment)
    if "isActive" in payload:
        if not isinstance(payload["isActive"], bool):
            raise BadRequestData(f"isActive must be true or false, got {payload['isActive']!r}")
        doc["isActive"] = payload["isActive"]
    return doc


def _string(value: Any, member: str) -> str:
    if not isinstance(value, str):
        raise BadRequestData(f"{member} must be a string, got {value!r}")
    return value


def _number(value: Any, member: str, strict: bool) -> int | float:
    ok = (
        isinstance(value, int | float)
        and not isinstance(value, bool)
        and math.isfinite(value)
        and (value > 0 if strict else value >= 0)
    )
    if not ok:
        bound = "> 0" if strict else ">= 0"
        raise BadRequestData(f"{member} must be a number of seconds {bound}, got {value!r}")
    number: int | float = value
    return number


def _parse_q(text: str, member: str) -> QExpr:
    """A subscription's q; percent-encoding is decoded (clients copy it from URLs)."""
    try:
        return parse_q(unquote(text) if "%" in text else text)
    except BadRequestData as error:
        raise BadRequestData(f"{member}: {error.detail}") from None


def _parse_triggers(raw: Any) -> list[str]:
    if not isinstance(raw, list) or not raw or not all(t in TRIGGERS for t in raw):
        raise BadRequestData(
            f"notificationTrigger must be a non-empty array of {', '.join(TRIGGERS)}, got {raw!r}"
        )
    return list(dict.fromkeys(raw))


def _names(raw: Any, member: str, ctx: Context) -> list[str]:
    if not isinstance(raw, list) or not raw:
        raise BadRequestData(f"{member} must be a non-empty array of attribute names")
    iris: list[str] = []
    for name in raw:
        iri = ctx.expand(check_name(name, f"{member} item"))
        if iri not in iris:
            iris.append(iri)
    return iris


def _parse_selectors(raw: Any, ctx: Context) -> list[dict[str, str]]:
    if not isinstance(raw, list) or not raw:
        raise BadRequestData("entities must be a non-empty array of entity selectors")
    selectors: list[dict[str, str]] = []
    for position, item in enumerate(raw):
        where = f"entities[{position}]"
        if not isinstance(item, dict):
            raise BadRequestData(f"{where} must be an object with a type")
        if "type" not in item:
            raise BadRequestData(f"{where} needs a type")
        selector = {"type": _parse_type_selection(item["type"], f"{where}.type", ctx)}
        if "id" in item:
            if not is_uri(item["id"]):
                raise BadRequestData(f"{where}.id must be a URI, got {item['id']!r}")
            selector["id"] = item["id"]
        if "idPattern" in item:
            pattern = item["idPattern"]
            if not isinstance(pattern, str):
                raise BadRequestData(f"{where}.idPattern must be a string, got {pattern!r}")
            try:
                re.compile(pattern)
            except re.error as error:
                raise BadRequestData(
                    f"{where}.idPattern is not a valid regular expression: {error}"
                ) from None
            selector["idPattern"] = pattern
        selectors.append(selector)
    return selectors


def _parse_type_selection(raw: Any, where: str, ctx: Context) -> str:
    """An entity type, or a selection such as ``(Building|Tower)`` or ``A;B``, names expanded."""
    if not isinstance(raw, str) or not raw.strip():
        raise BadRequestData(f"{where} must be an entity type name, got {raw!r}")
    if _TYPE_TOKENS.search(raw) is None:
        return ctx.expand(check_name(raw, where))
    if raw.count("(") != raw.count(")"):
        raise BadRequestData(f"{where} {raw!r} has unbalanced parentheses")
    alternatives = _type_alternatives(raw)
    if not alternatives or not all(alternatives):
        raise BadRequestData(f"{where} {raw!r} is not a valid type selection")
    return _map_types(raw, lambda name: ctx.expand(check_name(name, where)))


def _map_types(selection: str, fn: Callable[[str], str]) -> str:
    return "".join(
        part if _TYPE_TOKENS.fullmatch(part) or not part.strip() else fn(part.strip())
        for part in _TYPE_TOKENS.split(selection)
    )


def _type_alternatives(selection: str) -> tuple[frozenset[str], ...]:
    """``A,B`` / ``A|B``: either; ``A;B``: both (parentheses group, as in queries)."""
    flat = selection.replace("(", "").replace(")", "")
    return tuple(
        frozenset(n.strip() for n in alternative.split(";") if n.strip())
        for alternative in re.split(r"[|,]", flat)
    )


def _parse_geo_q(raw: Any, ctx: Context) -> dict[str, Any]:
    if not isinstance(raw, dict):
        raise BadRequestData("geoQ must be an object with geometry, coordinates and georel")
    missing = [m for m in ("geometry", "coordinates", "georel") if m not in raw]
    if missing:
        raise BadRequestData(f"geoQ needs {', '.join(missing)}")
    geoproperty = raw.get("geoproperty")
    parse_geoquery(raw["georel"], raw["geometry"], raw["coordinates"], geoproperty)
    geo_q: dict[str, Any] = {
        "geometry": raw["geometry"],
        "coordinates": raw["coordinates"],
        "georel": raw["georel"],
    }
    if geoproperty is not None:
        geo_q["geoproperty"] = ctx.expand(check_name(geoproperty, "geoQ.geoproperty"))
    return geo_q


def _parse_notification(raw: Any, ctx: Context) -> dict[str, Any]:
    if not isinstance(raw, dict):
        raise BadRequestData("notification must be an object with an endpoint")
    notification: dict[str, Any] = {}
    if "attributes" in raw:
        notification["attributes"] = _names(raw["attributes"], "notification.attributes", ctx)
    if "format" in raw:
        if raw["format"] not in FORMATS:
            raise BadRequestData(
                f"notification.format must be one of {', '.join(FORMATS)}, got {raw['format']!r}"
            )
        notification["format"] = raw["format"]
    for flag in ("showChanges", "sysAttrs"):
        if flag in raw:
            if not isinstance(raw[flag], bool):
                raise BadRequestData(f"notification.{flag} must be true or false")
            notification[flag] = raw[flag]
    if notification.get("showChanges") and notification.get("format") == "keyValues":
        raise BadRequestData("notification.showChanges needs the normalized or concise format")
    if raw.get("endpoint") is None:
        raise BadRequestData("notification needs an endpoint")
    notification["endpoint"] = _parse_endpoint(raw["endpoint"])
    return notification


def _parse_endpoint(raw: Any) -> dict[str, Any]:
    if not isinstance(raw, dict):
        raise BadRequestData("notification.endpoint must be an object with a uri")
    uri = raw.get("uri")
    if not isinstance(uri, str) or not is_uri(uri):
        raise BadRequestData(f"notification.endpoint.uri must be an absolute URI, got {uri!r}")
    parts = urlsplit(uri)
    if parts.scheme.lower() not in SCHEMES:
        raise BadRequestData(
            f"notification.endpoint.uri must use {', '.join(SCHEMES)}, not {parts.scheme!r}"
        )
    try:
        parts.port  # noqa: B018  (raises on a port that is not a number)
    except ValueError:
        raise BadRequestData(f"notification.endpoint.uri has an invalid port: {uri!r}") from None
    if not parts.hostname:
        raise BadRequestData(f"notification.endpoint.uri has no host: {uri!r}")
    endpoint: dict[str, Any] = {"uri": uri}
    if "accept" in raw:
        if raw["accept"] not in ACCEPTS:
            raise BadRequestData(
                f"notification.endpoint.accept must be one of {', '.join(ACCEPTS)}, "
                f"got {raw['accept']!r}"
            )
        endpoint["accept"] = raw["accept"]
    for member in ("receiverInfo", "notifierInfo"):
        if member in raw:
            endpoint[member] = _key_values(raw[member], f"notification.endpoint.{member}")
    for pair in endpoint.get("notifierInfo", []):
        if pair["key"] == "MQTT-QoS" and pair["value"] not in ("0", "1", "2"):
            raise BadRequestData(f"notifierInfo MQTT-QoS must be 0, 1 or 2, got {pair['value']!r}")
        if pair["key"] == "MQTT-Version" and pair["value"] not in MQTT_VERSIONS:
            raise BadRequestData(
                f"notifierInfo MQTT-Version must be one of {', '.join(MQTT_VERSIONS)}, "
                f"got {pair['value']!r}"
            )
    return endpoint


_HEADER_NAME: Final = re.compile(r"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$")


def _key_values(raw: Any, member: str) -> list[dict[str, str]]:
    if not isinstance(raw, list):
        raise BadRequestData(f"{member} must be an array of {{key, value}} objects")
    pairs: list[dict[str, str]] = []
    for position, item in enumerate(raw):
        where = f"{member}[{position}]"
        if not isinstance(item, dict) or "key" not in item or "value" not in item:
            raise BadRequestData(f"{where} must be an object with a key and a value")
        key, value = item["key"], item["value"]
        if not isinstance(key, str) or not _HEADER_NAME.match(key):
            raise BadRequestData(f"{where}.key must be a header name, got {key!r}")
        if not isinstance(value, str) or any(c in value for c in "\r\n\0"):
            raise BadRequestData(f"{where}.value must be a single-line string, got {value!r}")
        pairs.append({"key": key, "value": value})
    return pairs


# ---------------------------------------------------------------------------------------------
# Status, rendering and PATCH


def subscription_state(doc: Mapping[str, Any], now: datetime) -> str:
    """``expired`` past expiresAt, else ``paused`` when isActive is false, else ``active``."""
    expires = doc.get("expiresAt")
    if expires is not None and parse_time(expires, "expiresAt") <= now:
        return "expired"
    return "active" if doc.get("isActive", True) else "paused"


def render_subscription(
    sub: Subscription,
    live_status: Mapping[str, Any],
    ctx: Context,
    now: datetime | None = None,
    sys_attrs: bool = False,
) -> dict[str, Any]:
    """The subscription a client reads: names compacted with ``ctx`` (the reader's @context),
    ``status`` and the notification figures (``live_status``, else those stored) added."""
    out = _compacted(sub.doc, ctx)
    out["status"] = subscription_state(sub.doc, now or datetime.now(UTC))
    figures = {**sub.status, **live_status}
    notification = out["notification"]
    for member in _STATUS_MEMBERS:
        if figures.get(member) is not None:
            notification[member] = figures[member]
    if sys_attrs:
        for member in ("createdAt", "modifiedAt"):
            if member in sub.doc:
                out[member] = sub.doc[member]
    return out


def _compacted(doc: Mapping[str, Any], ctx: Context) -> dict[str, Any]:
    out: dict[str, Any] = {k: v for k, v in doc.items() if k not in _INTERNAL}
    if "entities" in out:
        out["entities"] = [
            {**s, "type": _map_types(s["type"], ctx.compact)} for s in out["entities"]
        ]
    if "watchedAttributes" in out:
        out["watchedAttributes"] = [ctx.compact(a) for a in out["watchedAttributes"]]
    if "geoQ" in out and "geoproperty" in out["geoQ"]:
        out["geoQ"] = {**out["geoQ"], "geoproperty": ctx.compact(out["geoQ"]["geoproperty"])}
    notification = dict(out["notification"])
    if "attributes" in notification:
        notification["attributes"] = [ctx.compact(a) for a in notification["attributes"]]
    notification["endpoint"] = dict(notification["endpoint"])
    out["notification"] = notification
    return out


def patch_subscription(
    doc: Mapping[str, Any], fragment: Any, ctx: Context, now: datetime
) -> dict[str, Any]:
    """PATCH /subscriptions/{id}: members of ``fragment`` (written in ``ctx``) replace the stored
    ones, ``null`` removes one; the result is validated as a whole. An ``expiresAt`` in the past
    is refused only when the fragment sets it (an expired subscription can still be paused)."""
    if not isinstance(fragment, dict) or not {k for k in fragment if k != "@context"}:
        raise BadRequestData("the update must be a JSON object with the members to change")
    if "id" in fragment and fragment["id"] != doc["id"]:
        raise BadRequestData(f"the update's id {fragment['id']!r} is not {doc['id']!r}")
    if "type" in fragment and fragment["type"] != "Subscription":
        raise BadRequestData(f"subscription type must be 'Subscription', got {fragment['type']!r}")
    merged = _compacted(doc, ctx)
    for member, value in fragment.items():
        if member in ("@context", "id"):
            continue
        if value is None:
            merged.pop(member, None)
        else:
            merged[member] = value
    new = _parse(merged, ctx, now, doc["id"], check_expiry=False)
    expires = fragment.get("expiresAt")
    if expires is not None and parse_time(expires, "expiresAt") <= now:
        raise BadRequestData(f"expiresAt {fragment['expiresAt']} is in the past")
    new["@context"] = doc["@context"]
    if "q" in new:
        if "q" in fragment:
            written_in = context_value(fragment, ctx)
            if written_in != doc["@context"]:
                new["qContext"] = written_in
        elif "qContext" in doc:
            new["qContext"] = doc["qContext"]
    if "createdAt" in doc:
        new["createdAt"] = doc["createdAt"]
    new["modifiedAt"] = format_time(now)
    return new


# ---------------------------------------------------------------------------------------------
# Compiled subscriptions and matching


@dataclass(frozen=True, slots=True)
class Selector:
    """One entry of ``entities``: type alternatives (an entity must have every type of one)
    and optionally an id or an id pattern."""

    types: tuple[frozenset[str], ...]
    id: str | None = None
    id_pattern: re.Pattern[str] | None = None

    def matches(self, entity: Entity) -> bool:
        entity_types = entity["type"]
        if not any(all(t in entity_types for t in group) for group in self.types):
            return False
        if self.id is not None:
            return bool(entity["id"] == self.id)
        return self.id_pattern is None or self.id_pattern.fullmatch(entity["id"]) is not None


@dataclass(frozen=True, slots=True)
class CompiledSubscription:
    """A subscription ready to match changes and render notifications."""

    tenant: str
    id: str
    selectors: tuple[Selector, ...]
    watched: frozenset[str] | None
    q: QExpr | None
    geo: GeoQuery | None
    geoproperty: str
    scopes: tuple[str, ...]
    attrs: frozenset[str] | None  # notification.attributes, expanded; None means all
    format: str  # normalized | keyValues | concise
    show_changes: bool
    sys_attrs: bool
    triggers: frozenset[str]  # notificationTrigger
    endpoint: str
    accept: str
    receiver_info: tuple[tuple[str, str], ...]
    notifier_info: Mapping[str, str]
    throttling_s: float
    time_interval_s: float | None
    expires_at: datetime | None
    active: bool
    ctx: Context  # the subscription's own @context: notifications are compacted with it
    context: Any  # ... as the client gave it: the @context of JSON-LD notifications
    lang: str | None = None

    def live(self, now: datetime) -> bool:
        """Active and not expired."""
        return self.active and (self.expires_at is None or now < self.expires_at)

    @property
    def link_url(self) -> str:
        """The context URL of the Link header of JSON notifications (core when inline)."""
        return self.ctx.urls[0] if self.ctx.urls else CORE_CONTEXT_URL


def compile_subscription(sub: Subscription, resolver: ContextResolver) -> CompiledSubscription:
    """Resolve the subscription's @context (may fetch it once) and prepare every matcher."""
    doc = sub.doc
    context = doc.get("@context", CORE_CONTEXT_URL)
    ctx = resolver.resolve(context)
    q = None
    if "q" in doc:
        q_ctx = resolver.resolve(doc["qContext"]) if "qContext" in doc else ctx
        q = map_q_names(_parse_q(doc["q"], "q"), q_ctx.expand)
    geo = None
    geoproperty = LOCATION
    if "geoQ" in doc:
        geo_q = doc["geoQ"]
        geo = parse_geoquery(geo_q["georel"], geo_q["geometry"], geo_q["coordinates"])
        geoproperty = geo_q.get("geoproperty", LOCATION)
    notification = doc["notification"]
    endpoint = notification["endpoint"]
    attrs = notification.get("attributes")
    watched = doc.get("watchedAttributes")
    expires = doc.get("expiresAt")
    scope_q = doc.get("scopeQ")
    return CompiledSubscription(
        tenant=sub.tenant,
        id=sub.id,
        selectors=tuple(
            Selector(
                _type_alternatives(s["type"]),
                s.get("id"),
                re.compile(s["idPattern"]) if "idPattern" in s and "id" not in s else None,
            )
            for s in doc.get("entities", ())
        ),
        watched=frozenset(watched) if watched else None,
        q=q,
        geo=geo,
        geoproperty=geoproperty,
        scopes=tuple(s for s in re.split(r"[,|;]", scope_q) if s) if scope_q else (),
        attrs=frozenset(attrs) if attrs else None,
        format=notification.get("format", "normalized"),
        show_changes=bool(notification.get("showChanges", False)),
        sys_attrs=bool(notification.get("sysAttrs", False)),
        triggers=frozenset(doc.get("notificationTrigger", DEFAULT_TRIGGERS)),
        endpoint=endpoint["uri"],
        accept=endpoint.get("accept", "application/json"),
        receiver_info=tuple((p["key"], p["value"]) for p in endpoint.get("receiverInfo", ())),
        notifier_info={p["key"]: p["value"] for p in endpoint.get("notifierInfo", ())},
        throttling_s=float(doc.get("throttling", 0)),
        time_interval_s=float(doc["timeInterval"]) if "timeInterval" in doc else None,
        expires_at=parse_time(expires, "expiresAt") if expires else None,
        active=bool(doc.get("isActive", True)),
        ctx=ctx,
        context=context,
        lang=doc.get("lang"),
    )


def selects(compiled: CompiledSubscription, entity: Entity) -> bool:
    """Whether an entity is one the subscription is about (selectors, q, geoQ, scopeQ)."""
    if compiled.selectors and not any(s.matches(entity) for s in compiled.selectors):
        return False
    if compiled.q is not None and not match_q(compiled.q, entity):
        return False
    if compiled.geo is not None:
        instances = entity["attrs"].get(compiled.geoproperty) or ()
        if not any(
            i["type"] == "GeoProperty" and match_geo(compiled.geo, i["value"]) for i in instances
        ):
            return False
    return not compiled.scopes or in_scope(entity.get("scope") or (), compiled.scopes)


def triggers(compiled: CompiledSubscription, change: Change, now: datetime) -> bool:
    """Whether ``change`` calls for a notification of this (change-driven) subscription: it is
    live, one of its notificationTrigger events happened (to a watched attribute when
    watchedAttributes is given) and the entity (after the change, before it when deleted) is
    selected by entities, q, geoQ and scopeQ."""
    if not compiled.live(now) or compiled.time_interval_s is not None:
        return False
    if not _event(compiled, change):
        return False
    entity = change.after if change.after is not None else change.before
    return entity is not None and selects(compiled, entity)


def _event(compiled: CompiledSubscription, change: Change) -> bool:
    wanted = compiled.triggers
    watched = compiled.watched

    def touches(attrs: Iterable[str]) -> bool:
        return any(True for _ in attrs) if watched is None else not watched.isdisjoint(attrs)

    before, after = change.before, change.after
    if after is None:
        return ("entityDeleted" in wanted and (watched is None or touches(change.deleted))) or (
            "attributeDeleted" in wanted and touches(change.deleted)
        )
    if before is None:
        return "entityCreated" in wanted or (
            "attributeCreated" in wanted and touches(change.written)
        )
    if not change.written and not change.deleted:
        return False  # nothing happened (a no-op update)
    old = before["attrs"]
    return (
        ("entityUpdated" in wanted and touches(change.changed_attrs))
        or ("attributeCreated" in wanted and touches(a for a in change.written if a not in old))
        or ("attributeUpdated" in wanted and touches(a for a in change.written if a in old))
        or ("attributeDeleted" in wanted and touches(change.deleted))
    )


def entity_query(compiled: CompiledSubscription, limit: int) -> list[EntityQuery]:
    """The store queries that find every entity a periodic (timeInterval) subscription is
    about: one per selector (a store query takes one id pattern), or one without types."""
    base = EntityQuery(
        attrs=compiled.watched,
        q=compiled.q,
        geo=compiled.geo,
        geoproperty=compiled.geoproperty,
        scopes=compiled.scopes,
        limit=limit,
    )
    if not compiled.selectors:
        return [base]
    return [
        replace(
            base,
            types=s.types,
            ids=(s.id,) if s.id is not None else (),
            id_pattern=s.id_pattern,
        )
        for s in compiled.selectors
    ]


# ---------------------------------------------------------------------------------------------
# Notifications


def notification_entity(
    compiled: CompiledSubscription, change: Change, deleted_at: str
) -> dict[str, Any]:
    """One item of a notification's ``data``: the entity after ``change``, in the subscription's
    format, with the attributes it asks for, compacted with its @context (inline for JSON-LD
    receivers). Deleted attributes show as NGSI-LD Null when attributeDeleted is a trigger;
    ``showChanges`` adds the previous values; a deleted entity is its id, type and deletedAt."""
    after = change.after
    if after is None:
        assert change.before is not None
        out = _deleted_entity(compiled, change.before, deleted_at)
    else:
        key_values = compiled.format == "keyValues"
        options = RenderOptions(
            attrs=compiled.attrs,
            key_values=key_values,
            sys_attrs=compiled.sys_attrs,
            lang=compiled.lang,
        )
        out = render_entity(after, compiled.ctx, options)
        if key_values and compiled.sys_attrs:
            out["createdAt"] = after["createdAt"]
            out["modifiedAt"] = after["modifiedAt"]
        before = change.before
        if before is not None:
            if compiled.show_changes and not key_values:
                _add_previous(compiled, out, change.written, before)
            if change.deleted and (
                "attributeDeleted" in compiled.triggers or compiled.show_changes
            ):
                _add_deleted(compiled, out, change.deleted, before, after, deleted_at)
    if compiled.format == "concise":
        out = {k: v if k in _ENTITY_KEYS else _concise(v) for k, v in out.items()}
    if compiled.accept == "application/ld+json":
        out["@context"] = compiled.context
    return out


_ENTITY_KEYS: Final = frozenset({"id", "type", "scope", "createdAt", "modifiedAt", "deletedAt"})
_PREVIOUS: Final = {
    "value": "previousValue",
    "object": "previousObject",
    "languageMap": "previousLanguageMap",
    "json": "previousJson",
    "vocab": "previousVocab",
    "valueList": "previousValueList",
    "objectList": "previousObjectList",
}


def _deleted_entity(
    compiled: CompiledSubscription, before: Entity, deleted_at: str
) -> dict[str, Any]:
    types = [compiled.ctx.compact(t) for t in before["type"]]
    out: dict[str, Any] = {"id": before["id"], "type": types[0] if len(types) == 1 else types}
    if compiled.sys_attrs:
        out["createdAt"] = before["createdAt"]
        out["modifiedAt"] = before["modifiedAt"]
    out["deletedAt"] = deleted_at
    if "attributeDeleted" in compiled.triggers or compiled.show_changes:
        gone = [a for a in before["attrs"] if compiled.watched is None or a in compiled.watched]
        _add_deleted(compiled, out, gone, before, None, deleted_at)
    return out


def _matching(instances: Iterable[dict[str, Any]], dataset_id: Any) -> dict[str, Any] | None:
    for instance in instances:
        if instance.get("datasetId") == dataset_id:
            return instance
    return None


def _add_previous(
    compiled: CompiledSubscription,
    out: dict[str, Any],
    written: Iterable[str],
    before: Entity,
) -> None:
    """showChanges: ``previousValue`` (``previousObject``...) on each instance written."""
    for iri in written:
        old_instances = before["attrs"].get(iri)
        name = compiled.ctx.compact(iri)
        if not old_instances or name not in out:
            continue
        rendered = out[name] if isinstance(out[name], list) else [out[name]]
        for item in rendered:
            if not isinstance(item, dict):
                continue
            old = _matching(old_instances, item.get("datasetId"))
            if old is None:
                continue
            for member, previous in _PREVIOUS.items():
                if member in old:
                    item[previous] = old[member]
                    break


def _add_deleted(
    compiled: CompiledSubscription,
    out: dict[str, Any],
    deleted: Iterable[str],
    before: Entity,
    after: Entity | None,
    deleted_at: str,
) -> None:
    """The instances a change removed, shown with NGSI-LD Null (and their previous value)."""
    key_values = compiled.format == "keyValues"
    for iri in deleted:
        if compiled.attrs is not None and iri not in compiled.attrs:
            continue
        remaining = after["attrs"].get(iri, []) if after is not None else []
        gone = [
            i
            for i in before["attrs"].get(iri, [])
            if _matching(remaining, i.get("datasetId")) is None
        ]
        if not gone:
            continue
        name = compiled.ctx.compact(iri)
        current = out.get(name)
        if key_values:
            if isinstance(current, dict) and isinstance(current.get("dataset"), dict):
                for instance in gone:
                    current["dataset"][instance.get("datasetId", "@none")] = NGSI_LD_NULL
            elif current is None:
                out[name] = NGSI_LD_NULL
            elif remaining:  # one instance left: show the deleted ones beside it
                dataset = {remaining[0].get("datasetId", "@none"): current}
                for instance in gone:
                    dataset[instance.get("datasetId", "@none")] = NGSI_LD_NULL
                out[name] = {"dataset": dataset}
            continue
        if not remaining:  # the whole attribute went: one NGSI-LD Null stands for it
            default = _matching(gone, None) or gone[0]
            null = _null_instance(compiled, default, deleted_at)
            null.pop("datasetId", None)
            out[name] = null
            continue
        items = [] if current is None else current if isinstance(current, list) else [current]
        items += [_null_instance(compiled, i, deleted_at) for i in gone]
        out[name] = items[0] if len(items) == 1 else items


def _null_instance(
    compiled: CompiledSubscription, old: dict[str, Any], deleted_at: str
) -> dict[str, Any]:
    kind = old["type"]
    null: dict[str, Any] = {"type": kind}
    if "datasetId" in old:
        null["datasetId"] = old["datasetId"]
    if kind == "Relationship":
        null["object"] = NGSI_LD_NULL
    elif kind == "LanguageProperty":
        null["languageMap"] = {"@none": NGSI_LD_NULL}
    elif kind == "JsonProperty":
        null["json"] = NGSI_LD_NULL
    elif kind == "VocabProperty":
        null["vocab"] = NGSI_LD_NULL
    elif kind == "ListProperty":
        null["valueList"] = [NGSI_LD_NULL]
    elif kind == "ListRelationship":
        null["objectList"] = [{"object": NGSI_LD_NULL}]
    else:
        null["value"] = NGSI_LD_NULL
    if compiled.show_changes:
        for member, previous in _PREVIOUS.items():
            if member in old:
                null[previous] = old[member]
                break
    if compiled.sys_attrs:
        null["createdAt"] = old.get("createdAt")
        null["modifiedAt"] = old.get("modifiedAt")
        null["deletedAt"] = deleted_at
    return null


def _concise(rendered: Any) -> Any:
    """The concise form (clause 4.5.9) of a normalized attribute: the type goes where its
    main member tells it; a Property or GeoProperty holding only a value becomes the value
    (a Property value that is an object or array keeps its ``value`` wrapper)."""
    if isinstance(rendered, list):
        return [_concise(item) for item in rendered]
    if not isinstance(rendered, dict) or rendered.get("type") not in ATTRIBUTE_TYPES:
        return rendered
    kind = rendered["type"]
    out = {
        k: v if k in INSTANCE_MEMBERS else _concise(v) for k, v in rendered.items() if k != "type"
    }
    if list(out) == ["value"]:
        value = out["value"]
        if kind == "GeoProperty" or not isinstance(value, dict | list):
            return value
    return out


def notification_body(
    compiled: CompiledSubscription, data: list[dict[str, Any]], now: datetime
) -> dict[str, Any]:
    """The Notification document (clause 5.3.1) for already rendered entities."""
    return {
        "id": NOTIFICATION_PREFIX + str(uuid.uuid4()),
        "type": "Notification",
        "subscriptionId": compiled.id,
        "notifiedAt": format_time(now),
        "data": data,
    }
