"""The command line: load files (NGSI-LD JSON, JSON-LD, GeoJSON); errors are one line, exit 2."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from cetate.cli import app
from cetate.hub.store.sqlite import SqliteStore

runner = CliRunner()


def entity(n: int) -> dict[str, object]:
    return {
        "id": f"urn:ngsi-ld:Streetlight:{n}",
        "type": "Streetlight",
        "powerState": {"type": "Property", "value": "on"},
        "location": {
            "type": "GeoProperty",
            "value": {"type": "Point", "coordinates": [25.59, 45.64]},
        },
    }


def stored_ids(db: Path) -> list[str]:
    store = SqliteStore(db)
    try:
        return sorted(
            store._load(store._db(), "", [f"urn:ngsi-ld:Streetlight:{n}" for n in range(10)])
        )
    finally:
        store.close()


def test_load_json_jsonld_and_geojson(tmp_path: Path) -> None:
    plain = tmp_path / "lights.json"
    plain.write_text(json.dumps([entity(1), entity(2)]))
    ld = tmp_path / "light.jsonld"
    ld.write_text(
        json.dumps(
            {
                **entity(3),
                "@context": {
                    "Streetlight": "https://smartdatamodels.org/dataModel.Streetlighting/Streetlight"
                },
            }
        )
    )
    geo = tmp_path / "lights.geojson"
    geo.write_text(
        json.dumps(
            {
                "type": "FeatureCollection",
                "features": [
                    {
                        "type": "Feature",
                        "id": "urn:ngsi-ld:Streetlight:4",
                        "geometry": {"type": "Point", "coordinates": [25.6, 45.65]},
                        "properties": {"type": "Streetlight", "powerState": "off"},
                    }
                ],
            }
        )
    )
    db = tmp_path / "hub.db"
    result = runner.invoke(
        app, ["load", str(plain), str(ld), str(geo), "--store", f"sqlite:///{db}"]
    )
    assert result.exit_code == 0, result.output
    assert "2 entities loaded" in result.output
    assert stored_ids(db) == [f"urn:ngsi-ld:Streetlight:{n}" for n in (1, 2, 3, 4)]


def test_a_bad_file_loads_nothing_and_says_where(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps([entity(1), {"id": "not a uri", "type": "Streetlight"}]))
    db = tmp_path / "hub.db"
    result = runner.invoke(app, ["load", str(bad), "--store", f"sqlite:///{db}"])
    assert result.exit_code == 2
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and "bad.json: entity #2" in lines[0] and "URI" in lines[0]
    assert stored_ids(db) == []


def test_not_json_and_missing_file(tmp_path: Path) -> None:
    broken = tmp_path / "broken.json"
    broken.write_text("{nope")
    db = f"sqlite:///{tmp_path / 'hub.db'}"
    result = runner.invoke(app, ["load", str(broken), "--store", db])
    assert result.exit_code == 2 and "not valid JSON" in result.output
    missing = runner.invoke(app, ["load", str(tmp_path / "none.json"), "--store", db])
    assert missing.exit_code == 2 and "cannot read" in missing.output


def test_unknown_store_url_is_one_line() -> None:
    result = runner.invoke(app, ["load", "x.json", "--store", "mongodb://somewhere"])
    assert result.exit_code == 2
    assert "unknown store URL" in result.output


def test_city_load_writes_places_and_roads(helsinki_pbf: Path, tmp_path: Path) -> None:
    db = tmp_path / "city.db"
    result = runner.invoke(
        app,
        ["city", "load", str(helsinki_pbf), "--store", f"sqlite:///{db}"],
        env={"CETATE_CITY_CACHE": str(tmp_path / "graphs")},
    )
    assert result.exit_code == 0, result.output
    assert "drive:" in result.output and "turn restrictions" in result.output
    store = SqliteStore(db)
    try:
        types = {summary.type for summary in store.types("")}
    finally:
        store.close()
    assert {"PointOfInterest", "OffStreetParking", "RoadSegment", "Road"} <= {
        t.rsplit("/", 1)[-1] for t in types
    }


def test_city_load_errors_are_one_line(helsinki_pbf: Path, tmp_path: Path) -> None:
    truncated = tmp_path / "cut.osm.pbf"
    truncated.write_bytes(helsinki_pbf.read_bytes()[: helsinki_pbf.stat().st_size // 2])
    empty = tmp_path / "empty.osm"
    empty.write_text(
        '<?xml version="1.0"?><osm version="0.6">'
        '<node id="1" lat="45.6" lon="25.6" version="1"/></osm>'
    )
    env = {"CETATE_CITY_CACHE": str(tmp_path / "graphs")}
    store = f"sqlite:///{tmp_path / 'x.db'}"
    for path, reason in (
        (tmp_path / "missing.pbf", "no such file"),
        (truncated, "not a readable OSM extract"),
        (empty, "no roads"),
    ):
        result = runner.invoke(app, ["city", "load", str(path), "--store", store], env=env)
        assert result.exit_code == 2, result.output
        errors = [line for line in result.output.splitlines() if line.startswith("cetate:")]
        assert len(errors) == 1 and reason in errors[0], result.output
        assert "Traceback" not in result.output


def test_serve_refuses_a_bad_extract_or_mapping_in_one_line(
    helsinki_pbf: Path, tmp_path: Path
) -> None:
    truncated = tmp_path / "cut.osm.pbf"
    truncated.write_bytes(helsinki_pbf.read_bytes()[:300_000])
    store = f"sqlite:///{tmp_path / 'x.db'}"
    result = runner.invoke(app, ["serve", "--osm", str(truncated), "--store", store])
    assert result.exit_code == 2 and "not a readable OSM extract" in result.output
    assert "Traceback" not in result.output
    mapping = tmp_path / "bad.yaml"
    mapping.write_text("mappings: not-a-list")
    result = runner.invoke(
        app, ["serve", "--store", store], env={"CETATE_INGEST_MAPPINGS": str(mapping)}
    )
    assert result.exit_code == 2 and "'mappings' list" in result.output
