"""Replay a CSV time series into the hub with its original timestamps.

Each data row becomes a JSON object (column -> value) sent with one topic through
``MessageWriter``, so the same mapping rules as for live devices apply and the rule's
``timestamp`` gives each reading its ``observedAt``. Rows go in time order: the file is read
twice, first for the rows' times (and to check the order), then to send them. A file already in
time order is streamed; one that is not is sorted in memory (stable: rows at the same time keep
their file order; rows whose time cannot be read go first, and become dead letters).

``speed=None`` sends as fast as the hub takes it, in batches. ``speed=N`` replays in real time
times N: a row is sent when ``(its time - the first row's time) / N`` has passed since the
start (``speed=3600`` replays an hour of data per second); rows due together share a batch.

The CSV: UTF-8 (a byte-order mark is skipped), comma, semicolon, tab or ``|`` separated (the
header line decides), a header row naming the columns (a blank name becomes ``column<N>``, a
repeated one gets ``_2``, ``_3``...). Values are stripped; an empty one is left out of the
object; one that reads as a number (``12``, ``-0.5``, ``1e3``; not ``0012``) becomes a number,
everything else stays text. A row whose field count differs from the header's, or that is not
valid in the file's encoding, becomes a dead letter whose reason names its line; a row the
mapping refuses becomes a dead letter with the mapping's reason, also prefixed with its line.
Blank rows are skipped. Nothing makes the replay stop half-way except the hub itself failing.
"""

from __future__ import annotations

import codecs
import csv
import io
import math
import re
import time
from array import array
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import orjson

from cetate.errors import BadRequestData
from cetate.hub.service import Hub
from cetate.ingest.deadletters import DeadLetter, dead_letter, store_dead_letters
from cetate.ingest.mapping import MappingError, MappingSet, Rule, _observed_at, render_path
from cetate.ingest.writer import MessageWriter

# (rows sent so far, rows in all, the data time of the last row sent)
Progress = Callable[[int, int, datetime | None], None]

DELIMITERS = (",", ";", "\t", "|")
KEPT_FAILURES = 100  # (line, reason) pairs kept in the report; all are dead letters anyway
_INTEGER = re.compile(r"-?(?:0|[1-9][0-9]*)")
_DECIMAL = re.compile(r"-?(?:(?:0|[1-9][0-9]*)(?:\.[0-9]+)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_UNDECODABLE = re.compile("[\udc80-\udcff]")  # bytes the encoding could not read (surrogateescape)
_SAFE_INTEGER = 2**53  # beyond it a JSON number loses digits in most readers: keep the text


@dataclass
class ReplayReport:
    """What a replay did."""

    path: Path
    topic: str
    rows: int = 0  # data rows read (blank rows not counted)
    stored: int = 0
    dead_lettered: int = 0
    skipped: int = 0  # blank rows
    seconds: float = 0.0  # wall time, reading included
    first: datetime | None = None  # the data's time span (rows whose time could be read)
    last: datetime | None = None
    sorted: bool = False  # the file was not in time order and was sorted
    failures: list[tuple[int, str]] = field(default_factory=list)  # first KEPT_FAILURES

    @property
    def rows_per_second(self) -> float:
        return self.rows / self.seconds if self.seconds > 0 else 0.0

    def summary(self) -> str:
        span = ""
        if self.first is not None and self.last is not None:
            span = f", data from {_iso(self.first)} to {_iso(self.last)}"
        order = " (sorted by time)" if self.sorted else ""
        return (
            f"{self.path.name}: {self.rows:,} rows{order} in {self.seconds:.1f} s "
            f"({self.rows_per_second:,.0f} rows/s): {self.stored:,} stored, "
            f"{self.dead_lettered:,} dead letters{span}"
        )


@dataclass(slots=True)
class _Row:
    line: int  # where the row starts in the file (1 = the header)
    payload: dict[str, Any] | None  # None: the row is bad (see problem)
    text: str  # the row as read, for a bad row's dead letter
    problem: str | None = None


def replay_csv(
    hub: Hub,
    path: Path,
    mappings: MappingSet,
    topic: str,
    speed: float | None = None,
    tenant: str = "",
    batch_size: int = 500,
    progress: Progress | None = None,
    time_columns: Sequence[str] | None = None,
    time_format: str | None = None,
    timezone: str | None = None,
    delimiter: str | None = None,
    decimal: str = ".",
    encoding: str = "utf-8-sig",
    limit: int | None = None,
    source: str = "csv",
) -> ReplayReport:
    """Send the rows of ``path`` to the hub as messages on ``topic``, in time order.

    The row's time is read as the rule matching ``topic`` reads it (its ``timestamp``,
    ``timestamp_format`` and ``timezone``); ``time_columns`` (with ``time_format`` and
    ``timezone``) order and pace the rows by other columns instead, observedAt still comes from
    the rule. ``delimiter`` overrides the guess from the header line; ``decimal=","`` reads
    ``2,6`` as 2.6 (European files); ``limit`` replays only the file's first rows.
    ``BadRequestData`` for a mistake found before anything is sent; ``OSError`` when the file
    cannot be read."""
    started = time.monotonic()
    if speed is not None and not (math.isfinite(speed) and speed > 0):
        raise BadRequestData(f"speed must be a positive number, not {speed}")
    if batch_size < 1:
        raise BadRequestData("batch_size must be at least 1")
    if limit is not None and limit < 0:
        raise BadRequestData("limit must not be negative")
    if delimiter is not None and len(delimiter) != 1:
        raise BadRequestData(f"the delimiter must be one character, not {delimiter!r}")
    try:
        codecs.lookup(encoding)
    except LookupError:
        raise BadRequestData(f"unknown text encoding {encoding!r}") from None
    if decimal not in (".", ","):
        raise BadRequestData(f"the decimal mark must be '.' or ',', not {decimal!r}")
    if decimal == "," and delimiter == ",":
        raise BadRequestData("the decimal mark cannot be the delimiter")
    timing = _timing_rule(mappings, topic, time_columns, time_format, timezone)
    report = ReplayReport(path=path, topic=topic)
    separator = delimiter or _guess_delimiter(path, encoding)
    if decimal == separator:
        raise BadRequestData(f"the file is {separator!r}-separated: the decimal mark cannot be too")

    # First pass: each row's time, whether they are in order, how many there are.
    times = array("d")
    ordered = True
    latest = -math.inf
    memo: dict[tuple[str, ...], float] = {}
    columns = _header(path, encoding, separator)
    _check_time_columns(timing, columns)
    for row in _rows(path, encoding, separator, decimal, limit, report):
        moment = _row_time(timing, row.payload, memo) if row.payload is not None else math.nan
        times.append(moment)
        if not math.isnan(moment):
            if moment < latest:
                ordered = False
            latest = max(latest, moment)
    known = [t for t in times if not math.isnan(t)]
    if known:
        report.first = datetime.fromtimestamp(min(known), UTC)
        report.last = datetime.fromtimestamp(max(known), UTC)
    report.rows = len(times)
    report.skipped = 0  # counted again by the second pass
    report.sorted = not ordered

    # Second pass: send them.
    sender = _Sender(hub, mappings, topic, tenant, source, speed, progress, report)
    rows = _rows(path, encoding, separator, decimal, limit, report)
    if ordered:
        for index, row in enumerate(rows):
            sender.add(row, times[index], batch_size)
    else:
        everything = list(rows)
        order = sorted(
            range(len(everything)),
            key=lambda i: (-math.inf if math.isnan(times[i]) else times[i], i),
        )
        for index in order:
            sender.add(everything[index], times[index], batch_size)
    sender.flush()
    report.seconds = time.monotonic() - started
    return report


class _Sender:
    """Batches rows, paces them (``speed``), writes them and counts what happened."""

    def __init__(
        self,
        hub: Hub,
        mappings: MappingSet,
        topic: str,
        tenant: str,
        source: str,
        speed: float | None,
        progress: Progress | None,
        report: ReplayReport,
    ) -> None:
        self.hub = hub
        self.writer = MessageWriter(hub, mappings, tenant, source)
        self.topic = topic
        self.tenant = tenant
        self.source = source
        self.speed = speed
        self.progress = progress
        self.report = report
        self.batch: list[_Row] = []
        self.sent = 0
        self.data_time: float = math.nan
        self.anchor: tuple[float, float] | None = None  # (wall clock, data time) of row one

    def add(self, row: _Row, moment: float, batch_size: int) -> None:
        if self.speed is not None and not math.isnan(moment):
            if self.anchor is None:
                self.anchor = (time.monotonic(), moment)
            due = self.anchor[0] + (moment - self.anchor[1]) / self.speed
            if due > time.monotonic():
                self.flush()  # what is due goes out before waiting
                wait = due - time.monotonic()
                if wait > 0:
                    time.sleep(wait)
        self.batch.append(row)
        if not math.isnan(moment):
            self.data_time = moment
        if len(self.batch) >= batch_size:
            self.flush()

    def flush(self) -> None:
        if not self.batch:
            return
        batch, self.batch = self.batch, []
        now = datetime.now(UTC)
        good = [row for row in batch if row.payload is not None]
        messages = [(self.topic, orjson.dumps(row.payload), now) for row in good]
        outcomes = self.writer.write(messages, store_failures=False) if messages else []
        letters: list[DeadLetter] = []
        failed: list[tuple[int, str]] = []
        for row, (_, payload, _), reason in zip(good, messages, outcomes, strict=True):
            if reason is not None:
                failed.append((row.line, reason))
                letters.append(self._letter(payload, row.line, reason, now))
        for row in batch:
            if row.payload is None:
                reason = row.problem or "bad row"
                failed.append((row.line, reason))
                payload = row.text.encode("utf-8", "surrogateescape")
                letters.append(self._letter(payload, row.line, reason, now))
        store_dead_letters(self.hub, self.tenant, letters)
        report = self.report
        report.dead_lettered += len(letters)
        report.stored += len(batch) - len(letters)
        room = KEPT_FAILURES - len(report.failures)
        if room > 0:
            report.failures += sorted(failed)[:room]
        self.sent += len(batch)
        if self.progress is not None:
            at = None if math.isnan(self.data_time) else datetime.fromtimestamp(self.data_time, UTC)
            self.progress(self.sent, report.rows, at)

    def _letter(self, payload: bytes, line: int, reason: str, now: datetime) -> DeadLetter:
        return dead_letter(self.source, self.topic, payload, f"line {line}: {reason}", now)


# -- reading the file --------------------------------------------------------------------------


def _guess_delimiter(path: Path, encoding: str) -> str:
    """The separator the header line uses most (outside quotes); a comma when it has none."""
    with path.open(encoding=encoding, errors="surrogateescape", newline="") as file:
        header = _first_record(file)
    counts = dict.fromkeys(DELIMITERS, 0)
    quoted = False
    for char in header:
        if char == '"':
            quoted = not quoted
        elif not quoted and char in counts:
            counts[char] += 1
    best = max(DELIMITERS, key=lambda d: counts[d])  # ties: the earlier one (comma first)
    return best if counts[best] else ","


def _first_record(file: Iterable[str]) -> str:
    """The header's text: its first line, or more when a quoted name spans lines."""
    text = ""
    for line in file:
        text += line
        if text.count('"') % 2 == 0 and text.strip():
            break
    return text


def _header(path: Path, encoding: str, separator: str) -> list[str]:
    with path.open(encoding=encoding, errors="surrogateescape", newline="") as file:
        for cells in csv.reader(file, delimiter=separator):
            if any(cell.strip() for cell in cells):
                return _column_names(cells)
    raise BadRequestData(f"{path}: no header row (the file is empty)")


def _column_names(cells: list[str]) -> list[str]:
    names: list[str] = []
    seen: dict[str, int] = {}
    for position, cell in enumerate(cells, start=1):
        name = cell.strip() or f"column{position}"
        if name in seen:
            seen[name] += 1
            name = f"{name}_{seen[name]}"
        seen.setdefault(name, 1)
        names.append(name)
    return names


def _rows(
    path: Path,
    encoding: str,
    separator: str,
    decimal: str,
    limit: int | None,
    report: ReplayReport,
) -> Iterator[_Row]:
    """The data rows, in file order, each with its first line's number."""
    with path.open(encoding=encoding, errors="surrogateescape", newline="") as file:
        reader = csv.reader(file, delimiter=separator)
        columns: list[str] | None = None
        count = 0
        end = 0  # the last line of the previous record
        while limit is None or count < limit:
            try:
                cells = next(reader)
            except StopIteration:
                return
            except csv.Error as error:  # a NUL byte, an unfinished quote at the end...
                line = end + 1
                end = reader.line_num
                count += 1
                yield _Row(line, None, "", f"not readable as CSV: {error}")
                continue
            line, end = end + 1, reader.line_num
            if columns is None:
                if any(cell.strip() for cell in cells):
                    columns = _column_names(cells)
                continue
            if not any(cell.strip() for cell in cells):
                report.skipped += 1
                continue
            count += 1
            if len(cells) != len(columns):
                problem = f"{len(cells)} fields where the header has {len(columns)}"
                yield _Row(line, None, _unparse(cells, separator), problem)
            elif _UNDECODABLE.search("".join(cells)):
                yield _Row(line, None, _unparse(cells, separator), f"not valid {encoding} text")
            else:
                payload = {}
                for name, cell in zip(columns, cells, strict=True):
                    value = _cell_value(cell, decimal)
                    if value is not None:
                        payload[name] = value
                yield _Row(line, payload, "")


def _unparse(cells: list[str], separator: str) -> str:
    out = io.StringIO()
    csv.writer(out, delimiter=separator, lineterminator="").writerow(cells)
    return out.getvalue()


def _cell_value(cell: str, decimal: str = ".") -> str | int | float | None:
    """Empty -> None (left out); a number -> the number; anything else -> the text."""
    text = cell.strip()
    if not text:
        return None
    if _INTEGER.fullmatch(text):
        number = int(text)
        return number if abs(number) < _SAFE_INTEGER else text
    candidate = text.replace(",", ".", 1) if decimal == "," and "." not in text else text
    if _DECIMAL.fullmatch(candidate):
        value = float(candidate)
        return value if math.isfinite(value) else text
    return text


# -- the rows' times ---------------------------------------------------------------------------


def _timing_rule(
    mappings: MappingSet,
    topic: str,
    columns: Sequence[str] | None,
    time_format: str | None,
    timezone: str | None,
) -> Rule:
    """The rule whose timestamp orders and paces the rows (the topic's own, or a copy reading
    the given columns)."""
    rule = next((r for r in mappings.rules if r.match(topic) is not None), None)
    if rule is None:
        raise BadRequestData(f"no mapping rule matches topic {topic!r}")
    changes: dict[str, Any] = {}
    if columns:
        changes["timestamp"] = tuple((column,) for column in columns)
    if time_format is not None:
        if time_format not in ("iso", "epoch_s", "epoch_ms") and "%" not in time_format:
            raise BadRequestData(
                "the time format must be iso, epoch_s, epoch_ms or a strptime pattern"
            )
        changes["time_format"] = time_format
    if timezone is not None:
        try:
            changes["timezone"] = ZoneInfo(timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise BadRequestData(f"unknown timezone {timezone!r}") from None
    timing = replace(rule, **changes) if changes else rule
    if not timing.timestamp:
        raise BadRequestData(
            f"mapping {rule.name} has no 'timestamp': a replay needs each row's time "
            "(add 'timestamp: COLUMN' to the rule, or give the time columns)"
        )
    return timing


def _check_time_columns(rule: Rule, columns: list[str]) -> None:
    for path in rule.timestamp:
        if len(path) != 1 or path[0] not in columns:
            raise BadRequestData(
                f"the time column {render_path(path)[2:]!r} is not in the file's header "
                f"(columns: {', '.join(columns)})"
            )


_NEVER = datetime(1970, 1, 1, tzinfo=UTC)  # rules with a timestamp never read it


def _row_time(rule: Rule, payload: dict[str, Any], memo: dict[tuple[str, ...], float]) -> float:
    """The row's time in seconds since the epoch, NaN when it cannot be read (the mapping will
    refuse the row too). Consecutive rows often share a time: the last few are remembered."""
    key = tuple(str(payload.get(str(path[0]))) for path in rule.timestamp)
    found = memo.get(key)
    if found is not None:
        return found
    try:
        observed = _observed_at(rule, payload, _NEVER)
    except MappingError:
        return math.nan
    if observed is None:
        return math.nan
    moment = datetime.fromisoformat(observed).timestamp()
    if len(memo) > 64:
        memo.clear()
    memo[key] = moment
    return moment


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")
