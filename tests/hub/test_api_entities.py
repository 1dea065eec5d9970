"""The NGSI-LD entity API: create, retrieve, query, attributes, batches, discovery, errors."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

BASE = "/ngsi-ld/v1"
CORE_LINK_PREFIX = "<https://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context"


def parking(n: int, lon: float = 25.5887, lat: float = 45.6427, free: int = 10) -> dict[str, Any]:
    return {
        "id": f"urn:ngsi-ld:OffStreetParking:{n}",
        "type": "OffStreetParking",
        "availableSpotNumber": {
            "type": "Property",
            "value": free,
            "observedAt": "2026-11-22T08:00:00Z",
        },
        "name": {"type": "Property", "value": f"Parking {n}"},
        "location": {"type": "GeoProperty", "value": {"type": "Point", "coordinates": [lon, lat]}},
    }


def create(client: TestClient, entity: dict[str, Any], **headers: str) -> None:
    response = client.post(f"{BASE}/entities", json=entity, headers=headers)
    assert response.status_code == 201, response.text


def problem(response: Any, status: int, kind: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    assert body["type"] == f"https://uri.etsi.org/ngsi-ld/errors/{kind}", body
    assert body["status"] == status and body["title"] and body["detail"]
    return body


def test_create_then_retrieve_round_trips(client: TestClient) -> None:
    response = client.post(f"{BASE}/entities", json=parking(1))
    assert response.status_code == 201
    assert response.headers["location"] == f"{BASE}/entities/urn:ngsi-ld:OffStreetParking:1"
    got = client.get(f"{BASE}/entities/urn:ngsi-ld:OffStreetParking:1")
    assert got.status_code == 200
    assert got.headers["link"].startswith(CORE_LINK_PREFIX)
    assert got.json() == parking(1)


def test_create_twice_is_a_conflict(client: TestClient) -> None:
    create(client, parking(1))
    problem(client.post(f"{BASE}/entities", json=parking(1)), 409, "AlreadyExists")


def test_key_values_and_sys_attrs(client: TestClient) -> None:
    create(client, parking(1))
    kv = client.get(f"{BASE}/entities/urn:ngsi-ld:OffStreetParking:1?options=keyValues").json()
    assert kv["availableSpotNumber"] == 10
    assert kv["location"] == {"type": "Point", "coordinates": [25.5887, 45.6427]}
    sys = client.get(f"{BASE}/entities/urn:ngsi-ld:OffStreetParking:1?options=sysAttrs").json()
    assert sys["createdAt"].endswith("Z") and sys["modifiedAt"].endswith("Z")
    assert "createdAt" in sys["availableSpotNumber"]


def test_attrs_projection(client: TestClient) -> None:
    create(client, parking(1))
    got = client.get(f"{BASE}/entities/urn:ngsi-ld:OffStreetParking:1?attrs=name").json()
    assert set(got) == {"id", "type", "name"}


def test_unknown_entity_is_404(client: TestClient) -> None:
    problem(client.get(f"{BASE}/entities/urn:ngsi-ld:Nothing:1"), 404, "ResourceNotFound")


def test_ld_json_with_inline_context(client: TestClient) -> None:
    entity = {
        "id": "urn:ngsi-ld:Vehicle:1",
        "type": "Vehicle",
        "speed": {"type": "Property", "value": 50},
        "@context": [
            {"Vehicle": "https://example.org/Vehicle", "speed": "https://example.org/speed"}
        ],
    }
    response = client.post(
        f"{BASE}/entities",
        content=__import__("json").dumps(entity),
        headers={"Content-Type": "application/ld+json"},
    )
    assert response.status_code == 201, response.text
    # Without that context the names stay expanded IRIs.
    plain = client.get(f"{BASE}/entities/urn:ngsi-ld:Vehicle:1").json()
    assert plain["type"] == "https://example.org/Vehicle"
    assert plain["https://example.org/speed"]["value"] == 50
    # Asked as JSON-LD, the body carries its @context.
    ld = client.get(
        f"{BASE}/entities/urn:ngsi-ld:Vehicle:1", headers={"Accept": "application/ld+json"}
    )
    assert ld.headers["content-type"].startswith("application/ld+json")
    assert "@context" in ld.json()


def test_json_body_with_context_is_rejected(client: TestClient) -> None:
    entity = {
        **parking(1),
        "@context": "https://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context.jsonld",
    }
    problem(client.post(f"{BASE}/entities", json=entity), 400, "BadRequestData")


@pytest.mark.parametrize(
    ("body", "kind"),
    [
        ({"id": "not a uri", "type": "T"}, "BadRequestData"),
        ({"id": "urn:a:b"}, "BadRequestData"),
        ({"id": "urn:a:b", "type": "T", "p": {"type": "Property"}}, "BadRequestData"),
        (
            {"id": "urn:a:b", "type": "T", "r": {"type": "Relationship", "object": 3}},
            "BadRequestData",
        ),
        (
            {
                "id": "urn:a:b",
                "type": "T",
                "location": {"type": "GeoProperty", "value": {"type": "Point"}},
            },
            "BadRequestData",
        ),
        (
            {
                "id": "urn:a:b",
                "type": "T",
                "p": {"type": "Property", "value": 1, "observedAt": "yesterday"},
            },
            "BadRequestData",
        ),
        ({"id": "urn:a:b", "type": "T", "bad=name": 1}, "BadRequestData"),
    ],
)
def test_bad_entities_are_400(client: TestClient, body: dict[str, Any], kind: str) -> None:
    problem(client.post(f"{BASE}/entities", json=body), 400, kind)


def test_malformed_json_is_400_not_500(client: TestClient) -> None:
    response = client.post(
        f"{BASE}/entities", content=b"{not json", headers={"Content-Type": "application/json"}
    )
    problem(response, 400, "InvalidRequest")


def test_wrong_content_type_is_415(client: TestClient) -> None:
    response = client.post(
        f"{BASE}/entities", content=b"<xml/>", headers={"Content-Type": "application/xml"}
    )
    assert response.status_code == 415


def test_oversized_body_is_413(client: TestClient) -> None:
    big = {"id": "urn:a:b", "type": "T", "p": {"type": "Property", "value": "x" * 1_100_000}}
    assert client.post(f"{BASE}/entities", json=big).status_code == 413


def test_unacceptable_accept_is_406(client: TestClient) -> None:
    create(client, parking(1))
    response = client.get(
        f"{BASE}/entities/urn:ngsi-ld:OffStreetParking:1", headers={"Accept": "text/html"}
    )
    assert response.status_code == 406


def test_query_by_type_q_and_near(client: TestClient) -> None:
    create(client, parking(1, 25.5887, 45.6427, free=5))  # Piața Sfatului
    create(client, parking(2, 25.5900, 45.6430, free=50))  # ~110 m away
    create(client, parking(3, 25.6144, 45.6610, free=80))  # the railway station, ~2.8 km
    url = (
        f"{BASE}/entities?type=OffStreetParking&q=availableSpotNumber>20"
        "&georel=near;maxDistance==500&geometry=Point&coordinates=[25.5887,45.6427]"
    )
    found = client.get(url).json()
    assert [e["id"] for e in found] == ["urn:ngsi-ld:OffStreetParking:2"]


def test_query_within_polygon(client: TestClient) -> None:
    create(client, parking(1, 25.5887, 45.6427))
    create(client, parking(2, 25.6144, 45.6610))
    polygon = "[[[25.58,45.63],[25.60,45.63],[25.60,45.65],[25.58,45.65],[25.58,45.63]]]"
    url = (
        f"{BASE}/entities?type=OffStreetParking&georel=within&geometry=Polygon"
        f"&coordinates={polygon}"
    )
    assert [e["id"] for e in client.get(url).json()] == ["urn:ngsi-ld:OffStreetParking:1"]


def test_query_pagination_and_count(client: TestClient) -> None:
    for n in range(1, 8):
        create(client, parking(n))
    response = client.get(f"{BASE}/entities?type=OffStreetParking&limit=3&offset=2&count=true")
    assert response.headers["ngsild-results-count"] == "7"
    assert [e["id"][-1] for e in response.json()] == ["3", "4", "5"]


def test_query_needs_a_filter(client: TestClient) -> None:
    problem(client.get(f"{BASE}/entities"), 400, "BadRequestData")


@pytest.mark.parametrize(
    "params",
    [
        "type=OffStreetParking&q=availableSpotNumber>>3",
        "type=OffStreetParking&q=(a==1",
        "type=OffStreetParking&georel=near&geometry=Point&coordinates=[1,2]",
        "type=OffStreetParking&georel=within&geometry=Polygon&coordinates=[1,2]",
        "type=OffStreetParking&georel=near;maxDistance==10&geometry=Point",
        "type=OffStreetParking&idPattern=(",
        "type=OffStreetParking&limit=-1",
        "type=OffStreetParking&limit=abc",
    ],
)
def test_invalid_queries_are_400(client: TestClient, params: str) -> None:
    problem(client.get(f"{BASE}/entities?{params}"), 400, "BadRequestData")


def test_query_several_types_id_pattern_and_attrs(client: TestClient) -> None:
    create(client, parking(1))
    create(
        client,
        {
            "id": "urn:ngsi-ld:Vehicle:1",
            "type": "Vehicle",
            "speed": {"type": "Property", "value": 3},
        },
    )
    both = client.get(f"{BASE}/entities?type=OffStreetParking,Vehicle").json()
    assert {e["id"] for e in both} == {"urn:ngsi-ld:OffStreetParking:1", "urn:ngsi-ld:Vehicle:1"}
    pattern = client.get(f"{BASE}/entities?idPattern=urn:ngsi-ld:Veh.*").json()
    assert [e["id"] for e in pattern] == ["urn:ngsi-ld:Vehicle:1"]
    having = client.get(f"{BASE}/entities?attrs=speed").json()
    assert [e["id"] for e in having] == ["urn:ngsi-ld:Vehicle:1"]
    assert set(having[0]) == {"id", "type", "speed"}


def test_geojson_output(client: TestClient) -> None:
    create(client, parking(1))
    response = client.get(
        f"{BASE}/entities?type=OffStreetParking", headers={"Accept": "application/geo+json"}
    )
    assert response.headers["content-type"].startswith("application/geo+json")
    collection = response.json()
    assert collection["type"] == "FeatureCollection"
    feature = collection["features"][0]
    assert feature["geometry"] == {"type": "Point", "coordinates": [25.5887, 45.6427]}
    assert feature["properties"]["availableSpotNumber"]["value"] == 10


def test_append_update_and_no_overwrite(client: TestClient) -> None:
    create(client, parking(1))
    url = f"{BASE}/entities/urn:ngsi-ld:OffStreetParking:1/attrs"
    appended = client.post(url, json={"totalSpotNumber": {"type": "Property", "value": 100}})
    assert appended.status_code == 204
    kept = client.post(
        f"{url}?options=noOverwrite", json={"totalSpotNumber": {"type": "Property", "value": 1}}
    )
    assert kept.status_code == 207
    # UpdateResult names attributes by their expanded IRI, as the ETSI suite expects
    expanded = "https://uri.etsi.org/ngsi-ld/default-context/totalSpotNumber"
    assert kept.json()["notUpdated"][0]["attributeName"] == expanded
    updated = client.patch(
        url,
        json={
            "totalSpotNumber": {"type": "Property", "value": 90},
            "missing": {"type": "Property", "value": 1},
        },
    )
    assert updated.status_code == 207
    assert updated.json()["updated"] == [expanded]
    got = client.get(f"{BASE}/entities/urn:ngsi-ld:OffStreetParking:1?options=keyValues").json()
    assert got["totalSpotNumber"] == 90
    assert "missing" not in got


def test_partial_attribute_update_keeps_other_members(client: TestClient) -> None:
    create(client, parking(1))
    response = client.patch(
        f"{BASE}/entities/urn:ngsi-ld:OffStreetParking:1/attrs/availableSpotNumber",
        json={"value": 3},
    )
    assert response.status_code == 204
    got = client.get(f"{BASE}/entities/urn:ngsi-ld:OffStreetParking:1").json()
    assert got["availableSpotNumber"] == {
        "type": "Property",
        "value": 3,
        "observedAt": "2026-11-22T08:00:00Z",
    }
    missing = client.patch(
        f"{BASE}/entities/urn:ngsi-ld:OffStreetParking:1/attrs/nothing", json={"value": 3}
    )
    problem(missing, 404, "ResourceNotFound")


def test_multi_attribute_with_dataset_ids(client: TestClient) -> None:
    entity = {
        "id": "urn:ngsi-ld:Sensor:1",
        "type": "Sensor",
        "temperature": [
            {"type": "Property", "value": 20},
            {"type": "Property", "value": 21, "datasetId": "urn:ngsi-ld:Dataset:b"},
        ],
    }
    create(client, entity)
    got = client.get(f"{BASE}/entities/urn:ngsi-ld:Sensor:1").json()
    assert got["temperature"] == entity["temperature"]
    deleted = client.delete(
        f"{BASE}/entities/urn:ngsi-ld:Sensor:1/attrs/temperature?datasetId=urn:ngsi-ld:Dataset:b"
    )
    assert deleted.status_code == 204
    got = client.get(f"{BASE}/entities/urn:ngsi-ld:Sensor:1").json()
    assert got["temperature"] == {"type": "Property", "value": 20}


def test_delete_attribute_and_entity(client: TestClient) -> None:
    create(client, parking(1))
    url = f"{BASE}/entities/urn:ngsi-ld:OffStreetParking:1"
    assert client.delete(f"{url}/attrs/name").status_code == 204
    assert "name" not in client.get(url).json()
    problem(client.delete(f"{url}/attrs/name"), 404, "ResourceNotFound")
    assert client.delete(url).status_code == 204
    problem(client.get(url), 404, "ResourceNotFound")
    problem(client.delete(url), 404, "ResourceNotFound")


def test_batch_create_reports_each_entity(client: TestClient) -> None:
    create(client, parking(1))
    batch = [parking(1), parking(2), {"id": "nope", "type": "X"}]
    response = client.post(f"{BASE}/entityOperations/create", json=batch)
    assert response.status_code == 207
    body = response.json()
    assert body["success"] == ["urn:ngsi-ld:OffStreetParking:2"]
    errors = {e["entityId"]: e["error"]["type"].rsplit("/", 1)[1] for e in body["errors"]}
    assert errors == {"urn:ngsi-ld:OffStreetParking:1": "AlreadyExists", "nope": "BadRequestData"}
    # the good entity was written despite the bad ones
    assert client.get(f"{BASE}/entities/urn:ngsi-ld:OffStreetParking:2").status_code == 200


def test_batch_upsert_create_then_replace_or_update(client: TestClient) -> None:
    first = client.post(f"{BASE}/entityOperations/upsert", json=[parking(1), parking(2)])
    assert first.status_code == 201
    assert sorted(first.json()) == [
        "urn:ngsi-ld:OffStreetParking:1",
        "urn:ngsi-ld:OffStreetParking:2",
    ]
    replaced = {
        "id": "urn:ngsi-ld:OffStreetParking:1",
        "type": "OffStreetParking",
        "x": {"type": "Property", "value": 1},
    }
    assert client.post(f"{BASE}/entityOperations/upsert", json=[replaced]).status_code == 204
    got = client.get(f"{BASE}/entities/urn:ngsi-ld:OffStreetParking:1?options=keyValues").json()
    assert got == {"id": "urn:ngsi-ld:OffStreetParking:1", "type": "OffStreetParking", "x": 1}
    update = {
        "id": "urn:ngsi-ld:OffStreetParking:2",
        "type": "OffStreetParking",
        "x": {"type": "Property", "value": 2},
    }
    assert (
        client.post(f"{BASE}/entityOperations/upsert?options=update", json=[update]).status_code
        == 204
    )
    got = client.get(f"{BASE}/entities/urn:ngsi-ld:OffStreetParking:2?options=keyValues").json()
    assert got["x"] == 2 and got["availableSpotNumber"] == 10


def test_batch_update_and_delete(client: TestClient) -> None:
    client.post(f"{BASE}/entityOperations/create", json=[parking(1), parking(2)])
    fragments = [
        {
            "id": "urn:ngsi-ld:OffStreetParking:1",
            "availableSpotNumber": {"type": "Property", "value": 0},
        },
        {
            "id": "urn:ngsi-ld:OffStreetParking:9",
            "availableSpotNumber": {"type": "Property", "value": 0},
        },
    ]
    updated = client.post(f"{BASE}/entityOperations/update", json=fragments)
    assert updated.status_code == 207
    assert updated.json()["success"] == ["urn:ngsi-ld:OffStreetParking:1"]
    deleted = client.post(
        f"{BASE}/entityOperations/delete",
        json=["urn:ngsi-ld:OffStreetParking:1", "urn:ngsi-ld:OffStreetParking:2"],
    )
    assert deleted.status_code == 204
    assert client.get(f"{BASE}/entities?type=OffStreetParking").json() == []


def test_discovery(client: TestClient) -> None:
    create(client, parking(1))
    create(
        client,
        {
            "id": "urn:ngsi-ld:Vehicle:1",
            "type": "Vehicle",
            "speed": {"type": "Property", "value": 3},
        },
    )
    types = client.get(f"{BASE}/types").json()
    assert types["type"] == "EntityTypeList"
    assert sorted(types["typeList"]) == ["OffStreetParking", "Vehicle"]
    info = client.get(f"{BASE}/types/OffStreetParking").json()
    assert info["entityCount"] == 1
    names = {a["attributeName"]: a["attributeTypes"] for a in info["attributeDetails"]}
    assert names["location"] == ["GeoProperty"]
    attributes = client.get(f"{BASE}/attributes").json()
    assert "speed" in attributes["attributeList"]
    speed = client.get(f"{BASE}/attributes/speed").json()
    assert speed["typeNames"] == ["Vehicle"] and speed["attributeCount"] == 1
    problem(client.get(f"{BASE}/types/Nothing"), 404, "ResourceNotFound")


def test_tenants_are_isolated(client: TestClient) -> None:
    create(client, parking(1), **{"NGSILD-Tenant": "brasov"})
    url = f"{BASE}/entities/urn:ngsi-ld:OffStreetParking:1"
    assert client.get(url, headers={"NGSILD-Tenant": "brasov"}).status_code == 200
    problem(client.get(url), 404, "ResourceNotFound")
    problem(client.get(url, headers={"NGSILD-Tenant": "sibiu"}), 404, "NonexistentTenant")


def test_merge_patch_and_replace(client: TestClient) -> None:
    create(client, parking(1))
    url = f"{BASE}/entities/urn:ngsi-ld:OffStreetParking:1"
    merged = client.patch(
        url, json={"availableSpotNumber": {"value": 1}, "extra": {"type": "Property", "value": "x"}}
    )
    assert merged.status_code == 204
    got = client.get(url).json()
    assert got["availableSpotNumber"]["value"] == 1
    assert got["availableSpotNumber"]["observedAt"] == "2026-11-22T08:00:00Z"
    assert got["extra"]["value"] == "x"
    replaced = client.put(
        url, json={"type": "OffStreetParking", "only": {"type": "Property", "value": 1}}
    )
    assert replaced.status_code == 204
    assert set(client.get(url).json()) == {"id", "type", "only"}


# ---------------------------------------------------------------------------------------------
# Conformance fixes: NGSI-LD Null, multi-attribute keyValues, paths, media types, batches


def multi_name(n: int) -> dict[str, Any]:
    entity = parking(n)
    entity["name"] = [
        {"type": "Property", "value": "Parking"},
        {"type": "Property", "value": "Parcare", "datasetId": "urn:ngsi-ld:Dataset:ro"},
    ]
    return entity


@pytest.mark.parametrize("how", ["merge", "update", "partial"])
def test_ngsi_ld_null_deletes_the_attribute(client: TestClient, how: str) -> None:
    create(client, parking(1))
    url = f"{BASE}/entities/urn:ngsi-ld:OffStreetParking:1"
    null = {"type": "Property", "value": "urn:ngsi-ld:null"}
    if how == "merge":
        response = client.patch(url, json={"name": null})
    elif how == "update":
        response = client.patch(f"{url}/attrs", json={"name": null})
    else:
        response = client.patch(f"{url}/attrs/name", json=null)
    assert response.status_code == 204, response.text
    assert "name" not in client.get(url).json()


def test_ngsi_ld_null_deletes_one_instance_and_a_geoproperty(client: TestClient) -> None:
    create(client, multi_name(1))
    url = f"{BASE}/entities/urn:ngsi-ld:OffStreetParking:1"
    null = {"value": "urn:ngsi-ld:null", "datasetId": "urn:ngsi-ld:Dataset:ro"}
    assert client.patch(url, json={"name": null}).status_code == 204
    geo_null = {"type": "GeoProperty", "value": "urn:ngsi-ld:null"}
    assert client.patch(f"{url}/attrs", json={"location": geo_null}).status_code == 204
    got = client.get(url).json()
    assert got["name"] == {"type": "Property", "value": "Parking"}
    assert "location" not in got


def test_key_values_of_a_multi_attribute_is_a_dataset_map(client: TestClient) -> None:
    create(client, multi_name(1))
    kv = client.get(f"{BASE}/entities/urn:ngsi-ld:OffStreetParking:1?options=keyValues").json()
    assert kv["name"] == {"dataset": {"@none": "Parking", "urn:ngsi-ld:Dataset:ro": "Parcare"}}
    assert kv["availableSpotNumber"] == 10


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("POST", "/entities//attrs/", 400),
        ("PATCH", "/entities//attrs/name", 400),
        ("DELETE", "/entities//attrs/name", 400),
        ("PATCH", "/entities/", 400),
        ("PUT", "/entities/", 400),
        ("DELETE", "/entities/urn:ngsi-ld:X:1/attrs/", 405),
        ("DELETE", "/subscriptions/", 405),
        ("PATCH", "/subscriptions/", 405),
        ("DELETE", "/temporal/entities/", 405),
    ],
)
def test_empty_path_segments(client: TestClient, method: str, path: str, status: int) -> None:
    response = client.request(method, f"{BASE}{path}", json={"name": 1})
    assert response.status_code == status, response.text


def test_an_expanded_iri_in_the_path_is_no_empty_segment(client: TestClient) -> None:
    create(client, parking(1))
    iri = "https%3A%2F%2Furi.etsi.org%2Fngsi-ld%2Fdefault-context%2FOffStreetParking"
    assert client.get(f"{BASE}/types/{iri}").status_code == 200


def test_media_types_are_checked_before_the_resource(client: TestClient) -> None:
    unknown = f"{BASE}/entities/urn:ngsi-ld:X:unknown"
    xml = {"Content-Type": "application/xml"}
    problem(
        client.patch(f"{unknown}/attrs/name", content=b"<a/>", headers=xml), 415, "InvalidRequest"
    )
    problem(client.get(unknown, headers={"Accept": "application/xml"}), 406, "InvalidRequest")
    geo = {"Accept": "application/geo+json"}
    problem(client.get(f"{BASE}/subscriptions/urn:ngsi-ld:S:1", headers=geo), 406, "InvalidRequest")
    merge_patch = {"Content-Type": "application/merge-patch+json"}
    create(client, parking(1))
    response = client.patch(
        f"{BASE}/entities/urn:ngsi-ld:OffStreetParking:1/attrs/name",
        content=b'{"value": "P1"}',
        headers=merge_patch,
    )
    assert response.status_code == 204, response.text


def test_geojson_carries_its_context_and_geometry_property(client: TestClient) -> None:
    entity = parking(1)
    entity["area"] = {"type": "GeoProperty", "value": {"type": "Point", "coordinates": [1, 2]}}
    create(client, entity)
    url = f"{BASE}/entities/urn:ngsi-ld:OffStreetParking:1"
    got = client.get(url, headers={"Accept": "application/geo+json"}).json()
    assert got["type"] == "Feature" and "@context" in got
    got = client.get(f"{url}?geometryProperty=area", headers={"Accept": "application/geo+json"})
    assert got.json()["geometry"] == {"type": "Point", "coordinates": [1, 2]}


@pytest.mark.parametrize(
    "bad_id", ["urn:ngsi-ld:X:A\u202eB", "urn:ngsi-ld:X:A\u200bB", "urn:ngsi-ld:X:A\ufe0fB"]
)
def test_invisible_characters_in_entity_ids_are_refused(client: TestClient, bad_id: str) -> None:
    entity = {"id": bad_id, "type": "X"}
    problem(client.post(f"{BASE}/entities", json=entity), 400, "BadRequestData")


def test_non_ascii_entity_ids_and_objects_are_accepted(client: TestClient) -> None:
    entity = {
        "id": "urn:ngsi-ld:Ciudad:París",
        "type": "X",
        "near": {"type": "Relationship", "object": "urn:ngsi-ld:Ciudad:Par\u00c3\u00adis"},
    }
    create(client, entity)


def test_batch_delete_accepts_ids_as_json_ld(client: TestClient) -> None:
    create(client, parking(1))
    response = client.post(
        f"{BASE}/entityOperations/delete",
        content=b'["urn:ngsi-ld:OffStreetParking:1"]',
        headers={"Content-Type": "application/ld+json"},
    )
    assert response.status_code == 204, response.text


def test_batch_merge_and_per_entity_context_errors(client: TestClient) -> None:
    create(client, parking(1))
    fragments = [
        {"id": "urn:ngsi-ld:OffStreetParking:1", "name": "P"},
        {"id": "urn:ngsi-ld:OffStreetParking:2", "name": "Q"},
    ]
    response = client.post(f"{BASE}/entityOperations/merge", json=fragments)
    assert response.status_code == 207, response.text
    assert response.json()["success"] == ["urn:ngsi-ld:OffStreetParking:1"]
    with_context = [{**parking(3), "@context": "https://uri.etsi.org/ngsi-ld/v1/x.jsonld"}]
    response = client.post(f"{BASE}/entityOperations/create", json=with_context)
    assert response.status_code == 207, response.text
    error = response.json()["errors"][0]["error"]
    assert error["type"] == "https://uri.etsi.org/ngsi-ld/errors/BadRequestData"


def test_batch_update_no_overwrite_reports_kept_attributes(client: TestClient) -> None:
    create(client, parking(1))
    fragment = [{"id": "urn:ngsi-ld:OffStreetParking:1", "name": "New", "extra": 1}]
    response = client.post(f"{BASE}/entityOperations/update?options=noOverwrite", json=fragment)
    assert response.status_code == 207, response.text
    got = client.get(f"{BASE}/entities/urn:ngsi-ld:OffStreetParking:1").json()
    assert got["name"]["value"] == "Parking 1" and got["extra"]["value"] == 1


def test_update_attrs_adds_types_and_scope_rules(client: TestClient) -> None:
    create(client, parking(1))
    url = f"{BASE}/entities/urn:ngsi-ld:OffStreetParking:1"
    assert client.patch(f"{url}/attrs", json={"type": "Place"}).status_code == 204
    assert client.get(url).json()["type"] == ["OffStreetParking", "Place"]
    assert client.patch(f"{url}/attrs", json={"scope": "/A"}).status_code == 207
    assert client.post(f"{url}/attrs", json={"scope": "/A"}).status_code == 204
    assert client.post(f"{url}/attrs?options=noOverwrite", json={"scope": "/B"}).status_code == 204
    assert client.get(url).json()["scope"] == ["/A", "/B"]
    assert client.patch(f"{url}/attrs", json={"scope": "/C"}).status_code == 204
    assert client.get(url).json()["scope"] == "/C"
    assert client.delete(f"{url}/attrs/scope").status_code == 204
    assert "scope" not in client.get(url).json()
    problem(client.put(f"{url}/attrs/scope", json={"value": "/D"}), 400, "BadRequestData")
    problem(client.put(f"{url}/attrs/@invalid", json={"value": 1}), 400, "BadRequestData")


def test_partial_update_of_sub_attributes_and_type_mismatch(client: TestClient) -> None:
    entity = parking(1)
    entity["name"]["providedBy"] = {"type": "Relationship", "object": "urn:ngsi-ld:P:1"}
    create(client, entity)
    url = f"{BASE}/entities/urn:ngsi-ld:OffStreetParking:1/attrs/name"
    sub = {"providedBy": {"type": "Relationship", "object": "urn:ngsi-ld:P:2"}}
    assert client.patch(url, json=sub).status_code == 204
    got = client.get(f"{BASE}/entities/urn:ngsi-ld:OffStreetParking:1").json()["name"]
    assert got == {"type": "Property", "value": "Parking 1", **sub}
    relationship = {"type": "Relationship", "object": "urn:ngsi-ld:P:3"}
    problem(client.patch(url, json=relationship), 400, "BadRequestData")


def test_entity_type_and_query_member_names_are_checked(client: TestClient) -> None:
    problem(client.post(f"{BASE}/entities", json=[]), 400, "InvalidRequest")
    problem(
        client.post(f"{BASE}/entities", json={"id": "urn:ngsi-ld:X:1", "type": "type"}),
        400,
        "BadRequestData",
    )
    problem(client.get(f"{BASE}/entities?type=X&attrs=id,type"), 400, "BadRequestData")
    problem(client.get(f"{BASE}/entities?id=urn:ngsi-ld:X:1"), 400, "BadRequestData")
    assert client.get(f"{BASE}/entities?local=true").status_code == 200
