"""The scheduler: jobs run once per interval across processes, and what each job does."""

from __future__ import annotations

import asyncio
import itertools
import uuid
from datetime import UTC, datetime, timedelta

import asyncpg

from gito.config import Settings
from gito.db.rawpool import create_app_pool
from gito.scheduler.jobs import (
    JOBS,
    Job,
    JobContext,
    JobResult,
    audit_retention,
    no_data_alarms,
    offline_detection,
    telemetry_maintenance,
)
from gito.scheduler.runner import Scheduler
from tests.factories import Factory


async def test_two_schedulers_run_each_job_once_per_interval(
    settings: Settings, owner_dsn: str
) -> None:
    name = f"probe-{uuid.uuid4().hex[:6]}"
    executions: list[tuple[str, float]] = []
    active = 0
    overlaps = 0

    async def probe(conn: asyncpg.Connection, ctx: JobContext) -> JobResult:
        nonlocal active, overlaps
        active += 1
        overlaps += active > 1
        executions.append((ctx.now.isoformat(), asyncio.get_running_loop().time()))
        await asyncio.sleep(0.2)  # long enough for the other scheduler to try meanwhile
        active -= 1
        return JobResult(detail={"n": len(executions)})

    job = Job(name, 1.0, probe)
    pools = [await create_app_pool(settings.database_url or "", max_size=2) for _ in range(2)]
    schedulers = [
        Scheduler(settings, pool, jobs=[job], name=f"s{i}") for i, pool in enumerate(pools)
    ]
    stop = asyncio.Event()
    tasks = [asyncio.create_task(s.run(stop)) for s in schedulers]
    await asyncio.sleep(3.6)
    stop.set()
    await asyncio.gather(*tasks)
    for pool in pools:
        await pool.close()

    conn = await asyncpg.connect(owner_dsn)
    try:
        rows = await conn.fetch(
            "SELECT runner, started_at FROM scheduler_runs WHERE job = $1 ORDER BY started_at",
            name,
        )
    finally:
        await conn.close()
    # t = 0, 1, 2, 3 (±timer jitter): four intervals, one run each, whoever ran it.
    assert len(rows) == len(executions) == sum(s.runs.get(name, 0) for s in schedulers)
    assert 3 <= len(rows) <= 4, rows
    assert overlaps == 0
    gaps = [
        (b["started_at"] - a["started_at"]).total_seconds() for a, b in itertools.pairwise(rows)
    ]
    assert all(gap >= 0.9 for gap in gaps), gaps


async def test_a_failing_job_rolls_back_and_is_retried(settings: Settings) -> None:
    calls = 0

    async def flaky(conn: asyncpg.Connection, ctx: JobContext) -> JobResult:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise RuntimeError("boom")
        return JobResult()

    job = Job(f"flaky-{uuid.uuid4().hex[:6]}", 0.2, flaky)
    pool = await create_app_pool(settings.database_url or "", max_size=1)
    scheduler = Scheduler(settings, pool, jobs=[job])
    stop = asyncio.Event()
    task = asyncio.create_task(scheduler.run(stop))
    async with asyncio.timeout(20):
        while scheduler.runs.get(job.name, 0) < 1:
            await asyncio.sleep(0.05)
    stop.set()
    await task
    await pool.close()
    # The failed run left no record, so the next interval ran it again.
    assert calls >= 2 and scheduler.runs[job.name] == calls - 1


async def _run(settings: Settings, job: Job) -> Scheduler:
    pool = await create_app_pool(settings.database_url or "", max_size=1)
    try:
        scheduler = Scheduler(settings, pool, jobs=[])
        unique = Job(f"{job.name}-{uuid.uuid4().hex[:6]}", 0.001, job.run)
        assert await scheduler.run_job(unique)
        return scheduler
    finally:
        await pool.close()


async def test_offline_detection_uses_expected_interval(
    settings: Settings, factory: Factory, owner_dsn: str
) -> None:
    tenant = await factory.tenant()
    quiet, _ = await factory.device(tenant, expected_interval_s=60)
    chatty, _ = await factory.device(tenant, expected_interval_s=600)
    default, _ = await factory.device(tenant)
    now = datetime.now(UTC)
    conn = await asyncpg.connect(owner_dsn)
    try:
        for device, ago in ((quiet, 200), (chatty, 200), (default, 1000)):
            await conn.execute(
                "UPDATE devices SET status = 'online', last_seen = $2 WHERE id = $1",
                device,
                now - timedelta(seconds=ago),
            )
        listen: list[str] = []
        await conn.add_listener("gito_events", lambda *a: listen.append(a[-1]))
        await _run(settings, Job("offline", 1, offline_detection))
        await asyncio.sleep(0.2)
        statuses = {
            r["id"]: r["status"]
            for r in await conn.fetch(
                "SELECT id, status FROM devices WHERE id = ANY($1)", [quiet, chatty, default]
            )
        }
    finally:
        await conn.close()
    # 200 s > 3 x 60 s; 200 s < 3 x 600 s; 1000 s > the 15 min default.
    assert statuses == {quiet: "offline", chatty: "online", default: "offline"}
    text = "".join(listen)
    assert str(quiet) in text and str(default) in text and str(chatty) not in text
    assert '"previous_status":"online"' in text


async def test_audit_retention_deletes_only_old_entries(
    settings: Settings, factory: Factory, owner_dsn: str
) -> None:
    tenant = await factory.tenant()
    await factory.device(tenant)  # writes one audit entry
    conn = await asyncpg.connect(owner_dsn)
    try:
        old = await conn.fetchval(
            "INSERT INTO audit_log (tenant_id, action, entity_type, created_at) "
            "VALUES ($1, 'old.thing', 'thing', now() - interval '400 days') RETURNING id",
            tenant.id,
        )
        await _run(settings, Job("audit_retention", 1, audit_retention))
        remaining = await conn.fetch(
            "SELECT id, action FROM audit_log WHERE tenant_id = $1", tenant.id
        )
        # The app role itself still cannot delete from the log.
        app = await asyncpg.connect(owner_dsn, server_settings={"role": "gito_app"})
        try:
            denied = False
            try:
                await app.execute("DELETE FROM audit_log")
            except asyncpg.InsufficientPrivilegeError:
                denied = True
        finally:
            await app.close()
    finally:
        await conn.close()
    assert old not in {r["id"] for r in remaining}
    assert [r["action"] for r in remaining] == ["device.create"]
    assert denied


async def test_maintenance_and_no_data_jobs_run(settings: Settings, owner_dsn: str) -> None:
    for job in (
        Job("telemetry_maintenance", 1, telemetry_maintenance),
        Job("no_data_alarms", 1, no_data_alarms),
    ):
        await _run(settings, job)
    conn = await asyncpg.connect(owner_dsn)
    try:
        details = await conn.fetch(
            "SELECT job, detail FROM scheduler_runs WHERE job LIKE 'telemetry_maintenance-%' "
            "OR job LIKE 'no_data_alarms-%'"
        )
        ahead = await conn.fetchval(
            "SELECT count(*) FROM gito_telemetry_partitions() WHERE day > current_date"
        )
    finally:
        await conn.close()
    assert len(details) >= 2
    assert ahead >= settings.telemetry_partitions_ahead_days
    assert {j.name for j in JOBS} == {
        "commands",
        "offline",
        "no_data_alarms",
        "health",
        "telemetry_maintenance",
        "audit_retention",
    }
