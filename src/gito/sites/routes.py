from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, Query

from gito.api.deps import TenantScope, requires
from gito.api.schemas import Envelope, PageEnvelope, ok, page
from gito.audit import service as audit
from gito.auth.permissions import Permission
from gito.db.models import Site
from gito.db.pagination import PageQuery, PerPageQuery, paginate
from gito.sites import service
from gito.sites.schemas import SiteCreate, SiteOut, SiteUpdate

router = APIRouter(prefix="/tenants/{tenant_id}/sites", tags=["sites"])


def _out(site: Site) -> dict[str, Any]:
    return SiteOut.model_validate(site).model_dump(mode="json")


@router.get(
    "",
    operation_id="list_sites",
    response_model=PageEnvelope[SiteOut],
    dependencies=[requires(Permission.SITES_READ)],
)
async def list_sites(
    scope: TenantScope,
    page_number: PageQuery = 1,
    per_page: PerPageQuery = 20,
    q: str | None = Query(default=None, max_length=200),
) -> Any:
    rows, total = await paginate(
        scope.session, service.listing(scope.principal, q), page=page_number, per_page=per_page
    )
    return page([_out(s) for s in rows], page=page_number, per_page=per_page, total=total)


@router.post(
    "",
    operation_id="create_site",
    status_code=201,
    response_model=Envelope[SiteOut],
    dependencies=[requires(Permission.SITES_WRITE)],
)
async def create_site(body: SiteCreate, scope: TenantScope) -> Any:
    site = Site(id=uuid.uuid4(), tenant_id=scope.tenant_id)
    service.apply(site, body.model_dump())
    await service.save(scope.session, site)
    await audit.record(
        scope.session,
        scope.principal,
        tenant_id=scope.tenant_id,
        action="site.create",
        entity_type="site",
        entity_id=site.id,
        changes=body.model_dump(),
    )
    return ok(_out(site), status_code=201)


@router.get(
    "/{site_id}",
    operation_id="get_site",
    response_model=Envelope[SiteOut],
    dependencies=[requires(Permission.SITES_READ)],
)
async def get_site(site_id: uuid.UUID, scope: TenantScope) -> Any:
    return ok(_out(await service.get_visible(scope.session, scope.principal, site_id)))


@router.patch(
    "/{site_id}",
    operation_id="update_site",
    response_model=Envelope[SiteOut],
    dependencies=[requires(Permission.SITES_WRITE)],
)
async def update_site(site_id: uuid.UUID, body: SiteUpdate, scope: TenantScope) -> Any:
    site = await service.get_visible(scope.session, scope.principal, site_id, for_update=True)
    fields = body.model_dump(exclude_unset=True)
    before = {k: getattr(site, "metadata_" if k == "metadata" else k) for k in fields}
    service.apply(site, fields)
    await service.save(scope.session, site)
    await audit.record(
        scope.session,
        scope.principal,
        tenant_id=scope.tenant_id,
        action="site.update",
        entity_type="site",
        entity_id=site.id,
        changes=audit.diff(before, fields),
    )
    # The flush expired the database-set `updated_at`; load it before rendering.
    await scope.session.refresh(site)
    return ok(_out(site))


@router.delete(
    "/{site_id}",
    operation_id="delete_site",
    status_code=204,
    dependencies=[requires(Permission.SITES_WRITE)],
)
async def delete_site(site_id: uuid.UUID, scope: TenantScope) -> None:
    site = await service.get_visible(scope.session, scope.principal, site_id, for_update=True)
    await scope.session.delete(site)
    await audit.record(
        scope.session,
        scope.principal,
        tenant_id=scope.tenant_id,
        action="site.delete",
        entity_type="site",
        entity_id=site_id,
        changes={"name": site.name},
    )
