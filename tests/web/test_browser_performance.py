"""The dashboard's two performance targets, measured in headless Chromium on loopback:

* first meaningful paint (the basemap and every entity layer drawn: the page's
  ``cetate:map-ready`` mark) within 1.5 s with 10,000 entities in view;
* 500 entity updates per second through the API keep the page responsive: no main-thread task
  over 200 ms (PerformanceObserver, ``longtask`` entries).

The figures are written to test-output/dashboard-performance.json; docs/benchmarks.md quotes
them with the date and the command."""

from __future__ import annotations

import json
import statistics
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

from cetate.city.service import City
from cetate.config import Settings
from cetate.hub.context import ContextResolver
from cetate.hub.documents import upsert_documents
from cetate.hub.model import format_time
from cetate.hub.service import Hub
from cetate.hub.store.sqlite import SqliteStore
from cetate.web.app import create_app

pytestmark = pytest.mark.browser

ENTITIES = 10_000
PAINT_LIMIT_MS = 1500
UPDATES_PER_S = 500
UPDATE_SECONDS = 5.0
BATCH = 50  # entities per request: 10 requests a second
TASK_LIMIT_MS = 200
FIGURES = "dashboard-performance.json"  # in test-output/


def light_id(n: int) -> str:
    return f"urn:ngsi-ld:Streetlight:bench:{n}"


@pytest.fixture(scope="module")
def crowded(
    browser: Any, serve: Any, helsinki: City, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """Helsinki with 10,000 entities over it: 7,000 lights, 2,000 car parks, 1,000 counters."""
    folder = tmp_path_factory.mktemp("crowded")
    settings = Settings(store="unused", allow_remote_contexts=False)
    store = SqliteStore(folder / "hub.db")
    hub = Hub(store, ContextResolver(directory=None, allow_remote=False), settings)
    rng = np.random.default_rng(6)
    lon = rng.uniform(helsinki.segments.node_lon.min(), helsinki.segments.node_lon.max(), ENTITIES)
    lat = rng.uniform(helsinki.segments.node_lat.min(), helsinki.segments.node_lat.max(), ENTITIES)
    documents = []
    for n in range(ENTITIES):
        where = {"type": "Point", "coordinates": [float(lon[n]), float(lat[n])]}
        doc: dict[str, Any] = {"location": {"type": "GeoProperty", "value": where}}
        if n < 7000:
            doc |= {"id": light_id(n), "type": "Streetlight", "status": prop("ok"),
                    "powerState": prop("on" if n % 2 else "off")}  # fmt: skip
        elif n < 9000:
            doc |= {"id": f"urn:ngsi-ld:OffStreetParking:bench:{n}", "type": "OffStreetParking",
                    "occupancy": prop(float(rng.uniform()))}  # fmt: skip
        else:
            doc |= {"id": f"urn:ngsi-ld:TrafficFlowObserved:bench:{n}",
                    "type": "TrafficFlowObserved", "congested": prop(bool(n % 3 == 0))}  # fmt: skip
        documents.append(doc)
    for start in range(0, ENTITIES, 1000):
        assert not upsert_documents(hub, "", documents[start : start + 1000]).errors
    # A reading of each entity 90 minutes ago, older than its location (written now): the
    # time slider's heavier case, where the location is looked for after the time shown.
    observed = format_time(datetime.now(UTC) - timedelta(minutes=90))
    readings = [{"id": d["id"], "type": d["type"], "name": prop(f"bench {n}"),
                 "reading": {**prop(n), "observedAt": observed}}
                for n, d in enumerate(documents)]  # fmt: skip
    for start in range(0, ENTITIES, 1000):
        chunk = readings[start : start + 1000]
        assert not upsert_documents(hub, "", chunk, replace=False).errors
    with serve(create_app(settings, hub, helsinki)) as server:
        httpx.get(server.url + "/ui/basemap/14/9326/4741.json")  # the basemap is built once
        yield server.url
    hub.close()


def prop(value: Any) -> dict[str, Any]:
    return {"type": "Property", "value": value}


def open_laptop(browser: Any, url: str) -> tuple[Any, Any]:
    """A new browser context (nothing cached) at a laptop's size, its page on the drawn map."""
    context = browser.new_context(viewport={"width": 1366, "height": 768})
    page = context.new_page()
    page.goto(url + "/")
    page.wait_for_selector("body[data-map-ready]", timeout=15_000)
    return context, page


def record(screenshots: Path, **figures: Any) -> None:
    path = screenshots.parent / FIGURES
    known = json.loads(path.read_text()) if path.is_file() else {}
    known.update(figures)
    path.write_text(json.dumps(known, indent=2) + "\n")


def test_first_meaningful_paint_with_10000_entities(
    browser: Any, crowded: str, screenshots: Path
) -> None:
    paints = []
    for attempt in range(3):  # a new browser context each time: nothing cached
        context, page = open_laptop(browser, crowded)
        ready = page.evaluate("performance.getEntriesByName('cetate:map-ready')[0].startTime")
        drawn = sum(
            page.evaluate(f"cetate.map.count('{layer}')")
            for layer in ("lights", "parking", "traffic")
        )
        assert drawn == ENTITIES
        paints.append(ready)
        if attempt == 0:
            page.screenshot(path=screenshots / "map-10000-entities.png")
        context.close()
    median = statistics.median(paints)
    runs = [round(p) for p in paints]
    record(screenshots, first_meaningful_paint_ms={"median": round(median), "runs": runs})
    assert median <= PAINT_LIMIT_MS, paints


OBSERVE_LONG_TASKS = """() => {
  window.longTasks = [];
  new PerformanceObserver(list => {
    for (const entry of list.getEntries()) window.longTasks.push([entry.startTime, entry.duration]);
  }).observe({type: "longtask"});
}"""


def test_500_updates_a_second_keep_the_page_responsive(
    browser: Any, crowded: str, screenshots: Path
) -> None:
    context, page = open_laptop(browser, crowded)
    page.wait_for_timeout(500)  # the last clusters of the first load settle
    page.evaluate(OBSERVE_LONG_TASKS)
    expected: dict[str, str] = {}
    sent = 0
    started = time.perf_counter()
    with httpx.Client(base_url=crowded, timeout=10) as http:
        rounds = int(UPDATE_SECONDS * UPDATES_PER_S / BATCH)
        for k in range(rounds):
            due = started + k * BATCH / UPDATES_PER_S
            time.sleep(max(0.0, due - time.perf_counter()))
            batch = []
            for i in range(BATCH):
                n = (k * BATCH + i) * 7 % 7000  # spread over the lights
                power = "on" if (n + k) % 2 else "off"
                status = "defectiveLamp" if (n + k) % 11 == 0 else "ok"
                batch.append({"id": light_id(n), "type": "Streetlight",
                              "powerState": prop(power), "status": prop(status)})  # fmt: skip
                expected[light_id(n)] = "fault" if status != "ok" else power
            response = http.post("/ngsi-ld/v1/entityOperations/update", json=batch)
            assert response.status_code == 204, response.text
            sent += len(batch)
    elapsed = time.perf_counter() - started
    rate = sent / elapsed
    page.wait_for_function(
        "expected => Object.entries(expected).every(([id, s]) => cetate.map.state(id) === s)",
        arg=expected,
        timeout=5000,
    )
    tasks = page.evaluate("window.longTasks")
    longest = max((duration for _, duration in tasks), default=0.0)
    context.close()
    record(
        screenshots,
        updates={"per_s": round(rate), "seconds": round(elapsed, 1), "updates": sent,
                 "long_tasks": len(tasks), "longest_task_ms": round(longest)},
    )  # fmt: skip
    assert rate >= 0.9 * UPDATES_PER_S
    assert longest <= TASK_LIMIT_MS, tasks


def test_the_time_slider_and_search_with_10000_entities(
    browser: Any, crowded: str, screenshots: Path
) -> None:
    """Not targets of the issue: figures for docs/benchmarks.md, with loose bounds."""
    context, page = open_laptop(browser, crowded)
    travels = []
    for minutes in (60, 30, 0, 60):
        started = time.perf_counter()
        page.evaluate(f"cetate.map.travel({minutes})")
        travels.append((time.perf_counter() - started) * 1000)
        drawn = sum(
            page.evaluate(f"cetate.map.count('{layer}')")
            for layer in ("lights", "parking", "traffic")
        )
        assert drawn == ENTITIES  # each had a reading then, so each is on the map
    page.screenshot(path=screenshots / "time-slider-10000-entities.png")
    context.close()
    with httpx.Client(base_url=crowded, timeout=30) as http:
        started = time.perf_counter()
        first = http.get("/ui/search", params={"q": "bench 4242"})
        first_ms = (time.perf_counter() - started) * 1000
        assert first.json()["results"][0]["label"] == "bench 4242"
        times = []
        for n in range(30):
            started = time.perf_counter()
            found = http.get("/ui/search", params={"q": f"bench {n * 317}"}).json()
            times.append((time.perf_counter() - started) * 1000)
            assert found["results"][0]["label"] == f"bench {n * 317}"
    record(
        screenshots,
        time_slider_ms={"past": [round(t) for t in travels[:2]], "live": round(travels[2]),
                        "past_again": round(travels[3])},
        search_ms={"first_with_index": round(first_ms),
                   "p50": round(statistics.median(times)),
                   "p95": round(float(np.percentile(times, 95)))},
    )  # fmt: skip
    assert max(travels) < 5000 and statistics.median(times) < 200
