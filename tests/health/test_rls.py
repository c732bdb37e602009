"""device_health under row-level security, as the app role."""

from __future__ import annotations

from datetime import UTC, datetime

import asyncpg
import pytest

from tests.api.helpers import app_role
from tests.factories import Factory
from tests.health.helpers import compute


async def test_app_role_sees_and_writes_only_its_tenants_health(
    factory: Factory, owner_dsn: str
) -> None:
    a = await factory.tenant()
    b = await factory.tenant()
    device_a, _ = await factory.device(a)
    device_b, _ = await factory.device(b)
    now = datetime.now(UTC)
    await compute(owner_dsn, a.id, now)
    await compute(owner_dsn, b.id, now)

    async with app_role(owner_dsn, a.id) as conn:
        visible = {r[0] for r in await conn.fetch("SELECT device_id FROM device_health")}
        assert device_a in visible and device_b not in visible
        assert (
            await conn.fetchval("SELECT count(*) FROM device_health WHERE tenant_id = $1", b.id)
            == 0
        )
        assert (
            await conn.execute("UPDATE device_health SET score = 0 WHERE device_id = $1", device_b)
            == "UPDATE 0"
        )
        assert (
            await conn.execute("DELETE FROM device_health WHERE device_id = $1", device_b)
            == "DELETE 0"
        )
        # Neither a row for B nor moving A's row into B passes the policy's WITH CHECK.
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            async with conn.transaction():
                await conn.execute(
                    "UPDATE device_health SET tenant_id = $1 WHERE device_id = $2", b.id, device_a
                )
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            async with conn.transaction():
                # A copy of A's row, made B's.
                await conn.execute(
                    "INSERT INTO device_health SELECT (jsonb_populate_record(h, "
                    "jsonb_build_object('device_id', $1::uuid, 'tenant_id', $2::uuid))).* "
                    "FROM device_health h WHERE device_id = $3",
                    device_b,
                    b.id,
                    device_a,
                )
    async with app_role(owner_dsn, None) as conn:
        assert await conn.fetchval("SELECT count(*) FROM device_health") == 0
    async with app_role(owner_dsn, b.id) as conn:
        score = await conn.fetchval(
            "SELECT score FROM device_health WHERE device_id = $1", device_b
        )
        assert score == 40  # untouched by A
