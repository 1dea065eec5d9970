"""The registration of dashboard modules and the state rules that colour their layers."""

from __future__ import annotations

import pytest

from cetate.web.ui.modules import AIR, LIGHTS, PARKING, TRAFFIC, default_registry
from cetate.web.ui.registry import LayerSpec, Registry, StyleRule, UiModule, type_layer


def test_the_map_and_the_hub_explorer_come_first() -> None:
    registry = default_registry()
    assert [m.id for m in registry.ordered()] == ["map", "alerts", "hub"]
    assert [layer.id for layer in registry.layers()] == [
        "parking",
        "traffic",
        "lights",
        "air",
        "alerts",
    ]
    assert registry.layer("lights") is LIGHTS
    assert registry.layer("nothing") is None


def test_a_module_adds_its_page_and_layers() -> None:
    registry = default_registry()
    bins = LayerSpec(
        "waste",
        "Waste bins",
        "Containere",
        ("WasteContainer",),
        (StyleRule("full", "#c51b1b", "Full", "Plin", "fillingLevel", below=None),),
    )
    registry.register(UiModule("waste", "Waste", "Deșeuri", "/static/waste.js", (bins,), 30))
    assert [m.id for m in registry.ordered()] == ["map", "alerts", "hub", "waste"]
    assert registry.layer("waste") is bins
    described = registry.modules["waste"].describe()
    assert described == {
        "id": "waste",
        "title": {"en": "Waste", "ro": "Deșeuri"},
        "script": "/static/waste.js",
        "layers": ["waste"],
        "badge": None,
    }


def test_registration_refuses_what_would_be_ambiguous() -> None:
    registry = default_registry()
    with pytest.raises(ValueError, match="already registered"):
        registry.register(UiModule("map", "Map", "Hartă"))
    with pytest.raises(ValueError, match="layer 'lights'"):
        registry.register(UiModule("other", "Other", "Altul", layers=(LIGHTS,)))
    twice = LayerSpec("lamps", "Lamps", "Lămpi", ("Streetlight",))
    with pytest.raises(ValueError, match="Streetlight"):  # one entity, one layer
        registry.register(UiModule("lamps", "Lamps", "Lămpi", layers=(twice,)))
    assert [m.id for m in registry.ordered()] == ["map", "alerts", "hub"]  # nothing half-registered


@pytest.mark.parametrize(
    "make",
    [
        lambda: LayerSpec("Bad Id", "x", "x", ("T",)),
        lambda: LayerSpec("empty", "x", "x", ()),
        lambda: LayerSpec("colour", "x", "x", ("T",), (StyleRule("a", "red", "a", "a"),)),
        lambda: UiModule("page", "x", "x", script="https://example.org/page.js"),
    ],
)
def test_bad_specs_are_refused(make: object) -> None:
    with pytest.raises(ValueError):
        make()  # type: ignore[operator]


@pytest.mark.parametrize(
    ("values", "state"),
    [
        ({"occupancy": 0.0}, "free"),
        ({"occupancy": 0.699}, "free"),
        ({"occupancy": 0.7}, "busy"),
        ({"occupancy": 0.95}, "full"),
        ({"occupancy": "n/a"}, "full"),  # a value that is there but not a number: as the last
        ({"availableSpotNumber": 3}, "unknown"),
        ({}, "unknown"),
    ],
)
def test_parking_is_coloured_by_occupancy(values: dict[str, object], state: str) -> None:
    assert PARKING.state(values) == state


@pytest.mark.parametrize(
    ("values", "state"),
    [
        ({"status": "ok", "powerState": "on"}, "on"),
        ({"status": "ok", "powerState": "off"}, "off"),
        ({"status": "defectiveLamp", "powerState": "off"}, "fault"),
        ({"status": "brokenLantern", "powerState": "on"}, "fault"),
        ({"status": "ok"}, "unknown"),
    ],
)
def test_a_faulty_light_shows_as_a_fault_whatever_its_power(
    values: dict[str, object], state: str
) -> None:
    assert LIGHTS.state(values) == state


def test_booleans_and_numbers_are_told_apart() -> None:
    assert TRAFFIC.state({"congested": True}) == "congested"
    assert TRAFFIC.state({"congested": False}) == "flowing"
    assert TRAFFIC.state({"congested": 1}) == "unknown"  # True == 1 in Python, not here
    assert TRAFFIC.state({"congested": 0}) == "unknown"
    only_one = StyleRule("one", "#000000", "1", "1", "n", (1,))
    assert only_one.matches({"n": 1}) and not only_one.matches({"n": True})


def test_air_quality_follows_the_european_index() -> None:
    bands = ["good", "fair", "moderate", "poor", "veryPoor", "extremelyPoor"]
    states = [AIR.state({"airQualityLevel": band}) for band in bands]
    assert states == ["good", "fair", "moderate", "poor", "very-poor", "extremely-poor"]


def test_a_layer_describes_its_legend_once_per_state() -> None:
    layer = LayerSpec(
        "x",
        "X",
        "X",
        ("T",),
        (
            StyleRule("bad", "#ff0000", "Bad", "Rău", "a", ("1",)),
            StyleRule("bad", "#ff0000", "Bad", "Rău", "b", ("1",)),
            StyleRule("good", "#00ff00", "Good", "Bun"),
        ),
    )
    assert [s["state"] for s in layer.describe()["states"]] == ["bad", "good"]
    assert layer.attributes == frozenset({"a", "b"})


def test_an_unclaimed_type_gets_a_plain_layer_switched_off() -> None:
    layer = type_layer("PointOfInterest")
    assert layer.id == "type-pointofinterest"
    assert layer.entity_types == ("PointOfInterest",)
    assert not layer.visible
    assert layer.state({"anything": 1}) == ""
    assert Registry().layers() == []
