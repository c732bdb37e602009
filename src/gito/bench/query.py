"""`gito bench query`: a 30-day hourly aggregate of one device, in a telemetry table of at
least 1,000,000 rows.

Seeding (as the table owner, with generate_series, so it takes seconds): the measured device
reports every minute for 31 days (~44,600 rows); 99 other devices of the same tenant fill
the table to `--rows`. The query then runs exactly as the API runs it: through the app role
under row-level security, via `gito.telemetry.service.series`."""

from __future__ import annotations

import asyncio
import statistics
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import asyncpg

from gito.bench.api import scratch_database
from gito.config import Settings
from gito.db import migrations
from gito.db.engine import dispose_engine, init_engine, tenant_transaction
from gito.db.rawpool import asyncpg_dsn
from gito.telemetry import service
from gito.telemetry.maintenance import run_maintenance
from gito.telemetry.schemas import Aggregate

DAYS = 31
OTHER_DEVICES = 99
METRICS = 4


@dataclass
class QueryResult:
    rows_total: int
    rows_device_30d: int
    cold_ms: float
    warm_ms: list[float]
    raw_1000_ms: float
    buckets: int
    bytes_per_metric: float
    table_bytes: int
    heap_bytes: int = 0


async def _seed(owner: str, rows: int, now: datetime) -> tuple[uuid.UUID, uuid.UUID]:
    conn = await asyncpg.connect(owner)
    try:
        tenant, device = uuid.uuid4(), uuid.uuid4()
        others = [uuid.uuid4() for _ in range(OTHER_DEVICES)]
        await conn.execute(
            "INSERT INTO tenants (id, name) VALUES ($1, $2)",
            tenant,
            f"bench-query-{tenant.hex[:8]}",
        )
        await conn.executemany(
            "INSERT INTO devices (id, tenant_id, name, device_type) VALUES ($1, $2, $3, 'sensor')",
            [(d, tenant, f"q-{i:03d}") for i, d in enumerate([device, *others])],
        )
        start = now - timedelta(days=DAYS)
        for day in range(DAYS + 2):
            await conn.execute(
                "SELECT gito_ensure_telemetry_partition($1)", (start + timedelta(days=day)).date()
            )
        values = (
            "jsonb_build_object('temperature', round((20 + 5 * sin(extract(epoch FROM t) / 13751) "
            "+ random())::numeric, 2), 'humidity', round((50 + 10 * random())::numeric, 1), "
            "'battery', 90, 'rssi', -70 - floor(random() * 20)::int)"
        )
        await conn.execute(
            "INSERT INTO telemetry (tenant_id, device_id, ts, values) "  # noqa: S608 (constant)
            f"SELECT $1, $2, t, {values} "
            "FROM generate_series($3::timestamptz, $4, interval '1 minute') AS t",
            tenant,
            device,
            start,
            now,
        )
        own = await conn.fetchval("SELECT count(*) FROM telemetry WHERE device_id = $1", device)
        remaining = max(rows - own, 0)
        per_device = remaining // OTHER_DEVICES + 1
        step = timedelta(days=DAYS) / per_device
        await conn.execute(
            "INSERT INTO telemetry (tenant_id, device_id, ts, values) "  # noqa: S608 (constant)
            f"SELECT $1, d, t, {values} FROM unnest($2::uuid[]) AS d, "
            "LATERAL (SELECT $3::timestamptz + g * $4::interval AS t "
            "FROM generate_series(0, $5 - 1) AS g) AS x",
            tenant,
            others,
            start,
            step,
            per_device,
        )
        await conn.execute("ANALYZE telemetry")
        # As the maintenance job leaves a table after a day: finished days compacted.
        app = await asyncpg.connect(owner, server_settings={"role": "gito_app"})
        try:
            await run_maintenance(
                app, ahead_days=2, dead_letter_retention_days=7, dead_letter_max_rows=100_000
            )
        finally:
            await app.close()
        return tenant, device
    finally:
        await conn.close()


async def _measure(database_url: str, rows: int, repeats: int) -> QueryResult:
    owner = asyncpg_dsn(database_url)
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    tenant, device = await _seed(owner, rows, now)
    init_engine(database_url, pool_size=2)
    try:
        start, end = now - timedelta(days=30), now
        timings = []
        buckets = 0
        for _ in range(repeats + 1):
            async with tenant_transaction(tenant) as session:
                began = time.perf_counter()
                data = await service.series(
                    session,
                    device,
                    ["temperature"],
                    start,
                    end,
                    interval=timedelta(hours=1),
                    agg=Aggregate.AVG,
                    limit=1000,
                )
                timings.append((time.perf_counter() - began) * 1000)
                buckets = len(data["temperature"])
        async with tenant_transaction(tenant) as session:
            began = time.perf_counter()
            await service.series(
                session,
                device,
                ["temperature", "humidity"],
                start,
                end,
                interval=None,
                agg=None,
                limit=1000,
            )
            raw_ms = (time.perf_counter() - began) * 1000
    finally:
        await dispose_engine()
    conn = await asyncpg.connect(owner)
    try:
        total = await conn.fetchval("SELECT count(*) FROM telemetry")
        device_rows = await conn.fetchval(
            "SELECT count(*) FROM telemetry WHERE device_id = $1 AND ts >= $2",
            device,
            now - timedelta(days=30),
        )
        size, heap = await conn.fetchrow(
            "SELECT coalesce(sum(pg_total_relation_size(c.oid)), 0), "
            "coalesce(sum(pg_relation_size(c.oid)), 0) FROM pg_inherits i "
            "JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = 'telemetry'::regclass"
        )
    finally:
        await conn.close()
    size, heap = int(size), int(heap)  # the sums are numeric
    return QueryResult(
        total,
        device_rows,
        timings[0],
        timings[1:],
        raw_ms,
        buckets,
        size / (total * METRICS),
        size,
        heap,
    )


def run_query_bench(settings: Settings, *, rows: int, repeats: int) -> QueryResult:
    with scratch_database(settings.database_url) as database_url:
        migrations.upgrade(database_url)
        return asyncio.run(_measure(database_url, rows, repeats))


def render(result: QueryResult) -> str:
    warm = sorted(result.warm_ms)
    return "\n".join(
        [
            f"telemetry table         {result.rows_total:,} rows "
            f"({result.table_bytes / 1e6:.0f} MB table+index)",
            f"device rows in 30 days  {result.rows_device_30d:,} (one per minute)",
            f"30-day hourly avg       first {result.cold_ms:.1f} ms, then median "
            f"{statistics.median(warm):.1f} ms, max {warm[-1]:.1f} ms over {len(warm)} runs "
            f"({result.buckets} buckets)",
            f"newest 1000 raw points  {result.raw_1000_ms:.1f} ms (2 keys)",
            f"storage                 {result.bytes_per_metric:.1f} B of table+index per metric "
            f"({result.heap_bytes / result.rows_total:.0f} B heap + "
            f"{(result.table_bytes - result.heap_bytes) / result.rows_total:.0f} B index per row)",
        ]
    )
