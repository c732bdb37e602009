"""`gito scheduler` as real processes: two started together share the work."""

from __future__ import annotations

import asyncio
import itertools
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


_RUNS = (
    "SELECT job, runner, started_at FROM scheduler_runs "
    "WHERE split_part(runner, ':', 2) = ANY($1) ORDER BY started_at"
)


async def _first_round(owner_dsn: str, pids: list[str]) -> None:
    conn = await asyncpg.connect(owner_dsn)
    try:
        async with asyncio.timeout(60):
            while len({r["job"] for r in await conn.fetch(_RUNS, pids)}) < 5:
                await asyncio.sleep(0.2)
    finally:
        await conn.close()


async def test_two_scheduler_processes_never_double_run_a_job(
    database_url: str, owner_dsn: str
) -> None:
    processes = [_scheduler(database_url) for _ in range(2)]
    pids = [str(p.pid) for p in processes]
    try:
        # Start-up takes seconds on a busy machine: wait for the first round of jobs, then
        # let a few command intervals pass.
        await _first_round(owner_dsn, pids)
        await asyncio.sleep(5)
    finally:
        for process in processes:
            process.send_signal(signal.SIGTERM)
        codes = [process.wait(30) for process in processes]
    assert codes == [0, 0]  # a clean shutdown on SIGTERM
    conn = await asyncpg.connect(owner_dsn)
    try:
        rows = await conn.fetch(_RUNS, pids)
    finally:
        await conn.close()
    per_job: dict[str, int] = {}
    for row in rows:
        per_job[row["job"]] = per_job.get(row["job"], 0) + 1
    # Long-interval jobs ran exactly once in these seconds, by one process or the other;
    # the 2 s command job several times, never twice within one interval.
    for job in ("offline", "no_data_alarms", "telemetry_maintenance", "audit_retention"):
        assert per_job.get(job) == 1, per_job
    starts = [r["started_at"] for r in rows if r["job"] == "commands"]
    assert len(starts) >= 3, per_job
    gaps = [(b - a).total_seconds() for a, b in itertools.pairwise(starts)]
    assert all(gap >= 1.8 for gap in gaps), gaps
