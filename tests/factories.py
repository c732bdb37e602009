"""Builders for test tenants, users, sites and devices, written through the real services
(and so through RLS) rather than raw SQL."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

from gito.audit import service as audit
from gito.auth.permissions import Role
from gito.auth.security import issue_access_token
from gito.config import Settings
from gito.db.engine import (
    enable_platform_scope,
    set_tenant,
    tenant_transaction,
    unscoped_transaction,
)
from gito.db.models import Site
from gito.devices import service as devices
from gito.tenants import service as tenants
from gito.users import service as users

PASSWORD = "correct horse battery staple"


@dataclass
class Actor:
    user_id: uuid.UUID
    tenant_id: uuid.UUID
    email: str
    role: Role
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


@dataclass
class TenantFixture:
    id: uuid.UUID
    name: str
    admin: Actor
    extra: dict[str, Any] = field(default_factory=dict)

    def url(self, path: str = "") -> str:
        return f"/api/v1/tenants/{self.id}{path}"


class Factory:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    async def tenant(self, *, admin_role: Role = Role.TENANT_ADMIN, **fields: Any) -> TenantFixture:
        name = fields.pop("name", None) or f"tenant-{uuid.uuid4().hex[:10]}"
        async with unscoped_transaction() as session:
            await enable_platform_scope(session)
            tenant = await tenants.create(session, name=name, **fields)
        t = TenantFixture(tenant.id, name, admin=None)  # type: ignore[arg-type]
        t.admin = await self.user(t, admin_role)
        return t

    async def bare_tenant(self, **fields: Any) -> uuid.UUID:
        """A tenant without users: cheaper than `tenant` (no password hashing)."""
        name = fields.pop("name", None) or f"bare-{uuid.uuid4().hex[:10]}"
        async with unscoped_transaction() as session:
            await enable_platform_scope(session)
            return (await tenants.create(session, name=name, **fields)).id

    async def user(
        self,
        tenant: TenantFixture,
        role: Role,
        *,
        site_ids: list[uuid.UUID] | None = None,
        password: str = PASSWORD,
        email: str | None = None,
    ) -> Actor:
        email = email or f"{role.value.lower()}-{uuid.uuid4().hex[:10]}@example.com"
        async with tenant_transaction(tenant.id) as session:
            user, _ = await users.create(
                session,
                tenant_id=tenant.id,
                email=email,
                password=password,
                role=role,
                site_ids=site_ids or [],
            )
        token, _ = issue_access_token(
            self.settings, user_id=user.id, tenant_id=tenant.id, role=role
        )
        return Actor(user.id, tenant.id, email, role, token)

    async def site(self, tenant: TenantFixture, name: str | None = None) -> uuid.UUID:
        async with tenant_transaction(tenant.id) as session:
            site = Site(
                id=uuid.uuid4(), tenant_id=tenant.id, name=name or f"site-{uuid.uuid4().hex[:8]}"
            )
            session.add(site)
            await session.flush()
            return site.id

    async def device(self, tenant: TenantFixture, **fields: Any) -> tuple[uuid.UUID, str]:
        fields.setdefault("name", f"dev-{uuid.uuid4().hex[:8]}")
        fields.setdefault("device_type", "sensor")
        async with tenant_transaction(tenant.id) as session:
            device, token = await devices.create(session, tenant.id, fields)
            await audit.record(
                session,
                None,
                tenant_id=tenant.id,
                action="device.create",
                entity_type="device",
                entity_id=device.id,
            )
            return device.id, token


__all__ = ["PASSWORD", "Actor", "Factory", "TenantFixture", "set_tenant"]
