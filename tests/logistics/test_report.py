"""Plan and comparison reports on the real streets of central Helsinki: the HTML is one file
with the map inline and nothing fetched, its tables hold the plan's figures and Romanian names
come through escaped and intact; the PDF carries the same in a Unicode font."""

from __future__ import annotations

import math
import re
import shutil
import subprocess
import zlib
from dataclasses import replace
from datetime import UTC, datetime
from html.parser import HTMLParser
from pathlib import Path
from xml.etree import ElementTree

import numpy as np
import pytest
import shapely
import shapely.affinity

from cetate.city.service import City
from cetate.errors import BadRequestData
from cetate.logistics.model import (
    NOTHING,
    Order,
    Plan,
    Problem,
    RoutePlan,
    Site,
    Size,
    Stop,
    Unassigned,
    VehicleType,
    Visit,
    VisitAction,
    Zone,
)
from cetate.logistics.report import (
    figure_png,
    map_figure,
    plan_points,
    route_lines,
    view_of,
    write_comparison_report,
    write_plan_report,
)
from cetate.logistics.scenarios import compare
from cetate.logistics.travel import profile_key

H = 3600
GENERATED = datetime(2025, 5, 14, 6, 30, tzinfo=UTC)
HUB_NAME = "Hub Piața Sfatului <Nord> & Co"
PROBLEM_NAME = "Livrări Șcheii Brașovului"
PLACES = {  # lon, lat in central Helsinki, snapped onto the roads below
    "depot": (24.9385, 60.1660),
    "hub": (24.9480, 60.1720),
    "O1": (24.9450, 60.1745),
    "O2": (24.9510, 60.1760),
    "O3": (24.9400, 60.1700),
    "O4": (24.9500, 60.1680),
    "O5": (24.9440, 60.1772),
}
ADDRESSES = {
    "O1": "Strada Mureșenilor 12",
    "O2": "Bulevardul Eroilor 3",
    "O3": "Strada Țiglarilor 7",
    "O4": "Calea București 101",
    "O5": "Piața Unirii 1",
}
REASON = "inside zone old-town (pedestrian): no bike left"


def on_road(city: City) -> dict[str, tuple[float, float]]:
    names = list(PLACES)
    snaps = city.router("drive").snap(np.array([PLACES[n] for n in names]))
    return {n: (s.lon, s.lat) for n, s in zip(names, snaps, strict=True)}


def make_problem(city: City) -> Problem:
    at = on_road(city)
    sites = (
        Site("depot", "depot", *at["depot"], name="Depozitul Pădurii"),
        Site("hub", "microhub", *at["hub"], name=HUB_NAME, ready_by=9 * H),
    )
    fleet = (
        VehicleType("bike", "e_cargo_bike", 2, "hub", Size(120, 1, 30), emission_class="zero"),
        VehicleType(
            "evan", "e_van", 2, "depot", Size(800, 6, 200), emission_class="zero", feeds=("hub",)
        ),
    )
    orders = tuple(
        Order(
            order_id, "delivery", Stop(*at[order_id], address=ADDRESSES[order_id]), Size(5, 0.05, 1)
        )
        for order_id in ADDRESSES
    )
    # About 70 m around O5: a circle in degrees, widened by 1/cos(latitude).
    widen = 1 / math.cos(math.radians(at["O5"][1]))
    o5 = shapely.affinity.scale(shapely.Point(at["O5"]).buffer(0.0006), xfact=widen)
    zones = (Zone("old-town", "pedestrian", o5, name="Centrul vechi"),)
    return Problem(sites, fleet, orders, zones, name=PROBLEM_NAME)


def make_route(
    city: City,
    problem: Problem,
    type_id: str,
    vehicle: str,
    stops: list[tuple[VisitAction, str]],
    cost: float,
    co2e_kg: float,
    echelon: int = 1,
) -> RoutePlan:
    """Visits timed by the real router: service 3 minutes, leaving at 08:00."""
    vehicle_type = problem.vehicle_type(type_id)
    blocked = profile_key(problem, vehicle_type, city, None).blocked
    router = city.router(vehicle_type.mode)
    places = {s.id: (s.lon, s.lat) for s in problem.sites} | {
        o.id: (o.at.lon, o.at.lat) for o in problem.orders
    }
    load = Size(5.0 * sum(1 for action, _ in stops if action == "deliver"), 0.1, 2)
    visits: list[Visit] = []
    clock = 8 * H
    for action, name in stops:
        travel_s, distance_m = 0, 0.0
        if visits:
            leg = router.route(
                np.array([visits[-1].lon, visits[-1].lat]), np.array(places[name]), blocked
            )
            travel_s, distance_m = int(np.ceil(leg.duration_s)), leg.distance_m
        arrival = clock + travel_s
        service = 180 if action in ("deliver", "feed") else 0
        if action == "deliver":
            load = load - Size(5.0, 0.05, 1)
        is_order = name.startswith("O")
        visits.append(
            Visit(
                action,
                *places[name],
                arrival=arrival,
                start=arrival,
                departure=arrival + service,
                load=load,
                travel_s=travel_s,
                distance_m=distance_m,
                order=name if is_order else None,
                site=None if is_order else name,
                amount=Size(5.0, 0.05, 1) if action == "deliver" else NOTHING,
            )
        )
        clock = arrival + service
    return RoutePlan(
        type_id,
        vehicle,
        vehicle_type.mode,
        tuple(visits),
        sum(v.distance_m for v in visits),
        cost,
        co2e_kg,
        echelon,
    )


def make_plan(city: City, problem: Problem) -> Plan:
    feeder = make_route(
        city,
        problem,
        "evan",
        "evan-1",
        [("start", "depot"), ("feed", "hub"), ("end", "depot")],
        40.10,
        0.95,
        echelon=0,
    )
    van = make_route(
        city,
        problem,
        "evan",
        "evan-2",
        [("start", "depot"), ("deliver", "O3"), ("deliver", "O4"), ("end", "depot")],
        58.25,
        1.87,
    )
    bike = make_route(
        city,
        problem,
        "bike",
        "bike-1",
        [("start", "hub"), ("deliver", "O1"), ("deliver", "O2"), ("end", "hub")],
        31.50,
        0.12,
    )
    return Plan(
        problem.name,
        (feeder, van, bike),
        (Unassigned("O5", REASON),),
        {"O1": 0.06, "O2": 0.06, "O3": 0.9, "O4": 0.97},
        seed=7,
        seconds=1.5,
        notes=("the micro-hub is fed by 09:00 (ready_by)",),
    )


@pytest.fixture(scope="module")
def problem(helsinki: City) -> Problem:
    return make_problem(helsinki)


@pytest.fixture(scope="module")
def plan(helsinki: City, problem: Problem) -> Plan:
    return make_plan(helsinki, problem)


# -- reading the HTML back ------------------------------------------------------------------------


class Reader(HTMLParser):
    """The tags, the tables (caption and rows of cell texts), the text, and the paths inside
    each SVG group with an id."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.tables: list[tuple[str, list[list[str]]]] = []
        self.text: list[str] = []
        self.paths_in: dict[str, int] = {}
        self._groups: list[str | None] = []
        self._cell: list[str] | None = None
        self._caption: list[str] | None = None
        self._title: list[str] | None = None
        self.title = ""

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        self.tags.append((tag, found))
        if tag == "g":
            self._groups.append(found.get("id"))
        elif tag == "path":
            for group in self._groups:
                if group is not None:
                    self.paths_in[group] = self.paths_in.get(group, 0) + 1
        elif tag == "table":
            self.tables.append(("", []))
        elif tag == "caption":
            self._caption = []
        elif tag == "tr":
            self.tables[-1][1].append([])
        elif tag in ("th", "td"):
            self._cell = []
        elif tag == "title":
            self._title = []

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)
        if tag == "g":
            self._groups.pop()

    def handle_endtag(self, tag: str) -> None:
        if tag == "g":
            self._groups.pop()
        elif tag in ("th", "td") and self._cell is not None:
            self.tables[-1][1][-1].append("".join(self._cell).strip())
            self._cell = None
        elif tag == "caption" and self._caption is not None:
            self.tables[-1] = ("".join(self._caption).strip(), self.tables[-1][1])
            self._caption = None
        elif tag == "title" and self._title is not None:
            self.title = self.title or "".join(self._title)
            self._title = None

    def handle_data(self, data: str) -> None:
        self.text.append(data)
        for sink in (self._cell, self._caption, self._title):
            if sink is not None:
                sink.append(data)

    def table(self, caption: str) -> list[list[str]]:
        for found, rows in self.tables:
            if found.startswith(caption):
                return rows
        raise AssertionError(f"no table captioned {caption!r}: {[c for c, _ in self.tables]}")


def read_html(path: Path) -> tuple[str, Reader]:
    source = path.read_text(encoding="utf-8")
    reader = Reader()
    reader.feed(source)
    reader.close()
    return source, reader


def row_of(rows: list[list[str]], first: str) -> list[str]:
    for row in rows:
        if row and row[0] == first:
            return row
    raise AssertionError(f"no row {first!r} in {rows}")


def assert_self_contained(source: str, reader: Reader) -> None:
    for tag, attrs in reader.tags:
        assert tag not in ("script", "link", "img", "iframe", "object", "embed"), tag
        for name in ("src", "href", "xlink:href"):
            value = attrs.get(name) or ""
            assert not value.startswith(("http:", "https:", "//")), (tag, name, value)
    # Only XML namespace names may mention a web address, and they are never fetched.
    without_namespaces = re.sub(r'xmlns(:\w+)?="[^"]*"', "", source)
    assert "http://" not in without_namespaces
    assert "https://" not in without_namespaces
    assert "@import" not in source
    # url() only points inside the page (the SVG's clip paths).
    assert all(u.startswith("#") for u in re.findall(r"url\(\s*['\"]?([^)'\"]*)", source))


# -- the plan report ----------------------------------------------------------------------------


def test_html_report_holds_the_plan(
    helsinki: City, problem: Problem, plan: Plan, tmp_path: Path
) -> None:
    path = tmp_path / "plan.html"
    write_plan_report(plan, problem, helsinki, path, generated=GENERATED)
    source, reader = read_html(path)

    assert source.startswith("<!DOCTYPE html>")
    html_tag = next(attrs for tag, attrs in reader.tags if tag == "html")
    assert html_tag.get("lang") == "en"
    assert reader.title == f"Delivery plan: {PROBLEM_NAME}"
    assert "2025-05-14 06:30 UTC" in source
    assert_self_contained(source, reader)

    # The map: inline SVG, one group with a path per route, the roads drawn beneath.
    assert sum(1 for tag, _ in reader.tags if tag == "svg") == 1
    for n in range(1, len(plan.routes) + 1):
        assert reader.paths_in.get(f"map1-route-{n}", 0) >= 1, f"route {n} not drawn"
    assert reader.paths_in.get("map1-roads-medium", 0) >= 1
    assert "straight lines" not in source  # the routes follow the streets
    assert len(source.encode()) < 400_000

    totals = plan.totals
    rows = reader.table("The day's totals")
    assert row_of(rows, "Vehicles used")[1] == "3"
    assert row_of(rows, "Distance (km)")[1] == f"{totals.distance_km:.1f}"
    assert row_of(rows, "Cost (EUR)")[1] == "129.85"
    assert row_of(rows, "CO2e, well-to-wheel (kg)")[1] == "2.94"
    assert row_of(rows, "Orders served")[1] == "4"
    assert row_of(rows, "Orders unassigned")[1] == "1"

    routes = reader.table("One line per vehicle")
    assert routes[0] == [
        "Vehicle",
        "Type",
        "Start",
        "End",
        "Trips",
        "Stops",
        "km",
        "Cost (EUR)",
        "CO2e (kg)",
    ]
    bike = row_of(routes, "bike-1")
    bike_route = plan.routes[2]
    assert bike[1] == "bike (e-cargo bike)"
    assert bike[2] == "08:00"
    assert bike[5] == "2"
    assert bike[6:] == [f"{bike_route.distance_m / 1000:.1f}", "31.50", "0.12"]
    assert row_of(routes, "evan-1")[1] == "evan (e-van, feeder)"
    assert row_of(routes, "Total")[-2:] == ["129.85", "2.94"]

    stops = reader.table("Stops of bike-1")
    assert [row[1] for row in stops[1:]] == ["start", "deliver", "deliver", "end"]
    assert stops[1][2] == f"hub · {HUB_NAME}"
    assert stops[2][2] == "O1 · Strada Mureșenilor 12"
    assert stops[2][3:] == ["5.0", "0.05", "1"]  # load left on board after O1

    unassigned = reader.table("Orders no vehicle carries")
    assert unassigned[1] == ["O5", "Piața Unirii 1", REASON]
    text = "".join(reader.text)
    assert "the micro-hub is fed by 09:00" in text
    assert "ISO 14083" in text and "docs/emission-factors.md" in text

    # Names with Romanian letters come through as letters; markup in names is escaped.
    assert "Piața Sfatului &lt;Nord&gt; &amp; Co" in source
    assert "<Nord>" not in source
    assert "Calea București 101" in source


def pdf_text(path: Path) -> str | None:
    """The PDF's text by pypdf or poppler's pdftotext, whichever is here; None: neither."""
    try:
        from pypdf import PdfReader  # type: ignore[import-not-found, unused-ignore]
    except ImportError:
        pdftotext = shutil.which("pdftotext")
        if pdftotext is None:
            return None
        done = subprocess.run(
            [pdftotext, "-enc", "UTF-8", str(path), "-"], capture_output=True, check=True
        )
        return done.stdout.decode("utf-8")
    return "\n".join(page.extract_text() for page in PdfReader(path).pages)


def pdf_unicode_maps(data: bytes) -> str:
    """The ToUnicode maps of the PDF's fonts: the characters its text draws."""
    maps = []
    for stream in re.findall(rb"stream\r?\n(.*?)\r?\nendstream", data, flags=re.DOTALL):
        try:
            text = zlib.decompress(stream).decode("latin-1")
        except zlib.error:  # stored as it is
            text = stream.decode("latin-1")
        if "begincmap" in text:
            maps.append(text)
    return "\n".join(maps)


def test_pdf_report(helsinki: City, problem: Problem, plan: Plan, tmp_path: Path) -> None:
    path = tmp_path / "plan.pdf"
    write_plan_report(plan, problem, helsinki, path, generated=GENERATED)
    data = path.read_bytes()
    assert data.startswith(b"%PDF-")
    pages = len(re.findall(rb"/Type\s*/Page\b(?!s)", data))
    assert 2 <= pages <= 6, pages
    assert b"DejaVu" in data and b"/Subtype /Image" in data
    # The embedded font draws Romanian letters as themselves: ș (U+0219), ț (U+021B), ă.
    unicode_maps = pdf_unicode_maps(data).upper()
    for code in ("0219", "021B", "0103"):
        assert f"<{code}>" in unicode_maps, code

    text = pdf_text(path)
    if text is None:
        pytest.skip("neither pypdf nor pdftotext is installed: the PDF's text is not read back")
    flat = " ".join(text.split())
    assert "129.85" in flat and "2.94" in flat
    assert "Mureșenilor" in flat and PROBLEM_NAME in flat


def test_bad_suffix_is_refused(
    helsinki: City, problem: Problem, plan: Plan, tmp_path: Path
) -> None:
    path = tmp_path / "plan.docx"
    with pytest.raises(BadRequestData) as caught:
        write_plan_report(plan, problem, helsinki, path)
    assert str(path) in caught.value.detail
    assert ".html" in caught.value.detail and ".pdf" in caught.value.detail
    assert not path.exists()
    with pytest.raises(BadRequestData):
        write_comparison_report(compare(problem, plan, problem, plan), helsinki, tmp_path / "x")
    assert list(tmp_path.iterdir()) == []


def test_map_png(helsinki: City, problem: Problem, plan: Plan, tmp_path: Path) -> None:
    lines, fallback = route_lines(plan, problem, helsinki)
    assert fallback is None
    assert [len(line) >= 2 for line in lines] == [True, True, True]
    view = view_of([plan_points(plan, problem, lines)])
    # Every stop, site and order is inside the window, with a margin.
    points = view.to_km(plan_points(plan, problem, lines))
    assert (points[:, 0] > view.west).all() and (points[:, 0] < view.east).all()
    assert (points[:, 1] > view.south).all() and (points[:, 1] < view.north).all()
    png = figure_png(map_figure(plan, problem, helsinki, lines, view))
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    (tmp_path / "map.png").write_bytes(png)


# -- the comparison ---------------------------------------------------------------------------


def comparison_of(problem: Problem, plan: Plan) -> tuple[Problem, Plan, Problem, Plan]:
    """Today: the two vans carry everything the plan's van carries (no bikes, no feeder)."""
    baseline_problem = replace(problem, name="Azi: dube diesel")
    baseline = replace(
        plan,
        routes=(replace(plan.routes[1], co2e_kg=4.5, cost=70.0),),
        unassigned=(*plan.unassigned, Unassigned("O1", "no room"), Unassigned("O2", "no room")),
    )
    green_problem = replace(problem, name="Verde: biciclete și microhub")
    return baseline_problem, baseline, green_problem, plan


def test_comparison_html_and_pdf(
    helsinki: City, problem: Problem, plan: Plan, tmp_path: Path
) -> None:
    comparison = compare(*comparison_of(problem, plan))
    path = tmp_path / "compare.html"
    write_comparison_report(comparison, helsinki, path, generated=GENERATED)
    source, reader = read_html(path)
    assert_self_contained(source, reader)
    assert sum(1 for tag, _ in reader.tags if tag == "svg") == 2
    ids = [attrs["id"] for _, attrs in reader.tags if attrs.get("id")]
    assert len(ids) == len(set(ids)), "two maps share ids"
    assert reader.paths_in.get("map1-route-1", 0) >= 1  # the baseline's one van
    assert reader.paths_in.get("map2-route-3", 0) >= 1  # the green plan's bike
    assert reader.title == "Scenario comparison: Azi: dube diesel and Verde: biciclete și microhub"

    figures = reader.table("Azi: dube diesel against Verde")
    assert figures[0] == [
        "Figure",
        "Azi: dube diesel",
        "Verde: biciclete și microhub",
        "Change",
        "Change %",
    ]
    assert row_of(figures, "vehicles") == ["vehicles", "1", "3", "+2", "+200.0 %"]
    assert row_of(figures, "CO2e (kg)") == ["CO2e (kg)", "4.50", "2.94", "-1.56", "-34.7 %"]
    assert row_of(figures, "orders served") == ["orders served", "2", "4", "+2", "+100.0 %"]
    assert row_of(figures, "km by bike (km)")[4] == "—"  # no bikes today: no percentage

    baseline_routes = reader.table("Routes of Azi: dube diesel")
    assert [row[0] for row in baseline_routes[1:]] == ["evan-2"]
    green_routes = reader.table("Routes of Verde: biciclete și microhub")
    assert [row[0] for row in green_routes[1:]] == ["evan-1", "evan-2", "bike-1"]
    assert "unassigned O1: no room" in "".join(reader.text)

    pdf = tmp_path / "compare.pdf"
    write_comparison_report(comparison, helsinki, pdf, generated=GENERATED)
    data = pdf.read_bytes()
    assert data.startswith(b"%PDF-")
    assert data.count(b"/Subtype /Image") == 2
    assert 2 <= len(re.findall(rb"/Type\s*/Page\b(?!s)", data)) <= 6


def test_routes_fall_back_to_straight_lines(
    helsinki: City, problem: Problem, plan: Plan, tmp_path: Path
) -> None:
    """A stop the streets no longer reach (here: moved far outside the extract) still maps,
    as straight lines between the stops, and the caption says why."""
    van = plan.routes[1]
    moved = replace(van.visits[1], lon=van.visits[1].lon + 0.3)
    astray = replace(
        plan,
        routes=(
            plan.routes[0],
            replace(van, visits=(van.visits[0], moved, *van.visits[2:])),
            plan.routes[2],
        ),
    )
    path = tmp_path / "astray.html"
    write_plan_report(astray, problem, helsinki, path)
    source, reader = read_html(path)
    assert "Routes drawn as straight lines between stops" in source
    for n in (1, 2, 3):
        assert reader.paths_in.get(f"map1-route-{n}", 0) >= 1


def test_svg_is_well_formed(helsinki: City, problem: Problem, plan: Plan, tmp_path: Path) -> None:
    path = tmp_path / "plan.html"
    write_plan_report(plan, problem, helsinki, path)
    source = path.read_text(encoding="utf-8")
    (svg,) = re.findall(r"<svg .*?</svg>", source, flags=re.DOTALL)
    root = ElementTree.fromstring(svg)
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    assert root.get("role") == "img" and PROBLEM_NAME in (root.get("aria-label") or "")
