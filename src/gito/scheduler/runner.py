"""`gito scheduler`: periodic jobs, safe to run in several processes at once.

Every job run is one transaction that first takes `pg_try_advisory_xact_lock` on the job's
key and skips when another process holds it. The lock alone stops two runs overlapping, not
two runs back to back (a second scheduler starting just after the first one finished), so
under the lock the runner also reads the job's last run from `scheduler_runs` and skips when
it began less than 90 % of an interval ago. Together: each job runs once per interval, by
whichever scheduler gets there first, and a scheduler that dies hands over at once (its
transaction, and with it the lock, ends with its connection). No leader to elect or renew.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import time
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime

import asyncpg
import orjson
import structlog

from gito.commands.sender import CommandSender, sender_address
from gito.config import Settings
from gito.db.rawpool import app_pool_with_retry
from gito.events.bus import RedisPublisher, notify_in_transaction
from gito.scheduler.jobs import JOBS, Job, JobContext, JobResult

log = structlog.get_logger("gito.scheduler")

# A run counts for its interval if it began within this share of it: slack for timers.
INTERVAL_SLACK = 0.9


def runner_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


class Scheduler:
    def __init__(
        self,
        settings: Settings,
        pool: asyncpg.Pool,
        *,
        sender: CommandSender | None = None,
        jobs: Sequence[Job] = JOBS,
        name: str | None = None,
    ) -> None:
        self.settings = settings
        self.pool = pool
        self.sender = sender
        self.jobs = list(jobs)
        self.name = name or runner_id()
        self.redis = RedisPublisher(settings.redis_url) if settings.redis_url else None
        # Runs this process performed, by job (the table has every process's).
        self.runs: dict[str, int] = {}

    async def run_job(self, job: Job) -> bool:
        """Run `job` unless another process is running it or ran it this interval; True
        when this process ran it."""
        started = time.perf_counter()
        async with self.pool.acquire() as conn, conn.transaction():
            if not await conn.fetchval(
                "SELECT pg_try_advisory_xact_lock(hashtext($1))", f"gito:job:{job.name}"
            ):
                return False
            await conn.execute("SELECT set_config('app.platform', 'on', true)")
            recent = await conn.fetchval(
                """
                SELECT 1 FROM scheduler_runs
                WHERE job = $1 AND started_at > now() - make_interval(secs => $2)
                LIMIT 1
                """,
                job.name,
                job.interval_s * INTERVAL_SLACK,
            )
            await conn.execute("SELECT set_config('app.platform', '', true)")
            if recent:
                return False
            result = await job.run(conn, JobContext(self.settings, self.sender, datetime.now(UTC)))
            if result.events and self.redis is None:
                await notify_in_transaction(conn, result.events)
            await conn.execute("SELECT set_config('app.platform', 'on', true)")
            await conn.execute(
                """
                INSERT INTO scheduler_runs (job, runner, started_at, duration_ms, detail)
                VALUES ($1, $2, now(), $3, $4::jsonb)
                """,
                job.name,
                self.name,
                (time.perf_counter() - started) * 1000,
                orjson.dumps(result.detail).decode(),
            )
        self.runs[job.name] = self.runs.get(job.name, 0) + 1
        await self._publish(result)
        return True

    async def _publish(self, result: JobResult) -> None:
        if self.redis is not None and result.events:
            try:
                await self.redis.publish(result.events)
            except Exception as exc:  # live events are best effort; the data is committed
                log.warning("live event publish failed", error=str(exc))

    async def _loop(self, job: Job, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                await self.run_job(job)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.exception("scheduler job failed", job=job.name, error=repr(exc))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), job.interval_s)

    async def run(self, stop: asyncio.Event) -> None:
        log.info("scheduler started", runner=self.name, jobs=[j.name for j in self.jobs])
        tasks = [
            asyncio.create_task(self._loop(job, stop), name=f"gito-job-{job.name}")
            for job in self.jobs
        ]
        try:
            await stop.wait()
        finally:
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
            if self.sender is not None:
                await self.sender.close()
            if self.redis is not None:
                await self.redis.close()


async def run_scheduler(settings: Settings, stop: asyncio.Event) -> None:
    """The scheduler role: its own small pool and its own MQTT connection for resends, and a
    notifier (several notifiers share the deliveries, so every scheduler may run one)."""
    from gito.notifications.notifier import Notifier

    assert settings.database_url
    # Jobs take one connection each at most; the notifier one to LISTEN, one to claim and
    # a few to record outcomes.
    pool = await app_pool_with_retry(settings.database_url, stop, max_size=8)
    try:
        sender = CommandSender(sender_address(settings), client_prefix="gito-scheduler")
        await asyncio.gather(
            Scheduler(settings, pool, sender=sender).run(stop),
            Notifier(settings, pool).run(stop),
        )
    finally:
        await pool.close()
