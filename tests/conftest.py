"""Test infrastructure: a real PostgreSQL database migrated by Alembic, the app on it.

`GITO_TEST_DATABASE_URL` names a server to use (CI: the system PostgreSQL); without it an
embedded PostgreSQL (pgserver) is started in a temporary directory. Either way each test run
gets a fresh database, so runs never share state. Tests isolate from each other by tenant:
each test makes its own tenants (cheap), exactly as real customers are isolated."""

from __future__ import annotations

import os
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator

import asyncpg
import httpx
import pytest
from sqlalchemy.engine import make_url

from gito.config import Settings
from gito.db import migrations
from gito.db.engine import dispose_engine, init_engine
from tests.factories import Factory

TEST_JWT_SECRET = "test-secret-" + "x" * 40


def _server_url() -> Iterator[str]:
    configured = os.environ.get("GITO_TEST_DATABASE_URL")
    if configured:
        yield configured
        return
    import pgserver

    with tempfile.TemporaryDirectory(prefix="gito-test-pg-") as pgdata:
        server = pgserver.get_server(pgdata, cleanup_mode="stop")
        socket_dir = server.get_uri().split("host=", 1)[1]
        yield f"postgresql://postgres@/postgres?host={socket_dir}"
        server.cleanup()


def _asyncpg_dsn(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


@pytest.fixture(scope="session")
def database_url() -> Iterator[str]:
    """A fresh, migrated database; dropped at the end of the run."""
    import asyncio

    for server_url in _server_url():
        name = f"gito_test_{uuid.uuid4().hex[:12]}"
        admin_dsn = _asyncpg_dsn(server_url)

        async def admin(sql: str, dsn: str = admin_dsn) -> None:
            conn = await asyncpg.connect(dsn)
            try:
                await conn.execute(sql)
            finally:
                await conn.close()

        asyncio.run(admin(f'CREATE DATABASE "{name}"'))
        url = make_url(server_url).set(database=name).render_as_string(hide_password=False)
        migrations.upgrade(url)
        yield url
        asyncio.run(admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(scope="session", autouse=True)
def _cheaper_password_hashing() -> Iterator[None]:
    """argon2id at the production cost takes 0.1-0.2 s per hash on 2 cores, and the suite
    creates hundreds of users. Same algorithm and code path, lower cost parameters."""
    from argon2 import PasswordHasher

    from gito.auth import security

    original = security._hasher
    security._hasher = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    yield
    security._hasher = original


@pytest.fixture(scope="session")
def settings(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return Settings(
        _env_file=None,  # type: ignore[call-arg]
        app_env="test",
        database_url=database_url,
        jwt_secret_key=TEST_JWT_SECRET,
        rate_limit_per_minute=1_000_000,
        redis_url=None,
        gito_data_dir=tmp_path_factory.mktemp("gito-data"),
    )


@pytest.fixture(scope="session")
async def app(settings: Settings) -> AsyncIterator[object]:
    from gito.api.app import create_app

    init_engine(settings.database_url or "", pool_size=5)
    yield create_app(settings)
    await dispose_engine()


@pytest.fixture
async def client(app: object) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app, client=("10.1.2.3", 5555))  # type: ignore[arg-type]
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        yield c


@pytest.fixture
def factory(app: object, settings: Settings) -> Factory:
    return Factory(settings)


@pytest.fixture(scope="session")
def owner_dsn(database_url: str) -> str:
    """asyncpg DSN of the migration owner, for SQL-level tests."""
    return _asyncpg_dsn(database_url)
