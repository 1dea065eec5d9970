"""Temporal queries over 1,000,000 history rows, over HTTP, beside a raw SQL baseline.

    python benchmarks/hub_temporal.py                  # SQLite, a fresh temporary file
    python benchmarks/hub_temporal.py --store postgresql://postgres@127.0.0.1:5432/postgres

The store is filled through ``Store.add_history``: one entity with a reading a minute for a week
(10,080 rows) and 999 others sharing the rest. Measured over HTTP (``cetate serve`` in its own
process): ``lastN=100`` for one entity, and hourly ``avg`` over the week. The baseline is the
same rows read by one plain SQL statement on the same database (no HTTP, no rendering), so the
ratio is what the API adds on top of the database.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
from _harness import cetate_server, percentile

TYPE = "https://uri.etsi.org/ngsi-ld/default-context/Sensor"
ATTR = "https://uri.etsi.org/ngsi-ld/default-context/temperature"
WEEK_START = datetime(2026, 11, 16, tzinfo=UTC)
ROWS = 1_000_000


def fill(store_url: str) -> None:
    from cetate.hub.model import format_time
    from cetate.hub.store import open_store

    store = open_store(store_url)
    reset = getattr(store, "reset", None)
    if reset is not None:
        reset()
    now = format_time(datetime.now(UTC))

    def reading(value: float, at: datetime) -> dict[str, object]:
        return {
            "type": "Property",
            "value": value,
            "observedAt": format_time(at),
            "createdAt": now,
            "modifiedAt": now,
        }

    week = [reading(10 + (i % 600) / 10, WEEK_START + timedelta(minutes=i)) for i in range(10_080)]
    store.add_history("", "urn:ngsi-ld:Sensor:week", [TYPE], {ATTR: week})
    per, extra = divmod(ROWS - len(week), 999)
    for n in range(999):
        count = per + (1 if n < extra else 0)
        rows = [
            reading(float(i % 97), WEEK_START + timedelta(minutes=10 * i)) for i in range(count)
        ]
        store.add_history("", f"urn:ngsi-ld:Sensor:{n:04d}", [TYPE], {ATTR: rows})
    store.close()


def timed(fn: Callable[[], object], n: int) -> list[float]:
    for _ in range(10):
        fn()
    times = []
    for _ in range(n):
        started = time.perf_counter()
        fn()
        times.append((time.perf_counter() - started) * 1000)
    return times


def baseline(store_url: str) -> tuple[Callable[[], object], Callable[[], object]]:
    """lastN and the week's rows straight from the history table, one statement each."""
    last_sql = (
        "SELECT h.instance FROM history h JOIN history_entities e ON e.hkey = h.hkey "
        "WHERE e.tenant = '' AND e.id = {p} ORDER BY h.observed_us DESC LIMIT 100"
    )
    week_sql = (
        "SELECT h.observed_us, h.instance FROM history h JOIN history_entities e ON e.hkey = h.hkey "
        "WHERE e.tenant = '' AND e.id = {p} ORDER BY h.observed_us"
    )
    if store_url.startswith("sqlite"):
        import sqlite3

        db = sqlite3.connect(store_url.removeprefix("sqlite:///"))
        return (
            lambda: db.execute(last_sql.format(p="?"), ("urn:ngsi-ld:Sensor:0500",)).fetchall(),
            lambda: db.execute(week_sql.format(p="?"), ("urn:ngsi-ld:Sensor:week",)).fetchall(),
        )
    import psycopg

    conn = psycopg.connect(store_url, autocommit=True)
    return (
        lambda: conn.execute(last_sql.format(p="%s"), ("urn:ngsi-ld:Sensor:0500",)).fetchall(),
        lambda: conn.execute(week_sql.format(p="%s"), ("urn:ngsi-ld:Sensor:week",)).fetchall(),
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--store", default="sqlite")
    parser.add_argument("--requests", type=int, default=300)
    args = parser.parse_args()
    store = args.store
    if store == "sqlite":
        store = f"sqlite:///{Path(tempfile.mkdtemp(prefix='cetate-temporal-')) / 'hub.db'}"
    started = time.perf_counter()
    fill(store)
    print(
        f"store: {store.split('@')[-1]}; {ROWS:,} history rows filled in {time.perf_counter() - started:.0f} s"
    )

    raw_last, raw_week = baseline(store)
    with (
        cetate_server(store) as base,
        httpx.Client(base_url=f"{base}/ngsi-ld/v1", timeout=30) as client,
    ):

        def get(url: str) -> Callable[[], object]:
            def call() -> object:
                response = client.get(url)
                if response.status_code != 200:
                    raise SystemExit(f"{url}: {response.status_code} {response.text[:200]}")
                return response

            return call

        last_url = "/temporal/entities/urn:ngsi-ld:Sensor:0500?lastN=100"
        week_url = (
            "/temporal/entities/urn:ngsi-ld:Sensor:week?attrs=temperature&timerel=between"
            "&timeAt=2026-11-16T00:00:00Z&endTimeAt=2026-11-23T00:00:00Z"
            "&aggrMethods=avg&aggrPeriodDuration=PT1H"
        )
        periods = get(week_url)().json()["temperature"]["avg"]  # type: ignore[attr-defined]
        assert len(periods) == 168, len(periods)
        ours_last = timed(get(last_url), args.requests)
        base_last = timed(raw_last, args.requests)
        ours_week = timed(get(week_url), args.requests // 3)
        base_week = timed(raw_week, args.requests // 3)
    for name, ours, raw in (
        ("lastN=100, one entity of 1,000", ours_last, base_last),
        ("hourly avg over one week (10,080 rows)", ours_week, base_week),
    ):
        print(
            f"{name}: p50 {percentile(ours, 0.5):.1f} ms, p95 {percentile(ours, 0.95):.1f} ms; "
            f"raw SQL p95 {percentile(raw, 0.95):.1f} ms; ratio {percentile(ours, 0.95) / percentile(raw, 0.95):.1f}"
        )


if __name__ == "__main__":
    main()
