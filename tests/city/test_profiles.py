"""Travel modes: maxspeed parsing, directions (oneway in all its spellings), legal access per mode,
speeds, the profile fingerprint and bad input."""

from __future__ import annotations

import math

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from cetate.city.profiles import (
    BIKE_SPEEDS_KMH,
    DRIVE_SPEEDS_KMH,
    WALK_SPEED_KMH,
    default_profile,
    parse_maxspeed,
)
from cetate.errors import BadRequestData

DRIVE = default_profile("drive")
BIKE = default_profile("bike")
WALK = default_profile("walk")
BOTH = (True, True)
FORWARD = (True, False)
BACKWARD = (False, True)
NEITHER = (False, False)


# --- maxspeed ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("50", 50.0),
        (" 50 ", 50.0),
        ("50 km/h", 50.0),
        ("50kmh", 50.0),
        ("7.5", 7.5),
        ("30 mph", 30 * 1.609344),
        ("20mph", 20 * 1.609344),
        ("50;30", 50.0),  # several values: the first one
        ("RO:urban", 50.0),
        ("RO:rural", 90.0),
        ("RO:motorway", 130.0),
        ("RO:trunk", 100.0),
        ("DE:zone30", 30.0),
        ("DE:living_street", 20.0),
        ("walk", 5.0),
        ("none", None),  # no limit: the class default applies
        ("signals", None),
        ("variable", None),
        ("RO:nowhere", None),
        ("fast", None),
        ("50 knots", None),
        ("-30", None),
        ("0", None),
        ("0.0 mph", None),
        ("", None),
        (None, None),
    ],
)
def test_parse_maxspeed(value: str | None, expected: float | None) -> None:
    result = parse_maxspeed(value)
    if expected is None:
        assert result is None
    else:
        assert result == pytest.approx(expected)


@given(st.one_of(st.none(), st.text(), st.from_regex(r"\A\s*\d{1,400}(\.\d*)?\s*(mph)?\Z")))
@example("9" * 400)  # overflows a float to inf
@example("0." + "0" * 400 + "1")
@example("١٢٠")  # Arabic-Indic digits are digits to Python's regex and float()
def test_parse_maxspeed_never_raises(value: str | None) -> None:
    result = parse_maxspeed(value)
    assert result is None or (isinstance(result, float) and math.isfinite(result) and result > 0)


# --- directions ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("tags", "drive", "bike", "walk"),
    [
        ({"highway": "residential"}, BOTH, BOTH, BOTH),
        ({"highway": "residential", "oneway": "yes"}, FORWARD, FORWARD, BOTH),
        ({"highway": "residential", "oneway": "true"}, FORWARD, FORWARD, BOTH),
        ({"highway": "residential", "oneway": "1"}, FORWARD, FORWARD, BOTH),
        ({"highway": "residential", "oneway": "-1"}, BACKWARD, BACKWARD, BOTH),
        ({"highway": "residential", "oneway": "reverse"}, BACKWARD, BACKWARD, BOTH),
        ({"highway": "residential", "oneway": "no"}, BOTH, BOTH, BOTH),
        ({"highway": "primary", "junction": "roundabout"}, FORWARD, FORWARD, BOTH),
        ({"highway": "primary", "junction": "circular"}, FORWARD, FORWARD, BOTH),
        # An explicit oneway=no wins over the roundabout's implied one.
        ({"highway": "primary", "junction": "roundabout", "oneway": "no"}, BOTH, BOTH, BOTH),
        (
            {"highway": "primary", "junction": "roundabout", "oneway": "-1"},
            BACKWARD,
            BACKWARD,
            BOTH,
        ),
        ({"highway": "motorway"}, FORWARD, NEITHER, NEITHER),
        ({"highway": "motorway", "oneway": "no"}, BOTH, NEITHER, NEITHER),
        # Contraflow cycling.
        ({"highway": "residential", "oneway": "yes", "oneway:bicycle": "no"}, FORWARD, BOTH, BOTH),
        (
            {"highway": "residential", "oneway": "yes", "cycleway": "opposite_lane"},
            FORWARD,
            BOTH,
            BOTH,
        ),
        ({"highway": "footway"}, NEITHER, NEITHER, BOTH),
        ({"highway": "steps"}, NEITHER, NEITHER, BOTH),
        ({"highway": "cycleway"}, NEITHER, BOTH, BOTH),
        ({"highway": "construction"}, NEITHER, NEITHER, NEITHER),
        ({"highway": "proposed"}, NEITHER, NEITHER, NEITHER),
        ({}, NEITHER, NEITHER, NEITHER),
    ],
)
def test_directions(
    tags: dict[str, str],
    drive: tuple[bool, bool],
    bike: tuple[bool, bool],
    walk: tuple[bool, bool],
) -> None:
    assert DRIVE.directions(tags) == drive
    assert BIKE.directions(tags) == bike
    assert WALK.directions(tags) == walk


# --- access --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("tags", "allowed"),
    [
        ({"highway": "service", "access": "private"}, False),
        ({"highway": "service", "access": "no"}, False),
        ({"highway": "service", "access": "private", "motorcar": "yes"}, True),
        ({"highway": "service", "access": "no", "motor_vehicle": "destination"}, True),
        ({"highway": "service", "access": "no", "vehicle": "yes"}, True),
        ({"highway": "residential", "motorcar": "no"}, False),
        ({"highway": "residential", "motor_vehicle": "private"}, False),
        ({"highway": "residential", "access": "yes", "motorcar": "no"}, False),
        ({"highway": "residential", "access": "destination"}, True),
        ({"highway": "residential", "access": "agricultural"}, False),
        ({"highway": "track"}, False),  # not in the drive table
        ({"highway": "pedestrian"}, False),
        ({"highway": "pedestrian", "motorcar": "yes"}, False),  # not a car class at all
        ({"highway": "motorway"}, True),
        ({"highway": "living_street"}, True),
    ],
)
def test_drive_access(tags: dict[str, str], allowed: bool) -> None:
    assert DRIVE.directions(tags) == (BOTH if allowed else NEITHER) or (
        allowed and tags["highway"] == "motorway" and DRIVE.directions(tags) == FORWARD
    )


@pytest.mark.parametrize(
    ("tags", "allowed"),
    [
        ({"highway": "motorway"}, False),
        ({"highway": "motorway", "bicycle": "yes"}, False),  # never a cargo-bike road
        ({"highway": "motorway_link"}, False),
        ({"highway": "trunk"}, False),
        ({"highway": "trunk_link"}, False),
        ({"highway": "trunk", "cycleway": "lane"}, True),
        ({"highway": "trunk", "cycleway:right": "track"}, True),
        ({"highway": "trunk", "cycleway:both": "lane"}, True),
        ({"highway": "trunk", "cycleway": "no"}, False),
        ({"highway": "trunk", "cycleway": "separate"}, False),  # ride the separate way
        ({"highway": "trunk", "bicycle": "yes"}, True),
        ({"highway": "footway"}, False),
        ({"highway": "footway", "bicycle": "yes"}, True),
        ({"highway": "footway", "bicycle": "designated"}, True),
        ({"highway": "footway", "bicycle": "no"}, False),
        ({"highway": "footway", "bicycle": "dismount"}, False),
        ({"highway": "pedestrian"}, False),
        ({"highway": "pedestrian", "bicycle": "yes"}, True),
        ({"highway": "path"}, False),
        ({"highway": "path", "bicycle": "designated"}, True),
        ({"highway": "steps"}, False),
        ({"highway": "steps", "bicycle": "yes"}, False),
        ({"highway": "cycleway"}, True),
        ({"highway": "cycleway", "bicycle": "no"}, False),
        ({"highway": "residential", "bicycle": "no"}, False),
        ({"highway": "residential", "access": "private"}, False),
        ({"highway": "residential", "access": "private", "bicycle": "yes"}, True),
        ({"highway": "residential", "access": "no", "vehicle": "yes"}, True),
        ({"highway": "residential", "vehicle": "no"}, False),
        ({"highway": "track"}, True),  # untyped: assumed paved
        ({"highway": "track", "tracktype": "grade1"}, True),
        ({"highway": "track", "tracktype": "grade3"}, False),
    ],
)
def test_bike_access(tags: dict[str, str], allowed: bool) -> None:
    assert BIKE.directions(tags) == (BOTH if allowed else NEITHER)


@pytest.mark.parametrize(
    ("tags", "allowed"),
    [
        ({"highway": "trunk"}, False),
        ({"highway": "trunk", "sidewalk": "no"}, False),
        ({"highway": "trunk", "sidewalk": "none"}, False),
        ({"highway": "trunk_link"}, False),
        ({"highway": "trunk", "sidewalk": "both"}, True),
        ({"highway": "trunk", "sidewalk": "right"}, True),
        ({"highway": "trunk", "foot": "yes"}, True),
        ({"highway": "trunk", "sidewalk": "both", "foot": "no"}, False),
        ({"highway": "motorway"}, False),
        ({"highway": "motorway", "foot": "yes"}, False),
        ({"highway": "footway"}, True),
        ({"highway": "steps"}, True),
        ({"highway": "pedestrian"}, True),
        ({"highway": "cycleway"}, True),
        ({"highway": "cycleway", "foot": "no"}, False),
        ({"highway": "residential", "foot": "no"}, False),
        ({"highway": "residential", "access": "private"}, False),
        ({"highway": "residential", "access": "private", "foot": "yes"}, True),
        ({"highway": "residential", "access": "no", "foot": "designated"}, True),
        ({"highway": "residential", "motorcar": "no"}, True),
        ({"highway": "corridor"}, True),
        ({"highway": "bus_guideway"}, False),
    ],
)
def test_walk_access(tags: dict[str, str], allowed: bool) -> None:
    assert WALK.directions(tags) == (BOTH if allowed else NEITHER)


# --- speeds --------------------------------------------------------------------------------------


def test_speeds() -> None:
    assert DRIVE.speed_kmh({"highway": "residential"}) == DRIVE_SPEEDS_KMH["residential"]
    assert DRIVE.speed_kmh({"highway": "residential", "maxspeed": "20"}) == 20
    assert DRIVE.speed_kmh({"highway": "primary", "maxspeed": "RO:urban"}) == 50
    assert DRIVE.speed_kmh({"highway": "primary", "maxspeed": "70"}) == 70  # above the default
    assert DRIVE.speed_kmh({"highway": "motorway", "maxspeed": "none"}) == 110
    assert DRIVE.speed_kmh({"highway": "motorway", "maxspeed": "garbage"}) == 110
    # A bike never exceeds its own speed, but slows for a lower limit.
    assert BIKE.speed_kmh({"highway": "primary", "maxspeed": "70"}) == BIKE_SPEEDS_KMH["primary"]
    assert BIKE.speed_kmh({"highway": "primary", "maxspeed": "walk"}) == 5
    # Walking ignores limits.
    assert WALK.speed_kmh({"highway": "primary", "maxspeed": "10"}) == WALK_SPEED_KMH
    assert WALK.speed_kmh({"highway": "steps"}) == WALK_SPEED_KMH
    for profile, tags in [(DRIVE, {"highway": h}) for h in DRIVE_SPEEDS_KMH] + [
        (BIKE, {"highway": h}) for h in BIKE_SPEEDS_KMH
    ]:
        assert 0 < profile.speed_kmh(tags) <= 130


def test_with_speeds() -> None:
    slower = DRIVE.with_speeds({"residential": 20})
    assert slower.speed_kmh({"highway": "residential"}) == 20
    assert slower.speed_kmh({"highway": "primary"}) == DRIVE_SPEEDS_KMH["primary"]
    assert DRIVE.speed_kmh({"highway": "residential"}) == DRIVE_SPEEDS_KMH["residential"]
    assert DRIVE_SPEEDS_KMH["residential"] == 30  # the module table is not modified
    walk = WALK.with_speeds({"steps": 2.0})
    assert walk.speed_kmh({"highway": "steps"}) == 2.0
    assert walk.speed_kmh({"highway": "footway"}) == WALK_SPEED_KMH


@pytest.mark.parametrize("bad", [0, -5, "fast", None, True, float("nan"), float("inf")])
def test_with_speeds_refuses_bad_values(bad: object) -> None:
    with pytest.raises(BadRequestData, match="residential"):
        DRIVE.with_speeds({"residential": bad})  # type: ignore[dict-item]


def test_fingerprint() -> None:
    assert DRIVE.fingerprint() == default_profile("drive").fingerprint()
    prints = {
        DRIVE.fingerprint(),
        BIKE.fingerprint(),
        WALK.fingerprint(),
        DRIVE.with_speeds({"residential": 25}).fingerprint(),
        DRIVE.with_speeds({"residential": 25.5}).fingerprint(),
        WALK.with_speeds({"footway": 4}).fingerprint(),
    }
    assert len(prints) == 6
    # Same table, built in another order: same fingerprint.
    a = DRIVE.with_speeds({"primary": 45, "service": 15})
    b = DRIVE.with_speeds({"service": 15}).with_speeds({"primary": 45})
    assert a.fingerprint() == b.fingerprint()
    from dataclasses import replace

    assert replace(DRIVE, turn_restrictions=False).fingerprint() != DRIVE.fingerprint()


@pytest.mark.parametrize("mode", ["car", "Drive", "", "transit", "walk "])
def test_unknown_mode(mode: str) -> None:
    with pytest.raises(BadRequestData, match="unknown mode") as raised:
        default_profile(mode)
    assert "drive, bike, walk" in raised.value.detail
