"""The scheduler's jobs. Each runs inside the transaction the runner opened (and locked);
a job binds tenants itself, one after another, and returns its live events and a summary."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import asyncpg

from gito.commands import service as commands
from gito.commands.sender import CommandSender, command_payload
from gito.config import Settings
from gito.health.score import compute_tenant
from gito.telemetry.maintenance import run_maintenance

Event = dict[str, Any]

# Without an expected interval, a device is offline after this long without data.
DEFAULT_OFFLINE_AFTER_S = 15 * 60
# A device is offline after missing this many of its expected messages.
OFFLINE_FACTOR = 3


@dataclass
class JobResult:
    events: list[tuple[uuid.UUID, Event]] = field(default_factory=list)
    detail: dict[str, Any] = field(default_factory=dict)


@dataclass
class JobContext:
    settings: Settings
    sender: CommandSender | None
    now: datetime


JobFn = Callable[[asyncpg.Connection, JobContext], Awaitable[JobResult]]


@dataclass(frozen=True)
class Job:
    name: str
    interval_s: float
    run: JobFn


async def _tenants(conn: asyncpg.Connection) -> list[uuid.UUID]:
    await conn.execute("SELECT set_config('app.platform', 'on', true)")
    rows = await conn.fetch("SELECT id FROM tenants ORDER BY id")
    await conn.execute("SELECT set_config('app.platform', '', true)")
    return [r["id"] for r in rows]


async def _bind(conn: asyncpg.Connection, tenant: uuid.UUID | None) -> None:
    await conn.execute(
        "SELECT set_config('app.tenant_id', $1, true)", str(tenant) if tenant else ""
    )


_OFFLINE = """
UPDATE devices d SET status = 'offline', updated_at = now()
FROM (
  SELECT id, status AS old_status FROM devices
  WHERE status <> 'offline' AND last_seen IS NOT NULL
    AND last_seen < $1::timestamptz
      - make_interval(secs => COALESCE(expected_interval_s * $2::int, $3::float8))
  ORDER BY id
  FOR UPDATE
) o
WHERE d.id = o.id
RETURNING d.id, o.old_status, d.last_seen
"""


async def offline_detection(conn: asyncpg.Connection, ctx: JobContext) -> JobResult:
    """Devices silent for 3 times their expected interval (15 min without one) go offline."""
    result = JobResult()
    for tenant in await _tenants(conn):
        await _bind(conn, tenant)
        for row in await conn.fetch(
            _OFFLINE, ctx.now, OFFLINE_FACTOR, float(DEFAULT_OFFLINE_AFTER_S)
        ):
            result.events.append(
                (
                    tenant,
                    {
                        "type": "device_status",
                        "device_id": str(row["id"]),
                        "status": "offline",
                        "previous_status": row["old_status"],
                        "last_seen": row["last_seen"].isoformat(),
                    },
                )
            )
    await _bind(conn, None)
    result.detail["offline"] = len(result.events)
    return result


async def command_deadlines(conn: asyncpg.Connection, ctx: JobContext) -> JobResult:
    """Overdue commands: SENT → TIMEOUT, PENDING → EXPIRED; PENDING ones still in time are
    published again (the broker was unreachable when they were created)."""
    result = JobResult()
    closed = resent = 0
    for tenant in await _tenants(conn):
        await _bind(conn, tenant)
        for row in await commands.close_overdue(conn, ctx.now):
            result.events.append((tenant, commands.command_event(row)))
            closed += 1
        if ctx.sender is None:
            continue
        for row in await commands.open_commands(conn):
            params = commands.json_value(row["params"])
            payload = command_payload(row["id"], row["name"], params)
            if not await ctx.sender.send(tenant, row["device_id"], payload):
                break  # the broker is still away: leave the rest for the next run
            sent = await commands.mark_sent(conn, row["id"])
            if sent is not None:
                result.events.append((tenant, commands.command_event(sent)))
                resent += 1
    await _bind(conn, None)
    result.detail.update(closed=closed, resent=resent)
    return result


async def telemetry_maintenance(conn: asyncpg.Connection, ctx: JobContext) -> JobResult:
    """Partitions ahead, per-tenant telemetry retention, dead-letter trimming."""
    report = await run_maintenance(
        conn,
        ahead_days=ctx.settings.telemetry_partitions_ahead_days,
        dead_letter_retention_days=ctx.settings.dead_letter_retention_days,
        dead_letter_max_rows=ctx.settings.dead_letter_max_rows,
        today=ctx.now.date(),
    )
    return JobResult(
        detail={
            "skipped": report.skipped,
            "dropped": len(report.partitions_dropped),
            "rows_trimmed": report.rows_trimmed,
            "dead_letters_trimmed": report.dead_letters_trimmed,
        }
    )


async def audit_retention(conn: asyncpg.Connection, ctx: JobContext) -> JobResult:
    """Audit entries older than AUDIT_RETENTION_DAYS are deleted (the one deletion the
    append-only log allows, through a SECURITY DEFINER function)."""
    deleted = await conn.fetchval(
        "SELECT gito_trim_audit_log($1)", ctx.settings.audit_retention_days
    )
    return JobResult(detail={"deleted": deleted})


async def no_data_alarms(conn: asyncpg.Connection, ctx: JobContext) -> JobResult:
    """No-data alarm rules, evaluated by the alarm engine when it is installed."""
    try:
        from gito.alarms.engine import evaluate_no_data
    except ImportError:
        return JobResult(detail={"skipped": "alarm engine not installed"})
    # The engine NOTIFYs its own events in its (nested) transactions.
    changed = await evaluate_no_data(conn, ctx.now)
    return JobResult(detail={"changed": changed})


async def health_scores(conn: asyncpg.Connection, ctx: JobContext) -> JobResult:
    """Health score of every device (docs/HEALTH.md), set-based per tenant."""
    computed = copied = 0
    for tenant in await _tenants(conn):
        await _bind(conn, tenant)
        scores = await compute_tenant(conn, tenant, ctx.now)
        computed += scores.computed
        copied += scores.copied
    await _bind(conn, None)
    return JobResult(detail={"computed": computed, "changed": copied})


# Why these intervals: command deadlines are user-visible seconds; offline status and no-data
# alarms are minutes-scale by definition; partitions are created days ahead; audit retention
# is by day; health scores follow trends of hours (battery, reject rate) and freshness,
# whose scale is the expected interval (minutes).
JOBS: tuple[Job, ...] = (
    Job("commands", 2.0, command_deadlines),
    Job("offline", 30.0, offline_detection),
    Job("no_data_alarms", 30.0, no_data_alarms),
    Job("health", 300.0, health_scores),
    Job("telemetry_maintenance", 600.0, telemetry_maintenance),
    Job("audit_retention", 3600.0, audit_retention),
)
