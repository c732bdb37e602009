from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import delete, func, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from gito.auth.permissions import SITE_SCOPED_ROLES, Role
from gito.auth.principal import Principal
from gito.auth.security import hash_password
from gito.db.models import Site, User, UserSite
from gito.db.pagination import contains_pattern
from gito.errors import Conflict, Forbidden, InvalidInput, NotFound


def listing(role: Role | None = None, q: str | None = None) -> Any:
    query = select(User).order_by(User.email)
    if role:
        query = query.where(User.role == role)
    if q:
        query = query.where(User.email.ilike(contains_pattern(q)))
    return query


async def get(session: AsyncSession, user_id: uuid.UUID, *, for_update: bool = False) -> User:
    """`for_update` locks the row for a write, so concurrent writes queue."""
    user = await session.get(User, user_id, with_for_update=for_update)
    if user is None:
        raise NotFound("user not found", code="USER_NOT_FOUND")
    return user


async def site_ids_of(
    session: AsyncSession, user_ids: list[uuid.UUID]
) -> dict[uuid.UUID, list[uuid.UUID]]:
    rows = await session.execute(
        select(UserSite.user_id, UserSite.site_id).where(UserSite.user_id.in_(user_ids))
    )
    result: dict[uuid.UUID, list[uuid.UUID]] = {uid: [] for uid in user_ids}
    for user_id, site_id in rows:
        result[user_id].append(site_id)
    return result


def check_may_grant(actor: Principal, role: Role) -> None:
    """Only a super-admin makes super-admins; nobody grants more than they hold."""
    if role is Role.SUPER_ADMIN and actor.role is not Role.SUPER_ADMIN:
        raise Forbidden("only a SUPER_ADMIN may grant SUPER_ADMIN", code="ROLE_FORBIDDEN")


async def _set_sites(
    session: AsyncSession, user: User, role: Role, site_ids: list[uuid.UUID]
) -> list[uuid.UUID]:
    if site_ids and role not in SITE_SCOPED_ROLES:
        raise InvalidInput(
            "site_ids apply only to SITE_ADMIN and CLIENT users", code="SITES_NOT_APPLICABLE"
        )
    unique = list(dict.fromkeys(site_ids))
    if unique:
        found = set((await session.execute(select(Site.id).where(Site.id.in_(unique)))).scalars())
        missing = [str(s) for s in unique if s not in found]
        if missing:
            raise InvalidInput(
                "unknown site ids", code="SITE_NOT_FOUND", details={"site_ids": missing}
            )
    await session.execute(delete(UserSite).where(UserSite.user_id == user.id))
    session.add_all(UserSite(user_id=user.id, site_id=s, tenant_id=user.tenant_id) for s in unique)
    await session.flush()
    return unique


async def create(
    session: AsyncSession,
    *,
    tenant_id: uuid.UUID,
    email: str,
    password: str,
    role: Role,
    full_name: str | None = None,
    site_ids: list[uuid.UUID] | None = None,
) -> tuple[User, list[uuid.UUID]]:
    user = User(
        id=uuid.uuid4(),
        tenant_id=tenant_id,
        email=email.lower(),
        password_hash=hash_password(password),
        role=role.value,
        full_name=full_name,
    )
    session.add(user)
    try:
        async with session.begin_nested():
            await session.flush()
    except IntegrityError as exc:
        raise Conflict("a user with this e-mail exists", code="EMAIL_TAKEN") from exc
    sites = await _set_sites(session, user, role, site_ids or [])
    return user, sites


async def update(
    session: AsyncSession, user: User, fields: dict[str, Any]
) -> list[uuid.UUID] | None:
    """Apply changed fields; returns the new site list when it changed."""
    password = fields.pop("password", None)
    if password is not None:
        user.password_hash = hash_password(password)
    site_ids = fields.pop("site_ids", None)
    for key, value in fields.items():
        setattr(user, key, value.value if isinstance(value, Role) else value)
    role = Role(user.role)
    if site_ids is not None:
        return await _set_sites(session, user, role, site_ids)
    if role not in SITE_SCOPED_ROLES:
        await session.execute(delete(UserSite).where(UserSite.user_id == user.id))
    await session.flush()
    return None


ADMIN_ROLES = (Role.SUPER_ADMIN.value, Role.TENANT_ADMIN.value)


def is_active_admin(user: User) -> bool:
    return user.is_active and user.role in ADMIN_ROLES


async def ensure_admin_remains(session: AsyncSession, user: User) -> None:
    """Refuse (409 LAST_ADMIN) a change that would leave the user's tenant without an active
    admin: demoting, deactivating or deleting its last one. A per-tenant advisory lock
    serialises such changes, so two admins demoting each other cannot both succeed."""
    await session.execute(
        text("SELECT pg_advisory_xact_lock(hashtext('gito:admins:' || :tenant))"),
        {"tenant": str(user.tenant_id)},
    )
    others = await session.scalar(
        select(func.count())
        .select_from(User)
        .where(User.id != user.id, User.is_active, User.role.in_(ADMIN_ROLES))
    )
    if not others:
        raise Conflict(
            "the tenant's last active admin cannot be demoted, deactivated or deleted;"
            " make another user TENANT_ADMIN first",
            code="LAST_ADMIN",
        )
