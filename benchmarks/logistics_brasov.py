"""The Brașov case: 500 deliveries at real addresses, a green fleet against diesel vans.

    python benchmarks/logistics_brasov.py [--osm PATH] [--orders 500] [--seconds 45] [--seed 1]
        [--green examples/logistics/fleet-green.yaml]
        [--baseline examples/logistics/fleet-diesel.yaml] [--report /tmp/brasov.html]

Orders: ``--orders`` distinct OSM addresses of the extract drawn with the seed, sizes and time
windows as ``cetate.logistics.sample`` documents, written to a CSV and read back through the
same reader the CLI uses. The green fleet (examples/logistics/fleet-green.yaml): one peripheral
depot, two micro-hubs, 20 e-cargo bikes and 5 e-vans (two of which feed the hubs in the
morning). The baseline (fleet-diesel.yaml): diesel vans from the same depot. Both are planned
in the same run with the same solver time; the green plan is checked by the independent
checker. Reported: the green plan's wall time (travel matrices, search, feeding, emissions)
against the 60 s target, and the CO2e of both with the reduction.

Target (issue #5): a feasible plan in <= 60 s; the CO2e reduction against the diesel baseline.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

from _city import DEFAULT_OSM, ROOT, osm_or_skip, verdict

from cetate.city.addresses import read_addresses
from cetate.city.service import City
from cetate.logistics.check import check_plan
from cetate.logistics.emissions import factors_from_dict
from cetate.logistics.fleet import read_fleet
from cetate.logistics.model import Plan, Problem
from cetate.logistics.orders import read_orders
from cetate.logistics.planner import PlanOptions, plan
from cetate.logistics.sample import orders_csv, sample_orders
from cetate.logistics.scenarios import compare, comparison_table

TARGET_S = 60.0
EXAMPLES = ROOT / "examples" / "logistics"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--osm", type=Path, default=DEFAULT_OSM)
    parser.add_argument("--orders", type=int, default=500)
    parser.add_argument("--seconds", type=float, default=45.0, help="solver time per plan")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--green", type=Path, default=EXAMPLES / "fleet-green.yaml")
    parser.add_argument("--baseline", type=Path, default=EXAMPLES / "fleet-diesel.yaml")
    parser.add_argument("--report", type=Path, default=None, help="comparison report (.html/.pdf)")
    args = parser.parse_args()
    osm = osm_or_skip(args.osm)

    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as cache:
        city = City.load(osm, modes=("drive", "bike"), cache_dir=Path(cache))
    print(f"city: {osm.name}, drive and bike networks in {time.perf_counter() - started:.1f} s")

    addresses = read_addresses(osm)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "orders.csv"
        path.write_text(orders_csv(sample_orders(addresses, args.orders, args.seed)))
        orders = read_orders(path)
    print(f"orders: {len(orders)} at real addresses (of {len(addresses)} in the extract)")

    green, green_time = planned(args.green, orders, city, args)
    baseline, base_time = planned(args.baseline, orders, city, args)
    green_plan, base_plan = green[1], baseline[1]

    violations = check_plan(green[0], green_plan, city)
    for violation in violations[:20]:
        print(f"  violation: {violation}")
    print()
    comparison = compare(baseline[0], base_plan, green[0], green_plan)
    print(comparison_table(comparison))
    print()
    for name, result in (("green", green_plan), ("baseline", base_plan)):
        reasons: dict[str, int] = {}
        for left in result.unassigned:
            key = left.reason.split(":")[0]
            reasons[key] = reasons.get(key, 0) + 1
        print(f"{name}: unassigned {len(result.unassigned)} {reasons or ''}")
    co2 = comparison.row("CO2e")
    reduction = -co2.change_percent if co2.change_percent is not None else 0.0
    print()
    print(
        f"green plan: {green_time:.1f} s wall (solver {args.seconds:g} s); baseline "
        f"{base_time:.1f} s; CO2e {co2.green:.1f} kg against {co2.baseline:.1f} kg diesel: "
        f"{reduction:.1f}% less (ratio {co2.baseline / max(co2.green, 1e-9):.1f}x)"
    )
    feasible = not violations
    print(verdict(feasible and green_time <= TARGET_S, f"feasible plan in <= {TARGET_S:g} s"))
    if args.report is not None:
        from cetate.logistics.report import write_comparison_report

        write_comparison_report(comparison, city, args.report)
        print(f"report: {args.report}")
    if not feasible:
        sys.exit(1)


def planned(
    fleet_path: Path, orders: tuple, city: City, args: argparse.Namespace
) -> tuple[tuple[Problem, Plan], float]:
    fleet = read_fleet(fleet_path)
    problem = Problem(fleet.sites, fleet.vehicles, orders, fleet.zones, fleet.name)
    options = PlanOptions(
        seconds=args.seconds, seed=args.seed, factors=factors_from_dict(fleet.emission_factors)
    )
    started = time.perf_counter()
    result = plan(problem, city, options)
    elapsed = time.perf_counter() - started
    totals = result.totals
    print(
        f"{fleet.name}: {elapsed:.1f} s, {totals.vehicles} vehicles, {totals.distance_km:.1f} km, "
        f"{totals.co2e_kg:.1f} kg CO2e, {totals.orders_served} served, "
        f"{totals.orders_unassigned} unassigned"
    )
    return (problem, result), elapsed


if __name__ == "__main__":
    main()
