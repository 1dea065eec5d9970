"""The accounts kept in the hub (every store): users, API keys, sessions and their expiry, and
that none of it shows anywhere else (history, listeners, other tenants)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from argon2 import PasswordHasher

from cetate.config import Settings
from cetate.errors import AlreadyExists, BadRequestData, ResourceNotFound
from cetate.hub.service import Hub
from cetate.hub.store.base import EntityQuery, HistoryQuery
from cetate.web.auth import passwords
from cetate.web.auth.accounts import ACCOUNTS_TENANT, Accounts
from cetate.web.auth.roles import Role

CHEAP = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)  # argon2id all the same


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture(autouse=True)
def cheap_hashes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(passwords, "HASHER", CHEAP)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def accounts(hub: Hub, clock: Clock) -> Accounts:
    return Accounts(hub, Settings(store="unused", auth=True), clock)


def test_users_are_added_found_and_checked(accounts: Accounts) -> None:
    added = accounts.add_user("ana", "pass-word-1", {"": Role.OPERATOR, "north": Role.VIEWER})
    assert added.view()["roles"] == {"": "operator", "north": "viewer"}
    found = accounts.account("user", "ana")
    assert found is not None and found.grants == {"": Role.OPERATOR, "north": Role.VIEWER}
    assert found.secret.startswith("$argon2id$") and "pass-word-1" not in found.secret
    assert accounts.check_login("ana", "pass-word-1") == found
    assert accounts.check_login("ana", "pass-word-2") is None
    assert accounts.check_login("nobody", "pass-word-1") is None
    assert accounts.check_login("not a name!", "pass-word-1") is None
    with pytest.raises(AlreadyExists):
        accounts.add_user("ana", "another-pass", {})
    with pytest.raises(BadRequestData, match="not valid"):
        accounts.add_user("ana:admin", "pass-word-1", {})
    assert [u.name for u in accounts.accounts("user")] == ["ana"]


def test_roles_and_passwords_change_and_users_go(accounts: Accounts) -> None:
    accounts.add_user("ana", "pass-word-1", {"": Role.VIEWER})
    created = accounts.account("user", "ana")
    changed = accounts.set_grants("user", "ana", {"*": Role.ADMIN})
    assert changed.grants == {"*": Role.ADMIN}
    assert created is not None and changed.created == created.created
    accounts.set_password("ana", "pass-word-2")
    assert accounts.check_login("ana", "pass-word-1") is None
    assert accounts.check_login("ana", "pass-word-2") is not None
    accounts.delete("user", "ana")
    assert accounts.account("user", "ana") is None
    with pytest.raises(ResourceNotFound):
        accounts.delete("user", "ana")
    with pytest.raises(ResourceNotFound):
        accounts.set_grants("user", "ana", {})


def test_a_hash_made_with_older_parameters_is_remade_at_login(
    accounts: Accounts, monkeypatch: pytest.MonkeyPatch
) -> None:
    accounts.add_user("ana", "pass-word-1", {})
    monkeypatch.setattr(passwords, "HASHER", PasswordHasher())  # today's parameters
    assert accounts.check_login("ana", "pass-word-1") is not None
    user = accounts.account("user", "ana")
    assert user is not None and user.secret.startswith("$argon2id$v=19$m=65536,t=3,p=4$")
    assert accounts.check_login("ana", "pass-word-1") is not None


def test_api_keys_are_checked_and_revoked(accounts: Accounts) -> None:
    key, token = accounts.create_key("gateway", {"": Role.OPERATOR})
    assert token not in str(key) and key.secret not in token
    principal = accounts.key_principal(token)
    assert principal is not None and principal.name == "gateway" and principal.kind == "key"
    assert principal.role_on("") == Role.OPERATOR
    assert accounts.key_principal(token[:-1] + ("A" if token[-1] != "A" else "B")) is None
    assert accounts.key_principal(token.replace("gateway", "other")) is None
    with pytest.raises(AlreadyExists):
        accounts.create_key("gateway", {})
    _, second = accounts.create_key("second", {"": Role.VIEWER})
    accounts.delete("key", "gateway")
    assert accounts.key_principal(token) is None
    assert accounts.key_principal(second) is not None
    # a user and a key may share a name: they are different accounts
    accounts.add_user("second", "pass-word-1", {})
    assert accounts.key_principal(second) is not None


def test_sessions_end_when_idle_too_long_or_too_old(accounts: Accounts, clock: Clock) -> None:
    accounts.add_user("ana", "pass-word-1", {"": Role.VIEWER})
    cookie = accounts.start_session("ana")
    principal = accounts.session_principal(cookie)
    assert principal is not None and principal.name == "ana" and principal.session
    # used every 11 hours, it lives on (idle limit: 12 hours)...
    for _ in range(15):  # 165 hours
        clock.now += timedelta(hours=11)
        assert accounts.session_principal(cookie) is not None
    # ...until 7 days (168 hours) after the login
    clock.now += timedelta(hours=11)
    assert accounts.session_principal(cookie) is None
    second = accounts.start_session("ana")
    clock.now += timedelta(hours=12, seconds=1)
    assert accounts.session_principal(second) is None
    # expired sessions are gone from the store, not only refused
    assert _count(accounts, "cetate:Session") == 0


def test_sessions_end_with_logout_and_with_their_user(accounts: Accounts) -> None:
    accounts.add_user("ana", "pass-word-1", {"": Role.VIEWER})
    accounts.add_user("bob", "pass-word-1", {"": Role.VIEWER})
    first, second, bobs = (accounts.start_session(n) for n in ("ana", "ana", "bob"))
    accounts.end_session(first)
    assert accounts.session_principal(first) is None
    assert accounts.session_principal(second) is not None
    # roles come from the user at each request: a change applies to open sessions at once
    accounts.set_grants("user", "ana", {"": Role.ADMIN})
    principal = accounts.session_principal(second)
    assert principal is not None and principal.role_on("") == Role.ADMIN
    accounts.delete("user", "ana")
    assert accounts.session_principal(second) is None
    assert accounts.session_principal(bobs) is not None
    accounts.end_session("not a cookie")  # nothing to end, no error


def test_a_forged_cookie_is_refused(accounts: Accounts) -> None:
    accounts.add_user("ana", "pass-word-1", {})
    cookie = accounts.start_session("ana")
    session_id = cookie.rsplit(".", 1)[0]
    assert accounts.session_principal(session_id + ".forged") is None
    assert accounts.session_principal(session_id) is None


def test_every_process_signs_with_the_same_key(hub: Hub, accounts: Accounts, clock: Clock) -> None:
    accounts.add_user("ana", "pass-word-1", {})
    cookie = accounts.start_session("ana")
    other_process = Accounts(hub, Settings(store="unused"), clock)
    assert other_process.cookie_key() == accounts.cookie_key()
    assert other_process.session_principal(cookie) is not None
    configured = Accounts(hub, Settings(store="unused", auth_secret="a configured key"), clock)
    assert configured.session_principal(cookie) is None  # another key: another signature


def test_the_first_admin_is_made_once(accounts: Accounts) -> None:
    password = accounts.first_admin()
    assert password is not None and len(password) >= 16
    admin = accounts.check_login("admin", password)
    assert admin is not None and admin.grants == {"*": Role.ADMIN}
    assert accounts.first_admin() is None


def test_accounts_leave_no_history_reach_no_listener_and_no_other_tenant(
    hub: Hub, accounts: Accounts
) -> None:
    published: list[str] = []

    class Listener:
        def publish(self, tenant: str, changes: object) -> None:
            published.append(tenant)

    hub.add_listener(Listener())
    accounts.add_user("ana", "pass-word-1", {"": Role.VIEWER})
    accounts.set_password("ana", "pass-word-2")
    accounts.create_key("gateway", {"": Role.VIEWER})
    cookie = accounts.start_session("ana")
    accounts.session_principal(cookie)
    assert published == []
    ids = ("urn:cetate:User:ana", "urn:cetate:ApiKey:gateway")
    assert hub.store.history(ACCOUNTS_TENANT, HistoryQuery(entity_ids=ids)) == {}
    for tenant in ("", "*", "accounts"):
        for type_name in ("cetate:User", "cetate:ApiKey", "cetate:Session"):
            query = EntityQuery(types=(frozenset({type_name}),), limit=100)
            assert hub.store.query(tenant, query)[0] == []
    assert _count(accounts, "cetate:User") == 1


def _count(accounts: Accounts, type_name: str) -> int:
    query = EntityQuery(types=(frozenset({type_name}),), limit=100)
    return len(accounts.hub.store.query(ACCOUNTS_TENANT, query)[0])
