"""Engines and transactions.

Two connections exist to the database:

* the **owner** connection (`DATABASE_URL` as given) runs migrations only;
* the **app** connection is the same URL with `role=gito_app`, a non-owner role created by the
  migrations, so row-level security really applies to everything the platform does.

The tenant is set per transaction (`set_config('app.tenant_id', ..., true)`), which is why a
transaction is owned by the request or batch that opened it, and services never commit.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

APP_ROLE = "gito_app"

_engine: AsyncEngine | None = None
_sessionmaker: async_sessionmaker[AsyncSession] | None = None


def async_url(url: str) -> str:
    """`postgres://`, `postgresql://` or `postgresql+asyncpg://` → the asyncpg form."""
    parsed = make_url(url)
    return parsed.set(drivername="postgresql+asyncpg").render_as_string(hide_password=False)


def create_app_engine(url: str, *, pool_size: int = 10) -> AsyncEngine:
    return create_async_engine(
        async_url(url),
        pool_size=pool_size,
        max_overflow=pool_size,
        pool_pre_ping=True,
        connect_args={"server_settings": {"role": APP_ROLE, "application_name": "gito"}},
    )


def create_owner_engine(url: str) -> AsyncEngine:
    return create_async_engine(async_url(url), pool_size=2)


def init_engine(url: str, *, pool_size: int = 10) -> AsyncEngine:
    global _engine, _sessionmaker
    _engine = create_app_engine(url, pool_size=pool_size)
    _sessionmaker = async_sessionmaker(_engine, expire_on_commit=False)
    return _engine


async def dispose_engine() -> None:
    global _engine, _sessionmaker
    if _engine is not None:
        await _engine.dispose()
    _engine = None
    _sessionmaker = None


def sessionmaker() -> async_sessionmaker[AsyncSession]:
    if _sessionmaker is None:
        raise RuntimeError("database engine not initialised; call init_engine() first")
    return _sessionmaker


async def set_tenant(session: AsyncSession, tenant_id: uuid.UUID) -> None:
    """Bind the current transaction to one tenant; every RLS policy reads this setting."""
    await session.execute(
        text("SELECT set_config('app.tenant_id', :t, true)"), {"t": str(tenant_id)}
    )


async def enable_platform_scope(session: AsyncSession) -> None:
    """Let this transaction see every tenant row in `tenants` (SUPER_ADMIN platform work).

    Only the `tenants` table honours this flag; callers audit what they do with it."""
    await session.execute(text("SELECT set_config('app.platform', 'on', true)"))


@asynccontextmanager
async def tenant_transaction(tenant_id: uuid.UUID) -> AsyncIterator[AsyncSession]:
    """A session inside one committed-on-success transaction bound to `tenant_id`."""
    async with sessionmaker()() as session, session.begin():
        await set_tenant(session, tenant_id)
        yield session


@asynccontextmanager
async def unscoped_transaction() -> AsyncIterator[AsyncSession]:
    """A transaction with no tenant bound: RLS shows no tenant rows. Used for the narrow
    SECURITY DEFINER look-ups (login, token resolution) that find the tenant first."""
    async with sessionmaker()() as session, session.begin():
        yield session


async def driver_connection(session: AsyncSession) -> Any:
    """The asyncpg connection under a session's transaction, for what the ORM does badly
    (COPY, array parameters, NOTIFY). Statements on it run in the session's transaction."""
    connection = await session.connection()
    raw = await connection.get_raw_connection()
    return raw.driver_connection


async def db_ping() -> dict[str, Any]:
    async with sessionmaker()() as session:
        version = (await session.execute(text("SHOW server_version"))).scalar_one()
    return {"server_version": version}
