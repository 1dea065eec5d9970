"""The day's orders from a file: CSV, JSON or GeoJSON.

**CSV**: UTF-8 (a spreadsheet's byte-order mark is fine), comma- or semicolon-separated (told
apart from the header line), one order a row under a header of the field names below. In a
semicolon file numbers may use a decimal comma (``45,6427``), as spreadsheets set to Romanian
or most European languages write them. Blank lines are skipped.

**JSON**: a list of orders (objects keyed by the same field names), ``{"orders": [...]}``, or a
GeoJSON FeatureCollection of Points whose ``properties`` carry the fields (the geometry is the
place; the feature's ``id`` is the order's unless the properties have one).

=====================  ======================================================================
field                  meaning
=====================  ======================================================================
id                     required, unique in the file
kind                   ``delivery`` (default), ``pickup`` (a return collected and brought to
                       the base) or ``shipment`` (collected at the origin, delivered at lon/lat)
lon, lat               required, WGS84 degrees
address                text, shown in plans
windows                when service may start: ``09:00-11:00``, or several
                       ``09:00-11:00;14:00-16:00``; empty: any time. Or ``window_start`` and
                       ``window_end``. Times are ``HH:MM[:SS]``, up to 48:00 for night work.
service_min            minutes spent at the door (decimals allowed); or ``service_s``
kg, m3, parcels        the size; not negative, 0 when left out; parcels a whole number
optional               true/false, yes/no, 1/0: may be left out of the plan, at a cost...
penalty                ...of this many euros (required, above 0, for an optional order)
origin_lon, origin_lat shipments: where the goods are collected (required for a shipment)
origin_address,        shipments: the collection end's address, window (only one: PyVRP's
origin_windows,        shipment model takes one window at each end), and service time; or
origin_service_min     ``origin_window_start``/``_end``, ``origin_service_s``
=====================  ======================================================================

Other columns or keys are ignored. Every mistake is reported with the file, the line (CSV,
the header being line 1) or JSON path (``orders[3].kg``) and the field, all of a file's
mistakes (the first ``MAX_ERRORS``) in one error, so they can be fixed in one go; a file with
mistakes gives no orders at all. ``orders_from_data`` reads the same JSON sent to the API,
and ``parse_order`` one order's fields from anywhere (``cetate.logistics.entities``).
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from cetate.errors import BadRequestData
from cetate.logistics.clock import parse_clock, parse_windows
from cetate.logistics.model import Order, OrderKind, Size, Stop, Window

MAX_ERRORS = 20
REQUIRED_FIELDS = ("id", "lon", "lat")
ORDER_KINDS: tuple[OrderKind, ...] = ("delivery", "pickup", "shipment")
ORIGIN = "origin_"  # the prefix of a shipment's collection-end fields
STOP_FIELDS = (
    "lon", "lat", "address", "windows", "window_start", "window_end", "service_min", "service_s",
)  # fmt: skip
ORIGIN_FIELDS = tuple(ORIGIN + field for field in STOP_FIELDS)
TRUE_WORDS = frozenset({"true", "yes", "1"})
FALSE_WORDS = frozenset({"false", "no", "0"})

# Where a field of one order is: "orders.csv line 12, field 'kg'" or "orders.json orders[3].kg".
Where = Callable[[str], str]


class ErrorList:
    """The mistakes found in one input (a file, a list of entities): all are counted, the
    first ``MAX_ERRORS`` kept, and raised together as one ``BadRequestData``."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.messages: list[str] = []
        self.count = 0

    def add(self, message: str) -> None:
        if message in self.messages:
            return  # two readings of one value (lon and lat of one location) failing alike
        self.count += 1
        if len(self.messages) < MAX_ERRORS:
            self.messages.append(message)

    def error(self) -> BadRequestData | None:
        """One error: the message alone, or a first line with the count and one line each."""
        if not self.count:
            return None
        if self.count == 1:
            return BadRequestData(self.messages[0], errors=list(self.messages), errorCount=1)
        shown = f", the first {len(self.messages)}" if self.count > len(self.messages) else ""
        summary = f"{self.name}: {self.count} errors{shown}:"
        return BadRequestData(
            "\n".join([summary, *self.messages]),
            errors=list(self.messages),
            errorCount=self.count,
        )

    def raise_if_any(self) -> None:
        error = self.error()
        if error is not None:
            raise error


def read_orders(path: Path) -> tuple[Order, ...]:
    """The orders of a CSV, JSON or GeoJSON file (told apart by the extension, else by the
    content). Raises ``BadRequestData`` listing every mistake by file, line and field."""
    name = path.name
    text = read_text(path)
    if not text.strip():
        raise BadRequestData(f"{name} is empty")
    suffix = path.suffix.lower()
    is_json = suffix in (".json", ".geojson") or (
        suffix not in (".csv", ".txt") and text.lstrip()[:1] in ("[", "{")
    )
    return _json_orders(name, text) if is_json else _csv_orders(name, text)


def read_text(path: Path) -> str:
    """A UTF-8 file's text without its byte-order mark; an unreadable file is a user's error."""
    try:
        data = path.read_bytes()
    except OSError as error:
        raise BadRequestData(f"{path}: cannot read it ({error.strerror or error})") from None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = data[: error.start].count(b"\n") + 1
        raise BadRequestData(
            f"{path.name} line {line}: not UTF-8 text (save it as UTF-8)"
        ) from None


# -- CSV --------------------------------------------------------------------------------------


def _csv_orders(name: str, text: str) -> tuple[Order, ...]:
    errors = ErrorList(name)
    delimiter = _delimiter(text)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    columns: list[str] | None = None
    header_line = 0
    orders: list[Order] = []
    first_seen: dict[str, str] = {}
    end_of_last = 0
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            break
        except csv.Error as error:
            errors.add(f"{name} line {end_of_last + 1}: not a valid CSV row ({error})")
            break  # the reader cannot find the next row after a broken quote
        line = end_of_last + 1
        end_of_last = reader.line_num
        if not any(cell.strip() for cell in cells):
            continue
        if columns is None:
            columns, header_line = [cell.strip().lower() for cell in cells], line
            _check_header(name, line, columns)
            continue
        if len(cells) != len(columns):
            errors.add(
                f"{name} line {line}: {len(cells)} values, but the header (line "
                f"{header_line}) has {len(columns)} columns"
            )
            continue
        fields = {column: cell for column, cell in zip(columns, cells, strict=True) if column}
        source = f"{name} line {line}"
        order = parse_order(
            fields, _row_where(source), errors, source, decimal_comma=delimiter == ";"
        )
        _keep(fields, order, orders, first_seen, errors, f"{source}, field 'id'", source)
    if columns is None:
        raise BadRequestData(f"{name} is empty")
    errors.raise_if_any()
    if not orders:
        raise BadRequestData(f"{name} has a header but no orders")
    return tuple(orders)


def _row_where(source: str) -> Where:
    return lambda field: f"{source}, field {field!r}"


def _delimiter(text: str) -> str:
    header = text.lstrip("\r\n").splitlines()[0] if text.strip() else ""
    return ";" if header.count(";") > header.count(",") else ","


def _check_header(name: str, line: int, columns: Sequence[str]) -> None:
    errors = ErrorList(name)
    seen: set[str] = set()
    for column in columns:
        if column and column in seen:
            errors.add(f"{name} line {line}: the column {column!r} appears twice")
        seen.add(column)
    for required in REQUIRED_FIELDS:
        if required not in seen:
            listed = ", ".join(c for c in columns if c) or "nothing"
            errors.add(f"{name} line {line}: no column {required!r} (the header has: {listed})")
    errors.raise_if_any()


# -- JSON -------------------------------------------------------------------------------------


def _json_orders(name: str, text: str) -> tuple[Order, ...]:
    try:
        document = json.loads(text)
    except json.JSONDecodeError as error:
        raise BadRequestData(
            f"{name} line {error.lineno}, column {error.colno}: not valid JSON ({error.msg})"
        ) from None
    return orders_from_data(document, name)


def orders_from_data(document: Any, label: str) -> tuple[Order, ...]:
    """Orders from JSON data in any of the file's three shapes (a list of orders,
    ``{"orders": [...]}``, a GeoJSON FeatureCollection); ``label`` (the file's name, or
    "request orders") starts every message, followed by the JSON path of the value."""
    errors = ErrorList(label)
    orders: list[Order] = []
    first_seen: dict[str, str] = {}
    for path, item in _json_items(label, document):
        source = f"{label} {path}"
        if isinstance(item, Mapping) and item.get("type") == "Feature":
            fields, where = _feature_fields(source, item, errors)
            if fields is None:
                continue
        elif isinstance(item, Mapping):
            fields, where = item, _object_where(source)
        else:
            errors.add(f"{source}: an order must be an object, not {_json_kind(item)}")
            continue
        order = parse_order(fields, where, errors, source)
        _keep(fields, order, orders, first_seen, errors, where("id"), source)
    errors.raise_if_any()
    if not orders:
        raise BadRequestData(f"{label} has no orders")
    return tuple(orders)


def _json_items(name: str, document: Any) -> list[tuple[str, Any]]:
    """Each order with its JSON path, from whichever of the three shapes the file has."""
    if isinstance(document, list):
        return [(f"[{i}]", item) for i, item in enumerate(document)]
    if isinstance(document, Mapping):
        if document.get("type") == "FeatureCollection":
            features = document.get("features")
            if isinstance(features, list):
                return [(f"features[{i}]", item) for i, item in enumerate(features)]
            raise BadRequestData(f"{name} features: a FeatureCollection needs a list here")
        if isinstance(document.get("orders"), list):
            return [(f"orders[{i}]", item) for i, item in enumerate(document["orders"])]
    raise BadRequestData(
        f'{name}: expected a list of orders, an object {{"orders": [...]}} or a GeoJSON '
        f"FeatureCollection, found {_json_kind(document)}"
    )


def _object_where(source: str) -> Where:
    return lambda field: f"{source}.{field}"


def _feature_fields(
    source: str, feature: Mapping[str, Any], errors: ErrorList
) -> tuple[Mapping[str, Any] | None, Where]:
    """A GeoJSON Point feature as order fields: its properties, its place from the geometry."""
    properties = feature.get("properties")
    properties = {} if properties is None else properties
    geometry = feature.get("geometry")
    if not isinstance(properties, Mapping):
        errors.add(f"{source}.properties: must be an object")
        return None, _object_where(source)
    coordinates = geometry.get("coordinates") if isinstance(geometry, Mapping) else None
    if (
        not isinstance(geometry, Mapping)
        or geometry.get("type") != "Point"
        or not isinstance(coordinates, list)
        or len(coordinates) not in (2, 3)
    ):
        errors.add(f"{source}.geometry: must be a GeoJSON Point [lon, lat]")
        return None, _object_where(source)
    fields = dict(properties)
    fields["lon"], fields["lat"] = coordinates[0], coordinates[1]
    from_feature = {"lon": ".geometry.coordinates[0]", "lat": ".geometry.coordinates[1]"}
    if "id" not in properties and feature.get("id") is not None:
        fields["id"] = feature["id"]
        from_feature["id"] = ".id"

    def where(field: str) -> str:
        return source + from_feature.get(field, f".properties.{field}")

    return fields, where


def _json_kind(value: Any) -> str:
    if isinstance(value, Mapping):
        return "an object"
    if isinstance(value, list):
        return "a list"
    return f"the value {value!r}"


def _keep(
    fields: Mapping[str, Any],
    order: Order | None,
    orders: list[Order],
    first_seen: dict[str, str],
    errors: ErrorList,
    where_id: str,
    source: str,
) -> None:
    """Keep a parsed order, unless an earlier one has its id (compared even when either has
    other mistakes, so a repeated id is found in the same run as they are)."""
    raw_id = fields.get("id")
    order_id = str(raw_id).strip() if isinstance(raw_id, str | int) else ""
    if order_id and order_id in first_seen:
        errors.add(f"{where_id}: {order_id!r} is already the id of {first_seen[order_id]}")
        return
    if order_id:
        first_seen[order_id] = source
    if order is not None:
        orders.append(order)


# -- one order --------------------------------------------------------------------------------


def parse_order(
    fields: Mapping[str, Any],
    where: Where,
    errors: ErrorList,
    source: str = "",
    decimal_comma: bool = False,
) -> Order | None:
    """One order from its fields (CSV text, or JSON values), or None after adding each of its
    mistakes to ``errors`` as ``"<where(field)>: <what is wrong>"``."""
    values = _Fields(fields, where, errors, decimal_comma)
    order_id = values.identifier("id")
    kind = _kind(values)
    at = _stop(values, "", kind == "shipment")
    origin = None
    if kind == "shipment":
        origin = _stop(values, ORIGIN, True)
    else:
        given = [field for field in ORIGIN_FIELDS if values.given(field)]
        if given:  # once: the origin is one mistake, however many of its fields are filled
            values.fail(given[0], f"only shipments have an origin (this order is a {kind})")
    size = Size(
        kg=values.amount("kg"),
        m3=values.amount("m3"),
        parcels=values.amount("parcels", whole=True),
    )
    optional = values.flag("optional")
    mistakes = errors.count
    penalty = values.amount("penalty")
    if optional and penalty <= 0 and errors.count == mistakes:  # not twice for one field
        values.fail("penalty", "an optional order needs a penalty above 0 EUR")
    if not values.ok or at is None or (kind == "shipment" and origin is None):
        return None
    return Order(
        id=order_id,
        kind=kind,
        at=at,
        size=size,
        origin=origin,
        optional=optional,
        penalty=penalty,
        source=source,
    )


def _kind(values: _Fields) -> OrderKind:
    text = values.text("kind").lower()
    for kind in ORDER_KINDS:
        if text == kind:
            return kind
    if text:
        values.fail("kind", f"{values.raw('kind')!r} is not one of {', '.join(ORDER_KINDS)}")
    return "delivery"


def _stop(values: _Fields, prefix: str, shipment: bool) -> Stop | None:
    lon = values.coordinate(prefix + "lon", 180.0, "longitude")
    lat = values.coordinate(prefix + "lat", 90.0, "latitude")
    windows = _windows(values, prefix)
    if shipment and len(windows) > 1:
        values.fail(
            prefix + "windows",
            f"a shipment takes one time window at each end (PyVRP's shipment model), "
            f"not {len(windows)}",
        )
    service_s = _service_s(values, prefix)
    address = values.text(prefix + "address")
    if lon is None or lat is None:
        return None
    return Stop(lon=lon, lat=lat, windows=windows, service_s=service_s, address=address)


def _windows(values: _Fields, prefix: str) -> tuple[Window, ...]:
    listed, start, end = prefix + "windows", prefix + "window_start", prefix + "window_end"
    if values.given(listed):
        if values.given(start) or values.given(end):
            values.fail(listed, f"give either {listed} or {start} and {end}, not both")
            return ()
        raw = values.raw(listed)
        if isinstance(raw, list) and all(isinstance(item, str) for item in raw):
            text = ";".join(raw)
        elif isinstance(raw, str):
            text = raw
        else:
            values.fail(listed, f"{raw!r} is not a list of windows like '09:00-11:00'")
            return ()
        try:
            return parse_windows(text)
        except BadRequestData as error:
            values.fail(listed, error.detail)
            return ()
    if not (values.given(start) or values.given(end)):
        return ()
    opens, closes = values.clock(start, needed_with=end), values.clock(end, needed_with=start)
    if opens is None or closes is None:
        return ()
    if closes < opens:
        values.fail(end, f"{values.raw(end)!r} is before {start} {values.raw(start)!r}")
        return ()
    return (Window(opens, closes),)


def _service_s(values: _Fields, prefix: str) -> int:
    minutes, seconds = prefix + "service_min", prefix + "service_s"
    if values.given(minutes) and values.given(seconds):
        values.fail(minutes, f"give either {minutes} or {seconds}, not both")
        return 0
    if values.given(seconds):
        return round(values.amount(seconds))
    return round(values.amount(minutes) * 60)


class _Fields:
    """An order's raw fields, read one at a time; a mistake is added to the file's errors
    (naming the field) and spoils the order, and reading goes on so all are found."""

    def __init__(
        self, fields: Mapping[str, Any], where: Where, errors: ErrorList, decimal_comma: bool
    ) -> None:
        self.fields = fields
        self.where = where
        self.errors = errors
        self.decimal_comma = decimal_comma
        self.ok = True

    def fail(self, field: str, message: str) -> None:
        self.errors.add(f"{self.where(field)}: {message}")
        self.ok = False

    def raw(self, field: str) -> Any:
        return self.fields.get(field)

    def given(self, field: str) -> bool:
        value = self.fields.get(field)
        return value is not None and not (isinstance(value, str) and not value.strip())

    def text(self, field: str) -> str:
        value = self.fields.get(field)
        if not self.given(field):
            return ""
        if isinstance(value, str):
            return value.strip()
        if isinstance(value, int | float) and not isinstance(value, bool):
            return str(value)
        self.fail(field, f"{value!r} is not text")
        return ""

    def identifier(self, field: str) -> str:
        value = self.fields.get(field)
        if not self.given(field):
            self.fail(field, "a value is required")
            return ""
        if isinstance(value, float | bool):
            self.fail(field, f"{value!r} is not an id (text, or a whole number)")
            return ""
        return self.text(field)

    def number(self, field: str) -> float | None:
        """The field as a finite number; None when it is empty or (after failing) not one."""
        if not self.given(field):
            return None
        value = self.fields[field]
        number: float | None = None
        if isinstance(value, int | float) and not isinstance(value, bool):
            number = float(value)
        elif isinstance(value, str):
            text = value.strip()
            if self.decimal_comma and text.count(",") == 1 and "." not in text:
                text = text.replace(",", ".")
            try:
                number = float(text)
            except ValueError:
                hint = " (write decimals with a dot)" if "," in text else ""
                self.fail(field, f"{value!r} is not a number{hint}")
                return None
        if number is None or not math.isfinite(number):
            self.fail(field, f"{value!r} is not a number")
            return None
        return number

    def coordinate(self, field: str, limit: float, what: str) -> float | None:
        if not self.given(field):
            needed = " for a shipment (where it is collected)" if field.startswith(ORIGIN) else ""
            self.fail(field, f"a value is required{needed}")
            return None
        number = self.number(field)
        if number is not None and not -limit <= number <= limit:
            self.fail(field, f"{self.raw(field)!r} is not a {what} (-{limit:g} to {limit:g})")
            return None
        return number

    def amount(self, field: str, whole: bool = False) -> float:
        """A quantity that cannot be negative; 0 when left out."""
        number = self.number(field)
        if number is None:
            return 0.0
        if number < 0:
            self.fail(field, f"{self.raw(field)!r} cannot be negative")
            return 0.0
        if whole and not number.is_integer():
            self.fail(field, f"{self.raw(field)!r} is not a whole number")
            return 0.0
        return number

    def flag(self, field: str) -> bool:
        value = self.fields.get(field)
        if not self.given(field):
            return False
        if isinstance(value, bool):
            return value
        word = str(value).strip().lower()
        if word in TRUE_WORDS:
            return True
        if word not in FALSE_WORDS:
            self.fail(field, f"{value!r} is not true/false, yes/no or 1/0")
        return False

    def clock(self, field: str, needed_with: str) -> int | None:
        value = self.fields.get(field)
        if not self.given(field):
            self.fail(field, f"a value is required with {needed_with}")
            return None
        if not isinstance(value, str):
            self.fail(field, f"{value!r} is not a time (HH:MM)")
            return None
        try:
            return parse_clock(value)
        except BadRequestData as error:
            self.fail(field, error.detail)
            return None
