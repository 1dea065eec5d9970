"""Subscriptions end to end: the API, the notifier and real receivers (HTTP and Mosquitto)."""

from __future__ import annotations

import json
import logging
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from fastapi.testclient import TestClient

from cetate.config import Settings
from cetate.hub import notify
from cetate.hub.context import ContextResolver
from cetate.hub.model import now_iso, parse_entity
from cetate.hub.service import Hub
from cetate.hub.store.base import Store
from cetate.web.app import create_app

BASE = "/ngsi-ld/v1"
EX = "https://example.org/"
CONTEXT_URL = "https://example.org/contexts/city.jsonld"
LINK = f'<{CONTEXT_URL}>; rel="http://www.w3.org/ns/json-ld#context"; type="application/ld+json"'
CITY_CONTEXT = {"@context": {"Vehicle": EX + "Vehicle", "speed": EX + "speed", "name": EX + "name"}}


# ---------------------------------------------------------------------------------------------
# A real HTTP receiver


class Receiver:
    """An HTTP server on 127.0.0.1 that records every notification POSTed to it."""

    def __init__(self, status: int = 204) -> None:
        self.requests: list[tuple[dict[str, str], dict[str, Any], float]] = []
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as a real receiver would

            def do_POST(self) -> None:
                length = int(self.headers.get("content-length", "0"))
                body = json.loads(self.rfile.read(length))
                with receiver.lock:
                    receiver.requests.append((dict(self.headers), body, time.perf_counter()))
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/notify"

    def bodies(self) -> list[dict[str, Any]]:
        with self.lock:
            return [body for _, body, _ in self.requests]

    def entities(self) -> list[dict[str, Any]]:
        return [item for body in self.bodies() for item in body["data"]]

    def wait(self, count: int, timeout_s: float = 5.0) -> list[dict[str, Any]]:
        """At least ``count`` notifications, or fail after ``timeout_s``."""
        wait_for(lambda: len(self.requests) >= count, timeout_s, f"{count} notification(s)")
        return self.bodies()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def wait_for(condition: Callable[[], bool], timeout_s: float = 5.0, what: str = "it") -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"waited {timeout_s} s for {what}")
        time.sleep(0.005)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver()
    yield server
    server.close()


def settings_for(tmp_path: Path, **overrides: Any) -> Settings:
    contexts = tmp_path / "contexts"
    contexts.mkdir(exist_ok=True)
    (contexts / "city.jsonld").write_text(json.dumps(CITY_CONTEXT))
    values: dict[str, Any] = {
        "store": "sqlite:///" + str(tmp_path / "hub.db"),
        "contexts": contexts,
        "allow_remote_contexts": False,
        "notify_attempts": 3,
        "notify_backoff_s": 0.05,
        "notify_timeout_s": 2.0,
    }
    values.update(overrides)
    return Settings(**values)


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    with TestClient(create_app(settings_for(tmp_path))) as test_client:
        yield test_client


# ---------------------------------------------------------------------------------------------
# Helpers


def subscribe(client: TestClient, uri: str, **members: Any) -> str:
    payload: dict[str, Any] = {
        "id": f"urn:ngsi-ld:Subscription:{uuid.uuid4().hex[:8]}",
        "type": "Subscription",
        "entities": [{"type": "Vehicle"}],
        "notification": {"endpoint": {"uri": uri}},
    }
    payload.update(members)
    response = client.post(f"{BASE}/subscriptions", json=payload, headers={"Link": LINK})
    assert response.status_code == 201, response.text
    return str(payload["id"])


def car(n: int, speed: float = 50, name: str = "car") -> dict[str, Any]:
    return {
        "id": f"urn:ngsi-ld:Vehicle:{n}",
        "type": "Vehicle",
        "speed": {"type": "Property", "value": speed},
        "name": {"type": "Property", "value": name},
    }


def create(client: TestClient, entity: dict[str, Any]) -> None:
    response = client.post(f"{BASE}/entities", json=entity, headers={"Link": LINK})
    assert response.status_code == 201, response.text


def update(client: TestClient, n: int, **attrs: Any) -> None:
    fragment = {k: {"type": "Property", "value": v} for k, v in attrs.items()}
    response = client.post(
        f"{BASE}/entities/urn:ngsi-ld:Vehicle:{n}/attrs", json=fragment, headers={"Link": LINK}
    )
    assert response.status_code == 204, response.text


def retrieve(client: TestClient, sub_id: str) -> dict[str, Any]:
    response = client.get(f"{BASE}/subscriptions/{sub_id}", headers={"Link": LINK})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def dead_endpoint() -> str:
    """A loopback port nobody listens on: connections are refused at once."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/notify"


def problem(response: Any, status: int, kind: str) -> str:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["type"] == f"https://uri.etsi.org/ngsi-ld/errors/{kind}", body
    return str(body["detail"])


# ---------------------------------------------------------------------------------------------
# The subscription API


def test_subscription_crud(client: TestClient) -> None:
    sub_id = subscribe(client, "http://127.0.0.1:9/notify", description="first")
    again = client.post(
        f"{BASE}/subscriptions",
        json={
            "id": sub_id,
            "type": "Subscription",
            "entities": [{"type": "Vehicle"}],
            "notification": {"endpoint": {"uri": "http://127.0.0.1:9/notify"}},
        },
    )
    problem(again, 409, "AlreadyExists")
    generated = client.post(
        f"{BASE}/subscriptions",
        json={
            "type": "Subscription",
            "watchedAttributes": ["speed"],
            "notification": {"endpoint": {"uri": "http://127.0.0.1:9/notify"}},
        },
    )
    assert generated.status_code == 201
    location = generated.headers["location"]
    assert location.startswith(f"{BASE}/subscriptions/urn:ngsi-ld:Subscription:")

    got = retrieve(client, sub_id)
    assert got["entities"] == [{"type": "Vehicle"}] and got["status"] == "active"
    assert got["description"] == "first"
    assert client.get(f"{BASE}/subscriptions/{sub_id}").json()["entities"] == [
        {"type": EX + "Vehicle"}
    ]
    ld = client.get(
        f"{BASE}/subscriptions/{sub_id}",
        headers={"Link": LINK, "Accept": "application/ld+json"},
    )
    assert ld.headers["content-type"].startswith("application/ld+json")
    assert ld.json()["@context"] == CONTEXT_URL

    listed = client.get(
        f"{BASE}/subscriptions/?count=true&limit=1&offset=1",
        headers={"Accept": "application/ld+json"},
    )
    assert listed.status_code == 200
    assert listed.headers["NGSILD-Results-Count"] == "2" and len(listed.json()) == 1
    assert listed.headers["Link"] == (
        f'<{BASE}/subscriptions?count=true&limit=1&offset=0>;rel="prev";type="application/ld+json"'
    )
    first = client.get(f"{BASE}/subscriptions?limit=1")
    assert f'<{BASE}/subscriptions?limit=1&offset=1>;rel="next"' in first.headers["Link"]
    assert "json-ld#context" in first.headers["Link"]  # the @context link stays

    patched = client.patch(
        f"{BASE}/subscriptions/{sub_id}",
        json={"isActive": False, "description": None},
        headers={"Link": LINK},
    )
    assert patched.status_code == 204, patched.text
    got = retrieve(client, sub_id)
    assert got["status"] == "paused" and "description" not in got
    invalid = client.patch(
        f"{BASE}/subscriptions/{sub_id}", json={"notification": {"format": "keyValues"}}
    )
    assert "notification needs an endpoint" in problem(invalid, 400, "BadRequestData")

    assert client.delete(f"{BASE}/subscriptions/{sub_id}").status_code == 204
    problem(client.get(f"{BASE}/subscriptions/{sub_id}"), 404, "ResourceNotFound")
    problem(client.delete(f"{BASE}/subscriptions/{sub_id}"), 404, "ResourceNotFound")
    problem(
        client.patch(f"{BASE}/subscriptions/{sub_id}", json={"isActive": True}),
        404,
        "ResourceNotFound",
    )
    problem(client.get(f"{BASE}/subscriptions/not%20a%20uri"), 400, "BadRequestData")
    problem(client.delete(f"{BASE}/subscriptions/invalidId"), 400, "BadRequestData")
    bad = client.post(f"{BASE}/subscriptions", json={"type": "Subscription"})
    assert "entities, watchedAttributes" in problem(bad, 400, "BadRequestData")


# ---------------------------------------------------------------------------------------------
# HTTP delivery


def test_a_change_is_notified_with_body_headers_and_figures(
    client: TestClient, receiver: Receiver
) -> None:
    create(client, car(1, speed=10))
    sub_id = subscribe(
        client,
        receiver.url,
        notification={
            "endpoint": {
                "uri": receiver.url,
                "receiverInfo": [{"key": "X-Auth-Token", "value": "secret"}],
            }
        },
    )
    update(client, 1, speed=70)
    [body] = receiver.wait(1)
    headers = receiver.requests[0][0]
    assert body["type"] == "Notification"
    assert body["id"].startswith("urn:ngsi-ld:Notification:")
    assert body["subscriptionId"] == sub_id and body["notifiedAt"].endswith("Z")
    assert body["data"] == [car(1, speed=70)]  # compacted with the subscription's context
    assert headers["Content-Type"] == "application/json"
    assert headers["X-Auth-Token"] == "secret"
    assert CONTEXT_URL in headers["Link"]

    wait_for(lambda: "lastSuccess" in retrieve(client, sub_id)["notification"])
    figures = retrieve(client, sub_id)["notification"]
    assert figures["timesSent"] == 1 and figures["status"] == "ok"
    assert figures["lastNotification"] == body["notifiedAt"]


def test_key_values_and_notification_attributes(client: TestClient, receiver: Receiver) -> None:
    subscribe(
        client,
        receiver.url,
        notification={
            "format": "keyValues",
            "attributes": ["speed"],
            "endpoint": {"uri": receiver.url},
        },
    )
    create(client, car(2, speed=33, name="bus"))
    [body] = receiver.wait(1)
    assert body["data"] == [{"id": "urn:ngsi-ld:Vehicle:2", "type": "Vehicle", "speed": 33}]


def test_json_ld_receivers_get_the_context_inside(client: TestClient, receiver: Receiver) -> None:
    subscribe(
        client,
        receiver.url,
        notification={"endpoint": {"uri": receiver.url, "accept": "application/ld+json"}},
    )
    create(client, car(3))
    [body] = receiver.wait(1)
    headers = receiver.requests[0][0]
    assert headers["Content-Type"] == "application/ld+json" and "Link" not in headers
    assert body["data"][0]["@context"] == CONTEXT_URL


def test_watched_attributes_and_q_select_the_changes(
    client: TestClient, receiver: Receiver
) -> None:
    create(client, car(4, speed=10))
    subscribe(client, receiver.url, watchedAttributes=["speed"], q="speed>50")
    update(client, 4, name="renamed")  # not watched
    update(client, 4, speed=40)  # watched, q false
    update(client, 4, speed=90)
    [body] = receiver.wait(1)
    time.sleep(0.2)
    assert len(receiver.requests) == 1
    assert body["data"][0]["speed"]["value"] == 90 and body["data"][0]["name"]["value"] == "renamed"


def test_deletions_are_notified_when_asked(client: TestClient, receiver: Receiver) -> None:
    create(client, car(11))
    subscribe(client, receiver.url, notificationTrigger=["attributeDeleted", "entityDeleted"])
    update(client, 11, speed=3)  # attributeUpdated: not asked for
    response = client.delete(
        f"{BASE}/entities/urn:ngsi-ld:Vehicle:11/attrs/name", headers={"Link": LINK}
    )
    assert response.status_code == 204
    assert client.delete(f"{BASE}/entities/urn:ngsi-ld:Vehicle:11").status_code == 204
    wait_for(lambda: len(receiver.entities()) >= 2, what="two deletions")
    dropped, gone = receiver.entities()[:2]
    assert dropped["name"] == {"type": "Property", "value": "urn:ngsi-ld:null"}
    assert dropped["speed"] == {"type": "Property", "value": 3}
    assert gone["id"] == "urn:ngsi-ld:Vehicle:11" and gone["deletedAt"].endswith("Z")
    assert gone["speed"] == {"type": "Property", "value": "urn:ngsi-ld:null"}


def test_paused_and_deleted_subscriptions_are_silent(
    client: TestClient, receiver: Receiver
) -> None:
    create(client, car(5))
    sub_id = subscribe(client, receiver.url, isActive=False)
    update(client, 5, speed=1)
    time.sleep(0.2)
    assert receiver.requests == []
    assert (
        client.patch(f"{BASE}/subscriptions/{sub_id}", json={"isActive": True}).status_code == 204
    )
    update(client, 5, speed=2)
    receiver.wait(1)
    assert client.delete(f"{BASE}/subscriptions/{sub_id}").status_code == 204
    update(client, 5, speed=3)
    time.sleep(0.2)
    assert len(receiver.requests) == 1


def test_a_burst_arrives_whole_in_few_notifications(client: TestClient, receiver: Receiver) -> None:
    create(client, car(6, speed=0))
    subscribe(client, receiver.url, watchedAttributes=["speed"])
    for value in range(1, 301):
        update(client, 6, speed=value)
    wait_for(lambda: len(receiver.entities()) >= 300, what="300 entity states")
    speeds = [item["speed"]["value"] for item in receiver.entities()]
    assert speeds == list(range(1, 301))  # every state, in order
    assert len(receiver.requests) <= 300


def test_throttling_coalesces_and_keeps_the_latest_state(
    client: TestClient, receiver: Receiver
) -> None:
    create(client, car(7, speed=0))
    subscribe(client, receiver.url, throttling=0.5)
    update(client, 7, speed=1)
    receiver.wait(1)
    for value in range(2, 12):
        update(client, 7, speed=value)
    bodies = receiver.wait(2, timeout_s=3)
    times = [t for _, _, t in receiver.requests]
    assert times[1] - times[0] >= 0.45
    assert [item["speed"]["value"] for item in bodies[1]["data"]] == [11]
    time.sleep(0.7)
    assert len(receiver.requests) == 2


def test_time_interval_sends_every_matching_entity(client: TestClient, receiver: Receiver) -> None:
    create(client, car(8, speed=10))
    create(client, car(9, speed=90))
    subscribe(client, receiver.url, timeInterval=0.2, q="speed>50")
    bodies = receiver.wait(2, timeout_s=3)
    assert all(
        [item["id"] for item in body["data"]] == ["urn:ngsi-ld:Vehicle:9"] for body in bodies
    )


def test_tenants_are_apart_and_writes_from_other_threads_are_notified(
    client: TestClient, receiver: Receiver
) -> None:
    response = client.post(
        f"{BASE}/subscriptions",
        json={
            "type": "Subscription",
            "entities": [{"type": "Vehicle"}],
            "notification": {"endpoint": {"uri": receiver.url}},
        },
        headers={"NGSILD-Tenant": "brasov"},
    )
    assert response.status_code == 201
    create(client, car(1))  # default tenant: not this subscription's business
    hub = client.app.state.hub  # type: ignore[attr-defined]
    entity = parse_entity(car(2), hub.contexts.core(), now_iso())
    writer = threading.Thread(target=hub.upsert, args=("brasov", [entity], True))
    writer.start()
    writer.join()
    [body] = receiver.wait(1)
    assert [item["id"] for item in body["data"]] == ["urn:ngsi-ld:Vehicle:2"]
    assert receiver.requests[0][0]["NGSILD-Tenant"] == "brasov"
    time.sleep(0.2)
    assert len(receiver.requests) == 1


def test_a_dead_receiver_fails_without_slowing_writes(tmp_path: Path) -> None:
    def time_writes(client: TestClient, first: int) -> float:
        start = time.perf_counter()
        for n in range(first, first + 200):
            create(client, car(n))
        return time.perf_counter() - start

    with TestClient(create_app(settings_for(tmp_path))) as client:
        time_writes(client, 10_000)  # warm up
        alone = time_writes(client, 20_000)
        sub_id = subscribe(client, dead_endpoint())
        with_dead = time_writes(client, 30_000)
        wait_for(lambda: retrieve(client, sub_id)["notification"].get("status") == "failed")
        figures = retrieve(client, sub_id)["notification"]
    assert "lastFailure" in figures and "lastSuccess" not in figures
    assert figures["timesSent"] >= 1
    assert with_dead < alone * 2 + 0.3, (alone, with_dead)


def test_server_errors_are_retried_with_backoff(client: TestClient) -> None:
    failing = Receiver(status=503)
    try:
        sub_id = subscribe(client, failing.url)
        create(client, car(1))
        failing.wait(3)  # notify_attempts
        times = [t for _, _, t in failing.requests]
        assert times[1] - times[0] >= 0.04 and times[2] - times[1] >= 0.09  # 0.05 s, then 0.1 s
        assert len({body["id"] for body in failing.bodies()}) == 1  # the same notification
        wait_for(lambda: retrieve(client, sub_id)["notification"].get("timesFailed") == 1)
        figures = retrieve(client, sub_id)["notification"]
        assert figures["status"] == "failed" and figures["timesSent"] == 1
        time.sleep(0.2)
        assert len(failing.requests) == 3
    finally:
        failing.close()


def test_a_backed_up_lane_drops_the_oldest_and_says_so_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(notify, "LANE_BOUND", 5)
    caplog.set_level(logging.WARNING, logger="cetate.hub.notify")
    settings = settings_for(tmp_path, notify_backoff_s=1.0)
    with TestClient(create_app(settings)) as client:
        subscribe(client, dead_endpoint())
        for n in range(30):
            create(client, car(n))
    dropped = [r for r in caplog.records if r.getMessage() == "notification.dropped"]
    assert len(dropped) == 1


def test_subscriptions_and_their_figures_survive_a_restart(
    tmp_path: Path, receiver: Receiver
) -> None:
    settings = settings_for(tmp_path)
    with TestClient(create_app(settings)) as client:
        sub_id = subscribe(
            client,
            receiver.url,
            notification={"format": "keyValues", "endpoint": {"uri": receiver.url}},
        )
        create(client, car(1))
        receiver.wait(1)
        wait_for(lambda: "lastSuccess" in retrieve(client, sub_id)["notification"])
    with TestClient(create_app(settings)) as client:
        figures = retrieve(client, sub_id)["notification"]
        assert figures["timesSent"] == 1 and "lastSuccess" in figures
        update(client, 1, speed=5)
        bodies = receiver.wait(2)
        assert bodies[1]["data"] == [
            {"id": "urn:ngsi-ld:Vehicle:1", "type": "Vehicle", "speed": 5, "name": "car"}
        ]
        wait_for(lambda: retrieve(client, sub_id)["notification"].get("timesSent") == 2)


def test_every_store_notifies(store: Store, tmp_path: Path, receiver: Receiver) -> None:
    """The same delivery on SQLite (inline) and PostgreSQL (store calls in threads)."""
    settings = settings_for(tmp_path, store="unused")
    hub = Hub(store, ContextResolver(directory=settings.contexts, allow_remote=False), settings)
    with TestClient(create_app(settings, hub)) as client:
        sub_id = subscribe(client, receiver.url, watchedAttributes=["speed"])
        create(client, car(1, speed=10))
        update(client, 1, speed=20)
        bodies = receiver.wait(2)
        assert [b["data"][0]["speed"]["value"] for b in bodies] == [10, 20]
        wait_for(lambda: retrieve(client, sub_id)["notification"].get("timesSent") == 2)
    with TestClient(create_app(settings, hub)) as client:
        assert retrieve(client, sub_id)["notification"]["timesSent"] == 2


# ---------------------------------------------------------------------------------------------
# MQTT delivery


@pytest.mark.mqtt
@pytest.mark.parametrize(("qos", "version"), [("0", "mqtt3.1.1"), ("2", "mqtt5.0")])
def test_mqtt_notifications_reach_the_broker(
    client: TestClient, mqtt_url: str, qos: str, version: str
) -> None:
    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion

    broker = urlsplit(mqtt_url)
    topic = f"cetate/test/{uuid.uuid4().hex[:8]}"
    received: list[dict[str, Any]] = []
    subscribed = threading.Event()
    listener = mqtt.Client(CallbackAPIVersion.VERSION2)
    listener.on_connect = lambda c, u, f, r, p: c.subscribe(topic, qos=1)
    listener.on_subscribe = lambda c, u, m, r, p: subscribed.set()
    listener.on_message = lambda c, u, message: received.append(json.loads(message.payload))
    listener.connect(broker.hostname or "127.0.0.1", broker.port or 1883)
    listener.loop_start()
    try:
        assert subscribed.wait(5), "could not subscribe to the test broker"
        subscribe(
            client,
            f"mqtt://{broker.hostname}:{broker.port or 1883}/{topic}",
            notification={
                "endpoint": {
                    "uri": f"mqtt://{broker.hostname}:{broker.port or 1883}/{topic}",
                    "receiverInfo": [{"key": "test-receiver-key", "value": "test-receiver-info"}],
                    "notifierInfo": [
                        {"key": "MQTT-QoS", "value": qos},
                        {"key": "MQTT-Version", "value": version},
                    ],
                }
            },
        )
        create(client, car(1, speed=12))
        wait_for(lambda: len(received) >= 1, what="an MQTT notification")
    finally:
        listener.loop_stop()
        listener.disconnect()
    message = received[0]
    assert message["metadata"]["Content-Type"] == "application/json"
    assert CONTEXT_URL in message["metadata"]["Link"]
    assert message["metadata"]["test-receiver-key"] == "test-receiver-info"
    assert message["body"]["type"] == "Notification"
    assert message["body"]["data"] == [car(1, speed=12)]


def test_a_subscription_made_in_one_process_serves_writes_in_another(
    tmp_path: Path, receiver: Receiver
) -> None:
    """Two API processes on one store (``--workers``): each notifier picks up the other's
    subscriptions through the store's subscriptions version."""
    settings = settings_for(tmp_path)
    with TestClient(create_app(settings)) as first, TestClient(create_app(settings)) as second:
        create(second, car(1))
        subscribe(first, receiver.url, watchedAttributes=["speed"])
        time.sleep(1.5)  # the other process's watcher looks once a second
        update(second, 1, speed=72)
        [body] = receiver.wait(1, timeout_s=5)
        assert body["data"][0]["speed"]["value"] == 72
