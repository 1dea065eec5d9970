"""Realistic readings for the demo city's sensors, shaped like real series.

``profiles.json`` (next to this file) holds parameters fitted to real data by
``scripts/fit_demo_profiles.py`` (see docs/demo-sensors.md): for each quantity a level,
24 hourly values per day type (Monday-Friday, Saturday, Sunday), optionally 12 monthly
values, an AR(1) residual (phi per ``step_s`` seconds, innovation sd sigma) and bounds::

    multiplicative: value = scale * level * shape(t) * monthly(t) * exp(x(t))
    additive:       value = scale * level + shape(t) + monthly(t) + x(t)
    x(t) = a * x(t - dt) + sd * sqrt(1 - a**2) * N(0, 1),  a = phi ** (dt / step_s)

with ``sd = sigma / sqrt(1 - phi**2)`` (the stationary sd of x), so irregular steps keep
the fitted persistence; the value is clipped to [lo, hi]. Hourly values sit at h:30 and
monthly values mid-month, linearly interpolated in between, on the local clock of the
demo city (Europe/Bucharest unless told otherwise).
"""

from __future__ import annotations

import calendar
import hashlib
import json
import math
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, tzinfo
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo

import numpy as np

PROFILES_FILE = Path(__file__).parent / "profiles.json"
DEFAULT_TZ = ZoneInfo("Europe/Bucharest")

Mode = Literal["multiplicative", "additive"]


@dataclass(frozen=True)
class Profile:
    """The fitted parameters of one quantity (see the module docstring for the formula)."""

    name: str
    unit: str
    mode: Mode
    level: float
    weekday: tuple[float, ...]  # 24 values, hour h placed at h:30
    saturday: tuple[float, ...]
    sunday: tuple[float, ...]
    monthly: tuple[float, ...] | None  # 12 values placed mid-month, or none
    ar_phi: float  # residual autocorrelation over one step_s
    ar_sigma: float  # residual innovation sd per step_s
    step_s: float
    lo: float
    hi: float

    def __post_init__(self) -> None:
        if self.mode not in ("multiplicative", "additive"):
            raise ValueError(f"{self.name}: unknown mode {self.mode!r}")
        if not all(len(day) == 24 for day in (self.weekday, self.saturday, self.sunday)):
            raise ValueError(f"{self.name}: a day shape needs 24 hourly values")
        if self.monthly is not None and len(self.monthly) != 12:
            raise ValueError(f"{self.name}: monthly needs 12 values")
        if not (0.0 <= self.ar_phi < 1.0 and self.ar_sigma >= 0.0 and self.step_s > 0.0):
            raise ValueError(f"{self.name}: need 0 <= ar_phi < 1, ar_sigma >= 0, step_s > 0")
        if self.lo > self.hi:
            raise ValueError(f"{self.name}: lo > hi")

    @property
    def stationary_sd(self) -> float:
        """The sd of the residual x over time (log scale when multiplicative)."""
        return self.ar_sigma / math.sqrt(1.0 - self.ar_phi**2)

    @classmethod
    def from_json(cls, name: str, data: dict[str, Any]) -> Profile:
        monthly = data.get("monthly")
        return cls(
            name=name,
            unit=str(data["unit"]),
            mode=data["mode"],
            level=float(data["level"]),
            weekday=tuple(float(v) for v in data["weekday"]),
            saturday=tuple(float(v) for v in data["saturday"]),
            sunday=tuple(float(v) for v in data["sunday"]),
            monthly=None if monthly is None else tuple(float(v) for v in monthly),
            ar_phi=float(data["ar_phi"]),
            ar_sigma=float(data["ar_sigma"]),
            step_s=float(data["step_s"]),
            lo=float(data["lo"]),
            hi=float(data["hi"]),
        )


def load_profiles(path: Path = PROFILES_FILE) -> dict[str, Profile]:
    """Every profile in ``profiles.json``, by name (parking_occupancy, no2, ...)."""
    profiles = json.loads(path.read_text(encoding="utf-8"))["profiles"]
    return {name: Profile.from_json(name, data) for name, data in profiles.items()}


def _local(at: datetime, tz: tzinfo) -> datetime:
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError(f"a timezone-aware datetime is required, got {at!r}")
    return at.astimezone(tz)


def _hour_value(profile: Profile, day: date, hour: int) -> float:
    """The value of hour 0..23 of ``day``; hour -1 and 24 reach into the adjacent days."""
    day += timedelta(days=hour // 24)
    weekday = day.weekday()
    shape = profile.weekday if weekday < 5 else profile.saturday if weekday == 5 else profile.sunday
    return shape[hour % 24]


def _shape(profile: Profile, local: datetime) -> float:
    hours = local.hour + local.minute / 60 + (local.second + local.microsecond / 1e6) / 3600
    position = hours - 0.5
    below = math.floor(position)
    weight = position - below
    day = local.date()
    return (1 - weight) * _hour_value(profile, day, below) + weight * _hour_value(
        profile, day, below + 1
    )


def _month(profile: Profile, local: datetime) -> float:
    if profile.monthly is None:
        return 1.0 if profile.mode == "multiplicative" else 0.0
    days = calendar.monthrange(local.year, local.month)[1]
    into = local.day - 1 + (local.hour + local.minute / 60) / 24
    position = local.month - 1 + into / days - 0.5
    below = math.floor(position)
    weight = position - below
    return (1 - weight) * profile.monthly[below % 12] + weight * profile.monthly[(below + 1) % 12]


def expected(profile: Profile, at: datetime, tz: tzinfo = DEFAULT_TZ, scale: float = 1.0) -> float:
    """The deterministic part at ``at`` (local time in ``tz``), no noise and no clipping.

    Multiplicative profiles: the typical (median) value; the mean is higher by
    ``exp(stationary_sd**2 / 2)``. ``scale`` multiplies the level (one sensor's factor).
    """
    local = _local(at, tz)
    if profile.mode == "multiplicative":
        return scale * profile.level * _shape(profile, local) * _month(profile, local)
    return scale * profile.level + _shape(profile, local) + _month(profile, local)


def _sensor_seed(seed: int, sensor_id: str) -> list[int]:
    digest = hashlib.sha256(sensor_id.encode("utf-8")).digest()
    return [seed, int.from_bytes(digest[:8], "big")]


class SensorSeries:
    """One simulated sensor: reproducible from ``seed`` and ``sensor_id``.

    ``scale`` multiplies the profile's level (a busier car park, a more polluted street).
    Calls to :meth:`next` must not go back in time; the residual decays with the real
    (UTC) time elapsed, so irregular and DST-crossing steps are handled.
    """

    def __init__(
        self,
        profile: Profile,
        sensor_id: str,
        *,
        seed: int = 0,
        scale: float = 1.0,
        tz: tzinfo | str = DEFAULT_TZ,
    ) -> None:
        self.profile = profile
        self.sensor_id = sensor_id
        self.scale = scale
        self.tz: tzinfo = ZoneInfo(tz) if isinstance(tz, str) else tz
        self._rng = np.random.default_rng(_sensor_seed(seed, sensor_id))
        self._residual: float | None = None
        self._last: datetime | None = None

    def next(self, at: datetime) -> float:
        """The reading at ``at`` (timezone-aware), bounded to the profile's [lo, hi]."""
        at_utc = _local(at, UTC)
        p = self.profile
        sd = p.stationary_sd
        z = float(self._rng.standard_normal())
        if self._residual is None or self._last is None:
            residual = sd * z  # start from the stationary distribution
        else:
            elapsed = (at_utc - self._last).total_seconds()
            if elapsed < 0:
                raise ValueError(f"{self.sensor_id}: {at} is before the previous reading")
            decay = p.ar_phi ** (elapsed / p.step_s)
            residual = decay * self._residual + sd * math.sqrt(1.0 - decay * decay) * z
        self._residual, self._last = residual, at_utc
        base = expected(p, at, self.tz, self.scale)
        value = base * math.exp(residual) if p.mode == "multiplicative" else base + residual
        return min(max(value, p.lo), p.hi)
