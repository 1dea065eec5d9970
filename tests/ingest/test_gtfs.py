"""GTFS static import: reading (zip, folder, BOM, quoting), every class of error with its file and
line, the entities written (Smart Data Models names), re-import in place, nothing written when
invalid. The real feed is Mińsk Mazowiecki's (../shared/data/gtfs)."""

from __future__ import annotations

import csv
import io
import zipfile
from pathlib import Path

import pytest
import typer
from hypothesis import given
from hypothesis import strategies as st
from typer.testing import CliRunner

from cetate.errors import BadRequestData
from cetate.hub.documents import find_documents
from cetate.hub.model import check_entity_id
from cetate.hub.service import Hub
from cetate.ingest.gtfs import (
    MAX_ERRORS,
    entity_id,
    escape_id,
    format_gtfs_time,
    gtfs_id,
    import_feed,
    parse_gtfs_time,
    read_feed,
)
from cetate.ingest.gtfs_cli import add_commands

# A small feed whose every answer is known: a station with one platform, three stops, a
# weekday service with a holiday removed, a Sunday service with that holiday added, a trip
# running past midnight, a stop time without times (interpolated by readers).
MINI: dict[str, str] = {
    "agency.txt": "agency_id,agency_name,agency_url,agency_timezone\n"
    "A,Test Transit,https://example.org,Europe/Bucharest\n",
    "stops.txt": "stop_id,stop_name,stop_lat,stop_lon,location_type,parent_station\n"
    "ST,Central station,45.65,25.60,1,\n"
    "S1,Central 1,45.651,25.601,0,ST\n"
    "S2,Market,45.66,25.61,,\n"
    "S3,Depot,45.67,25.62,,\n",
    "routes.txt": "route_id,agency_id,route_short_name,route_long_name,route_type\n"
    "R1,A,1,Central - Depot,3\n",
    "trips.txt": "route_id,service_id,trip_id,trip_headsign,shape_id,direction_id\n"
    "R1,WK,T1,Depot,SH1,0\n"
    "R1,WK,T2,Depot,SH1,0\n"
    "R1,SU,T3,Central,,1\n",
    "calendar.txt": "service_id,monday,tuesday,wednesday,thursday,friday,saturday,sunday,"
    "start_date,end_date\n"
    "WK,1,1,1,1,1,0,0,20250101,20251231\n"
    "SU,0,0,0,0,0,0,1,20250101,20251231\n",
    "calendar_dates.txt": "service_id,date,exception_type\nWK,20251225,2\nSU,20251225,1\n",
    "shapes.txt": "shape_id,shape_pt_lat,shape_pt_lon,shape_pt_sequence\n"
    "SH1,45.651,25.601,1\nSH1,45.66,25.61,2\nSH1,45.67,25.62,3\n",
    "stop_times.txt": "trip_id,arrival_time,departure_time,stop_id,stop_sequence,pickup_type\n"
    "T1,08:00:00,08:00:00,S1,1,\n"
    "T1,,,S2,2,\n"
    "T1,08:20:00,08:20:00,S3,3,\n"
    "T2,23:50:00,23:50:00,S1,1,\n"
    "T2,24:05:00,24:05:00,S2,2,\n"
    "T2,24:15:00,24:15:00,S3,3,\n"
    "T3,9:00:00,09:00:00,S3,1,\n"
    "T3,09:30:00,09:30:00,S1,2,\n",
}


def write_feed(
    folder: Path, changes: dict[str, str | None] | None = None, as_zip: bool = True
) -> Path:
    """MINI with some files replaced (or removed, with None), as a zip or a folder."""
    files = {**MINI, **(changes or {})}
    if as_zip:
        path = folder / "feed.zip"
        with zipfile.ZipFile(path, "w") as archive:
            for name, text in files.items():
                if text is not None:
                    archive.writestr(name, text)
        return path
    path = folder / "feed"
    path.mkdir(exist_ok=True)
    for name, text in files.items():
        if text is not None:
            (path / name).write_text(text, encoding="utf-8")
        elif (path / name).exists():
            (path / name).unlink()
    return path


def errors_of(path: Path) -> list[str]:
    with pytest.raises(BadRequestData) as raised:
        read_feed(path)
    errors: list[str] = raised.value.extra["errors"]
    assert raised.value.detail.startswith(f"GTFS feed {path} is not valid")
    return errors


def csv_rows(archive: Path, name: str) -> list[dict[str, str]]:
    with zipfile.ZipFile(archive) as opened:
        text = opened.read(name).decode("utf-8-sig")
    return list(csv.DictReader(io.StringIO(text)))


# --- the real feed ------------------------------------------------------------------------------


def test_real_feed_is_read_whole(minsk_zip: Path) -> None:
    feed = read_feed(minsk_zip)
    assert (len(feed.agencies), len(feed.routes), len(feed.stops)) == (1, 4, 120)
    assert (len(feed.trips), len(feed.stop_times), len(feed.shapes)) == (249, 7468, 8)
    assert feed.timezone == "Europe/Warsaw"
    assert feed.ignored_files == ["transfers.txt"]
    # Quoted headsigns with commas come through whole.
    assert feed.trips[0]["trip_headsign"] == "Plac Dworcowy przez Serbinów, Nowe Miasto"
    times = feed.stop_times
    assert times.arrival.min() == parse_gtfs_time("04:50:00")
    assert times.departure.max() == parse_gtfs_time("22:40:00")


def test_real_feed_becomes_smart_data_model_entities(hub: Hub, minsk_zip: Path) -> None:
    report = import_feed(hub, minsk_zip, "minsk")
    assert report.counts["GtfsStop"] == 120
    assert report.counts["GtfsTrip"] == 249
    assert report.counts["stopTimes"] == 7468
    assert report.created == sum(v for k, v in report.counts.items() if k != "stopTimes")
    assert report.seconds < 5

    stops = {d["id"]: d for d in find_documents(hub, "", "GtfsStop")}
    stop = stops["urn:ngsi-ld:GtfsStop:minsk:182"]
    assert stop["name"] == "Mińsk Maz. Serbinów 03"
    assert stop["location"] == {"type": "Point", "coordinates": [21.588815, 52.17736]}
    assert stop["operatedBy"] == ["urn:ngsi-ld:GtfsAgency:minsk:0"]

    routes = {d["id"]: d for d in find_documents(hub, "", "GtfsRoute")}
    assert routes["urn:ngsi-ld:GtfsRoute:minsk:1"]["shortName"] == "M1"
    assert routes["urn:ngsi-ld:GtfsRoute:minsk:1"]["routeType"] == "3"

    trips = {d["id"]: d for d in find_documents(hub, "", "GtfsTrip")}
    trip = trips["urn:ngsi-ld:GtfsTrip:minsk:1_M1_07:00"]
    assert trip["hasRoute"] == "urn:ngsi-ld:GtfsRoute:minsk:1"
    assert trip["hasService"] == "urn:ngsi-ld:GtfsService:minsk:1"
    assert trip["hasShape"] == "urn:ngsi-ld:GtfsShape:minsk:M1"
    expected = sorted(
        (
            int(r["stop_sequence"]),
            r["stop_id"],
            parse_gtfs_time(r["arrival_time"]),
            parse_gtfs_time(r["departure_time"]),
            r["stop_headsign"],
        )
        for r in csv_rows(minsk_zip, "stop_times.txt")
        if r["trip_id"] == "1_M1_07:00"
    )
    got = [(s[0], s[1], s[2], s[3], s[4]["stopHeadsign"]) for s in trip["stopTimes"]]
    assert got == expected

    rules = {d["id"]: d for d in find_documents(hub, "", "GtfsCalendarRule")}
    weekday = rules["urn:ngsi-ld:GtfsCalendarRule:minsk:1"]
    assert weekday["monday"] is True and weekday["saturday"] is False
    assert (weekday["startDate"], weekday["endDate"]) == ("2024-12-15", "2026-06-26")
    exceptions = find_documents(hub, "", "GtfsCalendarDateRule")
    assert len(exceptions) == 36
    shapes = find_documents(hub, "", "GtfsShape")
    assert {s["location"]["type"] for s in shapes} == {"LineString"}
    (feed,) = find_documents(hub, "", "cetate:GtfsFeed")
    assert feed["timezone"] == "Europe/Warsaw"
    assert feed["version"] == "2026-02-12 17:02:13"
    assert feed["revision"] == report.revision


def test_importing_the_same_feed_again_writes_nothing(hub: Hub, minsk_zip: Path) -> None:
    first = import_feed(hub, minsk_zip, "minsk")
    stop_id = "urn:ngsi-ld:GtfsStop:minsk:182"
    before = hub.store.get("", stop_id)
    again = import_feed(hub, minsk_zip, "minsk")
    assert (again.created, again.updated, again.deleted) == (0, 0, 0)
    assert again.unchanged == first.created
    assert again.revision == first.revision
    assert hub.store.get("", stop_id) == before  # not even modifiedAt moved


# --- reading ------------------------------------------------------------------------------------


def test_zip_and_folder_read_the_same(tmp_path: Path) -> None:
    from_zip = read_feed(write_feed(tmp_path, as_zip=True))
    from_folder = read_feed(write_feed(tmp_path, as_zip=False))
    assert from_zip.trips == from_folder.trips
    assert from_zip.stop_times.arrival.tolist() == from_folder.stop_times.arrival.tolist()
    assert len(from_zip.stop_times) == 8


def test_a_zip_of_the_feed_folder_is_read(tmp_path: Path) -> None:
    path = tmp_path / "nested.zip"
    with zipfile.ZipFile(path, "w") as archive:
        for name, text in MINI.items():
            archive.writestr(f"gtfs-2025/{name}", text)
    assert len(read_feed(path).trips) == 3


def test_bom_quotes_and_crlf_are_handled(tmp_path: Path) -> None:
    trips = (
        "\ufeffroute_id,service_id,trip_id,trip_headsign,shape_id,direction_id\r\n"
        'R1,WK,T1,"Depot, via ""Market""",SH1,0\r\n'
        'R1,WK,T2,"Two\nlines",SH1,0\r\n'
        "R1,SU,T3,Central,,1\r\n"
    )
    stops = "\ufeff" + MINI["stops.txt"]
    feed = read_feed(write_feed(tmp_path, {"trips.txt": trips, "stops.txt": stops}))
    assert feed.trips[0]["route_id"] == "R1"  # the BOM is not part of the first column name
    assert feed.trips[0]["trip_headsign"] == 'Depot, via "Market"'
    assert feed.trips[1]["trip_headsign"] == "Two\nlines"
    assert feed.stops[0]["stop_id"] == "ST"


def test_times_past_midnight_and_single_digit_hours_are_accepted(tmp_path: Path) -> None:
    feed = read_feed(write_feed(tmp_path))
    times = feed.stop_times
    t2 = feed.stop_times.trip_start[1]
    assert times.arrival[t2 + 1] == 24 * 3600 + 5 * 60
    t3 = feed.stop_times.trip_start[2]
    assert times.arrival[t3] == 9 * 3600  # "9:00:00"
    t1 = feed.stop_times.trip_start[0]
    assert times.arrival[t1 + 1] == -1  # left out by the feed


# --- errors -------------------------------------------------------------------------------------


def test_missing_files_are_reported(tmp_path: Path) -> None:
    errors = errors_of(write_feed(tmp_path, {"stop_times.txt": None}))
    assert errors == ["stop_times.txt: required file missing"]
    errors = errors_of(write_feed(tmp_path, {"calendar.txt": None, "calendar_dates.txt": None}))
    assert errors == ["calendar.txt: required file missing (or calendar_dates.txt)"]


def test_calendar_dates_alone_are_enough(tmp_path: Path) -> None:
    dates = "service_id,date,exception_type\nWK,20251224,1\nSU,20251225,1\n"
    feed = read_feed(write_feed(tmp_path, {"calendar.txt": None, "calendar_dates.txt": dates}))
    assert len(feed.calendar) == 0 and len(feed.calendar_dates) == 2


def test_a_missing_column_is_reported(tmp_path: Path) -> None:
    routes = "route_id,agency_id,route_short_name\nR1,A,1\n"
    errors = errors_of(write_feed(tmp_path, {"routes.txt": routes}))
    assert errors == ["routes.txt line 1: required column route_type missing"]


def test_a_bad_reference_is_reported_with_its_line(tmp_path: Path) -> None:
    stop_times = MINI["stop_times.txt"].replace("T1,08:20:00,08:20:00,S3", "T1,08:20:00,08:20:00,X")
    errors = errors_of(write_feed(tmp_path, {"stop_times.txt": stop_times}))
    assert errors == ["stop_times.txt line 4: stop_id 'X' is not in stops.txt"]


@pytest.mark.parametrize(
    ("file", "old", "new", "error"),
    [
        (
            "stop_times.txt",
            "T3,09:30",
            "T9,09:30",
            "stop_times.txt line 9: trip_id 'T9' is not in trips.txt",
        ),
        ("trips.txt", "R1,SU", "R7,SU", "trips.txt line 4: route_id 'R7' is not in routes.txt"),
        (
            "trips.txt",
            "R1,SU",
            "R1,XX",
            "trips.txt line 4: service_id 'XX' is in neither calendar.txt nor calendar_dates.txt",
        ),
        (
            "trips.txt",
            "SH1,0\nR1,WK,T2",
            "SH9,0\nR1,WK,T2",
            "trips.txt line 2: shape_id 'SH9' is not in shapes.txt",
        ),
        (
            "stops.txt",
            "S1,Central 1,45.651,25.601,0,ST",
            "S1,Central 1,45.651,25.601,0,NOPE",
            "stops.txt line 3: parent_station 'NOPE' is not in stops.txt",
        ),
        (
            "stops.txt",
            "S1,Central 1,45.651,25.601,0,ST",
            "S1,Central 1,45.651,25.601,0,S2",
            "stops.txt line 3: parent_station 'S2' is not a station (location_type 1)",
        ),
        (
            "stop_times.txt",
            "T3,09:30:00,09:30:00,S1",
            "T3,09:30:00,09:30:00,ST",
            "stop_times.txt line 9: stop_id 'ST' has location_type 1: not a stop",
        ),
        (
            "stop_times.txt",
            "T1,08:20:00,08:20:00",
            "T1,8:20,08:20:00",
            "stop_times.txt line 4: arrival_time must be a time H:MM:SS, got '8:20'",
        ),
        (
            "stop_times.txt",
            "T1,08:20:00,08:20:00",
            "T1,08:61:00,08:61:00",
            "stop_times.txt line 4: arrival_time must be a time H:MM:SS, got '08:61:00'",
        ),
        (
            "stop_times.txt",
            "T1,08:20:00,08:20:00",
            "T1,07:20:00,07:20:00",
            "stop_times.txt line 4: trip 'T1' arrives at 07:20:00, before it left the previous "
            "stop at 08:00:00",
        ),
        (
            "stop_times.txt",
            "T1,08:20:00,08:20:00,S3,3",
            "T1,08:20:00,08:20:00,S3,x",
            "stop_times.txt line 4: stop_sequence must be a non-negative integer, got 'x'",
        ),
        (
            "stop_times.txt",
            "T1,08:20:00,08:20:00,S3,3",
            "T1,08:20:00,08:20:00,S3,1",
            "stop_times.txt line 4: trip 'T1' has stop_sequence 1 twice",
        ),
        (
            "stop_times.txt",
            "T1,08:20:00,08:20:00,S3,3",
            "T1,,,S3,3",
            "stop_times.txt line 4: trip 'T1': the first and last stop need arrival and "
            "departure times",
        ),
        (
            "calendar.txt",
            "20250101,20251231\nSU",
            "2025-01-01,20251231\nSU",
            "calendar.txt line 2: start_date must be a date YYYYMMDD, got '2025-01-01'",
        ),
        (
            "calendar_dates.txt",
            "WK,20251225,2",
            "WK,20251225,3",
            "calendar_dates.txt line 2: exception_type must be 1 or 2, got '3'",
        ),
        (
            "stops.txt",
            "S2,Market,45.66,25.61",
            "S2,Market,95.66,25.61",
            "stops.txt line 4: stop_lat 95.66 is out of range [-90, 90]",
        ),
        (
            "stops.txt",
            "S2,Market,45.66,25.61",
            "S2,Market,45.66,east",
            "stops.txt line 4: stop_lon must be a number, got 'east'",
        ),
        (
            "stops.txt",
            "S3,Depot",
            "S2,Depot",
            "stops.txt line 5: stop_id 'S2' appears twice",
        ),
        (
            "agency.txt",
            "Europe/Bucharest",
            "Europe/Atlantis",
            "agency.txt line 2: agency_timezone 'Europe/Atlantis' is not an IANA time zone",
        ),
    ],
)
def test_each_error_names_its_file_and_line(
    tmp_path: Path, file: str, old: str, new: str, error: str
) -> None:
    assert old in MINI[file]
    errors = errors_of(write_feed(tmp_path, {file: MINI[file].replace(old, new, 1)}))
    assert error in errors, errors


def test_routes_need_an_agency_when_there_are_several(tmp_path: Path) -> None:
    agencies = MINI["agency.txt"] + "B,Other,https://example.com,Europe/Bucharest\n"
    routes = "route_id,agency_id,route_short_name,route_long_name,route_type\nR1,,1,x,3\n"
    errors = errors_of(write_feed(tmp_path, {"agency.txt": agencies, "routes.txt": routes}))
    assert errors == ["routes.txt line 2: agency_id is required when the feed has several agencies"]
    routes = routes.replace("R1,,", "R1,C,")
    errors = errors_of(write_feed(tmp_path, {"agency.txt": agencies, "routes.txt": routes}))
    assert errors == ["routes.txt line 2: agency_id 'C' is not in agency.txt"]


def test_errors_are_collected_and_capped(tmp_path: Path) -> None:
    bad = "".join(f"T1,08:00:00,08:00:00,NO{i},{10 + i},\n" for i in range(70))
    path = write_feed(tmp_path, {"stop_times.txt": MINI["stop_times.txt"] + bad})
    with pytest.raises(BadRequestData) as raised:
        read_feed(path)
    errors = raised.value.extra["errors"]
    assert len(errors) == MAX_ERRORS
    assert errors[0] == "stop_times.txt line 10: stop_id 'NO0' is not in stops.txt"
    assert errors[-1] == "stop_times.txt line 59: stop_id 'NO49' is not in stops.txt"
    assert raised.value.detail.endswith("stop_id 'NO49' is not in stops.txt; and 20 more")
    assert "(70 errors)" in raised.value.detail
    assert raised.value.extra["errorCount"] == 70


def test_several_files_errors_come_together(tmp_path: Path) -> None:
    trips = MINI["trips.txt"].replace("R1,SU", "R7,SU")
    stops = MINI["stops.txt"].replace("45.66,25.61", "45.66,190")
    errors = errors_of(write_feed(tmp_path, {"trips.txt": trips, "stops.txt": stops}))
    assert errors == [
        "stops.txt line 4: stop_lon 190 is out of range [-180, 180]",
        "trips.txt line 4: route_id 'R7' is not in routes.txt",
    ]


def test_not_a_feed(tmp_path: Path) -> None:
    junk = tmp_path / "junk.zip"
    junk.write_bytes(b"not a zip")
    with pytest.raises(BadRequestData, match="not a zip file or a folder"):
        read_feed(junk)
    with pytest.raises(BadRequestData, match="no such file or folder"):
        read_feed(tmp_path / "missing.zip")
    latin = write_feed(tmp_path, as_zip=False)
    (latin / "stops.txt").write_bytes(
        MINI["stops.txt"].replace("Market", "Pia\xe7a").encode("latin-1")
    )
    assert errors_of(latin) == ["stops.txt: is not UTF-8 text (byte 0xe7: save it as UTF-8)"]


# --- ids ----------------------------------------------------------------------------------------


@given(st.text(min_size=1, max_size=40))
def test_any_gtfs_id_becomes_a_valid_entity_id_and_back(raw: str) -> None:
    urn = entity_id("GtfsTrip", "feed", raw)
    assert check_entity_id(urn) == urn
    assert gtfs_id(urn, "GtfsTrip", "feed") == raw


@given(st.integers(min_value=0, max_value=48 * 3600 - 1))
def test_times_round_trip(seconds: int) -> None:
    assert parse_gtfs_time(format_gtfs_time(seconds)) == seconds


@given(st.text(max_size=12))
def test_time_parser_takes_only_times(text: str) -> None:
    try:
        seconds = parse_gtfs_time(text)
    except ValueError:
        return
    hours, minutes, rest = text.split(":")
    assert seconds == int(hours) * 3600 + int(minutes) * 60 + int(rest)
    assert int(minutes) < 60 and int(rest) < 60


def test_ids_keep_urn_characters_and_escape_the_rest() -> None:
    assert escape_id("1_M1A_05:05") == "1_M1A_05:05"
    assert escape_id("a b/c#d") == "a%20b%2Fc%23d"


# --- writing ------------------------------------------------------------------------------------


def test_nothing_is_written_when_the_feed_is_invalid(hub: Hub, tmp_path: Path) -> None:
    path = write_feed(tmp_path, {"stops.txt": MINI["stops.txt"].replace("45.66", "north")})
    with pytest.raises(BadRequestData, match=r"stops.txt line 4: stop_lat must be a number"):
        import_feed(hub, path, "mini")
    assert hub.store.types("") == []
    # An invalid new version leaves the old one whole.
    first = import_feed(hub, write_feed(tmp_path), "mini")
    bad = write_feed(tmp_path, {"stop_times.txt": MINI["stop_times.txt"] + "T1,x,x,S1,9,\n"})
    with pytest.raises(BadRequestData):
        import_feed(hub, bad, "mini")
    (feed,) = find_documents(hub, "", "cetate:GtfsFeed")
    assert feed["revision"] == first.revision
    assert len(find_documents(hub, "", "GtfsTrip")) == 3


def test_a_new_version_updates_in_place_and_removes_what_it_dropped(
    hub: Hub, tmp_path: Path
) -> None:
    first = import_feed(hub, write_feed(tmp_path), "mini")
    t1 = "urn:ngsi-ld:GtfsTrip:mini:T1"
    t3 = "urn:ngsi-ld:GtfsTrip:mini:T3"
    created_t1 = hub.store.get("", t1)
    kept_t3 = hub.store.get("", t3)
    assert created_t1 is not None and kept_t3 is not None

    trips = MINI["trips.txt"].replace("R1,WK,T2,Depot,SH1,0\n", "R1,WK,T4,Depot,SH1,0\n")
    stop_times = (
        MINI["stop_times.txt"]
        .replace("T1,08:20:00,08:20:00", "T1,08:25:00,08:25:00")
        .replace("T2,", "T4,")
    )
    second = import_feed(
        hub, write_feed(tmp_path, {"trips.txt": trips, "stop_times.txt": stop_times}), "mini"
    )
    assert (second.created, second.updated, second.deleted) == (1, 1, 1)  # T4; T1; T2
    assert second.unchanged == first.created - 2
    assert second.revision != first.revision

    assert hub.store.get("", "urn:ngsi-ld:GtfsTrip:mini:T2") is None
    assert hub.store.get("", "urn:ngsi-ld:GtfsTrip:mini:T4") is not None
    updated = hub.store.get("", t1)
    assert updated is not None
    assert updated["createdAt"] == created_t1["createdAt"]  # the same entity, in place
    (t1_doc,) = [d for d in find_documents(hub, "", "GtfsTrip") if d["id"] == t1]
    assert t1_doc["stopTimes"][-1] == [3, "S3", 8 * 3600 + 25 * 60, 8 * 3600 + 25 * 60]
    assert hub.store.get("", t3) == kept_t3  # unchanged: not written at all
    (feed,) = find_documents(hub, "", "cetate:GtfsFeed")
    assert feed["revision"] == second.revision


def test_feeds_under_different_names_do_not_touch_each_other(hub: Hub, tmp_path: Path) -> None:
    path = write_feed(tmp_path)
    import_feed(hub, path, "one")
    import_feed(hub, path, "two")
    trips = MINI["trips.txt"].replace("R1,SU,T3,Central,,1\n", "")
    stop_times = "".join(
        line for line in MINI["stop_times.txt"].splitlines(True) if not line.startswith("T3,")
    )
    smaller = write_feed(tmp_path, {"trips.txt": trips, "stop_times.txt": stop_times})
    report = import_feed(hub, smaller, "two")
    assert report.deleted == 1
    ids = {d["id"] for d in find_documents(hub, "", "GtfsTrip")}
    assert "urn:ngsi-ld:GtfsTrip:one:T3" in ids
    assert "urn:ngsi-ld:GtfsTrip:two:T3" not in ids


def test_the_station_lists_its_stops_and_trips_carry_their_details(
    hub: Hub, tmp_path: Path
) -> None:
    import_feed(hub, write_feed(tmp_path), "mini")
    (station,) = find_documents(hub, "", "GtfsStation")
    assert station["id"] == "urn:ngsi-ld:GtfsStation:mini:ST"
    assert station["hasStop"] == "urn:ngsi-ld:GtfsStop:mini:S1" or station["hasStop"] == [
        "urn:ngsi-ld:GtfsStop:mini:S1"
    ]
    stops = {d["id"]: d for d in find_documents(hub, "", "GtfsStop")}
    assert stops["urn:ngsi-ld:GtfsStop:mini:S1"]["hasParentStation"] == station["id"]
    trips = {d["id"]: d for d in find_documents(hub, "", "GtfsTrip")}
    t1 = trips["urn:ngsi-ld:GtfsTrip:mini:T1"]
    assert t1["stopTimes"][1] == [2, "S2", None, None]  # no time given, no details
    assert t1["direction"] == 0
    assert "hasShape" not in trips["urn:ngsi-ld:GtfsTrip:mini:T3"]


def test_bad_feed_name(hub: Hub, tmp_path: Path) -> None:
    with pytest.raises(BadRequestData, match="feed name"):
        import_feed(hub, write_feed(tmp_path), "a b")


# --- the command --------------------------------------------------------------------------------


def test_cli_imports_and_reports_errors_in_one_line(tmp_path: Path) -> None:
    app = typer.Typer()
    ingest = typer.Typer()
    app.add_typer(ingest, name="ingest")
    add_commands(ingest)
    store = f"sqlite:///{tmp_path / 'hub.db'}"
    runner = CliRunner()
    done = runner.invoke(
        app, ["ingest", "gtfs", str(write_feed(tmp_path)), "--feed", "mini", "--store", store]
    )
    assert done.exit_code == 0, done.output
    assert "3 GtfsTrip" in done.output and "8 stop times" in done.output
    assert "created" in done.output
    bad = write_feed(tmp_path, {"stop_times.txt": None})
    failed = runner.invoke(app, ["ingest", "gtfs", str(bad), "--feed", "mini", "--store", store])
    assert failed.exit_code == 2
    assert "stop_times.txt: required file missing" in failed.output
    assert "Traceback" not in failed.output
