"""Travel times and distances between the places of a problem, one set per routing profile.

A profile is what a vehicle type may use: its mode's network, minus the roads closed now (the
city's closures) and the roads inside the zones it may not enter. Vehicle types that share a
profile share its matrices. A place a profile cannot use (too far from its roads, or inside a
zone closed to it) is unreachable in that profile, and the planner says why.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime

import numpy as np
import numpy.typing as npt
import shapely
from pyvrp.constants import MAX_VALUE

from cetate.city.service import City
from cetate.errors import BadRequestData
from cetate.logistics.model import Mode, Problem, VehicleType, Zone

Ints = npt.NDArray[np.int64]
UNREACHABLE = MAX_VALUE  # what PyVRP takes for "no edge"


@dataclass(frozen=True)
class Places:
    """Every place of a problem, numbered: sites first, then order stops."""

    points: npt.NDArray[np.float64]  # (n, 2) lon, lat
    site: dict[str, int]
    at: dict[str, int]  # order id -> where it is delivered or collected
    origin: dict[str, int]  # shipment id -> where it is picked up
    names: list[str]  # for messages: "site depot", "order A12", "origin of order S3"


def number_places(problem: Problem) -> Places:
    points: list[tuple[float, float]] = []
    names: list[str] = []
    site: dict[str, int] = {}
    at: dict[str, int] = {}
    origin: dict[str, int] = {}
    for s in problem.sites:
        site[s.id] = len(points)
        points.append((s.lon, s.lat))
        names.append(f"site {s.id}")
    for order in problem.orders:
        at[order.id] = len(points)
        points.append((order.at.lon, order.at.lat))
        names.append(f"order {order.id}")
        if order.origin is not None:
            origin[order.id] = len(points)
            points.append((order.origin.lon, order.origin.lat))
            names.append(f"origin of order {order.id}")
    return Places(np.array(points, dtype=np.float64).reshape(-1, 2), site, at, origin, names)


@dataclass(frozen=True)
class ProfileKey:
    mode: Mode
    blocked: frozenset[int]  # segment indices the profile may not use
    avoided: tuple[str, ...]  # ids of the zones it keeps out of


def profile_key(
    problem: Problem, vehicle: VehicleType, city: City, at: datetime | None
) -> ProfileKey:
    router = city.router(vehicle.mode)
    blocked = set(city.blocked(vehicle.mode, at))
    avoided = []
    for zone in problem.zones:
        if not zone.admits(vehicle) and zone.applies_during(vehicle.shift):
            blocked.update(int(i) for i in router.index.segments_in(zone.area))
            avoided.append(zone.id)
    return ProfileKey(vehicle.mode, frozenset(blocked), tuple(avoided))


@dataclass(frozen=True)
class Travel:
    """Whole seconds (rounded up) and metres between places, for one profile."""

    key: ProfileKey
    seconds: Ints  # (n, n), UNREACHABLE where no way
    metres: Ints
    why_not: dict[int, str]  # place -> why this profile cannot use it


def travel_for(key: ProfileKey, places: Places, zones: tuple[Zone, ...], city: City) -> Travel:
    router = city.router(key.mode)
    n = len(places.points)
    why_not: dict[int, str] = {}
    for zone in zones:
        if zone.id in key.avoided:
            inside = shapely.contains_xy(zone.area, places.points[:, 0], places.points[:, 1])
            for found in np.flatnonzero(inside):
                why_not.setdefault(
                    int(found), f"inside zone {zone.id} ({zone.kind.replace('_', '-')})"
                )
    for i in range(n):
        if i in why_not:
            continue
        try:
            router.snap(places.points[i], key.blocked)
        except BadRequestData as error:
            why_not[i] = error.detail
    usable = np.array([i for i in range(n) if i not in why_not], dtype=np.int64)
    seconds = np.full((n, n), UNREACHABLE, dtype=np.int64)
    metres = np.full((n, n), UNREACHABLE, dtype=np.int64)
    if len(usable):
        times, lengths = router.travel_matrices(places.points[usable], key.blocked)
        finite = np.isfinite(times) & np.isfinite(lengths)
        block = np.ix_(usable, usable)
        seconds[block] = np.where(finite, np.ceil(np.where(finite, times, 0.0)), UNREACHABLE)
        metres[block] = np.where(finite, np.round(np.where(finite, lengths, 0.0)), UNREACHABLE)
    np.fill_diagonal(seconds, 0)
    np.fill_diagonal(metres, 0)
    return Travel(key, seconds, metres, why_not)


def reachable(travel: Travel, frm: int, to: int) -> bool:
    return bool(travel.seconds[frm, to] < UNREACHABLE)


def km(metres: float) -> float:
    return metres / 1000.0 if math.isfinite(metres) else math.inf
