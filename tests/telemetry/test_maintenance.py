"""Partitions ahead, per-tenant retention, partition drop and compaction, dead-letter trim."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import asyncpg

from gito.telemetry.maintenance import run_maintenance
from tests.factories import Factory

TODAY = datetime.now(UTC).date()


async def _app(owner_dsn: str) -> asyncpg.Connection:
    return await asyncpg.connect(owner_dsn, server_settings={"role": "gito_app"})


async def _insert(owner_dsn: str, tenant: uuid.UUID, device: uuid.UUID, days_ago: int) -> None:
    conn = await asyncpg.connect(owner_dsn)
    try:
        day = TODAY - timedelta(days=days_ago)
        await conn.execute("SELECT gito_ensure_telemetry_partition($1)", day)
        await conn.execute(
            "INSERT INTO telemetry VALUES ($1, $2, $3, '{\"t\": 1}')",
            tenant,
            device,
            datetime.combine(day, datetime.min.time(), UTC) + timedelta(hours=12),
        )
    finally:
        await conn.close()


async def test_retention_partitions_and_compaction(factory: Factory, owner_dsn: str) -> None:
    short = await factory.tenant(retention_days=10)
    long = await factory.tenant(retention_days=400)
    d_short, _ = await factory.device(short)
    d_long, _ = await factory.device(long)
    for days_ago in (1, 5, 30):
        await _insert(owner_dsn, short.id, d_short, days_ago)
        await _insert(owner_dsn, long.id, d_long, days_ago)

    conn = await _app(owner_dsn)
    try:
        report = await run_maintenance(
            conn, ahead_days=3, dead_letter_retention_days=7, dead_letter_max_rows=1000
        )
    finally:
        await conn.close()
    assert not report.skipped
    assert f"telemetry_{(TODAY + timedelta(days=3)):%Y%m%d}" in report.partitions_created
    owner = await asyncpg.connect(owner_dsn)
    try:
        short_days = {
            r["ts"].date()
            for r in await owner.fetch("SELECT ts FROM telemetry WHERE device_id = $1", d_short)
        }
        long_rows = await owner.fetchval(
            "SELECT count(*) FROM telemetry WHERE device_id = $1", d_long
        )
        comment = await owner.fetchval(
            "SELECT obj_description(to_regclass($1), 'pg_class')",
            f"telemetry_{(TODAY - timedelta(days=30)):%Y%m%d}",
        )
    finally:
        await owner.close()
    # The 10-day tenant lost its 30-day-old reading; the 400-day tenant kept all three.
    assert short_days == {TODAY - timedelta(days=1), TODAY - timedelta(days=5)}
    assert long_rows == 3
    assert comment == "gito:compacted"
    assert TODAY - timedelta(days=30) in report.partitions_compacted
    assert TODAY - timedelta(days=1) not in report.partitions_compacted


async def test_concurrent_runs_skip(factory: Factory, owner_dsn: str) -> None:
    first, second = await _app(owner_dsn), await _app(owner_dsn)
    try:
        async with first.transaction():
            await first.execute(
                "SELECT pg_advisory_xact_lock(hashtext('gito:telemetry-maintenance'))"
            )
            report = await run_maintenance(
                second, ahead_days=1, dead_letter_retention_days=7, dead_letter_max_rows=1000
            )
        assert report.skipped
    finally:
        await first.close()
        await second.close()


async def test_dead_letters_are_trimmed_by_age_and_count(factory: Factory, owner_dsn: str) -> None:
    tenant = await factory.tenant()
    owner = await asyncpg.connect(owner_dsn)
    try:
        old = datetime.now(UTC) - timedelta(days=30)
        await owner.executemany(
            "INSERT INTO telemetry_dead_letters "
            "(tenant_id, topic, reason, payload_size, received_at) "
            "VALUES ($1, 't', 'invalid_json', 1, $2)",
            [(tenant.id, old)] + [(tenant.id, datetime.now(UTC))] * 5,
        )
    finally:
        await owner.close()
    conn = await _app(owner_dsn)
    try:
        await run_maintenance(
            conn, ahead_days=1, dead_letter_retention_days=7, dead_letter_max_rows=3
        )
    finally:
        await conn.close()
    owner = await asyncpg.connect(owner_dsn)
    try:
        left = await owner.fetchval(
            "SELECT count(*) FROM telemetry_dead_letters WHERE tenant_id = $1", tenant.id
        )
    finally:
        await owner.close()
    assert left == 3


async def test_concurrent_partition_creation_is_safe(owner_dsn: str) -> None:
    """A processor batch and the maintenance job may create the same day at once."""
    import asyncio

    day = TODAY + timedelta(days=40)
    conns = [await _app(owner_dsn) for _ in range(4)]
    try:

        async def create(conn: asyncpg.Connection) -> str:
            async with conn.transaction():
                return str(await conn.fetchval("SELECT gito_ensure_telemetry_partition($1)", day))

        names = await asyncio.gather(*(create(c) for c in conns))
    finally:
        for conn in conns:
            await conn.close()
    assert set(names) == {f"telemetry_{day:%Y%m%d}"}
