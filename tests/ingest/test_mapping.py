"""Declarative device mappings (cetate.ingest.mapping): topic patterns, paths, each attribute
option, timestamp formats, the three payload kinds, the reasons a message is refused, mistakes
in mapping files; and a property: ``fragment`` raises nothing but ``MappingError``."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest
import yaml
from hypothesis import example, given, settings
from hypothesis import strategies as st

from cetate.errors import BadRequestData
from cetate.ingest.mapping import (
    MappingError,
    MappingSet,
    compile_topic,
    load_mappings,
    parse_mappings,
    parse_path,
    render_path,
)

RECEIVED = datetime(2024, 6, 1, 12, 0, 0, 250000, tzinfo=UTC)
RECEIVED_ISO = "2024-06-01T12:00:00.250Z"


def rules(text: str) -> MappingSet:
    return parse_mappings(yaml.safe_load(text))


def device(attributes: str, extra: str = "") -> MappingSet:
    """One device rule on dev/{device}: the given attributes (YAML, indented 6)."""
    return rules(
        f"""
mappings:
  - name: dev
    topic: dev/{{device}}
    id: urn:ngsi-ld:Thing:{{device}}
    type: Thing
{extra}    attributes:
{attributes}"""
    )


def fragment(mappings: MappingSet, payload: Any, topic: str = "dev/d1") -> dict[str, Any]:
    body = payload if isinstance(payload, bytes) else orjson.dumps(payload)
    return mappings.fragment(topic, body, RECEIVED)


def refused(mappings: MappingSet, payload: Any, topic: str = "dev/d1") -> str:
    with pytest.raises(MappingError) as caught:
        fragment(mappings, payload, topic)
    return str(caught.value)


def prop(value: Any, at: str = RECEIVED_ISO, **extra: Any) -> dict[str, Any]:
    return {"type": "Property", "value": value, **extra, "observedAt": at}


# -- topic patterns ----------------------------------------------------------------------------


def test_named_levels_become_plus_and_are_captured() -> None:
    mqtt_filter, regex = compile_topic("city/{district}/parking/{lot}/state")
    assert mqtt_filter == "city/+/parking/+/state"
    found = regex.fullmatch("city/sector-3/parking/P12/state")
    assert found is not None and found.groupdict() == {"district": "sector-3", "lot": "P12"}
    assert regex.fullmatch("city/sector-3/parking/P12") is None
    assert regex.fullmatch("city/a/b/parking/P12/state") is None  # a level is not two
    assert regex.fullmatch("city//parking/P12/state") is None  # nor empty


def test_anonymous_wildcards() -> None:
    mqtt_filter, regex = compile_topic("city/+/air/#")
    assert mqtt_filter == "city/+/air/#"
    for topic in ["city/x/air", "city/x/air/no2", "city/x/air/no2/raw"]:
        assert regex.fullmatch(topic), topic  # '#' also matches the parent level
    assert not regex.fullmatch("city/x/airq")
    assert compile_topic("#")[0] == "#" and compile_topic("#")[1].fullmatch("any/thing")
    plain_filter, plain = compile_topic("a.b/c+d?".replace("+", "_"))
    assert plain_filter == "a.b/c_d?" and plain.fullmatch("a.b/c_d?")
    assert not plain.fullmatch("aXb/c_d?")  # levels are literal, not regular expressions


@pytest.mark.parametrize(
    ("pattern", "message"),
    [
        ("city/#/air", "'#' must be the last level"),
        ("city/a+b", "bad level 'a+b'"),
        ("city/x#", "bad level 'x#'"),
        ("city/{bad-name}", "bad level '{bad-name}'"),
        ("city/{lot}x", "bad level '{lot}x'"),
        ("city/{lot}/{lot}", "level {lot} is named twice"),
    ],
)
def test_bad_topic_patterns(pattern: str, message: str) -> None:
    with pytest.raises(BadRequestData, match=message.replace("{", r"\{").replace("+", r"\+")):
        compile_topic(pattern)


def test_the_first_matching_rule_wins_and_filters_are_unique() -> None:
    mappings = rules(
        """
mappings:
  - {name: special, topic: dev/d1, payload: keyValues, id: "urn:ngsi-ld:Thing:special",
     type: Special}
  - {name: any, topic: "dev/{device}", payload: keyValues, id: "urn:ngsi-ld:Thing:{device}",
     type: Thing}
  - {name: again, topic: "dev/+", payload: keyValues, id: "urn:x:y", type: Never}
"""
    )
    assert mappings.filters == ["dev/d1", "dev/+"]
    assert fragment(mappings, {"a": 1})["type"] == "Special"
    assert fragment(mappings, {"a": 1}, "dev/d2")["id"] == "urn:ngsi-ld:Thing:d2"
    assert "unknown device: no mapping rule matches topic 'other/d1'" in refused(
        mappings, {"a": 1}, "other/d1"
    )


# -- paths -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "path"),
    [
        ("$.a.b[0].c", ("a", "b", 0, "c")),
        ("a.b[0].c", ("a", "b", 0, "c")),
        ("$.rx_metadata[0].rssi", ("rx_metadata", 0, "rssi")),
        ("$[2][0]", (2, 0)),
        ("CO(GT)", ("CO(GT)",)),
        ("$.end_device_ids.device_id", ("end_device_ids", "device_id")),
    ],
)
def test_paths(text: str, path: tuple[str | int, ...]) -> None:
    assert parse_path(text) == path
    assert parse_path(render_path(path)) == path


@pytest.mark.parametrize("text", ["$", "", "a..b", "a[x]", "a[0", "a.", "a]"])
def test_bad_paths(text: str) -> None:
    with pytest.raises(BadRequestData, match="path"):
        parse_path(text)


def test_paths_read_nested_values_and_say_where_nothing_is() -> None:
    mappings = device(
        "      rssi: {path: '$.rx[0].rssi', type: integer}\n      snr: '$.rx[1].snr'\n"
    )
    payload = {"rx": [{"rssi": -97}, {"snr": 7.25}]}
    got = fragment(mappings, payload)
    assert got["rssi"] == prop(-97) and got["snr"] == prop(7.25)
    assert refused(mappings, {"rx": [{"rssi": -97}]}) == "snr: no value at $.rx[1].snr"
    assert refused(mappings, {"rx": {"0": 1}}) == "rssi: no value at $.rx[0].rssi"
    assert refused(mappings, {"rx": "text"}) == "rssi: no value at $.rx[0].rssi"


# -- attribute options -------------------------------------------------------------------------


def test_types() -> None:
    mappings = device(
        """      n: {path: n, type: number}
      i: {path: i, type: integer}
      s: {path: s, type: string}
      b: {path: b, type: boolean}
      a: {path: a}
"""
    )
    payload = {"n": "21.5", "i": 2.6, "s": 404, "b": "ON", "a": {"any": ["thing"]}}
    got = fragment(mappings, payload)
    assert [got[k]["value"] for k in "nisba"] == [21.5, 3, "404", True, {"any": ["thing"]}]
    for raw, value in [(True, True), ("yes", True), (0, False), ("off", False)]:
        assert fragment(mappings, payload | {"b": raw})["b"]["value"] is value
    assert refused(mappings, payload | {"n": "abc"}) == "n: expected a number, got 'abc'"
    assert refused(mappings, payload | {"n": True}) == "n: expected a number, got a boolean"
    assert refused(mappings, payload | {"n": [1]}) == "n: expected a number, got list"
    assert refused(mappings, payload | {"n": "nan"}) == "n: 'nan' is not a finite number"
    assert refused(mappings, payload | {"s": {"a": 1}}) == "s: expected text, got dict"
    assert refused(mappings, payload | {"b": "maybe"}) == "b: 'maybe' is not a boolean"
    assert refused(mappings, payload | {"i": 1e300}) == "i: 1e+300 is out of the integer range"


def test_values_scale_offset_and_unit_in_that_order() -> None:
    mappings = device(
        """      temperature: {path: raw, type: number, scale: 0.1, offset: -40, unit: CEL}
      level: {path: code, values: {1: low, 2: high, "x": 0.5}, type: number, scale: 100}
      state: {path: state, values: {"ON": "on", "OFF": "off"}}
"""
    )
    got = fragment(mappings, {"raw": 655, "code": "x", "state": "ON"})
    assert got["temperature"] == prop(pytest.approx(25.5), unitCode="CEL")
    assert got["level"] == prop(50.0)  # looked up first, then converted and scaled
    assert got["state"] == prop("on")
    assert refused(mappings, {"raw": 655, "code": "x", "state": "DIM"}) == (
        "state: 'DIM' is not one of ON, OFF"
    )
    # 1, 1.0 and "1" are the same raw value
    assert refused(mappings, {"raw": 1, "code": 1.0, "state": "ON"}) == (
        "level: expected a number, got 'low'"
    )


def test_optional_and_missing() -> None:
    mappings = device(
        """      co: {path: CO, type: number, missing: [-200, "n/a"]}
      t: {path: T, type: number, missing: -200, optional: true}
      rh: {path: RH, type: number}
"""
    )
    got = fragment(mappings, {"CO": -200.0, "RH": 50})
    assert set(got) == {"id", "type", "rh"}  # -200 and an absent optional one: left out
    assert set(fragment(mappings, {"CO": "n/a", "T": "-200", "RH": 1})) == {"id", "type", "rh"}
    assert fragment(mappings, {"CO": 2.6, "T": -20, "RH": 1})["t"] == prop(-20)
    assert refused(mappings, {"CO": 1}) == "rh: no value at $.RH"  # not optional
    assert refused(mappings, {"CO": -200, "RH": None}) == "rh: expected a number, got NoneType"
    everything_missing = device("      co: {path: CO, missing: [-200]}\n")
    assert refused(everything_missing, {"CO": -200}) == "no attribute to write"


def test_relationships_from_topic_levels_and_payload_values() -> None:
    mappings = device(
        """      reading: r
      refDevice: {object: "urn:ngsi-ld:Device:{device}"}
      refGateway: {object: "urn:ngsi-ld:Gateway:{gw.id}"}
"""
    )
    got = fragment(mappings, {"r": 1, "gw": {"id": "g7"}})
    assert got["refDevice"] == {"type": "Relationship", "object": "urn:ngsi-ld:Device:d1"}
    assert got["refGateway"] == {"type": "Relationship", "object": "urn:ngsi-ld:Gateway:g7"}
    assert refused(mappings, {"r": 1, "gw": {"id": ""}}) == (
        "refGateway: gw.id has no usable value for the id"
    )
    assert refused(mappings, {"r": 1}) == "refGateway: no value at $.gw.id"


def test_points() -> None:
    mappings = device("      location: {point: [$.gps.lon, $.gps.lat]}\n")
    got = fragment(mappings, {"gps": {"lon": "26.1", "lat": 44.4}})
    assert got["location"] == {
        "type": "GeoProperty",
        "value": {"type": "Point", "coordinates": [26.1, 44.4]},
    }
    assert refused(mappings, {"gps": {"lon": 44.4, "lat": 126.1}}) == (
        "location: (44.4, 126.1) is not a longitude, latitude"
    )
    assert refused(mappings, {"gps": {"lon": 1}}) == "location: no value at $.gps.lat"


def test_id_from_the_payload() -> None:
    mappings = rules(
        """
mappings:
  - topic: ttn/up
    id: "urn:ngsi-ld:ParkingSpot:{end_device_ids.device_id}"
    type: ParkingSpot
    attributes: {occupied: $.decoded.occupied}
"""
    )
    payload = {"end_device_ids": {"device_id": "bay-7"}, "decoded": {"occupied": True}}
    assert fragment(mappings, payload, "ttn/up")["id"] == "urn:ngsi-ld:ParkingSpot:bay-7"
    payload["end_device_ids"] = {"device_id": {"nested": 1}}
    assert refused(mappings, payload, "ttn/up") == (
        "id: end_device_ids.device_id has no usable value for the id"
    )


BUCHAREST = (
    '    timestamp: t\n    timestamp_format: "%d/%m/%Y %H:%M"\n    timezone: Europe/Bucharest\n'
)

# -- timestamps --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("extra", "payload", "observed"),
    [
        ("", {"v": 1}, RECEIVED_ISO),  # no timestamp: when it arrived
        (
            "    timestamp: t\n",
            {"t": "2024-01-02T03:04:05.678Z", "v": 1},
            "2024-01-02T03:04:05.678Z",
        ),
        (
            "    timestamp: t\n",
            {"t": "2024-01-02T05:04:05+02:00", "v": 1},
            "2024-01-02T03:04:05.000Z",
        ),
        ("    timestamp: t\n", {"t": "2024-01-02T03:04:05", "v": 1}, "2024-01-02T03:04:05.000Z"),
        (  # a time without a zone is read in the rule's timezone
            "    timestamp: t\n    timezone: Europe/Copenhagen\n",
            {"t": "2014-05-22 09:09:04.145", "v": 1},
            "2014-05-22T07:09:04.145Z",
        ),
        (  # ...but a zone given wins
            "    timestamp: t\n    timezone: Europe/Copenhagen\n",
            {"t": "2014-05-22T09:09:04Z", "v": 1},
            "2014-05-22T09:09:04.000Z",
        ),
        (
            "    timestamp: $.meta.ts\n    timestamp_format: epoch_ms\n",
            {"meta": {"ts": 1715675472123}, "v": 1},
            "2024-05-14T08:31:12.123Z",
        ),
        (
            "    timestamp: ts\n    timestamp_format: epoch_s\n",
            {"ts": "1715675472.5", "v": 1},
            "2024-05-14T08:31:12.500Z",
        ),
        (  # strptime in a timezone, across a DST change: winter and summer
            BUCHAREST,
            {"t": "30/03/2024 12:00", "v": 1},
            "2024-03-30T10:00:00.000Z",
        ),
        (
            BUCHAREST,
            {"t": "31/03/2024 12:00", "v": 1},
            "2024-03-31T09:00:00.000Z",
        ),
        (  # two paths joined by a space
            '    timestamp: [Date, Time]\n    timestamp_format: "%d/%m/%Y %H:%M:%S"\n'
            "    timezone: Etc/GMT-1\n",
            {"Date": "4/04/2005", "Time": "14:00:00", "v": 1},
            "2005-04-04T13:00:00.000Z",
        ),
        (  # a strptime pattern with its own zone ignores the rule's
            '    timestamp: t\n    timestamp_format: "%Y-%m-%d %H:%M %z"\n'
            "    timezone: Asia/Tokyo\n",
            {"t": "2024-01-01 10:00 +0100", "v": 1},
            "2024-01-01T09:00:00.000Z",
        ),
    ],
)
def test_timestamp_formats(extra: str, payload: dict[str, Any], observed: str) -> None:
    mappings = device("      value: v\n", extra)
    assert fragment(mappings, payload)["value"]["observedAt"] == observed


@pytest.mark.parametrize(
    ("extra", "payload", "reason"),
    [
        ("    timestamp: t\n", {"v": 1}, "timestamp: no value at $.t"),
        ("    timestamp: t\n", {"t": "yesterday", "v": 1}, "timestamp: 'yesterday' is not a valid"),
        ("    timestamp: t\n", {"t": 1715675472, "v": 1}, "timestamp: 1715675472 is not a valid"),
        (
            "    timestamp: t\n    timestamp_format: epoch_ms\n",
            {"t": 1e30, "v": 1},
            "timestamp: 1e+30 is not a valid time",
        ),
        (
            "    timestamp: t\n    timestamp_format: epoch_s\n",
            {"t": "soon", "v": 1},
            "timestamp: expected a number, got 'soon'",
        ),
        (
            '    timestamp: t\n    timestamp_format: "%d/%m/%Y"\n',
            {"t": "31/02/2024", "v": 1},
            "timestamp: '31/02/2024' is not a valid time",
        ),
    ],
)
def test_bad_timestamps(extra: str, payload: dict[str, Any], reason: str) -> None:
    assert refused(device("      value: v\n", extra), payload).startswith(reason)


# -- payload kinds -----------------------------------------------------------------------------


def test_ngsi_ld_payloads_pass_through() -> None:
    mappings = rules(
        """
mappings:
  - {topic: "ngsi/{kind}/{id}", payload: ngsi-ld, id: "urn:ngsi-ld:{kind}:{id}", type: Thing}
  - {topic: "raw/#", payload: ngsi-ld}
"""
    )
    entity = {
        "@context": "https://example.org/context.jsonld",
        "speed": {"type": "Property", "value": 80, "observedAt": "2024-01-01T00:00:00Z"},
        "road": {"type": "Relationship", "object": "urn:ngsi-ld:Road:1"},
    }
    got = fragment(mappings, entity, "ngsi/Vehicle/7")
    assert got == {
        "id": "urn:ngsi-ld:Vehicle:7",
        "type": "Thing",
        "speed": entity["speed"],  # its own observedAt kept; nothing added
        "road": entity["road"],
    }
    own = {
        "id": "urn:ngsi-ld:Vehicle:8",
        "type": "Vehicle",
        "speed": {"type": "Property", "value": 1},
    }
    assert fragment(mappings, own, "raw/x") == own  # no timestamp rule: no observedAt invented
    stamped = rules(
        "mappings: [{topic: raw, payload: ngsi-ld, timestamp: t, type: Vehicle, id: 'urn:x:1'}]"
    )
    got = fragment(
        stamped, {"t": "2024-01-01T00:00:00Z", "speed": {"type": "Property", "value": 1}}, "raw"
    )
    assert got["speed"]["observedAt"] == "2024-01-01T00:00:00.000Z"
    assert refused(mappings, {"speed": {"type": "Property", "value": 1}}, "raw/x") == (
        "no entity id: give id in the payload or an id template"
    )
    assert refused(mappings, {"id": "urn:x:1", "speed": 1}, "raw/x") == (
        "no entity type: give type in the payload or in the rule"
    )
    assert refused(mappings, {"id": 5, "type": "T", "a": 1}, "raw/x").startswith("no entity id")


def test_key_values_payloads() -> None:
    mappings = rules(
        """
mappings:
  - {topic: "kv/{id}", payload: keyValues, id: "urn:ngsi-ld:Bin:{id}", type: WasteContainer,
     timestamp: ts}
"""
    )
    at = "2024-01-01T00:00:00.000Z"
    point = {"type": "Point", "coordinates": [26.1, 44.4]}
    got = fragment(
        mappings,
        {
            "ts": "2024-01-01T00:00:00Z",
            "fillingLevel": 0.7,
            "location": point,
            "tags": {"type": ["not", "geojson"]},
            "@context": "ignored",
        },
        "kv/b1",
    )
    assert got == {
        "id": "urn:ngsi-ld:Bin:b1",
        "type": "WasteContainer",
        "ts": prop("2024-01-01T00:00:00Z", at),
        "fillingLevel": prop(0.7, at),
        "location": {"type": "GeoProperty", "value": point},  # GeoJSON -> GeoProperty
        "tags": prop({"type": ["not", "geojson"]}, at),  # a "type" that is no GeoJSON type
    }
    free = rules("mappings: [{topic: kv, payload: keyValues}]")
    own = fragment(free, {"id": "urn:x:1", "type": "T", "a": 1}, "kv")
    assert own == {"id": "urn:x:1", "type": "T", "a": prop(1)}
    assert refused(free, {"id": "urn:x:1", "type": "T"}, "kv") == "no attribute to write"


# -- refusals ----------------------------------------------------------------------------------


def test_messages_refused_with_a_reason() -> None:
    mappings = device("      value: {path: v, type: number}\n")
    assert refused(mappings, b"{not json").startswith("not JSON: ")
    assert refused(mappings, b"\xff\xfe").startswith("not JSON: ")
    assert refused(mappings, b"").startswith("not JSON: ")
    assert refused(mappings, [1, 2]) == "the payload must be a JSON object, not list"
    assert refused(mappings, "text") == "the payload must be a JSON object, not str"
    assert refused(mappings, None) == "the payload must be a JSON object, not NoneType"
    assert refused(mappings, {"w": 1}) == "value: no value at $.v"
    assert refused(mappings, {"v": "x"}) == "value: expected a number, got 'x'"
    assert refused(mappings, {"v": 1}, "elsewhere/d1") == (
        "unknown device: no mapping rule matches topic 'elsewhere/d1'"
    )
    small = rules(
        "max_payload_bytes: 64\nmappings: [{topic: t, payload: keyValues, id: 'urn:x:1', type: T}]"
    )
    assert refused(small, {"a": "x" * 100}, "t") == "payload of 108 bytes is over the 64 limit"
    assert fragment(small, {"a": "x"}, "t")["a"]["value"] == "x"


# -- mapping files -----------------------------------------------------------------------------


def write(tmp_path: Path, text: str | bytes) -> Path:
    path = tmp_path / "mapping.yaml"
    path.write_bytes(text.encode() if isinstance(text, str) else text)
    return path


def rule_file(changes: dict[str, Any] | None = None, **top: Any) -> str:
    """A mapping file of one good rule named lot, with ``changes`` (None values removed)."""
    rule = {"name": "lot", "topic": "p/{lot}", "id": "urn:x:{lot}", "type": "T"}
    rule |= {"attributes": {"a": "a"}} | (changes or {})
    rule = {k: v for k, v in rule.items() if v is not None}
    return yaml.safe_dump({**top, "mappings": [rule]})


def attribute_file(spec: Any) -> str:
    return rule_file({"attributes": {"a": spec}})


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("mappings: [\n  - {a: 1", "not valid YAML"),
        ("just text", "the file must have a 'mappings' list"),
        ("mappings: {a: 1}", "the file must have a 'mappings' list"),
        ("mappings: []", "no mapping rules"),
        ("mappings:\n  - 5", "mapping #1: a rule must be a mapping of keys"),
        (rule_file({"bogus": 1}), "mapping lot: unknown key\\(s\\) bogus"),
        (rule_file({"name": None, "tipe": "T"}), "mapping #1: unknown key\\(s\\) tipe"),
        (rule_file({"topic": None}), "mapping lot: 'topic' is required"),
        (rule_file({"topic": "a/#/b"}), "mapping lot: topic 'a/#/b': '#' must be the last"),
        (rule_file({"payload": "csv"}), "payload must be ngsi-ld, keyValues or device"),
        (rule_file({"timestamp_format": "dd/mm"}), "timestamp_format must be"),
        (rule_file({"timezone": "Mars/Base"}), "mapping lot: unknown timezone 'Mars/Base'"),
        (rule_file({"timestamp": [1, 2]}), "timestamp must be a path or a list of paths"),
        (rule_file({"attributes": None}), "a device rule needs 'attributes'"),
        (rule_file({"id": None}), "a device rule needs 'id' and 'type'"),
        (rule_file({"id": 5}), "the id and object templates must be text, not 5"),
        (rule_file({"type": ["A", "B"]}), "mapping lot: type must be text"),
        (rule_file({"id": "urn:x:{a..b}"}), "mapping lot: bad path 'a..b'"),
        (rule_file({"attributes": ["a"]}), "attributes must map attribute names"),
        (attribute_file({"pth": "a"}), "mapping lot: attribute a: unknown key\\(s\\) pth"),
        (attribute_file({"path": "a", "type": "float"}), "attribute a: type must be number"),
        (attribute_file({"unit": "CEL"}), "attribute a: give 'path', 'point' or 'object'"),
        (attribute_file({"path": "a", "scale": "x"}), "attribute a: scale must be a number"),
        (attribute_file({"path": "a", "values": [1]}), "attribute a: values must map"),
        (attribute_file({"point": ["x"]}), "attribute a: point is \\[lon path, lat path\\]"),
        (attribute_file({"object": 7}), "the id and object templates must be text, not 7"),
        (attribute_file({"object": "urn:x:{b.}"}), "bad path 'b.'"),
        (attribute_file(5), "attribute a: give a path or a mapping"),
        (attribute_file("a..b"), "mapping lot: bad path 'a..b'"),
        (rule_file(max_payload_bytes=-1), "max_payload_bytes must be a positive integer"),
    ],
)
def test_mistakes_in_mapping_files(tmp_path: Path, text: str, message: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(BadRequestData, match=message) as caught:
        load_mappings(path)
    assert caught.value.detail.startswith(f"{path}: ")  # every mistake names the file


def test_unreadable_mapping_files(tmp_path: Path) -> None:
    with pytest.raises(BadRequestData, match="cannot read"):
        load_mappings(tmp_path / "absent.yaml")
    with pytest.raises(BadRequestData, match="not UTF-8 text"):
        load_mappings(write(tmp_path, b"mappings: [\xff]"))


def test_a_file_that_loads(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
max_payload_bytes: 1024
mappings:
  - name: lot
    topic: city/parking/{lot}/state
    id: urn:ngsi-ld:ParkingSpot:{lot}
    type: ParkingSpot
    timestamp: ts
    timestamp_format: epoch_s
    attributes:
      status: {path: s, values: {"0": free, "1": occupied}}
      missing-as-scalar: {path: x, missing: -200, optional: true}
""",
    )
    mappings = load_mappings(path)
    assert mappings.max_payload_bytes == 1024 and mappings.filters == ["city/parking/+/state"]
    rule = mappings.rules[0]
    assert rule.name == "lot" and rule.attributes[1].missing == frozenset({"-200"})
    got = fragment(mappings, {"ts": 0, "s": 1, "x": -200}, "city/parking/P1/state")
    assert got == {
        "id": "urn:ngsi-ld:ParkingSpot:P1",
        "type": "ParkingSpot",
        "status": prop("occupied", "1970-01-01T00:00:00.000Z"),
    }


# -- property: only MappingError ---------------------------------------------------------------

JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**64 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(
            st.sampled_from(["id", "type", "t", "v", "n", "gps", "lon", "lat", "@context"])
            | st.text(max_size=8),
            children,
            max_size=5,
        )
    ),
    max_leaves=20,
)

EVERY_KIND = rules(
    """
max_payload_bytes: 2048
mappings:
  - name: device
    topic: d/{device}
    id: "urn:ngsi-ld:Thing:{device}:{n}"
    type: Thing
    timestamp: t
    timestamp_format: "%Y-%m-%d %H:%M"
    timezone: Europe/Bucharest
    attributes:
      value: {path: v, type: number, scale: 0.5, offset: 1, unit: CEL, missing: [-200]}
      count: {path: $.v, type: integer, optional: true}
      label: {path: $.n, type: string, optional: true}
      on: {path: $.n, type: boolean, optional: true}
      state: {path: $.n, values: {"1": on, "0": off}, optional: true}
      raw: {path: "$.gps[0]", optional: true}
      location: {point: [$.gps.lon, $.gps.lat]}
      ref: {object: "urn:ngsi-ld:Gateway:{gps.lon}"}
  - {name: epoch, topic: e/#, payload: device, id: "urn:x:{id}", type: T, timestamp: t,
     timestamp_format: epoch_ms, attributes: {v: v}}
  - {name: iso, topic: i/+, payload: keyValues, timestamp: t, timezone: America/New_York}
  - {name: kv, topic: k/+, payload: keyValues}
  - {name: ngsi, topic: "n/{id}", payload: ngsi-ld, id: "urn:x:{id}", timestamp: [t, v]}
"""
)
TOPICS = st.sampled_from(["d/x", "e/x/y", "i/x", "k/x", "n/x", "unknown"]) | st.text(max_size=10)


@settings(max_examples=400, deadline=None)
@given(topic=TOPICS, payload=st.binary(max_size=300))
def test_any_bytes_map_or_raise_a_mapping_error(topic: str, payload: bytes) -> None:
    try:
        got = EVERY_KIND.fragment(topic, payload, RECEIVED)
    except MappingError as error:
        assert str(error)
    else:
        assert isinstance(got["id"], str) and got["type"]


@settings(max_examples=600, deadline=None)
@given(topic=TOPICS, document=JSON)
@example(topic="k/x", document={"id": "urn:x:1", "type": "T", "a": {"type": [1]}})
@example(
    topic="d/x", document={"t": "2024-01-01 00:00", "v": 1e300, "n": 1, "gps": {"lon": 1, "lat": 2}}
)
def test_any_json_maps_or_raises_a_mapping_error(topic: str, document: Any) -> None:
    try:
        payload = orjson.dumps(document)
    except orjson.JSONEncodeError:
        return  # not representable (an integer beyond 64 bits): no device sends it
    try:
        got = EVERY_KIND.fragment(topic, payload, RECEIVED)
    except MappingError as error:
        assert str(error)
    else:
        assert isinstance(got["id"], str) and got["id"] and got["type"]
        assert len(got) > 2
        orjson.dumps(got)  # what the hub will serialise
