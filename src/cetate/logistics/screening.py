"""Orders no vehicle can serve, found before solving, each with the reason a planner can act on.

An order is screened out when no vehicle type can use its place (outside its network, or
inside a zone closed to it), when none can reach it and come back within a window and its
shift, or when it is bigger than every vehicle that could reach it. The rest go to the solver.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from itertools import pairwise

from cetate.logistics.clock import format_clock
from cetate.logistics.model import Order, Problem, Size, VehicleType, Window
from cetate.logistics.slots import Slot
from cetate.logistics.travel import UNREACHABLE, Places, ProfileKey, Travel


@dataclass(frozen=True)
class Screened:
    candidates: tuple[Order, ...]
    reasons: dict[str, str]  # order id -> why no vehicle can serve it


def screen(
    problem: Problem,
    places: Places,
    keys: Mapping[str, ProfileKey],
    travels: Mapping[ProfileKey, Travel],
    slots: Mapping[str, Sequence[Slot]],
) -> Screened:
    candidates: list[Order] = []
    reasons: dict[str, str] = {}
    for order in problem.orders:
        reason = _why_not(order, problem, places, keys, travels, slots)
        if reason is None:
            candidates.append(order)
        else:
            reasons[order.id] = reason
    return Screened(tuple(candidates), reasons)


def _why_not(
    order: Order,
    problem: Problem,
    places: Places,
    keys: Mapping[str, ProfileKey],
    travels: Mapping[ProfileKey, Travel],
    slots: Mapping[str, Sequence[Slot]],
) -> str | None:
    stops = [places.at[order.id]]
    if order.id in places.origin:
        stops.insert(0, places.origin[order.id])
    why: list[str] = []  # one reason per vehicle type
    for vehicle in problem.fleet:
        travel = travels[keys[vehicle.id]]
        blocked = [travel.why_not[p] for p in stops if p in travel.why_not]
        if blocked:
            why.append(f"{vehicle.id}: outside its network ({blocked[0]})")
            continue
        base = places.site[vehicle.depot]
        delivery_slots = [s for s in slots[vehicle.id] if not s.feeding]
        earliest = _earliest_service(order, vehicle, base, stops, travel, delivery_slots, problem)
        if isinstance(earliest, str):
            why.append(f"{vehicle.id}: cannot reach it within its time window ({earliest})")
            continue
        if not order.size.fits(vehicle.capacity):
            why.append(
                f"{vehicle.id}: too small (carries {_size(vehicle.capacity)}, the order is "
                f"{_size(order.size)})"
            )
            continue
        return None
    return "no vehicle can serve it: " + "; ".join(why)


def _earliest_service(
    order: Order,
    vehicle: VehicleType,
    base: int,
    stops: list[int],
    travel: Travel,
    delivery_slots: Sequence[Slot],
    problem: Problem,
) -> int | str:
    """When the vehicle could start serving the order on a trip of its own, or why it can't."""
    loading = problem.site(vehicle.depot).loading_s
    legs = [base, *stops, base]
    if any(travel.seconds[a, b] >= UNREACHABLE for a, b in pairwise(legs)):
        return "its network has no way there and back from its base"
    sides = [order.origin, order.at] if order.origin is not None else [order.at]
    best_miss = ""
    for slot in delivery_slots:
        moment = slot.window.start + loading
        place = base
        ok = True
        for stop, side in zip(stops, sides, strict=True):
            moment += int(travel.seconds[place, stop])
            start = _first_start(moment, side.windows)
            if start is None:
                best_miss = (
                    f"earliest arrival {format_clock(moment)}, window ends "
                    f"{format_clock(max(w.end for w in side.windows))}"
                )
                ok = False
                break
            moment = start + side.service_s
            place = stop
        if not ok:
            continue
        back = moment + int(travel.seconds[place, base])
        if back > slot.window.end:
            best_miss = f"back at its base at {format_clock(back)}, after its shift"
            continue
        if back - slot.window.start > slot.max_work_s:
            best_miss = "the trip alone takes longer than its working time"
            continue
        return moment
    return best_miss or "no working time left in its shift"


def _first_start(moment: int, windows: tuple[Window, ...]) -> int | None:
    if not windows:
        return moment
    starts = [max(moment, w.start) for w in windows if max(moment, w.start) <= w.end]
    return min(starts) if starts else None


def _size(size: Size) -> str:
    parts = []
    for name, value in (("kg", size.kg), ("m3", size.m3), ("parcels", size.parcels)):
        if value != float("inf") and value > 0:
            parts.append(f"{value:g} {name}")
    return ", ".join(parts) or "nothing"
