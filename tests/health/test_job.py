"""The health job through the real scheduler: every tenant, the list's copy of the score, and
no waiting on device rows the telemetry writer holds."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

import asyncpg
import orjson

from gito.config import Settings
from gito.db.rawpool import create_app_pool
from gito.scheduler.jobs import JOBS, Job
from gito.scheduler.runner import Scheduler
from tests.factories import Factory
from tests.health.helpers import owner_execute, write

HEALTH = next(j for j in JOBS if j.name == "health")


async def _run_health(settings: Settings) -> str:
    """One run of the health job under a unique name (the interval lock is per name)."""
    name = f"health-{uuid.uuid4().hex[:6]}"
    pool = await create_app_pool(settings.database_url or "", max_size=1)
    try:
        assert await Scheduler(settings, pool, jobs=[]).run_job(Job(name, 0.001, HEALTH.run))
    finally:
        await pool.close()
    return name


async def test_job_scores_every_tenant_and_copies_to_devices(
    settings: Settings, factory: Factory, owner_dsn: str
) -> None:
    assert HEALTH.interval_s == 300
    a = await factory.tenant()
    b = await factory.tenant()
    now = datetime.now(UTC)
    fresh, _ = await factory.device(a, expected_interval_s=60)
    silent, _ = await factory.device(a)
    other, _ = await factory.device(b)
    await write(owner_dsn, a.id, fresh, [(now, {"battery": 90, "rssi": -70})])

    name = await _run_health(settings)

    rows = await owner_execute(
        owner_dsn,
        "SELECT d.id, d.health_score, h.score, h.computed_at FROM devices d "
        "JOIN device_health h ON h.device_id = d.id WHERE d.id = ANY($1)",
        [fresh, silent, other],
    )
    by_id = {r["id"]: r for r in rows}
    assert set(by_id) == {fresh, silent, other}
    assert all(r["health_score"] == r["score"] for r in rows)
    assert by_id[fresh]["score"] == 100
    assert by_id[silent]["score"] == 40  # never seen: freshness 0 (30), no alarm 100 (20)
    assert by_id[other]["score"] == 40
    runs = await owner_execute(
        owner_dsn, "SELECT detail::text FROM scheduler_runs WHERE job = $1", name
    )
    detail = orjson.loads(runs[0]["detail"])
    assert detail["computed"] >= 3 and detail["changed"] >= 3


async def test_a_device_row_locked_by_the_writer_is_not_waited_for(
    settings: Settings, factory: Factory, owner_dsn: str
) -> None:
    tenant = await factory.tenant()
    locked, _ = await factory.device(tenant)
    free, _ = await factory.device(tenant)
    holder = await asyncpg.connect(owner_dsn)
    try:
        transaction = holder.transaction()
        await transaction.start()
        # What a telemetry batch holds while it is being written.
        await holder.execute("UPDATE devices SET last_seen = now() WHERE id = $1", locked)
        await asyncio.wait_for(_run_health(settings), timeout=30)
        rows = await owner_execute(
            owner_dsn,
            "SELECT d.id, d.health_score, h.score FROM devices d "
            "JOIN device_health h ON h.device_id = d.id WHERE d.id = ANY($1)",
            [locked, free],
        )
        by_id = {r["id"]: (r["health_score"], r["score"]) for r in rows}
        assert by_id[free] == (40, 40)
        assert by_id[locked] == (None, 40)  # scored; the list's copy waits for the next run
        await transaction.rollback()
    finally:
        await holder.close()
    await _run_health(settings)
    rows = await owner_execute(owner_dsn, "SELECT health_score FROM devices WHERE id = $1", locked)
    assert rows[0]["health_score"] == 40


async def test_second_run_keeps_the_window_marks(
    settings: Settings, factory: Factory, owner_dsn: str
) -> None:
    tenant = await factory.tenant()
    device, _ = await factory.device(tenant)
    created = (
        await owner_execute(owner_dsn, "SELECT created_at FROM devices WHERE id = $1", device)
    )[0]["created_at"]
    await _run_health(settings)
    first = await owner_execute(
        owner_dsn, "SELECT * FROM device_health WHERE device_id = $1", device
    )
    await write(owner_dsn, tenant.id, device, [(datetime.now(UTC), {"t": 1})])
    await _run_health(settings)
    second = await owner_execute(
        owner_dsn, "SELECT * FROM device_health WHERE device_id = $1", device
    )
    # A new device is measured from its creation; within 12 h the marks stay.
    assert first[0]["old_mark_at"] == second[0]["old_mark_at"] == created
    assert first[0]["new_mark_at"] == second[0]["new_mark_at"]
    assert second[0]["computed_at"] > first[0]["computed_at"]
    assert second[0]["computed_at"] - created < timedelta(minutes=5)
