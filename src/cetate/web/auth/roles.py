"""Roles: viewer < operator < admin, granted per tenant; ``*`` grants a role on every tenant.

An account's grants map tenant names to roles (the default tenant is ``""``). Its role on a
tenant is the higher of the role granted there and the role granted on ``*``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from enum import IntEnum
from typing import Any

from cetate.errors import BadRequestData

ALL_TENANTS = "*"
# The tenant names the NGSI-LD API accepts (NGSILD-Tenant, cetate.hub.http): a grant on any other
# name could never be used.
_TENANT = re.compile(r"^[A-Za-z0-9_\-.:/]{1,256}$")


class Role(IntEnum):
    VIEWER = 1  # reads
    OPERATOR = 2  # reads and writes the city's data
    ADMIN = 3  # and manages the accounts of the tenant

    @property
    def label(self) -> str:
        return self.name.lower()

    @classmethod
    def parse(cls, text: Any) -> Role:
        if isinstance(text, str) and text.upper() in cls.__members__:
            return cls[text.upper()]
        raise BadRequestData(f"role {text!r} is not one of viewer, operator, admin")


Grants = Mapping[str, Role]


def valid_tenant(name: str) -> bool:
    """Whether ``name`` is a tenant the API can address (``""``, the default, included)."""
    return name == "" or _TENANT.match(name) is not None


def role_on(grants: Grants, tenant: str) -> Role | None:
    """The account's role on ``tenant``, or None when it has none there."""
    found = [role for name, role in grants.items() if name in (tenant, ALL_TENANTS)]
    return max(found) if found else None


def parse_grants(raw: Any) -> dict[str, Role]:
    """``{"tenant": "role", ...}`` from outside (API body, stored account), checked."""
    if not isinstance(raw, dict):
        raise BadRequestData('roles must be an object: {"tenant": "viewer|operator|admin"}')
    grants: dict[str, Role] = {}
    for tenant, role in raw.items():
        if tenant != ALL_TENANTS and not valid_tenant(tenant):
            raise BadRequestData(f"tenant name {tenant!r} is not valid")
        grants[tenant] = Role.parse(role)
    return grants


def grants_view(grants: Grants) -> dict[str, str]:
    """The grants as JSON: tenant -> role name, tenants in order."""
    return {tenant: grants[tenant].label for tenant in sorted(grants)}


def forbidden_change(caller: Grants, before: Grants, after: Grants) -> str | None:
    """The first tenant whose grant changes from ``before`` to ``after`` that ``caller`` does not
    administer, or None when the caller may make the change.

    One rule covers creating (nothing before), changing and deleting (nothing after) an
    account: an admin of a tenant manages the roles on that tenant, and only an admin on ``*``
    manages grants on ``*`` (``role_on(caller, "*")`` sees only the caller's own ``*`` grant).
    So a tenant's admin cannot touch an account that also holds roles elsewhere; and an account
    with no role anywhere belongs to the admins of every tenant."""
    changed = [t for t in sorted(set(before) | set(after)) if before.get(t) != after.get(t)]
    if not before and not after:
        changed = [ALL_TENANTS]
    for tenant in changed:
        if role_on(caller, tenant) != Role.ADMIN:
            return tenant
    return None


def sees(caller: Grants, grants: Grants) -> bool:
    """Whether ``caller`` may see an account with ``grants``: an admin on ``*`` sees all, an
    admin of a tenant the accounts that have a role there."""
    if caller.get(ALL_TENANTS) == Role.ADMIN:
        return True
    return any(role_on(caller, tenant) == Role.ADMIN for tenant in grants)
