"""The invariants a problem must hold before planning, whatever it was read from.

The file readers (``orders``, ``fleet``) already report mistakes by file, line and field; this
checks what ties the parts together, for problems built any other way (the API, tests).
"""

from __future__ import annotations

from collections import Counter

from cetate.errors import BadRequestData
from cetate.logistics.model import Order, Problem, Stop


def validate_problem(problem: Problem) -> None:
    errors = problem_errors(problem)
    if errors:
        more = f" (and {len(errors) - 10} more)" if len(errors) > 10 else ""
        raise BadRequestData("; ".join(errors[:10]) + more)


def problem_errors(problem: Problem) -> list[str]:
    errors: list[str] = []
    if not problem.sites:
        errors.append("the problem has no site (depot, consolidation centre or micro-hub)")
    if not problem.fleet:
        errors.append("the problem has no vehicle")
    for label, ids in (
        ("site", [s.id for s in problem.sites]),
        ("vehicle type", [v.id for v in problem.fleet]),
        ("order", [o.id for o in problem.orders]),
        ("zone", [z.id for z in problem.zones]),
    ):
        for duplicate, count in Counter(ids).items():
            if count > 1:
                errors.append(f"{label} id {duplicate!r} is used {count} times")
    sites = {s.id: s for s in problem.sites}
    for site in problem.sites:
        if site.hours.end <= site.hours.start:
            errors.append(f"site {site.id}: it closes before it opens")
    for vehicle in problem.fleet:
        where = f"vehicle type {vehicle.id}"
        if vehicle.count < 1:
            errors.append(f"{where}: count must be at least 1")
        for site_id in (vehicle.depot, *vehicle.reload_at, *vehicle.feeds):
            if site_id not in sites:
                errors.append(f"{where}: {site_id!r} is not a site")
        for hub_id in vehicle.feeds:
            if hub_id in sites and sites[hub_id].kind != "microhub":
                errors.append(f"{where}: it feeds {hub_id!r}, which is not a micro-hub")
        capacity = vehicle.capacity
        if min(capacity.kg, capacity.m3, capacity.parcels) <= 0:
            errors.append(f"{where}: every capacity must be positive")
        if vehicle.max_trips is not None and vehicle.max_trips < 1:
            errors.append(f"{where}: max_trips must be at least 1")
    for order in problem.orders:
        errors.extend(_order_errors(order))
    return errors


def _order_errors(order: Order) -> list[str]:
    where = f"order {order.id}" + (f" ({order.source})" if order.source else "")
    errors = []
    if min(order.size.kg, order.size.m3, order.size.parcels) < 0:
        errors.append(f"{where}: sizes cannot be negative")
    if order.optional and order.penalty <= 0:
        errors.append(f"{where}: an optional order needs a penalty above 0 EUR")
    stops = [order.at] if order.origin is None else [order.origin, order.at]
    if order.kind == "shipment" and order.origin is None:
        errors.append(f"{where}: a shipment needs an origin")
    if order.kind != "shipment" and order.origin is not None:
        errors.append(f"{where}: only shipments have an origin")
    for stop in stops:
        errors.extend(f"{where}: {e}" for e in _stop_errors(stop, order.kind == "shipment"))
    return errors


def _stop_errors(stop: Stop, shipment: bool) -> list[str]:
    errors = []
    if not (-180 <= stop.lon <= 180 and -90 <= stop.lat <= 90):
        errors.append(f"({stop.lon}, {stop.lat}) is not a longitude, latitude pair")
    if stop.service_s < 0:
        errors.append("service time cannot be negative")
    for window in stop.windows:
        if window.end < window.start:
            errors.append("a time window ends before it starts")
    if shipment and len(stop.windows) > 1:
        errors.append("a shipment takes one time window at each end")
    return errors
