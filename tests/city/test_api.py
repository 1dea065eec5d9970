"""/city over HTTP: routes, matrices, isochrones, nearest, snapping, closures kept in the hub."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from cetate.city.places import read_places
from cetate.city.service import City
from cetate.config import Settings
from cetate.hub.context import ContextResolver
from cetate.hub.service import Hub
from cetate.hub.store.base import Store
from cetate.web.app import create_app

STATION = "24.9414,60.1710"  # Helsinki central station
EAST = "24.9520,60.1650"


@pytest.fixture(scope="module")
def city(helsinki_pbf: Path, tmp_path_factory: pytest.TempPathFactory) -> City:
    loaded = City.load(helsinki_pbf, cache_dir=tmp_path_factory.mktemp("graphs"))
    loaded.places = read_places(helsinki_pbf)
    return loaded


@pytest.fixture
def client(store: Store, city: City) -> Iterator[TestClient]:
    settings = Settings(store="unused", allow_remote_contexts=False)
    hub = Hub(store, ContextResolver(directory=None, allow_remote=False), settings)
    city.attach_closures(lambda: [])  # replaced by the app with the hub's closures
    with TestClient(create_app(settings, hub, city)) as test_client:
        yield test_client
    hub.writer.close()


def route(client: TestClient, **params: str) -> dict:
    response = client.get("/city/route", params={"from": STATION, "to": EAST, **params})
    assert response.status_code == 200, response.text
    return response.json()


def test_summary_reports_modes_and_places(client: TestClient) -> None:
    body = client.get("/city").json()
    assert set(body["modes"]) == {"drive", "bike", "walk"}
    assert body["modes"]["drive"]["restrictionsApplied"] > 0
    assert body["places"]["bus_stop"] > 10


def test_route_is_a_geojson_feature_from_origin_to_destination(client: TestClient) -> None:
    feature = route(client, mode="drive")
    assert feature["geometry"]["type"] == "LineString"
    props = feature["properties"]
    assert 60 < props["duration_s"] < 900
    assert 500 < props["distance_m"] < 5000
    first, last = feature["geometry"]["coordinates"][0], feature["geometry"]["coordinates"][-1]
    assert first == pytest.approx(props["snappedFrom"], abs=1e-6)
    assert last == pytest.approx(props["snappedTo"], abs=1e-6)
    walk = route(client, mode="walk")["properties"]
    assert walk["duration_s"] > props["duration_s"]  # walking is slower than driving


def test_matrix_matches_routes(client: TestClient) -> None:
    points = [[24.9414, 60.1710], [24.9520, 60.1650], [24.9300, 60.1640]]
    response = client.post("/city/matrix", json={"origins": points, "mode": "bike"})
    assert response.status_code == 200, response.text
    durations = response.json()["durations_s"]
    assert [durations[i][i] for i in range(3)] == [0.0, 0.0, 0.0]
    one = route(client, mode="bike")["properties"]["duration_s"]
    assert durations[0][1] == pytest.approx(one, abs=0.002)


def test_isochrones_grow_with_the_budget(client: TestClient) -> None:
    response = client.get(
        "/city/isochrones", params={"origin": STATION, "budgets": "300,120", "mode": "walk"}
    )
    assert response.status_code == 200, response.text
    features = response.json()["features"]
    assert [f["properties"]["budget_s"] for f in features] == [120.0, 300.0]
    small, large = (f["properties"]["reachedStreet_m"] for f in features)
    assert 0 < small < large
    assert all(f["geometry"]["type"] in ("Polygon", "MultiPolygon") for f in features)


def test_nearest_pharmacies_sorted_by_walking_time(client: TestClient) -> None:
    response = client.get(
        "/city/nearest", params={"point": STATION, "kind": "pharmacy", "k": 3, "mode": "walk"}
    )
    assert response.status_code == 200, response.text
    durations = [f["properties"]["duration_s"] for f in response.json()["features"]]
    assert len(durations) == 3 and durations == sorted(durations)
    missing = client.get("/city/nearest", params={"point": STATION, "kind": "hospital"})
    assert missing.status_code == 404


def test_snap_gives_segment_and_distance(client: TestClient) -> None:
    response = client.post("/city/snap", json={"points": [[24.9414, 60.1710]], "mode": "walk"})
    (snapped,) = response.json()["snapped"]
    assert snapped["distance_m"] < 100 and 0 <= snapped["fraction"] <= 1


@pytest.mark.parametrize(
    ("path", "params", "detail"),
    [
        ("/city/route", {"from": "25.5,60.17", "to": EAST}, "from the nearest road"),
        ("/city/route", {"from": STATION, "to": EAST, "mode": "boat"}, "unknown or unloaded mode"),
        ("/city/route", {"from": "x,y", "to": EAST}, "longitude,latitude"),
        ("/city/isochrones", {"origin": STATION, "budgets": "-5"}, "time budget"),
        ("/city/isochrones", {"origin": STATION, "budgets": "ten"}, "budgets"),
    ],
)
def test_bad_input_is_a_problem_details(
    client: TestClient, path: str, params: dict[str, str], detail: str
) -> None:
    response = client.get(path, params=params)
    assert response.status_code == 400
    body = response.json()
    assert body["type"].endswith("BadRequestData") and detail in body["detail"]


def test_a_closure_in_the_hub_changes_routes_until_it_is_removed(client: TestClient) -> None:
    before = route(client, mode="drive")["properties"]
    # Close the busiest segment of the fastest route, keeping both ends open.
    closed = before["segments"][len(before["segments"]) // 2]
    closure = {"id": "urn:ngsi-ld:RoadClosure:test-1", "segments": [closed], "reason": "works"}
    created = client.post("/city/closures", json=closure)
    assert created.status_code == 201, created.text
    during = route(client, mode="drive")["properties"]
    assert closed not in during["segments"]
    assert during["duration_s"] > before["duration_s"]
    stored = client.get(
        "/ngsi-ld/v1/entities/urn:ngsi-ld:RoadClosure:test-1", params={"options": "keyValues"}
    ).json()
    assert stored["type"] == "cetate:RoadClosure" and stored["segments"] == [closed]
    # A closure without ``modes`` closes the road to every mode.
    assert closed not in route(client, mode="walk")["properties"]["segments"]
    assert client.delete("/city/closures/urn:ngsi-ld:RoadClosure:test-1").status_code == 204
    after = route(client, mode="drive")["properties"]
    assert after["duration_s"] == pytest.approx(before["duration_s"])


def test_a_closure_written_over_ngsi_ld_is_honoured(client: TestClient) -> None:
    before = route(client, mode="drive")["properties"]
    lon, lat = (float(v) for v in EAST.split(","))
    # A small square around the destination's neighbourhood, valid for the next hour only.
    square = [[lon - 0.002, lat - 0.001], [lon + 0.002, lat - 0.001], [lon + 0.002, lat + 0.001],
              [lon - 0.002, lat + 0.001], [lon - 0.002, lat - 0.001]]  # fmt: skip
    entity = {
        "id": "urn:ngsi-ld:RoadClosure:flood",
        "type": "cetate:RoadClosure",
        "location": {"type": "GeoProperty", "value": {"type": "Polygon", "coordinates": [square]}},
        "modes": {"type": "Property", "value": ["drive"]},
        "validTo": {"type": "Property", "value": "2999-01-01T00:00:00Z"},
    }
    assert client.post("/ngsi-ld/v1/entities", json=entity).status_code == 201
    client.app.state.city.closures_changed()  # instead of waiting for the 1 s refresh
    response = client.get("/city/route", params={"from": STATION, "to": EAST, "mode": "drive"})
    # The destination itself is inside the closed area: it is reached on the nearest open road.
    assert response.status_code == 200, response.text
    assert response.json()["properties"]["segments"] != before["segments"]
    past = client.get(
        "/city/route",
        params={"from": STATION, "to": EAST, "mode": "drive", "at": "3000-01-01T00:00:00Z"},
    ).json()["properties"]
    assert past["duration_s"] == pytest.approx(before["duration_s"])  # expired by then


@pytest.mark.parametrize(
    ("closure", "detail"),
    [
        ({"id": "urn:x:1", "location": {"type": "Polygon", "coordinates": [[[0, 0], [1, 1]]]}},
         "not valid"),
        ({"id": "urn:x:2", "location": {"type": "Point", "coordinates": [24.9, 60.1]}},
         "Polygon or MultiPolygon"),
        ({"id": "urn:x:3"}, "give an area"),
        ({"id": "urn:x:4", "segments": ["1-0"], "modes": ["boat"]}, "modes"),
        ({"id": "urn:x:5", "segments": ["999999999-0"]}, "no road segment"),
        ({"id": "urn:x:6", "segments": ["1-0"], "validFrom": "2026-01-02T00:00:00Z",
          "validTo": "2026-01-01T00:00:00Z"}, "after validFrom"),
    ],
)  # fmt: skip
def test_bad_closures_are_refused_and_nothing_is_written(
    client: TestClient, closure: dict, detail: str
) -> None:
    response = client.post("/city/closures", json=closure)
    assert response.status_code in (400, 404), response.text
    assert detail in response.json()["detail"]
    listed = client.get("/ngsi-ld/v1/entities", params={"type": "cetate:RoadClosure"}).json()
    assert listed == []


def test_without_a_city_the_routes_say_so(store: Store) -> None:
    settings = Settings(store="unused", allow_remote_contexts=False)
    hub = Hub(store, ContextResolver(directory=None, allow_remote=False), settings)
    with TestClient(create_app(settings, hub)) as test_client:
        response = test_client.get("/city/route", params={"from": STATION, "to": EAST})
    hub.writer.close()
    assert response.status_code == 409
    assert "no city is loaded" in response.json()["detail"]
