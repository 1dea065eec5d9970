"""The temporal evolution of entities (NGSI-LD clauses 4.5.7-4.5.9, 4.5.19, 4.11, 5.2.21): the
pure parts of the temporal API.

Nothing here touches the store or HTTP. The routes in ``cetate.hub.api_temporal`` read the
request, call the store, and hand plain data to these functions:

- ``parse_temporal_query`` turns ``timerel`` / ``timeAt`` / ``endTimeAt`` / ``lastN`` /
  ``timeproperty`` into a ``TemporalQuery`` (times in microseconds since the epoch), whose
  ``history`` method gives the store's ``HistoryQuery``. The bounds are those of clause 4.11:
  ``before`` is exclusive (``t < timeAt``), ``after`` inclusive (``t >= timeAt``), ``between``
  inclusive below and exclusive above (``timeAt <= t < endTimeAt``).
- ``parse_view`` decides the representation: normalized (every instance, with its
  ``instanceId``), ``temporalValues`` (the simplified ``[[value, time], ...]`` form) or
  ``aggregatedValues`` (``aggrMethods`` over periods of ``aggrPeriodDuration``).
- ``parse_duration`` reads ISO 8601 durations (``PT1H``, ``P1D``, ``P1W``, ``P1M``...).
- ``aggregate`` groups ``(time, value)`` points into periods and applies the methods.
- ``render_temporal_entity`` builds the temporal entity a client receives, in its @context.
- ``parse_temporal_entity`` / ``parse_temporal_attributes`` read what a client writes to
  ``POST /temporal/entities``: attributes as arrays of instances.

Aggregation semantics (clause 4.5.19), as decided here:

- Periods are aligned to ``timeAt`` when the query has one, else to the first instance; a zero
  duration (``PT0S``, the default) is one period spanning the whole query interval: from
  ``timeAt`` (``after``, ``between``) or the first instance, to ``endTimeAt`` (``between``),
  ``timeAt`` (``before``) or the last instance. Periods without instances are left out.
- ``totalCount`` counts every instance, whatever its value; ``distinctCount`` counts distinct
  values (``1`` and ``1.0`` are the same value, ``true`` and ``1`` are not).
- ``sum``, ``avg``, ``stddev`` (population standard deviation) and ``sumsq`` take numbers, and
  booleans as 1 (true) and 0 (false); other values are skipped.
- ``min`` / ``max`` compare numbers numerically when the period has numbers; otherwise
  booleans (false < true); otherwise strings, lexicographically (code point order, which for
  NGSI-LD's UTC date-times is also chronological). Objects and lists are skipped.
- A method with no value it can use in a period gives no entry for that period.
"""

from __future__ import annotations

import calendar
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from fractions import Fraction
from typing import Any

import orjson

from cetate.errors import BadRequestData, InvalidRequest
from cetate.hub.model import (
    ENTITY_MEMBERS,
    Instance,
    RenderOptions,
    TermMap,
    check_entity_id,
    check_name,
    instance_time,
    parse_instance,
    parse_time,
    parse_types,
    render_instance,
)
from cetate.hub.store.base import HistoryQuery

TIMERELS = ("before", "after", "between")
TIME_PROPERTIES = ("observedAt", "modifiedAt", "createdAt")
AGGREGATION_METHODS = (
    "totalCount",
    "distinctCount",
    "sum",
    "avg",
    "min",
    "max",
    "stddev",
    "sumsq",
)
NORMALIZED = "normalized"
TEMPORAL_VALUES = "temporalValues"
AGGREGATED_VALUES = "aggregatedValues"
# Words of ``format`` / ``options`` that pick a representation (keyValues and simplified are the
# entity API's names for the simplified form; on the temporal API that is temporalValues).
_REPRESENTATIONS = {
    NORMALIZED: NORMALIZED,
    TEMPORAL_VALUES: TEMPORAL_VALUES,
    AGGREGATED_VALUES: AGGREGATED_VALUES,
    "keyValues": TEMPORAL_VALUES,
    "simplified": TEMPORAL_VALUES,
}
_OTHER_OPTIONS = frozenset({"sysAttrs"})
NGSI_LD_NULL = "urn:ngsi-ld:null"

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_fromisoformat = datetime.fromisoformat
_ONE_US = timedelta(microseconds=1)
_US_PER = {"W": 604_800_000_000, "D": 86_400_000_000, "H": 3_600_000_000, "M": 60_000_000}
# The mean Gregorian month, only to guess which monthly period a time falls in.
_MEAN_MONTH_US = 2_629_746_000_000
_MAX_MONTHS = 12 * 10_000
_MAX_US = 10_000 * 366 * _US_PER["D"]
_NUMBER = r"\d{1,12}(?:[.,]\d{1,9})?"
_DURATION = re.compile(
    rf"P(?:(?P<W>{_NUMBER})W"
    rf"|(?:(?P<Y>\d{{1,6}})Y)?(?:(?P<MO>\d{{1,6}})M)?(?:(?P<D>{_NUMBER})D)?"
    rf"(?:(?P<T>T)(?:(?P<H>{_NUMBER})H)?(?:(?P<MI>{_NUMBER})M)?(?:(?P<S>{_NUMBER})S)?)?)"
)
_MAIN_MEMBERS = ("value", "object", "languageMap", "json", "valueList", "objectList", "vocab")
# attribute type -> (key of the simplified array, member holding the value, wrap the value in
# an object named after the member)
_SIMPLIFIED: dict[str, tuple[str, str, bool]] = {
    "Property": ("values", "value", False),
    "GeoProperty": ("values", "value", False),
    "Relationship": ("objects", "object", False),
    "LanguageProperty": ("languageMaps", "languageMap", True),
    "JsonProperty": ("jsons", "json", True),
    "VocabProperty": ("vocabs", "vocab", True),
    "ListProperty": ("valueLists", "valueList", False),
    "ListRelationship": ("objectLists", "objectList", False),
}


# ---------------------------------------------------------------------------------------------
# Times and durations


def to_us(moment: datetime) -> int:
    """Microseconds since the epoch, exactly (also before 1970)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return (moment - _EPOCH) // _ONE_US


def parse_instant(text: Any, field: str) -> int:
    """An ISO 8601 date-time (``2026-11-22T08:00:00Z``; no zone means UTC) in microseconds.

    A date alone is refused: clause 4.11 wants a DateTime."""
    if not isinstance(text, str) or "T" not in text.upper():
        raise BadRequestData(
            f"{field} must be an ISO 8601 date-time such as 2026-11-22T08:00:00Z, got {text!r}"
        )
    try:
        return to_us(parse_time(text, field))
    except (OverflowError, ValueError):  # offsets that leave the calendar's range
        raise BadRequestData(f"{field} is not a usable date-time: {text!r}") from None


def format_instant(us: int) -> str:
    """A time in microseconds as NGSI-LD writes it: ``...T12:03:00Z``, or with the fraction
    (milliseconds, or microseconds when needed) when it is not a whole second."""
    try:
        moment = _EPOCH + timedelta(microseconds=us)
    except OverflowError:
        raise BadRequestData("an aggregation period reaches outside the years 1-9999") from None
    text = (
        f"{moment.year:04d}-{moment.month:02d}-{moment.day:02d}"
        f"T{moment.hour:02d}:{moment.minute:02d}:{moment.second:02d}"
    )
    fraction = moment.microsecond
    if fraction == 0:
        return text + "Z"
    if fraction % 1000 == 0:
        return f"{text}.{fraction // 1000:03d}Z"
    return f"{text}.{fraction:06d}Z"


def stored_time_us(text: str) -> int:
    """Microseconds of a time the hub stored (already validated, UTC ``Z`` form)."""
    return to_us(datetime.fromisoformat(text))


@dataclass(frozen=True, slots=True)
class Duration:
    """An ISO 8601 duration: calendar months (years are 12) plus exact microseconds (weeks,
    days, hours, minutes and seconds; a day is 24 hours, as it always is in UTC)."""

    months: int = 0
    micros: int = 0
    text: str = "PT0S"

    @property
    def whole(self) -> bool:
        """A zero duration: one period spanning the whole interval of the query."""
        return self.months == 0 and self.micros == 0


WHOLE_INTERVAL = Duration()


def parse_duration(text: Any, field: str = "aggrPeriodDuration") -> Duration:
    """``P[n]Y[n]M[n]DT[n]H[n]M[n]S`` or ``P[n]W`` (clause 4.5.19). Only the smallest unit
    given may have a decimal fraction (``PT1.5S``, ``PT0,5H``); years and months are whole.
    Raises BadRequestData, and nothing else, for anything that is not such a duration."""
    if not isinstance(text, str):
        raise BadRequestData(f"{field} must be an ISO 8601 duration such as PT1H, got {text!r}")
    match = _DURATION.fullmatch(text)
    if match is None:
        raise BadRequestData(
            f"{field} {text!r} is not an ISO 8601 duration: use P[n]Y[n]M[n]DT[n]H[n]M[n]S "
            "or P[n]W, for example PT1H, P1D or P1W"
        )
    parts = match.groupdict()
    units = [u for u in ("W", "Y", "MO", "D", "H", "MI", "S") if parts[u] is not None]
    if not units:
        raise BadRequestData(f"{field} {text!r} has no number: write e.g. PT1H")
    if parts["T"] and not any(parts[u] for u in ("H", "MI", "S")):
        raise BadRequestData(f"{field} {text!r} has a T with no hours, minutes or seconds")
    fractional = [u for u in units if "." in parts[u] or "," in parts[u]]
    if fractional and fractional != [units[-1]]:
        raise BadRequestData(f"{field} {text!r}: only the last number may have a fraction")
    months = int(parts["Y"] or 0) * 12 + int(parts["MO"] or 0)
    micros = Fraction(0)
    for unit, per in (("W", "W"), ("D", "D"), ("H", "H"), ("MI", "M")):
        if parts[unit]:
            micros += Fraction(parts[unit].replace(",", ".")) * _US_PER[per]
    if parts["S"]:
        micros += Fraction(parts["S"].replace(",", ".")) * 1_000_000
    if months > _MAX_MONTHS or micros > _MAX_US:
        raise BadRequestData(f"{field} {text!r} is longer than 10000 years")
    return Duration(months, round(micros), text)


# ---------------------------------------------------------------------------------------------
# What a temporal request asks for


@dataclass(frozen=True, slots=True)
class TemporalQuery:
    """The time selection of a temporal query (clause 5.2.21), times in microseconds."""

    timerel: str | None = None
    time_at_us: int | None = None
    end_time_at_us: int | None = None
    last_n: int | None = None
    timeproperty: str = "observedAt"

    def history(
        self, entity_ids: Sequence[str], attrs: frozenset[str] | None = None, last_n: int = 0
    ) -> HistoryQuery:
        """The store's query for these entities (``last_n`` overrides lastN, for probes)."""
        return HistoryQuery(
            entity_ids=tuple(entity_ids),
            attrs=attrs,
            timerel=self.timerel,
            time_at_us=self.time_at_us,
            end_time_at_us=self.end_time_at_us,
            last_n=last_n or self.last_n,
            timeproperty=self.timeproperty,
        )

    @property
    def window(self) -> tuple[int | None, int | None]:
        """[start, end) of the query interval; None where it is open."""
        if self.timerel == "after":
            return self.time_at_us, None
        if self.timerel == "before":
            return None, self.time_at_us
        if self.timerel == "between":
            return self.time_at_us, self.end_time_at_us
        return None, None


def parse_last_n(raw: Any) -> int | None:
    """lastN: a positive integer (a JSON number or the digits of a query parameter)."""
    if raw is None:
        return None
    value: int | None = None
    if isinstance(raw, int) and not isinstance(raw, bool):
        value = raw
    elif isinstance(raw, str) and re.fullmatch(r"[ \t]*[0-9]{1,9}[ \t]*", raw):
        # ASCII digits and blanks only: int() refuses some characters \s and \d accept.
        value = int(raw)
    if value is None or value < 1:
        raise BadRequestData(f"lastN must be a positive whole number, got {raw!r}")
    return value


def parse_temporal_query(
    timerel: Any = None,
    time_at: Any = None,
    end_time_at: Any = None,
    last_n: Any = None,
    timeproperty: Any = None,
) -> TemporalQuery:
    """The time selection from its parameters (None where absent), checked as clause 4.11 and
    5.2.21 say: timerel needs timeAt, between needs endTimeAt after timeAt."""
    if timerel is not None and timerel not in TIMERELS:
        raise BadRequestData(f"timerel must be before, after or between, got {timerel!r}")
    if timerel is None:
        if time_at is not None:
            raise BadRequestData("timeAt is given without timerel (before, after or between)")
        if end_time_at is not None:
            raise BadRequestData("endTimeAt is given without timerel=between")
    elif time_at is None:
        raise BadRequestData(f"timerel={timerel} needs timeAt (an ISO 8601 date-time)")
    start = None if time_at is None else parse_instant(time_at, "timeAt")
    end = None
    if timerel == "between":
        if end_time_at is None:
            raise BadRequestData("timerel=between needs endTimeAt (an ISO 8601 date-time)")
        end = parse_instant(end_time_at, "endTimeAt")
        assert start is not None
        if end <= start:
            raise BadRequestData(f"endTimeAt {end_time_at} must be later than timeAt {time_at}")
    elif end_time_at is not None:
        raise BadRequestData(f"endTimeAt is only used with timerel=between, not {timerel}")
    prop = "observedAt" if timeproperty is None else timeproperty
    if prop not in TIME_PROPERTIES:
        raise BadRequestData(
            f"timeproperty must be observedAt, modifiedAt or createdAt, got {timeproperty!r}"
        )
    return TemporalQuery(timerel, start, end, parse_last_n(last_n), prop)


@dataclass(frozen=True, slots=True)
class TemporalView:
    """How temporal entities are shown."""

    representation: str = NORMALIZED
    sys_attrs: bool = False
    methods: tuple[str, ...] = ()
    period: Duration = field(default=WHOLE_INTERVAL)


def parse_methods(raw: Any) -> tuple[str, ...]:
    """aggrMethods: a comma separated string or (in a Query document) an array of strings."""
    if isinstance(raw, str):
        names = [n.strip() for n in raw.split(",")]
    elif isinstance(raw, list) and all(isinstance(n, str) for n in raw):
        names = [n.strip() for n in raw]
    else:
        raise BadRequestData(f"aggrMethods must be a comma separated list of names, got {raw!r}")
    names = [n for n in names if n]
    if not names:
        raise BadRequestData("aggrMethods is empty: name at least one of " + _methods_text())
    for name in names:
        if name not in AGGREGATION_METHODS:
            raise BadRequestData(f"aggrMethods {name!r} is not one of {_methods_text()}")
    return tuple(dict.fromkeys(names))


def _methods_text() -> str:
    return ", ".join(AGGREGATION_METHODS)


def parse_view(
    format_value: str | None,
    options: Iterable[str],
    aggr_methods: Any = None,
    aggr_period: Any = None,
) -> TemporalView:
    """The representation asked for. ``format`` wins over ``options`` (NGSI-LD 1.8); unknown
    words are an InvalidRequest; aggrMethods alone implies the aggregated representation."""
    chosen: set[str] = set()
    sys_attrs = False
    for word in options:
        if word in _REPRESENTATIONS:
            chosen.add(_REPRESENTATIONS[word])
        elif word in _OTHER_OPTIONS:
            sys_attrs = True
        else:
            raise InvalidRequest(
                f"options {word!r} is not supported by the temporal API: use temporalValues, "
                "aggregatedValues or sysAttrs"
            )
    if format_value is not None:
        if format_value not in _REPRESENTATIONS:
            raise InvalidRequest(
                f"format {format_value!r} is not supported by the temporal API: use "
                "normalized, temporalValues or aggregatedValues"
            )
        representation = _REPRESENTATIONS[format_value]
    elif len(chosen) > 1:
        raise InvalidRequest(f"options names several representations: {', '.join(sorted(chosen))}")
    elif chosen:
        representation = chosen.pop()
    else:
        representation = AGGREGATED_VALUES if aggr_methods is not None else NORMALIZED
    methods = parse_methods(aggr_methods) if aggr_methods is not None else ()
    period = WHOLE_INTERVAL if aggr_period is None else parse_duration(aggr_period)
    if representation == AGGREGATED_VALUES and not methods:
        raise BadRequestData(
            "the aggregated representation needs aggrMethods, e.g. aggrMethods=avg,max"
        )
    return TemporalView(representation, sys_attrs, methods, period)


# ---------------------------------------------------------------------------------------------
# Aggregation


def aggregate(
    points: Sequence[tuple[int, Any]],
    methods: Sequence[str],
    period: Duration = WHOLE_INTERVAL,
    origin_us: int | None = None,
    window: tuple[int | None, int | None] = (None, None),
) -> dict[str, list[list[Any]]]:
    """``{method: [[result, period start, period end], ...]}`` for ``(time µs, value)`` points.

    Periods start at ``origin_us + k * period`` (``origin_us`` defaults to the first point);
    they are clipped to ``window`` ([start, end), None where open), which is also the extent of
    the single period of a zero duration. Periods in time order, empty ones left out."""
    result: dict[str, list[list[Any]]] = {m: [] for m in methods}
    if not points:
        return result
    first = min(t for t, _ in points)
    last = max(t for t, _ in points)
    low, high = window
    buckets: dict[int, list[Any]] = {}
    bounds: dict[int, tuple[int, int]] = {}
    if period.whole:
        buckets[0] = [v for _, v in points]
        bounds[0] = (first if low is None else low, last if high is None else high)
    elif period.months == 0:  # fixed-length periods: plain arithmetic (the common case)
        origin, step = first if origin_us is None else origin_us, period.micros
        for moment, value in points:
            key = (moment - origin) // step
            values = buckets.get(key)
            if values is None:
                buckets[key] = values = []
            values.append(value)
        for key in buckets:
            start = origin + key * step
            bounds[key] = _clip(start, start + step, window)
    else:
        periods = _Periods(first if origin_us is None else origin_us, period)
        for moment, value in points:
            key, start, end = periods.locate(moment)
            values = buckets.get(key)
            if values is None:
                buckets[key] = values = []
                bounds[key] = _clip(start, end, window)
            values.append(value)
    for key in sorted(buckets):
        start_text, end_text = (format_instant(b) for b in bounds[key])
        summary = _Summary(buckets[key])
        for method in methods:
            outcome = summary.compute(method)
            if outcome is not _NOTHING:
                result[method].append([outcome, start_text, end_text])
    return result


def _clip(start: int, end: int, window: tuple[int | None, int | None]) -> tuple[int, int]:
    low, high = window
    return (start if low is None else max(start, low), end if high is None else min(end, high))


class _Periods:
    """Finds the calendar (monthly) period of a time; remembers the last one found (times
    usually come in order)."""

    def __init__(self, origin_us: int, period: Duration) -> None:
        self.origin_us = origin_us
        self.period = period
        self.origin = _EPOCH + timedelta(microseconds=origin_us)
        self.step = period.months * _MEAN_MONTH_US + period.micros
        self.current: tuple[int, int, int] | None = None

    def boundary(self, k: int) -> int:
        months = self.origin.month - 1 + k * self.period.months
        year, month = self.origin.year + months // 12, months % 12 + 1
        if not 1 <= year <= 9999:
            raise BadRequestData("an aggregation period reaches outside the years 1-9999")
        day = min(self.origin.day, calendar.monthrange(year, month)[1])
        shifted = to_us(self.origin.replace(year=year, month=month, day=day))
        return shifted + k * self.period.micros

    def locate(self, moment: int) -> tuple[int, int, int]:
        current = self.current
        if current is not None and current[1] <= moment < current[2]:
            return current
        k = (moment - self.origin_us) // self.step  # a guess, then corrected
        while self.boundary(k) > moment:
            k -= 1
        while self.boundary(k + 1) <= moment:
            k += 1
        self.current = (k, self.boundary(k), self.boundary(k + 1))
        return self.current


class _Nothing:
    """No result for a method in a period (it had no value the method can use)."""


_NOTHING: Any = _Nothing()


class _Summary:
    """The values of one period, sorted by kind once for all the methods asked for."""

    def __init__(self, values: list[Any]) -> None:
        self.values = values
        self.numbers = [v for v in values if type(v) in (int, float)]
        self.booleans = [v for v in values if type(v) is bool]
        self.strings = [v for v in values if type(v) is str]
        self.summable: list[int | float] = self.numbers + [int(b) for b in self.booleans]

    def compute(self, method: str) -> Any:
        try:
            return self._compute(method)
        except (OverflowError, ValueError):  # sums beyond the range of a float
            return None

    def _compute(self, method: str) -> Any:
        if method == "totalCount":
            return len(self.values)
        if method == "distinctCount":
            return len({_distinct_key(v) for v in self.values})
        if method in ("min", "max"):
            pool: list[Any] = self.numbers or self.booleans or self.strings
            if not pool:
                return _NOTHING
            return min(pool) if method == "min" else max(pool)
        xs = self.summable
        if not xs:
            return _NOTHING
        if method == "sum":
            return _json_number(sum(xs) if all(type(x) is int for x in xs) else math.fsum(xs))
        if method == "sumsq":
            if all(type(x) is int for x in xs):
                return _json_number(sum(x * x for x in xs))
            return _json_number(math.fsum(x * x for x in xs))
        mean = math.fsum(xs) / len(xs)
        if method == "avg":
            return _json_number(mean)
        # stddev: the population standard deviation
        return _json_number(math.sqrt(math.fsum((x - mean) ** 2 for x in xs) / len(xs)))


def _distinct_key(value: Any) -> Any:
    kind = type(value)
    if kind is bool:
        return ("b", value)
    if kind in (int, float):
        return ("n", value)
    if kind is str:
        return ("s", value)
    return ("j", orjson.dumps(value, option=orjson.OPT_SORT_KEYS))


def _json_number(number: float) -> Any:
    """A result JSON can carry: integers beyond 64 bits become floats, infinities null."""
    if isinstance(number, int) and not -(2**63) <= number < 2**63:
        return float(number)
    if isinstance(number, float) and not math.isfinite(number):
        return None
    return number


def main_value(instance: Instance) -> Any:
    """The value of an instance, whatever its attribute type (value, object, languageMap...)."""
    for member in _MAIN_MEMBERS:
        if member in instance:
            return instance[member]
    return None


def instance_us(instance: Instance, timeproperty: str) -> int:
    """The time an instance is filed under, as the stores file it: observedAt, else the
    modification time; for modifiedAt and createdAt, the time the instance was written."""
    if timeproperty == "observedAt":
        return stored_time_us(instance_time(instance))
    return stored_time_us(str(instance.get("modifiedAt") or instance_time(instance)))


def _instance_text(instance: Instance, timeproperty: str) -> str:
    if timeproperty == "observedAt":
        return instance_time(instance)
    return str(instance.get("modifiedAt") or instance_time(instance))


# ---------------------------------------------------------------------------------------------
# Pagination of instances (clause 6.3.10)

#: The most attribute instances one temporal response holds unless the settings say otherwise
#: (``CETATE_TEMPORAL_PAGE``). Beyond it the response is cut at a time and answered with 206 and
#: ``Content-Range: date-time <start>-<end>/<size>``; the client asks for the next range with
#: timeAt. (The ETSI suite assumes a broker whose page is between 20 and 39 instances: its
#: conformance run sets CETATE_TEMPORAL_PAGE=30.)
INSTANCE_PAGE = 10_000

EntityHistory = tuple[str, list[str], dict[str, list[Instance]]]


def paginate(
    found: Sequence[EntityHistory], query: TemporalQuery, limit: int = INSTANCE_PAGE
) -> tuple[list[EntityHistory], str | None]:
    """Cut the instances of a response to ``limit``, oldest first (newest first with lastN), at
    one moment for every attribute and entity so the range holds everything in it. Returns the
    entities and the Content-Range value, None when nothing was cut."""
    prop = query.timeproperty
    moments = sorted(
        (stored_time_us(_instance_text(i, prop)), _instance_text(i, prop))
        for _, _, attrs in found
        for instances in attrs.values()
        for i in instances
    )
    if len(moments) <= limit:
        return list(found), None
    newest_first = query.last_n is not None
    if newest_first:
        moments.reverse()
    first, last = moments[0], moments[limit - 1]
    low, high = (last[0], first[0]) if newest_first else (first[0], last[0])
    cut = [
        (
            entity_id,
            types,
            {
                iri: [
                    i for i in instances if low <= stored_time_us(_instance_text(i, prop)) <= high
                ]
                for iri, instances in attrs.items()
            },
        )
        for entity_id, types, attrs in found
    ]
    # The range starts where the query did when the query bounds that side, else at the first
    # instance given; it ends at the last instance given.
    start = first[1]
    if newest_first:
        bound = query.time_at_us if query.timerel == "before" else None
        if query.timerel == "between":
            bound = query.end_time_at_us
    else:
        bound = query.time_at_us if query.timerel in ("after", "between") else None
    if bound is not None:
        start = format_instant(bound)
    size = str(query.last_n) if query.last_n is not None else "*"
    return cut, f"date-time {start}-{last[1]}/{size}"


def empty_attribute(kind: str, view: TemporalView) -> Any:
    """An attribute with no instance in the range a page covers: ``[]``, or in the simplified
    representation ``{"type": kind, "values": []}`` (``objects``...)."""
    if view.representation == TEMPORAL_VALUES:
        return {"type": kind, _SIMPLIFIED.get(kind, ("values", "", False))[0]: []}
    return []


# ---------------------------------------------------------------------------------------------
# Rendering


def _by_dataset(instances: Sequence[Instance]) -> list[tuple[str | None, list[Instance]]]:
    groups: dict[str | None, list[Instance]] = {}
    for instance in instances:
        groups.setdefault(instance.get("datasetId"), []).append(instance)
    return list(groups.items())


def _head(kind: str, dataset_id: str | None) -> dict[str, Any]:
    head: dict[str, Any] = {"type": kind}
    if dataset_id is not None:
        head["datasetId"] = dataset_id
    return head


def simplify(instances: Sequence[Instance], timeproperty: str = "observedAt") -> Any:
    """The simplified temporal representation of one attribute (clause 4.5.9): per datasetId,
    ``{"type": "Property", "values": [[value, time], ...]}`` (``objects`` for relationships,
    ``languageMaps`` / ``jsons`` / ``vocabs`` wrap each value in an object). One object when
    the attribute has one datasetId, else a list of them."""
    out: list[dict[str, Any]] = []
    for dataset_id, group in _by_dataset(instances):
        kind = group[0]["type"]
        key, member, wrap = _SIMPLIFIED.get(kind, ("values", "value", False))
        pairs: list[list[Any]] = []
        for instance in group:
            value = instance[member] if member in instance else main_value(instance)
            pairs.append(
                [{member: value} if wrap else value, _instance_text(instance, timeproperty)]
            )
        out.append({**_head(kind, dataset_id), key: pairs})
    return out[0] if len(out) == 1 else out


def aggregate_attribute(
    instances: Sequence[Instance], view: TemporalView, query: TemporalQuery
) -> Any:
    """The aggregated temporal representation of one attribute (clause 4.5.19), per datasetId."""
    out: list[dict[str, Any]] = []
    for dataset_id, group in _by_dataset(instances):
        points = _points(group, query.timeproperty)
        results = aggregate(points, view.methods, view.period, query.time_at_us, query.window)
        out.append({**_head(group[0]["type"], dataset_id), **results})
    return out[0] if len(out) == 1 else out


def _points(instances: Sequence[Instance], timeproperty: str) -> list[tuple[int, Any]]:
    """(time µs, value) of each instance."""
    if timeproperty == "observedAt":
        try:  # inlined, as this runs once per instance; stored times are all UTC "Z" times
            return [
                (
                    (_fromisoformat(i.get("observedAt") or i["modifiedAt"]) - _EPOCH) // _ONE_US,
                    i["value"] if "value" in i else main_value(i),
                )
                for i in instances
            ]
        except TypeError:  # a time without a zone: the general path below
            pass
    return [(instance_us(i, timeproperty), main_value(i)) for i in instances]


def render_temporal_entity(
    entity_id: str,
    types: Sequence[str],
    attrs: Mapping[str, Sequence[Instance]],
    ctx: TermMap,
    view: TemporalView,
    query: TemporalQuery,
) -> dict[str, Any]:
    """The temporal entity a client receives, compacted with its @context."""
    compact_types = [ctx.compact(t) for t in types]
    out: dict[str, Any] = {
        "id": entity_id,
        "type": compact_types[0] if len(compact_types) == 1 else compact_types,
    }
    options = RenderOptions(sys_attrs=view.sys_attrs)
    for iri, instances in attrs.items():
        if not instances:
            continue
        name = ctx.compact(iri)
        if view.representation == TEMPORAL_VALUES:
            out[name] = simplify(instances, query.timeproperty)
        elif view.representation == AGGREGATED_VALUES:
            out[name] = aggregate_attribute(instances, view, query)
        else:
            out[name] = [render_instance(i, ctx, options) for i in instances]
    return out


# ---------------------------------------------------------------------------------------------
# Parsing what clients write


def parse_temporal_attributes(
    payload: Mapping[str, Any], ctx: TermMap, now: str
) -> dict[str, list[Instance]]:
    """Attributes of a temporal entity or fragment: each an instance or an array of instances
    (several may share a datasetId: they are the attribute's history)."""
    rows: dict[str, list[Instance]] = {}
    for name, raw in payload.items():
        if name in ENTITY_MEMBERS:
            continue
        iri = ctx.expand(check_name(name, "attribute name"))
        if raw == NGSI_LD_NULL:
            raise BadRequestData(
                f"attribute {name!r} is {NGSI_LD_NULL}: a temporal entity takes instances, "
                "not deletions of whole attributes"
            )
        items = raw if isinstance(raw, list) and all(isinstance(r, dict) for r in raw) else [raw]
        if not items:
            raise BadRequestData(f"attribute {name!r} has no instances")
        rows.setdefault(iri, []).extend(parse_instance(iri, item, ctx, now, name) for item in items)
    return rows


def parse_temporal_entity(
    payload: Any, ctx: TermMap, now: str
) -> tuple[str, list[str], dict[str, list[Instance]]]:
    """(id, expanded types, instances by attribute) of a temporal entity a client sends."""
    if not isinstance(payload, dict):
        raise BadRequestData("a temporal entity must be a JSON object")
    entity_id = check_entity_id(payload.get("id"))
    types = parse_types(payload.get("type"), ctx)
    return entity_id, types, parse_temporal_attributes(payload, ctx, now)
