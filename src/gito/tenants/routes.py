from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path
from sqlalchemy.ext.asyncio import AsyncSession

from gito.api.deps import CurrentUser, SessionDep, TenantScope, requires
from gito.api.schemas import Envelope, PageEnvelope, ok, page
from gito.audit import service as audit
from gito.auth.permissions import Permission
from gito.auth.principal import Principal
from gito.db.engine import enable_platform_scope
from gito.db.pagination import PageQuery, PerPageQuery, paginate
from gito.errors import Conflict
from gito.tenants import service
from gito.tenants.schemas import TenantCreate, TenantOut, TenantUpdate

router = APIRouter(prefix="/tenants", tags=["tenants"])

TenantIdPath = Annotated[uuid.UUID, Path()]


async def platform_session(principal: CurrentUser, session: SessionDep) -> AsyncSession:
    """SUPER_ADMIN platform work: the session may see every tenant row. The audit rows of
    these actions land in the super-admin's own tenant."""
    principal.require(Permission.TENANTS_MANAGE)
    await enable_platform_scope(session)
    return session


PlatformSession = Annotated[AsyncSession, Depends(platform_session)]


def _out(tenant: Any) -> dict[str, Any]:
    return TenantOut.model_validate(tenant).model_dump(mode="json")


async def _audit(
    session: AsyncSession,
    principal: Principal,
    action: str,
    tenant_id: uuid.UUID,
    changes: dict[str, Any],
) -> None:
    await audit.record(
        session,
        principal,
        tenant_id=principal.tenant_id,
        action=action,
        entity_type="tenant",
        entity_id=tenant_id,
        changes=changes,
    )


@router.get("", operation_id="list_tenants", response_model=PageEnvelope[TenantOut])
async def list_tenants(
    session: PlatformSession, page_number: PageQuery = 1, per_page: PerPageQuery = 20
) -> Any:
    rows, total = await paginate(session, service.listing(), page=page_number, per_page=per_page)
    return page([_out(t) for t in rows], page=page_number, per_page=per_page, total=total)


@router.post("", operation_id="create_tenant", status_code=201, response_model=Envelope[TenantOut])
async def create_tenant(
    body: TenantCreate, session: PlatformSession, principal: CurrentUser
) -> Any:
    tenant = await service.create(session, **body.model_dump())
    await _audit(session, principal, "tenant.create", tenant.id, body.model_dump())
    return ok(_out(tenant), status_code=201)


@router.get(
    "/{tenant_id}",
    operation_id="get_tenant",
    response_model=Envelope[TenantOut],
    dependencies=[requires(Permission.TENANT_READ)],
)
async def get_tenant(scope: TenantScope) -> Any:
    return ok(_out(await service.get(scope.session, scope.tenant_id)))


@router.patch("/{tenant_id}", operation_id="update_tenant", response_model=Envelope[TenantOut])
async def update_tenant(
    tenant_id: TenantIdPath, body: TenantUpdate, session: PlatformSession, principal: CurrentUser
) -> Any:
    tenant = await service.get(session, tenant_id)
    fields = body.model_dump(exclude_unset=True)
    if tenant_id == principal.tenant_id and fields.get("is_active") is False:
        # Deactivating it would lock the super-admin out, as deleting it would.
        raise Conflict("a super-admin cannot deactivate their own tenant", code="TENANT_IN_USE")
    before = {k: getattr(tenant, k) for k in fields}
    await service.update(session, tenant, fields)
    await _audit(session, principal, "tenant.update", tenant.id, audit.diff(before, fields))
    return ok(_out(tenant))


@router.delete("/{tenant_id}", operation_id="delete_tenant", status_code=204)
async def delete_tenant(
    tenant_id: TenantIdPath, session: PlatformSession, principal: CurrentUser
) -> None:
    if tenant_id == principal.tenant_id:
        raise Conflict("a super-admin cannot delete their own tenant", code="TENANT_IN_USE")
    tenant = await service.get(session, tenant_id)
    await service.delete(session, tenant)
    await _audit(session, principal, "tenant.delete", tenant_id, {"name": tenant.name})
