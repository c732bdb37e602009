"""Plain asyncpg pools for the hot paths (processor batches: COPY, unnest arrays), connected
as the same non-owner `gito_app` role as the ORM engine."""

from __future__ import annotations

import asyncio

import asyncpg
import structlog
from sqlalchemy.engine import make_url

from gito.db.engine import APP_ROLE


def asyncpg_dsn(url: str) -> str:
    """A libpq-style DSN for asyncpg from any SQLAlchemy-style PostgreSQL URL."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


async def create_app_pool(url: str, *, min_size: int = 1, max_size: int = 4) -> asyncpg.Pool:
    pool = await asyncpg.create_pool(
        asyncpg_dsn(url),
        min_size=min_size,
        max_size=max_size,
        server_settings={"role": APP_ROLE, "application_name": "gito-processor"},
    )
    assert pool is not None
    return pool


async def app_pool_with_retry(url: str, stop: asyncio.Event, *, max_size: int) -> asyncpg.Pool:
    """A pool for a background role (scheduler, notifier) that may start before the
    database: retried with backoff until it connects or `stop` is set."""
    delay = 0.5
    while True:
        try:
            return await create_app_pool(url, max_size=max_size)
        except (OSError, asyncpg.PostgresError) as exc:
            if stop.is_set():
                raise
            structlog.get_logger("gito.db").warning(
                "database unreachable; retrying", error=repr(exc), retry_in_s=delay
            )
            await asyncio.sleep(delay)
            delay = min(delay * 2, 10)
