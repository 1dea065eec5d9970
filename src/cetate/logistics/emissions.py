"""Greenhouse-gas emissions of a plan per ISO 14083:2023 and the GLEC Framework: well-to-wheel
CO2e per vehicle-km, allocated to the orders by tonne-kilometres.

1. Each route emits its kilometres times its vehicle's well-to-wheel factor. Fuels have a factor
   per vehicle-km split, as their source splits it, into tank-to-wheel (what ISO 14083 calls
   operation emissions) and well-to-tank (energy provision). Electric vehicles have the kWh they
   take from the grid per km, times the grid's lifecycle intensity per kWh generated, divided by
   the share of the generated electricity that survives transmission and distribution.
2. A delivery or collection round (echelon 1) allocates its emissions to its orders by mass times
   the shortest feasible distance between the round's base and the order's stop: the GLEC rule
   for collection and delivery rounds, where the driven distance depends on the other stops.
3. A feeder route (echelon 0) allocates its emissions to the micro-hubs it supplies by the mass
   dropped times the shortest feasible depot-to-hub distance; each hub's share then goes to the
   orders that left the hub on bikes, by their mass (the depot-to-hub distance is the same for
   all of them).

The default factors, their sources and what ISO 14083 asks that this module does not cover are in
docs/emission-factors.md. Everything here is pure: no I/O, no network, no city.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from types import MappingProxyType
from typing import Any, Literal, get_args

from cetate.errors import BadRequestData
from cetate.logistics.model import Order, Plan, Problem, RoutePlan, Size, VehicleKind, VehicleType

Carrier = Literal["diesel", "petrol", "electricity", "human"]
CARRIERS: tuple[str, ...] = get_args(Carrier)


@dataclass(frozen=True)
class Factor:
    """One row of the emission table.

    Fuels: kg CO2e per vehicle-km, tank-to-wheel plus well-to-tank. Electricity: kWh taken from
    the grid (at the charger) per km; the grid turns it into CO2e. Human power: nothing counted.
    """

    key: str
    carrier: Carrier
    ttw_kg_per_km: float = 0.0  # tank-to-wheel: burning the fuel (ISO 14083 "operation")
    wtt_kg_per_km: float = 0.0  # well-to-tank: producing and delivering it ("energy provision")
    kwh_per_km: float = 0.0  # electricity only
    source: str = ""
    year: int | None = None

    def wtw_kg_per_km(self, grid: Grid) -> float:
        """Well-to-wheel kg CO2e per vehicle-km."""
        if self.carrier == "electricity":
            return self.kwh_per_km * grid.kg_per_kwh
        return self.ttw_kg_per_km + self.wtt_kg_per_km


@dataclass(frozen=True)
class Grid:
    """The electricity an electric vehicle charges with."""

    g_per_kwh: float  # lifecycle g CO2e per kWh generated
    source: str
    year: int | None
    loss_share: float  # of the electricity fed into the grid, the share lost before the plug
    loss_source: str

    @property
    def kg_per_kwh(self) -> float:
        """Per kWh taken at the charger: each needs 1 / (1 - losses) kWh generated."""
        return self.g_per_kwh / 1000.0 / (1.0 - self.loss_share)


@dataclass(frozen=True)
class Factors:
    table: Mapping[str, Factor]
    grid: Grid
    kind_default: Mapping[VehicleKind, str]  # the factor of a vehicle that names none


_DESNZ_2024 = "UK DESNZ/Defra GHG conversion factors 2024 (v1.1, flat file)"

DEFAULT_TABLE: tuple[Factor, ...] = (
    Factor(
        "diesel_van",
        "diesel",
        ttw_kg_per_km=0.25023,
        wtt_kg_per_km=0.06128,
        source=f"{_DESNZ_2024}: Delivery vehicles > Vans > Average (up to 3.5 tonnes) > Diesel, km"
        " (TTW); WTT- delivery vehs & freight > WTT- vans > same row (WTT)",
        year=2024,
    ),
    Factor(
        "petrol_van",
        "petrol",
        ttw_kg_per_km=0.22095,
        wtt_kg_per_km=0.06183,
        source=f"{_DESNZ_2024}: Delivery vehicles > Vans > Average (up to 3.5 tonnes) > Petrol, km"
        " (TTW); WTT- delivery vehs & freight > WTT- vans > same row (WTT)",
        year=2024,
    ),
    Factor(
        "e_van",
        "electricity",
        kwh_per_km=0.3528,
        source=f"{_DESNZ_2024}: SECR kWh UK electricity for EVs > Vans > Average (up to 3.5 tonnes)"
        " > Battery Electric Vehicle, km",
        year=2024,
    ),
    Factor(
        "e_cargo_bike",
        "electricity",
        kwh_per_km=0.023,
        source="Pling Transport and Velove for the Swedish Energy Agency, Gothenburg, March 2017:"
        " Velove Armadillo, 0.23 kWh per Swedish mil (10 km), measured at the charger",
        year=2017,
    ),
    Factor(
        "cargo_bike",
        "human",
        source="Pedal power: no energy carrier, so no operation or energy-provision emissions"
        " under ISO 14083:2023 (the rider's food is outside its scope)",
        year=2023,
    ),
    Factor(
        "car",
        "petrol",
        ttw_kg_per_km=0.16450,
        wtt_kg_per_km=0.04599,
        source=f"{_DESNZ_2024}: Passenger vehicles > Cars (by size) > Average car > Petrol, km"
        " (TTW); WTT- pass vehs & travel- land > WTT- cars (by size) > same row (WTT)",
        year=2024,
    ),
    Factor(
        "car_diesel",
        "diesel",
        ttw_kg_per_km=0.16984,
        wtt_kg_per_km=0.04146,
        source=f"{_DESNZ_2024}: Passenger vehicles > Cars (by size) > Average car > Diesel, km"
        " (TTW); WTT- pass vehs & travel- land > WTT- cars (by size) > same row (WTT)",
        year=2024,
    ),
)

DEFAULT_GRID = Grid(
    g_per_kwh=251.33,
    source="Ember, Yearly Electricity Data Europe: Romania, lifecycle carbon intensity of"
    " generation, 2024 (as published by Our World in Data, carbon-intensity-electricity)",
    year=2024,
    # Network losses (consumul propriu tehnologic in retele si statii) / electricity resources,
    # January-July 2024, from INS's provisional energy statistics: 2.940 / 38.824 TWh.
    loss_share=0.076,
    loss_source="INS (Romanian statistics institute), electricity resources and use, 1 January"
    " - 31 July 2024 (derived from the 2025 release): network losses 2.940 of 38.824 TWh",
)

DEFAULT_KEYS: Mapping[VehicleKind, str] = MappingProxyType(
    {
        "cargo_bike": "cargo_bike",
        "e_cargo_bike": "e_cargo_bike",
        "e_van": "e_van",
        "diesel_van": "diesel_van",
        "car": "car",
    }
)

DEFAULT_FACTORS = Factors(
    table=MappingProxyType({factor.key: factor for factor in DEFAULT_TABLE}),
    grid=DEFAULT_GRID,
    kind_default=DEFAULT_KEYS,
)


# -- overrides from the fleet file ------------------------------------------------------------

_ROOT = "emission_factors"
_GRID_KEYS = ("grid_g_per_kwh", "grid_source", "grid_year", "grid_loss_share", "grid_loss_source")
_FIELDS = ("carrier", "ttw_kg_per_km", "wtt_kg_per_km", "kwh_per_km", "source", "year")
_NUMBERS_OF: Mapping[str, tuple[str, ...]] = {
    "diesel": ("ttw_kg_per_km", "wtt_kg_per_km"),
    "petrol": ("ttw_kg_per_km", "wtt_kg_per_km"),
    "electricity": ("kwh_per_km",),
    "human": (),
}


def factors_from_dict(raw: Mapping[str, Any] | None, base: Factors = DEFAULT_FACTORS) -> Factors:
    """``base`` with the fleet file's ``emission_factors:`` mapping applied: any row of the table
    (or a new one, for vehicles whose ``emission_factor`` names it) and the grid. A changed number
    without its own ``source`` is marked as set in the fleet file, so no default's source is
    ever shown beside a number it did not give."""
    if raw is None:
        return base
    if not isinstance(raw, Mapping):
        raise BadRequestData(f"{_ROOT}: must be a mapping of factor keys (and grid_* settings)")
    table = dict(base.table)
    for key, value in raw.items():
        if not isinstance(key, str) or not key:
            raise BadRequestData(f"{_ROOT}: {key!r} is not a factor key")
        if key.startswith("grid_"):
            if key not in _GRID_KEYS:
                raise BadRequestData(
                    f"{_ROOT}.{key}: unknown grid setting (expected one of {', '.join(_GRID_KEYS)})"
                )
            continue
        table[key] = _factor_from(key, value, table.get(key))
    return Factors(MappingProxyType(table), _grid_from(raw, base.grid), base.kind_default)


def _factor_from(key: str, raw: Any, old: Factor | None) -> Factor:
    path = f"{_ROOT}.{key}"
    if not isinstance(raw, Mapping):
        raise BadRequestData(f"{path}: must be a mapping of {', '.join(_FIELDS)}")
    for name in raw:
        if name not in _FIELDS:
            raise BadRequestData(
                f"{path}.{name}: unknown field (expected one of {', '.join(_FIELDS)})"
            )
    carrier = raw.get("carrier", old.carrier if old else None)
    if carrier is None:
        raise BadRequestData(f"{path}.carrier: required for a new factor ({', '.join(CARRIERS)})")
    if carrier not in CARRIERS:
        raise BadRequestData(f"{path}.carrier: must be one of {', '.join(CARRIERS)}")
    if old is not None and old.carrier != carrier:
        old = None  # another energy carrier: none of the old numbers apply
    numbers = _NUMBERS_OF[carrier]
    values: dict[str, float] = {}
    for name in ("ttw_kg_per_km", "wtt_kg_per_km", "kwh_per_km"):
        if name in raw and name not in numbers:
            use = f"use {' and '.join(numbers)}" if numbers else "it has no numbers"
            raise BadRequestData(f"{path}.{name}: not used for a {carrier} factor ({use})")
        if name in raw:
            values[name] = _number(raw[name], f"{path}.{name}", positive=name == "kwh_per_km")
        elif name in numbers and old is None:
            raise BadRequestData(f"{path}.{name}: required for a new {carrier} factor")
    # A number set here is not the default's: without a source of its own, it is the fleet's.
    kept = old if old is not None and not values else None
    source = kept.source if kept else f"fleet file ({path})"
    year = kept.year if kept else None
    return Factor(
        key=key,
        carrier=carrier,
        ttw_kg_per_km=values.get("ttw_kg_per_km", old.ttw_kg_per_km if old else 0.0),
        wtt_kg_per_km=values.get("wtt_kg_per_km", old.wtt_kg_per_km if old else 0.0),
        kwh_per_km=values.get("kwh_per_km", old.kwh_per_km if old else 0.0),
        source=_text(raw["source"], f"{path}.source") if "source" in raw else source,
        year=_year(raw["year"], f"{path}.year") if "year" in raw else year,
    )


def _grid_from(raw: Mapping[str, Any], old: Grid) -> Grid:
    intensity = old.g_per_kwh
    source, year = old.source, old.year
    if "grid_g_per_kwh" in raw:
        intensity = _number(raw["grid_g_per_kwh"], f"{_ROOT}.grid_g_per_kwh", positive=False)
        source, year = f"fleet file ({_ROOT}.grid_g_per_kwh)", None
    if "grid_source" in raw:
        source = _text(raw["grid_source"], f"{_ROOT}.grid_source")
    if "grid_year" in raw:
        year = _year(raw["grid_year"], f"{_ROOT}.grid_year")
    loss, loss_source = old.loss_share, old.loss_source
    if "grid_loss_share" in raw:
        loss = _number(raw["grid_loss_share"], f"{_ROOT}.grid_loss_share", positive=False)
        if loss >= 1.0:
            raise BadRequestData(
                f"{_ROOT}.grid_loss_share: must be a share from 0 up to (not including) 1"
            )
        loss_source = f"fleet file ({_ROOT}.grid_loss_share)"
    if "grid_loss_source" in raw:
        loss_source = _text(raw["grid_loss_source"], f"{_ROOT}.grid_loss_source")
    return Grid(intensity, source, year, loss, loss_source)


def _number(raw: Any, path: str, *, positive: bool) -> float:
    # bool is an int in Python; "yes" in a YAML file is no factor.
    ok = isinstance(raw, int | float) and not isinstance(raw, bool) and math.isfinite(raw)
    if not ok or raw < 0 or (positive and raw == 0):
        raise BadRequestData(
            f"{path}: must be a {'positive' if positive else 'non-negative'} number"
        )
    return float(raw)


def _text(raw: Any, path: str) -> str:
    if not isinstance(raw, str) or not raw.strip():
        raise BadRequestData(f"{path}: must be a non-empty text")
    return raw.strip()


def _year(raw: Any, path: str) -> int:
    if not isinstance(raw, int) or isinstance(raw, bool):
        raise BadRequestData(f"{path}: must be a whole number (the year the data describe)")
    return raw


# -- a route's emissions ----------------------------------------------------------------------


def factor_of(vehicle: VehicleType, factors: Factors) -> Factor:
    """The row a vehicle type uses: the one it names, or its kind's default."""
    key = vehicle.emission_factor or factors.kind_default[vehicle.kind]
    found = factors.table.get(key)
    if found is None:
        known = ", ".join(sorted(factors.table))
        raise BadRequestData(f"vehicle type {vehicle.id}: no emission factor {key!r} ({known})")
    return found


def vehicle_km_factor(vehicle: VehicleType, factors: Factors) -> float:
    """Well-to-wheel kg CO2e per km of this vehicle type."""
    return factor_of(vehicle, factors).wtw_kg_per_km(factors.grid)


def route_co2e_kg(route: RoutePlan, vehicle: VehicleType, factors: Factors) -> float:
    """Kilometres driven times the factor: the default factors are per vehicle-km, averaged over
    loads, so an emptier or fuller van emits the same per km here."""
    return route.distance_m / 1000.0 * vehicle_km_factor(vehicle, factors)


# -- allocation to orders ---------------------------------------------------------------------

# What one allocation splits: who gets a share, the goods, the km they are weighted by.
Item = tuple[str, Size, float]


def allocate(
    plan: Plan,
    problem: Problem,
    factors: Factors,
    shortest_km: Mapping[str, float],
    hub_of_order: Mapping[str, str],
) -> Plan:
    """The plan with every route's CO2e and every served order's share of it.

    ``shortest_km``: per served order, the shortest feasible distance in km between its route's
    base and its stop on that vehicle's network (only the planner knows the network); for a
    shipment, between its pickup and its delivery. A micro-hub's id may be given too: the
    depot-to-hub distance for feeders, which otherwise use the distance driven to the hub since
    the trip left its base. ``hub_of_order``: the micro-hub each bike order left from, for the
    hubs a feeder supplies.

    The orders' shares add up to the routes' total, except where nothing can take them (a route
    with distance and no orders, a hub fed for no orders): a note then says how much is left out.
    """
    orders = {order.id: order for order in problem.orders}
    notes = list(plan.notes)
    routes = tuple(
        replace(
            route, co2e_kg=route_co2e_kg(route, problem.vehicle_type(route.vehicle_type), factors)
        )
        for route in plan.routes
    )
    shares: dict[str, float] = defaultdict(float)
    to_hubs: dict[str, float] = defaultdict(float)
    for route in routes:
        target = to_hubs if route.echelon == 0 else shares
        _add_split(route.co2e_kg, _items(route, orders, shortest_km), target, route.vehicle, notes)

    served = {order_id for route in routes if route.echelon != 0 for order_id in route.orders}
    for hub, co2e_kg in sorted(to_hubs.items()):
        left = sorted(o for o in served if hub_of_order.get(o) == hub)
        # The depot-to-hub distance is the same for each of them: their mass alone decides.
        items = [(order_id, orders[order_id].size, 1.0) for order_id in left]
        _add_split(co2e_kg, items, shares, f"feeders of micro-hub {hub}", notes)
    return replace(plan, routes=routes, order_co2e_kg=dict(shares), notes=tuple(notes))


def intensity_g_per_tkm(plan: Plan, problem: Problem, shortest_km: Mapping[str, float]) -> float:
    """The plan's emission intensity as ISO 14083 reports it: its routes' CO2e in grams over its
    transport activity in tonne-km (each order's mass times its shortest feasible distance, plus
    the goods fed to micro-hubs times the depot-to-hub distance). NaN when there is no activity.
    Call it on an allocated plan: it reads the routes' co2e_kg."""
    orders = {order.id: order for order in problem.orders}
    tonne_km = sum(
        size.kg / 1000.0 * km
        for route in plan.routes
        for _, size, km in _items(route, orders, shortest_km)
    )
    if tonne_km <= 0.0:
        return math.nan
    return 1000.0 * sum(route.co2e_kg for route in plan.routes) / tonne_km


def _items(
    route: RoutePlan, orders: Mapping[str, Order], shortest_km: Mapping[str, float]
) -> list[Item]:
    """What a route's CO2e is split by: a feeder's drops, or a round's orders."""
    if route.echelon == 0:
        return _feeder_items(route, shortest_km)
    return [
        (order_id, _order(orders, order_id).size, _distance(shortest_km, order_id))
        for order_id in dict.fromkeys(route.orders)  # a shipment has two visits
    ]


def _feeder_items(route: RoutePlan, shortest_km: Mapping[str, float]) -> list[Item]:
    """One item per drop: the hub, the goods, the depot-to-hub distance."""
    items: list[Item] = []
    driven_m = 0.0
    for visit in route.visits:
        if visit.action in ("start", "reload"):
            driven_m = 0.0  # a trip leaves its base loaded
            continue
        driven_m += visit.distance_m
        if visit.action == "feed" and visit.site is not None:
            km = shortest_km.get(visit.site, driven_m / 1000.0)
            items.append((visit.site, visit.amount, km))
    return items


def _add_split(
    co2e_kg: float, items: Sequence[Item], into: dict[str, float], who: str, notes: list[str]
) -> None:
    """Share ``co2e_kg`` among the items by tonne-km, in ``into``. Tonne-km needs every item's
    mass, and shares only add up in one unit (3 kg and 2 parcels have no common measure), so when
    a mass is missing the whole operation falls back: to parcel-km if every item has parcels, else
    to one consignment each times its distance, and to equal shares when none has a distance."""
    if not items:
        if co2e_kg > 0.0:
            notes.append(f"{who}: {co2e_kg:.3f} kg CO2e with no orders to allocate it to")
        return
    if all(size.kg > 0.0 for _, size, _ in items):
        weights = [size.kg / 1000.0 * km for _, size, km in items]
        unit = "tonne-km"
    elif all(size.parcels > 0.0 for _, size, _ in items):
        weights = [size.parcels * km for _, size, km in items]
        unit = "parcel-km"
    else:
        weights = [km for _, _, km in items]
        unit = "consignment-km"
    total = sum(weights)
    if total <= 0.0:
        weights, total, unit = [1.0] * len(items), float(len(items)), "equal shares"
    if unit != "tonne-km":
        notes.append(f"{who}: not every consignment has a mass; its CO2e is allocated by {unit}")
    for (name, _, _), weight in zip(items, weights, strict=True):
        into[name] += co2e_kg * weight / total


def _order(orders: Mapping[str, Order], order_id: str) -> Order:
    found = orders.get(order_id)
    if found is None:
        raise ValueError(f"the plan serves order {order_id!r}, which the problem does not have")
    return found


def _distance(shortest_km: Mapping[str, float], order_id: str) -> float:
    km = shortest_km.get(order_id)
    if km is None or not math.isfinite(km) or km < 0.0:
        raise ValueError(f"no shortest feasible distance for order {order_id!r}")
    return km
