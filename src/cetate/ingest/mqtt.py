"""The MQTT ingest worker: subscribe, map, write to the hub in batches, and acknowledge each
message only after the hub has committed it (or kept it as a dead letter).

MQTT 5 with a persistent session (clean start off, a session that never expires) and a large
Receive Maximum, so the broker keeps sending while a batch is being written and redelivers what
was not acknowledged after a crash: at-least-once, nothing lost. With ``group`` set the worker
subscribes through ``$share/<group>/...``, so several workers split one stream.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from cetate.hub.documents import upsert_documents
from cetate.hub.service import Hub
from cetate.ingest.mapping import MappingSet
from cetate.ingest.writer import Counters, MessageWriter
from cetate.logs import log_event
from cetate.mqtt import paho_client

log = logging.getLogger("cetate.ingest")

STATUS_TYPE = "cetate:IngestStatus"
SESSION_NEVER_EXPIRES = 0xFFFFFFFF
RECEIVE_MAXIMUM = 65535


@dataclass(frozen=True)
class MqttSettings:
    url: str
    client_id: str
    group: str | None = None  # shared subscription group
    qos: int = 1
    batch_size: int = 2000
    batch_wait_s: float = 0.02
    status_every_s: float = 5.0
    tenant: str = ""


@dataclass(slots=True)
class _Received:
    topic: str
    payload: bytes
    at: datetime
    mid: int
    qos: int


class MqttWorker:
    def __init__(self, hub: Hub, mappings: MappingSet, settings: MqttSettings) -> None:
        self.hub = hub
        self.mappings = mappings
        self.settings = settings
        self.counters = Counters()
        self.writer = MessageWriter(hub, mappings, settings.tenant, "mqtt", self.counters)
        self.connected = threading.Event()
        self._queue: queue.SimpleQueue[_Received | None] = queue.SimpleQueue()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._drain, name="mqtt-ingest", daemon=True)
        self._last_status = 0.0
        self.client, self.broker = paho_client(
            settings.url, settings.client_id, mqtt.MQTTv5, manual_ack=True
        )
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.client.on_message = self._on_message
        self.client.reconnect_delay_set(min_delay=1, max_delay=30)  # backoff while it is down

    # -- life -----------------------------------------------------------------------------------

    def start(self) -> None:
        properties = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        properties.SessionExpiryInterval = SESSION_NEVER_EXPIRES
        properties.ReceiveMaximum = RECEIVE_MAXIMUM
        self.client.connect_async(
            self.broker.host, self.broker.port, keepalive=30, clean_start=False,
            properties=properties,
        )  # fmt: skip
        self.client.loop_start()
        self._thread.start()
        log_event(log, "ingest.started", url=self.settings.url, client=self.settings.client_id)

    def stop(self) -> None:
        """Stop taking messages, write what was received, acknowledge it, disconnect."""
        self._stop.set()
        self._queue.put(None)
        self._thread.join(timeout=30)
        self.client.disconnect()
        self.client.loop_stop()
        self._write_status(force=True)

    def wait_connected(self, timeout_s: float) -> bool:
        return self.connected.wait(timeout_s)

    # -- paho callbacks (its network thread) ------------------------------------------------------

    def _on_connect(self, client: Any, userdata: Any, flags: Any, reason: Any, props: Any) -> None:
        if reason.is_failure:
            log_event(log, "ingest.connect_failed", logging.WARNING, reason=str(reason))
            return
        prefix = f"$share/{self.settings.group}/" if self.settings.group else ""
        topics = [(prefix + f, self.settings.qos) for f in self.mappings.filters]
        client.subscribe(topics)
        self.connected.set()
        log_event(log, "ingest.connected", topics=",".join(t for t, _ in topics))

    def _on_disconnect(
        self, client: Any, userdata: Any, flags: Any, reason: Any, props: Any
    ) -> None:
        self.connected.clear()
        if not self._stop.is_set():
            log_event(log, "ingest.disconnected", logging.WARNING, reason=str(reason))

    def _on_message(self, client: Any, userdata: Any, message: mqtt.MQTTMessage) -> None:
        self._queue.put(
            _Received(
                message.topic, bytes(message.payload), datetime.now(UTC), message.mid, message.qos
            )
        )

    # -- the writer thread ----------------------------------------------------------------------

    def _drain(self) -> None:
        while True:
            batch = self._next_batch()
            if batch is None:
                return
            if batch:
                self._write(batch)
            self._write_status()

    def _next_batch(self) -> list[_Received] | None:
        try:
            first = self._queue.get(timeout=1.0)
        except queue.Empty:
            return []
        if first is None:
            return None
        batch = [first]
        deadline = time.monotonic() + self.settings.batch_wait_s
        while len(batch) < self.settings.batch_size:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                try:
                    item = self._queue.get(timeout=remaining)
                except queue.Empty:
                    break
            if item is None:
                self._queue.put(None)  # stop after this batch
                break
            batch.append(item)
        return batch

    def _write(self, batch: list[_Received]) -> None:
        while True:
            try:
                self.writer.write([(m.topic, m.payload, m.at) for m in batch])
                break
            except Exception as error:  # the hub failed (disk, database): keep, retry, never ack
                log_event(log, "ingest.write_failed", logging.ERROR, error=repr(error))
                if self._stop.wait(1.0):
                    return  # unacknowledged: the broker redelivers them to the next worker
        for message in batch:
            if message.qos > 0:
                self.client.ack(message.mid, message.qos)

    def _write_status(self, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._last_status < self.settings.status_every_s:
            return
        self._last_status = now
        try:
            upsert_documents(self.hub, self.settings.tenant, [self.status_document()], False)
        except Exception as error:  # status is best effort; ingest goes on
            log_event(log, "ingest.status_failed", logging.WARNING, error=repr(error))

    def status_document(self) -> dict[str, Any]:
        snapshot = self.counters.snapshot()
        document: dict[str, Any] = {
            "id": f"urn:ngsi-ld:IngestStatus:{self.settings.client_id}",
            "type": STATUS_TYPE,
            "source": {"type": "Property", "value": self.settings.url},
            "connected": {"type": "Property", "value": self.connected.is_set()},
            "queued": {"type": "Property", "value": self._queue.qsize()},
        }
        for name, value in snapshot.items():
            document[name] = {"type": "Property", "value": value}
        return document


def end_session(url: str, client_id: str) -> None:
    """End a worker's persistent session on the broker (a worker retired for good): what the
    broker kept for it is dropped. Tests and benchmarks use it to leave nothing behind."""
    client, broker = paho_client(url, client_id, mqtt.MQTTv5)
    properties = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
    properties.SessionExpiryInterval = 0
    client.connect(broker.host, broker.port, clean_start=True, properties=properties)
    client.loop_start()
    time.sleep(0.2)  # the broker has the CONNECT: the old session is gone
    client.disconnect()
    client.loop_stop()
