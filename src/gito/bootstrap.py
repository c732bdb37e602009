"""First start: a tenant named `Default` with one SUPER_ADMIN (DESIGN §2)."""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from sqlalchemy import func, select

from gito.audit import service as audit
from gito.auth.permissions import Role
from gito.db.engine import enable_platform_scope, set_tenant, unscoped_transaction
from gito.db.models import Tenant, User
from gito.tenants import service as tenants
from gito.users import service as users

DEFAULT_TENANT = "Default"


@dataclass(frozen=True)
class CreatedAdmin:
    email: str
    password: str
    generated: bool


async def ensure_first_admin(email: str | None, password: str | None) -> CreatedAdmin | None:
    """Create the Default tenant and its SUPER_ADMIN when the platform has no tenant yet.
    Returns the credentials when it created them (the caller prints generated ones once)."""
    async with unscoped_transaction() as session:
        await enable_platform_scope(session)
        if (await session.execute(select(func.count()).select_from(Tenant))).scalar_one():
            return None
        generated = not (email and password)
        email = email or "admin@gito.local"
        password = password or secrets.token_urlsafe(18)
        tenant = await tenants.create(session, name=DEFAULT_TENANT)
        await set_tenant(session, tenant.id)
        user, _ = await users.create(
            session, tenant_id=tenant.id, email=email, password=password, role=Role.SUPER_ADMIN
        )
        await audit.record(
            session,
            None,
            tenant_id=tenant.id,
            action="platform.bootstrap",
            entity_type="user",
            entity_id=user.id,
            changes={"email": email, "tenant": DEFAULT_TENANT},
        )
    return CreatedAdmin(email, password, generated)


async def create_admin(email: str, password: str, tenant_name: str, role: Role) -> None:
    """`gito create-admin`: a user in the named tenant (created when missing)."""
    async with unscoped_transaction() as session:
        await enable_platform_scope(session)
        tenant = (
            await session.execute(select(Tenant).where(Tenant.name == tenant_name))
        ).scalar_one_or_none()
        if tenant is None:
            tenant = await tenants.create(session, name=tenant_name)
        await set_tenant(session, tenant.id)
        user, _ = await users.create(
            session, tenant_id=tenant.id, email=email, password=password, role=role
        )
        await audit.record(
            session,
            None,
            tenant_id=tenant.id,
            action="user.create",
            entity_type="user",
            entity_id=user.id,
            changes={"email": email, "role": role, "via": "cli"},
        )


DEMO_USER_EMAIL = "demo-fleet@gito.local"


async def ensure_demo_user() -> tuple[str, str] | None:
    """The account `gito up --demo` registers its simulated fleet with: a TENANT_ADMIN of
    `Default` whose password is replaced by a fresh random one on every start (it is only
    ever held in memory by the running demo). None when there is no `Default` tenant."""
    password = secrets.token_urlsafe(24)
    async with unscoped_transaction() as session:
        await enable_platform_scope(session)
        tenant = (
            await session.execute(select(Tenant).where(Tenant.name == DEFAULT_TENANT))
        ).scalar_one_or_none()
        if tenant is None:
            return None
        await set_tenant(session, tenant.id)
        existing = (
            await session.execute(select(User).where(User.email == DEMO_USER_EMAIL))
        ).scalar_one_or_none()
        if existing is None:
            user, _ = await users.create(
                session,
                tenant_id=tenant.id,
                email=DEMO_USER_EMAIL,
                password=password,
                role=Role.TENANT_ADMIN,
                full_name="Demo fleet (gito up --demo)",
            )
            action = "user.create"
        else:
            await users.update(session, existing, {"password": password, "is_active": True})
            user, action = existing, "user.update"
        await audit.record(
            session,
            None,
            tenant_id=tenant.id,
            action=action,
            entity_type="user",
            entity_id=user.id,
            changes={"email": DEMO_USER_EMAIL, "via": "gito up --demo"},
        )
    return DEMO_USER_EMAIL, password
