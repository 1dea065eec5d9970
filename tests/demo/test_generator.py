"""The demo sensor generator: reproducible, bounded, and shaped like the real series behind it."""

from __future__ import annotations

import csv
import importlib.util
import json
import math
import sys
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import ModuleType
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pytest

from cetate.demo.generator import (
    PROFILES_FILE,
    Profile,
    SensorSeries,
    expected,
    load_profiles,
)

REPO = Path(__file__).parents[2]
BUCHAREST = ZoneInfo("Europe/Bucharest")
MONDAY = datetime(2026, 1, 5, tzinfo=BUCHAREST)  # 00:00 local
PROFILES = load_profiles()
COMMITTED: dict[str, Any] = json.loads(PROFILES_FILE.read_text(encoding="utf-8"))


def times(start: datetime, count: int, step: timedelta) -> list[datetime]:
    """``count`` instants ``step`` apart in real (UTC) time."""
    first = start.astimezone(UTC)
    return [first + i * step for i in range(count)]


def simulate(
    profile: Profile, at: Sequence[datetime], sensor_id: str = "s1", **kwargs: Any
) -> np.ndarray:
    series = SensorSeries(profile, sensor_id, **kwargs)
    return np.array([series.next(t) for t in at])


def local_mean(values: np.ndarray, at: Sequence[datetime], weekdays: range, hour: int) -> float:
    """Mean of the readings taken at local [hour, hour + 1) on the given weekdays."""
    local = [t.astimezone(BUCHAREST) for t in at]
    pick = [i for i, t in enumerate(local) if t.weekday() in weekdays and t.hour == hour]
    return float(values[pick].mean())


def residuals(profile: Profile, values: np.ndarray, at: Sequence[datetime], scale: float) -> Any:
    base = np.array([expected(profile, t, scale=scale) for t in at])
    return np.log(values / base) if profile.mode == "multiplicative" else values - base


def lag1(x: np.ndarray, ok: np.ndarray) -> float:
    pair = ok[1:] & ok[:-1]
    a, b = x[:-1][pair] - x[ok].mean(), x[1:][pair] - x[ok].mean()
    return float(np.sum(a * b) / math.sqrt(np.sum(a * a) * np.sum(b * b)))


WEEKDAYS = range(5)
SUNDAY = range(6, 7)


# --- the committed parameters ---------------------------------------------------------------


def test_profiles_cover_the_demo_quantities() -> None:
    assert set(PROFILES) == {
        "parking_occupancy",
        "co",
        "no2",
        "nox",
        "c6h6",
        "temperature",
        "relative_humidity",
        "traffic_intensity",
    }
    assert set(COMMITTED["sources"]) == {"aarhus-parking", "airquality-uci"}
    for source in COMMITTED["sources"].values():
        assert source["origin"] and source["licence"]
    assert PROFILES["temperature"].mode == "additive"
    assert PROFILES["parking_occupancy"].lo == 0.0 and PROFILES["parking_occupancy"].hi == 1.0


def test_traffic_is_the_nox_shape_scaled_to_the_stated_peak() -> None:
    traffic, nox = PROFILES["traffic_intensity"], PROFILES["nox"]
    meta = COMMITTED["profiles"]["traffic_intensity"]
    assert meta["derived_from"].startswith("NOx_GT")
    assert "fit" not in meta  # nothing about traffic is presented as fitted
    for day in ("weekday", "saturday", "sunday"):
        assert getattr(traffic, day) == getattr(nox, day)
    peak = max(
        traffic.level * v
        for day in (traffic.weekday, traffic.saturday, traffic.sunday)
        for v in day
    )
    assert peak == pytest.approx(meta["assumptions"]["peak_vph"], rel=1e-4)
    assert traffic.stationary_sd == pytest.approx(meta["assumptions"]["noise_sd"], rel=1e-3)


def test_expected_reads_the_hourly_values_at_half_past_on_the_local_clock() -> None:
    parking = PROFILES["parking_occupancy"]
    wednesday = datetime(2026, 1, 7, 13, 30, tzinfo=BUCHAREST)
    assert expected(parking, wednesday) == pytest.approx(parking.level * parking.weekday[13])
    # the same instant seen from UTC is 11:30
    in_utc = expected(parking, wednesday, tz=UTC)
    assert in_utc == pytest.approx(parking.level * parking.weekday[11])
    # Saturday midnight sits half-way between Friday 23:30 and Saturday 00:30
    midnight = datetime(2026, 1, 10, tzinfo=BUCHAREST)
    halfway = (parking.weekday[23] + parking.saturday[0]) / 2
    assert expected(parking, midnight) == pytest.approx(parking.level * halfway)
    # continuous: no step at the hour or at midnight
    second = timedelta(seconds=1)
    for at in (midnight, wednesday.replace(minute=0)):
        assert expected(parking, at - second) == pytest.approx(expected(parking, at), rel=1e-3)


def test_expected_applies_the_month_mid_month() -> None:
    no2 = PROFILES["no2"]
    assert no2.monthly is not None
    tuesday = datetime(2026, 6, 16, 0, 0, tzinfo=BUCHAREST)  # June: 30 days, 16th 00:00 = middle
    assert tuesday.weekday() == 1
    midnight = (no2.weekday[23] + no2.weekday[0]) / 2  # Monday 23:30 and Tuesday 00:30
    assert expected(no2, tuesday) == pytest.approx(no2.level * midnight * no2.monthly[5])
    noon = tuesday.replace(hour=12, minute=30)  # 12.5 h later: month position moves by 1/60
    month = no2.monthly[5] + (no2.monthly[6] - no2.monthly[5]) * (12.5 / 24) / 30
    assert expected(no2, noon) == pytest.approx(no2.level * no2.weekday[12] * month)


# --- the simulated series -------------------------------------------------------------------


def test_reproducible_from_seed_and_sensor_id() -> None:
    at = times(MONDAY, 200, timedelta(minutes=10))
    no2 = PROFILES["no2"]
    first = simulate(no2, at, "urn:ngsi-ld:AirQualityObserved:a", seed=7)
    assert np.array_equal(first, simulate(no2, at, "urn:ngsi-ld:AirQualityObserved:a", seed=7))
    assert not np.array_equal(first, simulate(no2, at, "urn:ngsi-ld:AirQualityObserved:b", seed=7))
    assert not np.array_equal(first, simulate(no2, at, "urn:ngsi-ld:AirQualityObserved:a", seed=8))


@pytest.mark.parametrize("name", sorted(PROFILES))
def test_values_stay_within_bounds(name: str) -> None:
    profile = PROFILES[name]
    at = times(MONDAY, 2 * 7 * 72, timedelta(minutes=20))
    for scale in (0.05, 1.0, 30.0):
        values = simulate(profile, at, scale=scale)
        assert np.all(values >= profile.lo) and np.all(values <= profile.hi)
        assert np.all(np.isfinite(values))
    assert np.any(values == profile.hi)  # scale 30 runs into the upper bound: clipped


def test_rejects_naive_times_and_going_back() -> None:
    series = SensorSeries(PROFILES["co"], "s1")
    with pytest.raises(ValueError, match="timezone-aware"):
        series.next(datetime(2026, 1, 5, 8))
    series.next(MONDAY + timedelta(hours=2))
    with pytest.raises(ValueError, match="before"):
        series.next(MONDAY + timedelta(hours=1))


def test_elapsed_time_is_real_time_across_dst() -> None:
    """Local times across the October DST change give what the same instants in UTC give."""
    at = times(datetime(2026, 10, 24, 22, tzinfo=BUCHAREST), 48, timedelta(minutes=30))
    local = [t.astimezone(BUCHAREST) for t in at]  # 03:00-03:59 appears twice
    assert len({t.replace(tzinfo=None) for t in local}) < len(local)
    temperature = PROFILES["temperature"]
    assert np.array_equal(simulate(temperature, at), simulate(temperature, local))


@pytest.mark.parametrize("name", ["no2", "traffic_intensity"])
def test_weekday_rush_hour_above_night_as_fitted(name: str) -> None:
    """Weekday 08:00-09:00 against 03:00-04:00 over 26 simulated weeks, three sensors."""
    profile = PROFILES[name]
    at = times(MONDAY, 26 * 7 * 96, timedelta(minutes=15))
    rush: list[float] = []
    night: list[float] = []
    for sensor in ("a", "b", "c"):
        values = simulate(profile, at, sensor)
        rush.append(local_mean(values, at, WEEKDAYS, 8))
        night.append(local_mean(values, at, WEEKDAYS, 3))
    simulated = sum(rush) / sum(night)
    base = np.array([expected(profile, t) for t in at])
    fitted = local_mean(base, at, WEEKDAYS, 8) / local_mean(base, at, WEEKDAYS, 3)
    assert fitted > 2.0  # the data: NO2 and NOx at 08-09h are over twice their 03-04h level
    assert simulated == pytest.approx(fitted, rel=0.15)


def test_parking_fuller_on_weekday_middays_than_at_night_or_on_sundays() -> None:
    """The Aarhus car parks: weekday 12-14h ≈ 0.6 full, nights ≈ 0.1, Sunday middays ≈ 0.23."""
    parking = PROFILES["parking_occupancy"]
    at = times(MONDAY, 8 * 7 * 48, timedelta(minutes=30))
    values = np.concatenate([simulate(parking, at, s) for s in ("p1", "p2", "p3")])
    at3 = at * 3
    midday = np.mean([local_mean(values, at3, WEEKDAYS, h) for h in (12, 13)])
    night = np.mean([local_mean(values, at3, WEEKDAYS, h) for h in (2, 3)])
    sunday_midday = np.mean([local_mean(values, at3, SUNDAY, h) for h in (12, 13)])
    assert midday > 4 * night
    assert midday > 1.8 * sunday_midday
    assert 0.35 < midday < 0.8
    assert night < 0.15


@pytest.mark.parametrize(
    ("name", "scale"), [("no2", 1.0), ("temperature", 1.0), ("parking_occupancy", 0.3)]
)
@pytest.mark.parametrize("steps", [1.0, 0.5, 3.0])
def test_residual_is_gaussian_ar1_with_the_fitted_phi(
    name: str, scale: float, steps: float
) -> None:
    """Lag-1 autocorrelation of the simulated residual: phi ** (dt / step) for any step."""
    profile = PROFILES[name]
    at = times(MONDAY, 20_000, timedelta(seconds=steps * profile.step_s))
    values = simulate(profile, at, scale=scale)
    x = residuals(profile, values, at, scale)
    ok = (values > profile.lo) & (values < profile.hi)
    assert ok.mean() > 0.98
    assert lag1(x, ok) == pytest.approx(profile.ar_phi**steps, abs=0.01)
    assert float(np.std(x[ok])) == pytest.approx(profile.stationary_sd, rel=0.12)
    pair = ok[1:] & ok[:-1]
    innovation = (x[1:] - profile.ar_phi**steps * x[:-1])[pair]
    z = (innovation - innovation.mean()) / innovation.std()
    assert float(np.mean(z**4)) == pytest.approx(3.0, abs=0.3)  # normal; uniform would be 1.8


# --- the committed parameters against the real data -----------------------------------------


def fit_script() -> ModuleType:
    path = REPO / "scripts" / "fit_demo_profiles.py"
    spec = importlib.util.spec_from_file_location("fit_demo_profiles", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def assert_close(committed: Any, refit: Any, where: str = "") -> None:
    if isinstance(committed, dict):
        assert isinstance(refit, dict) and committed.keys() == refit.keys(), where
        for key in committed:
            assert_close(committed[key], refit[key], f"{where}.{key}")
    elif isinstance(committed, list):
        assert isinstance(refit, list) and len(committed) == len(refit), where
        for i, (a, b) in enumerate(zip(committed, refit, strict=True)):
            assert_close(a, b, f"{where}[{i}]")
    elif isinstance(committed, float) or isinstance(refit, float):
        assert refit == pytest.approx(committed, rel=1e-4, abs=1e-6), where
    else:
        assert committed == refit, where


def test_committed_profiles_match_a_refit(shared_data: Path) -> None:
    traffic = COMMITTED["profiles"]["traffic_intensity"]["assumptions"]
    refit = fit_script().fit(shared_data, traffic["peak_vph"], traffic["noise_sd"])
    assert_close(COMMITTED, json.loads(json.dumps(refit)))


def test_fitted_shapes_follow_the_raw_data(shared_data: Path) -> None:
    """Raw means, read here independently of the script, point the same way as the profiles."""
    kept = set(COMMITTED["profiles"]["parking_occupancy"]["fit"]["garages"])
    by_hour: dict[int, list[float]] = {h: [] for h in range(24)}
    with (shared_data / "sensors/aarhus-parking/aarhus_parking_2014-05_to_09.csv").open() as f:
        for row in csv.DictReader(f):
            t = datetime.fromisoformat(row["updatetime"])
            count = int(row["vehiclecount"])
            if row["garagecode"] in kept and t.weekday() < 5 and count > 0:
                by_hour[t.hour].append(count / int(row["totalspaces"]))
    raw = {h: float(np.mean(v)) for h, v in by_hour.items()}
    parking = PROFILES["parking_occupancy"]
    assert raw[13] > 4 * raw[3] and parking.weekday[13] > 4 * parking.weekday[3]
    assert 0.5 < raw[13] < 0.7 and raw[3] < 0.12  # what the kept Aarhus garages show

    no2_by_hour: dict[int, list[float]] = {h: [] for h in range(24)}
    with (shared_data / "sensors/airquality-uci/AirQualityUCI.csv").open() as f:
        for row in csv.DictReader(f):
            if not row["Date"] or row["NO2_GT"] == "-200":
                continue
            t = datetime.strptime(f"{row['Date']} {row['Time']}", "%d/%m/%Y %H:%M:%S")
            if t.weekday() < 5:
                no2_by_hour[t.hour].append(float(row["NO2_GT"]))
    no2_raw = {h: float(np.mean(v)) for h, v in no2_by_hour.items()}
    no2 = PROFILES["no2"]
    assert no2_raw[8] > 1.5 * no2_raw[4] and no2.weekday[8] > 1.5 * no2.weekday[4]
    # NO2 at 03:00 is nearly always missing (the analyser calibrates): the shape bridges it
    assert len(no2_by_hour[3]) < 0.2 * len(no2_by_hour[8])
    assert (
        min(no2.weekday[2], no2.weekday[4]) < no2.weekday[3] < max(no2.weekday[2], no2.weekday[4])
    )
