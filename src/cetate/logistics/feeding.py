"""The first echelon: feeder vans bring the bikes' goods from their depot to the micro-hubs.

Once the bikes' routes are known, each micro-hub needs the goods its bikes will deliver, by
its ready_by time. The goods are packed into drops no bigger than the smallest feeder serving
that hub, and a small PyVRP problem sends the feeders round (several runs each if needed).
A drop no feeder can bring in time leaves its orders unassigned, with that reason.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

import pyvrp
from pyvrp.stop import StoppingCriterion

from cetate.logistics.clock import format_clock
from cetate.logistics.model import NO_LIMIT, Order, Problem, Size
from cetate.logistics.slots import Slot
from cetate.logistics.solution import SolvedRoute, feasible_part, read_routes
from cetate.logistics.solver_model import (
    REQUIRED_PRIZE,
    ProfileMatrices,
    SolverIndex,
    VehicleSlot,
    base_depots,
    demand,
    money,
    profile_matrices,
    pyvrp_locations,
    used_dimensions,
    vehicle_type,
)
from cetate.logistics.travel import Places, ProfileKey, Travel


@dataclass(frozen=True)
class Drop:
    hub: str
    amount: Size
    orders: tuple[str, ...]


@dataclass(frozen=True)
class Feeding:
    routes: list[SolvedRoute]
    unfed: dict[str, str]  # order id -> why its hub did not get it


def hub_ready_by(problem: Problem, hub_id: str) -> int:
    hub = problem.site(hub_id)
    return hub.ready_by if hub.ready_by is not None else hub.hours.start


def pack_drops(problem: Problem, hub_orders: Mapping[str, Sequence[Order]]) -> list[Drop]:
    """Each hub's goods in drops that fit every feeder of that hub (first fit, big first)."""
    drops: list[Drop] = []
    for hub_id, orders in hub_orders.items():
        feeders = [v for v in problem.fleet if hub_id in v.feeds]
        limit = NO_LIMIT
        for v in feeders:
            limit = Size(
                min(limit.kg, v.capacity.kg),
                min(limit.m3, v.capacity.m3),
                min(limit.parcels, v.capacity.parcels),
            )
        bins: list[tuple[Size, list[str]]] = []
        for order in sorted(orders, key=lambda o: (-o.size.kg, -o.size.m3, o.id)):
            for i, (amount, ids) in enumerate(bins):
                if (amount + order.size).fits(limit):
                    bins[i] = (amount + order.size, [*ids, order.id])
                    break
            else:
                bins.append((order.size, [order.id]))
        drops.extend(Drop(hub_id, amount, tuple(ids)) for amount, ids in bins)
    return drops


def plan_feeding(
    problem: Problem,
    places: Places,
    drops: Sequence[Drop],
    keys: Mapping[str, ProfileKey],
    travels: Mapping[ProfileKey, Travel],
    slots: Mapping[str, Sequence[Slot]],
    stop: StoppingCriterion,
    seed: int,
) -> Feeding:
    vehicle_slots: list[VehicleSlot] = []
    profiles: list[ProfileMatrices] = []
    profile_of: dict[ProfileKey, int] = {}
    for vehicle in problem.fleet:
        if not vehicle.feeds:
            continue
        key = keys[vehicle.id]
        if key not in profile_of:
            profile_of[key] = len(profiles)
            profiles.append(ProfileMatrices(travels[key]))
        for slot in slots[vehicle.id]:
            if slot.feeding:
                # A feeder reloads at its own depot between runs.
                shuttle = replace(vehicle, reload_at=(vehicle.depot,))
                vehicle_slots.append(VehicleSlot(shuttle, slot, profile_of[key]))
    if not drops:
        return Feeding([], {})
    dims = used_dimensions(problem)
    index = SolverIndex(dims=dims)
    depots, depot_of = base_depots(problem, places, vehicle_slots, index)
    clients = []
    for drop in drops:
        hub = problem.site(drop.hub)
        clients.append(
            pyvrp.Client(
                places.site[drop.hub],
                delivery=demand(drop.amount, dims),
                service_duration=hub.loading_s,
                tw_early=hub.hours.start,
                tw_late=hub_ready_by(problem, drop.hub) - hub.loading_s,
                prize=money(REQUIRED_PRIZE),
                required=False,
                name=drop.hub,
            )
        )
    distances, durations = profile_matrices(profiles)
    data = pyvrp.ProblemData(
        pyvrp_locations(places),
        clients,
        depots,
        [vehicle_type(s, vehicle_slots, depot_of, dims) for s in vehicle_slots],
        distances,
        durations,
    )
    index.vehicle_slots.extend(vehicle_slots)
    result = pyvrp.solve(data, stop, seed=seed, display=False)
    best = feasible_part(result.best, data)
    routes = read_routes(
        best,
        index,
        problem,
        places,
        [p.travel for p in profiles],
        feed_amounts=[d.amount for d in drops],
        feed_sites=[d.hub for d in drops],
    )
    served = {a.idx for r in best.routes() for a in r.schedule() if a.is_client()}
    unfed: dict[str, str] = {}
    for i, drop in enumerate(drops):
        if i in served:
            continue
        reason = (
            f"its micro-hub {drop.hub} could not be supplied by "
            f"{format_clock(hub_ready_by(problem, drop.hub))}: the feeders have no room or time "
            f"for a drop of {drop.amount.kg:g} kg"
        )
        for order_id in drop.orders:
            unfed[order_id] = reason
    return Feeding(routes, unfed)
