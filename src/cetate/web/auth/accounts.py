"""The accounts, kept in the hub: users, API keys, sessions, and the key that signs cookies.

They are entities of the tenant ``#accounts``, which the API can never address: ``#`` is not in
the tenant names it accepts (``NGSILD-Tenant``), and the auth middleware turns away any request
naming it, whichever router would read it. So they are stored like everything else (SQLite and
PostgreSQL alike, shared by every API process) and no NGSI-LD query can reach them.

They are written through ``Store.mutate`` directly, not through the hub's operations: a write
of theirs records no history (an old password hash or session must not linger in the temporal
store) and is not published to the hub's listeners (subscriptions, the live map).

| type              | id                            | attributes                              |
|-------------------|-------------------------------|-----------------------------------------|
| cetate:User       | urn:cetate:User:{name}        | roles, passwordHash (argon2id)          |
| cetate:ApiKey     | urn:cetate:ApiKey:{name}      | roles, keyDigest (SHA-256 of the secret)|
| cetate:Session    | urn:cetate:Session:{digest}   | user, started, lastSeen                 |
| cetate:AuthSecret | urn:cetate:AuthSecret:cookies | key (signs session cookies)             |
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from cetate.config import Settings
from cetate.errors import AlreadyExists, BadRequestData, ResourceNotFound
from cetate.hub.changes import Change
from cetate.hub.model import (
    Entity,
    RenderOptions,
    format_time,
    now_iso,
    parse_entity,
    parse_time,
    render_entity,
)
from cetate.hub.service import Hub
from cetate.hub.store.base import EntityQuery
from cetate.web.auth.passwords import hash_password, needs_rehash, verify_password
from cetate.web.auth.roles import ALL_TENANTS, Grants, Role, grants_view, parse_grants, role_on
from cetate.web.auth.tokens import (
    digest,
    new_api_key,
    new_session_id,
    parse_api_key,
    same,
    sign,
    unsign,
)

ACCOUNTS_TENANT = "#accounts"
USER_TYPE = "cetate:User"
KEY_TYPE = "cetate:ApiKey"
SESSION_TYPE = "cetate:Session"
SECRET_ID = "urn:cetate:AuthSecret:cookies"
# A session's lastSeen is written at most this often: an idle expiry of hours does not need a
# write per request.
TOUCH_S = 60.0
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}$")

Kind = Literal["user", "key"]
_TYPES: dict[Kind, str] = {"user": USER_TYPE, "key": KEY_TYPE}
_SECRETS: dict[Kind, str] = {"user": "passwordHash", "key": "keyDigest"}


@dataclass(frozen=True, slots=True)
class Account:
    """A user or an API key, as stored."""

    kind: Kind
    name: str
    grants: dict[str, Role]
    created: str
    secret: str  # the password hash or the key digest: never shown

    def view(self) -> dict[str, Any]:
        return {"name": self.name, "roles": grants_view(self.grants), "created": self.created}


@dataclass(frozen=True, slots=True)
class Principal:
    """Who a request acts for."""

    name: str
    kind: Kind
    grants: dict[str, Role]
    session: str | None = None  # the digest of the session, when signed in with a cookie

    def role_on(self, tenant: str) -> Role | None:
        return role_on(self.grants, tenant)


def check_name(name: str, what: str) -> str:
    if not _NAME.match(name):
        raise BadRequestData(
            f"{what} name {name!r} is not valid: letters, digits and _ . @ - "
            "(starting with a letter or digit), at most 64"
        )
    return name


def _property(value: Any) -> dict[str, Any]:
    return {"type": "Property", "value": value}


class Accounts:
    """The accounts of one hub. Calls are synchronous store calls (and argon2 work for
    passwords): async code runs them in a worker thread."""

    def __init__(
        self, hub: Hub, settings: Settings, clock: Callable[[], datetime] | None = None
    ) -> None:
        self.hub = hub
        self.idle = timedelta(seconds=settings.auth_session_idle_s)
        self.lifetime = timedelta(seconds=settings.auth_session_max_s)
        self._configured_key = settings.auth_secret
        self._cookie_key: bytes | None = None
        self._ctx = hub.contexts.core()
        self.clock = clock or (lambda: datetime.now(UTC))

    # -- users and keys ----------------------------------------------------------------------

    def add_user(self, name: str, password: str, grants: Grants) -> Account:
        check_name(name, "user")
        return self._add("user", name, grants, hash_password(password))

    def create_key(self, name: str, grants: Grants) -> tuple[Account, str]:
        """A new API key: the account and its token, which is shown this once only."""
        check_name(name, "key")
        token, key_digest = new_api_key(name)
        return self._add("key", name, grants, key_digest), token

    def account(self, kind: Kind, name: str) -> Account | None:
        if not _NAME.match(name):
            return None
        entity = self.hub.store.get(ACCOUNTS_TENANT, self._id(kind, name))
        return None if entity is None else self._account(kind, entity)

    def accounts(self, kind: Kind) -> list[Account]:
        found = self._all(_TYPES[kind])
        return sorted((self._account(kind, e) for e in found), key=lambda a: a.name)

    def set_grants(self, kind: Kind, name: str, grants: Grants) -> Account:
        def build(before: Account) -> dict[str, Any]:
            return self._document(kind, name, grants, before.secret)

        return self._change(kind, name, build)

    def set_password(self, name: str, password: str) -> Account:
        password_hash = hash_password(password)

        def build(before: Account) -> dict[str, Any]:
            return self._document("user", name, before.grants, password_hash)

        return self._change("user", name, build)

    def delete(self, kind: Kind, name: str) -> None:
        """Delete a user (and end its sessions) or revoke a key."""
        entity_id = self._id(kind, name)

        def mutation(existing: Mapping[str, Entity]) -> list[Change]:
            before = existing.get(entity_id)
            if before is None:
                raise ResourceNotFound(f"there is no {kind} {name}")
            return [Change(entity_id, before, None)]

        self.hub.store.mutate(ACCOUNTS_TENANT, [entity_id], mutation)
        if kind == "user":
            self.end_sessions(name)

    def first_admin(self, name: str = "admin") -> str | None:
        """When no user is an admin on every tenant: create ``name`` as one, with a random
        password, and return the password (to be shown once). None when there is one already."""
        if any(u.grants.get(ALL_TENANTS) == Role.ADMIN for u in self.accounts("user")):
            return None
        password = secrets.token_urlsafe(12)
        self.add_user(name, password, {ALL_TENANTS: Role.ADMIN})
        return password

    # -- credentials -------------------------------------------------------------------------

    def check_login(self, name: str, password: str) -> Account | None:
        """The user when the password is right, else None (unknown user or wrong password:
        the same answer, in the same time)."""
        user = self.account("user", name)
        if not verify_password(user.secret if user else None, password):
            return None
        assert user is not None  # verify_password is False without a stored hash
        if needs_rehash(user.secret):
            user = self.set_password(name, password)
        return user

    def key_principal(self, token: str) -> Principal | None:
        """Who an API key acts for, or None when the key is unknown, revoked or wrong."""
        parsed = parse_api_key(token)
        if parsed is None:
            return None
        name, secret = parsed
        key = self.account("key", name)
        if key is None or not same(digest(secret), key.secret):
            return None
        return Principal(key.name, "key", key.grants)

    # -- sessions ----------------------------------------------------------------------------

    def start_session(self, user: str) -> str:
        """A new session for ``user``: the cookie value. Expired sessions are cleared out."""
        self.purge_sessions()
        session_id = new_session_id()
        now = format_time(self.clock())
        entity = self._session(digest(session_id), user, now, now)
        self._write(entity["id"], lambda before: entity)
        return sign(self.cookie_key(), session_id)

    def session_principal(self, cookie: str) -> Principal | None:
        """Who a session cookie signs in, or None when it is forged, expired or ended (or its
        user is gone). An expired session is deleted; a live one is kept alive."""
        session_id = unsign(self.cookie_key(), cookie)
        if session_id is None:
            return None
        session_digest = digest(session_id)
        entity_id = f"urn:cetate:Session:{session_digest}"
        entity = self.hub.store.get(ACCOUNTS_TENANT, entity_id)
        if entity is None:
            return None
        session = self._values(entity)
        now = self.clock()
        last_seen = parse_time(session["lastSeen"], "lastSeen")
        user = None if self._expired(session, now) else self.account("user", session["user"])
        if user is None:
            self._write(entity_id, lambda before: None)
            return None
        if (now - last_seen).total_seconds() >= TOUCH_S:
            self._touch(session_digest, now)
        return Principal(user.name, "user", user.grants, session_digest)

    def end_session(self, cookie: str) -> None:
        """End the session of a cookie (signed out); a cookie that is not one does nothing."""
        session_id = unsign(self.cookie_key(), cookie)
        if session_id is not None:
            self._write(f"urn:cetate:Session:{digest(session_id)}", lambda before: None)

    def end_sessions(self, user: str, keep: str | None = None) -> None:
        """End every session of ``user`` (but ``keep``, a session digest)."""
        kept = f"urn:cetate:Session:{keep}"
        for entity in self._all(SESSION_TYPE):
            if self._values(entity)["user"] == user and entity["id"] != kept:
                self._write(entity["id"], lambda before: None)

    def purge_sessions(self) -> None:
        now = self.clock()
        for entity in self._all(SESSION_TYPE):
            if self._expired(self._values(entity), now):
                self._write(entity["id"], lambda before: None)

    def cookie_key(self) -> bytes:
        """The key that signs session cookies: ``CETATE_AUTH_SECRET`` when set, else one made
        at random the first time and kept with the accounts, so every process shares it."""
        if self._configured_key:
            return self._configured_key.encode()
        if self._cookie_key is None:
            fresh = parse_entity(
                {
                    "id": SECRET_ID,
                    "type": "cetate:AuthSecret",
                    "key": _property(secrets.token_hex(32)),
                },
                self._ctx,
                now_iso(),
            )
            # The first process to get here makes the key; the others find it.
            kept = self._write(SECRET_ID, lambda before: before or fresh)
            assert kept is not None
            self._cookie_key = bytes.fromhex(self._values(kept)["key"])
        return self._cookie_key

    # -- storage -----------------------------------------------------------------------------

    def _expired(self, session: Mapping[str, Any], now: datetime) -> bool:
        started = parse_time(session["started"], "started")
        last_seen = parse_time(session["lastSeen"], "lastSeen")
        return now - last_seen > self.idle or now - started > self.lifetime

    def _session(self, session_digest: str, user: str, started: str, last_seen: str) -> Entity:
        document = {
            "id": f"urn:cetate:Session:{session_digest}",
            "type": SESSION_TYPE,
            "user": _property(user),
            "started": _property(started),
            "lastSeen": _property(last_seen),
        }
        return parse_entity(document, self._ctx, now_iso())

    def _touch(self, session_digest: str, now: datetime) -> None:
        def build(before: Entity | None) -> Entity | None:
            if before is None:  # ended meanwhile: stays ended
                return None
            values = self._values(before)
            return self._session(
                session_digest, values["user"], values["started"], format_time(now)
            )

        self._write(f"urn:cetate:Session:{session_digest}", build)

    def _id(self, kind: Kind, name: str) -> str:
        return f"urn:cetate:{_TYPES[kind].split(':', 1)[1]}:{name}"

    def _document(self, kind: Kind, name: str, grants: Grants, secret: str) -> dict[str, Any]:
        return {
            "id": self._id(kind, name),
            "type": _TYPES[kind],
            "roles": _property(grants_view(grants)),
            _SECRETS[kind]: _property(secret),
        }

    def _add(self, kind: Kind, name: str, grants: Grants, secret: str) -> Account:
        entity = parse_entity(self._document(kind, name, grants, secret), self._ctx, now_iso())

        def build(before: Entity | None) -> Entity:
            if before is not None:
                raise AlreadyExists(f"there is a {kind} {name} already")
            return entity

        self._write(entity["id"], build)
        return self._account(kind, entity)

    def _change(
        self, kind: Kind, name: str, document: Callable[[Account], dict[str, Any]]
    ) -> Account:
        """Rewrite an account from its current state, in one transaction."""

        def build(before: Entity | None) -> Entity:
            if before is None:
                raise ResourceNotFound(f"there is no {kind} {name}")
            return parse_entity(document(self._account(kind, before)), self._ctx, now_iso())

        after = self._write(self._id(kind, name), build)
        assert after is not None
        return self._account(kind, after)

    def _write(
        self, entity_id: str, build: Callable[[Entity | None], Entity | None]
    ) -> Entity | None:
        """Make one entity what ``build`` says from its current state (None: deleted), in one
        transaction, recording no history; the entity as it is afterwards."""
        result: list[Entity | None] = []

        def mutation(existing: Mapping[str, Entity]) -> list[Change]:
            result.clear()  # a store may run this again (PostgreSQL retries conflicts)
            before = existing.get(entity_id)
            after = build(before)
            if after is not None and before is not None and after is not before:
                after = dict(after, createdAt=before["createdAt"])
            result.append(after)
            if after is before:  # nothing to do (both None, or kept as it is)
                return []
            return [Change(entity_id, before, after)]

        self.hub.store.mutate(ACCOUNTS_TENANT, [entity_id], mutation)
        return result[0]

    def _all(self, type_name: str) -> list[Entity]:
        query = EntityQuery(types=(frozenset({self._ctx.expand(type_name)}),), limit=1_000_000)
        found, _ = self.hub.store.query(ACCOUNTS_TENANT, query)
        return found

    def _values(self, entity: Entity) -> dict[str, Any]:
        return render_entity(entity, self._ctx, RenderOptions(key_values=True))

    def _account(self, kind: Kind, entity: Entity) -> Account:
        values = self._values(entity)
        return Account(
            kind,
            str(entity["id"])[len(self._id(kind, "")) :],
            parse_grants(values.get("roles", {})),
            str(entity["createdAt"]),
            str(values[_SECRETS[kind]]),
        )
