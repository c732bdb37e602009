"""The fleet against a broker that goes away: reconnects, counts, and a clean end. The
devices here are not registered (the private Mosquitto is anonymous), so no API is needed."""

from __future__ import annotations

import asyncio
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest

from gito.bench.mosquitto import PrivateMosquitto, free_port, mosquitto_binary
from gito.simulator import Simulation
from gito.simulator.registry import SimDevice

pytestmark = pytest.mark.timeout(60)


def _simulation(port: int, devices: int, rate: float) -> Simulation:
    sim = Simulation(
        api_url="http://127.0.0.1:1",
        broker_host="127.0.0.1",
        broker_port=port,
        email="unused@example.com",
        password="unused",
        devices=devices,
        rate=rate,
        duration=0,
        silences=False,
    )
    tenant = uuid.uuid4()
    sim.fleet = [
        SimDevice(i, f"sim-demo-{i + 1:04d}", uuid.uuid4(), tenant, "token", created=False)
        for i in range(devices)
    ]
    return sim


async def _until(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.05)


async def test_devices_reconnect_after_a_broker_restart() -> None:
    if mosquitto_binary() is None:
        pytest.skip("mosquitto binary not installed")
    with tempfile.TemporaryDirectory(prefix="gito-sim-mosquitto-") as workdir:
        broker = PrivateMosquitto(Path(workdir))
        broker.start()
        sim = _simulation(broker.port, devices=2, rate=20)
        stop = asyncio.Event()
        running = asyncio.create_task(sim.run(stop))
        try:
            await _until(lambda: sim.counters.acknowledged >= 10)
            broker.stop()
            await _until(lambda: sim.counters.offline_readings >= 4)
            broker.start()
            await _until(lambda: sim.counters.reconnects == 2, timeout=20)
            published = sim.counters.published
            await _until(lambda: sim.counters.published >= published + 10)
        finally:
            stop.set()
            summary = await asyncio.wait_for(running, 15)
            broker.stop()
    assert summary.connected == 2
    assert summary.reconnects == 2
    assert summary.connect_failures >= 2  # each device found the broker down at least once
    assert summary.offline_readings >= 4
    # Nothing unaccounted for: every message was acknowledged, or is known not to be.
    assert summary.acknowledged + summary.unacknowledged + summary.dropped == summary.published
    assert summary.unacknowledged == 0


async def test_a_broker_that_never_comes_ends_cleanly_on_stop() -> None:
    sim = _simulation(free_port(), devices=1, rate=1)
    stop = asyncio.Event()
    running = asyncio.create_task(sim.run(stop))
    await asyncio.sleep(0.3)
    stop.set()
    summary = await asyncio.wait_for(running, 5)
    assert summary.connected == 0
    assert summary.published == 0
    assert summary.elapsed_s == 0.0


async def test_explicit_mqtt_version_skips_detection_and_retries_connects() -> None:
    sim = _simulation(free_port(), devices=1, rate=1)
    sim.mqtt_version = "3.1.1"
    stop = asyncio.Event()
    running = asyncio.create_task(sim.run(stop))
    await _until(lambda: sim.counters.connect_failures >= 2, timeout=5)
    stop.set()
    summary = await asyncio.wait_for(running, 5)
    assert summary.mqtt5 is False
    assert summary.connected == 0
    assert summary.connect_failures >= 2
