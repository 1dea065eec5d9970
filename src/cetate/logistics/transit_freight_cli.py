"""``cetate logistics transit-freight PARCELS.csv --feed NAME --day YYYY-MM-DD``: parcels on the
buses of a GTFS feed imported into the hub, with a courier for the first and last mile; with
``--van``, beside a dedicated van doing the same parcels.

The parcels file is a CSV with a header: ``id``, ``lon``, ``lat`` (the destination), ``ready``
and ``due`` (``HH:MM`` of the service day), and optionally ``kg``, ``parcels`` (default 1),
``pickup_point`` (``yes``/``no``: collected at a stop with a locker rather than at the door),
``origin_lon`` and ``origin_lat`` (default: ``--origin``). The plan prints as text (one block
per parcel, then the parcels left out with their reasons, the trips' loads and the totals);
``--out`` writes it as JSON.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Literal

import orjson
import typer

from cetate.errors import BadRequestData
from cetate.logistics.clock import format_clock, parse_clock

if TYPE_CHECKING:
    from cetate.city.service import City
    from cetate.logistics.transit_freight import FreightPlan, Parcel, VanComparison
    from cetate.mobility.transit import Timetable

REQUIRED = ("id", "lon", "lat", "ready", "due")
OPTIONAL = ("kg", "parcels", "pickup_point", "origin_lon", "origin_lat")
YES = frozenset({"yes", "y", "true", "1"})
NO = frozenset({"no", "n", "false", "0", ""})


def add_commands(logistics_app: typer.Typer) -> None:
    """Register ``transit-freight`` on the ``cetate logistics`` group."""

    @logistics_app.command("transit-freight")
    def transit_freight_command(
        parcels_csv: Annotated[Path, typer.Argument(help="The parcels (CSV).")],
        day: Annotated[str, typer.Option("--day", help="The service day, YYYY-MM-DD.")],
        feed: Annotated[
            str | None,
            typer.Option("--feed", help="The GTFS feed's name in the hub (default: the only one)."),
        ] = None,
        store: Annotated[
            str | None,
            typer.Option(
                "--store",
                help="sqlite:///path.db (default: cetate.db in the working directory) or "
                "postgresql://...",
            ),
        ] = None,
        tenant: Annotated[str, typer.Option("--tenant", help="NGSILD-Tenant to read.")] = "",
        origin: Annotated[
            str | None,
            typer.Option("--origin", help="LON,LAT of the parcels without origin columns."),
        ] = None,
        stops: Annotated[
            str | None,
            typer.Option(
                "--stops", help="Stop ids that take parcels, comma-separated (default: all)."
            ),
        ] = None,
        box_parcels: Annotated[
            float, typer.Option("--box-parcels", min=0, help="Parcels per trip.")
        ] = 8.0,
        box_kg: Annotated[float, typer.Option("--box-kg", min=0, help="Kg per trip.")] = 80.0,
        max_transfers: Annotated[
            int, typer.Option("--max-transfers", min=0, max=1, help="0 or 1.")
        ] = 1,
        allocation: Annotated[
            Literal["mass", "marginal"],
            typer.Option("--allocation", help="The parcels' share of the bus: mass or marginal."),
        ] = "mass",
        osm: Annotated[
            Path | None,
            typer.Option(
                "--osm",
                help="An OSM extract covering the area: bike network for the courier, streets "
                "for the van (default: crow-fly x circuity).",
            ),
        ] = None,
        van: Annotated[
            bool, typer.Option("--van", help="Compare with a dedicated diesel van.")
        ] = False,
        seconds: Annotated[
            float, typer.Option("--seconds", min=0.1, help="The van solver's time limit.")
        ] = 5.0,
        iterations: Annotated[
            int | None,
            typer.Option("--iterations", min=1, help="The van solver's iterations instead."),
        ] = None,
        seed: Annotated[int, typer.Option("--seed", help="The van solver's seed.")] = 0,
        out: Annotated[Path | None, typer.Option("--out", help="Write the plan as JSON.")] = None,
    ) -> None:
        """Assign parcels to scheduled bus trips (capacity per trip, transfers, pickup
        points), plan the courier's first and last mile, and compare with a van."""
        from cetate.cli import guarded
        from cetate.logistics.model import UNLIMITED, Size
        from cetate.logistics.transit_freight import (
            BusEmissions,
            FreightSettings,
            VanSettings,
            compare_with_van,
            plan_transit_freight,
            schedule_for,
        )
        from cetate.mobility.transit import parse_day

        service_day = guarded(lambda: parse_day(day))
        start = guarded(lambda: _origin(origin))
        parcels = guarded(lambda: read_parcels(parcels_csv, start))
        settings = FreightSettings(
            day=service_day,
            capacity=Size(kg=box_kg, m3=UNLIMITED, parcels=box_parcels),
            stops=frozenset(s.strip() for s in stops.split(",") if s.strip()) if stops else None,
            max_transfers=max_transfers,
            bus=BusEmissions(allocation=allocation),
        )
        timetable = guarded(lambda: _timetable(store, feed, tenant))
        city = guarded(lambda: _city(osm)) if osm is not None else None
        schedule = guarded(lambda: schedule_for(timetable, settings))
        plan = guarded(lambda: plan_transit_freight(parcels, schedule, settings, city))
        typer.echo(freight_text(plan, {p.id: p for p in parcels}))
        comparison = None
        if van:
            options = VanSettings(seconds=seconds, iterations=iterations, seed=seed)
            comparison = guarded(
                lambda: compare_with_van(parcels, plan, options, city, settings=settings)
            )
            typer.echo("")
            typer.echo(comparison_text(comparison))
        if out is not None:
            document = {"plan": plan, "comparison": comparison}
            guarded(lambda: out.write_bytes(orjson.dumps(document, option=orjson.OPT_INDENT_2)))


def _origin(text: str | None) -> tuple[float, float] | None:
    if text is None:
        return None
    parts = text.split(",")
    try:
        lon, lat = (float(part) for part in parts)
    except ValueError:
        raise BadRequestData(f"--origin must be LON,LAT, got {text!r}") from None
    return lon, lat


def _timetable(store: str | None, feed: str | None, tenant: str) -> Timetable:
    from cetate.cli import settings_from
    from cetate.hub.service import build_hub
    from cetate.mobility.transit import Transit

    hub = build_hub(settings_from(store))
    try:
        return Transit(hub).timetable(feed, tenant)
    finally:
        hub.close()


def _city(osm: Path) -> City:
    from cetate.city.service import load_city
    from cetate.cli import settings_from

    settings = settings_from(osm=osm)
    settings.city_modes = "drive,bike"
    return load_city(settings, lambda message: typer.echo(message, err=True))


# -- the parcels file -------------------------------------------------------------------------


def read_parcels(path: Path, origin: tuple[float, float] | None = None) -> list[Parcel]:
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        raise BadRequestData(f"{path}: not a UTF-8 text file") from None
    return parcels_from_csv(text, str(path), origin)


def parcels_from_csv(
    text: str, source: str = "parcels", origin: tuple[float, float] | None = None
) -> list[Parcel]:
    """The parcels of a CSV text; a mistake names the line and the column."""
    from cetate.logistics.model import Size
    from cetate.logistics.transit_freight import Parcel

    reader = csv.DictReader(io.StringIO(text))
    try:
        columns = reader.fieldnames or []
    except csv.Error as error:
        raise BadRequestData(f"{source} line 1: {error}") from None
    missing = [c for c in REQUIRED if c not in columns]
    if origin is None and not {"origin_lon", "origin_lat"} <= set(columns):
        missing.append("origin_lon, origin_lat (or --origin)")
    if missing:
        raise BadRequestData(f"{source}: missing columns: {', '.join(missing)}")
    parcels: list[Parcel] = []
    rows: list[tuple[int, dict[str, str]]] = []
    try:
        for row in reader:
            rows.append((reader.line_num, row))
    except csv.Error as error:
        raise BadRequestData(f"{source} line {reader.line_num}: {error}") from None
    for line, row in rows:
        where = f"{source} line {line}"
        start = origin
        if row.get("origin_lon") or row.get("origin_lat"):
            start = (
                _number(row, "origin_lon", where, None),
                _number(row, "origin_lat", where, None),
            )
        if start is None:
            raise BadRequestData(f"{where}: no origin (origin_lon, origin_lat or --origin)")
        parcels.append(
            Parcel(
                id=_text(row, "id", where),
                origin_lon=start[0],
                origin_lat=start[1],
                lon=_number(row, "lon", where, None),
                lat=_number(row, "lat", where, None),
                size=Size(
                    kg=_number(row, "kg", where, 0.0), parcels=_number(row, "parcels", where, 1.0)
                ),
                ready_s=_clock(row, "ready", where),
                due_s=_clock(row, "due", where),
                to_pickup_point=_flag(row, "pickup_point", where),
            )
        )
    if not parcels:
        raise BadRequestData(f"{source}: no parcels")
    return parcels


def _text(row: dict[str, str], name: str, where: str) -> str:
    value = (row.get(name) or "").strip()
    if not value:
        raise BadRequestData(f"{where}: {name} is empty")
    return value


def _number(row: dict[str, str], name: str, where: str, default: float | None) -> float:
    value = (row.get(name) or "").strip()
    if not value and default is not None:
        return default
    try:
        number = float(value)
    except ValueError:
        raise BadRequestData(f"{where}: {name} must be a number, got {value!r}") from None
    if number != number or number in (float("inf"), float("-inf")):
        raise BadRequestData(f"{where}: {name} must be a finite number")
    return number


def _clock(row: dict[str, str], name: str, where: str) -> int:
    try:
        return parse_clock(_text(row, name, where))
    except BadRequestData as error:
        raise BadRequestData(f"{where}: {name}: {error.detail}") from None


def _flag(row: dict[str, str], name: str, where: str) -> bool:
    value = (row.get(name) or "").strip().lower()
    if value in YES:
        return True
    if value in NO:
        return False
    raise BadRequestData(f"{where}: {name} must be yes or no, got {value!r}")


# -- text -------------------------------------------------------------------------------------


def freight_text(plan: FreightPlan, parcels: dict[str, Parcel]) -> str:
    """The plan for a terminal: a block per parcel, the left-out ones, the loads, the totals."""
    lines: list[str] = []
    for it in plan.itineraries:
        p = parcels[it.parcel]
        lines.append(
            f"{it.parcel}  ready {format_clock(p.ready_s)}  due {format_clock(p.due_s)}  "
            f"delivered {format_clock(it.delivered_s)}  {it.co2e_kg * 1000:.1f} g CO2e  "
            f"({it.distances})"
        )
        first = it.first_mile
        lines.append(
            f"    courier {first.distance_m:,.0f} m to {first.stop_name}, "
            f"{format_clock(first.start_s)}-{format_clock(first.end_s)}"
        )
        for number, ride in enumerate(it.rides):
            if number and it.transfer is not None:
                walk = f", {it.transfer.walk_m:.0f} m walk" if it.transfer.walk_m else ""
                lines.append(f"    transfer, {it.transfer.wait_s // 60} min{walk}")
            lines.append(
                f"    {ride.route} trip {ride.trip_id}: {ride.board_stop_name} "
                f"{format_clock(ride.board_s)} -> {ride.alight_stop_name} "
                f"{format_clock(ride.alight_s)} ({ride.bus_km:.1f} km)"
            )
        if it.last_mile is not None:
            last = it.last_mile
            lines.append(
                f"    courier {last.distance_m:,.0f} m to the door, "
                f"{format_clock(last.start_s)}-{format_clock(last.end_s)}"
            )
        else:
            lines.append(
                f"    in the pickup point's locker at {it.rides[-1].alight_stop_name} "
                f"(stop {it.pickup_point})"
            )
    if plan.unassigned:
        lines.append("")
        lines.append("not carried:")
        lines.extend(f"    {u.order}: {u.reason}" for u in plan.unassigned)
    if plan.trips:
        lines.append("")
        lines.append("trips with parcels:")
        for trip in plan.trips:
            on_board = sorted({p for segment in trip.segments for p in segment.parcels})
            lines.append(
                f"    {trip.route} {trip.trip_id}: at most {_count(trip.peak.parcels)}, "
                f"{trip.peak.kg:g} kg on board, {trip.bus_km:.1f} km loaded "
                f"({', '.join(on_board)})"
            )
    t = plan.totals
    lines.append("")
    lines.append(
        f"{plan.feed} on {plan.day.isoformat()}: {t.parcels_carried} parcels carried, "
        f"{t.parcels_unassigned} not; courier {t.bike_km:.1f} km, {t.courier_hours:.2f} h; "
        f"{t.cost:.2f} EUR; {t.co2e_kg:.3f} kg CO2e (buses {t.bus_co2e_kg:.3f}, courier "
        f"{t.courier_co2e_kg:.3f})"
    )
    lines.extend(f"note: {note}" for note in plan.notes)
    return "\n".join(lines)


def _count(parcels: float) -> str:
    return f"{parcels:g} parcel{'' if parcels == 1 else 's'}"


def comparison_text(comparison: VanComparison) -> str:
    rows: Sequence[tuple[str, str, str]] = [
        (
            label,
            fmt.format(getattr(comparison.transit, name)),
            fmt.format(getattr(comparison.van, name)),
        )
        for label, name, fmt in (
            ("parcels served", "parcels_served", "{:d}"),
            ("motor-vehicle km", "motor_km", "{:.1f}"),
            ("bike km", "bike_km", "{:.1f}"),
            ("hours (courier / driver)", "hours", "{:.2f}"),
            ("cost (EUR)", "cost", "{:.2f}"),
            ("CO2e (kg)", "co2e_kg", "{:.3f}"),
        )
    ]
    lines = [f"{'':26}{'passenger lines':>16}{'van':>10}"]
    lines.extend(f"{label:26}{a:>16}{b:>10}" for label, a, b in rows)
    lines.append(f"van distances: {comparison.van_distances}")
    lines.extend(f"van: {u.order}: {u.reason}" for u in comparison.van_unassigned)
    lines.extend(f"note: {note}" for note in comparison.notes)
    return "\n".join(lines)
