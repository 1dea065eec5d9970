"""A running hub app (on every store) for the API tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from cetate.config import Settings
from cetate.hub.context import ContextResolver
from cetate.hub.service import Hub
from cetate.hub.store.base import Store
from cetate.web.app import create_app


@pytest.fixture
def client(store: Store) -> Iterator[TestClient]:
    """The API over each store, with remote @context fetching off (tests run offline)."""
    # A small temporal page, so tests see responses cut into 206 pages.
    settings = Settings(
        store="unused", allow_remote_contexts=False, max_body_bytes=1_000_000, temporal_page=30
    )
    hub = Hub(store, ContextResolver(directory=None, allow_remote=False), settings)
    with TestClient(create_app(settings, hub)) as test_client:
        yield test_client
    hub.writer.close()  # the store itself is closed by its fixture
