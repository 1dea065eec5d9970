"""Parcels on the buses of Mińsk Mazowiecki (the real GTFS feed, imported into a hub): every ride
checked against the feed's own stop_times.txt, capacity per trip leg, transfers, due times,
pickup points, reasons for the parcels left out, emissions, determinism, and the comparison
with a van. One test runs on Brașov's streets (a City) with a small feed written here."""

from __future__ import annotations

import csv
import io
import math
import zipfile
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import replace
from datetime import date
from pathlib import Path

import orjson
import pytest
import typer
from hypothesis import given
from hypothesis import strategies as st
from typer.testing import CliRunner

from cetate.city.service import City
from cetate.config import Settings
from cetate.errors import BadRequestData
from cetate.hub.context import ContextResolver
from cetate.hub.service import Hub
from cetate.hub.store.sqlite import SqliteStore
from cetate.ingest.gtfs import import_feed
from cetate.logistics.clock import format_clock
from cetate.logistics.emissions import DEFAULT_FACTORS
from cetate.logistics.model import Size
from cetate.logistics.transit_freight import (
    BusEmissions,
    FreightPlan,
    FreightSettings,
    Itinerary,
    Parcel,
    VanSettings,
    compare_with_van,
    crow_m,
    plan_transit_freight,
    schedule_for,
)
from cetate.logistics.transit_freight_cli import add_commands, freight_text, parcels_from_csv
from cetate.mobility.transit import Timetable, Transit

H = 3600
TUESDAY = date(2026, 3, 10)  # service 1 (weekdays) runs, no exception that day
HOLIDAY = date(2025, 11, 11)  # a Tuesday: calendar_dates takes service 1 off, puts 3 on
# A consolidation centre beside Plac Dworcowy 01 (stop 172, 21.554028 52.176563).
ORIGIN = (21.5530, 52.1760)
# Addresses about 100 m from real stops at the far ends of the lines.
SERBINOW = (21.5900, 52.1780)  # Serbinów 03 (182): M1 and M2
DABROWKI = (21.5822, 52.1757)  # Dąbrówki 01 (118): M2
OSIEDLOWA = (21.5235, 52.1648)  # Osiedlowa 12 (167): M3
ANIELINA = (21.5868, 52.1680)  # PKP Anielina 02 (169): M4
SPACEROWA = (21.5685, 52.1650)  # Spacerowa 04 (188): M3 and M4
FAR_AWAY = (21.7000, 52.2500)  # fields 10 km north-east of the town
SPEED = 15.0 / 3.6  # the courier's default, m/s


# -- the feed ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def minsk_zip(shared_data: Path) -> Path:
    path = shared_data / "gtfs" / "minsk-mazowiecki" / "minsk-maz_gtfs.zip"
    if not path.is_file():
        pytest.skip(f"the Mińsk Mazowiecki GTFS feed is not at {path}")
    return path


def open_hub(folder: Path) -> Hub:
    settings = Settings(store="unused", allow_remote_contexts=False)
    return Hub(
        SqliteStore(folder / "hub.db"),
        ContextResolver(directory=None, allow_remote=False),
        settings,
    )


@pytest.fixture(scope="module")
def timetable(minsk_zip: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Timetable]:
    """The feed imported into a hub and read back as the transit module reads it."""
    hub = open_hub(tmp_path_factory.mktemp("minsk-hub"))
    import_feed(hub, minsk_zip, "minsk")
    yield Transit(hub).timetable("minsk")
    hub.close()


def feed_rows(path: Path, name: str) -> list[dict[str, str]]:
    with zipfile.ZipFile(path) as archive:
        return list(csv.DictReader(io.StringIO(archive.read(name).decode("utf-8-sig"))))


@pytest.fixture(scope="module")
def stop_times(minsk_zip: Path) -> dict[str, list[dict[str, str]]]:
    """stop_times.txt by trip, in stop_sequence order: the feed itself, not the hub's copy."""
    found: dict[str, list[dict[str, str]]] = defaultdict(list)
    for row in feed_rows(minsk_zip, "stop_times.txt"):
        found[row["trip_id"]].append(row)
    for rows in found.values():
        rows.sort(key=lambda row: int(row["stop_sequence"]))
    return dict(found)


@pytest.fixture(scope="module")
def stops(minsk_zip: Path) -> dict[str, tuple[float, float]]:
    return {
        row["stop_id"]: (float(row["stop_lon"]), float(row["stop_lat"]))
        for row in feed_rows(minsk_zip, "stops.txt")
    }


def seconds(clock: str) -> int:
    hours, minutes, secs = (int(part) for part in clock.split(":"))
    return hours * H + minutes * 60 + secs


def parcel(
    pid: str,
    to: tuple[float, float],
    ready: int = 8 * H,
    due: int = 18 * H,
    kg: float = 2.0,
    pickup: bool = False,
    origin: tuple[float, float] = ORIGIN,
) -> Parcel:
    return Parcel(
        pid, origin[0], origin[1], to[0], to[1], Size(kg=kg, parcels=1), ready, due, pickup
    )


def run(
    timetable: Timetable, parcels: list[Parcel], **changes: object
) -> tuple[FreightPlan, FreightSettings]:
    settings = replace(FreightSettings(day=TUESDAY), **changes)  # type: ignore[arg-type]
    return plan_transit_freight(parcels, schedule_for(timetable, settings), settings), settings


def check_against_feed(
    it: Itinerary,
    p: Parcel,
    settings: FreightSettings,
    stop_times: dict[str, list[dict[str, str]]],
    stops: dict[str, tuple[float, float]],
) -> None:
    """Every claim of an itinerary, checked against the feed's files and the rules."""
    for ride in it.rides:
        rows = stop_times[ride.trip_id]
        board, alight = rows[ride.board_position], rows[ride.alight_position]
        assert board["stop_id"] == ride.board_stop_id
        assert alight["stop_id"] == ride.alight_stop_id
        assert seconds(board["departure_time"]) == ride.board_s
        assert seconds(alight["arrival_time"]) == ride.alight_s
        assert int(board["stop_sequence"]) < int(alight["stop_sequence"])
        assert ride.trip_id.startswith("1_")  # the weekday service: the only one on a Tuesday
    first = it.first_mile
    assert first.stop_id == it.rides[0].board_stop_id
    assert first.end_s == it.rides[0].board_s
    assert first.start_s >= p.ready_s
    expected_m = crow_m(p.origin_lon, p.origin_lat, *stops[first.stop_id]) * settings.circuity
    assert first.distance_m == pytest.approx(expected_m)
    assert first.distance_m <= settings.max_courier_m
    assert first.end_s - first.start_s == math.ceil(expected_m / SPEED) + settings.handling_s
    if it.transfer is not None:
        a, b = it.rides
        assert a.trip_id != b.trip_id
        assert b.board_s - a.alight_s >= settings.min_transfer_s
        walk = crow_m(*stops[a.alight_stop_id], *stops[b.board_stop_id]) * settings.circuity
        assert walk <= settings.transfer_walk_m
    last_stop = it.rides[-1].alight_stop_id
    if p.to_pickup_point:
        assert it.last_mile is None and it.pickup_point == last_stop
        assert it.delivered_s == it.rides[-1].alight_s
    else:
        assert it.last_mile is not None and it.last_mile.stop_id == last_stop
        last_m = crow_m(*stops[last_stop], p.lon, p.lat) * settings.circuity
        assert it.last_mile.distance_m == pytest.approx(last_m)
        assert it.last_mile.start_s == it.rides[-1].alight_s
        ride_s = math.ceil(last_m / SPEED) + settings.handling_s
        assert it.delivered_s == it.rides[-1].alight_s + ride_s
    assert it.delivered_s <= p.due_s


def leg_loads(plan: FreightPlan, parcels: dict[str, Parcel]) -> Counter[tuple[str, int]]:
    """Parcels on board per (trip, leg from stop position k to k + 1), from the itineraries."""
    found: Counter[tuple[str, int]] = Counter()
    for it in plan.itineraries:
        for ride in it.rides:
            for k in range(ride.board_position, ride.alight_position):
                found[(ride.trip_id, k)] += int(parcels[it.parcel].size.parcels)
    return found


# -- the schedule -----------------------------------------------------------------------------


def test_the_schedule_runs_the_trips_of_the_days_calendar(timetable: Timetable) -> None:
    tuesday = schedule_for(timetable, FreightSettings(day=TUESDAY))
    holiday = schedule_for(timetable, FreightSettings(day=HOLIDAY))
    # Trip ids of this feed start with their service: 1 weekdays, 2 Saturdays, 3 Sundays.
    assert tuesday.trips and {t.trip_id.split("_")[0] for t in tuesday.trips} == {"1"}
    assert holiday.trips and {t.trip_id.split("_")[0] for t in holiday.trips} == {"3"}
    trip = next(t for t in tuesday.trips if t.trip_id == "1_M1_05:15")
    assert trip.route == "M1"
    assert trip.departure_s[0] == 5 * H + 15 * 60 and trip.arrival_s[-1] == 6 * H + 60
    assert trip.board[0] and not trip.alight[0] and trip.alight[-1] and not trip.board[-1]


def test_listed_stops_only_take_parcels(timetable: Timetable) -> None:
    settings = FreightSettings(day=TUESDAY, stops=frozenset({"172", "182"}))
    schedule = schedule_for(timetable, settings)
    assert sorted(schedule.stop_ids[i] for i in schedule.handover.nonzero()[0]) == ["172", "182"]
    for trip in schedule.trips:
        for k, stop in enumerate(trip.stops):
            if trip.board[k] or trip.alight[k]:
                assert schedule.stop_ids[stop] in {"172", "182"}
    with pytest.raises(BadRequestData, match="no stop 9999"):
        schedule_for(timetable, replace(settings, stops=frozenset({"9999"})))


# -- itineraries ------------------------------------------------------------------------------


def test_parcels_ride_real_trips_at_their_times(
    timetable: Timetable,
    stop_times: dict[str, list[dict[str, str]]],
    stops: dict[str, tuple[float, float]],
) -> None:
    parcels = [
        parcel("serbinow", SERBINOW),
        parcel("dabrowki", DABROWKI, due=11 * H),
        parcel("osiedlowa", OSIEDLOWA),
        parcel("anielina", ANIELINA, ready=9 * H + 30 * 60),
        parcel("spacerowa", SPACEROWA, due=10 * H),
    ]
    plan, settings = run(timetable, parcels)
    assert plan.unassigned == ()
    by_id = {p.id: p for p in parcels}
    for it in plan.itineraries:
        check_against_feed(it, by_id[it.parcel], settings, stop_times, stops)
        assert it.distances == "crow-fly"  # no City: no OSM extract covers Mińsk
    # Planned by due time, ties by id.
    assert [it.parcel for it in plan.itineraries] == [
        "spacerowa",
        "dabrowki",
        "anielina",
        "osiedlowa",
        "serbinow",
    ]
    assert plan.totals.parcels_carried == 5
    text = freight_text(plan, by_id)
    assert "5 parcels carried, 0 not" in text


def test_a_transfer_when_no_trip_links_both_ends(
    timetable: Timetable,
    stop_times: dict[str, list[dict[str, str]]],
    stops: dict[str, tuple[float, float]],
) -> None:
    # From Osiedlowa (only M3 there) to PKP Anielina (M4, M1, M2 nearby, never M3), with a
    # courier reaching 600 m: M3 to a stop M4 or M2 also serves, then the other line.
    p = parcel("change", ANIELINA, origin=OSIEDLOWA)
    plan, settings = run(timetable, [p], max_courier_m=600.0)
    (it,) = plan.itineraries
    assert it.transfer is not None and len(it.rides) == 2
    assert it.rides[0].route == "M3" and it.rides[1].route != "M3"
    check_against_feed(it, p, settings, stop_times, stops)

    direct_only, _ = run(timetable, [p], max_courier_m=600.0, max_transfers=0)
    assert direct_only.itineraries == ()
    (left,) = direct_only.unassigned
    assert left.reason.startswith("no trip on 2026-03-10 links a stop near its origin")
    assert "(no transfer)" in left.reason


def test_a_pickup_point_is_the_stop_nearest_the_recipient(
    timetable: Timetable,
    stop_times: dict[str, list[dict[str, str]]],
    stops: dict[str, tuple[float, float]],
) -> None:
    home = (21.5905, 52.1772)  # 130 m from Serbinów 03 (182), 100 m from Serbinów 02 (181)
    p = parcel("locker", home, pickup=True)
    plan, settings = run(timetable, [p])
    (it,) = plan.itineraries
    check_against_feed(it, p, settings, stop_times, stops)
    nearest = min(stops, key=lambda s: crow_m(*home, *stops[s]))
    across = crow_m(*stops[nearest], *stops[it.pickup_point or ""]) * settings.circuity
    assert across <= settings.transfer_walk_m  # that stop, or the one across the street
    assert plan.totals.courier_hours * H == pytest.approx(
        2 * math.ceil(it.first_mile.distance_m / SPEED) + settings.handling_s
    )


# -- capacity, due times, reasons -------------------------------------------------------------


def test_a_full_trip_sends_the_overflow_to_a_later_one(timetable: Timetable) -> None:
    parcels = [parcel(f"p{n:02d}", SERBINOW) for n in range(12)]
    plan, settings = run(timetable, parcels)
    assert plan.unassigned == ()
    by_id = {p.id: p for p in parcels}
    loads = leg_loads(plan, by_id)
    assert max(loads.values()) == 8  # the box was filled, never overfilled
    trips = Counter(it.rides[0].trip_id for it in plan.itineraries)
    assert len(trips) >= 2
    first = min(plan.itineraries, key=lambda it: it.delivered_s)
    on_first = [it for it in plan.itineraries if it.rides[0].trip_id == first.rides[0].trip_id]
    assert len(on_first) == 8
    later = [it for it in plan.itineraries if it not in on_first]
    assert min(it.delivered_s for it in later) > first.delivered_s
    # The plan's own account of the loads agrees with the itineraries.
    for trip in plan.trips:
        for segment in trip.segments:
            assert segment.load.parcels == len(segment.parcels) <= settings.capacity.parcels
        assert trip.peak.parcels <= 8


def test_with_no_later_trip_in_time_the_overflow_is_left_out(
    timetable: Timetable, stop_times: dict[str, list[dict[str, str]]]
) -> None:
    # Only Plac Dworcowy 01 (172) and Serbinów 03 (182) take parcels: direct trips only.
    only = {"stops": frozenset({"172", "182"}), "max_transfers": 0}
    alone, _ = run(timetable, [parcel("probe", SERBINOW)], **only)
    (probe,) = alone.itineraries
    due = probe.delivered_s
    # The feed's own count of the trips from 172 to 182 that deliver by then.
    first_mile = probe.first_mile.end_s - probe.first_mile.start_s
    last_mile = due - probe.rides[0].alight_s
    in_time = 0
    for rows in stop_times.values():
        if not rows[0]["trip_id"].startswith("1_"):
            continue
        ids = [row["stop_id"] for row in rows]
        for i, row in enumerate(rows):
            if row["stop_id"] != "172" or "182" not in ids[i + 1 :]:
                continue
            arrive = rows[ids.index("182", i + 1)]["arrival_time"]
            if seconds(row["departure_time"]) >= 8 * H + first_mile and (
                seconds(arrive) + last_mile <= due
            ):
                in_time += 1
                break
    parcels = [parcel(f"p{n:02d}", SERBINOW, due=due) for n in range(8 * in_time + 3)]
    plan, _ = run(timetable, parcels, **only)
    assert len(plan.itineraries) == 8 * in_time
    assert len(plan.unassigned) == 3
    for left in plan.unassigned:
        assert left.reason.startswith("trips full: every itinerary delivering it by ")
        assert format_clock(due) in left.reason
    assert max(leg_loads(plan, {p.id: p for p in parcels}).values()) <= 8
    # The ones left out are the last by id (same due time): the rule is explainable.
    assert [u.order for u in plan.unassigned] == [p.id for p in parcels[-3:]]


def test_kilograms_fill_the_box_too(timetable: Timetable) -> None:
    heavy = [parcel(f"h{n}", SERBINOW, kg=30.0) for n in range(3)]
    plan, _ = run(timetable, heavy)
    weights: Counter[tuple[str, int]] = Counter()
    for it in plan.itineraries:
        for ride in it.rides:
            for k in range(ride.board_position, ride.alight_position):
                weights[(ride.trip_id, k)] += 30
    assert max(weights.values()) == 60  # two fit in 80 kg, the third rides another trip
    too_big = parcel("piano", SERBINOW, kg=90.0)
    plan, _ = run(timetable, [too_big])
    assert plan.unassigned[0].reason.startswith("bigger than a trip's cargo box (8 parcels, 80 kg)")


def test_a_due_time_no_trip_can_meet_is_explained(timetable: Timetable) -> None:
    earliest, _ = run(timetable, [parcel("x", OSIEDLOWA)], courier_weight=0.0)
    delivered = earliest.itineraries[0].delivered_s
    plan, _ = run(timetable, [parcel("x", OSIEDLOWA, due=delivered - 60)], courier_weight=0.0)
    assert plan.itineraries == ()
    assert plan.unassigned[0].reason == (
        f"no trip in time: the earliest delivery is {format_clock(delivered)}, after it is due at "
        f"{format_clock(delivered - 60)}"
    )
    late, _ = run(timetable, [parcel("night", SERBINOW, ready=23 * H, due=23 * H + 59 * 60)])
    assert late.unassigned[0].reason.startswith("no trip on 2026-03-10 links")


def test_a_parcel_far_from_every_stop_is_left_out_with_the_reason(timetable: Timetable) -> None:
    plan, _ = run(
        timetable,
        [parcel("farm", FAR_AWAY), parcel("from-farm", SERBINOW, origin=FAR_AWAY)],
    )
    reasons = {u.order: u.reason for u in plan.unassigned}
    assert reasons["farm"].startswith(
        "no stop taking parcels within 3 km of its destination (crow-fly x 1.3); the nearest is "
    )
    assert reasons["from-farm"].startswith("no stop taking parcels within 3 km of its origin")
    assert plan.itineraries == ()


def test_the_same_parcels_give_the_same_plan(timetable: Timetable) -> None:
    parcels = [parcel(f"p{n:02d}", to) for n, to in enumerate([SERBINOW, DABROWKI] * 6)]
    parcels += [parcel("o", OSIEDLOWA), parcel("s", SPACEROWA, pickup=True)]
    first, _ = run(timetable, parcels)
    again, _ = run(timetable, list(reversed(parcels)))
    assert first == again


# -- emissions and the van --------------------------------------------------------------------


def test_emissions_allocate_the_bus_by_mass_or_by_its_marginal_fuel(
    timetable: Timetable,
) -> None:
    p = parcel("solo", SERBINOW, kg=5.0)
    plan, _ = run(timetable, [p])
    (it,) = plan.itineraries
    bus_km = sum(ride.bus_km for ride in it.rides)
    bike = DEFAULT_FACTORS.table["e_cargo_bike"].wtw_kg_per_km(DEFAULT_FACTORS.grid)
    assert it.last_mile is not None
    courier_km = 2 * (it.first_mile.distance_m + it.last_mile.distance_m) / 1000.0
    by_mass = 0.40 * 3.19747 * bus_km * 5.0 / (10 * 100.0 + 5.0)
    assert it.co2e_kg == pytest.approx(by_mass + courier_km * bike)
    assert plan.totals.co2e_kg == pytest.approx(it.co2e_kg)
    assert plan.totals.bike_km == pytest.approx(courier_km)

    marginal, _ = run(timetable, [p], bus=BusEmissions(allocation="marginal"))
    extra_litres = 0.15 * 5.0 / 100.0 * bus_km / 100.0
    assert marginal.itineraries[0].co2e_kg == pytest.approx(
        extra_litres * 3.19747 + courier_km * bike
    )


def test_the_van_does_the_same_parcels_with_sane_figures(timetable: Timetable) -> None:
    parcels = [
        parcel("a", SERBINOW, kg=3.0),
        parcel("b", DABROWKI, kg=5.0),
        parcel("c", OSIEDLOWA, kg=1.0),
        parcel("d", ANIELINA, kg=4.0),
        parcel("e", SPACEROWA, kg=2.0, pickup=True),
        parcel("farm", FAR_AWAY),
    ]
    plan, settings = run(timetable, parcels)
    van = VanSettings(iterations=300, seed=1)
    comparison = compare_with_van(parcels, plan, van, settings=settings)
    v, t = comparison.van, comparison.transit
    assert comparison.van_distances == "crow-fly"
    assert v.parcels_served == t.parcels_served == 5 and v.parcels_unassigned == 0
    assert comparison.notes == ("1 parcel the buses cannot carry: left out of both",)
    # A round trip reaches the farthest address and comes back: at least twice its distance.
    farthest = max(crow_m(*ORIGIN, p.lon, p.lat) for p in parcels[:5]) * settings.circuity
    assert v.motor_km >= 2 * farthest / 1000.0
    assert v.hours >= v.motor_km / van.speed_kmh + 5 * van.service_s / H
    assert v.cost == pytest.approx(
        van.fixed_cost + van.cost_per_km * v.motor_km + van.cost_per_hour * v.hours, abs=0.01
    )
    diesel = DEFAULT_FACTORS.table["diesel_van"].wtw_kg_per_km(DEFAULT_FACTORS.grid)
    assert v.co2e_kg == pytest.approx(v.motor_km * diesel)
    assert v.co2e_kg > t.co2e_kg > 0 and t.motor_km == 0.0 and t.bike_km > 0
    again = compare_with_van(parcels, plan, van, settings=settings)
    assert again == comparison


# -- a City: the courier on the bike network, the van on the streets --------------------------

# Five platforms of RATBV line 2B (OSM), Livada Poștei to the north; the times are made up.
BRASOV_FEED: dict[str, str] = {
    "agency.txt": "agency_id,agency_name,agency_url,agency_timezone\n"
    "A,Test,https://example.org,Europe/Bucharest\n",
    "stops.txt": "stop_id,stop_name,stop_lat,stop_lon\n"
    "S1,Livada Postei,45.645701,25.5885858\n"
    "S2,Stop 2,45.6452942,25.598207\n"
    "S3,Stop 5,45.6569819,25.6063242\n"
    "S4,Stop 9,45.6726778,25.6122096\n"
    "S5,Stop 14,45.6821091,25.6149984\n",
    "routes.txt": "route_id,agency_id,route_short_name,route_long_name,route_type\n"
    "R,A,2B,Livada Postei - Rulmentul,3\n",
    "trips.txt": "route_id,service_id,trip_id\nR,WK,T1\nR,WK,T2\n",
    "calendar.txt": "service_id,monday,tuesday,wednesday,thursday,friday,saturday,sunday,"
    "start_date,end_date\nWK,1,1,1,1,1,0,0,20260101,20261231\n",
    "stop_times.txt": "trip_id,arrival_time,departure_time,stop_id,stop_sequence\n"
    + "".join(
        f"{trip},{h}:{m:02d}:00,{h}:{m:02d}:00,S{k + 1},{k + 1}\n"
        for trip, h in (("T1", "09"), ("T2", "10"))
        for k, m in enumerate((0, 4, 10, 16, 21))
    ),
}


def test_with_a_city_the_courier_rides_the_bike_network(brasov: City, tmp_path: Path) -> None:
    archive = tmp_path / "brasov.zip"
    with zipfile.ZipFile(archive, "w") as out:
        for name, text in BRASOV_FEED.items():
            out.writestr(name, text)
    hub = open_hub(tmp_path)
    import_feed(hub, archive, "brasov")
    timetable = Transit(hub).timetable("brasov")
    hub.close()
    origin, home = (25.5890, 45.6465), (25.6140, 45.6830)
    p = parcel("b1", home, origin=origin, ready=8 * H + 30 * 60)
    settings = FreightSettings(day=TUESDAY)
    plan = plan_transit_freight([p], schedule_for(timetable, settings), settings, brasov)
    (it,) = plan.itineraries
    assert it.distances == "network"
    assert it.rides[0].trip_id == "T1" and it.rides[0].board_stop_id == "S1"
    assert it.rides[0].alight_stop_id == "S5"
    crow = crow_m(*origin, 25.5885858, 45.645701)
    assert crow < it.first_mile.distance_m <= settings.max_courier_m
    assert it.first_mile.distance_m != pytest.approx(crow * settings.circuity)
    van = compare_with_van([p], plan, VanSettings(iterations=100), brasov, settings)
    assert van.van_distances == "network"
    assert van.van.parcels_served == 1 and van.van.motor_km > 2 * crow_m(*origin, *home) / 1000


# -- the parcels file -------------------------------------------------------------------------


def test_a_parcels_file_is_read_with_its_mistakes_named_by_line() -> None:
    text = (
        "id,lon,lat,ready,due,kg,pickup_point\n"
        "P1,21.59,52.178,08:00,18:00,3.5,no\n"
        "P2,21.58,52.17,08:30,12:00,,yes\n"
    )
    p1, p2 = parcels_from_csv(text, "parcels.csv", ORIGIN)
    assert p1 == parcel("P1", (21.59, 52.178), kg=3.5)
    assert p2.to_pickup_point and p2.size == Size(parcels=1) and p2.ready_s == 8 * H + 30 * 60
    with pytest.raises(BadRequestData, match=r"parcels.csv line 3: due: '25:61'"):
        parcels_from_csv(text.replace("12:00", "25:61"), "parcels.csv", ORIGIN)
    with pytest.raises(BadRequestData, match="missing columns: origin_lon, origin_lat"):
        parcels_from_csv(text, "parcels.csv")


@given(st.text(max_size=300))
def test_any_text_as_parcels_is_read_or_refused_cleanly(text: str) -> None:
    try:
        parcels = parcels_from_csv(text, "parcels.csv", ORIGIN)
    except BadRequestData:
        return
    for p in parcels:
        assert p.id and all(math.isfinite(x) for x in (p.lon, p.lat, p.size.kg, p.size.parcels))


def test_the_command_plans_from_the_hub_and_compares_with_a_van(
    minsk_zip: Path, tmp_path: Path
) -> None:
    hub = open_hub(tmp_path)
    import_feed(hub, minsk_zip, "minsk")
    hub.close()
    (tmp_path / "parcels.csv").write_text(
        "id,lon,lat,ready,due,kg,pickup_point\n"
        f"A,{SERBINOW[0]},{SERBINOW[1]},08:00,18:00,3,no\n"
        f"B,{OSIEDLOWA[0]},{OSIEDLOWA[1]},08:00,18:00,2,yes\n"
        f"C,{FAR_AWAY[0]},{FAR_AWAY[1]},08:00,18:00,2,no\n"
    )
    app = typer.Typer()
    app.callback()(lambda: None)
    add_commands(app)
    store = f"sqlite:///{tmp_path / 'hub.db'}"
    args = ["transit-freight", str(tmp_path / "parcels.csv"), "--feed", "minsk"]
    args += ["--store", store, "--origin", f"{ORIGIN[0]},{ORIGIN[1]}"]
    result = CliRunner().invoke(
        app,
        [
            *args,
            "--day",
            "2026-03-10",
            "--van",
            "--iterations",
            "100",
            "--out",
            str(tmp_path / "p.json"),
        ],
    )
    assert result.exit_code == 0, result.output
    assert "2 parcels carried, 1 not" in result.output
    assert "C: no stop taking parcels within 3 km of its destination" in result.output
    assert "passenger lines" in result.output and "van distances: crow-fly" in result.output
    document = orjson.loads((tmp_path / "p.json").read_bytes())
    assert [it["parcel"] for it in document["plan"]["itineraries"]] == ["A", "B"]
    assert document["comparison"]["van"]["parcels_served"] == 2

    bad = CliRunner().invoke(app, [*args, "--day", "2026-13-01"])
    assert bad.exit_code == 2
    assert bad.output.strip() == "cetate: date must be YYYY-MM-DD, got '2026-13-01'"
