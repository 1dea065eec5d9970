"""GTFS static into the hub: the real Mińsk Mazowiecki feed, and the same feed grown to a
million stop times, each imported (read + checked + written) into a fresh SQLite hub.

    python benchmarks/ingest_gtfs.py [--feed PATH] [--stop-times 1000000] [--step-s 20] [--repeat 3]

1. the real feed (a zip: 249 trips, 7,468 stop times): ``import_feed`` into an empty hub;
2. the grown feed: every trip repeated under a new id, copy k (k = 1, 2, ...) named
   ``{trip_id}~{k}`` with all its times shifted k x ``--step-s`` seconds later (20 s: the copies
   of a morning run leave 20 s, 40 s, ... after it), whole trips added until the stop times reach
   ``--stop-times``; written as a folder of .txt files in a temporary directory (not timed), then
   imported into an empty hub; then imported again unchanged (every entity compared, nothing
   written), and the transit timetable built from the hub (the first departures query);
3. baselines, the "just reading" floor on the same files: Python's ``csv.reader`` over every
   row of every file the import reads, and ``pandas.read_csv`` of the same files (when pandas is
   installed), neither checking nor writing anything.

Each measurement runs in a fresh Python process (medians of ``--repeat`` rounds for the small
feed; one round for the grown one unless asked). Targets (issue #4): the real feed <= 5 s, a
million stop times <= 60 s.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_FEED = ROOT.parent / "shared" / "data" / "gtfs" / "minsk-mazowiecki" / "minsk-maz_gtfs.zip"
REAL_TARGET_S = 5.0
GROWN_TARGET_S = 60.0
FILES = (
    "agency.txt",
    "stops.txt",
    "routes.txt",
    "trips.txt",
    "stop_times.txt",
    "calendar.txt",
    "calendar_dates.txt",
    "shapes.txt",
    "feed_info.txt",
)

OURS = """
import json, resource, sys, time
from pathlib import Path
started = time.perf_counter()
from cetate.config import Settings
from cetate.hub.context import ContextResolver
from cetate.hub.service import Hub
from cetate.hub.store.sqlite import SqliteStore
from cetate.ingest.gtfs import import_feed
from cetate.mobility.transit import Transit
imported = time.perf_counter()
hub = Hub(SqliteStore(Path(sys.argv[2]) / "hub.db"), ContextResolver(directory=None, allow_remote=False),
          Settings(store="unused", allow_remote_contexts=False))
report = import_feed(hub, Path(sys.argv[1]), "bench")
result = {"imports": imported - started, **report.as_dict(),
          "importRssMB": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}
if sys.argv[3] == "again":
    again = import_feed(hub, Path(sys.argv[1]), "bench")
    result["again"] = {"seconds": again.seconds, "unchanged": again.unchanged}
    t = time.perf_counter()
    timetable = Transit(hub).timetable("bench")
    result["timetable_s"] = time.perf_counter() - t
    result["timetableStopTimes"] = timetable.stop_time_count
hub.close()
result["maxRssMB"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps(result))
"""

CSV_FLOOR = """
import csv, io, json, sys, time, zipfile
from pathlib import Path
files = sys.argv[2:]
path = Path(sys.argv[1])
started = time.perf_counter()
rows = 0
archive = zipfile.ZipFile(path) if path.is_file() else None
for name in files:
    if archive is not None:
        if name not in archive.namelist():
            continue
        handle = io.TextIOWrapper(archive.open(name), encoding="utf-8-sig", newline="")
    else:
        if not (path / name).exists():
            continue
        handle = open(path / name, encoding="utf-8-sig", newline="")
    with handle:
        for _ in csv.reader(handle):
            rows += 1
print(json.dumps({"seconds": time.perf_counter() - started, "rows": rows}))
"""

PANDAS_FLOOR = """
import json, sys, time, zipfile
from pathlib import Path
import pandas
files = sys.argv[2:]
path = Path(sys.argv[1])
started = time.perf_counter()
rows = 0
archive = zipfile.ZipFile(path) if path.is_file() else None
for name in files:
    if archive is not None:
        if name not in archive.namelist():
            continue
        frame = pandas.read_csv(archive.open(name), dtype=str, keep_default_na=False)
    else:
        if not (path / name).exists():
            continue
        frame = pandas.read_csv(path / name, dtype=str, keep_default_na=False)
    rows += len(frame)
print(json.dumps({"seconds": time.perf_counter() - started, "rows": rows}))
"""


def run(code: str, *args: str) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "-c", code, *args], capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise SystemExit(f"benchmark: a measurement failed:\n{done.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def import_once(feed: Path, again: bool = False) -> dict[str, Any]:
    home = Path(tempfile.mkdtemp(prefix="cetate-bench-gtfs-hub-"))
    try:
        return run(OURS, str(feed), str(home), "again" if again else "once")
    finally:
        shutil.rmtree(home, ignore_errors=True)


def has_pandas() -> bool:
    done = subprocess.run([sys.executable, "-c", "import pandas"], capture_output=True, check=False)
    return done.returncode == 0


def _seconds(text: str) -> int:
    hours, minutes, seconds = text.split(":")
    return int(hours) * 3600 + int(minutes) * 60 + int(seconds)


def _clock(seconds: int) -> str:
    return f"{seconds // 3600:02d}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


def grow(source: Path, folder: Path, target: int, step_s: int) -> tuple[int, int, int]:
    """Write ``source`` with its trips repeated until ``target`` stop times (see the module
    docstring); returns (copies, trips, stop times)."""
    with zipfile.ZipFile(source) as archive:
        texts = {n: archive.read(n).decode("utf-8-sig") for n in archive.namelist()}
    for name, text in texts.items():
        if name not in ("trips.txt", "stop_times.txt"):
            (folder / name).write_text(text, encoding="utf-8")
    trips = list(csv.reader(io.StringIO(texts["trips.txt"])))
    stop_times = list(csv.reader(io.StringIO(texts["stop_times.txt"])))
    trip_header, trip_rows = trips[0], trips[1:]
    header, rows = stop_times[0], stop_times[1:]
    t_trip = trip_header.index("trip_id")
    s_trip, s_arr, s_dep = (header.index(c) for c in ("trip_id", "arrival_time", "departure_time"))
    by_trip: dict[str, list[list[str]]] = {}
    for row in rows:
        by_trip.setdefault(row[s_trip], []).append(row)
    written_trips = written_times = 0
    copy = 0
    with (
        (folder / "trips.txt").open("w", newline="", encoding="utf-8") as trips_file,
        (folder / "stop_times.txt").open("w", newline="", encoding="utf-8") as times_file,
    ):
        trips_out, times_out = csv.writer(trips_file), csv.writer(times_file)
        trips_out.writerow(trip_header)
        times_out.writerow(header)
        while written_times < target:
            shift = copy * step_s
            for trip in trip_rows:
                if written_times >= target:
                    break
                original = trip[t_trip]
                new_id = original if copy == 0 else f"{original}~{copy}"
                trip_out = list(trip)
                trip_out[t_trip] = new_id
                trips_out.writerow(trip_out)
                written_trips += 1
                for row in by_trip.get(original, []):
                    out = list(row)
                    out[s_trip] = new_id
                    if shift:
                        for column in (s_arr, s_dep):
                            if out[column]:
                                out[column] = _clock(_seconds(out[column]) + shift)
                    times_out.writerow(out)
                    written_times += 1
            copy += 1
    return copy, written_trips, written_times


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def verdict(met: bool, detail: str) -> str:
    return f"{'PASS' if met else 'FAIL'}: {detail}"


def floors(path: Path, rounds: int) -> tuple[float, float | None]:
    csv_s = median([run(CSV_FLOOR, str(path), *FILES)["seconds"] for _ in range(rounds)])
    pandas_s = None
    if has_pandas():
        pandas_s = median([run(PANDAS_FLOOR, str(path), *FILES)["seconds"] for _ in range(rounds)])
    return csv_s, pandas_s


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--feed", type=Path, default=DEFAULT_FEED, help="a GTFS zip")
    parser.add_argument("--stop-times", type=int, default=1_000_000, help="size of the grown feed")
    parser.add_argument("--step-s", type=int, default=20, help="time shift between copies (s)")
    parser.add_argument("--repeat", type=int, default=3, help="rounds for the real feed")
    parser.add_argument("--grown-repeat", type=int, default=1, help="rounds for the grown feed")
    args = parser.parse_args()
    if not args.feed.is_file():
        print(f"SKIP: no GTFS feed at {args.feed} (give one with --feed PATH)")
        return

    real = [import_once(args.feed) for _ in range(args.repeat)]
    real_s = median([r["seconds"] for r in real])
    csv_s, pandas_s = floors(args.feed, args.repeat)
    counts = real[0]["counts"]
    print(
        f"machine: {subprocess.run(['nproc'], capture_output=True, text=True).stdout.strip()} "
        f"CPUs; Python {sys.version.split()[0]}; each measurement in a fresh process"
    )
    entities = sum(v for k, v in counts.items() if k != "stopTimes")
    runs = ", ".join(f"{r['seconds']:.3f}" for r in real)
    read_s = median([r["read_s"] for r in real])
    write_s = median([r["write_s"] for r in real])
    imports_s = median([r["imports"] for r in real])
    print(
        f"1. real feed {args.feed.name}: {counts['GtfsTrip']:,} trips, "
        f"{counts['stopTimes']:,} stop times, {entities:,} entities: import {real_s:.3f} s "
        f"(median of {args.repeat}: {runs} s; read+check {read_s:.3f} s, write {write_s:.3f} s); "
        f"imports {imports_s:.2f} s"
    )
    line = (
        f"   floor, reading every row: csv.reader {csv_s:.3f} s (ours / csv {real_s / csv_s:.1f}x)"
    )
    if pandas_s is not None:
        line += f"; pandas.read_csv {pandas_s:.3f} s (ours / pandas {real_s / pandas_s:.1f}x)"
    print(line)

    folder = Path(tempfile.mkdtemp(prefix="cetate-bench-gtfs-feed-"))
    try:
        copies, trips, times = grow(args.feed, folder, args.stop_times, args.step_s)
        size_mb = sum(p.stat().st_size for p in folder.iterdir()) / 1e6
        grown = [import_once(folder, again=True) for _ in range(args.grown_repeat)]
        grown_s = median([g["seconds"] for g in grown])
        runs = ", ".join(f"{g['seconds']:.1f}" for g in grown)
        read_g = median([g["read_s"] for g in grown])
        write_g = median([g["write_s"] for g in grown])
        rss_g = median([g["importRssMB"] for g in grown])
        rss_all = median([g["maxRssMB"] for g in grown])
        again_s = median([g["again"]["seconds"] for g in grown])
        timetable_s = median([g["timetable_s"] for g in grown])
        g = grown[0]
        csv_g, pandas_g = floors(folder, 1)
        print(
            f"2. grown feed: {copies} copies shifted {args.step_s} s apart, {trips:,} trips, "
            f"{times:,} stop times, {size_mb:.0f} MB of CSV: import {grown_s:.1f} s "
            f"(runs {runs} s; read+check {read_g:.1f} s, write {write_g:.1f} s; "
            f"{g['created']:,} entities; peak RSS {rss_g:.0f} MB)"
        )
        print(
            f"   again, unchanged: {again_s:.1f} s ({g['again']['unchanged']:,} entities "
            f"compared, none written); transit timetable built from the hub in {timetable_s:.1f} s "
            f"({g['timetableStopTimes']:,} stop times); peak RSS of the three {rss_all:.0f} MB"
        )
        line = f"   floor, reading every row: csv.reader {csv_g:.2f} s (ours / csv {grown_s / csv_g:.1f}x)"
        if pandas_g is not None:
            line += f"; pandas.read_csv {pandas_g:.2f} s (ours / pandas {grown_s / pandas_g:.1f}x)"
        print(line)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    print(
        verdict(
            real_s <= REAL_TARGET_S, f"real feed {real_s:.3f} s (target <= {REAL_TARGET_S:.0f} s)"
        )
    )
    print(
        verdict(
            grown_s <= GROWN_TARGET_S,
            f"{times:,} stop times {grown_s:.1f} s (target <= {GROWN_TARGET_S:.0f} s)",
        )
    )


if __name__ == "__main__":
    main()
