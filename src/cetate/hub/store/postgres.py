"""The city-scale store: PostgreSQL 15 + PostGIS, shared by several API processes.

The tables mirror the SQLite store: entities are one ``jsonb`` document each, ``entity_types``
indexes their types, ``geo`` holds every GeoProperty as a PostGIS geometry (GiST index), history
is one row per attribute instance written, keyed by small integers (``history_entities``,
``attr_names``) so its index stays compact.

Writes serialize per entity across processes. ``mutate`` locks the entities it names with
``SELECT ... FOR UPDATE``; an entity that does not exist yet cannot be row-locked, so its id is
locked by inserting it into ``entity_locks`` (a unique key held until commit: a second writer of
the same new id waits there, then finds the entity the first one created). All waiting happens
before the mutation function runs, so it runs exactly once, on the current state, and a lock
conflict (deadlock) found by the server is retried before it has run.
"""

from __future__ import annotations

import logging
import random
import struct
import threading
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

import orjson
import psycopg
import shapely
import shapely.geometry
from psycopg import errors as pg_errors
from psycopg.conninfo import conninfo_to_dict
from psycopg.types.json import set_json_loads
from psycopg_pool import ConnectionPool, PoolTimeout

from cetate.errors import AlreadyExists, BadRequestData, ConfigError
from cetate.hub.changes import Change
from cetate.hub.model import (
    Entity,
    Instance,
    attribute_summary,
    geo_values,
    geometry_bounds,
    instance_time,
    point_position,
    time_us,
)
from cetate.hub.query import GeoQuery, geo_bbox
from cetate.hub.store.base import (
    EntityQuery,
    HistoryQuery,
    Mutation,
    Subscription,
    TypeSummary,
    literal_prefix,
    matches,
)
from cetate.logs import log_event

log = logging.getLogger("cetate.hub.store")

# Text keys sort and compare byte-wise (COLLATE "C"), like SQLite: the same order by id on every
# server whatever its locale, and id-prefix ranges that a B-tree index can serve.
SCHEMA = """
CREATE TABLE IF NOT EXISTS tenants(name text COLLATE "C" PRIMARY KEY);
CREATE TABLE IF NOT EXISTS entities(
    tenant text COLLATE "C" NOT NULL,
    id text COLLATE "C" NOT NULL,
    doc jsonb NOT NULL,
    summary jsonb NOT NULL,
    PRIMARY KEY(tenant, id)
);
-- Ids of entities being created, locked (by the uncommitted row) until the creator commits;
-- always empty between transactions.
CREATE UNLOGGED TABLE IF NOT EXISTS entity_locks(
    tenant text COLLATE "C" NOT NULL, id text COLLATE "C" NOT NULL, PRIMARY KEY(tenant, id)
);
CREATE TABLE IF NOT EXISTS entity_types(
    tenant text COLLATE "C" NOT NULL,
    type text COLLATE "C" NOT NULL,
    id text COLLATE "C" NOT NULL,
    PRIMARY KEY(tenant, type, id)
);
CREATE TABLE IF NOT EXISTS geo(
    tenant text COLLATE "C" NOT NULL,
    id text COLLATE "C" NOT NULL,
    attr text COLLATE "C" NOT NULL,
    geom geometry(Geometry, 4326) NOT NULL
);
CREATE INDEX IF NOT EXISTS geo_entity ON geo(tenant, id);
CREATE INDEX IF NOT EXISTS geo_geom ON geo USING gist(geom);
CREATE TABLE IF NOT EXISTS history_entities(
    hkey bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant text COLLATE "C" NOT NULL,
    id text COLLATE "C" NOT NULL,
    types jsonb NOT NULL,
    UNIQUE(tenant, id)
);
CREATE TABLE IF NOT EXISTS attr_names(
    akey integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    iri text COLLATE "C" NOT NULL UNIQUE
);
CREATE TABLE IF NOT EXISTS history(
    hid bigint GENERATED ALWAYS AS IDENTITY,
    hkey bigint NOT NULL,
    akey integer NOT NULL,
    observed_us bigint NOT NULL,
    modified_us bigint NOT NULL,
    instance jsonb NOT NULL
);
CREATE INDEX IF NOT EXISTS history_lookup ON history(hkey, akey, observed_us);
CREATE TABLE IF NOT EXISTS counters(name text PRIMARY KEY, value bigint NOT NULL);
INSERT INTO counters(name, value) VALUES ('subscriptions', 0) ON CONFLICT DO NOTHING;
CREATE TABLE IF NOT EXISTS subscriptions(
    tenant text COLLATE "C" NOT NULL,
    id text COLLATE "C" NOT NULL,
    doc jsonb NOT NULL,
    status jsonb NOT NULL,
    PRIMARY KEY(tenant, id)
);
"""
_TABLES = (
    "tenants, entities, entity_locks, entity_types, geo, history_entities, attr_names, history, "
    "subscriptions"
)
_ANALYZE_AFTER_WRITES = 20_000  # entity writes between two refreshes of the statistics
_GEO_PAGE = 64  # documents read at a time when paging through geo-query candidates
_BUMP_SUBSCRIPTIONS = "UPDATE counters SET value = value + 1 WHERE name = 'subscriptions'"
_SCHEMA_LOCK = 0x63657461746501  # advisory lock key: one process creates the schema at a time

_TIME_COLUMNS = {
    "observedAt": "observed_us",
    "modifiedAt": "modified_us",
    "createdAt": "modified_us",
}
_ATTEMPTS = 5  # lock conflicts (deadlocks) the server resolved by aborting us, retried
_RETRYABLE = (pg_errors.DeadlockDetected, pg_errors.SerializationFailure)
_POINT_EWKB = bytes.fromhex("0101000020e6100000")  # little-endian Point, SRID 4326
# Geo prefilters must keep every entity the exact Python test accepts: a little slack for the
# different arithmetic (PostGIS sphere vs haversine, PostGIS vs GEOS predicates).
_NEAR_SLACK = 1e-4  # relative
_NEAR_SLACK_M = 1.0
_SHAPE_SLACK_DEG = 1e-9

# Batches of ids are joined through unnest(): an index lookup per id whatever the plan cache
# holds (``id = ANY($1)`` in a generic plan scans every row of the tenant).
_IN_IDS = "id = ANY(%b::text[])"
_SELECT_FOR_UPDATE = (
    f"SELECT id, doc FROM entities WHERE tenant = %s AND {_IN_IDS} ORDER BY id FOR UPDATE"
)


class _Retry(Exception):
    """A lock conflict before the mutation function ran: start the transaction again."""


class PostgresStore:
    """PostgreSQL + PostGIS, for several API processes sharing one database."""

    name = "postgresql"
    blocking = True

    def __init__(self, url: str, min_size: int = 1, max_size: int = 8) -> None:
        self.url = url
        where = _describe(url)
        try:
            with psycopg.connect(url, autocommit=True, connect_timeout=10) as conn:
                _install_schema(conn, where)
        except psycopg.OperationalError as error:
            raise ConfigError(
                f"cannot connect to PostgreSQL at {where}: {_first_line(error)}"
            ) from None
        except psycopg.Error as error:
            raise ConfigError(
                f"cannot create the Cetate tables in PostgreSQL at {where}: {_first_line(error)}"
            ) from None
        self._analyze_lock = threading.Lock()
        self._analyzing = False
        self._writes_since_analyze = 0
        self._pool: ConnectionPool[psycopg.Connection[tuple[Any, ...]]] = ConnectionPool(
            url,
            min_size=min_size,
            max_size=max_size,
            kwargs={"autocommit": True},
            configure=_configure,
            open=False,
            name="cetate-store",
        )
        try:
            self._pool.open(wait=True, timeout=30.0)
        except PoolTimeout:
            self._pool.close()
            raise ConfigError(f"cannot open connections to PostgreSQL at {where}") from None
        self._akeys: dict[str, int] = {}  # attribute IRI -> history key (committed)
        self._iris: dict[int, str] = {}
        self._tenants: set[str] = set()  # tenants known to exist (committed)

    # -- connections ---------------------------------------------------------------------------

    @contextmanager
    def _conn(self) -> Iterator[psycopg.Connection[tuple[Any, ...]]]:
        try:
            with self._pool.connection() as conn:
                yield conn
        except psycopg.DataError as error:  # e.g. U+0000, which PostgreSQL text cannot hold
            raise BadRequestData(f"PostgreSQL cannot store this: {_first_line(error)}") from None

    def close(self) -> None:
        self._pool.close()

    def reset(self) -> None:
        """Empty every table (tests start from an empty hub)."""
        with self._conn() as conn:
            conn.execute(f"TRUNCATE {_TABLES} RESTART IDENTITY")
        self._akeys.clear()
        self._iris.clear()
        self._tenants.clear()

    # -- entities ------------------------------------------------------------------------------

    def mutate(self, tenant: str, ids: Sequence[str], fn: Mutation) -> list[Change]:
        unique = sorted(set(ids))
        for attempt in range(_ATTEMPTS):
            try:
                changes = self._mutate_once(tenant, unique, fn)
                self._count_writes(len(changes))
                return changes
            except _Retry as retry:
                cause = retry.__cause__
                if attempt == _ATTEMPTS - 1 and cause is not None:
                    raise cause from None
                log_event(
                    log, "store.mutate.retry", logging.DEBUG, attempt=attempt + 1, error=cause
                )
                time.sleep(random.uniform(0.005, 0.05) * (attempt + 1))
        raise AssertionError("unreachable")

    def _count_writes(self, count: int) -> None:
        """Refresh the planner's statistics after many writes, in the background.

        Autovacuum gets to it within minutes; until then, right after a bulk load, plans rest on
        an empty table's figures (a near query took 100 ms instead of 9)."""
        with self._analyze_lock:
            self._writes_since_analyze += count
            if self._analyzing or self._writes_since_analyze < _ANALYZE_AFTER_WRITES:
                return
            self._analyzing = True
            self._writes_since_analyze = 0
        threading.Thread(target=self._analyze, name="cetate-analyze", daemon=True).start()

    def _analyze(self) -> None:
        try:
            with self._conn() as conn:
                conn.execute("ANALYZE entities, entity_types, geo, history_entities")
        except Exception as error:  # statistics are an optimisation: never fail a write
            log_event(log, "store.analyze_failed", logging.WARNING, error=repr(error))
        finally:
            with self._analyze_lock:
                self._analyzing = False

    def _mutate_once(self, tenant: str, ids: list[str], fn: Mutation) -> list[Change]:
        pending_akeys: dict[str, int] = {}
        with self._conn() as conn, conn.transaction():
            try:
                existing, locked_new = _lock_entities(conn, tenant, ids)
            except _RETRYABLE as error:
                raise _Retry() from error
            changes = fn(existing)
            if locked_new:
                conn.execute(
                    f"DELETE FROM entity_locks WHERE tenant = %s AND {_IN_IDS}",
                    (tenant, locked_new),
                    prepare=True,
                )
            if changes:
                self._persist(conn, tenant, existing, changes, pending_akeys)
        self._committed(tenant if changes else None, pending_akeys)
        return changes

    def _committed(self, tenant: str | None, akeys: Mapping[str, int]) -> None:
        if tenant is not None:
            self._tenants.add(tenant)
        self._akeys.update(akeys)
        for iri, akey in akeys.items():
            self._iris[akey] = iri

    def _ensure_tenant(self, conn: psycopg.Connection[Any], tenant: str) -> None:
        if tenant not in self._tenants:
            conn.execute("INSERT INTO tenants(name) VALUES (%s) ON CONFLICT DO NOTHING", (tenant,))

    def _persist(
        self,
        conn: psycopg.Connection[Any],
        tenant: str,
        stored: Mapping[str, Entity],
        changes: list[Change],
        pending_akeys: dict[str, int],
    ) -> None:
        # The tenant first: every writer takes its locks in the same order (entities, tenant,
        # attribute names, history entities), so writers never deadlock after ``fn`` ran.
        self._ensure_tenant(conn, tenant)
        # Net effect per entity: the stored state and the last change's result.
        final: dict[str, Entity | None] = {}
        written: list[tuple[str, list[str], Mapping[str, list[Instance]]]] = []
        retyped: dict[str, list[str]] = {}
        for change in changes:
            before, after = change.before, change.after
            final[change.entity_id] = after
            if after is None:
                continue
            if before is not None and before["type"] != after["type"]:
                retyped[after["id"]] = after["type"]
            if change.written:
                written.append((after["id"], after["type"], change.written))

        upsert_ids: list[str] = []
        upsert_docs: list[str] = []
        upsert_summaries: list[str] = []
        delete_ids: list[str] = []
        old_types: list[tuple[str, str]] = []  # (type, id)
        new_types: list[tuple[str, str]] = []
        geo_clear: list[str] = []
        geo_rows: list[tuple[str, str, str]] = []  # (id, attribute, hex EWKB)
        for entity_id, after in final.items():
            before = stored.get(entity_id)
            if after is None:
                if before is not None:
                    delete_ids.append(entity_id)
                    old_types += [(t, entity_id) for t in before["type"]]
                    geo_clear.append(entity_id)
                continue
            upsert_ids.append(entity_id)
            upsert_docs.append(orjson.dumps(after).decode())
            upsert_summaries.append(orjson.dumps(attribute_summary(after)).decode())
            if before is None or before["type"] != after["type"]:
                if before is not None:
                    old_types += [(t, entity_id) for t in before["type"]]
                new_types += [(t, entity_id) for t in after["type"]]
            if _geometry_changed(before, after):
                if before is not None:
                    geo_clear.append(entity_id)
                geo_rows += [
                    (entity_id, attr, _ewkb_hex(geometry)) for attr, geometry in geo_values(after)
                ]

        # Sent as one pipeline: the server works through the statements while Python prepares
        # the history rows; the first result fetched (history keys) waits for all of them.
        with conn.pipeline():
            if old_types:
                conn.execute(
                    "DELETE FROM entity_types t "
                    "USING unnest(%b::text[], %b::text[]) AS o(type, id) "
                    "WHERE t.tenant = %s AND t.type = o.type AND t.id = o.id",
                    ([t for t, _ in old_types], [i for _, i in old_types], tenant),
                    prepare=True,
                )
            if delete_ids:
                conn.execute(
                    f"DELETE FROM entities WHERE tenant = %s AND {_IN_IDS}",
                    (tenant, delete_ids),
                    prepare=True,
                )
            if upsert_ids:
                conn.execute(
                    "INSERT INTO entities(tenant, id, doc, summary) "
                    "SELECT %s, u.id, u.doc::jsonb, u.summary::jsonb "
                    "FROM unnest(%b::text[], %b::text[], %b::text[]) AS u(id, doc, summary) "
                    "ON CONFLICT (tenant, id) DO UPDATE "
                    "SET doc = excluded.doc, summary = excluded.summary",
                    (tenant, upsert_ids, upsert_docs, upsert_summaries),
                    prepare=True,
                )
            if new_types:
                conn.execute(
                    "INSERT INTO entity_types(tenant, type, id) "
                    "SELECT %s, n.type, n.id FROM unnest(%b::text[], %b::text[]) AS n(type, id) "
                    "ON CONFLICT DO NOTHING",
                    (tenant, [t for t, _ in new_types], [i for _, i in new_types]),
                    prepare=True,
                )
            if geo_clear:
                conn.execute(
                    f"DELETE FROM geo WHERE tenant = %s AND {_IN_IDS}",
                    (tenant, geo_clear),
                    prepare=True,
                )
            if geo_rows:
                conn.execute(
                    "INSERT INTO geo(tenant, id, attr, geom) "
                    "SELECT %s, g.id, g.attr, g.geom::geometry "
                    "FROM unnest(%b::text[], %b::text[], %b::text[]) AS g(id, attr, geom)",
                    (
                        tenant,
                        [r[0] for r in geo_rows],
                        [r[1] for r in geo_rows],
                        [r[2] for r in geo_rows],
                    ),
                    prepare=True,
                )
            if written:
                rows = _history_rows(written)
                keyed = self._keyed_history_rows(conn, tenant, written, rows, pending_akeys)
            if retyped:
                _set_history_types(conn, tenant, retyped)
        if written:
            _copy_history(conn, keyed)

    def _write_history(
        self,
        conn: psycopg.Connection[Any],
        tenant: str,
        written: list[tuple[str, list[str], Mapping[str, list[Instance]]]],
        pending_akeys: dict[str, int],
    ) -> None:
        rows = _history_rows(written)
        _copy_history(conn, self._keyed_history_rows(conn, tenant, written, rows, pending_akeys))

    def _keyed_history_rows(
        self,
        conn: psycopg.Connection[Any],
        tenant: str,
        written: list[tuple[str, list[str], Mapping[str, list[Instance]]]],
        rows: list[tuple[str, str, bytes]],
        pending_akeys: dict[str, int],
    ) -> list[bytes]:
        """History COPY lines, with the entity and attribute keys (new ones registered)."""
        akeys = self._attr_keys(
            conn, {attr for _, _, by_attr in written for attr in by_attr}, pending_akeys
        )
        hkeys = _history_keys(conn, tenant, {entity_id: types for entity_id, types, _ in written})
        return [b"%d\t%d\t%s" % (hkeys[e], akeys[a], rest) for e, a, rest in rows]

    def _attr_keys(
        self, conn: psycopg.Connection[Any], iris: Iterable[str], pending: dict[str, int]
    ) -> dict[str, int]:
        """The small integers that stand for attribute names in history rows (new ones added;
        cached once committed, as a rolled-back key could otherwise be taken for another)."""
        keys: dict[str, int] = {}
        missing: list[str] = []
        for iri in iris:
            key = self._akeys.get(iri) or pending.get(iri)
            if key is None:
                missing.append(iri)
            else:
                keys[iri] = key
        if missing:
            missing.sort()
            conn.execute(
                "INSERT INTO attr_names(iri) SELECT unnest(%b::text[]) ON CONFLICT DO NOTHING",
                (missing,),
            )
            for iri, key in conn.execute(
                "SELECT iri, akey FROM attr_names WHERE iri = ANY(%b)", (missing,)
            ):
                keys[iri] = pending[iri] = key
        return keys

    def get(self, tenant: str, entity_id: str) -> Entity | None:
        with self._conn() as conn:
            row = conn.execute(
                "SELECT doc FROM entities WHERE tenant = %s AND id = %s",
                (tenant, entity_id),
                prepare=True,
            ).fetchone()
        return None if row is None else row[0]

    def query(self, tenant: str, query: EntityQuery) -> tuple[list[Entity], int | None]:
        geo_sql, geo_params = ("", []) if query.geo is None else _geo_condition(query.geo)
        if geo_sql and not query.ids:
            with self._conn() as conn:
                return _filter(_geo_candidates(conn, tenant, query, geo_sql, geo_params), query)
        where, params = _candidate_where(tenant, query)
        with self._conn() as conn:
            if _sql_is_exact(query):
                return _exact_page(conn, where, params, query)
            sql = f"SELECT e.doc FROM entities e WHERE {where} ORDER BY e.id"
            if query.count:
                return _filter(conn.execute(sql, params), query)
            # Only the first offset + limit matches are needed: stream from a server-side cursor.
            with conn.transaction(), conn.cursor(name="cetate_query") as cursor:
                cursor.itersize = max(100, min(2000, 2 * (query.offset + query.limit)))
                cursor.execute(sql, params)
                return _filter(cursor, query)

    def types(self, tenant: str) -> list[TypeSummary]:
        summaries: dict[str, TypeSummary] = {}
        with self._conn() as conn:
            rows = conn.execute(
                "SELECT t.type, e.summary FROM entity_types t "
                "JOIN entities e ON e.tenant = t.tenant AND e.id = t.id WHERE t.tenant = %s",
                (tenant,),
            )
            for type_iri, summary in rows:
                entry = summaries.setdefault(type_iri, TypeSummary(type_iri, 0))
                entry.count += 1
                for attr, attr_types in summary.items():
                    entry.attrs.setdefault(attr, set()).update(attr_types)
        return sorted(summaries.values(), key=lambda s: s.type)

    def tenant_exists(self, tenant: str) -> bool:
        if tenant == "" or tenant in self._tenants:
            return True
        with self._conn() as conn:
            row = conn.execute(
                "SELECT 1 FROM tenants WHERE name = %s", (tenant,), prepare=True
            ).fetchone()
        return row is not None

    def tenants(self) -> list[str]:
        with self._conn() as conn:
            return [name for (name,) in conn.execute("SELECT name FROM tenants ORDER BY name")]

    # -- history -------------------------------------------------------------------------------

    def history(self, tenant: str, query: HistoryQuery) -> dict[str, dict[str, list[Instance]]]:
        column = _TIME_COLUMNS.get(query.timeproperty, "observed_us")
        with self._conn() as conn:
            hkeys = _find_history_keys(conn, tenant, list(query.entity_ids))
            grouped: dict[int, dict[str, list[Instance]]] = {}
            if hkeys:
                clauses = ["hkey = ANY(%b::bigint[])"]
                params: list[Any] = [list(set(hkeys.values()))]
                if query.attrs is not None:
                    clauses.append("akey = ANY(%b::integer[])")
                    params.append(list(self._known_attr_keys(conn, query.attrs).values()))
                times, time_params = _time_clauses(column, query)
                if query.last_n:
                    where = " AND ".join(clauses)
                    sql = (
                        "SELECT p.hkey, p.akey, h.hid, h.instance FROM "
                        f"(SELECT DISTINCT hkey, akey FROM history WHERE {where}) p "
                        "CROSS JOIN LATERAL (SELECT x.hid, x.instance, "
                        f"x.{column} AS t FROM history x WHERE x.hkey = p.hkey "
                        f"AND x.akey = p.akey{times} ORDER BY x.{column} DESC, x.hid DESC "
                        "LIMIT %s) h ORDER BY p.hkey, p.akey, h.t, h.hid"
                    )
                    rows = conn.execute(sql, [*params, *time_params, query.last_n])
                else:
                    sql = (
                        "SELECT hkey, akey, hid, instance FROM history "
                        f"WHERE {' AND '.join(clauses)}{times} ORDER BY hkey, akey, {column}, hid"
                    )
                    rows = conn.execute(sql, [*params, *time_params])
                for hkey, akey, hid, instance in rows.fetchall():
                    instance["instanceId"] = f"urn:ngsi-ld:attribute:instance:{hid}"
                    iri = self._iri(conn, akey)
                    grouped.setdefault(hkey, {}).setdefault(iri, []).append(instance)
        result: dict[str, dict[str, list[Instance]]] = {}
        for entity_id in query.entity_ids:
            hkey = hkeys.get(entity_id)
            if hkey is None:
                continue
            per_attr = grouped.get(hkey, {})
            result[entity_id] = {attr: per_attr[attr] for attr in sorted(per_attr)}
        return result

    def _known_attr_keys(
        self, conn: psycopg.Connection[Any], iris: Iterable[str]
    ) -> dict[str, int]:
        keys = {iri: self._akeys[iri] for iri in iris if iri in self._akeys}
        missing = [iri for iri in iris if iri not in keys]
        if missing:
            for iri, akey in conn.execute(
                "SELECT iri, akey FROM attr_names WHERE iri = ANY(%b)", (missing,)
            ):
                keys[iri] = self._akeys[iri] = akey
                self._iris[akey] = iri
        return keys

    def _iri(self, conn: psycopg.Connection[Any], akey: int) -> str:
        iri = self._iris.get(akey)
        if iri is None:
            for key, name in conn.execute("SELECT akey, iri FROM attr_names"):
                self._iris[key] = name
                self._akeys[name] = key
            iri = self._iris[akey]
        return iri

    def history_entities(
        self, tenant: str, query: EntityQuery
    ) -> tuple[list[tuple[str, list[str]]], int | None]:
        sql = "SELECT id, types FROM history_entities WHERE tenant = %s"
        params: list[Any] = [tenant]
        if query.ids:
            sql += " AND id = ANY(%b::text[])"
            params.append(list(query.ids))
        found: list[tuple[str, list[str]]] = []
        total = 0
        with self._conn() as conn:
            for entity_id, types in conn.execute(sql + " ORDER BY id", params):
                if query.types and not any(group <= set(types) for group in query.types):
                    continue
                if query.id_pattern is not None and not query.id_pattern.fullmatch(entity_id):
                    continue
                if query.offset <= total < query.offset + query.limit:
                    found.append((entity_id, types))
                total += 1
        return found, (total if query.count else None)

    def add_history(
        self, tenant: str, entity_id: str, types: list[str], rows: Mapping[str, list[Instance]]
    ) -> None:
        pending: dict[str, int] = {}
        with self._conn() as conn, conn.transaction():
            self._ensure_tenant(conn, tenant)
            self._write_history(conn, tenant, [(entity_id, types, rows)], pending)
            _set_history_types(conn, tenant, {entity_id: types})
        self._committed(tenant, pending)

    def delete_history(self, tenant: str, entity_id: str, attr: str | None = None) -> bool:
        with self._conn() as conn, conn.transaction():
            hkey = _find_history_keys(conn, tenant, [entity_id]).get(entity_id)
            if hkey is None:
                return False
            if attr is None:
                conn.execute("DELETE FROM history WHERE hkey = %s", (hkey,))
                conn.execute("DELETE FROM history_entities WHERE hkey = %s", (hkey,))
                return True
            row = conn.execute("SELECT akey FROM attr_names WHERE iri = %s", (attr,)).fetchone()
            if row is None:
                return False
            gone = conn.execute(
                "DELETE FROM history WHERE hkey = %s AND akey = %s", (hkey, row[0])
            ).rowcount
            return gone > 0

    # -- subscriptions -------------------------------------------------------------------------

    def put_subscription(self, subscription: Subscription, create: bool) -> None:
        doc = orjson.dumps(subscription.doc).decode()
        status = orjson.dumps(subscription.status).decode()
        key = (subscription.tenant, subscription.id)
        with self._conn() as conn, conn.transaction():
            self._ensure_tenant(conn, subscription.tenant)
            if create:
                inserted = conn.execute(
                    "INSERT INTO subscriptions(tenant, id, doc, status) "
                    "VALUES (%s, %s, %s::jsonb, %s::jsonb) ON CONFLICT DO NOTHING RETURNING 1",
                    (*key, doc, status),
                ).fetchone()
                if inserted is None:
                    raise AlreadyExists(f"subscription {subscription.id} already exists")
            else:
                conn.execute(
                    "UPDATE subscriptions SET doc = %s::jsonb, status = %s::jsonb "
                    "WHERE tenant = %s AND id = %s",
                    (doc, status, *key),
                )
            conn.execute(_BUMP_SUBSCRIPTIONS)
        self._tenants.add(subscription.tenant)

    def get_subscription(self, tenant: str, sub_id: str) -> Subscription | None:
        with self._conn() as conn:
            row = conn.execute(
                "SELECT tenant, id, doc, status FROM subscriptions WHERE tenant = %s AND id = %s",
                (tenant, sub_id),
                prepare=True,
            ).fetchone()
        return None if row is None else Subscription(*row)

    def list_subscriptions(self, tenant: str | None) -> list[Subscription]:
        with self._conn() as conn:
            if tenant is None:
                rows = conn.execute(
                    "SELECT tenant, id, doc, status FROM subscriptions ORDER BY tenant, id"
                ).fetchall()
            else:
                rows = conn.execute(
                    "SELECT tenant, id, doc, status FROM subscriptions WHERE tenant = %s "
                    "ORDER BY id",
                    (tenant,),
                ).fetchall()
        return [Subscription(*row) for row in rows]

    def delete_subscription(self, tenant: str, sub_id: str) -> bool:
        with self._conn() as conn, conn.transaction():
            gone = conn.execute(
                "DELETE FROM subscriptions WHERE tenant = %s AND id = %s", (tenant, sub_id)
            ).rowcount
            conn.execute(_BUMP_SUBSCRIPTIONS)
        return gone > 0

    def subscriptions_version(self) -> int:
        with self._conn() as conn:
            row = conn.execute(
                "SELECT value FROM counters WHERE name = 'subscriptions'", prepare=True
            ).fetchone()
        return int(row[0]) if row else 0

    def update_subscription_status(
        self, tenant: str, sub_id: str, status: Mapping[str, Any]
    ) -> None:
        # jsonb || jsonb replaces top-level members: the same shallow merge as {**old, **new}.
        with self._conn() as conn:
            conn.execute(
                "UPDATE subscriptions SET status = status || %s::jsonb "
                "WHERE tenant = %s AND id = %s",
                (orjson.dumps(dict(status)).decode(), tenant, sub_id),
                prepare=True,
            )


# ---------------------------------------------------------------------------------------------
# Connections and schema


def _configure(conn: psycopg.Connection[Any]) -> None:
    set_json_loads(orjson.loads, conn)
    # Queries here take milliseconds; JIT compilation, which the planner turns on for large
    # estimated costs, alone took 440 ms on a lastN query over a million history rows.
    conn.execute("SET jit = off")
    # Likewise parallel workers: starting them costs more than the short queries they split.
    conn.execute("SET max_parallel_workers_per_gather = 0")


def _describe(url: str) -> str:
    """host:port/dbname of a URL, without the password, for messages."""
    try:
        info = conninfo_to_dict(url)
    except psycopg.ProgrammingError as error:
        raise ConfigError(f"invalid PostgreSQL URL: {_first_line(error)}") from None
    host = info.get("host") or "localhost"
    port = info.get("port") or "5432"
    return f"{host}:{port}/{info.get('dbname') or info.get('user') or ''}"


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def _install_schema(conn: psycopg.Connection[Any], where: str) -> None:
    with conn.transaction():
        # Several API processes may start at once: one creates the schema, the others wait.
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (_SCHEMA_LOCK,))
        installed = conn.execute("SELECT 1 FROM pg_extension WHERE extname = 'postgis'").fetchone()
        if installed is None:
            available = conn.execute(
                "SELECT 1 FROM pg_available_extensions WHERE name = 'postgis'"
            ).fetchone()
            if available is None:
                raise ConfigError(
                    f"PostGIS is not installed on the PostgreSQL server at {where}: install it "
                    "there (Debian/Ubuntu: apt-get install postgresql-15-postgis-3)"
                )
            try:
                with conn.transaction():
                    conn.execute("CREATE EXTENSION IF NOT EXISTS postgis")
            except psycopg.Error as error:
                raise ConfigError(
                    f"cannot enable PostGIS in the database at {where} ({_first_line(error)}): "
                    "run CREATE EXTENSION postgis in that database as a superuser"
                ) from None
        conn.execute(SCHEMA)


# ---------------------------------------------------------------------------------------------
# Writes


def _lock_entities(
    conn: psycopg.Connection[Any], tenant: str, ids: list[str]
) -> tuple[dict[str, Entity], list[str]]:
    """Lock every entity named, existing or not; return those that exist and the new ids locked
    (in ``entity_locks``, to be released before commit)."""
    found: dict[str, Entity] = dict(conn.execute(_SELECT_FOR_UPDATE, (tenant, ids), prepare=True))
    missing = [i for i in ids if i not in found]  # in id order, as ids are
    if not missing:
        return found, []
    # Waits while another transaction creates one of them; once it committed, the entity is
    # visible to the next statement (READ COMMITTED), which locks it.
    conn.execute(
        "INSERT INTO entity_locks(tenant, id) SELECT %s, unnest(%b::text[])",
        (tenant, missing),
        prepare=True,
    )
    found.update(conn.execute(_SELECT_FOR_UPDATE, (tenant, missing), prepare=True))
    return found, missing


def _history_keys(
    conn: psycopg.Connection[Any], tenant: str, types_by_id: Mapping[str, list[str]]
) -> dict[str, int]:
    """The history key of each entity, registering the new ones (and their types)."""
    keys = _find_history_keys(conn, tenant, list(types_by_id))
    missing = sorted(i for i in types_by_id if i not in keys)
    if missing:
        conn.execute(
            "INSERT INTO history_entities(tenant, id, types) "
            "SELECT %s, m.id, m.types::jsonb FROM unnest(%b::text[], %b::text[]) AS m(id, types) "
            "ON CONFLICT DO NOTHING",
            (tenant, missing, [orjson.dumps(types_by_id[i]).decode() for i in missing]),
            prepare=True,
        )
        keys.update(_find_history_keys(conn, tenant, missing))
    return keys


def _find_history_keys(
    conn: psycopg.Connection[Any], tenant: str, ids: list[str]
) -> dict[str, int]:
    if not ids:
        return {}
    rows = conn.execute(
        f"SELECT id, hkey FROM history_entities WHERE tenant = %s AND {_IN_IDS}",
        (tenant, ids),
        prepare=True,
    )
    return dict(rows.fetchall())


def _history_rows(
    written: list[tuple[str, list[str], Mapping[str, list[Instance]]]],
) -> list[tuple[str, str, bytes]]:
    """(entity id, attribute, the rest of its COPY line) for every instance written."""
    rows: list[tuple[str, str, bytes]] = []
    for entity_id, _, instances_by_attr in written:
        for attr, instances in instances_by_attr.items():
            for instance in instances:
                observed = time_us(instance_time(instance))
                modified = observed
                if "modifiedAt" in instance:
                    modified = time_us(instance["modifiedAt"])
                # COPY text format: orjson writes no tab or newline; backslashes are doubled.
                text = orjson.dumps(instance).replace(b"\\", b"\\\\")
                rows.append((entity_id, attr, b"%d\t%d\t%s\n" % (observed, modified, text)))
    return rows


def _copy_history(conn: psycopg.Connection[Any], lines: list[bytes]) -> None:
    with (
        conn.cursor() as cur,
        cur.copy("COPY history(hkey, akey, observed_us, modified_us, instance) FROM STDIN") as copy,
    ):
        copy.write(b"".join(lines))


def _set_history_types(
    conn: psycopg.Connection[Any], tenant: str, types_by_id: Mapping[str, list[str]]
) -> None:
    ids = sorted(types_by_id)
    conn.execute(
        "UPDATE history_entities h SET types = u.types::jsonb "
        "FROM unnest(%b::text[], %b::text[]) AS u(id, types) "
        "WHERE h.tenant = %s AND h.id = u.id",
        (ids, [orjson.dumps(types_by_id[i]).decode() for i in ids], tenant),
    )


def _geometry_changed(before: Entity | None, after: Entity) -> bool:
    new = list(geo_values(after))
    if before is None:
        return bool(new)
    return list(geo_values(before)) != new


def _ewkb_hex(geometry: dict[str, Any]) -> str:
    """A stored GeoJSON geometry as hex EWKB (SRID 4326, 2D), the text form PostGIS reads."""
    point = point_position(geometry)
    if point is not None:
        return (_POINT_EWKB + struct.pack("<dd", *point)).hex()
    geometry_bounds(geometry)  # validates: BadRequestData, as the SQLite store raises
    shape = shapely.force_2d(shapely.geometry.shape(geometry))
    return str(shapely.to_wkb(shapely.set_srid(shape, 4326), hex=True, include_srid=True))


def _time_clauses(column: str, query: HistoryQuery) -> tuple[str, list[Any]]:
    if query.timerel == "before" and query.time_at_us is not None:
        return f" AND {column} < %s", [query.time_at_us]
    if query.timerel == "after" and query.time_at_us is not None:
        return f" AND {column} >= %s", [query.time_at_us]
    if query.timerel == "between" and query.time_at_us is not None:
        return f" AND {column} >= %s AND {column} < %s", [
            query.time_at_us,
            query.end_time_at_us,
        ]
    return "", []


# ---------------------------------------------------------------------------------------------
# Queries


def _filter(rows: Iterable[tuple[Any, ...]], query: EntityQuery) -> tuple[list[Entity], int | None]:
    """The exact semantics over the candidates, paged, as the SQLite store does it."""
    results: list[Entity] = []
    total = 0
    for (entity,) in rows:
        if not matches(entity, query):
            continue
        if query.offset <= total < query.offset + query.limit:
            results.append(entity)
        total += 1
        if not query.count and total >= query.offset + query.limit:
            break
    return results, (total if query.count else None)


def _geo_candidates(
    conn: psycopg.Connection[Any],
    tenant: str,
    query: EntityQuery,
    geo_sql: str,
    geo_params: list[Any],
) -> Iterator[tuple[Entity]]:
    """Geo-query candidates in id order: ids from the GiST index, then documents a page at a
    time. Driving from the geometry index whatever the planner's statistics say (right after a
    bulk load they are stale, and it sorted every entity of the type: measured 100 ms)."""
    ids = [
        entity_id
        for (entity_id,) in conn.execute(
            f"SELECT DISTINCT g.id FROM geo g WHERE g.tenant = %s AND g.attr = %s AND {geo_sql} "
            "ORDER BY g.id",
            [tenant, query.geoproperty, *geo_params],
        )
    ]
    for start in range(0, len(ids), _GEO_PAGE):
        chunk = ids[start : start + _GEO_PAGE]
        docs = dict(
            conn.execute(
                "SELECT id, doc FROM entities WHERE tenant = %s AND id = ANY(%b::text[])",
                [tenant, chunk],
            ).fetchall()
        )
        for entity_id in chunk:
            doc = docs.get(entity_id)
            if doc is not None:
                yield (doc,)


def _exact_page(
    conn: psycopg.Connection[Any], where: str, params: list[Any], query: EntityQuery
) -> tuple[list[Entity], int | None]:
    """When the indexes answer exactly: count and page in SQL, from one snapshot."""
    page = f"SELECT e.doc FROM entities e WHERE {where} ORDER BY e.id OFFSET %s LIMIT %s"
    page_params = [*params, query.offset, query.limit]
    if not query.count:
        return [doc for (doc,) in conn.execute(page, page_params)], None
    with conn.transaction():
        conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
        row = conn.execute(f"SELECT count(*) FROM entities e WHERE {where}", params).fetchone()
        docs = [doc for (doc,) in conn.execute(page, page_params)]
    return docs, int(row[0]) if row else 0


def _sql_is_exact(query: EntityQuery) -> bool:
    """Whether the candidate statement selects exactly the matches (no Python test needed)."""
    return (
        query.q is None
        and query.geo is None
        and query.id_pattern is None
        and not query.scopes
        and all(len(group) == 1 for group in query.types)
    )


def _candidate_where(tenant: str, query: EntityQuery) -> tuple[str, list[Any]]:
    """A condition on ``entities e`` that holds for a superset of the matches, using indexes."""
    clauses = ["e.tenant = %s"]
    params: list[Any] = [tenant]
    if query.ids:
        clauses.append("e.id = ANY(%b::text[])")
        params.append(list(query.ids))
    if query.types and query.geo is not None:
        # The geometry index is the selective one: check the type per candidate, or the planner
        # may hash every entity of the type first (measured 100 ms for a 500 m near query).
        clauses.append(
            "EXISTS (SELECT 1 FROM entity_types t WHERE t.tenant = e.tenant AND t.id = e.id "
            "AND t.type = ANY(%b::text[]))"
        )
        params.append(list(query.type_candidates))
    elif query.types:
        clauses.append(
            "e.id IN (SELECT t.id FROM entity_types t WHERE t.tenant = %s "
            "AND t.type = ANY(%b::text[]))"
        )
        params += [tenant, list(query.type_candidates)]
    if query.id_pattern is not None:
        prefix = literal_prefix(query.id_pattern.pattern)
        if prefix:
            clauses.append("e.id >= %s AND e.id < %s")
            params += [prefix, prefix + "\U0010ffff"]
    if query.attrs is not None:
        clauses.append("e.summary ?| %b::text[]")
        params.append(sorted(query.attrs))
    if query.geo is not None:
        geo_sql, geo_params = _geo_condition(query.geo)
        if geo_sql:
            clauses.append(
                "e.id IN (SELECT g.id FROM geo g WHERE g.tenant = %s AND g.attr = %s AND "
                f"{geo_sql})"
            )
            params += [tenant, query.geoproperty, *geo_params]
    return " AND ".join(clauses), params


def _geo_condition(gq: GeoQuery) -> tuple[str, list[Any]]:
    """A PostGIS condition on ``g.geom`` every geometry the exact test accepts satisfies."""
    if gq.relation == "near":
        lon, lat = float(gq.coordinates[0]), float(gq.coordinates[1])
        point = "ST_SetSRID(ST_MakePoint(%s, %s), 4326)::geography"
        # Points: great-circle distance on the sphere (metres), as haversine measures it.
        # Lines and areas are measured in a local frame in Python: the bounding box only.
        if gq.max_distance is not None:
            box = geo_bbox(gq)
            assert box is not None
            distance = gq.max_distance * (1 + _NEAR_SLACK) + _NEAR_SLACK_M
            return (
                "g.geom && ST_MakeEnvelope(%s, %s, %s, %s, 4326) AND "
                "(ST_GeometryType(g.geom) <> 'ST_Point' OR "
                f"ST_DWithin(g.geom::geography, {point}, %s, false))",
                [*box, lon, lat, distance],
            )
        if gq.min_distance is not None:
            distance = gq.min_distance * (1 - _NEAR_SLACK) - _NEAR_SLACK_M
            if distance > 0:
                return (
                    "(ST_GeometryType(g.geom) <> 'ST_Point' OR "
                    f"NOT ST_DWithin(g.geom::geography, {point}, %s, false))",
                    [lon, lat, distance],
                )
        return "", []
    if gq.relation == "disjoint":
        # Keep what does not certainly intersect: the query shape shrunk a little.
        inner = shapely.buffer(gq.shape, -_SHAPE_SLACK_DEG)
        if shapely.is_empty(inner):
            return "TRUE", []
        return "NOT ST_Intersects(g.geom, ST_GeomFromWKB(%s, 4326))", [shapely.to_wkb(inner)]
    # within, contains, intersects, overlaps, equals: all need the shapes to meet. The query
    # shape grown a little, so that PostGIS and GEOS arithmetic never disagree at the edge.
    outer = shapely.buffer(gq.shape, _SHAPE_SLACK_DEG)
    return "ST_Intersects(g.geom, ST_GeomFromWKB(%s, 4326))", [shapely.to_wkb(outer)]
