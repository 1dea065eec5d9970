"""The NGSI-LD query language (``q``, ETSI GS CIM 009 v1.6 clause 4.9) and geo-queries
(clause 4.10): parsing into small immutable ASTs and evaluation against the hub's internal
entity representation (see :mod:`cetate.hub.model`). Pure functions, no I/O.

A broker evaluates one query against thousands of entities per request, so everything that
can be done once is done at parse time: regular expressions are compiled, literal values are
typed, date-times are turned into integers, and every comparison carries a ready-made test
function. Evaluating an entity is then a few dictionary look-ups and calls.

Accepted ``q`` syntax (the spec's ABNF, with the liberties noted)::

    Query    = OrExpr
    OrExpr   = AndExpr *("|" AndExpr)          ; AND (";") binds tighter than OR ("|")
    AndExpr  = Atom *(";" Atom)
    Atom     = "(" OrExpr ")" / Term           ; the spec only groups flat term lists;
                                               ; any nesting is accepted (depth <= 32)
    Term     = ["!"] Path                      ; existence / non-existence
             / Path ("==" / "!=") (Value / ValueList / Range)
             / Path (">" / ">=" / "<" / "<=") ComparableValue
             / Path ("~=" / "!~=") RegExp
    Path     = Name *("." Name) *("[" Key *("." Key) "]")

* ``Name``: letters, digits, ``_`` (the spec's set) plus ``-`` and ``:`` so that compact IRIs
  (``schema:name``) work. The last dotted element may be one of the instance metadata
  ``observedAt``, ``createdAt``, ``modifiedAt``, ``unitCode``, ``datasetId``; the others are
  sub-attributes. A bare ``createdAt`` / ``modifiedAt`` is the entity's own timestamp.
* ``[k1][k2]`` (or ``[k1.k2]``) addresses members of a compound value (an ECMAScript member
  expression: an undefined member means the attribute does not exist). On a
  LanguageProperty the key is a language tag, or ``*`` for any language.
* ``Value``: JSON numbers, ``"quoted strings"`` (JSON escapes), ``true`` / ``false``,
  unquoted ISO 8601 date-times, dates and times, and unquoted URIs. Any other unquoted word
  that starts with a letter is taken like a URI (real clients send ``category==commercial``);
  ordering operators refuse it, it has to be quoted there.
* ``RegExp``: Python ``re`` syntax, searched anywhere in the target (``^``/``$`` anchor it).
  Either ``"quoted"`` (kept verbatim, only ``\\"`` does not end it) or unquoted, running to the
  next ``;``, ``|`` or ``)`` that is outside a group or character class: so ``(?i)park.*``
  works, and a top-level alternative must be grouped, ``(a|b)``, or quoted.
* Whitespace (space, tab, CR, LF) is tolerated between tokens, never inside one. The spec
  forbids it, but hand-written and pretty-printed queries have it and it is never ambiguous.

Percent-decoding is the HTTP layer's job. Every syntax error is a ``BadRequestData`` whose
message names the problem and the character offset in the query.

Evaluation (clause 4.9 semantics, with the hub's choices where it is silent):

* The target of a Property (also JsonProperty, VocabProperty, ListProperty) is its value; of
  a Relationship (ListRelationship) its object(s), which only ``==`` and ``!=`` can match; of
  a LanguageProperty the strings of its languageMap, any of which may match (``!=`` and
  ``!~=``: none may match the positive form); a GeoProperty can only be asked to exist.
* A term holds when any instance of a multi-attribute (datasetId) satisfies it.
* Values of different JSON types are unequal: ``==`` fails and ``!=`` holds (the spec:
  "shall be considered unequal"); ordering and patterns fail. Booleans are not numbers.
* An array target: ``==`` holds when it includes a query value, ``!=`` when it does not;
  ordering and patterns fail on arrays.
* Strings order lexicographically; when both sides read as date-times (or both as dates,
  or both as times) they compare as instants. An unquoted date only matches dates.
* A term on a missing attribute, sub-attribute, metadata or member never holds, whatever
  the operator: only ``!attr`` asks for absence.
"""

from __future__ import annotations

import enum
import functools
import json
import math
import operator
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any, Final

import numpy
import shapely

from cetate.errors import BadRequestData

__all__ = [
    "EARTH_RADIUS_M",
    "GEOMETRY_TYPES",
    "GEO_RELATIONS",
    "And",
    "AttrPath",
    "Compare",
    "Exists",
    "GeoQuery",
    "Op",
    "Or",
    "Pattern",
    "QExpr",
    "Range",
    "Value",
    "ValueKind",
    "ValueList",
    "format_q",
    "geo_bbox",
    "geometry_bbox",
    "haversine_m",
    "map_q_names",
    "match_geo",
    "match_q",
    "parse_geoquery",
    "parse_q",
    "q_attr_names",
    "validate_geojson_geometry",
]

# =============================================================================================
# Dates and times
#
# NGSI-LD has no date type in JSON: date-times are strings. They are compared as instants (a
# "+02:00" spelling equals the "Z" one), so both sides are reduced to an integer key: micro-
# seconds since the epoch (date-time), days (date) or microseconds since midnight UTC (time).

_DATETIME_SRC: Final = (
    r"(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2})(?:\.(\d+))?)?(Z|[+-]\d{2}(?::?\d{2})?)?"
)
_DATE_SRC: Final = r"(\d{4})-(\d{2})-(\d{2})"
_TIME_SRC: Final = r"(\d{2}):(\d{2})(?::(\d{2})(?:\.(\d+))?)?(Z|[+-]\d{2}(?::?\d{2})?)?"
_DATETIME_RE: Final = re.compile(_DATETIME_SRC)
_DATE_RE: Final = re.compile(_DATE_SRC)
_TIME_RE: Final = re.compile(_TIME_SRC)
_EPOCH: Final = datetime(1970, 1, 1)
_ONE_US: Final = timedelta(microseconds=1)
_US_PER_DAY: Final = 86_400_000_000


class ValueKind(enum.Enum):
    """The type of a literal in a query term."""

    NUMBER = "number"
    STRING = "string"  # quoted
    BOOLEAN = "boolean"
    DATETIME = "datetime"  # unquoted ISO 8601
    DATE = "date"
    TIME = "time"
    URI = "uri"  # unquoted URI (or bare word)


_TEMPORAL_KINDS: Final = (ValueKind.DATETIME, ValueKind.DATE, ValueKind.TIME)
# What an ordering operator (> >= < <=) and a range accept: the spec's ComparableValue.
_COMPARABLE_KINDS: Final = frozenset({ValueKind.NUMBER, ValueKind.STRING, *_TEMPORAL_KINDS})


def _offset_us(zone: str | None) -> int:
    if zone is None or zone == "Z":
        return 0  # no zone: taken as UTC, as the rest of the hub does
    hours = int(zone[1:3])
    minutes = int(zone[-2:]) if len(zone) > 3 else 0
    if hours > 23 or minutes > 59:
        raise ValueError("bad zone offset")
    sign = 1 if zone[0] == "+" else -1
    return sign * (hours * 3600 + minutes * 60) * 1_000_000


def _fraction_us(digits: str | None) -> int:
    # more than six digits of fraction are allowed and truncated to microseconds
    return int((digits or "0")[:6].ljust(6, "0"))


def _temporal(text: str) -> tuple[ValueKind, int] | None:
    """The temporal kind and integer key of ``text``, or None when it is no date/time."""
    # long texts are never dates, and the cache should not keep them alive
    return _temporal_key(text) if len(text) <= 64 else None


@functools.lru_cache(maxsize=8192)  # evaluation meets the same stored timestamps repeatedly
def _temporal_key(text: str) -> tuple[ValueKind, int] | None:
    try:
        m = _DATETIME_RE.fullmatch(text)
        if m is not None:
            y, mo, d, h, mi, s, frac, zone = m.groups()
            moment = datetime(int(y), int(mo), int(d), int(h), int(mi), int(s or 0))
            key = (moment - _EPOCH) // _ONE_US + _fraction_us(frac) - _offset_us(zone)
            return ValueKind.DATETIME, key
        m = _DATE_RE.fullmatch(text)
        if m is not None:
            return ValueKind.DATE, date(*map(int, m.groups())).toordinal()
        m = _TIME_RE.fullmatch(text)
        if m is not None:
            h, mi, s, frac, zone = m.groups()
            of_day = time(int(h), int(mi), int(s or 0))  # validates the ranges
            us = (of_day.hour * 3600 + of_day.minute * 60 + of_day.second) * 1_000_000
            return ValueKind.TIME, (us + _fraction_us(frac) - _offset_us(zone)) % _US_PER_DAY
    except ValueError:
        return None  # shaped like a date but not one (month 13, hour 25...)
    return None


# =============================================================================================
# The AST


class Op(enum.Enum):
    EQ = "=="
    NE = "!="
    GT = ">"
    GE = ">="
    LT = "<"
    LE = "<="
    MATCH = "~="
    NOT_MATCH = "!~="


# Instance metadata a path may end with; their names are NGSI-LD core terms, never expanded.
META_NAMES: Final = frozenset({"observedAt", "createdAt", "modifiedAt", "unitCode", "datasetId"})
# Entity timestamps a bare path may name.
SYSTEM_NAMES: Final = frozenset({"createdAt", "modifiedAt"})


@dataclass(frozen=True, slots=True)
class AttrPath:
    """``name.sub1.sub2.meta[key1][key2]``: what a query term looks at."""

    name: str
    subs: tuple[str, ...] = ()
    meta: str | None = None
    keys: tuple[str, ...] = ()
    # True for a bare createdAt / modifiedAt: the entity's timestamp, not an attribute.
    system: bool = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.meta is not None and self.meta not in META_NAMES:
            raise ValueError(f"unknown metadata name {self.meta!r}")
        simple = not self.subs and self.meta is None and not self.keys
        object.__setattr__(self, "system", simple and self.name in SYSTEM_NAMES)


@dataclass(frozen=True, slots=True)
class Value:
    """A literal: ``value`` is the number, the bool, or the text (strings, dates, URIs)."""

    kind: ValueKind
    value: int | float | str | bool
    # (kind, key) when the text is a date, date-time or time: compared as instants.
    temporal: tuple[ValueKind, int] | None = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        temporal = None
        if isinstance(self.value, str):
            temporal = _temporal(self.value)
            if self.kind in _TEMPORAL_KINDS and (temporal is None or temporal[0] is not self.kind):
                raise ValueError(f"{self.value!r} is not a valid {self.kind.value}")
        object.__setattr__(self, "temporal", temporal)


@dataclass(frozen=True, slots=True)
class ValueList:
    """``a==1,2,3``: equal to any of the items."""

    items: tuple[Value, ...]


@dataclass(frozen=True, slots=True)
class Range:
    """``a==1..5``: between the two bounds, both included, whichever is the smaller."""

    low: Value
    high: Value


@dataclass(frozen=True, slots=True)
class Pattern:
    """A regular expression (compared by its source only)."""

    source: str
    regex: re.Pattern[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "regex", re.compile(self.source))


Operand = Value | ValueList | Range | Pattern
_Test = Callable[[Any], bool]


@dataclass(frozen=True, slots=True)
class Exists:
    """``attr`` (the attribute exists) or ``!attr`` (it does not)."""

    path: AttrPath
    negated: bool = False

    def matches(self, entity: Mapping[str, Any]) -> bool:
        return _exists(self.path, entity) != self.negated


@dataclass(frozen=True, slots=True)
class Compare:
    """``path op operand``. Holds a test function built once from op and operand."""

    path: AttrPath
    op: Op
    operand: Operand
    # test of one target value (arrays handled as the spec says for == and !=)
    _test: _Test = field(init=False, repr=False, compare=False)
    # how a set of alternative values (a languageMap) is judged: every one must pass for the
    # negative operators ("no value equals"), any one for the others
    _every: bool = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_test", _build_test(self.op, self.operand))
        object.__setattr__(self, "_every", self.op in (Op.NE, Op.NOT_MATCH))

    def matches(self, entity: Mapping[str, Any]) -> bool:
        path = self.path
        if path.system:
            moment = entity.get(path.name)
            return moment is not None and self._test(moment)
        # a multi-attribute matches when any instance does; plain loops rather than any():
        # this is the hot path and a generator per call costs more than the rest
        for node in _nodes(path, entity):  # noqa: SIM110
            if self._match_node(node):
                return True
        return False

    def _match_node(self, node: Any) -> bool:
        if type(node) is not dict:
            return False
        path = self.path
        if path.meta is not None:
            meta = node.get(path.meta)
            return meta is not None and self._test(meta)
        kind = _instance_kind(node)
        member = _MAIN_MEMBER.get(kind)
        if member is not None:  # Property-like: value, json, vocab, valueList
            if member not in node:
                return False
            target = _unwrap(node[member])
            if path.keys:
                target = _member(target, path.keys)
                if target is _MISSING:
                    return False
            return self._test(target)
        if kind == "Relationship" or kind == "ListRelationship":
            # the spec: any operator but == and != never matches a relationship
            if path.keys or (self.op is not Op.EQ and self.op is not Op.NE):
                return False
            target = _relationship_targets(node, kind)
            return target is not None and self._test(target)
        if kind == "LanguageProperty":
            values = _language_values(node, path.keys)
            if values is None:
                return False
            if self._every:
                return bool(values) and all(self._test(v) for v in values)
            return any(self._test(v) for v in values)
        return False  # GeoProperty (only existence can be asked) or unknown


@dataclass(frozen=True, slots=True)
class And:
    terms: tuple[QExpr, ...]

    def matches(self, entity: Mapping[str, Any]) -> bool:
        for term in self.terms:  # noqa: SIM110 (hot path, see Compare.matches)
            if not term.matches(entity):
                return False
        return True


@dataclass(frozen=True, slots=True)
class Or:
    terms: tuple[QExpr, ...]

    def matches(self, entity: Mapping[str, Any]) -> bool:
        for term in self.terms:  # noqa: SIM110 (hot path, see Compare.matches)
            if term.matches(entity):
                return True
        return False


QExpr = Exists | Compare | And | Or


# =============================================================================================
# Building the test function of a comparison


_ORDER: Final[dict[Op, Callable[[Any, Any], bool]]] = {
    Op.GT: operator.gt,
    Op.GE: operator.ge,
    Op.LT: operator.lt,
    Op.LE: operator.le,
}


def _equal_test(lit: Value) -> _Test:
    """Equality with one (non-array) target value. Different JSON types are never equal."""
    x = lit.value
    kind = lit.kind
    if kind is ValueKind.NUMBER:
        # `type(t) is int` keeps JSON booleans out (True == 1 in Python)
        return lambda t: (type(t) is int or type(t) is float) and t == x
    if kind is ValueKind.BOOLEAN:
        return lambda t: t is x
    tk = lit.temporal
    if tk is None:  # a plain string or URI: str == non-str is simply False
        return lambda t: t == x
    # a date, or a quoted string that reads as one: the same text or the same instant
    return lambda t: t == x or (type(t) is str and _temporal(t) == tk)


def _order_test(lit: Value, op: Op) -> _Test:
    cmp = _ORDER[op]
    x = lit.value
    if lit.kind is ValueKind.NUMBER:
        return lambda t: (type(t) is int or type(t) is float) and cmp(t, x)
    tk = lit.temporal
    if tk is None:  # lexicographic
        return lambda t: type(t) is str and cmp(t, x)
    kind, key = tk
    if lit.kind is ValueKind.STRING:
        # quoted: temporal order when the target is a date of the same kind, else text order

        def quoted(t: Any) -> bool:
            if type(t) is not str:
                return False
            tt = _temporal(t)
            return cmp(tt[1], key) if tt is not None and tt[0] is kind else cmp(t, x)

        return quoted

    def temporal(t: Any) -> bool:  # an unquoted date only orders dates of its own kind
        if type(t) is not str:
            return False
        tt = _temporal(t)
        return tt is not None and tt[0] is kind and cmp(tt[1], key)

    return temporal


def _range_test(low: Value, high: Value) -> _Test:
    if _sort_key(low, high) > _sort_key(high, low):
        low, high = high, low  # "between the minimum and the maximum of the range"
    above, below = _order_test(low, Op.GE), _order_test(high, Op.LE)
    return lambda t: above(t) and below(t)


def _sort_key(lit: Value, other: Value) -> Any:
    a, b = lit.temporal, other.temporal
    if a is not None and b is not None and a[0] is b[0]:
        return a[1]
    return lit.value


def _list_test(items: tuple[Value, ...]) -> _Test:
    # Most lists are all strings or all numbers: a set look-up then replaces a loop.
    if all(i.kind is ValueKind.NUMBER for i in items):
        numbers = frozenset(i.value for i in items)
        return lambda t: (type(t) is int or type(t) is float) and t in numbers
    if all(i.kind in (ValueKind.STRING, ValueKind.URI) and i.temporal is None for i in items):
        strings = frozenset(i.value for i in items)
        return lambda t: type(t) is str and t in strings
    tests = tuple(_equal_test(i) for i in items)
    return lambda t: any(test(t) for test in tests)


def _build_test(op: Op, operand: Operand) -> _Test:
    if op is Op.MATCH or op is Op.NOT_MATCH:
        if not isinstance(operand, Pattern):
            raise ValueError(f"{op.value} needs a regular expression")
        search = operand.regex.search
        # "if the target value data type is different than String ... not matching", for both
        if op is Op.MATCH:
            return lambda t: type(t) is str and search(t) is not None
        return lambda t: type(t) is str and search(t) is None
    if op is Op.EQ or op is Op.NE:
        if isinstance(operand, Pattern):
            raise ValueError(f"{op.value} does not take a regular expression")
        if isinstance(operand, ValueList):
            base = _list_test(operand.items)
        elif isinstance(operand, Range):
            base = _range_test(operand.low, operand.high)
        else:
            base = _equal_test(operand)

        def equal(t: Any) -> bool:
            # "the target value includes the query value, if the target value is an array"
            if type(t) is list:
                return any(base(e) for e in t)
            return base(t)

        if op is Op.EQ:
            return equal
        return lambda t: not equal(t)
    if not isinstance(operand, Value) or operand.kind not in _COMPARABLE_KINDS:
        raise ValueError(f"{op.value} needs a number, a string, a date or a time")
    return _order_test(operand, op)


# =============================================================================================
# Reaching the targets inside an entity

_MISSING: Final = object()
# The member holding the main value of each Property-like attribute type.
_MAIN_MEMBER: Final = {
    "Property": "value",
    "JsonProperty": "json",
    "VocabProperty": "vocab",
    "ListProperty": "valueList",
}


def _instance_kind(node: dict[str, Any]) -> Any:
    kind = node.get("type")
    if kind is None:  # tolerate typeless instances the way model.infer_type reads them
        if "object" in node:
            return "Relationship"
        if "languageMap" in node:
            return "LanguageProperty"
        return "Property"
    return kind


def _unwrap(value: Any) -> Any:
    # a JSON-LD value object ({"@type": "DateTime", "@value": "..."}) compares as its @value
    if type(value) is dict and "@value" in value:
        return value["@value"]
    return value


def _member(value: Any, keys: tuple[str, ...]) -> Any:
    """``value[k1][k2]...`` as an ECMAScript member expression; _MISSING when undefined."""
    for key in keys:
        if type(value) is dict:
            if key not in value:
                return _MISSING
            value = value[key]
        elif type(value) is list and key.isascii() and key.isdigit() and int(key) < len(value):
            value = value[int(key)]
        else:
            return _MISSING
    return _unwrap(value)


def _relationship_targets(node: dict[str, Any], kind: str) -> Any:
    if kind == "Relationship":
        return node.get("object")  # a URI, or a list of them (several objects)
    targets = node.get("objectList")
    if type(targets) is not list:
        return None
    return [t.get("object") if type(t) is dict else t for t in targets]


def _language_values(node: dict[str, Any], keys: tuple[str, ...]) -> list[Any] | None:
    """The strings a LanguageProperty offers: all of them, or those of ``[tag]`` / ``[*]``."""
    language_map = node.get("languageMap")
    if type(language_map) is not dict or len(keys) > 1:
        return None
    if not keys or keys[0] == "*":
        chosen: Iterable[Any] = language_map.values()
    elif keys[0] in language_map:
        chosen = (language_map[keys[0]],)
    else:
        return None
    values: list[Any] = []
    for v in chosen:  # a tag may hold several strings
        if type(v) is list:
            values.extend(v)
        else:
            values.append(v)
    return values


def _nodes(path: AttrPath, entity: Mapping[str, Any]) -> list[Any]:
    """The instances (or, with sub-attributes, the sub-attribute instances) a path reaches."""
    attrs = entity.get("attrs")
    if not attrs:
        return []
    nodes = attrs.get(path.name)
    if not nodes:
        return []
    if type(nodes) is not list:
        nodes = [nodes]
    for sub in path.subs:
        reached: list[Any] = []
        for node in nodes:
            if type(node) is dict:
                child = node.get(sub)
                if type(child) is dict:
                    reached.append(child)
                elif type(child) is list:
                    reached.extend(child)
        nodes = reached
    return nodes


def _exists(path: AttrPath, entity: Mapping[str, Any]) -> bool:
    if path.system:
        return entity.get(path.name) is not None
    nodes = _nodes(path, entity)
    if not path.keys and path.meta is None:
        return bool(nodes)
    for node in nodes:
        if type(node) is not dict:
            continue
        if path.meta is not None:
            if node.get(path.meta) is not None:
                return True
            continue
        kind = _instance_kind(node)
        member = _MAIN_MEMBER.get(kind)
        if member is not None:
            if member in node and _member(_unwrap(node[member]), path.keys) is not _MISSING:
                return True
        elif kind == "LanguageProperty" and _language_values(node, path.keys):
            return True
    return False


# =============================================================================================
# Public q API


def parse_q(text: str) -> QExpr:
    """Parse an NGSI-LD query (``q``); raise BadRequestData naming what is wrong and where."""
    if not isinstance(text, str):
        raise BadRequestData(f"Invalid q: the query must be a string, got {type(text).__name__}")
    return _Parser(text).parse()


def match_q(expr: QExpr, entity: Mapping[str, Any]) -> bool:
    """Whether an entity (internal representation, names already expanded) matches."""
    return expr.matches(entity)


def q_attr_names(expr: QExpr) -> set[str]:
    """The top-level attribute names the query refers to, as written."""
    if isinstance(expr, And | Or):
        names: set[str] = set()
        for term in expr.terms:
            names |= q_attr_names(term)
        return names
    return {expr.path.name}


def map_q_names(expr: QExpr, fn: Callable[[str], str]) -> QExpr:
    """A copy with every attribute and sub-attribute name passed through ``fn`` (typically
    JSON-LD expansion). Compound-value keys, metadata names and the bare entity timestamps
    (createdAt, modifiedAt) are core terms or JSON member names and stay as they are."""
    if isinstance(expr, And):
        return And(tuple(map_q_names(t, fn) for t in expr.terms))
    if isinstance(expr, Or):
        return Or(tuple(map_q_names(t, fn) for t in expr.terms))
    path = expr.path
    if not path.system:
        path = AttrPath(fn(path.name), tuple(fn(s) for s in path.subs), path.meta, path.keys)
    if isinstance(expr, Exists):
        return Exists(path, expr.negated)
    return Compare(path, expr.op, expr.operand)


def format_q(expr: QExpr) -> str:
    """The query text of an expression (parse_q(format_q(e)) == e for unexpanded names)."""
    if isinstance(expr, And):
        return ";".join(
            f"({format_q(t)})" if isinstance(t, Or) else format_q(t) for t in expr.terms
        )
    if isinstance(expr, Or):
        return "|".join(format_q(t) for t in expr.terms)
    path = _format_path(expr.path)
    if isinstance(expr, Exists):
        return "!" + path if expr.negated else path
    return path + expr.op.value + _format_operand(expr.operand)


def _format_path(path: AttrPath) -> str:
    text = ".".join((path.name, *path.subs))
    if path.meta is not None:
        text += "." + path.meta
    return text + "".join(f"[{k}]" for k in path.keys)


def _format_value(lit: Value) -> str:
    if lit.kind is ValueKind.STRING:
        return json.dumps(lit.value, ensure_ascii=False)
    if lit.kind is ValueKind.BOOLEAN:
        return "true" if lit.value else "false"
    if lit.kind is ValueKind.NUMBER and isinstance(lit.value, float):
        return repr(lit.value)  # shortest text that reads back as the same float
    return str(lit.value)


def _format_operand(operand: Operand) -> str:
    if isinstance(operand, ValueList):
        return ",".join(_format_value(i) for i in operand.items)
    if isinstance(operand, Range):
        return _format_value(operand.low) + ".." + _format_value(operand.high)
    if isinstance(operand, Pattern):
        source = operand.source
        quoted = f'"{source}"'
        if _scan_quoted_regex(quoted, 0) == len(quoted):
            return quoted
        if not source.startswith('"') and _scan_regex(source, 0) == len(source) == len(
            source.strip(_WS)
        ):
            return source
        raise ValueError(f"regular expression {source!r} cannot be written in a query")
    return _format_value(operand)


# =============================================================================================
# The parser

_WS: Final = " \t\r\n"
_MAX_DEPTH: Final = 32
_NAME_RE: Final = re.compile(r"[\w:\-]+")
_KEY_RE: Final = re.compile(r"[^\[\].\s]+")
_END: Final = r"(?=$|[\s;|),]|\.\.)"  # what may follow a value token
_VALUE_TOKENS: Final = (
    (re.compile(_DATETIME_SRC + _END), ValueKind.DATETIME),
    (re.compile(_DATE_SRC + _END), ValueKind.DATE),
    (re.compile(_TIME_SRC + _END), ValueKind.TIME),
    (re.compile(r"-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?" + _END), ValueKind.NUMBER),
)
_BARE_RE: Final = re.compile(r'[^\s;|(),"]+')
_QUOTED_RE: Final = re.compile(r'"(?:[^"\\]|\\.)*"', re.DOTALL)
_OPERATORS: Final = tuple(sorted(Op, key=lambda op: -len(op.value)))  # longest first
_STRING_DECODER: Final = json.JSONDecoder(strict=False)


def _scan_quoted_regex(text: str, start: int) -> int:
    """Index just past the closing quote of a quoted regex at ``start``, or -1."""
    i = start + 1
    while i < len(text):
        c = text[i]
        if c == "\\":
            i += 2
            continue
        if c == '"':
            return i + 1
        i += 1
    return -1


def _scan_regex(text: str, start: int) -> int:
    """End of an unquoted regex: the first ``;``, ``|`` or ``)`` outside groups and classes."""
    i, depth, in_class, n = start, 0, False, len(text)
    while i < n:
        c = text[i]
        if c == "\\":
            i += 2
            continue
        if in_class:
            if c == "]":
                in_class = False
        elif c == "[":
            in_class = True
            i += 1
            if i < n and text[i] == "^":
                i += 1
            if i < n and text[i] == "]":  # "[]" and "[^]" start with a literal "]"
                i += 1
            continue
        elif c == "(":
            depth += 1
        elif c == ")":
            if depth == 0:
                break
            depth -= 1
        elif c in ";|" and depth == 0:
            break
        i += 1
    return min(i, n)


def _show(text: str) -> str:
    return repr(text if len(text) <= 40 else text[:37] + "...")


class _Parser:
    """Recursive descent over the query text; ``pos`` is the offset of the next character."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0
        self.depth = 0

    def fail(self, message: str, at: int | None = None) -> BadRequestData:
        where = self.pos if at is None else at
        return BadRequestData(f"Invalid q at offset {where}: {message}")

    def found(self) -> str:
        if self.pos >= len(self.text):
            return "the end of the query"
        return _show(self.text[self.pos : self.pos + 10])

    def skip_ws(self) -> None:
        text, i = self.text, self.pos
        while i < len(text) and text[i] in _WS:
            i += 1
        self.pos = i

    def peek(self, s: str) -> bool:
        return self.text.startswith(s, self.pos)

    def parse(self) -> QExpr:
        self.skip_ws()
        if self.pos == len(self.text):
            raise self.fail("the query is empty")
        expr = self.parse_or()
        if self.pos < len(self.text):
            if self.peek(")"):
                raise self.fail("')' without a matching '('")
            raise self.fail(f"expected ';', '|' or the end of the query, found {self.found()}")
        return expr

    def parse_or(self) -> QExpr:
        terms = [self.parse_and()]
        while self.peek("|"):
            self.pos += 1
            terms.append(self.parse_and())
        return _join(Or, terms)

    def parse_and(self) -> QExpr:
        terms = [self.parse_atom()]
        while self.peek(";"):
            self.pos += 1
            terms.append(self.parse_atom())
        return _join(And, terms)

    def parse_atom(self) -> QExpr:
        """A parenthesised expression or a term; leaves ``pos`` after trailing whitespace."""
        self.skip_ws()
        if self.peek("("):
            start = self.pos
            self.depth += 1
            if self.depth > _MAX_DEPTH:
                raise self.fail(f"parentheses nested deeper than {_MAX_DEPTH} levels")
            self.pos += 1
            expr = self.parse_or()
            if not self.peek(")"):
                raise self.fail(
                    f"expected ')' to close the '(' at offset {start}, found {self.found()}"
                )
            self.pos += 1
            self.depth -= 1
        else:
            expr = self.parse_term()
        self.skip_ws()
        return expr

    def parse_term(self) -> QExpr:
        if self.peek("!") and not self.peek("!=") and not self.peek("!~="):
            self.pos += 1
            self.skip_ws()
            path = self.parse_path()
            self.skip_ws()
            if self.operator() is not None:
                raise self.fail("'!' only negates an existence test; compare with '!=' instead")
            self.expect_term_end(after_value=False)
            return Exists(path, negated=True)
        path = self.parse_path()
        self.skip_ws()
        op_at = self.pos
        op = self.operator()
        if op is None:
            self.expect_term_end(after_value=False)
            return Exists(path)
        self.pos += len(op.value)
        self.skip_ws()
        if op is Op.MATCH or op is Op.NOT_MATCH:
            operand: Operand = self.parse_pattern()
        elif op is Op.EQ or op is Op.NE:
            operand = self.parse_equality_operand()
        else:
            operand = self.parse_comparable(op, op_at)
        self.expect_term_end(after_value=True)
        return Compare(path, op, operand)

    def expect_term_end(self, after_value: bool) -> None:
        self.skip_ws()
        if self.pos >= len(self.text) or self.text[self.pos] in ";|)":
            return
        if after_value:
            raise self.fail(f"expected ';', '|' or ')' after the value, found {self.found()}")
        if self.peek("="):
            raise self.fail("'=' is not an operator; use '=='")
        if self.peek("{"):
            raise self.fail("linked-entity queries (attr{...}) are not supported")
        raise self.fail(f"expected an operator, ';', '|' or ')', found {self.found()}")

    def operator(self) -> Op | None:
        for op in _OPERATORS:
            if self.peek(op.value):
                return op
        return None

    def parse_path(self) -> AttrPath:
        start = self.pos
        name = self.parse_name("an attribute name")
        if name in META_NAMES - SYSTEM_NAMES:
            raise self.fail(
                f"{name!r} is instance metadata, it follows an attribute: attr.{name}", start
            )
        dotted: list[tuple[str, int]] = []
        while self.peek("."):
            self.pos += 1
            at = self.pos
            dotted.append((self.parse_name("a sub-attribute name after '.'"), at))
        keys: list[str] = []
        while self.peek("["):
            keys.extend(self.parse_keys())
        if name in SYSTEM_NAMES and (dotted or keys):
            raise self.fail(f"{name!r} is the entity's timestamp: it has no members", start)
        subs: list[str] = []
        meta = None
        for i, (segment, at) in enumerate(dotted):
            if segment in META_NAMES:
                if i != len(dotted) - 1:
                    raise self.fail(f"{segment!r} must be the last name of a path", at)
                if keys:
                    raise self.fail(f"{segment!r} has no members: no '[...]' after it", at)
                meta = segment
            else:
                subs.append(segment)
        return AttrPath(name, tuple(subs), meta, tuple(keys))

    def parse_name(self, what: str) -> str:
        m = _NAME_RE.match(self.text, self.pos)
        if m is None:
            raise self.fail(f"expected {what}, found {self.found()}")
        self.pos = m.end()
        return m.group()

    def parse_keys(self) -> list[str]:
        open_at = self.pos
        close_at = self.text.find("]", open_at)
        if close_at < 0:
            raise self.fail("'[' without a closing ']'", open_at)
        keys = []
        at = open_at + 1
        for key in self.text[open_at + 1 : close_at].split("."):
            if _KEY_RE.fullmatch(key) is None:
                raise self.fail(f"invalid member name {_show(key)} inside '[...]'", at)
            keys.append(key)
            at += len(key) + 1
        self.pos = close_at + 1
        return keys

    def parse_value(self) -> Value:
        start = self.pos
        text = self.text
        if start >= len(text) or text[start] in ";|)":
            raise self.fail("missing value after the operator")
        if text[start] == '"':
            m = _QUOTED_RE.match(text, start)
            if m is None:
                raise self.fail("string without a closing '\"'")
            try:
                decoded = _STRING_DECODER.decode(m.group())
            except json.JSONDecodeError as e:
                raise self.fail(f"invalid string: {e.msg}", start + e.pos) from None
            self.pos = m.end()
            return Value(ValueKind.STRING, decoded)
        for regex, kind in _VALUE_TOKENS:
            m = regex.match(text, start)
            if m is not None:
                self.pos = m.end()
                return self.typed_value(kind, m.group(), start)
        m = _BARE_RE.match(text, start)
        if m is None:
            raise self.fail(f"expected a value, found {self.found()}")
        token = m.group()
        if token in ("true", "false"):
            self.pos = m.end()
            return Value(ValueKind.BOOLEAN, token == "true")
        if not (token[0].isascii() and token[0].isalpha()):
            raise self.fail(f"invalid value {_show(token)}")
        self.pos = m.end()
        return Value(ValueKind.URI, token)

    def typed_value(self, kind: ValueKind, token: str, start: int) -> Value:
        if kind is ValueKind.NUMBER:
            try:
                number: int | float = int(token) if token.lstrip("-").isdigit() else float(token)
            except ValueError:  # more digits than Python converts
                raise self.fail(f"number {_show(token)} is too long", start) from None
            if isinstance(number, float) and not math.isfinite(number):
                raise self.fail(f"number {_show(token)} is out of range", start)
            return Value(kind, number)
        temporal = _temporal(token)
        if temporal is None or temporal[0] is not kind:
            raise self.fail(f"{_show(token)} is not a valid {kind.value}", start)
        return Value(kind, token)

    def parse_equality_operand(self) -> Value | ValueList | Range:
        first = self.parse_value()
        self.skip_ws()
        if self.peek(".."):
            dots = self.pos
            self.pos += 2
            self.skip_ws()
            high_at = self.pos
            high = self.parse_value()
            for bound, at in ((first, dots), (high, high_at)):
                if bound.kind not in _COMPARABLE_KINDS:
                    raise self.fail("range bounds must be numbers, strings, dates or times", at)
            if _range_family(first) != _range_family(high):
                raise self.fail("the two bounds of a range must be of the same type", dots)
            return Range(first, high)
        if not self.peek(","):
            return first
        items = [first]
        while self.peek(","):
            self.pos += 1
            self.skip_ws()
            items.append(self.parse_value())
            self.skip_ws()
            if self.peek(".."):
                raise self.fail("a value list cannot contain a range")
        return ValueList(tuple(items))

    def parse_comparable(self, op: Op, op_at: int) -> Value:
        start = self.pos
        value = self.parse_value()
        if value.kind is ValueKind.BOOLEAN:
            raise self.fail(
                f"booleans can only be compared with '==' or '!=', not {op.value!r}", start
            )
        if value.kind not in _COMPARABLE_KINDS:
            raise self.fail(
                f"{op.value!r} needs a number, a quoted string, a date or a time, found "
                f"{_show(str(value.value))} (quote strings)",
                start,
            )
        self.skip_ws()
        if self.peek("..") or self.peek(","):
            raise self.fail(
                f"ranges and value lists only go with '==' or '!=', not {op.value!r}", op_at
            )
        return value

    def parse_pattern(self) -> Pattern:
        start = self.pos
        if self.peek('"'):
            end = _scan_quoted_regex(self.text, start)
            if end < 0:
                raise self.fail("regular expression without a closing '\"'")
            source, source_at = self.text[start + 1 : end - 1], start + 1
        else:
            end = _scan_regex(self.text, start)
            source, source_at = self.text[start:end].rstrip(_WS), start
        if not source:
            raise self.fail("missing regular expression after the operator")
        try:
            pattern = Pattern(source)
        except re.error as e:
            raise self.fail(
                f"invalid regular expression: {e.msg}", source_at + (e.pos or 0)
            ) from None
        except (OverflowError, RecursionError, ValueError) as e:
            raise self.fail(f"invalid regular expression: {e}", source_at) from None
        self.pos = end
        return pattern


def _range_family(lit: Value) -> object:
    # quoted strings that read as dates may bound a date range
    if lit.kind is ValueKind.STRING and lit.temporal is not None:
        return lit.temporal[0]
    return lit.kind


def _join(kind: type[And] | type[Or], terms: list[QExpr]) -> QExpr:
    if len(terms) == 1:
        return terms[0]
    flat: list[QExpr] = []
    for term in terms:  # (a;b);c is a;b;c: one canonical tree per meaning
        flat.extend(term.terms if isinstance(term, kind) else (term,))
    return kind(tuple(flat))


# =============================================================================================
# Geo-queries

EARTH_RADIUS_M: Final = 6371008.8  # mean radius of the WGS84 ellipsoid (IUGG)
_M_PER_DEGREE: Final = EARTH_RADIUS_M * math.pi / 180
GEOMETRY_TYPES: Final = (
    "Point",
    "MultiPoint",
    "LineString",
    "MultiLineString",
    "Polygon",
    "MultiPolygon",
)
_GEOMETRY_NAMES: Final = {t.lower(): t for t in GEOMETRY_TYPES}
GEO_RELATIONS: Final = (
    "near",
    "within",
    "contains",
    "intersects",
    "disjoint",
    "equals",
    "overlaps",
)
_NEAR_RE: Final = re.compile(r"near\s*;\s*(maxDistance|minDistance)\s*(?:==|:)\s*([^\s;]*)")
_POSITIVE_RE: Final = re.compile(r"\d+(?:\.\d+)?(?:[eE][+-]?\d+)?")
_MAX_COLLECTION_DEPTH: Final = 4
# an attribute name, short or expanded: not empty, none of the characters NGSI-LD forbids
_BAD_GEOPROPERTY: Final = re.compile(r"^$|[<>\"'=;()\s]")


@dataclass(frozen=True, slots=True)
class GeoQuery:
    """A parsed geo-query. ``shape`` is the query geometry, prepared once for fast predicates."""

    relation: str  # one of GEO_RELATIONS
    geometry: str  # one of GEOMETRY_TYPES
    coordinates: Any  # as given, lists turned into tuples (hashable)
    geoproperty: str = "location"
    max_distance: float | None = None  # metres, near only
    min_distance: float | None = None
    shape: Any = field(default=None, repr=False, compare=False)
    bounds: tuple[float, float, float, float] = field(
        default=(0.0, 0.0, 0.0, 0.0), repr=False, compare=False
    )

    @property
    def georel(self) -> str:
        """The georel text, e.g. ``near;maxDistance==2000``."""
        for name, distance in (
            ("maxDistance", self.max_distance),
            ("minDistance", self.min_distance),
        ):
            if distance is not None:
                shown = int(distance) if distance.is_integer() else distance
                return f"near;{name}=={shown}"
        return self.relation


def haversine_m(lon1: float, lat1: float, lon2: float, lat2: float) -> float:
    """Great-circle distance in metres on the mean-radius sphere."""
    phi1, phi2 = math.radians(lat1), math.radians(lat2)
    a = (
        math.sin((phi2 - phi1) / 2) ** 2
        + math.cos(phi1) * math.cos(phi2) * math.sin(math.radians(lon2 - lon1) / 2) ** 2
    )
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(a)))


def parse_geoquery(
    georel: str, geometry: str, coordinates: str | list[Any], geoproperty: str | None = None
) -> GeoQuery:
    """Parse and validate the georel / geometry / coordinates / geoproperty of a geo-query.

    ``coordinates`` is the (URL-decoded) JSON text, or the already-parsed JSON array of a
    subscription's geoQ.
    """
    relation, max_distance, min_distance = _parse_georel(georel)
    if not isinstance(geometry, str) or geometry.strip().lower() not in _GEOMETRY_NAMES:
        shown = _show(geometry) if isinstance(geometry, str) else type(geometry).__name__
        raise BadRequestData(
            f"Invalid geo-query: geometry {shown} is not one of {', '.join(GEOMETRY_TYPES)}"
        )
    # case-insensitive: NGSIv2 clients write "point"
    gtype = _GEOMETRY_NAMES[geometry.strip().lower()]
    if relation == "near" and gtype != "Point":
        raise BadRequestData(f"Invalid geo-query: georel 'near' needs geometry Point, not {gtype}")
    if geoproperty is None:
        geoproperty = "location"
    elif not isinstance(geoproperty, str) or _BAD_GEOPROPERTY.search(geoproperty) is not None:
        shown = _show(geoproperty) if isinstance(geoproperty, str) else type(geoproperty).__name__
        raise BadRequestData(f"Invalid geo-query: geoproperty {shown} is not an attribute name")
    coords = _parse_coordinates(coordinates)
    shape = _validated_shape(gtype, coords, f"Invalid geo-query {gtype} coordinates")
    shapely.prepare(shape)
    minx, miny, maxx, maxy = shape.bounds
    return GeoQuery(
        relation=relation,
        geometry=gtype,
        coordinates=_freeze(coords),
        geoproperty=geoproperty,
        max_distance=max_distance,
        min_distance=min_distance,
        shape=shape,
        bounds=(float(minx), float(miny), float(maxx), float(maxy)),
    )


def _parse_georel(georel: Any) -> tuple[str, float | None, float | None]:
    if not isinstance(georel, str):
        raise BadRequestData(
            f"Invalid geo-query: georel must be a string, not {type(georel).__name__}"
        )
    text = georel.strip()
    if text in GEO_RELATIONS and text != "near":
        return text, None, None
    if text.startswith("near"):
        m = _NEAR_RE.fullmatch(text)
        if m is None:
            raise BadRequestData(
                f"Invalid geo-query: georel {_show(georel)} must be near;maxDistance==<metres> "
                "or near;minDistance==<metres> (exactly one distance)"
            )
        name, number = m.groups()
        distance = float(number) if _POSITIVE_RE.fullmatch(number) else math.nan
        if not (math.isfinite(distance) and distance > 0):
            raise BadRequestData(
                f"Invalid geo-query: {name} must be a positive number of metres, "
                f"got {_show(number)}"
            )
        if name == "maxDistance":
            return "near", distance, None
        return "near", None, distance
    raise BadRequestData(
        f"Invalid geo-query: georel {_show(georel)} is not one of near;maxDistance==<metres>, "
        "near;minDistance==<metres>, within, contains, intersects, disjoint, equals, overlaps"
    )


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a number")


def _parse_coordinates(coordinates: Any) -> Any:
    if isinstance(coordinates, list | tuple):
        return coordinates
    if not isinstance(coordinates, str):
        raise BadRequestData(
            f"Invalid geo-query: coordinates must be a JSON array, not {type(coordinates).__name__}"
        )
    try:
        return json.loads(coordinates, parse_constant=_reject_constant)
    except json.JSONDecodeError as e:
        raise BadRequestData(
            f"Invalid geo-query: coordinates are not valid JSON: {e.msg} at offset {e.pos}"
        ) from None
    except (ValueError, RecursionError) as e:  # NaN, Infinity, absurd nesting or digits
        raise BadRequestData(f"Invalid geo-query: coordinates are not valid JSON: {e}") from None


def _freeze(value: Any) -> Any:
    if isinstance(value, list | tuple):
        return tuple(_freeze(v) for v in value)
    return value


# --- validation -------------------------------------------------------------------------------


def _fail_geo(prefix: str, where: str, message: str) -> BadRequestData:
    return BadRequestData(f"{prefix}: {where}: {message}")


def _number_text(v: Any) -> str:
    if isinstance(v, int) and abs(v) > 10**15:
        return "a huge number"
    return repr(v)


def _check_position(p: Any, where: str, prefix: str) -> tuple[float, float]:
    if not isinstance(p, list | tuple) or not 2 <= len(p) <= 3:
        raise _fail_geo(prefix, where, "a position is an array of 2 or 3 numbers [lon, lat(, alt)]")
    for v in p:
        if type(v) is not int and type(v) is not float:
            raise _fail_geo(prefix, where, f"coordinates must be numbers, got {_show(repr(v))}")
        if type(v) is float and not math.isfinite(v):
            raise _fail_geo(prefix, where, "coordinates must be finite numbers")
    lon, lat = p[0], p[1]
    if not -180 <= lon <= 180:
        raise _fail_geo(prefix, where, f"longitude {_number_text(lon)} is outside [-180, 180]")
    if not -90 <= lat <= 90:
        raise _fail_geo(prefix, where, f"latitude {_number_text(lat)} is outside [-90, 90]")
    return float(lon), float(lat)


_JSON_TYPES: Final = {
    int: "a number",
    float: "a number",
    str: "a string",
    bool: "a boolean",
    type(None): "null",
}


def _check_array(value: Any, where: str, prefix: str, what: str, minimum: int) -> list[Any]:
    """An array of arrays (positions, rings, lines or polygons) with ``minimum`` items."""
    if not isinstance(value, list | tuple):
        raise _fail_geo(prefix, where, f"expected an array of {what}")
    for item in value:
        if not isinstance(item, list | tuple):
            # the usual mistake: one level of brackets too few, a Polygon written [[x,y],...]
            found = _JSON_TYPES.get(type(item), "an object")
            raise _fail_geo(prefix, where, f"expected an array of {what}, found {found}")
    if len(value) < minimum:
        raise _fail_geo(prefix, where, f"needs at least {minimum} {what}, got {len(value)}")
    return list(value)


def _check_line(value: Any, where: str, prefix: str) -> list[tuple[float, float]]:
    line = _check_array(value, where, prefix, "positions", 2)
    return [_check_position(p, f"{where}[{i}]", prefix) for i, p in enumerate(line)]


def _check_polygon(value: Any, where: str, prefix: str) -> list[list[tuple[float, float]]]:
    rings = _check_array(value, where, prefix, "linear rings", 1)
    checked = []
    for i, ring in enumerate(rings):
        at = f"{where}[{i}]"
        positions = _check_array(ring, at, prefix, "positions (a linear ring)", 4)
        points = [_check_position(p, f"{at}[{j}]", prefix) for j, p in enumerate(positions)]
        if list(positions[0]) != list(positions[-1]):
            raise _fail_geo(
                prefix, at, "the linear ring is not closed (first and last positions differ)"
            )
        checked.append(points)
    return checked


def _shape_of(gtype: str, coords: Any, prefix: str, where: str) -> Any:
    """Check the coordinate structure of one geometry and build its (2D) shapely shape."""
    if gtype == "Point":
        return shapely.Point(_check_position(coords, where, prefix))
    if gtype == "MultiPoint":
        points = _check_array(coords, where, prefix, "positions", 1)
        return shapely.MultiPoint(
            [_check_position(p, f"{where}[{i}]", prefix) for i, p in enumerate(points)]
        )
    if gtype == "LineString":
        return shapely.LineString(_check_line(coords, where, prefix))
    if gtype == "MultiLineString":
        lines = _check_array(coords, where, prefix, "line strings", 1)
        return shapely.MultiLineString(
            [_check_line(line, f"{where}[{i}]", prefix) for i, line in enumerate(lines)]
        )
    if gtype == "Polygon":
        rings = _check_polygon(coords, where, prefix)
        return shapely.Polygon(rings[0], rings[1:])
    polygons = _check_array(coords, where, prefix, "polygons", 1)
    shapes = []
    for i, polygon in enumerate(polygons):
        rings = _check_polygon(polygon, f"{where}[{i}]", prefix)
        shapes.append(shapely.Polygon(rings[0], rings[1:]))
    return shapely.MultiPolygon(shapes)


def _validated_shape(gtype: str, coords: Any, prefix: str, where: str = "coordinates") -> Any:
    shape = _shape_of(gtype, coords, prefix, where)
    # Holes outside their shell, nested shells, zero-length lines: GEOS predicates give wrong
    # answers (or raise) on them, so they are refused. A self-intersecting ring is not against
    # RFC 7946 (which asks only for closed rings of four or more positions) and real data has
    # them (a shell that crosses itself by a few centimetres): it is accepted, and predicates
    # see the shape repaired by GEOS make_valid (the area it encloses, split where it crosses).
    if not shapely.is_valid(shape):
        reason = shapely.is_valid_reason(shape)
        if gtype in ("Polygon", "MultiPolygon") and _SELF_INTERSECTION.match(reason):
            return shapely.make_valid(shape)
        raise _fail_geo(prefix, where, f"invalid {gtype}: {reason}")
    return shape


_SELF_INTERSECTION = re.compile(r"(Ring )?Self-intersection")


def _geometry_shape(geometry: Any, prefix: str, depth: int = 0) -> Any:
    if not isinstance(geometry, dict):
        raise BadRequestData(f"{prefix}: a GeoJSON geometry is a JSON object")
    gtype = geometry.get("type")
    if gtype == "GeometryCollection":
        if depth >= _MAX_COLLECTION_DEPTH:
            raise BadRequestData(f"{prefix}: GeometryCollections nested too deeply")
        members = geometry.get("geometries")
        if not isinstance(members, list) or not members:
            raise BadRequestData(
                f"{prefix}: a GeometryCollection needs a non-empty 'geometries' array"
            )
        return shapely.GeometryCollection([_geometry_shape(g, prefix, depth + 1) for g in members])
    if gtype not in GEOMETRY_TYPES:
        shown = _show(gtype) if isinstance(gtype, str) else repr(type(gtype).__name__)
        raise BadRequestData(
            f"{prefix}: type {shown} is not one of {', '.join(GEOMETRY_TYPES)}, GeometryCollection"
        )
    if "coordinates" not in geometry:
        raise BadRequestData(f"{prefix}: a {gtype} needs 'coordinates'")
    return _validated_shape(gtype, geometry["coordinates"], prefix)


def validate_geojson_geometry(geometry: Any) -> None:
    """Raise BadRequestData, saying what and where, unless ``geometry`` is a valid GeoJSON
    geometry with WGS84 longitude/latitude positions."""
    _geometry_shape(geometry, "Invalid GeoJSON geometry")


def geometry_bbox(geometry: dict[str, Any]) -> tuple[float, float, float, float]:
    """(min lon, min lat, max lon, max lat) of a GeoJSON geometry; BadRequestData if invalid."""
    shape = _geometry_shape(geometry, "Invalid GeoJSON geometry")
    minx, miny, maxx, maxy = shape.bounds
    return float(minx), float(miny), float(maxx), float(maxy)


# --- evaluation ---------------------------------------------------------------------------------


def _float(v: Any) -> float:
    if (type(v) is float and math.isfinite(v)) or type(v) is int:
        return float(v)
    raise TypeError("not a finite number")


def _lon_lat(position: Any) -> tuple[float, float]:
    x, y = _float(position[0]), _float(position[1])
    if -180.0 <= x <= 180.0 and -90.0 <= y <= 90.0:
        return x, y
    raise ValueError("not a WGS84 position")


def _stored_shape(geometry: Mapping[str, Any]) -> Any:
    """A stored (non-point) geometry as a shapely shape; ValueError unless it is one that
    validate_geojson_geometry would let in: predicates on invalid shapes are meaningless
    (a self-intersecting polygon has no well-defined inside)."""
    shape = _raw_shape(geometry)
    minx, miny, maxx, maxy = shape.bounds
    if not (-180.0 <= minx <= maxx <= 180.0 and -90.0 <= miny <= maxy <= 90.0):
        raise ValueError("not WGS84 positions")
    if not shapely.is_valid(shape):
        reason = shapely.is_valid_reason(shape)
        if shape.geom_type in ("Polygon", "MultiPolygon") and _SELF_INTERSECTION.match(reason):
            return shapely.make_valid(shape)  # as _validated_shape let it in
        raise ValueError("invalid geometry")
    return shape


def _raw_shape(geometry: Mapping[str, Any]) -> Any:
    """A stored geometry as a shapely shape, without validation (errors are caught above)."""
    gtype = geometry["type"]
    if gtype == "GeometryCollection":
        return shapely.GeometryCollection([_raw_shape(g) for g in geometry["geometries"]])
    coords: Any = geometry["coordinates"]
    if gtype == "Point":
        return shapely.Point(_float(coords[0]), _float(coords[1]))
    if gtype == "MultiPoint":
        return shapely.MultiPoint([(_float(p[0]), _float(p[1])) for p in coords])
    if gtype == "LineString":
        return shapely.LineString([(_float(p[0]), _float(p[1])) for p in coords])
    if gtype == "MultiLineString":
        return shapely.MultiLineString(
            [[(_float(p[0]), _float(p[1])) for p in ln] for ln in coords]
        )
    if gtype == "Polygon":
        return _raw_polygon(coords)
    if gtype == "MultiPolygon":
        return shapely.MultiPolygon([_raw_polygon(p) for p in coords])
    raise ValueError("unknown geometry type")


def _raw_polygon(rings: Any) -> Any:
    flat = [[(_float(p[0]), _float(p[1])) for p in ring] for ring in rings]
    return shapely.Polygon(flat[0], flat[1:])


def match_geo(gq: GeoQuery, geometry: Mapping[str, Any]) -> bool:
    """Whether a stored GeoJSON geometry (a GeoProperty's value) satisfies the geo-query.

    Never raises: a stored geometry that cannot be read simply does not match.
    """
    try:
        return _match_geo(gq, geometry)
    except Exception:  # whatever is stored, it must not break a query
        return False


def _match_geo(gq: GeoQuery, geometry: Mapping[str, Any]) -> bool:
    if type(geometry) is not dict:
        return False
    gtype = geometry.get("type")
    relation = gq.relation
    if relation == "near":
        distance = _near_distance(gq, geometry)
        if gq.max_distance is not None and not distance <= gq.max_distance:
            return False
        return gq.min_distance is None or distance >= gq.min_distance
    if gtype == "Point" and relation in ("within", "intersects", "disjoint"):
        # the common case without building a shapely object per entity
        x, y = _lon_lat(geometry["coordinates"])
        if relation == "within":  # inside the query geometry, not on its boundary (DE-9IM)
            return bool(shapely.contains_xy(gq.shape, x, y))
        hit = bool(shapely.intersects_xy(gq.shape, x, y))
        return hit if relation == "intersects" else not hit
    stored = _stored_shape(geometry)
    query = gq.shape
    # The query shape is the prepared one, so it goes first: "E within Q" is "Q contains E".
    if relation == "within":
        return bool(shapely.contains(query, stored))
    if relation == "contains":
        return bool(shapely.within(query, stored))
    if relation == "intersects":
        return bool(shapely.intersects(query, stored))
    if relation == "disjoint":
        return bool(shapely.disjoint(query, stored))
    if relation == "overlaps":
        return bool(shapely.overlaps(query, stored))
    return bool(shapely.equals(query, stored))


def _near_distance(gq: GeoQuery, geometry: Mapping[str, Any]) -> float:
    """Metres between the query point and a stored geometry."""
    lon0, lat0 = gq.coordinates[0], gq.coordinates[1]
    gtype = geometry["type"]
    if gtype == "Point":
        return haversine_m(lon0, lat0, *_lon_lat(geometry["coordinates"]))
    if gtype == "MultiPoint":
        return min(haversine_m(lon0, lat0, *_lon_lat(p)) for p in geometry["coordinates"])
    # Lines and areas: distance in a local equirectangular frame in metres centred on the
    # query point, x = R·cos(lat0)·Δlon, y = R·Δlat. Its east-west scale is right at lat0
    # and off by about tan(lat0)·Δlat (radians) elsewhere: at Brașov (45.6°N) 0.2% at 10 km
    # and 1.6% at 100 km from the point, plus < 0.5% for using a sphere, not the ellipsoid.
    # Fine at city scale; the frame also keeps the straight lon/lat edges GeoJSON draws.
    kx = _M_PER_DEGREE * math.cos(math.radians(lat0))

    def to_metres(xy: Any) -> Any:
        out = xy - (lon0, lat0)
        out[:, 0] = (out[:, 0] + 180.0) % 360.0 - 180.0  # the short way round the antimeridian
        out[:, 0] *= kx
        out[:, 1] *= _M_PER_DEGREE
        return out

    local = shapely.transform(_stored_shape(geometry), to_metres)
    with numpy.errstate(invalid="ignore", divide="ignore"):
        distance = float(shapely.distance(_ORIGIN, local))
    if math.isnan(distance):  # GEOS gives NaN for segments shorter than float resolution
        distance = min(math.hypot(x, y) for x, y in shapely.get_coordinates(local))
    return distance


_ORIGIN: Final = shapely.Point(0.0, 0.0)


def geo_bbox(gq: GeoQuery) -> tuple[float, float, float, float] | None:
    """A lon/lat box every geometry that matches must intersect (an index prefilter), or
    None when no box bounds the matches (disjoint, near;minDistance)."""
    if gq.relation == "disjoint" or (gq.relation == "near" and gq.max_distance is None):
        return None
    if gq.relation != "near":
        return gq.bounds  # within, contains, intersects, overlaps, equals: all touch the query
    assert gq.max_distance is not None
    lon0, lat0 = float(gq.coordinates[0]), float(gq.coordinates[1])
    # Angular radius r of the circle; with a relative and an absolute safety margin.
    r = gq.max_distance / EARTH_RADIUS_M * (1 + 1e-6) + 1e-12
    dlat = math.degrees(r) + 1e-9
    south, north = max(-90.0, lat0 - dlat), min(90.0, lat0 + dlat)
    cos0 = math.cos(math.radians(lat0))
    reach = math.sin(r) / cos0 if cos0 > 1e-12 else math.inf
    if north >= 90.0 or south <= -90.0 or reach >= 1.0:
        return -180.0, south, 180.0, north  # the circle holds a pole: every longitude
    # The widest point of a spherical circle lies poleward of its centre, at
    # Δlon = asin(sin r / cos lat0) (> r / cos lat0); the local metre frame used for lines
    # reaches r / cos lat0. Take the larger.
    dlon = max(math.degrees(math.asin(reach)), math.degrees(r) / cos0) * (1 + 1e-9) + 1e-9
    if lon0 - dlon < -180.0 or lon0 + dlon > 180.0:
        return -180.0, south, 180.0, north  # crosses the antimeridian: one box cannot wrap
    return lon0 - dlon, south, lon0 + dlon, north
