"""Accounts over HTTP (every store): signing in and out, cookies, CSRF, API keys, the role
matrix on the API, account management, failed-login backoff, and auth off as before."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from argon2 import PasswordHasher
from fastapi.testclient import TestClient

from cetate.config import Settings
from cetate.hub.service import Hub
from cetate.web.app import create_app
from cetate.web.auth import passwords
from cetate.web.auth.accounts import Accounts
from cetate.web.auth.middleware import COOKIE, auth_state
from cetate.web.auth.roles import Role
from cetate.web.auth.throttle import FREE, LoginThrottle

CHEAP = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)  # argon2id all the same
CSRF = {"X-Requested-With": "fetch"}
PASSWORD = "pass-word-1"
ENTITIES = "/ngsi-ld/v1/entities"


def entity(n: int, kind: str = "Streetlight") -> dict[str, Any]:
    return {"id": f"urn:ngsi-ld:{kind}:{n}", "type": kind, "powerState": {"value": "on"}}


def settings(**changes: Any) -> Settings:
    return Settings(store="unused", allow_remote_contexts=False, **{"auth": True, **changes})


@pytest.fixture(autouse=True)
def cheap_hashes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(passwords, "HASHER", CHEAP)


@pytest.fixture
def keys(hub: Hub) -> dict[str, str]:
    """Users and API keys of every role: viewer, operator (default tenant, viewer on north),
    admin of north, admin of every tenant."""
    accounts = Accounts(hub, settings())
    roles: dict[str, dict[str, Role]] = {
        "vera": {"": Role.VIEWER},
        "otto": {"": Role.OPERATOR, "north": Role.VIEWER},
        "nina": {"north": Role.ADMIN},
        "ada": {"*": Role.ADMIN},
    }
    tokens = {}
    for name, grants in roles.items():
        accounts.add_user(name, PASSWORD, grants)
        tokens[name] = accounts.create_key(f"{name}-key", grants)[1]
    return tokens


@pytest.fixture
def client(hub: Hub, keys: dict[str, str]) -> Iterator[TestClient]:
    with TestClient(create_app(settings(), hub)) as test_client:
        yield test_client


def bearer(token: str, tenant: str | None = None) -> dict[str, str]:
    headers = {"Authorization": f"Bearer {token}"}
    if tenant is not None:
        headers["NGSILD-Tenant"] = tenant
    return headers


def login(client: TestClient, name: str, password: str = PASSWORD) -> httpx.Response:
    client.cookies.clear()
    return client.post("/auth/login", json={"username": name, "password": password})


def assert_problem(response: httpx.Response, status: int, detail: str = "") -> None:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["status"] == status and body["type"].startswith("https://uri.etsi.org/")
    assert detail in body["detail"]


# -- signing in ----------------------------------------------------------------------------------


def test_login_sets_a_strict_http_only_cookie_and_me_tells_who(client: TestClient) -> None:
    response = login(client, "otto")
    assert response.status_code == 200, response.text
    cookie = response.headers["set-cookie"]
    assert cookie.startswith(f"{COOKIE}=")
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/" in cookie
    assert "Secure" not in cookie  # plain http here; see the https test
    assert "Max-Age" not in cookie and "expires" not in cookie.lower()  # ends with the browser
    assert PASSWORD not in cookie
    assert response.json()["name"] == "otto"
    me = client.get("/auth/me").json()
    assert me == {
        "name": "otto",
        "kind": "user",
        "roles": {"": "operator", "north": "viewer"},
        "tenant": "",
        "role": "operator",
        "csrfHeader": "X-Requested-With",
    }
    assert client.get("/auth/me", headers={"NGSILD-Tenant": "north"}).json()["role"] == "viewer"
    assert client.get("/auth/me", params={"tenant": "south"}).json()["role"] is None


def test_login_by_form_and_over_https(hub: Hub, keys: dict[str, str]) -> None:
    app = create_app(settings(), hub)
    with TestClient(app, base_url="https://testserver") as client:
        response = client.post("/auth/login", data={"username": "vera", "password": PASSWORD})
        assert response.status_code == 200, response.text
        assert "Secure" in response.headers["set-cookie"]
        assert client.get("/auth/me").json()["name"] == "vera"


def test_wrong_passwords_and_unknown_users_get_the_same_answer(client: TestClient) -> None:
    wrong = login(client, "otto", "pass-word-2")
    unknown = login(client, "nobody", PASSWORD)
    assert_problem(wrong, 401, "wrong user name or password")
    assert wrong.json() == unknown.json()
    assert "set-cookie" not in wrong.headers
    assert_problem(client.post("/auth/login", json={"username": "otto"}), 400)
    assert_problem(client.post("/auth/login", content=b"username=otto"), 415)
    assert_problem(client.get("/auth/me"), 401)


def test_logout_ends_the_session_for_good(client: TestClient) -> None:
    login(client, "vera")
    cookie = client.cookies[COOKIE]
    assert client.get(ENTITIES, params={"type": "Streetlight"}).status_code == 200
    response = client.post("/auth/logout", headers=CSRF)
    assert response.status_code == 204
    assert f'{COOKIE}=""' in response.headers["set-cookie"]
    client.cookies.clear()
    client.cookies.set(COOKIE, cookie)  # the old cookie, replayed
    assert_problem(client.get(ENTITIES, params={"type": "Streetlight"}), 401, "session has ended")


def test_sessions_expire_when_idle(client: TestClient, hub: Hub) -> None:
    accounts = auth_state(client.app).accounts_of(hub)  # type: ignore[arg-type]
    now = datetime.now(UTC)
    accounts.clock = lambda: now
    login(client, "vera")
    assert client.get("/auth/me").status_code == 200
    now += timedelta(hours=11)
    assert client.get("/auth/me").status_code == 200
    now += timedelta(hours=12, seconds=1)
    response = client.get("/auth/me")
    assert_problem(response, 401, "session has ended")
    assert f'{COOKIE}=""' in response.headers["set-cookie"]  # the dead cookie is dropped


def test_a_forged_cookie_is_refused(client: TestClient) -> None:
    login(client, "ada")
    session_id = client.cookies[COOKIE].rsplit(".", 1)[0]
    client.cookies.clear()
    client.cookies.set(COOKIE, session_id + ".c2lnbmVkIGJ5IG1l")
    assert_problem(client.get("/auth/me"), 401)


def test_changing_ones_password_ends_the_other_sessions(client: TestClient, hub: Hub) -> None:
    login(client, "otto")
    other = client.cookies[COOKIE]
    login(client, "otto")
    body = {"current": "not it", "new": "pass-word-2"}
    assert_problem(client.post("/auth/password", json=body, headers=CSRF), 403)
    body["current"] = PASSWORD
    assert client.post("/auth/password", json=body, headers=CSRF).status_code == 204
    assert client.get("/auth/me").status_code == 200  # this session lives on
    assert_problem(login(client, "otto"), 401)
    assert login(client, "otto", "pass-word-2").status_code == 200
    client.cookies.clear()
    client.cookies.set(COOKIE, other)
    assert_problem(client.get("/auth/me"), 401)


# -- CSRF ----------------------------------------------------------------------------------------


def test_writes_with_the_cookie_need_the_csrf_header(client: TestClient) -> None:
    login(client, "otto")
    assert_problem(client.post(ENTITIES, json=entity(1)), 403, "X-Requested-With")
    assert client.get(f"{ENTITIES}/urn:ngsi-ld:Streetlight:1").status_code == 404  # not written
    assert client.post(ENTITIES, json=entity(1), headers=CSRF).status_code == 201
    query = {"type": "Query", "entities": [{"type": "Streetlight"}]}
    response = client.post("/ngsi-ld/v1/entityOperations/query", json=query)
    assert_problem(response, 403, "X-Requested-With")


def test_api_keys_need_no_csrf_header(client: TestClient, keys: dict[str, str]) -> None:
    response = client.post(ENTITIES, json=entity(1), headers=bearer(keys["otto"]))
    assert response.status_code == 201
    headers = {"X-API-Key": keys["otto"]}
    assert client.post(ENTITIES, json=entity(2), headers=headers).status_code == 201


# -- who may do what -----------------------------------------------------------------------------


def test_anonymous_requests_are_refused(client: TestClient) -> None:
    response = client.get(ENTITIES, params={"type": "Streetlight"})
    assert_problem(response, 401, "sign in")
    assert response.headers["www-authenticate"] == "Bearer"
    assert_problem(client.post(ENTITIES, json=entity(1)), 401)
    assert_problem(client.delete(f"{ENTITIES}/urn:ngsi-ld:Streetlight:1"), 401)
    assert_problem(client.get("/ui/layers"), 401)
    assert_problem(client.get("/ui/search", params={"q": "light"}), 401)
    assert_problem(client.post("/alerts/urn:ngsi-ld:Alert:1/resolve"), 401)
    assert_problem(client.get("/metrics"), 401)
    # The page needs to know, before anyone signs in, that it must ask them to.
    assert client.get("/ui/config").json()["auth"] is True
    assert client.get("/health").json()["status"] == "ok"
    assert client.get("/openapi.json").status_code == 200


def test_a_wrong_or_revoked_key_is_refused(client: TestClient, keys: dict[str, str]) -> None:
    token = keys["vera"]
    assert client.get(ENTITIES, params={"type": "X"}, headers=bearer(token)).status_code == 200
    assert_problem(client.get(ENTITIES, params={"type": "X"}, headers=bearer(token + "x")), 401)
    assert_problem(client.get(ENTITIES, params={"type": "X"}, headers=bearer("nonsense")), 401)
    admin = bearer(keys["ada"])
    assert client.delete("/auth/keys/vera-key", headers=admin).status_code == 204
    response = client.get(ENTITIES, params={"type": "X"}, headers=bearer(token))
    assert_problem(response, 401, "not valid")


def test_a_viewer_reads_but_cannot_write(client: TestClient, keys: dict[str, str]) -> None:
    client.post(ENTITIES, json=entity(1), headers=bearer(keys["otto"]))
    viewer = bearer(keys["vera"])
    one = f"{ENTITIES}/urn:ngsi-ld:Streetlight:1"
    assert client.get(ENTITIES, params={"type": "Streetlight"}, headers=viewer).json()
    assert client.get(one, headers=viewer).status_code == 200
    query = {"type": "Query", "entities": [{"type": "Streetlight"}]}
    response = client.post("/ngsi-ld/v1/entityOperations/query", json=query, headers=viewer)
    assert response.status_code == 200 and len(response.json()) == 1
    patch = {"powerState": {"value": "off"}}
    assert_problem(client.post(ENTITIES, json=entity(2), headers=viewer), 403, "operator")
    assert_problem(client.patch(f"{one}/attrs", json=patch, headers=viewer), 403)
    assert_problem(client.put(one, json=entity(1), headers=viewer), 403)
    assert_problem(client.delete(one, headers=viewer), 403)
    upsert = "/ngsi-ld/v1/entityOperations/upsert"
    assert_problem(client.post(upsert, json=[entity(3)], headers=viewer), 403)
    subscription = {"type": "Subscription", "entities": [{"type": "Streetlight"}]}
    assert_problem(client.post("/ngsi-ld/v1/subscriptions", json=subscription, headers=viewer), 403)
    assert client.get(one, headers=viewer).json()["powerState"]["value"] == "on"


def test_a_viewer_with_a_session_cannot_write_either(client: TestClient) -> None:
    login(client, "vera")
    assert_problem(client.post(ENTITIES, json=entity(1), headers=CSRF), 403, "operator")
    assert client.get(ENTITIES, params={"type": "Streetlight"}).status_code == 200


def test_an_operator_writes_on_its_tenant_only(client: TestClient, keys: dict[str, str]) -> None:
    operator = keys["otto"]
    assert client.post(ENTITIES, json=entity(1), headers=bearer(operator)).status_code == 201
    patch = {"powerState": {"value": "off"}}
    one = f"{ENTITIES}/urn:ngsi-ld:Streetlight:1"
    assert client.patch(f"{one}/attrs", json=patch, headers=bearer(operator)).status_code == 204
    # the admin of every tenant writes on north; the operator only reads there
    response = client.post(ENTITIES, json=entity(5), headers=bearer(keys["ada"], "north"))
    assert response.status_code == 201
    north_one = f"{ENTITIES}/urn:ngsi-ld:Streetlight:5"
    assert client.get(north_one, headers=bearer(operator, "north")).status_code == 200
    response = client.post(ENTITIES, json=entity(6), headers=bearer(operator, "north"))
    assert_problem(response, 403, "operator role on tenant north")
    response = client.delete(north_one, headers=bearer(operator, "north"))
    assert_problem(response, 403)
    response = client.post(ENTITIES, json=entity(7), headers=bearer(operator, "south"))
    assert_problem(response, 403, "tenant south")
    response = client.get(ENTITIES, params={"type": "X"}, headers=bearer(operator, "south"))
    assert_problem(response, 403, "viewer role on tenant south")
    # north's admin administers north, and nothing of the default tenant
    response = client.post(ENTITIES, json=entity(8), headers=bearer(keys["nina"], "north"))
    assert response.status_code == 201
    assert_problem(client.get(one, headers=bearer(keys["nina"])), 403)


def test_the_tenant_parameter_is_checked_too(client: TestClient, keys: dict[str, str]) -> None:
    viewer = bearer(keys["vera"])
    assert client.get("/ui/layers", headers=viewer).status_code == 200
    assert_problem(client.get("/ui/layers", params={"tenant": "north"}, headers=viewer), 403)
    response = client.get("/ui/layers", params={"tenant": "north"}, headers=bearer(keys["otto"]))
    assert response.status_code == 200


def test_routes_of_the_default_tenant_need_roles_there(
    client: TestClient, keys: dict[str, str]
) -> None:
    """/city and /ingest act on the default tenant whatever the request names: a role on
    another tenant does not open them."""
    north_admin = bearer(keys["nina"], "north")
    closure = {"geometry": {"type": "Point", "coordinates": [25.6, 45.6]}}
    assert_problem(
        client.post("/city/closures", json=closure, headers=north_admin), 403, "(default)"
    )
    assert_problem(client.delete("/ingest/deadletters/urn:x", headers=north_admin), 403)
    assert_problem(client.get("/ingest/status", headers=north_admin), 403)
    viewer = bearer(keys["vera"])
    assert_problem(client.post("/ingest/deadletters/replay", headers=viewer), 403)
    assert_problem(client.delete("/ingest/deadletters/urn:x", headers=viewer), 403)
    assert client.get("/ingest/status", headers=viewer).status_code == 200
    # an operator of the default tenant gets through to the route itself
    response = client.delete("/ingest/deadletters/urn:x", headers=bearer(keys["otto"]))
    assert_problem(response, 404)


def test_logistics_writes_need_an_operator(client: TestClient, keys: dict[str, str]) -> None:
    response = client.post("/logistics/plans", json={"fleet": {}}, headers=bearer(keys["vera"]))
    assert_problem(response, 403, "operator")


def test_anonymous_reads_when_allowed(hub: Hub, keys: dict[str, str]) -> None:
    with TestClient(create_app(settings(auth_anonymous_read=True), hub)) as client:
        assert client.get(ENTITIES, params={"type": "Streetlight"}).status_code == 200
        assert client.get("/ui/config").status_code == 200
        assert_problem(client.post(ENTITIES, json=entity(1)), 401)
        assert_problem(client.get("/auth/me"), 401)
        assert_problem(client.get("/auth/users"), 401)
        response = client.post(ENTITIES, json=entity(1), headers=bearer(keys["otto"]))
        assert response.status_code == 201


def test_with_auth_off_everything_is_open_as_before(hub: Hub, keys: dict[str, str]) -> None:
    with TestClient(create_app(settings(auth=False), hub)) as client:
        assert client.post(ENTITIES, json=entity(1)).status_code == 201
        assert client.delete(f"{ENTITIES}/urn:ngsi-ld:Streetlight:1").status_code == 204
        assert client.post(ENTITIES, json=entity(2), headers={"NGSILD-Tenant": "north"}).is_success
        assert client.get("/ui/config").status_code == 200
        assert_problem(client.get("/auth/me"), 404)  # the dashboard's sign that all is open
        assert_problem(
            client.post("/auth/login", json={"username": "ada", "password": PASSWORD}), 404
        )


# -- managing accounts ---------------------------------------------------------------------------


def test_an_admin_manages_users(client: TestClient, keys: dict[str, str]) -> None:
    admin = bearer(keys["ada"])
    new = {"name": "ion", "password": "pass-word-9", "roles": {"": "viewer"}}
    response = client.post("/auth/users", json=new, headers=admin)
    assert response.status_code == 201, response.text
    assert response.json()["roles"] == {"": "viewer"} and "password" not in response.text
    assert_problem(client.post("/auth/users", json=new, headers=admin), 409)
    names = [u["name"] for u in client.get("/auth/users", headers=admin).json()]
    assert names == ["ada", "ion", "nina", "otto", "vera"]
    assert all("passwordHash" not in u for u in client.get("/auth/users", headers=admin).json())
    assert login(client, "ion", "pass-word-9").status_code == 200
    assert_problem(client.post(ENTITIES, json=entity(1), headers=CSRF), 403)
    response = client.put("/auth/users/ion/roles", json={"": "operator"}, headers=admin)
    assert response.json()["roles"] == {"": "operator"}
    assert client.post(ENTITIES, json=entity(1), headers=CSRF).status_code == 201  # at once
    assert client.delete("/auth/users/ion", headers=admin).status_code == 204
    assert_problem(client.get("/auth/me"), 401)  # the session ended with the user
    assert_problem(client.delete("/auth/users/ion", headers=admin), 404)
    bad = {"name": "eve", "password": "pass-word-9", "roles": {"": "root"}}
    assert_problem(client.post("/auth/users", json=bad, headers=admin), 400, "root")
    short = {"name": "eve", "password": "short", "roles": {}}
    assert_problem(client.post("/auth/users", json=short, headers=admin), 400, "at least 8")


def test_only_admins_manage_accounts(client: TestClient, keys: dict[str, str]) -> None:
    new = {"name": "eve", "password": "pass-word-9", "roles": {"": "admin"}}
    for name in ("vera", "otto"):
        headers = bearer(keys[name])
        assert_problem(client.post("/auth/users", json=new, headers=headers), 403, "not an admin")
        assert_problem(client.get("/auth/users", headers=headers), 403)
        assert_problem(client.post("/auth/keys", json={"name": "k"}, headers=headers), 403)
        assert_problem(client.delete("/auth/keys/ada-key", headers=headers), 403)
        response = client.put("/auth/users/otto/roles", json={"*": "admin"}, headers=headers)
        assert_problem(response, 403)
    login(client, "otto")  # a session is no way around it
    assert_problem(client.post("/auth/users", json=new, headers=CSRF), 403)


def test_a_tenants_admin_manages_that_tenant_only(client: TestClient, keys: dict[str, str]) -> None:
    north = bearer(keys["nina"])
    new = {"name": "nora", "password": "pass-word-9", "roles": {"north": "operator"}}
    assert client.post("/auth/users", json=new, headers=north).status_code == 201
    for roles in ({"": "viewer"}, {"*": "viewer"}, {"north": "viewer", "south": "viewer"}, {}):
        other = {"name": "nils", "password": "pass-word-9", "roles": roles}
        assert_problem(client.post("/auth/users", json=other, headers=north), 403)
    listed = {u["name"] for u in client.get("/auth/users", headers=north).json()}
    assert listed == {"nina", "nora", "otto"}  # those with a role on north
    # otto also holds a role on the default tenant: north's admin changes north's part only
    response = client.put(
        "/auth/users/otto/roles", json={"": "operator", "north": "operator"}, headers=north
    )
    assert response.status_code == 200
    response = client.put("/auth/users/otto/roles", json={"north": "operator"}, headers=north)
    assert_problem(response, 403, "(default)")
    assert_problem(client.delete("/auth/users/otto", headers=north), 403)
    assert_problem(client.delete("/auth/users/ada", headers=north), 403)
    assert client.delete("/auth/users/nora", headers=north).status_code == 204


def test_api_keys_are_shown_once(client: TestClient, keys: dict[str, str]) -> None:
    admin = bearer(keys["ada"])
    response = client.post(
        "/auth/keys", json={"name": "gateway", "roles": {"": "operator"}}, headers=admin
    )
    assert response.status_code == 201, response.text
    token = response.json()["key"]
    assert token.startswith("ck_gateway.")
    listed = client.get("/auth/keys", headers=admin).json()
    assert "gateway" in [k["name"] for k in listed]
    assert token not in client.get("/auth/keys", headers=admin).text
    assert all(set(k) == {"name", "roles", "created"} for k in listed)
    assert client.post(ENTITIES, json=entity(1), headers=bearer(token)).status_code == 201
    response = client.put("/auth/keys/gateway/roles", json={"": "viewer"}, headers=admin)
    assert response.json()["roles"] == {"": "viewer"}
    assert_problem(client.post(ENTITIES, json=entity(2), headers=bearer(token)), 403)
    me = client.get("/auth/me", headers=bearer(token)).json()
    assert me["kind"] == "key" and me["role"] == "viewer"
    response = client.post(
        "/auth/password", json={"current": "x", "new": "y" * 9}, headers=bearer(token)
    )
    assert_problem(response, 403, "no password")


# -- failed logins -------------------------------------------------------------------------------


def test_failed_logins_back_off(client: TestClient) -> None:
    now = [1000.0]
    auth_state(client.app).throttle = LoginThrottle(lambda: now[0])  # type: ignore[arg-type]
    for _ in range(FREE):
        assert_problem(login(client, "otto", "guess"), 401)
    response = login(client, "otto")  # the right password, too early: not even checked
    assert_problem(response, 429, "try again in 1 s")
    assert response.headers["retry-after"] == "1"
    now[0] += 1
    assert login(client, "otto").status_code == 200
    # the address is still marked: another user's guesses from it wait at once
    assert_problem(login(client, "vera", "guess"), 401)
    assert_problem(login(client, "vera", PASSWORD), 429)


# -- the accounts never show through the API -----------------------------------------------------


@pytest.mark.parametrize("auth", [True, False])
def test_the_accounts_tenant_cannot_be_named(hub: Hub, keys: dict[str, str], auth: bool) -> None:
    with TestClient(create_app(settings(auth=auth), hub)) as client:
        admin = bearer(keys["ada"])
        reserved = {**admin, "NGSILD-Tenant": "#accounts"}
        paths = [
            f"{ENTITIES}?type=cetate:User",
            f"{ENTITIES}/urn:cetate:User:ada",
            "/ngsi-ld/v1/types",
            "/ngsi-ld/v1/temporal/entities/urn:cetate:User:ada",
            "/logistics/plans/urn:cetate:User:ada",
            "/ui/config",
            "/health",
        ]
        for path in paths:
            assert_problem(client.get(path, headers=reserved), 400, "#accounts")
        assert_problem(client.get("/ui/config", params={"tenant": "#accounts"}, headers=admin), 400)
        response = client.post(ENTITIES, json=entity(1), headers=reserved)
        assert_problem(response, 400)


def test_the_accounts_are_not_entities_of_any_tenant(
    client: TestClient, keys: dict[str, str]
) -> None:
    admin = bearer(keys["ada"])
    login(client, "vera")
    for tenant in ("", "north"):
        headers = {**admin, "NGSILD-Tenant": tenant}
        client.post(ENTITIES, json=entity(1), headers=headers)
        for type_name in ("cetate:User", "cetate:ApiKey", "cetate:Session", "cetate:AuthSecret"):
            found = client.get(ENTITIES, params={"type": type_name}, headers=headers)
            assert found.json() == []
        types = client.get("/ngsi-ld/v1/types", headers=headers).json()
        assert "cetate" not in str(types)
        for entity_id in ("urn:cetate:User:ada", "urn:cetate:ApiKey:ada-key"):
            assert_problem(client.get(f"{ENTITIES}/{entity_id}", headers=headers), 404)
            response = client.get(f"/ngsi-ld/v1/temporal/entities/{entity_id}", headers=headers)
            assert_problem(response, 404)


def test_the_tenant_list_shows_only_tenants_with_a_role(
    client: TestClient, keys: dict[str, str]
) -> None:
    doc = entity(1)
    client.post(ENTITIES, json=doc, headers=bearer(keys["ada"], "north"))
    client.post(ENTITIES, json=doc, headers=bearer(keys["ada"], "south"))
    assert client.get("/ui/tenants", headers=bearer(keys["ada"])).json() == ["", "north", "south"]
    assert client.get("/ui/tenants", headers=bearer(keys["otto"])).json() == ["", "north"]
    assert client.get("/ui/tenants", headers=bearer(keys["vera"])).json() == [""]
