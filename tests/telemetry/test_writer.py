"""The storage path directly: redelivered timestamp-less messages, unknown and foreign devices."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import asyncpg

from gito.telemetry.payloads import Reason, parse
from gito.telemetry.writer import Accepted, DeviceDirectory, PartitionCache, write_batch
from tests.factories import Factory


async def _write(owner_dsn: str, items: list[Accepted]) -> object:
    conn = await asyncpg.connect(owner_dsn, server_settings={"role": "gito_app"})
    try:
        async with conn.transaction():
            return await write_batch(conn, items, [], DeviceDirectory(), PartitionCache())
    finally:
        await conn.close()


async def test_redelivered_message_without_ts_is_not_stored_twice(
    factory: Factory, owner_dsn: str
) -> None:
    tenant = await factory.tenant()
    device, _ = await factory.device(tenant)
    payload = b'{"temperature": 21.5}'
    first = datetime.now(UTC) - timedelta(seconds=5)
    await _write(owner_dsn, [Accepted(tenant.id, device, parse(payload), first)])
    # The broker redelivers it (DUP flag) after a processor restart: received later, no ts.
    again = Accepted(
        tenant.id, device, parse(payload), first + timedelta(seconds=3), redelivered=True
    )
    result = await _write(owner_dsn, [again])
    # A genuinely new reading with the same value but without the DUP flag is stored.
    new = Accepted(tenant.id, device, parse(payload), first + timedelta(seconds=4))
    await _write(owner_dsn, [new])
    conn = await asyncpg.connect(owner_dsn)
    try:
        count = await conn.fetchval("SELECT count(*) FROM telemetry WHERE device_id = $1", device)
    finally:
        await conn.close()
    assert result.stored_rows == 0  # type: ignore[attr-defined]
    assert count == 2


async def test_unknown_and_foreign_devices_are_dead_lettered(
    factory: Factory, owner_dsn: str
) -> None:
    a = await factory.tenant()
    b = await factory.tenant()
    device_b, _ = await factory.device(b)
    ghost = uuid.uuid4()
    now = datetime.now(UTC)
    result = await _write(
        owner_dsn,
        [
            Accepted(a.id, ghost, parse(b'{"x": 1}'), now, "t1", b'{"x": 1}'),
            Accepted(a.id, device_b, parse(b'{"x": 2}'), now, "t2", b'{"x": 2}'),
        ],
    )
    reasons = {(r.device_id, r.reason, r.tenant_id) for r in result.rejected}  # type: ignore[attr-defined]
    # The claimed tenant owns the unknown one's dead letter; a foreign device's goes to nobody.
    assert reasons == {
        (ghost, Reason.UNKNOWN_DEVICE, a.id),
        (device_b, Reason.TENANT_MISMATCH, None),
    }
    conn = await asyncpg.connect(owner_dsn)
    try:
        rows = await conn.fetch(
            "SELECT device_id, reason, tenant_id FROM telemetry_dead_letters "
            "WHERE device_id = ANY($1)",
            [ghost, device_b],
        )
        stored = await conn.fetchval(
            "SELECT count(*) FROM telemetry WHERE device_id = $1", device_b
        )
    finally:
        await conn.close()
    assert {(r["device_id"], r["reason"], r["tenant_id"]) for r in rows} == {
        (ghost, "unknown_device", a.id),
        (device_b, "tenant_mismatch", None),
    }
    assert stored == 0
