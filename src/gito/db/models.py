"""Every ORM table of Gito. Tables are created only by Alembic migrations (they add RLS)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    DateTime,
    Float,
    ForeignKey,
    Identity,
    Index,
    Integer,
    SmallInteger,
    String,
    Text,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, UUID
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    type_annotation_map = {dict[str, Any]: JSONB, uuid.UUID: UUID(as_uuid=True)}


def _uuid_pk() -> Mapped[uuid.UUID]:
    return mapped_column(UUID(as_uuid=True), primary_key=True, default=uuid.uuid4)


def _created_at() -> Mapped[datetime]:
    return mapped_column(DateTime(timezone=True), server_default=func.now(), nullable=False)


def _updated_at() -> Mapped[datetime]:
    return mapped_column(
        DateTime(timezone=True), server_default=func.now(), onupdate=func.now(), nullable=False
    )


def _tenant_fk() -> Mapped[uuid.UUID]:
    return mapped_column(
        UUID(as_uuid=True), ForeignKey("tenants.id", ondelete="CASCADE"), nullable=False
    )


class Tenant(Base):
    __tablename__ = "tenants"

    id: Mapped[uuid.UUID] = _uuid_pk()
    name: Mapped[str] = mapped_column(String(200), nullable=False, unique=True)
    is_active: Mapped[bool] = mapped_column(default=True, nullable=False)
    # NULL means the platform default (`RATE_LIMIT_PER_MINUTE`).
    rate_limit_per_minute: Mapped[int | None] = mapped_column(Integer)
    retention_days: Mapped[int] = mapped_column(Integer, default=365, nullable=False)
    created_at: Mapped[datetime] = _created_at()
    updated_at: Mapped[datetime] = _updated_at()


class User(Base):
    __tablename__ = "users"
    __table_args__ = (
        # Login is by e-mail alone, so an e-mail names one user on the whole platform.
        Index("uq_users_email", text("lower(email)"), unique=True),
        CheckConstraint(
            "role IN ('SUPER_ADMIN','TENANT_ADMIN','SITE_ADMIN','CLIENT','VIEWER')",
            name="ck_users_role",
        ),
    )

    id: Mapped[uuid.UUID] = _uuid_pk()
    tenant_id: Mapped[uuid.UUID] = _tenant_fk()
    email: Mapped[str] = mapped_column(String(320), nullable=False)
    password_hash: Mapped[str] = mapped_column(Text, nullable=False)
    role: Mapped[str] = mapped_column(String(20), nullable=False)
    full_name: Mapped[str | None] = mapped_column(String(200))
    is_active: Mapped[bool] = mapped_column(default=True, nullable=False)
    last_login_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = _created_at()
    updated_at: Mapped[datetime] = _updated_at()


class Site(Base):
    __tablename__ = "sites"
    __table_args__ = (Index("uq_sites_tenant_name", "tenant_id", "name", unique=True),)

    id: Mapped[uuid.UUID] = _uuid_pk()
    tenant_id: Mapped[uuid.UUID] = _tenant_fk()
    name: Mapped[str] = mapped_column(String(200), nullable=False)
    description: Mapped[str | None] = mapped_column(Text)
    latitude: Mapped[float | None] = mapped_column(Float)
    longitude: Mapped[float | None] = mapped_column(Float)
    metadata_: Mapped[dict[str, Any]] = mapped_column(
        "metadata", JSONB, nullable=False, default=dict
    )
    created_at: Mapped[datetime] = _created_at()
    updated_at: Mapped[datetime] = _updated_at()


class UserSite(Base):
    """Sites a SITE_ADMIN or CLIENT user may see."""

    __tablename__ = "user_sites"

    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    site_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("sites.id", ondelete="CASCADE"), primary_key=True
    )
    tenant_id: Mapped[uuid.UUID] = _tenant_fk()


class Device(Base):
    __tablename__ = "devices"
    __table_args__ = (
        Index(
            "uq_devices_tenant_dev_eui",
            "tenant_id",
            "dev_eui",
            unique=True,
            postgresql_where=text("dev_eui IS NOT NULL"),
        ),
        Index("ix_devices_tenant_name", "tenant_id", "name"),
        Index("ix_devices_tenant_created", "tenant_id", "created_at"),
        Index("ix_devices_tenant_site", "tenant_id", "site_id"),
        Index("ix_devices_tenant_status", "tenant_id", "status"),
        CheckConstraint("status IN ('online','offline','idle','error')", name="ck_devices_status"),
        CheckConstraint("dev_eui ~ '^[0-9a-f]{16}$'", name="ck_devices_dev_eui"),
        CheckConstraint(
            "battery_level IS NULL OR (battery_level >= 0 AND battery_level <= 100)",
            name="ck_devices_battery",
        ),
    )

    id: Mapped[uuid.UUID] = _uuid_pk()
    tenant_id: Mapped[uuid.UUID] = _tenant_fk()
    site_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("sites.id", ondelete="SET NULL"))
    name: Mapped[str] = mapped_column(String(200), nullable=False)
    device_type: Mapped[str] = mapped_column(String(100), nullable=False)
    # Stored lower-case; the API accepts either case.
    dev_eui: Mapped[str | None] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(10), nullable=False, default="offline")
    last_seen: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    battery_level: Mapped[float | None] = mapped_column(Float)
    metadata_: Mapped[dict[str, Any]] = mapped_column(
        "metadata", JSONB, nullable=False, default=dict
    )
    tags: Mapped[list[str]] = mapped_column(ARRAY(String(64)), nullable=False, default=list)
    expected_interval_s: Mapped[int | None] = mapped_column(Integer)
    # Accepted telemetry messages since creation, incremented by the writer (gito.health).
    messages_accepted: Mapped[int] = mapped_column(
        BigInteger, nullable=False, server_default=text("0")
    )
    # A copy of device_health.score, for sorting and filtering the device list.
    health_score: Mapped[int | None] = mapped_column(SmallInteger)
    created_at: Mapped[datetime] = _created_at()
    updated_at: Mapped[datetime] = _updated_at()


class DeviceHealth(Base):
    """A device's latest health score, its factors (a NULL factor score: the factor did not
    apply) and the marks of its windowed factors (docs/HEALTH.md). Written only by the
    scheduler's health job."""

    __tablename__ = "device_health"

    device_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("devices.id", ondelete="CASCADE"), primary_key=True
    )
    tenant_id: Mapped[uuid.UUID] = _tenant_fk()
    score: Mapped[int] = mapped_column(SmallInteger, nullable=False)
    computed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    last_seen: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    expected_interval_s: Mapped[int] = mapped_column(Integer, nullable=False)
    freshness_score: Mapped[int] = mapped_column(SmallInteger, nullable=False)
    battery_level: Mapped[float | None] = mapped_column(Float)
    battery_drain_per_day: Mapped[float | None] = mapped_column(Float)
    battery_days_left: Mapped[float | None] = mapped_column(Float)
    battery_penalty: Mapped[int | None] = mapped_column(SmallInteger)
    battery_score: Mapped[int | None] = mapped_column(SmallInteger)
    rssi: Mapped[float | None] = mapped_column(Float)
    snr: Mapped[float | None] = mapped_column(Float)
    rssi_score: Mapped[int | None] = mapped_column(SmallInteger)
    snr_score: Mapped[int | None] = mapped_column(SmallInteger)
    accepted: Mapped[int] = mapped_column(BigInteger, nullable=False)
    rejected: Mapped[int] = mapped_column(BigInteger, nullable=False)
    rejects_score: Mapped[int | None] = mapped_column(SmallInteger)
    alarms_critical: Mapped[int] = mapped_column(Integer, nullable=False)
    alarms_major: Mapped[int] = mapped_column(Integer, nullable=False)
    alarms_minor: Mapped[int] = mapped_column(Integer, nullable=False)
    alarms_warning: Mapped[int] = mapped_column(Integer, nullable=False)
    alarms_score: Mapped[int] = mapped_column(SmallInteger, nullable=False)
    old_mark_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    old_accepted: Mapped[int] = mapped_column(BigInteger, nullable=False)
    old_battery: Mapped[float | None] = mapped_column(Float)
    old_battery_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    new_mark_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    new_accepted: Mapped[int] = mapped_column(BigInteger, nullable=False)
    new_battery: Mapped[float | None] = mapped_column(Float)
    new_battery_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class DeviceCredential(Base):
    """A device's secret token, stored as SHA-256 (the token itself has 256 bits of entropy,
    so a slow password hash adds nothing but MQTT-auth latency)."""

    __tablename__ = "device_credentials"

    device_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("devices.id", ondelete="CASCADE"), primary_key=True
    )
    tenant_id: Mapped[uuid.UUID] = _tenant_fk()
    token_hash: Mapped[str] = mapped_column(String(64), nullable=False, unique=True)
    token_hint: Mapped[str] = mapped_column(String(12), nullable=False)
    created_at: Mapped[datetime] = _created_at()


class RefreshToken(Base):
    __tablename__ = "refresh_tokens"
    __table_args__ = (Index("ix_refresh_tokens_family", "family_id"),)

    id: Mapped[uuid.UUID] = _uuid_pk()
    tenant_id: Mapped[uuid.UUID] = _tenant_fk()
    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), nullable=False
    )
    # Every token issued by rotation from one login shares a family; reuse revokes it whole.
    family_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), nullable=False)
    token_hash: Mapped[str] = mapped_column(String(64), nullable=False, unique=True)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = _created_at()


class AuditLog(Base):
    """Append-only: the app role may INSERT and SELECT, never UPDATE or DELETE.

    No foreign key to `tenants`: the history of a deleted tenant is kept."""

    __tablename__ = "audit_log"
    __table_args__ = (
        Index("ix_audit_log_tenant_created", "tenant_id", "created_at"),
        Index("ix_audit_log_entity", "tenant_id", "entity_type", "entity_id"),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    tenant_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), nullable=False)
    actor_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    actor_email: Mapped[str | None] = mapped_column(String(320))
    action: Mapped[str] = mapped_column(String(64), nullable=False)
    entity_type: Mapped[str] = mapped_column(String(64), nullable=False)
    entity_id: Mapped[str | None] = mapped_column(String(64))
    changes: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False, default=dict)
    client_ip: Mapped[str | None] = mapped_column(String(64))
    request_id: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = _created_at()


class AlertRule(Base):
    """An alarm rule (gito.alarms). `thresholds` holds the base condition and its
    escalations as `[{"operator", "value", "severity"}, ...]` on `field`."""

    __tablename__ = "alert_rules"

    id: Mapped[uuid.UUID] = _uuid_pk()
    tenant_id: Mapped[uuid.UUID] = _tenant_fk()
    name: Mapped[str] = mapped_column(String(200), nullable=False)
    description: Mapped[str | None] = mapped_column(Text)
    kind: Mapped[str] = mapped_column(String(16), nullable=False, default="threshold")
    device_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("devices.id", ondelete="CASCADE")
    )
    device_type: Mapped[str | None] = mapped_column(String(100))
    site_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("sites.id", ondelete="CASCADE"))
    field: Mapped[str | None] = mapped_column(String(200))
    thresholds: Mapped[list[dict[str, Any]]] = mapped_column(JSONB, nullable=False, default=list)
    clear_condition: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    severity: Mapped[str] = mapped_column(String(10), nullable=False)
    duration_s: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    cooldown_s: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    no_data_s: Mapped[int | None] = mapped_column(Integer)
    no_data_factor: Mapped[float | None] = mapped_column(Float)
    enabled: Mapped[bool] = mapped_column(default=True, nullable=False)
    created_at: Mapped[datetime] = _created_at()
    updated_at: Mapped[datetime] = _updated_at()


class Alarm(Base):
    """One alarm of a (rule, device); at most one is open (status <> CLEARED) at a time."""

    __tablename__ = "alarms"

    id: Mapped[uuid.UUID] = _uuid_pk()
    tenant_id: Mapped[uuid.UUID] = _tenant_fk()
    rule_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("alert_rules.id", ondelete="CASCADE"), nullable=False
    )
    device_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("devices.id", ondelete="CASCADE"), nullable=False
    )
    site_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    rule_name: Mapped[str] = mapped_column(String(200), nullable=False)
    field: Mapped[str | None] = mapped_column(String(200))
    severity: Mapped[str] = mapped_column(String(10), nullable=False)
    status: Mapped[str] = mapped_column(String(12), nullable=False, default="ACTIVE")
    count: Mapped[int] = mapped_column(Integer, nullable=False, default=1)
    first_value: Mapped[Any] = mapped_column(JSONB)
    last_value: Mapped[Any] = mapped_column(JSONB)
    first_occurrence: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    last_occurrence: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    acknowledged_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    acknowledged_by: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    ack_comment: Mapped[str | None] = mapped_column(Text)
    cleared_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    cleared_by: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    clear_comment: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = _created_at()
    updated_at: Mapped[datetime] = _updated_at()


class AlarmEvent(Base):
    """History of an alarm: raised, escalated, acknowledged, cleared."""

    __tablename__ = "alarm_events"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    tenant_id: Mapped[uuid.UUID] = _tenant_fk()
    alarm_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("alarms.id", ondelete="CASCADE"), nullable=False
    )
    action: Mapped[str] = mapped_column(String(16), nullable=False)
    severity: Mapped[str | None] = mapped_column(String(10))
    value: Mapped[Any] = mapped_column(JSONB)
    user_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    comment: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = _created_at()


class Command(Base):
    """A command sent to a device: PENDING → SENT → SUCCESSFUL | FAILED | TIMEOUT, or EXPIRED
    when it could not be delivered before `expires_at`."""

    __tablename__ = "commands"

    id: Mapped[uuid.UUID] = _uuid_pk()
    tenant_id: Mapped[uuid.UUID] = _tenant_fk()
    device_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("devices.id", ondelete="CASCADE"), nullable=False
    )
    name: Mapped[str] = mapped_column(String(64), nullable=False)
    params: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False, default=dict)
    status: Mapped[str] = mapped_column(String(12), nullable=False, default="PENDING")
    result: Mapped[Any] = mapped_column(JSONB)
    timeout_s: Mapped[int] = mapped_column(Integer, nullable=False)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    created_by: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    created_at: Mapped[datetime] = _created_at()
    sent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    completed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = _updated_at()
