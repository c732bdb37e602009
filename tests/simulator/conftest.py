"""A private Mosquitto, the API served by uvicorn and a processor in this process: the whole
path a simulated device's data takes."""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterator

import asyncpg
import httpx
import pytest

from gito.bench.mosquitto import PrivateMosquitto, free_port, mosquitto_binary, private_mosquitto
from gito.config import Settings
from gito.db.rawpool import create_app_pool
from gito.processor.service import BrokerAddress, Processor
from tests.conftest import TEST_JWT_SECRET

API_START_TIMEOUT_S = 20


@pytest.fixture(scope="module")
def broker() -> Iterator[PrivateMosquitto]:
    if mosquitto_binary() is None:
        pytest.skip("mosquitto binary not installed")
    with private_mosquitto() as b:
        yield b


@pytest.fixture(scope="module")
def api_url(settings: Settings) -> Iterator[str]:
    """`gito api`'s app in its own process, so that a command-line simulator run (a
    subprocess too) and the in-process tests see the same server."""
    port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": settings.database_url or "",
        "JWT_SECRET_KEY": TEST_JWT_SECRET,
        "APP_ENV": "test",
        "RATE_LIMIT_PER_MINUTE": "1000000",
        "REDIS_URL": "",
        "LOG_LEVEL": "WARNING",
    }
    env.pop("MQTT_BROKER_HOST", None)
    command = [sys.executable, "-m", "uvicorn", "gito.api.app:create_app", "--factory"]
    proc = subprocess.Popen(
        [*command, "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"],
        env=env,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + API_START_TIMEOUT_S
        while True:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{url}/api/health", timeout=1).status_code == 200:
                    break
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("API server did not start")
            time.sleep(0.1)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


@pytest.fixture(scope="module")
async def processor(settings: Settings, broker: PrivateMosquitto) -> AsyncIterator[Processor]:
    tag = uuid.uuid4().hex[:8]
    proc_settings = settings.model_copy(
        update={
            "mqtt_broker_host": "127.0.0.1",
            "mqtt_broker_port": broker.port,
            "processor_client_id": f"gito-test-sim-processor-{tag}",
            "processor_shared_group": f"sim{tag}",
            "processor_batch_wait_ms": 20,
        }
    )
    pool = await create_app_pool(proc_settings.database_url or "")
    proc = Processor(proc_settings, pool, BrokerAddress("127.0.0.1", broker.port, None, None))
    stop = asyncio.Event()
    task = asyncio.create_task(proc.run(stop))
    try:
        await asyncio.wait_for(proc.connected.wait(), 10)
        await asyncio.sleep(0.2)  # subscriptions acknowledged
        yield proc
    finally:
        stop.set()
        await asyncio.wait_for(task, 30)
        await pool.close()


async def fetch(owner_dsn: str, sql: str, *args: object) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(owner_dsn)
    try:
        return await conn.fetch(sql, *args)
    finally:
        await conn.close()
