"""The dashboard's endpoints: the page and its files (all local), configuration, map points and
live updates, on each store."""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from cetate.config import Settings
from cetate.hub.documents import upsert_documents
from cetate.hub.service import Hub
from cetate.web.app import create_app

LIGHT = "urn:ngsi-ld:Streetlight:t:1"


def point(lon: float, lat: float) -> dict[str, Any]:
    return {"type": "GeoProperty", "value": {"type": "Point", "coordinates": [lon, lat]}}


def prop(value: Any) -> dict[str, Any]:
    return {"type": "Property", "value": value}


ENTITIES = [
    {"id": LIGHT, "type": "Streetlight", "location": point(24.94, 60.17),
     "status": prop("ok"), "powerState": prop("on")},
    {"id": "urn:ngsi-ld:Streetlight:t:2", "type": "Streetlight", "location": point(24.95, 60.16),
     "status": prop("defectiveLamp"), "powerState": prop("off")},
    {"id": "urn:ngsi-ld:Streetlight:t:3", "type": "Streetlight", "status": prop("ok")},
    {"id": "urn:ngsi-ld:OffStreetParking:t:1", "type": "OffStreetParking",
     "location": point(24.93, 60.17), "occupancy": prop(0.95)},
    {"id": "urn:ngsi-ld:OnStreetParking:t:1", "type": "OnStreetParking",
     "location": point(24.93, 60.18)},
    {"id": "urn:ngsi-ld:Bench:t:1", "type": "Bench", "location": {"type": "GeoProperty",
     "value": {"type": "LineString", "coordinates": [[24.0, 60.0], [24.5, 60.5], [25.0, 61.0]]}}},
    {"id": "urn:ngsi-ld:Budget:t:1", "type": "Budget", "amount": prop(3)},
]  # fmt: skip


@pytest.fixture
def client(hub: Hub) -> Iterator[TestClient]:
    assert not upsert_documents(hub, "", ENTITIES).errors
    with TestClient(create_app(hub.settings, hub)) as test_client:
        yield test_client


def test_the_page_is_served_at_the_root_with_every_file_it_loads(client: TestClient) -> None:
    response = client.get("/")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    html = response.text
    assert '<html lang="en">' in html
    local = re.findall(r'(?:src|href)="(/[^"]+)"', html)
    assert "/static/vendor/leaflet/leaflet.js" in local
    assert "/static/vendor/leaflet.markercluster/leaflet.markercluster.js" in local
    for path in local:
        assert client.get(path).status_code == 200, path
    for lang in ("en", "ro"):
        assert client.get(f"/static/ui/i18n/{lang}.json").status_code == 200


def own_files(client: TestClient) -> dict[str, str]:
    paths = ["/", "/static/ui/app.js", "/static/ui/map.js", "/static/ui/explorer.js",
             "/static/ui/alerts.js",
             "/static/ui/app.css"]  # fmt: skip
    return {path: client.get(path).text for path in paths}


def vendor_files(client: TestClient) -> dict[str, str]:
    paths = [
        "/static/vendor/leaflet/leaflet.js",
        "/static/vendor/leaflet/leaflet.css",
        "/static/vendor/leaflet.markercluster/leaflet.markercluster.js",
        "/static/vendor/leaflet.markercluster/MarkerCluster.css",
    ]
    return {path: client.get(path).text for path in paths}


# What would make a browser load something from elsewhere: a script, style sheet or image
# element, a CSS url() or @import, an ES import, a fetch or an EventSource. A link (<a href>)
# loads nothing until someone follows it: Leaflet's credit links to its site.
REMOTE_RESOURCE = re.compile(
    r"""(?:(?:\bsrc|(?<!<a )\bhref)\s*=\s*["']?|url\(\s*["']?|@import\s+["']"""
    r"""|\bimport\b[^;\n]*?["']|\bfetch\(\s*["'`]|EventSource\(\s*["'`])(?:https?:)?//""",
    re.IGNORECASE,
)


def test_nothing_is_loaded_from_the_internet(client: TestClient) -> None:
    files = {**own_files(client), **vendor_files(client)}
    for path, text in files.items():
        assert not REMOTE_RESOURCE.search(text), (path, REMOTE_RESOURCE.search(text))
    # Our own files name no other site at all (the SVG namespace is a name, not an address).
    for path, text in own_files(client).items():
        addresses = set(re.findall(r"https?://[^\s\"'`)]+", text))
        assert addresses <= {"http://www.w3.org/2000/svg"}, (path, addresses)


def test_the_check_would_see_a_cdn() -> None:
    for bad in (
        '<script src="https://unpkg.com/leaflet.js">',
        "<link href='//cdn.example/x.css'>",
        "background: url(https://tiles.example/1.png)",
        "@import 'https://fonts.example/css';",
        'fetch("https://tile.openstreetmap.org/1/1/1.png")',
        "import L from 'https://esm.sh/leaflet';",
    ):
        assert REMOTE_RESOURCE.search(bad), bad
    assert not REMOTE_RESOURCE.search('<a href="https://leafletjs.com">Leaflet</a>')
    assert not REMOTE_RESOURCE.search('<script src="/static/vendor/leaflet/leaflet.js">')


def test_config_lists_modules_layers_and_located_types(client: TestClient) -> None:
    body = client.get("/ui/config").json()
    assert [m["id"] for m in body["modules"]] == ["map", "alerts", "hub"]
    assert [layer["id"] for layer in body["layers"]] == [
        "parking",
        "traffic",
        "lights",
        "air",
        "alerts",
    ]
    assert body["city"] is None  # no city loaded in this app
    assert body["auth"] is False
    layers = {layer["id"]: layer for layer in client.get("/ui/layers").json()}
    assert layers["lights"]["count"] == 3
    assert layers["parking"]["count"] == 2
    assert layers["lights"]["states"][0] == {
        "state": "fault",
        "colour": "#d01c8b",
        "label": {"en": "Fault", "ro": "Defect"},
    }
    # A located type no module claims has its own layer, switched off; one never located none.
    assert layers["type-bench"]["visible"] is False
    assert layers["type-bench"]["count"] == 1
    assert "type-budget" not in layers


def points_of(client: TestClient, layer: str, **headers: str) -> dict[str, list[Any]]:
    response = client.get(f"/ui/layers/{layer}/points", headers=headers)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["layer"] == layer and body["truncated"] is False
    return {p[1]: p for p in body["points"]}


def test_points_carry_position_and_state(client: TestClient) -> None:
    lights = points_of(client, "lights")
    assert lights == {
        LIGHT: ["lights", LIGHT, 24.94, 60.17, "on"],
        "urn:ngsi-ld:Streetlight:t:2": [
            "lights",
            "urn:ngsi-ld:Streetlight:t:2",
            24.95,
            60.16,
            "fault",
        ],
    }  # fmt: skip  (the light without a location is not on the map)
    parking = points_of(client, "parking")
    assert parking["urn:ngsi-ld:OffStreetParking:t:1"][4] == "full"
    assert parking["urn:ngsi-ld:OnStreetParking:t:1"][4] == "unknown"
    bench = points_of(client, "type-bench")["urn:ngsi-ld:Bench:t:1"]
    assert bench[2:4] == [24.5, 60.5]  # a line is shown at its middle vertex


def test_unknown_layers_and_tenants(client: TestClient) -> None:
    assert client.get("/ui/layers/nothing/points").status_code == 404
    assert client.get("/ui/layers/type-budget/points").status_code == 404
    assert points_of(client, "lights", **{"NGSILD-Tenant": "elsewhere"}) == {}
    assert client.get("/ui/config?tenant=bad%20name").status_code == 400
    assert client.get("/ui/basemap/14/9326/4741.json").status_code == 404  # no city here


def read_events(response: httpx.Response, found: list[list[Any]], wanted: set[str]) -> None:
    for line in response.iter_lines():
        if line.startswith("data: "):
            found.extend(json.loads(line[6:]))
            if wanted <= {p[1] for p in found}:
                return


def test_a_write_reaches_the_live_stream(hub: Hub, serve: Any) -> None:
    """Through a real server: SSE needs a streaming client the test client does not offer."""
    assert not upsert_documents(hub, "", ENTITIES).errors
    app = create_app(hub.settings, hub)
    gone_id = "urn:ngsi-ld:Streetlight:t:2"
    with serve(app) as server, httpx.Client(base_url=server.url, timeout=10) as http:
        with http.stream("GET", "/ui/events") as response:
            assert response.headers["content-type"].startswith("text/event-stream")
            found: list[list[Any]] = []
            wanted = {LIGHT, gone_id}
            reader = threading.Thread(target=read_events, args=(response, found, wanted))
            reader.start()
            for _ in range(100):  # the stream is subscribed once its first bytes are out
                if app.state.ui_feed.watching:
                    break
                threading.Event().wait(0.02)
            patched = http.patch(
                f"/ngsi-ld/v1/entities/{LIGHT}/attrs", json={"status": prop("columnIssue")}
            )
            assert patched.status_code == 204, patched.text
            assert http.delete(f"/ngsi-ld/v1/entities/{gone_id}").status_code == 204
            reader.join(timeout=5)
            assert ["lights", LIGHT, 24.94, 60.17, "fault"] in found
            assert ["lights", gone_id, None, None, None] in found  # it left the map
        assert hub.listeners.count(app.state.ui_feed) <= 1


def test_the_feed_leaves_the_hub_when_nobody_watches(hub: Hub, serve: Any) -> None:
    settings = Settings(store="unused", allow_remote_contexts=False)
    app = create_app(settings, hub)
    with serve(app) as server, httpx.Client(base_url=server.url, timeout=10) as http:
        with http.stream("GET", "/ui/events") as response:
            lines = response.iter_lines()  # kept: a dropped iterator closes the connection
            next(lines)
            assert app.state.ui_feed in hub.listeners
        for _ in range(200):
            if app.state.ui_feed not in hub.listeners:
                break
            threading.Event().wait(0.02)
        assert app.state.ui_feed not in hub.listeners


def test_points_are_kept_current_between_page_loads(
    client: TestClient, hub: Hub, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert points_of(client, "lights")[LIGHT][4] == "on"
    assert client.app.state.ui_feed in hub.listeners  # type: ignore[attr-defined]
    patched = client.patch(
        f"/ngsi-ld/v1/entities/{LIGHT}/attrs", json={"status": prop("defectiveLamp")}
    )
    assert patched.status_code == 204
    new = {"id": "urn:ngsi-ld:Streetlight:t:9", "type": "Streetlight",
           "location": point(24.9, 60.1), "powerState": prop("off")}  # fmt: skip
    assert client.post("/ngsi-ld/v1/entities", json=new).status_code == 201
    assert client.delete("/ngsi-ld/v1/entities/urn:ngsi-ld:Streetlight:t:2").status_code == 204
    lights = points_of(client, "lights")
    assert lights[LIGHT][4] == "fault"
    assert lights["urn:ngsi-ld:Streetlight:t:9"][2:] == [24.9, 60.1, "off"]
    assert "urn:ngsi-ld:Streetlight:t:2" not in lights


def test_writes_of_another_process_show_once_the_cache_is_old(
    client: TestClient, hub: Hub, monkeypatch: pytest.MonkeyPatch
) -> None:
    from cetate.web.ui import live

    assert points_of(client, "lights")[LIGHT][4] == "on"
    other = Hub(hub.store, hub.contexts, hub.settings)  # another API worker on the same store
    change = {"id": LIGHT, "type": "Streetlight", "powerState": prop("off")}
    assert not upsert_documents(other, "", [change], replace=False).errors
    other.writer.close()
    assert points_of(client, "lights")[LIGHT][4] == "on"  # not seen by this process yet
    monkeypatch.setattr(live, "CACHE_TTL_S", 0.0)
    assert points_of(client, "lights")[LIGHT][4] == "off"


def test_both_languages_have_every_message(client: TestClient) -> None:
    english = client.get("/static/ui/i18n/en.json").json()
    romanian = client.get("/static/ui/i18n/ro.json").json()
    assert set(english) == set(romanian)
    assert all(isinstance(text, str) and text for text in [*english.values(), *romanian.values()])
    # Every message key the page's scripts name literally is in the catalogue.
    static = Path(__file__).parents[2] / "src/cetate/web/ui/static"
    used = set()
    for script in static.glob("*.js"):
        used |= set(re.findall(r'\bt\("([A-Za-z.]+)"', script.read_text()))
    assert used - set(english) == set()
