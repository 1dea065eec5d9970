"""The MQTT worker against the real Mosquitto: mapping, dead letters for every kind of bad
input, acknowledgement after commit, a broker that goes away and comes back, and kill -9 under
load with nothing lost."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import orjson
import paho.mqtt.client as mqtt
import pytest
from fastapi.testclient import TestClient

from cetate.config import Settings
from cetate.hub.service import Hub, build_hub
from cetate.ingest.deadletters import list_dead_letters
from cetate.ingest.mapping import MappingSet, parse_mappings
from cetate.ingest.mqtt import MqttSettings, MqttWorker, end_session
from cetate.ingest.status import metrics_text
from cetate.mqtt import paho_client
from cetate.web.app import create_app

pytestmark = pytest.mark.mqtt


def mapping(prefix: str, max_payload: int = 4096) -> MappingSet:
    return parse_mappings(
        {
            "subscribe": [f"{prefix}/#"],
            "max_payload_bytes": max_payload,
            "mappings": [
                {
                    "name": "counters",
                    "topic": f"{prefix}/counter/{{device}}",
                    "payload": "keyValues",
                    "id": "urn:ngsi-ld:Device:{device}",
                    "type": "Device",
                },
                {
                    "name": "parking sensor",
                    "topic": f"{prefix}/parking/{{lot}}/up",
                    "payload": "device",
                    "id": "urn:ngsi-ld:OffStreetParking:test:{lot}",
                    "type": "OffStreetParking",
                    "timestamp": "$.ts",
                    "timestamp_format": "epoch_ms",
                    "attributes": {
                        "availableSpotNumber": {"path": "$.free", "type": "integer"},
                        "status": {"path": "$.st", "values": {"0": "closed", "1": "open"}},
                    },
                },
            ],
        }
    )


class Publisher:
    def __init__(self, url: str) -> None:
        self.client, broker = paho_client(url, f"pub-{uuid.uuid4().hex[:8]}", mqtt.MQTTv5)
        self.client.max_inflight_messages_set(200)
        self.client.max_queued_messages_set(0)
        self.client.connect(broker.host, broker.port)
        self.client.loop_start()

    def send(self, topic: str, payload: bytes | dict[str, Any]) -> mqtt.MQTTMessageInfo:
        body = payload if isinstance(payload, bytes) else orjson.dumps(payload)
        return self.client.publish(topic, body, qos=1)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


@pytest.fixture
def prefix() -> str:
    return f"cetate-test/{uuid.uuid4().hex[:10]}"


@pytest.fixture
def hub(tmp_path: Path) -> Iterator[Hub]:
    """A hub in a SQLite file of its own (the worker writes from its thread, as in production)."""
    the_hub = build_hub(Settings(store=f"sqlite:///{tmp_path / 'hub.db'}"))
    yield the_hub
    the_hub.close()


@pytest.fixture
def publisher(mqtt_url: str) -> Iterator[Publisher]:
    pub = Publisher(mqtt_url)
    yield pub
    pub.close()


def start_worker(hub: Hub, url: str, prefix: str, client_id: str, **kw: Any) -> MqttWorker:
    worker = MqttWorker(hub, mapping(prefix, **kw), MqttSettings(url, client_id, batch_wait_s=0.01))
    worker.start()
    assert worker.wait_connected(10), "the worker did not connect"
    time.sleep(0.2)  # the subscription is acknowledged just after the connection
    return worker


def wait_for(condition: Callable[[], bool], timeout_s: float = 15.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def history(hub: Hub, entity_id: str, attr: str) -> list[Any]:
    with TestClient(create_app(hub.settings, hub)) as client:
        response = client.get(
            f"/ngsi-ld/v1/temporal/entities/{entity_id}",
            params={"attrs": attr, "options": "temporalValues", "lastN": "100000"},
        )
    assert response.status_code == 200, response.text
    return [value for value, _ in response.json()[attr]["values"]]


def test_messages_become_entities_with_history_and_are_acknowledged(
    hub: Hub, mqtt_url: str, prefix: str, publisher: Publisher
) -> None:
    client_id = f"t-{uuid.uuid4().hex[:8]}"
    worker = start_worker(hub, mqtt_url, prefix, client_id)
    try:
        for n in range(30):
            publisher.send(f"{prefix}/counter/d{n % 3}", {"seq": n, "temperature": 20 + n})
        publisher.send(f"{prefix}/parking/p1/up", {"free": "12", "st": 1, "ts": 1_700_000_000_000})
        wait_for(lambda: worker.counters.snapshot()["stored"] == 31)
    finally:
        worker.stop()
    assert sorted(history(hub, "urn:ngsi-ld:Device:d1", "seq")) == list(range(1, 30, 3))
    parking = hub.get("", "urn:ngsi-ld:OffStreetParking:test:p1")
    free = next(v for k, v in parking["attrs"].items() if k.endswith("availableSpotNumber"))
    assert free[0]["value"] == 12 and free[0]["observedAt"] == "2023-11-14T22:13:20.000Z"
    # Everything was acknowledged: the same session started again gets nothing redelivered.
    again = start_worker(hub, mqtt_url, prefix, client_id)
    time.sleep(1.0)
    again.stop()
    end_session(mqtt_url, client_id)
    assert again.counters.snapshot()["received"] == 0


@pytest.mark.parametrize(
    ("topic", "payload", "reason"),
    [
        ("parking/p1/up", b"not json at all", "not JSON"),
        ("parking/p1/up", b"[1, 2, 3]", "must be a JSON object"),
        ("parking/p1/up", b'{"free": "many", "st": 1, "ts": 1}', "expected a number"),
        ("parking/p1/up", b'{"free": 3, "st": 7, "ts": 1}', "is not one of"),
        ("parking/p1/up", b'{"free": 3, "st": 1}', "no value at $.ts"),
        ("lights/l9/state", b'{"on": true}', "unknown device"),
        ("counter/d1", b'{"seq": 1, "' + b"x" * 5000 + b'": 1}', "over the 4,096 limit"),
        ("counter/d1", b'{"seq": 1, "bad<name>": 2}', "not a valid entity"),
    ],
)
def test_bad_input_becomes_a_dead_letter_and_the_worker_goes_on(
    hub: Hub,
    mqtt_url: str,
    prefix: str,
    publisher: Publisher,
    topic: str,
    payload: bytes,
    reason: str,
) -> None:
    client_id = f"t-{uuid.uuid4().hex[:8]}"
    worker = start_worker(hub, mqtt_url, prefix, client_id)
    try:
        publisher.send(f"{prefix}/{topic}", payload)
        publisher.send(f"{prefix}/counter/ok", {"seq": 1})  # a good one after it still lands
        wait_for(lambda: worker.counters.snapshot()["received"] == 2)
    finally:
        worker.stop()
        end_session(mqtt_url, client_id)
    counts = worker.counters.snapshot()
    assert (counts["stored"], counts["deadLettered"]) == (1, 1)
    (letter,) = list_dead_letters(hub)
    assert reason in letter.reason, letter.reason
    assert letter.topic == f"{prefix}/{topic}" and letter.source == "mqtt"
    assert letter.payload == payload[: len(letter.payload)]
    assert "cetate_ingest_dead_letters 1" in metrics_text(hub)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def private_broker(tmp_path: Path) -> Iterator[Callable[[], subprocess.Popen[bytes]]]:
    """A Mosquitto of the test's own (the shared one must not be stopped), with persistence,
    so it can be taken away and brought back."""
    binary = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
    if not Path(binary).exists():
        pytest.skip("the mosquitto binary is not installed")
    port = free_port()
    config = tmp_path / "mosquitto.conf"
    config.write_text(
        f"listener {port} 127.0.0.1\nallow_anonymous true\npersistence true\n"
        f"persistence_location {tmp_path}/\n"
    )
    running: list[subprocess.Popen[bytes]] = []

    def start() -> subprocess.Popen[bytes]:
        process = subprocess.Popen([binary, "-c", str(config)], stderr=subprocess.DEVNULL)
        running.append(process)
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                return process
            except OSError:
                assert time.monotonic() < deadline, "mosquitto did not start"
                time.sleep(0.05)

    start.port = port  # type: ignore[attr-defined]
    yield start
    for process in running:
        process.terminate()
        process.wait(timeout=10)


def test_a_broker_that_goes_away_and_comes_back(
    hub: Hub, prefix: str, private_broker: Callable[[], subprocess.Popen[bytes]]
) -> None:
    broker = private_broker()
    url = f"mqtt://127.0.0.1:{private_broker.port}"  # type: ignore[attr-defined]
    worker = start_worker(hub, url, prefix, "survivor")
    try:
        publisher = Publisher(url)
        publisher.send(f"{prefix}/counter/a", {"seq": 1}).wait_for_publish(5)
        wait_for(lambda: worker.counters.snapshot()["stored"] == 1)
        publisher.close()
        broker.terminate()
        broker.wait(timeout=10)
        wait_for(lambda: not worker.connected.is_set())
        private_broker()  # back, with the worker's persistent session
        wait_for(lambda: worker.connected.is_set(), timeout_s=40)  # reconnect backoff
        publisher = Publisher(url)
        publisher.send(f"{prefix}/counter/a", {"seq": 2}).wait_for_publish(5)
        wait_for(lambda: worker.counters.snapshot()["stored"] == 2)
        publisher.close()
    finally:
        worker.stop()
    assert sorted(history(hub, "urn:ngsi-ld:Device:a", "seq")) == [1, 2]


WORKER_SCRIPT = """
import sys, time
from pathlib import Path
from cetate.config import Settings
from cetate.hub.service import build_hub
from cetate.ingest.mapping import parse_mappings
from cetate.ingest.mqtt import MqttSettings, MqttWorker, end_session
import json
url, client_id, db, mapping = sys.argv[1:5]
hub = build_hub(Settings(store=f"sqlite:///{db}"))
worker = MqttWorker(hub, parse_mappings(json.loads(mapping)), MqttSettings(url, client_id))
worker.start()
while True:
    time.sleep(1)
"""


def test_kill_9_under_load_loses_nothing(
    mqtt_url: str, prefix: str, tmp_path: Path, publisher: Publisher
) -> None:
    """published = stored + dead-lettered, counted by distinct sequence numbers (QoS 1 is at
    least once: a message committed but not yet acknowledged when the worker died comes again)."""
    db = tmp_path / "hub.db"
    client_id = f"kill-{uuid.uuid4().hex[:8]}"
    document = {
        "mappings": [
            {
                "topic": f"{prefix}/counter/{{device}}",
                "payload": "keyValues",
                "id": "urn:ngsi-ld:Device:{device}",
                "type": "Device",
            }
        ]
    }

    def spawn() -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            [sys.executable, "-c", WORKER_SCRIPT, mqtt_url, client_id, str(db),
             orjson.dumps(document).decode()],
            env={**os.environ},
        )  # fmt: skip

    total, devices, bad_every = 1500, 10, 100
    worker = spawn()
    try:
        time.sleep(3.0)  # imports, connection, subscription
        started = time.monotonic()
        for n in range(total):
            device = f"d{n % devices}"
            payload: bytes | dict[str, Any] = (
                b"garbage" if n % bad_every == 0 else {"seq": n, "value": n * 0.5}
            )
            publisher.send(f"{prefix}/counter/{device}", payload)
            if n == total // 3:
                worker.send_signal(signal.SIGKILL)  # under load, mid-batch
                worker.wait()
                worker = spawn()
            time.sleep(max(0.0, started + n / 500 - time.monotonic()))  # 500 messages/s
        hub = build_hub(Settings(store=f"sqlite:///{db}"))
        try:

            def seen() -> tuple[set[int], int]:
                stored: set[int] = set()
                for d in range(devices):
                    with contextlib.suppress(AssertionError):  # not created yet
                        stored.update(history(hub, f"urn:ngsi-ld:Device:d{d}", "seq"))
                return stored, len(list_dead_letters(hub, "", 100_000))

            deadline = time.monotonic() + 60
            while True:
                stored, dead = seen()
                good = total - len(range(0, total, bad_every))
                if len(stored) == good and dead >= len(range(0, total, bad_every)):
                    break
                assert time.monotonic() < deadline, (len(stored), good, dead)
                time.sleep(0.5)
        finally:
            hub.close()
    finally:
        worker.send_signal(signal.SIGKILL)
        worker.wait()
        end_session(mqtt_url, client_id)
    assert stored == {n for n in range(total) if n % bad_every}
    # Garbage redelivered after the kill may be dead-lettered twice; never fewer than sent.
    assert len(range(0, total, bad_every)) <= dead <= len(range(0, total, bad_every)) + 5
