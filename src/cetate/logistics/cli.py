"""``cetate logistics ...``: the logistics commands; here ``vrplib``, a benchmark instance solved.

``cetate logistics vrplib FILE`` prints the routes and the cost in the VRPLIB solution format, so
the output diffs against the instance's ``.sol`` file; the cost is the last line. Progress goes to
stderr.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

import typer

# vrplib.Rounding, spelled again so that `cetate --help` does not import PyVRP; mypy checks that
# the two agree where the option is passed on.
Rounding = Literal["dimacs", "round", "exact", "none"]

logistics_app = typer.Typer(
    help="Green city logistics: delivery plans, and VRPLIB benchmark instances.",
    no_args_is_help=True,
)


@logistics_app.command("vrplib")
def vrplib_command(
    path: Annotated[Path, typer.Argument(help="A VRPLIB instance: CVRP or VRPTW (.vrp).")],
    seconds: Annotated[
        float, typer.Option("--seconds", min=0.1, help="Time limit in seconds (wall clock).")
    ] = 10.0,
    seed: Annotated[int, typer.Option("--seed", help="The search's random seed.")] = 0,
    rounding: Annotated[
        Rounding | None,
        typer.Option(
            "--rounding",
            help="Cost convention: dimacs (distances truncated to one decimal: Solomon, "
            "Gehring-Homberger), round (nearest integer: X instances), exact (three decimals) or "
            "none (the file's integers). Default: dimacs with time windows, round otherwise.",
        ),
    ] = None,
) -> None:
    """Solve a VRPLIB instance with PyVRP; print its routes and cost as a .sol file does."""
    import warnings

    from pyvrp.exceptions import PenaltyBoundWarning
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from cetate.cli import guarded
    from cetate.logistics.vrplib import SolveProgress, load_instance, solve_instance

    instance = guarded(lambda: load_instance(path, rounding))
    columns = (TextColumn("{task.description}"), BarColumn(), TimeElapsedColumn())
    with Progress(*columns, console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task(f"{instance.name}: solving", total=seconds)

        def show(state: SolveProgress) -> None:
            best = "none feasible yet" if state.best_cost is None else f"best {state.best_cost:g}"
            bar.update(
                task,
                completed=min(state.elapsed_s, seconds),
                description=f"{instance.name}: {best}, {state.iterations:,} iterations",
            )

        with warnings.catch_warnings():
            # Ten lines of advice when the search struggles; the one-line verdict below says it.
            warnings.simplefilter("ignore", PenaltyBoundWarning)
            result = solve_instance(instance, seconds, seed, progress=show)
    typer.echo(result.solution_text())
    typer.echo(
        f"{instance.name}: {len(result.routes)} routes, {result.iterations:,} iterations in "
        f"{result.runtime_s:.1f} s (rounding {result.rounding})",
        err=True,
    )
    if not result.feasible:
        # Exit 1, not 2: the input was fine, the search fell short (more --seconds may help).
        missing = f"; {len(result.missing)} customers unvisited" if result.missing else ""
        typer.echo(
            f"cetate: {instance.name}: no feasible solution found in {seconds:g} s{missing}",
            err=True,
        )
        raise typer.Exit(1)


def _add_planning_commands() -> None:
    from cetate.logistics import plan_cli, transit_freight_cli

    plan_cli.add_commands(logistics_app)
    transit_freight_cli.add_commands(logistics_app)


_add_planning_commands()
