"""A plan as JSON (what the API returns and ``--out`` writes) and as GeoJSON for maps."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import numpy as np

from cetate.city.service import City
from cetate.logistics.clock import format_clock
from cetate.logistics.model import Plan, Problem, RoutePlan, Visit
from cetate.logistics.travel import profile_key


def plan_document(plan: Plan) -> dict[str, Any]:
    totals = plan.totals
    return {
        "problem": plan.problem,
        "seed": plan.seed,
        "seconds": plan.seconds,
        "totals": {
            "vehicles": totals.vehicles,
            "distanceKm": round(totals.distance_km, 3),
            "hours": round(totals.hours, 3),
            "cost": round(totals.cost, 2),
            "co2eKg": round(totals.co2e_kg, 3),
            "ordersServed": totals.orders_served,
            "ordersUnassigned": totals.orders_unassigned,
        },
        "routes": [route_document(r) for r in plan.routes],
        "unassigned": [{"order": u.order, "reason": u.reason} for u in plan.unassigned],
        "orderCo2eKg": {k: round(v, 6) for k, v in plan.order_co2e_kg.items()},
        "notes": list(plan.notes),
    }


def route_document(route: RoutePlan) -> dict[str, Any]:
    return {
        "vehicle": route.vehicle,
        "vehicleType": route.vehicle_type,
        "mode": route.mode,
        "echelon": route.echelon,
        "start": format_clock(route.start),
        "end": format_clock(route.end),
        "trips": route.trips,
        "distanceKm": round(route.distance_m / 1000.0, 3),
        "durationH": round(route.duration_s / 3600.0, 3),
        "cost": route.cost,
        "co2eKg": round(route.co2e_kg, 4),
        "orders": route.orders,
        "visits": [visit_document(v) for v in route.visits],
    }


def visit_document(visit: Visit) -> dict[str, Any]:
    document: dict[str, Any] = {
        "action": visit.action,
        "lon": round(visit.lon, 7),
        "lat": round(visit.lat, 7),
        "arrival": format_clock(visit.arrival),
        "start": format_clock(visit.start),
        "departure": format_clock(visit.departure),
        "arrivalS": visit.arrival,
        "startS": visit.start,
        "departureS": visit.departure,
        "travelS": visit.travel_s,
        "distanceM": round(visit.distance_m, 1),
        "load": _rounded(visit.load.as_dict()),
    }
    if visit.order is not None:
        document["order"] = visit.order
    if visit.site is not None:
        document["site"] = visit.site
    if visit.amount.kg or visit.amount.m3 or visit.amount.parcels:
        document["amount"] = _rounded(visit.amount.as_dict())
    return document


def _rounded(size: dict[str, float]) -> dict[str, float]:
    """Sizes to the gram and the litre: sums of floats carry noise nobody should read."""
    return {name: round(value, 3) for name, value in size.items()}


def plan_geojson(
    plan: Plan, problem: Problem, city: City, at: datetime | None = None
) -> dict[str, Any]:
    """Each route as a LineString along the streets it takes (its own network, without the
    zones closed to it), and each visit as a Point."""
    features: list[dict[str, Any]] = []
    keys = {v.id: profile_key(problem, v, city, at) for v in problem.fleet}
    for route in plan.routes:
        key = keys[route.vehicle_type]
        router = city.router(key.mode)
        line: list[list[float]] = []
        for previous, visit in zip(route.visits, route.visits[1:], strict=False):
            if visit.travel_s == 0 and visit.distance_m == 0:
                continue
            leg = router.route(
                np.array([previous.lon, previous.lat]),
                np.array([visit.lon, visit.lat]),
                key.blocked,
            )
            line.extend([round(lon, 7), round(lat, 7)] for lon, lat in leg.coordinates)
        features.append(
            {
                "type": "Feature",
                "geometry": {"type": "LineString", "coordinates": line},
                "properties": {
                    "vehicle": route.vehicle,
                    "vehicleType": route.vehicle_type,
                    "mode": route.mode,
                    "echelon": route.echelon,
                    "distanceKm": round(route.distance_m / 1000.0, 3),
                },
            }
        )
        for position, visit in enumerate(route.visits):
            features.append(
                {
                    "type": "Feature",
                    "geometry": {"type": "Point", "coordinates": [visit.lon, visit.lat]},
                    "properties": {
                        "vehicle": route.vehicle,
                        "position": position,
                        "action": visit.action,
                        "order": visit.order,
                        "site": visit.site,
                        "arrival": format_clock(visit.arrival),
                    },
                }
            )
    return {"type": "FeatureCollection", "features": features}
