"""``cetate logistics plan|compare|sample-orders|orders-load``: plan a day of deliveries.

The orders come from a file (CSV, JSON or GeoJSON), or with ``--from-hub`` from the hub's
``cetate:DeliveryOrder`` entities (``orders-load`` writes a file's orders there; ``--store``
and ``--tenant`` say which hub and tenant). The plan prints as a table (one line per route,
then the orders left out with their reasons); ``--out`` writes it as JSON, ``--geojson`` its
routes for a map, ``--report`` an HTML or PDF report. Progress goes to stderr, results to
stdout.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import orjson
import typer

if TYPE_CHECKING:
    from rich.console import Console

    from cetate.city.service import City
    from cetate.logistics.model import Order, Plan, Problem
    from cetate.logistics.planner import PlanOptions

OsmOption = Annotated[
    Path | None,
    typer.Option("--osm", help="The city's OSM extract (default: CETATE_CITY_OSM)."),
]
SecondsOption = Annotated[
    float, typer.Option("--seconds", min=0.1, help="The solver's time limit in seconds.")
]
IterationsOption = Annotated[
    int | None,
    typer.Option(
        "--iterations",
        min=1,
        help="Stop after this many iterations instead of a time: the same plan on every run.",
    ),
]
SeedOption = Annotated[int, typer.Option("--seed", help="The solver's random seed.")]
OrdersArgument = Annotated[
    Path | None,
    typer.Argument(help="Orders: CSV, JSON or GeoJSON (or --from-hub).", show_default=False),
]
FromHubOption = Annotated[
    bool,
    typer.Option(
        "--from-hub", help="Plan the hub's cetate:DeliveryOrder entities instead of a file."
    ),
]
# Spelled as in cetate.cli, which imports this module (so it cannot be imported from here).
StoreOption = Annotated[
    str | None,
    typer.Option(
        "--store",
        help="The hub: sqlite:///path.db (default: CETATE_STORE, else cetate.db) or "
        "postgresql://...",
    ),
]
TenantOption = Annotated[str, typer.Option("--tenant", help="The hub's NGSILD-Tenant.")]


def add_commands(logistics_app: typer.Typer) -> None:
    """Register the planning commands on the ``cetate logistics`` group."""

    @logistics_app.command("plan")
    def plan_command(
        fleet: Annotated[Path, typer.Option("--fleet", help="Sites, vehicles, zones (YAML).")],
        orders: OrdersArgument = None,
        from_hub: FromHubOption = False,
        store: StoreOption = None,
        tenant: TenantOption = "",
        osm: OsmOption = None,
        seconds: SecondsOption = 30.0,
        iterations: IterationsOption = None,
        seed: SeedOption = 0,
        out: Annotated[Path | None, typer.Option("--out", help="Write the plan as JSON.")] = None,
        geojson: Annotated[
            Path | None, typer.Option("--geojson", help="Write the routes as GeoJSON.")
        ] = None,
        report: Annotated[
            Path | None, typer.Option("--report", help="Write a report (.html or .pdf).")
        ] = None,
    ) -> None:
        """Plan which vehicle carries what, in which order and when, at what cost and CO2e."""
        from cetate.cli import guarded

        given = guarded(lambda: _hub_orders(orders, from_hub, store, tenant))
        problem, options = guarded(lambda: _read(orders, given, fleet, seconds, iterations, seed))
        city = guarded(lambda: _city(osm))
        result = guarded(lambda: _plan(problem, city, options))
        typer.echo(plan_table(result))
        guarded(lambda: _write(result, problem, city, out, geojson, report))

    @logistics_app.command("compare")
    def compare_command(
        baseline: Annotated[Path, typer.Option("--baseline", help="The fleet of today (YAML).")],
        green: Annotated[Path, typer.Option("--green", help="The fleet proposed (YAML).")],
        orders: OrdersArgument = None,
        from_hub: FromHubOption = False,
        store: StoreOption = None,
        tenant: TenantOption = "",
        osm: OsmOption = None,
        seconds: SecondsOption = 30.0,
        iterations: IterationsOption = None,
        seed: SeedOption = 0,
        report: Annotated[
            Path | None, typer.Option("--report", help="Write the comparison (.html or .pdf).")
        ] = None,
    ) -> None:
        """Plan the same orders with two fleets and compare km, hours, cost, CO2e, vehicles."""
        from cetate.cli import guarded
        from cetate.logistics.scenarios import compare, comparison_table

        given = guarded(lambda: _hub_orders(orders, from_hub, store, tenant))
        base_problem, options = guarded(
            lambda: _read(orders, given, baseline, seconds, iterations, seed)
        )
        green_problem, green_options = guarded(
            lambda: _read(orders, given, green, seconds, iterations, seed)
        )
        city = guarded(lambda: _city(osm))
        base_plan = guarded(lambda: _plan(base_problem, city, options))
        green_plan = guarded(lambda: _plan(green_problem, city, green_options))
        comparison = compare(base_problem, base_plan, green_problem, green_plan)
        typer.echo(comparison_table(comparison))
        if report is not None:
            from cetate.logistics.report import write_comparison_report

            guarded(lambda: write_comparison_report(comparison, city, report))
            typer.echo(f"report: {report}", err=True)

    @logistics_app.command("sample-orders")
    def sample_orders_command(
        osm: Annotated[Path, typer.Option("--osm", help="OSM extract with house numbers.")],
        count: Annotated[int, typer.Option("--count", min=1, help="How many orders.")] = 100,
        seed: SeedOption = 0,
    ) -> None:
        """Print a CSV of orders at real addresses of the extract (sizes and time windows
        drawn with the seed; see cetate.logistics.sample for the shares)."""
        from cetate.city.addresses import read_addresses
        from cetate.cli import guarded
        from cetate.logistics.sample import orders_csv, sample_orders

        addresses = guarded(lambda: read_addresses(osm))
        rows = guarded(lambda: sample_orders(addresses, count, seed))
        sys.stdout.write(orders_csv(rows))

    @logistics_app.command("orders-load")
    def orders_load_command(
        orders: Annotated[Path, typer.Argument(help="Orders: CSV, JSON or GeoJSON.")],
        store: StoreOption = None,
        tenant: TenantOption = "",
    ) -> None:
        """Write an orders file into the hub as cetate:DeliveryOrder entities (replacing those
        of the same ids), for `plan --from-hub`, the API and the dashboard. A file with a
        mistake writes nothing."""
        from cetate.cli import guarded, settings_from
        from cetate.hub.service import build_hub
        from cetate.logistics.entities import write_orders
        from cetate.logistics.orders import read_orders

        read = guarded(lambda: read_orders(orders))
        hub = guarded(lambda: build_hub(settings_from(store)))
        try:
            guarded(lambda: write_orders(hub, read, tenant))
        finally:
            hub.close()
        where = f" (tenant {tenant})" if tenant else ""
        typer.echo(f"{orders}: {len(read)} orders written to the hub{where}")


def _hub_orders(
    orders: Path | None, from_hub: bool, store: str | None, tenant: str
) -> tuple[Order, ...] | None:
    """The hub's orders with --from-hub (None without: they come from the file)."""
    from cetate.cli import settings_from
    from cetate.errors import BadRequestData, ConfigError
    from cetate.hub.service import build_hub
    from cetate.logistics.entities import ORDER_TYPE, orders_from_hub

    if from_hub and orders is not None:
        raise ConfigError(f"{orders}: give an orders file or --from-hub, not both")
    if not from_hub:
        if orders is None:
            raise ConfigError("no orders: give an orders file, or --from-hub")
        if store is not None or tenant:
            raise ConfigError("--store and --tenant say which hub to plan from: add --from-hub")
        return None
    settings = settings_from(store)
    hub = build_hub(settings)
    try:
        found = orders_from_hub(hub, tenant)
    finally:
        hub.close()
    if not found:
        where = f", tenant {tenant!r}" if tenant else ""
        raise BadRequestData(f"the hub ({settings.store}{where}) holds no {ORDER_TYPE} entities")
    return found


def _read(
    orders: Path | None,
    hub_orders: tuple[Order, ...] | None,
    fleet: Path,
    seconds: float,
    iterations: int | None,
    seed: int,
) -> tuple[Problem, PlanOptions]:
    """The problem of the fleet file and the orders (the hub's, else the file's: the
    mistakes of both files then come in one error)."""
    from cetate.logistics.emissions import factors_from_dict
    from cetate.logistics.fleet import read_fleet, read_problem
    from cetate.logistics.model import Problem
    from cetate.logistics.planner import PlanOptions

    if hub_orders is None:
        assert orders is not None  # _hub_orders has checked that one of the two is given
        problem, raw_factors = read_problem(orders, fleet)
    else:
        parsed = read_fleet(fleet)
        problem = Problem(parsed.sites, parsed.vehicles, hub_orders, parsed.zones, parsed.name)
        raw_factors = parsed.emission_factors
    factors = factors_from_dict(raw_factors)
    return problem, PlanOptions(seconds=seconds, iterations=iterations, seed=seed, factors=factors)


def _city(osm: Path | None) -> City:
    from cetate.city.service import load_city
    from cetate.cli import settings_from

    settings = settings_from(osm=osm)
    settings.city_modes = "drive,bike"
    return load_city(settings, lambda message: typer.echo(message, err=True))


def _plan(problem: Problem, city: City, options: PlanOptions) -> Plan:
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from cetate.logistics.planner import plan

    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TimeElapsedColumn(),
        console=_stderr_console(),
        transient=True,
    ) as bar:
        task = bar.add_task(f"planning {problem.name or 'the day'}", total=1.0)

        def progress(fraction: float, message: str) -> None:
            bar.update(task, completed=fraction, description=message)

        return plan(problem, city, options, progress)


def _stderr_console() -> Console:
    from rich.console import Console

    return Console(stderr=True)


def plan_table(plan: Plan) -> str:
    """The plan for a terminal: routes, totals, orders left out and why."""
    from cetate.logistics.clock import format_clock

    lines = [
        f"{'vehicle':<16} {'start':>5} {'end':>5} {'trips':>5} {'stops':>5} "
        f"{'km':>7} {'cost EUR':>9} {'CO2e kg':>8}"
    ]
    for route in plan.routes:
        stops = sum(1 for v in route.visits if v.order is not None or v.action == "feed")
        lines.append(
            f"{route.vehicle:<16} {format_clock(route.start):>5} {format_clock(route.end):>5} "
            f"{route.trips:>5} {stops:>5} {route.distance_m / 1000:>7.1f} {route.cost:>9.2f} "
            f"{route.co2e_kg:>8.2f}"
        )
    totals = plan.totals
    lines.append(
        f"{totals.vehicles} vehicles, {totals.distance_km:.1f} km, {totals.hours:.1f} h, "
        f"{totals.cost:.2f} EUR, {totals.co2e_kg:.2f} kg CO2e; {totals.orders_served} orders "
        f"served, {totals.orders_unassigned} unassigned"
    )
    for left in plan.unassigned:
        lines.append(f"unassigned {left.order}: {left.reason}")
    lines.extend(f"note: {note}" for note in plan.notes)
    return "\n".join(lines)


def _write(
    result: Plan,
    problem: Problem,
    city: City,
    out: Path | None,
    geojson: Path | None,
    report: Path | None,
) -> None:
    from cetate.logistics.export import plan_document, plan_geojson

    if out is not None:
        out.write_bytes(orjson.dumps(plan_document(result), option=orjson.OPT_INDENT_2))
        typer.echo(f"plan: {out}", err=True)
    if geojson is not None:
        geojson.write_bytes(orjson.dumps(plan_geojson(result, problem, city)))
        typer.echo(f"routes: {geojson}", err=True)
    if report is not None:
        from cetate.logistics.report import write_plan_report

        write_plan_report(result, problem, city, report)
        typer.echo(f"report: {report}", err=True)
