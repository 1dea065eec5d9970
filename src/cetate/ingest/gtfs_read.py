"""Reading a GTFS static feed and checking all of it: the feed's files (a zip or a folder), the
``GtfsFeed`` it becomes in memory (rows for the small files, numpy columns for stop times and
shapes), the checker that reports every problem by file and line (at most ``MAX_ERRORS``, in one
``BadRequestData``), and the parsing of GTFS values (``parse_gtfs_time``, ``format_gtfs_time``,
``parse_gtfs_date``). Nothing here knows about entities or the hub; ``cetate.ingest.gtfs`` is
where a read feed is imported.
"""

from __future__ import annotations

import csv
import io
import itertools
import math
import re
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import IO, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np
import numpy.typing as npt

from cetate.errors import BadRequestData

MAX_ERRORS = 50
REQUIRED_FILES = ("agency.txt", "stops.txt", "routes.txt", "trips.txt", "stop_times.txt")
USED_FILES = frozenset(
    {*REQUIRED_FILES, "calendar.txt", "calendar_dates.txt", "shapes.txt", "feed_info.txt"}
)
REQUIRED_COLUMNS: dict[str, tuple[str, ...]] = {
    "agency.txt": ("agency_name", "agency_url", "agency_timezone"),
    "stops.txt": ("stop_id",),
    "routes.txt": ("route_id", "route_type"),
    "trips.txt": ("route_id", "service_id", "trip_id"),
    "stop_times.txt": ("trip_id", "stop_sequence", "stop_id"),
    "calendar.txt": (
        "service_id",
        "monday",
        "tuesday",
        "wednesday",
        "thursday",
        "friday",
        "saturday",
        "sunday",
        "start_date",
        "end_date",
    ),
    "calendar_dates.txt": ("service_id", "date", "exception_type"),
    "shapes.txt": ("shape_id", "shape_pt_lat", "shape_pt_lon", "shape_pt_sequence"),
    "feed_info.txt": (),
}
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_UNSET = -1
# What reading a damaged or non-text file raises (a bad zip member, bad bytes, a broken CSV).
_READ_ERRORS = (UnicodeDecodeError, csv.Error, zipfile.BadZipFile, zlib.error, EOFError, OSError)

Row = dict[str, str]
Ints = npt.NDArray[np.int64]
Floats = npt.NDArray[np.float64]


# ---------------------------------------------------------------------------------------------
# Parsing values


def parse_gtfs_time(text: str) -> int:
    """``H:MM:SS`` or ``HH:MM:SS`` (hours past 24 for trips after midnight) in seconds."""
    parts = text.split(":")
    if len(parts) != 3:
        raise ValueError(text)
    hours, minutes, seconds = parts
    if not (
        0 < len(hours) <= 3
        and len(minutes) == 2
        and len(seconds) == 2
        and (hours + minutes + seconds).isdigit()
        and text.isascii()
    ):
        raise ValueError(text)
    m, s = int(minutes), int(seconds)
    if m > 59 or s > 59:
        raise ValueError(text)
    return int(hours) * 3600 + m * 60 + s


def format_gtfs_time(seconds: int) -> str:
    return f"{seconds // 3600:02d}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


def parse_gtfs_date(text: str) -> date:
    if len(text) != 8 or not text.isdigit() or not text.isascii():
        raise ValueError(text)
    return date(int(text[:4]), int(text[4:6]), int(text[6:]))


def _non_negative_int(text: str) -> int:
    if not (text.isdigit() and text.isascii()):
        raise ValueError(text)
    return int(text)


# ---------------------------------------------------------------------------------------------
# Errors


class FeedErrors:
    """Problems found in a feed, by file and line; the first ``MAX_ERRORS`` are kept."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.messages: list[str] = []
        self.count = 0

    def add(self, file: str, line: int | None, message: str) -> None:
        self.count += 1
        if len(self.messages) < MAX_ERRORS:
            where = f"{file} line {line}" if line is not None else file
            self.messages.append(f"{where}: {message}")

    @property
    def full(self) -> bool:
        return self.count >= MAX_ERRORS

    def raise_if_any(self) -> None:
        if not self.count:
            return
        more = self.count - len(self.messages)
        listed = "; ".join(self.messages) + (f"; and {more} more" if more else "")
        noun = "error" if self.count == 1 else "errors"
        raise BadRequestData(
            f"GTFS feed {self.source} is not valid ({self.count} {noun}): {listed}",
            errors=list(self.messages),
            errorCount=self.count,
        )


# ---------------------------------------------------------------------------------------------
# The feed in memory


@dataclass(slots=True)
class StopTimes:
    """stop_times.txt as columns, sorted by trip (``GtfsFeed.trips`` order) then sequence.

    ``trip_start[t]:trip_start[t + 1]`` are the rows of trip ``t``; times are seconds, -1 where
    the feed leaves them out; the optional columns are ``None`` when the file has no such
    column."""

    trip: Ints
    sequence: Ints
    stop: Ints  # index into GtfsFeed.stops
    arrival: Ints
    departure: Ints
    trip_start: Ints
    headsign: list[str] | None = None
    pickup_type: Ints | None = None
    drop_off_type: Ints | None = None
    timepoint: Ints | None = None
    distance: Floats | None = None  # NaN where not given

    def __len__(self) -> int:
        return len(self.trip)


@dataclass(slots=True)
class Shapes:
    """shapes.txt as columns sorted by shape then sequence; ``start`` as in ``StopTimes``."""

    ids: list[str]
    start: Ints
    lon: Floats
    lat: Floats
    distance: Floats  # NaN where not given

    def __len__(self) -> int:
        return len(self.ids)


@dataclass(slots=True)
class GtfsFeed:
    """A checked feed: the small files as rows (dicts of the GTFS columns), stop times and shape
    points as columns."""

    source: str
    agencies: list[Row]
    stops: list[Row]
    routes: list[Row]
    trips: list[Row]
    calendar: list[Row]
    calendar_dates: list[Row]
    shapes: Shapes
    stop_times: StopTimes
    feed_info: Row | None = None
    ignored_files: list[str] = field(default_factory=list)

    @property
    def timezone(self) -> str:
        return self.agencies[0]["agency_timezone"]

    def agency_key(self, agency_id: str) -> str:
        """The id part of an agency: its agency_id, or ``default`` when the feed has none."""
        return agency_id or "default"


# ---------------------------------------------------------------------------------------------
# Reading files


class _Files:
    """The .txt files of a feed, in a zip (at its root or in one folder) or in a folder."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._zip: zipfile.ZipFile | None = None
        self._names: dict[str, str] = {}
        if path.is_dir():
            self._names = {p.name: str(p) for p in path.iterdir() if p.suffix == ".txt"}
        elif path.is_file():
            try:
                self._zip = zipfile.ZipFile(path)
            except (zipfile.BadZipFile, OSError) as error:
                raise BadRequestData(f"{path}: not a zip file or a folder ({error})") from None
            entries = [i.filename for i in self._zip.infolist() if not i.is_dir()]
            txt = [n for n in entries if n.endswith(".txt")]
            root = [n for n in txt if "/" not in n]
            if not any(n == "agency.txt" for n in root):  # a zip of the feed's folder
                folders = {n.rsplit("/", 1)[0] for n in txt if n.endswith("/agency.txt")}
                if len(folders) == 1:
                    folder = folders.pop() + "/"
                    root = [n for n in txt if n.startswith(folder) and "/" not in n[len(folder) :]]
            self._names = {n.rsplit("/", 1)[-1]: n for n in root}
        else:
            raise BadRequestData(f"{path}: no such file or folder")

    def names(self) -> set[str]:
        return set(self._names)

    def open(self, name: str) -> IO[str]:
        if self._zip is not None:
            raw = self._zip.open(self._names[name])
            return io.TextIOWrapper(raw, encoding="utf-8-sig", newline="")
        return open(self._names[name], encoding="utf-8-sig", newline="")

    def close(self) -> None:
        if self._zip is not None:
            self._zip.close()


@dataclass(slots=True)
class _Table:
    """One open CSV file: its header and a reader positioned on the first row."""

    name: str
    columns: dict[str, int]
    reader: Any  # csv.reader
    handle: IO[str]

    def rows(self) -> Iterator[tuple[int, list[str]]]:
        """(line number, fields padded to the header) of every non-blank row."""
        width = len(self.columns)
        reader = self.reader
        for row in reader:
            if len(row) < width:
                if not row or (len(row) == 1 and not row[0].strip()):
                    continue
                row += [""] * (width - len(row))
            yield reader.line_num, row

    def dicts(self) -> Iterator[tuple[int, Row]]:
        columns = list(self.columns.items())
        for line, row in self.rows():
            yield line, {name: row[position].strip() for name, position in columns}


def _unreadable(error: Exception) -> str:
    if isinstance(error, UnicodeDecodeError):
        bad = error.object[error.start : error.start + 1]
        return f"is not UTF-8 text (byte 0x{bytes(bad).hex()}: save it as UTF-8)"
    return f"cannot be read ({error})"


def _line_of(table: _Table, error: Exception) -> int | None:
    """Where a reading error is: the CSV line, except for bad bytes (decoded by blocks)."""
    if isinstance(error, UnicodeDecodeError) or not table.reader.line_num:
        return None
    return int(table.reader.line_num)


def _open_table(files: _Files, name: str, errors: FeedErrors) -> _Table | None:
    """Open a file and check its header; None (and an error) when it cannot be used."""
    try:
        handle = files.open(name)
    except _READ_ERRORS as error:
        errors.add(name, None, _unreadable(error))
        return None
    reader = csv.reader(handle)
    try:
        header = next(reader, None)
    except _READ_ERRORS as error:
        handle.close()
        errors.add(name, None, _unreadable(error))
        return None
    if header is None:
        handle.close()
        errors.add(name, None, "is empty (no header line)")
        return None
    columns: dict[str, int] = {}
    for position, column in enumerate(header):
        columns.setdefault(column.strip().lstrip("\ufeff"), position)
    missing = [c for c in REQUIRED_COLUMNS.get(name, ()) if c not in columns]
    if missing:
        handle.close()
        errors.add(name, 1, f"required column {', '.join(missing)} missing")
        return None
    return _Table(name, columns, reader, handle)


def _read_rows(table: _Table, errors: FeedErrors) -> list[tuple[int, Row]]:
    try:
        return list(table.dicts())
    except _READ_ERRORS as error:
        errors.add(table.name, _line_of(table, error), _unreadable(error))
        return []
    finally:
        table.handle.close()


# ---------------------------------------------------------------------------------------------
# Checking


def read_feed(path: Path) -> GtfsFeed:
    """Read and check a GTFS feed (a zip, or a folder of .txt files).

    Raises ``BadRequestData`` listing the problems found (by file and line) when the feed is not
    valid: missing files or columns, malformed values, references to ids that do not exist."""
    files = _Files(path)
    try:
        return _Checker(files, str(path)).read()
    finally:
        files.close()


class _Checker:
    def __init__(self, files: _Files, source: str) -> None:
        self.files = files
        self.errors = FeedErrors(source)
        self.source = source

    def error(self, file: str, line: int | None, message: str) -> None:
        self.errors.add(file, line, message)

    def table(self, name: str) -> list[tuple[int, Row]] | None:
        if name not in self.files.names():
            return None
        table = _open_table(self.files, name, self.errors)
        return None if table is None else _read_rows(table, self.errors)

    def read(self) -> GtfsFeed:
        names = self.files.names()
        for name in REQUIRED_FILES:
            if name not in names:
                self.error(name, None, "required file missing")
        if "calendar.txt" not in names and "calendar_dates.txt" not in names:
            self.error("calendar.txt", None, "required file missing (or calendar_dates.txt)")
        self.errors.raise_if_any()

        small = [*REQUIRED_FILES[:4], "calendar.txt", "calendar_dates.txt", "feed_info.txt"]
        tables = {name: self.table(name) or [] for name in small}
        self.errors.raise_if_any()  # unreadable files, missing columns: nothing to check rows by
        for name in ("stops.txt", "routes.txt", "trips.txt"):
            if not tables[name]:
                self.error(name, None, "has no rows")
        agencies = self.agencies(tables["agency.txt"])
        stops, stop_index = self.stops(tables["stops.txt"])
        routes = self.routes(tables["routes.txt"], agencies)
        calendar = self.calendar(tables["calendar.txt"])
        calendar_dates = self.calendar_dates(tables["calendar_dates.txt"])
        shapes = self.shapes() if "shapes.txt" in names else _no_shapes()
        services = {r["service_id"] for r in calendar} | {r["service_id"] for r in calendar_dates}
        trips, trip_index = self.trips(
            tables["trips.txt"], routes, services, set(shapes.ids), "shapes.txt" in names
        )
        feed_info_rows = tables["feed_info.txt"]
        self.errors.raise_if_any()  # stop times need every id above
        stop_times = self.stop_times(trip_index, stop_index, stops, trips)
        self.errors.raise_if_any()
        return GtfsFeed(
            source=self.source,
            agencies=agencies,
            stops=stops,
            routes=routes,
            trips=trips,
            calendar=calendar,
            calendar_dates=calendar_dates,
            shapes=shapes,
            stop_times=stop_times,
            feed_info=feed_info_rows[0][1] if feed_info_rows else None,
            ignored_files=sorted(names - USED_FILES),
        )

    # -- small files ---------------------------------------------------------------------------

    def unique(self, file: str, line: int, column: str, value: str, seen: set[str]) -> bool:
        if not value:
            self.error(file, line, f"{column} is empty")
            return False
        if value in seen:
            self.error(file, line, f"{column} {value!r} appears twice")
            return False
        seen.add(value)
        return True

    def enum(self, file: str, line: int, row: Row, column: str, allowed: str) -> None:
        value = row.get(column, "")
        if value and value not in allowed.split(","):
            self.error(file, line, f"{column} must be one of {allowed}, got {value!r}")

    def agencies(self, rows: list[tuple[int, Row]]) -> list[Row]:
        file = "agency.txt"
        if not rows:
            self.error(file, None, "has no agency")
            return []
        seen: set[str] = set()
        zones: set[str] = set()
        for line, row in rows:
            for column in ("agency_name", "agency_url", "agency_timezone"):
                if not row[column]:
                    self.error(file, line, f"{column} is empty")
            agency_id = row.get("agency_id", "")
            if len(rows) > 1:
                self.unique(file, line, "agency_id", agency_id, seen)
            zone = row["agency_timezone"]
            if zone:
                try:
                    ZoneInfo(zone)
                    zones.add(zone)
                except (ZoneInfoNotFoundError, ValueError):
                    self.error(file, line, f"agency_timezone {zone!r} is not an IANA time zone")
        if len(zones) > 1:
            self.error(file, None, f"agencies must share one time zone, got {', '.join(zones)}")
        return [row for _, row in rows]

    def stops(self, rows: list[tuple[int, Row]]) -> tuple[list[Row], dict[str, int]]:
        file = "stops.txt"
        seen: set[str] = set()
        kept: list[Row] = []
        lines: list[int] = []
        for line, row in rows:
            if not self.unique(file, line, "stop_id", row["stop_id"], seen):
                continue
            kind = row.get("location_type", "") or "0"
            if kind not in ("0", "1", "2", "3", "4"):
                self.error(file, line, f"location_type must be one of 0,1,2,3,4, got {kind!r}")
                kind = "0"
            row["location_type"] = kind
            if kind in ("0", "1", "2"):
                if not row.get("stop_name"):
                    self.error(file, line, "stop_name is empty (required for location_type 0-2)")
                self.coordinates(file, line, row, "stop_lat", "stop_lon")
            elif row.get("stop_lat") or row.get("stop_lon"):
                self.coordinates(file, line, row, "stop_lat", "stop_lon")
            self.enum(file, line, row, "wheelchair_boarding", "0,1,2")
            kept.append(row)
            lines.append(line)
        index = {row["stop_id"]: i for i, row in enumerate(kept)}
        for line, row in zip(lines, kept, strict=True):
            parent_id = row.get("parent_station", "")
            kind = row["location_type"]
            if not parent_id:
                if kind in ("2", "3", "4"):
                    self.error(file, line, f"parent_station is required for location_type {kind}")
                continue
            parent = index.get(parent_id)
            if parent is None:
                self.error(file, line, f"parent_station {parent_id!r} is not in stops.txt")
            elif kind == "1":
                self.error(file, line, "a station (location_type 1) cannot have a parent_station")
            elif kind == "4" and kept[parent]["location_type"] != "0":
                self.error(
                    file, line, f"parent_station {parent_id!r} of a boarding area is not a stop"
                )
            elif kind != "4" and kept[parent]["location_type"] != "1":
                self.error(
                    file, line, f"parent_station {parent_id!r} is not a station (location_type 1)"
                )
        return kept, index

    def coordinates(self, file: str, line: int, row: Row, lat_col: str, lon_col: str) -> None:
        for column, limit in ((lat_col, 90.0), (lon_col, 180.0)):
            text = row.get(column, "")
            try:
                value = float(text)
            except ValueError:
                self.error(file, line, f"{column} must be a number, got {text!r}")
                continue
            if not (math.isfinite(value) and -limit <= value <= limit):
                self.error(file, line, f"{column} {text} is out of range [-{limit:g}, {limit:g}]")

    def routes(self, rows: list[tuple[int, Row]], agencies: list[Row]) -> list[Row]:
        file = "routes.txt"
        agency_ids = {a.get("agency_id", "") for a in agencies}
        several = len(agencies) > 1
        seen: set[str] = set()
        kept: list[Row] = []
        for line, row in rows:
            if not self.unique(file, line, "route_id", row["route_id"], seen):
                continue
            agency_id = row.get("agency_id", "")
            if agency_id and agency_id not in agency_ids:
                self.error(file, line, f"agency_id {agency_id!r} is not in agency.txt")
            elif not agency_id and several:
                self.error(file, line, "agency_id is required when the feed has several agencies")
            if not row.get("route_short_name") and not row.get("route_long_name"):
                self.error(file, line, "route_short_name and route_long_name are both empty")
            try:
                _non_negative_int(row["route_type"])
            except ValueError:
                self.error(file, line, f"route_type must be an integer, got {row['route_type']!r}")
            for column in ("route_color", "route_text_color"):
                color = row.get(column, "")
                if color and not re.fullmatch(r"[0-9A-Fa-f]{6}", color):
                    self.error(file, line, f"{column} must be 6 hex digits, got {color!r}")
            order = row.get("route_sort_order", "")
            if order and not (order.isdigit() and order.isascii()):
                self.error(
                    file, line, f"route_sort_order must be a non-negative integer, got {order!r}"
                )
            if not agency_id:
                row["agency_id"] = agencies[0].get("agency_id", "") if agencies else ""
            kept.append(row)
        return kept

    def date(self, file: str, line: int, row: Row, column: str) -> date | None:
        try:
            return parse_gtfs_date(row[column])
        except ValueError:
            self.error(file, line, f"{column} must be a date YYYYMMDD, got {row[column]!r}")
            return None

    def calendar(self, rows: list[tuple[int, Row]]) -> list[Row]:
        file = "calendar.txt"
        seen: set[str] = set()
        kept: list[Row] = []
        for line, row in rows:
            if not self.unique(file, line, "service_id", row["service_id"], seen):
                continue
            for day in WEEKDAYS:
                if row[day] not in ("0", "1"):
                    self.error(file, line, f"{day} must be 0 or 1, got {row[day]!r}")
            start = self.date(file, line, row, "start_date")
            end = self.date(file, line, row, "end_date")
            if start and end and end < start:
                self.error(file, line, "end_date is before start_date")
            kept.append(row)
        return kept

    def calendar_dates(self, rows: list[tuple[int, Row]]) -> list[Row]:
        file = "calendar_dates.txt"
        seen: set[tuple[str, str]] = set()
        kept: list[Row] = []
        for line, row in rows:
            if not row["service_id"]:
                self.error(file, line, "service_id is empty")
                continue
            if self.date(file, line, row, "date") is None:
                continue
            if row["exception_type"] not in ("1", "2"):
                self.error(
                    file, line, f"exception_type must be 1 or 2, got {row['exception_type']!r}"
                )
                continue
            key = (row["service_id"], row["date"])
            if key in seen:
                self.error(file, line, f"service {key[0]!r} has two exceptions on {key[1]}")
                continue
            seen.add(key)
            kept.append(row)
        return kept

    def trips(
        self,
        rows: list[tuple[int, Row]],
        routes: list[Row],
        services: set[str],
        shapes: set[str],
        has_shapes: bool,
    ) -> tuple[list[Row], dict[str, int]]:
        file = "trips.txt"
        route_ids = {r["route_id"] for r in routes}
        seen: set[str] = set()
        kept: list[Row] = []
        for line, row in rows:
            if not self.unique(file, line, "trip_id", row["trip_id"], seen):
                continue
            if row["route_id"] not in route_ids:
                self.error(file, line, f"route_id {row['route_id']!r} is not in routes.txt")
            if row["service_id"] not in services:
                self.error(
                    file,
                    line,
                    f"service_id {row['service_id']!r} is in neither calendar.txt nor "
                    "calendar_dates.txt",
                )
            shape_id = row.get("shape_id", "")
            if shape_id and shape_id not in shapes:
                where = "shapes.txt" if has_shapes else "shapes.txt (the feed has no shapes.txt)"
                self.error(file, line, f"shape_id {shape_id!r} is not in {where}")
            self.enum(file, line, row, "direction_id", "0,1")
            self.enum(file, line, row, "wheelchair_accessible", "0,1,2")
            self.enum(file, line, row, "bikes_allowed", "0,1,2")
            kept.append(row)
        return kept, {row["trip_id"]: i for i, row in enumerate(kept)}

    # -- large files: columns ------------------------------------------------------------------

    def shapes(self) -> Shapes:
        file = "shapes.txt"
        table = _open_table(self.files, file, self.errors)
        if table is None:
            return _no_shapes()
        c = table.columns
        i_id, i_lat, i_lon, i_seq = (
            c["shape_id"],
            c["shape_pt_lat"],
            c["shape_pt_lon"],
            c["shape_pt_sequence"],
        )
        i_dist = c.get("shape_dist_traveled")
        index: dict[str, int] = {}
        shape: list[int] = []
        seqs: list[int] = []
        lats: list[float] = []
        lons: list[float] = []
        dists: list[float] = []
        lines: list[int] = []
        nan = math.nan
        try:
            for line, row in table.rows():
                shape_id = row[i_id].strip()
                if not shape_id:
                    self.error(file, line, "shape_id is empty")
                    continue
                try:
                    lat, lon = float(row[i_lat]), float(row[i_lon])
                    if not (-90 <= lat <= 90 and -180 <= lon <= 180):
                        raise ValueError
                except ValueError:
                    self.error(
                        file,
                        line,
                        f"shape_pt_lat, shape_pt_lon {row[i_lat]!r}, {row[i_lon]!r} are not "
                        "valid coordinates",
                    )
                    continue
                try:
                    seq = _non_negative_int(row[i_seq].strip())
                except ValueError:
                    self.error(
                        file,
                        line,
                        f"shape_pt_sequence must be a non-negative integer, got {row[i_seq]!r}",
                    )
                    continue
                dist = nan
                if i_dist is not None and row[i_dist].strip():
                    try:
                        dist = float(row[i_dist])
                    except ValueError:
                        self.error(
                            file, line, f"shape_dist_traveled must be a number, got {row[i_dist]!r}"
                        )
                shape.append(index.setdefault(shape_id, len(index)))
                seqs.append(seq)
                lats.append(lat)
                lons.append(lon)
                dists.append(dist)
                lines.append(line)
        except _READ_ERRORS as error:
            self.error(file, _line_of(table, error), _unreadable(error))
        finally:
            table.handle.close()
        shape_a = np.asarray(shape, dtype=np.int64)
        seq_a = np.asarray(seqs, dtype=np.int64)
        order = np.lexsort((seq_a, shape_a))
        shape_a, seq_a = shape_a[order], seq_a[order]
        duplicate = np.flatnonzero((shape_a[1:] == shape_a[:-1]) & (seq_a[1:] == seq_a[:-1]))
        ids = list(index)
        for k in duplicate[:MAX_ERRORS]:
            row_line = lines[int(order[k + 1])]
            self.error(
                file, row_line, f"shape {ids[shape_a[k]]!r} has shape_pt_sequence {seq_a[k]} twice"
            )
        return Shapes(
            ids=ids,
            start=np.searchsorted(shape_a, np.arange(len(ids) + 1)).astype(np.int64),
            lon=np.asarray(lons, dtype=np.float64)[order],
            lat=np.asarray(lats, dtype=np.float64)[order],
            distance=np.asarray(dists, dtype=np.float64)[order],
        )

    def stop_times(
        self,
        trip_index: dict[str, int],
        stop_index: dict[str, int],
        stops: list[Row],
        trips: list[Row],
    ) -> StopTimes:
        """The largest file, read into columns with one pass of plain Python per row."""
        file = "stop_times.txt"
        table = _open_table(self.files, file, self.errors)
        if table is None:
            return _no_stop_times(len(trips))
        c = table.columns
        i_trip, i_seq, i_stop = c["trip_id"], c["stop_sequence"], c["stop_id"]
        i_arr, i_dep = c.get("arrival_time"), c.get("departure_time")
        i_head = c.get("stop_headsign")
        i_pick, i_drop = c.get("pickup_type"), c.get("drop_off_type")
        i_point, i_dist = c.get("timepoint"), c.get("shape_dist_traveled")
        has_times = i_arr is not None and i_dep is not None
        if not has_times:
            self.error(file, 1, "required column arrival_time, departure_time missing")
            table.handle.close()
            return _no_stop_times(len(trips))
        assert i_arr is not None and i_dep is not None
        not_boardable = {
            s["stop_id"]: s["location_type"] for s in stops if s["location_type"] in ("1", "2", "3")
        }
        trip_col: list[int] = []
        seq_col: list[int] = []
        stop_col: list[int] = []
        arr_col: list[int] = []
        dep_col: list[int] = []
        line_col: list[int] = []
        head_col: list[str] = []
        pick_col: list[int] = []
        drop_col: list[int] = []
        point_col: list[int] = []
        dist_col: list[float] = []
        times: dict[str, int] = {"": _UNSET}
        texts: dict[str, str] = {}
        small = {"": _UNSET, "0": 0, "1": 1, "2": 2, "3": 3}
        error = self.error
        trip_get, stop_get, time_get = trip_index.get, stop_index.get, times.get
        nan = math.nan
        try:
            for line, row in table.rows():
                trip = trip_get(row[i_trip])
                if trip is None:
                    trip_text = row[i_trip].strip()
                    trip = trip_get(trip_text)
                    if trip is None:
                        error(file, line, f"trip_id {trip_text!r} is not in trips.txt")
                        continue
                stop_text = row[i_stop]
                stop = stop_get(stop_text)
                if stop is None:
                    stop_text = stop_text.strip()
                    stop = stop_get(stop_text)
                    if stop is None:
                        error(file, line, f"stop_id {stop_text!r} is not in stops.txt")
                        continue
                if not_boardable and stop_text in not_boardable:
                    kind = not_boardable[stop_text]
                    error(file, line, f"stop_id {stop_text!r} has location_type {kind}: not a stop")
                    continue
                seq_text = row[i_seq]
                if seq_text.isdigit() and seq_text.isascii():
                    seq = int(seq_text)
                else:
                    try:
                        seq = _non_negative_int(seq_text.strip())
                    except ValueError:
                        error(
                            file,
                            line,
                            f"stop_sequence must be a non-negative integer, got {seq_text!r}",
                        )
                        continue
                arr = time_get(row[i_arr])
                if arr is None:
                    arr = self.time(file, line, "arrival_time", row[i_arr], times)
                    if arr is None:
                        continue
                dep = time_get(row[i_dep])
                if dep is None:
                    dep = self.time(file, line, "departure_time", row[i_dep], times)
                    if dep is None:
                        continue
                if arr < 0:
                    arr = dep
                elif dep < 0:
                    dep = arr
                elif dep < arr:
                    error(
                        file,
                        line,
                        f"departure_time {row[i_dep]} is before arrival_time {row[i_arr]}",
                    )
                    continue
                trip_col.append(trip)
                seq_col.append(seq)
                stop_col.append(stop)
                arr_col.append(arr)
                dep_col.append(dep)
                line_col.append(line)
                if i_head is not None:
                    text = row[i_head].strip()
                    head_col.append(texts.setdefault(text, text))
                if i_pick is not None:
                    value = small.get(row[i_pick].strip())
                    if value is None:
                        error(
                            file, line, f"pickup_type must be one of 0,1,2,3, got {row[i_pick]!r}"
                        )
                        value = _UNSET
                    pick_col.append(value)
                if i_drop is not None:
                    value = small.get(row[i_drop].strip())
                    if value is None:
                        error(
                            file, line, f"drop_off_type must be one of 0,1,2,3, got {row[i_drop]!r}"
                        )
                        value = _UNSET
                    drop_col.append(value)
                if i_point is not None:
                    value = small.get(row[i_point].strip())
                    if value is None or value > 1:
                        error(file, line, f"timepoint must be 0 or 1, got {row[i_point]!r}")
                        value = _UNSET
                    point_col.append(value)
                if i_dist is not None:
                    text = row[i_dist].strip()
                    distance = nan
                    if text:
                        try:
                            distance = float(text)
                        except ValueError:
                            error(file, line, f"shape_dist_traveled must be a number, got {text!r}")
                    dist_col.append(distance)
        except _READ_ERRORS as failure:
            error(file, _line_of(table, failure), _unreadable(failure))
        finally:
            table.handle.close()
        if self.errors.count:
            self.errors.raise_if_any()  # rows left out would make trips look wrong
        return self.group(
            file,
            trips,
            StopTimes(
                trip=np.asarray(trip_col, dtype=np.int64),
                sequence=np.asarray(seq_col, dtype=np.int64),
                stop=np.asarray(stop_col, dtype=np.int64),
                arrival=np.asarray(arr_col, dtype=np.int64),
                departure=np.asarray(dep_col, dtype=np.int64),
                trip_start=np.zeros(0, dtype=np.int64),
                headsign=head_col if i_head is not None else None,
                pickup_type=np.asarray(pick_col, dtype=np.int64) if i_pick is not None else None,
                drop_off_type=np.asarray(drop_col, dtype=np.int64) if i_drop is not None else None,
                timepoint=np.asarray(point_col, dtype=np.int64) if i_point is not None else None,
                distance=np.asarray(dist_col, dtype=np.float64) if i_dist is not None else None,
            ),
            np.asarray(line_col, dtype=np.int64),
        )

    def time(
        self, file: str, line: int, column: str, text: str, cache: dict[str, int]
    ) -> int | None:
        try:
            value = parse_gtfs_time(text.strip()) if text.strip() else _UNSET
        except ValueError:
            self.error(file, line, f"{column} must be a time H:MM:SS, got {text!r}")
            return None
        cache[text] = value
        return value

    def group(self, file: str, trips: list[Row], st: StopTimes, lines: Ints) -> StopTimes:
        """Sort by trip and sequence, then check each trip: sequences unique, first and last
        stops timed, times never going back."""
        order = np.lexsort((st.sequence, st.trip))
        st.trip, st.sequence, st.stop = st.trip[order], st.sequence[order], st.stop[order]
        st.arrival, st.departure = st.arrival[order], st.departure[order]
        lines = lines[order]
        if st.headsign is not None:
            st.headsign = [st.headsign[i] for i in order.tolist()]
        for name in ("pickup_type", "drop_off_type", "timepoint", "distance"):
            column = getattr(st, name)
            if column is not None:
                setattr(st, name, column[order])
        st.trip_start = np.searchsorted(st.trip, np.arange(len(trips) + 1)).astype(np.int64)
        same_trip = st.trip[1:] == st.trip[:-1]
        for k in np.flatnonzero(same_trip & (st.sequence[1:] == st.sequence[:-1]))[:MAX_ERRORS]:
            trip_id = trips[int(st.trip[k])]["trip_id"]
            self.error(
                file,
                int(lines[k + 1]),
                f"trip {trip_id!r} has stop_sequence {st.sequence[k]} twice",
            )
        # First and last stop of each trip must be timed.
        starts, ends = st.trip_start[:-1], st.trip_start[1:]
        used = ends > starts
        for position in np.unique(np.concatenate([starts[used], ends[used] - 1])).tolist():
            if st.arrival[position] < 0:
                trip_id = trips[int(st.trip[position])]["trip_id"]
                self.error(
                    file,
                    int(lines[position]),
                    f"trip {trip_id!r}: the first and last stop need arrival and departure times",
                )
        # Times never go back: each timed stop arrives no earlier than the previous one left.
        timed = np.flatnonzero(st.arrival >= 0)
        pairs = timed[1:][
            (st.trip[timed[1:]] == st.trip[timed[:-1]])
            & (st.arrival[timed[1:]] < st.departure[timed[:-1]])
        ]
        previous = {int(b): int(a) for a, b in itertools.pairwise(timed)} if len(pairs) else {}
        for position in pairs[:MAX_ERRORS].tolist():
            trip_id = trips[int(st.trip[position])]["trip_id"]
            before = format_gtfs_time(int(st.departure[previous[position]]))
            self.error(
                file,
                int(lines[position]),
                f"trip {trip_id!r} arrives at {format_gtfs_time(int(st.arrival[position]))}, "
                f"before it left the previous stop at {before}",
            )
        return st


def _no_shapes() -> Shapes:
    empty = np.zeros(0, dtype=np.float64)
    return Shapes([], np.zeros(1, dtype=np.int64), empty, empty, empty)


def _no_stop_times(trips: int) -> StopTimes:
    empty = np.zeros(0, dtype=np.int64)
    return StopTimes(empty, empty, empty, empty, empty, np.zeros(trips + 1, dtype=np.int64))
