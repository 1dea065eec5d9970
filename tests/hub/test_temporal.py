"""The NGSI-LD temporal API: history recorded by writes, time selections, representations,
aggregation, temporal writes and deletes, errors, tenants; and the pure parts in temporal.py."""

from __future__ import annotations

import contextlib
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from hypothesis import example, given, settings
from hypothesis import strategies as st

from cetate.errors import BadRequestData, InvalidRequest
from cetate.hub.temporal import (
    AGGREGATED_VALUES,
    TEMPORAL_VALUES,
    Duration,
    TemporalQuery,
    aggregate,
    format_instant,
    parse_duration,
    parse_instant,
    parse_temporal_query,
    parse_view,
    simplify,
)

BASE = "/ngsi-ld/v1"
VEHICLE = "urn:ngsi-ld:Vehicle:A"
HOUR_US = 3_600_000_000


# `client` (tests/hub/conftest.py) runs every test on each store.


def problem(response: Any, status: int, kind: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    assert body["type"] == f"https://uri.etsi.org/ngsi-ld/errors/{kind}", body
    assert body["status"] == status and body["title"] and body["detail"]
    return body


def instances(*pairs: tuple[Any, str], **extra: Any) -> list[dict[str, Any]]:
    return [{"type": "Property", "value": v, "observedAt": t, **extra} for v, t in pairs]


def vehicle(entity_id: str = VEHICLE, **attrs: Any) -> dict[str, Any]:
    """The test suite's vehicle: speed and fuelLevel readings on 2020-08-01."""
    return {
        "id": entity_id,
        "type": "Vehicle",
        "speed": instances(
            (120, "2020-08-01T12:03:00Z"),
            (80, "2020-08-01T12:05:00Z"),
            (100, "2020-08-01T12:07:00Z"),
        ),
        "fuelLevel": instances(
            (67, "2020-08-01T12:03:00Z"), (53, "2020-08-01T13:05:00Z"), (40, "2020-08-01T14:07:00Z")
        ),
        **attrs,
    }


def post_temporal(
    client: TestClient,
    entity: dict[str, Any],
    status: int = 201,
    headers: dict[str, str] | None = None,
) -> None:
    response = client.post(f"{BASE}/temporal/entities", json=entity, headers=headers)
    assert response.status_code == status, response.text


def get_one(client: TestClient, query: str = "", entity_id: str = VEHICLE, **headers: str) -> Any:
    response = client.get(f"{BASE}/temporal/entities/{entity_id}?{query}", headers=headers)
    assert response.status_code == 200, response.text
    return response.json()


def observed(attr: list[dict[str, Any]]) -> list[str]:
    return [i["observedAt"] for i in attr]


# ---------------------------------------------------------------------------------------------
# History recorded by the entity API


def test_entity_writes_record_history(client: TestClient) -> None:
    entity = {
        "id": "urn:ngsi-ld:Sensor:1",
        "type": "Sensor",
        "temperature": {"type": "Property", "value": 20.5, "observedAt": "2020-11-22T08:00:00Z"},
        "name": {"type": "Property", "value": "north gate"},
    }
    before = datetime.now(UTC) - timedelta(seconds=1)
    assert client.post(f"{BASE}/entities", json=entity).status_code == 201
    update = {
        "temperature": {"type": "Property", "value": 21.0, "observedAt": "2020-11-22T09:00:00Z"}
    }
    assert (
        client.patch(f"{BASE}/entities/urn:ngsi-ld:Sensor:1/attrs", json=update).status_code == 204
    )
    append = {"temperature": {"type": "Property", "value": 22.0}}  # no observedAt
    assert (
        client.post(f"{BASE}/entities/urn:ngsi-ld:Sensor:1/attrs", json=append).status_code == 204
    )
    after = datetime.now(UTC) + timedelta(seconds=1)

    got = get_one(client, "options=sysAttrs", "urn:ngsi-ld:Sensor:1")
    assert got["id"] == "urn:ngsi-ld:Sensor:1" and got["type"] == "Sensor"
    temperature = got["temperature"]
    # observedAt when given; the third has none and is filed at its modification time (now).
    assert [i["value"] for i in temperature] == [20.5, 21.0, 22.0]
    assert [i.get("observedAt") for i in temperature] == [
        "2020-11-22T08:00:00Z",
        "2020-11-22T09:00:00Z",
        None,
    ]
    assert all(i["instanceId"].startswith("urn:") for i in temperature)
    assert len({i["instanceId"] for i in temperature}) == 3
    modified = datetime.fromisoformat(temperature[2]["modifiedAt"])
    assert before <= modified <= after
    assert got["name"][0]["value"] == "north gate" and "observedAt" not in got["name"][0]

    # The modification time is what a time selection sees for the instance without observedAt.
    since = before.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    recent = get_one(
        client, f"timerel=after&timeAt={since}&attrs=temperature", "urn:ngsi-ld:Sensor:1"
    )
    assert [i["value"] for i in recent["temperature"]] == [22.0]
    # Without sysAttrs the system members stay out.
    plain = get_one(client, "", "urn:ngsi-ld:Sensor:1")
    assert (
        "modifiedAt" not in plain["temperature"][0] and "createdAt" not in plain["temperature"][0]
    )


def test_history_instances_are_in_time_order(client: TestClient) -> None:
    entity: dict[str, Any] = {"id": "urn:ngsi-ld:Sensor:2", "type": "Sensor"}
    entity["t"] = {"type": "Property", "value": 2, "observedAt": "2026-11-22T10:00:00Z"}
    assert client.post(f"{BASE}/entities", json=entity).status_code == 201
    late_report = {"t": {"type": "Property", "value": 1, "observedAt": "2026-11-22T09:00:00Z"}}
    assert (
        client.post(f"{BASE}/entities/urn:ngsi-ld:Sensor:2/attrs", json=late_report).status_code
        == 204
    )
    got = get_one(client, "", "urn:ngsi-ld:Sensor:2")
    assert [i["value"] for i in got["t"]] == [1, 2]


# ---------------------------------------------------------------------------------------------
# Time selection


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("", ["12:03", "12:05", "12:07"]),
        # after: inclusive bound
        ("timerel=after&timeAt=2020-08-01T12:05:00Z", ["12:05", "12:07"]),
        ("timerel=after&timeAt=2020-08-01T12:05:00.000Z", ["12:05", "12:07"]),
        ("timerel=after&timeAt=2020-08-01T14:05:00%2B02:00", ["12:05", "12:07"]),
        ("timerel=after&timeAt=2020-08-01T12:05:00.001Z", ["12:07"]),
        # before: exclusive bound
        ("timerel=before&timeAt=2020-08-01T12:05:00Z", ["12:03"]),
        ("timerel=before&timeAt=2020-08-01T12:05:00.001Z", ["12:03", "12:05"]),
        # between: timeAt inclusive, endTimeAt exclusive
        ("timerel=between&timeAt=2020-08-01T12:03:00Z&endTimeAt=2020-08-01T12:05:00Z", ["12:03"]),
        (
            "timerel=between&timeAt=2020-08-01T12:03:00Z&endTimeAt=2020-08-01T12:07:00.000001Z",
            ["12:03", "12:05", "12:07"],
        ),
        (
            "timerel=between&timeAt=2020-08-01T12:03:00.001Z&endTimeAt=2020-08-01T12:07:00Z",
            ["12:05"],
        ),
        # lastN: the last N instances of the selection, still in time order
        ("lastN=2", ["12:05", "12:07"]),
        ("lastN=10", ["12:03", "12:05", "12:07"]),
        ("timerel=before&timeAt=2020-08-01T12:07:00Z&lastN=1", ["12:05"]),
        ("timerel=after&timeAt=2020-08-01T13:00:00Z", []),
    ],
)
def test_time_selection(client: TestClient, query: str, expected: list[str]) -> None:
    post_temporal(client, vehicle())
    got = get_one(client, query + "&attrs=speed")
    assert set(got) <= {"id", "type", "speed"}
    assert [t[11:16] for t in observed(got.get("speed", []))] == expected


def test_timeproperty_modified_at(client: TestClient) -> None:
    before = datetime.now(UTC) - timedelta(seconds=1)
    post_temporal(client, vehicle())
    since = before.strftime("%Y-%m-%dT%H:%M:%SZ")
    # observedAt (2020) is before that time; the instances were written after it.
    assert "speed" not in get_one(client, f"timerel=after&timeAt={since}")
    got = get_one(client, f"timerel=after&timeAt={since}&timeproperty=modifiedAt")
    assert len(got["speed"]) == 3
    simplified = get_one(client, "timeproperty=modifiedAt&options=temporalValues&attrs=speed")
    assert all(datetime.fromisoformat(t) >= before for _, t in simplified["speed"]["values"])


def test_attrs_filter(client: TestClient) -> None:
    post_temporal(client, vehicle())
    post_temporal(
        client,
        {
            "id": "urn:ngsi-ld:Vehicle:B",
            "type": "Vehicle",
            "speed": instances((5, "2020-08-01T12:00:00Z")),
        },
    )
    assert set(get_one(client, "attrs=fuelLevel")) == {"id", "type", "fuelLevel"}
    listed = client.get(f"{BASE}/temporal/entities?attrs=fuelLevel").json()
    assert [e["id"] for e in listed] == [VEHICLE]
    assert set(listed[0]) == {"id", "type", "fuelLevel"}


def test_query_by_type_id_pattern_paging_and_count(client: TestClient) -> None:
    for n in range(5):
        post_temporal(client, vehicle(f"urn:ngsi-ld:Vehicle:{n}"))
    post_temporal(
        client,
        {"id": "urn:ngsi-ld:Bus:1", "type": "Bus", "speed": instances((1, "2020-08-01T12:00:00Z"))},
    )
    page = client.get(f"{BASE}/temporal/entities?type=Vehicle&limit=2&offset=1&count=true&lastN=1")
    assert page.status_code == 200, page.text
    assert page.headers["NGSILD-Results-Count"] == "5"
    assert [e["id"] for e in page.json()] == ["urn:ngsi-ld:Vehicle:1", "urn:ngsi-ld:Vehicle:2"]
    assert all(len(e["speed"]) == 1 for e in page.json())
    by_pattern = client.get(f"{BASE}/temporal/entities?idPattern=urn:ngsi-ld:Bus:.*").json()
    assert [e["id"] for e in by_pattern] == ["urn:ngsi-ld:Bus:1"]
    by_id = client.get(
        f"{BASE}/temporal/entities?id=urn:ngsi-ld:Vehicle:3,urn:ngsi-ld:Bus:1&type=Vehicle,Bus"
    ).json()
    assert [e["id"] for e in by_id] == ["urn:ngsi-ld:Bus:1", "urn:ngsi-ld:Vehicle:3"]
    # Entities without an instance in the time selection are not listed (and not counted).
    later = client.get(
        f"{BASE}/temporal/entities?type=Vehicle,Bus&timerel=after&timeAt=2020-08-01T13:00:00Z"
        "&attrs=speed&count=true"
    )
    assert later.json() == [] and later.headers["NGSILD-Results-Count"] == "0"


def test_q_filters_on_current_state(client: TestClient) -> None:
    for n, colour in ((1, "red"), (2, "blue")):
        entity = {
            "id": f"urn:ngsi-ld:Car:{n}",
            "type": "Car",
            "colour": {"type": "Property", "value": colour},
            "speed": {"type": "Property", "value": 10 * n, "observedAt": "2026-01-01T00:00:00Z"},
        }
        assert client.post(f"{BASE}/entities", json=entity).status_code == 201
    got = client.get(f'{BASE}/temporal/entities?type=Car&q=colour=="blue"').json()
    assert [e["id"] for e in got] == ["urn:ngsi-ld:Car:2"]
    # Once the entity is deleted, its history stays but q no longer finds it.
    assert client.delete(f"{BASE}/entities/urn:ngsi-ld:Car:2").status_code == 204
    assert client.get(f'{BASE}/temporal/entities?type=Car&q=colour=="blue"').json() == []
    assert len(client.get(f"{BASE}/temporal/entities?type=Car").json()) == 2


# ---------------------------------------------------------------------------------------------
# Representations


def test_temporal_values_shape(client: TestClient) -> None:
    entity = vehicle(
        parkedIn=[
            {
                "type": "Relationship",
                "object": "urn:ngsi-ld:Parking:1",
                "observedAt": "2020-08-01T12:00:00Z",
            },
            {
                "type": "Relationship",
                "object": "urn:ngsi-ld:Parking:2",
                "observedAt": "2020-08-01T13:00:00Z",
            },
        ],
        street=[
            {
                "type": "LanguageProperty",
                "languageMap": {"ro": "Piața Sfatului"},
                "observedAt": "2020-08-01T12:00:00Z",
            }
        ],
    )
    post_temporal(client, entity)
    got = get_one(client, "options=temporalValues&timerel=after&timeAt=2020-08-01T12:05:00Z")
    assert got == {
        "id": VEHICLE,
        "type": "Vehicle",
        "speed": {
            "type": "Property",
            "values": [[80, "2020-08-01T12:05:00Z"], [100, "2020-08-01T12:07:00Z"]],
        },
        "fuelLevel": {
            "type": "Property",
            "values": [[53, "2020-08-01T13:05:00Z"], [40, "2020-08-01T14:07:00Z"]],
        },
        "parkedIn": {
            "type": "Relationship",
            "objects": [["urn:ngsi-ld:Parking:2", "2020-08-01T13:00:00Z"]],
        },
    }
    street = get_one(client, "options=temporalValues&attrs=street")["street"]
    assert street == {
        "type": "LanguageProperty",
        "languageMaps": [[{"languageMap": {"ro": "Piața Sfatului"}}, "2020-08-01T12:00:00Z"]],
    }
    # format wins over options (NGSI-LD 1.8), and a query answers the same shape.
    listed = client.get(
        f"{BASE}/temporal/entities?type=Vehicle&format=temporalValues&options=aggregatedValues"
        "&aggrMethods=sum&attrs=speed&lastN=1"
    ).json()
    assert listed == [
        {
            "id": VEHICLE,
            "type": "Vehicle",
            "speed": {"type": "Property", "values": [[100, "2020-08-01T12:07:00Z"]]},
        }
    ]


def test_temporal_values_per_dataset(client: TestClient) -> None:
    entity = {
        "id": VEHICLE,
        "type": "Vehicle",
        "speed": [
            *instances((120, "2020-09-01T12:03:00Z")),
            *instances(
                (60, "2020-09-01T12:05:00Z"),
                (62, "2020-09-01T12:15:00Z"),
                datasetId="urn:ngsi-ld:Dataset:Radar",
            ),
        ],
    }
    post_temporal(client, entity)
    got = get_one(client, "options=temporalValues")["speed"]
    assert got == [
        {"type": "Property", "values": [[120, "2020-09-01T12:03:00Z"]]},
        {
            "type": "Property",
            "datasetId": "urn:ngsi-ld:Dataset:Radar",
            "values": [[60, "2020-09-01T12:05:00Z"], [62, "2020-09-01T12:15:00Z"]],
        },
    ]
    normal = get_one(client)["speed"]
    assert [i.get("datasetId") for i in normal] == [
        None,
        "urn:ngsi-ld:Dataset:Radar",
        "urn:ngsi-ld:Dataset:Radar",
    ]


def hourly_readings() -> dict[str, Any]:
    """Hour 0: 1, 2, 3, 4 (and a string); hour 1: 10, 20, 20; hour 3: 5. Hour 2 is empty."""
    readings = [
        (1, "2026-11-22T00:00:00Z"),
        (2, "2026-11-22T00:15:00Z"),
        (3, "2026-11-22T00:30:00Z"),
        (4, "2026-11-22T00:59:59.999Z"),
        (10, "2026-11-22T01:00:00Z"),
        (20, "2026-11-22T01:20:00Z"),
        (20, "2026-11-22T01:40:00Z"),
        (5, "2026-11-22T03:10:00Z"),
    ]
    return {
        "id": "urn:ngsi-ld:Meter:1",
        "type": "Meter",
        "power": instances(*readings),
        "status": instances(
            ("ok", "2026-11-22T00:10:00Z"),
            ("fault", "2026-11-22T00:20:00Z"),
            ("ok", "2026-11-22T01:10:00Z"),
        ),
    }


def test_hourly_aggregation_with_known_numbers(client: TestClient) -> None:
    post_temporal(client, hourly_readings())
    query = (
        "options=aggregatedValues&aggrPeriodDuration=PT1H&timerel=between"
        "&timeAt=2026-11-22T00:00:00Z&endTimeAt=2026-11-22T04:00:00Z"
        "&aggrMethods=totalCount,distinctCount,sum,avg,min,max,stddev,sumsq"
    )
    got = get_one(client, query, "urn:ngsi-ld:Meter:1")
    power = got["power"]
    h0 = ["2026-11-22T00:00:00Z", "2026-11-22T01:00:00Z"]
    h1 = ["2026-11-22T01:00:00Z", "2026-11-22T02:00:00Z"]
    h3 = ["2026-11-22T03:00:00Z", "2026-11-22T04:00:00Z"]
    assert power["type"] == "Property"
    assert power["totalCount"] == [[4, *h0], [3, *h1], [1, *h3]]
    assert power["distinctCount"] == [[4, *h0], [2, *h1], [1, *h3]]
    assert power["sum"] == [[10, *h0], [50, *h1], [5, *h3]]
    assert power["avg"] == [[2.5, *h0], [50 / 3, *h1], [5.0, *h3]]
    assert power["min"] == [[1, *h0], [10, *h1], [5, *h3]]
    assert power["max"] == [[4, *h0], [20, *h1], [5, *h3]]
    assert power["sumsq"] == [[30, *h0], [900, *h1], [25, *h3]]
    assert power["stddev"][0] == [pytest.approx(1.118033988749895), *h0]
    assert power["stddev"][2] == [0.0, *h3]
    # Strings: counted; min/max lexicographic; no sum or avg.
    status = got["status"]
    assert status["totalCount"] == [[2, *h0], [1, *h1]]
    assert status["distinctCount"] == [[2, *h0], [1, *h1]]
    assert status["min"] == [["fault", *h0], ["ok", *h1]]
    assert status["max"] == [["ok", *h0], ["ok", *h1]]
    assert status["sum"] == [] and status["avg"] == []


def test_aggregation_periods_align_to_time_at_else_to_first_instance(client: TestClient) -> None:
    post_temporal(client, hourly_readings())
    aligned = get_one(
        client,
        "aggrMethods=sum&aggrPeriodDuration=PT2H&timerel=after&timeAt=2026-11-21T23:30:00Z&attrs=power",
        "urn:ngsi-ld:Meter:1",
    )
    assert aligned["power"]["sum"] == [
        [40, "2026-11-21T23:30:00Z", "2026-11-22T01:30:00Z"],
        [25, "2026-11-22T01:30:00Z", "2026-11-22T03:30:00Z"],
    ]
    first = get_one(
        client, "aggrMethods=sum&aggrPeriodDuration=PT2H&attrs=power", "urn:ngsi-ld:Meter:1"
    )
    assert first["power"]["sum"] == [
        [60, "2026-11-22T00:00:00Z", "2026-11-22T02:00:00Z"],
        [5, "2026-11-22T02:00:00Z", "2026-11-22T04:00:00Z"],
    ]
    # No duration (or PT0S): one period over the whole interval of the query.
    for duration in ("", "&aggrPeriodDuration=PT0S", "&aggrPeriodDuration=P0D"):
        whole = get_one(
            client,
            "options=aggregatedValues&aggrMethods=avg,totalCount&attrs=power&timerel=between"
            f"&timeAt=2026-11-22T00:00:00Z&endTimeAt=2026-11-23T00:00:00Z{duration}",
            "urn:ngsi-ld:Meter:1",
        )
        assert whole["power"]["totalCount"] == [[8, "2026-11-22T00:00:00Z", "2026-11-23T00:00:00Z"]]
        assert whole["power"]["avg"] == [[65 / 8, "2026-11-22T00:00:00Z", "2026-11-23T00:00:00Z"]]
    # Aggregation applies to lastN too; a day-long period, like the test suite's P1D.
    day = get_one(
        client,
        "aggrMethods=min,max&aggrPeriodDuration=P1D&lastN=2&attrs=power",
        "urn:ngsi-ld:Meter:1",
    )
    assert day["power"]["min"] == [[5, "2026-11-22T01:40:00Z", "2026-11-23T01:40:00Z"]]
    assert day["power"]["max"] == [[20, "2026-11-22T01:40:00Z", "2026-11-23T01:40:00Z"]]


def test_test_suite_aggregation_example(client: TestClient) -> None:
    """ETSI test 021_17_03: avg,max per hour, timeAt six months before the readings."""
    post_temporal(client, vehicle())
    got = client.get(
        f"{BASE}/temporal/entities?type=Vehicle&options=aggregatedValues&aggrMethods=avg,max"
        "&aggrPeriodDuration=PT1H&timerel=after&timeAt=2020-01-01T12:03:00Z"
    ).json()
    assert got[0]["speed"] == {
        "type": "Property",
        "avg": [[100.0, "2020-08-01T12:03:00Z", "2020-08-01T13:03:00Z"]],
        "max": [[120, "2020-08-01T12:03:00Z", "2020-08-01T13:03:00Z"]],
    }
    assert [b[0] for b in got[0]["fuelLevel"]["avg"]] == [67.0, 53.0, 40.0]


def test_json_ld_output_carries_the_context(client: TestClient) -> None:
    entity = {
        "id": VEHICLE,
        "type": "Vehicle",
        "speed": instances((50, "2020-08-01T12:00:00Z")),
        "@context": [
            {"Vehicle": "https://example.org/Vehicle", "speed": "https://example.org/speed"}
        ],
    }
    response = client.post(
        f"{BASE}/temporal/entities",
        content=json.dumps(entity),
        headers={"Content-Type": "application/ld+json"},
    )
    assert response.status_code == 201, response.text
    # Without that context the names stay expanded IRIs.
    plain = get_one(client)
    assert plain["type"] == "https://example.org/Vehicle"
    assert plain["https://example.org/speed"][0]["value"] == 50
    ld = client.get(
        f"{BASE}/temporal/entities/{VEHICLE}", headers={"Accept": "application/ld+json"}
    )
    assert ld.headers["content-type"].startswith("application/ld+json") and "@context" in ld.json()
    assert (
        client.get(
            f"{BASE}/temporal/entities/{VEHICLE}", headers={"Accept": "text/csv"}
        ).status_code
        == 406
    )


# ---------------------------------------------------------------------------------------------
# Temporal writes and deletes


def test_create_then_update_temporal_entity(client: TestClient) -> None:
    response = client.post(f"{BASE}/temporal/entities", json=vehicle())
    assert response.status_code == 201, response.text
    assert response.headers["location"] == f"{BASE}/temporal/entities/{VEHICLE}"
    assert response.content == b""
    got = get_one(client)
    assert observed(got["speed"]) == [
        "2020-08-01T12:03:00Z",
        "2020-08-01T12:05:00Z",
        "2020-08-01T12:07:00Z",
    ]
    assert [i["value"] for i in got["fuelLevel"]] == [67, 53, 40]
    # Posting again adds instances (and types): 204.
    more = {
        "id": VEHICLE,
        "type": ["Vehicle", "Truck"],
        "speed": instances((90, "2020-08-01T12:09:00Z")),
    }
    post_temporal(client, more, status=204)
    got = get_one(client, "attrs=speed")
    assert got["type"] == ["Vehicle", "Truck"]
    assert [i["value"] for i in got["speed"]] == [120, 80, 100, 90]
    # A single instance (not an array) is one instance too.
    single = {
        "id": VEHICLE,
        "type": "Vehicle",
        "speed": {"type": "Property", "value": 95, "observedAt": "2020-08-01T12:11:00Z"},
    }
    post_temporal(client, single, status=204)
    assert len(get_one(client, "attrs=speed")["speed"]) == 5


def test_add_attribute_instances(client: TestClient) -> None:
    post_temporal(client, vehicle())
    body = {
        "speed": instances((70, "2020-08-01T12:09:00Z")),
        "heading": instances((180, "2020-08-01T12:09:00Z")),
    }
    response = client.post(f"{BASE}/temporal/entities/{VEHICLE}/attrs", json=body)
    assert response.status_code == 204, response.text
    got = get_one(client, "lastN=1")
    assert got["speed"][0]["value"] == 70 and got["heading"][0]["value"] == 180
    unknown = client.post(f"{BASE}/temporal/entities/urn:ngsi-ld:Vehicle:none/attrs", json=body)
    problem(unknown, 404, "ResourceNotFound")
    problem(
        client.post(f"{BASE}/temporal/entities/{VEHICLE}/attrs", json={}), 400, "BadRequestData"
    )


def test_delete_temporal_entity_and_attribute(client: TestClient) -> None:
    post_temporal(client, vehicle())
    assert client.delete(f"{BASE}/temporal/entities/{VEHICLE}/attrs/speed").status_code == 204
    assert set(get_one(client)) == {"id", "type", "fuelLevel"}
    problem(
        client.delete(f"{BASE}/temporal/entities/{VEHICLE}/attrs/speed"), 404, "ResourceNotFound"
    )
    assert client.delete(f"{BASE}/temporal/entities/{VEHICLE}").status_code == 204
    problem(client.get(f"{BASE}/temporal/entities/{VEHICLE}"), 404, "ResourceNotFound")
    problem(client.delete(f"{BASE}/temporal/entities/{VEHICLE}"), 404, "ResourceNotFound")
    problem(client.delete(f"{BASE}/temporal/entities/not-a-uri"), 400, "BadRequestData")


def test_deleting_history_keeps_the_entity(client: TestClient) -> None:
    entity = {"id": "urn:ngsi-ld:Sensor:9", "type": "Sensor", "t": {"type": "Property", "value": 1}}
    assert client.post(f"{BASE}/entities", json=entity).status_code == 201
    assert client.delete(f"{BASE}/temporal/entities/urn:ngsi-ld:Sensor:9").status_code == 204
    assert client.get(f"{BASE}/entities/urn:ngsi-ld:Sensor:9").status_code == 200


@pytest.mark.parametrize(
    "body",
    [
        {"type": "Vehicle", "speed": instances((1, "2020-08-01T12:00:00Z"))},
        {"id": "invalidId", "type": "Vehicle"},
        {"id": VEHICLE},
        {
            "id": VEHICLE,
            "type": "Vehicle",
            "speed": [{"type": "Property", "observedAt": "2020-08-01T12:00:00Z"}],
        },
        {"id": VEHICLE, "type": "Vehicle", "speed": instances((1, "yesterday"))},
        {"id": VEHICLE, "type": "Vehicle", "expiresAt": "urn:ngsi-ld:null"},
        [vehicle()],
    ],
)
def test_bad_temporal_entities_are_400(client: TestClient, body: Any) -> None:
    problem(client.post(f"{BASE}/temporal/entities", json=body), 400, "BadRequestData")
    problem(client.get(f"{BASE}/temporal/entities/{VEHICLE}"), 404, "ResourceNotFound")


def test_empty_body_is_invalid_request(client: TestClient) -> None:
    response = client.post(
        f"{BASE}/temporal/entities", content=b"", headers={"Content-Type": "application/json"}
    )
    problem(response, 400, "InvalidRequest")


# ---------------------------------------------------------------------------------------------
# POST /temporal/entityOperations/query


def test_post_query(client: TestClient) -> None:
    post_temporal(client, vehicle())
    post_temporal(client, vehicle("urn:ngsi-ld:Vehicle:B"))
    url = f"{BASE}/temporal/entityOperations/query"
    query: dict[str, Any] = {
        "type": "Query",
        "entities": [{"type": "Vehicle"}],
        "attrs": ["speed"],
        "temporalQ": {"timerel": "after", "timeAt": "2020-08-01T12:00:00Z", "lastN": 1},
    }
    got = client.post(url, json=query)
    assert got.status_code == 200, got.text
    assert [(e["id"], [i["value"] for i in e["speed"]]) for e in got.json()] == [
        ("urn:ngsi-ld:Vehicle:A", [100]),
        ("urn:ngsi-ld:Vehicle:B", [100]),
    ]
    assert set(got.json()[0]) == {"id", "type", "speed"}
    # aggrMethods in temporalQ (array or comma string) asks for the aggregated representation.
    for methods in (["avg"], "avg"):
        query["temporalQ"] = {
            "timerel": "after",
            "timeAt": "2020-08-01T12:00:00Z",
            "aggrMethods": methods,
        }
        body = client.post(url + "?limit=1", json=query).json()
        assert body == [
            {
                "id": VEHICLE,
                "type": "Vehicle",
                "speed": {
                    "type": "Property",
                    "avg": [[100.0, "2020-08-01T12:00:00Z", "2020-08-01T12:07:00Z"]],
                },
            }
        ]
    for bad in (
        {"lastN": 0},
        {"lastN": 1.5},
        {"timerel": "during", "timeAt": "2020-08-01T12:00:00Z"},
        {"timerel": "between", "timeAt": "2020-08-01T12:00:00Z"},
        {"timeproperty": "expiresAt"},
        {"aggrMethods": "avg", "aggrPeriodDuration": "1 hour"},
    ):
        query["temporalQ"] = bad
        problem(client.post(url, json=query), 400, "BadRequestData")
    problem(client.post(url, json={"type": "Query"}), 400, "BadRequestData")
    problem(client.post(url, json={"type": "Subscription"}), 400, "BadRequestData")


# ---------------------------------------------------------------------------------------------
# Errors and tenants


@pytest.mark.parametrize(
    ("query", "kind", "words"),
    [
        ("timerel=after", "BadRequestData", "timeAt"),
        (
            "timerel=during&timeAt=2020-08-01T12:00:00Z",
            "BadRequestData",
            "before, after or between",
        ),
        ("timerel=between&timeAt=2020-08-01T12:00:00Z", "BadRequestData", "endTimeAt"),
        (
            "timerel=between&timeAt=2020-08-01T12:00:00Z&endTimeAt=2020-08-01T11:00:00Z",
            "BadRequestData",
            "later than timeAt",
        ),
        ("timeAt=2020-08-01T12:00:00Z", "BadRequestData", "without timerel"),
        ("timerel=after&timeAt=2020-08-01", "BadRequestData", "date-time"),
        ("timerel=after&timeAt=yesterday", "BadRequestData", "date-time"),
        (
            "timerel=before&timeAt=2020-08-01T12:00:00Z&endTimeAt=2020-08-01T13:00:00Z",
            "BadRequestData",
            "between",
        ),
        ("timeproperty=deletedAt", "BadRequestData", "timeproperty"),
        ("lastN=0", "BadRequestData", "lastN"),
        ("lastN=two", "BadRequestData", "lastN"),
        ("aggrMethods=avg&aggrPeriodDuration=1H", "BadRequestData", "aggrPeriodDuration"),
        ("aggrMethods=avg&aggrPeriodDuration=PT", "BadRequestData", "aggrPeriodDuration"),
        ("aggrMethods=median", "BadRequestData", "median"),
        ("options=aggregatedValues", "BadRequestData", "aggrMethods"),
        ("options=invalidOptions", "InvalidRequest", "invalidOptions"),
        ("options=temporalValues,invalidOptions", "InvalidRequest", "invalidOptions"),
        ("format=invalidFormat", "InvalidRequest", "invalidFormat"),
    ],
)
def test_bad_parameters(client: TestClient, query: str, kind: str, words: str) -> None:
    post_temporal(client, vehicle())
    for url in (
        f"{BASE}/temporal/entities/{VEHICLE}?{query}",
        f"{BASE}/temporal/entities?type=Vehicle&{query}",
    ):
        body = problem(client.get(url), 400, kind)
        assert words in body["detail"], body["detail"]


def test_query_needs_a_filter_and_unknown_entity_is_404(client: TestClient) -> None:
    problem(
        client.get(f"{BASE}/temporal/entities?timerel=after&timeAt=2020-08-01T12:00:00Z"),
        400,
        "BadRequestData",
    )
    body = problem(
        client.get(f"{BASE}/temporal/entities/urn:ngsi-ld:Vehicle:nothing"), 404, "ResourceNotFound"
    )
    assert "urn:ngsi-ld:Vehicle:nothing" in body["detail"]
    assert client.get(f"{BASE}/temporal/entities?type=Vehicle").json() == []


def test_tenants_are_isolated(client: TestClient) -> None:
    post_temporal(client, vehicle(), headers={"NGSILD-Tenant": "brasov"})
    assert get_one(client, "", VEHICLE, **{"NGSILD-Tenant": "brasov"})["speed"]
    problem(client.get(f"{BASE}/temporal/entities/{VEHICLE}"), 404, "ResourceNotFound")
    assert client.get(f"{BASE}/temporal/entities?type=Vehicle").json() == []
    other = {"NGSILD-Tenant": "sibiu"}
    problem(
        client.get(f"{BASE}/temporal/entities/{VEHICLE}", headers=other), 404, "NonexistentTenant"
    )
    problem(
        client.get(f"{BASE}/temporal/entities?type=Vehicle", headers=other),
        404,
        "NonexistentTenant",
    )
    problem(
        client.delete(f"{BASE}/temporal/entities/{VEHICLE}", headers=other),
        404,
        "NonexistentTenant",
    )
    # History written through the entity API lands in the request's tenant too.
    entity = {"id": "urn:ngsi-ld:Sensor:1", "type": "Sensor", "t": {"type": "Property", "value": 1}}
    assert client.post(f"{BASE}/entities", json=entity, headers=other).status_code == 201
    assert get_one(client, "", "urn:ngsi-ld:Sensor:1", **other)["t"][0]["value"] == 1
    problem(client.get(f"{BASE}/temporal/entities/urn:ngsi-ld:Sensor:1"), 404, "ResourceNotFound")


# ---------------------------------------------------------------------------------------------
# The pure parts


def us(text: str) -> int:
    return parse_instant(text, "t")


@pytest.mark.parametrize(
    ("text", "months", "micros"),
    [
        ("PT1H", 0, HOUR_US),
        ("PT0S", 0, 0),
        ("P0D", 0, 0),
        ("P1D", 0, 24 * HOUR_US),
        ("P1W", 0, 7 * 24 * HOUR_US),
        ("P1M", 1, 0),
        ("P1Y2M", 14, 0),
        ("P3Y6M4DT12H30M5S", 42, (4 * 24 + 12) * HOUR_US + 30 * 60_000_000 + 5_000_000),
        ("PT1.5S", 0, 1_500_000),
        ("PT0,5H", 0, HOUR_US // 2),
        ("PT15M", 0, 15 * 60_000_000),
    ],
)
def test_parse_duration(text: str, months: int, micros: int) -> None:
    duration = parse_duration(text)
    assert (duration.months, duration.micros) == (months, micros)
    assert duration.whole == (months == 0 and micros == 0)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "P",
        "PT",
        "1H",
        "PT1",
        "P1H",
        "PT1D",
        "P1W2D",
        "P1.5Y",
        "PT1.5H30M",
        "-PT1H",
        "pt1h",
        "P1DT",
        "PT1H ",
        "P99999999999999W",
        "R/PT1H",
        "P0.5M",
    ],
)
def test_parse_duration_rejects(text: str) -> None:
    with pytest.raises(BadRequestData):
        parse_duration(text)


@settings(max_examples=400)
@given(
    st.one_of(
        st.text(),
        st.text(alphabet="PTYMWDHS0123456789.,-+ ", max_size=24),
        st.integers(),
        st.none(),
    )
)
def test_parse_duration_raises_only_bad_request_data(text: Any) -> None:
    try:
        duration = parse_duration(text)
    except BadRequestData:
        return
    assert isinstance(duration, Duration) and duration.months >= 0 and duration.micros >= 0


@given(
    st.integers(0, 999),
    st.integers(0, 11),
    st.integers(0, 400),
    st.integers(0, 23),
    st.integers(0, 59),
    st.integers(0, 59),
)
def test_parse_duration_of_components(
    years: int, months: int, days: int, hours: int, minutes: int, seconds: int
) -> None:
    text = f"P{years}Y{months}M{days}DT{hours}H{minutes}M{seconds}S"
    duration = parse_duration(text)
    assert duration.months == years * 12 + months
    assert duration.micros == ((days * 24 + hours) * 3600 + minutes * 60 + seconds) * 1_000_000


@given(
    st.one_of(
        st.text(max_size=40), st.integers(), st.none(), st.lists(st.text(max_size=5), max_size=3)
    )
)
@example("0\x1f")  # \s matched the unit separator, which int() refuses
def test_temporal_parameters_raise_only_bad_request_data(text: Any) -> None:
    for kwargs in (
        {"timerel": "after", "time_at": text},
        {"timerel": "between", "time_at": "2020-01-01T00:00:00Z", "end_time_at": text},
        {"timerel": text, "time_at": "2020-01-01T00:00:00Z"},
        {"last_n": text},
        {"timeproperty": text},
    ):
        with contextlib.suppress(BadRequestData):
            parse_temporal_query(**kwargs)


def test_parse_temporal_query_converts_times() -> None:
    query = parse_temporal_query(
        "between", "2020-08-01T12:00:00Z", "2020-08-01T14:00:00+01:00", "3"
    )
    assert query == TemporalQuery(
        "between", us("2020-08-01T12:00:00Z"), us("2020-08-01T13:00:00Z"), 3
    )
    assert query.window == (query.time_at_us, query.end_time_at_us)
    history = query.history(["urn:a:b"], frozenset({"urn:x"}))
    assert (history.timerel, history.last_n, history.entity_ids, history.attrs) == (
        "between",
        3,
        ("urn:a:b",),
        frozenset({"urn:x"}),
    )
    assert query.history(["urn:a:b"], last_n=1).last_n == 1
    # Before 1970, exactly.
    assert us("1969-12-31T23:59:59.500Z") == -500_000
    assert format_instant(-500_000) == "1969-12-31T23:59:59.500Z"
    assert format_instant(us("2020-08-01T12:03:00Z")) == "2020-08-01T12:03:00Z"
    assert format_instant(1) == "1970-01-01T00:00:00.000001Z"


def test_parse_view() -> None:
    assert parse_view(None, []).representation == "normalized"
    assert parse_view(None, ["temporalValues", "sysAttrs"]).sys_attrs
    assert (
        parse_view("temporalValues", ["aggregatedValues"], "sum").representation == TEMPORAL_VALUES
    )
    view = parse_view(None, [], "avg,max,avg", "PT1H")
    assert view.representation == AGGREGATED_VALUES and view.methods == ("avg", "max")
    assert view.period.micros == HOUR_US
    with pytest.raises(InvalidRequest):
        parse_view(None, ["temporalValues", "aggregatedValues"], "avg")
    with pytest.raises(BadRequestData):
        parse_view(None, ["aggregatedValues"], [])


def test_aggregate_monthly_periods_follow_the_calendar() -> None:
    points = [
        (us(t), 1)
        for t in (
            "2026-01-31T12:00:00Z",
            "2026-02-27T00:00:00Z",
            "2026-02-28T12:00:00Z",
            "2026-03-31T11:00:00Z",
        )
    ]
    # A month after January 31 is February 28; after that, March 31 (not March 28).
    got = aggregate(points, ["totalCount"], parse_duration("P1M"), us("2026-01-31T00:00:00Z"))
    assert got["totalCount"] == [
        [2, "2026-01-31T00:00:00Z", "2026-02-28T00:00:00Z"],
        [1, "2026-02-28T00:00:00Z", "2026-03-31T00:00:00Z"],
        [1, "2026-03-31T00:00:00Z", "2026-04-30T00:00:00Z"],
    ]
    # Periods aligned before the points, and unsorted points, find their periods too.
    shuffled = [points[3], points[0], points[2], points[1]]
    early = aggregate(shuffled, ["totalCount"], parse_duration("P2M"), us("2025-07-31T00:00:00Z"))
    assert early["totalCount"] == [
        [3, "2026-01-31T00:00:00Z", "2026-03-31T00:00:00Z"],
        [1, "2026-03-31T00:00:00Z", "2026-05-31T00:00:00Z"],
    ]
    # Periods clip to the window of the query.
    clipped = aggregate(
        points[:3],
        ["totalCount"],
        parse_duration("P1Y"),
        us("2026-01-01T00:00:00Z"),
        (us("2026-01-01T00:00:00Z"), us("2026-03-01T00:00:00Z")),
    )
    assert clipped["totalCount"] == [[3, "2026-01-01T00:00:00Z", "2026-03-01T00:00:00Z"]]


def test_aggregate_value_kinds() -> None:
    t = us("2026-01-01T00:00:00Z")
    points = [
        (t, True),
        (t + 1, False),
        (t + 2, True),
        (t + 3, {"a": 1}),
        (t + 4, {"a": 1}),
        (t + 5, 1),
    ]
    got = aggregate(points, ["totalCount", "distinctCount", "sum", "avg", "min", "max"])
    values = {method: results[0][0] for method, results in got.items()}
    # true and 1 are distinct values; booleans sum as 1 and 0; min/max prefer numbers.
    assert values == {
        "totalCount": 6,
        "distinctCount": 4,
        "sum": 3,
        "avg": 0.75,
        "min": 1,
        "max": 1,
    }
    booleans = aggregate([(t, True), (t + 1, False)], ["min", "max"])
    assert (booleans["min"][0][0], booleans["max"][0][0]) == (False, True)
    huge = aggregate([(t, 2**62), (t + 1, 2**62)], ["sum", "sumsq"])
    assert huge["sum"][0][0] == float(2**63) and isinstance(huge["sumsq"][0][0], float)
    assert aggregate([], ["avg"]) == {"avg": []}


@settings(max_examples=200)
@given(
    st.lists(
        st.tuples(st.integers(-(10**15), 10**15), st.integers(-1000, 1000)), min_size=1, max_size=60
    ),
    st.integers(1, 10**12),
    st.one_of(st.none(), st.integers(-(10**15), 10**15)),
)
def test_aggregate_periods_partition_the_points(
    points: list[tuple[int, int]], step: int, origin: int | None
) -> None:
    got = aggregate(points, ["totalCount", "sum"], Duration(0, step), origin)
    assert sum(count for count, _, _ in got["totalCount"]) == len(points)
    assert sum(total for total, _, _ in got["sum"]) == sum(v for _, v in points)
    starts = [us(start) for _, start, _ in got["totalCount"]]
    assert starts == sorted(set(starts))
    for count, start, end in got["totalCount"]:
        low, high = us(start), us(end)
        assert high - low == step
        assert count == sum(1 for moment, _ in points if low <= moment < high)
        if origin is not None:
            assert (low - origin) % step == 0


def test_simplify_relationship_and_unknown_type() -> None:
    rel = [{"type": "Relationship", "object": "urn:a:1", "observedAt": "2026-01-01T00:00:00Z"}]
    assert simplify(rel) == {
        "type": "Relationship",
        "objects": [["urn:a:1", "2026-01-01T00:00:00Z"]],
    }
    json_prop = [{"type": "JsonProperty", "json": {"k": 1}, "modifiedAt": "2026-01-01T00:00:00Z"}]
    assert simplify(json_prop) == {
        "type": "JsonProperty",
        "jsons": [[{"json": {"k": 1}}, "2026-01-01T00:00:00Z"]],
    }


# ---------------------------------------------------------------------------------------------
# Pagination of instances (206 + Content-Range)


def minutes(start: str, count: int, value: int = 1) -> list[dict[str, Any]]:
    first = datetime.fromisoformat(start)
    return instances(
        *[
            (value + k, (first + timedelta(minutes=k)).strftime("%Y-%m-%dT%H:%M:%SZ"))
            for k in range(count)
        ]
    )


def test_a_long_history_is_cut_into_a_range(client: TestClient) -> None:
    entity = {
        "id": VEHICLE,
        "type": "Vehicle",
        "speed": minutes("2020-01-01T00:00:00+00:00", 20),
        "fuelLevel": minutes("2020-01-01T00:00:00+00:00", 20),
    }
    post_temporal(client, entity)
    url = f"{BASE}/temporal/entities/{VEHICLE}"
    response = client.get(url)
    assert response.status_code == 206
    assert response.headers["Content-Range"] == (
        "date-time 2020-01-01T00:00:00Z-2020-01-01T00:14:00Z/*"
    )
    body = response.json()
    assert len(body["speed"]) == len(body["fuelLevel"]) == 15
    response = client.get(f"{url}?lastN=20&timerel=before&timeAt=2021-01-01T00:00:00Z")
    assert response.status_code == 206
    assert response.headers["Content-Range"] == (
        "date-time 2021-01-01T00:00:00Z-2020-01-01T00:05:00Z/20"
    )
    assert observed(response.json()["speed"])[0] == "2020-01-01T00:05:00Z"
    # a short history is whole: 200, no Content-Range
    assert client.get(f"{url}?lastN=5").status_code == 200


def test_a_page_cuts_every_attribute_at_the_same_time(client: TestClient) -> None:
    entity = {
        "id": VEHICLE,
        "type": "Vehicle",
        "speed": minutes("2020-01-01T00:00:00+00:00", 40),
        "fuelLevel": minutes("2020-01-02T00:00:00+00:00", 40),
    }
    post_temporal(client, entity)
    url = f"{BASE}/temporal/entities/{VEHICLE}"
    body = client.get(url).json()
    assert len(body["speed"]) == 30 and body["fuelLevel"] == []
    simplified = client.get(f"{url}?options=temporalValues").json()
    assert simplified["fuelLevel"] == {"type": "Property", "values": []}
    newest = client.get(f"{url}?lastN=100").json()
    assert newest["speed"] == [] and len(newest["fuelLevel"]) == 30


def test_the_default_page_answers_last_n_whole(tmp_path: Any) -> None:
    """With the default settings a client asking for the last 100 readings gets all 100."""
    from cetate.config import Settings
    from cetate.web.app import create_app

    settings = Settings(store=f"sqlite:///{tmp_path / 'hub.db'}", allow_remote_contexts=False)
    readings = [
        {"type": "Property", "value": n, "observedAt": f"2026-11-22T{n // 60:02d}:{n % 60:02d}:00Z"}
        for n in range(150)
    ]
    with TestClient(create_app(settings)) as client:
        created = client.post(
            f"{BASE}/temporal/entities",
            json={"id": VEHICLE, "type": "Vehicle", "speed": readings},
        )
        assert created.status_code == 201, created.text
        response = client.get(f"{BASE}/temporal/entities/{VEHICLE}?lastN=100")
        assert response.status_code == 200
        values = [i["value"] for i in response.json()["speed"]]
        assert values == list(range(50, 150))
