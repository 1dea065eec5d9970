"""Goods on passenger lines: parcels ride in a cargo box on scheduled buses between a town and
its outskirts or villages; a courier on a cargo bike does the first and the last mile. Compared
with a dedicated van doing the same parcels.

1. **The day's schedule** (``schedule_for``): the trips a GTFS feed runs on the service day (its
   calendar and calendar dates; a trip of the day before running past midnight is not used),
   each stop time marked where a parcel may be loaded or unloaded:
   a stop that takes parcels (all, or the listed pickup points and depots at stops), with a time
   in the feed (a handover needs one; the bus does not wait), and the feed's pickup or drop-off
   allowed there.
2. **Reach**: from each parcel's origin and to its destination, the stops a courier reaches
   within ``max_courier_m``: on the City's bike network when a City is given and covers both
   points, else crow-fly distance times a circuity factor (each itinerary says which). A parcel
   for a pickup point waits in the locker of the stop nearest its recipient's home (or of the
   stop across the street), within ``max_pickup_walk_m``.
3. **Assignment** (``plan_transit_freight``): parcels in order of due time (ties by id), each
   on the best itinerary still open: a courier to a stop, a trip, at most ``max_transfers``
   change to another trip (after ``min_transfer_s``, at the same stop or one within
   ``transfer_walk_m``), a courier from the stop to the door. Best means the earliest
   delivery, a second of courier riding counting as ``courier_weight`` seconds of later
   delivery (10 by default, an assumption: the courier is the cost the scheme exists to save,
   so it rides one more minute only to deliver at least ten minutes earlier, not across town to
   catch a bus that leaves a little sooner). Every trip's load is kept per leg between
   consecutive stops: a parcel takes room only between its boarding and alighting stops, and no
   leg carries more than the box.
   This greedy rule is not optimal (an early parcel may take the last room a later one needed
   more), but with a few dozen parcels a day it rarely matters, it runs in well under a second,
   and each decision can be explained to a dispatcher in one sentence; a parcel without an
   itinerary says why.
4. **Emissions** (ISO 14083 treats the bus as running anyway): the parcels' share of each bus
   leg they ride, by mass (``"mass"``: the vehicle's emissions split by payload mass, a
   passenger counted as 100 kg with luggage) or by the extra fuel their mass takes
   (``"marginal"``); plus the courier's km at its factor in the emission table.
5. **Comparison** (``compare_with_van``): the same parcels as a van's round from the origin,
   planned with PyVRP: ``planner.plan`` on the City's streets when a City is given, otherwise on
   crow-fly x circuity distances at an average speed. Km, hours, cost and CO2e side by side.

Times are seconds after midnight of the service day (GTFS times, past 24:00 for late trips);
places WGS84 longitude/latitude. Everything here except ``schedule_for`` (which reads an
in-memory ``Timetable``) takes data and returns data.
"""

from __future__ import annotations

import bisect
import math
from collections import Counter, defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Literal

import numpy as np
import numpy.typing as npt
import pyvrp
from pyvrp.stop import MaxIterations, MaxRuntime, StoppingCriterion

from cetate.city.network import EARTH_RADIUS_M
from cetate.city.service import City
from cetate.errors import BadRequestData
from cetate.logistics.clock import format_clock
from cetate.logistics.emissions import DEFAULT_FACTORS, Factors, vehicle_km_factor
from cetate.logistics.model import (
    NOTHING,
    UNLIMITED,
    Order,
    Problem,
    Site,
    Size,
    Stop,
    Unassigned,
    VehicleKind,
    VehicleType,
    Window,
)
from cetate.logistics.planner import PlanOptions
from cetate.logistics.planner import plan as plan_routes
from cetate.logistics.screening import screen
from cetate.logistics.slots import day_slots
from cetate.logistics.solution import SolvedRoute, feasible_part, read_routes
from cetate.logistics.solver_model import ProfileMatrices, VehicleSlot, build_data
from cetate.logistics.travel import Places, ProfileKey, Travel, number_places
from cetate.logistics.validate import validate_problem
from cetate.mobility.transit import Timetable

Floats = npt.NDArray[np.float64]
DistanceMethod = Literal["network", "crow-fly"]
Allocation = Literal["mass", "marginal"]
Progress = Callable[[float, str], None]

NO_SERVICE = 1  # GTFS pickup_type / drop_off_type: none available at this stop
UNTIMED = -1


# -- inputs -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Parcel:
    """One consignment: from its origin (usually the town's consolidation centre) to its
    destination, leaving no earlier than ``ready_s``, delivered by ``due_s``."""

    id: str
    origin_lon: float
    origin_lat: float
    lon: float  # destination: the door, or the recipient's home for a pickup-point parcel
    lat: float
    size: Size
    ready_s: int
    due_s: int
    to_pickup_point: bool = False  # collected by the recipient at a stop with a locker


@dataclass(frozen=True)
class BusEmissions:
    """How much of a bus's emissions the parcels on board carry.

    ``"mass"`` (the default): ISO 14083:2023 allocates a vehicle's emissions among everything it
    carries by a common measure of the load, and mass is the one passengers and parcels share;
    a passenger counts as 100 kg with luggage, the convention IATA RP 1678 uses to split a
    passenger flight's fuel between passengers and belly freight (as the GLEC Framework does
    for belly freight), applied here to a bus by analogy. A parcel's share of a leg is its kg
    over the passengers' kg plus all the parcels' kg on that leg.

    ``"marginal"``: the bus runs anyway; the parcels cause only the fuel their mass adds,
    0.15 l of diesel per 100 km per 100 kg for a standard 12 m city bus (IFEU Heidelberg,
    Helms & Lambrecht, "Energy savings by light-weighting", 2003, tab. 5: 0.1-0.2 from MAN,
    VDV and INFRAS data, 0.15 used).

    The bus: 40 l of diesel per 100 km (the same IFEU study, a standard city bus from operators'
    data), at 3.19747 kg CO2e per litre well-to-wheel (UK DESNZ/Defra 2025 conversion factors,
    diesel (average biofuel blend): 2.57082 tank-to-wheel plus 0.62665 well-to-tank). The
    passengers on board are an assumption: 10 by default, a lightly used line; set the line's
    counted average when there is one.
    """

    allocation: Allocation = "mass"
    l_per_100km: float = 40.0
    marginal_l_per_100km_per_100kg: float = 0.15
    diesel_kg_co2e_per_l: float = 3.19747
    passengers: float = 10.0
    passenger_kg: float = 100.0

    @property
    def kg_co2e_per_km(self) -> float:
        return self.l_per_100km / 100.0 * self.diesel_kg_co2e_per_l


# A cargo box on a bus: a lockable box the size of a wheelchair bay's luggage rack or a
# coach's luggage hold section. No measured source; an assumption to replace with what the
# operator agrees to carry.
DEFAULT_BOX = Size(kg=80.0, m3=UNLIMITED, parcels=8.0)


@dataclass(frozen=True)
class FreightSettings:
    """The scheme's rules. Defaults marked as assumptions have no source: set your own."""

    day: date  # the service day: the trips its calendar runs
    capacity: Size = DEFAULT_BOX  # per trip, on every leg between consecutive stops
    stops: frozenset[str] | None = None  # stop ids that take and hand over parcels; None: all
    max_transfers: int = 1  # 0 or 1
    min_transfer_s: int = 5 * 60
    transfer_walk_m: float = 150.0  # a change of stop within this walk (crow-fly x circuity)
    courier_speed_kmh: float = 15.0  # a cargo bike in town, stops and junctions included
    handling_s: int = 120  # courier's time per parcel: loading, handing over (assumption)
    max_courier_m: float = 3000.0  # first and last mile, each
    max_pickup_walk_m: float = 800.0  # a pickup point this close to the recipient's home
    circuity: float = 1.3  # when there is no street network: see ``crow_fly_circuity_note``
    courier_weight: float = 10.0  # a courier second weighs as this many seconds of delivery
    courier_factor: str = "e_cargo_bike"  # its row in the emission table
    courier_cost_per_hour: float = 8.0  # as the e-cargo bikes of examples/logistics (assumption)
    courier_cost_per_km: float = 0.02
    fee_per_parcel: float = 0.0  # what the bus operator charges per parcel (unknown: 0)
    bus: BusEmissions = field(default_factory=BusEmissions)


def crow_fly_circuity_note() -> str:
    """Where the default circuity comes from (for reports and the docs)."""
    return (
        "network distance about 1.2 x the straight line between random points in a town "
        "(Newell 1980), 1.21-1.23 around transit stations (O'Sullivan 1996), higher for "
        "walking and cycling (Dill 2003); 1.3 for a courier keeping to bike-friendly streets"
    )


# -- the day's schedule -----------------------------------------------------------------------


@dataclass(frozen=True)
class ScheduledTrip:
    """A trip running on the service day; per stop time (position) the stop and times."""

    trip_id: str
    route: str  # the route's short name (M1), else its long name, else its id
    headsign: str | None
    stops: tuple[int, ...]  # index into Schedule.stop_ids
    arrival_s: tuple[int, ...]  # UNTIMED where the feed gives no time
    departure_s: tuple[int, ...]
    board: tuple[bool, ...]  # a parcel may be loaded here
    alight: tuple[bool, ...]  # a parcel may be unloaded here
    crow_m: tuple[float, ...]  # straight-line metres from the first stop, cumulated


@dataclass(frozen=True)
class Schedule:
    feed: str
    day: date
    stop_ids: tuple[str, ...]
    stop_names: tuple[str, ...]
    points: Floats  # (n, 2) lon, lat; NaN where the feed gives none
    handover: npt.NDArray[np.bool_]  # stops that take and hand over parcels
    trips: tuple[ScheduledTrip, ...]  # by trip id


def schedule_for(timetable: Timetable, settings: FreightSettings) -> Schedule:
    """The trips of ``settings.day`` and where they can take or leave parcels."""
    stops = timetable.stops
    stop_ids = tuple(s.stop_id for s in stops)
    points = np.array(
        [(math.nan, math.nan) if s.lon is None or s.lat is None else (s.lon, s.lat) for s in stops],
        dtype=np.float64,
    ).reshape(-1, 2)
    handover = _handover_stops(timetable, settings.stops) & np.isfinite(points[:, 0])
    running = timetable.calendar.running(settings.day)
    trips: list[ScheduledTrip] = []
    for number, trip_id in enumerate(timetable.trip_ids):
        if not running[int(timetable.trip_service[number])]:
            continue
        times = timetable.trip(trip_id)
        rows = [
            (timetable.stop_index[st.stop_id], st)
            for st in times.stop_times
            if st.stop_id in timetable.stop_index
        ]
        if len(rows) < 2:
            continue
        last = len(rows) - 1
        arrivals: list[int] = []
        departures: list[int] = []
        board: list[bool] = []
        alight: list[bool] = []
        for position, (stop, st) in enumerate(rows):
            arrive = st.arrival_s if st.arrival_s is not None else st.departure_s
            leave = st.departure_s if st.departure_s is not None else st.arrival_s
            timed = arrive is not None and leave is not None
            arrivals.append(int(arrive) if arrive is not None else UNTIMED)
            departures.append(int(leave) if leave is not None else UNTIMED)
            usable = timed and bool(handover[stop])
            board.append(usable and position < last and st.details.get("pickupType") != NO_SERVICE)
            alight.append(usable and position > 0 and st.details.get("dropOffType") != NO_SERVICE)
        route = times.route
        crow = np.concatenate(([0.0], _leg_crow_m(points[[stop for stop, _ in rows]])))
        trips.append(
            ScheduledTrip(
                trip_id=trip_id,
                route=route.short_name or route.long_name or route.route_id,
                headsign=times.headsign,
                stops=tuple(stop for stop, _ in rows),
                arrival_s=tuple(arrivals),
                departure_s=tuple(departures),
                board=tuple(board),
                alight=tuple(alight),
                crow_m=tuple(float(m) for m in np.cumsum(crow)),
            )
        )
    trips.sort(key=lambda trip: trip.trip_id)  # the same plan whatever order the store reads in
    return Schedule(
        feed=timetable.feed.name,
        day=settings.day,
        stop_ids=stop_ids,
        stop_names=tuple(s.name or s.stop_id for s in stops),
        points=points,
        handover=handover,
        trips=tuple(trips),
    )


def _handover_stops(timetable: Timetable, wanted: frozenset[str] | None) -> npt.NDArray[np.bool_]:
    """All stops, or the listed ones (a listed station: its platforms too)."""
    flags = np.zeros(len(timetable.stops), dtype=np.bool_)
    if wanted is None:
        flags[:] = True
        return flags
    unknown = sorted(s for s in wanted if s not in timetable.stop_index)
    if unknown:
        more = f" (and {len(unknown) - 5} more)" if len(unknown) > 5 else ""
        raise BadRequestData(
            f"feed {timetable.feed.name!r} has no stop {', '.join(unknown[:5])}{more}"
        )
    for stop_id in wanted:
        flags[timetable.stop_index[stop_id]] = True
        for child in timetable.children.get(stop_id, []):
            flags[child] = True
    return flags


def _leg_crow_m(points: Floats) -> Floats:
    """Straight-line metres between consecutive points (0 where a point has no position)."""
    if len(points) < 2:
        return np.zeros(0)
    metres = _haversine_m(points[:-1, 0], points[:-1, 1], points[1:, 0], points[1:, 1])
    return np.where(np.isfinite(metres), metres, 0.0)


def _haversine_m(lon1: Floats, lat1: Floats, lon2: Floats, lat2: Floats) -> Floats:
    lon1, lat1, lon2, lat2 = (
        np.radians(np.asarray(a, dtype=np.float64)) for a in (lon1, lat1, lon2, lat2)
    )
    a = (
        np.sin((lat2 - lat1) / 2) ** 2
        + np.cos(lat1) * np.cos(lat2) * np.sin((lon2 - lon1) / 2) ** 2
    )
    return np.asarray(2 * EARTH_RADIUS_M * np.arcsin(np.sqrt(np.minimum(a, 1.0))))


def crow_m(lon1: float, lat1: float, lon2: float, lat2: float) -> float:
    """Straight-line metres between two points."""
    return float(
        _haversine_m(np.array([lon1]), np.array([lat1]), np.array([lon2]), np.array([lat2]))[0]
    )


# -- reach: the courier's first and last mile -------------------------------------------------


@dataclass(frozen=True)
class Reach:
    """The stops within reach of a parcel's origin and of its destination, in metres."""

    method: DistanceMethod
    origin_m: dict[int, float]  # stop -> metres from the origin to the stop
    destination_m: dict[int, float]  # stop -> metres from the stop to the destination


def parcel_reach(
    parcels: Sequence[Parcel], schedule: Schedule, settings: FreightSettings, city: City | None
) -> dict[str, Reach]:
    """For each parcel, the handover stops within reach of each end. On the City's bike network
    when it covers both the parcel's points; otherwise crow-fly x circuity."""
    stops = np.flatnonzero(schedule.handover)
    ends = {
        p.id: ((p.origin_lon, p.origin_lat), (p.lon, p.lat), _end_limit_m(p, settings))
        for p in parcels
    }
    covered = _covered_points(
        city, [pt for origin, dest, _ in ends.values() for pt in (origin, dest)]
    )
    network_parcels = [p for p in parcels if ends[p.id][0] in covered and ends[p.id][1] in covered]
    network = _network_metres(city, network_parcels, schedule, stops, settings)
    found: dict[str, Reach] = {}
    for parcel in parcels:
        origin, destination, end_limit = ends[parcel.id]
        if parcel.id in network:
            method: DistanceMethod = "network"
            origin_m, destination_m = network[parcel.id]
        else:
            method = "crow-fly"
            origin_m = _crow_reach(
                origin, schedule, stops, settings.max_courier_m, settings.circuity
            )
            destination_m = _crow_reach(destination, schedule, stops, end_limit, settings.circuity)
        if parcel.to_pickup_point:
            destination_m = _pickup_point(destination_m, schedule, settings)
        found[parcel.id] = Reach(method, origin_m, destination_m)
    return found


def _pickup_point(
    destination_m: dict[int, float], schedule: Schedule, settings: FreightSettings
) -> dict[int, float]:
    """A recipient collects at the stop nearest home, or at a stop across the street from it
    (within ``transfer_walk_m``: buses in the other direction stop there), not at whichever
    stop along the line the bus reaches first."""
    if not destination_m:
        return {}
    nearest = min(destination_m, key=lambda s: (destination_m[s], schedule.stop_ids[s]))
    lon, lat = schedule.points[nearest]
    return {
        s: m
        for s, m in destination_m.items()
        if crow_m(lon, lat, *schedule.points[s]) * settings.circuity <= settings.transfer_walk_m
    }


def _end_limit_m(parcel: Parcel, settings: FreightSettings) -> float:
    return settings.max_pickup_walk_m if parcel.to_pickup_point else settings.max_courier_m


def _crow_reach(
    point: tuple[float, float],
    schedule: Schedule,
    stops: npt.NDArray[np.intp],
    limit_m: float,
    circuity: float,
) -> dict[int, float]:
    pts = schedule.points[stops]
    metres = (
        _haversine_m(
            np.full(len(stops), point[0]), np.full(len(stops), point[1]), pts[:, 0], pts[:, 1]
        )
        * circuity
    )
    return {int(s): float(m) for s, m in zip(stops, metres, strict=True) if m <= limit_m}


def _covered_points(
    city: City | None, points: Sequence[tuple[float, float]]
) -> set[tuple[float, float]]:
    """The points the City's bike network reaches (none without a City or a bike network)."""
    if city is None or "bike" not in city.routers:
        return set()
    covered: set[tuple[float, float]] = set()
    for point in dict.fromkeys(points):
        try:
            city.snap(np.array(point, dtype=np.float64), "bike")
        except BadRequestData:
            continue
        covered.add(point)
    return covered


def _network_metres(
    city: City | None,
    parcels: Sequence[Parcel],
    schedule: Schedule,
    stops: npt.NDArray[np.intp],
    settings: FreightSettings,
) -> dict[str, tuple[dict[int, float], dict[int, float]]]:
    """Bike-network metres between each parcel's ends and the stops near them, one matrix for
    all (only stops within the crow-fly limit can be within the network limit)."""
    if city is None or not parcels:
        return {}
    ends: list[tuple[float, float]] = []
    near: set[int] = set()
    for parcel in parcels:
        for point, limit in (
            ((parcel.origin_lon, parcel.origin_lat), settings.max_courier_m),
            ((parcel.lon, parcel.lat), _end_limit_m(parcel, settings)),
        ):
            ends.append(point)
            near.update(_crow_reach(point, schedule, stops, limit, 1.0))
    usable = sorted(near & _stop_set(city, schedule, sorted(near)))
    places = list(dict.fromkeys(ends)) + [
        (float(schedule.points[s, 0]), float(schedule.points[s, 1])) for s in usable
    ]
    position = {point: i for i, point in enumerate(dict.fromkeys(ends))}
    offset = len(position)
    _, metres = city.travel_matrices(np.array(places, dtype=np.float64), "bike")
    found: dict[str, tuple[dict[int, float], dict[int, float]]] = {}
    for parcel in parcels:
        o = position[(parcel.origin_lon, parcel.origin_lat)]
        d = position[(parcel.lon, parcel.lat)]
        limit = _end_limit_m(parcel, settings)
        origin_m: dict[int, float] = {}
        destination_m: dict[int, float] = {}
        for k, stop in enumerate(usable):
            there, back = float(metres[o, offset + k]), float(metres[offset + k, d])
            if there <= settings.max_courier_m:
                origin_m[stop] = there
            if back <= limit:
                destination_m[stop] = back
        found[parcel.id] = (origin_m, destination_m)
    return found


def _stop_set(city: City, schedule: Schedule, stops: Sequence[int]) -> set[int]:
    points = [(float(schedule.points[s, 0]), float(schedule.points[s, 1])) for s in stops]
    covered = _covered_points(city, points)
    return {s for s, point in zip(stops, points, strict=True) if point in covered}


# -- the plan ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class CourierLeg:
    """The courier's ride between a parcel's end and a stop (one way: the ride back to its
    base is in the totals, not in the parcel's time)."""

    stop_id: str
    stop_name: str
    distance_m: float
    start_s: int
    end_s: int  # start plus the ride plus the handling


@dataclass(frozen=True)
class RideLeg:
    trip_id: str
    route: str
    headsign: str | None
    board_stop_id: str
    board_stop_name: str
    board_s: int  # the trip's departure there
    board_position: int  # index of that stop time in the trip
    alight_stop_id: str
    alight_stop_name: str
    alight_s: int  # the trip's arrival there
    alight_position: int
    bus_km: float  # along the trip between the two stops (crow-fly between stops x circuity)


@dataclass(frozen=True)
class Transfer:
    from_stop_id: str  # where the first trip leaves the parcel
    to_stop_id: str  # where the second takes it (the same stop, or one a short walk away)
    walk_m: float
    wait_s: int  # from the first trip's arrival to the second's departure


@dataclass(frozen=True)
class Itinerary:
    parcel: str
    distances: DistanceMethod  # how the first and last mile were measured
    first_mile: CourierLeg
    rides: tuple[RideLeg, ...]  # one, or two with a transfer
    transfer: Transfer | None
    last_mile: CourierLeg | None  # None: collected at the pickup point
    pickup_point: str | None  # the stop where the recipient collects it
    delivered_s: int  # at the door, or in the pickup point's locker
    co2e_kg: float = 0.0  # its share of the buses plus its courier rides


@dataclass(frozen=True)
class SegmentLoad:
    from_stop_id: str
    to_stop_id: str
    depart_s: int
    load: Size
    parcels: tuple[str, ...]


@dataclass(frozen=True)
class TripLoad:
    """What a trip carries, leg by leg (only legs with parcels on board)."""

    trip_id: str
    route: str
    segments: tuple[SegmentLoad, ...]
    peak: Size
    bus_km: float  # km of the trip with parcels on board


@dataclass(frozen=True)
class FreightTotals:
    parcels_carried: int
    parcels_unassigned: int
    bike_km: float  # courier's km, rides back to base included
    courier_hours: float
    bus_km_loaded: float  # km of bus trips with parcels on board (run anyway)
    bus_co2e_kg: float
    courier_co2e_kg: float
    cost: float

    @property
    def co2e_kg(self) -> float:
        return self.bus_co2e_kg + self.courier_co2e_kg


@dataclass(frozen=True)
class FreightPlan:
    feed: str
    day: date
    itineraries: tuple[Itinerary, ...]  # in the order they were planned (due time, id)
    unassigned: tuple[Unassigned, ...]
    trips: tuple[TripLoad, ...]
    totals: FreightTotals
    notes: tuple[str, ...] = ()


def plan_transit_freight(
    parcels: Sequence[Parcel],
    schedule: Schedule,
    settings: FreightSettings,
    city: City | None = None,
    factors: Factors = DEFAULT_FACTORS,
) -> FreightPlan:
    """Every parcel on the best itinerary still open, by due time; see the module's notes."""
    validate_settings(settings)
    validate_parcels(parcels)
    courier_factor = _courier_factor(settings, factors)
    reach = parcel_reach(parcels, schedule, settings, city)
    near = transfer_stops(schedule, settings)
    loads = [[NOTHING] * (len(trip.stops) - 1) for trip in schedule.trips]
    riders: list[list[list[str]]] = [[[] for _ in trip.stops[1:]] for trip in schedule.trips]
    found: list[tuple[Parcel, _Found]] = []
    unassigned: list[Unassigned] = []
    for parcel in sorted(parcels, key=lambda p: (p.due_s, p.id)):
        search = _Search(parcel, reach[parcel.id], schedule, near, settings)
        best = search.run(loads, parcel.due_s, settings.courier_weight)
        if best is None:
            unassigned.append(Unassigned(parcel.id, search.why_not(loads, reach[parcel.id])))
            continue
        for ride in best.rides:
            for segment in range(ride.board, ride.alight):
                loads[ride.trip][segment] = loads[ride.trip][segment] + parcel.size
                riders[ride.trip][segment].append(parcel.id)
        found.append((parcel, best))
    notes: list[str] = []
    if city is not None and "bike" not in city.routers:
        notes.append("the City has no bike network: first and last miles are crow-fly x circuity")
    itineraries = [
        _itinerary(parcel, best, reach[parcel.id], schedule, settings) for parcel, best in found
    ]
    itineraries, bus_co2e, courier_co2e = _with_emissions(
        itineraries, {p.id: p for p in parcels}, loads, schedule, settings, courier_factor, notes
    )
    bike_m, courier_s = courier_work(itineraries, {p.id: p for p in parcels}, settings)
    trips = _trip_loads(schedule, loads, riders, settings)
    totals = FreightTotals(
        parcels_carried=len(itineraries),
        parcels_unassigned=len(unassigned),
        bike_km=bike_m / 1000.0,
        courier_hours=courier_s / 3600.0,
        bus_km_loaded=sum(t.bus_km for t in trips),
        bus_co2e_kg=bus_co2e,
        courier_co2e_kg=courier_co2e,
        cost=round(
            courier_s / 3600.0 * settings.courier_cost_per_hour
            + bike_m / 1000.0 * settings.courier_cost_per_km
            + settings.fee_per_parcel * len(itineraries),
            2,
        ),
    )
    return FreightPlan(
        feed=schedule.feed,
        day=schedule.day,
        itineraries=tuple(itineraries),
        unassigned=tuple(unassigned),
        trips=tuple(trips),
        totals=totals,
        notes=tuple(notes),
    )


def validate_settings(settings: FreightSettings) -> None:
    problems = []
    if settings.max_transfers not in (0, 1):
        problems.append("max_transfers must be 0 or 1")
    for name in ("courier_speed_kmh", "circuity"):
        if not getattr(settings, name) > 0:
            problems.append(f"{name} must be positive")
    if settings.circuity < 1.0:
        problems.append("circuity must be at least 1 (no way is shorter than the straight line)")
    for name in (
        "min_transfer_s",
        "handling_s",
        "transfer_walk_m",
        "max_courier_m",
        "max_pickup_walk_m",
        "courier_weight",
        "fee_per_parcel",
    ):
        if getattr(settings, name) < 0:
            problems.append(f"{name} must not be negative")
    if settings.bus.allocation not in ("mass", "marginal"):
        problems.append("bus.allocation must be 'mass' or 'marginal'")
    if problems:
        raise BadRequestData("; ".join(problems))


def validate_parcels(parcels: Sequence[Parcel]) -> None:
    problems: list[str] = []
    for duplicate, count in Counter(p.id for p in parcels).items():
        if count > 1:
            problems.append(f"parcel id {duplicate!r} is used {count} times")
    for p in parcels:
        for lon, lat, end in (
            (p.origin_lon, p.origin_lat, "origin"),
            (p.lon, p.lat, "destination"),
        ):
            if not (-180.0 <= lon <= 180.0 and -90.0 <= lat <= 90.0):
                problems.append(f"parcel {p.id}: its {end} ({lon}, {lat}) is not a lon/lat")
        if p.due_s < p.ready_s:
            problems.append(
                f"parcel {p.id}: due at {format_clock(p.due_s)}, before it is ready "
                f"({format_clock(p.ready_s)})"
            )
        if min(p.size.kg, p.size.m3, p.size.parcels) < 0:
            problems.append(f"parcel {p.id}: a negative size")
    if problems:
        more = f" (and {len(problems) - 10} more)" if len(problems) > 10 else ""
        raise BadRequestData("; ".join(problems[:10]) + more)


def transfer_stops(
    schedule: Schedule, settings: FreightSettings
) -> dict[int, tuple[tuple[int, float], ...]]:
    """Per handover stop, the handover stops a parcel may change to (itself included) and the
    walk there."""
    stops = np.flatnonzero(schedule.handover)
    pts = schedule.points[stops]
    near: dict[int, tuple[tuple[int, float], ...]] = {}
    for k, stop in enumerate(stops):
        metres = (
            _haversine_m(
                np.full(len(stops), pts[k, 0]), np.full(len(stops), pts[k, 1]), pts[:, 0], pts[:, 1]
            )
            * settings.circuity
        )
        close = np.flatnonzero(metres <= settings.transfer_walk_m)
        near[int(stop)] = tuple((int(stops[j]), float(metres[j])) for j in close)
    return near


# -- the search for one parcel ----------------------------------------------------------------


@dataclass(frozen=True)
class _Ride:
    trip: int
    board: int
    alight: int


@dataclass(frozen=True)
class _Found:
    key: tuple[float, int, float, int, tuple[tuple[str, int, int], ...]]
    rides: tuple[_Ride, ...]
    delivered_s: int
    origin_stop: int
    destination_stop: int
    transfer_walk_m: float


# An egress ride (the second trip of a transfer): (value, delivered, destination m, trip id,
# board, alight, trip index); compared in that order.
_Egress = tuple[float, int, float, str, int, int, int]


class _Search:
    """The best itinerary of one parcel given the trips' loads, by a forward pass over each
    trip's stops (where to board, where to get off) and, for transfers, a table of the rides
    that end near the destination, by the stop and time they start."""

    def __init__(
        self,
        parcel: Parcel,
        reach: Reach,
        schedule: Schedule,
        near: Mapping[int, tuple[tuple[int, float], ...]],
        settings: FreightSettings,
    ) -> None:
        self.parcel = parcel
        self.schedule = schedule
        self.near = near
        self.settings = settings
        speed = settings.courier_speed_kmh / 3.6
        self.origin_s = {
            s: math.ceil(m / speed) + settings.handling_s for s, m in reach.origin_m.items()
        }
        if parcel.to_pickup_point:  # the recipient collects it: no courier, no waiting
            self.destination_s = {s: 0 for s in reach.destination_m}
        else:
            self.destination_s = {
                s: math.ceil(m / speed) + settings.handling_s
                for s, m in reach.destination_m.items()
            }
        self.destination_m = reach.destination_m

    def fits(self, loads: list[list[Size]] | None, trip: int, segment: int) -> bool:
        if loads is None:
            return True
        return (loads[trip][segment] + self.parcel.size).fits(self.settings.capacity)

    def run(self, loads: list[list[Size]] | None, due: int | None, weight: float) -> _Found | None:
        """``loads`` None: as if every trip were empty; ``due`` None: any time in the day."""
        if not self.origin_s or not self.destination_s:
            return None
        if loads is not None and not self.parcel.size.fits(self.settings.capacity):
            return None
        egress = self._egress(loads, due, weight) if self.settings.max_transfers else {}
        best: _Found | None = None
        ready = self.parcel.ready_s
        for t, trip in enumerate(self.schedule.trips):
            boarded: tuple[float, int] | None = None  # (weighted courier seconds, position)
            for p, stop in enumerate(trip.stops):
                if boarded is not None and trip.alight[p]:
                    arrival = trip.arrival_s[p]
                    if stop in self.destination_s:
                        delivered = arrival + self.destination_s[stop]
                        if due is None or delivered <= due:
                            value = delivered + weight * self._courier(stop)
                            best = _better(
                                best,
                                self._found(
                                    boarded[0] + value,
                                    delivered,
                                    (_Ride(t, boarded[1], p),),
                                    stop,
                                    0.0,
                                ),
                            )
                    for other, walk in self.near.get(stop, ()) if egress else ():
                        second = _first_after(
                            egress.get(other), arrival + self.settings.min_transfer_s, t
                        )
                        if second is not None:
                            value, delivered, _, _, board, alight, t2 = second
                            best = _better(
                                best,
                                self._found(
                                    boarded[0] + value,
                                    delivered,
                                    (_Ride(t, boarded[1], p), _Ride(t2, board, alight)),
                                    self.schedule.trips[t2].stops[alight],
                                    walk,
                                ),
                            )
                full = p < len(trip.stops) - 1 and not self.fits(loads, t, p)
                if full:
                    boarded = None
                elif (
                    trip.board[p]
                    and stop in self.origin_s
                    and trip.departure_s[p] >= ready + self.origin_s[stop]
                ):
                    cost = weight * self.origin_s[stop]
                    if boarded is None or cost < boarded[0]:
                        boarded = (cost, p)
        return best

    def _courier(self, stop: int) -> int:
        return 0 if self.parcel.to_pickup_point else self.destination_s[stop]

    def _found(
        self,
        score: float,
        delivered: int,
        rides: tuple[_Ride, ...],
        destination_stop: int,
        walk: float,
    ) -> _Found:
        trips = self.schedule.trips
        named = tuple((trips[r.trip].trip_id, r.board, r.alight) for r in rides)
        first = trips[rides[0].trip]
        return _Found(
            key=(score, delivered, self.destination_m[destination_stop], len(rides), named),
            rides=rides,
            delivered_s=delivered,
            origin_stop=first.stops[rides[0].board],
            destination_stop=destination_stop,
            transfer_walk_m=walk,
        )

    def _egress(
        self, loads: list[list[Size]] | None, due: int | None, weight: float
    ) -> dict[int, _Suffix]:
        """Per handover stop, the rides from there to a stop near the destination, by their
        departure, with the best of each suffix (and the best on another trip)."""
        by_stop: dict[int, list[tuple[int, _Egress]]] = defaultdict(list)
        for t, trip in enumerate(self.schedule.trips):
            best: tuple[float, int, float, int] | None = None  # value, delivered, metres, position
            for p in range(len(trip.stops) - 1, -1, -1):
                stop = trip.stops[p]
                if p < len(trip.stops) - 1 and not self.fits(loads, t, p):
                    best = None
                if best is not None and trip.board[p]:
                    by_stop[stop].append(
                        (
                            trip.departure_s[p],
                            (best[0], best[1], best[2], trip.trip_id, p, best[3], t),
                        )
                    )
                if trip.alight[p] and stop in self.destination_s:
                    delivered = trip.arrival_s[p] + self.destination_s[stop]
                    if due is None or delivered <= due:
                        here = (
                            delivered + weight * self._courier(stop),
                            delivered,
                            self.destination_m[stop],
                            p,
                        )
                        if best is None or here[:3] < best[:3]:
                            best = here
        return {stop: _Suffix(rides) for stop, rides in by_stop.items()}

    def why_not(self, loads: list[list[Size]], reach: Reach) -> str:
        parcel, settings = self.parcel, self.settings
        how = (
            "on the bike network"
            if reach.method == "network"
            else f"crow-fly x {settings.circuity:g}"
        )
        if not parcel.size.fits(settings.capacity):
            return (
                f"bigger than a trip's cargo box ({_size(settings.capacity)}); the parcel is "
                f"{_size(parcel.size)}"
            )
        if not self.origin_s:
            return (
                f"no stop taking parcels within {settings.max_courier_m / 1000:g} km of its "
                f"origin ({how}){self._nearest(parcel.origin_lon, parcel.origin_lat)}"
            )
        if not self.destination_s:
            limit = _end_limit_m(parcel, settings)
            what = "pickup point" if parcel.to_pickup_point else "stop taking parcels"
            return (
                f"no {what} within {limit / 1000:g} km of its destination ({how})"
                f"{self._nearest(parcel.lon, parcel.lat)}"
            )
        free = self.run(None, None, 0.0)
        transfers = "no transfer" if not settings.max_transfers else "at most 1 transfer"
        if free is None:
            return (
                f"no trip on {self.schedule.day.isoformat()} links a stop near its origin, "
                f"after it is ready at {format_clock(parcel.ready_s)} plus the first mile, to a "
                f"stop near its destination ({transfers})"
            )
        if free.delivered_s > parcel.due_s:
            return (
                f"no trip in time: the earliest delivery is {format_clock(free.delivered_s)}, "
                f"after it is due at {format_clock(parcel.due_s)}"
            )
        in_time = self.run(None, parcel.due_s, settings.courier_weight)
        assert in_time is not None  # free delivers in time
        full = [
            (r, s)
            for r in in_time.rides
            for s in range(r.board, r.alight)
            if not self.fits(loads, r.trip, s)
        ]
        if not full:  # cannot happen: that itinerary would have been taken
            return (
                f"trips full: no room on the trips that deliver it by {format_clock(parcel.due_s)}"
            )
        ride, segment = full[0]
        trip = self.schedule.trips[ride.trip]
        names = self.schedule.stop_names
        return (
            f"trips full: every itinerary delivering it by {format_clock(parcel.due_s)} uses a "
            f"leg already carrying the box's {_size(settings.capacity)} (e.g. trip "
            f"{trip.trip_id}, {trip.route}, {names[trip.stops[segment]]} -> "
            f"{names[trip.stops[segment + 1]]} at {format_clock(trip.departure_s[segment])})"
        )

    def _nearest(self, lon: float, lat: float) -> str:
        stops = np.flatnonzero(self.schedule.handover)
        if not len(stops):
            return ": the feed has no stop that takes parcels"
        pts = self.schedule.points[stops]
        metres = _haversine_m(
            np.full(len(stops), lon), np.full(len(stops), lat), pts[:, 0], pts[:, 1]
        )
        k = int(np.argmin(metres))
        return (
            f"; the nearest is {self.schedule.stop_names[stops[k]]}, "
            f"{metres[k] / 1000:.1f} km as the crow flies"
        )


class _Suffix:
    """Rides from one stop sorted by departure; for each suffix, its best ride and the best
    ride on another trip than that one (a transfer is never to the same trip)."""

    def __init__(self, rides: list[tuple[int, _Egress]]) -> None:
        rides.sort(key=lambda ride: (ride[0], ride[1]))
        self.departures = [ride[0] for ride in rides]
        best: list[tuple[_Egress, _Egress | None]] = []
        first: _Egress | None = None
        second: _Egress | None = None
        for _, ride in reversed(rides):
            if first is None:
                first = ride
            elif ride < first:
                if ride[6] != first[6]:
                    second = first
                first = ride
            elif ride[6] != first[6] and (second is None or ride < second):
                second = ride
            best.append((first, second))
        self.best = best[::-1]


def _first_after(table: _Suffix | None, earliest: int, not_trip: int) -> _Egress | None:
    if table is None:
        return None
    i = bisect.bisect_left(table.departures, earliest)
    if i == len(table.departures):
        return None
    first, second = table.best[i]
    return first if first[6] != not_trip else second


def _better(best: _Found | None, candidate: _Found) -> _Found:
    return candidate if best is None or candidate.key < best.key else best


def _size(size: Size) -> str:
    parts = [
        f"{value:g} {name}"
        for name, value in (("parcels", size.parcels), ("kg", size.kg), ("m3", size.m3))
        if value > 0 and not math.isinf(value)
    ]
    return ", ".join(parts) or "nothing"


# -- the plan's parts -------------------------------------------------------------------------


def _itinerary(
    parcel: Parcel, found: _Found, reach: Reach, schedule: Schedule, settings: FreightSettings
) -> Itinerary:
    ids, names = schedule.stop_ids, schedule.stop_names
    speed = settings.courier_speed_kmh / 3.6
    rides = []
    for ride in found.rides:
        trip = schedule.trips[ride.trip]
        board, alight = trip.stops[ride.board], trip.stops[ride.alight]
        rides.append(
            RideLeg(
                trip_id=trip.trip_id,
                route=trip.route,
                headsign=trip.headsign,
                board_stop_id=ids[board],
                board_stop_name=names[board],
                board_s=trip.departure_s[ride.board],
                board_position=ride.board,
                alight_stop_id=ids[alight],
                alight_stop_name=names[alight],
                alight_s=trip.arrival_s[ride.alight],
                alight_position=ride.alight,
                bus_km=(trip.crow_m[ride.alight] - trip.crow_m[ride.board])
                * settings.circuity
                / 1000.0,
            )
        )
    first_m = reach.origin_m[found.origin_stop]
    first_s = math.ceil(first_m / speed) + settings.handling_s
    first = CourierLeg(
        ids[found.origin_stop],
        names[found.origin_stop],
        first_m,
        rides[0].board_s - first_s,
        rides[0].board_s,
    )
    transfer = None
    if len(rides) == 2:
        transfer = Transfer(
            rides[0].alight_stop_id,
            rides[1].board_stop_id,
            found.transfer_walk_m,
            rides[1].board_s - rides[0].alight_s,
        )
    last = None
    pickup = None
    if parcel.to_pickup_point:
        pickup = ids[found.destination_stop]
    else:
        last_m = reach.destination_m[found.destination_stop]
        last = CourierLeg(
            ids[found.destination_stop],
            names[found.destination_stop],
            last_m,
            rides[-1].alight_s,
            found.delivered_s,
        )
    return Itinerary(
        parcel.id, reach.method, first, tuple(rides), transfer, last, pickup, found.delivered_s
    )


def _first_mile_groups(
    itineraries: Sequence[Itinerary], parcels: Mapping[str, Parcel]
) -> dict[tuple[float, float, str, str, int], list[Itinerary]]:
    """Parcels the courier takes together: same origin, same stop, same departure."""
    groups: dict[tuple[float, float, str, str, int], list[Itinerary]] = defaultdict(list)
    for it in itineraries:
        p = parcels[it.parcel]
        ride = it.rides[0]
        groups[
            (p.origin_lon, p.origin_lat, ride.board_stop_id, ride.trip_id, ride.board_position)
        ].append(it)
    return groups


def courier_work(
    itineraries: Sequence[Itinerary], parcels: Mapping[str, Parcel], settings: FreightSettings
) -> tuple[float, int]:
    """The courier's metres and seconds. First mile: one ride out and back per bus departure
    (the parcels for one bus go together), handling per parcel. Last mile: out and back per
    parcel from the stop (a star: an upper bound on a round through several doors)."""
    speed = settings.courier_speed_kmh / 3.6
    metres = 0.0
    seconds = 0
    for group in _first_mile_groups(itineraries, parcels).values():
        one_way = group[0].first_mile.distance_m
        metres += 2 * one_way
        seconds += 2 * math.ceil(one_way / speed) + settings.handling_s * len(group)
    for it in itineraries:
        if it.last_mile is not None:
            metres += 2 * it.last_mile.distance_m
            seconds += 2 * math.ceil(it.last_mile.distance_m / speed) + settings.handling_s
    return metres, seconds


def _courier_factor(settings: FreightSettings, factors: Factors) -> float:
    found = factors.table.get(settings.courier_factor)
    if found is None:
        known = ", ".join(sorted(factors.table))
        raise BadRequestData(
            f"courier_factor: no emission factor {settings.courier_factor!r} ({known})"
        )
    return found.wtw_kg_per_km(factors.grid)


def _with_emissions(
    itineraries: Sequence[Itinerary],
    parcels: Mapping[str, Parcel],
    loads: Sequence[Sequence[Size]],
    schedule: Schedule,
    settings: FreightSettings,
    courier_kg_per_km: float,
    notes: list[str],
) -> tuple[list[Itinerary], float, float]:
    """Each itinerary with its CO2e: its share of each bus leg, and of the courier's rides."""
    bus = settings.bus
    index = {trip.trip_id: t for t, trip in enumerate(schedule.trips)}
    share: dict[str, float] = defaultdict(float)
    bus_total = 0.0
    for it in itineraries:
        kg = parcels[it.parcel].size.kg
        for ride in it.rides:
            t = index[ride.trip_id]
            trip = schedule.trips[t]
            for s in range(ride.board_position, ride.alight_position):
                km = (trip.crow_m[s + 1] - trip.crow_m[s]) * settings.circuity / 1000.0
                if bus.allocation == "mass":
                    payload = bus.passengers * bus.passenger_kg + loads[t][s].kg
                    co2e = bus.kg_co2e_per_km * km * kg / payload if payload > 0 else 0.0
                else:
                    litres = bus.marginal_l_per_100km_per_100kg * kg / 100.0 * km / 100.0
                    co2e = litres * bus.diesel_kg_co2e_per_l
                share[it.parcel] += co2e
                bus_total += co2e
    if any(parcels[it.parcel].size.kg <= 0 for it in itineraries):
        notes.append("parcels without a mass carry no share of the buses' emissions")
    courier_total = 0.0
    for group in _first_mile_groups(itineraries, parcels).values():
        co2e = 2 * group[0].first_mile.distance_m / 1000.0 * courier_kg_per_km
        courier_total += co2e
        masses = [parcels[it.parcel].size.kg for it in group]
        weights = masses if all(m > 0 for m in masses) else [1.0] * len(group)
        for it, weight in zip(group, weights, strict=True):
            share[it.parcel] += co2e * weight / sum(weights)
    for it in itineraries:
        if it.last_mile is not None:
            co2e = 2 * it.last_mile.distance_m / 1000.0 * courier_kg_per_km
            courier_total += co2e
            share[it.parcel] += co2e
    updated = [
        Itinerary(
            it.parcel,
            it.distances,
            it.first_mile,
            it.rides,
            it.transfer,
            it.last_mile,
            it.pickup_point,
            it.delivered_s,
            share[it.parcel],
        )
        for it in itineraries
    ]
    return updated, bus_total, courier_total


def _trip_loads(
    schedule: Schedule,
    loads: Sequence[Sequence[Size]],
    riders: Sequence[Sequence[Sequence[str]]],
    settings: FreightSettings,
) -> list[TripLoad]:
    ids = schedule.stop_ids
    found = []
    for t, trip in enumerate(schedule.trips):
        segments = [
            SegmentLoad(
                ids[trip.stops[s]],
                ids[trip.stops[s + 1]],
                trip.departure_s[s],
                loads[t][s],
                tuple(riders[t][s]),
            )
            for s in range(len(trip.stops) - 1)
            if riders[t][s]
        ]
        if not segments:
            continue
        peak = Size(
            max(x.load.kg for x in segments),
            max(x.load.m3 for x in segments),
            max(x.load.parcels for x in segments),
        )
        km = sum(
            (trip.crow_m[s + 1] - trip.crow_m[s]) * settings.circuity / 1000.0
            for s in range(len(trip.stops) - 1)
            if riders[t][s]
        )
        found.append(TripLoad(trip.trip_id, trip.route, tuple(segments), peak, km))
    return found


# -- the comparison with a van ----------------------------------------------------------------


VAN_CAPACITY = Size(kg=1200.0, m3=12.0, parcels=250.0)


@dataclass(frozen=True)
class VanSettings:
    """The dedicated van. Costs as examples/logistics/fleet-diesel.yaml assumes them (a leased
    3.5 t van, its diesel and upkeep, a driver's hour with employer's charges, Romania 2024);
    set your own. Without a City the van drives crow-fly x circuity at ``speed_kmh``: an
    assumption for a town's 50 km/h streets with junctions and stops."""

    kind: VehicleKind = "diesel_van"
    capacity: Size = VAN_CAPACITY  # as the vans of examples/logistics/fleet-diesel.yaml
    count: int = 1
    speed_kmh: float = 30.0
    service_s: int = 180  # at each door (the sample orders' 2-4 minutes)
    loading_s: int = 600  # at the origin, before each round
    max_work_s: int = 6 * 3600  # one stretch: no break needed (Directive 2002/15/EC art. 5)
    fixed_cost: float = 25.0  # per van and day
    cost_per_km: float = 0.16
    cost_per_hour: float = 9.0
    emission_factor: str | None = None  # a row of the emission table; None: the kind's
    seconds: float = 5.0  # the solver's time
    iterations: int | None = None  # instead of a time: the same plan on every run
    seed: int = 0


@dataclass(frozen=True)
class Figures:
    parcels_served: int
    parcels_unassigned: int
    motor_km: float  # van km; a bus's km are not counted: it runs anyway
    bike_km: float
    hours: float  # the driver's or the courier's
    cost: float
    co2e_kg: float


@dataclass(frozen=True)
class VanComparison:
    transit: Figures
    van: Figures
    van_distances: DistanceMethod
    van_unassigned: tuple[Unassigned, ...]
    notes: tuple[str, ...] = ()


def compare_with_van(
    parcels: Sequence[Parcel],
    plan: FreightPlan,
    van: VanSettings | None = None,
    city: City | None = None,
    settings: FreightSettings | None = None,
    factors: Factors = DEFAULT_FACTORS,
    progress: Progress | None = None,
) -> VanComparison:
    """The passenger-line plan's figures beside a van's round doing the same work: the parcels
    the buses carry, from their origin, by their due time. ``settings``: the plan's (its
    circuity is the van's too when there is no City)."""
    van = van or VanSettings()
    circuity = (settings or FreightSettings(day=plan.day)).circuity
    carried = {it.parcel for it in plan.itineraries}
    same = [p for p in parcels if p.id in carried]
    if not same:
        raise BadRequestData("the buses carry none of the parcels: there is nothing to compare")
    notes: list[str] = []
    if len(same) < len(parcels):
        left = len(parcels) - len(same)
        notes.append(
            f"{left} parcel{'s' if left > 1 else ''} the buses cannot carry: left out of both"
        )
    parcels = same
    problem = van_problem(parcels, van)
    depot = problem.sites[0]
    others = sum(1 for p in parcels if (p.origin_lon, p.origin_lat) != (depot.lon, depot.lat))
    if others:
        notes.append(f"{others} parcels from another origin: the van collects them there")
    if city is not None and "drive" in city.routers:
        options = PlanOptions(
            seconds=van.seconds, iterations=van.iterations, seed=van.seed, factors=factors
        )
        planned = plan_routes(problem, city, options, progress)
        totals = planned.totals
        van_figures = Figures(
            totals.orders_served,
            totals.orders_unassigned,
            totals.distance_km,
            0.0,
            totals.hours,
            totals.cost,
            totals.co2e_kg,
        )
        unassigned = list(planned.unassigned)
        method: DistanceMethod = "network"
        notes.extend(planned.notes)
    else:
        van_figures, unassigned = _van_crow_fly(problem, van, circuity, factors)
        method = "crow-fly"
    t = plan.totals
    transit = Figures(
        t.parcels_carried, t.parcels_unassigned, 0.0, t.bike_km, t.courier_hours, t.cost, t.co2e_kg
    )
    return VanComparison(transit, van_figures, method, tuple(unassigned), tuple(notes))


def van_problem(parcels: Sequence[Parcel], van: VanSettings) -> Problem:
    """The parcels as a van's day from the commonest origin: deliveries from there, shipments
    (collected on the way) from any other. The van leaves when the last parcel at the depot is
    ready and may come back to load again."""
    if not parcels:
        raise BadRequestData("no parcels to compare")
    origins = Counter((p.origin_lon, p.origin_lat) for p in parcels)
    (lon, lat), _ = origins.most_common(1)[0]
    site = Site(
        "origin",
        "consolidation",
        lon,
        lat,
        name="origin",
        hours=Window(0, 48 * 3600),
        loading_s=van.loading_s,
    )
    at_depot = [p for p in parcels if (p.origin_lon, p.origin_lat) == (lon, lat)]
    start = max(p.ready_s for p in at_depot)
    vehicle = VehicleType(
        id="van",
        kind=van.kind,
        count=van.count,
        depot=site.id,
        capacity=van.capacity,
        reload_at=(site.id,),
        shift=Window(start, min(start + van.max_work_s, 48 * 3600)),
        max_work_s=van.max_work_s,
        fixed_cost=van.fixed_cost,
        cost_per_km=van.cost_per_km,
        cost_per_hour=van.cost_per_hour,
        emission_factor=van.emission_factor,
    )
    orders = []
    for p in parcels:
        at = Stop(p.lon, p.lat, windows=(Window(p.ready_s, p.due_s),), service_s=van.service_s)
        if (p.origin_lon, p.origin_lat) == (lon, lat):
            orders.append(Order(p.id, "delivery", at, p.size))
        else:
            origin = Stop(
                p.origin_lon,
                p.origin_lat,
                windows=(Window(p.ready_s, p.due_s),),
                service_s=van.service_s,
            )
            orders.append(Order(p.id, "shipment", at, p.size, origin=origin))
    return Problem(sites=(site,), fleet=(vehicle,), orders=tuple(orders), name="van")


def crow_fly_travel(places: Places, key: ProfileKey, circuity: float, speed_kmh: float) -> Travel:
    """Travel between a problem's places without a street network: crow-fly x circuity metres
    at an average speed."""
    pts = places.points
    n = len(pts)
    lon1 = np.repeat(pts[:, 0], n)
    lat1 = np.repeat(pts[:, 1], n)
    lon2 = np.tile(pts[:, 0], n)
    lat2 = np.tile(pts[:, 1], n)
    metres = (_haversine_m(lon1, lat1, lon2, lat2) * circuity).reshape(n, n)
    seconds = np.ceil(metres / (speed_kmh / 3.6))
    return Travel(key, seconds.astype(np.int64), np.round(metres).astype(np.int64), {})


def _van_crow_fly(
    problem: Problem, van: VanSettings, circuity: float, factors: Factors
) -> tuple[Figures, list[Unassigned]]:
    """The van's day planned by PyVRP on crow-fly x circuity travel: the planner's own model
    (screening, slots, solver data, routes read back) on another travel matrix."""
    validate_problem(problem)
    places = number_places(problem)
    vehicle = problem.fleet[0]
    key = ProfileKey(vehicle.mode, frozenset(), ())
    travel = crow_fly_travel(places, key, circuity, van.speed_kmh)
    slots = {vehicle.id: day_slots(problem, vehicle)}
    screened = screen(problem, places, {vehicle.id: key}, {key: travel}, slots)
    reasons = dict(screened.reasons)
    routes: list[SolvedRoute] = []
    if screened.candidates:
        vehicle_slots = [
            VehicleSlot(vehicle, slot, 0) for slot in slots[vehicle.id] if not slot.feeding
        ]
        data, index = build_data(
            problem, places, screened.candidates, vehicle_slots, [ProfileMatrices(travel)]
        )
        stop: StoppingCriterion = (
            MaxIterations(van.iterations) if van.iterations else MaxRuntime(van.seconds)
        )
        result = pyvrp.solve(data, stop, seed=van.seed, display=False)
        routes = read_routes(feasible_part(result.best, data), index, problem, places, [travel])
    served = {v.order for r in routes for v in r.visits if v.order is not None}
    for order in problem.orders:
        if order.id not in served and order.id not in reasons:
            reasons[order.id] = "the van's day is too short or too full for it"
    km = sum(r.distance_m for r in routes) / 1000.0
    hours = sum(r.visits[-1].arrival - r.visits[0].arrival for r in routes) / 3600.0
    cost = (
        vehicle.fixed_cost * len(routes) + vehicle.cost_per_km * km + vehicle.cost_per_hour * hours
    )
    co2e = km * vehicle_km_factor(vehicle, factors)
    unassigned = [Unassigned(o.id, reasons[o.id]) for o in problem.orders if o.id in reasons]
    return Figures(len(served), len(unassigned), km, 0.0, hours, round(cost, 2), co2e), unassigned
