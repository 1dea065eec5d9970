"""VRPTW: the 56 Solomon instances, Cetate (PyVRP) against OR-Tools and VROOM, each for the same
time limit, every cost recomputed here from the routes and compared with the best known (BKS).

    python benchmarks/logistics_solomon.py [--seconds 30] [--instances 'R1*'] [--jobs 2] [--out results.json]

1. ours: ``cetate.logistics.vrplib.solve_instance`` (PyVRP), DIMACS convention, seed 0;
2. OR-Tools routing: PATH_CHEAPEST_ARC then guided local search, the same time limit;
3. VROOM (pyvroom): its default exploration level (5), the same time limit as its timeout.

All three solve the same integers: distances and durations are Euclidean distances x 10,
truncated (the DIMACS rule the BKS use), time windows and service times x 10. The baselines get
the instance's fleet (VEHICLES), a capacity and a time dimension (travel + service time), and
minimise distance only. Each solve runs in its own process, one thread, ``--jobs`` at a time.
A solution counts only if it passes the check here (each customer once, capacity, time windows,
fleet size); a missing or infeasible one is a failure and is reported. Gaps are to the cost line
of the instance's .sol file. Targets (the logistics issue): our average gap <= 0.5% at 30 s, and
the lowest of the three.

The shared data directory is ../shared/data (override with CETATE_SHARED_DATA).
"""

from __future__ import annotations

import argparse
import fnmatch
import json
import math
import multiprocessing
import os
import platform
import statistics
import time
import traceback
from dataclasses import asdict, dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("CETATE_SHARED_DATA", ROOT.parent / "shared" / "data"))
SOLOMON = SHARED / "vrp" / "solomon"
GAP_TARGET = 0.5


@dataclass(frozen=True)
class Task:
    solver: str  # ours | ortools | vroom
    path: str
    rounding: str  # dimacs | round
    seconds: float
    seed: int


@dataclass(frozen=True)
class Outcome:
    solver: str
    instance: str
    cost: float | None  # recomputed here, in the instance's convention; None when it failed
    problem: str  # "" when the solution passed the check
    routes: int
    wall_s: float
    cpu_s: float  # CPU time of the solve: below wall_s when the machine was shared


# --- the instance, read independently of every solver --------------------------------------


@dataclass(frozen=True)
class Plain:
    """An instance in integers of its convention, the depot 0: what the check and the baselines
    read."""

    distance: np.ndarray  # [i, j]
    demand: list[int]
    capacity: int
    ready: list[int]  # time windows; the depot's is the horizon
    due: list[int]
    service: list[int]
    vehicles: int
    has_time_windows: bool


def plain_instance(path: Path, rounding: str) -> Plain:
    """For the check: the integers recomputed from the file's coordinates, not from any solver's
    data (DIMACS: Euclidean distance x 10, truncated; round: to the nearest integer)."""
    import vrplib

    raw = vrplib.read_instance(str(path), compute_edge_weights=False)
    coords = np.asarray(raw["node_coord"], dtype=float)
    euclid = np.sqrt(((coords[:, None, :] - coords[None, :, :]) ** 2).sum(axis=2))
    scale = 10 if rounding == "dimacs" else 1
    if rounding == "dimacs":
        distance = np.trunc(10 * euclid).astype(np.int64)
    else:
        distance = np.round(euclid).astype(np.int64)
    n = len(coords)
    windows = raw.get("time_window")
    if windows is None:
        ready, due = [0] * n, [2**62] * n
    else:
        ready = [math.trunc(scale * float(a)) for a, _ in windows]
        due = [math.trunc(scale * float(b)) for _, b in windows]
    service = [math.trunc(scale * float(s)) for s in np.broadcast_to(raw.get("service_time", 0), n)]
    service[0] = 0
    return Plain(
        distance,
        [int(d) for d in raw["demand"]],
        int(raw["capacity"]),
        ready,
        due,
        service,
        int(raw.get("vehicles", n - 1)),  # no VEHICLES (X): no limit
        windows is not None,
    )


def baseline_input(path: Path, rounding: str) -> Plain:
    """For OR-Tools and VROOM: the very integers PyVRP solves (its ProblemData), and a fleet."""
    from cetate.logistics.vrplib import load_instance

    data = load_instance(path, rounding).data  # type: ignore[arg-type]
    clients = data.clients()
    vehicle_type = data.vehicle_type(0)
    demand = [0] + [int(c.delivery[0]) for c in clients]
    capacity = int(vehicle_type.capacity[0])
    has_time_windows = any(c.tw_late < np.iinfo(np.int64).max for c in clients)
    vehicles = data.num_vehicles
    if vehicles == len(clients):
        # No VEHICLES in the file (X instances): PyVRP may open a route per customer, but a
        # fleet that large slows both baselines down for nothing; the bound ceil(demand /
        # capacity) plus 10% (at least 3) covers every X BKS (k to k + 3 routes).
        lower = math.ceil(sum(demand) / capacity)
        vehicles = min(vehicles, lower + max(3, math.ceil(0.1 * lower)))
    return Plain(
        np.asarray(data.distance_matrix(0), dtype=np.int64),
        demand,
        capacity,
        [int(vehicle_type.tw_early)] + [int(c.tw_early) for c in clients],
        [int(vehicle_type.tw_late)] + [int(c.tw_late) for c in clients],
        [0] + [int(c.service_duration) for c in clients],
        vehicles,
        has_time_windows,
    )


def check(plain: Plain, routes: list[list[int]]) -> tuple[int, str]:
    """The total distance of ``routes`` (customers numbered from 1) and what is wrong, if any."""
    n = len(plain.demand)
    seen: dict[int, int] = {}
    total = 0
    problems: list[str] = []
    used = [route for route in routes if route]
    if len(used) > plain.vehicles:
        problems.append(f"{len(used)} routes for {plain.vehicles} vehicles")
    for number, route in enumerate(used, 1):
        if any(not 1 <= c < n for c in route):
            problems.append(f"route {number}: unknown customer")
            continue
        load = sum(plain.demand[c] for c in route)
        if load > plain.capacity:
            problems.append(f"route {number}: load {load} > {plain.capacity}")
        time_now = plain.ready[0]
        previous = 0
        for customer in route:
            seen[customer] = seen.get(customer, 0) + 1
            total += int(plain.distance[previous, customer])
            time_now = max(
                time_now + plain.service[previous] + int(plain.distance[previous, customer]),
                plain.ready[customer],
            )
            if time_now > plain.due[customer]:
                problems.append(f"route {number}: customer {customer} late")
            previous = customer
        total += int(plain.distance[previous, 0])
        back = time_now + plain.service[previous] + int(plain.distance[previous, 0])
        if plain.has_time_windows and back > plain.due[0]:
            problems.append(f"route {number}: back at the depot late")
    missing = [c for c in range(1, n) if c not in seen]
    twice = [c for c, times in seen.items() if times > 1]
    if missing:
        problems.append(f"{len(missing)} customers not visited")
    if twice:
        problems.append(f"{len(twice)} customers visited twice")
    return total, "; ".join(problems[:3])


# --- the solvers --------------------------------------------------------------------------


def solve_ours(task: Task) -> list[list[int]]:
    from cetate.logistics.vrplib import load_instance, solve_instance

    instance = load_instance(Path(task.path), task.rounding)  # type: ignore[arg-type]
    result = solve_instance(instance, task.seconds, task.seed)
    return [list(route) for route in result.routes]


def solve_ortools(task: Task, plain: Plain) -> list[list[int]]:
    from ortools.constraint_solver import pywrapcp, routing_enums_pb2

    n = len(plain.demand)
    vehicles = plain.vehicles
    manager = pywrapcp.RoutingIndexManager(n, vehicles, 0)
    routing = pywrapcp.RoutingModel(manager)
    # Matrices registered whole: no Python callback per arc, so OR-Tools runs at C++ speed.
    distance = plain.distance.tolist()
    arc = routing.RegisterTransitMatrix(distance)
    routing.SetArcCostEvaluatorOfAllVehicles(arc)
    # Without this, PATH_CHEAPEST_ARC found no first solution at all on R101-R106 in 30 s: each
    # customer may be left out at a penalty far above any tour's length (OR-Tools' documented
    # "dropping visits" pattern), so the search starts, then inserts them. A solution that still
    # leaves one out fails the check.
    penalty = int(plain.distance.max()) * n
    for node in range(1, n):
        routing.AddDisjunction([manager.NodeToIndex(node)], penalty)
    demand = routing.RegisterUnaryTransitVector(plain.demand)
    routing.AddDimensionWithVehicleCapacity(demand, 0, [plain.capacity] * vehicles, True, "Load")
    if plain.has_time_windows:
        travel = (plain.distance + np.asarray(plain.service)[:, None]).tolist()
        horizon = plain.due[0]
        transit = routing.RegisterTransitMatrix(travel)
        routing.AddDimension(transit, horizon, horizon, False, "Time")
        time_dim = routing.GetDimensionOrDie("Time")
        for node in range(1, n):
            time_dim.CumulVar(manager.NodeToIndex(node)).SetRange(
                plain.ready[node], plain.due[node]
            )
        for vehicle in range(vehicles):
            time_dim.CumulVar(routing.Start(vehicle)).SetRange(plain.ready[0], plain.due[0])
            time_dim.CumulVar(routing.End(vehicle)).SetRange(plain.ready[0], plain.due[0])
    params = pywrapcp.DefaultRoutingSearchParameters()
    params.first_solution_strategy = routing_enums_pb2.FirstSolutionStrategy.PATH_CHEAPEST_ARC
    params.local_search_metaheuristic = (
        routing_enums_pb2.LocalSearchMetaheuristic.GUIDED_LOCAL_SEARCH
    )
    params.time_limit.FromMilliseconds(int(task.seconds * 1000))
    solution = routing.SolveWithParameters(params)
    if solution is None:
        return []
    routes = []
    for vehicle in range(vehicles):
        index = solution.Value(routing.NextVar(routing.Start(vehicle)))
        route = []
        while not routing.IsEnd(index):
            route.append(manager.IndexToNode(index))
            index = solution.Value(routing.NextVar(index))
        routes.append(route)
    return routes


def solve_vroom(task: Task, plain: Plain) -> list[list[int]]:
    import vroom

    n = len(plain.demand)
    problem = vroom.Input()
    matrix = plain.distance.astype(np.uint32)
    # Durations are the distances (as in the BKS); VROOM's cost is then the distance.
    problem.set_durations_matrix(profile="car", matrix_input=matrix)
    problem.set_costs_matrix(profile="car", matrix_input=matrix)
    horizon = vroom.TimeWindow(plain.ready[0], plain.due[0]) if plain.has_time_windows else None
    for vehicle in range(plain.vehicles):
        extra: dict[str, Any] = {"time_window": horizon} if horizon is not None else {}
        problem.add_vehicle(
            vroom.Vehicle(vehicle, start=0, end=0, capacity=[plain.capacity], **extra)
        )
    for node in range(1, n):
        extra = {}
        if plain.has_time_windows:
            extra["time_windows"] = [vroom.TimeWindow(plain.ready[node], plain.due[node])]
        problem.add_job(
            vroom.Job(
                node,
                location=node,
                default_service=plain.service[node],
                delivery=[plain.demand[node]],
                **extra,
            )
        )
    solution = problem.solve(
        exploration_level=5, nb_threads=1, timeout=timedelta(seconds=task.seconds)
    )
    frame = solution.routes
    routes: dict[int, list[int]] = {}
    for vehicle, kind, job in zip(frame["vehicle_id"], frame["type"], frame["id"], strict=True):
        if kind == "job":
            routes.setdefault(int(vehicle), []).append(int(job))
    return list(routes.values())


def run(task: Task) -> Outcome:
    """One solve, in a worker process; never raises (a crash is a failure with its reason)."""
    name = Path(task.path).stem
    started, cpu = time.perf_counter(), time.process_time()
    try:
        path = Path(task.path)
        if task.solver == "ours":
            routes = solve_ours(task)
        elif task.solver == "ortools":
            routes = solve_ortools(task, baseline_input(path, task.rounding))
        else:
            routes = solve_vroom(task, baseline_input(path, task.rounding))
        wall, cpu = time.perf_counter() - started, time.process_time() - cpu
        if not routes:
            return Outcome(task.solver, name, None, "no solution", 0, wall, cpu)
        total, problem = check(plain_instance(path, task.rounding), routes)
        scale = 10 if task.rounding == "dimacs" else 1
        cost = None if problem else total / scale
        used = sum(1 for route in routes if route)
        return Outcome(task.solver, name, cost, problem, used, wall, cpu)
    except Exception as error:
        detail = traceback.format_exception_only(error)[-1].strip()
        wall, cpu = time.perf_counter() - started, time.process_time() - cpu
        return Outcome(task.solver, name, None, f"crashed: {detail}", 0, wall, cpu)


# --- the run and its report ----------------------------------------------------------------


def best_known(folder: Path, names: list[str]) -> dict[str, float]:
    from cetate.logistics.vrplib import read_best_known

    return {name: read_best_known(folder / f"{name}.sol") for name in names}


def instances(folder: Path, pattern: str) -> list[Path]:
    found = sorted(folder.glob("*.vrp"), key=lambda p: _natural(p.stem))
    chosen = [p for p in found if fnmatch.fnmatch(p.stem, pattern)]
    if not chosen:
        raise SystemExit(f"benchmark: no instance in {folder} matches {pattern!r}")
    return chosen


def _natural(name: str) -> tuple[str, int]:
    digits = "".join(ch for ch in name.split("-n")[-1].split("-")[0] if ch.isdigit())
    return (name.split("-n")[0] if "-n" in name else name, int(digits) if "-n" in name else 0)


def gap(cost: float | None, bks: float) -> float | None:
    return None if cost is None else 100 * (cost - bks) / bks


def solve_all(
    paths: list[Path], solvers: list[str], rounding: str, seconds: float, seed: int, jobs: int
) -> list[Outcome]:
    tasks = [Task(s, str(p), rounding, seconds, seed) for p in paths for s in solvers]
    bks = best_known(paths[0].parent, [p.stem for p in paths])
    outcomes: list[Outcome] = []
    started = time.perf_counter()
    # A fresh process per solve (spawned, so nothing is inherited): no solver's state or memory
    # carries over to the next instance.
    context = multiprocessing.get_context("spawn")
    with context.Pool(jobs, maxtasksperchild=1) as pool:
        for outcome in pool.imap_unordered(run, tasks):
            outcomes.append(outcome)
            g = gap(outcome.cost, bks[outcome.instance])
            result = f"{outcome.cost:g} (gap {g:+.2f}%)" if g is not None else outcome.problem
            print(
                f"[{len(outcomes):>3}/{len(tasks)} {time.perf_counter() - started:>6.0f} s] "
                f"{outcome.instance:<12} {outcome.solver:<8} {result}  "
                f"routes {outcome.routes}, wall {outcome.wall_s:.1f} s, cpu {outcome.cpu_s:.1f} s",
                flush=True,
            )
    return outcomes


def summarise(outcomes: list[Outcome], bks: dict[str, float], solvers: list[str]) -> dict[str, Any]:
    by = {(o.instance, o.solver): o for o in outcomes}
    names = sorted({o.instance for o in outcomes}, key=_natural)
    summary: dict[str, Any] = {}
    for solver in solvers:
        gaps = [gap(by[n, solver].cost, bks[n]) for n in names if (n, solver) in by]
        solved = [g for g in gaps if g is not None]
        cpu = [by[n, solver].cpu_s / max(by[n, solver].wall_s, 1e-9) for n in names]
        summary[solver] = {
            "instances": len(gaps),
            "failures": [n for n in names if by[n, solver].cost is None],
            "averageGapPct": statistics.fmean(solved) if solved else None,
            "worstGapPct": max(solved) if solved else None,
            "atBks": sum(1 for g in solved if g <= 1e-9),
            "averageCpuShare": statistics.fmean(cpu) if cpu else None,
        }
    for baseline in solvers[1:]:
        # On the instances both solved, so a baseline's failure cannot flatter either side.
        both = [
            n for n in names if by[n, "ours"].cost is not None and by[n, baseline].cost is not None
        ]
        ours = statistics.fmean(gap(by[n, "ours"].cost, bks[n]) or 0.0 for n in both) if both else 0
        theirs = (
            statistics.fmean(gap(by[n, baseline].cost, bks[n]) or 0.0 for n in both) if both else 0
        )
        summary[f"ours/{baseline}"] = {
            "instances": len(both),
            "oursAverageGapPct": ours,
            "baselineAverageGapPct": theirs,
            "ratio": ours / theirs if theirs else None,
        }
    return summary


LABELS = {"ours": "Cetate (PyVRP)", "ortools": "OR-Tools GLS", "vroom": "VROOM"}


def report(
    outcomes: list[Outcome], bks: dict[str, float], solvers: list[str], summary: dict[str, Any]
) -> None:
    by = {(o.instance, o.solver): o for o in outcomes}
    names = sorted({o.instance for o in outcomes}, key=_natural)
    header = f"{'instance':<12} {'BKS':>10}" + "".join(f" {LABELS[s]:>24}" for s in solvers)
    print()
    print(header)
    print("-" * len(header))
    for name in names:
        cells = []
        for solver in solvers:
            outcome = by[name, solver]
            g = gap(outcome.cost, bks[name])
            cells.append(
                f" {outcome.cost:>14g} {g:>+8.2f}%" if g is not None else f" {'FAILED':>24}"
            )
        print(f"{name:<12} {bks[name]:>10g}" + "".join(cells))
    print()
    for solver in solvers:
        s = summary[solver]
        average = "n/a" if s["averageGapPct"] is None else f"{s['averageGapPct']:.3f}%"
        worst = "n/a" if s["worstGapPct"] is None else f"{s['worstGapPct']:.3f}%"
        failed = ", ".join(s["failures"]) or "none"
        print(
            f"{LABELS[solver]:<16} average gap {average:>8}  worst {worst:>8}  "
            f"at BKS {s['atBks']}/{s['instances']}  failures: {failed}  "
            f"(CPU share {s['averageCpuShare']:.2f})"
        )
    for baseline in solvers[1:]:
        r = summary[f"ours/{baseline}"]
        ratio = "n/a" if r["ratio"] is None else f"{r['ratio']:.2f}"
        print(
            f"ours / {LABELS[baseline]}: average gap {r['oursAverageGapPct']:.3f}% vs "
            f"{r['baselineAverageGapPct']:.3f}% on the {r['instances']} instances both solved: "
            f"ratio {ratio}"
        )


def main(
    description: str, folder: Path, rounding: str, seconds: float, target: float, all_solvers: bool
) -> None:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--seconds", type=float, default=seconds, help="time limit per solve")
    parser.add_argument("--instances", default="*", help="glob on instance names, e.g. 'C1*'")
    parser.add_argument("--jobs", type=int, default=2, help="solves in parallel (processes)")
    parser.add_argument("--seed", type=int, default=0, help="our seed")
    parser.add_argument("--out", type=Path, help="write every outcome and the summary as JSON")
    if not all_solvers:
        parser.add_argument("--ortools", action="store_true", help="also run OR-Tools (slow)")
    args = parser.parse_args()
    solvers = ["ours", "ortools", "vroom"]
    if not all_solvers and not args.ortools:
        solvers.remove("ortools")
    paths = instances(folder, args.instances)
    print(
        f"{len(paths)} instances x {len(solvers)} solvers, {args.seconds:g} s each, "
        f"{args.jobs} at a time, {os.cpu_count()} CPUs, Python {platform.python_version()}",
        flush=True,
    )
    started = time.perf_counter()
    outcomes = solve_all(paths, solvers, rounding, args.seconds, args.seed, args.jobs)
    bks = best_known(folder, [p.stem for p in paths])
    summary = summarise(outcomes, bks, solvers)
    report(outcomes, bks, solvers, summary)
    ours = summary["ours"]["averageGapPct"]
    met = ours is not None and ours <= target and not summary["ours"]["failures"]
    print(
        f"target: our average gap <= {target}%: {'met' if met else 'NOT met'}; "
        f"wall time {time.perf_counter() - started:.0f} s"
    )
    if args.out:
        document = {
            "seconds": args.seconds,
            "seed": args.seed,
            "jobs": args.jobs,
            "rounding": rounding,
            "bks": bks,
            "summary": summary,
            "outcomes": [asdict(o) for o in outcomes],
        }
        args.out.write_text(json.dumps(document, indent=1))


if __name__ == "__main__":
    main(
        "Solomon VRPTW: Cetate (PyVRP) vs OR-Tools vs VROOM",
        SOLOMON,
        "dimacs",
        30.0,
        GAP_TARGET,
        all_solvers=True,
    )
