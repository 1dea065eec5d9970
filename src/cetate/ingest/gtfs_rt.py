"""GTFS-Realtime into the hub: vehicle positions, trip updates and service alerts.

A feed is a protobuf ``FeedMessage`` read from a file or polled from a URL. Each kind of entity
becomes NGSI-LD entities of the city's hub, with ``observedAt`` set to the time the feed says
the observation was made, so the temporal API gives their history:

- ``VehiclePosition`` -> ``Vehicle`` (Smart Data Models, dataModel.Transportation):
  ``location``, ``speed`` (km/h), ``bearing``, ``hasTrip`` / ``hasRoute`` / ``currentStop``,
  ``currentStopSequence``, ``currentStatus``; ``vehicleType`` from the route's GTFS type.
- ``TripUpdate`` -> ``cetate:TripUpdate``, one entity per trip instance (trip id + start date):
  ``arrivalDelay`` / ``departureDelay`` (and ``arrivalTime`` / ``departureTime``,
  ``stopScheduleRelationship``) are multi-attributes with one instance per stop, told apart
  by their ``datasetId``; ``scheduleRelationship``, ``delay``, ``hasVehicle`` for the trip.
- ``Alert`` -> ``Alert`` (Smart Data Models, dataModel.Alert): category, subCategory,
  severity, name, description, validFrom / validTo, dateIssued, affected routes, stops, trips.

Ids follow the GTFS importer's scheme (``cetate.ingest.gtfs``: its feed names, its escaping of
GTFS ids), ``urn:ngsi-ld:Gtfs<Type>:{feed}:{id}``; so ``hasTrip`` points at the ``GtfsTrip``
the static feed of the same name loaded. docs/ingest.md ("GTFS-Realtime") describes every attribute.

``ingest_message`` writes one message in one hub transaction and returns an ``RtReport``.
``RtPoller`` polls a source (ETag / Last-Modified, interval, timeouts, backoff) and never stops
on a dead feed: failures are logged and counted.
"""

from __future__ import annotations

import hashlib
import logging
import re
import struct
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from google.protobuf.message import DecodeError
from google.transit import gtfs_realtime_pb2 as rt

from cetate.errors import BadRequestData, CetateError
from cetate.hub import changes
from cetate.hub.changes import Change
from cetate.hub.model import Entity, Instance, format_time, now_iso, parse_entity, time_us
from cetate.hub.service import Hub
from cetate.hub.store.base import EntityQuery
from cetate.ingest.gtfs import check_feed_name, escape_id
from cetate.logs import log_event

log = logging.getLogger("cetate.ingest.gtfs_rt")

VEHICLE_TYPE = "Vehicle"
TRIP_UPDATE_TYPE = "cetate:TripUpdate"
ALERT_TYPE = "Alert"

#: Used as the vehicle type when the route's GTFS type is not known (not loaded, no route).
DEFAULT_VEHICLE_TYPE = "bus"
#: Smart Data Models ``vehicleType`` of the basic GTFS route types (the others are rail).
_ROUTE_TYPE_VEHICLE = {0: "tram", 3: "bus", 4: "passengerVessel", 5: "tram", 11: "bus"}
# Extended (Google "HVT") route types, by hundred: 2xx coach, 7xx bus, 8xx trolleybus,
# 9xx tram, 10xx water, 12xx ferry. The other hundreds are rail, air, cable and taxi.
_EXTENDED_VEHICLE = {
    2: "bus",
    7: "bus",
    8: "bus",
    9: "tram",
    10: "passengerVessel",
    12: "passengerVessel",
}

_STOP_STATUS = {0: "incomingAt", 1: "stoppedAt", 2: "inTransitTo"}
_SEVERITY = {2: "informational", 3: "medium", 4: "high"}  # UNKNOWN_SEVERITY: left out
_CAUSE_CATEGORY = {8: "weather", 11: "security", 12: "health"}  # others: "traffic"
_CAUSE_SUBCATEGORY = {6: "carAccident", 9: "roadWorks", 10: "roadWorks"}
_MPS_TO_KMH = 3.6
_QUERY_CHUNK = 500
_ACCEPT = "application/x-protobuf, application/octet-stream;q=0.9, */*;q=0.1"


# ---------------------------------------------------------------------------------------------
# Reading


def read_message(source: bytes | str | Path, name: str | None = None) -> rt.FeedMessage:
    """A FeedMessage from protobuf bytes or a file; ``BadRequestData`` saying what is wrong
    when it is not one (not protobuf, truncated, no header)."""
    if isinstance(source, bytes):
        data, label = source, name or "feed"
    else:
        path = Path(source)
        label = name or str(path)
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            raise BadRequestData(f"{label}: no such file") from None
        except OSError as error:
            raise BadRequestData(f"{label}: cannot be read ({error.strerror or error})") from None
    try:
        message = rt.FeedMessage.FromString(data)
    except DecodeError:
        raise BadRequestData(
            f"{label}: not a GTFS-Realtime feed: the protobuf data is corrupt or truncated "
            f"({len(data)} bytes{_looks_like(data)})"
        ) from None
    if not message.HasField("header") or not message.header.gtfs_realtime_version:
        raise BadRequestData(
            f"{label}: not a GTFS-Realtime feed: no FeedHeader with a gtfs_realtime_version "
            f"({len(data)} bytes{_looks_like(data)})"
        )
    return message


def _looks_like(data: bytes) -> str:
    head = data.lstrip()[:1]
    if head == b"<":
        return "; it looks like HTML or XML"
    if head in (b"{", b"["):
        return "; it looks like JSON"
    return ""


# ---------------------------------------------------------------------------------------------
# Ids


def urn_part(text: str) -> str:
    """A GTFS id as one part of an entity id, escaped as the GTFS importer escapes it."""
    if not text:
        raise BadRequestData("an id in the feed is empty")
    return escape_id(text)


def gtfs_urn(kind: str, feed: str, gtfs_id: str) -> str:
    """The id of a GTFS entity, as the GTFS importer writes it: ``gtfs_urn("Trip", "rat",
    "T1")`` -> ``urn:ngsi-ld:GtfsTrip:rat:T1``."""
    return f"urn:ngsi-ld:Gtfs{kind}:{feed}:{urn_part(gtfs_id)}"


def vehicle_urn(feed: str, vehicle_id: str) -> str:
    return f"urn:ngsi-ld:Vehicle:{feed}:{urn_part(vehicle_id)}"


def trip_update_urn(feed: str, trip_id: str, start_date: str | None) -> str:
    """One trip instance: the trip on one service day (``...:T1:20261122``); without a start
    date in the feed, the trip alone."""
    base = f"urn:ngsi-ld:TripUpdate:{feed}:{urn_part(trip_id)}"
    return f"{base}:{urn_part(start_date)}" if start_date else base


def alert_urn(feed: str, alert_id: str) -> str:
    return f"urn:ngsi-ld:Alert:{feed}:{urn_part(alert_id)}"


def stop_dataset(stop_sequence: int | None, stop_id: str | None) -> str:
    """The datasetId of one stop's instances in a trip update: by stop sequence (unique in a
    trip, also when a loop passes a stop twice), else by stop id."""
    if stop_sequence is not None:
        return f"urn:cetate:gtfs-rt:stop:{stop_sequence}"
    if stop_id:
        return f"urn:cetate:gtfs-rt:stopId:{urn_part(stop_id)}"
    raise BadRequestData("a stop time update has neither stop_sequence nor stop_id")


# ---------------------------------------------------------------------------------------------
# Documents (pure: protobuf in, normalized NGSI-LD out)


def feed_time(seconds: int) -> str:
    """POSIX seconds (GTFS-Realtime timestamps) as an NGSI-LD UTC date-time."""
    try:
        return format_time(datetime.fromtimestamp(seconds, UTC))
    except (OverflowError, OSError, ValueError):
        raise BadRequestData(f"timestamp {seconds} is not a usable POSIX time") from None


def vehicle_type_of(route_type: int | str | None) -> str:
    """The Smart Data Models ``vehicleType`` of a GTFS ``route_type`` (basic or extended)."""
    try:
        code = int(route_type) if route_type is not None else None
    except ValueError:
        code = None
    if code is None:
        return DEFAULT_VEHICLE_TYPE
    if code in _ROUTE_TYPE_VEHICLE:
        return _ROUTE_TYPE_VEHICLE[code]
    if code >= 100:
        return _EXTENDED_VEHICLE.get(code // 100, "other")
    return "other"


def vehicle_document(
    position: rt.VehiclePosition,
    feed: str,
    fallback_id: str,
    default_time: str,
    vehicle_type: str = DEFAULT_VEHICLE_TYPE,
) -> tuple[dict[str, Any], str] | None:
    """The ``Vehicle`` of one position report and its observation time, or None when the
    report has nothing to store (no position, trip nor stop)."""
    descriptor = position.vehicle
    vehicle_id = descriptor.id or fallback_id
    observed = _report_time(position.timestamp, default_time)
    doc: dict[str, Any] = {"id": vehicle_urn(feed, vehicle_id), "type": VEHICLE_TYPE}
    found = False
    point = _point(position) if position.HasField("position") else None
    if point is not None:
        found = True
        doc["location"] = _observed({"type": "GeoProperty", "value": point}, observed)
        pos = position.position
        if pos.HasField("speed") and pos.speed >= 0 and _finite(pos.speed):
            speed = round(_shortest(pos.speed) * _MPS_TO_KMH, 1)
            doc["speed"] = _observed(_number(speed, "KMH"), observed)
        if pos.HasField("bearing") and 0 <= pos.bearing <= 360:
            doc["bearing"] = _observed(_number(_shortest(pos.bearing % 360), "DD"), observed)
    trip = position.trip
    if trip.trip_id:
        found = True
        doc["hasTrip"] = _observed(_relationship(gtfs_urn("Trip", feed, trip.trip_id)), observed)
    if trip.route_id:
        found = True
        doc["hasRoute"] = _observed(_relationship(gtfs_urn("Route", feed, trip.route_id)), observed)
    has_stop = position.HasField("current_stop_sequence") or bool(position.stop_id)
    if position.HasField("current_stop_sequence"):
        found = True
        doc["currentStopSequence"] = _observed(_value(position.current_stop_sequence), observed)
    if position.stop_id:
        found = True
        doc["currentStop"] = _observed(
            _relationship(gtfs_urn("Stop", feed, position.stop_id)), observed
        )
    if has_stop:  # the spec: without a stop, current_status means nothing
        status = _STOP_STATUS.get(position.current_status, str(position.current_status))
        doc["currentStatus"] = _observed(_value(status), observed)
    if not found:
        return None
    doc["vehicleType"] = _value(vehicle_type)
    doc["category"] = _value(["public", "tracked"])
    if descriptor.id:
        doc["fleetVehicleId"] = _value(descriptor.id)
    if descriptor.label:
        doc["name"] = _value(descriptor.label)
    if descriptor.license_plate:
        doc["vehiclePlateIdentifier"] = _value(descriptor.license_plate)
    return doc, observed


def trip_update_document(
    update: rt.TripUpdate, feed: str, default_time: str
) -> tuple[dict[str, Any], str] | None:
    """The ``cetate:TripUpdate`` of one trip update and its observation time, or None when
    the trip has no trip_id (a trip the feed names only by route, direction and start time)."""
    trip = update.trip
    if not trip.trip_id:
        return None
    observed = _report_time(update.timestamp, default_time)
    start_date = trip.start_date or None
    doc: dict[str, Any] = {
        "id": trip_update_urn(feed, trip.trip_id, start_date),
        "type": TRIP_UPDATE_TYPE,
        "hasTrip": _relationship(gtfs_urn("Trip", feed, trip.trip_id)),
    }
    if trip.route_id:
        doc["hasRoute"] = _relationship(gtfs_urn("Route", feed, trip.route_id))
    if start_date:
        doc["startDate"] = _value(_iso_date(start_date))
    if trip.start_time:
        doc["startTime"] = _value(trip.start_time)
    relationship = _enum_name(rt.TripDescriptor.ScheduleRelationship, trip.schedule_relationship)
    doc["scheduleRelationship"] = _observed(_value(relationship), observed)
    if update.HasField("delay"):
        doc["delay"] = _observed(_number(update.delay, "SEC"), observed)
    if update.vehicle.id:
        doc["hasVehicle"] = _observed(_relationship(vehicle_urn(feed, update.vehicle.id)), observed)
    stops: dict[str, dict[str, Instance]] = {}
    for stop in update.stop_time_update:
        sequence = stop.stop_sequence if stop.HasField("stop_sequence") else None
        dataset = stop_dataset(sequence, stop.stop_id or None)
        stops[dataset] = _stop_instances(stop, feed, dataset, sequence, observed)
    for name in (
        "arrivalDelay",
        "departureDelay",
        "arrivalTime",
        "departureTime",
        "stopScheduleRelationship",
    ):
        instances = [found[name] for found in stops.values() if name in found]
        if instances:
            doc[name] = instances
    return doc, observed


def _stop_instances(
    stop: rt.TripUpdate.StopTimeUpdate,
    feed: str,
    dataset: str,
    sequence: int | None,
    observed: str,
) -> dict[str, Instance]:
    where: dict[str, Any] = {"datasetId": dataset, "observedAt": observed}
    if sequence is not None:
        where["stopSequence"] = _value(sequence)
    if stop.stop_id:
        where["hasStop"] = _relationship(gtfs_urn("Stop", feed, stop.stop_id))
    found: dict[str, Instance] = {}
    events = (
        ("arrival", stop.arrival, stop.HasField("arrival")),
        ("departure", stop.departure, stop.HasField("departure")),
    )
    for event_name, event, given in events:
        if not given:
            continue
        if event.HasField("delay"):
            found[f"{event_name}Delay"] = {**_number(event.delay, "SEC"), **where}
        if event.HasField("time") and event.time > 0:
            found[f"{event_name}Time"] = {**_value(feed_time(event.time)), **where}
    relationship = _enum_name(
        rt.TripUpdate.StopTimeUpdate.ScheduleRelationship, stop.schedule_relationship
    )
    found["stopScheduleRelationship"] = {**_value(relationship), **where}
    return found


def alert_document(
    entity_id: str,
    alert: rt.Alert,
    feed: str,
    issued: str,
    source: str,
    language: str | None = None,
) -> dict[str, Any]:
    """The ``Alert`` of one service alert. ``issued`` (the feed's time when the alert is first
    seen) becomes ``dateIssued``; texts are taken in ``language`` when the feed has it."""
    doc: dict[str, Any] = {
        "id": alert_urn(feed, entity_id),
        "type": ALERT_TYPE,
        "category": _value(_CAUSE_CATEGORY.get(alert.cause, "traffic")),
        "alertSource": _value(source),
        "dateIssued": _value(issued),
    }
    if alert.cause in _CAUSE_SUBCATEGORY:
        doc["subCategory"] = _value(_CAUSE_SUBCATEGORY[alert.cause])
    if alert.severity_level in _SEVERITY:
        doc["severity"] = _value(_SEVERITY[alert.severity_level])
    if alert.HasField("cause"):
        doc["cause"] = _value(rt.Alert.Cause.Name(alert.cause))
    if alert.HasField("effect"):
        doc["effect"] = _value(rt.Alert.Effect.Name(alert.effect))
    header = pick_translation(alert.header_text, language)
    description = pick_translation(alert.description_text, language)
    if header:
        doc["name"] = _value(header)
    if description or header:
        doc["description"] = _value(description or header)
    url = pick_translation(alert.url, language)
    if url:
        doc["url"] = _value(url)
    periods = [_period(p) for p in alert.active_period]
    if periods:
        doc["activePeriods"] = _value(periods)
        starts = [p.get("start") for p in periods]
        ends = [p.get("end") for p in periods]
        if all(starts):
            doc["validFrom"] = _value(min(s for s in starts if s))
        if all(ends):
            doc["validTo"] = _value(max(e for e in ends if e))
    doc.update(_informed(alert.informed_entity, feed))
    return doc


def pick_translation(text: rt.TranslatedString, language: str | None) -> str | None:
    """The translation in ``language`` (exactly, else the same primary language: ``ro`` takes
    ``ro-RO``), else the first one; None when there is none."""
    translations = [t for t in text.translation if t.text]
    if not translations:
        return None
    if language:
        wanted = language.lower()
        for translation in translations:
            if translation.language.lower() == wanted:
                return translation.text
        primary = wanted.split("-")[0]
        for translation in translations:
            if translation.language.lower().split("-")[0] == primary:
                return translation.text
    return translations[0].text


def _period(period: rt.TimeRange) -> dict[str, str]:
    found: dict[str, str] = {}
    if period.start:
        found["start"] = feed_time(period.start)
    if period.end:
        found["end"] = feed_time(period.end)
    return found


def _informed(selectors: Iterable[rt.EntitySelector], feed: str) -> dict[str, Any]:
    """Relationships to the agencies, routes, stops and trips an alert names, and every
    selector as given (``informedEntities``: a route *at* a stop is one selector)."""
    targets: dict[str, set[str]] = {
        "affectedAgencies": set(),
        "affectedRoutes": set(),
        "affectedStops": set(),
        "affectedTrips": set(),
    }
    plain: list[dict[str, Any]] = []
    for selector in selectors:
        item: dict[str, Any] = {}
        if selector.agency_id:
            item["agencyId"] = selector.agency_id
            targets["affectedAgencies"].add(gtfs_urn("Agency", feed, selector.agency_id))
        if selector.route_id:
            item["routeId"] = selector.route_id
            targets["affectedRoutes"].add(gtfs_urn("Route", feed, selector.route_id))
        if selector.HasField("route_type"):
            item["routeType"] = selector.route_type
        if selector.HasField("direction_id"):
            item["directionId"] = selector.direction_id
        if selector.stop_id:
            item["stopId"] = selector.stop_id
            targets["affectedStops"].add(gtfs_urn("Stop", feed, selector.stop_id))
        if selector.HasField("trip"):
            trip = selector.trip
            if trip.trip_id:
                item["tripId"] = trip.trip_id
                targets["affectedTrips"].add(gtfs_urn("Trip", feed, trip.trip_id))
            if trip.route_id and not selector.route_id:
                item["routeId"] = trip.route_id
                targets["affectedRoutes"].add(gtfs_urn("Route", feed, trip.route_id))
            if trip.start_date:
                item["startDate"] = _iso_date(trip.start_date)
        if item:
            plain.append(item)
    doc: dict[str, Any] = {
        name: {"type": "Relationship", "object": sorted(urns)}
        for name, urns in targets.items()
        if urns
    }
    if plain:
        doc["informedEntities"] = _value(plain)
    return doc


def _report_time(seconds: int, default_time: str) -> str:
    return feed_time(seconds) if seconds > 0 else default_time


def _point(position: rt.VehiclePosition) -> dict[str, Any] | None:
    """The GeoJSON Point of a position; None for (0, 0) ("no fix" in many feeds) and for
    coordinates out of range."""
    lat, lon = position.position.latitude, position.position.longitude
    if not (_finite(lat) and _finite(lon)) or (lat == 0 and lon == 0):
        return None
    if not (-90 <= lat <= 90 and -180 <= lon <= 180):
        return None
    return {"type": "Point", "coordinates": [_shortest(lon), _shortest(lat)]}


def _shortest(number: float) -> float:
    """The shortest decimal of a float32 (the feed's precision): 45.644, not 45.64400100708."""
    single = struct.pack("<f", number)
    for digits in range(1, 10):
        rounded = round(number, digits)
        if struct.pack("<f", rounded) == single:
            return rounded
    return number


def _finite(number: float) -> bool:
    return number == number and abs(number) != float("inf")


def _iso_date(gtfs_date: str) -> str:
    """``20261122`` -> ``2026-11-22``."""
    if not re.fullmatch(r"\d{8}", gtfs_date):
        raise BadRequestData(f"start_date {gtfs_date!r} is not a GTFS date (YYYYMMDD)")
    return f"{gtfs_date[:4]}-{gtfs_date[4:6]}-{gtfs_date[6:]}"


def _enum_name(enum: Any, number: int) -> str:
    """``IN_TRANSIT_TO`` -> ``inTransitTo``: enum values in the Smart Data Models' style."""
    try:
        name = str(enum.Name(number))
    except ValueError:
        return str(number)
    first, *rest = name.lower().split("_")
    return first + "".join(word.capitalize() for word in rest)


def _value(value: Any) -> dict[str, Any]:
    return {"type": "Property", "value": value}


def _number(value: float, unit: str) -> dict[str, Any]:
    return {"type": "Property", "value": value, "unitCode": unit}


def _relationship(target: str) -> dict[str, Any]:
    return {"type": "Relationship", "object": target}


def _observed(attribute: dict[str, Any], observed: str) -> dict[str, Any]:
    attribute["observedAt"] = observed
    return attribute


# ---------------------------------------------------------------------------------------------
# Into the hub


@dataclass(slots=True)
class RtReport:
    """What one message did to the hub."""

    feed: str
    feed_time: str | None = None
    vehicles: int = 0  # Vehicle entities written
    trip_updates: int = 0  # cetate:TripUpdate entities written
    alerts: int = 0  # Alert entities written (new or changed)
    alerts_ended: int = 0  # alerts gone from the feed: validTo set to the feed's time
    unchanged: int = 0  # not newer than what the hub has (same timestamp, same alert)
    skipped: int = 0  # nothing storable: no position / trip id, deleted, other kinds
    errors: list[str] = field(default_factory=list)  # one line per entity the hub refused

    def summary(self) -> str:
        return (
            f"{self.vehicles} vehicles, {self.trip_updates} trip updates, {self.alerts} alerts "
            f"written ({self.alerts_ended} ended); {self.unchanged} unchanged, "
            f"{self.skipped} skipped, {len(self.errors)} errors"
        )

    def fields(self) -> dict[str, Any]:
        """For a structured log line."""
        return {
            "feed": self.feed,
            "feed_time": self.feed_time,
            "vehicles": self.vehicles,
            "trip_updates": self.trip_updates,
            "alerts": self.alerts,
            "alerts_ended": self.alerts_ended,
            "unchanged": self.unchanged,
            "skipped": self.skipped,
            "errors": len(self.errors),
        }


class _Unchanged(CetateError):
    """Raised inside the transaction for an entity the hub already has as new: counted, not
    written (no history row, no notification)."""


EntityOp = Callable[[Entity | None, Entity], Change]


def ingest_message(
    hub: Hub,
    message: rt.FeedMessage,
    feed: str,
    tenant: str = "",
    *,
    language: str | None = None,
    source: str | None = None,
    end_missing_alerts: bool | None = None,
) -> RtReport:
    """Write one FeedMessage into the hub, in one transaction.

    ``feed`` names the feed in ids (the same name as its static GTFS). ``language`` picks the
    alerts' translations; ``source`` (a URL) becomes their ``alertSource``. Alerts of this feed
    that the message no longer carries are ended (``validTo`` = the feed's time) when the
    message is a full dataset and ``end_missing_alerts`` is true; None means: when the message
    carries at least one alert (a vehicle-positions feed must not end them). Entities not newer
    than what the hub has are counted as unchanged and not written.
    """
    check_feed_name(feed)
    report = RtReport(feed)
    header = message.header
    now = now_iso()
    default_time = feed_time(header.timestamp) if header.timestamp > 0 else now
    report.feed_time = default_time
    found = _collect(hub, tenant, message, feed, default_time, language, source, report)
    if end_missing_alerts is None:
        end_missing_alerts = bool(found.alerts)
    if end_missing_alerts and header.incrementality == rt.FeedHeader.FULL_DATASET:
        found.ended = _ended_alerts(hub, tenant, feed, set(found.alerts), default_time)
    _commit(hub, tenant, found, default_time, now, report)
    return report


@dataclass(slots=True)
class _Found:
    """The documents of one message, by kind (id -> document, observation time)."""

    vehicles: dict[str, tuple[dict[str, Any], str]] = field(default_factory=dict)
    trips: dict[str, tuple[dict[str, Any], str]] = field(default_factory=dict)
    alerts: dict[str, dict[str, Any]] = field(default_factory=dict)
    ended: list[str] = field(default_factory=list)  # alerts to end


def _collect(
    hub: Hub,
    tenant: str,
    message: rt.FeedMessage,
    feed: str,
    default_time: str,
    language: str | None,
    source: str | None,
    report: RtReport,
) -> _Found:
    found = _Found()
    types = _vehicle_types(hub, tenant, feed, message)
    alert_source = source or f"urn:cetate:gtfs-rt:{feed}"
    for entity in message.entity:
        if entity.is_deleted:
            report.skipped += 1
            continue
        stored = False
        try:
            if entity.HasField("vehicle"):
                trip = entity.vehicle.trip
                vehicle_type = types.get((trip.trip_id, trip.route_id), DEFAULT_VEHICLE_TYPE)
                made = vehicle_document(entity.vehicle, feed, entity.id, default_time, vehicle_type)
                if made is not None:
                    stored = True
                    _keep_newest(found.vehicles, made, report)
            if entity.HasField("trip_update"):
                made = trip_update_document(entity.trip_update, feed, default_time)
                if made is not None:
                    stored = True
                    _keep_newest(found.trips, made, report)
            if entity.HasField("alert"):
                doc = alert_document(
                    entity.id, entity.alert, feed, default_time, alert_source, language
                )
                found.alerts[doc["id"]] = doc
                stored = True
        except CetateError as error:
            report.errors.append(f"feed entity {entity.id}: {error.detail}")
            continue
        if not stored:  # nothing storable, or a kind not kept here (shape, stop...)
            report.skipped += 1
    return found


def _commit(
    hub: Hub, tenant: str, found: _Found, default_time: str, now: str, report: RtReport
) -> None:
    """Every document of a message in one transaction, each kind with its own write rule."""
    ctx = hub.contexts.core()
    times = {i: time_us(observed) for i, (_, observed) in found.vehicles.items()}
    times.update({i: time_us(observed) for i, (_, observed) in found.trips.items()})
    vehicle_op = _observation_op(
        times,
        static=_iris(ctx, *_VEHICLE_STATIC_ATTRS),
        groups=[
            (frozenset(), _iris(ctx, *_VEHICLE_TRIP_ATTRS)),
            (_iris(ctx, "location"), _iris(ctx, "speed", "bearing")),
        ],
    )
    trip_op = _observation_op(
        times,
        static=_iris(ctx, "hasTrip", "hasRoute", "startDate", "startTime"),
        groups=[(frozenset(), _iris(ctx, "delay", "hasVehicle"))],
    )
    alert_op = _alert_op(ctx.expand("dateIssued"))
    end_op = _end_op(ctx.expand("validTo"), time_us(default_time))
    planned: list[tuple[dict[str, Any], EntityOp]] = [
        *((doc, vehicle_op) for doc, _ in found.vehicles.values()),
        *((doc, trip_op) for doc, _ in found.trips.values()),
        *((doc, alert_op) for doc in found.alerts.values()),
        *(
            ({"id": i, "type": ALERT_TYPE, "validTo": _value(default_time)}, end_op)
            for i in found.ended
        ),
    ]
    ops: dict[str, EntityOp] = {}
    entities: list[Entity] = []
    for doc, op in planned:
        try:
            entities.append(parse_entity(doc, ctx, now))
        except CetateError as error:
            report.errors.append(f"{doc['id']}: {error.detail}")
            continue
        ops[doc["id"]] = op
    if not entities:
        return
    result = hub.batch(tenant, entities, lambda old, new: ops[new["id"]](old, new))
    # (a store may run the transaction again after a conflict: count each id once)
    failed = dict(result.errors)
    for entity_id, refused in failed.items():
        if isinstance(refused, _Unchanged):
            report.unchanged += 1
        else:
            report.errors.append(f"{entity_id}: {refused.detail}")
    for entity_id in set(result.success) - set(failed):
        if entity_id in found.vehicles:
            report.vehicles += 1
        elif entity_id in found.trips:
            report.trip_updates += 1
        elif entity_id in found.alerts:
            report.alerts += 1
        else:
            report.alerts_ended += 1


_VEHICLE_STATIC_ATTRS = (
    "vehicleType",
    "category",
    "fleetVehicleId",
    "name",
    "vehiclePlateIdentifier",
)
_VEHICLE_TRIP_ATTRS = (
    "hasTrip",
    "hasRoute",
    "currentStop",
    "currentStopSequence",
    "currentStatus",
)


def _keep_newest(
    found: dict[str, tuple[dict[str, Any], str]],
    made: tuple[dict[str, Any], str],
    report: RtReport,
) -> None:
    """One entity per id and message: the newest report (a feed may repeat a vehicle)."""
    entity_id, observed = made[0]["id"], made[1]
    previous = found.get(entity_id)
    if previous is not None:
        report.skipped += 1
        if time_us(previous[1]) >= time_us(observed):
            return
    found[entity_id] = made


def _iris(ctx: Any, *names: str) -> frozenset[str]:
    return frozenset(ctx.expand(name) for name in names)


def _observation_op(
    times: Mapping[str, int],
    static: frozenset[str],
    groups: Sequence[tuple[frozenset[str], frozenset[str]]],
) -> EntityOp:
    """Write an observation: nothing when the hub's copy is as new; otherwise the attributes
    given (static ones only when they changed, so history holds observations), and the
    attributes of a group dropped when the report leaves them out (a vehicle off its trip has
    no ``hasTrip``). A group applies always (no trigger) or when a trigger attribute is given."""

    def op(old: Entity | None, new: Entity) -> Change:
        if old is None:
            return changes.replace(None, new)
        latest = _latest_observation(old)
        if latest is not None and latest >= times[new["id"]]:
            raise _Unchanged(f"{new['id']}: the hub has this observation or a newer one")
        attrs = {
            iri: instances
            for iri, instances in new["attrs"].items()
            if iri not in static or not _same_instances(old["attrs"].get(iri), instances)
        }
        change = changes.append(old, {**new, "attrs": attrs})
        after = change.after
        assert after is not None
        for trigger, members in groups:
            if trigger and not (trigger & attrs.keys()):
                continue
            for iri in members:
                if iri not in attrs and iri in after["attrs"]:
                    del after["attrs"][iri]
                    change.deleted.append(iri)
        return change

    return op


def _alert_op(date_issued: str) -> EntityOp:
    """Replace an alert when it changed, keeping the date it was first issued."""

    def op(old: Entity | None, new: Entity) -> Change:
        if old is None:
            return changes.replace(None, new)
        if date_issued in old["attrs"]:
            new["attrs"][date_issued] = old["attrs"][date_issued]
        if _same_attrs(old["attrs"], new["attrs"]):
            raise _Unchanged(f"{new['id']}: the hub has this alert as it is")
        return changes.replace(old, new)

    return op


def _end_op(valid_to: str, at_us: int) -> EntityOp:
    """End an alert the feed no longer carries, unless it ended already."""

    def op(old: Entity | None, new: Entity) -> Change:
        if old is None:
            raise _Unchanged(f"{new['id']}: deleted meanwhile")
        if _ends_by(old, valid_to, at_us):
            raise _Unchanged(f"{new['id']}: already over")
        return changes.append(old, new)

    return op


def _ends_by(entity: Entity, valid_to: str, at_us: int) -> bool:
    """Whether an entity's ``validTo`` is at or before a time."""
    for instance in entity["attrs"].get(valid_to) or []:
        value = instance.get("value")
        if isinstance(value, str):
            try:
                if time_us(value) <= at_us:
                    return True
            except CetateError:
                continue
    return False


def _latest_observation(entity: Entity) -> int | None:
    times = [
        time_us(instance["observedAt"])
        for instances in entity["attrs"].values()
        for instance in instances
        if "observedAt" in instance
    ]
    return max(times, default=None)


_SYSTEM = frozenset({"createdAt", "modifiedAt", "instanceId"})


def _plain(instance: Any) -> Any:
    if isinstance(instance, dict):
        return {k: _plain(v) for k, v in instance.items() if k not in _SYSTEM}
    if isinstance(instance, list):
        return [_plain(v) for v in instance]
    return instance


def _same_instances(old: list[Instance] | None, new: list[Instance]) -> bool:
    return old is not None and _plain(old) == _plain(new)


def _same_attrs(old: Mapping[str, list[Instance]], new: Mapping[str, list[Instance]]) -> bool:
    return old.keys() == new.keys() and all(_same_instances(old[k], new[k]) for k in new)


def _ended_alerts(hub: Hub, tenant: str, feed: str, current: set[str], at: str) -> list[str]:
    """The ids of this feed's alerts in the hub that the message no longer carries and that
    are not over yet."""
    ctx = hub.contexts.core()
    prefix = f"urn:ngsi-ld:Alert:{feed}:"
    query = EntityQuery(
        types=(frozenset({ctx.expand(ALERT_TYPE)}),),
        id_pattern=re.compile(re.escape(prefix) + ".*"),
        limit=1_000_000,
    )
    found, _ = hub.store.query(tenant, query)
    valid_to = ctx.expand("validTo")
    at_us = time_us(at)
    return [
        entity["id"]
        for entity in found
        if entity["id"] not in current and not _ends_by(entity, valid_to, at_us)
    ]


def _vehicle_types(
    hub: Hub, tenant: str, feed: str, message: rt.FeedMessage
) -> dict[tuple[str, str], str]:
    """``{(trip_id, route_id): vehicleType}`` for the vehicles of a message, from the
    ``GtfsRoute`` (``routeType``) and ``GtfsTrip`` (``hasRoute``) entities of the static feed
    of the same name, where the hub has them (two reads by id)."""
    wanted = {
        (e.vehicle.trip.trip_id, e.vehicle.trip.route_id)
        for e in message.entity
        if e.HasField("vehicle") and (e.vehicle.trip.trip_id or e.vehicle.trip.route_id)
    }
    if not wanted:
        return {}
    ctx = hub.contexts.core()
    has_route, route_type = ctx.expand("hasRoute"), ctx.expand("routeType")
    trip_urns = sorted({gtfs_urn("Trip", feed, t) for t, r in wanted if t and not r})
    trip_route: dict[str, str] = {}
    for entity in _get_many(hub, tenant, trip_urns):
        for instance in entity["attrs"].get(has_route) or []:
            if isinstance(instance.get("object"), str):
                trip_route[entity["id"]] = instance["object"]

    def route_of(trip_id: str, route_id: str) -> str | None:
        if route_id:
            return gtfs_urn("Route", feed, route_id)
        return trip_route.get(gtfs_urn("Trip", feed, trip_id))

    routes = {key: route_of(*key) for key in wanted}
    route_vehicle: dict[str, str] = {}
    for entity in _get_many(hub, tenant, sorted({u for u in routes.values() if u})):
        for instance in entity["attrs"].get(route_type) or []:
            route_vehicle[entity["id"]] = vehicle_type_of(instance.get("value"))
    return {key: route_vehicle[urn] for key, urn in routes.items() if urn in route_vehicle}


def _get_many(hub: Hub, tenant: str, ids: Sequence[str]) -> list[Entity]:
    found: list[Entity] = []
    for start in range(0, len(ids), _QUERY_CHUNK):
        chunk = tuple(ids[start : start + _QUERY_CHUNK])
        entities, _ = hub.store.query(tenant, EntityQuery(ids=chunk, limit=len(chunk)))
        found += entities
    return found


# ---------------------------------------------------------------------------------------------
# Polling


@dataclass(slots=True)
class PollerStats:
    """What a poller has done since it started."""

    polls: int = 0
    ingested: int = 0  # messages written
    not_modified: int = 0  # 304, same file, same bytes
    errors: int = 0  # failed polls (network, HTTP status, bad data, store)
    entity_errors: int = 0  # entities the hub refused, over all messages
    consecutive_errors: int = 0
    last_error: str | None = None
    last_report: RtReport | None = None


def is_url(source: str | Path) -> bool:
    return isinstance(source, str) and source.lower().startswith(("http://", "https://"))


# A city's whole vehicle-positions feed is a few hundred kilobytes; a body far larger is a wrong
# URL or a broken server, and is refused before it fills the memory.
MAX_FEED_BYTES = 64 * 1024 * 1024


class RtPoller:
    """Polls one GTFS-Realtime source (a URL, or a file that something else rewrites) and
    writes each new message into the hub.

    A URL is fetched with ``If-None-Match`` / ``If-Modified-Since`` from the last message
    written: ``304 Not Modified`` (or the same bytes again) writes nothing. Failures (network,
    HTTP status, data that is not a feed, the store) are logged and counted and the poller
    waits longer each time (``interval_s`` doubled per consecutive failure, at most
    ``max_backoff_s``), then goes on. ``run(stop)`` polls in the calling thread until ``stop``
    is set; ``start()`` / ``stop()`` do the same in a thread of its own.
    """

    def __init__(
        self,
        hub: Hub,
        source: str | Path,
        feed: str,
        *,
        tenant: str = "",
        interval_s: float = 30.0,
        timeout_s: float = 10.0,
        max_backoff_s: float = 300.0,
        language: str | None = None,
        headers: Mapping[str, str] | None = None,
        max_bytes: int = MAX_FEED_BYTES,
    ) -> None:
        self.max_bytes = max_bytes
        if interval_s <= 0:
            raise BadRequestData("the polling interval must be more than 0 seconds")
        if timeout_s <= 0:
            raise BadRequestData("the timeout must be more than 0 seconds")
        check_feed_name(feed)
        self.hub = hub
        self.source = source
        self.feed = feed
        self.tenant = tenant
        self.interval_s = interval_s
        self.max_backoff_s = max(max_backoff_s, interval_s)
        self.language = language
        self.stats = PollerStats()
        self._url = str(source) if is_url(source) else None
        self._path = None if self._url else Path(source)
        self._alert_source = self._url or Path(source).resolve().as_uri()
        self._client: httpx.Client | None = None
        if self._url is not None:
            self._client = httpx.Client(
                timeout=httpx.Timeout(timeout_s),
                follow_redirects=True,
                headers={"Accept": _ACCEPT, "User-Agent": "cetate-gtfs-rt", **(headers or {})},
            )
        self._etag: str | None = None
        self._last_modified: str | None = None
        self._file_state: tuple[int, int] | None = None
        self._digest: bytes | None = None
        self._carries_alerts = False
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # -- one poll -------------------------------------------------------------------------------

    def poll_once(self) -> RtReport | None:
        """Fetch, and write what is new; None when nothing changed. Raises ``BadRequestData``
        (unreachable, HTTP error, not a feed) and whatever the store raises."""
        self.stats.polls += 1
        fetched = self._fetch()
        if fetched is None:
            self.stats.not_modified += 1
            self.stats.consecutive_errors = 0
            return None
        data, validators = fetched
        digest = hashlib.sha256(data).digest()
        if digest == self._digest:
            self._remember(validators, digest)
            self.stats.not_modified += 1
            self.stats.consecutive_errors = 0
            return None
        message = read_message(data, name=str(self.source))
        if any(e.HasField("alert") for e in message.entity):
            self._carries_alerts = True
        report = ingest_message(
            self.hub,
            message,
            self.feed,
            self.tenant,
            language=self.language,
            source=self._alert_source,
            end_missing_alerts=self._carries_alerts,
        )
        self._remember(validators, digest)  # only now: a failed write is fetched again
        self.stats.ingested += 1
        self.stats.consecutive_errors = 0
        self.stats.entity_errors += len(report.errors)
        self.stats.last_report = report
        level = logging.WARNING if report.errors else logging.INFO
        fields = report.fields()
        if report.errors:
            fields["first_error"] = report.errors[0]
        log_event(log, "gtfs_rt.ingested", level, **fields)
        return report

    def _fetch(self) -> tuple[bytes, tuple[Any, ...]] | None:
        if self._path is not None:
            try:
                status = self._path.stat()
            except OSError as error:
                raise BadRequestData(f"{self._path}: cannot be read ({error.strerror})") from None
            state = (status.st_mtime_ns, status.st_size)
            if state == self._file_state:
                return None
            try:
                return self._path.read_bytes(), state
            except OSError as error:
                raise BadRequestData(f"{self._path}: cannot be read ({error.strerror})") from None
        if self._client is None or self._url is None:
            raise BadRequestData(f"{self.source}: the poller is closed")
        headers = {}
        if self._etag:
            headers["If-None-Match"] = self._etag
        if self._last_modified:
            headers["If-Modified-Since"] = self._last_modified
        try:
            with self._client.stream("GET", self._url, headers=headers) as response:
                if response.status_code == 304:
                    return None
                if response.status_code != 200:
                    raise BadRequestData(f"{self._url}: HTTP {response.status_code}")
                body = bytearray()
                for chunk in response.iter_bytes():
                    body += chunk
                    if len(body) > self.max_bytes:  # read no further than the limit
                        raise BadRequestData(
                            f"{self._url}: the feed is over the {self.max_bytes:,}-byte limit"
                        )
                validators = (response.headers.get("ETag"), response.headers.get("Last-Modified"))
        except httpx.TimeoutException:
            raise BadRequestData(f"{self._url}: no answer in time") from None
        except httpx.HTTPError as error:
            raise BadRequestData(f"{self._url}: {error or type(error).__name__}") from None
        return bytes(body), validators

    def _remember(self, validators: tuple[Any, ...], digest: bytes) -> None:
        self._digest = digest
        if self._path is not None:
            self._file_state = (int(validators[0]), int(validators[1]))
        else:
            self._etag, self._last_modified = validators

    # -- the loop -------------------------------------------------------------------------------

    def run(self, stop: threading.Event) -> None:
        """Poll every ``interval_s`` until ``stop`` is set; never raises for a feed's failure."""
        log_event(log, "gtfs_rt.started", feed=self.feed, source=self.source)
        while not stop.is_set():
            delay = self.interval_s
            try:
                self.poll_once()
            except Exception as error:  # a dead feed or store must not end the poller
                delay = self._failed(error)
            stop.wait(delay)
        log_event(log, "gtfs_rt.stopped", feed=self.feed, **self._counts())

    def _failed(self, error: Exception) -> float:
        self.stats.errors += 1
        self.stats.consecutive_errors += 1
        detail = (
            error.detail if isinstance(error, CetateError) else f"{type(error).__name__}: {error}"
        )
        self.stats.last_error = detail
        factor = 2.0 ** min(self.stats.consecutive_errors, 16)
        delay = min(self.max_backoff_s, self.interval_s * factor)
        log_event(
            log,
            "gtfs_rt.poll_failed",
            logging.WARNING,
            feed=self.feed,
            source=self.source,
            error=detail,
            failures=self.stats.consecutive_errors,
            retry_in_s=round(delay, 3),
        )
        return delay

    def _counts(self) -> dict[str, int]:
        return {
            "polls": self.stats.polls,
            "ingested": self.stats.ingested,
            "not_modified": self.stats.not_modified,
            "errors": self.stats.errors,
        }

    def start(self) -> None:
        """Poll in a thread of its own until ``stop()``."""
        if self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(
            target=self.run, args=(self._stop,), name=f"gtfs-rt-{self.feed}", daemon=True
        )
        self._thread.start()

    def stop(self, timeout_s: float = 30.0) -> None:
        """Stop the thread (after the poll under way) and close the HTTP client."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout_s)
            self._thread = None
        self.close()

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    def __enter__(self) -> RtPoller:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
