"""``/logistics``: plan deliveries and compare fleets over the loaded city.

``POST /logistics/plans`` takes the orders (the JSON form of an orders file; left out: the
``cetate:DeliveryOrder`` entities in the hub) and the fleet (the YAML file's structure, as
JSON), checks them, starts a job and answers 202 with its address; ``GET`` on it shows the
status and progress and, once done, the plan. The routes as GeoJSON and the report (HTML or
PDF) hang under the job, from the process that planned it (see ``jobs``).
``POST /logistics/comparisons`` plans the same orders with a baseline and a green fleet.

A mistake in the request is a 400 ProblemDetails naming the field, and no job is started.
Jobs belong to the tenant of the request (the ``NGSILD-Tenant`` header), like the hub's
entities.
"""

from __future__ import annotations

import threading
from typing import Any

import orjson
from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from cetate.city.api import the_city
from cetate.city.service import City
from cetate.errors import BadRequestData, ResourceNotFound
from cetate.hub.http import tenant_of
from cetate.hub.service import Hub
from cetate.logistics.emissions import Factors, factors_from_dict
from cetate.logistics.entities import orders_from_hub
from cetate.logistics.export import plan_document, plan_geojson
from cetate.logistics.fleet import fleet_from_data
from cetate.logistics.jobs import Job, Jobs, Progress
from cetate.logistics.model import Order, Plan, Problem
from cetate.logistics.orders import orders_from_data
from cetate.logistics.planner import PlanOptions, plan
from cetate.logistics.scenarios import Comparison, compare
from cetate.logistics.validate import validate_problem

router = APIRouter()
MAX_SECONDS = 600.0
# With a number of iterations the solver ignores the time limit; this bounds how long one
# request can hold the planning worker (a large day runs some hundreds of iterations a second).
MAX_ITERATIONS = 100_000
REPORT_TYPES = {"html": "text/html; charset=utf-8", "pdf": "application/pdf"}

_jobs_lock = threading.Lock()

ORDERS_DESCRIPTION = (
    "Orders as in a JSON orders file: a list of orders, {orders: [...]} or a GeoJSON "
    "FeatureCollection of Points. Left out: the hub's cetate:DeliveryOrder entities."
)
FLEET_EXAMPLE: dict[str, Any] = {
    "name": "one van",
    "sites": [{"id": "depot", "kind": "depot", "at": [25.556, 45.673], "hours": "06:00-20:00"}],
    "vehicles": [
        {
            "id": "van",
            "kind": "e_van",
            "count": 1,
            "depot": "depot",
            "capacity": {"kg": 900, "m3": 8, "parcels": 200},
            "shift": "08:00-16:00",
        }
    ],
}
ORDERS_EXAMPLE: list[Any] = [
    {"id": "A1", "lon": 25.5919, "lat": 45.6431, "windows": ["09:00-11:00"], "kg": 4.5},
    {"id": "A2", "lon": 25.5891, "lat": 45.6415, "service_min": 3, "kg": 12, "parcels": 2},
]


class PlanRequest(BaseModel):
    model_config = ConfigDict(
        extra="forbid",  # a misspelt option is an error, not silently the default
        json_schema_extra={
            "examples": [{"orders": ORDERS_EXAMPLE, "fleet": FLEET_EXAMPLE, "seconds": 10}]
        },
    )

    orders: list[Any] | dict[str, Any] | None = Field(default=None, description=ORDERS_DESCRIPTION)
    fleet: dict[str, Any] = Field(description="sites, vehicles, zones as in a fleet YAML file")
    seconds: float = Field(default=30.0, gt=0, le=MAX_SECONDS, description="time limit")
    iterations: int | None = Field(
        default=None,
        ge=1,
        le=MAX_ITERATIONS,
        description="stop after this many iterations instead: the same plan on every run",
    )
    seed: int = 0


class ComparisonRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    orders: list[Any] | dict[str, Any] | None = Field(default=None, description=ORDERS_DESCRIPTION)
    baseline: dict[str, Any] = Field(description="today's fleet, as in a fleet YAML file")
    green: dict[str, Any] = Field(description="the fleet proposed, as in a fleet YAML file")
    seconds: float = Field(
        default=30.0, gt=0, le=MAX_SECONDS, description="time limit for both plans together"
    )
    iterations: int | None = Field(default=None, ge=1, le=MAX_ITERATIONS)
    seed: int = 0


def the_jobs(request: Request) -> Jobs:
    """The app's jobs, made on first use (under a lock: requests run in several threads)."""
    with _jobs_lock:
        jobs: Jobs | None = getattr(request.app.state, "logistics_jobs", None)
        if jobs is None:
            jobs = Jobs(request.app.state.hub)
            request.app.state.logistics_jobs = jobs
        return jobs


@router.post(
    "/plans",
    status_code=202,
    summary="Start planning a day of deliveries",
    response_description="the job, queued; its address is in Location",
)
def start_plan(body: PlanRequest, request: Request) -> JSONResponse:
    city = the_city(request)
    tenant = tenant_of(request)
    orders = _orders(body.orders, request.app.state.hub, tenant)
    problem, factors = _problem(orders, body.fleet, "fleet")
    options = PlanOptions(
        seconds=body.seconds, iterations=body.iterations, seed=body.seed, factors=factors
    )
    extra: dict[str, Any] = {"problem": problem}

    def work(progress: Progress) -> dict[str, Any]:
        result = plan(problem, city, options, progress)
        extra["plan"] = result
        return plan_document(result)

    job = the_jobs(request).submit("plan", tenant, work, extra)
    return _accepted(job, request, "get_plan")


@router.get("/plans/{job_id}", summary="A planning job: its status and progress, then its plan")
def get_plan(job_id: str, request: Request) -> dict[str, Any]:
    return _job(request, job_id, "plan").document()


@router.get(
    "/plans/{job_id}/routes.geojson",
    summary="The plan's routes along the streets (GeoJSON)",
    response_class=Response,
    responses={200: {"content": {"application/geo+json": {}}}},
)
def plan_routes(job_id: str, request: Request) -> Response:
    problem, result = _finished_plan(request, job_id)
    body = orjson.dumps(plan_geojson(result, problem, the_city(request)))
    return Response(body, media_type="application/geo+json")


@router.get(
    "/plans/{job_id}/report.{suffix}",
    summary="The plan's report: report.html or report.pdf",
    response_class=Response,
    responses={200: {"content": {"text/html": {}, "application/pdf": {}}}},
)
def get_plan_report(job_id: str, suffix: str, request: Request) -> Response:
    from cetate.logistics.report import plan_report, render

    _check_suffix(suffix)
    problem, result = _finished_plan(request, job_id)
    report = plan_report(result, problem, the_city(request))
    return Response(render(report, f".{suffix}"), media_type=REPORT_TYPES[suffix])


@router.post(
    "/comparisons",
    status_code=202,
    summary="Plan the same orders with two fleets and compare them",
    response_description="the job, queued; its address is in Location",
)
def start_comparison(body: ComparisonRequest, request: Request) -> JSONResponse:
    city = the_city(request)
    tenant = tenant_of(request)
    orders = _orders(body.orders, request.app.state.hub, tenant)
    base_problem, base_factors = _problem(orders, body.baseline, "baseline")
    green_problem, green_factors = _problem(orders, body.green, "green")
    extra: dict[str, Any] = {}

    def options(factors: Factors) -> PlanOptions:
        # Half the time each, so the whole comparison keeps to the time asked for.
        return PlanOptions(
            seconds=body.seconds / 2, iterations=body.iterations, seed=body.seed, factors=factors
        )

    def work(progress: Progress) -> dict[str, Any]:
        base = plan(base_problem, city, options(base_factors), _part(progress, 0.0))
        green = plan(green_problem, city, options(green_factors), _part(progress, 0.5))
        comparison = compare(base_problem, base, green_problem, green)
        extra["comparison"] = comparison
        return _comparison_document(comparison)

    job = the_jobs(request).submit("comparison", tenant, work, extra)
    return _accepted(job, request, "get_comparison")


@router.get(
    "/comparisons/{job_id}", summary="A comparison job: its status and progress, then its figures"
)
def get_comparison(job_id: str, request: Request) -> dict[str, Any]:
    return _job(request, job_id, "comparison").document()


@router.get(
    "/comparisons/{job_id}/report.{suffix}",
    summary="The comparison's report: report.html or report.pdf",
    response_class=Response,
    responses={200: {"content": {"text/html": {}, "application/pdf": {}}}},
)
def get_comparison_report(job_id: str, suffix: str, request: Request) -> Response:
    from cetate.logistics.report import comparison_report, render

    _check_suffix(suffix)
    job = _job(request, job_id, "comparison")
    comparison: Comparison | None = job.extra.get("comparison")
    if job.status != "done" or comparison is None:
        raise _not_here(job, "comparisons")
    city: City = the_city(request)
    return Response(
        render(comparison_report(comparison, city), f".{suffix}"), media_type=REPORT_TYPES[suffix]
    )


# -- the request's parts ----------------------------------------------------------------------


def _orders(raw: list[Any] | dict[str, Any] | None, hub: Hub, tenant: str) -> tuple[Order, ...]:
    if raw is not None:
        orders: tuple[Order, ...] = orders_from_data(raw, "orders")
        return orders
    orders = orders_from_hub(hub, tenant)
    if not orders:
        raise BadRequestData(
            "orders: none given, and the hub holds no cetate:DeliveryOrder entities"
            + (f" for tenant {tenant!r}" if tenant else "")
        )
    return orders


def _problem(
    orders: tuple[Order, ...], fleet: dict[str, Any], label: str
) -> tuple[Problem, Factors]:
    """The problem and the emission factors of one fleet; every mistake is found here, before
    a job is started (``label`` starts the messages: the request's field)."""
    parsed = fleet_from_data(fleet, label)
    problem = Problem(parsed.sites, parsed.vehicles, orders, parsed.zones, parsed.name)
    factors = factors_from_dict(parsed.emission_factors)
    validate_problem(problem)
    return problem, factors


def _comparison_document(comparison: Comparison) -> dict[str, Any]:
    return {
        "rows": [
            {
                "label": row.label,
                "unit": row.unit,
                "baseline": row.baseline,
                "green": row.green,
                "change": row.change,
                "changePercent": row.change_percent,
            }
            for row in comparison.rows
        ],
        "baseline": plan_document(comparison.baseline.plan),
        "green": plan_document(comparison.green.plan),
    }


def _part(progress: Progress, offset: float) -> Progress:
    """Progress of one of a comparison's two plans, as a share of the whole."""
    return lambda fraction, message: progress(offset + fraction / 2, message)


# -- answers ----------------------------------------------------------------------------------


def _accepted(job: Job, request: Request, route: str) -> JSONResponse:
    location = str(request.url_for(route, job_id=job.id))
    return JSONResponse(job.document(), status_code=202, headers={"Location": location})


def _job(request: Request, job_id: str, kind: str) -> Job:
    job = the_jobs(request).get(job_id, tenant_of(request))
    if job is None:
        raise ResourceNotFound(f"no logistics job {job_id}")
    if job.kind != kind:
        raise ResourceNotFound(f"{job_id} is a {job.kind} job: see /logistics/{job.kind}s/{job_id}")
    return job


def _finished_plan(request: Request, job_id: str) -> tuple[Problem, Plan]:
    job = _job(request, job_id, "plan")
    problem: Problem | None = job.extra.get("problem")
    result: Plan | None = job.extra.get("plan")
    if job.status != "done" or problem is None or result is None:
        raise _not_here(job, "plans")
    return problem, result


def _not_here(job: Job, collection: str) -> ResourceNotFound:
    """Why a job's routes or report cannot be had: not done yet, failed, or planned by another
    process (or before a restart), which alone holds what they are drawn from."""
    where = f"/logistics/{collection}/{job.id}"
    if job.status in ("queued", "running"):
        return ResourceNotFound(
            f"{job.id} is {job.status} ({job.progress:.0%}): its routes and report come when "
            f"it is done; follow it at {where}"
        )
    if job.status == "failed":
        return ResourceNotFound(f"{job.id} failed, so it has no routes or report: see {where}")
    return ResourceNotFound(
        f"the routes and report of {job.id} are not available in this process: they are kept "
        f"only by the server process that planned it, until it restarts. Its result stays at "
        f"{where}; plan again for maps and reports"
    )


def _check_suffix(suffix: str) -> None:
    if suffix not in REPORT_TYPES:
        raise BadRequestData(f"report.{suffix}: reports are report.html or report.pdf")
