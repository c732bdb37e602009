"""Plain asyncpg pools for the hot paths (processor batches: COPY, unnest arrays), connected
as the same non-owner `gito_app` role as the ORM engine."""

from __future__ import annotations

import asyncpg
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
