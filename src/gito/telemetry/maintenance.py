"""Telemetry housekeeping: partitions ahead, per-tenant retention, dead-letter trimming.

Partitions are shared by all tenants (by day), so retention works in two steps: rows of a
tenant older than its own `retention_days` are deleted, and a whole day partition is dropped
once it is older than the longest retention of any tenant (cheap, no vacuum)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

import asyncpg
import structlog

log = structlog.get_logger("gito.telemetry.maintenance")

# Every maintenance run takes this transaction-level advisory lock; concurrent runs by
# other processes skip instead of doing the same work twice.
LOCK_KEY = "gito:telemetry-maintenance"
# A day partition is compacted this many days after it began (yesterday's may still fill).
COMPACT_AFTER_DAYS = 2


@dataclass
class MaintenanceReport:
    skipped: bool = False
    partitions_created: list[str] = field(default_factory=list)
    partitions_dropped: list[date] = field(default_factory=list)
    partitions_compacted: list[date] = field(default_factory=list)
    rows_trimmed: int = 0
    dead_letters_trimmed: int = 0


async def run_maintenance(
    conn: asyncpg.Connection,
    *,
    ahead_days: int,
    dead_letter_retention_days: int,
    dead_letter_max_rows: int,
    today: date | None = None,
) -> MaintenanceReport:
    report = MaintenanceReport()
    today = today or datetime.now(UTC).date()
    async with conn.transaction():
        if not await conn.fetchval("SELECT pg_try_advisory_xact_lock(hashtext($1))", LOCK_KEY):
            report.skipped = True
            return report
        for offset in range(-1, ahead_days + 1):
            report.partitions_created.append(
                await conn.fetchval(
                    "SELECT gito_ensure_telemetry_partition($1)", today + timedelta(days=offset)
                )
            )
        await conn.execute("SELECT set_config('app.platform', 'on', true)")
        tenants = await conn.fetch("SELECT id, retention_days FROM tenants")
        await conn.execute("SELECT set_config('app.platform', '', true)")
        now = datetime.combine(today, datetime.min.time(), UTC)
        longest = max((t["retention_days"] for t in tenants), default=365)
        for tenant in tenants:
            await conn.execute("SELECT set_config('app.tenant_id', $1, true)", str(tenant["id"]))
            status = await conn.execute(
                "DELETE FROM telemetry WHERE tenant_id = $1 AND ts < $2",
                tenant["id"],
                now - timedelta(days=tenant["retention_days"]),
            )
            report.rows_trimmed += int(status.rsplit(" ", 1)[-1])
            report.dead_letters_trimmed += await _trim_dead_letters(
                conn, now - timedelta(days=dead_letter_retention_days), dead_letter_max_rows
            )
        await conn.execute("SELECT set_config('app.tenant_id', '', true)")
        report.dead_letters_trimmed += await _trim_dead_letters(
            conn, now - timedelta(days=dead_letter_retention_days), dead_letter_max_rows
        )
        # Days that ended at least a day ago take no more than late data: pack their index.
        settled = today - timedelta(days=COMPACT_AFTER_DAYS)
        for row in await conn.fetch(
            "SELECT day FROM gito_telemetry_partitions() WHERE day < $1 ORDER BY day", settled
        ):
            if await conn.fetchval("SELECT gito_compact_telemetry_partition($1)", row["day"]):
                report.partitions_compacted.append(row["day"])
        cutoff = today - timedelta(days=longest + 1)
        for row in await conn.fetch(
            "SELECT day FROM gito_telemetry_partitions() WHERE day < $1", cutoff
        ):
            if await conn.fetchval("SELECT gito_drop_telemetry_partition($1)", row["day"]):
                report.partitions_dropped.append(row["day"])
    if report.partitions_dropped or report.rows_trimmed or report.partitions_compacted:
        log.info(
            "telemetry maintenance",
            dropped=[d.isoformat() for d in report.partitions_dropped],
            compacted=[d.isoformat() for d in report.partitions_compacted],
            rows_trimmed=report.rows_trimmed,
            dead_letters_trimmed=report.dead_letters_trimmed,
        )
    return report


async def _trim_dead_letters(conn: asyncpg.Connection, older_than: datetime, max_rows: int) -> int:
    """Dead letters of the bound tenant (or of no tenant, when none is bound): older than the
    retention, and beyond the newest `max_rows`, so a misbehaving fleet cannot fill the disk."""
    status = await conn.execute(
        """
        DELETE FROM telemetry_dead_letters WHERE id IN (
          SELECT id FROM telemetry_dead_letters
          WHERE tenant_id IS NOT DISTINCT FROM gito_current_tenant()
          ORDER BY id DESC OFFSET $2
        ) OR (tenant_id IS NOT DISTINCT FROM gito_current_tenant() AND received_at < $1)
        """,
        older_than,
        max_rows,
    )
    return int(status.rsplit(" ", 1)[-1])
