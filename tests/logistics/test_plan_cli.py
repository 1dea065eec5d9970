"""``cetate logistics sample-orders|plan|compare|orders-load`` on the real streets of Brașov:
orders from a file or from the hub, the plan as a table and as files, the comparison's CO2e;
a user's mistake is one line on stderr and exit code 2."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import Result
from typer.testing import CliRunner

from cetate.cli import app
from cetate.config import Settings
from cetate.hub.context import ContextResolver
from cetate.hub.service import Hub
from cetate.hub.store.sqlite import SqliteStore
from cetate.logistics.entities import orders_from_hub
from cetate.logistics.orders import read_orders

EXAMPLES = Path(__file__).parents[2] / "examples" / "logistics"
GREEN = EXAMPLES / "fleet-green.yaml"
DIESEL = EXAMPLES / "fleet-diesel.yaml"
SAMPLE = EXAMPLES / "orders-sample.csv"

runner = CliRunner()


@pytest.fixture(scope="module")
def environment(city_cache: Path) -> dict[str, str]:
    """The session's graph cache, so the networks are built once (shared with other tests)."""
    return {"CETATE_CITY_CACHE": str(city_cache)}


def cetate(environment: dict[str, str], *args: object) -> Result:
    return runner.invoke(app, [str(a) for a in args], env=environment)


@pytest.fixture(scope="module")
def sampled(
    brasov_pbf: Path, environment: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> Path:
    result = cetate(
        environment, "logistics", "sample-orders", "--osm", brasov_pbf, "--count", 30, "--seed", 1
    )
    assert result.exit_code == 0, result.stderr
    path = tmp_path_factory.mktemp("orders") / "orders.csv"
    path.write_text(result.stdout, encoding="utf-8")
    return path


def test_sample_orders_are_an_orders_file(
    sampled: Path, brasov_pbf: Path, environment: dict[str, str]
) -> None:
    orders = read_orders(sampled)
    assert len(orders) == 30 == len({o.id for o in orders})
    assert len({(o.at.lon, o.at.lat) for o in orders}) == 30  # distinct addresses
    assert all(25.4 < o.at.lon < 25.8 and 45.5 < o.at.lat < 45.8 for o in orders)  # Brașov
    assert all(o.at.address for o in orders)
    again = cetate(
        environment, "logistics", "sample-orders", "--osm", brasov_pbf, "--count", 30, "--seed", 1
    )
    assert again.stdout == sampled.read_text(encoding="utf-8")  # the same seed, the same day


def test_plan_prints_the_routes_and_writes_the_files(
    sampled: Path, brasov_pbf: Path, environment: dict[str, str], tmp_path: Path
) -> None:
    out, geojson, report = tmp_path / "plan.json", tmp_path / "r.geojson", tmp_path / "r.html"
    result = cetate(
        environment, "logistics", "plan", sampled, "--fleet", GREEN, "--osm", brasov_pbf,
        "--iterations", 300, "--out", out, "--geojson", geojson, "--report", report,
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    plan = json.loads(out.read_text())
    lines = result.stdout.splitlines()
    assert lines[0].split()[:3] == ["vehicle", "start", "end"]
    routes = plan["routes"]
    assert [line.split()[0] for line in lines[1 : 1 + len(routes)]] == [
        r["vehicle"] for r in routes
    ]
    totals = plan["totals"]
    assert (
        f"{totals['ordersServed']} orders served, {totals['ordersUnassigned']} unassigned"
        in lines[1 + len(routes)]
    )
    assert totals["ordersServed"] + totals["ordersUnassigned"] == 30
    assert f"{totals['co2eKg']:.2f} kg CO2e" in result.stdout
    collection = json.loads(geojson.read_text())
    assert collection["type"] == "FeatureCollection"
    assert sum(f["geometry"]["type"] == "LineString" for f in collection["features"]) == len(routes)
    html = report.read_text(encoding="utf-8")
    assert html.lstrip().lower().startswith("<!doctype html") and plan["problem"] in html


def test_compare_prints_the_co2e_and_writes_a_pdf(
    sampled: Path, brasov_pbf: Path, environment: dict[str, str], tmp_path: Path
) -> None:
    # The green fleet charges from a zero-carbon grid (its file's own emission factors), so
    # its CO2e is nil only if each fleet is planned with its own factors.
    clean = tmp_path / "fleet-green-clean.yaml"
    clean.write_text(
        GREEN.read_text(encoding="utf-8") + "\nemission_factors:\n  grid_g_per_kwh: 0\n",
        encoding="utf-8",
    )
    pdf = tmp_path / "c.pdf"
    result = cetate(
        environment, "logistics", "compare", sampled, "--baseline", DIESEL, "--green", clean,
        "--osm", brasov_pbf, "--iterations", 300, "--report", pdf,
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    co2e = [line for line in result.stdout.splitlines() if line.startswith("CO2e (kg)")]
    assert len(co2e) == 1, result.stdout
    baseline, green, change = co2e[0].split()[-3:]
    assert float(baseline) > 0 and float(green) == 0.0
    assert change == "-100.0%"
    assert pdf.read_bytes().startswith(b"%PDF")


# -- orders in the hub ------------------------------------------------------------------------


@pytest.fixture
def store_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'hub.db'}"


def hub_orders(store_url: str, tenant: str) -> set[str]:
    store = SqliteStore(Path(store_url.removeprefix("sqlite:///")))
    settings = Settings(store="unused", allow_remote_contexts=False)
    hub = Hub(store, ContextResolver(directory=None, allow_remote=False), settings)
    try:
        return {o.id for o in orders_from_hub(hub, tenant)}
    finally:
        hub.close()


def test_orders_load_then_plan_from_the_hub(
    brasov_pbf: Path, environment: dict[str, str], store_url: str, tmp_path: Path
) -> None:
    ids = {o.id for o in read_orders(SAMPLE)}
    loaded = cetate(
        environment, "logistics", "orders-load", SAMPLE, "--store", store_url, "--tenant", "bv"
    )
    assert loaded.exit_code == 0, loaded.stderr
    assert loaded.stdout.strip() == f"{SAMPLE}: {len(ids)} orders written to the hub (tenant bv)"
    assert hub_orders(store_url, "bv") == ids
    assert hub_orders(store_url, "") == set()

    out = tmp_path / "plan.json"
    result = cetate(
        environment, "logistics", "plan", "--from-hub", "--store", store_url, "--tenant", "bv",
        "--fleet", GREEN, "--osm", brasov_pbf, "--iterations", 300, "--out", out,
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    plan = json.loads(out.read_text())
    served = {order for route in plan["routes"] for order in route["orders"]}
    assert served | {u["order"] for u in plan["unassigned"]} == ids

    other = cetate(
        environment, "logistics", "plan", "--from-hub", "--store", store_url,
        "--fleet", GREEN, "--osm", brasov_pbf, "--iterations", 300,
    )  # fmt: skip
    assert_one_line_error(other, "holds no cetate:DeliveryOrder")  # the default tenant has none


# -- mistakes ---------------------------------------------------------------------------------


def assert_one_line_error(result: Result, *words: str) -> None:
    """Exit 2, and the error as the one ``cetate:`` line, last on stderr (a city being loaded
    may say so before), naming ``words``; no traceback."""
    assert result.exit_code == 2, (result.exit_code, result.stdout, result.stderr)
    assert isinstance(result.exception, SystemExit)
    lines = result.stderr.strip().splitlines()
    errors = [line for line in lines if line.startswith("cetate: ")]
    assert errors == lines[-1:], result.stderr
    for word in words:
        assert word in errors[0], errors[0]
    assert "Traceback" not in result.stderr + result.stdout


@pytest.fixture
def inputs(tmp_path: Path) -> Path:
    good = SAMPLE.read_text(encoding="utf-8")
    assert good.count("45.643500") == 1  # BV004's latitude, on line 5
    (tmp_path / "bad-row.csv").write_text(good.replace("45.643500", "45.64x"))
    lines = good.splitlines()
    (tmp_path / "short-row.csv").write_text("\n".join([*lines[:2], "BV099,delivery,25.6", ""]))
    fleet = GREEN.read_text(encoding="utf-8").replace("count: 5", "count: 5\n    colour: green")
    (tmp_path / "bad-key.yaml").write_text(fleet)
    (tmp_path / "not-osm.pbf").write_text("this is not an OSM extract\n")
    return tmp_path


@pytest.mark.parametrize(
    ("args", "words"),
    [
        pytest.param(
            ["plan", "{tmp}/missing.csv", "--fleet", GREEN],
            ("missing.csv", "cannot read it"),
            id="missing orders file",
        ),
        pytest.param(
            ["plan", "{tmp}/bad-row.csv", "--fleet", GREEN],
            ("bad-row.csv line 5, field 'lat'", "'45.64x' is not a number"),
            id="malformed row",
        ),
        pytest.param(
            ["plan", "{tmp}/short-row.csv", "--fleet", GREEN],
            ("short-row.csv line 3", "3 values", "17 columns"),
            id="row too short",
        ),
        pytest.param(
            ["plan", SAMPLE, "--fleet", "{tmp}/bad-key.yaml"],
            ("bad-key.yaml", "vehicles[0].colour", "unknown key"),
            id="bad fleet key",
        ),
        pytest.param(
            ["plan", SAMPLE, "--fleet", "{tmp}/missing.yaml"],
            ("missing.yaml", "cannot read it"),
            id="missing fleet",
        ),
        pytest.param(
            ["compare", SAMPLE, "--baseline", DIESEL, "--green", "{tmp}/bad-key.yaml"],
            ("bad-key.yaml", "vehicles[0].colour"),
            id="bad green fleet",
        ),
        pytest.param(
            ["plan", SAMPLE, "--fleet", GREEN, "--osm", "{tmp}/missing.pbf"],
            ("--osm", "missing.pbf", "no such file"),
            id="unknown extract",
        ),
        pytest.param(
            ["plan", SAMPLE, "--fleet", GREEN, "--osm", "{tmp}/not-osm.pbf"],
            ("not-osm.pbf", "not a readable OSM extract"),
            id="not an extract",
        ),
        pytest.param(
            ["sample-orders", "--osm", "{tmp}/missing.pbf"],
            ("missing.pbf",),
            id="sample from unknown extract",
        ),
        pytest.param(
            ["plan", "--fleet", GREEN],
            ("give an orders file, or --from-hub",),
            id="no orders",
        ),
        pytest.param(
            ["plan", SAMPLE, "--from-hub", "--fleet", GREEN],
            ("orders-sample.csv", "not both"),
            id="file and hub",
        ),
        pytest.param(
            ["plan", SAMPLE, "--tenant", "bv", "--fleet", GREEN],
            ("--from-hub",),
            id="tenant without hub",
        ),
        pytest.param(
            ["orders-load", "{tmp}/bad-row.csv", "--store", "sqlite:///{tmp}/hub.db"],
            ("bad-row.csv line 5, field 'lat'",),
            id="loading a malformed file",
        ),
        pytest.param(
            ["orders-load", "{tmp}/missing.csv", "--store", "sqlite:///{tmp}/hub.db"],
            ("missing.csv", "cannot read it"),
            id="loading a missing file",
        ),
    ],
)
def test_mistakes_are_one_line_and_exit_2(
    args: list[object], words: tuple[str, ...], inputs: Path, environment: dict[str, str]
) -> None:
    filled = [str(a).replace("{tmp}", str(inputs)) for a in args]
    assert_one_line_error(cetate(environment, "logistics", *filled), *words)
    assert not (inputs / "hub.db").exists()  # a file with a mistake writes nothing


@pytest.fixture(autouse=True)
def _work_in_a_temporary_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The store defaults to cetate.db in the working directory: keep it out of the repo."""
    monkeypatch.chdir(tmp_path)
