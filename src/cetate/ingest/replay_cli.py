"""``cetate ingest replay``: a CSV time series into the hub (cetate.ingest.replay).

No ``from __future__ import annotations`` here: Typer reads the options' annotations when the
command is registered, and they must be real objects then.
"""

from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer

FileArgument = Annotated[
    Path, typer.Argument(help="The CSV file (header row; comma, semicolon or tab separated).")
]
MappingOption = Annotated[Path, typer.Option("--mapping", help="The mapping file (YAML).")]
TopicOption = Annotated[
    str | None,
    typer.Option(
        "--topic",
        help="The topic every row is sent with; it picks the mapping rule. Default: the "
        "first rule's topic, when it has no wildcard.",
    ),
]
SpeedOption = Annotated[
    float | None,
    typer.Option(
        "--speed",
        help="Real time times N (3600: an hour of data per second). Default: as fast as possible.",
    ),
]
StoreOption = Annotated[
    str | None,
    typer.Option(
        "--store",
        help="sqlite:///path.db (default: cetate.db in the working directory) or postgresql://...",
    ),
]


def add_commands(ingest_app: typer.Typer) -> None:
    """Register ``replay`` on the ``cetate ingest`` group."""

    @ingest_app.command(
        "replay",
        help="Replay a CSV time series into the hub with its original timestamps, in time "
        "order. Each row becomes a JSON object (column -> value) sent on the topic through the "
        "mapping, as a device message would be; rows that cannot be stored become dead letters.",
    )
    def replay(
        file: FileArgument,
        mapping: MappingOption,
        topic: TopicOption = None,
        speed: SpeedOption = None,
        store: StoreOption = None,
        tenant: Annotated[str, typer.Option(help="The NGSI-LD tenant (default: none).")] = "",
        limit: Annotated[
            int | None, typer.Option(min=0, help="Only the file's first N rows.")
        ] = None,
        batch_size: Annotated[int, typer.Option(min=1, help="Rows per transaction.")] = 500,
        time_column: Annotated[
            list[str] | None,
            typer.Option(help="Order and pace by this column (repeat to join several)."),
        ] = None,
        time_format: Annotated[
            str | None, typer.Option(help="iso, epoch_s, epoch_ms or a strptime pattern.")
        ] = None,
        timezone: Annotated[
            str | None, typer.Option(help="Of times without one (default: the rule's).")
        ] = None,
        delimiter: Annotated[
            str | None, typer.Option(help="The separator (default: guessed from the header).")
        ] = None,
        decimal: Annotated[str, typer.Option(help="The decimal mark: . or ,")] = ".",
        encoding: Annotated[str, typer.Option(help="The file's text encoding.")] = "utf-8-sig",
    ) -> None:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        from cetate.cli import fail, guarded, settings_from
        from cetate.hub.service import build_hub
        from cetate.ingest.mapping import load_mappings
        from cetate.ingest.replay import replay_csv

        mappings = guarded(lambda: load_mappings(mapping))
        if topic is None:
            first = mappings.rules[0].topic
            if any(part in first for part in ("+", "#", "{")):
                fail(f"--topic is needed: the first rule's topic {first!r} has wildcards")
            topic = first
        chosen_topic = topic
        settings = guarded(lambda: settings_from(store))
        hub = guarded(lambda: build_hub(settings))
        console = Console(stderr=True)
        bar = Progress(
            TextColumn("[bold]replay[/]"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[at]}"),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=console,
            transient=True,
        )
        task = bar.add_task("replay", total=None, at="")

        def progress(done: int, total: int, at: datetime | None) -> None:
            shown = at.strftime("%Y-%m-%d %H:%M:%S UTC") if at is not None else ""
            bar.update(task, completed=done, total=total, at=shown)

        try:
            with bar:
                report = guarded(
                    lambda: replay_csv(
                        hub,
                        file,
                        mappings,
                        chosen_topic,
                        speed=speed,
                        tenant=tenant,
                        batch_size=batch_size,
                        progress=progress,
                        time_columns=time_column or None,
                        time_format=time_format,
                        timezone=timezone,
                        delimiter=delimiter,
                        decimal=decimal,
                        encoding=encoding,
                        limit=limit,
                    )
                )
        except KeyboardInterrupt:
            fail("replay interrupted: the rows sent so far are stored")
        finally:
            hub.close()
        typer.echo(report.summary())
        if report.skipped:
            typer.echo(f"blank rows skipped: {report.skipped:,}")
        for line, reason in report.failures[:20]:
            typer.echo(f"  line {line}: {reason}")
        if report.dead_lettered > 20:
            typer.echo("  ... all of them: cetate ingest deadletters list")
