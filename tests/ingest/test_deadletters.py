"""Dead letters: kept with reason, topic and time; listed, inspected, replayed (API and CLI) and
deleted; counted in /metrics and `cetate ingest status`."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import yaml
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from cetate.cli import app as cli
from cetate.config import Settings
from cetate.hub.service import Hub
from cetate.ingest.deadletters import list_dead_letters
from cetate.ingest.mapping import parse_mappings
from cetate.ingest.writer import MessageWriter
from cetate.web.app import create_app

LIGHTS = {
    "topic": "city/lights/{light}",
    "payload": "device",
    "id": "urn:ngsi-ld:Streetlight:{light}",
    "type": "Streetlight",
    "attributes": {"powerState": {"path": "$.on", "values": {"true": "on", "false": "off"}}},
}
PARKING = {
    "topic": "city/parking/{lot}",
    "payload": "keyValues",
    "id": "urn:ngsi-ld:OffStreetParking:{lot}",
    "type": "OffStreetParking",
}
NOW = datetime(2026, 11, 22, 8, 0, tzinfo=UTC)


def seed(hub: Hub) -> None:
    """Three messages for a mapping that only knows parking: two dead letters."""
    writer = MessageWriter(hub, parse_mappings({"subscribe": ["city/#"], "mappings": [PARKING]}))
    outcomes = writer.write(
        [
            ("city/parking/p1", b'{"availableSpotNumber": 4}', NOW),
            ("city/lights/l1", b'{"on": true}', NOW),
            ("city/lights/l2", b"\xff\xfe binary", NOW),
        ]
    )
    assert outcomes[0] is None and "unknown device" in str(outcomes[1])
    assert "unknown device" in str(outcomes[2])


def test_dead_letters_keep_everything(hub: Hub) -> None:
    seed(hub)
    letters = list_dead_letters(hub)
    assert [letter.topic for letter in letters] == ["city/lights/l1", "city/lights/l2"]
    binary = letters[1]
    assert binary.payload == b"\xff\xfe binary"  # bytes survive (stored as base64)
    assert binary.view()["payloadEncoding"] == "base64"
    assert binary.received_at == NOW


def test_api_lists_shows_replays_and_deletes(hub: Hub, tmp_path: Path) -> None:
    seed(hub)
    mapping = tmp_path / "fixed.yaml"
    mapping.write_text(yaml.safe_dump({"mappings": [PARKING, LIGHTS]}))
    settings = Settings(store="unused", allow_remote_contexts=False, ingest_mappings=mapping,
                        ingest_mqtt_url="mqtt://127.0.0.1:1")  # fmt: skip
    with TestClient(create_app(settings, hub)) as client:
        listed = client.get("/ingest/deadletters").json()
        assert len(listed) == 2 and listed[0]["reason"].startswith("unknown device")
        one = client.get(f"/ingest/deadletters/{listed[0]['id']}").json()
        assert one["payload"] == '{"on": true}'
        metrics = client.get("/metrics").text
        assert "cetate_ingest_dead_letters 2" in metrics
        assert 'cetate_ingest_connected{worker="cetate-ingest"}' in metrics
        replayed = client.post("/ingest/deadletters/replay").json()
        assert replayed["stored"] == [listed[0]["id"]]
        assert [f["id"] for f in replayed["failed"]] == [listed[1]["id"]]
        assert "not JSON" in replayed["failed"][0]["reason"]
        light = client.get("/ngsi-ld/v1/entities/urn:ngsi-ld:Streetlight:l1",
                           params={"options": "keyValues"}).json()  # fmt: skip
        assert light["powerState"] == "on"
        assert client.delete(f"/ingest/deadletters/{listed[1]['id']}").status_code == 204
        assert client.get("/ingest/deadletters").json() == []
        assert client.get(f"/ingest/deadletters/{listed[1]['id']}").status_code == 404
        status = client.get("/ingest/status").json()
        assert status["deadLetters"] == 0


def test_replay_without_a_mapping_says_so(hub: Hub) -> None:
    settings = Settings(store="unused", allow_remote_contexts=False)
    with TestClient(create_app(settings, hub)) as client:
        response = client.post("/ingest/deadletters/replay")
    assert response.status_code == 409 and "no ingest mapping" in response.json()["detail"]


def test_cli_lists_replays_and_deletes(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'hub.db'}"
    from cetate.hub.service import build_hub

    the_hub = build_hub(Settings(store=db))
    try:
        seed(the_hub)
    finally:
        the_hub.close()
    runner = CliRunner()
    listed = runner.invoke(cli, ["ingest", "deadletters", "list", "--store", db])
    assert listed.exit_code == 0 and listed.output.count("urn:ngsi-ld:DeadLetter:") == 2
    first_id = listed.output.split()[0]
    shown = runner.invoke(cli, ["ingest", "deadletters", "show", first_id, "--store", db])
    assert '"topic": "city/lights/l1"' in shown.output
    mapping = tmp_path / "fixed.yaml"
    mapping.write_text(yaml.safe_dump({"mappings": [PARKING, LIGHTS]}))
    replayed = runner.invoke(
        cli, ["ingest", "deadletters", "replay", "--mapping", str(mapping), "--store", db]
    )
    assert "1 stored, 1 still failing" in replayed.output, replayed.output
    status = runner.invoke(cli, ["ingest", "status", "--store", db])
    assert "dead letters waiting: 1" in status.output
    missing = runner.invoke(cli, ["ingest", "deadletters", "show", "urn:x:none", "--store", db])
    assert missing.exit_code == 2 and "no dead letter" in missing.output
    bad_mapping = tmp_path / "bad.yaml"
    bad_mapping.write_text("mappings: [{topic: 'a/b', payload: device, colour: red}]")
    refused = runner.invoke(
        cli, ["ingest", "deadletters", "replay", "--mapping", str(bad_mapping), "--store", db]
    )
    assert refused.exit_code == 2 and "unknown key(s) colour" in refused.output
