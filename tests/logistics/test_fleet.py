"""Reading the fleet file (sites, vehicles, zones) and the problem of an orders file and a
fleet file: every key, every mistake named by file and path, the example fleets."""

from __future__ import annotations

import json
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import shapely

from cetate.errors import BadRequestData
from cetate.logistics.fleet import FleetFile, fleet_from_data, read_fleet, read_problem
from cetate.logistics.model import (
    ALL_DAY,
    NO_LIMIT,
    UNLIMITED,
    Break,
    Site,
    Size,
    VehicleType,
    Window,
)
from cetate.logistics.orders import read_orders

EXAMPLES = Path(__file__).parents[2] / "examples" / "logistics"

MINIMAL = """\
sites:
  - {id: depot, kind: depot, at: [25.5486, 45.6545]}
vehicles:
  - {id: van, kind: diesel_van, depot: depot, capacity: {kg: 1000}}
"""

FULL = """\
name: Brașov, green plan
sites:
  - id: ucc
    kind: consolidation
    at: [25.548593, 45.654465]
    name: Centru de consolidare
    hours: "05:30-20:00"
    loading_min: 10
  - id: hub-centru
    kind: microhub
    lon: 25.593788
    lat: 45.645004
    hours: 07:00-19:00
    loading_min: 2.5
    capacity: {kg: 800, parcels: 200}
    ready_by: 08:30
vehicles:
  - id: bike
    kind: e_cargo_bike
    name: Cargo trike
    count: 10
    depot: hub-centru
    capacity: {kg: 150, m3: 0.8, parcels: 40}
    reload_at: [hub-centru]
    max_trips: 6
    shift: "08:30-17:00"
    max_work_h: 7.5
    break: {at: 12:30}
    cost: {fixed: 10, per_km: 0.05, per_hour: 15}
    emission_factor: e_cargo_bike
    range_km: 60
    max_distance_km: 80
  - id: feeder
    kind: e_van
    depot: ucc
    capacity: {kg: 900, m3: 8}
    break: {after_h: 5.5, short_min: 20, long_after_h: 9, long_min: 45}
    feeds: hub-centru
    emission_class: zero-tailpipe
  - id: van
    kind: diesel_van
    depot: ucc
    capacity: {kg: 1200, m3: 12, parcels: 250}
    emission_class: euro6
zones:
  - id: centru
    kind: pedestrian
    name: Piața Sfatului
    hours: "07:00-20:00"
    area:
      type: Polygon
      coordinates: [[[25.588, 45.641], [25.590, 45.641], [25.590, 45.643], [25.588, 45.641]]]
  - id: lez
    kind: low_emission
    allowed: [zero, euro6]
    area:
      type: Feature
      properties: {}
      geometry:
        type: MultiPolygon
        coordinates:
          - [[[25.58, 45.63], [25.60, 45.63], [25.60, 45.65], [25.58, 45.63]]]
emission_factors:
  diesel_van: {co2e_kg_per_km: 0.25}
"""


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def error_of(call: Callable[[], Any]) -> BadRequestData:
    with pytest.raises(BadRequestData) as caught:
        call()
    return caught.value


def fleet_error(tmp_path: Path, text: str) -> str:
    path = write(tmp_path, "fleet.yaml", text)
    return error_of(lambda: read_fleet(path)).detail


def hm(text: str) -> int:
    hours, minutes = text.split(":")
    return int(hours) * 3600 + int(minutes) * 60


def test_minimal_fleet_takes_the_models_defaults(tmp_path: Path) -> None:
    fleet = read_fleet(write(tmp_path, "today.yaml", MINIMAL))
    assert fleet == FleetFile(
        name="today",
        sites=(Site(id="depot", kind="depot", lon=25.5486, lat=45.6545),),
        vehicles=(
            VehicleType(
                id="van",
                kind="diesel_van",
                count=1,
                depot="depot",
                capacity=Size(1000, UNLIMITED, UNLIMITED),
            ),
        ),
        zones=(),
        emission_factors={},
    )
    assert fleet.sites[0].hours == ALL_DAY and fleet.sites[0].capacity == NO_LIMIT


def test_every_key_of_the_fleet_file(tmp_path: Path) -> None:
    fleet = read_fleet(write(tmp_path, "fleet.yaml", FULL))
    assert fleet.name == "Brașov, green plan"
    ucc, hub = fleet.sites
    assert ucc == Site(
        id="ucc",
        kind="consolidation",
        lon=25.548593,
        lat=45.654465,
        name="Centru de consolidare",
        hours=Window(hm("05:30"), hm("20:00")),
        loading_s=600,
    )
    assert hub == Site(
        id="hub-centru",
        kind="microhub",
        lon=25.593788,
        lat=45.645004,
        hours=Window(hm("07:00"), hm("19:00")),
        capacity=Size(800, UNLIMITED, 200),
        loading_s=150,
        ready_by=hm("08:30"),
    )
    bike, feeder, van = fleet.vehicles
    assert bike == VehicleType(
        id="bike",
        kind="e_cargo_bike",
        count=10,
        depot="hub-centru",
        capacity=Size(150, 0.8, 40),
        name="Cargo trike",
        reload_at=("hub-centru",),
        max_trips=6,
        shift=Window(hm("08:30"), hm("17:00")),
        max_work_s=7 * 3600 + 1800,
        breaks=Break(at=hm("12:30")),  # unquoted 12:30 is a time, not YAML's 750
        max_distance_km=80,
        range_km=60,
        fixed_cost=10,
        cost_per_km=0.05,
        cost_per_hour=15,
        emission_class="zero",  # a bike's, when not written
        emission_factor="e_cargo_bike",
    )
    assert feeder.feeds == ("hub-centru",)
    assert feeder.breaks == Break(after_s=5 * 3600 + 1800, short_s=1200)
    assert feeder.emission_class == "zero-tailpipe"  # as written
    assert feeder.shift == VehicleType.shift and feeder.max_work_s == 8 * 3600
    assert van.emission_class == "euro6" and van.fixed_cost == 0
    centre, lez = fleet.zones
    assert (centre.kind, centre.name, centre.hours) == (
        "pedestrian",
        "Piața Sfatului",
        Window(hm("07:00"), hm("20:00")),
    )
    assert isinstance(centre.area, shapely.Polygon) and centre.allowed == ()
    assert lez.kind == "low_emission" and lez.allowed == ("zero", "euro6") and lez.hours is None
    assert lez.area.contains(shapely.Point(25.595, 45.635))
    assert fleet.emission_factors == {"diesel_van": {"co2e_kg_per_km": 0.25}}


def test_a_zone_from_a_geojson_file_beside_the_fleet_file(tmp_path: Path) -> None:
    collection = {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "properties": {"name": "west"},
                "geometry": {
                    "type": "Polygon",
                    "coordinates": [[[0, 0], [1, 0], [1, 1], [0, 1], [0, 0]]],
                },
            },
            {
                "type": "Feature",
                "properties": {"name": "east"},
                "geometry": {
                    "type": "Polygon",
                    "coordinates": [[[1, 0], [2, 0], [2, 1], [1, 1], [1, 0]]],
                },
            },
        ],
    }
    (tmp_path / "zones").mkdir()
    write(tmp_path, "zones/lez.geojson", json.dumps(collection))
    text = (
        MINIMAL
        + "zones:\n  - {id: lez, kind: low_emission, allowed: [zero], area: zones/lez.geojson}\n"
    )
    (zone,) = read_fleet(write(tmp_path, "fleet.yaml", text)).zones
    assert isinstance(zone.area, shapely.Polygon)  # the union of the two halves
    assert zone.area.area == pytest.approx(2.0)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ("sites[0].kind", "'warehouse' is not one of depot | consolidation | microhub"),
        ("vehicles[0].depot", "'hub-x' is not a site"),
        (
            "vehicles[0].kind",
            "'truck' is not one of cargo_bike | e_cargo_bike | e_van | diesel_van | car",
        ),
        ("vehicles[0].count", "0 cannot be less than 1"),
        ("vehicles[0].capacity.kg", "0 must be more than 0"),
        ("vehicles[0].shift", "'17:00-08:00' ends before it starts"),
    ],
)
def test_a_wrong_value_is_named_by_file_and_path(tmp_path: Path, change: str, message: str) -> None:
    wrong = {
        "sites[0].kind": MINIMAL.replace("kind: depot", "kind: warehouse"),
        "vehicles[0].depot": MINIMAL.replace("depot: depot", "depot: hub-x"),
        "vehicles[0].kind": MINIMAL.replace("diesel_van", "truck"),
        "vehicles[0].count": MINIMAL.replace("depot: depot,", "depot: depot, count: 0,"),
        "vehicles[0].capacity.kg": MINIMAL.replace("kg: 1000", "kg: 0"),
        "vehicles[0].shift": MINIMAL.replace("depot: depot,", "depot: depot, shift: 17:00-08:00,"),
    }[change]
    assert fleet_error(tmp_path, wrong) == f"fleet.yaml: {change}: {message}"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            MINIMAL.replace("depot: depot,", "depot: depot, reload_on: [depot],"),
            "fleet.yaml: vehicles[0].reload_on: unknown key (did you mean 'reload_at'?)",
        ),
        (
            MINIMAL + "fleet_name: x\n",
            "fleet.yaml: fleet_name: unknown key (known: name, sites, vehicles, zones, "
            "emission_factors)",
        ),
        (
            MINIMAL.replace("kg: 1000", "kg: 1000, tonnes: 1"),
            "fleet.yaml: vehicles[0].capacity.tonnes: unknown key (known: kg, m3, parcels)",
        ),
        (
            MINIMAL.replace("depot: depot,", "depot: depot, reload_at: [depot, hub],"),
            "fleet.yaml: vehicles[0].reload_at[1]: 'hub' is not a site",
        ),
        (
            MINIMAL.replace("depot: depot,", "depot: depot, feeds: [depot],"),
            "fleet.yaml: vehicles[0].feeds[0]: 'depot' is a depot, not a microhub",
        ),
        (
            MINIMAL.replace("depot: depot,", "depot: depot, feeds: [hub],"),
            "fleet.yaml: vehicles[0].feeds[0]: 'hub' is not a site",
        ),
        (
            MINIMAL.replace("depot: depot,", "depot: depot, max_trips: 1.5,"),
            "fleet.yaml: vehicles[0].max_trips: 1.5 is not a whole number",
        ),
        (
            MINIMAL.replace("depot: depot,", "depot: depot, break: {at: '07:00'},"),
            "fleet.yaml: vehicles[0].break.at: '07:00' is not inside the shift",
        ),
        (
            MINIMAL.replace("depot: depot,", "depot: depot, break: {after_h: 6, long_after_h: 4},"),
            "fleet.yaml: vehicles[0].break.long_after_h: must not be less than after_h",
        ),
        (
            MINIMAL.replace("depot: depot,", "depot: depot, cost: {per_km: -1},"),
            "fleet.yaml: vehicles[0].cost.per_km: -1 cannot be less than 0",
        ),
        (
            MINIMAL.replace("depot: depot,", "depot: depot, range_km: many,"),
            "fleet.yaml: vehicles[0].range_km: 'many' is not a number",
        ),
        (
            MINIMAL.replace(", capacity: {kg: 1000}", ""),
            "fleet.yaml: vehicles[0].capacity: a value is required (kg, m3 and/or parcels)",
        ),
        (
            MINIMAL.replace("kg: 1000", ""),
            "fleet.yaml: vehicles[0].capacity: give at least one of kg, m3, parcels",
        ),
        (
            MINIMAL.replace("at: [25.5486, 45.6545]", "at: [45.6545]"),
            "fleet.yaml: sites[0].at: [45.6545] is not [lon, lat]",
        ),
        (
            MINIMAL.replace("at: [25.5486, 45.6545]", "at: [25.5, 145.6]"),
            "fleet.yaml: sites[0].at[1]: 145.6 is not a latitude (-90 to 90)",
        ),
        (
            MINIMAL.replace("at: [25.5486, 45.6545]", "at: [25.5, 45.6], lon: 25.5"),
            "fleet.yaml: sites[0].at: give either at: [lon, lat] or lon: and lat:, not both",
        ),
        (
            MINIMAL.replace("at: [25.5486, 45.6545]", "lon: 25.5"),
            "fleet.yaml: sites[0].lat: a value is required",
        ),
        (
            MINIMAL.replace(", at: [25.5486, 45.6545]", ""),
            "fleet.yaml: sites[0]: needs a place: at: [lon, lat], or lon: and lat:",
        ),
        (
            MINIMAL.replace("kind: depot,", "kind: depot, ready_by: 08:00,"),
            "fleet.yaml: sites[0].ready_by: only micro-hubs have one (this site is a depot)",
        ),
        (
            MINIMAL.replace("kind: depot,", "kind: depot, hours: 06:00-06:00,"),
            "fleet.yaml: sites[0].hours: '06:00-06:00' ends when it starts",
        ),
        (
            MINIMAL.replace("kind: depot,", "kind: depot, hours: 0600-2000,"),
            "fleet.yaml: sites[0].hours: '0600-2000': '0600' is not a time of day (HH:MM or "
            "HH:MM:SS)",
        ),
        (
            MINIMAL.replace("kind: depot,", "kind: depot, loading_min: -5,"),
            "fleet.yaml: sites[0].loading_min: -5 cannot be less than 0",
        ),
        (
            MINIMAL.replace("{id: depot,", "{"),
            "fleet.yaml: 2 errors:\nfleet.yaml: sites[0].id: a value is required\n"
            "fleet.yaml: vehicles[0].depot: 'depot' is not a site",
        ),
        (
            MINIMAL.replace("kind: depot,", "kind: microhub, colour: red,").replace(
                "depot: depot,", "depot: depot, feeds: [depot],"
            ),
            "fleet.yaml: sites[0].colour: unknown key (known: id, kind, at, lon, lat, name, "
            "hours, loading_min, capacity, ready_by)",
        ),
        (
            MINIMAL + "  - {id: van, kind: car, depot: depot, capacity: {kg: 200}}\n",
            "fleet.yaml: vehicles[1].id: 'van' is already the id of vehicles[0]",
        ),
        (
            "sites: []\nvehicles: []\n",
            "fleet.yaml: 2 errors:\nfleet.yaml: sites: must be a list with at least one "
            "item\nfleet.yaml: vehicles: must be a list with at least one item",
        ),
        (MINIMAL + "zones: {}\n", "fleet.yaml: zones: must be a list"),
        (
            MINIMAL + "emission_factors: [1]\n",
            "fleet.yaml: emission_factors: must be a mapping (key: value lines)",
        ),
        (
            MINIMAL.replace(
                "{id: van, kind: diesel_van, depot: depot, capacity: {kg: 1000}}", "van"
            ),
            "fleet.yaml: vehicles[0]: must be a mapping (key: value lines), not 'van'",
        ),
    ],
)
def test_each_mistake_is_named_by_file_and_path(tmp_path: Path, text: str, message: str) -> None:
    assert fleet_error(tmp_path, text) == message


ZONE = "zones:\n  - {id: z, kind: %s, area: %s}\n"
SQUARE = "{type: Polygon, coordinates: [[[0, 0], [1, 0], [1, 1], [0, 1], [0, 0]]]}"
BOW_TIE = "{type: Polygon, coordinates: [[[0, 0], [1, 1], [1, 0], [0, 1], [0, 0]]]}"


@pytest.mark.parametrize(
    ("zone", "message"),
    [
        (
            ZONE % ("pedestrian", BOW_TIE),
            "fleet.yaml: zones[0].area: is not a valid polygon (Self-intersection[0.5 0.5])",
        ),
        (
            ZONE
            % ("pedestrian", "{type: Polygon, coordinates: [[[0, 0], [200, 0], [0, 1], [0, 0]]]}"),
            "fleet.yaml: zones[0].area: has points that are not [lon, lat] in degrees",
        ),
        (
            ZONE % ("pedestrian", "{type: Point, coordinates: [0, 0]}"),
            "fleet.yaml: zones[0].area: must be a GeoJSON Polygon or MultiPolygon, not 'Point'",
        ),
        (
            ZONE % ("pedestrian", "{type: Polygon, coordinates: [[0, 0]]}"),
            "fleet.yaml: zones[0].area: is not valid GeoJSON (coordinates: rings of [lon, lat] "
            "points)",
        ),
        (
            ZONE % ("pedestrian", "missing.geojson"),
            "fleet.yaml: zones[0].area: {folder}/missing.geojson: cannot read it (No such file "
            "or directory)",
        ),
        (
            "zones:\n  - {id: z, kind: pedestrian}\n",
            "fleet.yaml: zones[0].area: a value is required (a GeoJSON Polygon, or a GeoJSON "
            "file's path)",
        ),
        (
            ZONE % ("low_emission", SQUARE),
            "fleet.yaml: zones[0].allowed: a list of the emission classes let in is required, "
            "e.g. [zero, euro6]",
        ),
        (
            f"zones:\n  - {{id: z, kind: pedestrian, allowed: [zero], area: {SQUARE}}}\n",
            "fleet.yaml: zones[0].allowed: a pedestrian zone lets in bikes only; leave it out",
        ),
        (
            ZONE % ("car_free", SQUARE),
            "fleet.yaml: zones[0].kind: 'car_free' is not one of pedestrian | low_emission",
        ),
    ],
)
def test_zone_mistakes(tmp_path: Path, zone: str, message: str) -> None:
    assert fleet_error(tmp_path, MINIMAL + zone) == message.replace("{folder}", str(tmp_path))


def test_mistakes_inside_a_zone_file_name_the_file_and_feature(tmp_path: Path) -> None:
    write(
        tmp_path,
        "lez.geojson",
        json.dumps(
            {
                "type": "FeatureCollection",
                "features": [
                    {"type": "Feature", "geometry": {"type": "Point", "coordinates": [0, 0]}},
                ],
            }
        ),
    )
    write(tmp_path, "broken.geojson", "{")
    text = MINIMAL + (
        "zones:\n"
        "  - {id: a, kind: pedestrian, area: lez.geojson}\n"
        "  - {id: b, kind: pedestrian, area: broken.geojson}\n"
    )
    assert fleet_error(tmp_path, text).splitlines()[1:] == [
        "fleet.yaml: zones[0].area (lez.geojson).features[0].geometry: must be a GeoJSON "
        "Polygon or MultiPolygon, not 'Point'",
        "fleet.yaml: zones[1].area (broken.geojson): line 1: not valid JSON (Expecting "
        "property name enclosed in double quotes)",
    ]


def test_several_mistakes_come_in_one_error(tmp_path: Path) -> None:
    text = MINIMAL.replace("kind: depot", "kind: hub").replace("depot: depot", "depot: nowhere")
    error = error_of(lambda: read_fleet(write(tmp_path, "fleet.yaml", text + "colour: red\n")))
    assert error.detail.splitlines() == [
        "fleet.yaml: 3 errors:",
        "fleet.yaml: colour: unknown key (known: name, sites, vehicles, zones, emission_factors)",
        "fleet.yaml: sites[0].kind: 'hub' is not one of depot | consolidation | microhub",
        "fleet.yaml: vehicles[0].depot: 'nowhere' is not a site",
    ]
    assert error.extra["errorCount"] == 3


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "fleet.yaml is empty"),
        ("- 1\n- 2\n", "fleet.yaml: must be a mapping with sites: and vehicles:"),
        (
            "sites:\n  - id: a\n     kind: depot\n",
            "fleet.yaml line 3, column 10: not valid YAML (mapping values are not allowed here)",
        ),
        (
            MINIMAL + "sites: []\n",
            "fleet.yaml line 5, column 1: not valid YAML (the key 'sites' is given twice)",
        ),
    ],
)
def test_a_file_that_is_not_a_fleet(tmp_path: Path, text: str, message: str) -> None:
    assert fleet_error(tmp_path, text) == message


def test_a_night_shift_counts_hours_past_24(tmp_path: Path) -> None:
    night = "depot: depot, shift: 22:00-30:30, break: {at: 26:15},"
    (van,) = read_fleet(
        write(tmp_path, "fleet.yaml", MINIMAL.replace("depot: depot,", night))
    ).vehicles
    assert van.shift == Window(hm("22:00"), hm("30:30"))
    assert van.breaks.at == hm("26:15")
    # The night's 02:15 is 26:15: 02:15 is the morning before the shift.
    text = MINIMAL.replace("depot: depot,", night.replace("26:15", "02:15"))
    assert fleet_error(tmp_path, text) == (
        "fleet.yaml: vehicles[0].break.at: '02:15' is not inside the shift"
    )


def test_sexagesimal_and_octal_look_alikes_stay_text(tmp_path: Path) -> None:
    # YAML 1.1 reads 12:30 as 750 and 0730 as 472: the fleet file reads what was meant.
    text = MINIMAL.replace("depot: depot,", "depot: depot, break: {at: 12:30},")
    assert read_fleet(write(tmp_path, "fleet.yaml", text)).vehicles[0].breaks.at == hm("12:30")
    text = MINIMAL.replace("kind: depot,", "kind: depot, name: 0730,")
    assert read_fleet(write(tmp_path, "fleet.yaml", text)).sites[0].name == "0730"
    text = MINIMAL.replace("kg: 1000", "kg: 1_000.5")
    assert read_fleet(write(tmp_path, "fleet.yaml", text)).vehicles[0].capacity.kg == 1000.5


# -- the problem ------------------------------------------------------------------------------


def test_read_problem_joins_orders_and_fleet(tmp_path: Path) -> None:
    fleet = write(tmp_path, "fleet.yaml", FULL)
    orders = write(tmp_path, "orders.csv", "id,lon,lat\nA,25.59,45.64\n")
    problem, factors = read_problem(orders, fleet)
    assert problem.name == "Brașov, green plan"
    assert [o.id for o in problem.orders] == ["A"]
    assert [s.id for s in problem.sites] == ["ucc", "hub-centru"]
    assert [v.id for v in problem.fleet] == ["bike", "feeder", "van"]
    assert [z.id for z in problem.zones] == ["centru", "lez"]
    assert factors == {"diesel_van": {"co2e_kg_per_km": 0.25}}


def test_read_problem_reports_the_mistakes_of_both_files(tmp_path: Path) -> None:
    fleet = write(tmp_path, "fleet.yaml", MINIMAL.replace("depot: depot", "depot: x"))
    orders = write(tmp_path, "orders.csv", "id,lon,lat\nA,abc,45.64\nB,25.6,\n")
    error = error_of(lambda: read_problem(orders, fleet))
    assert error.detail.splitlines() == [
        "fleet.yaml: vehicles[0].depot: 'x' is not a site",
        "orders.csv: 2 errors:",
        "orders.csv line 2, field 'lon': 'abc' is not a number",
        "orders.csv line 3, field 'lat': a value is required",
    ]
    assert error.extra["errorCount"] == 3
    assert len(error.extra["errors"]) == 3
    only_orders = error_of(lambda: read_problem(orders, write(tmp_path, "ok.yaml", MINIMAL)))
    assert only_orders.detail.splitlines()[0] == "orders.csv: 2 errors:"


# -- the examples -----------------------------------------------------------------------------


def test_the_green_example_fleet() -> None:
    fleet = read_fleet(EXAMPLES / "fleet-green.yaml")
    kinds = {site.id: site.kind for site in fleet.sites}
    assert sorted(kinds.values()) == ["consolidation", "microhub", "microhub"]
    bikes = [v for v in fleet.vehicles if v.kind == "e_cargo_bike"]
    vans = [v for v in fleet.vehicles if v.kind == "e_van"]
    assert bikes and all(kinds[b.depot] == "microhub" and b.reload_at == (b.depot,) for b in bikes)
    assert vans and all(set(v.feeds) == {"hub-centru", "hub-tractorul"} for v in vans)
    pedestrian, low_emission = fleet.zones
    assert pedestrian.kind == "pedestrian" and low_emission.kind == "low_emission"
    piata_sfatului = shapely.Point(25.58907, 45.64154)
    assert pedestrian.area.contains(piata_sfatului)
    assert low_emission.area.contains(pedestrian.area)
    hub = next(s for s in fleet.sites if s.id == "hub-centru")
    assert not pedestrian.area.contains(shapely.Point(hub.lon, hub.lat))  # e-vans can reach it


def test_the_diesel_example_fleet() -> None:
    fleet = read_fleet(EXAMPLES / "fleet-diesel.yaml")
    assert [s.kind for s in fleet.sites] == ["depot"]
    assert {v.kind for v in fleet.vehicles} == {"diesel_van"}
    assert fleet.zones == ()


def test_the_examples_make_problems_with_the_same_orders() -> None:
    orders = read_orders(EXAMPLES / "orders-sample.csv")
    for name in ("fleet-green.yaml", "fleet-diesel.yaml"):
        problem, _ = read_problem(EXAMPLES / "orders-sample.csv", EXAMPLES / name)
        assert problem.orders == orders


def test_the_examples_places_are_inside_brasov(shared_data: Path) -> None:
    boundary_file = shared_data / "osm" / "brasov" / "brasov.poly"
    if not boundary_file.is_file():
        pytest.skip(f"the Brașov boundary is not at {boundary_file}")
    city = _poly(boundary_file.read_text())
    problem, _ = read_problem(EXAMPLES / "orders-sample.csv", EXAMPLES / "fleet-green.yaml")
    places = [(s.lon, s.lat) for s in problem.sites] + [
        (stop.lon, stop.lat)
        for order in problem.orders
        for stop in (order.at, order.origin)
        if stop is not None
    ]
    assert all(city.contains(shapely.Point(p)) for p in places)
    assert all(city.contains(zone.area) for zone in problem.zones)


def _poly(text: str) -> shapely.Geometry:
    """An Osmosis .poly file's outer rings (``!``-prefixed holes left out)."""
    rings: list[list[tuple[float, float]]] = []
    current: list[tuple[float, float]] | None = None
    skip = False
    for line in textwrap.dedent(text).splitlines()[1:]:
        line = line.strip()
        if line == "END":
            if current is not None and not skip:
                rings.append(current)
            current = None
        elif current is None and line:
            current, skip = [], line.startswith("!")
        elif current is not None and line:
            lon, lat = line.split()[:2]
            current.append((float(lon), float(lat)))
    return shapely.union_all([shapely.Polygon(ring) for ring in rings if len(ring) >= 3])


def test_a_fleet_sent_as_data_reads_alike_but_reads_no_files() -> None:
    document = {
        "sites": [{"id": "depot", "kind": "depot", "at": [25.5486, 45.6545]}],
        "vehicles": [{"id": "van", "kind": "e_van", "depot": "depot", "capacity": {"kg": 900}}],
        "zones": [{"id": "z", "kind": "pedestrian", "area": "/etc/zones.geojson"}],
    }
    detail = error_of(lambda: fleet_from_data(document, "request fleet")).detail
    assert detail == (
        "request fleet: zones[0].area: give the GeoJSON polygon itself here, not a file's path"
    )
    del document["zones"]
    fleet = fleet_from_data(document, "request fleet")
    assert fleet.name == "" and fleet.vehicles[0].emission_class == "zero"
