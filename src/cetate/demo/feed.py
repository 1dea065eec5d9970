"""Live readings for the demo city's sensors, written to the hub as they would arrive from the
field: parking occupancy, traffic flow and air quality from the fitted profiles (generator.py),
street lights switching with the sun and failing now and then; and the alerts a monitoring
system raises from them (a lamp out, poor air), for the operations room to handle."""

from __future__ import annotations

import hashlib
import logging
import math
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from cetate.alerts.model import alert_document
from cetate.city.service import City, city_slug
from cetate.config import Settings
from cetate.demo.generator import SensorSeries, load_profiles
from cetate.demo.sensors import Sensor, demo_sensors
from cetate.hub.documents import create_documents, upsert_documents
from cetate.hub.model import format_time
from cetate.hub.service import Hub
from cetate.logs import log_event

log = logging.getLogger("cetate.demo")

AIR_QUANTITIES = {  # attribute (Smart Data Models AirQualityObserved) -> profile, unit code
    "no2": ("no2", "GQ"),
    "nox": ("nox", "59"),  # ppb
    "co": ("co", "GP"),
    "c6h6": ("c6h6", "GQ"),
    "temperature": ("temperature", "CEL"),
    "relativeHumidity": ("relative_humidity", "C62"),  # the model's 0-1 ratio
}
# European Air Quality Index bands for hourly NO2 (µg/m3), EEA.
NO2_BANDS = ((40, "good"), (90, "fair"), (120, "moderate"), (230, "poor"), (340, "veryPoor"))
SUN_SWITCH_DEG = -0.833  # lights follow sunset and sunrise (a photocell's usual setting)
LIGHT_FAULTS_PER_DAY = 0.002  # per light: one lamp in 500 fails on a given day
LIGHT_REPAIR_DAYS = (1, 3)
# European Air Quality Index bands that raise an alert, and its severity.
AIR_ALERTS = {"poor": "medium", "veryPoor": "high", "extremelyPoor": "critical"}


class Readings:
    """Each sensor's series (seeded by its id) and the documents they produce at a time."""

    def __init__(self, sensors: list[Sensor], seed: int = 0, timezone: str = "Europe/Bucharest"):
        profiles = load_profiles()
        self.sensors = sensors
        self._series: dict[tuple[str, str], SensorSeries] = {}
        self._lights: dict[str, tuple[str, str]] = {}
        self._bands: dict[str, str] = {}  # air station -> its last band
        self._alerts: list[dict[str, Any]] = []  # raised since take_alerts
        for sensor in sensors:
            for name in _profiles_of(sensor):
                self._series[(sensor.entity_id, name)] = SensorSeries(
                    profiles[name], sensor.entity_id, seed=seed, scale=sensor.scale, tz=timezone
                )

    def documents(self, at: datetime, lights: str = "changed") -> list[dict[str, Any]]:
        """Readings at ``at``; street lights only when their state changed (``lights="all"``
        for every light), as a lamp's controller reports."""
        stamp = format_time(at)
        docs = []
        for sensor in self.sensors:
            if sensor.entity_type == "Streetlight":
                doc = self._light(sensor, at, stamp, lights == "all")
            else:
                doc = self._measured(sensor, at, stamp)
            if doc is not None:
                docs.append(doc)
        return docs

    def take_alerts(self) -> list[dict[str, Any]]:
        """The alerts raised by the readings made since the last call: to be created, never
        upserted, so an alert an operator has handled is not reopened. Their ids are made
        from the event (the lamp's fault, the hour a station's episode began), so making them
        again after a restart finds them already there."""
        alerts, self._alerts = self._alerts, []
        return alerts

    def _value(self, sensor: Sensor, name: str, at: datetime) -> float:
        return self._series[(sensor.entity_id, name)].next(at)

    def _measured(self, sensor: Sensor, at: datetime, stamp: str) -> dict[str, Any]:
        doc: dict[str, Any] = {"id": sensor.entity_id, "type": sensor.entity_type}
        if sensor.entity_type in ("OffStreetParking", "OnStreetParking"):
            occupied = round(self._value(sensor, "parking_occupancy", at) * sensor.capacity)
            doc["availableSpotNumber"] = _observed(sensor.capacity - occupied, stamp)
            doc["occupancy"] = _observed(round(occupied / sensor.capacity, 3), stamp)
        elif sensor.entity_type == "TrafficFlowObserved":
            flow = self._value(sensor, "traffic_intensity", at)
            speed = sensor.free_speed_kmh / (1 + 0.15 * (flow / sensor.capacity) ** 4)  # BPR
            lanes = max(1, sensor.capacity // 900)
            occupancy = min(1.0, flow / lanes / max(speed, 1.0) * 0.007)  # 7 m per vehicle
            doc["intensity"] = _observed(round(flow), stamp, "E50")  # vehicles in the last hour
            doc["averageVehicleSpeed"] = _observed(round(speed, 1), stamp, "KMH")
            doc["occupancy"] = _observed(round(occupancy, 3), stamp)
            doc["congested"] = _observed(speed < 0.5 * sensor.free_speed_kmh, stamp)
        else:
            for attribute, (name, unit) in AIR_QUANTITIES.items():
                value = self._value(sensor, name, at)
                if attribute == "relativeHumidity":
                    value /= 100.0
                doc[attribute] = _observed(round(value, 3), stamp, unit)
            band = no2_band(doc["no2"]["value"])
            doc["airQualityLevel"] = _observed(band, stamp)
            if band in AIR_ALERTS and self._bands.get(sensor.entity_id) not in AIR_ALERTS:
                self._alerts.append(_air_alert(sensor, band, at, doc["no2"]["value"]))
            self._bands[sensor.entity_id] = band
        return doc

    def _light(
        self, sensor: Sensor, at: datetime, stamp: str, always: bool
    ) -> dict[str, Any] | None:
        failed_at = lamp_fault_start(sensor.entity_id, at)
        status = "defectiveLamp" if failed_at is not None else "ok"
        dark = sun_elevation_deg(sensor.lon, sensor.lat, at) < SUN_SWITCH_DEG
        power = "on" if dark and status == "ok" else "off"
        before = self._lights.get(sensor.entity_id)
        if failed_at is not None and (before is None or before[1] == "ok"):
            self._alerts.append(_lamp_alert(sensor, failed_at))
        if not always and before == (power, status):
            return None
        self._lights[sensor.entity_id] = (power, status)
        return {
            "id": sensor.entity_id,
            "type": "Streetlight",
            "powerState": _observed(power, stamp),
            "status": _observed(status, stamp),
        }


def static_documents(sensors: list[Sensor]) -> list[dict[str, Any]]:
    """The entities of sensors that are not OSM places themselves (car parks are), with their
    location and fixed attributes; parking sensors add their assumed capacity."""
    docs = []
    for sensor in sensors:
        doc: dict[str, Any] = {"id": sensor.entity_id, "type": sensor.entity_type}
        for name, value in sensor.attributes.items():
            if name.startswith("ref"):
                doc[name] = {"type": "Relationship", "object": value}
            else:
                doc[name] = {"type": "Property", "value": value}
        if sensor.entity_type not in ("OffStreetParking", "OnStreetParking"):
            doc["location"] = {
                "type": "GeoProperty",
                "value": {"type": "Point", "coordinates": [sensor.lon, sensor.lat]},
            }
        docs.append(doc)
    return docs


def no2_band(no2: float) -> str:
    for limit, band in NO2_BANDS:
        if no2 <= limit:
            return band
    return "extremelyPoor"


def lamp_failed(light_id: str, at: datetime) -> bool:
    return lamp_fault_start(light_id, at) is not None


def lamp_fault_start(light_id: str, at: datetime) -> datetime | None:
    """When the lamp that is out at ``at`` failed, or None when it works: each day a light may
    fail (a hash of its id and the day decides, so the answer is the same in every process)
    and stays out until repaired."""
    day = math.floor(at.timestamp() / 86400)
    longest = LIGHT_REPAIR_DAYS[1]
    for start_day in range(day - longest, day + 1):
        digest = hashlib.sha256(f"{light_id}|{start_day}".encode()).digest()
        if int.from_bytes(digest[:4], "big") / 2**32 >= LIGHT_FAULTS_PER_DAY:
            continue
        start = start_day * 86400 + digest[4] / 256 * 86400
        low, high = LIGHT_REPAIR_DAYS
        end = start + (low + digest[5] / 256 * (high - low)) * 86400
        if start <= at.timestamp() < end:
            return datetime.fromtimestamp(start, UTC)
    return None


def _short(entity_id: str) -> str:
    """``urn:ngsi-ld:Streetlight:helsinki:12`` -> ``helsinki:12``."""
    return entity_id.split(":", 3)[-1]


def _lamp_alert(sensor: Sensor, failed_at: datetime) -> dict[str, Any]:
    return alert_document(
        f"urn:ngsi-ld:Alert:{_short(sensor.entity_id)}:lamp:{failed_at:%Y%m%dT%H%M}",
        category="security",  # no infrastructure category in Smart Data Models: a dark street
        sub_category="streetLightFault",
        severity="low",
        description=f"Lamp out at street light {_short(sensor.entity_id)}",
        issued=format_time(failed_at),
        source=sensor.entity_id,
        lon_lat=(sensor.lon, sensor.lat),
    )


def _air_alert(sensor: Sensor, band: str, at: datetime, no2: float) -> dict[str, Any]:
    return alert_document(
        f"urn:ngsi-ld:Alert:{_short(sensor.entity_id)}:air:{at:%Y%m%dT%H}",
        category="environment",
        sub_category="airPollution",
        severity=AIR_ALERTS[band],
        description=f"Air quality {band}: NO2 {no2:.0f} µg/m³ at {_short(sensor.entity_id)}",
        issued=format_time(at),
        source=sensor.entity_id,
        lon_lat=(sensor.lon, sensor.lat),
    )


def sun_elevation_deg(lon: float, lat: float, at: datetime) -> float:
    """Solar elevation (NOAA's general solar position equations, ~0.5 degree accuracy)."""
    moment = at.astimezone(UTC)
    day_of_year = moment.timetuple().tm_yday
    hours = moment.hour + moment.minute / 60 + moment.second / 3600
    gamma = 2 * math.pi / 365 * (day_of_year - 1 + (hours - 12) / 24)
    equation_min = 229.18 * (
        0.000075 + 0.001868 * math.cos(gamma) - 0.032077 * math.sin(gamma)
        - 0.014615 * math.cos(2 * gamma) - 0.040849 * math.sin(2 * gamma)
    )  # fmt: skip
    declination = (
        0.006918 - 0.399912 * math.cos(gamma) + 0.070257 * math.sin(gamma)
        - 0.006758 * math.cos(2 * gamma) + 0.000907 * math.sin(2 * gamma)
        - 0.002697 * math.cos(3 * gamma) + 0.00148 * math.sin(3 * gamma)
    )  # fmt: skip
    solar_minutes = hours * 60 + equation_min + 4 * lon
    hour_angle = math.radians(solar_minutes / 4 - 180)
    phi = math.radians(lat)
    cos_zenith = math.sin(phi) * math.sin(declination) + math.cos(phi) * math.cos(
        declination
    ) * math.cos(hour_angle)
    return 90 - math.degrees(math.acos(max(-1.0, min(1.0, cos_zenith))))


def backfill(
    hub: Hub,
    readings: Readings,
    hours: float,
    step: timedelta = timedelta(minutes=15),
    progress: Callable[[int, int], None] | None = None,
) -> int:
    """Write the last ``hours`` of readings, oldest first, so charts have a past; returns the
    number of readings written."""
    now = datetime.now(UTC)
    steps = int(hours * 3600 // step.total_seconds())
    written = 0
    for n in range(steps, -1, -1):
        docs = readings.documents(now - n * step)
        upsert_documents(hub, "", docs, replace=False)
        create_documents(hub, "", readings.take_alerts())
        written += len(docs)
        if progress is not None:
            progress(steps - n + 1, steps + 1)
    return written


class DemoFeed:
    """Writes fresh readings every ``demo_feed_interval_s`` from a thread of the server."""

    def __init__(self, hub: Hub, city: City, settings: Settings) -> None:
        assert settings.city_osm is not None
        self.hub = hub
        self.interval_s = settings.demo_feed_interval_s
        self.readings = Readings(demo_sensors(city, city_slug(settings.city_osm)))
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="demo-feed", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _run(self) -> None:
        while True:
            try:
                docs = self.readings.documents(datetime.now(UTC))
                result = upsert_documents(self.hub, "", docs, replace=False)
                raised = create_documents(self.hub, "", self.readings.take_alerts())
                log_event(
                    log, "demo.readings", written=len(result.success), alerts=len(raised.created)
                )
            except Exception as error:  # the feed must outlive a failed write
                log_event(log, "demo.failed", logging.ERROR, error=repr(error))
            if self._stop.wait(self.interval_s):
                return


def _profiles_of(sensor: Sensor) -> list[str]:
    if sensor.entity_type in ("OffStreetParking", "OnStreetParking"):
        return ["parking_occupancy"]
    if sensor.entity_type == "TrafficFlowObserved":
        return ["traffic_intensity"]
    if sensor.entity_type == "AirQualityObserved":
        return [name for name, _ in AIR_QUANTITIES.values()]
    return []


def _observed(value: Any, stamp: str, unit: str | None = None) -> dict[str, Any]:
    attribute: dict[str, Any] = {"type": "Property", "value": value, "observedAt": stamp}
    if unit is not None:
        attribute["unitCode"] = unit
    return attribute
