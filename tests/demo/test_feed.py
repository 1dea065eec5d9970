"""The demo city's sensors on real Helsinki places, their readings, and the live feed."""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from cetate.city.places import read_places
from cetate.city.service import City
from cetate.config import Settings
from cetate.demo.feed import Readings, backfill, lamp_failed, no2_band, sun_elevation_deg
from cetate.demo.sensors import Sensor, demo_sensors
from cetate.hub.context import ContextResolver
from cetate.hub.documents import create_documents, get_document, upsert_documents
from cetate.hub.service import Hub
from cetate.hub.store.sqlite import SqliteStore
from cetate.web.app import create_app

NOON_JUNE = datetime(2026, 6, 21, 10, 20, tzinfo=UTC)  # solar noon in Helsinki, about
MIDNIGHT_DECEMBER = datetime(2026, 12, 21, 22, 20, tzinfo=UTC)


@pytest.fixture(scope="module")
def city(helsinki_pbf: Path, tmp_path_factory: pytest.TempPathFactory) -> City:
    loaded = City.load(helsinki_pbf, cache_dir=tmp_path_factory.mktemp("graphs"))
    loaded.places = read_places(helsinki_pbf)
    return loaded


@pytest.fixture(scope="module")
def sensors(city: City) -> list[Sensor]:
    return demo_sensors(city, "helsinki")


def by_type(sensors: list[Sensor], entity_type: str) -> list[Sensor]:
    return [s for s in sensors if s.entity_type == entity_type]


def test_every_kind_of_sensor_sits_on_the_real_city(city: City, sensors: list[Sensor]) -> None:
    parking_places = [p for p in city.places if p.kind == "parking"]
    assert len(by_type(sensors, "OffStreetParking")) + len(
        by_type(sensors, "OnStreetParking")
    ) == len(parking_places)
    assert len(by_type(sensors, "TrafficFlowObserved")) >= 5
    assert len(by_type(sensors, "Streetlight")) >= 50
    assert 1 <= len(by_type(sensors, "AirQualityObserved")) <= 4
    lons = city.segments.node_lon
    lats = city.segments.node_lat
    for sensor in sensors:
        assert lons.min() - 0.01 <= sensor.lon <= lons.max() + 0.01
        assert lats.min() - 0.01 <= sensor.lat <= lats.max() + 0.01
    assert len({s.entity_id for s in sensors}) == len(sensors)


def test_placement_is_deterministic(city: City, sensors: list[Sensor]) -> None:
    assert demo_sensors(city, "helsinki") == sensors


def test_traffic_counters_sit_on_main_roads(city: City, sensors: list[Sensor]) -> None:
    segments = {city.segments.segment_id(i): i for i in range(len(city.segments))}
    for sensor in by_type(sensors, "TrafficFlowObserved"):
        segment_id = sensor.attributes["refRoadSegment"].rsplit(":", 1)[1]
        tags = city.segments.tags(segments[segment_id])
        assert tags["highway"] in ("trunk", "primary", "secondary", "tertiary")


def test_readings_are_plausible(sensors: list[Sensor]) -> None:
    readings = Readings(sensors, seed=1)
    at = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)  # a Monday morning
    docs = {d["id"]: d for d in readings.documents(at, lights="all")}
    assert len(docs) == len(sensors)
    for sensor in by_type(sensors, "OffStreetParking"):
        free = docs[sensor.entity_id]["availableSpotNumber"]["value"]
        assert 0 <= free <= sensor.capacity
    for sensor in by_type(sensors, "TrafficFlowObserved"):
        doc = docs[sensor.entity_id]
        assert 0 <= doc["intensity"]["value"] <= 1800 * 1.5
        assert 0 < doc["averageVehicleSpeed"]["value"] <= sensor.free_speed_kmh
    for sensor in by_type(sensors, "AirQualityObserved"):
        doc = docs[sensor.entity_id]
        assert 0 < doc["relativeHumidity"]["value"] < 1
        assert doc["airQualityLevel"]["value"] == no2_band(doc["no2"]["value"])
        assert doc["no2"]["observedAt"] == "2026-11-23T08:00:00.000Z"


def test_street_lights_report_only_changes(sensors: list[Sensor]) -> None:
    lights = by_type(sensors, "Streetlight")
    readings = Readings(lights)
    first = readings.documents(NOON_JUNE)
    assert len(first) == len(lights)
    assert {d["powerState"]["value"] for d in first} == {"off"}
    assert readings.documents(NOON_JUNE + timedelta(minutes=1)) == []
    night = readings.documents(MIDNIGHT_DECEMBER)
    assert len(night) == len(lights)
    on = [d for d in night if d["powerState"]["value"] == "on"]
    failed = [d for d in night if d["status"]["value"] != "ok"]
    assert len(on) + len(failed) == len(lights)


def test_sun_elevation() -> None:
    assert sun_elevation_deg(24.94, 60.17, NOON_JUNE) == pytest.approx(53.3, abs=1.0)
    assert sun_elevation_deg(24.94, 60.17, MIDNIGHT_DECEMBER) < -40
    # Brașov, equinox, near sunset (about 16:15 UTC): the sun is close to the horizon.
    assert abs(sun_elevation_deg(25.59, 45.64, datetime(2026, 3, 20, 16, 15, tzinfo=UTC))) < 3


def test_lamp_failures_are_rare_and_last_days() -> None:
    at = datetime(2026, 11, 22, 12, tzinfo=UTC)
    out = [i for i in range(20_000) if lamp_failed(f"light-{i}", at)]
    # Expected share: 0.002 failures/day x 2 days mean repair time = 0.4 %.
    assert 0.002 < len(out) / 20_000 < 0.007
    # A failure lasts one to three days: most lamps out now are still out six hours later,
    # and most are repaired four days later.
    still = [i for i in out if lamp_failed(f"light-{i}", at + timedelta(hours=6))]
    assert len(still) > len(out) / 2
    later = [i for i in out if lamp_failed(f"light-{i}", at + timedelta(days=4))]
    assert len(later) < len(out) / 2


def test_backfill_writes_history_a_chart_can_show(sensors: list[Sensor], tmp_path: Path) -> None:
    settings = Settings(store="unused", allow_remote_contexts=False)
    store = SqliteStore(tmp_path / "hub.db")
    hub = Hub(store, ContextResolver(directory=None, allow_remote=False), settings)
    try:
        air = by_type(sensors, "AirQualityObserved")[:1]
        upsert_documents(hub, "", [{"id": air[0].entity_id, "type": "AirQualityObserved"}])
        written = backfill(hub, Readings(air), hours=2)
        assert written == 9  # 2 h at 15 min, both ends included
        with TestClient(create_app(settings, hub)) as client:
            response = client.get(
                f"/ngsi-ld/v1/temporal/entities/{air[0].entity_id}",
                params={"attrs": "no2", "options": "temporalValues", "lastN": "20"},
            )
        values = response.json()["no2"]["values"]
        assert len(values) == 9
    finally:
        hub.close()


def test_the_server_feeds_live_readings(helsinki_pbf: Path, tmp_path: Path) -> None:
    settings = Settings(
        store=f"sqlite:///{tmp_path / 'demo.db'}",
        allow_remote_contexts=False,
        city_osm=helsinki_pbf,
        city_cache=tmp_path / "graphs",
        demo_feed=True,
        demo_feed_interval_s=0.3,
    )
    with TestClient(create_app(settings)) as client:
        deadline = time.monotonic() + 20
        while True:
            response = client.get(
                "/ngsi-ld/v1/entities",
                params={"type": "TrafficFlowObserved", "count": "true", "limit": "1"},
            )
            if int(response.headers.get("NGSILD-Results-Count", "0")) > 0:
                break
            assert time.monotonic() < deadline, "no reading arrived"
            time.sleep(0.1)
        (counter,) = response.json()
        time.sleep(1.0)
        history = client.get(
            f"/ngsi-ld/v1/temporal/entities/{counter['id']}",
            params={"attrs": "intensity", "options": "temporalValues"},
        ).json()
    assert len(history["intensity"]["values"]) >= 2


def test_a_lamp_that_fails_raises_one_alert_that_is_never_reopened(tmp_path: Path) -> None:
    at = datetime(2026, 11, 22, 12, tzinfo=UTC)
    broken = next(i for i in range(20_000) if lamp_failed(f"urn:ngsi-ld:Streetlight:t:{i}", at))
    light = Sensor(f"urn:ngsi-ld:Streetlight:t:{broken}", "Streetlight", 24.94, 60.17)
    readings = Readings([light])
    readings.documents(at)
    raised = readings.take_alerts()
    assert len(raised) == 1 and readings.take_alerts() == []
    alert = raised[0]
    assert alert["severity"]["value"] == "low" and alert["alertSource"]["value"] == light.entity_id
    assert alert["location"]["value"]["coordinates"] == [24.94, 60.17]
    readings.documents(at + timedelta(minutes=15))  # still out: no second alert
    assert readings.take_alerts() == []
    # A restarted feed makes the same alert (same id): creating it again leaves the handled
    # one as it is.
    again = Readings([light])
    again.documents(at + timedelta(hours=1))
    assert [a["id"] for a in again.take_alerts()] == [alert["id"]]
    settings = Settings(store="unused", allow_remote_contexts=False)
    store = SqliteStore(tmp_path / "alerts.db")
    hub = Hub(store, ContextResolver(directory=None, allow_remote=False), settings)
    try:
        assert create_documents(hub, "", raised).created == [alert["id"]]
        handled = {"id": alert["id"], "type": "Alert", "status": {"value": "resolved"}}
        assert not upsert_documents(hub, "", [handled], replace=False).errors
        assert create_documents(hub, "", [alert]).errors  # exists: refused, nothing changed
        assert get_document(hub, "", alert["id"])["status"] == "resolved"  # type: ignore[index]
    finally:
        hub.close()


def test_poor_air_raises_an_alert_per_episode_of_a_station() -> None:
    station = Sensor("urn:ngsi-ld:AirQualityObserved:t:1", "AirQualityObserved", 24.9, 60.2,
                     scale=6.0)  # fmt: skip
    readings = Readings([station])
    day = datetime(2026, 11, 20, 6, tzinfo=UTC)
    raised = []
    for step in range(96):
        readings.documents(day + timedelta(minutes=15 * step))
        raised += readings.take_alerts()
    assert raised, "six times the usual NO2 reaches the poor band"
    assert len({a["id"] for a in raised}) == len(raised)
    assert {a["severity"]["value"] for a in raised} <= {"medium", "high", "critical"}
    # Named after the hour the episode began: a restart within it finds the alert there.
    assert all(re.search(r":air:20261120T\d\d$", a["id"]) for a in raised)
