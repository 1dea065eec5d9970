"""The hub's figures over HTTP, each beside a baseline measured in the same run.

    python benchmarks/hub_api.py --store sqlite               # a fresh SQLite file
    python benchmarks/hub_api.py --store postgresql://postgres@127.0.0.1:5432/postgres

1. batch upsert of TrafficFlowObserved entities (5 properties and a Point) in batches of 1,000,
   against a plain executemany of the same documents into the same database;
2. GET by id (wrk, 16 connections), against a bare FastAPI endpoint;
3. single-attribute PATCH (wrk, 16 connections) with 10 active subscriptions, against a bare
   FastAPI endpoint that parses the same body; each update triggers exactly one subscription
   (nine watch one traffic lane each, the tenth the latency probe);
4. query type + q + near;maxDistance==500 over all entities: latency percentiles;
5. notification latency, update to receipt by an HTTP listener, while (3) runs.
Needs wrk (apt-get install wrk).
"""

from __future__ import annotations

import argparse
import random
import sqlite3
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import orjson
from _harness import Receiver, bare_server, cetate_server, percentile, summary, wrk

BASE = "/ngsi-ld/v1"
TYPE = "TrafficFlowObserved"
# Brașov's bounding box: entities are spread over the real city.
WEST, SOUTH, EAST, NORTH = 25.52, 45.60, 25.68, 45.70


def entity(n: int, rng: random.Random) -> dict[str, Any]:
    observed = "2026-11-22T08:00:00Z"
    return {
        "id": f"urn:ngsi-ld:{TYPE}:{n}",
        "type": TYPE,
        "intensity": {"type": "Property", "value": rng.randint(0, 600), "observedAt": observed},
        "occupancy": {"type": "Property", "value": round(rng.random(), 3), "observedAt": observed},
        "averageVehicleSpeed": {
            "type": "Property",
            "value": round(rng.uniform(5, 90), 1),
            "unitCode": "KMH",
        },
        "laneId": {"type": "Property", "value": n % 9},
        "congested": {"type": "Property", "value": rng.random() < 0.2},
        "location": {
            "type": "GeoProperty",
            "value": {
                "type": "Point",
                "coordinates": [rng.uniform(WEST, EAST), rng.uniform(SOUTH, NORTH)],
            },
        },
    }


def make_batches(count: int, size: int = 1000) -> list[bytes]:
    rng = random.Random(42)
    return [
        orjson.dumps([entity(n, rng) for n in range(start, min(count, start + size))])
        for start in range(0, count, size)
    ]


def bench_upsert(base: str, batches: list[bytes], count: int, clients: int) -> float:
    """Batches sent by ``clients`` connections at once (each sends its share in turn)."""
    failures: list[str] = []

    def send(share: list[bytes]) -> None:
        with httpx.Client(base_url=base, timeout=120) as client:
            for body in share:
                response = client.post(
                    f"{BASE}/entityOperations/upsert",
                    content=body,
                    headers={"Content-Type": "application/json"},
                )
                if response.status_code not in (201, 204):
                    failures.append(f"{response.status_code} {response.text[:300]}")
                    return

    threads = [threading.Thread(target=send, args=(batches[k::clients],)) for k in range(clients)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    if failures:
        raise SystemExit(f"upsert failed: {failures[0]}")
    return count / elapsed


def baseline_executemany(store: str, batches: list[bytes], count: int) -> float:
    """The same documents written by a plain executemany into the same database, batch by batch."""
    rows = [[(e["id"], orjson.dumps(e)) for e in orjson.loads(body)] for body in batches]
    if store.startswith("sqlite"):
        db = sqlite3.connect(store.removeprefix("sqlite:///"), isolation_level=None)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
        db.execute("CREATE TABLE IF NOT EXISTS bench_plain(id TEXT PRIMARY KEY, doc BLOB)")
        started = time.perf_counter()
        for batch in rows:
            db.execute("BEGIN")
            db.executemany("INSERT OR REPLACE INTO bench_plain VALUES (?, ?)", batch)
            db.execute("COMMIT")
        elapsed = time.perf_counter() - started
        db.execute("DROP TABLE bench_plain")
        db.close()
        return count / elapsed
    import psycopg

    with psycopg.connect(store) as db:
        db.execute("CREATE TABLE IF NOT EXISTS bench_plain(id TEXT PRIMARY KEY, doc JSONB)")
        db.commit()
        started = time.perf_counter()
        with db.cursor() as cursor:
            for batch in rows:
                cursor.executemany(
                    "INSERT INTO bench_plain VALUES (%s, %s) ON CONFLICT (id) DO UPDATE SET doc = excluded.doc",
                    [(i, d.decode()) for i, d in batch],
                )
                db.commit()
        elapsed = time.perf_counter() - started
        db.execute("DROP TABLE bench_plain")
        db.commit()
        return count / elapsed


GET_SCRIPT = """
math.randomseed(7)
request = function()
  return wrk.format("GET", "/ngsi-ld/v1/entities/urn:ngsi-ld:TrafficFlowObserved:" .. math.random(0, %d))
end
"""

PATCH_SCRIPT = """
math.randomseed(11)
counter = 0
request = function()
  counter = counter + 1
  local id = "urn:ngsi-ld:TrafficFlowObserved:" .. math.random(0, %d)
  return wrk.format("PATCH", "/ngsi-ld/v1/entities/" .. id .. "/attrs/intensity",
    {["Content-Type"] = "application/json"}, '{"value": ' .. (counter %% 600) .. '}')
end
"""


def subscribe(base: str, receiver: Receiver) -> None:
    with httpx.Client(base_url=base, timeout=30) as client:
        for lane in range(9):
            body = {
                "type": "Subscription",
                "entities": [{"type": TYPE}],
                "watchedAttributes": ["intensity"],
                "q": f"laneId=={lane}",
                "notification": {"endpoint": {"uri": receiver.url}, "format": "keyValues"},
            }
            response = client.post(f"{BASE}/subscriptions", json=body)
            response.raise_for_status()
        probe = {
            "type": "Subscription",
            "entities": [{"id": "urn:ngsi-ld:Probe:latency", "type": "Probe"}],
            "watchedAttributes": ["probeSentAt"],
            "notification": {"endpoint": {"uri": receiver.url}, "format": "keyValues"},
        }
        client.post(f"{BASE}/subscriptions", json=probe).raise_for_status()
        client.post(
            f"{BASE}/entities",
            json={
                "id": "urn:ngsi-ld:Probe:latency",
                "type": "Probe",
                "probeSentAt": {"type": "Property", "value": 0.0},
            },
        ).raise_for_status()


def probe_latency(base: str, receiver: Receiver, seconds: float, answers_ms: list[float]) -> None:
    """Update the probe entity every 20 ms with its send time; the receiver notes arrival.
    ``answers_ms`` gets the time each update took to be acknowledged (the write's own share)."""
    with httpx.Client(base_url=base, timeout=10) as client:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            sent = time.time()
            client.patch(
                f"{BASE}/entities/urn:ngsi-ld:Probe:latency/attrs/probeSentAt",
                json={"value": sent},
            )
            answers_ms.append((time.time() - sent) * 1000)
            time.sleep(0.02)


def bench_query(base: str, queries: int) -> list[float]:
    rng = random.Random(3)
    timings: list[float] = []
    with httpx.Client(base_url=base, timeout=30) as client:
        for _ in range(queries):
            lon, lat = rng.uniform(WEST, EAST), rng.uniform(SOUTH, NORTH)
            params = {
                "type": TYPE,
                "q": "intensity>100;congested==false",
                "georel": "near;maxDistance==500",
                "geometry": "Point",
                "coordinates": f"[{lon:.5f},{lat:.5f}]",
                "limit": "100",
            }
            started = time.perf_counter()
            response = client.get(f"{BASE}/entities", params=params)
            timings.append((time.perf_counter() - started) * 1000)
            if response.status_code != 200:
                raise SystemExit(f"query failed: {response.text[:300]}")
    return timings


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--store", default="sqlite", help="sqlite (a fresh temporary file) or a postgresql:// URL"
    )
    parser.add_argument("--entities", type=int, default=100_000)
    parser.add_argument("--seconds", type=int, default=10, help="duration of each wrk run")
    parser.add_argument("--queries", type=int, default=500)
    parser.add_argument("--workers", type=int, default=1, help="cetate serve --workers")
    parser.add_argument("--clients", type=int, default=1, help="concurrent upsert clients")
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="cetate-bench-"))
    store = f"sqlite:///{workdir / 'hub.db'}" if args.store == "sqlite" else args.store
    if store.startswith("postgres"):
        from cetate.hub.store.postgres import PostgresStore

        pg = PostgresStore(store)
        pg.reset()
        pg.close()
    batches = make_batches(args.entities)
    print(
        f"store: {store.split('@')[-1]}; {args.entities:,} entities in batches of 1,000; "
        f"{args.workers} API process(es); {args.clients} upsert client(s)"
    )

    receiver = Receiver()
    receiver.start()
    with cetate_server(store, workers=args.workers) as base:
        ours = bench_upsert(base, batches, args.entities, args.clients)
        plain = baseline_executemany(store, batches, args.entities)
        print(
            f"1. batch upsert: {ours:,.0f} entities/s; plain executemany {plain:,.0f} rows/s; ratio {ours / plain:.2f}"
        )

        get_ours = wrk(base, GET_SCRIPT % (args.entities - 1), 16, args.seconds)
        with bare_server(args.workers) as bare:
            get_bare = wrk(bare, GET_SCRIPT % (args.entities - 1), 16, args.seconds)
            patch_bare = wrk(bare, PATCH_SCRIPT % (args.entities - 1), 16, args.seconds)
        print(
            f"2. GET by id: {get_ours.requests_per_s:,.0f}/s (p99 {get_ours.p99_ms:.1f} ms, non-2xx {get_ours.non_2xx}); "
            f"bare FastAPI {get_bare.requests_per_s:,.0f}/s; ratio {get_ours.requests_per_s / get_bare.requests_per_s:.2f}"
        )

        timings = bench_query(base, args.queries)
        print(f"4. query type+q+near 500 m over {args.entities:,}: {summary(timings)}")

        subscribe(base, receiver)
        answers: list[float] = []
        prober = threading.Thread(
            target=probe_latency, args=(base, receiver, args.seconds - 1, answers)
        )
        before = receiver.received
        prober.start()
        patch_ours = wrk(base, PATCH_SCRIPT % (args.entities - 1), 16, args.seconds)
        prober.join()
        time.sleep(2)  # let the last notifications arrive
        print(
            f"3. PATCH, 10 subscriptions: {patch_ours.requests_per_s:,.0f}/s (p99 {patch_ours.p99_ms:.1f} ms, "
            f"non-2xx {patch_ours.non_2xx}); bare FastAPI {patch_bare.requests_per_s:,.0f}/s; "
            f"ratio {patch_ours.requests_per_s / patch_bare.requests_per_s:.2f}; "
            f"notifications received {receiver.received - before:,}"
        )
        latencies = [(arrived - sent) * 1000 for sent, arrived in receiver.probes if sent > 0]
        print(
            f"5. notification latency under that load ({len(latencies)} probes): "
            f"p50 {percentile(latencies, 0.5):.1f} ms, p99 {percentile(latencies, 0.99):.1f} ms "
            f"(of which the update's own acknowledgement: p50 {percentile(answers, 0.5):.1f} ms, "
            f"p99 {percentile(answers, 0.99):.1f} ms)"
        )
    receiver.stop()


if __name__ == "__main__":
    main()
