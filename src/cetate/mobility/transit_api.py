"""``/transit``: the GTFS feeds imported into the hub, departures at a stop, a trip's stop times.

Ids in paths are the feed's own GTFS ids (``stop_id``, ``trip_id``); ``feed`` names the import
and may be left out when the hub holds one feed. Dates and times are the feed's local ones (its
agency time zone); each departure also carries its moment as an ISO 8601 time with offset.
"""

from __future__ import annotations

import threading
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, Field

from cetate.hub.http import tenant_of
from cetate.mobility.transit import (
    Departure,
    Route,
    Transit,
    clock,
    parse_clock,
    parse_day,
)

router = APIRouter()
_lock = threading.Lock()

FeedQuery = Annotated[
    str | None,
    Query(description="the feed's name given at import; optional when the hub holds one feed"),
]


class FeedOut(BaseModel):
    name: str = Field(examples=["minsk"])
    revision: str = Field(description="changes whenever an import changes the feed")
    timezone: str = Field(examples=["Europe/Warsaw"])
    version: str | None = None
    publisher: str | None = None
    startDate: str | None = Field(default=None, examples=["2024-12-15"])
    endDate: str | None = Field(default=None, examples=["2026-06-26"])
    importedAt: str | None = None
    counts: dict[str, int] = Field(default_factory=dict, description="entities per type")


class RouteOut(BaseModel):
    routeId: str = Field(examples=["1"])
    shortName: str | None = Field(default=None, examples=["M1"])
    longName: str | None = None
    routeType: str | None = Field(default=None, examples=["3"])
    color: str | None = Field(default=None, examples=["CD1719"])


class DepartureOut(BaseModel):
    tripId: str = Field(examples=["1_M1_07:00"])
    route: RouteOut
    headsign: str | None = None
    stopId: str = Field(description="where it leaves from (a platform, for a station)")
    stopSequence: int
    serviceDate: str = Field(examples=["2025-11-03"], description="the trip's service day")
    departureTime: str = Field(
        examples=["07:04:00"], description="GTFS time of the service day (may pass 24:00)"
    )
    departure: str = Field(examples=["2025-11-03T07:04:00+01:00"], description="ISO 8601, local")
    interpolated: bool = Field(description="the feed gives no time here; interpolated")


class StopOut(BaseModel):
    stopId: str
    name: str | None = None
    station: bool = False
    location: list[float] | None = Field(default=None, description="[lon, lat]")


class DeparturesOut(BaseModel):
    feed: str
    stop: StopOut
    date: str = Field(examples=["2025-11-03"])
    after: str = Field(examples=["07:00:00"])
    departures: list[DepartureOut]


class StopTimeOut(BaseModel):
    stopSequence: int
    stopId: str
    stopName: str | None = None
    arrivalTime: str | None = Field(default=None, examples=["07:04:00"])
    departureTime: str | None = Field(default=None, examples=["07:04:00"])
    stopHeadsign: str | None = None
    pickupType: int | None = None
    dropOffType: int | None = None
    timepoint: int | None = None
    distanceTravelled: float | None = None


class TripStopTimesOut(BaseModel):
    feed: str
    tripId: str
    route: RouteOut
    serviceId: str
    headsign: str | None = None
    direction: int | None = None
    stopTimes: list[StopTimeOut]


def the_transit(request: Request) -> Transit:
    """The app's timetables, made on first use over the app's hub."""
    transit: Transit | None = getattr(request.app.state, "transit", None)
    if transit is None:
        with _lock:
            transit = getattr(request.app.state, "transit", None)
            if transit is None:
                transit = Transit(request.app.state.hub)
                request.app.state.transit = transit
    return transit


def route_out(route: Route) -> RouteOut:
    return RouteOut(
        routeId=route.route_id,
        shortName=route.short_name,
        longName=route.long_name,
        routeType=route.route_type,
        color=route.color,
    )


def departure_out(departure: Departure, zone: ZoneInfo) -> DepartureOut:
    return DepartureOut(
        tripId=departure.trip_id,
        route=route_out(departure.route),
        headsign=departure.headsign,
        stopId=departure.stop_id,
        stopSequence=departure.stop_sequence,
        serviceDate=departure.service_date.isoformat(),
        departureTime=clock(departure.departure_s) or "",
        departure=departure.moment(zone).isoformat(),
        interpolated=departure.interpolated,
    )


@router.get("/feeds", summary="The GTFS feeds imported into the hub")
def list_feeds(request: Request) -> list[FeedOut]:
    found = the_transit(request).feeds(tenant_of(request))
    return [FeedOut(**feed.as_dict()) for feed in found]


@router.get(
    "/stops/{stop_id:path}/departures",
    summary="The next departures from a stop (or from every stop of a station)",
)
def stop_departures(
    request: Request,
    stop_id: str,
    feed: FeedQuery = None,
    date: Annotated[
        str | None, Query(description="service date YYYY-MM-DD; default today (feed's zone)")
    ] = None,
    after: Annotated[
        str | None,
        Query(description="HH:MM[:SS]; default now for today, else 00:00", examples=["07:00"]),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 10,
) -> DeparturesOut:
    transit = the_transit(request)
    day = parse_day(date) if date is not None else None
    after_s = parse_clock(after) if after is not None else None
    board = transit.departures(stop_id, day, after_s, limit, feed, tenant_of(request))
    stop = board.stop
    location = [stop.lon, stop.lat] if stop.lon is not None and stop.lat is not None else None
    zone = board.zone
    return DeparturesOut(
        feed=board.feed.name,
        stop=StopOut(stopId=stop.stop_id, name=stop.name, station=stop.station, location=location),
        date=board.day.isoformat(),
        after=clock(board.after_s) or "",
        departures=[departure_out(d, zone) for d in board.departures],
    )


@router.get(
    "/trips/{trip_id:path}/stop_times",
    summary="A trip's stop times, in order",
    response_model_exclude_none=True,
)
def trip_stop_times(request: Request, trip_id: str, feed: FeedQuery = None) -> TripStopTimesOut:
    trip = the_transit(request).trip_stop_times(trip_id, feed, tenant_of(request))
    stop_times = []
    for stop_time in trip.stop_times:
        details: dict[str, Any] = {
            key: stop_time.details.get(key)
            for key in (
                "stopHeadsign",
                "pickupType",
                "dropOffType",
                "timepoint",
                "distanceTravelled",
            )
        }
        stop_times.append(
            StopTimeOut(
                stopSequence=stop_time.stop_sequence,
                stopId=stop_time.stop_id,
                stopName=stop_time.stop_name,
                arrivalTime=clock(stop_time.arrival_s),
                departureTime=clock(stop_time.departure_s),
                **details,
            )
        )
    return TripStopTimesOut(
        feed=trip.feed,
        tripId=trip.trip_id,
        route=route_out(trip.route),
        serviceId=trip.service_id,
        headsign=trip.headsign,
        direction=trip.direction,
        stopTimes=stop_times,
    )
