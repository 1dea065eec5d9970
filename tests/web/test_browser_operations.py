"""The operations room with accounts on, in headless Chromium on the demo city: signing in,
what a viewer may not do, the alerts panel, search, the tenant switch and the time slider.
Screenshots go to test-output/screenshots/."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from argon2 import PasswordHasher

from cetate.alerts.model import alert_document
from cetate.city.addresses import read_addresses
from cetate.config import Settings
from cetate.demo.city import prepare_demo
from cetate.hub.model import format_time
from cetate.hub.service import build_hub
from cetate.web.app import create_app
from cetate.web.auth import passwords
from cetate.web.auth.accounts import Accounts
from cetate.web.auth.roles import Role

pytestmark = pytest.mark.browser

PASSWORD = "a-long-pass-phrase"
CHEAP = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)  # argon2id all the same
ENTITIES = "/ngsi-ld/v1/entities"
NORTH_PARKING = "urn:ngsi-ld:OffStreetParking:north:1"


class Room:
    def __init__(self, url: str, keys: dict[str, str], pbf: Path) -> None:
        self.url = url
        self.keys = keys
        self.pbf = pbf

    def call(self, who: str, method: str, path: str, **kwargs: Any) -> httpx.Response:
        headers = {"Authorization": f"Bearer {self.keys[who]}", **kwargs.pop("headers", {})}
        return httpx.request(method, self.url + path, headers=headers, timeout=30, **kwargs)


@pytest.fixture(scope="module")
def room(
    browser: Any,  # first: without a browser nothing is prepared
    serve: Any,
    helsinki_pbf: Path,
    city_cache: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Room]:
    """The demo city with accounts: a viewer, an operator, and an admin of every tenant; a
    second tenant ("north") with one car park."""
    folder = tmp_path_factory.mktemp("room")
    settings = Settings(
        store=f"sqlite:///{folder / 'demo.db'}",
        city_osm=helsinki_pbf,
        city_cache=city_cache,
        allow_remote_contexts=False,
        auth=True,
    )
    city = prepare_demo(settings, history_hours=2.0, say=lambda _message: None)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(passwords, "HASHER", CHEAP)
        hub = build_hub(settings)
        accounts = Accounts(hub, settings)
        keys = {}
        for name, grants in {
            "vera": {"": Role.VIEWER},
            "otto": {"": Role.OPERATOR},
            "ada": {"*": Role.ADMIN},
        }.items():
            accounts.add_user(name, PASSWORD, grants)
            keys[name] = accounts.create_key(f"{name}-key", grants)[1]
        hub.close()
        with serve(create_app(settings, city=city)) as server:
            room = Room(server.url, keys, helsinki_pbf)
            parking = {
                "id": NORTH_PARKING,
                "type": "OffStreetParking",
                "name": {"type": "Property", "value": "North depot car park"},
                "occupancy": {"type": "Property", "value": 0.95},
                "location": {
                    "type": "GeoProperty",
                    "value": {"type": "Point", "coordinates": [24.95, 60.17]},
                },
            }
            response = room.call("ada", "POST", ENTITIES, json=parking,
                                 headers={"NGSILD-Tenant": "north"})  # fmt: skip
            assert response.status_code == 201, response.text
            yield room


def sign_in(page: Any, room: Room, name: str) -> None:
    page.goto(room.url + "/")
    page.wait_for_selector("form#login")
    page.fill("input[name=username]", name)
    page.fill("input[name=password]", PASSWORD)
    page.click("form#login button[type=submit]")
    page.wait_for_selector("body[data-map-ready]", timeout=20_000)


def raise_alert(room: Room, suffix: str, severity: str, minutes_ago: int = 5) -> str:
    issued = format_time(datetime.now(UTC) - timedelta(minutes=minutes_ago))
    doc = alert_document(
        f"urn:ngsi-ld:Alert:test:{suffix}",
        category="traffic",
        sub_category="carAccident",
        severity=severity,
        description=f"Collision on Mannerheimintie ({suffix})",
        issued=issued,
        source="urn:ngsi-ld:Camera:test:1",
        lon_lat=(24.9384, 60.1699),
    )
    response = room.call("otto", "POST", ENTITIES, json=doc)
    assert response.status_code == 201, response.text
    return str(doc["id"])


def test_people_sign_in_and_the_city_shows(page: Any, room: Room, screenshots: Path) -> None:
    page.goto(room.url + "/")
    page.wait_for_selector("form#login")
    page.screenshot(path=screenshots / "sign-in.png")
    page.fill("input[name=username]", "otto")
    page.fill("input[name=password]", "not the password")
    page.click("form#login button[type=submit]")
    page.wait_for_selector("form#login .error:not(:empty)")
    assert "Wrong user name or password" in page.inner_text("form#login .error")
    assert page.evaluate("document.body.dataset.mapReady") is None  # nothing shown before
    page.fill("input[name=password]", PASSWORD)
    page.click("form#login button[type=submit]")
    page.wait_for_selector("body[data-map-ready]", timeout=20_000)
    assert page.inner_text("#user") == "otto · operator"
    assert page.evaluate("cetate.map.count('lights')") > 100
    cookie = next(c for c in page.context.cookies() if c["name"] == "cetate_session")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"
    page.click("#logout")
    page.wait_for_selector("form#login")  # signed out: the sign-in form again


def test_a_viewer_cannot_write(page: Any, room: Room, screenshots: Path) -> None:
    alert_id = raise_alert(room, "viewer", "high")
    sign_in(page, room, "vera")
    assert page.inner_text("#user") == "vera · viewer"
    page.click('#nav a[data-module="alerts"]')
    page.wait_for_selector(f'tr[data-id="{alert_id}"]')
    # The page offers no way to write...
    assert page.locator(f'tr[data-id="{alert_id}"] button.act').count() == 0
    assert page.locator("body.read-only").count() == 1
    page.screenshot(path=screenshots / "alerts-viewer.png")
    # ...and the API refuses the viewer's writes with the session cookie the page holds.
    statuses = page.evaluate(
        """async (id) => {
          const headers = {"X-Requested-With": "cetate", "Content-Type": "application/json"};
          const ack = await fetch(`/alerts/${encodeURIComponent(id)}/acknowledge`,
            {method: "POST", headers, body: "{}"});
          const patch = await fetch(`/ngsi-ld/v1/entities/${encodeURIComponent(id)}/attrs`,
            {method: "PATCH", headers, body: JSON.stringify({severity: {value: "low"}})});
          return [ack.status, patch.status];
        }""",
        alert_id,
    )
    assert statuses == [403, 403]
    alert = room.call("vera", "GET", f"{ENTITIES}/{alert_id}", params={"options": "keyValues"})
    assert alert.json()["status"] == "open" and alert.json()["severity"] == "high"


def test_alerts_are_acknowledged_and_resolved_with_who_and_when(
    page: Any, room: Room, screenshots: Path
) -> None:
    alert_id = raise_alert(room, "operator", "critical", minutes_ago=1)
    sign_in(page, room, "otto")
    badge = page.locator('[data-badge="alerts"]')
    badge.wait_for()
    open_before = int(badge.inner_text())
    page.click('#nav a[data-module="alerts"]')
    row = page.locator(f'tr[data-id="{alert_id}"]')
    row.wait_for()
    # The most urgent first: a critical alert heads the list.
    assert page.locator("table.alerts tbody tr").first.get_attribute("data-id") == alert_id
    page.screenshot(path=screenshots / "alerts.png")
    started = datetime.now(UTC)
    row.locator("input.note-input").fill("Police and ambulance on their way")
    row.locator("button.act-acknowledge").click()
    page.wait_for_selector(f'tr[data-id="{alert_id}"][data-status="acknowledged"]')
    assert "acknowledged by otto" in page.locator(f'tr[data-id="{alert_id}"]').inner_text()
    page.locator(f'tr[data-id="{alert_id}"] button.act-resolve').click()
    page.select_option("#alert-filter", "all")
    page.wait_for_selector(f'tr[data-id="{alert_id}"][data-status="resolved"]')
    page.screenshot(path=screenshots / "alerts-handled.png")
    alert = room.call("vera", "GET", f"{ENTITIES}/{alert_id}", params={"options": "keyValues"})
    body = alert.json()
    assert body["status"] == "resolved"
    assert body["acknowledgedBy"] == "otto" and body["resolvedBy"] == "otto"
    assert body["acknowledgementNote"] == "Police and ambulance on their way"
    for field in ("acknowledgedAt", "resolvedAt"):
        at = datetime.fromisoformat(body[field].replace("Z", "+00:00"))
        assert started - timedelta(seconds=2) <= at <= datetime.now(UTC)
    # Resolved: off the count in the navigation.
    page.evaluate("cetate.refreshBadge('alerts')")
    page.wait_for_function(
        "n => Number(document.querySelector('[data-badge=alerts]').textContent) === n - 1 "
        "|| document.querySelector('[data-badge=alerts]').hidden",
        arg=open_before,
    )


def test_a_note_being_typed_and_the_focus_survive_the_refresh(page: Any, room: Room) -> None:
    """The list is redrawn every 10 s and after each action: a note half typed stays, and the
    keyboard focus goes on from where it was."""
    typing = raise_alert(room, "typing", "critical", minutes_ago=2)
    other = raise_alert(room, "other", "critical", minutes_ago=3)
    sign_in(page, room, "otto")
    page.click('#nav a[data-module="alerts"]')
    note = page.locator(f'tr[data-id="{typing}"] input.note-input')
    note.wait_for()
    note.fill("Crew on the")
    # Someone else handles another alert, and the list is read again (as the timer does).
    assert room.call("otto", "POST", f"/alerts/{other}/acknowledge").status_code == 200
    page.evaluate("document.getElementById('alert-filter').dispatchEvent(new Event('change'))")
    page.wait_for_selector(f'tr[data-id="{other}"][data-status="acknowledged"]')
    assert note.input_value() == "Crew on the"
    assert page.evaluate("document.activeElement.classList.contains('note-input')")
    page.keyboard.type(" way")  # the focus is still in it
    # Acknowledged from the keyboard: the focus moves to what is left to do, "resolve".
    page.locator(f'tr[data-id="{typing}"] button.act-acknowledge').focus()
    page.keyboard.press("Enter")
    page.wait_for_selector(f'tr[data-id="{typing}"][data-status="acknowledged"]')
    page.wait_for_function("document.activeElement.classList.contains('act-resolve')")
    assert page.evaluate("document.activeElement.closest('tr').dataset.id") == typing
    assert page.locator(f'tr[data-id="{typing}"] input.note-input').input_value() == ""
    alert = room.call("vera", "GET", f"{ENTITIES}/{typing}", params={"options": "keyValues"})
    assert alert.json()["acknowledgementNote"] == "Crew on the way"


def test_enter_never_opens_the_result_of_an_older_search(page: Any, room: Room) -> None:
    sign_in(page, room, "vera")
    page.fill("#search-input", "kaivokatu")
    page.wait_for_selector("#search-results [role=option]")
    page.keyboard.press("Escape")
    assert page.locator("#search-results [role=option]").count() == 0  # closed is emptied
    page.fill("#search-input", "k")  # too short to search
    page.press("#search-input", "Enter")
    page.fill("#search-input", "no such place anywhere")
    page.press("#search-input", "Enter")
    page.wait_for_selector("#search-results .none")
    time.sleep(0.3)
    assert page.locator(".search-mark").count() == 0
    assert page.evaluate("document.querySelector('.inspector').hidden")


def test_search_finds_entities_and_addresses(page: Any, room: Room, screenshots: Path) -> None:
    sign_in(page, room, "vera")
    lights = room.call(
        "vera", "GET", ENTITIES, params={"type": "Streetlight", "limit": 1, "attrs": "status"}
    ).json()
    light = lights[0]["id"]
    page.fill("#search-input", light.split(":", 3)[-1])  # helsinki:<n>
    page.wait_for_selector(f'#search-results [data-id="{light}"]')
    page.press("#search-input", "ArrowDown")
    page.keyboard.press("Enter")
    page.wait_for_function(
        "id => !document.querySelector('.inspector').hidden && "
        "document.querySelector('.inspector h2').textContent.endsWith(id.split(':').pop())",
        arg=light,
    )
    # A street address of the city's OSM extract, typed without its accents and in lower case.
    address = next(a for a in read_addresses(room.pbf) if a.street == "Kaivokatu")
    page.fill("#search-input", f"kaivokatu {address.housenumber}")
    page.wait_for_selector('#search-results [data-kind="address"]')
    page.screenshot(path=screenshots / "search.png")
    page.locator('#search-results [data-kind="address"]').first.click()
    tooltip = page.locator(".search-mark")
    tooltip.wait_for()
    assert tooltip.inner_text().startswith(f"Kaivokatu {address.housenumber}")
    centre = page.evaluate("(() => { const c = cetate.map.leaflet.getCenter(); "
                           "return [c.lng, c.lat]; })()")  # fmt: skip
    assert abs(centre[0] - address.lon) < 1e-4 and abs(centre[1] - address.lat) < 1e-4


def test_the_tenant_switch(page: Any, room: Room, screenshots: Path) -> None:
    sign_in(page, room, "ada")
    options = page.eval_on_selector_all("#tenant option", "os => os.map(o => o.value)")
    assert options == ["", "north"]
    assert page.evaluate("cetate.map.count('parking')") > 10
    page.select_option("#tenant", "north")
    page.wait_for_selector('body[data-tenant="north"][data-map-ready]', timeout=20_000)
    assert page.evaluate("cetate.map.count('parking')") == 1
    assert page.evaluate(f"cetate.map.state('{NORTH_PARKING}')") == "full"
    page.screenshot(path=screenshots / "tenant-north.png")
    page.select_option("#tenant", "")
    page.wait_for_selector('body[data-tenant=""][data-map-ready]', timeout=20_000)
    assert page.evaluate(f"cetate.map.state('{NORTH_PARKING}')") is None
    # A viewer of the default tenant only is offered no switch.
    page.click("#logout")
    page.wait_for_selector("form#login")
    sign_in(page, room, "vera")
    assert page.locator("label.tenant").is_hidden()


def test_the_time_slider_shows_the_city_as_it_was(page: Any, room: Room, screenshots: Path) -> None:
    lights = room.call(
        "vera", "GET", ENTITIES, params={"type": "Streetlight", "limit": 1, "attrs": "status"}
    ).json()
    light = lights[0]["id"]
    # A fault reported now: the present shows it, the past does not.
    fault = {"status": {"type": "Property", "value": "columnIssue"}}
    assert room.call("otto", "PATCH", f"{ENTITIES}/{light}/attrs", json=fault).status_code == 204
    sign_in(page, room, "vera")
    assert page.evaluate(f"cetate.map.state('{light}')") == "fault"
    slider = page.locator("#timebar-range")
    slider.focus()
    for _ in range(12):  # an hour back, five minutes a key press
        page.keyboard.press("ArrowLeft")
    page.wait_for_selector("body.past[data-view-at]:not([data-view-at=live])", timeout=20_000)
    at = datetime.fromisoformat(
        page.evaluate("document.body.dataset.viewAt").replace("Z", "+00:00")
    )
    assert timedelta(minutes=55) < datetime.now(UTC) - at < timedelta(minutes=70)
    assert page.evaluate(f"cetate.map.state('{light}')") in ("on", "off")
    assert page.evaluate("cetate.map.count('lights')") > 100
    # The inspector shows the light as it was then: its status before the fault.
    page.evaluate("id => cetate.map.focus(id)", light)
    status = page.locator(".inspector table.attrs tr", has_text="status")
    status.wait_for()
    assert "ok" in status.inner_text() and "columnIssue" not in status.inner_text()
    assert "Attributes at" in page.inner_text(".inspector caption")
    assert re.search(r"\d", page.inner_text(".timebar output"))
    page.screenshot(path=screenshots / "time-slider.png")
    # Live updates wait while the past is shown; back to live, the present is there.
    page.click(".timebar button.live")
    page.wait_for_selector('body[data-view-at="live"]:not(.past)', timeout=20_000)
    assert page.evaluate(f"cetate.map.state('{light}')") == "fault"
    page.wait_for_function(
        "() => [...document.querySelectorAll('.inspector table.attrs tr')]"
        ".some(row => row.textContent.includes('columnIssue'))"
    )
    time.sleep(0.1)
