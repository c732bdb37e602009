"""`gito scheduler` as real processes: two started together share the work."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys

import asyncpg

from gito.bench.mosquitto import free_port


def _scheduler(database_url: str) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        # No broker there: resends fail fast and the commands stay PENDING, as they should.
        "MQTT_BROKER_HOST": "127.0.0.1",
        "MQTT_BROKER_PORT": str(free_port()),
        "LOG_LEVEL": "WARNING",
    }
    return subprocess.Popen([sys.executable, "-m", "gito.cli", "scheduler"], env=env)


async def test_two_scheduler_processes_never_double_run_a_job(
    database_url: str, owner_dsn: str
) -> None:
    processes = [_scheduler(database_url) for _ in range(2)]
    try:
        await asyncio.sleep(6)
    finally:
        for process in processes:
            process.send_signal(signal.SIGTERM)
        codes = [process.wait(30) for process in processes]
    assert codes == [0, 0]  # a clean shutdown on SIGTERM
    pids = [str(p.pid) for p in processes]
    conn = await asyncpg.connect(owner_dsn)
    try:
        rows = await conn.fetch(
            "SELECT job, runner FROM scheduler_runs WHERE split_part(runner, ':', 2) = ANY($1)",
            pids,
        )
    finally:
        await conn.close()
    per_job: dict[str, int] = {}
    for row in rows:
        per_job[row["job"]] = per_job.get(row["job"], 0) + 1
    # Long-interval jobs ran exactly once in these 6 s, by one process or the other; the
    # 2 s command job about three times, never twice in one interval.
    for job in ("offline", "no_data_alarms", "telemetry_maintenance", "audit_retention"):
        assert per_job.get(job) == 1, per_job
    assert 2 <= per_job.get("commands", 0) <= 4, per_job
