"""``cetate users`` and ``cetate keys``, ``serve --auth``, and the demo's first admin."""

from __future__ import annotations

from pathlib import Path

import pytest
from argon2 import PasswordHasher
from typer.testing import CliRunner

from cetate import cli
from cetate.config import Settings
from cetate.hub.service import Hub
from cetate.hub.store.sqlite import SqliteStore
from cetate.web.auth import passwords
from cetate.web.auth.accounts import Accounts
from cetate.web.auth.cli import announce_accounts
from cetate.web.auth.roles import Role

runner = CliRunner()


@pytest.fixture(autouse=True)
def cheap_hashes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(
        passwords, "HASHER", PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    )


@pytest.fixture
def store_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'hub.db'}"


def run(*args: str, stdin: str | None = None) -> tuple[int, str, str]:
    result = runner.invoke(cli.app, list(args), input=stdin)
    return result.exit_code, result.stdout, result.stderr


def open_accounts(url: str) -> tuple[Accounts, SqliteStore]:
    from cetate.hub.context import ContextResolver

    store = SqliteStore(url.removeprefix("sqlite:///"))
    settings = Settings(store=url)
    hub = Hub(store, ContextResolver(directory=None, allow_remote=False), settings)
    return Accounts(hub, settings), store


def test_users_are_added_listed_granted_and_deleted(store_url: str) -> None:
    code, out, err = run(
        "users", "add", "ana", "--role", "operator", "--password-stdin", "--store", store_url,
        stdin="pass-word-1\n",
    )  # fmt: skip
    assert code == 0, err
    assert "user ana added: (default)=operator" in out
    code, out, _ = run(
        "users", "add", "ion", "--role", "admin", "--tenant", "*", "--store", store_url,
        stdin="pass-word-2\npass-word-2\n",
    )  # fmt: skip
    assert code == 0 and "pass-word-2" not in out
    code, out, _ = run("users", "grant", "ana", "--role", "viewer", "--tenant", "north",
                       "--store", store_url)  # fmt: skip
    assert code == 0 and "north=viewer" in out
    code, out, _ = run("users", "list", "--store", store_url)
    assert out.splitlines() == ["ana  (default)=operator, north=viewer", "ion  *=admin"]
    accounts, store = open_accounts(store_url)
    try:
        assert accounts.check_login("ana", "pass-word-1") is not None
        assert accounts.check_login("ion", "pass-word-2") is not None
    finally:
        store.close()
    code, out, _ = run("users", "grant", "ana", "--role", "none", "--tenant", "north",
                       "--store", store_url)  # fmt: skip
    assert code == 0 and "north" not in out
    code, _, _ = run("users", "password", "ana", "--password-stdin", "--store", store_url,
                     stdin="pass-word-3\n")  # fmt: skip
    assert code == 0
    code, out, _ = run("users", "delete", "ion", "--store", store_url)
    assert code == 0 and "deleted" in out
    code, out, _ = run("users", "list", "--store", store_url)
    assert out.splitlines() == ["ana  (default)=operator"]
    accounts, store = open_accounts(store_url)
    try:
        assert accounts.check_login("ana", "pass-word-3") is not None
    finally:
        store.close()


def test_user_mistakes_are_one_line_and_exit_2(store_url: str) -> None:
    add = ("users", "add", "ana", "--password-stdin", "--store", store_url)
    code, _, err = run(*add, "--role", "boss", stdin="pass-word-1\n")
    assert code == 2 and err.strip() == "cetate: role 'boss' is not one of viewer, operator, admin"
    code, _, err = run(*add, "--role", "viewer", stdin="short\n")
    assert code == 2 and "at least 8" in err
    code, _, err = run(*add, "--role", "viewer", "--tenant", "#accounts", stdin="pass-word-1\n")
    assert code == 2 and "not valid" in err
    assert run(*add, "--role", "viewer", stdin="pass-word-1\n")[0] == 0
    code, _, err = run(*add, "--role", "viewer", stdin="pass-word-1\n")
    assert code == 2 and err.strip() == "cetate: there is a user ana already"
    code, _, err = run("users", "delete", "nobody", "--store", store_url)
    assert code == 2 and err.strip() == "cetate: there is no user nobody"
    code, _, err = run("users", "add", "ana", "--role", "viewer", "--store", store_url,
                       stdin="pass-word-1\ndifferent-1\npass-word-1\npass-word-1\n")  # fmt: skip
    assert code == 2 and "already" in err  # asked twice until both agreed, then refused


def test_keys_are_printed_once_and_revoked(store_url: str) -> None:
    code, out, err = run(
        "keys", "create", "gateway", "--role", "operator", "--tenant", "north", "--store", store_url
    )
    assert code == 0, err
    token = out.strip()
    assert token.startswith("ck_gateway.") and "shown only now" in err
    code, out, _ = run("keys", "list", "--store", store_url)
    assert code == 0 and out.startswith("gateway  north=operator  created ")
    assert token not in out
    accounts, store = open_accounts(store_url)
    try:
        principal = accounts.key_principal(token)
        assert principal is not None and principal.role_on("north") == Role.OPERATOR
    finally:
        store.close()
    assert run("keys", "revoke", "gateway", "--store", store_url)[0] == 0
    accounts, store = open_accounts(store_url)
    try:
        assert accounts.key_principal(token) is None
    finally:
        store.close()
    code, _, err = run("keys", "revoke", "gateway", "--store", store_url)
    assert code == 2 and "no key gateway" in err
    assert run("keys", "list", "--store", store_url)[1].strip() == "no API keys"


def test_serve_turns_accounts_on_by_option_or_environment(
    monkeypatch: pytest.MonkeyPatch, store_url: str
) -> None:
    served: list[Settings] = []
    monkeypatch.setattr(
        cli, "run_server", lambda settings, *rest, **options: served.append(settings)
    )
    monkeypatch.delenv("CETATE_AUTH", raising=False)
    assert run("serve", "--store", store_url)[0] == 0
    assert run("serve", "--auth", "--store", store_url)[0] == 0
    monkeypatch.setenv("CETATE_AUTH", "1")
    assert run("serve", "--store", store_url)[0] == 0
    assert [s.auth for s in served] == [False, True, True]


def test_the_demo_makes_a_first_admin_and_shows_its_password_once(hub: Hub) -> None:
    settings = Settings(store="unused", auth=True)
    said: list[str] = []
    announce_accounts(hub, settings, said.append, first_admin=True)
    assert len(said) == 1 and "one-time password" in said[0]
    password = said[0].split("one-time password")[1].split()[0]
    accounts = Accounts(hub, settings)
    admin = accounts.check_login("admin", password)
    assert admin is not None and admin.grants == {"*": Role.ADMIN}
    announce_accounts(hub, settings, said.append, first_admin=True)
    assert password not in said[1] and "admin" not in said[1]


def test_a_server_with_no_accounts_says_how_to_make_one(hub: Hub) -> None:
    said: list[str] = []
    announce_accounts(hub, Settings(store="unused", auth=True), said.append, first_admin=False)
    assert "cetate users add" in said[0]
    assert Accounts(hub, Settings(store="unused")).accounts("user") == []
