"""An independent feasibility checker for a plan: does it keep every promise of the problem?

Independent means it shares nothing with the planner but the data model: travel times are
asked of the city's router leg by leg (not read from the planner's matrices), the roads inside
zones are found here with an R-tree of their own, loads are recounted from the orders, and the
drivers' days are rebuilt from the routes. ``check_plan`` returns every broken rule; an empty
list means the plan is feasible. The rules, one family per function below:

fleet, mode, echelon   each route's vehicle exists ("<type>-<n>", n from 1 to the count), travels
                       its type's network; feed visits only on echelon-0 routes, orders only on 1.
served-once, action,   each order is on exactly one route (a shipment's pickup then delivery on
shipment, unassigned,  the same route) or listed once as unassigned with a reason; no unknown ids.
unknown-order
sequence, place        a route starts and ends at its type's depot; reloads at ``reload_at`` or
                       the depot; breaks at the depot; feeds at a hub it feeds; each visit stands
                       where its site or order is (1e-6 degrees).
timing                 whole seconds; arrival = previous departure + travel; start >= arrival;
                       departure = start + service (an order's ``service_s``; a site's
                       ``loading_s`` at start and reload; at least ``loading_s`` at a feed, where
                       drops in a row are merged; any length for a break or the end).
window, hours, shift,  an order's service starts inside one of its windows; site visits start in
ready                  the site's hours and leave by its closing (the end: back by closing); a
                       route runs within its shift; loading at a micro-hub base starts no earlier
                       than the hub's ready_by.
network, distance      each leg is recomputed on the type's network minus the city's closures and
                       the roads of the zones closed to it: the leg must exist, the fastest legal
                       time must be at most travel_s + 1 s, and the distance must be that of a
                       legal path no slower than travel_s + 1 s within 1 m + 0.1 %. The paths
                       tried are the fastest one and, when the distances differ, the fastest one
                       avoiding its inner roads (another path of equal time, a tie).
zone                   no order is served inside a zone closed to the vehicle during its shift.
load, capacity         loads recounted: at a start or reload the vehicle carries the shipments
                       still on board plus the deliveries and feeds of the coming trip; a
                       delivery or feed hands goods over, a pickup takes them on, the end unloads.
                       The plan's loads and amounts must match (1e-6) and fit the capacity.
route-distance,        a route's distance_m is the sum of its legs (1 cm); max_distance_km and
max-distance, trips    max_trips hold per route.
overlap, work, break,  per physical vehicle: routes do not overlap; total work (route time minus
stretch, range, cost   break visits) <= max_work_s; breaks (break visits, and gaps of 15 min or
                       more between its routes) total Break.needed_s(work); no stretch between
                       breaks (wall clock) is longer than after_s; the day's distance <= range_km;
                       a route costs per_km x km + per_hour x work hours, plus the type's fixed
                       cost on the vehicle's first route of the day (0.01 euro).
feed-late, feed-short, goods delivered by a micro-hub's vehicles were brought by feeders (when the
hub-capacity           fleet has one for it) whose drops are over by the hub's ready_by; what the
                       hub holds fits its capacity.
"""

from __future__ import annotations

import math
import re
import weakref
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from itertools import pairwise

import numpy as np
import shapely

from cetate.city.service import City
from cetate.errors import BadRequestData
from cetate.logistics.model import (
    NOTHING,
    Order,
    Plan,
    Problem,
    RoutePlan,
    Site,
    Size,
    Stop,
    VehicleType,
    Visit,
)

TIME_SLACK_S = 1  # travel times are whole seconds rounded up from milliseconds
DISTANCE_SLACK_M = 1.0  # planned distances are whole metres
DISTANCE_SLACK_SHARE = 0.001
PLACE_SLACK_DEG = 1e-6  # about 0.1 m
AMOUNT_SLACK = 1e-6
SUM_SLACK_M = 0.01
COST_SLACK = 0.01  # costs are rounded to the cent
# Directive 2002/15/EC art. 5: a break may be taken in parts of at least 15 minutes.
BREAK_PART_S = 15 * 60
SITE_ACTIONS = frozenset({"start", "reload", "break", "feed", "end"})
ORDER_ACTIONS = frozenset({"deliver", "pickup"})


@dataclass(frozen=True)
class Violation:
    rule: str  # short code: "window", "capacity", "break", "network", "served-once", ...
    vehicle: str | None
    order: str | None
    detail: str

    def __str__(self) -> str:
        who = " ".join(x for x in (self.vehicle, self.order and f"order {self.order}") if x)
        return f"[{self.rule}] {who + ': ' if who else ''}{self.detail}"


def assert_feasible(problem: Problem, plan: Plan, city: City, at: datetime | None = None) -> None:
    """For tests: fail with every broken rule listed."""
    violations = check_plan(problem, plan, city, at)
    if violations:
        lines = "\n".join(f"  {v}" for v in violations)
        raise AssertionError(f"the plan breaks {len(violations)} rule(s):\n{lines}")


def check_plan(
    problem: Problem, plan: Plan, city: City, at: datetime | None = None
) -> list[Violation]:
    """Every rule ``plan`` breaks; ``at``: the moment whose road closures apply (default now,
    as for the planner)."""
    ctx = _Context(problem)
    found = _check_fleet(ctx, plan)
    found += _check_orders(ctx, plan)
    routes = [(r, ctx.types[r.vehicle_type]) for r in plan.routes if r.vehicle_type in ctx.types]
    for route, vehicle in routes:
        if not route.visits:
            found.append(Violation("sequence", route.vehicle, None, "the route has no visit"))
            continue
        found += _check_sequence(ctx, route, vehicle)
        found += _check_times(ctx, route, vehicle)
        found += _check_loads(ctx, route, vehicle)
        found += _check_route_limits(route, vehicle)
        found += _check_zones(ctx, route, vehicle)
    routes = [(r, v) for r, v in routes if r.visits]
    found += _check_travel(ctx, routes, city, at)
    found += _check_days(routes)
    found += _check_feeding(ctx, routes)
    return found


class _Context:
    """The problem's parts by id."""

    def __init__(self, problem: Problem) -> None:
        self.problem = problem
        self.types = {v.id: v for v in problem.fleet}
        self.sites = {s.id: s for s in problem.sites}
        self.orders = {o.id: o for o in problem.orders}


# -- fleet ------------------------------------------------------------------------------------


def _check_fleet(ctx: _Context, plan: Plan) -> list[Violation]:
    found: list[Violation] = []
    for route in plan.routes:
        vehicle = ctx.types.get(route.vehicle_type)
        if vehicle is None:
            found.append(
                Violation("fleet", route.vehicle, None, f"no vehicle type {route.vehicle_type!r}")
            )
            continue
        match = re.fullmatch(re.escape(vehicle.id) + r"-(\d+)", route.vehicle)
        if match is None or not 1 <= int(match.group(1)) <= vehicle.count:
            found.append(
                Violation(
                    "fleet",
                    route.vehicle,
                    None,
                    f"is not one of the {vehicle.count} vehicles of type {vehicle.id} "
                    f"({vehicle.id}-1 to {vehicle.id}-{vehicle.count})",
                )
            )
        if route.mode != vehicle.mode:
            found.append(
                Violation(
                    "mode",
                    route.vehicle,
                    None,
                    f"travels by {route.mode} but a {vehicle.kind} travels by {vehicle.mode}",
                )
            )
        feeds = any(v.action == "feed" for v in route.visits)
        orders = any(v.order is not None for v in route.visits)
        if (
            route.echelon not in (0, 1)
            or (feeds and route.echelon != 0)
            or (orders and route.echelon != 1)
        ):
            found.append(
                Violation(
                    "echelon",
                    route.vehicle,
                    None,
                    f"echelon {route.echelon} with {'feeds' if feeds else 'no feed'} and "
                    f"{'orders' if orders else 'no order'} (feeding runs are 0, deliveries 1)",
                )
            )
    return found


# -- orders -----------------------------------------------------------------------------------


def _check_orders(ctx: _Context, plan: Plan) -> list[Violation]:
    """Each order served exactly once, or unassigned exactly once with a reason."""
    found: list[Violation] = []
    visits: dict[str, list[tuple[int, str]]] = defaultdict(list)  # order -> (route, action)
    for number, route in enumerate(plan.routes):
        for visit in route.visits:
            if visit.order is None:
                continue
            if visit.order not in ctx.orders:
                found.append(
                    Violation("unknown-order", route.vehicle, visit.order, "is not in the problem")
                )
                continue
            visits[visit.order].append((number, visit.action))
    unassigned: dict[str, int] = defaultdict(int)
    for left in plan.unassigned:
        if left.order not in ctx.orders:
            found.append(
                Violation("unknown-order", None, left.order, "is unassigned but not in the problem")
            )
            continue
        unassigned[left.order] += 1
        if not left.reason.strip():
            found.append(Violation("unassigned", None, left.order, "is unassigned with no reason"))
    for order in ctx.problem.orders:
        found += _order_served(order, visits.get(order.id, []), unassigned[order.id], plan)
    return found


def _order_served(
    order: Order, visits: list[tuple[int, str]], unassigned: int, plan: Plan
) -> list[Violation]:
    found: list[Violation] = []

    def say(rule: str, detail: str) -> None:
        vehicle = plan.routes[visits[0][0]].vehicle if visits else None
        found.append(Violation(rule, vehicle, order.id, detail))

    if visits and unassigned:
        say("served-once", "is both on a route and unassigned")
    elif not visits and not unassigned:
        say("served-once", "is neither on a route nor unassigned")
    if unassigned > 1:
        say("served-once", f"is listed {unassigned} times as unassigned")
    if not visits:
        return found
    routes = sorted({number for number, _ in visits})
    if len(routes) > 1:
        names = ", ".join(plan.routes[n].vehicle for n in routes)
        say("served-once", f"is on {len(routes)} routes ({names})")
    actions = [action for _, action in visits]
    expected = {"delivery": ["deliver"], "pickup": ["pickup"], "shipment": ["pickup", "deliver"]}
    wanted = expected[order.kind]
    if len(actions) > len(wanted):
        say("served-once", f"is visited {len(actions)} times ({', '.join(actions)})")
    elif order.kind == "shipment" and actions != wanted:
        say("shipment", f"a shipment is collected then delivered on one route, not {actions}")
    elif order.kind != "shipment" and actions != wanted:
        say("action", f"a {order.kind} order is served by a {actions[0]!r} visit")
    return found


# -- one route --------------------------------------------------------------------------------


def _check_sequence(ctx: _Context, route: RoutePlan, vehicle: VehicleType) -> list[Violation]:
    """Where each visit is: its base, reload sites, fed hubs, the order's stops."""
    found: list[Violation] = []
    visits = route.visits

    def say(rule: str, detail: str, order: str | None = None) -> None:
        found.append(Violation(rule, route.vehicle, order, detail))

    if visits[0].action != "start" or visits[-1].action != "end" or len(visits) < 2:
        say("sequence", "a route begins with a 'start' visit and finishes with an 'end' visit")
    for number, visit in enumerate(visits):
        where = f"visit {number} ({visit.action})"
        if visit.action in ("start", "end") and number not in (0, len(visits) - 1):
            say("sequence", f"{where} in the middle of the route")
        if visit.action in SITE_ACTIONS:
            allowed = _sites_for(visit.action, vehicle)
            if visit.site not in allowed or visit.site not in ctx.sites:
                say("sequence", f"{where} at {visit.site!r}; it may be at {', '.join(allowed)}")
                continue
            site = ctx.sites[visit.site]
            if not _at(visit, site.lon, site.lat):
                say("place", f"{where} is at ({visit.lon}, {visit.lat}), not at site {site.id}")
        elif visit.order in ctx.orders:
            stop = _stop_of(ctx.orders[visit.order], visit.action)
            if not _at(visit, stop.lon, stop.lat):
                say(
                    "place",
                    f"{where} is at ({visit.lon}, {visit.lat}), not at ({stop.lon}, {stop.lat})",
                    visit.order,
                )
        elif visit.order is None:
            say("sequence", f"{where} has no order")
    return found


def _sites_for(action: str, vehicle: VehicleType) -> tuple[str, ...]:
    if action == "reload":
        return (vehicle.depot, *vehicle.reload_at)
    if action == "feed":
        return vehicle.feeds
    return (vehicle.depot,)


def _at(visit: Visit, lon: float, lat: float) -> bool:
    return abs(visit.lon - lon) <= PLACE_SLACK_DEG and abs(visit.lat - lat) <= PLACE_SLACK_DEG


def _stop_of(order: Order, action: str) -> Stop:
    """Where the visit serves the order: a shipment is collected at its origin."""
    if order.kind == "shipment" and action == "pickup" and order.origin is not None:
        return order.origin
    return order.at


def _check_times(ctx: _Context, route: RoutePlan, vehicle: VehicleType) -> list[Violation]:
    found: list[Violation] = []
    visits = route.visits

    def say(rule: str, detail: str, order: str | None = None) -> None:
        found.append(Violation(rule, route.vehicle, order, detail))

    for number, visit in enumerate(visits):
        where = f"visit {number} ({visit.action})"
        moments = (visit.arrival, visit.start, visit.departure, visit.travel_s)
        if not all(isinstance(m, int) and not isinstance(m, bool) for m in moments):
            say("timing", f"{where}: times are whole seconds, not {moments}")
            continue
        if number == 0 and (visit.travel_s != 0 or visit.distance_m != 0):
            say("timing", f"{where}: the first visit has no travel before it")
        if number > 0 and visit.arrival != visits[number - 1].departure + visit.travel_s:
            say(
                "timing",
                f"{where} arrives at {_clock(visit.arrival)}, not at the previous departure "
                f"{_clock(visits[number - 1].departure)} + {visit.travel_s} s",
            )
        if visit.start < visit.arrival:
            say("timing", f"{where} starts at {_clock(visit.start)}, before it arrives")
        found += _service_and_windows(ctx, route, visit, where)
    if visits[0].arrival < vehicle.shift.start or visits[-1].arrival > vehicle.shift.end:
        say(
            "shift",
            f"runs {_clock(visits[0].arrival)}-{_clock(visits[-1].arrival)}, outside the shift "
            f"{_clock(vehicle.shift.start)}-{_clock(vehicle.shift.end)}",
        )
    base = ctx.sites.get(vehicle.depot)
    if base is not None and base.kind == "microhub":
        ready = base.ready_by if base.ready_by is not None else base.hours.start
        if visits[0].start < ready:
            say(
                "ready",
                f"loads at micro-hub {base.id} at {_clock(visits[0].start)}, before its goods "
                f"are ready at {_clock(ready)}",
            )
    return found


def _service_and_windows(
    ctx: _Context, route: RoutePlan, visit: Visit, where: str
) -> list[Violation]:
    found: list[Violation] = []
    service = visit.departure - visit.start
    if visit.action in SITE_ACTIONS:
        site = ctx.sites.get(visit.site or "")
        if site is None:
            return found  # the sequence check names it
        needed = site.loading_s if visit.action in ("start", "reload", "feed") else 0
        exact = visit.action in ("start", "reload")
        if service < needed or (exact and service != needed):
            found.append(
                Violation(
                    "timing",
                    route.vehicle,
                    None,
                    f"{where} at {site.id} lasts {service} s; loading there takes {needed} s",
                )
            )
        last = visit.start if visit.action == "end" else visit.departure
        if visit.start not in site.hours or last not in site.hours:
            found.append(
                Violation(
                    "hours",
                    route.vehicle,
                    None,
                    f"{where} at {site.id} {_clock(visit.start)}-{_clock(last)}, outside its "
                    f"hours {_clock(site.hours.start)}-{_clock(site.hours.end)}",
                )
            )
        return found
    order = ctx.orders.get(visit.order or "")
    if order is None:
        return found
    stop = _stop_of(order, visit.action)
    if service != stop.service_s:
        found.append(
            Violation(
                "timing",
                route.vehicle,
                order.id,
                f"{where} lasts {service} s; its service takes {stop.service_s} s",
            )
        )
    if stop.windows and not any(visit.start in w for w in stop.windows):
        windows = ", ".join(f"{_clock(w.start)}-{_clock(w.end)}" for w in stop.windows)
        found.append(
            Violation(
                "window",
                route.vehicle,
                order.id,
                f"{where} starts at {_clock(visit.start)}, outside its windows {windows}",
            )
        )
    return found


def _check_loads(ctx: _Context, route: RoutePlan, vehicle: VehicleType) -> list[Violation]:
    found: list[Violation] = []
    loads = _expected_loads(ctx, route.visits)
    for number, (visit, load) in enumerate(zip(route.visits, loads, strict=True)):
        where = f"visit {number} ({visit.action})"
        order = ctx.orders.get(visit.order or "")
        if order is not None and not _same(visit.amount, order.size):
            found.append(
                Violation(
                    "load",
                    route.vehicle,
                    order.id,
                    f"{where} hands over {_size(visit.amount)}; the order is {_size(order.size)}",
                )
            )
        if not _same(visit.load, load):
            found.append(
                Violation(
                    "load",
                    route.vehicle,
                    visit.order,
                    f"{where} leaves with {_size(visit.load)} on board; it carries {_size(load)}",
                )
            )
    for number, (visit, load) in enumerate(zip(route.visits, loads, strict=True)):
        if not load.fits(vehicle.capacity, AMOUNT_SLACK):
            found.append(
                Violation(
                    "capacity",
                    route.vehicle,
                    visit.order,
                    f"leaves visit {number} ({visit.action}) with {_size(load)}, more than its "
                    f"capacity of {_size(vehicle.capacity)}",
                )
            )
            break  # once per route: the first time it is overloaded
    return found


def _expected_loads(ctx: _Context, visits: Sequence[Visit]) -> list[Size]:
    """What the vehicle carries when it leaves each visit, recounted from the orders."""
    loads: list[Size] = []
    load = NOTHING
    carried: dict[str, Size] = {}  # shipments on board: they stay across a reload
    for number, visit in enumerate(visits):
        order = ctx.orders.get(visit.order or "")
        goods = order.size if order is not None else visit.amount
        if visit.action in ("start", "reload"):
            load = _total(carried.values()) + _trip_goods(ctx, visits[number + 1 :])
        elif visit.action == "deliver":
            load = load - goods
            carried.pop(visit.order or "", None)
        elif visit.action == "pickup":
            load = load + goods
            if order is not None and order.kind == "shipment":
                carried[order.id] = goods
        elif visit.action == "feed":
            load = load - visit.amount
        elif visit.action == "end":
            load = NOTHING
            carried.clear()
        loads.append(load)
    return loads


def _trip_goods(ctx: _Context, rest: Sequence[Visit]) -> Size:
    """Loaded at a base for the trip ahead: its deliveries and its feeds (a shipment is
    loaded where it is collected)."""
    goods = NOTHING
    for visit in rest:
        if visit.action in ("reload", "end"):
            break
        order = ctx.orders.get(visit.order or "")
        if visit.action == "feed":
            goods = goods + visit.amount
        elif visit.action == "deliver" and order is not None and order.kind == "delivery":
            goods = goods + order.size
    return goods


def _check_route_limits(route: RoutePlan, vehicle: VehicleType) -> list[Violation]:
    found: list[Violation] = []
    legs_m = sum(v.distance_m for v in route.visits)
    if abs(route.distance_m - legs_m) > SUM_SLACK_M:
        found.append(
            Violation(
                "route-distance",
                route.vehicle,
                None,
                f"distance_m is {route.distance_m:.2f} but its legs add up to {legs_m:.2f}",
            )
        )
    if vehicle.max_distance_km is not None and legs_m / 1000.0 > vehicle.max_distance_km + 1e-9:
        found.append(
            Violation(
                "max-distance",
                route.vehicle,
                None,
                f"runs {legs_m / 1000.0:.3f} km, more than {vehicle.max_distance_km:g} km",
            )
        )
    trips = 1 + sum(1 for v in route.visits if v.action == "reload")
    if vehicle.max_trips is not None and trips > vehicle.max_trips:
        found.append(
            Violation(
                "trips", route.vehicle, None, f"makes {trips} trips; at most {vehicle.max_trips}"
            )
        )
    return found


def _check_zones(ctx: _Context, route: RoutePlan, vehicle: VehicleType) -> list[Violation]:
    found: list[Violation] = []
    for zone in ctx.problem.zones:
        if zone.admits(vehicle) or not zone.applies_during(vehicle.shift):
            continue
        for visit in route.visits:
            if visit.order is not None and shapely.intersects_xy(zone.area, visit.lon, visit.lat):
                found.append(
                    Violation(
                        "zone",
                        route.vehicle,
                        visit.order,
                        f"served at ({visit.lon}, {visit.lat}), inside {zone.kind} zone "
                        f"{zone.id}, closed to {vehicle.kind} {vehicle.id}",
                    )
                )
    return found


# -- travel on the network --------------------------------------------------------------------

_SEGMENT_TREES: weakref.WeakKeyDictionary[City, shapely.STRtree] = weakref.WeakKeyDictionary()


def _segment_tree(city: City) -> shapely.STRtree:
    """An R-tree of every road segment of the city, in longitude/latitude; its item i is
    segment i (built once per city)."""
    tree = _SEGMENT_TREES.get(city)
    if tree is None:
        segments = city.segments
        counts = np.diff(segments.coord_offsets)
        owner = np.repeat(np.arange(len(segments)), counts)
        tree = shapely.STRtree(shapely.linestrings(segments.coords, indices=owner))
        _SEGMENT_TREES[city] = tree
    return tree


def closed_segments(
    problem: Problem, vehicle: VehicleType, city: City, at: datetime | None
) -> frozenset[int]:
    """The segments ``vehicle`` may not use: the city's closures and every road touching a
    zone closed to it during its shift."""
    closed = set(city.blocked(vehicle.mode, at))
    tree = _segment_tree(city)
    for zone in problem.zones:
        if not zone.admits(vehicle) and zone.applies_during(vehicle.shift):
            closed.update(int(i) for i in tree.query(zone.area, predicate="intersects"))
    return frozenset(closed)


def _check_travel(
    ctx: _Context,
    routes: Sequence[tuple[RoutePlan, VehicleType]],
    city: City,
    at: datetime | None,
) -> list[Violation]:
    """Every leg recomputed on the legal network; legs grouped by network, so each mode's
    router changes its closures once per group."""
    closed = {vehicle.id: closed_segments(ctx.problem, vehicle, city, at) for _, vehicle in routes}
    groups: dict[tuple[str, frozenset[int]], list[tuple[RoutePlan, int]]] = defaultdict(list)
    for route, vehicle in routes:
        for number in range(1, len(route.visits)):
            groups[(vehicle.mode, closed[vehicle.id])].append((route, number))
    found: list[Violation] = []
    for (mode, blocked), legs in groups.items():
        for route, number in legs:
            found += _check_leg(city, mode, blocked, route, number)
    return found


def _check_leg(
    city: City, mode: str, blocked: frozenset[int], route: RoutePlan, number: int
) -> list[Violation]:
    before, visit = route.visits[number - 1], route.visits[number]
    leg = f"leg to visit {number} ({visit.action})"
    if (before.lon, before.lat) == (visit.lon, visit.lat):
        fastest_s, fastest_m, inner = 0.0, 0.0, frozenset[int]()
    else:
        path = _route(city, mode, before, visit, blocked)
        if isinstance(path, str):
            return [
                Violation("network", route.vehicle, visit.order, f"{leg}: no legal way ({path})")
            ]
        fastest_s, fastest_m, segments = path
        inner = frozenset(segments[1:-1]) - {segments[0], segments[-1]}
    if fastest_s > visit.travel_s + TIME_SLACK_S:
        return [
            Violation(
                "network",
                route.vehicle,
                visit.order,
                f"{leg} takes {visit.travel_s} s in the plan but the fastest legal way takes "
                f"{fastest_s:.1f} s: the plan uses roads closed to it",
            )
        ]
    if _close_m(visit.distance_m, fastest_m):
        return []
    if inner:  # a tie? another path of the same time may be the plan's
        other = _route(city, mode, before, visit, blocked | inner)
        if (
            not isinstance(other, str)
            and other[0] <= visit.travel_s + TIME_SLACK_S
            and _close_m(visit.distance_m, other[1])
        ):
            return []
    return [
        Violation(
            "distance",
            route.vehicle,
            visit.order,
            f"{leg} is {visit.distance_m:.1f} m in the plan; the fastest legal way "
            f"({fastest_s:.1f} s) is {fastest_m:.1f} m",
        )
    ]


def _route(
    city: City, mode: str, origin: Visit, destination: Visit, blocked: frozenset[int]
) -> tuple[float, float, list[int]] | str:
    """(seconds, metres, segments) of the fastest legal way, or why there is none."""
    try:
        found = city.router(mode).route(
            np.array([origin.lon, origin.lat]),
            np.array([destination.lon, destination.lat]),
            blocked,
        )
    except BadRequestData as error:
        return error.detail
    return found.duration_s, found.distance_m, found.segments


def _close_m(planned: float, computed: float) -> bool:
    return abs(planned - computed) <= DISTANCE_SLACK_M + DISTANCE_SLACK_SHARE * computed


# -- a vehicle's day --------------------------------------------------------------------------


def _check_days(routes: Sequence[tuple[RoutePlan, VehicleType]]) -> list[Violation]:
    by_vehicle: dict[str, list[tuple[RoutePlan, VehicleType]]] = defaultdict(list)
    for route, vehicle in routes:
        by_vehicle[route.vehicle].append((route, vehicle))
    found: list[Violation] = []
    for name, day in by_vehicle.items():
        day.sort(key=lambda pair: (pair[0].start, pair[0].end))
        vehicle = day[0][1]
        found += _overlaps(name, [r for r, _ in day])
        found += _work_and_breaks(name, [r for r, _ in day], vehicle)
        found += _range_and_cost(name, [r for r, _ in day], vehicle)
    return found


def _overlaps(name: str, day: Sequence[RoutePlan]) -> list[Violation]:
    found = []
    for earlier, later in pairwise(day):
        if later.start < earlier.end:
            found.append(
                Violation(
                    "overlap",
                    name,
                    None,
                    f"a route starts at {_clock(later.start)} before its route of "
                    f"{_clock(earlier.start)}-{_clock(earlier.end)} is back",
                )
            )
    return found


def _work_and_breaks(name: str, day: Sequence[RoutePlan], vehicle: VehicleType) -> list[Violation]:
    found: list[Violation] = []
    rules = vehicle.breaks
    work = sum(r.end - r.start - _break_visits_s(r) for r in day)
    if work > vehicle.max_work_s:
        found.append(
            Violation(
                "work",
                name,
                None,
                f"works {_hours(work)} in the day, more than {_hours(vehicle.max_work_s)}",
            )
        )
    periods: list[tuple[int, int]] = []  # breaks: (from, to)
    for route in day:
        for visit in route.visits:
            if visit.action != "break":
                continue
            if visit.departure - visit.start < BREAK_PART_S:
                found.append(
                    Violation(
                        "break",
                        name,
                        None,
                        f"a break of {_hours(visit.departure - visit.start)} at "
                        f"{_clock(visit.start)} is shorter than the {_hours(BREAK_PART_S)} a "
                        f"part of a break lasts",
                    )
                )
            else:
                periods.append((visit.start, visit.departure))
    for earlier, later in pairwise(day):
        if later.start - earlier.end >= BREAK_PART_S:
            periods.append((earlier.end, later.start))
    periods.sort()
    rested = sum(end - start for start, end in periods)
    needed = rules.needed_s(work)
    if rested < needed:
        found.append(
            Violation(
                "break",
                name,
                None,
                f"works {_hours(work)}: needs {_hours(needed)} of break, has {_hours(rested)}",
            )
        )
    moment = day[0].start
    for start, end in [*periods, (day[-1].end, day[-1].end)]:
        if start - moment > rules.after_s:
            found.append(
                Violation(
                    "stretch",
                    name,
                    None,
                    f"works {_clock(moment)}-{_clock(start)} ({_hours(start - moment)}) without "
                    f"a break; at most {_hours(rules.after_s)}",
                )
            )
        moment = max(moment, end)
    return found


def _break_visits_s(route: RoutePlan) -> int:
    return sum(v.departure - v.start for v in route.visits if v.action == "break")


def _range_and_cost(name: str, day: Sequence[RoutePlan], vehicle: VehicleType) -> list[Violation]:
    found: list[Violation] = []
    legs_m = [sum(v.distance_m for v in r.visits) for r in day]
    if vehicle.range_km is not None and sum(legs_m) / 1000.0 > vehicle.range_km + 1e-9:
        found.append(
            Violation(
                "range",
                name,
                None,
                f"runs {sum(legs_m) / 1000.0:.3f} km in the day, beyond its range of "
                f"{vehicle.range_km:g} km",
            )
        )
    for number, (route, metres) in enumerate(zip(day, legs_m, strict=True)):
        hours = (route.end - route.start - _break_visits_s(route)) / 3600.0
        expected = (
            (vehicle.fixed_cost if number == 0 else 0.0)
            + vehicle.cost_per_km * metres / 1000.0
            + vehicle.cost_per_hour * hours
        )
        if abs(route.cost - expected) > COST_SLACK + 1e-9:
            found.append(
                Violation(
                    "cost",
                    name,
                    None,
                    f"the route of {_clock(route.start)} costs {route.cost:.2f} EUR in the plan; "
                    f"{'fixed cost + ' if number == 0 else ''}km and hours make {expected:.2f}",
                )
            )
    return found


# -- the two echelons -------------------------------------------------------------------------


def _check_feeding(
    ctx: _Context, routes: Sequence[tuple[RoutePlan, VehicleType]]
) -> list[Violation]:
    found: list[Violation] = []
    fed: dict[str, Size] = defaultdict(lambda: NOTHING)
    sent: dict[str, Size] = defaultdict(lambda: NOTHING)  # delivered by the hub's vehicles
    for route, vehicle in routes:
        for visit in route.visits:
            if visit.action == "feed" and visit.site in ctx.sites:
                hub = ctx.sites[visit.site]
                fed[hub.id] = fed[hub.id] + visit.amount
                if visit.departure > _ready_by(hub):
                    found.append(
                        Violation(
                            "feed-late",
                            route.vehicle,
                            None,
                            f"drops goods at {hub.id} until {_clock(visit.departure)}; they "
                            f"are needed by {_clock(_ready_by(hub))}",
                        )
                    )
            order = ctx.orders.get(visit.order or "")
            if visit.action == "deliver" and order is not None and order.kind == "delivery":
                sent[vehicle.depot] = sent[vehicle.depot] + order.size
    for hub in ctx.problem.sites:
        if hub.kind != "microhub":
            continue
        supplied = any(hub.id in v.feeds for v in ctx.problem.fleet)
        if supplied and not sent[hub.id].fits(fed[hub.id], AMOUNT_SLACK):
            found.append(
                Violation(
                    "feed-short",
                    None,
                    None,
                    f"micro-hub {hub.id} sends out {_size(sent[hub.id])} but its feeders "
                    f"bring {_size(fed[hub.id])}",
                )
            )
        held = fed[hub.id] if supplied else sent[hub.id]
        if not held.fits(hub.capacity, AMOUNT_SLACK):
            found.append(
                Violation(
                    "hub-capacity",
                    None,
                    None,
                    f"micro-hub {hub.id} holds {_size(held)}, more than its capacity of "
                    f"{_size(hub.capacity)}",
                )
            )
    return found


def _ready_by(hub: Site) -> int:
    return hub.ready_by if hub.ready_by is not None else hub.hours.start


# -- small helpers ----------------------------------------------------------------------------


def _total(sizes: Iterable[Size]) -> Size:
    total = NOTHING
    for size in sizes:
        total = total + size
    return total


def _same(a: Size, b: Size) -> bool:
    return all(
        abs(x - y) <= AMOUNT_SLACK for x, y in ((a.kg, b.kg), (a.m3, b.m3), (a.parcels, b.parcels))
    )


def _size(size: Size) -> str:
    parts = [
        f"{value:g} {unit}"
        for unit, value in (("kg", size.kg), ("m3", size.m3), ("parcels", size.parcels))
        if value != 0 and not math.isinf(value)
    ]
    return ", ".join(parts) or "nothing"


def _clock(seconds: int) -> str:
    return f"{seconds // 3600:02d}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"


def _hours(seconds: int) -> str:
    return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"
