"""The one settings object: CETATE_* environment variables, overridden by CLI options."""

from __future__ import annotations

from pathlib import Path

from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Everything a running Cetate needs to know about its environment."""

    model_config = SettingsConfigDict(env_prefix="CETATE_", extra="ignore")

    store: str = "sqlite:///cetate.db"
    host: str = "127.0.0.1"
    port: int = 8000
    # API processes. More than one spreads requests over cores; they share the store (SQLite
    # serialises their writes; PostgreSQL runs them side by side).
    workers: int = 1
    # A directory of @context files: a context URL resolves to the file with the same final
    # path segment, so the hub works on a closed network.
    contexts: Path | None = None
    allow_remote_contexts: bool = True
    context_timeout_s: float = 5.0
    max_body_bytes: int = 16 * 1024 * 1024
    # Query results per page when the client does not say, and the most it may ask for.
    default_limit: int = 20
    max_limit: int = 10_000
    # Attribute instances in one temporal response; beyond it the answer is 206 with a
    # Content-Range telling the client where to continue (NGSI-LD 6.3.10).
    temporal_page: int = 10_000
    # Notification delivery: attempts per notification and the first retry delay.
    notify_attempts: int = 5
    notify_backoff_s: float = 0.5
    notify_timeout_s: float = 5.0
    notify_concurrency: int = 64
    timezone: str = "Europe/Bucharest"
    # The city's OSM extract (PBF or XML): routing, isochrones and places under /city.
    city_osm: Path | None = None
    city_modes: str = "drive,bike,walk"
    # Where built graphs are kept, keyed by the extract's hash (default ~/.cache/cetate/graphs).
    city_cache: Path | None = None
    # MQTT ingest in the server process: a mapping file turns it on (see docs/ingest.md).
    ingest_mappings: Path | None = None
    ingest_mqtt_url: str = "mqtt://127.0.0.1:1883"
    ingest_client_id: str = "cetate-ingest"
    ingest_group: str | None = None  # shared subscription group, to split a stream
    # Run the demo city's sensor feed in the server (``cetate demo`` sets it).
    demo_feed: bool = False
    demo_feed_interval_s: float = 30.0
    # Accounts (docs/dashboard.md, "Accounts and roles"). Off: everything is open, as before.
    # On: every request but /health, the page and its static files needs a signed-in user or an
    # API key with a role on the request's tenant.
    auth: bool = False
    auth_anonymous_read: bool = False  # reads (GET, HEAD) need no account; writes still do
    auth_session_idle_s: float = 12 * 3600.0  # a session unused this long ends
    auth_session_max_s: float = 7 * 24 * 3600.0  # and any session ends this long after login
    # Signs session cookies; default: a random key made once and kept with the accounts.
    auth_secret: str | None = None
    log_level: str = "INFO"
