"""``cetate ingest gtfs-rt``: one GTFS-Realtime source into the hub, once or polled."""

from __future__ import annotations

import threading
from typing import Annotated

import typer


def add_commands(ingest_app: typer.Typer) -> None:
    """Register ``gtfs-rt`` on the ``cetate ingest`` group."""

    @ingest_app.command("gtfs-rt")
    def gtfs_rt(
        source: Annotated[
            str, typer.Argument(help="Feed URL (http/https) or a FeedMessage file (.pb).")
        ],
        feed: Annotated[
            str,
            typer.Option(
                "--feed", help="The feed's name in entity ids: the name its static GTFS has."
            ),
        ],
        store: Annotated[
            str | None,
            typer.Option(
                "--store", help="sqlite:///path.db (default: cetate.db) or postgresql://..."
            ),
        ] = None,
        interval: Annotated[
            float, typer.Option("--interval", min=0.1, help="Seconds between polls.")
        ] = 30.0,
        once: Annotated[
            bool, typer.Option("--once", help="Read the source once, report and exit.")
        ] = False,
        tenant: Annotated[str, typer.Option("--tenant", help="NGSILD-Tenant to write to.")] = "",
        language: Annotated[
            str | None,
            typer.Option("--language", help="Alerts' language (ro, en-GB...); else the first."),
        ] = None,
        timeout: Annotated[
            float, typer.Option("--timeout", min=0.1, help="HTTP timeout in seconds.")
        ] = 10.0,
        header: Annotated[
            list[str] | None,
            typer.Option(
                "--header", help="Extra HTTP header 'Name: value' (API keys); repeatable."
            ),
        ] = None,
    ) -> None:
        """Write a GTFS-Realtime feed (vehicle positions, trip updates, alerts) into the hub;
        polled every --interval seconds (ETag / Last-Modified aware) until Ctrl+C."""
        from cetate.cli import fail, guarded, settings_from
        from cetate.errors import ConfigError
        from cetate.hub.service import build_hub
        from cetate.ingest.gtfs_rt import RtPoller
        from cetate.logs import setup_logging

        def parse_headers() -> dict[str, str]:
            parsed: dict[str, str] = {}
            for raw in header or []:
                name, colon, value = raw.partition(":")
                if not colon or not name.strip():
                    raise ConfigError(f"--header {raw!r}: give it as 'Name: value'")
                parsed[name.strip()] = value.strip()
            return parsed

        headers = guarded(parse_headers)
        settings = guarded(lambda: settings_from(store))
        setup_logging(settings.log_level)
        hub = guarded(lambda: build_hub(settings))
        try:
            poller = guarded(
                lambda: RtPoller(
                    hub,
                    source,
                    feed,
                    tenant=tenant,
                    interval_s=interval,
                    timeout_s=timeout,
                    language=language,
                    headers=headers,
                )
            )
            with poller:
                if once:
                    report = guarded(poller.poll_once)
                    if report is None:
                        typer.echo(f"{source}: not modified")
                        return
                    typer.echo(f"{source}: {report.summary()}")
                    if report.errors:
                        fail(f"{len(report.errors)} entities refused; first: {report.errors[0]}")
                    return
                typer.echo(
                    f"Polling {source} every {interval:g} s into {hub.store.name} (Ctrl+C stops)"
                )
                stop = threading.Event()
                try:
                    poller.run(stop)
                except KeyboardInterrupt:
                    stop.set()
                stats = poller.stats
                typer.echo(
                    f"{stats.ingested} messages written, {stats.not_modified} not modified, "
                    f"{stats.errors} failed polls"
                )
        finally:
            hub.close()
