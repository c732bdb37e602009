"""Request dependencies: one transaction per request, the caller, and the tenant scope.

Routes read like their signature: `scope: TenantScope` means "authenticated, allowed in this
tenant, with a session whose transaction is bound to it"."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Annotated, Any

import structlog
from fastapi import Depends, Path, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from gito.api.ratelimit import RateLimits
from gito.auth.permissions import SITE_SCOPED_ROLES, Permission, Role
from gito.auth.principal import Principal
from gito.auth.security import decode_access_token
from gito.config import Settings
from gito.db.engine import sessionmaker, set_tenant
from gito.db.models import Tenant, User, UserSite
from gito.errors import Forbidden, NotFound, Unauthorized

__all__ = ["Principal"]


def get_settings_dep(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


SettingsDep = Annotated[Settings, Depends(get_settings_dep)]


async def get_session() -> AsyncIterator[AsyncSession]:
    """One transaction per request, committed when the route returns without error."""
    async with sessionmaker()() as session, session.begin():
        yield session


# scope="function": commit *before* the response is sent, so a client never sees a success
# for a write that then failed to commit.
SessionDep = Annotated[AsyncSession, Depends(get_session, scope="function")]

_bearer = HTTPBearer(auto_error=False, description="`Authorization: Bearer <access_token>`")


async def load_principal(
    session: AsyncSession, user_id: uuid.UUID, tenant_id: uuid.UUID
) -> tuple[Principal, int | None]:
    """Load an active user of an active tenant (role from the database, not the token, so a
    role change or deactivation takes effect at once). Returns the tenant's rate limit too."""
    await set_tenant(session, tenant_id)
    row = (
        await session.execute(
            select(
                User.email,
                User.role,
                User.is_active,
                Tenant.is_active,
                Tenant.rate_limit_per_minute,
            )
            .join(Tenant, Tenant.id == User.tenant_id)
            .where(User.id == user_id)
        )
    ).one_or_none()
    if row is None or not row[2] or not row[3]:
        raise Unauthorized("user is unknown or inactive", code="INVALID_TOKEN")
    role = Role(row[1])
    site_ids: frozenset[uuid.UUID] | None = None
    if role in SITE_SCOPED_ROLES:
        site_ids = frozenset(
            (
                await session.execute(select(UserSite.site_id).where(UserSite.user_id == user_id))
            ).scalars()
        )
    return Principal(user_id, tenant_id, row[0], role, site_ids), row[4]


async def current_principal(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    if credentials is None:
        raise Unauthorized("missing bearer token", code="NOT_AUTHENTICATED")
    claims = decode_access_token(settings, credentials.credentials)
    principal, rate_limit = await load_principal(session, claims.user_id, claims.tenant_id)
    structlog.contextvars.bind_contextvars(
        tenant_id=str(principal.tenant_id), user_id=str(principal.user_id)
    )
    limits: RateLimits = request.app.state.rate_limits
    await limits.hit_tenant(str(principal.tenant_id), rate_limit)
    return principal


CurrentUser = Annotated[Principal, Depends(current_principal)]


@dataclass(frozen=True, slots=True)
class Scope:
    """The caller, acting inside one tenant, with a session bound to that tenant."""

    session: AsyncSession
    principal: Principal
    tenant_id: uuid.UUID


async def tenant_scope(
    tenant_id: Annotated[uuid.UUID, Path(description="The tenant the request acts in.")],
    principal: CurrentUser,
    session: SessionDep,
) -> Scope:
    if tenant_id != principal.tenant_id:
        if principal.role is not Role.SUPER_ADMIN:
            raise Forbidden("this token belongs to another tenant", code="TENANT_FORBIDDEN")
        # Platform work: the super-admin acts inside the target tenant, RLS still applies.
        await set_tenant(session, tenant_id)
        if await session.get(Tenant, tenant_id) is None:
            raise NotFound("tenant not found", code="TENANT_NOT_FOUND")
    return Scope(session, principal, tenant_id)


TenantScope = Annotated[Scope, Depends(tenant_scope)]


def requires(permission: Permission) -> Any:
    """Route dependency: `dependencies=[requires(Permission.DEVICES_WRITE)]`."""

    async def check(principal: CurrentUser) -> None:
        principal.require(permission)

    return Depends(check)
