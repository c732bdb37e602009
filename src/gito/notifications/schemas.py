"""Notification channels and deliveries as the API speaks them (docs/NOTIFICATIONS.md)."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, ClassVar, Literal, Self, TypeVar

from pydantic import AfterValidator, AnyHttpUrl, BaseModel, EmailStr, Field, model_validator

from gito.alarms.schemas import Severity
from gito.api.schemas import PatchModel, StrictModel

MAX_RECIPIENTS = 20
MAX_SITES = 100
MIN_SECRET_LENGTH = 16


class ChannelEvent(StrEnum):
    """The alarm changes a channel may be told about."""

    RAISED = "raised"
    ESCALATED = "escalated"
    CLEARED = "cleared"
    ACKNOWLEDGED = "acknowledged"


DEFAULT_EVENTS = [ChannelEvent.RAISED, ChannelEvent.ESCALATED, ChannelEvent.CLEARED]


class DeliveryStatus(StrEnum):
    PENDING = "PENDING"
    SENDING = "SENDING"
    DELIVERED = "DELIVERED"
    FAILED = "FAILED"


T = TypeVar("T")


def _short_url(value: AnyHttpUrl) -> AnyHttpUrl:
    if len(str(value)) > 2048:
        raise ValueError("url must be at most 2048 characters")
    return value


def _unique(values: list[T]) -> list[T]:
    # Order kept, repeats dropped: a repeated site or recipient means the same thing.
    return list(dict.fromkeys(values))


Url = Annotated[AnyHttpUrl, AfterValidator(_short_url)]
Recipients = Annotated[list[EmailStr], AfterValidator(_unique)]
SiteIds = Annotated[list[uuid.UUID], AfterValidator(_unique)]
Events = Annotated[list[ChannelEvent], AfterValidator(_unique)]


class ChannelFields(StrictModel):
    name: str | None = Field(default=None, min_length=1, max_length=200)
    url: Url | None = Field(
        default=None, description="webhook: the http(s) URL the JSON is POSTed to"
    )
    secret: str | None = Field(
        default=None,
        min_length=MIN_SECRET_LENGTH,
        max_length=256,
        description="webhook: the HMAC-SHA256 key of X-Gito-Signature; generated when omitted",
    )
    to: Recipients | None = Field(
        default=None, min_length=1, max_length=MAX_RECIPIENTS, description="e-mail: recipients"
    )
    min_severity: Severity = Field(
        default=Severity.WARNING, description="the least severity that notifies"
    )
    site_ids: SiteIds = Field(
        default_factory=list,
        max_length=MAX_SITES,
        description="only alarms of devices in these sites; empty: every site",
    )
    events: Events = Field(default_factory=lambda: list(DEFAULT_EVENTS), min_length=1, max_length=4)
    enabled: bool = True


class ChannelCreate(ChannelFields):
    """`{"type": "webhook", "url", "secret"?}` or `{"type": "email", "to": [...]}`, with
    optional filters (`min_severity`, `site_ids`, `events`)."""

    type: Literal["webhook", "email"]

    @model_validator(mode="after")
    def _target_fits_type(self) -> Self:
        if self.type == "webhook":
            if self.url is None:
                raise ValueError("a webhook channel needs url")
            if self.to is not None:
                raise ValueError("a webhook channel takes no 'to' (that is for e-mail)")
        else:
            if not self.to:
                raise ValueError("an e-mail channel needs 'to': a list of addresses")
            if self.url is not None or self.secret is not None:
                raise ValueError("an e-mail channel takes no url or secret")
        return self


class ChannelUpdate(PatchModel):
    """Fields to change; the type of a channel does not change."""

    nullable: ClassVar[frozenset[str]] = frozenset()

    name: str | None = Field(default=None, min_length=1, max_length=200)
    url: Url | None = None
    secret: str | None = Field(default=None, min_length=MIN_SECRET_LENGTH, max_length=256)
    to: Recipients | None = Field(default=None, min_length=1, max_length=MAX_RECIPIENTS)
    min_severity: Severity | None = None
    site_ids: SiteIds | None = Field(default=None, max_length=MAX_SITES)
    events: Events | None = Field(default=None, min_length=1, max_length=4)
    enabled: bool | None = None


class ChannelOut(BaseModel):
    id: uuid.UUID
    name: str
    type: Literal["webhook", "email"]
    enabled: bool
    url: str | None
    to: list[str] | None
    has_secret: bool
    min_severity: Severity
    site_ids: list[uuid.UUID]
    events: list[ChannelEvent]
    created_at: datetime
    updated_at: datetime


class ChannelWithSecret(ChannelOut):
    secret: str | None = Field(
        description="webhook: the signing secret, shown only in this response"
    )


class DeliveryOut(BaseModel):
    id: uuid.UUID
    channel_id: uuid.UUID
    alarm_id: uuid.UUID | None
    event: str
    severity: Severity | None
    status: DeliveryStatus
    attempts: int
    due_at: datetime = Field(description="PENDING: when the next attempt is due")
    last_status: int | None = Field(description="HTTP status or SMTP reply code")
    last_error: str | None
    last_duration_ms: float | None
    created_at: datetime
    updated_at: datetime
    delivered_at: datetime | None
    payload: dict[str, Any]
