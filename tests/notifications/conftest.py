"""A notifier running against the test database, a client of an API whose settings have an
SMTP server, and helpers to create channels and raise alarms through the real write path."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import asyncpg
import httpx
import pytest

from gito.config import Settings
from gito.db.rawpool import create_app_pool
from gito.notifications.notifier import Notifier
from tests.alarms.helpers import at, make_rule, send
from tests.api.helpers import data
from tests.factories import TenantFixture
from tests.processor.conftest import broker, processor, processor_settings, wait_for

# The processor tests' private Mosquitto and processor, for the end-to-end test.
__all__ = ["broker", "processor", "processor_settings", "wait_for"]


@pytest.fixture
def notify_settings(settings: Settings) -> Settings:
    """Fast retries, a short receiver timeout, SMTP pointed at nothing until a test says."""
    return settings.model_copy(
        update={
            "notify_retry_base_s": 0.05,
            "notify_retry_max_s": 0.5,
            "notify_timeout_s": 2.0,
            "notify_max_attempts": 4,
            "smtp_host": "127.0.0.1",
            "smtp_port": 9,
        }
    )


@pytest.fixture
async def app_pool(settings: Settings) -> AsyncIterator[asyncpg.Pool]:
    pool = await create_app_pool(settings.database_url or "", max_size=6)
    yield pool
    await pool.close()


RunNotifier = Callable[..., Awaitable[Notifier]]


@pytest.fixture
async def run_notifier(
    notify_settings: Settings, app_pool: asyncpg.Pool
) -> AsyncIterator[RunNotifier]:
    """Start notifiers (with settings overrides); all are stopped at the end of the test."""
    running: list[tuple[asyncio.Event, asyncio.Task[None]]] = []

    async def start(**overrides: Any) -> Notifier:
        notifier = Notifier(notify_settings.model_copy(update=overrides), app_pool)
        stop = asyncio.Event()
        running.append((stop, asyncio.create_task(notifier.run(stop))))
        return notifier

    yield start
    for stop, _task in running:
        stop.set()
    for _, task in running:
        await asyncio.wait_for(task, 10)


@pytest.fixture
async def smtp_client(app: object, notify_settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """A client of an API configured with an SMTP server (e-mail channels need one)."""
    from gito.api.app import create_app

    smtp_app = create_app(notify_settings)
    transport = httpx.ASGITransport(app=smtp_app, client=("10.1.2.4", 5555))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        yield c


async def make_channel(
    client: httpx.AsyncClient, tenant: TenantFixture, **body: Any
) -> dict[str, Any]:
    response = await client.post(
        tenant.url("/notification-channels"), json=body, headers=tenant.admin.headers
    )
    channel: dict[str, Any] = data(response, 201)
    return channel


async def raise_alarm(
    client: httpx.AsyncClient,
    owner_dsn: str,
    tenant: TenantFixture,
    device: uuid.UUID,
    *,
    severity: str = "MAJOR",
    value: float = 35.0,
) -> str:
    """A rule on temperature > 30 and one breaching reading through the write path."""
    rule = await make_rule(
        client,
        tenant,
        severity=severity,
        condition={"field": "temperature", "operator": ">", "value": 30},
    )
    await send(owner_dsn, tenant.id, device, [(at(0), {"temperature": value})])
    return rule


async def deliveries(owner_dsn: str, channel_id: str) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(owner_dsn)
    try:
        return await conn.fetch(
            "SELECT * FROM notification_deliveries WHERE channel_id = $1 ORDER BY created_at",
            uuid.UUID(channel_id),
        )
    finally:
        await conn.close()
