"""Transit timetables from imported GTFS: departures honouring calendar and calendar_dates (checked
by hand against the Mińsk Mazowiecki CSV files), trips past midnight, stations, interpolated
times, rebuild after a re-import, and the /transit API."""

from __future__ import annotations

import csv
import io
import zipfile
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient

from cetate.config import Settings
from cetate.errors import BadRequestData, ResourceNotFound
from cetate.hub.context import ContextResolver
from cetate.hub.service import Hub
from cetate.hub.store.base import Store
from cetate.ingest.gtfs import import_feed, parse_gtfs_time
from cetate.mobility.transit import Transit, parse_clock, parse_day
from cetate.mobility.transit_api import router as transit_router
from cetate.web.app import create_app

SERBINOW = "182"  # Mińsk Maz. Serbinów 03, served by M1 and M2

# A station (ST) with one platform (S1), a weekday service (WK) with Christmas off, a Sunday
# service (SU) running on Christmas too, a trip past midnight (T2), an untimed stop (T1 at S2),
# a stop where T3 does not pick up (S1 is its last stop anyway: it only arrives there).
FEED: dict[str, str] = {
    "agency.txt": "agency_id,agency_name,agency_url,agency_timezone\n"
    "A,Test Transit,https://example.org,Europe/Bucharest\n",
    "stops.txt": "stop_id,stop_name,stop_lat,stop_lon,location_type,parent_station\n"
    "ST,Central station,45.65,25.60,1,\n"
    "S1,Central 1,45.651,25.601,0,ST\n"
    "S2,Market,45.66,25.61,,\n"
    "S3,Depot,45.67,25.62,,\n",
    "routes.txt": "route_id,agency_id,route_short_name,route_long_name,route_type\n"
    "R1,A,1,Central - Depot,3\n",
    "trips.txt": "route_id,service_id,trip_id,trip_headsign\n"
    "R1,WK,T1,Depot\nR1,WK,T2,Depot\nR1,SU,T3,Central\nR1,WK,T4,Depot\n",
    "calendar.txt": "service_id,monday,tuesday,wednesday,thursday,friday,saturday,sunday,"
    "start_date,end_date\n"
    "WK,1,1,1,1,1,0,0,20250101,20251231\n"
    "SU,0,0,0,0,0,0,1,20250101,20251231\n",
    "calendar_dates.txt": "service_id,date,exception_type\nWK,20251225,2\nSU,20251225,1\n",
    "stop_times.txt": "trip_id,arrival_time,departure_time,stop_id,stop_sequence,pickup_type\n"
    "T1,08:00:00,08:00:00,S1,1,\n"
    "T1,,,S2,2,\n"
    "T1,08:20:00,08:20:00,S3,3,\n"
    "T2,23:50:00,23:50:00,S1,1,\n"
    "T2,24:05:00,24:05:00,S2,2,\n"
    "T2,24:15:00,24:15:00,S3,3,\n"
    "T3,09:00:00,09:00:00,S3,1,\n"
    "T3,09:30:00,09:30:00,S1,2,\n"
    "T4,10:00:00,10:00:00,S1,1,1\n"
    "T4,10:10:00,10:10:00,S2,2,\n"
    "T4,10:20:00,10:20:00,S3,3,\n",
}
THURSDAY = date(2025, 12, 18)
CHRISTMAS = date(2025, 12, 25)  # a Thursday: WK removed, SU added


def write_feed(folder: Path, changes: dict[str, str] | None = None) -> Path:
    path = folder / "feed.zip"
    with zipfile.ZipFile(path, "w") as archive:
        for name, text in {**FEED, **(changes or {})}.items():
            archive.writestr(name, text)
    return path


@pytest.fixture
def minsk(hub: Hub, minsk_zip: Path) -> Transit:
    import_feed(hub, minsk_zip, "minsk")
    return Transit(hub)


def read_csv(archive: Path, name: str) -> list[dict[str, str]]:
    with zipfile.ZipFile(archive) as opened:
        return list(csv.DictReader(io.StringIO(opened.read(name).decode("utf-8-sig"))))


# --- the real feed, checked by hand -------------------------------------------------------------


def test_weekday_departures_match_the_timetable_by_hand(minsk: Transit) -> None:
    # Monday 3 November 2025, service 1 (weekdays); read off stop_times.txt for stop 182.
    found = minsk.departures(SERBINOW, date(2025, 11, 3), parse_clock("07:00"), 3).departures
    assert [(d.trip_id, d.departure_s, d.route.short_name) for d in found] == [
        ("1_M2_06:45", parse_gtfs_time("07:00:00"), "M2"),
        ("1_M1_06:45", parse_gtfs_time("07:12:00"), "M1"),
        ("1_M2_07:05", parse_gtfs_time("07:20:00"), "M2"),
    ]
    assert {d.service_date for d in found} == {date(2025, 11, 3)}
    assert not any(d.interpolated for d in found)


def test_calendar_dates_replace_the_weekly_service(minsk: Transit) -> None:
    # Monday 10 November 2025: service 1 removed, service 2 (Saturdays) added.
    found = minsk.departures(SERBINOW, date(2025, 11, 10), parse_clock("07:00"), 2).departures
    assert [(d.trip_id, d.departure_s) for d in found] == [
        ("2_M2_07:05", parse_gtfs_time("07:19:00")),
        ("2_M1_07:10", parse_gtfs_time("07:35:00")),
    ]
    # Tuesday 11 November 2025 (Independence Day): service 3 (Sundays) instead.
    found = minsk.departures(SERBINOW, date(2025, 11, 11), parse_clock("07:00"), 1).departures
    assert [(d.trip_id, d.departure_s) for d in found] == [
        ("3_M1_07:50", parse_gtfs_time("08:15:00"))
    ]


def test_a_whole_day_matches_the_csv(minsk: Transit, minsk_zip: Path) -> None:
    """Every departure of a Wednesday at stop 182, from the CSV read independently."""
    day = date(2025, 11, 5)
    trips = {r["trip_id"]: r for r in read_csv(minsk_zip, "trips.txt")}
    rows = read_csv(minsk_zip, "stop_times.txt")
    last: dict[str, int] = {}
    for row in rows:
        last[row["trip_id"]] = max(last.get(row["trip_id"], 0), int(row["stop_sequence"]))
    expected = sorted(
        (parse_gtfs_time(r["departure_time"]), r["trip_id"])
        for r in rows
        if r["stop_id"] == SERBINOW
        and trips[r["trip_id"]]["service_id"] == "1"
        and int(r["stop_sequence"]) != last[r["trip_id"]]
    )
    found = minsk.departures(SERBINOW, day, 0, 500).departures
    assert sorted((d.departure_s, d.trip_id) for d in found) == expected
    assert [d.departure_s for d in found] == sorted(d.departure_s for d in found)
    assert len(found) == 71


def test_outside_the_calendar_there_is_nothing(minsk: Transit) -> None:
    found = minsk.departures(SERBINOW, date(2027, 1, 4), 0, 10).departures
    assert found == []


def test_trip_stop_times_follow_the_csv(minsk: Transit, minsk_zip: Path) -> None:
    trip = minsk.trip_stop_times("1_M1_07:00")
    rows = sorted(
        (r for r in read_csv(minsk_zip, "stop_times.txt") if r["trip_id"] == "1_M1_07:00"),
        key=lambda r: int(r["stop_sequence"]),
    )
    assert [(s.stop_id, s.arrival_s) for s in trip.stop_times] == [
        (r["stop_id"], parse_gtfs_time(r["arrival_time"])) for r in rows
    ]
    assert trip.route.short_name == "M1"
    assert trip.service_id == "1"
    assert trip.stop_times[0].stop_name is not None
    assert trip.feed == "minsk"


def test_unknown_stop_and_trip(minsk: Transit) -> None:
    with pytest.raises(ResourceNotFound, match="no stop 'nope'"):
        minsk.departures("nope", date(2025, 11, 3), 0, 5)
    with pytest.raises(ResourceNotFound, match="no trip 'nope'"):
        minsk.trip_stop_times("nope")
    with pytest.raises(ResourceNotFound, match="no GTFS feed 'other'"):
        minsk.timetable("other")


# --- the small feed -----------------------------------------------------------------------------


@pytest.fixture
def small(hub: Hub, tmp_path: Path) -> Transit:
    import_feed(hub, write_feed(tmp_path), "mini")
    return Transit(hub)


def test_trips_after_midnight_belong_to_the_previous_service_day(small: Transit) -> None:
    friday = date(2025, 12, 19)
    found = small.departures("S2", friday, 0, 5).departures
    first = found[0]
    assert (first.trip_id, first.service_date, first.departure_s) == ("T2", THURSDAY, 86700)
    assert first.moment(ZoneInfo("Europe/Bucharest")).isoformat() == "2025-12-19T00:05:00+02:00"
    # From Thursday evening, the same departure is at 24:05 of Thursday's service day.
    found = small.departures("S2", THURSDAY, parse_clock("23:00"), 5).departures
    assert [(d.trip_id, d.service_date) for d in found] == [("T2", THURSDAY)]


def test_untimed_stops_are_interpolated(small: Transit) -> None:
    found = small.departures("S2", THURSDAY, parse_clock("07:00"), 1).departures
    (t1,) = found
    assert (t1.trip_id, t1.departure_s, t1.interpolated) == ("T1", parse_clock("08:10"), True)


def test_no_pickup_and_last_stops_are_not_departures(small: Transit) -> None:
    found = small.departures("S1", THURSDAY, 0, 10).departures
    assert [d.trip_id for d in found] == ["T1", "T2"]  # not T4 (no pickup) nor T3 (ends here)
    found = small.departures("S3", THURSDAY, 0, 10).departures
    assert found == []  # every trip ends there on weekdays


def test_a_station_gathers_its_platforms(small: Transit) -> None:
    found = small.departures("ST", THURSDAY, 0, 10).departures
    assert [(d.trip_id, d.stop_id) for d in found] == [("T1", "S1"), ("T2", "S1")]


def test_christmas_runs_the_sunday_service(small: Transit) -> None:
    found = small.departures("S3", CHRISTMAS, 0, 10).departures
    assert [d.trip_id for d in found] == ["T3"]
    found = small.departures("S1", CHRISTMAS, 0, 10).departures
    assert found == []


def test_the_timetable_is_rebuilt_after_a_new_import(
    hub: Hub, small: Transit, tmp_path: Path
) -> None:
    before = small.timetable("mini")
    assert small.timetable("mini") is before  # nothing changed: the same index
    later = FEED["stop_times.txt"].replace("T1,08:00:00,08:00:00", "T1,08:02:00,08:02:00")
    import_feed(hub, write_feed(tmp_path, {"stop_times.txt": later}), "mini")
    found = small.departures("S1", THURSDAY, 0, 1).departures
    assert found[0].departure_s == parse_clock("08:02")
    assert small.timetable("mini") is not before


def test_several_feeds_need_a_name(hub: Hub, small: Transit, tmp_path: Path) -> None:
    import_feed(hub, write_feed(tmp_path), "other")
    with pytest.raises(BadRequestData, match="several feeds"):
        small.departures("S1", THURSDAY, 0, 1)
    found = small.departures("S1", THURSDAY, 0, 1, feed="other").departures
    assert found[0].trip_id == "T1"
    assert [f.name for f in small.feeds()] == ["mini", "other"]


def test_no_feed_at_all(hub: Hub) -> None:
    with pytest.raises(ResourceNotFound, match="no GTFS feed has been imported"):
        Transit(hub).departures("S1")


def test_dates_and_clocks_are_parsed() -> None:
    assert parse_day("2025-11-03") == date(2025, 11, 3)
    assert parse_day("20251103") == date(2025, 11, 3)
    assert parse_clock("07:05") == 7 * 3600 + 5 * 60
    assert parse_clock("25:00:30") == 25 * 3600 + 30
    for bad in ("tomorrow", "2025-13-01"):
        with pytest.raises(BadRequestData, match="date must be"):
            parse_day(bad)
    for bad in ("7h", "07:60", "48:00"):
        with pytest.raises(BadRequestData, match="after must be"):
            parse_clock(bad)


# --- the API ------------------------------------------------------------------------------------


@pytest.fixture
def client(store: Store, minsk_zip: Path) -> Iterator[TestClient]:
    settings = Settings(store="unused", allow_remote_contexts=False)
    hub = Hub(store, ContextResolver(directory=None, allow_remote=False), settings)
    import_feed(hub, minsk_zip, "minsk")
    app = create_app(settings, hub)
    app.include_router(transit_router, prefix="/transit", tags=["transit"])
    with TestClient(app) as test_client:
        yield test_client
    hub.writer.close()


def test_api_lists_feeds(client: TestClient) -> None:
    response = client.get("/transit/feeds")
    assert response.status_code == 200, response.text
    (feed,) = response.json()
    assert feed["name"] == "minsk"
    assert feed["timezone"] == "Europe/Warsaw"
    assert feed["counts"]["stopTimes"] == 7468
    assert (feed["startDate"], feed["endDate"]) == ("2024-12-15", "2026-06-26")


def test_api_departures(client: TestClient) -> None:
    params = {"date": "2025-11-03", "after": "07:00", "limit": "2", "feed": "minsk"}
    response = client.get(f"/transit/stops/{SERBINOW}/departures", params=params)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["stop"]["name"] == "Mińsk Maz. Serbinów 03"
    assert (body["date"], body["after"]) == ("2025-11-03", "07:00:00")
    first = body["departures"][0]
    assert first["tripId"] == "1_M2_06:45"
    assert first["departureTime"] == "07:00:00"
    assert first["departure"] == "2025-11-03T07:00:00+01:00"
    assert first["route"]["shortName"] == "M2"
    assert first["headsign"] == "Plac Dworcowy"  # the stop headsign of that stop time
    assert [d["tripId"] for d in body["departures"]] == ["1_M2_06:45", "1_M1_06:45"]
    # Without a feed name (one feed) and without a date: today, from now.
    response = client.get(f"/transit/stops/{SERBINOW}/departures")
    assert response.status_code == 200, response.text


def test_api_trip_stop_times(client: TestClient) -> None:
    response = client.get("/transit/trips/1_M1_07:00/stop_times", params={"feed": "minsk"})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["route"]["shortName"] == "M1"
    assert body["stopTimes"][0]["stopSequence"] == 1
    assert body["stopTimes"][0]["arrivalTime"] == body["stopTimes"][0]["departureTime"]
    assert all("stopName" in s for s in body["stopTimes"])


def test_api_errors_are_problem_details(client: TestClient) -> None:
    response = client.get("/transit/stops/nope/departures", params={"date": "2025-11-03"})
    assert response.status_code == 404
    assert response.json()["type"].endswith("ResourceNotFound")
    response = client.get(f"/transit/stops/{SERBINOW}/departures", params={"date": "03.11.2025"})
    assert response.status_code == 400
    assert "date must be YYYY-MM-DD" in response.json()["detail"]
    response = client.get(f"/transit/stops/{SERBINOW}/departures", params={"limit": "0"})
    assert response.status_code == 400
    response = client.get("/transit/trips/1_M1_07:00/stop_times", params={"feed": "other"})
    assert response.status_code == 404
    assert "no GTFS feed 'other'" in response.json()["detail"]
