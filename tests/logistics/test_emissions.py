"""Emissions per ISO 14083 / GLEC on small plans built by hand: the factor table and its
overrides, a route's CO2e, allocation to orders by tonne-km (feeders through their micro-hubs),
the fallbacks for orders without mass, and the plan's intensity."""

from __future__ import annotations

import math
from typing import Any, get_args

import pytest

from cetate.errors import BadRequestData
from cetate.logistics.emissions import (
    DEFAULT_FACTORS,
    DEFAULT_TABLE,
    Factors,
    allocate,
    factors_from_dict,
    intensity_g_per_tkm,
    route_co2e_kg,
    vehicle_km_factor,
)
from cetate.logistics.model import (
    NOTHING,
    Mode,
    Order,
    Plan,
    Problem,
    RoutePlan,
    Site,
    Size,
    Stop,
    VehicleKind,
    VehicleType,
    Visit,
)

# Romania 2024 per Ember, over the 7.6% the grid loses before the plug (kg per kWh charged).
GRID_KG_PER_KWH = 0.25133 / (1 - 0.076)
DIESEL_VAN = 0.25023 + 0.06128
E_VAN = 0.3528 * GRID_KG_PER_KWH
E_CARGO_BIKE = 0.023 * GRID_KG_PER_KWH


def vehicle(type_id: str, kind: VehicleKind, depot: str, **extra: Any) -> VehicleType:
    return VehicleType(type_id, kind, 1, depot, Size(500, 5, 100), **extra)


def order(order_id: str, kg: float, parcels: float = 1.0) -> Order:
    return Order(order_id, "delivery", Stop(25.6, 45.65), Size(kg, 0.1, parcels))


def problem(*orders: Order) -> Problem:
    return Problem(
        sites=(
            Site("depot", "depot", 25.55, 45.67),
            Site("h1", "microhub", 25.59, 45.64),
            Site("h2", "microhub", 25.60, 45.65),
        ),
        fleet=(
            vehicle("van", "diesel_van", "depot"),
            vehicle("evan", "e_van", "depot", feeds=("h1", "h2")),
            vehicle("ebike", "e_cargo_bike", "h1"),
            vehicle("bike", "cargo_bike", "h2"),
            vehicle("taxi", "car", "depot", emission_factor="car_diesel"),
        ),
        orders=orders,
    )


def visit(
    action: Any, km: float = 0.0, order: str | None = None, site: str | None = None, kg: float = 0
) -> Visit:
    amount = Size(kg, 0, 0) if kg else NOTHING
    return Visit(action, 25.6, 45.65, 0, 0, 0, NOTHING, 0, km * 1000.0, order, site, amount)


def route(type_id: str, *visits: Visit, mode: Mode = "drive", echelon: int = 1) -> RoutePlan:
    distance_m = sum(v.distance_m for v in visits)
    return RoutePlan(type_id, f"{type_id}-1", mode, visits, distance_m, 0.0, echelon=echelon)


def plan(*routes: RoutePlan) -> Plan:
    return Plan("test", routes, (), {}, seed=0, seconds=0.0)


# -- the table -----------------------------------------------------------------------------------


def test_every_default_factor_has_a_source_and_a_year() -> None:
    for factor in DEFAULT_TABLE:
        assert factor.source and factor.year, factor.key
    grid = DEFAULT_FACTORS.grid
    assert grid.source and grid.year == 2024 and grid.loss_source


def test_every_vehicle_kind_has_a_default_factor() -> None:
    for kind in get_args(VehicleKind):
        assert DEFAULT_FACTORS.kind_default[kind] in DEFAULT_FACTORS.table


def test_fuel_factors_are_tank_to_wheel_plus_well_to_tank() -> None:
    van = vehicle("van", "diesel_van", "depot")
    assert vehicle_km_factor(van, DEFAULT_FACTORS) == pytest.approx(DIESEL_VAN)
    car = vehicle("car", "car", "depot")
    assert vehicle_km_factor(car, DEFAULT_FACTORS) == pytest.approx(0.16450 + 0.04599)


def test_electric_factors_are_kwh_times_the_grid_with_its_losses() -> None:
    evan = vehicle("evan", "e_van", "depot")
    assert vehicle_km_factor(evan, DEFAULT_FACTORS) == pytest.approx(E_VAN)
    ebike = vehicle("ebike", "e_cargo_bike", "h1")
    assert vehicle_km_factor(ebike, DEFAULT_FACTORS) == pytest.approx(E_CARGO_BIKE)
    assert DEFAULT_FACTORS.grid.kg_per_kwh == pytest.approx(GRID_KG_PER_KWH)


def test_pedal_power_counts_nothing() -> None:
    assert vehicle_km_factor(vehicle("bike", "cargo_bike", "h2"), DEFAULT_FACTORS) == 0.0


def test_a_vehicle_may_name_its_factor() -> None:
    taxi = vehicle("taxi", "car", "depot", emission_factor="car_diesel")
    assert vehicle_km_factor(taxi, DEFAULT_FACTORS) == pytest.approx(0.16984 + 0.04146)


def test_a_vehicle_naming_an_unknown_factor_is_a_bad_request() -> None:
    truck = vehicle("truck", "diesel_van", "depot", emission_factor="hydrogen_truck")
    with pytest.raises(BadRequestData, match="vehicle type truck: no emission factor 'hydrogen"):
        vehicle_km_factor(truck, DEFAULT_FACTORS)


# -- overrides -----------------------------------------------------------------------------------


def test_the_fleet_file_overrides_the_grid_and_a_factor() -> None:
    factors = factors_from_dict({"grid_g_per_kwh": 300, "e_van": {"kwh_per_km": 0.21}})
    evan = vehicle("evan", "e_van", "depot")
    assert vehicle_km_factor(evan, factors) == pytest.approx(0.21 * 0.300 / (1 - 0.076))
    assert factors.table["e_van"].source == "fleet file (emission_factors.e_van)"
    assert factors.table["e_van"].year is None
    assert factors.grid.source == "fleet file (emission_factors.grid_g_per_kwh)"
    # The rest, and the defaults themselves, stay as they were.
    assert factors.table["diesel_van"] == DEFAULT_FACTORS.table["diesel_van"]
    assert DEFAULT_FACTORS.table["e_van"].kwh_per_km == 0.3528
    assert DEFAULT_FACTORS.grid.g_per_kwh == 251.33


def test_an_override_may_bring_its_own_source_and_year() -> None:
    factors = factors_from_dict(
        {
            "diesel_van": {
                "ttw_kg_per_km": 0.2,
                "source": "our fuel cards, 2025",
                "year": 2025,
            },
            "grid_loss_share": 0.05,
            "grid_loss_source": "Transelectrica 2025",
        }
    )
    diesel = factors.table["diesel_van"]
    assert (diesel.ttw_kg_per_km, diesel.wtt_kg_per_km) == (0.2, 0.06128)
    assert (diesel.source, diesel.year) == ("our fuel cards, 2025", 2025)
    assert factors.grid.kg_per_kwh == pytest.approx(0.25133 / 0.95)
    assert factors.grid.loss_source == "Transelectrica 2025"


def test_a_new_factor_for_a_vehicle_that_names_it() -> None:
    factors = factors_from_dict(
        {"e_trike": {"carrier": "electricity", "kwh_per_km": 0.05, "source": "maker, 2024"}}
    )
    trike = vehicle("trike", "e_cargo_bike", "h1", emission_factor="e_trike")
    assert vehicle_km_factor(trike, factors) == pytest.approx(0.05 * GRID_KG_PER_KWH)


def test_changing_the_carrier_starts_a_factor_afresh() -> None:
    factors = factors_from_dict({"car": {"carrier": "electricity", "kwh_per_km": 0.18}})
    car = factors.table["car"]
    assert (car.ttw_kg_per_km, car.wtt_kg_per_km, car.kwh_per_km) == (0.0, 0.0, 0.18)


def test_no_overrides_give_the_base() -> None:
    assert factors_from_dict({}) == DEFAULT_FACTORS
    assert factors_from_dict(None) is DEFAULT_FACTORS


def test_overrides_apply_on_the_base_given() -> None:
    base = factors_from_dict({"grid_g_per_kwh": 100})
    factors = factors_from_dict({"e_van": {"kwh_per_km": 0.3}}, base)
    assert factors.grid.g_per_kwh == 100


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (
            {"e_van": {"kwh_per_km": 0}},
            "emission_factors.e_van.kwh_per_km: must be a positive number",
        ),
        (
            {"e_van": {"kwh_per_km": "lots"}},
            "emission_factors.e_van.kwh_per_km: must be a positive",
        ),
        ({"e_van": {"kwh_per_km": True}}, "emission_factors.e_van.kwh_per_km: must be a positive"),
        ({"e_van": {"kwh_per_km": math.inf}}, "emission_factors.e_van.kwh_per_km: must be a posit"),
        (
            {"diesel_van": {"ttw_kg_per_km": -0.1}},
            "emission_factors.diesel_van.ttw_kg_per_km: must be a non-negative number",
        ),
        (
            {"diesel_van": {"kwh_per_km": 0.2}},
            "emission_factors.diesel_van.kwh_per_km: not used for a diesel factor",
        ),
        ({"cargo_bike": {"kwh_per_km": 0.2}}, "emission_factors.cargo_bike.kwh_per_km: not used"),
        ({"e_van": 0.21}, "emission_factors.e_van: must be a mapping"),
        ({"e_van": {"kwh": 0.21}}, "emission_factors.e_van.kwh: unknown field"),
        ({"truck": {"kwh_per_km": 1.2}}, "emission_factors.truck.carrier: required for a new"),
        ({"truck": {"carrier": "coal"}}, "emission_factors.truck.carrier: must be one of diesel"),
        (
            {"truck": {"carrier": "diesel", "ttw_kg_per_km": 0.9}},
            "emission_factors.truck.wtt_kg_per_km: required for a new diesel factor",
        ),
        ({"e_van": {"year": "2024"}}, "emission_factors.e_van.year: must be a whole number"),
        ({"e_van": {"source": " "}}, "emission_factors.e_van.source: must be a non-empty text"),
        ({"grid_g_per_kwh": -1}, "emission_factors.grid_g_per_kwh: must be a non-negative number"),
        ({"grid_loss_share": 1}, "emission_factors.grid_loss_share: must be a share from 0"),
        ({"grid_colour": "green"}, "emission_factors.grid_colour: unknown grid setting"),
        (["e_van"], "emission_factors: must be a mapping"),
    ],
)
def test_bad_overrides_name_their_path(raw: Any, message: str) -> None:
    with pytest.raises(BadRequestData) as raised:
        factors_from_dict(raw)
    assert raised.value.detail.startswith(message)
    assert raised.value.status == 400


# -- a route's emissions -------------------------------------------------------------------------


def test_route_co2e_is_kilometres_times_the_factor() -> None:
    van = route("van", visit("start"), visit("deliver", 7.5, "a"), visit("end", 4.5))
    assert van.distance_m == 12_000
    kg = route_co2e_kg(van, vehicle("van", "diesel_van", "depot"), DEFAULT_FACTORS)
    assert kg == pytest.approx(12 * DIESEL_VAN)


# -- allocation ----------------------------------------------------------------------------------


def delivery_round() -> tuple[Plan, Problem, dict[str, float]]:
    """A diesel van drives 20 km to deliver A (100 kg, 4 km from the depot by the shortest
    feasible path), B (50 kg, 6 km) and C (200 kg, 1.5 km)."""
    the_problem = problem(order("A", 100), order("B", 50), order("C", 200))
    van = route(
        "van",
        visit("start"),
        visit("deliver", 5, "B"),
        visit("deliver", 4, "A"),
        visit("deliver", 3, "C"),
        visit("end", 8),
    )
    return plan(van), the_problem, {"A": 4.0, "B": 6.0, "C": 1.5}


def test_a_delivery_round_is_allocated_by_tonne_km_hand_computed() -> None:
    the_plan, the_problem, shortest = delivery_round()
    result = allocate(the_plan, the_problem, DEFAULT_FACTORS, shortest, {})
    # 20 km x 0.31151 kg/km = 6.2302 kg. Tonne-km: A 0.1 x 4 = 0.4, B 0.05 x 6 = 0.3,
    # C 0.2 x 1.5 = 0.3, so A takes 40% and B and C 30% each.
    assert result.routes[0].co2e_kg == pytest.approx(6.2302)
    assert result.order_co2e_kg == pytest.approx({"A": 2.49208, "B": 1.86906, "C": 1.86906})
    assert sum(result.order_co2e_kg.values()) == pytest.approx(result.totals.co2e_kg, rel=1e-9)
    # ISO 14083's intensity: 6230.2 g over 1.0 tonne-km.
    assert intensity_g_per_tkm(result, the_problem, shortest) == pytest.approx(6230.2)
    assert result.notes == ()


def test_allocate_returns_a_new_plan() -> None:
    the_plan, the_problem, shortest = delivery_round()
    result = allocate(the_plan, the_problem, DEFAULT_FACTORS, shortest, {})
    assert result is not the_plan
    assert the_plan.routes[0].co2e_kg == 0.0 and the_plan.order_co2e_kg == {}


def test_a_shipment_visited_twice_is_allocated_once() -> None:
    shipment = Order("S", "shipment", Stop(25.6, 45.65), Size(100, 1, 1), origin=Stop(25.5, 45.6))
    the_problem = problem(shipment, order("D", 100))
    van = route(
        "van",
        visit("start"),
        visit("pickup", 2, "S"),
        visit("deliver", 3, "D"),
        visit("deliver", 2, "S"),
        visit("end", 3),
    )
    result = allocate(plan(van), the_problem, DEFAULT_FACTORS, {"S": 3.0, "D": 3.0}, {})
    assert result.order_co2e_kg == pytest.approx({"S": 5 * DIESEL_VAN, "D": 5 * DIESEL_VAN})


def feeder_day() -> tuple[Plan, Problem, dict[str, float], dict[str, str]]:
    """An e-van feeds h1 (150 kg, 8 km from the depot) and h2 (100 kg, 6 km; 11 km driven);
    an e-cargo bike delivers a (60 kg) and b (90 kg) from h1, a pedal bike c (100 kg) from h2."""
    the_problem = problem(order("a", 60), order("b", 90), order("c", 100))
    feeder = route(
        "evan",
        visit("start"),
        visit("feed", 8, site="h1", kg=150),
        visit("feed", 3, site="h2", kg=100),
        visit("end", 9),
        echelon=0,
    )
    ebike = route(
        "ebike",
        visit("start"),
        visit("deliver", 1, "a"),
        visit("deliver", 2, "b"),
        visit("end", 2),
        mode="bike",
    )
    bike = route("bike", visit("start"), visit("deliver", 1.5, "c"), visit("end", 1.5), mode="bike")
    shortest = {"a": 1.0, "b": 2.0, "c": 1.5, "h1": 8.0, "h2": 6.0}
    return plan(feeder, ebike, bike), the_problem, shortest, {"a": "h1", "b": "h1", "c": "h2"}


def test_feeders_reach_the_orders_through_their_micro_hubs() -> None:
    the_plan, the_problem, shortest, hub_of = feeder_day()
    result = allocate(the_plan, the_problem, DEFAULT_FACTORS, shortest, hub_of)
    feeder_kg = 20 * E_VAN
    ebike_kg = 5 * E_CARGO_BIKE
    assert [r.co2e_kg for r in result.routes] == pytest.approx([feeder_kg, ebike_kg, 0.0])
    # Feeder to hubs by tonne-km: h1 0.15 x 8 = 1.2, h2 0.1 x 6 = 0.6, so 2/3 and 1/3. Each
    # hub's share to its orders by mass; the e-bike's own CO2e by tonne-km (a 0.06, b 0.18).
    to_h1, to_h2 = feeder_kg * 2 / 3, feeder_kg / 3
    assert result.order_co2e_kg == pytest.approx(
        {
            "a": to_h1 * 60 / 150 + ebike_kg / 4,
            "b": to_h1 * 90 / 150 + ebike_kg * 3 / 4,
            "c": to_h2,
        }
    )
    assert sum(result.order_co2e_kg.values()) == pytest.approx(result.totals.co2e_kg, rel=1e-9)
    # Activity: the bikes' 0.06 + 0.18 + 0.15 and the feeder's 1.2 + 0.6 tonne-km.
    intensity = intensity_g_per_tkm(result, the_problem, shortest)
    assert intensity == pytest.approx(1000 * (feeder_kg + ebike_kg) / 2.19)


def test_feeders_without_a_hub_distance_use_the_distance_driven_to_it() -> None:
    the_plan, the_problem, shortest, hub_of = feeder_day()
    del shortest["h1"], shortest["h2"]
    result = allocate(the_plan, the_problem, DEFAULT_FACTORS, shortest, hub_of)
    # h1 0.15 x 8 = 1.2 and h2 0.1 x 11 = 1.1 tonne-km.
    assert result.order_co2e_kg["c"] == pytest.approx(20 * E_VAN * 1.1 / 2.3)


def test_a_hub_fed_for_no_orders_is_noted() -> None:
    the_plan, the_problem, shortest, hub_of = feeder_day()
    del hub_of["c"]
    result = allocate(the_plan, the_problem, DEFAULT_FACTORS, shortest, hub_of)
    assert result.order_co2e_kg["c"] == 0.0  # its pedal bike emits nothing
    assert result.notes == (
        f"feeders of micro-hub h2: {20 * E_VAN / 3:.3f} kg CO2e with no orders to allocate it to",
    )
    left_out = result.totals.co2e_kg - sum(result.order_co2e_kg.values())
    assert left_out == pytest.approx(20 * E_VAN / 3)


# -- orders without mass ------------------------------------------------------------------------


def test_orders_without_mass_fall_back_to_parcel_km_for_the_whole_round() -> None:
    the_problem = problem(order("A", 0, parcels=2), order("B", 10, parcels=1))
    van = route("van", visit("start"), visit("deliver", 3, "A"), visit("deliver", 2, "B"))
    result = allocate(plan(van), the_problem, DEFAULT_FACTORS, {"A": 3.0, "B": 3.0}, {})
    # Parcel-km: A 2 x 3 = 6, B 1 x 3 = 3.
    assert result.order_co2e_kg == pytest.approx(
        {"A": 5 * DIESEL_VAN * 2 / 3, "B": 5 * DIESEL_VAN / 3}
    )
    assert result.notes == (
        "van-1: not every consignment has a mass; its CO2e is allocated by parcel-km",
    )


def test_orders_without_mass_or_parcels_count_as_one_consignment_each() -> None:
    the_problem = problem(order("A", 0, parcels=0), order("B", 10, parcels=1))
    van = route("van", visit("start"), visit("deliver", 1, "A"), visit("deliver", 3, "B"))
    result = allocate(plan(van), the_problem, DEFAULT_FACTORS, {"A": 1.0, "B": 3.0}, {})
    assert result.order_co2e_kg == pytest.approx(
        {"A": 4 * DIESEL_VAN / 4, "B": 4 * DIESEL_VAN * 3 / 4}
    )
    assert "consignment-km" in result.notes[0]


def test_orders_at_no_distance_share_equally() -> None:
    the_problem = problem(order("A", 0, parcels=0), order("B", 0, parcels=0))
    van = route("van", visit("start"), visit("deliver", 2, "A"), visit("deliver", 0, "B"))
    result = allocate(plan(van), the_problem, DEFAULT_FACTORS, {"A": 0.0, "B": 0.0}, {})
    assert result.order_co2e_kg == pytest.approx({"A": DIESEL_VAN, "B": DIESEL_VAN})
    assert "equal shares" in result.notes[0]
    assert math.isnan(intensity_g_per_tkm(result, the_problem, {"A": 0.0, "B": 0.0}))


# -- what cannot be allocated -------------------------------------------------------------------


def test_a_route_with_no_orders_is_noted() -> None:
    van = route("van", visit("start"), visit("end", 3))
    result = allocate(plan(van), problem(), DEFAULT_FACTORS, {}, {})
    assert result.order_co2e_kg == {}
    assert result.notes == (
        f"van-1: {3 * DIESEL_VAN:.3f} kg CO2e with no orders to allocate it to",
    )


def test_an_order_without_its_shortest_distance_is_a_bug() -> None:
    the_plan, the_problem, shortest = delivery_round()
    del shortest["B"]
    with pytest.raises(ValueError, match="no shortest feasible distance for order 'B'"):
        allocate(the_plan, the_problem, DEFAULT_FACTORS, shortest, {})


def test_custom_factors_flow_through_allocation() -> None:
    the_plan, the_problem, shortest = delivery_round()
    factors: Factors = factors_from_dict(
        {"diesel_van": {"ttw_kg_per_km": 0.2, "wtt_kg_per_km": 0.05}}
    )
    result = allocate(the_plan, the_problem, factors, shortest, {})
    assert result.totals.co2e_kg == pytest.approx(20 * 0.25)
    assert result.order_co2e_kg["A"] == pytest.approx(0.4 * 20 * 0.25)
