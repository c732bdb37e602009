from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query

from gito.api.deps import TenantScope, requires
from gito.api.schemas import PageEnvelope, page
from gito.audit import service
from gito.audit.schemas import AuditEntryOut
from gito.auth.permissions import Permission
from gito.db.pagination import PageQuery, PerPageQuery, paginate

router = APIRouter(prefix="/tenants/{tenant_id}/audit-log", tags=["audit"])


@router.get(
    "",
    operation_id="list_audit_log",
    response_model=PageEnvelope[AuditEntryOut],
    dependencies=[requires(Permission.AUDIT_READ)],
)
async def list_audit_log(
    scope: TenantScope,
    page_number: PageQuery = 1,
    per_page: PerPageQuery = 50,
    actor_id: uuid.UUID | None = None,
    action: Annotated[str | None, Query(max_length=64, examples=["device.create"])] = None,
    entity_type: Annotated[str | None, Query(max_length=64)] = None,
    entity_id: Annotated[str | None, Query(max_length=64)] = None,
    since: Annotated[datetime | None, Query(alias="from")] = None,
    until: Annotated[datetime | None, Query(alias="to")] = None,
) -> Any:
    """Newest first. Entries are append-only: nobody, not even the platform, edits them."""
    query = service.filtered(
        actor_id=actor_id,
        action=action,
        entity_type=entity_type,
        entity_id=entity_id,
        since=since,
        until=until,
    )
    rows, total = await paginate(scope.session, query, page=page_number, per_page=per_page)
    return page(
        [AuditEntryOut.model_validate(r).model_dump(mode="json") for r in rows],
        page=page_number,
        per_page=per_page,
        total=total,
    )
