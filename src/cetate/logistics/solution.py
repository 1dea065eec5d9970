"""PyVRP's routes read back as Cetate routes: visits with times, loads and distances.

Loads are Cetate's own bookkeeping, in the problem's units: at the start of each trip the
vehicle takes on every delivery of that trip; a delivery hands its goods over, a pickup (a
return) takes them on, a shipment is taken on at its origin and handed over at its
destination; a reload unloads the returns and loads the next trip.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pyvrp

from cetate.logistics.model import NOTHING, Order, Problem, Size, Visit, VisitAction
from cetate.logistics.solver_model import SolverIndex, VehicleSlot
from cetate.logistics.travel import Places, Travel


@dataclass(frozen=True)
class Stop:
    """One PyVRP activity, named in Cetate's terms."""

    action: VisitAction
    place: int
    order: str | None
    site: str | None
    amount: Size
    activity: pyvrp.ScheduledActivity


@dataclass(frozen=True)
class SolvedRoute:
    """A route before vehicles are numbered: its slot, visits and distance."""

    slot: VehicleSlot
    visits: tuple[Visit, ...]
    distance_m: float
    activities: tuple[pyvrp.Activity, ...]  # to rebuild it without some orders


def read_routes(
    solution: pyvrp.Solution,
    index: SolverIndex,
    problem: Problem,
    places: Places,
    travel_of_profile: Sequence[Travel],
    feed_amounts: Sequence[Size] | None = None,
    feed_sites: Sequence[str] | None = None,
) -> list[SolvedRoute]:
    """``feed_amounts``/``feed_sites``: for the feeding stage, each client is a drop of goods
    at a micro-hub, not an order."""
    orders = {o.id: o for o in problem.orders}
    routes = []
    for route in solution.routes():
        slot = index.vehicle_slots[route.vehicle_type()]
        travel = travel_of_profile[slot.profile]
        schedule = route.schedule()
        stops = [
            _stop(a, i, len(schedule), index, places, orders, feed_amounts, feed_sites)
            for i, a in enumerate(schedule)
        ]
        visits = _visits(stops, travel, places)
        routes.append(
            SolvedRoute(
                slot,
                tuple(visits),
                float(sum(v.distance_m for v in visits)),
                tuple(pyvrp.Activity(a.type, a.idx) for a in schedule),
            )
        )
    return routes


def _stop(
    activity: pyvrp.ScheduledActivity,
    position: int,
    length: int,
    index: SolverIndex,
    places: Places,
    orders: dict[str, Order],
    feed_amounts: Sequence[Size] | None,
    feed_sites: Sequence[str] | None,
) -> Stop:
    if activity.is_depot():
        site = index.depot_site[activity.idx]
        action: VisitAction = (
            "start" if position == 0 else "end" if position == length - 1 else "reload"
        )
        return Stop(action, places.site[site], None, site, NOTHING, activity)
    if activity.is_client() and feed_amounts is not None and feed_sites is not None:
        hub = feed_sites[activity.idx]
        return Stop("feed", places.site[hub], None, hub, feed_amounts[activity.idx], activity)
    if activity.is_client():
        order = orders[index.client_order[activity.idx]]
        action = "deliver" if order.kind == "delivery" else "pickup"
        return Stop(action, places.at[order.id], order.id, None, order.size, activity)
    order = orders[index.shipment_order[activity.idx]]
    if activity.is_pickup():
        return Stop("pickup", places.origin[order.id], order.id, None, order.size, activity)
    return Stop("deliver", places.at[order.id], order.id, None, order.size, activity)


def _visits(stops: list[Stop], travel: Travel, places: Places) -> list[Visit]:
    visits: list[Visit] = []
    load = NOTHING
    previous: Stop | None = None
    departure = 0
    for i, stop in enumerate(stops):
        a = stop.activity
        if stop.action in ("start", "reload"):
            load = _trip_load(stops, i)
        elif stop.action in ("deliver", "feed"):
            load = load - stop.amount
        elif stop.action == "pickup":
            load = load + stop.amount
        elif stop.action == "end":
            load = NOTHING
        if previous is None:
            travel_s, distance = 0, 0.0
            arrival = a.start_time
        else:
            travel_s = int(travel.seconds[previous.place, stop.place])
            distance = float(travel.metres[previous.place, stop.place])
            arrival = departure + travel_s
        departure = a.end_time
        lon, lat = places.points[stop.place]
        visits.append(
            Visit(
                action=stop.action,
                lon=float(lon),
                lat=float(lat),
                arrival=arrival,
                start=a.start_time,
                departure=departure,
                load=load,
                travel_s=travel_s,
                distance_m=distance,
                order=stop.order,
                site=stop.site,
                amount=stop.amount,
            )
        )
        previous = stop
    return _merge_feeds(visits)


def _trip_load(stops: list[Stop], at: int) -> Size:
    """What a vehicle takes on at a base: the deliveries (and feeds) of the trip it starts.
    A shipment's goods come on board at its origin, not at the base."""
    load = NOTHING
    collected: set[str] = set()
    for stop in stops[at + 1 :]:
        if stop.action in ("reload", "end"):
            break
        if stop.action == "pickup" and stop.order is not None:
            collected.add(stop.order)
        elif stop.action in ("deliver", "feed") and stop.order not in collected:
            load = load + stop.amount
    return load


def _merge_feeds(visits: list[Visit]) -> list[Visit]:
    """Drops at one hub in a row are one visit (PyVRP sees one client per truckload)."""
    merged: list[Visit] = []
    for visit in visits:
        last = merged[-1] if merged else None
        if (
            last is not None
            and visit.action == "feed"
            and last.action == "feed"
            and last.site == visit.site
            and visit.travel_s == 0
        ):
            merged[-1] = Visit(
                action="feed",
                lon=last.lon,
                lat=last.lat,
                arrival=last.arrival,
                start=last.start,
                departure=visit.departure,
                load=visit.load,
                travel_s=last.travel_s,
                distance_m=last.distance_m,
                site=last.site,
                amount=last.amount + visit.amount,
            )
        else:
            merged.append(visit)
    return merged


def feasible_part(solution: pyvrp.Solution, data: pyvrp.ProblemData) -> pyvrp.Solution:
    """The solution itself when feasible; else only its feasible routes (a route over capacity
    or late is never handed to a driver)."""
    if solution.is_feasible():
        return solution
    kept = [r for r in solution.routes() if r.is_feasible()]
    return pyvrp.Solution(
        data, [pyvrp.Route(data, _inner_activities(r), r.vehicle_type()) for r in kept]
    )


def _inner_activities(route: pyvrp.Route) -> list[pyvrp.Activity]:
    return [pyvrp.Activity(a.type, a.idx) for a in route.schedule()[1:-1]]
