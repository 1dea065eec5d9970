"""/logistics over HTTP on the real streets of Brașov: a plan or a comparison runs as a job
whose progress can be followed; the plan passes the independent checker, its routes come as
GeoJSON and its report as HTML or PDF; bad requests are ProblemDetails and start nothing; a
finished job outlives the process, and stays with its tenant."""

from __future__ import annotations

import csv
import itertools
import math
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import shapely.geometry
import yaml
from fastapi.testclient import TestClient

from cetate.city.service import City
from cetate.config import Settings
from cetate.errors import BadRequestData
from cetate.hub.context import ContextResolver
from cetate.hub.documents import count_documents, get_document
from cetate.hub.service import Hub
from cetate.hub.store.sqlite import SqliteStore
from cetate.logistics import api
from cetate.logistics import jobs as jobs_module
from cetate.logistics.check import assert_feasible
from cetate.logistics.entities import write_orders
from cetate.logistics.export import plan_document
from cetate.logistics.jobs import JOB_TYPE, Jobs, Progress
from cetate.logistics.orders import read_orders
from cetate.web.app import create_app

EXAMPLES = Path(__file__).parents[2] / "examples" / "logistics"
SAMPLE = EXAMPLES / "orders-sample.csv"
NUMBERS = {"lon", "lat", "service_min", "kg", "m3", "parcels", "penalty", "origin_lon",
           "origin_lat", "origin_service_min"}  # fmt: skip


def fleet(name: str) -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load((EXAMPLES / f"fleet-{name}.yaml").read_text())
    return document


def sample_orders() -> list[dict[str, Any]]:
    """The sample CSV as the JSON an API client sends: numbers as numbers, windows as a list,
    empty cells left out."""
    orders = []
    with SAMPLE.open(encoding="utf-8") as file:
        for row in csv.DictReader(file):
            order: dict[str, Any] = {}
            for name, text in row.items():
                if not text:
                    continue
                if name in NUMBERS:
                    order[name] = float(text)
                elif name.endswith("windows"):
                    order[name] = text.split(";")
                else:
                    order[name] = text
            orders.append(order)
    return orders


SAMPLE_IDS = {o["id"] for o in sample_orders()}


@pytest.fixture(scope="module")
def city(brasov_pbf: Path, city_cache: Path) -> City:
    """Brașov for the module's app. An app reads road closures from its hub through the city
    it is given, so each hub's apps get a city of their own (never the session's ``brasov``)."""
    return City.load(brasov_pbf, ("drive", "bike"), cache_dir=city_cache)


@pytest.fixture(scope="module")
def own_city(brasov_pbf: Path, city_cache: Path) -> City:
    """Brașov for the apps of the tests that bring their own hub (one hub at a time)."""
    return City.load(brasov_pbf, ("drive", "bike"), cache_dir=city_cache)


def make_hub(store: Any) -> Hub:
    settings = Settings(store="unused", allow_remote_contexts=False)
    return Hub(store, ContextResolver(directory=None, allow_remote=False), settings)


def app_client(hub: Hub, city: City) -> TestClient:
    settings = Settings(store="unused", allow_remote_contexts=False)
    return TestClient(create_app(settings, hub, city))


@pytest.fixture(scope="module")
def module_hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hub]:
    """One SQLite hub for the tests that do not depend on the store (those that do take the
    ``hub`` fixture, on every store)."""
    store = SqliteStore(tmp_path_factory.mktemp("logistics-api") / "hub.db")
    hub = make_hub(store)
    yield hub
    hub.writer.close()
    store.close()


@pytest.fixture(scope="module")
def client(module_hub: Hub, city: City) -> Iterator[TestClient]:
    with app_client(module_hub, city) as test_client:
        yield test_client


def wait(client: TestClient, location: str, headers: dict[str, str] | None = None) -> dict:
    """Follow a job until it is done or failed (within a minute)."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        response = client.get(location, headers=headers)
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        if body["status"] in ("done", "failed"):
            return body
        time.sleep(0.05)
    raise AssertionError(f"{location} did not finish in a minute")


def start(client: TestClient, body: dict[str, Any], path: str = "/logistics/plans", **kw: Any):
    response = client.post(path, json=body, **kw)
    assert response.status_code == 202, response.text
    assert response.json()["status"] in ("queued", "running")
    return response


@pytest.fixture(scope="module")
def finished(client: TestClient) -> tuple[str, dict[str, Any]]:
    response = start(
        client, {"fleet": fleet("green"), "orders": sample_orders(), "iterations": 200}
    )
    location = response.headers["Location"]
    assert location.endswith(f"/logistics/plans/{response.json()['id']}")
    return location, wait(client, location)


def job_id(location: str) -> str:
    return location.rsplit("/", 1)[1]


def line_km(coordinates: list[list[float]]) -> float:
    """A line's length on the sphere (haversine), in km."""
    total = 0.0
    for (lon1, lat1), (lon2, lat2) in itertools.pairwise(coordinates):
        phi1, phi2 = math.radians(lat1), math.radians(lat2)
        half = (
            math.sin((phi2 - phi1) / 2) ** 2
            + math.cos(phi1) * math.cos(phi2) * math.sin(math.radians(lon2 - lon1) / 2) ** 2
        )
        total += 2 * 6371.0088 * math.asin(math.sqrt(half))
    return total


def assert_problem(response: Any, status: int, *words: str) -> dict[str, Any]:
    """A ProblemDetails answer whose detail names ``words``."""
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    assert set(body) >= {"type", "title", "status", "detail"}
    assert body["status"] == status
    for word in words:
        assert word in body["detail"], body["detail"]
    return body


# -- a plan -----------------------------------------------------------------------------------


def test_plan_serves_every_order_or_says_why(finished: tuple[str, dict[str, Any]]) -> None:
    _, body = finished
    assert body["status"] == "done" and body["progress"] == 1.0, body
    result = body["result"]
    served = {order for route in result["routes"] for order in route["orders"]}
    unassigned = {u["order"]: u["reason"] for u in result["unassigned"]}
    assert served | set(unassigned) == SAMPLE_IDS
    assert not served & set(unassigned)
    assert all(reason.strip() for reason in unassigned.values())
    totals = result["totals"]
    assert totals["ordersServed"] == len(served) > 0
    assert totals["ordersUnassigned"] == len(unassigned)
    assert totals["distanceKm"] == pytest.approx(
        sum(r["distanceKm"] for r in result["routes"]), abs=0.01
    )
    assert totals["co2eKg"] == pytest.approx(sum(r["co2eKg"] for r in result["routes"]), abs=0.01)
    assert totals["vehicles"] == len({r["vehicle"] for r in result["routes"]})


def test_the_plan_passes_the_checker(
    client: TestClient, finished: tuple[str, dict[str, Any]], city: City
) -> None:
    location, body = finished
    jobs: Jobs = client.app.state.logistics_jobs  # type: ignore[attr-defined]
    job = jobs.get(job_id(location), "")
    assert job is not None
    problem, plan = job.extra["problem"], job.extra["plan"]
    assert {o.id for o in problem.orders} == SAMPLE_IDS
    assert_feasible(problem, plan, city)
    assert plan_document(plan) == body["result"]  # what was checked is what was answered


def test_routes_as_geojson(client: TestClient, finished: tuple[str, dict[str, Any]]) -> None:
    location, body = finished
    response = client.get(f"{location}/routes.geojson")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/geo+json"
    collection = response.json()
    assert collection["type"] == "FeatureCollection"
    lines = [f for f in collection["features"] if f["geometry"]["type"] == "LineString"]
    assert [f["properties"]["vehicle"] for f in lines] == [
        r["vehicle"] for r in body["result"]["routes"]
    ]
    for feature in collection["features"]:
        assert feature["type"] == "Feature"
        geometry = shapely.geometry.shape(feature["geometry"])
        assert geometry.is_valid and not geometry.is_empty
        west, south, east, north = geometry.bounds
        assert 25.4 < west <= east < 25.8 and 45.5 < south <= north < 45.8  # in Brașov
    for line, route in zip(lines, body["result"]["routes"], strict=True):
        # The line follows the streets the plan's distance was measured along.
        assert line_km(line["geometry"]["coordinates"]) == pytest.approx(
            route["distanceKm"], rel=0.02
        )


def test_report_as_html_and_pdf(client: TestClient, finished: tuple[str, dict[str, Any]]) -> None:
    location, body = finished
    html = client.get(f"{location}/report.html")
    assert html.status_code == 200, html.text
    assert html.headers["content-type"].startswith("text/html")
    assert "<html" in html.text and body["result"]["problem"] in html.text
    pdf = client.get(f"{location}/report.pdf")
    assert pdf.status_code == 200
    assert pdf.headers["content-type"] == "application/pdf"
    assert pdf.content.startswith(b"%PDF")
    assert_problem(client.get(f"{location}/report.docx"), 400, "report.html or report.pdf")


def test_progress_is_shown_while_planning(client: TestClient) -> None:
    response = start(client, {"fleet": fleet("green"), "orders": sample_orders(), "seconds": 3})
    location = response.headers["Location"]
    seen: list[tuple[str, float]] = []
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        body = client.get(location).json()
        seen.append((body["status"], body["progress"]))
        if body["status"] in ("done", "failed"):
            break
        time.sleep(0.05)
    assert seen[-1] == ("done", 1.0), seen[-5:]
    assert any(s == "running" and 0.0 < p < 1.0 for s, p in seen), seen
    progress = [p for _, p in seen]
    assert progress == sorted(progress)  # it never goes back


# -- orders from the hub ----------------------------------------------------------------------


def test_orders_from_the_hub_when_left_out(hub: Hub, own_city: City) -> None:
    body = {"fleet": fleet("green"), "iterations": 200}
    with app_client(hub, own_city) as client:
        assert_problem(
            client.post("/logistics/plans", json=body), 400, "orders", "cetate:DeliveryOrder"
        )
        write_orders(hub, read_orders(SAMPLE))
        location = start(client, body).headers["Location"]
        result = wait(client, location)["result"]
    served = {order for route in result["routes"] for order in route["orders"]}
    assert served | {u["order"] for u in result["unassigned"]} == SAMPLE_IDS


# -- mistakes ---------------------------------------------------------------------------------


def bad_key(document: dict[str, Any]) -> dict[str, Any]:
    document["vehicles"][0]["max_tripz"] = 6
    return document


def bad_depot(document: dict[str, Any]) -> dict[str, Any]:
    document["vehicles"][1]["depot"] = "nowhere"
    return document


BAD_REQUESTS = [
    pytest.param({"orders": sample_orders()}, ("body.fleet", "required"), id="no fleet"),
    pytest.param(
        {"fleet": bad_key(fleet("green")), "orders": sample_orders()},
        ("fleet: vehicles[0].max_tripz", "max_trips"),
        id="bad fleet key",
    ),
    pytest.param(
        {"fleet": bad_depot(fleet("green")), "orders": sample_orders()},
        ("fleet: vehicles[1].depot", "nowhere"),
        id="unknown depot",
    ),
    pytest.param(
        {"fleet": fleet("green"), "orders": [*sample_orders()[:2], {"id": "X", "lon": 25.6}]},
        ("orders [2].lat",),
        id="order without lat",
    ),
    pytest.param(
        {"fleet": fleet("green"), "orders": [{"id": "X", "lon": 25.6, "lat": "north"}]},
        ("orders [0].lat", "'north' is not a number"),
        id="order lat not a number",
    ),
    pytest.param(
        {"fleet": fleet("green"), "orders": sample_orders()[:1] * 2},
        ("orders [1].id", "BV001"),
        id="order id twice",
    ),
    pytest.param({"fleet": fleet("green"), "orders": "BV001"}, ("body.orders",), id="orders text"),
    pytest.param({"fleet": fleet("green"), "orders": []}, ("orders has no orders",), id="empty"),
    pytest.param(
        {"fleet": fleet("green"), "orders": sample_orders(), "seconds": 0},
        ("body.seconds",),
        id="no time",
    ),
    pytest.param(
        {"fleet": fleet("green"), "orders": sample_orders(), "iteration": 10},
        ("body.iteration", "not permitted"),
        id="misspelt option",
    ),
]


@pytest.mark.parametrize(("body", "words"), BAD_REQUESTS)
def test_bad_requests_are_problems_and_start_nothing(
    client: TestClient, module_hub: Hub, body: dict[str, Any], words: tuple[str, ...]
) -> None:
    before = count_documents(module_hub, "", JOB_TYPE)
    assert_problem(client.post("/logistics/plans", json=body), 400, *words)
    assert count_documents(module_hub, "", JOB_TYPE) == before


def test_bad_comparison_names_the_fleet(client: TestClient, module_hub: Hub) -> None:
    before = count_documents(module_hub, "", JOB_TYPE)
    body = {"baseline": fleet("diesel"), "green": bad_key(fleet("green")), "orders": []}
    assert_problem(client.post("/logistics/comparisons", json=body), 400, "orders")
    body["orders"] = sample_orders()
    assert_problem(
        client.post("/logistics/comparisons", json=body), 400, "green: vehicles[0].max_tripz"
    )
    assert count_documents(module_hub, "", JOB_TYPE) == before


def test_not_json_is_a_problem(client: TestClient) -> None:
    response = client.post(
        "/logistics/plans", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert_problem(response, 400)


def test_unknown_jobs_are_404(client: TestClient, finished: tuple[str, dict[str, Any]]) -> None:
    unknown = "urn:ngsi-ld:LogisticsPlan:nope"
    for path in (
        f"/logistics/plans/{unknown}",
        f"/logistics/plans/{unknown}/routes.geojson",
        f"/logistics/plans/{unknown}/report.pdf",
        f"/logistics/comparisons/{unknown}",
        f"/logistics/comparisons/{unknown}/report.html",
    ):
        assert_problem(client.get(path), 404, unknown)
    plan_id = job_id(finished[0])
    assert_problem(
        client.get(f"/logistics/comparisons/{plan_id}"), 404, f"/logistics/plans/{plan_id}"
    )


# -- a comparison -----------------------------------------------------------------------------


def test_comparison_of_diesel_and_green(client: TestClient, module_hub: Hub) -> None:
    body = {
        "baseline": fleet("diesel"),
        "green": fleet("green"),
        "orders": sample_orders(),
        "iterations": 200,
    }
    response = start(client, body, "/logistics/comparisons")
    location = response.headers["Location"]
    assert "/logistics/comparisons/" in location
    done = wait(client, location)
    assert done["status"] == "done", done
    rows = {row["label"]: row for row in done["result"]["rows"]}
    co2e = rows["CO2e"]
    assert co2e["unit"] == "kg"
    assert co2e["baseline"] == pytest.approx(
        done["result"]["baseline"]["totals"]["co2eKg"], abs=0.01
    )
    assert co2e["green"] == pytest.approx(done["result"]["green"]["totals"]["co2eKg"], abs=0.01)
    assert 0 < co2e["green"] < co2e["baseline"]  # electric vans and bikes against diesel
    assert co2e["changePercent"] == pytest.approx(
        100 * (co2e["green"] - co2e["baseline"]) / co2e["baseline"]
    )
    for side in ("baseline", "green"):
        assert rows["orders served"][side] + rows["orders unassigned"][side] == len(SAMPLE_IDS)
    pdf = client.get(f"{location}/report.pdf")
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
    assert client.get(f"{location}/report.html").headers["content-type"].startswith("text/html")
    assert_problem(client.get(f"/logistics/plans/{job_id(location)}"), 404, "comparison")
    kept = get_document(module_hub, "", job_id(location))
    assert kept is not None and kept["result"] == done["result"]  # the hub holds all of it


def test_a_failed_job_says_why(
    client: TestClient, module_hub: Hub, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: Any, **kwargs: Any) -> None:
        raise BadRequestData("the solver was given nothing to do")

    monkeypatch.setattr(api, "plan", broken)
    body = {"fleet": fleet("green"), "orders": sample_orders(), "iterations": 10}
    location = start(client, body).headers["Location"]
    failed = wait(client, location)
    assert failed["status"] == "failed"
    assert failed["error"]["detail"] == failed["message"] == "the solver was given nothing to do"
    assert failed["error"]["status"] == 400 and "result" not in failed
    kept = get_document(module_hub, "", job_id(location))
    assert kept is not None and kept["status"] == "failed" and kept["error"] == failed["error"]
    assert_problem(client.get(f"{location}/report.pdf"), 404, "failed")


# -- restarts and tenants ---------------------------------------------------------------------


def test_a_finished_job_outlives_the_process(hub: Hub, own_city: City) -> None:
    tenant = {"NGSILD-Tenant": "brasov"}
    body = {"fleet": fleet("green"), "orders": sample_orders(), "iterations": 200}
    with app_client(hub, own_city) as first:
        location = start(first, body, headers=tenant).headers["Location"]
        before = wait(first, location, tenant)
        assert first.get(f"{location}/report.html", headers=tenant).status_code == 200
    path = location.removeprefix("http://testserver")
    with app_client(hub, own_city) as second:
        after = second.get(path, headers=tenant)
        assert after.status_code == 200, after.text
        assert after.json() == before
        for part in ("routes.geojson", "report.html", "report.pdf"):
            assert_problem(
                second.get(f"{path}/{part}", headers=tenant),
                404,
                "not available in this process",
                path,
            )
        assert_problem(second.get(path), 404)  # another tenant's job is not found
        assert_problem(second.get(path, headers={"NGSILD-Tenant": "cluj"}), 404)


def test_jobs_stay_with_their_tenant(client: TestClient) -> None:
    body = {"fleet": fleet("green"), "orders": sample_orders()[:3], "iterations": 50}
    mine = {"NGSILD-Tenant": "tenant1"}
    location = start(client, body, headers=mine).headers["Location"]
    assert wait(client, location, mine)["status"] == "done"
    for other in ({}, {"NGSILD-Tenant": "tenant2"}):
        assert_problem(client.get(location, headers=other), 404)
        assert_problem(client.get(f"{location}/report.html", headers=other), 404)
    assert client.get(f"{location}/routes.geojson", headers=mine).status_code == 200
    assert_problem(
        client.post("/logistics/plans", json=body, headers={"NGSILD-Tenant": "a b"}), 400
    )


def test_stopping_the_server_interrupts_its_jobs(hub: Hub, own_city: City) -> None:
    body = {"fleet": fleet("green"), "orders": sample_orders(), "seconds": 120}
    with app_client(hub, own_city) as first:
        running = start(first, body).headers["Location"].removeprefix("http://testserver")
        waiting = start(first, body).headers["Location"].removeprefix("http://testserver")
        deadline = time.monotonic() + 30
        while first.get(running).json()["progress"] == 0 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert first.get(waiting).json()["status"] == "queued"
        # Another process sharing the hub sees both jobs through it.
        with app_client(hub, own_city) as other:
            assert other.get(running).json()["status"] == "running"
            assert other.get(waiting).json()["status"] == "queued"
        stopping = time.monotonic()
    assert time.monotonic() - stopping < 10  # not the two minutes asked for
    with app_client(hub, own_city) as second:
        for path in (running, waiting):
            body = second.get(path).json()
            assert body["status"] == "failed", body
            assert "interrupted" in body["error"]["detail"]


def test_old_jobs_leave_memory_but_not_the_hub(
    module_hub: Hub, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(jobs_module, "KEPT_IN_MEMORY", 1)
    jobs = Jobs(module_hub)

    def work(number: int) -> Callable[[Progress], dict[str, Any]]:
        return lambda progress: {"n": 1 // number}  # 0 is a bug: a ZeroDivisionError

    submitted = [jobs.submit("plan", "", work(n), {"n": n}) for n in (1, 0, 2)]
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and any(
        (j := jobs.get(s.id, "")) is None or j.status not in ("done", "failed") for s in submitted
    ):
        time.sleep(0.01)
    first, broken, last = (jobs.get(s.id, "") for s in submitted)
    jobs.close()
    assert first is not None and broken is not None and last is not None
    assert (first.status, first.result, first.extra) == ("done", {"n": 1}, {})  # from the hub
    assert (broken.status, broken.error and broken.error["detail"]) == (
        "failed",
        "internal error: ZeroDivisionError",
    )
    assert (last.status, last.result, last.extra) == ("done", {"n": 0}, {"n": 2})  # in memory
