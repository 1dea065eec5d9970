"""``cetate users ...`` and ``cetate keys ...``: accounts managed on the machine that runs
Cetate. They need no sign-in: whoever can open the store holds every account already.

Only typer is imported up front, so ``cetate --help`` stays quick.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Annotated, TypeVar

import typer

if TYPE_CHECKING:
    from cetate.config import Settings
    from cetate.hub.service import Hub
    from cetate.web.auth.accounts import Account, Accounts, Kind
    from cetate.web.auth.roles import Role

R = TypeVar("R")

# Spelled as in cetate.cli, which imports this module (so it cannot be imported from here).
StoreOption = Annotated[
    str | None,
    typer.Option(
        "--store",
        help="sqlite:///path.db (default: cetate.db in the working directory) or postgresql://...",
    ),
]
RoleOption = Annotated[str, typer.Option("--role", help="viewer, operator or admin.")]
TenantOption = Annotated[
    str, typer.Option("--tenant", help='The tenant of the role: "" the default, "*" every one.')
]
PasswordStdinOption = Annotated[
    bool,
    typer.Option("--password-stdin", help="Read the password from the first line of stdin."),
]


def add_commands(app: typer.Typer) -> None:
    """Register the ``users`` and ``keys`` groups on ``cetate``."""
    users_app = typer.Typer(help="People who sign in (dashboard and API).", no_args_is_help=True)
    keys_app = typer.Typer(help="API keys, for machines.", no_args_is_help=True)
    app.add_typer(users_app, name="users")
    app.add_typer(keys_app, name="keys")

    @users_app.command("add")
    def users_add(
        name: str,
        role: RoleOption,
        tenant: TenantOption = "",
        password_stdin: PasswordStdinOption = False,
        store: StoreOption = None,
    ) -> None:
        """Add a user with a role on a tenant; the password is asked for (or read from stdin)."""
        grants = _guarded(lambda: _grant(tenant, role))  # a wrong role before the password
        password = _password(password_stdin)
        with _accounts(store) as accounts:
            user = _guarded(lambda: accounts.add_user(name, password, grants))
        typer.echo(f"user {user.name} added: {_roles(user)}")

    @users_app.command("list")
    def users_list(store: StoreOption = None) -> None:
        """Every user and their roles."""
        with _accounts(store) as accounts:
            users = _guarded(lambda: accounts.accounts("user"))
        for user in users:
            typer.echo(f"{user.name}  {_roles(user)}")
        if not users:
            typer.echo("no users")

    @users_app.command("grant")
    def users_grant(
        name: str,
        role: Annotated[str, typer.Option("--role", help="viewer, operator, admin or none.")],
        tenant: TenantOption = "",
        store: StoreOption = None,
    ) -> None:
        """Set a user's role on one tenant (--role none takes it away)."""
        with _accounts(store) as accounts:
            user = _guarded(lambda: _regrant(accounts, "user", name, tenant, role))
        typer.echo(f"user {user.name}: {_roles(user)}")

    @users_app.command("password")
    def users_password(
        name: str, password_stdin: PasswordStdinOption = False, store: StoreOption = None
    ) -> None:
        """Set a user's password; the user's sessions end."""
        password = _password(password_stdin)
        with _accounts(store) as accounts:
            _guarded(lambda: accounts.set_password(name, password))
            _guarded(lambda: accounts.end_sessions(name))
        typer.echo(f"user {name}: password set")

    @users_app.command("delete")
    def users_delete(name: str, store: StoreOption = None) -> None:
        """Delete a user; the user's sessions end."""
        with _accounts(store) as accounts:
            _guarded(lambda: accounts.delete("user", name))
        typer.echo(f"user {name} deleted")

    @keys_app.command("create")
    def keys_create(
        name: str, role: RoleOption, tenant: TenantOption = "", store: StoreOption = None
    ) -> None:
        """Create an API key; it is printed this once (only a digest of it is kept)."""
        with _accounts(store) as accounts:
            key, token = _guarded(lambda: accounts.create_key(name, _grant(tenant, role)))
        typer.echo(f"key {key.name} created: {_roles(key)}", err=True)
        typer.echo("it is shown only now; send it as 'Authorization: Bearer <key>':", err=True)
        typer.echo(token)  # alone on stdout, for `KEY=$(cetate keys create ...)`

    @keys_app.command("list")
    def keys_list(store: StoreOption = None) -> None:
        """Every API key (names and roles; the keys themselves are not kept)."""
        with _accounts(store) as accounts:
            keys = _guarded(lambda: accounts.accounts("key"))
        for key in keys:
            typer.echo(f"{key.name}  {_roles(key)}  created {key.created}")
        if not keys:
            typer.echo("no API keys")

    @keys_app.command("revoke")
    def keys_revoke(name: str, store: StoreOption = None) -> None:
        """Revoke an API key: it stops working at once."""
        with _accounts(store) as accounts:
            _guarded(lambda: accounts.delete("key", name))
        typer.echo(f"key {name} revoked")


def announce_accounts(
    hub: Hub, settings: Settings, echo: Callable[[str], object], first_admin: bool
) -> None:
    """What a server started with accounts on says about them; with ``first_admin`` (the
    demo), a global admin is created when there is none, its password printed this once."""
    from cetate.web.auth.accounts import Accounts

    accounts = Accounts(hub, settings)
    password = accounts.first_admin() if first_admin else None
    if password is not None:
        echo(
            f"accounts: user 'admin' created with the one-time password  {password}\n"
            "          it is shown only now: sign in and change it (POST /auth/password, or "
            "`cetate users password admin`)"
        )
    elif not accounts.accounts("user") and not accounts.accounts("key"):
        echo(
            "accounts: on, and there are none yet: add one with "
            "`cetate users add NAME --role admin --tenant '*'`"
        )
    else:
        echo("accounts: on (sign in with POST /auth/login, or send an API key)")


def _guarded(fn: Callable[[], R]) -> R:
    from cetate.cli import guarded

    return guarded(fn)


@contextmanager
def _accounts(store: str | None) -> Iterator[Accounts]:
    from cetate.cli import settings_from
    from cetate.hub.service import build_hub
    from cetate.web.auth.accounts import Accounts

    settings = _guarded(lambda: settings_from(store))
    hub = _guarded(lambda: build_hub(settings))
    try:
        yield Accounts(hub, settings)
    finally:
        hub.close()


def _password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    password: str = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    return password


def _grant(tenant: str, role: str) -> dict[str, Role]:
    from cetate.web.auth.roles import parse_grants

    return parse_grants({tenant: role})


def _regrant(accounts: Accounts, kind: Kind, name: str, tenant: str, role: str) -> Account:
    from cetate.errors import ResourceNotFound

    account = accounts.account(kind, name)
    if account is None:
        raise ResourceNotFound(f"there is no {kind} {name}")
    grants = dict(account.grants)
    if role == "none":
        grants.pop(tenant, None)
    else:
        grants.update(_grant(tenant, role))
    return accounts.set_grants(kind, name, grants)


def _roles(account: Account) -> str:
    from cetate.web.auth.roles import grants_view

    shown = [
        f"{tenant or '(default)'}={role}" for tenant, role in grants_view(account.grants).items()
    ]
    return ", ".join(shown) or "no roles"
