#!/usr/bin/env python3
"""Fit the demo city's sensor profiles to real series and write src/cetate/demo/profiles.json.

The demo generator (``cetate.demo.generator``) commits only the parameters written here;
the data stay in the shared data directory (default ``../shared/data`` next to the repo):

* ``sensors/aarhus-parking/aarhus_parking_2014-05_to_09.csv``: 8 Aarhus (DK) car parks,
  one reading every ~30 min, 2014-05-22 .. 2014-09-30 (CityPulse / Aarhus open data).
* ``sensors/airquality-uci/AirQualityUCI.csv``: hourly reference-analyser concentrations
  and weather at a road-level station in an Italian city, 2004-03-10 .. 2005-04-04
  (UCI "Air Quality", De Vito et al. 2008); -200 marks a missing value.

Model, per quantity (``y`` = log(value) for positive quantities, ``y`` = value for
temperature, which crosses 0 °C)::

    y(t) = mu + s[day_type(t), hour(t)] + m[month(t)] + x(t)
    x(t) = phi * x(t - step) + sigma * N(0, 1)                      (AR(1) residual)

so that ``value = level * shape * month_factor * exp(x)`` with ``level = exp(mu)`` (the
geometric mean) or ``value = level + shape + month_offset + x`` for temperature.

* day types: Monday-Friday, Saturday, Sunday (Saturdays and Sundays differ: shops open on
  Saturday). ``s`` is 24 hourly values per day type: the hour means of the partial
  residuals, smoothed by a weighted least-squares Fourier series of ``HARMONICS``
  harmonics (hours with few readings get little weight: NOx is almost never reported at
  03:00, probably the analyser's daily calibration). ``s`` averages to 0 over the week
  (weights 5:1:1), so ``level`` is the typical value.
* ``m``: one value per calendar month, averaging 0 over the months, tried for the
  air-quality series (a full year) and kept only where it raises the held-out R² (NOx's
  season is a factor of 5; CO's and benzene's month means do not carry over from one week
  to the next). The parking series covers May-September only: no month term.
* parking: ``vehiclecount / totalspaces`` clipped to [0, 1], pooled over garages with a
  per-garage offset (the "level factor" of each car park). Garages whose readings are not
  occupancy are left out and reported: more than 1 % of readings above capacity (counter
  drift) or more than 90 % equal to the previous one (stuck feed). A 0 is a feed dropout.
* the terms are fitted by backfitting (alternating hour, month and garage means), then
  ``phi`` and ``sigma`` by least squares on consecutive residual pairs one ``step`` apart.
* fit quality: the model is re-fitted without every ``HOLDOUT_EVERY``-th week and scored
  on those held-out weeks: R² of each reading (in the model domain: log or °C) and R² of
  the held-out hour-of-week means (how well the shape itself carries over).

Traffic intensity: there is no traffic-count data set, so none is invented. Its shape is
the NOx_GT shape (NOx at a road-level station is dominated by exhaust and so tracks
traffic), scaled so that the weekly peak is ``--traffic-peak-vph`` vehicles/hour. NOx also
follows the weather (night-time inversions keep it high, midday mixing dilutes it), so the
derived shape overstates night traffic relative to midday; it has no month term (NOx's
season is mostly weather). Its residual keeps NOx's persistence (phi) but the size of the
hour-to-hour variation is an assumption (``--traffic-noise``), stated as such in the JSON.

Run from the repository root (prints a short summary)::

    .venv/bin/python scripts/fit_demo_profiles.py [DATA_DIR] [--out FILE]

The tests re-run ``fit()`` on the real data and compare it with the committed JSON.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
DEFAULT_DATA = REPO.parent / "shared" / "data"
DEFAULT_OUT = REPO / "src" / "cetate" / "demo" / "profiles.json"
PARKING_CSV = Path("sensors") / "aarhus-parking" / "aarhus_parking_2014-05_to_09.csv"
AIR_CSV = Path("sensors") / "airquality-uci" / "AirQualityUCI.csv"

DAY_TYPES = ("weekday", "saturday", "sunday")
DAY_WEIGHTS = np.array([5.0, 1.0, 1.0]) / 7.0  # share of the week of each day type
HARMONICS = 6  # Fourier harmonics per day type: smooth, yet keeps the rush-hour peaks
HOLDOUT_EVERY = 4  # weeks 3, 7, 11, ... (counted from the first Monday) are held out
BACKFIT_ROUNDS = 30
STEP_TOLERANCE = 0.25  # residual pairs whose gap is within 25 % of the step count for AR(1)
DIGITS = 6  # significant digits in the JSON

# Parking garages are left out when their readings are not occupancy.
MAX_OVER_CAPACITY = 0.01  # share of readings above totalspaces (counter drift)
MAX_UNCHANGED = 0.9  # share of consecutive readings equal to the previous one (stuck feed)

TRAFFIC_PEAK_VPH = 1200.0  # weekly peak of the demo arterial, vehicles/hour (configurable)
TRAFFIC_NOISE = 0.15  # stationary sd of the log residual of traffic (assumed, configurable)
TRAFFIC_HEADROOM = 1.5  # upper bound = headroom * peak (assumed)

AIR_QUANTITIES: tuple[tuple[str, str, str, bool], ...] = (
    # key, column, unit, log model (False: additive, for temperature)
    ("co", "CO_GT", "mg/m3", True),
    ("no2", "NO2_GT", "µg/m3", True),
    ("nox", "NOx_GT", "ppb", True),
    ("c6h6", "C6H6_GT", "µg/m3", True),
    ("temperature", "T", "°C", False),
    ("relative_humidity", "RH", "%", True),
)

SOURCES: dict[str, dict[str, str]] = {
    "aarhus-parking": {
        "title": "CityPulse / Aarhus parking-garage occupancy (DK, 2014)",
        "file": str(PARKING_CSV),
        "origin": (
            "Aarhus open parking feed as collected by the EU FP7 CityPulse project (per "
            "SOURCES.md; not verifiable from the mirror), copied from "
            "github.com/Lyfae/AAI-530-Final-Project @ 4a458c8a55b7de421694b4ce48d658c6ebb002ab "
            "(aarhus_parking.csv)"
        ),
        "licence": (
            "none stated in the mirror repository; check the CityPulse dataset terms "
            "before redistributing the data (only fitted parameters are committed here)"
        ),
    },
    "airquality-uci": {
        "title": 'UCI Machine Learning Repository "Air Quality" (an Italian city, 2004-2005)',
        "file": str(AIR_CSV),
        "origin": (
            "UCI ML Repository Air Quality data set (De Vito et al., Sensors and Actuators B "
            "129(2), 2008, citation requested by the data set), copied re-formatted from "
            "github.com/ahmetmenevse/UCI_airquality @ 7a5b1d23b342177edcb1775e2b012057fdc41cb3"
        ),
        "licence": (
            "none stated in the mirror repository; check UCI's terms (only fitted "
            "parameters are committed here)"
        ),
    },
}


@dataclass
class Series:
    """Readings of one quantity (several units: garages) on the wall clock of the data."""

    seconds: np.ndarray  # wall-clock time as seconds (only differences are used)
    day_type: np.ndarray  # 0 weekday, 1 Saturday, 2 Sunday
    hour: np.ndarray  # 0..23
    month: np.ndarray  # 0..11
    week: np.ndarray  # weeks since the Monday before the first reading
    unit: np.ndarray  # garage index (0 when there is a single series)
    y: np.ndarray  # log(value) or value
    step: float  # nominal seconds between readings
    first: datetime
    last: datetime

    def subset(self, keep: np.ndarray) -> Series:
        return Series(
            self.seconds[keep],
            self.day_type[keep],
            self.hour[keep],
            self.month[keep],
            self.week[keep],
            self.unit[keep],
            self.y[keep],
            self.step,
            self.first,
            self.last,
        )


def _series(times: Sequence[datetime], units: Sequence[int], y: np.ndarray, step: float) -> Series:
    first = min(times)
    epoch = datetime.fromordinal(first.toordinal() - first.weekday())  # Monday 00:00
    seconds = np.array([(t - epoch).total_seconds() for t in times])
    weekday = np.array([t.weekday() for t in times])
    return Series(
        seconds=seconds,
        day_type=np.where(weekday < 5, 0, weekday - 4),
        hour=np.array([t.hour for t in times]),
        month=np.array([t.month - 1 for t in times]),
        week=(seconds // (7 * 86400)).astype(int),
        unit=np.asarray(units, dtype=int),
        y=y,
        step=step,
        first=first,
        last=max(times),
    )


# --- reading -----------------------------------------------------------------------------


@dataclass
class Parking:
    series: Series
    garages: list[str]
    excluded: dict[str, str]
    dropouts: int


def read_parking(path: Path) -> Parking:
    """Occupancy ratio per garage; garages whose readings are not occupancy are left out."""
    by_garage: dict[str, list[tuple[datetime, int, int]]] = {}
    with path.open(newline="") as f:
        for row in csv.DictReader(f):
            by_garage.setdefault(row["garagecode"], []).append(
                (
                    datetime.fromisoformat(row["updatetime"]),
                    int(row["vehiclecount"]),
                    int(row["totalspaces"]),
                )
            )
    excluded: dict[str, str] = {}
    times: list[datetime] = []
    units: list[int] = []
    ratios: list[float] = []
    garages: list[str] = []
    dropouts = 0
    for code in sorted(by_garage):
        readings = sorted(by_garage[code])
        count = np.array([r[1] for r in readings])
        spaces = np.array([r[2] for r in readings])
        over = float(np.mean(count > spaces))
        unchanged = float(np.mean(np.diff(count) == 0))
        if over > MAX_OVER_CAPACITY:
            excluded[code] = f"{over:.1%} of readings exceed totalspaces ({spaces[0]})"
            continue
        if unchanged > MAX_UNCHANGED:
            excluded[code] = f"{unchanged:.1%} of readings repeat the previous one (stuck)"
            continue
        garages.append(code)
        for t, n, total in readings:
            if n == 0:
                dropouts += 1
                continue
            times.append(t)
            units.append(len(garages) - 1)
            ratios.append(min(n / total, 1.0))
    series = _series(times, units, np.log(np.array(ratios)), step=1800.0)
    return Parking(series, garages, excluded, dropouts)


@dataclass
class Air:
    times: list[datetime]
    columns: dict[str, np.ndarray]  # NaN where missing (-200)


def read_air(path: Path) -> Air:
    times: list[datetime] = []
    raw: dict[str, list[float]] = {column: [] for _, column, _, _ in AIR_QUANTITIES}
    with path.open(newline="") as f:
        for row in csv.DictReader(f):
            if not row["Date"]:
                continue
            times.append(datetime.strptime(f"{row['Date']} {row['Time']}", "%d/%m/%Y %H:%M:%S"))
            for column, values in raw.items():
                value = float(row[column])
                values.append(math.nan if value == -200 else value)
    return Air(times, {column: np.array(values) for column, values in raw.items()})


def air_series(air: Air, column: str, log: bool) -> Series:
    values = air.columns[column]
    ok = ~np.isnan(values)
    times = [t for t, keep in zip(air.times, ok, strict=True) if keep]
    y = np.log(values[ok]) if log else values[ok]
    return _series(times, [0] * len(times), y, step=3600.0)


# --- fitting -----------------------------------------------------------------------------


@dataclass
class Components:
    mu: float
    shape: np.ndarray  # (3, 24)
    month: np.ndarray | None  # (12,)
    unit: np.ndarray  # (n_units,)

    def predict(self, s: Series) -> np.ndarray:
        out: np.ndarray = self.mu + self.shape[s.day_type, s.hour] + self.unit[s.unit]
        if self.month is not None:
            out = out + self.month[s.month]
        return out


def _fourier_smooth(means: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Weighted least-squares fit of ``HARMONICS`` harmonics to 24 hourly means."""
    hours = np.arange(24) + 0.5
    columns = [np.ones(24)]
    for k in range(1, HARMONICS + 1):
        angle = 2 * math.pi * k * hours / 24
        columns += [np.cos(angle), np.sin(angle)]
    design = np.stack(columns, axis=1)
    w = np.sqrt(counts)
    coef, *_ = np.linalg.lstsq(design * w[:, None], np.nan_to_num(means) * w, rcond=None)
    smooth: np.ndarray = design @ coef
    return smooth


def _group_means(values: np.ndarray, index: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    counts = np.bincount(index, minlength=size).astype(float)
    sums = np.bincount(index, weights=values, minlength=size)
    with np.errstate(invalid="ignore", divide="ignore"):
        return sums / counts, counts


def fit_components(s: Series, use_month: bool) -> Components:
    n_units = int(s.unit.max()) + 1
    mu = float(np.mean(s.y))
    shape = np.zeros((3, 24))
    month = np.zeros(12) if use_month else None
    unit = np.zeros(n_units)
    cell = s.day_type * 24 + s.hour
    for _ in range(BACKFIT_ROUNDS):
        base = mu + unit[s.unit] + (month[s.month] if month is not None else 0.0)
        means, counts = _group_means(s.y - base, cell, 72)
        for d in range(3):
            shape[d] = _fourier_smooth(means[d * 24 : (d + 1) * 24], counts[d * 24 : (d + 1) * 24])
        centre = float(np.sum(DAY_WEIGHTS[:, None] * shape) / 24)
        shape -= centre
        if month is not None:
            means, counts = _group_means(
                s.y - mu - shape[s.day_type, s.hour] - unit[s.unit], s.month, 12
            )
            present = counts > 0
            month = np.where(present, means, 0.0)
            month[present] -= month[present].mean()
        if n_units > 1:
            rest = s.y - mu - shape[s.day_type, s.hour]
            if month is not None:
                rest = rest - month[s.month]
            unit, _ = _group_means(rest, s.unit, n_units)
            unit -= unit.mean()
        fitted = Components(0.0, shape, month, unit).predict(s)
        mu = float(np.mean(s.y - fitted))
    return Components(mu, shape, month, unit)


def fit_ar1(s: Series, residual: np.ndarray) -> tuple[float, float, int]:
    """phi, sigma (innovation sd per step) and the number of pairs exactly one step apart."""
    order = np.lexsort((s.seconds, s.unit))
    t, u, x = s.seconds[order], s.unit[order], residual[order]
    gap = np.diff(t)
    pair = (u[1:] == u[:-1]) & (np.abs(gap - s.step) <= STEP_TOLERANCE * s.step)
    x0, x1 = x[:-1][pair], x[1:][pair]
    phi = float(np.sum(x0 * x1) / np.sum(x0 * x0))
    sigma = float(np.sqrt(np.mean((x1 - phi * x0) ** 2)))
    return phi, sigma, int(pair.sum())


def holdout_scores(s: Series, use_month: bool) -> dict[str, float]:
    held = s.week % HOLDOUT_EVERY == HOLDOUT_EVERY - 1
    train, test = s.subset(~held), s.subset(held)
    c = fit_components(train, use_month)
    pred = c.predict(test)
    r2_hourly = 1 - np.sum((test.y - pred) ** 2) / np.sum((test.y - test.y.mean()) ** 2)
    # the shape alone: held-out hour-of-week means (level, month and garage removed)
    rest = test.y - (pred - c.shape[test.day_type, test.hour])
    means, counts = _group_means(rest, test.day_type * 24 + test.hour, 72)
    ok = counts > 0
    target, model, w = means[ok], c.shape.ravel()[ok], counts[ok]
    centre = np.sum(w * target) / np.sum(w)
    r2_profile = 1 - np.sum(w * (target - model) ** 2) / np.sum(w * (target - centre) ** 2)
    return {
        "r2_holdout_hourly": float(r2_hourly),
        "r2_holdout_profile": float(r2_profile),
        "holdout_weeks": len(np.unique(test.week)),
        "holdout_readings": int(test.y.size),
    }


def _round(value: float) -> float:
    return float(f"{value:.{DIGITS}g}")


def _rounded(values: np.ndarray) -> list[float]:
    return [_round(float(v)) for v in values]


def profile(
    s: Series,
    *,
    unit: str,
    log: bool,
    month_term: bool,
    lo: float,
    hi: float,
    source: str,
    column: str,
) -> tuple[dict[str, Any], Components]:
    # the month term is kept only where it carries over to the held-out weeks
    scores = {use: holdout_scores(s, use) for use in ((False, True) if month_term else (False,))}
    use_month = max(scores, key=lambda use: scores[use]["r2_holdout_hourly"])
    c = fit_components(s, use_month)
    residual = s.y - c.predict(s)
    phi, sigma, pairs = fit_ar1(s, residual)
    natural = np.exp if log else (lambda a: a)
    entry: dict[str, Any] = {
        "unit": unit,
        "mode": "multiplicative" if log else "additive",
        "level": _round(math.exp(c.mu) if log else c.mu),
        **{name: _rounded(natural(c.shape[d])) for d, name in enumerate(DAY_TYPES)},
        "monthly": None if c.month is None else _rounded(natural(c.month)),
        "ar_phi": _round(phi),
        "ar_sigma": _round(sigma),
        "step_s": s.step,
        "lo": _round(lo),
        "hi": _round(hi),
        "source": source,
        "column": column,
        "fit": {
            "period": [f"{s.first:%Y-%m-%d %H:%M}", f"{s.last:%Y-%m-%d %H:%M}"],
            "readings": int(s.y.size),
            "ar_pairs": pairs,
            "residual_sd": _round(float(np.std(residual))),
            **{k: _round(v) if isinstance(v, float) else v for k, v in scores[use_month].items()},
        },
    }
    if month_term:
        with_month, without = (scores[u]["r2_holdout_hourly"] for u in (True, False))
        entry["fit"]["monthly_term"] = (
            f"{'kept' if use_month else 'dropped'}: held-out hourly R² {with_month:.3f} with it, "
            f"{without:.3f} without"
        )
    return entry, c


def fit(
    data_dir: Path,
    traffic_peak_vph: float = TRAFFIC_PEAK_VPH,
    traffic_noise: float = TRAFFIC_NOISE,
) -> dict[str, Any]:
    """All profiles, as written to profiles.json."""
    profiles: dict[str, Any] = {}

    parking = read_parking(data_dir / PARKING_CSV)
    entry, c = profile(
        parking.series,
        unit="ratio",
        log=True,
        month_term=False,
        lo=0.0,
        hi=1.0,
        source="aarhus-parking",
        column="vehiclecount / totalspaces",
    )
    entry["fit"]["garages"] = {
        code: _round(math.exp(a)) for code, a in zip(parking.garages, c.unit, strict=True)
    }
    entry["fit"]["excluded_garages"] = parking.excluded
    entry["fit"]["dropouts_ignored"] = parking.dropouts
    entry["description"] = (
        "occupancy ratio of a car park; level is the typical (geometric-mean) ratio of the "
        "kept garages, fit.garages the level factor of each"
    )
    profiles["parking_occupancy"] = entry

    air = read_air(data_dir / AIR_CSV)
    for key, column, unit, log in AIR_QUANTITIES:
        s = air_series(air, column, log)
        values = np.exp(s.y) if log else s.y
        entry, _ = profile(
            s,
            unit=unit,
            log=log,
            month_term=True,
            lo=float(values.min()),
            hi=float(values.max()),
            source="airquality-uci",
            column=column,
        )
        profiles[key] = entry

    nox = profiles["nox"]
    peak = max(max(nox[name]) for name in DAY_TYPES)
    phi = nox["ar_phi"]
    profiles["traffic_intensity"] = {
        "unit": "vehicles/h",
        "mode": "multiplicative",
        "level": _round(traffic_peak_vph / peak),
        **{name: nox[name] for name in DAY_TYPES},
        "monthly": None,
        "ar_phi": phi,
        "ar_sigma": _round(traffic_noise * math.sqrt(1 - phi * phi)),
        "step_s": nox["step_s"],
        "lo": 0.0,
        "hi": _round(TRAFFIC_HEADROOM * traffic_peak_vph),
        "source": "airquality-uci",
        "column": "NOx_GT",
        "derived_from": (
            "NOx_GT daily/weekly shape (no traffic-count data set is used: NOx at a road-level "
            "station is dominated by exhaust, so its shape tracks traffic; it also follows the "
            "weather, so night traffic is overstated relative to midday). No month term."
        ),
        "assumptions": {
            "peak_vph": traffic_peak_vph,
            "noise_sd": traffic_noise,
            "hi": f"{TRAFFIC_HEADROOM} x peak_vph",
            "ar_phi": "NOx_GT's fitted phi",
            "ar_sigma": "chosen so that the stationary log sd is noise_sd (not fitted)",
        },
    }

    return {
        "about": (
            "Demo sensor profiles fitted to real series by scripts/fit_demo_profiles.py; "
            "only these parameters are committed. See docs/demo-sensors.md."
        ),
        "refit": ".venv/bin/python scripts/fit_demo_profiles.py [DATA_DIR]",
        "model": {
            "formula": (
                "multiplicative: value = level * shape[day_type][hour] * monthly[month] * "
                "exp(x); additive: value = level + shape + monthly + x; "
                "x(t) = phi**(dt/step_s) * x(t-dt) + innovation, stationary sd = "
                "ar_sigma / sqrt(1 - ar_phi**2); value clipped to [lo, hi]"
            ),
            "day_types": {
                "weekday": "Monday-Friday",
                "saturday": "Saturday",
                "sunday": "Sunday",
            },
            "hours": (
                "24 values per day type; value h is the hour h:00-h:59, placed at h:30 and "
                "interpolated linearly between hours (across midnight too)"
            ),
            "monthly": "12 values placed mid-month, interpolated linearly; null: none",
            "level": "multiplicative: geometric mean (median-like typical value)",
            "harmonics": HARMONICS,
            "holdout": f"every {HOLDOUT_EVERY}th week held out, model refitted on the rest",
            "clock": (
                "shapes are on the local wall clock of each data set (no DST in the files); "
                "the generator applies them on the local clock of the demo city"
            ),
        },
        "sources": SOURCES,
        "profiles": profiles,
    }


def summary(result: dict[str, Any]) -> str:
    lines = [
        f"{'profile':<18} {'unit':<10} {'level':>9} {'wd 3h':>9} {'wd 8h':>9} {'wd 13h':>9} "
        f"{'phi':>6} {'sigma':>6} {'R2 hour':>7} {'R2 shape':>8}"
    ]
    for key, p in result["profiles"].items():

        def at(h: int, p: dict[str, Any] = p) -> float:
            if p["mode"] == "additive":
                return float(p["level"] + p["weekday"][h])
            return float(p["level"] * p["weekday"][h])

        fit = p.get("fit", {})  # none for the derived traffic profile
        r2 = [
            f"{fit[k]:.3f}" if k in fit else "-"
            for k in ("r2_holdout_hourly", "r2_holdout_profile")
        ]
        lines.append(
            f"{key:<18} {p['unit']:<10} {p['level']:>9.4g} {at(3):>9.4g} {at(8):>9.4g} "
            f"{at(13):>9.4g} {p['ar_phi']:>6.3f} {p['ar_sigma']:>6.3f} {r2[0]:>7} {r2[1]:>8}"
        )
    lines.append(
        "wd Nh: level x weekday shape of hour N (typical value, before any month factor); "
        "R2: on held-out weeks, of each reading (log or °C) and of the hour-of-week shape"
    )
    parking = result["profiles"]["parking_occupancy"]["fit"]
    lines.append(f"parking garages kept: {', '.join(parking['garages'])}")
    for code, why in parking["excluded_garages"].items():
        lines.append(f"parking garage left out: {code}: {why}")
    lines.append("traffic_intensity: shape derived from NOx_GT (no traffic data), peak scaled")
    return "\n".join(lines)


def dumps(result: dict[str, Any]) -> str:
    """Indented JSON with each list of numbers on one line."""
    text = json.dumps(result, indent=1, ensure_ascii=False)
    numbers = re.compile(r"\[\s*((?:-?[0-9.e+-]+,\s*)*-?[0-9.e+-]+)\s*\]")
    one_line = numbers.sub(
        lambda m: "[" + ", ".join(x.strip() for x in m.group(1).split(",")) + "]", text
    )
    return one_line + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("data_dir", nargs="?", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--traffic-peak-vph", type=float, default=TRAFFIC_PEAK_VPH)
    parser.add_argument("--traffic-noise", type=float, default=TRAFFIC_NOISE)
    args = parser.parse_args(argv)
    for relative in (PARKING_CSV, AIR_CSV):
        if not (args.data_dir / relative).is_file():
            print(f"error: {args.data_dir / relative} not found", file=sys.stderr)
            return 2
    result = fit(args.data_dir, args.traffic_peak_vph, args.traffic_noise)
    args.out.write_text(dumps(result), encoding="utf-8")
    print(summary(result))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
