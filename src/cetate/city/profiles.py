"""Travel modes: which roads a mode may use, in which direction, and how fast.

The rules are OSM's access conventions reduced to what a city needs; docs/city.md lists them.
Speeds come from ``maxspeed`` when it is tagged, else from the mode's per-class default table,
which callers may override (``Profile.with_speeds``).
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from dataclasses import dataclass, field, replace
from typing import Literal

from cetate.errors import BadRequestData

Mode = Literal["drive", "bike", "walk"]
MODES: tuple[Mode, ...] = ("drive", "bike", "walk")

# Free-flow speeds (km/h) by highway class where maxspeed is not tagged. Urban values: Romania's
# general urban limit is 50 km/h (OUG 195/2002 art. 49); minor classes run slower in practice.
DRIVE_SPEEDS_KMH: dict[str, float] = {
    "motorway": 110, "motorway_link": 60, "trunk": 80, "trunk_link": 50,
    "primary": 50, "primary_link": 40, "secondary": 50, "secondary_link": 40,
    "tertiary": 40, "tertiary_link": 30, "unclassified": 30, "residential": 30,
    "living_street": 10, "service": 20, "road": 30,
}  # fmt: skip

# Cargo bikes: legal and rideable classes only (no steps, no motorways; trunks only with a
# tagged cycleway; footways and paths only where bicycles are signed as allowed).
BIKE_SPEEDS_KMH: dict[str, float] = {
    "cycleway": 15, "residential": 15, "living_street": 10, "service": 12, "unclassified": 15,
    "tertiary": 15, "tertiary_link": 15, "secondary": 15, "secondary_link": 15,
    "primary": 15, "primary_link": 15, "road": 12, "track": 10, "trunk": 15, "trunk_link": 15,
    "path": 12, "footway": 8, "pedestrian": 8, "bridleway": 8,
}  # fmt: skip

WALK_SPEED_KMH = 4.8
WALK_CLASSES = frozenset(
    {
        "primary", "primary_link", "secondary", "secondary_link", "tertiary", "tertiary_link",
        "unclassified", "residential", "living_street", "service", "road", "track", "path",
        "footway", "pedestrian", "steps", "cycleway", "bridleway", "corridor",
        "trunk", "trunk_link",
    }
)  # fmt: skip

# Implicit maxspeed values (OSM "CC:zone"); Romania's from OUG 195/2002, others the usual ones.
ZONE_SPEEDS_KMH = {"urban": 50.0, "rural": 90.0, "motorway": 130.0, "trunk": 100.0,
                   "living_street": 20.0, "walk": 5.0, "zone30": 30.0}  # fmt: skip

NO_ACCESS = frozenset({"no", "private", "agricultural", "forestry", "delivery_no"})
YES_ACCESS = frozenset({"yes", "designated", "permissive", "destination", "customers"})


@dataclass(frozen=True)
class Profile:
    mode: Mode
    speeds_kmh: dict[str, float] = field(hash=False)
    turn_restrictions: bool

    def with_speeds(self, overrides: dict[str, float]) -> Profile:
        for highway, speed in overrides.items():
            # NaN and inf would become garbage arc times; a bool is not a speed.
            number = isinstance(speed, int | float) and not isinstance(speed, bool)
            if not number or not 0 < speed < math.inf:
                raise BadRequestData(f"speed for {highway!r} must be a positive number")
        return replace(self, speeds_kmh={**self.speeds_kmh, **overrides})

    def fingerprint(self) -> str:
        """Changes whenever anything that shapes the graph changes (part of the cache key)."""
        text = json.dumps([self.mode, sorted(self.speeds_kmh.items()), self.turn_restrictions])
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def directions(self, tags: dict[str, str]) -> tuple[bool, bool]:
        """(forward allowed, backward allowed) along the way's node order; (False, False) if
        the mode may not use the way at all."""
        if not self._allowed(tags):
            return False, False
        if self.mode == "walk":
            return True, True
        oneway = tags.get("oneway", "")
        if self.mode == "bike" and (
            tags.get("oneway:bicycle") == "no" or tags.get("cycleway", "").startswith("opposite")
        ):
            return True, True
        if oneway in ("yes", "true", "1"):
            return True, False
        if oneway in ("-1", "reverse"):
            return False, True
        if oneway == "no":
            return True, True
        implied = tags.get("junction") in ("roundabout", "circular") or (
            self.mode == "drive" and tags.get("highway") == "motorway"
        )
        return True, not implied

    def speed_kmh(self, tags: dict[str, str]) -> float:
        if self.mode == "walk":
            return self.speeds_kmh.get(tags.get("highway", ""), WALK_SPEED_KMH)
        default = self.speeds_kmh[tags["highway"]]
        posted = parse_maxspeed(tags.get("maxspeed"))
        if posted is None:
            return default
        # A bike never goes faster than its own speed; a car drives the posted limit.
        return min(default, posted) if self.mode == "bike" else posted

    def _allowed(self, tags: dict[str, str]) -> bool:
        highway = tags.get("highway", "")
        if self.mode == "drive":
            specific = tags.get("motorcar") or tags.get("motor_vehicle") or tags.get("vehicle")
            return highway in self.speeds_kmh and _access(tags.get("access"), specific)
        if self.mode == "bike":
            bicycle = tags.get("bicycle")
            if bicycle in ("no", "dismount"):
                return False
            signed = bicycle in YES_ACCESS
            if highway in ("footway", "pedestrian", "path", "bridleway") and not signed:
                return False
            if highway in ("trunk", "trunk_link") and not _has_cycleway(tags) and not signed:
                return False
            if highway == "track" and tags.get("tracktype", "grade1") != "grade1":
                return False
            return highway in self.speeds_kmh and _access(
                tags.get("access"), bicycle or tags.get("vehicle")
            )
        foot = tags.get("foot")
        if highway in ("trunk", "trunk_link") and tags.get("sidewalk") in (None, "no", "none"):
            return foot in YES_ACCESS
        return highway in WALK_CLASSES and _access(tags.get("access"), foot)


def _access(general: str | None, specific: str | None) -> bool:
    if specific is not None:
        return specific not in NO_ACCESS
    return general is None or general not in NO_ACCESS


def _has_cycleway(tags: dict[str, str]) -> bool:
    for key in ("cycleway", "cycleway:left", "cycleway:right", "cycleway:both"):
        if tags.get(key, "no") not in ("no", "none", "separate"):
            return True
    return False


_SPEED = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(mph|km/h|kmh)?\s*$")


def parse_maxspeed(value: str | None) -> float | None:
    """km/h from an OSM maxspeed value ("50", "30 mph", "RO:urban", "walk"); None if unknown."""
    if not value:
        return None
    first = value.split(";")[0].strip()
    match = _SPEED.match(first)
    if match:
        speed = float(match.group(1)) * (1.609344 if match.group(2) == "mph" else 1.0)
        return speed if 0 < speed < math.inf else None  # 400 nines overflow to inf
    zone = first.split(":")[-1].lower()
    return ZONE_SPEEDS_KMH.get(zone)


def default_profile(mode: str) -> Profile:
    if mode == "drive":
        return Profile("drive", dict(DRIVE_SPEEDS_KMH), turn_restrictions=True)
    if mode == "bike":
        return Profile("bike", dict(BIKE_SPEEDS_KMH), turn_restrictions=False)
    if mode == "walk":
        return Profile("walk", {}, turn_restrictions=False)
    raise BadRequestData(f"unknown mode {mode!r}: use one of {', '.join(MODES)}")
