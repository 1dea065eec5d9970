"""``/logistics``: plan deliveries and compare fleets over the loaded city.

``POST /logistics/plans`` takes the orders (the JSON form of an orders file; left out: the
``cetate:DeliveryOrder`` entities in the hub) and the fleet (the YAML file's structure, as
JSON), starts a job and answers 202 with its address; ``GET`` on it shows progress and, once
done, the plan. The routes as GeoJSON and the report (HTML or PDF) hang under the job.
``POST /logistics/comparisons`` plans the same orders with a baseline and a green fleet.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from cetate.city.api import the_city
from cetate.city.service import City
from cetate.errors import BadRequestData, ResourceNotFound
from cetate.hub.service import Hub
from cetate.logistics.emissions import factors_from_dict
from cetate.logistics.entities import orders_from_hub
from cetate.logistics.export import plan_document, plan_geojson
from cetate.logistics.fleet import fleet_from_data
from cetate.logistics.jobs import Job, Jobs
from cetate.logistics.model import Order, Plan, Problem
from cetate.logistics.orders import orders_from_data
from cetate.logistics.planner import PlanOptions, plan
from cetate.logistics.scenarios import compare

router = APIRouter()
MAX_SECONDS = 600.0


class PlanRequest(BaseModel):
    orders: list[dict[str, Any]] | None = Field(
        default=None, description="orders as in a JSON orders file; default: the hub's"
    )
    fleet: dict[str, Any] = Field(description="sites, vehicles, zones as in a fleet YAML file")
    seconds: float = Field(default=30.0, gt=0, le=MAX_SECONDS)
    iterations: int | None = Field(default=None, ge=1)
    seed: int = 0


class ComparisonRequest(BaseModel):
    orders: list[dict[str, Any]] | None = None
    baseline: dict[str, Any]
    green: dict[str, Any]
    seconds: float = Field(default=30.0, gt=0, le=MAX_SECONDS)
    iterations: int | None = Field(default=None, ge=1)
    seed: int = 0


def the_jobs(request: Request) -> Jobs:
    jobs: Jobs | None = getattr(request.app.state, "logistics_jobs", None)
    if jobs is None:
        jobs = Jobs(request.app.state.hub)
        request.app.state.logistics_jobs = jobs
    return jobs


def tenant_of(request: Request) -> str:
    return request.headers.get("NGSILD-Tenant", "")


def _orders(raw: list[dict[str, Any]] | None, hub: Hub, tenant: str) -> tuple[Order, ...]:
    if raw is not None:
        orders: tuple[Order, ...] = orders_from_data(raw, "request orders")
        return orders
    orders = orders_from_hub(hub, tenant)
    if not orders:
        raise BadRequestData("no orders given and no cetate:DeliveryOrder entities in the hub")
    return orders


def _problem(
    orders: tuple[Order, ...], fleet: dict[str, Any], label: str
) -> tuple[Problem, PlanOptions]:
    parsed = fleet_from_data(fleet, label)
    problem = Problem(parsed.sites, parsed.vehicles, orders, parsed.zones, parsed.name)
    options = PlanOptions(factors=factors_from_dict(parsed.emission_factors))
    return problem, options


def _accepted(job: Job, request: Request, path: str) -> JSONResponse:
    location = str(request.url_for(path, job_id=job.id))
    return JSONResponse(job.document(), status_code=202, headers={"Location": location})


@router.post("/plans", status_code=202, summary="Start planning a day of deliveries")
def start_plan(body: PlanRequest, request: Request) -> JSONResponse:
    city = the_city(request)
    tenant = tenant_of(request)
    hub: Hub = request.app.state.hub
    problem, options = _problem(_orders(body.orders, hub, tenant), body.fleet, "request fleet")
    options = PlanOptions(
        seconds=body.seconds, iterations=body.iterations, seed=body.seed, factors=options.factors
    )
    extra: dict[str, Any] = {"problem": problem}

    def work(progress: Any) -> dict[str, Any]:
        result = plan(problem, city, options, progress)
        extra["plan"] = result
        return plan_document(result)

    job = the_jobs(request).submit("plan", tenant, work, extra)
    return _accepted(job, request, "get_plan")


@router.get("/plans/{job_id}", summary="A planning job: its progress, then its plan")
def get_plan(job_id: str, request: Request) -> dict[str, Any]:
    return _job(request, job_id).document()


@router.get("/plans/{job_id}/routes.geojson", summary="The plan's routes along the streets")
def plan_routes(job_id: str, request: Request) -> Response:
    problem, result = _finished_plan(request, job_id)
    import orjson

    body = orjson.dumps(plan_geojson(result, problem, the_city(request)))
    return Response(body, media_type="application/geo+json")


@router.get("/plans/{job_id}/report.{suffix}", summary="The plan's report, HTML or PDF")
def plan_report(job_id: str, suffix: str, request: Request) -> Response:
    from cetate.logistics.report import plan_report, render

    problem, result = _finished_plan(request, job_id)
    city = the_city(request)
    return _report(suffix, lambda s: render(plan_report(result, problem, city), f".{s}"))


@router.post("/comparisons", status_code=202, summary="Plan the orders with two fleets")
def start_comparison(body: ComparisonRequest, request: Request) -> JSONResponse:
    city = the_city(request)
    tenant = tenant_of(request)
    orders = _orders(body.orders, request.app.state.hub, tenant)
    base_problem, base_options = _problem(orders, body.baseline, "request baseline")
    green_problem, green_options = _problem(orders, body.green, "request green")
    extra: dict[str, Any] = {}

    def work(progress: Any) -> dict[str, Any]:
        def options(factors: Any) -> PlanOptions:
            return PlanOptions(
                seconds=body.seconds / 2,
                iterations=body.iterations,
                seed=body.seed,
                factors=factors,
            )

        base = plan(base_problem, city, options(base_options.factors), _half(progress, 0.0))
        green = plan(green_problem, city, options(green_options.factors), _half(progress, 0.5))
        comparison = compare(base_problem, base, green_problem, green)
        extra["comparison"] = comparison
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
            "baseline": plan_document(base),
            "green": plan_document(green),
        }

    job = the_jobs(request).submit("comparison", tenant, work, extra)
    return _accepted(job, request, "get_comparison")


@router.get("/comparisons/{job_id}", summary="A comparison job: its progress, then its figures")
def get_comparison(job_id: str, request: Request) -> dict[str, Any]:
    return _job(request, job_id).document()


@router.get("/comparisons/{job_id}/report.{suffix}", summary="The comparison, HTML or PDF")
def comparison_report(job_id: str, suffix: str, request: Request) -> Response:
    from cetate.logistics.report import comparison_report, render

    job = _job(request, job_id)
    comparison = job.extra.get("comparison")
    if comparison is None:
        raise ResourceNotFound(f"{job_id} has no comparison in this process (status {job.status})")
    city: City = the_city(request)
    return _report(suffix, lambda s: render(comparison_report(comparison, city), f".{s}"))


def _half(progress: Any, offset: float) -> Any:
    return lambda fraction, message: progress(offset + fraction / 2, message)


def _job(request: Request, job_id: str) -> Job:
    job = the_jobs(request).get(job_id, tenant_of(request))
    if job is None:
        raise ResourceNotFound(f"no logistics job {job_id}")
    return job


def _finished_plan(request: Request, job_id: str) -> tuple[Problem, Plan]:
    job = _job(request, job_id)
    found = job.extra.get("plan")
    if found is None:
        raise ResourceNotFound(
            f"{job_id} has no plan in this process (status {job.status}); its JSON stays at "
            f"/logistics/plans/{job_id}"
        )
    return job.extra["problem"], found


def _report(suffix: str, render: Any) -> Response:
    media = {"html": "text/html; charset=utf-8", "pdf": "application/pdf"}
    if suffix not in media:
        raise BadRequestData(f"report.{suffix}: reports are report.html or report.pdf")
    return Response(render(suffix), media_type=media[suffix])
