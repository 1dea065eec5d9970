"""MQTT to hub, sustained: keyValues payloads of 10 attributes from 1,000 devices into SQLite.

Publishers (separate processes) send N messages at QoS 1 to the machine's Mosquitto. In the same
run, two receivers take the same stream: a bare paho subscriber that only counts (the floor: what
the broker and paho alone cost), then Cetate's ingest worker(s) writing every message to a fresh
SQLite hub with history. Throughput = messages / (last stored - first received). The check
stored + dead-lettered = published is made on the hub's own counters.

Two modes. ``sustained`` (the default): publishers and receiver run at once, so the figure is
bounded by how fast the Python publishers can send. ``backlog``: the messages are published first
and wait in the broker for each receiver's persistent session; the receiver then drains them with
both cores to itself, which measures its own capacity. The machine's Mosquitto keeps at most 1,000
queued messages per client (its default ``max_queued_messages``), so this mode starts a private
Mosquitto (from PATH) on a free loopback port with no such limit; both receivers use it.

    python benchmarks/ingest_mqtt.py [--messages 100000] [--workers 1] [--publishers 2]
        [--mode sustained|backlog]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import shutil
import socket
import subprocess
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from _harness import free_port

DEVICES = 1000


def payload(n: int) -> bytes:
    values = {f"a{k}": round((n * 7 + k * 13) % 1000 / 10, 1) for k in range(9)}
    values["seq"] = n
    return json.dumps(values).encode()


def publish(url: str, prefix: str, start: int, count: int, ready: Any) -> None:
    from paho.mqtt.client import MQTTv5

    from cetate.mqtt import paho_client

    client, broker = paho_client(url, f"bench-pub-{uuid.uuid4().hex[:8]}", MQTTv5)
    client.max_inflight_messages_set(2000)
    client.max_queued_messages_set(0)
    client.connect(broker.host, broker.port)
    client.loop_start()
    bodies = [payload(n) for n in range(1000)]
    ready.wait()
    infos = []
    for n in range(start, start + count):
        infos.append(client.publish(f"{prefix}/dev{n % DEVICES}/state", bodies[n % 1000], qos=1))
        # Message ids are 16 bits: keep fewer than 65,535 unacknowledged, or ids collide.
        if len(infos) > 20_000:
            infos.pop(0).wait_for_publish(120)
    for info in infos:
        info.wait_for_publish(120)
    client.disconnect()
    client.loop_stop()


@contextmanager
def private_broker() -> Iterator[str]:
    """A Mosquitto of our own with unbounded queues for offline sessions; yields its URL."""
    program = shutil.which("mosquitto") or shutil.which("mosquitto", path="/usr/sbin")
    if program is None:
        raise SystemExit("backlog mode needs the mosquitto program (Debian package mosquitto)")
    port = free_port()
    folder = Path(tempfile.mkdtemp())
    config = folder / "mosquitto.conf"
    config.write_text(
        f"listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n"
        "max_queued_messages 0\nmax_queued_bytes 0\n"
    )
    broker = subprocess.Popen([program, "-c", str(config)], stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline or broker.poll() is not None:
                    raise SystemExit("the private mosquitto did not start") from None
                time.sleep(0.05)
        yield f"mqtt://127.0.0.1:{port}"
    finally:
        broker.terminate()
        broker.wait(10)
        shutil.rmtree(folder, ignore_errors=True)


def bare_subscriber(
    url: str, prefix: str, total: int, result: Any, ready: Any, published: Any | None
) -> None:
    """Only counts: paho with automatic QoS 1 acknowledgement; sets ``ready`` when the
    publishers may start. With ``published`` (backlog mode) it subscribes in a persistent
    session, goes away until the publishers are done, then comes back for the queued messages."""
    from paho.mqtt.client import MQTTv5
    from paho.mqtt.packettypes import PacketTypes
    from paho.mqtt.properties import Properties

    from cetate.mqtt import paho_client

    client, broker = paho_client(url, f"bench-bare-{uuid.uuid4().hex[:8]}", MQTTv5)
    state = {"count": 0, "first": 0.0, "last": 0.0}
    subscribed = threading.Event()

    def on_message(client: Any, userdata: Any, message: Any) -> None:
        if state["count"] == 0:
            state["first"] = time.perf_counter()
        state["count"] += 1
        state["last"] = time.perf_counter()

    client.on_message = on_message
    client.on_connect = lambda c, *_: c.subscribe(f"{prefix}/+/state", qos=1)
    client.on_subscribe = lambda *_: subscribed.set()
    # The same flow control as the worker (the broker may have 65,535 messages in flight to
    # it): with the default of 20 the broker's queue overflows and it drops messages.
    properties = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
    properties.ReceiveMaximum = 65535
    properties.SessionExpiryInterval = 3600
    client.connect(broker.host, broker.port, clean_start=published is None, properties=properties)
    client.loop_start()
    subscribed.wait(10)
    if published is not None:
        client.disconnect()
        client.loop_stop()
        ready.set()
        published.wait()
        client.on_connect = None  # the session keeps the subscription
        properties.SessionExpiryInterval = 0  # gone when this connection ends
        client.connect(broker.host, broker.port, clean_start=False, properties=properties)
        client.loop_start()
    else:
        ready.set()
    deadline = time.monotonic() + 600
    while state["count"] < total and time.monotonic() < deadline:
        time.sleep(0.05)
    client.disconnect()
    client.loop_stop()
    result.put((state["count"], state["first"], state["last"]))


def cetate_worker(
    url: str, prefix: str, db: str, client_id: str, group: str | None, result: Any, ready: Any,
    stop: Any, progress: Any, published: Any | None,
) -> None:  # fmt: skip
    """One worker process; ``progress`` holds (messages done, first done at, last done at).
    With ``published`` (backlog mode) it subscribes, stops until the publishers are done, then
    starts again on its persistent session."""
    from cetate.config import Settings
    from cetate.hub.service import build_hub
    from cetate.ingest.mapping import parse_mappings
    from cetate.ingest.mqtt import MqttSettings, MqttWorker

    hub = build_hub(Settings(store=f"sqlite:///{db}", log_level="WARNING"))
    mappings = parse_mappings(
        {
            "mappings": [
                {
                    "topic": f"{prefix}/{{device}}/state",
                    "payload": "keyValues",
                    "id": "urn:ngsi-ld:Device:bench:{device}",
                    "type": "Device",
                }
            ]
        }
    )
    settings = MqttSettings(url, client_id, group, status_every_s=3600)
    worker = MqttWorker(hub, mappings, settings)
    worker.start()
    worker.wait_connected(10)
    time.sleep(0.5)
    ready.set()
    if published is not None:
        worker.stop()
        published.wait()
        worker = MqttWorker(hub, mappings, settings)
        worker.start()
    while not stop.is_set():
        counts = worker.counters.snapshot()
        done = counts["stored"] + counts["deadLettered"]
        if done != progress[0]:
            now = time.perf_counter()
            if progress[0] == 0:
                progress[1] = now
            progress[0], progress[2] = done, now
        time.sleep(0.005)
    worker.stop()
    hub.close()
    result.put((client_id, worker.counters.snapshot()))


def run_publishers(url: str, prefix: str, total: int, publishers: int, ready: Any) -> None:
    share = total // publishers
    processes = [
        mp.Process(target=publish, args=(url, prefix, i * share, share, ready))
        for i in range(publishers)
    ]
    for process in processes:
        process.start()
    for process in processes:
        process.join()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument(
        "--url", default=os.environ.get("CETATE_TEST_MQTT", "mqtt://127.0.0.1:1883")
    )
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--workers", type=int, default=1, help="Cetate worker processes")
    parser.add_argument("--publishers", type=int, default=2)
    parser.add_argument("--mode", choices=("sustained", "backlog"), default="sustained")
    args = parser.parse_args()
    total = args.messages - args.messages % args.publishers
    print(
        f"{total:,} messages, {DEVICES:,} devices, 10 attributes each, QoS 1, "
        f"{args.publishers} publisher process(es), {args.mode} mode"
    )
    if args.mode == "backlog":
        with private_broker() as url:
            print(f"   a private Mosquitto at {url} (queues unbounded)")
            measure(url, total, args.workers, args.publishers, backlog=True)
    else:
        measure(args.url, total, args.workers, args.publishers, backlog=False)


def measure(url: str, total: int, worker_count: int, publishers: int, backlog: bool) -> None:
    from cetate.ingest.mqtt import end_session

    # 1. the bare subscriber
    prefix = f"bench/{uuid.uuid4().hex[:8]}"
    queue: Any = mp.Queue()
    ready, published = mp.Event(), mp.Event()
    bare = mp.Process(
        target=bare_subscriber,
        args=(url, prefix, total, queue, ready, published if backlog else None),
    )
    bare.start()
    ready.wait(10)
    run_publishers(url, prefix, total, publishers, ready)
    published.set()
    count, first, last = queue.get(timeout=600)
    bare.join()
    bare_rate = count / (last - first)
    print(f"1. bare paho subscriber (counts only): {count:,} received, {bare_rate:,.0f} messages/s")

    # 2. Cetate's worker(s)
    prefix = f"bench/{uuid.uuid4().hex[:8]}"
    db = Path(tempfile.mkdtemp()) / "hub.db"
    group = "bench" if worker_count > 1 else None
    stop, ready, published = mp.Event(), mp.Event(), mp.Event()
    readies = [mp.Event() for _ in range(worker_count)]
    progress = [mp.Array("d", 3) for _ in range(worker_count)]
    ids = [f"bench-w{i}-{uuid.uuid4().hex[:6]}" for i in range(worker_count)]
    workers = [
        mp.Process(
            target=cetate_worker,
            args=(
                url,
                prefix,
                str(db),
                ids[i],
                group,
                queue,
                readies[i],
                stop,
                progress[i],
                published if backlog else None,
            ),
        )
        for i in range(worker_count)
    ]
    for process in workers:
        process.start()
    for event in readies:
        event.wait(60)
    if backlog:
        time.sleep(1.0)  # each worker has stopped and left its session to the broker
    ready.set()
    run_publishers(url, prefix, total, publishers, ready)
    published.set()
    stalled_since, last_done = time.monotonic(), -1.0
    while True:  # until every message is in, or nothing moved for 30 s
        done = sum(p[0] for p in progress)
        if done >= total:
            break
        if done != last_done:
            stalled_since, last_done = time.monotonic(), done
        elif time.monotonic() - stalled_since > 30:
            break
        time.sleep(0.1)
    first = min(p[1] for p in progress if p[0])
    last = max(p[2] for p in progress)
    stop.set()
    results = [queue.get(timeout=120) for _ in workers]
    for process in workers:
        process.join()
    stored = sum(int(counts["stored"]) for _, counts in results)
    dead = sum(int(counts["deadLettered"]) for _, counts in results)
    rate = (stored + dead) / (last - first)
    for client_id in ids:
        end_session(url, client_id)
    print(
        f"2. Cetate ingest, {worker_count} worker process(es), SQLite with history: "
        f"{stored:,} stored + {dead:,} dead-lettered = {stored + dead:,} of {total:,} published; "
        f"{rate:,.0f} messages/s"
    )
    print(f"   ratio Cetate / bare subscriber: {rate / bare_rate:.2f}")
    verdict = "PASS" if rate >= 10_000 and stored + dead == total else "FAIL"
    print(
        f"{verdict}: {rate:,.0f} messages/s (target >= 10,000); stored + dead-lettered = published: {stored + dead == total}"
    )


if __name__ == "__main__":
    main()
