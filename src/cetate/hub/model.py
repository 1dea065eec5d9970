"""NGSI-LD entities: validation of what clients send and rendering of what they get back.

Inside the hub an entity is a plain JSON-ready dict in *expanded normalized* form, so the stores
can keep it as one JSON document and the API can render it in any @context:

```
{
  "id": "urn:ngsi-ld:Vehicle:A1",
  "type": ["https://example.org/Vehicle"],            # expanded type IRIs, in the order given
  "scope": ["/Madrid"],                               # optional
  "createdAt": "2026-11-22T03:21:15.123Z", "modifiedAt": "...",
  "attrs": {expanded attribute IRI: [instance, ...]}  # several instances = datasetIds
}
```

An instance keeps the reserved members as NGSI-LD names them (``type``, ``value``, ``object``,
``languageMap``, ``observedAt``, ``unitCode``, ``datasetId``, ``createdAt``, ``modifiedAt``) and
its sub-attributes under their expanded IRIs. Expanded IRIs always contain ``:``, reserved names
never do, which is how the two are told apart. Property values are kept as sent: NGSI-LD does not
expand the inside of a value.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any, Protocol

from cetate.errors import BadRequestData
from cetate.hub.query import geometry_bbox, validate_geojson_geometry

Entity = dict[str, Any]
Instance = dict[str, Any]
Json = Any


class TermMap(Protocol):
    """What model needs of a JSON-LD context (cetate.hub.context.Context provides it)."""

    def expand(self, term: str) -> str: ...

    def compact(self, iri: str) -> str: ...


ATTRIBUTE_TYPES = frozenset(
    {
        "Property",
        "Relationship",
        "GeoProperty",
        "LanguageProperty",
        "ListProperty",
        "ListRelationship",
        "JsonProperty",
        "VocabProperty",
    }
)
# The members of an attribute instance that are not sub-attributes.
INSTANCE_MEMBERS = frozenset(
    {
        "type",
        "value",
        "object",
        "objectType",
        "languageMap",
        "valueList",
        "objectList",
        "json",
        "vocab",
        "observedAt",
        "unitCode",
        "datasetId",
        "createdAt",
        "modifiedAt",
        "instanceId",
        "lang",
    }
)
#: NGSI-LD Null: the value that deletes an attribute in merge and update operations.
NGSI_LD_NULL = "urn:ngsi-ld:null"
#: The IRI ``scope`` expands to: an entity member, not an attribute.
SCOPE = "https://uri.etsi.org/ngsi-ld/scope"
SYSTEM_MEMBERS = frozenset({"createdAt", "modifiedAt"})
ENTITY_MEMBERS = frozenset({"id", "type", "scope", "@context", "createdAt", "modifiedAt"})
# Characters NGSI-LD forbids in names (clause 4.6.2) plus those that break the query language.
_FORBIDDEN_NAME = re.compile(r"[<>\"'=;()\s]")
_URI = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*:[^\s<>\"{}|\\^`]+$")
_GEO_ATTRS = frozenset(
    {
        "https://uri.etsi.org/ngsi-ld/location",
        "https://uri.etsi.org/ngsi-ld/observationSpace",
        "https://uri.etsi.org/ngsi-ld/operationSpace",
    }
)
_MAIN_MEMBERS = frozenset(
    {"type", "value", "object", "languageMap", "json", "valueList", "objectList", "vocab"}
)
_GEOJSON_TYPES = frozenset(
    {"Point", "MultiPoint", "LineString", "MultiLineString", "Polygon", "MultiPolygon"}
)


# ---------------------------------------------------------------------------------------------
# Time

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


def now_iso() -> str:
    """The current UTC time as NGSI-LD writes it (millisecond precision, ``Z``)."""
    return format_time(datetime.now(UTC))


def format_time(moment: datetime) -> str:
    moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def parse_time(text: Any, field: str) -> datetime:
    """An ISO 8601 date-time; one without a zone is taken as UTC (real feeds send those)."""
    if not isinstance(text, str):
        raise BadRequestData(f"{field} must be an ISO 8601 date-time string, got {text!r}")
    try:
        moment = datetime.fromisoformat(text.replace("z", "Z"))
    except ValueError:
        raise BadRequestData(f"{field} is not an ISO 8601 date-time: {text!r}") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment


@lru_cache(maxsize=8192)
def time_us(text: str) -> int:
    """Microseconds since the epoch of a stored (already validated) timestamp.

    Cached: a batch stamps all its instances with the same few times."""
    moment = parse_time(text, "timestamp")
    return (moment - _EPOCH) // _MICROSECOND


def normalise_time(text: Any, field: str) -> str:
    """Keep a UTC ``Z`` timestamp as sent; turn any other valid one into UTC ``Z`` form."""
    if isinstance(text, str):
        try:
            return _normalised(text)
        except ValueError:
            pass
    parse_time(text, field)  # raises the error that names the field
    raise AssertionError("unreachable")


@lru_cache(maxsize=8192)
def _normalised(text: str) -> str:
    try:
        moment = datetime.fromisoformat(text.replace("z", "Z"))
    except ValueError:
        raise ValueError(text) from None
    if text.endswith("Z"):
        return text
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return format_time(moment)


# ---------------------------------------------------------------------------------------------
# Validation of names and ids


def is_uri(text: Any) -> bool:
    return isinstance(text, str) and _URI.match(text) is not None


def check_uri(text: Any, field: str) -> str:
    if not is_uri(text):
        raise BadRequestData(f"{field} must be a URI, got {text!r}")
    assert isinstance(text, str)
    return text


def check_entity_id(text: Any, field: str = "entity id") -> str:
    """An entity id: a URI without invisible or look-alike code points (bidi overrides,
    zero-width and other default-ignorable characters, non-ASCII spaces, noncharacters), which
    make two ids that look the same differ. Relationship objects are not held to this."""
    entity_id = check_uri(text, field)
    if not entity_id.isascii() and not all(map(_visible_code_point, entity_id)):
        raise BadRequestData(f"{field} contains an invisible or non-printing character: {text!r}")
    return entity_id


_INVISIBLE = frozenset({0x115F, 0x1160, 0x3164, 0xFFA0, 0x2800, 0x034F, 0x180E})


@lru_cache(maxsize=4096)
def _visible_code_point(char: str) -> bool:
    code = ord(char)
    if code < 0x80:
        return True
    if code in _INVISIBLE or 0xFE00 <= code <= 0xFE0F or 0xE0000 <= code <= 0xE0FFF:
        return False  # fillers, blank patterns, variation selectors, tags
    if 0xFDD0 <= code <= 0xFDEF or (code & 0xFFFE) == 0xFFFE:
        return False  # noncharacters
    return unicodedata.category(char) not in ("Cc", "Cf", "Cs", "Co", "Cn", "Zs", "Zl", "Zp")


def check_name(name: Any, field: str) -> str:
    if isinstance(name, str) and _valid_name(name):
        return name
    if not isinstance(name, str) or not name:
        raise BadRequestData(f"{field} must be a non-empty string, got {name!r}")
    raise BadRequestData(f"{field} {name!r} contains a character NGSI-LD forbids in names")


@lru_cache(maxsize=65536)
def _valid_name(name: str) -> bool:
    # a leading "@" is a JSON-LD keyword (@id, @type...), never a name
    return bool(name) and name[0] != "@" and _FORBIDDEN_NAME.search(name) is None


# ---------------------------------------------------------------------------------------------
# Parsing what clients send


def parse_entity(payload: Any, ctx: TermMap, now: str) -> Entity:
    """Validate a client's entity (normalized or concise form) and return it expanded."""
    if not isinstance(payload, dict):
        raise BadRequestData("an entity must be a JSON object")
    entity_id = check_entity_id(payload.get("id"))
    types = parse_types(payload.get("type"), ctx)
    entity: Entity = {"id": entity_id, "type": types, "createdAt": now, "modifiedAt": now}
    if "scope" in payload:
        entity["scope"] = parse_scope(payload["scope"])
    entity["attrs"] = parse_attributes(payload, ctx, now)
    return entity


def parse_types(raw: Any, ctx: TermMap) -> list[str]:
    names = [raw] if isinstance(raw, str) else raw
    if not isinstance(names, list) or not names:
        raise BadRequestData("entity type must be a name or a non-empty list of names")
    types: list[str] = []
    for name in names:
        iri = ctx.expand(check_name(name, "entity type"))
        if iri[0] == "@":  # "type" itself is an alias of @type in the core context
            raise BadRequestData(f"{name!r} is a JSON-LD keyword, not an entity type")
        if iri not in types:
            types.append(iri)
    return types


def parse_scope(raw: Any) -> list[str]:
    scopes = [raw] if isinstance(raw, str) else raw
    if not isinstance(scopes, list) or not all(
        isinstance(s, str) and re.fullmatch(r"(/[^/#+\s]+)+", s) for s in scopes
    ):
        raise BadRequestData(f"scope must be one or several paths like /City/District: {raw!r}")
    return list(scopes)


def parse_attributes(
    payload: Mapping[str, Any], ctx: TermMap, now: str
) -> dict[str, list[Instance]]:
    """The attributes of a fragment (entity members such as id and @context are skipped)."""
    attrs: dict[str, list[Instance]] = {}
    for name, raw in payload.items():
        if name in ENTITY_MEMBERS:
            continue
        iri = ctx.expand(check_name(name, "attribute name"))
        attrs[iri] = parse_instances(iri, raw, ctx, now, name)
    return attrs


def parse_instances(iri: str, raw: Any, ctx: TermMap, now: str, name: str) -> list[Instance]:
    """One attribute's instances; a list of objects is a multi-attribute (one per datasetId)."""
    raws = raw if isinstance(raw, list) and raw and all(isinstance(r, dict) for r in raw) else [raw]
    instances: list[Instance] = []
    seen: set[str | None] = set()
    for item in raws:
        instance = parse_instance(iri, item, ctx, now, name)
        dataset = instance.get("datasetId")
        if dataset in seen:
            raise BadRequestData(f"attribute {name!r} has two instances with datasetId {dataset!r}")
        seen.add(dataset)
        instances.append(instance)
    return instances


def infer_type(iri: str, raw: Any) -> str:
    """The attribute type of a concise or typeless member (NGSI-LD concise representation)."""
    if isinstance(raw, dict):
        if "object" in raw:
            return "Relationship"
        if "languageMap" in raw:
            return "LanguageProperty"
        if "json" in raw:
            return "JsonProperty"
        if "valueList" in raw:
            return "ListProperty"
        if "objectList" in raw:
            return "ListRelationship"
        value = raw.get("value", raw)
        if iri in _GEO_ATTRS or _looks_like_geojson(value):
            return "GeoProperty"
        return "Property"
    if iri in _GEO_ATTRS and _looks_like_geojson(raw):
        return "GeoProperty"
    return "Property"


def _looks_like_geojson(value: Any) -> bool:
    return (
        isinstance(value, dict)
        and value.get("type") in _GEOJSON_TYPES
        and "coordinates" in value
        and len(value) == 2
    )


def parse_instance(iri: str, raw: Any, ctx: TermMap, now: str, name: str) -> Instance:
    if raw is None:
        raise BadRequestData(f"attribute {name!r} has no value (null)")
    if not isinstance(raw, dict) or (
        "type" not in raw
        and not ({"value", "object", "languageMap", "json", "valueList", "objectList"} & set(raw))
    ):
        # concise form: a bare value, or a GeoJSON geometry for a geo attribute
        raw = {"value": raw}
    kind = raw.get("type")
    if kind is None:
        kind = infer_type(iri, raw)
    elif kind == "geo:json":  # the NGSIv2 / Smart Data Models spelling
        kind = "GeoProperty"
    if kind not in ATTRIBUTE_TYPES:
        if kind in _GEOJSON_TYPES and "value" not in raw:
            raw, kind = {"value": raw}, "GeoProperty"
        elif "value" in raw:
            # NGSIv2-style value types (Number, Text, StructuredValue...) carry a Property.
            kind = "Property"
        else:
            raise BadRequestData(f"attribute {name!r} has an unknown type {kind!r}")
    instance: Instance = {"type": kind}
    _copy_main_value(instance, raw, kind, name)
    if (
        kind == "GeoProperty"
        and point_position(instance["value"]) is None
        and instance["value"] != NGSI_LD_NULL  # a deletion in merge / update
    ):
        validate_geojson_geometry(instance["value"])  # the general (slower) check
    for member, member_value in raw.items():
        if member in _MAIN_MEMBERS:
            continue
        if member == "observedAt":
            instance["observedAt"] = normalise_time(member_value, f"{name}.observedAt")
        elif member == "unitCode":
            if not isinstance(member_value, str):
                raise BadRequestData(f"{name}.unitCode must be a string")
            instance["unitCode"] = member_value
        elif member == "datasetId":
            instance["datasetId"] = check_uri(member_value, f"{name}.datasetId")
        elif member == "objectType":
            instance["objectType"] = member_value
        elif member in ("createdAt", "modifiedAt", "instanceId", "@context"):
            continue  # system-generated: never taken from the client
        else:
            sub_iri = ctx.expand(check_name(member, "sub-attribute name"))
            instance[sub_iri] = parse_instance(sub_iri, member_value, ctx, now, f"{name}.{member}")
    instance["createdAt"] = now
    instance["modifiedAt"] = now
    return instance


def _copy_main_value(instance: Instance, raw: Mapping[str, Any], kind: str, name: str) -> None:
    if kind == "Relationship":
        target = raw.get("object")
        targets = target if isinstance(target, list) else [target]
        if not targets or not all(is_uri(t) for t in targets):
            raise BadRequestData(f"relationship {name!r} must have an object that is a URI")
        instance["object"] = target
    elif kind == "LanguageProperty":
        language_map = raw.get("languageMap")
        if not isinstance(language_map, dict) or not all(
            isinstance(v, str | list) for v in language_map.values()
        ):
            raise BadRequestData(f"language property {name!r} needs a languageMap of strings")
        instance["languageMap"] = language_map
    elif kind == "JsonProperty":
        if "json" not in raw:
            raise BadRequestData(f"JSON property {name!r} needs a json member")
        instance["json"] = raw["json"]
    elif kind == "ListProperty":
        if not isinstance(raw.get("valueList"), list):
            raise BadRequestData(f"list property {name!r} needs a valueList")
        instance["valueList"] = raw["valueList"]
    elif kind == "ListRelationship":
        object_list = raw.get("objectList")
        if not isinstance(object_list, list):
            raise BadRequestData(f"list relationship {name!r} needs an objectList")
        instance["objectList"] = object_list
    elif kind == "VocabProperty":
        if "vocab" not in raw:
            raise BadRequestData(f"vocab property {name!r} needs a vocab member")
        instance["vocab"] = raw["vocab"]
    else:
        if "value" not in raw or raw["value"] is None:
            raise BadRequestData(f"property {name!r} must have a value")
        instance["value"] = raw["value"]


# ---------------------------------------------------------------------------------------------
# Rendering for clients


class RenderOptions:
    """How an entity is shown: which attributes, in which representation."""

    __slots__ = ("attrs", "key_values", "lang", "sys_attrs")

    def __init__(
        self,
        attrs: frozenset[str] | None = None,
        key_values: bool = False,
        sys_attrs: bool = False,
        lang: str | None = None,
    ) -> None:
        self.attrs = attrs  # expanded IRIs; None means all
        self.key_values = key_values
        self.sys_attrs = sys_attrs
        self.lang = lang


def render_entity(entity: Entity, ctx: TermMap, options: RenderOptions) -> dict[str, Any]:
    """The compacted entity a client receives (normalized or keyValues, sysAttrs if asked)."""
    types = [ctx.compact(t) for t in entity["type"]]
    out: dict[str, Any] = {"id": entity["id"], "type": types[0] if len(types) == 1 else types}
    if "scope" in entity:
        scope = entity["scope"]
        out["scope"] = scope[0] if len(scope) == 1 else scope
    if options.sys_attrs and not options.key_values:
        out["createdAt"] = entity["createdAt"]
        out["modifiedAt"] = entity["modifiedAt"]
    wanted = options.attrs
    for iri, instances in entity["attrs"].items():
        if wanted is not None and iri not in wanted:
            continue
        name = ctx.compact(iri)
        if options.key_values and (len(instances) > 1 or "datasetId" in instances[0]):
            # a multi-attribute in keyValues: {"dataset": {datasetId or "@none": value}}
            out[name] = {
                "dataset": {
                    i.get("datasetId", "@none"): _key_value(i, options.lang) for i in instances
                }
            }
            continue
        rendered = [render_instance(i, ctx, options) for i in instances]
        out[name] = rendered[0] if len(rendered) == 1 else rendered
    return out


def render_instance(instance: Instance, ctx: TermMap, options: RenderOptions) -> Any:
    kind = instance["type"]
    if options.key_values:
        return _key_value(instance, options.lang)
    out: dict[str, Any] = {}
    for member, value in instance.items():
        if ":" in member:
            out[ctx.compact(member)] = render_instance(value, ctx, options)
        elif member in SYSTEM_MEMBERS:
            if options.sys_attrs:
                out[member] = value
        elif member == "languageMap" and options.lang is not None:
            out["type"] = "Property"
            out["value"] = pick_language(value, options.lang)
            out["lang"] = _picked_language_tag(value, options.lang)
        elif not (member == "type" and kind == "LanguageProperty" and options.lang is not None):
            out[member] = value
    return out


def _key_value(instance: Instance, lang: str | None) -> Any:
    kind = instance["type"]
    if kind == "Relationship":
        return instance["object"]
    if kind == "LanguageProperty":
        language_map = instance["languageMap"]
        return pick_language(language_map, lang) if lang else {"languageMap": language_map}
    if kind == "JsonProperty":
        return {"json": instance["json"]}
    if kind == "ListProperty":
        return instance["valueList"]
    if kind == "ListRelationship":
        return instance["objectList"]
    if kind == "VocabProperty":
        return {"vocab": instance["vocab"]}
    return instance["value"]


def _picked_language_tag(language_map: Mapping[str, Any], lang: str) -> str:
    for tag in _language_preferences(lang):
        if tag in language_map:
            return tag
    return next(iter(language_map), "")


def pick_language(language_map: Mapping[str, Any], lang: str | None) -> Any:
    """The value in the preferred language (``lang`` as in Accept-Language: ``ro,en;q=0.5``)."""
    if lang is None:
        return language_map
    return language_map.get(_picked_language_tag(language_map, lang))


def _language_preferences(lang: str) -> list[str]:
    ranked: list[tuple[float, str]] = []
    for part in lang.split(","):
        tag, _, weight = part.strip().partition(";q=")
        try:
            ranked.append((float(weight) if weight else 1.0, tag.strip()))
        except ValueError:
            ranked.append((0.0, tag.strip()))
    ranked.sort(key=lambda pair: -pair[0])
    return [tag for _, tag in ranked if tag and tag != "*"]


# ---------------------------------------------------------------------------------------------
# Small helpers used by the stores and the API


def geo_values(entity: Entity) -> Iterable[tuple[str, dict[str, Any]]]:
    """(attribute IRI, GeoJSON geometry) for every GeoProperty instance of an entity."""
    for iri, instances in entity["attrs"].items():
        for instance in instances:
            if instance["type"] == "GeoProperty":
                yield iri, instance["value"]


def point_position(geometry: Any) -> tuple[float, float] | None:
    """(lon, lat) of a valid GeoJSON Point, else None: the common case, checked without shapely."""
    if type(geometry) is not dict or geometry.get("type") != "Point" or len(geometry) != 2:
        return None
    coordinates = geometry.get("coordinates")
    if type(coordinates) is not list or not 2 <= len(coordinates) <= 3:
        return None
    if not all(type(c) in (int, float) and math.isfinite(c) for c in coordinates):
        return None
    lon, lat = coordinates[0], coordinates[1]
    if -180 <= lon <= 180 and -90 <= lat <= 90:
        return float(lon), float(lat)
    return None


def geometry_bounds(geometry: dict[str, Any]) -> tuple[float, float, float, float]:
    """(min lon, min lat, max lon, max lat) of a stored geometry."""
    point = point_position(geometry)
    if point is not None:
        return point[0], point[1], point[0], point[1]
    return geometry_bbox(geometry)


def attribute_summary(entity: Entity) -> dict[str, list[str]]:
    """Attribute IRI -> the attribute types its instances have (for the discovery endpoints)."""
    return {
        iri: sorted({instance["type"] for instance in instances})
        for iri, instances in entity["attrs"].items()
    }


def copy_entity(entity: Entity) -> Entity:
    """A copy deep enough that changing attributes never touches the original."""
    copied = dict(entity)
    copied["attrs"] = {
        iri: [dict(i) for i in instances] for iri, instances in entity["attrs"].items()
    }
    return copied


def instance_time(instance: Instance) -> str:
    """The time a history row is filed under: observedAt when given, else the modification."""
    return str(instance.get("observedAt") or instance["modifiedAt"])
