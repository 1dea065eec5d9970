"""The operations room in headless Chromium, on the demo city (central Helsinki with its sensors
and two hours of their history): the map, live updates, the inspector, the hub explorer,
languages, the keyboard and screen sizes. Screenshots go to test-output/screenshots/."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from cetate.alerts.model import alert_document
from cetate.config import Settings
from cetate.demo.city import prepare_demo
from cetate.web.app import create_app

pytestmark = pytest.mark.browser

LIGHT_PREFIX = "urn:ngsi-ld:Streetlight:helsinki:"
AIR_STATION = "urn:ngsi-ld:AirQualityObserved:helsinki:station-1"


@pytest.fixture(scope="module")
def demo(
    browser: Any,  # first: without a browser nothing is prepared
    serve: Any,
    helsinki_pbf: Path,
    city_cache: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[str]:
    """The demo city as ``cetate demo`` serves it, without the live feed (tests write)."""
    folder = tmp_path_factory.mktemp("demo")
    settings = Settings(
        store=f"sqlite:///{folder / 'demo.db'}",
        city_osm=helsinki_pbf,
        city_cache=city_cache,
        allow_remote_contexts=False,
    )
    city = prepare_demo(settings, history_hours=2.0, say=lambda _message: None)
    with serve(create_app(settings, city=city)) as server:
        yield server.url


def open_map(page: Any, url: str) -> None:
    page.goto(url + "/")
    page.wait_for_selector("body[data-map-ready]", timeout=15_000)


def hub_layers(url: str) -> dict[str, dict[str, Any]]:
    return {layer["id"]: layer for layer in httpx.get(url + "/ui/layers").json()}


def first_light(url: str) -> str:
    response = httpx.get(
        url + "/ngsi-ld/v1/entities", params={"type": "Streetlight", "limit": 1, "attrs": "status"}
    )
    entity_id: str = response.json()[0]["id"]
    assert entity_id.startswith(LIGHT_PREFIX)
    return entity_id


PAINTED = """() => {
  const tiles = [...document.querySelectorAll("canvas.leaflet-tile-loaded")];
  let painted = 0;
  for (const canvas of tiles) {
    const data = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height).data;
    for (let i = 3; i < data.length; i += 4) if (data[i] > 0) painted += 1;
  }
  return {tiles: tiles.length, painted};
}"""


def test_the_demo_city_shows_on_the_map(page: Any, demo: str, screenshots: Path) -> None:
    open_map(page, demo)
    layers = hub_layers(demo)
    assert layers["lights"]["count"] > 100 and layers["parking"]["count"] > 10
    for layer in ("parking", "traffic", "lights", "air"):
        shown = page.locator(f'[data-count="{layer}"]').inner_text()
        assert int(shown.replace(",", "")) == layers[layer]["count"]
        assert page.evaluate(f"cetate.map.count('{layer}')") == layers[layer]["count"]
    assert page.locator(".cx-pin, .cx-cluster").count() > 10
    basemap = page.evaluate(PAINTED)  # the city's own streets, drawn by the page
    assert basemap["tiles"] >= 2
    assert basemap["painted"] > 50_000
    page.screenshot(path=screenshots / "map.png")


def test_an_update_sent_to_the_api_shows_on_the_map_within_a_second(
    page: Any, demo: str, screenshots: Path
) -> None:
    open_map(page, demo)
    light = first_light(demo)
    assert page.evaluate("id => cetate.map.focus(id)", light)
    marker = page.locator(f'.cx-pin[data-id="{light}"]')
    marker.wait_for()
    assert marker.get_attribute("data-state") in ("on", "off")
    started = time.perf_counter()
    response = httpx.patch(
        f"{demo}/ngsi-ld/v1/entities/{light}/attrs",
        json={"status": {"type": "Property", "value": "defectiveLamp"}},
    )
    assert response.status_code == 204, response.text
    page.wait_for_selector(f'.cx-pin[data-id="{light}"][data-state="fault"]', timeout=1000)
    elapsed = time.perf_counter() - started
    assert elapsed < 1.0
    colour = page.evaluate(
        "id => getComputedStyle(document.querySelector(`.cx-pin[data-id='${id}']`))"
        ".backgroundColor",
        light,
    )
    assert colour == "rgb(208, 28, 139)"  # the fault colour of the registry's rule
    # the open inspector follows the entity too
    page.wait_for_function(
        "document.querySelector('.inspector table.attrs').textContent.includes('defectiveLamp')"
    )
    status = page.locator('.inspector dl.changes[data-attribute="status"] dd')
    status.first.wait_for()
    assert "defectiveLamp" in status.first.inner_text()  # the newest change first
    page.screenshot(path=screenshots / "live-update.png")
    httpx.patch(  # as it was, for the other tests
        f"{demo}/ngsi-ld/v1/entities/{light}/attrs",
        json={"status": {"type": "Property", "value": "ok"}},
    )


def test_the_inspector_shows_attributes_and_history(
    page: Any, demo: str, screenshots: Path
) -> None:
    open_map(page, demo)
    assert page.evaluate("id => cetate.map.focus(id)", AIR_STATION)
    inspector = page.locator(".inspector")
    inspector.locator("svg.chart").first.wait_for()
    assert AIR_STATION.removeprefix("urn:ngsi-ld:") in inspector.locator("h2").inner_text()
    attributes = inspector.locator("table.attrs th").all_inner_texts()
    assert {"no2", "airQualityLevel", "temperature"} <= set(attributes)
    charts = inspector.locator("svg.chart")
    names = {charts.nth(i).get_attribute("data-attribute") for i in range(charts.count())}
    assert {"no2", "temperature"} <= names
    points = [int(charts.nth(i).get_attribute("data-points")) for i in range(charts.count())]
    assert min(points) >= 8  # two hours of readings every 15 minutes
    page.screenshot(path=screenshots / "inspector.png")
    page.keyboard.press("Escape")
    assert inspector.is_hidden()


def test_the_hub_explorer_lists_types_entities_and_status(
    page: Any, demo: str, screenshots: Path
) -> None:
    page.goto(demo + "/#/hub")
    page.click('[data-type="Streetlight"]')
    page.locator("[data-entity]").first.wait_for()
    assert page.locator("[data-entity]").count() == 50  # a page of them
    entity_id = page.locator("[data-entity]").first.inner_text()
    page.locator("[data-entity]").first.click()
    page.wait_for_function(
        "id => document.querySelector('.document').textContent.includes(id)", arg=entity_id
    )
    assert page.locator('[data-part="subscriptions"] table').count() == 1
    assert page.locator("[data-dead-letters]").get_attribute("data-dead-letters") == "0"
    assert page.locator('#nav a[aria-current="page"]').inner_text() == "Hub explorer"
    page.screenshot(path=screenshots / "hub-explorer.png", full_page=True)
    page.click('#nav a[data-module="map"]')
    page.wait_for_selector("body[data-map-ready]")
    assert page.locator(".page-hub").is_hidden()


def test_romanian_and_english(page: Any, demo: str, screenshots: Path) -> None:
    open_map(page, demo)
    assert page.evaluate("document.documentElement.lang") == "en"
    page.select_option("#lang", "ro")
    page.wait_for_function("document.documentElement.lang === 'ro'")
    assert page.locator('#nav a[data-module="map"]').inner_text() == "Hartă"
    assert "Iluminat public" in page.locator(".panel").inner_text()
    assert page.locator("#layers-heading").inner_text() == "Straturi"
    page.screenshot(path=screenshots / "map-ro.png")
    open_map(page, demo)  # the choice is remembered
    assert page.evaluate("document.documentElement.lang") == "ro"
    page.select_option("#lang", "en")
    page.wait_for_function("document.documentElement.lang === 'en'")


def test_the_keyboard_reaches_everything_and_focus_shows(page: Any, demo: str) -> None:
    open_map(page, demo)
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.className") == "skip"
    for _ in range(40):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.dataset.layer") == "lights":
            break
    else:
        pytest.fail("the layer switches cannot be reached with the keyboard")
    outline = page.evaluate(
        "() => { const s = getComputedStyle(document.activeElement);"
        " return [s.outlineStyle, parseFloat(s.outlineWidth)]; }"
    )
    assert outline[0] == "solid" and outline[1] >= 2
    page.keyboard.press("Space")
    page.wait_for_function(
        "!document.querySelector('.cx-l-lights.cx-pin, .cx-l-lights.cx-cluster')"
    )
    page.keyboard.press("Space")
    page.wait_for_selector(".cx-l-lights")


CONTRAST = """selector => {
  const channel = c => {
    c /= 255;
    return c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4;
  };
  const luminance = rgb => 0.2126 * channel(rgb[0]) + 0.7152 * channel(rgb[1])
    + 0.0722 * channel(rgb[2]);
  const parse = text => text.match(/[\\d.]+/g).map(Number);
  const out = [];
  for (const el of document.querySelectorAll(selector)) {
    let back = el;
    const clear = node => parse(getComputedStyle(node).backgroundColor)[3] === 0;
    while (back && clear(back)) back = back.parentElement;
    const bg = back ? parse(getComputedStyle(back).backgroundColor) : [255, 255, 255];
    const fg = parse(getComputedStyle(el).color);
    const [a, b] = [luminance(fg), luminance(bg)].sort((x, y) => y - x);
    out.push((a + 0.05) / (b + 0.05));
  }
  return out;
}"""


def test_text_contrast_is_readable(page: Any, demo: str) -> None:
    open_map(page, demo)
    page.evaluate("id => cetate.map.focus(id)", AIR_STATION)
    page.locator(".inspector svg.chart").first.wait_for()
    for selector in (".brand", "#nav a", ".lang", ".layer label", ".legend li", ".count",
                     ".inspector h2", ".attrs th", ".attrs td", ".attrs time"):  # fmt: skip
        ratios = page.evaluate(CONTRAST, selector)
        assert ratios, selector
        assert min(ratios) >= 4.5, (selector, min(ratios))  # WCAG AA for text


def test_the_alerts_search_and_time_bar_are_readable(page: Any, demo: str) -> None:
    for severity in ("critical", "high", "medium", "low", "informational"):
        doc = alert_document(
            f"urn:ngsi-ld:Alert:contrast:{severity}",
            category="traffic",
            sub_category="roadClosed",
            severity=severity,
            description=f"A {severity} alert",
            issued="2026-11-22T08:00:00Z",
            source="test",
            lon_lat=(24.94, 60.17),
        )
        assert httpx.post(demo + "/ngsi-ld/v1/entities", json=doc).status_code in (201, 409)
    open_map(page, demo)
    selectors = [".timebar label", ".timebar output", "#search-input"]
    page.fill("#search-input", "helsinki")
    page.wait_for_selector("#search-results [role=option]")
    selectors += [".search-results .label", ".search-results .detail"]
    for selector in selectors:
        ratios = page.evaluate(CONTRAST, selector)
        assert ratios and min(ratios) >= 4.5, (selector, ratios)
    page.keyboard.press("Escape")
    page.click('#nav a[data-module="alerts"]')
    page.wait_for_selector("table.alerts .severity-informational")
    page.wait_for_selector('[data-badge="alerts"]:not([hidden])')
    for selector in (".page-alerts h2", ".alert-bar label", ".alert-counts", ".alerts th",
                     ".alerts .what", ".alerts .detail", ".alerts time", ".severity",
                     ".actions .link", ".actions .act", ".badge"):  # fmt: skip
        ratios = page.evaluate(CONTRAST, selector)
        assert ratios and min(ratios) >= 4.5, (selector, ratios)


def test_a_laptop_and_a_video_wall(browser: Any, demo: str, screenshots: Path) -> None:
    sizes = {}
    for name, (width, height) in {"laptop": (1366, 768), "wall": (3840, 2160)}.items():
        context = browser.new_context(viewport={"width": width, "height": height})
        page = context.new_page()
        open_map(page, demo)
        sizes[name] = page.evaluate(
            "() => ({scroll: document.documentElement.scrollWidth,"
            " font: parseFloat(getComputedStyle(document.documentElement).fontSize),"
            " map: document.querySelector('.map').getBoundingClientRect().width,"
            " height: document.querySelector('.map').getBoundingClientRect().height})"
        )
        assert sizes[name]["scroll"] <= width  # nothing sticks out sideways
        assert sizes[name]["map"] > 0.75 * width and sizes[name]["height"] > 0.85 * height
        page.screenshot(path=screenshots / f"map-{name}.png")
        context.close()
    assert sizes["wall"]["font"] >= 1.5 * sizes["laptop"]["font"]  # readable from afar
