"""The city-logistics problem and its plan, as plain data.

Times are whole seconds from midnight of the plan's day; places are WGS84 longitude/latitude;
goods are measured in kilograms, cubic metres and parcels; money in euros. Everything here is
frozen data: reading (``orders``, ``fleet``), planning (``planner``), emissions and checking
(``check``) are functions over it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal

import shapely

Mode = Literal["drive", "bike"]  # the city network a vehicle travels on
SiteKind = Literal["depot", "consolidation", "microhub"]
VehicleKind = Literal["cargo_bike", "e_cargo_bike", "e_van", "diesel_van", "car"]
OrderKind = Literal["delivery", "pickup", "shipment"]
ZoneKind = Literal["pedestrian", "low_emission"]
VisitAction = Literal[
    "start",  # leaves its base (loaded for the first trip)
    "deliver",  # a delivery order, or the delivery end of a shipment
    "pickup",  # a pickup order (a return to the base), or the collection end of a shipment
    "reload",  # back at a base between trips: unloads returns, loads the next trip
    "break",  # the driver's rest break, taken at the base
    "feed",  # a feeder drops goods for the bikes at a micro-hub
    "end",  # back at its base
]

DAY = 24 * 3600
BIKE_KINDS: frozenset[str] = frozenset({"cargo_bike", "e_cargo_bike"})
UNLIMITED = math.inf


@dataclass(frozen=True)
class Size:
    """An amount of goods, or a capacity (``inf`` in a dimension: no limit there)."""

    kg: float = 0.0
    m3: float = 0.0
    parcels: float = 0.0

    def __add__(self, other: Size) -> Size:
        return Size(self.kg + other.kg, self.m3 + other.m3, self.parcels + other.parcels)

    def __sub__(self, other: Size) -> Size:
        return Size(self.kg - other.kg, self.m3 - other.m3, self.parcels - other.parcels)

    def fits(self, capacity: Size, slack: float = 1e-6) -> bool:
        return (
            self.kg <= capacity.kg + slack
            and self.m3 <= capacity.m3 + slack
            and self.parcels <= capacity.parcels + slack
        )

    def as_dict(self) -> dict[str, float]:
        return {"kg": self.kg, "m3": self.m3, "parcels": self.parcels}


NOTHING = Size()
NO_LIMIT = Size(UNLIMITED, UNLIMITED, UNLIMITED)


@dataclass(frozen=True)
class Window:
    """When service may start: from ``start`` to ``end`` inclusive, in seconds of the day."""

    start: int
    end: int

    def __contains__(self, moment: int) -> bool:
        return self.start <= moment <= self.end


ALL_DAY = Window(0, DAY)


@dataclass(frozen=True)
class Site:
    """A depot, an urban consolidation centre or a micro-hub: where vehicles are based."""

    id: str
    kind: SiteKind
    lon: float
    lat: float
    name: str = ""
    hours: Window = ALL_DAY  # opening hours: vehicles leave, reload and return within them
    capacity: Size = NO_LIMIT  # goods it can hold at once (what feeders bring to a micro-hub)
    loading_s: int = 0  # loading a vehicle at the start of each trip
    # Micro-hubs: the time by which feeders must have brought the bikes' goods; the bikes based
    # here leave no earlier. None: the opening time.
    ready_by: int | None = None


@dataclass(frozen=True)
class Break:
    """Rest breaks per Directive 2002/15/EC (mobile road transport workers), art. 5: no more
    than 6 hours of work without a break; 30 minutes when the day's work is 6 to 9 hours, 45
    beyond. Cetate schedules the break at the vehicle's base (a hub has the facilities a van's
    cab has not), at ``at`` or, by default, in the middle of the shift."""

    after_s: int = 6 * 3600  # longest stretch of work without a break
    short_s: int = 30 * 60  # the break when the day's work is up to ``long_after_s``
    long_after_s: int = 9 * 3600
    long_s: int = 45 * 60
    at: int | None = None  # when the break starts (seconds of the day); None: mid-shift

    def needed_s(self, work_s: int) -> int:
        if work_s <= self.after_s:
            return 0
        return self.short_s if work_s <= self.long_after_s else self.long_s


@dataclass(frozen=True)
class VehicleType:
    """Identical vehicles based at one site, with their drivers' shift."""

    id: str
    kind: VehicleKind
    count: int
    depot: str  # the site where shifts start and end
    capacity: Size
    name: str = ""
    reload_at: tuple[str, ...] = ()  # sites it may return to between trips (multi-trip)
    max_trips: int | None = None
    shift: Window = Window(8 * 3600, 16 * 3600 + 30 * 60)
    max_work_s: int = 8 * 3600  # working time, waiting included, breaks excluded
    breaks: Break = field(default_factory=Break)
    max_distance_km: float | None = None  # in the day
    range_km: float | None = None  # on one charge or tank; charging happens between shifts
    fixed_cost: float = 0.0  # euros per vehicle used in the day
    cost_per_km: float = 0.0
    cost_per_hour: float = 0.0  # the driver's time, from leaving the base to coming back
    emission_class: str = ""  # for low-emission zones: "zero", "euro6", "euro5", ...
    feeds: tuple[str, ...] = ()  # micro-hubs it supplies before their ready_by time
    emission_factor: str | None = None  # key in the emission table; None: the kind's default

    @property
    def mode(self) -> Mode:
        return "bike" if self.kind in BIKE_KINDS else "drive"


@dataclass(frozen=True)
class Stop:
    """Where a vehicle serves an order, and when it may."""

    lon: float
    lat: float
    windows: tuple[Window, ...] = ()  # empty: any time
    service_s: int = 0
    address: str = ""


@dataclass(frozen=True)
class Order:
    """A delivery (from the base to ``at``), a pickup (a return from ``at`` to the base), or a
    shipment (collected at ``origin``, delivered at ``at`` by the same vehicle)."""

    id: str
    kind: OrderKind
    at: Stop
    size: Size
    origin: Stop | None = None  # shipments only
    optional: bool = False
    penalty: float = 0.0  # euros lost when an optional order is left out
    source: str = ""  # where it was read from ("orders.csv row 12"), for messages


@dataclass(frozen=True)
class Zone:
    """An area some vehicles may not enter: a pedestrian zone (bikes only) or a low-emission
    zone (only the emission classes in ``allowed``), at all times or during ``hours``."""

    id: str
    kind: ZoneKind
    area: shapely.Polygon | shapely.MultiPolygon
    name: str = ""
    allowed: tuple[str, ...] = ()  # emission classes let in (low-emission zones)
    hours: Window | None = None  # None: always

    def admits(self, vehicle: VehicleType) -> bool:
        if vehicle.mode == "bike":
            return True
        if self.kind == "pedestrian":
            return False
        return vehicle.emission_class in self.allowed

    def applies_during(self, shift: Window) -> bool:
        """A zone applying at any moment of a shift is avoided for the whole of it (simple and
        safe: a route is never planned to be inside when the zone closes)."""
        return self.hours is None or (
            self.hours.start <= shift.end and shift.start <= self.hours.end
        )


@dataclass(frozen=True)
class Problem:
    sites: tuple[Site, ...]
    fleet: tuple[VehicleType, ...]
    orders: tuple[Order, ...]
    zones: tuple[Zone, ...] = ()
    name: str = ""

    def site(self, site_id: str) -> Site:
        for site in self.sites:
            if site.id == site_id:
                return site
        raise KeyError(site_id)

    def vehicle_type(self, type_id: str) -> VehicleType:
        for vehicle in self.fleet:
            if vehicle.id == type_id:
                return vehicle
        raise KeyError(type_id)


# -- the plan ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Visit:
    action: VisitAction
    lon: float
    lat: float
    arrival: int  # seconds of the day
    start: int  # service (or the break) starts; later than arrival when it waits
    departure: int
    load: Size  # on board when it leaves
    travel_s: int  # from the previous visit
    distance_m: float  # from the previous visit
    order: str | None = None
    site: str | None = None
    amount: Size = NOTHING  # goods handed over here (feeds, deliveries) or taken (pickups)

    @property
    def wait_s(self) -> int:
        return self.start - self.arrival


@dataclass(frozen=True)
class RoutePlan:
    vehicle_type: str
    vehicle: str  # one physical vehicle: "<type>-<n>"
    mode: Mode
    visits: tuple[Visit, ...]
    distance_m: float
    cost: float
    co2e_kg: float = 0.0
    echelon: int = 1  # 1: from base to customers; 0: feeding micro-hubs

    @property
    def start(self) -> int:
        return self.visits[0].arrival  # at the base, before loading

    @property
    def end(self) -> int:
        return self.visits[-1].arrival

    @property
    def duration_s(self) -> int:
        return self.end - self.start

    @property
    def break_s(self) -> int:
        return sum(v.departure - v.start for v in self.visits if v.action == "break")

    @property
    def work_s(self) -> int:
        return self.duration_s - self.break_s

    @property
    def trips(self) -> int:
        return 1 + sum(1 for v in self.visits if v.action == "reload")

    @property
    def orders(self) -> list[str]:
        return [v.order for v in self.visits if v.order is not None]


@dataclass(frozen=True)
class Unassigned:
    order: str
    reason: str


@dataclass(frozen=True)
class Totals:
    vehicles: int
    distance_km: float
    hours: float
    cost: float
    co2e_kg: float
    orders_served: int
    orders_unassigned: int


@dataclass(frozen=True)
class Plan:
    problem: str
    routes: tuple[RoutePlan, ...]
    unassigned: tuple[Unassigned, ...]
    order_co2e_kg: dict[str, float]
    seed: int
    seconds: float  # the solver's time
    notes: tuple[str, ...] = ()  # what the planner decided that a planner should know

    @property
    def totals(self) -> Totals:
        vehicles = {route.vehicle for route in self.routes}
        return Totals(
            vehicles=len(vehicles),
            distance_km=sum(r.distance_m for r in self.routes) / 1000.0,
            hours=sum(r.duration_s for r in self.routes) / 3600.0,
            cost=sum(r.cost for r in self.routes),
            co2e_kg=sum(r.co2e_kg for r in self.routes),
            orders_served=len({o for r in self.routes for o in r.orders}),
            orders_unassigned=len(self.unassigned),
        )
