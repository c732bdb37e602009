"""Notification channels: validation against the tenant's rows and the platform's limits,
the API form, test and manual redelivery. Services never commit."""

from __future__ import annotations

import secrets
import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from gito.config import Settings
from gito.db.models import Site
from gito.errors import Conflict, InvalidInput, NotFound
from gito.notifications.models import NotificationChannel, NotificationDelivery
from gito.notifications.notifier import CHANNEL
from gito.notifications.schemas import ChannelCreate
from gito.notifications.targets import literal_refused


def channel_out(channel: NotificationChannel, *, secret: str | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": str(channel.id),
        "name": channel.name,
        "type": channel.type,
        "enabled": channel.enabled,
        "url": channel.url,
        "to": list(channel.recipients) if channel.type == "email" else None,
        "has_secret": channel.secret is not None,
        "min_severity": channel.min_severity,
        "site_ids": [str(s) for s in channel.site_ids],
        "events": list(channel.events),
        "created_at": channel.created_at.isoformat(),
        "updated_at": channel.updated_at.isoformat(),
    }
    if secret is not None:
        out["secret"] = secret
    return out


def new_secret() -> str:
    return secrets.token_urlsafe(32)


def default_name(body: ChannelCreate) -> str:
    if body.type == "webhook":
        return f"webhook {body.url.host if body.url else ''}".strip()[:200]
    return f"e-mail {', '.join(body.to or [])}"[:200]


async def check(
    session: AsyncSession, settings: Settings, kind: str, fields: dict[str, Any]
) -> None:
    """What a valid body can still get wrong: sites of another tenant, a webhook into the
    platform's own network, e-mail without an SMTP server."""
    if kind == "email" and not settings.smtp_host:
        raise InvalidInput(
            "e-mail channels need an SMTP server: set SMTP_HOST (docs/NOTIFICATIONS.md)",
            code="SMTP_NOT_CONFIGURED",
        )
    url = fields.get("url")
    if url is not None and not settings.webhooks_may_target_private and literal_refused(str(url)):
        raise InvalidInput(
            "webhooks may not target loopback, private or link-local addresses",
            code="WEBHOOK_TARGET_REFUSED",
        )
    site_ids = fields.get("site_ids") or []
    if site_ids:
        found = set((await session.scalars(select(Site.id).where(Site.id.in_(site_ids)))).all())
        missing = [str(s) for s in site_ids if s not in found]
        if missing:
            raise InvalidInput("unknown site", code="SITE_NOT_FOUND", details={"site_ids": missing})


def apply(channel: NotificationChannel, fields: dict[str, Any]) -> None:
    """Copy API fields onto the row (`to` is stored as `recipients`)."""
    for key, value in fields.items():
        if key == "to":
            channel.recipients = [str(v) for v in value]
        elif key == "url":
            channel.url = str(value)
        elif key == "site_ids":
            channel.site_ids = list(value)
        elif key == "events":
            channel.events = [str(v) for v in value]
        elif key == "min_severity":
            channel.min_severity = str(value)
        else:
            setattr(channel, key, value)


async def get_channel(session: AsyncSession, channel_id: uuid.UUID) -> NotificationChannel:
    channel = await session.get(NotificationChannel, channel_id)
    if channel is None:
        raise NotFound("notification channel not found", code="CHANNEL_NOT_FOUND")
    return channel


async def get_delivery(
    session: AsyncSession, channel_id: uuid.UUID, delivery_id: uuid.UUID
) -> NotificationDelivery:
    delivery = await session.get(NotificationDelivery, delivery_id)
    if delivery is None or delivery.channel_id != channel_id:
        raise NotFound("delivery not found", code="DELIVERY_NOT_FOUND")
    return delivery


async def _wake_notifiers(session: AsyncSession) -> None:
    await session.execute(text("SELECT pg_notify(:channel, '')"), {"channel": CHANNEL})


def test_payload(tenant_id: uuid.UUID, channel: NotificationChannel) -> dict[str, Any]:
    now = datetime.now(UTC).isoformat()
    return {
        "event": "test",
        "tenant_id": str(tenant_id),
        "occurred_at": now,
        "alarm": {
            "id": None,
            "rule_name": f"Test notification for channel '{channel.name}'",
            "device_name": "test",
            "severity": "WARNING",
            "status": "ACTIVE",
            "count": 1,
            "value": None,
            "first_occurrence": now,
            "last_occurrence": now,
        },
    }


async def queue_test(
    session: AsyncSession, tenant_id: uuid.UUID, channel: NotificationChannel
) -> NotificationDelivery:
    """A `test` delivery through the real path (outbox, notifier, receiver)."""
    delivery = NotificationDelivery(
        tenant_id=tenant_id,
        channel_id=channel.id,
        event="test",
        severity="WARNING",
        payload=test_payload(tenant_id, channel),
    )
    session.add(delivery)
    await session.flush()
    await _wake_notifiers(session)
    await session.refresh(delivery)
    return delivery


async def redeliver(session: AsyncSession, delivery: NotificationDelivery) -> None:
    """Send a FAILED (or DELIVERED) delivery again, with a fresh set of attempts."""
    if delivery.status in ("PENDING", "SENDING"):
        raise Conflict("the delivery is still being attempted", code="DELIVERY_IN_PROGRESS")
    delivery.status = "PENDING"
    delivery.attempts = 0
    delivery.due_at = datetime.now(UTC)
    delivery.delivered_at = None
    await session.flush()
    await _wake_notifiers(session)
    await session.refresh(delivery)
