"""Subscription delivery: matching committed changes and sending notifications (HTTP, MQTT).

The hub calls ``Notifier.publish`` after each commit, possibly from a worker thread; it never
blocks and never raises: the changes hop onto the event loop (``call_soon_threadsafe``) where
each live subscription of the tenant matches them (``cetate.hub.subscriptions.triggers``).
Matches go into the subscription's *lane*: a bounded queue drained by one task, which turns
everything pending into ONE notification (several entities in ``data``), so a subscription
that receives thousands of updates a second keeps up with a receiver a millisecond away.
Lanes run side by side; a semaphore (``notify_concurrency``) bounds the requests in flight,
and retries back off exponentially (``notify_attempts``, ``notify_backoff_s``) inside their
own lane, holding nothing that other lanes need. A dead receiver backs its lane up to the
bound, then the oldest changes are dropped (counted, logged once).

Throttled subscriptions coalesce what arrives between two notifications, keeping each
entity's latest state. ``timeInterval`` subscriptions query the store every interval and send
every entity that matches. Delivery figures (timesSent, lastSuccess...) live in memory, show in
GET /subscriptions at once, and are written to the store at most once a second.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final, TypeVar
from urllib.parse import unquote, urlsplit

import aiohttp
import orjson
import paho.mqtt.client as mqtt

from cetate.errors import CetateError
from cetate.hub.changes import Change
from cetate.hub.context import link_header
from cetate.hub.model import Entity, format_time
from cetate.hub.service import Hub, call_store
from cetate.hub.store.base import Subscription
from cetate.hub.subscriptions import (
    CompiledSubscription,
    compile_subscription,
    entity_query,
    notification_body,
    notification_entity,
    triggers,
)
from cetate.logs import log_event
from cetate.mqtt import paho_client

__all__ = ["LANE_BOUND", "MAX_BATCH", "Notifier"]

log = logging.getLogger("cetate.hub.notify")
T = TypeVar("T")

#: Changes a subscription's lane holds while its receiver is slow or dead; past it the oldest go.
LANE_BOUND: Final = 10_000
#: Entities in one notification at most (a backlog leaves in several).
MAX_BATCH: Final = 1_000
#: Seconds between two writes of the delivery figures to the store.
FLUSH_EVERY_S: Final = 1.0
#: Seconds before a subscription whose @context could not be resolved is tried again.
RETRY_COMPILE_S: Final = 30.0

Key = tuple[str, str]  # (tenant, subscription id)


@dataclass(slots=True)
class _Lane:
    """One subscription's queue of matched changes and the tasks that serve it."""

    compiled: CompiledSubscription
    pending: deque[Change] = field(default_factory=deque)
    wakeup: asyncio.Event = field(default_factory=asyncio.Event)
    task: asyncio.Task[None] | None = None
    timer: asyncio.Task[None] | None = None  # timeInterval subscriptions
    last_sent: float = -1e18  # loop time of the last notification (throttling)
    dropped: int = 0

    def push(self, item: Change) -> None:
        if len(self.pending) >= LANE_BOUND:
            self.pending.popleft()
            self.dropped += 1
            if self.dropped == 1:
                log_event(
                    log,
                    "notification.dropped",
                    logging.WARNING,
                    subscription=self.compiled.id,
                    tenant=self.compiled.tenant,
                    reason=f"more than {LANE_BOUND} changes wait for the receiver",
                )
        self.pending.append(item)


@dataclass(slots=True)
class _Outcome:
    ok: bool
    retry: bool = False
    error: str = ""


class _MqttLink:
    """One paho client per broker (host, port, credentials, protocol version). Its network loop
    runs in paho's thread; publishing happens on the event loop (paho's socket does not block)
    and acknowledgements (QoS 1, 2) come back as futures, so no thread waits on a broker."""

    def __init__(self, uri: str, version: str, timeout_s: float) -> None:
        protocol = mqtt.MQTTv5 if version == "mqtt5.0" else mqtt.MQTTv311
        self.timeout_s = timeout_s
        self.connected = threading.Event()
        self._lock = threading.Lock()
        # mid -> (loop, future) of a publish waiting for its acknowledgement
        self._waiting: dict[int, tuple[asyncio.AbstractEventLoop, asyncio.Future[None]]] = {}
        # mid -> when an acknowledgement arrived before its publisher started waiting
        self._early: dict[int, float] = {}
        self.client, broker = paho_client(uri, f"cetate-{uuid.uuid4().hex[:12]}", protocol)
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.client.on_publish = self._on_publish
        self.client.connect_async(broker.host, broker.port)
        self.client.loop_start()

    def _on_connect(self, client: Any, userdata: Any, flags: Any, reason: Any, props: Any) -> None:
        if not reason.is_failure:
            self.connected.set()

    def _on_disconnect(
        self, client: Any, userdata: Any, flags: Any, reason: Any, props: Any
    ) -> None:
        self.connected.clear()

    def _on_publish(self, client: Any, userdata: Any, mid: int, reason: Any, props: Any) -> None:
        with self._lock:
            waiter = self._waiting.pop(mid, None)
            if waiter is None:
                if len(self._early) > 10_000:
                    self._early.clear()
                self._early[mid] = time.monotonic()
                return
        loop, future = waiter
        with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
            loop.call_soon_threadsafe(_settle, future)

    async def publish(self, topic: str, payload: bytes, qos: int) -> _Outcome:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.timeout_s
        while not self.connected.is_set():
            if loop.time() >= deadline:
                return _Outcome(False, True, "MQTT broker not connected")
            await asyncio.sleep(0.01)
        started = time.monotonic()
        info = self.client.publish(topic, payload, qos=qos)
        if info.rc != mqtt.MQTT_ERR_SUCCESS:
            return _Outcome(False, True, f"MQTT publish failed: {mqtt.error_string(info.rc)}")
        if qos == 0:
            return _Outcome(True)
        acked: asyncio.Future[None] = loop.create_future()
        with self._lock:
            early = self._early.pop(info.mid, None)
            if early is not None and early >= started:
                return _Outcome(True)
            self._waiting[info.mid] = (loop, acked)
        try:
            await asyncio.wait_for(acked, max(0.0, deadline - loop.time()))
        except TimeoutError:
            with self._lock:
                self._waiting.pop(info.mid, None)
            return _Outcome(False, True, "MQTT broker did not acknowledge in time")
        return _Outcome(True)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def _settle(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


class Notifier:
    """Delivers the notifications of every subscription of a hub; one per process."""

    def __init__(self, hub: Hub) -> None:
        self.hub = hub
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_thread: int | None = None
        self._lanes: dict[Key, _Lane] = {}
        self._by_tenant: dict[str, dict[str, _Lane]] = {}
        self._status: dict[Key, dict[str, Any]] = {}
        self._dirty: set[Key] = set()
        self._client: aiohttp.ClientSession | None = None
        self._semaphore: asyncio.Semaphore | None = None
        self._mqtt: dict[tuple[str, ...], _MqttLink] = {}
        self._mqtt_lock = threading.Lock()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._inflight: dict[Key, asyncio.Event] = {}
        self._flusher: asyncio.Task[None] | None = None
        self._stopping = False

    # -- life cycle ----------------------------------------------------------------------------

    async def start(self) -> None:
        """Load every subscription from the store and start delivering."""
        settings = self.hub.settings
        self._loop = asyncio.get_running_loop()
        self._loop_thread = threading.get_ident()
        self._stopping = False
        concurrency = max(1, settings.notify_concurrency)
        self._semaphore = asyncio.Semaphore(concurrency)
        # aiohttp rather than httpx here: a notification POST costs it about a third of the CPU
        # (measured 0.3 ms against 1.2 ms), and delivery shares the cores with the API.
        self._client = aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=settings.notify_timeout_s),
            connector=aiohttp.TCPConnector(limit=concurrency),
        )
        subscriptions = await self._store(self.hub.store.list_subscriptions, None)
        for sub in subscriptions:
            await self._install(sub)
        self._flusher = asyncio.create_task(self._flush_loop(), name="notify-flush")
        log_event(log, "notifier.started", subscriptions=len(self._lanes))

    async def stop(self) -> None:
        """Stop every lane, write the delivery figures, close the connections."""
        self._stopping = True
        tasks: list[asyncio.Task[Any]] = list(self._tasks)
        if self._flusher is not None:
            tasks.append(self._flusher)
        for lane in self._lanes.values():
            tasks += [t for t in (lane.task, lane.timer) if t is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._flusher = None
        self._tasks.clear()
        await self._flush()
        self._lanes.clear()
        self._by_tenant.clear()
        if self._client is not None:
            await self._client.close()
            self._client = None
        links = list(self._mqtt.values())
        self._mqtt.clear()
        await asyncio.gather(*(asyncio.to_thread(link.close) for link in links))
        self._loop = None

    # -- the write path ------------------------------------------------------------------------

    def publish(self, tenant: str, changes: Sequence[Change]) -> None:
        """Hand committed changes over for matching: thread-safe, never blocks, never raises."""
        loop = self._loop
        if loop is None or not changes:
            return
        try:
            if threading.get_ident() == self._loop_thread:
                loop.call_soon(self._dispatch, tenant, changes)
            else:
                loop.call_soon_threadsafe(self._dispatch, tenant, changes)
        except RuntimeError:  # the loop is closing: nothing to deliver any more
            pass
        except Exception as error:  # never into the writer
            log_event(log, "notification.publish_failed", logging.ERROR, error=repr(error))

    def _dispatch(self, tenant: str, changes: Sequence[Change]) -> None:
        lanes = self._by_tenant.get(tenant)
        if not lanes or self._stopping:
            return
        now = datetime.now(UTC)
        for lane in lanes.values():
            compiled = lane.compiled
            if compiled.time_interval_s is not None or not compiled.live(now):
                continue
            try:
                hit = False
                for change in changes:
                    if triggers(compiled, change, now):
                        lane.push(change)
                        hit = True
            except Exception as error:  # one subscription's trouble is not the others'
                log_event(
                    log,
                    "notification.match_failed",
                    logging.ERROR,
                    subscription=compiled.id,
                    error=repr(error),
                )
                continue
            if hit:
                lane.wakeup.set()

    # -- subscriptions -------------------------------------------------------------------------

    async def subscription_changed(self, tenant: str, sub_id: str) -> None:
        """Reload one subscription from the store after it was created, updated or deleted."""
        sub = await self._store(self.hub.store.get_subscription, tenant, sub_id)
        if sub is None:
            self._remove((tenant, sub_id))
        else:
            await self._install(sub)

    async def reload(self) -> None:
        """Bring every subscription in line with the store, after another process changed some."""
        subscriptions = await self._store(self.hub.store.list_subscriptions, None)
        stored = {(sub.tenant, sub.id) for sub in subscriptions}
        for key in [key for key in self._lanes if key not in stored]:
            self._remove(key)
        for sub in subscriptions:
            await self._install(sub)

    async def settled(self, tenant: str, sub_id: str, timeout_s: float = 0.5) -> None:
        """Wait (at most ``timeout_s``) for a notification being sent right now to get its
        answer, so a client that just received one reads figures that count it."""
        attempt = self._inflight.get((tenant, sub_id))
        if attempt is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(attempt.wait(), timeout_s)

    def live_status(self, tenant: str, sub_id: str) -> dict[str, Any]:
        """The delivery figures of a subscription as they are now (empty when unknown)."""
        return dict(self._status.get((tenant, sub_id), {}))

    async def _install(self, sub: Subscription) -> None:
        key = (sub.tenant, sub.id)
        try:
            compiled = await asyncio.to_thread(compile_subscription, sub, self.hub.contexts)
        except CetateError as error:
            log_event(
                log,
                "subscription.unusable",
                logging.ERROR,
                subscription=sub.id,
                tenant=sub.tenant,
                error=error.detail,
                retry_s=RETRY_COMPILE_S,
            )
            self._remove(key, keep_status=True)
            self._status.setdefault(key, dict(sub.status))
            self._spawn(self._retry_install(sub.tenant, sub.id))
            return
        if key not in self._status:
            self._status[key] = dict(sub.status)
        lane = self._lanes.get(key)
        if lane is None:
            lane = _Lane(compiled)
            self._lanes[key] = lane
            self._by_tenant.setdefault(sub.tenant, {})[sub.id] = lane
            lane.task = asyncio.create_task(self._serve(lane), name=f"lane {sub.id}")
        else:
            previous = lane.compiled
            lane.compiled = compiled
            if previous.time_interval_s != compiled.time_interval_s and lane.timer is not None:
                lane.timer.cancel()
                lane.timer = None
            lane.wakeup.set()
        if compiled.time_interval_s is not None and lane.timer is None:
            lane.timer = asyncio.create_task(self._periodic(lane), name=f"interval {sub.id}")

    async def _retry_install(self, tenant: str, sub_id: str) -> None:
        await asyncio.sleep(RETRY_COMPILE_S)
        if (tenant, sub_id) not in self._lanes:
            await self.subscription_changed(tenant, sub_id)

    def _remove(self, key: Key, keep_status: bool = False) -> None:
        lane = self._lanes.pop(key, None)
        tenant_lanes = self._by_tenant.get(key[0])
        if tenant_lanes is not None:
            tenant_lanes.pop(key[1], None)
            if not tenant_lanes:
                del self._by_tenant[key[0]]
        if lane is not None:
            for task in (lane.task, lane.timer):
                if task is not None:
                    task.cancel()
        if not keep_status:
            self._status.pop(key, None)
            self._dirty.discard(key)

    def _spawn(self, coroutine: Any) -> None:
        task: asyncio.Task[Any] = asyncio.create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # -- lanes ---------------------------------------------------------------------------------

    async def _serve(self, lane: _Lane) -> None:
        """The one task that sends a subscription's notifications, in order."""
        while True:
            if not lane.pending:
                lane.wakeup.clear()
                await lane.wakeup.wait()
                continue
            try:
                await self._send_pending(lane)
            except asyncio.CancelledError:
                raise
            except Exception as error:  # a bug must not silence the subscription for good
                lane.pending.clear()
                log_event(
                    log,
                    "notification.lane_failed",
                    logging.ERROR,
                    subscription=lane.compiled.id,
                    error=repr(error),
                )

    async def _send_pending(self, lane: _Lane) -> None:
        loop = asyncio.get_running_loop()
        compiled = lane.compiled
        if compiled.throttling_s > 0:
            wait_s = lane.last_sent + compiled.throttling_s - loop.time()
            if wait_s > 0:
                await asyncio.sleep(wait_s)
                return
        now = datetime.now(UTC)
        if not compiled.live(now):
            lane.pending.clear()
            return
        items = self._take(lane, coalesce=compiled.throttling_s > 0)
        data = self._render(compiled, items, now)
        lane.last_sent = loop.time()
        await self._deliver(compiled, notification_body(compiled, data, now))

    @staticmethod
    def _take(lane: _Lane, coalesce: bool) -> list[Change]:
        pending = lane.pending
        if not coalesce:
            count = min(len(pending), MAX_BATCH)
            return [pending.popleft() for _ in range(count)]
        # throttled: every entity once, in its latest state
        latest: dict[str, Change] = {}
        while pending and len(latest) < MAX_BATCH:
            change = pending.popleft()
            latest.pop(change.entity_id, None)
            latest[change.entity_id] = change
        return list(latest.values())

    @staticmethod
    def _render(
        compiled: CompiledSubscription, items: list[Change], now: datetime
    ) -> list[dict[str, Any]]:
        stamp = format_time(now)
        return [notification_entity(compiled, change, stamp) for change in items]

    async def _periodic(self, lane: _Lane) -> None:
        """timeInterval: every interval, every matching entity, whatever changed."""
        while True:
            interval = lane.compiled.time_interval_s
            if interval is None:
                return
            await asyncio.sleep(interval)
            compiled = lane.compiled
            if not compiled.live(datetime.now(UTC)):
                continue
            try:
                entities = await self._store(self._matching_entities, compiled)
            except Exception as error:
                log_event(
                    log,
                    "notification.query_failed",
                    logging.ERROR,
                    subscription=compiled.id,
                    error=repr(error),
                )
                continue
            for entity in entities:
                lane.push(Change(entity["id"], None, entity))
            if entities:
                lane.wakeup.set()

    def _matching_entities(self, compiled: CompiledSubscription) -> list[Entity]:
        found: dict[str, Entity] = {}
        for query in entity_query(compiled, self.hub.settings.max_limit):
            entities, _ = self.hub.store.query(compiled.tenant, query)
            for entity in entities:
                found.setdefault(entity["id"], entity)
        return list(found.values())

    # -- delivery ------------------------------------------------------------------------------

    async def _deliver(self, compiled: CompiledSubscription, body: dict[str, Any]) -> None:
        key = (compiled.tenant, compiled.id)
        status = self._status.setdefault(key, {})
        status["timesSent"] = int(status.get("timesSent", 0)) + 1
        status["lastNotification"] = body["notifiedAt"]
        self._dirty.add(key)
        attempts = max(1, self.hub.settings.notify_attempts)
        semaphore = self._semaphore
        assert semaphore is not None
        outcome = _Outcome(False)
        for attempt in range(attempts):
            done = self._inflight[key] = asyncio.Event()
            try:
                async with semaphore:
                    outcome = await self._send(compiled, body)
            finally:
                done.set()
                if self._inflight.get(key) is done:
                    del self._inflight[key]
            stamp = format_time(datetime.now(UTC))
            if outcome.ok:
                if status.get("status") == "failed":
                    log_event(log, "notification.recovered", subscription=compiled.id)
                status["lastSuccess"] = stamp
                status["status"] = "ok"
                self._dirty.add(key)
                return
            if status.get("status") != "failed":
                log_event(
                    log,
                    "notification.failed",
                    logging.WARNING,
                    subscription=compiled.id,
                    tenant=compiled.tenant,
                    endpoint=compiled.endpoint,
                    error=outcome.error,
                )
            status["lastFailure"] = stamp
            status["status"] = "failed"
            self._dirty.add(key)
            if not outcome.retry or attempt + 1 == attempts:
                break
            await asyncio.sleep(self.hub.settings.notify_backoff_s * 2**attempt)
        status["timesFailed"] = int(status.get("timesFailed", 0)) + 1

    async def _send(self, compiled: CompiledSubscription, body: dict[str, Any]) -> _Outcome:
        scheme = compiled.endpoint.split(":", 1)[0].lower()
        try:
            if scheme in ("mqtt", "mqtts"):
                return await self._send_mqtt(compiled, body)
            return await self._send_http(compiled, body)
        except Exception as error:  # the receiver's failure, never the lane's end
            return _Outcome(False, True, repr(error))

    def _headers(self, compiled: CompiledSubscription) -> dict[str, str]:
        headers: dict[str, str] = {}
        if compiled.accept == "application/ld+json":
            headers["Content-Type"] = "application/ld+json"
        else:
            headers["Content-Type"] = "application/json"
            headers["Link"] = link_header(compiled.link_url)
        if compiled.tenant:
            headers["NGSILD-Tenant"] = compiled.tenant
        for key, value in compiled.receiver_info:
            headers[key] = value
        return headers

    async def _send_http(self, compiled: CompiledSubscription, body: dict[str, Any]) -> _Outcome:
        client = self._client
        assert client is not None
        try:
            async with client.post(
                compiled.endpoint,
                data=orjson.dumps(body),
                headers=self._headers(compiled),
                allow_redirects=False,
            ) as response:
                await response.read()  # so the connection goes back to the pool
                code = response.status
        except (aiohttp.ClientError, TimeoutError) as error:
            return _Outcome(False, True, f"{type(error).__name__}: {error}")
        if 200 <= code < 300:
            return _Outcome(True)
        return _Outcome(False, code in (408, 425, 429) or code >= 500, f"HTTP {code}")

    async def _send_mqtt(self, compiled: CompiledSubscription, body: dict[str, Any]) -> _Outcome:
        parts = urlsplit(compiled.endpoint)
        topic = unquote(parts.path.lstrip("/"))
        if not topic:
            return _Outcome(False, False, "the MQTT endpoint has no topic (its path)")
        info = compiled.notifier_info
        qos = int(info.get("MQTT-QoS", "0"))
        version = info.get("MQTT-Version", "mqtt3.1.1")
        link = self._mqtt_link(compiled.endpoint, version)
        message = orjson.dumps({"metadata": self._headers(compiled), "body": body})
        return await link.publish(topic, message, qos)

    def _mqtt_link(self, uri: str, version: str) -> _MqttLink:
        parts = urlsplit(uri)
        key = (
            parts.scheme.lower(),
            parts.hostname or "",
            str(parts.port or ""),
            parts.username or "",
            parts.password or "",
            version,
        )
        with self._mqtt_lock:
            link = self._mqtt.get(key)
            if link is None:
                link = _MqttLink(uri, version, self.hub.settings.notify_timeout_s)
                self._mqtt[key] = link
            return link

    # -- status --------------------------------------------------------------------------------

    async def _flush_loop(self) -> None:
        while True:
            await asyncio.sleep(FLUSH_EVERY_S)
            try:
                await self._flush()
            except Exception as error:
                log_event(log, "subscription.status_flush_failed", logging.ERROR, error=repr(error))

    async def _flush(self) -> None:
        """Write the delivery figures that changed since the last flush, in one go."""
        if not self._dirty:
            return
        batch = [(key, dict(self._status[key])) for key in self._dirty if key in self._status]
        self._dirty.clear()
        store = self.hub.store

        def write() -> None:
            for (tenant, sub_id), status in batch:
                store.update_subscription_status(tenant, sub_id, status)

        await self._store(write)

    async def _store(self, fn: Callable[..., T], *args: Any) -> T:
        return await call_store(self.hub, fn, *args)
