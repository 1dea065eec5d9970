"""``/auth``: sign in and out, who am I, and the management of users and API keys.

Served only when ``Settings.auth`` is on (with it off, ``/auth/me`` is a 404 and the dashboard
knows everything is open). Managing accounts needs the admin role: an admin of a tenant manages
the roles on that tenant, an admin on ``*`` everything (``roles.forbidden_change``).
"""

from __future__ import annotations

import asyncio
import logging
import math
from typing import Any
from urllib.parse import parse_qsl

import orjson
from fastapi import APIRouter, FastAPI, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from cetate.config import Settings
from cetate.errors import (
    BadRequestData,
    Forbidden,
    InvalidRequest,
    NotAuthenticated,
    PayloadTooLarge,
    ResourceNotFound,
    TooManyAttempts,
    UnsupportedMediaType,
)
from cetate.hub.http import problem_response
from cetate.logs import log_event
from cetate.web.auth.accounts import Account, Kind, Principal
from cetate.web.auth.middleware import (
    COOKIE,
    CSRF_HEADER,
    AuthMiddleware,
    AuthState,
    accounts_of,
    auth_state,
    principal_of,
)
from cetate.web.auth.roles import Role, forbidden_change, grants_view, parse_grants, sees

log = logging.getLogger("cetate.web.auth")
router = APIRouter()
MAX_LOGIN_BYTES = 64 * 1024

_ROLES_EXAMPLE = {"": "operator", "brasov": "viewer"}


class NewUser(BaseModel):
    name: str = Field(examples=["ana"])
    password: str = Field(description="at least 8 characters")
    roles: dict[str, str] = Field(
        default_factory=dict,
        description='tenant ("" the default, "*" every tenant) -> viewer | operator | admin',
        examples=[_ROLES_EXAMPLE],
    )


class NewKey(BaseModel):
    name: str = Field(examples=["traffic-gateway"])
    roles: dict[str, str] = Field(default_factory=dict, examples=[{"": "operator"}])


class PasswordChange(BaseModel):
    current: str
    new: str = Field(description="at least 8 characters")


def install_auth(app: FastAPI, settings: Settings) -> None:
    """Accounts for ``app``. Call it after the other middleware, so its check runs first."""
    app.state.auth = AuthState(settings)
    app.state.auth_enabled = settings.auth  # the dashboard asks people to sign in
    app.add_middleware(AuthMiddleware, settings=settings)
    if settings.auth:
        app.include_router(router, prefix="/auth", tags=["accounts"])


# -- signing in ---------------------------------------------------------------------------------

_LOGIN_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            media: {
                "schema": {
                    "type": "object",
                    "required": ["username", "password"],
                    "properties": {"username": {"type": "string"}, "password": {"type": "string"}},
                }
            }
            for media in ("application/json", "application/x-www-form-urlencoded")
        },
    }
}


@router.post(
    "/login",
    summary="Sign in: sets the session cookie",
    openapi_extra=_LOGIN_BODY,
    responses={401: {"description": "wrong user name or password"}, 429: {"description": "wait"}},
)
async def login(request: Request) -> Response:
    """Checks the password and starts a session: an HttpOnly, SameSite=Strict cookie. After
    five failures for a user name or from an address, each attempt waits longer (429 with
    Retry-After)."""
    username, password = await _login_fields(request)
    state = auth_state(request.app)
    client = request.client.host if request.client is not None else ""
    keys = [f"user:{username.lower()}", f"address:{client}"]
    wait = state.throttle.wait_s(keys)
    if wait > 0:
        response = problem_response(
            TooManyAttempts(f"too many failed logins: try again in {math.ceil(wait)} s")
        )
        response.headers["Retry-After"] = str(math.ceil(wait))
        return response
    accounts = accounts_of(request)
    user = await asyncio.to_thread(accounts.check_login, username, password)
    if user is None:
        state.throttle.failed(keys)
        log_event(log, "auth.login_failed", user=username[:64], client=client)
        raise NotAuthenticated("wrong user name or password")
    state.throttle.succeeded(keys[0])
    cookie = await asyncio.to_thread(accounts.start_session, user.name)
    log_event(log, "auth.login", user=user.name, client=client)
    principal = Principal(user.name, "user", user.grants)
    response = JSONResponse(_me(principal, _tenant(request)))
    # No Max-Age: the cookie ends with the browser; the server ends the session sooner when it
    # idles (CETATE_AUTH_SESSION_IDLE_S) or grows old (CETATE_AUTH_SESSION_MAX_S).
    response.set_cookie(
        COOKIE,
        cookie,
        path="/",
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )
    return response


async def _login_fields(request: Request) -> tuple[str, str]:
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    raw = bytearray()
    async for chunk in request.stream():
        raw += chunk
        if len(raw) > MAX_LOGIN_BYTES:
            raise PayloadTooLarge("a login is not that long")
    fields: Any
    if media == "application/json":
        try:
            fields = orjson.loads(raw)
        except orjson.JSONDecodeError:
            raise InvalidRequest("the body is not valid JSON") from None
    elif media == "application/x-www-form-urlencoded":
        fields = dict(parse_qsl(raw.decode("utf-8", "replace"), keep_blank_values=True))
    else:
        raise UnsupportedMediaType(
            "sign in with application/json or application/x-www-form-urlencoded"
        )
    username = fields.get("username") if isinstance(fields, dict) else None
    password = fields.get("password") if isinstance(fields, dict) else None
    if not isinstance(username, str) or not isinstance(password, str):
        raise BadRequestData("a login has a username and a password (strings)")
    return username, password


@router.post("/logout", status_code=204, summary="Sign out: ends the session")
async def logout(request: Request) -> Response:
    cookie = request.cookies.get(COOKIE)
    if cookie is not None:
        await asyncio.to_thread(accounts_of(request).end_session, cookie)
    response = Response(status_code=204)
    response.delete_cookie(COOKIE, path="/", httponly=True, samesite="strict")
    return response


@router.get("/me", summary="Who is signed in, and their roles")
async def me(request: Request) -> dict[str, Any]:
    """The account (user or API key), its roles per tenant, and its role on the tenant of the
    request (NGSILD-Tenant header or ``tenant`` parameter): what the dashboard lets it do."""
    return _me(principal_of(request), _tenant(request))


@router.post("/password", status_code=204, summary="Change your own password")
async def change_password(body: PasswordChange, request: Request) -> Response:
    """Needs the current password; every other session of the user ends."""
    principal = principal_of(request)
    if principal.kind != "user":
        raise Forbidden("an API key has no password")
    accounts = accounts_of(request)
    throttle = auth_state(request.app).throttle
    key = f"user:{principal.name.lower()}"
    if throttle.wait_s([key]) > 0:
        raise TooManyAttempts("too many failed attempts: try again later")
    if await asyncio.to_thread(accounts.check_login, principal.name, body.current) is None:
        throttle.failed([key])
        raise Forbidden("the current password is not right")
    await asyncio.to_thread(accounts.set_password, principal.name, body.new)
    await asyncio.to_thread(accounts.end_sessions, principal.name, principal.session)
    log_event(log, "auth.password_changed", user=principal.name)
    return Response(status_code=204)


def _me(principal: Principal, tenant: str) -> dict[str, Any]:
    role = principal.role_on(tenant)
    return {
        "name": principal.name,
        "kind": principal.kind,
        "roles": grants_view(principal.grants),
        "tenant": tenant,
        "role": role.label if role is not None else None,
        "csrfHeader": CSRF_HEADER,
    }


def _tenant(request: Request) -> str:
    return request.query_params.get("tenant") or request.headers.get("ngsild-tenant", "")


# -- managing accounts --------------------------------------------------------------------------


@router.get("/users", summary="The users (admin)")
async def list_users(request: Request) -> list[dict[str, Any]]:
    """All users for an admin on ``*``; for an admin of some tenants, the users with a role
    there."""
    return await _list(request, "user")


@router.post("/users", status_code=201, summary="Add a user (admin)")
async def add_user(body: NewUser, request: Request) -> dict[str, Any]:
    grants = parse_grants(body.roles)
    caller = _admin(request, {}, grants)
    user = await asyncio.to_thread(accounts_of(request).add_user, body.name, body.password, grants)
    log_event(log, "auth.user_added", user=user.name, by=caller.name)
    return user.view()


@router.put("/users/{name}/roles", summary="Set a user's roles (admin)")
async def set_user_roles(name: str, body: dict[str, str], request: Request) -> dict[str, Any]:
    return await _set_roles(request, "user", name, body)


@router.delete("/users/{name}", status_code=204, summary="Delete a user (admin)")
async def delete_user(name: str, request: Request) -> Response:
    """The user's sessions end with it."""
    return await _delete(request, "user", name)


@router.get("/keys", summary="The API keys (admin)")
async def list_keys(request: Request) -> list[dict[str, Any]]:
    return await _list(request, "key")


@router.post("/keys", status_code=201, summary="Create an API key (admin); shown this once")
async def create_key(body: NewKey, request: Request) -> dict[str, Any]:
    """The answer's ``key`` is the only time the key is shown: only a digest of it is kept. Send
    it as ``Authorization: Bearer <key>`` or ``X-API-Key: <key>``."""
    grants = parse_grants(body.roles)
    caller = _admin(request, {}, grants)
    key, token = await asyncio.to_thread(accounts_of(request).create_key, body.name, grants)
    log_event(log, "auth.key_created", key=key.name, by=caller.name)
    return {**key.view(), "key": token}


@router.put("/keys/{name}/roles", summary="Set an API key's roles (admin)")
async def set_key_roles(name: str, body: dict[str, str], request: Request) -> dict[str, Any]:
    return await _set_roles(request, "key", name, body)


@router.delete("/keys/{name}", status_code=204, summary="Revoke an API key (admin)")
async def revoke_key(name: str, request: Request) -> Response:
    return await _delete(request, "key", name)


def _some_admin(request: Request) -> Principal:
    """The caller, when an admin of at least one tenant."""
    caller = principal_of(request)
    if Role.ADMIN not in caller.grants.values():
        raise Forbidden(f"{caller.name} is not an admin: managing accounts needs the admin role")
    return caller


def _admin(request: Request, before: dict[str, Role], after: dict[str, Role]) -> Principal:
    """The caller, when they may change an account's grants from ``before`` to ``after``."""
    caller = _some_admin(request)
    tenant = forbidden_change(caller.grants, before, after)
    if tenant is not None:
        raise Forbidden(f"{caller.name} is not an admin on tenant {tenant or '(default)'}")
    return caller


async def _account(request: Request, kind: Kind, name: str) -> Account:
    found = await asyncio.to_thread(accounts_of(request).account, kind, name)
    if found is None:
        raise ResourceNotFound(f"there is no {kind} {name}")
    return found


async def _list(request: Request, kind: Kind) -> list[dict[str, Any]]:
    caller = _some_admin(request)
    found = await asyncio.to_thread(accounts_of(request).accounts, kind)
    return [a.view() for a in found if sees(caller.grants, a.grants)]


async def _set_roles(
    request: Request, kind: Kind, name: str, body: dict[str, str]
) -> dict[str, Any]:
    grants = parse_grants(body)
    account = await _account(request, kind, name)
    caller = _admin(request, account.grants, grants)
    changed = await asyncio.to_thread(accounts_of(request).set_grants, kind, name, grants)
    log_event(
        log, "auth.roles_set", kind=kind, name=name, roles=grants_view(grants), by=caller.name
    )
    return changed.view()


async def _delete(request: Request, kind: Kind, name: str) -> Response:
    account = await _account(request, kind, name)
    caller = _admin(request, account.grants, {})
    await asyncio.to_thread(accounts_of(request).delete, kind, name)
    log_event(log, "auth.deleted", kind=kind, name=name, by=caller.name)
    return Response(status_code=204)
