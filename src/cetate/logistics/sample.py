"""A day of parcel orders at a city's real addresses, for trying the planner and benchmarking it.

The addresses are the city's own (OSM house numbers); what is made up is who orders what and
when, drawn from a seeded generator with shares typical of urban parcel delivery (documented
here so a reader can judge them): sizes mostly small parcels of 0.5-5 kg, one in ten 10-30 kg;
40% of orders can be delivered at any time of the working day, 30% in the morning, 20% in the
afternoon, 10% in either of two windows; 5% are returns to collect. The same seed gives the
same orders.
"""

from __future__ import annotations

import csv
import io
import random
from collections.abc import Sequence

from cetate.city.addresses import Address
from cetate.errors import BadRequestData

WINDOWS = (
    ("", 0.40),
    ("09:00-12:00", 0.30),
    ("13:00-17:00", 0.20),
    ("09:00-11:00;15:00-17:00", 0.10),
)
HEADER = ("id", "kind", "lon", "lat", "address", "windows", "service_min", "kg", "m3", "parcels")


def sample_orders(addresses: Sequence[Address], count: int, seed: int) -> list[dict[str, str]]:
    """``count`` orders at distinct addresses, as rows of an orders CSV."""
    if count < 1:
        raise BadRequestData("the number of orders must be at least 1")
    if count > len(addresses):
        raise BadRequestData(f"only {len(addresses)} addresses to draw {count} orders from")
    rng = random.Random(seed)
    chosen = rng.sample(list(addresses), count)
    rows = []
    for number, address in enumerate(chosen, start=1):
        heavy = rng.random() < 0.10
        kg = rng.uniform(10.0, 30.0) if heavy else rng.uniform(0.5, 5.0)
        # About 200 kg per cubic metre for parcels (a courier's volumetric-weight rule of thumb).
        m3 = kg / 200.0 * rng.uniform(0.7, 1.5)
        windows = rng.choices([w for w, _ in WINDOWS], weights=[p for _, p in WINDOWS])[0]
        rows.append(
            {
                "id": f"O{number:04d}",
                "kind": "pickup" if rng.random() < 0.05 else "delivery",
                "lon": f"{address.lon:.7f}",
                "lat": f"{address.lat:.7f}",
                "address": address.label,
                "windows": windows,
                "service_min": f"{rng.uniform(2.0, 4.0):.1f}",
                "kg": f"{kg:.1f}",
                "m3": f"{m3:.3f}",
                "parcels": str(1 + (rng.random() < 0.2)),
            }
        )
    return rows


def orders_csv(rows: Sequence[dict[str, str]]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=HEADER, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()
