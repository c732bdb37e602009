"""Issue 3's fault tests: kill -9 of the processor, a broker restart and a 10 s database
outage, each mid-stream; afterwards every published message is stored exactly once."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import tempfile
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest

from gito.bench.mosquitto import PrivateMosquitto, mosquitto_binary
from gito.config import Settings
from gito.db.rawpool import create_app_pool
from gito.processor.service import BrokerAddress, Processor
from tests.factories import Factory
from tests.processor.conftest import wait_for
from tests.processor.faults import CuttableProxy, publish_numbered

pytestmark = pytest.mark.skipif(mosquitto_binary() is None, reason="mosquitto not installed")


async def _counts(owner_dsn: str, device_id: uuid.UUID) -> tuple[int, int]:
    conn = await asyncpg.connect(owner_dsn)
    try:
        row = await conn.fetchrow(
            "SELECT count(*) AS rows, count(DISTINCT values->>'seq') AS seqs "
            "FROM telemetry WHERE device_id = $1",
            device_id,
        )
        return row["rows"], row["seqs"]
    finally:
        await conn.close()


async def _all_stored(owner_dsn: str, device_id: uuid.UUID, count: int, timeout: float) -> None:
    async def done() -> bool:
        return (await _counts(owner_dsn, device_id))[0] >= count

    try:
        await wait_for(done, timeout=timeout, interval=0.2)
    finally:
        print("COUNTS", await _counts(owner_dsn, device_id))
    assert await _counts(owner_dsn, device_id) == (count, count)  # none lost, none twice


def _processor_process(
    database_url: str, port: int, client_id: str, group: str
) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "MQTT_BROKER_HOST": "127.0.0.1",
        "MQTT_BROKER_PORT": str(port),
        "PROCESSOR_CLIENT_ID": client_id,
        "PROCESSOR_SHARED_GROUP": group,
        "PROCESSOR_METRICS_PORT": "0",
        "PROCESSOR_BATCH_WAIT_MS": "20",
        "PROCESSOR_BATCH_SIZE": "200",
        "LOG_LEVEL": "WARNING",
    }
    return subprocess.Popen([sys.executable, "-m", "gito.cli", "processor"], env=env)


async def _wait_until_consuming(
    port: int, tenant_id: uuid.UUID, probe_device: uuid.UUID, owner_dsn: str
) -> None:
    """Until a probe reading of another device is stored: a process that is still starting
    has no subscription yet, and the broker would drop what the test publishes meanwhile."""
    topic = f"{tenant_id}/devices/{probe_device}/telemetry"

    async def probe_stored() -> bool:
        await publish_numbered(port, topic, 1)
        return (await _counts(owner_dsn, probe_device))[0] > 0

    await wait_for(probe_stored, timeout=60, interval=0.5)


@pytest.fixture
async def own_broker() -> AsyncIterator[PrivateMosquitto]:
    with tempfile.TemporaryDirectory(prefix="gito-mosquitto-") as workdir:
        broker = PrivateMosquitto(Path(workdir))
        broker.start()
        try:
            yield broker
        finally:
            broker.stop()


async def test_kill_9_mid_stream_loses_nothing(
    own_broker: PrivateMosquitto, factory: Factory, database_url: str, owner_dsn: str
) -> None:
    tenant = await factory.tenant()
    device_id, _ = await factory.device(tenant)
    client_id, group = f"gito-kill-{uuid.uuid4().hex[:6]}", ""
    probe_device, _ = await factory.device(tenant)
    first = _processor_process(database_url, own_broker.port, client_id, group)
    try:
        await _wait_until_consuming(own_broker.port, tenant.id, probe_device, owner_dsn)
        count = 6000
        publishing = asyncio.create_task(
            publish_numbered(
                own_broker.port,
                f"{tenant.id}/devices/{device_id}/telemetry",
                count,
                per_second=2000,
            )
        )

        async def some_stored() -> bool:
            return (await _counts(owner_dsn, device_id))[0] > 500

        await wait_for(some_stored, timeout=30)
        first.send_signal(signal.SIGKILL)
        first.wait(10)
        stored_at_kill = (await _counts(owner_dsn, device_id))[0]
        assert stored_at_kill < count
        second = _processor_process(database_url, own_broker.port, client_id, group)
        try:
            await asyncio.wait_for(publishing, 120)
            await _all_stored(owner_dsn, device_id, count, timeout=120)
        finally:
            second.send_signal(signal.SIGTERM)
            assert second.wait(30) == 0  # a clean shutdown on SIGTERM
    finally:
        if first.poll() is None:
            first.kill()


@pytest.fixture
async def processor_on(settings: Settings):  # type: ignore[no-untyped-def]
    """Start an in-process processor for a given broker port and database URL."""
    running: list[tuple[asyncio.Event, asyncio.Task[None], asyncpg.Pool]] = []

    async def start(port: int, database_url: str) -> Processor:
        proc_settings = settings.model_copy(
            update={
                "database_url": database_url,
                "processor_client_id": f"gito-fault-{uuid.uuid4().hex[:6]}",
                "processor_batch_wait_ms": 20,
                "processor_batch_size": 200,
            }
        )
        pool = await create_app_pool(database_url)
        proc = Processor(proc_settings, pool, BrokerAddress("127.0.0.1", port, None, None))
        stop = asyncio.Event()
        running.append((stop, asyncio.create_task(proc.run(stop)), pool))
        await asyncio.wait_for(proc.connected.wait(), 10)
        await asyncio.sleep(0.3)
        return proc

    yield start
    for stop, task, pool in running:
        stop.set()
        await asyncio.wait_for(task, 60)
        await pool.close()


async def test_broker_restart_mid_stream_loses_nothing(
    own_broker: PrivateMosquitto,
    processor_on,
    factory: Factory,
    database_url: str,
    owner_dsn: str,  # type: ignore[no-untyped-def]
) -> None:
    tenant = await factory.tenant()
    device_id, _ = await factory.device(tenant)
    await processor_on(own_broker.port, database_url)
    count = 3000
    publishing = asyncio.create_task(
        publish_numbered(
            own_broker.port, f"{tenant.id}/devices/{device_id}/telemetry", count, per_second=1000
        )
    )
    await asyncio.sleep(1.0)
    own_broker.stop()
    await asyncio.sleep(1.5)
    own_broker.start()
    await asyncio.wait_for(publishing, 90)
    await _all_stored(owner_dsn, device_id, count, timeout=120)


async def test_ten_second_database_outage_loses_nothing(
    own_broker: PrivateMosquitto,
    processor_on,
    factory: Factory,
    database_url: str,
    owner_dsn: str,  # type: ignore[no-untyped-def]
) -> None:
    tenant = await factory.tenant()
    device_id, _ = await factory.device(tenant)
    proxy = CuttableProxy(database_url)
    await proxy.start()
    try:
        await processor_on(own_broker.port, proxy.url())
        count = 3000
        publishing = asyncio.create_task(
            publish_numbered(
                own_broker.port, f"{tenant.id}/devices/{device_id}/telemetry", count, per_second=500
            )
        )
        await asyncio.sleep(1.0)
        proxy.cut()
        await asyncio.sleep(10.0)
        during = (await _counts(owner_dsn, device_id))[0]
        proxy.restore()
        await asyncio.wait_for(publishing, 120)
        await _all_stored(owner_dsn, device_id, count, timeout=120)
        assert during < count  # the outage really stopped storage for a while
    finally:
        await proxy.stop()
