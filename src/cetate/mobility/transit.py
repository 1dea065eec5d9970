"""Public transport timetables from the hub: departures at a stop on a day, a trip's stop times.

A ``Timetable`` is an in-memory index built from the GTFS entities one import wrote
(``cetate.ingest.gtfs``): stops, routes, trips with their ``stopTimes``, services and their
calendar rules. It answers in microseconds; building it reads the feed's entities once (about a
second per million stop times). ``Transit`` keeps one per (tenant, feed) and rebuilds it when the
feed's ``cetate:GtfsFeed`` entity shows a new ``revision``: every import that changes something
writes one, so a process serving the API picks up an import made by any other process (the CLI,
another worker) on its next request, with one small read per request to check.

Service days follow GTFS: times are seconds after midnight of the service day (noon minus 12 h,
which is midnight except on daylight-saving days) in the feed's time zone, and may pass 24:00. The
departures on a date after a time therefore include the previous service day's trips still
running after midnight. A service runs on a day when ``calendar.txt`` says so for its weekday
within its dates, unless ``calendar_dates.txt`` removes that day (exception 2); an exception 1
adds a day whatever the calendar says. Stop times the feed leaves without a time are
interpolated between the timed stops around them (and marked so).
"""

from __future__ import annotations

import re
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import numpy.typing as npt

from cetate.errors import BadRequestData, ResourceNotFound
from cetate.hub.model import RenderOptions, render_entity
from cetate.hub.service import Hub
from cetate.hub.store.base import EntityQuery
from cetate.ingest.gtfs import (
    FEED_TYPE,
    entity_id,
    feed_entity_id,
    format_gtfs_time,
    gtfs_id,
    id_prefix,
    parse_gtfs_time,
)

Ints = npt.NDArray[np.int64]
DAY_S = 86_400
STOP_TYPES = ("GtfsStop", "GtfsStation")
NO_PICKUP = 1  # GTFS pickup_type: no pickup available


@dataclass(frozen=True, slots=True)
class FeedInfo:
    """A GTFS feed as imported into the hub (its ``cetate:GtfsFeed`` entity)."""

    name: str
    revision: str
    timezone: str
    version: str | None = None
    publisher: str | None = None
    start_date: str | None = None
    end_date: str | None = None
    imported_at: str | None = None
    counts: Mapping[str, int] = field(default_factory=dict)

    @classmethod
    def from_document(cls, doc: Mapping[str, Any]) -> FeedInfo:
        return cls(
            name=str(doc.get("name", "")),
            revision=str(doc.get("revision", "")),
            timezone=str(doc.get("timezone", "UTC")),
            version=doc.get("version"),
            publisher=doc.get("publisher"),
            start_date=doc.get("startDate"),
            end_date=doc.get("endDate"),
            imported_at=doc.get("importedAt"),
            counts=doc.get("counts") or {},
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "revision": self.revision,
            "timezone": self.timezone,
            "version": self.version,
            "publisher": self.publisher,
            "startDate": self.start_date,
            "endDate": self.end_date,
            "importedAt": self.imported_at,
            "counts": dict(self.counts),
        }


@dataclass(frozen=True, slots=True)
class Stop:
    stop_id: str
    entity_id: str
    name: str | None
    lon: float | None
    lat: float | None
    parent: str | None  # stop_id of the station
    station: bool


@dataclass(frozen=True, slots=True)
class Route:
    route_id: str
    short_name: str | None
    long_name: str | None
    route_type: str | None
    color: str | None


@dataclass(frozen=True, slots=True)
class Departure:
    trip_id: str
    route: Route
    headsign: str | None
    stop_id: str
    stop_sequence: int
    service_date: date
    departure_s: int  # seconds after midnight of the service day
    interpolated: bool

    def moment(self, zone: ZoneInfo) -> datetime:
        """The departure as an aware local time (GTFS: noon of the service day minus 12 h)."""
        return service_moment(self.service_date, self.departure_s, zone)


@dataclass(frozen=True, slots=True)
class StopTime:
    stop_sequence: int
    stop_id: str
    stop_name: str | None
    arrival_s: int | None  # as the feed gives it (None when left out)
    departure_s: int | None
    details: Mapping[str, Any]  # stopHeadsign, pickupType, dropOffType, ...


@dataclass(frozen=True, slots=True)
class TripTimes:
    feed: str
    trip_id: str
    route: Route
    service_id: str
    headsign: str | None
    direction: int | None
    stop_times: list[StopTime]


@dataclass(frozen=True, slots=True)
class DepartureBoard:
    """The departures from a stop on a day after a time, in a feed."""

    feed: FeedInfo
    stop: Stop
    day: date
    after_s: int
    departures: list[Departure]

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.feed.timezone)


def service_moment(service_date: date, seconds: int, zone: ZoneInfo) -> datetime:
    noon = datetime.combine(service_date, time(12), tzinfo=zone)
    start = (noon.astimezone(ZoneInfo("UTC")) - timedelta(hours=12)).astimezone(zone)
    return (start + timedelta(seconds=seconds)).astimezone(zone)


# ---------------------------------------------------------------------------------------------
# Calendar


@dataclass(slots=True)
class Calendar:
    """Which services run on which day: weekly rules within dates, and exceptions by date."""

    services: list[str]
    weekdays: dict[int, tuple[bool, ...]] = field(default_factory=dict)
    spans: dict[int, tuple[date, date]] = field(default_factory=dict)
    exceptions: dict[date, dict[int, bool]] = field(default_factory=dict)
    _cache: dict[date, npt.NDArray[np.bool_]] = field(default_factory=dict)

    def running(self, day: date) -> npt.NDArray[np.bool_]:
        """A flag per service: does it run on ``day``?"""
        found = self._cache.get(day)
        if found is None:
            found = np.zeros(len(self.services), dtype=np.bool_)
            weekday = day.weekday()
            for service, days in self.weekdays.items():
                start, end = self.spans[service]
                found[service] = days[weekday] and start <= day <= end
            for service, added in self.exceptions.get(day, {}).items():
                found[service] = added
            if len(self._cache) > 512:
                self._cache.clear()
            self._cache[day] = found
        return found


# ---------------------------------------------------------------------------------------------
# Timetable


class Timetable:
    """The index of one feed: departures by stop and time, stop times by trip."""

    def __init__(
        self,
        feed: FeedInfo,
        stops: list[Stop],
        routes: list[Route],
        calendar: Calendar,
        trips: list[dict[str, Any]],
    ) -> None:
        """``trips``: dicts with ``trip_id``, ``route`` (index), ``service`` (index),
        ``headsign``, ``direction`` and ``stop_times`` (the rows of the ``stopTimes``
        property)."""
        self.feed = feed
        self.zone = ZoneInfo(feed.timezone)
        self.stops = stops
        self.stop_index = {s.stop_id: i for i, s in enumerate(stops)}
        self.children: dict[str, list[int]] = {}
        for number, stop in enumerate(stops):
            if stop.parent is not None:
                self.children.setdefault(stop.parent, []).append(number)
        self.routes = routes
        self.calendar = calendar
        self.trip_ids = [t["trip_id"] for t in trips]
        self.trip_index = {trip_id: i for i, trip_id in enumerate(self.trip_ids)}
        self.trip_route = np.asarray([t["route"] for t in trips], dtype=np.int64)
        self.trip_service = np.asarray([t["service"] for t in trips], dtype=np.int64)
        self.trip_headsign: list[str | None] = [t.get("headsign") for t in trips]
        self.trip_direction: list[int | None] = [t.get("direction") for t in trips]
        self._rows: list[list[list[Any]]] = [t["stop_times"] for t in trips]
        self._build_departures()

    def _build_departures(self) -> None:
        """One event per boarding: (stop, departure time, trip, position in the trip)."""
        stops: list[int] = []
        times: list[int] = []
        trips: list[int] = []
        positions: list[int] = []
        flags: list[bool] = []
        stop_index = self.stop_index
        max_s = 0
        for trip, rows in enumerate(self._rows):
            departures, interpolated = _timed(rows)
            last = len(rows) - 1
            for position, row in enumerate(rows):
                if position == last:
                    break  # a trip's last stop is where it arrives, not a departure
                details = row[4] if len(row) > 4 else None
                if details and details.get("pickupType") == NO_PICKUP:
                    continue
                stop = stop_index.get(row[1])
                if stop is None:
                    continue
                stops.append(stop)
                times.append(departures[position])
                trips.append(trip)
                positions.append(position)
                flags.append(interpolated[position])
            if rows:
                max_s = max(max_s, departures[-1])
        stop_a = np.asarray(stops, dtype=np.int64)
        time_a = np.asarray(times, dtype=np.int64)
        order = np.lexsort((time_a, stop_a))
        self.event_stop = stop_a[order]
        self.event_time = time_a[order]
        self.event_trip = np.asarray(trips, dtype=np.int64)[order]
        self.event_position = np.asarray(positions, dtype=np.int64)[order]
        self.event_interpolated = np.asarray(flags, dtype=np.bool_)[order]
        self.stop_start = np.searchsorted(self.event_stop, np.arange(len(self.stops) + 1))
        self.days_back = max_s // DAY_S  # how many earlier service days can still run today

    @property
    def stop_time_count(self) -> int:
        return sum(len(rows) for rows in self._rows)

    def stop(self, stop_id: str) -> Stop:
        number = self.stop_index.get(stop_id)
        if number is None:
            raise ResourceNotFound(f"feed {self.feed.name!r} has no stop {stop_id!r}")
        return self.stops[number]

    def departures(self, stop_id: str, day: date, after_s: int, limit: int) -> list[Departure]:
        """The next ``limit`` departures from ``stop_id`` (a station: from any of its stops) on
        ``day`` at or after ``after_s`` seconds past its midnight, by time."""
        stop = self.stop(stop_id)
        numbers = [self.stop_index[stop.stop_id]]
        numbers += self.children.get(stop.stop_id, [])
        found: list[tuple[int, int, int]] = []  # (time on day's clock, days back, event)
        for back in range(self.days_back + 1):
            service_day = day - timedelta(days=back)
            running = self.calendar.running(service_day)
            threshold = after_s + back * DAY_S
            for number in numbers:
                lo, hi = int(self.stop_start[number]), int(self.stop_start[number + 1])
                first = lo + int(np.searchsorted(self.event_time[lo:hi], threshold))
                kept = 0
                for event in range(first, hi):
                    if running[self.trip_service[self.event_trip[event]]]:
                        found.append((int(self.event_time[event]) - back * DAY_S, back, event))
                        kept += 1
                        if kept >= limit:
                            break
        found.sort()
        return [
            self._departure(event, day - timedelta(days=back)) for _, back, event in found[:limit]
        ]

    def _departure(self, event: int, service_day: date) -> Departure:
        trip = int(self.event_trip[event])
        position = int(self.event_position[event])
        row = self._rows[trip][position]
        details = row[4] if len(row) > 4 else {}
        return Departure(
            trip_id=self.trip_ids[trip],
            route=self.routes[int(self.trip_route[trip])],
            headsign=details.get("stopHeadsign") or self.trip_headsign[trip],
            stop_id=str(row[1]),
            stop_sequence=int(row[0]),
            service_date=service_day,
            departure_s=int(self.event_time[event]),
            interpolated=bool(self.event_interpolated[event]),
        )

    def trip(self, trip_id: str) -> TripTimes:
        number = self.trip_index.get(trip_id)
        if number is None:
            raise ResourceNotFound(f"feed {self.feed.name!r} has no trip {trip_id!r}")
        stop_times = []
        for row in self._rows[number]:
            stop_number = self.stop_index.get(row[1])
            stop_times.append(
                StopTime(
                    stop_sequence=int(row[0]),
                    stop_id=str(row[1]),
                    stop_name=self.stops[stop_number].name if stop_number is not None else None,
                    arrival_s=row[2],
                    departure_s=row[3],
                    details=row[4] if len(row) > 4 else {},
                )
            )
        return TripTimes(
            feed=self.feed.name,
            trip_id=trip_id,
            route=self.routes[int(self.trip_route[number])],
            service_id=self.calendar.services[int(self.trip_service[number])],
            headsign=self.trip_headsign[number],
            direction=self.trip_direction[number],
            stop_times=stop_times,
        )

    def today(self) -> tuple[date, int]:
        """The feed's local date and seconds since its midnight, now."""
        now = datetime.now(self.zone)
        return now.date(), now.hour * 3600 + now.minute * 60 + now.second


def _timed(rows: list[list[Any]]) -> tuple[list[int], list[bool]]:
    """Departure seconds of each row, those the feed leaves out interpolated linearly (by
    position) between the timed rows around them."""
    departures: list[int] = []
    interpolated: list[bool] = []
    gap: list[int] = []
    previous: int | None = None
    for position, row in enumerate(rows):
        leave = row[3] if row[3] is not None else row[2]
        if leave is None:
            gap.append(position)
            departures.append(0)
            interpolated.append(True)
            continue
        arrive = row[2] if row[2] is not None else leave
        if gap and previous is not None:
            start = departures[previous]
            steps = position - previous
            for k, missing in enumerate(gap, start=1):
                departures[missing] = start + round((arrive - start) * k / steps)
        gap = []
        previous = position
        departures.append(int(leave))
        interpolated.append(False)
    return departures, interpolated


# ---------------------------------------------------------------------------------------------
# From the hub


def _feed_documents(hub: Hub, tenant: str, type_name: str, feed: str) -> list[dict[str, Any]]:
    """The keyValues documents of one type that an import of ``feed`` wrote."""
    ctx = hub.contexts.core()
    query = EntityQuery(
        types=(frozenset({ctx.expand(type_name)}),),
        id_pattern=re.compile(re.escape(id_prefix(type_name, feed)) + ".*"),
        limit=100_000_000,
    )
    entities, _ = hub.store.query(tenant, query)
    options = RenderOptions(key_values=True)
    return [render_entity(entity, ctx, options) for entity in entities]


def _relation(value: Any) -> str | None:
    if isinstance(value, list):
        return str(value[0]) if value else None
    return str(value) if value is not None else None


def build_timetable(hub: Hub, tenant: str, info: FeedInfo) -> Timetable:
    """Read one feed's entities from the hub and index them."""
    feed = info.name
    stops: list[Stop] = []
    parents: dict[str, str] = {}  # entity id -> stop_id
    for type_name in STOP_TYPES:
        for doc in _feed_documents(hub, tenant, type_name, feed):
            stop_id = gtfs_id(doc["id"], type_name, feed)
            parents[doc["id"]] = stop_id
            point = (doc.get("location") or {}).get("coordinates") or [None, None]
            stops.append(
                Stop(
                    stop_id=stop_id,
                    entity_id=doc["id"],
                    name=doc.get("name"),
                    lon=point[0],
                    lat=point[1],
                    parent=_relation(doc.get("hasParentStation")),
                    station=type_name == "GtfsStation",
                )
            )
    stops = [
        Stop(s.stop_id, s.entity_id, s.name, s.lon, s.lat, parents.get(s.parent or ""), s.station)
        for s in stops
    ]
    routes: list[Route] = []
    route_index: dict[str, int] = {}
    for doc in _feed_documents(hub, tenant, "GtfsRoute", feed):
        route_index[doc["id"]] = len(routes)
        routes.append(
            Route(
                route_id=gtfs_id(doc["id"], "GtfsRoute", feed),
                short_name=doc.get("shortName"),
                long_name=doc.get("name"),
                route_type=doc.get("routeType"),
                color=doc.get("routeColor"),
            )
        )
    calendar = _calendar(hub, tenant, feed)
    service_index = {entity_id("GtfsService", feed, s): i for i, s in enumerate(calendar.services)}
    trips: list[dict[str, Any]] = []
    for doc in _feed_documents(hub, tenant, "GtfsTrip", feed):
        route = route_index.get(_relation(doc.get("hasRoute")) or "")
        service = service_index.get(_relation(doc.get("hasService")) or "")
        if route is None or service is None:
            continue  # written by hand, or half of an import: not a trip of this feed
        trips.append(
            {
                "trip_id": gtfs_id(doc["id"], "GtfsTrip", feed),
                "route": route,
                "service": service,
                "headsign": doc.get("headSign"),
                "direction": doc.get("direction"),
                "stop_times": doc.get("stopTimes") or [],
            }
        )
    return Timetable(info, stops, routes, calendar, trips)


def _calendar(hub: Hub, tenant: str, feed: str) -> Calendar:
    services = [
        gtfs_id(doc["id"], "GtfsService", feed)
        for doc in _feed_documents(hub, tenant, "GtfsService", feed)
    ]
    index = {entity_id("GtfsService", feed, s): i for i, s in enumerate(services)}
    calendar = Calendar(services)
    weekdays = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
    for doc in _feed_documents(hub, tenant, "GtfsCalendarRule", feed):
        service = index.get(_relation(doc.get("hasService")) or "")
        if service is None:
            continue
        calendar.weekdays[service] = tuple(bool(doc.get(day)) for day in weekdays)
        calendar.spans[service] = (
            date.fromisoformat(str(doc["startDate"])),
            date.fromisoformat(str(doc["endDate"])),
        )
    for doc in _feed_documents(hub, tenant, "GtfsCalendarDateRule", feed):
        service = index.get(_relation(doc.get("hasService")) or "")
        if service is None:
            continue
        day = date.fromisoformat(str(doc["appliesOn"]))
        calendar.exceptions.setdefault(day, {})[service] = str(doc.get("exceptionType")) == "1"
    return calendar


def feeds(hub: Hub, tenant: str = "") -> list[FeedInfo]:
    """The GTFS feeds imported into the hub (for a tenant), by name."""
    ctx = hub.contexts.core()
    query = EntityQuery(types=(frozenset({ctx.expand(FEED_TYPE)}),), limit=10_000)
    entities, _ = hub.store.query(tenant, query)
    options = RenderOptions(key_values=True)
    found = [FeedInfo.from_document(render_entity(e, ctx, options)) for e in entities]
    return sorted(found, key=lambda f: f.name)


class Transit:
    """The timetables of a hub's feeds, each rebuilt when an import changes its feed."""

    def __init__(self, hub: Hub) -> None:
        self.hub = hub
        self._timetables: dict[tuple[str, str], Timetable] = {}
        self._lock = threading.Lock()

    def feeds(self, tenant: str = "") -> list[FeedInfo]:
        return feeds(self.hub, tenant)

    def feed(self, name: str | None, tenant: str = "") -> FeedInfo:
        """A feed by name; without a name, the only feed there is."""
        if name is not None:
            entity = self.hub.store.get(tenant, feed_entity_id(name))
            if entity is None:
                raise ResourceNotFound(f"no GTFS feed {name!r} has been imported")
            ctx = self.hub.contexts.core()
            return FeedInfo.from_document(
                render_entity(entity, ctx, RenderOptions(key_values=True))
            )
        known = self.feeds(tenant)
        if not known:
            raise ResourceNotFound("no GTFS feed has been imported (cetate ingest gtfs PATH)")
        if len(known) > 1:
            names = ", ".join(f.name for f in known)
            raise BadRequestData(f"there are several feeds ({names}): say which with feed=NAME")
        return known[0]

    def timetable(self, name: str | None = None, tenant: str = "") -> Timetable:
        """The feed's timetable, rebuilt first if the feed changed since it was built."""
        info = self.feed(name, tenant)
        key = (tenant, info.name)
        with self._lock:
            current = self._timetables.get(key)
            if current is None or current.feed.revision != info.revision:
                current = build_timetable(self.hub, tenant, info)
                self._timetables[key] = current
            return current

    def departures(
        self,
        stop_id: str,
        day: date | None = None,
        after_s: int | None = None,
        limit: int = 10,
        feed: str | None = None,
        tenant: str = "",
    ) -> DepartureBoard:
        """Departures from a stop; ``day`` and ``after_s`` default to now in the feed's zone
        (a day other than today starts at midnight)."""
        timetable = self.timetable(feed, tenant)
        today, now_s = timetable.today()
        day = day or today
        if after_s is None:
            after_s = now_s if day == today else 0
        found = timetable.departures(stop_id, day, after_s, limit)
        return DepartureBoard(timetable.feed, timetable.stop(stop_id), day, after_s, found)

    def trip_stop_times(self, trip_id: str, feed: str | None = None, tenant: str = "") -> TripTimes:
        return self.timetable(feed, tenant).trip(trip_id)


# ---------------------------------------------------------------------------------------------
# Parsing what callers send


def parse_day(text: str) -> date:
    """``YYYY-MM-DD`` (or GTFS ``YYYYMMDD``)."""
    try:
        if len(text) == 8 and text.isdigit():
            return date(int(text[:4]), int(text[4:6]), int(text[6:]))
        return date.fromisoformat(text)
    except ValueError:
        raise BadRequestData(f"date must be YYYY-MM-DD, got {text!r}") from None


def parse_clock(text: str) -> int:
    """``HH:MM`` or ``HH:MM:SS`` (past 24:00 too, as in GTFS) in seconds."""
    candidate = text + ":00" if text.count(":") == 1 else text
    try:
        seconds = parse_gtfs_time(candidate)
    except ValueError:
        raise BadRequestData(f"after must be HH:MM or HH:MM:SS, got {text!r}") from None
    if seconds >= 2 * DAY_S:
        raise BadRequestData(f"after must be before 48:00, got {text!r}")
    return seconds


def clock(seconds: int | None) -> str | None:
    return None if seconds is None else format_gtfs_time(int(seconds))
