"""The dashboard's search (entities by id, name or address; the city's addresses), its tenant
list, and the map as it was at a past time, on each store."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from cetate.city.addresses import Address
from cetate.hub.documents import upsert_documents
from cetate.hub.model import format_time
from cetate.hub.service import Hub
from cetate.web.app import create_app
from cetate.web.ui.search import AddressSearch, Hit, merge, rank, words

NOW = datetime.now(UTC)
LIGHT = "urn:ngsi-ld:Streetlight:bv:7"


def at(minutes_ago: int) -> str:
    return format_time(NOW - timedelta(minutes=minutes_ago))


def prop(value: Any, minutes_ago: int | None = None) -> dict[str, Any]:
    found: dict[str, Any] = {"type": "Property", "value": value}
    if minutes_ago is not None:
        found["observedAt"] = at(minutes_ago)
    return found


def located(lon: float, lat: float) -> dict[str, Any]:
    return {"type": "GeoProperty", "value": {"type": "Point", "coordinates": [lon, lat]}}


ENTITIES = [
    {"id": LIGHT, "type": "Streetlight", "location": located(25.6, 45.65),
     "name": prop("Lampa Piața Sfatului"),
     "address": prop({"streetAddress": "Piața Sfatului 1", "addressLocality": "Brașov"})},
    {"id": "urn:ngsi-ld:OffStreetParking:bv:1", "type": "OffStreetParking",
     "location": located(25.59, 45.64), "name": prop("Parcare Strada Lungă")},
    {"id": "urn:ngsi-ld:Budget:bv:1", "type": "Budget", "name": prop("Bugetul Lung")},
]  # fmt: skip


@pytest.fixture
def client(hub: Hub) -> Iterator[TestClient]:
    assert not upsert_documents(hub, "", ENTITIES).errors
    with TestClient(create_app(hub.settings, hub)) as test_client:
        yield test_client


def ids(response: Any) -> list[str]:
    assert response.status_code == 200, response.text
    return [hit["id"] for hit in response.json()["results"]]


# -- ranking ------------------------------------------------------------------------------------


def hit(label: str, hit_id: str = "x", kind: str = "address") -> tuple[str, Hit]:
    return label.casefold(), Hit(kind, hit_id, label, "", 0.0, 0.0)


def test_every_word_must_match_in_any_order_and_the_exact_label_comes_first() -> None:
    lines = [hit("Kaivokatu 12", "a"), hit("Kaivokatu 1", "b"), hit("Mikonkatu 1", "c")]
    assert [h.id for _, h in rank(lines, words("1 KAIVOKATU"), 10)] == ["b", "a"]
    assert [h.id for _, h in rank(lines, words("kaivokatu 1"), 10)] == ["b", "a"]


def test_ranked_lists_merge_by_score() -> None:
    entity = rank([hit("Kaivokatu", "urn:1", "entity")], ["kaivokatu"], 5)
    address = rank([hit("Kaivokatu 1", "node/1")], ["kaivokatu"], 5)
    assert [h.id for h in merge([address, entity], 5)] == ["urn:1", "node/1"]


def test_addresses_found_twice_in_osm_are_offered_once() -> None:
    twice = [Address("node/1", "Strada Lungă", "5", 25.6, 45.6),
             Address("way/2", "Strada Lungă", "5", 25.6001, 45.6001),
             Address("node/3", "Strada Lungă", "7", 25.61, 45.6)]  # fmt: skip
    search = AddressSearch(lambda: twice)
    assert [h.label for _, h in search.search(words("lunga"), 10)] == [
        "Strada Lungă 5", "Strada Lungă 7"]  # fmt: skip


# -- /ui/search ---------------------------------------------------------------------------------


def test_search_by_id_name_or_address_without_accents(client: TestClient) -> None:
    assert ids(client.get("/ui/search", params={"q": "bv:7"})) == [LIGHT]
    assert ids(client.get("/ui/search", params={"q": "strada lunga"})) == [
        "urn:ngsi-ld:OffStreetParking:bv:1"]  # fmt: skip
    found = client.get("/ui/search", params={"q": "sfatului 1 brasov"}).json()["results"]
    assert [h["id"] for h in found] == [LIGHT]
    assert found[0]["label"] == "Lampa Piața Sfatului" and found[0]["layer"] == "lights"
    assert found[0]["detail"] == "Streetlight · Piața Sfatului 1, Brașov"
    assert found[0]["lon"] == 25.6
    # An entity with no location is found too, with no place on the map.
    budget = client.get("/ui/search", params={"q": "bugetul"}).json()["results"]
    assert budget[0]["lon"] is None and budget[0]["layer"] is None


def test_search_follows_writes(client: TestClient) -> None:
    assert ids(client.get("/ui/search", params={"q": "lung"})) != []
    new = {"id": "urn:ngsi-ld:Streetlight:bv:8", "type": "Streetlight", "name": "Lampa Nouă"}
    assert client.post("/ngsi-ld/v1/entities", json=new).status_code == 201
    assert ids(client.get("/ui/search", params={"q": "noua"})) == [new["id"]]
    assert client.delete(f"/ngsi-ld/v1/entities/{new['id']}").status_code == 204
    assert ids(client.get("/ui/search", params={"q": "noua"})) == []


def test_search_keeps_tenants_apart(client: TestClient) -> None:
    other = {"id": "urn:ngsi-ld:Streetlight:cj:1", "type": "Streetlight", "name": "Lampa Cluj"}
    headers = {"NGSILD-Tenant": "cluj"}
    assert client.post("/ngsi-ld/v1/entities", json=other, headers=headers).status_code == 201
    assert ids(client.get("/ui/search", params={"q": "lampa cluj"})) == []
    assert ids(client.get("/ui/search", params={"q": "lampa"}, headers=headers)) == [other["id"]]
    assert ids(client.get("/ui/search", params={"q": "lampa", "tenant": "nowhere"})) == []


@pytest.mark.parametrize("params", [{"q": "a"}, {"q": " "}, {"q": "lamp", "limit": 0},
                                    {"q": "lamp", "limit": 51}])  # fmt: skip
def test_bad_searches_get_problem_details(client: TestClient, params: dict[str, Any]) -> None:
    response = client.get("/ui/search", params=params)
    assert response.status_code == 400 and response.json()["title"] == "Bad request data"


def test_the_tenants_of_the_hub(client: TestClient) -> None:
    assert client.get("/ui/tenants").json() == [""]
    doc = {"id": "urn:ngsi-ld:Thing:1", "type": "Thing"}
    client.post("/ngsi-ld/v1/entities", json=doc, headers={"NGSILD-Tenant": "north"})
    assert client.get("/ui/tenants").json() == ["", "north"]


# -- the map as it was --------------------------------------------------------------------------


def light_history(client: TestClient) -> None:
    """A light read off 60 minutes ago, on 30 minutes ago, at fault from 10 minutes ago (and
    registered with its location only now, after its readings: as a CSV replay does)."""
    for minutes, power, status in ((60, "off", "ok"), (30, "on", "ok"), (10, "on", "columnIssue")):
        update = {"powerState": prop(power, minutes), "status": prop(status, minutes)}
        response = client.post(f"/ngsi-ld/v1/entities/{LIGHT}/attrs", json=update)
        assert response.status_code == 204, response.text


def state_at(client: TestClient, when: str | None) -> dict[str, str | None]:
    params = {"at": when} if when else {}
    response = client.get("/ui/layers/lights/points", params=params)
    assert response.status_code == 200, response.text
    return {p[1]: p[4] for p in response.json()["points"]}


def test_the_map_at_a_past_time(client: TestClient) -> None:
    light_history(client)
    assert state_at(client, None) == {LIGHT: "fault"}
    assert state_at(client, at(5)) == {LIGHT: "fault"}
    assert state_at(client, at(20)) == {LIGHT: "on"}
    assert state_at(client, at(45)) == {LIGHT: "off"}
    assert state_at(client, at(10)) == {LIGHT: "fault"}  # an instance at the very time counts
    # Before anything was recorded of it, it was not on the map.
    assert state_at(client, at(24 * 60)) == {}
    # Where it was: its location, recorded after its first readings, stands for the past too.
    point = client.get("/ui/layers/lights/points", params={"at": at(45)}).json()["points"][0]
    assert point[2:4] == [25.6, 45.65]


@pytest.mark.parametrize("when", ["yesterday", "2026-13-01T00:00:00Z"])
def test_a_bad_time_is_refused(client: TestClient, when: str) -> None:
    response = client.get("/ui/layers/lights/points", params={"at": when})
    assert response.status_code == 400 and "at" in response.json()["detail"]


def test_concurrent_first_searches_and_refreshes_lose_no_write(
    hub: Hub, monkeypatch: pytest.MonkeyPatch
) -> None:
    from concurrent.futures import ThreadPoolExecutor

    from cetate.web.ui import search as search_module
    from cetate.web.ui.modules import default_registry
    from cetate.web.ui.points import LayerIndex

    assert not upsert_documents(hub, "", ENTITIES).errors
    searcher = search_module.EntitySearch(hub, LayerIndex(default_registry(), hub.contexts.core()))
    monkeypatch.setattr(search_module, "REFRESH_S", 0.0)  # every search refreshes in a thread
    wanted = words("lampa")

    def search_and_write(n: int) -> int:
        doc = {"id": f"urn:ngsi-ld:Streetlight:bv:x{n}", "type": "Streetlight", "name": "Lampa X"}
        assert not upsert_documents(hub, "", [doc]).errors
        return len(searcher.search("", wanted, 50))

    with ThreadPoolExecutor(8) as pool:
        found = list(pool.map(search_and_write, range(40)))
    assert all(n >= 1 for n in found)
    deadline = time.monotonic() + 5
    while len(searcher.search("", wanted, 50)) != 41 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(searcher.search("", wanted, 50)) == 41  # the first lamp and the forty written
