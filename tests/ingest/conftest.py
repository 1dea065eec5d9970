"""Fixtures of the ingest tests: the real GTFS feed."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def minsk_zip(shared_data: Path) -> Path:
    """The Mińsk Mazowiecki GTFS feed of ../shared/data (the tests skip where it is absent)."""
    path = shared_data / "gtfs" / "minsk-mazowiecki" / "minsk-maz_gtfs.zip"
    if not path.is_file():
        pytest.skip(f"the Mińsk Mazowiecki GTFS feed is not at {path}")
    return path
