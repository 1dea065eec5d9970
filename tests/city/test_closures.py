"""Road closures as data: parsing keyValues documents, what is refused and why, the validity
interval, modes, and the NGSI-LD entity written back (the pure functions of closures.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
import shapely
from hypothesis import example, given, settings
from hypothesis import strategies as st

from cetate.city.closures import (
    CLOSURE_TYPE,
    Closure,
    active_closures,
    parse_area,
    parse_closure,
)
from cetate.errors import BadRequestData

ID = "urn:ngsi-ld:cetate:RoadClosure:bridge-works"
SQUARE = {
    "type": "Polygon",
    "coordinates": [
        [[25.59, 45.66], [25.60, 45.66], [25.60, 45.67], [25.59, 45.67], [25.59, 45.66]]
    ],
}


def closure(**fields: Any) -> dict[str, Any]:
    return {"id": ID, "type": CLOSURE_TYPE, **fields}


def key_values(document: dict[str, Any]) -> dict[str, Any]:
    """A normalized NGSI-LD entity as keyValues (what the hub gives back)."""
    return {
        k: (v["value"] if isinstance(v, dict) and "value" in v else v) for k, v in document.items()
    }


# --- parsing -------------------------------------------------------------------------------------


def test_an_area() -> None:
    parsed = parse_closure(closure(location=SQUARE, reason="flood"))
    assert parsed.id == ID
    assert parsed.area is not None and parsed.area.equals(shapely.geometry.shape(SQUARE))
    assert parsed.segment_ids == frozenset()
    assert parsed.modes == frozenset({"drive", "bike", "walk"})  # all modes when not given
    assert parsed.valid_from is None and parsed.valid_to is None
    assert parsed.reason == "flood"


def test_segments_and_modes() -> None:
    parsed = parse_closure(
        closure(segments=["315331137-0", "366967329-0", "315331137-0"], modes=["drive"])
    )
    assert parsed.area is None
    assert parsed.segment_ids == frozenset({"315331137-0", "366967329-0"})
    assert parsed.modes == frozenset({"drive"})
    assert parsed.reason is None


def test_multipolygon_and_both() -> None:
    other = {
        "type": "Polygon",
        "coordinates": [[[25.61, 45.66], [25.62, 45.66], [25.62, 45.67], [25.61, 45.66]]],
    }
    multi = {"type": "MultiPolygon", "coordinates": [SQUARE["coordinates"], other["coordinates"]]}
    parsed = parse_closure(closure(location=multi, segments=["1-0"]))
    assert isinstance(parsed.area, shapely.MultiPolygon)
    assert parsed.segment_ids == {"1-0"}


def test_times() -> None:
    parsed = parse_closure(
        closure(
            segments=["1-0"],
            validFrom="2025-03-01T07:00:00Z",
            validTo="2025-03-01T10:00:00+02:00",  # 08:00 UTC
        )
    )
    assert parsed.valid_from == datetime(2025, 3, 1, 7, tzinfo=UTC)
    assert parsed.valid_to == datetime(2025, 3, 1, 8, tzinfo=UTC)
    # A time without a zone is UTC.
    naive = parse_closure(closure(segments=["1-0"], validFrom="2025-03-01T07:00:00"))
    assert naive.valid_from == datetime(2025, 3, 1, 7, tzinfo=UTC)


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"id": None}, "needs an id"),
        ({"id": ""}, "needs an id"),
        ({"id": 5}, "needs an id"),
        ({}, "give an area"),
        ({"segments": []}, "give an area"),
        ({"location": None, "segments": None}, "give an area"),
        ({"segments": "1-0"}, "segments must be a list"),
        ({"segments": [1, 2]}, "segments must be a list"),
        ({"segments": {"a": 1}}, "segments must be a list"),
        ({"location": {"type": "Point", "coordinates": [25.6, 45.6]}}, "Polygon or MultiPolygon"),
        ({"location": "POLYGON ((0 0, 1 0, 1 1, 0 0))"}, "Polygon or MultiPolygon"),
        ({"location": {"type": "Polygon", "coordinates": "nope"}}, "not valid GeoJSON"),
        ({"location": {"type": "Polygon", "coordinates": [[[0, 0], [1, 1]]]}}, "location"),
        ({"location": {"type": "Polygon"}}, "location"),
        ({"location": {"type": "Polygon", "coordinates": []}}, "not a valid polygon"),
        # A bow tie: self-intersecting.
        (
            {
                "location": {
                    "type": "Polygon",
                    "coordinates": [[[0, 0], [1, 1], [1, 0], [0, 1], [0, 0]]],
                }
            },
            "Self-intersection",
        ),
        ({"segments": ["1-0"], "modes": ["car"]}, "modes must be a list"),
        ({"segments": ["1-0"], "modes": "drive"}, "modes must be a list"),
        ({"segments": ["1-0"], "modes": ["drive", "fly"]}, "modes must be a list"),
        ({"segments": ["1-0"], "validFrom": "yesterday"}, "validFrom"),
        ({"segments": ["1-0"], "validTo": 1700000000}, "validTo"),
        (
            {
                "segments": ["1-0"],
                "validFrom": "2025-03-01T10:00:00Z",
                "validTo": "2025-03-01T09:00:00Z",
            },
            "validTo must be after validFrom",
        ),
        (
            {
                "segments": ["1-0"],
                "validFrom": "2025-03-01T10:00:00Z",
                "validTo": "2025-03-01T10:00:00Z",
            },
            "validTo must be after validFrom",
        ),
    ],
)
def test_refused(fields: dict[str, Any], message: str) -> None:
    with pytest.raises(BadRequestData) as raised:
        parse_closure(closure(**fields))
    assert message in raised.value.detail
    if isinstance(fields.get("id", ID), str) and fields.get("id", ID):
        assert raised.value.detail.startswith(ID), "the error names the closure"


def test_empty_modes_mean_all() -> None:
    """``modes: []`` is read as "not given" (all modes), like a missing field."""
    assert parse_closure(closure(segments=["1-0"], modes=[])).modes == {"drive", "bike", "walk"}


def test_parse_area_names_its_owner() -> None:
    with pytest.raises(BadRequestData, match=r"^area-owner: location"):
        parse_area({"type": "LineString", "coordinates": [[0, 0], [1, 1]]}, "area-owner")
    assert parse_area(SQUARE, "x").area == pytest.approx(0.0001)


# --- validity and modes --------------------------------------------------------------------------


def make(valid_from: datetime | None, valid_to: datetime | None, modes: set[str]) -> Closure:
    return Closure(
        id=f"urn:test:{valid_from}-{valid_to}-{sorted(modes)}",
        area=None,
        segment_ids=frozenset({"1-0"}),
        valid_from=valid_from,
        valid_to=valid_to,
        modes=frozenset(modes),
        reason=None,
    )


def test_active_interval() -> None:
    start = datetime(2025, 3, 1, 8, tzinfo=UTC)
    end = start + timedelta(hours=2)
    bounded = make(start, end, {"drive"})
    assert not bounded.active(start - timedelta(microseconds=1))
    assert bounded.active(start)  # from is inclusive
    assert bounded.active(end - timedelta(microseconds=1))
    assert not bounded.active(end)  # to is exclusive
    # The same instant in another zone.
    assert bounded.active(datetime(2025, 3, 1, 11, tzinfo=timezone(timedelta(hours=2))))
    assert make(None, None, {"drive"}).active(datetime(1970, 1, 1, tzinfo=UTC))
    assert make(start, None, {"drive"}).active(datetime(2999, 1, 1, tzinfo=UTC))
    assert not make(None, start, {"drive"}).active(start)


def test_active_closures() -> None:
    now = datetime(2025, 3, 1, 9, tzinfo=UTC)
    hour = timedelta(hours=1)
    drive_now = make(now - hour, now + hour, {"drive"})
    all_now = make(None, None, {"drive", "bike", "walk"})
    walk_now = make(None, now + hour, {"walk"})
    drive_later = make(now + hour, None, {"drive"})
    drive_past = make(None, now - hour, {"drive"})
    every = [drive_now, all_now, walk_now, drive_later, drive_past]
    assert active_closures(every, now, "drive") == [drive_now, all_now]
    assert active_closures(every, now, "walk") == [all_now, walk_now]
    assert active_closures(every, now, "bike") == [all_now]
    assert active_closures(every, now + 2 * hour, "drive") == [all_now, drive_later]
    assert active_closures([], now, "drive") == []


# --- the entity written back ---------------------------------------------------------------------


def test_document_round_trip() -> None:
    original = parse_closure(
        closure(
            location=SQUARE,
            segments=["2-1", "1-0"],
            validFrom="2025-03-01T08:00:00Z",
            validTo="2025-03-01T10:30:00.250+01:00",
            modes=["drive", "bike"],
            reason="bridge works",
        )
    )
    document = original.document()
    assert document["id"] == ID and document["type"] == CLOSURE_TYPE
    assert document["location"]["type"] == "GeoProperty"
    assert document["location"]["value"]["type"] == "Polygon"
    # Plain JSON: lists, not the tuples shapely gives.
    assert isinstance(document["location"]["value"]["coordinates"][0][0], list)
    assert document["segments"] == {"type": "Property", "value": ["1-0", "2-1"]}
    assert document["validFrom"]["value"] == "2025-03-01T08:00:00.000Z"
    assert document["validTo"]["value"] == "2025-03-01T09:30:00.250Z"
    assert document["modes"]["value"] == ["bike", "drive"]
    assert document["reason"]["value"] == "bridge works"
    again = parse_closure(key_values(document))
    assert again.id == original.id
    assert again.area is not None and again.area.equals(original.area)
    assert again.segment_ids == original.segment_ids
    assert again.valid_from == original.valid_from and again.valid_to == original.valid_to
    assert again.modes == original.modes and again.reason == original.reason


def test_document_leaves_out_what_is_not_set() -> None:
    document = parse_closure(closure(segments=["1-0"])).document()
    assert set(document) == {"id", "type", "segments", "modes"}
    assert document["modes"]["value"] == ["bike", "drive", "walk"]
    area_only = parse_closure(closure(location=SQUARE)).document()
    assert "segments" not in area_only and "location" in area_only


# --- anything at all -----------------------------------------------------------------------------

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
COORDINATES = st.recursive(
    st.floats() | st.integers() | st.text(max_size=3) | st.none(),
    lambda inner: st.lists(inner, max_size=5),
    max_leaves=20,
)


@settings(max_examples=300, deadline=None)
@given(
    location=st.one_of(
        JSON,
        st.fixed_dictionaries(
            {"type": st.sampled_from(["Polygon", "MultiPolygon"]), "coordinates": COORDINATES}
        ),
    ),
    segments=JSON,
    modes=JSON,
    valid_from=JSON,
    reason=JSON,
)
@example(location=None, segments=["1-0"], modes=[["drive"]], valid_from=None, reason=None)
@example(location=None, segments=["1-0"], modes=[{"a": 1}], valid_from=None, reason=None)
@example(
    location={"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [1, "x"], [0, 0]]]},
    segments=None,
    modes=None,
    valid_from=None,
    reason=None,
)
@example(
    location={"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [1, None], [0, 0]]]},
    segments=None,
    modes=None,
    valid_from=None,
    reason=None,
)
@example(
    location={"type": "MultiPolygon", "coordinates": [[[[0, 0], [1, 0], [1, 1]]], 5]},
    segments=None,
    modes=None,
    valid_from=None,
    reason=None,
)
def test_anything_is_parsed_or_refused(
    location: Any, segments: Any, modes: Any, valid_from: Any, reason: Any
) -> None:
    """Whatever an NGSI-LD client stores, parsing either succeeds or says what is wrong: any
    other exception would stop every query that reads the hub's closures."""
    raw = closure(location=location, segments=segments, modes=modes, validFrom=valid_from)
    raw["reason"] = reason
    try:
        parsed = parse_closure(raw)
    except BadRequestData:
        return
    assert parsed.area is not None or parsed.segment_ids
    assert parsed.modes <= {"drive", "bike", "walk"}
