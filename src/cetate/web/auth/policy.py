"""What each request needs: nothing, any account, or a role on its tenant.

One table for the whole app, so a route added later is covered the moment it exists: anything
not listed as open needs ``viewer`` to read and ``operator`` to write, on the tenant the request
names. Account management (``/auth``) needs an account here and ``admin`` inside its routes,
where the tenants involved are known.
"""

from __future__ import annotations

from dataclasses import dataclass

from cetate.web.auth.roles import Role

READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# Open to anyone: liveness, the dashboard's page and files (its data comes through the API),
# the API's own documentation, and signing in and out.
OPEN_PATHS = frozenset(
    {
        "/health",
        "/",
        "/favicon.ico",
        "/docs",
        "/docs/oauth2-redirect",
        "/redoc",
        "/openapi.json",
        "/auth/login",
        "/auth/logout",
        # The dashboard's modules and whether accounts are on: what the page needs to know
        # before anyone signs in. It holds no city data (no store read).
        "/ui/config",
    }
)
OPEN_PREFIXES = ("/static/",)
# POSTs that only read: queries whose parameters travel in the body, and computations.
READ_ONLY_POSTS = frozenset(
    {
        "/ngsi-ld/v1/entityOperations/query",
        "/ngsi-ld/v1/temporal/entityOperations/query",
        "/city/matrix",
        "/city/snap",
    }
)
# Routes that act on the default tenant whatever the request names: roles there are what count.
DEFAULT_TENANT_PREFIXES = ("/city", "/ingest", "/metrics")


@dataclass(frozen=True, slots=True)
class Need:
    role: Role | None  # the role needed on the tenant; None: no role
    signed_in: bool = False  # with no role: an account all the same
    default_tenant: bool = False  # the role counts on "" whatever tenant the request names


OPEN = Need(None)
SIGNED_IN = Need(None, signed_in=True)


def _under(path: str, prefix: str) -> bool:
    return path == prefix or path.startswith(prefix + "/")


def need(method: str, path: str) -> Need:
    if path in OPEN_PATHS or path.startswith(OPEN_PREFIXES):
        return OPEN
    if _under(path, "/auth"):
        return SIGNED_IN
    reads = method in READ_METHODS or (method == "POST" and path in READ_ONLY_POSTS)
    role = Role.VIEWER if reads else Role.OPERATOR
    return Need(role, default_tenant=any(_under(path, p) for p in DEFAULT_TENANT_PREFIXES))
