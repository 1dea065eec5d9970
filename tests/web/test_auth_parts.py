"""The pure parts of accounts: roles, password hashing, tokens, the login throttle, the policy."""

from __future__ import annotations

import pytest
from argon2 import PasswordHasher
from argon2.exceptions import VerifyMismatchError
from hypothesis import given
from hypothesis import strategies as st

from cetate.errors import BadRequestData
from cetate.web.auth import passwords, policy, tokens
from cetate.web.auth.roles import (
    Role,
    forbidden_change,
    parse_grants,
    role_on,
    sees,
)
from cetate.web.auth.throttle import FREE, MAX_WAIT_S, LoginThrottle

VIEWER, OPERATOR, ADMIN = Role.VIEWER, Role.OPERATOR, Role.ADMIN

# -- roles ---------------------------------------------------------------------------------------


def test_role_on_a_tenant_is_the_higher_of_its_grant_and_the_grant_on_every_tenant() -> None:
    grants = {"": OPERATOR, "north": ADMIN, "*": VIEWER}
    assert role_on(grants, "") == OPERATOR
    assert role_on(grants, "north") == ADMIN
    assert role_on(grants, "south") == VIEWER  # from "*"
    assert role_on({"north": ADMIN}, "south") is None
    assert role_on({"*": ADMIN, "north": VIEWER}, "north") == ADMIN
    assert VIEWER < OPERATOR < ADMIN


def test_grants_are_checked() -> None:
    assert parse_grants({"": "viewer", "*": "ADMIN", "a.b:c/d": "operator"}) == {
        "": VIEWER,
        "*": ADMIN,
        "a.b:c/d": OPERATOR,
    }
    with pytest.raises(BadRequestData, match="not one of"):
        parse_grants({"": "superuser"})
    with pytest.raises(BadRequestData, match="not valid"):
        parse_grants({"#accounts": "viewer"})  # the accounts' own tenant cannot be granted
    with pytest.raises(BadRequestData, match="not valid"):
        parse_grants({"two words": "viewer"})
    with pytest.raises(BadRequestData, match="object"):
        parse_grants(["viewer"])


def test_an_admin_manages_the_roles_of_the_tenants_it_administers_only() -> None:
    tenant_admin = {"north": ADMIN, "": VIEWER}
    assert forbidden_change(tenant_admin, {}, {"north": OPERATOR}) is None
    assert forbidden_change(tenant_admin, {"north": VIEWER}, {"north": ADMIN}) is None
    assert forbidden_change(tenant_admin, {}, {"": VIEWER}) == ""
    assert forbidden_change(tenant_admin, {}, {"*": VIEWER}) == "*"
    # an account that also holds a role elsewhere cannot be deleted by a tenant's admin
    assert forbidden_change(tenant_admin, {"north": VIEWER, "south": VIEWER}, {}) == "south"
    # ...but a change on its own tenant only is fine
    both = {"north": VIEWER, "south": VIEWER}
    assert forbidden_change(tenant_admin, both, {**both, "north": OPERATOR}) is None
    # an account with no role anywhere belongs to the admins of every tenant
    assert forbidden_change(tenant_admin, {}, {}) == "*"
    global_admin = {"*": ADMIN}
    assert forbidden_change(global_admin, {"": ADMIN, "*": VIEWER}, {}) is None
    assert forbidden_change(global_admin, {}, {}) is None


def test_who_sees_which_account() -> None:
    assert sees({"*": ADMIN}, {})
    assert sees({"north": ADMIN}, {"north": VIEWER, "south": ADMIN})
    assert not sees({"north": ADMIN}, {"south": VIEWER})
    assert not sees({"north": OPERATOR}, {"north": VIEWER})


# -- passwords -----------------------------------------------------------------------------------


def test_passwords_are_argon2id_hashes_with_the_default_parameters() -> None:
    stored = passwords.hash_password("correct horse")
    assert stored.startswith("$argon2id$v=19$m=65536,t=3,p=4$")
    assert "correct horse" not in stored
    assert stored != passwords.hash_password("correct horse")  # salted
    assert passwords.verify_password(stored, "correct horse")
    assert not passwords.verify_password(stored, "correct horsE")
    assert not passwords.verify_password(stored, "")
    assert not passwords.verify_password("not a hash", "correct horse")
    assert not passwords.needs_rehash(stored)
    cheap = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1).hash("correct horse")
    assert passwords.needs_rehash(cheap)


def test_passwords_too_short_or_too_long_are_refused() -> None:
    with pytest.raises(BadRequestData, match="at least 8"):
        passwords.hash_password("short")
    with pytest.raises(BadRequestData, match="at most"):
        passwords.hash_password("x" * (passwords.MAX_LENGTH + 1))
    assert not passwords.verify_password(passwords.hash_password("x" * 8), "x" * 5000)


def test_an_unknown_user_costs_a_full_hash_check_all_the_same(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The answer for a user that does not exist takes as long as for a wrong password: an
    argon2 check runs against a stand-in hash, and is refused even if it matched."""
    checked: list[str] = []

    class Spy(PasswordHasher):
        def verify(self, hash: str | bytes, password: str | bytes) -> bool:
            checked.append(str(hash))
            return super().verify(hash, password)

    spy = Spy(time_cost=1, memory_cost=1024, parallelism=1)
    monkeypatch.setattr(passwords, "HASHER", spy)
    assert not passwords.verify_password(None, "anything at all")
    assert len(checked) == 1 and checked[0].startswith("$argon2id$")
    # even a check that matched does not let a missing user in
    monkeypatch.setattr(spy, "verify", lambda hash, password: True)
    assert not passwords.verify_password(None, "anything at all")
    with pytest.raises(VerifyMismatchError):
        PasswordHasher().verify(passwords.hash_password("the right one"), "the wrong one")


# -- tokens --------------------------------------------------------------------------------------


def test_api_keys_are_random_and_only_their_digest_is_kept() -> None:
    token, digest = tokens.new_api_key("gate.way-1")
    other, other_digest = tokens.new_api_key("gate.way-1")
    assert token != other and digest != other_digest
    assert token.startswith("ck_gate.way-1.")
    name, secret = tokens.parse_api_key(token) or ("", "")
    assert name == "gate.way-1" and len(secret) >= 43  # 32 bytes, URL-safe base64
    assert tokens.digest(secret) == digest and secret not in digest
    assert tokens.parse_api_key("Bearer x") is None
    assert tokens.parse_api_key("ck_name.short") is None
    assert tokens.parse_api_key("ck_." + "a" * 43) is None


def test_session_cookies_are_signed() -> None:
    key = b"k" * 32
    session_id = tokens.new_session_id()
    cookie = tokens.sign(key, session_id)
    assert tokens.unsign(key, cookie) == session_id
    assert tokens.unsign(b"another key", cookie) is None
    forged = cookie[:-2] + ("AA" if not cookie.endswith("AA") else "BB")
    assert tokens.unsign(key, forged) is None
    assert tokens.unsign(key, session_id) is None  # no signature
    assert tokens.unsign(key, "") is None


@given(st.text(max_size=200))
def test_any_cookie_text_is_refused_without_error(text: str) -> None:
    assert tokens.unsign(b"k" * 32, text) is None


@given(st.text(max_size=200))
def test_any_key_text_is_parsed_or_refused_without_error(text: str) -> None:
    parsed = tokens.parse_api_key(text)
    assert parsed is None or text == f"ck_{parsed[0]}.{parsed[1]}"


# -- throttle ------------------------------------------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_failed_logins_wait_longer_and_longer() -> None:
    clock = Clock()
    throttle = LoginThrottle(clock)
    keys = ["user:ana", "address:10.0.0.1"]
    for _ in range(FREE - 1):
        throttle.failed(keys)
        assert throttle.wait_s(keys) == 0
    waits = []
    for _ in range(4):
        throttle.failed(keys)
        waits.append(throttle.wait_s(keys))
        clock.now += waits[-1]
        assert throttle.wait_s(keys) == 0
    assert waits == [1.0, 2.0, 4.0, 8.0]
    for _ in range(30):
        throttle.failed(keys)
    assert throttle.wait_s(keys) == MAX_WAIT_S
    # another user from another address is not slowed down
    assert throttle.wait_s(["user:bob", "address:10.0.0.2"]) == 0
    # the same address is, whatever the user name
    assert throttle.wait_s(["user:bob", "address:10.0.0.1"]) == MAX_WAIT_S


def test_a_success_clears_the_user_name_but_not_the_address() -> None:
    clock = Clock()
    throttle = LoginThrottle(clock)
    for _ in range(FREE):
        throttle.failed(["user:ana", "address:10.0.0.1"])
    throttle.succeeded("user:ana")
    assert throttle.wait_s(["user:ana"]) == 0
    assert throttle.wait_s(["address:10.0.0.1"]) > 0
    clock.now += 10_000  # long after: the address starts afresh
    throttle.failed(["address:10.0.0.1"])
    assert throttle.wait_s(["address:10.0.0.1"]) == 0


def test_the_throttle_forgets_the_stalest_entries_past_its_bound(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from cetate.web.auth import throttle as module

    monkeypatch.setattr(module, "MAX_ENTRIES", 10)
    clock = Clock()
    throttle = LoginThrottle(clock)
    for n in range(25):
        clock.now += 1
        throttle.failed([f"address:{n}"])
    assert len(throttle._entries) <= 10
    assert "address:24" in throttle._entries and "address:0" not in throttle._entries


# -- policy --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "role", "default_tenant"),
    [
        ("GET", "/ngsi-ld/v1/entities", VIEWER, False),
        ("HEAD", "/ngsi-ld/v1/entities/urn:x", VIEWER, False),
        ("POST", "/ngsi-ld/v1/entities", OPERATOR, False),
        ("PATCH", "/ngsi-ld/v1/entities/urn:x/attrs", OPERATOR, False),
        ("PUT", "/ngsi-ld/v1/entities/urn:x", OPERATOR, False),
        ("DELETE", "/ngsi-ld/v1/entities/urn:x", OPERATOR, False),
        ("POST", "/ngsi-ld/v1/entityOperations/query", VIEWER, False),
        ("POST", "/ngsi-ld/v1/entityOperations/upsert", OPERATOR, False),
        ("POST", "/ngsi-ld/v1/subscriptions", OPERATOR, False),
        ("GET", "/city/route", VIEWER, True),
        ("POST", "/city/matrix", VIEWER, True),
        ("POST", "/city/closures", OPERATOR, True),
        ("DELETE", "/city/closures/urn:c", OPERATOR, True),
        ("POST", "/ingest/deadletters/replay", OPERATOR, True),
        ("DELETE", "/ingest/deadletters/urn:d", OPERATOR, True),
        ("GET", "/metrics", VIEWER, True),
        ("POST", "/logistics/plans", OPERATOR, False),
        ("GET", "/transit/feeds", VIEWER, False),
        ("GET", "/ui/layers", VIEWER, False),
        ("GET", "/ui/search", VIEWER, False),
        ("GET", "/alerts", VIEWER, False),
        ("POST", "/alerts/urn:a/acknowledge", OPERATOR, False),
        ("POST", "/a/route/added/later", OPERATOR, False),
        ("GET", "/health/", VIEWER, False),  # only the exact open paths are open
        ("GET", "/cityhall", VIEWER, False),  # /city's routes, not any path that starts so
    ],
)
def test_policy(method: str, path: str, role: Role, default_tenant: bool) -> None:
    assert policy.need(method, path) == policy.Need(role, default_tenant=default_tenant)


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/health"),
        ("GET", "/"),
        ("GET", "/static/ui/app.js"),
        ("GET", "/openapi.json"),
        ("POST", "/auth/login"),
        ("POST", "/auth/logout"),
        ("GET", "/ui/config"),
    ],
)
def test_open_paths(method: str, path: str) -> None:
    assert policy.need(method, path) == policy.OPEN


def test_account_routes_need_an_account() -> None:
    for method, path in [("GET", "/auth/me"), ("POST", "/auth/users"), ("GET", "/auth/keys")]:
        assert policy.need(method, path) == policy.SIGNED_IN
