"""Declarative mappings from device messages to NGSI-LD entity fragments.

A mapping file (YAML) lists rules; the first rule whose topic pattern matches a message's topic
turns its payload into one entity fragment (normalized NGSI-LD, core-context terms). Three
payload kinds:

- ``ngsi-ld``: the payload already is an entity fragment (``id`` and ``type`` may come from the
  rule's templates instead).
- ``keyValues``: ``{"attr": value, ...}``; GeoJSON values become GeoProperties.
- ``device``: the vendor's own JSON; each attribute is read from a path, converted to a type,
  scaled, looked up in a value map, and given a unit code.

docs/ingest.md has the format with worked examples. A payload that cannot be mapped raises
``MappingError`` with the reason, which the caller stores as a dead letter.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import orjson
import yaml

from cetate.errors import BadRequestData
from cetate.hub.model import format_time, parse_time

PayloadKind = Literal["ngsi-ld", "keyValues", "device"]
ValueType = Literal["number", "integer", "string", "boolean", "any"]
# iso, epoch_s, epoch_ms, or a strptime pattern ("%d/%m/%Y %H:%M:%S") read in the rule's timezone
TimeFormat = str

GEOJSON_TYPES = frozenset(
    {"Point", "LineString", "Polygon", "MultiPoint", "MultiLineString", "MultiPolygon"}
)
RESERVED = frozenset({"id", "type", "@context"})


class MappingError(Exception):
    """Why a message cannot become an entity (stored with the dead letter)."""


@dataclass(frozen=True)
class Attribute:
    name: str
    path: tuple[str | int, ...] | None = None
    value_type: ValueType = "any"
    scale: float | None = None
    offset: float | None = None
    values: Mapping[str, Any] | None = None  # lookup of raw values ("1" -> "on")
    unit: str | None = None
    optional: bool = False
    missing: frozenset[str] = frozenset()  # raw values that mean "no reading" (e.g. -200)
    relationship: str | None = None  # template of the object's id: a Relationship
    point: tuple[tuple[str | int, ...], tuple[str | int, ...]] | None = None  # lon, lat paths


@dataclass(frozen=True)
class Rule:
    name: str
    topic: str  # the pattern as written: city/parking/{lot}/state
    filter: str  # the MQTT filter it subscribes to: city/parking/+/state
    regex: re.Pattern[str]
    payload: PayloadKind
    id_template: str | None
    entity_type: str | None
    timestamp: tuple[tuple[str | int, ...], ...] = ()  # paths whose values, joined by spaces
    time_format: TimeFormat = "iso"
    timezone: ZoneInfo = field(default_factory=lambda: ZoneInfo("UTC"))
    attributes: tuple[Attribute, ...] = field(default_factory=tuple)

    def match(self, topic: str) -> dict[str, str] | None:
        found = self.regex.fullmatch(topic)
        return found.groupdict() if found else None


@dataclass(frozen=True)
class MappingSet:
    rules: tuple[Rule, ...]
    max_payload_bytes: int = 256 * 1024
    # What to subscribe to; by default the rules' own filters. A wider filter (``city/#``)
    # catches devices no rule knows, which then become dead letters instead of going unseen.
    subscribe: tuple[str, ...] = ()

    @property
    def filters(self) -> list[str]:
        if self.subscribe:
            return list(self.subscribe)
        return list(dict.fromkeys(rule.filter for rule in self.rules))

    def fragment(self, topic: str, payload: bytes, received: datetime) -> dict[str, Any]:
        """The entity fragment a message maps to; ``MappingError`` says why not."""
        if len(payload) > self.max_payload_bytes:
            raise MappingError(
                f"payload of {len(payload):,} bytes is over the {self.max_payload_bytes:,} limit"
            )
        for rule in self.rules:
            captured = rule.match(topic)
            if captured is not None:
                return apply(rule, captured, payload, received)
        raise MappingError(f"unknown device: no mapping rule matches topic {topic!r}")


# -- applying a rule ---------------------------------------------------------------------------


def apply(
    rule: Rule, captured: dict[str, str], payload: bytes, received: datetime
) -> dict[str, Any]:
    try:
        data = orjson.loads(payload)
    except orjson.JSONDecodeError as error:
        raise MappingError(f"not JSON: {error}") from None
    if not isinstance(data, dict):
        raise MappingError(f"the payload must be a JSON object, not {type(data).__name__}")
    observed = _observed_at(rule, data, received)
    fragment: dict[str, Any] = {
        "id": _template(rule.id_template, captured, data, "id") if rule.id_template else None,
        "type": rule.entity_type,
    }
    if rule.payload == "ngsi-ld":
        body = {k: v for k, v in data.items() if k != "@context"}
        fragment.update({k: v for k, v in body.items() if k not in ("id", "type") or v})
        _stamp(fragment, observed, only_missing=True)
    elif rule.payload == "keyValues":
        for name, value in data.items():
            if name in RESERVED:
                if name != "@context" and fragment.get(name) is None:
                    fragment[name] = value
                continue
            fragment[name] = _attribute(value, observed)
    else:
        for attribute in rule.attributes:
            value = _device_value(attribute, data, captured)
            if value is not _MISSING:
                fragment[attribute.name] = value
        _stamp(fragment, observed, only_missing=False)
    if not fragment.get("id") or not isinstance(fragment["id"], str):
        raise MappingError("no entity id: give id in the payload or an id template")
    if not fragment.get("type"):
        raise MappingError("no entity type: give type in the payload or in the rule")
    if len(fragment) <= 2:
        raise MappingError("no attribute to write")
    return fragment


_MISSING = object()


def _device_value(attribute: Attribute, data: Mapping[str, Any], captured: dict[str, str]) -> Any:
    if attribute.relationship is not None:
        target = _template(attribute.relationship, captured, data, attribute.name)
        return {"type": "Relationship", "object": target}
    if attribute.point is not None:
        lon = _number(_at(data, attribute.point[0], attribute.name), attribute.name)
        lat = _number(_at(data, attribute.point[1], attribute.name), attribute.name)
        if not (-180 <= lon <= 180 and -90 <= lat <= 90):
            raise MappingError(f"{attribute.name}: ({lon}, {lat}) is not a longitude, latitude")
        return {"type": "GeoProperty", "value": {"type": "Point", "coordinates": [lon, lat]}}
    assert attribute.path is not None
    try:
        raw = _at(data, attribute.path, attribute.name)
    except MappingError:
        if attribute.optional:
            return _MISSING
        raise
    if attribute.missing and _raw_key(raw) in attribute.missing:
        return _MISSING
    value = convert(attribute, raw)
    result: dict[str, Any] = {"type": "Property", "value": value}
    if attribute.unit:
        result["unitCode"] = attribute.unit
    return result


def convert(attribute: Attribute, raw: Any) -> Any:
    """Lookup, type, scale and offset, in that order."""
    value = raw
    if attribute.values is not None:
        key = _raw_key(raw)
        if key not in attribute.values:
            known = ", ".join(map(str, attribute.values))
            raise MappingError(f"{attribute.name}: {raw!r} is not one of {known}")
        value = attribute.values[key]
    kind = attribute.value_type
    if kind in ("number", "integer") or attribute.scale is not None or attribute.offset is not None:
        number = _number(value, attribute.name)
        number = number * (attribute.scale if attribute.scale is not None else 1.0)
        number = number + (attribute.offset or 0.0)
        if kind == "integer":
            if not -(2**63) <= number < 2**63:
                raise MappingError(f"{attribute.name}: {number:g} is out of the integer range")
            return round(number)
        return number
    if kind == "string":
        if isinstance(value, dict | list):
            raise MappingError(f"{attribute.name}: expected text, got {type(value).__name__}")
        return str(value)
    if kind == "boolean":
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in ("true", "1", "on", "yes"):
            return True
        if text in ("false", "0", "off", "no"):
            return False
        raise MappingError(f"{attribute.name}: {value!r} is not a boolean")
    return value


def _raw_key(raw: Any) -> str:
    """How a raw value is matched against ``values`` and ``missing``: -200, -200.0 and "-200"
    are the same reading."""
    if isinstance(raw, bool):
        return str(raw).lower()
    if isinstance(raw, int | float) and float(raw).is_integer():
        return str(int(raw))
    if isinstance(raw, str):
        try:
            number = float(raw)
        except ValueError:
            return raw.strip()
        if number.is_integer():
            return str(int(number))
    return str(raw)


def _number(value: Any, name: str) -> float:
    if isinstance(value, bool):
        raise MappingError(f"{name}: expected a number, got a boolean")
    if isinstance(value, int | float):
        number = float(value)
    elif isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            raise MappingError(f"{name}: expected a number, got {value!r}") from None
    else:
        raise MappingError(f"{name}: expected a number, got {type(value).__name__}")
    if not math.isfinite(number):
        raise MappingError(f"{name}: {value!r} is not a finite number")
    return number


def _attribute(value: Any, observed: str | None) -> dict[str, Any]:
    kind = value.get("type") if isinstance(value, dict) else None
    if isinstance(kind, str) and kind in GEOJSON_TYPES:
        return {"type": "GeoProperty", "value": value}
    result: dict[str, Any] = {"type": "Property", "value": value}
    if observed is not None:
        result["observedAt"] = observed
    return result


def _stamp(fragment: dict[str, Any], observed: str | None, only_missing: bool) -> None:
    if observed is None:
        return
    for name, attribute in fragment.items():
        if name in RESERVED or not isinstance(attribute, dict):
            continue
        if attribute.get("type") == "Property" and not (only_missing and "observedAt" in attribute):
            attribute["observedAt"] = observed


def _observed_at(rule: Rule, data: Mapping[str, Any], received: datetime) -> str | None:
    if not rule.timestamp:
        return format_time(received) if rule.payload != "ngsi-ld" else None
    parts = [_at(data, path, "timestamp") for path in rule.timestamp]
    raw = parts[0] if len(parts) == 1 else " ".join(str(p) for p in parts)
    try:
        if rule.time_format == "iso":
            moment = parse_time(raw, "timestamp")
            if datetime.fromisoformat(raw.replace("z", "Z")).tzinfo is None:
                moment = moment.replace(tzinfo=rule.timezone)  # no zone given: the rule's
            return format_time(moment)
        if rule.time_format in ("epoch_s", "epoch_ms"):
            seconds = _number(raw, "timestamp") / (1000.0 if rule.time_format == "epoch_ms" else 1)
            return format_time(datetime.fromtimestamp(seconds, UTC))
        moment = datetime.strptime(str(raw), rule.time_format)
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=rule.timezone)
        return format_time(moment.astimezone(UTC))
    except (BadRequestData, OverflowError, OSError, ValueError) as error:
        raise MappingError(f"timestamp: {raw!r} is not a valid time ({error})") from None


def _at(data: Any, path: tuple[str | int, ...], name: str) -> Any:
    current = data
    for step in path:
        try:
            current = current[step]
        except (KeyError, IndexError, TypeError):
            raise MappingError(f"{name}: no value at {render_path(path)}") from None
    return current


_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_.]*)\}")


def _template(template: str, captured: dict[str, str], data: Mapping[str, Any], name: str) -> str:
    def value(match: re.Match[str]) -> str:
        key = match.group(1)
        if key in captured:
            return captured[key]
        found = _at(data, parse_path(key), name)
        if isinstance(found, dict | list) or found is None or found == "":
            raise MappingError(f"{name}: {key} has no usable value for the id")
        return str(found)

    return _PLACEHOLDER.sub(value, template)


# -- reading a mapping file --------------------------------------------------------------------


_PATH_STEP = re.compile(r"\.?([^.\[\]]+)|\[(\d+)\]")


def parse_path(text: str) -> tuple[str | int, ...]:
    """``$.a.b[0].c`` (or ``a.b[0].c``) -> ("a", "b", 0, "c")."""
    body = text[1:] if text.startswith("$") else text
    steps: list[str | int] = []
    position = 0
    while position < len(body):
        match = _PATH_STEP.match(body, position)
        if match is None:
            raise BadRequestData(f"bad path {text!r} at character {position + 1}")
        steps.append(match.group(1) if match.group(1) is not None else int(match.group(2)))
        position = match.end()
    if not steps:
        raise BadRequestData(f"empty path {text!r}")
    return tuple(steps)


def render_path(path: tuple[str | int, ...]) -> str:
    return "$" + "".join(f"[{s}]" if isinstance(s, int) else f".{s}" for s in path)


def compile_topic(pattern: str) -> tuple[str, re.Pattern[str]]:
    """``city/{district}/parking/{lot}`` -> the MQTT filter ``city/+/parking/+`` and a regex
    capturing the named levels; ``+`` and a final ``#`` are allowed as anonymous wildcards."""
    levels = pattern.split("/")
    filters: list[str] = []
    parts: list[str] = []
    for index, level in enumerate(levels):
        named = re.fullmatch(r"\{([A-Za-z_][A-Za-z0-9_]*)\}", level)
        if named:
            if f"(?P<{named.group(1)}>" in "".join(parts):
                raise BadRequestData(f"topic {pattern!r}: level {level} is named twice")
            filters.append("+")
            parts.append(f"(?P<{named.group(1)}>[^/]+)")
        elif level == "+":
            filters.append("+")
            parts.append("[^/]+")
        elif level == "#":
            if index != len(levels) - 1:
                raise BadRequestData(f"topic {pattern!r}: '#' must be the last level")
            filters.append("#")
            parts.append(".*")
        elif any(c in level for c in "+#{}"):
            raise BadRequestData(f"topic {pattern!r}: bad level {level!r}")
        else:
            filters.append(level)
            parts.append(re.escape(level))
    regex = "/".join(parts)
    if levels[-1] == "#":  # '#' also matches the parent level itself
        regex = regex[: -len("/.*")] + "(?:/.*)?" if len(levels) > 1 else ".*"
    return "/".join(filters), re.compile(regex)


def load_mappings(path: Path) -> MappingSet:
    """Read and check a mapping file; every mistake names the file and the rule."""
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise BadRequestData(f"{path}: cannot read: {error.strerror}") from None
    except UnicodeDecodeError:
        raise BadRequestData(f"{path}: not UTF-8 text") from None
    except yaml.YAMLError as error:
        raise BadRequestData(f"{path}: not valid YAML: {error}") from None
    try:
        return parse_mappings(document)
    except BadRequestData as error:
        raise BadRequestData(f"{path}: {error.detail}") from None


def parse_mappings(document: Any) -> MappingSet:
    if not isinstance(document, dict) or not isinstance(document.get("mappings"), list):
        raise BadRequestData("the file must have a 'mappings' list")
    rules = []
    for position, raw in enumerate(document["mappings"], start=1):
        name = raw.get("name", f"#{position}") if isinstance(raw, dict) else f"#{position}"
        try:
            rules.append(_rule(raw, str(name)))
        except BadRequestData as error:
            raise BadRequestData(f"mapping {name}: {error.detail}") from None
    if not rules:
        raise BadRequestData("no mapping rules")
    limit = document.get("max_payload_bytes", 256 * 1024)
    if not isinstance(limit, int) or limit <= 0:
        raise BadRequestData("max_payload_bytes must be a positive integer")
    subscribe = document.get("subscribe") or []
    if not isinstance(subscribe, list) or not all(isinstance(f, str) and f for f in subscribe):
        raise BadRequestData("subscribe must be a list of MQTT topic filters")
    unknown = sorted(set(document) - {"mappings", "max_payload_bytes", "subscribe"})
    if unknown:
        raise BadRequestData(f"unknown key(s) {', '.join(unknown)}")
    return MappingSet(tuple(rules), limit, tuple(subscribe))


def _rule(raw: Any, name: str) -> Rule:
    if not isinstance(raw, dict):
        raise BadRequestData("a rule must be a mapping of keys")
    known = {
        "name", "topic", "payload", "id", "type", "timestamp", "timestamp_format", "timezone",
        "attributes",
    }  # fmt: skip
    unknown = sorted(set(raw) - known)
    if unknown:
        raise BadRequestData(f"unknown key(s) {', '.join(unknown)}")
    topic = raw.get("topic")
    if not isinstance(topic, str) or not topic:
        raise BadRequestData("'topic' is required")
    mqtt_filter, regex = compile_topic(topic)
    payload = raw.get("payload", "device")
    if payload not in ("ngsi-ld", "keyValues", "device"):
        raise BadRequestData(f"payload must be ngsi-ld, keyValues or device, not {payload!r}")
    time_format = raw.get("timestamp_format", "iso")
    if not isinstance(time_format, str) or not (
        time_format in ("iso", "epoch_s", "epoch_ms") or "%" in time_format
    ):
        raise BadRequestData(
            "timestamp_format must be iso, epoch_s, epoch_ms or a strptime pattern"
        )
    try:
        timezone = ZoneInfo(str(raw.get("timezone", "UTC")))
    except (ZoneInfoNotFoundError, ValueError):
        raise BadRequestData(f"unknown timezone {raw.get('timezone')!r}") from None
    if not isinstance(raw.get("attributes") or {}, dict):
        raise BadRequestData("attributes must map attribute names to paths or mappings")
    attributes = tuple(
        _attribute_rule(str(attr_name), spec)
        for attr_name, spec in (raw.get("attributes") or {}).items()
    )
    if payload == "device" and not attributes:
        raise BadRequestData("a device rule needs 'attributes'")
    if payload == "device" and not (raw.get("id") and raw.get("type")):
        raise BadRequestData("a device rule needs 'id' and 'type'")
    if not isinstance(raw.get("type"), str | None):
        raise BadRequestData("type must be text")
    for template in [raw.get("id")] + [a.relationship for a in attributes]:
        if not isinstance(template, str | None):
            raise BadRequestData(f"the id and object templates must be text, not {template!r}")
        for placeholder in _PLACEHOLDER.findall(template or ""):
            if placeholder not in regex.groupindex:
                parse_path(placeholder)  # a bad path is the file's mistake, not the message's
    timestamp = raw.get("timestamp") or []
    stamps = [timestamp] if isinstance(timestamp, str) else timestamp
    if not isinstance(stamps, list) or not all(isinstance(t, str) for t in stamps):
        raise BadRequestData("timestamp must be a path or a list of paths")
    return Rule(
        name=name,
        topic=topic,
        filter=mqtt_filter,
        regex=regex,
        payload=payload,
        id_template=raw.get("id"),
        entity_type=raw.get("type"),
        timestamp=tuple(parse_path(t) for t in stamps),
        time_format=time_format,
        timezone=timezone,
        attributes=attributes,
    )


def _listed(value: Any) -> list[Any]:
    """``missing: -200`` as ``missing: [-200]``."""
    return [] if value is None else value if isinstance(value, list) else [value]


def _attribute_rule(name: str, spec: Any) -> Attribute:
    if isinstance(spec, str):
        return Attribute(name, path=parse_path(spec))
    if not isinstance(spec, dict):
        raise BadRequestData(f"attribute {name}: give a path or a mapping")
    allowed = {
        "path", "type", "scale", "offset", "values", "unit", "optional", "missing", "object",
        "point",
    }  # fmt: skip
    unknown = sorted(set(spec) - allowed)
    if unknown:
        raise BadRequestData(f"attribute {name}: unknown key(s) {', '.join(unknown)}")
    value_type = spec.get("type", "any")
    if value_type not in ("number", "integer", "string", "boolean", "any"):
        raise BadRequestData(f"attribute {name}: type must be number, integer, string or boolean")
    point = None
    if "point" in spec:
        pair = spec["point"]
        if not (isinstance(pair, list) and len(pair) == 2):
            raise BadRequestData(f"attribute {name}: point is [lon path, lat path]")
        point = (parse_path(str(pair[0])), parse_path(str(pair[1])))
    path = parse_path(str(spec["path"])) if "path" in spec else None
    if path is None and point is None and "object" not in spec:
        raise BadRequestData(f"attribute {name}: give 'path', 'point' or 'object'")
    values = spec.get("values")
    if values is not None and not isinstance(values, dict):
        raise BadRequestData(f"attribute {name}: values must map raw values to values")
    for key in ("scale", "offset"):
        if key in spec and not isinstance(spec[key], int | float):
            raise BadRequestData(f"attribute {name}: {key} must be a number")
    return Attribute(
        name=name,
        path=path,
        value_type=value_type,
        scale=spec.get("scale"),
        offset=spec.get("offset"),
        values={_raw_key(k): v for k, v in values.items()} if values else None,
        unit=spec.get("unit"),
        optional=bool(spec.get("optional", False)),
        missing=frozenset(_raw_key(v) for v in _listed(spec.get("missing"))),
        relationship=spec.get("object"),
        point=point,
    )
