"""A plan, or two plans compared, as a report for an operations room or a council: one HTML file
or one PDF, each complete in itself (the map inline, no fonts, tiles or scripts fetched), since
both are read on closed networks.

A report is built once as plain blocks (headings, paragraphs, tables, maps) and then written in
either format, so the HTML and the PDF always say the same thing. The map is drawn with
matplotlib from the city's own OSM roads: the routes along the streets they take, the sites,
the stops and the orders left out.
"""

from __future__ import annotations

import html
import io
import itertools
import math
import os
import re
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import matplotlib
import numpy as np
import shapely
from fpdf import FPDF
from fpdf.fonts import FontFace
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.patheffects import withStroke
from matplotlib.transforms import blended_transform_factory

from cetate.city.network import Floats
from cetate.city.service import City
from cetate.city.snap import Projection, segment_lines
from cetate.errors import BadRequestData
from cetate.logistics.clock import format_clock
from cetate.logistics.export import plan_geojson
from cetate.logistics.model import Mode, Plan, Problem, RoutePlan, Visit
from cetate.logistics.scenarios import Comparison, Row, Scenario

SUFFIXES = (".html", ".pdf")
EMISSIONS_NOTE = (
    "CO2e is well-to-wheel (WTW: producing the fuel or electricity, and using it), per "
    "ISO 14083:2023 and the GLEC Framework: each route's kilometres times its vehicle's factor "
    "per km, shared among its orders by tonne-kilometres. The factors and their sources are "
    "listed in docs/emission-factors.md."
)
ATTRIBUTION = "Map data © OpenStreetMap contributors (ODbL)"
KIND_LABELS = {
    "cargo_bike": "cargo bike",
    "e_cargo_bike": "e-cargo bike",
    "e_van": "e-van",
    "diesel_van": "diesel van",
    "car": "car",
}


def write_plan_report(
    plan: Plan, problem: Problem, city: City, path: Path, generated: datetime | None = None
) -> None:
    """Write ``plan`` as ``path`` (.html or .pdf)."""
    suffix = report_suffix(path)
    _write_file(path, render(plan_report(plan, problem, city, generated), suffix))


def write_comparison_report(
    comparison: Comparison, city: City, path: Path, generated: datetime | None = None
) -> None:
    """Write the baseline and the green scenario side by side as ``path`` (.html or .pdf)."""
    suffix = report_suffix(path)
    _write_file(path, render(comparison_report(comparison, city, generated), suffix))


def report_suffix(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix not in SUFFIXES:
        raise BadRequestData(
            f"{path}: a report is written as {' or '.join(SUFFIXES)}, not {suffix or 'no suffix'}"
        )
    return suffix


def _write_file(path: Path, data: bytes) -> None:
    # Through a temporary file beside it: a failure never leaves half a report behind.
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        temporary.write_bytes(data)
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)


# -- the report as blocks ------------------------------------------------------------------------


@dataclass(frozen=True)
class Heading:
    text: str
    level: int = 2  # 2: a section, 3: a part of one


@dataclass(frozen=True)
class Text:
    paragraphs: tuple[str, ...]


@dataclass(frozen=True)
class Bullets:
    items: tuple[str, ...]


@dataclass(frozen=True)
class Table:
    caption: str
    headers: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    numeric: tuple[bool, ...]  # right-aligned columns
    widths: tuple[float, ...]  # relative column widths on paper
    foot: tuple[str, ...] | None = None  # a totals row
    small: bool = False  # long tables print in a smaller font
    narrow: bool = False  # a few short columns: half the page's width on paper


@dataclass(frozen=True)
class MapImage:
    figure: Figure
    caption: str
    label: str  # what the map shows, for screen readers


@dataclass(frozen=True)
class Maps:
    maps: tuple[MapImage, ...]  # side by side where the page is wide enough


Block = Heading | Text | Bullets | Table | Maps


@dataclass(frozen=True)
class Report:
    title: str
    subtitle: str
    blocks: tuple[Block, ...]


def plan_report(
    plan: Plan, problem: Problem, city: City, generated: datetime | None = None
) -> Report:
    name = problem.name or plan.problem or "unnamed problem"
    totals = plan.totals
    lines, fallback = route_lines(plan, problem, city)
    view = view_of([plan_points(plan, problem, lines)])
    figure = map_figure(plan, problem, city, lines, view)
    blocks: list[Block] = [
        Heading("Totals"),
        Table(
            "The day's totals",
            ("Figure", "Value"),
            (
                ("Vehicles used", f"{totals.vehicles}"),
                ("Distance (km)", f"{totals.distance_km:.1f}"),
                ("Vehicle hours (h)", f"{totals.hours:.1f}"),
                ("Cost (EUR)", f"{totals.cost:.2f}"),
                ("CO2e, well-to-wheel (kg)", f"{totals.co2e_kg:.2f}"),
                ("Orders served", f"{totals.orders_served}"),
                ("Orders unassigned", f"{totals.orders_unassigned}"),
            ),
            (False, True),
            (3.0, 1.0),
            narrow=True,
        ),
        Heading("Map"),
        Maps((MapImage(figure, map_caption(fallback), f"Map of the routes of {name}"),)),
        Heading("Routes"),
        route_table(plan, problem),
        Heading("Stops by route"),
    ]
    for route in plan.routes:
        blocks.append(Heading(f"{route.vehicle}: {vehicle_label(route, problem)}", 3))
        blocks.append(stop_table(route, problem))
    blocks.append(Heading("Unassigned orders"))
    if plan.unassigned:
        blocks.append(unassigned_table(plan, problem))
    else:
        blocks.append(Text(("Every order is served.",)))
    if plan.notes:
        blocks += [Heading("Notes"), Bullets(plan.notes)]
    blocks += [Heading("Emissions"), Text((EMISSIONS_NOTE,))]
    subtitle = (
        f"Generated {_stamp(generated)}. Solver seed {plan.seed}, {plan.seconds:.1f} s. "
        f"{_count(totals.vehicles, 'vehicle')}, {totals.distance_km:.1f} km, "
        f"{_count(totals.orders_served, 'order')} served, {totals.orders_unassigned} unassigned."
    )
    return Report(f"Delivery plan: {name}", subtitle, tuple(blocks))


def comparison_report(
    comparison: Comparison, city: City, generated: datetime | None = None
) -> Report:
    scenarios = (comparison.baseline, comparison.green)
    drawn = [route_lines(s.plan, s.problem, city) for s in scenarios]
    # One window for both maps, so the eye compares like with like.
    view = view_of(
        [
            plan_points(s.plan, s.problem, lines)
            for s, (lines, _) in zip(scenarios, drawn, strict=True)
        ]
    )
    maps = tuple(
        MapImage(
            map_figure(s.plan, s.problem, city, lines, view),
            f"{s.name}: {scenario_summary(s)}. {map_caption(fallback)}",
            f"Map of the routes of the scenario {s.name}",
        )
        for s, (lines, fallback) in zip(scenarios, drawn, strict=True)
    )
    base, green = comparison.baseline.name, comparison.green.name
    blocks: list[Block] = [
        Heading("Figures"),
        Table(
            f"{base} against {green}: changes are {green} minus {base}",
            ("Figure", base, green, "Change", "Change %"),
            tuple(figure_row(row) for row in comparison.rows),
            (False, True, True, True, True),
            (3.0, 1.4, 1.4, 1.2, 1.0),
        ),
        Heading("Maps"),
        Maps(maps),
    ]
    for scenario in scenarios:
        blocks += [Heading(f"Routes: {scenario.name}"), short_route_table(scenario)]
        if scenario.plan.unassigned:
            blocks.append(Bullets(unassigned_items(scenario.plan)))
    blocks += [Heading("Emissions"), Text((EMISSIONS_NOTE,))]
    subtitle = f"Generated {_stamp(generated)}. The same orders planned with two fleets."
    return Report(f"Scenario comparison: {base} and {green}", subtitle, tuple(blocks))


# -- tables ---------------------------------------------------------------------------------------


def stop_count(route: RoutePlan) -> int:
    return sum(1 for v in route.visits if v.order is not None or v.action == "feed")


def kind_label(route: RoutePlan, problem: Problem) -> str:
    """What the vehicle is: "e-cargo bike", "e-van, feeder"."""
    kinds = {v.id: v.kind for v in problem.fleet}
    kind = kinds.get(route.vehicle_type)
    label = route.mode if kind is None else KIND_LABELS[kind]
    return f"{label}, feeder" if route.echelon == 0 else label


def vehicle_label(route: RoutePlan, problem: Problem) -> str:
    return f"{route.vehicle_type} ({kind_label(route, problem)})"


def route_table(plan: Plan, problem: Problem) -> Table:
    rows = tuple(
        (
            route.vehicle,
            vehicle_label(route, problem),
            format_clock(route.start),
            format_clock(route.end),
            f"{route.trips}",
            f"{stop_count(route)}",
            f"{route.distance_m / 1000:.1f}",
            f"{route.cost:.2f}",
            f"{route.co2e_kg:.2f}",
        )
        for route in plan.routes
    )
    totals = plan.totals
    foot = (
        "Total",
        _count(totals.vehicles, "vehicle"),
        "",
        "",
        f"{sum(r.trips for r in plan.routes)}",
        f"{sum(stop_count(r) for r in plan.routes)}",
        f"{totals.distance_km:.1f}",
        f"{totals.cost:.2f}",
        f"{totals.co2e_kg:.2f}",
    )
    return Table(
        "One line per vehicle",
        ("Vehicle", "Type", "Start", "End", "Trips", "Stops", "km", "Cost (EUR)", "CO2e (kg)"),
        rows,
        (False, False, True, True, True, True, True, True, True),
        (2.2, 3.0, 1.0, 1.0, 0.9, 0.9, 1.0, 1.3, 1.3),
        foot,
        small=True,
    )


def short_route_table(scenario: Scenario) -> Table:
    plan, problem = scenario.plan, scenario.problem
    rows = tuple(
        (
            route.vehicle,
            vehicle_label(route, problem),
            f"{route.trips}",
            f"{stop_count(route)}",
            f"{route.distance_m / 1000:.1f}",
            f"{route.cost:.2f}",
            f"{route.co2e_kg:.2f}",
        )
        for route in plan.routes
    )
    return Table(
        f"Routes of {scenario.name}",
        ("Vehicle", "Type", "Trips", "Stops", "km", "Cost (EUR)", "CO2e (kg)"),
        rows,
        (False, False, True, True, True, True, True),
        (2.2, 3.0, 0.9, 0.9, 1.0, 1.3, 1.3),
        small=True,
    )


def visit_time(visit: Visit) -> int:
    # When the vehicle leaves its base; otherwise when the work there (or the break) begins.
    return visit.departure if visit.action == "start" else visit.start


def visit_place(visit: Visit, addresses: dict[str, str], site_names: dict[str, str]) -> str:
    """The order and its address, or the site and its name."""
    if visit.order is not None:
        address = addresses.get(visit.order, "")
        return f"{visit.order} · {address}" if address else visit.order
    if visit.site is not None:
        name = site_names.get(visit.site, "")
        return f"{visit.site} · {name}" if name else visit.site
    return ""


def stop_table(route: RoutePlan, problem: Problem) -> Table:
    addresses = {o.id: o.at.address for o in problem.orders}
    site_names = {s.id: s.name for s in problem.sites}
    rows = tuple(
        (
            format_clock(visit_time(visit)),
            visit.action,
            visit_place(visit, addresses, site_names),
            f"{visit.load.kg:.1f}",
            f"{visit.load.m3:.2f}",
            f"{visit.load.parcels:.0f}",
        )
        for visit in route.visits
    )
    return Table(
        f"Stops of {route.vehicle}, with the load on board when it leaves",
        ("Time", "Action", "Order or site", "Load (kg)", "Load (m³)", "Parcels"),
        rows,
        (False, False, False, True, True, True),
        (1.0, 1.3, 5.0, 1.2, 1.2, 1.0),
        small=True,
    )


def unassigned_table(plan: Plan, problem: Problem) -> Table:
    addresses = {o.id: o.at.address for o in problem.orders}
    return Table(
        "Orders no vehicle carries, and why",
        ("Order", "Address", "Reason"),
        tuple((u.order, addresses.get(u.order, ""), u.reason) for u in plan.unassigned),
        (False, False, False),
        (1.2, 3.0, 5.0),
        small=True,
    )


def unassigned_items(plan: Plan, most: int = 20) -> tuple[str, ...]:
    items = [f"unassigned {u.order}: {u.reason}" for u in plan.unassigned[:most]]
    if len(plan.unassigned) > most:
        items.append(f"and {_count(len(plan.unassigned) - most, 'more order')} unassigned")
    return tuple(items)


DECIMALS = {"km": 1, "h": 1, "EUR": 2, "kg": 2, "g": 0}


def figure_row(row: Row) -> tuple[str, ...]:
    if row.unit in DECIMALS:
        decimals = DECIMALS[row.unit]
    else:  # counts: whole numbers as such
        whole = float(row.baseline).is_integer() and float(row.green).is_integer()
        decimals = 0 if whole else 2
    percent = row.change_percent
    return (
        f"{row.label} ({row.unit})" if row.unit else row.label,
        f"{row.baseline:.{decimals}f}",
        f"{row.green:.{decimals}f}",
        f"{row.change:+.{decimals}f}",
        "—" if percent is None else f"{percent:+.1f} %",
    )


def scenario_summary(scenario: Scenario) -> str:
    totals = scenario.plan.totals
    return (
        f"{_count(totals.vehicles, 'vehicle')}, {totals.distance_km:.1f} km, "
        f"{totals.co2e_kg:.2f} kg CO2e, {_count(totals.orders_unassigned, 'order')} unassigned"
    )


def _count(n: int, thing: str) -> str:
    return f"{n} {thing}" if n == 1 else f"{n} {thing}s"


def _stamp(generated: datetime | None) -> str:
    moment = (generated or datetime.now(UTC)).astimezone(UTC)
    return moment.strftime("%Y-%m-%d %H:%M UTC")


# -- the map ------------------------------------------------------------------------------------

MAP_WIDTH_IN = 9.0
ASPECTS = (0.9, 1.8)  # width over height, narrowest and widest: the map fits an A4 page
ROUTE_COLOURS = (  # colour-blind-safe (Okabe-Ito, Tol), no red: red marks unassigned orders
    "#0072B2",
    "#E69F00",
    "#009E73",
    "#CC79A7",
    "#56B4E9",
    "#8C510A",
    "#332288",
    "#999933",
    "#882255",
    "#44AA99",
)
UNASSIGNED_COLOUR = "#D7191C"
MAJOR = frozenset({"motorway", "trunk", "primary", "motorway_link", "trunk_link", "primary_link"})
MEDIUM = frozenset({"secondary", "tertiary", "secondary_link", "tertiary_link"})
MINOR = frozenset({"residential", "unclassified", "living_street", "service", "road"})
# Footways, steps and platforms are left out: in a city centre they are most of the lines and
# little of what a driver or a rider reads the map by.
PATHS = frozenset({"pedestrian", "cycleway", "path", "track", "busway"})
ROAD_STYLES = (  # the classes from light to heavy: name, colour, width in points
    ("paths", "#e6e6e6", 0.4),
    ("minor", "#d4d4d4", 0.8),
    ("medium", "#c2c2c2", 1.6),
    ("major", "#ababab", 2.6),
)
LEGEND_PER_ROUTE = 10  # beyond this many routes the legend names the styles, not each route


@dataclass(frozen=True)
class View:
    """The map's window, in km of a local transverse Mercator around its centre."""

    projection: Projection
    west: float
    east: float
    south: float
    north: float

    @property
    def width(self) -> float:
        return self.east - self.west

    @property
    def height(self) -> float:
        return self.north - self.south

    def to_km(self, lonlat: Floats) -> Floats:
        return self.projection.to_metres(np.asarray(lonlat, dtype=np.float64).reshape(-1, 2)) / 1000

    def lonlat_box(self) -> shapely.Polygon:
        corners = shapely.box(
            self.west * 1000, self.south * 1000, self.east * 1000, self.north * 1000
        )
        box: shapely.Polygon = self.projection.to_lonlat(shapely.segmentize(corners, 200.0))
        return box


def route_lines(plan: Plan, problem: Problem, city: City) -> tuple[list[Floats], str | None]:
    """Each route's line along the streets (lon, lat), in the order of ``plan.routes``; when the
    streets cannot be followed now (a road closed since planning), straight lines between the
    visits and the reason."""
    try:
        features = plan_geojson(plan, problem, city)["features"]
    except BadRequestData as error:
        straight = [np.array([(v.lon, v.lat) for v in r.visits]) for r in plan.routes]
        return straight, error.detail
    lines = [
        np.asarray(f["geometry"]["coordinates"], dtype=np.float64).reshape(-1, 2)
        for f in features
        if f["geometry"]["type"] == "LineString"
    ]
    return lines, None


def plan_points(plan: Plan, problem: Problem, lines: list[Floats]) -> Floats:
    """Every place the map must show: the routes, the sites, the orders (served or not)."""
    points = [line for line in lines if len(line)]
    points.append(np.array([(s.lon, s.lat) for s in problem.sites]).reshape(-1, 2))
    points.append(np.array([(o.at.lon, o.at.lat) for o in problem.orders]).reshape(-1, 2))
    origins = [(o.origin.lon, o.origin.lat) for o in problem.orders if o.origin is not None]
    points.append(np.array(origins).reshape(-1, 2))
    points.append(np.array([(v.lon, v.lat) for r in plan.routes for v in r.visits]).reshape(-1, 2))
    return np.vstack(points)


def view_of(point_sets: Sequence[Floats]) -> View:
    points = np.vstack(point_sets)
    if not len(points):
        raise BadRequestData("nothing to map: the plan has no routes, sites or orders")
    lon0 = float((points[:, 0].min() + points[:, 0].max()) / 2)
    lat0 = float((points[:, 1].min() + points[:, 1].max()) / 2)
    projection = Projection(lon0, lat0)
    km = projection.to_metres(points) / 1000
    low, high = km.min(axis=0), km.max(axis=0)
    span = high - low
    margin = max(0.08 * float(span.max()), 0.3)
    width, height = float(span[0]) + 2 * margin, float(span[1]) + 2 * margin
    # Widen or heighten to an aspect a page can hold, keeping the centre.
    width = max(width, height * ASPECTS[0])
    height = max(height, width / ASPECTS[1])
    cx, cy = (low + high) / 2
    return View(projection, cx - width / 2, cx + width / 2, cy - height / 2, cy + height / 2)


def road_class(highway: str) -> str:
    if highway in MAJOR:
        return "major"
    if highway in MEDIUM:
        return "medium"
    if highway in MINOR:
        return "minor"
    if highway in PATHS:
        return "paths"
    return ""  # not drawn


def road_lines(city: City, view: View) -> dict[str, Floats]:
    """The roads inside the view by class, each class one polyline with NaN breaks (one SVG
    path per class rather than thousands), simplified to what the drawing can show."""
    segments = city.segments
    coords = segments.coords
    if not len(segments):
        return {}
    starts = segments.coord_offsets[:-1]
    box = view.lonlat_box()
    west, south, east, north = shapely.bounds(box)
    # Bounding boxes of every segment, at numpy speed, before any geometry is built.
    inside = (
        (np.maximum.reduceat(coords[:, 0], starts) >= west)
        & (np.minimum.reduceat(coords[:, 0], starts) <= east)
        & (np.maximum.reduceat(coords[:, 1], starts) >= south)
        & (np.minimum.reduceat(coords[:, 1], starts) <= north)
    )
    chosen = np.flatnonzero(inside)
    classes = np.array(
        [road_class(segments.tags(int(i)).get("highway", "")) for i in chosen], dtype=object
    )
    tolerance_m = 1000 * view.width / 1500  # under half a point of the 9-inch map
    found: dict[str, Floats] = {}
    for name, _, _ in ROAD_STYLES:
        picked = chosen[classes == name]
        if len(picked):
            lines = segment_lines(segments, picked, view.projection)
            # Segments end at every junction: joined into whole streets, the path says
            # "move to" once a street rather than once a block.
            merged = shapely.get_parts(shapely.line_merge(shapely.multilinestrings(lines)))
            found[name] = _nan_joined(shapely.simplify(merged, tolerance_m)) / 1000
    return found


def _nan_joined(lines: object) -> Floats:
    coords, index = shapely.get_coordinates(lines, return_index=True)
    breaks = np.flatnonzero(np.diff(index)) + 1
    return np.insert(coords, breaks, np.nan, axis=0)


@dataclass(frozen=True)
class LineStyle:
    """How a route is drawn: vans solid, bikes dashed, feeders dash-dotted and heavier."""

    dashes: tuple[float, ...]  # on, off, ... in line widths; () for a solid line
    width: float  # points


def route_style(mode: Mode, echelon: int) -> LineStyle:
    if echelon == 0:  # feeders: heavy dash-dot, under the routes they feed
        return LineStyle((3.0, 1.0, 0.8, 1.0), 3.0)
    if mode == "bike":
        return LineStyle((2.0, 1.0), 2.0)
    return LineStyle((), 2.2)


def _line_kwargs(style: LineStyle) -> dict[str, Any]:
    linestyle: Any = (0, style.dashes) if style.dashes else "-"
    return {"linestyle": linestyle, "linewidth": style.width}


def map_caption(fallback: str | None) -> str:
    caption = (
        "Vans solid, bikes dashed, feeders dash-dotted, one colour per vehicle; squares: sites; "
        "dots: stops; red crosses: orders left out. " + ATTRIBUTION + "."
    )
    if fallback:
        caption += f" Routes drawn as straight lines between stops: {fallback}."
    return caption


def map_figure(plan: Plan, problem: Problem, city: City, lines: list[Floats], view: View) -> Figure:
    """The plan on the city's roads, in the window ``view``, with its legend below."""
    per_route = len(plan.routes) <= LEGEND_PER_ROUTE
    entries = (len(plan.routes) if per_route else 3) + 3 + (1 if problem.zones else 0)
    map_height = MAP_WIDTH_IN * view.height / view.width
    legend_height = 0.15 + 0.22 * math.ceil(entries / 4)
    total = map_height + legend_height
    figure = Figure(figsize=(MAP_WIDTH_IN, total))
    FigureCanvasAgg(figure)
    ax = figure.add_axes((0.0, legend_height / total, 1.0, map_height / total))
    ax.set_xlim(view.west, view.east)
    ax.set_ylim(view.south, view.north)
    ax.set_aspect("equal")
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_facecolor("#fbfbf8")
    for spine in ax.spines.values():
        spine.set_color("#999999")
        spine.set_linewidth(0.6)

    handles: list[Line2D | Patch] = []
    _draw_roads(ax, road_lines(city, view))
    if problem.zones:
        _draw_zones(ax, problem, view)
        handles.append(
            Patch(facecolor=ZONE_FILL, edgecolor=ZONE_EDGE, label="zone closed to some vehicles")
        )
    handles += _draw_routes(ax, plan, problem, lines, view, per_route)
    if not per_route:
        generic: tuple[tuple[str, Mode, int], ...] = (
            ("van", "drive", 1),
            ("bike", "bike", 1),
            ("feeder", "drive", 0),
        )
        for label, mode, echelon in generic:
            style = _line_kwargs(route_style(mode, echelon))
            handles.append(Line2D([], [], color="#555555", label=label, **style))
    _draw_sites(ax, problem, view)
    _draw_unassigned(ax, plan, problem, view)
    handles += [
        Line2D([], [], marker="s", linestyle="none", color="#222222", markersize=7, label="site"),
        Line2D([], [], marker="o", linestyle="none", color="#777777", markersize=4.5, label="stop"),
        Line2D(
            [],
            [],
            marker="x",
            linestyle="none",
            color=UNASSIGNED_COLOUR,
            markersize=8,
            markeredgewidth=2.0,
            label="unassigned order",
        ),
    ]
    _draw_scale_bar(ax, view)
    ax.text(
        0.995,
        0.006,
        ATTRIBUTION,
        transform=ax.transAxes,
        ha="right",
        va="bottom",
        fontsize=6.5,
        color="#444444",
        zorder=10,
        bbox={
            "boxstyle": "square,pad=0.2",
            "facecolor": "white",
            "alpha": 0.8,
            "edgecolor": "none",
        },
    )
    figure.legend(
        handles=handles,
        loc="lower center",
        ncols=4,
        frameon=False,
        fontsize=8,
        bbox_to_anchor=(0.5, 0.0),
        handlelength=3.2,
        columnspacing=1.6,
    )
    return figure


ZONE_FILL = "#fdae6b80"
ZONE_EDGE = "#d94801"


def _draw_roads(ax: Axes, roads: dict[str, Floats]) -> None:
    for name, colour, width in ROAD_STYLES:
        if name in roads:
            xy = roads[name]
            ax.plot(
                xy[:, 0],
                xy[:, 1],
                color=colour,
                linewidth=width,
                solid_capstyle="round",
                solid_joinstyle="round",
                zorder=1,
                gid=f"roads-{name}",
            )


def _draw_zones(ax: Axes, problem: Problem, view: View) -> None:
    for zone in problem.zones:
        for polygon in shapely.get_parts(zone.area):
            ring = view.to_km(shapely.get_coordinates(shapely.get_exterior_ring(polygon)))
            ax.fill(
                ring[:, 0],
                ring[:, 1],
                facecolor=ZONE_FILL,
                edgecolor=ZONE_EDGE,
                linewidth=0.8,
                linestyle="--",
                zorder=1.5,
            )


def _draw_routes(
    ax: Axes,
    plan: Plan,
    problem: Problem,
    lines: list[Floats],
    view: View,
    per_route: bool,
) -> list[Line2D | Patch]:
    handles: list[Line2D | Patch] = []
    tolerance = view.width / 4000
    for n, (route, line) in enumerate(zip(plan.routes, lines, strict=True)):
        colour = ROUTE_COLOURS[n % len(ROUTE_COLOURS)]
        style = route_style(route.mode, route.echelon)
        if len(line) >= 2:
            xy = shapely.get_coordinates(
                shapely.simplify(shapely.linestrings(view.to_km(line)), tolerance)
            )
            (drawn,) = ax.plot(
                xy[:, 0],
                xy[:, 1],
                color=colour,
                solid_capstyle="round",
                dash_capstyle="round",
                zorder=3 if route.echelon == 0 else 4,
                gid=f"route-{n + 1}",
                **_line_kwargs(style),
            )
            # A white casing keeps a route readable where it runs over a grey road.
            drawn.set_path_effects([withStroke(linewidth=style.width + 1.8, foreground="white")])
        served = [(v.lon, v.lat) for v in route.visits if v.order is not None]
        if served:
            stops = view.to_km(np.array(served))
            ax.plot(
                stops[:, 0],
                stops[:, 1],
                "o",
                color=colour,
                markersize=6,
                markeredgecolor="#222222",
                markeredgewidth=0.8,
                zorder=6,
            )
        if per_route:
            label = f"{route.vehicle} ({kind_label(route, problem)})"
            handles.append(Line2D([], [], color=colour, label=label, **_line_kwargs(style)))
    return handles


def _draw_sites(ax: Axes, problem: Problem, view: View) -> None:
    if not problem.sites:
        return
    sites = view.to_km(np.array([(s.lon, s.lat) for s in problem.sites]))
    ax.plot(
        sites[:, 0],
        sites[:, 1],
        "s",
        color="#222222",
        markersize=8,
        markeredgecolor="white",
        markeredgewidth=1.0,
        zorder=7,
    )
    for site, (x, y) in zip(problem.sites, sites, strict=True):
        ax.annotate(
            site.id,
            (float(x), float(y)),
            xytext=(6, 5),
            textcoords="offset points",
            fontsize=8,
            fontweight="bold",
            color="#111111",
            zorder=8,
            bbox={
                "boxstyle": "round,pad=0.15",
                "facecolor": "white",
                "alpha": 0.85,
                "edgecolor": "none",
            },
        )


def _draw_unassigned(ax: Axes, plan: Plan, problem: Problem, view: View) -> None:
    left_out = {u.order for u in plan.unassigned}
    missing = [(o.at.lon, o.at.lat) for o in problem.orders if o.id in left_out]
    if missing:
        crosses = view.to_km(np.array(missing))
        ax.plot(
            crosses[:, 0],
            crosses[:, 1],
            "x",
            color=UNASSIGNED_COLOUR,
            markersize=9,
            markeredgewidth=2.2,
            zorder=9,
        )


def _draw_scale_bar(ax: Axes, view: View) -> None:
    """A bar of a round length near a fifth of the map's width, in the lower left corner."""
    lengths = (0.05, 0.1, 0.2, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0)
    length = max((n for n in lengths if n <= view.width / 5), default=lengths[0])
    # Along the map in km, up the map in fractions of its height: the same look at any size.
    across = blended_transform_factory(ax.transData, ax.transAxes)
    x0 = view.west + 0.04 * view.width
    (bar,) = ax.plot(
        [x0, x0, x0 + length, x0 + length],
        [0.045, 0.035, 0.035, 0.045],
        transform=across,
        color="#111111",
        linewidth=1.6,
        solid_capstyle="butt",
        zorder=11,
    )
    bar.set_path_effects([withStroke(linewidth=4.5, foreground="white")])
    ax.text(
        x0 + length / 2,
        0.05,
        f"{length:g} km",
        transform=across,
        ha="center",
        va="bottom",
        fontsize=8,
        color="#111111",
        zorder=11,
        bbox={
            "boxstyle": "round,pad=0.15",
            "facecolor": "white",
            "alpha": 0.85,
            "edgecolor": "none",
        },
    )


# Writing SVG changes matplotlib's rcParams for a moment: one map at a time.
_RENDER_LOCK = threading.Lock()


def figure_svg(figure: Figure, prefix: str = "") -> str:
    """The figure as inline SVG: text kept as text (small, selectable), no XML prolog, no
    metadata (it names outside URIs), deterministic ids, each starting with ``prefix`` (two
    maps on one page must not share ids)."""
    buffer = io.BytesIO()
    with _RENDER_LOCK, matplotlib.rc_context({"svg.fonttype": "none", "svg.hashsalt": "cetate"}):
        figure.savefig(buffer, format="svg", metadata={"Date": None})
    svg = buffer.getvalue().decode("utf-8")
    svg = svg[svg.index("<svg") :]
    svg = re.sub(r"\s*<metadata>.*?</metadata>", "", svg, flags=re.DOTALL)
    # A tenth of a point is finer than any screen or printer shows; matplotlib writes
    # millionths, which makes the roads several times larger than they need be.
    svg = re.sub(r' d="[^"]*"', _rounded_path, svg)
    if prefix:
        svg = re.sub(r'\bid="([^"]+)"', rf'id="{prefix}\1"', svg)
        svg = re.sub(r"url\(#([^)]+)\)", rf"url(#{prefix}\1)", svg)
        svg = re.sub(r'href="#([^"]+)"', rf'href="#{prefix}\1"', svg)
    return svg


def _rounded_path(match: re.Match[str]) -> str:
    return re.sub(r"\s+", " ", re.sub(r"(\d+\.\d)\d+", r"\1", match.group(0)))


def figure_png(figure: Figure, dpi: int = 160) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=dpi, metadata={"Software": None})
    return buffer.getvalue()


# -- HTML ------------------------------------------------------------------------------------------

CSS = """
:root { color: #1a1a1a; background: #ffffff; }
body { font-family: system-ui, "Segoe UI", Roboto, "DejaVu Sans", Arial, sans-serif;
  line-height: 1.45; max-width: 75rem; margin: 0 auto; padding: 1.5rem; }
h1 { font-size: 1.6rem; margin: 0 0 0.3rem; }
h2 { font-size: 1.25rem; margin: 2rem 0 0.5rem; border-bottom: 2px solid #1a1a1a; }
h3 { font-size: 1.05rem; margin: 1.2rem 0 0.3rem; }
.subtitle { color: #404040; margin: 0; }
table { border-collapse: collapse; margin: 0.3rem 0 1rem; font-size: 0.92rem; }
caption { text-align: left; color: #404040; padding: 0.2rem 0; font-style: italic; }
th, td { padding: 0.25rem 0.6rem; border-bottom: 1px solid #c8c8c8; text-align: left;
  vertical-align: top; }
thead th { background: #e8ecf0; border-bottom: 2px solid #4a4a4a; }
tbody th { font-weight: 600; }
tfoot th, tfoot td { font-weight: 700; border-top: 2px solid #4a4a4a; }
.n { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
.maps { display: grid; grid-template-columns: repeat(auto-fit, minmax(26rem, 1fr)); gap: 1rem; }
figure { margin: 0; }
figure svg { width: 100%; height: auto; border: 1px solid #c8c8c8; }
figcaption { color: #404040; font-size: 0.88rem; }
@media print {
  @page { size: A4; margin: 14mm; }
  body { max-width: none; padding: 0; font-size: 9.5pt; }
  h2, h3 { break-after: avoid; }
  figure, tr { break-inside: avoid; }
  thead { display: table-header-group; }
  .maps { display: block; }
  .maps figure { margin-bottom: 1rem; }
}
"""


def render(report: Report, suffix: str) -> bytes:
    if suffix == ".html":
        return report_html(report).encode("utf-8")
    return report_pdf(report)


def report_html(report: Report) -> str:
    e = html.escape
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en">',
        "<head>",
        '<meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        '<meta name="generator" content="Cetate">',
        f"<title>{e(report.title)}</title>",
        f"<style>{CSS}</style>",
        "</head>",
        "<body>",
        "<header>",
        f"<h1>{e(report.title)}</h1>",
        f'<p class="subtitle">{e(report.subtitle)}</p>',
        "</header>",
        "<main>",
    ]
    maps = itertools.count(1)
    parts += [_block_html(block, maps) for block in report.blocks]
    parts += ["</main>", "</body>", "</html>", ""]
    return "\n".join(parts)


def _block_html(block: Block, numbers: Iterator[int]) -> str:
    """``numbers``: the maps' numbers in the page, for their ids."""
    e = html.escape
    if isinstance(block, Heading):
        return f"<h{block.level}>{e(block.text)}</h{block.level}>"
    if isinstance(block, Text):
        return "\n".join(f"<p>{e(p)}</p>" for p in block.paragraphs)
    if isinstance(block, Bullets):
        return "<ul>\n" + "\n".join(f"<li>{e(item)}</li>" for item in block.items) + "\n</ul>"
    if isinstance(block, Table):
        return _table_html(block)
    figures = []
    for image in block.maps:
        svg = figure_svg(image.figure, f"map{next(numbers)}-").replace(
            "<svg ", f'<svg role="img" aria-label="{e(image.label)}" ', 1
        )
        figures.append(f"<figure>\n{svg}\n<figcaption>{e(image.caption)}</figcaption>\n</figure>")
    return '<div class="maps">\n' + "\n".join(figures) + "\n</div>"


def _table_html(table: Table) -> str:
    e = html.escape

    def cls(column: int) -> str:
        return ' class="n"' if table.numeric[column] else ""

    def row(cells: tuple[str, ...]) -> str:
        first = f'<th scope="row"{cls(0)}>{e(cells[0])}</th>'
        rest = "".join(f"<td{cls(i)}>{e(c)}</td>" for i, c in enumerate(cells) if i > 0)
        return f"<tr>{first}{rest}</tr>"

    head = "".join(f'<th scope="col"{cls(i)}>{e(h)}</th>' for i, h in enumerate(table.headers))
    lines = [
        "<table>",
        f"<caption>{e(table.caption)}</caption>",
        f"<thead><tr>{head}</tr></thead>",
        "<tbody>",
        *(row(cells) for cells in table.rows),
        "</tbody>",
    ]
    if table.foot is not None:
        lines.append(f"<tfoot>{row(table.foot)}</tfoot>")
    lines.append("</table>")
    return "\n".join(lines)


# -- PDF -------------------------------------------------------------------------------------------

FONT = "DejaVu"  # ships with matplotlib; has Romanian's ș ț ă î â


class _Pdf(FPDF):
    def __init__(self, title: str) -> None:
        super().__init__(orientation="portrait", unit="mm", format="A4")
        self.report_title = title
        fonts = Path(matplotlib.get_data_path()) / "fonts" / "ttf"
        self.add_font(FONT, "", fonts / "DejaVuSans.ttf")
        self.add_font(FONT, "B", fonts / "DejaVuSans-Bold.ttf")
        self.set_margins(15, 15, 15)
        self.set_auto_page_break(True, margin=16)
        self.set_title(title)
        self.set_creator("Cetate")
        self.set_lang("en")

    def footer(self) -> None:
        self.set_y(-12)
        self.set_font(FONT, "", 7)
        self.set_text_color(80)
        self.cell(0, 5, f"{self.report_title} · page {self.page_no()} of {{nb}}", align="C")


def report_pdf(report: Report) -> bytes:
    pdf = _Pdf(report.title)
    pdf.add_page()
    pdf.set_font(FONT, "B", 16)
    pdf.multi_cell(0, 8, report.title, new_x="LMARGIN", new_y="NEXT", align="L")
    pdf.set_font(FONT, "", 9)
    pdf.set_text_color(64)
    pdf.multi_cell(0, 5, report.subtitle, new_x="LMARGIN", new_y="NEXT", align="L")
    pdf.set_text_color(0)
    for n, block in enumerate(report.blocks):
        following = report.blocks[n + 1] if n + 1 < len(report.blocks) else None
        _block_pdf(pdf, block, following)
    return bytes(pdf.output())


def _side_by_side(block: Block | None) -> bool:
    return isinstance(block, Maps) and len(block.maps) > 1


def _block_pdf(pdf: _Pdf, block: Block, following: Block | None) -> None:
    if isinstance(block, Heading):
        if _side_by_side(following):
            pdf.add_page(orientation="landscape")  # maps side by side need the width
        elif pdf.get_y() + 10 + _least_after_heading(pdf, following) > pdf.page_break_trigger:
            pdf.add_page()  # a heading never sits alone at the foot of a page
        pdf.ln(4 if block.level == 2 else 2)
        pdf.set_font(FONT, "B", 13 if block.level == 2 else 10.5)
        pdf.multi_cell(0, 6, block.text, new_x="LMARGIN", new_y="NEXT", align="L")
        pdf.ln(1)
    elif isinstance(block, Text):
        pdf.set_font(FONT, "", 9)
        for paragraph in block.paragraphs:
            pdf.multi_cell(0, 4.6, paragraph, new_x="LMARGIN", new_y="NEXT", align="L")
            pdf.ln(1)
    elif isinstance(block, Bullets):
        pdf.set_font(FONT, "", 9)
        for item in block.items:
            pdf.multi_cell(0, 4.6, f"• {item}", new_x="LMARGIN", new_y="NEXT", align="L")
    elif isinstance(block, Table):
        _table_pdf(pdf, block)
    elif len(block.maps) == 1:
        _map_pdf(pdf, block.maps[0])
    else:
        _maps_pdf(pdf, block.maps)
        if following is not None:
            pdf.add_page(orientation="portrait")


def _least_after_heading(pdf: _Pdf, block: Block | None) -> float:
    """The room (mm) the start of ``block`` needs on the heading's page."""
    if isinstance(block, Maps) and block.maps:
        return _aspect(block.maps[0]) * pdf.epw + 12
    return 25.0


def _aspect(image: MapImage) -> float:
    """Height over width."""
    width_in, height_in = image.figure.get_size_inches()
    return float(height_in) / float(width_in)


def _table_pdf(pdf: _Pdf, table: Table) -> None:
    size = 7.5 if table.small else 9
    pdf.set_font(FONT, "", size)
    bold = FontFace(emphasis="BOLD")
    with pdf.table(
        col_widths=table.widths,
        headings_style=FontFace(emphasis="BOLD", fill_color=(232, 236, 240)),
        borders_layout="HORIZONTAL_LINES",
        line_height=size * 0.55,
        width=pdf.epw / 2 if table.narrow else pdf.epw,
        align="LEFT",
    ) as grid:
        for cells, style in (
            (table.headers, None),
            *((cells, None) for cells in table.rows),
            *(((table.foot, bold),) if table.foot is not None else ()),
        ):
            row = grid.row(style=style)
            for i, text in enumerate(cells):
                row.cell(text, align="RIGHT" if table.numeric[i] else "LEFT")
    pdf.ln(2)


def _map_pdf(pdf: _Pdf, image: MapImage) -> None:
    height = pdf.epw * _aspect(image)
    if pdf.get_y() + height + 12 > pdf.page_break_trigger:
        pdf.add_page()
    pdf.image(io.BytesIO(figure_png(image.figure)), x=pdf.l_margin, w=pdf.epw, alt_text=image.label)
    _caption_pdf(pdf, image.caption, pdf.epw)
    pdf.ln(2)


def _maps_pdf(pdf: _Pdf, images: tuple[MapImage, ...]) -> None:
    """The maps in a row, each with its caption beneath, as wide as the row and the room left
    on the page allow."""
    gap = 6.0
    width = (pdf.epw - gap * (len(images) - 1)) / len(images)
    room = pdf.page_break_trigger - pdf.get_y() - 16  # the captions' lines
    width = min(width, min(room / _aspect(image) for image in images))
    top = pdf.get_y()
    bottom = top
    for n, image in enumerate(images):
        x = pdf.l_margin + n * (width + gap)
        pdf.image(io.BytesIO(figure_png(image.figure)), x=x, y=top, w=width, alt_text=image.label)
        pdf.set_xy(x, top + width * _aspect(image) + 1)
        _caption_pdf(pdf, image.caption, width)
        bottom = max(bottom, pdf.get_y())
    pdf.set_y(bottom)


def _caption_pdf(pdf: _Pdf, caption: str, width: float) -> None:
    x = pdf.get_x()
    pdf.set_font(FONT, "", 8)
    pdf.set_text_color(64)
    pdf.multi_cell(width, 4, caption, new_x="LEFT", new_y="NEXT", align="L")
    pdf.set_text_color(0)
    pdf.set_x(x)
