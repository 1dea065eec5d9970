"""GTFS-Realtime into the hub: vehicle positions with history, trip updates as per-stop
multi-attributes, alerts, reading protobuf, and the poller against a real HTTP server."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import pytest
import typer
from fastapi.testclient import TestClient
from google.transit import gtfs_realtime_pb2 as rt
from hypothesis import given
from hypothesis import strategies as st
from typer.testing import CliRunner

from cetate.errors import BadRequestData
from cetate.hub.documents import find_documents, upsert_documents
from cetate.hub.service import Hub
from cetate.hub.store.base import HistoryQuery, Store
from cetate.ingest.gtfs_rt import (
    RtPoller,
    RtReport,
    gtfs_urn,
    ingest_message,
    pick_translation,
    read_message,
    stop_dataset,
    vehicle_type_of,
    vehicle_urn,
)
from cetate.ingest.gtfs_rt_cli import add_commands
from cetate.web.app import create_app

BASE = "/ngsi-ld/v1"
FEED = "brasov"
T0 = 1_790_000_000  # 2026-09-21T13:33:20Z


def iso(seconds: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(seconds))


@pytest.fixture
def client(hub: Hub) -> Iterator[TestClient]:
    with TestClient(create_app(hub.settings, hub)) as test_client:
        yield test_client


def feed_message(timestamp: int, full: bool = True) -> rt.FeedMessage:
    message = rt.FeedMessage()
    message.header.gtfs_realtime_version = "2.0"
    message.header.timestamp = timestamp
    if not full:
        message.header.incrementality = rt.FeedHeader.DIFFERENTIAL
    return message


def add_vehicle(
    message: rt.FeedMessage,
    vehicle_id: str,
    timestamp: int,
    lon: float,
    lat: float,
    trip_id: str | None = "T1",
    speed_mps: float | None = 10.0,
    **extra: Any,
) -> rt.VehiclePosition:
    entity = message.entity.add()
    entity.id = f"e-{vehicle_id}"
    position = entity.vehicle
    position.vehicle.id = vehicle_id
    position.vehicle.label = "Linia 5"
    position.timestamp = timestamp
    position.position.latitude = lat
    position.position.longitude = lon
    position.position.bearing = 90.0
    if speed_mps is not None:
        position.position.speed = speed_mps
    if trip_id:
        position.trip.trip_id = trip_id
    for name, value in extra.items():
        setattr(position, name, value)
    return position


def add_trip_update(
    message: rt.FeedMessage,
    trip_id: str,
    timestamp: int,
    delays: dict[int, int],
    start_date: str = "20260921",
) -> rt.TripUpdate:
    """Arrival delays per stop sequence; departures leave a minute later than that."""
    entity = message.entity.add()
    entity.id = f"tu-{trip_id}"
    update = entity.trip_update
    update.trip.trip_id = trip_id
    update.trip.start_date = start_date
    update.timestamp = timestamp
    update.vehicle.id = "bus-7"
    for sequence, delay in delays.items():
        stop = update.stop_time_update.add()
        stop.stop_sequence = sequence
        stop.stop_id = f"S{sequence}"
        stop.arrival.delay = delay
        stop.departure.delay = delay + 60
    return update


def add_alert(message: rt.FeedMessage, alert_id: str, header: dict[str, str]) -> rt.Alert:
    entity = message.entity.add()
    entity.id = alert_id
    alert = entity.alert
    for language, text in header.items():
        alert.header_text.translation.add(text=text, language=language)
    return alert


def temporal(client: TestClient, entity_id: str, query: str = "") -> dict[str, Any]:
    response = client.get(f"{BASE}/temporal/entities/{entity_id}?{query}")
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def as_list(attribute: Any) -> list[dict[str, Any]]:
    return attribute if isinstance(attribute, list) else [attribute]


# ---------------------------------------------------------------------------------------------
# Vehicle positions


def test_vehicle_positions_accumulate_history(hub: Hub, client: TestClient) -> None:
    track = [(T0, 25.5887, 45.6427), (T0 + 30, 25.5901, 45.6433), (T0 + 60, 25.5915, 45.6440)]
    for moment, lon, lat in track:
        message = feed_message(moment + 5)
        add_vehicle(message, "bus-7", moment, lon, lat, current_stop_sequence=4, stop_id="S4")
        report = ingest_message(hub, message, FEED)
        assert (report.vehicles, report.unchanged, report.errors) == (1, 0, [])

    vehicle_id = vehicle_urn(FEED, "bus-7")
    [vehicle] = find_documents(hub, "", "Vehicle")
    assert vehicle["id"] == vehicle_id == "urn:ngsi-ld:Vehicle:brasov:bus-7"
    assert vehicle["location"] == {"type": "Point", "coordinates": [25.5915, 45.644]}
    assert vehicle["speed"] == 36.0  # 10 m/s in km/h, as the Vehicle model wants
    assert vehicle["bearing"] == 90.0
    assert vehicle["vehicleType"] == "bus"  # no static GTFS loaded: the default
    assert vehicle["hasTrip"] == gtfs_urn("Trip", FEED, "T1") == "urn:ngsi-ld:GtfsTrip:brasov:T1"
    assert vehicle["currentStop"] == "urn:ngsi-ld:GtfsStop:brasov:S4"
    assert (vehicle["currentStopSequence"], vehicle["currentStatus"]) == (4, "inTransitTo")
    assert (vehicle["fleetVehicleId"], vehicle["name"]) == ("bus-7", "Linia 5")

    history = temporal(client, vehicle_id)
    locations = as_list(history["location"])
    assert [i["observedAt"] for i in locations] == [iso(m) for m, _, _ in track]
    assert [i["value"]["coordinates"] for i in locations] == [[lon, lat] for _, lon, lat in track]
    assert len(as_list(history["speed"])) == 3
    # descriptive attributes are written once, not with every position
    assert "vehicleType" not in history or len(as_list(history["vehicleType"])) == 1

    # the same report again (a feed that did not move on): skipped and counted, no history
    message = feed_message(T0 + 70)
    add_vehicle(message, "bus-7", T0 + 60, 25.5915, 45.6440)
    report = ingest_message(hub, message, FEED)
    assert (report.vehicles, report.unchanged) == (0, 1)
    # an older report (out of order) does not move the vehicle back either
    message = feed_message(T0 + 80)
    add_vehicle(message, "bus-7", T0 + 10, 25.0, 45.0)
    assert ingest_message(hub, message, FEED).unchanged == 1
    assert len(as_list(temporal(client, vehicle_id)["location"])) == 3
    assert find_documents(hub, "", "Vehicle")[0]["location"]["coordinates"] == [25.5915, 45.644]


def test_store_history_per_vehicle_and_header_time(hub: Hub, store: Store) -> None:
    """Without its own timestamp a position is observed at the header's time."""
    for moment in (T0, T0 + 20):
        message = feed_message(moment)
        add_vehicle(message, "a", 0, 25.6, 45.65 + (moment - T0) / 1e4)
        add_vehicle(message, "b", moment, 25.7, 45.66)
        ingest_message(hub, message, FEED)
    ids = (vehicle_urn(FEED, "a"), vehicle_urn(FEED, "b"))
    rows = store.history("", HistoryQuery(entity_ids=ids))
    location = hub.contexts.core().expand("location")
    for entity_id in ids:
        observed = [i["observedAt"] for i in rows[entity_id][location]]
        assert sorted(observed) == [iso(T0), iso(T0 + 20)]


def test_vehicle_leaving_its_trip_loses_the_trip(hub: Hub) -> None:
    message = feed_message(T0)
    add_vehicle(message, "bus-7", T0, 25.6, 45.65, current_stop_sequence=2)
    ingest_message(hub, message, FEED)
    message = feed_message(T0 + 30)
    add_vehicle(message, "bus-7", T0 + 30, 25.61, 45.65, trip_id=None, speed_mps=None)
    ingest_message(hub, message, FEED)
    [vehicle] = find_documents(hub, "", "Vehicle")
    assert vehicle["location"]["coordinates"] == [25.61, 45.65]
    for gone in ("hasTrip", "currentStopSequence", "currentStatus", "speed"):
        assert gone not in vehicle  # stale: the new report says nothing of it
    assert vehicle["bearing"] == 90.0


def test_vehicle_type_comes_from_the_static_route(hub: Hub) -> None:
    upsert_documents(
        hub,
        "",
        [
            {"id": gtfs_urn("Route", FEED, "TRAM1"), "type": "GtfsRoute",
             "routeType": {"type": "Property", "value": "0"}},
            {"id": gtfs_urn("Route", FEED, "TB5"), "type": "GtfsRoute",
             "routeType": {"type": "Property", "value": 11}},
            {"id": gtfs_urn("Trip", FEED, "T-tram"), "type": "GtfsTrip",
             "hasRoute": {"type": "Relationship", "object": gtfs_urn("Route", FEED, "TRAM1")}},
        ],
    )  # fmt: skip
    message = feed_message(T0)
    add_vehicle(message, "tram-1", T0, 25.6, 45.65, trip_id="T-tram")  # route through the trip
    trolleybus = add_vehicle(message, "tb-1", T0, 25.6, 45.65, trip_id="T-x")
    trolleybus.trip.route_id = "TB5"
    add_vehicle(message, "unknown", T0, 25.6, 45.65, trip_id="T-unknown")
    assert ingest_message(hub, message, FEED).vehicles == 3
    types = {v["fleetVehicleId"]: v["vehicleType"] for v in find_documents(hub, "", "Vehicle")}
    assert types == {"tram-1": "tram", "tb-1": "bus", "unknown": "bus"}
    assert [vehicle_type_of(t) for t in (0, "3", 4, 900, 1200, 2, 109, None, "x")] == [
        "tram", "bus", "passengerVessel", "tram", "passengerVessel", "other", "other", "bus", "bus",
    ]  # fmt: skip


def test_ids_are_escaped_and_empty_reports_skipped(hub: Hub) -> None:
    message = feed_message(T0)
    add_vehicle(message, "depot 3/bus:12", T0, 25.6, 45.65, trip_id="T 1")
    nothing = message.entity.add()  # no position, trip nor stop: nothing to store
    nothing.id = "empty"
    nothing.vehicle.vehicle.id = "ghost"
    no_fix = add_vehicle(message, "nofix", T0, 0.0, 0.0, trip_id=None)  # (0, 0): no fix
    no_fix.ClearField("position")
    report = ingest_message(hub, message, FEED)
    assert (report.vehicles, report.skipped, report.errors) == (1, 2, [])
    [vehicle] = find_documents(hub, "", "Vehicle")
    assert vehicle["id"] == "urn:ngsi-ld:Vehicle:brasov:depot%203%2Fbus:12"  # as GTFS ids
    assert vehicle["hasTrip"] == "urn:ngsi-ld:GtfsTrip:brasov:T%201"
    for bad_name in ("", "a:b", "a b"):
        with pytest.raises(BadRequestData, match="feed name"):
            ingest_message(hub, message, bad_name)


def test_ids_meet_the_static_gtfs_import(hub: Hub, shared_data: Path) -> None:
    """A real static feed imported by cetate.ingest.gtfs, then real-time data for one of its
    trips: every relationship points at an entity the import wrote."""
    from cetate.ingest.gtfs import import_feed

    archive = shared_data / "gtfs" / "minsk-mazowiecki" / "minsk-maz_gtfs.zip"
    if not archive.is_file():
        pytest.skip(f"the Mińsk Mazowiecki GTFS feed is not at {archive}")
    import_feed(hub, archive, "minsk")
    trip = find_documents(hub, "", "GtfsTrip")[0]
    trip_id = unquote(trip["id"].split(":", 4)[4])
    sequence, stop_id = trip["stopTimes"][1][:2]
    message = feed_message(T0)
    add_vehicle(message, "bus-1", T0, 21.57, 52.18, trip_id=trip_id, stop_id=stop_id)
    add_trip_update(message, trip_id, T0, {sequence: 120}).stop_time_update[0].stop_id = stop_id
    report = ingest_message(hub, message, "minsk")
    assert (report.vehicles, report.trip_updates, report.errors) == (1, 1, [])
    [vehicle] = find_documents(hub, "", "Vehicle")
    assert vehicle["hasTrip"] == trip["id"]
    assert vehicle["vehicleType"] == "bus"  # the feed's routes are all route_type 3
    [update] = find_documents(hub, "", "cetate:TripUpdate")
    stops = {s["id"] for s in find_documents(hub, "", "GtfsStop")}
    assert vehicle["currentStop"] in stops
    history = hub.store.history("", HistoryQuery(entity_ids=(update["id"],)))
    [delay] = history[update["id"]][hub.contexts.core().expand("arrivalDelay")]
    assert delay["https://uri.etsi.org/ngsi-ld/default-context/hasStop"]["object"] in stops


# ---------------------------------------------------------------------------------------------
# Trip updates


def test_trip_updates_keep_delays_per_trip_and_stop(hub: Hub, client: TestClient) -> None:
    message = feed_message(T0)
    add_trip_update(message, "T1", T0, {1: 30, 2: 60, 3: 90})
    add_trip_update(message, "T2", T0, {1: 0})
    report = ingest_message(hub, message, FEED)
    assert (report.trip_updates, report.errors) == (2, [])
    # a minute later stop 1 is passed (no longer in the feed), stops 2 and 3 are later
    message = feed_message(T0 + 60)
    add_trip_update(message, "T1", T0 + 60, {2: 120, 3: 150})
    assert ingest_message(hub, message, FEED).trip_updates == 1

    trip_id = "urn:ngsi-ld:TripUpdate:brasov:T1:20260921"
    [trip] = [t for t in find_documents(hub, "", "cetate:TripUpdate") if t["id"] == trip_id]
    assert trip["hasTrip"] == gtfs_urn("Trip", FEED, "T1")
    assert trip["startDate"] == "2026-09-21"
    assert trip["scheduleRelationship"] == "scheduled"
    assert trip["hasVehicle"] == vehicle_urn(FEED, "bus-7")
    stop = stop_dataset
    assert trip["arrivalDelay"] == {
        "dataset": {stop(1, None): 30, stop(2, None): 120, stop(3, None): 150}
    }  # stop 1 keeps its last delay
    assert trip["departureDelay"]["dataset"][stop(3, None)] == 210
    assert stop(2, "S2") == "urn:cetate:gtfs-rt:stop:2"

    history = temporal(client, trip_id)
    arrivals = as_list(history["arrivalDelay"])
    by_stop: dict[str, list[tuple[str, int]]] = {}
    for instance in arrivals:
        by_stop.setdefault(instance["datasetId"], []).append(
            (instance["observedAt"], instance["value"])
        )
        assert instance["unitCode"] == "SEC"
    assert by_stop == {
        stop(1, None): [(iso(T0), 30)],
        stop(2, None): [(iso(T0), 60), (iso(T0 + 60), 120)],
        stop(3, None): [(iso(T0), 90), (iso(T0 + 60), 150)],
    }
    simplified = temporal(client, trip_id, "attrs=arrivalDelay&options=temporalValues")
    per_stop = {s["datasetId"]: s["values"] for s in simplified["arrivalDelay"]}
    assert per_stop[stop(2, None)] == [[60, iso(T0)], [120, iso(T0 + 60)]]
    with_stop = as_list(history["arrivalDelay"])[0]
    assert with_stop["hasStop"]["object"].startswith("urn:ngsi-ld:GtfsStop:brasov:S")

    # the same update again: unchanged, no new history
    message = feed_message(T0 + 90)
    add_trip_update(message, "T1", T0 + 60, {2: 120, 3: 150})
    assert ingest_message(hub, message, FEED).unchanged == 1


def test_trip_update_times_skips_and_cancellations(hub: Hub) -> None:
    message = feed_message(T0)
    update = add_trip_update(message, "T9", 0, {}, start_date="")
    update.trip.schedule_relationship = rt.TripDescriptor.CANCELED
    update.delay = 300
    other = add_trip_update(message, "T8", 0, {})
    stop = other.stop_time_update.add()
    stop.stop_id = "S7"  # keyed by stop id when there is no stop sequence
    stop.arrival.time = T0 + 600
    skipped = other.stop_time_update.add()
    skipped.stop_sequence = 5
    skipped.schedule_relationship = rt.TripUpdate.StopTimeUpdate.SKIPPED
    no_trip = message.entity.add()
    no_trip.id = "route-only"
    no_trip.trip_update.trip.route_id = "R1"
    report = ingest_message(hub, message, FEED)
    assert (report.trip_updates, report.skipped, report.errors) == (2, 1, [])
    trips = {t["id"]: t for t in find_documents(hub, "", "cetate:TripUpdate")}
    canceled = trips["urn:ngsi-ld:TripUpdate:brasov:T9"]  # no start date in the feed
    assert (canceled["scheduleRelationship"], canceled["delay"]) == ("canceled", 300)
    eight = trips["urn:ngsi-ld:TripUpdate:brasov:T8:20260921"]
    assert eight["arrivalTime"] == {"dataset": {stop_dataset(None, "S7"): iso(T0 + 600)}}
    assert eight["stopScheduleRelationship"]["dataset"] == {
        "urn:cetate:gtfs-rt:stopId:S7": "scheduled",
        "urn:cetate:gtfs-rt:stop:5": "skipped",
    }


# ---------------------------------------------------------------------------------------------
# Alerts


def test_alerts_become_smart_data_model_alerts(hub: Hub) -> None:
    message = feed_message(T0)
    alert = add_alert(message, "works-1", {"en": "Roadworks on Str. Lungă", "ro": "Lucrări"})
    alert.description_text.translation.add(text="Detour via Calea București", language="en")
    alert.description_text.translation.add(text="Ocolire pe Calea București", language="ro-RO")
    alert.cause = rt.Alert.CONSTRUCTION
    alert.effect = rt.Alert.DETOUR
    alert.severity_level = rt.Alert.WARNING
    for start, end in ((T0, T0 + 3600), (T0 + 7200, T0 + 10_800)):
        period = alert.active_period.add()
        period.start, period.end = start, end
    alert.informed_entity.add(route_id="5", stop_id="S1")
    alert.informed_entity.add(agency_id="RATBV")
    selector = alert.informed_entity.add()
    selector.trip.trip_id = "T1"
    weather = add_alert(message, "snow", {"de": "Schnee", "en": "Snow"})
    weather.cause = rt.Alert.WEATHER
    weather.active_period.add(start=T0)  # open-ended

    def ingest() -> RtReport:
        return ingest_message(hub, message, FEED, language="ro", source="https://example.org/rt")

    report = ingest()
    assert (report.alerts, report.errors) == (2, [])
    alerts = {a["id"]: a for a in find_documents(hub, "", "Alert")}
    works = alerts["urn:ngsi-ld:Alert:brasov:works-1"]
    assert works["name"] == "Lucrări"
    assert works["description"] == "Ocolire pe Calea București"  # ro matches ro-RO
    assert (works["category"], works["subCategory"], works["severity"]) == (
        "traffic", "roadWorks", "medium",
    )  # fmt: skip
    assert (works["cause"], works["effect"]) == ("CONSTRUCTION", "DETOUR")
    assert (works["validFrom"], works["validTo"]) == (iso(T0), iso(T0 + 10_800))
    assert len(works["activePeriods"]) == 2
    assert (works["dateIssued"], works["alertSource"]) == (iso(T0), "https://example.org/rt")
    assert works["affectedRoutes"] == ["urn:ngsi-ld:GtfsRoute:brasov:5"]
    assert works["affectedStops"] == ["urn:ngsi-ld:GtfsStop:brasov:S1"]
    assert works["affectedAgencies"] == ["urn:ngsi-ld:GtfsAgency:brasov:RATBV"]
    assert works["affectedTrips"] == ["urn:ngsi-ld:GtfsTrip:brasov:T1"]
    assert {"routeId": "5", "stopId": "S1"} in works["informedEntities"]
    snow = alerts["urn:ngsi-ld:Alert:brasov:snow"]
    assert (snow["name"], snow["category"], snow["validFrom"]) == ("Schnee", "weather", iso(T0))
    assert "validTo" not in snow and "severity" not in snow and "subCategory" not in snow

    # the same alerts a minute later: unchanged; a changed text: rewritten, issue date kept
    message.header.timestamp = T0 + 60
    assert ingest().unchanged == 2
    message.entity[1].alert.header_text.translation[0].text = "Viscol"
    report = ingest()
    assert (report.alerts, report.unchanged) == (1, 1)
    snow = {a["id"]: a for a in find_documents(hub, "", "Alert")}[snow["id"]]
    assert (snow["name"], snow["dateIssued"]) == ("Viscol", iso(T0))

    # the snow alert is gone from the (full) feed: it ended at the feed's time
    del message.entity[1]
    message.header.timestamp = T0 + 120
    report = ingest()
    assert (report.alerts_ended, report.unchanged) == (1, 1)
    snow = {a["id"]: a for a in find_documents(hub, "", "Alert")}[snow["id"]]
    assert snow["validTo"] == iso(T0 + 120)
    # a vehicle-positions message of the same feed carries no alerts: it ends none
    message = feed_message(T0 + 180)
    add_vehicle(message, "bus-7", T0 + 180, 25.6, 45.65)
    assert ingest_message(hub, message, FEED).alerts_ended == 0


def test_pick_translation() -> None:
    text = rt.TranslatedString()
    assert pick_translation(text, "ro") is None
    text.translation.add(text="Hello", language="en")
    text.translation.add(text="Salut", language="ro")
    assert pick_translation(text, "RO") == "Salut"
    assert pick_translation(text, "de") == "Hello"  # not there: the first
    assert pick_translation(text, None) == "Hello"


# ---------------------------------------------------------------------------------------------
# Reading


def test_truncated_or_foreign_data_gives_a_clear_error(tmp_path: Path) -> None:
    message = feed_message(T0)
    add_alert(message, "a", {"en": "A long enough alert text to cut in the middle"})
    data = message.SerializeToString()
    assert read_message(data).entity[0].id == "a"
    truncated = tmp_path / "vehicles.pb"
    truncated.write_bytes(data[: len(data) - 10])
    with pytest.raises(BadRequestData, match=r"vehicles\.pb: not a GTFS-Realtime feed: .*trunc"):
        read_message(truncated)
    with pytest.raises(BadRequestData, match="looks like HTML"):
        read_message(b"<html><body>502 Bad Gateway</body></html>")
    with pytest.raises(BadRequestData, match="no FeedHeader"):
        read_message(b"")
    with pytest.raises(BadRequestData, match="no such file"):
        read_message(tmp_path / "missing.pb")


@given(st.binary(max_size=200))
def test_any_bytes_read_as_a_feed_or_a_clear_error(data: bytes) -> None:
    try:
        message = read_message(data)
    except BadRequestData as error:
        assert "not a GTFS-Realtime feed" in error.detail
    else:
        assert message.header.gtfs_realtime_version


# ---------------------------------------------------------------------------------------------
# Polling


class FeedServer:
    """A GTFS-Realtime endpoint on localhost: serves ``body`` with an ETag, answers 304 to a
    matching If-None-Match, and plays ``script`` first (``"500"``, ``"garbage"``)."""

    def __init__(self) -> None:
        self.body = b""
        self.version = 0
        self.script: list[str] = []
        self.log: list[tuple[int, str | None]] = []  # (status, If-None-Match)
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                status, body = server.answer(self.headers.get("If-None-Match"))
                self.send_response(status)
                if status == 200 and body is not None:
                    self.send_header("ETag", f'"v{server.version}"')
                    self.send_header("Content-Type", "application/x-protobuf")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                else:
                    self.send_header("Content-Length", "0")
                    self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/gtfs-rt/vehicles.pb"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def publish(self, message: rt.FeedMessage) -> None:
        self.body = message.SerializeToString()
        self.version += 1

    def answer(self, if_none_match: str | None) -> tuple[int, bytes | None]:
        if self.script:
            step = self.script.pop(0)
            self.log.append((500 if step == "500" else 200, if_none_match))
            return (500, None) if step == "500" else (200, b"\x0a\xff\xff garbage")
        if if_none_match == f'"v{self.version}"':
            self.log.append((304, if_none_match))
            return 304, None
        self.log.append((200, if_none_match))
        return 200, self.body

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server() -> Iterator[FeedServer]:
    feed_server = FeedServer()
    yield feed_server
    feed_server.close()


def positions(moment: int) -> rt.FeedMessage:
    message = feed_message(moment)
    add_vehicle(message, "bus-7", moment, 25.6 + (moment - T0) / 1e4, 45.65)
    return message


def test_poller_uses_etags_and_ingests_only_new_messages(hub: Hub, server: FeedServer) -> None:
    server.publish(positions(T0))
    with RtPoller(hub, server.url, FEED, interval_s=0.05) as poller:
        first = poller.poll_once()
        assert first is not None and first.vehicles == 1
        assert poller.poll_once() is None  # 304
        server.publish(positions(T0 + 30))
        second = poller.poll_once()
        assert second is not None and second.vehicles == 1
    assert server.log == [(200, None), (304, '"v1"'), (200, '"v1"')]
    assert (poller.stats.ingested, poller.stats.not_modified, poller.stats.errors) == (2, 1, 0)


def test_poller_refuses_a_feed_over_its_size_limit(hub: Hub, server: FeedServer) -> None:
    message = positions(T0)
    for n in range(200):
        add_vehicle(message, f"bus-{n}", T0, 25.6, 45.65)
    server.publish(message)
    with (
        RtPoller(hub, server.url, FEED, max_bytes=1000) as poller,
        pytest.raises(BadRequestData, match="over the 1,000-byte limit"),
    ):
        poller.poll_once()
    assert find_documents(hub, "", "Vehicle") == []  # nothing half-written


def wait_for(condition: Callable[[], bool], timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def test_poller_thread_survives_a_dead_feed(
    hub: Hub, server: FeedServer, caplog: pytest.LogCaptureFixture
) -> None:
    server.publish(positions(T0))
    server.script = ["500", "500", "garbage"]
    poller = RtPoller(hub, server.url, FEED, interval_s=0.02, max_backoff_s=0.05)
    poller.start()
    try:
        wait_for(lambda: poller.stats.ingested == 1)
        assert poller.stats.errors == 3
        failures = [r for r in caplog.records if r.getMessage() == "gtfs_rt.poll_failed"]
        assert [r.fields["failures"] for r in failures] == [1, 2, 3]  # type: ignore[attr-defined]
        assert poller.stats.last_error is not None and "not a GTFS-Realtime feed" in (
            poller.stats.last_error
        )
        wait_for(lambda: poller.stats.not_modified >= 2)  # and it goes on polling: 304s
        server.publish(positions(T0 + 30))
        wait_for(lambda: poller.stats.ingested == 2)
    finally:
        poller.stop()
    assert poller.stats.consecutive_errors == 0
    assert len(find_documents(hub, "", "Vehicle")) == 1


def test_poller_survives_an_unreachable_host(hub: Hub) -> None:
    poller = RtPoller(hub, "http://127.0.0.1:9/feed.pb", FEED, interval_s=0.01, timeout_s=1)
    poller.max_backoff_s = 0.02
    stop = threading.Event()
    runner = threading.Thread(target=poller.run, args=(stop,))
    runner.start()
    try:
        wait_for(lambda: poller.stats.errors >= 3)
        assert runner.is_alive()
    finally:
        stop.set()
        runner.join(5)
        poller.close()
    assert not runner.is_alive()


def test_file_source_is_read_again_only_when_it_changes(hub: Hub, tmp_path: Path) -> None:
    path = tmp_path / "vehicles.pb"
    path.write_bytes(positions(T0).SerializeToString())
    with RtPoller(hub, path, FEED) as poller:
        assert poller.poll_once() is not None
        assert poller.poll_once() is None
        path.write_bytes(positions(T0 + 30).SerializeToString())
        report = poller.poll_once()
    assert report is not None and report.vehicles == 1


def test_cli_once(tmp_path: Path) -> None:
    app = typer.Typer()
    ingest_app = typer.Typer()
    app.add_typer(ingest_app, name="ingest")
    add_commands(ingest_app)
    path = tmp_path / "feed.pb"
    message = positions(T0)
    add_trip_update(message, "T1", T0, {1: 45})
    path.write_bytes(message.SerializeToString())
    store = f"sqlite:///{tmp_path / 'hub.db'}"
    runner = CliRunner()
    args = ["ingest", "gtfs-rt", str(path), "--feed", FEED, "--store", store, "--once"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "1 vehicles, 1 trip updates, 0 alerts written" in result.output
    path.write_bytes(message.SerializeToString()[:-7])
    result = runner.invoke(app, args)
    assert result.exit_code == 2
    assert "not a GTFS-Realtime feed" in result.output
