"""Plan a day of city deliveries: which vehicle carries what, in which order, when, at what cost
and with how much CO2e.

1. Travel times and distances per profile (mode, closures, zones) from the city's networks.
2. Screening: orders no vehicle can serve are set aside with their reason.
3. PyVRP plans every vehicle's day (bikes from micro-hubs, vans from depots), each driver's
   day cut around the rest break (``slots``). If a micro-hub would have to hold more than its
   capacity, its farthest orders are closed to its bikes and the day is planned again.
4. Feeders bring the bikes' goods to the micro-hubs by their ready_by time (``feeding``).
5. Routes get their physical vehicles, costs and emissions (ISO 14083, ``emissions``).

With a time limit the plan is the best found in that time, so it depends on the machine's
speed; with a number of iterations and a seed it is the same on every run.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

import pyvrp
from pyvrp.stop import StoppingCriterion

from cetate.city.service import City
from cetate.logistics.emissions import DEFAULT_FACTORS, Factors, allocate
from cetate.logistics.feeding import pack_drops, plan_feeding
from cetate.logistics.model import (
    NOTHING,
    Order,
    Plan,
    Problem,
    RoutePlan,
    Size,
    Unassigned,
)
from cetate.logistics.screening import screen
from cetate.logistics.slots import Slot, day_slots
from cetate.logistics.solution import SolvedRoute, feasible_part, read_routes
from cetate.logistics.solver_model import (
    MONEY_UNIT,
    ProfileMatrices,
    SolverIndex,
    VehicleSlot,
    build_data,
)
from cetate.logistics.travel import (
    Places,
    ProfileKey,
    Travel,
    number_places,
    profile_key,
    travel_for,
)
from cetate.logistics.validate import validate_problem

Progress = Callable[[float, str], None]


@dataclass(frozen=True)
class PlanOptions:
    seconds: float = 30.0  # the solver's time in all
    iterations: int | None = None  # instead of a time limit: the same plan on every run
    seed: int = 0
    at: datetime | None = None  # closures in force at this moment (default: now)
    factors: Factors = field(default_factory=lambda: DEFAULT_FACTORS)


def plan(
    problem: Problem,
    city: City,
    options: PlanOptions | None = None,
    progress: Progress | None = None,
) -> Plan:
    options = options or PlanOptions()
    say = progress or (lambda fraction, message: None)
    validate_problem(problem)
    began = time.monotonic()

    say(0.0, "travel times and distances")
    places = number_places(problem)
    keys = {v.id: profile_key(problem, v, city, options.at) for v in problem.fleet}
    travels = {key: travel_for(key, places, problem.zones, city) for key in set(keys.values())}
    slots = {v.id: day_slots(problem, v) for v in problem.fleet}
    screened = screen(problem, places, keys, travels, slots)
    reasons = dict(screened.reasons)
    notes: list[str] = []

    feeders = any(v.feeds for v in problem.fleet)
    capped = any(s.kind == "microhub" and s.capacity.kg != float("inf") for s in problem.sites)
    share = 0.85 if feeders else 1.0
    first_share = share * (0.7 if capped else 1.0)
    budget = _Budget(options, say)

    closed: dict[str, frozenset[int]] = {}
    routes: list[SolvedRoute] = []
    data: pyvrp.ProblemData | None = None
    index: SolverIndex | None = None
    profiles: list[ProfileMatrices] = []
    for attempt in range(2):
        vehicle_slots, profiles = _arrange(problem, keys, travels, slots, closed)
        data, index = build_data(problem, places, screened.candidates, vehicle_slots, profiles)
        stop = budget.stop(first_share if attempt == 0 else share - first_share, "routes")
        result = pyvrp.solve(data, stop, seed=options.seed, display=False)
        solution = feasible_part(result.best, data)
        if solution is not result.best:
            notes.append(
                "the search found no fully feasible plan in its time: routes breaking a "
                "constraint were left out and their orders are unassigned; give it more time"
            )
        routes = read_routes(solution, index, problem, places, [p.travel for p in profiles])
        overflow = _hub_overflow(problem, places, travels, keys, routes)
        if not overflow:
            # The second attempt's share of the time is not needed: count it as spent, so the
            # progress reported next (the feeders') goes on from here instead of going back.
            budget.spent = max(budget.spent, share)
            break
        if attempt == 0:
            for hub_id, order_ids in overflow.items():
                extra = {places.at[o] for o in order_ids}
                closed[hub_id] = closed.get(hub_id, frozenset()) | extra
                notes.append(
                    f"micro-hub {hub_id} would hold more than its capacity: "
                    f"{len(order_ids)} orders planned again without it"
                )
        else:
            removed = {o: hub for hub, ids in overflow.items() for o in ids}
            for order_id, hub_id in removed.items():
                reasons[order_id] = f"micro-hub {hub_id} is full (its capacity is reached)"
            assert data is not None and index is not None
            routes = _without(routes, set(removed), data, index, problem, places, profiles)

    hub_orders = _hub_orders(problem, routes)
    drops = pack_drops(problem, {h: o for h, o in hub_orders.items() if _fed(problem, h)})
    for hub_id in hub_orders:
        if not _fed(problem, hub_id):
            notes.append(f"no feeder supplies micro-hub {hub_id}: its goods are taken as there")
    if drops:
        say(0.85, "feeding the micro-hubs")
        feeding = plan_feeding(
            problem,
            places,
            drops,
            keys,
            travels,
            slots,
            budget.stop(1.0 - share, "feeders"),
            options.seed,
        )
        if feeding.unfed:
            reasons.update(feeding.unfed)
            assert data is not None and index is not None
            routes = _without(routes, set(feeding.unfed), data, index, problem, places, profiles)
        routes = feeding.routes + routes

    served = {o for r in routes for v in r.visits if (o := v.order) is not None}
    for order in problem.orders:
        if order.id not in served and order.id not in reasons:
            reasons[order.id] = _unserved_reason(order)
    route_plans = _number_vehicles(problem, routes)
    result_plan = Plan(
        problem=problem.name,
        routes=tuple(route_plans),
        unassigned=tuple(
            Unassigned(o.id, reasons[o.id]) for o in problem.orders if o.id in reasons
        ),
        order_co2e_kg={},
        seed=options.seed,
        seconds=round(time.monotonic() - began, 3),
        notes=tuple(notes),
    )
    shortest = _shortest_km(problem, places, keys, travels, route_plans)
    hub_of = {o.id: h for h, orders in hub_orders.items() for o in orders if _fed(problem, h)}
    say(1.0, "done")
    return allocate(result_plan, problem, options.factors, shortest, hub_of)


# -- the solver's budget ----------------------------------------------------------------------


class _Budget:
    """Stopping criteria sharing one time limit (or iteration count), reporting progress."""

    def __init__(self, options: PlanOptions, say: Progress) -> None:
        self.options = options
        self.say = say
        self.spent = 0.0

    def stop(self, share: float, label: str) -> StoppingCriterion:
        return _Watch(self, share, label)


class _Watch:
    def __init__(self, budget: _Budget, share: float, label: str) -> None:
        self.budget = budget
        self.share = share
        self.label = label
        self.started: float | None = None
        self.reported = 0.0
        self.count = 0

    def __call__(self, best_cost: float) -> bool:
        now = time.perf_counter()
        if self.started is None:
            self.started = now
        self.count += 1
        options = self.budget.options
        if options.iterations is not None:
            done = self.count / max(1.0, options.iterations * self.share)
        else:
            done = (now - self.started) / max(1e-3, options.seconds * self.share)
        if now - self.reported >= 1.0:
            self.reported = now
            fraction = self.budget.spent + min(1.0, done) * self.share
            cost = best_cost * MONEY_UNIT
            self.budget.say(fraction, f"{self.label}: objective {cost:,.2f} EUR")
        if done >= 1.0:
            self.budget.spent += self.share
            return True
        return False


# -- stage 1 ----------------------------------------------------------------------------------


def _arrange(
    problem: Problem,
    keys: Mapping[str, ProfileKey],
    travels: Mapping[ProfileKey, Travel],
    slots: Mapping[str, Sequence[Slot]],
    closed: Mapping[str, frozenset[int]],
) -> tuple[list[VehicleSlot], list[ProfileMatrices]]:
    """The delivery slots of every vehicle type and the profiles they route on (a micro-hub
    whose capacity was exceeded gets a profile of its own, closing the orders it shed)."""
    profiles: list[ProfileMatrices] = []
    position: dict[tuple[ProfileKey, frozenset[int]], int] = {}
    vehicle_slots: list[VehicleSlot] = []
    for vehicle in problem.fleet:
        key = keys[vehicle.id]
        shut = closed.get(vehicle.depot, frozenset())
        if (key, shut) not in position:
            position[(key, shut)] = len(profiles)
            profiles.append(ProfileMatrices(travels[key], shut))
        for slot in slots[vehicle.id]:
            if not slot.feeding:
                vehicle_slots.append(VehicleSlot(vehicle, slot, position[(key, shut)]))
    return vehicle_slots, profiles


def _hub_orders(problem: Problem, routes: Sequence[SolvedRoute]) -> dict[str, list[Order]]:
    """The delivery orders that leave each micro-hub on its bikes (shipments and returns do
    not come from the hub's stock)."""
    orders = {o.id: o for o in problem.orders}
    found: dict[str, list[Order]] = defaultdict(list)
    for route in routes:
        base = problem.site(route.slot.vehicle.depot)
        if base.kind != "microhub":
            continue
        for visit in route.visits:
            if visit.order is not None and orders[visit.order].kind == "delivery":
                found[base.id].append(orders[visit.order])
    return dict(found)


def _fed(problem: Problem, hub_id: str) -> bool:
    return any(hub_id in v.feeds for v in problem.fleet)


def _hub_overflow(
    problem: Problem,
    places: Places,
    travels: Mapping[ProfileKey, Travel],
    keys: Mapping[str, ProfileKey],
    routes: Sequence[SolvedRoute],
) -> dict[str, list[str]]:
    """Per micro-hub over capacity: its farthest orders, enough to bring it back within."""
    overflow: dict[str, list[str]] = {}
    for hub_id, orders in _hub_orders(problem, routes).items():
        hub = problem.site(hub_id)
        total = size_of(orders)
        if total.fits(hub.capacity):
            continue
        bikes = [v for v in problem.fleet if v.depot == hub_id]
        travel = travels[keys[bikes[0].id]]
        here = places.site[hub_id]
        farthest = sorted(orders, key=lambda o: -int(travel.seconds[here, places.at[o.id]]))
        shed: list[str] = []
        for order in farthest:
            if total.fits(hub.capacity):
                break
            total = total - order.size
            shed.append(order.id)
        overflow[hub_id] = shed
    return overflow


def _without(
    routes: Sequence[SolvedRoute],
    removed: set[str],
    data: pyvrp.ProblemData,
    index: SolverIndex,
    problem: Problem,
    places: Places,
    profiles: Sequence[ProfileMatrices],
) -> list[SolvedRoute]:
    """The routes with some orders taken out, rescheduled by PyVRP (taking visits out never
    makes a route late: travel times obey the triangle inequality)."""
    kept: list[pyvrp.Route] = []
    for route in routes:
        if route.slot.slot.feeding:
            continue
        activities: list[pyvrp.Activity] = []
        for activity in route.activities[1:-1]:
            if activity.is_client() and index.client_order[activity.idx] in removed:
                continue
            if activity.is_shipment() and index.shipment_order[activity.idx] in removed:
                continue
            if activity.is_depot() and (not activities or activities[-1].is_depot()):
                continue  # a trip left empty
            activities.append(activity)
        while activities and activities[-1].is_depot():
            activities.pop()
        if activities:
            vehicle_type = index.vehicle_slots.index(route.slot)
            kept.append(pyvrp.Route(data, activities, vehicle_type))
    solution = pyvrp.Solution(data, kept)
    return read_routes(solution, index, problem, places, [p.travel for p in profiles])


# -- the plan ---------------------------------------------------------------------------------


def _unserved_reason(order: Order) -> str:
    if order.optional:
        return f"optional: serving it costs more than its penalty ({order.penalty:g} EUR)"
    return (
        "the fleet is too small for the day: every vehicle that could serve it is full or out "
        "of working time"
    )


def _number_vehicles(problem: Problem, routes: Sequence[SolvedRoute]) -> list[RoutePlan]:
    """Give each route its physical vehicle: the k-th route of a slot goes to vehicle k, so a
    vehicle's morning and afternoon routes (or its feeding run and deliveries) follow each
    other around its break. The vehicle's fixed cost is charged on its first route."""
    by_type: dict[str, dict[int, list[SolvedRoute]]] = defaultdict(lambda: defaultdict(list))
    for route in routes:
        by_type[route.slot.vehicle.id][route.slot.slot.window.start].append(route)
    plans: list[RoutePlan] = []
    for vehicle in problem.fleet:
        charged: set[int] = set()
        for _slot_start, slot_routes in sorted(by_type.get(vehicle.id, {}).items()):
            for number, route in enumerate(sorted(slot_routes, key=lambda r: r.visits[0].arrival)):
                first = number not in charged
                charged.add(number)
                hours = (route.visits[-1].arrival - route.visits[0].arrival) / 3600.0
                cost = (
                    (vehicle.fixed_cost if first else 0.0)
                    + vehicle.cost_per_km * route.distance_m / 1000.0
                    + vehicle.cost_per_hour * hours
                )
                plans.append(
                    RoutePlan(
                        vehicle_type=vehicle.id,
                        vehicle=f"{vehicle.id}-{number + 1}",
                        mode=vehicle.mode,
                        visits=route.visits,
                        distance_m=route.distance_m,
                        cost=round(cost, 2),
                        echelon=0 if route.slot.slot.feeding else 1,
                    )
                )
    return plans


def _shortest_km(
    problem: Problem,
    places: Places,
    keys: Mapping[str, ProfileKey],
    travels: Mapping[ProfileKey, Travel],
    routes: Sequence[RoutePlan],
) -> dict[str, float]:
    """The shortest feasible distances ISO 14083 allocates a round's emissions by, with the
    goods' mass, on the network of the vehicle that served them: per served order from its
    route's base (a shipment: from its pickup to its delivery), per micro-hub fed from the
    feeder's depot."""
    found: dict[str, float] = {}
    for route in routes:
        vehicle = problem.vehicle_type(route.vehicle_type)
        metres = travels[keys[vehicle.id]].metres
        base = places.site[vehicle.depot]
        for order_id in route.orders:
            start = places.origin.get(order_id, base)
            found[order_id] = float(metres[start, places.at[order_id]]) / 1000.0
        for visit in route.visits:
            if visit.action == "feed" and visit.site is not None:
                found[visit.site] = float(metres[base, places.site[visit.site]]) / 1000.0
    return found


def size_of(orders: Sequence[Order]) -> Size:
    total = NOTHING
    for order in orders:
        total = total + order.size
    return total
