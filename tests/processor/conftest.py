"""A private Mosquitto per test module and a processor running against it."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from gmqtt import Client
from gmqtt.mqtt.constants import MQTTv50

from gito.config import Settings
from gito.db.rawpool import create_app_pool
from gito.processor.service import BrokerAddress, Processor

MOSQUITTO = shutil.which("mosquitto") or "/usr/sbin/mosquitto"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Broker:
    port: int
    workdir: Path
    process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        conf = self.workdir / "mosquitto.conf"
        conf.write_text(
            f"listener {self.port} 127.0.0.1\n"
            "allow_anonymous true\n"
            # Persistence on: the processor's session and queued messages survive a restart.
            "persistence true\n"
            f"persistence_location {self.workdir}/\n"
            "autosave_interval 1\n"
            # No broker-side caps on in-flight or queued QoS 1 messages: the processor's
            # Receive Maximum is the flow control, and nothing may be dropped in tests.
            "max_inflight_messages 0\n"
            "max_queued_messages 0\n"
            f"log_dest file {self.workdir}/mosquitto.log\n"
        )
        self.process = subprocess.Popen([MOSQUITTO, "-c", str(conf)])
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with (
                contextlib.suppress(OSError),
                socket.create_connection(("127.0.0.1", self.port), 0.2),
            ):
                return
            time.sleep(0.05)
        raise RuntimeError("mosquitto did not start")

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
            self.process = None


@pytest.fixture(scope="module")
def broker() -> Iterator[Broker]:
    if not Path(MOSQUITTO).exists():
        pytest.skip("mosquitto binary not installed")
    with tempfile.TemporaryDirectory(prefix="gito-mosquitto-") as workdir:
        Path(workdir).chmod(0o777)  # mosquitto drops root privileges to its own user
        b = Broker(free_port(), Path(workdir))
        b.start()
        try:
            yield b
        finally:
            b.stop()


@pytest.fixture
def processor_settings(settings: Settings, broker: Broker) -> Settings:
    return settings.model_copy(
        update={
            "mqtt_broker_host": "127.0.0.1",
            "mqtt_broker_port": broker.port,
            "processor_client_id": f"gito-test-processor-{uuid.uuid4().hex[:8]}",
            # A group of its own: an earlier test's processor left a persistent session in
            # its group, and the broker would queue part of our messages for that member.
            "processor_shared_group": f"gito-{uuid.uuid4().hex[:8]}",
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
