"""The append-only audit trail. Every write path calls `record` inside its own transaction,
so an audit row exists exactly when the change it describes was committed."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from enum import Enum
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession

from gito.api.context import client_ip_var, request_id_var
from gito.auth.principal import Principal
from gito.db.models import AuditLog

# Never written into the trail, whatever the entity.
_SECRET_FIELDS = frozenset({"password", "password_hash", "token", "token_hash", "secret"})


def _jsonable(value: Any) -> Any:
    if isinstance(value, uuid.UUID | datetime | date):
        return str(value)
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_jsonable(v) for v in value]
    return value


def as_utc(moment: datetime) -> datetime:
    """Query times without an offset are read as UTC."""
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def redact(changes: dict[str, Any]) -> dict[str, Any]:
    return {k: ("***" if k in _SECRET_FIELDS else _jsonable(v)) for k, v in changes.items()}


def diff(before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
    """Changed fields as `{field: {"from": old, "to": new}}`."""
    return {k: {"from": before.get(k), "to": v} for k, v in after.items() if before.get(k) != v}


async def record(
    session: AsyncSession,
    actor: Principal | None,
    *,
    tenant_id: uuid.UUID,
    action: str,
    entity_type: str,
    entity_id: uuid.UUID | str | None,
    changes: dict[str, Any] | None = None,
) -> None:
    session.add(
        AuditLog(
            tenant_id=tenant_id,
            actor_id=actor.user_id if actor else None,
            actor_email=actor.email if actor else None,
            action=action,
            entity_type=entity_type,
            entity_id=str(entity_id) if entity_id is not None else None,
            changes=redact(changes or {}),
            client_ip=client_ip_var.get(),
            request_id=request_id_var.get(),
        )
    )
    await session.flush()


def filtered(
    *,
    actor_id: uuid.UUID | None,
    action: str | None,
    entity_type: str | None,
    entity_id: str | None,
    since: datetime | None,
    until: datetime | None,
) -> Select[AuditLog]:
    query = select(AuditLog)
    if actor_id:
        query = query.where(AuditLog.actor_id == actor_id)
    if action:
        query = query.where(AuditLog.action == action)
    if entity_type:
        query = query.where(AuditLog.entity_type == entity_type)
    if entity_id:
        query = query.where(AuditLog.entity_id == entity_id)
    if since:
        query = query.where(AuditLog.created_at >= as_utc(since))
    if until:
        query = query.where(AuditLog.created_at < as_utc(until))
    return query.order_by(AuditLog.created_at.desc(), AuditLog.id.desc())
