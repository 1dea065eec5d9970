"""Two plans of the same orders side by side: today's fleet against a greener one.

The figures a council or an operator weighs: vehicles needed (by kind), km (by network),
hours, cost, CO2e, and orders served. Changes are green minus baseline, and in percent of the
baseline where it is not zero.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from cetate.logistics.model import Plan, Problem


@dataclass(frozen=True)
class Scenario:
    name: str
    problem: Problem
    plan: Plan


@dataclass(frozen=True)
class Row:
    label: str
    unit: str
    baseline: float
    green: float

    @property
    def change(self) -> float:
        return self.green - self.baseline

    @property
    def change_percent(self) -> float | None:
        return None if self.baseline == 0 else 100.0 * self.change / self.baseline


@dataclass(frozen=True)
class Comparison:
    baseline: Scenario
    green: Scenario
    rows: tuple[Row, ...]

    def row(self, label: str) -> Row:
        for row in self.rows:
            if row.label == label:
                return row
        raise KeyError(label)


def compare(
    baseline_problem: Problem, baseline: Plan, green_problem: Problem, green: Plan
) -> Comparison:
    base = scenario_figures(baseline_problem, baseline)
    new = scenario_figures(green_problem, green)
    labels = list(dict.fromkeys([*base, *new]))
    rows = tuple(
        Row(label, UNITS.get(label.split(" ")[0], ""), base.get(label, 0.0), new.get(label, 0.0))
        for label in labels
    )
    return Comparison(
        Scenario(baseline_problem.name or "baseline", baseline_problem, baseline),
        Scenario(green_problem.name or "green", green_problem, green),
        rows,
    )


UNITS = {
    "vehicles": "",
    "km": "km",
    "hours": "h",
    "cost": "EUR",
    "CO2e": "kg",
    "orders": "",
    "CO2e/order": "g",
}


def scenario_figures(problem: Problem, plan: Plan) -> dict[str, float]:
    totals = plan.totals
    figures: dict[str, float] = {
        "vehicles": float(totals.vehicles),
        "km": totals.distance_km,
        "hours": totals.hours,
        "cost": totals.cost,
        "CO2e": totals.co2e_kg,
        "orders served": float(totals.orders_served),
        "orders unassigned": float(totals.orders_unassigned),
        "CO2e/order": 1000.0 * totals.co2e_kg / totals.orders_served
        if totals.orders_served
        else 0.0,
    }
    kinds = {v.id: v.kind for v in problem.fleet}
    used = Counter(kinds[r.vehicle_type] for r in {r.vehicle: r for r in plan.routes}.values())
    for kind, count in sorted(used.items()):
        figures[f"vehicles {kind.replace('_', ' ')}"] = float(count)
    for mode in ("drive", "bike"):
        metres = sum(r.distance_m for r in plan.routes if r.mode == mode)
        figures[f"km by {'motor vehicle' if mode == 'drive' else 'bike'}"] = metres / 1000.0
    return figures


def comparison_table(comparison: Comparison) -> str:
    lines = [
        f"baseline: {comparison.baseline.name}",
        f"green:    {comparison.green.name}",
        f"{'':<26} {'baseline':>12} {'green':>12} {'change':>10}",
    ]
    for row in comparison.rows:
        percent = row.change_percent
        change = f"{percent:+.1f}%" if percent is not None else f"{row.change:+.1f}"
        lines.append(
            f"{row.label + (f' ({row.unit})' if row.unit else ''):<26} "
            f"{row.baseline:>12.2f} {row.green:>12.2f} {change:>10}"
        )
    return "\n".join(lines)
