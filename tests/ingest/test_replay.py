"""CSV replay (cetate.ingest.replay): the real Aarhus parking and UCI air-quality files through
the example mappings, checked through the temporal API; pacing; bad rows; the worked device
example; the CLI command."""

from __future__ import annotations

import csv
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import orjson
import pytest
import typer
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from cetate.config import Settings
from cetate.errors import BadRequestData
from cetate.hub.context import ContextResolver
from cetate.hub.service import Hub
from cetate.hub.store.base import Store
from cetate.ingest.deadletters import list_dead_letters
from cetate.ingest.mapping import MappingSet, load_mappings, parse_mappings
from cetate.ingest.replay import ReplayReport, _cell_value, replay_csv
from cetate.ingest.replay_cli import add_commands
from cetate.web.app import create_app

EXAMPLES = Path(__file__).parents[2] / "examples" / "mappings"
AARHUS_TOPIC = "replay/aarhus/parking"
UCI_TOPIC = "replay/uci/airquality"
SETTINGS = Settings(store="unused", allow_remote_contexts=False, temporal_page=100_000)


@pytest.fixture
def hub(store: Store) -> Iterator[Hub]:
    """The shared hub fixture with a temporal page large enough for a whole replayed file."""
    the_hub = Hub(store, ContextResolver(directory=None, allow_remote=False), SETTINGS)
    yield the_hub
    the_hub.writer.close()


def temporal(hub: Hub, entity_id: str, attrs: str) -> dict[str, Any]:
    with TestClient(create_app(SETTINGS, hub)) as client:
        response = client.get(
            f"/ngsi-ld/v1/temporal/entities/{entity_id}",
            params={"attrs": attrs, "options": "temporalValues"},
        )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def values(body: dict[str, Any], attr: str) -> list[tuple[Any, str]]:
    return [(value, at) for value, at in body[attr]["values"]]


def utc(moment: datetime) -> str:
    moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def mapping(document: str) -> MappingSet:
    import yaml

    return parse_mappings(yaml.safe_load(document))


SIMPLE = """
mappings:
  - name: meter
    topic: test/meter
    id: urn:ngsi-ld:Meter:{meter}
    type: Meter
    timestamp: time
    attributes:
      reading: {path: reading, type: number}
"""


def write_csv(path: Path, text: str | bytes) -> Path:
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    return path


# -- the real data sets ------------------------------------------------------------------------


def test_aarhus_parking_is_replayed_with_its_local_times_in_utc(
    hub: Hub, shared_data: Path
) -> None:
    source = shared_data / "sensors" / "aarhus-parking" / "aarhus_parking_2014-05_to_09.csv"
    with source.open(encoding="utf-8", newline="") as file:
        rows = list(csv.DictReader(file))
    copenhagen = ZoneInfo("Europe/Copenhagen")
    expected: dict[str, list[tuple[int, str]]] = {}
    for row in rows:  # independently of the mapping: fromisoformat reads every fraction length
        at = datetime.fromisoformat(row["updatetime"]).replace(tzinfo=copenhagen)
        expected.setdefault(row["garagecode"], []).append((int(row["vehiclecount"]), utc(at)))

    seen: list[tuple[int, int]] = []
    report = replay_csv(
        hub,
        source,
        load_mappings(EXAMPLES / "aarhus-parking.yaml"),
        AARHUS_TOPIC,
        progress=lambda done, total, at: seen.append((done, total)),
    )

    assert (report.rows, report.stored, report.dead_lettered) == (len(rows), len(rows), 0)
    assert not report.sorted and report.skipped == 0 and report.failures == []
    assert report.first == datetime(2014, 5, 22, 7, 9, 4, 145000, tzinfo=UTC)  # 09:09 CEST
    assert report.last == datetime(2014, 9, 30, 21, 31, 50, 153000, tzinfo=UTC)
    assert seen[-1] == (len(rows), len(rows)) and len(seen) > 1
    assert list_dead_letters(hub) == []
    assert len(expected) == 8
    for garage, readings in expected.items():
        body = temporal(hub, f"urn:ngsi-ld:OffStreetParking:aarhus:{garage}", "occupiedSpotNumber")
        assert body["type"] == "OffStreetParking"
        assert values(body, "occupiedSpotNumber") == readings, garage
    salling = temporal(hub, "urn:ngsi-ld:OffStreetParking:aarhus:SALLING", "totalSpotNumber")
    first = values(salling, "totalSpotNumber")
    assert first[0] == (700, "2014-05-22T07:09:04.145Z") and len(first) == 5249
    # the rows whose updatetime has a shorter fraction, or none, kept their time
    norreport = dict(
        (at, v)
        for v, at in values(
            temporal(hub, "urn:ngsi-ld:OffStreetParking:aarhus:NORREPORT", "occupiedSpotNumber"),
            "occupiedSpotNumber",
        )
    )
    assert norreport["2014-05-26T00:28:17.650Z"] == 0  # "2014-05-26 02:28:17.65"
    assert norreport["2014-09-18T22:01:50.000Z"] == 50  # "2014-09-19 00:01:50"


def test_uci_air_quality_is_replayed_without_the_missing_readings(
    hub: Hub, shared_data: Path
) -> None:
    source = shared_data / "sensors" / "airquality-uci" / "AirQualityUCI.csv"
    with source.open(encoding="utf-8", newline="") as file:
        rows = list(csv.DictReader(file))
    plus_one = ZoneInfo("Etc/GMT-1")  # UTC+1 all year (see the mapping file)

    def at(row: dict[str, str]) -> str:
        local = datetime.strptime(f"{row['Date']} {row['Time']}", "%d/%m/%Y %H:%M:%S")
        return utc(local.replace(tzinfo=plus_one))

    report = replay_csv(hub, source, load_mappings(EXAMPLES / "airquality-uci.yaml"), UCI_TOPIC)

    columns = {"co": "CO_GT", "no2": "NO2_GT", "nox": "NOx_GT", "c6h6": "C6H6_GT", "T": "T"}
    nothing = [row for row in rows if all(row[c] == "-200" for c in [*columns.values(), "RH"])]
    assert len(rows) == 9357 and len(nothing) == 31
    assert report.rows == len(rows)
    assert (report.stored, report.dead_lettered) == (len(rows) - 31, 31)
    assert report.first == datetime(2004, 3, 10, 17, tzinfo=UTC)  # 10/03/2004 18:00 at UTC+1
    assert report.last == datetime(2005, 4, 4, 13, tzinfo=UTC)
    letters = list_dead_letters(hub)
    assert len(letters) == 31
    assert all(letter.reason.endswith(": no attribute to write") for letter in letters)
    assert all(letter.reason.startswith("line ") for letter in letters)
    assert {letter.topic for letter in letters} == {UCI_TOPIC}
    assert orjson.loads(letters[0].payload)["CO_GT"] == -200  # the row, kept to replay later

    entity = "urn:ngsi-ld:AirQualityObserved:uci:station"
    body = temporal(hub, entity, "co,no2,nox,c6h6,temperature,relativeHumidity")
    for attr, column in [*columns.items(), ("relativeHumidity", "RH")]:
        name = "temperature" if attr == "T" else attr
        wanted = [(float(row[column]), at(row)) for row in rows if row[column] != "-200"]
        got = values(body, name)
        assert len(got) == len(wanted), name  # one instance per row with a reading
        assert all(value != -200 for value, _ in got)
        if name == "relativeHumidity":
            assert [t for _, t in got] == [t for _, t in wanted]
            assert all(abs(g - w / 100) < 1e-9 for (g, _), (w, _) in zip(got, wanted, strict=True))
        else:
            assert got == wanted, name
    co = values(body, "co")
    assert co[0] == (2.6, "2004-03-10T17:00:00.000Z")
    times = {t for _, t in co}
    assert "2004-03-11T03:00:00.000Z" not in times  # 11/03/2004 4:00 has CO_GT -200
    assert "2004-03-11T03:00:00.000Z" in {t for _, t in values(body, "temperature")}
    # The file's clock does not follow DST: the changeover days have all 24 hours, so the
    # mapping reads UTC+1 all year and no two rows share an instant.
    for day in ("28/03/2004", "31/10/2004", "27/03/2005"):
        assert [r["Time"] for r in rows if r["Date"] == day] == [f"{h}:00:00" for h in range(24)]
    stamps = [t for _, t in values(body, "temperature")]
    assert len(set(stamps)) == len(stamps) == len(rows) - 366
    with TestClient(create_app(SETTINGS, hub)) as client:
        now = client.get(f"/ngsi-ld/v1/entities/{entity}").json()
    assert (now["co"]["unitCode"], now["no2"]["unitCode"], now["nox"]["unitCode"]) == (
        "GP",
        "GQ",
        "59",
    )
    assert now["temperature"]["unitCode"] == "CEL"
    assert now["co"]["observedAt"] == "2005-04-04T13:00:00.000Z"  # the last row is the state


def test_limit_replays_only_the_first_rows(hub: Hub, shared_data: Path) -> None:
    source = shared_data / "sensors" / "aarhus-parking" / "aarhus_parking_2014-05_to_09.csv"
    mappings = load_mappings(EXAMPLES / "aarhus-parking.yaml")
    report = replay_csv(hub, source, mappings, AARHUS_TOPIC, limit=16, batch_size=3)
    assert (report.rows, report.stored) == (16, 16)
    body = temporal(hub, "urn:ngsi-ld:OffStreetParking:aarhus:BRUUNS", "occupiedSpotNumber")
    assert values(body, "occupiedSpotNumber") == [
        (22, "2014-05-22T07:09:04.145Z"),
        (22, "2014-05-22T07:39:01.803Z"),
    ]


# -- pacing ------------------------------------------------------------------------------------


def test_speed_replays_in_scaled_real_time(hub: Hub, tmp_path: Path) -> None:
    """11 rows spanning 10 s of data at speed 10 take about 1 s; as fast as possible, far less."""
    lines = ["meter,time,reading"] + [
        f"m1,2024-01-01T00:00:{second:02d}Z,{second}" for second in range(11)
    ]
    source = write_csv(tmp_path / "ten-seconds.csv", "\n".join(lines) + "\n")
    calls: list[tuple[int, int, datetime | None]] = []

    started = time.monotonic()
    report = replay_csv(
        hub,
        source,
        mapping(SIMPLE),
        "test/meter",
        speed=10,
        progress=lambda done, total, at: calls.append((done, total, at)),
    )
    elapsed = time.monotonic() - started

    assert 0.95 <= elapsed < 1.8, elapsed
    assert report.stored == 11 and report.seconds >= 0.95
    assert len(calls) == 11  # each row is due at its own time: one batch each
    assert calls[-1] == (11, 11, datetime(2024, 1, 1, 0, 0, 10, tzinfo=UTC))
    assert [done for done, _, _ in calls] == list(range(1, 12))

    started = time.monotonic()
    again = replay_csv(hub, source, mapping(SIMPLE), "test/meter")
    assert time.monotonic() - started < 0.8 and again.stored == 11


def test_rows_out_of_order_are_sent_in_time_order(hub: Hub, tmp_path: Path) -> None:
    source = write_csv(
        tmp_path / "shuffled.csv",
        "meter,time,reading\n"
        "m1,2024-01-01T00:00:03Z,3\n"
        "m1,2024-01-01T00:00:01Z,1\n"
        "m1,not a time,9\n"
        "m1,2024-01-01T00:00:04Z,4\n"
        "m1,2024-01-01T00:00:02Z,2\n",
    )
    report = replay_csv(hub, source, mapping(SIMPLE), "test/meter", batch_size=1)
    assert report.sorted and (report.stored, report.dead_lettered) == (4, 1)
    assert report.failures == [
        (
            4,
            "timestamp: 'not a time' is not a valid time (timestamp is "
            "not an ISO 8601 date-time: 'not a time')",
        )
    ]
    body = temporal(hub, "urn:ngsi-ld:Meter:m1", "reading")
    assert [v for v, _ in values(body, "reading")] == [1, 2, 3, 4]
    with TestClient(create_app(SETTINGS, hub)) as client:
        entity = client.get("/ngsi-ld/v1/entities/urn:ngsi-ld:Meter:m1").json()
    assert entity["reading"]["value"] == 4  # the state is the latest reading


# -- bad input ---------------------------------------------------------------------------------


def test_bad_rows_become_dead_letters_with_their_line(hub: Hub, tmp_path: Path) -> None:
    """A byte-order mark, semicolons, quotes, a blank row, a row too short, one too long, one
    not UTF-8, one the mapping refuses: the good rows are stored, the others are dead letters
    whose reason names the line, and nothing stops the replay."""
    text = (
        b"\xef\xbb\xbfmeter;time;reading;note\r\n"  # line 1
        b"m1;2024-01-01T00:00:00Z;1.5;plain\r\n"  # 2
        b'm1;2024-01-01T00:01:00Z;2;"a; b\r\nspans two lines"\r\n'  # 3-4
        b"\r\n"  # 5: blank, skipped
        b"m1;2024-01-01T00:02:00Z\r\n"  # 6: too short
        b"m1;2024-01-01T00:03:00Z;3;x;extra\r\n"  # 7: too long
        b"m1;2024-01-01T00:04:00Z;4;caf\xe9\r\n"  # 8: Latin-1, not UTF-8
        b"m1;2024-01-01T00:05:00Z;lots;\r\n"  # 9: not a number
        b"m2;2024-01-01T00:06:00Z;;empty reading\r\n"  # 10: no reading: refused
        b"m1;2024-01-01T00:07:00Z;7;\r\n"  # 11
    )
    source = write_csv(tmp_path / "bad.csv", text)
    report = replay_csv(hub, source, mapping(SIMPLE), "test/meter", source="test")

    assert (report.rows, report.stored, report.dead_lettered, report.skipped) == (8, 3, 5, 1)
    reasons = sorted(letter.reason for letter in list_dead_letters(hub))
    assert reasons == [
        "line 10: reading: no value at $.reading",
        "line 6: 2 fields where the header has 4",
        "line 7: 5 fields where the header has 4",
        "line 8: not valid utf-8-sig text",
        "line 9: reading: expected a number, got 'lots'",
    ]
    assert [line for line, _ in report.failures] == [6, 7, 8, 9, 10]
    letters = {letter.reason.split(":")[0]: letter for letter in list_dead_letters(hub)}
    assert letters["line 6"].payload == b"m1;2024-01-01T00:02:00Z"  # the row as it was
    assert letters["line 8"].payload.endswith(b"caf\xe9")  # its bytes, kept as they came
    assert letters["line 8"].view()["payloadEncoding"] == "base64"
    assert orjson.loads(letters["line 9"].payload) == {
        "meter": "m1",
        "time": "2024-01-01T00:05:00Z",
        "reading": "lots",
    }
    assert {letter.source for letter in letters.values()} == {"test"}
    body = temporal(hub, "urn:ngsi-ld:Meter:m1", "reading")
    assert values(body, "reading") == [
        (1.5, "2024-01-01T00:00:00.000Z"),
        (2, "2024-01-01T00:01:00.000Z"),
        (7, "2024-01-01T00:07:00.000Z"),
    ]


def test_a_semicolon_file_with_decimal_commas(hub: Hub, tmp_path: Path) -> None:
    """The original UCI layout: semicolons, 2,6 for 2.6, trailing empty columns, rows of
    nothing but separators at the end."""
    source = write_csv(
        tmp_path / "uci-original.csv",
        "Date;Time;CO(GT);T;;\n"
        "10/03/2004;18.00.00;2,6;13,6;;\n"
        "10/03/2004;19.00.00;-200;13,3;;\n"
        ";;;;;\n"
        ";;;;;\n",
    )
    rules = mapping(
        """
mappings:
  - topic: uci
    id: urn:ngsi-ld:AirQualityObserved:uci:original
    type: AirQualityObserved
    timestamp: [Date, Time]
    timestamp_format: "%d/%m/%Y %H.%M.%S"
    timezone: Etc/GMT-1
    attributes:
      co: {path: "CO(GT)", type: number, unit: GP, missing: -200}
      temperature: {path: T, type: number, unit: CEL}
"""
    )
    report = replay_csv(hub, source, rules, "uci", decimal=",")
    assert (report.rows, report.stored, report.skipped) == (2, 2, 2)
    body = temporal(hub, "urn:ngsi-ld:AirQualityObserved:uci:original", "co,temperature")
    assert values(body, "co") == [(2.6, "2004-03-10T17:00:00.000Z")]
    assert values(body, "temperature") == [
        (13.6, "2004-03-10T17:00:00.000Z"),
        (13.3, "2004-03-10T18:00:00.000Z"),
    ]


def test_mistakes_found_before_anything_is_sent(hub: Hub, tmp_path: Path) -> None:
    good = write_csv(tmp_path / "good.csv", "meter,time,reading\nm1,2024-01-01T00:00:00Z,1\n")
    rules = mapping(SIMPLE)
    cases: list[tuple[dict[str, Any], str]] = [
        ({"topic": "test/other"}, "no mapping rule matches topic 'test/other'"),
        ({"speed": 0}, "speed must be a positive number"),
        ({"speed": float("nan")}, "speed must be a positive number"),
        ({"batch_size": 0}, "batch_size must be at least 1"),
        ({"time_columns": ["when"]}, "the time column 'when' is not in the file's header"),
        ({"timezone": "Mars/Olympus"}, "unknown timezone"),
        ({"time_format": "dd/mm"}, "the time format must be"),
        ({"encoding": "klingon"}, "unknown text encoding"),
        ({"decimal": ","}, "the decimal mark cannot be"),
        ({"delimiter": ";;"}, "one character"),
    ]
    for changes, message in cases:
        arguments: dict[str, Any] = {"topic": "test/meter"} | changes
        topic = arguments.pop("topic")
        with pytest.raises(BadRequestData, match=message.replace("(", r"\(")):
            replay_csv(hub, good, rules, topic, **arguments)
    no_time = mapping(SIMPLE.replace("    timestamp: time\n", ""))
    with pytest.raises(BadRequestData, match="mapping meter has no 'timestamp'"):
        replay_csv(hub, good, no_time, "test/meter")
    with pytest.raises(BadRequestData, match="no header row"):
        replay_csv(hub, write_csv(tmp_path / "empty.csv", "\n\n"), rules, "test/meter")
    with pytest.raises(FileNotFoundError):
        replay_csv(hub, tmp_path / "absent.csv", rules, "test/meter")
    assert list_dead_letters(hub) == []


def test_other_time_columns_order_the_rows(hub: Hub, tmp_path: Path) -> None:
    """time_columns orders and paces by other columns; observedAt still comes from the rule."""
    source = write_csv(
        tmp_path / "seq.csv",
        "meter,time,reading,seq\n"
        "m1,2024-01-01T00:00:00Z,1,1700000002\n"
        "m1,2024-01-01T00:00:00Z,2,1700000001\n",
    )
    report = replay_csv(
        hub, source, mapping(SIMPLE), "test/meter", time_columns=["seq"], time_format="epoch_s"
    )
    assert report.sorted and report.first == datetime.fromtimestamp(1700000001, UTC)
    with TestClient(create_app(SETTINGS, hub)) as client:
        entity = client.get("/ngsi-ld/v1/entities/urn:ngsi-ld:Meter:m1").json()
    assert entity["reading"]["value"] == 1  # the later by seq came last


def test_cell_values() -> None:
    assert [_cell_value(c) for c in ["12", "-0", "-0.5", "1e3", ".5", " 7 "]] == [
        12,
        0,
        -0.5,
        1000.0,
        0.5,
        7,
    ]
    # text stays text: leading zeros, codes, times, huge integers, infinity, NaN
    for text in ["0012", "12a", "1.", "+5", "18:00:00", "9" * 20, "1e999", "nan", "inf", "1,5"]:
        assert _cell_value(text) == text
    assert _cell_value("") is None and _cell_value("   ") is None
    assert _cell_value("2,6", ",") == 2.6 and _cell_value("1.234,5", ",") == "1.234,5"


def test_report_summary() -> None:
    report = ReplayReport(Path("x.csv"), "t", rows=10, stored=9, dead_lettered=1, seconds=2.0)
    assert report.rows_per_second == 5.0
    assert report.summary() == "x.csv: 10 rows in 2.0 s (5 rows/s): 9 stored, 1 dead letters"


# -- the worked device example -----------------------------------------------------------------


def test_the_device_examples_map_vendor_payloads() -> None:
    mappings = load_mappings(EXAMPLES / "devices.yaml")
    received = datetime(2024, 5, 14, 8, 31, 13, tzinfo=UTC)
    uplink = {
        "end_device_ids": {
            "device_id": "bay-0417",
            "application_ids": {"application_id": "city-parking"},
            "dev_eui": "70B3D57ED005A1B2",
        },
        "received_at": "2024-05-14T08:31:12.482713964Z",
        "uplink_message": {
            "f_port": 2,
            "f_cnt": 4211,
            "frm_payload": "AQFo",
            "decoded_payload": {"occupied": True, "battery": 3.61},
            "rx_metadata": [
                {"gateway_ids": {"gateway_id": "gw-unirii"}, "rssi": -97, "snr": 7.25},
                {"gateway_ids": {"gateway_id": "gw-obor"}, "rssi": -113, "snr": -4.5},
            ],
        },
    }
    at = "2024-05-14T08:31:12.482Z"
    topic = "v3/city-parking@ttn/devices/bay-0417/up"
    assert mappings.fragment(topic, orjson.dumps(uplink), received) == {
        "id": "urn:ngsi-ld:ParkingSpot:bay-0417",
        "type": "ParkingSpot",
        "status": {"type": "Property", "value": "occupied", "observedAt": at},
        "batteryVoltage": {"type": "Property", "value": 3.61, "unitCode": "VLT", "observedAt": at},
        "rssi": {"type": "Property", "value": -97, "unitCode": "DBM", "observedAt": at},
        "refDevice": {"type": "Relationship", "object": "urn:ngsi-ld:Device:bay-0417"},
    }
    # a sensor whose formatter sends 0/1 and no battery: free, and no batteryVoltage
    uplink["uplink_message"]["decoded_payload"] = {"occupied": 0}  # type: ignore[index]
    fragment = mappings.fragment(topic, orjson.dumps(uplink), received)
    assert fragment["status"]["value"] == "free" and "batteryVoltage" not in fragment

    light = {
        "ts": 1715675472000,
        "state": "ON",
        "dim": 80,
        "power_w": 41.5,
        "energy_kwh": 1234.56,
        "fault": 1,
        "gps": {"lat": 44.4268, "lon": 26.1025},
    }
    at = "2024-05-14T08:31:12.000Z"
    assert mappings.fragment("city/lighting/C12/L0815/status", orjson.dumps(light), received) == {
        "id": "urn:ngsi-ld:Streetlight:L0815",
        "type": "Streetlight",
        "powerState": {"type": "Property", "value": "on", "observedAt": at},
        "illuminanceLevel": {"type": "Property", "value": 0.8, "observedAt": at},
        "activePower": {"type": "Property", "value": 41.5, "unitCode": "WTT", "observedAt": at},
        "totalActiveEnergyImport": {
            "type": "Property",
            "value": 1234.56,
            "unitCode": "KWH",
            "observedAt": at,
        },
        "status": {"type": "Property", "value": "defectiveLamp", "observedAt": at},
        "location": {
            "type": "GeoProperty",
            "value": {"type": "Point", "coordinates": [26.1025, 44.4268]},
        },
        "refStreetlightControlCabinet": {
            "type": "Relationship",
            "object": "urn:ngsi-ld:StreetlightControlCabinet:C12",
        },
    }
    from cetate.ingest.mapping import MappingError

    light["state"] = "BLINK"
    with pytest.raises(MappingError, match="powerState: 'BLINK' is not one of ON, OFF"):
        mappings.fragment("city/lighting/C12/L0815/status", orjson.dumps(light), received)
    with pytest.raises(MappingError, match="unknown device"):
        mappings.fragment("city/lighting/C12/status", orjson.dumps(light), received)


def test_every_example_mapping_loads() -> None:
    files = sorted(EXAMPLES.glob("*.yaml"))
    assert {f.name for f in files} >= {"aarhus-parking.yaml", "airquality-uci.yaml", "devices.yaml"}
    for file in files:
        assert load_mappings(file).rules


# -- the command -------------------------------------------------------------------------------


def test_the_replay_command(tmp_path: Path) -> None:
    root = typer.Typer()
    ingest = typer.Typer()
    root.add_typer(ingest, name="ingest")
    add_commands(ingest)
    rules = tmp_path / "meter.yaml"
    rules.write_text(SIMPLE)
    source = write_csv(
        tmp_path / "meter.csv",
        "meter,time,reading\nm1,2024-01-01T00:00:00Z,1\nm1,2024-01-01T00:00:01Z,oops\n",
    )
    store = f"sqlite:///{tmp_path / 'hub.db'}"
    runner = CliRunner()
    result = runner.invoke(
        root, ["ingest", "replay", str(source), "--mapping", str(rules), "--store", store]
    )
    assert result.exit_code == 0, result.output
    assert "2 rows" in result.output and "1 stored, 1 dead letters" in result.output
    assert "line 3: reading: expected a number, got 'oops'" in result.output

    result = runner.invoke(
        root,
        ["ingest", "replay", str(source), "--mapping", str(rules), "--topic", "nope",
         "--store", store],
    )  # fmt: skip
    assert result.exit_code == 2 and "no mapping rule matches topic 'nope'" in result.output
    result = runner.invoke(
        root, ["ingest", "replay", str(tmp_path / "absent.csv"), "--mapping", str(rules),
               "--store", store],
    )  # fmt: skip
    assert result.exit_code == 2 and "absent.csv" in result.output
