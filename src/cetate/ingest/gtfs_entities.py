"""A checked GTFS feed as NGSI-LD documents (FIWARE Smart Data Models, dataModel.UrbanMobility):
the entity ids (``check_feed_name``, ``escape_id``, ``entity_id``, ``id_prefix``, ``gtfs_id``,
``feed_entity_id``), the entity types a feed is written as (``TYPES``, ``FEED_TYPE``) and the
builders of each type's documents, trips with their ``stopTimes`` in batches. The documents are
plain dicts; ``cetate.ingest.gtfs`` parses and writes them into the hub (see its docstring for the
ids and the shape of ``stopTimes``).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote, unquote

import numpy as np

from cetate.errors import BadRequestData
from cetate.ingest.gtfs_read import WEEKDAYS, GtfsFeed, Row, StopTimes

FEED_TYPE = "cetate:GtfsFeed"
TYPES = (
    "GtfsAgency",
    "GtfsStop",
    "GtfsStation",
    "GtfsAccessPoint",
    "GtfsRoute",
    "GtfsService",
    "GtfsCalendarRule",
    "GtfsCalendarDateRule",
    "GtfsShape",
    "GtfsTrip",
)
# Stop times per write: a batch is one transaction; trips are cut so none is split.
BATCH_ENTITIES = 1000
BATCH_STOP_TIMES = 40_000
_FEED_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")
_ID_SAFE = "-._~!$*+,=:@"  # URN characters kept as they are; everything else is %-escaped
_PLAIN_ID = re.compile(r"[A-Za-z0-9\-._~!$*+,=:@]*")


# ---------------------------------------------------------------------------------------------
# Ids


def check_feed_name(name: str) -> str:
    """A feed's name goes into every entity id: letters, digits, ``-`` and ``_``."""
    if not _FEED_NAME.fullmatch(name):
        raise BadRequestData(
            f"feed name {name!r} must be 1-64 letters, digits, '-' or '_' (it goes into ids)"
        )
    return name


def escape_id(gtfs_id: str) -> str:
    """A GTFS id as URN characters (reversible with ``urllib.parse.unquote``)."""
    if _PLAIN_ID.fullmatch(gtfs_id):
        return gtfs_id  # the usual case, and much faster than quote
    return quote(gtfs_id, safe=_ID_SAFE)


def entity_id(type_name: str, feed: str, *parts: str) -> str:
    return f"urn:ngsi-ld:{type_name}:{feed}:" + ":".join(escape_id(p) for p in parts)


def id_prefix(type_name: str, feed: str) -> str:
    return f"urn:ngsi-ld:{type_name}:{feed}:"


def gtfs_id(urn: str, type_name: str, feed: str) -> str:
    """The GTFS id inside an entity id made by ``entity_id``."""
    return unquote(urn[len(id_prefix(type_name, feed)) :])


def feed_entity_id(feed: str) -> str:
    return f"urn:ngsi-ld:GtfsFeed:{feed}"


# ---------------------------------------------------------------------------------------------
# Entities


def as_property(value: Any) -> dict[str, Any]:
    return {"type": "Property", "value": value}


def as_relationship(target: str | list[str]) -> dict[str, Any]:
    return {"type": "Relationship", "object": target}


def iso_date(gtfs_date: str) -> str:
    return f"{gtfs_date[:4]}-{gtfs_date[4:6]}-{gtfs_date[6:]}"


def put_property(doc: dict[str, Any], name: str, value: Any) -> None:
    """A Property only when the feed gives a value."""
    if value is not None and value != "":
        doc[name] = as_property(value)


class Documents:
    """The feed as normalized NGSI-LD documents, type by type (trips in batches)."""

    def __init__(self, feed: GtfsFeed, name: str) -> None:
        self.feed = feed
        self.name = name
        self.agency_of_route = {
            r["route_id"]: self.agency_id(r.get("agency_id", "")) for r in feed.routes
        }

    def id(self, type_name: str, *parts: str) -> str:
        return entity_id(type_name, self.name, *parts)

    def agency_id(self, agency_id: str) -> str:
        return self.id("GtfsAgency", self.feed.agency_key(agency_id))

    def stop_entity_id(self, stop: Row) -> str:
        return self.id(_stop_type(stop["location_type"]), stop["stop_id"])

    def agencies(self) -> list[dict[str, Any]]:
        docs = []
        for row in self.feed.agencies:
            doc: dict[str, Any] = {
                "id": self.agency_id(row.get("agency_id", "")),
                "type": "GtfsAgency",
            }
            put_property(doc, "agencyName", row["agency_name"])
            put_property(doc, "page", row["agency_url"])
            put_property(doc, "timezone", row["agency_timezone"])
            put_property(doc, "language", row.get("agency_lang"))
            put_property(doc, "phone", row.get("agency_phone"))
            put_property(doc, "email", row.get("agency_email"))
            put_property(doc, "fareUrl", row.get("agency_fare_url"))
            docs.append(doc)
        return docs

    def stops(self) -> list[dict[str, Any]]:
        feed = self.feed
        st = feed.stop_times
        # Which agencies serve each stop: those of the routes of the trips calling there.
        agencies = list(dict.fromkeys(self.agency_of_route.values()))
        number_of = {agency: i for i, agency in enumerate(agencies)}
        trip_agency = np.asarray(
            [number_of[self.agency_of_route[t["route_id"]]] for t in feed.trips] or [0],
            dtype=np.int64,
        )
        width = max(1, len(agencies))
        operators: dict[int, list[str]] = {}
        for pair in np.unique(st.stop * width + trip_agency[st.trip]).tolist():
            stop, agency = divmod(pair, width)
            operators.setdefault(stop, []).append(agencies[agency])
        children: dict[str, list[str]] = {}
        for row in feed.stops:
            parent = row.get("parent_station", "")
            if parent and row["location_type"] in ("0", "2"):
                children.setdefault(parent, []).append(self.stop_entity_id(row))
        index = {row["stop_id"]: row for row in feed.stops}
        docs = []
        for number, row in enumerate(feed.stops):
            kind = row["location_type"]
            doc: dict[str, Any] = {"id": self.stop_entity_id(row), "type": _stop_type(kind)}
            put_property(doc, "name", row.get("stop_name"))
            put_property(doc, "code", row.get("stop_code"))
            put_property(doc, "description", row.get("stop_desc"))
            put_property(doc, "zoneCode", row.get("zone_id"))
            put_property(doc, "page", row.get("stop_url"))
            put_property(doc, "wheelChairAccessible", row.get("wheelchair_boarding"))
            put_property(doc, "platformCode", row.get("platform_code"))
            put_property(doc, "timezone", row.get("stop_timezone"))
            if kind not in ("0", "1", "2"):
                doc["locationType"] = as_property(int(kind))
            if row.get("stop_lat") and row.get("stop_lon"):
                point = [float(row["stop_lon"]), float(row["stop_lat"])]
                doc["location"] = {
                    "type": "GeoProperty",
                    "value": {"type": "Point", "coordinates": point},
                }
            parent = row.get("parent_station", "")
            if parent:
                doc["hasParentStation"] = as_relationship(self.stop_entity_id(index[parent]))
            if kind == "1" and row["stop_id"] in children:
                doc["hasStop"] = as_relationship(children[row["stop_id"]])
            if number in operators:
                doc["operatedBy"] = as_relationship(operators[number])
            docs.append(doc)
        return docs

    def routes(self) -> list[dict[str, Any]]:
        docs = []
        for row in self.feed.routes:
            doc: dict[str, Any] = {"id": self.id("GtfsRoute", row["route_id"]), "type": "GtfsRoute"}
            put_property(doc, "shortName", row.get("route_short_name"))
            put_property(doc, "name", row.get("route_long_name"))
            put_property(doc, "description", row.get("route_desc"))
            put_property(doc, "routeType", row["route_type"])
            put_property(doc, "page", row.get("route_url"))
            put_property(doc, "routeColor", row.get("route_color"))
            put_property(doc, "routeTextColor", row.get("route_text_color"))
            if row.get("route_sort_order"):
                doc["routeSortOrder"] = as_property(int(row["route_sort_order"]))
            doc["operatedBy"] = as_relationship(self.agency_of_route[row["route_id"]])
            docs.append(doc)
        return docs

    def services(self) -> list[dict[str, Any]]:
        feed = self.feed
        operators: dict[str, list[str]] = {}
        for trip in feed.trips:
            agency = self.agency_of_route[trip["route_id"]]
            served = operators.setdefault(trip["service_id"], [])
            if agency not in served:
                served.append(agency)
        every = [self.agency_id(a.get("agency_id", "")) for a in feed.agencies]
        ids = dict.fromkeys(
            [r["service_id"] for r in feed.calendar]
            + [r["service_id"] for r in feed.calendar_dates]
        )
        docs = []
        for service_id in ids:
            served = operators.get(service_id) or every
            docs.append(
                {
                    "id": self.id("GtfsService", service_id),
                    "type": "GtfsService",
                    "name": as_property(service_id),
                    "operatedBy": as_relationship(served[0] if len(served) == 1 else served),
                }
            )
        return docs

    def calendar_rules(self) -> list[dict[str, Any]]:
        docs = []
        for row in self.feed.calendar:
            doc: dict[str, Any] = {
                "id": self.id("GtfsCalendarRule", row["service_id"]),
                "type": "GtfsCalendarRule",
                "name": as_property(row["service_id"]),
                "hasService": as_relationship(self.id("GtfsService", row["service_id"])),
            }
            for day in WEEKDAYS:
                doc[day] = as_property(row[day] == "1")
            doc["startDate"] = as_property(iso_date(row["start_date"]))
            doc["endDate"] = as_property(iso_date(row["end_date"]))
            docs.append(doc)
        return docs

    def calendar_date_rules(self) -> list[dict[str, Any]]:
        return [
            {
                "id": self.id("GtfsCalendarDateRule", row["service_id"], row["date"]),
                "type": "GtfsCalendarDateRule",
                "hasService": as_relationship(self.id("GtfsService", row["service_id"])),
                "appliesOn": as_property(iso_date(row["date"])),
                "exceptionType": as_property(row["exception_type"]),
            }
            for row in self.feed.calendar_dates
        ]

    def shapes(self) -> list[dict[str, Any]]:
        shapes = self.feed.shapes
        docs = []
        for number, shape_id in enumerate(shapes.ids):
            a, b = int(shapes.start[number]), int(shapes.start[number + 1])
            coordinates = np.column_stack([shapes.lon[a:b], shapes.lat[a:b]]).tolist()
            if len(coordinates) == 1:
                coordinates.append(coordinates[0])  # a LineString needs two positions
            doc: dict[str, Any] = {
                "id": self.id("GtfsShape", shape_id),
                "type": "GtfsShape",
                "name": as_property(shape_id),
                "location": {
                    "type": "GeoProperty",
                    "value": {"type": "LineString", "coordinates": coordinates},
                },
            }
            distance = shapes.distance[a:b]
            if len(distance) and not np.isnan(distance).any():
                doc["distanceTravelled"] = as_property(distance.tolist())
            docs.append(doc)
        return docs

    def trip_batches(self) -> Iterator[list[dict[str, Any]]]:
        """Trips with their stop times, in batches of about ``BATCH_STOP_TIMES`` stop times."""
        feed = self.feed
        trips = feed.trips
        start = feed.stop_times.trip_start
        first = 0
        while first < len(trips):
            last = first + 1
            while (
                last < len(trips)
                and last - first < BATCH_ENTITIES
                and start[last + 1] - start[first] <= BATCH_STOP_TIMES
            ):
                last += 1
            yield self.trips(first, last)
            first = last

    def trips(self, first: int, last: int) -> list[dict[str, Any]]:
        feed = self.feed
        trips = feed.trips
        st = feed.stop_times
        a, b = int(st.trip_start[first]), int(st.trip_start[last])
        seq = st.sequence[a:b].tolist()
        stop_ids = [row["stop_id"] for row in feed.stops]
        stops = [stop_ids[s] for s in st.stop[a:b].tolist()]
        arrivals = [None if t < 0 else t for t in st.arrival[a:b].tolist()]
        departures = [None if t < 0 else t for t in st.departure[a:b].tolist()]
        extras = _extras(st, a, b)
        docs = []
        for number in range(first, last):
            row = trips[number]
            lo, hi = int(st.trip_start[number]) - a, int(st.trip_start[number + 1]) - a
            stop_times: list[list[Any]] = []
            for k in range(lo, hi):
                item: list[Any] = [seq[k], stops[k], arrivals[k], departures[k]]
                if extras is not None and extras[k]:
                    item.append(extras[k])
                stop_times.append(item)
            doc: dict[str, Any] = {
                "id": self.id("GtfsTrip", row["trip_id"]),
                "type": "GtfsTrip",
                "hasRoute": as_relationship(self.id("GtfsRoute", row["route_id"])),
                "hasService": as_relationship(self.id("GtfsService", row["service_id"])),
            }
            if row.get("shape_id"):
                doc["hasShape"] = as_relationship(self.id("GtfsShape", row["shape_id"]))
            put_property(doc, "headSign", row.get("trip_headsign"))
            put_property(doc, "shortName", row.get("trip_short_name"))
            put_property(doc, "block", row.get("block_id"))
            for column, name in (
                ("direction_id", "direction"),
                ("wheelchair_accessible", "wheelChairAccessible"),
                ("bikes_allowed", "bikesAllowed"),
            ):
                if row.get(column):
                    doc[name] = as_property(int(row[column]))
            doc["stopTimes"] = as_property(stop_times)
            docs.append(doc)
        return docs


def _extras(st: StopTimes, a: int, b: int) -> list[dict[str, Any] | None] | None:
    """The fifth member of each stop time row in ``a:b`` (None where there is nothing)."""
    columns: list[tuple[str, list[Any]]] = []
    if st.headsign is not None:
        columns.append(("stopHeadsign", [h or None for h in st.headsign[a:b]]))
    for name, column in (
        ("pickupType", st.pickup_type),
        ("dropOffType", st.drop_off_type),
        ("timepoint", st.timepoint),
    ):
        if column is not None:
            columns.append((name, [None if v < 0 else v for v in column[a:b].tolist()]))
    if st.distance is not None:
        columns.append(
            ("distanceTravelled", [None if math.isnan(v) else v for v in st.distance[a:b].tolist()])
        )
    if not columns:
        return None
    extras: list[dict[str, Any] | None] = [None] * (b - a)
    for name, values in columns:
        for k, value in enumerate(values):
            if value is not None:
                extra = extras[k]
                if extra is None:
                    extras[k] = {name: value}
                else:
                    extra[name] = value
    return extras


def _stop_type(location_type: str) -> str:
    return {"1": "GtfsStation", "2": "GtfsAccessPoint"}.get(location_type, "GtfsStop")
