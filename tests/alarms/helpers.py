"""Rules through the API, telemetry through the real storage path, alarms read back."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx

from gito.telemetry.payloads import Reading
from gito.telemetry.writer import (
    Accepted,
    BatchResult,
    DeviceDirectory,
    PartitionCache,
    write_batch,
)
from tests.api.helpers import data
from tests.factories import TenantFixture

T0 = datetime(2026, 11, 27, 8, 0, tzinfo=UTC) - timedelta(days=1)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


async def make_rule(client: httpx.AsyncClient, tenant: TenantFixture, **body: Any) -> str:
    body.setdefault("name", f"rule-{uuid.uuid4().hex[:8]}")
    body.setdefault("severity", "MAJOR")
    response = await client.post(
        tenant.url("/alert-rules"), json=body, headers=tenant.admin.headers
    )
    rule_id: str = data(response, 201)["id"]
    return rule_id


async def send(
    owner_dsn: str,
    tenant_id: uuid.UUID,
    device: uuid.UUID,
    readings: list[tuple[datetime, dict[str, Any]]],
) -> BatchResult:
    """One batch through `write_batch` on a fresh app-role connection (as after a restart)."""
    conn = await asyncpg.connect(owner_dsn, server_settings={"role": "gito_app"})
    try:
        item = Accepted(
            tenant_id, device, [Reading(ts, values) for ts, values in readings], datetime.now(UTC)
        )
        async with conn.transaction():
            return await write_batch(conn, [item], [], DeviceDirectory(), PartitionCache())
    finally:
        await conn.close()


async def alarms_of(owner_dsn: str, rule_id: str, device: uuid.UUID | None = None) -> list[Any]:
    conn = await asyncpg.connect(owner_dsn)
    try:
        return await conn.fetch(
            "SELECT * FROM alarms WHERE rule_id = $1 AND ($2::uuid IS NULL OR device_id = $2)"
            " ORDER BY first_occurrence, created_at",
            uuid.UUID(rule_id),
            device,
        )
    finally:
        await conn.close()


async def history_of(owner_dsn: str, alarm_id: uuid.UUID) -> list[str]:
    conn = await asyncpg.connect(owner_dsn)
    try:
        rows = await conn.fetch(
            "SELECT action FROM alarm_events WHERE alarm_id = $1 ORDER BY id", alarm_id
        )
        return [r["action"] for r in rows]
    finally:
        await conn.close()


def alarm_events(result: BatchResult) -> list[dict[str, Any]]:
    return [e for _, e in result.events if e["type"] == "alarm"]
