"""Fixtures of the dashboard tests: a real server on loopback, headless Chromium driving it.

The browser is Debian's ``chromium`` driven by Playwright for Python through
``executable_path``: nothing is downloaded. Where either is missing the browser tests skip with
the reason, except where ``CETATE_TEST_BROWSER`` is set (CI): there they must run.
"""

from __future__ import annotations

import os
import shutil
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from fastapi import FastAPI

CHROMIUM = os.environ.get("CETATE_CHROMIUM", "/usr/bin/chromium")
OUTPUT = Path(os.environ.get("CETATE_TEST_OUTPUT", Path(__file__).parents[2] / "test-output"))


def _unavailable(reason: str) -> None:
    if os.environ.get("CETATE_TEST_BROWSER"):
        pytest.fail(f"the browser tests must run here (CETATE_TEST_BROWSER) but {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """Headless Chromium (Debian's), one for the session."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("Playwright for Python is not installed (pip install playwright)")
    if not (Path(CHROMIUM).is_file() or shutil.which(CHROMIUM)):
        _unavailable(f"no Chromium at {CHROMIUM} (apt-get install chromium)")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, headless=True)
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    """A fresh page at a 1366x768 laptop's size; page errors fail the test."""
    context = browser.new_context(viewport={"width": 1366, "height": 768}, locale="en-GB")
    opened = context.new_page()
    errors: list[str] = []
    opened.on("pageerror", lambda error: errors.append(str(error)))
    yield opened
    context.close()
    assert not errors, f"errors in the page: {errors}"


@pytest.fixture(scope="session")
def screenshots() -> Path:
    """Where the browser tests leave their screenshots (test-output/ is not committed)."""
    folder = OUTPUT / "screenshots"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


class Server:
    """An app served by uvicorn from a thread, on a free loopback port."""

    def __init__(self, app: FastAPI) -> None:
        self.socket = socket.socket()
        self.socket.bind(("127.0.0.1", 0))
        host, port = self.socket.getsockname()
        self.url = f"http://{host}:{port}"
        config = uvicorn.Config(app, log_level="warning", timeout_graceful_shutdown=2)
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(
            target=self.server.run, kwargs={"sockets": [self.socket]}, daemon=True
        )

    def __enter__(self) -> Server:
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the test server did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=30)
        self.socket.close()


Serve = Callable[[FastAPI], Server]


@pytest.fixture(scope="session")
def serve() -> Serve:
    """``with serve(app) as server:`` runs ``app`` at ``server.url`` for the block."""
    return Server
