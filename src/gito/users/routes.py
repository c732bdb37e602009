from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter

from gito.api.deps import TenantScope, requires
from gito.api.schemas import Envelope, PageEnvelope, ok, page
from gito.audit import service as audit
from gito.auth.permissions import Permission, Role
from gito.db.models import User
from gito.db.pagination import PageQuery, PerPageQuery, paginate
from gito.errors import Conflict
from gito.users import service
from gito.users.schemas import UserCreate, UserOut, UserUpdate

router = APIRouter(prefix="/tenants/{tenant_id}/users", tags=["users"])


def _out(user: User, site_ids: list[uuid.UUID]) -> dict[str, Any]:
    out = UserOut.model_validate(user)
    out.site_ids = site_ids
    return out.model_dump(mode="json")


@router.get(
    "",
    operation_id="list_users",
    response_model=PageEnvelope[UserOut],
    dependencies=[requires(Permission.USERS_READ)],
)
async def list_users(
    scope: TenantScope,
    page_number: PageQuery = 1,
    per_page: PerPageQuery = 20,
    role: Role | None = None,
    q: str | None = None,
) -> Any:
    rows, total = await paginate(
        scope.session,
        service.listing(role, q[:200] if q else None),
        page=page_number,
        per_page=per_page,
    )
    sites = await service.site_ids_of(scope.session, [u.id for u in rows])
    return page(
        [_out(u, sites[u.id]) for u in rows], page=page_number, per_page=per_page, total=total
    )


@router.post(
    "",
    operation_id="create_user",
    status_code=201,
    response_model=Envelope[UserOut],
    dependencies=[requires(Permission.USERS_WRITE)],
)
async def create_user(body: UserCreate, scope: TenantScope) -> Any:
    service.check_may_grant(scope.principal, body.role)
    user, sites = await service.create(
        scope.session, tenant_id=scope.tenant_id, **body.model_dump()
    )
    await audit.record(
        scope.session,
        scope.principal,
        tenant_id=scope.tenant_id,
        action="user.create",
        entity_type="user",
        entity_id=user.id,
        changes=body.model_dump(exclude={"password"}),
    )
    return ok(_out(user, sites), status_code=201)


@router.get(
    "/{user_id}",
    operation_id="get_user",
    response_model=Envelope[UserOut],
    dependencies=[requires(Permission.USERS_READ)],
)
async def get_user(user_id: uuid.UUID, scope: TenantScope) -> Any:
    user = await service.get(scope.session, user_id)
    sites = await service.site_ids_of(scope.session, [user.id])
    return ok(_out(user, sites[user.id]))


@router.patch(
    "/{user_id}",
    operation_id="update_user",
    response_model=Envelope[UserOut],
    dependencies=[requires(Permission.USERS_WRITE)],
)
async def update_user(user_id: uuid.UUID, body: UserUpdate, scope: TenantScope) -> Any:
    user = await service.get(scope.session, user_id, for_update=True)
    if user_id == scope.principal.user_id and body.is_active is False:
        # Like deleting oneself: it would leave the caller locked out mid-session.
        raise Conflict("you cannot deactivate yourself", code="CANNOT_DEACTIVATE_SELF")
    if body.role is not None:
        service.check_may_grant(scope.principal, body.role)
    if user.role == Role.SUPER_ADMIN and scope.principal.role is not Role.SUPER_ADMIN:
        service.check_may_grant(scope.principal, Role.SUPER_ADMIN)
    fields = body.model_dump(exclude_unset=True)
    stays_admin = (body.role is None or body.role.value in service.ADMIN_ROLES) and (
        body.is_active is not False
    )
    if service.is_active_admin(user) and not stays_admin:
        await service.ensure_admin_remains(scope.session, user)
    before = {k: getattr(user, k) for k in fields if k not in ("password", "site_ids")}
    await service.update(scope.session, user, dict(fields))
    changes = audit.diff(before, {k: v for k, v in fields.items() if k in before})
    if "password" in fields:
        changes["password"] = "changed"
    if "site_ids" in fields:
        changes["site_ids"] = fields["site_ids"]
    await audit.record(
        scope.session,
        scope.principal,
        tenant_id=scope.tenant_id,
        action="user.update",
        entity_type="user",
        entity_id=user.id,
        changes=changes,
    )
    sites = await service.site_ids_of(scope.session, [user.id])
    return ok(_out(user, sites[user.id]))


@router.delete(
    "/{user_id}",
    operation_id="delete_user",
    status_code=204,
    dependencies=[requires(Permission.USERS_WRITE)],
)
async def delete_user(user_id: uuid.UUID, scope: TenantScope) -> None:
    if user_id == scope.principal.user_id:
        raise Conflict("you cannot delete yourself", code="CANNOT_DELETE_SELF")
    user = await service.get(scope.session, user_id, for_update=True)
    if user.role == Role.SUPER_ADMIN:
        service.check_may_grant(scope.principal, Role.SUPER_ADMIN)
    if service.is_active_admin(user):
        await service.ensure_admin_remains(scope.session, user)
    await scope.session.delete(user)
    await audit.record(
        scope.session,
        scope.principal,
        tenant_id=scope.tenant_id,
        action="user.delete",
        entity_type="user",
        entity_id=user_id,
        changes={"email": user.email},
    )
