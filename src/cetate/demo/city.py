"""Putting a real city into the hub: its places and main roads (``cetate city load``), and for
the demo its sensors with a few hours of past readings (``cetate demo``)."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any

from rich.progress import Progress

from cetate.city.places import places_to_entities
from cetate.city.roads import road_entities
from cetate.city.service import City, city_slug, load_city
from cetate.config import Settings
from cetate.demo.feed import Readings, backfill, static_documents
from cetate.demo.sensors import demo_sensors
from cetate.errors import BadRequestData
from cetate.hub.documents import upsert_documents
from cetate.hub.service import Hub, build_hub

Say = Callable[[str], None]
BATCH = 1000


def publish_city(settings: Settings, hub: Hub, say: Say) -> City:
    """Load the extract of ``settings.city_osm`` and write its places and main roads."""
    assert settings.city_osm is not None
    city = load_city(settings, progress=say)
    report = city.report
    cached = " (from the cache)" if report.from_cache else ""
    say(f"city: {report.segments:,} road segments in {report.seconds:.1f} s{cached}")
    for mode, counts in report.modes.items():
        say(
            f"  {mode}: {counts['arcs']:,} arcs, {counts['droppedArcs']:,} dropped outside the "
            f"largest connected part, {counts['restrictionsApplied']:,} turn restrictions"
        )
    slug = city_slug(settings.city_osm)
    documents = places_to_entities(city.places, slug)
    if "drive" in city.routers:
        documents += road_entities(city.routers["drive"].network, slug)
    write(hub, documents, replace=True, label="places and roads")
    say(f"hub: {len(city.places):,} places and the main roads of {slug} written")
    return city


def prepare_demo(settings: Settings, history_hours: float, say: Say) -> City:
    """Publish the city, its sensors and their past readings; the city is returned for the
    server to use as it is, not loaded again."""
    hub = build_hub(settings)
    try:
        city = publish_city(settings, hub, say)
        assert settings.city_osm is not None
        sensors = demo_sensors(city, city_slug(settings.city_osm))
        if not sensors:
            raise BadRequestData(f"{settings.city_osm}: no place to put a demo sensor on")
        kinds: dict[str, int] = {}
        for sensor in sensors:
            kinds[sensor.entity_type] = kinds.get(sensor.entity_type, 0) + 1
        say("sensors: " + ", ".join(f"{n:,} {kind}" for kind, n in sorted(kinds.items())))
        write(hub, static_documents(sensors), replace=False, label="sensors")
        readings = Readings(sensors)
        with Progress(transient=True) as progress:
            task = progress.add_task(f"{history_hours:g} h of past readings", total=None)

            def advance(done: int, total: int) -> None:
                progress.update(task, completed=done, total=total)

            written = backfill(hub, readings, history_hours, progress=advance)
        say(f"history: {written:,} readings of the last {history_hours:g} h written")
    finally:
        hub.close()
    return city


def write(hub: Hub, documents: Sequence[dict[str, Any]], replace: bool, label: str) -> None:
    with Progress(transient=True) as progress:
        task = progress.add_task(label, total=len(documents))
        for chunk in _chunks(documents, BATCH):
            result = upsert_documents(hub, "", chunk, replace=replace)
            if result.errors:
                entity_id, error = result.errors[0]
                raise BadRequestData(f"{entity_id}: {error.detail}")
            progress.advance(task, len(chunk))


def _chunks(items: Sequence[dict[str, Any]], size: int) -> Iterator[Sequence[dict[str, Any]]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
