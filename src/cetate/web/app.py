"""The FastAPI application: mounts every router, turns errors into ProblemDetails."""

from __future__ import annotations

import asyncio
import gc
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from cetate import __version__
from cetate.alerts.api import router as alerts_router
from cetate.city.api import router as city_router
from cetate.city.service import City, hub_closures, load_city
from cetate.config import Settings
from cetate.demo.feed import DemoFeed
from cetate.errors import (
    BadRequestData,
    CetateError,
    InvalidRequest,
    ResourceNotFound,
)
from cetate.hub.api import PREFIX
from cetate.hub.api import router as hub_router
from cetate.hub.http import NgsiLdRequests, problem_response
from cetate.hub.notify_thread import NotifierThread
from cetate.hub.service import Hub, build_hub
from cetate.ingest.api import metrics_router
from cetate.ingest.api import router as ingest_router
from cetate.ingest.mapping import load_mappings
from cetate.ingest.mqtt import MqttSettings, MqttWorker
from cetate.logistics.api import router as logistics_router
from cetate.logs import log_event, setup_logging
from cetate.mobility.transit_api import router as transit_router
from cetate.web.auth.api import install_auth
from cetate.web.ui.api import install_ui

log = logging.getLogger("cetate.web")


def create_app(
    settings: Settings | None = None, hub: Hub | None = None, city: City | None = None
) -> FastAPI:
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        the_hub = hub or build_hub(settings)
        notifier = NotifierThread(the_hub)
        the_hub.add_listener(notifier)
        app.state.hub = the_hub
        app.state.notifier = notifier
        the_city = city
        if the_city is None and settings.city_osm is not None:
            the_city = await asyncio.to_thread(load_city, settings)
        if the_city is not None:
            the_city.attach_closures(hub_closures(the_hub))
        app.state.city = the_city
        feed = DemoFeed(the_hub, the_city, settings) if settings.demo_feed and the_city else None
        worker = start_ingest(app, the_hub, settings)
        await notifier.start()
        if feed is not None:
            feed.start()
        tune_garbage_collector()
        log_event(log, "hub.started", store=the_hub.store.name)
        try:
            yield
        finally:
            if feed is not None:
                feed.stop()
            jobs = getattr(app.state, "logistics_jobs", None)
            if jobs is not None:
                jobs.close()
            if worker is not None:
                await asyncio.to_thread(worker.stop)
            await notifier.stop()
            the_hub.remove_listener(notifier)
            if hub is None:
                the_hub.close()

    app = FastAPI(
        title="Cetate",
        version=__version__,
        description="Open smart-city platform. The hub speaks NGSI-LD (ETSI GS CIM 009) at "
        f"{PREFIX}.",
        lifespan=lifespan,
    )
    app.include_router(hub_router, prefix=PREFIX, tags=["NGSI-LD"])
    app.include_router(city_router, prefix="/city", tags=["city"])
    app.include_router(ingest_router, prefix="/ingest", tags=["ingest"])
    app.include_router(transit_router, prefix="/transit", tags=["transit"])
    app.include_router(logistics_router, prefix="/logistics", tags=["logistics"])
    app.include_router(alerts_router, prefix="/alerts", tags=["alerts"])
    app.include_router(metrics_router, tags=["operations"])
    install_ui(app)  # the operations room at /, its files under /static
    app.add_middleware(NgsiLdRequests, prefix=PREFIX)
    install_auth(app, settings)  # accounts and roles; added last, so it checks first
    install_error_handlers(app)

    @app.get("/health", tags=["operations"], summary="Liveness and the store in use")
    async def health(request: Request) -> dict[str, str]:
        return {"status": "ok", "store": request.app.state.hub.store.name}

    return app


def start_ingest(app: FastAPI, hub: Hub, settings: Settings) -> MqttWorker | None:
    """The MQTT worker of this process, when a mapping file is configured."""
    app.state.ingest_worker = None
    app.state.ingest_mappings = None
    if settings.ingest_mappings is None:
        return None
    mappings = load_mappings(settings.ingest_mappings)
    worker = MqttWorker(
        hub,
        mappings,
        MqttSettings(settings.ingest_mqtt_url, settings.ingest_client_id, settings.ingest_group),
    )
    worker.start()
    app.state.ingest_worker = worker
    app.state.ingest_mappings = mappings
    return worker


def tune_garbage_collector() -> None:
    """Collect less often and never rescan what start-up built.

    A batch of 1,000 entities allocates hundreds of thousands of small dicts; with Python's
    default thresholds the collector runs every 700 allocations and its full passes rescan the
    whole application (measured: 35% of a batch upsert). Freezing start-up objects and raising
    the first threshold keeps cycles collected while cutting that cost to a few percent."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 20, 100)


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(CetateError)
    async def cetate_error(request: Request, error: CetateError) -> Response:
        return problem_response(error)

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, error: RequestValidationError) -> Response:
        first = error.errors()[0] if error.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ()))
        return problem_response(BadRequestData(f"{where}: {first.get('msg', 'invalid')}"))

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, error: StarletteHTTPException) -> Response:
        if error.status_code == 404:
            return problem_response(ResourceNotFound(f"no such resource: {request.url.path}"))
        if error.status_code == 405:
            problem = InvalidRequest(f"{request.method} is not allowed on {request.url.path}")
            response = problem_response(problem)
            response.status_code = 405
            return response
        problem = InvalidRequest(str(error.detail))
        response = problem_response(problem)
        response.status_code = error.status_code
        return response

    @app.exception_handler(Exception)
    async def unexpected(request: Request, error: Exception) -> Response:
        log_event(log, "request.failed", logging.ERROR, path=request.url.path, error=repr(error))
        return problem_response(CetateError("the server failed; the error is in its log"))


def app_from_environment() -> FastAPI:
    """The app of one worker process when ``cetate serve --workers N`` runs several: each
    builds its own hub from the CETATE_* settings the parent exported."""
    settings = Settings()
    setup_logging(settings.log_level)
    return create_app(settings)
