"""``cetate ingest gtfs PATH --feed NAME``: check a GTFS feed and write it into the hub."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def add_commands(ingest_app: typer.Typer) -> None:
    """Register the GTFS commands on the ``cetate ingest`` group."""

    @ingest_app.command("gtfs")
    def ingest_gtfs(
        path: Annotated[Path, typer.Argument(help="The feed: a .zip or a folder of .txt files.")],
        feed: Annotated[
            str,
            typer.Option(
                "--feed",
                help="The feed's name in the hub (letters, digits, - and _); importing again "
                "under the same name updates it in place.",
            ),
        ],
        store: Annotated[
            str | None,
            typer.Option(
                "--store",
                help="sqlite:///path.db (default: cetate.db in the working directory) or "
                "postgresql://...",
            ),
        ] = None,
        tenant: Annotated[str, typer.Option("--tenant", help="NGSILD-Tenant to write to.")] = "",
    ) -> None:
        """Check a GTFS feed (every file, reference and value) and write it into the hub; an
        invalid feed writes nothing and lists its problems by file and line."""
        from rich.progress import MofNCompleteColumn, Progress

        from cetate.cli import guarded, settings_from
        from cetate.hub.service import build_hub
        from cetate.ingest.gtfs import check_feed_name, import_feed

        guarded(lambda: check_feed_name(feed))
        settings = guarded(lambda: settings_from(store))
        hub = guarded(lambda: build_hub(settings))
        try:
            columns = (*Progress.get_default_columns(), MofNCompleteColumn())
            with Progress(*columns, transient=True) as progress:
                task = progress.add_task(f"{path.name}: reading", total=None)

                def show(stage: str, done: int, total: int) -> None:
                    progress.update(
                        task,
                        description=f"{path.name}: {stage}",
                        completed=done,
                        total=total or None,
                    )

                report = guarded(lambda: import_feed(hub, path, feed, tenant, progress=show))
        finally:
            hub.close()
        counts = report.counts
        entities = ", ".join(f"{n:,} {t}" for t, n in counts.items() if t != "stopTimes")
        typer.echo(f"{path}: feed {feed!r}: {entities}; {counts.get('stopTimes', 0):,} stop times")
        typer.echo(
            f"written: {report.created:,} created, {report.updated:,} updated, "
            f"{report.unchanged:,} unchanged, {report.deleted:,} deleted in {report.seconds:.1f} s "
            f"(read and checked {report.read_s:.1f} s, written {report.write_s:.1f} s)"
        )
        if report.ignored_files:
            typer.echo(f"not imported: {', '.join(report.ignored_files)}")
