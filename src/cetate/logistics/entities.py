"""Delivery orders as hub entities, so the day's orders are in the city's one memory: a shop
or a courier's system can post them over NGSI-LD, the dashboard can map them, and a plan can
be made from what the hub holds.

One ``cetate:DeliveryOrder`` per order, id ``urn:ngsi-ld:cetate:DeliveryOrder:<order id>``
(the order id %-escaped where it has characters a URN cannot), attributes:

====================== =========== =========================================================
attribute              type        value
====================== =========== =========================================================
location               GeoProperty Point: where the order is delivered (or, for a pickup,
                                   collected)
kind                   Property    ``delivery``, ``pickup`` or ``shipment``
windows                Property    ``["09:00-11:00", "14:00-16:00"]``; left out: any time
serviceDuration        Property    seconds at the door
size                   Property    ``{"kg": 2.5, "m3": 0.01, "parcels": 1}``
optional               Property    true: may be left out of a plan, losing ``penalty``
penalty                Property    euros (when not 0)
address                Property    text (when known)
origin                 GeoProperty shipments: Point where the goods are collected
originWindows,         Property    shipments: the collection end's window (one at most),
originServiceDuration,             service time and address
originAddress
source                 Property    where the order was first read ("orders.csv line 12")
planDay                Property    the day it is to be delivered (``YYYY-MM-DD``), when given
====================== =========== =========================================================

Reading entities back applies the same checks as reading an orders file; a mistake names the
entity and the attribute.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date
from typing import Any
from urllib.parse import quote, unquote

from cetate.errors import BadRequestData
from cetate.hub.documents import find_documents, upsert_documents
from cetate.hub.service import Hub
from cetate.logistics.clock import format_window
from cetate.logistics.model import Order, Stop
from cetate.logistics.orders import ErrorList, Where, parse_order

ORDER_TYPE = "cetate:DeliveryOrder"
ID_PREFIX = "urn:ngsi-ld:cetate:DeliveryOrder:"
_ID_SAFE = "-._~!$*+,=:@"  # URN characters kept as they are; everything else is %-escaped
# The attribute that holds each order field, for messages.
_ATTRIBUTE_OF = {
    "id": "id",
    "kind": "kind",
    "lon": "location",
    "lat": "location",
    "windows": "windows",
    "service_s": "serviceDuration",
    "kg": "size",
    "m3": "size",
    "parcels": "size",
    "optional": "optional",
    "penalty": "penalty",
    "address": "address",
    "origin_lon": "origin",
    "origin_lat": "origin",
    "origin_windows": "originWindows",
    "origin_service_s": "originServiceDuration",
    "origin_address": "originAddress",
}


def order_entity_id(order_id: str) -> str:
    return ID_PREFIX + quote(order_id, safe=_ID_SAFE)


def order_entity(order: Order, plan_day: str | None = None) -> dict[str, Any]:
    """The order as a normalized NGSI-LD entity; ``plan_day`` (``YYYY-MM-DD``) is the day it
    is for."""
    entity: dict[str, Any] = {
        "id": order_entity_id(order.id),
        "type": ORDER_TYPE,
        "kind": _property(order.kind),
        **_stop_attributes(order.at, "location", ""),
        "size": _property(order.size.as_dict()),
        "optional": _property(order.optional),
    }
    if order.origin is not None:
        entity.update(_stop_attributes(order.origin, "origin", "origin"))
    if order.penalty:
        entity["penalty"] = _property(order.penalty)
    if order.source:
        entity["source"] = _property(order.source)
    if plan_day is not None:
        try:
            date.fromisoformat(plan_day)
        except ValueError:
            raise BadRequestData(f"plan day {plan_day!r} is not a date (YYYY-MM-DD)") from None
        entity["planDay"] = _property(plan_day)
    return entity


def orders_from_entities(entities: Sequence[Mapping[str, Any]]) -> tuple[Order, ...]:
    """Orders from ``cetate:DeliveryOrder`` entities, normalized or keyValues; raises one
    ``BadRequestData`` naming each entity and attribute that is wrong."""
    errors = ErrorList("delivery orders")
    orders: list[Order] = []
    seen: set[str] = set()
    for index, entity in enumerate(entities):
        entity_id = entity.get("id")
        if not isinstance(entity_id, str) or not entity_id:
            errors.add(f"entity [{index}]: it has no id")
            continue
        if entity.get("type") != ORDER_TYPE:
            errors.add(f"entity {entity_id}: its type is {entity.get('type')!r}, not {ORDER_TYPE}")
            continue
        fields = _order_fields(entity_id, entity, errors)
        if fields is None:
            continue
        source = _value(entity.get("source"))
        order = parse_order(
            fields,
            _attribute_where(entity_id),
            errors,
            source=source if isinstance(source, str) else "",
        )
        if order is None:
            continue
        if order.id in seen:
            errors.add(f"entity {entity_id}: order {order.id!r} is given twice")
            continue
        seen.add(order.id)
        orders.append(order)
    errors.raise_if_any()
    return tuple(orders)


def orders_from_hub(hub: Hub, tenant: str = "") -> tuple[Order, ...]:
    """Every ``cetate:DeliveryOrder`` in the hub, as orders (by id)."""
    return orders_from_entities(find_documents(hub, tenant, ORDER_TYPE))


def write_orders(
    hub: Hub, orders: Sequence[Order], tenant: str = "", plan_day: str | None = None
) -> None:
    """Create or replace the orders' entities, in one batch."""
    if not orders:
        return
    documents = [order_entity(order, plan_day) for order in orders]
    result = upsert_documents(hub, tenant, documents, replace=True)
    if result.errors:
        listed = "; ".join(f"{entity_id}: {error.detail}" for entity_id, error in result.errors)
        raise BadRequestData(f"{len(result.errors)} orders were not written: {listed}")


# -- attributes -------------------------------------------------------------------------------


def _property(value: Any) -> dict[str, Any]:
    return {"type": "Property", "value": value}


def _stop_attributes(stop: Stop, place: str, prefix: str) -> dict[str, Any]:
    """A stop's attributes: ``location``, ``windows``... or ``origin``, ``originWindows``..."""

    def name(attribute: str) -> str:
        return prefix + attribute[0].upper() + attribute[1:] if prefix else attribute

    attributes: dict[str, Any] = {
        place: {
            "type": "GeoProperty",
            "value": {"type": "Point", "coordinates": [stop.lon, stop.lat]},
        },
        name("serviceDuration"): _property(stop.service_s),
    }
    if stop.windows:
        attributes[name("windows")] = _property([format_window(w) for w in stop.windows])
    if stop.address:
        attributes[name("address")] = _property(stop.address)
    return attributes


def _attribute_where(entity_id: str) -> Where:
    return lambda field: f"entity {entity_id}, attribute {_ATTRIBUTE_OF.get(field, field)!r}"


def _value(attribute: Any) -> Any:
    """An attribute's value, whether the entity is normalized or keyValues."""
    if isinstance(attribute, Mapping) and attribute.get("type") in ("Property", "GeoProperty"):
        return attribute.get("value")
    return attribute


def _order_fields(
    entity_id: str, entity: Mapping[str, Any], errors: ErrorList
) -> dict[str, Any] | None:
    """The entity's attributes as the fields of an orders file; None after an error when the
    shape itself is wrong (a location that is not a Point, a size that is not an object)."""
    order_id = entity_id.removeprefix(ID_PREFIX)
    fields: dict[str, Any] = {
        "id": unquote(order_id) if entity_id.startswith(ID_PREFIX) else entity_id,
        "kind": _value(entity.get("kind")),
        "windows": _value(entity.get("windows")),
        "service_s": _value(entity.get("serviceDuration")),
        "optional": _value(entity.get("optional")),
        "penalty": _value(entity.get("penalty")),
        "address": _value(entity.get("address")),
    }
    ok = True
    for attribute, prefix in (("location", ""), ("origin", "origin_")):
        point = _value(entity.get(attribute))
        if point is None:
            continue
        coordinates = point.get("coordinates") if isinstance(point, Mapping) else None
        if (
            not isinstance(point, Mapping)
            or point.get("type") != "Point"
            or not isinstance(coordinates, list)
            or len(coordinates) not in (2, 3)
        ):
            errors.add(f"entity {entity_id}, attribute {attribute!r}: must be a GeoJSON Point")
            ok = False
            continue
        fields[prefix + "lon"], fields[prefix + "lat"] = coordinates[0], coordinates[1]
    fields["origin_windows"] = _value(entity.get("originWindows"))
    fields["origin_service_s"] = _value(entity.get("originServiceDuration"))
    fields["origin_address"] = _value(entity.get("originAddress"))
    size = _value(entity.get("size"))
    if isinstance(size, Mapping):
        fields.update({key: size.get(key) for key in ("kg", "m3", "parcels")})
    elif size is not None:
        errors.add(f"entity {entity_id}, attribute 'size': must be an object {{kg, m3, parcels}}")
        ok = False
    return fields if ok else None
