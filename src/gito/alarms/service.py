"""Alert rules and alarms: queries, validation against the tenant's rows, lifecycle actions.
Services never commit; live events go out with the request's transaction."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError
from sqlalchemy import Select, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from gito.alarms.engine import alarm_event
from gito.alarms.schemas import RuleCreate
from gito.auth.principal import Principal
from gito.db.engine import driver_connection
from gito.db.models import Alarm, AlarmEvent, AlertRule, Device, Site
from gito.errors import Conflict, Forbidden, InvalidInput, NotFound
from gito.events.bus import notify_in_transaction

# --- rules ---------------------------------------------------------------------------------


def rule_out(rule: AlertRule) -> dict[str, Any]:
    """The API form: the first threshold is the `condition`, the others the `escalation`."""
    condition: dict[str, Any] | None = None
    escalation: list[dict[str, Any]] = []
    if rule.kind == "threshold" and rule.thresholds:
        first, *rest = rule.thresholds
        condition = {"field": rule.field, "operator": first["operator"], "value": first["value"]}
        escalation = rest
    clear = dict(rule.clear_condition) if rule.clear_condition else None
    return {
        "id": str(rule.id),
        "name": rule.name,
        "description": rule.description,
        "kind": rule.kind,
        "device_id": str(rule.device_id) if rule.device_id else None,
        "device_type": rule.device_type,
        "site_id": str(rule.site_id) if rule.site_id else None,
        "condition": condition,
        "severity": rule.severity,
        "escalation": escalation,
        "duration_s": rule.duration_s,
        "clear_condition": clear,
        "cooldown_s": rule.cooldown_s,
        "no_data_s": rule.no_data_s,
        "no_data_factor": rule.no_data_factor,
        "enabled": rule.enabled,
        "created_at": rule.created_at.isoformat(),
        "updated_at": rule.updated_at.isoformat(),
    }


def rule_input(rule: AlertRule) -> dict[str, Any]:
    """The rule as a create body, for merging a PATCH into it."""
    out = rule_out(rule)
    for key in ("id", "created_at", "updated_at"):
        out.pop(key)
    if out["clear_condition"] is not None:
        out["clear_condition"] = {
            k: v for k, v in out["clear_condition"].items() if k in ("operator", "value")
        }
    return out


def validated(fields: dict[str, Any]) -> RuleCreate:
    try:
        return RuleCreate.model_validate(fields)
    except ValidationError as exc:
        details = [
            {"loc": list(e["loc"]), "msg": e["msg"], "type": e["type"]} for e in exc.errors()
        ]
        raise InvalidInput(
            "the alert rule is invalid", code="VALIDATION_ERROR", details=details
        ) from None


async def check_scope(session: AsyncSession, principal: Principal, body: RuleCreate) -> None:
    """The scope's device or site must be the tenant's (RLS hides others: 422, not a foreign
    key hit across tenants), and a site-scoped admin may only scope rules inside their sites."""
    site: uuid.UUID | None = None
    if body.device_id is not None:
        device = await session.get(Device, body.device_id)
        if device is None or not principal.sees_site(device.site_id):
            raise InvalidInput("device not found", code="DEVICE_NOT_FOUND")
        site = device.site_id
    elif body.site_id is not None:
        if await session.get(Site, body.site_id) is None or not principal.sees_site(body.site_id):
            raise InvalidInput("site not found", code="SITE_NOT_FOUND")
        site = body.site_id
    if principal.site_ids is not None and site is None:
        raise Forbidden(
            "a site-scoped user may only write rules for a device or site of theirs",
            code="RULE_SCOPE_FORBIDDEN",
        )


def apply(rule: AlertRule, body: RuleCreate) -> None:
    rule.name = body.name
    rule.description = body.description
    rule.kind = body.kind
    rule.device_id = body.device_id
    rule.device_type = body.device_type
    rule.site_id = body.site_id
    rule.severity = body.severity.value
    rule.duration_s = body.duration_s
    rule.cooldown_s = body.cooldown_s
    rule.no_data_s = body.no_data_s
    rule.no_data_factor = body.no_data_factor
    rule.enabled = body.enabled
    if body.condition is not None:
        rule.field = body.condition.field
        rule.thresholds = [
            {
                "operator": body.condition.operator,
                "value": body.condition.value,
                "severity": body.severity.value,
            },
            *(
                {"operator": t.operator, "value": t.value, "severity": t.severity.value}
                for t in body.escalation
            ),
        ]
    else:
        rule.field = None
        rule.thresholds = []
    rule.clear_condition = (
        {
            "field": rule.field,
            "operator": body.clear_condition.operator,
            "value": body.clear_condition.value,
        }
        if body.clear_condition
        else None
    )


def _rule_visible(principal: Principal) -> Any:
    """Site-scoped users see rules of their sites and devices, and tenant- or type-wide ones
    (those apply to their devices too)."""
    sites = list(principal.site_ids or ())
    return or_(
        AlertRule.site_id.in_(sites),
        AlertRule.device_id.in_(select(Device.id).where(Device.site_id.in_(sites))),
        (AlertRule.site_id.is_(None) & AlertRule.device_id.is_(None)),
    )


def rules_listing(
    principal: Principal, enabled: bool | None, device_id: uuid.UUID | None, q: str | None
) -> Select[AlertRule]:
    query = select(AlertRule).order_by(AlertRule.name, AlertRule.id)
    if principal.site_ids is not None:
        query = query.where(_rule_visible(principal))
    if enabled is not None:
        query = query.where(AlertRule.enabled.is_(enabled))
    if device_id is not None:
        query = query.where(AlertRule.device_id == device_id)
    if q:
        query = query.where(AlertRule.name.ilike(f"%{q.replace('%', '').replace('_', '')}%"))
    return query


async def get_rule(session: AsyncSession, principal: Principal, rule_id: uuid.UUID) -> AlertRule:
    query = select(AlertRule).where(AlertRule.id == rule_id)
    if principal.site_ids is not None:
        query = query.where(_rule_visible(principal))
    rule = (await session.execute(query)).scalar_one_or_none()
    if rule is None:
        raise NotFound("alert rule not found", code="RULE_NOT_FOUND")
    return rule


def require_rule_write(principal: Principal, rule: AlertRule) -> None:
    """A site-scoped admin changes only rules scoped to a device or site of theirs."""
    if principal.site_ids is not None and rule.site_id is None and rule.device_id is None:
        raise Forbidden(
            "a site-scoped user may only change rules of their devices or sites",
            code="RULE_SCOPE_FORBIDDEN",
        )


# --- alarms --------------------------------------------------------------------------------


def alarms_listing(
    principal: Principal,
    *,
    status: list[str] | None = None,
    severity: list[str] | None = None,
    device_id: uuid.UUID | None = None,
    site_id: uuid.UUID | None = None,
    rule_id: uuid.UUID | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> Select[Alarm]:
    query = select(Alarm).order_by(Alarm.first_occurrence.desc(), Alarm.id)
    if principal.site_ids is not None:
        query = query.where(Alarm.site_id.in_(list(principal.site_ids)))
    if status:
        query = query.where(Alarm.status.in_(status))
    if severity:
        query = query.where(Alarm.severity.in_(severity))
    if device_id is not None:
        query = query.where(Alarm.device_id == device_id)
    if site_id is not None:
        query = query.where(Alarm.site_id == site_id)
    if rule_id is not None:
        query = query.where(Alarm.rule_id == rule_id)
    if since is not None:
        query = query.where(Alarm.last_occurrence >= since)
    if until is not None:
        query = query.where(Alarm.first_occurrence < until)
    return query


async def counts(session: AsyncSession, principal: Principal) -> dict[str, int]:
    query = (
        select(Alarm.severity, func.count())
        .where(Alarm.status != "CLEARED")
        .group_by(Alarm.severity)
    )
    if principal.site_ids is not None:
        query = query.where(Alarm.site_id.in_(list(principal.site_ids)))
    result = {"CRITICAL": 0, "MAJOR": 0, "MINOR": 0, "WARNING": 0}
    for severity, n in (await session.execute(query)).all():
        result[severity] = n
    result["total"] = sum(result.values())
    return result


async def get_alarm(
    session: AsyncSession, principal: Principal, alarm_id: uuid.UUID, *, for_update: bool = False
) -> Alarm:
    """`for_update` locks the row: an operator's action and the processor's changes to the
    same alarm then happen one after the other, each seeing the other's result."""
    alarm = await session.get(Alarm, alarm_id, with_for_update=for_update)
    if alarm is None or (
        principal.site_ids is not None and alarm.site_id not in principal.site_ids
    ):
        raise NotFound("alarm not found", code="ALARM_NOT_FOUND")
    return alarm


async def history(session: AsyncSession, alarm_id: uuid.UUID) -> list[AlarmEvent]:
    rows = await session.execute(
        select(AlarmEvent).where(AlarmEvent.alarm_id == alarm_id).order_by(AlarmEvent.id)
    )
    return list(rows.scalars())


async def _record(
    session: AsyncSession, alarm: Alarm, action: str, principal: Principal, comment: str | None
) -> None:
    now = datetime.now(UTC)
    session.add(
        AlarmEvent(
            tenant_id=alarm.tenant_id,
            alarm_id=alarm.id,
            action=action,
            severity=alarm.severity,
            user_id=principal.user_id,
            comment=comment,
            created_at=now,
        )
    )
    await session.flush()
    event = alarm_event(
        action,
        alarm.id,
        alarm.rule_id,
        alarm.device_id,
        alarm.severity,
        alarm.status,
        alarm.count,
        None,
        now,
    )
    await notify_in_transaction(await driver_connection(session), [(alarm.tenant_id, event)])


def check_severity(alarm: Alarm, seen: str | None) -> None:
    if seen is not None and seen != alarm.severity:
        raise Conflict(
            f"the alarm is {alarm.severity} now, not {seen}: look at it again",
            code="ALARM_CHANGED",
            details={"severity": alarm.severity},
        )


async def acknowledge(
    session: AsyncSession, principal: Principal, alarm: Alarm, comment: str | None
) -> None:
    if alarm.status != "ACTIVE":
        raise Conflict(f"the alarm is {alarm.status}", code="ALARM_NOT_ACTIVE")
    alarm.status = "ACKNOWLEDGED"
    alarm.acknowledged_at = datetime.now(UTC)
    alarm.acknowledged_by = principal.user_id
    alarm.ack_comment = comment
    await _record(session, alarm, "acknowledged", principal, comment)


async def clear(
    session: AsyncSession, principal: Principal, alarm: Alarm, comment: str | None
) -> None:
    """Manual clear. The (rule, device)'s breach state restarts, so a still-breaching device
    raises a new alarm (after the rule's duration and cooldown) rather than the old one."""
    if alarm.status == "CLEARED":
        raise Conflict("the alarm is already cleared", code="ALARM_CLEARED")
    now = datetime.now(UTC)
    alarm.status = "CLEARED"
    alarm.cleared_at = now
    alarm.cleared_by = principal.user_id
    alarm.clear_comment = comment
    await _record(session, alarm, "cleared", principal, comment)
    conn = await driver_connection(session)
    await conn.execute(
        """
        INSERT INTO alert_rule_state (rule_id, device_id, tenant_id, breaching_since,
                                      last_cleared_at)
        VALUES ($1, $2, $3, NULL, $4)
        ON CONFLICT (rule_id, device_id) DO UPDATE
        SET breaching_since = NULL, last_cleared_at = EXCLUDED.last_cleared_at
        """,
        alarm.rule_id,
        alarm.device_id,
        alarm.tenant_id,
        now,
    )
