"""``cetate logistics vrplib``: benchmark instances solved, printed as .sol files, costed as the
best-known solutions are; every cost here is recomputed from the printed routes and the file."""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import vrplib
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from cetate.cli import app
from cetate.errors import BadRequestData
from cetate.logistics.vrplib import detect_rounding, load_instance, read_best_known

runner = CliRunner()


@pytest.fixture(scope="module")
def c101(shared_data: Path) -> Path:
    return shared_data / "vrp" / "solomon" / "C101.vrp"


@pytest.fixture(scope="module")
def x106(shared_data: Path) -> Path:
    return shared_data / "vrp" / "cvrplib-x" / "X-n106-k14.vrp"


def solve(path: Path, *options: str) -> tuple[list[list[int]], str, str]:
    """Run the command; the printed routes, the cost line's value, and stderr."""
    result = runner.invoke(app, ["logistics", "vrplib", str(path), *options])
    assert result.exit_code == 0, result.output
    lines = result.stdout.strip().splitlines()
    assert lines[-1].startswith("Cost "), "the cost line comes last"
    routes = []
    for number, line in enumerate(lines[:-1], 1):
        match = re.fullmatch(rf"Route #{number}: ([\d ]+)", line)
        assert match, line
        routes.append([int(c) for c in match.group(1).split()])
    return routes, lines[-1].removeprefix("Cost "), result.stderr


def check_routes(path: Path, routes: list[list[int]]) -> dict[str, Any]:
    """Each customer once, no route over capacity; the instance as vrplib reads it."""
    instance = vrplib.read_instance(str(path))
    customers = len(instance["demand"]) - 1
    visits = sorted(c for route in routes for c in route)
    assert visits == list(range(1, customers + 1))
    for route in routes:
        assert sum(int(instance["demand"][c]) for c in route) <= instance["capacity"]
    return instance


def total(instance: dict[str, Any], routes: list[list[int]], length: Callable[[float], int]) -> int:
    """The routes' length, each leg's Euclidean distance rounded by ``length`` first."""
    coords = instance["node_coord"]
    result = 0
    for route in routes:
        stops = [0, *route, 0]
        for a, b in itertools.pairwise(stops):
            (xa, ya), (xb, yb) = coords[a], coords[b]
            result += length(math.hypot(xa - xb, ya - yb))
    return result


def test_solomon_c101_in_the_dimacs_convention(c101: Path) -> None:
    routes, cost, stderr = solve(c101, "--seconds", "3", "--seed", "1")
    instance = check_routes(c101, routes)
    # DIMACS: each distance truncated to one decimal; summed in tenths to stay exact.
    tenths = total(instance, routes, lambda d: math.trunc(10 * d))
    assert cost == f"{tenths / 10:.1f}"
    assert float(cost) <= 1.02 * read_best_known(c101.with_suffix(".sol"))
    assert len(routes) <= instance["vehicles"]
    # Time windows: service starts within each window, every route is back before the depot
    # closes (travel time = the truncated distance, in tenths as well).
    windows, service = instance["time_window"], instance["service_time"]
    coords = instance["node_coord"]
    for route in routes:
        clock, previous = 0, 0
        for customer in [*route, 0]:
            (xa, ya), (xb, yb) = coords[previous], coords[customer]
            clock += math.trunc(10 * math.hypot(xa - xb, ya - yb))
            clock = max(clock, 10 * int(windows[customer][0]))
            assert clock <= 10 * int(windows[customer][1]), (route, customer)
            clock += 10 * int(service) if customer else 0
            previous = customer
    assert "C101" in stderr  # the summary (and progress) go to stderr, not stdout


def test_x_instance_in_the_rounded_convention(x106: Path) -> None:
    routes, cost, _ = solve(x106, "--seconds", "4")
    instance = check_routes(x106, routes)
    assert cost == str(total(instance, routes, round))
    assert int(cost) <= 1.05 * read_best_known(x106.with_suffix(".sol"))


def test_rounding_is_detected_and_can_be_overridden(c101: Path, x106: Path) -> None:
    assert detect_rounding(vrplib.read_instance(str(c101))) == "dimacs"
    assert detect_rounding(vrplib.read_instance(str(x106))) == "round"
    assert load_instance(c101, "round").scale == 1
    routes, cost, _ = solve(c101, "--seconds", "0.5", "--rounding", "exact")
    instance = check_routes(c101, routes)
    thousandths = total(instance, routes, lambda d: round(1000 * d))
    assert cost == f"{thousandths / 1000:.3f}"


def test_best_known_cost_from_a_sol_file(c101: Path) -> None:
    assert read_best_known(c101.with_suffix(".sol")) == 827.3


@pytest.mark.parametrize(
    "content",
    [
        None,  # no such file
        "hello, world\n",
        "Route #1: 1 2 3\nCost 10\n",  # a solution, not an instance
        # Several depots: another problem.
        "NAME : two\nTYPE : CVRP\nDIMENSION : 3\nEDGE_WEIGHT_TYPE : EUC_2D\nCAPACITY : 10\n"
        "NODE_COORD_SECTION\n1 0 0\n2 1 1\n3 2 2\nDEMAND_SECTION\n1 0\n2 0\n3 1\n"
        "DEPOT_SECTION\n1\n2\n-1\nEOF\n",
        # Prizes: not CVRP or VRPTW.
        "NAME : p\nTYPE : CVRP\nDIMENSION : 2\nEDGE_WEIGHT_TYPE : EUC_2D\nCAPACITY : 10\n"
        "NODE_COORD_SECTION\n1 0 0\n2 1 1\nDEMAND_SECTION\n1 0\n2 1\nPRIZE_SECTION\n1 0\n2 5\n"
        "DEPOT_SECTION\n1\n-1\nEOF\n",
    ],
)
def test_bad_input_is_one_line_and_exit_2(tmp_path: Path, content: str | None) -> None:
    path = tmp_path / "instance.vrp"
    if content is not None:
        path.write_text(content)
    result = runner.invoke(app, ["logistics", "vrplib", str(path), "--seconds", "0.2"])
    assert result.exit_code == 2
    assert result.stdout == ""
    assert len(result.stderr.strip().splitlines()) == 1
    assert result.stderr.startswith("cetate: ") and "Traceback" not in result.stderr


def test_an_infeasible_result_prints_what_was_found_and_fails(tmp_path: Path) -> None:
    # The one customer closes before any vehicle can reach it.
    path = tmp_path / "late.vrp"
    path.write_text(
        "NAME : late\nTYPE : VRPTW\nDIMENSION : 2\nVEHICLES : 1\nCAPACITY : 10\n"
        "EDGE_WEIGHT_TYPE : EUC_2D\nNODE_COORD_SECTION\n1 0 0\n2 30 40\n"
        "DEMAND_SECTION\n1 0\n2 1\nTIME_WINDOW_SECTION\n1 0 1000\n2 0 10\n"
        "DEPOT_SECTION\n1\n-1\nEOF\n"
    )
    result = runner.invoke(app, ["logistics", "vrplib", str(path), "--seconds", "0.2"])
    assert result.exit_code == 1
    assert result.stdout.strip().splitlines()[-1] == "Cost 100.0"
    assert "no feasible solution" in result.stderr


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    st.lists(
        st.sampled_from(
            [
                "NAME : a",
                "TYPE : CVRP",
                "TYPE : VRPTW",
                "DIMENSION : 3",
                "DIMENSION : x",
                "CAPACITY : 10",
                "EDGE_WEIGHT_TYPE : EUC_2D",
                "EDGE_WEIGHT_TYPE : EXPLICIT",
                "NODE_COORD_SECTION",
                "DEMAND_SECTION",
                "DEPOT_SECTION",
                "TIME_WINDOW_SECTION",
                "1 0 0",
                "2 3 4",
                "3 1",
                "2 0 10",
                "3 5 1",
                "VEHICLES : 0",
                "CAPACITY : x",
                "SERVICE_TIME : 5",
                "1",
                "-1",
                "EOF",
                "",
            ]
        ),
        max_size=20,
    )
)
def test_any_file_loads_or_is_a_bad_request(tmp_path: Path, lines: list[str]) -> None:
    path = tmp_path / "fuzz.vrp"
    path.write_text("\n".join(lines) + "\n")
    try:
        instance = load_instance(path)
    except BadRequestData as error:
        assert "\n" not in error.detail
    else:
        assert instance.data.num_clients >= 1
