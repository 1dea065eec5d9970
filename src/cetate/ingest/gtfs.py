"""GTFS static feeds into the hub: read a feed (zip or folder), check all of it, and write it as
FIWARE Smart Data Models entities (dataModel.UrbanMobility).

``read_feed`` checks the required files and columns, the value formats (times ``H:MM:SS`` past
24 h too, dates ``YYYYMMDD``, coordinates, integers, enumerations) and every reference between
files, and reports each problem by file and line (at most ``MAX_ERRORS``, in one
``BadRequestData``). Only a feed with no error is imported, so a bad file writes nothing.

Entities (``{feed}`` is the name given at import, GTFS ids are percent-escaped to URN characters):

- ``GtfsAgency``      ``urn:ngsi-ld:GtfsAgency:{feed}:{agency_id}`` (``default`` when the feed
  has one agency without an id)
- ``GtfsStop``        ``urn:ngsi-ld:GtfsStop:{feed}:{stop_id}`` (stops, platforms; generic nodes
  and boarding areas too, with ``locationType``); ``GtfsStation`` for ``location_type`` 1 and
  ``GtfsAccessPoint`` for 2 (entrances), as the Smart Data Models split them
- ``GtfsRoute``, ``GtfsTrip``, ``GtfsShape``, ``GtfsService``
- ``GtfsCalendarRule`` ``...:{feed}:{service_id}`` and ``GtfsCalendarDateRule``
  ``...:{feed}:{service_id}:{YYYYMMDD}``
- ``cetate:GtfsFeed`` ``urn:ngsi-ld:GtfsFeed:{feed}``: the import itself (version, validity,
  time zone, counts and a ``revision`` that changes whenever the feed's entities change, which
  readers such as the transit timetable use to know when to rebuild).

Stop times are not one entity per row (a city feed has millions): each ``GtfsTrip`` carries them
in a ``stopTimes`` Property, a list ordered by ``stop_sequence`` of
``[stopSequence, stopId, arrival_s, departure_s]`` rows, where ``stopId`` is the GTFS
``stop_id`` and times are seconds after midnight of the service day (past 86,400 for trips
running after midnight; ``null`` where the feed leaves a time out). A row carries a fifth member,
an object, only when the feed gives more for that stop time: ``stopHeadsign``, ``pickupType``,
``dropOffType``, ``distanceTravelled`` (``shape_dist_traveled``), ``timepoint`` (names of the
Smart Data Model ``GtfsStopTime``). One trip is one read and one write, and a timetable is built
from a few thousand entities rather than millions.

A new version of a feed imported under the same name updates its entities in place: an entity
whose content is unchanged is not written again (no history row, no notification), changed ones
are replaced, and entities of the feed that the new version no longer has are deleted.

This module is the import; the feed is read and checked in ``cetate.ingest.gtfs_read`` and turned
into documents in ``cetate.ingest.gtfs_entities``. The names other code uses from those two are
re-exported here (``__all__``).
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cetate.errors import BadRequestData, CetateError
from cetate.hub import changes
from cetate.hub.changes import Change
from cetate.hub.documents import delete_documents
from cetate.hub.model import Entity, Instance, now_iso, parse_entity
from cetate.hub.service import Hub
from cetate.hub.store.base import EntityQuery
from cetate.ingest.gtfs_entities import (
    BATCH_ENTITIES,
    FEED_TYPE,
    TYPES,
    Documents,
    as_property,
    as_relationship,
    check_feed_name,
    entity_id,
    escape_id,
    feed_entity_id,
    gtfs_id,
    id_prefix,
    iso_date,
    put_property,
)
from cetate.ingest.gtfs_read import (
    MAX_ERRORS,
    GtfsFeed,
    format_gtfs_time,
    parse_gtfs_date,
    parse_gtfs_time,
    read_feed,
)

__all__ = [
    "BATCH_ENTITIES",
    "FEED_TYPE",
    "MAX_ERRORS",
    "TYPES",
    "GtfsFeed",
    "ImportReport",
    "Progress",
    "check_feed_name",
    "entity_id",
    "escape_id",
    "feed_entity_id",
    "format_gtfs_time",
    "gtfs_id",
    "id_prefix",
    "import_feed",
    "parse_gtfs_date",
    "parse_gtfs_time",
    "read_feed",
    "same_content",
]

Progress = Callable[[str, int, int], None]  # stage, done, total


# ---------------------------------------------------------------------------------------------
# Import


@dataclass(slots=True)
class ImportReport:
    feed: str
    source: str
    counts: dict[str, int]  # entities per type, and "stopTimes"
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    deleted: int = 0
    read_s: float = 0.0
    write_s: float = 0.0
    seconds: float = 0.0
    revision: str = ""
    ignored_files: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "feed": self.feed,
            "source": self.source,
            "counts": self.counts,
            "created": self.created,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "deleted": self.deleted,
            "read_s": round(self.read_s, 3),
            "write_s": round(self.write_s, 3),
            "seconds": round(self.seconds, 3),
            "revision": self.revision,
            "ignoredFiles": self.ignored_files,
        }


class _Unchanged(CetateError):
    """Raised inside a batch for an entity already stored as it is: nothing is written."""


_SYSTEM = frozenset({"createdAt", "modifiedAt", "instanceId"})


def _content(instance: Instance) -> dict[str, Any]:
    return {
        key: (
            _content(value) if isinstance(value, dict) and "type" in value and ":" in key else value
        )
        for key, value in instance.items()
        if key not in _SYSTEM
    }


def same_content(old: Entity, new: Entity) -> bool:
    """Whether two entities say the same (system times aside)."""
    if old["type"] != new["type"] or old.get("scope") != new.get("scope"):
        return False
    old_attrs, new_attrs = old["attrs"], new["attrs"]
    if old_attrs.keys() != new_attrs.keys():
        return False
    for iri, instances in new_attrs.items():
        before = old_attrs[iri]
        if len(before) != len(instances):
            return False
        if any(_content(a) != _content(b) for a, b in zip(before, instances, strict=True)):
            return False
    return True


def _replace_if_changed(old: Entity | None, new: Entity) -> Change:
    if old is not None and same_content(old, new):
        raise _Unchanged(new["id"])
    return changes.replace(old, new)


def import_feed(
    hub: Hub,
    path: Path,
    feed: str,
    tenant: str = "",
    progress: Progress | None = None,
) -> ImportReport:
    """Read, check and write a GTFS feed into the hub under the name ``feed``.

    Nothing is written when the feed is not valid (``BadRequestData`` lists the problems). A new
    version of a feed already imported updates it in place: unchanged entities stay as they are,
    changed ones are replaced, those the new version lacks are deleted, and the feed's
    ``cetate:GtfsFeed`` entity gets a new ``revision`` last, once everything else is written."""
    started = time.perf_counter()
    say = progress or (lambda _stage, _done, _total: None)
    check_feed_name(feed)
    say("reading", 0, 0)
    data = read_feed(path)
    read_done = time.perf_counter()
    documents = Documents(data, feed)
    ctx = hub.contexts.core()
    now = now_iso()
    small: list[tuple[str, list[dict[str, Any]]]] = [
        ("GtfsAgency", documents.agencies()),
        ("GtfsStop", documents.stops()),
        ("GtfsRoute", documents.routes()),
        ("GtfsService", documents.services()),
        ("GtfsCalendarRule", documents.calendar_rules()),
        ("GtfsCalendarDateRule", documents.calendar_date_rules()),
        ("GtfsShape", documents.shapes()),
    ]
    # Everything is validated as the hub will see it before anything is written.
    parsed_small = [parse_entity(doc, ctx, now) for _, docs in small for doc in docs]
    counts: dict[str, int] = dict.fromkeys(TYPES, 0)
    for doc in (d for _, docs in small for d in docs):
        counts[doc["type"]] += 1
    counts["GtfsTrip"] = len(data.trips)
    counts["stopTimes"] = len(data.stop_times)
    report = ImportReport(
        feed=feed,
        source=str(path),
        counts={k: v for k, v in counts.items() if v or k == "stopTimes"},
        ignored_files=data.ignored_files,
    )
    previous = hub.store.get(tenant, feed_entity_id(feed))
    stale = _stored_ids(hub, tenant, feed)  # what an earlier version (even half-written) left

    total = len(parsed_small) + len(data.trips)
    done = 0
    say("writing", done, total)

    def write(entities: Sequence[Entity]) -> None:
        nonlocal done
        result = hub.batch(tenant, entities, _replace_if_changed)
        for failed_id, error in result.errors:
            if isinstance(error, _Unchanged):
                report.unchanged += 1
            else:
                raise BadRequestData(f"{failed_id}: {error.detail}")
        report.created += len(result.created)
        report.updated += len(result.success) - len(result.created)
        for entity in entities:
            stale.discard(entity["id"])
        done += len(entities)
        say("writing", done, total)

    for start in range(0, len(parsed_small), BATCH_ENTITIES):
        write(parsed_small[start : start + BATCH_ENTITIES])
    for batch in documents.trip_batches():
        write([parse_entity(doc, ctx, now) for doc in batch])
    if stale:
        ordered = sorted(stale)
        say("deleting", 0, len(ordered))
        for start in range(0, len(ordered), BATCH_ENTITIES):
            chunk = ordered[start : start + BATCH_ENTITIES]
            result = delete_documents(hub, tenant, chunk)
            report.deleted += len(result.success)
            say("deleting", start + len(chunk), len(ordered))
    changed = bool(report.created or report.updated or report.deleted)
    old_revision = _property(previous, ctx.expand("revision")) if previous else None
    report.revision = uuid.uuid4().hex if changed or not old_revision else str(old_revision)
    report.write_s = time.perf_counter() - read_done
    report.read_s = read_done - started
    if changed or previous is None:
        feed_doc = _feed_document(data, feed, report)
        hub.upsert(tenant, [parse_entity(feed_doc, ctx, now_iso())], replace=True)
    report.seconds = time.perf_counter() - started
    return report


def _stored_ids(hub: Hub, tenant: str, feed: str) -> set[str]:
    """Ids of the entities a previous import of ``feed`` wrote."""
    ctx = hub.contexts.core()
    found: set[str] = set()
    for type_name in TYPES:
        query = EntityQuery(
            types=(frozenset({ctx.expand(type_name)}),),
            id_pattern=re.compile(re.escape(id_prefix(type_name, feed)) + ".*"),
            limit=10_000_000,
        )
        entities, _ = hub.store.query(tenant, query)
        found.update(e["id"] for e in entities)
    return found


def _property(entity: Entity, iri: str) -> Any:
    instances = entity["attrs"].get(iri) or []
    return instances[0].get("value") if instances else None


def _feed_document(data: GtfsFeed, feed: str, report: ImportReport) -> dict[str, Any]:
    info: Mapping[str, str] = data.feed_info or {}
    starts = [r["start_date"] for r in data.calendar] + [r["date"] for r in data.calendar_dates]
    ends = [r["end_date"] for r in data.calendar] + [r["date"] for r in data.calendar_dates]
    start = info.get("feed_start_date") or (min(starts) if starts else "")
    end = info.get("feed_end_date") or (max(ends) if ends else "")
    doc: dict[str, Any] = {
        "id": feed_entity_id(feed),
        "type": FEED_TYPE,
        "name": as_property(feed),
        "timezone": as_property(data.timezone),
        "revision": as_property(report.revision),
        "importedAt": as_property(now_iso()),
        "source": as_property(Path(data.source).name),
        "counts": as_property(report.counts),
    }
    put_property(doc, "version", info.get("feed_version"))
    put_property(doc, "publisher", info.get("feed_publisher_name"))
    put_property(doc, "language", info.get("feed_lang"))
    if start:
        doc["startDate"] = as_property(iso_date(start))
    if end:
        doc["endDate"] = as_property(iso_date(end))
    doc["operatedBy"] = as_relationship(
        [
            entity_id("GtfsAgency", feed, data.agency_key(a.get("agency_id", "")))
            for a in data.agencies
        ]
    )
    return doc
