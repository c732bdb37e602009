"""Tenants are platform objects: every function here expects a session on which
`enable_platform_scope` was called (SUPER_ADMIN work), except `get` for one's own tenant."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from gito.db.models import Tenant
from gito.errors import Conflict, NotFound


def listing() -> Any:
    return select(Tenant).order_by(Tenant.name)


async def get(session: AsyncSession, tenant_id: uuid.UUID) -> Tenant:
    tenant = await session.get(Tenant, tenant_id)
    if tenant is None:
        raise NotFound("tenant not found", code="TENANT_NOT_FOUND")
    return tenant


async def create(session: AsyncSession, **fields: Any) -> Tenant:
    tenant = Tenant(id=uuid.uuid4(), **fields)
    session.add(tenant)
    await _flush_unique_name(session)
    return tenant


async def update(session: AsyncSession, tenant: Tenant, fields: dict[str, Any]) -> None:
    for key, value in fields.items():
        setattr(tenant, key, value)
    await _flush_unique_name(session)
    # The flush expired the database-set `updated_at`; load it now, not lazily in a response.
    await session.refresh(tenant)


async def delete(session: AsyncSession, tenant: Tenant) -> None:
    await session.delete(tenant)
    await session.flush()


async def _flush_unique_name(session: AsyncSession) -> None:
    try:
        async with session.begin_nested():
            await session.flush()
    except IntegrityError as exc:
        raise Conflict("a tenant with this name exists", code="TENANT_NAME_TAKEN") from exc
