"""`/api/v1/tenants/{t}/notification-channels`: webhook and e-mail channels, their test
message and their delivery log (docs/NOTIFICATIONS.md)."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Query
from sqlalchemy import select

from gito.api.deps import SettingsDep, TenantScope, requires
from gito.api.schemas import Envelope, PageEnvelope, ok, page
from gito.audit import service as audit
from gito.auth.permissions import Permission
from gito.db.pagination import PageQuery, PerPageQuery, paginate
from gito.errors import InvalidInput
from gito.notifications import service
from gito.notifications.models import NotificationChannel, NotificationDelivery
from gito.notifications.schemas import (
    ChannelCreate,
    ChannelOut,
    ChannelUpdate,
    ChannelWithSecret,
    DeliveryOut,
    DeliveryStatus,
)

router = APIRouter(prefix="/tenants/{tenant_id}/notification-channels", tags=["notifications"])


def _delivery(d: NotificationDelivery) -> dict[str, Any]:
    return DeliveryOut.model_validate(d, from_attributes=True).model_dump(mode="json")


async def _audit(scope: Any, action: str, channel_id: uuid.UUID, changes: dict[str, Any]) -> None:
    # Secrets never reach the audit log.
    safe = {k: ("***" if k == "secret" else v) for k, v in changes.items()}
    await audit.record(
        scope.session,
        scope.principal,
        tenant_id=scope.tenant_id,
        action=f"notification_channel.{action}",
        entity_type="notification_channel",
        entity_id=channel_id,
        changes=safe,
    )


@router.get(
    "",
    operation_id="list_notification_channels",
    response_model=PageEnvelope[ChannelOut],
    dependencies=[requires(Permission.NOTIFICATIONS_READ)],
)
async def list_channels(
    scope: TenantScope,
    page_number: PageQuery = 1,
    per_page: PerPageQuery = 20,
    type: Annotated[str | None, Query(pattern="^(webhook|email)$")] = None,
    enabled: bool | None = None,
) -> Any:
    query = select(NotificationChannel).order_by(NotificationChannel.name, NotificationChannel.id)
    if type is not None:
        query = query.where(NotificationChannel.type == type)
    if enabled is not None:
        query = query.where(NotificationChannel.enabled == enabled)
    rows, total = await paginate(scope.session, query, page=page_number, per_page=per_page)
    return page(
        [service.channel_out(c) for c in rows], page=page_number, per_page=per_page, total=total
    )


@router.post(
    "",
    operation_id="create_notification_channel",
    status_code=201,
    response_model=Envelope[ChannelWithSecret],
    dependencies=[requires(Permission.NOTIFICATIONS_WRITE)],
)
async def create_channel(body: ChannelCreate, scope: TenantScope, settings: SettingsDep) -> Any:
    """Create a channel. A webhook's signing secret is generated when not given and is shown
    in this response only."""
    fields = body.model_dump(exclude_unset=True, exclude={"type", "name"})
    await service.check(scope.session, settings, body.type, fields)
    secret = (body.secret or service.new_secret()) if body.type == "webhook" else None
    channel = NotificationChannel(
        id=uuid.uuid4(),
        tenant_id=scope.tenant_id,
        type=body.type,
        name=body.name or service.default_name(body),
        enabled=body.enabled,
        min_severity=body.min_severity.value,
        site_ids=list(body.site_ids),
        events=[e.value for e in body.events],
        recipients=[],
    )
    service.apply(channel, {**fields, "secret": secret})
    scope.session.add(channel)
    await scope.session.flush()
    await scope.session.refresh(channel)
    await _audit(scope, "create", channel.id, body.model_dump(mode="json", exclude_unset=True))
    return ok(service.channel_out(channel, secret=secret or ""), status_code=201)


@router.get(
    "/{channel_id}",
    operation_id="get_notification_channel",
    response_model=Envelope[ChannelOut],
    dependencies=[requires(Permission.NOTIFICATIONS_READ)],
)
async def get_channel(channel_id: uuid.UUID, scope: TenantScope) -> Any:
    return ok(service.channel_out(await service.get_channel(scope.session, channel_id)))


@router.patch(
    "/{channel_id}",
    operation_id="update_notification_channel",
    response_model=Envelope[ChannelOut],
    dependencies=[requires(Permission.NOTIFICATIONS_WRITE)],
)
async def update_channel(
    channel_id: uuid.UUID, body: ChannelUpdate, scope: TenantScope, settings: SettingsDep
) -> Any:
    """Change fields of a channel (not its type). Deliveries already queued keep their
    content; filters apply to alarm changes from now on."""
    channel = await service.get_channel(scope.session, channel_id)
    fields = body.model_dump(exclude_unset=True)
    if channel.type == "webhook" and "to" in fields:
        raise InvalidInput("a webhook channel takes no 'to'", code="VALIDATION_ERROR")
    if channel.type == "email" and ({"url", "secret"} & fields.keys()):
        raise InvalidInput("an e-mail channel takes no url or secret", code="VALIDATION_ERROR")
    await service.check(scope.session, settings, channel.type, fields)
    service.apply(channel, fields)
    await scope.session.flush()
    await scope.session.refresh(channel)
    await _audit(scope, "update", channel.id, body.model_dump(mode="json", exclude_unset=True))
    return ok(service.channel_out(channel))


@router.delete(
    "/{channel_id}",
    operation_id="delete_notification_channel",
    status_code=204,
    dependencies=[requires(Permission.NOTIFICATIONS_WRITE)],
)
async def delete_channel(channel_id: uuid.UUID, scope: TenantScope) -> None:
    """Delete a channel with its delivery log; queued deliveries are not sent."""
    channel = await service.get_channel(scope.session, channel_id)
    await scope.session.delete(channel)
    await _audit(scope, "delete", channel_id, {"name": channel.name})


@router.post(
    "/{channel_id}/rotate-secret",
    operation_id="rotate_notification_channel_secret",
    response_model=Envelope[ChannelWithSecret],
    dependencies=[requires(Permission.NOTIFICATIONS_WRITE)],
)
async def rotate_secret(channel_id: uuid.UUID, scope: TenantScope) -> Any:
    """A new signing secret for a webhook, shown in this response only. Deliveries still
    queued are signed with it too."""
    channel = await service.get_channel(scope.session, channel_id)
    if channel.type != "webhook":
        raise InvalidInput("only webhooks have a secret", code="VALIDATION_ERROR")
    secret = service.new_secret()
    channel.secret = secret
    await scope.session.flush()
    await scope.session.refresh(channel)
    await _audit(scope, "rotate_secret", channel.id, {})
    return ok(service.channel_out(channel, secret=secret))


@router.post(
    "/{channel_id}/test",
    operation_id="test_notification_channel",
    status_code=202,
    response_model=Envelope[DeliveryOut],
    dependencies=[requires(Permission.NOTIFICATIONS_WRITE)],
)
async def test_channel(channel_id: uuid.UUID, scope: TenantScope) -> Any:
    """Queue a `test` message to the channel; follow it in the delivery log."""
    channel = await service.get_channel(scope.session, channel_id)
    delivery = await service.queue_test(scope.session, scope.tenant_id, channel)
    return ok(_delivery(delivery), status_code=202)


@router.get(
    "/{channel_id}/deliveries",
    operation_id="list_notification_deliveries",
    response_model=PageEnvelope[DeliveryOut],
    dependencies=[requires(Permission.NOTIFICATIONS_READ)],
)
async def list_deliveries(
    channel_id: uuid.UUID,
    scope: TenantScope,
    page_number: PageQuery = 1,
    per_page: PerPageQuery = 20,
    status: Annotated[list[DeliveryStatus] | None, Query()] = None,
    alarm_id: uuid.UUID | None = None,
) -> Any:
    """The channel's delivery log, newest first: status, attempts, the receiver's last
    answer; `status` may repeat."""
    await service.get_channel(scope.session, channel_id)
    query = (
        select(NotificationDelivery)
        .where(NotificationDelivery.channel_id == channel_id)
        .order_by(NotificationDelivery.created_at.desc(), NotificationDelivery.id)
    )
    if status:
        query = query.where(NotificationDelivery.status.in_([s.value for s in status]))
    if alarm_id is not None:
        query = query.where(NotificationDelivery.alarm_id == alarm_id)
    rows, total = await paginate(scope.session, query, page=page_number, per_page=per_page)
    return page([_delivery(d) for d in rows], page=page_number, per_page=per_page, total=total)


@router.post(
    "/{channel_id}/deliveries/{delivery_id}/retry",
    operation_id="retry_notification_delivery",
    status_code=202,
    response_model=Envelope[DeliveryOut],
    dependencies=[requires(Permission.NOTIFICATIONS_WRITE)],
)
async def retry_delivery(channel_id: uuid.UUID, delivery_id: uuid.UUID, scope: TenantScope) -> Any:
    """Send a finished (FAILED or DELIVERED) delivery again with fresh attempts; 409 while
    it is still being attempted."""
    delivery = await service.get_delivery(scope.session, channel_id, delivery_id)
    await service.redeliver(scope.session, delivery)
    await _audit(scope, "retry_delivery", channel_id, {"delivery_id": str(delivery_id)})
    return ok(_delivery(delivery), status_code=202)
