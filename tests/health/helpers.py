"""Telemetry and rejections through the real writer, scores through the real SQL."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import asyncpg

from gito.db.models import DeviceHealth
from gito.health.score import TenantScores, compute_tenant, factors
from gito.telemetry.payloads import Reading, Reason
from gito.telemetry.writer import Accepted, DeviceDirectory, PartitionCache, Rejected, write_batch


async def write(
    owner_dsn: str,
    tenant_id: uuid.UUID,
    device: uuid.UUID,
    readings: list[tuple[datetime, dict[str, Any]]],
    *,
    rejected: int = 0,
) -> None:
    """Each reading as one accepted message, and `rejected` invalid messages of the device,
    in one batch of `write_batch` as the app role (the processor's storage path)."""
    accepted = [
        Accepted(tenant_id, device, [Reading(ts, values)], ts, "t", b"{}")
        for ts, values in readings
    ]
    bad = [
        Rejected(
            tenant_id,
            device,
            f"{tenant_id}/devices/{device}/telemetry",
            Reason.INVALID_JSON,
            "not JSON",
            b"{oops",
        )
        for _ in range(rejected)
    ]
    conn = await asyncpg.connect(owner_dsn, server_settings={"role": "gito_app"})
    try:
        async with conn.transaction():
            await write_batch(conn, accepted, bad, DeviceDirectory(), PartitionCache())
    finally:
        await conn.close()


async def compute(owner_dsn: str, tenant_id: uuid.UUID, now: datetime) -> TenantScores:
    """One computation of the tenant as the app role, `now` being the job's clock."""
    conn = await asyncpg.connect(owner_dsn, server_settings={"role": "gito_app"})
    try:
        async with conn.transaction():
            await conn.execute("SELECT set_config('app.tenant_id', $1, true)", str(tenant_id))
            return await compute_tenant(conn, tenant_id, now)
    finally:
        await conn.close()


async def health(owner_dsn: str, device: uuid.UUID) -> tuple[int, dict[str, dict[str, Any]]]:
    """(score, factors by name) of a device: its stored row, read as the owner, in the shape
    the API returns."""
    conn = await asyncpg.connect(owner_dsn)
    try:
        row = await conn.fetchrow("SELECT * FROM device_health WHERE device_id = $1", device)
    finally:
        await conn.close()
    assert row is not None, f"no health row for {device}"
    listed = factors(DeviceHealth(**dict(row)))
    return row["score"], {f["name"]: f for f in listed}


async def owner_execute(owner_dsn: str, sql: str, *args: Any) -> Any:
    conn = await asyncpg.connect(owner_dsn)
    try:
        return await conn.fetch(sql, *args)
    finally:
        await conn.close()
