"""The check in front of every route: who is asking (API key or session cookie), and whether
their role on the request's tenant allows the request (``policy``).

It runs in front of every other middleware, so a request without the right account is answered
before anything else looks at it. Whether auth is on or off, no request may name the accounts'
own tenant (``#accounts``), whichever router it goes to.

CSRF: the session cookie is ``SameSite=Strict``, so browsers do not send it with a request
another site starts; and a write made with the cookie must carry an ``X-Requested-With``
header, which a page of another origin cannot add without a CORS preflight that this server
never grants. API keys are not sent by browsers on their own and need neither.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

from fastapi import FastAPI, Request

from cetate.config import Settings
from cetate.errors import BadRequestData, CetateError, Forbidden, NotAuthenticated
from cetate.hub.http import problem_response
from cetate.hub.service import Hub, call_store
from cetate.logs import log_event
from cetate.web.auth import policy
from cetate.web.auth.accounts import ACCOUNTS_TENANT, Accounts, Principal
from cetate.web.auth.roles import Role, valid_tenant
from cetate.web.auth.throttle import LoginThrottle

log = logging.getLogger("cetate.web.auth")

COOKIE = "cetate_session"
CSRF_HEADER = "X-Requested-With"
PRINCIPAL = "principal"  # the key of request.state that holds who the request acts for


@dataclass(slots=True)
class AuthState:
    """What the app keeps for accounts: its settings, the accounts of its hub (made when the
    hub is there, at the first request) and the failed-login counts of this process."""

    settings: Settings
    throttle: LoginThrottle = field(default_factory=LoginThrottle)
    accounts: Accounts | None = None

    def accounts_of(self, hub: Hub) -> Accounts:
        if self.accounts is None or self.accounts.hub is not hub:
            self.accounts = Accounts(hub, self.settings)
        return self.accounts


def auth_state(app: FastAPI) -> AuthState:
    state: AuthState = app.state.auth
    return state


def accounts_of(request: Request) -> Accounts:
    return auth_state(request.app).accounts_of(request.app.state.hub)


def principal_of(request: Request) -> Principal:
    """Who the request acts for, on a route the policy gives to accounts only."""
    principal: Principal | None = getattr(request.state, PRINCIPAL, None)
    if principal is None:
        raise NotAuthenticated("sign in first")
    return principal


def signed_in(request: Request) -> Principal | None:
    """The account a request acts for; None with accounts off or for an anonymous reader."""
    principal: Principal | None = getattr(request.state, PRINCIPAL, None)
    return principal


def acting_name(request: Request) -> str:
    """Who to record as having done something (an alert acknowledged): the account's name;
    with accounts off, or for an anonymous reader, ``anonymous@<client address>``."""
    principal = signed_in(request)
    if principal is not None:
        return principal.name
    return f"anonymous@{_client(request) or 'unknown'}"


def named_tenants(request: Request) -> list[str]:
    """The tenants a request names: the NGSILD-Tenant header (default ``""``) and a ``tenant``
    query parameter, which the dashboard's live stream uses (EventSource sends no headers)."""
    tenants = [request.headers.get("ngsild-tenant", "")]
    tenants += request.query_params.getlist("tenant")
    return tenants


class AuthMiddleware:
    def __init__(self, app: Any, settings: Settings) -> None:
        self.app = app
        self.settings = settings

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if not self.settings.auth:
            if _names_accounts_tenant(scope):
                await problem_response(_bad_tenant())(scope, receive, send)
                return
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        try:
            principal = await self._authorize(request)
        except CetateError as error:
            response = problem_response(error)
            if isinstance(error, NotAuthenticated):
                response.headers["WWW-Authenticate"] = "Bearer"
                if COOKIE in request.cookies:  # a cookie that no longer works is dropped
                    response.delete_cookie(COOKIE, path="/", httponly=True, samesite="strict")
            await response(scope, receive, send)
            return
        scope.setdefault("state", {})[PRINCIPAL] = principal
        await self.app(scope, receive, send)

    async def _authorize(self, request: Request) -> Principal | None:
        tenants = named_tenants(request)
        if ACCOUNTS_TENANT in tenants:
            raise _bad_tenant()
        need = policy.need(request.method, request.url.path)
        if need == policy.OPEN:
            return None
        for tenant in tenants:
            if not valid_tenant(tenant):
                raise _bad_tenant(tenant)
        principal = await self._authenticate(request)
        if (
            principal is not None
            and principal.session is not None
            and request.method not in policy.READ_METHODS
            and not request.headers.get(CSRF_HEADER)
        ):
            raise Forbidden(
                f"a write signed in with a session cookie must carry the {CSRF_HEADER} header "
                "(protection against cross-site requests)"
            )
        if need.role is None:
            if principal is None:
                raise NotAuthenticated("sign in first (POST /auth/login)")
            return principal
        if principal is None:
            if need.role == Role.VIEWER and self.settings.auth_anonymous_read:
                return None
            raise NotAuthenticated(
                "sign in (POST /auth/login) or send an API key (Authorization: Bearer ...)"
            )
        for tenant in [""] if need.default_tenant else tenants:
            role = principal.role_on(tenant)
            if role is None or role < need.role:
                raise Forbidden(
                    f"{principal.name} needs the {need.role.label} role on tenant "
                    f"{tenant or '(default)'} for {request.method} {request.url.path}"
                )
        return principal

    async def _authenticate(self, request: Request) -> Principal | None:
        """The account of the request's credentials; None when it has none; a 401 when they
        are wrong (never a fallback to anonymous)."""
        hub: Hub = request.app.state.hub
        accounts = auth_state(request.app).accounts_of(hub)
        token = _api_key(request)
        if token is not None:
            principal = await call_store(hub, accounts.key_principal, token)
            if principal is None:
                log_event(log, "auth.key_refused", path=request.url.path, client=_client(request))
                raise NotAuthenticated("the API key is not valid (unknown, revoked or mistyped)")
            return principal
        cookie = request.cookies.get(COOKIE)
        if cookie is not None:
            principal = await call_store(hub, accounts.session_principal, cookie)
            if principal is None:
                raise NotAuthenticated("the session has ended: sign in again")
            return principal
        return None


def _api_key(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, credentials = header.partition(" ")
    if scheme.lower() == "bearer" and credentials.strip():
        return credentials.strip()
    return request.headers.get("x-api-key") or None


def _client(request: Request) -> str:
    return request.client.host if request.client is not None else ""


def _bad_tenant(tenant: str = ACCOUNTS_TENANT) -> BadRequestData:
    return BadRequestData(f"tenant name {tenant!r} is not valid")


def _names_accounts_tenant(scope: Any) -> bool:
    """Whether a request names the accounts' tenant, looked for without building a Request:
    with auth off this runs on every request, ingest's hot path included."""
    wanted = ACCOUNTS_TENANT.encode()
    for name, value in scope["headers"]:
        if name.lower() == b"ngsild-tenant" and value.strip() == wanted:
            return True
    query: bytes = scope.get("query_string", b"")
    if b"tenant" not in query:
        return False
    return any(
        k == "tenant" and v == ACCOUNTS_TENANT for k, v in parse_qsl(query.decode("latin-1"))
    )
