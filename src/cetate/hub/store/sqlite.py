"""The embedded store: one SQLite file (WAL, R*Tree), no server needed.

Entities are one JSON document each; an ``entity_types`` table indexes their types and an R*Tree
the bounding boxes of their geometries; history is one row per attribute instance written.
Writes go through one lock (SQLite has one writer anyway); every thread reads through its own
connection, so readers never wait for writers (WAL). ``synchronous=NORMAL`` in WAL mode loses
nothing a committed transaction wrote when the process is killed; only a power cut may lose the
last transactions, which ``CETATE_SQLITE_SYNC=FULL`` prevents at the cost of an fsync per commit.
"""

from __future__ import annotations

import fcntl
import os
import sqlite3
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import orjson

from cetate.errors import AlreadyExists, ConfigError
from cetate.hub.changes import Change
from cetate.hub.model import (
    Entity,
    Instance,
    attribute_summary,
    geo_values,
    geometry_bounds,
    instance_time,
    time_us,
)
from cetate.hub.query import geo_bbox
from cetate.hub.store.base import (
    EntityQuery,
    HistoryQuery,
    Mutation,
    Subscription,
    TypeSummary,
    collapse,
    literal_prefix,
    matches,
)

SCHEMA = """
CREATE TABLE IF NOT EXISTS tenants(name TEXT PRIMARY KEY);
CREATE TABLE IF NOT EXISTS entities(
    rid INTEGER PRIMARY KEY,
    tenant TEXT NOT NULL,
    id TEXT NOT NULL,
    doc BLOB NOT NULL,
    summary BLOB NOT NULL,
    UNIQUE(tenant, id)
);
CREATE TABLE IF NOT EXISTS entity_types(
    tenant TEXT NOT NULL, type TEXT NOT NULL, id TEXT NOT NULL,
    PRIMARY KEY(tenant, type, id)
) WITHOUT ROWID;
CREATE VIRTUAL TABLE IF NOT EXISTS geo_rtree USING rtree(gid, minx, maxx, miny, maxy);
CREATE TABLE IF NOT EXISTS geo_entries(
    gid INTEGER PRIMARY KEY, tenant TEXT NOT NULL, id TEXT NOT NULL, attr TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS geo_entries_entity ON geo_entries(tenant, id);
-- History: one row per attribute instance written. Entities and attribute names are keyed by
-- small integers so the index stays compact (history grows to millions of rows).
CREATE TABLE IF NOT EXISTS history_entities(
    hkey INTEGER PRIMARY KEY, tenant TEXT NOT NULL, id TEXT NOT NULL, types BLOB NOT NULL,
    UNIQUE(tenant, id)
);
CREATE TABLE IF NOT EXISTS attr_names(akey INTEGER PRIMARY KEY, iri TEXT NOT NULL UNIQUE);
CREATE TABLE IF NOT EXISTS history(
    hid INTEGER PRIMARY KEY,
    hkey INTEGER NOT NULL,
    akey INTEGER NOT NULL,
    observed_us INTEGER NOT NULL,
    modified_us INTEGER NOT NULL,
    instance BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS history_lookup ON history(hkey, akey, observed_us);
CREATE TABLE IF NOT EXISTS counters(name TEXT PRIMARY KEY, value INTEGER NOT NULL);
INSERT OR IGNORE INTO counters(name, value) VALUES ('subscriptions', 0);
CREATE TABLE IF NOT EXISTS subscriptions(
    tenant TEXT NOT NULL, id TEXT NOT NULL, doc BLOB NOT NULL, status BLOB NOT NULL,
    PRIMARY KEY(tenant, id)
) WITHOUT ROWID;
"""

_TIME_COLUMNS = {
    "observedAt": "observed_us",
    "modifiedAt": "modified_us",
    "createdAt": "modified_us",
}
# Geometry candidates are fetched in one statement; past this many ids we page through them.
_CHUNK = 20_000
# Documents read at a time when paging through geo-query candidates.
_PAGE = 64


def path_from_url(url: str) -> Path:
    """``sqlite:///relative.db``, ``sqlite:////absolute.db`` or a plain path."""
    if url.startswith("sqlite:///"):
        return Path(url[len("sqlite:///") :])
    if url.startswith("sqlite://"):
        raise ConfigError(f"SQLite URL {url!r} must look like sqlite:///path/to/file.db")
    return Path(url)


class SqliteStore:
    """The embedded default store."""

    name = "sqlite"
    blocking = False

    def __init__(self, path: Path | str, synchronous: str = "NORMAL") -> None:
        self.path = str(path)
        if self.path != ":memory:":
            parent = Path(self.path).parent
            if not parent.exists():
                raise ConfigError(f"the folder of the database file does not exist: {parent}")
        if synchronous.upper() not in ("NORMAL", "FULL", "OFF"):
            raise ConfigError(f"SQLite synchronous must be NORMAL, FULL or OFF, not {synchronous}")
        self._synchronous = synchronous.upper()
        self._local = threading.local()
        self._write_lock = threading.Lock()
        self._connections: list[sqlite3.Connection] = []
        self._connections_lock = threading.Lock()
        self._akeys: dict[str, int] = {}  # attribute IRI -> key in history rows (committed)
        self._pending_akeys: dict[str, int] = {}
        # An in-memory database exists once per connection: share one.
        self._shared: sqlite3.Connection | None = None
        self._lock_file: int | None = None
        if self.path == ":memory:":
            self._shared = self._connect()
        else:
            # Writers of every process queue on this file's lock: the kernel wakes the next one
            # the moment it is free, where SQLite's own busy handler sleeps and retries (up to
            # 100 ms a time: measured p99 0.9 s for PATCH with two API processes).
            self._lock_file = os.open(self.path + ".writelock", os.O_RDWR | os.O_CREAT, 0o644)
        # Switching a new file to WAL fails at once with "database is locked" (no busy wait)
        # while another process does the same: processes started together on a new file
        # (``--workers``, ingest workers) take turns here.
        with self._exclusive():
            self._db().executescript(SCHEMA)  # it commits on its own: no BEGIN around it

    # -- connections ---------------------------------------------------------------------------

    def _connect(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, timeout=30.0)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute(f"PRAGMA synchronous={self._synchronous}")
        db.execute("PRAGMA foreign_keys=OFF")
        db.execute("PRAGMA cache_size=-65536")
        db.execute("PRAGMA temp_store=MEMORY")
        with self._connections_lock:
            self._connections.append(db)
        return db

    def _db(self) -> sqlite3.Connection:
        if self._shared is not None:
            return self._shared
        db: sqlite3.Connection | None = getattr(self._local, "db", None)
        if db is None:
            db = self._connect()
            self._local.db = db
        return db

    @contextmanager
    def _exclusive(self) -> Iterator[None]:
        """The writer's turn: over this process's threads, then over every process's."""
        with self._write_lock:
            if self._lock_file is not None:
                fcntl.flock(self._lock_file, fcntl.LOCK_EX)
            try:
                yield
            finally:
                if self._lock_file is not None:
                    fcntl.flock(self._lock_file, fcntl.LOCK_UN)

    @contextmanager
    def _writer(self) -> Iterator[sqlite3.Connection]:
        with self._exclusive():
            db = self._db()
            db.execute("BEGIN IMMEDIATE")
            self._pending_akeys = {}
            try:
                yield db
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")
            self._akeys.update(self._pending_akeys)

    @contextmanager
    def _reader(self) -> Iterator[sqlite3.Connection]:
        if self._shared is not None:
            with self._write_lock:  # one connection: readers and writers take turns
                yield self._shared
        else:
            yield self._db()

    def close(self) -> None:
        if self._lock_file is not None:
            os.close(self._lock_file)
            self._lock_file = None
        with self._connections_lock:
            for db in self._connections:
                db.close()
            self._connections.clear()
        self._local = threading.local()

    # -- entities ------------------------------------------------------------------------------

    def mutate(self, tenant: str, ids: Sequence[str], fn: Mutation) -> list[Change]:
        with self._writer() as db:
            existing = self._load(db, tenant, ids)
            changes = fn(existing)
            self._persist(db, tenant, changes)
        return changes

    def _load(self, db: sqlite3.Connection, tenant: str, ids: Sequence[str]) -> dict[str, Entity]:
        found: dict[str, Entity] = {}
        unique = list(dict.fromkeys(ids))
        for start in range(0, len(unique), _CHUNK):
            chunk = unique[start : start + _CHUNK]
            marks = ",".join("?" * len(chunk))
            rows = db.execute(
                f"SELECT doc FROM entities WHERE tenant = ? AND id IN ({marks})", [tenant, *chunk]
            )
            for (doc,) in rows:
                entity = orjson.loads(doc)
                found[entity["id"]] = entity
        return found

    def _persist(self, db: sqlite3.Connection, tenant: str, changes: list[Change]) -> None:
        if not changes:
            return
        changes = collapse(changes)
        db.execute("INSERT OR IGNORE INTO tenants(name) VALUES (?)", (tenant,))
        upserts: list[tuple[str, str, bytes, bytes]] = []
        deletes: list[tuple[str, str]] = []
        type_rows: list[tuple[str, str, str]] = []
        old_type_rows: list[tuple[str, str, str]] = []
        geo_refresh: list[Entity] = []
        geo_clear: list[str] = []
        written: list[tuple[str, list[str], Mapping[str, list[Instance]]]] = []
        retyped: list[tuple[str, list[str]]] = []
        for change in changes:
            before, after = change.before, change.after
            if after is None:
                deletes.append((tenant, change.entity_id))
                geo_clear.append(change.entity_id)
                if before is not None:
                    old_type_rows += [(tenant, t, change.entity_id) for t in before["type"]]
                continue
            upserts.append(
                (
                    tenant,
                    after["id"],
                    orjson.dumps(after),
                    orjson.dumps(attribute_summary(after)),
                )
            )
            if before is None or before["type"] != after["type"]:
                if before is not None:
                    old_type_rows += [(tenant, t, after["id"]) for t in before["type"]]
                    retyped.append((after["id"], after["type"]))
                type_rows += [(tenant, t, after["id"]) for t in after["type"]]
            if _geometry_changed(before, after):
                if before is not None:
                    geo_clear.append(after["id"])
                geo_refresh.append(after)
            if change.written:
                written.append((after["id"], after["type"], change.written))
        if old_type_rows:
            db.executemany(
                "DELETE FROM entity_types WHERE tenant = ? AND type = ? AND id = ?", old_type_rows
            )
        if deletes:
            db.executemany("DELETE FROM entities WHERE tenant = ? AND id = ?", deletes)
        if upserts:
            db.executemany(
                "INSERT INTO entities(tenant, id, doc, summary) VALUES (?, ?, ?, ?) "
                "ON CONFLICT(tenant, id) DO UPDATE SET doc = excluded.doc, "
                "summary = excluded.summary",
                upserts,
            )
        if type_rows:
            db.executemany(
                "INSERT OR IGNORE INTO entity_types(tenant, type, id) VALUES (?, ?, ?)", type_rows
            )
        if geo_clear:
            self._clear_geo(db, tenant, geo_clear)
        if geo_refresh:
            self._index_geo(db, tenant, geo_refresh)
        if written:
            self._write_history(db, tenant, written)
        if retyped:
            self._set_history_types(db, tenant, retyped)

    def _write_history(
        self,
        db: sqlite3.Connection,
        tenant: str,
        written: list[tuple[str, list[str], Mapping[str, list[Instance]]]],
    ) -> None:
        types_by_id = {entity_id: types for entity_id, types, _ in written}
        hkeys = self._history_keys(db, tenant, types_by_id)
        rows: list[tuple[int, int, int, int, bytes]] = []
        for entity_id, _, instances_by_attr in written:
            hkey = hkeys[entity_id]
            for attr, instances in instances_by_attr.items():
                akey = self._attr_key(db, attr)
                for instance in instances:
                    observed = time_us(instance_time(instance))
                    modified = observed
                    if "modifiedAt" in instance:
                        modified = time_us(instance["modifiedAt"])
                    rows.append((hkey, akey, observed, modified, orjson.dumps(instance)))
        db.executemany(
            "INSERT INTO history(hkey, akey, observed_us, modified_us, instance) "
            "VALUES (?, ?, ?, ?, ?)",
            rows,
        )

    def _history_keys(
        self, db: sqlite3.Connection, tenant: str, types_by_id: Mapping[str, list[str]]
    ) -> dict[str, int]:
        """The history key of each entity, registering the new ones (and their types)."""
        keys = self._find_history_keys(db, tenant, list(types_by_id))
        missing = [(tenant, i, orjson.dumps(types_by_id[i])) for i in types_by_id if i not in keys]
        if missing:
            db.executemany(
                "INSERT INTO history_entities(tenant, id, types) VALUES (?, ?, ?)", missing
            )
            keys.update(self._find_history_keys(db, tenant, [m[1] for m in missing]))
        return keys

    def _find_history_keys(
        self, db: sqlite3.Connection, tenant: str, ids: list[str]
    ) -> dict[str, int]:
        keys: dict[str, int] = {}
        for start in range(0, len(ids), _CHUNK):
            chunk = ids[start : start + _CHUNK]
            rows = db.execute(
                "SELECT id, hkey FROM history_entities WHERE tenant = ? "
                f"AND id IN ({','.join('?' * len(chunk))})",
                [tenant, *chunk],
            )
            keys.update(rows)
        return keys

    def _attr_key(self, db: sqlite3.Connection, iri: str) -> int:
        """The small integer that stands for an attribute name in history rows."""
        key = self._akeys.get(iri) or self._pending_akeys.get(iri)
        if key is None:
            db.execute("INSERT OR IGNORE INTO attr_names(iri) VALUES (?)", (iri,))
            key = int(db.execute("SELECT akey FROM attr_names WHERE iri = ?", (iri,)).fetchone()[0])
            # Cached only once committed: a rolled-back key could be reused for another name.
            self._pending_akeys[iri] = key
        return key

    def _clear_geo(self, db: sqlite3.Connection, tenant: str, ids: list[str]) -> None:
        gids = [
            (gid,)
            for entity_id in ids
            for (gid,) in db.execute(
                "SELECT gid FROM geo_entries WHERE tenant = ? AND id = ?", (tenant, entity_id)
            )
        ]
        db.executemany("DELETE FROM geo_rtree WHERE gid = ?", gids)
        db.executemany("DELETE FROM geo_entries WHERE gid = ?", gids)

    def _index_geo(self, db: sqlite3.Connection, tenant: str, entities: list[Entity]) -> None:
        entries: list[tuple[str, str, str]] = []
        boxes: list[tuple[float, float, float, float]] = []
        for entity in entities:
            for attr, geometry in geo_values(entity):
                entries.append((tenant, entity["id"], attr))
                boxes.append(geometry_bounds(geometry))
        if not entries:
            return
        start = db.execute("SELECT coalesce(max(gid), 0) FROM geo_entries").fetchone()[0] + 1
        db.executemany(
            "INSERT INTO geo_entries(gid, tenant, id, attr) VALUES (?, ?, ?, ?)",
            [(start + k, *entry) for k, entry in enumerate(entries)],
        )
        db.executemany(
            "INSERT INTO geo_rtree(gid, minx, maxx, miny, maxy) VALUES (?, ?, ?, ?, ?)",
            [(start + k, b[0], b[2], b[1], b[3]) for k, b in enumerate(boxes)],
        )

    def get(self, tenant: str, entity_id: str) -> Entity | None:
        with self._reader() as db:
            row = db.execute(
                "SELECT doc FROM entities WHERE tenant = ? AND id = ?", (tenant, entity_id)
            ).fetchone()
        return None if row is None else orjson.loads(row[0])

    def query(self, tenant: str, query: EntityQuery) -> tuple[list[Entity], int | None]:
        results: list[Entity] = []
        total = 0
        with self._reader() as db:
            for doc in self._candidates(db, tenant, query):
                entity = orjson.loads(doc)
                if not matches(entity, query):
                    continue
                if query.offset <= total < query.offset + query.limit:
                    results.append(entity)
                total += 1
                if not query.count and total >= query.offset + query.limit:
                    break
        return results, (total if query.count else None)

    def _candidates(
        self, db: sqlite3.Connection, tenant: str, query: EntityQuery
    ) -> Iterator[bytes]:
        """Candidate documents in id order, read lazily so a page stops early."""
        box = geo_bbox(query.geo) if query.geo is not None and not query.ids else None
        if box is None:
            sql, params = _candidate_sql(tenant, query, "SELECT e.doc")
            for (doc,) in db.execute(sql, params):
                yield doc
            return
        # Geo-driven: the R*Tree gives ids (sorted cheaply), documents are read page by page;
        # sorting whole documents would read every candidate before the first answer.
        ids = [
            entity_id
            for (entity_id,) in db.execute(
                "SELECT DISTINCT g.id FROM geo_rtree r CROSS JOIN geo_entries g ON g.gid = r.gid "
                "WHERE r.maxx >= ? AND r.minx <= ? AND r.maxy >= ? AND r.miny <= ? "
                "AND g.tenant = ? AND g.attr = ? ORDER BY g.id",
                (box[0], box[2], box[1], box[3], tenant, query.geoproperty),
            )
        ]
        for start in range(0, len(ids), _PAGE):
            chunk = ids[start : start + _PAGE]
            rows = dict(
                db.execute(
                    f"SELECT id, doc FROM entities WHERE tenant = ? AND id IN "
                    f"({','.join('?' * len(chunk))})",
                    [tenant, *chunk],
                ).fetchall()
            )
            for entity_id in chunk:
                doc = rows.get(entity_id)
                if doc is not None:
                    yield doc

    def types(self, tenant: str) -> list[TypeSummary]:
        summaries: dict[str, TypeSummary] = {}
        with self._reader() as db:
            rows = db.execute(
                "SELECT t.type, e.summary FROM entity_types t "
                "JOIN entities e ON e.tenant = t.tenant AND e.id = t.id WHERE t.tenant = ?",
                (tenant,),
            )
            for type_iri, summary in rows:
                entry = summaries.setdefault(type_iri, TypeSummary(type_iri, 0))
                entry.count += 1
                for attr, attr_types in orjson.loads(summary).items():
                    entry.attrs.setdefault(attr, set()).update(attr_types)
        return sorted(summaries.values(), key=lambda s: s.type)

    def tenant_exists(self, tenant: str) -> bool:
        if tenant == "":
            return True
        with self._reader() as db:
            row = db.execute("SELECT 1 FROM tenants WHERE name = ?", (tenant,)).fetchone()
        return row is not None

    def tenants(self) -> list[str]:
        with self._reader() as db:
            return [name for (name,) in db.execute("SELECT name FROM tenants ORDER BY name")]

    # -- history -------------------------------------------------------------------------------

    def history(self, tenant: str, query: HistoryQuery) -> dict[str, dict[str, list[Instance]]]:
        column = _TIME_COLUMNS.get(query.timeproperty, "observed_us")
        result: dict[str, dict[str, list[Instance]]] = {}
        with self._reader() as db:
            hkeys = self._find_history_keys(db, tenant, list(query.entity_ids))
            for entity_id in query.entity_ids:
                hkey = hkeys.get(entity_id)
                if hkey is None:
                    continue
                attrs = dict(
                    db.execute(
                        "SELECT n.iri, n.akey FROM attr_names n WHERE n.akey IN "
                        "(SELECT DISTINCT akey FROM history WHERE hkey = ?)",
                        (hkey,),
                    ).fetchall()
                )
                per_attr: dict[str, list[Instance]] = {}
                for attr in sorted(attrs):
                    if query.attrs is not None and attr not in query.attrs:
                        continue
                    rows = _history_select(db, hkey, attrs[attr], column, query)
                    if rows:
                        per_attr[attr] = rows
                result[entity_id] = per_attr
        return result

    def history_entities(
        self, tenant: str, query: EntityQuery
    ) -> tuple[list[tuple[str, list[str]]], int | None]:
        clauses = ["tenant = ?"]
        params: list[Any] = [tenant]
        if query.ids:
            clauses.append(f"id IN ({','.join('?' * len(query.ids))})")
            params += query.ids
        found: list[tuple[str, list[str]]] = []
        total = 0
        with self._reader() as db:
            rows = db.execute(
                f"SELECT id, types FROM history_entities WHERE {' AND '.join(clauses)} ORDER BY id",
                params,
            )
            for entity_id, types_blob in rows:
                types = orjson.loads(types_blob)
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
        with self._writer() as db:
            db.execute("INSERT OR IGNORE INTO tenants(name) VALUES (?)", (tenant,))
            self._write_history(db, tenant, [(entity_id, types, rows)])
            self._set_history_types(db, tenant, [(entity_id, types)])

    def _set_history_types(
        self, db: sqlite3.Connection, tenant: str, types_by_id: list[tuple[str, list[str]]]
    ) -> None:
        db.executemany(
            "UPDATE history_entities SET types = ? WHERE tenant = ? AND id = ?",
            [(orjson.dumps(types), tenant, entity_id) for entity_id, types in types_by_id],
        )

    def delete_history(self, tenant: str, entity_id: str, attr: str | None = None) -> bool:
        with self._writer() as db:
            hkey = self._find_history_keys(db, tenant, [entity_id]).get(entity_id)
            if hkey is None:
                return False
            if attr is None:
                db.execute("DELETE FROM history WHERE hkey = ?", (hkey,))
                db.execute("DELETE FROM history_entities WHERE hkey = ?", (hkey,))
                return True
            row = db.execute("SELECT akey FROM attr_names WHERE iri = ?", (attr,)).fetchone()
            if row is None:
                return False
            gone = db.execute(
                "DELETE FROM history WHERE hkey = ? AND akey = ?", (hkey, row[0])
            ).rowcount
            return gone > 0

    # -- subscriptions -------------------------------------------------------------------------

    def put_subscription(self, subscription: Subscription, create: bool) -> None:
        row = (
            subscription.tenant,
            subscription.id,
            orjson.dumps(subscription.doc),
            orjson.dumps(subscription.status),
        )
        with self._writer() as db:
            db.execute("INSERT OR IGNORE INTO tenants(name) VALUES (?)", (subscription.tenant,))
            if create:
                try:
                    db.execute("INSERT INTO subscriptions VALUES (?, ?, ?, ?)", row)
                except sqlite3.IntegrityError:
                    raise AlreadyExists(f"subscription {subscription.id} already exists") from None
            else:
                db.execute(
                    "UPDATE subscriptions SET doc = ?, status = ? WHERE tenant = ? AND id = ?",
                    (row[2], row[3], row[0], row[1]),
                )
            _bump_subscriptions(db)

    def get_subscription(self, tenant: str, sub_id: str) -> Subscription | None:
        with self._reader() as db:
            row = db.execute(
                "SELECT tenant, id, doc, status FROM subscriptions WHERE tenant = ? AND id = ?",
                (tenant, sub_id),
            ).fetchone()
        return None if row is None else _subscription(row)

    def list_subscriptions(self, tenant: str | None) -> list[Subscription]:
        with self._reader() as db:
            if tenant is None:
                rows = db.execute("SELECT tenant, id, doc, status FROM subscriptions").fetchall()
            else:
                rows = db.execute(
                    "SELECT tenant, id, doc, status FROM subscriptions WHERE tenant = ? "
                    "ORDER BY id",
                    (tenant,),
                ).fetchall()
        return [_subscription(row) for row in rows]

    def delete_subscription(self, tenant: str, sub_id: str) -> bool:
        with self._writer() as db:
            gone = db.execute(
                "DELETE FROM subscriptions WHERE tenant = ? AND id = ?", (tenant, sub_id)
            ).rowcount
            _bump_subscriptions(db)
        return gone > 0

    def subscriptions_version(self) -> int:
        with self._reader() as db:
            row = db.execute("SELECT value FROM counters WHERE name = 'subscriptions'").fetchone()
        return int(row[0]) if row else 0

    def update_subscription_status(
        self, tenant: str, sub_id: str, status: Mapping[str, Any]
    ) -> None:
        with self._writer() as db:
            row = db.execute(
                "SELECT status FROM subscriptions WHERE tenant = ? AND id = ?", (tenant, sub_id)
            ).fetchone()
            if row is None:
                return
            merged = {**orjson.loads(row[0]), **status}
            db.execute(
                "UPDATE subscriptions SET status = ? WHERE tenant = ? AND id = ?",
                (orjson.dumps(merged), tenant, sub_id),
            )


# ---------------------------------------------------------------------------------------------


def _bump_subscriptions(db: sqlite3.Connection) -> None:
    db.execute("UPDATE counters SET value = value + 1 WHERE name = 'subscriptions'")


def _subscription(row: tuple[str, str, bytes, bytes]) -> Subscription:
    return Subscription(row[0], row[1], orjson.loads(row[2]), orjson.loads(row[3]))


def _geometry_changed(before: Entity | None, after: Entity) -> bool:
    new = list(geo_values(after))
    if before is None:
        return bool(new)
    return list(geo_values(before)) != new


def _history_select(
    db: sqlite3.Connection, hkey: int, akey: int, column: str, query: HistoryQuery
) -> list[Instance]:
    clauses = ["hkey = ?", "akey = ?"]
    params: list[Any] = [hkey, akey]
    if query.timerel == "before" and query.time_at_us is not None:
        clauses.append(f"{column} < ?")
        params.append(query.time_at_us)
    elif query.timerel == "after" and query.time_at_us is not None:
        clauses.append(f"{column} >= ?")
        params.append(query.time_at_us)
    elif query.timerel == "between" and query.time_at_us is not None:
        clauses.append(f"{column} >= ? AND {column} < ?")
        params += [query.time_at_us, query.end_time_at_us]
    where = " AND ".join(clauses)
    if query.last_n:
        sql = (
            f"SELECT hid, instance FROM history WHERE {where} "
            f"ORDER BY {column} DESC, hid DESC LIMIT ?"
        )
        rows = db.execute(sql, [*params, query.last_n]).fetchall()
        rows.reverse()
    else:
        sql = f"SELECT hid, instance FROM history WHERE {where} ORDER BY {column}, hid"
        rows = db.execute(sql, params).fetchall()
    instances = []
    for hid, blob in rows:
        instance = orjson.loads(blob)
        instance["instanceId"] = f"urn:ngsi-ld:attribute:instance:{hid}"
        instances.append(instance)
    return instances


def _candidate_sql(tenant: str, query: EntityQuery, select: str) -> tuple[str, list[Any]]:
    """A statement that returns a superset of the matches, using the indexes, ordered by id.

    Ids drive the scan when given, else a single type's index slice; the other conditions are
    checked per candidate through their primary keys. (Geo-queries are driven by the R*Tree in
    ``SqliteStore._candidates``.)"""
    source = "entities e"
    order = "e.id"
    clauses = ["e.tenant = ?"]
    params_where: list[Any] = [tenant]
    if query.ids:
        pass  # the (tenant, id) index drives
    elif len(query.type_candidates) == 1:
        # One type: its slice of the (tenant, type, id) key is already in id order.
        source = "entity_types t CROSS JOIN entities e ON e.tenant = t.tenant AND e.id = t.id"
        clauses.append("t.tenant = ? AND t.type = ?")
        params_where += [tenant, query.type_candidates[0]]
        order = "t.id"  # the same value as e.id, but SQLite knows the index delivers it sorted
    if query.ids:
        clauses.append(f"e.id IN ({','.join('?' * len(query.ids))})")
        params_where += query.ids
    if query.types and order != "t.id":
        candidates = query.type_candidates
        clauses.append(
            "EXISTS (SELECT 1 FROM entity_types t WHERE t.tenant = e.tenant "
            f"AND t.type IN ({','.join('?' * len(candidates))}) AND t.id = e.id)"
        )
        params_where += candidates
    if query.id_pattern is not None:
        prefix = literal_prefix(query.id_pattern.pattern)
        if prefix:
            clauses.append("e.id >= ? AND e.id < ?")
            params_where += [prefix, prefix + "\U0010ffff"]
    sql = f"{select} FROM {source} WHERE {' AND '.join(clauses)} ORDER BY {order}"
    return sql, params_where
