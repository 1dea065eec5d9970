"""A Cetate problem as PyVRP data, and the index that maps PyVRP's numbers back to it.

Units: PyVRP works in integers. Time is whole seconds; distance whole metres; goods grams,
litres and parcels (demands rounded up, capacities down, so rounding never overloads a
vehicle); money 1e-5 euro, fine enough that a cargo bike's 0.02 euro/km still weighs.

Every order is optional for PyVRP: a required order carries a prize far above any route's
cost, so the solver serves all it can and the plan stays feasible when the fleet is too
small, with the orders it could not serve listed and explained instead of an infeasible plan.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
import pyvrp

from cetate.logistics.model import Order, Problem, Size, VehicleType, Window
from cetate.logistics.slots import Slot
from cetate.logistics.travel import UNREACHABLE, Places, Travel

MONEY_UNIT = 1e-5  # euros per cost unit
REQUIRED_PRIZE = 10_000.0  # euros: more than any route can cost in a day
DIMENSIONS = ("kg", "m3", "parcels")
SCALE = {"kg": 1000.0, "m3": 1000.0, "parcels": 1.0}
NO_LIMIT_UNITS = 10**12
ANY_RELOADS = int(np.iinfo(np.uint64).max)


def money(euros: float) -> int:
    return round(euros / MONEY_UNIT)


def used_dimensions(problem: Problem) -> tuple[str, ...]:
    """The dimensions some order has goods in (at least one, so PyVRP sees a load)."""
    found = tuple(d for d in DIMENSIONS if any(getattr(o.size, d) > 0 for o in problem.orders))
    return found or ("parcels",)


def demand(size: Size, dims: Sequence[str]) -> list[int]:
    return [math.ceil(getattr(size, d) * SCALE[d] - 1e-9) for d in dims]


def capacity(size: Size, dims: Sequence[str]) -> list[int]:
    units = []
    for d in dims:
        value = getattr(size, d)
        units.append(NO_LIMIT_UNITS if math.isinf(value) else math.floor(value * SCALE[d] + 1e-9))
    return units


@dataclass(frozen=True)
class VehicleSlot:
    vehicle: VehicleType
    slot: Slot
    profile: int


@dataclass
class SolverIndex:
    """PyVRP's numbering of depots, clients, shipments and vehicle types, mapped back."""

    depot_site: list[str] = field(default_factory=list)
    client_order: list[str] = field(default_factory=list)  # client -> order id
    client_window: list[Window | None] = field(default_factory=list)
    shipment_order: list[str] = field(default_factory=list)
    vehicle_slots: list[VehicleSlot] = field(default_factory=list)
    dims: tuple[str, ...] = ()


@dataclass(frozen=True)
class ProfileMatrices:
    travel: Travel
    closed_places: frozenset[int] = frozenset()  # places this profile may not serve

    def matrices(self) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
        seconds, metres = self.travel.seconds, self.travel.metres
        if self.closed_places:
            seconds, metres = seconds.copy(), metres.copy()
            closed = sorted(self.closed_places)
            for matrix in (seconds, metres):
                matrix[closed, :] = UNREACHABLE
                matrix[:, closed] = UNREACHABLE
                matrix[closed, closed] = 0
        return seconds, metres


def build_data(
    problem: Problem,
    places: Places,
    orders: Sequence[Order],
    vehicle_slots: Sequence[VehicleSlot],
    profiles: Sequence[ProfileMatrices],
) -> tuple[pyvrp.ProblemData, SolverIndex]:
    """PyVRP data over all places (unused ones cost nothing), for these orders and slots."""
    dims = used_dimensions(problem)
    index = SolverIndex(dims=dims)
    locations = pyvrp_locations(places)
    depots, depot_of = base_depots(problem, places, vehicle_slots, index)
    clients: list[pyvrp.Client] = []
    groups: list[pyvrp.ClientGroup] = []
    shipments: list[pyvrp.Shipment] = []
    for order in orders:
        prize = money(order.penalty if order.optional else REQUIRED_PRIZE)
        if order.kind == "shipment":
            assert order.origin is not None
            pick = order.origin.windows[0] if order.origin.windows else None
            drop = order.at.windows[0] if order.at.windows else None
            index.shipment_order.append(order.id)
            shipments.append(
                pyvrp.Shipment(
                    places.origin[order.id],
                    places.at[order.id],
                    pickup_tw_early=pick.start if pick else 0,
                    pickup_tw_late=pick.end if pick else UNREACHABLE,
                    pickup_service_duration=order.origin.service_s,
                    delivery_tw_early=drop.start if drop else 0,
                    delivery_tw_late=drop.end if drop else UNREACHABLE,
                    delivery_service_duration=order.at.service_s,
                    amount=demand(order.size, dims),
                    prize=prize,
                    required=False,
                    name=order.id,
                )
            )
            continue
        windows: list[Window | None] = list(order.at.windows) or [None]
        group: int | None = None
        if len(windows) > 1:
            # One client per window, exactly one of which may be visited.
            group = len(groups)
            groups.append(pyvrp.ClientGroup(required=False, name=order.id))
        amount = demand(order.size, dims)
        nothing = [0] * len(dims)
        for window in windows:
            if group is not None:
                groups[group].add_client(len(clients))
            index.client_order.append(order.id)
            index.client_window.append(window)
            clients.append(
                pyvrp.Client(
                    places.at[order.id],
                    delivery=amount if order.kind == "delivery" else nothing,
                    pickup=amount if order.kind == "pickup" else nothing,
                    service_duration=order.at.service_s,
                    tw_early=window.start if window else 0,
                    tw_late=window.end if window else UNREACHABLE,
                    prize=prize,
                    required=False,
                    group=group,
                    name=order.id,
                )
            )
    vehicle_types = [vehicle_type(entry, vehicle_slots, depot_of, dims) for entry in vehicle_slots]
    index.vehicle_slots.extend(vehicle_slots)
    distance_matrices, duration_matrices = profile_matrices(profiles)
    data = pyvrp.ProblemData(
        locations,
        clients,
        depots,
        vehicle_types,
        distance_matrices,
        duration_matrices,
        groups,
        shipments,
    )
    return data, index


def pyvrp_locations(places: Places) -> list[pyvrp.Location]:
    return [
        pyvrp.Location(float(lon), float(lat), name=name)
        for (lon, lat), name in zip(places.points, places.names, strict=True)
    ]


def base_depots(
    problem: Problem,
    places: Places,
    vehicle_slots: Sequence[VehicleSlot],
    index: SolverIndex,
) -> tuple[list[pyvrp.Depot], dict[str, int]]:
    """A PyVRP depot for every site a vehicle starts from or reloads at."""
    depot_of: dict[str, int] = {}
    depots: list[pyvrp.Depot] = []
    for slot in vehicle_slots:
        for site_id in (slot.vehicle.depot, *slot.vehicle.reload_at):
            if site_id not in depot_of:
                site = problem.site(site_id)
                depot_of[site_id] = len(depots)
                index.depot_site.append(site_id)
                depots.append(
                    pyvrp.Depot(
                        places.site[site_id],
                        tw_early=site.hours.start,
                        tw_late=site.hours.end,
                        service_duration=site.loading_s,
                        name=site_id,
                    )
                )
    return depots, depot_of


def vehicle_type(
    entry: VehicleSlot,
    vehicle_slots: Sequence[VehicleSlot],
    depot_of: dict[str, int],
    dims: Sequence[str],
) -> pyvrp.VehicleType:
    vehicle, slot = entry.vehicle, entry.slot
    # Both limits are the vehicle's day; each slot may use its share of it.
    max_km = min(vehicle.max_distance_km or math.inf, vehicle.range_km or math.inf) * slot.share
    slots_in_day = sum(1 for s in vehicle_slots if s.vehicle.id == vehicle.id)
    return pyvrp.VehicleType(
        num_available=vehicle.count,
        capacity=capacity(vehicle.capacity, dims),
        start_depot=depot_of[vehicle.depot],
        end_depot=depot_of[vehicle.depot],
        # The day's fixed cost shared by its slots: one slot alone must not look free.
        fixed_cost=money(vehicle.fixed_cost / slots_in_day),
        tw_early=slot.window.start,
        tw_late=slot.window.end,
        shift_duration=slot.max_work_s,
        max_distance=UNREACHABLE if math.isinf(max_km) else round(max_km * 1000),
        unit_distance_cost=max(1, money(vehicle.cost_per_km / 1000.0)),
        unit_duration_cost=money(vehicle.cost_per_hour / 3600.0),
        profile=entry.profile,
        reload_depots=[depot_of[s] for s in vehicle.reload_at],
        max_reloads=(vehicle.max_trips - 1) if vehicle.max_trips else ANY_RELOADS,
        name=f"{vehicle.id}@{slot.window.start}",
    )


def profile_matrices(profiles: Sequence[ProfileMatrices]) -> tuple[list[Any], list[Any]]:
    """(distance matrices, duration matrices), one of each per profile (int64 arrays; typed
    Any because PyVRP's stubs give matrices a shape type numpy cannot match)."""
    distances, durations = [], []
    for profile in profiles:
        seconds, metres = profile.matrices()
        durations.append(seconds)
        distances.append(metres)
    return distances, durations
