"""Stores behind one protocol: SQLite (embedded default) and PostgreSQL + PostGIS."""

from __future__ import annotations

from cetate.errors import ConfigError
from cetate.hub.store.base import Store


def open_store(url: str) -> Store:
    """A store from its URL: ``sqlite:///file.db`` (or a plain path) or ``postgresql://...``."""
    if url.startswith(("postgresql://", "postgres://")):
        from cetate.hub.store.postgres import PostgresStore

        return PostgresStore(url)
    if url.startswith("sqlite:") or "://" not in url:
        from cetate.hub.store.sqlite import SqliteStore, path_from_url

        return SqliteStore(path_from_url(url))
    raise ConfigError(f"unknown store URL {url!r}: use sqlite:///path.db or postgresql://...")
