"""Road closures: an area (GeoJSON Polygon / MultiPolygon) or a list of segment ids, valid for
an interval, optionally for some modes only. They live in the hub as ``cetate:RoadClosure``
entities, so whoever closes a road (an operator, a flood scenario, an integrator over NGSI-LD)
closes it for every query of every module."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import shapely
import shapely.geometry

from cetate.city.profiles import MODES
from cetate.errors import BadRequestData
from cetate.hub.model import format_time, parse_time

CLOSURE_TYPE = "cetate:RoadClosure"


@dataclass(frozen=True)
class Closure:
    id: str
    area: shapely.Geometry | None  # lon/lat
    segment_ids: frozenset[str]  # "<way id>-<piece>", as in RoadSegment entities
    valid_from: datetime | None
    valid_to: datetime | None
    modes: frozenset[str]
    reason: str | None

    def active(self, at: datetime) -> bool:
        after_start = self.valid_from is None or self.valid_from <= at
        before_end = self.valid_to is None or at < self.valid_to
        return after_start and before_end

    def document(self) -> dict[str, Any]:
        """The closure as a normalized NGSI-LD entity."""
        doc: dict[str, Any] = {"id": self.id, "type": CLOSURE_TYPE}
        if self.area is not None:
            geometry = shapely.geometry.mapping(self.area)
            doc["location"] = {"type": "GeoProperty", "value": _plain(geometry)}
        if self.segment_ids:
            doc["segments"] = {"type": "Property", "value": sorted(self.segment_ids)}
        for name, moment in (("validFrom", self.valid_from), ("validTo", self.valid_to)):
            if moment is not None:
                doc[name] = {"type": "Property", "value": format_time(moment)}
        doc["modes"] = {"type": "Property", "value": sorted(self.modes)}
        if self.reason:
            doc["reason"] = {"type": "Property", "value": self.reason}
        return doc


def parse_closure(raw: Mapping[str, Any]) -> Closure:
    """A closure from a keyValues document (what the API takes and the hub gives back).

    Raises ``BadRequestData`` saying what is wrong: invalid GeoJSON, an unknown mode, an interval
    that ends before it starts, neither an area nor segments.
    """
    closure_id = raw.get("id")
    if not isinstance(closure_id, str) or not closure_id:
        raise BadRequestData("a closure needs an id (a URI)")
    area = None
    if raw.get("location") is not None:
        area = parse_area(raw["location"], closure_id)
    segments = raw.get("segments") or []
    if not isinstance(segments, list) or not all(isinstance(s, str) for s in segments):
        raise BadRequestData(f"{closure_id}: segments must be a list of segment ids")
    if area is None and not segments:
        raise BadRequestData(f"{closure_id}: give an area (location) or segment ids to close")
    valid_from = _time(raw.get("validFrom"), "validFrom", closure_id)
    valid_to = _time(raw.get("validTo"), "validTo", closure_id)
    if valid_from and valid_to and valid_to <= valid_from:
        raise BadRequestData(f"{closure_id}: validTo must be after validFrom")
    modes = raw.get("modes") or list(MODES)
    if not isinstance(modes, list) or not all(m in MODES for m in modes) or not modes:
        raise BadRequestData(f"{closure_id}: modes must be a list among {', '.join(MODES)}")
    reason = raw.get("reason")
    return Closure(
        id=closure_id,
        area=area,
        segment_ids=frozenset(segments),
        valid_from=valid_from,
        valid_to=valid_to,
        modes=frozenset(modes),
        reason=str(reason) if reason is not None else None,
    )


def parse_area(geojson: Any, owner: str) -> shapely.Geometry:
    if not isinstance(geojson, Mapping) or geojson.get("type") not in ("Polygon", "MultiPolygon"):
        raise BadRequestData(f"{owner}: location must be a GeoJSON Polygon or MultiPolygon")
    try:
        area = shapely.geometry.shape(geojson)
    except (ValueError, TypeError, AttributeError, LookupError, shapely.errors.ShapelyError):
        raise BadRequestData(f"{owner}: location is not valid GeoJSON") from None
    if area.is_empty or not area.is_valid:
        reason = shapely.is_valid_reason(area)
        raise BadRequestData(f"{owner}: location is not a valid polygon ({reason})")
    return area


def active_closures(closures: Iterable[Closure], at: datetime, mode: str) -> list[Closure]:
    return [c for c in closures if mode in c.modes and c.active(at)]


def _time(value: Any, field: str, owner: str) -> datetime | None:
    if value is None:
        return None
    try:
        return parse_time(value, field)
    except BadRequestData as error:
        raise BadRequestData(f"{owner}: {error.detail}") from None


def _plain(value: Any) -> Any:
    """GeoJSON from shapely's mapping (tuples) as JSON lists."""
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value
