"""kill -9 of the server during a batch-upsert load loses no acknowledged write."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

BASE = "/ngsi-ld/v1"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_server(store_url: str, port: int) -> subprocess.Popen[bytes]:
    process = subprocess.Popen(
        [sys.executable, "-m", "cetate.cli", "serve", "--store", store_url, "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(
                f"server exited: {process.stderr.read().decode() if process.stderr else ''}"
            )
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                return process
        except httpx.HTTPError:
            time.sleep(0.1)
    process.kill()
    raise RuntimeError("server did not start in 30 s")


def batch(start: int, size: int) -> list[dict[str, object]]:
    return [
        {
            "id": f"urn:ngsi-ld:TrafficFlowObserved:k{n}",
            "type": "TrafficFlowObserved",
            "intensity": {"type": "Property", "value": n},
            "location": {
                "type": "GeoProperty",
                "value": {"type": "Point", "coordinates": [25.6, 45.65]},
            },
        }
        for n in range(start, start + size)
    ]


@pytest.fixture(params=["sqlite", "postgres"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'hub.db'}"
    else:
        url: str = request.getfixturevalue("postgres_url")
        from cetate.hub.store.postgres import PostgresStore

        store = PostgresStore(url)
        store.reset()
        store.close()
        yield url


def test_kill_9_loses_no_acknowledged_write(store_url: str) -> None:
    port = free_port()
    server = start_server(store_url, port)
    acknowledged: list[str] = []
    stop = threading.Event()

    def load() -> None:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as client:
            start = 0
            while not stop.is_set():
                entities = batch(start, 100)
                try:
                    response = client.post(f"{BASE}/entityOperations/upsert", json=entities)
                except httpx.HTTPError:
                    return  # the server died mid-request: this batch was never acknowledged
                if response.status_code in (201, 204):
                    acknowledged.extend(str(e["id"]) for e in entities)
                start += 100

    writer = threading.Thread(target=load)
    writer.start()
    time.sleep(2.0)
    os.kill(server.pid, signal.SIGKILL)
    server.wait()
    stop.set()
    writer.join()
    assert len(acknowledged) >= 100, "the load never got going"

    restarted = start_server(store_url, port)
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
            stored: set[str] = set()
            while True:
                response = client.get(
                    f"{BASE}/entities",
                    params={"type": "TrafficFlowObserved", "limit": 5000, "offset": len(stored)},
                )
                assert response.status_code == 200, response.text
                page = {e["id"] for e in response.json()}
                if not page:
                    break
                stored |= page
            missing = set(acknowledged) - stored
            assert not missing, (
                f"{len(missing)} acknowledged entities lost, e.g. {sorted(missing)[:3]}"
            )
    finally:
        restarted.terminate()
        restarted.wait(timeout=10)
