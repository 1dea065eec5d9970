"""VRPLIB benchmark instances (CVRP, VRPTW) solved with PyVRP, costed as the literature costs them.

Published best-known solutions use one of two conventions, and a cost is only comparable within
its own: Solomon and Gehring-Homberger (VRPTW) truncate every distance and duration to one decimal
(the DIMACS challenge's rule), the X instances (CVRP) round every distance to the nearest integer.
PyVRP works in integers, so ``dimacs`` reads the instance scaled by 10 and truncated, and the cost
is divided back; ``round`` reads it rounded. ``exact`` keeps three decimals (scaled by 1000) for
instances with no convention; ``none`` takes the file's values as they are and so needs integers.

Routes are numbered as in VRPLIB ``.sol`` files: the depot is 0, the first customer 1.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, get_args

import numpy as np
import pyvrp
import vrplib  # type: ignore[import-untyped]  # no stubs or py.typed
from pyvrp import IteratedLocalSearchParams, ProblemData, Solution, SolveParams
from pyvrp.IteratedLocalSearch import IteratedLocalSearchCallbacks

from cetate.errors import BadRequestData

Rounding = Literal["dimacs", "round", "exact", "none"]
ROUNDINGS: tuple[str, ...] = get_args(Rounding)

# How many units of PyVRP's integer data make one unit of the instance (see the module doc).
SCALE: dict[str, int] = {"dimacs": 10, "round": 1, "exact": 1000, "none": 1}
DECIMALS: dict[str, int] = {"dimacs": 1, "round": 0, "exact": 3, "none": 0}

# What vrplib.read_instance returns for a CVRP or VRPTW file. Anything else (pickups and
# deliveries, backhauls, prizes, several depots, vehicle-specific sections) is another problem
# whose published costs follow other rules: refused rather than half-solved.
SUPPORTED_FIELDS = frozenset(
    {
        "name",
        "comment",
        "type",
        "dimension",
        "vehicles",
        "capacity",
        "service_time",
        "edge_weight_type",
        "edge_weight_format",
        "node_coord",
        "display_data_type",
        "display_data",
        "demand",
        "time_window",
        "depot",
        "edge_weight",
    }
)
SUPPORTED_TYPES = frozenset({"", "CVRP", "VRPTW", "CVRPTW"})


@dataclass(frozen=True)
class VrplibInstance:
    """A VRPLIB file read in one rounding convention: PyVRP's integer data and the scale."""

    name: str
    path: Path
    rounding: Rounding
    data: ProblemData

    @property
    def scale(self) -> int:
        return SCALE[self.rounding]


@dataclass(frozen=True)
class SolveProgress:
    """What the search has reached so far (reported a few times a second)."""

    elapsed_s: float
    iterations: int
    best_cost: float | None  # None while no feasible solution is known


@dataclass(frozen=True)
class VrplibResult:
    """A solved instance; ``cost`` is in the instance's convention (827.3, not 8273)."""

    name: str
    rounding: Rounding
    routes: tuple[tuple[int, ...], ...]  # customers as in .sol files: the first customer is 1
    cost: float
    feasible: bool
    runtime_s: float
    iterations: int
    missing: tuple[int, ...]  # customers no route visits (only when infeasible)

    def cost_text(self) -> str:
        return format_cost(self.cost, self.rounding)

    def solution_text(self) -> str:
        """The routes and the cost in the VRPLIB solution format (diffable against .sol files)."""
        lines = [
            f"Route #{number}: {' '.join(map(str, route))}"
            for number, route in enumerate(self.routes, 1)
        ]
        return "\n".join([*lines, f"Cost {self.cost_text()}"])


def format_cost(cost: float, rounding: Rounding) -> str:
    return f"{cost:.{DECIMALS[rounding]}f}"


def detect_rounding(instance: dict[str, Any]) -> Rounding:
    """The convention the instance's best-known solutions use: DIMACS for time windows."""
    kind = str(instance.get("type", "")).upper()
    return "dimacs" if "time_window" in instance or "TW" in kind else "round"


def load_instance(path: Path, rounding: Rounding | None = None) -> VrplibInstance:
    """Read a CVRP or VRPTW VRPLIB file; ``rounding`` None detects it from the instance."""
    if not path.is_file():
        raise BadRequestData(f"{path}: no such file")
    try:
        raw = vrplib.read_instance(str(path))
    except Exception as error:  # vrplib's parser fails on bad input with many exception types
        raise BadRequestData(f"{path}: not a VRPLIB instance ({_one_line(error)})") from None
    check_instance(path, raw)
    chosen = rounding or detect_rounding(raw)
    if chosen not in ROUNDINGS:
        raise BadRequestData(f"rounding {chosen!r}: expected one of {', '.join(ROUNDINGS)}")
    weights = np.asarray(raw["edge_weight"], dtype=float)
    if chosen == "none" and not np.array_equal(weights, np.floor(weights)):
        # PyVRP would silently truncate fractional distances; say so instead.
        raise BadRequestData(f"{path}: fractional distances need --rounding dimacs, round or exact")
    try:
        data = pyvrp.read(path, round_func=chosen)
    except (ValueError, TypeError, IndexError, KeyError) as error:
        raise BadRequestData(f"{path}: cannot be solved ({_one_line(error)})") from None
    name = str(raw.get("name") or path.stem).strip()
    return VrplibInstance(name, path, chosen, data)


def check_instance(path: Path, raw: dict[str, Any]) -> None:
    """Refuse what is not a single-depot CVRP or VRPTW, in one line naming the problem."""
    unsupported = sorted(set(raw) - SUPPORTED_FIELDS)
    if unsupported:
        names = ", ".join(f"{name.upper()}" for name in unsupported)
        raise BadRequestData(f"{path}: unsupported sections or fields: {names} (CVRP/VRPTW only)")
    kind = str(raw.get("type", "")).strip().upper()
    if kind not in SUPPORTED_TYPES:
        raise BadRequestData(f"{path}: TYPE {kind}: only CVRP and VRPTW are supported")
    if not isinstance(raw.get("dimension"), int) or "edge_weight" not in raw:
        raise BadRequestData(f"{path}: not a VRPLIB instance (no DIMENSION or no distances)")
    depots = np.atleast_1d(raw.get("depot", np.array([0])))
    if depots.size != 1 or int(depots[0]) != 0:
        raise BadRequestData(f"{path}: only one depot, node 1, is supported")
    if int(raw["dimension"]) < 2:
        raise BadRequestData(f"{path}: no customers")


def default_params() -> SolveParams:
    """PyVRP's defaults, unchanged (docs/benchmarks.md has what they reach on Solomon and X)."""
    return SolveParams()


def solve_instance(
    instance: VrplibInstance,
    seconds: float,
    seed: int = 0,
    params: SolveParams | None = None,
    progress: Callable[[SolveProgress], None] | None = None,
) -> VrplibResult:
    """Solve for ``seconds`` of wall time in all (the construction included), with ``seed``."""
    started = time.perf_counter()
    deadline = _Deadline(started + seconds)
    chosen = params or default_params()
    watcher = _Watcher(instance, started, progress)
    solve_params = SolveParams(
        ils=IteratedLocalSearchParams(
            num_iters_no_improvement=chosen.ils.num_iters_no_improvement,
            history_length=chosen.ils.history_length,
            exhaustive_on_best=chosen.ils.exhaustive_on_best,
            callbacks=watcher,
        ),
        penalty=chosen.penalty,
        neighbourhood=chosen.neighbourhood,
        operators=chosen.operators,
        display_interval=chosen.display_interval,
        perturbation=chosen.perturbation,
    )
    result = pyvrp.solve(instance.data, deadline, seed, collect_stats=False, params=solve_params)
    return to_result(instance, result.best, time.perf_counter() - started, watcher.iterations)


def solve_file(
    path: Path,
    seconds: float,
    seed: int = 0,
    rounding: Rounding | None = None,
    progress: Callable[[SolveProgress], None] | None = None,
) -> VrplibResult:
    return solve_instance(load_instance(path, rounding), seconds, seed, progress=progress)


def to_result(
    instance: VrplibInstance, best: Solution, runtime_s: float, iterations: int
) -> VrplibResult:
    data = instance.data
    routes = tuple(
        tuple(data.client(a.idx).location for a in route if a.is_client())
        for route in best.routes()
    )
    visited = {customer for route in routes for customer in route}
    missing = tuple(c.location for c in _clients(instance) if c.location not in visited)
    return VrplibResult(
        name=instance.name,
        rounding=instance.rounding,
        routes=routes,
        cost=best.distance() / instance.scale,
        feasible=best.is_feasible() and not missing,
        runtime_s=runtime_s,
        iterations=iterations,
        missing=missing,
    )


def read_best_known(path: Path) -> float:
    """The cost line of a VRPLIB .sol file (the best-known solution's cost)."""
    try:
        solution = vrplib.read_solution(str(path))
    except (RuntimeError, ValueError, IndexError) as error:
        raise BadRequestData(f"{path}: not a VRPLIB solution ({error})") from None
    if "cost" not in solution:
        raise BadRequestData(f"{path}: no Cost line")
    return float(solution["cost"])


def _one_line(error: Exception) -> str:
    return " ".join(str(error).split()).rstrip(".") or type(error).__name__


def _clients(instance: VrplibInstance) -> list[pyvrp.Client]:
    return list(instance.data.clients())


class _Deadline:
    """PyVRP's stopping criterion, on the wall clock from before the construction heuristic
    (MaxRuntime starts at the first iteration, so the time limit would not bound the call)."""

    def __init__(self, deadline: float) -> None:
        self.deadline = deadline

    def __call__(self, best_cost: float) -> bool:
        return time.perf_counter() >= self.deadline


class _Watcher(IteratedLocalSearchCallbacks):
    """Counts iterations and reports the best cost a few times a second."""

    INTERVAL_S = 0.25

    def __init__(
        self,
        instance: VrplibInstance,
        started: float,
        progress: Callable[[SolveProgress], None] | None,
    ) -> None:
        self.instance = instance
        self.started = started
        self.progress = progress
        self.iterations = 0
        self.reported = started

    def on_iteration(
        self,
        current: Solution,
        candidate: Solution,
        best: Solution,
        cost_evaluator: pyvrp.CostEvaluator,
    ) -> None:
        self.iterations += 1
        if self.progress is None:
            return
        now = time.perf_counter()
        if now - self.reported < self.INTERVAL_S:
            return
        self.reported = now
        cost = best.distance() / self.instance.scale if best.is_feasible() else None
        self.progress(SolveProgress(now - self.started, self.iterations, cost))
