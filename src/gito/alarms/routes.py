from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query

from gito.alarms import service
from gito.alarms.schemas import (
    AlarmAction,
    AlarmCounts,
    AlarmEventOut,
    AlarmOut,
    AlarmStatus,
    RuleCreate,
    RuleOut,
    RuleUpdate,
    Severity,
)
from gito.api.deps import TenantScope, requires
from gito.api.schemas import Envelope, PageEnvelope, ok, page
from gito.audit import service as audit
from gito.audit.service import as_utc
from gito.auth.permissions import Permission
from gito.db.models import Alarm, AlertRule
from gito.db.pagination import PageQuery, PerPageQuery, paginate

rules_router = APIRouter(prefix="/tenants/{tenant_id}/alert-rules", tags=["alarms"])
alarms_router = APIRouter(prefix="/tenants/{tenant_id}/alarms", tags=["alarms"])
router = APIRouter()


def _alarm(alarm: Alarm) -> dict[str, Any]:
    return AlarmOut.model_validate(alarm).model_dump(mode="json")


@rules_router.get(
    "",
    operation_id="list_alert_rules",
    response_model=PageEnvelope[RuleOut],
    dependencies=[requires(Permission.ALARMS_READ)],
)
async def list_rules(
    scope: TenantScope,
    page_number: PageQuery = 1,
    per_page: PerPageQuery = 20,
    enabled: bool | None = None,
    device_id: uuid.UUID | None = None,
    q: Annotated[str | None, Query(max_length=200)] = None,
) -> Any:
    rows, total = await paginate(
        scope.session,
        service.rules_listing(scope.principal, enabled, device_id, q),
        page=page_number,
        per_page=per_page,
    )
    return page(
        [service.rule_out(r) for r in rows], page=page_number, per_page=per_page, total=total
    )


@rules_router.post(
    "",
    operation_id="create_alert_rule",
    status_code=201,
    response_model=Envelope[RuleOut],
    dependencies=[requires(Permission.RULES_WRITE)],
)
async def create_rule(body: RuleCreate, scope: TenantScope) -> Any:
    """Create a rule; it applies to the next batch the processor writes."""
    await service.check_scope(scope.session, scope.principal, body)
    rule = AlertRule(id=uuid.uuid4(), tenant_id=scope.tenant_id)
    service.apply(rule, body)
    scope.session.add(rule)
    await scope.session.flush()
    await scope.session.refresh(rule)
    out = service.rule_out(rule)
    await audit.record(
        scope.session,
        scope.principal,
        tenant_id=scope.tenant_id,
        action="alert_rule.create",
        entity_type="alert_rule",
        entity_id=rule.id,
        changes=body.model_dump(mode="json"),
    )
    return ok(out, status_code=201)


@rules_router.get(
    "/{rule_id}",
    operation_id="get_alert_rule",
    response_model=Envelope[RuleOut],
    dependencies=[requires(Permission.ALARMS_READ)],
)
async def get_rule(rule_id: uuid.UUID, scope: TenantScope) -> Any:
    return ok(service.rule_out(await service.get_rule(scope.session, scope.principal, rule_id)))


@rules_router.patch(
    "/{rule_id}",
    operation_id="update_alert_rule",
    response_model=Envelope[RuleOut],
    dependencies=[requires(Permission.RULES_WRITE)],
)
async def update_rule(rule_id: uuid.UUID, body: RuleUpdate, scope: TenantScope) -> Any:
    """Change fields of a rule; the merged rule is validated as on create."""
    rule = await service.get_rule(scope.session, scope.principal, rule_id)
    service.require_rule_write(scope.principal, rule)
    fields = body.model_dump(mode="json", exclude_unset=True)
    merged = service.validated({**service.rule_input(rule), **fields})
    await service.check_scope(scope.session, scope.principal, merged)
    service.apply(rule, merged)
    await scope.session.flush()
    await scope.session.refresh(rule)
    await audit.record(
        scope.session,
        scope.principal,
        tenant_id=scope.tenant_id,
        action="alert_rule.update",
        entity_type="alert_rule",
        entity_id=rule.id,
        changes=fields,
    )
    return ok(service.rule_out(rule))


@rules_router.delete(
    "/{rule_id}",
    operation_id="delete_alert_rule",
    status_code=204,
    dependencies=[requires(Permission.RULES_WRITE)],
)
async def delete_rule(rule_id: uuid.UUID, scope: TenantScope) -> None:
    """Delete a rule and, with it, its alarms and their history."""
    rule = await service.get_rule(scope.session, scope.principal, rule_id)
    service.require_rule_write(scope.principal, rule)
    await scope.session.delete(rule)
    await audit.record(
        scope.session,
        scope.principal,
        tenant_id=scope.tenant_id,
        action="alert_rule.delete",
        entity_type="alert_rule",
        entity_id=rule_id,
        changes={"name": rule.name},
    )


@alarms_router.get(
    "",
    operation_id="list_alarms",
    response_model=PageEnvelope[AlarmOut],
    dependencies=[requires(Permission.ALARMS_READ)],
)
async def list_alarms(
    scope: TenantScope,
    page_number: PageQuery = 1,
    per_page: PerPageQuery = 20,
    status: Annotated[list[AlarmStatus] | None, Query()] = None,
    severity: Annotated[list[Severity] | None, Query()] = None,
    device_id: uuid.UUID | None = None,
    site_id: uuid.UUID | None = None,
    rule_id: uuid.UUID | None = None,
    since: Annotated[
        datetime | None, Query(alias="from", description="Alarms still occurring from then.")
    ] = None,
    until: Annotated[
        datetime | None, Query(alias="to", description="Alarms raised before.")
    ] = None,
) -> Any:
    """Alarms, newest first; `status` and `severity` may repeat."""
    query = service.alarms_listing(
        scope.principal,
        status=[s.value for s in status] if status else None,
        severity=[s.value for s in severity] if severity else None,
        device_id=device_id,
        site_id=site_id,
        rule_id=rule_id,
        since=as_utc(since) if since else None,
        until=as_utc(until) if until else None,
    )
    rows, total = await paginate(scope.session, query, page=page_number, per_page=per_page)
    return page([_alarm(a) for a in rows], page=page_number, per_page=per_page, total=total)


@alarms_router.get(
    "/counts",
    operation_id="count_alarms",
    response_model=Envelope[AlarmCounts],
    dependencies=[requires(Permission.ALARMS_READ)],
)
async def count_alarms(scope: TenantScope) -> Any:
    """Open alarms per severity, for the dashboard."""
    return ok(await service.counts(scope.session, scope.principal))


@alarms_router.get(
    "/{alarm_id}",
    operation_id="get_alarm",
    response_model=Envelope[AlarmOut],
    dependencies=[requires(Permission.ALARMS_READ)],
)
async def get_alarm(alarm_id: uuid.UUID, scope: TenantScope) -> Any:
    return ok(_alarm(await service.get_alarm(scope.session, scope.principal, alarm_id)))


@alarms_router.get(
    "/{alarm_id}/history",
    operation_id="get_alarm_history",
    response_model=Envelope[list[AlarmEventOut]],
    dependencies=[requires(Permission.ALARMS_READ)],
)
async def get_history(alarm_id: uuid.UUID, scope: TenantScope) -> Any:
    """What happened to the alarm: raised, escalated, acknowledged, cleared (who, when)."""
    alarm = await service.get_alarm(scope.session, scope.principal, alarm_id)
    events = await service.history(scope.session, alarm.id)
    return ok([AlarmEventOut.model_validate(e).model_dump(mode="json") for e in events])


async def _act(alarm_id: uuid.UUID, body: AlarmAction | None, scope: Any, action: str) -> Any:
    alarm = await service.get_alarm(scope.session, scope.principal, alarm_id, for_update=True)
    comment = body.comment if body else None
    service.check_severity(alarm, body.severity.value if body and body.severity else None)
    if action == "acknowledge":
        await service.acknowledge(scope.session, scope.principal, alarm, comment)
    else:
        await service.clear(scope.session, scope.principal, alarm, comment)
    await scope.session.flush()
    await scope.session.refresh(alarm)
    await audit.record(
        scope.session,
        scope.principal,
        tenant_id=scope.tenant_id,
        action=f"alarm.{action}",
        entity_type="alarm",
        entity_id=alarm.id,
        changes={"comment": comment},
    )
    return ok(_alarm(alarm))


@alarms_router.post(
    "/{alarm_id}/acknowledge",
    operation_id="acknowledge_alarm",
    response_model=Envelope[AlarmOut],
    dependencies=[requires(Permission.ALARMS_ACK)],
)
async def acknowledge_alarm(
    alarm_id: uuid.UUID, scope: TenantScope, body: AlarmAction | None = None
) -> Any:
    """ACTIVE → ACKNOWLEDGED, recording who, when and the comment (409 otherwise; 409
    ALARM_CHANGED when `severity` is given and the alarm has another one now)."""
    return await _act(alarm_id, body, scope, "acknowledge")


@alarms_router.post(
    "/{alarm_id}/clear",
    operation_id="clear_alarm",
    response_model=Envelope[AlarmOut],
    dependencies=[requires(Permission.ALARMS_ACK)],
)
async def clear_alarm(
    alarm_id: uuid.UUID, scope: TenantScope, body: AlarmAction | None = None
) -> Any:
    """Clear an open alarm by hand (409 when already cleared)."""
    return await _act(alarm_id, body, scope, "clear")


router.include_router(rules_router)
router.include_router(alarms_router)
