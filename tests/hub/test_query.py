"""Tests of cetate.hub.query: the NGSI-LD query language (q) and geo-queries."""

from __future__ import annotations

import contextlib
import math
from datetime import datetime
from typing import Any

import orjson
import pytest
import shapely
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from cetate.errors import BadRequestData
from cetate.hub.query import (
    EARTH_RADIUS_M,
    And,
    AttrPath,
    Compare,
    Exists,
    Op,
    Or,
    Pattern,
    QExpr,
    Range,
    Value,
    ValueKind,
    ValueList,
    format_q,
    geo_bbox,
    geometry_bbox,
    haversine_m,
    map_q_names,
    match_geo,
    match_q,
    parse_geoquery,
    parse_q,
    q_attr_names,
    validate_geojson_geometry,
)

EX = "https://example.org/"
CORE = "https://uri.etsi.org/ngsi-ld/"


def expand(name: str) -> str:
    """A stand-in for JSON-LD expansion with a user @context."""
    if ":" in name:
        return name
    return CORE + name if name == "location" else EX + name


ENTITY: dict[str, Any] = {
    "id": "urn:ngsi-ld:Vehicle:A1",
    "type": [EX + "Vehicle"],
    "scope": ["/Madrid/Gardens"],
    "createdAt": "2026-11-22T03:21:15.123456Z",
    "modifiedAt": "2026-11-22T05:00:00Z",
    "attrs": {
        EX + "speed": [
            {
                "type": "Property",
                "value": 80,
                "observedAt": "2026-11-22T03:00:00Z",
                "unitCode": "KMH",
                "createdAt": "2026-11-22T03:21:15.123456Z",
                "modifiedAt": "2026-11-22T03:21:15.123456Z",
                EX + "accuracy": {"type": "Property", "value": 0.9},
            }
        ],
        EX + "isParked": [
            {
                "type": "Relationship",
                "object": "urn:ngsi-ld:Parking:1",
                EX + "providedBy": {"type": "Relationship", "object": "urn:ngsi-ld:Person:Bob"},
            }
        ],
        CORE + "location": [
            {"type": "GeoProperty", "value": {"type": "Point", "coordinates": [-3.7, 40.4]}}
        ],
        EX + "name": [{"type": "LanguageProperty", "languageMap": {"en": "Park", "ro": "Parc"}}],
        EX + "address": [
            {
                "type": "Property",
                "value": {"streetAddress": "Main St", "city": {"name": "X"}, "floors": [1, 2]},
            }
        ],
        EX + "temp": [
            {"type": "Property", "value": 20, "datasetId": "urn:ngsi-ld:Dataset:a"},
            {"type": "Property", "value": 21},
        ],
        EX + "brandName": [{"type": "Property", "value": 'Mercedes "AMG"'}],
        EX + "parked": [{"type": "Property", "value": False}],
        EX + "tags": [{"type": "Property", "value": ["a", "b"]}],
        EX + "routeCode": [{"type": "Property", "value": "550"}],
        EX + "departure": [{"type": "Property", "value": "2026-02-20T10:00:00+02:00"}],
        EX + "opening": [{"type": "Property", "value": "2026-03-01"}],
        EX + "closing": [{"type": "Property", "value": "18:30:00Z"}],
        EX + "sealedAt": [
            {"type": "Property", "value": {"@type": "DateTime", "@value": "2026-01-01T00:00:00Z"}}
        ],
        EX + "stops": [
            {"type": "ListRelationship", "objectList": [{"object": "urn:ngsi-ld:Stop:1"}]}
        ],
    },
}


def matches(text: str, entity: dict[str, Any] = ENTITY) -> bool:
    return match_q(map_q_names(parse_q(text), expand), entity)


def parse_error(text: str) -> str:
    with pytest.raises(BadRequestData) as caught:
        parse_q(text)
    return caught.value.detail


# =============================================================================================
# Operators


def test_equal_number() -> None:
    assert matches("speed==80")
    assert not matches("speed==81")


def test_equal_number_int_and_float_are_the_same_number() -> None:
    assert matches("speed==80.0")
    assert matches("speed==8e1")


def test_unequal() -> None:
    assert matches("speed!=81")
    assert not matches("speed!=80")


def test_greater() -> None:
    assert matches("speed>50")
    assert not matches("speed>80")


def test_greater_or_equal() -> None:
    assert matches("speed>=80")
    assert not matches("speed>=80.5")


def test_less() -> None:
    assert matches("speed<100")
    assert not matches("speed<80")


def test_less_or_equal() -> None:
    assert matches("speed<=80")
    assert not matches("speed<=-1.5e2")


def test_negative_number_and_exponent() -> None:
    expr = parse_q("a==-1.5e-3")
    assert isinstance(expr, Compare)
    assert expr.operand == Value(ValueKind.NUMBER, -0.0015)


def test_regex_match_unquoted_with_inline_flag() -> None:
    assert matches("name~=(?i)park.*")  # the LanguageProperty has "Park"
    assert not matches("name~=^park")


def test_regex_match_quoted() -> None:
    assert matches('routeCode~="5.*"')
    assert matches('brandName~="\\"AMG\\"$"')  # \" inside a quoted regex is a quote


def test_regex_not_match() -> None:
    assert matches('routeCode!~="9.*"')
    assert not matches('routeCode!~="^55"')


def test_regex_never_matches_a_non_string() -> None:
    assert not matches("speed~=8")
    assert not matches("speed!~=9")


def test_unquoted_regex_ends_at_a_top_level_separator() -> None:
    expr = parse_q("a~=x(y|z);b")
    assert expr == And((Compare(AttrPath("a"), Op.MATCH, Pattern("x(y|z)")), Exists(AttrPath("b"))))
    assert parse_q("(a~=[)|;]x)") == Compare(AttrPath("a"), Op.MATCH, Pattern("[)|;]x"))


def test_quoted_string_with_escapes() -> None:
    assert matches('brandName=="Mercedes \\"AMG\\""')
    assert matches('brandName=="Mercedes \\u0022AMG\\u0022"')


def test_boolean_equality() -> None:
    assert matches("parked==false")
    assert matches("parked!=true")
    assert not matches("parked==true")


def test_boolean_is_not_a_number() -> None:
    assert not matches("parked==0")


# =============================================================================================
# Lists and ranges


def test_value_list_equal_matches_any() -> None:
    assert matches("speed==1,80,3")
    assert not matches("speed==1,2,3")


def test_value_list_unequal_matches_none() -> None:
    assert matches('routeCode!="551","552"')
    assert not matches('routeCode!="550","551"')


def test_value_list_of_mixed_kinds() -> None:
    assert matches('routeCode==1,"550",true')


def test_value_list_against_an_array_value() -> None:
    assert matches('tags=="b","z"')
    assert not matches('tags=="x","z"')


def test_range_is_inclusive() -> None:
    assert matches("speed==80..90")
    assert matches("speed==70..80")
    assert not matches("speed==81..90")


def test_range_bounds_in_either_order() -> None:
    assert matches("speed==90..70")


def test_range_unequal_is_outside() -> None:
    assert matches("speed!=10..40")
    assert not matches("speed!=10..80")


def test_range_of_dates() -> None:
    assert matches("opening==2026-01-01..2026-12-31")
    assert not matches("opening==2025-01-01..2025-12-31")


def test_range_of_date_times_compares_instants() -> None:
    # departure is 08:00Z, written with a +02:00 offset
    assert matches("departure==2026-02-20T07:59:59Z..2026-02-20T08:00:00Z")


# =============================================================================================
# Dates and times


def test_datetime_ordering_is_temporal() -> None:
    assert matches("departure>2026-02-20T07:30:00Z")
    assert not matches("departure>2026-02-20T09:30:00+01:00")


def test_datetime_equality_ignores_spelling() -> None:
    assert matches("departure==2026-02-20T08:00:00.000Z")


def test_quoted_datetime_compares_as_instant() -> None:
    assert matches('departure>"2026-02-15T00:00:00Z"')
    assert matches('departure=="2026-02-20T08:00:00Z"')


def test_date_value() -> None:
    assert matches("opening==2026-03-01")
    assert matches("opening<2026-03-02")
    assert not matches("opening>2026-03-01")


def test_time_value() -> None:
    assert matches("closing==19:30:00+01:00")
    assert matches("closing>18:00Z")


def test_date_literal_does_not_order_a_plain_string() -> None:
    assert not matches("routeCode>2026-01-01")


def test_json_ld_value_object_compares_as_its_value() -> None:
    assert matches("sealedAt<2026-06-01T00:00:00Z")


# =============================================================================================
# Paths


def test_sub_attribute() -> None:
    assert matches("speed.accuracy>0.8")
    assert not matches("speed.accuracy>0.95")


def test_sub_attribute_existence() -> None:
    assert matches("speed.accuracy")
    assert not matches("speed.precision")
    assert matches("!speed.precision")


def test_sub_relationship_of_a_relationship() -> None:
    assert matches("isParked.providedBy==urn:ngsi-ld:Person:Bob")


def test_observed_at() -> None:
    assert matches("speed.observedAt>=2026-11-22T03:00:00Z")
    assert not matches("speed.observedAt<2026-11-22T03:00:00Z")


def test_instance_created_and_modified_at() -> None:
    assert matches("speed.createdAt<2026-11-23T00:00:00Z")
    assert not matches("speed.createdAt<2026-11-23")  # a date orders dates, not date-times
    assert not matches("speed.modifiedAt>2026-11-23T00:00:00Z")


def test_unit_code() -> None:
    assert matches('speed.unitCode=="KMH"')
    assert not matches('speed.unitCode=="MTS"')


def test_dataset_id() -> None:
    assert matches("temp.datasetId==urn:ngsi-ld:Dataset:a")
    assert matches("temp.datasetId")
    assert not matches("speed.datasetId")


def test_entity_timestamps() -> None:
    assert matches('modifiedAt>"2026-11-22T04:00:00Z"')
    assert matches("createdAt<2026-11-22T04:00:00Z")
    assert not matches("createdAt>2026-11-22T04:00:00Z")


def test_compound_value_member() -> None:
    assert matches('address[streetAddress]=="Main St"')


def test_compound_value_nested_members() -> None:
    assert matches('address[city][name]=="X"')


def test_compound_value_dotted_members_inside_brackets() -> None:
    assert parse_q("address[city.name]") == parse_q("address[city][name]")
    assert matches('address[city.name]=="X"')


def test_compound_value_array_index() -> None:
    assert matches("address[floors][1]==2")


def test_compound_value_undefined_member_does_not_exist() -> None:
    assert not matches('address[postcode]=="X"')
    assert not matches('address[postcode]!="X"')
    assert not matches("address[postcode]")
    assert matches("!address[postcode]")
    assert matches("address[city]")


# =============================================================================================
# Attribute types


def test_relationship_unquoted_uri() -> None:
    assert matches("isParked==urn:ngsi-ld:Parking:1")
    assert not matches("isParked==urn:ngsi-ld:Parking:2")


def test_relationship_quoted_uri() -> None:
    assert matches('isParked=="urn:ngsi-ld:Parking:1"')
    assert matches('isParked!="urn:ngsi-ld:Parking:2"')


def test_relationship_never_matches_ordering_or_patterns() -> None:
    assert not matches('isParked>"urn:a"')
    assert not matches("isParked~=Parking")


def test_list_relationship() -> None:
    assert matches("stops==urn:ngsi-ld:Stop:1")
    assert not matches("stops==urn:ngsi-ld:Stop:2")


def test_language_map_any_value() -> None:
    assert matches('name=="Parc"')
    assert matches('name=="Park"')
    assert not matches('name=="Garden"')


def test_language_map_unequal_means_no_value_equal() -> None:
    assert matches('name!="Garden"')
    assert not matches('name!="Parc"')


def test_language_tag() -> None:
    assert matches('name[en]=="Park"')
    assert not matches('name[en]=="Parc"')
    assert not matches('name[fr]=="Parc"')


def test_language_any_tag() -> None:
    assert matches('name[*]=="Parc"')
    assert not matches('name[*]!="Parc"')


def test_multi_attribute_matches_any_instance() -> None:
    assert matches("temp==21")
    assert matches("temp==20")
    assert matches("temp>20.5")
    assert not matches("temp==22")


def test_existence() -> None:
    assert matches("speed")
    assert matches("location")
    assert not matches("heading")


def test_non_existence() -> None:
    assert matches("!heading")
    assert not matches("!speed")


def test_geo_property_only_exists() -> None:
    assert not matches('location=="Point"')
    assert not matches('location!="Point"')


def test_different_types_are_unequal() -> None:
    assert not matches('speed=="80"')
    assert matches('speed!="80"')
    assert not matches("routeCode==550")
    assert not matches("routeCode>100")
    assert matches('routeCode>"200"')


def test_array_value_includes() -> None:
    assert matches('tags=="a"')
    assert not matches('tags!="a"')
    assert matches('tags!="c"')


def test_strings_order_lexicographically() -> None:
    assert matches('routeCode<"6"')
    assert matches('routeCode>"5"')


def test_missing_attribute_never_compares() -> None:
    assert not matches("heading!=5")


# =============================================================================================
# Logic


def test_and() -> None:
    assert matches("speed>50;temp==21")
    assert not matches("speed>50;temp==22")


def test_or() -> None:
    assert matches("speed>100|temp==21")
    assert not matches("speed>100|temp==22")


def test_and_binds_tighter_than_or() -> None:
    assert parse_q("a|b;c") == Or(
        (Exists(AttrPath("a")), And((Exists(AttrPath("b")), Exists(AttrPath("c")))))
    )
    assert matches("speed|heading;wings")


def test_parentheses_group() -> None:
    assert parse_q("(a|b);c") == And(
        (Or((Exists(AttrPath("a")), Exists(AttrPath("b")))), Exists(AttrPath("c")))
    )
    assert not matches("(speed|heading);wings")
    assert matches("(heading|speed);temp")


def test_nested_parentheses_and_flattening() -> None:
    assert parse_q("((a;b);c)") == parse_q("a;b;c")
    assert parse_q("a|(b|(c))") == parse_q("a|b|c")


def test_whitespace_between_tokens_is_tolerated() -> None:
    assert parse_q(" ( speed > 50 ; temp == 20 , 21 ) | x ~= a b ") == parse_q(
        "(speed>50;temp==20,21)|x~=a b"
    )


# =============================================================================================
# Queries the ETSI test suite sends


@pytest.mark.parametrize(
    "text",
    [
        "speed>50",
        'brandName!="Mercedes"',
        'isParked=="urn:ngsi-ld:OffStreetParking:Downtown1"',
        "(a==1|b==2);c",
        "name~=(?i)park.*",
        'name=="Pisa Tower";almostFull==false',
        '(name=="Pisa Tower"|name=="Eiffel Tower");almostFull==false',
        "airQualityLevel>=4;airQualityLevel<7",
        "locatedIn==urn:ngsi-ld:City:Pisa|locatedIn==urn:ngsi-ld:City:Paris",
        "airQualityLevel==4..5",
        'name!="Eiffel Tower","Big Ben"',
        'name!~="^Eiffel"',
        'address[city]=="Berlin"',
        'color[*]!="red"',
        "!heading;speed>25",
        "category==commercial",
        'modifiedAt>"2020-01-01T00:00:00Z"',
        'speed>25|name~="^m"',
    ],
)
def test_etsi_suite_queries_parse_and_round_trip(text: str) -> None:
    expr = parse_q(text)
    assert parse_q(format_q(expr)) == expr


# =============================================================================================
# Errors


@pytest.mark.parametrize(
    ("text", "offset", "says"),
    [
        ("", 0, "empty"),
        ("speed=50", 5, "use '=='"),
        ("speed>", 6, "missing value"),
        ("speed>4..5", 5, "only go with '==' or '!='"),
        ("speed>1,2", 5, "only go with '==' or '!='"),
        ("parked>true", 7, "booleans"),
        ("ref>urn:a", 4, "quote strings"),
        ("(a==1", 5, "close the '(' at offset 0"),
        ("a==1)", 4, "without a matching '('"),
        ("a;;b", 2, "attribute name"),
        ('a=="open', 3, "closing '\"'"),
        ('a=="bad \\q"', 8, "invalid string"),
        ("a==2026-13-01", 3, "not a valid date"),
        ("a==25:00", 3, "not a valid time"),
        ("a==12abc", 3, "invalid value"),
        ("a==1 2", 5, "after the value"),
        ("a==1..x", 6, "range bounds"),
        ('a==1.."x"', 4, "same type"),
        ("a==1,2..3", 6, "cannot contain a range"),
        ("a~=", 3, "missing regular expression"),
        ("a~=x(?i)", 4, "invalid regular expression"),
        ("!a==1", 2, "only negates an existence"),
        ("a.observedAt.b", 2, "last name"),
        ("a.unitCode[x]", 2, "no members"),
        ("observedAt>1", 0, "instance metadata"),
        ("createdAt.x", 0, "entity's timestamp"),
        ("a[b", 1, "closing ']'"),
        ("a[b..c]", 4, "member name"),
        ("owner{name}==1", 5, "linked-entity"),
        ("a b", 2, "expected an operator"),
        ("(" * 40 + "a" + ")" * 40, 32, "nested deeper"),
    ],
)
def test_parse_errors_say_what_and_where(text: str, offset: int, says: str) -> None:
    detail = parse_error(text)
    assert f"at offset {offset}:" in detail
    assert says in detail


def test_parse_error_is_bad_request_data() -> None:
    with pytest.raises(BadRequestData) as caught:
        parse_q("a=1")
    assert caught.value.status == 400


def test_number_out_of_range_is_an_error() -> None:
    assert "out of range" in parse_error("a==1e400")


# =============================================================================================
# Names


def test_q_attr_names() -> None:
    assert q_attr_names(parse_q("(speed.accuracy>1|!heading);address[city];createdAt")) == {
        "speed",
        "heading",
        "address",
        "createdAt",
    }


def test_map_q_names_maps_attributes_and_sub_attributes_only() -> None:
    mapped = map_q_names(
        parse_q("speed.accuracy.observedAt>1;address[city.name];createdAt"), str.upper
    )
    assert mapped == And(
        (
            Compare(
                AttrPath("SPEED", ("ACCURACY",), "observedAt"), Op.GT, Value(ValueKind.NUMBER, 1)
            ),
            Exists(AttrPath("ADDRESS", (), None, ("city", "name"))),
            Exists(AttrPath("createdAt")),
        )
    )


def test_compact_iri_names_are_accepted() -> None:
    assert q_attr_names(parse_q("schema:name==x;co2-level>1")) == {"schema:name", "co2-level"}


# =============================================================================================
# Property tests of q

QUERY_ALPHABET = 'ab1.-:[]()!=<>~;|,"\\ *TZ0e'


@given(st.text())
def test_parse_q_only_raises_bad_request_data_on_any_text(text: str) -> None:
    with contextlib.suppress(BadRequestData):
        parse_q(text)


@given(st.text(alphabet=QUERY_ALPHABET, max_size=40))
def test_parse_q_only_raises_bad_request_data_on_query_like_text(text: str) -> None:
    try:
        expr = parse_q(text)
    except BadRequestData:
        return
    assert parse_q(format_q(expr)) == expr
    match_q(expr, ENTITY)  # and evaluation of whatever parses never raises


_META = ("observedAt", "createdAt", "modifiedAt", "unitCode", "datasetId")
names = st.from_regex(r"[A-Za-z0-9_][A-Za-z0-9_:\-]{0,6}", fullmatch=True).filter(
    lambda n: n not in _META
)
keys = st.from_regex(r"[A-Za-z0-9_*\-]{1,5}", fullmatch=True)


@st.composite
def paths(draw: st.DrawFn) -> AttrPath:
    meta = draw(st.none() | st.sampled_from(_META))
    return AttrPath(
        draw(names),
        tuple(draw(st.lists(names, max_size=2))),
        meta,
        () if meta else tuple(draw(st.lists(keys, max_size=2))),
    )


def _datetime_text(moment: datetime, fraction: bool) -> str:
    text = moment.strftime("%Y-%m-%dT%H:%M:%S")
    return text + (f".{moment.microsecond:06d}" if fraction else "") + "Z"


numbers = st.integers(-(10**12), 10**12) | st.floats(allow_nan=False, allow_infinity=False)
plain_strings = st.text(max_size=12).filter(lambda s: Value(ValueKind.STRING, s).temporal is None)
datetimes = st.builds(
    _datetime_text,
    st.datetimes(min_value=datetime(1000, 1, 1), max_value=datetime(2999, 1, 1)),
    st.booleans(),
)
comparable_families = [
    numbers.map(lambda n: Value(ValueKind.NUMBER, n)),
    plain_strings.map(lambda s: Value(ValueKind.STRING, s)),
    datetimes.map(lambda s: Value(ValueKind.DATETIME, s)),
    st.dates(min_value=datetime(1000, 1, 1).date()).map(
        lambda d: Value(ValueKind.DATE, d.isoformat())
    ),
    st.times().map(lambda t: Value(ValueKind.TIME, t.isoformat() + "Z")),
]
comparables = st.one_of(comparable_families)
uris = st.from_regex(r"[a-z][a-z0-9+.\-]{0,5}:[A-Za-z0-9:._~/\-]{1,10}", fullmatch=True)
values = (
    comparables
    | st.booleans().map(lambda b: Value(ValueKind.BOOLEAN, b))
    | uris.map(lambda u: Value(ValueKind.URI, u))
)
ranges = st.sampled_from(comparable_families).flatmap(
    lambda family: st.builds(Range, family, family)
)
patterns = st.sampled_from(
    ["^a", "(?i)park.*", "a|b", "[;|)]x", 'say "hi"', r"\d+", "a\\\\", "x(y|z)", "é+"]
).map(Pattern)


@st.composite
def terms(draw: st.DrawFn) -> QExpr:
    path = draw(paths())
    op = draw(st.sampled_from(list(Op)) | st.none())
    if op is None:
        return Exists(path, draw(st.booleans()))
    if op in (Op.MATCH, Op.NOT_MATCH):
        return Compare(path, op, draw(patterns))
    if op in (Op.EQ, Op.NE):
        operand = draw(
            values
            | ranges
            | st.lists(values, min_size=2, max_size=4).map(lambda v: ValueList(tuple(v)))
        )
        return Compare(path, op, operand)
    return Compare(path, op, draw(comparables))


def _flat(kind: type[And] | type[Or], items: list[QExpr]) -> QExpr:
    flat: list[QExpr] = []
    for item in items:
        flat.extend(item.terms if isinstance(item, kind) else (item,))
    return kind(tuple(flat))


expressions = st.recursive(
    terms(),
    lambda children: (
        st.lists(children, min_size=2, max_size=3).map(lambda t: _flat(And, t))
        | st.lists(children, min_size=2, max_size=3).map(lambda t: _flat(Or, t))
    ),
    max_leaves=8,
)


@given(expressions)
def test_generated_expressions_round_trip(expr: QExpr) -> None:
    assert parse_q(format_q(expr)) == expr


@given(expressions)
def test_generated_expressions_evaluate_without_raising(expr: QExpr) -> None:
    match_q(map_q_names(expr, expand), ENTITY)


# =============================================================================================
# Geo-queries. Brașov: Piața Sfatului (the council square) at about 25.5887 E, 45.6425 N.

SQUARE = [25.5887, 45.6425]
# the old town, roughly, as a rectangle around the square
OLD_TOWN = [
    [[25.580, 45.636], [25.596, 45.636], [25.596, 45.648], [25.580, 45.648], [25.580, 45.636]]
]
M_PER_DEGREE = EARTH_RADIUS_M * math.pi / 180  # 111195.08 m


def point(lon: float, lat: float) -> dict[str, Any]:
    return {"type": "Point", "coordinates": [lon, lat]}


def test_haversine_known_figures() -> None:
    # 0.01 degree of latitude along a meridian is R * 0.01 * pi / 180
    assert haversine_m(25.59, 45.65, 25.59, 45.66) == pytest.approx(1111.9508, abs=1e-3)
    # 1 degree of longitude on the equator
    assert haversine_m(0, 0, 1, 0) == pytest.approx(111195.0797, abs=1e-3)


def test_haversine_matches_the_spherical_law_of_cosines() -> None:
    lon1, lat1, lon2, lat2 = 25.5887, 45.6425, 25.6173, 45.6603  # square -> railway station
    p1, p2, dl = math.radians(lat1), math.radians(lat2), math.radians(lon2 - lon1)
    expected = EARTH_RADIUS_M * math.acos(
        math.sin(p1) * math.sin(p2) + math.cos(p1) * math.cos(p2) * math.cos(dl)
    )
    assert haversine_m(lon1, lat1, lon2, lat2) == pytest.approx(expected, rel=1e-9)
    assert expected == pytest.approx(2976.5, abs=0.1)


def test_near_max_distance_between_points() -> None:
    north = point(25.59, 45.66)  # 1111.95 m north of the query point
    assert match_geo(parse_geoquery("near;maxDistance==1112", "Point", "[25.59,45.65]"), north)
    assert not match_geo(parse_geoquery("near;maxDistance==1111", "Point", "[25.59,45.65]"), north)


def test_near_min_distance_between_points() -> None:
    north = point(25.59, 45.66)
    assert match_geo(parse_geoquery("near;minDistance==1111", "Point", "[25.59,45.65]"), north)
    assert not match_geo(parse_geoquery("near;minDistance==1112", "Point", "[25.59,45.65]"), north)


def test_near_multipoint_uses_the_closest_point() -> None:
    gq = parse_geoquery("near;maxDistance==1112", "Point", "[25.59,45.65]")
    assert match_geo(gq, {"type": "MultiPoint", "coordinates": [[26.0, 46.0], [25.59, 45.66]]})


def test_near_line_measures_to_its_closest_point() -> None:
    # an east-west street 0.01 degree north of the query point, its ends far to either side
    street = {"type": "LineString", "coordinates": [[25.55, 45.66], [25.63, 45.66]]}
    assert match_geo(parse_geoquery("near;maxDistance==1113", "Point", "[25.59,45.65]"), street)
    assert not match_geo(parse_geoquery("near;maxDistance==1110", "Point", "[25.59,45.65]"), street)


def test_near_polygon_holding_the_point_is_at_distance_zero() -> None:
    area = {"type": "Polygon", "coordinates": OLD_TOWN}
    assert match_geo(parse_geoquery("near;maxDistance==1", "Point", SQUARE), area)
    assert not match_geo(parse_geoquery("near;minDistance==1", "Point", SQUARE), area)


def test_near_line_is_metric_at_high_latitude() -> None:
    # from [0,85]: the line's end [1,85] is ~9.7 km east, its end [0,85.6] ~67 km north
    line = {"type": "LineString", "coordinates": [[1, 85], [0, 85.6]]}
    assert match_geo(parse_geoquery("near;maxDistance==20000", "Point", "[0,85]"), line)
    assert not match_geo(parse_geoquery("near;maxDistance==5000", "Point", "[0,85]"), line)


def test_within() -> None:
    gq = parse_geoquery("within", "Polygon", OLD_TOWN)
    assert match_geo(gq, point(*SQUARE))
    assert not match_geo(gq, point(25.61, 45.66))
    assert match_geo(gq, {"type": "LineString", "coordinates": [[25.585, 45.64], [25.59, 45.645]]})


def test_within_excludes_a_polygon_hole() -> None:
    holed = [
        OLD_TOWN[0],
        [[25.587, 45.641], [25.590, 45.641], [25.590, 45.644], [25.587, 45.644], [25.587, 45.641]],
    ]
    gq = parse_geoquery("within", "Polygon", holed)
    assert not match_geo(gq, point(*SQUARE))
    assert match_geo(gq, point(25.582, 45.638))


def test_contains() -> None:
    area = {"type": "Polygon", "coordinates": OLD_TOWN}
    assert match_geo(parse_geoquery("contains", "Point", SQUARE), area)
    assert not match_geo(parse_geoquery("contains", "Point", "[25.61,45.66]"), area)
    assert match_geo(parse_geoquery("contains", "Point", SQUARE), point(*SQUARE))


def test_intersects() -> None:
    gq = parse_geoquery("intersects", "Polygon", OLD_TOWN)
    road = {"type": "LineString", "coordinates": [[25.57, 45.64], [25.60, 45.64]]}
    assert match_geo(gq, road)
    assert match_geo(gq, point(*SQUARE))
    assert not match_geo(gq, point(25.61, 45.66))


def test_disjoint() -> None:
    gq = parse_geoquery("disjoint", "Polygon", OLD_TOWN)
    assert match_geo(gq, point(25.61, 45.66))
    assert not match_geo(gq, point(*SQUARE))
    assert not match_geo(
        gq, {"type": "LineString", "coordinates": [[25.57, 45.64], [25.60, 45.64]]}
    )


def test_equals() -> None:
    assert match_geo(parse_geoquery("equals", "Point", SQUARE), point(*SQUARE))
    assert not match_geo(parse_geoquery("equals", "Point", SQUARE), point(25.5888, 45.6425))
    rotated = [[*OLD_TOWN[0][1:], OLD_TOWN[0][1]]]  # same ring from another vertex
    assert match_geo(
        parse_geoquery("equals", "Polygon", OLD_TOWN), {"type": "Polygon", "coordinates": rotated}
    )


def test_overlaps() -> None:
    shifted = [[[x + 0.008, y] for x, y in OLD_TOWN[0]]]
    gq = parse_geoquery("overlaps", "Polygon", OLD_TOWN)
    assert match_geo(gq, {"type": "Polygon", "coordinates": shifted})
    assert not match_geo(gq, {"type": "Polygon", "coordinates": OLD_TOWN})  # equal, not overlapping


@pytest.mark.parametrize(
    "stored",
    [
        None,
        "Point",
        {},
        {"type": "Point"},
        {"type": "Point", "coordinates": ["a", "b"]},
        {"type": "Point", "coordinates": [True, False]},
        {"type": "Point", "coordinates": [float("nan"), 0.5]},
        {"type": "Point", "coordinates": [200.5, 0.5]},
        {"type": "LineString", "coordinates": [[0, 0], [200, 0]]},
        {"type": "Polygon", "coordinates": [[[0, 0]]]},
        {"type": "Circle", "coordinates": [0, 0]},
        {"type": "GeometryCollection", "geometries": "x"},
    ],
)
@pytest.mark.parametrize(
    "georel",
    [
        "near;maxDistance==1000",
        "within",
        "contains",
        "intersects",
        "disjoint",
        "equals",
        "overlaps",
    ],
)
def test_unreadable_stored_geometry_does_not_match(stored: Any, georel: str) -> None:
    gq = parse_geoquery(georel, "Point", "[0.5,0.5]")
    assert match_geo(gq, stored) is False


def test_geometry_collection_is_matched() -> None:
    stored = {"type": "GeometryCollection", "geometries": [point(10, 10), point(*SQUARE)]}
    assert match_geo(parse_geoquery("intersects", "Polygon", OLD_TOWN), stored)


# --- geo parsing --------------------------------------------------------------------------------


def test_parse_geoquery_from_text() -> None:
    gq = parse_geoquery("near;maxDistance==2000", "Point", "[8.0,40.0]", "observationSpace")
    assert (gq.relation, gq.max_distance, gq.min_distance) == ("near", 2000.0, None)
    assert (gq.geometry, gq.coordinates, gq.geoproperty) == (
        "Point",
        (8.0, 40.0),
        "observationSpace",
    )
    assert gq.georel == "near;maxDistance==2000"


def test_parse_geoquery_from_parsed_json_and_default_geoproperty() -> None:
    gq = parse_geoquery("within", "Polygon", OLD_TOWN)
    assert gq == parse_geoquery("within", "Polygon", str(OLD_TOWN))
    assert gq.geoproperty == "location"


def test_geometry_name_is_case_insensitive() -> None:
    assert parse_geoquery("equals", "point", "[1,2]").geometry == "Point"


@pytest.mark.parametrize(
    ("georel", "geometry", "coordinates", "says"),
    [
        ("near", "Point", "[8,40]", "exactly one distance"),
        ("near;maxDistance==5;minDistance==1", "Point", "[8,40]", "exactly one distance"),
        ("near;maxDistance==0", "Point", "[8,40]", "positive number of metres"),
        ("near;maxDistance==-100", "Point", "[8,40]", "positive number of metres"),
        ("near;maxDistance==inf", "Point", "[8,40]", "positive number of metres"),
        ("near;maxDistance==1e400", "Point", "[8,40]", "positive number of metres"),
        ("near;maxDistance==10", "Polygon", str(OLD_TOWN), "needs geometry Point"),
        ("touches", "Point", "[8,40]", "not one of near"),
        ("within", "Circle", "[8,40]", "geometry 'Circle' is not one of"),
        ("within", "Point", "[8,40", "not valid JSON"),
        ("within", "Point", "[NaN,40]", "not valid JSON"),
        ("within", "Point", "[8]", "2 or 3 numbers"),
        ("within", "Point", '["8",40]', "must be numbers"),
        ("within", "Point", "[181,40]", "longitude 181 is outside"),
        ("within", "Point", "[8,-91]", "latitude -91 is outside"),
        ("within", "LineString", "[[8,40]]", "at least 2 positions"),
        (
            "within",
            "Polygon",
            "[[8,40],[9,40],[9,41],[8,40]]",
            "coordinates[0]: expected an array of positions (a linear ring), found a number",
        ),
        ("within", "Polygon", "[[[8,40],[9,40],[8,40]]]", "at least 4 positions"),
        ("within", "Polygon", "[[[8,40],[9,40],[9,41],[8,41]]]", "not closed"),
        (
            "within",
            "Polygon",
            "[[[0,0],[2,0],[2,2],[0,2],[0,0]],[[5,5],[6,5],[6,6],[5,5]]]",
            "Hole",
        ),
        ("within", "MultiPoint", "[]", "at least 1 positions"),
    ],
)
def test_parse_geoquery_errors(georel: str, geometry: str, coordinates: str, says: str) -> None:
    with pytest.raises(BadRequestData) as caught:
        parse_geoquery(georel, geometry, coordinates)
    assert says in caught.value.detail


def test_a_self_intersecting_polygon_is_repaired_not_refused() -> None:
    # RFC 7946 asks only for closed rings of 4+ positions; a bowtie is accepted and predicates
    # see the area it encloses (GEOS make_valid: two triangles).
    bowtie = "[[[0,0],[1,1],[1,0],[0,1],[0,0]]]"
    query = parse_geoquery("intersects", "Polygon", bowtie)
    assert match_geo(query, {"type": "Point", "coordinates": [0.1, 0.5]})
    assert not match_geo(query, {"type": "Point", "coordinates": [0.5, 0.1]})
    validate_geojson_geometry({"type": "Polygon", "coordinates": orjson.loads(bowtie)})
    square = parse_geoquery("within", "Polygon", "[[[-1,-1],[2,-1],[2,2],[-1,2],[-1,-1]]]")
    assert match_geo(square, {"type": "Polygon", "coordinates": orjson.loads(bowtie)})


def test_geo_error_says_where() -> None:
    with pytest.raises(BadRequestData) as caught:
        parse_geoquery(
            "within", "MultiPolygon", [OLD_TOWN, [[[0, 0], [1, 0], [1, 1], [0, 0], [0, 95]]]]
        )
    assert "coordinates[1][0][4]: latitude 95 is outside [-90, 90]" in caught.value.detail


def test_georel_accepts_the_ngsiv2_colon_and_spaces() -> None:
    assert parse_geoquery("near; minDistance:10", "Point", "[1,2]").min_distance == 10.0


# --- bounding boxes -----------------------------------------------------------------------------


def test_geo_bbox_of_area_relations_is_the_query_bounds() -> None:
    for georel in ("within", "contains", "intersects", "overlaps", "equals"):
        assert geo_bbox(parse_geoquery(georel, "Polygon", OLD_TOWN)) == (
            25.58,
            45.636,
            25.596,
            45.648,
        )


def test_geo_bbox_is_none_when_nothing_bounds_the_matches() -> None:
    assert geo_bbox(parse_geoquery("disjoint", "Polygon", OLD_TOWN)) is None
    assert geo_bbox(parse_geoquery("near;minDistance==10", "Point", SQUARE)) is None


def test_geo_bbox_of_near_scales_longitude() -> None:
    box = geo_bbox(parse_geoquery("near;maxDistance==1000", "Point", SQUARE))
    assert box is not None
    _, _, maxx, maxy = box
    dlat = 1000 / M_PER_DEGREE
    assert maxy - SQUARE[1] == pytest.approx(dlat, rel=1e-4)
    assert maxx - SQUARE[0] == pytest.approx(dlat / math.cos(math.radians(SQUARE[1])), rel=1e-4)


def test_geo_bbox_of_near_a_pole_spans_all_longitudes() -> None:
    assert geo_bbox(
        parse_geoquery("near;maxDistance==200000", "Point", "[10,89]")
    ) == pytest.approx((-180.0, 89 - 200000 / M_PER_DEGREE, 180.0, 90.0), rel=1e-5)


def test_geo_bbox_across_the_antimeridian_spans_all_longitudes() -> None:
    box = geo_bbox(parse_geoquery("near;maxDistance==5000", "Point", "[179.99,0]"))
    assert box is not None
    assert (box[0], box[2]) == (-180.0, 180.0)


def test_geometry_bbox() -> None:
    assert geometry_bbox({"type": "Polygon", "coordinates": OLD_TOWN}) == (
        25.58,
        45.636,
        25.596,
        45.648,
    )
    assert geometry_bbox(point(*SQUARE)) == (25.5887, 45.6425, 25.5887, 45.6425)


def test_geometry_bbox_rejects_an_invalid_geometry() -> None:
    with pytest.raises(BadRequestData):
        geometry_bbox({"type": "Point", "coordinates": [200, 0]})


# --- validation of stored geometries -------------------------------------------------------------


def test_validate_accepts_every_geometry_type() -> None:
    for geometry in (
        point(*SQUARE),
        {"type": "Point", "coordinates": [25.5887, 45.6425, 560.0]},
        {"type": "MultiPoint", "coordinates": [SQUARE, [25.6, 45.6]]},
        {"type": "LineString", "coordinates": [SQUARE, [25.6, 45.6]]},
        {"type": "MultiLineString", "coordinates": [[SQUARE, [25.6, 45.6]]]},
        {"type": "Polygon", "coordinates": OLD_TOWN},
        {"type": "MultiPolygon", "coordinates": [OLD_TOWN]},
        {"type": "GeometryCollection", "geometries": [point(*SQUARE)]},
    ):
        validate_geojson_geometry(geometry)


@pytest.mark.parametrize(
    ("geometry", "says"),
    [
        ([1, 2], "is a JSON object"),
        ({"type": "Circle", "coordinates": [0, 0]}, "type 'Circle' is not one of"),
        ({"type": "Point"}, "needs 'coordinates'"),
        (
            {"type": "Point", "coordinates": [0, 0, 0, 0]},
            "coordinates: a position is an array of 2 or 3",
        ),
        ({"type": "Point", "coordinates": [float("nan"), 0]}, "finite"),
        (
            {"type": "LineString", "coordinates": [[0, 0], [0, 0]]},
            "invalid LineString: Too few points",
        ),
        (
            {"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [1, 1], [0, 1]]]},
            "coordinates[0]: the linear ring is not closed",
        ),
        ({"type": "GeometryCollection", "geometries": []}, "non-empty 'geometries'"),
    ],
)
def test_validate_rejects_with_a_precise_message(geometry: Any, says: str) -> None:
    with pytest.raises(BadRequestData) as caught:
        validate_geojson_geometry(geometry)
    assert says in caught.value.detail


# --- property tests of geo ------------------------------------------------------------------------

json_scalars = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=5)
json_arrays = st.recursive(
    st.lists(json_scalars, max_size=4), lambda inner: st.lists(inner, max_size=4), max_leaves=20
)
georels = st.sampled_from(
    [
        "near;maxDistance==100",
        "near;minDistance==1",
        "within",
        "contains",
        "intersects",
        "disjoint",
        "equals",
        "overlaps",
    ]
) | st.text(max_size=30)
geometries = st.sampled_from(
    ["Point", "MultiPoint", "LineString", "MultiLineString", "Polygon", "MultiPolygon"]
) | st.text(max_size=12)


@given(georels, geometries, st.text(max_size=40) | json_arrays, st.none() | st.text(max_size=10))
def test_parse_geoquery_only_raises_bad_request_data(
    georel: str, geometry: str, coordinates: Any, geoproperty: str | None
) -> None:
    with contextlib.suppress(BadRequestData):
        parse_geoquery(georel, geometry, coordinates, geoproperty)


@given(
    st.recursive(
        json_scalars | json_arrays,
        lambda inner: st.dictionaries(
            st.sampled_from(["type", "coordinates", "geometries"]), inner
        ),
        max_leaves=10,
    )
)
def test_validate_geojson_only_raises_bad_request_data(geometry: Any) -> None:
    with contextlib.suppress(BadRequestData):
        validate_geojson_geometry(geometry)


def _offset(lon0: float, lat0: float, east_m: float, north_m: float) -> tuple[float, float]:
    lat = max(-90.0, min(90.0, lat0 + north_m / M_PER_DEGREE))
    lon = lon0 + east_m / (M_PER_DEGREE * max(math.cos(math.radians(lat0)), 1e-6))
    return (lon + 180.0) % 360.0 - 180.0, lat


def _in_box(box: tuple[float, float, float, float], lon: float, lat: float) -> bool:
    return box[0] <= lon <= box[2] and box[1] <= lat <= box[3]


near_cases = st.tuples(
    st.floats(-180, 180),
    st.floats(-89.9, 89.9),
    st.floats(1, 300_000),
)


@settings(max_examples=300)
@given(
    near_cases,
    st.lists(st.tuples(st.floats(-1.5, 1.5), st.floats(-1.5, 1.5)), min_size=1, max_size=4),
)
def test_geo_bbox_holds_every_point_near_matches(
    case: tuple[float, float, float], offsets: list[tuple[float, float]]
) -> None:
    lon0, lat0, distance = case
    gq = parse_geoquery(f"near;maxDistance=={distance!r}", "Point", [lon0, lat0])
    box = geo_bbox(gq)
    assert box is not None
    for east, north in offsets:
        lon, lat = _offset(lon0, lat0, east * distance, north * distance)
        if match_geo(gq, point(lon, lat)):
            assert _in_box(box, lon, lat), (lon, lat, box)


@settings(max_examples=300)
@given(
    near_cases,
    st.tuples(
        st.floats(-1.5, 1.5), st.floats(-1.5, 1.5), st.floats(-1.5, 1.5), st.floats(-1.5, 1.5)
    ),
)
def test_geo_bbox_meets_every_line_near_matches(
    case: tuple[float, float, float], ends: tuple[float, ...]
) -> None:
    lon0, lat0, distance = case
    assume(abs(lon0) < 170)  # a line across the antimeridian is another problem
    gq = parse_geoquery(f"near;maxDistance=={distance!r}", "Point", [lon0, lat0])
    box = geo_bbox(gq)
    assert box is not None
    a = _offset(lon0, lat0, ends[0] * distance, ends[1] * distance)
    b = _offset(lon0, lat0, ends[2] * distance, ends[3] * distance)
    assume(abs(a[0] - b[0]) < 180)
    line = {"type": "LineString", "coordinates": [list(a), list(b)]}
    if a != b and match_geo(gq, line):
        assert shapely.intersects(shapely.box(*box), shapely.LineString([a, b]))


@given(st.floats(25.57, 25.61), st.floats(45.63, 45.66))
def test_geo_bbox_holds_every_point_within_matches(lon: float, lat: float) -> None:
    gq = parse_geoquery("within", "Polygon", OLD_TOWN)
    box = geo_bbox(gq)
    assert box is not None
    if match_geo(gq, point(lon, lat)):
        assert _in_box(box, lon, lat)
