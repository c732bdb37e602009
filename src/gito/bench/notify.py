"""`gito bench notify`: from a breaching MQTT message to the webhook request, end to end.

Every part is real and separate: Mosquitto (private, on a free port, unless
`MQTT_BROKER_HOST` is set), `gito processor` and `gito notifier` as subprocesses, PostgreSQL
(a scratch database on `DATABASE_URL`'s server, or an embedded one), and an HTTP receiver in
this process that checks every request's signature. One device alternates a breaching
reading (temperature 35 > 30: `alarm.raised`) and a recovering one (20 < 25: `alarm.cleared`),
waiting for each webhook before the next message, optionally while other devices publish
ordinary telemetry at `--load` msg/s. Latency = the receiver's arrival time - the publish
time (one clock, one machine).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import multiprocessing
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import orjson
from gmqtt import Client
from gmqtt.mqtt.constants import MQTTv311

from gito.bench import create_bench_tenant, free_port, role_env
from gito.bench.api import scratch_database
from gito.bench.loadgen import percentile
from gito.bench.mosquitto import private_mosquitto
from gito.config import Settings
from gito.db import migrations
from gito.db.rawpool import asyncpg_dsn

SECRET = "bench-notify-secret-0123456789"
LOAD_DEVICES = 100


@dataclass
class NotifyResult:
    raised_ms: list[float] = field(default_factory=list)
    cleared_ms: list[float] = field(default_factory=list)
    bad_signatures: int = 0
    duplicates: int = 0
    load_rate: float = 0.0
    timeouts: int = 0


class Receiver:
    """A minimal HTTP/1.1 server (keep-alive) that records when each delivery arrived."""

    def __init__(self) -> None:
        self.port = free_port()
        self.arrivals: dict[str, asyncio.Future[tuple[float, dict[str, Any]]]] = {}
        self.seen: set[str] = set()
        self.bad_signatures = 0
        self.duplicates = 0
        self._server: asyncio.Server | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    def expect(self, alarm_event: str) -> asyncio.Future[tuple[float, dict[str, Any]]]:
        future: asyncio.Future[tuple[float, dict[str, Any]]] = (
            asyncio.get_running_loop().create_future()
        )
        self.arrivals[alarm_event] = future
        return future

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", self.port)

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                arrived = time.time()
                headers = {
                    k.strip().lower(): v.strip()
                    for k, _, v in (
                        line.partition(":") for line in head.decode().split("\r\n")[1:] if line
                    )
                }
                body = await reader.readexactly(int(headers.get("content-length", "0")))
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
                await writer.drain()
                self._record(arrived, headers, body)
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    def _record(self, arrived: float, headers: dict[str, str], body: bytes) -> None:
        expected = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
        if not hmac.compare_digest(headers.get("x-gito-signature", ""), expected):
            self.bad_signatures += 1
            return
        delivery = headers.get("x-gito-delivery", "")
        if delivery in self.seen:
            self.duplicates += 1
            return
        self.seen.add(delivery)
        payload = orjson.loads(body)
        future = self.arrivals.pop(payload["event"], None)
        if future is not None and not future.done():
            future.set_result((arrived, payload))


async def _seed(dsn: str, receiver_url: str) -> tuple[uuid.UUID, uuid.UUID, list[uuid.UUID]]:
    conn = await asyncpg.connect(dsn, server_settings={"role": "gito_app"})
    try:
        async with conn.transaction():
            tenant = await create_bench_tenant(conn, "bench-notify")
            device = uuid.uuid4()
            others = [uuid.uuid4() for _ in range(LOAD_DEVICES)]
            await conn.executemany(
                "INSERT INTO devices (id, tenant_id, name, device_type) VALUES ($1, $2, $3, $4)",
                [(device, tenant, "bench-breacher", "bench-sensor")]
                + [(d, tenant, f"bench-load-{i:03d}", "bench-load") for i, d in enumerate(others)],
            )
            await conn.execute(
                """
                INSERT INTO alert_rules (id, tenant_id, name, field, thresholds, clear_condition,
                  severity, device_id)
                VALUES ($1, $2, 'bench: too warm', 'temperature', $3::jsonb, $4::jsonb, 'MAJOR', $5)
                """,
                uuid.uuid4(),
                tenant,
                orjson.dumps([{"operator": ">", "value": 30, "severity": "MAJOR"}]).decode(),
                orjson.dumps({"operator": "<", "value": 25}).decode(),
                device,
            )
            await conn.execute(
                """
                INSERT INTO notification_channels (id, tenant_id, name, type, url, secret, events)
                VALUES ($1, $2, 'bench receiver', 'webhook', $3, $4, '{raised,cleared}')
                """,
                uuid.uuid4(),
                tenant,
                receiver_url,
                SECRET,
            )
        return tenant, device, others
    finally:
        await conn.close()


def _load_publisher(port: int, topics: list[str], rate: float, stop_at: float) -> None:
    """Ordinary telemetry (never breaching) at `rate` msg/s from the load devices."""

    async def main() -> None:
        client = Client(f"bench-load-{uuid.uuid4().hex[:8]}")
        await client.connect("127.0.0.1", port, version=MQTTv311)
        interval = 1.0 / rate
        next_at = time.monotonic()
        i = 0
        while time.time() < stop_at:
            topic = topics[i % len(topics)]
            payload = {"ts": int(time.time() * 1000), "values": {"temperature": 21.5, "seq": i}}
            client.publish(topic, orjson.dumps(payload), qos=1)
            i += 1
            next_at += interval
            delay = next_at - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            elif i % 200 == 0:
                await asyncio.sleep(0)
        await client.disconnect()

    asyncio.run(main())


@contextlib.contextmanager
def _role(command: str, database_url: str, port: int, settings: Settings) -> Iterator[None]:
    env = role_env(
        database_url, port, settings.processor_batch_wait_ms, PROCESSOR_LIVE_EVENTS="false"
    )
    proc = subprocess.Popen([sys.executable, "-m", "gito.cli", command], env=env)  # noqa: S603
    try:
        yield
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()


async def _measure(
    settings: Settings, database_url: str, port: int, alarms: int, load: float
) -> NotifyResult:
    receiver = Receiver()
    await receiver.start()
    tenant, device, others = await _seed(asyncpg_dsn(database_url), receiver.url)
    result = NotifyResult(load_rate=load)
    with (
        _role("processor", database_url, port, settings),
        _role("notifier", database_url, port, settings),
    ):
        client = Client(f"bench-notify-{uuid.uuid4().hex[:8]}")
        for _ in range(100):  # the broker and the processor are starting
            try:
                await client.connect("127.0.0.1", port, version=MQTTv311)
                break
            except OSError:
                await asyncio.sleep(0.1)
        await asyncio.sleep(2.0)  # the processor subscribed, the notifier listens
        loader = None
        if load > 0:
            topics = [f"{tenant}/devices/{d}/telemetry" for d in others]
            stop_at = time.time() + 3600
            loader = multiprocessing.get_context("spawn").Process(
                target=_load_publisher, args=(port, topics, load, stop_at), daemon=True
            )
            loader.start()
            await asyncio.sleep(2.0)  # the load reaches a steady state first
        topic = f"{tenant}/devices/{device}/telemetry"
        try:
            for i in range(alarms * 2):
                event, temperature = (
                    ("alarm.raised", 35.0) if i % 2 == 0 else ("alarm.cleared", 20.0)
                )
                arrival = receiver.expect(event)
                sent = time.time()
                payload = {"ts": int(sent * 1000), "values": {"temperature": temperature}}
                client.publish(topic, orjson.dumps(payload), qos=1)
                try:
                    arrived, _ = await asyncio.wait_for(arrival, 30)
                except TimeoutError:
                    result.timeouts += 1
                    continue
                latency = (arrived - sent) * 1000
                (result.raised_ms if event == "alarm.raised" else result.cleared_ms).append(latency)
        finally:
            if loader is not None:
                loader.terminate()
                loader.join(5)
            await client.disconnect()
    await asyncio.sleep(1.0)  # any late duplicate would show up now
    result.bad_signatures = receiver.bad_signatures
    result.duplicates = receiver.duplicates
    await receiver.stop()
    return result


def run_notify_bench(settings: Settings, *, alarms: int, load: float) -> NotifyResult:
    with scratch_database(settings.database_url) as database_url:
        migrations.upgrade(database_url)
        if settings.mqtt_broker_host:
            return asyncio.run(
                _measure(settings, database_url, settings.mqtt_broker_port, alarms, load)
            )
        with private_mosquitto() as broker:
            return asyncio.run(_measure(settings, database_url, broker.port, alarms, load))


def render(result: NotifyResult) -> str:
    def line(name: str, samples: list[float]) -> str:
        if not samples:
            return f"{name}: no samples"
        values = sorted(samples)
        return (
            f"{name}: n={len(values)} p50 {percentile(values, 50):.1f} ms, "
            f"p99 {percentile(values, 99):.1f} ms, max {max(values):.1f} ms"
        )

    load = f"{result.load_rate:g} msg/s of other telemetry" if result.load_rate else "no load"
    return "\n".join(
        [
            f"breaching MQTT message -> signed webhook received ({load})",
            line("  alarm.raised ", result.raised_ms),
            line("  alarm.cleared", result.cleared_ms),
            f"  timeouts (no webhook within 30 s): {result.timeouts}",
            f"  bad signatures: {result.bad_signatures}, duplicate deliveries: {result.duplicates}",
        ]
    )
