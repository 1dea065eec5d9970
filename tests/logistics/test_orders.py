"""Reading orders (CSV, JSON, GeoJSON), the clock they are written in, and orders as hub
entities: every field, every mistake named by file, line and field."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cetate.errors import BadRequestData
from cetate.hub.documents import find_documents
from cetate.hub.service import Hub
from cetate.logistics.clock import (
    MAX_CLOCK_S,
    format_clock,
    format_clock_exact,
    format_window,
    parse_clock,
    parse_window,
    parse_windows,
)
from cetate.logistics.entities import (
    ORDER_TYPE,
    order_entity,
    orders_from_entities,
    orders_from_hub,
    write_orders,
)
from cetate.logistics.model import Order, Size, Stop, Window
from cetate.logistics.orders import MAX_ERRORS, orders_from_data, read_orders

EXAMPLES = Path(__file__).parents[2] / "examples" / "logistics"
HEADER = "id,kind,lon,lat,address,windows,service_min,kg,m3,parcels,optional,penalty\n"


def hm(text: str) -> int:
    hours, minutes = text.split(":")
    return int(hours) * 3600 + int(minutes) * 60


def write(folder: Path, name: str, text: str | bytes) -> Path:
    path = folder / name
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def error_of(call: Callable[[], Any]) -> BadRequestData:
    with pytest.raises(BadRequestData) as caught:
        call()
    return caught.value


def csv_error(tmp_path: Path, rows: str, header: str = HEADER) -> str:
    path = write(tmp_path, "orders.csv", header + rows)
    return error_of(lambda: read_orders(path)).detail


# -- the clock --------------------------------------------------------------------------------


def test_clock_reads_minutes_seconds_and_night_hours() -> None:
    assert parse_clock("08:30") == 8 * 3600 + 30 * 60
    assert parse_clock("8:30") == 8 * 3600 + 30 * 60
    assert parse_clock(" 08:30:15 ") == 8 * 3600 + 30 * 60 + 15
    assert parse_clock("00:00") == 0
    assert parse_clock("30:30") == 30 * 3600 + 30 * 60  # 06:30 the next morning
    assert parse_clock("48:00") == MAX_CLOCK_S


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("8", "'8' is not a time of day (HH:MM or HH:MM:SS)"),
        ("08:60", "'08:60' is not a time of day (HH:MM or HH:MM:SS)"),
        ("08:3", "'08:3' is not a time of day (HH:MM or HH:MM:SS)"),
        ("08h30", "'08h30' is not a time of day (HH:MM or HH:MM:SS)"),
        ("-01:00", "'-01:00' is not a time of day (HH:MM or HH:MM:SS)"),
        ("48:00:01", "'48:00:01' is after 48:00"),
        ("", "'' is not a time of day (HH:MM or HH:MM:SS)"),
    ],
)
def test_clock_refuses_what_is_not_a_time(text: str, message: str) -> None:
    assert error_of(lambda: parse_clock(text)).detail == message


def test_windows_are_sorted_and_may_touch_but_not_overlap() -> None:
    assert parse_windows("") == ()
    assert parse_windows("14:00-16:00; 09:00-11:00") == (
        Window(hm("09:00"), hm("11:00")),
        Window(hm("14:00"), hm("16:00")),
    )
    assert parse_windows("09:00-11:00,11:00-12:00") == (
        Window(hm("09:00"), hm("11:00")),
        Window(hm("11:00"), hm("12:00")),
    )
    assert parse_window("09:00\u201311:00") == Window(hm("09:00"), hm("11:00"))  # en dash
    assert parse_window("10:00-10:00") == Window(hm("10:00"), hm("10:00"))
    assert error_of(lambda: parse_windows("09:00-12:00;11:00-13:00")).detail == (
        "the windows 09:00-12:00 and 11:00-13:00 overlap"
    )
    assert (
        error_of(lambda: parse_window("11:00-09:00")).detail
        == "'11:00-09:00' ends before it starts"
    )
    assert error_of(lambda: parse_window("09:00")).detail == (
        "'09:00' is not a time window (HH:MM-HH:MM)"
    )


def test_clock_formats_for_tables_and_exactly_for_storage() -> None:
    assert format_clock(hm("08:30") + 59) == "08:30"
    assert format_clock(hm("25:05")) == "25:05"
    assert format_clock_exact(hm("08:30")) == "08:30"
    assert format_clock_exact(hm("08:30") + 7) == "08:30:07"
    assert format_window(Window(hm("09:00"), hm("11:00") + 1)) == "09:00-11:00:01"


@given(st.integers(0, MAX_CLOCK_S), st.integers(0, MAX_CLOCK_S))
def test_a_window_written_reads_back_the_same(a: int, b: int) -> None:
    window = Window(min(a, b), max(a, b))
    assert parse_window(format_window(window)) == window
    assert parse_clock(format_clock_exact(a)) == a


@given(st.text(max_size=20))
def test_any_text_is_a_clock_or_a_clear_error(text: str) -> None:
    try:
        moment = parse_clock(text)
    except BadRequestData as error:
        assert repr(text) in error.detail
    else:
        assert 0 <= moment <= MAX_CLOCK_S


# -- CSV --------------------------------------------------------------------------------------


def test_csv_every_field(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "orders.csv",
        HEADER
        + 'A1,delivery,25.5919,45.6431,"Strada Republicii 19, Brașov",09:00-11:00,2.5,4.5,0.02,'
        "1,no,\n"
        "A2,,25.5891,45.6415,,09:00-11:00;15:00-17:00:30,3,0,0,0,,\n"
        "A3,pickup,25.59,45.64,,,,,,,yes,12.5\n"
        "A4,Delivery,25.59,45.64,,,,,,,0,\n",
    )
    orders = read_orders(path)
    assert orders[0] == Order(
        id="A1",
        kind="delivery",
        at=Stop(
            lon=25.5919,
            lat=45.6431,
            windows=(Window(hm("09:00"), hm("11:00")),),
            service_s=150,
            address="Strada Republicii 19, Brașov",
        ),
        size=Size(kg=4.5, m3=0.02, parcels=1),
        source="orders.csv line 2",
    )
    assert orders[1].kind == "delivery"
    assert orders[1].at.windows == (
        Window(hm("09:00"), hm("11:00")),
        Window(hm("15:00"), hm("17:00") + 30),
    )
    assert orders[1].size == Size()
    assert orders[2].kind == "pickup"
    assert orders[2].optional and orders[2].penalty == 12.5
    assert orders[2].at.windows == () and orders[2].at.service_s == 0
    assert orders[3].kind == "delivery" and not orders[3].optional


def test_csv_shipment_and_the_other_spellings(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "orders.csv",
        "id,kind,lon,lat,window_start,window_end,service_s,origin_lon,origin_lat,"
        "origin_address,origin_windows,origin_service_min,parcels,note\n"
        "S1,shipment,25.59,45.64,11:00,13:00,90,25.5892,45.6405,Strada Poarta Schei 4,"
        "09:30-11:00,5,3,fragile\n"
        "D1,delivery,25.59,45.64,09:00,09:00,,,,,,,1,\n",
    )
    shipment, delivery = read_orders(path)
    assert shipment.kind == "shipment"
    assert shipment.at == Stop(25.59, 45.64, (Window(hm("11:00"), hm("13:00")),), 90)
    assert shipment.origin == Stop(
        25.5892, 45.6405, (Window(hm("09:30"), hm("11:00")),), 300, "Strada Poarta Schei 4"
    )
    assert shipment.size == Size(parcels=3)
    assert delivery.at.windows == (Window(hm("09:00"), hm("09:00")),)
    assert delivery.origin is None


def test_csv_with_bom_semicolons_and_decimal_commas(tmp_path: Path) -> None:
    text = "id;lon;lat;kg;service_min;windows\r\nB1;25,5919;45,6431;1,5;2,5;09:00-11:00\r\n"
    path = write(tmp_path, "comenzi.csv", b"\xef\xbb\xbf" + text.encode())
    (order,) = read_orders(path)
    assert order.id == "B1"  # the BOM is not part of the first column's name
    assert (order.at.lon, order.at.lat, order.size.kg) == (25.5919, 45.6431, 1.5)
    assert order.at.service_s == 150


def test_csv_line_numbers_are_physical_lines(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "orders.csv",
        'id,lon,lat,address\n\nL3,25.59,45.64,"two\nlines"\nL5,25.59,45.64,\n\n,,,\n',
    )
    first, second = read_orders(path)
    assert first.source == "orders.csv line 3"
    assert first.at.address == "two\nlines"
    assert second.source == "orders.csv line 5"


def test_csv_ignores_unknown_columns_and_spells_headers_loosely(tmp_path: Path) -> None:
    path = write(tmp_path, "orders.csv", " ID , Lon ,LAT,colour,\nX,25.59,45.64,red,\n")
    (order,) = read_orders(path)
    assert order.id == "X"


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ("A,,abc,45.64,,,,,,,,", "field 'lon': 'abc' is not a number"),
        ("A,,200,45.64,,,,,,,,", "field 'lon': '200' is not a longitude (-180 to 180)"),
        ("A,,25.6,-91,,,,,,,,", "field 'lat': '-91' is not a latitude (-90 to 90)"),
        ("A,,25.6,nan,,,,,,,,", "field 'lat': 'nan' is not a number"),
        ("A,,,45.64,,,,,,,,", "field 'lon': a value is required"),
        (",,25.6,45.64,,,,,,,,", "field 'id': a value is required"),
        (
            "A,drop,25.6,45.64,,,,,,,,",
            "field 'kind': 'drop' is not one of delivery, pickup, shipment",
        ),
        (
            "A,,25.6,45.64,,9-11,,,,,,",
            "field 'windows': '9-11': '9' is not a time of day (HH:MM or HH:MM:SS)",
        ),
        (
            "A,,25.6,45.64,,11:00-09:00,,,,,,",
            "field 'windows': '11:00-09:00' ends before it starts",
        ),
        ("A,,25.6,45.64,,,-2,,,,,", "field 'service_min': '-2' cannot be negative"),
        ("A,,25.6,45.64,,,,abc,,,,", "field 'kg': 'abc' is not a number"),
        (
            'A,,25.6,45.64,,,,"1,5",,,,',
            "field 'kg': '1,5' is not a number (write decimals with a dot)",
        ),
        ("A,,25.6,45.64,,,,,-0.1,,,", "field 'm3': '-0.1' cannot be negative"),
        ("A,,25.6,45.64,,,,,,1.5,,", "field 'parcels': '1.5' is not a whole number"),
        (
            "A,,25.6,45.64,,,,,,,maybe,",
            "field 'optional': 'maybe' is not true/false, yes/no or 1/0",
        ),
        (
            "A,,25.6,45.64,,,,,,,yes,",
            "field 'penalty': an optional order needs a penalty above 0 EUR",
        ),
        (
            "A,,25.6,45.64,,,,,,,true,0",
            "field 'penalty': an optional order needs a penalty above 0 EUR",
        ),
        ("A,,25.6,45.64,,,,,,,true,-5", "field 'penalty': '-5' cannot be negative"),
    ],
)
def test_csv_each_mistake_names_file_line_and_field(tmp_path: Path, row: str, message: str) -> None:
    assert csv_error(tmp_path, row + "\n") == "orders.csv line 2, " + message


def test_csv_a_row_of_the_wrong_length(tmp_path: Path) -> None:
    assert csv_error(tmp_path, "A,,25.6,45.64,,,,,,,\n") == (
        "orders.csv line 2: 11 values, but the header (line 1) has 12 columns"
    )


@pytest.mark.parametrize(
    ("header", "row", "message"),
    [
        (
            "id,lon,lat,windows,window_start\n",
            "A,25.6,45.64,09:00-10:00,09:00",
            "field 'windows': give either windows or window_start and window_end, not both",
        ),
        (
            "id,lon,lat,window_start\n",
            "A,25.6,45.64,09:00",
            "field 'window_end': a value is required with window_start",
        ),
        (
            "id,lon,lat,window_start,window_end\n",
            "A,25.6,45.64,10:00,09:00",
            "field 'window_end': '09:00' is before window_start '10:00'",
        ),
        (
            "id,lon,lat,service_min,service_s\n",
            "A,25.6,45.64,2,120",
            "field 'service_min': give either service_min or service_s, not both",
        ),
        (
            "id,kind,lon,lat,origin_lon,origin_lat\n",
            "A,delivery,25.6,45.64,25.5,45.6",
            "field 'origin_lon': only shipments have an origin (this order is a delivery)",
        ),
        (
            "id,kind,lon,lat,origin_lon\n",
            "A,shipment,25.6,45.64,25.5",
            "field 'origin_lat': a value is required for a shipment (where it is collected)",
        ),
        (
            "id,kind,lon,lat,windows,origin_lon,origin_lat\n",
            "A,shipment,25.6,45.64,09:00-10:00;11:00-12:00,25.5,45.6",
            "field 'windows': a shipment takes one time window at each end (PyVRP's shipment "
            "model), not 2",
        ),
        (
            "id,kind,lon,lat,origin_lon,origin_lat,origin_windows\n",
            "A,shipment,25.6,45.64,25.5,45.6,09:00-10:00;11:00-12:00",
            "field 'origin_windows': a shipment takes one time window at each end (PyVRP's "
            "shipment model), not 2",
        ),
    ],
)
def test_csv_mistakes_between_fields(tmp_path: Path, header: str, row: str, message: str) -> None:
    assert csv_error(tmp_path, row + "\n", header) == "orders.csv line 2, " + message


def test_csv_every_mistake_of_the_file_in_one_error(tmp_path: Path) -> None:
    rows = (
        "A,,25.6,45.64,,,,abc,,,,\nB,,25.6,45.64,,,,,,,,\nC,,25.6,95,,,,,,,,\n"
        "A,,25.6,45.6,,,,,,,,\n"
    )
    error = error_of(lambda: read_orders(write(tmp_path, "orders.csv", HEADER + rows)))
    assert error.detail.splitlines() == [
        "orders.csv: 3 errors:",
        "orders.csv line 2, field 'kg': 'abc' is not a number",
        "orders.csv line 4, field 'lat': '95' is not a latitude (-90 to 90)",
        "orders.csv line 5, field 'id': 'A' is already the id of orders.csv line 2",
    ]
    assert error.extra["errorCount"] == 3
    assert error.problem()["errors"] == error.detail.splitlines()[1:]


def test_csv_many_mistakes_are_counted_and_the_first_listed(tmp_path: Path) -> None:
    rows = "".join(f"O{i},,x,45.6,,,,,,,,\n" for i in range(30))
    lines = csv_error(tmp_path, rows).splitlines()
    assert lines[0] == f"orders.csv: 30 errors, the first {MAX_ERRORS}:"
    assert len(lines) == 1 + MAX_ERRORS
    assert lines[-1] == f"orders.csv line {MAX_ERRORS + 1}, field 'lon': 'x' is not a number"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("", "orders.csv is empty"),
        ("\n\n", "orders.csv is empty"),
        ("id,lon,lat\n", "orders.csv has a header but no orders"),
        ("id,lon,lat\n\n,,\n", "orders.csv has a header but no orders"),
        (
            "id,lon,latitude\nA,1,2\n",
            "orders.csv line 1: no column 'lat' (the header has: id, lon, latitude)",
        ),
        ("id,lon,lat,lon\nA,1,2,3\n", "orders.csv line 1: the column 'lon' appears twice"),
        ('id,lon,lat\nA,1,"2\n', "orders.csv line 2: not a valid CSV row (unexpected end of data)"),
        (b"id,lon,lat\nA\xe9,1,2\n", "orders.csv line 2: not UTF-8 text (save it as UTF-8)"),
    ],
)
def test_csv_mistakes_of_the_whole_file(tmp_path: Path, content: str | bytes, message: str) -> None:
    path = write(tmp_path, "orders.csv", content)
    assert error_of(lambda: read_orders(path)).detail == message


def test_a_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    detail = error_of(lambda: read_orders(tmp_path / "nope.csv")).detail
    assert detail == f"{tmp_path / 'nope.csv'}: cannot read it (No such file or directory)"


# -- JSON and GeoJSON -------------------------------------------------------------------------


ORDER_JSON = {
    "id": "J1",
    "kind": "shipment",
    "lon": 25.59,
    "lat": 45.64,
    "windows": ["11:00-13:00"],
    "service_min": 4,
    "kg": 8,
    "m3": 0.04,
    "parcels": 3,
    "optional": True,
    "penalty": 20,
    "origin_lon": 25.5892,
    "origin_lat": 45.6405,
    "origin_windows": "09:30-11:00",
    "origin_service_min": 5,
    "origin_address": "Strada Poarta Schei 4",
}


def test_json_list_and_orders_object(tmp_path: Path) -> None:
    expected = Order(
        id="J1",
        kind="shipment",
        at=Stop(25.59, 45.64, (Window(hm("11:00"), hm("13:00")),), 240),
        size=Size(8, 0.04, 3),
        origin=Stop(
            25.5892, 45.6405, (Window(hm("09:30"), hm("11:00")),), 300, "Strada Poarta Schei 4"
        ),
        optional=True,
        penalty=20,
        source="orders.json [0]",
    )
    listed = write(tmp_path, "orders.json", json.dumps([ORDER_JSON]))
    assert read_orders(listed) == (expected,)
    wrapped = write(
        tmp_path, "day.json", json.dumps({"orders": [ORDER_JSON, {**ORDER_JSON, "id": 7}]})
    )
    first, second = read_orders(wrapped)
    assert first.source == "day.json orders[0]"
    assert second.id == "7"


def test_geojson_feature_collection(tmp_path: Path) -> None:
    collection = {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "id": "G1",
                "geometry": {"type": "Point", "coordinates": [25.5919, 45.6431]},
                "properties": {"windows": "09:00-11:00", "kg": 2},
            },
            {
                "type": "Feature",
                "geometry": {"type": "Point", "coordinates": [25.5891, 45.6415, 560]},
                "properties": {"id": "G2", "kind": "pickup"},
            },
        ],
    }
    path = write(tmp_path, "orders.geojson", json.dumps(collection))
    first, second = read_orders(path)
    assert (first.id, first.at.lon, first.at.lat, first.size.kg) == ("G1", 25.5919, 45.6431, 2)
    assert first.source == "orders.geojson features[0]"
    assert (second.id, second.kind) == ("G2", "pickup")


def test_json_is_told_apart_by_content_without_an_extension(tmp_path: Path) -> None:
    path = write(tmp_path, "orders", json.dumps([{"id": "A", "lon": 1, "lat": 2}]))
    assert read_orders(path)[0].id == "A"


def feature(coordinates: Any, properties: Any) -> dict[str, Any]:
    return {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "geometry": None
                if coordinates is None
                else {"type": "Point", "coordinates": coordinates},
                "properties": properties,
            }
        ],
    }


SHAPES = 'expected a list of orders, an object {"orders": [...]} or a GeoJSON FeatureCollection'


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ([{**ORDER_JSON, "kg": "abc"}], " [0].kg: 'abc' is not a number"),
        (
            {"orders": [ORDER_JSON, {**ORDER_JSON, "id": "J2", "kg": True}]},
            " orders[1].kg: True is not a number",
        ),
        (
            {"orders": [{**ORDER_JSON, "windows": 9}]},
            " orders[0].windows: 9 is not a list of windows like '09:00-11:00'",
        ),
        (
            {"orders": [{**ORDER_JSON, "id": 1.5}]},
            " orders[0].id: 1.5 is not an id (text, or a whole number)",
        ),
        ({"orders": [{**ORDER_JSON, "address": ["x"]}]}, " orders[0].address: ['x'] is not text"),
        (
            {"orders": [{**ORDER_JSON, "optional": "perhaps"}]},
            " orders[0].optional: 'perhaps' is not true/false, yes/no or 1/0",
        ),
        ({"orders": [{**ORDER_JSON, "lat": None}]}, " orders[0].lat: a value is required"),
        (
            {"orders": [ORDER_JSON, ORDER_JSON]},
            " orders[1].id: 'J1' is already the id of orders.json orders[0]",
        ),
        ({"orders": ["J1"]}, " orders[0]: an order must be an object, not the value 'J1'"),
        ({"orders": []}, " has no orders"),
        ({"order": []}, f": {SHAPES}, found an object"),
        (3, f": {SHAPES}, found the value 3"),
        ({"type": "FeatureCollection"}, " features: a FeatureCollection needs a list here"),
        (
            feature(None, {"id": "A"}),
            " features[0].geometry: must be a GeoJSON Point [lon, lat]",
        ),
        (
            feature([200, 45], {"id": "A"}),
            " features[0].geometry.coordinates[0]: 200 is not a longitude (-180 to 180)",
        ),
        (
            feature([25, 45], {"id": "A", "kg": -1}),
            " features[0].properties.kg: -1 cannot be negative",
        ),
        (feature([25, 45], []), " features[0].properties: must be an object"),
    ],
)
def test_json_mistakes_name_the_path(tmp_path: Path, document: Any, message: str) -> None:
    path = write(tmp_path, "orders.json", json.dumps(document))
    assert error_of(lambda: read_orders(path)).detail == "orders.json" + message


def test_json_data_from_the_api_is_read_alike() -> None:
    assert orders_from_data([ORDER_JSON], "request orders")[0].source == "request orders [0]"
    detail = error_of(lambda: orders_from_data([{"id": "A"}], "request orders")).detail
    assert detail.splitlines()[1] == "request orders [0].lon: a value is required"


def test_json_syntax_error_names_line_and_column(tmp_path: Path) -> None:
    path = write(tmp_path, "orders.json", '[\n  {"id": "A",}\n]')
    assert error_of(lambda: read_orders(path)).detail == (
        "orders.json line 2, column 14: not valid JSON (Expecting property name enclosed in "
        "double quotes)"
    )


# -- the example ------------------------------------------------------------------------------


def test_the_sample_orders_load() -> None:
    orders = read_orders(EXAMPLES / "orders-sample.csv")
    assert len(orders) == 13
    by_id = {order.id: order for order in orders}
    assert {order.kind for order in orders} == {"delivery", "pickup", "shipment"}
    assert len(by_id["BV002"].at.windows) == 2
    shipment = by_id["BV007"]
    assert shipment.origin is not None and shipment.origin.address.startswith("Strada Poarta")
    assert by_id["BV008"].optional and by_id["BV008"].penalty == 6
    for order in orders:  # central Brașov
        assert 25.5 < order.at.lon < 25.7 and 45.6 < order.at.lat < 45.7


# -- hub entities -----------------------------------------------------------------------------


def sample_orders() -> list[Order]:
    return [
        Order(
            id="A 1/ă",
            kind="delivery",
            at=Stop(
                25.5919,
                45.6431,
                (Window(hm("09:00"), hm("11:00") + 15), Window(hm("14:00"), hm("16:00"))),
                120,
                "Strada Republicii 19, Brașov",
            ),
            size=Size(2.5, 0.01, 1),
            source="orders.csv line 2",
        ),
        Order(
            id="S1",
            kind="shipment",
            at=Stop(25.5942, 45.6439, (Window(hm("11:00"), hm("13:00")),), 240),
            size=Size(8, 0.04, 3),
            origin=Stop(
                25.5893, 45.6405, (Window(hm("09:30"), hm("11:00")),), 300, "Poarta Schei 4"
            ),
            optional=True,
            penalty=20.5,
        ),
        Order(id="P1", kind="pickup", at=Stop(25.59, 45.64), size=Size(parcels=1)),
    ]


def point(lon: float, lat: float) -> dict[str, Any]:
    return {"type": "Point", "coordinates": [lon, lat]}


def test_order_entity_is_normalized_ngsi_ld() -> None:
    entity = order_entity(sample_orders()[1], plan_day="2025-06-12")
    assert entity == {
        "id": "urn:ngsi-ld:cetate:DeliveryOrder:S1",
        "type": "cetate:DeliveryOrder",
        "kind": {"type": "Property", "value": "shipment"},
        "location": {"type": "GeoProperty", "value": point(25.5942, 45.6439)},
        "serviceDuration": {"type": "Property", "value": 240},
        "windows": {"type": "Property", "value": ["11:00-13:00"]},
        "size": {"type": "Property", "value": {"kg": 8, "m3": 0.04, "parcels": 3}},
        "optional": {"type": "Property", "value": True},
        "origin": {"type": "GeoProperty", "value": point(25.5893, 45.6405)},
        "originServiceDuration": {"type": "Property", "value": 300},
        "originWindows": {"type": "Property", "value": ["09:30-11:00"]},
        "originAddress": {"type": "Property", "value": "Poarta Schei 4"},
        "penalty": {"type": "Property", "value": 20.5},
        "planDay": {"type": "Property", "value": "2025-06-12"},
    }  # fmt: skip
    assert (
        order_entity(sample_orders()[0])["id"] == "urn:ngsi-ld:cetate:DeliveryOrder:A%201%2F%C4%83"
    )
    assert error_of(lambda: order_entity(sample_orders()[0], "12.06.2025")).detail == (
        "plan day '12.06.2025' is not a date (YYYY-MM-DD)"
    )


def key_values(entity: dict[str, Any]) -> dict[str, Any]:
    return {k: v["value"] if isinstance(v, dict) and "value" in v else v for k, v in entity.items()}


def test_orders_round_trip_through_entities() -> None:
    orders = sample_orders()
    normalized = [order_entity(order) for order in orders]
    assert orders_from_entities(normalized) == tuple(orders)
    assert orders_from_entities([key_values(e) for e in normalized]) == tuple(orders)


def test_csv_orders_round_trip_through_entities() -> None:
    orders = read_orders(EXAMPLES / "orders-sample.csv")
    assert orders_from_entities([order_entity(o, "2025-06-12") for o in orders]) == orders


def test_entity_mistakes_name_the_entity_and_attribute() -> None:
    good = key_values(order_entity(sample_orders()[1]))
    entities = [
        {**good, "size": {"kg": "heavy"}},
        {**good, "id": "urn:x:2", "location": {"type": "LineString", "coordinates": []}},
        {**good, "id": "urn:x:3", "windows": ["09:00-10:00", "11:00-12:00"]},
        {**good, "id": "urn:x:4", "type": "Vehicle"},
        {**good, "id": "urn:x:5", "originWindows": "9"},
        {**good, "id": "urn:x:6", "size": 3},
        {**good, "id": "urn:x:7", "kind": "delivery"},
        {**good, "id": "urn:x:8", "location": None},
        {"type": ORDER_TYPE},
    ]
    assert error_of(lambda: orders_from_entities(entities)).detail.splitlines() == [
        "delivery orders: 9 errors:",
        "entity urn:ngsi-ld:cetate:DeliveryOrder:S1, attribute 'size': 'heavy' is not a number",
        "entity urn:x:2, attribute 'location': must be a GeoJSON Point",
        "entity urn:x:3, attribute 'windows': a shipment takes one time window at each end "
        "(PyVRP's shipment model), not 2",
        "entity urn:x:4: its type is 'Vehicle', not cetate:DeliveryOrder",
        "entity urn:x:5, attribute 'originWindows': '9' is not a time window (HH:MM-HH:MM)",
        "entity urn:x:6, attribute 'size': must be an object {kg, m3, parcels}",
        "entity urn:x:7, attribute 'origin': only shipments have an origin (this order is a "
        "delivery)",
        "entity urn:x:8, attribute 'location': a value is required",
        "entity [8]: it has no id",
    ]


def test_entities_of_one_order_twice_are_an_error() -> None:
    entity = order_entity(sample_orders()[2])
    detail = error_of(lambda: orders_from_entities([entity, entity])).detail
    assert detail == "entity urn:ngsi-ld:cetate:DeliveryOrder:P1: order 'P1' is given twice"


def test_orders_round_trip_through_the_hub(hub: Hub) -> None:
    orders = sample_orders()
    write_orders(hub, orders, plan_day="2025-06-12")
    write_orders(hub, [])  # nothing to write is not an error
    stored = find_documents(hub, "", ORDER_TYPE)
    assert {d["planDay"] for d in stored} == {"2025-06-12"}
    assert {o.id: o for o in orders_from_hub(hub)} == {o.id: o for o in orders}
    assert orders_from_hub(hub, tenant="elsewhere") == ()


def test_writing_orders_again_replaces_them(hub: Hub) -> None:
    first = sample_orders()[1]
    write_orders(hub, [first])
    changed = Order(id="S1", kind="delivery", at=first.at, size=first.size)
    write_orders(hub, [changed])
    (back,) = orders_from_hub(hub)
    assert back == changed and back.origin is None  # no attribute of the shipment is left
