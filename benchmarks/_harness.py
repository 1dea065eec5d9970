"""What every hub benchmark needs: servers in subprocesses, wrk runs, a notification receiver.

Benchmarks measure the real thing over HTTP on loopback: ``cetate serve`` in its own process,
the load from another (wrk, or httpx for latency probes), and a baseline measured in the same
run so the ratio means something on a noisy machine.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import orjson

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until_up(url: str, process: subprocess.Popen[bytes], seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"benchmark: server exited with {process.returncode}")
        try:
            httpx.get(url, timeout=1)
            return
        except httpx.HTTPError:
            time.sleep(0.1)
    raise SystemExit(f"benchmark: {url} did not answer within {seconds} s")


@contextmanager
def _server(command: list[str], port: int, env: dict[str, str] | None = None) -> Iterator[str]:
    """A server subprocess on a loopback port, up before the block and stopped after it."""
    process = subprocess.Popen(
        command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_up(f"{base}/health", process)
        yield base
    finally:
        process.terminate()
        process.wait(timeout=30)


@contextmanager
def cetate_server(
    store_url: str, workers: int = 1, extra_env: dict[str, str] | None = None
) -> Iterator[str]:
    """``cetate serve`` on a free loopback port; yields its base URL."""
    port = free_port()
    command = [sys.executable, "-m", "cetate.cli", "serve", "--store", store_url]
    command += ["--port", str(port), "--workers", str(workers)]
    with _server(command, port, {**os.environ, **(extra_env or {})}) as base:
        yield base


@contextmanager
def bare_server(workers: int = 1) -> Iterator[str]:
    """The baseline: a bare FastAPI app on the same uvicorn settings as cetate serve."""
    port = free_port()
    command = [sys.executable, str(ROOT / "benchmarks" / "_bare_app.py"), str(port), str(workers)]
    with _server(command, port) as base:
        yield base


@dataclass
class WrkResult:
    requests_per_s: float
    non_2xx: int
    errors: int
    p50_ms: float
    p99_ms: float


_WRK_REPORT = """
done = function(summary, latency, requests)
  io.write(string.format("CETATE p50=%f p99=%f\\n",
    latency:percentile(50) / 1000, latency:percentile(99) / 1000))
end
"""


def wrk(url: str, script: str, connections: int, seconds: int, threads: int = 2) -> WrkResult:
    """Run wrk with a Lua script (request generation) and parse its report."""
    if shutil.which("wrk") is None:
        raise SystemExit("benchmark: wrk is not installed (apt-get install wrk)")
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as lua:
        lua.write(script + _WRK_REPORT)
    try:
        output = subprocess.run(
            ["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "-s", lua.name, url],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    finally:
        os.unlink(lua.name)
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))  # type: ignore[union-attr]
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    errors = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output
    )
    latency = re.search(r"CETATE p50=([\d.]+) p99=([\d.]+)", output)
    return WrkResult(
        requests_per_s=rps,
        non_2xx=int(non_2xx.group(1)) if non_2xx else 0,
        errors=sum(int(g) for g in errors.groups()) if errors else 0,
        p50_ms=float(latency.group(1)) if latency else float("nan"),
        p99_ms=float(latency.group(2)) if latency else float("nan"),
    )


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def summary(values_ms: list[float]) -> str:
    return (
        f"p50 {percentile(values_ms, 0.5):.1f} ms, p95 {percentile(values_ms, 0.95):.1f} ms, "
        f"p99 {percentile(values_ms, 0.99):.1f} ms, mean {statistics.fmean(values_ms):.1f} ms"
    )


@dataclass
class Receiver:
    """An HTTP notification receiver on loopback that records when each entity value arrives."""

    port: int = field(default_factory=free_port)
    received: int = 0
    # (probe value sent as the send time, receipt time) for latency probes
    probes: list[tuple[float, float]] = field(default_factory=list)
    probe_attr: str = "probeSentAt"
    _loop: asyncio.AbstractEventLoop | None = None
    _thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/notify"

    def start(self) -> None:
        ready = threading.Event()

        def serve() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            server = loop.run_until_complete(
                asyncio.start_server(self._handle, "127.0.0.1", self.port, backlog=512)
            )
            ready.set()
            loop.run_forever()
            server.close()

        self._thread = threading.Thread(target=serve, daemon=True)
        self._thread.start()
        ready.wait(10)

    def stop(self) -> None:
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":", 1)[1])
                body = await reader.readexactly(length) if length else b""
                now = time.time()
                self._record(body, now)
                writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n")
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    def _record(self, body: bytes, now: float) -> None:
        # The receiver shares the machine with the server: parse only what carries a probe.
        if self.probe_attr.encode() not in body:
            self.received += max(0, body.count(b'"id":') - 1)  # entities, not the notification
            return
        try:
            notification = orjson.loads(body)
        except orjson.JSONDecodeError:
            return
        for entity in notification.get("data", []):
            self.received += 1
            probe = entity.get(self.probe_attr)
            if isinstance(probe, dict):
                probe = probe.get("value")
            if isinstance(probe, float):
                self.probes.append((probe, now))
