"""A private Mosquitto per test module and a processor running against it."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Iterator

import pytest
from gmqtt import Client
from gmqtt.mqtt.constants import MQTTv50

from gito.bench.mosquitto import PrivateMosquitto, mosquitto_binary, private_mosquitto
from gito.config import Settings
from gito.db.rawpool import create_app_pool
from gito.processor.service import BrokerAddress, Processor

Broker = PrivateMosquitto


@pytest.fixture(scope="module")
def broker() -> Iterator[PrivateMosquitto]:
    if mosquitto_binary() is None:
        pytest.skip("mosquitto binary not installed")
    with private_mosquitto() as b:
        yield b


@pytest.fixture
def processor_settings(settings: Settings, broker: Broker) -> Settings:
    return settings.model_copy(
        update={
            "mqtt_broker_host": "127.0.0.1",
            "mqtt_broker_port": broker.port,
            "processor_client_id": f"gito-test-processor-{uuid.uuid4().hex[:8]}",
            "processor_batch_wait_ms": 20,
        }
    )


@pytest.fixture
async def processor(processor_settings: Settings, broker: Broker) -> AsyncIterator[Processor]:
    pool = await create_app_pool(processor_settings.database_url or "")
    proc = Processor(processor_settings, pool, BrokerAddress("127.0.0.1", broker.port, None, None))
    stop = asyncio.Event()
    task = asyncio.create_task(proc.run(stop))
    await asyncio.wait_for(proc.connected.wait(), 10)
    await asyncio.sleep(0.2)  # subscriptions acknowledged
    try:
        yield proc
    finally:
        stop.set()
        await asyncio.wait_for(task, 30)
        await pool.close()


async def publisher(port: int, client_id: str | None = None) -> Client:
    client = Client(client_id or f"pub-{uuid.uuid4().hex[:8]}")
    await client.connect("127.0.0.1", port, version=MQTTv50)
    return client


async def wait_for(predicate, timeout: float = 10.0, interval: float = 0.05):  # type: ignore[no-untyped-def]
    """Poll an async predicate until it returns a truthy value (or fail after `timeout`)."""
    deadline = time.monotonic() + timeout
    while True:
        value = await predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s (last value {value!r})")
        await asyncio.sleep(interval)
