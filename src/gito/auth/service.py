"""Login, refresh-token rotation with reuse detection, logout."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import text, update
from sqlalchemy.ext.asyncio import AsyncSession

from gito.auth.security import (
    hash_password,
    issue_access_token,
    needs_rehash,
    new_secret,
    secret_hash,
    verify_password,
)
from gito.config import Settings
from gito.db.engine import set_tenant
from gito.db.models import RefreshToken, Tenant, User
from gito.errors import Unauthorized

REFRESH_TOKEN_PREFIX = "grt"


async def authenticate(session: AsyncSession, email: str, password: str) -> User | None:
    """The active user with this e-mail and password, or None. Costs one argon2 verification
    whether or not the e-mail exists, so timing does not reveal accounts."""
    row = (
        await session.execute(
            text("SELECT user_id, tenant_id FROM gito_login_lookup(:e)"), {"e": email}
        )
    ).one_or_none()
    user: User | None = None
    if row is not None:
        await set_tenant(session, row.tenant_id)
        user = await session.get(User, row.user_id)
        tenant = await session.get(Tenant, row.tenant_id)
        if tenant is None or not tenant.is_active:
            user = None
    if not verify_password(user.password_hash if user else None, password):
        return None
    if user is None or not user.is_active:
        return None
    if needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
    user.last_login_at = datetime.now(UTC)
    return user


async def issue_tokens(
    session: AsyncSession, settings: Settings, user: User, family_id: uuid.UUID | None = None
) -> dict[str, Any]:
    access, expires_in = issue_access_token(
        settings, user_id=user.id, tenant_id=user.tenant_id, role=user.role
    )
    refresh = new_secret(REFRESH_TOKEN_PREFIX)
    session.add(
        RefreshToken(
            id=uuid.uuid4(),
            tenant_id=user.tenant_id,
            user_id=user.id,
            family_id=family_id or uuid.uuid4(),
            token_hash=secret_hash(refresh),
            expires_at=datetime.now(UTC) + timedelta(days=settings.jwt_refresh_expiration_days),
        )
    )
    await session.flush()
    return {
        "access_token": access,
        "refresh_token": refresh,
        "token_type": "bearer",
        "expires_in": expires_in,
    }


async def _find_refresh(session: AsyncSession, token: str) -> RefreshToken | None:
    row = (
        await session.execute(
            text("SELECT token_id, tenant_id FROM gito_resolve_refresh_token(:h)"),
            {"h": secret_hash(token)},
        )
    ).one_or_none()
    if row is None:
        return None
    await set_tenant(session, row.tenant_id)
    # Locked until this transaction ends: of two concurrent refreshes with one token, the
    # second waits and then sees it used (reuse detection), instead of both succeeding.
    return await session.get(RefreshToken, row.token_id, with_for_update=True)


async def revoke_family(session: AsyncSession, family_id: uuid.UUID) -> None:
    await session.execute(
        update(RefreshToken)
        .where(RefreshToken.family_id == family_id, RefreshToken.revoked_at.is_(None))
        .values(revoked_at=datetime.now(UTC))
    )


class RefreshReused(Unauthorized):
    code = "REFRESH_TOKEN_REUSED"


async def rotate(
    session: AsyncSession, settings: Settings, token: str
) -> tuple[User, dict[str, Any]]:
    """Exchange a refresh token for a new pair. A token presented a second time means it was
    stolen (or the client is broken): the whole family is revoked and the caller must log in.
    The revocation is committed by the caller even though this raises."""
    stored = await _find_refresh(session, token)
    now = datetime.now(UTC)
    if stored is None or stored.expires_at <= now:
        raise Unauthorized("invalid or expired refresh token", code="INVALID_REFRESH_TOKEN")
    if stored.used_at is not None or stored.revoked_at is not None:
        await revoke_family(session, stored.family_id)
        raise RefreshReused(
            "refresh token was already used; all sessions of this login are revoked"
        )
    stored.used_at = now
    user = await session.get(User, stored.user_id)
    tenant = await session.get(Tenant, stored.tenant_id)
    # Login refuses inactive users and tenants; a refresh must not be a way around that.
    if user is None or not user.is_active or tenant is None or not tenant.is_active:
        raise Unauthorized("user is unknown or inactive", code="INVALID_REFRESH_TOKEN")
    tokens = await issue_tokens(session, settings, user, family_id=stored.family_id)
    return user, tokens


async def logout(session: AsyncSession, token: str) -> User | None:
    stored = await _find_refresh(session, token)
    if stored is None:
        return None
    await revoke_family(session, stored.family_id)
    return await session.get(User, stored.user_id)
